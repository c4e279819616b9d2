//! The clients: MQTT subscribers that count deliveries, and one publisher kind per protocol.
//! Every publisher sends the same pre-built frame (only CoAP patches its message id and token)
//! as fast as the shared flow window lets it, until the deadline.

use std::any::Any;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout, timeout_at, Instant};

use crate::flow::Flow;
use crate::wire;

/// How long one connect or handshake step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of frames written to a TCP socket at once.
const TCP_BATCH_BYTES: usize = 32 * 1024;
/// Most messages sent per flow-window check.
const MAX_BATCH: u64 = 64;

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

async fn tcp_connect(addr: SocketAddr, what: &str) -> io::Result<TcpStream> {
    let stream = match timeout(STEP_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(err(format!("{what}: TCP connect to {addr}: {e}"))),
        Err(_) => return Err(err(format!("{what}: TCP connect to {addr} timed out"))),
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads until `buf` holds one complete MQTT packet; returns (first byte, body) and leaves any
/// bytes after it in `buf`.
async fn read_mqtt_packet(stream: &mut TcpStream, buf: &mut Vec<u8>, what: &str) -> io::Result<(u8, Vec<u8>)> {
    loop {
        if let Some((first, body_at, end)) = wire::mqtt_packet(buf).map_err(err)? {
            let body = buf[body_at..end].to_vec();
            buf.drain(..end);
            return Ok((first, body));
        }
        match timeout(STEP_TIMEOUT, stream.read_buf(buf)).await {
            Ok(Ok(0)) => return Err(err(format!("{what}: connection closed by the gateway"))),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(err(format!("{what}: {e}"))),
            Err(_) => return Err(err(format!("{what}: no answer within {STEP_TIMEOUT:?}"))),
        }
    }
}

/// TCP connect, MQTT 3.1.1 CONNECT, CONNACK accepted. Returns the stream and any bytes read
/// past the CONNACK.
async fn mqtt_connect(addr: SocketAddr, client_id: &str) -> io::Result<(TcpStream, Vec<u8>)> {
    let what = format!("MQTT client {client_id}");
    let mut stream = tcp_connect(addr, &what).await?;
    stream.write_all(&wire::mqtt_connect(client_id, 600)).await?;
    let mut buf = Vec::with_capacity(1024);
    let (first, body) = read_mqtt_packet(&mut stream, &mut buf, &what).await?;
    match (first >> 4, body.as_slice()) {
        (wire::MQTT_CONNACK, [_, 0]) => Ok((stream, buf)),
        (wire::MQTT_CONNACK, [_, rc]) => Err(err(format!("{what}: CONNACK refused the connection (return code {rc})"))),
        _ => Err(err(format!("{what}: expected CONNACK, got packet type {}", first >> 4))),
    }
}

// ------------------------------------------------------------------------------- subscribers

/// A connected subscriber whose SUBACK has arrived.
#[derive(Debug)]
pub(crate) struct Subscriber {
    stream: TcpStream,
    leftover: Vec<u8>,
}

impl Subscriber {
    /// CONNECT, SUBSCRIBE `filter` at QoS 0, SUBACK granted.
    pub(crate) async fn connect(addr: SocketAddr, client_id: &str, filter: &str) -> io::Result<Self> {
        let what = format!("MQTT subscriber {client_id}");
        let (mut stream, mut buf) = mqtt_connect(addr, client_id).await?;
        stream.write_all(&wire::mqtt_subscribe(1, filter, 0)).await?;
        // Anything before the SUBACK cannot be a delivery of this subscription.
        loop {
            let (first, body) = read_mqtt_packet(&mut stream, &mut buf, &what).await?;
            if first >> 4 != wire::MQTT_SUBACK {
                continue;
            }
            return match body.as_slice() {
                [0, 1, granted] if *granted < 0x80 => Ok(Self { stream, leftover: buf }),
                _ => Err(err(format!("{what}: SUBACK refused {filter} ({body:?})"))),
            };
        }
    }

    /// Counts PUBLISH packets into `received` until the connection ends (or the task is aborted).
    pub(crate) async fn count(mut self, flow: Arc<Flow>) {
        let mut counter = wire::PublishCounter::default();
        let mut buf = vec![0u8; 256 * 1024];
        let mut data = std::mem::take(&mut self.leftover);
        loop {
            match counter.feed(&data) {
                Ok(n) if n > 0 => flow.delivered(n),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("gwload: subscriber stream out of step ({e}); it stops counting");
                    return;
                }
            }
            match self.stream.read(&mut buf).await {
                Ok(0) => {
                    eprintln!("gwload: a subscriber's connection was closed by the gateway");
                    return;
                }
                Ok(n) => {
                    data.clear();
                    data.extend_from_slice(&buf[..n]);
                }
                Err(e) => {
                    eprintln!("gwload: subscriber read error: {e}");
                    return;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------- publishers

/// Which front-end the publishers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Stomp,
    MqttSn,
    Coap,
    Mqtt,
}

impl Proto {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "stomp" => Some(Self::Stomp),
            "mqttsn" => Some(Self::MqttSn),
            "coap" => Some(Self::Coap),
            "mqtt" => Some(Self::Mqtt),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Stomp => "stomp",
            Self::MqttSn => "mqttsn",
            Self::Coap => "coap",
            Self::Mqtt => "mqtt",
        }
    }

    pub(crate) fn default_port(self) -> u16 {
        match self {
            Self::Stomp => 61613,
            Self::MqttSn => 1884,
            Self::Coap => 5683,
            Self::Mqtt => 1883,
        }
    }
}

/// A publisher that has completed its protocol's handshake.
#[derive(Debug)]
pub(crate) enum Publisher {
    /// MQTT or STOMP: the stream and one pre-built frame.
    Tcp { proto: Proto, stream: TcpStream, frame: Vec<u8> },
    /// MQTT-SN: the socket and one pre-built PUBLISH.
    MqttSn { socket: UdpSocket, datagram: Vec<u8> },
    /// CoAP: the socket, the request template (message id and token patched per send).
    Coap { socket: UdpSocket, template: Vec<u8>, addr: SocketAddr },
}

/// Where and what publisher `index` publishes.
#[derive(Debug, Clone)]
pub(crate) struct PublisherSpec {
    pub(crate) proto: Proto,
    pub(crate) addr: SocketAddr,
    pub(crate) index: usize,
    pub(crate) tag: String,
    pub(crate) size: usize,
}

impl PublisherSpec {
    fn topic(&self) -> String {
        format!("bench/{}", self.index)
    }

    fn payload(&self) -> Vec<u8> {
        vec![b'x'; self.size]
    }
}

async fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr =
        if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    Ok(socket)
}

/// Sends `request` and waits for a datagram `accept` takes, resending a few times (UDP).
async fn udp_exchange<T>(
    socket: &UdpSocket,
    request: &[u8],
    what: &str,
    mut accept: impl FnMut(&[u8]) -> Option<io::Result<T>>,
) -> io::Result<T> {
    let mut buf = vec![0u8; 2048];
    for _ in 0..3 {
        socket.send(request).await.map_err(|e| err(format!("{what}: send: {e}")))?;
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            match timeout_at(until, socket.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    if let Some(r) = accept(&buf[..n]) {
                        return r;
                    }
                }
                Ok(Err(e)) => {
                    return Err(err(format!("{what}: {e} (is the gateway running, with this front-end on?)")))
                }
                Err(_) => break,
            }
        }
    }
    Err(err(format!("{what}: no answer after 3 tries (is the gateway running, with this front-end on?)")))
}

