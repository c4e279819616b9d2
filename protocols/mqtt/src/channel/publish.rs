//! PUBLISH in both directions (§3.3), the QoS acknowledgements (§3.4 - §3.7) and the
//! inbound Receive Maximum (§3.3.4, §4.9).

use std::num::NonZeroU16;

use bytes::Bytes;

use super::{Channel, Event, SendError, State};

/// Bytes reserved for the transmit buffer when a PUBLISH is the first thing written into it.
const FIRST_TRANSMIT_RESERVE: usize = 4096;
use crate::codec::{reason, MqttString, Packet, ProtocolVersion, PubAck, Publish, PublishRef, QoS};

impl Channel {
    /// An inbound PUBLISH of an accepted connection.
    pub(super) fn on_publish(&mut self, mut publish: Publish) {
        match self.check_publish(&mut publish) {
            Ok(()) => self.events.push_back(Event::Publish(publish)),
            Err((code, detail)) => self.fail(code, detail.to_owned()),
        }
    }

    /// Validates `publish`, resolving its topic alias into `topic`.
    fn check_publish(&mut self, publish: &mut Publish) -> Result<(), (u8, &'static str)> {
        let config = &self.config;
        if publish.qos > config.max_qos_allowed {
            return Err((reason::QOS_NOT_SUPPORTED, "[§3.2.2.3.4] PUBLISH QoS above the Maximum QoS"));
        }
        if publish.retain && !config.retain_available {
            return Err((reason::RETAIN_NOT_SUPPORTED, "[§3.2.2.3.5] retained PUBLISH while Retain Available is 0"));
        }
        if !publish.properties.subscription_identifiers.is_empty() {
            return Err((
                reason::PROTOCOL_ERROR,
                "[MQTT-3.3.4-6] Subscription Identifier in a PUBLISH from the client",
            ));
        }
        if publish.topic.as_bytes().iter().any(|b| *b == b'+' || *b == b'#') {
            return Err((reason::TOPIC_NAME_INVALID, "[MQTT-3.3.2-2] wildcard in topic name"));
        }
        match publish.properties.topic_alias {
            Some(alias) if self.is_v5() => {
                let aliases = &mut self.aliases.get_or_insert_with(Box::default).inbound;
                publish.topic = aliases.resolve(alias, &publish.topic, config.max_topic_alias)?;
            }
            _ if publish.topic.is_empty() => {
                return Err((
                    reason::PROTOCOL_ERROR,
                    "[§3.3.2.1, MQTT-4.7.3-1] empty topic name without a topic alias",
                ));
            }
            _ => {}
        }
        if let (Some(id), true) = (publish.packet_id, self.is_v5()) {
            // A re-sent packet id is counted once. 3.x has no Receive Maximum.
            if !self.inbound_unacked.contains(&id) {
                if self.inbound_unacked.len() >= usize::from(config.receive_maximum) {
                    return Err((
                        reason::RECEIVE_MAXIMUM_EXCEEDED,
                        "[MQTT-3.3.4-7] more unacknowledged QoS 1/2 PUBLISHes than Receive Maximum",
                    ));
                }
                self.inbound_unacked.insert(id);
            }
        }
        Ok(())
    }

