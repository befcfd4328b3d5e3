//! Switching decisions, including a noisy two-day trace driven through the decision loop.
use super::*;
use crate::placement::rank::tests::{hourly, locs, rank_now, t0};
use crate::series::Series;
use crate::testing::{Rng, series};
use std::collections::HashMap;

fn settings(desired: usize) -> Settings {
    Settings {
        desired_clusters: desired,
        min_improvement_percent: 10.0,
        min_dwell: SignedDuration::from_hours(1),
        make_before_break_timeout: SignedDuration::from_mins(10),
        fallback_clusters: vec![],
        fallback_dwell: SignedDuration::from_mins(15),
        refresh_settle: SignedDuration::from_mins(10),
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn de_fr_es() -> Ranking {
    let z: HashMap<String, Series> = [("DE", 300.0), ("FR", 50.0), ("ES", 120.0)]
        .iter()
        .map(|(z, v)| (z.to_string(), hourly(z, &[*v])))
        .collect();
    rank_now(&locs(&[("de", "DE"), ("fr", "FR"), ("es", "ES")]), &z, t0())
}

fn input<'a>(
    ranking: &'a Ranking,
    current: &'a [String],
    s: &'a Settings,
    pending: Option<&'a Pending>,
    ready: &'a BTreeSet<String>,
    now: Timestamp,
) -> Input<'a> {
    Input {
        ranking,
        current,
        settings: s,
        last_switch: None,
        pending,
        ready,
        no_data_since: None,
        on_fallback: false,
        now,
    }
}

#[test]
fn make_before_break_then_complete() {
    let (r, s, none) = (de_fr_es(), settings(2), BTreeSet::new());
    let current = names(&["de", "es"]);
    let p = decide(input(&r, &current, &s, None, &none, t0()));
    assert_eq!(p.decision, Decision::AddIncoming, "{}", p.reason);
    assert_eq!(p.placement, ["de", "es", "fr"], "incoming added, outgoing still there");
    let pending = p.pending.clone().unwrap();
    assert_eq!((pending.incoming.clone(), pending.outgoing.clone()), (set(&["fr"]), set(&["de"])));

    // Not ready yet: nothing removed.
    let later = t0() + SignedDuration::from_mins(5);
    let w = decide(input(&r, &p.placement, &s, Some(&pending), &none, later));
    assert_eq!((w.decision, w.placement.clone()), (Decision::AwaitIncoming, p.placement.clone()));

    // Ready: outgoing removed; the desired count holds again.
    let ready = set(&["fr"]);
    let c = decide(input(&r, &w.placement, &s, Some(&pending), &ready, later));
    assert_eq!(c.decision, Decision::CompleteSwitch);
    assert_eq!(c.placement, ["es", "fr"]);
    assert_eq!(c.switched_at, Some(later));
    assert_eq!(c.carbon_avoided, Some((300.0 + 120.0) / 2.0 - (50.0 + 120.0) / 2.0));
    assert!(c.pending.is_none() && c.reason.contains("removing de"));
}

#[test]
fn make_before_break_timeout_rolls_back() {
    let (r, s, none) = (de_fr_es(), settings(2), BTreeSet::new());
    let pending = Pending { incoming: set(&["fr"]), outgoing: set(&["de"]), since: t0(), to_fallback: false };
    let placed = names(&["de", "es", "fr"]);
    let at = t0() + s.make_before_break_timeout;
    let p = decide(input(&r, &placed, &s, Some(&pending), &none, at));
    assert_eq!(p.decision, Decision::AbortSwitch);
    assert_eq!(p.placement, ["de", "es"], "outgoing never removed without a ready replacement");
    assert!(p.reason.contains("fr not ready"), "{}", p.reason);
    assert_eq!(p.switched_at, Some(at), "abort restarts the dwell");
}

#[test]
fn initial_and_keep() {
    let (r, s, none) = (de_fr_es(), settings(2), BTreeSet::new());
    let p = decide(input(&r, &[], &s, None, &none, t0()));
    assert_eq!((p.decision, p.placement.clone()), (Decision::Initial, names(&["es", "fr"])));
    let k = decide(input(&r, &p.placement, &s, None, &none, t0()));
    assert_eq!(k.decision, Decision::Keep);
    assert!(!k.writes(&p.placement));
}

