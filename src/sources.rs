//! The optional sources read beside the snapshot polls: restore jobs and export jobs per
//! cluster, Atlas' open backup alerts per project. This module owns when each is due, which
//! role each needs, the per-project switch a missing role turns off, and the reads themselves;
//! the poller ([`crate::poller`]) runs them inside its cycles and publishes what they bring.
//!
//! Schedule (each on the poller's monotonic clock, counted from the start of the cycle that
//! read the source last, so a cycle that runs on time is never a moment early or late):
//! - restore jobs and export jobs: every [`JOBS_REFRESH`] (one hour) per cluster, read in the
//!   first cycle after that hour has passed, once the cluster's snapshot poll of that cycle has
//!   succeeded (its kind is then known);
//! - open alerts: per project, every `poll_interval` capped at [`ALERTS_REFRESH_CAP`] (15 min):
//!   every cycle, and with a poll interval above 15 min also every 15 min between cycles (the
//!   poller's run loop ticks for them).
//!
//! A read that answers 403 (`Reason::Forbidden`), or 401 while the project's snapshot reads
//! answer (real Atlas may answer a missing role with 401 `USER_UNAUTHORIZED`), says the key
//! lacks the role: the source is switched off for that project until the next config reload or
//! for [`DISABLED_FOR`] (24 h), with one warn log line. Any other failure leaves the source on:
//! it is retried when next due, and the last good figures stay.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::atlas::alerts::BackupAlerts;
use crate::atlas::jobs::{ExportState, RestoreStatus};
use crate::atlas::{AtlasClient, AtlasError, Pace, Reason};
use crate::job_summary::{JobsFold, JobsSummary};

/// How often a cluster's restore jobs and export jobs are read: hourly, a fixed interval.
pub const JOBS_REFRESH: Duration = Duration::from_secs(3600);

/// The longest interval between two reads of a project's open alerts.
pub const ALERTS_REFRESH_CAP: Duration = Duration::from_secs(15 * 60);

/// How long a source a missing role switched off stays off, unless a reload comes first.
pub const DISABLED_FOR: Duration = Duration::from_secs(24 * 3600);

/// One of the listings the optional sources read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceRead {
    /// A flex cluster's restore jobs (Project Read Only).
    FlexRestores,
    /// A dedicated cluster's restore jobs (Project Backup Manager).
    DedicatedRestores,
    /// A dedicated cluster's export jobs (Project Backup Manager).
    Exports,
    /// A project's open alerts (Project Read Only).
    Alerts,
}

impl SourceRead {
    const COUNT: usize = 4;

    fn index(self) -> usize {
        self as usize
    }

    /// The `source` label of `atlas_snapshot_exporter_source_up`.
    pub fn source(self) -> &'static str {
        match self {
            SourceRead::FlexRestores | SourceRead::DedicatedRestores => "restores",
            SourceRead::Exports => "exports",
            SourceRead::Alerts => "alerts",
        }
    }

    /// The Atlas role the listing needs (the spec's `x-rolesRequirements`).
    pub fn role(self) -> &'static str {
        match self {
            SourceRead::FlexRestores | SourceRead::Alerts => "Project Read Only",
            SourceRead::DedicatedRestores | SourceRead::Exports => "Project Backup Manager",
        }
    }

    /// The listing, as the log names it.
    pub fn listing(self) -> &'static str {
        match self {
            SourceRead::FlexRestores => "flexClusters/{name}/backup/restoreJobs",
            SourceRead::DedicatedRestores => "clusters/{name}/backup/restoreJobs",
            SourceRead::Exports => "clusters/{name}/backup/exports",
            SourceRead::Alerts => "alerts?status=OPEN",
        }
    }
}

/// The interval between two reads of a project's open alerts.
pub fn alerts_every(poll_interval: Duration) -> Duration {
    poll_interval.min(ALERTS_REFRESH_CAP)
}

/// Whether a source last read at `last` is due at `now` (a cycle's start), every `every`.
pub fn due(last: Option<Instant>, every: Duration, now: Instant) -> bool {
    last.is_none_or(|last| now.saturating_duration_since(last) >= every)
}

/// Whether a failed read says the key lacks the role the listing needs: a 403, or a 401 while
/// the same key's snapshot reads in that project answer (`snapshots_answer`), as a 401 then
/// cannot be bad credentials.
pub fn missing_role(error: &AtlasError, snapshots_answer: impl FnOnce() -> bool) -> bool {
    match error.reason() {
        Reason::Forbidden => true,
        Reason::Unauthorized => snapshots_answer(),
        _ => false,
    }
}

