//! Restore jobs and export jobs over real sockets: the client (digest, all pages, the
//! operations it counts them under, Atlas' errors) against the simulator's three listings,
//! and the summaries of what they list.

// Tests may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlas_snapshot_exporter::atlas::jobs::{
    ExportJob, ExportState, JobStatus, RestoreJob, RestoreStatus,
};
use atlas_snapshot_exporter::atlas::{
    AtlasClient, AtlasError, ClientOptions, Operation, Pace, Reason, RequestObserver,
};
use atlas_snapshot_exporter::config::{Credentials, RateLimitConfig};
use atlas_snapshot_exporter::job_summary::{
    ExportJobsSummary, FailedJobLedger, JobsFold, RestoreJobsSummary,
};
use atlas_snapshot_exporter::secret::Secret;
use atlas_snapshot_exporter::simulator::{
    DEMO_PROJECT_IDS, Scenario, SimCluster, SimExportJob, SimExportState, SimKind, SimProject,
    SimRestoreJob, SimRestoreStatus, SimRole, Simulator,
};
use atlas_snapshot_exporter::target::ApiVersion;
use common::{fixed_now, loopback};
use jiff::{SignedDuration, Timestamp};

const P1: &str = "5b69d0349b15c62cdfc38b78";
const READ_ONLY: &str = "5b69d0349b15c62cdfc38b79";

fn ago(hours: i64) -> Timestamp {
    fixed_now()
        .checked_sub(SignedDuration::from_hours(hours))
        .unwrap()
}

fn id(n: u32) -> String {
    format!("6a793f812c88faeba59b{n:04x}")
}

fn flex_restores() -> Vec<SimRestoreJob> {
    // Seven jobs, given oldest first: the simulator serves them newest first.
    let mut jobs: Vec<SimRestoreJob> = (0..5)
        .map(|n| SimRestoreJob::completed(id(n), ago(100 - 10 * n as i64), ago(99 - 10 * n as i64)))
        .collect();
    jobs.push(SimRestoreJob::failed(id(5), ago(30)));
    jobs.push(SimRestoreJob::new(
        id(6),
        SimRestoreStatus::Other("CLOSED".into()),
        ago(20),
    ));
    jobs
}

fn dedicated_restores() -> Vec<SimRestoreJob> {
    vec![
        SimRestoreJob::completed(id(10), ago(80), ago(79)),
        SimRestoreJob::failed(id(11), ago(60)),
        SimRestoreJob::new(id(12), SimRestoreStatus::Cancelled, ago(50)),
        SimRestoreJob::new(id(13), SimRestoreStatus::Expired, ago(45))
            .finished_at(ago(44))
            .download(),
        SimRestoreJob::running(id(14), ago(1)),
    ]
}

fn exports() -> Vec<SimExportJob> {
    vec![
        SimExportJob::successful(id(20), ago(24 * 40), ago(24 * 40 - 1)),
        SimExportJob::failed(id(21), ago(48), ago(47)),
        SimExportJob::new(id(22), SimExportState::Cancelled, ago(30)),
        SimExportJob::in_progress(id(23), ago(2)),
        SimExportJob::new(id(24), SimExportState::Other("Paused".into()), ago(1)),
    ]
}

fn scenario() -> Scenario {
    let project = SimProject::new(P1, "prod")
        .with_cluster(SimCluster::new("flex1", SimKind::Flex).with_restore_jobs(flex_restores()))
        .with_cluster(
            SimCluster::new("dedicated1", SimKind::Dedicated)
                .with_restore_jobs(dedicated_restores())
                .with_export_jobs(exports()),
        );
    let read_only = SimProject::new(READ_ONLY, "read-only")
        .with_role(SimRole::ReadOnly)
        .with_cluster(SimCluster::new("flex2", SimKind::Flex).with_restore_jobs(flex_restores()))
        .with_cluster(
            SimCluster::new("dedicated2", SimKind::Dedicated).with_export_jobs(exports()),
        );
    let mut scenario = Scenario::new()
        .with_api_key("key", "private")
        .with_project(project)
        .with_project(read_only);
    // Three jobs a page, so a handful of jobs takes several pages.
    scenario.max_items_per_page = 3;
    scenario
}

/// Every response the client acted on, by operation and status.
#[derive(Default)]
struct Responses(Mutex<Vec<(Operation, Option<u16>)>>);

impl Responses {
    fn count(&self, operation: Operation, status: u16) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(o, s)| *o == operation && *s == Some(status))
            .count()
    }
}

