//! Will updates while connected (§5.4.22-25).
//!
//! ```text
//! WILLTOPICUPD  Length MsgType Flags WillTopic(n)   (or just Length MsgType: delete the will)
//! WILLTOPICRESP Length MsgType ReturnCode
//! WILLMSGUPD    Length MsgType WillMsg(n)
//! WILLMSGRESP   Length MsgType ReturnCode
//! ```

use bytes::{BufMut, BytesMut};

use super::connect::{decode_will_topic, encode_will_topic};
use super::{msg_type as t, DecodeError, Message, Reader};

pub(super) fn decode(msg_type: u8, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    Ok(match msg_type {
        t::WILLTOPICUPD => Message::WillTopicUpd(decode_will_topic(r)?),
        t::WILLTOPICRESP => Message::WillTopicResp { return_code: r.u8()? },
        t::WILLMSGUPD => Message::WillMsgUpd { payload: r.rest_bytes() },
        _ => Message::WillMsgResp { return_code: r.u8()? },
    })
}

pub(super) fn encode(msg: &Message, body: &mut BytesMut) -> u8 {
    match msg {
        Message::WillTopicUpd(w) => {
            encode_will_topic(w, body);
            t::WILLTOPICUPD
        }
        Message::WillTopicResp { return_code } => {
            body.put_u8(*return_code);
            t::WILLTOPICRESP
        }
        Message::WillMsgUpd { payload } => {
            body.extend_from_slice(payload);
            t::WILLMSGUPD
        }
        Message::WillMsgResp { return_code } => {
            body.put_u8(*return_code);
            t::WILLMSGRESP
        }
        _ => unreachable!("not a will update message"),
    }
}
