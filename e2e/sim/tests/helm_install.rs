//! The Helm charts, rendered with default values, install cleanly with kubectl
//! into simulated clusters: the hub chart into a Karmada host, the agent chart
//! into a member, the Karmada-side manifests (charts/gridshift-hub/karmada/)
//! into a Karmada API server, and the samples of examples/ on top. A second
//! apply (what an upgrade does) changes nothing. helm and kubectl come from
//! e2e/tools/install-kubectl.sh (npm, cached after the first run).

use std::path::{Path, PathBuf};
use std::process::Command;

use gridshift_sim::{SimConfig, SimFleet, SimServer};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tools directory holding kubectl and helm.
fn tools() -> PathBuf {
    let out = Command::new("bash").arg(repo().join("e2e/tools/install-kubectl.sh")).output().unwrap();
    assert!(out.status.success(), "installing kubectl and helm: {}", String::from_utf8_lossy(&out.stderr));
    let kubectl = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    kubectl.parent().unwrap().to_path_buf()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn helm_template(tools: &Path, release: &str, chart: &str, namespace: &str) -> String {
    let chart = repo().join("charts").join(chart);
    run(Command::new(tools.join("helm")).args(["template", release]).arg(chart).args(["-n", namespace]))
}

/// kubectl against one simulated cluster, off the async runtime the server lives on.
async fn kubectl(tools: &Path, sim: &SimServer, args: &[&str], stdin: Option<String>) -> String {
    let dir = tempfile::tempdir().unwrap();
    sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
    let mut cmd = Command::new(tools.join("kubectl"));
    cmd.arg("--kubeconfig")
        .arg(dir.path().join("kubeconfig"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(args)
        .env("HOME", dir.path());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::Stdio;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success() && stderr.trim().is_empty(), "kubectl {cmd:?}:\n{stdout}{stderr}");
        stdout
    })
    .await
    .unwrap()
}

