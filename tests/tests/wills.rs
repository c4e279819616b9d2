//! Will messages (§3.1.2.5, §3.1.3.2).

use std::time::{Duration, Instant};

use bytes::Bytes;
use gw_tests::codec::{reason, Connect, Disconnect, LastWill, Packet, ProtocolVersion, QoS, WillProperties};
use gw_tests::{connect_packet, spawn_gateway, TestClient};

fn with_will(version: ProtocolVersion, client_id: &str, topic: &str, delay: Option<u32>) -> Connect {
    let mut c = connect_packet(version, client_id);
    c.will = Some(LastWill {
        topic: topic.to_owned().into(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties { will_delay_interval: delay, ..Default::default() },
    });
    c
}

/// [MQTT-3.1.2-8]: a network close without DISCONNECT publishes the will.
#[tokio::test]
async fn will_published_on_abnormal_close() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v311(gw.tcp, "will-sub").await;
    sub.subscribe("will/t", QoS::AtLeastOnce).await;
    let c = TestClient::connect(gw.tcp, with_will(ProtocolVersion::V3_1_1, "will-1", "will/t", None)).await;
    drop(c);
    let got = sub.recv_publish_acked().await;
    assert_eq!(got.topic.as_str(), "will/t");
    assert_eq!(got.payload.as_ref(), b"gone");
    assert_eq!(got.qos, QoS::AtLeastOnce);
    assert_eq!(gw.metric("messages_will_published"), 1);
}

/// [MQTT-3.1.2-10]/[MQTT-3.14.4-3]: DISCONNECT (normal) discards the will, in 3.1.1 and 5.0.
#[tokio::test]
async fn will_not_published_on_normal_disconnect() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v5(gw.tcp, "nowill-sub").await;
    sub.subscribe("nowill/t", QoS::AtLeastOnce).await;
    for (version, id) in [(ProtocolVersion::V3_1_1, "nowill-311"), (ProtocolVersion::V5, "nowill-5")] {
        let c = TestClient::connect(gw.tcp, with_will(version, id, "nowill/t", None)).await;
        c.disconnect().await;
    }
    sub.recv_none_within(Duration::from_millis(500)).await;
    assert_eq!(gw.metric("messages_will_published"), 0);
}

/// MQTT 5 DISCONNECT 0x04 Disconnect with Will Message publishes the will (§3.14.2.1).
#[tokio::test]
async fn will_published_on_disconnect_with_will_message() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v5(gw.tcp, "w04-sub").await;
    sub.subscribe("w04/t", QoS::AtLeastOnce).await;
    let mut c = TestClient::connect(gw.tcp, with_will(ProtocolVersion::V5, "w04", "w04/t", None)).await;
    c.send(Packet::Disconnect(Disconnect { reason_code: reason::DISCONNECT_WITH_WILL_MESSAGE, ..Default::default() }))
        .await;
    c.expect_closed().await;
    assert_eq!(sub.recv_publish_acked().await.payload.as_ref(), b"gone");
}

/// MQTT 5 Will Delay Interval 1 s with a session that outlives it: the will is published
/// about 1 s after the close, not at once [MQTT-3.1.3-9].
#[tokio::test]
async fn will_delay_interval() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v5(gw.tcp, "wd-sub").await;
    sub.subscribe("wd/t", QoS::AtLeastOnce).await;
    let mut connect = with_will(ProtocolVersion::V5, "wd-1", "wd/t", Some(1));
    connect.properties.session_expiry_interval = Some(60);
    let c = TestClient::connect(gw.tcp, connect).await;
    let closed_at = Instant::now();
    drop(c);
    sub.recv_none_within(Duration::from_millis(600)).await;
    let got = sub.recv_publish_acked().await;
    assert_eq!(got.payload.as_ref(), b"gone");
    let elapsed = closed_at.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "will published after {elapsed:?}");
}

/// [MQTT-3.1.3-9]: a reconnect of the session before the will delay elapses cancels the
/// will.
#[tokio::test]
async fn will_delay_cancelled_by_reconnect() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v5(gw.tcp, "wdc-sub").await;
    sub.subscribe("wdc/t", QoS::AtLeastOnce).await;
    let mut connect = with_will(ProtocolVersion::V5, "wdc-1", "wdc/t", Some(1));
    connect.properties.session_expiry_interval = Some(60);
    let c = TestClient::connect(gw.tcp, connect.clone()).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    connect.clean_start = false;
    connect.will = None;
    let c = TestClient::connect(gw.tcp, connect).await;
    assert!(c.connack.session_present);
    sub.recv_none_within(Duration::from_millis(1500)).await;
    assert_eq!(gw.metric("messages_will_published"), 0);
}

/// [MQTT-3.1.3-9]: a will delay longer than the session expiry: the will is published when
/// the session ends (expiry 1 s), not after its own 10 s delay.
#[tokio::test]
async fn will_published_at_session_end_before_delay() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v5(gw.tcp, "wse-sub").await;
    sub.subscribe("wse/t", QoS::AtLeastOnce).await;
    let mut connect = with_will(ProtocolVersion::V5, "wse-1", "wse/t", Some(10));
    connect.properties.session_expiry_interval = Some(1);
    let c = TestClient::connect(gw.tcp, connect).await;
    let closed_at = Instant::now();
    drop(c);
    sub.recv_none_within(Duration::from_millis(500)).await;
    assert_eq!(sub.recv_publish_acked().await.payload.as_ref(), b"gone");
    assert!(closed_at.elapsed() < Duration::from_secs(4));
    assert_eq!(gw.bus().session_count(), 1, "only the subscriber's session is left");
}
