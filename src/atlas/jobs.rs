//! Restore jobs and snapshot export jobs: the three listings, their lenient decoding and the
//! one status each job is counted under.
//!
//! Shapes, from the public spec (`openapi/v2.yaml`) and the Atlas CLI's recorded exchanges
//! (`test/e2e/atlas/backup/{flex/backupflex,restores/backuprestores,exports/jobs/backupexportjobs}`):
//! - Flex restore jobs, `GET …/flexClusters/{name}/backup/restoreJobs`, 2024-11-13
//!   (`listGroupFlexClusterBackupRestoreJobs`, tag `Flex Restore Jobs`, Project Read Only):
//!   `FlexBackupRestoreJob20241113` with `status` PENDING/QUEUED/RUNNING/FAILED/COMPLETED and
//!   `restoreFinishedDate`; recorded newest first, 100 a page with a `next` link.
//! - Dedicated restore jobs, `GET …/clusters/{name}/backup/restoreJobs`, 2023-01-01
//!   (`listGroupClusterBackupRestoreJobs`, tag `Cloud Backups`, Project Backup Manager):
//!   `DiskBackupSnapshotRestoreJob`, which has no status, only the flags `failed`
//!   ("whether the restore job failed"), `cancelled` ("whether someone canceled this restore
//!   job"), `expired` ("whether the restore job expired") and `finishedAt` ("when the restore
//!   job completed"). [`dedicated_status`] derives one status from them.
//! - Export jobs, `GET …/clusters/{name}/backup/exports`, 2023-01-01
//!   (`listGroupClusterBackupExports`, tag `Cloud Backups`, Project Backup Manager):
//!   `DiskBackupExportJob` with `state` Queued/InProgress/Successful/Failed/Cancelled and
//!   `finishedAt` (recorded: absent while `Queued`, set once `Successful`).
//!
//! All three are paged listings read through the snapshot listings' page loop
//! (`AtlasClient::list_pages`), held to `max_listing_items`, their requests taking tokens from
//! the project's bucket: Atlas counts the dedicated ones in the Cloud Backups endpoint set and
//! the flex one in the flex set (both 1200 requests, 500 a minute; recorded
//! `Ratelimit-Limit: 1200` on each). A 403 (a key without Project Backup Manager) is an
//! [`AtlasError`] whose [`AtlasError::reason`] is [`super::Reason::Forbidden`].

use std::fmt;

use jiff::Timestamp;
use serde::Deserialize;

use super::budget::Pace;
use super::client::{AtlasClient, ListingRequest};
use super::endpoint::{MEDIA_TYPE_2023_01_01, MEDIA_TYPE_2024_11_13, Operation};
use super::error::AtlasError;
use super::wire::{ListItem, Loose, SkipReason};
use crate::target::ApiVersion;

/// How many states each job kind has: the length of per-state arrays.
pub const JOB_STATES: usize = 5;

/// The states a kind of job is counted under: the label values of its jobs gauge.
pub trait JobState: Copy + Eq + fmt::Debug + Send + 'static {
    /// Every state, in label order.
    const ALL: [Self; JOB_STATES];
    /// The label value, exactly as the contract spells it.
    fn as_str(self) -> &'static str;
    /// Index into per-state arrays: the position in [`JobState::ALL`].
    fn index(self) -> usize;
    /// The job ran to its end and did what it was for.
    fn is_success(self) -> bool;
    /// The job ended in failure.
    fn is_failure(self) -> bool;
}

/// A restore job's status: the flex API's own `status` values, which dedicated jobs are
/// mapped onto ([`dedicated_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestoreStatus {
    /// `PENDING`.
    Pending,
    /// `QUEUED`.
    Queued,
    /// `RUNNING`.
    Running,
    /// `FAILED`.
    Failed,
    /// `COMPLETED`.
    Completed,
}

impl RestoreStatus {
    /// The flex API's `status` value, `None` for one this version does not know. Exact
    /// spelling, as the spec's enum gives it.
    pub fn from_flex(status: &str) -> Option<RestoreStatus> {
        RestoreStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
    }
}

impl JobState for RestoreStatus {
    const ALL: [RestoreStatus; JOB_STATES] = [
        RestoreStatus::Pending,
        RestoreStatus::Queued,
        RestoreStatus::Running,
        RestoreStatus::Failed,
        RestoreStatus::Completed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RestoreStatus::Pending => "PENDING",
            RestoreStatus::Queued => "QUEUED",
            RestoreStatus::Running => "RUNNING",
            RestoreStatus::Failed => "FAILED",
            RestoreStatus::Completed => "COMPLETED",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn is_success(self) -> bool {
        self == RestoreStatus::Completed
    }

    fn is_failure(self) -> bool {
        self == RestoreStatus::Failed
    }
}

/// An export job's `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportState {
    /// `Queued`.
    Queued,
    /// `InProgress`.
    InProgress,
    /// `Successful`.
    Successful,
    /// `Failed`.
    Failed,
    /// `Cancelled`.
    Cancelled,
}

