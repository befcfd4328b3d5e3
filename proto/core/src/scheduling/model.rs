//! Plain data the decision core works on. `adapter.rs` builds these from k8s-openapi
//! objects; tests and the benchmark build them directly.
use std::collections::BTreeMap;

use jiff::Timestamp;

use super::deferral::DeferralRequest;

/// Amounts kube-scheduler compares: CPU in millicores, the rest in whole units (bytes for
/// memory and ephemeral storage). `scalar` holds extended resources and hugepages, sorted
/// by name so two lists can be merged without hashing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub scalar: Vec<(String, i64)>,
}

impl Resources {
    pub fn new(milli_cpu: i64, memory: i64) -> Self {
        Self { milli_cpu, memory, ..Self::default() }
    }

    pub fn with_scalar(mut self, name: &str, amount: i64) -> Self {
        self.set_scalar(name, amount);
        self
    }

    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)).map_or(0, |i| self.scalar[i].1)
    }

    pub fn set_scalar(&mut self, name: &str, amount: i64) {
        match self.scalar.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].1 = amount,
            Err(i) => self.scalar.insert(i, (name.to_string(), amount)),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.iter().all(|s| s.1 == 0)
    }

    /// `self += other` (`sign = 1`) or `self -= other` (`sign = -1`).
    pub fn add(&mut self, other: &Resources, sign: i64) {
        self.milli_cpu += sign * other.milli_cpu;
        self.memory += sign * other.memory;
        self.ephemeral_storage += sign * other.ephemeral_storage;
        for (name, v) in &other.scalar {
            let cur = self.scalar(name);
            self.set_scalar(name, cur + sign * v);
        }
    }

    /// Per resource, the larger of the two (how init containers combine).
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            let cur = self.scalar(name);
            self.set_scalar(name, cur.max(*v));
        }
    }
}

/// One container's requests as the pod spec gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRequests {
    pub requests: Resources,
    /// Whether CPU / memory requests were set at all: kube-scheduler's scoring
    /// substitutes 100m / 200MiB for missing ones (not for explicit zeros).
    pub cpu_set: bool,
    pub memory_set: bool,
    /// An init container with `restartPolicy: Always` (a sidecar): it keeps running
    /// alongside the app containers.
    pub restartable_init: bool,
}

/// The CPU and memory kube-scheduler's scoring assumes for a container without requests.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// What a pod asks of a node: `requests` for the fit filter, `non_zero` (CPU, memory)
/// for scoring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRequests {
    pub requests: Resources,
    pub non_zero_milli_cpu: i64,
    pub non_zero_memory: i64,
}

impl PodRequests {
    /// kube's `PodRequests`: app containers summed; each init container runs alone
    /// with the sidecars started before it, so the pod needs the max of that and the
    /// app containers plus all sidecars; then pod overhead on top.
    pub fn compute(
        containers: &[ContainerRequests],
        init: &[ContainerRequests],
        overhead: &Resources,
    ) -> Self {
        let mut reqs = Resources::default();
        let (mut nz_cpu, mut nz_mem) = (0i64, 0i64);
        let non_zero = |c: &ContainerRequests| {
            let cpu = if c.cpu_set { c.requests.milli_cpu } else { DEFAULT_MILLI_CPU_REQUEST };
            let mem = if c.memory_set { c.requests.memory } else { DEFAULT_MEMORY_REQUEST };
            (cpu, mem)
        };
        for c in containers {
            reqs.add(&c.requests, 1);
            let (cpu, mem) = non_zero(c);
            nz_cpu += cpu;
            nz_mem += mem;
        }
        let mut sidecars = Resources::default();
        let (mut sc_cpu, mut sc_mem) = (0i64, 0i64);
        let mut init_peak = Resources::default();
        let (mut peak_cpu, mut peak_mem) = (0i64, 0i64);
        for c in init {
            let (cpu, mem) = non_zero(c);
            if c.restartable_init {
                reqs.add(&c.requests, 1);
                nz_cpu += cpu;
                nz_mem += mem;
                sidecars.add(&c.requests, 1);
                sc_cpu += cpu;
                sc_mem += mem;
                init_peak.max_with(&sidecars);
                peak_cpu = peak_cpu.max(sc_cpu);
                peak_mem = peak_mem.max(sc_mem);
            } else {
                let mut running = c.requests.clone();
                running.add(&sidecars, 1);
                init_peak.max_with(&running);
                peak_cpu = peak_cpu.max(cpu + sc_cpu);
                peak_mem = peak_mem.max(mem + sc_mem);
            }
        }
        reqs.max_with(&init_peak);
        reqs.add(overhead, 1);
        Self {
            requests: reqs,
            non_zero_milli_cpu: nz_cpu.max(peak_cpu) + overhead.milli_cpu,
            non_zero_memory: nz_mem.max(peak_mem) + overhead.memory,
        }
    }

