//! Sessions: what the bus keeps for a client id across connections.
//!
//! A session holds the subscriptions, the mqueue (messages waiting to be sent), the inflight
//! window (sent QoS 1/2 messages not yet acknowledged), the exactly-once state of incoming
//! QoS 2 messages, the will and the expiry. It lives apart from any connection: a connection
//! *attaches* to it, and when the connection goes, the session is parked until it expires.
//!
//! Every attachment gets a new generation number; a connection whose generation is no longer
//! the session's has been taken over and may not touch the session any more.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::num::NonZeroU16;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::doorbell::Doorbell;
use super::drain::DrainSignal;
use super::lazy_deque::LazyDeque;
use super::message::{ClientId, Delivery, Message, QoS};
use super::queue::{MessageQueue, QueueLimits};
use super::topic::SubscriptionFilter;
use super::trie::{SubOptions, SubscriberId};

/// Session limits (`mqtt.*` keys named as in EMQX).
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// `mqtt.max_mqueue_len`: 0 = unlimited.
    pub max_mqueue_len: usize,
    /// `mqtt.max_mqueue_bytes`: 0 = unlimited.
    pub max_mqueue_bytes: usize,
    /// `mqtt.mqueue_store_qos0`: queue QoS 0 messages for offline sessions.
    pub mqueue_store_qos0: bool,
    /// `mqtt.max_inflight`: unacknowledged QoS 1/2 deliveries per session.
    pub max_inflight: u16,
    /// `mqtt.retry_interval`: resend unacknowledged deliveries after this; None = only on reconnect.
    pub retry_interval: Option<Duration>,
    /// `mqtt.max_awaiting_rel`: incoming QoS 2 messages waiting for PUBREL.
    pub max_awaiting_rel: usize,
    /// `mqtt.await_rel_timeout`: forget an incoming QoS 2 packet id after this without PUBREL.
    pub await_rel_timeout: Duration,
    /// `mqtt.publish_backpressure_stall`: a connected subscriber whose mqueue is more than
    /// half full pauses publishers (`mqtt.publish_backpressure`) only if it took deliveries
    /// within this long; one that did not is stuck, not slow, and its oldest are dropped as the
    /// queue overflows. None = publishers are never paused (back-pressure disabled).
    pub publish_backpressure_stall: Option<Duration>,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_mqueue_len: 1000,
            max_mqueue_bytes: 0,
            mqueue_store_qos0: true,
            max_inflight: 32,
            retry_interval: None,
            max_awaiting_rel: 100,
            await_rel_timeout: Duration::from_secs(300),
            publish_backpressure_stall: Some(Duration::from_secs(1)),
        }
    }
}

impl SessionLimits {
    pub(crate) fn queue_limits(&self) -> QueueLimits {
        QueueLimits { max_len: self.max_mqueue_len, max_bytes: self.max_mqueue_bytes }
    }

    /// Back-pressure's high watermark: an mqueue more than half full (never when unbounded).
    pub(crate) fn is_over_half_full(&self, queued: usize) -> bool {
        self.max_mqueue_len != 0 && queued * 2 > self.max_mqueue_len
    }

    /// Back-pressure's low watermark: an mqueue down to a quarter wakes a paused publisher.
    pub(crate) fn is_drained(&self, queued: usize) -> bool {
        queued * 4 <= self.max_mqueue_len
    }
}

/// A will message and its delay (MQTT 5 Will Delay Interval; 0 for older protocols).
#[derive(Debug, Clone)]
pub struct Will {
    /// The message to publish.
    pub message: Message,
    /// How long after an abnormal disconnect to publish it.
    pub delay: Duration,
    /// Message expiry counted from when the will is published (MQTT 5).
    pub message_expiry: Option<Duration>,
}

/// Where an unacknowledged delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflightPhase {
    /// Sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    AwaitingAck,
    /// PUBREC received and PUBREL sent; waiting for PUBCOMP.
    AwaitingComp,
}

#[derive(Debug)]
pub(crate) struct InflightEntry {
    pub(crate) packet_id: NonZeroU16,
    pub(crate) delivery: Delivery,
    pub(crate) phase: InflightPhase,
    pub(crate) sent_at: Instant,
}

