//! The optional sources over real sockets: restore jobs, export jobs and Atlas' open backup
//! alerts, read by the poller from the simulator and scraped from /metrics. Their figures for
//! a known scenario, the opt-in of the Project Backup Manager listings, a missing role (403)
//! switching a listing off for its project, and each source's refresh interval, counted in
//! requests at the simulator. Time is driven with tokio's paused clock, never slept.

// Tests may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use atlas_snapshot_exporter::clock::unix_seconds;
use atlas_snapshot_exporter::config::{Config, Credentials, WatchConfig};
use atlas_snapshot_exporter::secret::Secret;
use atlas_snapshot_exporter::simulator::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, HistoryOptions, Scenario, SimAlert, SimCluster,
    SimExportJob, SimKind, SimProject, SimRestoreJob, SimRole, Stats, daily_history,
};
use common::{Harness, Scrape, Setup, cluster, cluster_and, fixed_now};
use jiff::{SignedDuration, Timestamp};

const P1: &str = "5b69d0349b15c62cdfc38b78";
const READ_ONLY: &str = "5b69d0349b15c62cdfc38b79";
const HOUR: Duration = Duration::from_secs(3600);
/// The demo config's poll interval, which the harness' config is derived from.
const POLL_INTERVAL: Duration = Duration::from_secs(30);

/// The routes of the optional sources at the simulator.
const SOURCE_ROUTES: [&str; 4] = [
    "alerts_list",
    "export_jobs_list",
    "flex_restore_jobs_list",
    "restore_jobs_list",
];

fn ago(hours: i64) -> Timestamp {
    fixed_now()
        .checked_sub(SignedDuration::from_hours(hours))
        .unwrap()
}

fn id(n: u32) -> String {
    format!("6a793f812c88faeba59b{n:04x}")
}

fn with_snapshots(name: &str, kind: SimKind, seed: u64) -> SimCluster {
    SimCluster::new(name, kind).with_snapshots(daily_history(
        seed,
        fixed_now(),
        8,
        HistoryOptions::default(),
    ))
}

/// `prod`: a flex cluster whose last drill failed, a dedicated one with restores and exports,
/// and open alerts of backup and other event types.
fn prod() -> SimProject {
    SimProject::new(P1, "prod")
        .with_cluster(
            with_snapshots("flex1", SimKind::Flex, 1).with_restore_jobs(vec![
                SimRestoreJob::completed(id(1), ago(100), ago(99)),
                SimRestoreJob::failed(id(2), ago(30)),
            ]),
        )
        .with_cluster(
            with_snapshots("ded1", SimKind::Dedicated, 2)
                .with_restore_jobs(vec![
                    SimRestoreJob::completed(id(10), ago(80), ago(79)),
                    SimRestoreJob::failed(id(11), ago(60)),
                    SimRestoreJob::running(id(12), ago(1)),
                ])
                .with_export_jobs(vec![
                    SimExportJob::successful(id(20), ago(24 * 40), ago(24 * 40 - 1)),
                    SimExportJob::failed(id(21), ago(48), ago(47)),
                    SimExportJob::in_progress(id(22), ago(2)),
                ]),
        )
        .with_alert(SimAlert::open("CPS_OPLOG_BEHIND", Some("ded1"), ago(1)))
        // A backup alert naming no cluster, a host alert, a closed backup alert and one on a
        // cluster the exporter does not watch.
        .with_alert(SimAlert::open("CPS_SNAPSHOT_BEHIND", None, ago(2)))
        .with_alert(SimAlert::open("HOST_DOWN", Some("ded1"), ago(3)))
        .with_alert(SimAlert::open("CPS_RESTORE_FAILED", Some("flex1"), ago(4)).closed())
        .with_alert(SimAlert::open(
            "CPS_EXPORT_FAILED",
            Some("elsewhere"),
            ago(5),
        ))
}

/// A project whose key holds Project Read Only: its Backup-Manager listings answer 403.
fn read_only() -> SimProject {
    SimProject::new(READ_ONLY, "read-only")
        .with_role(SimRole::ReadOnly)
        .with_cluster(
            with_snapshots("flex2", SimKind::Flex, 3)
                .with_restore_jobs(vec![SimRestoreJob::completed(id(30), ago(10), ago(9))]),
        )
        .with_cluster(
            with_snapshots("ded2", SimKind::Dedicated, 4)
                .with_restore_jobs(vec![SimRestoreJob::completed(id(40), ago(10), ago(9))])
                .with_export_jobs(vec![SimExportJob::in_progress(id(41), ago(1))]),
        )
}

