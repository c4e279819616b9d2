//! Topic registration (§5.4.10-11).
//!
//! ```text
//! REGISTER Length MsgType TopicId(2) MsgId(2) TopicName(n)
//! REGACK   Length MsgType TopicId(2) MsgId(2) ReturnCode
//! ```

use bytes::{BufMut, BytesMut};

use super::{msg_type as t, DecodeError, Message, Reader};

pub(super) fn decode(msg_type: u8, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    let topic_id = r.u16()?;
    let msg_id = r.u16()?;
    Ok(if msg_type == t::REGISTER {
        Message::Register { topic_id, msg_id, topic_name: r.rest_string()? }
    } else {
        Message::RegAck { topic_id, msg_id, return_code: r.u8()? }
    })
}

pub(super) fn encode(msg: &Message, body: &mut BytesMut) -> u8 {
    match msg {
        Message::Register { topic_id, msg_id, topic_name } => {
            body.put_u16(*topic_id);
            body.put_u16(*msg_id);
            body.extend_from_slice(topic_name.as_bytes());
            t::REGISTER
        }
        Message::RegAck { topic_id, msg_id, return_code } => {
            body.put_u16(*topic_id);
            body.put_u16(*msg_id);
            body.put_u8(*return_code);
            t::REGACK
        }
        _ => unreachable!("not a registration message"),
    }
}
