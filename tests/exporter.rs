//! The exporter end to end over real sockets: simulator → client → poller → /metrics.

// Tests and their fixtures may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use atlas_snapshot_exporter::atlas::{AtlasClient, AtlasError, Reason};
use atlas_snapshot_exporter::clock::unix_seconds;
use atlas_snapshot_exporter::poller::ClientFactory;
use atlas_snapshot_exporter::simulator::{
    Fault, HistoryOptions, InFlightPhase, NonceReuse, RateLimit, Scenario, SimCluster, SimKind,
    SimProject, SimSnapshot, SimStatus, SunsetNotice, daily_history,
};
use atlas_snapshot_exporter::state::ExporterState;
use atlas_snapshot_exporter::target::{ApiVersion, Kind};
use common::logs::CapturedLogs;
use common::{Harness, Setup, cluster, cluster_and, fixed_now};

const P1: &str = "5b69d0349b15c62cdfc38b78";
const P2: &str = "6c7a0e1f2a3b4c5d6e7f8091";
const KEY: &str = "testpublickey";
const SECRET: &str = "s3cr3t-private-key-9f1c";

fn scenario(projects: Vec<SimProject>) -> Scenario {
    let mut s = Scenario::new().with_api_key(KEY, SECRET);
    for p in projects {
        s = s.with_project(p);
    }
    s
}

fn healthy(seed: u64, days: u32) -> Vec<SimSnapshot> {
    daily_history(seed, fixed_now(), days, HistoryOptions::default())
}

fn flex(name: &str, snapshots: Vec<SimSnapshot>) -> SimCluster {
    SimCluster::new(name, SimKind::Flex).with_snapshots(snapshots)
}

fn finish_seconds(s: &SimSnapshot) -> f64 {
    unix_seconds(s.finished.unwrap())
}

#[tokio::test]
async fn a_1203_snapshot_listing_is_read_to_its_last_page() {
    // Oldest first, so the newest COMPLETED snapshot and the failures sit on page 3 of 3.
    let mut history = healthy(7, 1203);
    history.reverse();
    for i in [1100, 1150, 1190] {
        history[i].status = SimStatus::Failed;
    }
    let newest = history[1202].clone();
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("big", history)),
    ]))
    .fixed_clock(fixed_now())
    .without_optional_sources()
    .start()
    .await;

    h.cycle().await;

    let m = h.scrape().await;
    let c = cluster(P1, "big");
    assert_eq!(m.get("atlas_snapshot_target_up", &c), Some(1.0));
    assert_eq!(
        m.get(
            "atlas_snapshot_snapshots",
            &cluster_and(P1, "big", "status", "COMPLETED")
        ),
        Some(1200.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_snapshots",
            &cluster_and(P1, "big", "status", "FAILED")
        ),
        Some(3.0)
    );
    assert_eq!(m.get("atlas_snapshot_failures_total", &c), Some(3.0));
    assert_eq!(
        m.get("atlas_snapshot_latest_completed_timestamp_seconds", &c),
        Some(finish_seconds(&newest))
    );
    assert_eq!(
        m.get("atlas_snapshot_latest_completed_age_seconds", &c),
        Some(unix_seconds(fixed_now()) - finish_seconds(&newest))
    );
    assert_eq!(h.sim.stats().pages_served, 3, "500 + 500 + 203");
}

#[tokio::test]
async fn the_newest_completed_snapshot_is_found_in_the_middle_of_the_listing() {
    let history = daily_history(
        11,
        fixed_now(),
        30,
        HistoryOptions {
            in_flight: true,
            in_flight_phase: InFlightPhase::Running,
            failure_rate: 0.2,
            ..HistoryOptions::default()
        },
    );
    // history[0] is in flight, history[1] the newest settled one (COMPLETED by default).
    let newest_completed = history[1].clone();
    assert_eq!(newest_completed.status, SimStatus::Completed);
    let mut listing: Vec<SimSnapshot> = history[2..].to_vec();
    listing.insert(14, newest_completed.clone());
    listing.push(history[0].clone());
    listing.rotate_left(5);
    assert_ne!(listing.first(), Some(&newest_completed));
    assert_ne!(listing.last(), Some(&newest_completed));

    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("mixed", listing)),
    ]))
    .fixed_clock(fixed_now())
    .start()
    .await;
    h.cycle().await;

    let m = h.scrape().await;
    let c = cluster(P1, "mixed");
    assert_eq!(
        m.get("atlas_snapshot_latest_completed_timestamp_seconds", &c),
        Some(finish_seconds(&newest_completed))
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_latest_status",
            &cluster_and(P1, "mixed", "status", "RUNNING")
        ),
        Some(1.0),
        "the in-flight snapshot is the newest, wherever it is listed"
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_latest_status",
            &cluster_and(P1, "mixed", "status", "COMPLETED")
        ),
        Some(0.0)
    );
    let oldest = history.last().unwrap();
    if oldest.status == SimStatus::Completed {
        assert_eq!(
            m.get("atlas_snapshot_oldest_completed_timestamp_seconds", &c),
            Some(finish_seconds(oldest))
        );
    }
}

#[tokio::test]
async fn a_wrong_private_key_marks_the_target_unauthorized() {
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("c1", healthy(1, 8))),
    ]))
    .tweak(|c| {
        c.atlas.credentials = atlas_snapshot_exporter::config::Credentials::ApiKey {
            public_key: KEY.into(),
            private_key: atlas_snapshot_exporter::secret::Secret::new("wrong"),
        }
    })
    .start()
    .await;
    h.cycle().await;

    let m = h.scrape().await;
    let c = cluster(P1, "c1");
    assert_eq!(m.get("atlas_snapshot_target_up", &c), Some(0.0));
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P1, "c1", "reason", "unauthorized")
        ),
        Some(1.0)
    );
    assert!(
        !m.has("atlas_snapshot_snapshots", &c),
        "never polled successfully"
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_exporter_api_requests_total",
            &[("endpoint", "list_flex_snapshots"), ("code", "401")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn the_right_key_costs_no_401_after_the_first_cycle() {
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("c1", healthy(1, 8)))
            .with_cluster(flex("c2", healthy(2, 8)))
            .with_cluster(flex("c3", healthy(3, 8))),
    ]))
    .start()
    .await;
    h.cycle().await;
    let first = h.sim.stats();
    assert!(
        first.unauthorized >= 1,
        "the first cycle meets a digest challenge"
    );

    h.sim.reset_stats();
    h.cycle().await;
    let second = h.sim.stats();
    assert_eq!(second.unauthorized, 0, "the nonce is reused: {second:?}");
    assert_eq!(second.requests, 3, "one request per target: {second:?}");
    let m = h.scrape().await;
    for name in ["c1", "c2", "c3"] {
        assert_eq!(
            m.get("atlas_snapshot_target_up", &cluster(P1, name)),
            Some(1.0)
        );
    }
}

/// Three flex targets with five listing pages between them: 8, 8 and 1203 snapshots.
fn five_pages(nonce_reuse: NonceReuse) -> Scenario {
    Scenario {
        nonce_reuse,
        ..scenario(vec![
            SimProject::new(P1, "prod")
                .with_cluster(flex("c1", healthy(1, 8)))
                .with_cluster(flex("c2", healthy(2, 8)))
                .with_cluster(flex("big", healthy(3, 1203))),
        ])
    }
}

const CHALLENGES: &str = "atlas_snapshot_exporter_auth_challenges_total";

#[tokio::test]
async fn where_nonces_are_single_use_a_cycle_costs_two_requests_a_page_never_three() {
    for reuse in [NonceReuse::RefusedStale, NonceReuse::RefusedPlain] {
        let mut h = Setup::new(five_pages(reuse))
            .without_optional_sources()
            .start()
            .await;
        h.cycle().await;
        let first = h.sim.stats();
        assert_eq!(first.pages_served, 5, "{reuse:?}: {first:?}");
        // Even the cycle that finds out costs no more: a refused nonce's 401 is answered.
        assert_eq!(
            first.by_route.get("flex_list"),
            Some(&10),
            "{reuse:?}: {first:?}"
        );
        // The first cycle also reads each cluster's facts, once per refresh interval: one GET
        // per cluster, a challenge and an answer each; flex clusters need no schedule.
        assert_eq!(
            first.by_route.get("flex_cluster_get"),
            Some(&6),
            "{reuse:?}: {first:?}"
        );
        assert_eq!(first.requests, 16, "{reuse:?}: {first:?}");
        for cycle in 2..=3 {
            h.sim.reset_stats();
            h.cycle().await;
            let stats = h.sim.stats();
            assert_eq!(stats.pages_served, 5, "{reuse:?}: {stats:?}");
            assert_eq!(
                stats.requests, 10,
                "{reuse:?} cycle {cycle}: challenge and answer per page: {stats:?}"
            );
            assert_eq!(stats.unauthorized, 5, "{reuse:?}: {stats:?}");
        }
        let m = h.scrape().await;
        // 5 pages a cycle for 3 cycles, and the first refresh's 3 cluster GETs.
        assert_eq!(m.get(CHALLENGES, &[]), Some(18.0), "{reuse:?}");
        for name in ["c1", "c2", "big"] {
            assert_eq!(
                m.get("atlas_snapshot_target_up", &cluster(P1, name)),
                Some(1.0)
            );
        }
    }
}

