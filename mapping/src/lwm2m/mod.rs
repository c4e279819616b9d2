//! LwM2M ⇄ MQTT JSON, EMQX's conventions (emqx-conventions §3.3–§3.5): pure translation
//! functions, no bus and no I/O. The per-device glue parses downlink commands with
//! [`parse_command`], sends the [`gw_lwm2m::commands::Operation`], and publishes what
//! [`response_json`], [`notify_json`], [`register_json`], [`update_json`], [`ack_json`],
//! [`coap_timeout_json`] and [`coap_reset_json`] return.

mod auto_observe;
mod connection;
mod endpoints;
mod frontend;

pub use auto_observe::AutoObserve;
pub use connection::Lwm2mConnection;
pub use frontend::{Lwm2mFrontend, Lwm2mSettings, Translator, Translators, UpdatePublish};

use gw_coap::codec::Code;
use gw_lwm2m::commands::{code_message, code_string, Content, Operation};
use gw_lwm2m::object_model::ResourceType;
use gw_lwm2m::registration::Registration;
use gw_lwm2m::{Entry, Path, Value};
use serde_json::{json, Map, Value as J};

/// The downlink `msgType`s (emqx-conventions §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    /// `read`.
    Read,
    /// `discover`.
    Discover,
    /// `write` (single or batch).
    Write,
    /// `write-attr`.
    WriteAttr,
    /// `execute`.
    Execute,
    /// `create`.
    Create,
    /// `delete`.
    Delete,
    /// `observe`.
    Observe,
    /// `cancel-observe`.
    CancelObserve,
}

impl MsgType {
    /// From the JSON string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "read" => Self::Read,
            "discover" => Self::Discover,
            "write" => Self::Write,
            "write-attr" => Self::WriteAttr,
            "execute" => Self::Execute,
            "create" => Self::Create,
            "delete" => Self::Delete,
            "observe" => Self::Observe,
            "cancel-observe" => Self::CancelObserve,
            _ => return None,
        })
    }

    /// The JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Discover => "discover",
            Self::Write => "write",
            Self::WriteAttr => "write-attr",
            Self::Execute => "execute",
            Self::Create => "create",
            Self::Delete => "delete",
            Self::Observe => "observe",
            Self::CancelObserve => "cancel-observe",
        }
    }
}

/// A parsed downlink command.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Every top-level field as received (echoed back in the response, `data` replaced).
    pub envelope: Map<String, J>,
    /// `msgType`.
    pub msg_type: MsgType,
    /// `data.path` or `data.basePath` as given (the response's `reqPath`).
    pub req_path: String,
    /// What to send to the device.
    pub operation: Operation,
    /// `mheaders.ttl` in seconds (`Some(0)` = fire-and-forget; EMQX's default is 7200).
    pub ttl: Option<u64>,
}

impl Command {
    /// `reqID`, if any.
    pub fn req_id(&self) -> Option<&J> {
        self.envelope.get("reqID")
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandErrorKind {
    /// Not a JSON object (EMQX drops these: `delivery.dropped`).
    NotJson,
    /// `msgType` missing or unknown (EMQX: immediate 4.00).
    UnknownMsgType,
    /// Bad or missing `data` fields.
    Invalid,
}

/// A refused command, with what is needed to answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandError {
    /// What was wrong.
    pub kind: CommandErrorKind,
    /// The top-level fields, when the payload was a JSON object.
    pub envelope: Option<Map<String, J>>,
    /// `data.path`/`data.basePath` when present.
    pub req_path: Option<String>,
    /// Human-readable reason.
    pub reason: String,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid LwM2M command: {}", self.reason)
    }
}

impl std::error::Error for CommandError {}

