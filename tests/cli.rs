//! The binary from the outside: commands, exit codes, signals, and what reaches stdout/stderr.

// Tests and their fixtures may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use atlas_snapshot_exporter::simulator::{
    Fault, HistoryOptions, Scenario, SimCluster, SimKind, SimProject, Simulator, daily_history,
};
use common::{cluster, exposition, loopback};

const BIN: &str = env!("CARGO_BIN_EXE_atlas-snapshot-exporter");
const P1: &str = "5b69d0349b15c62cdfc38b78";
const KEY: &str = "clipublickey";
const SECRET: &str = "Zq8-very-secret-private-key-77";

fn exporter() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("MONGODB_ATLAS_PUBLIC_API_KEY")
        .env_remove("MONGODB_ATLAS_PRIVATE_API_KEY")
        .env_remove("MONGODB_ATLAS_CLIENT_ID")
        .env_remove("MONGODB_ATLAS_CLIENT_SECRET");
    c
}

fn scenario() -> Scenario {
    let now = jiff::Timestamp::now();
    Scenario::new().with_api_key(KEY, SECRET).with_project(
        SimProject::new(P1, "prod")
            .with_cluster(
                SimCluster::new("orders", SimKind::Flex).with_snapshots(daily_history(
                    1,
                    now,
                    8,
                    HistoryOptions::default(),
                )),
            )
            .with_cluster(
                SimCluster::new("broken", SimKind::Flex)
                    .with_snapshots(daily_history(2, now, 8, HistoryOptions::default()))
                    .with_fault(Fault::ServerError),
            ),
    )
}

