//! Byte-level vectors from the MQTT 3.1.1 and 5.0 specifications (or built by hand from
//! their field tables), every field annotated, plus one trigger per `DecodeError` variant.

use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use gw_mqtt::codec::*;

use ProtocolVersion::{V3_1, V3_1_1, V5};

fn nz(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

fn s(x: &'static str) -> MqttString {
    MqttString::from(x)
}

fn codec(v: Option<ProtocolVersion>) -> Codec {
    let mut c = Codec::new(u32::MAX);
    if let Some(v) = v {
        c.set_version(v);
    }
    c
}

fn decode(bytes: &[u8], v: Option<ProtocolVersion>) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    codec(v).decode(&mut buf)
}

fn decode_err(bytes: &[u8], v: Option<ProtocolVersion>) -> DecodeError {
    match decode(bytes, v) {
        Err(e) => e,
        other => panic!("expected an error for {bytes:02X?}, got {other:?}"),
    }
}

/// `bytes` decodes to `expected` consuming everything, `expected` encodes back to exactly
/// `bytes`, `encoded_len` agrees, and every strict prefix is "need more" without consuming.
fn vector(bytes: &[u8], v: Option<ProtocolVersion>, expected: Packet) {
    let mut buf = BytesMut::from(bytes);
    let got = codec(v).decode(&mut buf).unwrap();
    assert_eq!(got, Some(expected.clone()));
    assert!(buf.is_empty(), "decode left {} bytes", buf.len());

    let mut out = BytesMut::new();
    codec(v).encode(&expected, &mut out).unwrap();
    assert_eq!(&out[..], bytes, "encoding of {expected:?}");
    assert_eq!(encoded_len(&expected, v.unwrap_or(V3_1_1)), bytes.len());

    for k in 0..bytes.len() {
        let mut partial = BytesMut::from(&bytes[..k]);
        assert_eq!(codec(v).decode(&mut partial), Ok(None), "prefix of {k} bytes");
        assert_eq!(partial.len(), k, "prefix of {k} bytes was consumed");
    }
}

// ---------------------------------------------------------------------------------------
// CONNECT / CONNACK
// ---------------------------------------------------------------------------------------

#[test]
fn connect_v311_spec_variable_header_example() {
    // §3.1.2.10 of 3.1.1 shows the variable header 00 04 'M' 'Q' 'T' 'T' 04 CE 00 0A;
    // flags CE ask for a user name, password and a QoS 1 Will, so the payload carries them.
    #[rustfmt::skip]
    let bytes = [
        0x10,                               // CONNECT, flags 0
        0x1E,                               // Remaining Length 30
        0x00, 0x04, b'M', b'Q', b'T', b'T', // Protocol Name "MQTT"
        0x04,                               // Protocol Level 4 (3.1.1)
        0xCE,                               // flags: user, password, Will QoS 1, Will, Clean
        0x00, 0x0A,                         // Keep Alive 10 s
        0x00, 0x03, b'c', b'i', b'd',       // Client Identifier "cid"
        0x00, 0x02, b'w', b't',             // Will Topic "wt"
        0x00, 0x03, b'b', b'y', b'e',       // Will Message "bye"
        0x00, 0x01, b'u',                   // User Name "u"
        0x00, 0x01, b'p',                   // Password "p"
    ];
    let expected = Packet::Connect(Box::new(Connect {
        version: V3_1_1,
        clean_start: true,
        keep_alive: 10,
        client_id: s("cid"),
        will: Some(LastWill {
            topic: s("wt"),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: WillProperties::default(),
        }),
        username: Some(s("u")),
        password: Some(Bytes::from_static(b"p")),
        properties: ConnectProperties::default(),
    }));
    vector(&bytes, None, expected);

    // The codec learns the version from CONNECT.
    let mut c = Codec::new(1024);
    assert_eq!(c.version(), None);
    c.decode(&mut BytesMut::from(&bytes[..])).unwrap();
    assert_eq!(c.version(), Some(V3_1_1));
}

#[test]
fn connect_v5_spec_properties_example() {
    // §3.1.2.11 of 5.0: variable header 00 04 MQTT 05 C2 00 0A 05 11 00 00 00 0A.
    #[rustfmt::skip]
    let bytes = [
        0x10,                               // CONNECT
        0x1B,                               // Remaining Length 27
        0x00, 0x04, b'M', b'Q', b'T', b'T', // Protocol Name "MQTT"
        0x05,                               // Protocol Level 5
        0xC2,                               // flags: user name, password, Clean Start
        0x00, 0x0A,                         // Keep Alive 10 s
        0x05,                               // Property Length 5
        0x11, 0x00, 0x00, 0x00, 0x0A,       // Session Expiry Interval 10 s
        0x00, 0x02, b'c', b'1',             // Client Identifier "c1"
        0x00, 0x01, b'u',                   // User Name "u"
        0x00, 0x02, b'p', b'w',             // Password "pw"
    ];
    let expected = Packet::Connect(Box::new(Connect {
        version: V5,
        clean_start: true,
        keep_alive: 10,
        client_id: s("c1"),
        will: None,
        username: Some(s("u")),
        password: Some(Bytes::from_static(b"pw")),
        properties: ConnectProperties { session_expiry_interval: Some(10), ..Default::default() },
    }));
    vector(&bytes, None, expected);
    let mut c = Codec::new(1024);
    c.decode(&mut BytesMut::from(&bytes[..])).unwrap();
    assert_eq!(c.version(), Some(V5));
}

