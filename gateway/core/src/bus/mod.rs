//! The protocol-neutral pub/sub bus: routing, retained messages and sessions.
//!
//! Front-ends reach it through [`Bus`] (open a session, publish without a session, auth) and
//! the [`SessionHandle`] of an open session (publish, subscribe, unsubscribe, take what to
//! send, acknowledge, close). The bus never sees a protocol packet and never awaits a client:
//! publishing pushes into bounded per-session queues and rings the owner's [`Doorbell`].
//!
//! # Locks
//! `registry` → `Session::state`; the router lock and the retained lock are only ever taken
//! alone or after releasing a session lock, never while holding one.

mod auth;
mod batch;
mod doorbell;
mod drain;
mod lazy_deque;
mod message;
mod metrics;
mod queue;
mod registry;
mod retain;
mod session;
mod shared;
mod topic;
mod trie;

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU16;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::time::Instant;

pub use auth::{Action, AllowAll, AuthDecision, AuthFuture, Authenticator, Authorizer, ClientInfo};
pub use batch::PublishBatch;
pub use doorbell::{Doorbell, KickReason};
pub use drain::DrainSignal;
pub use message::{ClientId, Delivery, Message, MessageProps, QoS, SharedOrigin};
pub use metrics::Metrics;
pub use queue::{MessageQueue, QueueLimits};
pub use retain::{RetainLimits, RetainOutcome, RetainedStore};
pub use session::{IncomingQos2, InflightPhase, Outbound, Sent, SessionLimits, Will};
pub use shared::SharedStrategy;
pub use topic::{level_count, SubscriptionFilter, Topic, TopicError, TopicFilter, MAX_TOPIC_LEN};
pub use trie::{SubOptions, SubscriberId, SubscriptionTrie};

use registry::SessionRegistry;
use session::{ExpirySecs, Session, SessionState};

/// Bus configuration, built by the server from `mqtt.*` and `retainer.*`.
#[derive(Debug, Clone)]
pub struct BusConfig {
    /// Session limits.
    pub session: SessionLimits,
    /// Retained store limits; `None` disables retained messages (`retainer.enable = false`).
    pub retain: Option<RetainLimits>,
    /// `mqtt.shared_subscription_strategy`.
    pub shared_strategy: SharedStrategy,
    /// `mqtt.max_topic_levels`: 0 = unlimited.
    pub max_topic_levels: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            session: SessionLimits::default(),
            retain: Some(RetainLimits {
                max_retained_messages: 0,
                max_payload_size: 1024 * 1024,
                msg_expiry_interval: None,
            }),
            shared_strategy: SharedStrategy::RoundRobin,
            max_topic_levels: 128,
        }
    }
}

/// Retain Handling of a subscribe (MQTT 5 §3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    /// Send retained messages.
    #[default]
    Send,
    /// Send them only if the subscription is new.
    SendIfNew,
    /// Do not send them.
    DoNotSend,
}

/// Why a subscribe was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The filter has more levels than `mqtt.max_topic_levels`.
    #[error("topic filter has too many levels")]
    TooManyLevels,
    /// The session is gone (taken over or closed).
    #[error("session is no longer attached to this connection")]
    Detached,
}

/// Why a publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The topic has more levels than `mqtt.max_topic_levels`.
    #[error("topic has too many levels")]
    TooManyLevels,
}

/// What a publish did.
#[derive(Debug, Clone, Default)]
pub struct PublishOutcome {
    /// Number of sessions the message was queued for.
    pub matched: usize,
    /// Set when a connected subscriber's mqueue is more than half full and the subscriber is
    /// making progress: the publisher should stop reading until the signal wakes it or for at
    /// most `mqtt.publish_backpressure`, so the subscriber catches up instead of losing its
    /// oldest messages.
    pub congested: Option<Arc<DrainSignal>>,
}

/// Opening a session for a new connection.
#[derive(Debug)]
pub struct OpenSession {
    /// Client identifier (already assigned if the client sent none).
    pub client_id: ClientId,
    /// Discard any existing session (MQTT Clean Start / Clean Session).
    pub clean_start: bool,
    /// Session expiry after disconnect; `None` = never; zero = ends with the connection.
    pub expiry: Option<Duration>,
    /// The connection's will, if any.
    pub will: Option<Will>,
    /// The connection's doorbell.
    pub doorbell: Arc<Doorbell>,
}

/// How a connection ends its attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// Normal disconnect: the will is discarded.
    Normal,
    /// Abnormal end (network error, keep-alive, protocol error, or MQTT 5 DISCONNECT 0x04):
    /// the will is published (after its delay).
    WithWill,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Expire { client_id: ClientId, generation: u64 },
    Will { client_id: ClientId, generation: u64 },
}

