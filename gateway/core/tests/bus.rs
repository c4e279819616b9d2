//! The bus without sockets: routing, sessions, takeover, shared groups, wills and expiry,
//! with tokio's paused clock for the timers.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gw_core::bus::{
    Bus, BusConfig, ClientId, CloseKind, Doorbell, KickReason, Message, OpenSession, OpenedSession, Outbound,
    PublishBatch, QoS, RetainHandling, SessionHandle, SubOptions, SubscriptionFilter, Topic, Will,
};
use tokio::time::Instant;

fn open(bus: &Bus, id: &str, clean: bool, expiry: Option<Duration>) -> (OpenedSession, Arc<Doorbell>) {
    let doorbell = Arc::new(Doorbell::new());
    let opened = bus.open_session(
        OpenSession {
            client_id: ClientId::new(id),
            clean_start: clean,
            expiry,
            will: None,
            doorbell: doorbell.clone(),
        },
        Instant::now(),
    );
    (opened, doorbell)
}

fn sub(h: &SessionHandle, filter: &str, qos: QoS, id: Option<u32>) {
    let opts = SubOptions { qos, subscription_id: id, ..SubOptions::default() };
    h.subscribe(&SubscriptionFilter::parse(filter).unwrap(), opts, RetainHandling::Send, Instant::now()).unwrap();
}

fn msg(topic: &str, payload: &'static str, qos: QoS) -> Message {
    Message::new(Topic::new(topic.to_string()).unwrap(), Bytes::from_static(payload.as_bytes()), qos, false)
}

