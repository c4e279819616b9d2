//! CONNECT (§3.1) and CONNACK (§3.2).

use super::primitives::{qos_bits, Reader, Sink};
use super::properties;
use super::{ConnAck, Connect, ConnectProperties, DecodeError, EncodeError, LastWill, ProtocolVersion, WillProperties};

const NAME_MQTT: &[u8] = b"MQTT";
const NAME_MQISDP: &[u8] = b"MQIsdp";

const CLEAN_START: u8 = 0x02;
const WILL_FLAG: u8 = 0x04;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;

/// CONNECT describes its own version, so no version is passed in.
pub(crate) fn decode_connect(r: &mut Reader<'_>) -> Result<Connect, DecodeError> {
    let name = r.binary()?;
    let level = r.u8()?;
    let version = match (name.as_ref(), level) {
        (NAME_MQTT, 4) => ProtocolVersion::V3_1_1,
        (NAME_MQTT, 5) => ProtocolVersion::V5,
        (NAME_MQISDP, 3) => ProtocolVersion::V3_1,
        (NAME_MQTT | NAME_MQISDP, _) => return Err(DecodeError::UnsupportedProtocolVersion { level }),
        _ => return Err(DecodeError::InvalidProtocolName),
    };
    let v5 = version == ProtocolVersion::V5;

    let flags = r.u8()?;
    if flags & 0x01 != 0 {
        return Err(DecodeError::ConnectReservedFlag);
    }
    let will_flag = flags & WILL_FLAG != 0;
    let will_qos_bits = (flags >> WILL_QOS_SHIFT) & 0b11;
    let will_retain = flags & WILL_RETAIN != 0;
    if !will_flag && (will_qos_bits != 0 || will_retain) {
        return Err(DecodeError::InvalidWillFlags);
    }
    let will_qos = qos_bits(will_qos_bits).ok_or(DecodeError::InvalidWillQoS)?;
    let has_password = flags & PASSWORD != 0;
    let has_username = flags & USERNAME != 0;
    // 5.0 dropped this rule so that a password can carry a token without a user name.
    if !v5 && has_password && !has_username {
        return Err(DecodeError::PasswordWithoutUsername);
    }

    let keep_alive = r.u16()?;
    let properties = if v5 { properties::read(r)? } else { ConnectProperties::default() };
    let client_id = r.string()?;
    let will = if will_flag {
        let properties = if v5 { properties::read(r)? } else { WillProperties::default() };
        let topic = r.string()?;
        let payload = r.binary()?;
        Some(LastWill { topic, payload, qos: will_qos, retain: will_retain, properties })
    } else {
        None
    };
    let username = if has_username { Some(r.string()?) } else { None };
    let password = if has_password { Some(r.binary()?) } else { None };
    r.finish()?;

    Ok(Connect {
        version,
        clean_start: flags & CLEAN_START != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

pub(crate) fn encode_connect<S: Sink>(c: &Connect, s: &mut S) -> Result<(), EncodeError> {
    let v5 = c.version == ProtocolVersion::V5;
    if !v5 && c.password.is_some() && c.username.is_none() {
        return Err(EncodeError::InvalidField("password without user name before MQTT 5.0"));
    }
    let name = if c.version == ProtocolVersion::V3_1 { NAME_MQISDP } else { NAME_MQTT };
    s.put_binary(name)?;
    s.put_u8(c.version.level());

    let mut flags = 0;
    if c.clean_start {
        flags |= CLEAN_START;
    }
    if let Some(w) = &c.will {
        flags |= WILL_FLAG | ((w.qos as u8) << WILL_QOS_SHIFT);
        if w.retain {
            flags |= WILL_RETAIN;
        }
    }
    if c.password.is_some() {
        flags |= PASSWORD;
    }
    if c.username.is_some() {
        flags |= USERNAME;
    }
    s.put_u8(flags);
    s.put_u16(c.keep_alive);
    if v5 {
        properties::write(s, &c.properties)?;
    }
    s.put_string(&c.client_id)?;
    if let Some(w) = &c.will {
        if v5 {
            properties::write(s, &w.properties)?;
        }
        s.put_string(&w.topic)?;
        s.put_binary(&w.payload)?;
    }
    if let Some(u) = &c.username {
        s.put_string(u)?;
    }
    if let Some(p) = &c.password {
        s.put_binary(p)?;
    }
    Ok(())
}

pub(crate) fn decode_connack(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    if flags & 0xFE != 0 {
        return Err(DecodeError::ConnAckReservedFlags);
    }
    let code = r.u8()?;
    let properties = if version == ProtocolVersion::V5 {
        properties::read(r)?
    } else {
        if code > 5 {
            return Err(DecodeError::InvalidReturnCode(code));
        }
        Default::default()
    };
    r.finish()?;
    Ok(ConnAck { session_present: flags & 0x01 != 0, code, properties })
}

pub(crate) fn encode_connack<S: Sink>(c: &ConnAck, version: ProtocolVersion, s: &mut S) -> Result<(), EncodeError> {
    s.put_u8(u8::from(c.session_present));
    s.put_u8(c.code);
    if version == ProtocolVersion::V5 {
        properties::write(s, &c.properties)?;
    }
    Ok(())
}
