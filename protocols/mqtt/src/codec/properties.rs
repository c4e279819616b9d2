//! MQTT 5.0 properties (§2.2.2): one generic reader that knows every identifier's data type,
//! and per-packet tables of which identifiers are allowed where.

use bytes::Bytes;

use super::primitives::{measure, Reader, Sink, VBI_MAX};
use super::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DecodeError, DisconnectProperties,
    EmptyProperties, EncodeError, MqttString, PropertyBox, PublishProperties, SubscribeProperties, UserProperties,
    WillProperties,
};

/// Property identifiers (§2.2.2.2).
pub(crate) mod id {
    pub(crate) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub(crate) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub(crate) const CONTENT_TYPE: u8 = 0x03;
    pub(crate) const RESPONSE_TOPIC: u8 = 0x08;
    pub(crate) const CORRELATION_DATA: u8 = 0x09;
    pub(crate) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub(crate) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub(crate) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub(crate) const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub(crate) const AUTHENTICATION_METHOD: u8 = 0x15;
    pub(crate) const AUTHENTICATION_DATA: u8 = 0x16;
    pub(crate) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub(crate) const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub(crate) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub(crate) const RESPONSE_INFORMATION: u8 = 0x1A;
    pub(crate) const SERVER_REFERENCE: u8 = 0x1C;
    pub(crate) const REASON_STRING: u8 = 0x1F;
    pub(crate) const RECEIVE_MAXIMUM: u8 = 0x21;
    pub(crate) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub(crate) const TOPIC_ALIAS: u8 = 0x23;
    pub(crate) const MAXIMUM_QOS: u8 = 0x24;
    pub(crate) const RETAIN_AVAILABLE: u8 = 0x25;
    pub(crate) const USER_PROPERTY: u8 = 0x26;
    pub(crate) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub(crate) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub(crate) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub(crate) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// A property value, typed by its identifier.
pub(crate) enum Value {
    Byte(u8),
    U16(u16),
    U32(u32),
    Vbi(u32),
    Str(MqttString),
    Bin(Bytes),
    Pair(MqttString, MqttString),
}

/// One property: identifier, then a value whose type the identifier fixes.
fn read_one(r: &mut Reader<'_>) -> Result<(u8, Value), DecodeError> {
    // The identifier is a Variable Byte Integer on the wire even though every defined one
    // fits in a single byte.
    let raw = r.vbi()?;
    let pid = u8::try_from(raw).map_err(|_| DecodeError::UnknownProperty(raw))?;
    let v = match pid {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => Value::Byte(r.u8()?),
        0x13 | 0x21 | 0x22 | 0x23 => Value::U16(r.u16()?),
        0x02 | 0x11 | 0x18 | 0x27 => Value::U32(r.u32()?),
        0x0B => Value::Vbi(r.vbi()?),
        0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => Value::Str(r.string()?),
        0x09 | 0x16 => Value::Bin(r.binary()?),
        0x26 => Value::Pair(r.string()?, r.string()?),
        _ => return Err(DecodeError::UnknownProperty(raw)),
    };
    Ok((pid, v))
}

impl Value {
    // `read_one` fixes the type from the identifier, so a mismatch is unreachable; it is
    // still reported as an error rather than a panic.
    fn byte(self) -> Result<u8, DecodeError> {
        match self {
            Self::Byte(v) => Ok(v),
            _ => Err(DecodeError::UnexpectedEnd),
        }
    }

    fn u16(self) -> Result<u16, DecodeError> {
        match self {
            Self::U16(v) => Ok(v),
            _ => Err(DecodeError::UnexpectedEnd),
        }
    }

    fn u32(self) -> Result<u32, DecodeError> {
        match self {
            Self::U32(v) | Self::Vbi(v) => Ok(v),
            _ => Err(DecodeError::UnexpectedEnd),
        }
    }

