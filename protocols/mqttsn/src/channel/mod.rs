//! One MQTT-SN client as a sans-IO state machine, shaped like quinn-proto.
//!
//! Inputs: [`Channel::handle_datagram`], [`Channel::handle_timeout`] and the glue's answers
//! ([`Channel::accept_connect`], [`Channel::ack_publish`], [`Channel::deliver`], ...).
//! Outputs, drained by the caller: [`Channel::poll_event`], [`Channel::poll_transmit`] (one
//! datagram each, in order) and [`Channel::poll_timeout`]. The channel never reads the
//! clock, spawns, awaits or does I/O, and knows nothing of the bus.
//!
//! Unlike the MQTT channel, this one owns retransmission of its own PUBLISH/PUBREL/REGISTER
//! (MQTT-SN runs over datagrams: Tretry/Nretry, §6.13) and the topic id registry.
//!
//! # Layout
//! - `mod.rs`: [`Channel`], [`Event`], [`CloseReason`], [`ChannelConfig`], dispatch, free
//!   functions for peers without a channel ([`gwinfo_for`], [`decode_qos_minus_one`]).
//! - `connect.rs`: CONNECT, the will flow, CONNACK, will updates.
//! - `registry.rs`: topic ids, client REGISTER, gateway REGISTER with queued PUBLISHes.
//! - `publish.rs`: inbound PUBLISH and acks, deliveries, retransmission.
//! - `subscribe.rs`: SUBSCRIBE / UNSUBSCRIBE and their acks.
//! - `keepalive.rs`: keep alive, PINGREQ, DISCONNECT, sleep and wake.

mod connect;
mod keepalive;
mod publish;
mod registry;
mod subscribe;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::{self, Connect, Message, QoS, TopicIdType};

pub use registry::{FIRST_DYNAMIC_ID, REGISTER_MAX_RETRIES, REGISTER_RETRY_INTERVAL};
pub use subscribe::SubscribeTopic;

use publish::Inflight;
use registry::{PendingRegistration, TopicRegistry};

/// Per-listener settings, shared by every client of the listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    /// GwId in GWINFO (and ADVERTISE, sent by the glue).
    pub gateway_id: u8,
    /// Predefined topic ids, identical for every client.
    pub predefined: Vec<(u16, String)>,
    /// Accept QoS -1 PUBLISH from unconnected peers (see [`decode_qos_minus_one`]).
    pub enable_qos3: bool,
    /// Close when no CONNECT arrives within this after [`Channel::new`]; also bounds the
    /// will flow after a CONNECT.
    pub idle_timeout: Duration,
    /// Keep alive timeout = Duration × this.
    pub keepalive_multiplier: f32,
    /// Tretry: re-send an unacknowledged PUBLISH / PUBREL after this.
    pub retry_interval: Duration,
    /// Nretry: re-sends before [`Event::Lost`].
    pub max_retries: u32,
    /// Most gateway REGISTERs outstanding at once; beyond it [`Channel::deliver`] fails.
    pub max_pending_registrations: usize,
    /// Larger datagrams are dropped ([`Event::Malformed`]); larger PUBLISHes not delivered.
    pub max_packet_size: usize,
    /// On a CONNECT with CleanSession=0, re-REGISTER every topic id the client knew.
    pub subs_resume: bool,
}

impl Default for ChannelConfig {
    /// EMQX's defaults.
    fn default() -> Self {
        Self {
            gateway_id: 1,
            predefined: Vec::new(),
            enable_qos3: true,
            idle_timeout: Duration::from_secs(30),
            keepalive_multiplier: 1.5,
            retry_interval: Duration::from_secs(10),
            max_retries: 3,
            max_pending_registrations: 64,
            max_packet_size: 1024,
            subs_resume: false,
        }
    }
}

impl ChannelConfig {
    /// The topic name of a predefined id.
    pub fn predefined_name(&self, id: u16) -> Option<&str> {
        self.predefined.iter().find(|(i, _)| *i == id).map(|(_, n)| n.as_str())
    }

    /// The predefined id of a topic name.
    pub fn predefined_id(&self, name: &str) -> Option<u16> {
        self.predefined.iter().find(|(_, n)| n == name).map(|(i, _)| *i)
    }
}

/// The client's will, as set by the will flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will topic.
    pub topic: String,
    /// Will payload.
    pub payload: Bytes,
    /// Will QoS (0..2).
    pub qos: u8,
    /// Will retain.
    pub retain: bool,
}

