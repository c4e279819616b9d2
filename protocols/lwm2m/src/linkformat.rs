//! CoRE link format (RFC 6690 §2) as used by LwM2M Register/Update payloads and Discover
//! responses (OMA LwM2M TS 1.1 Core §6.2.1, §5.2.7.3): `</1/0>,</3/0>;ver=1.1,</>;rt="oma.lwm2m"`.

/// One link: target and attributes (`;name` or `;name=value`, quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URI between `<` and `>`.
    pub target: String,
    /// Attributes in order.
    pub attrs: Vec<(String, Option<String>)>,
}

impl Link {
    /// The first value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
}

/// A payload that is not link format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CoRE link format at byte {0} (RFC 6690 §2)")]
pub struct LinkFormatError(pub usize);

/// Parses a link-format document. Whitespace around links is tolerated; an empty document
/// is an empty list.
pub fn parse(s: &str) -> Result<Vec<Link>, LinkFormatError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut links = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i == b.len() {
        return Ok(links);
    }
    loop {
        skip_ws(&mut i);
        if b.get(i) != Some(&b'<') {
            return Err(LinkFormatError(i));
        }
        let end = s[i + 1..].find('>').ok_or(LinkFormatError(i))? + i + 1;
        let target = s[i + 1..end].to_owned();
        i = end + 1;
        let mut attrs = Vec::new();
        loop {
            skip_ws(&mut i);
            match b.get(i) {
                Some(b';') => {
                    i += 1;
                    let start = i;
                    while i < b.len() && !matches!(b[i], b'=' | b';' | b',') {
                        i += 1;
                    }
                    let name = s[start..i].trim().to_owned();
                    if name.is_empty() {
                        return Err(LinkFormatError(start));
                    }
                    let value = if b.get(i) == Some(&b'=') {
                        i += 1;
                        if b.get(i) == Some(&b'"') {
                            let close = s[i + 1..].find('"').ok_or(LinkFormatError(i))? + i + 1;
                            let v = s[i + 1..close].to_owned();
                            i = close + 1;
                            Some(v)
                        } else {
                            let start = i;
                            while i < b.len() && !matches!(b[i], b';' | b',') {
                                i += 1;
                            }
                            Some(s[start..i].trim().to_owned())
                        }
                    } else {
                        None
                    };
                    attrs.push((name, value));
                }
                Some(b',') | None => break,
                Some(_) => return Err(LinkFormatError(i)),
            }
        }
        links.push(Link { target, attrs });
        if i >= b.len() {
            return Ok(links);
        }
        i += 1; // ','
    }
}

/// Renders links back to link format (attribute values quoted unless numeric).
pub fn to_string(links: &[Link]) -> String {
    let mut out = String::new();
    for (n, l) in links.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('<');
        out.push_str(&l.target);
        out.push('>');
        for (k, v) in &l.attrs {
            out.push(';');
            out.push_str(k);
            if let Some(v) = v {
                out.push('=');
                if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                    out.push_str(v);
                } else {
                    out.push('"');
                    out.push_str(v);
                    out.push('"');
                }
            }
        }
    }
    out
}

/// What a Register/Update payload says about the client's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredObjects {
    /// Alternate path from a `rt="oma.lwm2m"` link (TS Core §6.2.1), `/` by default.
    pub alternate_path: String,
    /// Object and object-instance paths with attributes stripped and the alternate path
    /// removed (`"/1/0"`, `"/3/0"`), in payload order (EMQX's `objectList`).
    pub object_list: Vec<String>,
    /// The links as sent.
    pub links: Vec<Link>,
}

/// Parses a Register/Update payload into the object list and alternate path.
pub fn registered_objects(payload: &str) -> Result<RegisteredObjects, LinkFormatError> {
    let links = parse(payload)?;
    let mut alternate_path = String::from("/");
    for l in &links {
        if l.attr("rt") == Some("oma.lwm2m") {
            alternate_path = if l.target.is_empty() { "/".to_owned() } else { l.target.clone() };
        }
    }
    let prefix = alternate_path.trim_end_matches('/');
    let mut object_list = Vec::new();
    for l in &links {
        if l.attr("rt") == Some("oma.lwm2m") {
            continue;
        }
        let t = l.target.as_str();
        let rel = if prefix.is_empty() { t } else { t.strip_prefix(prefix).unwrap_or(t) };
        let rel = if rel.starts_with('/') { rel.to_owned() } else { format!("/{rel}") };
        if rel != "/" {
            object_list.push(rel);
        }
    }
    Ok(RegisteredObjects { alternate_path, object_list, links })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_quotes() {
        let l = parse(r#"</3/0>;ver=1.1;obs, </a,b>;title="x,y";rt="oma.lwm2m""#).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].attr("ver"), Some("1.1"));
        assert_eq!(l[0].attrs[1], ("obs".into(), None));
        assert_eq!(l[1].target, "/a,b");
        assert_eq!(l[1].attr("title"), Some("x,y"));
        assert!(parse("/3/0").is_err());
        assert!(parse("</3/0").is_err());
        assert!(parse("</3/0>;").is_err());
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
