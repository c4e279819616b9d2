//! SenML (RFC 8428) as LwM2M 1.1 uses it (TS 1.1 Core §7.4.5/§7.4.6): SenML JSON (content
//! format 110) and SenML CBOR (112).
//!
//! Labels (RFC 8428 §4.1, CBOR keys §6): `bn` -2, `bt` -3, `bu` -4, `bv` -5, `bs` -6,
//! `bver` -1, `n` 0, `u` 1, `v` 2, `vs` 3, `vb` 4, `s` 5, `t` 6, `ut` 7, `vd` 8 (Data Value,
//! base64url without padding in JSON §5, a byte string in CBOR), plus LwM2M's `vlo` (object
//! link `"obj:inst"`, a text key in CBOR too). Records are resolved per RFC 8428 §4.6: base
//! fields apply to every later record until replaced; name = `bn` + `n`; value = `bv` + `v`;
//! time = `bt` + `t`.

use bytes::Bytes;
use serde_json::{Map, Value as J};

use crate::object_model::{ObjectRegistry, ResourceType};
use crate::path::Path;
use crate::value::{base64_decode, base64_encode, parse_objlnk, rtype_at, Entry, Num, Value};

/// One SenML record's value field.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordValue {
    /// `v`.
    Number(f64),
    /// `v` as an integer (CBOR integer or integral JSON number).
    Integer(i64),
    /// `vs`.
    String(String),
    /// `vb`.
    Boolean(bool),
    /// `vd`.
    Data(Bytes),
    /// `vlo` (LwM2M object link).
    ObjLink(String),
}

/// A raw SenML record (only the fields LwM2M uses; others are ignored).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// Base name.
    pub bn: Option<String>,
    /// Base time.
    pub bt: Option<f64>,
    /// Base value.
    pub bv: Option<f64>,
    /// Name.
    pub n: Option<String>,
    /// Time.
    pub t: Option<f64>,
    /// Value.
    pub value: Option<RecordValue>,
}

/// A resolved record: full name, time and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// `bn` + `n`.
    pub name: String,
    /// `bt` + `t`, if either was present.
    pub time: Option<f64>,
    /// The value with `bv` applied; `None` for a name-only record.
    pub value: Option<RecordValue>,
}