fn write_config(
    dir: &Path,
    base_url: &str,
    private_key: &str,
    clusters: &[&str],
) -> std::path::PathBuf {
    let clusters: String = clusters
        .iter()
        .map(|c| format!("      - name: {c}\n        kind: flex\n"))
        .collect();
    let text = format!(
        "atlas:\n  base_url: {base_url}\n  timeout: 5s\n  public_key: {KEY}\n  private_key: {private_key}\npoll_interval: 1h\nprojects:\n  - id: {P1}\n    name: prod\n    clusters:\n{clusters}"
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// How long a child may take to say where it listens, on a loaded CI machine.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// One output stream of a child, read line by line on a thread: each line is handed over as
/// it comes, and the whole text is kept for when the child has exited.
struct Lines {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    reader: JoinHandle<String>,
}

impl Lines {
    fn read(stream: impl Read + Send + 'static) -> Lines {
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        Lines { lines, reader }
    }

    /// Waits for the first line that `find` picks something out of.
    async fn find<T>(&mut self, what: &str, find: impl Fn(&str) -> Option<T>) -> T {
        let mut seen = String::new();
        let deadline = tokio::time::Instant::now() + STARTUP_DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    if let Some(found) = find(&line) {
                        return found;
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Ok(None) => panic!("the output ended without {what}:\n{seen}"),
                Err(_) => panic!("no {what} within {STARTUP_DEADLINE:?}:\n{seen}"),
            }
        }
    }

    /// Everything the stream carried; call once the child has exited.
    fn all(self) -> String {
        self.reader.join().unwrap()
    }
}

/// The address in the exporter's `atlas-snapshot-exporter listening` log line, logfmt or JSON.
fn logged_address(line: &str) -> Option<SocketAddr> {
    if !line.contains("atlas-snapshot-exporter listening") {
        return None;
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line) {
        return json["address"].as_str()?.parse().ok();
    }
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
        .and_then(|a| a.trim_matches('"').parse().ok())
}

/// Kills the child on drop so that a failed assertion leaves no process behind.
struct Running {
    child: Child,
    url: String,
    stdout: Option<Lines>,
    stderr: Option<Lines>,
}

impl Running {
    /// Spawns the exporter with `args` on `127.0.0.1:0` and waits for the address it logs.
    async fn spawn(args: &[&str], scheme: &str) -> Running {
        let mut child = exporter()
            .args(args)
            .args(["--web.listen-address", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Lines::read(child.stdout.take().unwrap());
        let mut stderr = Lines::read(child.stderr.take().unwrap());
        let address = stderr.find("listening address", logged_address).await;
        assert_ne!(address.port(), 0);
        Running {
            child,
            url: format!("{scheme}://{address}"),
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts the exporter on a loopback port of its choosing and waits until /-/ready answers 200.
async fn start_exporter(args: &[&str]) -> Running {
    let running = Running::spawn(args, "http").await;
    wait_ready(&running.url).await;
    running
}

async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = reqwest::get(format!("{url}/-/ready")).await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "the exporter never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_text(url: impl reqwest::IntoUrl) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

async fn scrape(url: &str) -> exposition::Scrape {
    let text = get_text(format!("{url}/metrics")).await;
    exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn stop_and_collect(mut running: Running) -> (std::process::ExitStatus, Duration, String, String) {
    signal(&running.child, "TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    let out = running.stdout.take().map(Lines::all).unwrap_or_default();
    let err = running.stderr.take().map(Lines::all).unwrap_or_default();
    (status, took, out, err)
}

#[test]
fn check_accepts_the_example_config() {
    let out = exporter()
        .args(["check", "--config.file", "config.example.yaml"])
        .env("MONGODB_ATLAS_PUBLIC_API_KEY", "abcdefgh")
        .env(
            "MONGODB_ATLAS_PRIVATE_API_KEY",
            "11111111-2222-3333-4444-555555555555",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "config.example.yaml: OK (2 projects, 3 clusters listed)\n"
    );
}

#[test]
fn check_lists_every_problem_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "atlas:\n  timeout: soon\npoll_intervall: 1m\nprojects:\n  - id: nothex\n    clusters:\n      - name: -bad\n",
    )
    .unwrap();
    let out = exporter()
        .args(["check", "--config.file"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    for needle in [
        format!("{file}: atlas.timeout: "),
        format!("{file}: poll_intervall: unknown key"),
        format!("{file}: projects[0].id: invalid project id"),
        format!("{file}: projects[0].clusters[0].name: "),
        format!("{file}: atlas: no credentials"),
    ] {
        assert!(stderr.contains(&needle), "missing {needle:?} in:\n{stderr}");
    }
    assert!(out.stdout.is_empty());
}

#[test]
fn the_exporter_refuses_to_start_with_a_bad_config() {
    let out = exporter()
        .args([
            "--config.file",
            "/nonexistent/config.yaml",
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/config.yaml"));
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_serves_the_contract_metrics_and_stops_cleanly_on_sigterm() {
    let mut running = Running::spawn(&["demo"], "http").await;
    // The demo prints where its metrics are: where it logs that it listens.
    let url = running
        .stdout
        .as_mut()
        .unwrap()
        .find("the metrics URL", |line| {
            line.trim()
                .strip_prefix("metrics:")
                .map(|url| url.trim().to_owned())
        })
        .await;
    assert_eq!(url, format!("{}/metrics", running.url));
    wait_ready(&running.url).await;
    let m = scrape(&running.url).await;
    for family in [
        "atlas_snapshot_cluster_info",
        "atlas_snapshot_snapshots",
        "atlas_snapshot_latest_status",
        "atlas_snapshot_latest_completed_timestamp_seconds",
        "atlas_snapshot_latest_completed_age_seconds",
        "atlas_snapshot_latest_completed_duration_seconds",
        "atlas_snapshot_oldest_completed_timestamp_seconds",
        "atlas_snapshot_failures_total",
        "atlas_snapshot_target_up",
        "atlas_snapshot_target_last_success_timestamp_seconds",
        "atlas_snapshot_target_poll_duration_seconds",
        "atlas_snapshot_target_errors_total",
        "atlas_snapshot_exporter_api_requests_total",
        "atlas_snapshot_exporter_api_request_duration_seconds_bucket",
        "atlas_snapshot_exporter_poll_cycle_duration_seconds",
        "atlas_snapshot_exporter_last_poll_cycle_timestamp_seconds",
        "atlas_snapshot_exporter_config_last_reload_successful",
        "atlas_snapshot_exporter_config_last_reload_success_timestamp_seconds",
        "atlas_snapshot_exporter_build_info",
        "process_resident_memory_bytes",
    ] {
        assert!(m.has(family, &[]), "the demo scrape lacks {family}");
    }
    let up: Vec<f64> = m
        .all("atlas_snapshot_target_up", &[])
        .iter()
        .map(|s| s.value)
        .collect();
    assert!(
        up.contains(&1.0) && up.contains(&0.0),
        "healthy and erroring clusters: {up:?}"
    );
    assert!(
        m.all("atlas_snapshot_latest_status", &[("status", "FAILED")])
            .iter()
            .any(|s| s.value == 1.0)
    );

    let (status, took, _, _) = stop_and_collect(running);
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_reach_logs_metrics_or_the_landing_page() {
    let sim = Simulator::start(scenario(), loopback()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A wrong key first: every failure path logs, and none may show the key.
    let wrong = "Wr0ng-but-still-secret-key-123";
    let config = write_config(dir.path(), &sim.base_url(), wrong, &["orders", "broken"]);
    let running = start_exporter(&[
        "--config.file",
        config.to_str().unwrap(),
        "--log.level",
        "debug",
    ])
    .await;
    let m = scrape(&running.url).await;
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "orders")),
        Some(0.0)
    );
    let landing = get_text(&running.url).await;
    let metrics = get_text(format!("{}/metrics", running.url)).await;
    let (_, _, out, err) = stop_and_collect(running);
    assert!(err.contains("poll failed"), "{err}");
    assert!(err.contains("reason=unauthorized"), "{err}");
    for text in [&landing, &metrics, &out, &err] {
        assert!(!text.contains(wrong), "the private key leaked:\n{text}");
    }

    // The right key, with the JSON log format.
    let config = write_config(dir.path(), &sim.base_url(), SECRET, &["orders", "broken"]);
    let running = start_exporter(&[
        "--config.file",
        config.to_str().unwrap(),
        "--log.level",
        "debug",
        "--log.format",
        "json",
    ])
    .await;
    let m = scrape(&running.url).await;
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "orders")),
        Some(1.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "broken")),
        Some(0.0)
    );
    let landing = get_text(&running.url).await;
    let metrics = get_text(format!("{}/metrics", running.url)).await;
    let (_, _, out, err) = stop_and_collect(running);
    let failure = err
        .lines()
        .find(|l| l.contains("poll failed"))
        .unwrap_or_else(|| panic!("no poll failure logged:\n{err}"));
    let line: serde_json::Value = serde_json::from_str(failure).unwrap();
    assert_eq!(line["cluster_name"], "broken");
    assert_eq!(line["project_id"], P1);
    assert_eq!(line["reason"], "server_error");
    assert_eq!(line["http_status"], 500);
    assert_eq!(line["error_code"], "UNEXPECTED_ERROR");
    assert!(line["detail"].is_string());
    for text in [&landing, &metrics, &out, &err] {
        assert!(!text.contains(SECRET), "the private key leaked:\n{text}");
    }
}

/// Opens a FIFO for writing on a thread of its own (that blocks until the reader opens it) and
/// writes `text` into it once it has; `None` when no reader came within the deadline.
async fn feed_fifo(fifo_path: &Path, text: String) -> Option<()> {
    let fifo = fifo_path.to_owned();
    let opened = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new().write(true).open(fifo)?;
        w.write_all(text.as_bytes())
    });
    tokio::pin!(opened);
    match tokio::time::timeout(STARTUP_DEADLINE, &mut opened).await {
        Ok(joined) => {
            // A reader that died halfway makes the write fail: the caller sees it die.
            let _ = joined.unwrap();
            Some(())
        }
        Err(_) => {
            // Be the reader ourselves, so that the writer thread ends and the test can too.
            let _ = std::fs::File::open(fifo_path);
            let _ = opened.await;
            None
        }
    }
}

/// The exporter is held in its startup by its config file, a FIFO that the test feeds: SIGHUPs
/// sent while it waits there (before the config is read, the port bound or anything served)
/// neither kill it nor get lost: it starts, and reloads the config once.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sighups_during_startup_neither_kill_the_exporter_nor_get_lost() {
    let sim = Simulator::start(scenario(), loopback()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(write_config(
        dir.path(),
        &sim.base_url(),
        SECRET,
        &["orders"],
    ))
    .unwrap();
    let text_for_writer = text.clone();
    let fifo = dir.path().join("held.yaml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );

    let mut child = exporter()
        .args(["--config.file", fifo.to_str().unwrap()])
        .args(["--web.listen-address", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = Lines::read(child.stdout.take().unwrap());
    let stderr = Lines::read(child.stderr.take().unwrap());
    let mut running = Running {
        child,
        url: String::new(),
        stdout: Some(stdout),
        stderr: Some(stderr),
    };

    // The FIFO opens for the test's writer once the exporter has opened it to read its config:
    // from then until the writer has written, the exporter is held in its startup. (A signal
    // sent before the process reaches `main` kills any process: the test starts signalling
    // at the earliest point it can see from outside.)
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let path = fifo.clone();
    let writer = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new().write(true).open(path)?;
        let _ = opened_tx.send(());
        let _ = release_rx.blocking_recv();
        w.write_all(text_for_writer.as_bytes())
    });
    if tokio::time::timeout(STARTUP_DEADLINE, opened_rx)
        .await
        .is_err()
    {
        let _ = std::fs::File::open(&fifo);
        panic!("the exporter never opened its config file");
    }
    for _ in 0..5 {
        signal(&running.child, "HUP");
    }
    let _ = release_tx.send(());
    // A reader killed halfway makes the write fail: the exporter's death shows below.
    let _ = writer.await.unwrap();
    for _ in 0..5 {
        signal(&running.child, "HUP");
    }
    let address = running
        .stderr
        .as_mut()
        .unwrap()
        .find("listening address", logged_address)
        .await;
    running.url = format!("http://{address}");

    // The SIGHUPs of the startup were kept: one reload reads the FIFO again.
    assert!(
        feed_fifo(&fifo, text).await.is_some(),
        "the SIGHUPs sent during startup were lost: no reload read the config"
    );
    wait_ready(&running.url).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = scrape(&running.url).await;
        if m.get("atlas_snapshot_exporter_config_last_reload_successful", &[]) == Some(1.0)
            && m.has("atlas_snapshot_target_up", &cluster(P1, "orders"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no successful reload and poll");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(running.child.try_wait().unwrap().is_none(), "still running");
    let (status, _, _, err) = stop_and_collect(running);
    assert!(status.success(), "{status}\n{err}");
    assert!(err.contains("config reloaded"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_and_the_reload_endpoint_apply_a_new_config_and_reject_a_bad_one() {
    let sim = Simulator::start(scenario(), loopback()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url(), SECRET, &["orders", "broken"]);
    let running = start_exporter(&[
        "--config.file",
        config.to_str().unwrap(),
        "--web.enable-lifecycle",
    ])
    .await;
    assert!(
        scrape(&running.url)
            .await
            .has("atlas_snapshot_cluster_info", &cluster(P1, "broken"))
    );

    // SIGHUP with one cluster removed: it leaves /metrics entirely.
    write_config(dir.path(), &sim.base_url(), SECRET, &["orders"]);
    signal(&running.child, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = scrape(&running.url).await;
        if !m.has("atlas_snapshot_cluster_info", &cluster(P1, "broken")) {
            assert!(!m.has("atlas_snapshot_target_errors_total", &cluster(P1, "broken")));
            assert!(m.has("atlas_snapshot_cluster_info", &cluster(P1, "orders")));
            assert_eq!(
                m.get("atlas_snapshot_exporter_config_last_reload_successful", &[]),
                Some(1.0)
            );
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A broken file: the reload fails, the running config stays.
    std::fs::write(&config, "projects: nope\n").unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/-/reload", running.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let body = r.text().await.unwrap();
    assert!(body.contains("projects"), "{body}");
    let m = scrape(&running.url).await;
    assert_eq!(
        m.get("atlas_snapshot_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert!(m.has("atlas_snapshot_cluster_info", &cluster(P1, "orders")));
    assert_eq!(
        client
            .get(format!("{}/-/reload", running.url))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );

    // Fixed again through the endpoint.
    write_config(dir.path(), &sim.base_url(), SECRET, &["orders", "broken"]);
    let r = client
        .post(format!("{}/-/reload", running.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = scrape(&running.url).await;
        if m.has("atlas_snapshot_target_up", &cluster(P1, "broken")) {
            assert_eq!(
                m.get("atlas_snapshot_exporter_config_last_reload_successful", &[]),
                Some(1.0)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reload did not poll the new cluster"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_lifecycle_flag_the_reload_endpoint_is_403_and_sighup_still_reloads() {
    let sim = Simulator::start(scenario(), loopback()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url(), SECRET, &["orders", "broken"]);
    let running = start_exporter(&["--config.file", config.to_str().unwrap()]).await;
    write_config(dir.path(), &sim.base_url(), SECRET, &["orders"]);
    let client = reqwest::Client::new();
    for method in [reqwest::Method::POST, reqwest::Method::PUT] {
        let r = client
            .request(method, format!("{}/-/reload", running.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(r.text().await.unwrap(), "Lifecycle API is not enabled.\n");
    }
    assert!(
        scrape(&running.url)
            .await
            .has("atlas_snapshot_cluster_info", &cluster(P1, "broken")),
        "nothing reloaded"
    );
    signal(&running.child, "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while scrape(&running.url)
        .await
        .has("atlas_snapshot_cluster_info", &cluster(P1, "broken"))
    {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_probe_prints_a_table_and_fails_when_a_target_fails() {
    let sim = Simulator::start(scenario(), loopback()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url(), SECRET, &["orders", "broken"]);
    let out = tokio::task::spawn_blocking(move || {
        exporter()
            .args(["check", "--probe", "--config.file"])
            .arg(&config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let orders = stdout.lines().find(|l| l.contains("orders")).unwrap();
    assert!(
        orders.contains(" ok ") && orders.contains("COMPLETED"),
        "{orders}"
    );
    let broken = stdout.lines().find(|l| l.contains("broken")).unwrap();
    assert!(
        broken.contains("FAIL") && broken.contains("server_error"),
        "{broken}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_list_and_get_read_every_page_and_print_table_or_json() {
    let now = jiff::Timestamp::now();
    let history = daily_history(3, now, 520, HistoryOptions::default());
    let newest = history[0].id.clone();
    let scenario = Scenario::new().with_api_key(KEY, SECRET).with_project(
        SimProject::new(P1, "prod")
            .with_cluster(SimCluster::new("orders", SimKind::Flex).with_snapshots(history)),
    );
    let sim = Simulator::start(scenario, loopback()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url(), SECRET, &["orders"]);
    let run = move |args: Vec<String>| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || {
            exporter()
                .arg("--config.file")
                .arg(&config)
                .args(args)
                .output()
                .unwrap()
        })
    };
    let args = |extra: &[&str]| -> Vec<String> {
        ["snapshots"]
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect()
    };

    let out = run(args(&[
        "list",
        "--project",
        P1,
        "--cluster",
        "orders",
        "--output",
        "json",
    ]))
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["kind"], "flex", "auto resolved to flex");
    let snaps = json["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 520, "both pages");
    assert_eq!(snaps[0]["id"], newest.as_str(), "newest first");
    assert_eq!(snaps[0]["status"], "COMPLETED");

    let out = run(args(&[
        "list",
        "--project",
        P1,
        "--cluster",
        "orders",
        "--kind",
        "flex",
    ]))
    .await
    .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("ID "), "{table}");
    assert_eq!(table.lines().count(), 521);

    let out = run(args(&[
        "get",
        "--project",
        P1,
        "--cluster",
        "orders",
        "--kind",
        "flex",
        "--id",
        &newest,
        "--output",
        "json",
    ]))
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["snapshot"]["id"], newest.as_str());

    let missing = "0123456789abcdef01234567";
    let out = run(args(&[
        "get",
        "--project",
        P1,
        "--cluster",
        "orders",
        "--kind",
        "flex",
        "--id",
        missing,
    ]))
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));

    let out = run(args(&[
        "list",
        "--project",
        "nothex",
        "--cluster",
        "orders",
    ]))
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_config_serves_tls_with_basic_auth_and_reloads_with_the_config() {
    let sim = Simulator::start(scenario(), loopback()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url(), SECRET, &["orders"]);
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    let web = dir.path().join("web.yml");
    let write_web = |password: &str| {
        let hash = bcrypt::hash(password, 4).unwrap();
        std::fs::write(
            &web,
            format!(
                "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  prometheus: {hash}\n"
            ),
        )
        .unwrap();
    };
    write_web("first-password");

    let running = Running::spawn(
        &[
            "--config.file",
            config.to_str().unwrap(),
            "--web.config.file",
            web.to_str().unwrap(),
            "--web.enable-lifecycle",
        ],
        "https",
    )
    .await;
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let https = reqwest::Client::builder()
        .tls_certs_only([root])
        .build()
        .unwrap();
    let get = |path: &str, password: Option<&str>| {
        let mut r = https.get(format!("{}{path}", running.url));
        if let Some(p) = password {
            r = r.basic_auth("prometheus", Some(p));
        }
        r.send()
    };

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = get("/-/ready", Some("first-password")).await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "never ready over TLS");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let denied = get("/metrics", None).await.unwrap();
    assert_eq!(denied.status(), 401);
    assert!(
        denied.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(denied.headers()["x-frame-options"], "deny");
    assert_eq!(get("/metrics", Some("wrong")).await.unwrap().status(), 401);
    let ok = get("/metrics", Some("first-password")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-frame-options"], "deny");
    assert!(
        reqwest::get(format!(
            "{}/-/healthy",
            running.url.replacen("https://", "http://", 1)
        ))
        .await
        .is_err(),
        "plain HTTP is not served"
    );

    // A reload picks up the web config too: the old password stops working.
    write_web("second-password");
    let reload = https
        .post(format!("{}/-/reload", running.url))
        .basic_auth("prometheus", Some("first-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    assert_eq!(
        get("/metrics", Some("first-password"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        get("/metrics", Some("second-password"))
            .await
            .unwrap()
            .status(),
        200
    );

    // A broken web config fails the reload and keeps the running one.
    std::fs::write(&web, "basic_auth_users:\n  prometheus: not-a-hash\n").unwrap();
    let reload = https
        .post(format!("{}/-/reload", running.url))
        .basic_auth("prometheus", Some("second-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 500);
    let body = reload.text().await.unwrap();
    assert!(!body.contains("second-password"), "{body}");
    assert_eq!(
        get("/metrics", Some("second-password"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn check_warns_about_tenant_on_v2_but_still_passes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.yaml");
    std::fs::write(
        &path,
        "projects:\n  - id: 5b69d0349b15c62cdfc38b78\n    clusters:\n      - name: M2AWS\n        kind: tenant\n      - name: Cluster0\n        kind: dedicated\n",
    )
    .unwrap();
    let out = exporter()
        .args(["check", "--config.file"])
        .arg(&path)
        .env("MONGODB_ATLAS_PUBLIC_API_KEY", "abcdefgh")
        .env(
            "MONGODB_ATLAS_PRIVATE_API_KEY",
            "11111111-2222-3333-4444-555555555555",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let warning = warnings[0];
    for needle in [
        "projects[0].clusters[0].kind",
        "sunset on 2026-01-22",
        "use kind: flex (or auto)",
        "M2AWS",
    ] {
        assert!(warning.contains(needle), "missing {needle:?} in {warning}");
    }
}

#[test]
fn check_does_not_warn_about_tenant_on_v1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant-v1.yaml");
    std::fs::write(
        &path,
        "atlas:\n  api_version: v1.0\nprojects:\n  - id: 5b69d0349b15c62cdfc38b78\n    clusters:\n      - name: M2AWS\n        kind: tenant\n",
    )
    .unwrap();
    let out = exporter()
        .args(["check", "--config.file"])
        .arg(&path)
        .env("MONGODB_ATLAS_PUBLIC_API_KEY", "abcdefgh")
        .env(
            "MONGODB_ATLAS_PRIVATE_API_KEY",
            "11111111-2222-3333-4444-555555555555",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

#[tokio::test(flavor = "multi_thread")]
async fn log_level_debug_logs_each_atlas_request_and_info_does_not() {
    let sim = Simulator::start(scenario(), loopback()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url(), SECRET, &["orders", "broken"]);
    let config = config.to_str().unwrap();

    let running = start_exporter(&["--config.file", config, "--log.level", "debug"]).await;
    let (_, _, _, err) = stop_and_collect(running);
    let requests: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("message=\"atlas request\""))
        .collect();
    let orders = format!("path=/api/atlas/v2/groups/{P1}/flexClusters/orders/backup/snapshots ");
    let line = requests
        .iter()
        .find(|l| l.contains(&orders) && l.contains("http_status=200"))
        .unwrap_or_else(|| panic!("no request line for orders:\n{err}"));
    for field in [
        "level=debug",
        "method=GET",
        "endpoint=list_flex_snapshots",
        "page=1",
        "duration_seconds=",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    assert!(
        requests
            .iter()
            .any(|l| l.contains("flexClusters/broken/") && l.contains("http_status=500")),
        "the failing cluster's request is logged too:\n{err}"
    );
    for secret in [
        SECRET,
        "Authorization",
        "authorization",
        "Digest username",
        "cnonce",
    ] {
        assert!(!err.contains(secret), "{secret} reached the log:\n{err}");
    }

    let running = start_exporter(&["--config.file", config, "--log.level", "info"]).await;
    let (_, _, _, err) = stop_and_collect(running);
    assert!(err.contains("poll failed"), "the info run polled:\n{err}");
    assert!(!err.contains("atlas request"), "{err}");
    assert!(!err.contains("level=debug"), "{err}");
}

#[test]
fn check_names_the_shard_and_each_shard_flag_wins_over_the_file() {
    let check = |extra: &[&str], env: &[(&str, &str)]| {
        let mut command = exporter();
        command
            .args([
                "check",
                "--config.file",
                "tests/testdata/config/good_shard.yaml",
            ])
            .args(extra)
            .env("MONGODB_ATLAS_PUBLIC_API_KEY", "abcdefgh")
            .env("MONGODB_ATLAS_PRIVATE_API_KEY", "not-a-real-key")
            .env_remove("ATLAS_SNAPSHOT_EXPORTER_SHARD_INDEX")
            .env_remove("ATLAS_SNAPSHOT_EXPORTER_SHARD_COUNT");
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let out = check(&[], &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("; shard 2 of 3 polls "), "{stdout}");

    let out = check(&["--shard.count", "5"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("; shard 2 of 5 polls "));

    let out = check(
        &["--shard.count", "2"],
        &[("ATLAS_SNAPSHOT_EXPORTER_SHARD_INDEX", "1")],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("; shard 1 of 2 polls "));

    let out = check(&["--shard.count", "2"], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "index 2 from the file, count 2 from the flag"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "tests/testdata/config/good_shard.yaml: shard.index: the shard index must be less than \
         the shard count (2), found 2 (with --shard.index or --shard.count over the config file)"
    );

    let out = check(&["--shard.index", "0", "--shard.count", "1"], &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("; shard"),
        "one shard is not worth a mention: {stdout}"
    );
}
