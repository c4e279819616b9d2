//! PUBLISH in both directions (§6.8-6.13) and retransmission (Tretry / Nretry).
//!
//! Inbound: the topic id is resolved (normal → registry, predefined → config, short → the
//! two characters); an unknown id is answered PUBACK 0x02 here and not reported. QoS -1
//! inside a connection counts as QoS 0. The glue acks with [`Channel::ack_publish`]
//! (PUBACK, or PUBREC for an accepted QoS 2) and [`Channel::complete_release`] (PUBCOMP).
//!
//! Outbound ([`Channel::deliver`]): topic id chosen predefined > registered > short name >
//! REGISTER first. QoS 1/2 PUBLISH and PUBREL are re-sent (PUBLISH with DUP=1) every
//! `retry_interval`, `max_retries` times, then dropped with [`Event::Lost`].

use std::time::Instant;

use bytes::Bytes;

use crate::codec::{return_code, Message, Publish, QoS, TopicIdType};

use super::registry::QueuedPublish;
use super::{Channel, DeliverError, Event, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    ExpectPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    ExpectPubRec,
    /// PUBREL sent, waiting for PUBCOMP.
    AfterPubRel,
}

/// One unacknowledged outbound QoS 1/2 exchange.
#[derive(Debug)]
pub(crate) struct Inflight {
    pub(crate) stage: Stage,
    /// The PUBLISH or PUBREL to re-send.
    pub(crate) message: Message,
    pub(crate) retries: u32,
    pub(crate) deadline: Instant,
}

impl Channel {
    pub(super) fn on_publish(&mut self, p: Publish) {
        let topic = match p.topic_id_type {
            TopicIdType::Normal => self.registry.name(p.topic_id).map(str::to_owned),
            TopicIdType::Predefined => self.config.predefined_name(p.topic_id).map(str::to_owned),
            TopicIdType::Short => String::from_utf8(p.topic_id.to_be_bytes().to_vec()).ok(),
        };
        let Some(topic) = topic else {
            self.send(&Message::PubAck {
                topic_id: p.topic_id,
                msg_id: p.msg_id,
                return_code: return_code::INVALID_TOPIC_ID,
            });
            return;
        };
        let qos = match p.qos {
            QoS::MinusOne => 0,
            q => q.bits(),
        };
        if qos > 0 {
            self.inbound_qos.insert(p.msg_id, qos);
        }
        self.events.push_back(Event::Publish {
            topic,
            topic_id: p.topic_id,
            payload: p.data,
            qos,
            retain: p.retain,
            dup: p.dup,
            msg_id: p.msg_id,
        });
    }

    /// Answers an inbound QoS 1/2 PUBLISH: PUBREC for an accepted QoS 2, PUBACK
    /// (`return_code`) otherwise.
    pub fn ack_publish(&mut self, msg_id: u16, topic_id: u16, return_code: u8) {
        if self.state == State::Closed {
            return;
        }
        let qos = self.inbound_qos.remove(&msg_id).unwrap_or(1);
        if qos == 2 && return_code == return_code::ACCEPTED {
            self.send(&Message::PubRec { msg_id });
        } else {
            self.send(&Message::PubAck { topic_id, msg_id, return_code });
        }
    }

    /// Answers [`Event::PubRel`] with PUBCOMP.
    pub fn complete_release(&mut self, msg_id: u16) {
        if self.state != State::Closed {
            self.send(&Message::PubComp { msg_id });
        }
    }

