//! The LwM2M front-end (EMQX's LwM2M gateway): one [`Lwm2mConnection`] per UDP (or DTLS)
//! peer, a CoAP server for the registration interface and a CoAP client for downlink
//! commands (see `connection.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use gw_core::bus::Bus;
use gw_core::conn::DatagramProtocol;
use gw_lwm2m::object_model::ObjectRegistry;
use gw_lwm2m::registration::RegistrationConfig;
use tokio::time::Instant;

use super::connection::Lwm2mConnection;

/// One translator: a topic below the mountpoint and the QoS used on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translator {
    /// Topic (or filter, for `command`) appended to the mountpoint.
    pub topic: String,
    /// QoS 0..2.
    pub qos: u8,
}

impl Translator {
    /// `topic` at QoS 0.
    pub fn new(topic: &str) -> Self {
        Self { topic: topic.into(), qos: 0 }
    }
}

/// `translators.*` (emqx-conventions §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translators {
    /// Downlink commands (the gateway subscribes to it on register).
    pub command: Translator,
    /// Command responses and the special `ack`/`coap_timeout`/`coap_reset` messages.
    pub response: Translator,
    /// Observe notifications.
    pub notify: Translator,
    /// Register events.
    pub register: Translator,
    /// Update events.
    pub update: Translator,
}

impl Default for Translators {
    fn default() -> Self {
        Self {
            command: Translator::new("dn/#"),
            response: Translator::new("up/resp"),
            notify: Translator::new("up/notify"),
            register: Translator::new("up/resp"),
            update: Translator::new("up/resp"),
        }
    }
}

/// When an Update is published (`update_msg_publish_condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdatePublish {
    /// Every Update.
    #[default]
    Always,
    /// Only an Update carrying an object list.
    ContainsObjectList,
}

/// LwM2M front-end settings (`gateway.lwm2m.*`).
#[derive(Debug, Clone)]
pub struct Lwm2mSettings {
    /// Lifetime bounds and queue-mode window.
    pub registration: RegistrationConfig,
    /// Observe every registered object with a definition (except 0,1,2,4,5,6,7,9,15).
    pub auto_observe: bool,
    /// When Updates are published.
    pub update_publish: UpdatePublish,
    /// Mountpoint template (`${endpoint_name}`, `${clientid}`, `${username}`).
    pub mountpoint: String,
    /// Topics.
    pub translators: Translators,
    /// Object definitions (`xml_dir`).
    pub objects: Arc<ObjectRegistry>,
}

impl Default for Lwm2mSettings {
    fn default() -> Self {
        Self {
            registration: RegistrationConfig::default(),
            auto_observe: false,
            update_publish: UpdatePublish::Always,
            mountpoint: "lwm2m/${endpoint_name}/".into(),
            translators: Translators::default(),
            objects: Arc::new(ObjectRegistry::new()),
        }
    }
}

/// One LwM2M listener's front-end.
#[derive(Debug, Clone)]
pub struct Lwm2mFrontend {
    bus: Bus,
    settings: Arc<Lwm2mSettings>,
}

impl Lwm2mFrontend {
    /// A front-end on `bus`.
    pub fn new(bus: Bus, settings: Lwm2mSettings) -> Self {
        Self { bus, settings: Arc::new(settings) }
    }
}

impl DatagramProtocol for Lwm2mFrontend {
    type Handler = Lwm2mConnection;

    fn name(&self) -> &'static str {
        "lwm2m"
    }

    fn accept(&self, peer: SocketAddr, _first: &[u8], now: Instant) -> Option<Lwm2mConnection> {
        Some(Lwm2mConnection::new(self.bus.clone(), self.settings.clone(), peer, now))
    }
}