    fn string(self) -> Result<MqttString, DecodeError> {
        match self {
            Self::Str(v) => Ok(v),
            _ => Err(DecodeError::UnexpectedEnd),
        }
    }

    fn binary(self) -> Result<Bytes, DecodeError> {
        match self {
            Self::Bin(v) => Ok(v),
            _ => Err(DecodeError::UnexpectedEnd),
        }
    }
}

/// Stores a property that may appear at most once.
fn once<T>(slot: &mut Option<T>, pid: u8, v: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty(pid));
    }
    *slot = Some(v);
    Ok(())
}

/// A property whose value must be 0 or 1.
fn flag(pid: u8, v: Value) -> Result<u8, DecodeError> {
    match v.byte()? {
        b @ (0 | 1) => Ok(b),
        _ => Err(DecodeError::InvalidPropertyValue(pid)),
    }
}

fn nonzero_u16(pid: u8, v: Value) -> Result<u16, DecodeError> {
    match v.u16()? {
        0 => Err(DecodeError::InvalidPropertyValue(pid)),
        n => Ok(n),
    }
}

fn nonzero_u32(pid: u8, v: Value) -> Result<u32, DecodeError> {
    match v.u32()? {
        0 => Err(DecodeError::InvalidPropertyValue(pid)),
        n => Ok(n),
    }
}

fn user_property(props: &mut UserProperties, v: Value) -> Result<(), DecodeError> {
    match v {
        Value::Pair(k, v) => {
            props.push((k, v));
            Ok(())
        }
        _ => Err(DecodeError::UnexpectedEnd),
    }
}

/// The property set of one packet type.
pub(crate) trait PropSet: Default {
    /// Accepts one property, rejecting identifiers the packet does not allow.
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError>;
    /// Writes every present property (without the Property Length).
    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError>;
}

/// A set stored out of line reads and writes as the set itself. The box is allocated by the
/// first property applied, so an empty Property Length leaves it unallocated.
impl<P: PropSet + EmptyProperties> PropSet for PropertyBox<P> {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        (**self).apply(pid, v)
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        (**self).write(s)
    }
}

/// Reads Property Length and the properties it covers.
pub(crate) fn read<P: PropSet>(r: &mut Reader<'_>) -> Result<P, DecodeError> {
    let len = r.vbi()?;
    let mut block = r.sub(len as usize)?;
    let mut props = P::default();
    while !block.is_empty() {
        let (pid, v) = read_one(&mut block)?;
        props.apply(pid, v)?;
    }
    Ok(props)
}

/// Writes Property Length and the properties.
pub(crate) fn write<P: PropSet, S: Sink>(s: &mut S, props: &P) -> Result<(), EncodeError> {
    let len = measure(|c| props.write(c))?;
    s.put_vbi(len)?;
    props.write(s)
}

/// Whether writing `props` produces no property bytes (for the short forms of acks).
pub(crate) fn is_empty<P: PropSet>(props: &P) -> bool {
    matches!(measure(|c| props.write(c)), Ok(0))
}

fn put_u8<S: Sink>(s: &mut S, pid: u8, v: Option<u8>) {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_u8(v);
    }
}

fn put_u16<S: Sink>(s: &mut S, pid: u8, v: Option<u16>) {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_u16(v);
    }
}

fn put_u32<S: Sink>(s: &mut S, pid: u8, v: Option<u32>) {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_u32(v);
    }
}

fn put_str<S: Sink>(s: &mut S, pid: u8, v: Option<&MqttString>) -> Result<(), EncodeError> {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_string(v)?;
    }
    Ok(())
}

fn put_bin<S: Sink>(s: &mut S, pid: u8, v: Option<&Bytes>) -> Result<(), EncodeError> {
    if let Some(v) = v {
        s.put_u8(pid);
        s.put_binary(v)?;
    }
    Ok(())
}

fn put_sub_id<S: Sink>(s: &mut S, v: u32) -> Result<(), EncodeError> {
    if v == 0 || v > VBI_MAX {
        return Err(EncodeError::InvalidField("subscription identifier outside 1..=268435455"));
    }
    s.put_u8(id::SUBSCRIPTION_IDENTIFIER);
    s.put_vbi(v as usize)
}

