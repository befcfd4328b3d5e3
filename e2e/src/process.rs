//! A hub or agent running as a child process: its command line kept so it can
//! be killed and started again, its output in a log file for post-mortems.
use anyhow::{Context, bail};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

pub struct ManagedProcess {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
    /// Length of the log when the current run started: its own lines follow.
    log_start: u64,
}

impl ManagedProcess {
    pub fn new(
        name: &str,
        program: &Path,
        args: Vec<OsString>,
        envs: Vec<(String, String)>,
        log: PathBuf,
    ) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args,
            envs,
            log,
            child: None,
            starts: 0,
            log_start: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// How the current run ended, if it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Replaces the value of `--flag=value` for later starts (e.g. a port the
    /// first run was given as 0 and bound, so a restart keeps it).
    pub fn set_flag(&mut self, flag: &str, value: &str) {
        let prefix = format!("{flag}=");
        let new = OsString::from(format!("{prefix}{value}"));
        match self.args.iter_mut().find(|a| a.to_str().is_some_and(|a| a.starts_with(&prefix))) {
            Some(arg) => *arg = new,
            None => self.args.push(new),
        }
    }

    /// Starts the process (appending to its log). A running one is left alone.
    pub fn start(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        self.log_start = log.metadata()?.len();
        let child = Command::new(&self.program)
            .args(&self.args)
            // A failed start must say why in the log tail, not scroll it away
            // under a backtrace when the caller's environment asks for them.
            .env("RUST_LIB_BACKTRACE", "0")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.program.display()))?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// Kills the process (SIGKILL: a crash, not a graceful stop) and reaps it.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// The last `lines` lines of the log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The log's lines since the current run started.
    fn current_log(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let start = usize::try_from(self.log_start).unwrap_or(usize::MAX).min(text.len());
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// Waits for the current run to log a line containing `message` and returns
    /// it. Fails at once, with the log's tail, if the process exits first.
    pub async fn wait_for_log(&mut self, message: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Read before checking the exit, so a line logged just before exiting counts.
            if let Some(line) = self.current_log().lines().find(|l| l.contains(message)) {
                return Ok(line.to_string());
            }
            if let Some(status) = self.exit_status() {
                bail!("{} exited ({status}) before logging {message:?}:\n{}", self.name, self.log_tail(30));
            }
            if self.child.is_none() {
                bail!("{} is not running", self.name);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{} did not log {message:?} within {timeout:?}:\n{}", self.name, self.log_tail(30));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The addresses the current run reports binding, as the `fields` of its
    /// `message` log line (`key=127.0.0.1:port`). Lets every listener bind port
    /// 0: no port is picked beforehand and lost to another process meanwhile.
    pub async fn read_addrs<const N: usize>(
        &mut self,
        message: &str,
        fields: [&str; N],
        timeout: Duration,
    ) -> anyhow::Result<[SocketAddr; N]> {
        let line = self.wait_for_log(message, timeout).await?;
        let mut addrs = [SocketAddr::from(([0, 0, 0, 0], 0)); N];
        for (addr, key) in addrs.iter_mut().zip(fields) {
            *addr = log_field(&line, key)
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("{}: no address {key}= in {line:?}", self.name))?;
        }
        Ok(addrs)
    }
}

/// The value of `key=value` in a human-format log line.
pub fn log_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|token| token.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim_matches('"'))
}

/// GET `path` on a loopback ops port (HTTP/1.0, no client library needed).
pub async fn http_get(port: u16, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    let (head, body) = body.split_once("\r\n\r\n").unwrap_or((&body, ""));
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "GET {path}: {head}"
    );
    Ok(body.to_string())
}

/// The value of one Prometheus sample (`name{labels}` exactly as exposed).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.split_whitespace().next()?.parse().ok()
    })
}