/// Something the glue must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete CONNECT (after the will flow, if any); answer with
    /// [`Channel::accept_connect`] or [`Channel::reject_connect`]. Also emitted for a
    /// CONNECT from a connected or sleeping client (it is resuming).
    Connect {
        /// ClientId.
        client_id: String,
        /// CleanSession flag.
        clean_session: bool,
        /// Keep alive in seconds.
        keepalive: u16,
        /// The will, if the flow set one (an empty WILLTOPIC means none).
        will: Option<Will>,
    },
    /// An inbound PUBLISH, topic resolved. QoS 1/2: answer with [`Channel::ack_publish`].
    /// QoS -1 inside a connection is reported as 0. Duplicates are passed on.
    Publish {
        /// Topic name.
        topic: String,
        /// TopicId as received (needed by [`Channel::ack_publish`]).
        topic_id: u16,
        /// Data.
        payload: Bytes,
        /// 0, 1 or 2.
        qos: u8,
        /// Retain flag.
        retain: bool,
        /// DUP flag.
        dup: bool,
        /// MsgId.
        msg_id: u16,
    },
    /// The client released an inbound QoS 2 PUBLISH; answer [`Channel::complete_release`].
    PubRel {
        /// MsgId.
        msg_id: u16,
    },
    /// PUBACK of our QoS 1 (or a rejection of our QoS 2) delivery. With 0x02 the topic id
    /// was dropped from the registry and the next delivery re-registers it.
    PubAck {
        /// MsgId.
        msg_id: u16,
        /// ReturnCode.
        return_code: u8,
    },
    /// PUBREC of our QoS 2 delivery; the channel already sent (and retransmits) PUBREL.
    PubRec {
        /// MsgId.
        msg_id: u16,
    },
    /// Our QoS 2 delivery is complete.
    PubComp {
        /// MsgId.
        msg_id: u16,
    },
    /// Answer with [`Channel::ack_subscribe`].
    Subscribe {
        /// MsgId.
        msg_id: u16,
        /// The topic (filter).
        topic: SubscribeTopic,
        /// Requested QoS.
        qos: u8,
    },
    /// Answer with [`Channel::ack_unsubscribe`].
    Unsubscribe {
        /// MsgId.
        msg_id: u16,
        /// The topic (filter).
        topic: SubscribeTopic,
    },
    /// WILLTOPICUPD (already answered WILLTOPICRESP 0): `None` deletes the will; otherwise
    /// (topic, qos, retain), the payload kept.
    WillTopicUpdate {
        /// New will topic, QoS and retain.
        will: Option<(String, u8, bool)>,
    },
    /// WILLMSGUPD (already answered WILLMSGRESP 0).
    WillMessageUpdate {
        /// New will payload.
        payload: Bytes,
    },
    /// The client went to sleep for `duration` seconds (DISCONNECT already answered).
    /// Keep its messages queued; [`Channel::deliver`] fails while asleep.
    Sleep {
        /// Sleep duration in seconds.
        duration: u16,
    },
    /// The sleeping client woke up (PINGREQ with its client id): deliver its buffered
    /// messages, then call [`Channel::finish_wake`].
    Wake,
    /// A QoS 1/2 delivery was re-sent `max_retries` times without an answer and dropped.
    /// The spec says the client should then be considered disconnected.
    Lost {
        /// MsgId.
        msg_id: u16,
    },
    /// A delivery waiting for its topic's REGACK was dropped (REGACK rejected or timed
    /// out). `msg_id` is `None` for QoS 0.
    DeliveryFailed {
        /// MsgId given to [`Channel::deliver`].
        msg_id: Option<u16>,
        /// The topic.
        topic: String,
    },
    /// A datagram was dropped: undecodable, too large, or not valid in this state.
    /// Log it once; the channel keeps working.
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// The last event; input is ignored afterwards. A final datagram may still be queued.
    Closed(CloseReason),
}

/// Why the channel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// DISCONNECT without duration (answered with DISCONNECT).
    ClientDisconnect,
    /// Nothing from the client within keep alive × multiplier (nothing sent).
    KeepaliveTimeout,
    /// The sleep duration expired without a wake-up or CONNECT.
    SleepTimeout,
    /// Reserved for the glue's bookkeeping after [`Event::Lost`]; the channel itself does
    /// not close on retries exhausted.
    RetriesExhausted,
    /// CONNACK with this return code was sent.
    Rejected(u8),
    /// [`Channel::disconnect`] (DISCONNECT sent).
    ServerDisconnect,
    /// No CONNECT (or no completed will flow) within the idle timeout.
    IdleTimeout,
}

