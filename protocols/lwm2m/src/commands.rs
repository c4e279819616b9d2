//! Device management and information reporting requests as CoAP messages (OMA LwM2M TS 1.1
//! Core §6.3/§6.4, §8.2.5/§8.2.6; EMQX's mapping, emqx-conventions §3.4), and decoding of
//! the device's responses by content format (§3.6).
//!
//! [`build_request`] returns a CON request with the caller's token and Message ID 0: hand it
//! to `gw_coap::transaction::Transactions::send_request`, which assigns the MID and matches
//! the response by token.

use bytes::Bytes;
use gw_coap::codec::{option, Code, Message, MessageType};

use crate::linkformat;
use crate::object_model::ObjectRegistry;
use crate::path::Path;
use crate::value::{Entry, Value};
use crate::{oma_json, senml, text, tlv};

/// Content-Format numbers (RFC 7252 §12.3, OMA LwM2M TS §7.4).
pub mod content_format {
    /// text/plain;charset=utf-8.
    pub const TEXT: u16 = 0;
    /// application/link-format.
    pub const LINK_FORMAT: u16 = 40;
    /// application/octet-stream.
    pub const OPAQUE: u16 = 42;
    /// application/cbor (LwM2M 1.1 single values).
    pub const CBOR: u16 = 60;
    /// application/senml+json.
    pub const SENML_JSON: u16 = 110;
    /// application/senml+cbor.
    pub const SENML_CBOR: u16 = 112;
    /// application/vnd.oma.lwm2m+tlv.
    pub const TLV: u16 = 11542;
    /// application/vnd.oma.lwm2m+json.
    pub const OMA_JSON: u16 = 11543;
}

/// A downlink operation on the device.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Read: GET.
    Read(Path),
    /// Discover: GET, Accept 40.
    Discover(Path),
    /// Write: PUT (replace) or POST (partial update, on an object instance), TLV payload.
    Write {
        /// Target path.
        path: Path,
        /// Values (paths at or below `path`).
        entries: Vec<Entry>,
        /// POST (partial update) instead of PUT.
        partial: bool,
    },
    /// Write-Attributes: PUT with `pmin`/`pmax`/`gt`/`lt`/`st` as Uri-Query, no payload.
    WriteAttributes {
        /// Target path.
        path: Path,
        /// Attributes in order (`name`, `value`).
        attributes: Vec<(String, String)>,
    },
    /// Execute: POST, text/plain arguments when non-empty.
    Execute {
        /// Resource path.
        path: Path,
        /// Arguments (TS Core §5.4.5 syntax, passed through).
        args: String,
    },
    /// Create: POST on an object, TLV payload.
    Create {
        /// Object (or object/instance) path.
        path: Path,
        /// Values.
        entries: Vec<Entry>,
    },
    /// Delete: DELETE.
    Delete(Path),
    /// Observe: GET Observe=0.
    Observe(Path),
    /// Cancel observation: GET Observe=1 (send it with the observe's token, RFC 7641 §3.6).
    CancelObserve(Path),
}

impl Operation {
    /// The target path.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read(p) | Self::Discover(p) | Self::Delete(p) | Self::Observe(p) | Self::CancelObserve(p) => p,
            Self::Write { path, .. }
            | Self::WriteAttributes { path, .. }
            | Self::Execute { path, .. }
            | Self::Create { path, .. } => path,
        }
    }
}

/// A request that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The payload cannot be encoded.
    #[error(transparent)]
    Tlv(#[from] tlv::TlvError),
    /// Token over 8 bytes (RFC 7252 §3).
    #[error("token longer than 8 bytes")]
    Token,
}

/// Builds the CON request for `op`. `alternate_path` (from the registration, `/` by
/// default) prefixes the Uri-Path (TS Core §6.2.1).
pub fn build_request(op: &Operation, alternate_path: &str, token: Bytes) -> Result<Message, CommandError> {
    if token.len() > 8 {
        return Err(CommandError::Token);
    }
    let code = match op {
        Operation::Read(_) | Operation::Discover(_) | Operation::Observe(_) | Operation::CancelObserve(_) => Code::GET,
        Operation::Write { partial: true, .. } | Operation::Execute { .. } | Operation::Create { .. } => Code::POST,
        Operation::Write { .. } | Operation::WriteAttributes { .. } => Code::PUT,
        Operation::Delete(_) => Code::DELETE,
    };
    let mut m = Message::new(MessageType::Confirmable, code, 0, token);
    for seg in alternate_path.split('/').filter(|s| !s.is_empty()) {
        m.add_option(option::URI_PATH, Bytes::from(seg.as_bytes().to_vec()));
    }
    for seg in op.path().segments() {
        m.add_option(option::URI_PATH, Bytes::from(seg.into_bytes()));
    }
    match op {
        Operation::Discover(_) => m.set_uint_option(option::ACCEPT, u32::from(content_format::LINK_FORMAT)),
        Operation::Observe(_) => m.set_uint_option(option::OBSERVE, 0),
        Operation::CancelObserve(_) => m.set_uint_option(option::OBSERVE, 1),
        Operation::Write { path, entries, .. } | Operation::Create { path, entries } => {
            m.set_uint_option(option::CONTENT_FORMAT, u32::from(content_format::TLV));
            m.payload = Bytes::from(tlv::encode_entries(entries, path)?);
        }
        Operation::WriteAttributes { attributes, .. } => {
            for (k, v) in attributes {
                m.add_option(option::URI_QUERY, Bytes::from(format!("{k}={v}").into_bytes()));
            }
        }
        Operation::Execute { args, .. } => {
            if !args.is_empty() {
                m.set_uint_option(option::CONTENT_FORMAT, u32::from(content_format::TEXT));
                m.payload = Bytes::from(args.clone().into_bytes());
            }
        }
        Operation::Read(_) | Operation::Delete(_) => {}
    }
    Ok(m)
}

