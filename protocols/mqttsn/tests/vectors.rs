//! Byte-annotated vectors built from the field tables of MQTT-SN 1.2 §5.4 / §5.5, plus one
//! trigger per `DecodeError` variant.

use bytes::{Bytes, BytesMut};
use gw_mqttsn::codec::*;

/// `bytes` decodes to `expected` and `expected` encodes back to exactly `bytes`; every
/// strict prefix is an error (datagrams are complete).
fn check(bytes: &[u8], expected: Message) {
    assert_eq!(decode(bytes), Ok(expected.clone()), "decoding {bytes:02X?}");
    let mut out = BytesMut::new();
    encode(&expected, &mut out).unwrap();
    assert_eq!(&out[..], bytes, "encoding {expected:?}");
    for n in 0..bytes.len() {
        assert!(decode(&bytes[..n]).is_err(), "prefix {n} of {bytes:02X?} decoded");
    }
}

fn b(x: &'static [u8]) -> Bytes {
    Bytes::from_static(x)
}

#[test]
fn gateway_discovery() {
    // ADVERTISE: len 5, type 00, GwId 01, Duration 0x0384 (900 s)
    check(&[0x05, 0x00, 0x01, 0x03, 0x84], Message::Advertise { gateway_id: 1, duration: 900 });
    // SEARCHGW: len 3, type 01, Radius 0
    check(&[0x03, 0x01, 0x00], Message::SearchGw { radius: 0 });
    // GWINFO from a gateway: len 3, type 02, GwId 07 (no GwAdd)
    check(&[0x03, 0x02, 0x07], Message::GwInfo { gateway_id: 7, gateway_address: Bytes::new() });
    // GWINFO from a client: GwAdd 0xC0 0xA8
    check(&[0x05, 0x02, 0x07, 0xC0, 0xA8], Message::GwInfo { gateway_id: 7, gateway_address: b(&[0xC0, 0xA8]) });
}

#[test]
fn connect_family() {
    // CONNECT: len 0x0A, type 04, Flags 0x0C (Will | CleanSession), ProtocolId 01,
    // Duration 0x003C (60 s), ClientId "abcd"
    check(
        &[0x0A, 0x04, 0x0C, 0x01, 0x00, 0x3C, b'a', b'b', b'c', b'd'],
        Message::Connect(Connect { will: true, clean_session: true, duration: 60, client_id: "abcd".into() }),
    );
    // CONNACK accepted
    check(&[0x03, 0x05, 0x00], Message::ConnAck { return_code: 0 });
    check(&[0x02, 0x06], Message::WillTopicReq);
    // WILLTOPIC: Flags 0x30 (QoS 1 | Retain), "w/t"
    check(
        &[0x06, 0x07, 0x30, b'w', b'/', b't'],
        Message::WillTopic(Some(WillTopic { qos: QoS::AtLeastOnce, retain: true, topic: "w/t".into() })),
    );
    // empty WILLTOPIC: no will
    check(&[0x02, 0x07], Message::WillTopic(None));
    check(&[0x02, 0x08], Message::WillMsgReq);
    check(&[0x05, 0x09, b'b', b'y', b'e'], Message::WillMsg { payload: b(b"bye") });
    check(&[0x02, 0x16], Message::PingReq { client_id: None });
    check(&[0x04, 0x16, b'c', b'1'], Message::PingReq { client_id: Some("c1".into()) });
    check(&[0x02, 0x17], Message::PingResp);
    check(&[0x02, 0x18], Message::Disconnect { duration: None });
    // DISCONNECT with sleep Duration 0x012C (300 s)
    check(&[0x04, 0x18, 0x01, 0x2C], Message::Disconnect { duration: Some(300) });
}

#[test]
fn register_family() {
    // REGISTER: TopicId 0x0000, MsgId 0x0001, "a/b"
    check(
        &[0x09, 0x0A, 0x00, 0x00, 0x00, 0x01, b'a', b'/', b'b'],
        Message::Register { topic_id: 0, msg_id: 1, topic_name: "a/b".into() },
    );
    // REGACK: TopicId 0x0401 (1025), MsgId 1, rc 0
    check(&[0x07, 0x0B, 0x04, 0x01, 0x00, 0x01, 0x00], Message::RegAck { topic_id: 1025, msg_id: 1, return_code: 0 });
}

