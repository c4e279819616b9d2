//! The MQTT-SN 1.2 message model and its datagram codec.
//!
//! One datagram carries exactly one message (§5.2): [`decode`] refuses a datagram whose
//! Length field disagrees with its size, and [`encode`] appends one message. The Length is
//! one byte, or `0x01` followed by a 2-byte length (the 3-byte form); both are decoded and
//! the 1-byte form is encoded whenever the message fits in 255 bytes.
//!
//! # Layout
//! - `mod.rs`: [`Message`] and the shared field types, header, dispatch, [`Reader`].
//! - `flags.rs`: the Flags byte (§5.3.4): [`QoS`], [`TopicIdType`].
//! - `gateway.rs`: ADVERTISE, SEARCHGW, GWINFO and the forwarder encapsulation (§5.5).
//! - `connect.rs`: CONNECT, CONNACK, the will flow (WILLTOPICREQ .. WILLMSG), PINGREQ,
//!   PINGRESP, DISCONNECT.
//! - `register.rs`: REGISTER, REGACK.
//! - `publish.rs`: PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP.
//! - `subscribe.rs`: SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
//! - `will_update.rs`: WILLTOPICUPD, WILLTOPICRESP, WILLMSGUPD, WILLMSGRESP.
//! - `error.rs`, `return_code.rs`.

mod connect;
mod error;
mod flags;
mod gateway;
mod publish;
mod register;
pub mod return_code;
mod subscribe;
mod will_update;

use bytes::{BufMut, Bytes, BytesMut};
use nom::number::complete::{be_u16, be_u8};

pub use error::{DecodeError, EncodeError};
pub use flags::{QoS, TopicIdType};

/// MsgType values (§5.2.2, Table 3).
pub mod msg_type {
    #![allow(missing_docs)]
    pub const ADVERTISE: u8 = 0x00;
    pub const SEARCHGW: u8 = 0x01;
    pub const GWINFO: u8 = 0x02;
    pub const CONNECT: u8 = 0x04;
    pub const CONNACK: u8 = 0x05;
    pub const WILLTOPICREQ: u8 = 0x06;
    pub const WILLTOPIC: u8 = 0x07;
    pub const WILLMSGREQ: u8 = 0x08;
    pub const WILLMSG: u8 = 0x09;
    pub const REGISTER: u8 = 0x0A;
    pub const REGACK: u8 = 0x0B;
    pub const PUBLISH: u8 = 0x0C;
    pub const PUBACK: u8 = 0x0D;
    pub const PUBCOMP: u8 = 0x0E;
    pub const PUBREC: u8 = 0x0F;
    pub const PUBREL: u8 = 0x10;
    pub const SUBSCRIBE: u8 = 0x12;
    pub const SUBACK: u8 = 0x13;
    pub const UNSUBSCRIBE: u8 = 0x14;
    pub const UNSUBACK: u8 = 0x15;
    pub const PINGREQ: u8 = 0x16;
    pub const PINGRESP: u8 = 0x17;
    pub const DISCONNECT: u8 = 0x18;
    pub const WILLTOPICUPD: u8 = 0x1A;
    pub const WILLTOPICRESP: u8 = 0x1B;
    pub const WILLMSGUPD: u8 = 0x1C;
    pub const WILLMSGRESP: u8 = 0x1D;
    pub const ENCAPSULATED: u8 = 0xFE;
}

/// CONNECT (§5.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Will flag: the gateway must run the will flow before CONNACK.
    pub will: bool,
    /// CleanSession flag.
    pub clean_session: bool,
    /// Keep alive period in seconds (Duration field).
    pub duration: u16,
    /// ClientId (1..23 characters per spec; not enforced here).
    pub client_id: String,
}

/// The will topic part of WILLTOPIC / WILLTOPICUPD (§5.4.7, §5.4.22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WillTopic {
    /// Will QoS (0..2).
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// Will topic name.
    pub topic: String,
}

/// PUBLISH (§5.4.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag.
    pub dup: bool,
    /// QoS, including -1.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// How to read `topic_id`.
    pub topic_id_type: TopicIdType,
    /// Normal or predefined topic id, or the two bytes of a short topic name (big endian).
    pub topic_id: u16,
    /// MsgId (0 for QoS 0 and -1).
    pub msg_id: u16,
    /// Data.
    pub data: Bytes,
}

