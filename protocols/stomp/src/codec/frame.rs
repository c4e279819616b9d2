//! The frame model.

use bytes::Bytes;

/// A STOMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// STOMP 1.0: no header escaping, no heart-beats, no NACK.
    V1_0,
    /// STOMP 1.1: escaping of `\n`, `\c`, `\\`; heart-beats; ACK by `message-id` + `subscription`.
    V1_1,
    /// STOMP 1.2: adds `\r` escaping, CR LF line endings, ACK by `id`.
    V1_2,
}

impl Version {
    /// Every version this crate speaks, lowest first.
    pub const ALL: [Self; 3] = [Self::V1_0, Self::V1_1, Self::V1_2];

    /// The wire form (`"1.2"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
            Self::V1_2 => "1.2",
        }
    }

    /// Parses the wire form; `None` for anything else (`"2.0"`, `" 1.2"`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1.0" => Some(Self::V1_0),
            "1.1" => Some(Self::V1_1),
            "1.2" => Some(Self::V1_2),
            _ => None,
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame command (§"Augmented BNF": client-command | server-command). Case sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Client: open the session.
    Connect,
    /// Client: same as CONNECT (1.2 §"CONNECT or STOMP Frame").
    Stomp,
    /// Server: the session is open.
    Connected,
    /// Client: publish a message.
    Send,
    /// Client: subscribe to a destination.
    Subscribe,
    /// Client: remove a subscription.
    Unsubscribe,
    /// Client: acknowledge a message.
    Ack,
    /// Client: refuse a message (1.1+).
    Nack,
    /// Client: start a transaction.
    Begin,
    /// Client: commit a transaction.
    Commit,
    /// Client: roll back a transaction.
    Abort,
    /// Client: graceful close.
    Disconnect,
    /// Server: a message for a subscription.
    Message,
    /// Server: a client frame with `receipt` was processed.
    Receipt,
    /// Server: something went wrong; the connection closes after it.
    Error,
}

impl Command {
    /// Every command.
    pub const ALL: [Self; 15] = [
        Self::Connect,
        Self::Stomp,
        Self::Connected,
        Self::Send,
        Self::Subscribe,
        Self::Unsubscribe,
        Self::Ack,
        Self::Nack,
        Self::Begin,
        Self::Commit,
        Self::Abort,
        Self::Disconnect,
        Self::Message,
        Self::Receipt,
        Self::Error,
    ];

    /// Length of the longest command (`UNSUBSCRIBE`).
    pub const MAX_LEN: usize = 11;

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Stomp => "STOMP",
            Self::Connected => "CONNECTED",
            Self::Send => "SEND",
            Self::Subscribe => "SUBSCRIBE",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::Ack => "ACK",
            Self::Nack => "NACK",
            Self::Begin => "BEGIN",
            Self::Commit => "COMMIT",
            Self::Abort => "ABORT",
            Self::Disconnect => "DISCONNECT",
            Self::Message => "MESSAGE",
            Self::Receipt => "RECEIPT",
            Self::Error => "ERROR",
        }
    }

    /// Parses the wire form (exact, case sensitive).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str().as_bytes() == b)
    }

    /// Whether header names and values of this command are escaped (§"Value Encoding":
    /// all frames but CONNECT and CONNECTED; STOMP treated as CONNECT, see the module docs).
    pub fn escapes_headers(self) -> bool {
        !matches!(self, Self::Connect | Self::Stomp | Self::Connected)
    }

    /// Whether a client may send it.
    pub fn is_client_command(self) -> bool {
        !matches!(self, Self::Connected | Self::Message | Self::Receipt | Self::Error)
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One frame. Headers are unescaped and kept in wire order, repeats included; use
/// [`Frame::header`] to read one (the first occurrence wins, 1.2 §"Repeated Header Entries").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The command.
    pub command: Command,
    /// `(name, value)` pairs in wire order. A decoded frame keeps its `content-length`;
    /// [`encode`](super::encode) ignores any given one and writes its own.
    pub headers: Vec<(String, String)>,
    /// The body (may contain NULs when sent with `content-length`).
    pub body: Bytes,
}

impl Frame {
    /// A frame with no headers and no body.
    pub fn new(command: Command) -> Self {
        Self { command, headers: Vec::new(), body: Bytes::new() }
    }

    /// Appends a header (builder style).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (builder style).
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Appends a header.
    pub fn push_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// One result of [`Decoder::decode`](super::Decoder::decode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A complete frame.
    Frame(Frame),
    /// One EOL (`\n` or `\r\n`) between frames: a heart-beat, or the optional EOLs after a
    /// frame's NUL. Either way it is traffic from the peer.
    Heartbeat,
}
