//! Validated topic names and topic filters, the bus's addressing vocabulary.
//!
//! The rules are MQTT's (OASIS MQTT 5.0 §4.7), because every front-end maps onto MQTT topics:
//! levels are separated by `/`, `+` matches exactly one level, `#` matches any number of
//! trailing levels (including the parent level), and a topic starting with `$` is not matched
//! by a filter starting with a wildcard [MQTT-4.7.2-1].
//!
//! Both types wrap `Bytes` so that a topic decoded from a packet is shared, not copied, and a
//! delivery to a thousand subscribers clones only a reference count.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use thiserror::Error;

/// The longest topic or filter any protocol can carry (a 16-bit length prefix in MQTT).
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Why a topic name or filter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TopicError {
    /// Empty topic names and filters are not allowed [MQTT-4.7.3-1].
    #[error("topic is empty [MQTT-4.7.3-1]")]
    Empty,
    /// Longer than 65535 bytes [MQTT-4.7.3-3].
    #[error("topic is longer than 65535 bytes [MQTT-4.7.3-3]")]
    TooLong,
    /// Not UTF-8, or contains U+0000 [MQTT-4.7.3-2].
    #[error("topic is not valid UTF-8 or contains U+0000 [MQTT-4.7.3-2]")]
    InvalidUtf8,
    /// A topic name contains `+` or `#` [MQTT-3.3.2-2].
    #[error("wildcard in topic name [MQTT-3.3.2-2]")]
    WildcardInName,
    /// `+` or `#` does not occupy a whole level, or `#` is not last [MQTT-4.7.1-1], [MQTT-4.7.1-2].
    #[error("wildcard does not occupy a whole level or '#' is not last [MQTT-4.7.1-1]")]
    MisplacedWildcard,
    /// More levels than `mqtt.max_topic_levels` allows.
    #[error("topic has more levels than allowed (mqtt.max_topic_levels)")]
    TooManyLevels,
    /// A `$share/` filter without a valid group name or filter [MQTT-4.8.2-1], [MQTT-4.8.2-2].
    #[error("malformed shared subscription: $share/<group>/<filter> with a non-empty group without '/', '+' or '#' [MQTT-4.8.2-1]")]
    InvalidShare,
}

fn validate_text(bytes: &[u8]) -> Result<(), TopicError> {
    if bytes.is_empty() {
        return Err(TopicError::Empty);
    }
    if bytes.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| TopicError::InvalidUtf8)?;
    if text.contains('\0') {
        return Err(TopicError::InvalidUtf8);
    }
    Ok(())
}

/// Counts the levels of a topic or filter (`a/b` has 2, `/` has 2).
pub fn level_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'/').count() + 1
}

/// A topic name: what a message is published to. No wildcards.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Bytes);

impl Topic {
    /// Validates `bytes` as a topic name.
    pub fn new(bytes: impl Into<Bytes>) -> Result<Self, TopicError> {
        let bytes = bytes.into();
        validate_text(&bytes)?;
        if bytes.iter().any(|&b| b == b'+' || b == b'#') {
            return Err(TopicError::WildcardInName);
        }
        Ok(Self(bytes))
    }

    /// The topic as bytes (always valid UTF-8).
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The topic as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Whether this is a `$`-topic (such as `$SYS/...`), hidden from leading wildcards.
    pub fn is_dollar(&self) -> bool {
        self.0.first() == Some(&b'$')
    }

