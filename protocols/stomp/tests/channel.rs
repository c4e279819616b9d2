//! Scripted tests of the sans-IO channel with a virtual clock: the client side is raw
//! STOMP text, the server side is decoded with the crate's own decoder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gw_stomp::channel::*;
use gw_stomp::codec::{Command, Decoded, Decoder, Frame, FrameLimits, Version};

struct Peer {
    ch: Channel,
    now: Instant,
    rx: Decoder,
    wire: BytesMut,
}

fn config() -> ChannelConfig {
    ChannelConfig {
        server_name: "gateway/test".to_owned(),
        heartbeat_send_ms: 1000,
        heartbeat_recv_ms: 1000,
        heartbeat_timeout_factor: 2.0,
        idle_timeout: Duration::from_secs(5),
        max_subscriptions: 4,
        max_transactions: 2,
        max_tx_frames: 3,
        ..ChannelConfig::default()
    }
}

impl Peer {
    fn new(config: ChannelConfig) -> Self {
        let now = Instant::now();
        Self {
            ch: Channel::new(Arc::new(config), now),
            now,
            rx: Decoder::new(FrameLimits { max_headers: 64, ..Default::default() }),
            wire: BytesMut::new(),
        }
    }

    /// CONNECT with `accept-version` and `heart-beat`, accepted; CONNECTED consumed.
    fn connected(version: &str, heartbeat: &str) -> Self {
        let mut p = Self::new(config());
        p.send(&format!("CONNECT\naccept-version:{version}\nhost:h\nheart-beat:{heartbeat}\n\n\0"));
        assert!(matches!(p.event(), Some(Event::Connect { .. })));
        p.ch.accept_connect(p.now, "s1");
        let f = p.frame();
        assert_eq!(f.command, Command::Connected);
        p
    }

    fn send(&mut self, text: &str) {
        self.send_bytes(text.as_bytes());
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        self.ch.handle_bytes(self.now, &mut buf);
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        if self.ch.poll_timeout().is_some_and(|t| t <= self.now) {
            self.ch.handle_timeout(self.now);
        }
    }

    fn event(&mut self) -> Option<Event> {
        self.ch.poll_event()
    }

    fn output(&mut self) -> Vec<Decoded> {
        self.ch.take_transmit(&mut self.wire);
        let mut out = Vec::new();
        while let Some(x) = self.rx.decode(&mut self.wire).unwrap() {
            out.push(x);
        }
        out
    }

    fn frames(&mut self) -> Vec<Frame> {
        self.output()
            .into_iter()
            .filter_map(|d| match d {
                Decoded::Frame(f) => Some(f),
                Decoded::Heartbeat => None,
            })
            .collect()
    }

    /// Exactly one frame was sent.
    fn frame(&mut self) -> Frame {
        let mut frames = self.frames();
        assert_eq!(frames.len(), 1, "{frames:?}");
        frames.remove(0)
    }

    fn expect_error(&mut self, message_contains: &str) -> Frame {
        let f = self.frame();
        assert_eq!(f.command, Command::Error, "{f:?}");
        let message = f.header("message").unwrap().to_owned();
        assert!(message.contains(message_contains), "{message}");
        let mut last = None;
        while let Some(e) = self.event() {
            last = Some(e);
        }
        assert_eq!(last, Some(Event::Closed(CloseReason::Error { message })));
        assert!(self.ch.is_closed());
        f
    }

    fn subscribe(&mut self, id: &str, dest: &str, ack: &str) {
        self.send(&format!("SUBSCRIBE\nid:{id}\ndestination:{dest}\nack:{ack}\n\n\0"));
        assert!(matches!(self.event(), Some(Event::Subscribe { .. })));
    }

    fn message(&mut self, sub: &str) -> Option<AckId> {
        let id = self.ch.send_message(sub, "/t", &[], Bytes::from_static(b"m")).unwrap();
        assert_eq!(self.frame().command, Command::Message);
        id
    }
}

// ----- connect -----

