//! What one restore-job or export-job listing says about a cluster: the figures the metrics
//! report, and the distinct failed job ids counted across polls.
//!
//! A [`JobsSummary`] is computed once per successful listing and never changes. [`JobsFold`]
//! computes it page by page as the listing arrives (the client hands it each page), keeping
//! only the counts, the newest success, the failed ids and the ids seen (a job that moves to
//! the next page while the listing is read is counted once). The [`FailedJobLedger`] is the
//! state that spans polls: the distinct failed job ids this process has seen, for the
//! `…_failures_total` counters, as [`crate::summary::FailureLedger`] does for snapshots.

use std::collections::HashSet;

use jiff::Timestamp;

use crate::atlas::jobs::{ExportState, JOB_STATES, Job, JobState, JobStatus, RestoreStatus};

/// One cluster's restore jobs or export jobs, as of one listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsSummary<S> {
    /// Jobs listed, by [`JobState::index`].
    pub by_status: [u64; JOB_STATES],
    /// Jobs listed with a status this version does not know.
    pub unknown_status: u64,
    /// Dedicated restore jobs someone cancelled (no status of the five; always 0 for exports,
    /// whose `Cancelled` is one of theirs).
    pub cancelled: u64,
    /// Finish time of the newest successful job (`COMPLETED`, `Successful`) that has one.
    pub last_success: Option<Timestamp>,
    /// Ids of the failed jobs still listed, in listing order.
    pub failed_ids: Vec<String>,
    /// Jobs listed, each counted once.
    pub listed: u64,
    states: std::marker::PhantomData<S>,
}

/// A cluster's restore jobs.
pub type RestoreJobsSummary = JobsSummary<RestoreStatus>;
/// A cluster's export jobs.
pub type ExportJobsSummary = JobsSummary<ExportState>;

impl<S: JobState> Default for JobsSummary<S> {
    fn default() -> Self {
        JobsSummary {
            by_status: [0; JOB_STATES],
            unknown_status: 0,
            cancelled: 0,
            last_success: None,
            failed_ids: Vec::new(),
            listed: 0,
            states: std::marker::PhantomData,
        }
    }
}

impl<S: JobState> JobsSummary<S> {
    /// Jobs listed in `state`.
    pub fn count(&self, state: S) -> u64 {
        self.by_status[state.index()]
    }

    /// Every state with its count, in label order (zeros included).
    pub fn counts(&self) -> impl Iterator<Item = (S, u64)> + '_ {
        S::ALL.into_iter().map(|state| (state, self.count(state)))
    }

    /// The summary of a whole listing at once.
    pub fn of(jobs: impl IntoIterator<Item = Job<S>>) -> JobsSummary<S> {
        let mut fold = JobsFold::new();
        fold.add(jobs);
        fold.finish()
    }
}

/// A [`JobsSummary`] computed page by page.
#[derive(Debug)]
pub struct JobsFold<S> {
    summary: JobsSummary<S>,
    seen: HashSet<String>,
}

impl<S: JobState> Default for JobsFold<S> {
    fn default() -> Self {
        JobsFold {
            summary: JobsSummary::default(),
            seen: HashSet::new(),
        }
    }
}

impl<S: JobState> JobsFold<S> {
    /// A fold that has seen nothing.
    pub fn new() -> JobsFold<S> {
        JobsFold::default()
    }

    /// Takes one page of jobs; a job id already seen is not counted again.
    pub fn add(&mut self, jobs: impl IntoIterator<Item = Job<S>>) {
        for job in jobs {
            if !self.seen.insert(job.id.clone()) {
                continue;
            }
            let summary = &mut self.summary;
            summary.listed += 1;
            match job.status {
                JobStatus::Known(state) => {
                    summary.by_status[state.index()] += 1;
                    if state.is_success() {
                        summary.last_success = summary.last_success.max(job.finished);
                    }
                    if state.is_failure() {
                        summary.failed_ids.push(job.id);
                    }
                }
                JobStatus::Cancelled => summary.cancelled += 1,
                JobStatus::Unknown(_) => summary.unknown_status += 1,
            }
        }
    }

    /// The summary of everything added.
    pub fn finish(self) -> JobsSummary<S> {
        self.summary
    }
}

/// The distinct failed job ids of one cluster's listings seen by this process.
///
/// Job ids are never reused, and Atlas lists a job until it drops it for good, so an id that
/// is no longer listed is forgotten (the count stays): the ledger holds at most one
/// listing's failed ids.
///
/// Most clusters never list a failed job: until one does, the ledger is one null pointer
/// (8 bytes inline, where an empty set and its count were 56, per cluster and per source).
#[derive(Debug, Clone, Default)]
pub struct FailedJobLedger {
    failed: Option<Box<FailedSeen>>,
}

