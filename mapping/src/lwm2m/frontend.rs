//! The LwM2M front-end (EMQX's LwM2M gateway): one [`Lwm2mConnection`] per UDP (or DTLS)
//! peer, a CoAP server for the registration interface and a CoAP client for downlink
//! commands (see `connection.rs`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gw_coap::codec::Code;
use gw_coap::transaction::TransmissionParams;
use gw_core::bus::{
    Bus, ClientId, Doorbell, Message, OpenSession, Outbound, QoS, RetainHandling, SubOptions, SubscriptionFilter, Topic,
};
use gw_core::conn::DatagramProtocol;
use gw_lwm2m::blockwise::BlockLimits;
use gw_lwm2m::object_model::ObjectRegistry;
use gw_lwm2m::registration::RegistrationConfig;
use tokio::time::Instant;

use super::auto_observe::AutoObserve;
use super::connection::Lwm2mConnection;
use super::endpoints::EndpointRegistry;
use super::{parse_command, response_json};
use crate::mountpoint::{MountVars, Mountpoint};

/// The client id of the session that answers commands for unknown endpoints.
const RESPONDER_CLIENT_ID: &str = "$lwm2m-gateway";

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
    /// What to observe when a device registers.
    pub auto_observe: AutoObserve,
    /// Commands held by the device's handler; beyond, they stay in the session's mqueue.
    pub max_queued_commands: usize,
    /// When Updates are published.
    pub update_publish: UpdatePublish,
    /// Mountpoint template (`${endpoint_name}`, `${clientid}`, `${username}`).
    pub mountpoint: String,
    /// Topics.
    pub translators: Translators,
    /// Object definitions (`xml_dir`).
    pub objects: Arc<ObjectRegistry>,
    /// Retransmission of commands (RFC 7252 §4.8); exhausted → `coap_timeout`.
    pub transmission: TransmissionParams,
    /// Block-wise device responses (RFC 7959), or `None` to decode a first block as it is.
    pub blockwise: Option<BlockLimits>,
}

impl Default for Lwm2mSettings {
    fn default() -> Self {
        Self {
            registration: RegistrationConfig::default(),
            auto_observe: AutoObserve::Off,
            max_queued_commands: 100,
            update_publish: UpdatePublish::Always,
            mountpoint: "lwm2m/${endpoint_name}/".into(),
            translators: Translators::default(),
            objects: Arc::new(ObjectRegistry::new()),
            transmission: TransmissionParams::default(),
            blockwise: Some(BlockLimits::default()),
        }
    }
}

/// One LwM2M listener's front-end.
#[derive(Debug, Clone)]
pub struct Lwm2mFrontend {
    bus: Bus,
    settings: Arc<Lwm2mSettings>,
    endpoints: EndpointRegistry,
}

impl Lwm2mFrontend {
    /// A front-end on `bus`.
    pub fn new(bus: Bus, settings: Lwm2mSettings) -> Self {
        Self { bus, settings: Arc::new(settings), endpoints: EndpointRegistry::default() }
    }

    /// Answers commands sent to endpoints that are not registered: a command on
    /// `lwm2m/{ep}/dn/...` for an unknown `{ep}` gets a 4.04 `not_found` response on that
    /// endpoint's response topic (a malformed one its 4.00), instead of silence. Runs until
    /// `shutdown` resolves; spawn it once per front-end.
    pub async fn answer_unknown_endpoints(self, shutdown: impl Future<Output = ()>) {
        // The command filter for every endpoint: `${endpoint_name}` (and any other
        // placeholder level) becomes `+`; the endpoint is read back from that level.
        let template = format!("{}{}", self.settings.mountpoint, self.settings.translators.command.topic);
        let levels: Vec<&str> = template.split('/').collect();
        let Some(ep_level) = levels.iter().position(|l| l.contains("${endpoint_name}")) else {
            return; // a mountpoint without the endpoint cannot tell endpoints apart
        };
        let filter: Vec<&str> = levels.iter().map(|l| if l.contains("${") { "+" } else { l }).collect();
        let Ok(filter) = SubscriptionFilter::parse(&filter.join("/")) else { return };
        let doorbell = Arc::new(Doorbell::new());
        let opened = self.bus.open_session(
            OpenSession {
                client_id: ClientId::new(RESPONDER_CLIENT_ID),
                clean_start: true,
                expiry: Some(Duration::ZERO),
                will: None,
                doorbell: doorbell.clone(),
            },
            Instant::now(),
        );
        let session = opened.handle;
        let opts = SubOptions { qos: QoS::AtMostOnce, ..SubOptions::default() };
        if session.subscribe(&filter, opts, RetainHandling::DoNotSend, Instant::now()).is_err() {
            return;
        }
        tokio::pin!(shutdown);
        let mut outbound = Vec::new();
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                () = doorbell.rung() => {}
            }
            let now = Instant::now();
            while session.take_outbound(now, 32, 256, &mut outbound) || !outbound.is_empty() {
                for item in outbound.drain(..) {
                    let Outbound::Publish { delivery, .. } = item else { continue };
                    let topic = delivery.message.topic.as_str();
                    let Some(ep) = topic.split('/').nth(ep_level) else { continue };
                    if !self.endpoints.contains(ep) {
                        self.answer_unknown(ep, &delivery.message.payload, now);
                    }
                }
            }
        }
        session.close(gw_core::bus::CloseKind::Normal, Instant::now());
    }

    fn answer_unknown(&self, ep: &str, command: &[u8], now: Instant) {
        let body = match parse_command(command) {
            Ok(cmd) => response_json(&cmd, Code::NOT_FOUND, None, None),
            Err(e) => e.response_json(),
        };
        let mountpoint = Mountpoint::resolve(
            &self.settings.mountpoint,
            MountVars { client_id: Some(ep), username: Some(ep), endpoint_name: Some(ep) },
        );
        let response = &self.settings.translators.response;
        let Ok(topic) = Topic::new(mountpoint.mount(&response.topic).into_owned()) else { return };
        tracing::info!(endpoint = ep, "lwm2m_command_for_unknown_endpoint");
        let qos = QoS::from_u8(response.qos.min(2)).unwrap_or(QoS::AtMostOnce);
        if let Err(e) = self.bus.publish(Message::new(topic, Bytes::from(body), qos, false), now) {
            tracing::debug!(error = %e, "lwm2m_unknown_endpoint_answer_failed");
        }
    }
}

impl DatagramProtocol for Lwm2mFrontend {
    type Handler = Lwm2mConnection;

    fn name(&self) -> &'static str {
        "lwm2m"
    }

    fn accept(&self, peer: SocketAddr, _first: &[u8], now: Instant) -> Option<Lwm2mConnection> {
        Some(Lwm2mConnection::new(self.bus.clone(), self.settings.clone(), self.endpoints.clone(), peer, now))
    }
}
