//! Restore jobs and snapshot export jobs: what a scenario says about them, the three
//! listings' routes, and their rendering in the shapes real Atlas was recorded sending
//! (the Atlas CLI's end-to-end recordings, `test/e2e/atlas/backup/…/.snapshots`, 2026-08-10):
//!
//! - flex (`…/flexClusters/{name}/backup/restoreJobs`, 2024-11-13,
//!   `TestFlexBackup/Restores_List`): `deliveryType`, `expirationDate` (6 h after
//!   `restoreScheduledDate`), `id`, `instanceName`, `projectId`, `restoreFinishedDate` once
//!   finished, `restoreScheduledDate`, `snapshotFinishedDate`, `snapshotId`, `status`,
//!   `targetDeploymentItemName`, `targetProjectId`; no per-item `links`;
//! - dedicated (`…/clusters/{name}/backup/restoreJobs`, 2023-01-01, `TestRestores/Restores_List`
//!   and `Restores_Watch*`): no status, the flags `cancelled`, `expired`, `failed`,
//!   `finishedAt` once finished, `deliveryType` `automated` (with `targetClusterName`,
//!   `targetDeploymentItemName`, `targetGroupId`) or `download` (with `deliveryUrl` and
//!   `expiresAt`), `deliveryUrl: []`, `desiredTimestamp` of nulls, four `links`, `snapshotId`,
//!   `timestamp` (when the snapshot was taken);
//! - exports (`…/clusters/{name}/backup/exports`, 2023-01-01, `TestExportJobs/List_jobs` and
//!   `Watch_create_job`): `createdAt`, `customData: []`, `exportBucketId`, `exportStatus`,
//!   `finishedAt` once finished, `id`, `prefix`, `snapshotId`, `state`; `stateReason`
//!   (`{errorCode, message}`) on a failed one, as the spec's `StateReason` says (no failed
//!   export is recorded: its code and message here are the simulator's own).
//!
//! Listings are newest first, as recorded. The dedicated restore and export listings need
//! Project Backup Manager (the spec's `x-rolesRequirements`); a project whose key is
//! [`SimRole::ReadOnly`] gets a 403 there, and only there.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::render::{ClusterRef, derived_id};
use super::routes::{EndpointSet, MEDIA_2023, MEDIA_2024_FLEX};

/// The role the scenario's credential holds in a project.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SimRole {
    /// Enough for every endpoint the simulator serves (Project Backup Manager and up).
    #[default]
    BackupManager,
    /// Project Read Only: the Backup-Manager endpoints (dedicated restore jobs, export jobs)
    /// answer 403.
    ReadOnly,
}

/// Where a restore job stands. Flex jobs show it as `status`; dedicated ones as flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimRestoreStatus {
    /// `PENDING`; dedicated: every flag false.
    Pending,
    /// `QUEUED`; dedicated: every flag false.
    Queued,
    /// `RUNNING`; dedicated: every flag false.
    Running,
    /// `FAILED`; dedicated: `failed: true`.
    Failed,
    /// `COMPLETED`; dedicated: a `finishedAt`.
    Completed,
    /// Dedicated only, `cancelled: true` (the flex enum has no such value: flex shows `FAILED`).
    Cancelled,
    /// Dedicated only, `expired: true` (with `finishedAt` when the job has a finish time);
    /// flex shows `COMPLETED` if it finished, else `FAILED`.
    Expired,
    /// A flex `status` the spec does not list, sent as given; dedicated: every flag false.
    Other(String),
}

/// One restore job of a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct SimRestoreJob {
    /// 24 hex digits.
    pub id: String,
    /// Where it stands.
    pub status: SimRestoreStatus,
    /// When it was asked for: `restoreScheduledDate`, and the listing's order (newest first).
    pub scheduled: Timestamp,
    /// When it finished: flex `restoreFinishedDate`, dedicated `finishedAt`.
    pub finished: Option<Timestamp>,
    /// The snapshot it restores.
    pub snapshot_id: String,
    /// When that snapshot was taken: flex `snapshotFinishedDate`, dedicated `timestamp`.
    pub snapshot_taken: Timestamp,
    /// A download (flex `DOWNLOAD`, dedicated `download` with a `deliveryUrl`) rather than a
    /// restore into a cluster.
    pub download: bool,
}

