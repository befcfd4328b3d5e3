//! Stream benchmark: N real agent clients connected over loopback with mutual
//! TLS to one hub running in a child process (so its memory is measured alone).
//!
//!     cargo bench -p gridshift-hub --bench stream -- [--agents 100,1000,10000] [--updates 10]
//!
//! Reports connect time, the time from a forecast change until each agent and
//! the last agent has it (p50/p99), hub RSS and RSS per connected agent.
use gridshift_agent::forecast::ForecastHandle;
use gridshift_agent::stream::ClientConfig;
use gridshift_agent::testing::TestAgent;
use gridshift_core::Series;
use gridshift_core::testing::bench::{machine, percentile};
use gridshift_core::testing::series as build;
use gridshift_hub::distribution::{Distributor, random_epoch};
use gridshift_hub::grpc::{ClientAuth, ForecastServiceImpl, HubServer, ServerConfig, StreamConfig};
use gridshift_hub::metrics::StreamMetrics;
use gridshift_ops::mint::CertificateAuthority;
use gridshift_ops::runtime::Shutdown;
use gridshift_ops::tls::{self, Pem};
use jiff::{SignedDuration, Timestamp};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify};

const TRUST_DOMAIN: &str = "bench.gridshift";
const ZONE: &str = "BENCH";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    gridshift_ops::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    if let Some(dir) = flag("--role-hub") {
        rt.block_on(hub(Path::new(&dir)));
        return;
    }
    let counts: Vec<usize> = flag("--agents")
        .unwrap_or_else(|| "100,1000,10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("--agents takes numbers"))
        .collect();
    let updates: usize = flag("--updates").map_or(10, |n| n.parse().expect("--updates takes a number"));
    let (cores, model) = machine();
    println!("machine: {cores} cores, {model}");
    println!(
        "{:>7} {:>10} {:>12} {:>12} {:>12} {:>12} {:>10} {:>12} {:>13}",
        "agents",
        "connect",
        "each p50",
        "each p99",
        "last p50",
        "last p99",
        "hub RSS",
        "RSS/agent",
        "idle RSS"
    );
    for n in counts {
        rt.block_on(run(n, updates));
    }
}

/// The hub child: serves the stream, publishes a new forecast per stdin line.
async fn hub(dir: &Path) {
    let read = |name: &str| Pem(std::fs::read(dir.join(name)).expect("pki file"));
    let tls = tls::server_config(&read("hub.crt"), &read("hub.key"), Some(&read("ca.crt")));
    let distributor = Distributor::new(random_epoch());
    distributor.publish(&series(0.0));
    let auth = ClientAuth::MutualTls { trust_domain: TRUST_DOMAIN.into() };
    let service = ForecastServiceImpl::new(
        distributor.clone(),
        StreamConfig::default(),
        auth,
        StreamMetrics::default(),
    );
    let server = HubServer::start(ServerConfig::new("127.0.0.1:0".parse().unwrap(), Some(tls)), service)
        .await
        .expect("hub server");
    println!("{}", server.local_addr().port());
    std::io::stdout().flush().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let stdin = std::io::stdin();
        let mut value = 0.0;
        for line in stdin.lock().lines() {
            if line.is_err() {
                break;
            }
            value += 1.0;
            distributor.publish(&series(value));
        }
    });
    let _ = lines.await;
}

/// One point per hour; `generated_at` carries the publish instant for latency.
fn series(value: f64) -> Series {
    let now = Timestamp::now();
    let values: Vec<f64> = (0..48).map(|h| value + h as f64).collect();
    build(ZONE, now - SignedDuration::from_hours(1))
        .generated_at(now)
        .provider("bench")
        .estimated()
        .values(&values)
}

struct HubProcess {
    child: Child,
    stdin: ChildStdin,
    port: u16,
}