impl Publisher {
    /// Connects and completes the handshake of `spec.proto`.
    pub(crate) async fn connect(spec: &PublisherSpec) -> io::Result<Self> {
        let topic = spec.topic();
        let payload = spec.payload();
        match spec.proto {
            Proto::Mqtt => {
                let (stream, _) = mqtt_connect(spec.addr, &format!("{}-pub{}", spec.tag, spec.index)).await?;
                let mut frame = Vec::new();
                wire::mqtt_publish_qos0(&mut frame, &topic, &payload);
                Ok(Self::Tcp { proto: Proto::Mqtt, stream, frame })
            }
            Proto::Stomp => {
                let what = format!("STOMP publisher {}", spec.index);
                let mut stream = tcp_connect(spec.addr, &what).await?;
                stream.write_all(&wire::stomp_connect()).await?;
                let mut buf = Vec::with_capacity(1024);
                let frame = loop {
                    if let Some(end) = buf.iter().position(|&b| b == 0) {
                        break buf[..end].to_vec();
                    }
                    match timeout(STEP_TIMEOUT, stream.read_buf(&mut buf)).await {
                        Ok(Ok(0)) => return Err(err(format!("{what}: connection closed by the gateway"))),
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(err(format!("{what}: {e}"))),
                        Err(_) => return Err(err(format!("{what}: no CONNECTED within {STEP_TIMEOUT:?}"))),
                    }
                };
                let text = String::from_utf8_lossy(&frame);
                // Frames may be preceded by heart-beat EOLs.
                let command = text.trim_start_matches(['\r', '\n']).lines().next().unwrap_or("");
                if command != "CONNECTED" {
                    return Err(err(format!("{what}: expected CONNECTED, got: {}", text.trim())));
                }
                let mut frame = Vec::new();
                wire::stomp_send(&mut frame, &topic, &payload);
                Ok(Self::Tcp { proto: Proto::Stomp, stream, frame })
            }
            Proto::MqttSn => {
                // MQTT-SN client ids are 1..23 characters.
                let client_id = format!("{}-{}", spec.tag, spec.index);
                let what = format!("MQTT-SN publisher {client_id}");
                let socket = udp_socket(spec.addr).await?;
                udp_exchange(&socket, &wire::sn_connect(&client_id, 600), &what, |d| match wire::sn_parse(d) {
                    Some((wire::SN_CONNACK, [0])) => Some(Ok(())),
                    Some((wire::SN_CONNACK, [rc])) => Some(Err(err(format!("{what}: CONNACK return code {rc}")))),
                    _ => None,
                })
                .await?;
                let msg_id = 1;
                let topic_id =
                    udp_exchange(&socket, &wire::sn_register(msg_id, &topic), &what, |d| match wire::sn_parse(d) {
                        Some((wire::SN_REGACK, &[t1, t2, m1, m2, rc])) if u16::from_be_bytes([m1, m2]) == msg_id => {
                            Some(if rc == 0 {
                                Ok(u16::from_be_bytes([t1, t2]))
                            } else {
                                Err(err(format!("{what}: REGACK return code {rc} for {topic}")))
                            })
                        }
                        _ => None,
                    })
                    .await?;
                Ok(Self::MqttSn { socket, datagram: wire::sn_publish_qos0(topic_id, &payload) })
            }
            Proto::Coap => {
                let what = format!("CoAP publisher {}", spec.index);
                let socket = udp_socket(spec.addr).await?;
                // CoAP ping (empty CON, answered with RST) shows the front-end is there.
                let ping = wire::coap_message(wire::COAP_CON, wire::COAP_EMPTY, 0xFFFF, &[], &[], &[]);
                udp_exchange(&socket, &ping, &what, |d| match wire::coap_header(d) {
                    Some((wire::COAP_RST, _, 0xFFFF)) => Some(Ok(())),
                    _ => None,
                })
                .await?;
                let query = format!("clientid=gwload{}", spec.index);
                let index = spec.index.to_string();
                let options: [(u16, &[u8]); 4] = [
                    (wire::COAP_URI_PATH, b"ps"),
                    (wire::COAP_URI_PATH, b"bench"),
                    (wire::COAP_URI_PATH, index.as_bytes()),
                    (wire::COAP_URI_QUERY, query.as_bytes()),
                ];
                let template = wire::coap_message(wire::COAP_NON, wire::COAP_POST, 0, &[0, 0], &options, &payload);
                Ok(Self::Coap { socket, template, addr: spec.addr })
            }
        }
    }

