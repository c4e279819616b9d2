//! The MQTT-SN front-end: one channel per UDP peer, glued to the bus.
//!
//! MQTT-SN clients get full bus sessions (as in EMQX): clean session or a persistent one that
//! expires after `mqtt.session_expiry_interval`, an mqueue that keeps buffering while the
//! client sleeps, and the inflight window. Topic ids are the channel's business (registry per
//! client, predefined ids from the config); the glue sees topic names only.
//!
//! Authentication: MQTT-SN 1.2 CONNECT carries no user name or password, so the client id is
//! all the authentication entry point gets (EMQX recommends HTTP authn on the client id for
//! the same reason). A QoS -1 publish comes from no client at all: it is authorized and
//! published as client `NegQoS-Client`, as EMQX does.

mod connection;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gw_core::bus::Bus;
use gw_core::conn::DatagramProtocol;
use gw_mqttsn::channel::ChannelConfig;
use tokio::time::Instant;

pub use connection::MqttSnConnection;

/// The client id QoS -1 publishes are authorized and published as (EMQX's).
pub const QOS_MINUS_ONE_CLIENT: &str = "NegQoS-Client";

/// MQTT-SN front-end settings (`gateway.mqttsn.*`).
#[derive(Debug, Clone)]
pub struct MqttSnSettings {
    /// What the channel enforces (gateway id, predefined ids, retries, ...).
    pub channel: ChannelConfig,
    /// Mountpoint template; empty = none. Not applied to QoS -1 publishes (EMQX).
    pub mountpoint: String,
    /// Expiry of sessions of clients connecting with CleanSession = 0.
    pub session_expiry_interval: Option<Duration>,
}

impl Default for MqttSnSettings {
    fn default() -> Self {
        Self {
            channel: ChannelConfig::default(),
            mountpoint: String::new(),
            session_expiry_interval: Some(Duration::from_secs(7200)),
        }
    }
}

/// One MQTT-SN listener's front-end.
#[derive(Debug, Clone)]
pub struct MqttSnFrontend {
    bus: Bus,
    settings: Arc<MqttSnSettings>,
    channel_config: Arc<ChannelConfig>,
}

impl MqttSnFrontend {
    /// A front-end on `bus`.
    pub fn new(bus: Bus, settings: MqttSnSettings) -> Self {
        let channel_config = Arc::new(settings.channel.clone());
        Self { bus, settings: Arc::new(settings), channel_config }
    }
}

impl DatagramProtocol for MqttSnFrontend {
    type Handler = MqttSnConnection;

    fn name(&self) -> &'static str {
        "mqttsn"
    }

    fn accept(&self, peer: SocketAddr, _first: &[u8], now: Instant) -> Option<MqttSnConnection> {
        Some(MqttSnConnection::new(self.bus.clone(), self.settings.clone(), self.channel_config.clone(), peer, now))
    }
}
