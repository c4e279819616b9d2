//! The subscription index: which subscribers want a topic.
//!
//! Filters without wildcards live in a hash map keyed by the whole filter, so the common
//! exact subscription costs one lookup whatever the number of subscriptions. Filters with
//! wildcards live in a trie of levels, where a publish walks only the branches its own levels
//! (plus `+` and `#`) lead to. Subscribers are compact ids; the router resolves them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize};
use std::sync::Arc;

use bytes::Bytes;

use super::message::QoS;
use super::topic::{Topic, TopicFilter};

/// Compact id of a subscribing session, assigned by the router.
pub type SubscriberId = u32;

/// Per-subscription options that matter when a message is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubOptions {
    /// Maximum QoS granted.
    pub qos: QoS,
    /// Do not deliver the subscriber's own publishes (MQTT 5 No Local).
    pub no_local: bool,
    /// Keep the publisher's retain flag (MQTT 5 Retain As Published).
    pub retain_as_published: bool,
    /// MQTT 5 Subscription Identifier.
    pub subscription_id: Option<u32>,
    /// Deliver at the subscription's QoS even when the message was published lower
    /// (EMQX's `upgrade_qos`); STOMP client-ack subscriptions use it so every message is
    /// tracked until ACKed.
    pub upgrade_qos: bool,
}

impl SubOptions {
    /// The QoS a message published at `published` is delivered with.
    pub fn delivery_qos(&self, published: QoS) -> QoS {
        if self.upgrade_qos {
            self.qos
        } else {
            published.min(self.qos)
        }
    }
}

/// The members of one shared-subscription group on one filter.
#[derive(Debug)]
pub struct SharedGroup {
    /// Group name.
    pub name: Arc<str>,
    /// The filter the group shares.
    pub filter: TopicFilter,
    /// Members in join order.
    pub members: Vec<(SubscriberId, SubOptions)>,
    /// Round-robin cursor; atomic because picking happens under the router's read lock.
    pub(crate) cursor: AtomicUsize,
    /// Member picked by the `sticky` strategy (`u32::MAX` = none yet).
    pub(crate) sticky: AtomicU32,
}

impl SharedGroup {
    fn new(name: Arc<str>, filter: TopicFilter) -> Self {
        Self { name, filter, members: Vec::new(), cursor: AtomicUsize::new(0), sticky: AtomicU32::new(u32::MAX) }
    }
}

/// Everything subscribed with one filter.
#[derive(Debug, Default)]
pub struct Leaf {
    /// Plain subscriptions.
    pub subs: Vec<(SubscriberId, SubOptions)>,
    /// Shared-subscription groups.
    pub shared: Vec<SharedGroup>,
}

impl Leaf {
    fn is_empty(&self) -> bool {
        self.subs.is_empty() && self.shared.is_empty()
    }

    /// Inserts or replaces; returns true if the subscription is new.
    fn upsert(&mut self, filter: &TopicFilter, group: Option<&Arc<str>>, id: SubscriberId, opts: SubOptions) -> bool {
        let list = match group {
            None => &mut self.subs,
            Some(name) => {
                let idx = match self.shared.iter().position(|g| g.name == *name) {
                    Some(i) => i,
                    None => {
                        self.shared.push(SharedGroup::new(name.clone(), filter.clone()));
                        self.shared.len() - 1
                    }
                };
                &mut self.shared[idx].members
            }
        };
        match list.iter_mut().find(|(sid, _)| *sid == id) {
            Some(entry) => {
                entry.1 = opts;
                false
            }
            None => {
                list.push((id, opts));
                true
            }
        }
    }

    fn remove(&mut self, group: Option<&Arc<str>>, id: SubscriberId) -> bool {
        match group {
            None => remove_member(&mut self.subs, id),
            Some(name) => {
                let Some(idx) = self.shared.iter().position(|g| g.name == *name) else {
                    return false;
                };
                let removed = remove_member(&mut self.shared[idx].members, id);
                if self.shared[idx].members.is_empty() {
                    self.shared.swap_remove(idx);
                }
                removed
            }
        }
    }
}

fn remove_member(list: &mut Vec<(SubscriberId, SubOptions)>, id: SubscriberId) -> bool {
    match list.iter().position(|(sid, _)| *sid == id) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Bytes, Self>,
    plus: Option<Box<Self>>,
    /// Subscriptions ending in `#` at this position.
    hash: Option<Leaf>,
    leaf: Leaf,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.plus.is_none() && self.hash.is_none() && self.leaf.is_empty()
    }
}

/// Subscription index with exact filters by hash and wildcard filters in a level trie.
#[derive(Debug, Default)]
pub struct SubscriptionTrie {
    exact: HashMap<Bytes, Leaf>,
    root: Node,
    len: usize,
}

