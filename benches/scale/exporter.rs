//! The exporter under test as its own process: its generated config file, the child started on
//! a port of its choosing, and what `/proc` says of its CPU time and memory.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use atlas_snapshot_exporter::simulator::{Scenario, SimKind};

/// The release binary `cargo bench` builds (the debug one under `cargo test --bench scale`).
const BIN: &str = env!("CARGO_BIN_EXE_atlas-snapshot-exporter");

/// Requests the exporter keeps in flight, the figure the cycle-time bound divides by.
pub const MAX_CONCURRENCY: usize = 16;

/// How long the child may take to log its address.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// Writes the config: every cluster listed by hand with its kind (discovery off), so that a
/// cycle reads snapshot listings only and its requests can be counted against its pages.
/// `interval` is both the poll interval and the poll deadline (which may not exceed it):
/// cycles longer than it run back to back. The client-side rate budget is set far above what a
/// run spends, since the simulator limits nothing.
pub fn write_config(
    dir: &Path,
    scenario: &Scenario,
    base_url: &str,
    interval: Duration,
) -> std::path::PathBuf {
    let (public_key, private_key) = scenario.api_keys.first().cloned().unwrap();
    let interval = interval.as_secs().max(1);
    let mut text = format!(
        "atlas:\n  base_url: {base_url}\n  timeout: 120s\n  public_key: {public_key}\n  \
         private_key: {private_key}\n  max_concurrency: {MAX_CONCURRENCY}\n  \
         poll_deadline: {interval}s\n  \
         rate_limit: {{capacity: 1000000, refill_per_minute: 1000000}}\n\
         poll_interval: {interval}s\ndiscovery:\n  enabled: false\n  refresh_interval: 1h\n\
         projects:\n"
    );
    for project in &scenario.projects {
        writeln!(
            text,
            "  - id: {}\n    name: {}\n    clusters:",
            project.id, project.name
        )
        .unwrap();
        for cluster in &project.clusters {
            let kind = match cluster.kind {
                SimKind::Flex => "flex",
                SimKind::Dedicated => "dedicated",
                other => panic!("the scale scenario has no {other:?} clusters"),
            };
            writeln!(text, "      - name: {}\n        kind: {kind}", cluster.name).unwrap();
        }
    }
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The running exporter; killed on drop.
pub struct Running {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The `duration_seconds` of each `poll cycle finished` log line, as it is logged: how the
    /// run sees a cycle end without scraping.
    pub cycles: tokio::sync::mpsc::UnboundedReceiver<f64>,
}

impl Running {
    /// Starts the exporter on `config` and waits for the address in its `listening` log line.
    pub fn spawn(config: &Path) -> Running {
        let mut child = Command::new(BIN)
            .arg("--config.file")
            .arg(config)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .env_remove("MONGODB_ATLAS_PUBLIC_API_KEY")
            .env_remove("MONGODB_ATLAS_PRIVATE_API_KEY")
            .env_remove("MONGODB_ATLAS_CLIENT_ID")
            .env_remove("MONGODB_ATLAS_CLIENT_SECRET")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let (cycle_tx, cycles) = tokio::sync::mpsc::unbounded_channel();
        // Reads the log to its end (so the child never blocks on a full pipe) and hands over
        // the address once; warnings and errors are echoed, since they mean the run is off.
        // Until then every line is kept, to say why if the child gives up.
        std::thread::spawn(move || {
            let mut early = String::new();
            let mut listening = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(address) = logged_address(&line) {
                    listening = true;
                    let _ = tx.send(Ok(address));
                } else if let Some(took) = logged_cycle(&line) {
                    let _ = cycle_tx.send(took);
                } else if !listening {
                    early.push_str(&line);
                    early.push('\n');
                } else if line.contains("level=warn") || line.contains("level=error") {
                    eprintln!("exporter: {line}");
                }
            }
            if !listening {
                let _ = tx.send(Err(early));
            }
        });
        let address = match rx.recv_timeout(STARTUP_DEADLINE) {
            Ok(Ok(address)) => address,
            Ok(Err(log)) => panic!("the exporter exited before listening:\n{log}"),
            Err(_) => panic!("the exporter logged no address in {STARTUP_DEADLINE:?}"),
        };
        Running {
            child,
            url: format!("http://{address}"),
            cycles,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in the `atlas-snapshot-exporter listening` logfmt line.
fn logged_address(line: &str) -> Option<SocketAddr> {
    if !line.contains("atlas-snapshot-exporter listening") {
        return None;
    }
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
        .and_then(|a| a.trim_matches('"').parse().ok())
}

/// The `duration_seconds` of a `poll cycle finished` logfmt line.
fn logged_cycle(line: &str) -> Option<f64> {
    if !line.contains("poll cycle finished") {
        return None;
    }
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("duration_seconds="))
        .and_then(|d| d.parse().ok())
}

/// One reading of the child's `/proc` files.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// User plus system CPU time so far.
    pub cpu: Duration,
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`), KiB.
    pub hwm_kib: u64,
}

/// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`; 100 on Linux).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Reads utime + stime from `/proc/PID/stat` and VmRSS, VmHWM from `/proc/PID/status`.
pub fn sample(pid: u32, ticks: u64) -> Sample {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let used: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Sample {
        cpu: Duration::from_micros(used * 1_000_000 / ticks),
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    }
}