/// What the poller keeps per project for the optional sources.
#[derive(Debug, Default)]
pub struct ProjectSources {
    /// When (a cycle's start) the open alerts were last read.
    pub alerts_read: Option<Instant>,
    /// The last good open-alerts listing, shared by the project's targets.
    pub alerts: Option<Arc<BackupAlerts>>,
    /// Whether the last alerts read answered.
    pub alerts_up: Option<bool>,
    /// Until when each listing is switched off, by [`SourceRead`].
    disabled: [Option<Instant>; SourceRead::COUNT],
}

impl ProjectSources {
    /// Whether `read` may be sent at `now`.
    pub fn enabled(&self, read: SourceRead, now: Instant) -> bool {
        self.disabled[read.index()].is_none_or(|until| now >= until)
    }

    /// Switches `read` off for [`DISABLED_FOR`] from `now`; true when it was on (log then).
    pub fn disable(&mut self, read: SourceRead, now: Instant) -> bool {
        let was_on = self.enabled(read, now);
        if was_on {
            self.disabled[read.index()] = Some(now + DISABLED_FOR);
        }
        was_on
    }

    /// Switches every listing back on: a config was reloaded.
    pub fn enable_all(&mut self) {
        self.disabled = [None; SourceRead::COUNT];
    }
}

/// What a read brought back.
#[derive(Debug)]
pub enum Outcome {
    /// A restore-job listing (flex or dedicated).
    Restores(Result<JobsSummary<RestoreStatus>, AtlasError>),
    /// An export-job listing.
    Exports(Result<JobsSummary<ExportState>, AtlasError>),
    /// A project's open backup alerts.
    Alerts(Result<BackupAlerts, AtlasError>),
}

impl Outcome {
    /// The error, when the read failed.
    pub fn error(&self) -> Option<&AtlasError> {
        match self {
            Outcome::Restores(r) => r.as_ref().err(),
            Outcome::Exports(r) => r.as_ref().err(),
            Outcome::Alerts(r) => r.as_ref().err(),
        }
    }
}

/// One read's result, addressed to what it was read for.
#[derive(Debug)]
pub struct SourceResult {
    /// The listing read.
    pub read: SourceRead,
    /// Its project.
    pub project: Arc<str>,
    /// The target (its record's index) for per-cluster listings; `None` for alerts.
    pub index: Option<usize>,
    /// What came back.
    pub outcome: Outcome,
}

/// One read to run: what, for which project and cluster.
#[derive(Debug, Clone)]
pub struct SourceTask {
    /// The listing.
    pub read: SourceRead,
    /// The project.
    pub project: Arc<str>,
    /// The cluster, with its record's index; `None` for alerts.
    pub cluster: Option<(usize, Arc<str>)>,
}

impl SourceTask {
    /// Runs the read within a slot of `limit` and `deadline`, as a snapshot poll is run: the
    /// requests take their tokens from the project's rate-limit bucket like any other.
    pub async fn run(
        self,
        client: Arc<AtlasClient>,
        limit: Arc<Semaphore>,
        deadline: Duration,
    ) -> SourceResult {
        let pace = Pace::with_slot(limit, deadline).await;
        let project = &*self.project;
        let cluster = self.cluster.as_ref().map_or("", |(_, c)| &**c);
        let timed_out = || AtlasError::PollDeadline(deadline);
        let outcome = match self.read {
            SourceRead::FlexRestores | SourceRead::DedicatedRestores => {
                let mut fold = JobsFold::new();
                let mut sink = |page| fold.add(page);
                let listing = async {
                    if self.read == SourceRead::FlexRestores {
                        client
                            .list_flex_restore_jobs(project, cluster, &pace, &mut sink)
                            .await
                    } else {
                        client
                            .list_dedicated_restore_jobs(project, cluster, &pace, &mut sink)
                            .await
                    }
                };
                let done = tokio::time::timeout(deadline, listing)
                    .await
                    .unwrap_or_else(|_| Err(timed_out()));
                Outcome::Restores(done.map(|()| fold.finish()))
            }
            SourceRead::Exports => {
                let mut fold = JobsFold::new();
                let mut sink = |page| fold.add(page);
                let listing = client.list_export_jobs(project, cluster, &pace, &mut sink);
                let done = tokio::time::timeout(deadline, listing)
                    .await
                    .unwrap_or_else(|_| Err(timed_out()));
                Outcome::Exports(done.map(|()| fold.finish()))
            }
            SourceRead::Alerts => {
                let listing = client.list_open_backup_alerts(project, &pace);
                let done = tokio::time::timeout(deadline, listing)
                    .await
                    .unwrap_or_else(|_| Err(timed_out()));
                Outcome::Alerts(done)
            }
        };
        SourceResult {
            read: self.read,
            index: self.cluster.map(|(i, _)| i),
            project: self.project,
            outcome,
        }
    }
}

