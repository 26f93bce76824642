//! Discovery and cluster facts end to end over real sockets: the simulator's discovery world
//! (`Scenario::discovery`) → client → poller → /metrics and the landing page, with the
//! requests each refresh and each cycle cost counted at the simulator.
//!
//! The refresh schedule runs on tokio's clock. Tests that need a refresh to fall due move that
//! clock between cycles ([`let_pass`]), paused only while it moves, so that no request in
//! flight ever sees time jump and nothing sleeps.

// Tests and their fixtures may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use atlas_snapshot_exporter::clock::unix_seconds;
use atlas_snapshot_exporter::config::{
    ClusterConfig, Config, Credentials, DiscoveryConfig, NameFilter, ProjectConfig,
};
use atlas_snapshot_exporter::secret::Secret;
use atlas_snapshot_exporter::simulator::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, DISCOVERY_ORG_IDS,
    DISCOVERY_PROJECT_IDS, HistoryOptions, Scenario, SimCluster, SimKind, Simulator, Stats,
    periodic_history,
};
use atlas_snapshot_exporter::target::Kind;
use common::{Harness, Scrape, SettableClock, Setup, cluster, fixed_now};
use diqwest::WithDigestAuth;
use jiff::{SignedDuration, Timestamp};

const ORG_A: &str = DISCOVERY_ORG_IDS[0];
const ORG_B: &str = DISCOVERY_ORG_IDS[1];
/// `disc-prod`: free0 (M0), paused0, nobackup0, hourly0, daily0 (3 pages of clusters), flex0.
const PROD: &str = DISCOVERY_PROJECT_IDS[0];
/// `disc-staging`: weekly0, sharded0.
const STAGING: &str = DISCOVERY_PROJECT_IDS[1];
/// `disc-empty`: no clusters.
const EMPTY: &str = DISCOVERY_PROJECT_IDS[2];
/// `other-org`, in the second organization: flex-b, Cluster0.
const OTHER: &str = DISCOVERY_PROJECT_IDS[3];

const HOUR: Duration = Duration::from_secs(3600);

/// Every cluster the discovery world holds that has backups to watch (all but the M0), as
/// [`inventory`] writes them.
const EVERY_CLUSTER: [&str; 9] = [
    "disc-prod/daily0 dedicated REPLICASET",
    "disc-prod/flex0 flex FLEX",
    "disc-prod/hourly0 dedicated REPLICASET",
    "disc-prod/nobackup0 dedicated REPLICASET",
    "disc-prod/paused0 dedicated REPLICASET",
    "disc-staging/sharded0 dedicated SHARDED",
    "disc-staging/weekly0 dedicated REPLICASET",
    "other-org/Cluster0 dedicated REPLICASET",
    "other-org/flex-b flex FLEX",
];

/// The discovery world, with tokens that outlive any time a test lets pass (so that no 401 and
/// no token request blurs a request count).
fn world() -> Scenario {
    let mut scenario = Scenario::discovery(fixed_now());
    scenario.token_ttl = Duration::from_secs(30 * 86_400);
    scenario
}

/// An exporter on `scenario` with discovery on (every project), nothing listed, a service
/// account (no digest challenges in the counts), then `configure` on top.
fn discovering(scenario: Scenario, configure: impl FnOnce(&mut Config) + 'static) -> Setup {
    // What discovery and the polls cost is measured alone: tests/sources.rs measures the
    // optional sources.
    Setup::new(scenario)
        .fixed_clock(fixed_now())
        .without_optional_sources()
        .tweak(move |c| {
            c.projects.clear();
            c.discovery = DiscoveryConfig {
                enabled: true,
                ..DiscoveryConfig::default()
            };
            c.atlas.credentials = Credentials::ServiceAccount {
                client_id: DEMO_CLIENT_ID.into(),
                client_secret: Secret::new(DEMO_CLIENT_SECRET),
            };
            configure(c);
        })
}

/// A `projects` entry listing clusters by hand.
fn listed(project_id: &str, name: Option<&str>, clusters: &[(&str, Kind)]) -> ProjectConfig {
    ProjectConfig {
        id: project_id.into(),
        name: name.map(Into::into),
        clusters: clusters
            .iter()
            .map(|(name, kind)| ClusterConfig {
                name: (*name).into(),
                id: None,
                kind: *kind,
            })
            .collect(),
    }
}

