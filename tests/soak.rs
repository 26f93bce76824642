//! The soak: 20 clusters in 5 projects, 14 of them answering with random faults per request
//! (500s, truncated pages, 429s, slow answers), polled every second by the exporter's real poll
//! loop ([`Exporter::run`]) while a scraper reads /metrics over and over, for `SOAK_SECONDS`
//! (default 8, so `cargo test` stays fast; CI runs it for minutes).
//!
//! It asserts outcomes over a bounded time, never latencies: the exporter is still running at the
//! end (no panic), every scrape answered 200 with valid exposition text, the poll cycles kept
//! coming, each healthy target was refreshed at least once in every two cycles, and memory after
//! the warm-up stayed flat.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atlas_snapshot_exporter::exporter::{Exporter, ExporterOptions};
use atlas_snapshot_exporter::simulator::{
    Fault, HistoryOptions, Scenario, SimCluster, SimKind, SimProject, Simulator, daily_history,
};
use jiff::Timestamp;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use common::{cluster, exposition, loopback};

const POLL_INTERVAL: Duration = Duration::from_secs(1);
const PROJECTS: usize = 5;
const CLUSTERS_PER_PROJECT: usize = 4;
/// Chance that one request to a chaotic cluster gets a fault.
const FAULT_PROBABILITY: f64 = 0.3;
const LAST_SUCCESS: &str = "atlas_snapshot_target_last_success_timestamp_seconds";
const LAST_CYCLE: &str = "atlas_snapshot_exporter_last_poll_cycle_timestamp_seconds";
/// Memory may grow this much beyond 10 % after the warm-up. The process measured is the whole
/// test binary: besides the exporter it holds the simulator, the scraper with its HTTP client
/// and every scrape it keeps, and the test harness, whose allocations (connection pools, buffers
/// of the largest answer so far, allocator arenas of the runtime's threads) settle in steps of a
/// few hundred KiB that say nothing about the exporter.
const RSS_SLACK_KIB: u64 = 2 * 1024;

/// `SOAK_SECONDS`, 8 by default, at least 4: room for the warm-up and a few cycles after it.
fn soak_duration() -> Duration {
    let seconds = std::env::var("SOAK_SECONDS")
        .ok()
        .map(|s| {
            s.parse::<u64>()
                .expect("SOAK_SECONDS is a whole number of seconds")
        })
        .unwrap_or(8);
    Duration::from_secs(seconds.max(4))
}

/// A project's id: 24 hex digits.
fn project_id(p: usize) -> String {
    format!("6a0000000000000000000{p:03}")
}

/// 20 clusters of every kind, 4 to a project; 6 are healthy (the first two or one of some
/// projects), the others answer with random faults, each with its own seed.
fn world(now: Timestamp) -> (Scenario, Vec<(String, String)>) {
    let kinds = [
        SimKind::Flex,
        SimKind::Tenant,
        SimKind::Dedicated,
        SimKind::Legacy,
    ];
    let mut scenario =
        Scenario::new().with_api_key("soakkeys", "5ca1ab1e-0000-4000-8000-000000050a4");
    let mut healthy = Vec::new();
    for p in 0..PROJECTS {
        let id = project_id(p);
        let mut project = SimProject::new(&id, format!("soak-{p}"));
        for c in 0..CLUSTERS_PER_PROJECT {
            let n = p * CLUSTERS_PER_PROJECT + c;
            let name = format!("cluster-{n:02}");
            let history = HistoryOptions {
                failure_rate: 0.1,
                size_bytes: Some(1 << 30),
                ..HistoryOptions::default()
            };
            let mut sim = SimCluster::new(&name, kinds[n % kinds.len()])
                .with_snapshots(daily_history(n as u64, now, 30, history));
            if n % 10 < 3 {
                healthy.push((id.clone(), name));
            } else {
                sim = sim.with_fault(Fault::random(0x50a4 + n as u64, FAULT_PROBABILITY));
            }
            project = project.with_cluster(sim);
        }
        scenario = scenario.with_project(project);
    }
    (scenario, healthy)
}

/// This process' resident set, KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse().unwrap())
        .expect("VmRSS in /proc/self/status")
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What one scrape showed: the last cycle's end and each healthy target's last success.
struct Seen {
    cycle: Option<f64>,
    healthy: Vec<Option<f64>>,
}

/// What the scraper saw over the run.
#[derive(Default)]
struct Scraped {
    scrapes: u64,
    failures: Vec<String>,
    seen: Vec<Seen>,
    /// The last valid scrape, for the summary.
    last: Option<exposition::Scrape>,
}

