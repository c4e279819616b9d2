//! Scripted channel tests with a virtual clock and a fixed rng seed (no sockets).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gw_coap::channel::{
    Channel, ChannelConfig, CloseReason, Event, NotifyOutcome, RequestId, ResponseCode, SubscriptionKey,
};
use gw_coap::codec::{decode, encode, option, BlockValue, Code, Message, MessageType};

const CON: MessageType = MessageType::Confirmable;
const NON: MessageType = MessageType::NonConfirmable;

struct T {
    ch: Channel,
    now: Instant,
}

fn req(mtype: MessageType, code: Code, mid: u16, token: &[u8], path: &str, query: &[&str]) -> Message {
    let mut m = Message::new(mtype, code, mid, Bytes::copy_from_slice(token));
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        m.add_option(option::URI_PATH, Bytes::copy_from_slice(seg.as_bytes()));
    }
    for q in query {
        m.add_option(option::URI_QUERY, Bytes::copy_from_slice(q.as_bytes()));
    }
    m
}

impl T {
    fn new(config: ChannelConfig) -> Self {
        let now = Instant::now();
        Self { ch: Channel::new(Arc::new(config), now, 7), now }
    }
    fn send(&mut self, m: &Message) {
        self.ch.handle_datagram(self.now, &encode(m).unwrap());
    }
    fn out(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.ch.poll_transmit()).map(|b| decode(&b).unwrap()).collect()
    }
    fn one(&mut self) -> Message {
        let mut v = self.out();
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }
    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ch.poll_event()).collect()
    }
    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.ch.handle_timeout(self.now);
    }
    fn respond(&mut self, r: RequestId, code: ResponseCode) {
        self.ch.respond(self.now, r, code, Bytes::new());
    }
    /// Subscribes `topic` with token `tok` and accepts it; returns the key.
    fn subscribe(&mut self, topic: &str, tok: &[u8], mid: u16) -> SubscriptionKey {
        let mut m = req(CON, Code::GET, mid, tok, &format!("ps/{topic}"), &[]);
        m.set_uint_option(option::OBSERVE, 0);
        self.send(&m);
        let Some(Event::Subscribe { request, subscription, .. }) = self.events().pop() else { panic!() };
        self.respond(request, ResponseCode::Content);
        let ack = self.one();
        assert_eq!((ack.mtype, ack.code), (MessageType::Acknowledgement, Code::CONTENT));
        subscription
    }
}

fn answer_code(t: &mut T, m: &Message) -> Message {
    t.send(m);
    t.one()
}

#[test]
fn publish_con_gets_piggybacked_changed() {
    let mut t = T::new(ChannelConfig::default());
    let mut m = req(CON, Code::POST, 100, b"tk", "ps/coap/a%2Fb", &["c=dev1", "q=2", "r=true", "expiry=60"]);
    m.payload = Bytes::from_static(b"hello");
    t.send(&m);
    let ev = t.events();
    let [Event::Publish { request, topic, payload, qos, retain, expiry, client_id, .. }] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(topic, "coap/a/b");
    assert_eq!(payload.as_ref(), b"hello");
    assert_eq!((*qos, *retain, *expiry), (2, true, Some(60)));
    assert_eq!(client_id.as_deref(), Some("dev1"));
    t.respond(*request, ResponseCode::Changed);
    let ack = t.one();
    assert_eq!(
        (ack.mtype, ack.code, ack.message_id, ack.token.as_ref()),
        (MessageType::Acknowledgement, Code::CHANGED, 100, &b"tk"[..])
    );
}

#[test]
fn publish_qos_rule_and_retain_literal() {
    let mut t = T::new(ChannelConfig::default());
    t.send(&req(CON, Code::PUT, 1, b"a", "ps/x", &["retain=1"]));
    let Some(Event::Publish { qos, retain, client_id, .. }) = t.events().pop() else { panic!() };
    assert_eq!((qos, retain, client_id), (1, false, None), "CON → QoS 1 under `coap`; retain only for \"true\"");
    t.send(&req(NON, Code::POST, 2, b"b", "ps/x", &[]));
    let Some(Event::Publish { qos, .. }) = t.events().pop() else { panic!() };
    assert_eq!(qos, 0);
    t.send(&req(CON, Code::POST, 3, b"c", "ps/x", &["qos=3"]));
    assert_eq!(t.one().code, Code::BAD_REQUEST);
}

