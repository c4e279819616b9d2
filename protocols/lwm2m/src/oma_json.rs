//! OMA LwM2M JSON (content format 11543, TS 1.0 §6.4.4): `{"bn": "/3/0/", "bt": .., "e": [
//! {"n": "0", "sv": ".."}, {"n": "6/0", "v": 1}, {"n": "9", "v": 100, "t": ..}, {"n": "x",
//! "bv": true}, {"n": "y", "ov": "3:0"}]}`. Names are `bn` + `n`; without `bn`, `n` is relative
//! to the request path. Opaque values travel base64 in `sv`.

use serde_json::Value as J;

use crate::object_model::{ObjectRegistry, ResourceType};
use crate::path::Path;
use crate::value::{base64_decode, parse_objlnk, rtype_at, Entry, Num, Value};

/// OMA JSON failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OmaJsonError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Syntax(String),
    /// Not `{"e": [...]}`.
    #[error("not an OMA LwM2M JSON document (TS 1.0 §6.4.4): {0}")]
    Shape(&'static str),
    /// A name that does not make an LwM2M path.
    #[error("name {0:?} is not an LwM2M path")]
    Name(String),
    /// A value that does not fit the resource type.
    #[error("value at {0} does not fit its resource type")]
    Value(String),
}

/// Decodes an OMA JSON document answering a request on `target`.
pub fn decode(buf: &[u8], target: &Path, reg: Option<&ObjectRegistry>) -> Result<Vec<Entry>, OmaJsonError> {
    let doc: J = serde_json::from_slice(buf).map_err(|e| OmaJsonError::Syntax(e.to_string()))?;
    let J::Object(doc) = doc else { return Err(OmaJsonError::Shape("top level is not an object")) };
    let bn = match doc.get("bn") {
        None => None,
        Some(J::String(s)) => Some(s.as_str()),
        Some(_) => return Err(OmaJsonError::Shape("bn is not a string")),
    };
    let Some(J::Array(es)) = doc.get("e") else { return Err(OmaJsonError::Shape("no \"e\" array")) };
    let mut out = Vec::with_capacity(es.len());
    for e in es {
        let J::Object(e) = e else { return Err(OmaJsonError::Shape("entry is not an object")) };
        let n = match e.get("n") {
            None => "",
            Some(J::String(s)) => s.as_str(),
            Some(_) => return Err(OmaJsonError::Shape("n is not a string")),
        };
        let path = match bn {
            Some(bn) => {
                let full = format!("{bn}{n}");
                Path::parse(&full).map_err(|_| OmaJsonError::Name(full))?
            }
            None => target.join(n).map_err(|_| OmaJsonError::Name(n.to_owned()))?,
        };
        let rtype = rtype_at(reg, &path);
        let bad = || OmaJsonError::Value(path.to_string());
        let value = if let Some(v) = e.get("v") {
            let J::Number(n) = v else { return Err(bad()) };
            Num::from_json(n).ok_or_else(bad)?.typed(rtype)
        } else if let Some(v) = e.get("bv") {
            Value::Boolean(v.as_bool().ok_or_else(bad)?)
        } else if let Some(v) = e.get("ov") {
            let (o, i) = v.as_str().and_then(parse_objlnk).ok_or_else(bad)?;
            Value::Objlnk(o, i)
        } else if let Some(v) = e.get("sv") {
            let s = v.as_str().ok_or_else(bad)?;
            match rtype {
                Some(ResourceType::Opaque) => Value::Opaque(base64_decode(s).ok_or_else(bad)?.into()),
                Some(ResourceType::Corelnk) => Value::Corelnk(s.to_owned()),
                Some(ResourceType::Objlnk) => parse_objlnk(s).map(|(o, i)| Value::Objlnk(o, i)).ok_or_else(bad)?,
                _ => Value::String(s.to_owned()),
            }
        } else {
            continue; // no value: nothing to report
        };
        out.push(Entry::new(path, value));
    }
    Ok(out)
}