impl CommandError {
    /// The response to publish: the envelope echoed with `data` = `{"reqPath", "code":
    /// "4.00", "codeMsg": "bad_request", "reason"}` (`reason` is ours, not EMQX's).
    pub fn response_json(&self) -> Vec<u8> {
        let mut out = self.envelope.clone().unwrap_or_default();
        let mut data = Map::new();
        if let Some(p) = &self.req_path {
            data.insert("reqPath".into(), J::String(p.clone()));
        }
        data.insert("code".into(), J::String(code_string(Code::BAD_REQUEST)));
        data.insert("codeMsg".into(), J::String(code_message(Code::BAD_REQUEST).into()));
        data.insert("reason".into(), J::String(self.reason.clone()));
        out.insert("data".into(), J::Object(data));
        serde_json::to_vec(&J::Object(out)).unwrap_or_default()
    }
}

fn path_field(data: &Map<String, J>, key: &str) -> Result<(String, Path), String> {
    let s = data.get(key).and_then(J::as_str).ok_or_else(|| format!("data.{key} missing or not a string"))?;
    let p = Path::parse(s).map_err(|e| e.to_string())?;
    Ok((s.to_owned(), p))
}

fn typed_value(item: &Map<String, J>, hex: bool) -> Result<Value, String> {
    let ty = item.get("type").and_then(J::as_str).ok_or("type missing")?;
    let rtype = ResourceType::parse(ty).filter(|t| *t != ResourceType::None).ok_or(format!("unknown type {ty:?}"))?;
    let v = item.get("value").ok_or("value missing")?;
    Value::from_json(rtype, v, hex).map_err(|e| e.to_string())
}

fn content_entries(data: &Map<String, J>, base: &Path, hex: bool, create: bool) -> Result<Vec<Entry>, String> {
    let items = data.get("content").and_then(J::as_array).ok_or("data.content missing or not a list")?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let item = item.as_object().ok_or("content item is not an object")?;
        let rel = item.get("path").and_then(J::as_str).ok_or("content path missing")?;
        let mut path = base.join(rel).map_err(|e| e.to_string())?;
        // create on an object with bare resource ids: instance 0 (TS Core §5.4.4: the
        // client may also choose; TLV always names it here)
        if create && base.depth() == 1 && path.depth() == 2 && !rel.starts_with('/') {
            path = Path::resource(base.object, 0, path.instance.unwrap_or(0));
        }
        if path.resource.is_none() {
            return Err(format!("content path {rel:?} is not a resource"));
        }
        out.push(Entry::new(path, typed_value(item, hex)?));
    }
    Ok(out)
}

fn attr_text(v: &J) -> Option<String> {
    match v {
        J::Number(n) => Some(n.to_string()),
        J::String(s) if !s.is_empty() && s.parse::<f64>().is_ok() => Some(s.clone()),
        _ => None,
    }
}