#[test]
fn publish_non_gets_non_response_and_duplicate_is_ignored() {
    let mut t = T::new(ChannelConfig::default());
    let m = req(NON, Code::POST, 5, b"n", "ps/t", &[]);
    t.send(&m);
    let Some(Event::Publish { request, .. }) = t.events().pop() else { panic!() };
    t.respond(request, ResponseCode::Changed);
    let r = t.one();
    assert_eq!((r.mtype, r.code, r.token.as_ref()), (NON, Code::CHANGED, &b"n"[..]));
    assert_ne!(r.message_id, 5);
    t.send(&m);
    assert!(t.events().is_empty());
    assert!(t.out().is_empty());
}

#[test]
fn duplicate_con_gets_the_cached_ack_and_no_event() {
    let mut t = T::new(ChannelConfig::default());
    let m = req(CON, Code::POST, 9, b"d", "ps/t", &[]);
    t.send(&m);
    let Some(Event::Publish { request, .. }) = t.events().pop() else { panic!() };
    t.respond(request, ResponseCode::Changed);
    let first = t.one();
    t.now += Duration::from_secs(200);
    t.send(&m);
    assert!(t.events().is_empty());
    assert_eq!(t.one(), first);
    // After EXCHANGE_LIFETIME the Message ID is forgotten: a new request.
    t.advance(Duration::from_secs(48));
    t.send(&m);
    assert_eq!(t.events().len(), 1);
}

#[test]
fn subscribe_then_non_and_con_notifications_with_increasing_observe() {
    let mut t = T::new(ChannelConfig::default());
    let mut m = req(CON, Code::GET, 1, b"ob", "ps/sensors/+", &["c=d", "q=1", "nl=1", "rh=0"]);
    m.set_uint_option(option::OBSERVE, 0);
    t.send(&m);
    let ev = t.events();
    let [Event::Subscribe { request, subscription, filter, qos, no_local, retain_handling, client_id, .. }] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!((filter.as_str(), *qos, *no_local, *retain_handling), ("sensors/+", 1, true, 0));
    assert_eq!(client_id.as_deref(), Some("d"));
    let key = *subscription;
    assert_eq!(t.ch.notify(t.now, key, Bytes::new(), false), Err(gw_coap::channel::NotifyError::UnknownSubscription));
    t.respond(*request, ResponseCode::Content);
    let ack = t.one();
    let seq0 = ack.uint_option(option::OBSERVE).unwrap().unwrap();
    assert_eq!((ack.code, ack.token.as_ref()), (Code::CONTENT, &b"ob"[..]));

    assert_eq!(t.ch.notify(t.now, key, Bytes::from_static(b"1"), false), Ok(NotifyOutcome::default()));
    let n1 = t.one();
    assert_eq!(
        (n1.mtype, n1.code, n1.token.as_ref(), n1.payload.as_ref()),
        (NON, Code::CONTENT, &b"ob"[..], &b"1"[..])
    );
    assert!(n1.option(option::CONTENT_FORMAT).is_none());
    t.ch.notify(t.now, key, Bytes::from_static(b"2"), true).unwrap();
    let n2 = t.one();
    assert_eq!(n2.mtype, CON);
    let s1 = n1.uint_option(option::OBSERVE).unwrap().unwrap();
    let s2 = n2.uint_option(option::OBSERVE).unwrap().unwrap();
    assert!(seq0 < s1 && s1 < s2);
    t.send(&Message::empty_ack(n2.message_id));
    assert!(t.events().is_empty());
    t.advance(Duration::from_secs(10));
    assert!(t.out().is_empty(), "ACKed: no retransmission");
}

