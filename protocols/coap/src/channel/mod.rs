//! The server side of one UDP peer speaking EMQX's CoAP scheme (emqx-conventions §2), as a
//! sans-IO state machine: feed it datagrams, time and the glue's answers; drain events,
//! datagrams and the next deadline. It knows nothing of the bus.
//!
//! - `requests`: Uri-Path/Uri-Query → route and parameters.
//! - `observe`: relations, Observe sequence numbers, the CON notification queue.
//! - `block`: Block1 reassembly and Block2 representations (reusable).
//! - this file: dispatch, connection mode, responses, timers. The message layer is
//!   [`crate::transaction::Transactions`].

pub mod block;
mod observe;
mod requests;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use self::block::{Block1Assembler, Block1Outcome, Block2Store};
use self::observe::Observers;
use self::requests::{Query, Route};
use crate::codec::{decode, encode_uint, option, size_to_szx, BlockValue, Code, Message, MessageType};
use crate::transaction::{Received, TransactionEvent, Transactions, TransmissionParams};

/// How notifications are sent (`gateway.coap.notify_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyType {
    /// Always NON.
    Non,
    /// Always CON.
    Con,
    /// QoS 0 → NON, QoS 1/2 → CON.
    Qos,
}

impl NotifyType {
    /// Whether a message delivered at `qos` goes out as a CON notification.
    pub fn confirmable(self, qos: u8) -> bool {
        match self {
            Self::Non => false,
            Self::Con => true,
            Self::Qos => qos > 0,
        }
    }
}

/// QoS of a publish/subscribe without a `qos` query (`gateway.coap.{publish,subscribe}_qos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosRule {
    /// 0.
    Qos0,
    /// 1.
    Qos1,
    /// 2.
    Qos2,
    /// NON request → 0, CON request → 1.
    Coap,
}

impl QosRule {
    /// The QoS for a request of this type.
    pub fn qos(self, confirmable: bool) -> u8 {
        match self {
            Self::Qos0 => 0,
            Self::Qos1 => 1,
            Self::Qos2 => 2,
            Self::Coap => u8::from(confirmable),
        }
    }
}

/// Channel configuration (shared by every channel of a listener).
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    /// Connection mode (`connection_required`).
    pub connection_required: bool,
    /// Connection-mode keepalive; the channel closes after 1.5 × this without traffic.
    pub heartbeat: Duration,
    /// Notification message type (used by the glue through [`NotifyType::confirmable`]).
    pub notify_type: NotifyType,
    /// Publish QoS without a `qos` query.
    pub publish_qos: QosRule,
    /// Subscribe QoS without a `qos` query.
    pub subscribe_qos: QosRule,
    /// Largest block we send (16..=1024).
    pub max_block_size: u16,
    /// Largest request body (Block1 or not) → 4.13 beyond.
    pub max_body_size: usize,
    /// Block-wise transfers; when off, Block1/Block2 are unrecognized critical options (4.02).
    pub blockwise: bool,
    /// Without a connection and without observe relations, close after this long without a
    /// valid datagram.
    pub idle_timeout: Duration,
    /// CON notifications waiting for the in-flight ones (drop oldest beyond).
    pub max_observe_queue: usize,
    /// Unacknowledged CON notifications at once.
    pub max_pending_con_notifications: usize,
    /// RFC 7252 §4.8 parameters (not in the brief's list; defaults are the RFC's).
    pub transmission: TransmissionParams,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            connection_required: false,
            heartbeat: Duration::from_secs(30),
            notify_type: NotifyType::Qos,
            publish_qos: QosRule::Coap,
            subscribe_qos: QosRule::Coap,
            max_block_size: 1024,
            max_body_size: 4 * 1024 * 1024,
            blockwise: true,
            idle_timeout: Duration::from_secs(30),
            max_observe_queue: 100,
            max_pending_con_notifications: 1,
            transmission: TransmissionParams::default(),
        }
    }
}

/// Identifies one request awaiting the glue's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// Identifies one observe relation (one per topic filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionKey(pub u64);

/// Response codes the glue answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseCode {
    /// 2.01.
    Created,
    /// 2.02.
    Deleted,
    /// 2.03.
    Valid,
    /// 2.04.
    Changed,
    /// 2.05.
    Content,
    /// 2.07, EMQX's non-standard unsubscribe answer.
    EmqxNoContent,
    /// 4.00.
    BadRequest,
    /// 4.01.
    Unauthorized,
    /// 4.02.
    BadOption,
    /// 4.03.
    Forbidden,
    /// 4.04.
    NotFound,
    /// 4.05.
    MethodNotAllowed,
    /// 4.06.
    NotAcceptable,
    /// 4.08.
    RequestEntityIncomplete,
    /// 4.12.
    PreconditionFailed,
    /// 4.13.
    RequestEntityTooLarge,
    /// 4.15.
    UnsupportedContentFormat,
    /// 5.00.
    InternalServerError,
    /// 5.01.
    NotImplemented,
    /// 5.03.
    ServiceUnavailable,
    /// Any other code.
    Other(Code),
}

