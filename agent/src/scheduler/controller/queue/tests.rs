use super::*;

fn q() -> SchedulingQueue {
    SchedulingQueue::new(QueueConfig::default())
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn pods_are_tried_first_in_first_out_and_once_at_a_time() {
    let now = Instant::now();
    let mut q = q();
    q.add("a");
    q.add("b");
    q.add("a");
    assert_eq!(q.pop(now).as_deref(), Some("a"));
    assert_eq!(q.pop(now).as_deref(), Some("b"));
    assert_eq!(q.pop(now), None, "in flight pods are not handed out twice");
    assert_eq!(q.counts().in_flight, 2);
    q.remove("a");
    assert!(!q.contains("a"));
}

#[test]
fn unschedulable_pods_wait_for_a_cluster_change_and_respect_their_backoff() {
    let now = Instant::now();
    let mut q = q();
    q.add("p");
    q.pop(now).unwrap();
    q.unschedulable("p", now);
    assert!(!q.has_active(now + Duration::from_secs(60)), "no change, no retry before the flush");
    // A change inside the backoff: retried once the backoff (1 s) has run out.
    q.cluster_changed(now);
    assert!(!q.has_active(now));
    assert_eq!(q.next_real_deadline(), Some(now + Duration::from_secs(1)));
    assert_eq!(q.pop(now + Duration::from_secs(1)).as_deref(), Some("p"));
    // Second failure: 2 s backoff; a change after it has passed retries at once.
    q.unschedulable("p", now);
    q.cluster_changed(now + Duration::from_secs(3));
    assert_eq!(q.pop(now + Duration::from_secs(3)).as_deref(), Some("p"));
}

#[test]
fn unschedulable_pods_are_flushed_after_five_minutes_without_changes() {
    let now = Instant::now();
    let mut q = q();
    q.add("p");
    q.pop(now).unwrap();
    q.unschedulable("p", now);
    assert_eq!(q.next_real_deadline(), Some(now + Duration::from_secs(300)));
    assert_eq!(q.pop(now + Duration::from_secs(299)), None);
    assert_eq!(q.pop(now + Duration::from_secs(300)).as_deref(), Some("p"));
}

#[test]
fn a_change_while_in_flight_is_not_lost() {
    let now = Instant::now();
    let mut q = q();
    q.add("p");
    q.pop(now).unwrap();
    q.cluster_changed(now); // a node appeared while the pod was being decided
    q.unschedulable("p", now);
    assert_eq!(q.counts().backoff, 1, "retried after its backoff, not parked until the next change");
    q.add("w");
    q.pop(now).unwrap();
    q.forecast_changed();
    q.wait_until("w", ts("2022-01-01T06:00:00Z"));
    assert_eq!(q.pop(now).as_deref(), Some("w"), "re-planned at once on the newer forecast");
    q.remove("w");
    q.add("u");
    assert_eq!(q.pop(now).as_deref(), Some("u"));
    q.pod_updated("u", now); // e.g. a toleration added meanwhile
    q.unschedulable("u", now);
    assert_eq!(q.counts().backoff, 2);
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let cfg = QueueConfig::default();
    let got: Vec<u64> = (1..=6).map(|n| backoff(&cfg, n).as_secs()).collect();
    assert_eq!(got, [1, 2, 4, 8, 10, 10]);
    let now = Instant::now();
    let mut q = q();
    q.add("p");
    for expected in [1, 2, 4] {
        let t = now + Duration::from_secs(100 * expected);
        q.pop(t).unwrap();
        q.retry_later("p", t);
        assert_eq!(q.next_real_deadline(), Some(t + Duration::from_secs(expected)));
        assert_eq!(q.pop(t + Duration::from_secs(expected) - Duration::from_millis(1)), None);
        q.retry_now("p"); // skip ahead for the next round
    }
}

#[test]
fn waiting_pods_wake_on_the_agent_clock_or_a_new_forecast() {
    let now = Instant::now();
    let mut q = q();
    for p in ["early", "late"] {
        q.add(p);
        q.pop(now).unwrap();
    }
    q.wait_until("late", ts("2022-01-01T09:00:00Z"));
    q.wait_until("early", ts("2022-01-01T03:00:00Z"));
    assert!(q.is_waiting("early"));
    assert_eq!(q.next_clock_deadline(), Some(ts("2022-01-01T03:00:00Z")));
    assert_eq!(q.next_real_deadline(), None, "waiting is on the agent clock, not a real timer");
    q.wake(ts("2022-01-01T02:59:59Z"));
    assert_eq!(q.pop(now), None);
    q.wake(ts("2022-01-01T03:00:00Z"));
    assert_eq!(q.pop(now).as_deref(), Some("early"));
    assert_eq!(q.counts().waiting, 1);
    q.forecast_changed();
    assert_eq!(q.pop(now).as_deref(), Some("late"));
    assert_eq!(q.next_clock_deadline(), None);
}

#[test]
fn a_pod_update_reconsiders_unschedulable_and_waiting_pods() {
    let now = Instant::now();
    let mut q = q();
    q.add("gated");
    q.pop(now).unwrap();
    q.unschedulable("gated", now);
    q.pod_updated("gated", now + Duration::from_secs(5));
    assert_eq!(q.pop(now + Duration::from_secs(5)).as_deref(), Some("gated"));
    q.wait_until("gated", ts("2022-01-01T03:00:00Z"));
    q.pod_updated("gated", now);
    assert_eq!(q.pop(now).as_deref(), Some("gated"));
    q.remove("gated");
    q.pod_updated("gated", now);
    assert_eq!(q.counts(), QueueCounts::default());
}
