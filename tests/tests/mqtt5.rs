//! MQTT 5 features: subscription identifiers, No Local, Retain As Published, topic aliases,
//! Receive Maximum, Message Expiry, Maximum Packet Size.

use std::time::Duration;

use gw_tests::codec::{reason, Connect, Packet, ProtocolVersion, PubAck, Publish, QoS, SubscriptionOptions};
use gw_tests::{connect_packet, publish_packet, spawn_gateway, TestClient};

fn opts(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions { qos, ..Default::default() }
}

fn v5(client_id: &str, customize: impl FnOnce(&mut Connect)) -> Connect {
    let mut c = connect_packet(ProtocolVersion::V5, client_id);
    customize(&mut c);
    c
}

/// [MQTT-3.3.4-2]/[MQTT-3.3.4-3]/[MQTT-3.3.4-5]: overlapping subscriptions of one session
/// give one delivery, at the highest QoS granted, carrying every subscription identifier.
#[tokio::test]
async fn overlapping_subscriptions_one_delivery_with_all_ids() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v5(gw.tcp, "ov-sub").await;
    assert_eq!(sub.subscribe_with("ov/+", opts(QoS::AtMostOnce), Some(1)).await, vec![0]);
    assert_eq!(sub.subscribe_with("ov/b", opts(QoS::ExactlyOnce), Some(2)).await, vec![2]);
    assert_eq!(sub.subscribe_with("ov/#", opts(QoS::AtLeastOnce), Some(3)).await, vec![1]);
    let mut publ = TestClient::v5(gw.tcp, "ov-pub").await;
    publ.publish_simple("ov/b", b"x", QoS::ExactlyOnce).await;
    let got = sub.recv_publish().await;
    assert_eq!(got.qos, QoS::ExactlyOnce, "highest QoS of the matching subscriptions");
    let mut ids = got.properties.subscription_identifiers.clone();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3]);
    sub.ack(&got).await;
    sub.recv_none_within(Duration::from_millis(300)).await;
}

/// [MQTT-3.8.3-3] No Local: a session's own publishes are not sent back to it.
#[tokio::test]
async fn no_local() {
    let gw = spawn_gateway(|_| {}).await;
    let mut me = TestClient::v5(gw.tcp, "nl-me").await;
    let mut other = TestClient::v5(gw.tcp, "nl-other").await;
    me.subscribe_with("nl/t", SubscriptionOptions { no_local: true, ..opts(QoS::AtLeastOnce) }, None).await;
    other.subscribe("nl/t", QoS::AtLeastOnce).await;
    assert_eq!(me.publish_simple("nl/t", b"mine", QoS::AtLeastOnce).await, reason::SUCCESS);
    assert_eq!(other.recv_publish_acked().await.payload.as_ref(), b"mine");
    me.recv_none_within(Duration::from_millis(300)).await;
    // Others' publishes still reach it.
    other.publish_simple("nl/t", b"theirs", QoS::AtLeastOnce).await;
    assert_eq!(me.recv_publish_acked().await.payload.as_ref(), b"theirs");
}

