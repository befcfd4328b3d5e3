//! The fleet: a simulated Karmada host and member clusters (gridshift-sim, in
//! this process), the real hub and one real agent per member (separate
//! processes, mutual TLS on loopback), all on one simulated timeline.
use crate::binaries::Binaries;
use crate::process::{ManagedProcess, http_get, metric};
use crate::{objects, pki};
use anyhow::{Context, bail};
use gridshift_core::zone_map::ZoneMap;
use gridshift_core::{ScaledClock, SharedClock};
use gridshift_sim::{SimConfig, SimKarmada, SimKarmadaConfig, SimServer};
use jiff::Timestamp;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Nodes of one cloud region (a `topology.kubernetes.io/region` label).
#[derive(Debug, Clone)]
pub struct NodeGroup {
    pub region: String,
    pub count: usize,
    pub cpu: String,
    pub memory: String,
}

#[derive(Debug, Clone)]
pub struct MemberSpec {
    pub name: String,
    /// The first group's region is the cluster's primary region.
    pub node_groups: Vec<NodeGroup>,
}

#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub members: Vec<MemberSpec>,
    /// Simulated time when the fleet starts.
    pub start: Timestamp,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Intensity traces the hub replays.
    pub data_dir: PathBuf,
    /// Keep the working directory (certificates, kubeconfigs, logs) afterwards.
    pub keep_work_dir: bool,
    /// Log filter (`GRIDSHIFT_LOG`) of the hub and agents.
    pub log_level: String,
    pub extra_hub_args: Vec<String>,
    pub extra_agent_args: Vec<String>,
}

impl FleetConfig {
    /// Three members in different grid zones: US West (with Pacific Northwest
    /// nodes), US East (with New York nodes), Great Britain.
    pub fn three_members(start: Timestamp, speed: f64) -> Self {
        let group = |region: &str, count| NodeGroup {
            region: region.into(),
            count,
            cpu: "8".into(),
            memory: "32Gi".into(),
        };
        Self {
            members: vec![
                MemberSpec {
                    name: "member-us-west".into(),
                    node_groups: vec![group("kind-us-west", 2), group("kind-us-northwest", 2)],
                },
                MemberSpec {
                    name: "member-us-east".into(),
                    node_groups: vec![group("kind-us-east", 2), group("kind-us-northeast", 2)],
                },
                MemberSpec { name: "member-gb".into(), node_groups: vec![group("kind-gb", 3)] },
            ],
            start,
            speed,
            data_dir: crate::repo_path("e2e/data/carbon-intensity-open"),
            keep_work_dir: false,
            log_level: "info".into(),
            extra_hub_args: vec![],
            extra_agent_args: vec![],
        }
    }
}

/// How long (simulated) the simulated Karmada takes to apply a workload to a
/// newly selected cluster: the make-before-break window the hub waits out.
pub const KARMADA_APPLY_DELAY: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// How long a process may take to come up (a debug build on a loaded machine).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Member {
    pub spec: MemberSpec,
    /// Grid zones of the member's nodes, primary first.
    pub zones: Vec<String>,
    pub sim: SimServer,
    pub agent: ManagedProcess,
    pub ops_port: u16,
}

impl Member {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn primary_zone(&self) -> &str {
        &self.zones[0]
    }
}

pub struct Fleet {
    pub config: FleetConfig,
    pub clock: SharedClock,
    pub host: SimServer,
    /// Plays Karmada's scheduler on the host: bindings follow the policies and
    /// report clusters applied and healthy after `KARMADA_APPLY_DELAY`.
    pub karmada: SimKarmada,
    pub members: Vec<Member>,
    pub hub: ManagedProcess,
    pub hub_ops_port: u16,
    pub hub_grpc_port: u16,
    pub work_dir: PathBuf,
    _work: Option<tempfile::TempDir>,
}