#[test]
fn connect_negotiates_highest_version_and_answers_connected() {
    let mut p = Peer::new(config());
    p.send(
        "STOMP\naccept-version:1.0,1.1,2.0\nhost:stomp.github.org\nlogin:u\npasscode:secret\nheart-beat:500,3000\n\n\0",
    );
    let Some(Event::Connect { version, login, passcode, host, heartbeat, headers }) = p.event() else { panic!() };
    assert_eq!(version, Version::V1_1);
    assert_eq!(
        (login.as_deref(), passcode.as_deref(), host.as_deref()),
        (Some("u"), Some("secret"), Some("stomp.github.org"))
    );
    assert_eq!(heartbeat, (500, 3000));
    assert!(headers.iter().all(|(n, _)| n != "passcode"));
    assert!(p.frames().is_empty(), "nothing before the glue answers");
    p.ch.accept_connect(p.now, "sess-1");
    let f = p.frame();
    assert_eq!(f.command, Command::Connected);
    assert_eq!(f.header("version"), Some("1.1"));
    assert_eq!(f.header("heart-beat"), Some("1000,1000"));
    assert_eq!(f.header("server"), Some("gateway/test"));
    assert_eq!(f.header("session"), Some("sess-1"));
    assert!(p.ch.is_connected());
    assert_eq!(p.ch.version(), Some(Version::V1_1));
    // Sends every max(sx=1000, cy=3000); expects data every max(cx=500, sy=1000) × 2.
    assert_eq!(p.ch.heartbeat(), (Some(Duration::from_millis(3000)), Some(Duration::from_millis(2000))));
}

#[test]
fn passcode_redacted_in_debug() {
    let mut p = Peer::new(config());
    p.send("CONNECT\naccept-version:1.2\npasscode:hunter2\n\n\0");
    let e = p.event().unwrap();
    assert!(!format!("{e:?}").contains("hunter2"));
}

#[test]
fn connect_without_accept_version_is_1_0() {
    let mut p = Peer::new(config());
    p.send("CONNECT\nheart-beat:100,100\n\n\0");
    let Some(Event::Connect { version, heartbeat, .. }) = p.event() else { panic!() };
    assert_eq!((version, heartbeat), (Version::V1_0, (0, 0)));
    p.ch.accept_connect(p.now, "s");
    let f = p.frame();
    assert_eq!(f.header("heart-beat"), None);
    assert_eq!(p.ch.heartbeat(), (None, None));
}

#[test]
fn no_common_version_is_an_error_listing_ours() {
    let mut p = Peer::new(config());
    p.send("CONNECT\naccept-version:2.0,2.1\n\n\0");
    let f = p.expect_error("Supported protocol versions are 1.0 1.1 1.2");
    assert_eq!(f.header("version"), Some("1.0,1.1,1.2"));
}

#[test]
fn first_frame_must_be_connect() {
    let mut p = Peer::new(config());
    p.send("SEND\ndestination:/a\nreceipt:r1\n\nx\0");
    let f = p.expect_error("Not connected");
    assert_eq!(f.header("receipt-id"), Some("r1"));
}

#[test]
fn second_connect_is_an_error() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("CONNECT\naccept-version:1.2\n\n\0");
    p.expect_error("Already connected");
}

#[test]
fn reject_connect_sends_error_and_closes() {
    let mut p = Peer::new(config());
    p.send("CONNECT\naccept-version:1.2\nlogin:x\n\n\0SEND\ndestination:/a\n\n\0");
    assert!(matches!(p.event(), Some(Event::Connect { .. })));
    p.ch.reject_connect("Login Failed: not_authorized");
    let f = p.frame();
    assert_eq!(f.command, Command::Error);
    assert_eq!(f.header("message"), Some("Login Failed: not_authorized"));
    assert_eq!(p.event(), Some(Event::Closed(CloseReason::Rejected)));
    assert_eq!(p.event(), None, "the queued SEND is dropped");
}

#[test]
fn frames_before_connected_are_replayed_on_accept() {
    let mut p = Peer::new(config());
    p.send("CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/a\nreceipt:1\n\nx\0");
    assert!(matches!(p.event(), Some(Event::Connect { .. })));
    assert_eq!(p.event(), None);
    p.ch.accept_connect(p.now, "s");
    assert!(matches!(p.event(), Some(Event::Send { .. })));
    let frames = p.frames();
    assert_eq!(frames.iter().map(|f| f.command).collect::<Vec<_>>(), [Command::Connected, Command::Receipt]);
}

