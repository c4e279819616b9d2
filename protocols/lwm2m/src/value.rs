//! Typed resource values (OMA LwM2M TS 1.1 Core Appendix C data types) and the
//! `{"path", "value"}` entries every content format decodes into.

use bytes::Bytes;

use crate::object_model::ResourceType;
use crate::path::Path;

/// A resource (instance) value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// UTF-8 string.
    String(String),
    /// Signed integer (up to 64 bits).
    Integer(i64),
    /// Unsigned integer (LwM2M 1.1).
    Unsigned(u64),
    /// Float (32 or 64 bits on the wire).
    Float(f64),
    /// Boolean.
    Boolean(bool),
    /// Opaque bytes.
    Opaque(Bytes),
    /// Time: seconds since the Unix epoch (signed integer on the wire).
    Time(i64),
    /// Object link `object:instance`.
    Objlnk(u16, u16),
    /// CoRE link (LwM2M 1.1), kept as its text.
    Corelnk(String),
}

/// One decoded value at its full path.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Resource or resource-instance path.
    pub path: Path,
    /// The value.
    pub value: Value,
}

impl Entry {
    /// An entry.
    pub fn new(path: Path, value: Value) -> Self {
        Self { path, value }
    }
}

/// Value conversion failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The JSON value does not fit the declared type.
    #[error("value does not match type {0}")]
    Mismatch(&'static str),
    /// Unknown type name.
    #[error("unknown value type {0:?}")]
    UnknownType(String),
    /// Bad base64 / hex text for an Opaque value.
    #[error("invalid {0} text for an Opaque value")]
    Encoding(&'static str),
}

impl Value {
    /// The LwM2M type this value has.
    pub fn resource_type(&self) -> ResourceType {
        match self {
            Self::String(_) => ResourceType::String,
            Self::Integer(_) => ResourceType::Integer,
            Self::Unsigned(_) => ResourceType::UnsignedInteger,
            Self::Float(_) => ResourceType::Float,
            Self::Boolean(_) => ResourceType::Boolean,
            Self::Opaque(_) => ResourceType::Opaque,
            Self::Time(_) => ResourceType::Time,
            Self::Objlnk(..) => ResourceType::Objlnk,
            Self::Corelnk(_) => ResourceType::Corelnk,
        }
    }

    /// EMQX's JSON rendering (emqx-conventions §3.5/§3.6): numbers and booleans as JSON,
    /// Opaque as standard base64, Objlnk as `"obj:inst"`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Self::String(s) | Self::Corelnk(s) => J::String(s.clone()),
            Self::Integer(i) | Self::Time(i) => J::from(*i),
            Self::Unsigned(u) => J::from(*u),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Self::Boolean(b) => J::Bool(*b),
            Self::Opaque(b) => J::String(base64_encode(b, false)),
            Self::Objlnk(o, i) => J::String(format!("{o}:{i}")),
        }
    }

    /// A value of `ty` from a JSON command value (numbers may arrive as strings). Opaque
    /// text is hex when `hex` (EMQX's `"encoding":"hex"`), else standard base64.
    pub fn from_json(ty: ResourceType, v: &serde_json::Value, hex: bool) -> Result<Self, ValueError> {
        use serde_json::Value as J;
        let name = ty.name();
        let mismatch = || ValueError::Mismatch(name);
        let text = match v {
            J::String(s) => Some(s.as_str()),
            _ => None,
        };
        Ok(match ty {
            ResourceType::String | ResourceType::None => match v {
                J::String(s) => Self::String(s.clone()),
                J::Number(n) => Self::String(n.to_string()),
                J::Bool(b) => Self::String(b.to_string()),
                _ => return Err(mismatch()),
            },
            ResourceType::Corelnk => Self::Corelnk(text.ok_or_else(mismatch)?.to_owned()),
            ResourceType::Integer | ResourceType::Time => {
                let i = match v {
                    J::Number(n) => n.as_i64().ok_or_else(mismatch)?,
                    J::String(s) => s.trim().parse().map_err(|_| mismatch())?,
                    _ => return Err(mismatch()),
                };
                if ty == ResourceType::Time {
                    Self::Time(i)
                } else {
                    Self::Integer(i)
                }
            }
            ResourceType::UnsignedInteger => Self::Unsigned(match v {
                J::Number(n) => n.as_u64().ok_or_else(mismatch)?,
                J::String(s) => s.trim().parse().map_err(|_| mismatch())?,
                _ => return Err(mismatch()),
            }),
            ResourceType::Float => Self::Float(match v {
                J::Number(n) => n.as_f64().ok_or_else(mismatch)?,
                J::String(s) => s.trim().parse().map_err(|_| mismatch())?,
                _ => return Err(mismatch()),
            }),
            ResourceType::Boolean => Self::Boolean(match v {
                J::Bool(b) => *b,
                J::Number(n) if n.as_u64() == Some(0) => false,
                J::Number(n) if n.as_u64() == Some(1) => true,
                J::String(s) if s == "true" || s == "1" => true,
                J::String(s) if s == "false" || s == "0" => false,
                _ => return Err(mismatch()),
            }),
            ResourceType::Opaque => {
                let s = text.ok_or_else(mismatch)?;
                Self::Opaque(Bytes::from(if hex {
                    hex_decode(s).ok_or(ValueError::Encoding("hex"))?
                } else {
                    base64_decode(s).ok_or(ValueError::Encoding("base64"))?
                }))
            }
            ResourceType::Objlnk => {
                let s = text.ok_or_else(mismatch)?;
                parse_objlnk(s).map(|(o, i)| Self::Objlnk(o, i)).ok_or_else(mismatch)?
            }
        })
    }
}