struct RouterState {
    trie: SubscriptionTrie,
    /// Subscriber id → session; the trie stores ids only.
    sessions: Vec<Option<Arc<Session>>>,
    free_ids: Vec<SubscriberId>,
}

impl RouterState {
    fn session(&self, id: SubscriberId) -> Option<&Arc<Session>> {
        self.sessions.get(id as usize).and_then(Option::as_ref)
    }
}

struct BusInner {
    config: BusConfig,
    router: RwLock<RouterState>,
    retained: Option<RwLock<RetainedStore>>,
    registry: Mutex<SessionRegistry>,
    timers: Mutex<BinaryHeap<Reverse<(Instant, Timer)>>>,
    timers_changed: Notify,
    generation: AtomicU64,
    metrics: Metrics,
    /// Shared by every UDP listener's datagram driver.
    datagram_stats: Arc<crate::conn::datagram::DatagramStats>,
    authenticator: Arc<dyn Authenticator>,
    authorizer: Arc<dyn Authorizer>,
}

/// The bus; cheap to clone, shared by every front-end.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<BusInner>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

/// A session opened for a connection.
#[derive(Debug)]
pub struct OpenedSession {
    /// The handle the connection uses from now on.
    pub handle: SessionHandle,
    /// Whether an existing session was resumed (MQTT Session Present).
    pub session_present: bool,
}

impl Bus {
    /// A bus with the default allow-all authentication and authorization.
    pub fn new(config: BusConfig) -> Self {
        Self::with_auth(config, Arc::new(AllowAll), Arc::new(AllowAll))
    }

