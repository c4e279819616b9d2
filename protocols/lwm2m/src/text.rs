//! Plain text (content format 0) and opaque (42) single values (TS 1.1 Core §7.4.1/§7.4.2):
//! numbers in decimal, Boolean `0`/`1`, Time as decimal seconds, Objlnk `obj:inst`; Opaque
//! is not representable in text (it travels as 42, raw bytes).

use bytes::Bytes;

use crate::object_model::ResourceType;
use crate::value::{base64_decode, base64_encode, parse_objlnk, Value};

/// A text payload that does not fit the resource type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("text {text:?} is not a valid {rtype} (TS Core §7.4.1)")]
pub struct TextError {
    /// The payload (lossy UTF-8).
    pub text: String,
    /// The expected type.
    pub rtype: &'static str,
}

/// Decodes a text/plain value of `rtype`. Opaque in text is taken as base64 (TS 1.1
/// §7.4.1 allows it for Opaque resources).
pub fn decode(payload: &[u8], rtype: ResourceType) -> Result<Value, TextError> {
    let err = || TextError { text: String::from_utf8_lossy(payload).into_owned(), rtype: rtype.name() };
    let s = std::str::from_utf8(payload).map_err(|_| err())?;
    let t = s.trim();
    Ok(match rtype {
        ResourceType::String | ResourceType::None => Value::String(s.to_owned()),
        ResourceType::Corelnk => Value::Corelnk(s.to_owned()),
        ResourceType::Integer => Value::Integer(t.parse().map_err(|_| err())?),
        ResourceType::Time => Value::Time(t.parse().map_err(|_| err())?),
        ResourceType::UnsignedInteger => Value::Unsigned(t.parse().map_err(|_| err())?),
        ResourceType::Float => Value::Float(t.parse().map_err(|_| err())?),
        ResourceType::Boolean => match t {
            "0" | "false" => Value::Boolean(false),
            "1" | "true" => Value::Boolean(true),
            _ => return Err(err()),
        },
        ResourceType::Objlnk => parse_objlnk(t).map(|(o, i)| Value::Objlnk(o, i)).ok_or_else(err)?,
        ResourceType::Opaque => Value::Opaque(Bytes::from(base64_decode(t).ok_or_else(err)?)),
    })
}

/// Decodes an application/octet-stream (42) value.
pub fn decode_opaque(payload: &[u8]) -> Value {
    Value::Opaque(Bytes::copy_from_slice(payload))
}

/// Encodes a value as text/plain.
pub fn encode(v: &Value) -> String {
    match v {
        Value::String(s) | Value::Corelnk(s) => s.clone(),
        Value::Integer(i) | Value::Time(i) => i.to_string(),
        Value::Unsigned(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => if *b { "1" } else { "0" }.to_owned(),
        Value::Objlnk(o, i) => format!("{o}:{i}"),
        Value::Opaque(b) => base64_encode(b, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text() {
        assert_eq!(decode(b"42", ResourceType::Integer).unwrap(), Value::Integer(42));
        assert_eq!(decode(b"1", ResourceType::Boolean).unwrap(), Value::Boolean(true));
        assert_eq!(decode(b"3:1", ResourceType::Objlnk).unwrap(), Value::Objlnk(3, 1));
        assert_eq!(decode(b"21.5", ResourceType::Float).unwrap(), Value::Float(21.5));
        assert!(decode(b"x", ResourceType::Integer).is_err());
        assert!(decode(&[0xff], ResourceType::String).is_err());
        assert_eq!(encode(&Value::Boolean(false)), "0");
    }
}