impl ExportState {
    /// The `state` value, `None` for one this version does not know (exact spelling).
    pub fn from_wire(state: &str) -> Option<ExportState> {
        ExportState::ALL.into_iter().find(|s| s.as_str() == state)
    }
}

impl JobState for ExportState {
    const ALL: [ExportState; JOB_STATES] = [
        ExportState::Queued,
        ExportState::InProgress,
        ExportState::Successful,
        ExportState::Failed,
        ExportState::Cancelled,
    ];

    fn as_str(self) -> &'static str {
        match self {
            ExportState::Queued => "Queued",
            ExportState::InProgress => "InProgress",
            ExportState::Successful => "Successful",
            ExportState::Failed => "Failed",
            ExportState::Cancelled => "Cancelled",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn is_success(self) -> bool {
        self == ExportState::Successful
    }

    fn is_failure(self) -> bool {
        self == ExportState::Failed
    }
}

/// What a job's answer says about where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus<S> {
    /// One of the kind's states.
    Known(S),
    /// A dedicated restore job someone cancelled: none of the five restore statuses, neither
    /// a success nor a failure.
    Cancelled,
    /// A value this version does not know, as Atlas spelled it.
    Unknown(String),
}

/// One job, as the metrics read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job<S> {
    /// 24 hex digits.
    pub id: String,
    /// Where it stands.
    pub status: JobStatus<S>,
    /// When it finished: flex `restoreFinishedDate`, dedicated and export `finishedAt`.
    pub finished: Option<Timestamp>,
    /// `deliveryType` of a restore job (flex `RESTORE`/`DOWNLOAD`, dedicated
    /// `automated`/`download`/`pointInTime`); `None` for export jobs.
    pub delivery_type: Option<String>,
}

impl<S: JobState> Job<S> {
    /// The state, when it is one of the kind's five.
    pub fn state(&self) -> Option<S> {
        match self.status {
            JobStatus::Known(state) => Some(state),
            JobStatus::Cancelled | JobStatus::Unknown(_) => None,
        }
    }
}

/// A flex or dedicated restore job.
pub type RestoreJob = Job<RestoreStatus>;
/// A snapshot export job.
pub type ExportJob = Job<ExportState>;

/// The status of a dedicated restore job, which Atlas does not send, from its flags:
///
/// 1. `failed: true` is `FAILED`, whatever else it says;
/// 2. `cancelled: true` is [`JobStatus::Cancelled`]: someone stopped it, so it proves nothing
///    either way and is counted apart from the five;
/// 3. a `finishedAt` is `COMPLETED`, `expired` or not: the spec's `expiresAt` ("when the
///    restore job expires") is, in the recorded download job, an hour after the snapshot it
///    delivers, so `expired` on a finished job says its download link lapsed, not that the
///    restore did not happen;
/// 4. `expired: true` with no `finishedAt` is `FAILED`: the job lapsed before it finished;
/// 5. otherwise `RUNNING` (the recorded job being restored had every flag `false` and no
///    `finishedAt`); Atlas' answer cannot tell `PENDING` or `QUEUED` from it.
pub fn dedicated_status(
    failed: bool,
    cancelled: bool,
    expired: bool,
    finished: Option<Timestamp>,
) -> JobStatus<RestoreStatus> {
    if failed {
        JobStatus::Known(RestoreStatus::Failed)
    } else if cancelled {
        JobStatus::Cancelled
    } else if finished.is_some() {
        JobStatus::Known(RestoreStatus::Completed)
    } else if expired {
        JobStatus::Known(RestoreStatus::Failed)
    } else {
        JobStatus::Known(RestoreStatus::Running)
    }
}

fn known_or_unknown<S>(text: Option<String>, parse: impl Fn(&str) -> Option<S>) -> JobStatus<S> {
    match text {
        Some(text) => match parse(&text) {
            Some(state) => JobStatus::Known(state),
            None => JobStatus::Unknown(text),
        },
        None => JobStatus::Unknown(String::new()),
    }
}

/// A flex restore job as the page loop reads it.
#[doc(hidden)]
#[derive(Debug)]
pub struct FlexRestoreItem(RestoreJob);