fn patterns(patterns: &[&str]) -> Vec<regex::Regex> {
    patterns
        .iter()
        .map(|p| regex::Regex::new(p).unwrap())
        .collect()
}

/// Moves tokio's clock, which the refresh schedule and the simulator's clock read, by `by`:
/// paused only while it moves, between cycles, when no request is in flight.
async fn let_pass(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

/// Every `atlas_snapshot_cluster_info` series as `project_name/cluster_name kind cluster_type`,
/// sorted.
fn inventory(m: &Scrape) -> Vec<String> {
    let mut out: Vec<String> = m
        .all("atlas_snapshot_cluster_info", &[])
        .iter()
        .map(|s| {
            let l = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
            format!(
                "{}/{} {} {}",
                l("project_name"),
                l("cluster_name"),
                l("kind"),
                l("cluster_type")
            )
        })
        .collect();
    out.sort();
    out
}

/// Requests the simulator saw by route, without the zero routes.
fn routes(stats: &Stats) -> BTreeMap<String, u64> {
    stats
        .by_route
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.clone(), *n))
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// One cycle, and the requests it cost at the simulator (every one answered 200, none a 401).
async fn cycle_cost(h: &mut Harness) -> BTreeMap<String, u64> {
    h.sim.reset_stats();
    h.cycle().await;
    let stats = h.sim.stats();
    assert_eq!(stats.unauthorized, 0, "{stats:?}");
    assert_eq!(
        stats.by_status.get(&200),
        Some(&stats.requests),
        "{stats:?}"
    );
    routes(&stats)
}

/// What one refresh of the whole discovery world costs: 4 projects in 2 pages; cluster
/// listings in pages of 2: disc-prod 3 (5 clusters, the M0 included), the others 1 each (an
/// empty listing is one page too); one flex listing per project; one schedule per dedicated
/// cluster with backups on (paused0, hourly0, daily0, weekly0, sharded0, Cluster0). Nothing
/// for the M0, nobackup0 or the flex clusters.
const REFRESH: [(&str, u64); 4] = [
    ("groups_list", 2),
    ("clusters_list", 6),
    ("flex_clusters_list", 4),
    ("backup_schedule", 6),
];

/// What polling the discovery world costs: one listing page per cluster (7 dedicated, 2 flex).
const POLLS: [(&str, u64); 2] = [("dedicated_list", 7), ("flex_list", 2)];

#[tokio::test]
async fn discovery_reads_every_page_of_projects_and_clusters_and_leaves_out_the_m0() {
    let mut h = discovering(world(), |_| {}).start().await;

    h.cycle().await;

    let m = h.scrape().await;
    assert_eq!(inventory(&m), EVERY_CLUSTER);
    // Every discovered cluster was polled in the cycle that found it.
    for s in m.all("atlas_snapshot_cluster_info", &[]) {
        let c = cluster(&s.labels["project_id"], &s.labels["cluster_name"]);
        assert_eq!(m.get("atlas_snapshot_target_up", &c), Some(1.0), "{c:?}");
    }
    // Atlas keeps no backups of an M0: it is on no series at all, and never polled.
    assert!(
        !m.samples
            .iter()
            .any(|s| s.labels.get("cluster_name").map(String::as_str) == Some("free0")),
        "the M0 free0 is exported"
    );
    // A project without clusters costs its listings and adds nothing.
    assert!(!m.has("atlas_snapshot_cluster_info", &[("project_id", EMPTY)]));
    assert_eq!(
        m.get("atlas_snapshot_exporter_discovery_up", &[]),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_exporter_discovery_last_success_timestamp_seconds",
            &[]
        ),
        Some(unix_seconds(fixed_now()))
    );

    let stats = h.sim.stats();
    let mut want = counts(&REFRESH);
    want.extend(counts(&POLLS));
    want.insert("oauth_token".into(), 1);
    assert_eq!(routes(&stats), want);

    // Discovery requests count in api_requests_total under their own endpoint values.
    for (endpoint, n) in [
        ("list_projects", 2.0),
        ("list_clusters", 6.0),
        ("list_flex_clusters", 4.0),
        ("get_backup_schedule", 6.0),
    ] {
        assert_eq!(
            m.get(
                "atlas_snapshot_exporter_api_requests_total",
                &[("endpoint", endpoint), ("code", "200")]
            ),
            Some(n),
            "{endpoint}"
        );
    }
}

