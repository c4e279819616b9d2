//! The MQTT wire codec: bytes to [`Packet`] and back, for MQTT 3.1, 3.1.1 and 5.0.
//!
//! Decoding is incremental and zero-copy. [`Codec::decode`] looks at the fixed header
//! first; it rejects an oversized packet before its body has arrived, and returns
//! `Ok(None)` until the whole packet is buffered. The packet's bytes are then split off the
//! read buffer and frozen, and topics, strings and payloads in the returned [`Packet`] are
//! slices of that one allocation. The body is parsed with nom's *complete* parsers, since by
//! then a short body is a malformed packet, not a reason to wait.
//!
//! Encoding runs the same writer code twice: once into a
//! counter to learn the Remaining Length (and each Property Length), then into the output.
//! [`encoded_len`] runs the counting pass alone, so it is exact by construction.
//!
//! # Layout
//! - `mod.rs`: [`Codec`], [`decode`], [`encode`], [`encoded_len`], dispatch on packet type.
//! - `error.rs`: [`DecodeError`] (with the spec clause of each failure) and [`EncodeError`].
//! - `packet.rs`: the packet model shared with the channel (re-exported here).
//! - `reason.rs`: reason and return code constants ([`reason`]).
//! - `primitives.rs`: §1.5 data types, Variable Byte Integer, fixed header, output sinks.
//! - `properties.rs`: 5.0 properties, the allowed set per packet type.
//! - `property_box.rs`: [`PropertyBox`], property sets stored out of line so packets stay small.
//! - `connect.rs`: CONNECT and CONNACK.
//! - `publish.rs`: PUBLISH.
//! - `acks.rs`: PUBACK/PUBREC/PUBREL/PUBCOMP, SUBACK, UNSUBACK.
//! - `subscribe.rs`: SUBSCRIBE and UNSUBSCRIBE.
//! - `disconnect_auth.rs`: DISCONNECT and AUTH.

use std::num::NonZeroU16;

use bytes::{Buf, BufMut, BytesMut};

mod acks;
mod connect;
mod disconnect_auth;
mod error;
mod packet;
mod primitives;
mod properties;
mod property_box;
mod publish;
pub mod reason;
mod subscribe;

pub use error::{DecodeError, EncodeError};
pub use packet::*;
pub use property_box::{EmptyProperties, PropertyBox};
pub use publish::PublishRef;

use primitives::{ptype, Counter, Reader, Sink, VBI_MAX};

/// A stateful codec for one connection.
///
/// A server starts without a version and learns it from the client's CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    version: Option<ProtocolVersion>,
    max_packet_size: u32,
}

impl Codec {
    /// A server-side codec before CONNECT: the version is learned from CONNECT.
    ///
    /// `max_packet_size` bounds the whole packet (fixed header included) this side accepts.
    pub fn new(max_packet_size: u32) -> Self {
        Self { version: None, max_packet_size }
    }

    /// The protocol version, once known.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// Fixes the protocol version (a client codec, or a test).
    pub fn set_version(&mut self, v: ProtocolVersion) {
        self.version = Some(v);
    }

    /// Changes the largest packet [`Codec::decode`] accepts.
    pub fn set_max_packet_size(&mut self, n: u32) {
        self.max_packet_size = n;
    }

    /// The largest packet [`Codec::decode`] accepts.
    pub fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// Decodes one packet from the front of `buf`, removing its bytes.
    ///
    /// `Ok(None)` means more bytes are needed; nothing was consumed. The Remaining Length is
    /// checked against the maximum packet size as soon as the fixed header is complete, so
    /// an oversized packet fails with [`DecodeError::PacketTooLarge`] without being
    /// buffered. A decoded CONNECT sets the codec's version; other packets decoded before
    /// that are read as 3.1.1. After an error the connection must be closed: how much of
    /// `buf` was consumed is unspecified.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        let packet = decode(buf, self.version, self.max_packet_size)?;
        if let Some(Packet::Connect(c)) = &packet {
            self.version = Some(c.version);
        }
        Ok(packet)
    }

    /// Appends the encoded packet to `buf` using the codec's version (3.1.1 if unknown).
    ///
    /// On error nothing is appended.
    pub fn encode(&self, packet: &Packet, buf: &mut BytesMut) -> Result<(), EncodeError> {
        encode(packet, self.version.unwrap_or(ProtocolVersion::V3_1_1), buf)
    }

    /// Appends an encoded PUBLISH, as [`Codec::encode`].
    pub fn encode_publish(&self, publish: &PublishRef<'_>, buf: &mut BytesMut) -> Result<(), EncodeError> {
        encode_publish(publish, self.version.unwrap_or(ProtocolVersion::V3_1_1), buf)
    }
}