/// A `FlexBackupRestoreJob20241113`, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawFlexRestoreJob {
    #[serde(default)]
    id: Loose,
    #[serde(default)]
    status: Loose,
    #[serde(default)]
    restore_finished_date: Loose,
    #[serde(default)]
    delivery_type: Loose,
}

impl ListItem for FlexRestoreItem {
    type Raw<'de> = RawFlexRestoreJob;

    fn from_raw(raw: RawFlexRestoreJob) -> Result<Self, SkipReason> {
        Ok(FlexRestoreItem(Job {
            id: raw.id.id()?,
            finished: raw.restore_finished_date.time()?,
            status: known_or_unknown(raw.status.string()?, RestoreStatus::from_flex),
            delivery_type: raw.delivery_type.string()?,
        }))
    }

    fn id(&self) -> &str {
        &self.0.id
    }
}

/// A dedicated restore job as the page loop reads it.
#[doc(hidden)]
#[derive(Debug)]
pub struct DedicatedRestoreItem(RestoreJob);

/// A `DiskBackupSnapshotRestoreJob`, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawDedicatedRestoreJob {
    #[serde(default)]
    id: Loose,
    #[serde(default)]
    failed: Loose,
    #[serde(default)]
    cancelled: Loose,
    #[serde(default)]
    expired: Loose,
    #[serde(default)]
    finished_at: Loose,
    #[serde(default)]
    delivery_type: Loose,
}

impl ListItem for DedicatedRestoreItem {
    type Raw<'de> = RawDedicatedRestoreJob;

    fn from_raw(raw: RawDedicatedRestoreJob) -> Result<Self, SkipReason> {
        let id = raw.id.id()?;
        let finished = raw.finished_at.time()?;
        let status = dedicated_status(
            raw.failed.boolean()?.unwrap_or(false),
            raw.cancelled.boolean()?.unwrap_or(false),
            raw.expired.boolean()?.unwrap_or(false),
            finished,
        );
        Ok(DedicatedRestoreItem(Job {
            id,
            status,
            finished,
            delivery_type: raw.delivery_type.string()?,
        }))
    }

    fn id(&self) -> &str {
        &self.0.id
    }
}

/// An export job as the page loop reads it.
#[doc(hidden)]
#[derive(Debug)]
pub struct ExportItem(ExportJob);

/// A `DiskBackupExportJob`, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawExportJob {
    #[serde(default)]
    id: Loose,
    #[serde(default)]
    state: Loose,
    #[serde(default)]
    finished_at: Loose,
}

impl ListItem for ExportItem {
    type Raw<'de> = RawExportJob;

    fn from_raw(raw: RawExportJob) -> Result<Self, SkipReason> {
        Ok(ExportItem(Job {
            id: raw.id.id()?,
            finished: raw.finished_at.time()?,
            status: known_or_unknown(raw.state.string()?, ExportState::from_wire),
            delivery_type: None,
        }))
    }

    fn id(&self) -> &str {
        &self.0.id
    }
}

/// Which of the three job listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobListing {
    FlexRestores,
    DedicatedRestores,
    Exports,
}

impl JobListing {
    fn operation(self) -> Operation {
        match self {
            JobListing::FlexRestores => Operation::FlexRestoreJobsList,
            JobListing::DedicatedRestores => Operation::DedicatedRestoreJobsList,
            JobListing::Exports => Operation::ExportJobsList,
        }
    }

    fn accept(self) -> &'static str {
        match self {
            JobListing::FlexRestores => MEDIA_TYPE_2024_11_13,
            JobListing::DedicatedRestores | JobListing::Exports => MEDIA_TYPE_2023_01_01,
        }
    }

    fn segments<'a>(self, project_id: &'a str, cluster: &'a str) -> [&'a str; 6] {
        match self {
            JobListing::FlexRestores => [
                "groups",
                project_id,
                "flexClusters",
                cluster,
                "backup",
                "restoreJobs",
            ],
            JobListing::DedicatedRestores => [
                "groups",
                project_id,
                "clusters",
                cluster,
                "backup",
                "restoreJobs",
            ],
            JobListing::Exports => [
                "groups", project_id, "clusters", cluster, "backup", "exports",
            ],
        }
    }

    fn items(self) -> &'static str {
        match self {
            JobListing::FlexRestores | JobListing::DedicatedRestores => "restore jobs",
            JobListing::Exports => "export jobs",
        }
    }
}