#[test]
fn connect_v5_with_will_properties() {
    #[rustfmt::skip]
    let bytes = [
        0x10,                               // CONNECT
        0x1C,                               // Remaining Length 28
        0x00, 0x04, b'M', b'Q', b'T', b'T', // Protocol Name "MQTT"
        0x05,                               // Protocol Level 5
        0x34,                               // flags: Will Retain, Will QoS 2, Will
        0x00, 0x00,                         // Keep Alive 0 (disabled)
        0x03,                               // Property Length 3
        0x21, 0x00, 0x10,                   // Receive Maximum 16
        0x00, 0x00,                         // Client Identifier "" (server assigns)
        0x05,                               // Will Property Length 5
        0x18, 0x00, 0x00, 0x00, 0x05,       // Will Delay Interval 5 s
        0x00, 0x01, b't',                   // Will Topic "t"
        0x00, 0x01, 0xFF,                   // Will Payload (binary) FF
    ];
    let expected = Packet::Connect(Box::new(Connect {
        version: V5,
        clean_start: false,
        keep_alive: 0,
        client_id: s(""),
        will: Some(LastWill {
            topic: s("t"),
            payload: Bytes::from_static(&[0xFF]),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: WillProperties { will_delay_interval: Some(5), ..Default::default() },
        }),
        username: None,
        password: None,
        properties: ConnectProperties { receive_maximum: Some(16), ..Default::default() },
    }));
    vector(&bytes, None, expected);
}

#[test]
fn connect_v31_mqisdp() {
    #[rustfmt::skip]
    let bytes = [
        0x10,                                           // CONNECT
        0x11,                                           // Remaining Length 17
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // Protocol Name "MQIsdp"
        0x03,                                           // Protocol Level 3 (3.1)
        0x02,                                           // flags: Clean Session
        0x00, 0x3C,                                     // Keep Alive 60 s
        0x00, 0x03, b'a', b'b', b'c',                   // Client Identifier "abc"
    ];
    let expected = Packet::Connect(Box::new(Connect {
        version: V3_1,
        clean_start: true,
        keep_alive: 60,
        client_id: s("abc"),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }));
    vector(&bytes, None, expected);
}

#[test]
fn connack_v311_and_v5() {
    #[rustfmt::skip]
    let v3 = [
        0x20, // CONNACK
        0x02, // Remaining Length 2
        0x01, // Session Present
        0x00, // return code 0: accepted
    ];
    let ack = ConnAck { session_present: true, code: 0, properties: Default::default() };
    vector(&v3, Some(V3_1_1), Packet::ConnAck(ack));

    #[rustfmt::skip]
    let v5 = [
        0x20,             // CONNACK
        0x09,             // Remaining Length 9
        0x00,             // no session
        0x00,             // reason 0: success
        0x06,             // Property Length 6
        0x21, 0x00, 0x14, // Receive Maximum 20
        0x22, 0x00, 0x0A, // Topic Alias Maximum 10
    ];
    let ack = ConnAck {
        session_present: false,
        code: 0,
        properties: ConnAckProperties {
            topic_alias_maximum: Some(10),
            receive_maximum: Some(20),
            ..Default::default()
        }
        .into(),
    };
    vector(&v5, Some(V5), Packet::ConnAck(ack));
}

// ---------------------------------------------------------------------------------------
// PUBLISH
// ---------------------------------------------------------------------------------------

fn publish(qos: QoS, id: Option<u16>, dup: bool, retain: bool) -> Publish {
    Publish {
        dup,
        qos,
        retain,
        topic: s("a/b"),
        packet_id: id.map(nz),
        properties: Default::default(),
        payload: Bytes::from_static(b"hi"),
    }
}

#[test]
fn publish_qos0_qos1_qos2() {
    #[rustfmt::skip]
    let q0 = [
        0x30,                         // PUBLISH, DUP 0, QoS 0, RETAIN 0
        0x07,                         // Remaining Length 7
        0x00, 0x03, b'a', b'/', b'b', // Topic Name "a/b"
        b'h', b'i',                   // payload "hi" (no packet id at QoS 0)
    ];
    vector(&q0, None, Packet::Publish(publish(QoS::AtMostOnce, None, false, false)));

    #[rustfmt::skip]
    let q1 = [
        0x32,                         // PUBLISH, QoS 1
        0x09,                         // Remaining Length 9
        0x00, 0x03, b'a', b'/', b'b', // Topic Name "a/b"
        0x00, 0x0A,                   // Packet Identifier 10
        b'h', b'i',                   // payload "hi"
    ];
    vector(&q1, Some(V3_1_1), Packet::Publish(publish(QoS::AtLeastOnce, Some(10), false, false)));

    #[rustfmt::skip]
    let q2 = [
        0x3D,                         // PUBLISH, DUP 1, QoS 2, RETAIN 1
        0x09,                         // Remaining Length 9
        0x00, 0x03, b'a', b'/', b'b', // Topic Name "a/b"
        0x00, 0x0B,                   // Packet Identifier 11
        b'h', b'i',                   // payload "hi"
    ];
    vector(&q2, Some(V3_1), Packet::Publish(publish(QoS::ExactlyOnce, Some(11), true, true)));
}

