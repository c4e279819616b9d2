//! Data types of §1.5 (integers, Variable Byte Integer, strings, binary data), the fixed
//! header of §2.1, and the two output sinks the encoder is generic over.

use std::num::NonZeroU16;

use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::Parser;

use super::{DecodeError, EncodeError, MqttString, QoS};

/// Largest value of a Variable Byte Integer (§1.5.5).
pub(crate) const VBI_MAX: u32 = 268_435_455;

type NomErr<'a> = nom::error::Error<&'a [u8]>;

/// A cursor over the body of one complete packet.
///
/// Parsing is done with nom's *complete* parsers: the fixed header already guaranteed the
/// whole packet is buffered, so running out of input here means the Remaining Length lied.
/// `whole` is kept so that strings and payloads can be sliced out of it without copying.
pub(crate) struct Reader<'a> {
    whole: &'a Bytes,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(whole: &'a Bytes) -> Self {
        Self { whole, rest: whole.as_ref() }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Fails unless every byte of the body was consumed.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (rest, v) = be_u8::<_, NomErr<'a>>(self.rest).map_err(|_| DecodeError::UnexpectedEnd)?;
        self.rest = rest;
        Ok(v)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let (rest, v) = be_u16::<_, NomErr<'a>>(self.rest).map_err(|_| DecodeError::UnexpectedEnd)?;
        self.rest = rest;
        Ok(v)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let (rest, v) = be_u32::<_, NomErr<'a>>(self.rest).map_err(|_| DecodeError::UnexpectedEnd)?;
        self.rest = rest;
        Ok(v)
    }

    pub(crate) fn packet_id(&mut self) -> Result<NonZeroU16, DecodeError> {
        NonZeroU16::new(self.u16()?).ok_or(DecodeError::ZeroPacketId)
    }

    /// Variable Byte Integer (§1.5.5).
    pub(crate) fn vbi(&mut self) -> Result<u32, DecodeError> {
        match parse_vbi(self.rest) {
            VbiParse::Done(v, used) => {
                self.rest = self.rest.get(used..).unwrap_or_default();
                Ok(v)
            }
            VbiParse::Incomplete => Err(DecodeError::UnexpectedEnd),
            VbiParse::TooLong => Err(DecodeError::VarIntTooLong),
        }
    }

    /// `n` raw bytes, shared with the packet buffer.
    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let (rest, taken) = nom::bytes::complete::take::<_, _, NomErr<'a>>(n)
            .parse(self.rest)
            .map_err(|_| DecodeError::UnexpectedEnd)?;
        self.rest = rest;
        Ok(self.whole.slice_ref(taken))
    }

    /// All bytes that are left (a PUBLISH payload).
    pub(crate) fn take_rest(&mut self) -> Bytes {
        let taken = self.whole.slice_ref(self.rest);
        self.rest = &[];
        taken
    }

    /// Binary Data (§1.5.6): two-byte length, then bytes.
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// UTF-8 Encoded String (§1.5.4).
    pub(crate) fn string(&mut self) -> Result<MqttString, DecodeError> {
        let raw = self.binary()?;
        // A zero byte can only be U+0000 in UTF-8, so a byte scan tells the two faults
        // apart and leaves a single UTF-8 validation to `from_bytes`.
        if raw.contains(&0) {
            return Err(DecodeError::NulInString);
        }
        MqttString::from_bytes(raw).ok_or(DecodeError::InvalidUtf8)
    }

    /// Splits off the next `n` bytes as their own reader (a property block), so that a
    /// property cannot read past the length its block announced.
    pub(crate) fn sub(&mut self, n: usize) -> Result<Self, DecodeError> {
        let (rest, taken) = nom::bytes::complete::take::<_, _, NomErr<'a>>(n)
            .parse(self.rest)
            .map_err(|_| DecodeError::PropertyLengthExceeded)?;
        self.rest = rest;
        Ok(Self { whole: self.whole, rest: taken })
    }
}

pub(crate) enum VbiParse {
    Done(u32, usize),
    Incomplete,
    TooLong,
}

/// Decodes a Variable Byte Integer from the front of `buf`, returning the value and the
/// number of bytes it used. Non-minimal encodings are accepted: rejecting them buys nothing
/// and some embedded clients pad the Remaining Length.
pub(crate) fn parse_vbi(buf: &[u8]) -> VbiParse {
    let mut value: u32 = 0;
    for (i, &b) in buf.iter().take(4).enumerate() {
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return VbiParse::Done(value, i + 1);
        }
    }
    if buf.len() >= 4 {
        VbiParse::TooLong
    } else {
        VbiParse::Incomplete
    }
}