    /// Publishes until `deadline`; returns the messages sent and whatever must stay open until
    /// the deliveries have drained (a TCP stream closed early could lose its unsent bytes).
    pub(crate) async fn run(self, deadline: Instant, flow: Arc<Flow>) -> (u64, Box<dyn Any + Send>) {
        match self {
            Self::Tcp { proto, stream, frame } => {
                let (sent, stream) = run_tcp(proto, stream, &frame, deadline, &flow).await;
                (sent, Box::new(stream))
            }
            Self::MqttSn { mut socket, mut datagram } => {
                let sent = run_udp(&mut socket, &mut datagram, None, deadline, &flow, check_mqttsn).await;
                // UDP has no close: say goodbye, or the session lingers for 1.5 x the keep alive
                let _ = socket.send(&wire::sn_message(wire::SN_DISCONNECT, &[])).await;
                (sent, Box::new(socket))
            }
            Self::Coap { mut socket, mut template, addr } => {
                let sent = run_udp(&mut socket, &mut template, Some(addr), deadline, &flow, check_coap).await;
                (sent, Box::new(socket))
            }
        }
    }
}

async fn run_tcp(
    proto: Proto,
    mut stream: TcpStream,
    frame: &[u8],
    deadline: Instant,
    flow: &Flow,
) -> (u64, TcpStream) {
    let per_batch = (TCP_BATCH_BYTES / frame.len()).clamp(1, MAX_BATCH as usize);
    let batch = frame.repeat(per_batch);
    let mut scratch = vec![0u8; 4096];
    let mut sent = 0u64;
    let mut reported = false;
    loop {
        let k = flow.reserve(per_batch as u64, deadline).await;
        if k == 0 {
            break;
        }
        match timeout_at(deadline, stream.write_all(&batch[..k as usize * frame.len()])).await {
            Ok(Ok(())) => sent += k,
            Ok(Err(e)) => {
                eprintln!("gwload: {} publisher: write failed: {e}", proto.name());
                break;
            }
            Err(_) => break,
        }
        // Nothing is expected back (QoS 0, no receipts); an ERROR frame or a close is reported.
        match stream.try_read(&mut scratch) {
            Ok(0) => {
                eprintln!("gwload: {} publisher: connection closed by the gateway", proto.name());
                break;
            }
            Ok(n) if !reported => {
                reported = true;
                let text = String::from_utf8_lossy(&scratch[..n]);
                eprintln!("gwload: {} publisher: unexpected data from the gateway: {:?}", proto.name(), text.trim());
            }
            _ => {}
        }
    }
    (sent, stream)
}

