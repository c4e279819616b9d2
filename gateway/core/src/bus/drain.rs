//! How the bus tells paused publishers that a slow subscriber has caught up.
//!
//! A publish that finds a connected subscriber's mqueue more than half full gets the
//! subscriber's [`DrainSignal`] back and stops reading until the signal wakes it (or the
//! `publish_backpressure` pause ends, whichever comes first). Each time the subscriber takes
//! deliveries and its queue is at most a quarter full, one waiting publisher is woken: it
//! handles what it has read in one go, and the others stay paused. Waking them all at once
//! would refill the queue past half at once and pause each after a single message, so every
//! message would cost a wake-up and a write.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Wakes publishers paused by a congested subscriber as its mqueue drains.
#[derive(Debug, Default)]
pub struct DrainSignal {
    notify: Notify,
    /// Publishers waiting, so the subscriber's drain path costs one atomic load while nobody
    /// waits.
    waiting: AtomicUsize,
}

impl DrainSignal {
    /// Waits until the subscriber has drained enough for this publisher to go on. A drain that
    /// happened before this call is not seen; callers bound the wait with a timer.
    pub async fn drained(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Queued as a waiter before being counted, so a wake-up in between is not lost.
        notified.as_mut().enable();
        let _waiting = WaitingGuard::new(&self.waiting);
        notified.await;
    }

    /// Whether a publisher waits.
    pub fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }

    /// The queue has drained to its low watermark: wake the longest-waiting publisher.
    pub fn wake_one(&self) {
        if self.has_waiters() {
            self.notify.notify_one();
        }
    }

    /// The subscriber went away: nobody needs to wait for it.
    pub fn wake_all(&self) {
        if self.has_waiters() {
            self.notify.notify_waiters();
        }
    }
}

/// Counts a waiting publisher for as long as its wait lasts (also if the wait is cancelled).
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
