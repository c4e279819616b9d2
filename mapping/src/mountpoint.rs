//! Mountpoints: a per-client topic prefix (EMQX's `mountpoint`), added to every topic a
//! client publishes or subscribes to and removed from every topic delivered to it.
//!
//! The template may hold `${clientid}`, `${username}` and `${endpoint_name}`; as in EMQX, a
//! placeholder that cannot be resolved stays in the topic literally. Shared-subscription
//! prefixes stay in front: `$share/g/t` under `dev/` becomes `$share/g/dev/t`.

use std::borrow::Cow;

/// Values for a mountpoint template's placeholders.
#[derive(Debug, Default, Clone, Copy)]
pub struct MountVars<'a> {
    /// `${clientid}`.
    pub client_id: Option<&'a str>,
    /// `${username}`.
    pub username: Option<&'a str>,
    /// `${endpoint_name}` (LwM2M).
    pub endpoint_name: Option<&'a str>,
}

/// A resolved mountpoint (empty = none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mountpoint(String);

impl Mountpoint {
    /// Resolves `template` for one client.
    pub fn resolve(template: &str, vars: MountVars<'_>) -> Self {
        let mut out = template.to_string();
        for (name, value) in
            [("${clientid}", vars.client_id), ("${username}", vars.username), ("${endpoint_name}", vars.endpoint_name)]
        {
            if let Some(v) = value {
                out = out.replace(name, v);
            }
        }
        Self(out)
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bus topic for a client's topic.
    pub fn mount<'a>(&self, topic: &'a str) -> Cow<'a, str> {
        if self.0.is_empty() {
            Cow::Borrowed(topic)
        } else {
            Cow::Owned(format!("{}{topic}", self.0))
        }
    }

    /// The bus filter for a client's subscription, keeping `$share/<g>/` or `$queue/` first.
    pub fn mount_filter<'a>(&self, filter: &'a str) -> Cow<'a, str> {
        if self.0.is_empty() {
            return Cow::Borrowed(filter);
        }
        if let Some(rest) = filter.strip_prefix("$queue/") {
            return Cow::Owned(format!("$queue/{}{rest}", self.0));
        }
        if let Some(rest) = filter.strip_prefix("$share/") {
            if let Some((group, f)) = rest.split_once('/') {
                return Cow::Owned(format!("$share/{group}/{}{f}", self.0));
            }
        }
        Cow::Owned(format!("{}{filter}", self.0))
    }

    /// The client's topic for a bus topic (unchanged if it lacks the prefix).
    pub fn unmount<'a>(&self, topic: &'a str) -> &'a str {
        topic.strip_prefix(self.0.as_str()).unwrap_or(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_round_trip() {
        let mp = Mountpoint::resolve("dev/${clientid}/", MountVars { client_id: Some("c1"), ..MountVars::default() });
        assert_eq!(mp.as_str(), "dev/c1/");
        assert_eq!(mp.mount("t/x"), "dev/c1/t/x");
        assert_eq!(mp.unmount("dev/c1/t/x"), "t/x");
        assert_eq!(mp.unmount("other"), "other");
        assert_eq!(mp.mount_filter("$share/g/t/#"), "$share/g/dev/c1/t/#");
        assert_eq!(mp.mount_filter("$queue/t"), "$queue/dev/c1/t");
        // Unresolvable placeholders stay literally, as in EMQX.
        assert_eq!(Mountpoint::resolve("u/${username}/", MountVars::default()).as_str(), "u/${username}/");
        assert!(matches!(Mountpoint::default().mount("t"), Cow::Borrowed("t")));
    }
}