/// A PUBACK, PUBREC, PUBREL or PUBCOMP of Remaining Length 2, read in place: only a packet
/// id (reason Success, no properties, §3.4.2.1), the bulk of a subscriber's input. Taking it
/// as a shared view of the read buffer, as other packets are, would cost two reference-count
/// updates for two bytes.
fn short_ack(ptype: u8, body: &[u8]) -> Option<Result<Packet, DecodeError>> {
    let make = match ptype {
        ptype::PUBACK => Packet::PubAck,
        ptype::PUBREC => Packet::PubRec,
        ptype::PUBREL => Packet::PubRel,
        ptype::PUBCOMP => Packet::PubComp,
        _ => return None,
    };
    let &[high, low] = body else { return None };
    let packet_id = NonZeroU16::new(u16::from_be_bytes([high, low])).ok_or(DecodeError::ZeroPacketId);
    Some(packet_id.map(|id| make(PubAck::new(id))))
}

/// Decodes one packet from the front of `buf` (see [`Codec::decode`]).
///
/// `version` is the connection's version if known; CONNECT ignores it because it carries
/// its own.
pub fn decode(
    buf: &mut BytesMut,
    version: Option<ProtocolVersion>,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some(h) = primitives::parse_fixed_header(buf)? else {
        return Ok(None);
    };
    let version = version.unwrap_or(ProtocolVersion::V3_1_1);
    let ptype = h.byte1 >> 4;
    let flags = h.byte1 & 0x0F;
    check_type_and_flags(ptype, flags, version)?;

    // Cannot overflow: remaining <= VBI_MAX and header_len <= 5.
    let total = h.header_len + h.remaining;
    if total as u64 > u64::from(max_packet_size) {
        return Err(DecodeError::PacketTooLarge { size: total as u64, max: max_packet_size });
    }
    if buf.len() < total {
        return Ok(None);
    }

    if let Some(ack) = short_ack(ptype, &buf[h.header_len..total]) {
        buf.advance(total);
        return ack.map(Some);
    }
    let mut whole = buf.split_to(total).freeze();
    let body = whole.split_off(h.header_len);
    let r = &mut Reader::new(&body);
    let packet = match ptype {
        ptype::CONNECT => Packet::Connect(Box::new(connect::decode_connect(r)?)),
        ptype::CONNACK => Packet::ConnAck(connect::decode_connack(r, version)?),
        ptype::PUBLISH => Packet::Publish(publish::decode(flags, r, version)?),
        ptype::PUBACK => Packet::PubAck(acks::decode_puback(r, version)?),
        ptype::PUBREC => Packet::PubRec(acks::decode_puback(r, version)?),
        ptype::PUBREL => Packet::PubRel(acks::decode_puback(r, version)?),
        ptype::PUBCOMP => Packet::PubComp(acks::decode_puback(r, version)?),
        ptype::SUBSCRIBE => Packet::Subscribe(subscribe::decode_subscribe(r, version)?),
        ptype::SUBACK => Packet::SubAck(acks::decode_suback(r, version)?),
        ptype::UNSUBSCRIBE => Packet::Unsubscribe(subscribe::decode_unsubscribe(r, version)?),
        ptype::UNSUBACK => Packet::UnsubAck(acks::decode_unsuback(r, version)?),
        ptype::PINGREQ => {
            r.finish()?;
            Packet::PingReq
        }
        ptype::PINGRESP => {
            r.finish()?;
            Packet::PingResp
        }
        ptype::DISCONNECT => Packet::Disconnect(disconnect_auth::decode_disconnect(r, version)?),
        ptype::AUTH => Packet::Auth(disconnect_auth::decode_auth(r)?),
        _ => return Err(DecodeError::InvalidPacketType(ptype)),
    };
    Ok(Some(packet))
}

/// §2.1.3: the flags nibble is fixed for every type but PUBLISH.
fn check_type_and_flags(ptype: u8, flags: u8, version: ProtocolVersion) -> Result<(), DecodeError> {
    let expected = match ptype {
        0 => return Err(DecodeError::InvalidPacketType(0)),
        ptype::AUTH if version != ProtocolVersion::V5 => return Err(DecodeError::InvalidPacketType(ptype)),
        // QoS 3 is checked with the body, where its own clause applies.
        ptype::PUBLISH => return Ok(()),
        ptype::PUBREL | ptype::SUBSCRIBE | ptype::UNSUBSCRIBE => 0b0010,
        _ => 0,
    };
    if flags == expected {
        Ok(())
    } else {
        Err(DecodeError::InvalidHeaderFlags)
    }
}

