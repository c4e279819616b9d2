//! Decode errors.

/// Why the bytes are not a STOMP frame. Fatal: the server answers with an ERROR frame whose
/// `message` is this error's `Display` and closes (1.2 §"Size Limits", §"Value Encoding").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The first line is not one of the 15 commands (case sensitive).
    #[error("unknown command (STOMP 1.2 §Augmented BNF)")]
    UnknownCommand,
    /// More header lines than allowed.
    #[error("too many headers (limit {max})")]
    TooManyHeaders {
        /// The limit in force.
        max: usize,
    },
    /// A header line (name, colon and value, without its EOL) is longer than allowed.
    #[error("header line too long (limit {max} bytes)")]
    HeaderTooLong {
        /// The limit in force.
        max: usize,
    },
    /// A header line without `:`.
    #[error("header line without ':' (STOMP 1.2 §Augmented BNF)")]
    MissingColon,
    /// A header line starting with `:`.
    #[error("empty header name (STOMP 1.2 §Augmented BNF)")]
    EmptyHeaderName,
    /// A `\` followed by anything but the escapes the version defines, or ending a header.
    #[error("undefined escape sequence in header (STOMP 1.2 §Value Encoding)")]
    InvalidEscape,
    /// A header name or value that is not UTF-8.
    #[error("header is not UTF-8 (STOMP 1.2 §Value Encoding)")]
    InvalidUtf8,
    /// `content-length` is not a decimal octet count.
    #[error("invalid content-length header (STOMP 1.2 §Header content-length)")]
    InvalidContentLength,
    /// The body (by `content-length`, or bytes seen without a NUL) is longer than allowed.
    #[error("body too large (limit {max} bytes)")]
    BodyTooLarge {
        /// The limit in force.
        max: usize,
    },
    /// Headers plus body are longer than allowed.
    #[error("frame too large (limit {max} bytes)")]
    FrameTooLarge {
        /// The limit in force.
        max: usize,
    },
    /// The `content-length` octets are not followed by the NULL octet.
    #[error("frame not terminated by NULL after content-length octets (STOMP 1.2 §Header content-length)")]
    MissingNull,
}
