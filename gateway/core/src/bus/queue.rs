//! The per-session message queue (EMQX's "mqueue"): messages waiting for a free slot in the
//! inflight window or for the client to come back.
//!
//! Bounded by count (`mqtt.max_mqueue_len`) and bytes (`mqtt.max_mqueue_bytes`); when full,
//! the OLDEST message is dropped to make room, as EMQX does, and every drop is counted.

use super::lazy_deque::LazyDeque;
use super::message::Delivery;

/// Queue bounds; 0 means unlimited for either.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Maximum number of queued messages.
    pub max_len: usize,
    /// Maximum queued payload bytes (approximate message weight).
    pub max_bytes: usize,
}

/// A bounded FIFO of deliveries that drops the oldest on overflow.
#[derive(Debug, Default)]
pub struct MessageQueue {
    items: LazyDeque<Delivery>,
    bytes: usize,
}

impl MessageQueue {
    /// Appends `delivery`, dropping the oldest entries until the limits hold.
    /// Returns the dropped deliveries (so the caller can count and redispatch them).
    pub fn push(&mut self, delivery: Delivery, limits: QueueLimits, dropped: &mut Vec<Delivery>) {
        self.bytes += delivery.message.weight();
        self.items.push_back(delivery);
        while self.over(limits) {
            match self.pop() {
                Some(old) => dropped.push(old),
                None => break,
            }
        }
    }

    fn over(&self, limits: QueueLimits) -> bool {
        (limits.max_len != 0 && self.items.len() > limits.max_len)
            || (limits.max_bytes != 0 && self.bytes > limits.max_bytes && self.items.len() > 1)
    }

    /// Removes the oldest delivery.
    pub fn pop(&mut self) -> Option<Delivery> {
        let d = self.items.pop_front()?;
        self.bytes -= d.message.weight();
        Some(d)
    }

    /// Puts a delivery back at the front (it could not be sent yet).
    pub fn push_front(&mut self, delivery: Delivery) {
        self.bytes += delivery.message.weight();
        self.items.push_front(delivery);
    }

    /// The oldest delivery, without removing it.
    pub fn front(&self) -> Option<&Delivery> {
        self.items.front()
    }

    /// Number of queued deliveries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Gives back capacity beyond what is queued.
    pub fn shrink_to_fit(&mut self) {
        self.items.shrink_to_fit();
    }

    /// Removes everything.
    pub fn drain(&mut self) -> impl Iterator<Item = Delivery> + '_ {
        self.bytes = 0;
        self.items.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::message::{Message, QoS};
    use crate::bus::topic::Topic;
    use bytes::Bytes;
    use std::sync::Arc;

    fn delivery(n: u8) -> Delivery {
        Delivery {
            message: Arc::new(Message::new(Topic::new("t").unwrap(), Bytes::from(vec![n]), QoS::AtLeastOnce, false)),
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: Box::default(),
            shared: None,
        }
    }

    #[test]
    fn overflow_drops_the_oldest() {
        let mut q = MessageQueue::default();
        let limits = QueueLimits { max_len: 3, max_bytes: 0 };
        let mut dropped = Vec::new();
        for n in 0..5 {
            q.push(delivery(n), limits, &mut dropped);
        }
        assert_eq!(q.len(), 3);
        let dropped: Vec<u8> = dropped.iter().map(|d| d.message.payload[0]).collect();
        assert_eq!(dropped, [0, 1]);
        let kept: Vec<u8> = q.drain().map(|d| d.message.payload[0]).collect();
        assert_eq!(kept, [2, 3, 4]);
    }

    #[test]
    fn byte_limit_keeps_at_least_one_message() {
        let mut q = MessageQueue::default();
        let one = delivery(0).message.weight();
        let limits = QueueLimits { max_len: 0, max_bytes: one * 2 };
        let mut dropped = Vec::new();
        for n in 0..4 {
            q.push(delivery(n), limits, &mut dropped);
        }
        assert_eq!(q.len(), 2);
        assert_eq!(dropped.len(), 2);
    }
}