impl RequestObserver for Responses {
    fn observe(&self, operation: Operation, status: Option<u16>, _: Duration) {
        self.0.lock().unwrap().push((operation, status));
    }
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

async fn setup() -> (Simulator, AtlasClient, Arc<Responses>) {
    let sim = Simulator::start(scenario(), loopback()).await.unwrap();
    let responses = Arc::new(Responses::default());
    let options = options(&sim);
    let credentials = Credentials::ApiKey {
        public_key: "key".into(),
        private_key: Secret::new("private"),
    };
    let client = AtlasClient::with_options(options, &credentials, responses.clone()).unwrap();
    (sim, client, responses)
}

async fn flex(
    client: &AtlasClient,
    project: &str,
    cluster: &str,
) -> Result<Vec<RestoreJob>, AtlasError> {
    let mut all = Vec::new();
    client
        .list_flex_restore_jobs(project, cluster, &Pace::unbounded(), &mut |v| all.extend(v))
        .await
        .map(|()| all)
}

async fn dedicated(
    client: &AtlasClient,
    project: &str,
    cluster: &str,
) -> Result<Vec<RestoreJob>, AtlasError> {
    let mut all = Vec::new();
    client
        .list_dedicated_restore_jobs(project, cluster, &Pace::unbounded(), &mut |v| all.extend(v))
        .await
        .map(|()| all)
}

async fn export_jobs(
    client: &AtlasClient,
    project: &str,
    cluster: &str,
) -> Result<Vec<ExportJob>, AtlasError> {
    let mut all = Vec::new();
    client
        .list_export_jobs(project, cluster, &Pace::unbounded(), &mut |v| all.extend(v))
        .await
        .map(|()| all)
}

#[tokio::test]
async fn flex_restore_jobs_are_read_newest_first_over_every_page_one_request_each() {
    let (sim, client, responses) = setup().await;
    let jobs = flex(&client, P1, "flex1").await.unwrap();
    assert_eq!(jobs.len(), 7);
    assert_eq!(jobs[0].id, id(6));
    assert_eq!(jobs[0].status, JobStatus::Unknown("CLOSED".into()));
    assert_eq!(jobs[1].status, JobStatus::Known(RestoreStatus::Failed));
    assert_eq!(jobs[6].id, id(0));
    assert_eq!(jobs[2].delivery_type.as_deref(), Some("RESTORE"));
    // 7 jobs at 3 a page: 3 pages, 3 answered requests counted under their own endpoint label.
    assert_eq!(responses.count(Operation::FlexRestoreJobsList, 200), 3);
    assert_eq!(
        Operation::FlexRestoreJobsList.as_str(),
        "list_flex_restore_jobs"
    );
    assert_eq!(sim.stats().pages_served, 3);

    let summary = RestoreJobsSummary::of(jobs);
    assert_eq!(summary.count(RestoreStatus::Completed), 5);
    assert_eq!(summary.count(RestoreStatus::Failed), 1);
    assert_eq!(summary.unknown_status, 1);
    assert_eq!(summary.last_success, Some(ago(59)));
    assert_eq!(summary.failed_ids, [id(5)]);
}

#[tokio::test]
async fn dedicated_restore_jobs_get_a_status_from_their_flags() {
    let (_sim, client, responses) = setup().await;
    let jobs = dedicated(&client, P1, "dedicated1").await.unwrap();
    let status = |n: u32| jobs.iter().find(|j| j.id == id(n)).unwrap().status.clone();
    assert_eq!(status(10), JobStatus::Known(RestoreStatus::Completed));
    assert_eq!(status(11), JobStatus::Known(RestoreStatus::Failed));
    assert_eq!(status(12), JobStatus::Cancelled);
    // Expired after it finished: its download link lapsed, the restore happened.
    assert_eq!(status(13), JobStatus::Known(RestoreStatus::Completed));
    assert_eq!(status(14), JobStatus::Known(RestoreStatus::Running));
    assert_eq!(responses.count(Operation::DedicatedRestoreJobsList, 200), 2);

    // Folded page by page, as a poll would, without keeping the listing.
    let mut fold = JobsFold::new();
    dedicated(&client, P1, "dedicated1")
        .await
        .map(|jobs| fold.add(jobs))
        .unwrap();
    let summary = fold.finish();
    assert_eq!(summary.listed, 5);
    assert_eq!(summary.cancelled, 1);
    assert_eq!(summary.count(RestoreStatus::Completed), 2);
    assert_eq!(summary.last_success, Some(ago(44)));
    assert_eq!(summary.failed_ids, [id(11)]);
}

#[tokio::test]
async fn export_jobs_show_a_stale_last_success_and_their_failures() {
    let (_sim, client, responses) = setup().await;
    let jobs = export_jobs(&client, P1, "dedicated1").await.unwrap();
    assert_eq!(jobs.len(), 5);
    assert_eq!(jobs[0].status, JobStatus::Unknown("Paused".into()));
    assert_eq!(responses.count(Operation::ExportJobsList, 200), 2);
    let summary = ExportJobsSummary::of(jobs);
    assert_eq!(summary.count(ExportState::Successful), 1);
    assert_eq!(summary.count(ExportState::InProgress), 1);
    assert_eq!(summary.count(ExportState::Cancelled), 1);
    assert_eq!(summary.count(ExportState::Failed), 1);
    assert_eq!(summary.unknown_status, 1);
    assert_eq!(summary.last_success, Some(ago(24 * 40 - 1)));
    let mut ledger = FailedJobLedger::default();
    assert_eq!(ledger.record(&summary), 1);
    assert_eq!(ledger.record(&summary), 1);
}

#[tokio::test]
async fn a_read_only_key_is_forbidden_the_backup_manager_listings_only() {
    let (_sim, client, responses) = setup().await;
    for err in [
        dedicated(&client, READ_ONLY, "dedicated2")
            .await
            .unwrap_err(),
        export_jobs(&client, READ_ONLY, "dedicated2")
            .await
            .unwrap_err(),
        // Refused before the cluster is looked up.
        export_jobs(&client, READ_ONLY, "no-such-cluster")
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.reason(), Reason::Forbidden, "{err}");
        assert_eq!(err.error_code(), Some("USER_UNAUTHORIZED"), "{err}");
    }
    assert_eq!(responses.count(Operation::ExportJobsList, 403), 2);
    // The flex listing needs Project Read Only only.
    assert_eq!(flex(&client, READ_ONLY, "flex2").await.unwrap().len(), 7);
}

