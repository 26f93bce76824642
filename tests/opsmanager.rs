//! Cloud Manager and Ops Manager over real sockets: clusters named by name (their id found once
//! in the clusters listing) or by id, backup configuration states, snapshot schedules, and the
//! request cost of each poll cycle, against the simulator's `/api/public/v1.0` paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use atlas_snapshot_exporter::atlas::{AtlasClient, ClientOptions, NoopObserver, Pace};
use std::time::Duration;

use atlas_snapshot_exporter::config::{Credentials, RateLimitConfig};
use atlas_snapshot_exporter::secret::Secret;
use atlas_snapshot_exporter::simulator::{
    DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, OPS_MANAGER_PROJECT_ID, Scenario, Simulator,
};
use atlas_snapshot_exporter::target::{ApiVersion, Flavor};
use common::{Harness, Scrape, Setup, cluster, fixed_now, loopback};

const P: &str = OPS_MANAGER_PROJECT_ID;

/// The ids the simulator gives the scenario's clusters, read from its clusters listing.
async fn cluster_ids(scenario: &Scenario) -> BTreeMap<String, String> {
    let sim = Simulator::start(scenario.clone(), loopback())
        .await
        .unwrap();
    let options = ClientOptions {
        base_url: sim.base_url().parse().unwrap(),
        api_version: ApiVersion::V1_0,
        timeout: Duration::from_secs(5),
        max_body_bytes: 32 * 1024 * 1024,
        max_pages: 1000,
        max_listing_items: 100_000,
        rate_limit_retries: 2,
        max_retry_after: Duration::from_secs(10),
        flex_api: false,
        rate_limit: RateLimitConfig::default(),
    };
    let credentials = Credentials::ApiKey {
        public_key: DEMO_PUBLIC_KEY.into(),
        private_key: Secret::new(DEMO_PRIVATE_KEY),
    };
    let client = AtlasClient::with_options(options, &credentials, Arc::new(NoopObserver))
        .unwrap()
        .with_flavor(Flavor::OpsManager);
    let clusters = client
        .list_manager_clusters(P, &Pace::unbounded())
        .await
        .unwrap();
    clusters
        .into_iter()
        .filter(|c| c.shard_name.is_none())
        .filter_map(|c| Some((c.cluster_name?, c.id)))
        .collect()
}

/// An `ops_manager` config listing `clusters` (YAML entries under the project).
fn om_yaml(base_url: &str, clusters: &str) -> String {
    format!(
        "atlas:\n  flavor: ops_manager\n  base_url: {base_url}\n  timeout: 5s\n  \
         public_key: {DEMO_PUBLIC_KEY}\n  private_key: {DEMO_PRIVATE_KEY}\npoll_interval: 1h\n\
         projects:\n  - id: {P}\n    name: om-prod\n    clusters:\n{clusters}"
    )
}

async fn om_harness(clusters: String) -> (Harness, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let h = Setup::new(Scenario::ops_manager(fixed_now()))
        .fixed_clock(fixed_now())
        .config_file(&path, move |base_url| om_yaml(base_url, &clusters))
        .start()
        .await;
    (h, dir)
}

fn routes(h: &Harness) -> BTreeMap<String, u64> {
    h.sim.stats().by_route
}

fn count(routes: &BTreeMap<String, u64>, route: &str) -> u64 {
    routes.get(route).copied().unwrap_or(0)
}