#[test]
fn publish_family() {
    // PUBLISH: Flags 0xB0 = DUP | QoS 1 | Retain, TopicIdType normal; TopicId 0x0401;
    // MsgId 0x0002; Data "hi"
    check(
        &[0x09, 0x0C, 0xB0, 0x04, 0x01, 0x00, 0x02, b'h', b'i'],
        Message::Publish(Publish {
            dup: true,
            qos: QoS::AtLeastOnce,
            retain: true,
            topic_id_type: TopicIdType::Normal,
            topic_id: 1025,
            msg_id: 2,
            data: b(b"hi"),
        }),
    );
    // PUBLISH QoS -1 (0x60), predefined (0x01): Flags 0x61, TopicId 1, MsgId 0
    check(
        &[0x08, 0x0C, 0x61, 0x00, 0x01, 0x00, 0x00, b'x'],
        Message::Publish(Publish {
            dup: false,
            qos: QoS::MinusOne,
            retain: false,
            topic_id_type: TopicIdType::Predefined,
            topic_id: 1,
            msg_id: 0,
            data: b(b"x"),
        }),
    );
    // PUBLISH QoS 2 (0x40), short name (0x02) "ab"
    check(
        &[0x07, 0x0C, 0x42, b'a', b'b', 0x00, 0x09],
        Message::Publish(Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic_id_type: TopicIdType::Short,
            topic_id: u16::from_be_bytes(*b"ab"),
            msg_id: 9,
            data: Bytes::new(),
        }),
    );
    // PUBACK: TopicId 0x0401, MsgId 2, rc 0x02 invalid topic id
    check(&[0x07, 0x0D, 0x04, 0x01, 0x00, 0x02, 0x02], Message::PubAck { topic_id: 1025, msg_id: 2, return_code: 2 });
    check(&[0x04, 0x0E, 0x00, 0x09], Message::PubComp { msg_id: 9 });
    check(&[0x04, 0x0F, 0x00, 0x09], Message::PubRec { msg_id: 9 });
    check(&[0x04, 0x10, 0x00, 0x09], Message::PubRel { msg_id: 9 });
}

#[test]
fn subscribe_family() {
    // SUBSCRIBE: Flags 0x20 (QoS 1, name), MsgId 3, "s/#"
    check(
        &[0x08, 0x12, 0x20, 0x00, 0x03, b's', b'/', b'#'],
        Message::Subscribe(Subscribe {
            dup: false,
            qos: QoS::AtLeastOnce,
            msg_id: 3,
            topic: TopicRef::Name("s/#".into()),
        }),
    );
    // SUBSCRIBE: Flags 0x81 (DUP, QoS 0, predefined), MsgId 4, TopicId 2
    check(
        &[0x07, 0x12, 0x81, 0x00, 0x04, 0x00, 0x02],
        Message::Subscribe(Subscribe { dup: true, qos: QoS::AtMostOnce, msg_id: 4, topic: TopicRef::Predefined(2) }),
    );
    // SUBSCRIBE: Flags 0x42 (QoS 2, short), "ab"
    check(
        &[0x07, 0x12, 0x42, 0x00, 0x05, b'a', b'b'],
        Message::Subscribe(Subscribe { dup: false, qos: QoS::ExactlyOnce, msg_id: 5, topic: TopicRef::Short(*b"ab") }),
    );
    // SUBACK: Flags 0x20 (granted QoS 1), TopicId 0, MsgId 3, rc 0
    check(
        &[0x08, 0x13, 0x20, 0x00, 0x00, 0x00, 0x03, 0x00],
        Message::SubAck { qos: QoS::AtLeastOnce, topic_id: 0, msg_id: 3, return_code: 0 },
    );
    // UNSUBSCRIBE: Flags 0x00, MsgId 6, "a"
    check(&[0x06, 0x14, 0x00, 0x00, 0x06, b'a'], Message::Unsubscribe { msg_id: 6, topic: TopicRef::Name("a".into()) });
    check(&[0x04, 0x15, 0x00, 0x06], Message::UnsubAck { msg_id: 6 });
}

#[test]
fn will_update_family() {
    // WILLTOPICUPD: Flags 0x40 (QoS 2), "t"
    check(
        &[0x04, 0x1A, 0x40, b't'],
        Message::WillTopicUpd(Some(WillTopic { qos: QoS::ExactlyOnce, retain: false, topic: "t".into() })),
    );
    check(&[0x02, 0x1A], Message::WillTopicUpd(None));
    check(&[0x03, 0x1B, 0x00], Message::WillTopicResp { return_code: 0 });
    check(&[0x04, 0x1C, b'm', b'!'], Message::WillMsgUpd { payload: b(b"m!") });
    check(&[0x03, 0x1D, 0x03], Message::WillMsgResp { return_code: 3 });
}

