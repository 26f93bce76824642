//! Sharding over real sockets: several exporters, one per shard, against one simulator with
//! listed and discovered clusters. Every cluster is polled and exported by exactly one shard;
//! the clusters a shard does not own cost it no snapshot listing and no facts; going from 3 to
//! 4 shards moves only the clusters the new shard takes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use atlas_snapshot_exporter::config::Config;
use atlas_snapshot_exporter::exporter::{Exporter, ExporterOptions};
use atlas_snapshot_exporter::shard::{Shard, ShardFlags};
use atlas_snapshot_exporter::simulator::{
    HistoryOptions, Scenario, SimCluster, SimKind, SimProject, Simulator, daily_history,
};
use tokio::sync::watch;

use common::{Scrape, exposition, loopback};

const KEY: &str = "shardpublickey";
const SECRET: &str = "shard-private-key-1234";
const LISTED: &str = "5b69d0349b15c62cdfc38b78";
const DISCOVERED: &str = "6c70e1450c26d73deed49c89";
const ORG: &str = "5b69d0349b15c62cdfc38b70";
/// Clusters per project: 30 in all, half listed, half discovered.
const PER_PROJECT: usize = 15;

type Key = (String, String);

fn scenario() -> Scenario {
    let now = jiff::Timestamp::now();
    let project = |id: &str, name: &str, prefix: &str| {
        (0..PER_PROJECT).fold(SimProject::new(id, name).in_org(ORG), |p, i| {
            p.with_cluster(
                SimCluster::new(format!("{prefix}{i}"), SimKind::Flex).with_snapshots(
                    daily_history(i as u64 + 1, now, 3, HistoryOptions::default()),
                ),
            )
        })
    };
    Scenario::new()
        .with_api_key(KEY, SECRET)
        .with_project(project(LISTED, "listed", "listed-"))
        .with_project(project(DISCOVERED, "found", "found-"))
}

/// Discovery of the one organization, keeping only the second project's clusters, and the
/// first project's clusters listed by name (so their facts cost one GET each).
fn config(base_url: &str) -> Config {
    let clusters: String = (0..PER_PROJECT)
        .map(|i| format!("      - name: listed-{i}\n        kind: flex\n"))
        .collect();
    let yaml = format!(
        "atlas:\n  base_url: {base_url}\n  public_key: {KEY}\n  private_key: {SECRET}\n\
         discovery:\n  enabled: true\n  organizations: [{ORG}]\n  projects: {{include: [\"^found$\"]}}\n\
         projects:\n  - id: {LISTED}\n    clusters:\n{clusters}"
    );
    Config::parse_str(&yaml, "sharding.yaml", &|_| None).unwrap()
}

/// What one shard did in one cycle: the clusters it exports, and the simulator's requests.
struct ShardRun {
    exported: BTreeSet<Key>,
    shard_info: Vec<(String, String)>,
    snapshot_listings: u64,
    cluster_gets: u64,
    cluster_listings: u64,
}

