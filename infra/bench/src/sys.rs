//! The machine, pinning and CPU accounting, from `/proc`.

use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What the figures were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Online processors (`/proc/cpuinfo` entries; `nproc` before pinning).
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `cpu MHz` of the first processor, as reported.
    pub cpu_mhz: String,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// Total memory, from `/proc/meminfo`.
    pub mem_total: String,
    /// `rustc --version`, if on the path.
    pub rustc: String,
}

fn first_field(text: &str, key: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// Reads the machine description.
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Machine {
        nproc: cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count(),
        cpu_model: first_field(&cpuinfo, "model name"),
        cpu_mhz: first_field(&cpuinfo, "cpu MHz"),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        mem_total: first_field(&meminfo, "MemTotal"),
        rustc: Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default(),
    }
}

/// `Cpus_allowed_list` of a process (`self` or a pid).
pub fn allowed_cpus(pid: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    first_field(&status, "Cpus_allowed_list")
}

/// Clock ticks per second for `/proc/<pid>/stat` times.
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// User + system CPU time of a process (all its threads, living and
/// exited), in seconds.
pub fn cpu_seconds(pid: &str, ticks: u64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is 3rd.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line, 12 and 13 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / ticks as f64)
}

/// Whether a variable is set in a process's environment.
pub fn env_has(pid: u32, name: &str) -> Option<bool> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    Some(
        environ
            .split(|b| *b == 0)
            .any(|kv| kv.starts_with(prefix.as_bytes())),
    )
}

/// Whether `taskset` is available.
pub fn have_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Marks that this process already runs under the requested pinning.
pub const PINNED_ENV: &str = "CAREHUB_BENCH_PINNED";

/// Re-executes this program under `taskset -c <core>` (once), so that the
/// load generator and every thread it starts stay on that core.
pub fn pin_self(core: usize) -> Result<()> {
    if std::env::var_os(PINNED_ENV).is_some() {
        return Ok(());
    }
    let exe = std::env::current_exe().context("locating the benchmark binary")?;
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    use std::os::unix::process::CommandExt as _;
    let err = Command::new("taskset")
        .arg("-c")
        .arg(core.to_string())
        .arg(&exe)
        .args(&args)
        .env(PINNED_ENV, core.to_string())
        .exec();
    Err(anyhow::Error::from(err).context("re-executing under taskset"))
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Size of a file or directory tree, in bytes.
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| disk_usage(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// Busy and total jiffies of one core, from `/proc/stat`.
pub fn core_jiffies(core: usize) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{core} ");
    let line = stat.lines().find(|l| l.starts_with(&name))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle and iowait are the 4th and 5th.
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// `/proc/loadavg`, first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Pids of the living children of `ppid` (PostgreSQL's backends are the
/// postmaster's children), from `/proc/<pid>/stat`.
pub fn children(ppid: u32) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = &stat[stat.rfind(')')? + 2..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(ppid)
        })
        .collect()
}

/// The processes whose CPU time counts as the server's: `pids` and the
/// children of each of `parents`, as pid → CPU seconds.
pub fn server_cpu(pids: &[u32], parents: &[u32], ticks: u64) -> BTreeMap<u32, f64> {
    let mut all: Vec<u32> = pids.iter().chain(parents).copied().collect();
    for p in parents {
        all.extend(children(*p));
    }
    all.into_iter()
        .filter_map(|pid| Some((pid, cpu_seconds(&pid.to_string(), ticks)?)))
        .collect()
}

/// CPU seconds spent between two [`server_cpu`] samples (a process that
/// started in between counts from zero; one that ended is lost).
pub fn cpu_between(before: &BTreeMap<u32, f64>, after: &BTreeMap<u32, f64>) -> Option<f64> {
    if after.is_empty() {
        return None;
    }
    Some(
        after
            .iter()
            .map(|(pid, t)| t - before.get(pid).copied().unwrap_or(0.0))
            .sum(),
    )
}