impl SimRestoreJob {
    /// A job asked for at `scheduled`, of a snapshot taken an hour before.
    pub fn new(id: impl Into<String>, status: SimRestoreStatus, scheduled: Timestamp) -> Self {
        let id = id.into();
        SimRestoreJob {
            snapshot_id: derived_id(&format!("restored-snapshot:{id}")),
            id,
            status,
            scheduled,
            finished: None,
            snapshot_taken: scheduled
                .checked_sub(SignedDuration::from_hours(1))
                .unwrap_or(scheduled),
            download: false,
        }
    }

    /// A restore that finished at `finished`.
    pub fn completed(id: impl Into<String>, scheduled: Timestamp, finished: Timestamp) -> Self {
        SimRestoreJob::new(id, SimRestoreStatus::Completed, scheduled).finished_at(finished)
    }

    /// A restore that failed.
    pub fn failed(id: impl Into<String>, scheduled: Timestamp) -> Self {
        SimRestoreJob::new(id, SimRestoreStatus::Failed, scheduled)
    }

    /// A restore still running.
    pub fn running(id: impl Into<String>, scheduled: Timestamp) -> Self {
        SimRestoreJob::new(id, SimRestoreStatus::Running, scheduled)
    }

    /// Sets the finish time (builder style).
    pub fn finished_at(mut self, finished: Timestamp) -> Self {
        self.finished = Some(finished);
        self
    }

    /// Makes it a download (builder style).
    pub fn download(mut self) -> Self {
        self.download = true;
        self
    }
}

/// An export job's `state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimExportState {
    /// `Queued`.
    Queued,
    /// `InProgress`.
    InProgress,
    /// `Successful`.
    Successful,
    /// `Failed`, with a `stateReason`.
    Failed,
    /// `Cancelled`.
    Cancelled,
    /// A value the spec does not list, sent as given.
    Other(String),
}

impl SimExportState {
    fn as_str(&self) -> &str {
        match self {
            SimExportState::Queued => "Queued",
            SimExportState::InProgress => "InProgress",
            SimExportState::Successful => "Successful",
            SimExportState::Failed => "Failed",
            SimExportState::Cancelled => "Cancelled",
            SimExportState::Other(state) => state,
        }
    }
}

/// One snapshot export job of a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct SimExportJob {
    /// 24 hex digits.
    pub id: String,
    /// Its state.
    pub state: SimExportState,
    /// `createdAt`, and the listing's order (newest first).
    pub created: Timestamp,
    /// `finishedAt`.
    pub finished: Option<Timestamp>,
    /// The snapshot it exports.
    pub snapshot_id: String,
}

impl SimExportJob {
    /// A job created at `created`.
    pub fn new(id: impl Into<String>, state: SimExportState, created: Timestamp) -> Self {
        let id = id.into();
        SimExportJob {
            snapshot_id: derived_id(&format!("exported-snapshot:{id}")),
            id,
            state,
            created,
            finished: None,
        }
    }

    /// An export that succeeded at `finished`.
    pub fn successful(id: impl Into<String>, created: Timestamp, finished: Timestamp) -> Self {
        SimExportJob::new(id, SimExportState::Successful, created).finished_at(finished)
    }

    /// An export that failed at `finished`.
    pub fn failed(id: impl Into<String>, created: Timestamp, finished: Timestamp) -> Self {
        SimExportJob::new(id, SimExportState::Failed, created).finished_at(finished)
    }

    /// An export still running.
    pub fn in_progress(id: impl Into<String>, created: Timestamp) -> Self {
        SimExportJob::new(id, SimExportState::InProgress, created)
    }

    /// Sets the finish time (builder style).
    pub fn finished_at(mut self, finished: Timestamp) -> Self {
        self.finished = Some(finished);
        self
    }
}

/// A cluster's restore and export jobs, in any order (served newest first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimJobs {
    /// Restore jobs: served on the flex or the dedicated listing, by the cluster's kind.
    pub restores: Vec<SimRestoreJob>,
    /// Export jobs (dedicated clusters).
    pub exports: Vec<SimExportJob>,
}

/// One of the three job listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobRoute {
    /// `GET /api/atlas/v2/groups/{g}/flexClusters/{name}/backup/restoreJobs`.
    FlexRestores,
    /// `GET /api/atlas/v2/groups/{g}/clusters/{name}/backup/restoreJobs`.
    DedicatedRestores,
    /// `GET /api/atlas/v2/groups/{g}/clusters/{name}/backup/exports`.
    Exports,
}

