//! OMA LwM2M TLV (content format 11542, TS 1.1 Core §7.4.3, TS 1.0 §6.4.3).
//!
//! Type byte: bits 7-6 identifier type (00 object instance, 01 resource instance, 10 multiple
//! resource, 11 resource with value); bit 5 identifier length (0: 8 bits, 1: 16 bits); bits
//! 4-3 length type (00: length in bits 2-0, 01/10/11: 8/16/24-bit length field follows the
//! identifier). Values: Integer/Time signed big-endian on 1, 2, 4 or 8 bytes; Unsigned
//! Integer the same unsigned; Float 4 or 8 bytes IEEE 754; Boolean 1 byte 0/1; Objlnk two
//! 16-bit ids; String/Corelnk UTF-8; Opaque raw.
//!
//! Raw TLVs carry no types: [`decode_entries`] types them through the [`ObjectRegistry`].

use bytes::Bytes;

use crate::object_model::{ObjectRegistry, ResourceType};
use crate::path::Path;
use crate::value::{Entry, Value};

/// The identifier type of a TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 00: Object Instance (contains resources).
    ObjectInstance,
    /// 01: Resource Instance (a value inside a multiple resource).
    ResourceInstance,
    /// 10: Multiple Resource (contains resource instances).
    MultipleResource,
    /// 11: Resource with value.
    Resource,
}

/// A raw TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Identifier type.
    pub kind: Kind,
    /// Identifier.
    pub id: u16,
    /// Value bytes (Resource / Resource Instance) or nested TLVs (the other two kinds).
    pub content: TlvContent,
}

/// What a TLV holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlvContent {
    /// A value.
    Value(Bytes),
    /// Nested TLVs.
    Children(Vec<Tlv>),
}

/// TLV and typed-content failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The buffer ended inside a TLV.
    #[error("TLV truncated at byte {0} (TS Core §7.4.3)")]
    Truncated(usize),
    /// Nesting that the TS does not allow (e.g. an object instance inside a resource).
    #[error("TLV {0:?} not allowed here (TS Core §7.4.3)")]
    Nesting(Kind),
    /// Value length invalid for the resource type.
    #[error("TLV value of {len} bytes invalid for {rtype} at {path}")]
    BadValue {
        /// Where.
        path: String,
        /// The type expected.
        rtype: &'static str,
        /// The length found.
        len: usize,
    },
    /// No definition for the object/resource, so the value cannot be typed (EMQX answers
    /// `4.00 bad_request`).
    #[error("no object definition for {0}")]
    UnknownResource(String),
    /// The entries do not fit under the target path.
    #[error("entry {0} is not below the target path")]
    OutsideTarget(String),
    /// Value too long for the 24-bit length field.
    #[error("value too long for TLV")]
    TooLong,
}

/// Decodes a sequence of TLVs (nested ones included). Never panics.
pub fn decode(buf: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    decode_at(buf, 0, 0)
}

fn decode_at(buf: &[u8], base: usize, depth: u8) -> Result<Vec<Tlv>, TlvError> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while i < buf.len() {
        let t = buf[i];
        let kind = match t >> 6 {
            0 => Kind::ObjectInstance,
            1 => Kind::ResourceInstance,
            2 => Kind::MultipleResource,
            _ => Kind::Resource,
        };
        let id_len = if t & 0x20 != 0 { 2 } else { 1 };
        let len_len = usize::from((t >> 3) & 0x3);
        let header = 1 + id_len + len_len;
        if buf.len() - i < header {
            return Err(TlvError::Truncated(base + i));
        }
        let id = if id_len == 2 { u16::from_be_bytes([buf[i + 1], buf[i + 2]]) } else { u16::from(buf[i + 1]) };
        let len = if len_len == 0 {
            usize::from(t & 0x7)
        } else {
            buf[i + 1 + id_len..i + header].iter().fold(0usize, |a, b| (a << 8) | usize::from(*b))
        };
        let start = i + header;
        if buf.len() - start < len {
            return Err(TlvError::Truncated(base + i));
        }
        let body = &buf[start..start + len];
        let content = match kind {
            Kind::Resource | Kind::ResourceInstance => TlvContent::Value(Bytes::copy_from_slice(body)),
            Kind::ObjectInstance | Kind::MultipleResource => {
                if depth >= 2 {
                    return Err(TlvError::Nesting(kind));
                }
                let children = decode_at(body, base + start, depth + 1)?;
                let ok = children.iter().all(|c| match kind {
                    Kind::ObjectInstance => matches!(c.kind, Kind::Resource | Kind::MultipleResource),
                    _ => c.kind == Kind::ResourceInstance,
                });
                if !ok {
                    return Err(TlvError::Nesting(kind));
                }
                TlvContent::Children(children)
            }
        };
        out.push(Tlv { kind, id, content });
        i = start + len;
    }
    Ok(out)
}

