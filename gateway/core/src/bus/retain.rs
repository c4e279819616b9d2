//! The retained-message store: the latest retained message per topic.
//!
//! Kept in a trie of topic levels so that a subscription with wildcards reads only the
//! branches it matches. An empty retained payload deletes the topic's message [MQTT-3.3.1-6];
//! expired messages are never handed out and are dropped when met.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use super::message::Message;
use super::topic::{Topic, TopicFilter};

/// Limits of the retained store (`retainer.*` in the config).
#[derive(Debug, Clone)]
pub struct RetainLimits {
    /// `retainer.max_retained_messages`: 0 = unlimited.
    pub max_retained_messages: usize,
    /// `retainer.max_payload_size`: larger retained payloads are not stored.
    pub max_payload_size: usize,
    /// `retainer.msg_expiry_interval`: expiry for retained messages that carry none; None = never.
    pub msg_expiry_interval: Option<std::time::Duration>,
}

/// What happened to a retained publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainOutcome {
    /// Stored (new or replacing).
    Stored,
    /// The topic's retained message was deleted (empty payload).
    Deleted,
    /// Refused: payload over `max_payload_size`.
    TooLarge,
    /// Refused: the store holds `max_retained_messages` already.
    Full,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Bytes, Self>,
    message: Option<Arc<Message>>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.message.is_none()
    }
}

/// Latest retained message per topic.
#[derive(Debug)]
pub struct RetainedStore {
    root: Node,
    len: usize,
    limits: RetainLimits,
}

impl RetainedStore {
    /// An empty store.
    pub fn new(limits: RetainLimits) -> Self {
        Self { root: Node::default(), len: 0, limits }
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `message` as the topic's retained message, or deletes it for an empty payload.
    pub fn retain(&mut self, message: &Message, now: Instant) -> RetainOutcome {
        if message.payload.is_empty() {
            self.delete(&message.topic);
            return RetainOutcome::Deleted;
        }
        if message.payload.len() > self.limits.max_payload_size {
            return RetainOutcome::TooLarge;
        }
        let mut stored = message.clone();
        // A compact copy, so a small retained message does not pin a large read buffer.
        stored.payload = Bytes::copy_from_slice(&message.payload);
        stored.retain = true;
        if stored.expires_at.is_none() {
            stored.expires_at = self.limits.msg_expiry_interval.map(|d| now + d);
        }
        let limit = self.limits.max_retained_messages;
        let full = limit != 0 && self.len >= limit;
        let mut node = &mut self.root;
        for level in message.topic.as_bytes().split(|&b| b == b'/') {
            if full && !node.children.contains_key(level) {
                return RetainOutcome::Full;
            }
            let key = Bytes::copy_from_slice(level);
            node = node.children.entry(key).or_default();
        }
        if node.message.is_none() {
            if full {
                return RetainOutcome::Full;
            }
            self.len += 1;
        }
        node.message = Some(Arc::new(stored));
        RetainOutcome::Stored
    }

    /// Deletes the retained message of `topic`; returns whether there was one.
    pub fn delete(&mut self, topic: &Topic) -> bool {
        let levels: Vec<&[u8]> = topic.as_bytes().split(|&b| b == b'/').collect();
        let removed = delete_in(&mut self.root, &levels);
        self.len -= usize::from(removed);
        removed
    }

    /// Appends every unexpired retained message matching `filter` to `out`.
    pub fn matching(&self, filter: &TopicFilter, now: Instant, out: &mut Vec<Arc<Message>>) {
        let levels: Vec<&[u8]> = filter.as_bytes().split(|&b| b == b'/').collect();
        collect(&self.root, &levels, true, now, out);
    }

    /// The retained message of one topic, if any and unexpired.
    pub fn get(&self, topic: &Topic, now: Instant) -> Option<Arc<Message>> {
        let mut node = &self.root;
        for level in topic.as_bytes().split(|&b| b == b'/') {
            node = node.children.get(level)?;
        }
        node.message.clone().filter(|m| !m.is_expired(now))
    }
}

fn delete_in(node: &mut Node, levels: &[&[u8]]) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        return node.message.take().is_some();
    };
    let Some(child) = node.children.get_mut(*first) else { return false };
    let removed = delete_in(child, rest);
    if child.is_empty() {
        node.children.remove(*first);
    }
    removed
}

