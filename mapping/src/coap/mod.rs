//! The CoAP front-end, EMQX's publish/subscribe scheme: `/ps/{topic}` to publish and
//! observe, `/mqtt/connection` for connection mode. One channel per UDP (or DTLS) peer.
//!
//! CoAP clients get a session that lives as long as the peer's channel (EMQX's CoAP session
//! has no mqueue either). Deliveries are handed to the channel's observe machinery at once:
//! the channel owns the reliability of CON notifications (one in flight, a bounded FIFO
//! behind it, drop-oldest), so the bus's inflight entry completes when the notification is
//! handed over.

mod connection;

use std::net::SocketAddr;
use std::sync::Arc;

use gw_coap::channel::ChannelConfig;
use gw_core::bus::Bus;
use gw_core::conn::DatagramProtocol;
use tokio::time::Instant;

pub use connection::CoapConnection;

/// CoAP front-end settings (`gateway.coap.*`).
#[derive(Debug, Clone, Default)]
pub struct CoapSettings {
    /// What the channel enforces.
    pub channel: ChannelConfig,
    /// Mountpoint template (`${clientid}`, `${username}`); empty = none.
    pub mountpoint: String,
}

/// One CoAP listener's front-end.
#[derive(Debug, Clone)]
pub struct CoapFrontend {
    bus: Bus,
    settings: Arc<CoapSettings>,
    channel_config: Arc<ChannelConfig>,
}

impl CoapFrontend {
    /// A front-end on `bus`.
    pub fn new(bus: Bus, settings: CoapSettings) -> Self {
        let channel_config = Arc::new(settings.channel.clone());
        Self { bus, settings: Arc::new(settings), channel_config }
    }
}

impl DatagramProtocol for CoapFrontend {
    type Handler = CoapConnection;

    fn name(&self) -> &'static str {
        "coap"
    }

    fn accept(&self, peer: SocketAddr, _first: &[u8], now: Instant) -> Option<CoapConnection> {
        Some(CoapConnection::new(self.bus.clone(), self.settings.clone(), self.channel_config.clone(), peer, now))
    }
}
