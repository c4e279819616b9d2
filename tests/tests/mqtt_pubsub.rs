//! CONNECT/CONNACK, PINGREQ, and QoS 0/1/2 publish/subscribe between two clients.

use std::time::Duration;

use gw_server::config::GatewayConfig;
use gw_tests::codec::{reason, Packet, ProtocolVersion, PubAck, QoS};
use gw_tests::{connect_packet, pid, publish_packet, spawn_gateway, ConfigDuration, TestClient};

const QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

/// [MQTT-3.2.0-1] CONNACK answers CONNECT; [MQTT-3.2.2-1]/[MQTT-3.2.2-2] Session Present 0
/// with clean session; [MQTT-3.12.4-1] PINGREQ gets PINGRESP.
#[tokio::test]
async fn connect_v311_connack_and_ping() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::v311(gw.tcp, "pub-c311").await;
    assert_eq!(c.connack.code, reason::v3::ACCEPTED);
    assert!(!c.connack.session_present);
    c.send(Packet::PingReq).await;
    assert_eq!(c.recv().await, Packet::PingResp);
    c.send(Packet::PingReq).await;
    assert_eq!(c.recv().await, Packet::PingResp);
    c.disconnect().await;
}

/// MQTT 5: CONNACK success; an empty client id gets an Assigned Client Identifier
/// [MQTT-3.2.2-16]; PINGRESP [MQTT-3.12.4-1].
#[tokio::test]
async fn connect_v5_connack_assigned_id_and_ping() {
    let gw = spawn_gateway(|_| {}).await;
    let mut c = TestClient::v5(gw.tcp, "pub-c5").await;
    assert_eq!(c.connack.code, reason::SUCCESS);
    assert!(!c.connack.session_present);
    assert_eq!(c.connack.properties.assigned_client_identifier, None, "client id was given");
    c.send(Packet::PingReq).await;
    assert_eq!(c.recv().await, Packet::PingResp);

    let anon = TestClient::connect(gw.tcp, connect_packet(ProtocolVersion::V5, "")).await;
    let assigned = anon.connack.properties.assigned_client_identifier.clone().expect("assigned client id");
    assert!(!assigned.is_empty());
    assert_eq!(gw.bus().session_count(), 2);
    c.disconnect().await;
    anon.disconnect().await;
}

/// [MQTT-3.3.5-1]/§4.3: every publish QoS to every subscription QoS; the delivered QoS is
/// min(publish QoS, granted QoS); QoS 1 gets PUBACK, QoS 2 PUBREC/PUBREL/PUBCOMP, in both
/// directions, with the packet id of the PUBLISH [MQTT-2.2.1-4].
async fn qos_matrix(version: ProtocolVersion, customize: impl FnOnce(&mut GatewayConfig)) {
    let gw = spawn_gateway(customize).await;
    let v = version.level();
    let mut sub = TestClient::connect(gw.tcp, connect_packet(version, &format!("qm-sub-{v}"))).await;
    let mut publ = TestClient::connect(gw.tcp, connect_packet(version, &format!("qm-pub-{v}"))).await;
    for s in QOS {
        sub.subscribe(&format!("qm/{}", s as u8), s).await;
    }
    for p in QOS {
        for s in QOS {
            let topic = format!("qm/{}", s as u8);
            let payload = format!("p{}s{}", p as u8, s as u8);
            let mut publish = publish_packet(&topic, payload.as_bytes(), p);
            if p != QoS::AtMostOnce {
                publish.packet_id = Some(pid(100 + 3 * p as u16 + s as u16));
            }
            // The helper asserts PUBACK, or PUBREC + PUBCOMP, carrying the same packet id.
            let code = publ.publish(publish).await;
            assert_eq!(code, reason::SUCCESS, "publish {payload}");

            let got = sub.recv_publish().await;
            assert_eq!(got.topic.as_str(), topic);
            assert_eq!(got.payload.as_ref(), payload.as_bytes());
            assert_eq!(got.qos, p.min(s), "delivered QoS of {payload}");
            assert!(!got.dup && !got.retain);
            assert_eq!(got.packet_id.is_some(), got.qos != QoS::AtMostOnce, "packet id iff QoS > 0");
            match got.qos {
                QoS::AtMostOnce => {}
                QoS::AtLeastOnce => sub.send(Packet::PubAck(PubAck::new(got.packet_id.unwrap()))).await,
                QoS::ExactlyOnce => {
                    let id = got.packet_id.unwrap();
                    sub.send(Packet::PubRec(PubAck::new(id))).await;
                    match sub.recv().await {
                        Packet::PubRel(a) => assert_eq!(a.packet_id, id, "PUBREL packet id"),
                        other => panic!("expected PUBREL, got {other:?}"),
                    }
                    sub.send(Packet::PubComp(PubAck::new(id))).await;
                }
            }
        }
    }
    sub.recv_none_within(Duration::from_millis(200)).await;
    assert_eq!(gw.metric("messages_received"), 9);
    sub.disconnect().await;
    publ.disconnect().await;
}