#[test]
fn all_invalid_keeps_placement_or_moves_to_fallback() {
    let r = rank_now(&locs(&[("de", "DE"), ("fr", "FR")]), &HashMap::new(), t0());
    let (mut s, none) = (settings(1), BTreeSet::new());
    let current = names(&["de"]);
    let p = decide(input(&r, &current, &s, None, &none, t0()));
    assert_eq!((p.decision, p.placement.clone()), (Decision::Keep, current.clone()));
    assert!(p.reason.contains("no cluster has usable carbon-intensity data"), "{}", p.reason);
    assert!(!p.writes(&current));
    // Nothing managed yet and nothing valid: never write an empty placement.
    assert!(!decide(input(&r, &[], &s, None, &none, t0())).writes(&[]));

    s.fallback_clusters = names(&["fr"]);
    // Not before no data has lasted the fallback dwell.
    let mut i = input(&r, &current, &s, None, &none, t0());
    let h = decide(i);
    assert_eq!(
        (h.decision, h.held),
        (Decision::Keep, Some((Hold::FallbackDwell, Some(t0() + s.fallback_dwell))))
    );
    i.no_data_since = Some(t0() - s.fallback_dwell);
    let f = decide(i);
    assert_eq!(f.decision, Decision::Fallback);
    assert_eq!(f.placement, ["de", "fr"], "fallback goes through make-before-break");
    assert!(f.reason.contains("fallback") && f.on_fallback, "{f:?}");
    assert!(f.pending.as_ref().is_some_and(|p| p.to_fallback));
    // The minimum dwell applies to the fallback move too.
    i.last_switch = Some(t0() - SignedDuration::from_mins(1));
    assert_eq!(decide(i).held.map(|h| h.0), Some(Hold::Dwell));
}

#[test]
fn to_the_fallback_and_back_once_each() {
    let cl = locs(&[("de", "DE"), ("fr", "FR")]);
    let none = BTreeSet::new();
    let s = Settings { fallback_clusters: names(&["backup"]), ..settings(1) };
    let dead = rank_now(&cl, &HashMap::new(), t0());
    let mut i = input(&dead, &[], &s, None, &none, t0());
    let current = names(&["de"]);
    i.current = &current;
    i.no_data_since = Some(t0() - s.fallback_dwell);
    let go = decide(i);
    let pending = go.pending.clone().unwrap();
    let ready = set(&["backup"]);
    let arrived = decide(Input {
        pending: Some(&pending),
        ready: &ready,
        current: &go.placement,
        on_fallback: true,
        ..i
    });
    assert_eq!((arrived.decision, arrived.placement.clone()), (Decision::CompleteSwitch, names(&["backup"])));
    assert!(arrived.on_fallback);
    // Still nothing: stay.
    let stay = decide(Input { current: &arrived.placement, on_fallback: true, ..i });
    assert_eq!(
        (stay.decision, stay.on_fallback, stay.writes(&arrived.placement)),
        (Decision::Keep, true, false)
    );
    // Data returns for de only (fr stays dark, and backup is no candidate): back to de once
    // the dwell since arriving has passed; the fallback cluster is not pinned.
    let z: HashMap<String, Series> = [("DE".to_string(), hourly("DE", &[300.0]))].into();
    let back = rank_now(&cl, &z, t0());
    let recover =
        Input { ranking: &back, current: &arrived.placement, on_fallback: true, no_data_since: None, ..i };
    let early = decide(Input { last_switch: Some(t0() - SignedDuration::from_mins(5)), ..recover });
    assert_eq!((early.held.map(|h| h.0), early.on_fallback), (Some(Hold::Dwell), true));
    let leave = decide(Input { last_switch: Some(t0() - s.min_dwell), ..recover });
    assert_eq!(leave.decision, Decision::AddIncoming);
    assert!(leave.on_fallback, "until the move away completes");
    let p = leave.pending.clone().unwrap();
    assert!(!p.to_fallback);
    // If de never becomes ready the move is abandoned and the policy is still on the fallback.
    let at = t0() + s.make_before_break_timeout;
    let abort = decide(Input { pending: Some(&p), current: &leave.placement, now: at, ..recover });
    assert_eq!((abort.decision, abort.on_fallback), (Decision::AbortSwitch, true));
    let ready = set(&["de"]);
    let done = decide(Input { pending: Some(&p), ready: &ready, current: &leave.placement, ..recover });
    assert_eq!(
        (done.decision, done.placement.clone(), done.on_fallback),
        (Decision::CompleteSwitch, names(&["de"]), false)
    );
}

