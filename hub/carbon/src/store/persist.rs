//! Persistence of the store across hub restarts, so a restart neither loses
//! data nor re-fetches what it fetched a minute ago (nor forgets a rate
//! limit). A small backend trait; the file backend is here, a ConfigMap
//! backend can implement the same trait in the hub.
use futures::future::BoxFuture;
use gridshift_core::{ForecastPoint, Series, Signal, Zone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("persisted state at {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("persisted state at {path} is unreadable: {reason}")]
    Corrupt { path: String, reason: String },
}

/// What survives a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedState {
    pub version: u32,
    pub saved_at: Timestamp,
    pub zones: Vec<PersistedSeries>,
    /// Provider name -> until when it asked us to stay away.
    #[serde(default)]
    pub rate_limited_until: BTreeMap<String, Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedSeries {
    pub zone: String,
    pub generated_at: Timestamp,
    pub signal: Signal,
    pub points: Vec<PersistedPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedPoint {
    pub start: Timestamp,
    pub duration_secs: i64,
    pub value: f64,
    pub provider: String,
    pub estimated: bool,
}

impl From<&Series> for PersistedSeries {
    fn from(s: &Series) -> Self {
        Self {
            zone: s.zone.to_string(),
            generated_at: s.generated_at,
            signal: s.signal,
            points: s
                .points
                .iter()
                .map(|p| PersistedPoint {
                    start: p.start,
                    duration_secs: p.duration.as_secs(),
                    value: p.value,
                    provider: p.provider.to_string(),
                    estimated: p.is_estimated,
                })
                .collect(),
        }
    }
}

impl PersistedSeries {
    /// The series, unless its zone name is not a zone (a file edited by hand).
    pub fn to_series(&self) -> Option<Series> {
        let zone = Zone::new(&self.zone).ok()?;
        let points = self
            .points
            .iter()
            .map(|p| ForecastPoint {
                start: p.start,
                duration: SignedDuration::from_secs(p.duration_secs),
                value: p.value,
                provider: Arc::from(p.provider.as_str()),
                is_estimated: p.estimated,
            })
            .collect();
        // Series::new re-validates (sorting, dropping overlaps and garbage).
        Some(Series::new(zone, self.generated_at, self.signal, points))
    }
}

/// Where the store keeps its state.
pub trait PersistBackend: Send + Sync + 'static {
    fn load(&self) -> BoxFuture<'_, Result<Option<PersistedState>, PersistError>>;
    fn save<'a>(&'a self, state: &'a PersistedState) -> BoxFuture<'a, Result<(), PersistError>>;
}

/// A JSON file, replaced atomically (write to a temporary file, then rename),
/// so a crash mid-write leaves the previous state intact.
#[derive(Debug, Clone)]
pub struct FileBackend {
    path: PathBuf,
}

impl FileBackend {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn io(&self, e: std::io::Error) -> PersistError {
        PersistError::Io { path: self.path.display().to_string(), reason: e.to_string() }
    }
}

impl PersistBackend for FileBackend {
    fn load(&self) -> BoxFuture<'_, Result<Option<PersistedState>, PersistError>> {
        Box::pin(async move {
            let bytes = match tokio::fs::read(&self.path).await {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(self.io(e)),
            };
            let state: PersistedState = serde_json::from_slice(&bytes).map_err(|e| {
                PersistError::Corrupt { path: self.path.display().to_string(), reason: e.to_string() }
            })?;
            if state.version != FORMAT_VERSION {
                return Err(PersistError::Corrupt {
                    path: self.path.display().to_string(),
                    reason: format!("format version {} (expected {FORMAT_VERSION})", state.version),
                });
            }
            Ok(Some(state))
        })
    }

    fn save<'a>(&'a self, state: &'a PersistedState) -> BoxFuture<'a, Result<(), PersistError>> {
        Box::pin(async move {
            let bytes = serde_json::to_vec(state).map_err(|e| PersistError::Io {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            })?;
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir).await.map_err(|e| self.io(e))?;
            }
            let mut tmp = self.path.clone().into_os_string();
            tmp.push(".tmp");
            tokio::fs::write(&tmp, &bytes).await.map_err(|e| self.io(e))?;
            tokio::fs::rename(&tmp, &self.path).await.map_err(|e| self.io(e))?;
            Ok(())
        })
    }
}