/// `kubectl apply -f -` (strict validation: kubectl's default) and the
/// "kind/name verb" lines it prints.
async fn apply(tools: &Path, sim: &SimServer, manifest: String) -> Vec<String> {
    let out = kubectl(tools, sim, &["apply", "--validate=strict", "-f", "-"], Some(manifest)).await;
    out.lines().map(str::to_string).collect()
}

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_installs_apply_to_simulated_clusters() {
    let tools = tools();
    let fleet = SimFleet::start(&["host", "karmada", "member"], SimConfig::default()).await.unwrap();
    let (host, karmada, member) =
        (fleet.get("host").unwrap(), fleet.get("karmada").unwrap(), fleet.get("member").unwrap());

    // Hub chart on the Karmada host.
    let hub = helm_template(&tools, "gridshift-hub", "gridshift-hub", "karmada-system");
    apply(&tools, host, namespace("karmada-system")).await;
    let lines = apply(&tools, host, hub.clone()).await;
    for expected in [
        "serviceaccount/gridshift-hub created",
        "service/gridshift-hub created",
        "service/gridshift-hub-metrics created",
        "deployment.apps/gridshift-hub created",
        "poddisruptionbudget.policy/gridshift-hub created",
    ] {
        assert!(lines.iter().any(|l| l == expected), "{expected:?} not in {lines:?}");
    }
    assert_eq!(lines.len(), 5, "{lines:?}");
    let deploy = Api::<Deployment>::namespaced(host.client().unwrap(), "karmada-system");
    let spec = deploy.get("gridshift-hub").await.unwrap().spec.unwrap().template.spec.unwrap();
    let container = &spec.containers[0];
    let args = container.args.clone().unwrap();
    assert_eq!(args[0], "serve");
    assert!(args.contains(&"--karmada-kubeconfig=/etc/gridshift/karmada/kubeconfig".to_string()), "{args:?}");
    let security = container.security_context.clone().unwrap();
    assert_eq!(
        (security.read_only_root_filesystem, security.allow_privilege_escalation),
        (Some(true), Some(false))
    );
    assert_eq!(spec.automount_service_account_token, Some(false), "the hub needs no host API access");
    let karmada_secret = spec.volumes.unwrap().into_iter().find(|v| v.name == "karmada-kubeconfig").unwrap();
    assert_eq!(karmada_secret.secret.unwrap().secret_name.as_deref(), Some("karmada-kubeconfig"));

    // Agent chart in a member (the release namespace exists: --create-namespace).
    let agent = helm_template(&tools, "gridshift-agent", "gridshift-agent", "gridshift-system");
    apply(&tools, member, namespace("gridshift-system")).await;
    let lines = apply(&tools, member, agent.clone()).await;
    assert!(lines.iter().all(|l| l.ends_with(" created")), "{lines:?}");
    assert_eq!(lines.len(), 11, "{lines:?}");
    let crds = Api::<CustomResourceDefinition>::all(member.client().unwrap());
    let crd = crds.get("carbonawarekedascalers.gridshift.io").await.unwrap();
    let established = crd.status.unwrap().conditions.unwrap().into_iter().any(|c| c.type_ == "Established");
    assert!(established, "the chart's CRD is served");
    let roles = Api::<Role>::namespaced(member.client().unwrap(), "kube-system");
    let role = roles.get("gridshift-agent-configmap").await.unwrap();
    assert_eq!(role.rules.unwrap()[0].resources.as_deref(), Some(&["configmaps".to_string()][..]));
    let cluster_role =
        Api::<ClusterRole>::all(member.client().unwrap()).get("gridshift-agent").await.unwrap();
    let binds =
        cluster_role.rules.unwrap().into_iter().any(|r| {
            r.resources.as_deref() == Some(&["pods/binding".to_string()][..]) && r.verbs == ["create"]
        });
    assert!(binds, "the scheduler may bind pods");

    // A second apply (an upgrade with unchanged values) changes nothing: the
    // cluster's resourceVersion stays. (kubectl still sends, and reports as
    // "configured", a patch for the PodDisruptionBudget: its selector's patch
    // strategy is "replace". Real API servers answer it with a no-op too.)
    for (sim, manifest) in [(host, hub), (member, agent)] {
        let before = sim.resource_version();
        let lines = apply(&tools, sim, manifest).await;
        assert!(
            lines.iter().all(|l| l.ends_with(" unchanged") || l.starts_with("poddisruptionbudget.policy/")),
            "{lines:?}"
        );
        assert_eq!(sim.resource_version(), before, "a repeated apply wrote something");
    }

    // The Karmada API server side, then the samples (Karmada's and KEDA's CRDs
    // from e2e/crds play the real ones).
    karmada.apply_dir(&repo().join("e2e/crds")).unwrap();
    member.apply_dir(&repo().join("e2e/crds")).unwrap();
    apply(&tools, karmada, namespace("karmada-system")).await;
    let crd = read("charts/gridshift-hub/karmada/crds/carbonawarekarmadapolicies.gridshift.io.yaml");
    apply(&tools, karmada, crd).await;
    let lines = apply(&tools, karmada, read("charts/gridshift-hub/karmada/rbac.yaml")).await;
    assert_eq!(lines.len(), 6, "{lines:?}");
    for file in ["examples/karmada/workload.yaml", "examples/karmada/carbonawarekarmadapolicy.yaml"] {
        let lines = apply(&tools, karmada, read(file)).await;
        assert!(lines.iter().all(|l| l.ends_with(" created")), "{file}: {lines:?}");
    }
    for file in ["examples/member/keda.yaml", "examples/member/scheduled-job.yaml"] {
        let lines = apply(&tools, member, read(file)).await;
        assert!(lines.iter().all(|l| l.ends_with(" created")), "{file}: {lines:?}");
    }
    let policy = kubectl(
        &tools,
        karmada,
        &["get", "cakp", "carbon-demo", "-o", "jsonpath={.spec.desiredClusters}"],
        None,
    );
    assert_eq!(policy.await, "1");
}