impl ResponseCode {
    /// The wire code.
    pub fn code(self) -> Code {
        match self {
            Self::Created => Code::CREATED,
            Self::Deleted => Code::DELETED,
            Self::Valid => Code::VALID,
            Self::Changed => Code::CHANGED,
            Self::Content => Code::CONTENT,
            Self::EmqxNoContent => Code::EMQX_NO_CONTENT,
            Self::BadRequest => Code::BAD_REQUEST,
            Self::Unauthorized => Code::UNAUTHORIZED,
            Self::BadOption => Code::BAD_OPTION,
            Self::Forbidden => Code::FORBIDDEN,
            Self::NotFound => Code::NOT_FOUND,
            Self::MethodNotAllowed => Code::METHOD_NOT_ALLOWED,
            Self::NotAcceptable => Code::NOT_ACCEPTABLE,
            Self::RequestEntityIncomplete => Code::REQUEST_ENTITY_INCOMPLETE,
            Self::PreconditionFailed => Code::PRECONDITION_FAILED,
            Self::RequestEntityTooLarge => Code::REQUEST_ENTITY_TOO_LARGE,
            Self::UnsupportedContentFormat => Code::UNSUPPORTED_CONTENT_FORMAT,
            Self::InternalServerError => Code::INTERNAL_SERVER_ERROR,
            Self::NotImplemented => Code::NOT_IMPLEMENTED,
            Self::ServiceUnavailable => Code::SERVICE_UNAVAILABLE,
            Self::Other(c) => c,
        }
    }
}

/// Why a channel closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// DELETE `/mqtt/connection` answered with a 2.xx.
    Disconnected,
    /// Connection mode: no traffic for 1.5 × heartbeat.
    HeartbeatTimeout,
    /// No connection, no observe relation, no traffic for `idle_timeout`.
    IdleTimeout,
}

/// What the channel tells the glue.
#[derive(Clone, PartialEq, Eq)]
pub enum Event {
    /// POST `/mqtt/connection`: authenticate, then [`Channel::respond_connected`] or
    /// [`Channel::respond`] with 4.00/4.01.
    Connect {
        /// Answer with this.
        request: RequestId,
        /// `clientid` / `c`.
        client_id: String,
        /// `username` / `u`.
        username: Option<String>,
        /// `password` / `p` (redacted in `Debug`).
        password: Option<String>,
    },
    /// PUT `/mqtt/connection` with a valid token: answer 2.04.
    Heartbeat {
        /// Answer with this.
        request: RequestId,
    },
    /// DELETE `/mqtt/connection` with a valid token: answer 2.02, then the channel closes.
    Disconnect {
        /// Answer with this.
        request: RequestId,
    },
    /// POST/PUT `/ps/{topic}`: answer 2.04 (or 4.01 / 4.00).
    Publish {
        /// Answer with this.
        request: RequestId,
        /// Percent-decoded Uri-Path after `ps`, joined with `/`.
        topic: String,
        /// Whole body (Block1 reassembled).
        payload: Bytes,
        /// `qos` query or the `publish_qos` rule.
        qos: u8,
        /// `retain` query is literally `true`.
        retain: bool,
        /// `expiry` seconds.
        expiry: Option<u32>,
        /// `clientid` query, else the connection's client id.
        client_id: Option<String>,
        /// `username` (connectionless auth).
        username: Option<String>,
        /// `password` (connectionless auth; redacted in `Debug`).
        password: Option<String>,
    },
    /// GET `/ps/{filter}` Observe=0: answer 2.05 (the channel adds Observe) or 4.01.
    Subscribe {
        /// Answer with this.
        request: RequestId,
        /// The relation; pass it to [`Channel::notify`].
        subscription: SubscriptionKey,
        /// Topic filter.
        filter: String,
        /// `qos` query or the `subscribe_qos` rule.
        qos: u8,
        /// `nl` query is `1` / `true`.
        no_local: bool,
        /// `rh` query (default 1, emqx-conventions §2.5).
        retain_handling: u8,
        /// `clientid` query, else the connection's client id.
        client_id: Option<String>,
        /// `username`.
        username: Option<String>,
        /// `password` (redacted in `Debug`).
        password: Option<String>,
    },
    /// GET `/ps/{filter}` Observe=1 for an existing relation (already removed here): answer
    /// 2.07 as EMQX does.
    Unsubscribe {
        /// Answer with this.
        request: RequestId,
        /// The relation that ended.
        subscription: SubscriptionKey,
    },
    /// The client reset a notification or never acknowledged it (RFC 7641 §3.6, §4.5): the
    /// relation is gone; unsubscribe.
    ObserveCancelled {
        /// The relation that ended.
        subscription: SubscriptionKey,
    },
    /// A datagram was dropped (or rejected with RST); one log line.
    Malformed {
        /// Why.
        reason: String,
    },
    /// The channel is finished; drain the transmit queue, then drop it.
    Closed(CloseReason),
}