    /// Delivers a message to the client (see the module docs). `msg_id` is the bus
    /// session's packet id for QoS 1/2 (`None` for QoS 0); a QoS above 2 is capped.
    /// `Ok` means sent, or queued behind a REGISTER (then it ends in a send or
    /// [`Event::DeliveryFailed`]).
    pub fn deliver(
        &mut self,
        now: Instant,
        topic: &str,
        payload: Bytes,
        qos: u8,
        retain: bool,
        msg_id: Option<u16>,
    ) -> Result<(), DeliverError> {
        match self.state {
            State::Active | State::Awake => {}
            State::Asleep => return Err(DeliverError::Asleep),
            _ => return Err(DeliverError::NotConnected),
        }
        let qos = qos.min(2);
        if qos > 0 && msg_id.is_none() {
            return Err(DeliverError::MissingMsgId);
        }
        let total = 7 + payload.len();
        let total = if total <= 255 { total } else { total + 2 };
        if total > self.config.max_packet_size {
            return Err(DeliverError::TooLarge);
        }
        let queued = QueuedPublish { payload, qos, retain, msg_id };
        if let Some(id) = self.config.predefined_id(topic) {
            self.send_publish(now, id, TopicIdType::Predefined, queued);
        } else if let Some(id) = self.registry.confirmed_id(topic) {
            self.send_publish(now, id, TopicIdType::Normal, queued);
        } else if let [a, b] = topic.as_bytes() {
            self.send_publish(now, u16::from_be_bytes([*a, *b]), TopicIdType::Short, queued);
        } else if let Some(pending) = self.pending_regs.values_mut().find(|p| p.topic == topic) {
            pending.queued.push(queued);
        } else {
            if self.pending_regs.len() >= self.config.max_pending_registrations {
                return Err(DeliverError::TooManyPendingRegistrations);
            }
            let id = self.registry.assign(topic, false).ok_or(DeliverError::TopicIdsExhausted)?;
            self.start_register(now, id, topic.to_owned(), vec![queued]);
        }
        Ok(())
    }

    pub(super) fn send_publish(&mut self, now: Instant, topic_id: u16, kind: TopicIdType, q: QueuedPublish) {
        let msg_id = if q.qos == 0 { 0 } else { q.msg_id.unwrap_or(0) };
        let msg = Message::Publish(Publish {
            dup: false,
            qos: QoS::from_level(q.qos),
            retain: q.retain,
            topic_id_type: kind,
            topic_id,
            msg_id,
            data: q.payload,
        });
        self.send(&msg);
        if q.qos > 0 {
            let stage = if q.qos == 1 { Stage::ExpectPubAck } else { Stage::ExpectPubRec };
            let deadline = now + self.config.retry_interval;
            self.inflight.insert(msg_id, Inflight { stage, message: msg, retries: 0, deadline });
        }
    }

    /// PUBACK of our PUBLISH; 0x02 drops the topic id so the next delivery re-registers.
    pub(super) fn on_puback(&mut self, topic_id: u16, msg_id: u16, rc: u8) {
        if rc == return_code::INVALID_TOPIC_ID && topic_id >= super::FIRST_DYNAMIC_ID {
            self.registry.remove(topic_id);
        }
        let known = self.inflight.get(&msg_id).is_some_and(|i| i.stage != Stage::AfterPubRel);
        if known {
            self.inflight.remove(&msg_id);
            self.events.push_back(Event::PubAck { msg_id, return_code: rc });
        }
    }

    pub(super) fn on_pubrec(&mut self, now: Instant, msg_id: u16) {
        let Some(inflight) = self.inflight.get_mut(&msg_id) else { return };
        let first = inflight.stage == Stage::ExpectPubRec;
        if first || inflight.stage == Stage::AfterPubRel {
            inflight.stage = Stage::AfterPubRel;
            inflight.message = Message::PubRel { msg_id };
            inflight.retries = 0;
            inflight.deadline = now + self.config.retry_interval;
            self.send(&Message::PubRel { msg_id });
            if first {
                self.events.push_back(Event::PubRec { msg_id });
            }
        }
    }

    pub(super) fn on_pubcomp(&mut self, msg_id: u16) {
        if self.inflight.get(&msg_id).is_some_and(|i| i.stage == Stage::AfterPubRel) {
            self.inflight.remove(&msg_id);
            self.events.push_back(Event::PubComp { msg_id });
        }
    }

    /// Re-sends due PUBLISH (DUP=1) / PUBREL; after `max_retries` re-sends, [`Event::Lost`].
    pub(super) fn retransmit(&mut self, now: Instant) {
        let due: Vec<u16> = self.inflight.iter().filter(|(_, i)| i.deadline <= now).map(|(id, _)| *id).collect();
        for msg_id in due {
            let Some(inflight) = self.inflight.get_mut(&msg_id) else { continue };
            if inflight.retries >= self.config.max_retries {
                self.inflight.remove(&msg_id);
                self.events.push_back(Event::Lost { msg_id });
                continue;
            }
            inflight.retries += 1;
            inflight.deadline = now + self.config.retry_interval;
            if let Message::Publish(p) = &mut inflight.message {
                p.dup = true;
            }
            let msg = inflight.message.clone();
            self.send(&msg);
        }
    }
}
