//! The message model (RFC 7252 §3): what the rest of the crate works with. Owned `Bytes`, options
//! kept in wire order (sorted by number, repeats in arrival order).

use bytes::Bytes;

/// Message type (RFC 7252 §3, `T` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// 0: Confirmable.
    Confirmable,
    /// 1: Non-confirmable.
    NonConfirmable,
    /// 2: Acknowledgement.
    Acknowledgement,
    /// 3: Reset.
    Reset,
}

impl MessageType {
    /// From the 2-bit wire value.
    pub fn from_bits(bits: u8) -> Self {
        match bits & 0x3 {
            0 => Self::Confirmable,
            1 => Self::NonConfirmable,
            2 => Self::Acknowledgement,
            _ => Self::Reset,
        }
    }

    /// The 2-bit wire value.
    pub fn bits(self) -> u8 {
        match self {
            Self::Confirmable => 0,
            Self::NonConfirmable => 1,
            Self::Acknowledgement => 2,
            Self::Reset => 3,
        }
    }
}

/// A message code `c.dd` (RFC 7252 §3, §12.1): 3-bit class, 5-bit detail.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u8);

impl Code {
    /// 0.00 Empty.
    pub const EMPTY: Self = Self(0x00);
    /// 0.01 GET.
    pub const GET: Self = Self(0x01);
    /// 0.02 POST.
    pub const POST: Self = Self(0x02);
    /// 0.03 PUT.
    pub const PUT: Self = Self(0x03);
    /// 0.04 DELETE.
    pub const DELETE: Self = Self(0x04);
    /// 2.01 Created.
    pub const CREATED: Self = Self::new(2, 1);
    /// 2.02 Deleted.
    pub const DELETED: Self = Self::new(2, 2);
    /// 2.03 Valid.
    pub const VALID: Self = Self::new(2, 3);
    /// 2.04 Changed.
    pub const CHANGED: Self = Self::new(2, 4);
    /// 2.05 Content.
    pub const CONTENT: Self = Self::new(2, 5);
    /// 2.07, EMQX's non-standard "nocontent" answer to an unsubscribe.
    pub const EMQX_NO_CONTENT: Self = Self::new(2, 7);
    /// 2.31 Continue (RFC 7959 §2.9.1).
    pub const CONTINUE: Self = Self::new(2, 31);
    /// 4.00 Bad Request.
    pub const BAD_REQUEST: Self = Self::new(4, 0);
    /// 4.01 Unauthorized.
    pub const UNAUTHORIZED: Self = Self::new(4, 1);
    /// 4.02 Bad Option.
    pub const BAD_OPTION: Self = Self::new(4, 2);
    /// 4.03 Forbidden.
    pub const FORBIDDEN: Self = Self::new(4, 3);
    /// 4.04 Not Found.
    pub const NOT_FOUND: Self = Self::new(4, 4);
    /// 4.05 Method Not Allowed.
    pub const METHOD_NOT_ALLOWED: Self = Self::new(4, 5);
    /// 4.06 Not Acceptable.
    pub const NOT_ACCEPTABLE: Self = Self::new(4, 6);
    /// 4.08 Request Entity Incomplete (RFC 7959 §2.9.2).
    pub const REQUEST_ENTITY_INCOMPLETE: Self = Self::new(4, 8);
    /// 4.12 Precondition Failed.
    pub const PRECONDITION_FAILED: Self = Self::new(4, 12);
    /// 4.13 Request Entity Too Large.
    pub const REQUEST_ENTITY_TOO_LARGE: Self = Self::new(4, 13);
    /// 4.15 Unsupported Content-Format.
    pub const UNSUPPORTED_CONTENT_FORMAT: Self = Self::new(4, 15);
    /// 5.00 Internal Server Error.
    pub const INTERNAL_SERVER_ERROR: Self = Self::new(5, 0);
    /// 5.01 Not Implemented.
    pub const NOT_IMPLEMENTED: Self = Self::new(5, 1);
    /// 5.03 Service Unavailable.
    pub const SERVICE_UNAVAILABLE: Self = Self::new(5, 3);

    /// `class.detail`; class is truncated to 3 bits and detail to 5.
    pub const fn new(class: u8, detail: u8) -> Self {
        Self(((class & 0x7) << 5) | (detail & 0x1f))
    }

    /// The class (0 request, 2 success, 4 client error, 5 server error).
    pub fn class(self) -> u8 {
        self.0 >> 5
    }

    /// The detail.
    pub fn detail(self) -> u8 {
        self.0 & 0x1f
    }

    /// 0.00.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// A request method code (class 0, detail 1..=31).
    pub fn is_request(self) -> bool {
        self.class() == 0 && self.detail() != 0
    }

    /// A response code (class 2..=5).
    pub fn is_response(self) -> bool {
        (2..=5).contains(&self.class())
    }

