//! The scale run: the exporter's release binary as its own process against the built-in Atlas
//! simulator (in this process) with N clusters and a per-request latency, for several poll
//! cycles, then scrape load on it and on nginx serving a saved copy of its body. Prints one
//! Markdown table per N; `docs/BENCHMARKS.md` says what each figure is and is compared with.
//!
//! ```sh
//! cargo bench --bench scale                         # 1000 and 10000 clusters
//! cargo bench --bench scale -- 200 2000             # other sizes
//! cargo bench --bench scale -- --latency 100ms --cycles 20 --scrapes 100 --wrk 30s
//! cargo bench --bench scale -- --smoke              # CI: 200 clusters, 3 cycles, wrk 2 s
//! ```
//!
//! Needs `wrk` and `nginx` on the PATH (Debian: `apt-get install -y wrk nginx`); fails saying
//! which is missing otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "scale/exporter.rs"]
mod exporter;
#[path = "scale/load.rs"]
mod load;

use std::collections::HashSet;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use atlas_snapshot_exporter::simulator::{
    HistoryOptions, Scenario, SimCluster, SimKind, SimProject, Simulator, Stats, daily_history,
};

use exporter::{MAX_CONCURRENCY, Running, Sample};
use load::{Nginx, Sequential, Wrk};

const CLUSTERS_PER_PROJECT: usize = 50;
/// One cluster in this many is dedicated, with a multi-page listing.
const DEDICATED_EVERY: usize = 10;
/// The page size the exporter asks for and Atlas serves at most.
const ITEMS_PER_PAGE: usize = 500;

/// What the command line asks for.
#[derive(Clone, Debug)]
struct Args {
    sizes: Vec<usize>,
    latency: Duration,
    interval: Duration,
    cycles: usize,
    scrapes: usize,
    wrk: Duration,
    smoke: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        sizes: Vec::new(),
        latency: Duration::from_millis(50),
        interval: Duration::from_secs(2),
        cycles: 20,
        scrapes: 100,
        wrk: Duration::from_secs(30),
        smoke: std::env::var_os("SCALE_SMOKE").is_some(),
    };
    let duration = |v: Option<String>, flag: &str| {
        let v = v.unwrap_or_else(|| panic!("{flag} needs a value"));
        humantime::parse_duration(&v).unwrap_or_else(|e| panic!("{flag} {v}: {e}"))
    };
    let count = |v: Option<String>, flag: &str| {
        let v = v.unwrap_or_else(|| panic!("{flag} needs a value"));
        v.parse::<usize>()
            .unwrap_or_else(|e| panic!("{flag} {v}: {e}"))
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--latency" => args.latency = duration(argv.next(), "--latency"),
            "--wrk" => args.wrk = duration(argv.next(), "--wrk"),
            "--interval" => args.interval = duration(argv.next(), "--interval"),
            "--cycles" => args.cycles = count(argv.next(), "--cycles").max(2),
            "--scrapes" => args.scrapes = count(argv.next(), "--scrapes").max(1),
            "--smoke" => args.smoke = true,
            // What cargo passes to every benchmark binary.
            "--bench" => {}
            other => match other.parse() {
                Ok(n) if n > 0 => args.sizes.push(n),
                _ => panic!("unknown argument {other:?}"),
            },
        }
    }
    if args.smoke {
        args.sizes = vec![200];
        args.cycles = 3;
        args.wrk = Duration::from_secs(2);
    }
    if args.sizes.is_empty() {
        args.sizes = vec![1000, 10_000];
    }
    args
}

/// The scenario's shape, for the table and the checks.
struct Plan {
    clusters: usize,
    projects: usize,
    dedicated: usize,
    /// Listing pages one full cycle reads.
    pages: u64,
}