impl JobRoute {
    /// The route from the path segments after `groups/{g}/`, if they name a job listing.
    pub(crate) fn classify<'a>(rest: &[&'a str]) -> Option<(JobRoute, &'a str)> {
        match rest {
            ["flexClusters", c, "backup", "restoreJobs"] => Some((JobRoute::FlexRestores, c)),
            ["clusters", c, "backup", "restoreJobs"] => Some((JobRoute::DedicatedRestores, c)),
            ["clusters", c, "backup", "exports"] => Some((JobRoute::Exports, c)),
            _ => None,
        }
    }

    /// The name it is counted under in `Stats::by_route`.
    pub(crate) fn route_name(self) -> &'static str {
        match self {
            JobRoute::FlexRestores => "flex_restore_jobs_list",
            JobRoute::DedicatedRestores => "restore_jobs_list",
            JobRoute::Exports => "export_jobs_list",
        }
    }

    pub(crate) fn media_type(self) -> &'static str {
        match self {
            JobRoute::FlexRestores => MEDIA_2024_FLEX,
            JobRoute::DedicatedRestores | JobRoute::Exports => MEDIA_2023,
        }
    }

    /// The rate-limit endpoint set: Atlas names its sets after the spec's tags (`Cloud
    /// Backups`, `Flex Snapshots`, …); these listings are tagged `Flex Restore Jobs` and
    /// `Cloud Backups`.
    pub(crate) fn endpoint_set(self) -> EndpointSet {
        match self {
            JobRoute::FlexRestores => EndpointSet::FlexRestoreJobs,
            JobRoute::DedicatedRestores | JobRoute::Exports => EndpointSet::CloudBackups,
        }
    }

    /// The spec's `x-rolesRequirements` is Project Backup Manager (flex: Project Read Only).
    pub(crate) fn needs_backup_manager(self) -> bool {
        self != JobRoute::FlexRestores
    }

    /// Every job of this listing, rendered, newest first.
    pub(crate) fn render_all(self, at: &ClusterRef<'_>, jobs: &SimJobs) -> Vec<Value> {
        match self {
            JobRoute::FlexRestores | JobRoute::DedicatedRestores => {
                let mut restores: Vec<&SimRestoreJob> = jobs.restores.iter().collect();
                restores.sort_by_key(|job| std::cmp::Reverse(job.scheduled));
                restores
                    .into_iter()
                    .map(|job| match self {
                        JobRoute::FlexRestores => flex_restore(at, job),
                        _ => dedicated_restore(at, job),
                    })
                    .collect()
            }
            JobRoute::Exports => {
                let mut exports: Vec<&SimExportJob> = jobs.exports.iter().collect();
                exports.sort_by_key(|job| std::cmp::Reverse(job.created));
                exports.into_iter().map(|job| export(at, job)).collect()
            }
        }
    }
}

fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn insert(item: &mut Value, key: &str, value: Value) {
    if let Some(map) = item.as_object_mut() {
        map.insert(key.to_owned(), value);
    }
}

fn flex_restore(at: &ClusterRef<'_>, job: &SimRestoreJob) -> Value {
    let status = match &job.status {
        SimRestoreStatus::Pending => "PENDING",
        SimRestoreStatus::Queued => "QUEUED",
        SimRestoreStatus::Running => "RUNNING",
        SimRestoreStatus::Failed | SimRestoreStatus::Cancelled => "FAILED",
        SimRestoreStatus::Completed => "COMPLETED",
        SimRestoreStatus::Expired if job.finished.is_some() => "COMPLETED",
        SimRestoreStatus::Expired => "FAILED",
        SimRestoreStatus::Other(status) => status,
    };
    let expiration = job
        .scheduled
        .checked_add(SignedDuration::from_hours(6))
        .unwrap_or(job.scheduled);
    let mut item = json!({
        "deliveryType": if job.download { "DOWNLOAD" } else { "RESTORE" },
        "expirationDate": time(expiration),
        "id": job.id,
        "instanceName": at.cluster,
        "projectId": at.group,
        "restoreScheduledDate": time(job.scheduled),
        "snapshotFinishedDate": time(job.snapshot_taken),
        "snapshotId": job.snapshot_id,
        "status": status,
        "targetDeploymentItemName": format!("{}-restore", at.cluster),
        "targetProjectId": at.group,
    });
    if let Some(finished) = job.finished {
        insert(&mut item, "restoreFinishedDate", json!(time(finished)));
    }
    item
}

