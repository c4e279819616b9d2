//! The server side of one STOMP connection as a sans-IO state machine, shaped like
//! quinn-proto (and like `gw-mqtt`'s channel).
//!
//! Inputs: [`Channel::handle_bytes`] / [`Channel::handle_frame`], [`Channel::handle_timeout`]
//! and the glue's answers ([`Channel::accept_connect`], [`Channel::reject_connect`],
//! [`Channel::send_message`], [`Channel::error`]). Outputs, drained by the caller:
//! [`Channel::poll_event`], [`Channel::take_transmit`] and [`Channel::poll_timeout`]. The
//! channel never reads the clock, spawns, awaits or does I/O, and knows nothing about the
//! bus: authentication, ACL, destination mapping and delivery belong to the glue.
//!
//! # Layout
//! - `mod.rs`: [`Channel`], [`Event`], [`CloseReason`], [`ChannelConfig`], dispatch, closing.
//! - `connect.rs`: CONNECT/STOMP, version negotiation, CONNECTED / rejection.
//! - `heartbeat.rs`: heart-beat negotiation and deadlines, idle timeout.
//! - `subscribe.rs`: SUBSCRIBE / UNSUBSCRIBE, MESSAGE, ACK / NACK and their expansion.
//! - `transaction.rs`: BEGIN / COMMIT / ABORT and the frames buffered in a transaction.
//! - `receipt.rs`: RECEIPT and ERROR frames.
//!
//! # Errors
//! Every protocol error, decode error or limit violation sends one ERROR frame (its
//! `message` header says what is wrong; `receipt-id` is set when the offending frame had a
//! `receipt`), then [`Event::Closed`]`(`[`CloseReason::Error`]`)` (1.2 §"ERROR": the server
//! MUST close after an ERROR). Bad input never panics.
//!
//! # Buffering while the CONNECT is being decided
//! After [`Event::Connect`] and until the glue answers, frames decoded meanwhile are queued
//! (at most [`MAX_PENDING`]; then `handle_bytes` leaves the rest in the caller's buffer, so
//! call it again after `accept_connect`) and replayed by `accept_connect`.

mod connect;
mod heartbeat;
mod receipt;
mod subscribe;
mod transaction;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::codec::{encode, Command, DecodeError, Decoded, Decoder, Frame, FrameLimits, Version};

use heartbeat::Heartbeat;
use subscribe::Subscriptions;
use transaction::Transactions;

pub use subscribe::{AckId, AckMode};

/// Most frames queued between CONNECT and the glue's answer (see the module docs).
pub const MAX_PENDING: usize = 128;

/// Per-listener settings, shared by every channel of the listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    /// Inbound frame limits.
    pub limits: FrameLimits,
    /// The CONNECTED `server` header (`name["/"version]`), e.g. `gateway/0.1`.
    pub server_name: String,
    /// `sx` of the CONNECTED `heart-beat`: the shortest interval (ms) between heart-beats
    /// the server guarantees; 0 = it sends none. The server sends every `max(sx, cy)`.
    pub heartbeat_send_ms: u32,
    /// `sy` of the CONNECTED `heart-beat`: the interval (ms) the server wishes to receive
    /// heart-beats at; 0 = it wants none. The client must send every `max(cx, sy)`.
    pub heartbeat_recv_ms: u32,
    /// Silence tolerated from the client, as a multiple of `max(cx, sy)`, before
    /// [`CloseReason::HeartbeatTimeout`] (EMQX tolerates 1.5–2×).
    pub heartbeat_timeout_factor: f32,
    /// Close (sending nothing) when no CONNECT arrives within this after [`Channel::new`].
    pub idle_timeout: Duration,
    /// Most simultaneous subscriptions per connection; more is an ERROR.
    pub max_subscriptions: usize,
    /// Most simultaneously open transactions per connection; more is an ERROR.
    pub max_transactions: usize,
    /// Most frames (SEND / ACK / NACK) buffered in one transaction; more is an ERROR.
    pub max_tx_frames: usize,
}

impl Default for ChannelConfig {
    /// EMQX's frame limits and idle timeout; heart-beats of at most one per second each way.
    fn default() -> Self {
        Self {
            limits: FrameLimits::default(),
            server_name: concat!("gateway/", env!("CARGO_PKG_VERSION")).to_owned(),
            heartbeat_send_ms: 1000,
            heartbeat_recv_ms: 1000,
            heartbeat_timeout_factor: 2.0,
            idle_timeout: Duration::from_secs(30),
            max_subscriptions: 1024,
            max_transactions: 64,
            max_tx_frames: 1024,
        }
    }
}

