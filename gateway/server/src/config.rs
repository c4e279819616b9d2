//! The configuration tree: built-in defaults ← `etc/gateway.toml` (or `--config PATH`) ←
//! `GATEWAY_*` environment variables (nested keys joined by `__`, e.g.
//! `GATEWAY_MQTT__MAX_MQUEUE_LEN=500`). Key names follow EMQX's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use gw_coap::channel::{ChannelConfig as CoapChannelConfig, NotifyType, QosRule};
use gw_coap::transaction::TransmissionParams;
use gw_core::bus::{BusConfig, RetainLimits, SessionLimits, SharedStrategy};
use gw_core::config::{ByteSize, ConfigDuration};
use gw_core::conn::dtls::DtlsConfig;
use gw_core::conn::stream::StreamLimits;
use gw_core::sys::SysTopicsSettings;
use gw_lwm2m::blockwise::BlockLimits;
use gw_lwm2m::object_model::ObjectRegistry;
use gw_lwm2m::registration::RegistrationConfig;
use gw_lwm2m::Path as Lwm2mPath;
use gw_mapping::coap::CoapSettings;
use gw_mapping::lwm2m::{AutoObserve, Lwm2mSettings, Translator, Translators, UpdatePublish};
use gw_mapping::mqtt::MqttSettings;
use gw_mapping::mqttsn::MqttSnSettings;
use gw_mapping::stomp::StompSettings;
use gw_mqtt::channel::ChannelConfig;
use gw_mqtt::codec::QoS;
use gw_mqttsn::channel::ChannelConfig as MqttSnChannelConfig;
use gw_stomp::channel::ChannelConfig as StompChannelConfig;
use gw_stomp::codec::FrameLimits;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// `node.*`.
    pub node: NodeConfig,
    /// `log.*`.
    pub log: LogConfig,
    /// `sys_topics.*`: the `$SYS/` topics.
    pub sys_topics: SysTopicsConfig,
    /// `mqtt.*`: MQTT protocol limits and session behaviour (shared by the bus).
    pub mqtt: MqttConfig,
    /// `retainer.*`: the retained-message store.
    pub retainer: RetainerConfig,
    /// `listeners.*`: MQTT listeners by type and name.
    pub listeners: ListenersConfig,
    /// `gateway.*`: the other protocols' front-ends.
    pub gateway: GatewaysConfig,
}

/// `gateway.<protocol>` sections.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaysConfig {
    /// `gateway.stomp.*`.
    pub stomp: StompConfig,
    /// `gateway.mqttsn.*`.
    pub mqttsn: MqttSnConfig,
    /// `gateway.coap.*`.
    pub coap: CoapConfig,
    /// `gateway.lwm2m.*`.
    pub lwm2m: Lwm2mConfig,
}

/// `gateway.lwm2m.*`, named after EMQX's LwM2M gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Lwm2mConfig {
    /// Whether the LwM2M front-end runs.
    pub enable: bool,
    /// Directory of OMA object definition XML files (relative to the working directory).
    pub xml_dir: String,
    /// Shortest registration lifetime granted.
    pub lifetime_min: ConfigDuration,
    /// Longest registration lifetime granted (and the one for `lt=0`).
    pub lifetime_max: ConfigDuration,
    /// Queue mode: a device is reachable this long after its last message.
    pub qmode_time_window: ConfigDuration,
    /// What to observe on register: `true` (every registered object with a definition,
    /// except 0, 1, 2, 4, 5, 6, 7, 9, 15), `false`, or paths (`"/3/0,/3/0/1"` or `["/3/0"]`).
    pub auto_observe: AutoObserveConfig,
    /// Commands held per device (waiting for the outstanding one or for a queue-mode device
    /// to wake up); further ones wait in the device session's mqueue (`mqtt.max_mqueue_len`,
    /// drop-oldest, counted).
    pub max_queued_commands: usize,
    /// `always` or `contains_object_list`: which Updates are published.
    pub update_msg_publish_condition: String,
    /// Topic prefix (`${endpoint_name}`, `${clientid}`, `${username}`).
    pub mountpoint: String,
    /// `translators.*`: topics below the mountpoint.
    pub translators: Lwm2mTranslatorsConfig,
    /// `transmission.*`: CoAP retransmission of downlink commands (RFC 7252 §4.8).
    pub transmission: CoapTransmissionConfig,
    /// `blockwise.*` (RFC 7959): large device responses fetched block by block.
    pub blockwise: CoapBlockwiseConfig,
    /// `listeners.udp.<name>` and `listeners.dtls.<name>`.
    pub listeners: CoapListenersConfig,
}

impl Default for Lwm2mConfig {
    fn default() -> Self {
        Self {
            enable: true,
            xml_dir: "etc/lwm2m_xml".into(),
            lifetime_min: ConfigDuration::from_secs(15),
            lifetime_max: ConfigDuration::from_secs(86_400),
            qmode_time_window: ConfigDuration::from_secs(22),
            auto_observe: AutoObserveConfig::Switch(false),
            max_queued_commands: 100,
            update_msg_publish_condition: "always".into(),
            mountpoint: "lwm2m/${endpoint_name}/".into(),
            translators: Lwm2mTranslatorsConfig::default(),
            transmission: CoapTransmissionConfig::default(),
            blockwise: CoapBlockwiseConfig::default(),
            listeners: CoapListenersConfig::with_ports(5783, 5784),
        }
    }
}

/// `gateway.lwm2m.auto_observe`, in every form EMQX accepts: `true`/`false`, `"on"`/`"off"`,
/// or the paths to observe as a comma-separated string or a list of strings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum AutoObserveConfig {
    /// `true` or `false`.
    Switch(bool),
    /// `"on"`, `"off"` or `"/3/0,/3/0/1"`.
    Text(String),
    /// `["/3/0", "/3/0/1"]`.
    Paths(Vec<String>),
}

impl AutoObserveConfig {
    /// What the front-end does; an error says which item is not an LwM2M path.
    pub fn resolve(&self) -> Result<AutoObserve, String> {
        let paths: Vec<&str> = match self {
            Self::Switch(false) => return Ok(AutoObserve::Off),
            Self::Switch(true) => return Ok(AutoObserve::Objects),
            Self::Text(t) if t.trim() == "off" => return Ok(AutoObserve::Off),
            Self::Text(t) if t.trim() == "on" => return Ok(AutoObserve::Objects),
            Self::Text(t) => t.split(',').collect(),
            Self::Paths(list) => list.iter().map(String::as_str).collect(),
        };
        // Blank items are skipped, as EMQX does; no path at all means nothing to observe.
        let paths = paths
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| Lwm2mPath::parse(p).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if paths.is_empty() { AutoObserve::Off } else { AutoObserve::Paths(paths) })
    }
}