/// N clusters, 50 a project: flex ones with 8 daily snapshots, and one in ten dedicated with
/// 600-1100 (2 or 3 pages of 500), with 5 % FAILED among the older ones.
fn scenario(clusters: usize, latency: Duration) -> (Scenario, Plan) {
    let now = jiff::Timestamp::now();
    let mut scenario = Scenario::new()
        .with_api_key("benchkey", "bench-private-key")
        .with_latency(latency);
    scenario.started_at = Some(now);
    let projects = clusters.div_ceil(CLUSTERS_PER_PROJECT);
    let (mut made, mut dedicated, mut pages) = (0, 0, 0);
    for p in 0..projects {
        let mut project = SimProject::new(format!("{p:024x}"), format!("project-{p}"));
        for c in 0..CLUSTERS_PER_PROJECT.min(clusters - made) {
            let (kind, days) = if c % DEDICATED_EVERY == DEDICATED_EVERY - 1 {
                dedicated += 1;
                (SimKind::Dedicated, 600 + (made * 173) % 501)
            } else {
                (SimKind::Flex, 8)
            };
            pages += days.div_ceil(ITEMS_PER_PAGE) as u64;
            let history = daily_history(
                made as u64,
                now,
                days as u32,
                HistoryOptions {
                    failure_rate: 0.05,
                    size_bytes: Some(1 << 30),
                    ..HistoryOptions::default()
                },
            );
            project = project
                .with_cluster(SimCluster::new(format!("c{c}"), kind).with_snapshots(history));
            made += 1;
        }
        scenario = scenario.with_project(project);
    }
    let plan = Plan {
        clusters,
        projects,
        dedicated,
        pages,
    };
    (scenario, plan)
}

/// How long the run waits for one poll cycle's end.
const CYCLE_DEADLINE: Duration = Duration::from_secs(3600);

/// What was seen at the end of one poll cycle.
#[derive(Clone, Debug)]
struct Cycle {
    /// Requests and 401s the simulator received during the cycle.
    requests: u64,
    /// Of them, the snapshot listing pages.
    snapshot_pages: u64,
    unauthorized: u64,
    /// `atlas_snapshot_exporter_poll_cycle_duration_seconds` once the cycle was published.
    duration: Duration,
    /// Exporter CPU from the previous cycle's end to this one's (cycles run back to back).
    cpu: Duration,
    rss_kib: u64,
    /// Whether `/metrics` was scraped in a loop during this cycle.
    scraped: bool,
}

/// The whole run at one N.
struct Report {
    plan: Plan,
    cycles: Vec<Cycle>,
    /// Scrapes (and failures) of the loop that ran during the scraped cycles.
    concurrent_scrapes: (u64, u64),
    peak_rss_kib: u64,
    body_plain: usize,
    body_gzip: usize,
    /// Clusters exported, and how many of them up, at the end of the cycles.
    exported: (usize, usize),
    exporter_seq: [Sequential; 2],
    nginx_seq: [Sequential; 2],
    exporter_wrk: [Wrk; 2],
    nginx_wrk: [Wrk; 2],
}

/// Snapshot listing pages served. The optional sources' listings (open alerts every cycle,
/// restore jobs hourly) are requests too, counted apart.
fn snapshot_pages(stats: &Stats) -> u64 {
    ["flex_list", "dedicated_list"]
        .iter()
        .map(|route| stats.by_route.get(*route).copied().unwrap_or(0))
        .sum()
}

/// Every cluster's `atlas_snapshot_target_up` series: how many clusters are exported, and how
/// many of them are up. Panics if one is exported twice.
fn exported_clusters(body: &str) -> (usize, usize) {
    let mut seen = HashSet::new();
    let mut up = 0;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("atlas_snapshot_target_up{") {
            let (labels, value) = rest.rsplit_once(' ').unwrap();
            up += usize::from(value == "1");
            assert!(seen.insert(labels.to_owned()), "exported twice: {line}");
        }
    }
    (seen.len(), up)
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

