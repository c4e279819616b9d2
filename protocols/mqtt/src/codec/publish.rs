//! PUBLISH (§3.3).

use std::num::NonZeroU16;

use super::primitives::{qos_bits, Reader, Sink};
use super::properties;
use super::{DecodeError, EncodeError, ProtocolVersion, Publish, PublishProperties, QoS};

const DUP: u8 = 0x08;
const RETAIN: u8 = 0x01;

/// `flags` is the low nibble of the fixed header, which PUBLISH uses for DUP/QoS/RETAIN.
pub(crate) fn decode(flags: u8, r: &mut Reader<'_>, version: ProtocolVersion) -> Result<Publish, DecodeError> {
    let qos = qos_bits(flags >> 1).ok_or(DecodeError::InvalidQoS)?;
    // An empty topic is left to the channel: it is legal in 5.0 together with a Topic Alias.
    let topic = r.string()?;
    let packet_id = if qos == QoS::AtMostOnce { None } else { Some(r.packet_id()?) };
    // Without properties (3.x, or an empty Property Length) nothing is allocated for them.
    let properties = if version == ProtocolVersion::V5 { properties::read(r)? } else { Default::default() };
    let payload = r.take_rest();
    Ok(Publish { dup: flags & DUP != 0, qos, retain: flags & RETAIN != 0, topic, packet_id, properties, payload })
}

/// A PUBLISH to encode, borrowing its parts: a delivery's topic and payload are shared by
/// every subscriber, and encoding from them needs no reference count of its own.
#[derive(Debug, Clone, Copy)]
pub struct PublishRef<'a> {
    /// DUP flag.
    pub dup: bool,
    /// QoS level.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic Name, valid UTF-8 (a decoded or bus topic); empty in 5.0 when a Topic Alias
    /// stands for it. Bytes, so encoding a bus topic for every subscriber does not validate
    /// it again each time.
    pub topic: &'a [u8],
    /// Packet Identifier: `Some` exactly when `qos > 0`.
    pub packet_id: Option<NonZeroU16>,
    /// 5.0 properties (ignored for older versions).
    pub properties: &'a PublishProperties,
    /// Application message.
    pub payload: &'a [u8],
}

impl Publish {
    /// This packet as a [`PublishRef`].
    pub fn view(&self) -> PublishRef<'_> {
        PublishRef {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: self.topic.as_bytes(),
            packet_id: self.packet_id,
            properties: &self.properties,
            payload: &self.payload,
        }
    }
}

pub(crate) fn flags(p: &PublishRef<'_>) -> u8 {
    let mut f = (p.qos as u8) << 1;
    if p.dup {
        f |= DUP;
    }
    if p.retain {
        f |= RETAIN;
    }
    f
}

pub(crate) fn encode<S: Sink>(p: &PublishRef<'_>, version: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.put_binary(p.topic)?;
    match (p.qos, p.packet_id) {
        (QoS::AtMostOnce, None) => {}
        (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(id)) => s.put_u16(id.get()),
        _ => return Err(EncodeError::InvalidField("PUBLISH packet id must be present iff QoS > 0")),
    }
    if version == ProtocolVersion::V5 {
        properties::write(s, p.properties)?;
    }
    s.put_slice(p.payload);
    Ok(())
}