#[tokio::test]
async fn unknown_clusters_and_the_wrong_kind_get_atlas_errors() {
    let (_sim, client, _) = setup().await;
    let err = dedicated(&client, P1, "gone").await.unwrap_err();
    assert_eq!(err.reason(), Reason::NotFound);
    assert_eq!(err.error_code(), Some("CLUSTER_NOT_FOUND"));
    let err = flex(&client, P1, "dedicated1").await.unwrap_err();
    assert_eq!(
        err.error_code(),
        Some("CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API")
    );
    let err = export_jobs(&client, P1, "flex1").await.unwrap_err();
    assert_eq!(
        err.error_code(),
        Some("CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API")
    );
}

#[tokio::test]
async fn the_demo_shows_a_failed_restore_and_an_export_falling_behind() {
    let now = fixed_now();
    let sim = Simulator::start(Scenario::demo(7, now), loopback())
        .await
        .unwrap();
    let options = options(&sim);
    let credentials = Credentials::ApiKey {
        public_key: atlas_snapshot_exporter::simulator::DEMO_PUBLIC_KEY.into(),
        private_key: Secret::new(atlas_snapshot_exporter::simulator::DEMO_PRIVATE_KEY),
    };
    let client = AtlasClient::with_options(
        options,
        &credentials,
        Arc::new(atlas_snapshot_exporter::atlas::NoopObserver),
    )
    .unwrap();
    let production = DEMO_PROJECT_IDS[0];

    let orders = flex(&client, production, "orders").await.unwrap();
    assert_eq!(orders[0].status, JobStatus::Known(RestoreStatus::Failed));
    let orders = RestoreJobsSummary::of(orders);
    assert_eq!(orders.failed_ids.len(), 1);
    assert!(orders.last_success.is_some());

    let exports =
        ExportJobsSummary::of(export_jobs(&client, production, "Cluster0").await.unwrap());
    let last = exports.last_success.unwrap();
    assert!(now.duration_since(last) > SignedDuration::from_hours(24 * 30));
    assert_eq!(exports.count(ExportState::Failed), 2);
    let restores =
        RestoreJobsSummary::of(dedicated(&client, production, "Cluster0").await.unwrap());
    assert_eq!(restores.count(RestoreStatus::Completed), 1);
}
