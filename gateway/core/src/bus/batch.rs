//! Publishes gathered per subscriber, so a burst of messages takes each subscriber's lock
//! once.
//!
//! Routing a message to a thousand subscribers locks a thousand sessions that the subscribers'
//! connections lock too, each from its own core: the lock's cache line moves between cores for
//! every delivery. A publisher's connection therefore routes all the PUBLISHes of one read
//! into a [`PublishBatch`] and queues them with one lock per subscriber at the end, in the
//! order they were published.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::message::Delivery;
use super::session::Session;
use super::trie::SubscriberId;

const END: u32 = u32::MAX;
/// Deliveries in one batch, at most: bounds its memory (16 KB of small PUBLISHes to a
/// thousand subscribers would otherwise be millions).
const MAX_DELIVERIES: usize = 16 * 1024;
/// Messages in one batch, at most: what a publisher can add to a subscriber's queue before
/// it sees that queue congested (back-pressure's overshoot).
const MAX_MESSAGES: usize = 64;

/// Deliveries routed but not yet queued, grouped by subscriber. Queued by
/// [`super::SessionHandle::flush`] (or [`super::Bus::flush`]).
#[derive(Debug, Default)]
pub struct PublishBatch {
    /// Subscribers in the order they first appeared, each with its deliveries as a chain of
    /// indexes into `deliveries` (no allocation per subscriber).
    targets: Vec<Target>,
    deliveries: Vec<Link>,
    /// Subscriber → position in `targets`; built once a second message arrives, as the first
    /// one's subscribers are all distinct.
    index: HashMap<SubscriberId, usize>,
    /// Where the current message's next subscriber probably is: a burst to one topic meets
    /// the same subscribers in the same order, found without hashing.
    cursor: usize,
    messages: usize,
    flush_now: bool,
}

#[derive(Debug)]
struct Target {
    session: Arc<Session>,
    first: u32,
    last: u32,
}

#[derive(Debug)]
struct Link {
    delivery: Option<Delivery>,
    next: u32,
}

impl PublishBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing waits to be queued.
    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// Deliveries waiting to be queued.
    pub fn len(&self) -> usize {
        self.deliveries.len()
    }

    /// Whether the publisher should queue the batch before adding more: it is full, or a
    /// subscriber in it was already congested when it joined (then that subscriber's queue
    /// grows by one message per publisher, not by a burst).
    pub fn should_flush(&self) -> bool {
        self.flush_now || self.deliveries.len() >= MAX_DELIVERIES || self.messages >= MAX_MESSAGES
    }

    pub(crate) fn begin_message(&mut self) {
        self.messages += 1;
        self.cursor = 0;
        if self.messages == 2 {
            self.index = self.targets.iter().enumerate().map(|(i, t)| (t.session.id, i)).collect();
        }
    }

    /// Adds a delivery of the current message.
    pub(crate) fn push(&mut self, session: &Arc<Session>, delivery: Delivery) {
        let at = match self.targets.get(self.cursor) {
            Some(t) if t.session.id == session.id => self.cursor,
            _ => match self.index.get(&session.id) {
                Some(&at) => at,
                None => self.add_target(session),
            },
        };
        let link = u32::try_from(self.deliveries.len()).unwrap_or(END);
        self.deliveries.push(Link { delivery: Some(delivery), next: END });
        let target = &mut self.targets[at];
        if target.first == END {
            target.first = link;
        } else if let Some(last) = self.deliveries.get_mut(target.last as usize) {
            last.next = link;
        }
        target.last = link;
        self.cursor = at + 1;
    }

    fn add_target(&mut self, session: &Arc<Session>) -> usize {
        if session.congested.load(Ordering::Relaxed) {
            self.flush_now = true;
        }
        let at = self.targets.len();
        self.targets.push(Target { session: session.clone(), first: END, last: END });
        if self.messages > 1 {
            self.index.insert(session.id, at);
        }
        at
    }

    /// Empties the batch: each subscriber with its deliveries in publish order.
    pub(crate) fn drain(&mut self, mut each: impl FnMut(&Arc<Session>, &mut dyn Iterator<Item = Delivery>)) {
        for target in self.targets.drain(..) {
            let deliveries = &mut self.deliveries;
            let mut next = target.first;
            let mut chain = std::iter::from_fn(|| {
                let link = deliveries.get_mut(next as usize)?;
                next = link.next;
                link.delivery.take()
            });
            each(&target.session, &mut chain);
        }
        self.deliveries.clear();
        self.index.clear();
        self.cursor = 0;
        self.messages = 0;
        self.flush_now = false;
    }
}
