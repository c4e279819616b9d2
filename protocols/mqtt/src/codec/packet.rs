//! The MQTT packet model shared by every protocol version.
//!
//! One `Packet` enum covers MQTT 3.1, 3.1.1 and 5.0: fields that exist only in 5.0
//! (properties, reason codes on acks) are left at their defaults for older versions and
//! ignored by the encoder there.

use std::fmt;
use std::num::NonZeroU16;

use bytes::Bytes;

use super::PropertyBox;

/// Protocol level byte of CONNECT (§3.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// MQTT 3.1 (protocol name `MQIsdp`, level 3).
    V3_1,
    /// MQTT 3.1.1 (protocol name `MQTT`, level 4).
    V3_1_1,
    /// MQTT 5.0 (protocol name `MQTT`, level 5).
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte on the wire.
    pub fn level(self) -> u8 {
        match self {
            Self::V3_1 => 3,
            Self::V3_1_1 => 4,
            Self::V5 => 5,
        }
    }
}

/// Quality of service of a PUBLISH or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    /// At most once.
    #[default]
    AtMostOnce = 0,
    /// At least once.
    AtLeastOnce = 1,
    /// Exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// Parses the two QoS bits; 3 is malformed.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }
}

/// A UTF-8 encoded string as MQTT carries it (§1.5.4): validated UTF-8 without U+0000,
/// backed by `Bytes` so a decoded topic shares the read buffer instead of being copied.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MqttString(Bytes);

/// Compared, ordered and hashed as its bytes (as `Bytes` is), so maps keyed by it can be
/// searched with a borrowed `&[u8]`.
impl std::borrow::Borrow<[u8]> for MqttString {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl MqttString {
    /// Wraps bytes that are already known to be valid UTF-8 without NUL.
    ///
    /// Returns `None` when they are not.
    pub fn from_bytes(bytes: Bytes) -> Option<Self> {
        let s = std::str::from_utf8(&bytes).ok()?;
        if s.contains('\0') {
            return None;
        }
        Some(Self(bytes))
    }

    /// Wraps bytes without checking them.
    ///
    /// The caller guarantees valid UTF-8 without U+0000; used for topics the bus has
    /// already validated, so delivering a message does not re-scan its topic.
    pub fn from_trusted(bytes: Bytes) -> Self {
        debug_assert!(Self::from_bytes(bytes.clone()).is_some(), "MqttString::from_trusted: invalid bytes");
        Self(bytes)
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Invariant: constructed only from valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The backing bytes (shared, not copied).
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Consumes the string, returning its backing bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&'static str> for MqttString {
    fn from(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for MqttString {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

impl fmt::Debug for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// User properties (§3.3.2.3.7): ordered name/value pairs, duplicates allowed.
pub type UserProperties = Vec<(MqttString, MqttString)>;

/// Every MQTT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (boxed: large and rare).
    Connect(Box<Connect>),
    /// CONNACK.
    ConnAck(ConnAck),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(PubAck),
    /// PUBREC.
    PubRec(PubAck),
    /// PUBREL.
    PubRel(PubAck),
    /// PUBCOMP.
    PubComp(PubAck),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (5.0 only).
    Auth(Auth),
}

/// CONNECT (§3.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol version from the protocol name and level.
    pub version: ProtocolVersion,
    /// Clean Session (3.x) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 disables it.
    pub keep_alive: u16,
    /// Client identifier; may be empty.
    pub client_id: MqttString,
    /// Will message, if the Will Flag is set.
    pub will: Option<LastWill>,
    /// User Name, if the flag is set.
    pub username: Option<MqttString>,
    /// Password, if the flag is set (binary data).
    pub password: Option<Bytes>,
    /// 5.0 properties.
    pub properties: ConnectProperties,
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials are never printed (DESIGN.md: redact in Debug).
        f.debug_struct("Connect")
            .field("version", &self.version)
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .field("client_id", &self.client_id)
            .field("will", &self.will)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("properties", &self.properties)
            .finish()
    }
}

/// CONNECT properties (§3.1.2.11).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectProperties {
    /// Session Expiry Interval (0x11), seconds.
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum (0x21); never 0.
    pub receive_maximum: Option<u16>,
    /// Maximum Packet Size (0x27); never 0.
    pub maximum_packet_size: Option<u32>,
    /// Topic Alias Maximum (0x22).
    pub topic_alias_maximum: Option<u16>,
    /// Request Response Information (0x19), 0 or 1.
    pub request_response_information: Option<u8>,
    /// Request Problem Information (0x17), 0 or 1.
    pub request_problem_information: Option<u8>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
    /// Authentication Method (0x15).
    pub authentication_method: Option<MqttString>,
    /// Authentication Data (0x16).
    pub authentication_data: Option<Bytes>,
}

/// The Will of a CONNECT (§3.1.3.2 - §3.1.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Will Topic.
    pub topic: MqttString,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// 5.0 Will properties.
    pub properties: WillProperties,
}