#[test]
fn con_notification_backs_off_then_cancels_after_max_retransmit() {
    let mut t = T::new(ChannelConfig::default());
    let key = t.subscribe("a", b"x", 1);
    t.ch.notify(t.now, key, Bytes::from_static(b"p"), true).unwrap();
    let first = t.one();
    let start = t.now;
    let mut sent_at = vec![];
    let mut intervals = vec![];
    let mut last = start;
    for _ in 0..4 {
        let at = t.ch.poll_timeout().unwrap();
        assert!(at > last);
        t.now = at;
        t.ch.handle_timeout(at);
        let again = t.one();
        assert_eq!(again, first, "same message, same Message ID");
        intervals.push(at - last);
        sent_at.push(at);
        last = at;
    }
    let t0 = intervals[0];
    assert!(t0 >= Duration::from_secs(2) && t0 < Duration::from_secs(3), "{t0:?}");
    for w in intervals.windows(2) {
        let ratio = w[1].as_secs_f64() / w[0].as_secs_f64();
        assert!((ratio - 2.0).abs() < 1e-6, "doubling: {intervals:?}");
    }
    assert!(t.events().is_empty());
    let at = t.ch.poll_timeout().unwrap();
    assert!((at - last).as_secs_f64() - 16.0 * t0.as_secs_f64() < 1e-6);
    t.advance(at - t.now);
    assert_eq!(t.events(), vec![Event::ObserveCancelled { subscription: key }]);
    assert!(t.out().is_empty());
    assert!(t.ch.notify(t.now, key, Bytes::new(), true).is_err());
}

#[test]
fn rst_to_a_notification_cancels_the_relation() {
    let mut t = T::new(ChannelConfig::default());
    let key = t.subscribe("a", b"x", 1);
    t.ch.notify(t.now, key, Bytes::from_static(b"p"), false).unwrap();
    let n = t.one();
    t.send(&Message::reset(n.message_id));
    assert_eq!(t.events(), vec![Event::ObserveCancelled { subscription: key }]);
    // CON too.
    let key = t.subscribe("b", b"y", 2);
    t.ch.notify(t.now, key, Bytes::from_static(b"p"), true).unwrap();
    let n = t.one();
    t.send(&Message::reset(n.message_id));
    assert_eq!(t.events(), vec![Event::ObserveCancelled { subscription: key }]);
}

#[test]
fn con_notifications_queue_fifo_and_drop_oldest() {
    let mut t = T::new(ChannelConfig { max_observe_queue: 2, ..ChannelConfig::default() });
    let key = t.subscribe("a", b"x", 1);
    assert!(!t.ch.notify(t.now, key, Bytes::from_static(b"1"), true).unwrap().queued);
    let n1 = t.one();
    assert_eq!(t.ch.notify(t.now, key, Bytes::from_static(b"2"), true), Ok(NotifyOutcome { queued: true, dropped: 0 }));
    assert_eq!(t.ch.notify(t.now, key, Bytes::from_static(b"3"), true), Ok(NotifyOutcome { queued: true, dropped: 0 }));
    assert_eq!(t.ch.notify(t.now, key, Bytes::from_static(b"4"), true), Ok(NotifyOutcome { queued: true, dropped: 1 }));
    assert!(t.out().is_empty(), "only one CON notification in flight");
    t.send(&Message::empty_ack(n1.message_id));
    let n3 = t.one();
    assert_eq!(n3.payload.as_ref(), b"3");
    t.send(&Message::empty_ack(n3.message_id));
    assert_eq!(t.one().payload.as_ref(), b"4");
}

#[test]
fn unsubscribe_with_observe_1() {
    let mut t = T::new(ChannelConfig::default());
    let key = t.subscribe("a/#", b"x", 1);
    let mut m = req(CON, Code::GET, 2, b"x", "ps/a/#", &[]);
    m.set_uint_option(option::OBSERVE, 1);
    t.send(&m);
    let ev = t.events();
    let [Event::Unsubscribe { request, subscription }] = &ev[..] else { panic!("{ev:?}") };
    assert_eq!(*subscription, key);
    t.respond(*request, ResponseCode::EmqxNoContent);
    assert_eq!(t.one().code, Code::new(2, 7));
    assert!(t.ch.notify(t.now, key, Bytes::new(), false).is_err());
    // Unknown filter: the channel answers 2.07 itself.
    m.message_id = 3;
    assert_eq!(answer_code(&mut t, &m).code, Code::new(2, 7));
}

