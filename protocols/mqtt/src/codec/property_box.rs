//! [`PropertyBox`]: a packet's 5.0 properties stored out of line, allocated only once one
//! is set.
//!
//! Packets and channel events are moved by value once or more per message (decoder →
//! channel queue → glue), and on the QoS 1 fan-out those moves showed up as memmove in
//! profiles: inline, the property sets made a PUBLISH 232 bytes and a [`Packet`] 264 (for
//! CONNACK), mostly `None`s. Most packets carry no property at all (every 3.x packet, most
//! 5.0 PUBLISHes and acks), so a pointer that stays null costs 8 bytes and no allocation.
//! Sets that stay inline are small (SUBSCRIBE's, UNSUBSCRIBE's) or inside the boxed CONNECT.
//!
//! [`Packet`]: super::Packet

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

use super::{AckProperties, AuthProperties, ConnAckProperties, DisconnectProperties, PublishProperties};

/// A property set stored out of line; empty, it holds no allocation.
///
/// It reads as the set itself (`Deref`): an empty box reads as a shared empty set, so
/// `publish.properties.topic_alias` is `None` without anything allocated. The first mutable
/// access (`DerefMut`) allocates the set. Equality compares the sets, so an empty box equals
/// an allocated box whose set is empty.
pub struct PropertyBox<T>(Option<Box<T>>);

/// A property set that a [`PropertyBox`] can hold: it has a shared empty instance for an
/// empty box to read as.
pub trait EmptyProperties: Default + Send + Sync + 'static {
    /// The set with every property absent, equal to `Self::default()`.
    fn empty() -> &'static Self;
}

/// Statics cannot be generic, hence one empty set per type; `Default` is not `const`,
/// hence `OnceLock`.
macro_rules! empty_properties {
    ($($t:ty),* $(,)?) => {$(
        impl EmptyProperties for $t {
            fn empty() -> &'static Self {
                static EMPTY: OnceLock<$t> = OnceLock::new();
                EMPTY.get_or_init(<$t>::default)
            }
        }
    )*};
}

empty_properties!(PublishProperties, AckProperties, ConnAckProperties, DisconnectProperties, AuthProperties);

impl<T> PropertyBox<T> {
    /// Whether the set was allocated (by a mutable access or a non-empty `From`).
    #[cfg(test)]
    pub(crate) fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

impl<T> Default for PropertyBox<T> {
    /// Empty, without allocating.
    fn default() -> Self {
        Self(None)
    }
}

impl<T: EmptyProperties> Deref for PropertyBox<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.0 {
            Some(set) => set,
            None => T::empty(),
        }
    }
}

impl<T: EmptyProperties> DerefMut for PropertyBox<T> {
    /// Allocates the set on first use.
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

impl<T: EmptyProperties + PartialEq> From<T> for PropertyBox<T> {
    /// An empty set converts to an empty box, so building a packet from
    /// `XProperties { ..Default::default() }` allocates nothing when nothing is set.
    fn from(set: T) -> Self {
        Self((set != *T::empty()).then(|| Box::new(set)))
    }
}

impl<T: Clone> Clone for PropertyBox<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: EmptyProperties + PartialEq> PartialEq for PropertyBox<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: EmptyProperties + Eq> Eq for PropertyBox<T> {}

impl<T: EmptyProperties + fmt::Debug> fmt::Debug for PropertyBox<T> {
    /// As the set, so packets print as they did with the set inline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use crate::codec::{decode, AckProperties, Packet, ProtocolVersion, PublishProperties};

    use super::PropertyBox;

    fn decode_v5(wire: &[u8]) -> Packet {
        let mut buf = BytesMut::from(wire);
        decode(&mut buf, Some(ProtocolVersion::V5), u32::MAX).unwrap().unwrap()
    }

    #[test]
    fn empty_property_length_allocates_nothing() {
        // PUBLISH QoS 0, topic "t", Property Length 0, payload "x".
        let Packet::Publish(p) = decode_v5(&[0x30, 0x05, 0x00, 0x01, b't', 0x00, b'x']) else { panic!() };
        assert!(!p.properties.is_allocated());
        // PUBACK id 1, reason 0x10, Property Length 0.
        let Packet::PubAck(a) = decode_v5(&[0x40, 0x04, 0x00, 0x01, 0x10, 0x00]) else { panic!() };
        assert!(!a.properties.is_allocated());
        // DISCONNECT 0x04 (with Will), Property Length 0.
        let Packet::Disconnect(d) = decode_v5(&[0xE0, 0x02, 0x04, 0x00]) else { panic!() };
        assert!(!d.properties.is_allocated());
    }

    #[test]
    fn a_property_allocates_the_set() {
        // PUBLISH QoS 0, topic "t", Property Length 3: Topic Alias (0x23) = 1.
        let Packet::Publish(p) = decode_v5(&[0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x01]) else { panic!() };
        assert!(p.properties.is_allocated());
        assert_eq!(p.properties.topic_alias, Some(1));
    }

    #[test]
    fn equality_ignores_whether_the_set_was_allocated() {
        let mut touched = PropertyBox::<PublishProperties>::default();
        // A mutable access allocates, even one that sets nothing.
        touched.subscription_identifiers.clear();
        assert!(touched.is_allocated());
        assert_eq!(touched, PropertyBox::default());
        assert!(!PropertyBox::from(AckProperties::default()).is_allocated());
    }
}