/// Will properties (§3.1.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WillProperties {
    /// Will Delay Interval (0x18), seconds.
    pub will_delay_interval: Option<u32>,
    /// Payload Format Indicator (0x01), 0 or 1.
    pub payload_format_indicator: Option<u8>,
    /// Message Expiry Interval (0x02), seconds.
    pub message_expiry_interval: Option<u32>,
    /// Content Type (0x03).
    pub content_type: Option<MqttString>,
    /// Response Topic (0x08).
    pub response_topic: Option<MqttString>,
    /// Correlation Data (0x09).
    pub correlation_data: Option<Bytes>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
}

/// CONNACK (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAck {
    /// Session Present.
    pub session_present: bool,
    /// The code exactly as on the wire for the codec's version: a 5.0 reason code, or a
    /// 3.x return code (0..=5). Use `reason::connack_v3_code` to translate.
    pub code: u8,
    /// 5.0 properties, out of line (the largest set; none in 3.x).
    pub properties: PropertyBox<ConnAckProperties>,
}

/// CONNACK properties (§3.2.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAckProperties {
    /// Session Expiry Interval (0x11).
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum (0x21).
    pub receive_maximum: Option<u16>,
    /// Maximum QoS (0x24), 0 or 1.
    pub maximum_qos: Option<u8>,
    /// Retain Available (0x25), 0 or 1.
    pub retain_available: Option<u8>,
    /// Maximum Packet Size (0x27).
    pub maximum_packet_size: Option<u32>,
    /// Assigned Client Identifier (0x12).
    pub assigned_client_identifier: Option<MqttString>,
    /// Topic Alias Maximum (0x22).
    pub topic_alias_maximum: Option<u16>,
    /// Reason String (0x1F).
    pub reason_string: Option<MqttString>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
    /// Wildcard Subscription Available (0x28).
    pub wildcard_subscription_available: Option<u8>,
    /// Subscription Identifiers Available (0x29).
    pub subscription_identifiers_available: Option<u8>,
    /// Shared Subscription Available (0x2A).
    pub shared_subscription_available: Option<u8>,
    /// Server Keep Alive (0x13).
    pub server_keep_alive: Option<u16>,
    /// Response Information (0x1A).
    pub response_information: Option<MqttString>,
    /// Server Reference (0x1C).
    pub server_reference: Option<MqttString>,
    /// Authentication Method (0x15).
    pub authentication_method: Option<MqttString>,
    /// Authentication Data (0x16).
    pub authentication_data: Option<Bytes>,
}

/// PUBLISH (§3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag.
    pub dup: bool,
    /// QoS level.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic Name; empty in 5.0 when a Topic Alias stands for it.
    pub topic: MqttString,
    /// Packet Identifier: `Some` exactly when `qos > 0`.
    pub packet_id: Option<NonZeroU16>,
    /// 5.0 properties, out of line: most PUBLISHes have none, and a PUBLISH is moved by
    /// value per message.
    pub properties: PropertyBox<PublishProperties>,
    /// Application message.
    pub payload: Bytes,
}