    /// Number of levels.
    pub fn levels(&self) -> usize {
        level_count(&self.0)
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A topic filter without any `$share/` prefix: what a subscription matches.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(Bytes);

impl TopicFilter {
    /// Validates `bytes` as a topic filter [MQTT-4.7.1-1], [MQTT-4.7.1-2].
    pub fn new(bytes: impl Into<Bytes>) -> Result<Self, TopicError> {
        let bytes = bytes.into();
        validate_text(&bytes)?;
        let mut levels = bytes.split(|&b| b == b'/').peekable();
        while let Some(level) = levels.next() {
            let has_plus = level.contains(&b'+');
            let has_hash = level.contains(&b'#');
            if (has_plus || has_hash) && level.len() != 1 {
                return Err(TopicError::MisplacedWildcard);
            }
            if has_hash && levels.peek().is_some() {
                return Err(TopicError::MisplacedWildcard);
            }
        }
        Ok(Self(bytes))
    }

    /// The filter as bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The filter as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Whether the filter contains `+` or `#`.
    pub fn has_wildcard(&self) -> bool {
        self.0.iter().any(|&b| b == b'+' || b == b'#')
    }

    /// Number of levels.
    pub fn levels(&self) -> usize {
        level_count(&self.0)
    }

    /// Whether `topic` matches this filter (the trie does this for many filters at once;
    /// this is the reference for one).
    pub fn matches(&self, topic: &Topic) -> bool {
        let first = self.0.first().copied();
        if topic.is_dollar() && (first == Some(b'+') || first == Some(b'#')) {
            return false;
        }
        let mut filter_levels = self.0.split(|&b| b == b'/');
        let mut topic_levels = topic.0.split(|&b| b == b'/');
        loop {
            match (filter_levels.next(), topic_levels.next()) {
                (Some(b"#"), _) => return true,
                (Some(b"+"), Some(_)) => {}
                (Some(f), Some(t)) if f == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A subscription target as a client writes it: a plain filter, or a filter shared by a
/// group (`$share/<group>/<filter>`, and EMQX's `$queue/<filter>` = group `$queue`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionFilter {
    /// The shared-subscription group, if any.
    pub group: Option<Arc<str>>,
    /// The topic filter matched against topics.
    pub filter: TopicFilter,
}

impl SubscriptionFilter {
    /// Parses what a client subscribes to.
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        if let Some(rest) = text.strip_prefix("$share/") {
            let (group, filter) = rest.split_once('/').ok_or(TopicError::InvalidShare)?;
            if group.is_empty() || group.contains(['+', '#']) || filter.is_empty() {
                return Err(TopicError::InvalidShare);
            }
            let filter = TopicFilter::new(Bytes::copy_from_slice(filter.as_bytes()))?;
            return Ok(Self { group: Some(Arc::from(group)), filter });
        }
        if let Some(filter) = text.strip_prefix("$queue/") {
            if filter.is_empty() {
                return Err(TopicError::InvalidShare);
            }
            let filter = TopicFilter::new(Bytes::copy_from_slice(filter.as_bytes()))?;
            return Ok(Self { group: Some(Arc::from("$queue")), filter });
        }
        let filter = TopicFilter::new(Bytes::copy_from_slice(text.as_bytes()))?;
        Ok(Self { group: None, filter })
    }

    /// Whether this is a shared subscription.
    pub fn is_shared(&self) -> bool {
        self.group.is_some()
    }
}

impl fmt::Display for SubscriptionFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group.as_deref() {
            Some("$queue") => write!(f, "$queue/{}", self.filter),
            Some(g) => write!(f, "$share/{g}/{}", self.filter),
            None => write!(f, "{}", self.filter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &'static str) -> Topic {
        Topic::new(s).unwrap()
    }
    fn f(s: &'static str) -> TopicFilter {
        TopicFilter::new(s).unwrap()
    }

    #[test]
    fn mqtt_4_7_1_filters_validate_wildcard_placement() {
        for ok in ["#", "+", "a/#", "a/+/b", "+/+", "/", "a//b", "sport/tennis/+", "$SYS/#"] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for bad in ["a#", "a/#/b", "a+", "a/b+/c", "##", ""] {
            assert!(TopicFilter::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mqtt_3_3_2_2_topic_names_have_no_wildcards() {
        assert_eq!(Topic::new("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(Topic::new("#"), Err(TopicError::WildcardInName));
        assert_eq!(Topic::new(""), Err(TopicError::Empty));
        assert_eq!(Topic::new(&b"a\0b"[..]), Err(TopicError::InvalidUtf8));
        assert!(Topic::new("a/b").is_ok());
    }

    #[test]
    fn mqtt_4_7_matching_examples_from_the_spec() {
        // §4.7.1.2: "sport/tennis/player1/#" matches these.
        let filter = f("sport/tennis/player1/#");
        assert!(filter.matches(&t("sport/tennis/player1")));
        assert!(filter.matches(&t("sport/tennis/player1/ranking")));
        assert!(filter.matches(&t("sport/tennis/player1/score/wimbledon")));
        assert!(f("sport/#").matches(&t("sport")));
        // §4.7.1.3: "sport/tennis/+" matches one level only.
        assert!(f("sport/tennis/+").matches(&t("sport/tennis/player1")));
        assert!(!f("sport/tennis/+").matches(&t("sport/tennis/player1/ranking")));
        assert!(!f("sport/+").matches(&t("sport")));
        assert!(f("sport/+").matches(&t("sport/")));
        assert!(f("+/+").matches(&t("/finance")));
        assert!(f("/+").matches(&t("/finance")));
        assert!(!f("+").matches(&t("/finance")));
    }

    #[test]
    fn mqtt_4_7_2_1_dollar_topics_hidden_from_leading_wildcards() {
        assert!(!f("#").matches(&t("$SYS/uptime")));
        assert!(!f("+/uptime").matches(&t("$SYS/uptime")));
        assert!(f("$SYS/#").matches(&t("$SYS/uptime")));
        assert!(f("$SYS/+").matches(&t("$SYS/uptime")));
    }

    #[test]
    fn shared_subscription_forms() {
        let s = SubscriptionFilter::parse("$share/g1/a/+").unwrap();
        assert_eq!(s.group.as_deref(), Some("g1"));
        assert_eq!(s.filter.as_str(), "a/+");
        let q = SubscriptionFilter::parse("$queue/a/b").unwrap();
        assert_eq!(q.group.as_deref(), Some("$queue"));
        assert_eq!(q.to_string(), "$queue/a/b");
        assert_eq!(SubscriptionFilter::parse("$share/g"), Err(TopicError::InvalidShare));
        assert_eq!(SubscriptionFilter::parse("$share//a"), Err(TopicError::InvalidShare));
        assert_eq!(SubscriptionFilter::parse("$share/g+/a"), Err(TopicError::InvalidShare));
        assert!(SubscriptionFilter::parse("a/b").unwrap().group.is_none());
    }
}
