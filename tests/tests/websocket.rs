//! MQTT over WebSocket (§6): binary frames, subprotocol `mqtt`, path `/mqtt`.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use gw_tests::codec::{Codec, Packet, ProtocolVersion, PubAck, QoS};
use gw_tests::{connect_packet, pid, publish_packet, spawn_gateway, TestClient, RECV_TIMEOUT};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket handshake to `path` offering `subprotocol`, if any.
async fn ws_connect(addr: std::net::SocketAddr, path: &str, subprotocol: Option<&'static str>) -> Result<Ws, WsError> {
    let mut req = format!("ws://{addr}{path}").into_client_request().expect("request");
    if let Some(p) = subprotocol {
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(p));
    }
    let (ws, resp) = tokio::time::timeout(RECV_TIMEOUT, tokio_tungstenite::connect_async(req))
        .await
        .expect("WebSocket handshake timed out")?;
    if let Some(p) = subprotocol {
        assert_eq!(resp.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap()), Some(p));
    }
    Ok(ws)
}

struct WsClient {
    ws: Ws,
    codec: Codec,
    rx: BytesMut,
}

impl WsClient {
    async fn send(&mut self, p: Packet) {
        let mut buf = BytesMut::new();
        self.codec.encode(&p, &mut buf).expect("encode");
        self.ws.send(Message::Binary(buf.freeze())).await.expect("ws send");
    }

    async fn recv(&mut self) -> Packet {
        loop {
            if let Some(p) = self.codec.decode(&mut self.rx).expect("decode") {
                return p;
            }
            let msg = tokio::time::timeout(RECV_TIMEOUT, self.ws.next())
                .await
                .expect("no WebSocket message in time")
                .expect("WebSocket closed")
                .expect("WebSocket error");
            match msg {
                Message::Binary(b) => self.rx.extend_from_slice(&b),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected WebSocket message {other:?}"),
            }
        }
    }
}

/// §6.0: MQTT packets in binary frames over `/mqtt` with subprotocol `mqtt`
/// [MQTT-6.0.0-1]/[MQTT-6.0.0-3]/[MQTT-6.0.0-4]; a publish round trip both ways with a TCP
/// client.
#[tokio::test]
async fn websocket_pubsub_round_trip() {
    let gw = spawn_gateway(|_| {}).await;
    let ws = ws_connect(gw.ws, "/mqtt", Some("mqtt")).await.expect("handshake");
    let mut codec = Codec::new(1 << 20);
    codec.set_version(ProtocolVersion::V3_1_1);
    let mut c = WsClient { ws, codec, rx: BytesMut::new() };
    c.send(Packet::Connect(Box::new(connect_packet(ProtocolVersion::V3_1_1, "ws-1")))).await;
    match c.recv().await {
        Packet::ConnAck(a) => assert_eq!(a.code, 0),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    c.send(Packet::Subscribe(gw_tests::codec::Subscribe {
        packet_id: pid(1),
        filters: vec![(
            "ws/in".into(),
            gw_tests::codec::SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() },
        )],
        properties: Default::default(),
    }))
    .await;
    assert!(matches!(c.recv().await, Packet::SubAck(a) if a.reason_codes == vec![1]));

    // TCP → WebSocket.
    let mut tcp = TestClient::v311(gw.tcp, "ws-tcp").await;
    tcp.subscribe("ws/out", QoS::AtLeastOnce).await;
    tcp.publish_simple("ws/in", b"to-ws", QoS::AtLeastOnce).await;
    match c.recv().await {
        Packet::Publish(p) => {
            assert_eq!(p.payload.as_ref(), b"to-ws");
            c.send(Packet::PubAck(PubAck::new(p.packet_id.unwrap()))).await;
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }

    // WebSocket → TCP.
    let mut p = publish_packet("ws/out", b"from-ws", QoS::AtLeastOnce);
    p.packet_id = Some(pid(2));
    c.send(Packet::Publish(p)).await;
    assert_eq!(c.recv().await, Packet::PubAck(PubAck::new(pid(2))));
    assert_eq!(tcp.recv_publish_acked().await.payload.as_ref(), b"from-ws");

    c.send(Packet::PingReq).await;
    assert_eq!(c.recv().await, Packet::PingResp);
    tcp.recv_none_within(Duration::from_millis(100)).await;
}

/// A path other than `listeners.ws.default.websocket.mqtt_path` is refused (HTTP 404), and
/// so is a handshake offering no supported subprotocol (`fail_if_no_subprotocol`, 400).
#[tokio::test]
async fn websocket_wrong_path_or_no_subprotocol_refused() {
    let gw = spawn_gateway(|_| {}).await;
    match ws_connect(gw.ws, "/not-mqtt", Some("mqtt")).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), StatusCode::NOT_FOUND),
        Err(e) => panic!("expected HTTP 404, got {e}"),
        Ok(_) => panic!("wrong path accepted"),
    }
    match ws_connect(gw.ws, "/mqtt", None).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), StatusCode::BAD_REQUEST),
        Err(e) => panic!("expected HTTP 400, got {e}"),
        Ok(_) => panic!("handshake without subprotocol accepted"),
    }
    // The listener still serves a correct handshake.
    ws_connect(gw.ws, "/mqtt", Some("mqtt")).await.expect("correct handshake");
}
