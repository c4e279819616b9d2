//! The shutdown signal shared by listeners, connections and the bus's timers.

pub use tokio_util::sync::CancellationToken as Shutdown;
