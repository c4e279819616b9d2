//! Keep alive [MQTT-3.1.2-22] (5.0) / [MQTT-3.1.2-24] (3.1.1) and the CONNECT idle timeout.

use std::time::{Duration, Instant};

use super::{Channel, CloseReason, State};
use crate::codec::{reason, ProtocolVersion};

/// Keep-alive bookkeeping: the effective interval and when the last packet arrived.
#[derive(Debug)]
pub(super) struct KeepAlive {
    /// Effective keep alive in seconds (client's, or Server Keep Alive in 5.0); 0 = off.
    pub(super) secs: u16,
    /// Grace factor: the connection is closed `secs * multiplier` after the last packet.
    multiplier: f32,
    /// When the last complete packet was received.
    pub(super) last_recv: Instant,
}

impl KeepAlive {
    pub(super) fn new(multiplier: f32, now: Instant) -> Self {
        // A nonsensical multiplier would make every connection time out at once (or
        // never); fall back to the specification's one and a half.
        let multiplier = if multiplier.is_finite() && multiplier >= 1.0 { multiplier } else { 1.5 };
        Self { secs: 0, multiplier, last_recv: now }
    }

    /// Any received packet counts as activity, not only PINGREQ.
    pub(super) fn touch(&mut self, now: Instant) {
        self.last_recv = self.last_recv.max(now);
    }

    /// When the connection times out, if keep alive is on.
    pub(super) fn deadline(&self) -> Option<Instant> {
        if self.secs == 0 {
            return None;
        }
        // Whole milliseconds, computed in f64: 1.5 × 10 s is exactly 15 000 ms.
        let ms = (f64::from(self.secs) * f64::from(self.multiplier) * 1000.0).round() as u64;
        Some(self.last_recv + Duration::from_millis(ms))
    }
}

impl Channel {
    /// Earliest instant at which [`Channel::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            // Before the CONNECT, `last_recv` is when the channel was made.
            State::AwaitConnect => Some(self.keepalive.last_recv + self.config.idle_timeout),
            State::Connected => self.keepalive.deadline(),
            // While the glue decides on the CONNECT no timer runs: the glue owns that wait.
            State::AwaitAccept | State::Closed => None,
        }
    }

    /// Fires the idle or keep-alive timeout if `now` has reached it.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::AwaitConnect if now >= self.keepalive.last_recv + self.config.idle_timeout => {
                // No CONNECT yet: nothing can be sent, the version is unknown.
                self.close(CloseReason::IdleTimeout);
            }
            State::Connected if self.keepalive.deadline().is_some_and(|d| now >= d) => {
                if self.version == Some(ProtocolVersion::V5) {
                    self.send_disconnect(reason::KEEP_ALIVE_TIMEOUT, None);
                }
                self.close(CloseReason::KeepAliveTimeout);
            }
            _ => {}
        }
    }
}
