//! Counters every part of the bus increments; `$SYS/` topics and the admin API read them.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident = $emqx:literal),* $(,)?) => {
        /// Bus-wide counters. Named after EMQX's metrics: the field with underscores, the
        /// exported name with EMQX's dots (`$SYS/brokers/{node}/metrics/...` turns those into
        /// topic levels).
        #[derive(Debug, Default)]
        pub struct Metrics {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        impl Metrics {
            /// Every counter with its EMQX-style dotted name, for export.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$(($emqx, self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

counters! {
    /// Messages published into the bus.
    messages_received = "messages.received",
    /// Deliveries handed to connections.
    messages_delivered = "messages.delivered",
    /// Published messages that matched no subscriber.
    messages_dropped_no_subscribers = "messages.dropped.no_subscribers",
    /// Deliveries dropped because a session's mqueue was full (the oldest goes).
    delivery_dropped_queue_full = "delivery.dropped.queue_full",
    /// QoS 0 deliveries not queued for an offline session (`mqueue_store_qos0 = false`).
    delivery_dropped_qos0_msg = "delivery.dropped.qos0_msg",
    /// Deliveries whose message expired before it could be sent.
    delivery_dropped_expired = "delivery.dropped.expired",
    /// Deliveries larger than the client's maximum packet size.
    delivery_dropped_too_large = "delivery.dropped.too_large",
    /// Deliveries negatively acknowledged (STOMP NACK) with no other group member to take them.
    delivery_dropped_nacked = "delivery.dropped.nacked",
    /// Retained messages refused by the store's limits.
    messages_retained_refused = "messages.retained.refused",
    /// Shared-subscription deliveries moved to another group member.
    messages_redispatched = "messages.redispatched",
    /// Sessions created.
    sessions_created = "session.created",
    /// Sessions resumed by a reconnect.
    sessions_resumed = "session.resumed",
    /// Sessions taken over by another connection.
    sessions_takenover = "session.takenover",
    /// Sessions ended (clean disconnect or expiry).
    sessions_terminated = "session.terminated",
    /// Will messages published.
    messages_will_published = "messages.will_published",
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