/// [MQTT-3.3.1-12]/[MQTT-3.3.1-13] Retain As Published: 1 keeps the RETAIN flag of a live
/// retained publish, 0 clears it.
#[tokio::test]
async fn retain_as_published() {
    let gw = spawn_gateway(|_| {}).await;
    let mut rap = TestClient::v5(gw.tcp, "rap-1").await;
    let mut plain = TestClient::v5(gw.tcp, "rap-0").await;
    rap.subscribe_with("rap/t", SubscriptionOptions { retain_as_published: true, ..opts(QoS::AtLeastOnce) }, None)
        .await;
    plain.subscribe("rap/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "rap-pub").await;
    let mut p = publish_packet("rap/t", b"r", QoS::AtLeastOnce);
    p.retain = true;
    publ.publish(p).await;
    assert!(rap.recv_publish_acked().await.retain, "retain as published");
    assert!(!plain.recv_publish_acked().await.retain, "RETAIN cleared without retain as published");
}

/// §3.3.2.3.4 inbound Topic Alias: a PUBLISH with topic + alias defines it; a PUBLISH with an
/// empty topic and the alias uses it.
#[tokio::test]
async fn inbound_topic_alias() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v5(gw.tcp, "tai-sub").await;
    sub.subscribe("tai/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "tai-pub").await;
    assert!(publ.connack.properties.topic_alias_maximum.unwrap_or(0) >= 1, "server offers topic aliases");
    let mut first = publish_packet("tai/t", b"1", QoS::AtLeastOnce);
    first.properties.topic_alias = Some(1);
    assert_eq!(publ.publish(first).await, reason::SUCCESS);
    let mut second = publish_packet("", b"2", QoS::AtLeastOnce);
    second.properties.topic_alias = Some(1);
    assert_eq!(publ.publish(second).await, reason::SUCCESS);
    for payload in [b"1", b"2"] {
        let got = sub.recv_publish_acked().await;
        assert_eq!(got.topic.as_str(), "tai/t");
        assert_eq!(got.payload.as_ref(), payload);
        assert_eq!(got.properties.topic_alias, None, "subscriber declared no Topic Alias Maximum");
    }
}

/// §3.3.4: an empty topic with a Topic Alias that has no mapping is a Protocol Error
/// (DISCONNECT 0x82).
#[tokio::test]
async fn inbound_unknown_topic_alias_is_protocol_error() {
    let gw = spawn_gateway(|_| {}).await;
    let mut publ = TestClient::v5(gw.tcp, "tau-pub").await;
    let mut p = publish_packet("", b"x", QoS::AtMostOnce);
    p.properties.topic_alias = Some(3);
    publ.send(Packet::Publish(p)).await;
    publ.expect_disconnect(reason::PROTOCOL_ERROR).await;
}

/// Outbound Topic Alias (§3.3.2.3.4): with a client Topic Alias Maximum of 5 the server may
/// map a topic; the second delivery on the same topic carries an empty topic and the alias.
#[tokio::test]
async fn outbound_topic_alias() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::connect(gw.tcp, v5("tao-sub", |c| c.properties.topic_alias_maximum = Some(5))).await;
    sub.subscribe("tao/t", QoS::AtMostOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "tao-pub").await;
    publ.publish_simple("tao/t", b"1", QoS::AtMostOnce).await;
    publ.publish_simple("tao/t", b"2", QoS::AtMostOnce).await;
    let first = sub.recv_publish().await;
    let second = sub.recv_publish().await;
    let alias = first.properties.topic_alias.expect("first delivery defines an alias");
    assert!((1..=5).contains(&alias), "[MQTT-3.3.2-10] alias {alias} within the client's maximum");
    assert_eq!(first.topic.as_str(), "tao/t");
    assert_eq!(second.topic.as_str(), "", "second delivery uses the alias alone");
    assert_eq!(second.properties.topic_alias, Some(alias));
    assert_eq!(second.payload.as_ref(), b"2");
}

/// [MQTT-3.3.4-9] Receive Maximum 1 from the client: one unacknowledged QoS 1 delivery at a
/// time.
#[tokio::test]
async fn client_receive_maximum_respected() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::connect(gw.tcp, v5("rm-sub", |c| c.properties.receive_maximum = Some(1))).await;
    sub.subscribe("rm/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "rm-pub").await;
    for i in 1..=3u8 {
        publ.publish_simple("rm/t", &[i], QoS::AtLeastOnce).await;
    }
    for i in 1..=3u8 {
        let got = sub.recv_publish().await;
        assert_eq!(got.payload.as_ref(), &[i]);
        sub.recv_none_within(Duration::from_millis(250)).await;
        sub.send(Packet::PubAck(PubAck::new(got.packet_id.unwrap()))).await;
    }
    sub.recv_none_within(Duration::from_millis(200)).await;
}

