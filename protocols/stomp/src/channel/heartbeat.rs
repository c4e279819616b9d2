//! Heart-beats (1.2 §"Heart-beating").
//!
//! Negotiation: CONNECT carries the client's `cx,cy`, CONNECTED the server's `sx,sy`
//! ([`ChannelConfig::heartbeat_send_ms`](super::ChannelConfig::heartbeat_send_ms),
//! [`heartbeat_recv_ms`](super::ChannelConfig::heartbeat_recv_ms)). The server sends an EOL
//! every `max(sx, cy)` ms unless either is 0 — unconditionally, even when frames were sent
//! meanwhile (one byte per interval; it keeps the channel free of a clock on the send
//! path). It expects data every `max(cx, sy)` ms unless either is 0, and closes after
//! `heartbeat_timeout_factor` times that without a byte (the spec's "error margin").

use std::time::{Duration, Instant};

/// Negotiated intervals and their deadlines.
#[derive(Debug)]
pub(super) struct Heartbeat {
    send_every: Option<Duration>,
    next_send: Option<Instant>,
    recv_timeout: Option<Duration>,
    last_recv: Instant,
}

/// `max(ours, theirs)` ms, or `None` if either side declined (0).
pub(super) fn negotiate(ours: u32, theirs: u32) -> Option<u32> {
    (ours != 0 && theirs != 0).then(|| ours.max(theirs))
}

impl Heartbeat {
    pub(super) fn new(now: Instant) -> Self {
        Self { send_every: None, next_send: None, recv_timeout: None, last_recv: now }
    }

    /// Arms the timers at CONNECTED.
    pub(super) fn start(&mut self, now: Instant, send_ms: Option<u32>, recv_ms: Option<u32>, factor: f32) {
        self.send_every = send_ms.map(|ms| Duration::from_millis(u64::from(ms)));
        self.next_send = self.send_every.map(|d| now + d);
        let factor = if factor.is_finite() && factor >= 1.0 { factor } else { 1.0 };
        self.recv_timeout = recv_ms.map(|ms| Duration::from_millis(u64::from(ms)).mul_f32(factor));
        self.last_recv = now;
    }

    pub(super) fn received(&mut self, now: Instant) {
        self.last_recv = self.last_recv.max(now);
    }

    pub(super) fn timed_out(&self, now: Instant) -> bool {
        self.recv_timeout.is_some_and(|t| now >= self.last_recv + t)
    }

    /// Whether an EOL is due now; re-arms the send timer if so.
    pub(super) fn send_due(&mut self, now: Instant) -> bool {
        match (self.next_send, self.send_every) {
            (Some(at), Some(every)) if now >= at => {
                // Skip missed beats rather than bursting them.
                let mut next = at + every;
                if next <= now {
                    next = now + every;
                }
                self.next_send = Some(next);
                true
            }
            _ => false,
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let recv = self.recv_timeout.map(|t| self.last_recv + t);
        match (self.next_send, recv) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The negotiated send interval and the silence tolerated before closing.
    pub(super) fn intervals(&self) -> (Option<Duration>, Option<Duration>) {
        (self.send_every, self.recv_timeout)
    }
}