/// Starts an exporter for shard `index` of `count` (by its flags, over a file without a shard
/// section), runs one cycle against `sim` and scrapes it.
async fn run_shard(sim: &Simulator, index: u32, count: u32) -> ShardRun {
    sim.reset_stats();
    let options = ExporterOptions {
        shard_flags: ShardFlags {
            index: Some(index),
            count: Some(count),
        },
        ..ExporterOptions::new(loopback().to_string())
    };
    let exporter = Exporter::build(config(&sim.base_url()), options)
        .await
        .unwrap();
    let metrics_url = exporter.metrics_url();
    let Exporter {
        mut poller, server, ..
    } = exporter;
    let (stop, mut stopped) = watch::channel(false);
    let serving = tokio::spawn(server.serve(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    poller.run_cycle().await;
    let stats = sim.stats();
    let text = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = stop.send(true);
    let _ = serving.await;
    let scrape: Scrape = exposition::parse(&text).unwrap();
    let exported: BTreeSet<Key> = scrape
        .all("atlas_snapshot_target_up", &[])
        .into_iter()
        .map(|s| {
            assert_eq!(s.value, 1.0, "{s:?}");
            (
                s.labels["project_id"].clone(),
                s.labels["cluster_name"].clone(),
            )
        })
        .collect();
    let info: BTreeSet<Key> = scrape
        .all("atlas_snapshot_cluster_info", &[])
        .into_iter()
        .map(|s| {
            (
                s.labels["project_id"].clone(),
                s.labels["cluster_name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        info, exported,
        "cluster_info and target_up cover the same clusters"
    );
    // The exporter's own count of answers it acted on, by endpoint: the digest challenges
    // of the first requests are not polls. The simulator's 200s check the count is honest.
    let answered = |endpoint: &str| {
        scrape
            .get(
                "atlas_snapshot_exporter_api_requests_total",
                &[("endpoint", endpoint), ("code", "200")],
            )
            .unwrap_or(0.0) as u64
    };
    let all_answered: f64 = scrape
        .all(
            "atlas_snapshot_exporter_api_requests_total",
            &[("code", "200")],
        )
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(
        stats.by_status.get(&200).copied(),
        Some(all_answered as u64)
    );
    ShardRun {
        exported,
        shard_info: scrape
            .all("atlas_snapshot_exporter_shard_info", &[])
            .into_iter()
            .map(|s| (s.labels["index"].clone(), s.labels["count"].clone()))
            .collect(),
        snapshot_listings: answered("list_flex_snapshots"),
        cluster_gets: answered("get_flex_cluster") + answered("get_cluster"),
        cluster_listings: answered("list_clusters") + answered("list_flex_clusters"),
    }
}

/// Runs every shard of `count` in turn; the owner of each exported cluster.
async fn run_all(sim: &Simulator, count: u32) -> BTreeMap<Key, u32> {
    let everything: BTreeSet<Key> = [(LISTED, "listed-"), (DISCOVERED, "found-")]
        .iter()
        .flat_map(|(p, prefix)| {
            (0..PER_PROJECT).map(move |i| (p.to_string(), format!("{prefix}{i}")))
        })
        .collect();
    let mut owners: BTreeMap<Key, u32> = BTreeMap::new();
    for index in 0..count {
        let run = run_shard(sim, index, count).await;
        assert_eq!(
            run.shard_info,
            [(index.to_string(), count.to_string())],
            "shard_info says which shard this is"
        );
        let listed_owned = run.exported.iter().filter(|(p, _)| p == LISTED).count() as u64;
        assert_eq!(
            run.snapshot_listings,
            run.exported.len() as u64,
            "shard {index} of {count} lists the snapshots of its own clusters only, once each"
        );
        assert_eq!(
            run.cluster_gets, listed_owned,
            "shard {index} of {count} reads the facts of its own listed clusters only"
        );
        assert_eq!(
            run.cluster_listings, 2,
            "each shard lists the discovered project's clusters (both listings) itself"
        );
        let shard = Shard::new(index, count).unwrap();
        for key in &run.exported {
            assert!(
                shard.owns(&key.0, &key.1),
                "{key:?} exported by a shard not its own"
            );
            assert!(
                owners.insert(key.clone(), index).is_none(),
                "{key:?} exported by two shards"
            );
        }
    }
    assert_eq!(
        owners.keys().cloned().collect::<BTreeSet<_>>(),
        everything,
        "every cluster is exported by some shard"
    );
    owners
}

#[tokio::test]
async fn three_shards_poll_and_export_every_cluster_exactly_once_and_a_fourth_takes_only_its_own() {
    let sim = Simulator::start(scenario(), loopback()).await.unwrap();
    let three = run_all(&sim, 3).await;
    for index in 0..3 {
        assert!(
            three.values().any(|&i| i == index),
            "shard {index} of 3 got no cluster of 30: {three:?}"
        );
    }
    let four = run_all(&sim, 4).await;
    let moved: Vec<&Key> = three
        .keys()
        .filter(|key| three[*key] != four[*key])
        .collect();
    for key in &moved {
        assert_eq!(four[*key], 3, "{key:?} moved, and not to the new shard");
    }
    assert_eq!(
        moved.len(),
        four.values().filter(|&&i| i == 3).count(),
        "the new shard's clusters are exactly the ones that moved"
    );
    assert!(
        !moved.is_empty() && moved.len() < 15,
        "{} of 30 moved",
        moved.len()
    );
    sim.shutdown().await;
}
