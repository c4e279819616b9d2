//! The gateway server: configuration, wiring of the bus and the front-ends, listeners.
//!
//! # Layout
//! - [`config`]: the configuration tree, loaded with figment from defaults, a TOML file and
//!   `GATEWAY_*` environment variables; every value validated with the key named on error.
//! - [`start`] binds every enabled listener, starts the bus's timers and returns a
//!   [`Running`] gateway that reports its bound addresses (tests bind port 0) and shuts
//!   down gracefully.
//! - `main.rs`: the `gateway` binary (CLI, logging, signals).

pub mod config;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gw_core::bus::Bus;
use gw_core::config::ByteSize;
use gw_core::conn::datagram::{run_datagram, DatagramLimits};
use gw_core::conn::dtls::Dtls;
use gw_core::conn::stream::StreamLimits;
use gw_core::listener::{serve_tcp, serve_ws, ListenerLimits, WsSettings};
use gw_core::shutdown::Shutdown;
use gw_core::sys::run_sys_topics;
use gw_mapping::coap::CoapFrontend;
use gw_mapping::lwm2m::Lwm2mFrontend;
use gw_mapping::mqtt::MqttFrontend;
use gw_mapping::mqttsn::MqttSnFrontend;
use gw_mapping::stomp::StompFrontend;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

pub use config::GatewayConfig;

/// A bound listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundListener {
    /// `mqtt:tcp`, `mqtt:ws`.
    pub kind: &'static str,
    /// The listener's name in the config (`default`).
    pub name: String,
    /// The address it listens on (with the real port when the config said 0).
    pub addr: SocketAddr,
}

/// A running gateway.
#[derive(Debug)]
pub struct Running {
    /// The bus.
    pub bus: Bus,
    /// Every bound listener.
    pub listeners: Vec<BoundListener>,
    shutdown: Shutdown,
    tasks: JoinSet<()>,
}

impl Running {
    /// The address of the listener of `kind` named `name`.
    pub fn addr(&self, kind: &str, name: &str) -> Option<SocketAddr> {
        self.listeners.iter().find(|l| l.kind == kind && l.name == name).map(|l| l.addr)
    }

    /// Stops accepting, tells every connection to close, and waits (bounded) for them.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let wait = async { while self.tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
    }

    /// Resolves when a shutdown was requested.
    pub async fn stopped(&self) {
        self.shutdown.cancelled().await;
    }
}