/// The ids a [`FailedJobLedger`] remembers and its count, once a failed job was listed.
#[derive(Debug, Clone, Default)]
struct FailedSeen {
    ids: HashSet<String>,
    total: u64,
}

impl FailedJobLedger {
    /// Counts the failed ids of a listing not seen before; returns the new total.
    pub fn record<S: JobState>(&mut self, summary: &JobsSummary<S>) -> u64 {
        if summary.failed_ids.is_empty() && self.failed.is_none() {
            return 0;
        }
        let seen = self.failed.get_or_insert_with(Box::default);
        let listed: HashSet<&str> = summary.failed_ids.iter().map(String::as_str).collect();
        for id in &listed {
            if !seen.ids.contains(*id) {
                seen.ids.insert((*id).to_owned());
                seen.total += 1;
            }
        }
        seen.ids.retain(|id| listed.contains(id.as_str()));
        seen.total
    }

    /// Distinct failed ids counted so far.
    pub fn total(&self) -> u64 {
        self.failed.as_ref().map_or(0, |seen| seen.total)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn job<S>(id: &str, status: JobStatus<S>, finished: Option<&str>) -> Job<S> {
        Job {
            id: id.into(),
            status,
            finished: finished.map(|f| f.parse().unwrap()),
            delivery_type: None,
        }
    }

    #[test]
    fn counts_by_status_newest_success_and_failed_ids() {
        use JobStatus::{Cancelled, Known, Unknown};
        use RestoreStatus::{Completed, Failed, Running};
        let summary = RestoreJobsSummary::of([
            job("a", Known(Running), None),
            job("b", Known(Completed), Some("2026-08-09T10:00:00Z")),
            job("c", Known(Failed), None),
            job("d", Known(Completed), Some("2026-08-10T10:00:00Z")),
            job("e", Known(Completed), None),
            job("f", Cancelled, None),
            job("g", Unknown("CLOSED".into()), Some("2026-08-11T10:00:00Z")),
        ]);
        assert_eq!(summary.count(Completed), 3);
        assert_eq!(summary.count(Running), 1);
        assert_eq!(summary.count(Failed), 1);
        assert_eq!(summary.count(RestoreStatus::Pending), 0);
        assert_eq!(summary.cancelled, 1);
        assert_eq!(summary.unknown_status, 1);
        assert_eq!(summary.listed, 7);
        assert_eq!(
            summary.last_success,
            Some("2026-08-10T10:00:00Z".parse().unwrap())
        );
        assert_eq!(summary.failed_ids, ["c"]);
        let labels: Vec<(&str, u64)> = summary.counts().map(|(s, n)| (s.as_str(), n)).collect();
        assert_eq!(
            labels,
            [
                ("PENDING", 0),
                ("QUEUED", 0),
                ("RUNNING", 1),
                ("FAILED", 1),
                ("COMPLETED", 3)
            ]
        );
    }

    #[test]
    fn a_job_seen_on_two_pages_is_counted_once() {
        let mut fold = JobsFold::new();
        fold.add([job("a", JobStatus::Known(ExportState::Failed), None)]);
        fold.add([
            job("a", JobStatus::Known(ExportState::Failed), None),
            job("b", JobStatus::Known(ExportState::Queued), None),
        ]);
        let summary = fold.finish();
        assert_eq!(summary.listed, 2);
        assert_eq!(summary.count(ExportState::Failed), 1);
        assert_eq!(summary.failed_ids, ["a"]);
        assert_eq!(summary.last_success, None);
    }

    #[test]
    fn a_ledger_that_never_saw_a_failure_holds_nothing() {
        let mut ledger = FailedJobLedger::default();
        assert_eq!(ledger.record(&RestoreJobsSummary::default()), 0);
        assert!(ledger.failed.is_none());
        assert_eq!(std::mem::size_of::<FailedJobLedger>(), 8);
    }

    #[test]
    fn the_ledger_counts_each_failed_id_once_across_polls() {
        let failed = |ids: &[&str]| {
            ExportJobsSummary::of(
                ids.iter()
                    .map(|id| job(id, JobStatus::Known(ExportState::Failed), None)),
            )
        };
        let mut ledger = FailedJobLedger::default();
        assert_eq!(ledger.record(&failed(&["a", "b"])), 2);
        assert_eq!(ledger.record(&failed(&["a", "b"])), 2);
        assert_eq!(ledger.record(&failed(&["b", "c"])), 3);
        // "a" dropped out of the listing: forgotten, still counted.
        assert_eq!(ledger.record(&failed(&[])), 3);
        assert_eq!(ledger.total(), 3);
    }
}