    /// Class 2.
    pub fn is_success(self) -> bool {
        self.class() == 2
    }
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.class(), self.detail())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// Option numbers used by this crate (RFC 7252 §5.10, RFC 7641 §2, RFC 7959 §2.1, §4).
pub mod option {
    /// If-Match (critical).
    pub const IF_MATCH: u16 = 1;
    /// Uri-Host (critical).
    pub const URI_HOST: u16 = 3;
    /// ETag (elective).
    pub const ETAG: u16 = 4;
    /// If-None-Match (critical).
    pub const IF_NONE_MATCH: u16 = 5;
    /// Observe (elective, RFC 7641).
    pub const OBSERVE: u16 = 6;
    /// Uri-Port (critical).
    pub const URI_PORT: u16 = 7;
    /// Location-Path.
    pub const LOCATION_PATH: u16 = 8;
    /// Uri-Path (critical).
    pub const URI_PATH: u16 = 11;
    /// Content-Format.
    pub const CONTENT_FORMAT: u16 = 12;
    /// Max-Age.
    pub const MAX_AGE: u16 = 14;
    /// Uri-Query (critical).
    pub const URI_QUERY: u16 = 15;
    /// Accept (critical).
    pub const ACCEPT: u16 = 17;
    /// Location-Query.
    pub const LOCATION_QUERY: u16 = 20;
    /// Block2 (critical, RFC 7959).
    pub const BLOCK2: u16 = 23;
    /// Block1 (critical, RFC 7959).
    pub const BLOCK1: u16 = 27;
    /// Size2 (RFC 7959).
    pub const SIZE2: u16 = 28;
    /// Proxy-Uri (critical).
    pub const PROXY_URI: u16 = 35;
    /// Proxy-Scheme (critical).
    pub const PROXY_SCHEME: u16 = 39;
    /// Size1 (RFC 7959 §4).
    pub const SIZE1: u16 = 60;

    /// Odd option numbers are critical (RFC 7252 §5.4.6).
    pub fn is_critical(number: u16) -> bool {
        number & 1 == 1
    }
}

/// A CoAP message (RFC 7252 §3). The version is always 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// CON / NON / ACK / RST.
    pub mtype: MessageType,
    /// Method or response code.
    pub code: Code,
    /// Message ID (for deduplication and ACK/RST matching).
    pub message_id: u16,
    /// Token, 0..=8 bytes (request/response matching).
    pub token: Bytes,
    /// Options sorted by number; repeated options keep their order.
    pub options: Vec<(u16, Bytes)>,
    /// Payload (empty = no payload marker on the wire).
    pub payload: Bytes,
}

impl Message {
    /// A message without options or payload.
    pub fn new(mtype: MessageType, code: Code, message_id: u16, token: Bytes) -> Self {
        Self { mtype, code, message_id, token, options: Vec::new(), payload: Bytes::new() }
    }

    /// An Empty ACK (RFC 7252 §4.2) for `message_id`.
    pub fn empty_ack(message_id: u16) -> Self {
        Self::new(MessageType::Acknowledgement, Code::EMPTY, message_id, Bytes::new())
    }

    /// An RST for `message_id` (RFC 7252 §4.2, §4.3).
    pub fn reset(message_id: u16) -> Self {
        Self::new(MessageType::Reset, Code::EMPTY, message_id, Bytes::new())
    }

    /// The first value of option `number`.
    pub fn option(&self, number: u16) -> Option<&Bytes> {
        self.options.iter().find(|(n, _)| *n == number).map(|(_, v)| v)
    }

    /// Every value of option `number`, in order.
    pub fn options_of(&self, number: u16) -> impl Iterator<Item = &Bytes> {
        self.options.iter().filter(move |(n, _)| *n == number).map(|(_, v)| v)
    }

    /// Adds an option value after any existing values of the same number.
    pub fn add_option(&mut self, number: u16, value: impl Into<Bytes>) {
        let at = self.options.iter().position(|(n, _)| *n > number).unwrap_or(self.options.len());
        self.options.insert(at, (number, value.into()));
    }

    /// Replaces every value of option `number` by one value.
    pub fn set_option(&mut self, number: u16, value: impl Into<Bytes>) {
        self.remove_option(number);
        self.add_option(number, value);
    }

    /// Removes every value of option `number`.
    pub fn remove_option(&mut self, number: u16) {
        self.options.retain(|(n, _)| *n != number);
    }

    /// Sets a `uint` option (RFC 7252 §3.2: minimal big-endian, 0 = empty).
    pub fn set_uint_option(&mut self, number: u16, value: u32) {
        self.set_option(number, encode_uint(value));
    }

    /// Reads a `uint` option of at most 4 bytes; `Err` if longer.
    pub fn uint_option(&self, number: u16) -> Result<Option<u32>, UintTooLong> {
        match self.option(number) {
            None => Ok(None),
            Some(v) => decode_uint(v).map(Some),
        }
    }
}

/// Minimal big-endian `uint` encoding (RFC 7252 §3.2).
pub fn encode_uint(value: u32) -> Bytes {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    Bytes::copy_from_slice(&bytes[skip..])
}

/// Big-endian `uint` of 0..=4 bytes (leading zeros tolerated, RFC 7252 §3.2).
pub fn decode_uint(value: &[u8]) -> Result<u32, UintTooLong> {
    if value.len() > 4 {
        return Err(UintTooLong);
    }
    Ok(value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// A `uint` option value longer than 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("uint option longer than 4 bytes")]
pub struct UintTooLong;