/// Binds every enabled listener and starts serving.
pub async fn start(config: GatewayConfig) -> anyhow::Result<Running> {
    let bus = Bus::new(config.bus());
    let shutdown = Shutdown::new();
    let mut tasks = JoinSet::new();
    let mut listeners = Vec::new();
    {
        let bus = bus.clone();
        let token = shutdown.clone();
        tasks.spawn(async move { bus.run_timers(token.cancelled_owned()).await });
    }
    tasks.spawn(run_sys_topics(bus.clone(), config.sys_topics_settings(), shutdown.clone()));
    let settings = config.mqtt_settings();
    let mqtt = Arc::new(MqttFrontend::new(bus.clone(), settings.clone()));
    let stream_limits = StreamLimits {
        write_high_watermark: (settings.channel.max_packet_size as usize).clamp(64 * 1024, 4 << 20),
        ..StreamLimits::default()
    };
    for (name, l) in config.listeners.tcp.iter().filter(|(_, l)| l.enable) {
        let addr = config::parse_bind(&l.bind).map_err(anyhow::Error::msg)?;
        let listener =
            TcpListener::bind(addr).await.with_context(|| format!("listeners.tcp.{name}: cannot bind {addr}"))?;
        let bound = listener.local_addr()?;
        tracing::info!(listener = %format!("tcp:{name}"), addr = %bound, "mqtt_listener_started");
        listeners.push(BoundListener { kind: "mqtt:tcp", name: name.clone(), addr: bound });
        let stream = StreamLimits {
            read_chunk: buffer_size(l.tcp_options.buffer),
            hibernate_after: l.hibernate_after.get(),
            ..stream_limits
        };
        let limits = ListenerLimits { max_connections: l.max_connections, stream };
        tasks.spawn(serve_tcp(listener, mqtt.clone(), shutdown.clone(), limits));
    }
    for (name, l) in config.listeners.ws.iter().filter(|(_, l)| l.enable) {
        let addr = config::parse_bind(&l.bind).map_err(anyhow::Error::msg)?;
        let listener =
            TcpListener::bind(addr).await.with_context(|| format!("listeners.ws.{name}: cannot bind {addr}"))?;
        let bound = listener.local_addr()?;
        tracing::info!(listener = %format!("ws:{name}"), addr = %bound, path = %l.websocket.mqtt_path, "mqtt_listener_started");
        listeners.push(BoundListener { kind: "mqtt:ws", name: name.clone(), addr: bound });
        let stream = StreamLimits { read_chunk: buffer_size(l.tcp_options.buffer), ..stream_limits };
        let limits = ListenerLimits { max_connections: l.max_connections, stream };
        let ws = WsSettings {
            path: l.websocket.mqtt_path.clone(),
            subprotocols: split_list(&l.websocket.supported_subprotocols),
            fail_if_no_subprotocol: l.websocket.fail_if_no_subprotocol,
            max_message_size: settings.channel.max_packet_size as usize + 8,
            allow_text: false,
            text_output: false,
            handshake_timeout: Duration::from_secs(10),
        };
        tasks.spawn(serve_ws(listener, mqtt.clone(), shutdown.clone(), limits, ws));
    }
    if config.gateway.stomp.enable {
        let stomp_settings = config.stomp_settings();
        let stomp = Arc::new(StompFrontend::new(bus.clone(), stomp_settings.clone()));
        let st = &config.gateway.stomp;
        let limits_for = |max_connections| ListenerLimits {
            max_connections,
            stream: StreamLimits {
                write_high_watermark: stomp_settings.channel.limits.max_body_length.clamp(64 * 1024, 4 << 20),
                ..StreamLimits::default()
            },
        };
        for (name, l) in st.listeners.tcp.iter().filter(|(_, l)| l.enable) {
            let listener = bind(&l.bind, &format!("gateway.stomp.listeners.tcp.{name}")).await?;
            let bound = listener.local_addr()?;
            tracing::info!(listener = %format!("tcp:{name}"), addr = %bound, "stomp_listener_started");
            listeners.push(BoundListener { kind: "stomp:tcp", name: name.clone(), addr: bound });
            let mut limits = limits_for(l.max_connections);
            limits.stream.read_chunk = buffer_size(l.tcp_options.buffer);
            limits.stream.hibernate_after = l.hibernate_after.get();
            tasks.spawn(serve_tcp(listener, stomp.clone(), shutdown.clone(), limits));
        }
        for (name, l) in st.listeners.ws.iter().filter(|(_, l)| l.enable) {
            let listener = bind(&l.bind, &format!("gateway.stomp.listeners.ws.{name}")).await?;
            let bound = listener.local_addr()?;
            tracing::info!(listener = %format!("ws:{name}"), addr = %bound, path = %l.websocket.path, "stomp_listener_started");
            listeners.push(BoundListener { kind: "stomp:ws", name: name.clone(), addr: bound });
            let ws = WsSettings {
                path: l.websocket.path.clone(),
                subprotocols: split_list(&l.websocket.supported_subprotocols),
                fail_if_no_subprotocol: l.websocket.fail_if_no_subprotocol,
                max_message_size: stomp_settings.channel.limits.max_body_length + 64 * 1024,
                // Browser clients send STOMP in text messages; answers go out as text when
                // they are valid UTF-8.
                allow_text: true,
                text_output: true,
                handshake_timeout: Duration::from_secs(10),
            };
            tasks.spawn(serve_ws(listener, stomp.clone(), shutdown.clone(), limits_for(l.max_connections), ws));
        }
    }
    if config.gateway.mqttsn.enable {
        let sn = &config.gateway.mqttsn;
        let mqttsn = Arc::new(MqttSnFrontend::new(bus.clone(), config.mqttsn_settings()));
        for (name, l) in sn.listeners.udp.iter().filter(|(_, l)| l.enable) {
            let socket = bind_udp(&l.bind, &format!("gateway.mqttsn.listeners.udp.{name}")).await?;
            let bound = socket.local_addr()?;
            tracing::info!(listener = %format!("udp:{name}"), addr = %bound, "mqttsn_listener_started");
            listeners.push(BoundListener { kind: "mqttsn:udp", name: name.clone(), addr: bound });
            let limits = DatagramLimits {
                max_datagram: sn.max_packet_size.max(64),
                max_peers: l.max_connections,
                peer_queue: l.peer_queue,
            };
            let stats = bus.datagram_stats().clone();
            tasks.spawn(run_datagram(socket, mqttsn.clone(), shutdown.clone(), limits, stats));
        }
        if sn.broadcast {
            let target = config::parse_bind(&sn.broadcast_address).map_err(anyhow::Error::msg)?;
            let interval = sn.advertise_interval.get().unwrap_or(Duration::from_secs(900));
            tasks.spawn(advertise(target, sn.gateway_id, interval, shutdown.clone()));
        }
    }
    if config.gateway.coap.enable {
        let coap = Arc::new(CoapFrontend::new(bus.clone(), config.coap_settings()));
        for (name, l) in config.gateway.coap.listeners.udp.iter().filter(|(_, l)| l.enable) {
            let socket = bind_udp(&l.bind, &format!("gateway.coap.listeners.udp.{name}")).await?;
            let bound = socket.local_addr()?;
            tracing::info!(listener = %format!("udp:{name}"), addr = %bound, "coap_listener_started");
            listeners.push(BoundListener { kind: "coap:udp", name: name.clone(), addr: bound });
            let limits =
                DatagramLimits { max_datagram: 65_535, max_peers: l.max_connections, peer_queue: l.peer_queue };
            tasks.spawn(run_datagram(socket, coap.clone(), shutdown.clone(), limits, bus.datagram_stats().clone()));
        }
        for (name, l) in config.gateway.coap.listeners.dtls.iter().filter(|(_, l)| l.listener.enable) {
            let key = format!("gateway.coap.listeners.dtls.{name}");
            let server =
                l.dtls_options.dtls_config().build().map_err(|e| anyhow::anyhow!("{key}.dtls_options: {e}"))?;
            let socket = bind_udp(&l.listener.bind, &key).await?;
            let bound = socket.local_addr()?;
            tracing::info!(listener = %format!("dtls:{name}"), addr = %bound, "coap_listener_started");
            listeners.push(BoundListener { kind: "coap:dtls", name: name.clone(), addr: bound });
            let limits = DatagramLimits {
                max_datagram: 65_535,
                max_peers: l.listener.max_connections,
                peer_queue: l.listener.peer_queue,
            };
            let dtls = Arc::new(Dtls::new(coap.clone(), server));
            tasks.spawn(run_datagram(socket, dtls, shutdown.clone(), limits, bus.datagram_stats().clone()));
        }
    }
    if config.gateway.lwm2m.enable {
        let lwm2m = Arc::new(Lwm2mFrontend::new(bus.clone(), config.lwm2m_settings()?));
        // Commands for endpoints that are not registered are answered, never dropped silently.
        tasks.spawn(Lwm2mFrontend::clone(&lwm2m).answer_unknown_endpoints(shutdown.clone().cancelled_owned()));
        for (name, l) in config.gateway.lwm2m.listeners.udp.iter().filter(|(_, l)| l.enable) {
            let socket = bind_udp(&l.bind, &format!("gateway.lwm2m.listeners.udp.{name}")).await?;
            let bound = socket.local_addr()?;
            tracing::info!(listener = %format!("udp:{name}"), addr = %bound, "lwm2m_listener_started");
            listeners.push(BoundListener { kind: "lwm2m:udp", name: name.clone(), addr: bound });
            let limits =
                DatagramLimits { max_datagram: 65_535, max_peers: l.max_connections, peer_queue: l.peer_queue };
            tasks.spawn(run_datagram(socket, lwm2m.clone(), shutdown.clone(), limits, bus.datagram_stats().clone()));
        }
        for (name, l) in config.gateway.lwm2m.listeners.dtls.iter().filter(|(_, l)| l.listener.enable) {
            let key = format!("gateway.lwm2m.listeners.dtls.{name}");
            let server =
                l.dtls_options.dtls_config().build().map_err(|e| anyhow::anyhow!("{key}.dtls_options: {e}"))?;
            let socket = bind_udp(&l.listener.bind, &key).await?;
            let bound = socket.local_addr()?;
            tracing::info!(listener = %format!("dtls:{name}"), addr = %bound, "lwm2m_listener_started");
            listeners.push(BoundListener { kind: "lwm2m:dtls", name: name.clone(), addr: bound });
            let limits = DatagramLimits {
                max_datagram: 65_535,
                max_peers: l.listener.max_connections,
                peer_queue: l.listener.peer_queue,
            };
            let dtls = Arc::new(Dtls::new(lwm2m.clone(), server));
            tasks.spawn(run_datagram(socket, dtls, shutdown.clone(), limits, bus.datagram_stats().clone()));
        }
    }
    Ok(Running { bus, listeners, shutdown, tasks })
}

