//! Decode and encode errors.
//!
//! Every decode error names the clause of the specification the input breaks, so a log line
//! is enough to tell a broken client from a codec bug. Clause numbers are those of MQTT 5.0
//! unless marked "3.1.1".

use super::reason;

/// Why a packet could not be decoded. The connection must be closed after any of these;
/// [`DecodeError::reason_code`] tells which reason to put in the 5.0 DISCONNECT/CONNACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The whole packet would exceed the negotiated maximum.
    #[error("packet of {size} bytes exceeds the maximum packet size {max} [MQTT-3.2.2-15 / §3.1.2.11.4]")]
    PacketTooLarge {
        /// Fixed header plus Remaining Length.
        size: u64,
        /// The limit in force.
        max: u32,
    },
    /// Packet type 0, or 15 (AUTH) before 5.0.
    #[error("reserved control packet type {0} [§2.1.2]")]
    InvalidPacketType(u8),
    /// The low nibble of the fixed header does not match the packet type.
    #[error("reserved flags of fixed header are not valid [MQTT-2.1.3-1]")]
    InvalidHeaderFlags,
    /// A Variable Byte Integer (Remaining Length, Property Length, Subscription Identifier)
    /// has a continuation bit on its fourth byte.
    #[error("variable byte integer longer than 4 bytes [MQTT-1.5.5 / §2.1.4]")]
    VarIntTooLong,
    /// PUBLISH with both QoS bits set.
    #[error("PUBLISH with QoS 3 [MQTT-3.3.1-4]")]
    InvalidQoS,
    /// A Packet Identifier of 0.
    #[error("packet identifier 0 [MQTT-2.2.1-3]")]
    ZeroPacketId,
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 in string [MQTT-1.5.4-1]")]
    InvalidUtf8,
    /// A string containing U+0000.
    #[error("U+0000 in string [MQTT-1.5.4-2]")]
    NulInString,
    /// A field runs past the end of the packet.
    #[error("packet body is shorter than its fields (Remaining Length too small) [§2.1.4]")]
    UnexpectedEnd,
    /// Bytes left over after the last field.
    #[error("packet body is longer than its fields (Remaining Length too large) [§2.1.4]")]
    TrailingBytes,
    /// CONNECT protocol name is neither `MQTT` nor `MQIsdp`.
    #[error("unknown protocol name in CONNECT [MQTT-3.1.2-1]")]
    InvalidProtocolName,
    /// Known protocol name with a level this codec does not speak.
    #[error("unsupported protocol level {level} in CONNECT [MQTT-3.1.2-2]")]
    UnsupportedProtocolVersion {
        /// The level byte as received.
        level: u8,
    },
    /// Bit 0 of the CONNECT flags is set.
    #[error("reserved bit in CONNECT flags is set [MQTT-3.1.2-3]")]
    ConnectReservedFlag,
    /// Will QoS or Will Retain set without the Will Flag.
    #[error("Will QoS/Retain set without Will Flag [MQTT-3.1.2-11/13/15]")]
    InvalidWillFlags,
    /// Will QoS 3.
    #[error("Will QoS 3 [MQTT-3.1.2-12]")]
    InvalidWillQoS,
    /// Password flag without User Name flag before 5.0.
    #[error("password flag without user name flag [3.1.1 MQTT-3.1.2-22]")]
    PasswordWithoutUsername,
    /// CONNACK Acknowledge Flags with a reserved bit set.
    #[error("reserved bits of CONNACK acknowledge flags are set [MQTT-3.2.2-1]")]
    ConnAckReservedFlags,
    /// A 3.x CONNACK or SUBACK code outside the defined set.
    #[error("return code {0:#04x} is reserved [3.1.1 §3.2.2.3 / MQTT-3.9.3-2]")]
    InvalidReturnCode(u8),
    /// SUBSCRIBE without a topic filter.
    #[error("SUBSCRIBE with no topic filter [MQTT-3.8.3-2, 3.1.1 MQTT-3.8.3-3]")]
    NoSubscribeFilters,
    /// UNSUBSCRIBE without a topic filter.
    #[error("UNSUBSCRIBE with no topic filter [MQTT-3.10.3-2]")]
    NoUnsubscribeFilters,
    /// Reserved bits of a Subscription Options byte are set.
    #[error("reserved bits of subscription options are set [MQTT-3.8.3-5, 3.1.1 MQTT-3.8.3-4]")]
    SubscriptionOptionsReserved,
    /// Maximum QoS 3 in Subscription Options.
    #[error("subscription with QoS 3 [§3.8.3.1, 3.1.1 MQTT-3.8.3-4]")]
    InvalidSubscriptionQoS,
    /// Retain Handling 3 in Subscription Options.
    #[error("retain handling 3 [§3.8.3.1]")]
    InvalidRetainHandling,
    /// A property identifier that MQTT 5.0 does not define.
    #[error("unknown property identifier {0:#04x} [§2.2.2.2]")]
    UnknownProperty(u32),
    /// A defined property in a packet that does not allow it.
    #[error("property {0:#04x} is not allowed in this packet [§2.2.2.2]")]
    PropertyNotAllowed(u8),
    /// A property other than User Property / PUBLISH Subscription Identifier given twice.
    #[error("duplicate property {0:#04x} [§2.2.2.2, e.g. §3.1.2.11.2]")]
    DuplicateProperty(u8),
    /// A property value the specification forbids (0 Receive Maximum, a boolean that is
    /// neither 0 nor 1, Subscription Identifier 0, ...).
    #[error("invalid value for property {0:#04x} [§3.1.2.11, §3.2.2.3, §3.3.2.3]")]
    InvalidPropertyValue(u8),
    /// Property Length points past the end of the packet.
    #[error("property length exceeds remaining length [§2.2.2.1]")]
    PropertyLengthExceeded,
}

impl DecodeError {
    /// MQTT 5.0 reason code of the DISCONNECT (or CONNACK) this error calls for.
    ///
    /// 0x95 Packet Too Large, 0x84 Unsupported Protocol Version, 0x82 Protocol Error where
    /// the specification classifies the fault as a protocol error, 0x81 Malformed Packet
    /// otherwise.
    pub fn reason_code(&self) -> u8 {
        match self {
            Self::PacketTooLarge { .. } => reason::PACKET_TOO_LARGE,
            Self::UnsupportedProtocolVersion { .. } => reason::UNSUPPORTED_PROTOCOL_VERSION,
            Self::DuplicateProperty(_)
            | Self::InvalidPropertyValue(_)
            | Self::NoSubscribeFilters
            | Self::NoUnsubscribeFilters
            | Self::InvalidSubscriptionQoS
            | Self::InvalidRetainHandling => reason::PROTOCOL_ERROR,
            _ => reason::MALFORMED_PACKET,
        }
    }
}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A string or binary field longer than 65,535 bytes [§1.5.4, §1.5.6].
    #[error("string or binary data longer than 65535 bytes [§1.5.4]")]
    FieldTooLong,
    /// Remaining Length or Property Length above 268,435,455 [§1.5.5].
    #[error("remaining length above 268435455 [§1.5.5]")]
    PacketTooLarge,
    /// A value the wire format cannot carry or the decoder would reject: a Subscription
    /// Identifier of 0 or above 268,435,455, QoS without a matching packet id, an empty
    /// SUBSCRIBE/UNSUBSCRIBE...
    #[error("packet field cannot be represented on the wire: {0}")]
    InvalidField(&'static str),
    /// The packet type does not exist in the codec's protocol version (AUTH before 5.0).
    #[error("packet type does not exist in this protocol version")]
    NotInVersion,
}