#[tokio::test]
async fn where_nonces_may_be_reused_a_cycle_costs_one_request_a_page_and_no_challenge() {
    let mut h = Setup::new(five_pages(NonceReuse::Allowed))
        .without_optional_sources()
        .start()
        .await;
    h.cycle().await;
    let after_first = h.scrape().await.get(CHALLENGES, &[]).unwrap();
    // Targets start together, so each may meet its own first challenge, as may each of the
    // three cluster GETs of the first refresh beside them.
    assert!((1.0..=6.0).contains(&after_first), "{after_first}");
    for _ in 0..2 {
        h.sim.reset_stats();
        h.cycle().await;
        let stats = h.sim.stats();
        assert_eq!(stats.pages_served, 5, "{stats:?}");
        assert_eq!(stats.requests, 5, "{stats:?}");
        assert_eq!(stats.unauthorized, 0, "{stats:?}");
    }
    assert_eq!(h.scrape().await.get(CHALLENGES, &[]), Some(after_first));
}

#[tokio::test]
async fn each_fault_marks_only_its_own_target_down_with_its_reason() {
    let names = ["healthy", "gone", "broken", "garbled", "slow"];
    let mut project = SimProject::new(P1, "prod");
    for (i, n) in names.iter().enumerate() {
        project = project.with_cluster(flex(n, healthy(i as u64 + 1, 8)));
    }
    let mut h = Setup::new(scenario(vec![project]))
        .fixed_clock(fixed_now())
        .tweak(|c| c.atlas.timeout = Duration::from_millis(700))
        .start()
        .await;
    h.cycle().await;
    let before = h.scrape().await;
    for n in names {
        assert_eq!(
            before.get("atlas_snapshot_target_up", &cluster(P1, n)),
            Some(1.0),
            "{n}"
        );
    }

    h.sim.set_fault(P1, "gone", Some(Fault::NotFound));
    h.sim.set_fault(P1, "broken", Some(Fault::ServerError));
    h.sim.set_fault(P1, "garbled", Some(Fault::MalformedJson));
    h.sim
        .set_fault(P1, "slow", Some(Fault::Slow(Duration::from_secs(3))));
    h.cycle().await;
    let after = h.scrape().await;

    let expect = [
        ("gone", "not_found"),
        ("broken", "server_error"),
        ("garbled", "decode"),
        ("slow", "timeout"),
    ];
    for (n, reason) in expect {
        let c = cluster(P1, n);
        assert_eq!(after.get("atlas_snapshot_target_up", &c), Some(0.0), "{n}");
        assert_eq!(
            after.get(
                "atlas_snapshot_target_errors_total",
                &cluster_and(P1, n, "reason", reason)
            ),
            Some(1.0),
            "{n}"
        );
        let other_reasons: f64 = after
            .all("atlas_snapshot_target_errors_total", &c)
            .iter()
            .filter(|s| s.labels["reason"] != reason)
            .map(|s| s.value)
            .sum();
        assert_eq!(other_reasons, 0.0, "{n}");
    }
    // A 404 drops the snapshot series; other failures keep the last good values.
    assert!(!after.has("atlas_snapshot_snapshots", &cluster(P1, "gone")));
    assert!(!after.has(
        "atlas_snapshot_latest_completed_timestamp_seconds",
        &cluster(P1, "gone")
    ));
    assert!(after.has("atlas_snapshot_cluster_info", &cluster(P1, "gone")));
    for n in ["broken", "garbled", "slow"] {
        for metric in [
            "atlas_snapshot_latest_completed_timestamp_seconds",
            "atlas_snapshot_oldest_completed_timestamp_seconds",
            "atlas_snapshot_failures_total",
        ] {
            assert_eq!(
                after.get(metric, &cluster(P1, n)),
                before.get(metric, &cluster(P1, n)),
                "{n} {metric}"
            );
        }
        assert_eq!(
            after.get(
                "atlas_snapshot_target_last_success_timestamp_seconds",
                &cluster(P1, n)
            ),
            before.get(
                "atlas_snapshot_target_last_success_timestamp_seconds",
                &cluster(P1, n)
            ),
        );
    }
    // The healthy target is untouched.
    let c = cluster(P1, "healthy");
    assert_eq!(after.get("atlas_snapshot_target_up", &c), Some(1.0));
    for s in before.all("atlas_snapshot_snapshots", &c) {
        let labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            after.get("atlas_snapshot_snapshots", &labels),
            Some(s.value)
        );
    }
    let errors: f64 = after
        .all("atlas_snapshot_target_errors_total", &c)
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(errors, 0.0);

    // Recovery: the faults clear and every target is up again.
    for n in ["gone", "broken", "garbled", "slow"] {
        h.sim.set_fault(P1, n, None);
    }
    h.cycle().await;
    let recovered = h.scrape().await;
    for n in names {
        assert_eq!(
            recovered.get("atlas_snapshot_target_up", &cluster(P1, n)),
            Some(1.0),
            "{n}"
        );
    }
    assert!(recovered.has("atlas_snapshot_snapshots", &cluster(P1, "gone")));
}

#[tokio::test]
async fn a_short_rate_limit_is_waited_out_within_the_poll() {
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("c1", healthy(1, 8))),
    ]))
    .start()
    .await;
    h.sim.set_fault(
        P1,
        "c1",
        Some(Fault::RateLimited {
            retry_after_secs: 1,
            remaining: Some(1),
        }),
    );
    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "c1")),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_exporter_api_requests_total",
            &[("endpoint", "list_flex_snapshots"), ("code", "429")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn persistent_throttling_marks_the_target_rate_limited() {
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("c1", healthy(1, 8)))
            .with_cluster(flex("c2", healthy(2, 8))),
    ]))
    .start()
    .await;
    h.sim.set_fault(
        P1,
        "c1",
        Some(Fault::RateLimited {
            retry_after_secs: 60,
            remaining: None,
        }),
    );
    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "c1")),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P1, "c1", "reason", "rate_limited")
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "c2")),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_retry_after_holds_off_the_projects_later_polls_too() {
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("hot", healthy(1, 8))),
        SimProject::new(P2, "dev").with_cluster(flex("calm", healthy(2, 8))),
    ]))
    .tweak(|c| c.atlas.poll_deadline = Some(SHORT_DEADLINE))
    .without_optional_sources()
    .start()
    .await;
    h.sim.set_fault(
        P1,
        "hot",
        Some(Fault::RateLimited {
            retry_after_secs: 60,
            remaining: None,
        }),
    );
    for _ in 0..3 {
        h.cycle().await;
    }
    let stats = h.sim.stats();
    // hot was asked in the first cycle only (its listing and its refresh GET go out together,
    // unless the first 429 holds the other back), never again while Atlas' Retry-After runs:
    // before, every cycle asked again. calm: a listing every cycle and one refresh GET.
    let throttled = stats.by_status.get(&429).copied().unwrap_or(0);
    assert!((1..=2).contains(&throttled), "{stats:?}");
    assert_eq!(stats.by_status.get(&200), Some(&4), "{stats:?}");
    let m = h.scrape().await;
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P1, "hot", "reason", "rate_limited")
        ),
        Some(3.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P2, "calm")),
        Some(1.0)
    );
}

#[tokio::test]
async fn auto_resolves_dedicated_clusters_once_and_remembers() {
    let dedicated = SimCluster::new("m10", SimKind::Dedicated).with_snapshots(daily_history(
        5,
        fixed_now(),
        8,
        HistoryOptions {
            size_bytes: Some(2_000_000_000),
            ..HistoryOptions::default()
        },
    ));
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(dedicated)
            .with_cluster(flex("f1", healthy(1, 8))),
    ]))
    .tweak(|c| {
        for cl in &mut c.projects[0].clusters {
            cl.kind = Kind::Auto;
        }
    })
    .start()
    .await;
    h.cycle().await;
    let m = h.scrape().await;
    assert!(m.has(
        "atlas_snapshot_cluster_info",
        &[("cluster_name", "m10"), ("kind", "dedicated")]
    ));
    assert!(m.has(
        "atlas_snapshot_cluster_info",
        &[("cluster_name", "f1"), ("kind", "flex")]
    ));
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "m10")),
        Some(1.0)
    );
    assert!(
        m.get(
            "atlas_snapshot_latest_completed_size_bytes",
            &cluster(P1, "m10")
        )
        .is_some()
    );
    assert!(
        !m.has(
            "atlas_snapshot_latest_completed_duration_seconds",
            &cluster(P1, "m10")
        ),
        "dedicated listings carry one time only"
    );
    assert!(m.has(
        "atlas_snapshot_latest_completed_duration_seconds",
        &cluster(P1, "f1")
    ));

    h.sim.reset_stats();
    h.cycle().await;
    let stats = h.sim.stats();
    assert_eq!(
        stats.requests, 2,
        "one request per cluster once resolved: {stats:?}"
    );
}

