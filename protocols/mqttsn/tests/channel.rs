//! Scripted channel tests with a virtual clock: every datagram in and out is a `Message`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gw_mqttsn::channel::*;
use gw_mqttsn::codec::{
    self, return_code, Connect, Message, Publish, QoS, Subscribe, TopicIdType, TopicRef, WillTopic,
};

fn config() -> ChannelConfig {
    ChannelConfig {
        predefined: vec![(1, "/predefined/topic/name/hello".into()), (2, "/predefined/topic/name/nice".into())],
        ..ChannelConfig::default()
    }
}

struct T {
    ch: Channel,
    now: Instant,
}

impl T {
    fn new(cfg: ChannelConfig) -> Self {
        let now = Instant::now();
        Self { ch: Channel::new(Arc::new(cfg), now), now }
    }

    fn connected(keepalive: u16) -> Self {
        let mut t = Self::new(config());
        t.send(connect(false, keepalive));
        assert!(matches!(t.event(), Some(Event::Connect { .. })));
        t.ch.accept_connect(t.now);
        assert_eq!(t.out(), vec![Message::ConnAck { return_code: 0 }]);
        t
    }

    fn send(&mut self, m: Message) {
        let bytes = codec::to_bytes(&m).unwrap();
        self.ch.handle_datagram(self.now, &bytes);
    }

    fn out(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.ch.poll_transmit()).map(|b| codec::decode(&b).unwrap()).collect()
    }

    fn event(&mut self) -> Option<Event> {
        self.ch.poll_event()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ch.poll_event()).collect()
    }

    fn advance(&mut self, secs: f64) {
        self.now += Duration::from_secs_f64(secs);
        self.ch.handle_timeout(self.now);
    }
}

fn connect(will: bool, duration: u16) -> Message {
    Message::Connect(Connect { will, clean_session: true, duration, client_id: "c1".into() })
}

fn publish(qos: QoS, kind: TopicIdType, topic_id: u16, msg_id: u16, data: &'static [u8]) -> Message {
    Message::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic_id_type: kind,
        topic_id,
        msg_id,
        data: Bytes::from_static(data),
    })
}

