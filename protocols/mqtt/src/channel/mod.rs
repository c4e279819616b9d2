//! The server side of one MQTT connection as a sans-IO state machine, shaped like
//! quinn-proto.
//!
//! Inputs: [`Channel::handle_bytes`] / [`Channel::handle_packet`], [`Channel::handle_timeout`]
//! and the glue's answers ([`Channel::accept_connect`], [`Channel::ack_publish`], ...).
//! Outputs, drained by the caller: [`Channel::poll_event`], [`Channel::take_transmit`] and
//! [`Channel::poll_timeout`]. The channel never reads the clock, spawns, awaits or does I/O,
//! and knows nothing about the bus: sessions, inflight windows, packet id allocation, QoS 2
//! de-duplication and retransmission belong to the glue and the bus.
//!
//! # Layout
//! - `mod.rs`: [`Channel`], [`Event`], [`CloseReason`], [`ChannelConfig`], dispatch, closing.
//! - `connect.rs`: CONNECT validation, CONNACK (accept / reject), packets buffered meanwhile.
//! - `publish.rs`: inbound PUBLISH checks, QoS acks, inbound Receive Maximum, outbound PUBLISH.
//! - `alias.rs`: topic alias tables, both directions.
//! - `keepalive.rs`: keep alive and idle timeout.
//! - `subscribe.rs`: SUBACK / UNSUBACK.
//!
//! # Buffering while the CONNECT is being decided
//! After [`Event::Connect`] and until [`Channel::accept_connect`] / [`Channel::reject_connect`]
//! nothing from the client is processed. Packets decoded meanwhile are queued (a decode
//! error too, in its place) and replayed, in order, by `accept_connect`; `reject_connect`
//! drops them. The queue holds at most [`MAX_PENDING`] packets: once full,
//! `handle_bytes` stops decoding and leaves the rest in the caller's buffer, so after
//! `accept_connect` the caller should call `handle_bytes` again if its buffer is not empty.

mod alias;
mod connect;
mod keepalive;
mod publish;
mod subscribe;

use std::collections::{BTreeSet, VecDeque};
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::codec::{
    reason, Codec, Connect, DecodeError, Disconnect, DisconnectProperties, EncodeError, MqttString, Packet,
    ProtocolVersion, Publish, QoS, Subscribe, Unsubscribe,
};

use alias::{InboundAliases, OutboundAliases};
use keepalive::KeepAlive;

/// Most packets queued between CONNECT and the glue's answer (see the module docs).
pub const MAX_PENDING: usize = 128;

/// Per-listener limits and capabilities; shared by every channel of the listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    /// Our inbound packet size limit (codec), advertised as Maximum Packet Size in 5.0.
    pub max_packet_size: u32,
    /// Longer client ids are rejected with 0x85 (5.0) / 0x02 (3.x).
    pub max_clientid_len: usize,
    /// Highest QoS accepted in PUBLISH and in the Will; advertised when below 2.
    pub max_qos_allowed: QoS,
    /// Whether retained messages (and retained Wills) are accepted; advertised when false.
    pub retain_available: bool,
    /// Advertised as Wildcard Subscription Available (0x28 = 0 when false); the glue
    /// enforces it per filter.
    pub wildcard_subscription: bool,
    /// Advertised as Shared Subscription Available (0x2A = 0 when false).
    pub shared_subscription: bool,
    /// Advertised Topic Alias Maximum (omitted when 0); inbound aliases above it are
    /// refused with 0x94.
    pub max_topic_alias: u16,
    /// Advertised Receive Maximum (omitted when 65535); more unacknowledged inbound QoS > 0
    /// PUBLISHes than this closes the connection with 0x93 (5.0).
    pub receive_maximum: u16,
    /// 5.0: overrides the client's keep alive and is sent as Server Keep Alive (0x13).
    pub server_keepalive: Option<u16>,
    /// Close after `keep_alive * keepalive_multiplier` without any packet.
    pub keepalive_multiplier: f32,
    /// Close (sending nothing) when no CONNECT arrives within this after [`Channel::new`].
    pub idle_timeout: Duration,
}

impl Default for ChannelConfig {
    /// EMQX's defaults.
    fn default() -> Self {
        Self {
            max_packet_size: 1024 * 1024,
            max_clientid_len: 65535,
            max_qos_allowed: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscription: true,
            shared_subscription: true,
            max_topic_alias: 65535,
            receive_maximum: 65535,
            server_keepalive: None,
            keepalive_multiplier: 1.5,
            idle_timeout: Duration::from_secs(15),
        }
    }
}