/// `gateway.lwm2m.translators.*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Lwm2mTranslatorsConfig {
    /// Downlink commands (subscribed on register).
    pub command: TranslatorConfig,
    /// Command responses.
    pub response: TranslatorConfig,
    /// Observe notifications.
    pub notify: TranslatorConfig,
    /// Register events.
    pub register: TranslatorConfig,
    /// Update events.
    pub update: TranslatorConfig,
}

impl Default for Lwm2mTranslatorsConfig {
    fn default() -> Self {
        let t = |topic: &str| TranslatorConfig { topic: topic.into(), qos: 0 };
        Self {
            command: t("dn/#"),
            response: t("up/resp"),
            notify: t("up/notify"),
            register: t("up/resp"),
            update: t("up/resp"),
        }
    }
}

/// One translator: topic and QoS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TranslatorConfig {
    /// Topic appended to the mountpoint.
    pub topic: String,
    /// QoS 0..2.
    pub qos: u8,
}

/// `gateway.coap.*`, named after EMQX's CoAP gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CoapConfig {
    /// Whether the CoAP front-end runs.
    pub enable: bool,
    /// Require `/mqtt/connection` (token) before publish/subscribe.
    pub connection_required: bool,
    /// Connection-mode keep alive: a client silent for 1.5 × this is dropped.
    pub heartbeat: ConfigDuration,
    /// `non`, `con` or `qos` (QoS 0 → NON, QoS 1/2 → CON).
    pub notify_type: String,
    /// `qos0`, `qos1`, `qos2` or `coap` (NON → 0, CON → 1) when a subscribe has no `qos`.
    pub subscribe_qos: String,
    /// Same for publishes.
    pub publish_qos: String,
    /// Topic prefix (`${clientid}`, `${username}` allowed).
    pub mountpoint: String,
    /// A peer with no connection and no observation is forgotten after this.
    pub idle_timeout: ConfigDuration,
    /// `blockwise.*` (RFC 7959).
    pub blockwise: CoapBlockwiseConfig,
    /// CON notifications queued behind the one in flight (drop oldest beyond).
    pub max_observe_queue: usize,
    /// `transmission.*`: CoAP retransmission of CON notifications (RFC 7252 §4.8).
    pub transmission: CoapTransmissionConfig,
    /// `listeners.udp.<name>`.
    pub listeners: CoapListenersConfig,
}

impl Default for CoapConfig {
    fn default() -> Self {
        Self {
            enable: true,
            connection_required: false,
            heartbeat: ConfigDuration::from_secs(30),
            notify_type: "qos".into(),
            subscribe_qos: "coap".into(),
            publish_qos: "coap".into(),
            mountpoint: String::new(),
            idle_timeout: ConfigDuration::from_secs(30),
            blockwise: CoapBlockwiseConfig::default(),
            max_observe_queue: 100,
            transmission: CoapTransmissionConfig::default(),
            listeners: CoapListenersConfig::default(),
        }
    }
}

/// `gateway.coap.blockwise.*` and `gateway.lwm2m.blockwise.*` (EMQX's names for both).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CoapBlockwiseConfig {
    /// Block-wise transfers on.
    pub enable: bool,
    /// Largest block sent, or asked for (16..1024, a power of two).
    pub max_block_size: u16,
    /// Largest body accepted: a CoAP request body (4.13 beyond), an LwM2M device response.
    pub max_body_size: ByteSize,
}

impl CoapBlockwiseConfig {
    /// Checks the block size; `section` is the key prefix errors name.
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        let block = self.max_block_size;
        if !(16..=1024).contains(&block) || !block.is_power_of_two() {
            return Err(ConfigError(format!(
                "invalid value for key `{section}.max_block_size`: must be a power of two from 16 to 1024"
            )));
        }
        Ok(())
    }
}

impl Default for CoapBlockwiseConfig {
    fn default() -> Self {
        Self { enable: true, max_block_size: 1024, max_body_size: ByteSize(4 << 20) }
    }
}

/// `gateway.coap.transmission.*` and `gateway.lwm2m.transmission.*`: how the gateway
/// retransmits its own Confirmable messages (CoAP notifications, LwM2M commands), RFC 7252
/// §4.8. EXCHANGE_LIFETIME and NON_LIFETIME are derived from these (§4.8.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CoapTransmissionConfig {
    /// ACK_TIMEOUT: the first retransmission waits a random time in
    /// `[ack_timeout, ack_timeout × ack_random_factor)`; each further one twice as long.
    pub ack_timeout: ConfigDuration,
    /// ACK_RANDOM_FACTOR (at least 1).
    pub ack_random_factor: f64,
    /// MAX_RETRANSMIT: retransmissions before giving up (LwM2M then publishes `coap_timeout`).
    pub max_retransmit: u32,
}

impl Default for CoapTransmissionConfig {
    fn default() -> Self {
        Self { ack_timeout: ConfigDuration::from_secs(2), ack_random_factor: 1.5, max_retransmit: 4 }
    }
}

impl CoapTransmissionConfig {
    /// Most retransmissions allowed: with the default timeout, 10 already means the last one
    /// goes out after about an hour (2 s × 1.5 × (2^11 − 1)).
    const MAX_RETRANSMIT: u32 = 10;

    /// The transaction layer's parameters.
    pub fn params(&self) -> TransmissionParams {
        let ack_timeout = self.ack_timeout.get().unwrap_or(Duration::from_secs(2));
        TransmissionParams::derived(ack_timeout, self.ack_random_factor, self.max_retransmit)
    }

    /// Checks the ranges; `section` is the key prefix errors name (`gateway.coap.transmission`).
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("invalid value for key `{section}.{key}`: {why}")));
        if self.ack_timeout.get().is_none_or(|d| d.is_zero() || d > Duration::from_secs(3600)) {
            return bad("ack_timeout", "must be a duration from 1ms to 1h");
        }
        if !(self.ack_random_factor >= 1.0 && self.ack_random_factor <= 10.0) {
            return bad("ack_random_factor", "must be a number from 1 to 10 (RFC 7252 §4.8)");
        }
        if self.max_retransmit > Self::MAX_RETRANSMIT {
            return bad("max_retransmit", &format!("must be at most {}", Self::MAX_RETRANSMIT));
        }
        Ok(())
    }
}