#[test]
fn idle_timeout_without_connect() {
    let mut p = Peer::new(config());
    assert_eq!(p.ch.poll_timeout(), Some(p.now + Duration::from_secs(5)));
    p.advance(4999);
    assert!(!p.ch.is_closed());
    p.advance(1);
    assert_eq!(p.event(), Some(Event::Closed(CloseReason::IdleTimeout)));
    assert!(p.frames().is_empty());
}

#[test]
fn invalid_heart_beat_header_is_an_error() {
    let mut p = Peer::new(config());
    p.send("CONNECT\naccept-version:1.2\nheart-beat:x\n\n\0");
    p.expect_error("Invalid heart-beat header");
}

// ----- frame errors -----

#[test]
fn decode_error_is_error_frame_then_close() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("SEND\nk:\\t\n\n\0");
    p.expect_error("Frame error: undefined escape sequence");
}

#[test]
fn limit_violation_before_body_arrives() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("SEND\ndestination:/a\ncontent-length:1000000\n\n");
    p.expect_error("body too large");
}

#[test]
fn server_frames_from_client_are_errors() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("MESSAGE\nreceipt:9\n\n\0");
    let f = p.expect_error("MESSAGE is a server frame");
    assert_eq!(f.header("receipt-id"), Some("9"));
}

#[test]
fn glue_error_closes() {
    let mut p = Peer::connected("1.2", "0,0");
    p.ch.error("Insufficient permissions for t/1", Some("r"));
    let f = p.expect_error("Insufficient permissions for t/1");
    assert_eq!(f.header("receipt-id"), Some("r"));
    // Input after close is ignored.
    p.send("SEND\ndestination:/a\n\n\0");
    assert_eq!(p.event(), None);
}

// ----- SEND -----

#[test]
fn send_event_user_headers() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("SEND\ndestination:/a\ncontent-type:text/plain\ncontent-length:3\nreceipt:r\nx-a:1\nx-a:2\n\na\0b\0");
    let Some(Event::Send { destination, headers, content_type, body }) = p.event() else { panic!() };
    assert_eq!(destination, "/a");
    assert_eq!(content_type.as_deref(), Some("text/plain"));
    assert_eq!(headers, vec![("content-type".into(), "text/plain".into()), ("x-a".into(), "1".into())]);
    assert_eq!(body, Bytes::from_static(b"a\0b"));
    let f = p.frame();
    assert_eq!((f.command, f.header("receipt-id")), (Command::Receipt, Some("r")));
}

#[test]
fn send_without_destination_is_an_error() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("SEND\nreceipt:r\n\nx\0");
    let f = p.expect_error("Missing destination header");
    assert_eq!(f.header("receipt-id"), Some("r"));
}

// ----- subscriptions -----

#[test]
fn subscribe_rules() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\nreceipt:r\n\n\0");
    assert_eq!(
        p.event(),
        Some(Event::Subscribe { id: "0".into(), destination: "/queue/foo".into(), ack: AckMode::Client })
    );
    assert_eq!(p.frame().header("receipt-id"), Some("r"));
    assert_eq!(p.ch.subscription_ack_mode("0"), Some(AckMode::Client));
    p.send("SUBSCRIBE\nid:0\ndestination:/other\n\n\0");
    p.expect_error("Subscription id 0 is already in use");
}

#[test]
fn subscribe_requires_id_in_1_1_but_not_1_0() {
    let mut p = Peer::connected("1.1", "0,0");
    p.send("SUBSCRIBE\ndestination:/a\n\n\0");
    p.expect_error("Missing id header");
    let mut p = Peer::connected("1.0", "0,0");
    p.send("SUBSCRIBE\ndestination:/a\n\n\0");
    assert_eq!(p.event(), Some(Event::Subscribe { id: "/a".into(), destination: "/a".into(), ack: AckMode::Auto }));
}

