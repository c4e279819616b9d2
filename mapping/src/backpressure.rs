//! Publisher back-pressure, as every stream front-end applies it.

use std::time::Duration;

use gw_core::bus::{PublishBatch, SessionHandle};
use gw_core::conn::ReadPause;
use tokio::time::Instant;

/// Queues a publisher's batch and returns the read pause to apply if a subscriber it
/// reached is falling behind: better to give it time than to drop its oldest messages.
/// `pause` is `mqtt.publish_backpressure` (None = never pause).
pub(crate) fn flush_batch(
    session: &SessionHandle,
    batch: &mut PublishBatch,
    pause: Option<Duration>,
    now: Instant,
) -> Option<ReadPause> {
    if batch.is_empty() {
        return None;
    }
    let drained = session.flush(batch, now)?;
    pause.map(|pause| ReadPause { until: now + pause, drained: Some(drained) })
}
