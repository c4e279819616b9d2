//! Topic ids of one client (§6.5, §6.10) and the gateway-initiated REGISTER flow.
//!
//! Predefined ids come from the shared config and are never stored here. Dynamic ids are
//! assigned from [`FIRST_DYNAMIC_ID`] (above EMQX's predefined range 1..1024) to 65535.
//! An entry is *confirmed* once the client knows it: it registered the name itself, got it
//! in a SUBACK, or acknowledged our REGISTER. Deliveries only use confirmed ids; while our
//! REGISTER is outstanding, PUBLISHes for that name wait in its [`PendingRegistration`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::{return_code, Message};

use super::{Channel, Event};

/// First dynamically assigned topic id (EMQX).
pub const FIRST_DYNAMIC_ID: u16 = 1025;
/// How long the gateway waits for a REGACK before re-sending its REGISTER (EMQX: 5 s).
pub const REGISTER_RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// How often a REGISTER is re-sent before the registration fails (EMQX: 3).
pub const REGISTER_MAX_RETRIES: u32 = 3;

#[derive(Debug, Default)]
pub(crate) struct TopicRegistry {
    by_id: HashMap<u16, (String, bool)>,
    by_name: HashMap<String, u16>,
    next_id: u32,
}

impl TopicRegistry {
    pub(crate) fn name(&self, id: u16) -> Option<&str> {
        self.by_id.get(&id).map(|(n, _)| n.as_str())
    }

    /// The id of `name` if the client knows it.
    pub(crate) fn confirmed_id(&self, name: &str) -> Option<u16> {
        let id = *self.by_name.get(name)?;
        self.by_id.get(&id).filter(|(_, c)| *c).map(|_| id)
    }

    /// The id of `name`, assigning a new one if needed; `None` when ids are exhausted.
    pub(crate) fn assign(&mut self, name: &str, confirmed: bool) -> Option<u16> {
        if let Some(&id) = self.by_name.get(name) {
            if confirmed {
                if let Some(entry) = self.by_id.get_mut(&id) {
                    entry.1 = true;
                }
            }
            return Some(id);
        }
        if self.next_id < u32::from(FIRST_DYNAMIC_ID) {
            self.next_id = u32::from(FIRST_DYNAMIC_ID);
        }
        while self.next_id <= u32::from(u16::MAX) {
            let id = self.next_id as u16;
            self.next_id += 1;
            if let std::collections::hash_map::Entry::Vacant(e) = self.by_id.entry(id) {
                e.insert((name.to_owned(), confirmed));
                self.by_name.insert(name.to_owned(), id);
                return Some(id);
            }
        }
        None
    }

    pub(crate) fn confirm(&mut self, id: u16) {
        if let Some(entry) = self.by_id.get_mut(&id) {
            entry.1 = true;
        }
    }

    pub(crate) fn remove(&mut self, id: u16) {
        if let Some((name, _)) = self.by_id.remove(&id) {
            self.by_name.remove(&name);
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Confirmed (id, name) pairs, ordered by id.
    pub(crate) fn confirmed(&self) -> Vec<(u16, String)> {
        let mut v: Vec<_> = self.by_id.iter().filter(|(_, (_, c))| *c).map(|(id, (n, _))| (*id, n.clone())).collect();
        v.sort_unstable();
        v
    }
}

/// A PUBLISH waiting for the REGACK of its topic.
#[derive(Debug)]
pub(crate) struct QueuedPublish {
    pub(crate) payload: Bytes,
    pub(crate) qos: u8,
    pub(crate) retain: bool,
    pub(crate) msg_id: Option<u16>,
}

/// Our REGISTER, not yet acknowledged.
#[derive(Debug)]
pub(crate) struct PendingRegistration {
    pub(crate) topic_id: u16,
    pub(crate) topic: String,
    pub(crate) queued: Vec<QueuedPublish>,
    pub(crate) retries: u32,
    pub(crate) deadline: Instant,
}

pub(crate) fn is_wildcard(topic: &str) -> bool {
    topic.contains(['+', '#'])
}

impl Channel {
    /// Client REGISTER (§6.5): REGACK with the topic's id; a wildcard gets 0x03 and id 0.
    /// A retransmission gets the same id again, so no de-duplication state is needed.
    pub(super) fn on_register(&mut self, msg_id: u16, topic_name: String) {
        let (topic_id, rc) = if topic_name.is_empty() || is_wildcard(&topic_name) {
            (0, return_code::NOT_SUPPORTED)
        } else {
            match self.registry.assign(&topic_name, true) {
                Some(id) => (id, return_code::ACCEPTED),
                None => (0, return_code::CONGESTION),
            }
        };
        self.send(&Message::RegAck { topic_id, msg_id, return_code: rc });
    }

    /// Starts a gateway REGISTER for `topic` (id already assigned, unconfirmed).
    pub(super) fn start_register(&mut self, now: Instant, topic_id: u16, topic: String, queued: Vec<QueuedPublish>) {
        let msg_id = self.next_msg_id();
        self.send(&Message::Register { topic_id, msg_id, topic_name: topic.clone() });
        self.pending_regs.insert(
            msg_id,
            PendingRegistration { topic_id, topic, queued, retries: 0, deadline: now + REGISTER_RETRY_INTERVAL },
        );
    }

    /// REGACK for our REGISTER: on success the queued PUBLISHes go out in order; on a
    /// rejection they are dropped with [`Event::DeliveryFailed`].
    pub(super) fn on_regack(&mut self, now: Instant, topic_id: u16, msg_id: u16, rc: u8) {
        let Some(pending) = self.pending_regs.remove(&msg_id) else { return };
        if rc == return_code::ACCEPTED {
            // The client acknowledges the id we proposed (it may echo 0; ours stands).
            let _ = topic_id;
            self.registry.confirm(pending.topic_id);
            for q in pending.queued {
                self.send_publish(now, pending.topic_id, crate::codec::TopicIdType::Normal, q);
            }
        } else {
            self.registry.remove(pending.topic_id);
            self.fail_queued(pending);
        }
        self.maybe_finish_wake();
    }

    fn fail_queued(&mut self, pending: PendingRegistration) {
        for q in pending.queued {
            self.events.push_back(Event::DeliveryFailed { msg_id: q.msg_id, topic: pending.topic.clone() });
        }
    }

    /// Re-sends or gives up REGISTERs whose deadline passed.
    pub(super) fn register_timeouts(&mut self, now: Instant) {
        let due: Vec<u16> = self.pending_regs.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        for msg_id in due {
            let Some(mut pending) = self.pending_regs.remove(&msg_id) else { continue };
            if pending.retries >= REGISTER_MAX_RETRIES {
                self.registry.remove(pending.topic_id);
                self.fail_queued(pending);
                continue;
            }
            pending.retries += 1;
            pending.deadline = now + REGISTER_RETRY_INTERVAL;
            self.send(&Message::Register { topic_id: pending.topic_id, msg_id, topic_name: pending.topic.clone() });
            self.pending_regs.insert(msg_id, pending);
        }
        self.maybe_finish_wake();
    }

    /// `subs_resume`: tell a resuming client every topic id it knew (EMQX re-REGISTERs).
    pub(super) fn resume_registrations(&mut self, now: Instant) {
        for (id, name) in self.registry.confirmed() {
            if self.pending_regs.len() >= self.config.max_pending_registrations {
                break;
            }
            self.start_register(now, id, name, Vec::new());
        }
    }
}