#[tokio::test]
async fn organizations_limit_discovery_to_their_projects() {
    let mut h = discovering(world(), |c| {
        c.discovery.organizations = vec![ORG_B.into()];
    })
    .start()
    .await;
    h.cycle().await;
    assert_eq!(
        inventory(&h.scrape().await),
        [
            "other-org/Cluster0 dedicated REPLICASET",
            "other-org/flex-b flex FLEX"
        ]
    );
    let stats = routes(&h.sim.stats());
    assert_eq!(stats.get("org_groups_list"), Some(&1));
    assert_eq!(stats.get("groups_list"), None, "GET /groups is not read");
    assert_eq!(stats.get("clusters_list"), Some(&1));

    // The first organization holds three projects: two pages.
    let mut h = discovering(world(), |c| {
        c.discovery.organizations = vec![ORG_A.into()];
    })
    .start()
    .await;
    h.cycle().await;
    assert_eq!(inventory(&h.scrape().await), EVERY_CLUSTER[..7]);
    let stats = routes(&h.sim.stats());
    assert_eq!(stats.get("org_groups_list"), Some(&2));
    assert_eq!(
        stats.get("clusters_list"),
        Some(&5),
        "3 + 1 + 1 (disc-empty)"
    );
}

#[tokio::test]
async fn project_filters_match_name_or_id_and_an_excluded_project_costs_no_listing() {
    // Included by name, one of those excluded by id.
    let mut h = discovering(world(), |c| {
        c.discovery.projects = NameFilter {
            include: patterns(&["^disc-"]),
            exclude: patterns(&[&format!("^{STAGING}$")]),
        };
    })
    .start()
    .await;
    h.cycle().await;
    assert_eq!(inventory(&h.scrape().await), EVERY_CLUSTER[..5]);
    let stats = routes(&h.sim.stats());
    assert_eq!(
        stats.get("clusters_list"),
        Some(&4),
        "disc-prod 3, disc-empty 1"
    );
    assert_eq!(stats.get("flex_clusters_list"), Some(&2));

    // Included by id; excluded by name.
    let mut h = discovering(world(), |c| {
        c.discovery.projects = NameFilter {
            include: patterns(&[OTHER, STAGING]),
            exclude: patterns(&["staging"]),
        };
    })
    .start()
    .await;
    h.cycle().await;
    assert_eq!(inventory(&h.scrape().await), EVERY_CLUSTER[7..]);
}

#[tokio::test]
async fn cluster_filters_keep_and_drop_clusters_by_name() {
    let mut h = discovering(world(), |c| {
        c.discovery.clusters = NameFilter {
            include: patterns(&["0$"]),
            exclude: patterns(&["^flex", "^paused"]),
        };
    })
    .start()
    .await;
    h.cycle().await;
    assert_eq!(
        inventory(&h.scrape().await),
        [
            "disc-prod/daily0 dedicated REPLICASET",
            "disc-prod/hourly0 dedicated REPLICASET",
            "disc-prod/nobackup0 dedicated REPLICASET",
            "disc-staging/sharded0 dedicated SHARDED",
            "disc-staging/weekly0 dedicated REPLICASET",
            "other-org/Cluster0 dedicated REPLICASET",
        ]
    );
    // A filtered-out cluster costs nothing: no poll, no schedule.
    let stats = routes(&h.sim.stats());
    assert_eq!(stats.get("flex_list"), None);
    assert_eq!(stats.get("backup_schedule"), Some(&5), "all but paused0");
}

