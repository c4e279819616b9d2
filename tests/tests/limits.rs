//! Limits, malformed input and timeouts: the gateway refuses what it must and keeps serving
//! other clients.

use std::time::{Duration, Instant};

use gw_tests::codec::{reason, Packet, ProtocolVersion, QoS};
use gw_tests::{connect_packet, publish_packet, spawn_gateway, ByteSize, ConfigDuration, TestClient};

/// A second client can still do a QoS 1 round trip.
async fn gateway_still_works(addr: std::net::SocketAddr, tag: &str) {
    let mut sub = TestClient::v5(addr, &format!("{tag}-ok-sub")).await;
    sub.subscribe("ok/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v311(addr, &format!("{tag}-ok-pub")).await;
    publ.publish_simple("ok/t", b"fine", QoS::AtLeastOnce).await;
    assert_eq!(sub.recv_publish_acked().await.payload.as_ref(), b"fine");
}

/// `mqtt.max_packet_size`: announced in CONNACK (§3.2.2.3.6); a bigger packet gets
/// DISCONNECT 0x95 Packet too large and the connection is closed [MQTT-3.2.2-15] (§4.13).
#[tokio::test]
async fn max_packet_size_exceeded() {
    let gw = spawn_gateway(|c| c.mqtt.max_packet_size = ByteSize(1024)).await;
    let mut c = TestClient::v5(gw.tcp, "big-1").await;
    assert_eq!(c.connack.properties.maximum_packet_size, Some(1024));
    // Just under the limit is fine.
    c.publish_simple("big/t", &[1u8; 900], QoS::AtLeastOnce).await;
    c.send(Packet::Publish(publish_packet("big/t", &[0u8; 2000], QoS::AtMostOnce))).await;
    c.expect_disconnect(reason::PACKET_TOO_LARGE).await;
    gateway_still_works(gw.tcp, "big").await;
}

/// 3.1.1 has no DISCONNECT from the server: an oversized packet just closes the connection.
#[tokio::test]
async fn max_packet_size_exceeded_v311() {
    let gw = spawn_gateway(|c| c.mqtt.max_packet_size = ByteSize(1024)).await;
    let mut c = TestClient::v311(gw.tcp, "big-311").await;
    c.send(Packet::Publish(publish_packet("big/t", &[0u8; 2000], QoS::AtMostOnce))).await;
    c.expect_closed().await;
}

/// §4.13 / [MQTT-4.13.1-1]: malformed bytes after a 5.0 CONNECT give DISCONNECT 0x81
/// Malformed Packet and a close; another client keeps working.
#[tokio::test]
async fn garbage_after_connect_v5() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::v5(gw.tcp, "garbage-1").await;
    // PUBLISH whose topic length (5) exceeds its remaining length (2).
    c.send_raw(&[0x30, 0x02, 0x00, 0x05]).await;
    c.expect_disconnect(reason::MALFORMED_PACKET).await;

    let mut c = TestClient::v5(gw.tcp, "garbage-2").await;
    // Reserved packet type 0 [MQTT-2.1.3-1] / §2.1.2.
    c.send_raw(&[0x00, 0x00]).await;
    c.expect_disconnect(reason::MALFORMED_PACKET).await;

    gateway_still_works(gw.tcp, "garbage").await;
}

/// [MQTT-3.1.0-1]: the first packet must be CONNECT; otherwise the connection is closed
/// without a reply.
#[tokio::test]
async fn first_packet_not_connect() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::open(gw.tcp, ProtocolVersion::V3_1_1).await;
    c.send(Packet::PingReq).await;
    c.expect_closed().await;
    gateway_still_works(gw.tcp, "first").await;
}

/// [MQTT-3.1.0-2]: a second CONNECT is a protocol error (5.0: DISCONNECT 0x82).
#[tokio::test]
async fn second_connect_is_protocol_error() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::v5(gw.tcp, "twice-1").await;
    c.send(Packet::Connect(Box::new(connect_packet(ProtocolVersion::V5, "twice-1")))).await;
    c.expect_disconnect(reason::PROTOCOL_ERROR).await;
}

/// [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK return code 0x01 and a close.
#[tokio::test]
async fn unsupported_protocol_level() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::open(gw.tcp, ProtocolVersion::V3_1_1).await;
    // CONNECT, protocol name "MQTT", level 6, clean session, keep alive 60, empty client id.
    c.send_raw(&[0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x00]).await;
    match c.recv().await {
        Packet::ConnAck(ack) => assert_eq!(ack.code, reason::v3::UNACCEPTABLE_PROTOCOL_VERSION),
        other => panic!("expected CONNACK 0x01, got {other:?}"),
    }
    c.expect_closed().await;
}

