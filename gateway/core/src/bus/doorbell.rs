//! How the bus tells a connection task that something happened to its session.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use futures_util::FutureExt;
use tokio::sync::Notify;

use crate::conn::hibernate;

/// Why the bus asks a connection to go away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickReason {
    /// Another connection took the session over (MQTT 5 reason 0x8E).
    TakenOver,
    /// Another connection with the same client id started a clean session, discarding this one.
    Discarded,
}

/// A connection's doorbell: rung when deliveries are queued for its session, or when it is
/// kicked. Ringing never blocks and never allocates; a ring with nobody waiting is kept as a
/// permit, so none is lost between two waits.
#[derive(Debug, Default)]
pub struct Doorbell {
    notify: Notify,
    kicked: AtomicU8,
    /// 1 + the hibernation slot of the connection while it sleeps, else 0: a ring must then
    /// give the connection a task again (see `conn::hibernate`).
    sleeping: AtomicU32,
}

impl Doorbell {
    /// A new doorbell.
    pub fn new() -> Self {
        Self::default()
    }

    /// Signals new deliveries.
    pub fn ring(&self) {
        self.notify.notify_one();
        self.wake_sleeper();
    }

    /// Asks the connection to close.
    pub fn kick(&self, reason: KickReason) {
        let code = match reason {
            KickReason::TakenOver => 1,
            KickReason::Discarded => 2,
        };
        self.kicked.store(code, Ordering::Release);
        self.notify.notify_one();
        self.wake_sleeper();
    }

    /// `notify_one` went first: a connection going to sleep either sees that permit
    /// (`take_ring`, after `set_sleeping`) or is seen sleeping here. Both sides are
    /// sequentially consistent (tokio's `Notify` updates its state with SeqCst operations).
    fn wake_sleeper(&self) {
        let sleeping = self.sleeping.load(Ordering::SeqCst);
        if sleeping != 0 {
            hibernate::wake(sleeping - 1, self);
        }
    }

    /// Records that the connection sleeps in hibernation slot `slot` (or no longer sleeps).
    pub(crate) fn set_sleeping(&self, slot: Option<u32>) {
        self.sleeping.store(slot.map_or(0, |s| s + 1), Ordering::SeqCst);
    }

    /// Consumes a ring that nobody has waited for yet, if there is one.
    pub(crate) fn take_ring(&self) -> bool {
        self.notify.notified().now_or_never().is_some()
    }

    /// Whether (and why) the connection was kicked.
    pub fn kicked(&self) -> Option<KickReason> {
        match self.kicked.load(Ordering::Acquire) {
            1 => Some(KickReason::TakenOver),
            2 => Some(KickReason::Discarded),
            _ => None,
        }
    }

    /// Waits for the next ring. Cancel-safe: a ring that arrives while nobody waits is kept.
    pub async fn rung(&self) {
        self.notify.notified().await;
    }
}