#[test]
fn publish_v5_topic_alias_user_properties_subscription_ids() {
    #[rustfmt::skip]
    let bytes = [
        0x32,                                     // PUBLISH, QoS 1
        0x20,                                     // Remaining Length 32
        0x00, 0x03, b'a', b'/', b'b',             // Topic Name "a/b"
        0x00, 0x01,                               // Packet Identifier 1
        0x16,                                     // Property Length 22
        0x23, 0x00, 0x05,                         // Topic Alias 5
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property k=v
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'w', // User Property k=w (repeats allowed)
        0x0B, 0x01,                               // Subscription Identifier 1
        0x0B, 0x80, 0x01,                         // Subscription Identifier 128 (2-byte VBI)
        b'h', b'i',                               // payload "hi"
    ];
    let mut p = publish(QoS::AtLeastOnce, Some(1), false, false);
    p.properties = PublishProperties {
        topic_alias: Some(5),
        user_properties: vec![(s("k"), s("v")), (s("k"), s("w"))],
        subscription_identifiers: vec![1, 128],
        ..Default::default()
    }
    .into();
    vector(&bytes, Some(V5), Packet::Publish(p));
}

#[test]
fn publish_v5_empty_topic_is_accepted_at_codec_level() {
    #[rustfmt::skip]
    let bytes = [
        0x30,             // PUBLISH, QoS 0
        0x06,             // Remaining Length 6
        0x00, 0x00,       // Topic Name "" (the alias stands for it)
        0x03,             // Property Length 3
        0x23, 0x00, 0x07, // Topic Alias 7
    ];
    let p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: s(""),
        packet_id: None,
        properties: PublishProperties { topic_alias: Some(7), ..Default::default() }.into(),
        payload: Bytes::new(),
    };
    vector(&bytes, Some(V5), Packet::Publish(p));
}

#[test]
fn publish_is_zero_copy() {
    let bytes = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
    let mut buf = BytesMut::from(&bytes[..]);
    let base = buf.as_ptr() as usize;
    let Some(Packet::Publish(p)) = codec(None).decode(&mut buf).unwrap() else { panic!() };
    assert_eq!(p.topic.as_bytes().as_ptr() as usize, base + 4);
    assert_eq!(p.payload.as_ptr() as usize, base + 7);
}

// ---------------------------------------------------------------------------------------
// PUBACK family
// ---------------------------------------------------------------------------------------

#[test]
fn puback_family_v3_and_v5_forms() {
    // 3.x: packet id only.
    vector(&[0x40, 0x02, 0x00, 0x07], Some(V3_1_1), Packet::PubAck(PubAck::new(nz(7))));
    vector(&[0x50, 0x02, 0x00, 0x07], Some(V3_1_1), Packet::PubRec(PubAck::new(nz(7))));
    // PUBREL carries the fixed flags 0010.
    vector(&[0x62, 0x02, 0x00, 0x07], Some(V3_1_1), Packet::PubRel(PubAck::new(nz(7))));
    vector(&[0x70, 0x02, 0x00, 0x07], Some(V3_1_1), Packet::PubComp(PubAck::new(nz(7))));

    // 5.0 Remaining Length 2: reason 0, no properties.
    vector(&[0x40, 0x02, 0x00, 0x07], Some(V5), Packet::PubAck(PubAck::new(nz(7))));
    // 5.0 Remaining Length 3: reason code, no properties.
    #[rustfmt::skip]
    let short = [
        0x40,       // PUBACK
        0x03,       // Remaining Length 3
        0x00, 0x07, // Packet Identifier 7
        0x10,       // reason 0x10: no matching subscribers
    ];
    let ack = PubAck { reason_code: 0x10, ..PubAck::new(nz(7)) };
    vector(&short, Some(V5), Packet::PubAck(ack));
    // 5.0 full form.
    #[rustfmt::skip]
    let full = [
        0x50,                   // PUBREC
        0x08,                   // Remaining Length 8
        0x00, 0x07,             // Packet Identifier 7
        0x80,                   // reason 0x80: unspecified error
        0x04,                   // Property Length 4
        0x1F, 0x00, 0x01, b'x', // Reason String "x"
    ];
    let ack = PubAck {
        packet_id: nz(7),
        reason_code: 0x80,
        properties: AckProperties { reason_string: Some(s("x")), ..Default::default() }.into(),
    };
    vector(&full, Some(V5), Packet::PubRec(ack));
    // Reason 0 with properties still needs the reason byte.
    let with_props_bytes = [0x70, 0x07, 0x00, 0x07, 0x00, 0x03, 0x1F, 0x00, 0x00];
    let ack = PubAck {
        packet_id: nz(7),
        reason_code: 0,
        properties: AckProperties { reason_string: Some(s("")), ..Default::default() }.into(),
    };
    vector(&with_props_bytes, Some(V5), Packet::PubComp(ack));
}

