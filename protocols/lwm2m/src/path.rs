//! LwM2M paths `/{object}/{instance}/{resource}/{resource instance}` (OMA LwM2M TS 1.1 Core
//! §6.1/§7.1): one to four 16-bit ids; 65535 is reserved (TS §6.1), so ids are `0..=65534`.

use std::fmt;

/// An object, object instance, resource or resource instance path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    /// Object id.
    pub object: u16,
    /// Object instance id.
    pub instance: Option<u16>,
    /// Resource id (only with an instance).
    pub resource: Option<u16>,
    /// Resource instance id (only with a resource).
    pub resource_instance: Option<u16>,
}

/// A string that is not an LwM2M path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid LwM2M path {0:?} (OMA LwM2M TS Core §6.1: /obj[/inst[/res[/ri]]], ids 0..=65534)")]
pub struct PathError(pub String);

impl Path {
    /// `/{object}`.
    pub const fn object(object: u16) -> Self {
        Self { object, instance: None, resource: None, resource_instance: None }
    }

    /// `/{object}/{instance}`.
    pub const fn instance(object: u16, instance: u16) -> Self {
        Self { object, instance: Some(instance), resource: None, resource_instance: None }
    }

    /// `/{object}/{instance}/{resource}`.
    pub const fn resource(object: u16, instance: u16, resource: u16) -> Self {
        Self { object, instance: Some(instance), resource: Some(resource), resource_instance: None }
    }

    /// `/{object}/{instance}/{resource}/{resource_instance}`.
    pub const fn resource_instance(object: u16, instance: u16, resource: u16, ri: u16) -> Self {
        Self { object, instance: Some(instance), resource: Some(resource), resource_instance: Some(ri) }
    }

    /// Builds a path from 1..=4 ids.
    pub fn from_ids(ids: &[u16]) -> Option<Self> {
        if ids.is_empty() || ids.len() > 4 || ids.contains(&u16::MAX) {
            return None;
        }
        Some(Self {
            object: ids[0],
            instance: ids.get(1).copied(),
            resource: ids.get(2).copied(),
            resource_instance: ids.get(3).copied(),
        })
    }

    /// Parses `/3/0/1`, `3/0/1` or `/3/0/` (one trailing slash tolerated: EMQX's `basePath`).
    pub fn parse(s: &str) -> Result<Self, PathError> {
        let err = || PathError(s.to_owned());
        let t = s.strip_prefix('/').unwrap_or(s);
        let t = t.strip_suffix('/').unwrap_or(t);
        if t.is_empty() {
            return Err(err());
        }
        let mut ids = Vec::with_capacity(4);
        for seg in t.split('/') {
            if seg.is_empty() || seg.len() > 5 || !seg.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            ids.push(seg.parse::<u16>().map_err(|_| err())?);
        }
        Self::from_ids(&ids).ok_or_else(err)
    }

    /// The ids, outermost first.
    pub fn ids(&self) -> Vec<u16> {
        [Some(self.object), self.instance, self.resource, self.resource_instance].into_iter().flatten().collect()
    }

    /// 1 (object) ..= 4 (resource instance).
    pub fn depth(&self) -> usize {
        1 + usize::from(self.instance.is_some())
            + usize::from(self.resource.is_some())
            + usize::from(self.resource_instance.is_some())
    }

    /// Whether `other` is this path or below it.
    pub fn contains(&self, other: &Self) -> bool {
        let (a, b) = (self.ids(), other.ids());
        a.len() <= b.len() && a[..] == b[..a.len()]
    }

    /// The path one level deeper, or `None` at a resource instance.
    pub fn child(&self, id: u16) -> Option<Self> {
        let mut ids = self.ids();
        ids.push(id);
        Self::from_ids(&ids)
    }

    /// Resolves `rel` against this path: an absolute path (`/3/0/1`) must lie below it; a
    /// relative one (`1`, `6/0`) is appended (EMQX's batch `content[].path`, OMA JSON `n`).
    pub fn join(&self, rel: &str) -> Result<Self, PathError> {
        let err = || PathError(rel.to_owned());
        if rel.starts_with('/') {
            let p = Self::parse(rel)?;
            return if self.contains(&p) { Ok(p) } else { Err(err()) };
        }
        let t = rel.strip_suffix('/').unwrap_or(rel);
        if t.is_empty() {
            return Ok(*self);
        }
        let mut ids = self.ids();
        for seg in t.split('/') {
            if seg.is_empty() || seg.len() > 5 || !seg.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            ids.push(seg.parse::<u16>().map_err(|_| err())?);
        }
        Self::from_ids(&ids).ok_or_else(err)
    }

    /// The Uri-Path segments (decimal ids).
    pub fn segments(&self) -> Vec<String> {
        self.ids().iter().map(u16::to_string).collect()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for id in self.ids() {
            write!(f, "/{id}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!(Path::parse("/3/0/1").unwrap(), Path::resource(3, 0, 1));
        assert_eq!(Path::parse("/3/0/").unwrap(), Path::instance(3, 0));
        assert_eq!(Path::parse("3").unwrap().to_string(), "/3");
        assert_eq!(Path::parse("/3/0/6/1").unwrap().depth(), 4);
        for bad in ["", "/", "//3", "/3//0", "/a", "/3/0/1/2/3", "/65535", "/-1", "/3/ 0", "/999999"] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn join_and_contains() {
        let base = Path::instance(3, 0);
        assert_eq!(base.join("13").unwrap(), Path::resource(3, 0, 13));
        assert_eq!(base.join("6/1").unwrap(), Path::resource_instance(3, 0, 6, 1));
        assert_eq!(base.join("/3/0/13").unwrap(), Path::resource(3, 0, 13));
        assert!(base.join("/4/0/1").is_err());
        assert!(base.contains(&Path::resource(3, 0, 1)));
        assert!(!Path::resource(3, 0, 1).contains(&base));
    }
}