/// What the glue decided about a successful CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnAckParams {
    /// Session Present flag.
    pub session_present: bool,
    /// 5.0: the client id the server assigned to a client that sent an empty one, sent as
    /// Assigned Client Identifier (0x12).
    pub assigned_client_id: Option<MqttString>,
    /// 5.0: sent as Session Expiry Interval (0x11) when the server changed the client's value.
    pub session_expiry_interval: Option<u32>,
}

/// Why [`Channel::send_publish`] did not write the PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// Larger than the client's Maximum Packet Size [MQTT-3.1.2-24]; the caller discards it
    /// and behaves as if it had been sent [MQTT-3.1.2-25].
    TooLarge,
    /// The channel is not connected (not yet accepted, or closed).
    Closed,
}

/// Something the glue must act on.
#[derive(Debug)]
pub enum Event {
    /// A validated CONNECT; answer with [`Channel::accept_connect`] or
    /// [`Channel::reject_connect`].
    Connect(Box<Connect>),
    /// An inbound PUBLISH: topic validated, topic alias resolved into `topic`
    /// (`properties.topic_alias` left as received). Answer QoS > 0 with
    /// [`Channel::ack_publish`]. Re-sent duplicates are passed on too.
    Publish(Publish),
    /// The client acknowledged our QoS 1 PUBLISH.
    PubAck {
        /// Packet Identifier.
        packet_id: NonZeroU16,
        /// 5.0 reason code (0 for 3.x).
        reason_code: u8,
    },
    /// First step of our QoS 2 PUBLISH; unless `reason_code >= 0x80`, the glue calls
    /// [`Channel::send_pubrel`].
    PubRec {
        /// Packet Identifier.
        packet_id: NonZeroU16,
        /// 5.0 reason code (0 for 3.x).
        reason_code: u8,
    },
    /// Our QoS 2 PUBLISH is complete.
    PubComp {
        /// Packet Identifier.
        packet_id: NonZeroU16,
        /// 5.0 reason code (0 for 3.x).
        reason_code: u8,
    },
    /// The client released an inbound QoS 2 PUBLISH; answer [`Channel::complete_release`].
    PubRel {
        /// Packet Identifier.
        packet_id: NonZeroU16,
    },
    /// Answer with [`Channel::ack_subscribe`].
    Subscribe(Subscribe),
    /// Answer with [`Channel::ack_unsubscribe`].
    Unsubscribe(Unsubscribe),
    /// The last event. Input is ignored afterwards; [`Channel::take_transmit`] may still
    /// hold a final CONNACK or DISCONNECT to flush before closing the socket.
    Closed(CloseReason),
}

/// Why the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT. 0x04 = publish the Will; `session_expiry_interval` is
    /// the 5.0 update carried by the DISCONNECT, if any.
    ClientDisconnect {
        /// 5.0 reason code (0 for 3.x).
        reason_code: u8,
        /// Session Expiry Interval from the DISCONNECT (5.0).
        session_expiry_interval: Option<u32>,
    },
    /// The client broke the protocol. In 5.0 a DISCONNECT with `reason_code` was sent
    /// (a CONNACK if the CONNECT was still undecided; nothing before CONNECT); nothing in
    /// 3.x. An unsupported protocol level before CONNECT (0x84) got a 3.x CONNACK 0x01.
    ProtocolError {
        /// 5.0 reason code.
        reason_code: u8,
        /// What was wrong, naming the spec clause.
        detail: String,
    },
    /// No packet within keep alive × multiplier (5.0: DISCONNECT 0x8D was sent).
    KeepAliveTimeout,
    /// No CONNECT within the idle timeout.
    IdleTimeout,
    /// The CONNECT was refused with this 5.0 reason code (CONNACK sent).
    ConnectRejected(u8),
    /// [`Channel::disconnect`] was called with this reason code.
    ServerDisconnect(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing but CONNECT is acceptable [MQTT-3.1.0-1].
    AwaitConnect,
    /// Event::Connect emitted; waiting for accept_connect / reject_connect.
    AwaitAccept,
    Connected,
    Closed,
}

/// What the client declared in CONNECT about itself (5.0 properties; defaults for 3.x).
#[derive(Debug, Clone, Copy)]
struct ClientLimits {
    receive_maximum: u16,
    max_packet_size: u32,
    topic_alias_maximum: u16,
    session_expiry_interval: u32,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            receive_maximum: u16::MAX,
            max_packet_size: u32::MAX,
            topic_alias_maximum: 0,
            session_expiry_interval: 0,
        }
    }
}