impl AtlasClient {
    /// `GET /api/atlas/v2/groups/{id}/flexClusters/{name}/backup/restoreJobs`, all pages,
    /// 2024-11-13, handing each page's jobs to `sink` as it arrives. Project Read Only.
    pub async fn list_flex_restore_jobs(
        &self,
        project_id: &str,
        cluster: &str,
        pace: &Pace,
        sink: &mut (dyn FnMut(Vec<RestoreJob>) + Send),
    ) -> Result<(), AtlasError> {
        let request = self.job_listing(JobListing::FlexRestores, project_id, cluster)?;
        self.list_pages::<FlexRestoreItem>(&request, pace, &mut |page| {
            sink(page.into_iter().map(|item| item.0).collect())
        })
        .await
    }

    /// `GET /api/atlas/v2/groups/{id}/clusters/{name}/backup/restoreJobs`, all pages,
    /// 2023-01-01, each job's status derived by [`dedicated_status`]. Needs Project Backup
    /// Manager: a key without it gets a 403 ([`super::Reason::Forbidden`]).
    pub async fn list_dedicated_restore_jobs(
        &self,
        project_id: &str,
        cluster: &str,
        pace: &Pace,
        sink: &mut (dyn FnMut(Vec<RestoreJob>) + Send),
    ) -> Result<(), AtlasError> {
        let request = self.job_listing(JobListing::DedicatedRestores, project_id, cluster)?;
        self.list_pages::<DedicatedRestoreItem>(&request, pace, &mut |page| {
            sink(page.into_iter().map(|item| item.0).collect())
        })
        .await
    }

    /// `GET /api/atlas/v2/groups/{id}/clusters/{name}/backup/exports`, all pages, 2023-01-01.
    /// Needs Project Backup Manager: a key without it gets a 403
    /// ([`super::Reason::Forbidden`]).
    pub async fn list_export_jobs(
        &self,
        project_id: &str,
        cluster: &str,
        pace: &Pace,
        sink: &mut (dyn FnMut(Vec<ExportJob>) + Send),
    ) -> Result<(), AtlasError> {
        let request = self.job_listing(JobListing::Exports, project_id, cluster)?;
        self.list_pages::<ExportItem>(&request, pace, &mut |page| {
            sink(page.into_iter().map(|item| item.0).collect())
        })
        .await
    }

