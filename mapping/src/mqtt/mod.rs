//! The MQTT front-end: an MQTT channel per connection, glued to the bus.
//!
//! The channel (`gw_mqtt::channel`) enforces the protocol; this glue decides what only the
//! bus can: who may connect (authentication), which session a client gets (clean start,
//! expiry, takeover), where a publish goes (authorization, routing, QoS 2 de-duplication via
//! the session) and what is sent to the client (the session's queue and inflight window).

mod connection;
mod convert;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gw_core::bus::Bus;
use gw_core::conn::StreamProtocol;
use gw_mqtt::channel::ChannelConfig;
use tokio::time::Instant;

pub use connection::MqttConnection;

/// Front-end settings that are not the channel's (`mqtt.*` keys).
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// The protocol limits the channel enforces.
    pub channel: ChannelConfig,
    /// `mqtt.session_expiry_interval`: expiry of MQTT 3.x sessions with Clean Session = 0.
    pub session_expiry_interval: Option<Duration>,
    /// `mqtt.max_session_expiry_interval`: cap on what MQTT 5 clients ask for; None = no cap.
    pub max_session_expiry_interval: Option<Duration>,
    /// Deliveries written per doorbell ring, so one wake-up stays bounded.
    pub delivery_batch: usize,
    /// `mqtt.publish_backpressure`: the longest a publisher stops reading after a publish found
    /// a connected subscriber's mqueue more than half full (the subscriber's drain ends the
    /// pause sooner); None = never (drop-oldest only).
    pub publish_backpressure: Option<Duration>,
}

impl Default for MqttSettings {
    fn default() -> Self {
        Self {
            channel: ChannelConfig::default(),
            session_expiry_interval: Some(Duration::from_secs(7200)),
            max_session_expiry_interval: None,
            delivery_batch: 256,
            publish_backpressure: Some(Duration::from_millis(50)),
        }
    }
}

/// One MQTT listener's front-end: makes an [`MqttConnection`] per accepted connection.
#[derive(Debug, Clone)]
pub struct MqttFrontend {
    bus: Bus,
    settings: Arc<MqttSettings>,
    channel_config: Arc<ChannelConfig>,
}

impl MqttFrontend {
    /// A front-end on `bus`.
    pub fn new(bus: Bus, settings: MqttSettings) -> Self {
        let channel_config = Arc::new(settings.channel.clone());
        Self { bus, settings: Arc::new(settings), channel_config }
    }
}

impl StreamProtocol for MqttFrontend {
    type Handler = MqttConnection;

    fn name(&self) -> &'static str {
        "mqtt"
    }

    fn connect(&self, peer: SocketAddr, now: Instant) -> MqttConnection {
        MqttConnection::new(self.bus.clone(), self.settings.clone(), self.channel_config.clone(), peer, now)
    }
}