impl SubscriptionTrie {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of subscriptions (plain and shared members).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds or replaces the subscription of `id` to `filter` (in `group` if shared).
    /// Returns true if it did not exist before.
    pub fn insert(
        &mut self,
        filter: &TopicFilter,
        group: Option<&Arc<str>>,
        id: SubscriberId,
        opts: SubOptions,
    ) -> bool {
        let leaf = if filter.has_wildcard() {
            let mut node = &mut self.root;
            let mut levels = filter.as_bytes().split(|&b| b == b'/').peekable();
            let bytes = filter.as_bytes();
            let mut offset = 0;
            loop {
                let Some(level) = levels.next() else { break &mut node.leaf };
                let level_bytes = bytes.slice(offset..offset + level.len());
                offset += level.len() + 1;
                match level {
                    b"#" => break node.hash.get_or_insert_with(Leaf::default),
                    b"+" => node = node.plus.get_or_insert_with(Box::default),
                    _ => node = node.children.entry(level_bytes).or_default(),
                }
            }
        } else {
            self.exact.entry(filter.as_bytes().clone()).or_default()
        };
        let new = leaf.upsert(filter, group, id, opts);
        self.len += usize::from(new);
        new
    }

    /// Removes the subscription; returns true if it existed.
    pub fn remove(&mut self, filter: &TopicFilter, group: Option<&Arc<str>>, id: SubscriberId) -> bool {
        let removed = if filter.has_wildcard() {
            let levels: Vec<&[u8]> = filter.as_bytes().split(|&b| b == b'/').collect();
            remove_in(&mut self.root, &levels, group, id)
        } else {
            let key: &[u8] = filter.as_bytes();
            match self.exact.get_mut(key) {
                Some(leaf) => {
                    let removed = leaf.remove(group, id);
                    if leaf.is_empty() {
                        self.exact.remove(key);
                    }
                    removed
                }
                None => false,
            }
        };
        self.len -= usize::from(removed);
        removed
    }

    /// Calls `visit` with the leaf of exactly `filter`, if it exists.
    pub fn for_each_filter_leaf(&self, filter: &TopicFilter, visit: impl FnOnce(&Leaf)) {
        if !filter.has_wildcard() {
            let key: &[u8] = filter.as_bytes();
            if let Some(leaf) = self.exact.get(key) {
                visit(leaf);
            }
            return;
        }
        let mut node = &self.root;
        for level in filter.as_bytes().split(|&b| b == b'/') {
            match level {
                b"#" => {
                    if let Some(leaf) = &node.hash {
                        visit(leaf);
                    }
                    return;
                }
                b"+" => match &node.plus {
                    Some(child) => node = child,
                    None => return,
                },
                _ => match node.children.get(level) {
                    Some(child) => node = child,
                    None => return,
                },
            }
        }
        visit(&node.leaf);
    }

    /// Calls `visit` with every leaf whose filter matches `topic` (each leaf once).
    pub fn for_each_match(&self, topic: &Topic, mut visit: impl FnMut(&Leaf)) {
        let bytes: &[u8] = topic.as_bytes();
        if let Some(leaf) = self.exact.get(bytes) {
            visit(leaf);
        }
        walk(&self.root, bytes, true, topic.is_dollar(), &mut visit);
    }
}

fn remove_in(node: &mut Node, levels: &[&[u8]], group: Option<&Arc<str>>, id: SubscriberId) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        return node.leaf.remove(group, id);
    };
    match *first {
        b"#" => {
            let Some(leaf) = node.hash.as_mut() else { return false };
            let removed = leaf.remove(group, id);
            if leaf.is_empty() {
                node.hash = None;
            }
            removed
        }
        b"+" => {
            let Some(child) = node.plus.as_mut() else { return false };
            let removed = remove_in(child, rest, group, id);
            if child.is_empty() {
                node.plus = None;
            }
            removed
        }
        level => {
            let Some(child) = node.children.get_mut(level) else { return false };
            let removed = remove_in(child, rest, group, id);
            if child.is_empty() {
                node.children.remove(level);
            }
            removed
        }
    }
}