    /// A bus with the given authentication and authorization backends.
    pub fn with_auth(
        config: BusConfig,
        authenticator: Arc<dyn Authenticator>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Self {
        let retained = config.retain.clone().map(|limits| RwLock::new(RetainedStore::new(limits)));
        Self {
            inner: Arc::new(BusInner {
                config,
                router: RwLock::new(RouterState {
                    trie: SubscriptionTrie::new(),
                    sessions: Vec::new(),
                    free_ids: Vec::new(),
                }),
                retained,
                registry: Mutex::new(SessionRegistry::default()),
                timers: Mutex::new(BinaryHeap::new()),
                timers_changed: Notify::new(),
                generation: AtomicU64::new(1),
                metrics: Metrics::default(),
                datagram_stats: Arc::default(),
                authenticator,
                authorizer,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BusConfig {
        &self.inner.config
    }

    /// Counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The datagram drivers' counters (per-peer queue overflow and the like), for the UDP
    /// listeners to count into and `$SYS/` to export.
    pub fn datagram_stats(&self) -> &Arc<crate::conn::datagram::DatagramStats> {
        &self.inner.datagram_stats
    }

    /// Authenticates a connecting client.
    pub async fn authenticate(&self, client: &ClientInfo, password: Option<&[u8]>) -> AuthDecision {
        self.inner.authenticator.authenticate(client, password).await
    }

    /// Whether `client` may do `action` on `topic`.
    pub fn authorize(&self, client: &ClientInfo, action: Action, topic: &str) -> bool {
        self.inner.authorizer.authorize(client, action, topic)
    }

    /// Number of sessions (connected and parked).
    pub fn session_count(&self) -> usize {
        self.inner.registry.lock().len()
    }

    /// Number of sessions a connection is attached to.
    pub fn connection_count(&self) -> usize {
        self.inner.registry.lock().iter().filter(|s| s.connected.load(Ordering::Relaxed)).count()
    }

    /// Number of subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.inner.router.read().trie.len()
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.inner.retained.as_ref().map_or(0, |r| r.read().len())
    }

    /// Whether `client_id` has a session that a connection is attached to.
    pub fn is_connected(&self, client_id: &ClientId) -> bool {
        self.inner.registry.lock().get(client_id).is_some_and(|s| s.connected.load(Ordering::Acquire))
    }

    fn next_generation(&self) -> u64 {
        self.inner.generation.fetch_add(1, Ordering::Relaxed)
    }

    /// Opens (or resumes, or takes over) the session of `req.client_id` for a new connection.
    ///
    /// If a connection is attached to the session, it is kicked; with `clean_start` the old
    /// session is discarded, otherwise its subscriptions, queue and inflight messages move to
    /// the new connection atomically, under the session lock, so nothing is lost.
    pub fn open_session(&self, req: OpenSession, now: Instant) -> OpenedSession {
        let generation = self.next_generation();
        let mut registry = self.inner.registry.lock();
        let existing = registry.get(&req.client_id).cloned();
        let mut old_will = None;
        let resumed = match existing {
            Some(old) => {
                let mut st = old.state.lock();
                if let Some(att) = st.attachment.take() {
                    let reason = if req.clean_start { KickReason::Discarded } else { KickReason::TakenOver };
                    att.doorbell.kick(reason);
                    Metrics::inc(&self.inner.metrics.sessions_takenover);
                    // The old connection ended without DISCONNECT, so its will is due now,
                    // unless it has a delay and the session is resumed before it elapses
                    // [MQTT-3.1.3-9].
                    if let Some(will) = st.will.take() {
                        if req.clean_start || will.delay.is_zero() {
                            old_will = Some(will);
                        }
                    }
                } else if let Some(will) = st.will.take() {
                    // Parked with a delayed will: a clean start ends the session, which
                    // publishes the will; a resume cancels it [MQTT-3.1.3-9].
                    if req.clean_start {
                        old_will = Some(will);
                    }
                }
                if req.clean_start {
                    st.terminated = true;
                    drop(st);
                    registry.remove(&req.client_id);
                    self.finish_termination(&old, now);
                    None
                } else {
                    st.generation = generation;
                    st.attach(req.doorbell.clone(), now);
                    st.will = req.will.clone().map(Box::new);
                    st.expiry = ExpirySecs::new(req.expiry);
                    old.connected.store(true, Ordering::Release);
                    drop(st);
                    Some(old)
                }
            }
            None => None,
        };
        let (session, present) = match resumed {
            Some(session) => {
                Metrics::inc(&self.inner.metrics.sessions_resumed);
                (session, true)
            }
            None => {
                let id = self.allocate_subscriber_id();
                let session = Arc::new(Session::new(req.client_id.clone(), id, generation, req.expiry));
                {
                    let mut st = session.state.lock();
                    st.attach(req.doorbell.clone(), now);
                    st.will = req.will.map(Box::new);
                }
                session.connected.store(true, Ordering::Release);
                self.inner.router.write().sessions[id as usize] = Some(session.clone());
                registry.insert(session.clone());
                Metrics::inc(&self.inner.metrics.sessions_created);
                (session, false)
            }
        };
        drop(registry);
        if let Some(will) = old_will {
            self.publish_will(*will, now);
        }
        req.doorbell.ring();
        OpenedSession { handle: SessionHandle { bus: self.clone(), session, generation }, session_present: present }
    }

    fn allocate_subscriber_id(&self) -> SubscriberId {
        let mut router = self.inner.router.write();
        if let Some(id) = router.free_ids.pop() {
            return id;
        }
        router.sessions.push(None);
        SubscriberId::try_from(router.sessions.len() - 1).unwrap_or(SubscriberId::MAX)
    }

    /// Publishes a message that comes from no session (a will, an API call, a QoS -1 publish).
    pub fn publish(&self, message: Message, now: Instant) -> Result<PublishOutcome, PublishError> {
        self.route(message, None, now)
    }

    /// Publishes a message the gateway itself produces (`$SYS/` topics): routed like any
    /// other but, as in EMQX, not counted in `messages.received` (messages from clients),
    /// nor in `messages.dropped.no_subscribers` when nobody listens.
    pub fn publish_internal(&self, message: Message, now: Instant) -> Result<PublishOutcome, PublishError> {
        self.route_message(message, None, now, false)
    }

    fn publish_will(&self, will: Will, now: Instant) {
        Metrics::inc(&self.inner.metrics.messages_will_published);
        let mut message = will.message;
        message.expires_at = will.message_expiry.map(|d| now + d);
        if let Err(e) = self.route(message, None, now) {
            tracing::debug!(error = %e, "will_not_published");
        }
    }

    fn route(
        &self,
        message: Message,
        from: Option<SubscriberId>,
        now: Instant,
    ) -> Result<PublishOutcome, PublishError> {
        self.route_message(message, from, now, true)
    }

    fn route_message(
        &self,
        message: Message,
        from: Option<SubscriberId>,
        now: Instant,
        count_received: bool,
    ) -> Result<PublishOutcome, PublishError> {
        let mut batch = PublishBatch::new();
        let matched = self.route_into(&mut batch, message, from, now, count_received)?;
        let congested = self.flush(&mut batch, now);
        Ok(PublishOutcome { matched, congested })
    }

    /// Routes a message into `batch` (queued by [`Bus::flush`]). Returns how many sessions
    /// it matched.
    fn route_into(
        &self,
        batch: &mut PublishBatch,
        message: Message,
        from: Option<SubscriberId>,
        now: Instant,
        count_received: bool,
    ) -> Result<usize, PublishError> {
        let limit = self.inner.config.max_topic_levels;
        if limit != 0 && message.topic.levels() > limit {
            return Err(PublishError::TooManyLevels);
        }
        if count_received {
            Metrics::inc(&self.inner.metrics.messages_received);
        }
        if message.retain {
            if let Some(store) = &self.inner.retained {
                let outcome = store.write().retain(&message, now);
                if matches!(outcome, RetainOutcome::TooLarge | RetainOutcome::Full) {
                    Metrics::inc(&self.inner.metrics.messages_retained_refused);
                }
            }
        }
        let message = Arc::new(message);
        let strategy = self.inner.config.shared_strategy;
        let mut plain: Vec<(SubscriberId, SubOptions)> = Vec::new();
        let mut matched = 0;
        let mut leaves_with_subscribers = 0;
        batch.begin_message();
        {
            let router = self.inner.router.read();
            router.trie.for_each_match(&message.topic, |leaf| {
                leaves_with_subscribers += usize::from(!leaf.subs.is_empty());
                for &(id, opts) in &leaf.subs {
                    // No Local: not back to the publishing session [MQTT-3.8.3-3].
                    if opts.no_local && Some(id) == from {
                        continue;
                    }
                    plain.push((id, opts));
                }
                for group in &leaf.shared {
                    let connected = |id| router.session(id).is_some_and(|s| s.connected.load(Ordering::Relaxed));
                    if let Some((id, opts)) = shared::pick(group, strategy, &message, None, connected) {
                        if let Some(session) = router.session(id) {
                            let origin =
                                Box::new(SharedOrigin { group: group.name.clone(), filter: group.filter.clone() });
                            batch.push(session, delivery_for(&message, opts, Some(origin)));
                            matched += 1;
                        }
                    }
                }
            });
            // A session matched by several overlapping filters gets one delivery, at the
            // highest QoS, with every subscription identifier. Within one filter's leaf a
            // session appears once, so with a single leaf there is nothing to merge (and
            // sorting a large fan-out's list would cost more than the rest of routing).
            if leaves_with_subscribers > 1 {
                plain.sort_unstable_by_key(|(id, _)| *id);
            }
            let mut i = 0;
            while i < plain.len() {
                let (id, first) = plain[i];
                let mut delivery = delivery_for(&message, first, None);
                let mut j = i + 1;
                while j < plain.len() && plain[j].0 == id {
                    let opts = plain[j].1;
                    let qos = opts.delivery_qos(message.qos);
                    if qos > delivery.qos {
                        delivery.qos = qos;
                    }
                    delivery.retain |= opts.retain_as_published && message.retain;
                    if let Some(sid) = opts.subscription_id {
                        let mut ids = std::mem::take(&mut delivery.subscription_ids).into_vec();
                        ids.push(sid);
                        delivery.subscription_ids = ids.into_boxed_slice();
                    }
                    j += 1;
                }
                if let Some(session) = router.session(id) {
                    batch.push(session, delivery);
                    matched += 1;
                }
                i = j;
            }
        }
        if matched == 0 && count_received {
            Metrics::inc(&self.inner.metrics.messages_dropped_no_subscribers);
        }
        Ok(matched)
    }

    /// Queues what `batch` holds, one lock per session. Returns the drain signal of a
    /// connected subscriber left more than half full, if any (see [`PublishOutcome`]).
    pub fn flush(&self, batch: &mut PublishBatch, now: Instant) -> Option<Arc<DrainSignal>> {
        let mut congested = None;
        batch.drain(|session, deliveries| {
            if let Some(signal) = self.enqueue(session, deliveries, now) {
                congested = Some(signal);
            }
        });
        congested
    }

    /// Queues deliveries for a session and rings its connection once.
    /// Returns the session's drain signal if it is connected and its mqueue more than half
    /// full (a slow consumer the publisher should give time to).
    fn enqueue(
        &self,
        session: &Session,
        deliveries: &mut dyn Iterator<Item = Delivery>,
        now: Instant,
    ) -> Option<Arc<DrainSignal>> {
        let metrics = &self.inner.metrics;
        let limits = &self.inner.config.session;
        let mut dropped = Vec::new();
        let (doorbell, congested) = {
            let mut st = session.state.lock();
            if st.terminated {
                return None;
            }
            let was_empty = st.mqueue.is_empty();
            for delivery in deliveries {
                if delivery.qos == QoS::AtMostOnce && st.attachment.is_none() && !limits.mqueue_store_qos0 {
                    Metrics::inc(&metrics.delivery_dropped_qos0_msg);
                    continue;
                }
                st.mqueue.push(delivery, limits.queue_limits(), &mut dropped);
            }
            let queued = st.mqueue.len();
            let congested = match &mut st.attachment {
                Some(attachment) => {
                    if was_empty {
                        // The subscriber has had nothing to do until now.
                        attachment.last_progress = now;
                    }
                    attachment.is_congested(queued, limits, now)
                }
                None => false,
            };
            if session.congested.load(Ordering::Relaxed) != congested {
                session.congested.store(congested, Ordering::Relaxed);
            }
            let congested = congested.then(|| st.drain.get_or_insert_with(Arc::default).clone());
            let doorbell = st.attachment.as_ref().filter(|_| st.wants_ring()).map(|a| a.doorbell.clone());
            (doorbell, congested)
        };
        if !dropped.is_empty() {
            Metrics::add(&metrics.delivery_dropped_queue_full, dropped.len() as u64);
            tracing::debug!(client_id = %session.client_id, dropped = dropped.len(), "mqueue_full_dropped_oldest");
        }
        if let Some(doorbell) = doorbell {
            doorbell.ring();
        }
        congested
    }

    /// Ends a session for good: its subscriptions leave the router, and its undelivered
    /// QoS 1/2 shared-subscription messages go to other members of their groups.
    fn finish_termination(&self, session: &Arc<Session>, now: Instant) {
        let (subscriptions, leftovers) = {
            let mut st = session.state.lock();
            st.terminated = true;
            let subs: Vec<SubscriptionFilter> = std::mem::take(&mut st.subscriptions).into_keys().collect();
            let mut leftovers: Vec<Delivery> = st.inflight.drain().map(|e| e.delivery).collect();
            leftovers.extend(st.mqueue.drain());
            leftovers.retain(|d| d.shared.is_some() && d.qos != QoS::AtMostOnce);
            (subs, leftovers)
        };
        {
            let mut router = self.inner.router.write();
            for sub in &subscriptions {
                router.trie.remove(&sub.filter, sub.group.as_ref(), session.id);
            }
            if router.session(session.id).is_some_and(|s| Arc::ptr_eq(s, session)) {
                router.sessions[session.id as usize] = None;
                router.free_ids.push(session.id);
            }
        }
        Metrics::inc(&self.inner.metrics.sessions_terminated);
        for delivery in leftovers {
            self.redispatch(delivery, session.id, now);
        }
    }

    fn redispatch(&self, mut delivery: Delivery, leaving: SubscriberId, now: Instant) {
        let Some(origin) = delivery.shared.clone() else { return };
        let target = {
            let router = self.inner.router.read();
            let mut found = None;
            router.trie.for_each_filter_leaf(&origin.filter, |leaf| {
                if let Some(group) = leaf.shared.iter().find(|g| g.name == origin.group) {
                    let connected = |id| router.session(id).is_some_and(|s| s.connected.load(Ordering::Relaxed));
                    found = shared::pick(
                        group,
                        self.inner.config.shared_strategy,
                        &delivery.message,
                        Some(leaving),
                        connected,
                    )
                    .and_then(|(id, opts)| router.session(id).map(|s| (s.clone(), opts)));
                }
            });
            found
        };
        match target {
            Some((session, opts)) => {
                delivery.qos = opts.delivery_qos(delivery.message.qos);
                delivery.subscription_ids = opts.subscription_id.into_iter().collect();
                Metrics::inc(&self.inner.metrics.messages_redispatched);
                self.enqueue(&session, &mut std::iter::once(delivery), now);
            }
            // No other member is left in the group.
            None => Metrics::inc(&self.inner.metrics.messages_dropped_no_subscribers),
        }
    }

    fn schedule(&self, at: Instant, timer: Timer) {
        self.inner.timers.lock().push(Reverse((at, timer)));
        self.inner.timers_changed.notify_one();
    }

    /// Runs session expiry and delayed wills until `shutdown` resolves. Spawn it once.
    pub async fn run_timers(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let next = self.inner.timers.lock().peek().map(|Reverse((at, _))| *at);
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.inner.timers_changed.notified() => continue,
                _ = sleep => {}
            }
            let now = Instant::now();
            loop {
                let due = {
                    let mut timers = self.inner.timers.lock();
                    match timers.peek() {
                        Some(Reverse((at, _))) if *at <= now => timers.pop().map(|Reverse((_, t))| t),
                        _ => None,
                    }
                };
                let Some(timer) = due else { break };
                self.fire(timer, now);
            }
        }
    }

    fn fire(&self, timer: Timer, now: Instant) {
        match timer {
            Timer::Will { client_id, generation } => {
                let will = {
                    let registry = self.inner.registry.lock();
                    let Some(session) = registry.get(&client_id) else { return };
                    let mut st = session.state.lock();
                    if st.generation != generation || st.attachment.is_some() {
                        return;
                    }
                    st.will.take()
                };
                if let Some(will) = will {
                    self.publish_will(*will, now);
                }
            }
            Timer::Expire { client_id, generation } => {
                let (session, will) = {
                    let mut registry = self.inner.registry.lock();
                    let Some(session) = registry.get(&client_id).cloned() else { return };
                    let will = {
                        let mut st = session.state.lock();
                        if st.generation != generation || st.attachment.is_some() {
                            return;
                        }
                        st.terminated = true;
                        st.will.take()
                    };
                    registry.remove(&client_id);
                    (session, will)
                };
                tracing::debug!(client_id = %client_id, "session_expired");
                // The session ends: a will still waiting for its delay goes out now.
                if let Some(will) = will {
                    self.publish_will(*will, now);
                }
                self.finish_termination(&session, now);
            }
        }
    }
}

fn delivery_for(message: &Arc<Message>, opts: SubOptions, shared: Option<Box<SharedOrigin>>) -> Delivery {
    Delivery {
        message: message.clone(),
        qos: opts.delivery_qos(message.qos),
        // Retain As Published; otherwise 0 for messages to an established subscription
        // [MQTT-3.3.1-12], [MQTT-3.3.1-13].
        retain: opts.retain_as_published && message.retain,
        subscription_ids: opts.subscription_id.into_iter().collect(),
        shared,
    }
}

/// A connection's handle on its session. Every operation checks that the connection still
/// owns the session; after a takeover they do nothing.
#[derive(Debug)]
pub struct SessionHandle {
    bus: Bus,
    session: Arc<Session>,
    generation: u64,
}

impl SessionHandle {
    /// The session's client id.
    pub fn client_id(&self) -> &ClientId {
        &self.session.client_id
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    fn state(&self) -> Option<parking_lot::MutexGuard<'_, SessionState>> {
        let st = self.session.state.lock();
        (st.generation == self.generation && !st.terminated && st.attachment.is_some()).then_some(st)
    }

    /// Whether this connection still owns the session.
    pub fn is_current(&self) -> bool {
        self.state().is_some()
    }

    /// Publishes from this session (No Local applies to its own subscriptions).
    pub fn publish(&self, message: Message, now: Instant) -> Result<PublishOutcome, PublishError> {
        self.bus.route(message, Some(self.session.id), now)
    }

    /// Routes a message from this session into `batch`, to be queued by
    /// [`SessionHandle::flush`] together with the rest of a burst (one lock per subscriber
    /// instead of one per delivery). Returns how many sessions it matched.
    pub fn publish_into(
        &self,
        batch: &mut PublishBatch,
        message: Message,
        now: Instant,
    ) -> Result<usize, PublishError> {
        self.bus.route_into(batch, message, Some(self.session.id), now, true)
    }

    /// Queues the deliveries gathered in `batch`; see [`Bus::flush`].
    pub fn flush(&self, batch: &mut PublishBatch, now: Instant) -> Option<Arc<DrainSignal>> {
        self.bus.flush(batch, now)
    }

    /// Subscribes, or replaces the options of an existing subscription to the same filter,
    /// and queues the retained messages the retain handling asks for. Returns whether the
    /// subscription is new.
    pub fn subscribe(
        &self,
        filter: &SubscriptionFilter,
        opts: SubOptions,
        retain_handling: RetainHandling,
        now: Instant,
    ) -> Result<bool, SubscribeError> {
        let limit = self.bus.inner.config.max_topic_levels;
        if limit != 0 && filter.filter.levels() > limit {
            return Err(SubscribeError::TooManyLevels);
        }
        if !self.is_current() {
            return Err(SubscribeError::Detached);
        }
        let new =
            self.bus.inner.router.write().trie.insert(&filter.filter, filter.group.as_ref(), self.session.id, opts);
        // Retained messages are not sent for shared subscriptions (MQTT 5 §4.8.2).
        let send_retained = !filter.is_shared()
            && match retain_handling {
                RetainHandling::Send => true,
                RetainHandling::SendIfNew => new,
                RetainHandling::DoNotSend => false,
            };
        let mut retained = Vec::new();
        if send_retained {
            if let Some(store) = &self.bus.inner.retained {
                store.read().matching(&filter.filter, now, &mut retained);
            }
        }
        let doorbell = {
            let Some(mut st) = self.state() else {
                return Err(SubscribeError::Detached);
            };
            st.subscriptions.insert(filter.clone(), opts);
            for message in retained {
                let qos = opts.delivery_qos(message.qos);
                st.retained_backlog.push_back(Delivery {
                    message,
                    qos,
                    // Retained messages sent for a new subscription keep RETAIN = 1
                    // [MQTT-3.3.1-8].
                    retain: true,
                    subscription_ids: opts.subscription_id.into_iter().collect(),
                    shared: None,
                });
            }
            st.attachment.as_ref().map(|a| a.doorbell.clone())
        };
        if let Some(d) = doorbell {
            d.ring();
        }
        Ok(new)
    }

    /// Unsubscribes; returns whether the subscription existed.
    pub fn unsubscribe(&self, filter: &SubscriptionFilter) -> bool {
        let existed = match self.state() {
            Some(mut st) => st.subscriptions.remove(filter).is_some(),
            None => return false,
        };
        if existed {
            self.bus.inner.router.write().trie.remove(&filter.filter, filter.group.as_ref(), self.session.id);
        }
        existed
    }

    /// Moves up to `max_batch` deliveries into `out` (QoS 1/2 ones into the inflight window of
    /// `window`, with fresh packet ids). Returns true if more are ready to send.
    pub fn take_outbound(&self, now: Instant, window: usize, max_batch: usize, out: &mut Vec<Outbound>) -> bool {
        self.send_outbound(now, window, max_batch, |delivery, packet_id| {
            out.push(Outbound::Publish { packet_id, delivery: delivery.into_owned(), dup: false });
            Sent::Sent
        })
    }

    /// As [`SessionHandle::take_outbound`], but hands each delivery to `send` under the
    /// session's lock: a QoS 1/2 one by reference to its place in the inflight window, so
    /// a connection that encodes it there and then copies nothing and leaves the message's
    /// reference count alone. `send` must not call back into this session.
    pub fn send_outbound(
        &self,
        now: Instant,
        window: usize,
        max_batch: usize,
        send: impl FnMut(Cow<'_, Delivery>, Option<NonZeroU16>) -> Sent,
    ) -> bool {
        let Some(mut st) = self.state() else { return false };
        let window = window.min(usize::from(self.bus.inner.config.session.max_inflight)).max(1);
        let (taken, expired) = st.take_outbound(now, window, max_batch, send);
        let more = st.has_sendable(window);
        if taken > 0 {
            if let Some(attachment) = &mut st.attachment {
                attachment.last_progress = now;
            }
        }
        let limits = &self.bus.inner.config.session;
        let queued = st.mqueue.len();
        if self.session.congested.load(Ordering::Relaxed) && !limits.is_over_half_full(queued) {
            self.session.congested.store(false, Ordering::Relaxed);
        }
        let drained = st.drain.as_ref().filter(|d| d.has_waiters() && limits.is_drained(queued)).cloned();
        drop(st);
        if let Some(signal) = drained {
            signal.wake_one();
        }
        if expired > 0 {
            Metrics::add(&self.bus.inner.metrics.delivery_dropped_expired, expired);
        }
        Metrics::add(&self.bus.inner.metrics.messages_delivered, taken as u64);
        more
    }

    /// Everything in flight, to be sent again after (re)attaching (DUP PUBLISH or PUBREL).
    pub fn resend_inflight(&self, now: Instant, out: &mut Vec<Outbound>) {
        if let Some(mut st) = self.state() {
            st.resend_all(now, out);
        }
    }

    /// In-flight deliveries due for a retry (`mqtt.retry_interval`), if configured.
    pub fn resend_due(&self, now: Instant, out: &mut Vec<Outbound>) {
        let Some(retry) = self.bus.inner.config.session.retry_interval else { return };
        if let Some(mut st) = self.state() {
            st.resend_due(now, retry, out);
        }
    }

    /// When the next retry is due, if retries are configured and something is in flight.
    pub fn next_retry_at(&self) -> Option<Instant> {
        let retry = self.bus.inner.config.session.retry_interval?;
        self.state()?.next_retry_at(retry)
    }

    /// PUBACK / PUBCOMP (or a failed PUBREC, or a delivery dropped as too large): the
    /// exchange for `packet_id` is over. Returns whether it was in flight.
    pub fn complete(&self, packet_id: NonZeroU16) -> bool {
        let done = self.state().and_then(|mut st| st.complete(packet_id)).is_some();
        if done {
            self.ring();
        }
        done
    }

    /// Gives back the capacity the session's queues grew to in a burst (an idle connection
    /// keeps its session for life).
    pub fn shrink_to_fit(&self) {
        if let Some(mut st) = self.state() {
            st.mqueue.shrink_to_fit();
            st.retained_backlog.shrink_to_fit();
            st.inflight.shrink_to_fit();
        }
    }

    /// Acknowledgements read together (a client's PUBACKs of one read): completes each
    /// exchange under one lock and, unlike [`SessionHandle::complete`], rings nobody: the
    /// caller sends what the freed window allows right after. Returns how many were in flight.
    pub fn complete_all(&self, packet_ids: &[NonZeroU16]) -> usize {
        match self.state() {
            Some(mut st) => packet_ids.iter().filter(|id| st.complete(**id).is_some()).count(),
            None => 0,
        }
    }

    /// A negative acknowledgement (STOMP NACK): the delivery leaves the inflight window; one
    /// that came through a shared subscription goes to another member of the group, any
    /// other is dropped and counted. Returns whether it was in flight.
    pub fn nack(&self, packet_id: NonZeroU16, now: Instant) -> bool {
        let Some(delivery) = self.state().and_then(|mut st| st.complete(packet_id)) else {
            return false;
        };
        if delivery.shared.is_some() {
            self.bus.redispatch(delivery, self.session.id, now);
        } else {
            Metrics::inc(&self.bus.inner.metrics.delivery_dropped_nacked);
        }
        self.ring();
        true
    }

    /// PUBREC for `packet_id`: the next step is PUBREL. Returns whether it was in flight.
    pub fn received(&self, packet_id: NonZeroU16, now: Instant) -> bool {
        self.state().is_some_and(|mut st| st.received(packet_id, now))
    }

    /// Registers an incoming QoS 2 PUBLISH; the caller publishes only on `New`.
    pub fn incoming_qos2(&self, packet_id: NonZeroU16, now: Instant) -> IncomingQos2 {
        match self.state() {
            Some(mut st) => st.incoming_qos2(packet_id, now, &self.bus.inner.config.session),
            None => IncomingQos2::Duplicate,
        }
    }

    /// PUBREL for an incoming QoS 2 message; returns whether the packet id was known.
    pub fn release_qos2(&self, packet_id: NonZeroU16) -> bool {
        self.state().is_some_and(|mut st| st.awaiting_rel.remove(&packet_id.get()).is_some())
    }

    /// Replaces the will (MQTT-SN WILLTOPICUPD / WILLMSGUPD).
    pub fn set_will(&self, will: Option<Will>) {
        if let Some(mut st) = self.state() {
            st.will = will.map(Box::new);
        }
    }

    /// Replaces the session expiry (MQTT 5 DISCONNECT may change it).
    pub fn set_expiry(&self, expiry: Option<Duration>) {
        if let Some(mut st) = self.state() {
            st.expiry = ExpirySecs::new(expiry);
        }
    }

    /// Rings this connection's own doorbell (more to send).
    pub fn ring(&self) {
        if let Some(st) = self.state() {
            if let Some(att) = &st.attachment {
                att.doorbell.ring();
            }
        }
    }

    /// Subscriptions of the session, for inspection.
    pub fn subscriptions(&self) -> Vec<(SubscriptionFilter, SubOptions)> {
        self.state().map(|st| st.subscriptions.iter().map(|(f, o)| (f.clone(), *o)).collect()).unwrap_or_default()
    }

    /// Detaches the connection. The will is published per `kind` (after its delay, or at
    /// once when the session ends first); the session then ends if its expiry is zero, or is
    /// parked until it expires.
    pub fn close(self, kind: CloseKind, now: Instant) {
        let bus = self.bus.clone();
        let (ends, will_now, will_later, expiry) = {
            let mut registry = bus.inner.registry.lock();
            let mut st = self.session.state.lock();
            if st.generation != self.generation || st.terminated || st.attachment.is_none() {
                return; // taken over: the new owner decides
            }
            st.attachment = None;
            self.session.connected.store(false, Ordering::Release);
            self.session.congested.store(false, Ordering::Relaxed);
            // Publishers waiting for this connection to drain need not wait any longer.
            if let Some(signal) = &st.drain {
                signal.wake_all();
            }
            let will = match kind {
                CloseKind::Normal => {
                    st.will = None;
                    None
                }
                CloseKind::WithWill => st.will.take(),
            };
            let ends = st.expiry.get().is_some_and(|e| e.is_zero());
            let (will_now, will_later) = match will {
                Some(w) if !ends && !w.delay.is_zero() => {
                    let at = now + w.delay;
                    st.will = Some(w);
                    (None, Some(at))
                }
                other => (other, None),
            };
            let expiry = st.expiry.get();
            if ends {
                st.terminated = true;
                drop(st);
                if registry.get(&self.session.client_id).is_some_and(|s| Arc::ptr_eq(s, &self.session)) {
                    registry.remove(&self.session.client_id);
                }
            }
            (ends, will_now, will_later, expiry)
        };
        if let Some(will) = will_now {
            bus.publish_will(*will, now);
        }
        if ends {
            bus.finish_termination(&self.session, now);
            return;
        }
        if let Some(at) = will_later {
            bus.schedule(at, Timer::Will { client_id: self.session.client_id.clone(), generation: self.generation });
        }
        if let Some(expiry) = expiry {
            bus.schedule(
                now + expiry,
                Timer::Expire { client_id: self.session.client_id.clone(), generation: self.generation },
            );
        }
    }
}
