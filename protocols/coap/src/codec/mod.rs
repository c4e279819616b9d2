//! Datagram ⇄ [`Message`] (RFC 7252 §3), on top of `coap-lite`'s `Packet::from_bytes` /
//! `Packet::to_bytes_unlimited`, with the checks coap-lite leaves out:
//!
//! - the version must be 1 (RFC 7252 §3: other versions are silently ignored; coap-lite
//!   accepts any version),
//! - a payload marker followed by a zero-length payload is a format error (§3; coap-lite
//!   accepts it),
//! - an Empty message (0.00) must be exactly 4 bytes (§4.1; coap-lite accepts token/options),
//! - on encode, the token must be 0..=8 bytes (coap-lite asserts on > 15 and silently writes
//!   9..=15) and an option value at most 65804 bytes (coap-lite silently truncates the length).
//!
//! One datagram is one message, so there is no `Ok(None)`: `decode(&[u8])` is complete.
//! The message model is our own ([`Message`], owned `Bytes`) so the channel, the transaction
//! layer and LwM2M never see coap-lite types.

mod block;
mod message;

use bytes::Bytes;
use coap_lite::{CoapOption, MessageClass, Packet};

pub use block::{size_to_szx, szx_to_size, BlockError, BlockValue};
pub use message::{decode_uint, encode_uint, option, Code, Message, MessageType, UintTooLong};

/// Largest option value length the option header can express (RFC 7252 §3.1: 65535 + 269).
pub const MAX_OPTION_LENGTH: usize = 65535 + 269;

/// What was wrong with a datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// Fewer than 4 bytes (RFC 7252 §3).
    #[error("shorter than the 4-byte header (RFC 7252 §3)")]
    TooShort,
    /// Version other than 1: silently ignored (RFC 7252 §3).
    #[error("unknown version {0} (RFC 7252 §3)")]
    Version(u8),
    /// TKL 9..=15 or token past the end (RFC 7252 §3).
    #[error("invalid token length (RFC 7252 §3)")]
    TokenLength,
    /// Option delta/length nibble 15 outside the payload marker, value past the end,
    /// or option number over 65535 (RFC 7252 §3.1).
    #[error("invalid option encoding (RFC 7252 §3.1)")]
    Option,
    /// Payload marker with nothing after it (RFC 7252 §3).
    #[error("payload marker followed by a zero-length payload (RFC 7252 §3)")]
    EmptyPayload,
    /// 0.00 with a token, options or payload (RFC 7252 §4.1).
    #[error("empty message with content (RFC 7252 §4.1)")]
    EmptyWithContent,
}

/// A datagram that is not a CoAP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    /// The reason.
    pub kind: DecodeErrorKind,
    /// The Message ID when the header parsed as a version-1 Confirmable message: such a
    /// message is rejected with a matching RST (RFC 7252 §4.2); anything else is dropped.
    pub reject_con: Option<u16>,
}

/// A message that cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Token longer than 8 bytes (RFC 7252 §3).
    #[error("token longer than 8 bytes (RFC 7252 §3)")]
    TokenLength,
    /// Option value longer than 65804 bytes (RFC 7252 §3.1).
    #[error("option {0} value too long (RFC 7252 §3.1)")]
    OptionLength(u16),
}

fn ext_len(x: usize) -> usize {
    if x < 13 {
        0
    } else if x < 269 {
        1
    } else {
        2
    }
}

/// Decodes one datagram. Never panics (see the proptest in `tests/vectors.rs` and the fuzz
/// target `coap_decode`).
pub fn decode(buf: &[u8]) -> Result<Message, DecodeError> {
    if buf.len() < 4 {
        return Err(DecodeError { kind: DecodeErrorKind::TooShort, reject_con: None });
    }
    let version = buf[0] >> 6;
    if version != 1 {
        return Err(DecodeError { kind: DecodeErrorKind::Version(version), reject_con: None });
    }
    let mtype = MessageType::from_bits(buf[0] >> 4);
    let message_id = u16::from_be_bytes([buf[2], buf[3]]);
    let fail = |kind| DecodeError { kind, reject_con: (mtype == MessageType::Confirmable).then_some(message_id) };
    let tkl = usize::from(buf[0] & 0x0f);
    if buf[1] == 0 && (tkl != 0 || buf.len() > 4) {
        return Err(fail(DecodeErrorKind::EmptyWithContent));
    }
    if tkl > 8 || 4 + tkl > buf.len() {
        return Err(fail(DecodeErrorKind::TokenLength));
    }
    let packet = Packet::from_bytes(buf).map_err(|e| {
        fail(match e {
            coap_lite::error::MessageError::InvalidTokenLength => DecodeErrorKind::TokenLength,
            coap_lite::error::MessageError::InvalidPacketLength | coap_lite::error::MessageError::InvalidHeader => {
                DecodeErrorKind::TooShort
            }
            _ => DecodeErrorKind::Option,
        })
    })?;
    let mut options = Vec::new();
    let mut wire_len = 4 + tkl;
    let mut last = 0u16;
    for (number, values) in packet.options() {
        for value in values {
            wire_len += 1 + ext_len(usize::from(number - last)) + ext_len(value.len()) + value.len();
            last = *number;
            options.push((*number, Bytes::copy_from_slice(value)));
        }
    }
    if packet.payload.is_empty() && buf.len() > wire_len {
        return Err(fail(DecodeErrorKind::EmptyPayload));
    }
    Ok(Message {
        mtype,
        code: Code(buf[1]),
        message_id,
        token: Bytes::copy_from_slice(packet.get_token()),
        options,
        payload: Bytes::from(packet.payload),
    })
}

fn coap_type(t: MessageType) -> coap_lite::MessageType {
    match t {
        MessageType::Confirmable => coap_lite::MessageType::Confirmable,
        MessageType::NonConfirmable => coap_lite::MessageType::NonConfirmable,
        MessageType::Acknowledgement => coap_lite::MessageType::Acknowledgement,
        MessageType::Reset => coap_lite::MessageType::Reset,
    }
}

/// Encodes one message. An Empty (0.00) message is written without token, options or payload.
pub fn encode(msg: &Message) -> Result<Bytes, EncodeError> {
    if msg.token.len() > 8 {
        return Err(EncodeError::TokenLength);
    }
    let mut packet = Packet::new();
    packet.header.set_version(1);
    packet.header.set_type(coap_type(msg.mtype));
    packet.header.code = MessageClass::from(msg.code.0);
    packet.header.message_id = msg.message_id;
    if msg.code.is_empty() {
        return packet.to_bytes_unlimited().map(Bytes::from).map_err(|_| EncodeError::TokenLength);
    }
    packet.set_token(msg.token.to_vec());
    let mut sorted: Vec<&(u16, Bytes)> = msg.options.iter().collect();
    sorted.sort_by_key(|(n, _)| *n); // stable: repeats keep their order
    for (number, value) in sorted {
        if value.len() > MAX_OPTION_LENGTH {
            return Err(EncodeError::OptionLength(*number));
        }
        packet.add_option(CoapOption::from(*number), value.to_vec());
    }
    packet.payload = msg.payload.to_vec();
    packet.to_bytes_unlimited().map(Bytes::from).map_err(|_| EncodeError::TokenLength)
}
