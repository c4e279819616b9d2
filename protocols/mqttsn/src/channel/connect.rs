//! CONNECT, the will flow (§6.3) and will updates (§6.4).
//!
//! CONNECT with the Will flag → WILLTOPICREQ → WILLTOPIC → WILLMSGREQ → WILLMSG → then
//! [`Event::Connect`]; an empty WILLTOPIC ends the flow without a will. The flow must
//! complete within `idle_timeout` of the CONNECT. A re-sent CONNECT restarts it.

use std::time::Instant;

use bytes::Bytes;

use crate::codec::{return_code, Connect, Message, WillTopic};

use super::{Channel, CloseReason, Event, State, Will};

impl Channel {
    pub(super) fn on_connect(&mut self, now: Instant, connect: Connect) {
        // A new connection replaces whatever was in flight; the glue's session re-sends.
        self.inflight.clear();
        self.pending_regs.clear();
        self.inbound_qos.clear();
        self.subs_pending.clear();
        self.wake_finishing = false;
        self.pending_will = None;
        let will = connect.will;
        self.pending_connect = Some(connect);
        if will {
            self.state = State::WillTopic;
            self.will_deadline = Some(now + self.config.idle_timeout);
            self.send(&Message::WillTopicReq);
        } else {
            self.emit_connect(None);
        }
    }

    pub(super) fn on_will_topic(&mut self, _now: Instant, will: Option<WillTopic>) {
        match will {
            None => self.emit_connect(None),
            Some(w) => {
                self.pending_will = Some(w);
                self.state = State::WillMsg;
                self.send(&Message::WillMsgReq);
            }
        }
    }

    pub(super) fn on_will_msg(&mut self, payload: Bytes) {
        let will = self.pending_will.take().map(|w| Will {
            topic: w.topic,
            payload,
            qos: w.qos.bits().min(2),
            retain: w.retain,
        });
        self.emit_connect(will);
    }

    fn emit_connect(&mut self, will: Option<Will>) {
        let Some(c) = self.pending_connect.as_ref() else { return };
        self.will_deadline = None;
        self.has_will = will.is_some();
        self.state = State::AwaitAccept;
        self.events.push_back(Event::Connect {
            client_id: c.client_id.clone(),
            clean_session: c.clean_session,
            keepalive: c.duration,
            will,
        });
    }

    /// Accepts the CONNECT reported by [`Event::Connect`]: CONNACK 0x00, state active,
    /// keep alive running from `now`. CleanSession=1 forgets the topic registry;
    /// CleanSession=0 keeps it and, with `subs_resume`, re-REGISTERs every known id.
    pub fn accept_connect(&mut self, now: Instant) {
        if self.state != State::AwaitAccept {
            return;
        }
        let Some(c) = self.pending_connect.take() else { return };
        self.send(&Message::ConnAck { return_code: return_code::ACCEPTED });
        self.state = State::Active;
        self.client_id = Some(c.client_id);
        self.keepalive_secs = c.duration;
        self.last_activity = now;
        self.sleep_deadline = None;
        if c.clean_session {
            self.registry.clear();
            self.recent_subacks.clear();
        } else if self.config.subs_resume {
            self.resume_registrations(now);
        }
    }

    /// Refuses the CONNECT: CONNACK `return_code`, then [`CloseReason::Rejected`].
    pub fn reject_connect(&mut self, return_code: u8) {
        if self.state == State::AwaitAccept {
            self.send(&Message::ConnAck { return_code });
        }
        self.close(CloseReason::Rejected(return_code));
    }

    /// WILLTOPICUPD: answered WILLTOPICRESP 0; an empty one deletes the will.
    pub(super) fn on_will_topic_update(&mut self, will: Option<WillTopic>) {
        self.has_will = will.is_some();
        self.send(&Message::WillTopicResp { return_code: return_code::ACCEPTED });
        self.events.push_back(Event::WillTopicUpdate { will: will.map(|w| (w.topic, w.qos.bits().min(2), w.retain)) });
    }

    /// WILLMSGUPD: WILLMSGRESP 0x03 without a will (EMQX), else 0 and an event.
    pub(super) fn on_will_msg_update(&mut self, payload: Bytes) {
        if !self.has_will {
            self.send(&Message::WillMsgResp { return_code: return_code::NOT_SUPPORTED });
            return;
        }
        self.send(&Message::WillMsgResp { return_code: return_code::ACCEPTED });
        self.events.push_back(Event::WillMessageUpdate { payload });
    }
}