/// Packets received while the CONNECT is being decided, replayed on accept.
#[derive(Debug, Default)]
struct Held {
    packets: VecDeque<Packet>,
    /// A decode error that followed them (decoding stops there), replayed last.
    error: Option<DecodeError>,
}

/// Both directions' topic aliases of a 5.0 connection.
#[derive(Debug, Default)]
struct Aliases {
    inbound: InboundAliases,
    outbound: OutboundAliases,
}

/// The server side of one MQTT connection. See the module documentation.
#[derive(Debug)]
pub struct Channel {
    config: Arc<ChannelConfig>,
    codec: Codec,
    state: State,
    version: Option<ProtocolVersion>,
    events: VecDeque<Event>,
    tx: BytesMut,
    /// What arrived while the CONNECT is being decided; boxed, as most connections never
    /// hold anything and every connection keeps its channel for life.
    held: Option<Box<Held>>,
    keepalive: KeepAlive,
    client: ClientLimits,
    /// 5.0 topic aliases, made on the first alias either way (boxed for the same reason).
    aliases: Option<Box<Aliases>>,
    /// Inbound QoS > 0 packet ids not yet released (5.0 Receive Maximum accounting); a
    /// B-tree: small when empty and fast for the few ids a client keeps in flight.
    inbound_unacked: BTreeSet<NonZeroU16>,
}

impl Channel {
    /// A channel for a connection accepted at `now`; the idle timeout starts now.
    pub fn new(config: Arc<ChannelConfig>, now: Instant) -> Self {
        Self {
            codec: Codec::new(config.max_packet_size),
            keepalive: KeepAlive::new(config.keepalive_multiplier, now),
            config,
            state: State::AwaitConnect,
            version: None,
            events: VecDeque::new(),
            tx: BytesMut::new(),
            held: None,
            client: ClientLimits::default(),
            aliases: None,
            inbound_unacked: BTreeSet::new(),
        }
    }

    /// Decodes and handles every complete packet in `buf`, consuming them. Stops after a
    /// close, after a decode error, and while [`MAX_PENDING`] packets wait for the answer
    /// to the CONNECT (the rest stays in `buf`).
    pub fn handle_bytes(&mut self, now: Instant, buf: &mut BytesMut) {
        while self.handle_one(now, buf) {}
    }

    /// Decodes and handles at most one packet from the front of `buf`; returns whether one
    /// was consumed (false: incomplete, closed, or waiting for the CONNECT answer). Lets the
    /// glue stop between packets, e.g. to pause a publisher whose subscribers are behind.
    pub fn handle_one(&mut self, now: Instant, buf: &mut BytesMut) -> bool {
        match self.state {
            State::Closed => return false,
            State::AwaitAccept
                if self.held.as_ref().is_some_and(|h| h.packets.len() >= MAX_PENDING || h.error.is_some()) =>
            {
                return false
            }
            _ => {}
        }
        match self.codec.decode(buf) {
            Ok(Some(packet)) => {
                self.handle_packet(now, packet);
                true
            }
            Ok(None) => false,
            Err(err) => {
                self.on_decode_error(err);
                false
            }
        }
    }

