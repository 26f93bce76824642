//! The Atlas client against the simulator: service accounts, get-one endpoints, limits and
//! the two digest modes (nonce reuse, a fresh challenge per request).

// Tests may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlas_snapshot_exporter::atlas::{
    AtlasClient, AtlasError, BackupApi, ClientOptions, NoopObserver, OneSnapshot, Operation, Pace,
    Reason, RequestObserver,
};
use atlas_snapshot_exporter::clock::Clock;
use atlas_snapshot_exporter::config::{Credentials, RateLimitConfig};
use atlas_snapshot_exporter::secret::Secret;
use atlas_snapshot_exporter::simulator::{
    FlexRefusal, HistoryOptions, ManualClock, NonceReuse, Scenario, SimAlert, SimCluster, SimKind,
    SimProject, Simulator, daily_history,
};
use atlas_snapshot_exporter::target::{ApiVersion, Kind};
use common::{fixed_now, loopback};
use jiff::Timestamp;

const P1: &str = "5b69d0349b15c62cdfc38b78";
const CLIENT_ID: &str = "mdb_sa_id_test0000000000000000000001";
const CLIENT_SECRET: &str = "mdb_sa_sk_test-secret";

async fn simulator() -> Simulator {
    Simulator::start(scenario(), loopback()).await.unwrap()
}

fn scenario() -> Scenario {
    let project = SimProject::new(P1, "prod")
        .with_cluster(
            SimCluster::new("flex1", SimKind::Flex).with_snapshots(daily_history(
                1,
                fixed_now(),
                40,
                HistoryOptions::default(),
            )),
        )
        .with_cluster(
            SimCluster::new("m2", SimKind::Tenant).with_snapshots(daily_history(
                2,
                fixed_now(),
                8,
                HistoryOptions::default(),
            )),
        );
    Scenario::new()
        .with_api_key("key", "private")
        .with_service_account(CLIENT_ID, CLIENT_SECRET)
        .with_project(project)
}

fn options(sim: &Simulator) -> ClientOptions {
    ClientOptions {
        base_url: sim.base_url().parse().unwrap(),
        api_version: ApiVersion::V2,
        timeout: Duration::from_secs(5),
        max_body_bytes: 32 * 1024 * 1024,
        max_pages: 1000,
        max_listing_items: 100_000,
        rate_limit_retries: 2,
        max_retry_after: Duration::from_secs(10),
        flex_api: true,
        rate_limit: RateLimitConfig::default(),
    }
}

fn api_key() -> Credentials {
    Credentials::ApiKey {
        public_key: "key".into(),
        private_key: Secret::new("private"),
    }
}

fn service_account(secret: &str) -> Credentials {
    Credentials::ServiceAccount {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(secret),
    }
}

#[tokio::test]
async fn a_service_account_token_is_fetched_once_and_reused() {
    let sim = simulator().await;
    let client = AtlasClient::with_options(
        options(&sim),
        &service_account(CLIENT_SECRET),
        Arc::new(NoopObserver),
    )
    .unwrap();
    for _ in 0..3 {
        let listing = client
            .list_snapshots(BackupApi::Flex, P1, "flex1")
            .await
            .unwrap();
        assert_eq!(listing.len(), 40);
    }
    let stats = sim.stats();
    assert_eq!(stats.by_route.get("oauth_token"), Some(&1), "{stats:?}");
    assert_eq!(stats.by_route.get("flex_list"), Some(&3), "{stats:?}");
    assert_eq!(stats.unauthorized, 0);
}

#[tokio::test]
async fn a_wrong_client_secret_is_unauthorized_with_the_oauth_error() {
    let sim = simulator().await;
    let client = AtlasClient::with_options(
        options(&sim),
        &service_account("mdb_sa_sk_wrong"),
        Arc::new(NoopObserver),
    )
    .unwrap();
    let err = client
        .list_snapshots(BackupApi::Flex, P1, "flex1")
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::Unauthorized);
    assert_eq!(err.error_code(), Some("invalid_client"));
    assert!(!err.to_string().contains("wrong"), "{err}");
}

