//! Persistent sessions: redelivery on reconnect, inflight window, offline queue, expiry,
//! takeover.

use std::time::Duration;

use gw_core::bus::ClientId;
use gw_tests::codec::{reason, Packet, ProtocolVersion, PubAck, QoS};
use gw_tests::{connect_packet, spawn_gateway, wait_until, TestClient};

/// A 3.1.1 CONNECT with Clean Session = 0.
fn persistent_v311(client_id: &str) -> gw_tests::codec::Connect {
    let mut c = connect_packet(ProtocolVersion::V3_1_1, client_id);
    c.clean_start = false;
    c
}

/// A 5.0 CONNECT with the given Clean Start and Session Expiry Interval.
fn v5_session(client_id: &str, clean_start: bool, expiry: u32) -> gw_tests::codec::Connect {
    let mut c = connect_packet(ProtocolVersion::V5, client_id);
    c.clean_start = clean_start;
    c.properties.session_expiry_interval = Some(expiry);
    c
}

/// [MQTT-4.4.0-1]: an unacknowledged QoS 1 PUBLISH is resent on reconnect with Clean
/// Session = 0, with DUP = 1 [MQTT-3.3.1-1], the same packet id and the same content.
#[tokio::test]
async fn unacked_qos1_resent_with_dup_after_reconnect() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::connect(gw.tcp, persistent_v311("resend-sub")).await;
    sub.subscribe("resend/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v311(gw.tcp, "resend-pub").await;
    publ.publish_simple("resend/t", b"hello", QoS::AtLeastOnce).await;
    let first = sub.recv_publish().await;
    assert_eq!(first.qos, QoS::AtLeastOnce);
    assert!(!first.dup);
    // No PUBACK: drop the connection.
    drop(sub);
    wait_until("the session is detached", || !gw.bus().is_connected(&ClientId::new("resend-sub"))).await;

    let mut sub = TestClient::connect(gw.tcp, persistent_v311("resend-sub")).await;
    assert!(sub.connack.session_present, "[MQTT-3.2.2-2] session present");
    let again = sub.recv_publish().await;
    assert!(again.dup, "[MQTT-3.3.1-1] DUP must be 1 on redelivery");
    assert_eq!(again.packet_id, first.packet_id);
    assert_eq!(again.topic, first.topic);
    assert_eq!(again.payload, first.payload);
    assert_eq!(again.qos, first.qos);
    sub.send(Packet::PubAck(PubAck::new(again.packet_id.unwrap()))).await;
    sub.recv_none_within(Duration::from_millis(300)).await;
    sub.disconnect().await;

    // Acknowledged: not resent again.
    let mut sub = TestClient::connect(gw.tcp, persistent_v311("resend-sub")).await;
    sub.recv_none_within(Duration::from_millis(300)).await;
}

/// [MQTT-4.4.0-1]: after PUBREC but before PUBCOMP, a reconnect resends the PUBREL (not the
/// PUBLISH).
#[tokio::test]
async fn pubrel_resent_after_reconnect() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::connect(gw.tcp, persistent_v311("rel-sub")).await;
    sub.subscribe("rel/t", QoS::ExactlyOnce).await;
    let mut publ = TestClient::v311(gw.tcp, "rel-pub").await;
    publ.publish_simple("rel/t", b"x", QoS::ExactlyOnce).await;
    let got = sub.recv_publish().await;
    let id = got.packet_id.unwrap();
    sub.send(Packet::PubRec(PubAck::new(id))).await;
    assert_eq!(sub.recv().await, Packet::PubRel(PubAck::new(id)));
    drop(sub);
    wait_until("the session is detached", || !gw.bus().is_connected(&ClientId::new("rel-sub"))).await;

    let mut sub = TestClient::connect(gw.tcp, persistent_v311("rel-sub")).await;
    assert!(sub.connack.session_present);
    assert_eq!(sub.recv().await, Packet::PubRel(PubAck::new(id)), "PUBREL resent, not the PUBLISH");
    sub.send(Packet::PubComp(PubAck::new(id))).await;
    sub.recv_none_within(Duration::from_millis(300)).await;
}

