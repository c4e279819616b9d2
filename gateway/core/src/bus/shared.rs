//! Picking one member of a shared-subscription group for a message.

use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

use serde::Deserialize;

use super::message::Message;
use super::trie::{SharedGroup, SubOptions, SubscriberId};

/// `mqtt.shared_subscription_strategy`, named as in EMQX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SharedStrategy {
    /// Members in turn.
    #[default]
    RoundRobin,
    /// A random member.
    Random,
    /// The same member until it leaves.
    Sticky,
    /// By a hash of the publisher's client id (one publisher → one member).
    HashClientid,
    /// By a hash of the topic (one topic → one member).
    HashTopic,
}

fn hash_of(value: impl Hash) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish() as usize
}

/// Picks the member that receives `message`. Members for which `connected` is true are
/// preferred; if none is connected, any member is picked (its parked session queues the
/// message). `exclude` is a member that must not be picked (one that is leaving).
pub(crate) fn pick(
    group: &SharedGroup,
    strategy: SharedStrategy,
    message: &Message,
    exclude: Option<SubscriberId>,
    connected: impl Fn(SubscriberId) -> bool,
) -> Option<(SubscriberId, SubOptions)> {
    let eligible = |id: SubscriberId| Some(id) != exclude;
    let live: Vec<usize> =
        (0..group.members.len()).filter(|&i| eligible(group.members[i].0) && connected(group.members[i].0)).collect();
    let candidates: Vec<usize> = if live.is_empty() {
        (0..group.members.len()).filter(|&i| eligible(group.members[i].0)).collect()
    } else {
        live
    };
    if candidates.is_empty() {
        return None;
    }
    let n = candidates.len();
    let index = match strategy {
        SharedStrategy::RoundRobin => group.cursor.fetch_add(1, Ordering::Relaxed) % n,
        SharedStrategy::Random => rand::random_range(0..n),
        SharedStrategy::HashClientid => hash_of(message.publisher.as_ref().map(|c| c.as_str())) % n,
        SharedStrategy::HashTopic => hash_of(message.topic.as_bytes()) % n,
        SharedStrategy::Sticky => {
            let current = group.sticky.load(Ordering::Relaxed);
            match candidates.iter().position(|&i| group.members[i].0 == current) {
                Some(pos) => pos,
                None => {
                    let pos = rand::random_range(0..n);
                    group.sticky.store(group.members[candidates[pos]].0, Ordering::Relaxed);
                    pos
                }
            }
        }
    };
    Some(group.members[candidates[index]])
}
