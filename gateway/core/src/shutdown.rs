//! The shutdown signal shared by listeners, connections and the bus's timers.
//!
//! Every connection's driver loop waits for it alongside its socket, so its wait is polled
//! again at every wake-up of every connection. `tokio_util`'s `CancellationToken` locks two
//! mutexes shared by all its waiters on each such poll (the token's state, then its waiter
//! list), which moved the same two cache lines between cores several times per wake-up. A
//! [`Cancelled`] joins the waiter list once and is polled again with one atomic load.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// A shutdown signal; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<Signal>);

#[derive(Debug, Default)]
struct Signal {
    given: AtomicBool,
    notify: Notify,
}

impl Shutdown {
    /// A signal not given yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives the signal: every wait, present or future, completes.
    pub fn cancel(&self) {
        // Set before the waiters are woken, so each finds it set when polled.
        self.0.given.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether the signal has been given.
    pub fn is_cancelled(&self) -> bool {
        self.0.given.load(Ordering::SeqCst)
    }

    /// Completes once the signal is given.
    pub fn cancelled(&self) -> Cancelled<'_> {
        // The `Notified` is made before the flag is first read: a `cancel` in between is
        // seen by its first poll (it counts `notify_waiters` calls from its creation).
        Cancelled { given: &self.0.given, notified: self.0.notify.notified(), joined: false }
    }

    /// [`Shutdown::cancelled`] for a task of its own, which owns the signal.
    pub async fn cancelled_owned(self) {
        self.cancelled().await;
    }
}

pin_project_lite::pin_project! {
    /// The wait of [`Shutdown::cancelled`]. It joins the signal's waiter list on its first
    /// poll, with that poll's waker, and later polls only read the flag: it must be polled
    /// by one task throughout (as a future pinned in a task's loop is), whose waker stays
    /// valid for the task's life.
    #[derive(Debug)]
    pub struct Cancelled<'a> {
        given: &'a AtomicBool,
        #[pin]
        notified: Notified<'a>,
        joined: bool,
    }
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.given.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if *this.joined {
            return Poll::Pending;
        }
        *this.joined = true;
        // Ready if `cancel` ran since the `Notified` was made (the flag read above may have
        // come first); otherwise registered, and woken by `cancel`.
        this.notified.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Shutdown;

    #[tokio::test]
    async fn a_wait_polled_many_times_completes_on_cancel() {
        let shutdown = Shutdown::new();
        let waiting = shutdown.clone();
        let task = tokio::spawn(async move {
            let cancelled = waiting.cancelled();
            tokio::pin!(cancelled);
            // Polled again at each of five other wake-ups, then left waiting for the signal
            // alone: only the waker registered at the first poll can wake the task.
            let mut wakeups = 0u32;
            loop {
                tokio::select! {
                    biased;
                    () = &mut cancelled => return wakeups,
                    () = tokio::time::sleep(Duration::from_millis(1)), if wakeups < 5 => wakeups += 1,
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        shutdown.cancel();
        let wakeups = tokio::time::timeout(Duration::from_secs(5), task).await.expect("wait completed").unwrap();
        assert_eq!(wakeups, 5);
        assert!(shutdown.is_cancelled());
    }

    #[tokio::test]
    async fn a_wait_made_before_or_after_cancel_completes() {
        let shutdown = Shutdown::new();
        let before = shutdown.cancelled();
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), before).await.expect("made before");
        tokio::time::timeout(Duration::from_secs(1), shutdown.cancelled()).await.expect("made after");
        tokio::time::timeout(Duration::from_secs(1), shutdown.clone().cancelled_owned()).await.expect("owned");
    }
}