    fn job_listing<'a>(
        &self,
        listing: JobListing,
        project_id: &'a str,
        cluster: &str,
    ) -> Result<ListingRequest<'a>, AtlasError> {
        Ok(ListingRequest {
            operation: listing.operation(),
            bucket: project_id,
            url: self.api_url(ApiVersion::V2, &listing.segments(project_id, cluster))?,
            accept: listing.accept(),
            paged: true,
            items: listing.items(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::atlas::wire::decode_page;

    fn ts(s: &str) -> Option<Timestamp> {
        Some(s.parse().unwrap())
    }

    const FLEX_PAGE: &str = include_str!("../../tests/testdata/atlas/flex_restore_jobs_page.json");
    const DEDICATED_PAGE: &str =
        include_str!("../../tests/testdata/atlas/dedicated_restore_jobs_page.json");
    const DEDICATED_RUNNING: &str =
        include_str!("../../tests/testdata/atlas/dedicated_restore_job_running.json");
    const DEDICATED_DOWNLOAD: &str =
        include_str!("../../tests/testdata/atlas/dedicated_restore_job_download.json");
    const EXPORT_PAGE: &str = include_str!("../../tests/testdata/atlas/export_jobs_page.json");
    const EXPORT_QUEUED: &str = include_str!("../../tests/testdata/atlas/export_job_queued.json");

    fn one_item_page(item: &str) -> String {
        format!("{{\"results\":[{}],\"totalCount\":1}}", item.trim())
    }

    #[test]
    fn the_recorded_flex_restore_jobs_page_decodes_newest_first_with_a_next_link() {
        let page = decode_page::<FlexRestoreItem>(FLEX_PAGE.as_bytes(), 1000).unwrap();
        assert!(page.has_next);
        assert_eq!(page.next_page_num, Some(2));
        assert_eq!(page.total_count, Some(2160));
        let jobs: Vec<RestoreJob> = page.results.into_iter().map(|j| j.0).collect();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].id, "6a793f812c88faeba59bc399");
        assert_eq!(jobs[0].status, JobStatus::Known(RestoreStatus::Completed));
        assert_eq!(jobs[0].finished, ts("2026-08-10T03:04:32Z"));
        assert_eq!(jobs[0].delivery_type.as_deref(), Some("RESTORE"));
        assert!(jobs[0].finished > jobs[1].finished);
    }

    #[test]
    fn the_recorded_dedicated_restore_jobs_decode_to_a_derived_status() {
        let page = decode_page::<DedicatedRestoreItem>(DEDICATED_PAGE.as_bytes(), 1000).unwrap();
        assert!(!page.has_next);
        let job = &page.results[0].0;
        assert_eq!(job.id, "6a794733c0eb9e7a17740663");
        assert_eq!(job.status, JobStatus::Known(RestoreStatus::Completed));
        assert_eq!(job.finished, ts("2026-08-10T03:40:10Z"));
        assert_eq!(job.delivery_type.as_deref(), Some("automated"));

        let running = one_item_page(DEDICATED_RUNNING);
        let page = decode_page::<DedicatedRestoreItem>(running.as_bytes(), 1000).unwrap();
        assert_eq!(
            page.results[0].0.status,
            JobStatus::Known(RestoreStatus::Running)
        );
        // A download job with a link and no finishedAt yet: still running.
        let download = one_item_page(DEDICATED_DOWNLOAD);
        let page = decode_page::<DedicatedRestoreItem>(download.as_bytes(), 1000).unwrap();
        let job = &page.results[0].0;
        assert_eq!(job.status, JobStatus::Known(RestoreStatus::Running));
        assert_eq!(job.delivery_type.as_deref(), Some("download"));
    }

    #[test]
    fn the_recorded_export_jobs_decode_with_their_state() {
        let page = decode_page::<ExportItem>(EXPORT_PAGE.as_bytes(), 1000).unwrap();
        let job = &page.results[0].0;
        assert_eq!(job.id, "6a7945592c88faeba59d5e8e");
        assert_eq!(job.status, JobStatus::Known(ExportState::Successful));
        assert_eq!(job.finished, ts("2026-08-10T03:43:05Z"));
        let queued = one_item_page(EXPORT_QUEUED);
        let page = decode_page::<ExportItem>(queued.as_bytes(), 1000).unwrap();
        assert_eq!(
            page.results[0].0.status,
            JobStatus::Known(ExportState::Queued)
        );
        assert_eq!(page.results[0].0.finished, None);
    }

    #[test]
    fn dedicated_flags_map_onto_one_status() {
        let done = ts("2026-08-10T03:40:10Z");
        use JobStatus::{Cancelled, Known};
        use RestoreStatus::{Completed, Failed, Running};
        assert_eq!(
            dedicated_status(false, false, false, done),
            Known(Completed)
        );
        assert_eq!(dedicated_status(false, false, false, None), Known(Running));
        assert_eq!(dedicated_status(true, false, false, done), Known(Failed));
        assert_eq!(dedicated_status(true, true, true, None), Known(Failed));
        assert_eq!(dedicated_status(false, true, false, None), Cancelled);
        assert_eq!(dedicated_status(false, true, false, done), Cancelled);
        assert_eq!(dedicated_status(false, false, true, done), Known(Completed));
        assert_eq!(dedicated_status(false, false, true, None), Known(Failed));
    }

    #[test]
    fn statuses_are_read_in_their_exact_spelling_only() {
        assert_eq!(
            RestoreStatus::from_flex("COMPLETED"),
            Some(RestoreStatus::Completed)
        );
        assert_eq!(RestoreStatus::from_flex("completed"), None);
        assert_eq!(
            ExportState::from_wire("InProgress"),
            Some(ExportState::InProgress)
        );
        assert_eq!(ExportState::from_wire("IN_PROGRESS"), None);
        let labels: Vec<&str> = ExportState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            labels,
            ["Queued", "InProgress", "Successful", "Failed", "Cancelled"]
        );
    }

    #[test]
    fn a_bad_item_is_left_out_and_an_unknown_status_kept() {
        let body = br#"{"results":[
            {"id":"a","status":"COMPLETED","restoreFinishedDate":"2026-08-10T03:04:32Z"},
            {"id":"b","status":"CLOSED"},
            {"id":"c","restoreFinishedDate":"yesterday"},
            {"status":"FAILED"},
            {"id":"e","status":7}
        ],"totalCount":5}"#;
        let page = decode_page::<FlexRestoreItem>(body, 100).unwrap();
        let jobs: Vec<RestoreJob> = page.results.into_iter().map(|j| j.0).collect();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].status, JobStatus::Known(RestoreStatus::Completed));
        assert_eq!(jobs[1].status, JobStatus::Unknown("CLOSED".into()));
        assert_eq!(page.skipped[SkipReason::BadDate.index()], 1);
        assert_eq!(page.skipped[SkipReason::MissingId.index()], 1);
        assert_eq!(page.skipped[SkipReason::BadItem.index()], 1);
    }
}