impl Fleet {
    pub async fn start(config: FleetConfig) -> anyhow::Result<Fleet> {
        let binaries = tokio::task::spawn_blocking(Binaries::get).await??;
        let work = tempfile::Builder::new().prefix("gridshift-fleet-").tempdir()?;
        let work_dir = work.path().to_path_buf();
        let clusters: Vec<&str> = config.members.iter().map(|m| m.name.as_str()).collect();
        pki::mint(&work_dir.join("pki"), &clusters)?;

        // One simulated timeline: every process derives "now" from the same
        // start, speed and wall-clock anchor.
        let anchor = Timestamp::now();
        let clock: SharedClock = Arc::new(ScaledClock::anchored(config.start, config.speed, anchor));
        let clock_args = [
            format!("--clock-start={}", config.start),
            format!("--clock-speed={}", config.speed),
            format!("--clock-anchor={anchor}"),
        ];

        let host = start_sim("karmada-host").await?;
        let zone_map = ZoneMap::builtin();
        let mut member_zones = Vec::new();
        for spec in &config.members {
            let zones = spec
                .node_groups
                .iter()
                .map(|g| zone_map.zone_for(&g.region).map(str::to_string))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("member {}", spec.name))?;
            let mut unique = Vec::new();
            for z in zones {
                if !unique.contains(&z) {
                    unique.push(z);
                }
            }
            host.upsert(objects::karmada_cluster(&spec.name, &spec.node_groups[0].region))?;
            member_zones.push(unique);
        }
        host.write_kubeconfig(&work_dir.join("karmada-host.kubeconfig"))?;
        let karmada =
            SimKarmada::start(host.client()?, SimKarmadaConfig::new(clock.clone(), KARMADA_APPLY_DELAY));
        // The hub's leader-election Lease lives in the Karmada API server.
        host.upsert(objects::namespace("karmada-system"))?;

        let pki = work_dir.join("pki");
        let mut hub_args: Vec<OsString> = vec![
            "serve".into(),
            // Port 0: the hub binds and logs its ports, so none can be taken
            // from under it; restarts keep the ports it bound.
            "--listen=127.0.0.1:0".into(),
            "--ops-listen=127.0.0.1:0".into(),
            arg("--tls-cert", &pki.join("hub.crt")),
            arg("--tls-key", &pki.join("hub.key")),
            arg("--tls-client-ca", &pki.join("ca.crt")),
            "--carbon-providers=replay".into(),
            arg("--replay-dir", &config.data_dir),
            arg("--karmada-kubeconfig", &work_dir.join("karmada-host.kubeconfig")),
        ];
        hub_args.extend(clock_args.iter().map(OsString::from));
        hub_args.extend(config.extra_hub_args.iter().map(OsString::from));
        let envs = vec![
            ("GRIDSHIFT_LOG".to_string(), config.log_level.clone()),
            ("POD_NAME".into(), "gridshift-hub-0".into()),
        ];
        let mut hub =
            ManagedProcess::new("hub", &binaries.hub, hub_args, envs.clone(), work_dir.join("hub.log"));
        // The member clusters come up while the hub loads its traces.
        hub.start()?;
        let mut sims = Vec::new();
        for spec in &config.members {
            let sim = start_sim(&spec.name).await?;
            for object in objects::nodes(spec) {
                sim.upsert(object)?;
            }
            sim.upsert(objects::namespace("gridshift-system"))?;
            sim.write_kubeconfig(&work_dir.join(format!("{}.kubeconfig", spec.name)))?;
            sims.push(sim);
        }
        let [hub_grpc, hub_ops] = hub.read_addrs("hub started", ["stream", "ops"], STARTUP_TIMEOUT).await?;
        hub.set_flag("--listen", &hub_grpc.to_string());
        hub.set_flag("--ops-listen", &hub_ops.to_string());