#[tokio::test]
async fn a_listed_cluster_that_is_also_discovered_appears_once_as_listed() {
    let mut h = discovering(world(), |c| {
        c.projects = vec![
            listed(OTHER, Some("other (by hand)"), &[("Cluster0", Kind::Auto)]),
            listed(PROD, None, &[("daily0", Kind::Dedicated)]),
        ];
    })
    .start()
    .await;

    h.cycle().await;

    let m = h.scrape().await;
    assert_eq!(m.all("atlas_snapshot_cluster_info", &[]).len(), 9);
    // The listed project name wins; a listed entry without one takes the discovered name.
    let info = m.all("atlas_snapshot_cluster_info", &cluster(OTHER, "Cluster0"));
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0].labels["project_name"], "other (by hand)");
    assert_eq!(info[0].labels["cluster_type"], "REPLICASET");
    let info = m.all("atlas_snapshot_cluster_info", &cluster(PROD, "daily0"));
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0].labels["project_name"], "disc-prod");
    // The listed kind wins: `auto` asks the flex endpoint first (one request more than the
    // discovered `dedicated` would have cost), then the dedicated one.
    let stats = routes(&h.sim.stats());
    assert_eq!(
        stats.get("flex_list"),
        Some(&3),
        "flex0, flex-b, Cluster0's probe"
    );
    assert_eq!(stats.get("dedicated_list"), Some(&7));
    // The listings told their facts: no cluster GET for either.
    assert_eq!(stats.get("cluster_get"), None);
    assert_eq!(stats.get("backup_schedule"), Some(&6), "each once");
}

#[tokio::test]
async fn a_deleted_cluster_leaves_metrics_at_the_next_cycle_by_one_early_refresh() {
    let mut h = discovering(world(), |_| {}).start().await;
    h.cycle().await;
    assert!(h.sim.remove_cluster(STAGING, "sharded0"));

    // Within the refresh interval the poll finds it gone: its snapshot series go, the target
    // stays (down) until discovery says it is gone.
    h.cycle().await;
    let m = h.scrape().await;
    let c = cluster(STAGING, "sharded0");
    assert_eq!(m.get("atlas_snapshot_target_up", &c), Some(0.0));
    assert!(!m.has("atlas_snapshot_snapshots", &c));

    // The 404 asked for an early refresh: the next cycle runs it, long before the hour.
    h.sim.reset_stats();
    h.cycle().await;
    assert_eq!(routes(&h.sim.stats()).get("groups_list"), Some(&2));
    let m = h.scrape().await;
    let mut want = EVERY_CLUSTER.to_vec();
    want.retain(|c| !c.contains("sharded0"));
    assert_eq!(inventory(&m), want);
    assert!(
        !m.samples
            .iter()
            .any(|s| s.labels.get("cluster_name").map(String::as_str) == Some("sharded0")),
        "sharded0 is still exported"
    );
    assert_eq!(
        m.get("atlas_snapshot_exporter_discovery_up", &[]),
        Some(1.0)
    );
    // One early refresh, not one per cycle: the next cycle reads the snapshot listings only.
    h.sim.reset_stats();
    h.cycle().await;
    assert_eq!(routes(&h.sim.stats()).get("groups_list"), None);
}

#[tokio::test]
async fn a_failing_discovery_keeps_the_clusters_found_before_and_says_so() {
    let clock = SettableClock::at(fixed_now());
    let mut h = discovering(world(), |_| {})
        .clock(clock.clone())
        .start()
        .await;
    h.cycle().await;
    let found_at = unix_seconds(fixed_now());
    let later = |hours: i64| fixed_now() + SignedDuration::from_hours(hours);
    let discovery = |m: &Scrape| {
        (
            m.get("atlas_snapshot_exporter_discovery_up", &[]),
            m.get(
                "atlas_snapshot_exporter_discovery_last_success_timestamp_seconds",
                &[],
            ),
        )
    };
    assert!(h.sim.remove_cluster(STAGING, "sharded0"));

    // The project listing fails: every cluster found before stays, the deleted one included.
    h.sim.set_gone("groups_list", true);
    let_pass(HOUR).await;
    clock.set(later(1));
    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(inventory(&m), EVERY_CLUSTER);
    assert_eq!(discovery(&m), (Some(0.0), Some(found_at)));
    assert_eq!(routes(&h.sim.stats()).get("clusters_list"), Some(&6));

    // Every project's cluster listing fails: each project keeps its clusters.
    h.sim.set_gone("groups_list", false);
    h.sim.set_gone("clusters_list", true);
    let_pass(HOUR).await;
    clock.set(later(2));
    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(inventory(&m), EVERY_CLUSTER);
    assert_eq!(discovery(&m), (Some(0.0), Some(found_at)));

    // Discovery answers again: the deleted cluster goes, and the success is new.
    h.sim.set_gone("clusters_list", false);
    let_pass(HOUR).await;
    clock.set(later(3));
    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(inventory(&m).len(), 8);
    assert!(!m.has("atlas_snapshot_cluster_info", &cluster(STAGING, "sharded0")));
    assert_eq!(discovery(&m), (Some(1.0), Some(unix_seconds(later(3)))));
}