#[tokio::test]
async fn tenant_and_legacy_listings_work_in_both_api_versions() {
    let tenant = SimCluster::new("m2", SimKind::Tenant).with_snapshots(daily_history(
        3,
        fixed_now(),
        700,
        HistoryOptions::default(),
    ));
    let legacy = SimCluster::new("old", SimKind::Legacy).with_snapshots(daily_history(
        4,
        fixed_now(),
        10,
        HistoryOptions {
            in_flight: true,
            size_bytes: Some(1_000_000),
            ..HistoryOptions::default()
        },
    ));
    for version in [ApiVersion::V2, ApiVersion::V1_0] {
        let mut h = Setup::new(scenario(vec![
            SimProject::new(P2, "legacy")
                .with_cluster(tenant.clone())
                .with_cluster(legacy.clone()),
        ]))
        .tweak(move |c| c.atlas.api_version = version)
        .without_optional_sources()
        .start()
        .await;
        h.cycle().await;
        let m = h.scrape().await;
        assert_eq!(
            m.get("atlas_snapshot_target_up", &cluster(P2, "m2")),
            Some(1.0),
            "{version}"
        );
        assert_eq!(
            m.get(
                "atlas_snapshot_snapshots",
                &cluster_and(P2, "m2", "status", "COMPLETED")
            ),
            Some(700.0),
            "{version}: every page of the tenant listing"
        );
        assert_eq!(
            m.get("atlas_snapshot_target_up", &cluster(P2, "old")),
            Some(1.0),
            "{version}"
        );
        assert_eq!(
            m.get(
                "atlas_snapshot_snapshots",
                &cluster_and(P2, "old", "status", "RUNNING")
            ),
            Some(1.0),
            "{version}: the incomplete legacy snapshot is listed (completed=all on v2)"
        );
        assert!(
            m.get(
                "atlas_snapshot_latest_completed_size_bytes",
                &cluster(P2, "old")
            )
            .is_some()
        );
        let expected_pages = if version == ApiVersion::V2 {
            1 + 1
        } else {
            2 + 1
        };
        assert_eq!(h.sim.stats().pages_served, expected_pages, "{version}");
    }
}

#[tokio::test]
async fn readiness_waits_for_the_first_cycle_and_unknown_paths_are_404() {
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("c1", healthy(1, 8))),
    ]))
    .start()
    .await;
    assert_eq!(h.get("/-/healthy").await.status(), 200);
    assert_eq!(h.get("/-/ready").await.status(), 503);
    let m = h.scrape().await;
    assert!(m.has("atlas_snapshot_cluster_info", &cluster(P1, "c1")));
    assert!(
        !m.has("atlas_snapshot_target_up", &cluster(P1, "c1")),
        "not polled yet"
    );
    h.cycle().await;
    assert_eq!(h.get("/-/ready").await.status(), 200);
    assert_eq!(h.get("/nope").await.status(), 404);
    assert_eq!(h.get("/metrics/extra").await.status(), 404);
    let post = h
        .http
        .post(format!("{}/metrics", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    let reload = h
        .http
        .post(format!("{}/-/reload", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 400, "no config file to reload");
    let landing = h.get("/").await;
    assert_eq!(landing.status(), 200);
    let body = landing.text().await.unwrap();
    assert!(body.contains("c1") && body.contains(P1) && body.contains("href=\"/metrics\""));
}

#[tokio::test]
async fn the_landing_page_filters_by_its_query_and_answers_a_bad_value_with_400() {
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("orders", healthy(1, 8)))
            .with_cluster(flex("billing", healthy(2, 8))),
        SimProject::new(P2, "staging").with_cluster(flex("orders-test", healthy(3, 8))),
    ]))
    .fixed_clock(fixed_now())
    .start()
    .await;
    h.sim.set_fault(P1, "billing", Some(Fault::NotFound));
    h.cycle().await;
    let page = |path: &'static str| {
        let h = &h;
        async move {
            let r = h.get(path).await;
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };

    let all = page("/").await;
    assert!(
        all.contains("<p>1 of 3 clusters need attention.</p>"),
        "{all}"
    );
    let orders = page("/?q=ORDERS&sort=unknown").await;
    assert!(orders.contains("<td>orders</td>") && orders.contains("<td>orders-test</td>"));
    assert!(!orders.contains("<td>billing</td>"), "{orders}");
    assert!(orders.contains("<p>2 of 3 clusters match the filter.</p>"));
    let by_id = page("/?q=6C7A0E").await;
    assert!(by_id.contains("<td>orders-test</td>") && !by_id.contains("<td>orders</td>"));
    let problems = page("/?status=problems").await;
    assert!(problems.contains("<td>billing</td>") && !problems.contains("<td>orders</td>"));
    let one = page("/?limit=1").await;
    assert_eq!(one.matches("<tr><td>").count(), 1, "{one}");
    assert!(one.contains("And 2 more clusters (2 healthy)"), "{one}");

    let hostile = page("/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert!(!hostile.contains("<script"), "{hostile}");
    assert!(hostile.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));

    for (path, reason) in [
        (
            "/?limit=0",
            "bad limit \"0\": give a whole number of rows from 1 to 5000\n",
        ),
        ("/?limit=5001", "bad limit \"5001\""),
        ("/?limit=%3Cb%3E", "bad limit \"<b>\""),
        (
            "/?status=maybe",
            "bad status \"maybe\": give all or problems\n",
        ),
    ] {
        let r = h.get(path).await;
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "text/plain; charset=utf-8",
            "{path}"
        );
        let body = r.text().await.unwrap();
        assert!(body.starts_with(reason), "{path}: {body}");
    }
    assert_eq!(h.get("/").await.status(), 200, "still serving");
}

/// Longer than any test runs: a `Fault::Slow` this long holds its answer until the test lets it
/// go, and a client timeout this long never fires first.
const HELD: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_healthy_targets_result_is_published_before_a_slow_one_finishes() {
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("fast", healthy(1, 8)))
            .with_cluster(flex("slow", healthy(2, 8))),
    ]))
    .tweak(|c| {
        c.atlas.timeout = HELD;
        c.atlas.poll_deadline = Some(HELD);
        c.poll_interval = HELD;
    })
    .start()
    .await;
    h.cycle().await;
    let c = cluster(P1, "fast");
    let first = h.scrape().await;
    assert_eq!(first.get("atlas_snapshot_failures_total", &c), Some(0.0));
    let cycle_ended = |m: &common::Scrape| {
        m.get(
            "atlas_snapshot_exporter_last_poll_cycle_timestamp_seconds",
            &[],
        )
    };
    let first_cycle = cycle_ended(&first);
    assert!(first_cycle.is_some());
    // Listings the exporter has received an answer to, counted as they arrive, mid-cycle too.
    let answered = |m: &common::Scrape| {
        m.get(
            "atlas_snapshot_exporter_api_requests_total",
            &[("endpoint", "list_flex_snapshots"), ("code", "200")],
        )
        .unwrap_or(0.0)
    };
    let before = answered(&first);

    let mut failed = healthy(1, 8);
    failed[0].status = SimStatus::Failed;
    h.sim.set_snapshots(P1, "fast", failed);
    h.sim.set_fault(P1, "slow", Some(Fault::Slow(HELD)));
    let mut poller = h.poller;
    let cycle = tokio::spawn(async move {
        poller.run_cycle().await;
        poller
    });
    // The fast target's new result is published while the slow target's answer is held.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let during = loop {
        let m = exposition_get(&h.http, &h.url).await;
        if m.get("atlas_snapshot_failures_total", &c) == Some(1.0) {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the fast target's new result was never published mid-cycle"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(answered(&during), before + 1.0, "the slow answer is held");
    assert!(!cycle.is_finished(), "the cycle waits for the slow target");
    assert_eq!(
        cycle_ended(&during),
        first_cycle,
        "the cycle-level metrics wait for the cycle to end"
    );

    // Let the held answer go: dropping the simulator closes its connections, so the slow poll
    // fails at once and the cycle ends.
    drop(h.sim);
    let _poller = cycle.await.unwrap();
    let after = exposition_get(&h.http, &h.url).await;
    assert_eq!(after.get("atlas_snapshot_failures_total", &c), Some(1.0));
    assert_ne!(cycle_ended(&after), first_cycle, "the cycle ended");
}

/// How long the deadline tests give a poll: far longer than a healthy poll over loopback
/// takes, so that only the held target can reach it.
const SHORT_DEADLINE: Duration = Duration::from_secs(2);

