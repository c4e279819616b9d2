//! Scripted tests of the sans-IO channel with a virtual clock.
//!
//! Each test feeds real encoded bytes (a client-side [`Codec`], or literal hex for spec
//! examples) and decodes what the channel transmits. Test names cite the clause they check
//! (MQTT 5.0 numbering unless the name says `v311`).

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gw_mqtt::channel::{Channel, ChannelConfig, CloseReason, ConnAckParams, Event, SendError};
use gw_mqtt::codec::{
    reason, Auth, Codec, ConnAck, Connect, Disconnect, DisconnectProperties, LastWill, MqttString, Packet,
    ProtocolVersion, PubAck, Publish, QoS, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};

use ProtocolVersion::{V3_1, V3_1_1, V5};

// ----- harness -----

fn pid(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap()
}

fn connect(version: ProtocolVersion, client_id: &'static str) -> Connect {
    Connect {
        version,
        clean_start: true,
        keep_alive: 0,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties: Default::default(),
    }
}

fn publish(topic: &'static str, qos: QoS, id: Option<u16>) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id: id.map(pid),
        properties: Default::default(),
        payload: Bytes::from_static(b"hello"),
    }
}

fn with_alias(mut p: Publish, alias: u16) -> Publish {
    p.properties.topic_alias = Some(alias);
    p
}

/// A channel plus the client end of the wire.
struct Peer {
    ch: Channel,
    client: Codec,
    t0: Instant,
    now: Instant,
}

impl Peer {
    fn new(config: ChannelConfig, version: ProtocolVersion) -> Self {
        let t0 = Instant::now();
        let mut client = Codec::new(u32::MAX);
        client.set_version(version);
        Self { ch: Channel::new(Arc::new(config), t0), client, t0, now: t0 }
    }

    /// Moves the virtual clock to `t0 + ms`.
    fn at_ms(&mut self, ms: u64) -> &mut Self {
        self.now = self.t0 + Duration::from_millis(ms);
        self
    }

    fn encode(&self, packet: &Packet) -> BytesMut {
        let mut buf = BytesMut::new();
        self.client.encode(packet, &mut buf).expect("client packet encodes");
        buf
    }

    /// Sends `packet` as bytes; returns what was left unconsumed.
    fn send(&mut self, packet: Packet) -> BytesMut {
        let mut buf = self.encode(&packet);
        self.ch.handle_bytes(self.now, &mut buf);
        buf
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        self.ch.handle_bytes(self.now, &mut buf);
    }

    fn raw_out(&mut self) -> Vec<u8> {
        let mut out = BytesMut::new();
        self.ch.take_transmit(&mut out);
        out.to_vec()
    }

