//! How the bus tells a connection task that something happened to its session.

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::Notify;

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
}

impl Doorbell {
    /// A new doorbell.
    pub fn new() -> Self {
        Self::default()
    }

    /// Signals new deliveries.
    pub fn ring(&self) {
        self.notify.notify_one();
    }

    /// Asks the connection to close.
    pub fn kick(&self, reason: KickReason) {
        let code = match reason {
            KickReason::TakenOver => 1,
            KickReason::Discarded => 2,
        };
        self.kicked.store(code, Ordering::Release);
        self.notify.notify_one();
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
