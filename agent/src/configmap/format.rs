//! Encode/decode of the exporter's ConfigMap format.
//!
//! `data`: `lastHeartbeatTime` (RFC3339), `message`, `numOfRecords`, `forecastDateTime`,
//! `minForecast`, `maxForecast` (all strings); `binaryData[data]`: a JSON array of
//! `{"location", "timestamp" (RFC3339), "duration" (whole minutes), "value"}`.
//! We add one key, `generatedAt`, so a reloaded forecast keeps its true age (the heartbeat
//! moves on every write, including ones that keep old data after a failed refresh).
use gridshift_core::{ForecastPoint, Series, Signal, Zone};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const KEY_LAST_HEARTBEAT_TIME: &str = "lastHeartbeatTime";
pub const KEY_MESSAGE: &str = "message";
pub const KEY_NUM_OF_RECORDS: &str = "numOfRecords";
pub const KEY_FORECAST_DATE_TIME: &str = "forecastDateTime";
pub const KEY_MIN_FORECAST: &str = "minForecast";
pub const KEY_MAX_FORECAST: &str = "maxForecast";
/// Gridshift's addition: when the forecast was obtained (RFC3339).
pub const KEY_GENERATED_AT: &str = "generatedAt";
/// The exporter's `binaryData` key, and the usual `localConfigMap.key`.
pub const BINARY_DATA_KEY: &str = "data";
/// Provider recorded on decoded points: the file does not say where data came from.
pub const DECODED_PROVIDER: &str = "configmap";

/// One element of `binaryData.data`, field names and units as the exporter writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default)]
    pub location: String,
    pub timestamp: Timestamp,
    /// Whole minutes.
    pub duration: i64,
    /// gCO2eq/kWh. Go's encoder omits a zero value (`omitempty`), hence the default.
    #[serde(default, serialize_with = "go_number")]
    pub value: f64,
}

/// Go's encoding/json writes integral floats without a fraction (`530`, not `530.0`);
/// match it so consumers comparing bytes or parsing as integers see what they expect.
fn go_number<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    const EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT_INT {
        // Integral and within ±2^53, so the cast is exact.
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// The `data` and `binaryData` maps of the ConfigMap; the writer merges them into the
/// live object (never delete-then-create).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub data: BTreeMap<String, String>,
    pub binary_data: BTreeMap<String, ByteString>,
}