    /// Decodes everything the channel transmitted.
    fn recv(&mut self) -> Vec<Packet> {
        let mut out = BytesMut::new();
        self.ch.take_transmit(&mut out);
        let mut packets = Vec::new();
        while let Some(p) = self.client.decode(&mut out).expect("server packet decodes") {
            packets.push(p);
        }
        assert!(out.is_empty(), "trailing bytes from the server");
        packets
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ch.poll_event()).collect()
    }

    /// Sends the CONNECT and expects Event::Connect.
    fn connect_with(&mut self, c: Connect) {
        self.send(Packet::Connect(Box::new(c)));
        let events = self.events();
        assert!(matches!(events.as_slice(), [Event::Connect(_)]), "{events:?}");
    }

    /// CONNECT, accept, and consume the CONNACK; returns it.
    fn establish_with(&mut self, c: Connect, params: ConnAckParams) -> ConnAck {
        self.connect_with(c);
        self.ch.accept_connect(self.now, params);
        match self.recv().as_slice() {
            [Packet::ConnAck(ack)] => ack.clone(),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    fn establish(&mut self, version: ProtocolVersion) -> ConnAck {
        self.establish_with(connect(version, "c1"), ConnAckParams::default())
    }

    /// The single Closed event queued now.
    fn closed(&mut self) -> CloseReason {
        assert!(self.ch.is_closed());
        let events = self.events();
        match events.as_slice() {
            [Event::Closed(reason)] => reason.clone(),
            other => panic!("expected exactly one Closed, got {other:?}"),
        }
    }

    /// Expects a close for a protocol error: 5.0 DISCONNECT(code) sent, nothing for 3.x.
    fn expect_protocol_error(&mut self, code: u8) {
        let version = self.client.version().unwrap();
        let out = self.recv();
        if version == V5 {
            assert_eq!(out, vec![Packet::Disconnect(Disconnect { reason_code: code, ..Default::default() })]);
        } else {
            assert!(out.is_empty(), "3.x gets no DISCONNECT: {out:?}");
        }
        match self.closed() {
            CloseReason::ProtocolError { reason_code, detail } => {
                assert_eq!(reason_code, code, "{detail}");
                assert!(!detail.is_empty());
            }
            other => panic!("expected ProtocolError({code:#x}), got {other:?}"),
        }
    }

    fn expect_connack_refused(&mut self, v5_code: u8, wire_code: u8) {
        match self.recv().as_slice() {
            [Packet::ConnAck(ack)] => {
                assert_eq!(ack.code, wire_code);
                assert!(!ack.session_present);
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
        assert_eq!(self.closed(), CloseReason::ConnectRejected(v5_code));
    }
}

fn v5() -> Peer {
    Peer::new(ChannelConfig::default(), V5)
}

fn v311() -> Peer {
    Peer::new(ChannelConfig::default(), V3_1_1)
}

// ----- CONNECT (§3.1) -----

#[test]
fn mqtt_3_1_0_1_first_packet_must_be_connect() {
    let mut p = v5();
    p.send(Packet::PingReq);
    assert!(p.recv().is_empty(), "nothing is answered before CONNECT");
    assert!(matches!(p.closed(), CloseReason::ProtocolError { reason_code: 0x82, .. }));
}

#[test]
fn mqtt_3_1_0_2_second_connect_is_protocol_error_v5() {
    let mut p = v5();
    p.establish(V5);
    p.send(Packet::Connect(Box::new(connect(V5, "c1"))));
    p.expect_protocol_error(reason::PROTOCOL_ERROR);
}

#[test]
fn mqtt_3_1_0_2_second_connect_closes_v311() {
    let mut p = v311();
    p.establish(V3_1_1);
    p.send(Packet::Connect(Box::new(connect(V3_1_1, "c1"))));
    p.expect_protocol_error(reason::PROTOCOL_ERROR);
}

#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level_gets_connack_0x01() {
    let mut p = v5();
    // CONNECT, protocol name "MQTT", level 6, clean start, keep alive 60, client id "a".
    p.send_raw(&[0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x06, 0x02, 0x00, 0x3c, 0x00, 0x01, b'a']);
    assert_eq!(p.raw_out(), vec![0x20, 0x02, 0x00, 0x01]);
    assert!(matches!(p.closed(), CloseReason::ProtocolError { reason_code: 0x84, .. }));
}

#[test]
fn decode_error_before_connect_closes_silently() {
    let mut p = v5();
    // Packet type 0 is reserved [§2.1.2].
    p.send_raw(&[0x00, 0x00]);
    assert!(p.raw_out().is_empty());
    assert!(matches!(p.closed(), CloseReason::ProtocolError { reason_code: 0x81, .. }));
}

#[test]
fn mqtt_4_13_1_decode_error_after_connect_sends_disconnect_v5() {
    let mut p = v5();
    p.establish(V5);
    p.send_raw(&[0x00, 0x00]);
    p.expect_protocol_error(reason::MALFORMED_PACKET);
}

#[test]
fn decode_error_after_connect_closes_silently_v311() {
    let mut p = v311();
    p.establish(V3_1_1);
    p.send_raw(&[0x00, 0x00]);
    p.expect_protocol_error(reason::MALFORMED_PACKET);
}

#[test]
fn mqtt_3_1_2_24_packet_above_max_packet_size_is_0x95() {
    let mut p = Peer::new(ChannelConfig { max_packet_size: 64, ..Default::default() }, V5);
    let ack = p.establish(V5);
    assert_eq!(ack.properties.maximum_packet_size, Some(64), "advertised in CONNACK");
    let mut big = publish("t", QoS::AtMostOnce, None);
    big.payload = Bytes::from(vec![0u8; 100]);
    p.send(Packet::Publish(big));
    p.expect_protocol_error(reason::PACKET_TOO_LARGE);
}

#[test]
fn mqtt_2_1_2_packets_only_a_server_sends_are_protocol_errors() {
    let server_only = [
        Packet::ConnAck(ConnAck::default()),
        Packet::SubAck(SubAck { packet_id: pid(1), reason_codes: vec![0], properties: Default::default() }),
        Packet::UnsubAck(UnsubAck { packet_id: pid(1), reason_codes: vec![0], properties: Default::default() }),
        Packet::PingResp,
    ];
    for version in [V5, V3_1_1] {
        for packet in server_only.clone() {
            let mut p = Peer::new(ChannelConfig::default(), version);
            p.establish(version);
            p.send(packet);
            p.expect_protocol_error(reason::PROTOCOL_ERROR);
        }
    }
}

#[test]
fn mqtt_3_15_auth_without_authentication_method_is_protocol_error() {
    let mut p = v5();
    p.establish(V5);
    p.send(Packet::Auth(Auth { reason_code: reason::RE_AUTHENTICATE, ..Default::default() }));
    p.expect_protocol_error(reason::PROTOCOL_ERROR);
}

#[test]
fn mqtt_4_12_0_1_authentication_method_refused_0x8c() {
    let mut p = v5();
    let mut c = connect(V5, "c1");
    c.properties.authentication_method = Some("SCRAM-SHA-1".into());
    p.send(Packet::Connect(Box::new(c)));
    p.expect_connack_refused(reason::BAD_AUTHENTICATION_METHOD, reason::BAD_AUTHENTICATION_METHOD);
}

#[test]
fn mqtt_3_1_3_5_client_id_too_long_is_0x85_v5_and_0x02_v311() {
    for (version, wire) in [(V5, reason::CLIENT_IDENTIFIER_NOT_VALID), (V3_1_1, reason::v3::IDENTIFIER_REJECTED)] {
        let mut p = Peer::new(ChannelConfig { max_clientid_len: 4, ..Default::default() }, version);
        p.send(Packet::Connect(Box::new(connect(version, "abcde"))));
        p.expect_connack_refused(reason::CLIENT_IDENTIFIER_NOT_VALID, wire);

        let mut ok = Peer::new(ChannelConfig { max_clientid_len: 4, ..Default::default() }, version);
        ok.connect_with(connect(version, "abcd"));
    }
}

#[test]
fn mqtt_3_1_3_6_empty_client_id_v5_gets_assigned_client_identifier() {
    let mut p = v5();
    let ack = p.establish_with(
        connect(V5, ""),
        ConnAckParams { assigned_client_id: Some("auto-1".into()), ..Default::default() },
    );
    assert_eq!(ack.code, reason::SUCCESS);
    assert_eq!(ack.properties.assigned_client_identifier, Some(MqttString::from("auto-1")));
}

#[test]
fn mqtt_3_1_3_8_v311_empty_client_id_needs_clean_session() {
    let mut p = v311();
    p.connect_with(connect(V3_1_1, ""));

    let mut p = v311();
    let mut c = connect(V3_1_1, "");
    c.clean_start = false;
    p.send(Packet::Connect(Box::new(c)));
    p.expect_connack_refused(reason::CLIENT_IDENTIFIER_NOT_VALID, reason::v3::IDENTIFIER_REJECTED);
}

#[test]
fn v31_empty_client_id_is_rejected_0x02() {
    let mut p = Peer::new(ChannelConfig::default(), V3_1);
    p.send(Packet::Connect(Box::new(connect(V3_1, ""))));
    p.expect_connack_refused(reason::CLIENT_IDENTIFIER_NOT_VALID, reason::v3::IDENTIFIER_REJECTED);
}

fn will(qos: QoS, retain: bool) -> LastWill {
    LastWill { topic: "will".into(), payload: Bytes::from_static(b"bye"), qos, retain, properties: Default::default() }
}

#[test]
fn mqtt_3_2_2_12_will_qos_above_maximum_is_0x9b() {
    let config = || ChannelConfig { max_qos_allowed: QoS::AtLeastOnce, ..Default::default() };
    let mut p = Peer::new(config(), V5);
    let mut c = connect(V5, "c1");
    c.will = Some(will(QoS::ExactlyOnce, false));
    p.send(Packet::Connect(Box::new(c)));
    p.expect_connack_refused(reason::QOS_NOT_SUPPORTED, reason::QOS_NOT_SUPPORTED);

    let mut p = Peer::new(config(), V3_1_1);
    let mut c = connect(V3_1_1, "c1");
    c.will = Some(will(QoS::ExactlyOnce, false));
    p.send(Packet::Connect(Box::new(c)));
    p.expect_connack_refused(reason::QOS_NOT_SUPPORTED, reason::v3::SERVER_UNAVAILABLE);

    let mut p = Peer::new(config(), V5);
    let mut c = connect(V5, "c1");
    c.will = Some(will(QoS::AtLeastOnce, false));
    p.connect_with(c);
}

#[test]
fn mqtt_3_2_2_13_will_retain_without_retain_available_is_0x9a() {
    let mut p = Peer::new(ChannelConfig { retain_available: false, ..Default::default() }, V5);
    let mut c = connect(V5, "c1");
    c.will = Some(will(QoS::AtMostOnce, true));
    p.send(Packet::Connect(Box::new(c)));
    p.expect_connack_refused(reason::RETAIN_NOT_SUPPORTED, reason::RETAIN_NOT_SUPPORTED);
}

#[test]
fn mqtt_3_2_2_connack_v3_return_code_from_reject() {
    let mut p = v311();
    p.connect_with(connect(V3_1_1, "c1"));
    p.ch.reject_connect(reason::BAD_USER_NAME_OR_PASSWORD, Some("nope".into()));
    // 3.1.1 §3.2.2.3: return code 0x04, bad user name or password.
    assert_eq!(p.raw_out(), vec![0x20, 0x02, 0x00, 0x04]);
    assert_eq!(p.closed(), CloseReason::ConnectRejected(reason::BAD_USER_NAME_OR_PASSWORD));
}

#[test]
fn mqtt_3_2_2_reject_v5_carries_reason_string_even_without_problem_information() {
    let mut p = v5();
    let mut c = connect(V5, "c1");
    c.properties.request_problem_information = Some(0);
    p.connect_with(c);
    p.ch.reject_connect(reason::NOT_AUTHORIZED, Some("denied".into()));
    match p.recv().as_slice() {
        [Packet::ConnAck(ack)] => {
            assert_eq!(ack.code, reason::NOT_AUTHORIZED);
            assert_eq!(ack.properties.reason_string, Some(MqttString::from("denied")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.closed(), CloseReason::ConnectRejected(reason::NOT_AUTHORIZED));
}

#[test]
fn mqtt_3_2_2_3_connack_properties_from_config() {
    let mut p = v5();
    let ack = p.establish(V5);
    let props = &ack.properties;
    assert_eq!(props.maximum_packet_size, Some(1024 * 1024));
    assert_eq!(props.topic_alias_maximum, Some(65535));
    assert_eq!(props.receive_maximum, None, "65535 is the default and omitted");
    assert_eq!(props.maximum_qos, None);
    assert_eq!(props.retain_available, None);
    assert_eq!(props.wildcard_subscription_available, None);
    assert_eq!(props.shared_subscription_available, None);
    assert_eq!(props.server_keep_alive, None);

    let config = ChannelConfig {
        max_qos_allowed: QoS::AtLeastOnce,
        retain_available: false,
        wildcard_subscription: false,
        shared_subscription: false,
        max_topic_alias: 0,
        receive_maximum: 10,
        ..Default::default()
    };
    let mut p = Peer::new(config, V5);
    let ack = p.establish_with(
        connect(V5, "c1"),
        ConnAckParams { session_present: true, session_expiry_interval: Some(60), ..Default::default() },
    );
    assert!(ack.session_present);
    let props = &ack.properties;
    assert_eq!(props.maximum_qos, Some(1));
    assert_eq!(props.retain_available, Some(0));
    assert_eq!(props.wildcard_subscription_available, Some(0));
    assert_eq!(props.shared_subscription_available, Some(0));
    assert_eq!(props.topic_alias_maximum, None, "0 is omitted");
    assert_eq!(props.receive_maximum, Some(10));
    assert_eq!(props.session_expiry_interval, Some(60));
}

#[test]
fn mqtt_3_1_4_packets_after_connect_wait_for_the_answer() {
    let mut p = v5();
    let mut buf = p.encode(&Packet::Connect(Box::new(connect(V5, "c1"))));
    let sub = Subscribe {
        packet_id: pid(7),
        filters: vec![("a/b".into(), SubscriptionOptions::default())],
        properties: Default::default(),
    };
    buf.extend_from_slice(&p.encode(&Packet::Subscribe(sub)));
    buf.extend_from_slice(&p.encode(&Packet::PingReq));
    p.ch.handle_bytes(p.now, &mut buf);
    let events = p.events();
    assert!(matches!(events.as_slice(), [Event::Connect(_)]), "{events:?}");
    assert!(p.recv().is_empty(), "no PINGRESP before CONNACK");

    p.ch.accept_connect(p.now, ConnAckParams::default());
    let out = p.recv();
    assert!(matches!(out.as_slice(), [Packet::ConnAck(_), Packet::PingResp]), "{out:?}");
    let events = p.events();
    assert!(matches!(events.as_slice(), [Event::Subscribe(s)] if s.packet_id == pid(7)), "{events:?}");
}

#[test]
fn mqtt_3_1_4_5_rejected_connect_drops_buffered_packets() {
    let mut p = v5();
    let mut buf = p.encode(&Packet::Connect(Box::new(connect(V5, "c1"))));
    buf.extend_from_slice(&p.encode(&Packet::PingReq));
    p.ch.handle_bytes(p.now, &mut buf);
    p.events();
    p.ch.reject_connect(reason::NOT_AUTHORIZED, None);
    let out = p.recv();
    assert!(matches!(out.as_slice(), [Packet::ConnAck(a)] if a.code == reason::NOT_AUTHORIZED), "{out:?}");
    assert_eq!(p.closed(), CloseReason::ConnectRejected(reason::NOT_AUTHORIZED));
    p.ch.accept_connect(p.now, ConnAckParams::default());
    assert!(p.recv().is_empty() && p.events().is_empty(), "nothing after close");
}

#[test]
fn decode_error_while_connect_pending_is_handled_after_accept() {
    let mut p = v5();
    let mut buf = p.encode(&Packet::Connect(Box::new(connect(V5, "c1"))));
    buf.extend_from_slice(&p.encode(&Packet::PingReq));
    buf.extend_from_slice(&[0x00, 0x00]);
    p.ch.handle_bytes(p.now, &mut buf);
    assert!(matches!(p.events().as_slice(), [Event::Connect(_)]));
    p.ch.accept_connect(p.now, ConnAckParams::default());
    let out = p.recv();
    assert!(
        matches!(out.as_slice(), [Packet::ConnAck(_), Packet::PingResp, Packet::Disconnect(d)] if d.reason_code == 0x81),
        "{out:?}"
    );
    assert!(matches!(p.closed(), CloseReason::ProtocolError { reason_code: 0x81, .. }));
}

// ----- PUBLISH inbound (§3.3) -----

fn established(version: ProtocolVersion, config: ChannelConfig) -> Peer {
    let mut p = Peer::new(config, version);
    p.establish(version);
    p
}

fn received_publish(p: &mut Peer) -> Publish {
    let events = p.events();
    match <[Event; 1]>::try_from(events) {
        Ok([Event::Publish(publish)]) => publish,
        other => panic!("expected one Publish, got {other:?}"),
    }
}

#[test]
fn mqtt_3_3_2_2_wildcard_in_topic_name_is_0x90() {
    for version in [V5, V3_1_1] {
        for topic in ["a/+", "a/#"] {
            let mut p = established(version, ChannelConfig::default());
            p.send(Packet::Publish(publish(topic, QoS::AtMostOnce, None)));
            p.expect_protocol_error(reason::TOPIC_NAME_INVALID);
        }
    }
}

#[test]
fn inbound_publish_is_passed_on() {
    let mut p = established(V5, ChannelConfig::default());
    p.send(Packet::Publish(publish("a/b", QoS::AtLeastOnce, Some(3))));
    let got = received_publish(&mut p);
    assert_eq!(got.topic.as_str(), "a/b");
    assert_eq!(got.packet_id, Some(pid(3)));
    assert!(p.recv().is_empty(), "the glue acks, not the channel");
}

#[test]
fn mqtt_3_3_2_1_empty_topic_without_alias_is_protocol_error() {
    for version in [V5, V3_1_1] {
        let mut p = established(version, ChannelConfig::default());
        p.send(Packet::Publish(publish("", QoS::AtMostOnce, None)));
        p.expect_protocol_error(reason::PROTOCOL_ERROR);
    }
}

#[test]
fn mqtt_3_3_2_8_topic_alias_zero_is_0x94() {
    // On the wire (the decoder refuses it) ...
    let mut p = established(V5, ChannelConfig::default());
    p.send(Packet::Publish(with_alias(publish("t", QoS::AtMostOnce, None), 0)));
    p.expect_protocol_error(reason::TOPIC_ALIAS_INVALID);
    // ... and as a packet handed over already decoded.
    let mut p = established(V5, ChannelConfig::default());
    p.ch.handle_packet(p.now, Packet::Publish(with_alias(publish("t", QoS::AtMostOnce, None), 0)));
    p.expect_protocol_error(reason::TOPIC_ALIAS_INVALID);
}

#[test]
fn mqtt_3_3_2_9_topic_alias_above_maximum_is_0x94() {
    let mut p = established(V5, ChannelConfig { max_topic_alias: 5, ..Default::default() });
    p.send(Packet::Publish(with_alias(publish("t", QoS::AtMostOnce, None), 5)));
    received_publish(&mut p);
    p.send(Packet::Publish(with_alias(publish("t", QoS::AtMostOnce, None), 6)));
    p.expect_protocol_error(reason::TOPIC_ALIAS_INVALID);
}

#[test]
fn mqtt_3_3_2_9_any_alias_is_invalid_when_maximum_is_zero() {
    let mut p = established(V5, ChannelConfig { max_topic_alias: 0, ..Default::default() });
    p.send(Packet::Publish(with_alias(publish("t", QoS::AtMostOnce, None), 1)));
    p.expect_protocol_error(reason::TOPIC_ALIAS_INVALID);
}

#[test]
fn mqtt_3_3_4_topic_alias_without_mapping_is_protocol_error() {
    let mut p = established(V5, ChannelConfig::default());
    p.send(Packet::Publish(with_alias(publish("", QoS::AtMostOnce, None), 3)));
    p.expect_protocol_error(reason::PROTOCOL_ERROR);
}

#[test]
fn mqtt_3_3_2_3_4_inbound_topic_alias_defined_used_and_redefined() {
    let mut p = established(V5, ChannelConfig::default());
    p.send(Packet::Publish(with_alias(publish("a/1", QoS::AtMostOnce, None), 2)));
    assert_eq!(received_publish(&mut p).topic.as_str(), "a/1");
    p.send(Packet::Publish(with_alias(publish("", QoS::AtMostOnce, None), 2)));
    let got = received_publish(&mut p);
    assert_eq!(got.topic.as_str(), "a/1", "alias resolved");
    assert_eq!(got.properties.topic_alias, Some(2), "alias left as received");
    p.send(Packet::Publish(with_alias(publish("b/2", QoS::AtMostOnce, None), 2)));
    assert_eq!(received_publish(&mut p).topic.as_str(), "b/2");
    p.send(Packet::Publish(with_alias(publish("", QoS::AtMostOnce, None), 2)));
    assert_eq!(received_publish(&mut p).topic.as_str(), "b/2", "mapping replaced");
}

#[test]
fn mqtt_3_2_2_3_4_publish_qos_above_maximum_is_0x9b() {
    for version in [V5, V3_1_1] {
        let mut p = established(version, ChannelConfig { max_qos_allowed: QoS::AtLeastOnce, ..Default::default() });
        p.send(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(1))));
        received_publish(&mut p);
        p.send(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(2))));
        p.expect_protocol_error(reason::QOS_NOT_SUPPORTED);
    }
}

#[test]
fn mqtt_3_2_2_3_5_retained_publish_without_retain_available_is_0x9a() {
    for version in [V5, V3_1_1] {
        let mut p = established(version, ChannelConfig { retain_available: false, ..Default::default() });
        let mut msg = publish("t", QoS::AtMostOnce, None);
        msg.retain = true;
        p.send(Packet::Publish(msg));
        p.expect_protocol_error(reason::RETAIN_NOT_SUPPORTED);
    }
}

#[test]
fn mqtt_3_3_4_6_subscription_identifier_from_client_is_protocol_error() {
    let mut p = established(V5, ChannelConfig::default());
    let mut msg = publish("t", QoS::AtMostOnce, None);
    msg.properties.subscription_identifiers = vec![1];
    p.send(Packet::Publish(msg));
    p.expect_protocol_error(reason::PROTOCOL_ERROR);
}

#[test]
fn mqtt_3_3_4_7_receive_maximum_exceeded_is_0x93() {
    let mut p = established(V5, ChannelConfig { receive_maximum: 2, ..Default::default() });
    p.send(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(1))));
    p.send(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(2))));
    // A re-sent id is counted once; QoS 0 is not counted.
    let mut dup = publish("t", QoS::AtLeastOnce, Some(1));
    dup.dup = true;
    p.send(Packet::Publish(dup));
    p.send(Packet::Publish(publish("t", QoS::AtMostOnce, None)));
    assert_eq!(p.events().len(), 4, "duplicates are passed on");
    p.send(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(3))));
    p.expect_protocol_error(reason::RECEIVE_MAXIMUM_EXCEEDED);
}

