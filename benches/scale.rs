//! How the exporter scales with the number of clusters: poll cycle time against the simulator,
//! scrape rendering time and size, and memory. Prints a Markdown table.
//!
//! ```sh
//! cargo bench --bench scale                 # 10, 100 and 1000 clusters
//! cargo bench --bench scale -- 2000 5000    # other sizes
//! ```
//!
//! The simulator runs in the same process, so the memory figure is an upper bound for the
//! exporter alone; `docs/BENCHMARKS.md` records results with the machine they came from.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use atlas_snapshot_exporter::exporter::{Exporter, ExporterOptions};
use atlas_snapshot_exporter::simulator::{
    HistoryOptions, Scenario, SimCluster, SimKind, SimProject, Simulator, daily_history,
};

const CLUSTERS_PER_PROJECT: usize = 50;

fn scenario(clusters: usize) -> Scenario {
    let now = jiff::Timestamp::now();
    let mut scenario = Scenario::new().with_api_key("benchkey", "bench-private-key");
    let projects = clusters.div_ceil(CLUSTERS_PER_PROJECT);
    let mut made = 0;
    for p in 0..projects {
        let mut project = SimProject::new(format!("{p:024x}"), format!("project-{p}"));
        for c in 0..CLUSTERS_PER_PROJECT.min(clusters - made) {
            // Flex keeps 8 daily snapshots; every tenth cluster is a dedicated one with 60.
            let (kind, days) = if c % 10 == 9 {
                (SimKind::Dedicated, 60)
            } else {
                (SimKind::Flex, 8)
            };
            project = project.with_cluster(SimCluster::new(format!("c{c}"), kind).with_snapshots(
                daily_history(
                    (p * 1000 + c) as u64,
                    now,
                    days,
                    HistoryOptions {
                        failure_rate: 0.05,
                        size_bytes: Some(1 << 30),
                        ..HistoryOptions::default()
                    },
                ),
            ));
            made += 1;
        }
        scenario = scenario.with_project(project);
    }
    scenario
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

struct Row {
    clusters: usize,
    first_cycle: Duration,
    cycle: Duration,
    render: Duration,
    scrape_bytes: usize,
    series: usize,
    rss_kib: u64,
}

async fn measure(clusters: usize) -> Row {
    let scenario = scenario(clusters);
    let sim = Simulator::start(scenario.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let mut config = atlas_snapshot_exporter::demo::config_for(&scenario, &sim.base_url()).unwrap();
    config.atlas.timeout = Duration::from_secs(30);
    // The exporter as it runs, minus the poll loop: cycles are timed one by one.
    let exporter = Exporter::build(config, ExporterOptions::new("127.0.0.1:0"))
        .await
        .unwrap();
    let state = exporter.state();
    let Exporter {
        mut poller, server, ..
    } = exporter;
    let metrics = &server.app().metrics;

    let started = Instant::now();
    poller.run_cycle().await;
    let first_cycle = started.elapsed();
    let started = Instant::now();
    poller.run_cycle().await;
    let cycle = started.elapsed();
    assert!(state.load().targets().all(|t| t.up() == Some(true)));

    let rounds = 50;
    let mut bytes = 0;
    let started = Instant::now();
    for _ in 0..rounds {
        bytes = metrics.render().len();
    }
    let render = started.elapsed() / rounds;
    let text = metrics.render();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    let rss = rss_kib();
    sim.shutdown().await;
    Row {
        clusters,
        first_cycle,
        cycle,
        render,
        scrape_bytes: bytes,
        series,
        rss_kib: rss,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10, 100, 1000]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| clusters | first cycle (digest handshake) | next cycle | render /metrics | scrape size | series | RSS (exporter + simulator) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let r = runtime.block_on(measure(n));
        println!(
            "| {} | {:.0} ms | {:.0} ms | {:.2} ms | {:.0} KiB | {} | {:.1} MiB |",
            r.clusters,
            r.first_cycle.as_secs_f64() * 1e3,
            r.cycle.as_secs_f64() * 1e3,
            r.render.as_secs_f64() * 1e3,
            r.scrape_bytes as f64 / 1024.0,
            r.series,
            r.rss_kib as f64 / 1024.0
        );
    }
}