/// `gateway.coap.listeners.*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CoapListenersConfig {
    /// CoAP over UDP.
    pub udp: BTreeMap<String, UdpListenerConfig>,
    /// CoAP over DTLS 1.2.
    pub dtls: BTreeMap<String, DtlsListenerConfig>,
}

impl Default for CoapListenersConfig {
    fn default() -> Self {
        Self::with_ports(5683, 5684)
    }
}

impl CoapListenersConfig {
    /// `udp.default` on `0.0.0.0:{udp}` and a disabled `dtls.default` on `0.0.0.0:{dtls}`.
    pub fn with_ports(udp: u16, dtls: u16) -> Self {
        Self {
            udp: BTreeMap::from([(
                "default".to_string(),
                UdpListenerConfig { bind: format!("0.0.0.0:{udp}"), ..UdpListenerConfig::default() },
            )]),
            dtls: BTreeMap::from([(
                "default".to_string(),
                DtlsListenerConfig {
                    listener: UdpListenerConfig {
                        enable: false,
                        bind: format!("0.0.0.0:{dtls}"),
                        ..UdpListenerConfig::default()
                    },
                    dtls_options: DtlsOptions::default(),
                },
            )]),
        }
    }
}

/// One DTLS listener: a UDP listener plus `dtls_options`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DtlsListenerConfig {
    /// The UDP side (enable, bind, limits).
    #[serde(flatten)]
    pub listener: UdpListenerConfig,
    /// Credentials.
    pub dtls_options: DtlsOptions,
}

/// `dtls_options.*`: PSK identities and/or a certificate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DtlsOptions {
    /// Pre-shared keys; a key is used as its UTF-8 bytes (as libcoap's `-k`).
    pub psk: Vec<PskEntry>,
    /// Server certificate chain (PEM).
    pub certfile: String,
    /// Server private key (PEM).
    pub keyfile: String,
    /// CAs for client certificates (PEM).
    pub cacertfile: String,
    /// Require client certificates on certificate suites.
    pub verify_peer: bool,
    /// A handshake must finish within this.
    pub handshake_timeout: ConfigDuration,
}

impl Default for DtlsOptions {
    fn default() -> Self {
        Self {
            psk: Vec::new(),
            certfile: String::new(),
            keyfile: String::new(),
            cacertfile: String::new(),
            verify_peer: false,
            handshake_timeout: ConfigDuration::from_secs(30),
        }
    }
}

/// One PSK identity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PskEntry {
    /// PSK identity.
    pub identity: String,
    /// The key.
    pub key: String,
}

impl DtlsOptions {
    /// The transport's DTLS configuration.
    pub fn dtls_config(&self) -> DtlsConfig {
        let path = |p: &str| (!p.is_empty()).then(|| std::path::PathBuf::from(p));
        DtlsConfig {
            psk: self.psk.iter().map(|e| (e.identity.clone(), e.key.as_bytes().to_vec())).collect(),
            certfile: path(&self.certfile),
            keyfile: path(&self.keyfile),
            cacertfile: path(&self.cacertfile),
            verify_peer: self.verify_peer,
            handshake_timeout: self.handshake_timeout.get().unwrap_or(Duration::from_secs(30)),
        }
    }
}

/// `gateway.mqttsn.*`, named after EMQX's MQTT-SN gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MqttSnConfig {
    /// Whether the MQTT-SN front-end runs.
    pub enable: bool,
    /// GwId sent in GWINFO and ADVERTISE.
    pub gateway_id: u8,
    /// Send ADVERTISE periodically to `broadcast_address`.
    pub broadcast: bool,
    /// Where ADVERTISE goes (EMQX: every interface's broadcast address, port 1884).
    pub broadcast_address: String,
    /// How often ADVERTISE is sent (its Duration field).
    pub advertise_interval: ConfigDuration,
    /// Accept QoS -1 publishes from clients without a connection.
    pub enable_qos3: bool,
    /// Re-REGISTER subscribed topics when a persistent session resumes.
    pub subs_resume: bool,
    /// Topic prefix (`${clientid}` allowed); not applied to QoS -1 publishes.
    pub mountpoint: String,
    /// A peer that sends no CONNECT within this is forgotten.
    pub idle_timeout: ConfigDuration,
    /// Tretry: resend an unacknowledged PUBLISH / PUBREL / REGISTER after this.
    pub retry_interval: ConfigDuration,
    /// Nretry: resends before the client is considered lost.
    pub max_retries: u32,
    /// Largest datagram handled.
    pub max_packet_size: usize,
    /// Predefined topic ids, identical for every client (id 1..65535).
    pub predefined: Vec<PredefinedTopic>,
    /// `listeners.udp.<name>`.
    pub listeners: MqttSnListenersConfig,
}

/// One predefined topic id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PredefinedTopic {
    /// Topic id.
    pub id: u16,
    /// Topic name.
    pub topic: String,
}

impl Default for MqttSnConfig {
    fn default() -> Self {
        Self {
            enable: true,
            gateway_id: 1,
            broadcast: false,
            broadcast_address: "255.255.255.255:1884".into(),
            advertise_interval: ConfigDuration::from_secs(900),
            enable_qos3: true,
            subs_resume: false,
            mountpoint: String::new(),
            idle_timeout: ConfigDuration::from_secs(30),
            retry_interval: ConfigDuration::from_secs(10),
            max_retries: 3,
            max_packet_size: 65_535,
            predefined: vec![
                PredefinedTopic { id: 1, topic: "/predefined/topic/name/hello".into() },
                PredefinedTopic { id: 2, topic: "/predefined/topic/name/nice".into() },
            ],
            listeners: MqttSnListenersConfig::default(),
        }
    }
}

/// `gateway.mqttsn.listeners.*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MqttSnListenersConfig {
    /// UDP listeners.
    pub udp: BTreeMap<String, UdpListenerConfig>,
}

impl Default for MqttSnListenersConfig {
    fn default() -> Self {
        Self {
            udp: BTreeMap::from([(
                "default".to_string(),
                UdpListenerConfig { bind: "0.0.0.0:1884".into(), ..UdpListenerConfig::default() },
            )]),
        }
    }
}

/// One UDP listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UdpListenerConfig {
    /// Whether it runs.
    pub enable: bool,
    /// Bind address.
    pub bind: String,
    /// Peers at once (EMQX's `max_connections` for gateway listeners).
    pub max_connections: usize,
    /// Datagrams queued per peer before new ones are dropped.
    pub peer_queue: usize,
}

impl Default for UdpListenerConfig {
    fn default() -> Self {
        Self { enable: true, bind: "0.0.0.0:0".into(), max_connections: 1_024_000, peer_queue: 64 }
    }
}