        let mut members = Vec::new();
        for ((spec, zones), sim) in config.members.iter().zip(member_zones).zip(sims) {
            let kubeconfig = work_dir.join(format!("{}.kubeconfig", spec.name));
            let mut args: Vec<OsString> = vec![
                format!("--cluster-name={}", spec.name).into(),
                format!("--hub-url=https://localhost:{}", hub_grpc.port()).into(),
                arg("--tls-ca", &pki.join("ca.crt")),
                arg("--tls-cert", &pki.join(format!("{}.crt", spec.name))),
                arg("--tls-key", &pki.join(format!("{}.key", spec.name))),
                format!("--node-zone={}", zones.join(",")).into(),
                "--ops-listen=127.0.0.1:0".into(),
                arg("--kubeconfig", &kubeconfig),
            ];
            args.extend(clock_args.iter().map(OsString::from));
            args.extend(config.extra_agent_args.iter().map(OsString::from));
            let mut agent_envs = envs.clone();
            agent_envs[1].1 = format!("gridshift-agent-{}", spec.name);
            let log = work_dir.join(format!("agent-{}.log", spec.name));
            let mut agent =
                ManagedProcess::new(&format!("agent {}", spec.name), &binaries.agent, args, agent_envs, log);
            agent.start()?;
            let [ops] = agent.read_addrs("agent starting", ["ops"], STARTUP_TIMEOUT).await?;
            agent.set_flag("--ops-listen", &ops.to_string());
            members.push(Member { spec: spec.clone(), zones, sim, agent, ops_port: ops.port() });
        }
        let keep = config.keep_work_dir;
        let mut fleet = Fleet {
            config,
            clock,
            host,
            karmada,
            members,
            hub,
            hub_ops_port: hub_ops.port(),
            hub_grpc_port: hub_grpc.port(),
            work_dir,
            _work: if keep {
                let _kept = work.keep();
                None
            } else {
                Some(work)
            },
        };
        fleet.wait_connected(STARTUP_TIMEOUT).await?;
        Ok(fleet)
    }

    pub fn member(&self, name: &str) -> &Member {
        self.members.iter().find(|m| m.name() == name).unwrap_or_else(|| panic!("no member {name}"))
    }

    pub fn member_mut(&mut self, name: &str) -> &mut Member {
        self.members.iter_mut().find(|m| m.name() == name).unwrap_or_else(|| panic!("no member {name}"))
    }

    /// Waits until the hub reports ready (forecasts loaded) and every agent
    /// reports a live hub connection. Fails at once if one of them exits.
    pub async fn wait_connected(&mut self, timeout: Duration) -> anyhow::Result<()> {
        // The hub logs this as /readyz turns ok; following the log notices an exit.
        self.hub.wait_for_log("forecasts loaded: ready", timeout).await?;
        let readyz = http_get(self.hub_ops_port, "/readyz").await.context("the hub's /readyz")?;
        anyhow::ensure!(readyz == "ok", "the hub logged ready but /readyz says {readyz:?}");
        for member in &self.members {
            let (port, agent) = (member.ops_port, &member.agent);
            // Some(true): connected; Some(false): the agent exited.
            let connected = crate::wait::until(timeout, Duration::from_millis(100), || async move {
                if agent.has_exited() {
                    return Some(false);
                }
                let text = http_get(port, "/metrics").await.ok()?;
                (metric(&text, "gridshift_agent_hub_connected") == Some(1.0)).then_some(true)
            })
            .await;
            match connected {
                Some(true) => {}
                Some(false) => bail!("agent {} exited:\n{}", member.spec.name, member.agent.log_tail(30)),
                None => bail!(
                    "agent {} did not connect within {timeout:?}\n--- agent log ---\n{}\n--- hub log ---\n{}",
                    member.spec.name,
                    member.agent.log_tail(30),
                    self.hub.log_tail(30)
                ),
            }
        }
        Ok(())
    }

    /// Stops every process (the simulated clusters stop when dropped).
    pub async fn stop(&mut self) {
        self.hub.kill().await;
        for m in &mut self.members {
            m.agent.kill().await;
        }
    }
}

async fn start_sim(name: &str) -> anyhow::Result<SimServer> {
    let sim = SimServer::start(SimConfig { name: name.into(), ..SimConfig::default() }).await?;
    sim.apply_dir(&crate::repo_path("e2e/crds"))?;
    sim.apply_dir(&crate::repo_path("crds"))?;
    Ok(sim)
}

fn arg(flag: &str, path: &Path) -> OsString {
    let mut s = OsString::from(format!("{flag}="));
    s.push(path);
    s
}
