//! What a request asks for, in EMQX's scheme (emqx-conventions §2.2): the route from Uri-Path
//! and the query from Uri-Query, with EMQX's short names (`c t u p q r`).

use crate::codec::{option, Message};

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/mqtt/connection`.
    Connection,
    /// `/ps/{topic...}`: the topic, segments percent-decoded and joined with `/` (may be empty).
    PubSub(String),
    /// Anything else.
    Unknown,
}

/// The query parameters this scheme knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) client_id: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) qos: Option<String>,
    pub(crate) retain: Option<String>,
    pub(crate) expiry: Option<String>,
    pub(crate) no_local: Option<String>,
    pub(crate) retain_handling: Option<String>,
}

/// `%XX` decoding; malformed escapes are kept literally, invalid UTF-8 replaced.
pub(crate) fn percent_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The route of a request and the key its block-wise state is kept under.
pub(crate) fn route(msg: &Message) -> (Route, String) {
    let segments: Vec<String> = msg.options_of(option::URI_PATH).map(|s| percent_decode(s)).collect();
    let key = segments.join("/");
    let route = match segments.first().map(String::as_str) {
        Some("ps") => {
            let topic = segments[1..].join("/");
            Route::PubSub(topic)
        }
        Some("mqtt") if segments.len() == 2 && segments[1] == "connection" => Route::Connection,
        _ => Route::Unknown,
    };
    (route, key)
}

/// Parses every Uri-Query `name=value` (first occurrence wins; long and short names alike).
pub(crate) fn query(msg: &Message) -> Query {
    let mut q = Query::default();
    for raw in msg.options_of(option::URI_QUERY) {
        let (name, value) = match raw.iter().position(|b| *b == b'=') {
            Some(at) => (&raw[..at], percent_decode(&raw[at + 1..])),
            None => (&raw[..], String::new()),
        };
        let slot = match name {
            b"clientid" | b"c" => &mut q.client_id,
            b"token" | b"t" => &mut q.token,
            b"username" | b"u" => &mut q.username,
            b"password" | b"p" => &mut q.password,
            b"qos" | b"q" => &mut q.qos,
            b"retain" | b"r" => &mut q.retain,
            b"expiry" => &mut q.expiry,
            b"nl" => &mut q.no_local,
            b"rh" => &mut q.retain_handling,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode(b"a%2Fb"), "a/b");
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
        assert_eq!(percent_decode(b"%41"), "A");
        assert_eq!(percent_decode(b"%"), "%");
    }
}