/// PUBLISH properties (§3.3.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishProperties {
    /// Payload Format Indicator (0x01).
    pub payload_format_indicator: Option<u8>,
    /// Message Expiry Interval (0x02), seconds.
    pub message_expiry_interval: Option<u32>,
    /// Topic Alias (0x23); never 0 on the wire.
    pub topic_alias: Option<u16>,
    /// Response Topic (0x08).
    pub response_topic: Option<MqttString>,
    /// Correlation Data (0x09).
    pub correlation_data: Option<Bytes>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
    /// Subscription Identifier (0x0B), each 1..=268_435_455; server to client only.
    pub subscription_identifiers: Vec<u32>,
    /// Content Type (0x03).
    pub content_type: Option<MqttString>,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share this shape (§3.4 - §3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubAck {
    /// Packet Identifier.
    pub packet_id: NonZeroU16,
    /// 5.0 reason code (0 = success; always 0 for 3.x).
    pub reason_code: u8,
    /// 5.0 properties, out of line: almost every ack has none.
    pub properties: PropertyBox<AckProperties>,
}

impl PubAck {
    /// A successful ack without properties.
    pub fn new(packet_id: NonZeroU16) -> Self {
        Self { packet_id, reason_code: 0, properties: PropertyBox::default() }
    }
}

/// Properties of the acknowledgement packets: PUBACK family, SUBACK, UNSUBACK.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckProperties {
    /// Reason String (0x1F).
    pub reason_string: Option<MqttString>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
}

/// Retain Handling subscription option (§3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription does not already exist.
    SendIfNew = 1,
    /// 2: do not send retained messages.
    DoNotSend = 2,
}

/// Subscription Options byte (§3.8.3.1); only `qos` exists before 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local.
    pub no_local: bool,
    /// Retain As Published.
    pub retain_as_published: bool,
    /// Retain Handling.
    pub retain_handling: RetainHandling,
}

/// SUBSCRIBE (§3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet Identifier.
    pub packet_id: NonZeroU16,
    /// Topic filters with their options; never empty on the wire.
    pub filters: Vec<(MqttString, SubscriptionOptions)>,
    /// 5.0 properties.
    pub properties: SubscribeProperties,
}

/// SUBSCRIBE properties (§3.8.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeProperties {
    /// Subscription Identifier (0x0B), 1..=268_435_455.
    pub subscription_identifier: Option<u32>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
}

/// SUBACK (§3.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet Identifier.
    pub packet_id: NonZeroU16,
    /// One code per filter, as on the wire (3.x: 0, 1, 2 or 0x80).
    pub reason_codes: Vec<u8>,
    /// 5.0 properties, out of line (as for [`PubAck`]).
    pub properties: PropertyBox<AckProperties>,
}

/// UNSUBSCRIBE (§3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet Identifier.
    pub packet_id: NonZeroU16,
    /// Topic filters; never empty on the wire.
    pub filters: Vec<MqttString>,
    /// User Property (0x26), 5.0 only.
    pub user_properties: UserProperties,
}

/// UNSUBACK (§3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet Identifier.
    pub packet_id: NonZeroU16,
    /// One reason code per filter in 5.0; empty in 3.x (which has none on the wire).
    pub reason_codes: Vec<u8>,
    /// 5.0 properties, out of line (as for [`PubAck`]).
    pub properties: PropertyBox<AckProperties>,
}

/// DISCONNECT (§3.14).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// 5.0 reason code (0 = normal disconnection).
    pub reason_code: u8,
    /// 5.0 properties, out of line: rarely set.
    pub properties: PropertyBox<DisconnectProperties>,
}

/// DISCONNECT properties (§3.14.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisconnectProperties {
    /// Session Expiry Interval (0x11).
    pub session_expiry_interval: Option<u32>,
    /// Reason String (0x1F).
    pub reason_string: Option<MqttString>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
    /// Server Reference (0x1C).
    pub server_reference: Option<MqttString>,
}

/// AUTH (§3.15), 5.0 only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Reason code: 0x00 success, 0x18 continue authentication, 0x19 re-authenticate.
    pub reason_code: u8,
    /// Properties, out of line: rare packet, large set.
    pub properties: PropertyBox<AuthProperties>,
}

/// AUTH properties (§3.15.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthProperties {
    /// Authentication Method (0x15).
    pub authentication_method: Option<MqttString>,
    /// Authentication Data (0x16).
    pub authentication_data: Option<Bytes>,
    /// Reason String (0x1F).
    pub reason_string: Option<MqttString>,
    /// User Property (0x26).
    pub user_properties: UserProperties,
}