#[test]
fn three_byte_length_form() {
    // 0x01, Length 0x0104 (260), type 09 WILLMSG, 256 bytes of payload
    let payload = vec![0xAB; 256];
    let mut bytes = vec![0x01, 0x01, 0x04, 0x09];
    bytes.extend_from_slice(&payload);
    check(&bytes, Message::WillMsg { payload: Bytes::from(payload) });
    // The 3-byte form is decoded even when the 1-byte form would have fitted.
    assert_eq!(decode(&[0x01, 0x00, 0x04, 0x17]), Ok(Message::PingResp));
    // 253 bytes of payload still fit the short form (255 in total).
    let mut out = BytesMut::new();
    encode(&Message::WillMsg { payload: Bytes::from(vec![0; 253]) }, &mut out).unwrap();
    assert_eq!((out[0], out[1], out.len()), (0xFF, 0x09, 255));
    out.clear();
    encode(&Message::WillMsg { payload: Bytes::from(vec![0; 254]) }, &mut out).unwrap();
    assert_eq!(&out[..4], &[0x01, 0x01, 0x02, 0x09]);
    // Too long for any form.
    assert_eq!(
        encode(&Message::WillMsg { payload: Bytes::from(vec![0; 65532]) }, &mut out),
        Err(EncodeError::TooLong(65536))
    );
}

#[test]
fn forwarder_encapsulation() {
    // len 5, type FE, Ctrl 0x01 (radius 1), WirelessNodeId 0xBE 0xEF | PINGREQ
    check(
        &[0x05, 0xFE, 0x01, 0xBE, 0xEF, 0x02, 0x16],
        Message::Encapsulated(Encapsulated {
            ctrl: 1,
            wireless_node_id: b(&[0xBE, 0xEF]),
            message: Box::new(Message::PingReq { client_id: None }),
        }),
    );
    // Nested encapsulation is refused.
    assert_eq!(decode(&[0x03, 0xFE, 0x00, 0x03, 0xFE, 0x00, 0x02, 0x16]), Err(DecodeError::NestedEncapsulation));
}

#[test]
fn every_decode_error() {
    assert_eq!(decode(&[]), Err(DecodeError::TooShort(0)));
    assert_eq!(decode(&[0x02]), Err(DecodeError::TooShort(1)));
    assert_eq!(decode(&[0x01, 0x00, 0x04]), Err(DecodeError::TooShort(3)));
    assert_eq!(decode(&[0x00, 0x16]), Err(DecodeError::InvalidLength(0)));
    assert_eq!(decode(&[0x01, 0x00, 0x03, 0x16]), Err(DecodeError::InvalidLength(3)));
    assert_eq!(decode(&[0x05, 0x16, 0x00]), Err(DecodeError::Truncated { declared: 5, actual: 3 }));
    assert_eq!(decode(&[0x02, 0x17, 0x00]), Err(DecodeError::TrailingBytes));
    assert_eq!(decode(&[0x03, 0x17, 0x00]), Err(DecodeError::TrailingBytes)); // PINGRESP has no body
    assert_eq!(decode(&[0x03, 0x18, 0x01]), Err(DecodeError::UnexpectedEnd)); // half a Duration
    assert_eq!(decode(&[0x02, 0x03]), Err(DecodeError::UnknownMessageType(0x03)));
    assert_eq!(decode(&[0x06, 0x04, 0x00, 0x02, 0x00, 0x3C]), Err(DecodeError::InvalidProtocolId(2)));
    assert_eq!(decode(&[0x07, 0x0C, 0x03, 0x00, 0x01, 0x00, 0x00]), Err(DecodeError::InvalidTopicIdType));
    assert_eq!(decode(&[0x07, 0x12, 0x60, 0x00, 0x01, b'a', b'b']), Err(DecodeError::InvalidQoS));
    assert_eq!(decode(&[0x06, 0x12, 0x02, 0x00, 0x01, b'a']), Err(DecodeError::InvalidTopicLength(1)));
    assert_eq!(decode(&[0x03, 0x16, 0xFF]), Err(DecodeError::InvalidUtf8));
    assert_eq!(decode(&[0x03, 0xFE, 0x00, 0x03, 0xFE, 0x00, 0x02, 0x16]), Err(DecodeError::NestedEncapsulation));
}
