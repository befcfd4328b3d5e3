//! The hub->agent half of a stream: Welcome, then updates from the agent's
//! subscription, split to fit the message size limit, and heartbeats when idle.
//!
//! The stream is pulled by the transport only as fast as the agent reads (HTTP/2
//! flow control), and updates are computed from the latest state when pulled,
//! so a slow agent gets a coalesced update rather than a growing queue.
use crate::distribution::{Subscription, Update};
use crate::metrics::{KindLabel, StreamMetrics};
use futures::Stream;
use gridshift_proto::v1::{self, hub_message::Kind};
use prost::Message;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tonic::Status;

pub(super) struct Outbound {
    pub sub: Subscription,
    pub queue: VecDeque<v1::HubMessage>,
    pub heartbeat_every: Duration,
    /// Fires when the inbound half ends: `Some(status)` to end with an error.
    pub closed: oneshot::Receiver<Option<Status>>,
    pub draining: watch::Receiver<bool>,
    pub max_message_bytes: usize,
    pub metrics: StreamMetrics,
}

enum Step {
    Send(v1::HubMessage),
    End(Option<Status>),
}

pub(super) fn into_stream(out: Outbound) -> impl Stream<Item = Result<v1::HubMessage, Status>> + Send {
    let heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + out.heartbeat_every, out.heartbeat_every);
    futures::stream::unfold(Some((out, heartbeat)), |state| async move {
        let (mut out, mut heartbeat) = state?;
        match out.step(&mut heartbeat).await {
            Step::Send(msg) => {
                heartbeat.reset();
                Some((Ok(msg), Some((out, heartbeat))))
            }
            Step::End(Some(status)) => Some((Err(status), None)),
            Step::End(None) => None,
        }
    })
}

impl Outbound {
    async fn step(&mut self, heartbeat: &mut tokio::time::Interval) -> Step {
        loop {
            if let Some(msg) = self.queue.pop_front() {
                return Step::Send(msg);
            }
            let update = tokio::select! {
                biased;
                closed = &mut self.closed => return Step::End(closed.unwrap_or(None)),
                _ = self.draining.wait_for(|d| *d) => {
                    return Step::End(Some(Status::unavailable("the hub is shutting down")));
                }
                update = self.sub.next() => update,
                _ = heartbeat.tick() => {
                    self.metrics.messages_sent.get_or_create(&KindLabel { kind: "heartbeat" }).inc();
                    let now_ms = jiff::Timestamp::now().as_millisecond();
                    let beat = v1::Heartbeat { sent_at_unix_ms: now_ms, revision: 0 };
                    return Step::Send(v1::HubMessage { kind: Some(Kind::Heartbeat(beat)) });
                }
            };
            match update {
                Some(update) => self.enqueue(update),
                None => return Step::End(Some(Status::unavailable("the hub is shutting down"))),
            }
        }
    }

    fn enqueue(&mut self, update: Update) {
        let budget = self.max_message_bytes.saturating_sub(1024);
        match update {
            Update::Snapshot(snap) => {
                let chunks = chunk(snap.zones, budget, self.sub.cluster());
                let last = chunks.len() - 1;
                for (i, zones) in chunks.into_iter().enumerate() {
                    let part = v1::Snapshot {
                        epoch: snap.epoch,
                        revision: snap.revision,
                        zones,
                        complete: i == last,
                        // Applied with the complete snapshot; every chunk says the same.
                        cluster_zone: snap.cluster_zone.clone(),
                    };
                    self.metrics.messages_sent.get_or_create(&KindLabel { kind: "snapshot" }).inc();
                    self.queue.push_back(v1::HubMessage { kind: Some(Kind::Snapshot(part)) });
                }
            }
            Update::Delta(delta) => {
                let mut removed = delta.removed_zones;
                let mut cluster_zone = delta.cluster_zone;
                for upserts in chunk(delta.upserts, budget, self.sub.cluster()) {
                    let part = v1::Delta {
                        epoch: delta.epoch,
                        revision: delta.revision,
                        upserts,
                        removed_zones: std::mem::take(&mut removed),
                        cluster_zone: cluster_zone.take(),
                    };
                    self.metrics.messages_sent.get_or_create(&KindLabel { kind: "delta" }).inc();
                    self.queue.push_back(v1::HubMessage { kind: Some(Kind::Delta(part)) });
                }
            }
        }
    }
}

/// Splits zones into groups whose encoding fits `budget` bytes; always at least
/// one (possibly empty) group. A single zone over the budget cannot be sent and
/// is dropped with an error log (it would be refused by the agent anyway).
fn chunk(zones: Vec<v1::ZoneForecast>, budget: usize, cluster: &str) -> Vec<Vec<v1::ZoneForecast>> {
    let mut groups = vec![Vec::new()];
    let mut size = 0;
    for zone in zones {
        let len = zone.encoded_len() + 8;
        if len > budget {
            tracing::error!(zone = %zone.zone, bytes = len, budget, cluster, "zone forecast exceeds the stream message limit; not sent");
            continue;
        }
        if size + len > budget && !groups.last().is_some_and(Vec::is_empty) {
            groups.push(Vec::new());
            size = 0;
        }
        size += len;
        groups.last_mut().expect("at least one group").push(zone);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str, points: usize) -> v1::ZoneForecast {
        let point = v1::ForecastPoint { duration_seconds: 3600, gco2_per_kwh: 1.0, ..Default::default() };
        v1::ZoneForecast { zone: name.into(), points: vec![point; points], ..Default::default() }
    }

    #[test]
    fn chunks_fit_the_budget_and_keep_order() {
        let zones: Vec<_> = (0..10).map(|i| zone(&format!("Z{i}"), 100)).collect();
        let one = zones[0].encoded_len() + 8;
        let groups = chunk(zones, one * 3, "c");
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 3, 1]);
        let names: Vec<_> = groups.concat().into_iter().map(|z| z.zone).collect();
        assert_eq!(names, (0..10).map(|i| format!("Z{i}")).collect::<Vec<_>>());
    }

    #[test]
    fn an_oversized_zone_is_dropped_and_empty_input_gives_one_group() {
        let groups = chunk(vec![zone("big", 10_000), zone("ok", 1)], 2048, "c");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0][0].zone, "ok");
        assert_eq!(chunk(vec![], 100, "c"), vec![Vec::<v1::ZoneForecast>::new()]);
    }
}
