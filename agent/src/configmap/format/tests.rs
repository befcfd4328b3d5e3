use super::{self as format, BINARY_DATA_KEY, FormatError, decode, encode};
use gridshift_core::testing::zone;
use gridshift_core::{ForecastPoint, Series, Signal};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use std::collections::BTreeMap;

fn ts(s: &str) -> Timestamp {
    s.parse().expect("ts")
}

fn sample() -> Series {
    let p = |start: &str, mins, value| ForecastPoint {
        start: ts(start),
        duration: SignedDuration::from_mins(mins),
        value,
        provider: "watttime".into(),
        is_estimated: true,
    };
    Series::new(
        zone("westeurope"),
        ts("2026-03-02T11:58:00Z"),
        Signal::Average,
        vec![
            p("2026-03-02T12:00:00Z", 5, 530.0),
            p("2026-03-02T12:05:00Z", 5, 529.25),
            p("2026-03-02T12:10:00Z", 60, 0.0),
        ],
    )
}

fn configmap_from(series: &Series, heartbeat: Timestamp, message: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    encode(series, heartbeat, message).expect("encodes").apply_to(&mut cm);
    cm
}

#[test]
fn encodes_every_field_in_exporter_format() {
    let heartbeat = ts("2026-03-02T12:01:02Z");
    let cm = configmap_from(&sample(), heartbeat, "hub unreachable since 12:00; keeping last data");
    let data = cm.data.as_ref().expect("data");
    assert_eq!(data["lastHeartbeatTime"], "2026-03-02T12:01:02Z");
    assert_eq!(data["message"], "hub unreachable since 12:00; keeping last data");
    assert_eq!(data["numOfRecords"], "3");
    assert_eq!(data["forecastDateTime"], "2026-03-02T12:00:00Z");
    assert_eq!(data["minForecast"], "0.000000");
    assert_eq!(data["maxForecast"], "530.000000");
    assert_eq!(data["generatedAt"], "2026-03-02T11:58:00Z");

    let raw = &cm.binary_data.as_ref().expect("binaryData")[BINARY_DATA_KEY].0;
    let json: serde_json::Value = serde_json::from_slice(raw).expect("json");
    let records = json.as_array().expect("array");
    assert_eq!(records.len(), 3);
    let first = records[0].as_object().expect("object");
    assert_eq!(first["location"], "westeurope");
    assert_eq!(first["timestamp"], "2026-03-02T12:00:00Z");
    assert!(first["duration"].is_u64() && first["duration"] == 5);
    // Written as Go would: integral values without a fraction.
    assert!(first["value"].is_u64() && first["value"] == 530);
    assert_eq!(records[1]["value"], 529.25);
    assert_eq!(records[2]["duration"], 60);
    assert_eq!(std::str::from_utf8(raw).expect("utf8").matches("530.0").count(), 0);
}

#[test]
fn round_trip_restores_the_series() {
    let original = sample();
    let cm = configmap_from(&original, ts("2026-03-02T12:01:02Z"), "");
    let decoded = decode(&cm, BINARY_DATA_KEY).expect("decodes");
    let s = &decoded.series;
    assert_eq!(s.zone, original.zone);
    assert_eq!(s.generated_at, original.generated_at);
    assert_eq!(s.points.len(), original.points.len());
    for (got, want) in s.points.iter().zip(&original.points) {
        assert_eq!((got.start, got.duration, got.value), (want.start, want.duration, want.value));
        assert_eq!(&*got.provider, format::DECODED_PROVIDER);
    }
    assert_eq!(decoded.last_heartbeat, Some(ts("2026-03-02T12:01:02Z")));
    assert_eq!(decoded.message.as_deref(), Some(""));
}

#[test]
fn rewrite_keeps_foreign_keys() {
    let mut cm = ConfigMap {
        data: Some(BTreeMap::from([("owner-note".to_owned(), "keep".to_owned())])),
        ..ConfigMap::default()
    };
    encode(&sample(), ts("2026-03-02T12:00:00Z"), "").expect("encodes").apply_to(&mut cm);
    encode(&sample(), ts("2026-03-02T12:05:00Z"), "stale").expect("encodes").apply_to(&mut cm);
    let data = cm.data.expect("data");
    assert_eq!(data["owner-note"], "keep");
    assert_eq!(data["lastHeartbeatTime"], "2026-03-02T12:05:00Z");
    assert_eq!(data["message"], "stale");
}

fn with_binary(json: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        data: Some(data.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
        binary_data: Some(BTreeMap::from([("data".to_owned(), ByteString(json.as_bytes().to_vec()))])),
        ..ConfigMap::default()
    }
}

#[test]
fn decodes_what_the_azure_exporter_writes() {
    // Go's time.String() heartbeat, RFC3339 with offsets and fractions, value omitted (0).
    let cm = with_binary(
        r#"[{"location":"eastus","timestamp":"2026-03-02T14:00:00+02:00","duration":5,"value":412.5},
            {"location":"eastus","timestamp":"2026-03-02T12:05:00.000Z","duration":5}]"#,
        &[("lastHeartbeatTime", "2026-03-02 12:00:01.5 +0000 UTC m=+3.1"), ("message", "")],
    );
    let d = decode(&cm, "data").expect("decodes");
    assert_eq!(d.series.zone, "eastus");
    assert_eq!(d.series.points[0].start, ts("2026-03-02T12:00:00Z"));
    assert_eq!(d.series.points[1].value, 0.0);
    assert_eq!(d.last_heartbeat, None);
    // No generatedAt: age is taken from the oldest point, so old data reads as old.
    assert_eq!(d.series.generated_at, ts("2026-03-02T12:00:00Z"));
}

/// Recognises the error a malformed case must produce.
type Expect = fn(&FormatError) -> bool;

#[test]
fn malformed_input_is_a_clear_error() {
    let cases: [(ConfigMap, Expect); 7] = [
        (ConfigMap::default(), |e| matches!(e, FormatError::MissingData { .. })),
        (with_binary("{not json", &[]), |e| matches!(e, FormatError::Json { .. })),
        (with_binary(r#"{"location":"x"}"#, &[]), |e| matches!(e, FormatError::Json { .. })),
        (with_binary(r#"[{"timestamp":"yesterday","duration":5,"value":1}]"#, &[]), |e| {
            matches!(e, FormatError::Json { .. })
        }),
        (with_binary(r#"[{"timestamp":"2026-03-02T12:00:00Z","duration":0,"value":1}]"#, &[]), |e| {
            matches!(e, FormatError::BadDuration { index: 0, .. })
        }),
        (with_binary(r#"[{"timestamp":"2026-03-02T12:00:00Z","duration":5,"value":-3}]"#, &[]), |e| {
            matches!(e, FormatError::BadValue { .. })
        }),
        (with_binary("[]", &[("generatedAt", "noon")]), |e| matches!(e, FormatError::BadTimestamp { .. })),
    ];
    for (i, (cm, is_expected)) in cases.iter().enumerate() {
        let err = decode(cm, "data").expect_err("malformed");
        assert!(is_expected(&err), "case {i}: {err}");
        assert!(!err.to_string().is_empty());
    }
    // The configured localConfigMap key is honoured.
    let cm = with_binary("[]", &[]);
    assert!(matches!(decode(&cm, "forecast"), Err(FormatError::MissingData { key }) if key == "forecast"));
}

#[test]
fn encode_rejects_partial_minutes() {
    let mut s = sample();
    s.points[0].duration = SignedDuration::from_secs(90);
    assert!(matches!(encode(&s, s.generated_at, ""), Err(FormatError::NotWholeMinutes { .. })));
}
