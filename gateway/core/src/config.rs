//! Value types of the configuration, parsed the way EMQX writes them: durations such as
//! `"30s"`, `"2h"` or `"infinity"`, sizes such as `"1MB"`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration that may also be `"infinity"` (or `"disabled"`), i.e. none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Option<Duration>);

impl ConfigDuration {
    /// A finite duration.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Some(Duration::from_secs(secs)))
    }

    /// The infinite / disabled value.
    pub const INFINITY: Self = Self(None);

    /// The duration, or None for infinity.
    pub fn get(self) -> Option<Duration> {
        self.0
    }

    /// The duration; infinity becomes `Duration::MAX`.
    pub fn or_max(self) -> Duration {
        self.0.unwrap_or(Duration::MAX)
    }
}

/// Parses `"30s"`, `"2h"`, `"1500ms"`, `"1h 30m"`, `"infinity"`, `"disabled"`.
pub fn parse_duration(text: &str) -> Result<ConfigDuration, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("infinity") || t.eq_ignore_ascii_case("disabled") {
        return Ok(ConfigDuration::INFINITY);
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(ConfigDuration::from_secs(secs));
    }
    humantime::parse_duration(t)
        .map(|d| ConfigDuration(Some(d)))
        .map_err(|e| format!("invalid duration {text:?} ({e}); use e.g. \"30s\", \"2h\" or \"infinity\""))
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"2h\" or \"infinity\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ConfigDuration::from_secs(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v).map(ConfigDuration::from_secs).map_err(|_| E::custom("negative duration"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            None => serializer.serialize_str("infinity"),
            Some(d) => serializer.serialize_str(&humantime::format_duration(d).to_string()),
        }
    }
}

/// A size in bytes, written `"1MB"`, `"64KB"`, `"512B"` or as a plain number of bytes.
/// Units are binary (1KB = 1024 bytes), as in EMQX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// Parses a size such as `"1MB"`.
pub fn parse_size(text: &str) -> Result<ByteSize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("invalid size {text:?}; use e.g. \"1MB\" or \"64KB\""))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "K" | "KIB" => 1 << 10,
        "MB" | "M" | "MIB" => 1 << 20,
        "GB" | "G" | "GIB" => 1 << 30,
        other => return Err(format!("invalid size unit {other:?} in {text:?}; use B, KB, MB or GB")),
    };
    n.checked_mul(mult).map(ByteSize).ok_or_else(|| format!("size {text:?} is too large"))
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"1MB\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_size(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v).map(ByteSize).map_err(|_| E::custom("negative size"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_emqx_writes_them() {
        assert_eq!(parse_duration("2h").unwrap(), ConfigDuration::from_secs(7200));
        assert_eq!(parse_duration("30s").unwrap(), ConfigDuration::from_secs(30));
        assert_eq!(parse_duration("1500ms").unwrap().0, Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("infinity").unwrap(), ConfigDuration::INFINITY);
        assert_eq!(parse_duration("disabled").unwrap(), ConfigDuration::INFINITY);
        assert_eq!(parse_duration("15").unwrap(), ConfigDuration::from_secs(15));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn sizes_are_binary() {
        assert_eq!(parse_size("1MB").unwrap(), ByteSize(1 << 20));
        assert_eq!(parse_size("64KB").unwrap(), ByteSize(64 << 10));
        assert_eq!(parse_size("512").unwrap(), ByteSize(512));
        assert!(parse_size("1XB").is_err());
        assert!(parse_size("MB").is_err());
    }
}