#[tokio::test]
async fn a_slow_target_fails_as_timeout_at_its_deadline_and_the_others_are_fine() {
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("fast", healthy(1, 8)))
            .with_cluster(flex("slow", healthy(2, 8))),
        SimProject::new(P2, "dev").with_cluster(flex("other", healthy(3, 8))),
    ]))
    .tweak(|c| {
        c.atlas.timeout = HELD;
        c.atlas.poll_deadline = Some(SHORT_DEADLINE);
        c.poll_interval = HELD;
    })
    .start()
    .await;
    h.sim.set_fault(P1, "slow", Some(Fault::Slow(HELD)));
    h.cycle().await;
    let state = h.state.load();
    let outcome = |name: &str| {
        state
            .targets()
            .find(|t| &*t.target.cluster_name == name)
            .and_then(|t| t.last_poll.clone())
            .unwrap()
    };
    assert!(outcome("fast").error.is_none());
    assert!(outcome("other").error.is_none());
    let error = outcome("slow").error.unwrap();
    assert_eq!(error.reason, Reason::Timeout);
    assert_eq!(
        error.message,
        "the poll did not finish within its deadline of 2s (atlas.poll_deadline)"
    );
    let m = h.scrape().await;
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P1, "slow", "reason", "timeout")
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "fast")),
        Some(1.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "slow")),
        Some(0.0)
    );
}

#[tokio::test]
async fn ready_turns_200_when_the_first_deadline_passes_while_a_target_is_still_polled() {
    // One slot: `slow2` starts only when `slow1` has hit its deadline, so the cycle runs on
    // for a whole deadline after the first one passed.
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("slow1", healthy(1, 8)))
            .with_cluster(flex("slow2", healthy(2, 8))),
    ]))
    .tweak(|c| {
        c.atlas.timeout = HELD;
        c.atlas.max_concurrency = 1;
        c.atlas.poll_deadline = Some(SHORT_DEADLINE);
        c.poll_interval = HELD;
    })
    .start()
    .await;
    h.sim.set_fault(P1, "slow1", Some(Fault::Slow(HELD)));
    h.sim.set_fault(P1, "slow2", Some(Fault::Slow(HELD)));
    assert_eq!(h.get("/-/ready").await.status(), 503, "nothing tried yet");
    let (http, url, state) = (h.http.clone(), h.url.clone(), Arc::clone(&h.state));
    let probe = async move {
        let give_up = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status = http
                .get(format!("{url}/-/ready"))
                .send()
                .await
                .unwrap()
                .status();
            if status == 200 {
                break;
            }
            assert!(std::time::Instant::now() < give_up, "never ready");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let state = state.load();
        let polled: Vec<bool> = state.targets().map(|t| t.last_poll.is_some()).collect();
        assert_eq!(state.last_cycle, None, "ready before the first cycle ended");
        polled
    };
    let (polled, ()) = tokio::join!(probe, h.cycle());
    assert!(!polled[1], "slow2 was still being polled");
    assert_eq!(h.get("/-/ready").await.status(), 200);
}

async fn exposition_get(http: &reqwest::Client, url: &str) -> common::Scrape {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    common::exposition::parse(&text).unwrap()
}

#[tokio::test]
async fn every_status_is_always_present_and_absent_things_stay_absent() {
    let never = daily_history(
        9,
        fixed_now(),
        5,
        HistoryOptions {
            all_failed: true,
            ..HistoryOptions::default()
        },
    );
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("empty", vec![]))
            .with_cluster(flex("never", never)),
    ]))
    .start()
    .await;
    h.cycle().await;
    let m = h.scrape().await;
    for name in ["empty", "never"] {
        let c = cluster(P1, name);
        assert_eq!(m.all("atlas_snapshot_snapshots", &c).len(), 5, "{name}");
        assert!(
            !m.has("atlas_snapshot_latest_completed_timestamp_seconds", &c),
            "{name}"
        );
        assert!(
            !m.has("atlas_snapshot_latest_completed_age_seconds", &c),
            "{name}"
        );
        assert!(
            !m.has("atlas_snapshot_oldest_completed_timestamp_seconds", &c),
            "{name}"
        );
        assert_eq!(
            m.all("atlas_snapshot_target_errors_total", &c).len(),
            10,
            "{name}"
        );
    }
    assert!(!m.has("atlas_snapshot_latest_status", &cluster(P1, "empty")));
    assert_eq!(
        m.get("atlas_snapshot_failures_total", &cluster(P1, "empty")),
        Some(0.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_failures_total", &cluster(P1, "never")),
        Some(5.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_latest_status",
            &cluster_and(P1, "never", "status", "FAILED")
        ),
        Some(1.0)
    );
}

/// More gzip scrapes at once than there are cores: they take turns compressing, and every one
/// gets the whole answer.
#[tokio::test]
async fn many_gzip_scrapes_at_once_all_get_the_whole_answer() {
    use std::io::Read;
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("c1", healthy(1, 8)))
            .with_cluster(flex("c2", healthy(2, 8))),
    ]))
    .fixed_clock(fixed_now())
    .start()
    .await;
    h.cycle().await;
    let raw = reqwest::Client::builder().gzip(false).build().unwrap();
    let url = format!("{}/metrics", h.url);
    let scrapes = (0..16).map(|_| {
        let request = raw.get(&url).header("accept-encoding", "gzip");
        async move { request.send().await.unwrap().bytes().await.unwrap() }
    });
    let bodies = futures_join_all(scrapes).await;
    let texts: Vec<String> = bodies
        .iter()
        .map(|b| {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&b[..])
                .read_to_string(&mut text)
                .unwrap();
            text
        })
        .collect();
    for text in &texts {
        let m = common::exposition::parse(text).unwrap();
        for c in ["c1", "c2"] {
            assert_eq!(
                m.get("atlas_snapshot_target_up", &cluster(P1, c)),
                Some(1.0)
            );
        }
    }
}

/// Runs the futures at once on this task's runtime, in order of their results.
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn scrapes_are_gzipped_only_for_clients_that_ask() {
    use std::io::Read;
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("c1", healthy(1, 8))),
    ]))
    .fixed_clock(fixed_now())
    .start()
    .await;
    h.cycle().await;
    let raw = reqwest::Client::builder().gzip(false).build().unwrap();
    let url = format!("{}/metrics", h.url);

    let zipped = raw
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["vary"], "Accept-Encoding");
    let bytes = zipped.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    let m = common::exposition::parse(&text).unwrap();
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "c1")),
        Some(1.0)
    );

    for accept in [None, Some("gzip;q=0"), Some("identity")] {
        let mut request = raw.get(&url);
        if let Some(a) = accept {
            request = request.header("accept-encoding", a);
        }
        let plain = request.send().await.unwrap();
        assert!(
            plain.headers().get("content-encoding").is_none(),
            "{accept:?}"
        );
        common::exposition::parse(&plain.text().await.unwrap()).unwrap();
    }
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_and_the_server_keeps_serving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("c1", healthy(1, 8))),
    ]))
    .start()
    .await;
    let addr = h.url.trim_start_matches("http://").to_owned();
    let huge_header = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    for request in [
        "GARBAGE\r\n\r\n".to_owned(),
        "GET /metrics HTTP/9.9\r\n\r\n".to_owned(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n".to_owned(),
        huge_header,
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = stream.write_all(request.as_bytes()).await;
        let mut response = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
        let head = String::from_utf8_lossy(&response[..response.len().min(12)]).to_string();
        assert!(
            head.starts_with("HTTP/1.1 4"),
            "{:?} got {head:?}",
            &request[..request.len().min(40)]
        );
    }
    assert_eq!(h.get("/-/healthy").await.status(), 200);
}

/// The server buffers at most 64 KiB a connection: a request head of 40 KiB (a browser's
/// cookies, a proxy's headers) is still served, one of 100 KiB is refused with 431.
#[tokio::test]
async fn a_long_request_head_is_served_up_to_the_connection_buffer() {
    let h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("c1", healthy(1, 8))),
    ]))
    .start()
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", h.url);
    let with_header = |kib: usize| {
        let value = "a".repeat(kib * 1024);
        client.get(&url).header("x-long", value).send()
    };
    assert_eq!(with_header(40).await.unwrap().status(), 200);
    assert_eq!(with_header(100).await.unwrap().status(), 431);
    assert_eq!(h.get("/-/healthy").await.status(), 200);
}

/// The `atlas.timeout` for which [`refusing_factory`] cannot build a client.
const REFUSED_TIMEOUT: Duration = Duration::from_secs(7);

/// Builds Atlas clients as the exporter does, except for an `atlas` section with
/// [`REFUSED_TIMEOUT`]. No valid config makes `AtlasClient::new` fail for real today, so this
/// stands in for one that would (a client whose TLS setup fails, say).
fn refusing_factory() -> ClientFactory {
    ClientFactory::new(|atlas, observer| {
        if atlas.timeout == REFUSED_TIMEOUT {
            Err(AtlasError::Internal(
                "cannot build the HTTP client: refused by the test".into(),
            ))
        } else {
            AtlasClient::new(atlas, observer)
        }
    })
}