/// The exporter's count of 200 answers from `endpoint` (the simulator's route counts also hold
/// the digest handshake's 401 challenges).
fn ok(m: &Scrape, endpoint: &str) -> f64 {
    m.get(
        "atlas_snapshot_exporter_api_requests_total",
        &[("endpoint", endpoint), ("code", "200")],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn a_name_is_resolved_once_and_an_id_never_and_facts_and_policy_are_exported() {
    let ids = cluster_ids(&Scenario::ops_manager(fixed_now())).await;
    let sharded_id = ids["om-sharded"].clone();
    let (mut h, _dir) = om_harness(format!(
        "      - name: om-rs0\n      - name: om-sharded\n        id: {sharded_id}\n"
    ))
    .await;

    h.cycle().await;
    let first = h.scrape().await;
    // One clusters listing (for the name; the refresh and the poll share it), none for the id;
    // per cluster one snapshot page, one cluster GET, one backup configuration, one schedule.
    assert_eq!(ok(&first, "list_om_clusters"), 1.0);
    assert_eq!(ok(&first, "list_legacy_snapshots"), 2.0);
    assert_eq!(ok(&first, "get_om_cluster"), 2.0);
    assert_eq!(ok(&first, "get_backup_config"), 2.0);
    assert_eq!(ok(&first, "get_snapshot_schedule"), 2.0);
    // Nothing went to Atlas' paths.
    let r = routes(&h);
    assert!(
        r.keys().all(|k| k.starts_with("om_")),
        "only public API routes: {r:?}"
    );

    h.cycle().await;
    let m = h.scrape().await;
    // The next cycle: one snapshot listing page per cluster and nothing else (the id is
    // remembered, the facts wait for the refresh interval).
    let delta = |endpoint: &str| ok(&m, endpoint) - ok(&first, endpoint);
    assert_eq!(delta("list_legacy_snapshots"), 2.0);
    assert_eq!(delta("list_om_clusters"), 0.0);
    assert_eq!(delta("get_om_cluster"), 0.0);
    assert_eq!(delta("get_backup_config"), 0.0);
    assert_eq!(delta("get_snapshot_schedule"), 0.0);

    assert!(m.has(
        "atlas_snapshot_cluster_info",
        &[
            ("project_id", P),
            ("cluster_name", "om-rs0"),
            ("cluster_type", "REPLICASET"),
            ("kind", "legacy"),
        ]
    ));
    assert!(m.has(
        "atlas_snapshot_cluster_info",
        &[
            ("project_id", P),
            ("cluster_name", "om-sharded"),
            ("cluster_type", "SHARDED"),
        ]
    ));
    for name in ["om-rs0", "om-sharded"] {
        assert_eq!(
            m.get("atlas_snapshot_cluster_backup_enabled", &cluster(P, name)),
            Some(1.0),
            "{name}"
        );
        assert_eq!(
            m.get("atlas_snapshot_cluster_paused", &cluster(P, name)),
            Some(0.0),
            "{name}"
        );
        assert!(
            m.get(
                "atlas_snapshot_latest_completed_timestamp_seconds",
                &cluster(P, name)
            )
            .is_some_and(|t| t > 0.0),
            "{name} has completed snapshots"
        );
    }
    // om-rs0: every 6 h; kept up to 13 months (30 days each); a 2-day point-in-time window.
    assert_eq!(
        m.get(
            "atlas_snapshot_policy_interval_seconds",
            &cluster(P, "om-rs0")
        ),
        Some(21_600.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_policy_retention_seconds",
            &cluster(P, "om-rs0")
        ),
        Some(13.0 * 30.0 * 86_400.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_policy_restore_window_seconds",
            &cluster(P, "om-rs0")
        ),
        Some(48.0 * 3600.0)
    );
    // om-sharded: the default daily schedule, kept 7 days.
    assert_eq!(
        m.get(
            "atlas_snapshot_policy_interval_seconds",
            &cluster(P, "om-sharded")
        ),
        Some(86_400.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_policy_retention_seconds",
            &cluster(P, "om-sharded")
        ),
        Some(7.0 * 86_400.0)
    );
    // Ops Manager announces no next snapshot.
    assert!(!m.has(
        "atlas_snapshot_next_snapshot_timestamp_seconds",
        &cluster(P, "om-rs0")
    ));
    for endpoint in [
        "list_om_clusters",
        "get_om_cluster",
        "get_backup_config",
        "get_snapshot_schedule",
        "list_legacy_snapshots",
    ] {
        assert!(
            m.get(
                "atlas_snapshot_exporter_api_requests_total",
                &[("endpoint", endpoint), ("code", "200")]
            )
            .is_some_and(|n| n >= 1.0),
            "{endpoint}"
        );
    }
}

#[tokio::test]
async fn backup_configuration_states_give_backup_enabled() {
    let clusters: String = [
        "om-rs0",
        "om-stopped",
        "om-inactive",
        "om-provisioning",
        "om-terminating",
    ]
    .iter()
    .map(|c| format!("      - name: {c}\n"))
    .collect();
    let (mut h, _dir) = om_harness(clusters).await;
    h.cycle().await;
    let m = h.scrape().await;
    for (name, on) in [
        ("om-rs0", 1.0),
        ("om-stopped", 0.0),
        ("om-inactive", 0.0),
        ("om-provisioning", 1.0),
        ("om-terminating", 0.0),
    ] {
        assert_eq!(
            m.get("atlas_snapshot_cluster_backup_enabled", &cluster(P, name)),
            Some(on),
            "{name}"
        );
    }
    // One clusters listing for the five names, and a schedule only for the clusters whose
    // backups are on.
    assert_eq!(ok(&m, "list_om_clusters"), 1.0);
    assert_eq!(ok(&m, "get_backup_config"), 5.0);
    assert_eq!(ok(&m, "get_snapshot_schedule"), 2.0);
    assert!(!m.has(
        "atlas_snapshot_policy_interval_seconds",
        &cluster(P, "om-stopped")
    ));
}

#[tokio::test]
async fn a_remembered_id_that_answers_404_is_looked_up_again() {
    let (mut h, _dir) = om_harness("      - name: om-rs0\n".into()).await;
    h.cycle().await;
    assert_eq!(ok(&h.scrape().await, "list_om_clusters"), 1.0);
    // The cluster is removed and added again under the same name: Ops Manager gives it a new
    // id (the simulator's ids derive from the name, so remove it for one cycle instead).
    assert!(h.sim.remove_cluster(P, "om-rs0"));
    h.cycle().await;
    // The remembered id answered 404, the name was looked up again and is gone.
    let m = h.scrape().await;
    assert_eq!(ok(&m, "list_om_clusters"), 2.0);
    assert_eq!(
        m.get(
            "atlas_snapshot_exporter_api_requests_total",
            &[("endpoint", "list_legacy_snapshots"), ("code", "404")]
        ),
        Some(1.0)
    );
    assert!(
        !m.has(
            "atlas_snapshot_latest_completed_timestamp_seconds",
            &cluster(P, "om-rs0")
        ),
        "a cluster gone from Ops Manager leaves its snapshot series"
    );
}

/// The snapshot series an Atlas legacy cluster (`/api/atlas/v1.0`, by name) and the same
/// cluster read through Ops Manager (`/api/public/v1.0`, by id) give are the same.
#[tokio::test]
async fn the_snapshot_series_mean_what_an_atlas_legacy_clusters_do() {
    let (mut om, _dir) = om_harness("      - name: om-rs0\n".into()).await;
    om.cycle().await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let mut atlas = Setup::new(Scenario::ops_manager(fixed_now()))
        .fixed_clock(fixed_now())
        .config_file(&path, |base_url| {
            format!(
                "atlas:\n  base_url: {base_url}\n  api_version: v1.0\n  timeout: 5s\n  \
                 public_key: {DEMO_PUBLIC_KEY}\n  private_key: {DEMO_PRIVATE_KEY}\n\
                 poll_interval: 1h\nprojects:\n  - id: {P}\n    name: om-prod\n    clusters:\n      \
                 - name: om-rs0\n        kind: legacy\n"
            )
        })
        .start()
        .await;
    atlas.cycle().await;
    assert_eq!(ok(&atlas.scrape().await, "list_legacy_snapshots"), 1.0);
    assert!(count(&routes(&atlas), "legacy_list_v1") >= 1);

    let snapshot_series = |text: String| -> Vec<String> {
        text.lines()
            .filter(|l| {
                l.starts_with("atlas_snapshot_") && !l.starts_with("atlas_snapshot_exporter")
            })
            .filter(|l| l.contains("cluster_name=\"om-rs0\""))
            // The cluster facts and policy come from different reads under each product.
            .filter(|l| {
                !l.starts_with("atlas_snapshot_cluster_")
                    && !l.starts_with("atlas_snapshot_policy_")
                    && !l.starts_with("atlas_snapshot_schedule")
                    && !l.starts_with("atlas_snapshot_next_")
                    && !l.contains("duration")
            })
            .map(str::to_owned)
            .collect()
    };
    let from_om = snapshot_series(om.scrape_text().await);
    let from_atlas = snapshot_series(atlas.scrape_text().await);
    assert!(
        from_om
            .iter()
            .any(|l| l.starts_with("atlas_snapshot_latest")),
        "{from_om:#?}"
    );
    assert_eq!(from_om, from_atlas);
}