#[test]
fn connection_mode_create_heartbeat_delete() {
    let mut t = T::new(ChannelConfig { connection_required: true, ..ChannelConfig::default() });
    t.send(&req(CON, Code::POST, 1, b"c", "mqtt/connection", &["clientid=dev", "username=u", "password=secret"]));
    let ev = t.events();
    let [Event::Connect { request, client_id, username, password }] = &ev[..] else { panic!("{ev:?}") };
    assert_eq!((client_id.as_str(), username.as_deref(), password.as_deref()), ("dev", Some("u"), Some("secret")));
    assert!(!format!("{:?}", ev[0]).contains("secret"), "password redacted in Debug");
    t.ch.respond_connected(t.now, *request, 12345);
    let created = t.one();
    assert_eq!((created.code, created.payload.as_ref()), (Code::CREATED, &b"12345"[..]));
    assert_eq!(t.ch.client_id(), Some("dev"));

    t.send(&req(CON, Code::PUT, 2, b"h", "mqtt/connection", &["c=dev", "t=12345"]));
    let Some(Event::Heartbeat { request }) = t.events().pop() else { panic!() };
    t.respond(request, ResponseCode::Changed);
    assert_eq!(t.one().code, Code::CHANGED);

    t.send(&req(CON, Code::POST, 3, b"p", "ps/t", &["c=dev", "t=12345"]));
    let Some(Event::Publish { client_id, request, .. }) = t.events().pop() else { panic!() };
    assert_eq!(client_id.as_deref(), Some("dev"));
    t.respond(request, ResponseCode::Changed);
    t.out();

    t.send(&req(CON, Code::DELETE, 4, b"d", "mqtt/connection", &["c=dev", "t=12345"]));
    let Some(Event::Disconnect { request }) = t.events().pop() else { panic!() };
    t.respond(request, ResponseCode::Deleted);
    assert_eq!(t.one().code, Code::DELETED);
    assert_eq!(t.events(), vec![Event::Closed(CloseReason::Disconnected)]);
    assert!(t.ch.is_closed());
    assert_eq!(t.ch.poll_timeout(), None);
}

#[test]
fn connection_mode_token_errors() {
    let mut t = T::new(ChannelConfig { connection_required: true, ..ChannelConfig::default() });
    let r = answer_code(&mut t, &req(CON, Code::POST, 1, b"c", "mqtt/connection", &[]));
    assert_eq!((r.code, r.payload.as_ref()), (Code::BAD_REQUEST, &b"Login Failed: clientid is required"[..]));
    t.send(&req(CON, Code::POST, 2, b"c", "mqtt/connection", &["c=dev"]));
    let Some(Event::Connect { request, .. }) = t.events().pop() else { panic!() };
    t.ch.respond(t.now, request, ResponseCode::Created, Bytes::from_static(b"77"));
    t.out();
    let r = answer_code(&mut t, &req(CON, Code::POST, 3, b"p", "ps/t", &["c=dev"]));
    assert_eq!((r.code, r.payload.as_ref()), (Code::BAD_REQUEST, &b"Missing token or clientid in connection mode"[..]));
    let r = answer_code(&mut t, &req(CON, Code::POST, 4, b"p", "ps/t", &["c=dev", "t=78"]));
    assert_eq!(
        (r.code, r.payload.as_ref()),
        (Code::UNAUTHORIZED, &b"Invalid token or clientid in connection mode"[..])
    );
    let r = answer_code(&mut t, &req(CON, Code::PUT, 5, b"p", "mqtt/connection", &["c=other", "t=77"]));
    assert_eq!(r.code, Code::UNAUTHORIZED);
    let r = answer_code(&mut t, &req(CON, Code::POST, 6, b"c", "mqtt/connection", &["c=dev"]));
    assert_eq!(r.code, Code::BAD_REQUEST, "already connected");
    assert!(t.events().is_empty());
}

#[test]
fn heartbeat_timeout_closes_after_one_and_a_half_heartbeats() {
    let mut t = T::new(ChannelConfig {
        connection_required: true,
        heartbeat: Duration::from_secs(20),
        ..ChannelConfig::default()
    });
    t.send(&req(CON, Code::POST, 1, b"c", "mqtt/connection", &["c=dev"]));
    let Some(Event::Connect { request, .. }) = t.events().pop() else { panic!() };
    t.ch.respond_connected(t.now, request, 1);
    t.out();
    t.advance(Duration::from_secs(29));
    assert!(t.events().is_empty());
    t.send(&req(NON, Code::PUT, 2, b"h", "mqtt/connection", &["c=dev", "t=1"]));
    t.events();
    t.advance(Duration::from_secs(29));
    assert!(t.events().is_empty(), "traffic restarted the timer");
    t.advance(Duration::from_secs(1));
    assert_eq!(t.events(), vec![Event::Closed(CloseReason::HeartbeatTimeout)]);
}

