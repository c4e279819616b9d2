//! Keep alive (§6.6), DISCONNECT (§6.7) and sleeping clients (§6.14).
//!
//! ```text
//! active ──DISCONNECT(d)──► asleep ──PINGREQ(client id)──► awake ──finish_wake──► asleep
//!    ▲                        │  └──── sleep timer d expires ──► Closed(SleepTimeout)
//!    └────── CONNECT ─────────┘
//! ```
//! While asleep, keep alive and retransmissions are paused and deliveries refused. On
//! wake the glue delivers the buffered messages; PINGRESP goes out after them (and after
//! any REGISTER they needed is acknowledged), then the client is asleep again.

use std::time::{Duration, Instant};

use crate::codec::Message;

use super::{Channel, CloseReason, Event, State};

impl Channel {
    pub(super) fn keepalive_deadline(&self) -> Option<Instant> {
        if self.keepalive_secs == 0 {
            return None;
        }
        let secs = f64::from(self.keepalive_secs) * f64::from(self.config.keepalive_multiplier.max(1.0));
        Some(self.last_activity + Duration::from_secs_f64(secs))
    }

    pub(super) fn on_pingreq(&mut self, now: Instant, client_id: Option<String>) {
        match self.state {
            State::Active => self.send(&Message::PingResp),
            State::Asleep => {
                if client_id.is_some() && client_id.as_deref() == self.client_id.as_deref() {
                    self.state = State::Awake;
                    self.wake_finishing = false;
                    self.sleep_deadline = Some(now + Duration::from_secs(u64::from(self.sleep_secs)));
                    self.events.push_back(Event::Wake);
                } else {
                    // EMQX: a PINGREQ with another (or no) client id is ignored while asleep.
                    self.malformed("PINGREQ without the client's id while asleep".to_owned());
                }
            }
            // Already awake: the PINGRESP comes with finish_wake.
            _ => {}
        }
    }

    pub(super) fn on_disconnect(&mut self, now: Instant, duration: Option<u16>) {
        self.send(&Message::Disconnect { duration: None });
        match duration {
            Some(d) if d > 0 => {
                self.state = State::Asleep;
                self.sleep_secs = d;
                self.wake_finishing = false;
                self.sleep_deadline = Some(now + Duration::from_secs(u64::from(d)));
                self.events.push_back(Event::Sleep { duration: d });
            }
            _ => self.close(CloseReason::ClientDisconnect),
        }
    }

    /// After [`Event::Wake`] and the buffered deliveries: PINGRESP (once every REGISTER
    /// those deliveries needed is settled), then asleep again.
    pub fn finish_wake(&mut self) {
        if self.state != State::Awake {
            return;
        }
        self.wake_finishing = true;
        self.maybe_finish_wake();
    }

    pub(super) fn maybe_finish_wake(&mut self) {
        if self.state == State::Awake && self.wake_finishing && self.pending_regs.is_empty() {
            self.wake_finishing = false;
            self.send(&Message::PingResp);
            self.state = State::Asleep;
        }
    }
}
