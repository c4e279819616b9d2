//! DISCONNECT (§3.14) and AUTH (§3.15).

use super::primitives::{Reader, Sink};
use super::properties::{self, PropSet};
use super::{reason, Auth, DecodeError, Disconnect, EncodeError, ProtocolVersion};

/// 5.0 lets both packets drop their trailing fields: no bytes means reason 0 and no
/// properties, one byte means a reason without properties (§3.14.2.1, §3.15.2.1).
fn decode_reason_props<P: PropSet>(r: &mut Reader<'_>) -> Result<(u8, P), DecodeError> {
    if r.is_empty() {
        return Ok((reason::SUCCESS, P::default()));
    }
    let code = r.u8()?;
    let props = if r.is_empty() { P::default() } else { properties::read(r)? };
    r.finish()?;
    Ok((code, props))
}

pub(crate) fn decode_disconnect(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<Disconnect, DecodeError> {
    if version != ProtocolVersion::V5 {
        r.finish()?;
        return Ok(Disconnect::default());
    }
    let (reason_code, properties) = decode_reason_props(r)?;
    Ok(Disconnect { reason_code, properties })
}

pub(crate) fn encode_disconnect<S: Sink>(
    d: &Disconnect,
    version: ProtocolVersion,
    s: &mut S,
) -> Result<(), EncodeError> {
    if version != ProtocolVersion::V5 {
        return Ok(());
    }
    let no_props = properties::is_empty(&d.properties);
    if d.reason_code != reason::NORMAL_DISCONNECTION || !no_props {
        s.put_u8(d.reason_code);
    }
    if !no_props {
        properties::write(s, &d.properties)?;
    }
    Ok(())
}

pub(crate) fn decode_auth(r: &mut Reader<'_>) -> Result<Auth, DecodeError> {
    let (reason_code, properties) = decode_reason_props(r)?;
    Ok(Auth { reason_code, properties })
}

pub(crate) fn encode_auth<S: Sink>(a: &Auth, s: &mut S) -> Result<(), EncodeError> {
    // Unlike DISCONNECT, the spec only names the empty short form for AUTH, so a non-zero
    // reason always travels with its Property Length.
    if a.reason_code == reason::SUCCESS && properties::is_empty(&a.properties) {
        return Ok(());
    }
    s.put_u8(a.reason_code);
    properties::write(s, &a.properties)
}