#[test]
fn mqtt_4_9_receive_maximum_quota_is_returned_by_acks() {
    let mut p = established(V5, ChannelConfig { receive_maximum: 1, ..Default::default() });
    // QoS 1: PUBACK frees the slot.
    p.send(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(1))));
    p.ch.ack_publish(pid(1), QoS::AtLeastOnce, reason::SUCCESS);
    // QoS 2: a successful PUBREC does not, PUBCOMP does.
    p.send(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(2))));
    p.ch.ack_publish(pid(2), QoS::ExactlyOnce, reason::SUCCESS);
    p.send(Packet::PubRel(PubAck::new(pid(2))));
    p.ch.complete_release(pid(2), true);
    // QoS 2: a failed PUBREC ends the exchange and frees the slot.
    p.send(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(3))));
    p.ch.ack_publish(pid(3), QoS::ExactlyOnce, reason::NOT_AUTHORIZED);
    p.send(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(4))));
    assert!(!p.ch.is_closed());
    let out = p.recv();
    assert_eq!(
        out,
        vec![
            Packet::PubAck(PubAck::new(pid(1))),
            Packet::PubRec(PubAck::new(pid(2))),
            Packet::PubComp(PubAck::new(pid(2))),
            Packet::PubRec(PubAck { reason_code: reason::NOT_AUTHORIZED, ..PubAck::new(pid(3)) }),
        ]
    );
    assert_eq!(p.events().len(), 5, "4 PUBLISH + PUBREL");
    // The slot is held by id 4 now.
    p.send(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(5))));
    p.expect_protocol_error(reason::RECEIVE_MAXIMUM_EXCEEDED);
}

