//! A hub or agent running as a child process: its command line kept so it can
//! be killed and started again, its output in a log file for post-mortems and
//! followed line by line, so callers wait on what it logs rather than poll.
use anyhow::{Context, bail};
use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

pub struct ManagedProcess {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    /// What the current run has written.
    output: Option<watch::Receiver<Output>>,
}

/// A run's output so far. Both pipes closed means the process has exited.
#[derive(Debug)]
struct Output {
    text: String,
    open_pipes: u8,
}

impl ManagedProcess {
    pub fn new(
        name: &str,
        program: &Path,
        args: Vec<OsString>,
        envs: Vec<(String, String)>,
        log: PathBuf,
    ) -> Self {
        Self { name: name.into(), program: program.into(), args, envs, log, child: None, output: None }
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

    /// Whether the current run has closed its output, i.e. exited.
    pub fn has_exited(&self) -> bool {
        self.output.as_ref().is_some_and(|o| o.borrow().open_pipes == 0)
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
        let mut child = Command::new(&self.program)
            .args(&self.args)
            // A failed start must say why in the log tail, not scroll it away
            // under a backtrace when the caller's environment asks for them.
            .env("RUST_LIB_BACKTRACE", "0")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.program.display()))?;
        let (tx, rx) = watch::channel(Output { text: String::new(), open_pipes: 2 });
        let stdout = child.stdout.take().context("child stdout")?;
        let stderr = child.stderr.take().context("child stderr")?;
        tokio::spawn(copy_lines(stdout, log.try_clone()?, tx.clone()));
        tokio::spawn(copy_lines(stderr, log, tx));
        self.child = Some(child);
        self.output = Some(rx);
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

    /// Waits for the current run to log a line containing `message` and returns
    /// it. Fails at once, with the log's tail, if the process exits first.
    pub async fn wait_for_log(&mut self, message: &str, timeout: Duration) -> anyhow::Result<String> {
        let mut output = self.output.clone().with_context(|| format!("{} was never started", self.name))?;
        let timed_out =
            tokio::time::timeout(timeout, output.wait_for(|o| o.text.contains(message) || o.open_pipes == 0))
                .await
                .is_err();
        if let Some(line) = output.borrow().text.lines().find(|l| l.contains(message)) {
            return Ok(line.to_string());
        }
        if timed_out {
            bail!("{} did not log {message:?} within {timeout:?}:\n{}", self.name, self.log_tail(30));
        }
        let status = match self.child.as_mut() {
            Some(child) => child.wait().await.map_or_else(|e| e.to_string(), |s: ExitStatus| s.to_string()),
            None => "killed".into(),
        };
        bail!("{} exited ({status}) before logging {message:?}:\n{}", self.name, self.log_tail(30))
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

/// Appends each line of `pipe` to the log file and to the run's output.
async fn copy_lines(pipe: impl AsyncRead + Unpin, mut log: std::fs::File, output: watch::Sender<Output>) {
    let mut pipe = BufReader::new(pipe);
    let mut line = Vec::new();
    while matches!(pipe.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        // One small append per line (O_APPEND keeps the two pipes' lines whole);
        // a local file write does not stall the runtime.
        let _ = log.write_all(&line);
        output.send_modify(|o| o.text.push_str(&String::from_utf8_lossy(&line)));
        line.clear();
    }
    output.send_modify(|o| o.open_pipes -= 1);
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