#[test]
fn subscribe_same_destination_twice_and_bad_ack_and_limit() {
    let mut p = Peer::connected("1.2", "0,0");
    p.subscribe("a", "/x", "auto");
    p.send("SUBSCRIBE\nid:b\ndestination:/x\n\n\0");
    p.expect_error("Already subscribed to /x");

    let mut p = Peer::connected("1.2", "0,0");
    p.send("SUBSCRIBE\nid:b\ndestination:/x\nack:sometimes\n\n\0");
    p.expect_error("Invalid ack mode");

    let mut p = Peer::connected("1.2", "0,0");
    for i in 0..4 {
        p.subscribe(&i.to_string(), &format!("/d{i}"), "auto");
    }
    p.send("SUBSCRIBE\nid:9\ndestination:/d9\n\n\0");
    p.expect_error("Too many subscriptions");
}

#[test]
fn unsubscribe_by_id() {
    let mut p = Peer::connected("1.2", "0,0");
    p.subscribe("s", "/x", "client");
    p.message("s");
    p.send("UNSUBSCRIBE\nid:s\nreceipt:u\n\n\0");
    assert_eq!(p.event(), Some(Event::Unsubscribe { id: "s".into(), destination: "/x".into() }));
    assert_eq!(p.frame().header("receipt-id"), Some("u"));
    assert_eq!(p.ch.outstanding_acks(), 0);
    assert_eq!(p.ch.send_message("s", "/x", &[], Bytes::new()), Err(SendError::UnknownSubscription));
    // Unknown id: ignored, still receipted.
    p.send("UNSUBSCRIBE\nid:nope\nreceipt:v\n\n\0");
    assert_eq!(p.event(), None);
    assert_eq!(p.frame().header("receipt-id"), Some("v"));
}

#[test]
fn message_frame_headers() {
    let mut p = Peer::connected("1.2", "0,0");
    p.subscribe("s", "/x", "client-individual");
    let headers = vec![
        ("content-type".to_owned(), "text/plain".to_owned()),
        ("x-u".into(), "1".into()),
        ("ack".into(), "forged".into()),
    ];
    let id = p.ch.send_message("s", "/x", &headers, Bytes::from_static(b"hi")).unwrap().unwrap();
    let f = p.frame();
    assert_eq!(f.command, Command::Message);
    assert_eq!(f.header("subscription"), Some("s"));
    assert_eq!(f.header("message-id"), Some(id.get().to_string().as_str()));
    assert_eq!(f.header("ack"), Some(id.get().to_string().as_str()));
    assert_eq!(f.header("destination"), Some("/x"));
    assert_eq!(f.header("content-type"), Some("text/plain"));
    assert_eq!(f.header("x-u"), Some("1"));
    assert_eq!(f.header("content-length"), Some("2"));
    assert_eq!(f.headers.iter().filter(|(n, _)| n == "ack").count(), 1);
    assert_eq!(f.body, Bytes::from_static(b"hi"));
}

#[test]
fn auto_mode_returns_no_ack_id() {
    let mut p = Peer::connected("1.2", "0,0");
    p.subscribe("s", "/x", "auto");
    assert_eq!(p.message("s"), None);
    assert_eq!(p.ch.outstanding_acks(), 0);
}

// ----- acks -----

#[test]
fn client_mode_ack_is_cumulative_per_subscription() {
    let mut p = Peer::connected("1.2", "0,0");
    p.subscribe("a", "/a", "client");
    p.subscribe("b", "/b", "client");
    let a1 = p.message("a").unwrap();
    let b1 = p.message("b").unwrap();
    let a2 = p.message("a").unwrap();
    let a3 = p.message("a").unwrap();
    p.send(&format!("ACK\nid:{}\nreceipt:k\n\n\0", a2.get()));
    assert_eq!(p.event(), Some(Event::Ack { ack_ids: vec![a1, a2] }));
    assert_eq!(p.frame().header("receipt-id"), Some("k"));
    // NACK is cumulative too (1.2 §NACK).
    p.send(&format!("NACK\nid:{}\n\n\0", a3.get()));
    assert_eq!(p.event(), Some(Event::Nack { ack_ids: vec![a3] }));
    assert_eq!(p.ch.outstanding_acks(), 1);
    p.send(&format!("ACK\nid:{}\n\n\0", b1.get()));
    assert_eq!(p.event(), Some(Event::Ack { ack_ids: vec![b1] }));
    // Already acknowledged: unknown.
    p.send(&format!("ACK\nid:{}\n\n\0", a1.get()));
    p.expect_error("Unknown ack id");
}