/// Something the connection must send for the session.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A message; `packet_id` is `Some` for QoS 1/2.
    Publish {
        /// Packet id for QoS 1/2.
        packet_id: Option<NonZeroU16>,
        /// The delivery.
        delivery: Delivery,
        /// Whether this is a resend (DUP flag).
        dup: bool,
    },
    /// Second step of an outgoing QoS 2 exchange, sent again on resume/retry.
    PubRel(NonZeroU16),
}

/// What a connection did with a delivery handed to it by [`super::SessionHandle::send_outbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Written out.
    Sent,
    /// Cannot be sent (larger than the client accepts): over, as if delivered
    /// [MQTT-3.1.2-25].
    Discarded,
    /// The connection is closing: take nothing more (a QoS > 0 delivery stays in flight).
    Stop,
}

/// Result of registering an incoming QoS 2 packet id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncomingQos2 {
    /// First time: publish the message.
    New,
    /// Already received and waiting for PUBREL: do not publish again [MQTT-4.3.3-10].
    Duplicate,
    /// `max_awaiting_rel` reached.
    Full,
}

#[derive(Debug)]
pub(crate) struct Attachment {
    pub(crate) doorbell: Arc<Doorbell>,
    /// When the connection last took deliveries (or its empty queue got one): a subscriber
    /// that makes no progress for `publish_backpressure_stall` is stuck, not slow, and no longer
    /// pauses publishers.
    pub(crate) last_progress: Instant,
}

impl Attachment {
    pub(crate) fn new(doorbell: Arc<Doorbell>, now: Instant) -> Self {
        Self { doorbell, last_progress: now }
    }

    /// Whether a connection with this many queued is a slow consumer publishers should wait for.
    pub(crate) fn is_congested(&self, queued: usize, limits: &SessionLimits, now: Instant) -> bool {
        let Some(window) = limits.publish_backpressure_stall else { return false };
        limits.is_over_half_full(queued) && now - self.last_progress < window
    }
}

#[derive(Debug)]
pub(crate) struct SessionState {
    /// B-trees rather than hash maps here: an idle session keeps them for life, and an empty
    /// B-tree is 24 bytes where a hash map (with its hasher keys) is 48.
    pub(crate) subscriptions: BTreeMap<SubscriptionFilter, SubOptions>,
    pub(crate) mqueue: MessageQueue,
    /// Retained messages owed to new subscriptions: sent before the mqueue and not bounded by
    /// it, so a `#` subscriber receives every retained message (bounded by the store itself).
    pub(crate) retained_backlog: LazyDeque<Delivery>,
    pub(crate) inflight: LazyDeque<InflightEntry>,
    next_packet_id: u16,
    pub(crate) awaiting_rel: BTreeMap<u16, Instant>,
    pub(crate) attachment: Option<Attachment>,
    pub(crate) generation: u64,
    pub(crate) expiry: ExpirySecs,
    /// Boxed: most sessions have none, and an idle session should stay small.
    pub(crate) will: Option<Box<Will>>,
    /// Set once the session has ended, so late operations become no-ops.
    pub(crate) terminated: bool,
    /// The inflight window was full when the attached connection last took deliveries, and
    /// nothing has completed since: a new delivery needing a slot gives it nothing to do
    /// until an acknowledgement, after which it takes anyway ([`Self::wants_ring`]).
    window_full: bool,
    /// Created the first time the mqueue congests; publishers paused by it wait on it.
    pub(crate) drain: Option<Arc<DrainSignal>>,
}

/// A session's expiry interval in whole seconds (MQTT 5 counts it in seconds; a fraction
/// rounds up, so only zero ends a session at disconnect), `u32::MAX` for never: 4 bytes in
/// every session rather than an `Option<Duration>`'s 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExpirySecs(u32);

impl ExpirySecs {
    const NEVER: u32 = u32::MAX;

    pub(crate) fn new(expiry: Option<Duration>) -> Self {
        Self(expiry.map_or(Self::NEVER, |d| {
            let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
            u32::try_from(secs).unwrap_or(Self::NEVER).min(Self::NEVER - 1)
        }))
    }

    /// None = never expires.
    pub(crate) fn get(self) -> Option<Duration> {
        (self.0 != Self::NEVER).then(|| Duration::from_secs(self.0.into()))
    }
}