/// `"obj:inst"` (TS Core Appendix C, Objlnk in text/JSON formats).
pub fn parse_objlnk(s: &str) -> Option<(u16, u16)> {
    let (o, i) = s.split_once(':')?;
    Some((o.trim().parse().ok()?, i.trim().parse().ok()?))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 (RFC 4648 §4, padded) or base64url without padding (§5, SenML `vd`, RFC 8428 §5).
pub fn base64_encode(data: &[u8], url: bool) -> String {
    let alphabet = if url { B64URL } else { B64 };
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * k)) & 63) as usize]));
        }
        if !url {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64 or base64url, padded or not; `None` on any other character.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (bits < 6).then_some(out)
}

/// Lower-case hex.
pub fn hex_encode(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex (either case, even length).
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() & 1 == 1 || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (plain, enc) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64_encode(plain.as_bytes(), false), enc);
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
            assert_eq!(base64_decode(enc.trim_end_matches('=')).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64_encode(&[0xfb, 0xff], true), "-_8");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("Zm9v!").is_none());
    }

    #[test]
    fn json_values() {
        let v = Value::from_json(ResourceType::Integer, &serde_json::json!("42"), false).unwrap();
        assert_eq!(v, Value::Integer(42));
        let v = Value::from_json(ResourceType::Opaque, &serde_json::json!("0aFF"), true).unwrap();
        assert_eq!(v, Value::Opaque(Bytes::from_static(&[0x0a, 0xff])));
        assert_eq!(Value::Objlnk(3, 0).to_json(), serde_json::json!("3:0"));
        assert!(Value::from_json(ResourceType::Boolean, &serde_json::json!("x"), false).is_err());
    }
}

/// A number as it came off the wire, before typing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl Num {
    pub(crate) fn from_json(n: &serde_json::Number) -> Option<Self> {
        n.as_i64().map(Self::I).or_else(|| n.as_u64().map(Self::U)).or_else(|| n.as_f64().map(Self::F))
    }

    fn as_f64(self) -> f64 {
        match self {
            Self::I(i) => i as f64,
            Self::U(u) => u as f64,
            Self::F(f) => f,
        }
    }

    fn as_i64(self) -> Option<i64> {
        match self {
            Self::I(i) => Some(i),
            Self::U(u) => i64::try_from(u).ok(),
            Self::F(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(f as i64),
            Self::F(_) => None,
        }
    }

    /// Types a number by the resource definition when there is one; without one an integral
    /// number is an Integer and any other a Float.
    pub(crate) fn typed(self, rtype: Option<ResourceType>) -> Value {
        match rtype {
            Some(ResourceType::Float) => Value::Float(self.as_f64()),
            Some(ResourceType::Time) => self.as_i64().map_or(Value::Float(self.as_f64()), Value::Time),
            Some(ResourceType::UnsignedInteger) => match self {
                Self::U(u) => Value::Unsigned(u),
                n => n.as_i64().and_then(|i| u64::try_from(i).ok()).map_or(Value::Float(n.as_f64()), Value::Unsigned),
            },
            _ => match self {
                Self::U(u) if i64::try_from(u).is_err() => Value::Unsigned(u),
                n => n.as_i64().map_or(Value::Float(n.as_f64()), Value::Integer),
            },
        }
    }
}

/// The resource type of `path` if the registry defines it.
pub(crate) fn rtype_at(reg: Option<&crate::object_model::ObjectRegistry>, path: &Path) -> Option<ResourceType> {
    reg?.resource(path.object, path.resource?).map(|r| r.rtype)
}
