//! What travels on the bus: messages, deliveries and client identities.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use super::topic::Topic;

/// Quality of service, as every front-end maps it onto MQTT's three levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    /// At most once.
    #[default]
    AtMostOnce = 0,
    /// At least once.
    AtLeastOnce = 1,
    /// Exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// From 0, 1 or 2.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }
}

/// A client identifier, unique within the bus; cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(Arc<str>);

impl ClientId {
    /// Wraps a client identifier.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Message metadata that front-ends carry through unchanged (MQTT 5 properties; STOMP
/// headers map onto these where they correspond).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageProps {
    /// Payload Format Indicator: `Some(1)` = UTF-8 text.
    pub payload_format_indicator: Option<u8>,
    /// Content type (MQTT 5 Content Type, STOMP `content-type`).
    pub content_type: Option<Arc<str>>,
    /// Response topic for request/response.
    pub response_topic: Option<Arc<str>>,
    /// Correlation data for request/response.
    pub correlation_data: Option<Bytes>,
    /// User properties, in order.
    pub user_properties: Vec<(Arc<str>, Arc<str>)>,
}

impl MessageProps {
    /// Whether nothing is set (the common case, kept allocation-free).
    pub fn is_empty(&self) -> bool {
        self.payload_format_indicator.is_none()
            && self.content_type.is_none()
            && self.response_topic.is_none()
            && self.correlation_data.is_none()
            && self.user_properties.is_empty()
    }
}

/// An application message as published. Shared (`Arc`) by every delivery of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic it was published to.
    pub topic: Topic,
    /// Payload; never copied by the bus.
    pub payload: Bytes,
    /// Publish QoS.
    pub qos: QoS,
    /// Retain flag as published.
    pub retain: bool,
    /// When the message expires (MQTT 5 Message Expiry Interval), if ever.
    pub expires_at: Option<Instant>,
    /// Client id of the publisher (for no-local and hash strategies), if any.
    pub publisher: Option<ClientId>,
    /// Metadata; boxed because most messages have none.
    pub props: Option<Box<MessageProps>>,
}

impl Message {
    /// A message without metadata, publisher or expiry.
    pub fn new(topic: Topic, payload: Bytes, qos: QoS, retain: bool) -> Self {
        Self { topic, payload, qos, retain, expires_at: None, publisher: None, props: None }
    }

    /// Whether the message has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Seconds left before expiry (rounded up), for re-stamping MQTT 5 Message Expiry Interval.
    pub fn remaining_expiry_secs(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs).unwrap_or(u32::MAX)
        })
    }

    /// The metadata, or an empty default.
    pub fn props(&self) -> &MessageProps {
        static EMPTY: std::sync::OnceLock<MessageProps> = std::sync::OnceLock::new();
        self.props.as_deref().unwrap_or_else(|| EMPTY.get_or_init(MessageProps::default))
    }

    /// Approximate memory held by the message, for byte-bounded queues.
    pub fn weight(&self) -> usize {
        self.payload.len() + self.topic.as_bytes().len() + size_of::<Self>()
    }
}

/// One message on its way to one session: the shared message plus what this subscription
/// made of it. Moved through the session's queue and in-flight window and cloned once per
/// QoS > 0 send, so kept to 40 bytes: what most deliveries lack is behind a pointer.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message, shared with every other delivery of it.
    pub message: Arc<Message>,
    /// QoS granted for this delivery: min(publish QoS, subscription QoS).
    pub qos: QoS,
    /// Retain flag to deliver (retain-as-published, or set for retained-on-subscribe).
    pub retain: bool,
    /// Subscription identifiers of every matching subscription of the session (MQTT 5, and
    /// the internal ones of the STOMP and CoAP front-ends); empty without an allocation.
    pub subscription_ids: Box<[u32]>,
    /// The shared-subscription group this came through, so it can be redispatched if the
    /// member goes away before acknowledging it.
    pub shared: Option<Box<SharedOrigin>>,
}

/// Where a shared-subscription delivery came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedOrigin {
    /// Group name.
    pub group: Arc<str>,
    /// The group's topic filter.
    pub filter: super::topic::TopicFilter,
}

#[cfg(test)]
mod tests {
    use super::Delivery;

    /// A fan-out moves one delivery per subscriber through a queue, the in-flight window and
    /// the connection's outbound list; every byte of it is copied there.
    #[test]
    fn a_delivery_stays_small() {
        let size = size_of::<Delivery>();
        assert!(size <= 40, "Delivery is {size} bytes, more than 40");
    }
}
