//! LwM2M front-end end to end: a scripted device (raw CoAP over UDP) and an MQTT
//! application using EMQX's JSON conventions (emqx-conventions §3).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gw_coap::codec::{decode, encode, option, BlockValue, Code, Message, MessageType};
use gw_core::bus::ClientId;
use gw_server::config::AutoObserveConfig;
use gw_server::GatewayConfig;
use gw_tests::codec::QoS;
use gw_tests::{spawn_gateway, wait_until, ConfigDuration, TestClient, TestGateway, RECV_TIMEOUT};
use serde_json::{json, Value};
use tokio::net::UdpSocket;

struct Device {
    socket: UdpSocket,
    gateway: SocketAddr,
    mid: u16,
}

impl Device {
    async fn new(gateway: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        Self { socket, gateway, mid: 100 }
    }

    async fn send(&self, msg: &Message) {
        self.socket.send_to(&encode(msg).expect("encode"), self.gateway).await.expect("send");
    }

    async fn recv(&self) -> Message {
        let mut buf = vec![0u8; 2048];
        let (n, _) = tokio::time::timeout(RECV_TIMEOUT, self.socket.recv_from(&mut buf))
            .await
            .expect("datagram from the gateway in time")
            .expect("recv");
        decode(&buf[..n]).expect("gateway sends valid CoAP")
    }

    /// A CON request with a fresh message id.
    fn new_request(&mut self, code: Code, path: &[&str], query: &[&str], payload: &[u8]) -> Message {
        self.mid += 1;
        let mut m = Message::new(MessageType::Confirmable, code, self.mid, Bytes::from_static(b"\x01\x02"));
        for p in path {
            m.add_option(option::URI_PATH, Bytes::copy_from_slice(p.as_bytes()));
        }
        for q in query {
            m.add_option(option::URI_QUERY, Bytes::copy_from_slice(q.as_bytes()));
        }
        m.payload = Bytes::copy_from_slice(payload);
        m
    }

    /// Sends a CON request and returns the piggy-backed response.
    async fn request(&mut self, code: Code, path: &[&str], query: &[&str], payload: &[u8]) -> Message {
        let m = self.new_request(code, path, query, payload);
        self.send(&m).await;
        let resp = self.recv().await;
        assert_eq!(resp.mtype, MessageType::Acknowledgement);
        assert_eq!(resp.message_id, self.mid);
        resp
    }