/// Appends the wire form of `tlvs`.
pub fn encode(tlvs: &[Tlv], out: &mut Vec<u8>) -> Result<(), TlvError> {
    for tlv in tlvs {
        let body = match &tlv.content {
            TlvContent::Value(v) => v.to_vec(),
            TlvContent::Children(c) => {
                let mut b = Vec::new();
                encode(c, &mut b)?;
                b
            }
        };
        let len = body.len();
        if len > 0xff_ffff {
            return Err(TlvError::TooLong);
        }
        let mut t: u8 = match tlv.kind {
            Kind::ObjectInstance => 0x00,
            Kind::ResourceInstance => 0x40,
            Kind::MultipleResource => 0x80,
            Kind::Resource => 0xc0,
        };
        if tlv.id > 0xff {
            t |= 0x20;
        }
        let len_bytes: Vec<u8> = if len < 8 {
            t |= len as u8;
            vec![]
        } else if len <= 0xff {
            t |= 0x08;
            vec![len as u8]
        } else if len <= 0xffff {
            t |= 0x10;
            (len as u16).to_be_bytes().to_vec()
        } else {
            t |= 0x18;
            (len as u32).to_be_bytes()[1..].to_vec()
        };
        out.push(t);
        if tlv.id > 0xff {
            out.extend_from_slice(&tlv.id.to_be_bytes());
        } else {
            out.push(tlv.id as u8);
        }
        out.extend_from_slice(&len_bytes);
        out.extend_from_slice(&body);
    }
    Ok(())
}

/// Decodes one value of `rtype` from its TLV bytes.
pub fn decode_value(rtype: ResourceType, b: &[u8], path: &Path) -> Result<Value, TlvError> {
    let bad = || TlvError::BadValue { path: path.to_string(), rtype: rtype.name(), len: b.len() };
    let int = || -> Result<i64, TlvError> {
        Ok(match b.len() {
            1 => i64::from(b[0] as i8),
            2 => i64::from(i16::from_be_bytes([b[0], b[1]])),
            4 => i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            8 => i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            _ => return Err(bad()),
        })
    };
    Ok(match rtype {
        ResourceType::String => Value::String(String::from_utf8(b.to_vec()).map_err(|_| bad())?),
        ResourceType::Corelnk => Value::Corelnk(String::from_utf8(b.to_vec()).map_err(|_| bad())?),
        ResourceType::Integer => Value::Integer(int()?),
        ResourceType::Time => Value::Time(int()?),
        ResourceType::UnsignedInteger => match b.len() {
            1 | 2 | 4 | 8 => Value::Unsigned(b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x))),
            _ => return Err(bad()),
        },
        ResourceType::Float => match b.len() {
            4 => Value::Float(f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
            8 => Value::Float(f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            _ => return Err(bad()),
        },
        ResourceType::Boolean => match b {
            [0] => Value::Boolean(false),
            [1] => Value::Boolean(true),
            _ => return Err(bad()),
        },
        ResourceType::Objlnk => match b {
            [a, c, d, e] => Value::Objlnk(u16::from_be_bytes([*a, *c]), u16::from_be_bytes([*d, *e])),
            _ => return Err(bad()),
        },
        ResourceType::Opaque | ResourceType::None => Value::Opaque(Bytes::copy_from_slice(b)),
    })
}

/// The TLV bytes of a value (integers on the fewest of 1/2/4/8 bytes, floats on 4 bytes when
/// exact, else 8).
pub fn encode_value(v: &Value) -> Bytes {
    fn int(i: i64) -> Vec<u8> {
        if let Ok(x) = i8::try_from(i) {
            x.to_be_bytes().to_vec()
        } else if let Ok(x) = i16::try_from(i) {
            x.to_be_bytes().to_vec()
        } else if let Ok(x) = i32::try_from(i) {
            x.to_be_bytes().to_vec()
        } else {
            i.to_be_bytes().to_vec()
        }
    }
    Bytes::from(match v {
        Value::String(s) | Value::Corelnk(s) => s.as_bytes().to_vec(),
        Value::Integer(i) | Value::Time(i) => int(*i),
        Value::Unsigned(u) => {
            if let Ok(x) = u8::try_from(*u) {
                vec![x]
            } else if let Ok(x) = u16::try_from(*u) {
                x.to_be_bytes().to_vec()
            } else if let Ok(x) = u32::try_from(*u) {
                x.to_be_bytes().to_vec()
            } else {
                u.to_be_bytes().to_vec()
            }
        }
        Value::Float(f) => {
            let narrow = *f as f32;
            if f64::from(narrow) == *f || f.is_nan() {
                narrow.to_be_bytes().to_vec()
            } else {
                f.to_be_bytes().to_vec()
            }
        }
        Value::Boolean(b) => vec![u8::from(*b)],
        Value::Opaque(b) => b.to_vec(),
        Value::Objlnk(o, i) => [o.to_be_bytes(), i.to_be_bytes()].concat(),
    })
}