/// `gateway.stomp.*`, named after EMQX's STOMP gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StompConfig {
    /// Whether the STOMP front-end runs.
    pub enable: bool,
    /// Close a connection that sends no CONNECT within this.
    pub idle_timeout: ConfigDuration,
    /// Topic prefix for every destination (`${clientid}`, `${username}` allowed).
    pub mountpoint: String,
    /// `frame.*` limits.
    pub frame: StompFrameConfig,
    /// Shortest interval at which the server offers to send heart-beats (`sx`); 0s = none.
    pub heartbeat_send_interval: ConfigDuration,
    /// Interval at which the server wants heart-beats from clients (`sy`); 0s = none.
    pub heartbeat_recv_interval: ConfigDuration,
    /// Silence tolerated from a client, as a multiple of the negotiated heart-beat interval.
    pub heartbeat_timeout_factor: f32,
    /// Most subscriptions per connection.
    pub max_subscriptions: usize,
    /// Most open transactions per connection.
    pub max_transactions: usize,
    /// Most frames buffered per transaction.
    pub max_tx_frames: usize,
    /// `listeners.{tcp,ws}.<name>`.
    pub listeners: StompListenersConfig,
}

impl Default for StompConfig {
    fn default() -> Self {
        Self {
            enable: true,
            idle_timeout: ConfigDuration::from_secs(30),
            mountpoint: String::new(),
            frame: StompFrameConfig::default(),
            heartbeat_send_interval: ConfigDuration::from_secs(1),
            heartbeat_recv_interval: ConfigDuration::from_secs(1),
            heartbeat_timeout_factor: 2.0,
            max_subscriptions: 1024,
            max_transactions: 64,
            max_tx_frames: 1024,
            listeners: StompListenersConfig::default(),
        }
    }
}

/// `gateway.stomp.frame.*` (EMQX names).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StompFrameConfig {
    /// Most headers in a frame.
    pub max_headers: usize,
    /// Longest header line in bytes.
    pub max_headers_length: usize,
    /// Longest body in bytes.
    pub max_body_length: usize,
}

impl Default for StompFrameConfig {
    fn default() -> Self {
        Self { max_headers: 10, max_headers_length: 1024, max_body_length: 65536 }
    }
}

/// `gateway.stomp.listeners.*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StompListenersConfig {
    /// STOMP over TCP.
    pub tcp: BTreeMap<String, TcpListenerConfig>,
    /// STOMP over WebSocket.
    pub ws: BTreeMap<String, StompWsListenerConfig>,
}

impl Default for StompListenersConfig {
    fn default() -> Self {
        Self {
            tcp: BTreeMap::from([(
                "default".to_string(),
                TcpListenerConfig { bind: "0.0.0.0:61613".into(), ..TcpListenerConfig::default() },
            )]),
            ws: BTreeMap::from([("default".to_string(), StompWsListenerConfig::default())]),
        }
    }
}

/// One STOMP WebSocket listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StompWsListenerConfig {
    /// Whether it runs.
    pub enable: bool,
    /// Bind address.
    pub bind: String,
    /// Connections at once.
    pub max_connections: usize,
    /// `websocket.*` options.
    pub websocket: StompWebsocketOptions,
}

impl Default for StompWsListenerConfig {
    fn default() -> Self {
        Self {
            enable: true,
            bind: "0.0.0.0:61614".into(),
            max_connections: 1_024_000,
            websocket: StompWebsocketOptions::default(),
        }
    }
}

/// `gateway.stomp.listeners.ws.<name>.websocket.*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StompWebsocketOptions {
    /// HTTP path of the upgrade.
    pub path: String,
    /// Subprotocols accepted, comma separated.
    pub supported_subprotocols: String,
    /// Refuse a client that offers none of them.
    pub fail_if_no_subprotocol: bool,
}

impl Default for StompWebsocketOptions {
    fn default() -> Self {
        Self {
            path: "/stomp".into(),
            supported_subprotocols: "v12.stomp, v11.stomp, v10.stomp".into(),
            fail_if_no_subprotocol: false,
        }
    }
}

/// `node.*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// `node.name`: this gateway's name, the `{node}` level of `$SYS/brokers/{node}/...`.
    pub name: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self { name: "gateway@127.0.0.1".into() }
    }
}

/// `sys_topics.*`, as EMQX's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SysTopicsConfig {
    /// Identity, statistics and metrics every this; `disabled` = never.
    pub sys_msg_interval: ConfigDuration,
    /// Uptime and datetime every this; `disabled` = never.
    pub sys_heartbeat_interval: ConfigDuration,
}

impl Default for SysTopicsConfig {
    fn default() -> Self {
        Self { sys_msg_interval: ConfigDuration::from_secs(60), sys_heartbeat_interval: ConfigDuration::from_secs(30) }
    }
}

/// `log.*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `log.level`: `error`, `warn`, `info`, `debug`, `trace` (or a tracing filter).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".into() }
    }
}