    /// Like [`Device::request`], but resends the same CON until it is answered, as a device
    /// does (RFC 7252 §4.2): a handler on its way out may drop it.
    async fn request_until_answered(&mut self, code: Code, path: &[&str], query: &[&str], payload: &[u8]) -> Message {
        let m = self.new_request(code, path, query, payload);
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        let mut buf = vec![0u8; 2048];
        loop {
            self.send(&m).await;
            if let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(300), self.socket.recv_from(&mut buf)).await
            {
                let resp = decode(&buf[..n]).expect("gateway sends valid CoAP");
                if resp.mtype == MessageType::Acknowledgement && resp.message_id == m.message_id {
                    return resp;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no answer to {:?} {path:?}", code);
        }
    }
}

async fn recv_json(c: &mut TestClient) -> (String, Value) {
    let p = c.recv_publish().await;
    (p.topic.to_string(), serde_json::from_slice(&p.payload).expect("JSON payload"))
}

#[tokio::test]
async fn register_read_deregister() {
    let gw = spawn_gateway(|c| c.gateway.lwm2m.enable = true).await;
    let lwm2m = gw.running.addr("lwm2m:udp", "default").expect("lwm2m listener bound");
    let mut app = TestClient::v311(gw.tcp, "app").await;
    app.subscribe("lwm2m/dev1/up/#", QoS::AtMostOnce).await;

    let mut dev = Device::new(lwm2m).await;
    // Garbage first: logged and ignored.
    dev.socket.send_to(b"\xff\x00", lwm2m).await.unwrap();
    let resp = dev.request(Code::POST, &["rd"], &["ep=dev1", "lt=300", "lwm2m=1.0", "b=U"], b"</1/0>,</3/0>").await;
    assert_eq!(resp.code, Code::CREATED);
    let loc: Vec<&[u8]> = resp.options_of(option::LOCATION_PATH).map(|b| b.as_ref()).collect();
    assert_eq!(loc, vec![b"rd".as_ref(), b"dev1".as_ref()]);

    let (topic, reg) = recv_json(&mut app).await;
    assert_eq!(topic, "lwm2m/dev1/up/resp");
    assert_eq!(reg["msgType"], "register");
    assert_eq!(reg["data"]["ep"], "dev1");
    assert_eq!(reg["data"]["lt"], 300);
    assert_eq!(reg["data"]["objectList"], json!(["/1/0", "/3/0"]));

    // Read /3/0/0 from MQTT.
    let cmd = json!({"reqID": 7, "msgType": "read", "data": {"path": "/3/0/0"}});
    app.publish_simple("lwm2m/dev1/dn/x", cmd.to_string().as_bytes(), QoS::AtMostOnce).await;
    let req = dev.recv().await;
    assert_eq!(req.mtype, MessageType::Confirmable);
    assert_eq!(req.code, Code::GET);
    let path: Vec<&[u8]> = req.options_of(option::URI_PATH).map(|b| b.as_ref()).collect();
    assert_eq!(path, vec![b"3".as_ref(), b"0".as_ref(), b"0".as_ref()]);
    let mut ack = Message::new(MessageType::Acknowledgement, Code::CONTENT, req.message_id, req.token.clone());
    ack.set_uint_option(option::CONTENT_FORMAT, 0);
    ack.payload = Bytes::from_static(b"Open Mobile Alliance");
    dev.send(&ack).await;

    let (topic, resp) = recv_json(&mut app).await;
    assert_eq!(topic, "lwm2m/dev1/up/resp");
    assert_eq!(resp["reqID"], 7);
    assert_eq!(resp["msgType"], "read");
    assert_eq!(resp["data"]["code"], "2.05");
    assert_eq!(resp["data"]["reqPath"], "/3/0/0");
    assert_eq!(resp["data"]["content"], json!([{"path": "/3/0/0", "value": "Open Mobile Alliance"}]));

    // Observe /3/0/13, then a notification.
    let cmd = json!({"reqID": 8, "msgType": "observe", "data": {"path": "/3/0/13"}});
    app.publish_simple("lwm2m/dev1/dn/x", cmd.to_string().as_bytes(), QoS::AtMostOnce).await;
    let req = dev.recv().await;
    assert_eq!(req.uint_option(option::OBSERVE).unwrap(), Some(0));
    let mut ack = Message::new(MessageType::Acknowledgement, Code::CONTENT, req.message_id, req.token.clone());
    ack.set_uint_option(option::OBSERVE, 1);
    ack.set_uint_option(option::CONTENT_FORMAT, 0);
    ack.payload = Bytes::from_static(b"1000");
    dev.send(&ack).await;
    let (_, resp) = recv_json(&mut app).await;
    assert_eq!(resp["msgType"], "observe");
    assert_eq!(resp["seqNum"], 1);
    assert_eq!(resp["data"]["content"], json!([{"path": "/3/0/13", "value": 1000}]));
    let mut note = Message::new(MessageType::NonConfirmable, Code::CONTENT, 900, req.token.clone());
    note.set_uint_option(option::OBSERVE, 2);
    note.set_uint_option(option::CONTENT_FORMAT, 0);
    note.payload = Bytes::from_static(b"1001");
    dev.send(&note).await;
    let (topic, n) = recv_json(&mut app).await;
    assert_eq!(topic, "lwm2m/dev1/up/notify");
    assert_eq!(n["msgType"], "notify");
    assert_eq!(n["reqID"], 8);
    assert_eq!(n["seqNum"], 2);
    assert_eq!(n["data"]["content"], json!([{"path": "/3/0/13", "value": 1001}]));

    // A malformed command gets an error response.
    app.publish_simple("lwm2m/dev1/dn/x", br#"{"reqID":9,"msgType":"bogus","data":{}}"#, QoS::AtMostOnce).await;
    let (_, resp) = recv_json(&mut app).await;
    assert_eq!(resp["reqID"], 9);
    assert_eq!(resp["data"]["code"], "4.00");

    // Update, then de-register.
    let resp = dev.request(Code::POST, &["rd", "dev1"], &["lt=600"], b"").await;
    assert_eq!(resp.code, Code::CHANGED);
    let (_, up) = recv_json(&mut app).await;
    assert_eq!(up["msgType"], "update");
    assert_eq!(up["data"]["lt"], 600);
    let resp = dev.request(Code::DELETE, &["rd", "dev1"], &[], b"").await;
    assert_eq!(resp.code, Code::DELETED);
    let device = ClientId::new("dev1");
    wait_until("the device session is closed", || !gw.bus().is_connected(&device)).await;
    app.recv_none_within(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn register_without_lifetime_is_refused() {
    let gw = spawn_gateway(|c| c.gateway.lwm2m.enable = true).await;
    let lwm2m = gw.running.addr("lwm2m:udp", "default").expect("lwm2m listener bound");
    let mut dev = Device::new(lwm2m).await;
    let resp = dev.request(Code::POST, &["rd"], &["ep=dev2"], b"</3/0>").await;
    assert_eq!(resp.code, Code::BAD_REQUEST);
}

/// auto_observe: on register the gateway observes 3 and 3303 (definitions loaded), not 1;
/// an RST to a command → `coap_reset`; an empty ACK → `ack`, then the separate response.
#[tokio::test]
async fn auto_observe_reset_and_separate_response() {
    let gw = spawn_gateway(|c| {
        c.gateway.lwm2m.enable = true;
        c.gateway.lwm2m.auto_observe = AutoObserveConfig::Switch(true);
    })
    .await;
    let lwm2m = gw.running.addr("lwm2m:udp", "default").expect("lwm2m listener bound");
    let mut app = TestClient::v311(gw.tcp, "app3").await;
    app.subscribe("lwm2m/dev3/up/#", QoS::AtMostOnce).await;
    let mut dev = Device::new(lwm2m).await;
    let resp = dev.request(Code::POST, &["rd"], &["ep=dev3", "lt=300"], b"</1/0>,</3/0>,</3303/0>").await;
    assert_eq!(resp.code, Code::CREATED);
    let (_, reg) = recv_json(&mut app).await;
    assert_eq!(reg["msgType"], "register");

    for (object, seq) in [(&b"3"[..], 5u32), (&b"3303"[..], 6)] {
        let obs = dev.recv().await;
        let path: Vec<&[u8]> = obs.options_of(option::URI_PATH).map(|b| b.as_ref()).collect();
        assert_eq!(path, vec![object]);
        assert_eq!(obs.uint_option(option::OBSERVE).unwrap(), Some(0));
        let mut ack = Message::new(MessageType::Acknowledgement, Code::CONTENT, obs.message_id, obs.token.clone());
        ack.set_uint_option(option::OBSERVE, seq);
        dev.send(&ack).await;
        let (_, resp) = recv_json(&mut app).await;
        assert_eq!(resp["msgType"], "observe");
        assert_eq!(resp["is_auto_observe"], true);
        assert_eq!(resp["seqNum"], seq);
    }

    // RST → coap_reset.
    let cmd = json!({"reqID": 1, "msgType": "read", "data": {"path": "/3/0/1"}});
    app.publish_simple("lwm2m/dev3/dn/x", cmd.to_string().as_bytes(), QoS::AtMostOnce).await;
    let req = dev.recv().await;
    dev.send(&Message::reset(req.message_id)).await;
    let (_, resp) = recv_json(&mut app).await;
    assert_eq!(resp["msgType"], "coap_reset");
    assert_eq!(resp["reqID"], 1);

    // Empty ACK → ack; separate CON response → the read response.
    let cmd = json!({"reqID": 2, "msgType": "read", "data": {"path": "/3/0/2"}});
    app.publish_simple("lwm2m/dev3/dn/x", cmd.to_string().as_bytes(), QoS::AtMostOnce).await;
    let req = dev.recv().await;
    dev.send(&Message::empty_ack(req.message_id)).await;
    let (_, resp) = recv_json(&mut app).await;
    assert_eq!(resp["msgType"], "ack");
    let mut sep = Message::new(MessageType::Confirmable, Code::CONTENT, 4242, req.token.clone());
    sep.payload = Bytes::from_static(b"345000123");
    dev.send(&sep).await;
    let ack = dev.recv().await;
    assert_eq!((ack.mtype, ack.message_id), (MessageType::Acknowledgement, 4242));
    let (_, resp) = recv_json(&mut app).await;
    assert_eq!(resp["msgType"], "read");
    assert_eq!(resp["data"]["content"], json!([{"path": "/3/0/2", "value": "345000123"}]));
}

/// A command for an endpoint that is not registered is answered with 4.04 on that
/// endpoint's response topic, never silently dropped (issue 6, "never silence").
#[tokio::test]
async fn command_for_unknown_endpoint_gets_not_found() {
    let gw = spawn_gateway(|c| c.gateway.lwm2m.enable = true).await;
    let mut app = TestClient::v311(gw.tcp, "app-unknown").await;
    app.subscribe("lwm2m/ghost/up/#", QoS::AtMostOnce).await;
    let cmd = json!({"reqID": 42, "msgType": "read", "data": {"path": "/3/0/0"}});
    app.publish_simple("lwm2m/ghost/dn/x", cmd.to_string().as_bytes(), QoS::AtMostOnce).await;
    let (topic, resp) = recv_json(&mut app).await;
    assert_eq!(topic, "lwm2m/ghost/up/resp");
    assert_eq!(resp["reqID"], 42);
    assert_eq!(resp["msgType"], "read");
    assert_eq!(resp["data"]["code"], "4.04");
    assert_eq!(resp["data"]["reqPath"], "/3/0/0");
    // A malformed command for an unknown endpoint: 4.00, still an answer.
    app.publish_simple("lwm2m/ghost/dn/x", b"not json", QoS::AtMostOnce).await;
    let (_, resp) = recv_json(&mut app).await;
    assert_eq!(resp["data"]["code"], "4.00");
}

/// A registration whose lifetime passes without an Update ends: the device's session is
/// closed (OMA LwM2M TS §6.2.1 Register, lifetime `lt`).
#[tokio::test]
async fn registration_expires_after_its_lifetime() {
    let gw = spawn_gateway(|c| {
        c.gateway.lwm2m.enable = true;
        c.gateway.lwm2m.lifetime_min = ConfigDuration::from_secs(1);
    })
    .await;
    let lwm2m = gw.running.addr("lwm2m:udp", "default").expect("lwm2m listener bound");
    let device = ClientId::new("short");
    let mut dev = Device::new(lwm2m).await;
    let resp = dev.request(Code::POST, &["rd"], &["ep=short", "lt=1", "lwm2m=1.0", "b=U"], b"</3/0>").await;
    assert_eq!(resp.code, Code::CREATED);
    assert!(gw.bus().is_connected(&device), "registered device has a session");
    wait_until("the registration expired", || !gw.bus().is_connected(&device)).await;
}

/// Commands for a sleeping queue-mode device are bounded: the handler holds
/// `max_queued_commands`, the rest wait in the session's mqueue, whose overflow drops the
/// oldest and is counted; on wake-up the device receives the newest ones, one at a time.
#[tokio::test]
async fn queued_commands_are_bounded() {
    let gw = spawn_gateway(|c| {
        c.gateway.lwm2m.enable = true;
        c.gateway.lwm2m.max_queued_commands = 2;
        c.gateway.lwm2m.qmode_time_window = ConfigDuration(Some(Duration::from_millis(200)));
        c.mqtt.max_mqueue_len = 3;
    })
    .await;
    let lwm2m = gw.running.addr("lwm2m:udp", "default").expect("lwm2m listener bound");
    let mut app = TestClient::v311(gw.tcp, "app-queue").await;
    let mut dev = Device::new(lwm2m).await;
    let resp = dev.request(Code::POST, &["rd"], &["ep=sleepy", "lt=300", "lwm2m=1.0", "b=UQ"], b"</3/0>").await;
    assert_eq!(resp.code, Code::CREATED);
    tokio::time::sleep(Duration::from_millis(400)).await; // past qmode_time_window: asleep
    let command = |id: u32| json!({"reqID": id, "msgType": "read", "data": {"path": "/3/0/0"}}).to_string();
    // The first two reach the handler before the rest arrive (commands published together
    // are queued together, and the mqueue's bound would apply to all of them).
    for id in 0..2 {
        app.publish_simple("lwm2m/sleepy/dn/x", command(id).as_bytes(), QoS::AtMostOnce).await;
    }
    // Each is delivered twice: to the device's handler and to the unknown-endpoint responder.
    wait_until("the handler holds two commands", || gw.metric("messages_delivered") >= 2 * 2).await;
    eprintln!(
        "DBG after2 delivered={} dropped={}",
        gw.metric("messages_delivered"),
        gw.metric("delivery_dropped_queue_full")
    );
    for id in 2..10 {
        app.publish_simple("lwm2m/sleepy/dn/x", command(id).as_bytes(), QoS::AtMostOnce).await;
    }
    // All ten must have reached the session before the wake-up, or the device would drain the
    // mqueue while later commands still arrive and fewer would be dropped.
    wait_until("all overflow counted", || gw.metric("delivery_dropped_queue_full") >= 10 - 5).await;
    eprintln!(
        "DBG before wake delivered={} dropped={}",
        gw.metric("messages_delivered"),
        gw.metric("delivery_dropped_queue_full")
    );
    // Wake up with an Update, then answer every command that arrives.
    let resp = dev.request(Code::POST, &["rd", "sleepy"], &[], b"").await;
    assert_eq!(resp.code, Code::CHANGED);
    // Counted by message id: a retransmission on a loaded machine is not a second command.
    let mut received = std::collections::HashSet::new();
    while let Ok(req) = tokio::time::timeout(Duration::from_millis(500), dev.recv()).await {
        received.insert(req.message_id);
        let mut ack = Message::new(MessageType::Acknowledgement, Code::CONTENT, req.message_id, req.token.clone());
        ack.set_uint_option(option::CONTENT_FORMAT, 0);
        ack.payload = Bytes::from_static(b"x");
        dev.send(&ack).await;
    }
    assert_eq!(received.len(), 2 + 3, "held commands plus the mqueue's newest; the rest dropped");
    // At least the device's five; the gateway's responder for unknown endpoints also
    // subscribes to every command, and its (equally small) queue may overflow in a burst.
    assert!(gw.metric("delivery_dropped_queue_full") >= 10 - 5);
}

/// Registers `ep` from `dev` (lifetime 300 s, binding `binding`) and returns the app's view of
/// the register event.
async fn register(dev: &mut Device, app: &mut TestClient, ep: &str, binding: &str, objects: &[u8]) -> Value {
    let (ep_q, b_q) = (format!("ep={ep}"), format!("b={binding}"));
    let resp = dev.request(Code::POST, &["rd"], &[&ep_q, "lt=300", "lwm2m=1.0", &b_q], objects).await;
    assert_eq!(resp.code, Code::CREATED);
    let (_, reg) = recv_json(app).await;
    assert_eq!(reg["msgType"], "register");
    reg
}

/// One test's world: a gateway with LwM2M on (and `customize`d), an MQTT application
/// subscribed to `lwm2m/{ep}/up/#`, and a device registered as `ep` with `binding` and the
/// link-format `objects`.
struct World {
    gw: TestGateway,
    app: TestClient,
    dev: Device,
    ep: String,
}

impl World {
    async fn new(ep: &str, binding: &str, objects: &[u8], customize: impl FnOnce(&mut GatewayConfig)) -> Self {
        let gw = spawn_gateway(|c| {
            c.gateway.lwm2m.enable = true;
            customize(c);
        })
        .await;
        let lwm2m = gw.running.addr("lwm2m:udp", "default").expect("lwm2m listener bound");
        let mut app = TestClient::v311(gw.tcp, &format!("app-{ep}")).await;
        app.subscribe(&format!("lwm2m/{ep}/up/#"), QoS::AtMostOnce).await;
        let mut dev = Device::new(lwm2m).await;
        register(&mut dev, &mut app, ep, binding, objects).await;
        Self { gw, app, dev, ep: ep.to_owned() }
    }

    /// Publishes a downlink command for the device.
    async fn command(&mut self, cmd: &Value) {
        let topic = format!("lwm2m/{}/dn/x", self.ep);
        self.app.publish_simple(&topic, cmd.to_string().as_bytes(), QoS::AtMostOnce).await;
    }
}

fn uri_path(m: &Message) -> String {
    m.options_of(option::URI_PATH).map(|b| format!("/{}", String::from_utf8_lossy(b))).collect()
}

/// A command the device never answers is retransmitted `transmission.max_retransmit` times
/// (RFC 7252 §4.2), then the application gets EMQX's `coap_timeout` on the response topic
/// and the next queued command goes out: one silent device does not block its queue.
#[tokio::test]
async fn unanswered_command_gets_coap_timeout() {
    let mut w = World::new("mute", "U", b"</3/0>", |c| {
        c.gateway.lwm2m.transmission.ack_timeout = ConfigDuration(Some(Duration::from_millis(100)));
        c.gateway.lwm2m.transmission.max_retransmit = 1;
    })
    .await;
    for (id, path) in [(1, "/3/0/0"), (2, "/3/0/1")] {
        w.command(&json!({"reqID": id, "msgType": "read", "data": {"path": path}})).await;
    }
    let (dev, app) = (&w.dev, &mut w.app);
    let first = dev.recv().await;
    assert_eq!(uri_path(&first), "/3/0/0");
    let again = dev.recv().await;
    assert_eq!((again.message_id, &again.token), (first.message_id, &first.token), "a retransmission");
    let (topic, resp) = recv_json(app).await;
    assert_eq!(topic, "lwm2m/mute/up/resp");
    assert_eq!(resp, json!({"reqID": 1, "msgType": "coap_timeout", "data": {"reqPath": "/3/0/0"}}));
    let next = dev.recv().await;
    assert_eq!(uri_path(&next), "/3/0/1", "the queue moves on after the timeout");
    assert!(w.gw.bus().is_connected(&ClientId::new("mute")), "a timeout does not end the registration");
}

/// `mheaders.ttl`: a command queued for a sleeping queue-mode device expires `ttl` seconds
/// after the gateway took it and is never sent; as in EMQX nothing is published for it. A
/// command without a ttl queued after it is delivered on wake-up.
#[tokio::test]
async fn expired_command_is_not_sent_to_a_sleeping_device() {
    let mut w = World::new("napper", "UQ", b"</3/0>", |c| {
        c.gateway.lwm2m.qmode_time_window = ConfigDuration(Some(Duration::from_millis(200)));
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await; // past qmode_time_window: asleep
    w.command(&json!({"reqID": 1, "msgType": "read", "data": {"path": "/3/0/0"}, "mheaders": {"ttl": 1}})).await;
    // A malformed command is answered at once, after the one before it was taken: from its
    // answer on, the ttl runs.
    w.command(&json!({"reqID": 99, "msgType": "bogus", "data": {}})).await;
    let (_, probe) = recv_json(&mut w.app).await;
    assert_eq!((probe["reqID"].clone(), probe["data"]["code"].clone()), (json!(99), json!("4.00")));
    tokio::time::sleep(Duration::from_millis(1200)).await; // the ttl of 1 s has passed
    w.command(&json!({"reqID": 2, "msgType": "read", "data": {"path": "/3/0/1"}})).await;
    let (dev, app) = (&mut w.dev, &mut w.app);

    // Wake up: the first request the device gets is the command without a ttl.
    let resp = dev.request(Code::POST, &["rd", "napper"], &[], b"").await;
    assert_eq!(resp.code, Code::CHANGED);
    let req = dev.recv().await;
    assert_eq!(uri_path(&req), "/3/0/1", "the expired command was dropped, not sent");
    let mut ack = Message::new(MessageType::Acknowledgement, Code::CONTENT, req.message_id, req.token.clone());
    ack.payload = Bytes::from_static(b"LwM2M Client");
    dev.send(&ack).await;
    loop {
        let (_, msg) = recv_json(app).await;
        assert_ne!(msg["reqID"], 1, "nothing is published for an expired command: {msg}");
        if msg["reqID"] == 2 {
            assert_eq!(msg["data"]["code"], "2.05");
            break;
        }
    }
}

/// auto_observe as a list of paths (EMQX's string form): on register the gateway observes
/// exactly the listed paths the device registered, in order, and nothing else; the next
/// request is the application's own command.
#[tokio::test]
async fn auto_observe_list_observes_exactly_those_paths() {
    let mut w = World::new("listed", "U", b"</1/0>,</3/0>,</3303/0>", |c| {
        c.gateway.lwm2m.auto_observe = AutoObserveConfig::Text("/3/0/1, /5/0, /3303/0".into());
    })
    .await;
    // Queued after the auto-observes: the first request after them.
    w.command(&json!({"reqID": 77, "msgType": "read", "data": {"path": "/3/0/0"}})).await;
    let (dev, app) = (&w.dev, &mut w.app);
    for (path, seq) in [("/3/0/1", 1u32), ("/3303/0", 2)] {
        let obs = dev.recv().await;
        assert_eq!((uri_path(&obs), obs.uint_option(option::OBSERVE).unwrap()), (path.to_owned(), Some(0)));
        let mut ack = Message::new(MessageType::Acknowledgement, Code::CONTENT, obs.message_id, obs.token.clone());
        ack.set_uint_option(option::OBSERVE, seq);
        dev.send(&ack).await;
        let (_, resp) = recv_json(app).await;
        assert_eq!(resp["msgType"], "observe");
        assert_eq!(resp["is_auto_observe"], true);
        assert_eq!(resp["data"]["reqPath"], path);
    }
    let next = dev.recv().await;
    assert_eq!((uri_path(&next), next.uint_option(option::OBSERVE).unwrap()), ("/3/0/0".to_owned(), None));
}

/// A device registering again with the same endpoint name from a new address (NAT rebinding)
/// takes over at once: the registration at the old address is gone (its Update gets 4.04, it
/// does not linger until its lifetime ends), and commands go to the new address and are
/// answered once, never also by the unknown-endpoint 4.04. The same holds when the new
/// registration names another client id (`device_id`), which the bus alone would not see as
/// the same device.
#[tokio::test]
async fn registration_from_a_new_address_takes_over() {
    for (ep, device_id) in [("roamer", None), ("roamer2", Some("roamer2-b"))] {
        let mut w = World::new(ep, "U", b"</3/0>", |_| {}).await;
        let lwm2m = w.gw.running.addr("lwm2m:udp", "default").expect("lwm2m listener bound");
        let mut moved = Device::new(lwm2m).await;
        let mut query = vec![format!("ep={ep}"), "lt=300".to_owned()];
        query.extend(device_id.map(|id| format!("device_id={id}")));
        let query: Vec<&str> = query.iter().map(String::as_str).collect();
        let resp = moved.request(Code::POST, &["rd"], &query, b"</3/0>").await;
        assert_eq!(resp.code, Code::CREATED);
        let (_, reg) = recv_json(&mut w.app).await;
        assert_eq!(reg["msgType"], "register");
        if device_id.is_some() {
            let old = ClientId::new(ep);
            wait_until("the old registration's session ended", || !w.gw.bus().is_connected(&old)).await;
        }

        let resp = w.dev.request_until_answered(Code::POST, &["rd", ep], &[], b"").await;
        assert_eq!(resp.code, Code::NOT_FOUND, "{ep}: the old address's registration is gone");

        w.command(&json!({"reqID": 5, "msgType": "read", "data": {"path": "/3/0/0"}})).await;
        let req = moved.recv().await;
        let mut ack = Message::new(MessageType::Acknowledgement, Code::CONTENT, req.message_id, req.token.clone());
        ack.payload = Bytes::from_static(b"moved");
        moved.send(&ack).await;
        let (_, resp) = recv_json(&mut w.app).await;
        assert_eq!((&resp["reqID"], &resp["data"]["code"]), (&json!(5), &json!("2.05")), "{ep}: {resp}");
    }
}

/// A device answering a read with more than one block (RFC 7959 §2.4, Block2 `M=1`): the
/// gateway asks for each next block and the application gets one response with the whole,
/// decoded, representation.
#[tokio::test]
async fn blockwise_response_is_reassembled_before_translation() {
    let mut w = World::new("bulky", "U", b"</3/0>", |_| {}).await;
    // /3/0 as TLV, 51 bytes: 4 blocks of 16.
    let mut tlv = vec![0xC8, 0x00, 20]; // resource 0, 8-bit length 20
    tlv.extend_from_slice(b"Open Mobile Alliance");
    tlv.extend_from_slice(&[0xC8, 0x01, 22]); // resource 1, 8-bit length 22
    tlv.extend_from_slice(b"Lightweight M2M Client");
    tlv.extend_from_slice(&[0xC1, 0x09, 100]); // resource 9, 1 byte: 100
    w.command(&json!({"reqID": 3, "msgType": "read", "data": {"path": "/3/0"}})).await;
    for num in 0..4u32 {
        let req = w.dev.recv().await;
        assert_eq!(uri_path(&req), "/3/0");
        let asked = req.option(option::BLOCK2).map(|b| BlockValue::decode(b).expect("a valid Block2"));
        assert_eq!(asked.map(|b| b.num), (num > 0).then_some(num), "block {num} asked for in order");
        let end = (16 * (num as usize + 1)).min(tlv.len());
        let mut ack = Message::new(MessageType::Acknowledgement, Code::CONTENT, req.message_id, req.token.clone());
        ack.set_uint_option(option::CONTENT_FORMAT, 11542);
        ack.set_option(option::BLOCK2, BlockValue { num, more: end < tlv.len(), szx: 0 }.encode());
        ack.payload = Bytes::copy_from_slice(&tlv[16 * num as usize..end]);
        w.dev.send(&ack).await;
    }
    let (_, resp) = recv_json(&mut w.app).await;
    assert_eq!(resp["reqID"], 3);
    assert_eq!(resp["data"]["code"], "2.05");
    assert_eq!(
        resp["data"]["content"],
        json!([{"path": "/3/0/0", "value": "Open Mobile Alliance"},
               {"path": "/3/0/1", "value": "Lightweight M2M Client"},
               {"path": "/3/0/9", "value": 100}])
    );
}

/// Notifications of object 5 (Firmware Update) go, as in EMQX, to the mountpoint +
/// `/v1/up/dm` (plain concatenation: `lwm2m/{ep}//v1/up/dm`) instead of the notify topic;
/// other objects' notifications stay on `up/notify`.
#[tokio::test]
async fn firmware_update_notifications_go_to_the_dm_topic() {
    let mut w = World::new("flasher", "U", b"</3/0>,</5/0>", |_| {}).await;
    w.app.subscribe("lwm2m/flasher//v1/up/dm", QoS::AtMostOnce).await;
    let mut tokens = Vec::new();
    for (id, path) in [(1, "/5/0/3"), (2, "/3/0/9")] {
        w.command(&json!({"reqID": id, "msgType": "observe", "data": {"path": path}})).await;
        let obs = w.dev.recv().await;
        let mut ack = Message::new(MessageType::Acknowledgement, Code::CONTENT, obs.message_id, obs.token.clone());
        ack.set_uint_option(option::OBSERVE, 1);
        ack.payload = Bytes::from_static(b"0");
        w.dev.send(&ack).await;
        let (topic, resp) = recv_json(&mut w.app).await;
        assert_eq!((topic.as_str(), &resp["msgType"]), ("lwm2m/flasher/up/resp", &json!("observe")));
        tokens.push(obs.token);
    }
    // Firmware state 1 (downloading), then a battery level: in this order, one each.
    for (mid, token, value) in [(700, &tokens[0], &b"1"[..]), (701, &tokens[1], b"87")] {
        let mut note = Message::new(MessageType::NonConfirmable, Code::CONTENT, mid, token.clone());
        note.set_uint_option(option::OBSERVE, 2);
        note.payload = Bytes::copy_from_slice(value);
        w.dev.send(&note).await;
    }
    let (topic, fw) = recv_json(&mut w.app).await;
    assert_eq!(topic, "lwm2m/flasher//v1/up/dm");
    assert_eq!(
        fw,
        json!({"reqID": 1, "msgType": "notify", "seqNum": 2,
               "data": {"reqPath": "/5/0/3", "code": "2.05", "codeMsg": "content",
                        "content": [{"path": "/5/0/3", "value": 1}]}})
    );
    let (topic, battery) = recv_json(&mut w.app).await;
    assert_eq!((topic.as_str(), &battery["reqID"]), ("lwm2m/flasher/up/notify", &json!(2)), "{battery}");
}

/// A peer that registers again under another endpoint name gives the first name up: a
/// command for it is answered 4.04 by the gateway, not left unanswered (issue 6: never silence).
#[tokio::test]
async fn renaming_endpoint_releases_the_old_name() {
    let mut w = World::new("first-name", "U", b"</3/0>", |_| {}).await;
    let resp = w.dev.request(Code::POST, &["rd"], &["ep=second-name", "lt=300"], b"</3/0>").await;
    assert_eq!(resp.code, Code::CREATED);
    w.command(&json!({"reqID": 8, "msgType": "read", "data": {"path": "/3/0/0"}})).await;
    let (topic, resp) = recv_json(&mut w.app).await;
    assert_eq!(topic, "lwm2m/first-name/up/resp");
    assert_eq!((&resp["reqID"], &resp["data"]["code"]), (&json!(8), &json!("4.04")), "{resp}");
}