/// What the gateway sent back to UDP publishers: counted, and the first problem reported.
#[derive(Debug, Default)]
struct Replies {
    ok: u64,
    problems: u64,
}

fn check_mqttsn(d: &[u8], replies: &mut Replies) {
    match wire::sn_parse(d) {
        // QoS 0 PUBLISH is only answered when something is wrong (PUBACK with a return code).
        Some((wire::SN_PUBACK, [.., rc])) if *rc != 0 => {
            if replies.problems == 0 {
                eprintln!("gwload: mqttsn publisher: PUBACK return code {rc}");
            }
            replies.problems += 1;
        }
        Some((wire::SN_DISCONNECT, _)) => {
            if replies.problems == 0 {
                eprintln!("gwload: mqttsn publisher: DISCONNECT from the gateway");
            }
            replies.problems += 1;
        }
        _ => replies.ok += 1,
    }
}

fn check_coap(d: &[u8], replies: &mut Replies) {
    match wire::coap_header(d) {
        Some((_, code, _)) if code >> 5 == 2 => replies.ok += 1,
        other => {
            if replies.problems == 0 {
                let code = other.map_or_else(|| "undecodable".to_string(), |(_, c, _)| wire::coap_code_text(c));
                let text = d.iter().position(|&b| b == 0xFF).map(|i| String::from_utf8_lossy(&d[i + 1..]).into_owned());
                eprintln!("gwload: coap publisher: answer {code} {}", text.unwrap_or_default());
            }
            replies.problems += 1;
        }
    }
}

/// One datagram per message. `coap` is the gateway's address for CoAP, whose message id (and
/// the same two bytes as a short token) is set per message; after every 65,536 messages a fresh
/// socket, i.e. a new endpoint, is used: RFC 7252 §4.5 has a server drop a message id it saw from
/// the same endpoint within NON_LIFETIME (145 s), so one endpoint can never send more than that.
async fn run_udp(
    socket: &mut UdpSocket,
    datagram: &mut [u8],
    coap: Option<SocketAddr>,
    deadline: Instant,
    flow: &Flow,
    check: fn(&[u8], &mut Replies),
) -> u64 {
    let mut sent = 0u64;
    let mut replies = Replies::default();
    let mut buf = vec![0u8; 2048];
    'run: loop {
        let k = flow.reserve(MAX_BATCH, deadline).await;
        if k == 0 {
            break;
        }
        for _ in 0..k {
            if let Some(addr) = coap {
                if sent > 0 && sent.is_multiple_of(65_536) {
                    match udp_socket(addr).await {
                        Ok(s) => *socket = s,
                        Err(e) => {
                            eprintln!("gwload: cannot open a new UDP socket: {e}");
                            break 'run;
                        }
                    }
                }
                let [hi, lo] = (sent as u16).to_be_bytes();
                datagram[2..6].copy_from_slice(&[hi, lo, hi, lo]);
            }
            if let Err(e) = socket.send(datagram).await {
                eprintln!("gwload: UDP send failed: {e} (did the gateway stop?)");
                break 'run;
            }
            sent += 1;
        }
        loop {
            match socket.try_recv(&mut buf) {
                Ok(n) => check(&buf[..n], &mut replies),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    eprintln!("gwload: UDP receive failed: {e} (did the gateway stop?)");
                    break 'run;
                }
            }
        }
    }
    if replies.problems > 0 {
        eprintln!("gwload: {} answers from the gateway reported a problem ({} did not)", replies.problems, replies.ok);
    }
    sent
}