/// Parses a downlink command (emqx-conventions §3.4): `{"reqID", "msgType", "data",
/// "encoding"?: "hex", "mheaders"?: {"ttl"}}`. Every top-level field is kept for the echo.
pub fn parse_command(payload: &[u8]) -> Result<Command, CommandError> {
    let not_json =
        |reason: String| CommandError { kind: CommandErrorKind::NotJson, envelope: None, req_path: None, reason };
    let doc: J = serde_json::from_slice(payload).map_err(|e| not_json(e.to_string()))?;
    let J::Object(envelope) = doc else { return Err(not_json("command is not a JSON object".into())) };
    let data = envelope.get("data").and_then(J::as_object).cloned().unwrap_or_default();
    let req_path = data.get("path").or_else(|| data.get("basePath")).and_then(J::as_str).map(str::to_owned);
    let fail = |kind, reason: String| CommandError {
        kind,
        envelope: Some(envelope.clone()),
        req_path: req_path.clone(),
        reason,
    };
    let msg_type_text = envelope.get("msgType").and_then(J::as_str).unwrap_or("");
    let msg_type = MsgType::parse(msg_type_text)
        .ok_or_else(|| fail(CommandErrorKind::UnknownMsgType, format!("unknown msgType {msg_type_text:?}")))?;
    if !envelope.get("data").is_some_and(J::is_object) {
        return Err(fail(CommandErrorKind::Invalid, "data missing or not an object".into()));
    }
    let hex = envelope.get("encoding").and_then(J::as_str) == Some("hex");
    let ttl = envelope.get("mheaders").and_then(|m| m.get("ttl")).and_then(J::as_u64);
    let invalid = |reason: String| fail(CommandErrorKind::Invalid, reason);
    let (req_path, operation) = match msg_type {
        MsgType::Read | MsgType::Discover | MsgType::Delete | MsgType::Observe | MsgType::CancelObserve => {
            let (s, p) = path_field(&data, "path").map_err(invalid)?;
            let op = match msg_type {
                MsgType::Read => Operation::Read(p),
                MsgType::Discover => Operation::Discover(p),
                MsgType::Delete => Operation::Delete(p),
                MsgType::Observe => Operation::Observe(p),
                _ => Operation::CancelObserve(p),
            };
            (s, op)
        }
        MsgType::Write if data.contains_key("basePath") => {
            let (s, base) = path_field(&data, "basePath").map_err(invalid)?;
            if base.depth() < 2 {
                return Err(invalid("write basePath must be an object instance or a resource".into()));
            }
            let entries = content_entries(&data, &base, hex, false).map_err(invalid)?;
            (s, Operation::Write { path: base, entries, partial: base.depth() == 2 })
        }
        MsgType::Write => {
            let (s, p) = path_field(&data, "path").map_err(invalid)?;
            if p.resource.is_none() {
                return Err(invalid("write path must be a resource".into()));
            }
            let value = typed_value(&data, hex).map_err(invalid)?;
            (s, Operation::Write { path: p, entries: vec![Entry::new(p, value)], partial: false })
        }
        MsgType::WriteAttr => {
            let (s, p) = path_field(&data, "path").map_err(invalid)?;
            let mut attributes = Vec::new();
            for k in ["pmin", "pmax", "gt", "lt", "st"] {
                match data.get(k) {
                    None | Some(J::Null) => {}
                    Some(J::String(v)) if v.is_empty() => {}
                    Some(v) => attributes
                        .push((k.to_owned(), attr_text(v).ok_or_else(|| invalid(format!("{k} is not a number")))?)),
                }
            }
            (s, Operation::WriteAttributes { path: p, attributes })
        }
        MsgType::Execute => {
            let (s, p) = path_field(&data, "path").map_err(invalid)?;
            if p.resource.is_none() {
                return Err(invalid("execute path must be a resource".into()));
            }
            let args = match data.get("args") {
                None | Some(J::Null) => String::new(),
                Some(J::String(a)) => a.clone(),
                Some(other) => other.to_string(),
            };
            (s, Operation::Execute { path: p, args })
        }
        MsgType::Create => {
            let (s, base) = path_field(&data, "basePath").map_err(invalid)?;
            if base.depth() > 2 {
                return Err(invalid("create basePath must be an object".into()));
            }
            let entries = content_entries(&data, &base, hex, true).map_err(invalid)?;
            (s, Operation::Create { path: base, entries })
        }
    };
    Ok(Command { envelope, msg_type, req_path, operation, ttl })
}

/// `content` of a response or notification: `[{"path", "value"}]` for values, link strings
/// for discover; `None` when there is no payload.
pub fn content_json(content: &Content) -> Option<J> {
    match content {
        Content::Empty => None,
        Content::Values(es) => {
            Some(J::Array(es.iter().map(|e| json!({"path": e.path.to_string(), "value": e.value.to_json()})).collect()))
        }
        Content::Links(ls) => Some(J::Array(ls.iter().cloned().map(J::String).collect())),
    }
}

fn data_json(req_path: &str, code: Code, content: Option<&Content>) -> J {
    let mut d = Map::new();
    d.insert("reqPath".into(), J::String(req_path.to_owned()));
    d.insert("code".into(), J::String(code_string(code)));
    d.insert("codeMsg".into(), J::String(code_message(code).into()));
    if let Some(c) = content.and_then(content_json) {
        d.insert("content".into(), c);
    }
    J::Object(d)
}