#[tokio::test]
async fn backups_on_or_off_paused_and_the_cluster_type_come_from_the_listings() {
    let mut scenario = world();
    scenario.projects[0]
        .clusters
        .push(SimCluster::new("flexoff", SimKind::Flex).backups_off());
    let mut h = discovering(scenario, |_| {}).start().await;
    h.cycle().await;
    let m = h.scrape().await;

    let facts = |project: &str, name: &str| {
        let c = cluster(project, name);
        (
            m.get("atlas_snapshot_cluster_backup_enabled", &c),
            m.get("atlas_snapshot_cluster_paused", &c),
            m.all("atlas_snapshot_cluster_info", &c)[0].labels["cluster_type"].clone(),
        )
    };
    let on = |t: &str| (Some(1.0), Some(0.0), t.to_owned());
    assert_eq!(facts(PROD, "daily0"), on("REPLICASET"));
    assert_eq!(
        facts(PROD, "nobackup0"),
        (Some(0.0), Some(0.0), "REPLICASET".into())
    );
    assert_eq!(
        facts(PROD, "paused0"),
        (Some(1.0), Some(1.0), "REPLICASET".into())
    );
    assert_eq!(facts(STAGING, "sharded0"), on("SHARDED"));
    assert_eq!(facts(PROD, "flex0"), on("FLEX"));
    assert_eq!(
        facts(PROD, "flexoff"),
        (Some(0.0), Some(0.0), "FLEX".into())
    );
    // Backups off: no schedule is read, so no policy series.
    for name in ["nobackup0", "flexoff"] {
        let c = cluster(PROD, name);
        assert!(!m.has("atlas_snapshot_next_snapshot_timestamp_seconds", &c));
        assert!(!m.has("atlas_snapshot_policy_restore_window_seconds", &c));
    }
}

#[tokio::test]
async fn listed_clusters_are_unknown_until_the_first_refresh_reads_them_with_one_get_each() {
    let mut scenario = world();
    scenario.projects[0]
        .clusters
        .push(SimCluster::new("flexoff", SimKind::Flex).backups_off());
    let mut h = discovering(scenario, |c| {
        c.discovery.enabled = false;
        c.projects = vec![
            listed(
                PROD,
                Some("prod"),
                &[
                    ("nobackup0", Kind::Dedicated),
                    ("paused0", Kind::Auto),
                    ("flex0", Kind::Flex),
                    ("flexoff", Kind::Auto),
                ],
            ),
            listed(STAGING, None, &[("sharded0", Kind::Dedicated)]),
        ];
    })
    .start()
    .await;

    let m = h.scrape().await;
    assert_eq!(
        inventory(&m),
        [
            "/sharded0 dedicated unknown",
            "prod/flex0 flex unknown",
            "prod/flexoff auto unknown",
            "prod/nobackup0 dedicated unknown",
            "prod/paused0 auto unknown",
        ]
    );
    assert!(!m.has("atlas_snapshot_cluster_backup_enabled", &[]));
    assert!(!m.has("atlas_snapshot_cluster_paused", &[]));
    assert!(!m.has("atlas_snapshot_policy_interval_seconds", &[]));

    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(
        inventory(&m),
        [
            "/sharded0 dedicated SHARDED",
            "prod/flex0 flex FLEX",
            "prod/flexoff flex FLEX",
            "prod/nobackup0 dedicated REPLICASET",
            "prod/paused0 dedicated REPLICASET",
        ]
    );
    let get = |name: &str, project: &str, metric: &str| m.get(metric, &cluster(project, name));
    assert_eq!(
        get("nobackup0", PROD, "atlas_snapshot_cluster_backup_enabled"),
        Some(0.0)
    );
    assert_eq!(
        get("flexoff", PROD, "atlas_snapshot_cluster_backup_enabled"),
        Some(0.0)
    );
    assert_eq!(
        get("flex0", PROD, "atlas_snapshot_cluster_backup_enabled"),
        Some(1.0)
    );
    assert_eq!(
        get("paused0", PROD, "atlas_snapshot_cluster_paused"),
        Some(1.0)
    );
    assert_eq!(
        get("sharded0", STAGING, "atlas_snapshot_cluster_paused"),
        Some(0.0)
    );
    let stats = routes(&h.sim.stats());
    assert_eq!(stats.get("groups_list"), None, "discovery is off");
    // One GET per listed cluster on the API its kind names; `auto` not yet resolved asks the
    // flex API first, as its poll does: paused0 costs a flex GET and a cluster GET.
    assert_eq!(
        stats.get("cluster_get"),
        Some(&3),
        "nobackup0, sharded0, paused0"
    );
    assert_eq!(
        stats.get("flex_cluster_get"),
        Some(&3),
        "flex0, flexoff, paused0"
    );
    assert_eq!(
        stats.get("backup_schedule"),
        Some(&2),
        "paused0 and sharded0"
    );

    // Nothing more within the refresh interval; the next refresh reads each `auto` cluster
    // from the API its poll resolved: one GET per listed cluster.
    assert_eq!(
        cycle_cost(&mut h).await,
        counts(&[("dedicated_list", 3), ("flex_list", 2)])
    );
    let_pass(HOUR).await;
    assert_eq!(
        cycle_cost(&mut h).await,
        counts(&[
            ("cluster_get", 3),
            ("flex_cluster_get", 2),
            ("backup_schedule", 2),
            ("dedicated_list", 3),
            ("flex_list", 2),
        ])
    );
}