/// `mqtt.*`, named and defaulted as in EMQX.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// Close a connection that sends no CONNECT within this.
    pub idle_timeout: ConfigDuration,
    /// Largest MQTT packet accepted.
    pub max_packet_size: ByteSize,
    /// Longest client id accepted.
    pub max_clientid_len: usize,
    /// Most levels in a topic or filter; 0 = unlimited.
    pub max_topic_levels: usize,
    /// Topic Alias Maximum offered to MQTT 5 clients.
    pub max_topic_alias: u16,
    /// Highest QoS accepted (0, 1 or 2).
    pub max_qos_allowed: u8,
    /// Whether retained messages are accepted.
    pub retain_available: bool,
    /// Whether wildcard subscriptions are allowed.
    pub wildcard_subscription: bool,
    /// Whether shared subscriptions (`$share/`, `$queue/`) are allowed.
    pub shared_subscription: bool,
    /// How a shared group picks a member.
    pub shared_subscription_strategy: SharedStrategy,
    /// Keep alive imposed on MQTT 5 clients, or `disabled`.
    pub server_keepalive: ConfigDuration,
    /// Close after keep alive × this without a packet.
    pub keepalive_multiplier: f32,
    /// Resend unacknowledged QoS 1/2 deliveries after this; `infinity` = only on reconnect.
    pub retry_interval: ConfigDuration,
    /// Session expiry of MQTT 3.x clients with Clean Session = 0.
    pub session_expiry_interval: ConfigDuration,
    /// Cap on the session expiry MQTT 5 clients ask for.
    pub max_session_expiry_interval: ConfigDuration,
    /// Incoming QoS 2 messages waiting for PUBREL per session.
    pub max_awaiting_rel: usize,
    /// Forget an incoming QoS 2 packet id after this without PUBREL.
    pub await_rel_timeout: ConfigDuration,
    /// Unacknowledged QoS 1/2 deliveries per session.
    pub max_inflight: u16,
    /// Messages queued per session; the oldest is dropped beyond this. 0 = unlimited.
    pub max_mqueue_len: usize,
    /// Bytes queued per session; the oldest is dropped beyond this. 0 = unlimited.
    pub max_mqueue_bytes: ByteSize,
    /// Queue QoS 0 messages for disconnected persistent sessions.
    pub mqueue_store_qos0: bool,
    /// The longest a publisher pauses reading when a connected subscriber's mqueue is more
    /// than half full (it resumes as soon as the queue is down to a quarter), so slow consumers
    /// catch up instead of losing messages; a subscriber that takes nothing for this long
    /// pauses nobody. `disabled` = never.
    pub publish_backpressure: ConfigDuration,
    /// A congested subscriber that has taken nothing for this long is stuck, not slow: it no
    /// longer pauses publishers, and its queue's oldest are dropped (counted) as it overflows.
    pub publish_backpressure_stall: ConfigDuration,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            idle_timeout: ConfigDuration::from_secs(15),
            max_packet_size: ByteSize(1 << 20),
            max_clientid_len: 65535,
            max_topic_levels: 128,
            max_topic_alias: 65535,
            max_qos_allowed: 2,
            retain_available: true,
            wildcard_subscription: true,
            shared_subscription: true,
            shared_subscription_strategy: SharedStrategy::RoundRobin,
            server_keepalive: ConfigDuration::INFINITY,
            keepalive_multiplier: 1.5,
            retry_interval: ConfigDuration::INFINITY,
            session_expiry_interval: ConfigDuration::from_secs(7200),
            max_session_expiry_interval: ConfigDuration::INFINITY,
            max_awaiting_rel: 100,
            await_rel_timeout: ConfigDuration::from_secs(300),
            max_inflight: 32,
            max_mqueue_len: 1000,
            max_mqueue_bytes: ByteSize(64 << 20),
            mqueue_store_qos0: true,
            publish_backpressure: ConfigDuration(Some(Duration::from_millis(50))),
            publish_backpressure_stall: ConfigDuration::from_secs(1),
        }
    }
}

/// `retainer.*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetainerConfig {
    /// Whether retained messages are stored at all.
    pub enable: bool,
    /// Most retained messages; 0 = unlimited.
    pub max_retained_messages: usize,
    /// Largest retained payload stored.
    pub max_payload_size: ByteSize,
    /// Expiry of retained messages that carry none; `0s` = never.
    pub msg_expiry_interval: ConfigDuration,
}

impl Default for RetainerConfig {
    fn default() -> Self {
        Self {
            enable: true,
            max_retained_messages: 0,
            max_payload_size: ByteSize(1 << 20),
            msg_expiry_interval: ConfigDuration::from_secs(0),
        }
    }
}

/// `listeners.<type>.<name>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ListenersConfig {
    /// MQTT over TCP listeners.
    pub tcp: BTreeMap<String, TcpListenerConfig>,
    /// MQTT over WebSocket listeners.
    pub ws: BTreeMap<String, WsListenerConfig>,
}

impl Default for ListenersConfig {
    fn default() -> Self {
        Self {
            tcp: BTreeMap::from([("default".to_string(), TcpListenerConfig::default())]),
            ws: BTreeMap::from([("default".to_string(), WsListenerConfig::default())]),
        }
    }
}

/// One TCP listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TcpListenerConfig {
    /// Whether it runs.
    pub enable: bool,
    /// `"0.0.0.0:1883"`, `"127.0.0.1:0"` or just a port `"1883"`.
    pub bind: String,
    /// Connections at once.
    pub max_connections: usize,
    /// A connection with nothing to do (no bytes in or out, no delivery) for this long gives
    /// up its task until data, a delivery, its keep-alive deadline or shutdown wakes it,
    /// which saves more than half of an idle connection's memory. A fresh connection waits
    /// an eighth of this; each wake-up by data or a delivery doubles its wait, up to this.
    /// `disabled` = never. (EMQX hibernates an idle connection's process after
    /// `mqtt.idle_timeout`; a sleep and a wake-up of ours cost a task spawn and four `epoll_ctl` calls, so it
    /// can happen much sooner.)
    pub hibernate_after: ConfigDuration,
    /// `tcp_options.*`.
    pub tcp_options: TcpOptions,
}

impl Default for TcpListenerConfig {
    fn default() -> Self {
        Self {
            enable: true,
            bind: "0.0.0.0:1883".into(),
            max_connections: 1_024_000,
            hibernate_after: ConfigDuration(Some(Duration::from_millis(100))),
            tcp_options: TcpOptions::default(),
        }
    }
}

impl TcpListenerConfig {
    /// Checks the listener whose table is `key`.
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if let Err(why) = parse_bind(&self.bind) {
            return Err(ConfigError(format!("invalid value for key `{key}.bind`: {why}")));
        }
        if self.hibernate_after.get().is_some_and(|d| d.is_zero()) {
            return Err(ConfigError(format!("invalid value for key `{key}.hibernate_after`: {POSITIVE_OR_DISABLED}")));
        }
        Ok(())
    }
}

/// `listeners.{tcp,ws}.<name>.tcp_options.*` (EMQX's names).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TcpOptions {
    /// Bytes read from the socket at most per read: a busy publisher's PUBLISHes of one read
    /// are routed together. Allocated only while data waits; an idle connection holds none.
    pub buffer: ByteSize,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self { buffer: ByteSize(StreamLimits::default().read_chunk as u64) }
    }
}

/// One WebSocket listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WsListenerConfig {
    /// Whether it runs.
    pub enable: bool,
    /// Bind address.
    pub bind: String,
    /// Connections at once.
    pub max_connections: usize,
    /// `tcp_options.*`.
    pub tcp_options: TcpOptions,
    /// `websocket.*` options.
    pub websocket: WebsocketOptions,
}

impl Default for WsListenerConfig {
    fn default() -> Self {
        Self {
            enable: true,
            bind: "0.0.0.0:8083".into(),
            max_connections: 1_024_000,
            tcp_options: TcpOptions::default(),
            websocket: WebsocketOptions::default(),
        }
    }
}