/// The response to a command (emqx-conventions §3.5): the command's top-level fields with
/// `data` = `{"reqPath", "code", "codeMsg", "content"?}`; `seq_num` for an observe response.
pub fn response_json(command: &Command, code: Code, content: Option<&Content>, seq_num: Option<u32>) -> Vec<u8> {
    let mut out = command.envelope.clone();
    if let Some(s) = seq_num {
        out.insert("seqNum".into(), J::from(s));
    }
    out.insert("data".into(), data_json(&command.req_path, code, content));
    serde_json::to_vec(&J::Object(out)).unwrap_or_default()
}

/// A response whose payload could not be decoded: EMQX's `4.00 bad_request` (e.g. no XML
/// definition for the object, emqx-conventions §3.6).
pub fn undecodable_response_json(command: &Command) -> Vec<u8> {
    response_json(command, Code::BAD_REQUEST, None, None)
}

/// A notification: `{"reqID", "msgType": "notify", "seqNum", "data": {...}}`; `req_id` is
/// the observe command's (`None` for auto-observe).
pub fn notify_json(req_id: Option<&J>, seq_num: u32, req_path: &str, code: Code, content: Option<&Content>) -> Vec<u8> {
    let mut out = Map::new();
    if let Some(id) = req_id {
        out.insert("reqID".into(), id.clone());
    }
    out.insert("msgType".into(), J::String("notify".into()));
    out.insert("seqNum".into(), J::from(seq_num));
    out.insert("data".into(), data_json(req_path, code, content));
    serde_json::to_vec(&J::Object(out)).unwrap_or_default()
}

/// Query parameters never published (EMQX drops sensitive-looking ones).
fn is_sensitive(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    k.contains("password") || k.contains("secret") || k.contains("token")
}

fn reg_json(msg_type: &str, reg: &Registration) -> Vec<u8> {
    let mut data = Map::new();
    for (k, v) in &reg.params {
        if is_sensitive(k) {
            continue;
        }
        let value = if k == "lt" {
            v.trim().parse::<u64>().map_or_else(|_| J::String(v.clone()), J::from)
        } else {
            J::String(v.clone())
        };
        data.insert(k.clone(), value);
    }
    data.insert("objectList".into(), J::Array(reg.objects.object_list.iter().cloned().map(J::String).collect()));
    data.insert("alternatePath".into(), J::String(reg.objects.alternate_path.clone()));
    serde_json::to_vec(&json!({"msgType": msg_type, "data": J::Object(data)})).unwrap_or_default()
}

/// `{"msgType": "register", "data": {ep, lt (int), lwm2m, b, ..., "objectList", "alternatePath"}}`.
pub fn register_json(reg: &Registration) -> Vec<u8> {
    reg_json("register", reg)
}

/// `{"msgType": "update", "data": {...}}` with the merged registration.
pub fn update_json(reg: &Registration) -> Vec<u8> {
    reg_json("update", reg)
}

fn special(command: &Command, msg_type: &str) -> Vec<u8> {
    let mut out = command.envelope.clone();
    out.insert("msgType".into(), J::String(msg_type.into()));
    out.insert("data".into(), json!({"reqPath": command.req_path}));
    serde_json::to_vec(&J::Object(out)).unwrap_or_default()
}

/// The device sent an empty ACK (separate response pending).
pub fn ack_json(command: &Command) -> Vec<u8> {
    special(command, "ack")
}

/// No ACK after all retransmissions.
pub fn coap_timeout_json(command: &Command) -> Vec<u8> {
    special(command, "coap_timeout")
}