// ---------------------------------------------------------------------------------------
// SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK
// ---------------------------------------------------------------------------------------

#[test]
fn subscribe_v3_and_v5() {
    #[rustfmt::skip]
    let v3 = [
        0x82,                         // SUBSCRIBE, flags 0010
        0x0C,                         // Remaining Length 12
        0x00, 0x01,                   // Packet Identifier 1
        0x00, 0x03, b'a', b'/', b'#', // Topic Filter "a/#"
        0x01,                         // Requested QoS 1
        0x00, 0x01, b'b',             // Topic Filter "b"
        0x02,                         // Requested QoS 2
    ];
    let qos = |q| SubscriptionOptions { qos: q, ..Default::default() };
    let sub = Subscribe {
        packet_id: nz(1),
        filters: vec![(s("a/#"), qos(QoS::AtLeastOnce)), (s("b"), qos(QoS::ExactlyOnce))],
        properties: SubscribeProperties::default(),
    };
    vector(&v3, Some(V3_1_1), Packet::Subscribe(sub));

    #[rustfmt::skip]
    let v5 = [
        0x82,                         // SUBSCRIBE
        0x0C,                         // Remaining Length 12
        0x00, 0x02,                   // Packet Identifier 2
        0x03,                         // Property Length 3
        0x0B, 0x80, 0x01,             // Subscription Identifier 128
        0x00, 0x03, b'a', b'/', b'#', // Topic Filter "a/#"
        0x2D,                         // options: Retain Handling 2, RAP, No Local, QoS 1
    ];
    let sub = Subscribe {
        packet_id: nz(2),
        filters: vec![(
            s("a/#"),
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        )],
        properties: SubscribeProperties { subscription_identifier: Some(128), ..Default::default() },
    };
    vector(&v5, Some(V5), Packet::Subscribe(sub));
}

#[test]
fn suback_v3_and_v5() {
    #[rustfmt::skip]
    let v3 = [
        0x90,             // SUBACK
        0x05,             // Remaining Length 5
        0x00, 0x01,       // Packet Identifier 1
        0x00, 0x02, 0x80, // granted QoS 0, granted QoS 2, failure
    ];
    let ack = SubAck { packet_id: nz(1), reason_codes: vec![0x00, 0x02, 0x80], properties: Default::default() };
    vector(&v3, Some(V3_1_1), Packet::SubAck(ack));

    #[rustfmt::skip]
    let v5 = [
        0x90,       // SUBACK
        0x05,       // Remaining Length 5
        0x00, 0x02, // Packet Identifier 2
        0x00,       // Property Length 0
        0x01, 0xA2, // granted QoS 1, wildcard subscriptions not supported
    ];
    let ack = SubAck { packet_id: nz(2), reason_codes: vec![0x01, 0xA2], properties: Default::default() };
    vector(&v5, Some(V5), Packet::SubAck(ack));
}

#[test]
fn unsubscribe_unsuback_v3_and_v5() {
    #[rustfmt::skip]
    let unsub_v3 = [
        0xA2,                         // UNSUBSCRIBE, flags 0010
        0x07,                         // Remaining Length 7
        0x00, 0x03,                   // Packet Identifier 3
        0x00, 0x03, b'a', b'/', b'b', // Topic Filter "a/b"
    ];
    let u = Unsubscribe { packet_id: nz(3), filters: vec![s("a/b")], user_properties: vec![] };
    vector(&unsub_v3, Some(V3_1_1), Packet::Unsubscribe(u));

    #[rustfmt::skip]
    let unsuback_v3 = [
        0xB0,       // UNSUBACK
        0x02,       // Remaining Length 2
        0x00, 0x03, // Packet Identifier 3 (3.x has no reason codes)
    ];
    let ack = UnsubAck { packet_id: nz(3), reason_codes: vec![], properties: Default::default() };
    vector(&unsuback_v3, Some(V3_1_1), Packet::UnsubAck(ack));

    #[rustfmt::skip]
    let unsub_v5 = [
        0xA2,                                     // UNSUBSCRIBE
        0x0D,                                     // Remaining Length 13
        0x00, 0x04,                               // Packet Identifier 4
        0x07,                                     // Property Length 7
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property k=v
        0x00, 0x01, b'a',                         // Topic Filter "a"
    ];
    let u = Unsubscribe { packet_id: nz(4), filters: vec![s("a")], user_properties: vec![(s("k"), s("v"))] };
    vector(&unsub_v5, Some(V5), Packet::Unsubscribe(u));

    #[rustfmt::skip]
    let unsuback_v5 = [
        0xB0,       // UNSUBACK
        0x05,       // Remaining Length 5
        0x00, 0x04, // Packet Identifier 4
        0x00,       // Property Length 0
        0x00, 0x11, // success, no subscription existed
    ];
    let ack = UnsubAck { packet_id: nz(4), reason_codes: vec![0x00, 0x11], properties: Default::default() };
    vector(&unsuback_v5, Some(V5), Packet::UnsubAck(ack));
}