fn scenario(projects: Vec<SimProject>) -> Scenario {
    let mut s = Scenario::new()
        .with_api_key("key", "private")
        .with_service_account(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET);
    for p in projects {
        s = s.with_project(p);
    }
    s
}

/// The harness' config (the demo's: restores and exports switched on), with a service account
/// so that every request is one at the simulator (no digest challenges), then `tweak`.
fn setup(projects: Vec<SimProject>, tweak: impl FnOnce(&mut Config) + 'static) -> Setup {
    Setup::new(scenario(projects))
        .fixed_clock(fixed_now())
        .tweak(move |c| {
            c.atlas.credentials = Credentials::ServiceAccount {
                client_id: DEMO_CLIENT_ID.into(),
                client_secret: Secret::new(DEMO_CLIENT_SECRET),
            };
            tweak(c);
        })
}

/// The optional sources' requests in `stats`, by route.
fn source_requests(stats: &Stats) -> BTreeMap<String, u64> {
    stats
        .by_route
        .iter()
        .filter(|(route, n)| **n > 0 && SOURCE_ROUTES.contains(&route.as_str()))
        .map(|(route, n)| (route.clone(), *n))
        .collect()
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// One cycle, and the optional sources' requests it cost at the simulator.
async fn cycle_cost(h: &mut Harness) -> BTreeMap<String, u64> {
    h.sim.reset_stats();
    h.cycle().await;
    source_requests(&h.sim.stats())
}

async fn let_pass(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

fn source_up(m: &Scrape, project: &str, source: &str) -> Option<f64> {
    m.get(
        "atlas_snapshot_exporter_source_up",
        &[("project_id", project), ("source", source)],
    )
}

fn jobs(m: &Scrape, family: &str, label: &str, project: &str, name: &str) -> Vec<(String, f64)> {
    m.all(family, &cluster(project, name))
        .iter()
        .map(|s| (s.labels[label].clone(), s.value))
        .collect()
}

fn pairs(values: &[(&str, f64)]) -> Vec<(String, f64)> {
    values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn each_source_reports_its_figures_for_a_known_scenario() {
    let mut h = setup(vec![prod()], |_| {}).start().await;
    h.cycle().await;
    let m = h.scrape().await;

    // Restore jobs: every status, zeros included, in label order.
    assert_eq!(
        jobs(&m, "atlas_snapshot_restore_jobs", "status", P1, "flex1"),
        pairs(&[
            ("COMPLETED", 1.0),
            ("FAILED", 1.0),
            ("PENDING", 0.0),
            ("QUEUED", 0.0),
            ("RUNNING", 0.0)
        ])
    );
    assert_eq!(
        jobs(&m, "atlas_snapshot_restore_jobs", "status", P1, "ded1"),
        pairs(&[
            ("COMPLETED", 1.0),
            ("FAILED", 1.0),
            ("PENDING", 0.0),
            ("QUEUED", 0.0),
            ("RUNNING", 1.0)
        ])
    );
    let restore_success = "atlas_snapshot_restore_last_success_timestamp_seconds";
    assert_eq!(
        m.get(restore_success, &cluster(P1, "flex1")),
        Some(unix_seconds(ago(99)))
    );
    assert_eq!(
        m.get(restore_success, &cluster(P1, "ded1")),
        Some(unix_seconds(ago(79)))
    );
    for name in ["flex1", "ded1"] {
        assert_eq!(
            m.get("atlas_snapshot_restore_failures_total", &cluster(P1, name)),
            Some(1.0),
            "{name}"
        );
    }

    // Export jobs: dedicated only.
    assert_eq!(
        jobs(&m, "atlas_snapshot_export_jobs", "state", P1, "ded1"),
        pairs(&[
            ("Cancelled", 0.0),
            ("Failed", 1.0),
            ("InProgress", 1.0),
            ("Queued", 0.0),
            ("Successful", 1.0)
        ])
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_export_last_success_timestamp_seconds",
            &cluster(P1, "ded1")
        ),
        Some(unix_seconds(ago(24 * 40 - 1)))
    );
    assert_eq!(
        m.get("atlas_snapshot_export_failures_total", &cluster(P1, "ded1")),
        Some(1.0)
    );
    assert!(
        m.all("atlas_snapshot_export_jobs", &cluster(P1, "flex1"))
            .is_empty()
    );

    // Open alerts: backup event types only, open only, on watched clusters or none.
    let open: Vec<(String, String, f64)> = m
        .all("atlas_snapshot_atlas_alert_open", &[("project_id", P1)])
        .iter()
        .map(|s| {
            (
                s.labels["cluster_name"].clone(),
                s.labels["event_type"].clone(),
                s.value,
            )
        })
        .collect();
    assert_eq!(
        open,
        [
            ("".to_owned(), "CPS_SNAPSHOT_BEHIND".to_owned(), 1.0),
            ("ded1".to_owned(), "CPS_OPLOG_BEHIND".to_owned(), 1.0),
        ]
    );

    for source in ["alerts", "exports", "restores", "schedule"] {
        assert_eq!(source_up(&m, P1, source), Some(1.0), "{source}");
    }
    // Each listing is counted under its own endpoint.
    for (endpoint, n) in [
        ("list_alerts", 1.0),
        ("list_flex_restore_jobs", 1.0),
        ("list_dedicated_restore_jobs", 1.0),
        ("list_export_jobs", 1.0),
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
async fn the_backup_manager_listings_are_read_only_when_switched_on() {
    // The config's defaults: restores and exports off.
    let mut h = setup(vec![prod()], |c| c.watch = WatchConfig::default())
        .start()
        .await;
    assert_eq!(
        cycle_cost(&mut h).await,
        counts(&[("alerts_list", 1), ("flex_restore_jobs_list", 1)]),
        "Project Read Only sources only"
    );
    let m = h.scrape().await;
    assert!(
        m.all("atlas_snapshot_restore_jobs", &cluster(P1, "ded1"))
            .is_empty()
    );
    assert!(m.all("atlas_snapshot_export_jobs", &[]).is_empty());
    assert_eq!(source_up(&m, P1, "exports"), None);
    assert_eq!(source_up(&m, P1, "restores"), Some(1.0), "flex1's");

    // Restores on, but not for flex1: its own `restores: false` wins; exports stay off.
    let mut h = setup(vec![prod()], |c| {
        c.watch.restores = true;
        c.watch.exports = false;
        c.watch
            .cluster_restores
            .entry(P1.to_owned())
            .or_default()
            .insert("flex1".to_owned(), false);
    })
    .start()
    .await;
    assert_eq!(
        cycle_cost(&mut h).await,
        counts(&[("alerts_list", 1), ("restore_jobs_list", 1)])
    );
    let m = h.scrape().await;
    assert!(
        m.all("atlas_snapshot_restore_jobs", &cluster(P1, "flex1"))
            .is_empty()
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_restore_jobs",
            &cluster_and(P1, "ded1", "status", "COMPLETED")
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_forbidden_listing_is_switched_off_for_its_project_with_one_warning() {
    let (logs, _guard) = common::logs::CapturedLogs::start();
    let mut h = setup(vec![read_only()], |_| {}).start().await;
    let first = cycle_cost(&mut h).await;
    assert_eq!(
        first,
        counts(&[
            ("alerts_list", 1),
            ("export_jobs_list", 1),
            ("flex_restore_jobs_list", 1),
            ("restore_jobs_list", 1),
        ])
    );
    assert_eq!(h.sim.stats().by_status.get(&403), Some(&2));
    let m = h.scrape().await;
    // Never a failed snapshot target.
    for name in ["flex2", "ded2"] {
        assert_eq!(
            m.get("atlas_snapshot_target_up", &cluster(READ_ONLY, name)),
            Some(1.0),
            "{name}"
        );
    }
    assert_eq!(source_up(&m, READ_ONLY, "exports"), Some(0.0));
    assert_eq!(source_up(&m, READ_ONLY, "restores"), Some(0.0), "ded2's");
    assert_eq!(source_up(&m, READ_ONLY, "alerts"), Some(1.0));
    // flex2's restore jobs need Project Read Only only: still read and shown.
    assert_eq!(
        m.get(
            "atlas_snapshot_restore_jobs",
            &cluster_and(READ_ONLY, "flex2", "status", "COMPLETED")
        ),
        Some(1.0)
    );
    assert!(
        m.all("atlas_snapshot_restore_jobs", &cluster(READ_ONLY, "ded2"))
            .is_empty()
    );

    let warnings = |source: &str| {
        logs.lines_with(&["WARN", "lacks the role", &format!("source=\"{source}\"")])
    };
    for source in ["exports", "restores"] {
        let lines = warnings(source);
        assert_eq!(lines.len(), 1, "{source}: {lines:?}");
        assert!(lines[0].contains(READ_ONLY), "{}", lines[0]);
        assert!(lines[0].contains("Project Backup Manager"), "{}", lines[0]);
    }

    // Due again after the hour, but switched off: no request, no new line, still 0.
    for _ in 0..3 {
        let_pass(HOUR).await;
        let cost = cycle_cost(&mut h).await;
        assert!(!cost.contains_key("export_jobs_list"), "{cost:?}");
        assert!(!cost.contains_key("restore_jobs_list"), "{cost:?}");
        assert_eq!(cost.get("flex_restore_jobs_list"), Some(&1), "{cost:?}");
    }
    for source in ["exports", "restores"] {
        assert_eq!(warnings(source).len(), 1, "{source}");
    }
    let m = h.scrape().await;
    assert_eq!(source_up(&m, READ_ONLY, "exports"), Some(0.0));
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(READ_ONLY, "ded2")),
        Some(1.0)
    );
}

#[tokio::test]
async fn restores_and_exports_are_read_hourly_and_alerts_every_poll_interval() {
    let mut h = setup(vec![prod()], |_| {}).start().await;
    let every_source = counts(&[
        ("alerts_list", 1),
        ("export_jobs_list", 1),
        ("flex_restore_jobs_list", 1),
        ("restore_jobs_list", 1),
    ]);
    assert_eq!(cycle_cost(&mut h).await, every_source);
    // Within the poll interval nothing is due again.
    assert_eq!(cycle_cost(&mut h).await, BTreeMap::new());
    // The alerts are due every poll interval; the jobs not within the hour.
    let_pass(POLL_INTERVAL).await;
    assert_eq!(cycle_cost(&mut h).await, counts(&[("alerts_list", 1)]));
    let_pass(HOUR - POLL_INTERVAL - Duration::from_secs(1)).await;
    assert_eq!(cycle_cost(&mut h).await, counts(&[("alerts_list", 1)]));
    // The hour since the first cycle began has passed: the jobs are read again (the alerts,
    // read a second ago, are not).
    let_pass(Duration::from_secs(1)).await;
    assert_eq!(
        cycle_cost(&mut h).await,
        counts(&[
            ("export_jobs_list", 1),
            ("flex_restore_jobs_list", 1),
            ("restore_jobs_list", 1),
        ])
    );
    // The failed ids were seen before: counted once.
    let m = h.scrape().await;
    assert_eq!(
        m.get(
            "atlas_snapshot_restore_failures_total",
            &cluster(P1, "flex1")
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn with_a_poll_interval_over_15_minutes_the_alerts_are_read_between_cycles() {
    let mut h = setup(vec![prod()], |c| c.poll_interval = HOUR)
        .start()
        .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let poll_loop = h.poller.run(&mut h.configs, async {
        let _ = stopped.await;
    });
    let sim = &h.sim;
    let requests = |route: &str| sim.stats().by_route.get(route).copied().unwrap_or(0);
    let test = async {
        until("the first cycle reads the alerts", || {
            requests("alerts_list") == 1
        })
        .await;
        until("the first cycle reads the jobs", || {
            requests("export_jobs_list") == 1
        })
        .await;
        let polls = requests("dedicated_list") + requests("flex_list");
        for read in 2..=4 {
            let_pass(Duration::from_secs(15 * 60)).await;
            until("the alerts are read every 15 minutes", || {
                requests("alerts_list") == read
            })
            .await;
        }
        // Only the alerts: no cycle ran in between.
        assert_eq!(requests("dedicated_list") + requests("flex_list"), polls);
        assert_eq!(requests("restore_jobs_list"), 1);
        let _ = stop.send(());
    };
    tokio::join!(poll_loop, test);
}

/// Waits (on the wall clock, at most 30 s) until `done`: what is awaited is the exporter's
/// work over real sockets, whose time the test does not drive.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
