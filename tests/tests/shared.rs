//! Shared subscriptions (MQTT 5 §4.8.2, EMQX `$share/` and `$queue/`).

use std::collections::BTreeSet;
use std::time::Duration;

use gw_tests::codec::{Packet, PubAck, Publish, QoS};
use gw_tests::{spawn_gateway, wait_until, TestClient};

/// Receives `n` publishes, acknowledging them, and returns their payloads.
async fn collect(c: &mut TestClient, n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(c.recv_publish_acked().await.payload.to_vec());
    }
    out
}

/// §4.8.2: each message to `$share/g/t` goes to exactly one member: the two members' sets
/// are disjoint and their union is every message (round robin gives each one half).
#[tokio::test]
async fn shared_group_members_get_disjoint_sets() {
    let gw = spawn_gateway(|_| {}).await;
    let mut a = TestClient::v5(gw.tcp, "sh-a").await;
    let mut b = TestClient::v5(gw.tcp, "sh-b").await;
    a.subscribe("$share/g/sh/t", QoS::AtLeastOnce).await;
    b.subscribe("$share/g/sh/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "sh-pub").await;
    let all: BTreeSet<Vec<u8>> = (0..10u8).map(|i| vec![i]).collect();
    for m in &all {
        publ.publish_simple("sh/t", m, QoS::AtLeastOnce).await;
    }
    // Round robin over two connected members: 5 each.
    let got_a: BTreeSet<_> = collect(&mut a, 5).await.into_iter().collect();
    let got_b: BTreeSet<_> = collect(&mut b, 5).await.into_iter().collect();
    a.recv_none_within(Duration::from_millis(200)).await;
    b.recv_none_within(Duration::from_millis(100)).await;
    assert!(got_a.is_disjoint(&got_b), "a {got_a:?} and b {got_b:?} overlap");
    let union: BTreeSet<_> = got_a.union(&got_b).cloned().collect();
    assert_eq!(union, all);
}

/// EMQX redispatch: a member that leaves for good (clean session) with unacknowledged QoS 1
/// shared messages in flight has them delivered to another member of the group.
#[tokio::test]
async fn unacked_shared_messages_redispatched_when_member_leaves() {
    let gw = spawn_gateway(|_| {}).await;
    let mut a = TestClient::v311(gw.tcp, "rd-a").await;
    let mut b = TestClient::v311(gw.tcp, "rd-b").await;
    a.subscribe("$share/g/rd/t", QoS::AtLeastOnce).await;
    b.subscribe("$share/g/rd/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v311(gw.tcp, "rd-pub").await;
    for i in 0..4u8 {
        publ.publish_simple("rd/t", &[i], QoS::AtLeastOnce).await;
    }
    // a keeps its two unacknowledged; b acknowledges its two.
    let a_held: Vec<Publish> = vec![a.recv_publish().await, a.recv_publish().await];
    let b_got = collect(&mut b, 2).await;
    a.recv_none_within(Duration::from_millis(100)).await;
    drop(a); // network close, clean session: the session ends with the connection
    wait_until("a's session ends", || gw.bus().session_count() == 2).await;

    let mut redelivered = BTreeSet::new();
    for _ in 0..2 {
        let p = b.recv_publish().await;
        assert_eq!(p.qos, QoS::AtLeastOnce);
        b.send(Packet::PubAck(PubAck::new(p.packet_id.unwrap()))).await;
        redelivered.insert(p.payload.to_vec());
    }
    let held: BTreeSet<Vec<u8>> = a_held.iter().map(|p| p.payload.to_vec()).collect();
    assert_eq!(redelivered, held, "a's unacknowledged messages go to b");
    assert!(b_got.iter().all(|m| !held.contains(m)));
    assert_eq!(gw.metric("messages_redispatched"), 2);
    b.recv_none_within(Duration::from_millis(200)).await;
}

/// A shared subscription and a plain one on the same topic both get the message; the group
/// gets it once (§4.8.2).
#[tokio::test]
async fn shared_and_plain_subscriptions_coexist() {
    let gw = spawn_gateway(|_| {}).await;
    let mut plain = TestClient::v5(gw.tcp, "shp-plain").await;
    let mut m1 = TestClient::v5(gw.tcp, "shp-m1").await;
    let mut m2 = TestClient::v5(gw.tcp, "shp-m2").await;
    plain.subscribe("shp/t", QoS::AtMostOnce).await;
    m1.subscribe("$share/grp/shp/t", QoS::AtMostOnce).await;
    m2.subscribe("$share/grp/shp/t", QoS::AtMostOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "shp-pub").await;
    publ.publish_simple("shp/t", b"one", QoS::AtMostOnce).await;
    assert_eq!(plain.recv_publish().await.payload.as_ref(), b"one");
    let in_m1 = m1.try_recv(Duration::from_millis(300)).await;
    let in_m2 = m2.try_recv(Duration::from_millis(100)).await;
    assert!(in_m1.is_some() != in_m2.is_some(), "exactly one member: {in_m1:?} {in_m2:?}");
}