// ---------------------------------------------------------------------------------------
// PINGREQ / PINGRESP / DISCONNECT / AUTH
// ---------------------------------------------------------------------------------------

#[test]
fn ping_and_disconnect() {
    vector(&[0xC0, 0x00], None, Packet::PingReq); // PINGREQ, Remaining Length 0
    vector(&[0xD0, 0x00], Some(V5), Packet::PingResp); // PINGRESP, Remaining Length 0
    vector(&[0xE0, 0x00], Some(V3_1_1), Packet::Disconnect(Disconnect::default())); // DISCONNECT v3
    vector(&[0xE0, 0x00], Some(V5), Packet::Disconnect(Disconnect::default())); // v5, reason 0

    // v5, reason without properties.
    let taken_over = Disconnect { reason_code: 0x8E, ..Default::default() };
    vector(&[0xE0, 0x01, 0x8E], Some(V5), Packet::Disconnect(taken_over));

    #[rustfmt::skip]
    let v5 = [
        0xE0,                         // DISCONNECT
        0x0D,                         // Remaining Length 13
        0x04,                         // reason 0x04: disconnect with Will message
        0x0B,                         // Property Length 11
        0x11, 0x00, 0x00, 0x00, 0x3C, // Session Expiry Interval 60 s
        0x1F, 0x00, 0x03, b'b', b'y', b'e', // Reason String "bye"
    ];
    let d = Disconnect {
        reason_code: 0x04,
        properties: DisconnectProperties {
            session_expiry_interval: Some(60),
            reason_string: Some(s("bye")),
            ..Default::default()
        }
        .into(),
    };
    vector(&v5, Some(V5), Packet::Disconnect(d));
}

#[test]
fn auth_v5() {
    vector(&[0xF0, 0x00], Some(V5), Packet::Auth(Auth::default())); // AUTH, success short form

    #[rustfmt::skip]
    let bytes = [
        0xF0,                                           // AUTH
        0x0F,                                           // Remaining Length 15
        0x18,                                           // reason 0x18: continue authentication
        0x0D,                                           // Property Length 13
        0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // Authentication Method "SCRAM"
        0x16, 0x00, 0x02, 0x01, 0x02,                   // Authentication Data 01 02
    ];
    let a = Auth {
        reason_code: 0x18,
        properties: AuthProperties {
            authentication_method: Some(s("SCRAM")),
            authentication_data: Some(Bytes::from_static(&[1, 2])),
            ..Default::default()
        }
        .into(),
    };
    vector(&bytes, Some(V5), Packet::Auth(a));
}

#[test]
fn several_packets_in_one_buffer() {
    let mut buf = BytesMut::from(&[0xC0, 0x00, 0xD0, 0x00, 0xE0][..]);
    let mut c = codec(None);
    assert_eq!(c.decode(&mut buf), Ok(Some(Packet::PingReq)));
    assert_eq!(c.decode(&mut buf), Ok(Some(Packet::PingResp)));
    assert_eq!(c.decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], &[0xE0]);
}

// ---------------------------------------------------------------------------------------
// Remaining Length (§1.5.5 table)
// ---------------------------------------------------------------------------------------

/// A 3.1.1 QoS 0 PUBLISH with empty topic whose Remaining Length is `rl`.
fn publish_with_rl(rl: usize) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: s(""),
        packet_id: None,
        properties: Default::default(),
        // `vec![0; n]` maps zeroed pages lazily, so the 256 MiB case costs no memory
        // unless it is written out.
        payload: Bytes::from(vec![0u8; rl - 2]),
    })
}

#[test]
fn remaining_length_encodings() {
    // (value, encoding) pairs from the table in §1.5.5 (plus the zero-length case).
    let table: [(usize, &[u8]); 8] = [
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];
    for (rl, enc) in table {
        // Decoding: the header alone says "need more" (or, for 0, is the whole PINGREQ).
        let mut header = vec![0xC0];
        header.extend_from_slice(enc);
        let mut buf = BytesMut::from(&header[..]);
        let got = Codec::new(u32::MAX).decode(&mut buf);
        if rl == 0 {
            assert_eq!(got, Ok(Some(Packet::PingReq)));
        } else {
            // PINGREQ with a body is malformed, but only once the body is there.
            assert_eq!(got, Ok(None), "rl {rl}");
        }
        if !(2..=2_097_152).contains(&rl) {
            continue;
        }
        // Encoding: a PUBLISH of that Remaining Length gets exactly that header.
        let p = publish_with_rl(rl);
        assert_eq!(encoded_len(&p, V3_1_1), 1 + enc.len() + rl);
        let mut out = BytesMut::new();
        encode(&p, V3_1_1, &mut out).unwrap();
        assert_eq!(&out[1..1 + enc.len()], enc, "rl {rl}");
        let back = Codec::new(u32::MAX).decode(&mut out).unwrap();
        assert_eq!(back, Some(p));
    }
    // The largest packet is only measured, not written.
    let p = publish_with_rl(268_435_455);
    assert_eq!(encoded_len(&p, V3_1_1), 5 + 268_435_455);
    let too_big = publish_with_rl(268_435_456);
    let mut out = BytesMut::new();
    assert_eq!(encode(&too_big, V3_1_1, &mut out), Err(EncodeError::PacketTooLarge));
    assert!(out.is_empty());
}

