//! The forecast stream over loopback, with real tonic servers and clients and mTLS.
mod common;

use common::*;
use gridshift_hub::distribution::Distributor;
use gridshift_proto::v1::forecast_service_client::ForecastServiceClient;
use gridshift_proto::v1::{self, agent_message};
use std::time::Duration;
use tokio_stream::StreamExt;

fn hello(cluster: &str) -> v1::AgentMessage {
    v1::AgentMessage {
        kind: Some(agent_message::Kind::Hello(v1::Hello {
            cluster_name: cluster.into(),
            protocol_version: gridshift_proto::PROTOCOL_VERSION,
            min_protocol_version: 1,
            node_zones: vec!["DE".into()],
            ..Default::default()
        })),
    }
}

#[tokio::test]
async fn agent_receives_the_snapshot_then_deltas_for_its_zones_only() {
    let pki = Pki::new();
    let d = Distributor::new(11);
    d.publish_all(&[series("DE", 300.0), series("FR", 50.0)]);
    let hub = start_hub(&pki, &d, loopback()).await;
    let mut agent = start_agent(&pki, hub.local_addr(), "member-de", &["DE"]);

    let view = wait_view(&mut agent, "snapshot", |v| v.series("DE").is_some()).await;
    assert!(view.hub_connected);
    assert_eq!(value_of(&view, "DE"), Some(300.0));
    assert!(view.series("FR").is_none(), "only its own zone");
    assert_eq!(view.primary_zone.as_deref(), Some("DE"));
    assert_eq!(view.epoch, 11);

    d.publish(&series("DE", 280.0));
    let view = wait_view(&mut agent, "delta", |v| value_of(v, "DE") == Some(280.0)).await;
    assert_eq!(view.revision, d.revision());

    d.assign_zones("member-de", [gridshift_core::Zone::known("FR")].into());
    wait_view(&mut agent, "assigned zone", |v| value_of(v, "FR") == Some(50.0)).await;

    // The hub records the agent's acknowledgement.
    let mut acks = d.watch_acks();
    let acked = async {
        while d.agents().first().map(|a| a.acked_revision) != Some(d.revision()) {
            acks.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(10), acked)
        .await
        .expect("the agent acknowledges the latest revision");
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn agent_status_reaches_the_hub_and_its_metrics_leave_with_the_agent() {
    let pki = Pki::new();
    let d = Distributor::new(12);
    d.publish_all(&[series("DE", 300.0)]);
    let metrics = gridshift_hub::metrics::StreamMetrics::default();
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let text = || {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    };
    let hub = start_hub_with_metrics(&pki, &d, loopback(), metrics).await;
    let agent = start_agent(&pki, hub.local_addr(), "member-de", &["DE"]);
    // Set before the stream is up: sent once the hub welcomed the agent.
    agent.status.send_replace(v1::AgentStatus { caps_applied: 2, pods_bound: 7, ..Default::default() });

    let mut reports = d.watch_acks();
    let reported = |want: v1::AgentStatus| {
        let d = d.clone();
        async move {
            while d.agents().first().and_then(|a| a.status.clone()) != Some(want.clone()) {
                reports.changed().await.unwrap();
            }
        }
    };
    let first = v1::AgentStatus { caps_applied: 2, pods_bound: 7, ..Default::default() };
    tokio::time::timeout(Duration::from_secs(10), reported(first)).await.expect("status at connect");
    let m = text();
    assert!(m.contains("gridshift_hub_agent_caps_applied{cluster=\"member-de\"} 2"), "{m}");
    assert!(m.contains("gridshift_hub_agent_pods_bound{cluster=\"member-de\"} 7"), "{m}");

    let mut reports = d.watch_acks();
    let second = v1::AgentStatus { caps_applied: 1, pods_bound: 9, pods_deferred: 3, ..Default::default() };
    agent.status.send_replace(second.clone());
    let changed = async {
        while d.agents().first().and_then(|a| a.status.clone()) != Some(second.clone()) {
            reports.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(10), changed).await.expect("status on change");
    assert!(text().contains("gridshift_hub_agent_pods_deferred{cluster=\"member-de\"} 3"));

    agent.shutdown.trigger();
    agent.task.await.unwrap();
    // Graceful shutdown waits for the (already closed) stream's session to end.
    hub.shutdown(Duration::from_secs(5)).await;
    assert!(d.agents().is_empty());
    assert!(!text().contains("gridshift_hub_agent_pods_bound{"), "metrics of a gone agent are removed");
}

#[tokio::test]
async fn hub_restart_agent_serves_last_forecast_then_resyncs() {
    let pki = Pki::new();
    let first = Distributor::new(1);
    first.publish(&series("GB", 200.0));
    let hub = start_hub(&pki, &first, loopback()).await;
    let addr = hub.local_addr();
    let mut agent = start_agent(&pki, addr, "member-gb", &["GB"]);
    wait_view(&mut agent, "first snapshot", |v| value_of(v, "GB") == Some(200.0)).await;

    hub.shutdown(Duration::from_secs(5)).await;
    let view = wait_view(&mut agent, "disconnect noticed", |v| !v.hub_connected).await;
    assert_eq!(value_of(&view, "GB"), Some(200.0), "the last forecast is still served");

    // A restarted hub has a new epoch and newer data.
    let second = Distributor::new(2);
    second.publish(&series("GB", 120.0));
    let hub = start_hub(&pki, &second, addr).await;
    let view = wait_view(&mut agent, "resync", |v| v.hub_connected && value_of(v, "GB") == Some(120.0)).await;
    assert_eq!(view.epoch, 2);
    assert!(agent.metrics.reconnects.get() >= 1);
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn reconnect_within_the_epoch_resumes_without_a_snapshot() {
    let pki = Pki::new();
    let d = Distributor::new(5);
    d.publish(&series("DE", 1.0));
    let hub = start_hub(&pki, &d, loopback()).await;
    let addr = hub.local_addr();
    let mut agent = start_agent(&pki, addr, "a", &["DE"]);
    wait_view(&mut agent, "snapshot", |v| value_of(v, "DE") == Some(1.0)).await;
    hub.shutdown(Duration::from_secs(5)).await;
    wait_view(&mut agent, "disconnected", |v| !v.hub_connected).await;

    // Same distributor (same epoch): the agent presents its resume token.
    d.publish(&series("DE", 2.0));
    let hub = start_hub(&pki, &d, addr).await;
    let view = wait_view(&mut agent, "resumed", |v| v.hub_connected && value_of(v, "DE") == Some(2.0)).await;
    assert_eq!(view.epoch, 5);
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let pki = Pki::new();
    let d = Distributor::new(1);
    let hub = start_hub(&pki, &d, loopback()).await;
    let outcome = async {
        let channel = channel(&pki, hub.local_addr(), None).await?;
        let mut client = ForecastServiceClient::new(channel);
        client.connect(tokio_stream::iter(vec![hello("member-de")])).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    assert!(outcome.is_err(), "a client without a certificate must not get a stream");
    assert!(d.agents().is_empty());
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_hello_naming_another_cluster_is_permission_denied() {
    let pki = Pki::new();
    let d = Distributor::new(1);
    let hub = start_hub(&pki, &d, loopback()).await;
    let channel = channel(&pki, hub.local_addr(), Some("member-a")).await.unwrap();
    let mut client = ForecastServiceClient::new(channel);
    let err = client.connect(tokio_stream::iter(vec![hello("member-b")])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err}");
    assert!(err.message().contains("member-a"), "{}", err.message());
    assert!(d.agents().is_empty());

    // The same certificate naming its own cluster is accepted.
    let mut stream = client.connect(tokio_stream::iter(vec![hello("member-a")])).await.unwrap().into_inner();
    let first = stream.next().await.unwrap().unwrap();
    assert!(matches!(first.kind, Some(v1::hub_message::Kind::Welcome(_))));
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_oversized_message_ends_only_that_stream() {
    let pki = Pki::new();
    let d = Distributor::new(1);
    d.publish(&series("DE", 10.0));
    let hub = start_hub(&pki, &d, loopback()).await;
    let mut good = start_agent(&pki, hub.local_addr(), "good", &["DE"]);
    wait_view(&mut good, "snapshot", |v| value_of(v, "DE") == Some(10.0)).await;

    let channel = channel(&pki, hub.local_addr(), Some("bad")).await.unwrap();
    let mut client = ForecastServiceClient::new(channel).max_encoding_message_size(64 * 1024 * 1024);
    let huge = v1::AgentMessage {
        kind: Some(agent_message::Kind::Status(v1::AgentStatus {
            message: "x".repeat(5 * 1024 * 1024),
            ..Default::default()
        })),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(hello("bad")).await.unwrap();
    let mut stream =
        client.connect(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    tx.send(huge).await.unwrap();
    let status = loop {
        match stream.next().await {
            Some(Ok(_)) => continue,
            Some(Err(status)) => break status,
            None => panic!("the stream ended without an error status"),
        }
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");

    d.publish(&series("DE", 11.0));
    wait_view(&mut good, "the other agent keeps receiving", |v| value_of(v, "DE") == Some(11.0)).await;
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn reflection_lists_the_forecast_service() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let pki = Pki::new();
    let d = Distributor::new(1);
    let hub = start_hub(&pki, &d, loopback()).await;
    let channel = channel(&pki, hub.local_addr(), Some("debug")).await.unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses =
        client.server_reflection_info(tokio_stream::iter(vec![request])).await.unwrap().into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response: {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"gridshift.v1.ForecastService".to_string()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");
    hub.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn get_snapshot_returns_the_requested_zones() {
    let pki = Pki::new();
    let d = Distributor::new(3);
    d.publish_all(&[series("DE", 300.0), series("FR", 50.0), series("ES", 120.0)]);
    let hub = start_hub(&pki, &d, loopback()).await;
    let mut client =
        ForecastServiceClient::new(channel(&pki, hub.local_addr(), Some("debug")).await.unwrap());
    let all = client.get_snapshot(v1::GetSnapshotRequest { zones: vec![] }).await.unwrap().into_inner();
    let names: Vec<_> = all.zones.iter().map(|z| z.zone.as_str()).collect();
    assert_eq!(names, ["DE", "ES", "FR"]);
    assert!(all.complete);
    assert_eq!(all.epoch, 3);
    let some =
        client.get_snapshot(v1::GetSnapshotRequest { zones: vec!["FR".into(), "XX".into()] }).await.unwrap();
    let zones = &some.get_ref().zones;
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0].points[0].gco2_per_kwh, 50.0);
    hub.shutdown(Duration::from_secs(5)).await;
}