/// The topic of a SUBSCRIBE / UNSUBSCRIBE (§5.4.15), chosen by its TopicIdType.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRef {
    /// TopicIdType 0: a topic name or filter (wildcards allowed).
    Name(String),
    /// TopicIdType 1: a predefined topic id.
    Predefined(u16),
    /// TopicIdType 2: a short topic name (exactly 2 bytes).
    Short([u8; 2]),
}

/// SUBSCRIBE (§5.4.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// DUP flag (a retransmission).
    pub dup: bool,
    /// Requested QoS (0..2).
    pub qos: QoS,
    /// MsgId.
    pub msg_id: u16,
    /// The topic.
    pub topic: TopicRef,
}

/// Forwarder encapsulation (§5.5): a message relayed by a forwarder on behalf of a
/// wireless node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encapsulated {
    /// Ctrl octet; bits 0-1 are the broadcast radius, the rest reserved (kept as is).
    pub ctrl: u8,
    /// Wireless Node Id (opaque, may be empty).
    pub wireless_node_id: Bytes,
    /// The encapsulated message (never itself an encapsulation).
    pub message: Box<Message>,
}

/// One MQTT-SN 1.2 message (§5.4). Flags that the spec marks "not used" for a message are
/// not represented: they are ignored when decoding and written as 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// ADVERTISE (§5.4.1).
    Advertise {
        /// GwId.
        gateway_id: u8,
        /// Seconds until the next ADVERTISE.
        duration: u16,
    },
    /// SEARCHGW (§5.4.2).
    SearchGw {
        /// Broadcast radius.
        radius: u8,
    },
    /// GWINFO (§5.4.3); `gateway_address` is empty when sent by a gateway.
    GwInfo {
        /// GwId.
        gateway_id: u8,
        /// GwAdd (only present when sent by a client).
        gateway_address: Bytes,
    },
    /// CONNECT (§5.4.4).
    Connect(Connect),
    /// CONNACK (§5.4.5).
    ConnAck {
        /// ReturnCode.
        return_code: u8,
    },
    /// WILLTOPICREQ (§5.4.6).
    WillTopicReq,
    /// WILLTOPIC (§5.4.7); `None` is the empty WILLTOPIC (2 bytes: no will).
    WillTopic(Option<WillTopic>),
    /// WILLMSGREQ (§5.4.8).
    WillMsgReq,
    /// WILLMSG (§5.4.9).
    WillMsg {
        /// The will payload.
        payload: Bytes,
    },
    /// REGISTER (§5.4.10).
    Register {
        /// 0 when sent by a client; the assigned id when sent by a gateway.
        topic_id: u16,
        /// MsgId.
        msg_id: u16,
        /// TopicName.
        topic_name: String,
    },
    /// REGACK (§5.4.11).
    RegAck {
        /// The assigned topic id (client → gateway: the one being acknowledged).
        topic_id: u16,
        /// MsgId of the REGISTER.
        msg_id: u16,
        /// ReturnCode.
        return_code: u8,
    },
    /// PUBLISH (§5.4.12).
    Publish(Publish),
    /// PUBACK (§5.4.13).
    PubAck {
        /// TopicId of the PUBLISH.
        topic_id: u16,
        /// MsgId of the PUBLISH.
        msg_id: u16,
        /// ReturnCode.
        return_code: u8,
    },
    /// PUBCOMP (§5.4.14).
    PubComp {
        /// MsgId.
        msg_id: u16,
    },
    /// PUBREC (§5.4.14).
    PubRec {
        /// MsgId.
        msg_id: u16,
    },
    /// PUBREL (§5.4.14).
    PubRel {
        /// MsgId.
        msg_id: u16,
    },
    /// SUBSCRIBE (§5.4.15).
    Subscribe(Subscribe),
    /// SUBACK (§5.4.16).
    SubAck {
        /// Granted QoS.
        qos: QoS,
        /// Topic id the gateway will use (0 for wildcards and short names).
        topic_id: u16,
        /// MsgId of the SUBSCRIBE.
        msg_id: u16,
        /// ReturnCode.
        return_code: u8,
    },
    /// UNSUBSCRIBE (§5.4.17).
    Unsubscribe {
        /// MsgId.
        msg_id: u16,
        /// The topic.
        topic: TopicRef,
    },
    /// UNSUBACK (§5.4.18).
    UnsubAck {
        /// MsgId.
        msg_id: u16,
    },
    /// PINGREQ (§5.4.19); a client id is carried by a sleeping client waking up.
    PingReq {
        /// ClientId (optional).
        client_id: Option<String>,
    },
    /// PINGRESP (§5.4.20).
    PingResp,
    /// DISCONNECT (§5.4.21); a duration asks to sleep.
    Disconnect {
        /// Sleep duration in seconds (optional).
        duration: Option<u16>,
    },
    /// WILLTOPICUPD (§5.4.22); `None` (2 bytes) deletes the will.
    WillTopicUpd(Option<WillTopic>),
    /// WILLTOPICRESP (§5.4.24).
    WillTopicResp {
        /// ReturnCode.
        return_code: u8,
    },
    /// WILLMSGUPD (§5.4.23).
    WillMsgUpd {
        /// The new will payload.
        payload: Bytes,
    },
    /// WILLMSGRESP (§5.4.25).
    WillMsgResp {
        /// ReturnCode.
        return_code: u8,
    },
    /// Forwarder encapsulation (§5.5).
    Encapsulated(Encapsulated),
}