// ---------------------------------------------------------------------------------------
// Errors: every DecodeError variant, with its reason code
// ---------------------------------------------------------------------------------------

fn expect(bytes: &[u8], v: Option<ProtocolVersion>, err: DecodeError, reason_code: u8) {
    let got = decode_err(bytes, v);
    assert_eq!(got, err, "{bytes:02X?}");
    assert_eq!(got.reason_code(), reason_code, "{got}");
    // Every message cites the spec.
    let msg = got.to_string();
    assert!(msg.contains('[') && msg.contains(']'), "{msg}");
}

#[test]
fn packet_too_large_from_fixed_header_alone() {
    let mut c = Codec::new(100);
    // PUBLISH claiming 16383 bytes; only the fixed header has arrived.
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0x7F][..]);
    let e = c.decode(&mut buf).unwrap_err();
    assert_eq!(e, DecodeError::PacketTooLarge { size: 16_386, max: 100 });
    assert_eq!(e.reason_code(), 0x95);
    // The limit counts the fixed header: 2 + 98 = 100 passes, 2 + 99 does not.
    assert_eq!(c.decode(&mut BytesMut::from(&[0x30, 98][..])), Ok(None));
    assert!(c.decode(&mut BytesMut::from(&[0x30, 99][..])).is_err());
    c.set_max_packet_size(101);
    assert_eq!(c.decode(&mut BytesMut::from(&[0x30, 99][..])), Ok(None));
}

#[test]
fn header_errors() {
    use DecodeError::*;
    expect(&[0x00, 0x00], None, InvalidPacketType(0), 0x81);
    // AUTH does not exist before 5.0.
    expect(&[0xF0, 0x00], None, InvalidPacketType(15), 0x81);
    expect(&[0xF0, 0x00], Some(V3_1_1), InvalidPacketType(15), 0x81);
    expect(&[0x60, 0x02, 0x00, 0x01], None, InvalidHeaderFlags, 0x81); // PUBREL needs 0010
    expect(&[0x80, 0x02, 0x00, 0x01], None, InvalidHeaderFlags, 0x81); // SUBSCRIBE needs 0010
    expect(&[0xC1, 0x00], None, InvalidHeaderFlags, 0x81); // PINGREQ needs 0000
    expect(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], None, VarIntTooLong, 0x81);
    expect(&[0xC0, 0x01, 0x00], None, TrailingBytes, 0x81); // PINGREQ with a body
    expect(&[0x40, 0x03, 0x00, 0x01, 0x00], Some(V3_1_1), TrailingBytes, 0x81);
    expect(&[0x40, 0x01, 0x00], None, UnexpectedEnd, 0x81); // half a packet id
    expect(&[0xE0, 0x01, 0x00], Some(V3_1_1), TrailingBytes, 0x81); // v3 DISCONNECT body
}

#[test]
fn field_errors() {
    use DecodeError::*;
    // PUBLISH with QoS bits 11.
    expect(&[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01], None, InvalidQoS, 0x81);
    expect(&[0x40, 0x02, 0x00, 0x00], None, ZeroPacketId, 0x81);
    expect(&[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00], None, ZeroPacketId, 0x81);
    // Topic C3 28: a truncated two-byte sequence.
    expect(&[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28], None, InvalidUtf8, 0x81);
    // UTF-16 surrogate encoded in UTF-8 (ED A0 80) is not valid UTF-8 either.
    expect(&[0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80], None, InvalidUtf8, 0x81);
    expect(&[0x30, 0x04, 0x00, 0x02, b'a', 0x00], None, NulInString, 0x81);
    // Topic length runs past the packet.
    expect(&[0x30, 0x03, 0x00, 0x05, b'a'], None, UnexpectedEnd, 0x81);
}