/// `mqtt.max_inflight = 2`: at most 2 unacknowledged QoS 1 deliveries; one PUBACK lets the
/// next one out (§4.9 flow control; EMQX max_inflight).
#[tokio::test]
async fn inflight_window_limits_unacked_deliveries() {
    let gw = spawn_gateway(|c| c.mqtt.max_inflight = 2).await;
    let mut sub = TestClient::v311(gw.tcp, "win-sub").await;
    sub.subscribe("win/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v311(gw.tcp, "win-pub").await;
    for i in 1..=4u8 {
        publ.publish_simple("win/t", &[i], QoS::AtLeastOnce).await;
    }
    let m1 = sub.recv_publish().await;
    let m2 = sub.recv_publish().await;
    assert_eq!((m1.payload.as_ref(), m2.payload.as_ref()), (&[1u8][..], &[2u8][..]));
    sub.recv_none_within(Duration::from_millis(400)).await;

    sub.ack(&m1).await;
    let m3 = sub.recv_publish().await;
    assert_eq!(m3.payload.as_ref(), &[3]);
    sub.recv_none_within(Duration::from_millis(300)).await;
    sub.ack(&m2).await;
    sub.ack(&m3).await;
    let m4 = sub.recv_publish_acked().await;
    assert_eq!(m4.payload.as_ref(), &[4]);
}

/// A persistent session queues messages while offline; `mqtt.max_mqueue_len = 3` keeps the
/// newest 3 of 5 (drop oldest, as EMQX) and counts 2 in `delivery_dropped_queue_full`.
#[tokio::test]
async fn offline_queue_drops_oldest() {
    let gw = spawn_gateway(|c| c.mqtt.max_mqueue_len = 3).await;
    let mut sub = TestClient::connect(gw.tcp, v5_session("q-sub", true, 300)).await;
    sub.subscribe("q/t", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    assert_eq!(gw.bus().session_count(), 1, "session parked");

    let mut publ = TestClient::v311(gw.tcp, "q-pub").await;
    for i in 1..=5u8 {
        publ.publish_simple("q/t", &[i], QoS::AtLeastOnce).await;
    }
    assert_eq!(gw.metric("delivery_dropped_queue_full"), 2);

    let mut sub = TestClient::connect(gw.tcp, v5_session("q-sub", false, 300)).await;
    assert!(sub.connack.session_present);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(sub.recv_publish_acked().await.payload[0]);
    }
    assert_eq!(got, vec![3, 4, 5], "the newest 3, in order");
    sub.recv_none_within(Duration::from_millis(300)).await;
}

/// MQTT 5 Session Expiry Interval 1 s: the session ends 1 s after the disconnect
/// [MQTT-3.1.2-23]; a reconnect then gets Session Present 0 [MQTT-3.2.2-3].
#[tokio::test]
async fn session_expires_after_interval() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::connect(gw.tcp, v5_session("exp-1", true, 1)).await;
    c.subscribe("exp/t", QoS::AtLeastOnce).await;
    assert_eq!(gw.bus().subscription_count(), 1);
    c.disconnect().await;
    assert_eq!(gw.bus().session_count(), 1, "parked until expiry");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(gw.bus().session_count(), 1, "not yet expired");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(gw.bus().session_count(), 0, "expired after 1 s");
    assert_eq!(gw.bus().subscription_count(), 0);

    let c = TestClient::connect(gw.tcp, v5_session("exp-1", false, 1)).await;
    assert!(!c.connack.session_present);
}

/// Session Expiry 0 (the 5.0 default) ends the session with the connection; a clean start
/// discards an existing session [MQTT-3.1.2-4].
#[tokio::test]
async fn session_expiry_zero_and_clean_start() {
    let gw = spawn_gateway(|_| {}).await;
    let c = TestClient::v5(gw.tcp, "exp-0").await;
    c.disconnect().await;
    wait_until("session gone", || gw.bus().session_count() == 0).await;

    let c = TestClient::connect(gw.tcp, v5_session("exp-clean", true, 300)).await;
    c.disconnect().await;
    let c = TestClient::connect(gw.tcp, v5_session("exp-clean", true, 300)).await;
    assert!(!c.connack.session_present, "[MQTT-3.2.2-2] clean start: session present 0");
}