/// A response payload, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// No payload.
    Empty,
    /// Values (read, observe, notify).
    Values(Vec<Entry>),
    /// Link-format entries rendered as strings (`"</3/0/1>"` plus attributes), discover.
    Links(Vec<String>),
}

/// A payload that cannot be decoded (EMQX reports it as `4.00 bad_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// Content format not supported.
    #[error("unsupported content format {0}")]
    Unsupported(u16),
    /// A single-value format on a path that is not a resource, or an undefined resource.
    #[error("no definition or not a single resource: {0}")]
    UnknownResource(String),
    /// TLV.
    #[error(transparent)]
    Tlv(#[from] tlv::TlvError),
    /// SenML.
    #[error(transparent)]
    Senml(#[from] senml::SenmlError),
    /// OMA JSON.
    #[error(transparent)]
    OmaJson(#[from] oma_json::OmaJsonError),
    /// Text.
    #[error(transparent)]
    Text(#[from] text::TextError),
    /// Link format.
    #[error(transparent)]
    Link(#[from] linkformat::LinkFormatError),
}

/// The Content-Format of a message, if present and well-formed.
pub fn content_format_of(msg: &Message) -> Option<u16> {
    msg.uint_option(option::CONTENT_FORMAT).ok().flatten().and_then(|v| u16::try_from(v).ok())
}

/// Decodes a response payload answering a request on `target`. Without a Content-Format a
/// payload is taken as text/plain (RFC 7252 §5.5.2 leaves it to the server; EMQX does so).
pub fn decode_content(
    format: Option<u16>,
    payload: &[u8],
    target: &Path,
    reg: &ObjectRegistry,
) -> Result<Content, ContentError> {
    if payload.is_empty() {
        return Ok(Content::Empty);
    }
    let single = |v: Value| Content::Values(vec![Entry::new(*target, v)]);
    Ok(match format.unwrap_or(content_format::TEXT) {
        content_format::TEXT => {
            let rtype = target
                .resource
                .and_then(|r| reg.resource(target.object, r))
                .map(|r| r.rtype)
                .ok_or_else(|| ContentError::UnknownResource(target.to_string()))?;
            single(text::decode(payload, rtype)?)
        }
        content_format::OPAQUE => single(text::decode_opaque(payload)),
        content_format::TLV => Content::Values(tlv::decode_entries(payload, target, reg)?),
        content_format::OMA_JSON => Content::Values(oma_json::decode(payload, target, Some(reg))?),
        content_format::SENML_JSON => Content::Values(senml::decode_json(payload, Some(reg))?),
        content_format::SENML_CBOR => Content::Values(senml::decode_cbor(payload, Some(reg))?),
        content_format::LINK_FORMAT => {
            let text = std::str::from_utf8(payload).map_err(|_| linkformat::LinkFormatError(0))?;
            let links = linkformat::parse(text)?;
            Content::Links(links.iter().map(|l| linkformat::to_string(std::slice::from_ref(l))).collect())
        }
        other => return Err(ContentError::Unsupported(other)),
    })
}

/// Decodes the payload of a response message answering a request on `target`.
pub fn decode_response(msg: &Message, target: &Path, reg: &ObjectRegistry) -> Result<Content, ContentError> {
    decode_content(content_format_of(msg), &msg.payload, target, reg)
}

/// EMQX's `codeMsg` for a response code (emqx-conventions §3.5).
pub fn code_message(code: Code) -> &'static str {
    match (code.class(), code.detail()) {
        (2, 1) => "created",
        (2, 2) => "deleted",
        (2, 3) => "valid",
        (2, 4) => "changed",
        (2, 5) => "content",
        (2, 31) => "continue",
        (4, 0) => "bad_request",
        (4, 1) => "unauthorized",
        (4, 2) => "bad_option",
        (4, 3) => "forbidden",
        (4, 4) => "not_found",
        (4, 5) => "method_not_allowed",
        (4, 6) => "not_acceptable",
        (4, 8) => "request_entity_incomplete",
        (4, 12) => "precondition_failed",
        (4, 13) => "request_entity_too_large",
        (4, 15) => "unsupported_content_format",
        (5, 0) => "internal_server_error",
        (5, 1) => "not_implemented",
        (5, 2) => "bad_gateway",
        (5, 3) => "service_unavailable",
        (5, 4) => "gateway_timeout",
        (5, 5) => "proxying_not_supported",
        _ => "unknown",
    }
}

/// `"2.05"`-style code string.
pub fn code_string(code: Code) -> String {
    format!("{}.{:02}", code.class(), code.detail())
}
