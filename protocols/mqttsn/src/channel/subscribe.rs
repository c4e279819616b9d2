//! SUBSCRIBE / UNSUBSCRIBE (§6.9-6.10).
//!
//! The topic id in SUBACK is filled by the channel: a non-wildcard name gets its
//! (possibly new) registered id, a wildcard or short name 0x0000, a predefined id itself.
//! An unknown predefined id is answered SUBACK 0x02 here without an event. A SUBSCRIBE
//! re-sent with DUP=1 is answered with the same SUBACK (or ignored while the glue has not
//! answered yet) and not reported twice.

use bytes::Bytes;

use crate::codec::{self, return_code, Message, QoS, Subscribe, TopicRef};

use super::registry::is_wildcard;
use super::{Channel, Event, State};

/// How many SUBACKs are remembered for answering retransmitted SUBSCRIBEs.
const RECENT_SUBACKS: usize = 16;

/// The topic of a SUBSCRIBE / UNSUBSCRIBE, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeTopic {
    /// A topic name or filter (wildcards allowed).
    Name(String),
    /// A predefined id and its name from the config.
    Predefined(u16, String),
    /// A short (2-character) topic name.
    Short(String),
}

impl SubscribeTopic {
    /// The topic filter to subscribe to on the bus.
    pub fn filter(&self) -> &str {
        match self {
            Self::Name(n) | Self::Predefined(_, n) | Self::Short(n) => n,
        }
    }
}

impl Channel {
    fn resolve(&self, topic: TopicRef) -> Option<SubscribeTopic> {
        match topic {
            TopicRef::Name(n) => Some(SubscribeTopic::Name(n)),
            TopicRef::Predefined(id) => {
                self.config.predefined_name(id).map(|n| SubscribeTopic::Predefined(id, n.to_owned()))
            }
            TopicRef::Short(s) => String::from_utf8(s.to_vec()).ok().map(SubscribeTopic::Short),
        }
    }

    pub(super) fn on_subscribe(&mut self, s: Subscribe) {
        if s.dup {
            if self.subs_pending.contains_key(&s.msg_id) {
                return;
            }
            if let Some((_, suback)) = self.recent_subacks.iter().find(|(id, _)| *id == s.msg_id) {
                let suback = suback.clone();
                self.transmit.push_back(suback);
                return;
            }
        }
        let Some(topic) = self.resolve(s.topic) else {
            self.send_suback(s.msg_id, QoS::AtMostOnce, 0, return_code::INVALID_TOPIC_ID);
            return;
        };
        self.subs_pending.insert(s.msg_id, topic.clone());
        self.events.push_back(Event::Subscribe { msg_id: s.msg_id, topic, qos: s.qos.bits().min(2) });
    }

    /// Answers [`Event::Subscribe`]: SUBACK with `granted_qos` and `return_code`, the topic
    /// id filled per the module docs (0 on rejection). A `granted_qos` above 2 with return
    /// code 0 is sent as 0x03 (not supported).
    pub fn ack_subscribe(&mut self, msg_id: u16, granted_qos: u8, return_code: u8) {
        if self.state == State::Closed {
            return;
        }
        let topic = self.subs_pending.remove(&msg_id);
        let mut rc = return_code;
        if rc == return_code::ACCEPTED && granted_qos > 2 {
            rc = return_code::NOT_SUPPORTED;
        }
        let mut topic_id = 0;
        if rc == return_code::ACCEPTED {
            match &topic {
                Some(SubscribeTopic::Name(name)) if !is_wildcard(name) => match self.registry.assign(name, true) {
                    Some(id) => topic_id = id,
                    None => rc = return_code::CONGESTION,
                },
                Some(SubscribeTopic::Predefined(id, _)) => topic_id = *id,
                _ => {}
            }
        }
        let qos = if rc == return_code::ACCEPTED { QoS::from_level(granted_qos) } else { QoS::AtMostOnce };
        self.send_suback(msg_id, qos, topic_id, rc);
    }

    fn send_suback(&mut self, msg_id: u16, qos: QoS, topic_id: u16, return_code: u8) {
        let Ok(bytes) = codec::to_bytes(&Message::SubAck { qos, topic_id, msg_id, return_code }) else { return };
        self.recent_subacks.retain(|(id, _)| *id != msg_id);
        if self.recent_subacks.len() >= RECENT_SUBACKS {
            self.recent_subacks.pop_front();
        }
        self.recent_subacks.push_back((msg_id, Bytes::clone(&bytes)));
        self.transmit.push_back(bytes);
    }

    pub(super) fn on_unsubscribe(&mut self, msg_id: u16, topic: TopicRef) {
        match self.resolve(topic) {
            Some(topic) => self.events.push_back(Event::Unsubscribe { msg_id, topic }),
            // Nothing can be subscribed under an unknown id; UNSUBACK has no return code.
            None => self.send(&Message::UnsubAck { msg_id }),
        }
    }

    /// Answers [`Event::Unsubscribe`] with UNSUBACK.
    pub fn ack_unsubscribe(&mut self, msg_id: u16) {
        if self.state != State::Closed {
            self.send(&Message::UnsubAck { msg_id });
        }
    }
}