#[tokio::test]
async fn get_one_reads_a_single_snapshot_in_both_api_versions() {
    let sim = simulator().await;
    let newest = daily_history(2, fixed_now(), 8, HistoryOptions::default())[0].clone();
    for version in [ApiVersion::V2, ApiVersion::V1_0] {
        let client = AtlasClient::with_options(
            ClientOptions {
                api_version: version,
                ..options(&sim)
            },
            &api_key(),
            Arc::new(NoopObserver),
        )
        .unwrap();
        let one = client
            .get_snapshot(BackupApi::Tenant, P1, "m2", &newest.id)
            .await
            .unwrap();
        let OneSnapshot::Tenant(s) = one else {
            panic!("{version}: not a tenant snapshot")
        };
        assert_eq!(s.id, newest.id);
        assert_eq!(s.status.as_deref(), Some("COMPLETED"));
        assert_eq!(s.finish_time, newest.finished);
    }
    // Each new client meets one digest challenge, then gets its answer: two requests a route.
    let stats = sim.stats();
    assert_eq!(stats.by_route.get("tenant_get_v2"), Some(&2), "{stats:?}");
    assert_eq!(stats.by_route.get("tenant_get_v1"), Some(&2), "{stats:?}");
    assert_eq!(stats.by_status.get(&200), Some(&2), "{stats:?}");
}

#[tokio::test]
async fn a_response_larger_than_the_cap_is_refused() {
    let sim = simulator().await;
    let client = AtlasClient::with_options(
        ClientOptions {
            max_body_bytes: 2048,
            ..options(&sim)
        },
        &api_key(),
        Arc::new(NoopObserver),
    )
    .unwrap();
    let err = client
        .list_snapshots(BackupApi::Flex, P1, "flex1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, AtlasError::TooLarge { limit: 2048 }),
        "{err:?}"
    );
    assert_eq!(err.reason(), Reason::Other);
}

#[tokio::test]
async fn a_server_that_is_not_listening_is_a_network_error() {
    // Bound but never listening: connections are refused, and the port stays ours for the
    // whole test, so no other process can start listening on it in between.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind(loopback()).unwrap();
    let port = reserved.local_addr().unwrap().port();
    let client = AtlasClient::with_options(
        ClientOptions {
            base_url: format!("http://127.0.0.1:{port}").parse().unwrap(),
            api_version: ApiVersion::V2,
            timeout: Duration::from_secs(2),
            max_body_bytes: 1024,
            max_pages: 10,
            max_listing_items: 100_000,
            rate_limit_retries: 0,
            max_retry_after: Duration::ZERO,
            flex_api: true,
            rate_limit: RateLimitConfig::default(),
        },
        &api_key(),
        Arc::new(NoopObserver),
    )
    .unwrap();
    let err = client
        .list_snapshots(BackupApi::Flex, P1, "flex1")
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::Network, "{err}");
    drop(reserved);
}

/// Counts the digest challenges the client answered.
#[derive(Default)]
struct Challenges(AtomicU64);

