//! Gateway discovery (§5.4.1-3) and the forwarder encapsulation (§5.5).
//!
//! ```text
//! ADVERTISE   Length MsgType GwId Duration(2)
//! SEARCHGW    Length MsgType Radius
//! GWINFO      Length MsgType GwId GwAdd(0..n)
//! ENCAPS      Length 0xFE Ctrl WirelessNodeId(0..n) | MQTT-SN message
//! ```
//! The encapsulation's Length covers only its own header (up to the end of the Wireless
//! Node Id); the encapsulated message follows with its own Length.

use bytes::{BufMut, BytesMut};

use super::{msg_type as t, DecodeError, Encapsulated, EncodeError, Message, Reader};

pub(super) fn decode(msg_type: u8, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    Ok(match msg_type {
        t::ADVERTISE => Message::Advertise { gateway_id: r.u8()?, duration: r.u16()? },
        t::SEARCHGW => Message::SearchGw { radius: r.u8()? },
        _ => Message::GwInfo { gateway_id: r.u8()?, gateway_address: r.rest_bytes() },
    })
}

pub(super) fn encode(msg: &Message, body: &mut BytesMut) -> u8 {
    match msg {
        Message::Advertise { gateway_id, duration } => {
            body.put_u8(*gateway_id);
            body.put_u16(*duration);
            t::ADVERTISE
        }
        Message::SearchGw { radius } => {
            body.put_u8(*radius);
            t::SEARCHGW
        }
        Message::GwInfo { gateway_id, gateway_address } => {
            body.put_u8(*gateway_id);
            body.extend_from_slice(gateway_address);
            t::GWINFO
        }
        _ => unreachable!("not a gateway discovery message"),
    }
}

pub(super) fn encode_encapsulated(enc: &Encapsulated, out: &mut BytesMut) -> Result<(), EncodeError> {
    if matches!(*enc.message, Message::Encapsulated(_)) {
        return Err(EncodeError::InvalidField("nested forwarder encapsulation"));
    }
    let header_len = 3 + enc.wireless_node_id.len();
    let len = u8::try_from(header_len).map_err(|_| EncodeError::InvalidField("wireless node id over 252 bytes"))?;
    let mut inner = BytesMut::new();
    super::encode(&enc.message, &mut inner)?;
    out.put_u8(len);
    out.put_u8(t::ENCAPSULATED);
    out.put_u8(enc.ctrl);
    out.extend_from_slice(&enc.wireless_node_id);
    out.extend_from_slice(&inner);
    Ok(())
}