    /// A pod that asks exactly this much (tests, benchmark, synthetic pods).
    pub fn exact(requests: Resources) -> Self {
        Self { non_zero_milli_cpu: requests.milli_cpu, non_zero_memory: requests.memory, requests }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: TaintEffect,
}

impl Taint {
    pub fn new(key: &str, value: &str, effect: TaintEffect) -> Self {
        Self { key: key.into(), value: value.into(), effect }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TolerationOperator {
    Equal,
    Exists,
}

/// `key` empty with `Exists` tolerates everything; `effect` `None` matches every effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    pub key: String,
    pub operator: TolerationOperator,
    pub value: String,
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    pub fn equal(key: &str, value: &str, effect: Option<TaintEffect>) -> Self {
        Self { key: key.into(), operator: TolerationOperator::Equal, value: value.into(), effect }
    }

    pub fn exists(key: &str, effect: Option<TaintEffect>) -> Self {
        Self { key: key.into(), operator: TolerationOperator::Exists, value: String::new(), effect }
    }

    /// kube's `Toleration.ToleratesTaint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => self.value == taint.value,
        }
    }
}

/// A node selector requirement operator; anything else makes the term unmatchable,
/// as kube treats a term it cannot parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    Invalid(String),
}

impl SelectorOperator {
    pub fn parse(s: &str) -> Self {
        match s {
            "In" => Self::In,
            "NotIn" => Self::NotIn,
            "Exists" => Self::Exists,
            "DoesNotExist" => Self::DoesNotExist,
            "Gt" => Self::Gt,
            "Lt" => Self::Lt,
            other => Self::Invalid(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: SelectorOperator,
    pub values: Vec<String>,
}

impl Requirement {
    pub fn new(key: &str, operator: SelectorOperator, values: &[&str]) -> Self {
        Self { key: key.into(), operator, values: values.iter().map(|v| v.to_string()).collect() }
    }
}

/// Expressions and fields are ANDed; a term with neither matches no node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectorTerm {
    pub match_expressions: Vec<Requirement>,
    pub match_fields: Vec<Requirement>,
}

/// Terms are ORed; an empty list matches no node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSelector {
    pub terms: Vec<SelectorTerm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

/// A host port a pod binds. `ip` is `0.0.0.0` when the spec leaves it empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub ip: String,
    pub protocol: Protocol,
    pub port: i32,
}

impl HostPort {
    pub const ANY_IP: &'static str = "0.0.0.0";

    pub fn tcp(port: i32) -> Self {
        Self { ip: Self::ANY_IP.into(), protocol: Protocol::Tcp, port }
    }

    /// kube's `HostPortInfo.CheckConflict`: same protocol and port, and either side on
    /// the wildcard address or both on the same address.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == Self::ANY_IP || other.ip == Self::ANY_IP)
    }
}

/// What the volume layer knows about one PersistentVolumeClaim of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimState {
    /// Bound to a volume; `node_affinity` is the volume's required node affinity, if any.
    Bound { node_affinity: Option<NodeSelector> },
    /// Unbound, storage class `volumeBindingMode: WaitForFirstConsumer`: the scheduler
    /// would have to pick a node the provisioner can serve. Not supported (see README).
    WaitForFirstConsumer,
    /// Unbound, binding mode Immediate: the PV controller has not bound it yet.
    PendingImmediate,
    /// The claim does not exist (yet).
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeClaim {
    pub name: String,
    pub state: ClaimState,
}

/// Node readiness from its `Ready` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Readiness {
    #[default]
    Ready,
    /// `Ready=False`.
    NotReady,
    /// `Ready=Unknown` or missing: the kubelet stopped reporting.
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub readiness: Readiness,
    pub allocatable: Resources,
    /// `allocatable.pods`.
    pub allowed_pods: i64,
    /// The node's grid zone, already resolved (carbon-zone label, topology labels
    /// through the zone map, or the configured default). `None`: unknown.
    pub grid_zone: Option<crate::zone::Zone>,
}

/// Identifies a pod across updates (the UID, so a re-created pod of the same name is new).
pub type PodUid = String;

#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub uid: PodUid,
    pub namespace: String,
    pub name: String,
    pub created: Timestamp,
    pub scheduling_gates: Vec<String>,
    pub requests: PodRequests,
    pub tolerations: Vec<Toleration>,
    pub node_selector: BTreeMap<String, String>,
    pub required_affinity: Option<NodeSelector>,
    pub host_ports: Vec<HostPort>,
    pub volume_claims: Vec<VolumeClaim>,
    /// The pod's temporal-shifting request from its annotations.
    pub deferral: DeferralRequest,
    /// `spec.nodeName`, for pods already bound (the cache's input).
    pub node_name: Option<String>,
    /// Phase Succeeded or Failed: holds no resources.
    pub terminal: bool,
}

