//! Publishing (§5.4.12-14).
//!
//! ```text
//! PUBLISH Length MsgType Flags TopicId(2) MsgId(2) Data(n)
//! PUBACK  Length MsgType TopicId(2) MsgId(2) ReturnCode
//! PUBREC / PUBREL / PUBCOMP  Length MsgType MsgId(2)
//! ```
//! Flags of PUBLISH: DUP, QoS (incl. 0b11 = -1), Retain, TopicIdType.

use bytes::{BufMut, BytesMut};

use super::flags::{DUP, RETAIN};
use super::{msg_type as t, DecodeError, Message, Publish, QoS, Reader, TopicIdType};

pub(super) fn decode(msg_type: u8, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    Ok(match msg_type {
        t::PUBLISH => {
            let flags = r.u8()?;
            let topic_id_type = TopicIdType::from_flags(flags)?;
            Message::Publish(Publish {
                dup: flags & DUP != 0,
                qos: QoS::from_flags(flags),
                retain: flags & RETAIN != 0,
                topic_id_type,
                topic_id: r.u16()?,
                msg_id: r.u16()?,
                data: r.rest_bytes(),
            })
        }
        t::PUBACK => Message::PubAck { topic_id: r.u16()?, msg_id: r.u16()?, return_code: r.u8()? },
        t::PUBCOMP => Message::PubComp { msg_id: r.u16()? },
        t::PUBREC => Message::PubRec { msg_id: r.u16()? },
        _ => Message::PubRel { msg_id: r.u16()? },
    })
}

pub(super) fn encode(msg: &Message, body: &mut BytesMut) -> u8 {
    match msg {
        Message::Publish(p) => {
            let flags = if p.dup { DUP } else { 0 }
                | p.qos.to_flags()
                | if p.retain { RETAIN } else { 0 }
                | p.topic_id_type.to_flags();
            body.put_u8(flags);
            body.put_u16(p.topic_id);
            body.put_u16(p.msg_id);
            body.extend_from_slice(&p.data);
            t::PUBLISH
        }
        Message::PubAck { topic_id, msg_id, return_code } => {
            body.put_u16(*topic_id);
            body.put_u16(*msg_id);
            body.put_u8(*return_code);
            t::PUBACK
        }
        Message::PubComp { msg_id } => {
            body.put_u16(*msg_id);
            t::PUBCOMP
        }
        Message::PubRec { msg_id } => {
            body.put_u16(*msg_id);
            t::PUBREC
        }
        Message::PubRel { msg_id } => {
            body.put_u16(*msg_id);
            t::PUBREL
        }
        _ => unreachable!("not a publish message"),
    }
}