/// Number of bytes the minimal Variable Byte Integer encoding of `v` takes.
pub(crate) fn vbi_len(v: usize) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Packet type numbers (§2.1.2).
pub(crate) mod ptype {
    pub(crate) const CONNECT: u8 = 1;
    pub(crate) const CONNACK: u8 = 2;
    pub(crate) const PUBLISH: u8 = 3;
    pub(crate) const PUBACK: u8 = 4;
    pub(crate) const PUBREC: u8 = 5;
    pub(crate) const PUBREL: u8 = 6;
    pub(crate) const PUBCOMP: u8 = 7;
    pub(crate) const SUBSCRIBE: u8 = 8;
    pub(crate) const SUBACK: u8 = 9;
    pub(crate) const UNSUBSCRIBE: u8 = 10;
    pub(crate) const UNSUBACK: u8 = 11;
    pub(crate) const PINGREQ: u8 = 12;
    pub(crate) const PINGRESP: u8 = 13;
    pub(crate) const DISCONNECT: u8 = 14;
    pub(crate) const AUTH: u8 = 15;
}

/// The parsed fixed header.
pub(crate) struct FixedHeader {
    /// First byte: type in the high nibble, flags in the low one.
    pub(crate) byte1: u8,
    /// Length of the fixed header itself (2..=5).
    pub(crate) header_len: usize,
    /// Remaining Length.
    pub(crate) remaining: usize,
}

/// Parses the fixed header at the front of `buf`; `Ok(None)` when it is not complete yet.
pub(crate) fn parse_fixed_header(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
    let Some((&byte1, rest)) = buf.split_first() else {
        return Ok(None);
    };
    match parse_vbi(rest) {
        VbiParse::Done(v, used) => Ok(Some(FixedHeader { byte1, header_len: 1 + used, remaining: v as usize })),
        VbiParse::Incomplete => Ok(None),
        VbiParse::TooLong => Err(DecodeError::VarIntTooLong),
    }
}

/// QoS from two bits; 3 is handed back as `None` so each caller picks its own error.
pub(crate) fn qos_bits(v: u8) -> Option<QoS> {
    QoS::from_u8(v & 0b11)
}

/// Where encoded bytes go: the real buffer, or a counter that only measures.
///
/// The encoder runs every packet through a [`Counter`] first to learn the Remaining Length
/// and Property Lengths that precede the fields they measure; one code path for both keeps
/// [`super::encoded_len`] exact by construction.
pub(crate) trait Sink {
    fn put_u8(&mut self, v: u8);
    fn put_slice(&mut self, s: &[u8]);

    fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }

    fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }

    fn put_vbi(&mut self, v: usize) -> Result<(), EncodeError> {
        if v > VBI_MAX as usize {
            return Err(EncodeError::PacketTooLarge);
        }
        let mut v = v;
        loop {
            // Truncation intended: the low seven bits.
            let mut b = (v & 0x7F) as u8;
            v >>= 7;
            if v > 0 {
                b |= 0x80;
            }
            self.put_u8(b);
            if v == 0 {
                return Ok(());
            }
        }
    }

    fn put_binary(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(b.len()).map_err(|_| EncodeError::FieldTooLong)?;
        self.put_u16(len);
        self.put_slice(b);
        Ok(())
    }

    fn put_string(&mut self, s: &MqttString) -> Result<(), EncodeError> {
        self.put_binary(s.as_bytes())
    }
}

impl Sink for BytesMut {
    fn put_u8(&mut self, v: u8) {
        BufMut::put_u8(self, v);
    }

    fn put_slice(&mut self, s: &[u8]) {
        self.extend_from_slice(s);
    }
}

/// A [`Sink`] that only counts.
#[derive(Default)]
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    fn put_u8(&mut self, _: u8) {
        self.0 = self.0.saturating_add(1);
    }

    fn put_slice(&mut self, s: &[u8]) {
        self.0 = self.0.saturating_add(s.len());
    }
}

/// Measures what `f` would write.
pub(crate) fn measure(f: impl FnOnce(&mut Counter) -> Result<(), EncodeError>) -> Result<usize, EncodeError> {
    let mut c = Counter::default();
    f(&mut c)?;
    Ok(c.0)
}
