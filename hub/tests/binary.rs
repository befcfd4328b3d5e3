//! The `gridshift-hub` binary's readiness: not ready while it restores its state and
//! fetches every zone once (so a new replica never streams an empty snapshot), ready
//! once that round is over even if every provider failed (agents fail open; the next
//! refresh retries), and its reason on `/readyz` while not.
use serde_json::Value;
use std::io::{BufRead, BufReader, Lines};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `(status line, body)` of `GET path`.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("ops endpoint");
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// Reads the hub's JSON log until the event with `message`; returns that event.
/// The hub logs when its ops endpoint is up and when it turns ready: the test waits
/// on those events rather than polling.
async fn log_event(log: &mut Option<Lines<BufReader<ChildStderr>>>, message: &str) -> Value {
    let mut lines = log.take().expect("log reader");
    let message = message.to_string();
    let (lines, event) = tokio::task::spawn_blocking(move || {
        for line in lines.by_ref() {
            let line = line.expect("hub log");
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["message"] == message.as_str()
            {
                return (lines, event);
            }
        }
        panic!("the hub exited before logging {message:?}");
    })
    .await
    .unwrap();
    *log = Some(lines);
    event
}

struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_hub_is_ready_once_every_zone_was_tried_even_when_the_provider_is_down() {
    // An "Electricity Maps" that accepts connections and never answers, until released.
    let provider = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider_url = format!("http://{}/v3", provider.local_addr().unwrap());
    let (held_tx, mut held_rx) = tokio::sync::mpsc::unbounded_channel();
    let provider_task = tokio::spawn(async move {
        loop {
            let (socket, _) = provider.accept().await.unwrap();
            held_tx.send(socket).unwrap();
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("em-key");
    std::fs::write(&key, "not-a-real-key").unwrap();
    let mut hub = Hub(Command::new(env!("CARGO_BIN_EXE_gridshift-hub"))
        .args(["serve", "--insecure", "--listen", "127.0.0.1:0"])
        .args(["--ops-listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--carbon-providers", "electricitymaps", "--carbon-zones", "DE"])
        .args(["--em-base-url", &provider_url, "--carbon-request-timeout", "10m"])
        .arg("--em-api-key-file")
        .arg(&key)
        .arg("--carbon-state-file")
        .arg(dir.path().join("state.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hub starts"));
    let mut log = Some(BufReader::new(hub.0.stderr.take().unwrap()).lines());
    let started = log_event(&mut log, "hub started").await;
    let ops: SocketAddr = started["ops"].as_str().expect("ops address").parse().unwrap();

    // The hub is fetching DE: the provider holds its request.
    let first = held_rx.recv().await.expect("the hub asks the provider");
    let (status, body) = get(ops, "/readyz").await;
    assert!(status.contains(" 503 "), "{status}");
    assert_eq!(body, "not ready: restoring forecasts and fetching every zone once");
    let (status, _) = get(ops, "/healthz").await;
    assert!(status.contains(" 200 "), "alive while not ready: {status}");

    // The provider goes away: the fetch fails, the round ends, and the hub is ready.
    provider_task.abort();
    drop(first);
    held_rx.close();
    while let Some(socket) = held_rx.recv().await {
        drop(socket);
    }
    log_event(&mut log, "forecasts loaded: ready").await;
    let (status, body) = get(ops, "/readyz").await;
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body, "ok");
    let (_, metrics) = get(ops, "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gridshift_carbon_upstream_errors_total{provider=\"electricitymaps\"")),
        "the provider's failure is visible in metrics:\n{metrics}"
    );
}