#[test]
fn client_individual_ack_is_not_cumulative() {
    let mut p = Peer::connected("1.2", "0,0");
    p.subscribe("a", "/a", "client-individual");
    let m1 = p.message("a").unwrap();
    let m2 = p.message("a").unwrap();
    p.send(&format!("NACK\nid:{}\n\n\0", m2.get()));
    assert_eq!(p.event(), Some(Event::Nack { ack_ids: vec![m2] }));
    p.send(&format!("ACK\nid:{}\n\n\0", m1.get()));
    assert_eq!(p.event(), Some(Event::Ack { ack_ids: vec![m1] }));
}

#[test]
fn v1_1_acks_by_message_id_and_subscription() {
    let mut p = Peer::connected("1.1", "0,0");
    p.subscribe("a", "/a", "client");
    let id = p.ch.send_message("a", "/a", &[], Bytes::new()).unwrap().unwrap();
    let f = p.frame();
    assert_eq!(f.header("ack"), None, "the ack header is 1.2");
    p.send(&format!("ACK\nmessage-id:{}\nsubscription:a\n\n\0", id.get()));
    assert_eq!(p.event(), Some(Event::Ack { ack_ids: vec![id] }));
}

#[test]
fn ack_errors() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("ACK\nreceipt:r\n\n\0");
    let f = p.expect_error("Missing id header");
    assert_eq!(f.header("receipt-id"), Some("r"));
    let mut p = Peer::connected("1.2", "0,0");
    p.send("ACK\nid:42\n\n\0");
    p.expect_error("Unknown ack id 42");
    let mut p = Peer::connected("1.1", "0,0");
    p.subscribe("a", "/a", "client");
    let id = p.message("a").unwrap();
    p.send(&format!("ACK\nmessage-id:{}\nsubscription:zz\n\n\0", id.get()));
    p.expect_error("does not belong to subscription zz");
}

// ----- transactions -----

#[test]
fn transaction_commit_emits_in_order() {
    let mut p = Peer::connected("1.2", "0,0");
    p.subscribe("a", "/a", "client");
    let m = p.message("a").unwrap();
    p.send("BEGIN\ntransaction:t\nreceipt:b\n\n\0");
    p.send("SEND\ndestination:/x\ntransaction:t\nreceipt:s\n\n1\0");
    p.send(&format!("ACK\nid:{}\ntransaction:t\n\n\0", m.get()));
    p.send("SEND\ndestination:/y\ntransaction:t\n\n2\0");
    assert_eq!(p.event(), None, "buffered until COMMIT");
    let receipts: Vec<_> = p.frames().iter().map(|f| f.header("receipt-id").unwrap().to_owned()).collect();
    assert_eq!(receipts, ["b", "s"], "receipts for buffered frames are sent when buffered");
    p.send("COMMIT\ntransaction:t\nreceipt:c\n\n\0");
    let Some(Event::Send { destination, headers, .. }) = p.event() else { panic!() };
    assert_eq!(destination, "/x");
    assert!(headers.iter().all(|(n, _)| n != "transaction"));
    assert_eq!(p.event(), Some(Event::Ack { ack_ids: vec![m] }));
    assert!(matches!(p.event(), Some(Event::Send { destination, .. }) if destination == "/y"));
    assert_eq!(p.frame().header("receipt-id"), Some("c"));
    // The transaction is gone.
    p.send("COMMIT\ntransaction:t\n\n\0");
    p.expect_error("Transaction t not found");
}

#[test]
fn transaction_abort_drops() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("BEGIN\ntransaction:t\n\n\0SEND\ndestination:/x\ntransaction:t\n\n1\0ABORT\ntransaction:t\n\n\0");
    assert_eq!(p.event(), None);
    assert!(!p.ch.is_closed());
}