async fn scrape_until(
    url: String,
    healthy: Vec<(String, String)>,
    mut stop: watch::Receiver<bool>,
) -> Scraped {
    // Generous: on a loaded 2-core machine a debug build may stall for a while, and a slow
    // answer is no failure here; only a missing, wrong or invalid one is.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut out = Scraped::default();
    while !*stop.borrow() {
        out.scrapes += 1;
        match scrape_once(&http, &url).await {
            Ok(scrape) => {
                out.seen.push(Seen {
                    cycle: scrape.get(LAST_CYCLE, &[]),
                    healthy: healthy
                        .iter()
                        .map(|(p, c)| {
                            scrape
                                .all(LAST_SUCCESS, &cluster(p, c))
                                .first()
                                .map(|s| s.value)
                        })
                        .collect(),
                });
                out.last = Some(scrape);
            }
            Err(e) => {
                if out.failures.len() < 20 {
                    out.failures.push(format!("scrape {}: {e}", out.scrapes));
                }
            }
        }
        // A pause between scrapes (20 a second, far more often than any Prometheus) so the
        // scraper does not take a whole core from the poller; nothing depends on its length.
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    out
}

async fn scrape_once(http: &reqwest::Client, url: &str) -> Result<exposition::Scrape, String> {
    let response = http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("status {status}: {text}"));
    }
    if content_type.as_deref() != Some("text/plain; version=0.0.4; charset=utf-8") {
        return Err(format!("content type {content_type:?}"));
    }
    exposition::parse(&text).map_err(|e| format!("invalid exposition: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clusters_with_random_faults_leave_the_exporter_whole() {
    let duration = soak_duration();
    let (scenario, healthy) = world(Timestamp::now());
    let sim = Simulator::start(scenario.clone(), loopback())
        .await
        .unwrap();
    let mut config = atlas_snapshot_exporter::demo::config_for(&scenario, &sim.base_url()).unwrap();
    config.poll_interval = POLL_INTERVAL;
    config.atlas.timeout = Duration::from_secs(5);
    // A slot for every target: what is under test is that no faulty neighbour delays a healthy
    // target's refresh, not the queue of a smaller pool.
    config.atlas.max_concurrency = 20;
    let exporter = Exporter::build(config, ExporterOptions::new(loopback().to_string()))
        .await
        .unwrap();
    let url = exporter.metrics_url();
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let started = Instant::now();
    let running = tokio::spawn(exporter.run(async move {
        let _ = shutdown_rx.await;
    }));
    let (stop_scraper, stop_rx) = watch::channel(false);
    let scraper = tokio::spawn(scrape_until(url, healthy.clone(), stop_rx));

    tokio::time::sleep_until(started + duration / 4).await;
    let rss_start = rss_kib();
    tokio::time::sleep_until(started + duration).await;
    let rss_end = rss_kib();
    let _ = stop_scraper.send(true);
    let scraped = scraper.await.unwrap();
    let exporter_alive = !running.is_finished();
    let _ = shutdown.send(());
    let stopped = tokio::time::timeout(Duration::from_secs(10), running).await;
    let stats = sim.stats();

    // Distinct ends of poll cycles, in the order scrapes saw them.
    let mut cycles: Vec<f64> = Vec::new();
    for seen in &scraped.seen {
        if let Some(c) = seen.cycle
            && cycles.last().is_none_or(|last| c > *last)
        {
            cycles.push(c);
        }
    }
    // Each healthy target, in every scrape that shows a cycle end two cycles after an earlier
    // one, has a success after that earlier one: at least one refresh in every two cycles.
    let mut missed = Vec::new();
    for seen in &scraped.seen {
        let Some(cycle) = seen.cycle else { continue };
        let Some(k) = cycles.iter().position(|c| *c == cycle) else {
            continue;
        };
        let Some(two_before) = k.checked_sub(2).map(|i| cycles[i]) else {
            continue;
        };
        for ((project, name), success) in healthy.iter().zip(&seen.healthy) {
            if success.is_none_or(|s| s <= two_before) {
                missed.push(format!(
                    "{project}/{name}: last success {success:?} not after cycle end {two_before}"
                ));
            }
        }
    }
    let staleness = scraped
        .seen
        .last()
        .map(|s| {
            s.healthy
                .iter()
                .map(|v| v.map_or(f64::INFINITY, |v| unix_now() - v))
                .fold(0.0, f64::max)
        })
        .unwrap_or(f64::INFINITY);
    let errors_by_reason: BTreeMap<String, f64> = scraped
        .last
        .as_ref()
        .map(|s| {
            let mut by = BTreeMap::new();
            for sample in s.all("atlas_snapshot_target_errors_total", &[]) {
                let reason = sample.labels.get("reason").cloned().unwrap_or_default();
                *by.entry(reason).or_insert(0.0) += sample.value;
            }
            by
        })
        .unwrap_or_default();
    let growth = (rss_end as f64 / rss_start as f64 - 1.0) * 100.0;
    println!(
        "soak: {} s, {} cycles, {} scrapes ({} failed), RSS {:.1} MiB at {} s -> {:.1} MiB at {} s \
         ({growth:+.1} %), faults injected {:?}, target errors by reason {:?}, simulator answers \
         by status {:?}, healthy targets at most {staleness:.2} s stale at the end",
        duration.as_secs(),
        cycles.len(),
        scraped.scrapes,
        scraped.failures.len(),
        rss_start as f64 / 1024.0,
        (duration / 4).as_secs(),
        rss_end as f64 / 1024.0,
        duration.as_secs(),
        stats.faults_injected,
        errors_by_reason,
        stats.by_status,
    );

    assert!(exporter_alive, "the exporter stopped before the end");
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "the exporter did not stop cleanly: {stopped:?}"
    );
    assert!(
        scraped.failures.is_empty(),
        "scrapes failed: {:#?}",
        scraped.failures
    );
    // Cycles start every second; even a loaded machine gets half of them done.
    let expected = duration.as_secs() as usize / 2;
    assert!(
        cycles.len() >= expected,
        "{} poll cycles seen in {} s",
        cycles.len(),
        duration.as_secs()
    );
    assert!(
        missed.is_empty(),
        "healthy targets not refreshed: {missed:#?}"
    );
    for kind in ["server_error", "malformed_json", "rate_limited", "slow"] {
        assert!(
            stats.faults_injected.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} fault injected: {:?}",
            stats.faults_injected
        );
    }
    assert!(
        rss_end as f64 <= rss_start as f64 * 1.10 + RSS_SLACK_KIB as f64,
        "memory grew from {rss_start} KiB to {rss_end} KiB"
    );
    sim.shutdown().await;
}