fn dedicated_restore(at: &ClusterRef<'_>, job: &SimRestoreJob) -> Value {
    let base = format!(
        "{}/api/atlas/v2/groups/{}/clusters/{}",
        at.origin, at.group, at.cluster
    );
    let finished = match job.status {
        SimRestoreStatus::Completed | SimRestoreStatus::Expired => job.finished,
        _ => None,
    };
    let mut item = json!({
        "cancelled": job.status == SimRestoreStatus::Cancelled,
        "deliveryType": if job.download { "download" } else { "automated" },
        "deliveryUrl": [],
        "desiredTimestamp": {"increment": null, "time": null, "date": null},
        "expired": job.status == SimRestoreStatus::Expired,
        "failed": job.status == SimRestoreStatus::Failed,
        "id": job.id,
        "links": [
            {"href": format!("{base}/backup/restoreJobs/{}", job.id), "rel": "self"},
            {
                "href": format!("{base}/backup/snapshots/{}", job.snapshot_id),
                "rel": "https://cloud.mongodb.com/snapshot"
            },
            {"href": base, "rel": "https://cloud.mongodb.com/cluster"},
            {
                "href": format!("{}/api/atlas/v2/groups/{}", at.origin, at.group),
                "rel": "https://cloud.mongodb.com/group"
            },
        ],
        "snapshotId": job.snapshot_id,
        "timestamp": time(job.snapshot_taken),
    });
    if let Some(finished) = finished {
        insert(&mut item, "finishedAt", json!(time(finished)));
    }
    if job.download {
        let expires = job
            .scheduled
            .checked_add(SignedDuration::from_hours(1))
            .unwrap_or(job.scheduled);
        insert(&mut item, "expiresAt", json!(time(expires)));
        insert(
            &mut item,
            "deliveryUrl",
            json!([format!(
                "https://restore-{}.simulator.invalid:27017/restore-{}.tar.gz",
                job.id, job.snapshot_id
            )]),
        );
    } else {
        insert(&mut item, "targetClusterName", json!(at.cluster));
        insert(
            &mut item,
            "targetDeploymentItemName",
            json!(format!("atlas-{}", &job.id[..job.id.len().min(6)])),
        );
        insert(&mut item, "targetGroupId", json!(at.group));
    }
    item
}

