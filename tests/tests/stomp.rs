//! STOMP end to end, on the same bus as MQTT: cross-protocol delivery with content type,
//! the inflight window of client-ack subscriptions, NACK redelivery in a shared group.

use std::net::SocketAddr;
use std::time::Duration;

use gw_mqtt::codec::{MqttString, QoS};
use gw_tests::{publish_packet, spawn_gateway, TestClient, RECV_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw STOMP client: writes frames as text, reads frames up to their NUL.
struct Stomp {
    stream: TcpStream,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct Frame {
    command: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Frame {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl Stomp {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut s = Self { stream, buf: Vec::new() };
        s.send("CONNECT", &[("accept-version", "1.2"), ("host", "gw"), ("heart-beat", "0,0")], b"").await;
        let f = s.recv().await;
        assert_eq!(f.command, "CONNECTED", "{f:?}");
        assert_eq!(f.header("version"), Some("1.2"));
        s
    }

    async fn send(&mut self, command: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut out = format!("{command}\n").into_bytes();
        for (k, v) in headers {
            out.extend_from_slice(format!("{k}:{v}\n").as_bytes());
        }
        if !body.is_empty() {
            out.extend_from_slice(format!("content-length:{}\n", body.len()).as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(body);
        out.push(0);
        self.stream.write_all(&out).await.unwrap();
    }

    async fn try_recv(&mut self, within: Duration) -> Option<Frame> {
        let read = async {
            loop {
                // Skip heart-beat EOLs.
                while matches!(self.buf.first(), Some(b'\n' | b'\r')) {
                    self.buf.remove(0);
                }
                if let Some(end) = self.frame_end() {
                    let raw: Vec<u8> = self.buf.drain(..=end).collect();
                    return parse(&raw[..raw.len() - 1]);
                }
                let mut chunk = [0u8; 4096];
                let n = self.stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        };
        tokio::time::timeout(within, read).await.ok()
    }

    /// End of the first complete frame: its NUL, after `content-length` bytes of body if given.
    fn frame_end(&self) -> Option<usize> {
        let head_end = self.buf.windows(2).position(|w| w == b"\n\n")? + 2;
        let head = std::str::from_utf8(&self.buf[..head_end]).ok()?;
        let len: Option<usize> =
            head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok());
        match len {
            Some(n) => (self.buf.len() > head_end + n).then_some(head_end + n),
            None => self.buf[head_end..].iter().position(|&b| b == 0).map(|p| head_end + p),
        }
    }

    async fn recv(&mut self) -> Frame {
        self.try_recv(RECV_TIMEOUT).await.expect("no STOMP frame in time")
    }
}

fn parse(raw: &[u8]) -> Frame {
    let head_end = raw.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = std::str::from_utf8(&raw[..head_end]).unwrap();
    let mut lines = head.lines();
    let command = lines.next().unwrap().to_string();
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Frame { command, headers, body: raw[head_end + 2..].to_vec() }
}

fn stomp_addr(gw: &gw_tests::TestGateway) -> SocketAddr {
    gw.running.addr("stomp:tcp", "default").expect("stomp listener")
}

#[tokio::test]
async fn stomp_and_mqtt_meet_on_the_same_topics() {
    let gw = spawn_gateway(|_| {}).await;
    let mut stomp = Stomp::connect(stomp_addr(&gw)).await;
    stomp.send("SUBSCRIBE", &[("id", "s1"), ("destination", "room/+"), ("receipt", "r1")], b"").await;
    assert_eq!(stomp.recv().await.header("receipt-id"), Some("r1"));

    // MQTT 5 → STOMP: payload and content type intact.
    let mut mqtt = TestClient::v5(gw.tcp, "m1").await;
    let mut p = publish_packet("room/1", b"\x00binary\x00", QoS::AtLeastOnce);
    p.properties.content_type = Some(MqttString::from("application/octet-stream"));
    p.properties.user_properties.push((MqttString::from("x-k"), MqttString::from("v")));
    mqtt.publish(p).await;
    let m = stomp.recv().await;
    assert_eq!(m.command, "MESSAGE");
    assert_eq!(m.header("destination"), Some("room/1"));
    assert_eq!(m.header("subscription"), Some("s1"));
    assert_eq!(m.header("content-type"), Some("application/octet-stream"));
    assert_eq!(m.header("x-k"), Some("v"));
    assert_eq!(m.body, b"\x00binary\x00");

    // STOMP → MQTT 5: content type arrives as the Content Type property.
    mqtt.subscribe("feed", QoS::AtMostOnce).await;
    stomp.send("SEND", &[("destination", "feed"), ("content-type", "text/csv")], b"a,b").await;
    let got = mqtt.recv_publish().await;
    assert_eq!(&got.payload[..], b"a,b");
    assert_eq!(got.properties.content_type.as_ref().map(MqttString::as_str), Some("text/csv"));
}

#[tokio::test]
async fn client_ack_messages_hold_the_inflight_window() {
    let gw = spawn_gateway(|c| c.mqtt.max_inflight = 2).await;
    let mut stomp = Stomp::connect(stomp_addr(&gw)).await;
    stomp
        .send("SUBSCRIBE", &[("id", "s"), ("destination", "q"), ("ack", "client-individual"), ("receipt", "r")], b"")
        .await;
    stomp.recv().await;
    let mut mqtt = TestClient::v5(gw.tcp, "publisher").await;
    for i in 0..3u8 {
        mqtt.publish(publish_packet("q", &[i], QoS::AtMostOnce)).await;
    }
    let first = stomp.recv().await;
    let _second = stomp.recv().await;
    assert!(stomp.try_recv(Duration::from_millis(300)).await.is_none(), "window of 2 is full");
    stomp.send("ACK", &[("id", first.header("ack").unwrap())], b"").await;
    let third = stomp.recv().await;
    assert_eq!(third.body, [2]);
}

#[tokio::test]
async fn nack_moves_a_message_to_another_group_member() {
    let gw = spawn_gateway(|_| {}).await;
    let mut a = Stomp::connect(stomp_addr(&gw)).await;
    let mut b = Stomp::connect(stomp_addr(&gw)).await;
    for s in [&mut a, &mut b] {
        s.send(
            "SUBSCRIBE",
            &[("id", "w"), ("destination", "$queue/jobs"), ("ack", "client-individual"), ("receipt", "r")],
            b"",
        )
        .await;
        s.recv().await;
    }
    let mut mqtt = TestClient::v5(gw.tcp, "publisher").await;
    mqtt.publish(publish_packet("jobs", b"job-1", QoS::AtLeastOnce)).await;
    let (got_by_a, first) = match a.try_recv(Duration::from_millis(500)).await {
        Some(m) => (true, m),
        None => (false, b.recv().await),
    };
    assert_eq!(first.body, b"job-1");
    // The member that got it refuses it: the other member gets it.
    let (owner, other) = if got_by_a { (&mut a, &mut b) } else { (&mut b, &mut a) };
    owner.send("NACK", &[("id", first.header("ack").unwrap())], b"").await;
    let again = other.recv().await;
    assert_eq!(again.body, b"job-1");
    assert_eq!(gw.metric("messages_redispatched"), 1);
}
