//! `demo`: the exporter against the built-in Atlas simulator, with no credentials and no network.
//!
//! The simulator serves a small world of projects and clusters (healthy ones, one whose latest
//! snapshot failed, one with stale backups, one whose API calls fail) on a loopback port; the
//! exporter polls it exactly as it would poll Atlas, digest authentication included.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;

use crate::config::{
    AtlasConfig, ClusterConfig, Config, Credentials, DiscoveryConfig, ProjectConfig,
};
use crate::exporter::{Exporter, ExporterOptions};
use crate::secret::Secret;
use crate::simulator::{DEMO_DISCOVERED_ORG_ID, Scenario, SimKind, SimProject, Simulator};
use crate::target::{ApiVersion, Kind};

/// The demo's listen address unless `--web.listen-address` says otherwise.
pub const DEMO_LISTEN_ADDRESS: &str = "127.0.0.1:9930";

/// How often the demo polls the simulator.
pub const DEMO_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Starts the simulator and the exporter, prints where the metrics are, runs until Ctrl-C.
/// `options.reload_path` is ignored: the demo's config is made here, not read from a file.
pub async fn run(options: ExporterOptions, seed: u64) -> anyhow::Result<ExitCode> {
    let scenario = Scenario::demo(seed, Timestamp::now());
    let simulator = Simulator::start(scenario.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot start the Atlas simulator")?;
    let config = config_for(&scenario, &simulator.base_url())?;
    let options = ExporterOptions {
        reload_path: None,
        ..options
    };
    let exporter = Exporter::build(config, options).await?;
    let url = exporter.metrics_url();
    println!("atlas-snapshot-exporter demo");
    println!("  Atlas simulator: {}", simulator.base_url());
    println!("  metrics:         {url}");
    println!("  landing page:    {}", exporter.url("/"));
    println!("Press Ctrl-C to stop.");
    exporter.run_until_signal().await?;
    simulator.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The exporter config that polls every cluster of a scenario on a simulator at `base_url`.
/// Dedicated clusters are configured as `auto`, to show the flex-first resolution at work.
///
/// The projects of [`DEMO_DISCOVERED_ORG_ID`] are not listed but discovered (the demo's
/// `analytics`), to show discovery next to hand-listed clusters; only their shared-tier
/// (tenant) clusters are listed by hand, since a listing names no such kind any more (Atlas
/// made every M2/M5 cluster a flex cluster on 2026-01-22) and discovery takes the kind from the
/// listing. Scenarios without that organization are listed whole, with discovery off.
pub fn config_for(scenario: &Scenario, base_url: &str) -> anyhow::Result<Config> {
    let (public_key, private_key) = scenario
        .api_keys
        .first()
        .cloned()
        .context("the demo scenario has no API key")?;
    let discovered = |p: &SimProject| p.org_id == DEMO_DISCOVERED_ORG_ID;
    let discovery = if scenario.projects.iter().any(discovered) {
        DiscoveryConfig {
            enabled: true,
            organizations: vec![DEMO_DISCOVERED_ORG_ID.to_owned()],
            ..DiscoveryConfig::default()
        }
    } else {
        DiscoveryConfig::default()
    };
    Ok(Config {
        atlas: AtlasConfig {
            flavor: crate::config::Flavor::Atlas,
            base_url: base_url.parse().context("simulator URL")?,
            api_version: ApiVersion::V2,
            timeout: Duration::from_secs(10),
            max_concurrency: 8,
            max_listing_items: crate::config::DEFAULT_MAX_LISTING_ITEMS,
            poll_deadline: None,
            rate_limit: crate::config::RateLimitConfig::default(),
            credentials: Credentials::ApiKey {
                public_key,
                private_key: Secret::new(private_key),
            },
        },
        poll_interval: DEMO_POLL_INTERVAL,
        discovery,
        shard: crate::shard::Shard::SINGLE,
        // The simulator grants every role: the demo shows the opt-in sources too.
        watch: crate::config::WatchConfig {
            restores: true,
            exports: true,
            ..crate::config::WatchConfig::default()
        },
        projects: scenario
            .projects
            .iter()
            .map(|p| ProjectConfig {
                id: p.id.clone(),
                name: (!discovered(p)).then(|| p.name.clone()),
                clusters: p
                    .clusters
                    .iter()
                    .filter(|c| !discovered(p) || c.kind == SimKind::Tenant)
                    .map(|c| ClusterConfig {
                        name: c.name.clone(),
                        id: None,
                        kind: match c.kind {
                            SimKind::Tenant => Kind::Tenant,
                            SimKind::Flex => Kind::Flex,
                            SimKind::Dedicated => Kind::Auto,
                            SimKind::Legacy => Kind::Legacy,
                        },
                    })
                    .collect(),
            })
            .filter(|p| !p.clusters.is_empty())
            .collect(),
    })
}
