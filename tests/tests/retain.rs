//! Retained messages (§3.3.1.3, MQTT 5 Retain Handling §3.8.3.1).

use std::time::Duration;

use gw_tests::codec::{QoS, RetainHandling, SubscriptionOptions};
use gw_tests::{publish_packet, spawn_gateway, TestClient};

async fn publish_retained(c: &mut TestClient, topic: &str, payload: &[u8]) {
    let mut p = publish_packet(topic, payload, QoS::AtLeastOnce);
    p.retain = true;
    c.publish(p).await;
}

/// [MQTT-3.3.1-5]/[MQTT-3.3.1-6]: a retained message is stored and sent to a later
/// subscriber with RETAIN = 1 [MQTT-3.3.1-8]; only the last one per topic is kept.
#[tokio::test]
async fn retained_sent_on_subscribe() {
    let gw = spawn_gateway(|_| {}).await;
    let mut publ = TestClient::v311(gw.tcp, "ret-pub").await;
    publish_retained(&mut publ, "ret/a", b"old").await;
    publish_retained(&mut publ, "ret/a", b"last").await;
    publish_retained(&mut publ, "ret/b", b"b").await;
    assert_eq!(gw.bus().retained_count(), 2);

    let mut sub = TestClient::v311(gw.tcp, "ret-sub").await;
    sub.subscribe("ret/a", QoS::AtLeastOnce).await;
    let got = sub.recv_publish_acked().await;
    assert!(got.retain, "[MQTT-3.3.1-8] RETAIN = 1 for a retained message on subscribe");
    assert_eq!(got.topic.as_str(), "ret/a");
    assert_eq!(got.payload.as_ref(), b"last");
    assert_eq!(got.qos, QoS::AtLeastOnce);
    sub.recv_none_within(Duration::from_millis(200)).await;

    // A live publish to an established subscription has RETAIN = 0 [MQTT-3.3.1-9].
    publish_retained(&mut publ, "ret/a", b"live").await;
    let live = sub.recv_publish_acked().await;
    assert_eq!(live.payload.as_ref(), b"live");
    assert!(!live.retain);
}

/// MQTT 5 Retain Handling 2: no retained messages on subscribe [MQTT-3.3.1-11]; 1: only for
/// a new subscription [MQTT-3.3.1-10].
#[tokio::test]
async fn retain_handling_suppresses() {
    let gw = spawn_gateway(|_| {}).await;
    let mut publ = TestClient::v5(gw.tcp, "rh-pub").await;
    publish_retained(&mut publ, "rh/t", b"r").await;

    let mut sub = TestClient::v5(gw.tcp, "rh-sub").await;
    let opts =
        SubscriptionOptions { qos: QoS::AtLeastOnce, retain_handling: RetainHandling::DoNotSend, ..Default::default() };
    assert_eq!(sub.subscribe_with("rh/t", opts, None).await, vec![1]);
    sub.recv_none_within(Duration::from_millis(300)).await;

    let mut sub1 = TestClient::v5(gw.tcp, "rh-sub1").await;
    let opts = SubscriptionOptions { retain_handling: RetainHandling::SendIfNew, ..opts };
    sub1.subscribe_with("rh/t", opts, None).await;
    assert_eq!(sub1.recv_publish_acked().await.payload.as_ref(), b"r");
    sub1.subscribe_with("rh/t", opts, None).await;
    sub1.recv_none_within(Duration::from_millis(300)).await;

    // Retain Handling 0 on an existing subscription sends again [MQTT-3.3.1-9].
    let opts = SubscriptionOptions { retain_handling: RetainHandling::SendAtSubscribe, ..opts };
    sub1.subscribe_with("rh/t", opts, None).await;
    assert_eq!(sub1.recv_publish_acked().await.payload.as_ref(), b"r");
}

/// [MQTT-3.3.1-10] (3.1.1) / [MQTT-3.3.1-6]: a retained message with an empty payload
/// deletes the retained message of the topic and is not stored itself.
#[tokio::test]
async fn empty_retained_payload_deletes() {
    let gw = spawn_gateway(|_| {}).await;
    let mut publ = TestClient::v311(gw.tcp, "del-pub").await;
    publish_retained(&mut publ, "del/t", b"keep").await;
    assert_eq!(gw.bus().retained_count(), 1);
    publish_retained(&mut publ, "del/t", b"").await;
    assert_eq!(gw.bus().retained_count(), 0);

    let mut sub = TestClient::v311(gw.tcp, "del-sub").await;
    sub.subscribe("del/#", QoS::AtLeastOnce).await;
    sub.recv_none_within(Duration::from_millis(300)).await;
}

/// Wildcard subscriptions get every matching retained message; `$`-topics are not matched by
/// a leading wildcard [MQTT-4.7.2-1].
#[tokio::test]
async fn retained_wildcard_match() {
    let gw = spawn_gateway(|_| {}).await;
    let mut publ = TestClient::v311(gw.tcp, "rw-pub").await;
    publish_retained(&mut publ, "rw/1", b"1").await;
    publish_retained(&mut publ, "rw/2/x", b"2").await;
    publish_retained(&mut publ, "$rw/3", b"3").await;
    let mut sub = TestClient::v311(gw.tcp, "rw-sub").await;
    sub.subscribe("#", QoS::AtMostOnce).await;
    let mut got = vec![sub.recv_publish().await.payload.to_vec(), sub.recv_publish().await.payload.to_vec()];
    got.sort();
    assert_eq!(got, vec![b"1".to_vec(), b"2".to_vec()]);
    sub.recv_none_within(Duration::from_millis(300)).await;
}
