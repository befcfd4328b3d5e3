use super::*;
use gridshift_core::testing::{series as build, ts, zone};

fn series(zone_name: &str, value: f64) -> Series {
    build(zone_name, ts("2022-01-01T00:00:00Z")).values(&[value])
}

fn sub(d: &Distributor, cluster: &str, zones: &[&str]) -> Subscription {
    let req = SubscribeRequest {
        cluster: cluster.into(),
        node_zones: zones.iter().map(|z| zone(z)).collect(),
        resume: None,
    };
    d.subscribe(req).0
}

fn values(update: &Update) -> Vec<(String, f64)> {
    let zones = match update {
        Update::Snapshot(s) => &s.zones,
        Update::Delta(d) => &d.upserts,
    };
    zones.iter().map(|z| (z.zone.clone(), z.points[0].gco2_per_kwh)).collect()
}

#[test]
fn latest_wins_and_unchanged_data_keeps_its_revision() {
    let d = Distributor::new(7);
    let r1 = d.publish(&series("DE", 300.0));
    let r2 = d.publish(&series("DE", 250.0));
    assert!(r2 > r1);
    assert_eq!(d.publish(&series("DE", 250.0)), r2, "identical data is not a change");
    let snap = d.snapshot(&[]);
    assert_eq!(snap.zones.len(), 1);
    assert_eq!(snap.zones[0].points[0].gco2_per_kwh, 250.0);
    assert_eq!(snap.zones[0].revision, r2);
}

#[test]
fn a_slow_subscriber_gets_one_coalesced_update() {
    let d = Distributor::new(1);
    d.publish(&series("DE", 300.0));
    let mut s = sub(&d, "a", &["DE"]);
    assert!(matches!(s.try_next(), Some(Update::Snapshot(_))));
    for v in 1..=1000 {
        d.publish(&series("DE", v as f64));
    }
    let update = s.try_next().expect("an update");
    assert!(matches!(update, Update::Delta(_)));
    assert_eq!(values(&update), vec![("DE".to_string(), 1000.0)]);
    assert_eq!(update.revision(), d.revision());
    assert_eq!(s.try_next(), None, "nothing queued behind the coalesced update");
}

#[test]
fn each_agent_gets_only_its_zones_plus_assigned_ones() {
    let d = Distributor::new(1);
    d.publish_all(&[series("DE", 300.0), series("FR", 50.0), series("ES", 120.0)]);
    let mut a = sub(&d, "a", &["DE"]);
    let mut b = sub(&d, "b", &["FR"]);
    assert_eq!(values(&a.try_next().unwrap()), vec![("DE".into(), 300.0)]);
    assert_eq!(values(&b.try_next().unwrap()), vec![("FR".into(), 50.0)]);

    d.publish(&series("FR", 60.0));
    assert_eq!(a.try_next(), None, "a does not receive FR");
    assert_eq!(values(&b.try_next().unwrap()), vec![("FR".into(), 60.0)]);

    d.assign_zones("a", [zone("ES")].into());
    assert_eq!(values(&a.try_next().unwrap()), vec![("ES".into(), 120.0)], "assigned zone arrives");
    assert_eq!(d.wanted_zones(), ["DE", "ES", "FR"].map(zone).into());

    d.assign_zones("a", BTreeSet::new());
    match a.try_next().unwrap() {
        Update::Delta(delta) => assert_eq!(delta.removed_zones, vec!["ES".to_string()]),
        other => panic!("expected a delta, got {other:?}"),
    }
}

#[test]
fn removed_zones_are_removed_from_holders_only() {
    let d = Distributor::new(1);
    d.publish_all(&[series("DE", 300.0), series("FR", 50.0)]);
    let mut a = sub(&d, "a", &["DE"]);
    let mut b = sub(&d, "b", &["FR"]);
    a.try_next();
    b.try_next();
    d.remove_zone("DE");
    match a.try_next().unwrap() {
        Update::Delta(delta) => assert_eq!(delta.removed_zones, vec!["DE".to_string()]),
        other => panic!("expected a delta, got {other:?}"),
    }
    assert_eq!(b.try_next(), None);
}