/// One session; shared by the registry, the router (through its subscriber id) and the
/// attached connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client_id: ClientId,
    pub(crate) id: SubscriberId,
    /// Mirrors `state.attachment.is_some()` so shared-subscription picking can prefer
    /// connected members without taking every member's lock.
    pub(crate) connected: AtomicBool,
    /// Mirrors "connected and mqueue more than half full" so a publisher can stop adding to
    /// a [`super::PublishBatch`] without taking the lock; a hint, not a guarantee.
    pub(crate) congested: AtomicBool,
    pub(crate) state: Mutex<SessionState>,
}

impl Session {
    pub(crate) fn new(client_id: ClientId, id: SubscriberId, generation: u64, expiry: Option<Duration>) -> Self {
        Self {
            client_id,
            id,
            connected: AtomicBool::new(false),
            congested: AtomicBool::new(false),
            state: Mutex::new(SessionState {
                subscriptions: BTreeMap::new(),
                mqueue: MessageQueue::default(),
                retained_backlog: LazyDeque::default(),
                inflight: LazyDeque::default(),
                next_packet_id: 1,
                awaiting_rel: BTreeMap::new(),
                attachment: None,
                generation,
                expiry: ExpirySecs::new(expiry),
                will: None,
                terminated: false,
                window_full: false,
                drain: None,
            }),
        }
    }
}

impl SessionState {
    /// Next free packet id (1..=65535, skipping ids in flight).
    fn allocate_packet_id(&mut self) -> NonZeroU16 {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if let Some(id) = NonZeroU16::new(id) {
                if !self.inflight.iter().any(|e| e.packet_id == id) {
                    return id;
                }
            }
        }
    }

    /// Moves deliveries into `out`: retained backlog first, then the mqueue, QoS 1/2 ones
    /// only while the inflight window has room. At most `max_batch` per call so one wake-up
    /// cannot build an unbounded write buffer. Returns how many expired ones were skipped.
    /// Hands at most `max_batch` deliveries to `send`, a QoS > 0 one only while fewer than
    /// `window` are in flight: a QoS 0 delivery by value, a QoS > 0 one by reference to its
    /// place in the in-flight window (no copy of it, and no touch of the message's reference
    /// count). Returns how many were taken and how many had expired.
    pub(crate) fn take_outbound(
        &mut self,
        now: Instant,
        window: usize,
        max_batch: usize,
        mut send: impl FnMut(Cow<'_, Delivery>, Option<NonZeroU16>) -> Sent,
    ) -> (usize, u64) {
        let mut expired = 0;
        let mut taken = 0;
        while taken < max_batch {
            let from_backlog = !self.retained_backlog.is_empty();
            let next = if from_backlog { self.retained_backlog.pop_front() } else { self.mqueue.pop() };
            let Some(delivery) = next else { break };
            if delivery.message.is_expired(now) {
                expired += 1;
                continue;
            }
            if delivery.qos == QoS::AtMostOnce {
                taken += 1;
                if send(Cow::Owned(delivery), None) == Sent::Stop {
                    break;
                }
                continue;
            }
            if self.inflight.len() >= window {
                if from_backlog {
                    self.retained_backlog.push_front(delivery);
                } else {
                    self.mqueue.push_front(delivery);
                }
                break;
            }
            let packet_id = self.allocate_packet_id();
            self.inflight.push_back(InflightEntry {
                packet_id,
                delivery,
                phase: InflightPhase::AwaitingAck,
                sent_at: now,
            });
            let entry = self.inflight.back().expect("just pushed");
            taken += 1;
            match send(Cow::Borrowed(&entry.delivery), Some(packet_id)) {
                Sent::Sent => {}
                Sent::Discarded => {
                    self.inflight.pop_back();
                }
                Sent::Stop => break,
            }
        }
        self.window_full = self.inflight.len() >= window;
        (taken, expired)
    }

    /// Whether ringing the attached connection's doorbell could make it send something: a
    /// publisher skips the ring (a task wake-up, and for a sleeper its socket back into the
    /// reactor) when the next delivery waits for a slot of a window that was full. The
    /// acknowledgement freeing a slot is followed by a take (`SessionHandle::complete_all`'s
    /// caller) or a ring (`SessionHandle::complete`).
    pub(crate) fn wants_ring(&self) -> bool {
        let head = self.retained_backlog.front().or_else(|| self.mqueue.front());
        !self.window_full || head.is_some_and(|d| d.qos == QoS::AtMostOnce)
    }

    /// Attaches a connection, whose window is not known to be full.
    pub(crate) fn attach(&mut self, doorbell: Arc<Doorbell>, now: Instant) {
        self.attachment = Some(Attachment::new(doorbell, now));
        self.window_full = false;
    }

    /// Whether `take_outbound` would produce something now.
    pub(crate) fn has_sendable(&self, window: usize) -> bool {
        let head = self.retained_backlog.front().or_else(|| self.mqueue.front());
        head.is_some_and(|d| d.qos == QoS::AtMostOnce || self.inflight.len() < window)
    }

    /// Everything in flight, to send again after a reconnect (PUBLISH with DUP, or PUBREL).
    pub(crate) fn resend_all(&mut self, now: Instant, out: &mut Vec<Outbound>) {
        for entry in self.inflight.iter_mut() {
            entry.sent_at = now;
            out.push(resend_of(entry));
        }
    }

    /// In-flight entries older than `retry`, to send again.
    pub(crate) fn resend_due(&mut self, now: Instant, retry: Duration, out: &mut Vec<Outbound>) {
        for entry in self.inflight.iter_mut() {
            if entry.sent_at + retry <= now {
                entry.sent_at = now;
                out.push(resend_of(entry));
            }
        }
    }

    pub(crate) fn next_retry_at(&self, retry: Duration) -> Option<Instant> {
        self.inflight.iter().map(|e| e.sent_at + retry).min()
    }

    /// PUBACK or PUBCOMP: the exchange is over.
    pub(crate) fn complete(&mut self, packet_id: NonZeroU16) -> Option<Delivery> {
        let i = self.inflight.iter().position(|e| e.packet_id == packet_id)?;
        self.window_full = false;
        self.inflight.remove(i).map(|e| e.delivery)
    }

    /// PUBREC: the receiver has the message; PUBREL follows.
    pub(crate) fn received(&mut self, packet_id: NonZeroU16, now: Instant) -> bool {
        match self.inflight.iter_mut().find(|e| e.packet_id == packet_id) {
            Some(e) => {
                e.phase = InflightPhase::AwaitingComp;
                e.sent_at = now;
                true
            }
            None => false,
        }
    }

    pub(crate) fn incoming_qos2(
        &mut self,
        packet_id: NonZeroU16,
        now: Instant,
        limits: &SessionLimits,
    ) -> IncomingQos2 {
        let timeout = limits.await_rel_timeout;
        self.awaiting_rel.retain(|_, at| *at + timeout > now);
        if self.awaiting_rel.contains_key(&packet_id.get()) {
            return IncomingQos2::Duplicate;
        }
        if limits.max_awaiting_rel != 0 && self.awaiting_rel.len() >= limits.max_awaiting_rel {
            return IncomingQos2::Full;
        }
        self.awaiting_rel.insert(packet_id.get(), now);
        IncomingQos2::New
    }
}

