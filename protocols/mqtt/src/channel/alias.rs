//! Topic aliases (MQTT 5.0 §3.3.2.3.4), one table per direction.
//!
//! Aliases live only as long as the network connection [MQTT-3.3.2-7], so both tables are
//! plain fields of the channel and are never persisted. B-trees rather than hash maps: an
//! empty one is a third of the size, and most connections never use aliases.

use std::collections::BTreeMap;

use crate::codec::{reason, MqttString};

/// Client → server aliases: alias number → topic, bounded by our advertised
/// Topic Alias Maximum (so at most `max_topic_alias` entries).
#[derive(Debug, Default)]
pub(super) struct InboundAliases {
    map: BTreeMap<u16, MqttString>,
}

/// Why an inbound alias could not be resolved: the 5.0 reason code and the clause.
pub(super) type AliasError = (u8, &'static str);

impl InboundAliases {
    /// Resolves the topic of an inbound PUBLISH carrying `alias` (§3.3.4, "Actions"):
    /// a non-empty topic (re)defines the mapping, an empty one uses it.
    pub(super) fn resolve(&mut self, alias: u16, topic: &MqttString, max: u16) -> Result<MqttString, AliasError> {
        if alias == 0 {
            return Err((reason::TOPIC_ALIAS_INVALID, "[MQTT-3.3.2-8] topic alias 0"));
        }
        if alias > max {
            return Err((
                reason::TOPIC_ALIAS_INVALID,
                "[MQTT-3.3.2-9] topic alias above the Topic Alias Maximum sent in CONNACK",
            ));
        }
        if topic.is_empty() {
            return self
                .map
                .get(&alias)
                .cloned()
                .ok_or((reason::PROTOCOL_ERROR, "[§3.3.4] empty topic name with a topic alias that has no mapping"));
        }
        self.map.insert(alias, topic.clone());
        Ok(topic.clone())
    }
}

/// Server → client aliases: topic → alias, handed out in order 1, 2, ... up to the
/// client's Topic Alias Maximum and never reassigned (then topics are sent in full).
#[derive(Debug, Default)]
pub(super) struct OutboundAliases {
    map: BTreeMap<MqttString, u16>,
    /// Highest alias handed out so far (0 = none).
    last: u16,
}

impl OutboundAliases {
    /// The alias already given to `topic`.
    pub(super) fn get(&self, topic: &[u8]) -> Option<u16> {
        self.map.get(topic).copied()
    }

    /// The alias a new topic would get, if any is left below `max` [MQTT-3.1.2-26].
    pub(super) fn next_free(&self, max: u16) -> Option<u16> {
        (self.last < max).then_some(self.last + 1)
    }

    /// Records `alias` (from [`Self::next_free`]) for `topic` once the PUBLISH defining it
    /// was actually written.
    pub(super) fn insert(&mut self, topic: MqttString, alias: u16) {
        self.last = self.last.max(alias);
        self.map.insert(topic, alias);
    }
}