fn drain(h: &SessionHandle) -> Vec<(String, QoS, Vec<u32>)> {
    let mut out = Vec::new();
    h.take_outbound(Instant::now(), 1000, 10_000, &mut out);
    out.into_iter()
        .filter_map(|o| match o {
            Outbound::Publish { delivery, .. } => Some((
                String::from_utf8(delivery.message.payload.to_vec()).unwrap(),
                delivery.qos,
                delivery.subscription_ids.into_vec(),
            )),
            Outbound::PubRel(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn overlapping_filters_deliver_once_at_highest_qos_with_all_ids() {
    let bus = Bus::new(BusConfig::default());
    let (s, _) = open(&bus, "s", true, Some(Duration::ZERO));
    sub(&s.handle, "a/+", QoS::AtMostOnce, Some(1));
    sub(&s.handle, "a/#", QoS::AtLeastOnce, Some(2));
    bus.publish(msg("a/b", "x", QoS::ExactlyOnce), Instant::now()).unwrap();
    let got = drain(&s.handle);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, QoS::AtLeastOnce);
    let mut ids = got[0].2.clone();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2]);
}

#[tokio::test]
async fn takeover_moves_queue_and_inflight_and_kicks_the_old_connection() {
    let bus = Bus::new(BusConfig::default());
    let (old, old_bell) = open(&bus, "c", true, Some(Duration::from_secs(60)));
    sub(&old.handle, "t", QoS::AtLeastOnce, None);
    bus.publish(msg("t", "1", QoS::AtLeastOnce), Instant::now()).unwrap();
    let mut out = Vec::new();
    old.handle.take_outbound(Instant::now(), 10, 10, &mut out); // "1" now in flight, unacked
    bus.publish(msg("t", "2", QoS::AtLeastOnce), Instant::now()).unwrap(); // queued
    let (new, _) = open(&bus, "c", false, Some(Duration::from_secs(60)));
    assert!(new.session_present);
    assert_eq!(old_bell.kicked(), Some(KickReason::TakenOver));
    assert!(!old.handle.is_current());
    // The old connection closing afterwards must not disturb the new owner.
    old.handle.close(CloseKind::WithWill, Instant::now());
    let mut resend = Vec::new();
    new.handle.resend_inflight(Instant::now(), &mut resend);
    assert!(matches!(&resend[..], [Outbound::Publish { dup: true, .. }]), "in-flight message resent with DUP");
    assert_eq!(drain(&new.handle).iter().map(|m| m.0.as_str()).collect::<Vec<_>>(), ["2"]);
    bus.publish(msg("t", "3", QoS::AtLeastOnce), Instant::now()).unwrap();
    assert_eq!(drain(&new.handle).len(), 1, "subscription moved to the new connection");
}

#[tokio::test]
async fn clean_start_discards_the_old_session() {
    let bus = Bus::new(BusConfig::default());
    let (old, old_bell) = open(&bus, "c", true, Some(Duration::from_secs(60)));
    sub(&old.handle, "t", QoS::AtLeastOnce, None);
    let (new, _) = open(&bus, "c", true, Some(Duration::from_secs(60)));
    assert!(!new.session_present);
    assert_eq!(old_bell.kicked(), Some(KickReason::Discarded));
    assert_eq!(bus.subscription_count(), 0);
    assert_eq!(bus.publish(msg("t", "x", QoS::AtLeastOnce), Instant::now()).unwrap().matched, 0);
}

#[tokio::test]
async fn shared_group_round_robin_and_redispatch_when_a_member_leaves() {
    let bus = Bus::new(BusConfig::default());
    let (a, _) = open(&bus, "a", true, Some(Duration::ZERO));
    let (b, _) = open(&bus, "b", true, Some(Duration::ZERO));
    sub(&a.handle, "$share/g/t", QoS::AtLeastOnce, None);
    sub(&b.handle, "$share/g/t", QoS::AtLeastOnce, None);
    for i in 0..4 {
        bus.publish(msg("t", ["0", "1", "2", "3"][i], QoS::AtLeastOnce), Instant::now()).unwrap();
    }
    let mut a_out = Vec::new();
    a.handle.take_outbound(Instant::now(), 10, 10, &mut a_out);
    assert_eq!(a_out.len(), 2, "round robin splits evenly");
    // a leaves with two unacknowledged messages: they go to b, nothing is lost.
    a.handle.close(CloseKind::Normal, Instant::now());
    let got = drain(&b.handle);
    let mut payloads: Vec<String> = got.into_iter().map(|m| m.0).collect();
    payloads.sort();
    assert_eq!(payloads, ["0", "1", "2", "3"]);
    assert_eq!(bus.metrics().messages_redispatched.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn queue_overflow_drops_oldest_and_counts() {
    let mut config = BusConfig::default();
    config.session.max_mqueue_len = 3;
    let bus = Bus::new(config);
    let (s, _) = open(&bus, "s", true, Some(Duration::from_secs(60)));
    sub(&s.handle, "t", QoS::AtLeastOnce, None);
    s.handle.close(CloseKind::Normal, Instant::now());
    for p in ["1", "2", "3", "4", "5"] {
        bus.publish(msg("t", p, QoS::AtLeastOnce), Instant::now()).unwrap();
    }
    let (s, _) = open(&bus, "s", false, Some(Duration::from_secs(60)));
    assert!(s.session_present);
    let got: Vec<String> = drain(&s.handle).into_iter().map(|m| m.0).collect();
    assert_eq!(got, ["3", "4", "5"]);
    assert_eq!(bus.metrics().delivery_dropped_queue_full.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn inflight_window_holds_back_qos1_until_acked() {
    let bus = Bus::new(BusConfig::default());
    let (s, _) = open(&bus, "s", true, Some(Duration::ZERO));
    sub(&s.handle, "t", QoS::AtLeastOnce, None);
    for p in ["1", "2", "3"] {
        bus.publish(msg("t", p, QoS::AtLeastOnce), Instant::now()).unwrap();
    }
    let mut out = Vec::new();
    assert!(!s.handle.take_outbound(Instant::now(), 2, 100, &mut out), "nothing sendable while the window is full");
    assert_eq!(out.len(), 2);
    let Outbound::Publish { packet_id: Some(first), .. } = out[0] else { panic!() };
    out.clear();
    assert!(!s.handle.take_outbound(Instant::now(), 2, 100, &mut out));
    assert!(out.is_empty(), "window full");
    assert!(s.handle.complete(first));
    s.handle.take_outbound(Instant::now(), 2, 100, &mut out);
    assert_eq!(out.len(), 1);
}

/// Whether the doorbell has a ring waiting (consumes it).
fn was_rung(bell: &Doorbell) -> bool {
    let rung = std::pin::pin!(bell.rung());
    futures_poll_once(rung).is_ready()
}

/// A publish that finds the subscriber's window full rings nobody: the connection has nothing
/// to send until an acknowledgement, after which it takes anyway. A free slot, or a message
/// that needs none (QoS 0), rings again.
#[tokio::test]
async fn a_publish_to_a_full_window_rings_nobody() {
    let bus = Bus::new(BusConfig::default());
    let (s, bell) = open(&bus, "s", true, Some(Duration::ZERO));
    sub(&s.handle, "t", QoS::AtLeastOnce, None);
    was_rung(&bell);
    for p in ["1", "2"] {
        bus.publish(msg("t", p, QoS::AtLeastOnce), Instant::now()).unwrap();
    }
    assert!(was_rung(&bell));
    let mut out = Vec::new();
    s.handle.take_outbound(Instant::now(), 2, 100, &mut out);
    let Outbound::Publish { packet_id: Some(first), .. } = out[0] else { panic!() };
    bus.publish(msg("t", "3", QoS::AtLeastOnce), Instant::now()).unwrap();
    assert!(!was_rung(&bell), "window full: nothing to send");
    assert_eq!(s.handle.complete_all(&[first]), 1);
    bus.publish(msg("t", "4", QoS::AtLeastOnce), Instant::now()).unwrap();
    assert!(was_rung(&bell), "a slot is free");
    out.clear();
    s.handle.take_outbound(Instant::now(), 2, 100, &mut out);
    assert_eq!(out.len(), 1, "3 fills the window, 4 waits");
    bus.publish(msg("t", "5", QoS::AtLeastOnce), Instant::now()).unwrap();
    assert!(!was_rung(&bell));
    let Outbound::Publish { packet_id: Some(second), .. } = out[0] else { panic!() };
    assert!(s.handle.complete(second), "a single acknowledgement rings by itself");
    assert!(was_rung(&bell));
    out.clear();
    s.handle.take_outbound(Instant::now(), 2, 100, &mut out);
    assert_eq!(out.len(), 1, "4 fills the window, 5 waits");
    // A full window and an empty queue: a QoS 0 message needs no slot.
    let (q, q_bell) = open(&bus, "q", true, Some(Duration::ZERO));
    sub(&q.handle, "u", QoS::AtLeastOnce, None);
    for p in ["a", "b"] {
        bus.publish(msg("u", p, QoS::AtLeastOnce), Instant::now()).unwrap();
    }
    out.clear();
    q.handle.take_outbound(Instant::now(), 2, 100, &mut out);
    assert_eq!(out.len(), 2);
    was_rung(&q_bell);
    bus.publish(msg("u", "c", QoS::AtMostOnce), Instant::now()).unwrap();
    assert!(was_rung(&q_bell), "QoS 0 needs no slot");
}

fn will(topic: &str, delay: u64) -> Will {
    Will { message: msg(topic, "gone", QoS::AtMostOnce), delay: Duration::from_secs(delay), message_expiry: None }
}

fn open_with_will(bus: &Bus, id: &str, clean: bool, expiry: u64, w: Will) -> OpenedSession {
    bus.open_session(
        OpenSession {
            client_id: ClientId::new(id),
            clean_start: clean,
            expiry: Some(Duration::from_secs(expiry)),
            will: Some(w),
            doorbell: Arc::new(Doorbell::new()),
        },
        Instant::now(),
    )
}

#[tokio::test(start_paused = true)]
async fn will_delay_and_session_expiry_run_on_the_timer() {
    let bus = Bus::new(BusConfig::default());
    let shutdown = gw_core::shutdown::Shutdown::new();
    tokio::spawn(bus.clone().run_timers(shutdown.clone().cancelled_owned()));
    let (watcher, _) = open(&bus, "w", true, Some(Duration::ZERO));
    sub(&watcher.handle, "will/#", QoS::AtMostOnce, None);

    // Delayed will, published when the delay passes.
    let c = open_with_will(&bus, "c", true, 100, will("will/c", 5));
    c.handle.close(CloseKind::WithWill, Instant::now());
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(drain(&watcher.handle).is_empty(), "not before the delay");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(drain(&watcher.handle).len(), 1);

    // Reconnecting before the delay cancels the will [MQTT-3.1.3-9].
    let d = open_with_will(&bus, "d", true, 100, will("will/d", 5));
    d.handle.close(CloseKind::WithWill, Instant::now());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _again = open(&bus, "d", false, Some(Duration::from_secs(100)));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(drain(&watcher.handle).is_empty());

    // The session ending first publishes the will then.
    let e = open_with_will(&bus, "e", true, 2, will("will/e", 60));
    e.handle.close(CloseKind::WithWill, Instant::now());
    let sessions = bus.session_count();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(drain(&watcher.handle).len(), 1);
    assert_eq!(bus.session_count(), sessions - 1, "expired session removed");

    // A normal close discards the will.
    let f = open_with_will(&bus, "f", true, 0, will("will/f", 0));
    f.handle.close(CloseKind::Normal, Instant::now());
    assert!(drain(&watcher.handle).is_empty());
    shutdown.cancel();
}

#[tokio::test]
async fn no_local_and_retain_as_published() {
    let bus = Bus::new(BusConfig::default());
    let (s, _) = open(&bus, "s", true, Some(Duration::ZERO));
    let opts = SubOptions { qos: QoS::AtMostOnce, no_local: true, retain_as_published: true, ..SubOptions::default() };
    s.handle.subscribe(&SubscriptionFilter::parse("t").unwrap(), opts, RetainHandling::Send, Instant::now()).unwrap();
    s.handle.publish(msg("t", "own", QoS::AtMostOnce), Instant::now()).unwrap();
    assert!(drain(&s.handle).is_empty(), "no local");
    let mut m = msg("t", "other", QoS::AtMostOnce);
    m.retain = true;
    bus.publish(m, Instant::now()).unwrap();
    let mut out = Vec::new();
    s.handle.take_outbound(Instant::now(), 10, 10, &mut out);
    let Outbound::Publish { delivery, .. } = &out[0] else { panic!() };
    assert!(delivery.retain, "retain as published");
}

#[tokio::test]
async fn nack_redispatches_shared_deliveries_and_drops_plain_ones() {
    let bus = Bus::new(BusConfig::default());
    let (a, _) = open(&bus, "a", true, Some(Duration::ZERO));
    let (b, _) = open(&bus, "b", true, Some(Duration::ZERO));
    let opts = SubOptions { qos: QoS::AtLeastOnce, upgrade_qos: true, ..SubOptions::default() };
    for h in [&a.handle, &b.handle] {
        h.subscribe(&SubscriptionFilter::parse("$queue/jobs").unwrap(), opts, RetainHandling::Send, Instant::now())
            .unwrap();
    }
    // Published at QoS 0 but tracked at QoS 1 for an upgrading subscription.
    bus.publish(msg("jobs", "j1", QoS::AtMostOnce), Instant::now()).unwrap();
    let mut a_out = Vec::new();
    let mut b_out = Vec::new();
    a.handle.take_outbound(Instant::now(), 10, 10, &mut a_out);
    b.handle.take_outbound(Instant::now(), 10, 10, &mut b_out);
    let (owner, receiver, out) = if a_out.is_empty() { (&b, &a, b_out) } else { (&a, &b, a_out) };
    assert_eq!(out.len(), 1, "exactly one member got it");
    let Outbound::Publish { packet_id: Some(id), delivery, .. } = &out[0] else { panic!("tracked at QoS 1") };
    assert_eq!(delivery.qos, QoS::AtLeastOnce);
    // The member that got it NACKs it; the other member receives it.
    assert!(owner.handle.nack(*id, Instant::now()));
    assert_eq!(drain(&receiver.handle).iter().map(|m| m.0.as_str()).collect::<Vec<_>>(), ["j1"]);

    // A plain subscription's NACKed message is dropped and counted.
    sub(&a.handle, "plain", QoS::AtLeastOnce, None);
    bus.publish(msg("plain", "p", QoS::AtLeastOnce), Instant::now()).unwrap();
    let mut out = Vec::new();
    a.handle.take_outbound(Instant::now(), 10, 10, &mut out);
    let Outbound::Publish { packet_id: Some(id), .. } = &out[0] else { panic!() };
    assert!(a.handle.nack(*id, Instant::now()));
    assert_eq!(bus.metrics().delivery_dropped_nacked.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_connected_subscriber_more_than_half_full_reports_congestion() {
    let mut config = BusConfig::default();
    config.session.max_mqueue_len = 4;
    let bus = Bus::new(config);
    let (s, _) = open(&bus, "slow", true, Some(Duration::ZERO));
    sub(&s.handle, "t", QoS::AtMostOnce, None);
    let congested: Vec<bool> = (0..4)
        .map(|_| bus.publish(msg("t", "x", QoS::AtMostOnce), Instant::now()).unwrap().congested.is_some())
        .collect();
    assert_eq!(congested, [false, false, true, true], "more than half of 4 queued");
    drain(&s.handle);
    assert!(bus.publish(msg("t", "x", QoS::AtMostOnce), Instant::now()).unwrap().congested.is_none());
    // A parked session queues without slowing publishers (it is not consuming anyway).
    s.handle.close(CloseKind::Normal, Instant::now());
    let (p, _) = open(&bus, "parked", true, Some(Duration::from_secs(60)));
    sub(&p.handle, "u", QoS::AtMostOnce, None);
    p.handle.close(CloseKind::Normal, Instant::now());
    for _ in 0..4 {
        assert!(bus.publish(msg("u", "x", QoS::AtMostOnce), Instant::now()).unwrap().congested.is_none());
    }
}

#[tokio::test]
async fn a_congested_subscriber_wakes_paused_publishers_once_down_to_a_quarter() {
    let mut config = BusConfig::default();
    config.session.max_mqueue_len = 8;
    let bus = Bus::new(config);
    let (s, _) = open(&bus, "slow", true, Some(Duration::ZERO));
    sub(&s.handle, "t", QoS::AtMostOnce, None);
    let outcomes: Vec<_> =
        (0..5).map(|_| bus.publish(msg("t", "x", QoS::AtMostOnce), Instant::now()).unwrap().congested).collect();
    let signal = outcomes[4].clone().expect("5 of 8 queued is congested");
    let mut drained = Box::pin(signal.drained());
    assert!(futures_poll_once(drained.as_mut()).is_pending(), "nothing drained yet");
    let mut out = Vec::new();
    s.handle.take_outbound(Instant::now(), 10, 2, &mut out);
    assert!(futures_poll_once(drained.as_mut()).is_pending(), "3 of 8 left: above a quarter");
    s.handle.take_outbound(Instant::now(), 10, 1, &mut out);
    assert!(futures_poll_once(drained.as_mut()).is_ready(), "2 of 8 left: publishers wake");
}

/// Polls a future once with a no-op waker.
fn futures_poll_once<F: std::future::Future + ?Sized>(fut: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    fut.poll(&mut cx)
}

#[tokio::test]
async fn a_stuck_subscriber_pauses_no_publisher() {
    let mut config = BusConfig::default();
    config.session.max_mqueue_len = 4;
    config.session.publish_backpressure_stall = Some(Duration::from_millis(50));
    let bus = Bus::new(config);
    let (s, _) = open(&bus, "stuck", true, Some(Duration::ZERO));
    sub(&s.handle, "t", QoS::AtMostOnce, None);
    let t0 = Instant::now();
    let congested = |at: Instant| bus.publish(msg("t", "x", QoS::AtMostOnce), at).unwrap().congested.is_some();
    assert_eq!([congested(t0), congested(t0), congested(t0)], [false, false, true]);
    // Nothing taken for longer than the pause: the subscriber is stuck, not slow.
    let later = t0 + Duration::from_millis(60);
    assert!(!congested(later), "a subscriber that makes no progress stops pausing publishers");
    // Taking deliveries is progress: it is a slow consumer again.
    let mut out = Vec::new();
    s.handle.take_outbound(later, 10, 1, &mut out);
    assert!(congested(later));
    // Off altogether when disabled.
    let mut config = BusConfig::default();
    config.session.max_mqueue_len = 4;
    config.session.publish_backpressure_stall = None;
    let bus = Bus::new(config);
    let (s, _) = open(&bus, "slow", true, Some(Duration::ZERO));
    sub(&s.handle, "t", QoS::AtMostOnce, None);
    assert!((0..4).all(|_| bus.publish(msg("t", "x", QoS::AtMostOnce), t0).unwrap().congested.is_none()));
}

#[tokio::test]
async fn a_batch_queues_each_subscriber_its_messages_in_order() {
    let bus = Bus::new(BusConfig::default());
    let (publisher, _) = open(&bus, "pub", true, Some(Duration::ZERO));
    let (a, _) = open(&bus, "a", true, Some(Duration::ZERO));
    let (b, _) = open(&bus, "b", true, Some(Duration::ZERO));
    sub(&a.handle, "t/#", QoS::AtMostOnce, None);
    sub(&b.handle, "t/1", QoS::AtMostOnce, None);
    let mut batch = PublishBatch::new();
    let now = Instant::now();
    let topics = ["t/1", "t/2", "t/1", "u", "t/3"];
    let payloads = ["0", "1", "2", "3", "4"];
    let matched: Vec<usize> = topics
        .iter()
        .zip(payloads)
        .map(|(t, p)| publisher.handle.publish_into(&mut batch, msg(t, p, QoS::AtMostOnce), now).unwrap())
        .collect();
    assert_eq!(matched, [2, 1, 2, 0, 1]);
    assert_eq!(batch.len(), 6);
    let mut out = Vec::new();
    a.handle.take_outbound(now, 10, 10, &mut out);
    assert!(out.is_empty(), "nothing is queued before the flush");
    assert!(publisher.handle.flush(&mut batch, now).is_none());
    assert!(batch.is_empty());
    let payloads = |handle: &SessionHandle| {
        let mut out = Vec::new();
        handle.take_outbound(now, 10, 10, &mut out);
        out.iter()
            .map(|o| match o {
                Outbound::Publish { delivery, .. } => String::from_utf8(delivery.message.payload.to_vec()).unwrap(),
                Outbound::PubRel(_) => panic!("no QoS 2 here"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(payloads(&a.handle), ["0", "1", "2", "4"]);
    assert_eq!(payloads(&b.handle), ["0", "2"]);
}

#[tokio::test]
async fn a_batch_meeting_a_congested_subscriber_asks_to_be_flushed() {
    let mut config = BusConfig::default();
    config.session.max_mqueue_len = 4;
    let bus = Bus::new(config);
    let (publisher, _) = open(&bus, "pub", true, Some(Duration::ZERO));
    let (slow, _) = open(&bus, "slow", true, Some(Duration::ZERO));
    sub(&slow.handle, "t", QoS::AtMostOnce, None);
    let now = Instant::now();
    let mut batch = PublishBatch::new();
    for _ in 0..3 {
        publisher.handle.publish_into(&mut batch, msg("t", "x", QoS::AtMostOnce), now).unwrap();
        assert!(!batch.should_flush(), "not congested before the flush");
    }
    assert!(publisher.handle.flush(&mut batch, now).is_some(), "3 of 4 queued: congested");
    publisher.handle.publish_into(&mut batch, msg("t", "x", QoS::AtMostOnce), now).unwrap();
    assert!(batch.should_flush(), "one more message at most for a congested subscriber");
    publisher.handle.flush(&mut batch, now);
    let mut out = Vec::new();
    slow.handle.take_outbound(now, 10, 10, &mut out);
    publisher.handle.publish_into(&mut batch, msg("t", "x", QoS::AtMostOnce), now).unwrap();
    assert!(!batch.should_flush(), "drained: batching again");
}
