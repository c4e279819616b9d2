//! Router benchmarks: matching against 100k subscriptions (exact and wildcard) and fan-out.

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gw_core::bus::{
    Bus, BusConfig, ClientId, Doorbell, Message, OpenSession, QoS, RetainHandling, Sent, SessionHandle, SubOptions,
    SubscriptionFilter, SubscriptionTrie, Topic, TopicFilter,
};
use tokio::time::Instant;

fn trie_with(n: u32, wildcard: bool) -> SubscriptionTrie {
    let mut trie = SubscriptionTrie::new();
    for i in 0..n {
        let f =
            if wildcard { format!("site/{}/+/temp/#", i % 1000) } else { format!("site/{}/dev/{i}/temp", i % 1000) };
        trie.insert(&TopicFilter::new(f).unwrap(), None, i, SubOptions::default());
    }
    trie
}

fn bench_trie(c: &mut Criterion) {
    let exact = trie_with(100_000, false);
    let topic = Topic::new("site/42/dev/50042/temp").unwrap();
    c.bench_function("trie_match_100k_exact", |b| {
        b.iter(|| {
            let mut n = 0;
            exact.for_each_match(&topic, |leaf| n += leaf.subs.len());
            assert_eq!(n, 1);
        })
    });
    let wild = trie_with(100_000, true);
    let topic = Topic::new("site/42/dev7/temp/x").unwrap();
    c.bench_function("trie_match_100k_wildcard", |b| {
        b.iter(|| {
            let mut n = 0;
            wild.for_each_match(&topic, |leaf| n += leaf.subs.len());
            assert_eq!(n, 100);
        })
    });
}

/// A bus with 1000 sessions subscribed to `fan/out` at `qos`, and their handles.
fn fanout_bus(qos: QoS) -> (Bus, Vec<SessionHandle>) {
    let bus = Bus::new(BusConfig::default());
    let now = Instant::now();
    let mut handles = Vec::new();
    for i in 0..1000 {
        let opened = bus.open_session(
            OpenSession {
                client_id: ClientId::new(format!("sub{i}")),
                clean_start: true,
                expiry: Some(std::time::Duration::ZERO),
                will: None,
                doorbell: Arc::new(Doorbell::new()),
            },
            now,
        );
        let opts = SubOptions { qos, ..SubOptions::default() };
        opened
            .handle
            .subscribe(&SubscriptionFilter::parse("fan/out").unwrap(), opts, RetainHandling::Send, now)
            .unwrap();
        handles.push(opened.handle);
    }
    (bus, handles)
}

fn bench_fanout(c: &mut Criterion) {
    fanout_case(c, "bus_fanout_1000_qos0_publish_and_drain", QoS::AtMostOnce);
    // QoS 1: each delivery also enters and leaves its session's in-flight window (the
    // subscriber's PUBACK), as in the socket yardstick's fanout1000-q1.
    fanout_case(c, "bus_fanout_1000_qos1_publish_drain_and_ack", QoS::AtLeastOnce);
}

/// One message published to 1000 subscribers at `qos`, taken by each and, QoS 1, acknowledged.
fn fanout_case(c: &mut Criterion, name: &str, qos: QoS) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = rt.enter();
    let now = Instant::now();
    let topic = Topic::new("fan/out").unwrap();
    let payload = Bytes::from_static(&[0u8; 64]);
    let (bus, handles) = fanout_bus(qos);
    let mut acked = Vec::new();
    c.bench_function(name, |b| {
        b.iter_batched(
            || Message::new(topic.clone(), payload.clone(), qos, false),
            |msg| {
                let outcome = bus.publish(msg, now).unwrap();
                assert_eq!(outcome.matched, 1000);
                for h in &handles {
                    // As the MQTT front-end takes them: by reference, under the session lock.
                    acked.clear();
                    h.send_outbound(now, 32, 64, |delivery, packet_id| {
                        black_box(&delivery.message.payload);
                        acked.extend(packet_id);
                        Sent::Sent
                    });
                    if !acked.is_empty() {
                        h.complete_all(&acked);
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench_trie, bench_fanout);
criterion_main!(benches);
