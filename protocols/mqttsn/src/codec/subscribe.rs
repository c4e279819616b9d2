//! Subscriptions (§5.4.15-18).
//!
//! ```text
//! SUBSCRIBE   Length MsgType Flags MsgId(2) TopicName(n) | TopicId(2)
//! SUBACK      Length MsgType Flags TopicId(2) MsgId(2) ReturnCode
//! UNSUBSCRIBE Length MsgType Flags MsgId(2) TopicName(n) | TopicId(2)
//! UNSUBACK    Length MsgType MsgId(2)
//! ```
//! SUBSCRIBE flags: DUP, QoS, TopicIdType; SUBACK flags: QoS (granted);
//! UNSUBSCRIBE flags: TopicIdType. A short name or predefined id is exactly 2 bytes.

use bytes::{BufMut, BytesMut};

use super::flags::DUP;
use super::{msg_type as t, DecodeError, EncodeError, Message, QoS, Reader, Subscribe, TopicIdType, TopicRef};

fn decode_topic(flags: u8, r: &mut Reader<'_>) -> Result<TopicRef, DecodeError> {
    Ok(match TopicIdType::from_flags(flags)? {
        TopicIdType::Normal => TopicRef::Name(r.rest_string()?),
        kind => {
            let rest = r.rest();
            let [a, b] = rest else { return Err(DecodeError::InvalidTopicLength(rest.len())) };
            if kind == TopicIdType::Predefined {
                TopicRef::Predefined(u16::from_be_bytes([*a, *b]))
            } else {
                TopicRef::Short([*a, *b])
            }
        }
    })
}

fn encode_topic(topic: &TopicRef, body: &mut BytesMut) {
    match topic {
        TopicRef::Name(name) => body.extend_from_slice(name.as_bytes()),
        TopicRef::Predefined(id) => body.put_u16(*id),
        TopicRef::Short(s) => body.extend_from_slice(s),
    }
}

fn topic_flags(topic: &TopicRef) -> u8 {
    match topic {
        TopicRef::Name(_) => TopicIdType::Normal.to_flags(),
        TopicRef::Predefined(_) => TopicIdType::Predefined.to_flags(),
        TopicRef::Short(_) => TopicIdType::Short.to_flags(),
    }
}

pub(super) fn decode(msg_type: u8, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    Ok(match msg_type {
        t::SUBSCRIBE => {
            let flags = r.u8()?;
            let qos = QoS::from_flags_no_minus(flags)?;
            let msg_id = r.u16()?;
            Message::Subscribe(Subscribe { dup: flags & DUP != 0, qos, msg_id, topic: decode_topic(flags, r)? })
        }
        t::SUBACK => {
            let flags = r.u8()?;
            Message::SubAck {
                qos: QoS::from_flags_no_minus(flags)?,
                topic_id: r.u16()?,
                msg_id: r.u16()?,
                return_code: r.u8()?,
            }
        }
        t::UNSUBSCRIBE => {
            let flags = r.u8()?;
            let msg_id = r.u16()?;
            Message::Unsubscribe { msg_id, topic: decode_topic(flags, r)? }
        }
        _ => Message::UnsubAck { msg_id: r.u16()? },
    })
}

pub(super) fn encode(msg: &Message, body: &mut BytesMut) -> Result<u8, EncodeError> {
    Ok(match msg {
        Message::Subscribe(s) => {
            if s.qos == QoS::MinusOne {
                return Err(EncodeError::InvalidField("SUBSCRIBE with QoS -1"));
            }
            body.put_u8(if s.dup { DUP } else { 0 } | s.qos.to_flags() | topic_flags(&s.topic));
            body.put_u16(s.msg_id);
            encode_topic(&s.topic, body);
            t::SUBSCRIBE
        }
        Message::SubAck { qos, topic_id, msg_id, return_code } => {
            if *qos == QoS::MinusOne {
                return Err(EncodeError::InvalidField("SUBACK with QoS -1"));
            }
            body.put_u8(qos.to_flags());
            body.put_u16(*topic_id);
            body.put_u16(*msg_id);
            body.put_u8(*return_code);
            t::SUBACK
        }
        Message::Unsubscribe { msg_id, topic } => {
            body.put_u8(topic_flags(topic));
            body.put_u16(*msg_id);
            encode_topic(topic, body);
            t::UNSUBSCRIBE
        }
        Message::UnsubAck { msg_id } => {
            body.put_u16(*msg_id);
            t::UNSUBACK
        }
        _ => unreachable!("not a subscription message"),
    })
}