    /// Handles one decoded packet.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) {
        match self.state {
            State::Closed => {}
            State::AwaitConnect => {
                self.keepalive.touch(now);
                match packet {
                    Packet::Connect(connect) => self.on_connect(connect),
                    other => self.fail(
                        reason::PROTOCOL_ERROR,
                        format!("[MQTT-3.1.0-1] first packet must be CONNECT, got {}", packet_name(&other)),
                    ),
                }
            }
            State::AwaitAccept => {
                self.keepalive.touch(now);
                let held = self.held.get_or_insert_with(Box::default);
                if held.packets.len() < MAX_PENDING {
                    held.packets.push_back(packet);
                } else {
                    self.fail(reason::QUOTA_EXCEEDED, format!("more than {MAX_PENDING} packets sent before CONNACK"));
                }
            }
            State::Connected => {
                self.keepalive.touch(now);
                self.on_packet(packet);
            }
        }
    }

    /// The next event, if any. The event buffer is kept: a read of many packets handled one
    /// at a time would otherwise allocate it again for each; [`Channel::shrink_to_fit`] gives
    /// it back once the read is done.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Gives back buffer capacity beyond what is pending (after a read, before idling): an
    /// idle connection keeps no event or transmit buffer, and most connections are idle most
    /// of the time.
    pub fn shrink_to_fit(&mut self) {
        self.events.shrink_to_fit();
        if self.tx.is_empty() {
            self.tx = BytesMut::new();
        }
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

    /// Protocol version, once a CONNECT was received.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The client's Receive Maximum from CONNECT (5.0); 65535 otherwise.
    pub fn client_receive_maximum(&self) -> u16 {
        self.client.receive_maximum
    }

    /// The client's Maximum Packet Size from CONNECT (5.0); `u32::MAX` otherwise.
    pub fn client_max_packet_size(&self) -> u32 {
        self.client.max_packet_size
    }

    /// Effective keep alive in seconds (Server Keep Alive once accepted, in 5.0).
    pub fn keep_alive(&self) -> u16 {
        self.keepalive.secs
    }

    /// Server-initiated close: a 5.0 DISCONNECT with `reason_code` (0x8E session taken
    /// over, 0x8B shutting down, 0x98 administrative action, ...), nothing for 3.x; then
    /// [`Event::Closed`]`(`[`CloseReason::ServerDisconnect`]`)`. Before the CONNECT was
    /// answered, a CONNACK with that reason is sent instead (3.x: mapped by
    /// `reason::connack_v3_code`; a DISCONNECT may not precede the CONNACK); before any
    /// CONNECT, nothing.
    pub fn disconnect(&mut self, reason_code: u8, reason_string: Option<MqttString>) {
        match self.state {
            State::Closed => return,
            State::AwaitConnect => {}
            State::AwaitAccept => self.send_connack_error(reason_code, reason_string),
            State::Connected => {
                if self.is_v5() {
                    self.send_disconnect(reason_code, reason_string);
                }
            }
        }
        self.close(CloseReason::ServerDisconnect(reason_code));
    }

    // ----- internals shared by the submodules -----

    fn is_v5(&self) -> bool {
        self.version == Some(ProtocolVersion::V5)
    }

    /// Dispatches a packet of an accepted connection.
    fn on_packet(&mut self, packet: Packet) {
        match packet {
            Packet::Publish(publish) => self.on_publish(publish),
            Packet::PubAck(ack) => {
                self.events.push_back(Event::PubAck { packet_id: ack.packet_id, reason_code: ack.reason_code })
            }
            Packet::PubRec(ack) => {
                self.events.push_back(Event::PubRec { packet_id: ack.packet_id, reason_code: ack.reason_code })
            }
            Packet::PubComp(ack) => {
                self.events.push_back(Event::PubComp { packet_id: ack.packet_id, reason_code: ack.reason_code })
            }
            Packet::PubRel(ack) => self.events.push_back(Event::PubRel { packet_id: ack.packet_id }),
            Packet::Subscribe(subscribe) => self.events.push_back(Event::Subscribe(subscribe)),
            Packet::Unsubscribe(unsubscribe) => self.events.push_back(Event::Unsubscribe(unsubscribe)),
            Packet::PingReq => self.send(&Packet::PingResp),
            Packet::Disconnect(disconnect) => self.on_disconnect(disconnect),
            Packet::Connect(_) => {
                self.fail(reason::PROTOCOL_ERROR, "[MQTT-3.1.0-2] second CONNECT on a connection".to_owned())
            }
            Packet::Auth(_) => self.fail(
                reason::PROTOCOL_ERROR,
                "[§3.15] AUTH without an Authentication Method in CONNECT (enhanced authentication is not supported)"
                    .to_owned(),
            ),
            other @ (Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp) => self
                .fail(reason::PROTOCOL_ERROR, format!("[§2.1.2] {} may only be sent by a server", packet_name(&other))),
        }
    }

    /// Client DISCONNECT (§3.14).
    fn on_disconnect(&mut self, disconnect: Disconnect) {
        let expiry = disconnect.properties.session_expiry_interval;
        if self.is_v5() && self.client.session_expiry_interval == 0 && expiry.is_some_and(|e| e != 0) {
            self.fail(
                reason::PROTOCOL_ERROR,
                "[§3.14.2.2.2] non-zero Session Expiry Interval in DISCONNECT after 0 in CONNECT".to_owned(),
            );
            return;
        }
        let reason_code = if self.is_v5() { disconnect.reason_code } else { reason::NORMAL_DISCONNECTION };
        self.close(CloseReason::ClientDisconnect {
            reason_code,
            session_expiry_interval: if self.is_v5() { expiry } else { None },
        });
    }

    fn on_decode_error(&mut self, err: DecodeError) {
        // The decoder refuses a Topic Alias of 0 as an invalid property value (0x82), but
        // §3.3.4 asks for 0x94 Topic Alias invalid [MQTT-3.3.2-8].
        let code = match err {
            DecodeError::InvalidPropertyValue(0x23) => reason::TOPIC_ALIAS_INVALID,
            _ => err.reason_code(),
        };
        match self.state {
            State::Closed => {}
            State::AwaitConnect => {
                if err.reason_code() == reason::UNSUPPORTED_PROTOCOL_VERSION {
                    // [MQTT-3.1.2-2]: answer in the one format every version understands,
                    // a 3.x CONNACK with return code 0x01 (unacceptable protocol version).
                    self.tx.extend_from_slice(&[0x20, 0x02, 0x00, reason::v3::UNACCEPTABLE_PROTOCOL_VERSION]);
                }
                self.fail(code, err.to_string());
            }
            // Handled in order once the CONNECT is decided.
            State::AwaitAccept => self.held.get_or_insert_with(Box::default).error = Some(err),
            State::Connected => self.fail(code, err.to_string()),
        }
    }

    /// Closes for a protocol error, telling the client what it can understand: nothing
    /// before CONNECT or in 3.x, a CONNACK while the CONNECT is undecided, a DISCONNECT
    /// afterwards (5.0, §4.13).
    fn fail(&mut self, reason_code: u8, detail: String) {
        match self.state {
            State::Closed => return,
            State::AwaitConnect => {}
            State::AwaitAccept => {
                if self.is_v5() {
                    self.send_connack_error(reason_code, None);
                }
            }
            State::Connected => {
                if self.is_v5() {
                    self.send_disconnect(reason_code, None);
                }
            }
        }
        self.close(CloseReason::ProtocolError { reason_code, detail });
    }

    /// Queues the one and only [`Event::Closed`].
    fn close(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.held = None;
        self.events.push_back(Event::Closed(reason));
    }

    /// 5.0 DISCONNECT; the reason string is dropped if it would make the packet larger
    /// than the client accepts [MQTT-3.14.2-3].
    fn send_disconnect(&mut self, reason_code: u8, reason_string: Option<MqttString>) {
        let mut packet = Packet::Disconnect(Disconnect {
            reason_code,
            properties: DisconnectProperties { reason_string, ..Default::default() }.into(),
        });
        if self.too_large_for_client(&packet) {
            packet = Packet::Disconnect(Disconnect { reason_code, ..Default::default() });
        }
        self.send(&packet);
    }

    fn too_large_for_client(&self, packet: &Packet) -> bool {
        let version = self.version.unwrap_or(ProtocolVersion::V5);
        crate::codec::encoded_len(packet, version) as u64 > u64::from(self.client.max_packet_size)
    }

    /// Encodes a control packet into the transmit buffer.
    fn send(&mut self, packet: &Packet) {
        // Control packets built here are always representable; if one is not, nothing
        // half-written may stay in the buffer.
        let _ = self.try_send(packet);
    }

    fn try_send(&mut self, packet: &Packet) -> Result<(), EncodeError> {
        let mark = self.tx.len();
        self.codec.encode(packet, &mut self.tx).inspect_err(|_| self.tx.truncate(mark))
    }
}