#[test]
fn mqtt_3_4_puback_reason_codes_v5_and_none_in_v311() {
    let mut p = established(V5, ChannelConfig::default());
    p.send(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(1))));
    p.ch.ack_publish(pid(1), QoS::AtLeastOnce, reason::NO_MATCHING_SUBSCRIBERS);
    assert_eq!(
        p.recv(),
        vec![Packet::PubAck(PubAck { reason_code: reason::NO_MATCHING_SUBSCRIBERS, ..PubAck::new(pid(1)) })]
    );

    let mut p = established(V3_1_1, ChannelConfig::default());
    p.send(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(1))));
    p.ch.ack_publish(pid(1), QoS::AtLeastOnce, reason::NO_MATCHING_SUBSCRIBERS);
    assert_eq!(p.raw_out(), vec![0x40, 0x02, 0x00, 0x01]);
}

#[test]
fn mqtt_3_7_pubcomp_packet_identifier_not_found_0x92() {
    let mut p = established(V5, ChannelConfig::default());
    p.send(Packet::PubRel(PubAck::new(pid(9))));
    assert!(matches!(p.events().as_slice(), [Event::PubRel { packet_id }] if *packet_id == pid(9)));
    p.ch.complete_release(pid(9), false);
    assert_eq!(
        p.recv(),
        vec![Packet::PubComp(PubAck { reason_code: reason::PACKET_IDENTIFIER_NOT_FOUND, ..PubAck::new(pid(9)) })]
    );
}

