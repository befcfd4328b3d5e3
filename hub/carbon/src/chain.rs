//! Which provider serves which zone: a default order (primary, then
//! fallbacks) and per-zone overrides. The choice of whom to ask is a pure
//! function of the order and each provider's backoff state.
use crate::providers::Provider;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("no providers configured")]
    Empty,
    #[error("zone {zone}: unknown provider {name:?} (configured: {known})")]
    UnknownProvider { zone: String, name: String, known: String },
    #[error("provider {0:?} is configured twice")]
    Duplicate(String),
}

/// Providers in order of preference, with per-zone orders.
#[derive(Clone)]
pub struct ProviderChain {
    providers: Vec<Arc<dyn Provider>>,
    per_zone: BTreeMap<String, Vec<usize>>,
}

impl std::fmt::Debug for ProviderChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderChain")
            .field("providers", &self.names())
            .field("per_zone", &self.per_zone)
            .finish()
    }
}

impl ProviderChain {
    /// The default order is the order given.
    pub fn new(providers: Vec<Arc<dyn Provider>>) -> Result<Self, ChainError> {
        if providers.is_empty() {
            return Err(ChainError::Empty);
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &providers {
            if !seen.insert(p.name().to_string()) {
                return Err(ChainError::Duplicate(p.name().to_string()));
            }
        }
        Ok(Self { providers, per_zone: BTreeMap::new() })
    }

    /// Uses `names` (in that order) for `zone` instead of the default order.
    pub fn with_zone_order(mut self, zone: &str, names: &[&str]) -> Result<Self, ChainError> {
        let mut order = Vec::with_capacity(names.len());
        for name in names {
            let idx = self.index_of(name).ok_or_else(|| ChainError::UnknownProvider {
                zone: zone.to_string(),
                name: name.to_string(),
                known: self.names().join(", "),
            })?;
            order.push(idx);
        }
        self.per_zone.insert(zone.to_string(), order);
        Ok(self)
    }

    pub fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.name() == name)
    }

    pub fn provider(&self, idx: usize) -> &Arc<dyn Provider> {
        &self.providers[idx]
    }

    pub fn len(&self) -> usize {
        self.providers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The providers that may serve `zone`, best first.
    pub fn order_for(&self, zone: &str) -> Vec<usize> {
        let order: Vec<usize> = match self.per_zone.get(zone) {
            Some(o) => o.clone(),
            None => (0..self.providers.len()).collect(),
        };
        order.into_iter().filter(|&i| self.providers[i].supports(zone)).collect()
    }
}

/// The providers to try for a zone at `now`, in order: every provider of
/// `order` whose backoff (`blocked_until`) has passed. The first success ends
/// the attempt; a failure moves on to the next, so a fallback is only asked
/// when everything before it failed or is backing off.
pub fn plan_attempts(
    order: &[usize],
    blocked_until: impl Fn(usize) -> Option<Timestamp>,
    now: Timestamp,
) -> Vec<usize> {
    order.iter().copied().filter(|&i| blocked_until(i).is_none_or(|until| now >= until)).collect()
}

/// When the next provider of `order` becomes available again (for a zone
/// whose every provider is backing off).
pub fn earliest_retry(
    order: &[usize],
    blocked_until: impl Fn(usize) -> Option<Timestamp>,
) -> Option<Timestamp> {
    order.iter().filter_map(|&i| blocked_until(i)).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_providers_in_backoff_and_keeps_order() {
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let later = now + jiff::SignedDuration::from_mins(5);
        let blocked = |i: usize| (i == 0).then_some(later);
        assert_eq!(plan_attempts(&[0, 1, 2], blocked, now), vec![1, 2]);
        assert_eq!(plan_attempts(&[0, 1, 2], blocked, later), vec![0, 1, 2]);
        assert_eq!(plan_attempts(&[2, 0], |_| None, now), vec![2, 0]);
        assert_eq!(earliest_retry(&[0, 1], blocked), Some(later));
    }
}