/// Something the glue must act on.
#[derive(Clone, PartialEq, Eq)]
pub enum Event {
    /// A CONNECT (or STOMP) frame with a supported version; answer with
    /// [`Channel::accept_connect`] or [`Channel::reject_connect`].
    Connect {
        /// The negotiated version (highest common one).
        version: Version,
        /// `login` header.
        login: Option<String>,
        /// `passcode` header (redacted in `Debug`).
        passcode: Option<String>,
        /// `host` header (virtual host).
        host: Option<String>,
        /// The client's `heart-beat: cx,cy` (0,0 when absent, and always for 1.0).
        heartbeat: (u32, u32),
        /// Every other header, first occurrence of each name only, without `passcode`.
        headers: Vec<(String, String)>,
    },
    /// A SEND, at once or, inside a transaction, at its COMMIT (an ABORT drops it).
    Send {
        /// `destination` header.
        destination: String,
        /// User headers: everything but `destination`, `content-length`, `transaction` and
        /// `receipt`, first occurrence of each name only, in wire order (`content-type`
        /// included).
        headers: Vec<(String, String)>,
        /// `content-type` header (also in `headers`).
        content_type: Option<String>,
        /// The body.
        body: Bytes,
    },
    /// A new subscription; the glue subscribes and answers nothing (refusal: [`Channel::error`]).
    Subscribe {
        /// Subscription id (1.0 without `id`: the destination).
        id: String,
        /// `destination` header.
        destination: String,
        /// Ack mode.
        ack: AckMode,
    },
    /// A subscription was removed (its unacknowledged messages are forgotten by the channel).
    Unsubscribe {
        /// Subscription id.
        id: String,
        /// The destination it was subscribed to.
        destination: String,
    },
    /// Messages acknowledged, oldest first (cumulative for `client` mode).
    Ack {
        /// Ids returned by [`Channel::send_message`].
        ack_ids: Vec<AckId>,
    },
    /// Messages refused, oldest first (cumulative for `client` mode, 1.2 §NACK).
    Nack {
        /// Ids returned by [`Channel::send_message`].
        ack_ids: Vec<AckId>,
    },
    /// The last event. Input is ignored afterwards; [`Channel::take_transmit`] may still
    /// hold a final RECEIPT or ERROR to flush before closing the socket.
    Closed(CloseReason),
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect { version, login, passcode, host, heartbeat, headers } => f
                .debug_struct("Connect")
                .field("version", version)
                .field("login", login)
                .field("passcode", &passcode.as_ref().map(|_| "<redacted>"))
                .field("host", host)
                .field("heartbeat", heartbeat)
                .field("headers", headers)
                .finish(),
            Self::Send { destination, headers, content_type, body } => f
                .debug_struct("Send")
                .field("destination", destination)
                .field("headers", headers)
                .field("content_type", content_type)
                .field("body_len", &body.len())
                .finish(),
            Self::Subscribe { id, destination, ack } => {
                f.debug_struct("Subscribe").field("id", id).field("destination", destination).field("ack", ack).finish()
            }
            Self::Unsubscribe { id, destination } => {
                f.debug_struct("Unsubscribe").field("id", id).field("destination", destination).finish()
            }
            Self::Ack { ack_ids } => f.debug_struct("Ack").field("ack_ids", ack_ids).finish(),
            Self::Nack { ack_ids } => f.debug_struct("Nack").field("ack_ids", ack_ids).finish(),
            Self::Closed(reason) => f.debug_tuple("Closed").field(reason).finish(),
        }
    }
}

/// Why the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT (RECEIPT sent if it asked for one). Open transactions
    /// were aborted.
    ClientDisconnect,
    /// A protocol error, a decode error, or [`Channel::error`]; an ERROR frame with this
    /// `message` was sent.
    Error {
        /// The ERROR frame's `message` header.
        message: String,
    },
    /// Nothing received for `max(cx, sy) × heartbeat_timeout_factor` (nothing sent).
    HeartbeatTimeout,
    /// No CONNECT within the idle timeout (nothing sent).
    IdleTimeout,
    /// [`Channel::reject_connect`] was called (ERROR sent).
    Rejected,
}