impl Message {
    /// The spec's name of the message, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Advertise { .. } => "ADVERTISE",
            Self::SearchGw { .. } => "SEARCHGW",
            Self::GwInfo { .. } => "GWINFO",
            Self::Connect(_) => "CONNECT",
            Self::ConnAck { .. } => "CONNACK",
            Self::WillTopicReq => "WILLTOPICREQ",
            Self::WillTopic(_) => "WILLTOPIC",
            Self::WillMsgReq => "WILLMSGREQ",
            Self::WillMsg { .. } => "WILLMSG",
            Self::Register { .. } => "REGISTER",
            Self::RegAck { .. } => "REGACK",
            Self::Publish(_) => "PUBLISH",
            Self::PubAck { .. } => "PUBACK",
            Self::PubComp { .. } => "PUBCOMP",
            Self::PubRec { .. } => "PUBREC",
            Self::PubRel { .. } => "PUBREL",
            Self::Subscribe(_) => "SUBSCRIBE",
            Self::SubAck { .. } => "SUBACK",
            Self::Unsubscribe { .. } => "UNSUBSCRIBE",
            Self::UnsubAck { .. } => "UNSUBACK",
            Self::PingReq { .. } => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect { .. } => "DISCONNECT",
            Self::WillTopicUpd(_) => "WILLTOPICUPD",
            Self::WillTopicResp { .. } => "WILLTOPICRESP",
            Self::WillMsgUpd { .. } => "WILLMSGUPD",
            Self::WillMsgResp { .. } => "WILLMSGRESP",
            Self::Encapsulated(_) => "ENCAPSULATED",
        }
    }
}

/// Decodes one datagram as one message. Never panics.
pub fn decode(data: &[u8]) -> Result<Message, DecodeError> {
    let (msg, rest) = decode_prefix(data, true)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(msg)
}

/// Decodes the message at the start of `data` (its Length says where it ends) and returns
/// it with the bytes after it. `outer` allows a forwarder encapsulation.
fn decode_prefix(data: &[u8], outer: bool) -> Result<(Message, &[u8]), DecodeError> {
    let (header_len, declared) = match data {
        [] | [_] => return Err(DecodeError::TooShort(data.len())),
        [0x01, rest @ ..] => {
            if rest.len() < 3 {
                return Err(DecodeError::TooShort(data.len()));
            }
            (3, usize::from(u16::from_be_bytes([rest[0], rest[1]])))
        }
        [len, ..] => (1, usize::from(*len)),
    };
    if declared < header_len + 1 {
        return Err(DecodeError::InvalidLength(declared));
    }
    let kind = data[header_len];
    if kind == msg_type::ENCAPSULATED {
        // §5.5: Length covers only the encapsulation header; the inner message follows.
        if !outer {
            return Err(DecodeError::NestedEncapsulation);
        }
        if declared > data.len() {
            return Err(DecodeError::Truncated { declared, actual: data.len() });
        }
        let mut r = Reader::new(&data[header_len + 1..declared]);
        let ctrl = r.u8()?;
        let wireless_node_id = Bytes::copy_from_slice(r.rest());
        let (inner, rest) = decode_prefix(&data[declared..], false)?;
        let msg = Message::Encapsulated(Encapsulated { ctrl, wireless_node_id, message: Box::new(inner) });
        return Ok((msg, rest));
    }
    if declared > data.len() {
        return Err(DecodeError::Truncated { declared, actual: data.len() });
    }
    let body = &data[header_len + 1..declared];
    let mut r = Reader::new(body);
    use self::msg_type as t;
    let msg = match kind {
        t::ADVERTISE | t::SEARCHGW | t::GWINFO => gateway::decode(kind, &mut r)?,
        t::CONNECT
        | t::CONNACK
        | t::WILLTOPICREQ
        | t::WILLTOPIC
        | t::WILLMSGREQ
        | t::WILLMSG
        | t::PINGREQ
        | t::PINGRESP
        | t::DISCONNECT => connect::decode(kind, &mut r)?,
        t::REGISTER | t::REGACK => register::decode(kind, &mut r)?,
        t::PUBLISH | t::PUBACK | t::PUBCOMP | t::PUBREC | t::PUBREL => publish::decode(kind, &mut r)?,
        t::SUBSCRIBE | t::SUBACK | t::UNSUBSCRIBE | t::UNSUBACK => subscribe::decode(kind, &mut r)?,
        t::WILLTOPICUPD | t::WILLTOPICRESP | t::WILLMSGUPD | t::WILLMSGRESP => will_update::decode(kind, &mut r)?,
        other => return Err(DecodeError::UnknownMessageType(other)),
    };
    r.finish()?;
    Ok((msg, &data[declared..]))
}

