//! The shared flow window: publishers never get more than `window` messages per subscriber
//! ahead of the deliveries counted, so a run measures a sustained delivery rate rather than how
//! fast queues fill.
//!
//! Fire-and-forget publishers lose messages (a UDP datagram dropped, a queue overflowing), and a
//! lost message would hold its place in the window for ever, shrinking it until publishing stops.
//! So when the window is full and no delivery at all has arrived for [`STALL`] (on loopback,
//! deliveries in flight arrive within milliseconds), what is still owed is presumed lost and no
//! longer waited for ("forgiven"; the reported loss is not affected).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// A full window with no delivery for this long is presumed to be waiting for lost messages.
const STALL: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct Flow {
    /// Messages handed to the publishers so far (each owes `subs` deliveries).
    sent: AtomicU64,
    /// Deliveries counted by the subscribers.
    received: AtomicU64,
    /// Rung when deliveries arrive or are forgiven: waiting publishers look again.
    room: Notify,
    /// Deliveries presumed lost and no longer waited for.
    forgiven: AtomicU64,
    /// Times that happened.
    stalls: AtomicU64,
    subs: u64,
    /// Most deliveries outstanding (window × subs); 0 = no limit.
    limit: u64,
}

impl Flow {
    pub(crate) fn new(subs: u64, window: u64) -> Self {
        let subs = subs.max(1);
        Self {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            room: Notify::new(),
            forgiven: AtomicU64::new(0),
            stalls: AtomicU64::new(0),
            subs,
            limit: window.saturating_mul(subs),
        }
    }

    /// Counts `n` deliveries (from a subscriber) and wakes waiting publishers.
    pub(crate) fn delivered(&self, n: u64) {
        self.received.fetch_add(n, Relaxed);
        self.room.notify_waiters();
    }

    /// Deliveries counted so far.
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Relaxed)
    }

    /// Waits until the window has room and reserves up to `want` messages; 0 once `deadline`
    /// has passed.
    pub(crate) async fn reserve(&self, want: u64, deadline: Instant) -> u64 {
        let mut last_received = self.received();
        let mut quiet_since = Instant::now();
        loop {
            // registered before looking, so a delivery in between is not missed
            let rung = self.room.notified();
            tokio::pin!(rung);
            rung.as_mut().enable();
            let now = Instant::now();
            if now >= deadline {
                return 0;
            }
            if self.limit == 0 {
                self.sent.fetch_add(want, Relaxed);
                return want;
            }
            let forgiven = self.forgiven.load(Relaxed);
            let received = self.received();
            let backlog = (self.sent.load(Relaxed) * self.subs).saturating_sub(received + forgiven);
            if backlog + self.subs <= self.limit {
                let k = ((self.limit - backlog) / self.subs).min(want);
                self.sent.fetch_add(k, Relaxed);
                return k;
            }
            if received != last_received {
                last_received = received;
                quiet_since = now;
            } else if now >= quiet_since + STALL {
                // only one of the waiting publishers forgives a given backlog
                if self.forgiven.compare_exchange(forgiven, forgiven + backlog, Relaxed, Relaxed).is_ok() {
                    self.stalls.fetch_add(1, Relaxed);
                    self.room.notify_waiters();
                }
                quiet_since = now;
                continue;
            }
            tokio::select! {
                () = rung => {}
                () = tokio::time::sleep_until((quiet_since + STALL).min(deadline)) => {}
            }
        }
    }

    /// Deliveries the window stopped waiting for.
    pub(crate) fn forgiven(&self) -> u64 {
        self.forgiven.load(Relaxed)
    }

    /// Times the window was found stuck on lost messages.
    pub(crate) fn stalls(&self) -> u64 {
        self.stalls.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn window_bounds_the_backlog_and_a_stall_forgives_it() {
        let flow = Flow::new(2, 10);
        let deadline = Instant::now() + Duration::from_secs(60);
        assert_eq!(flow.reserve(64, deadline).await, 10);
        // the window is full: 20 deliveries owed; 6 arrive → room for 3 messages
        flow.delivered(6);
        assert_eq!(flow.reserve(64, deadline).await, 3);
        // nothing more arrives: after STALL the backlog (26 owed - 6 received = 20) is forgiven
        let t = Instant::now();
        assert_eq!(flow.reserve(64, deadline).await, 10);
        assert!(t.elapsed() >= STALL);
        assert_eq!((flow.forgiven(), flow.stalls()), (20, 1));
        // past the deadline: nothing
        assert_eq!(flow.reserve(64, Instant::now()).await, 0);
    }
}