/// Appends `packet` encoded for `version` to `buf`. CONNECT is always encoded for its own
/// `version` field. On error nothing is appended.
pub fn encode(packet: &Packet, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
    encode_framed(packet, version, buf)
}

/// Appends a PUBLISH encoded for `version` to `buf` (see [`encode`]).
pub fn encode_publish(
    publish: &PublishRef<'_>,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    encode_framed(publish, version, buf)
}

/// Size in bytes of the whole encoded packet for `version` (fixed header included), without
/// encoding it — used to check a peer's Maximum Packet Size before sending.
///
/// For a packet that [`encode`] rejects the result is meaningless.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let mut counter = Counter::default();
    // An error only means the packet cannot be sent; the caller learns that from encode.
    let _ = packet.write_body(version, &mut counter);
    1 + primitives::vbi_len(counter.0) + counter.0
}

/// What can be framed: a first byte and a body.
trait Frame {
    fn first_byte(&self) -> u8;
    fn write_body<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<(), EncodeError>;
}

impl Frame for Packet {
    fn first_byte(&self) -> u8 {
        first_byte(self)
    }

    fn write_body<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
        write_body(self, version, s)
    }
}

impl Frame for PublishRef<'_> {
    fn first_byte(&self) -> u8 {
        (ptype::PUBLISH << 4) | publish::flags(self)
    }

    fn write_body<S: Sink>(&self, version: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
        publish::encode(self, version, s)
    }
}

/// The body is written twice: once to count its length for the fixed header, once for real.
fn encode_framed<F: Frame>(frame: &F, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let mut counter = Counter::default();
    frame.write_body(version, &mut counter)?;
    let body_len = counter.0;
    if body_len > VBI_MAX as usize {
        return Err(EncodeError::PacketTooLarge);
    }
    buf.reserve(1 + primitives::vbi_len(body_len) + body_len);
    BufMut::put_u8(buf, frame.first_byte());
    buf.put_vbi(body_len)?;
    frame.write_body(version, buf)
}

fn first_byte(packet: &Packet) -> u8 {
    let (t, flags) = match packet {
        Packet::Connect(_) => (ptype::CONNECT, 0),
        Packet::ConnAck(_) => (ptype::CONNACK, 0),
        Packet::Publish(p) => (ptype::PUBLISH, publish::flags(&p.view())),
        Packet::PubAck(_) => (ptype::PUBACK, 0),
        Packet::PubRec(_) => (ptype::PUBREC, 0),
        Packet::PubRel(_) => (ptype::PUBREL, 0b0010),
        Packet::PubComp(_) => (ptype::PUBCOMP, 0),
        Packet::Subscribe(_) => (ptype::SUBSCRIBE, 0b0010),
        Packet::SubAck(_) => (ptype::SUBACK, 0),
        Packet::Unsubscribe(_) => (ptype::UNSUBSCRIBE, 0b0010),
        Packet::UnsubAck(_) => (ptype::UNSUBACK, 0),
        Packet::PingReq => (ptype::PINGREQ, 0),
        Packet::PingResp => (ptype::PINGRESP, 0),
        Packet::Disconnect(_) => (ptype::DISCONNECT, 0),
        Packet::Auth(_) => (ptype::AUTH, 0),
    };
    (t << 4) | flags
}

fn write_body<S: Sink>(packet: &Packet, version: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    match packet {
        Packet::Connect(c) => connect::encode_connect(c, s),
        Packet::ConnAck(c) => connect::encode_connack(c, version, s),
        Packet::Publish(p) => publish::encode(&p.view(), version, s),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            acks::encode_puback(a, version, s)
        }
        Packet::Subscribe(sub) => subscribe::encode_subscribe(sub, version, s),
        Packet::SubAck(a) => acks::encode_suback(a, version, s),
        Packet::Unsubscribe(u) => subscribe::encode_unsubscribe(u, version, s),
        Packet::UnsubAck(a) => acks::encode_unsuback(a, version, s),
        Packet::PingReq | Packet::PingResp => Ok(()),
        Packet::Disconnect(d) => disconnect_auth::encode_disconnect(d, version, s),
        Packet::Auth(a) if version == ProtocolVersion::V5 => disconnect_auth::encode_auth(a, s),
        Packet::Auth(_) => Err(EncodeError::NotInVersion),
    }
}