/// [MQTT-3.3.2-6]: the Message Expiry Interval sent on is the original minus the time the
/// message waited; [MQTT-3.3.2-5]: an expired message is not delivered.
#[tokio::test]
async fn message_expiry_restamped_and_enforced() {
    let gw = spawn_gateway(|_| {}).await;
    let persistent = |c: &mut Connect| c.properties.session_expiry_interval = Some(60);
    let mut sub = TestClient::connect(gw.tcp, v5("me-sub", persistent)).await;
    sub.subscribe("me/t", QoS::AtLeastOnce).await;
    sub.disconnect().await;

    let mut publ = TestClient::v5(gw.tcp, "me-pub").await;
    let mut short = publish_packet("me/t", b"short", QoS::AtLeastOnce);
    short.properties.message_expiry_interval = Some(1);
    publ.publish(short).await;
    let mut long = publish_packet("me/t", b"long", QoS::AtLeastOnce);
    long.properties.message_expiry_interval = Some(60);
    publ.publish(long).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let mut sub = TestClient::connect(
        gw.tcp,
        v5("me-sub", |c| {
            persistent(c);
            c.clean_start = false;
        }),
    )
    .await;
    assert!(sub.connack.session_present);
    let got = sub.recv_publish_acked().await;
    assert_eq!(got.payload.as_ref(), b"long", "the expired message is dropped");
    let left = got.properties.message_expiry_interval.expect("expiry interval forwarded");
    assert!(left <= 59, "remaining expiry {left} must be below the original 60 after 1.3 s");
    sub.recv_none_within(Duration::from_millis(200)).await;
    assert_eq!(gw.metric("delivery_dropped_expired"), 1);
}

/// [MQTT-3.1.2-25]: a message larger than the client's Maximum Packet Size is not sent (and
/// discarded as if delivered); the next, smaller one is, so the queue does not stall.
#[tokio::test]
async fn client_maximum_packet_size() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::connect(
        gw.tcp,
        v5("mps-sub", |c| {
            c.properties.maximum_packet_size = Some(256);
            c.properties.receive_maximum = Some(1);
        }),
    )
    .await;
    sub.subscribe("mps/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "mps-pub").await;
    publ.publish_simple("mps/t", &[7u8; 1000], QoS::AtLeastOnce).await;
    publ.publish_simple("mps/t", &[0u8; 1000], QoS::AtMostOnce).await;
    publ.publish_simple("mps/t", b"small", QoS::AtLeastOnce).await;
    let got: Publish = sub.recv_publish_acked().await;
    assert_eq!(got.payload.as_ref(), b"small");
    sub.recv_none_within(Duration::from_millis(300)).await;
    assert_eq!(gw.metric("delivery_dropped_too_large"), 2);
}

/// Subscription identifiers on a single subscription, and no identifier for a subscription
/// made without one [MQTT-3.3.4-4].
#[tokio::test]
async fn subscription_identifier_single() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v5(gw.tcp, "sid-sub").await;
    sub.subscribe_with("sid/a", opts(QoS::AtMostOnce), Some(42)).await;
    sub.subscribe("sid/b", QoS::AtMostOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "sid-pub").await;
    publ.publish_simple("sid/a", b"a", QoS::AtMostOnce).await;
    publ.publish_simple("sid/b", b"b", QoS::AtMostOnce).await;
    assert_eq!(sub.recv_publish().await.properties.subscription_identifiers, vec![42]);
    assert!(sub.recv_publish().await.properties.subscription_identifiers.is_empty());
}

/// PUBACK 0x10 No matching subscribers (§3.4.2.1).
#[tokio::test]
async fn puback_no_matching_subscribers() {
    let gw = spawn_gateway(|_| {}).await;
    let mut publ = TestClient::v5(gw.tcp, "nms-pub").await;
    assert_eq!(publ.publish_simple("nobody/here", b"x", QoS::AtLeastOnce).await, reason::NO_MATCHING_SUBSCRIBERS);
}

/// [MQTT-3.3.2-9]: a Topic Alias above the Topic Alias Maximum the server sent is a
/// DISCONNECT 0x94 Topic Alias invalid.
#[tokio::test]
async fn inbound_topic_alias_above_maximum() {
    let gw = spawn_gateway(|c| c.mqtt.max_topic_alias = 2).await;
    let mut publ = TestClient::v5(gw.tcp, "tam-pub").await;
    assert_eq!(publ.connack.properties.topic_alias_maximum, Some(2));
    let mut p = publish_packet("tam/t", b"x", QoS::AtMostOnce);
    p.properties.topic_alias = Some(3);
    publ.send(Packet::Publish(p)).await;
    publ.expect_disconnect(reason::TOPIC_ALIAS_INVALID).await;
}