fn config_yaml(base_url: &str, timeout: &str, clusters: &[&str]) -> String {
    let clusters: String = clusters
        .iter()
        .map(|c| format!("      - name: {c}\n        kind: flex\n"))
        .collect();
    format!(
        "atlas:\n  base_url: {base_url}\n  timeout: {timeout}\n  public_key: {KEY}\n  private_key: {SECRET}\npoll_interval: 1h\nprojects:\n  - id: {P1}\n    name: prod\n    clusters:\n{clusters}"
    )
}

fn write_web_config(path: &std::path::Path, frame_options: &str) {
    let text = format!("http_server_config:\n  headers:\n    X-Frame-Options: {frame_options}\n");
    std::fs::write(path, text).unwrap();
}

/// POSTs /-/reload while the poller runs its own loop, the one that takes reloaded configs;
/// waits until `applied` holds before stopping the loop.
async fn reload_while_polling(
    h: &mut Harness,
    applied: impl Fn(&ExporterState) -> bool,
) -> (reqwest::StatusCode, String) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let poll_loop = h.poller.run(&mut h.configs, async {
        let _ = stopped.await;
    });
    let (http, url, state) = (&h.http, &h.url, &h.state);
    let reload = async {
        let r = http.post(format!("{url}/-/reload")).send().await.unwrap();
        let answer = (r.status(), r.text().await.unwrap());
        until(state, "the reload never took effect", &applied).await;
        let _ = stop.send(());
        answer
    };
    let ((), answer) = tokio::join!(poll_loop, reload);
    answer
}

#[tokio::test]
async fn a_config_the_poller_refuses_fails_the_reload_and_the_old_config_keeps_polling() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let web = dir.path().join("web.yml");
    write_web_config(&web, "deny");
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("c1", healthy(1, 8)))
            .with_cluster(flex("c2", healthy(2, 8))),
    ]))
    .config_file(&config, |base_url| {
        config_yaml(base_url, "5s", &["c1", "c2"])
    })
    .web_config_file(&web)
    .client_factory(refusing_factory())
    .start()
    .await;
    h.cycle().await;
    let base_url = h.sim.base_url();

    // Both files are valid, but the poller cannot build a client for the new atlas section.
    std::fs::write(&config, config_yaml(&base_url, "7s", &["c1"])).unwrap();
    write_web_config(&web, "sameorigin");
    let (status, body) = reload_while_polling(&mut h, |_| true).await;
    assert!(!status.is_success(), "{status}: {body}");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("the poller cannot use the new config")
            && body.contains("refused by the test"),
        "{body}"
    );
    let m = h.scrape().await;
    assert_eq!(
        m.get("atlas_snapshot_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert!(m.has("atlas_snapshot_cluster_info", &cluster(P1, "c2")));
    assert_eq!(
        h.get("/-/healthy").await.headers()["x-frame-options"],
        "deny",
        "the web config stays with the config it came with"
    );

    // The old config keeps polling: both clusters, one request each.
    let requests = |m: &common::Scrape| {
        m.get(
            "atlas_snapshot_exporter_api_requests_total",
            &[("endpoint", "list_flex_snapshots"), ("code", "200")],
        )
        .unwrap_or(0.0)
    };
    let before = requests(&m);
    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(requests(&m) - before, 2.0);
    for name in ["c1", "c2"] {
        assert_eq!(
            m.get("atlas_snapshot_target_up", &cluster(P1, name)),
            Some(1.0),
            "{name}"
        );
    }

    // A config the poller takes: 200, the status says so, and both files apply.
    std::fs::write(&config, config_yaml(&base_url, "5s", &["c1"])).unwrap();
    let (status, body) = reload_while_polling(&mut h, |state| state.targets().len() == 1).await;
    assert_eq!(status, 200, "{body}");
    let m = h.scrape().await;
    assert_eq!(
        m.get("atlas_snapshot_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert!(!m.has("atlas_snapshot_cluster_info", &cluster(P1, "c2")));
    assert_eq!(
        h.get("/-/healthy").await.headers()["x-frame-options"],
        "sameorigin"
    );
}

#[tokio::test]
async fn a_reload_during_a_cycle_is_answered_at_once_and_applies_when_the_cycle_ends() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("fast", healthy(1, 8)))
            .with_cluster(flex("slow", healthy(2, 8))),
    ]))
    .config_file(&config, |base_url| {
        config_yaml(base_url, "1h", &["fast", "slow"])
    })
    .start()
    .await;
    h.cycle().await;
    let answered = |m: &common::Scrape| {
        m.get(
            "atlas_snapshot_exporter_api_requests_total",
            &[("endpoint", "list_flex_snapshots"), ("code", "200")],
        )
        .unwrap_or(0.0)
    };
    let before = answered(&h.scrape().await);
    h.sim.set_fault(P1, "slow", Some(Fault::Slow(HELD)));
    std::fs::write(&config, config_yaml(&h.sim.base_url(), "1h", &["fast"])).unwrap();

    let sim = h.sim;
    let (http, url, state) = (&h.http, &h.url, &h.state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The loop starts a cycle at once; the slow target's answer holds it open.
    let poll_loop = h.poller.run(&mut h.configs, async {
        let _ = stopped.await;
    });
    let test = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while answered(&exposition_get(http, url).await) == before {
            assert!(
                std::time::Instant::now() < deadline,
                "the fast target was never answered"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reload = tokio::time::timeout(
            Duration::from_secs(30),
            http.post(format!("{url}/-/reload")).send(),
        )
        .await
        .expect("the reload waited for the held cycle")
        .unwrap();
        assert_eq!(reload.status(), 200);
        assert_eq!(
            state.load().targets().len(),
            2,
            "taken, but applied only when the cycle ends"
        );
        let m = exposition_get(http, url).await;
        assert_eq!(answered(&m), before + 1.0, "the slow answer is still held");
        assert_eq!(
            m.get("atlas_snapshot_exporter_config_last_reload_successful", &[]),
            Some(1.0)
        );

        // Let the held answer go: the cycle ends, and the new config applies.
        drop(sim);
        until(state, "the reloaded config never applied", |s| {
            s.targets().len() == 1
        })
        .await;
        let _ = stop.send(());
    };
    tokio::join!(poll_loop, test);
    let state = h.state.load();
    let first = state.targets().next().unwrap();
    assert_eq!(&*first.target.cluster_name, "fast");
}

/// POSTs /-/reload `n` times, 50 at a time (under the server's cap of 64 connections from one
/// address), and returns the statuses.
async fn reload_flood(http: &reqwest::Client, url: &str, n: usize) -> Vec<reqwest::StatusCode> {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(50));
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (http, url) = (http.clone(), format!("{url}/-/reload"));
        let in_flight = Arc::clone(&in_flight);
        posts.spawn(async move {
            let _permit = in_flight.acquire_owned().await.unwrap();
            http.post(url).send().await.unwrap().status()
        });
    }
    posts.join_all().await
}

/// Waits (polling the published state, bounded) until `done` holds.
async fn until(
    state: &atlas_snapshot_exporter::state::SharedState,
    what: &str,
    done: impl Fn(&ExporterState) -> bool,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done(&state.load()) {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn polled(state: &ExporterState, name: &str) -> bool {
    state
        .targets()
        .any(|t| &*t.target.cluster_name == name && t.last_poll.is_some())
}

#[tokio::test]
async fn a_reload_flood_costs_no_atlas_request_and_a_new_cluster_costs_one_poll() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("c1", healthy(1, 8)))
            .with_cluster(flex("c2", healthy(2, 8))),
    ]))
    .config_file(&config, |base_url| config_yaml(base_url, "5s", &["c1"]))
    .without_optional_sources()
    .start()
    .await;
    let base_url = h.sim.base_url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let poll_loop = h.poller.run(&mut h.configs, async {
        let _ = stopped.await;
    });
    let (http, url, state, sim) = (&h.http, &h.url, &h.state, &h.sim);
    let test = async {
        until(state, "the first cycle never ended", |s| s.ready()).await;
        // Every request (digest challenges included), and the listing pages among them.
        let first_cycle = sim.stats().requests;
        assert_eq!(sim.stats().pages_served, 1, "one listing page for c1");

        // 255 reloads of an unchanged file: every one answered 200, none reaches Atlas. The
        // poller has decided what each costs before it answers, so there is nothing to wait for.
        let statuses = reload_flood(http, url, 255).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        assert_eq!(sim.stats().requests, first_cycle);

        // A changed file adds c2: however many reloads read it, c2 is polled once, at once,
        // and c1 not again before its next cycle (in an hour).
        std::fs::write(&config, config_yaml(&base_url, "5s", &["c1", "c2"])).unwrap();
        let statuses = reload_flood(http, url, 255).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        until(state, "the new cluster was never polled", |s| {
            polled(s, "c2")
        })
        .await;
        assert_eq!(sim.stats().pages_served, 2, "one more page: c2's");
        let after_c2 = sim.stats().requests;

        // A file flapping between the two: c2 leaves and comes back with its last figures,
        // without another poll.
        for flip in 0..20 {
            let clusters: &[&str] = if flip % 2 == 0 {
                &["c1"]
            } else {
                &["c1", "c2"]
            };
            std::fs::write(&config, config_yaml(&base_url, "5s", clusters)).unwrap();
            let r = http.post(format!("{url}/-/reload")).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        assert!(polled(&state.load(), "c2"), "c2 came back as it was");
        assert_eq!(sim.stats().requests, after_c2);
        let _ = stop.send(());
    };
    tokio::join!(poll_loop, test);
    let m = h.scrape().await;
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "c2")),
        Some(1.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
}