/// GETs `path` from the simulator with its own digest session, independently of the
/// exporter's client: the status and the JSON body.
async fn sim_get(sim: &Simulator, path: &str, media_type: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .header("accept", media_type)
        .send_digest_auth((DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    (status, body)
}

#[tokio::test]
async fn a_retired_discovery_route_answers_410_version_gone() {
    let sim = Simulator::start(world(), common::loopback()).await.unwrap();
    let groups = "/api/atlas/v2/groups";
    let clusters = format!("/api/atlas/v2/groups/{PROD}/clusters");
    let schedule = format!("/api/atlas/v2/groups/{PROD}/clusters/daily0/backup/schedule");
    const GROUPS_MEDIA: &str = "application/vnd.atlas.2023-01-01+json";
    const CLUSTERS_MEDIA: &str = "application/vnd.atlas.2024-08-05+json";

    sim.set_gone("groups_list", true);
    let (status, body) = sim_get(&sim, groups, GROUPS_MEDIA).await;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (410, Some("VERSION_GONE"))
    );
    assert_eq!(sim_get(&sim, &clusters, CLUSTERS_MEDIA).await.0, 200);

    sim.set_gone(CLUSTERS_MEDIA, true);
    assert_eq!(sim_get(&sim, &clusters, CLUSTERS_MEDIA).await.0, 410);
    assert_eq!(sim_get(&sim, &schedule, CLUSTERS_MEDIA).await.0, 410);

    sim.set_gone("groups_list", false);
    sim.set_gone(CLUSTERS_MEDIA, false);
    assert_eq!(sim_get(&sim, groups, GROUPS_MEDIA).await.0, 200);
    assert_eq!(sim_get(&sim, &schedule, CLUSTERS_MEDIA).await.0, 200);
}

/// The backup schedule of a dedicated cluster as the simulator serves it.
async fn schedule(h: &Harness, project: &str, name: &str) -> serde_json::Value {
    let path = format!("/api/atlas/v2/groups/{project}/clusters/{name}/backup/schedule");
    let (status, body) = sim_get(&h.sim, &path, "application/vnd.atlas.2024-08-05+json").await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn the_policy_series_follow_each_clusters_schedule_and_flex_gets_the_fixed_one() {
    let mut h = discovering(world(), |_| {}).start().await;
    h.cycle().await;
    let m = h.scrape().await;

    let policy = |project: &str, name: &str| {
        let c = cluster(project, name);
        [
            "atlas_snapshot_policy_interval_seconds",
            "atlas_snapshot_policy_retention_seconds",
            "atlas_snapshot_policy_restore_window_seconds",
        ]
        .map(|metric| m.get(metric, &c))
    };
    const DAY: f64 = 86_400.0;
    // Hourly every 6 h kept 2 days + daily kept 7 days: the shortest interval, the longest
    // retention, and the 7-day restore window.
    assert_eq!(
        policy(PROD, "hourly0"),
        [Some(21_600.0), Some(7.0 * DAY), Some(7.0 * DAY)]
    );
    assert_eq!(
        policy(PROD, "daily0"),
        [Some(DAY), Some(7.0 * DAY), Some(7.0 * DAY)]
    );
    // Weekly kept 4 weeks + monthly kept 12 months (a month counted as 30 days, rounded down).
    assert_eq!(
        policy(STAGING, "weekly0"),
        [Some(7.0 * DAY), Some(360.0 * DAY), Some(7.0 * DAY)]
    );
    // Flex: daily, 8 days kept, no restore window, no next snapshot, no schedule read.
    for (project, name) in [(PROD, "flex0"), (OTHER, "flex-b")] {
        assert_eq!(policy(project, name), [Some(DAY), Some(8.0 * DAY), None]);
        assert!(!m.has(
            "atlas_snapshot_next_snapshot_timestamp_seconds",
            &cluster(project, name)
        ));
    }
    assert_eq!(
        routes(&h.sim.stats()).get("backup_schedule"),
        Some(&6),
        "one per dedicated cluster with backups on, none for flex"
    );

    // nextSnapshot as the simulator serves it.
    for (project, name) in [
        (PROD, "hourly0"),
        (PROD, "daily0"),
        (PROD, "paused0"),
        (STAGING, "weekly0"),
        (STAGING, "sharded0"),
        (OTHER, "Cluster0"),
    ] {
        let served = schedule(&h, project, name).await;
        let next: Timestamp = served["nextSnapshot"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            m.get(
                "atlas_snapshot_next_snapshot_timestamp_seconds",
                &cluster(project, name)
            ),
            Some(unix_seconds(next)),
            "{name}"
        );
    }
    // And what that is, from the scenario: hourly0 is due at the next 6-hourly slot from
    // 02:00 after 12:00 (14:00), the daily ones at 02:00 tomorrow.
    let at = |s: &str| Some(unix_seconds(s.parse().unwrap()));
    assert_eq!(
        m.get(
            "atlas_snapshot_next_snapshot_timestamp_seconds",
            &cluster(PROD, "hourly0")
        ),
        at("2026-11-22T14:00:00Z")
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_next_snapshot_timestamp_seconds",
            &cluster(PROD, "daily0")
        ),
        at("2026-11-23T02:00:00Z")
    );
}

#[tokio::test]
async fn a_refresh_costs_its_listings_once_per_refresh_interval_and_a_cycle_only_its_polls() {
    let mut h = discovering(world(), |_| {}).start().await;

    let mut refresh_and_polls = counts(&REFRESH);
    refresh_and_polls.extend(counts(&POLLS));
    let mut first = refresh_and_polls.clone();
    first.insert("oauth_token".into(), 1);
    assert_eq!(cycle_cost(&mut h).await, first);

    // Within the refresh interval a cycle costs one request per listing page, nothing more.
    assert_eq!(cycle_cost(&mut h).await, counts(&POLLS));
    assert_eq!(cycle_cost(&mut h).await, counts(&POLLS));
    let_pass(HOUR - Duration::from_secs(1)).await;
    assert_eq!(cycle_cost(&mut h).await, counts(&POLLS));

    // Due again once the interval has passed since the last refresh began.
    let_pass(Duration::from_secs(1)).await;
    assert_eq!(cycle_cost(&mut h).await, refresh_and_polls);
    assert_eq!(cycle_cost(&mut h).await, counts(&POLLS));

    // A reload that changes no filter leaves the schedule alone; one that changes a filter
    // makes a refresh due at once.
    let mut config = h.config.clone();
    config.discovery.refresh_interval = 2 * HOUR;
    h.poller.apply_config(&config).unwrap();
    assert_eq!(cycle_cost(&mut h).await, counts(&POLLS));
    config.discovery.clusters.exclude = patterns(&["^flex"]);
    h.poller.apply_config(&config).unwrap();
    // The refresh runs beside the polls of the targets known when the cycle began: the flex
    // clusters are polled one last time, then they are gone.
    assert_eq!(cycle_cost(&mut h).await, refresh_and_polls);
    let dedicated_only = counts(&[("dedicated_list", 7)]);
    assert_eq!(cycle_cost(&mut h).await, dedicated_only);
    // The longer interval holds: an hour later nothing is due, two hours later it is.
    let_pass(HOUR).await;
    assert_eq!(cycle_cost(&mut h).await, dedicated_only);
    let_pass(HOUR).await;
    let mut want = counts(&REFRESH);
    want.extend(dedicated_only);
    assert_eq!(cycle_cost(&mut h).await, want);
}

#[tokio::test]
async fn a_listed_cluster_discovery_does_not_cover_costs_one_get_and_its_schedule_per_refresh() {
    let mut h = discovering(world(), |c| {
        c.discovery.organizations = vec![ORG_B.into()];
        c.projects = vec![listed(
            PROD,
            None,
            &[("daily0", Kind::Dedicated), ("flex0", Kind::Flex)],
        )];
    })
    .start()
    .await;

    let refresh = [
        ("org_groups_list", 1),
        ("clusters_list", 1),
        ("flex_clusters_list", 1),
        // daily0's facts; flex0's from the flex API.
        ("cluster_get", 1),
        ("flex_cluster_get", 1),
        // Cluster0 (discovered) and daily0 (listed).
        ("backup_schedule", 2),
    ];
    let polls = [("dedicated_list", 2), ("flex_list", 2)];
    let mut first = counts(&refresh);
    first.extend(counts(&polls));
    first.insert("oauth_token".into(), 1);
    assert_eq!(cycle_cost(&mut h).await, first);
    assert_eq!(cycle_cost(&mut h).await, counts(&polls));
    assert_eq!(cycle_cost(&mut h).await, counts(&polls));

    let_pass(HOUR).await;
    let mut again = counts(&refresh);
    again.extend(counts(&polls));
    assert_eq!(cycle_cost(&mut h).await, again);

    let m = h.scrape().await;
    assert_eq!(
        inventory(&m),
        [
            "/daily0 dedicated REPLICASET",
            "/flex0 flex FLEX",
            "other-org/Cluster0 dedicated REPLICASET",
            "other-org/flex-b flex FLEX",
        ]
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_policy_interval_seconds",
            &cluster(PROD, "daily0")
        ),
        Some(86_400.0)
    );
}