/// `mqtt.max_clientid_len`: a longer client id is refused with 0x85 (5.0) / 0x02 (3.1.1)
/// [MQTT-3.1.3-9 (3.1.1)].
#[tokio::test]
async fn client_id_too_long() {
    let gw = spawn_gateway(|c| c.mqtt.max_clientid_len = 23).await;
    let long = "x".repeat(30);
    let mut c = TestClient::connect_any(gw.tcp, connect_packet(ProtocolVersion::V5, &long)).await;
    assert_eq!(c.connack.code, reason::CLIENT_IDENTIFIER_NOT_VALID);
    c.expect_closed().await;
    let mut c = TestClient::connect_any(gw.tcp, connect_packet(ProtocolVersion::V3_1_1, &long)).await;
    assert_eq!(c.connack.code, reason::v3::IDENTIFIER_REJECTED);
    c.expect_closed().await;
}

/// Invalid topic filters are refused per filter in SUBACK: 0x8F (5.0), 0x80 (3.1.1)
/// [MQTT-4.7.1-2].
#[tokio::test]
async fn invalid_topic_filter_refused() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::v5(gw.tcp, "filter-5").await;
    let codes = c.subscribe_with("a/#/b", Default::default(), None).await;
    assert_eq!(codes, vec![reason::TOPIC_FILTER_INVALID]);
    let mut c = TestClient::v311(gw.tcp, "filter-311").await;
    let codes = c.subscribe_with("a/b#", Default::default(), None).await;
    assert_eq!(codes, vec![reason::v3::SUBACK_FAILURE]);
    assert_eq!(gw.bus().subscription_count(), 0);
}

/// `mqtt.idle_timeout = 1s`: a TCP connection that sends no CONNECT is closed after about
/// 1 s (EMQX idle_timeout; [MQTT-3.1.4-1] gives the server that right).
#[tokio::test]
async fn idle_timeout_closes_silent_connection() {
    let gw = spawn_gateway(|c| c.mqtt.idle_timeout = ConfigDuration::from_secs(1)).await;
    let start = Instant::now();
    let mut c = TestClient::open(gw.tcp, ProtocolVersion::V3_1_1).await;
    c.expect_closed().await;
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(4), "closed after {elapsed:?}");
    // A connected client is not subject to the idle timeout.
    let mut ok = TestClient::v311(gw.tcp, "idle-ok").await;
    ok.recv_none_within(Duration::from_millis(1500)).await;
    ok.send(Packet::PingReq).await;
    assert_eq!(ok.recv().await, Packet::PingResp);
}

/// [MQTT-3.1.2-22]: Keep Alive 1 s × 1.5 without a packet closes the connection (5.0 may
/// send DISCONNECT 0x8D Keep Alive timeout first); PINGREQ keeps it open.
#[tokio::test]
async fn keepalive_timeout() {
    let gw = spawn_gateway(|_| {}).await;
    let mut connect = connect_packet(ProtocolVersion::V5, "ka-1");
    connect.keep_alive = 1;
    let mut c = TestClient::connect(gw.tcp, connect.clone()).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.send(Packet::PingReq).await;
        assert_eq!(c.recv().await, Packet::PingResp);
    }
    let start = Instant::now();
    match c.try_recv(Duration::from_secs(4)).await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, reason::KEEP_ALIVE_TIMEOUT),
        Some(other) => panic!("expected DISCONNECT 0x8D or a close, got {other:?}"),
        None => panic!("not closed by keep alive"),
    }
    c.expect_closed().await;
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(1200), "closed after {elapsed:?}");
}

/// `mqtt.max_qos_allowed = 1`: CONNACK Maximum QoS 1; a SUBSCRIBE for QoS 2 is granted
/// QoS 1, and a QoS 2 PUBLISH gets DISCONNECT 0x9B QoS not supported (§3.2.2.3.4).
#[tokio::test]
async fn max_qos_allowed() {
    let gw = spawn_gateway(|c| c.mqtt.max_qos_allowed = 1).await;
    let mut c = TestClient::v5(gw.tcp, "mq-1").await;
    assert_eq!(c.connack.properties.maximum_qos, Some(1));
    let codes = c
        .subscribe_with(
            "mq/t",
            gw_tests::codec::SubscriptionOptions { qos: QoS::ExactlyOnce, ..Default::default() },
            None,
        )
        .await;
    assert_eq!(codes, vec![1]);
    c.send(Packet::Publish({
        let mut p = publish_packet("mq/t", b"x", QoS::ExactlyOnce);
        p.packet_id = Some(gw_tests::pid(1));
        p
    }))
    .await;
    c.expect_disconnect(reason::QOS_NOT_SUPPORTED).await;
}

/// `mqtt.retain_available = false`: CONNACK Retain Available 0; a retained PUBLISH gets
/// DISCONNECT 0x9A Retain not supported (§3.2.2.3.5).
#[tokio::test]
async fn retain_not_available() {
    let gw = spawn_gateway(|c| c.mqtt.retain_available = false).await;
    let mut c = TestClient::v5(gw.tcp, "rna-1").await;
    assert_eq!(c.connack.properties.retain_available, Some(0));
    let mut p = publish_packet("rna/t", b"x", QoS::AtMostOnce);
    p.retain = true;
    c.send(Packet::Publish(p)).await;
    c.expect_disconnect(reason::RETAIN_NOT_SUPPORTED).await;
    assert_eq!(gw.bus().retained_count(), 0);
}