/// Reads started and waiting for a slot at most: the slots bound the requests, this bounds the
/// memory of the tasks behind them (a first hourly round of 10,000 restore listings would
/// otherwise be 10,000 tasks at once).
const RUNNING_READS: usize = 64;

/// The optional-source reads of a phase: queued as they come due, started as others end.
pub struct SourceQueue {
    client: Arc<AtlasClient>,
    limit: Arc<Semaphore>,
    deadline: Duration,
    waiting: VecDeque<SourceTask>,
    running: JoinSet<SourceResult>,
}

impl SourceQueue {
    /// An empty queue whose reads run with `client` within `limit` and `deadline`.
    pub fn new(client: Arc<AtlasClient>, limit: Arc<Semaphore>, deadline: Duration) -> Self {
        SourceQueue {
            client,
            limit,
            deadline,
            waiting: VecDeque::new(),
            running: JoinSet::new(),
        }
    }

    /// Queues a read, started at once when fewer than [`RUNNING_READS`] run.
    pub fn push(&mut self, task: SourceTask) {
        self.waiting.push_back(task);
        self.top_up();
    }

    fn top_up(&mut self) {
        while self.running.len() < RUNNING_READS {
            let Some(task) = self.waiting.pop_front() else {
                return;
            };
            self.running.spawn(task.run(
                Arc::clone(&self.client),
                Arc::clone(&self.limit),
                self.deadline,
            ));
        }
    }

    /// True when no read waits or runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty() && self.waiting.is_empty()
    }

    /// The next read to end, starting a waiting one in its place; `None` when empty. A
    /// panicked read gives `Some(None)`: it is retried when next due.
    pub async fn next(&mut self) -> Option<Option<SourceResult>> {
        let joined = self.running.join_next().await?;
        self.top_up();
        Some(joined.ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_due_once_its_interval_has_passed_since_the_cycle_that_read_it() {
        let start = Instant::now();
        assert!(due(None, JOBS_REFRESH, start));
        let read = Some(start);
        assert!(!due(read, JOBS_REFRESH, start + Duration::from_secs(3599)));
        assert!(due(read, JOBS_REFRESH, start + JOBS_REFRESH));
        assert_eq!(
            alerts_every(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(alerts_every(Duration::from_secs(3600)), ALERTS_REFRESH_CAP);
    }

    fn status(status: u16) -> AtlasError {
        AtlasError::Status {
            status,
            body: None,
            retry_after: None,
        }
    }

    #[test]
    fn a_403_says_the_role_is_missing_and_a_401_only_while_snapshots_answer() {
        assert!(missing_role(&status(403), || false));
        assert!(missing_role(&status(401), || true));
        assert!(!missing_role(&status(401), || false), "bad credentials");
        assert!(!missing_role(&status(500), || true));
        assert!(!missing_role(&AtlasError::Network("reset".into()), || true));
    }

    #[test]
    fn a_missing_role_switches_a_listing_off_for_a_day_or_until_a_reload() {
        let now = Instant::now();
        let mut p = ProjectSources::default();
        assert!(p.disable(SourceRead::Exports, now));
        assert!(!p.disable(SourceRead::Exports, now + Duration::from_secs(60)));
        assert!(!p.enabled(
            SourceRead::Exports,
            now + DISABLED_FOR - Duration::from_secs(1)
        ));
        assert!(p.enabled(SourceRead::DedicatedRestores, now));
        assert!(p.enabled(SourceRead::Exports, now + DISABLED_FOR));
        p.disable(SourceRead::Alerts, now);
        p.enable_all();
        assert!(p.enabled(SourceRead::Alerts, now));
    }
}