/// Takeover: the same client id connects again; the old 5.0 connection gets DISCONNECT 0x8E
/// Session taken over and is closed [MQTT-3.1.4-3]; with Clean Start 0 the subscriptions
/// survive and the new connection receives the publishes.
#[tokio::test]
async fn takeover_kicks_old_connection_and_keeps_subscriptions() {
    let gw = spawn_gateway(|_| {}).await;
    let mut old = TestClient::connect(gw.tcp, v5_session("take-1", true, 300)).await;
    old.subscribe("take/t", QoS::AtLeastOnce).await;

    let mut new = TestClient::connect(gw.tcp, v5_session("take-1", false, 300)).await;
    assert!(new.connack.session_present);
    old.expect_disconnect(reason::SESSION_TAKEN_OVER).await;
    assert_eq!(gw.bus().session_count(), 1);
    assert_eq!(gw.metric("session.takenover"), 1);

    let mut publ = TestClient::v5(gw.tcp, "take-pub").await;
    assert_eq!(publ.publish_simple("take/t", b"after", QoS::AtLeastOnce).await, reason::SUCCESS);
    let got = new.recv_publish_acked().await;
    assert_eq!(got.payload.as_ref(), b"after");
}

/// Takeover of a 3.1.1 connection: the old one is closed without a packet (3.1.1 has no
/// server DISCONNECT) [MQTT-3.1.4-2].
#[tokio::test]
async fn takeover_v311_closes_old_connection() {
    let gw = spawn_gateway(|_| {}).await;
    let mut old = TestClient::connect(gw.tcp, persistent_v311("take-311")).await;
    old.subscribe("take311/t", QoS::AtLeastOnce).await;
    let mut new = TestClient::connect(gw.tcp, persistent_v311("take-311")).await;
    assert!(new.connack.session_present);
    old.expect_closed().await;
    let mut publ = TestClient::v311(gw.tcp, "take311-pub").await;
    publ.publish_simple("take311/t", b"x", QoS::AtLeastOnce).await;
    assert_eq!(new.recv_publish_acked().await.payload.as_ref(), b"x");
}

/// On resume, in-flight messages are resent first (DUP) and queued ones follow in order
/// [MQTT-4.6.0-1] (order preserved), within `mqtt.max_inflight`.
#[tokio::test]
async fn resume_resends_inflight_then_queue_in_order() {
    let gw = spawn_gateway(|c| c.mqtt.max_inflight = 2).await;
    let mut sub = TestClient::connect(gw.tcp, persistent_v311("ord-sub")).await;
    sub.subscribe("ord/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v311(gw.tcp, "ord-pub").await;
    for i in 1..=4u8 {
        publ.publish_simple("ord/t", &[i], QoS::AtLeastOnce).await;
    }
    let a = sub.recv_publish().await;
    let b = sub.recv_publish().await;
    assert_eq!((a.payload[0], b.payload[0]), (1, 2));
    drop(sub);
    wait_until("the session is detached", || !gw.bus().is_connected(&ClientId::new("ord-sub"))).await;

    let mut sub = TestClient::connect(gw.tcp, persistent_v311("ord-sub")).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let p = sub.recv_publish_acked().await;
        got.push((p.payload[0], p.dup));
    }
    assert_eq!(got, vec![(1, true), (2, true), (3, false), (4, false)]);
    sub.recv_none_within(Duration::from_millis(200)).await;
}

/// [MQTT-4.3.3-10] across a reconnect: the QoS 2 exactly-once state of incoming messages is
/// session state (§4.1), so a PUBLISH resent with DUP after reconnecting, before PUBREL, is
/// not delivered again.
#[tokio::test]
async fn inbound_qos2_duplicate_across_reconnect() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v311(gw.tcp, "dupr-sub").await;
    sub.subscribe("dupr/t", QoS::ExactlyOnce).await;
    let mut publ = TestClient::connect(gw.tcp, persistent_v311("dupr-pub")).await;
    let mut p = gw_tests::publish_packet("dupr/t", b"once", QoS::ExactlyOnce);
    p.packet_id = Some(gw_tests::pid(9));
    publ.send(Packet::Publish(p.clone())).await;
    assert_eq!(publ.recv().await, Packet::PubRec(PubAck::new(gw_tests::pid(9))));
    drop(publ);
    wait_until("publisher detached", || !gw.bus().is_connected(&ClientId::new("dupr-pub"))).await;

    let mut publ = TestClient::connect(gw.tcp, persistent_v311("dupr-pub")).await;
    assert!(publ.connack.session_present);
    p.dup = true;
    publ.send(Packet::Publish(p)).await;
    assert_eq!(publ.recv().await, Packet::PubRec(PubAck::new(gw_tests::pid(9))));
    publ.send(Packet::PubRel(PubAck::new(gw_tests::pid(9)))).await;
    assert_eq!(publ.recv().await, Packet::PubComp(PubAck::new(gw_tests::pid(9))));

    assert_eq!(sub.recv_publish_acked().await.payload.as_ref(), b"once");
    sub.recv_none_within(Duration::from_millis(300)).await;
}