/// Walks the wildcard trie for the levels in `rest`. `first` marks the topic's first level,
/// where `$`-topics must not meet a wildcard [MQTT-4.7.2-1].
fn walk(node: &Node, rest: &[u8], first: bool, dollar: bool, visit: &mut impl FnMut(&Leaf)) {
    let wildcards_allowed = !(first && dollar);
    // `#` also matches the parent level ("sport/#" matches "sport") [MQTT-4.7.1-2].
    if wildcards_allowed {
        if let Some(leaf) = &node.hash {
            visit(leaf);
        }
    }
    let (level, tail) = match rest.iter().position(|&b| b == b'/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut descend = |child: &Node| match tail {
        Some(tail) => walk(child, tail, false, dollar, visit),
        None => {
            if !child.leaf.is_empty() {
                visit(&child.leaf);
            }
            if let Some(leaf) = &child.hash {
                visit(leaf);
            }
        }
    };
    if wildcards_allowed {
        if let Some(plus) = &node.plus {
            descend(plus);
        }
    }
    if let Some(child) = node.children.get(level) {
        descend(child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(s: &'static str) -> TopicFilter {
        TopicFilter::new(s).unwrap()
    }

    fn matched(trie: &SubscriptionTrie, topic: &'static str) -> Vec<SubscriberId> {
        let mut ids = Vec::new();
        trie.for_each_match(&Topic::new(topic).unwrap(), |leaf| {
            ids.extend(leaf.subs.iter().map(|(id, _)| *id));
        });
        ids.sort_unstable();
        ids
    }

    #[test]
    fn matches_agree_with_the_reference_matcher() {
        let filters = [
            "a/b", "a/+", "a/#", "#", "+/b", "+/+", "a/b/c", "a/+/c", "+", "/", "/+", "a//b", "a/+/+", "$SYS/#",
            "$SYS/+", "+/#",
        ];
        let topics = ["a/b", "a", "a/b/c", "/", "b", "a//b", "x/b", "$SYS/up", "$SYS", "a/x/c", "/x"];
        let mut trie = SubscriptionTrie::new();
        for (i, f) in filters.iter().enumerate() {
            trie.insert(&filter(f), None, i as u32, SubOptions::default());
        }
        for t in topics {
            let topic = Topic::new(t).unwrap();
            let mut expected: Vec<u32> =
                filters.iter().enumerate().filter(|(_, f)| filter(f).matches(&topic)).map(|(i, _)| i as u32).collect();
            expected.sort_unstable();
            assert_eq!(matched(&trie, t), expected, "topic {t}");
        }
    }

    #[test]
    fn remove_prunes_and_counts() {
        let mut trie = SubscriptionTrie::new();
        assert!(trie.insert(&filter("a/+/c"), None, 1, SubOptions::default()));
        assert!(!trie.insert(&filter("a/+/c"), None, 1, SubOptions::default()));
        assert!(trie.insert(&filter("a/b"), None, 2, SubOptions::default()));
        assert_eq!(trie.len(), 2);
        assert!(trie.remove(&filter("a/+/c"), None, 1));
        assert!(!trie.remove(&filter("a/+/c"), None, 1));
        assert!(trie.remove(&filter("a/b"), None, 2));
        assert!(trie.is_empty());
        assert!(trie.root.is_empty());
        assert!(trie.exact.is_empty());
    }

    #[test]
    fn shared_members_grouped_per_filter() {
        let mut trie = SubscriptionTrie::new();
        let g: Arc<str> = Arc::from("g");
        trie.insert(&filter("s/+"), Some(&g), 1, SubOptions::default());
        trie.insert(&filter("s/+"), Some(&g), 2, SubOptions::default());
        let mut groups = Vec::new();
        trie.for_each_match(&Topic::new("s/x").unwrap(), |leaf| {
            for grp in &leaf.shared {
                groups.push((grp.name.to_string(), grp.members.len()));
            }
        });
        assert_eq!(groups, vec![("g".to_string(), 2)]);
        trie.remove(&filter("s/+"), Some(&g), 1);
        trie.remove(&filter("s/+"), Some(&g), 2);
        assert!(trie.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn trie_equals_brute_force(
            filters in proptest::collection::vec("(a|b|\\+|#|\\$s)(/(a|b|\\+|#)){0,3}", 1..20),
            topic in "(a|b|\\$s)(/(a|b)){0,4}",
        ) {
            let mut trie = SubscriptionTrie::new();
            let mut valid = Vec::new();
            for (i, f) in filters.iter().enumerate() {
                if let Ok(tf) = TopicFilter::new(f.clone()) {
                    trie.insert(&tf, None, i as u32, SubOptions::default());
                    valid.push((i as u32, tf));
                }
            }
            let topic = Topic::new(topic).unwrap();
            let mut got = Vec::new();
            trie.for_each_match(&topic, |leaf| got.extend(leaf.subs.iter().map(|(id, _)| *id)));
            got.sort_unstable();
            let mut want: Vec<u32> = valid.iter().filter(|(_, f)| f.matches(&topic)).map(|(i, _)| *i).collect();
            want.sort_unstable();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
