//! Publisher back-pressure, as every stream front-end applies it: a publisher's batch is
//! queued, and if a subscriber it reached is falling behind, the publisher stops reading
//! (better to give the subscriber time than to drop its oldest messages).

use std::time::Duration;

use gw_core::bus::{PublishBatch, SessionHandle};
use gw_core::conn::ReadPause;
use tokio::time::Instant;

/// A publishing connection's read pause, if any. Boxed: pauses are rare and every
/// connection's handler carries this (8 bytes rather than 24).
#[derive(Debug, Default)]
pub(crate) struct PublisherPause(Option<Box<ReadPause>>);

impl PublisherPause {
    /// Whether reading is paused at `now` (the handler stops between two frames).
    pub(crate) fn is_active(&self, now: Instant) -> bool {
        self.0.as_ref().is_some_and(|p| p.until > now)
    }

    /// The pause, for the stream driver ([`gw_core::conn::StreamHandler::read_pause`]).
    pub(crate) fn current(&self) -> Option<ReadPause> {
        self.0.as_deref().cloned()
    }

    /// The subscriber drained before the pause ran out.
    pub(crate) fn end(&mut self) {
        self.0 = None;
    }

    /// Queues `batch` and pauses reading, for at most `pause` (`mqtt.publish_backpressure`;
    /// None = never), if a subscriber it reached is falling behind.
    pub(crate) fn flush(
        &mut self,
        session: Option<&SessionHandle>,
        batch: &mut PublishBatch,
        pause: Option<Duration>,
        now: Instant,
    ) {
        let Some(session) = session.filter(|_| !batch.is_empty()) else { return };
        if let (Some(drained), Some(pause)) = (session.flush(batch, now), pause) {
            self.0 = Some(Box::new(ReadPause { until: now + pause, drained: Some(drained) }));
        }
    }
}