fn rtype_of(reg: &ObjectRegistry, path: &Path) -> Result<ResourceType, TlvError> {
    let res = path.resource.ok_or_else(|| TlvError::UnknownResource(path.to_string()))?;
    reg.resource(path.object, res).map(|r| r.rtype).ok_or_else(|| TlvError::UnknownResource(path.to_string()))
}

/// Decodes a TLV payload answering a request on `target` into typed entries. Top-level TLVs
/// are read relative to the target's depth: object instances under an object, resources
/// under an instance, the resource itself (or its instances) under a resource path.
pub fn decode_entries(buf: &[u8], target: &Path, reg: &ObjectRegistry) -> Result<Vec<Entry>, TlvError> {
    let tlvs = decode(buf)?;
    let mut out = Vec::new();
    for tlv in &tlvs {
        walk(tlv, target, reg, &mut out)?;
    }
    Ok(out)
}

fn walk(tlv: &Tlv, parent: &Path, reg: &ObjectRegistry, out: &mut Vec<Entry>) -> Result<(), TlvError> {
    // Where this TLV sits: an object instance below an object; a resource below an instance
    // (or an object, for devices that leave the instance out: instance 0); a resource
    // instance below a resource.
    let here = match (tlv.kind, parent.depth()) {
        (Kind::ObjectInstance, 1) => Path::instance(parent.object, tlv.id),
        (Kind::Resource | Kind::MultipleResource, 1) => Path::resource(parent.object, 0, tlv.id),
        (Kind::Resource | Kind::MultipleResource, 2) => {
            Path::resource(parent.object, parent.instance.unwrap_or(0), tlv.id)
        }
        // A request on a resource is answered with that resource's TLV.
        (Kind::Resource | Kind::MultipleResource, 3) if parent.resource == Some(tlv.id) => *parent,
        (Kind::ResourceInstance, 3) => parent.child(tlv.id).ok_or(TlvError::Nesting(tlv.kind))?,
        (Kind::ResourceInstance, 4) if parent.resource_instance == Some(tlv.id) => *parent,
        _ => return Err(TlvError::Nesting(tlv.kind)),
    };
    match &tlv.content {
        TlvContent::Value(bytes) => {
            let rtype = rtype_of(reg, &here)?;
            out.push(Entry::new(here, decode_value(rtype, bytes, &here)?));
        }
        TlvContent::Children(children) => {
            for c in children {
                walk(c, &here, reg, out)?;
            }
        }
    }
    Ok(())
}

/// Encodes entries for a Write/Create on `target` (TS Core §7.4.3): under an object, one
/// Object Instance TLV per instance; under an instance, Resource / Multiple Resource TLVs;
/// on a resource, that resource's TLV (a Multiple Resource if the entries have resource
/// instances); on a resource instance, a Resource Instance TLV.
pub fn encode_entries(entries: &[Entry], target: &Path) -> Result<Vec<u8>, TlvError> {
    for e in entries {
        if !target.contains(&e.path) || e.path.resource.is_none() {
            return Err(TlvError::OutsideTarget(e.path.to_string()));
        }
    }
    let refs: Vec<&Entry> = entries.iter().collect();
    let level = match target.depth() {
        1 => 1,
        2 | 3 => 2,
        _ => 3,
    };
    let tlvs = build(&refs, level);
    let mut out = Vec::new();
    encode(&tlvs, &mut out)?;
    Ok(out)
}

fn group_by<'a>(entries: &[&'a Entry], key: impl Fn(&Path) -> u16) -> Vec<(u16, Vec<&'a Entry>)> {
    let mut groups: Vec<(u16, Vec<&'a Entry>)> = Vec::new();
    for e in entries {
        let k = key(&e.path);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(e),
            None => groups.push((k, vec![e])),
        }
    }
    groups
}

fn build(entries: &[&Entry], level: usize) -> Vec<Tlv> {
    match level {
        1 => group_by(entries, |p| p.instance.unwrap_or(0))
            .into_iter()
            .map(|(id, es)| Tlv { kind: Kind::ObjectInstance, id, content: TlvContent::Children(build(&es, 2)) })
            .collect(),
        2 => group_by(entries, |p| p.resource.unwrap_or(0))
            .into_iter()
            .map(|(id, es)| {
                if es.iter().any(|e| e.path.resource_instance.is_some()) {
                    Tlv { kind: Kind::MultipleResource, id, content: TlvContent::Children(build(&es, 3)) }
                } else {
                    Tlv { kind: Kind::Resource, id, content: TlvContent::Value(encode_value(&es[0].value)) }
                }
            })
            .collect(),
        _ => entries
            .iter()
            .map(|e| Tlv {
                kind: Kind::ResourceInstance,
                id: e.path.resource_instance.unwrap_or(0),
                content: TlvContent::Value(encode_value(&e.value)),
            })
            .collect(),
    }
}
