//! Server processes (the gateway, the peer), started pinned to the server
//! core, with `RUST_BACKTRACE` removed from their environment.

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Servers this harness started and has not stopped yet, so that an
/// interrupted run does not leave them behind.
static LIVE: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn track(pid: u32) {
    if let Ok(mut live) = LIVE.lock() {
        live.push(pid);
    }
}

fn untrack(pid: u32) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|p| *p != pid);
    }
}

/// Kills every server still running (on SIGINT/SIGTERM of the harness).
pub fn kill_all() {
    let pids: Vec<u32> = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for pid in pids {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
}

/// Variables that make wasmtime capture backtraces (or are otherwise not
/// wanted in a benchmarked server).
const REMOVED_ENV: &[&str] = &[
    "RUST_BACKTRACE",
    "RUST_LIB_BACKTRACE",
    "WASMTIME_BACKTRACE_DETAILS",
];

/// How to start a server.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Program and arguments.
    pub argv: Vec<OsString>,
    /// Pin to this core with `taskset -c`.
    pub core: Option<usize>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// The command line as run (with the `taskset` prefix).
    pub fn command_line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(core) = self.core {
            parts.push(format!("taskset -c {core}"));
        }
        for a in &self.argv {
            parts.push(a.to_string_lossy().into_owned());
        }
        parts.join(" ")
    }

    fn command(&self) -> Command {
        let mut cmd = match self.core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).args(&self.argv);
                c
            }
            None => {
                let mut c = Command::new(&self.argv[0]);
                c.args(&self.argv[1..]);
                c
            }
        };
        for name in REMOVED_ENV {
            cmd.env_remove(name);
        }
        cmd.env_remove(crate::sys::PINNED_ENV);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// A running server.
pub struct Server {
    child: Child,
    /// Its pid (taskset execs the server in place).
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its own "ready in N ms", when it printed one.
    pub ready_ms: Option<u64>,
    /// From spawn to the ready line.
    pub ready_after: Duration,
    /// The command line.
    pub command_line: String,
    /// Lines it printed on stdout after the ready line (the request log,
    /// when the gateway writes one there).
    pub stdout_lines: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Parses `… serving … on http[s]://ADDR (ready in N ms)` (only a
/// `serving` line: another address, e.g. a metrics listener, is not the
/// server's).
fn parse_ready(line: &str) -> Option<(SocketAddr, Option<u64>)> {
    if !line.contains("serving") {
        return None;
    }
    let i = line.find(" on http")?;
    let url = line[i + 4..].split_whitespace().next()?;
    let addr = url.split_once("://")?.1.trim_end_matches('/');
    let addr: SocketAddr = addr.parse().ok()?;
    let ready = line
        .split_once("(ready in ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    Some((addr, ready))
}

/// Starts a server and waits for its ready line on stdout; stderr goes to
/// `log`.
pub fn start(launch: &Launch, log: &Path) -> Result<Server> {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let started = Instant::now();
    let mut child = launch
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {}", launch.command_line()))?;
    track(child.id());
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more; keep draining so the server never blocks.
                continue;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(line) => {
                if let Some((addr, ready_ms)) = parse_ready(&line) {
                    let ready_after = started.elapsed();
                    let stdout_lines = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
                    let counter = stdout_lines.clone();
                    std::thread::spawn(move || {
                        while rx.recv().is_ok() {
                            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    });
                    return Ok(Server {
                        pid: child.id(),
                        child,
                        addr,
                        ready_ms,
                        ready_after,
                        command_line: launch.command_line(),
                        stdout_lines,
                    });
                }
                seen.push(line);
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not become ready (see {}); it printed: {seen:#?}",
                    launch.command_line(),
                    log.display()
                );
            }
        }
    }
}

/// Starts a server without waiting for anything (cold start measures the
/// first answered request instead).
pub fn spawn(launch: &Launch, log: &Path) -> Result<Child> {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let stdout = stderr.try_clone()?;
    let child = launch
        .command()
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()?;
    track(child.id());
    Ok(child)
}

/// Stops a process: SIGTERM, then SIGKILL after `grace`.
pub fn stop_child(child: &mut Child, grace: Duration) {
    untrack(child.id());
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Server {
    /// Stops the server.
    pub fn stop(mut self) {
        stop_child(&mut self.child, Duration::from_secs(5));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        untrack(self.pid);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines_parse() {
        let (a, r) = parse_ready(
            "carehub: serving 3 component(s) on https://127.0.0.1:4431 (ready in 42 ms)",
        )
        .unwrap();
        assert_eq!(a.port(), 4431);
        assert_eq!(r, Some(42));
        let (a, r) = parse_ready("peer: serving on http://127.0.0.1:80").unwrap();
        assert_eq!(a.port(), 80);
        assert_eq!(r, None);
        assert!(parse_ready("carehub:   /api/read/... -> read").is_none());
        assert!(parse_ready("carehub: metrics on http://127.0.0.1:9464").is_none());
    }
}
