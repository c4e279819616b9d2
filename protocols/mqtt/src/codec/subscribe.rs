//! SUBSCRIBE (§3.8) and UNSUBSCRIBE (§3.10).

use super::primitives::{qos_bits, Reader, Sink};
use super::properties;
use super::{
    DecodeError, EncodeError, ProtocolVersion, RetainHandling, Subscribe, SubscribeProperties, SubscriptionOptions,
    Unsubscribe, UserProperties,
};

const NO_LOCAL: u8 = 0x04;
const RETAIN_AS_PUBLISHED: u8 = 0x08;
const RETAIN_HANDLING_SHIFT: u8 = 4;

fn decode_options(b: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
    // Before 5.0 only the QoS bits exist; everything above them is reserved.
    let reserved = if version == ProtocolVersion::V5 { 0xC0 } else { 0xFC };
    if b & reserved != 0 {
        return Err(DecodeError::SubscriptionOptionsReserved);
    }
    let qos = qos_bits(b).ok_or(DecodeError::InvalidSubscriptionQoS)?;
    let retain_handling = match (b >> RETAIN_HANDLING_SHIFT) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(DecodeError::InvalidRetainHandling),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: b & NO_LOCAL != 0,
        retain_as_published: b & RETAIN_AS_PUBLISHED != 0,
        retain_handling,
    })
}

fn encode_options(o: &SubscriptionOptions, version: ProtocolVersion) -> u8 {
    let mut b = o.qos as u8;
    if version == ProtocolVersion::V5 {
        b |= (o.retain_handling as u8) << RETAIN_HANDLING_SHIFT;
        if o.no_local {
            b |= NO_LOCAL;
        }
        if o.retain_as_published {
            b |= RETAIN_AS_PUBLISHED;
        }
    }
    b
}

pub(crate) fn decode_subscribe(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<Subscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = if version == ProtocolVersion::V5 { properties::read(r)? } else { SubscribeProperties::default() };
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string()?;
        let options = decode_options(r.u8()?, version)?;
        filters.push((filter, options));
    }
    if filters.is_empty() {
        return Err(DecodeError::NoSubscribeFilters);
    }
    Ok(Subscribe { packet_id, filters, properties })
}

pub(crate) fn encode_subscribe<S: Sink>(
    sub: &Subscribe,
    version: ProtocolVersion,
    s: &mut S,
) -> Result<(), EncodeError> {
    if sub.filters.is_empty() {
        return Err(EncodeError::InvalidField("SUBSCRIBE without topic filters"));
    }
    s.put_u16(sub.packet_id.get());
    if version == ProtocolVersion::V5 {
        properties::write(s, &sub.properties)?;
    }
    for (filter, options) in &sub.filters {
        s.put_string(filter)?;
        s.put_u8(encode_options(options, version));
    }
    Ok(())
}

pub(crate) fn decode_unsubscribe(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<Unsubscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let user_properties = if version == ProtocolVersion::V5 { properties::read(r)? } else { UserProperties::default() };
    let mut filters = Vec::new();
    while !r.is_empty() {
        filters.push(r.string()?);
    }
    if filters.is_empty() {
        return Err(DecodeError::NoUnsubscribeFilters);
    }
    Ok(Unsubscribe { packet_id, filters, user_properties })
}

pub(crate) fn encode_unsubscribe<S: Sink>(
    unsub: &Unsubscribe,
    version: ProtocolVersion,
    s: &mut S,
) -> Result<(), EncodeError> {
    if unsub.filters.is_empty() {
        return Err(EncodeError::InvalidField("UNSUBSCRIBE without topic filters"));
    }
    s.put_u16(unsub.packet_id.get());
    if version == ProtocolVersion::V5 {
        properties::write(s, &unsub.user_properties)?;
    }
    for filter in &unsub.filters {
        s.put_string(filter)?;
    }
    Ok(())
}