fn resend_of(entry: &InflightEntry) -> Outbound {
    match entry.phase {
        InflightPhase::AwaitingAck => {
            Outbound::Publish { packet_id: Some(entry.packet_id), delivery: entry.delivery.clone(), dup: true }
        }
        InflightPhase::AwaitingComp => Outbound::PubRel(entry.packet_id),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::ExpirySecs;

    #[test]
    fn an_expiry_keeps_whole_seconds_rounding_fractions_up() {
        assert_eq!(ExpirySecs::new(None).get(), None);
        assert_eq!(ExpirySecs::new(Some(Duration::ZERO)).get(), Some(Duration::ZERO));
        assert_eq!(ExpirySecs::new(Some(Duration::from_millis(1))).get(), Some(Duration::from_secs(1)));
        assert_eq!(ExpirySecs::new(Some(Duration::from_secs(7200))).get(), Some(Duration::from_secs(7200)));
        let longest = Some(Duration::from_secs(u64::from(u32::MAX) - 1));
        assert_eq!(ExpirySecs::new(Some(Duration::from_secs(u64::MAX))).get(), longest);
        assert_eq!(ExpirySecs::new(Some(Duration::from_secs(u64::from(u32::MAX)))).get(), longest);
    }

    /// Every session is kept for life, most of them idle (issue 7: at most 1 KB per idle
    /// connection): what an idle session does not use is behind a pointer.
    #[test]
    fn an_idle_session_stays_small() {
        let size = size_of::<super::Session>();
        println!("Session: {size} bytes");
        // With the Arc's counts 184 bytes: 192 is an allocator size class (jemalloc's).
        assert!(size <= 168, "Session is {size} bytes, more than 168");
    }
}