#[tokio::test]
async fn the_landing_page_lists_backups_off_and_a_stale_hourly_cluster_first() {
    let mut scenario = world();
    // hourly0's newest snapshot is some 16 hours old: stale for a 6-hour policy (past 10 h),
    // though not for the 26-hour default.
    let prod = &mut scenario.projects[0];
    let hourly = prod
        .clusters
        .iter_mut()
        .find(|c| c.name == "hourly0")
        .unwrap();
    hourly.snapshots = periodic_history(
        4,
        fixed_now(),
        6,
        12,
        HistoryOptions {
            last_completed_days_ago: Some(2),
            ..HistoryOptions::default()
        },
    );
    let mut h = discovering(scenario, |_| {}).start().await;
    h.cycle().await;

    let page = h.get("/").await.text().await.unwrap();
    // Each row: its cluster and its verdict, in page order.
    let rows: Vec<(String, String)> = page
        .split("<tr><td>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row.split("</td><td>").collect();
            let verdict = cells[3]
                .split('>')
                .nth(1)
                .and_then(|s| s.split('<').next())
                .unwrap_or_default();
            (cells[1].to_owned(), verdict.to_owned())
        })
        .collect();
    assert_eq!(rows.len(), 9, "{page}");
    let (problems, rest) = rows.split_at(2);
    let mut problems = problems.to_vec();
    problems.sort();
    assert_eq!(
        problems,
        [
            ("hourly0".to_owned(), "stale".to_owned()),
            ("nobackup0".to_owned(), "backups off".to_owned()),
        ],
        "{rows:?}"
    );
    assert!(rest.iter().all(|(_, verdict)| verdict == "ok"), "{rows:?}");
    // A paused cluster takes no snapshots: its 3-day-old one is not stale.
    assert!(rest.contains(&("paused0".to_owned(), "ok".to_owned())));
    assert!(page.contains("2 of 9 clusters need attention"), "{page}");
    assert!(page.contains("on, every 6h"), "{page}");
    assert!(page.contains("on, paused, every 1d"), "{page}");
}