#[test]
fn outbound_acks_become_events() {
    let mut p = established(V5, ChannelConfig::default());
    p.send(Packet::PubAck(PubAck { reason_code: reason::NO_MATCHING_SUBSCRIBERS, ..PubAck::new(pid(1)) }));
    p.send(Packet::PubRec(PubAck::new(pid(2))));
    p.ch.send_pubrel(pid(2));
    p.send(Packet::PubComp(PubAck::new(pid(2))));
    let events = p.events();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::PubAck { packet_id: a, reason_code: 0x10 },
                Event::PubRec { packet_id: b, reason_code: 0 },
                Event::PubComp { packet_id: c, reason_code: 0 },
            ] if *a == pid(1) && *b == pid(2) && *c == pid(2)
        ),
        "{events:?}"
    );
    assert_eq!(p.recv(), vec![Packet::PubRel(PubAck::new(pid(2)))]);
}

// ----- PUBLISH outbound -----

fn client_with_alias_max(max: u16) -> Peer {
    let mut p = v5();
    let mut c = connect(V5, "c1");
    c.properties.topic_alias_maximum = Some(max);
    p.establish_with(c, ConnAckParams::default());
    p
}

fn sent_publish(p: &mut Peer) -> Publish {
    match <[Packet; 1]>::try_from(p.recv()) {
        Ok([Packet::Publish(publish)]) => publish,
        other => panic!("expected one PUBLISH, got {other:?}"),
    }
}

