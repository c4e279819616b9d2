//! Decode and encode errors. Each names the clause of the MQTT-SN 1.2 specification the
//! datagram breaks, so one log line tells a broken client from a codec bug.

/// Why a datagram is not one valid MQTT-SN message. The datagram is dropped; the client's
/// channel keeps working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the smallest header (2 bytes, or 4 in the 3-byte length form).
    #[error("datagram of {0} bytes is shorter than the message header [MQTT-SN 1.2 §5.2.1]")]
    TooShort(usize),
    /// The Length field is smaller than the header it is part of (0, or below 4 in the
    /// 3-byte form).
    #[error("length field {0} is smaller than the message header [MQTT-SN 1.2 §5.2.1]")]
    InvalidLength(usize),
    /// The Length field says more bytes than the datagram holds.
    #[error("length field {declared} exceeds the datagram size {actual} [MQTT-SN 1.2 §5.2.1]")]
    Truncated {
        /// The Length field.
        declared: usize,
        /// Bytes in the datagram.
        actual: usize,
    },
    /// Bytes after the message (the datagram is longer than the Length field, or a
    /// fixed-size message has extra bytes).
    #[error("bytes after the end of the message [MQTT-SN 1.2 §5.2.1]")]
    TrailingBytes,
    /// A field runs past the end of the message.
    #[error("message is shorter than its fields [MQTT-SN 1.2 §5.4]")]
    UnexpectedEnd,
    /// A reserved MsgType value.
    #[error("reserved message type 0x{0:02X} [MQTT-SN 1.2 §5.2.2, Table 3]")]
    UnknownMessageType(u8),
    /// CONNECT with a ProtocolId other than 0x01.
    #[error("CONNECT protocol id 0x{0:02X}, expected 0x01 [MQTT-SN 1.2 §5.3.8]")]
    InvalidProtocolId(u8),
    /// TopicIdType 0b11 (reserved).
    #[error("reserved TopicIdType 0b11 [MQTT-SN 1.2 §5.3.4, Table 4]")]
    InvalidTopicIdType,
    /// QoS 0b11 (-1) where only PUBLISH may carry it.
    #[error("QoS -1 outside PUBLISH [MQTT-SN 1.2 §5.3.4 / §6.8]")]
    InvalidQoS,
    /// A short topic name or a predefined topic id that is not exactly 2 bytes long.
    #[error("short topic name / predefined topic id must be 2 bytes, got {0} [MQTT-SN 1.2 §5.4.15]")]
    InvalidTopicLength(usize),
    /// A client id or topic name that is not UTF-8.
    #[error("invalid UTF-8 in a string field [MQTT-SN 1.2 §5.3]")]
    InvalidUtf8,
    /// An encapsulated message that is itself an encapsulation.
    #[error("nested forwarder encapsulation [MQTT-SN 1.2 §5.5]")]
    NestedEncapsulation,
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Longer than the 65535 bytes the 3-byte length form can express.
    #[error("message of {0} bytes exceeds 65535 [MQTT-SN 1.2 §5.2.1]")]
    TooLong(usize),
    /// A short topic name that is not exactly 2 bytes, or a forwarder header over 255
    /// bytes.
    #[error("field cannot be represented: {0}")]
    InvalidField(&'static str),
}