    /// Answers an inbound PUBLISH: PUBACK for QoS 1, PUBREC for QoS 2, with a 5.0 reason
    /// code (0x00, 0x10 no matching subscribers, 0x87 not authorized, ...; 3.x sends none).
    /// A QoS 2 PUBREC with a reason >= 0x80 ends the exchange and frees the id. QoS 0 and a
    /// closed channel are ignored.
    pub fn ack_publish(&mut self, packet_id: NonZeroU16, qos: QoS, reason_code: u8) {
        if self.state != State::Connected {
            return;
        }
        let reason_code = if self.is_v5() { reason_code } else { reason::SUCCESS };
        let ack = PubAck { reason_code, ..PubAck::new(packet_id) };
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                self.inbound_unacked.remove(&packet_id);
                self.send(&Packet::PubAck(ack));
            }
            QoS::ExactlyOnce => {
                if reason_code >= 0x80 {
                    self.inbound_unacked.remove(&packet_id);
                }
                self.send(&Packet::PubRec(ack));
            }
        }
    }

    /// Answers [`Event::PubRel`]: PUBCOMP 0x00, or 0x92 Packet Identifier not found when
    /// `!found` (5.0). Frees the id for Receive Maximum.
    pub fn complete_release(&mut self, packet_id: NonZeroU16, found: bool) {
        if self.state != State::Connected {
            return;
        }
        self.inbound_unacked.remove(&packet_id);
        let reason_code = if found || !self.is_v5() { reason::SUCCESS } else { reason::PACKET_IDENTIFIER_NOT_FOUND };
        self.send(&Packet::PubComp(PubAck { reason_code, ..PubAck::new(packet_id) }));
    }

    /// Outbound QoS 2, second step (after [`Event::PubRec`], or when resuming a session).
    pub fn send_pubrel(&mut self, packet_id: NonZeroU16) {
        if self.state != State::Connected {
            return;
        }
        self.send(&Packet::PubRel(PubAck::new(packet_id)));
    }

    /// Delivers a message to the client.
    ///
    /// Any `topic_alias` in `publish` is replaced by ours: when the client's Topic Alias
    /// Maximum is above 0, each new topic gets the next alias until they are used up
    /// (later new topics go out in full); a topic that has an alias goes out as an empty
    /// topic name plus the alias [MQTT-3.1.2-26, MQTT-3.3.2-11]. 5.0-only properties are
    /// dropped for 3.x. A packet larger than the client's Maximum Packet Size is refused
    /// with [`SendError::TooLarge`] and nothing is written [MQTT-3.1.2-24]; the caller then
    /// treats the message as delivered [MQTT-3.1.2-25]. [`SendError::Closed`] unless
    /// connected.
    pub fn send_publish(&mut self, publish: Publish) -> Result<(), SendError> {
        self.send_publish_ref(publish.view())
    }

    /// [`Channel::send_publish`] from borrowed parts (a delivery's shared topic and payload).
    pub fn send_publish_ref(&mut self, publish: PublishRef<'_>) -> Result<(), SendError> {
        if self.state != State::Connected {
            return Err(SendError::Closed);
        }
        let version = self.version.unwrap_or(ProtocolVersion::V5);
        let max = self.client.topic_alias_maximum;
        let aliasing = max > 0 && !publish.topic.is_empty();
        if version != ProtocolVersion::V5 || (!aliasing && publish.properties.topic_alias.is_none()) {
            return self.send_encoded(&publish);
        }
        // 5.0 with aliases: the alias is this connection's, never one the message came with.
        let mut properties = publish.properties.clone();
        properties.topic_alias = None;
        let mut topic = publish.topic;
        let mut new_alias = None;
        if aliasing {
            let aliases = &mut self.aliases.get_or_insert_with(Box::default).outbound;
            if let Some(alias) = aliases.get(topic) {
                properties.topic_alias = Some(alias);
                topic = b"";
            } else if let Some(alias) = aliases.next_free(max) {
                properties.topic_alias = Some(alias);
                new_alias = Some(alias);
            }
        }
        self.send_encoded(&PublishRef { topic, properties: &properties, ..publish })?;
        if let Some(alias) = new_alias {
            let aliases = &mut self.aliases.get_or_insert_with(Box::default).outbound;
            // A PublishRef's topic is valid UTF-8 (see its field).
            aliases.insert(MqttString::from_trusted(Bytes::copy_from_slice(publish.topic)), alias);
        }
        Ok(())
    }

    /// Encodes a PUBLISH into the output, unless it is above the client's Maximum Packet
    /// Size or cannot be encoded (e.g. a topic over 65535 bytes): then nothing is written.
    fn send_encoded(&mut self, publish: &PublishRef<'_>) -> Result<(), SendError> {
        if self.tx.capacity() == 0 {
            // Deliveries come in bursts (a window's worth per wake-up): start at a page rather
            // than growing through 128, 256, ... bytes, copying each time.
            self.tx.reserve(FIRST_TRANSMIT_RESERVE);
        }
        let mark = self.tx.len();
        let encoded = self.codec.encode_publish(publish, &mut self.tx);
        if encoded.is_err() || (self.tx.len() - mark) as u64 > u64::from(self.client.max_packet_size) {
            self.tx.truncate(mark);
            return Err(SendError::TooLarge);
        }
        Ok(())
    }
}