fn out_publish(m: &Message) -> &Publish {
    match m {
        Message::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

#[test]
fn connect_without_will() {
    let mut t = T::new(config());
    t.send(connect(false, 30));
    assert_eq!(
        t.event(),
        Some(Event::Connect { client_id: "c1".into(), clean_session: true, keepalive: 30, will: None })
    );
    assert!(t.out().is_empty(), "no CONNACK before the glue accepts");
    t.ch.accept_connect(t.now);
    assert_eq!(t.out(), vec![Message::ConnAck { return_code: 0 }]);
    assert!(t.ch.is_connected() && t.ch.is_active());
    assert_eq!(t.ch.client_id(), Some("c1"));
}

#[test]
fn connect_with_will_flow() {
    let mut t = T::new(config());
    t.send(connect(true, 30));
    assert_eq!(t.out(), vec![Message::WillTopicReq]);
    assert_eq!(t.event(), None);
    t.send(Message::WillTopic(Some(WillTopic { qos: QoS::AtLeastOnce, retain: true, topic: "will/t".into() })));
    assert_eq!(t.out(), vec![Message::WillMsgReq]);
    t.send(Message::WillMsg { payload: Bytes::from_static(b"gone") });
    let will = Will { topic: "will/t".into(), payload: Bytes::from_static(b"gone"), qos: 1, retain: true };
    assert_eq!(
        t.event(),
        Some(Event::Connect { client_id: "c1".into(), clean_session: true, keepalive: 30, will: Some(will) })
    );
    t.ch.accept_connect(t.now);
    assert_eq!(t.out(), vec![Message::ConnAck { return_code: 0 }]);
    // WILLMSGUPD with a will → 0; after an empty WILLTOPICUPD → 0x03.
    t.send(Message::WillMsgUpd { payload: Bytes::from_static(b"x") });
    assert_eq!(t.out(), vec![Message::WillMsgResp { return_code: 0 }]);
    assert_eq!(t.event(), Some(Event::WillMessageUpdate { payload: Bytes::from_static(b"x") }));
    t.send(Message::WillTopicUpd(None));
    assert_eq!(t.out(), vec![Message::WillTopicResp { return_code: 0 }]);
    assert_eq!(t.event(), Some(Event::WillTopicUpdate { will: None }));
    t.send(Message::WillMsgUpd { payload: Bytes::from_static(b"y") });
    assert_eq!(t.out(), vec![Message::WillMsgResp { return_code: return_code::NOT_SUPPORTED }]);
}

#[test]
fn empty_will_topic_means_no_will_and_will_flow_times_out() {
    let mut t = T::new(config());
    t.send(connect(true, 30));
    t.out();
    t.send(Message::WillTopic(None));
    assert!(matches!(t.event(), Some(Event::Connect { will: None, .. })));

    let mut t = T::new(config());
    t.send(connect(true, 30));
    t.advance(31.0);
    assert_eq!(t.event(), Some(Event::Closed(CloseReason::IdleTimeout)));
}

#[test]
fn reject_connect_and_idle_timeout() {
    let mut t = T::new(config());
    t.send(connect(false, 30));
    t.event();
    t.ch.reject_connect(return_code::NOT_AUTHORIZED);
    assert_eq!(t.out(), vec![Message::ConnAck { return_code: 0x80 }]);
    assert_eq!(t.event(), Some(Event::Closed(CloseReason::Rejected(0x80))));

    let mut t = T::new(config());
    assert_eq!(t.ch.poll_timeout(), Some(t.now + Duration::from_secs(30)));
    t.advance(30.0);
    assert_eq!(t.event(), Some(Event::Closed(CloseReason::IdleTimeout)));
}

#[test]
fn searchgw_and_gwinfo() {
    let mut t = T::new(ChannelConfig { gateway_id: 9, ..config() });
    t.send(Message::SearchGw { radius: 0 });
    assert_eq!(t.out(), vec![Message::GwInfo { gateway_id: 9, gateway_address: Bytes::new() }]);
    assert_eq!(gwinfo_for(&ChannelConfig { gateway_id: 9, ..config() }), Bytes::from_static(&[0x03, 0x02, 0x09]));
}

#[test]
fn client_register_then_publish_and_wildcard_refused() {
    let mut t = T::connected(0);
    t.send(Message::Register { topic_id: 0, msg_id: 1, topic_name: "a/b".into() });
    assert_eq!(t.out(), vec![Message::RegAck { topic_id: 1025, msg_id: 1, return_code: 0 }]);
    // Retransmission: same answer.
    t.send(Message::Register { topic_id: 0, msg_id: 1, topic_name: "a/b".into() });
    assert_eq!(t.out(), vec![Message::RegAck { topic_id: 1025, msg_id: 1, return_code: 0 }]);
    t.send(Message::Register { topic_id: 0, msg_id: 2, topic_name: "a/+".into() });
    assert_eq!(t.out(), vec![Message::RegAck { topic_id: 0, msg_id: 2, return_code: return_code::NOT_SUPPORTED }]);
    t.send(publish(QoS::AtLeastOnce, TopicIdType::Normal, 1025, 7, b"v"));
    assert_eq!(
        t.event(),
        Some(Event::Publish {
            topic: "a/b".into(),
            topic_id: 1025,
            payload: Bytes::from_static(b"v"),
            qos: 1,
            retain: false,
            dup: false,
            msg_id: 7
        })
    );
    t.ch.ack_publish(7, 1025, 0);
    assert_eq!(t.out(), vec![Message::PubAck { topic_id: 1025, msg_id: 7, return_code: 0 }]);
    // Unknown topic id → PUBACK 0x02 from the channel, no event.
    t.send(publish(QoS::AtMostOnce, TopicIdType::Normal, 4000, 0, b"v"));
    assert_eq!(t.out(), vec![Message::PubAck { topic_id: 4000, msg_id: 0, return_code: 2 }]);
    assert_eq!(t.event(), None);
}

#[test]
fn predefined_and_short_ids_in_both_directions() {
    let mut t = T::connected(0);
    t.send(publish(QoS::AtMostOnce, TopicIdType::Predefined, 2, 0, b"p"));
    assert!(matches!(t.event(), Some(Event::Publish { topic, .. }) if topic == "/predefined/topic/name/nice"));
    t.send(publish(QoS::AtMostOnce, TopicIdType::Short, u16::from_be_bytes(*b"ab"), 0, b"s"));
    assert!(matches!(t.event(), Some(Event::Publish { topic, .. }) if topic == "ab"));
    t.send(publish(QoS::AtMostOnce, TopicIdType::Predefined, 99, 0, b"p"));
    assert_eq!(t.out(), vec![Message::PubAck { topic_id: 99, msg_id: 0, return_code: 2 }]);
    // QoS -1 inside a connection counts as QoS 0.
    t.send(publish(QoS::MinusOne, TopicIdType::Predefined, 1, 0, b"m"));
    assert!(matches!(t.event(), Some(Event::Publish { qos: 0, .. })));

    t.ch.deliver(t.now, "/predefined/topic/name/hello", Bytes::from_static(b"1"), 0, false, None).unwrap();
    t.ch.deliver(t.now, "xy", Bytes::from_static(b"2"), 0, false, None).unwrap();
    let out = t.out();
    let (p1, p2) = (out_publish(&out[0]), out_publish(&out[1]));
    assert_eq!((p1.topic_id_type, p1.topic_id), (TopicIdType::Predefined, 1));
    assert_eq!((p2.topic_id_type, p2.topic_id), (TopicIdType::Short, u16::from_be_bytes(*b"xy")));
}

#[test]
fn qos_minus_one_without_connection() {
    let data = codec::to_bytes(&publish(QoS::MinusOne, TopicIdType::Predefined, 1, 0, b"m")).unwrap();
    assert_eq!(
        decode_qos_minus_one(&config(), &data),
        Some(MinusOne::Publish {
            topic: "/predefined/topic/name/hello".into(),
            payload: Bytes::from_static(b"m"),
            retain: false
        })
    );
    let short =
        codec::to_bytes(&publish(QoS::MinusOne, TopicIdType::Short, u16::from_be_bytes(*b"ab"), 0, b"")).unwrap();
    assert!(matches!(decode_qos_minus_one(&config(), &short), Some(MinusOne::Publish { topic, .. }) if topic == "ab"));
    let normal = codec::to_bytes(&publish(QoS::MinusOne, TopicIdType::Normal, 1025, 0, b"")).unwrap();
    assert_eq!(decode_qos_minus_one(&config(), &normal), None);
    let qos0 = codec::to_bytes(&publish(QoS::AtMostOnce, TopicIdType::Predefined, 1, 0, b"")).unwrap();
    assert_eq!(decode_qos_minus_one(&config(), &qos0), None);
    let off = ChannelConfig { enable_qos3: false, ..config() };
    let Some(MinusOne::Refused(ack)) = decode_qos_minus_one(&off, &data) else { panic!("expected a refusal") };
    assert_eq!(codec::decode(&ack), Ok(Message::PubAck { topic_id: 1, msg_id: 0, return_code: 3 }));
}

#[test]
fn inbound_qos2() {
    let mut t = T::connected(0);
    t.send(publish(QoS::ExactlyOnce, TopicIdType::Short, u16::from_be_bytes(*b"ab"), 5, b"x"));
    assert!(matches!(t.event(), Some(Event::Publish { qos: 2, msg_id: 5, .. })));
    t.ch.ack_publish(5, u16::from_be_bytes(*b"ab"), 0);
    assert_eq!(t.out(), vec![Message::PubRec { msg_id: 5 }]);
    t.send(Message::PubRel { msg_id: 5 });
    assert_eq!(t.event(), Some(Event::PubRel { msg_id: 5 }));
    t.ch.complete_release(5);
    assert_eq!(t.out(), vec![Message::PubComp { msg_id: 5 }]);
}

#[test]
fn outbound_qos1_retransmits_then_lost() {
    let mut t = T::connected(0);
    t.ch.deliver(t.now, "ab", Bytes::from_static(b"x"), 1, false, Some(11)).unwrap();
    let first = t.out();
    assert!(!out_publish(&first[0]).dup);
    for _ in 0..3 {
        assert_eq!(t.ch.poll_timeout(), Some(t.now + Duration::from_secs(10)));
        t.advance(10.0);
        let out = t.out();
        assert_eq!(out.len(), 1);
        assert!(out_publish(&out[0]).dup, "retransmission carries DUP=1");
    }
    t.advance(10.0);
    assert!(t.out().is_empty());
    assert_eq!(t.event(), Some(Event::Lost { msg_id: 11 }));
    assert_eq!(t.ch.inflight_count(), 0);
}

#[test]
fn outbound_qos1_and_qos2_acked() {
    let mut t = T::connected(0);
    t.ch.deliver(t.now, "ab", Bytes::from_static(b"x"), 1, false, Some(1)).unwrap();
    t.ch.deliver(t.now, "ab", Bytes::from_static(b"y"), 2, false, Some(2)).unwrap();
    t.ch.deliver(t.now, "ab", Bytes::from_static(b"z"), 0, false, None).unwrap();
    assert_eq!(t.out().len(), 3);
    let ab = u16::from_be_bytes(*b"ab");
    t.send(Message::PubAck { topic_id: ab, msg_id: 1, return_code: 0 });
    assert_eq!(t.event(), Some(Event::PubAck { msg_id: 1, return_code: 0 }));
    t.send(Message::PubRec { msg_id: 2 });
    assert_eq!(t.event(), Some(Event::PubRec { msg_id: 2 }));
    assert_eq!(t.out(), vec![Message::PubRel { msg_id: 2 }]);
    // PUBREL is retransmitted too.
    t.advance(10.0);
    assert_eq!(t.out(), vec![Message::PubRel { msg_id: 2 }]);
    t.send(Message::PubComp { msg_id: 2 });
    assert_eq!(t.event(), Some(Event::PubComp { msg_id: 2 }));
    assert_eq!(t.ch.inflight_count(), 0);
    assert_eq!(t.ch.deliver(t.now, "ab", Bytes::new(), 1, false, None), Err(DeliverError::MissingMsgId));
}

#[test]
fn gateway_register_before_publish_and_invalid_topic_id() {
    let mut t = T::connected(0);
    t.ch.deliver(t.now, "long/topic", Bytes::from_static(b"1"), 1, false, Some(3)).unwrap();
    t.ch.deliver(t.now, "long/topic", Bytes::from_static(b"2"), 0, false, None).unwrap();
    let out = t.out();
    let [Message::Register { topic_id, msg_id, topic_name }] = &out[..] else { panic!("{out:?}") };
    assert_eq!((*topic_id, topic_name.as_str()), (1025, "long/topic"));
    t.send(Message::RegAck { topic_id: 1025, msg_id: *msg_id, return_code: 0 });
    let out = t.out();
    assert_eq!(out.len(), 2, "queued PUBLISHes go out in order after REGACK");
    assert_eq!((out_publish(&out[0]).topic_id, &out_publish(&out[0]).data[..]), (1025, &b"1"[..]));
    assert_eq!(&out_publish(&out[1]).data[..], b"2");
    // Known now: no second REGISTER.
    t.ch.deliver(t.now, "long/topic", Bytes::new(), 0, false, None).unwrap();
    assert!(matches!(&t.out()[..], [Message::Publish(_)]));
    // PUBACK 0x02: forget the id, re-register on the next delivery.
    t.send(Message::PubAck { topic_id: 1025, msg_id: 3, return_code: 2 });
    assert_eq!(t.event(), Some(Event::PubAck { msg_id: 3, return_code: 2 }));
    t.ch.deliver(t.now, "long/topic", Bytes::new(), 0, false, None).unwrap();
    assert!(matches!(&t.out()[..], [Message::Register { .. }]));
}

#[test]
fn subscribe_wildcard_then_register_timeout() {
    let mut t = T::connected(0);
    t.send(Message::Subscribe(Subscribe {
        dup: false,
        qos: QoS::AtLeastOnce,
        msg_id: 1,
        topic: TopicRef::Name("s/#".into()),
    }));
    assert_eq!(t.event(), Some(Event::Subscribe { msg_id: 1, topic: SubscribeTopic::Name("s/#".into()), qos: 1 }));
    t.ch.ack_subscribe(1, 1, 0);
    let suback = Message::SubAck { qos: QoS::AtLeastOnce, topic_id: 0, msg_id: 1, return_code: 0 };
    assert_eq!(t.out(), vec![suback.clone()]);
    // A retransmitted SUBSCRIBE gets the same SUBACK and no second event.
    t.send(Message::Subscribe(Subscribe {
        dup: true,
        qos: QoS::AtLeastOnce,
        msg_id: 1,
        topic: TopicRef::Name("s/#".into()),
    }));
    assert_eq!(t.out(), vec![suback]);
    assert_eq!(t.event(), None);
    // A match on a concrete topic: REGISTER first; no REGACK → 3 re-sends 5 s apart, then fail.
    t.ch.deliver(t.now, "s/x", Bytes::from_static(b"1"), 1, false, Some(9)).unwrap();
    assert!(matches!(&t.out()[..], [Message::Register { topic_name, .. }] if topic_name == "s/x"));
    for _ in 0..3 {
        t.advance(5.0);
        assert!(matches!(&t.out()[..], [Message::Register { .. }]));
    }
    t.advance(5.0);
    assert!(t.out().is_empty());
    assert_eq!(t.event(), Some(Event::DeliveryFailed { msg_id: Some(9), topic: "s/x".into() }));
}

#[test]
fn subscribe_ids_by_kind() {
    let mut t = T::connected(0);
    let sub = |msg_id, topic| Message::Subscribe(Subscribe { dup: false, qos: QoS::AtMostOnce, msg_id, topic });
    t.send(sub(1, TopicRef::Name("n/1".into())));
    t.send(sub(2, TopicRef::Predefined(1)));
    t.send(sub(3, TopicRef::Short(*b"ab")));
    t.send(sub(4, TopicRef::Predefined(77)));
    assert_eq!(t.events().len(), 3);
    t.ch.ack_subscribe(1, 0, 0);
    t.ch.ack_subscribe(2, 0, 0);
    t.ch.ack_subscribe(3, 0, 0);
    let ids: Vec<(u16, u16, u8)> = t
        .out()
        .into_iter()
        .map(|m| match m {
            Message::SubAck { topic_id, msg_id, return_code, .. } => (msg_id, topic_id, return_code),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, vec![(4, 0, 2), (1, 1025, 0), (2, 1, 0), (3, 0, 0)]);
    // The SUBACK id is known to the client: deliveries use it without REGISTER.
    assert_eq!(t.ch.topic_id_of("n/1"), Some(1025));
    t.send(Message::Unsubscribe { msg_id: 5, topic: TopicRef::Name("n/1".into()) });
    assert_eq!(t.event(), Some(Event::Unsubscribe { msg_id: 5, topic: SubscribeTopic::Name("n/1".into()) }));
    t.ch.ack_unsubscribe(5);
    assert_eq!(t.out(), vec![Message::UnsubAck { msg_id: 5 }]);
}

#[test]
fn keepalive_one_and_a_half_times() {
    let mut t = T::connected(10);
    t.advance(14.0);
    t.send(Message::PingReq { client_id: None });
    assert_eq!(t.out(), vec![Message::PingResp]);
    t.advance(14.9);
    assert_eq!(t.event(), None);
    t.advance(0.2);
    assert_eq!(t.event(), Some(Event::Closed(CloseReason::KeepaliveTimeout)));
}

#[test]
fn sleep_wake_buffered_then_pingresp() {
    let mut t = T::connected(10);
    t.send(Message::Disconnect { duration: Some(60) });
    assert_eq!(t.out(), vec![Message::Disconnect { duration: None }]);
    assert_eq!(t.event(), Some(Event::Sleep { duration: 60 }));
    assert!(t.ch.is_asleep());
    assert_eq!(t.ch.deliver(t.now, "ab", Bytes::new(), 0, false, None), Err(DeliverError::Asleep));
    // Keep alive paused while asleep.
    t.advance(40.0);
    assert_eq!(t.event(), None);
    t.send(Message::PingReq { client_id: Some("other".into()) });
    assert!(matches!(t.event(), Some(Event::Malformed { .. })));
    t.send(Message::PingReq { client_id: Some("c1".into()) });
    assert_eq!(t.event(), Some(Event::Wake));
    assert!(t.ch.is_awake());
    t.ch.deliver(t.now, "ab", Bytes::from_static(b"1"), 0, false, None).unwrap();
    t.ch.deliver(t.now, "long/one", Bytes::from_static(b"2"), 0, false, None).unwrap();
    t.ch.finish_wake();
    // PINGRESP waits for the REGACK the second delivery needs.
    let out = t.out();
    assert!(matches!(&out[..], [Message::Publish(_), Message::Register { .. }]), "{out:?}");
    let Message::Register { topic_id, msg_id, .. } = out[1] else { unreachable!() };
    t.send(Message::RegAck { topic_id, msg_id, return_code: 0 });
    let out = t.out();
    assert!(matches!(&out[..], [Message::Publish(_), Message::PingResp]), "{out:?}");
    assert!(t.ch.is_asleep());
    // CONNECT while asleep → active again after accept.
    t.send(connect(false, 10));
    assert!(matches!(t.event(), Some(Event::Connect { .. })));
    t.ch.accept_connect(t.now);
    assert!(t.ch.is_active());
}

#[test]
fn sleep_expiry_closes() {
    let mut t = T::connected(10);
    t.send(Message::Disconnect { duration: Some(20) });
    t.out();
    t.event();
    assert_eq!(t.ch.poll_timeout(), Some(t.now + Duration::from_secs(20)));
    t.advance(20.0);
    assert_eq!(t.event(), Some(Event::Closed(CloseReason::SleepTimeout)));
}

#[test]
fn disconnect_both_ways() {
    let mut t = T::connected(10);
    t.send(Message::Disconnect { duration: None });
    assert_eq!(t.out(), vec![Message::Disconnect { duration: None }]);
    assert_eq!(t.event(), Some(Event::Closed(CloseReason::ClientDisconnect)));

    let mut t = T::connected(10);
    t.ch.disconnect();
    assert_eq!(t.out(), vec![Message::Disconnect { duration: None }]);
    assert_eq!(t.event(), Some(Event::Closed(CloseReason::ServerDisconnect)));
    assert_eq!(t.ch.deliver(t.now, "ab", Bytes::new(), 0, false, None), Err(DeliverError::NotConnected));
}

#[test]
fn malformed_datagram_is_dropped_and_channel_keeps_working() {
    let mut t = T::connected(10);
    t.ch.handle_datagram(t.now, &[0x05, 0x16]);
    assert!(matches!(t.event(), Some(Event::Malformed { reason }) if reason.contains("length field")));
    t.ch.handle_datagram(t.now, &[0x02, 0x03]);
    assert!(matches!(t.event(), Some(Event::Malformed { .. })));
    t.send(Message::ConnAck { return_code: 0 });
    assert!(matches!(t.event(), Some(Event::Malformed { .. })));
    t.send(Message::PingReq { client_id: None });
    assert_eq!(t.out(), vec![Message::PingResp]);
    assert!(t.ch.is_active());
}

#[test]
fn encapsulated_message_is_unwrapped() {
    let mut t = T::connected(10);
    t.ch.handle_datagram(t.now, &[0x03, 0xFE, 0x00, 0x02, 0x16]);
    assert_eq!(t.out(), vec![Message::PingResp]);
}