/// Takeover keeps unacknowledged deliveries: the new connection (Clean Start 0) gets them
/// again with DUP [MQTT-4.4.0-1].
#[tokio::test]
async fn takeover_resends_inflight() {
    let gw = spawn_gateway(|_| {}).await;
    let mut old = TestClient::connect(gw.tcp, v5_session("tk-inf", true, 300)).await;
    old.subscribe("tkinf/t", QoS::AtLeastOnce).await;
    let mut publ = TestClient::v5(gw.tcp, "tk-inf-pub").await;
    publ.publish_simple("tkinf/t", b"m", QoS::AtLeastOnce).await;
    let first = old.recv_publish().await;
    let mut new = TestClient::connect(gw.tcp, v5_session("tk-inf", false, 300)).await;
    old.expect_disconnect(reason::SESSION_TAKEN_OVER).await;
    let again = new.recv_publish().await;
    assert!(again.dup);
    assert_eq!((again.packet_id, again.payload), (first.packet_id, first.payload));
}

/// Takeover with Clean Start 1: the old connection is kicked and its session discarded, so
/// its subscriptions are gone [MQTT-3.1.2-4].
#[tokio::test]
async fn takeover_with_clean_start_discards_session() {
    let gw = spawn_gateway(|_| {}).await;
    let mut old = TestClient::connect(gw.tcp, v5_session("tk-clean", true, 300)).await;
    old.subscribe("tkclean/t", QoS::AtLeastOnce).await;
    let mut new = TestClient::connect(gw.tcp, v5_session("tk-clean", true, 300)).await;
    assert!(!new.connack.session_present);
    old.expect_disconnect(reason::SESSION_TAKEN_OVER).await;
    assert_eq!(gw.bus().subscription_count(), 0);
    let mut publ = TestClient::v5(gw.tcp, "tk-clean-pub").await;
    assert_eq!(publ.publish_simple("tkclean/t", b"x", QoS::AtLeastOnce).await, reason::NO_MATCHING_SUBSCRIBERS);
    new.recv_none_within(Duration::from_millis(200)).await;
}

/// MQTT 5 DISCONNECT may change the Session Expiry Interval: 0 ends the session at once;
/// a non-zero value after 0 in CONNECT is a Protocol Error, answered with DISCONNECT 0x82
/// (§3.14.2.2.2), and the session still ends.
#[tokio::test]
async fn disconnect_session_expiry_override() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::connect(gw.tcp, v5_session("dse-1", true, 300)).await;
    c.send(Packet::Disconnect(gw_tests::codec::Disconnect {
        reason_code: 0,
        properties: gw_tests::codec::DisconnectProperties { session_expiry_interval: Some(0), ..Default::default() }
            .into(),
    }))
    .await;
    c.expect_closed().await;
    wait_until("session ended by DISCONNECT expiry 0", || gw.bus().session_count() == 0).await;

    let mut c = TestClient::v5(gw.tcp, "dse-2").await;
    c.send(Packet::Disconnect(gw_tests::codec::Disconnect {
        reason_code: 0,
        properties: gw_tests::codec::DisconnectProperties { session_expiry_interval: Some(30), ..Default::default() }
            .into(),
    }))
    .await;
    c.expect_disconnect(reason::PROTOCOL_ERROR).await;
    wait_until("session with expiry 0 ended", || gw.bus().session_count() == 0).await;
}