#[test]
fn mqtt_3_3_2_11_outbound_topic_aliases_up_to_client_maximum() {
    let mut p = client_with_alias_max(2);
    // An alias from another connection is never forwarded [MQTT-3.3.2-7].
    p.ch.send_publish(with_alias(publish("a", QoS::AtMostOnce, None), 9)).unwrap();
    let first = sent_publish(&mut p);
    assert_eq!((first.topic.as_str(), first.properties.topic_alias), ("a", Some(1)));
    p.ch.send_publish(publish("a", QoS::AtMostOnce, None)).unwrap();
    let again = sent_publish(&mut p);
    assert_eq!((again.topic.as_str(), again.properties.topic_alias), ("", Some(1)));
    p.ch.send_publish(publish("b", QoS::AtMostOnce, None)).unwrap();
    let b = sent_publish(&mut p);
    assert_eq!((b.topic.as_str(), b.properties.topic_alias), ("b", Some(2)));
    p.ch.send_publish(publish("c", QoS::AtMostOnce, None)).unwrap();
    let c = sent_publish(&mut p);
    assert_eq!((c.topic.as_str(), c.properties.topic_alias), ("c", None), "aliases used up");
    p.ch.send_publish(publish("c", QoS::AtMostOnce, None)).unwrap();
    assert_eq!(sent_publish(&mut p).topic.as_str(), "c");
    p.ch.send_publish(publish("b", QoS::AtMostOnce, None)).unwrap();
    let b = sent_publish(&mut p);
    assert_eq!((b.topic.as_str(), b.properties.topic_alias), ("", Some(2)));
}

#[test]
fn mqtt_3_1_2_26_no_outbound_alias_when_client_maximum_is_zero() {
    let mut p = client_with_alias_max(0);
    for _ in 0..2 {
        p.ch.send_publish(with_alias(publish("a", QoS::AtMostOnce, None), 1)).unwrap();
        let got = sent_publish(&mut p);
        assert_eq!((got.topic.as_str(), got.properties.topic_alias), ("a", None));
    }
}

#[test]
fn mqtt_3_1_2_24_send_publish_refuses_packet_above_client_maximum() {
    let mut p = v5();
    let mut c = connect(V5, "c1");
    c.properties.maximum_packet_size = Some(40);
    c.properties.topic_alias_maximum = Some(5);
    p.establish_with(c, ConnAckParams::default());
    let mut big = publish("big", QoS::AtLeastOnce, Some(1));
    big.payload = Bytes::from(vec![0u8; 40]);
    assert!(matches!(p.ch.send_publish(big), Err(SendError::TooLarge)));
    assert!(!p.ch.has_transmit(), "nothing written");
    // The refused PUBLISH did not consume alias 1.
    p.ch.send_publish(publish("small", QoS::AtLeastOnce, Some(2))).unwrap();
    let got = sent_publish(&mut p);
    assert_eq!(got.properties.topic_alias, Some(1));
    assert!(!p.ch.is_closed());
}

#[test]
fn v311_send_publish_drops_v5_properties() {
    let mut p = established(V3_1_1, ChannelConfig::default());
    let mut msg = publish("t", QoS::AtMostOnce, None);
    msg.properties.message_expiry_interval = Some(5);
    msg.properties.topic_alias = Some(1);
    p.ch.send_publish(msg.clone()).unwrap();
    let out = p.raw_out();
    // 30 len | 00 01 't' | "hello": no property length byte, no alias.
    assert_eq!(out, [&[0x30, 0x08, 0x00, 0x01, b't'][..], b"hello"].concat());
}

#[test]
fn send_publish_before_accept_is_closed_error() {
    let mut p = v5();
    assert!(matches!(p.ch.send_publish(publish("t", QoS::AtMostOnce, None)), Err(SendError::Closed)));
    p.connect_with(connect(V5, "c1"));
    assert!(matches!(p.ch.send_publish(publish("t", QoS::AtMostOnce, None)), Err(SendError::Closed)));
}

// ----- SUBSCRIBE / UNSUBSCRIBE -----

#[test]
fn mqtt_3_9_3_suback_failure_is_0x80_in_v311() {
    let filters = vec![("a".into(), SubscriptionOptions::default()), ("b".into(), SubscriptionOptions::default())];
    for (version, expect) in [(V5, vec![1, reason::NOT_AUTHORIZED]), (V3_1_1, vec![1, 0x80])] {
        let mut p = established(version, ChannelConfig::default());
        p.send(Packet::Subscribe(Subscribe {
            packet_id: pid(4),
            filters: filters.clone(),
            properties: Default::default(),
        }));
        assert!(matches!(p.events().as_slice(), [Event::Subscribe(_)]));
        p.ch.ack_subscribe(pid(4), vec![1, reason::NOT_AUTHORIZED]);
        assert_eq!(
            p.recv(),
            vec![Packet::SubAck(SubAck { packet_id: pid(4), reason_codes: expect, properties: Default::default() })]
        );
    }
}

#[test]
fn mqtt_3_11_unsuback_codes_in_v5_none_in_v311() {
    let mut p = established(V5, ChannelConfig::default());
    p.send(Packet::Unsubscribe(Unsubscribe { packet_id: pid(5), filters: vec!["a".into()], user_properties: vec![] }));
    assert!(matches!(p.events().as_slice(), [Event::Unsubscribe(_)]));
    p.ch.ack_unsubscribe(pid(5), vec![reason::NO_SUBSCRIPTION_EXISTED]);
    assert_eq!(
        p.recv(),
        vec![Packet::UnsubAck(UnsubAck {
            packet_id: pid(5),
            reason_codes: vec![reason::NO_SUBSCRIPTION_EXISTED],
            properties: Default::default()
        })]
    );

    let mut p = established(V3_1_1, ChannelConfig::default());
    p.ch.ack_unsubscribe(pid(5), vec![reason::NO_SUBSCRIPTION_EXISTED]);
    assert_eq!(p.raw_out(), vec![0xb0, 0x02, 0x00, 0x05]);
}