/// Why [`Channel::deliver`] did not take a message; the glue keeps it queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    /// The client is asleep: keep the message until [`Event::Wake`].
    #[error("client is asleep")]
    Asleep,
    /// Not connected (before CONNACK, or closed).
    #[error("client is not connected")]
    NotConnected,
    /// QoS 1/2 without a msg id.
    #[error("QoS 1/2 delivery without a msg id")]
    MissingMsgId,
    /// The PUBLISH would exceed `max_packet_size`.
    #[error("PUBLISH larger than max_packet_size")]
    TooLarge,
    /// `max_pending_registrations` REGISTERs are outstanding.
    #[error("too many pending topic registrations")]
    TooManyPendingRegistrations,
    /// No dynamic topic id left.
    #[error("topic ids exhausted")]
    TopicIdsExhausted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitConnect,
    /// WILLTOPICREQ sent.
    WillTopic,
    /// WILLMSGREQ sent.
    WillMsg,
    /// Event::Connect emitted.
    AwaitAccept,
    Active,
    Asleep,
    /// Woken by PINGREQ, flushing buffered messages.
    Awake,
    Closed,
}

/// The gateway side of one MQTT-SN client. See the module documentation.
#[derive(Debug)]
pub struct Channel {
    config: Arc<ChannelConfig>,
    state: State,
    created: Instant,
    events: VecDeque<Event>,
    transmit: VecDeque<Bytes>,
    client_id: Option<String>,
    /// The CONNECT being processed and the will collected so far.
    pending_connect: Option<Connect>,
    pending_will: Option<codec::WillTopic>,
    will_deadline: Option<Instant>,
    has_will: bool,
    keepalive_secs: u16,
    last_activity: Instant,
    sleep_secs: u16,
    sleep_deadline: Option<Instant>,
    /// finish_wake was called; PINGRESP waits for outstanding REGISTERs.
    wake_finishing: bool,
    registry: TopicRegistry,
    pending_regs: HashMap<u16, PendingRegistration>,
    next_msg_id: u16,
    inflight: BTreeMap<u16, Inflight>,
    /// Inbound QoS 1/2 msg ids awaiting ack_publish, with their QoS.
    inbound_qos: HashMap<u16, u8>,
    subs_pending: HashMap<u16, SubscribeTopic>,
    /// Recently sent SUBACKs, to answer a retransmitted SUBSCRIBE identically.
    recent_subacks: VecDeque<(u16, Bytes)>,
}

impl Channel {
    /// A channel for a peer first heard from at `now`; the idle timeout starts now.
    pub fn new(config: Arc<ChannelConfig>, now: Instant) -> Self {
        Self {
            config,
            state: State::AwaitConnect,
            created: now,
            events: VecDeque::new(),
            transmit: VecDeque::new(),
            client_id: None,
            pending_connect: None,
            pending_will: None,
            will_deadline: None,
            has_will: false,
            keepalive_secs: 0,
            last_activity: now,
            sleep_secs: 0,
            sleep_deadline: None,
            wake_finishing: false,
            registry: TopicRegistry::default(),
            pending_regs: HashMap::new(),
            next_msg_id: 0,
            inflight: BTreeMap::new(),
            inbound_qos: HashMap::new(),
            subs_pending: HashMap::new(),
            recent_subacks: VecDeque::new(),
        }
    }

