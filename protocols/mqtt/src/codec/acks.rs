//! PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4 - §3.7), SUBACK (§3.9) and UNSUBACK (§3.11).

use super::primitives::{Reader, Sink};
use super::properties;
use super::{reason, DecodeError, EncodeError, ProtocolVersion, PubAck, SubAck, UnsubAck};

/// The PUBACK family. In 5.0 the reason code and the properties may be left off
/// (§3.4.2.1: Remaining Length 2 means success, less than 4 means no properties).
pub(crate) fn decode_puback(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<PubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut ack = PubAck::new(packet_id);
    if version == ProtocolVersion::V5 && !r.is_empty() {
        ack.reason_code = r.u8()?;
        if !r.is_empty() {
            ack.properties = properties::read(r)?;
        }
    }
    r.finish()?;
    Ok(ack)
}

pub(crate) fn encode_puback<S: Sink>(ack: &PubAck, version: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.put_u16(ack.packet_id.get());
    if version == ProtocolVersion::V5 {
        // The shortest form the decoder reads back to the same value.
        let no_props = properties::is_empty(&ack.properties);
        if ack.reason_code != reason::SUCCESS || !no_props {
            s.put_u8(ack.reason_code);
        }
        if !no_props {
            properties::write(s, &ack.properties)?;
        }
    }
    Ok(())
}

pub(crate) fn decode_suback(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let v5 = version == ProtocolVersion::V5;
    let properties = if v5 { properties::read(r)? } else { Default::default() };
    let mut reason_codes = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        let code = r.u8()?;
        // 3.x defines only the granted QoS values and 0x80 failure; 5.0 codes are passed
        // through for the caller to interpret.
        if !v5 && !matches!(code, 0 | 1 | 2 | 0x80) {
            return Err(DecodeError::InvalidReturnCode(code));
        }
        reason_codes.push(code);
    }
    Ok(SubAck { packet_id, reason_codes, properties })
}

pub(crate) fn encode_suback<S: Sink>(ack: &SubAck, version: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.put_u16(ack.packet_id.get());
    if version == ProtocolVersion::V5 {
        properties::write(s, &ack.properties)?;
    }
    s.put_slice(&ack.reason_codes);
    Ok(())
}

pub(crate) fn decode_unsuback(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut ack = UnsubAck { packet_id, reason_codes: Vec::new(), properties: Default::default() };
    if version == ProtocolVersion::V5 {
        ack.properties = properties::read(r)?;
        ack.reason_codes = r.take_rest().to_vec();
    }
    r.finish()?;
    Ok(ack)
}

pub(crate) fn encode_unsuback<S: Sink>(ack: &UnsubAck, version: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.put_u16(ack.packet_id.get());
    if version == ProtocolVersion::V5 {
        properties::write(s, &ack.properties)?;
        s.put_slice(&ack.reason_codes);
    }
    Ok(())
}