fn push_live(node: &Node, now: Instant, out: &mut Vec<Arc<Message>>) {
    if let Some(m) = &node.message {
        if !m.is_expired(now) {
            out.push(m.clone());
        }
    }
}

fn push_subtree(node: &Node, first: bool, now: Instant, out: &mut Vec<Arc<Message>>) {
    for (level, child) in &node.children {
        // `$`-topics are not matched by a leading wildcard [MQTT-4.7.2-1].
        if first && level.first() == Some(&b'$') {
            continue;
        }
        push_live(child, now, out);
        push_subtree(child, false, now, out);
    }
}

fn collect(node: &Node, levels: &[&[u8]], first: bool, now: Instant, out: &mut Vec<Arc<Message>>) {
    let Some((level, rest)) = levels.split_first() else {
        push_live(node, now, out);
        return;
    };
    match *level {
        b"#" => {
            // `#` also matches the parent level [MQTT-4.7.1-2]; the root is no topic.
            if !first {
                push_live(node, now, out);
            }
            push_subtree(node, first, now, out);
        }
        b"+" => {
            for (name, child) in &node.children {
                if first && name.first() == Some(&b'$') {
                    continue;
                }
                collect(child, rest, false, now, out);
            }
        }
        name => {
            if let Some(child) = node.children.get(name) {
                collect(child, rest, false, now, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::message::QoS;

    fn limits() -> RetainLimits {
        RetainLimits { max_retained_messages: 0, max_payload_size: 1024, msg_expiry_interval: None }
    }

    fn msg(topic: &'static str, payload: &'static str) -> Message {
        Message::new(Topic::new(topic).unwrap(), Bytes::from_static(payload.as_bytes()), QoS::AtMostOnce, true)
    }

    fn topics(store: &RetainedStore, filter: &'static str) -> Vec<String> {
        let mut out = Vec::new();
        store.matching(&TopicFilter::new(filter).unwrap(), Instant::now(), &mut out);
        let mut names: Vec<String> = out.iter().map(|m| m.topic.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn retained_matching_follows_filter_rules() {
        let mut store = RetainedStore::new(limits());
        let now = Instant::now();
        for t in ["a", "a/b", "a/b/c", "a/x", "$SYS/up", "b"] {
            assert_eq!(store.retain(&msg(t, "v"), now), RetainOutcome::Stored);
        }
        assert_eq!(store.len(), 6);
        assert_eq!(topics(&store, "#"), ["a", "a/b", "a/b/c", "a/x", "b"]);
        assert_eq!(topics(&store, "a/#"), ["a", "a/b", "a/b/c", "a/x"]);
        assert_eq!(topics(&store, "a/+"), ["a/b", "a/x"]);
        assert_eq!(topics(&store, "+"), ["a", "b"]);
        assert_eq!(topics(&store, "$SYS/#"), ["$SYS/up"]);
        assert_eq!(topics(&store, "a/b"), ["a/b"]);
    }

    #[test]
    fn mqtt_3_3_1_6_empty_payload_deletes() {
        let mut store = RetainedStore::new(limits());
        let now = Instant::now();
        store.retain(&msg("a/b", "v"), now);
        assert_eq!(store.retain(&msg("a/b", ""), now), RetainOutcome::Deleted);
        assert!(store.is_empty());
        assert!(topics(&store, "#").is_empty());
    }

    #[test]
    fn limits_refuse_new_topics_and_large_payloads() {
        let mut store = RetainedStore::new(RetainLimits {
            max_retained_messages: 1,
            max_payload_size: 2,
            msg_expiry_interval: None,
        });
        let now = Instant::now();
        assert_eq!(store.retain(&msg("a", "v"), now), RetainOutcome::Stored);
        assert_eq!(store.retain(&msg("b", "v"), now), RetainOutcome::Full);
        assert_eq!(store.retain(&msg("a", "w"), now), RetainOutcome::Stored);
        assert_eq!(store.retain(&msg("a", "toolong"), now), RetainOutcome::TooLarge);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn expired_messages_are_not_returned() {
        let mut store = RetainedStore::new(limits());
        let now = Instant::now();
        let mut m = msg("a", "v");
        m.expires_at = Some(now + std::time::Duration::from_secs(1));
        store.retain(&m, now);
        assert!(store.get(&Topic::new("a").unwrap(), now).is_some());
        assert!(store.get(&Topic::new("a").unwrap(), now + std::time::Duration::from_secs(2)).is_none());
    }
}