#[test]
fn mqtt_3_1_2_29_acks_carry_no_reason_string_or_user_properties() {
    let mut p = v5();
    let mut c = connect(V5, "c1");
    c.properties.request_problem_information = Some(0);
    p.establish_with(c, ConnAckParams::default());
    p.ch.ack_subscribe(pid(1), vec![reason::NOT_AUTHORIZED]);
    p.ch.ack_unsubscribe(pid(2), vec![reason::NOT_AUTHORIZED]);
    p.ch.ack_publish(pid(3), QoS::AtLeastOnce, reason::NOT_AUTHORIZED);
    for packet in p.recv() {
        let props = match &packet {
            Packet::SubAck(a) => &a.properties,
            Packet::UnsubAck(a) => &a.properties,
            Packet::PubAck(a) => &a.properties,
            other => panic!("{other:?}"),
        };
        assert!(props.reason_string.is_none() && props.user_properties.is_empty());
    }
}

// ----- PING, DISCONNECT -----

#[test]
fn mqtt_3_12_4_1_pingreq_gets_pingresp() {
    for version in [V5, V3_1_1] {
        let mut p = established(version, ChannelConfig::default());
        p.send(Packet::PingReq);
        assert_eq!(p.raw_out(), vec![0xd0, 0x00]);
    }
}

fn disconnect_with_expiry(expiry: Option<u32>) -> Packet {
    Packet::Disconnect(Disconnect {
        reason_code: 0,
        properties: DisconnectProperties { session_expiry_interval: expiry, ..Default::default() }.into(),
    })
}

#[test]
fn mqtt_3_14_2_2_2_session_expiry_in_disconnect_after_zero_is_protocol_error() {
    let mut p = established(V5, ChannelConfig::default());
    p.send(disconnect_with_expiry(Some(10)));
    p.expect_protocol_error(reason::PROTOCOL_ERROR);

    // Zero is always allowed.
    let mut p = established(V5, ChannelConfig::default());
    p.send(disconnect_with_expiry(Some(0)));
    assert!(p.recv().is_empty());
    assert_eq!(p.closed(), CloseReason::ClientDisconnect { reason_code: 0, session_expiry_interval: Some(0) });
}

#[test]
fn mqtt_3_14_2_2_2_session_expiry_update_in_disconnect() {
    let mut p = v5();
    let mut c = connect(V5, "c1");
    c.properties.session_expiry_interval = Some(30);
    p.establish_with(c, ConnAckParams::default());
    p.send(disconnect_with_expiry(Some(100)));
    assert!(p.recv().is_empty());
    assert_eq!(p.closed(), CloseReason::ClientDisconnect { reason_code: 0, session_expiry_interval: Some(100) });
}

#[test]
fn mqtt_3_14_disconnect_with_will_message_0x04() {
    let mut p = established(V5, ChannelConfig::default());
    p.send(Packet::Disconnect(Disconnect { reason_code: reason::DISCONNECT_WITH_WILL_MESSAGE, ..Default::default() }));
    assert_eq!(p.closed(), CloseReason::ClientDisconnect { reason_code: 0x04, session_expiry_interval: None });

    let mut p = established(V3_1_1, ChannelConfig::default());
    p.send_raw(&[0xe0, 0x00]);
    assert_eq!(p.closed(), CloseReason::ClientDisconnect { reason_code: 0, session_expiry_interval: None });
}

#[test]
fn server_disconnect_v5_sends_reason_v311_nothing() {
    let mut p = established(V5, ChannelConfig::default());
    p.ch.disconnect(reason::SESSION_TAKEN_OVER, None);
    assert_eq!(
        p.recv(),
        vec![Packet::Disconnect(Disconnect { reason_code: reason::SESSION_TAKEN_OVER, ..Default::default() })]
    );
    assert_eq!(p.closed(), CloseReason::ServerDisconnect(reason::SESSION_TAKEN_OVER));

    let mut p = established(V3_1_1, ChannelConfig::default());
    p.ch.disconnect(reason::SERVER_SHUTTING_DOWN, None);
    assert!(p.raw_out().is_empty());
    assert_eq!(p.closed(), CloseReason::ServerDisconnect(reason::SERVER_SHUTTING_DOWN));
}

#[test]
fn exactly_one_closed_event_and_input_ignored_afterwards() {
    let mut p = established(V5, ChannelConfig::default());
    p.ch.disconnect(reason::ADMINISTRATIVE_ACTION, None);
    p.recv();
    assert_eq!(p.closed(), CloseReason::ServerDisconnect(reason::ADMINISTRATIVE_ACTION));
    p.send(Packet::PingReq);
    p.ch.disconnect(reason::SERVER_SHUTTING_DOWN, None);
    p.ch.handle_timeout(p.t0 + Duration::from_secs(3600));
    assert!(p.events().is_empty());
    assert!(p.recv().is_empty());
    assert_eq!(p.ch.poll_timeout(), None);
}

// ----- keep alive and idle timeout -----

fn keepalive_peer(version: ProtocolVersion, keep_alive: u16, config: ChannelConfig) -> Peer {
    let mut p = Peer::new(config, version);
    let mut c = connect(version, "c1");
    c.keep_alive = keep_alive;
    p.establish_with(c, ConnAckParams::default());
    p
}

#[test]
fn mqtt_3_1_2_22_keep_alive_closes_after_one_and_a_half_times() {
    for version in [V5, V3_1_1] {
        let mut p = keepalive_peer(version, 10, ChannelConfig::default());
        assert_eq!(p.ch.keep_alive(), 10);
        assert_eq!(p.ch.poll_timeout(), Some(p.t0 + Duration::from_secs(15)));
        p.ch.handle_timeout(p.t0 + Duration::from_millis(14_900));
        assert!(!p.ch.is_closed(), "1.49x is still alive");
        p.ch.handle_timeout(p.t0 + Duration::from_millis(15_000));
        let out = p.recv();
        if version == V5 {
            assert_eq!(
                out,
                vec![Packet::Disconnect(Disconnect { reason_code: reason::KEEP_ALIVE_TIMEOUT, ..Default::default() })]
            );
        } else {
            assert!(out.is_empty());
        }
        assert_eq!(p.closed(), CloseReason::KeepAliveTimeout);
    }
}