#[tokio::test]
async fn qos_matrix_v311() {
    qos_matrix(ProtocolVersion::V3_1_1, |_| {}).await;
}

#[tokio::test]
async fn qos_matrix_v5() {
    qos_matrix(ProtocolVersion::V5, |_| {}).await;
}

/// The same exchanges with connections that hibernate whenever they wait 1 ms: each packet
/// and each delivery wakes a sleeping connection (its socket turns readable, or its doorbell
/// rings), and nothing is lost or reordered on the way.
#[tokio::test]
async fn qos_matrix_with_connections_hibernating_between_packets() {
    let hibernate_after = ConfigDuration(Some(Duration::from_millis(1)));
    qos_matrix(ProtocolVersion::V5, |c| c.listeners.tcp.values_mut().for_each(|l| l.hibernate_after = hibernate_after))
        .await;
}

/// [MQTT-4.3.3-10]: a QoS 2 PUBLISH resent with DUP and the same packet id before PUBREL is
/// acknowledged again but not delivered again.
#[tokio::test]
async fn inbound_qos2_duplicate_delivered_once() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v311(gw.tcp, "dup-sub").await;
    sub.subscribe("dup/t", QoS::ExactlyOnce).await;
    let mut publ = TestClient::v311(gw.tcp, "dup-pub").await;

    let mut publish = publish_packet("dup/t", b"once", QoS::ExactlyOnce);
    publish.packet_id = Some(pid(7));
    publ.send(Packet::Publish(publish.clone())).await;
    assert_eq!(publ.recv().await, Packet::PubRec(PubAck::new(pid(7))));
    publish.dup = true;
    publ.send(Packet::Publish(publish)).await;
    assert_eq!(publ.recv().await, Packet::PubRec(PubAck::new(pid(7))));
    publ.send(Packet::PubRel(PubAck::new(pid(7)))).await;
    assert_eq!(publ.recv().await, Packet::PubComp(PubAck::new(pid(7))));

    let got = sub.recv_publish_acked().await;
    assert_eq!(got.payload.as_ref(), b"once");
    sub.recv_none_within(Duration::from_millis(300)).await;

    // After PUBREL the packet id is free again: the same id is a new message.
    let mut again = publish_packet("dup/t", b"twice", QoS::ExactlyOnce);
    again.packet_id = Some(pid(7));
    publ.publish(again).await;
    assert_eq!(sub.recv_publish_acked().await.payload.as_ref(), b"twice");
}

/// QoS 0 fan-out to several subscribers and nothing to a non-matching filter
/// [MQTT-4.7.1]; UNSUBSCRIBE stops delivery [MQTT-3.10.4-6].
#[tokio::test]
async fn fanout_and_unsubscribe() {
    let gw = spawn_gateway(|_| {}).await;
    let mut a = TestClient::v311(gw.tcp, "fan-a").await;
    let mut b = TestClient::v311(gw.tcp, "fan-b").await;
    let mut other = TestClient::v311(gw.tcp, "fan-other").await;
    a.subscribe("fan/+/x", QoS::AtMostOnce).await;
    b.subscribe("fan/#", QoS::AtMostOnce).await;
    other.subscribe("nofan/#", QoS::AtMostOnce).await;
    let mut publ = TestClient::v311(gw.tcp, "fan-pub").await;
    publ.publish_simple("fan/1/x", b"m1", QoS::AtMostOnce).await;
    assert_eq!(a.recv_publish().await.payload.as_ref(), b"m1");
    assert_eq!(b.recv_publish().await.payload.as_ref(), b"m1");
    other.recv_none_within(Duration::from_millis(200)).await;

    let id = a.next_id();
    a.send(Packet::Unsubscribe(gw_tests::codec::Unsubscribe {
        packet_id: id,
        filters: vec!["fan/+/x".into()],
        user_properties: Vec::new(),
    }))
    .await;
    match a.recv().await {
        Packet::UnsubAck(u) => assert_eq!(u.packet_id, id),
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
    publ.publish_simple("fan/1/x", b"m2", QoS::AtMostOnce).await;
    assert_eq!(b.recv_publish().await.payload.as_ref(), b"m2");
    a.recv_none_within(Duration::from_millis(200)).await;
}

/// [MQTT-3.8.4-3]: subscribing again to the same filter replaces the subscription (new QoS),
/// it does not add a second one.
#[tokio::test]
async fn resubscribe_replaces_subscription() {
    let gw = spawn_gateway(|_| {}).await;
    let mut sub = TestClient::v311(gw.tcp, "resub-sub").await;
    sub.subscribe("resub/t", QoS::AtMostOnce).await;
    sub.subscribe("resub/t", QoS::AtLeastOnce).await;
    assert_eq!(gw.bus().subscription_count(), 1);
    let mut publ = TestClient::v311(gw.tcp, "resub-pub").await;
    publ.publish_simple("resub/t", b"x", QoS::AtLeastOnce).await;
    let got = sub.recv_publish_acked().await;
    assert_eq!(got.qos, QoS::AtLeastOnce, "the new QoS applies");
    sub.recv_none_within(Duration::from_millis(200)).await;
}
