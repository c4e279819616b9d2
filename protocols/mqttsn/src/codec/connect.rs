//! Connection set-up and tear-down (§5.4.4-9, §5.4.19-21).
//!
//! ```text
//! CONNECT      Length MsgType Flags ProtocolId(0x01) Duration(2) ClientId(n)
//! CONNACK      Length MsgType ReturnCode
//! WILLTOPICREQ Length MsgType
//! WILLTOPIC    Length MsgType Flags WillTopic(n)      (or just Length MsgType: no will)
//! WILLMSGREQ   Length MsgType
//! WILLMSG      Length MsgType WillMsg(n)
//! PINGREQ      Length MsgType ClientId(0..n)
//! PINGRESP     Length MsgType
//! DISCONNECT   Length MsgType Duration(0 or 2)
//! ```

use bytes::{BufMut, BytesMut};

use super::flags::{CLEAN_SESSION, RETAIN, WILL};
use super::{msg_type as t, Connect, DecodeError, Message, QoS, Reader, WillTopic};

/// CONNECT ProtocolId (§5.3.8).
pub(crate) const PROTOCOL_ID: u8 = 0x01;

pub(super) fn decode(msg_type: u8, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    Ok(match msg_type {
        t::CONNECT => {
            let flags = r.u8()?;
            let protocol_id = r.u8()?;
            if protocol_id != PROTOCOL_ID {
                return Err(DecodeError::InvalidProtocolId(protocol_id));
            }
            let duration = r.u16()?;
            Message::Connect(Connect {
                will: flags & WILL != 0,
                clean_session: flags & CLEAN_SESSION != 0,
                duration,
                client_id: r.rest_string()?,
            })
        }
        t::CONNACK => Message::ConnAck { return_code: r.u8()? },
        t::WILLTOPICREQ => Message::WillTopicReq,
        t::WILLTOPIC => Message::WillTopic(decode_will_topic(r)?),
        t::WILLMSGREQ => Message::WillMsgReq,
        t::WILLMSG => Message::WillMsg { payload: r.rest_bytes() },
        t::PINGREQ => {
            let client_id = if r.is_empty() { None } else { Some(r.rest_string()?) };
            Message::PingReq { client_id }
        }
        t::PINGRESP => Message::PingResp,
        _ => {
            let duration = if r.is_empty() { None } else { Some(r.u16()?) };
            Message::Disconnect { duration }
        }
    })
}

/// WILLTOPIC / WILLTOPICUPD body: empty = no will; otherwise Flags + topic.
pub(super) fn decode_will_topic(r: &mut Reader<'_>) -> Result<Option<WillTopic>, DecodeError> {
    if r.is_empty() {
        return Ok(None);
    }
    let flags = r.u8()?;
    Ok(Some(WillTopic { qos: QoS::from_flags_no_minus(flags)?, retain: flags & RETAIN != 0, topic: r.rest_string()? }))
}

pub(super) fn encode_will_topic(will: &Option<WillTopic>, body: &mut BytesMut) {
    if let Some(w) = will {
        body.put_u8(w.qos.to_flags() | if w.retain { RETAIN } else { 0 });
        body.extend_from_slice(w.topic.as_bytes());
    }
}

pub(super) fn encode(msg: &Message, body: &mut BytesMut) -> u8 {
    match msg {
        Message::Connect(c) => {
            let flags = if c.will { WILL } else { 0 } | if c.clean_session { CLEAN_SESSION } else { 0 };
            body.put_u8(flags);
            body.put_u8(PROTOCOL_ID);
            body.put_u16(c.duration);
            body.extend_from_slice(c.client_id.as_bytes());
            t::CONNECT
        }
        Message::ConnAck { return_code } => {
            body.put_u8(*return_code);
            t::CONNACK
        }
        Message::WillTopicReq => t::WILLTOPICREQ,
        Message::WillTopic(w) => {
            encode_will_topic(w, body);
            t::WILLTOPIC
        }
        Message::WillMsgReq => t::WILLMSGREQ,
        Message::WillMsg { payload } => {
            body.extend_from_slice(payload);
            t::WILLMSG
        }
        Message::PingReq { client_id } => {
            if let Some(id) = client_id {
                body.extend_from_slice(id.as_bytes());
            }
            t::PINGREQ
        }
        Message::PingResp => t::PINGRESP,
        Message::Disconnect { duration } => {
            if let Some(d) = duration {
                body.put_u16(*d);
            }
            t::DISCONNECT
        }
        _ => unreachable!("not a connection message"),
    }
}