fn put_user<S: Sink>(s: &mut S, props: &UserProperties) -> Result<(), EncodeError> {
    for (k, v) in props {
        s.put_u8(id::USER_PROPERTY);
        s.put_string(k)?;
        s.put_string(v)?;
    }
    Ok(())
}

impl PropSet for ConnectProperties {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        match pid {
            id::SESSION_EXPIRY_INTERVAL => once(&mut self.session_expiry_interval, pid, v.u32()?),
            id::RECEIVE_MAXIMUM => once(&mut self.receive_maximum, pid, nonzero_u16(pid, v)?),
            id::MAXIMUM_PACKET_SIZE => once(&mut self.maximum_packet_size, pid, nonzero_u32(pid, v)?),
            id::TOPIC_ALIAS_MAXIMUM => once(&mut self.topic_alias_maximum, pid, v.u16()?),
            id::REQUEST_RESPONSE_INFORMATION => once(&mut self.request_response_information, pid, flag(pid, v)?),
            id::REQUEST_PROBLEM_INFORMATION => once(&mut self.request_problem_information, pid, flag(pid, v)?),
            id::USER_PROPERTY => user_property(&mut self.user_properties, v),
            id::AUTHENTICATION_METHOD => once(&mut self.authentication_method, pid, v.string()?),
            id::AUTHENTICATION_DATA => once(&mut self.authentication_data, pid, v.binary()?),
            _ => Err(DecodeError::PropertyNotAllowed(pid)),
        }
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_u32(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        put_u16(s, id::RECEIVE_MAXIMUM, self.receive_maximum);
        put_u32(s, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        put_u16(s, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        put_u8(s, id::REQUEST_RESPONSE_INFORMATION, self.request_response_information);
        put_u8(s, id::REQUEST_PROBLEM_INFORMATION, self.request_problem_information);
        put_user(s, &self.user_properties)?;
        put_str(s, id::AUTHENTICATION_METHOD, self.authentication_method.as_ref())?;
        put_bin(s, id::AUTHENTICATION_DATA, self.authentication_data.as_ref())
    }
}

impl PropSet for WillProperties {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        match pid {
            id::WILL_DELAY_INTERVAL => once(&mut self.will_delay_interval, pid, v.u32()?),
            id::PAYLOAD_FORMAT_INDICATOR => once(&mut self.payload_format_indicator, pid, flag(pid, v)?),
            id::MESSAGE_EXPIRY_INTERVAL => once(&mut self.message_expiry_interval, pid, v.u32()?),
            id::CONTENT_TYPE => once(&mut self.content_type, pid, v.string()?),
            id::RESPONSE_TOPIC => once(&mut self.response_topic, pid, v.string()?),
            id::CORRELATION_DATA => once(&mut self.correlation_data, pid, v.binary()?),
            id::USER_PROPERTY => user_property(&mut self.user_properties, v),
            _ => Err(DecodeError::PropertyNotAllowed(pid)),
        }
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_u32(s, id::WILL_DELAY_INTERVAL, self.will_delay_interval);
        put_u8(s, id::PAYLOAD_FORMAT_INDICATOR, self.payload_format_indicator);
        put_u32(s, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        put_str(s, id::CONTENT_TYPE, self.content_type.as_ref())?;
        put_str(s, id::RESPONSE_TOPIC, self.response_topic.as_ref())?;
        put_bin(s, id::CORRELATION_DATA, self.correlation_data.as_ref())?;
        put_user(s, &self.user_properties)
    }
}

impl PropSet for ConnAckProperties {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        match pid {
            id::SESSION_EXPIRY_INTERVAL => once(&mut self.session_expiry_interval, pid, v.u32()?),
            id::RECEIVE_MAXIMUM => once(&mut self.receive_maximum, pid, nonzero_u16(pid, v)?),
            id::MAXIMUM_QOS => once(&mut self.maximum_qos, pid, flag(pid, v)?),
            id::RETAIN_AVAILABLE => once(&mut self.retain_available, pid, flag(pid, v)?),
            id::MAXIMUM_PACKET_SIZE => once(&mut self.maximum_packet_size, pid, nonzero_u32(pid, v)?),
            id::ASSIGNED_CLIENT_IDENTIFIER => once(&mut self.assigned_client_identifier, pid, v.string()?),
            id::TOPIC_ALIAS_MAXIMUM => once(&mut self.topic_alias_maximum, pid, v.u16()?),
            id::REASON_STRING => once(&mut self.reason_string, pid, v.string()?),
            id::USER_PROPERTY => user_property(&mut self.user_properties, v),
            id::WILDCARD_SUBSCRIPTION_AVAILABLE => once(&mut self.wildcard_subscription_available, pid, flag(pid, v)?),
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
                once(&mut self.subscription_identifiers_available, pid, flag(pid, v)?)
            }
            id::SHARED_SUBSCRIPTION_AVAILABLE => once(&mut self.shared_subscription_available, pid, flag(pid, v)?),
            id::SERVER_KEEP_ALIVE => once(&mut self.server_keep_alive, pid, v.u16()?),
            id::RESPONSE_INFORMATION => once(&mut self.response_information, pid, v.string()?),
            id::SERVER_REFERENCE => once(&mut self.server_reference, pid, v.string()?),
            id::AUTHENTICATION_METHOD => once(&mut self.authentication_method, pid, v.string()?),
            id::AUTHENTICATION_DATA => once(&mut self.authentication_data, pid, v.binary()?),
            _ => Err(DecodeError::PropertyNotAllowed(pid)),
        }
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_u32(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        put_u16(s, id::RECEIVE_MAXIMUM, self.receive_maximum);
        put_u8(s, id::MAXIMUM_QOS, self.maximum_qos);
        put_u8(s, id::RETAIN_AVAILABLE, self.retain_available);
        put_u32(s, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        put_str(s, id::ASSIGNED_CLIENT_IDENTIFIER, self.assigned_client_identifier.as_ref())?;
        put_u16(s, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        put_str(s, id::REASON_STRING, self.reason_string.as_ref())?;
        put_user(s, &self.user_properties)?;
        put_u8(s, id::WILDCARD_SUBSCRIPTION_AVAILABLE, self.wildcard_subscription_available);
        put_u8(s, id::SUBSCRIPTION_IDENTIFIER_AVAILABLE, self.subscription_identifiers_available);
        put_u8(s, id::SHARED_SUBSCRIPTION_AVAILABLE, self.shared_subscription_available);
        put_u16(s, id::SERVER_KEEP_ALIVE, self.server_keep_alive);
        put_str(s, id::RESPONSE_INFORMATION, self.response_information.as_ref())?;
        put_str(s, id::SERVER_REFERENCE, self.server_reference.as_ref())?;
        put_str(s, id::AUTHENTICATION_METHOD, self.authentication_method.as_ref())?;
        put_bin(s, id::AUTHENTICATION_DATA, self.authentication_data.as_ref())
    }
}

impl PropSet for PublishProperties {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        match pid {
            id::PAYLOAD_FORMAT_INDICATOR => once(&mut self.payload_format_indicator, pid, flag(pid, v)?),
            id::MESSAGE_EXPIRY_INTERVAL => once(&mut self.message_expiry_interval, pid, v.u32()?),
            id::TOPIC_ALIAS => once(&mut self.topic_alias, pid, nonzero_u16(pid, v)?),
            id::RESPONSE_TOPIC => once(&mut self.response_topic, pid, v.string()?),
            id::CORRELATION_DATA => once(&mut self.correlation_data, pid, v.binary()?),
            id::USER_PROPERTY => user_property(&mut self.user_properties, v),
            // The one property besides User Property that may repeat: a message matching
            // several subscriptions carries each of their identifiers (§3.3.2.3.8).
            id::SUBSCRIPTION_IDENTIFIER => {
                self.subscription_identifiers.push(nonzero_u32(pid, v)?);
                Ok(())
            }
            id::CONTENT_TYPE => once(&mut self.content_type, pid, v.string()?),
            _ => Err(DecodeError::PropertyNotAllowed(pid)),
        }
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_u8(s, id::PAYLOAD_FORMAT_INDICATOR, self.payload_format_indicator);
        put_u32(s, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        put_u16(s, id::TOPIC_ALIAS, self.topic_alias);
        put_str(s, id::RESPONSE_TOPIC, self.response_topic.as_ref())?;
        put_bin(s, id::CORRELATION_DATA, self.correlation_data.as_ref())?;
        put_user(s, &self.user_properties)?;
        for &sid in &self.subscription_identifiers {
            put_sub_id(s, sid)?;
        }
        put_str(s, id::CONTENT_TYPE, self.content_type.as_ref())
    }
}

impl PropSet for AckProperties {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        match pid {
            id::REASON_STRING => once(&mut self.reason_string, pid, v.string()?),
            id::USER_PROPERTY => user_property(&mut self.user_properties, v),
            _ => Err(DecodeError::PropertyNotAllowed(pid)),
        }
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_str(s, id::REASON_STRING, self.reason_string.as_ref())?;
        put_user(s, &self.user_properties)
    }
}

impl PropSet for SubscribeProperties {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        match pid {
            id::SUBSCRIPTION_IDENTIFIER => once(&mut self.subscription_identifier, pid, nonzero_u32(pid, v)?),
            id::USER_PROPERTY => user_property(&mut self.user_properties, v),
            _ => Err(DecodeError::PropertyNotAllowed(pid)),
        }
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        if let Some(sid) = self.subscription_identifier {
            put_sub_id(s, sid)?;
        }
        put_user(s, &self.user_properties)
    }
}

/// UNSUBSCRIBE allows only User Property.
impl PropSet for UserProperties {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        match pid {
            id::USER_PROPERTY => user_property(self, v),
            _ => Err(DecodeError::PropertyNotAllowed(pid)),
        }
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_user(s, self)
    }
}