#[test]
fn a_placed_cluster_without_data_is_not_swapped_for_one_with_data() {
    // Both providers failed; fr's last refresh was later, so fr still has data when de's
    // ages out. Moving to fr would let the refresh order choose.
    let z: HashMap<String, Series> = [("FR".to_string(), hourly("FR", &[400.0]))].into();
    let r = rank_now(&locs(&[("de", "DE"), ("fr", "FR")]), &z, t0());
    let current = names(&["de"]);
    let p = decide(input(&r, &current, &settings(1), None, &BTreeSet::new(), t0()));
    assert_eq!((p.decision, p.placement), (Decision::Keep, current));
    assert!(p.reason.contains("keeping de: no usable data"), "{}", p.reason);
}

#[test]
fn no_move_while_a_refresh_is_due() {
    // The hour turned at t0 + 1h: fr refreshed (now 50), de's refresh is due, its last
    // value (300) carried forward.
    let later = t0() + SignedDuration::from_hours(1);
    let z: HashMap<String, Series> = [
        ("DE".to_string(), hourly("DE", &[300.0])),
        ("FR".to_string(), series("FR", t0()).generated_at(later).values(&[400.0, 50.0])),
    ]
    .into();
    let r = rank_now(&locs(&[("de", "DE"), ("fr", "FR")]), &z, later);
    let (s, none) = (settings(1), BTreeSet::new());
    let current = names(&["de"]);
    let wait = decide(input(&r, &current, &s, None, &none, later));
    assert_eq!(wait.held, Some((Hold::Refresh, Some(later + s.refresh_settle))));
    assert!(wait.reason.contains("waiting for the data of de to refresh"), "{}", wait.reason);
    // Past the settle time the carried value is the best estimate and the move goes ahead.
    let r = rank_now(&locs(&[("de", "DE"), ("fr", "FR")]), &z, later + s.refresh_settle);
    assert_eq!(
        decide(input(&r, &current, &s, None, &none, later + s.refresh_settle)).decision,
        Decision::AddIncoming
    );
}

#[test]
fn desired_larger_than_valid_takes_all_valid() {
    let z: HashMap<String, Series> = [("FR".to_string(), hourly("FR", &[50.0]))].into();
    let r = rank_now(&locs(&[("de", "DE"), ("fr", "FR")]), &z, t0());
    let p = decide(input(&r, &[], &settings(5), None, &BTreeSet::new(), t0()));
    assert_eq!(p.placement, ["fr"], "the failed zone's cluster is never active");
}

#[test]
fn small_improvement_and_dwell_hold() {
    let z: HashMap<String, Series> = [("A", 100.0), ("B", 95.0), ("C", 10.0)]
        .iter()
        .map(|(z, v)| (z.to_string(), hourly(z, &[*v])))
        .collect();
    let (s, none) = (settings(1), BTreeSet::new());
    let r = rank_now(&locs(&[("a", "A"), ("b", "B")]), &z, t0());
    let current = names(&["a"]);
    let p = decide(input(&r, &current, &s, None, &none, t0()));
    assert_eq!(p.decision, Decision::Keep);
    assert!(p.reason.contains("5.0%"), "{}", p.reason);

    let r = rank_now(&locs(&[("a", "A"), ("c", "C")]), &z, t0());
    let mut i = input(&r, &current, &s, None, &none, t0());
    i.last_switch = Some(t0() - SignedDuration::from_mins(30));
    let d = decide(i);
    assert_eq!(d.decision, Decision::Keep);
    assert!(d.reason.contains("dwell"), "{}", d.reason);
    i.last_switch = Some(t0() - s.min_dwell);
    assert_eq!(decide(i).decision, Decision::AddIncoming);
}

#[test]
fn placed_cluster_losing_data_is_not_dropped() {
    // ES's provider fails while es is placed; only fr remains valid.
    let z: HashMap<String, Series> = [("FR".to_string(), hourly("FR", &[50.0]))].into();
    let r = rank_now(&locs(&[("es", "ES"), ("fr", "FR"), ("de", "DE")]), &z, t0());
    let current = names(&["es", "fr"]);
    let p = decide(input(&r, &current, &settings(2), None, &BTreeSet::new(), t0()));
    assert_eq!((p.decision, p.placement), (Decision::Keep, current));
    assert!(p.reason.contains("keeping es: no usable data"), "{}", p.reason);
}

