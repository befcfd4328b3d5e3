//! The ConfigMap's `message`: one sentence saying where the data comes from and whether
//! it may be acted upon (DESIGN §2: on a failed refresh we keep the last good data and
//! say why, every time). Pure, so every case is testable.
use crate::forecast::ForecastView;
use jiff::{SignedDuration, Timestamp};

/// Explains the primary zone's forecast as `view` holds it at `now`.
pub fn status_message(view: &ForecastView, now: Timestamp) -> String {
    let Some(zone) = view.primary_zone.as_deref() else {
        return "no grid zone configured for this cluster (--node-zone): nothing to publish".into();
    };
    // (where the data comes from, what is done with the last forecast)
    let (source, kept) = match (view.hub_connected, view.last_hub_contact) {
        (true, _) => ("connected to the hub".to_owned(), ""),
        (false, Some(t)) => (format!("hub unreachable since {}", round(t)), "; keeping the last forecast"),
        (false, None) => (
            "hub not reached since the agent started".to_owned(),
            "; serving the last forecast it wrote here",
        ),
    };
    let Some(series) = view.primary() else {
        return format!("{source}; no forecast for zone {zone} yet");
    };
    let source = if view.hub_connected { "forecast from the hub".to_owned() } else { source + kept };
    let bound = view.staleness_bound();
    let age = series.age(now);
    let freshness = if age > bound {
        format!(
            "STALE: data for {zone} is {:#} old, over the staleness bound of {bound:#}; consumers should ignore it and fail open",
            secs(age)
        )
    } else if series.point_at(now).is_none() {
        let horizon = series.horizon().map_or_else(|| "no points".into(), |h| format!("it ends at {h}"));
        format!("no forecast point for {zone} covers the current time ({horizon})")
    } else {
        format!("data for {zone} is {:#} old (staleness bound {bound:#})", secs(age))
    };
    format!("{source}; {freshness}")
}

fn secs(d: SignedDuration) -> SignedDuration {
    SignedDuration::from_secs(d.as_secs())
}

fn round(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridshift_core::testing::{series, zone};
    use gridshift_core::{Forecasts, Series};

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("ts")
    }

    fn view(series: Option<Series>, connected: bool, contact: Option<&str>) -> ForecastView {
        let mut v = ForecastView::empty(Some(zone("GB")), SignedDuration::from_hours(6));
        v.forecasts = Forecasts::from_series(series, v.staleness_bound());
        v.hub_connected = connected;
        v.last_hub_contact = contact.map(ts);
        v
    }

    fn gb(generated: &str) -> Series {
        series("GB", ts("2022-06-01T00:00:00Z"))
            .step(SignedDuration::from_hours(24))
            .generated_at(ts(generated))
            .provider("replay")
            .values(&[200.0])
    }

    #[test]
    fn says_where_the_data_comes_from_and_how_old_it_is() {
        let now = ts("2022-06-01T12:00:00Z");
        let m = status_message(&view(Some(gb("2022-06-01T11:30:00Z")), true, None), now);
        assert_eq!(m, "forecast from the hub; data for GB is 30m old (staleness bound 6h)");

        let m = status_message(
            &view(Some(gb("2022-06-01T11:30:00Z")), false, Some("2022-06-01T11:45:00.5Z")),
            now,
        );
        assert!(
            m.starts_with("hub unreachable since 2022-06-01T11:45:00Z; keeping the last forecast;"),
            "{m}"
        );

        let m = status_message(&view(Some(gb("2022-06-01T11:30:00Z")), false, None), now);
        assert!(
            m.starts_with(
                "hub not reached since the agent started; serving the last forecast it wrote here; data"
            ),
            "{m}"
        );
    }

    #[test]
    fn stale_or_uncovered_data_is_called_out() {
        let m =
            status_message(&view(Some(gb("2022-06-01T05:00:00Z")), false, None), ts("2022-06-01T12:00:00Z"));
        assert!(m.contains("STALE: data for GB is 7h old, over the staleness bound of 6h"), "{m}");
        let m =
            status_message(&view(Some(gb("2022-06-01T23:30:00Z")), true, None), ts("2022-06-02T00:10:00Z"));
        assert!(
            m.contains("no forecast point for GB covers the current time (it ends at 2022-06-02T00:00:00Z)"),
            "{m}"
        );
    }

    #[test]
    fn missing_zone_or_data() {
        let now = ts("2022-06-01T12:00:00Z");
        assert_eq!(
            status_message(&view(None, true, None), now),
            "connected to the hub; no forecast for zone GB yet"
        );
        let m = status_message(&view(None, false, None), now);
        assert_eq!(m, "hub not reached since the agent started; no forecast for zone GB yet");
        let m = status_message(&view(None, false, Some("2022-06-01T11:00:00Z")), now);
        assert_eq!(m, "hub unreachable since 2022-06-01T11:00:00Z; no forecast for zone GB yet");
        let v = ForecastView::empty(None, SignedDuration::from_hours(6));
        assert!(status_message(&v, now).starts_with("no grid zone configured"));
    }
}