fn redact(p: &Option<String>) -> Option<&'static str> {
    p.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect { request, client_id, username, password } => f
                .debug_struct("Connect")
                .field("request", request)
                .field("client_id", client_id)
                .field("username", username)
                .field("password", &redact(password))
                .finish(),
            Self::Heartbeat { request } => f.debug_struct("Heartbeat").field("request", request).finish(),
            Self::Disconnect { request } => f.debug_struct("Disconnect").field("request", request).finish(),
            Self::Publish { request, topic, payload, qos, retain, expiry, client_id, username, password } => f
                .debug_struct("Publish")
                .field("request", request)
                .field("topic", topic)
                .field("payload_len", &payload.len())
                .field("qos", qos)
                .field("retain", retain)
                .field("expiry", expiry)
                .field("client_id", client_id)
                .field("username", username)
                .field("password", &redact(password))
                .finish(),
            Self::Subscribe {
                request,
                subscription,
                filter,
                qos,
                no_local,
                retain_handling,
                client_id,
                username,
                password,
            } => f
                .debug_struct("Subscribe")
                .field("request", request)
                .field("subscription", subscription)
                .field("filter", filter)
                .field("qos", qos)
                .field("no_local", no_local)
                .field("retain_handling", retain_handling)
                .field("client_id", client_id)
                .field("username", username)
                .field("password", &redact(password))
                .finish(),
            Self::Unsubscribe { request, subscription } => {
                f.debug_struct("Unsubscribe").field("request", request).field("subscription", subscription).finish()
            }
            Self::ObserveCancelled { subscription } => {
                f.debug_struct("ObserveCancelled").field("subscription", subscription).finish()
            }
            Self::Malformed { reason } => f.debug_struct("Malformed").field("reason", reason).finish(),
            Self::Closed(r) => f.debug_tuple("Closed").field(r).finish(),
        }
    }
}

/// Why [`Channel::notify`] did not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// No active relation with that key (cancelled, unsubscribed or never accepted).
    #[error("no active observe relation")]
    UnknownSubscription,
    /// The channel is closed.
    #[error("channel closed")]
    Closed,
}

/// What [`Channel::notify`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyOutcome {
    /// Queued behind in-flight CON notifications rather than sent now.
    pub queued: bool,
    /// Older queued notifications dropped to make room (queue full).
    pub dropped: usize,
}

#[derive(Debug)]
enum PendingKind {
    Connect { client_id: String },
    Heartbeat,
    Disconnect,
    Publish,
    Subscribe { key: SubscriptionKey, was_active: bool },
    Unsubscribe,
}

#[derive(Debug)]
struct Pending {
    message_id: u16,
    token: Bytes,
    confirmable: bool,
    deferred: bool,
    kind: PendingKind,
    block1: Option<BlockValue>,
    block2_szx: u8,
    path_key: String,
}

#[derive(Debug)]
struct Connection {
    client_id: String,
    token: u32,
}

/// Tag on notifications in the transaction layer (low bits: the subscription key).
const TAG_NOTIFY: u64 = 1 << 63;

/// The server side of one client peer. See the module docs and `DESIGN.md`.
#[derive(Debug)]
pub struct Channel {
    config: Arc<ChannelConfig>,
    tx: Transactions,
    events: VecDeque<Event>,
    pending: HashMap<RequestId, Pending>,
    next_request: u64,
    connection: Option<Connection>,
    last_activity: Instant,
    observers: Observers,
    block1: Block1Assembler,
    block2: Block2Store,
    closed: bool,
}

impl Channel {
    /// A channel for a new peer; `rng_seed` drives Message IDs and retransmission jitter.
    pub fn new(config: Arc<ChannelConfig>, now: Instant, rng_seed: u64) -> Self {
        let tx = Transactions::new(config.transmission.clone(), rng_seed);
        Self {
            config,
            tx,
            events: VecDeque::new(),
            pending: HashMap::new(),
            next_request: 0,
            connection: None,
            last_activity: now,
            observers: Observers::default(),
            block1: Block1Assembler::default(),
            block2: Block2Store::default(),
            closed: false,
        }
    }

