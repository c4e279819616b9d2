//! End-to-end test support: a gateway on `127.0.0.1:0` and a raw MQTT test client.
//!
//! The client speaks MQTT through `gw_mqtt`'s codec over a plain `TcpStream`, so a test
//! controls every byte: it can skip acknowledgements, resend with DUP, send garbage or drop
//! the connection without DISCONNECT. Every wait is bounded ([`RECV_TIMEOUT`]) and panics
//! with a message saying what was expected.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gw_core::bus::Bus;
use gw_mqtt::codec::{
    Codec, ConnAck, Connect, ConnectProperties, Disconnect, MqttString, Packet, ProtocolVersion, PubAck, Publish, QoS,
    SubAck, Subscribe, SubscribeProperties, SubscriptionOptions,
};
use gw_server::{GatewayConfig, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use gw_core::config::{ByteSize, ConfigDuration};
pub use gw_mqtt::codec;

/// How long any single expected event may take.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A gateway started for one test.
#[derive(Debug)]
pub struct TestGateway {
    /// The running gateway.
    pub running: Running,
    /// The `mqtt:tcp` `default` listener.
    pub tcp: SocketAddr,
    /// The `mqtt:ws` `default` listener.
    pub ws: SocketAddr,
}

impl TestGateway {
    /// The bus, to look inside.
    pub fn bus(&self) -> &Bus {
        &self.running.bus
    }

    /// The value of a metrics counter by name (`delivery_dropped_queue_full`, ...).
    pub fn metric(&self, name: &str) -> u64 {
        self.bus()
            .metrics()
            .snapshot()
            .into_iter()
            // By EMQX's dotted name or its underscore form (the counter's field name).
            .find(|(n, _)| n.replace('.', "_") == name.replace('.', "_"))
            .unwrap_or_else(|| panic!("no metric named {name}"))
            .1
    }

    /// Graceful shutdown.
    pub async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

/// Starts a gateway with default config changed by `customize`, listeners on `127.0.0.1:0`.
pub async fn spawn_gateway(customize: impl FnOnce(&mut GatewayConfig)) -> TestGateway {
    let mut config = GatewayConfig::default();
    for l in config.listeners.tcp.values_mut() {
        l.bind = "127.0.0.1:0".into();
    }
    for l in config.listeners.ws.values_mut() {
        l.bind = "127.0.0.1:0".into();
    }
    for l in config.gateway.stomp.listeners.tcp.values_mut() {
        l.bind = "127.0.0.1:0".into();
    }
    for l in config.gateway.stomp.listeners.ws.values_mut() {
        l.bind = "127.0.0.1:0".into();
    }
    for l in config.gateway.mqttsn.listeners.udp.values_mut() {
        l.bind = "127.0.0.1:0".into();
    }
    for l in config.gateway.coap.listeners.udp.values_mut() {
        l.bind = "127.0.0.1:0".into();
    }
    for l in config.gateway.lwm2m.listeners.udp.values_mut() {
        l.bind = "127.0.0.1:0".into();
    }
    config.gateway.lwm2m.xml_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/lwm2m_xml").into();
    // Off unless a test turns it on: its unknown-endpoint responder is a bus session of its
    // own, which the session-counting tests of the other front-ends do not expect.
    config.gateway.lwm2m.enable = false;
    // Off unless a test turns them on: the $SYS publisher's retained messages would count in
    // the retained-store tests (its own tests are in gw-core and conformance/mqtt).
    config.sys_topics.sys_msg_interval = ConfigDuration(None);
    config.sys_topics.sys_heartbeat_interval = ConfigDuration(None);
    customize(&mut config);
    config.validate().expect("test config is valid");
    let running = gw_server::start(config).await.expect("gateway starts");
    let tcp = running.addr("mqtt:tcp", "default").expect("tcp listener bound");
    let ws = running.addr("mqtt:ws", "default").expect("ws listener bound");
    TestGateway { running, tcp, ws }
}

/// Polls `cond` every 20 ms until it holds; panics after [`RECV_TIMEOUT`].
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A CONNECT with keep alive 0, clean start and no will, credentials or properties.
pub fn connect_packet(version: ProtocolVersion, client_id: &str) -> Connect {
    Connect {
        version,
        clean_start: true,
        keep_alive: 0,
        client_id: MqttString::from(client_id.to_owned()),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

/// A PUBLISH without properties (the packet id, if any, is set by [`TestClient::publish`]).
pub fn publish_packet(topic: &str, payload: &[u8], qos: QoS) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: MqttString::from(topic.to_owned()),
        packet_id: None,
        properties: Default::default(),
        payload: Bytes::copy_from_slice(payload),
    }
}

/// Shorthand for a packet id.
pub fn pid(id: u16) -> NonZeroU16 {
    NonZeroU16::new(id).expect("packet id is not 0")
}

/// A raw MQTT client for tests.
#[derive(Debug)]
pub struct TestClient {
    stream: TcpStream,
    codec: Codec,
    rx: BytesMut,
    /// Packets read while a helper waited for something else; [`TestClient::recv`] returns
    /// them first.
    stashed: VecDeque<Packet>,
    next_id: u16,
    /// The CONNACK that answered [`TestClient::connect`].
    pub connack: ConnAck,
}

impl TestClient {
    /// Opens a TCP connection without sending anything; `version` is the codec's.
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> Self {
        let stream = tokio::time::timeout(RECV_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("TCP connect timed out")
            .expect("TCP connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut codec = Codec::new(64 << 20);
        codec.set_version(version);
        Self { stream, codec, rx: BytesMut::new(), stashed: VecDeque::new(), next_id: 0, connack: ConnAck::default() }
    }

    /// Connects with `connect` and expects a successful CONNACK.
    pub async fn connect(addr: SocketAddr, connect: Connect) -> Self {
        let client = Self::connect_any(addr, connect).await;
        assert_eq!(client.connack.code, 0, "CONNACK refused: {:?}", client.connack);
        client
    }

    /// Connects with `connect` and returns whatever CONNACK came back.
    pub async fn connect_any(addr: SocketAddr, connect: Connect) -> Self {
        let mut client = Self::open(addr, connect.version).await;
        client.send(Packet::Connect(Box::new(connect))).await;
        match client.recv().await {
            Packet::ConnAck(ack) => client.connack = ack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
        client
    }

    /// Connects a 3.1.1 client with clean session.
    pub async fn v311(addr: SocketAddr, client_id: &str) -> Self {
        Self::connect(addr, connect_packet(ProtocolVersion::V3_1_1, client_id)).await
    }

    /// Connects a 5.0 client with clean start and session expiry 0.
    pub async fn v5(addr: SocketAddr, client_id: &str) -> Self {
        Self::connect(addr, connect_packet(ProtocolVersion::V5, client_id)).await
    }

    /// A fresh packet id (1, 2, ...).
    pub fn next_id(&mut self) -> NonZeroU16 {
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        pid(self.next_id)
    }

    /// Encodes and writes one packet.
    pub async fn send(&mut self, packet: Packet) {
        let mut buf = BytesMut::new();
        self.codec.encode(&packet, &mut buf).unwrap_or_else(|e| panic!("encode {packet:?}: {e}"));
        self.send_raw(&buf).await;
    }

    /// Writes raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to gateway");
    }

    /// The next packet within `within`: `None` on timeout; panics if the connection closes.
    pub async fn try_recv(&mut self, within: Duration) -> Option<Packet> {
        if let Some(p) = self.stashed.pop_front() {
            return Some(p);
        }
        match tokio::time::timeout(within, self.read_packet()).await {
            Err(_) => None,
            Ok(Some(p)) => Some(p),
            Ok(None) => panic!("connection closed while waiting for a packet"),
        }
    }

    /// The next packet; panics after [`RECV_TIMEOUT`] or if the connection closes.
    pub async fn recv(&mut self) -> Packet {
        self.try_recv(RECV_TIMEOUT).await.unwrap_or_else(|| panic!("no packet within {RECV_TIMEOUT:?}"))
    }

    /// The next packet, which must be a PUBLISH.
    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Asserts that nothing arrives within `within`.
    pub async fn recv_none_within(&mut self, within: Duration) {
        if let Some(p) = self.try_recv(within).await {
            panic!("expected nothing within {within:?}, got {p:?}");
        }
    }

    /// Expects the server to close the connection (EOF or reset) within [`RECV_TIMEOUT`]
    /// without sending any further packet.
    pub async fn expect_closed(&mut self) {
        if let Some(p) = self.stashed.pop_front() {
            panic!("expected the connection to close, got {p:?}");
        }
        match tokio::time::timeout(RECV_TIMEOUT, self.read_packet()).await {
            Err(_) => panic!("connection not closed within {RECV_TIMEOUT:?}"),
            Ok(Some(p)) => panic!("expected the connection to close, got {p:?}"),
            Ok(None) => {}
        }
    }

    /// Expects a 5.0 DISCONNECT with `reason_code`, then the close.
    pub async fn expect_disconnect(&mut self, reason_code: u8) {
        match self.recv().await {
            Packet::Disconnect(d) => assert_eq!(
                d.reason_code, reason_code,
                "DISCONNECT reason 0x{:02X}, expected 0x{reason_code:02X}",
                d.reason_code
            ),
            other => panic!("expected DISCONNECT 0x{reason_code:02X}, got {other:?}"),
        }
        self.expect_closed().await;
    }

    /// Subscribes to one filter with `options` and an optional subscription identifier;
    /// returns the SUBACK's reason codes.
    pub async fn subscribe_with(
        &mut self,
        filter: &str,
        options: SubscriptionOptions,
        subscription_identifier: Option<u32>,
    ) -> Vec<u8> {
        let packet_id = self.next_id();
        self.send(Packet::Subscribe(Subscribe {
            packet_id,
            filters: vec![(MqttString::from(filter.to_owned()), options)],
            properties: SubscribeProperties { subscription_identifier, user_properties: Vec::new() },
        }))
        .await;
        let ack: SubAck = self.wait_for(|p| matches!(p, Packet::SubAck(a) if a.packet_id == packet_id), "SUBACK").await;
        ack.reason_codes
    }

    /// Subscribes to `filter` at `qos` and asserts it was granted.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) {
        let codes = self.subscribe_with(filter, SubscriptionOptions { qos, ..Default::default() }, None).await;
        assert_eq!(codes, vec![qos as u8], "SUBACK for {filter}");
    }

    /// Publishes and completes the QoS flow (PUBACK, or PUBREC/PUBREL/PUBCOMP); returns the
    /// reason code of the PUBACK/PUBREC (0 for QoS 0). Other packets read meanwhile are kept
    /// for [`TestClient::recv`].
    pub async fn publish(&mut self, mut publish: Publish) -> u8 {
        if publish.qos != QoS::AtMostOnce && publish.packet_id.is_none() {
            publish.packet_id = Some(self.next_id());
        }
        let qos = publish.qos;
        let id = publish.packet_id;
        self.send(Packet::Publish(publish)).await;
        match (qos, id) {
            (QoS::AtLeastOnce, Some(id)) => {
                let ack: PubAck =
                    self.wait_for(|p| matches!(p, Packet::PubAck(a) if a.packet_id == id), "PUBACK").await;
                ack.reason_code
            }
            (QoS::ExactlyOnce, Some(id)) => {
                let rec: PubAck =
                    self.wait_for(|p| matches!(p, Packet::PubRec(a) if a.packet_id == id), "PUBREC").await;
                self.send(Packet::PubRel(PubAck::new(id))).await;
                let _: PubAck =
                    self.wait_for(|p| matches!(p, Packet::PubComp(a) if a.packet_id == id), "PUBCOMP").await;
                rec.reason_code
            }
            _ => 0,
        }
    }

    /// Publishes `payload` to `topic` at `qos` (see [`TestClient::publish`]).
    pub async fn publish_simple(&mut self, topic: &str, payload: &[u8], qos: QoS) -> u8 {
        self.publish(publish_packet(topic, payload, qos)).await
    }

    /// Acknowledges a received PUBLISH completely (PUBACK, or PUBREC + PUBREL + PUBCOMP).
    pub async fn ack(&mut self, publish: &Publish) {
        let Some(id) = publish.packet_id else { return };
        match publish.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(Packet::PubAck(PubAck::new(id))).await,
            QoS::ExactlyOnce => {
                self.send(Packet::PubRec(PubAck::new(id))).await;
                let _: PubAck = self.wait_for(|p| matches!(p, Packet::PubRel(a) if a.packet_id == id), "PUBREL").await;
                self.send(Packet::PubComp(PubAck::new(id))).await;
            }
        }
    }

    /// Receives a PUBLISH and acknowledges it.
    pub async fn recv_publish_acked(&mut self) -> Publish {
        let p = self.recv_publish().await;
        self.ack(&p).await;
        p
    }

    /// Sends DISCONNECT (normal) and waits for the server to close.
    pub async fn disconnect(mut self) {
        self.send(Packet::Disconnect(Disconnect::default())).await;
        self.expect_closed().await;
    }

    /// Reads until a packet matching `pick` arrives, stashing the others; returns its
    /// acknowledgement body.
    async fn wait_for<T: FromPacket>(&mut self, pick: impl Fn(&Packet) -> bool, what: &str) -> T {
        let mut skipped = Vec::new();
        let found = loop {
            let p = match self.stashed.iter().position(&pick) {
                Some(i) => self.stashed.remove(i).expect("index is valid"),
                None => match tokio::time::timeout(RECV_TIMEOUT, self.read_packet()).await {
                    Err(_) => panic!("no {what} within {RECV_TIMEOUT:?}"),
                    Ok(None) => panic!("connection closed while waiting for {what}"),
                    Ok(Some(p)) => p,
                },
            };
            if pick(&p) {
                break p;
            }
            skipped.push(p);
        };
        self.stashed.extend(skipped);
        T::from_packet(found)
    }

    /// One packet from the socket, `None` on EOF or a reset.
    async fn read_packet(&mut self) -> Option<Packet> {
        loop {
            match self.codec.decode(&mut self.rx) {
                Ok(Some(p)) => return Some(p),
                Ok(None) => {}
                Err(e) => panic!("gateway sent an undecodable packet: {e}"),
            }
            match self.stream.read_buf(&mut self.rx).await {
                Ok(0) | Err(_) => {
                    assert!(self.rx.is_empty(), "connection closed with {} undecoded bytes", self.rx.len());
                    return None;
                }
                Ok(_) => {}
            }
        }
    }
}

/// The body of an expected packet.
trait FromPacket {
    fn from_packet(p: Packet) -> Self;
}

impl FromPacket for PubAck {
    fn from_packet(p: Packet) -> Self {
        match p {
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => a,
            other => panic!("not an ack: {other:?}"),
        }
    }
}

impl FromPacket for SubAck {
    fn from_packet(p: Packet) -> Self {
        match p {
            Packet::SubAck(a) => a,
            other => panic!("not a SUBACK: {other:?}"),
        }
    }
}