/// `listeners.ws.<name>.websocket.*`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebsocketOptions {
    /// HTTP path of the upgrade.
    pub mqtt_path: String,
    /// Subprotocols accepted, comma separated.
    pub supported_subprotocols: String,
    /// Refuse a client that offers none of them.
    pub fail_if_no_subprotocol: bool,
}

impl Default for WebsocketOptions {
    fn default() -> Self {
        Self {
            mqtt_path: "/mqtt".into(),
            supported_subprotocols: "mqtt, mqtt-v3, mqtt-v3.1.1, mqtt-v5".into(),
            fail_if_no_subprotocol: true,
        }
    }
}

/// A configuration error that names the key and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Parses a bind address: `host:port`, or a bare port meaning all interfaces.
pub fn parse_bind(bind: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = bind.trim().parse::<u16>() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    bind.trim().parse().map_err(|_| format!("invalid bind address {bind:?}; use \"0.0.0.0:1883\" or \"1883\""))
}

/// Top-level sections, the only `GATEWAY_*` variables read as configuration.
const SECTIONS: [&str; 7] = ["node", "log", "sys_topics", "mqtt", "retainer", "listeners", "gateway"];

const POSITIVE_OR_DISABLED: &str = "must be a positive duration or \"disabled\"";

impl GatewayConfig {
    /// Loads defaults ← `file` (if given) ← `GATEWAY_*` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!("config file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        // Only variables that name a config section: tools that start the gateway set
        // GATEWAY_CMD, GATEWAY_PORT or GATEWAY_BIN for themselves.
        let env = Env::prefixed("GATEWAY_")
            .filter(|key| {
                let section = key.as_str().split("__").next().unwrap_or_default();
                SECTIONS.iter().any(|s| section.eq_ignore_ascii_case(s))
            })
            .split("__");
        figment = figment.merge(env);
        Self::from_figment(&figment)
    }

    /// The `$SYS/` publisher's settings.
    pub fn sys_topics_settings(&self) -> SysTopicsSettings {
        SysTopicsSettings {
            node: self.node.name.clone(),
            msg_interval: self.sys_topics.sys_msg_interval.get(),
            heartbeat_interval: self.sys_topics.sys_heartbeat_interval.get(),
        }
    }

    /// Extracts and validates a configuration from any figment (used by tests too).
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let config: Self = figment.extract().map_err(|e| ConfigError(format_figment_error(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values serde cannot: ranges and addresses. The error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError(format!("invalid value for key `{key}`: {why}")));
        let node = &self.node.name;
        if node.is_empty() || node.contains(['/', '+', '#', '\0']) {
            return bad("node.name", "must be a non-empty topic level (no '/', '+', '#')".into());
        }
        for (key, d) in [
            ("sys_topics.sys_msg_interval", &self.sys_topics.sys_msg_interval),
            ("sys_topics.sys_heartbeat_interval", &self.sys_topics.sys_heartbeat_interval),
        ] {
            if d.get().is_some_and(|d| d.is_zero()) {
                return bad(key, POSITIVE_OR_DISABLED.into());
            }
        }
        let m = &self.mqtt;
        if m.max_qos_allowed > 2 {
            return bad("mqtt.max_qos_allowed", format!("{} is not 0, 1 or 2", m.max_qos_allowed));
        }
        if !(m.keepalive_multiplier > 0.0 && m.keepalive_multiplier.is_finite()) {
            return bad("mqtt.keepalive_multiplier", "must be a positive number".into());
        }
        if m.max_inflight == 0 {
            return bad("mqtt.max_inflight", "must be between 1 and 65535".into());
        }
        if m.max_clientid_len < 23 {
            return bad("mqtt.max_clientid_len", "must be between 23 and 65535 (MQTT requires 23)".into());
        }
        if m.max_packet_size.0 < 64 || m.max_packet_size.0 > 268_435_456 {
            return bad("mqtt.max_packet_size", "must be between 64B and 256MB".into());
        }
        if let Some(d) = m.server_keepalive.get() {
            if d.as_secs() > u64::from(u16::MAX) {
                return bad("mqtt.server_keepalive", "must be at most 65535s or \"disabled\"".into());
            }
        }
        if m.idle_timeout.get().is_none() {
            return bad("mqtt.idle_timeout", "must be finite".into());
        }
        for (name, l) in &self.listeners.tcp {
            l.validate(&format!("listeners.tcp.{name}"))?;
        }
        for (name, l) in &self.listeners.ws {
            if let Err(why) = parse_bind(&l.bind) {
                return bad(&format!("listeners.ws.{name}.bind"), why);
            }
            if !l.websocket.mqtt_path.starts_with('/') {
                return bad(&format!("listeners.ws.{name}.websocket.mqtt_path"), "must start with '/'".into());
            }
        }
        let st = &self.gateway.stomp;
        for (name, l) in &st.listeners.tcp {
            l.validate(&format!("gateway.stomp.listeners.tcp.{name}"))?;
        }
        for (name, l) in &st.listeners.ws {
            if let Err(why) = parse_bind(&l.bind) {
                return bad(&format!("gateway.stomp.listeners.ws.{name}.bind"), why);
            }
            if !l.websocket.path.starts_with('/') {
                return bad(&format!("gateway.stomp.listeners.ws.{name}.websocket.path"), "must start with '/'".into());
            }
        }
        if st.idle_timeout.get().is_none() {
            return bad("gateway.stomp.idle_timeout", "must be finite".into());
        }
        let sn = &self.gateway.mqttsn;
        for (name, l) in &sn.listeners.udp {
            if let Err(why) = parse_bind(&l.bind) {
                return bad(&format!("gateway.mqttsn.listeners.udp.{name}.bind"), why);
            }
        }
        if let Err(why) = parse_bind(&sn.broadcast_address) {
            return bad("gateway.mqttsn.broadcast_address", why);
        }
        for key in ["idle_timeout", "retry_interval", "advertise_interval"] {
            let value = match key {
                "idle_timeout" => sn.idle_timeout,
                "retry_interval" => sn.retry_interval,
                _ => sn.advertise_interval,
            };
            if value.get().is_none_or(|d| d.is_zero()) {
                return bad(&format!("gateway.mqttsn.{key}"), "must be a finite, non-zero duration".into());
            }
        }
        let coap = &self.gateway.coap;
        for (name, l) in &coap.listeners.udp {
            if let Err(why) = parse_bind(&l.bind) {
                return bad(&format!("gateway.coap.listeners.udp.{name}.bind"), why);
            }
        }
        for (name, l) in coap.listeners.dtls.iter().filter(|(_, l)| l.listener.enable) {
            let key = format!("gateway.coap.listeners.dtls.{name}");
            if let Err(why) = parse_bind(&l.listener.bind) {
                return bad(&format!("{key}.bind"), why);
            }
            if let Err(e) = l.dtls_options.dtls_config().build() {
                return bad(&format!("{key}.dtls_options"), e.to_string());
            }
        }
        if parse_notify_type(&coap.notify_type).is_none() {
            return bad("gateway.coap.notify_type", format!("{:?} is not non, con or qos", coap.notify_type));
        }
        for (key, value) in [("subscribe_qos", &coap.subscribe_qos), ("publish_qos", &coap.publish_qos)] {
            if parse_qos_rule(value).is_none() {
                return bad(&format!("gateway.coap.{key}"), format!("{value:?} is not qos0, qos1, qos2 or coap"));
            }
        }
        coap.blockwise.validate("gateway.coap.blockwise")?;
        for (key, value) in [("heartbeat", coap.heartbeat), ("idle_timeout", coap.idle_timeout)] {
            if value.get().is_none_or(|d| d.is_zero()) {
                return bad(&format!("gateway.coap.{key}"), "must be a finite, non-zero duration".into());
            }
        }
        coap.transmission.validate("gateway.coap.transmission")?;
        let lw = &self.gateway.lwm2m;
        for (name, l) in &lw.listeners.udp {
            if let Err(why) = parse_bind(&l.bind) {
                return bad(&format!("gateway.lwm2m.listeners.udp.{name}.bind"), why);
            }
        }
        for (name, l) in lw.listeners.dtls.iter().filter(|(_, l)| l.listener.enable) {
            let key = format!("gateway.lwm2m.listeners.dtls.{name}");
            if let Err(why) = parse_bind(&l.listener.bind) {
                return bad(&format!("{key}.bind"), why);
            }
            if let Err(e) = l.dtls_options.dtls_config().build() {
                return bad(&format!("{key}.dtls_options"), e.to_string());
            }
        }
        for (key, value) in [
            ("lifetime_min", lw.lifetime_min),
            ("lifetime_max", lw.lifetime_max),
            ("qmode_time_window", lw.qmode_time_window),
        ] {
            if value.get().is_none() {
                return bad(&format!("gateway.lwm2m.{key}"), "must be a finite duration".into());
            }
        }
        lw.transmission.validate("gateway.lwm2m.transmission")?;
        lw.blockwise.validate("gateway.lwm2m.blockwise")?;
        if let Err(why) = lw.auto_observe.resolve() {
            return bad("gateway.lwm2m.auto_observe", why);
        }
        if parse_update_publish(&lw.update_msg_publish_condition).is_none() {
            return bad(
                "gateway.lwm2m.update_msg_publish_condition",
                format!("{:?} is not always or contains_object_list", lw.update_msg_publish_condition),
            );
        }
        let tr = &lw.translators;
        for (key, t) in [
            ("command", &tr.command),
            ("response", &tr.response),
            ("notify", &tr.notify),
            ("register", &tr.register),
            ("update", &tr.update),
        ] {
            if t.qos > 2 {
                return bad(&format!("gateway.lwm2m.translators.{key}.qos"), format!("{} is not 0, 1 or 2", t.qos));
            }
            if t.topic.is_empty() {
                return bad(&format!("gateway.lwm2m.translators.{key}.topic"), "must not be empty".into());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for p in &sn.predefined {
            if p.id == 0 || !seen.insert(p.id) {
                return bad("gateway.mqttsn.predefined", format!("topic id {} is 0 or used twice", p.id));
            }
            if gw_core::bus::Topic::new(p.topic.clone()).is_err() {
                return bad("gateway.mqttsn.predefined", format!("{:?} is not a valid topic name", p.topic));
            }
        }
        if !(st.heartbeat_timeout_factor >= 1.0 && st.heartbeat_timeout_factor.is_finite()) {
            return bad("gateway.stomp.heartbeat_timeout_factor", "must be a number >= 1".into());
        }
        Ok(())
    }

    /// The STOMP front-end settings.
    pub fn stomp_settings(&self) -> StompSettings {
        let st = &self.gateway.stomp;
        let ms = |d: ConfigDuration| d.get().map_or(0, |d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        StompSettings {
            channel: StompChannelConfig {
                limits: FrameLimits {
                    max_headers: st.frame.max_headers,
                    max_header_length: st.frame.max_headers_length,
                    max_body_length: st.frame.max_body_length,
                    max_frame_size: None,
                },
                server_name: concat!("gateway/", env!("CARGO_PKG_VERSION")).to_string(),
                heartbeat_send_ms: ms(st.heartbeat_send_interval),
                heartbeat_recv_ms: ms(st.heartbeat_recv_interval),
                heartbeat_timeout_factor: st.heartbeat_timeout_factor,
                idle_timeout: st.idle_timeout.get().unwrap_or(Duration::from_secs(30)),
                max_subscriptions: st.max_subscriptions,
                max_transactions: st.max_transactions,
                max_tx_frames: st.max_tx_frames,
            },
            mountpoint: st.mountpoint.clone(),
            publish_backpressure: self.mqtt.publish_backpressure.get().filter(|d| !d.is_zero()),
        }
    }

    /// The CoAP front-end settings.
    pub fn coap_settings(&self) -> CoapSettings {
        let c = &self.gateway.coap;
        CoapSettings {
            channel: CoapChannelConfig {
                connection_required: c.connection_required,
                heartbeat: c.heartbeat.get().unwrap_or(Duration::from_secs(30)),
                notify_type: parse_notify_type(&c.notify_type).unwrap_or(NotifyType::Qos),
                publish_qos: parse_qos_rule(&c.publish_qos).unwrap_or(QosRule::Coap),
                subscribe_qos: parse_qos_rule(&c.subscribe_qos).unwrap_or(QosRule::Coap),
                max_block_size: c.blockwise.max_block_size,
                max_body_size: usize::try_from(c.blockwise.max_body_size.0).unwrap_or(usize::MAX),
                blockwise: c.blockwise.enable,
                idle_timeout: c.idle_timeout.get().unwrap_or(Duration::from_secs(30)),
                max_observe_queue: c.max_observe_queue,
                transmission: c.transmission.params(),
                ..CoapChannelConfig::default()
            },
            mountpoint: c.mountpoint.clone(),
        }
    }

    /// The LwM2M front-end settings; reads the object definitions from `xml_dir`.
    pub fn lwm2m_settings(&self) -> Result<Lwm2mSettings, ConfigError> {
        let lw = &self.gateway.lwm2m;
        let objects = ObjectRegistry::load_dir(Path::new(&lw.xml_dir))
            .map_err(|e| ConfigError(format!("invalid value for key `gateway.lwm2m.xml_dir`: {}: {e}", lw.xml_dir)))?;
        let t = |c: &TranslatorConfig| Translator { topic: c.topic.clone(), qos: c.qos.min(2) };
        let tr = &lw.translators;
        Ok(Lwm2mSettings {
            registration: RegistrationConfig {
                lifetime_min: lw.lifetime_min.get().unwrap_or(Duration::from_secs(15)),
                lifetime_max: lw.lifetime_max.get().unwrap_or(Duration::from_secs(86_400)),
                qmode_time_window: lw.qmode_time_window.get().unwrap_or(Duration::from_secs(22)),
            },
            auto_observe: lw
                .auto_observe
                .resolve()
                .map_err(|e| ConfigError(format!("invalid value for key `gateway.lwm2m.auto_observe`: {e}")))?,
            max_queued_commands: lw.max_queued_commands.max(1),
            update_publish: parse_update_publish(&lw.update_msg_publish_condition).unwrap_or_default(),
            mountpoint: lw.mountpoint.clone(),
            translators: Translators {
                command: t(&tr.command),
                response: t(&tr.response),
                notify: t(&tr.notify),
                register: t(&tr.register),
                update: t(&tr.update),
            },
            objects: std::sync::Arc::new(objects),
            transmission: lw.transmission.params(),
            blockwise: lw.blockwise.enable.then(|| BlockLimits {
                max_block_size: lw.blockwise.max_block_size,
                max_body_size: usize::try_from(lw.blockwise.max_body_size.0).unwrap_or(usize::MAX),
            }),
        })
    }

    /// The MQTT-SN front-end settings.
    pub fn mqttsn_settings(&self) -> MqttSnSettings {
        let sn = &self.gateway.mqttsn;
        MqttSnSettings {
            channel: MqttSnChannelConfig {
                gateway_id: sn.gateway_id,
                predefined: sn.predefined.iter().map(|p| (p.id, p.topic.clone())).collect(),
                enable_qos3: sn.enable_qos3,
                idle_timeout: sn.idle_timeout.get().unwrap_or(Duration::from_secs(30)),
                keepalive_multiplier: self.mqtt.keepalive_multiplier,
                retry_interval: sn.retry_interval.get().unwrap_or(Duration::from_secs(10)),
                max_retries: sn.max_retries,
                max_pending_registrations: 64,
                max_packet_size: sn.max_packet_size,
                subs_resume: sn.subs_resume,
            },
            mountpoint: sn.mountpoint.clone(),
            session_expiry_interval: self.mqtt.session_expiry_interval.get(),
        }
    }

    /// The bus configuration.
    pub fn bus(&self) -> BusConfig {
        let m = &self.mqtt;
        let r = &self.retainer;
        BusConfig {
            session: SessionLimits {
                max_mqueue_len: m.max_mqueue_len,
                max_mqueue_bytes: usize::try_from(m.max_mqueue_bytes.0).unwrap_or(usize::MAX),
                mqueue_store_qos0: m.mqueue_store_qos0,
                max_inflight: m.max_inflight,
                retry_interval: m.retry_interval.get(),
                max_awaiting_rel: m.max_awaiting_rel,
                await_rel_timeout: m.await_rel_timeout.or_max(),
                publish_backpressure_stall: m
                    .publish_backpressure
                    .get()
                    .filter(|d| !d.is_zero())
                    .map(|_| m.publish_backpressure_stall.or_max()),
            },
            retain: r.enable.then(|| RetainLimits {
                max_retained_messages: r.max_retained_messages,
                max_payload_size: usize::try_from(r.max_payload_size.0).unwrap_or(usize::MAX),
                msg_expiry_interval: r.msg_expiry_interval.get().filter(|d| !d.is_zero()),
            }),
            shared_strategy: m.shared_subscription_strategy,
            max_topic_levels: m.max_topic_levels,
        }
    }

    /// The MQTT front-end settings.
    pub fn mqtt_settings(&self) -> MqttSettings {
        let m = &self.mqtt;
        let max_qos = QoS::from_u8(m.max_qos_allowed).unwrap_or(QoS::ExactlyOnce);
        MqttSettings {
            channel: ChannelConfig {
                max_packet_size: u32::try_from(m.max_packet_size.0).unwrap_or(u32::MAX),
                max_clientid_len: m.max_clientid_len,
                max_qos_allowed: max_qos,
                retain_available: m.retain_available && self.retainer.enable,
                wildcard_subscription: m.wildcard_subscription,
                shared_subscription: m.shared_subscription,
                max_topic_alias: m.max_topic_alias,
                // Inbound QoS 1 is acknowledged at once; what stays unacknowledged is QoS 2
                // waiting for PUBREL, which `max_awaiting_rel` bounds.
                receive_maximum: u16::try_from(m.max_awaiting_rel.clamp(1, 65535)).unwrap_or(u16::MAX),
                server_keepalive: m.server_keepalive.get().map(|d| u16::try_from(d.as_secs()).unwrap_or(u16::MAX)),
                keepalive_multiplier: m.keepalive_multiplier,
                idle_timeout: m.idle_timeout.get().unwrap_or(Duration::from_secs(15)),
            },
            session_expiry_interval: m.session_expiry_interval.get(),
            max_session_expiry_interval: m.max_session_expiry_interval.get(),
            delivery_batch: 256,
            publish_backpressure: m.publish_backpressure.get().filter(|d| !d.is_zero()),
        }
    }
}

fn parse_notify_type(text: &str) -> Option<NotifyType> {
    match text {
        "non" => Some(NotifyType::Non),
        "con" => Some(NotifyType::Con),
        "qos" => Some(NotifyType::Qos),
        _ => None,
    }
}

fn parse_update_publish(text: &str) -> Option<UpdatePublish> {
    match text {
        "always" => Some(UpdatePublish::Always),
        "contains_object_list" => Some(UpdatePublish::ContainsObjectList),
        _ => None,
    }
}

fn parse_qos_rule(text: &str) -> Option<QosRule> {
    match text {
        "qos0" => Some(QosRule::Qos0),
        "qos1" => Some(QosRule::Qos1),
        "qos2" => Some(QosRule::Qos2),
        "coap" => Some(QosRule::Coap),
        _ => None,
    }
}

fn format_figment_error(e: figment::Error) -> String {
    e.into_iter()
        .map(|err| {
            let key = err.path.join(".");
            if key.is_empty() {
                format!("{}", err.kind)
            } else {
                format!("invalid value for key `{key}`: {}", err.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