/// SenML failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenmlError {
    /// Not JSON / not CBOR.
    #[error("not {0}: {1}")]
    Syntax(&'static str, String),
    /// Valid JSON/CBOR but not a SenML pack.
    #[error("not a SenML pack (RFC 8428 §4): {0}")]
    Shape(&'static str),
    /// A name that is not an LwM2M path.
    #[error("SenML name {0:?} is not an LwM2M path (TS Core §7.4.5)")]
    Name(String),
    /// A value that does not fit the resource type.
    #[error("value at {0} does not fit its resource type")]
    Value(String),
}

/// Decodes SenML JSON (110) into raw records.
pub fn decode_json_records(buf: &[u8]) -> Result<Vec<Record>, SenmlError> {
    let v: J = serde_json::from_slice(buf).map_err(|e| SenmlError::Syntax("JSON", e.to_string()))?;
    let J::Array(items) = v else { return Err(SenmlError::Shape("top level is not an array")) };
    items
        .iter()
        .map(|item| {
            let J::Object(m) = item else { return Err(SenmlError::Shape("record is not an object")) };
            json_record(m)
        })
        .collect()
}

fn json_record(m: &Map<String, J>) -> Result<Record, SenmlError> {
    let text = |k: &str| -> Result<Option<String>, SenmlError> {
        match m.get(k) {
            None => Ok(None),
            Some(J::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(SenmlError::Shape("text field is not a string")),
        }
    };
    let num = |k: &str| -> Result<Option<f64>, SenmlError> {
        match m.get(k) {
            None => Ok(None),
            Some(J::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(SenmlError::Shape("numeric field is not a number")),
        }
    };
    let value = if let Some(v) = m.get("v") {
        let J::Number(n) = v else { return Err(SenmlError::Shape("v is not a number")) };
        Some(match Num::from_json(n) {
            Some(Num::I(i)) => RecordValue::Integer(i),
            _ => RecordValue::Number(n.as_f64().unwrap_or(0.0)),
        })
    } else if let Some(s) = text("vs")? {
        Some(RecordValue::String(s))
    } else if let Some(b) = m.get("vb") {
        let J::Bool(b) = b else { return Err(SenmlError::Shape("vb is not a boolean")) };
        Some(RecordValue::Boolean(*b))
    } else if let Some(d) = text("vd")? {
        Some(RecordValue::Data(Bytes::from(base64_decode(&d).ok_or(SenmlError::Shape("vd is not base64url"))?)))
    } else {
        text("vlo")?.map(RecordValue::ObjLink)
    };
    Ok(Record { bn: text("bn")?, bt: num("bt")?, bv: num("bv")?, n: text("n")?, t: num("t")?, value })
}

/// Decodes SenML CBOR (112) into raw records.
pub fn decode_cbor_records(buf: &[u8]) -> Result<Vec<Record>, SenmlError> {
    use ciborium::Value as C;
    let v: C = ciborium::de::from_reader(buf).map_err(|e| SenmlError::Syntax("CBOR", e.to_string()))?;
    let C::Array(items) = v else { return Err(SenmlError::Shape("top level is not an array")) };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let C::Map(fields) = item else { return Err(SenmlError::Shape("record is not a map")) };
        let mut r = Record::default();
        for (k, v) in fields {
            let key: i128 = match &k {
                C::Integer(i) => i128::from(*i),
                C::Text(t) if t == "vlo" => 1000,
                _ => continue, // unknown (text) labels are ignored, RFC 8428 §4.4 aside
            };
            let num = |v: &C| match v {
                C::Integer(i) => Ok(i128::from(*i) as f64),
                C::Float(f) => Ok(*f),
                _ => Err(SenmlError::Shape("numeric field is not a number")),
            };
            let text = |v: C| match v {
                C::Text(t) => Ok(t),
                _ => Err(SenmlError::Shape("text field is not a string")),
            };
            match key {
                -2 => r.bn = Some(text(v)?),
                -3 => r.bt = Some(num(&v)?),
                -5 => r.bv = Some(num(&v)?),
                0 => r.n = Some(text(v)?),
                6 => r.t = Some(num(&v)?),
                2 => {
                    r.value = Some(match v {
                        C::Integer(i) => match i64::try_from(i128::from(i)) {
                            Ok(i) => RecordValue::Integer(i),
                            Err(_) => RecordValue::Number(i128::from(i) as f64),
                        },
                        C::Float(f) => RecordValue::Number(f),
                        _ => return Err(SenmlError::Shape("v is not a number")),
                    })
                }
                3 => r.value = Some(RecordValue::String(text(v)?)),
                4 => match v {
                    C::Bool(b) => r.value = Some(RecordValue::Boolean(b)),
                    _ => return Err(SenmlError::Shape("vb is not a boolean")),
                },
                8 => match v {
                    C::Bytes(b) => r.value = Some(RecordValue::Data(Bytes::from(b))),
                    _ => return Err(SenmlError::Shape("vd is not a byte string")),
                },
                1000 => r.value = Some(RecordValue::ObjLink(text(v)?)),
                _ => {}
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// Resolves records (RFC 8428 §4.6).
pub fn resolve(records: &[Record]) -> Vec<Resolved> {
    let (mut bn, mut bt, mut bv) = (String::new(), None::<f64>, None::<f64>);
    records
        .iter()
        .map(|r| {
            if let Some(b) = &r.bn {
                bn.clone_from(b);
            }
            if r.bt.is_some() {
                bt = r.bt;
            }
            if r.bv.is_some() {
                bv = r.bv;
            }
            let name = format!("{bn}{}", r.n.as_deref().unwrap_or(""));
            let time = match (bt, r.t) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
            };
            let value = match (&r.value, bv) {
                (Some(RecordValue::Integer(i)), Some(b)) if b.fract() == 0.0 => {
                    Some(RecordValue::Integer(i.saturating_add(b as i64)))
                }
                (Some(RecordValue::Integer(i)), Some(b)) => Some(RecordValue::Number(*i as f64 + b)),
                (Some(RecordValue::Number(n)), Some(b)) => Some(RecordValue::Number(n + b)),
                (None, Some(b)) => Some(RecordValue::Number(b)),
                (v, _) => v.clone(),
            };
            Resolved { name, time, value }
        })
        .collect()
}

fn entries(records: &[Record], reg: Option<&ObjectRegistry>) -> Result<Vec<Entry>, SenmlError> {
    let mut out = Vec::new();
    for r in resolve(records) {
        let Some(value) = r.value else { continue };
        let path = Path::parse(&r.name).map_err(|_| SenmlError::Name(r.name.clone()))?;
        let rtype = rtype_at(reg, &path);
        let bad = || SenmlError::Value(path.to_string());
        let v = match value {
            RecordValue::Integer(i) => Num::I(i).typed(rtype),
            RecordValue::Number(n) => Num::F(n).typed(rtype),
            RecordValue::Boolean(b) => Value::Boolean(b),
            RecordValue::Data(d) => Value::Opaque(d),
            RecordValue::ObjLink(s) => parse_objlnk(&s).map(|(o, i)| Value::Objlnk(o, i)).ok_or_else(bad)?,
            RecordValue::String(s) => match rtype {
                Some(ResourceType::Corelnk) => Value::Corelnk(s),
                Some(ResourceType::Objlnk) => parse_objlnk(&s).map(|(o, i)| Value::Objlnk(o, i)).ok_or_else(bad)?,
                _ => Value::String(s),
            },
        };
        out.push(Entry::new(path, v));
    }
    Ok(out)
}

/// Decodes SenML JSON into entries, typing numbers through `reg` when given.
pub fn decode_json(buf: &[u8], reg: Option<&ObjectRegistry>) -> Result<Vec<Entry>, SenmlError> {
    entries(&decode_json_records(buf)?, reg)
}

/// Decodes SenML CBOR into entries, typing numbers through `reg` when given.
pub fn decode_cbor(buf: &[u8], reg: Option<&ObjectRegistry>) -> Result<Vec<Entry>, SenmlError> {
    entries(&decode_cbor_records(buf)?, reg)
}

/// Name split for encoding: `bn` = the target path + `/` on the first record when every
/// entry lies strictly below it, else full names.
fn names(entries: &[Entry], target: Option<&Path>) -> (Option<String>, Vec<String>) {
    match target {
        Some(t) if entries.iter().all(|e| t.contains(&e.path) && e.path != *t) => {
            let base = t.to_string();
            let n = entries.iter().map(|e| e.path.to_string()[base.len() + 1..].to_owned()).collect();
            (Some(format!("{base}/")), n)
        }
        _ => (None, entries.iter().map(|e| e.path.to_string()).collect()),
    }
}

/// Encodes entries as SenML JSON.
pub fn encode_json(entries: &[Entry], target: Option<&Path>) -> Vec<u8> {
    let (bn, ns) = names(entries, target);
    let mut pack = Vec::with_capacity(entries.len());
    for (i, (e, n)) in entries.iter().zip(ns).enumerate() {
        let mut m = Map::new();
        if i == 0 {
            if let Some(bn) = &bn {
                m.insert("bn".into(), J::String(bn.clone()));
            }
        }
        m.insert("n".into(), J::String(n));
        let (k, v) = match &e.value {
            Value::String(s) | Value::Corelnk(s) => ("vs", J::String(s.clone())),
            Value::Boolean(b) => ("vb", J::Bool(*b)),
            Value::Opaque(d) => ("vd", J::String(base64_encode(d, true))),
            Value::Objlnk(o, i) => ("vlo", J::String(format!("{o}:{i}"))),
            other => ("v", other.to_json()),
        };
        m.insert(k.into(), v);
        pack.push(J::Object(m));
    }
    serde_json::to_vec(&J::Array(pack)).unwrap_or_default()
}

/// Encodes entries as SenML CBOR.
pub fn encode_cbor(entries: &[Entry], target: Option<&Path>) -> Vec<u8> {
    use ciborium::Value as C;
    let (bn, ns) = names(entries, target);
    let mut pack = Vec::with_capacity(entries.len());
    for (i, (e, n)) in entries.iter().zip(ns).enumerate() {
        let mut m: Vec<(C, C)> = Vec::new();
        if i == 0 {
            if let Some(bn) = &bn {
                m.push((C::Integer((-2).into()), C::Text(bn.clone())));
            }
        }
        m.push((C::Integer(0.into()), C::Text(n)));
        let (k, v) = match &e.value {
            Value::String(s) | Value::Corelnk(s) => (C::Integer(3.into()), C::Text(s.clone())),
            Value::Boolean(b) => (C::Integer(4.into()), C::Bool(*b)),
            Value::Opaque(d) => (C::Integer(8.into()), C::Bytes(d.to_vec())),
            Value::Objlnk(o, i) => (C::Text("vlo".into()), C::Text(format!("{o}:{i}"))),
            Value::Integer(x) | Value::Time(x) => (C::Integer(2.into()), C::Integer((*x).into())),
            Value::Unsigned(x) => (C::Integer(2.into()), C::Integer((*x).into())),
            Value::Float(f) => (C::Integer(2.into()), C::Float(*f)),
        };
        m.push((k, v));
        pack.push(C::Map(m));
    }
    let mut out = Vec::new();
    let _ = ciborium::ser::into_writer(&C::Array(pack), &mut out);
    out
}