#[test]
fn mqtt_3_1_2_22_any_packet_resets_keep_alive() {
    let mut p = keepalive_peer(V5, 10, ChannelConfig::default());
    p.at_ms(10_000).send(Packet::Publish(publish("t", QoS::AtMostOnce, None)));
    p.events();
    assert_eq!(p.ch.poll_timeout(), Some(p.t0 + Duration::from_secs(25)));
    p.ch.handle_timeout(p.t0 + Duration::from_millis(24_900));
    assert!(!p.ch.is_closed());
    p.ch.handle_timeout(p.t0 + Duration::from_millis(25_100));
    assert!(p.ch.is_closed());
}

#[test]
fn mqtt_3_1_2_10_keep_alive_zero_never_times_out() {
    let mut p = keepalive_peer(V5, 0, ChannelConfig::default());
    assert_eq!(p.ch.poll_timeout(), None);
    p.ch.handle_timeout(p.t0 + Duration::from_secs(1_000_000));
    assert!(!p.ch.is_closed());
}

#[test]
fn mqtt_3_2_2_21_server_keep_alive_overrides_client_value() {
    let config = || ChannelConfig { server_keepalive: Some(4), ..Default::default() };
    let mut p = Peer::new(config(), V5);
    let mut c = connect(V5, "c1");
    c.keep_alive = 60;
    let ack = p.establish_with(c, ConnAckParams::default());
    assert_eq!(ack.properties.server_keep_alive, Some(4));
    assert_eq!(p.ch.keep_alive(), 4);
    p.ch.handle_timeout(p.t0 + Duration::from_millis(5_900));
    assert!(!p.ch.is_closed());
    p.ch.handle_timeout(p.t0 + Duration::from_secs(6));
    assert_eq!(
        p.recv(),
        vec![Packet::Disconnect(Disconnect { reason_code: reason::KEEP_ALIVE_TIMEOUT, ..Default::default() })]
    );
    assert_eq!(p.closed(), CloseReason::KeepAliveTimeout);

    // 3.1.1 has no Server Keep Alive: the client's value stands.
    let p = keepalive_peer(V3_1_1, 60, config());
    assert_eq!(p.ch.keep_alive(), 60);
}

#[test]
fn keep_alive_multiplier_is_configurable() {
    let mut p = keepalive_peer(V5, 10, ChannelConfig { keepalive_multiplier: 2.0, ..Default::default() });
    assert_eq!(p.ch.poll_timeout(), Some(p.t0 + Duration::from_secs(20)));
    p.ch.handle_timeout(p.t0 + Duration::from_secs(19));
    assert!(!p.ch.is_closed());
}

#[test]
fn idle_timeout_without_connect_closes_silently() {
    let mut p = v5();
    assert_eq!(p.ch.poll_timeout(), Some(p.t0 + Duration::from_secs(15)));
    p.ch.handle_timeout(p.t0 + Duration::from_millis(14_990));
    assert!(!p.ch.is_closed());
    p.ch.handle_timeout(p.t0 + Duration::from_secs(16));
    assert!(p.raw_out().is_empty());
    assert_eq!(p.closed(), CloseReason::IdleTimeout);
}

#[test]
fn idle_timeout_stops_once_connect_arrives() {
    let mut p = v5();
    p.at_ms(1_000).connect_with(connect(V5, "c1"));
    assert_eq!(p.ch.poll_timeout(), None, "the glue owns the wait for its own answer");
    p.ch.handle_timeout(p.t0 + Duration::from_secs(60));
    assert!(!p.ch.is_closed());
    p.ch.accept_connect(p.t0 + Duration::from_secs(60), ConnAckParams::default());
    assert!(p.ch.is_connected());
}

#[test]
fn client_limits_are_reported() {
    let mut p = v5();
    let mut c = connect(V5, "c1");
    c.properties.receive_maximum = Some(7);
    p.establish_with(c, ConnAckParams::default());
    assert_eq!(p.ch.client_receive_maximum(), 7);
    assert_eq!(p.ch.version(), Some(V5));
    let mut p = v311();
    p.establish(V3_1_1);
    assert_eq!(p.ch.client_receive_maximum(), 65535);
    assert_eq!(p.ch.version(), Some(V3_1_1));
}

#[test]
fn handle_bytes_keeps_partial_packets() {
    let mut p = v5();
    let buf = p.encode(&Packet::Connect(Box::new(connect(V5, "c1"))));
    let mut first = BytesMut::from(&buf[..buf.len() - 1]);
    p.ch.handle_bytes(p.now, &mut first);
    assert!(p.events().is_empty());
    first.extend_from_slice(&buf[buf.len() - 1..]);
    p.ch.handle_bytes(p.now, &mut first);
    assert!(first.is_empty());
    assert!(matches!(p.events().as_slice(), [Event::Connect(_)]));
}

#[test]
fn packets_beyond_the_pending_bound_stay_in_the_buffer() {
    use gw_mqtt::channel::MAX_PENDING;
    let mut p = v5();
    let mut buf = p.encode(&Packet::Connect(Box::new(connect(V5, "c1"))));
    for _ in 0..MAX_PENDING + 2 {
        buf.extend_from_slice(&p.encode(&Packet::PingReq));
    }
    p.ch.handle_bytes(p.now, &mut buf);
    assert_eq!(buf.len(), 4, "two PINGREQs left undecoded");
    p.events();
    p.ch.accept_connect(p.now, ConnAckParams::default());
    assert_eq!(p.recv().len(), 1 + MAX_PENDING);
    p.ch.handle_bytes(p.now, &mut buf);
    assert!(buf.is_empty());
    assert_eq!(p.recv(), vec![Packet::PingResp, Packet::PingResp]);
    assert!(!p.ch.is_closed());
}
