//! Header escaping (1.2 §"Value Encoding"; 1.1 has no `\r`; 1.0 has none).

use bytes::{BufMut, BytesMut};

use super::{DecodeError, Version};

/// How header text is encoded in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escaping {
    /// 1.0, and CONNECT / STOMP / CONNECTED frames in every version.
    None,
    /// 1.1: `\n`, `\c`, `\\`.
    V1_1,
    /// 1.2: `\r`, `\n`, `\c`, `\\`.
    V1_2,
}

impl Escaping {
    pub(crate) fn for_frame(version: Version, escapes_headers: bool) -> Self {
        match version {
            _ if !escapes_headers => Self::None,
            Version::V1_0 => Self::None,
            Version::V1_1 => Self::V1_1,
            Version::V1_2 => Self::V1_2,
        }
    }
}

/// Decodes one header name or value.
pub(crate) fn unescape(raw: &[u8], escaping: Escaping) -> Result<String, DecodeError> {
    if escaping == Escaping::None || !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).map(str::to_owned).map_err(|_| DecodeError::InvalidUtf8);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next() {
            Some(b'n') => b'\n',
            Some(b'c') => b':',
            Some(b'\\') => b'\\',
            Some(b'r') if escaping == Escaping::V1_2 => b'\r',
            _ => return Err(DecodeError::InvalidEscape),
        });
    }
    String::from_utf8(out).map_err(|_| DecodeError::InvalidUtf8)
}

/// Encodes one header name or value. Characters the escaping cannot carry are dropped
/// (they would break the framing): CR and LF when unescaped (and `:` in names), CR in 1.1.
pub(crate) fn escape_into(text: &str, escaping: Escaping, is_name: bool, out: &mut BytesMut) {
    for &b in text.as_bytes() {
        match (escaping, b) {
            (Escaping::None, b'\r' | b'\n') => {}
            (Escaping::None, b':') if is_name => {}
            (Escaping::None, _) => out.put_u8(b),
            (_, b'\n') => out.put_slice(b"\\n"),
            (_, b':') => out.put_slice(b"\\c"),
            (_, b'\\') => out.put_slice(b"\\\\"),
            (Escaping::V1_2, b'\r') => out.put_slice(b"\\r"),
            (Escaping::V1_1, b'\r') => {}
            (_, _) => out.put_u8(b),
        }
    }
}
