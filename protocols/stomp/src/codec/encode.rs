//! The encoder.

use bytes::{BufMut, BytesMut};

use super::escape::{escape_into, Escaping};
use super::{Frame, Version};

/// Appends `frame` to `out`, escaping headers as `version` requires (none for 1.0 and for
/// CONNECT/STOMP/CONNECTED). Any `content-length` in `frame.headers` is skipped; one is
/// written, first, whenever the body is not empty (so bodies with NULs always survive).
/// Characters a version cannot carry in a header are dropped (see `escape.rs`).
pub fn encode(frame: &Frame, version: Version, out: &mut BytesMut) {
    let escaping = Escaping::for_frame(version, frame.command.escapes_headers());
    let headers_len: usize = frame.headers.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    out.reserve(frame.command.as_str().len() + headers_len + frame.body.len() + 32);
    out.put_slice(frame.command.as_str().as_bytes());
    out.put_u8(b'\n');
    if !frame.body.is_empty() {
        out.put_slice(b"content-length:");
        out.put_slice(frame.body.len().to_string().as_bytes());
        out.put_u8(b'\n');
    }
    for (name, value) in &frame.headers {
        if name == "content-length" {
            continue;
        }
        escape_into(name, escaping, true, out);
        out.put_u8(b':');
        escape_into(value, escaping, false, out);
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.put_slice(&frame.body);
    out.put_u8(0);
}