#[test]
fn transaction_errors() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("BEGIN\ntransaction:t\n\n\0BEGIN\ntransaction:t\n\n\0");
    p.expect_error("Transaction t already begun");

    let mut p = Peer::connected("1.2", "0,0");
    p.send("SEND\ndestination:/x\ntransaction:nope\n\n\0");
    p.expect_error("Transaction nope not found");

    let mut p = Peer::connected("1.2", "0,0");
    p.send("ABORT\ntransaction:nope\n\n\0");
    p.expect_error("Transaction nope not found");

    let mut p = Peer::connected("1.2", "0,0");
    p.send("BEGIN\ntransaction:a\n\n\0BEGIN\ntransaction:b\n\n\0BEGIN\ntransaction:c\n\n\0");
    p.expect_error("Too many open transactions");

    let mut p = Peer::connected("1.2", "0,0");
    p.send("BEGIN\ntransaction:a\n\n\0");
    for _ in 0..3 {
        p.send("SEND\ndestination:/x\ntransaction:a\n\n\0");
    }
    assert!(!p.ch.is_closed());
    p.send("SEND\ndestination:/x\ntransaction:a\n\n\0");
    p.expect_error("Too many frames in transaction a");

    let mut p = Peer::connected("1.2", "0,0");
    p.send("BEGIN\n\n\0");
    p.expect_error("Missing transaction header");
}

// ----- disconnect -----

#[test]
fn disconnect_with_receipt() {
    let mut p = Peer::connected("1.2", "0,0");
    p.send("DISCONNECT\nreceipt:77\n\n\0SEND\ndestination:/late\n\n\0");
    let f = p.frame();
    assert_eq!((f.command, f.header("receipt-id")), (Command::Receipt, Some("77")));
    assert_eq!(p.event(), Some(Event::Closed(CloseReason::ClientDisconnect)));
    assert_eq!(p.event(), None, "nothing after DISCONNECT is handled");
    assert!(p.ch.is_closed());
}

// ----- heart-beats -----

#[test]
fn server_sends_heartbeats_every_negotiated_interval() {
    // Client cx=0 (sends none), cy=2500: server sends every max(1000, 2500).
    let mut p = Peer::connected("1.2", "0,2500");
    assert_eq!(p.ch.poll_timeout(), Some(p.now + Duration::from_millis(2500)));
    p.advance(2499);
    assert!(p.output().is_empty());
    p.advance(1);
    assert_eq!(p.output(), vec![Decoded::Heartbeat]);
    p.advance(2500);
    assert_eq!(p.output(), vec![Decoded::Heartbeat]);
    // Nothing expected from the client: silence never closes.
    p.advance(60_000);
    assert!(!p.ch.is_closed());
}

#[test]
fn client_silence_closes_after_twice_the_interval() {
    // cx=1500 > sy=1000: the client sends every 1500, tolerated up to 3000 of silence.
    let mut p = Peer::connected("1.2", "1500,0");
    assert_eq!(p.ch.heartbeat(), (None, Some(Duration::from_millis(3000))));
    p.advance(2000);
    p.send("\n"); // a heart-beat EOL is traffic
    p.advance(2999);
    assert!(!p.ch.is_closed());
    p.send("SEND\ndestination:/a\n\n"); // a partial frame is traffic too
    let _ = p.event();
    p.advance(2999);
    assert!(!p.ch.is_closed());
    p.advance(1);
    assert_eq!(p.event(), Some(Event::Closed(CloseReason::HeartbeatTimeout)));
    assert!(p.output().is_empty());
}

#[test]
fn heartbeat_zero_on_either_side_disables() {
    let mut cfg = config();
    cfg.heartbeat_send_ms = 0;
    cfg.heartbeat_recv_ms = 0;
    let mut p = Peer::new(cfg);
    p.send("CONNECT\naccept-version:1.2\nheart-beat:100,100\n\n\0");
    let _ = p.event();
    p.ch.accept_connect(p.now, "s");
    assert_eq!(p.frame().header("heart-beat"), Some("0,0"));
    assert_eq!(p.ch.heartbeat(), (None, None));
    assert_eq!(p.ch.poll_timeout(), None);
}

#[test]
fn server_floor_applies_to_fast_clients() {
    // The client asks for a beat every 10 ms; the server guarantees no better than 1000.
    let p = Peer::connected("1.2", "10,10");
    assert_eq!(p.ch.heartbeat(), (Some(Duration::from_millis(1000)), Some(Duration::from_millis(2000))));
}