impl PropSet for DisconnectProperties {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        match pid {
            id::SESSION_EXPIRY_INTERVAL => once(&mut self.session_expiry_interval, pid, v.u32()?),
            id::REASON_STRING => once(&mut self.reason_string, pid, v.string()?),
            id::USER_PROPERTY => user_property(&mut self.user_properties, v),
            id::SERVER_REFERENCE => once(&mut self.server_reference, pid, v.string()?),
            _ => Err(DecodeError::PropertyNotAllowed(pid)),
        }
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_u32(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        put_str(s, id::REASON_STRING, self.reason_string.as_ref())?;
        put_user(s, &self.user_properties)?;
        put_str(s, id::SERVER_REFERENCE, self.server_reference.as_ref())
    }
}

impl PropSet for AuthProperties {
    fn apply(&mut self, pid: u8, v: Value) -> Result<(), DecodeError> {
        match pid {
            id::AUTHENTICATION_METHOD => once(&mut self.authentication_method, pid, v.string()?),
            id::AUTHENTICATION_DATA => once(&mut self.authentication_data, pid, v.binary()?),
            id::REASON_STRING => once(&mut self.reason_string, pid, v.string()?),
            id::USER_PROPERTY => user_property(&mut self.user_properties, v),
            _ => Err(DecodeError::PropertyNotAllowed(pid)),
        }
    }

    fn write<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_str(s, id::AUTHENTICATION_METHOD, self.authentication_method.as_ref())?;
        put_bin(s, id::AUTHENTICATION_DATA, self.authentication_data.as_ref())?;
        put_str(s, id::REASON_STRING, self.reason_string.as_ref())?;
        put_user(s, &self.user_properties)
    }
}