fn export(at: &ClusterRef<'_>, job: &SimExportJob) -> Value {
    let prefix = format!(
        "exported_snapshots/{}/{}/{}/{}/{}",
        derived_id(&format!("org-of:{}", at.group)),
        at.group,
        at.cluster,
        job.created.strftime("%Y-%m-%dT%H%M"),
        job.created.as_second()
    );
    let mut item = json!({
        "createdAt": time(job.created),
        "customData": [],
        "exportBucketId": derived_id(&format!("export-bucket:{}", at.group)),
        "exportStatus": {"exportedCollections": 0, "totalCollections": 0},
        "id": job.id,
        "prefix": prefix,
        "snapshotId": job.snapshot_id,
        "state": job.state.as_str(),
    });
    if let Some(finished) = job.finished {
        insert(&mut item, "finishedAt", json!(time(finished)));
    }
    if job.state == SimExportState::Failed {
        insert(
            &mut item,
            "stateReason",
            json!({
                "errorCode": "EXPORT_FAILED",
                "message": "The export to the bucket failed."
            }),
        );
    }
    item
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const G: &str = "32b6e34b3d91647abb20e7b8";

    fn at() -> ClusterRef<'static> {
        ClusterRef {
            origin: "http://127.0.0.1:1",
            group: G,
            cluster: "c0",
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn keys(v: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn jobs_render_with_the_recorded_keys_newest_first() {
        let jobs = SimJobs {
            restores: vec![
                SimRestoreJob::completed(
                    "6a759c30f56558da788ccb0c",
                    t("2026-08-07T08:49:52Z"),
                    t("2026-08-07T08:50:56Z"),
                ),
                SimRestoreJob::running("6a793f812c88faeba59bc399", t("2026-08-10T03:03:29Z")),
            ],
            exports: vec![SimExportJob::successful(
                "6a7945592c88faeba59d5e8e",
                t("2026-08-10T03:28:25Z"),
                t("2026-08-10T03:43:05Z"),
            )],
        };
        let flex = JobRoute::FlexRestores.render_all(&at(), &jobs);
        assert_eq!(flex[0]["id"], "6a793f812c88faeba59bc399");
        assert_eq!(flex[0]["status"], "RUNNING");
        assert!(flex[0].get("restoreFinishedDate").is_none());
        assert_eq!(
            keys(&flex[1]),
            [
                "deliveryType",
                "expirationDate",
                "id",
                "instanceName",
                "projectId",
                "restoreFinishedDate",
                "restoreScheduledDate",
                "snapshotFinishedDate",
                "snapshotId",
                "status",
                "targetDeploymentItemName",
                "targetProjectId"
            ]
        );
        assert_eq!(flex[1]["expirationDate"], "2026-08-07T14:49:52Z");

        let dedicated = JobRoute::DedicatedRestores.render_all(&at(), &jobs);
        assert_eq!(dedicated[1]["finishedAt"], "2026-08-07T08:50:56Z");
        assert_eq!(dedicated[1]["failed"], false);
        assert_eq!(
            keys(&dedicated[1]),
            [
                "cancelled",
                "deliveryType",
                "deliveryUrl",
                "desiredTimestamp",
                "expired",
                "failed",
                "finishedAt",
                "id",
                "links",
                "snapshotId",
                "targetClusterName",
                "targetDeploymentItemName",
                "targetGroupId",
                "timestamp"
            ]
        );

        let exports = JobRoute::Exports.render_all(&at(), &jobs);
        assert_eq!(
            keys(&exports[0]),
            [
                "createdAt",
                "customData",
                "exportBucketId",
                "exportStatus",
                "finishedAt",
                "id",
                "prefix",
                "snapshotId",
                "state"
            ]
        );
        assert_eq!(exports[0]["state"], "Successful");
    }

    #[test]
    fn dedicated_jobs_show_their_status_as_flags() {
        let now = t("2026-08-10T03:00:00Z");
        let jobs = SimJobs {
            restores: vec![
                SimRestoreJob::failed("a", now),
                SimRestoreJob::new("b", SimRestoreStatus::Cancelled, now),
                SimRestoreJob::new("c", SimRestoreStatus::Expired, now).download(),
            ],
            exports: vec![SimExportJob::failed("e", now, now)],
        };
        let rendered = JobRoute::DedicatedRestores.render_all(&at(), &jobs);
        let flags = |v: &Value| {
            (
                v["failed"].clone(),
                v["cancelled"].clone(),
                v["expired"].clone(),
            )
        };
        assert_eq!(
            flags(&rendered[0]),
            (json!(true), json!(false), json!(false))
        );
        assert_eq!(
            flags(&rendered[1]),
            (json!(false), json!(true), json!(false))
        );
        assert_eq!(
            flags(&rendered[2]),
            (json!(false), json!(false), json!(true))
        );
        assert_eq!(rendered[2]["deliveryType"], "download");
        assert!(rendered[2]["deliveryUrl"][0].is_string());
        let exports = JobRoute::Exports.render_all(&at(), &jobs);
        assert_eq!(exports[0]["stateReason"]["errorCode"], "EXPORT_FAILED");
    }

    #[test]
    fn full_paths_classify_as_job_listings_with_their_media_types() {
        use super::super::routes::{Endpoint, classify};
        let flex = classify(&format!(
            "/api/atlas/v2/groups/{G}/flexClusters/c0/backup/restoreJobs"
        ));
        assert_eq!(flex.route_name(), "flex_restore_jobs_list");
        assert_eq!(flex.media_type(), "application/vnd.atlas.2024-11-13+json");
        let exports = classify(&format!(
            "/api/atlas/v2/groups/{G}/clusters/c0/backup/exports"
        ));
        assert_eq!(
            exports,
            Endpoint::JobList {
                route: JobRoute::Exports,
                group: G.into(),
                cluster: "c0".into()
            }
        );
        assert_eq!(
            exports.media_type(),
            "application/vnd.atlas.2023-01-01+json"
        );
        let v1 = classify(&format!(
            "/api/atlas/v1.0/groups/{G}/clusters/c0/backup/restoreJobs"
        ));
        assert_eq!(v1, Endpoint::UnknownApi);
    }

    #[test]
    fn the_three_paths_are_job_routes() {
        assert_eq!(
            JobRoute::classify(&["flexClusters", "c", "backup", "restoreJobs"]),
            Some((JobRoute::FlexRestores, "c"))
        );
        assert_eq!(
            JobRoute::classify(&["clusters", "c", "backup", "exports"]),
            Some((JobRoute::Exports, "c"))
        );
        assert_eq!(
            JobRoute::classify(&["clusters", "c", "backup", "snapshots"]),
            None
        );
        assert!(!JobRoute::FlexRestores.needs_backup_manager());
        assert!(JobRoute::Exports.needs_backup_manager());
    }
}
