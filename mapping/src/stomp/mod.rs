//! The STOMP front-end: a STOMP channel per connection, glued to the bus.
//!
//! Each STOMP subscription is a bus subscription with an internal subscription identifier,
//! so a delivery names the STOMP subscription it is for. `auto` subscriptions are QoS 0
//! (as in EMQX); `client` and `client-individual` ones are QoS 1 with `upgrade_qos`, so every
//! MESSAGE sits in the session's inflight window until it is ACKed (back-pressure as for
//! MQTT QoS 1), a NACK sends it to another member of a shared subscription (or drops and
//! counts it), and messages left un-ACKed by an UNSUBSCRIBE or a closed connection go the
//! same way.

mod connection;
mod convert;

use std::net::SocketAddr;
use std::sync::Arc;

use gw_core::bus::Bus;
use gw_core::conn::StreamProtocol;
use gw_stomp::channel::ChannelConfig;
use tokio::time::Instant;

pub use connection::StompConnection;

/// STOMP front-end settings (`gateway.stomp.*`).
#[derive(Debug, Clone, Default)]
pub struct StompSettings {
    /// Frame limits, heart-beats and timeouts the channel enforces.
    pub channel: ChannelConfig,
    /// Mountpoint template (`${clientid}`, `${username}` allowed); empty = none.
    pub mountpoint: String,
    /// Publisher back-pressure pause (`mqtt.publish_backpressure`); None = never.
    pub publish_backpressure: Option<std::time::Duration>,
}

/// One STOMP listener's front-end.
#[derive(Debug, Clone)]
pub struct StompFrontend {
    bus: Bus,
    settings: Arc<StompSettings>,
    channel_config: Arc<ChannelConfig>,
}

impl StompFrontend {
    /// A front-end on `bus`.
    pub fn new(bus: Bus, settings: StompSettings) -> Self {
        let channel_config = Arc::new(settings.channel.clone());
        Self { bus, settings: Arc::new(settings), channel_config }
    }
}

impl StreamProtocol for StompFrontend {
    type Handler = StompConnection;

    fn name(&self) -> &'static str {
        "stomp"
    }

    fn connect(&self, peer: SocketAddr, now: Instant) -> StompConnection {
        StompConnection::new(self.bus.clone(), self.settings.clone(), self.channel_config.clone(), peer, now)
    }
}
