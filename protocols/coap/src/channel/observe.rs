//! Observe relations (RFC 7641) for EMQX's scheme: one relation per topic filter, the 24-bit
//! sequence numbers, and the FIFO of CON notifications waiting for the in-flight ones to be
//! acknowledged (emqx-conventions §2.5).

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use super::SubscriptionKey;

#[derive(Debug)]
pub(crate) struct Relation {
    pub(crate) filter: String,
    /// The key block-wise representations are kept under (the request's Uri-Path).
    pub(crate) path_key: String,
    pub(crate) token: Bytes,
    /// Block2 size exponent for notifications (the client's preference, capped).
    pub(crate) szx: u8,
    /// Set once the glue accepted the subscription.
    pub(crate) active: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Observers {
    relations: HashMap<SubscriptionKey, Relation>,
    by_filter: HashMap<String, SubscriptionKey>,
    next_key: u64,
    seq: u32,
    /// CON notifications waiting: (relation, payload).
    pub(crate) queue: VecDeque<(SubscriptionKey, Bytes)>,
    /// Our in-flight CON notifications: Message ID → relation.
    pub(crate) inflight: HashMap<u16, SubscriptionKey>,
}

impl Observers {
    /// Registers (or refreshes, RFC 7641 §4.1: same filter → same entry, token replaced) the
    /// relation for `filter`. Returns its key and whether it existed and was active.
    pub(crate) fn register(
        &mut self,
        filter: &str,
        path_key: String,
        token: Bytes,
        szx: u8,
    ) -> (SubscriptionKey, bool) {
        if let Some(key) = self.by_filter.get(filter).copied() {
            if let Some(rel) = self.relations.get_mut(&key) {
                rel.token = token;
                rel.szx = szx;
                rel.path_key = path_key;
                return (key, rel.active);
            }
        }
        self.next_key += 1;
        let key = SubscriptionKey(self.next_key);
        self.by_filter.insert(filter.to_owned(), key);
        self.relations.insert(key, Relation { filter: filter.to_owned(), path_key, token, szx, active: false });
        (key, false)
    }

    pub(crate) fn by_filter(&self, filter: &str) -> Option<SubscriptionKey> {
        self.by_filter.get(filter).copied()
    }

    pub(crate) fn get(&self, key: SubscriptionKey) -> Option<&Relation> {
        self.relations.get(&key)
    }

    pub(crate) fn activate(&mut self, key: SubscriptionKey) {
        if let Some(rel) = self.relations.get_mut(&key) {
            rel.active = true;
        }
    }

    /// Removes a relation, its queued notifications, and returns the Message IDs of its
    /// in-flight CON notifications (to stop retransmitting them).
    pub(crate) fn remove(&mut self, key: SubscriptionKey) -> Vec<u16> {
        if let Some(rel) = self.relations.remove(&key) {
            self.by_filter.remove(&rel.filter);
        }
        self.queue.retain(|(k, _)| *k != key);
        let mids: Vec<u16> = self.inflight.iter().filter(|(_, k)| **k == key).map(|(m, _)| *m).collect();
        for m in &mids {
            self.inflight.remove(m);
        }
        mids
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.relations.is_empty()
    }

    /// Next Observe value: strictly increasing modulo 2^24 (RFC 7641 §3.4, §4.4).
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = (self.seq + 1) & 0x00FF_FFFF;
        self.seq
    }
}