#[tokio::test]
async fn without_the_lifecycle_flag_a_reload_flood_is_refused_and_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("c1", healthy(1, 8)))
            .with_cluster(flex("c2", healthy(2, 8))),
    ]))
    .config_file(&config, |base_url| config_yaml(base_url, "5s", &["c1"]))
    .lifecycle(false)
    .start()
    .await;
    h.cycle().await;
    let before = h.sim.stats().requests;
    std::fs::write(&config, config_yaml(&h.sim.base_url(), "5s", &["c1", "c2"])).unwrap();
    let statuses = reload_flood(&h.http, &h.url, 255).await;
    assert!(statuses.iter().all(|s| *s == 403), "{statuses:?}");
    let r = h
        .http
        .post(format!("{}/-/reload", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "Lifecycle API is not enabled.\n");
    assert_eq!(h.sim.stats().requests, before);
    assert_eq!(h.state.load().targets().len(), 1, "nothing reloaded");
}

/// A dedicated history, newest first, with an unfinished on-demand snapshot listed last (where
/// sorting it as the oldest would hide it) and another in the middle.
fn dedicated_with_unfinished(status: SimStatus) -> (Vec<SimSnapshot>, Vec<SimSnapshot>) {
    let history = daily_history(
        11,
        fixed_now(),
        6,
        HistoryOptions {
            size_bytes: Some(3_000_000_000),
            ..HistoryOptions::default()
        },
    );
    let requested: jiff::Timestamp = "2026-11-22T11:50:00Z".parse().unwrap();
    let mut listing = history.clone();
    listing.insert(
        3,
        SimSnapshot::on_demand("6740000000000000000000a1", status.clone(), requested),
    );
    listing.push(SimSnapshot::on_demand(
        "6740000000000000000000a2",
        status,
        requested,
    ));
    (history, listing)
}

#[tokio::test]
async fn an_unfinished_dedicated_snapshot_without_created_at_is_the_latest_never_the_oldest() {
    let (history, listing) = dedicated_with_unfinished(SimStatus::Running);
    let mut h = Setup::new(scenario(vec![SimProject::new(P1, "prod").with_cluster(
        SimCluster::new("m10", SimKind::Dedicated).with_snapshots(listing),
    )]))
    .fixed_clock(fixed_now())
    .start()
    .await;
    let c = cluster(P1, "m10");
    // Every dedicated snapshot carries one time, `createdAt`: the simulator's start time.
    let newest_completed = unix_seconds(history[0].started.unwrap());
    let oldest_completed = unix_seconds(history[5].started.unwrap());

    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(m.get("atlas_snapshot_target_up", &c), Some(1.0));
    assert_eq!(
        m.get(
            "atlas_snapshot_latest_status",
            &cluster_and(P1, "m10", "status", "RUNNING")
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_latest_status",
            &cluster_and(P1, "m10", "status", "COMPLETED")
        ),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_snapshots",
            &cluster_and(P1, "m10", "status", "RUNNING")
        ),
        Some(2.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_latest_completed_timestamp_seconds", &c),
        Some(newest_completed)
    );
    assert_eq!(
        m.get("atlas_snapshot_oldest_completed_timestamp_seconds", &c),
        Some(oldest_completed),
        "the restore window is bounded by a dated snapshot"
    );
    assert!(
        m.get("atlas_snapshot_latest_completed_size_bytes", &c)
            .is_some_and(|size| size > 0.0)
    );

    let (_, queued) = dedicated_with_unfinished(SimStatus::Queued);
    assert!(h.sim.set_snapshots(P1, "m10", queued));
    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(
        m.get(
            "atlas_snapshot_latest_status",
            &cluster_and(P1, "m10", "status", "QUEUED")
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_latest_status",
            &cluster_and(P1, "m10", "status", "RUNNING")
        ),
        Some(0.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_oldest_completed_timestamp_seconds", &c),
        Some(oldest_completed)
    );
}

/// One info line per cycle says the exporter is working, and how many targets are down.
#[tokio::test]
async fn each_poll_cycle_logs_one_line_with_its_targets_up_and_down() {
    let (logs, _guard) = CapturedLogs::start();
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("f1", healthy(1, 8)))
            .with_cluster(flex("f2", healthy(2, 8)))
            .with_cluster(flex("broken", healthy(3, 8))),
    ]))
    .start()
    .await;
    h.sim.set_fault(P1, "broken", Some(Fault::ServerError));
    h.cycle().await;
    h.cycle().await;
    let lines = logs.lines_with(&["poll cycle finished"]);
    assert_eq!(lines.len(), 2, "one line a cycle: {lines:?}");
    for line in &lines {
        assert!(line.contains("INFO"), "{line}");
        assert!(line.contains("targets=3 up=2 down=1"), "{line}");
        assert!(line.contains("duration_seconds="), "{line}");
    }
}

#[tokio::test]
async fn a_sunset_header_is_exported_per_endpoint_and_logged_once() {
    let (logs, _guard) = CapturedLogs::start();
    let dedicated = SimCluster::new("m10", SimKind::Dedicated).with_snapshots(healthy(5, 8));
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(dedicated)
            .with_cluster(flex("f1", healthy(1, 8))),
    ]))
    .start()
    .await;
    // As recorded on the 2023-02-01 clusters API: a one-digit day in an HTTP-date.
    h.sim.set_sunset(
        "dedicated_list",
        Some(SunsetNotice {
            deprecation: Some("2024-08-05T00:00:00Z".parse().unwrap()),
            sunset: "2027-07-01T00:00:00Z".parse().unwrap(),
        }),
    );
    h.cycle().await;
    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(
        m.get(
            "atlas_snapshot_exporter_api_sunset_timestamp_seconds",
            &[("endpoint", "list_dedicated_snapshots")]
        ),
        Some(1_814_400_000.0)
    );
    assert!(
        !m.has(
            "atlas_snapshot_exporter_api_sunset_timestamp_seconds",
            &[("endpoint", "list_flex_snapshots")]
        ),
        "no Sunset header, no series"
    );
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "m10")),
        Some(1.0),
        "a sunset date is a warning, not a failure"
    );
    let lines = logs.lines_with(&["WARN", "list_dedicated_snapshots", "sunset"]);
    assert_eq!(
        lines.len(),
        1,
        "one line per endpoint over two cycles: {lines:?}"
    );
    assert!(lines[0].contains("2027-07-01T00:00:00Z"), "{}", lines[0]);
    assert!(
        lines[0].contains("upgrade atlas-snapshot-exporter"),
        "{}",
        lines[0]
    );
}

#[tokio::test]
async fn a_retired_tenant_endpoint_fails_as_gone_and_says_to_use_flex() {
    let (logs, _guard) = CapturedLogs::start();
    let tenant = SimCluster::new("m2", SimKind::Tenant).with_snapshots(healthy(3, 8));
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(tenant)
            .with_cluster(flex("f1", healthy(1, 8))),
    ]))
    .start()
    .await;
    h.sim.set_gone("tenant_list_v2", true);
    h.cycle().await;
    h.cycle().await;
    let m = h.scrape().await;
    let m2 = cluster(P1, "m2");
    assert_eq!(m.get("atlas_snapshot_target_up", &m2), Some(0.0));
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P1, "m2", "reason", "gone")
        ),
        Some(2.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P1, "m2", "reason", "other")
        ),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_exporter_api_requests_total",
            &[("endpoint", "list_tenant_snapshots"), ("code", "410")]
        ),
        Some(2.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "f1")),
        Some(1.0)
    );
    let retired = logs.lines_with(&["WARN", "retired", "list_tenant_snapshots", "VERSION_GONE"]);
    assert_eq!(retired.len(), 1, "logged once per endpoint: {retired:?}");
    assert!(
        retired[0].contains("kind: flex (or auto)"),
        "{}",
        retired[0]
    );
    assert_eq!(
        logs.lines_with(&["WARN", "poll failed", "reason=\"gone\""])
            .len(),
        1,
        "a failure that persists is warned about once, with its reason"
    );
    let page = h.get("/").await.text().await.unwrap();
    let row = page
        .lines()
        .find(|l| l.contains("<td>m2</td>"))
        .expect("a row for m2");
    assert!(row.contains("gone: HTTP 410 VERSION_GONE"), "{row}");
    assert!(row.contains("What to do:"), "{row}");
    assert!(row.contains("set kind: flex (or auto)"), "{row}");
}