impl Encoded {
    /// Sets our keys on `cm`, leaving any other keys in place.
    pub fn apply_to(self, cm: &mut ConfigMap) {
        cm.data.get_or_insert_default().extend(self.data);
        cm.binary_data.get_or_insert_default().extend(self.binary_data);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("point at {start} lasts {duration}, not a positive whole number of minutes")]
    NotWholeMinutes { start: Timestamp, duration: SignedDuration },
    #[error("binaryData.{key} is missing")]
    MissingData { key: String },
    #[error("binaryData.{key} is not a JSON array of {{location, timestamp, duration, value}}: {source}")]
    Json { key: String, source: serde_json::Error },
    #[error("binaryData.{key}[{index}]: duration {duration} is not a positive number of minutes")]
    BadDuration { key: String, index: usize, duration: i64 },
    #[error("binaryData.{key}[{index}]: value {value} is not a finite, non-negative intensity")]
    BadValue { key: String, index: usize, value: f64 },
    #[error("data.{key} {value:?} is not an RFC3339 timestamp: {error}")]
    BadTimestamp { key: &'static str, value: String, error: String },
}

/// Encodes `series` (its zone becomes each record's `location`). `message` says why the
/// data might not be current (staleness, hub lost); `heartbeat` is the write time.
pub fn encode(series: &Series, heartbeat: Timestamp, message: &str) -> Result<Encoded, FormatError> {
    let records = series
        .points
        .iter()
        .map(|p| {
            let mins = p.duration.as_secs() / 60;
            let whole = p.duration.subsec_nanos() == 0 && p.duration.as_secs() % 60 == 0 && mins > 0;
            if !whole {
                return Err(FormatError::NotWholeMinutes { start: p.start, duration: p.duration });
            }
            Ok(Record {
                location: series.zone.to_string(),
                timestamp: p.start,
                duration: mins,
                value: p.value,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Vec<Record> of strings, timestamps, integers and finite floats cannot fail to encode.
    let json = serde_json::to_vec(&records)
        .map_err(|source| FormatError::Json { key: BINARY_DATA_KEY.to_owned(), source })?;
    let values = series.points.iter().map(|p| p.value);
    let min = values.clone().reduce(f64::min).unwrap_or(0.0);
    let max = values.reduce(f64::max).unwrap_or(0.0);
    // The exporter's forecastDateTime is where the data starts.
    let start = series.points.first().map_or_else(String::new, |p| p.start.to_string());
    let data = [
        (KEY_LAST_HEARTBEAT_TIME, heartbeat.to_string()),
        (KEY_MESSAGE, message.to_owned()),
        (KEY_NUM_OF_RECORDS, records.len().to_string()),
        (KEY_FORECAST_DATE_TIME, start),
        // Go's "%f": six decimals.
        (KEY_MIN_FORECAST, format!("{min:.6}")),
        (KEY_MAX_FORECAST, format!("{max:.6}")),
        (KEY_GENERATED_AT, series.generated_at.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(Encoded { data, binary_data: BTreeMap::from([(BINARY_DATA_KEY.to_owned(), ByteString(json))]) })
}

/// What a ConfigMap in the exporter format holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The records' location as a grid zone; `None` when it is empty or not a zone name
    /// (an exporter's cloud region may be anything). Then the series is in zone
    /// [`DECODED_PROVIDER`].
    pub zone: Option<Zone>,
    pub series: Series,
    /// RFC3339 heartbeat, if present and parseable (the Azure exporter writes Go's
    /// `time.String()`, which is not RFC3339, so this is informative only).
    pub last_heartbeat: Option<Timestamp>,
    pub message: Option<String>,
}

/// Decodes the forecast under `binaryData[key]`. The zone is the first record's
/// `location`. Age comes from `generatedAt`; without it (a ConfigMap written by the Azure
/// exporter) the earliest point's start is used, which errs towards stale: stale data
/// fails open, fresh-looking old data would not.
pub fn decode(cm: &ConfigMap, key: &str) -> Result<Decoded, FormatError> {
    let bytes = cm
        .binary_data
        .as_ref()
        .and_then(|b| b.get(key))
        .ok_or_else(|| FormatError::MissingData { key: key.to_owned() })?;
    let records: Vec<Record> = serde_json::from_slice(&bytes.0)
        .map_err(|source| FormatError::Json { key: key.to_owned(), source })?;
    let provider: Arc<str> = Arc::from(DECODED_PROVIDER);
    let mut points = Vec::with_capacity(records.len());
    for (index, r) in records.iter().enumerate() {
        if r.duration <= 0 {
            return Err(FormatError::BadDuration { key: key.to_owned(), index, duration: r.duration });
        }
        if !r.value.is_finite() || r.value < 0.0 {
            return Err(FormatError::BadValue { key: key.to_owned(), index, value: r.value });
        }
        let duration = SignedDuration::from_mins(r.duration);
        points.push(ForecastPoint {
            start: r.timestamp,
            duration,
            value: r.value,
            provider: provider.clone(),
            is_estimated: true,
        });
    }
    let data = cm.data.as_ref();
    let get = |k: &str| data.and_then(|d| d.get(k));
    let generated_at = match get(KEY_GENERATED_AT) {
        Some(v) => parse_ts(KEY_GENERATED_AT, v)?,
        None => points.iter().map(|p| p.start).min().unwrap_or(Timestamp::UNIX_EPOCH),
    };
    let zone = records.first().and_then(|r| Zone::new(&r.location).ok());
    let series_zone = zone.clone().unwrap_or_else(|| Zone::known(DECODED_PROVIDER));
    Ok(Decoded {
        zone,
        series: Series::new(series_zone, generated_at, Signal::Average, points),
        last_heartbeat: get(KEY_LAST_HEARTBEAT_TIME).and_then(|v| v.parse().ok()),
        message: get(KEY_MESSAGE).cloned(),
    })
}

#[cfg(test)]
mod tests;

fn parse_ts(key: &'static str, value: &str) -> Result<Timestamp, FormatError> {
    value.parse().map_err(|e: jiff::Error| FormatError::BadTimestamp {
        key,
        value: value.to_owned(),
        error: e.to_string(),
    })
}