/// Why [`Channel::send_message`] did not write the MESSAGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Not accepted yet, or closed.
    #[error("channel not connected")]
    NotConnected,
    /// No subscription with that id (e.g. it was just removed): drop the message.
    #[error("unknown subscription")]
    UnknownSubscription,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but CONNECT / STOMP is acceptable.
    AwaitConnect,
    /// Event::Connect emitted; waiting for accept_connect / reject_connect.
    AwaitAccept,
    Connected,
    Closed,
}

/// The server side of one STOMP connection. See the module documentation.
#[derive(Debug)]
pub struct Channel {
    config: Arc<ChannelConfig>,
    decoder: Decoder,
    state: State,
    created: Instant,
    version: Option<Version>,
    /// The client's `heart-beat: cx,cy`.
    client_heartbeat: (u32, u32),
    events: VecDeque<Event>,
    tx: BytesMut,
    pending: VecDeque<Frame>,
    pending_error: Option<DecodeError>,
    heartbeat: Heartbeat,
    subscriptions: Subscriptions,
    transactions: Transactions,
}

impl Channel {
    /// A channel for a connection accepted at `now`; the idle timeout starts now.
    pub fn new(config: Arc<ChannelConfig>, now: Instant) -> Self {
        Self {
            decoder: Decoder::new(config.limits),
            config,
            state: State::AwaitConnect,
            created: now,
            version: None,
            client_heartbeat: (0, 0),
            events: VecDeque::new(),
            tx: BytesMut::new(),
            pending: VecDeque::new(),
            pending_error: None,
            heartbeat: Heartbeat::new(now),
            subscriptions: Subscriptions::default(),
            transactions: Transactions::default(),
        }
    }

    /// Decodes and handles every complete frame and heart-beat in `buf`, consuming them.
    /// Any byte received counts as traffic for the heart-beat. Stops after a close, after a
    /// decode error, and while [`MAX_PENDING`] frames wait for the answer to the CONNECT.
    pub fn handle_bytes(&mut self, now: Instant, buf: &mut BytesMut) {
        while self.handle_one(now, buf) {}
    }

    /// Decodes and handles at most one frame (or heart-beat) from the front of `buf`; returns
    /// whether one was consumed. Lets the glue stop between frames, e.g. to pause a publisher
    /// whose subscribers are behind.
    pub fn handle_one(&mut self, now: Instant, buf: &mut BytesMut) -> bool {
        if !buf.is_empty() && self.state != State::Closed {
            self.heartbeat.received(now);
        }
        match self.state {
            State::Closed => return false,
            State::AwaitAccept if self.pending.len() >= MAX_PENDING || self.pending_error.is_some() => return false,
            _ => {}
        }
        match self.decoder.decode(buf) {
            Ok(Some(Decoded::Frame(frame))) => {
                self.handle_frame(now, frame);
                true
            }
            Ok(Some(Decoded::Heartbeat)) => true,
            Ok(None) => false,
            Err(err) => {
                self.on_decode_error(err);
                false
            }
        }
    }

    /// Handles one decoded frame (counts as traffic).
    pub fn handle_frame(&mut self, now: Instant, frame: Frame) {
        match self.state {
            State::Closed => {}
            State::AwaitConnect => {
                self.heartbeat.received(now);
                match frame.command {
                    Command::Connect | Command::Stomp => self.on_connect(frame),
                    _ => {
                        let receipt = frame.header("receipt").map(str::to_owned);
                        self.fail("Not connected".to_owned(), receipt.as_deref());
                    }
                }
            }
            State::AwaitAccept => {
                self.heartbeat.received(now);
                if self.pending.len() >= MAX_PENDING {
                    self.fail(format!("more than {MAX_PENDING} frames sent before CONNECTED"), None);
                } else {
                    self.pending.push_back(frame);
                }
            }
            State::Connected => {
                self.heartbeat.received(now);
                self.on_frame(frame);
            }
        }
    }