#[tokio::test]
async fn rate_limit_gauges_hold_the_lowest_remaining_of_the_cycle_per_project_and_endpoint() {
    let mut s = scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("c1", healthy(1, 8)))
            .with_cluster(flex("c2", healthy(2, 8)))
            .with_cluster(SimCluster::new("m10", SimKind::Dedicated).with_snapshots(healthy(5, 8))),
        SimProject::new(P2, "staging").with_cluster(flex("broken", healthy(3, 8))),
    ]);
    // No refill: the counts below do not depend on how long the test takes.
    s.rate_limit = Some(RateLimit {
        capacity: 1200,
        refill: 0,
        refill_period: Duration::from_secs(60),
    });
    let mut h = Setup::new(s).without_optional_sources().start().await;
    // Errors carry the headers too: this target fails, its bucket still shows.
    h.sim.set_fault(P2, "broken", Some(Fault::ServerError));
    let name = "atlas_snapshot_exporter_rate_limit_remaining";
    assert!(
        !h.scrape().await.has(name, &[]),
        "absent before the first cycle"
    );

    h.cycle().await;
    let m = h.scrape().await;
    let remaining = |m: &common::Scrape, project, endpoint| {
        m.get(name, &[("project_id", project), ("endpoint", endpoint)])
    };
    // P1's flex bucket: two flex listings of one page each, and m10 (kind auto) tried on the
    // flex endpoint first, whose 400 carries the headers too: 1199, 1198, 1197.
    assert_eq!(remaining(&m, P1, "list_flex_snapshots"), Some(1197.0));
    assert_eq!(remaining(&m, P1, "list_dedicated_snapshots"), Some(1199.0));
    assert_eq!(remaining(&m, P2, "list_flex_snapshots"), Some(1199.0));
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P2, "broken")),
        Some(0.0)
    );
    // The first cycle's refresh read each cluster (m10 flex first, then dedicated) and m10's
    // schedule: those endpoints show too, until a cycle without a refresh.
    assert_eq!(remaining(&m, P1, "get_flex_cluster"), Some(1197.0));
    assert_eq!(remaining(&m, P1, "get_cluster"), Some(1199.0));
    assert_eq!(remaining(&m, P1, "get_backup_schedule"), Some(1198.0));
    assert_eq!(remaining(&m, P2, "get_flex_cluster"), Some(1199.0));
    assert_eq!(
        m.all(name, &[]).len(),
        7,
        "one series per project and endpoint used"
    );

    // m10 is resolved now: two flex requests this cycle, 1196 then 1195.
    h.cycle().await;
    let m = h.scrape().await;
    assert_eq!(remaining(&m, P1, "list_flex_snapshots"), Some(1195.0));
    // The dedicated listing shares Atlas' Cloud Backups set with the schedule m10's refresh
    // read in the first cycle: 1199, 1198 (schedule), then 1197.
    assert_eq!(remaining(&m, P1, "list_dedicated_snapshots"), Some(1197.0));
    assert_eq!(remaining(&m, P2, "list_flex_snapshots"), Some(1198.0));
    assert_eq!(m.all(name, &[]).len(), 3);
}

#[tokio::test]
async fn an_auto_target_follows_a_flex_cluster_upgraded_to_dedicated_with_one_extra_request() {
    let (logs, _guard) = CapturedLogs::start();
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("grow", healthy(21, 8))),
    ]))
    .tweak(|c| c.projects[0].clusters[0].kind = Kind::Auto)
    .without_optional_sources()
    .start()
    .await;
    let info_kind = |m: &common::Scrape, kind: &str| {
        m.has(
            "atlas_snapshot_cluster_info",
            &[("cluster_name", "grow"), ("kind", kind)],
        )
    };

    h.cycle().await;
    h.sim.reset_stats();
    h.cycle().await;
    let stats = h.sim.stats();
    assert_eq!(stats.requests, 1, "steady flex polling: {stats:?}");
    assert!(info_kind(&h.scrape().await, "flex"));

    assert!(h.sim.upgrade_to_dedicated(P1, "grow"));
    h.sim.reset_stats();
    h.cycle().await;
    let stats = h.sim.stats();
    assert_eq!(
        stats.requests, 2,
        "the remembered flex endpoint, then dedicated: {stats:?}"
    );
    assert_eq!(stats.by_route.get("flex_list"), Some(&1), "{stats:?}");
    assert_eq!(stats.by_route.get("dedicated_list"), Some(&1), "{stats:?}");
    let m = h.scrape().await;
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "grow")),
        Some(1.0)
    );
    assert!(info_kind(&m, "dedicated"));
    assert!(!info_kind(&m, "flex"));
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P1, "grow", "reason", "other")
        ),
        Some(0.0),
        "re-resolving is not a failed poll"
    );

    h.sim.reset_stats();
    h.cycle().await;
    let stats = h.sim.stats();
    assert_eq!(stats.requests, 1, "steady dedicated polling: {stats:?}");
    assert_eq!(stats.by_route.get("dedicated_list"), Some(&1), "{stats:?}");

    let text = logs.text();
    let changes: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("backup API changed"))
        .collect();
    assert_eq!(changes.len(), 1, "{text}");
    for field in [
        format!("project_id={P1}"),
        "cluster_name=grow".to_string(),
        "old_kind=flex".to_string(),
        "new_kind=dedicated".to_string(),
    ] {
        assert!(changes[0].contains(&field), "{field}: {}", changes[0]);
    }
}

#[tokio::test]
async fn an_explicit_flex_target_keeps_failing_after_an_upgrade_and_says_what_to_change() {
    let (logs, _guard) = CapturedLogs::start();
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("grow", healthy(22, 8))),
    ]))
    .start()
    .await;
    h.cycle().await;
    assert!(h.sim.upgrade_to_dedicated(P1, "grow"));
    h.sim.reset_stats();
    h.cycle().await;
    assert_eq!(h.sim.stats().requests, 1, "no second guessing");
    let m = h.scrape().await;
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "grow")),
        Some(0.0)
    );
    assert!(m.has(
        "atlas_snapshot_cluster_info",
        &[("cluster_name", "grow"), ("kind", "flex")]
    ));
    let text = logs.text();
    let failed = text
        .lines()
        .find(|l| l.contains("poll failed"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        failed.contains("set `kind: dedicated`, or `kind: auto`"),
        "{failed}"
    );
}

#[tokio::test]
async fn a_sharded_dedicated_cluster_is_read_from_the_dedicated_listing() {
    let history = daily_history(
        31,
        fixed_now(),
        8,
        HistoryOptions {
            size_bytes: Some(9_000_000_000),
            ..HistoryOptions::default()
        },
    );
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(
            SimCluster::new("shards", SimKind::Dedicated)
                .sharded()
                .with_snapshots(history),
        ),
    ]))
    .start()
    .await;
    h.cycle().await;
    let m = h.scrape().await;
    let c = cluster(P1, "shards");
    assert_eq!(m.get("atlas_snapshot_target_up", &c), Some(1.0));
    assert!(m.has(
        "atlas_snapshot_cluster_info",
        &[("cluster_name", "shards"), ("kind", "dedicated")]
    ));
    assert_eq!(
        m.get(
            "atlas_snapshot_snapshots",
            &cluster_and(P1, "shards", "status", "COMPLETED")
        ),
        Some(8.0)
    );
    assert!(
        m.get("atlas_snapshot_latest_completed_size_bytes", &c)
            .is_some_and(|size| size > 0.0)
    );
}

/// A wall clock that a test moves by hand.
#[derive(Clone)]
struct MovableClock(std::sync::Arc<std::sync::Mutex<jiff::Timestamp>>);

impl MovableClock {
    fn at(now: jiff::Timestamp) -> MovableClock {
        MovableClock(std::sync::Arc::new(std::sync::Mutex::new(now)))
    }

    fn advance(&self, by: jiff::SignedDuration) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(by).unwrap();
    }
}