async fn measure(n: usize, args: &Args) -> Report {
    let (scenario, plan) = scenario(n, args.latency);
    let sim = Simulator::start(scenario.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = exporter::write_config(dir.path(), &scenario, &sim.base_url(), args.interval);
    drop(scenario);
    let ticks = exporter::clock_ticks();
    let mut running = Running::spawn(&config);
    let pid = running.pid();
    let metrics = format!("{}/metrics", running.url);
    let client = load::client();

    // The cycles that run under a loop of sequential scrapes: a quarter of them, after the
    // first half.
    let scraped = (args.cycles / 2 + 1)..=(args.cycles / 2 + (args.cycles / 4).max(1));
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut scraper = None;

    let mut cycles = Vec::new();
    let mut before = (Stats::default(), Sample::default());
    for k in 1..=args.cycles {
        if k == *scraped.start() {
            let (stop, done, failed, url) = (
                Arc::clone(&stop),
                Arc::clone(&done),
                Arc::clone(&failed),
                metrics.clone(),
            );
            scraper = Some(tokio::spawn(async move {
                let client = load::client();
                while !stop.load(Ordering::Relaxed) {
                    let counter = match load::get(&client, &url, false).await {
                        Ok(_) => &done,
                        Err(_) => &failed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let took = tokio::time::timeout(CYCLE_DEADLINE, running.cycles.recv())
            .await
            .expect("no poll cycle within an hour")
            .expect("the exporter's log ended");
        let (stats, at_end) = (sim.stats(), exporter::sample(pid, ticks));
        if k == *scraped.end() {
            stop.store(true, Ordering::Relaxed);
            if let Some(task) = scraper.take() {
                task.await.unwrap();
            }
        }
        cycles.push(Cycle {
            requests: stats.requests - before.0.requests,
            snapshot_pages: snapshot_pages(&stats) - snapshot_pages(&before.0),
            unauthorized: stats.unauthorized - before.0.unauthorized,
            duration: Duration::from_secs_f64(took),
            cpu: at_end.cpu - before.1.cpu,
            rss_kib: at_end.rss_kib,
            scraped: scraped.contains(&k),
        });
        before = (stats, at_end);
        eprintln!("{n} clusters: cycle {k} of {} done", args.cycles);
    }

    let body = load::get(&client, &metrics, false).await.unwrap();
    let body_gzip = load::get(&client, &metrics, true).await.unwrap().len();
    let exported = exported_clusters(&String::from_utf8_lossy(&body));
    eprintln!("{n} clusters: scraping the exporter");
    let exporter_seq = [
        load::sequential(&metrics, false, args.scrapes).await,
        load::sequential(&metrics, true, args.scrapes).await,
    ];
    let exporter_wrk = [
        load::wrk(&metrics, false, args.wrk),
        load::wrk(&metrics, true, args.wrk),
    ];
    let peak_rss_kib = exporter::sample(pid, ticks).hwm_kib;

    // nginx runs while the exporter keeps polling, so both see the same background load.
    eprintln!("{n} clusters: scraping nginx");
    let nginx_dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(nginx_dir.path(), &body, &gzip(&body)).await;
    let nginx_seq = [
        load::sequential(&nginx.url, false, args.scrapes).await,
        load::sequential(&nginx.url, true, args.scrapes).await,
    ];
    let nginx_wrk = [
        load::wrk(&nginx.url, false, args.wrk),
        load::wrk(&nginx.url, true, args.wrk),
    ];
    drop(nginx);
    drop(running);
    sim.shutdown().await;
    Report {
        plan,
        cycles,
        concurrent_scrapes: (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed)),
        peak_rss_kib,
        body_plain: body.len(),
        body_gzip,
        exported,
        exporter_seq,
        nginx_seq,
        exporter_wrk,
        nginx_wrk,
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "-".to_owned();
    }
    format!("{:.1}x", a.as_secs_f64() / b.as_secs_f64())
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    load::percentile(&values, 50.0)
}

fn min_max(values: impl Iterator<Item = u64>) -> String {
    let values: Vec<u64> = values.collect();
    match (values.iter().min(), values.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}-{hi}"),
        _ => "-".to_owned(),
    }
}

fn print_table(r: &Report, args: &Args) {
    let p = &r.plan;
    let later = &r.cycles[1..];
    let quiet: Vec<&Cycle> = later.iter().filter(|c| !c.scraped).collect();
    let busy: Vec<&Cycle> = later.iter().filter(|c| c.scraped).collect();
    let requests = median_u64(later.iter().map(|c| c.requests));
    let bound = args.latency * (requests.div_ceil(MAX_CONCURRENCY as u64) as u32);
    let quiet_time = median(quiet.iter().map(|c| c.duration).collect());
    let busy_time = median(busy.iter().map(|c| c.duration).collect());
    let cpu = median(later.iter().map(|c| c.cpu).collect());
    let rss_at = |k: usize| r.cycles[k.min(r.cycles.len()) - 1].rss_kib;
    let early = 5.min(r.cycles.len());
    let n = r.cycles.len();
    println!();
    println!(
        "### {} clusters ({} projects, {} dedicated), latency {}, max_concurrency {MAX_CONCURRENCY}, {n} cycles",
        p.clusters,
        p.projects,
        p.dedicated,
        humantime::format_duration(args.latency)
    );
    println!();
    println!("| figure | exporter | compared with | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| snapshot listing requests per cycle (first; later) | {}; {} | pages: {} | |",
        r.cycles[0].snapshot_pages,
        min_max(later.iter().map(|c| c.snapshot_pages)),
        p.pages
    );
    println!(
        "| all requests per cycle (first; later) | {}; {} | pages, plus facts and schedules (first), alerts (every cycle), restore jobs (hourly) | |",
        r.cycles[0].requests,
        min_max(later.iter().map(|c| c.requests)),
    );
    println!(
        "| 401s per cycle (first; later) | {}; {} | 0 after the first | |",
        r.cycles[0].unauthorized,
        min_max(later.iter().map(|c| c.unauthorized))
    );
    println!(
        "| cycle time, median of later cycles | {} | bound ceil({requests} / {MAX_CONCURRENCY}) x {}: {} | {} |",
        ms(quiet_time),
        ms(args.latency),
        ms(bound),
        ratio(quiet_time, bound)
    );
    println!(
        "| cycle time under a scrape loop ({} scrapes, {} failed) | {} | without: {} | {} |",
        r.concurrent_scrapes.0,
        r.concurrent_scrapes.1,
        ms(busy_time),
        ms(quiet_time),
        ratio(busy_time, quiet_time)
    );
    println!(
        "| CPU per cycle, median | {} | 5 % of one core at a 1-min interval: 3000 ms | {:.3} % |",
        ms(cpu),
        cpu.as_secs_f64() / 60.0 * 100.0
    );
    println!(
        "| RSS at cycle {early}; cycle {n} | {}; {} | flat | {:+.1} MiB |",
        mib(rss_at(early)),
        mib(rss_at(n)),
        (rss_at(n) as f64 - rss_at(early) as f64) / 1024.0
    );
    println!(
        "| peak RSS (VmHWM), cycles and scrapes | {} | target 40 MiB | |",
        mib(r.peak_rss_kib)
    );
    println!(
        "| /metrics body, plain; gzip | {:.0} KiB; {:.0} KiB | clusters exported: {} of {}, up: {} | |",
        r.body_plain as f64 / 1024.0,
        r.body_gzip as f64 / 1024.0,
        r.exported.0,
        p.clusters,
        r.exported.1
    );
    for (i, label) in ["plain", "gzip"].iter().enumerate() {
        let (e, g) = (&r.exporter_seq[i], &r.nginx_seq[i]);
        println!(
            "| {} sequential scrapes, {label}: p50; p99 ({} failed) | {}; {} | nginx: {}; {} | {}; {} |",
            e.times.len() + e.failed,
            e.failed + g.failed,
            ms(e.percentile(50.0)),
            ms(e.percentile(99.0)),
            ms(g.percentile(50.0)),
            ms(g.percentile(99.0)),
            ratio(e.percentile(50.0), g.percentile(50.0)),
            ratio(e.percentile(99.0), g.percentile(99.0))
        );
    }
    for (i, label) in ["plain", "gzip"].iter().enumerate() {
        let (e, g) = (&r.exporter_wrk[i], &r.nginx_wrk[i]);
        println!(
            "| wrk -c 8 -t 2 -d {}, {label}: req/s; p50; p99 ({} errors) | {:.1}; {}; {} | nginx: {:.1}; {}; {} | {:.2}x; {}; {} |",
            humantime::format_duration(args.wrk),
            e.errors + g.errors,
            e.rps,
            ms(e.p50),
            ms(e.p99),
            g.rps,
            ms(g.p50),
            ms(g.p99),
            if g.rps > 0.0 { e.rps / g.rps } else { 0.0 },
            ratio(e.p50, g.p50),
            ratio(e.p99, g.p99)
        );
    }
    println!();
}

fn median_u64(values: impl Iterator<Item = u64>) -> u64 {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

/// What the smoke run (and every run) must show: it ran, every cluster once, nothing failed.
fn check(r: &Report) {
    assert_eq!(r.exported.0, r.plan.clusters, "every cluster exported once");
    assert_eq!(r.exported.1, r.plan.clusters, "every cluster up");
    for seq in r.exporter_seq.iter().chain(&r.nginx_seq) {
        assert!(!seq.times.is_empty(), "sequential scrapes ran");
        assert_eq!(seq.failed, 0, "no sequential scrape failed");
    }
    for wrk in r.exporter_wrk.iter().chain(&r.nginx_wrk) {
        assert!(wrk.requests > 0, "wrk scraped");
        assert_eq!(wrk.errors, 0, "no wrk scrape failed");
    }
    assert!(r.concurrent_scrapes.0 > 0, "scrapes ran during a cycle");
    assert_eq!(r.concurrent_scrapes.1, 0, "no concurrent scrape failed");
}

fn main() {
    let args = parse_args();
    load::require_tools();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "scale run: {} CPUs, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut reports = Vec::new();
    for &n in &args.sizes {
        let report = runtime.block_on(measure(n, &args));
        print_table(&report, &args);
        reports.push(report);
    }
    for report in &reports {
        check(report);
    }
}
