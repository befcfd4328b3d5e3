//! The `gridshift-hub` binary's readiness: not ready while it restores its state and
//! fetches every zone once (so a new replica never streams an empty snapshot), ready
//! once that round is over even if every provider failed (agents fail open; the next
//! refresh retries), and its reason on `/readyz` while not.
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `(status line, body)` of `GET path`, or `None` while nothing listens.
async fn get(addr: SocketAddr, path: &str) -> Option<(String, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await.ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// Polls `probe` every 20 ms until it yields, for at most 30 s.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut probe: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
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
    let ops = free_addr();
    let _hub = Hub(Command::new(env!("CARGO_BIN_EXE_gridshift-hub"))
        .args(["serve", "--insecure", "--listen", &free_addr().to_string()])
        .args(["--ops-listen", &ops.to_string()])
        .args(["--carbon-providers", "electricitymaps", "--carbon-zones", "DE"])
        .args(["--em-base-url", &provider_url, "--carbon-request-timeout", "10m"])
        .arg("--em-api-key-file")
        .arg(&key)
        .arg("--carbon-state-file")
        .arg(dir.path().join("state.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the hub starts"));

    // The hub is fetching DE: the provider holds its request.
    let first = held_rx.recv().await.expect("the hub asks the provider");
    let (status, body) = eventually("/readyz", || get(ops, "/readyz")).await;
    assert!(status.contains(" 503 "), "{status}");
    assert_eq!(body, "not ready: restoring forecasts and fetching every zone once");
    let (status, _) = get(ops, "/healthz").await.expect("/healthz");
    assert!(status.contains(" 200 "), "alive while not ready: {status}");

    // The provider goes away: the fetch fails, the round ends, and the hub is ready.
    provider_task.abort();
    drop(first);
    held_rx.close();
    while let Some(socket) = held_rx.recv().await {
        drop(socket);
    }
    let body = eventually("ready", || async {
        get(ops, "/readyz").await.filter(|(status, _)| status.contains(" 200 ")).map(|(_, body)| body)
    })
    .await;
    assert_eq!(body, "ok");
    let (_, metrics) = get(ops, "/metrics").await.expect("/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gridshift_carbon_upstream_errors_total{provider=\"electricitymaps\"")),
        "the provider's failure is visible in metrics:\n{metrics}"
    );
}
