//! CONNECT validation (§3.1) and the CONNACK (§3.2) that answers it.

use std::time::Instant;

use super::{Channel, ClientLimits, CloseReason, ConnAckParams, Event, Held, State};
use crate::codec::{reason, ConnAck, ConnAckProperties, Connect, MqttString, Packet, ProtocolVersion, QoS};

impl Channel {
    /// A CONNECT as first packet: validate it, then hand it to the glue.
    pub(super) fn on_connect(&mut self, connect: Box<Connect>) {
        let version = connect.version;
        self.version = Some(version);
        // The decoder already did this when the CONNECT came through `handle_bytes`.
        self.codec.set_version(version);
        if let Some(code) = self.check_connect(&connect) {
            self.send_connack_error(code, None);
            self.close(CloseReason::ConnectRejected(code));
            return;
        }
        let props = &connect.properties;
        if version == ProtocolVersion::V5 {
            self.client = ClientLimits {
                receive_maximum: props.receive_maximum.unwrap_or(u16::MAX),
                max_packet_size: props.maximum_packet_size.unwrap_or(u32::MAX),
                topic_alias_maximum: props.topic_alias_maximum.unwrap_or(0),
                session_expiry_interval: props.session_expiry_interval.unwrap_or(0),
            };
        }
        self.keepalive.secs = connect.keep_alive;
        self.state = State::AwaitAccept;
        self.events.push_back(Event::Connect(connect));
    }

    /// The 5.0 reason code to refuse this CONNECT with, if any.
    fn check_connect(&self, connect: &Connect) -> Option<u8> {
        let config = &self.config;
        if connect.version == ProtocolVersion::V5 && connect.properties.authentication_method.is_some() {
            // Enhanced authentication is not supported [MQTT-4.12.0-1].
            return Some(reason::BAD_AUTHENTICATION_METHOD);
        }
        if connect.client_id.len() > config.max_clientid_len {
            return Some(reason::CLIENT_IDENTIFIER_NOT_VALID);
        }
        if connect.client_id.is_empty() {
            let allowed = match connect.version {
                // 3.1 requires 1 to 23 characters (3.1 §3.1, "Client Identifier").
                ProtocolVersion::V3_1 => false,
                // [MQTT-3.1.3-8] (3.1.1): an empty id needs Clean Session = 1.
                ProtocolVersion::V3_1_1 => connect.clean_start,
                // [MQTT-3.1.3-6] (5.0): the server assigns one (Assigned Client Identifier).
                ProtocolVersion::V5 => true,
            };
            if !allowed {
                return Some(reason::CLIENT_IDENTIFIER_NOT_VALID);
            }
        }
        if let Some(will) = &connect.will {
            if will.qos > config.max_qos_allowed {
                // [MQTT-3.2.2-12]
                return Some(reason::QOS_NOT_SUPPORTED);
            }
            if will.retain && !config.retain_available {
                // [MQTT-3.2.2-13]
                return Some(reason::RETAIN_NOT_SUPPORTED);
            }
        }
        None
    }

    /// After [`Event::Connect`]: send a successful CONNACK, its properties taken from the
    /// configuration and `params`, then process the packets received meanwhile. Ignored
    /// unless a CONNECT is waiting for an answer.
    pub fn accept_connect(&mut self, now: Instant, params: ConnAckParams) {
        if self.state != State::AwaitAccept {
            return;
        }
        let mut properties = ConnAckProperties::default();
        if self.is_v5() {
            let config = &self.config;
            properties.session_expiry_interval = params.session_expiry_interval;
            if config.receive_maximum != u16::MAX {
                properties.receive_maximum = Some(config.receive_maximum.max(1));
            }
            if config.max_qos_allowed < QoS::ExactlyOnce {
                properties.maximum_qos = Some(config.max_qos_allowed as u8);
            }
            if !config.retain_available {
                properties.retain_available = Some(0);
            }
            properties.maximum_packet_size = Some(config.max_packet_size);
            properties.assigned_client_identifier = params.assigned_client_id;
            if config.max_topic_alias > 0 {
                properties.topic_alias_maximum = Some(config.max_topic_alias);
            }
            if !config.wildcard_subscription {
                properties.wildcard_subscription_available = Some(0);
            }
            if !config.shared_subscription {
                properties.shared_subscription_available = Some(0);
            }
            if let Some(server_keepalive) = config.server_keepalive {
                // [MQTT-3.2.2-21]: the client must use this value instead of its own.
                properties.server_keep_alive = Some(server_keepalive);
                self.keepalive.secs = server_keepalive;
            }
        }
        self.send(&Packet::ConnAck(ConnAck {
            session_present: params.session_present,
            code: reason::SUCCESS,
            properties: properties.into(),
        }));
        self.state = State::Connected;
        self.keepalive.touch(now);
        // Replay what arrived while the glue was deciding, in order.
        let Some(held) = self.held.take() else { return };
        let Held { packets, mut error } = *held;
        let mut packets = packets.into_iter();
        while self.state == State::Connected {
            match packets.next() {
                Some(packet) => self.on_packet(packet),
                None => {
                    if let Some(err) = error.take() {
                        self.on_decode_error(err);
                    }
                    break;
                }
            }
        }
    }

    /// After [`Event::Connect`]: send a CONNACK with this 5.0 reason code (3.x: mapped by
    /// [`reason::connack_v3_code`]) and close with [`CloseReason::ConnectRejected`].
    /// Packets received meanwhile are dropped [MQTT-3.1.4-5]. A code below 0x80 is not a
    /// refusal and is replaced by 0x80 (unspecified error). Ignored unless a CONNECT is
    /// waiting for an answer.
    pub fn reject_connect(&mut self, reason_code: u8, reason_string: Option<MqttString>) {
        if self.state != State::AwaitAccept {
            return;
        }
        let code = if reason_code < 0x80 { reason::UNSPECIFIED_ERROR } else { reason_code };
        self.send_connack_error(code, reason_string);
        self.close(CloseReason::ConnectRejected(code));
    }

    /// A refusing CONNACK in the client's version; the reason string is dropped if the
    /// packet would exceed the client's Maximum Packet Size [MQTT-3.2.2-19].
    pub(super) fn send_connack_error(&mut self, code: u8, reason_string: Option<MqttString>) {
        let packet = |reason_string| {
            Packet::ConnAck(ConnAck {
                session_present: false,
                code,
                properties: ConnAckProperties { reason_string, ..Default::default() }.into(),
            })
        };
        match self.version {
            Some(ProtocolVersion::V5) => {
                let mut connack = packet(reason_string);
                if self.too_large_for_client(&connack) {
                    connack = packet(None);
                }
                self.send(&connack);
            }
            Some(_) => self.send(&Packet::ConnAck(ConnAck {
                session_present: false,
                code: reason::connack_v3_code(code),
                properties: Default::default(),
            })),
            None => {}
        }
    }
}