    /// Decodes and handles one datagram. A malformed or unexpected one is dropped with
    /// [`Event::Malformed`]. A forwarder encapsulation is unwrapped; replies are *not*
    /// re-encapsulated (the glue wraps them for the forwarder).
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if data.len() > self.config.max_packet_size {
            let max = self.config.max_packet_size;
            self.malformed(format!("datagram of {} bytes exceeds max_packet_size {max}", data.len()));
            return;
        }
        match codec::decode(data) {
            Ok(Message::Encapsulated(enc)) => self.handle_message(now, *enc.message),
            Ok(msg) => self.handle_message(now, msg),
            Err(e) => self.malformed(e.to_string()),
        }
    }

    /// Handles one decoded message.
    pub fn handle_message(&mut self, now: Instant, msg: Message) {
        if matches!(self.state, State::Active | State::Awake) {
            self.last_activity = now;
        }
        match (self.state, msg) {
            (State::Closed, _) => {}
            (_, Message::SearchGw { .. }) => {
                self.send(&Message::GwInfo { gateway_id: self.config.gateway_id, gateway_address: Bytes::new() })
            }
            (_, Message::Advertise { .. } | Message::GwInfo { .. }) => {}
            (State::AwaitAccept, Message::Connect(_)) => {} // a retransmission; the glue decides
            (_, Message::Connect(c)) => self.on_connect(now, c),
            (State::WillTopic | State::WillMsg, Message::WillTopic(w)) => self.on_will_topic(now, w),
            (State::WillMsg, Message::WillMsg { payload }) => self.on_will_msg(payload),
            (State::Active | State::Asleep | State::Awake, Message::PingReq { client_id }) => {
                self.on_pingreq(now, client_id)
            }
            (State::Active | State::Asleep | State::Awake, Message::Disconnect { duration }) => {
                self.on_disconnect(now, duration)
            }
            (State::Active | State::Awake, msg) => self.on_session_message(now, msg),
            (state, msg) => self.malformed(format!("unexpected {} in state {state:?}", msg.name())),
        }
    }

    fn on_session_message(&mut self, now: Instant, msg: Message) {
        match msg {
            Message::Register { msg_id, topic_name, .. } => self.on_register(msg_id, topic_name),
            Message::RegAck { topic_id, msg_id, return_code } => self.on_regack(now, topic_id, msg_id, return_code),
            Message::Publish(p) => self.on_publish(p),
            Message::PubAck { topic_id, msg_id, return_code } => self.on_puback(topic_id, msg_id, return_code),
            Message::PubRec { msg_id } => self.on_pubrec(now, msg_id),
            Message::PubRel { msg_id } => self.events.push_back(Event::PubRel { msg_id }),
            Message::PubComp { msg_id } => self.on_pubcomp(msg_id),
            Message::Subscribe(s) => self.on_subscribe(s),
            Message::Unsubscribe { msg_id, topic } => self.on_unsubscribe(msg_id, topic),
            Message::WillTopicUpd(w) => self.on_will_topic_update(w),
            Message::WillMsgUpd { payload } => self.on_will_msg_update(payload),
            other => self.malformed(format!("unexpected {} from a client", other.name())),
        }
    }

    /// Runs the timers due at `now`: idle/will-flow timeout, keep alive, sleep expiry,
    /// REGISTER and PUBLISH/PUBREL retransmission.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed | State::AwaitAccept => {}
            State::AwaitConnect => {
                if now >= self.created + self.config.idle_timeout {
                    self.close(CloseReason::IdleTimeout);
                }
            }
            State::WillTopic | State::WillMsg => {
                if self.will_deadline.is_some_and(|d| now >= d) {
                    self.close(CloseReason::IdleTimeout);
                }
            }
            State::Asleep => {
                if self.sleep_deadline.is_some_and(|d| now >= d) {
                    self.close(CloseReason::SleepTimeout);
                }
            }
            State::Active | State::Awake => {
                if self.state == State::Active && self.keepalive_deadline().is_some_and(|d| now >= d) {
                    self.close(CloseReason::KeepaliveTimeout);
                    return;
                }
                if self.state == State::Awake && self.sleep_deadline.is_some_and(|d| now >= d) {
                    self.close(CloseReason::SleepTimeout);
                    return;
                }
                self.register_timeouts(now);
                self.retransmit(now);
            }
        }
    }

    /// The earliest instant at which [`Channel::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut add = |d: Option<Instant>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |t| t.min(d)));
            }
        };
        match self.state {
            State::Closed | State::AwaitAccept => {}
            State::AwaitConnect => add(Some(self.created + self.config.idle_timeout)),
            State::WillTopic | State::WillMsg => add(self.will_deadline),
            State::Asleep => add(self.sleep_deadline),
            State::Active | State::Awake => {
                if self.state == State::Active {
                    add(self.keepalive_deadline());
                } else {
                    add(self.sleep_deadline);
                }
                for p in self.pending_regs.values() {
                    add(Some(p.deadline));
                }
                for i in self.inflight.values() {
                    add(Some(i.deadline));
                }
            }
        }
        t
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next datagram to send, in order.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    /// Server-initiated close: DISCONNECT (when a connection exists), then
    /// [`Event::Closed`]`(`[`CloseReason::ServerDisconnect`]`)`.
    pub fn disconnect(&mut self) {
        if matches!(self.state, State::Active | State::Awake | State::Asleep) {
            self.send(&Message::Disconnect { duration: None });
        }
        self.close(CloseReason::ServerDisconnect);
    }

    /// Connected: active, asleep or awake.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Active | State::Asleep | State::Awake)
    }

    /// Connected and neither asleep nor awake.
    pub fn is_active(&self) -> bool {
        self.state == State::Active
    }

    /// Asleep (deliveries are refused).
    pub fn is_asleep(&self) -> bool {
        self.state == State::Asleep
    }

    /// Woken up and flushing buffered messages.
    pub fn is_awake(&self) -> bool {
        self.state == State::Awake
    }

    /// [`Event::Closed`] was queued.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The client id, once a CONNECT was accepted.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// Keep alive (CONNECT Duration) in seconds.
    pub fn keepalive(&self) -> u16 {
        self.keepalive_secs
    }

    /// Whether the client has a will (for WILLMSGUPD).
    pub fn has_will(&self) -> bool {
        self.has_will
    }

    /// Unacknowledged outbound QoS 1/2 msg ids.
    pub fn inflight_count(&self) -> usize {
        self.inflight.len()
    }

    /// The topic id the client knows for `topic` (predefined or confirmed registration).
    pub fn topic_id_of(&self, topic: &str) -> Option<u16> {
        self.config.predefined_id(topic).or_else(|| self.registry.confirmed_id(topic))
    }

    // ----- internals shared by the submodules -----

    fn malformed(&mut self, reason: String) {
        self.events.push_back(Event::Malformed { reason });
    }

    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.inflight.clear();
        self.pending_regs.clear();
        self.events.push_back(Event::Closed(reason));
    }

    /// Our own msg ids (gateway REGISTER), never 0.
    fn next_msg_id(&mut self) -> u16 {
        loop {
            self.next_msg_id = self.next_msg_id.wrapping_add(1);
            if self.next_msg_id != 0 && !self.pending_regs.contains_key(&self.next_msg_id) {
                return self.next_msg_id;
            }
        }
    }

    fn send(&mut self, msg: &Message) {
        // Messages built by the channel are always encodable; a failure sends nothing.
        if let Ok(bytes) = codec::to_bytes(msg) {
            self.transmit.push_back(bytes);
        }
    }
}