    /// Heart-beat deadlines (send an EOL, or close on silence) and the idle timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::AwaitConnect => {
                if now >= self.created + self.config.idle_timeout {
                    self.close(CloseReason::IdleTimeout);
                }
            }
            State::Connected => {
                if self.heartbeat.timed_out(now) {
                    self.close(CloseReason::HeartbeatTimeout);
                } else if self.heartbeat.send_due(now) {
                    self.tx.extend_from_slice(b"\n");
                }
            }
            State::AwaitAccept | State::Closed => {}
        }
    }

    /// When [`Channel::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::AwaitConnect => Some(self.created + self.config.idle_timeout),
            State::Connected => self.heartbeat.poll_timeout(),
            State::AwaitAccept | State::Closed => None,
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves all encoded outgoing bytes into `out` (appending).
    pub fn take_transmit(&mut self, out: &mut BytesMut) {
        if self.tx.is_empty() {
            return;
        }
        if out.is_empty() {
            std::mem::swap(out, &mut self.tx);
        } else {
            out.extend_from_slice(&self.tx);
            self.tx.clear();
        }
    }

    /// Whether [`Channel::take_transmit`] would move any bytes.
    pub fn has_transmit(&self) -> bool {
        !self.tx.is_empty()
    }

    /// Whether the connection is over ([`Event::Closed`] was queued).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether [`Channel::accept_connect`] was called and the channel is not closed.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// The negotiated version, once a CONNECT was received.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Server-initiated close: ERROR with `message` (and `receipt-id` if given), then
    /// [`Event::Closed`]`(`[`CloseReason::Error`]`)`. For ACL denials, shutdown, takeover.
    pub fn error(&mut self, message: &str, receipt_id: Option<&str>) {
        self.fail(message.to_owned(), receipt_id);
    }

    // ----- internals shared by the submodules -----

    fn on_frame(&mut self, frame: Frame) {
        let receipt = frame.header("receipt").map(str::to_owned);
        let result = match frame.command {
            Command::Send => self.on_send(frame),
            Command::Subscribe => self.on_subscribe(&frame),
            Command::Unsubscribe => self.on_unsubscribe(&frame),
            Command::Ack => self.on_ack(&frame, false),
            Command::Nack => self.on_ack(&frame, true),
            Command::Begin => self.on_begin(&frame),
            Command::Commit => self.on_commit(&frame),
            Command::Abort => self.on_abort(&frame),
            Command::Disconnect => {
                if let Some(receipt) = &receipt {
                    self.send_receipt(receipt);
                }
                self.transactions.clear();
                self.close(CloseReason::ClientDisconnect);
                return;
            }
            Command::Connect | Command::Stomp => Err("Already connected".to_owned()),
            Command::Connected | Command::Message | Command::Receipt | Command::Error => {
                Err(format!("{} is a server frame", frame.command))
            }
        };
        match result {
            Ok(()) => {
                if let Some(receipt) = &receipt {
                    self.send_receipt(receipt);
                }
            }
            Err(message) => self.fail(message, receipt.as_deref()),
        }
    }

    fn on_decode_error(&mut self, err: DecodeError) {
        match self.state {
            State::Closed => {}
            // Handled in order once the CONNECT is decided.
            State::AwaitAccept => self.pending_error = Some(err),
            State::AwaitConnect | State::Connected => self.fail(format!("Frame error: {err}"), None),
        }
    }

    /// ERROR then close.
    fn fail(&mut self, message: String, receipt_id: Option<&str>) {
        if self.state == State::Closed {
            return;
        }
        self.send_error(&message, receipt_id);
        self.close(CloseReason::Error { message });
    }

    /// Queues the one and only [`Event::Closed`].
    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.pending.clear();
        self.pending_error = None;
        self.events.push_back(Event::Closed(reason));
    }

    /// Encodes a frame into the transmit buffer. Before negotiation (errors to a CONNECT),
    /// 1.0 rules: nothing escaped, which every client can read.
    fn send(&mut self, frame: &Frame) {
        encode(frame, self.version.unwrap_or(Version::V1_0), &mut self.tx);
    }

    /// The first value of `name`, or an error naming the missing header.
    fn required<'f>(frame: &'f Frame, name: &str) -> Result<&'f str, String> {
        frame.header(name).ok_or_else(|| Self::missing(frame, name))
    }

    fn missing(frame: &Frame, name: &str) -> String {
        format!("Missing {name} header in {}", frame.command)
    }
}

/// First occurrence of each header name, minus `skip` (1.2 §"Repeated Header Entries").
fn first_occurrences(headers: &[(String, String)], skip: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if skip.contains(&name.as_str()) || out.iter().any(|(n, _)| n == name) {
            continue;
        }
        out.push((name.clone(), value.clone()));
    }
    out
}