impl Challenges {
    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl RequestObserver for Challenges {
    fn observe(&self, _: Operation, _: Option<u16>, _: Duration) {}

    fn challenge_answered(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The client's wall clock, moved by hand.
struct HandClock(Mutex<Timestamp>);

impl HandClock {
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now = now.checked_add(by).unwrap();
    }
}

impl Clock for HandClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// A digest client, its challenge count and its clock.
fn digest_client(sim: &Simulator) -> (AtlasClient, Arc<Challenges>, Arc<HandClock>) {
    let challenges = Arc::new(Challenges::default());
    let clock = Arc::new(HandClock(Mutex::new(fixed_now())));
    let client = AtlasClient::with_options(
        options(sim),
        &api_key(),
        Arc::clone(&challenges) as Arc<dyn RequestObserver>,
    )
    .unwrap()
    .with_clock(Arc::clone(&clock) as Arc<dyn Clock>);
    (client, challenges, clock)
}

/// Lists `flex1` (one page) once; returns the HTTP requests it took.
async fn requests_for_one_listing(sim: &Simulator, client: &AtlasClient) -> u64 {
    sim.reset_stats();
    let listing = client
        .list_snapshots(BackupApi::Flex, P1, "flex1")
        .await
        .unwrap();
    assert_eq!(listing.len(), 40);
    sim.stats().requests
}

#[tokio::test]
async fn where_nonces_may_be_reused_one_challenge_serves_every_later_call() {
    let sim = simulator().await;
    let (client, challenges, _) = digest_client(&sim);
    assert_eq!(requests_for_one_listing(&sim, &client).await, 2);
    for _ in 0..4 {
        assert_eq!(requests_for_one_listing(&sim, &client).await, 1);
    }
    assert_eq!(challenges.get(), 1);
}

#[tokio::test]
async fn where_nonces_are_single_use_every_call_costs_two_requests_never_three() {
    for reuse in [NonceReuse::RefusedStale, NonceReuse::RefusedPlain] {
        let sim = Simulator::start(
            Scenario {
                nonce_reuse: reuse,
                ..scenario()
            },
            loopback(),
        )
        .await
        .unwrap();
        let (client, challenges, _) = digest_client(&sim);
        // The first call meets a challenge; the second finds its reused nonce refused and
        // answers the challenge of that refusal; from then on every call asks for a fresh one.
        for call in 1..=6 {
            assert_eq!(
                requests_for_one_listing(&sim, &client).await,
                2,
                "{reuse:?}: call {call}"
            );
            assert_eq!(challenges.get(), call, "{reuse:?}");
        }
        assert_eq!(sim.stats().by_status.get(&200), Some(&1));
    }
}

#[tokio::test]
async fn after_a_refused_reuse_fresh_challenges_last_an_hour_then_reuse_is_tried_again() {
    // A server that does allow reuse, whose first nonce expires before its first reuse: that
    // looks like a refusal, and the client has no way to tell the two apart.
    let sim_clock = ManualClock::new();
    let sim = Simulator::start_with_clock(scenario(), loopback(), sim_clock.clone())
        .await
        .unwrap();
    let (client, challenges, clock) = digest_client(&sim);
    assert_eq!(requests_for_one_listing(&sim, &client).await, 2);
    sim_clock.advance(Duration::from_secs(301));
    assert_eq!(requests_for_one_listing(&sim, &client).await, 2);
    // Fresh mode: a challenge per call, where reuse would have taken one request.
    assert_eq!(requests_for_one_listing(&sim, &client).await, 2);
    clock.advance(Duration::from_secs(3599));
    assert_eq!(requests_for_one_listing(&sim, &client).await, 2);
    assert_eq!(challenges.get(), 4);
    clock.advance(Duration::from_secs(1));
    // Reuse again: one challenge, then one request per call.
    assert_eq!(requests_for_one_listing(&sim, &client).await, 2);
    assert_eq!(requests_for_one_listing(&sim, &client).await, 1);
    assert_eq!(requests_for_one_listing(&sim, &client).await, 1);
    assert_eq!(challenges.get(), 5);
}

#[tokio::test]
async fn a_nonce_that_served_several_calls_and_then_expired_keeps_the_reuse_mode() {
    let sim_clock = ManualClock::new();
    let sim = Simulator::start_with_clock(scenario(), loopback(), sim_clock.clone())
        .await
        .unwrap();
    let (client, challenges, _) = digest_client(&sim);
    assert_eq!(requests_for_one_listing(&sim, &client).await, 2);
    assert_eq!(requests_for_one_listing(&sim, &client).await, 1);
    sim_clock.advance(Duration::from_secs(301));
    // The stale answer's 401 carries the new nonce: answered at once, not re-challenged.
    assert_eq!(requests_for_one_listing(&sim, &client).await, 2);
    assert_eq!(requests_for_one_listing(&sim, &client).await, 1);
    assert_eq!(challenges.get(), 2);
}

#[tokio::test]
async fn a_wrong_private_key_costs_two_requests_a_call_and_is_unauthorized() {
    let sim = Simulator::start(
        Scenario {
            nonce_reuse: NonceReuse::RefusedStale,
            ..scenario()
        },
        loopback(),
    )
    .await
    .unwrap();
    let client = AtlasClient::with_options(
        options(&sim),
        &Credentials::ApiKey {
            public_key: "key".into(),
            private_key: Secret::new("wrong"),
        },
        Arc::new(NoopObserver),
    )
    .unwrap();
    for _ in 0..3 {
        sim.reset_stats();
        let err = client
            .list_snapshots(BackupApi::Flex, P1, "flex1")
            .await
            .unwrap_err();
        assert_eq!(err.reason(), Reason::Unauthorized);
        // Atlas' pretty-printed 401 body is read like any other error.
        assert_eq!(err.error_code(), Some("UNEXPECTED_ERROR"));
        assert_eq!(sim.stats().requests, 2);
    }
}

#[tokio::test]
async fn errors_in_plain_application_json_and_charset_media_types_are_both_read() {
    let sim = simulator().await;
    let client =
        AtlasClient::with_options(options(&sim), &api_key(), Arc::new(NoopObserver)).unwrap();
    // Successes come as `application/vnd.atlas.2024-11-13+json;charset=utf-8`.
    let listing = client
        .list_snapshots(BackupApi::Flex, P1, "flex1")
        .await
        .unwrap();
    assert_eq!(listing.len(), 40);
    // Errors as `application/json`, with the code in the body and in `X-Error-Code`.
    let err = client
        .list_snapshots(BackupApi::Flex, P1, "nope")
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
    assert_eq!(err.error_code(), Some("CLUSTER_NOT_FOUND"));
}

/// A simulator with one dedicated cluster whose flex endpoint refuses it with `refusal`.
async fn dedicated_simulator(refusal: FlexRefusal) -> Simulator {
    let project = SimProject::new(P1, "prod").with_cluster(
        SimCluster::new("m10", SimKind::Dedicated)
            .with_flex_refusal(refusal)
            .with_snapshots(daily_history(3, fixed_now(), 5, HistoryOptions::default())),
    );
    let scenario = Scenario::new()
        .with_api_key("key", "private")
        .with_project(project);
    Simulator::start(scenario, loopback()).await.unwrap()
}

#[tokio::test]
async fn auto_reads_the_dedicated_endpoint_on_each_answer_the_atlas_cli_falls_back_on() {
    for refusal in [
        FlexRefusal::KindMismatch,
        FlexRefusal::ClusterNotFound,
        FlexRefusal::FeatureUnsupported,
    ] {
        let sim = dedicated_simulator(refusal).await;
        let client =
            AtlasClient::with_options(options(&sim), &api_key(), Arc::new(NoopObserver)).unwrap();
        let (api, listing) = client.list_for_kind(Kind::Auto, None, P1, "m10").await;
        assert_eq!(api, Some(BackupApi::Dedicated), "{refusal:?}");
        assert_eq!(listing.unwrap().len(), 5, "{refusal:?}");
        let stats = sim.stats();
        // The first request meets the digest challenge: flex is asked once, then dedicated once.
        assert_eq!(
            stats.by_route.get("flex_list"),
            Some(&2),
            "{refusal:?} {stats:?}"
        );
        assert_eq!(
            stats.by_route.get("dedicated_list"),
            Some(&1),
            "{refusal:?} {stats:?}"
        );
    }
}

#[tokio::test]
async fn a_cluster_is_not_found_only_when_both_endpoints_say_so() {
    let sim = dedicated_simulator(FlexRefusal::KindMismatch).await;
    let client =
        AtlasClient::with_options(options(&sim), &api_key(), Arc::new(NoopObserver)).unwrap();
    let (api, listing) = client.list_for_kind(Kind::Auto, None, P1, "gone").await;
    let err = listing.unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
    assert_eq!(err.error_code(), Some("CLUSTER_NOT_FOUND"));
    assert_eq!(
        api, None,
        "nothing to remember about a cluster that is not there"
    );
    let stats = sim.stats();
    assert_eq!(stats.by_route.get("flex_list"), Some(&2), "{stats:?}");
    assert_eq!(stats.by_route.get("dedicated_list"), Some(&1), "{stats:?}");

    // Remembered as dedicated, gone since: flex is asked too before it counts as gone.
    sim.reset_stats();
    let (api, listing) = client
        .list_for_kind(Kind::Auto, Some(BackupApi::Dedicated), P1, "gone")
        .await;
    assert_eq!(listing.unwrap_err().reason(), Reason::NotFound);
    assert_eq!(api, None);
    let stats = sim.stats();
    assert_eq!(stats.by_route.get("dedicated_list"), Some(&1), "{stats:?}");
    assert_eq!(stats.by_route.get("flex_list"), Some(&1), "{stats:?}");
}

#[tokio::test]
async fn auto_without_a_flex_api_reads_the_dedicated_endpoint_only() {
    // Atlas for Government: the client options derived from its URL say there is no flex API
    // (see `ClientOptions::from_config`); the simulator stands in for its host.
    let sim = dedicated_simulator(FlexRefusal::KindMismatch).await;
    let client = AtlasClient::with_options(
        ClientOptions {
            flex_api: false,
            ..options(&sim)
        },
        &api_key(),
        Arc::new(NoopObserver),
    )
    .unwrap();
    let (api, listing) = client.list_for_kind(Kind::Auto, None, P1, "m10").await;
    assert_eq!(api, Some(BackupApi::Dedicated));
    assert_eq!(listing.unwrap().len(), 5);
    let stats = sim.stats();
    assert_eq!(stats.by_route.get("flex_list"), None, "{stats:?}");
    assert_eq!(stats.by_route.get("dedicated_list"), Some(&2), "{stats:?}");
}

#[tokio::test]
async fn an_explicit_kind_is_never_second_guessed() {
    let sim = dedicated_simulator(FlexRefusal::KindMismatch).await;
    let client =
        AtlasClient::with_options(options(&sim), &api_key(), Arc::new(NoopObserver)).unwrap();
    let (api, listing) = client.list_for_kind(Kind::Flex, None, P1, "m10").await;
    assert_eq!(api, Some(BackupApi::Flex));
    let err = listing.unwrap_err();
    assert_eq!(
        err.error_code(),
        Some("CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API")
    );
    assert_eq!(
        err.detail(),
        Some("Cannot use non-flex cluster m10 in the flex API.")
    );
    assert_eq!(sim.stats().by_route.get("dedicated_list"), None);
}

#[tokio::test]
async fn open_backup_alerts_are_read_over_every_page_and_filtered_to_backup_types() {
    let at = fixed_now() - jiff::SignedDuration::from_hours(2);
    let project = SimProject::new(P1, "prod")
        .with_cluster(SimCluster::new("Cluster0", SimKind::Dedicated))
        .with_alert(SimAlert::open("CPS_OPLOG_BEHIND", Some("Cluster0"), at))
        .with_alert(SimAlert::open("HOST_DOWN", Some("Cluster0"), at))
        .with_alert(SimAlert::open("CPS_RESTORE_FAILED", Some("Cluster0"), at).closed())
        .with_alert(SimAlert::open("CPS_OPLOG_BEHIND", Some("Cluster0"), at))
        .with_alert(SimAlert::open(
            "OUTSIDE_METRIC_THRESHOLD",
            Some("Cluster0"),
            at,
        ))
        .with_alert(SimAlert::open("CPS_SNAPSHOT_BEHIND", Some("Cluster1"), at).closed())
        .with_alert(SimAlert::open("CPS_SNAPSHOT_FAILED", Some("Cluster1"), at));
    let mut scenario = Scenario::new()
        .with_api_key("key", "private")
        .with_project(project);
    scenario.max_items_per_page = 2;
    let sim = Simulator::start(scenario, loopback()).await.unwrap();
    let client =
        AtlasClient::with_options(options(&sim), &api_key(), Arc::new(NoopObserver)).unwrap();

    let alerts = client
        .list_open_backup_alerts(P1, &Pace::unbounded())
        .await
        .unwrap();

    let open: Vec<(&str, &str)> = alerts
        .open
        .iter()
        .map(|a| (a.cluster_name.as_str(), a.event_type))
        .collect();
    assert_eq!(
        open,
        [
            ("Cluster0", "CPS_OPLOG_BEHIND"),
            ("Cluster1", "CPS_SNAPSHOT_FAILED")
        ]
    );
    // Five open alerts, two a page: three pages, each one request (and the digest challenge
    // before the first). The two closed alerts never left the simulator: status=OPEN was sent.
    assert_eq!(alerts.ignored, 2);
    let stats = sim.stats();
    assert_eq!(stats.by_route.get("alerts_list"), Some(&4), "{stats:?}");
    assert_eq!(stats.by_status.get(&200), Some(&3), "{stats:?}");
}

#[tokio::test]
async fn the_demo_shows_an_open_oplog_alert_and_copies_short_of_the_policy() {
    use atlas_snapshot_exporter::simulator::{DEMO_PRIVATE_KEY, DEMO_PROJECT_IDS, DEMO_PUBLIC_KEY};
    use atlas_snapshot_exporter::snapshot::normalize;
    use atlas_snapshot_exporter::summary::ClusterSummary;

    let sim = Simulator::start(Scenario::demo(7, fixed_now()), loopback())
        .await
        .unwrap();
    let credentials = Credentials::ApiKey {
        public_key: DEMO_PUBLIC_KEY.into(),
        private_key: Secret::new(DEMO_PRIVATE_KEY),
    };
    let client =
        AtlasClient::with_options(options(&sim), &credentials, Arc::new(NoopObserver)).unwrap();
    let production = DEMO_PROJECT_IDS[0];
    let pace = Pace::unbounded();

    let alerts = client
        .list_open_backup_alerts(production, &pace)
        .await
        .unwrap();
    let open: Vec<(&str, &str)> = alerts
        .open
        .iter()
        .map(|a| (a.cluster_name.as_str(), a.event_type))
        .collect();
    assert_eq!(open, [("Cluster0", "CPS_OPLOG_BEHIND")]);
    assert_eq!(alerts.ignored, 1);

    let policy = client
        .get_backup_policy(production, "Cluster0", &pace)
        .await
        .unwrap();
    assert_eq!(policy.copy_regions, Some(2));
    // The demo exports Cluster0 weekly (and is 40 days behind).
    assert_eq!(
        policy.export_interval,
        Some(Duration::from_secs(7 * 86_400))
    );

    let listing = client
        .list_snapshots(BackupApi::Dedicated, production, "Cluster0")
        .await
        .unwrap();
    let summary = ClusterSummary::from_sorted(BackupApi::Dedicated, &normalize(&listing));
    assert_eq!(summary.latest_completed.unwrap().copy_regions, Some(1));
}

#[tokio::test]
async fn auto_export_and_landed_copies_read_back_from_the_schedule_and_snapshots() {
    use atlas_snapshot_exporter::snapshot::normalize;
    use atlas_snapshot_exporter::summary::ClusterSummary;

    let project = SimProject::new(P1, "prod").with_cluster(
        SimCluster::new("Cluster0", SimKind::Dedicated)
            .with_copy_regions(&["EU_WEST_1"], &["EU_WEST_1"])
            .with_auto_export("monthly")
            .with_snapshots(daily_history(3, fixed_now(), 4, HistoryOptions::default())),
    );
    let scenario = Scenario::new()
        .with_api_key("key", "private")
        .with_project(project);
    let sim = Simulator::start(scenario, loopback()).await.unwrap();
    let client =
        AtlasClient::with_options(options(&sim), &api_key(), Arc::new(NoopObserver)).unwrap();
    let policy = client
        .get_backup_policy(P1, "Cluster0", &Pace::unbounded())
        .await
        .unwrap();
    assert_eq!(policy.copy_regions, Some(1));
    assert_eq!(
        policy.export_interval,
        Some(Duration::from_secs(31 * 86_400))
    );
    let listing = client
        .list_snapshots(BackupApi::Dedicated, P1, "Cluster0")
        .await
        .unwrap();
    let summary = ClusterSummary::from_sorted(BackupApi::Dedicated, &normalize(&listing));
    assert_eq!(summary.latest_completed.unwrap().copy_regions, Some(1));
}