async fn bind_udp(bind: &str, key: &str) -> anyhow::Result<UdpSocket> {
    let addr = config::parse_bind(bind).map_err(anyhow::Error::msg)?;
    UdpSocket::bind(addr).await.with_context(|| format!("{key}: cannot bind {addr}"))
}

/// Sends MQTT-SN ADVERTISE to `target` every `interval` until shutdown (MQTT-SN 1.2 §6.1).
async fn advertise(target: SocketAddr, gateway_id: u8, interval: Duration, shutdown: Shutdown) {
    let socket = match UdpSocket::bind(("0.0.0.0", 0)).await {
        Ok(s) => s,
        Err(e) => return tracing::warn!(error = %e, "advertise_socket_failed"),
    };
    let _ = socket.set_broadcast(true);
    let duration = u16::try_from(interval.as_secs()).unwrap_or(u16::MAX);
    let Ok(datagram) = gw_mqttsn::codec::to_bytes(&gw_mqttsn::codec::Message::Advertise { gateway_id, duration })
    else {
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {
                if let Err(e) = socket.send_to(&datagram, target).await {
                    tracing::debug!(error = %e, "advertise_send_failed");
                }
            }
        }
    }
}

async fn bind(bind: &str, key: &str) -> anyhow::Result<TcpListener> {
    let addr = config::parse_bind(bind).map_err(anyhow::Error::msg)?;
    TcpListener::bind(addr).await.with_context(|| format!("{key}: cannot bind {addr}"))
}

/// A read buffer size from the configuration: at least 1 KB so a read always makes progress
/// on a packet header.
fn buffer_size(size: ByteSize) -> usize {
    usize::try_from(size.0).unwrap_or(usize::MAX).max(1024)
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}