#[test]
fn idle_timeout_without_connection_or_relations() {
    let mut t = T::new(ChannelConfig { idle_timeout: Duration::from_secs(5), ..ChannelConfig::default() });
    assert_eq!(t.ch.poll_timeout(), Some(t.now + Duration::from_secs(5)));
    t.advance(Duration::from_secs(5));
    assert_eq!(t.events(), vec![Event::Closed(CloseReason::IdleTimeout)]);
}

fn block1(mid: u16, num: u32, more: bool, szx: u8, data: &[u8]) -> Message {
    let mut m = req(CON, Code::POST, mid, b"b1", "ps/big", &[]);
    m.add_option(option::BLOCK1, BlockValue { num, more, szx }.encode());
    m.payload = Bytes::copy_from_slice(data);
    m
}

#[test]
fn block1_reassembly_with_continue() {
    let mut t = T::new(ChannelConfig::default());
    let r = answer_code(&mut t, &block1(1, 0, true, 0, &[1; 16]));
    assert_eq!(r.code, Code::CONTINUE);
    assert_eq!(
        BlockValue::decode(r.option(option::BLOCK1).unwrap()).unwrap(),
        BlockValue { num: 0, more: true, szx: 0 }
    );
    assert!(t.events().is_empty());
    assert_eq!(answer_code(&mut t, &block1(2, 1, true, 0, &[2; 16])).code, Code::CONTINUE);
    t.send(&block1(3, 2, false, 0, &[3; 5]));
    let Some(Event::Publish { request, payload, topic, .. }) = t.events().pop() else { panic!() };
    assert_eq!(topic, "big");
    assert_eq!(payload.len(), 37);
    assert_eq!(&payload[32..], &[3; 5]);
    t.respond(request, ResponseCode::Changed);
    let r = t.one();
    assert_eq!(r.code, Code::CHANGED);
    assert_eq!(
        BlockValue::decode(r.option(option::BLOCK1).unwrap()).unwrap(),
        BlockValue { num: 2, more: false, szx: 0 }
    );
}

#[test]
fn block1_out_of_order_is_incomplete() {
    let mut t = T::new(ChannelConfig::default());
    assert_eq!(answer_code(&mut t, &block1(1, 0, true, 0, &[1; 16])).code, Code::CONTINUE);
    assert_eq!(answer_code(&mut t, &block1(2, 2, true, 0, &[1; 16])).code, Code::REQUEST_ENTITY_INCOMPLETE);
    assert_eq!(answer_code(&mut t, &block1(3, 1, false, 0, &[1; 3])).code, Code::REQUEST_ENTITY_INCOMPLETE);
    assert!(t.events().is_empty());
}