/// The GWINFO answering a SEARCHGW (§6.1), for peers that have no channel.
pub fn gwinfo_for(config: &ChannelConfig) -> Bytes {
    codec::to_bytes(&Message::GwInfo { gateway_id: config.gateway_id, gateway_address: Bytes::new() })
        .unwrap_or_default()
}

/// What to do with a QoS -1 PUBLISH from a peer without a connection (§6.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MinusOne {
    /// Publish to the bus as QoS 0 (EMQX uses client id `NegQoS-Client`).
    Publish {
        /// Resolved topic name (predefined or short).
        topic: String,
        /// Data.
        payload: Bytes,
        /// Retain flag.
        retain: bool,
    },
    /// QoS -1 is disabled: send this PUBACK (0x03 not supported) back.
    Refused(Bytes),
}

/// Classifies a datagram from a peer without a channel: `Some` for a QoS -1 PUBLISH with a
/// predefined or short topic id (or the refusal when `enable_qos3` is off); `None` for
/// anything else, including QoS -1 with a normal or unknown topic id (dropped: QoS -1 has
/// no acknowledgement).
pub fn decode_qos_minus_one(config: &ChannelConfig, data: &[u8]) -> Option<MinusOne> {
    let msg = match codec::decode(data).ok()? {
        Message::Encapsulated(enc) => *enc.message,
        m => m,
    };
    let Message::Publish(p) = msg else { return None };
    if p.qos != QoS::MinusOne {
        return None;
    }
    if !config.enable_qos3 {
        let ack =
            Message::PubAck { topic_id: p.topic_id, msg_id: p.msg_id, return_code: codec::return_code::NOT_SUPPORTED };
        return codec::to_bytes(&ack).ok().map(MinusOne::Refused);
    }
    let topic = match p.topic_id_type {
        TopicIdType::Predefined => config.predefined_name(p.topic_id)?.to_owned(),
        TopicIdType::Short => String::from_utf8(p.topic_id.to_be_bytes().to_vec()).ok()?,
        TopicIdType::Normal => return None,
    };
    Some(MinusOne::Publish { topic, payload: p.data, retain: p.retain })
}
