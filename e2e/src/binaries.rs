//! Finding the real `gridshift-hub` and `gridshift-agent` executables the fleet
//! runs as separate processes.
//!
//! Cargo builds another package's binaries only when asked, so the fleet asks:
//! once per process it runs `cargo build -p gridshift-hub -p gridshift-agent` in
//! the profile it was itself built in (a no-op when they are fresh) and takes
//! the executables from the shared target directory. `GRIDSHIFT_HUB_BIN` and
//! `GRIDSHIFT_AGENT_BIN` point at prebuilt executables instead (no build).
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[derive(Debug, Clone)]
pub struct Binaries {
    pub hub: PathBuf,
    pub agent: PathBuf,
}

impl Binaries {
    /// The executables, built first if needed. Cached for the process.
    pub fn get() -> anyhow::Result<Binaries> {
        static FOUND: OnceLock<Result<Binaries, String>> = OnceLock::new();
        FOUND.get_or_init(|| Self::find().map_err(|e| format!("{e:#}"))).clone().map_err(anyhow::Error::msg)
    }

    fn find() -> anyhow::Result<Binaries> {
        if let (Some(hub), Some(agent)) =
            (std::env::var_os("GRIDSHIFT_HUB_BIN"), std::env::var_os("GRIDSHIFT_AGENT_BIN"))
        {
            return Ok(Binaries { hub: hub.into(), agent: agent.into() });
        }
        let profile_dir = profile_dir()?;
        build(&profile_dir)?;
        let found = Binaries {
            hub: profile_dir.join(exe("gridshift-hub")),
            agent: profile_dir.join(exe("gridshift-agent")),
        };
        for path in [&found.hub, &found.agent] {
            if !path.is_file() {
                bail!("{} is missing after building it", path.display());
            }
        }
        Ok(found)
    }
}

/// `target/<profile>`: this executable lives there, or in its `deps/` (tests).
fn profile_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let dir = exe.parent().context("executable without a directory")?;
    Ok(if dir.file_name().is_some_and(|n| n == "deps") { dir.parent().unwrap_or(dir) } else { dir }
        .to_path_buf())
}

fn build(profile_dir: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?;
    let target_dir = profile_dir.parent().context("target directory")?;
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        // This package too: the same selection `cargo run -p gridshift-e2e` resolves
        // features for, so the two builds share every artifact.
        .args([
            "build",
            "--quiet",
            "-p",
            "gridshift-e2e",
            "-p",
            "gridshift-hub",
            "-p",
            "gridshift-agent",
            "--bins",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    for name in cargo_run_variables() {
        cmd.env_remove(name);
    }
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => bail!("cannot tell the cargo profile of {}", profile_dir.display()),
    }
    let status = cmd.status().context("running cargo to build gridshift-hub and gridshift-agent")?;
    if !status.success() {
        bail!("building gridshift-hub and gridshift-agent failed ({status})");
    }
    Ok(())
}

/// What `cargo run`/`cargo test` set for the running crate. Inherited by the
/// nested build, they would reach build scripts that watch them (ring reruns on
/// `CARGO_MANIFEST_DIR`), making each build invalidate the other's artifacts.
fn cargo_run_variables() -> Vec<std::ffi::OsString> {
    const SET_FOR_THE_CRATE: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| {
            name.to_str().is_some_and(|n| n.starts_with("CARGO_PKG_") || SET_FOR_THE_CRATE.contains(&n))
        })
        .collect()
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}
