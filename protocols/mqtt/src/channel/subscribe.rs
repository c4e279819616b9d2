//! SUBACK (§3.9) and UNSUBACK (§3.11). Filters themselves are judged by the glue.

use std::num::NonZeroU16;

use super::{Channel, State};
use crate::codec::{reason, Packet, SubAck, UnsubAck};

impl Channel {
    /// SUBACK with one 5.0 reason code per filter (0/1/2 = granted QoS, >= 0x80 failure);
    /// for 3.x every failure becomes 0x80 [MQTT-3.9.3-2 of 3.1.1].
    pub fn ack_subscribe(&mut self, packet_id: NonZeroU16, mut reason_codes: Vec<u8>) {
        if self.state != State::Connected {
            return;
        }
        if !self.is_v5() {
            for code in &mut reason_codes {
                if *code >= 0x80 {
                    *code = reason::v3::SUBACK_FAILURE;
                }
            }
        }
        // No reason string / user properties: always allowed, whatever Request Problem
        // Information says [MQTT-3.1.2-29].
        self.send(&Packet::SubAck(SubAck { packet_id, reason_codes, properties: Default::default() }));
    }

    /// UNSUBACK with one 5.0 reason code per filter (0x00 success, 0x11 no subscription
    /// existed, 0x87 not authorized, ...); 3.x UNSUBACK carries none.
    pub fn ack_unsubscribe(&mut self, packet_id: NonZeroU16, mut reason_codes: Vec<u8>) {
        if self.state != State::Connected {
            return;
        }
        if !self.is_v5() {
            reason_codes.clear();
        }
        self.send(&Packet::UnsubAck(UnsubAck { packet_id, reason_codes, properties: Default::default() }));
    }
}