#[test]
fn resume_within_the_epoch_sends_only_what_changed() {
    let d = Distributor::new(42);
    d.publish_all(&[series("DE", 300.0), series("FR", 50.0)]);
    let mut first = sub(&d, "a", &["DE", "FR"]);
    let snap = first.try_next().unwrap();
    let seen = snap.revision();
    drop(first);
    assert!(d.agents().is_empty(), "dropping a subscription unregisters it");

    d.publish(&series("FR", 55.0));
    let resume = Resume { epoch: 42, revision: seen, held_zones: vec!["DE".into(), "FR".into()] };
    let req = SubscribeRequest {
        cluster: "a".into(),
        node_zones: vec![zone("DE"), zone("FR")],
        resume: Some(resume),
    };
    let (mut again, resumed) = d.subscribe(req);
    assert!(resumed);
    let update = again.try_next().unwrap();
    assert!(matches!(update, Update::Delta(_)), "a resumed stream gets a delta, not a snapshot");
    assert_eq!(values(&update), vec![("FR".into(), 55.0)]);
}

#[test]
fn resume_from_another_epoch_or_a_future_revision_gets_a_snapshot() {
    let d = Distributor::new(42);
    d.publish(&series("DE", 300.0));
    for resume in [
        Resume { epoch: 41, revision: 1, held_zones: vec!["DE".into()] },
        Resume { epoch: 42, revision: 99, held_zones: vec!["DE".into()] },
    ] {
        let req =
            SubscribeRequest { cluster: "a".into(), node_zones: vec![zone("DE")], resume: Some(resume) };
        let (mut s, resumed) = d.subscribe(req);
        assert!(!resumed);
        assert!(matches!(s.try_next(), Some(Update::Snapshot(_))));
    }
}

#[test]
fn a_new_epoch_sends_every_subscriber_a_snapshot() {
    let d = Distributor::new(1);
    d.publish(&series("DE", 300.0));
    let mut s = sub(&d, "a", &["DE"]);
    s.try_next();
    d.start_new_epoch(2);
    match s.try_next().unwrap() {
        Update::Snapshot(snap) => {
            assert_eq!(snap.epoch, 2);
            assert!(snap.complete);
            assert_eq!(snap.zones.len(), 1);
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

#[test]
fn acks_track_lag() {
    let d = Distributor::new(5);
    d.publish(&series("DE", 1.0));
    let mut s = sub(&d, "a", &["DE"]);
    let h = s.handle();
    let rev = s.try_next().unwrap().revision();
    assert_eq!(h.lag(), Some(rev));
    assert_eq!(h.ack(5, rev), Some(0));
    assert_eq!(h.ack(4, rev + 10), Some(0), "an ack from another epoch is ignored");
    d.publish(&series("DE", 2.0));
    assert_eq!(h.lag(), Some(1));
    assert_eq!(d.agents()[0].acked_revision, rev);
}

#[tokio::test]
async fn next_wakes_on_publish() {
    let d = Distributor::new(1);
    let mut s = sub(&d, "a", &["DE"]);
    assert!(matches!(s.next().await, Some(Update::Snapshot(_))));
    let waiter = tokio::spawn(async move { s.next().await });
    tokio::task::yield_now().await;
    d.publish(&series("DE", 9.0));
    let update = waiter.await.unwrap().unwrap();
    assert_eq!(values(&update), vec![("DE".into(), 9.0)]);
}

#[test]
fn hub_wanted_zones_are_fetched_but_sent_to_no_agent() {
    let d = Distributor::new(1);
    let agent = sub(&d, "member-a", &["GB"]);
    let mut wanted = d.watch_wanted();
    wanted.borrow_and_update();
    d.want_zones("policy default/web", [zone("DE"), zone("FR")].into());
    assert!(wanted.has_changed().unwrap());
    assert_eq!(d.wanted_zones(), ["DE", "FR", "GB"].map(zone).into());
    assert_eq!(agent.zones(), [zone("GB")].into(), "the agent still gets only its own zone");

    wanted.borrow_and_update();
    d.want_zones("policy default/web", [zone("DE"), zone("FR")].into());
    assert!(!wanted.has_changed().unwrap(), "the same set is no change");
    d.want_zones("policy default/web", Default::default());
    assert!(wanted.has_changed().unwrap());
    assert_eq!(d.wanted_zones(), [zone("GB")].into());
}