/// CONNECT with protocol name `name`, level, flags and then `rest`.
fn connect_bytes(name: &[u8], level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, name.len() as u8];
    body.extend_from_slice(name);
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&[0x00, 0x3C]); // Keep Alive
    body.extend_from_slice(rest);
    let mut out = vec![0x10, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

#[test]
fn connect_errors() {
    use DecodeError::*;
    let cid = [0x00, 0x01, b'c'];
    expect(&connect_bytes(b"MQTX", 4, 0x02, &cid), None, InvalidProtocolName, 0x81);
    expect(&connect_bytes(b"MQTT", 3, 0x02, &cid), None, UnsupportedProtocolVersion { level: 3 }, 0x84);
    expect(&connect_bytes(b"MQTT", 6, 0x02, &cid), None, UnsupportedProtocolVersion { level: 6 }, 0x84);
    expect(&connect_bytes(b"MQIsdp", 4, 0x02, &cid), None, UnsupportedProtocolVersion { level: 4 }, 0x84);
    expect(&connect_bytes(b"MQTT", 4, 0x03, &cid), None, ConnectReservedFlag, 0x81);
    // Will QoS 1 without the Will Flag; Will Retain without the Will Flag.
    expect(&connect_bytes(b"MQTT", 4, 0x08, &cid), None, InvalidWillFlags, 0x81);
    expect(&connect_bytes(b"MQTT", 4, 0x20, &cid), None, InvalidWillFlags, 0x81);
    // Will Flag with Will QoS 3.
    expect(&connect_bytes(b"MQTT", 4, 0x1C, &cid), None, InvalidWillQoS, 0x81);
    // Password without user name: malformed in 3.1.1 and 3.1, allowed in 5.0.
    let with_pw = [0x00, 0x01, b'c', 0x00, 0x01, b'p'];
    expect(&connect_bytes(b"MQTT", 4, 0x40, &with_pw), None, PasswordWithoutUsername, 0x81);
    expect(&connect_bytes(b"MQIsdp", 3, 0x40, &with_pw), None, PasswordWithoutUsername, 0x81);
    let mut v5_pw = vec![0x00]; // Property Length 0
    v5_pw.extend_from_slice(&with_pw);
    let ok = decode(&connect_bytes(b"MQTT", 5, 0x40, &v5_pw), None).unwrap().unwrap();
    let Packet::Connect(c) = ok else { panic!() };
    assert_eq!(c.password, Some(Bytes::from_static(b"p")));
    assert_eq!(c.username, None);
    // Missing client id.
    expect(&connect_bytes(b"MQTT", 4, 0x02, &[]), None, UnexpectedEnd, 0x81);
}

#[test]
fn ack_errors() {
    use DecodeError::*;
    expect(&[0x20, 0x02, 0x02, 0x00], Some(V3_1_1), ConnAckReservedFlags, 0x81);
    expect(&[0x20, 0x02, 0x00, 0x06], Some(V3_1_1), InvalidReturnCode(6), 0x81);
    expect(&[0x90, 0x03, 0x00, 0x01, 0x03], Some(V3_1_1), InvalidReturnCode(3), 0x81);
    // 3.x UNSUBACK has nothing after the packet id.
    expect(&[0xB0, 0x03, 0x00, 0x01, 0x00], Some(V3_1_1), TrailingBytes, 0x81);
}

#[test]
fn subscribe_errors() {
    use DecodeError::*;
    expect(&[0x82, 0x02, 0x00, 0x01], Some(V3_1_1), NoSubscribeFilters, 0x82);
    expect(&[0x82, 0x03, 0x00, 0x01, 0x00], Some(V5), NoSubscribeFilters, 0x82);
    expect(&[0xA2, 0x02, 0x00, 0x01], Some(V3_1_1), NoUnsubscribeFilters, 0x82);
    // [packet id 1] [filter "a"] [options]
    let sub = |v5: bool, opts: u8| {
        let mut b = vec![0x82, 0x00, 0x00, 0x01];
        if v5 {
            b.push(0x00); // Property Length 0
        }
        b.extend_from_slice(&[0x00, 0x01, b'a', opts]);
        b[1] = (b.len() - 2) as u8;
        b
    };
    expect(&sub(true, 0x40), Some(V5), SubscriptionOptionsReserved, 0x81);
    expect(&sub(false, 0x04), Some(V3_1_1), SubscriptionOptionsReserved, 0x81);
    expect(&sub(true, 0x03), Some(V5), InvalidSubscriptionQoS, 0x82);
    expect(&sub(false, 0x03), Some(V3_1_1), InvalidSubscriptionQoS, 0x82);
    expect(&sub(true, 0x30), Some(V5), InvalidRetainHandling, 0x82);
    // Options byte missing.
    expect(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], Some(V3_1_1), UnexpectedEnd, 0x81);
}