#[test]
fn zero_desired_never_empties() {
    let (r, none) = (de_fr_es(), BTreeSet::new());
    let current = names(&["de"]);
    let p = decide(input(&r, &current, &settings(0), None, &none, t0()));
    assert_eq!(p.placement, ["de", "fr"], "treated as one, via make-before-break");
}

/// Deterministic noise in (-1, 1).
fn noise(rng: &mut Rng) -> f64 {
    rng.unit() * 2.0 - 1.0
}

fn five_minutely(zone: &str, values: &[f64]) -> Series {
    series(zone, t0()).step(SignedDuration::from_mins(5)).provider("sim").values(values)
}

/// Runs the decision loop over the trace; incoming clusters become ready one tick later.
/// Returns the completed-switch times and the final placement.
/// During `outage` every provider fails (no series at all).
fn simulate(
    s: &Settings,
    zones: &HashMap<String, Series>,
    steps: usize,
    outage: std::ops::Range<usize>,
) -> (Vec<Timestamp>, Vec<String>) {
    let nothing = HashMap::new();
    let cl = locs(&[("a", "A"), ("b", "B")]);
    let (mut current, mut last, mut pending, mut switches) = (names(&["a"]), None, None::<Pending>, vec![]);
    let (mut no_data_since, mut on_fallback) = (None, false);
    for step in 0..steps {
        let now = t0() + SignedDuration::from_mins(5 * step as i64);
        let r = rank_now(&cl, if outage.contains(&step) { &nothing } else { zones }, now);
        let ready = pending.as_ref().map(|p| p.incoming.clone()).unwrap_or_default();
        let p = decide(Input {
            ranking: &r,
            current: &current,
            settings: s,
            last_switch: last,
            pending: pending.as_ref(),
            ready: &ready,
            no_data_since,
            on_fallback,
            now,
        });
        no_data_since = r.valid().next().is_none().then(|| no_data_since.unwrap_or(now));
        on_fallback = p.on_fallback;
        assert!(!p.placement.is_empty(), "empty placement at {now}");
        assert!(p.placement.len() <= s.desired_clusters || p.pending.is_some(), "{p:?}");
        if p.decision == Decision::CompleteSwitch {
            switches.push(now);
        }
        last = p.switched_at.or(last);
        pending = p.pending;
        current = p.placement;
    }
    (switches, current)
}

#[test]
fn noisy_trace_does_not_flap_but_follows_real_shifts() {
    let steps = 48 * 12; // two days at 5-minute resolution
    let mut seed = Rng::new(7);
    let (mut a, mut b) = (vec![], vec![]);
    for i in 0..steps {
        a.push(200.0 + 25.0 * noise(&mut seed));
        // B is marginally dirtier for a day, then clearly cleaner.
        b.push(if i < steps / 2 { 205.0 } else { 100.0 } + 25.0 * noise(&mut seed));
    }
    let zones: HashMap<String, Series> =
        [("A".into(), five_minutely("A", &a)), ("B".into(), five_minutely("B", &b))].into();

    let gated = settings(1);
    let naive = Settings { min_improvement_percent: 0.0, min_dwell: SignedDuration::ZERO, ..settings(1) };
    // A three-hour outage of every provider in the middle of the clean day.
    let outage = steps * 3 / 4..steps * 3 / 4 + 36;
    let (g_switches, g_final) = simulate(&gated, &zones, steps, outage.clone());
    let (n_switches, _) = simulate(&naive, &zones, steps, outage.clone());
    let outage_start = t0() + SignedDuration::from_mins(5 * outage.start as i64);
    let outage_end = t0() + SignedDuration::from_mins(5 * outage.end as i64);
    assert!(g_switches.iter().all(|t| *t < outage_start || *t >= outage_end), "no switch without data");

    assert_eq!(g_final, ["b"], "follows the lasting shift");
    assert!(n_switches.len() > 40, "the trace is noisy: naive switched {}", n_switches.len());
    assert!(
        g_switches.len() * 5 < n_switches.len(),
        "gated {} vs naive {}",
        g_switches.len(),
        n_switches.len()
    );
    for w in g_switches.windows(2) {
        assert!(w[1].duration_since(w[0]) >= gated.min_dwell, "switches {} and {} too close", w[0], w[1]);
    }
}