/// [MQTT-3.3.4-9] with QoS 2: a PUBREC does not free the Receive Maximum slot, only the
/// PUBCOMP does (§4.9).
#[tokio::test]
async fn client_receive_maximum_qos2_until_pubcomp() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::connect(gw.tcp, v5("rm2-sub", |c| c.properties.receive_maximum = Some(1))).await;
    sub.subscribe("rm2/t", QoS::ExactlyOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "rm2-pub").await;
    publ.publish_simple("rm2/t", b"1", QoS::ExactlyOnce).await;
    publ.publish_simple("rm2/t", b"2", QoS::ExactlyOnce).await;
    let first = sub.recv_publish().await;
    let id = first.packet_id.unwrap();
    sub.send(Packet::PubRec(PubAck::new(id))).await;
    assert_eq!(sub.recv().await, Packet::PubRel(PubAck::new(id)));
    sub.recv_none_within(Duration::from_millis(300)).await;
    sub.send(Packet::PubComp(PubAck::new(id))).await;
    assert_eq!(sub.recv_publish_acked().await.payload.as_ref(), b"2");
}

/// Retained messages sent on subscribe carry the subscription's identifier (§3.8.2.1.2).
#[tokio::test]
async fn retained_on_subscribe_carries_subscription_identifier() {
    let gw = spawn_gateway(|_| {}).await;
    let mut publ = TestClient::v5(gw.tcp, "rsid-pub").await;
    let mut p = publish_packet("rsid/t", b"r", QoS::AtMostOnce);
    p.retain = true;
    publ.publish(p).await;
    let mut sub = TestClient::v5(gw.tcp, "rsid-sub").await;
    sub.subscribe_with("rsid/#", opts(QoS::AtMostOnce), Some(77)).await;
    let got = sub.recv_publish().await;
    assert!(got.retain);
    assert_eq!(got.properties.subscription_identifiers, vec![77]);
}

/// [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
#[tokio::test]
async fn no_local_on_shared_subscription_is_protocol_error() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::v5(gw.tcp, "nls-1").await;
    let id = c.next_id();
    c.send(Packet::Subscribe(gw_tests::codec::Subscribe {
        packet_id: id,
        filters: vec![("$share/g/nls/t".into(), SubscriptionOptions { no_local: true, ..opts(QoS::AtMostOnce) })],
        properties: Default::default(),
    }))
    .await;
    c.expect_disconnect(reason::PROTOCOL_ERROR).await;
}

/// Publish properties are forwarded unchanged (§3.3.2.3: payload format, content type,
/// response topic, correlation data, user properties [MQTT-3.3.2-17], [MQTT-3.3.2-18]).
#[tokio::test]
async fn publish_properties_forwarded() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v5(gw.tcp, "pp-sub").await;
    sub.subscribe("pp/t", QoS::AtMostOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "pp-pub").await;
    let mut p = publish_packet("pp/t", b"{}", QoS::AtMostOnce);
    p.properties.payload_format_indicator = Some(1);
    p.properties.content_type = Some("application/json".into());
    p.properties.response_topic = Some("pp/reply".into());
    p.properties.correlation_data = Some(bytes::Bytes::from_static(b"corr"));
    p.properties.user_properties = vec![("k".into(), "v1".into()), ("k".into(), "v2".into())];
    let sent = p.properties.clone();
    publ.publish(p).await;
    let got = sub.recv_publish().await;
    assert_eq!(got.properties.payload_format_indicator, sent.payload_format_indicator);
    assert_eq!(got.properties.content_type, sent.content_type);
    assert_eq!(got.properties.response_topic, sent.response_topic);
    assert_eq!(got.properties.correlation_data, sent.correlation_data);
    assert_eq!(got.properties.user_properties, sent.user_properties, "order kept");
}