/// Appends `msg` as one datagram to `out`. On error nothing is appended.
pub fn encode(msg: &Message, out: &mut BytesMut) -> Result<(), EncodeError> {
    if let Message::Encapsulated(enc) = msg {
        return gateway::encode_encapsulated(enc, out);
    }
    let mut body = BytesMut::new();
    let msg_type = match msg {
        Message::Advertise { .. } | Message::SearchGw { .. } | Message::GwInfo { .. } => {
            gateway::encode(msg, &mut body)
        }
        Message::Connect(_)
        | Message::ConnAck { .. }
        | Message::WillTopicReq
        | Message::WillTopic(_)
        | Message::WillMsgReq
        | Message::WillMsg { .. }
        | Message::PingReq { .. }
        | Message::PingResp
        | Message::Disconnect { .. } => connect::encode(msg, &mut body),
        Message::Register { .. } | Message::RegAck { .. } => register::encode(msg, &mut body),
        Message::Publish(_)
        | Message::PubAck { .. }
        | Message::PubComp { .. }
        | Message::PubRec { .. }
        | Message::PubRel { .. } => publish::encode(msg, &mut body),
        Message::Subscribe(_) | Message::SubAck { .. } | Message::Unsubscribe { .. } | Message::UnsubAck { .. } => {
            subscribe::encode(msg, &mut body)?
        }
        Message::WillTopicUpd(_)
        | Message::WillTopicResp { .. }
        | Message::WillMsgUpd { .. }
        | Message::WillMsgResp { .. } => will_update::encode(msg, &mut body),
        Message::Encapsulated(_) => unreachable!("handled above"),
    };
    put_header(out, msg_type, body.len())?;
    out.extend_from_slice(&body);
    Ok(())
}

/// Encodes into a fresh buffer.
pub fn to_bytes(msg: &Message) -> Result<Bytes, EncodeError> {
    let mut out = BytesMut::new();
    encode(msg, &mut out)?;
    Ok(out.freeze())
}

/// Writes Length + MsgType for a body of `body_len` bytes: the 1-byte form when the whole
/// message fits in 255 bytes, the 3-byte form otherwise.
fn put_header(out: &mut BytesMut, msg_type: u8, body_len: usize) -> Result<(), EncodeError> {
    let short = body_len + 2;
    if short <= 255 {
        out.put_u8(short as u8);
    } else {
        let long = body_len + 4;
        let len = u16::try_from(long).map_err(|_| EncodeError::TooLong(long))?;
        out.put_u8(0x01);
        out.put_u16(len);
    }
    out.put_u8(msg_type);
    Ok(())
}

type NomErr<'a> = nom::error::Error<&'a [u8]>;

/// A cursor over a message body, with nom's *complete* parsers: the datagram is whole, so
/// running out of input means the message is malformed.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Self { rest: body }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (rest, v) = be_u8::<_, NomErr<'a>>(self.rest).map_err(|_| DecodeError::UnexpectedEnd)?;
        self.rest = rest;
        Ok(v)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let (rest, v) = be_u16::<_, NomErr<'a>>(self.rest).map_err(|_| DecodeError::UnexpectedEnd)?;
        self.rest = rest;
        Ok(v)
    }

    /// Everything left (variable-length last field).
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    pub(crate) fn rest_bytes(&mut self) -> Bytes {
        Bytes::copy_from_slice(self.rest())
    }

    pub(crate) fn rest_string(&mut self) -> Result<String, DecodeError> {
        std::str::from_utf8(self.rest()).map(str::to_owned).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// Fails unless the whole body was consumed.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}