impl atlas_snapshot_exporter::clock::Clock for MovableClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn an_8_mib_error_code_leaves_the_log_line_the_page_and_the_metrics_small() {
    let (logs, _guard) = CapturedLogs::start();
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("hostile", healthy(1, 8)))
            .with_cluster(flex("fine", healthy(2, 8))),
    ]))
    // The 8 MiB body goes to the listing and to the refresh's cluster GET at once: on two
    // loaded cores a debug build may read them slower than the harness' 5 s timeout, and
    // this test is about sizes, not time.
    .tweak(|c| c.atlas.timeout = Duration::from_secs(60))
    .start()
    .await;
    h.sim
        .set_fault(P1, "hostile", Some(Fault::HostileErrorBody));
    h.cycle().await;

    let failed = logs.lines_with(&["WARN", "poll failed", "hostile"]);
    assert_eq!(failed.len(), 1, "{}", logs.text().len());
    let line = &failed[0];
    eprintln!("poll failed line: {} bytes", line.len());
    assert!(line.len() < 4 * 1024, "a {} byte log line", line.len());
    assert!(line.contains("HOSTILE_HOSTILE_"), "{line}");
    assert!(
        logs.text().len() < 16 * 1024,
        "{} bytes logged",
        logs.text().len()
    );

    let page = h.get("/").await.text().await.unwrap();
    eprintln!("landing page: {} bytes", page.len());
    assert!(page.len() < 64 * 1024, "a {} byte landing page", page.len());
    let row = page
        .lines()
        .find(|l| l.contains("<td>hostile</td>"))
        .expect("a row for the hostile cluster");
    assert!(row.contains("other: HTTP 400 HOSTILE_"), "{row}");

    let text = h.scrape_text().await;
    eprintln!("/metrics: {} bytes", text.len());
    assert!(text.len() < 64 * 1024, "a {} byte scrape", text.len());
    assert!(
        !text.contains("HOSTILE"),
        "nothing from the answer is a label"
    );
    let m = h.scrape().await;
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "hostile")),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P1, "hostile", "reason", "other")
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "fine")),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_persisting_failure_is_warned_about_once_per_reason_and_again_after_an_hour() {
    let (logs, _guard) = CapturedLogs::start();
    let clock = MovableClock::at(fixed_now());
    let mut setup = Setup::new(scenario(vec![
        SimProject::new(P1, "prod")
            .with_cluster(flex("flaky", healthy(1, 8)))
            .with_cluster(flex("fine", healthy(2, 8))),
    ]));
    setup.clock = std::sync::Arc::new(clock.clone());
    let mut h = setup.start().await;
    let warnings = || logs.lines_with(&["WARN", "poll failed", "flaky"]);

    h.sim.set_fault(P1, "flaky", Some(Fault::ServerError));
    for _ in 0..5 {
        h.cycle().await;
        clock.advance(jiff::SignedDuration::from_secs(60));
    }
    assert_eq!(
        warnings().len(),
        1,
        "five failures, one reason: {:?}",
        warnings()
    );
    assert!(warnings()[0].contains("reason=\"server_error\""));
    let m = h.scrape().await;
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P1, "flaky", "reason", "server_error")
        ),
        Some(5.0),
        "the counter still counts every failure"
    );

    h.sim.set_fault(P1, "flaky", Some(Fault::Forbidden));
    h.cycle().await;
    h.cycle().await;
    let lines = warnings();
    assert_eq!(
        lines.len(),
        2,
        "a new reason is warned about at once: {lines:?}"
    );
    assert!(lines[1].contains("reason=\"forbidden\""), "{}", lines[1]);
    let page = h.get("/").await.text().await.unwrap();
    assert!(
        page.contains("forbidden: HTTP 403"),
        "the page shows the latest failure"
    );

    clock.advance(jiff::SignedDuration::from_mins(59));
    h.cycle().await;
    assert_eq!(warnings().len(), 2, "within the hour: {:?}", warnings());
    clock.advance(jiff::SignedDuration::from_mins(1));
    h.cycle().await;
    let lines = warnings();
    assert_eq!(
        lines.len(),
        3,
        "an hour later it is warned about again: {lines:?}"
    );
    assert!(lines[2].contains("not_warned_since_last=2"), "{}", lines[2]);

    h.sim.set_fault(P1, "flaky", None);
    h.cycle().await;
    h.sim.set_fault(P1, "flaky", Some(Fault::Forbidden));
    h.cycle().await;
    assert_eq!(
        warnings().len(),
        4,
        "a failure after a success is warned about at once"
    );
    assert!(
        logs.lines_with(&["WARN", "poll failed", "fine"]).is_empty(),
        "the healthy cluster logs no failure"
    );
}

/// A scenario of `a` flex clusters in P1 and `b` in P2.
fn two_projects(a: usize, b: usize) -> Scenario {
    let project = |id, name, prefix: &str, n: usize| {
        (0..n).fold(SimProject::new(id, name), |p, i| {
            p.with_cluster(flex(&format!("{prefix}{i}"), healthy(i as u64 + 1, 4)))
        })
    };
    scenario(vec![
        project(P1, "prod", "a", a),
        project(P2, "dev", "b", b),
    ])
}

#[tokio::test]
async fn a_spent_project_budget_fails_its_own_targets_only_and_spends_no_request() {
    // Two tokens a project, and the next one a minute away: past the deadline.
    let mut h = Setup::new(two_projects(4, 2))
        .tweak(|c| {
            c.atlas.rate_limit.capacity = 2;
            c.atlas.rate_limit.refill_per_minute = 1;
            c.atlas.poll_deadline = Some(SHORT_DEADLINE);
            c.poll_interval = HELD;
        })
        .start()
        .await;
    h.sim.reset_stats();
    h.cycle().await;
    let state = h.state.load();
    let reasons = |project: &str| {
        let mut r: Vec<Option<Reason>> = state
            .targets()
            .filter(|t| &*t.target.project_id == project)
            .map(|t| {
                t.last_poll
                    .as_ref()
                    .unwrap()
                    .error
                    .as_ref()
                    .map(|e| e.reason)
            })
            .collect();
        r.sort_by_key(|r| r.map(|r| r.as_str()));
        r
    };
    assert_eq!(
        reasons(P1),
        [
            None,
            None,
            Some(Reason::RateLimited),
            Some(Reason::RateLimited)
        ]
    );
    assert_eq!(reasons(P2), [None, None], "P2 has its own bucket");
    assert_eq!(
        h.sim.stats().pages_served,
        4,
        "two listings a project were answered; the spent budget sent none"
    );
    let message = state
        .targets()
        .find_map(|t| t.last_poll.as_ref()?.error.clone())
        .unwrap()
        .message;
    assert!(
        message.starts_with(&format!(
            "the request budget of project {P1} (atlas.rate_limit: 2 requests, 1 per minute)"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_target_waiting_for_its_projects_tokens_does_not_hold_another_projects_poll() {
    // One slot; P1 has two tokens and one more a second: two of its four targets wait for
    // tokens, and give the slot up meanwhile, so P2's target is polled before they end.
    let mut h = Setup::new(two_projects(4, 1))
        .tweak(|c| {
            c.atlas.max_concurrency = 1;
            c.atlas.rate_limit.capacity = 2;
            c.atlas.rate_limit.refill_per_minute = 60;
            c.atlas.poll_deadline = Some(Duration::from_secs(60));
            c.poll_interval = HELD;
        })
        .start()
        .await;
    h.cycle().await;
    let state = h.state.load();
    let ended = |project: &str| {
        let mut at: Vec<_> = state
            .targets()
            .filter(|t| &*t.target.project_id == project)
            .map(|t| {
                let poll = t.last_poll.clone().unwrap();
                assert!(poll.error.is_none(), "{:?}", poll.error);
                poll.at
            })
            .collect();
        at.sort();
        at
    };
    let (p1, p2) = (ended(P1), ended(P2));
    assert!(
        p1[2] > p2[0] && p1[3] > p2[0],
        "P2 was polled while P1's targets waited: P1 {p1:?}, P2 {p2:?}"
    );
}

#[tokio::test]
async fn a_401_for_one_project_leaves_the_shared_nonce_to_the_others() {
    // Atlas answers 401 for a project the key is not a member of (NOT_IN_GROUP); the key and
    // its cached nonce still serve every other project.
    let mut h = Setup::new(scenario(vec![
        SimProject::new(P1, "prod").with_cluster(flex("c1", healthy(1, 8))),
        SimProject::new(P2, "other")
            .with_cluster(flex("c2", healthy(2, 8)).with_fault(Fault::NotInGroup)),
    ]))
    .start()
    .await;
    h.cycle().await;
    let challenges = h.scrape().await.get(CHALLENGES, &[]).unwrap();
    for cycle in 2..=4 {
        h.sim.reset_stats();
        h.cycle().await;
        let stats = h.sim.stats();
        assert_eq!(stats.pages_served, 1, "cycle {cycle}: {stats:?}");
        assert_eq!(
            stats.requests, 2,
            "cycle {cycle}: one reused-nonce request per target, no new challenge: {stats:?}"
        );
        assert_eq!(stats.unauthorized, 1, "cycle {cycle}: only c2's: {stats:?}");
    }
    let m = h.scrape().await;
    assert_eq!(m.get(CHALLENGES, &[]), Some(challenges));
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P1, "c1")),
        Some(1.0)
    );
    assert_eq!(
        m.get("atlas_snapshot_target_up", &cluster(P2, "c2")),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "atlas_snapshot_target_errors_total",
            &cluster_and(P2, "c2", "reason", "unauthorized")
        ),
        Some(4.0)
    );
}