    /// The client id of the connection (connection mode), once the glue accepted it.
    pub fn client_id(&self) -> Option<&str> {
        self.connection.as_ref().map(|c| c.client_id.as_str())
    }

    /// Whether the channel has closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Records the connection token for `client_id` (what [`Channel::respond_connected`] does).
    pub fn set_token(&mut self, client_id: &str, token: u32) {
        self.connection = Some(Connection { client_id: client_id.to_owned(), token });
    }

    fn max_szx(&self) -> u8 {
        size_to_szx(usize::from(self.config.max_block_size.clamp(16, 1024)))
    }

    /// One datagram from the peer.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if self.closed {
            return;
        }
        let msg = match decode(data) {
            Ok(m) => m,
            Err(e) => {
                if let Some(mid) = e.reject_con {
                    self.tx.queue(Message::reset(mid));
                }
                self.malformed(e.to_string());
                return;
            }
        };
        self.last_activity = now;
        match self.tx.on_message(now, msg) {
            Received::New(msg) if msg.code.is_request() => self.handle_request(now, msg),
            Received::New(msg) => {
                // A response or reserved code we never asked for: reject (RFC 7252 §4.2, §4.3).
                if msg.mtype == MessageType::Confirmable {
                    self.tx.reply(msg.message_id, &Message::reset(msg.message_id));
                }
            }
            Received::Acked { tag, message_id, .. } => {
                if tag & TAG_NOTIFY != 0 {
                    self.observers.inflight.remove(&message_id);
                    self.pump_notifications(now);
                }
            }
            Received::Reset { tag, message_id } => {
                if tag & TAG_NOTIFY != 0 {
                    self.observers.inflight.remove(&message_id);
                    self.cancel_relation(now, SubscriptionKey(tag & !TAG_NOTIFY));
                    self.pump_notifications(now);
                }
            }
            Received::Duplicate | Received::Unmatched | Received::Ping | Received::Response { .. } => {}
        }
    }

    fn malformed(&mut self, reason: String) {
        self.events.push_back(Event::Malformed { reason });
    }

    fn cancel_relation(&mut self, now: Instant, key: SubscriptionKey) {
        if self.observers.get(key).is_none() {
            return;
        }
        for mid in self.observers.remove(key) {
            self.tx.cancel(mid);
        }
        // The idle timer (suspended while relations exist) restarts now.
        if self.observers.is_empty() {
            self.last_activity = self.last_activity.max(now);
        }
        self.events.push_back(Event::ObserveCancelled { subscription: key });
    }

    /// Answers a request directly (errors, 2.31, unsubscribe of an unknown filter).
    fn answer(&mut self, now: Instant, req: &Message, code: Code, payload: &str, extra: &[(u16, Bytes)]) {
        let mut msg = Message::new(MessageType::Acknowledgement, code, req.message_id, req.token.clone());
        for (n, v) in extra {
            msg.add_option(*n, v.clone());
        }
        msg.payload = Bytes::copy_from_slice(payload.as_bytes());
        self.send_response(now, req.message_id, req.mtype == MessageType::Confirmable, false, msg);
    }

    fn send_response(&mut self, now: Instant, request_mid: u16, confirmable: bool, deferred: bool, mut msg: Message) {
        if confirmable && !deferred {
            msg.mtype = MessageType::Acknowledgement;
            msg.message_id = request_mid;
            self.tx.reply(request_mid, &msg);
        } else if confirmable {
            // Separate response (RFC 7252 §5.2.2): a new CON exchange; its ACK needs no action.
            if self.tx.send_con(now, msg, 0).is_err() {
                self.malformed("response could not be encoded".into());
            }
        } else if self.tx.send_non(now, msg, 0).is_err() {
            self.malformed("response could not be encoded".into());
        }
    }

    fn unrecognized_critical(&self, msg: &Message) -> Option<u16> {
        msg.options.iter().map(|(n, _)| *n).find(|&n| {
            option::is_critical(n)
                && !matches!(
                    n,
                    option::URI_HOST | option::URI_PORT | option::URI_PATH | option::URI_QUERY | option::ACCEPT
                )
                && !(self.config.blockwise && matches!(n, option::BLOCK1 | option::BLOCK2))
        })
    }

    fn new_request(
        &mut self,
        msg: &Message,
        kind: PendingKind,
        block1: Option<BlockValue>,
        path_key: String,
    ) -> RequestId {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        let block2_szx = self.requested_szx(msg);
        self.pending.insert(
            id,
            Pending {
                message_id: msg.message_id,
                token: msg.token.clone(),
                confirmable: msg.mtype == MessageType::Confirmable,
                deferred: false,
                kind,
                block1,
                block2_szx,
                path_key,
            },
        );
        id
    }

    fn requested_szx(&self, msg: &Message) -> u8 {
        let max = self.max_szx();
        msg.option(option::BLOCK2).and_then(|v| BlockValue::decode(v).ok()).map_or(max, |b| b.szx.min(max))
    }

    fn handle_request(&mut self, now: Instant, msg: Message) {
        let confirmable = msg.mtype == MessageType::Confirmable;
        if let Some(n) = self.unrecognized_critical(&msg) {
            if confirmable {
                let text = format!("Unrecognized critical option {n}");
                self.answer(now, &msg, Code::BAD_OPTION, &text, &[]);
            } else {
                self.malformed(format!("NON request with unrecognized critical option {n} (RFC 7252 §5.4.1)"));
            }
            return;
        }
        let (route, path_key) = requests::route(&msg);
        let query = requests::query(&msg);
        match (route, msg.code) {
            (Route::Unknown, _) => self.answer(now, &msg, Code::NOT_FOUND, "Not Found", &[]),
            (Route::Connection, Code::POST) => self.on_connect(now, &msg, query, path_key),
            (Route::Connection, Code::PUT) => {
                if self.check_token(now, &msg, &query) {
                    let request = self.new_request(&msg, PendingKind::Heartbeat, None, path_key);
                    self.events.push_back(Event::Heartbeat { request });
                }
            }
            (Route::Connection, Code::DELETE) => {
                if self.check_token(now, &msg, &query) {
                    let request = self.new_request(&msg, PendingKind::Disconnect, None, path_key);
                    self.events.push_back(Event::Disconnect { request });
                }
            }
            (Route::PubSub(topic), Code::POST | Code::PUT) => self.on_publish(now, &msg, topic, query, path_key),
            (Route::PubSub(topic), Code::GET) => self.on_get(now, &msg, topic, query, path_key),
            _ => self.answer(now, &msg, Code::METHOD_NOT_ALLOWED, "Method Not Allowed", &[]),
        }
    }

    /// Connection-mode token check (emqx-conventions §2.3); answers the error itself.
    fn check_token(&mut self, now: Instant, msg: &Message, query: &Query) -> bool {
        let (Some(client_id), Some(token)) = (&query.client_id, &query.token) else {
            self.answer(now, msg, Code::BAD_REQUEST, "Missing token or clientid in connection mode", &[]);
            return false;
        };
        let ok = self
            .connection
            .as_ref()
            .is_some_and(|c| &c.client_id == client_id && token.parse::<u32>().ok() == Some(c.token));
        if !ok {
            self.answer(now, msg, Code::UNAUTHORIZED, "Invalid token or clientid in connection mode", &[]);
        }
        ok
    }

    fn on_connect(&mut self, now: Instant, msg: &Message, query: Query, path_key: String) {
        let Some(client_id) = query.client_id.filter(|c| !c.is_empty()) else {
            self.answer(now, msg, Code::BAD_REQUEST, "Login Failed: clientid is required", &[]);
            return;
        };
        if self.connection.is_some() {
            self.answer(now, msg, Code::BAD_REQUEST, "Bad Request: client has connected", &[]);
            return;
        }
        let request = self.new_request(msg, PendingKind::Connect { client_id: client_id.clone() }, None, path_key);
        self.events.push_back(Event::Connect {
            request,
            client_id,
            username: query.username,
            password: query.password,
        });
    }

    fn parse_qos(&mut self, now: Instant, msg: &Message, q: &Option<String>, rule: QosRule) -> Option<u8> {
        match q {
            None => Some(rule.qos(msg.mtype == MessageType::Confirmable)),
            Some(s) => match s.parse::<u8>() {
                Ok(v) if v <= 2 => Some(v),
                _ => {
                    self.answer(now, msg, Code::BAD_REQUEST, "invalid qos", &[]);
                    None
                }
            },
        }
    }

    fn client_id_for(&self, query: &Query) -> Option<String> {
        query.client_id.clone().or_else(|| self.connection.as_ref().map(|c| c.client_id.clone()))
    }

    fn on_publish(&mut self, now: Instant, msg: &Message, topic: String, query: Query, path_key: String) {
        if self.config.connection_required && !self.check_token(now, msg, &query) {
            return;
        }
        if topic.is_empty() {
            self.answer(now, msg, Code::BAD_REQUEST, "invalid topic", &[]);
            return;
        }
        let Some(qos) = self.parse_qos(now, msg, &query.qos, self.config.publish_qos) else { return };
        let expiry = match &query.expiry {
            None => None,
            Some(s) => match s.parse::<u32>() {
                Ok(v) => Some(v),
                Err(_) => {
                    self.answer(now, msg, Code::BAD_REQUEST, "invalid expiry", &[]);
                    return;
                }
            },
        };
        let too_large = |limit: usize| [(option::SIZE1, encode_uint(limit.min(u32::MAX as usize) as u32))];
        let max_body = self.config.max_body_size;
        let (payload, block1) = match msg.option(option::BLOCK1).map(|v| BlockValue::decode(v)) {
            Some(Err(e)) => {
                self.answer(now, msg, Code::BAD_REQUEST, &e.to_string(), &[]);
                return;
            }
            Some(Ok(block)) => {
                let size1 = msg.uint_option(option::SIZE1).ok().flatten();
                let outcome = self.block1.on_block(
                    now,
                    self.config.transmission.exchange_lifetime,
                    &path_key,
                    block,
                    &msg.payload,
                    size1,
                    max_body,
                    self.max_szx(),
                );
                match outcome {
                    Block1Outcome::Continue(echo) => {
                        self.answer(now, msg, Code::CONTINUE, "", &[(option::BLOCK1, echo.encode())]);
                        return;
                    }
                    Block1Outcome::Incomplete => {
                        self.answer(now, msg, Code::REQUEST_ENTITY_INCOMPLETE, "Request Entity Incomplete", &[]);
                        return;
                    }
                    Block1Outcome::TooLarge => {
                        self.answer(
                            now,
                            msg,
                            Code::REQUEST_ENTITY_TOO_LARGE,
                            "Request Entity Too Large",
                            &too_large(max_body),
                        );
                        return;
                    }
                    Block1Outcome::Complete(body, echo) => (body, Some(echo)),
                }
            }
            None => {
                if msg.payload.len() > max_body {
                    self.answer(
                        now,
                        msg,
                        Code::REQUEST_ENTITY_TOO_LARGE,
                        "Request Entity Too Large",
                        &too_large(max_body),
                    );
                    return;
                }
                (msg.payload.clone(), None)
            }
        };
        let client_id = self.client_id_for(&query);
        let request = self.new_request(msg, PendingKind::Publish, block1, path_key);
        self.events.push_back(Event::Publish {
            request,
            topic,
            payload,
            qos,
            retain: query.retain.as_deref() == Some("true"),
            expiry,
            client_id,
            username: query.username,
            password: query.password,
        });
    }

    fn on_get(&mut self, now: Instant, msg: &Message, topic: String, query: Query, path_key: String) {
        let observe = msg.uint_option(option::OBSERVE);
        let block2 = match msg.option(option::BLOCK2).map(|v| BlockValue::decode(v)) {
            Some(Err(e)) => {
                self.answer(now, msg, Code::BAD_REQUEST, &e.to_string(), &[]);
                return;
            }
            Some(Ok(b)) => Some(b),
            None => None,
        };
        // A later block of a representation we sent (RFC 7959 §2.4, §3.4): served from the store.
        if let (Ok(None), Some(b)) = (&observe, block2) {
            if b.num > 0 {
                if self.config.connection_required && !self.check_token(now, msg, &query) {
                    return;
                }
                let szx = b.szx.min(self.max_szx());
                match self.block2.fetch(now, &path_key, b.num, szx) {
                    Some((block, value, total)) => {
                        let extra = [(option::BLOCK2, value.encode()), (option::SIZE2, encode_uint(total as u32))];
                        let mut m = Message::new(MessageType::Acknowledgement, Code::CONTENT, 0, msg.token.clone());
                        for (n, v) in extra {
                            m.add_option(n, v);
                        }
                        m.payload = block;
                        self.send_response(now, msg.message_id, msg.mtype == MessageType::Confirmable, false, m);
                    }
                    None => self.answer(now, msg, Code::BAD_REQUEST, "no representation to fetch blocks of", &[]),
                }
                return;
            }
        }
        if self.config.connection_required && !self.check_token(now, msg, &query) {
            return;
        }
        match observe {
            Ok(Some(0)) => {
                if msg.token.is_empty() {
                    self.answer(now, msg, Code::BAD_REQUEST, "observe without token", &[]);
                    return;
                }
                if topic.is_empty() {
                    self.answer(now, msg, Code::BAD_REQUEST, "invalid topic", &[]);
                    return;
                }
                let Some(qos) = self.parse_qos(now, msg, &query.qos, self.config.subscribe_qos) else { return };
                let no_local = matches!(query.no_local.as_deref(), Some("1" | "true"));
                let retain_handling = match query.retain_handling.as_deref().map(str::parse::<u8>) {
                    None => 1,
                    Some(Ok(v)) if v <= 2 => v,
                    Some(_) => {
                        self.answer(now, msg, Code::BAD_REQUEST, "invalid rh", &[]);
                        return;
                    }
                };
                let szx = self.requested_szx(msg);
                let (key, was_active) = self.observers.register(&topic, path_key.clone(), msg.token.clone(), szx);
                let client_id = self.client_id_for(&query);
                let request = self.new_request(msg, PendingKind::Subscribe { key, was_active }, None, path_key);
                self.events.push_back(Event::Subscribe {
                    request,
                    subscription: key,
                    filter: topic,
                    qos,
                    no_local,
                    retain_handling,
                    client_id,
                    username: query.username,
                    password: query.password,
                });
            }
            Ok(Some(1)) => match self.observers.by_filter(&topic) {
                Some(key) => {
                    for mid in self.observers.remove(key) {
                        self.tx.cancel(mid);
                    }
                    let request = self.new_request(msg, PendingKind::Unsubscribe, None, path_key);
                    self.events.push_back(Event::Unsubscribe { request, subscription: key });
                }
                None => self.answer(now, msg, Code::EMQX_NO_CONTENT, "", &[]),
            },
            _ => self.answer(now, msg, Code::BAD_REQUEST, "invalid observe value", &[]),
        }
    }

    /// The glue's answer to a request (piggy-backed on the ACK unless [`Channel::defer`]red,
    /// NON for a NON request). Subscribe + 2.xx activates the relation and adds Observe;
    /// Connect + 2.01 takes the payload as the decimal token; Disconnect + 2.xx closes.
    /// Payloads over the block size are sent block-wise (Block2). Unknown ids are ignored.
    pub fn respond(&mut self, now: Instant, request: RequestId, code: ResponseCode, payload: Bytes) {
        let Some(p) = self.pending.remove(&request) else { return };
        let code = code.code();
        let mut msg = Message::new(MessageType::Acknowledgement, code, 0, p.token.clone());
        let mut close = false;
        match &p.kind {
            PendingKind::Subscribe { key, was_active } => {
                if code.is_success() {
                    self.observers.activate(*key);
                    let seq = self.observers.next_seq();
                    msg.set_uint_option(option::OBSERVE, seq);
                } else if !was_active {
                    self.observers.remove(*key);
                }
            }
            PendingKind::Connect { client_id } => {
                if code == Code::CREATED {
                    if let Some(token) = std::str::from_utf8(&payload).ok().and_then(|s| s.trim().parse::<u32>().ok()) {
                        self.connection = Some(Connection { client_id: client_id.clone(), token });
                    }
                }
            }
            PendingKind::Disconnect => close = code.is_success(),
            PendingKind::Heartbeat | PendingKind::Publish | PendingKind::Unsubscribe => {}
        }
        if let Some(b1) = p.block1 {
            msg.add_option(option::BLOCK1, b1.encode());
        }
        msg.payload = self.maybe_block2(now, &mut msg, &p.path_key, p.block2_szx, payload);
        self.send_response(now, p.message_id, p.confirmable, p.deferred, msg);
        if close {
            self.connection = None;
            self.finish(CloseReason::Disconnected);
        }
    }

    /// Accepts a Connect: 2.01 with the token as payload, and remembers it.
    pub fn respond_connected(&mut self, now: Instant, request: RequestId, token: u32) {
        if let Some(Pending { kind: PendingKind::Connect { client_id }, .. }) = self.pending.get(&request) {
            let client_id = client_id.clone();
            self.respond(now, request, ResponseCode::Created, Bytes::from(token.to_string()));
            self.set_token(&client_id, token);
        }
    }

    /// The glue will answer later: an empty ACK now (CON requests), a separate CON/NON
    /// response at [`Channel::respond`] (RFC 7252 §5.2.2).
    pub fn defer(&mut self, request: RequestId) {
        if let Some(p) = self.pending.get_mut(&request) {
            if !p.deferred && p.confirmable {
                self.tx.reply(p.message_id, &Message::empty_ack(p.message_id));
            }
            p.deferred = true;
        }
    }

    /// Cuts `payload` to its first block when larger than the block size (RFC 7959 §2.4) and
    /// keeps the whole representation for later blocks.
    fn maybe_block2(&mut self, now: Instant, msg: &mut Message, key: &str, szx: u8, payload: Bytes) -> Bytes {
        if !self.config.blockwise || payload.len() <= crate::codec::szx_to_size(szx) {
            return payload;
        }
        let total = payload.len();
        let Some((first, value)) = Block2Store::slice(&payload, 0, szx) else { return payload };
        self.block2.store(key.to_owned(), payload, now + self.config.transmission.exchange_lifetime);
        msg.add_option(option::BLOCK2, value.encode());
        msg.add_option(option::SIZE2, encode_uint(total as u32));
        first
    }

    /// Sends a notification (2.05, the relation's token, next Observe value) as CON or NON.
    /// CON ones beyond `max_pending_con_notifications` in flight are queued FIFO (oldest
    /// dropped beyond `max_observe_queue`).
    pub fn notify(
        &mut self,
        now: Instant,
        subscription: SubscriptionKey,
        payload: Bytes,
        confirmable: bool,
    ) -> Result<NotifyOutcome, NotifyError> {
        if self.closed {
            return Err(NotifyError::Closed);
        }
        if !self.observers.get(subscription).is_some_and(|r| r.active) {
            return Err(NotifyError::UnknownSubscription);
        }
        if !confirmable {
            self.send_notification(now, subscription, payload, false);
            return Ok(NotifyOutcome::default());
        }
        if self.observers.inflight.len() < self.config.max_pending_con_notifications {
            self.send_notification(now, subscription, payload, true);
            return Ok(NotifyOutcome::default());
        }
        let mut outcome = NotifyOutcome { queued: true, dropped: 0 };
        if self.config.max_observe_queue == 0 {
            outcome.dropped = 1;
            return Ok(outcome);
        }
        while self.observers.queue.len() >= self.config.max_observe_queue {
            self.observers.queue.pop_front();
            outcome.dropped += 1;
        }
        self.observers.queue.push_back((subscription, payload));
        Ok(outcome)
    }

    fn send_notification(&mut self, now: Instant, key: SubscriptionKey, payload: Bytes, confirmable: bool) {
        let Some(rel) = self.observers.get(key) else { return };
        let (token, path_key, szx) = (rel.token.clone(), rel.path_key.clone(), rel.szx);
        let mut msg = Message::new(MessageType::NonConfirmable, Code::CONTENT, 0, token);
        let seq = self.observers.next_seq();
        msg.set_uint_option(option::OBSERVE, seq);
        msg.payload = self.maybe_block2(now, &mut msg, &path_key, szx, payload);
        let tag = TAG_NOTIFY | key.0;
        if confirmable {
            match self.tx.send_con(now, msg, tag) {
                Ok(mid) => {
                    self.observers.inflight.insert(mid, key);
                }
                Err(_) => self.malformed("notification could not be encoded".into()),
            }
        } else if self.tx.send_non(now, msg, tag).is_err() {
            self.malformed("notification could not be encoded".into());
        }
    }

    fn pump_notifications(&mut self, now: Instant) {
        while self.observers.inflight.len() < self.config.max_pending_con_notifications {
            let Some((key, payload)) = self.observers.queue.pop_front() else { break };
            self.send_notification(now, key, payload, true);
        }
    }

    fn liveness_deadline(&self) -> Option<Instant> {
        if self.connection.is_some() {
            Some(self.last_activity + self.config.heartbeat.mul_f64(1.5))
        } else if self.observers.is_empty() {
            Some(self.last_activity + self.config.idle_timeout)
        } else {
            None
        }
    }

    fn finish(&mut self, reason: CloseReason) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(Event::Closed(reason));
        }
    }

    /// Retransmissions, expiry of deduplication state and block transfers, liveness.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.tx.handle_timeout(now);
        while let Some(ev) = self.tx.poll_event() {
            let TransactionEvent::TimedOut { tag, message_id } = ev;
            if tag & TAG_NOTIFY != 0 {
                self.observers.inflight.remove(&message_id);
                self.cancel_relation(now, SubscriptionKey(tag & !TAG_NOTIFY));
                self.pump_notifications(now);
            }
        }
        self.block1.handle_timeout(now);
        self.block2.handle_timeout(now);
        if self.liveness_deadline().is_some_and(|d| d <= now) {
            let reason =
                if self.connection.is_some() { CloseReason::HeartbeatTimeout } else { CloseReason::IdleTimeout };
            self.finish(reason);
        }
    }

    /// When to call [`Channel::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        [self.tx.poll_timeout(), self.liveness_deadline(), self.block1.deadline(), self.block2.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Next event for the glue.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Next datagram for the peer.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.tx.poll_transmit()
    }

    /// Closes the channel from the glue's side (no event; queued datagrams stay drainable).
    pub fn close(&mut self) {
        self.closed = true;
        self.pending.clear();
    }
}