impl PodInfo {
    /// A pod with only the fields tests and the benchmark usually care about.
    pub fn new(namespace: &str, name: &str, created: Timestamp, requests: Resources) -> Self {
        Self {
            uid: format!("{namespace}/{name}"),
            namespace: namespace.into(),
            name: name.into(),
            created,
            scheduling_gates: Vec::new(),
            requests: PodRequests::exact(requests),
            tolerations: Vec::new(),
            node_selector: BTreeMap::new(),
            required_affinity: None,
            host_ports: Vec::new(),
            volume_claims: Vec::new(),
            deferral: DeferralRequest::None,
            node_name: None,
            terminal: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(cpu: i64, mem: i64) -> ContainerRequests {
        ContainerRequests {
            requests: Resources::new(cpu, mem),
            cpu_set: true,
            memory_set: true,
            ..Default::default()
        }
    }

    fn sidecar(cpu: i64, mem: i64) -> ContainerRequests {
        ContainerRequests { restartable_init: true, ..c(cpu, mem) }
    }

    #[test]
    fn app_containers_sum_and_init_containers_take_the_max() {
        let r =
            PodRequests::compute(&[c(100, 10), c(200, 20)], &[c(500, 5), c(50, 100)], &Resources::default());
        assert_eq!(r.requests, Resources::new(500, 100));
    }

    #[test]
    fn sidecars_add_to_app_containers_and_to_later_init_containers() {
        // kube docs example shape: sidecar 100m runs with the app (200m) and with the
        // init container that starts after it (400m + 100m).
        let r = PodRequests::compute(&[c(200, 0)], &[sidecar(100, 0), c(400, 0)], &Resources::default());
        assert_eq!(r.requests.milli_cpu, 500);
        // An init container before the sidecar runs without it.
        let r = PodRequests::compute(&[c(200, 0)], &[c(250, 0), sidecar(100, 0)], &Resources::default());
        assert_eq!(r.requests.milli_cpu, 300);
    }

    #[test]
    fn overhead_is_added_and_scoring_defaults_fill_missing_requests() {
        let unset = ContainerRequests::default();
        let r = PodRequests::compute(&[unset], &[], &Resources::new(250, 1 << 20));
        assert_eq!(r.requests, Resources::new(250, 1 << 20));
        assert_eq!(r.non_zero_milli_cpu, DEFAULT_MILLI_CPU_REQUEST + 250);
        assert_eq!(r.non_zero_memory, DEFAULT_MEMORY_REQUEST + (1 << 20));
    }

    #[test]
    fn extended_resources_combine_per_name() {
        let mut gpu = c(0, 0);
        gpu.requests.set_scalar("nvidia.com/gpu", 2);
        let mut init_gpu = c(0, 0);
        init_gpu.requests.set_scalar("nvidia.com/gpu", 3);
        let r = PodRequests::compute(&[gpu.clone(), gpu], &[init_gpu], &Resources::default());
        assert_eq!(r.requests.scalar("nvidia.com/gpu"), 4);
    }

    #[test]
    fn tolerations_follow_kube_matching() {
        let t = Taint::new("dedicated", "gpu", TaintEffect::NoSchedule);
        assert!(Toleration::equal("dedicated", "gpu", None).tolerates(&t));
        assert!(Toleration::equal("dedicated", "gpu", Some(TaintEffect::NoSchedule)).tolerates(&t));
        assert!(!Toleration::equal("dedicated", "gpu", Some(TaintEffect::NoExecute)).tolerates(&t));
        assert!(!Toleration::equal("dedicated", "cpu", None).tolerates(&t));
        assert!(Toleration::exists("dedicated", None).tolerates(&t));
        assert!(Toleration::exists("", None).tolerates(&t), "empty key + Exists tolerates all");
        // kube's ToleratesTaint lets an empty key match any key even with Equal (API
        // validation forbids that combination, so it only reaches us from tests).
        assert!(Toleration::equal("", "gpu", None).tolerates(&t));
    }

    #[test]
    fn host_port_conflicts_respect_wildcard_and_protocol() {
        let any = HostPort::tcp(80);
        let ip1 = HostPort { ip: "10.0.0.1".into(), ..HostPort::tcp(80) };
        let ip2 = HostPort { ip: "10.0.0.2".into(), ..HostPort::tcp(80) };
        let udp = HostPort { protocol: Protocol::Udp, ..HostPort::tcp(80) };
        assert!(any.conflicts(&ip1) && ip1.conflicts(&any));
        assert!(!ip1.conflicts(&ip2));
        assert!(!any.conflicts(&udp));
        assert!(!any.conflicts(&HostPort::tcp(81)));
    }
}