/// The packet's name, for error details.
fn packet_name(packet: &Packet) -> &'static str {
    match packet {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect(_) => "DISCONNECT",
        Packet::Auth(_) => "AUTH",
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::Event;
    use crate::codec::{Packet, Publish};

    /// Packets and events are moved by value once or more per message on the hot path
    /// (decoder → channel → event queue → glue, and PUBACKs back), so their size is memmove
    /// per message. A PUBLISH is its topic and payload (`Bytes`, 32 bytes each), a pointer to
    /// its properties and a few bytes of flags and packet id; no other variant may be larger.
    /// Anything big and rarely set goes behind a `Box` or a `PropertyBox`.
    #[test]
    fn packets_and_events_stay_small() {
        let sizes = [("Publish", size_of::<Publish>()), ("Packet", size_of::<Packet>()), ("Event", size_of::<Event>())];
        for (name, size) in sizes {
            assert!(size <= 80, "{name} is {size} bytes, more than 80");
        }
    }

    /// Every connection keeps its channel for life, hibernated or not (issue 7: at most 1 KB
    /// per idle connection), so state that most connections never use is boxed.
    #[test]
    fn a_channel_stays_small() {
        let size = size_of::<super::Channel>();
        println!("Channel: {size} bytes");
        assert!(size <= 160, "Channel is {size} bytes, more than 160");
    }
}
