//! The Flags byte (§5.3.4, Table 4):
//! `DUP(7) | QoS(6-5) | Retain(4) | Will(3) | CleanSession(2) | TopicIdType(1-0)`.

use super::DecodeError;

/// DUP bit.
pub(crate) const DUP: u8 = 0x80;
/// Retain bit.
pub(crate) const RETAIN: u8 = 0x10;
/// Will bit.
pub(crate) const WILL: u8 = 0x08;
/// CleanSession bit.
pub(crate) const CLEAN_SESSION: u8 = 0x04;

/// QoS level (flag bits 6-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QoS {
    /// 0b00.
    AtMostOnce,
    /// 0b01.
    AtLeastOnce,
    /// 0b10.
    ExactlyOnce,
    /// 0b11: QoS -1, PUBLISH without connection (§6.8).
    MinusOne,
}

impl QoS {
    /// From the 2-bit wire value.
    pub fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Self::AtMostOnce,
            1 => Self::AtLeastOnce,
            2 => Self::ExactlyOnce,
            _ => Self::MinusOne,
        }
    }

    /// The 2-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            Self::AtMostOnce => 0,
            Self::AtLeastOnce => 1,
            Self::ExactlyOnce => 2,
            Self::MinusOne => 3,
        }
    }

    /// -1, 0, 1 or 2.
    pub fn level(self) -> i8 {
        match self {
            Self::MinusOne => -1,
            other => other.bits() as i8,
        }
    }

    /// From 0, 1 or 2 (anything higher is capped to 2).
    pub fn from_level(level: u8) -> Self {
        match level {
            0 => Self::AtMostOnce,
            1 => Self::AtLeastOnce,
            _ => Self::ExactlyOnce,
        }
    }

    pub(crate) fn from_flags(flags: u8) -> Self {
        Self::from_bits(flags >> 5)
    }

    pub(crate) fn to_flags(self) -> u8 {
        self.bits() << 5
    }

    /// QoS from a Flags byte of a message where -1 is not allowed.
    pub(crate) fn from_flags_no_minus(flags: u8) -> Result<Self, DecodeError> {
        match Self::from_flags(flags) {
            Self::MinusOne => Err(DecodeError::InvalidQoS),
            q => Ok(q),
        }
    }
}

/// TopicIdType (flag bits 1-0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicIdType {
    /// 0b00: a normal (registered) topic id, or a topic name in SUBSCRIBE/UNSUBSCRIBE.
    Normal,
    /// 0b01: a predefined topic id.
    Predefined,
    /// 0b10: a short (2-byte) topic name.
    Short,
}

impl TopicIdType {
    pub(crate) fn from_flags(flags: u8) -> Result<Self, DecodeError> {
        match flags & 0b11 {
            0 => Ok(Self::Normal),
            1 => Ok(Self::Predefined),
            2 => Ok(Self::Short),
            _ => Err(DecodeError::InvalidTopicIdType),
        }
    }

    pub(crate) fn to_flags(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::Predefined => 1,
            Self::Short => 2,
        }
    }
}