/// The device answered RST.
pub fn coap_reset_json(command: &Command) -> Vec<u8> {
    special(command, "coap_reset")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use gw_lwm2m::linkformat::registered_objects;

    use super::*;

    fn j(b: &[u8]) -> J {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn read_response_echoes_the_command() {
        let cmd = parse_command(br#"{"reqID":7,"msgType":"read","data":{"path":"/3/0/0"},"x":1}"#).unwrap();
        assert_eq!(cmd.operation, Operation::Read(Path::resource(3, 0, 0)));
        let content = Content::Values(vec![Entry::new(Path::resource(3, 0, 0), Value::String("ACME".into()))]);
        let out = j(&response_json(&cmd, Code::CONTENT, Some(&content), None));
        assert_eq!(
            out,
            json!({"reqID":7,"msgType":"read","x":1,"data":{"reqPath":"/3/0/0","code":"2.05","codeMsg":"content",
                   "content":[{"path":"/3/0/0","value":"ACME"}]}})
        );
    }

    #[test]
    fn write_single_and_batch() {
        let cmd = parse_command(
            br#"{"reqID":1,"msgType":"write","data":{"path":"/3/0/13","type":"Time","value":1700000000}}"#,
        )
        .unwrap();
        let Operation::Write { path, entries, partial } = &cmd.operation else { panic!() };
        assert_eq!((*path, partial), (Path::resource(3, 0, 13), &false));
        assert_eq!(entries[0].value, Value::Time(1_700_000_000));
        let cmd = parse_command(
            br#"{"reqID":2,"msgType":"write","data":{"basePath":"/3/0/","content":[
                {"path":"14","type":"String","value":"+08:00"},{"path":"15","type":"String","value":"Asia/Shanghai"}]}}"#,
        )
        .unwrap();
        let Operation::Write { path, entries, partial } = &cmd.operation else { panic!() };
        assert_eq!((*path, *partial, entries.len()), (Path::instance(3, 0), true, 2));
        assert_eq!(cmd.req_path, "/3/0/");
        let out = j(&response_json(&cmd, Code::CHANGED, None, None));
        assert_eq!(out["data"], json!({"reqPath":"/3/0/","code":"2.04","codeMsg":"changed"}));
        let cmd = parse_command(br#"{"reqID":3,"msgType":"write","encoding":"hex","data":{"path":"/5/0/0","type":"Opaque","value":"0aff"}}"#)
            .unwrap();
        let Operation::Write { entries, .. } = &cmd.operation else { panic!() };
        assert_eq!(entries[0].value, Value::Opaque(bytes::Bytes::from_static(&[0x0a, 0xff])));
    }

    #[test]
    fn other_commands() {
        let c = parse_command(
            br#"{"reqID":4,"msgType":"write-attr","data":{"path":"/3/0/9","pmin":"1","pmax":10,"lt":""}}"#,
        )
        .unwrap();
        assert_eq!(
            c.operation,
            Operation::WriteAttributes {
                path: Path::resource(3, 0, 9),
                attributes: vec![("pmin".into(), "1".into()), ("pmax".into(), "10".into())]
            }
        );
        let c = parse_command(br#"{"reqID":5,"msgType":"execute","data":{"path":"/3/0/4","args":"0='x'"}}"#).unwrap();
        assert_eq!(c.operation, Operation::Execute { path: Path::resource(3, 0, 4), args: "0='x'".into() });
        let c = parse_command(br#"{"reqID":6,"msgType":"create","data":{"basePath":"/3303","content":[{"path":"5700","type":"Float","value":1.5}]}}"#)
            .unwrap();
        let Operation::Create { entries, .. } = &c.operation else { panic!() };
        assert_eq!(entries[0].path, Path::resource(3303, 0, 5700));
        let c = parse_command(br#"{"reqID":8,"msgType":"delete","data":{"path":"/3303/0"}}"#).unwrap();
        assert_eq!(c.operation, Operation::Delete(Path::instance(3303, 0)));
        let c =
            parse_command(br#"{"reqID":9,"msgType":"cancel-observe","data":{"path":"/3/0/9"},"mheaders":{"ttl":0}}"#)
                .unwrap();
        assert_eq!((c.msg_type, c.ttl), (MsgType::CancelObserve, Some(0)));
        let c = parse_command(br#"{"reqID":10,"msgType":"discover","data":{"path":"/3/0"}}"#).unwrap();
        let out = j(&response_json(&c, Code::CONTENT, Some(&Content::Links(vec!["</3/0/1>".into()])), None));
        assert_eq!(out["data"]["content"], json!(["</3/0/1>"]));
        let c = parse_command(br#"{"reqID":11,"msgType":"observe","data":{"path":"/3/0/9"}}"#).unwrap();
        let out = j(&response_json(&c, Code::CONTENT, None, Some(3)));
        assert_eq!(out["seqNum"], json!(3));
        assert_eq!(j(&ack_json(&c)), json!({"reqID":11,"msgType":"ack","data":{"reqPath":"/3/0/9"}}));
        assert_eq!(j(&coap_timeout_json(&c))["msgType"], "coap_timeout");
        assert_eq!(j(&coap_reset_json(&c))["msgType"], "coap_reset");
    }

    #[test]
    fn errors_are_answered() {
        let e = parse_command(br#"{"reqID":1,"msgType":"frobnicate","data":{"path":"/3/0"}}"#).unwrap_err();
        assert_eq!(e.kind, CommandErrorKind::UnknownMsgType);
        let out = j(&e.response_json());
        assert_eq!(out["reqID"], 1);
        assert_eq!(out["msgType"], "frobnicate");
        assert_eq!(out["data"]["code"], "4.00");
        assert_eq!(out["data"]["codeMsg"], "bad_request");
        assert_eq!(out["data"]["reqPath"], "/3/0");
        for bad in [
            &br#"{"reqID":1,"msgType":"read","data":{"path":"/x"}}"#[..],
            br#"{"reqID":1,"msgType":"read"}"#,
            br#"{"reqID":1,"msgType":"write","data":{"path":"/3/0/13","type":"Bogus","value":1}}"#,
            br#"{"reqID":1,"msgType":"write","data":{"path":"/3/0/13","type":"Integer","value":"x"}}"#,
            br#"{"reqID":1,"msgType":"write-attr","data":{"path":"/3/0/9","pmin":"abc"}}"#,
        ] {
            let e = parse_command(bad).unwrap_err();
            assert_eq!(e.kind, CommandErrorKind::Invalid, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_command(b"not json").unwrap_err().kind, CommandErrorKind::NotJson);
        assert_eq!(j(&parse_command(b"[1]").unwrap_err().response_json())["data"]["code"], "4.00");
    }

    #[test]
    fn notify_and_registration_events() {
        let content = Content::Values(vec![Entry::new(Path::resource(3, 0, 9), Value::Integer(88))]);
        let out = j(&notify_json(Some(&json!(12)), 4, "/3/0/9", Code::CONTENT, Some(&content)));
        assert_eq!(
            out,
            json!({"reqID":12,"msgType":"notify","seqNum":4,"data":{"reqPath":"/3/0/9","code":"2.05","codeMsg":"content",
                   "content":[{"path":"/3/0/9","value":88}]}})
        );
        let now = Instant::now();
        let reg = Registration {
            endpoint: "ep1".into(),
            location: "ep1".into(),
            params: vec![
                ("ep".into(), "ep1".into()),
                ("lt".into(), "300".into()),
                ("lwm2m".into(), "1.0".into()),
                ("b".into(), "U".into()),
                ("password".into(), "p".into()),
            ],
            version: "1.0".into(),
            binding: "U".into(),
            lifetime: Duration::from_secs(300),
            objects: registered_objects("</1/0>,</3/0>").unwrap(),
            expires_at: now,
            last_seen: now,
        };
        assert_eq!(
            j(&register_json(&reg)),
            json!({"msgType":"register","data":{"ep":"ep1","lt":300,"lwm2m":"1.0","b":"U",
                   "objectList":["/1/0","/3/0"],"alternatePath":"/"}})
        );
        assert_eq!(j(&update_json(&reg))["msgType"], "update");
    }
}