impl HubProcess {
    fn start(pki_dir: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--role-hub", pki_dir.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn hub");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("hub prints its port");
        Self { child, stdin, port }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    fn publish(&mut self) {
        writeln!(self.stdin, "publish").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn run(n: usize, updates: usize) {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::generate("bench ca").unwrap();
    ca.certificate().write(dir.path(), "ca").unwrap();
    ca.issue_server(&["localhost".into()]).unwrap().write(dir.path(), "hub").unwrap();
    let ca_pem = Pem(ca.certificate().cert_pem.clone().into_bytes());
    let mut hub = HubProcess::start(dir.path());
    let idle_rss = hub.rss_kib();

    let shutdown = Shutdown::new();
    let received = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Notify::new());
    let latencies = Arc::new(Mutex::new(Vec::<(f64, Duration)>::new()));
    let started = Instant::now();
    for i in 0..n {
        let cluster = format!("agent-{i}");
        let cert = ca.issue_agent(TRUST_DOMAIN, &cluster).unwrap();
        let identity = (Pem(cert.cert_pem.into_bytes()), Pem(cert.key_pem.into_bytes()));
        let tls = tls::client_config(&ca_pem, Some((&identity.0, &identity.1)), "localhost");
        let mut config = ClientConfig::new(format!("https://localhost:{}", hub.port), cluster, Some(tls));
        config.connect_timeout = Duration::from_secs(60);
        let agent = TestAgent::start(config, &[ZONE], shutdown.clone());
        tokio::spawn(observe(agent.handle, received.clone(), progress.clone(), latencies.clone()));
    }
    wait_until(&received, &progress, n).await;
    let connect = started.elapsed();
    let connected_rss = hub.rss_kib();

    let mut each = Vec::new();
    let mut last = Vec::new();
    for u in 1..=updates {
        latencies.lock().await.clear();
        hub.publish();
        wait_until(&received, &progress, n * (u + 1)).await;
        let batch = latencies.lock().await.clone();
        last.push(batch.iter().map(|(_, d)| *d).max().unwrap_or_default());
        each.extend(batch.into_iter().map(|(_, d)| d));
    }
    let rss = hub.rss_kib().max(connected_rss);
    println!(
        "{:>7} {:>9.2}s {:>10.1}ms {:>10.1}ms {:>10.1}ms {:>10.1}ms {:>7.1}MiB {:>9.1}KiB {:>10.1}MiB",
        n,
        connect.as_secs_f64(),
        ms(quantile(&mut each, 0.50)),
        ms(quantile(&mut each, 0.99)),
        ms(quantile(&mut last, 0.50)),
        ms(quantile(&mut last, 0.99)),
        rss as f64 / 1024.0,
        rss.saturating_sub(idle_rss) as f64 / n as f64,
        idle_rss as f64 / 1024.0,
    );
    shutdown.trigger();
    drop(hub);
}

/// Counts every forecast an agent receives and records its delivery latency.
async fn observe(
    mut handle: ForecastHandle,
    received: Arc<AtomicUsize>,
    progress: Arc<Notify>,
    latencies: Arc<Mutex<Vec<(f64, Duration)>>>,
) {
    let mut seen = f64::NAN;
    loop {
        let view = handle.current();
        if let Some(series) = view.series(ZONE) {
            let value = series.points[0].value;
            if value != seen {
                seen = value;
                let latency = Timestamp::now().duration_since(series.generated_at);
                latencies.lock().await.push((value, latency.try_into().unwrap_or_default()));
                received.fetch_add(1, Ordering::SeqCst);
                progress.notify_one();
            }
        }
        if handle.changed().await.is_err() {
            return;
        }
    }
}

async fn wait_until(received: &AtomicUsize, progress: &Notify, target: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while received.load(Ordering::SeqCst) < target {
        assert!(Instant::now() < deadline, "only {} of {target} deliveries", received.load(Ordering::SeqCst));
        let _ = tokio::time::timeout(Duration::from_secs(1), progress.notified()).await;
    }
}

fn quantile(values: &mut [Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort();
    percentile(values, p)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