#[test]
fn property_errors() {
    use DecodeError::*;
    // PUBACK [id 1] [reason 0] [Property Length 1] [identifier 0x05 is not defined]
    expect(&[0x40, 0x05, 0x00, 0x01, 0x00, 0x01, 0x05], Some(V5), UnknownProperty(5), 0x81);
    // PUBACK with a Session Expiry Interval, which only CONNECT/CONNACK/DISCONNECT allow.
    #[rustfmt::skip]
    let not_allowed = [
        0x40, 0x09, 0x00, 0x01, 0x00,
        0x05, 0x11, 0x00, 0x00, 0x00, 0x01, // Property Length 5, Session Expiry 1
    ];
    expect(&not_allowed, Some(V5), PropertyNotAllowed(0x11), 0x81);
    // Reason String twice.
    #[rustfmt::skip]
    let dup = [
        0x40, 0x0C, 0x00, 0x01, 0x00,
        0x08,                   // Property Length 8
        0x1F, 0x00, 0x01, b'a', // Reason String "a"
        0x1F, 0x00, 0x01, b'b', // Reason String "b"
    ];
    expect(&dup, Some(V5), DuplicateProperty(0x1F), 0x82);
    // SUBSCRIBE may carry a single Subscription Identifier.
    #[rustfmt::skip]
    let dup_sid = [
        0x82, 0x0B, 0x00, 0x01,
        0x04, 0x0B, 0x01, 0x0B, 0x02, // Property Length 4, two Subscription Identifiers
        0x00, 0x01, b'a', 0x00,       // Topic Filter "a", QoS 0
    ];
    expect(&dup_sid, Some(V5), DuplicateProperty(0x0B), 0x82);
    // CONNACK with Receive Maximum 0.
    #[rustfmt::skip]
    let zero_rm = [0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00];
    expect(&zero_rm, Some(V5), InvalidPropertyValue(0x21), 0x82);
    // PUBLISH with Topic Alias 0.
    #[rustfmt::skip]
    let zero_alias = [0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x00];
    expect(&zero_alias, Some(V5), InvalidPropertyValue(0x23), 0x82);
    // CONNACK with Maximum QoS 2 (only 0 or 1 may be sent).
    #[rustfmt::skip]
    let max_qos = [0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02];
    expect(&max_qos, Some(V5), InvalidPropertyValue(0x24), 0x82);
    // Property Length 9 with one byte left.
    expect(&[0x40, 0x05, 0x00, 0x01, 0x00, 0x09, 0x1F], Some(V5), PropertyLengthExceeded, 0x81);
    // A property's value running past its Property Length.
    #[rustfmt::skip]
    let short_value = [0x40, 0x07, 0x00, 0x01, 0x00, 0x02, 0x1F, 0x00, 0x01];
    expect(&short_value, Some(V5), UnexpectedEnd, 0x81);
}

#[test]
fn every_variant_has_a_clause() {
    use DecodeError::*;
    // Variants whose trigger is above; listed so adding a variant forces a look here.
    let all = [
        PacketTooLarge { size: 1, max: 0 },
        InvalidPacketType(0),
        InvalidHeaderFlags,
        VarIntTooLong,
        InvalidQoS,
        ZeroPacketId,
        InvalidUtf8,
        NulInString,
        UnexpectedEnd,
        TrailingBytes,
        InvalidProtocolName,
        UnsupportedProtocolVersion { level: 0 },
        ConnectReservedFlag,
        InvalidWillFlags,
        InvalidWillQoS,
        PasswordWithoutUsername,
        ConnAckReservedFlags,
        InvalidReturnCode(0),
        NoSubscribeFilters,
        NoUnsubscribeFilters,
        SubscriptionOptionsReserved,
        InvalidSubscriptionQoS,
        InvalidRetainHandling,
        UnknownProperty(0),
        PropertyNotAllowed(0),
        DuplicateProperty(0),
        InvalidPropertyValue(0),
        PropertyLengthExceeded,
    ];
    for e in all {
        let exhaustive = match e {
            PacketTooLarge { .. }
            | InvalidPacketType(_)
            | InvalidHeaderFlags
            | VarIntTooLong
            | InvalidQoS
            | ZeroPacketId
            | InvalidUtf8
            | NulInString
            | UnexpectedEnd
            | TrailingBytes
            | InvalidProtocolName
            | UnsupportedProtocolVersion { .. }
            | ConnectReservedFlag
            | InvalidWillFlags
            | InvalidWillQoS
            | PasswordWithoutUsername
            | ConnAckReservedFlags
            | InvalidReturnCode(_)
            | NoSubscribeFilters
            | NoUnsubscribeFilters
            | SubscriptionOptionsReserved
            | InvalidSubscriptionQoS
            | InvalidRetainHandling
            | UnknownProperty(_)
            | PropertyNotAllowed(_)
            | DuplicateProperty(_)
            | InvalidPropertyValue(_)
            | PropertyLengthExceeded => e.to_string(),
        };
        assert!(exhaustive.contains("MQTT-") || exhaustive.contains("§"), "{exhaustive}");
    }
}

#[test]
fn encode_errors() {
    let mut out = BytesMut::new();
    let long = MqttString::from("x".repeat(65_536));
    let p = Packet::Publish(Publish { topic: long, ..publish(QoS::AtMostOnce, None, false, false) });
    assert_eq!(encode(&p, V3_1_1, &mut out), Err(EncodeError::FieldTooLong));
    let p = Packet::Publish(publish(QoS::AtLeastOnce, None, false, false));
    assert!(matches!(encode(&p, V3_1_1, &mut out), Err(EncodeError::InvalidField(_))));
    assert_eq!(encode(&Packet::Auth(Auth::default()), V3_1_1, &mut out), Err(EncodeError::NotInVersion));
    assert!(out.is_empty());
}
