//! A grid zone's name, validated once where it enters (wire, flags, CRs, traces)
//! so everything downstream handles a [`Zone`] rather than an arbitrary string.
//!
//! Names follow Electricity Maps' zone keys (`GB`, `US-CAL-CISO`, `SE-SE3`), plus
//! what a provider or operator adds (`GB-UKCI-13`, `mock`). They are compared as
//! written: `gb` and `GB` are different zones, as they are to every provider.
use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The longest zone name accepted anywhere (names appear in metric labels and CR status).
pub const MAX_ZONE_LEN: usize = 64;

/// A grid zone name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
///
/// Cheap to clone (shared text). Orders, hashes and compares like its text, and
/// borrows as `&str`, so maps keyed by `Zone` are looked up by `&str`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Zone(Arc<str>);

/// Why a text is not a zone name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid grid zone {name:?}: {why}")]
pub struct InvalidZone {
    pub name: String,
    pub why: &'static str,
}

impl Zone {
    pub fn new(name: &str) -> Result<Self, InvalidZone> {
        let invalid = |why| Err(InvalidZone { name: name.to_string(), why });
        if name.is_empty() {
            return invalid("empty");
        }
        if name.len() > MAX_ZONE_LEN {
            return invalid("longer than 64 characters");
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            return invalid("only ASCII letters, digits, '-', '_' and '.' are allowed");
        }
        Ok(Self(Arc::from(name)))
    }

    /// A zone named in the source (built-in tables, tests). Panics on an invalid
    /// literal, which is a bug in that source, never a runtime input.
    pub fn known(name: &'static str) -> Self {
        Self::new(name).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Zone {
    type Err = InvalidZone;

    fn from_str(s: &str) -> Result<Self, InvalidZone> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Zone {
    type Error = InvalidZone;

    fn try_from(s: &str) -> Result<Self, InvalidZone> {
        Self::new(s)
    }
}

impl TryFrom<String> for Zone {
    type Error = InvalidZone;

    fn try_from(s: String) -> Result<Self, InvalidZone> {
        Self::new(&s)
    }
}

impl std::ops::Deref for Zone {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Zone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Zone {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Zone {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Zone {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Zone {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Zone::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn accepts_provider_zone_keys_and_refuses_the_rest() {
        for ok in ["GB", "US-CAL-CISO", "SE-SE3", "GB-UKCI-13", "mock", "a.b_c", &"x".repeat(64)] {
            assert_eq!(Zone::new(ok).unwrap().as_str(), ok);
        }
        for bad in ["", " GB", "GB ", "US/CAL", "é", &"x".repeat(65)] {
            assert!(Zone::new(bad).is_err(), "{bad:?} should be refused");
        }
        let err = Zone::new("a b").unwrap_err().to_string();
        assert!(err.contains("\"a b\""), "{err}");
    }

    #[test]
    fn looks_up_by_str_and_round_trips_through_serde() {
        let map: BTreeMap<Zone, u32> = [(Zone::new("GB").unwrap(), 1)].into();
        assert_eq!(map.get("GB"), Some(&1));
        let z: Zone = serde_json::from_str("\"DE\"").unwrap();
        assert_eq!(z, "DE");
        assert_eq!(serde_json::to_string(&z).unwrap(), "\"DE\"");
        assert!(serde_json::from_str::<Zone>("\"\"").is_err());
    }
}