#[test]
fn body_over_the_limit_is_413_with_size1() {
    let mut t = T::new(ChannelConfig { max_body_size: 20, ..ChannelConfig::default() });
    assert_eq!(answer_code(&mut t, &block1(1, 0, true, 0, &[1; 16])).code, Code::CONTINUE);
    let r = answer_code(&mut t, &block1(2, 1, true, 0, &[1; 16]));
    assert_eq!(r.code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert_eq!(r.uint_option(option::SIZE1), Ok(Some(20)));
    let mut m = req(CON, Code::POST, 3, b"x", "ps/t", &[]);
    m.payload = Bytes::from_static(&[0; 21]);
    assert_eq!(answer_code(&mut t, &m).code, Code::REQUEST_ENTITY_TOO_LARGE);
    assert!(t.events().is_empty());
}

#[test]
fn large_notification_goes_block2_and_the_rest_is_fetched() {
    let mut t = T::new(ChannelConfig { max_block_size: 64, ..ChannelConfig::default() });
    let key = t.subscribe("big", b"o", 1);
    let body: Vec<u8> = (0..150u8).collect();
    t.ch.notify(t.now, key, Bytes::from(body.clone()), false).unwrap();
    let n = t.one();
    assert_eq!(
        BlockValue::decode(n.option(option::BLOCK2).unwrap()).unwrap(),
        BlockValue { num: 0, more: true, szx: 2 }
    );
    assert_eq!(n.uint_option(option::SIZE2), Ok(Some(150)));
    let mut got = n.payload.to_vec();
    for num in 1..3 {
        let mut m = req(CON, Code::GET, 10 + num as u16, b"f", "ps/big", &[]);
        m.add_option(option::BLOCK2, BlockValue { num, more: false, szx: 2 }.encode());
        let r = answer_code(&mut t, &m);
        assert_eq!(r.code, Code::CONTENT);
        let b = BlockValue::decode(r.option(option::BLOCK2).unwrap()).unwrap();
        assert_eq!((b.num, b.more), (num, num < 2));
        got.extend_from_slice(&r.payload);
    }
    assert_eq!(got, body);
    assert!(t.events().is_empty());
}

#[test]
fn error_codes() {
    let mut t = T::new(ChannelConfig::default());
    assert_eq!(answer_code(&mut t, &req(CON, Code::GET, 1, b"", "other/x", &[])).code, Code::NOT_FOUND);
    assert_eq!(answer_code(&mut t, &req(CON, Code::DELETE, 2, b"", "ps/x", &[])).code, Code::METHOD_NOT_ALLOWED);
    assert_eq!(
        answer_code(&mut t, &req(CON, Code::GET, 3, b"", "mqtt/connection", &[])).code,
        Code::METHOD_NOT_ALLOWED
    );
    let mut m = req(CON, Code::POST, 4, b"", "ps/x", &[]);
    m.add_option(option::IF_MATCH, Bytes::new());
    assert_eq!(answer_code(&mut t, &m).code, Code::BAD_OPTION);
    assert_eq!(answer_code(&mut t, &req(CON, Code::POST, 5, b"", "ps", &[])).code, Code::BAD_REQUEST);
    let mut m = req(CON, Code::GET, 6, b"", "ps/x", &[]);
    m.set_uint_option(option::OBSERVE, 0);
    let r = answer_code(&mut t, &m);
    assert_eq!((r.code, r.payload.as_ref()), (Code::BAD_REQUEST, &b"observe without token"[..]));
    let r = answer_code(&mut t, &req(CON, Code::GET, 7, b"t", "ps/x", &[]));
    assert_eq!((r.code, r.payload.as_ref()), (Code::BAD_REQUEST, &b"invalid observe value"[..]));
    // Block options are unrecognized critical options when block-wise is off.
    let mut t = T::new(ChannelConfig { blockwise: false, ..ChannelConfig::default() });
    assert_eq!(answer_code(&mut t, &block1(8, 0, true, 0, &[0; 16])).code, Code::BAD_OPTION);
    assert!(t.events().is_empty());
}

#[test]
fn malformed_con_gets_rst_and_the_channel_keeps_working() {
    let mut t = T::new(ChannelConfig::default());
    t.ch.handle_datagram(t.now, &[0x49, 0x01, 0x00, 0x07, 1]); // TKL 9
    let rst = t.one();
    assert_eq!((rst.mtype, rst.message_id), (MessageType::Reset, 7));
    assert!(matches!(&t.events()[..], [Event::Malformed { .. }]));
    t.ch.handle_datagram(t.now, &[0x50, 0x02, 0x00, 0x08, 0xff]); // NON, marker without payload
    assert!(t.out().is_empty());
    assert!(matches!(&t.events()[..], [Event::Malformed { .. }]));
    t.ch.handle_datagram(t.now, &[0x40, 0x00, 0x00, 0x09]); // CoAP ping → RST
    assert_eq!(t.one().mtype, MessageType::Reset);
    t.send(&req(CON, Code::POST, 10, b"k", "ps/t", &[]));
    assert!(matches!(&t.events()[..], [Event::Publish { .. }]));
}

#[test]
fn deferred_response_is_empty_ack_then_separate_con() {
    let mut t = T::new(ChannelConfig::default());
    let m = req(CON, Code::POST, 20, b"sep", "ps/t", &[]);
    t.send(&m);
    let Some(Event::Publish { request, .. }) = t.events().pop() else { panic!() };
    t.ch.defer(request);
    let ack = t.one();
    assert_eq!((ack.mtype, ack.code, ack.message_id), (MessageType::Acknowledgement, Code::EMPTY, 20));
    t.send(&m);
    assert_eq!(t.one(), ack, "a retransmitted request gets the empty ACK again");
    t.advance(Duration::from_secs(1));
    t.respond(request, ResponseCode::Changed);
    let r = t.one();
    assert_eq!((r.mtype, r.code, r.token.as_ref()), (CON, Code::CHANGED, &b"sep"[..]));
    t.send(&Message::empty_ack(r.message_id));
    t.advance(Duration::from_secs(10));
    assert!(t.out().is_empty());
}
