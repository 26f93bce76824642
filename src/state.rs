//! What the poller publishes and the collector, landing page and readiness probe read.
//!
//! An [`ExporterState`] has one cell per target, in config order, and the cycle-level facts
//! (the last cycle, readiness). The list of cells changes only with the config: a target's
//! poll publishes its result by swapping its own cell, so publishing one target costs the same
//! whatever the number of clusters, and a reader sees each target's latest result as soon as
//! its poll ends. Readers never lock: [`ExporterState::targets`] loads each cell atomically.
//! A cell holds the very `Arc` the poller keeps for the target and builds the next state from
//! (clone-on-write): each target's state exists once at rest, a second time only while a
//! reader still holds the one a poll replaced.
//! The cycle-level facts change by swapping in a new [`ExporterState`] that shares the cells.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;

use crate::atlas::alerts::BackupAlerts;
use crate::atlas::jobs::{ExportState, JobState, RestoreStatus};
use crate::atlas::{AtlasError, BackupApi, Reason};
use crate::facts::{BackupPolicy, ClusterFacts};
use crate::job_summary::JobsSummary;
use crate::shard::Shard;
use crate::summary::ClusterSummary;
use crate::target::{Kind, Target};

/// The state shared between the poller, which swaps a new one in, and the readers (the
/// collector, the landing page, the readiness probe).
pub type SharedState = Arc<ArcSwap<ExporterState>>;

/// Everything the exporter knows: each target's latest result, the last cycle, readiness.
#[derive(Debug, Clone)]
pub struct ExporterState {
    /// One cell per configured target, in config order; shared by the states that differ
    /// only in their cycle-level facts.
    targets: Arc<[ArcSwap<TargetState>]>,
    /// The targets in exposition order, in chunks whose changes are counted; shared like the
    /// cells it describes.
    order: Arc<Order>,
    /// The last full poll cycle; `None` until the first one ends.
    pub last_cycle: Option<CycleReport>,
    /// Every target has been polled once or the first poll deadline has passed.
    pub ready: bool,
    /// How discovery went; `None` while it is off.
    pub discovery: Option<DiscoveryReport>,
    /// Which shard of how many the targets are, for `atlas_snapshot_exporter_shard_info`.
    pub shard: Shard,
    /// Which state this is: each one built gets a new number (a clone keeps it), so a reader
    /// can tell a state swapped in (a cycle's end) from the one it read before.
    generation: u64,
}

/// The next [`ExporterState::generation`].
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

/// The outcome of discovery, for `atlas_snapshot_exporter_discovery_*`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscoveryReport {
    /// The last refresh read every listing it needed.
    pub up: bool,
    /// When a refresh last did; `None` before the first that did.
    pub last_success: Option<Timestamp>,
}

impl Default for ExporterState {
    fn default() -> Self {
        ExporterState::new(Vec::new())
    }
}

impl ExporterState {
    /// A state of these targets, not ready, with no cycle yet.
    pub fn new(targets: Vec<TargetState>) -> ExporterState {
        ExporterState::of_shared(targets.into_iter().map(Arc::new).collect())
    }

    /// A state whose cells start with these states themselves, not copies: the poller keeps
    /// the same `Arc`s, so each target's state exists once.
    pub fn of_shared(targets: Vec<Arc<TargetState>>) -> ExporterState {
        let order = Arc::new(Order::new(&targets));
        ExporterState {
            targets: targets.into_iter().map(ArcSwap::new).collect(),
            order,
            last_cycle: None,
            ready: false,
            discovery: None,
            shard: Shard::SINGLE,
            generation: next_generation(),
        }
    }

    /// The readiness condition: every target has been polled once, or the first poll
    /// deadline has passed.
    pub fn ready(&self) -> bool {
        self.ready || self.last_cycle.is_some()
    }

    /// Which state this is: another number for every state built, the same for its clones.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Every target's latest state, in config order, each loaded without a lock.
    pub fn targets(&self) -> impl ExactSizeIterator<Item = Arc<TargetState>> + '_ {
        self.targets.iter().map(ArcSwap::load_full)
    }

    /// The same cells with other cycle-level facts: costs the same whatever the targets.
    pub fn with_cycle(&self, last_cycle: Option<CycleReport>, ready: bool) -> ExporterState {
        ExporterState {
            targets: Arc::clone(&self.targets),
            order: Arc::clone(&self.order),
            last_cycle,
            ready,
            discovery: self.discovery,
            shard: self.shard,
            generation: next_generation(),
        }
    }

    /// The same cells and cycle facts with another discovery outcome.
    pub fn with_discovery(&self, discovery: Option<DiscoveryReport>) -> ExporterState {
        ExporterState {
            discovery,
            generation: next_generation(),
            ..self.clone()
        }
    }

    /// The same cells and cycle facts as another shard's.
    pub fn with_shard(&self, shard: Shard) -> ExporterState {
        ExporterState {
            shard,
            generation: next_generation(),
            ..self.clone()
        }
    }

    /// Publishes one target's new state in its own cell, then counts the change in its
    /// chunk; an index past the end does nothing. The cell takes the `Arc` itself: the caller
    /// may keep it to build the next state from (clone-on-write), with no copy at rest.
    pub fn publish_target(&self, index: usize, state: Arc<TargetState>) {
        if let Some(cell) = self.targets.get(index) {
            cell.store(state);
            self.order.changed(index);
        }
    }

    /// The targets in exposition order and their change counters.
    pub fn order(&self) -> &Arc<Order> {
        &self.order
    }

    /// One target's latest state, loaded without a lock; `None` past the end.
    pub fn target(&self, index: usize) -> Option<Arc<TargetState>> {
        self.targets.get(index).map(ArcSwap::load_full)
    }
}

/// How many targets a chunk holds at least: its projects whole, so a project never spans two.
const CHUNK_TARGETS: usize = 128;

/// The targets sorted by project id and cluster name (the order of every per-cluster series in
/// /metrics), cut into chunks of whole projects, each with a counter of the publications in it.
///
/// A reader that keeps something derived from a chunk (the scrape's compressed form) compares
/// the counter to know whether it is still current, so a target's publication makes only its
/// own chunk stale. The counter is bumped after the cell is stored: a reader that loads the
/// counter and then the cells sees at least the state the counter counts.
#[derive(Debug)]
pub struct Order {
    /// Target indices (into the cells) in exposition order.
    sorted: Box<[u32]>,
    /// Ranges of `sorted`, each of whole projects.
    chunks: Box<[Range<usize>]>,
    /// The chunk of each target, by cell index.
    chunk_of: Box<[u32]>,
    /// Publications per chunk.
    changes: Box<[AtomicU64]>,
}

impl Order {
    fn new(targets: &[Arc<TargetState>]) -> Order {
        let mut sorted: Vec<u32> = (0..targets.len() as u32).collect();
        let key = |i: &u32| {
            let t = &targets[*i as usize].target;
            (Arc::clone(&t.project_id), Arc::clone(&t.cluster_name))
        };
        sorted.sort_by_cached_key(key);
        let mut chunks = Vec::new();
        let mut start = 0;
        for (at, pair) in sorted.windows(2).enumerate() {
            let (a, b) = (&targets[pair[0] as usize], &targets[pair[1] as usize]);
            let project_ends = a.target.project_id != b.target.project_id;
            if project_ends && at + 1 - start >= CHUNK_TARGETS {
                chunks.push(start..at + 1);
                start = at + 1;
            }
        }
        if start < sorted.len() {
            chunks.push(start..sorted.len());
        }
        let mut chunk_of = vec![0; targets.len()];
        for (c, range) in chunks.iter().enumerate() {
            for &i in &sorted[range.clone()] {
                chunk_of[i as usize] = c as u32;
            }
        }
        Order {
            changes: chunks.iter().map(|_| AtomicU64::new(0)).collect(),
            sorted: sorted.into(),
            chunks: chunks.into(),
            chunk_of: chunk_of.into(),
        }
    }

    /// Target indices in exposition order.
    pub fn sorted(&self) -> &[u32] {
        &self.sorted
    }

    /// The chunks: ranges of [`Order::sorted`], each of whole projects.
    pub fn chunks(&self) -> &[Range<usize>] {
        &self.chunks
    }

    /// Publications in chunk `chunk` so far.
    pub fn changes(&self, chunk: usize) -> u64 {
        self.changes
            .get(chunk)
            .map_or(0, |c| c.load(Ordering::Acquire))
    }

    fn changed(&self, index: usize) {
        if let Some(&chunk) = self.chunk_of.get(index) {
            self.changes[chunk as usize].fetch_add(1, Ordering::Release);
        }
    }
}

/// When a cycle ended and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleReport {
    /// When the cycle ended.
    pub finished_at: Timestamp,
    /// How long it took.
    pub duration: Duration,
}
/// One target's state.
#[derive(Debug, Clone)]
pub struct TargetState {
    /// The target as configured.
    pub target: Target,
    /// The API that serves it, once known.
    pub resolved: Option<BackupApi>,
    /// The last good listing's figures; `None` before the first success and after a 404.
    pub backups: Option<Backups>,
    /// The outcome of the last poll; `None` before the first.
    pub last_poll: Option<PollOutcome>,
    /// When a poll last succeeded.
    pub last_success: Option<Timestamp>,
    /// Failed polls by [`Reason`] (indexed like [`Reason::ALL`]); `None` until the first
    /// failure, as most targets never fail: boxed, it costs 8 bytes inline instead of 80.
    errors_total: Option<Box<[u64; Reason::COUNT]>>,
    /// What the cluster resource says (type, paused, backups on); `None` until read.
    pub facts: Option<ClusterFacts>,
    /// The backup policy the cluster is judged against; `None` until read, and for kinds
    /// without one.
    pub policy: Option<Arc<BackupPolicy>>,
    /// Whether the last read of the backup schedule succeeded; `None` when none was tried.
    pub schedule_up: Option<bool>,
    /// The last good restore-job listing; `None` until one was read.
    pub restores: Option<Arc<Jobs<RestoreStatus>>>,
    /// The last good export-job listing; `None` until one was read.
    pub exports: Option<Arc<Jobs<ExportState>>>,
    /// The open backup alerts of the target's project, shared by the project's targets;
    /// `None` until the project's alerts were read.
    pub alerts: Option<Arc<BackupAlerts>>,
    /// Whether the last read of each optional source answered.
    pub sources_up: SourcesUp,
}

/// One cluster's restore or export jobs, as of its last good listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jobs<S> {
    /// The listing's summary.
    pub summary: JobsSummary<S>,
    /// Distinct failed job ids seen by this process.
    pub failures_total: u64,
}

impl<S: JobState> Jobs<S> {
    /// The jobs of a listing as the `Arc` a state holds: `held` itself when it says the same
    /// (a cluster whose jobs did not change keeps its copy), `none` when the listing is empty
    /// and nothing failed (most clusters: one copy for all of them), a new one otherwise.
    pub fn shared(self, held: Option<&Arc<Jobs<S>>>, none: &Arc<Jobs<S>>) -> Arc<Jobs<S>> {
        match held {
            Some(held) if **held == self => Arc::clone(held),
            _ if **none == self => Arc::clone(none),
            _ => Arc::new(self),
        }
    }

    /// No jobs listed, none failed.
    pub fn none() -> Jobs<S> {
        Jobs {
            summary: JobsSummary::default(),
            failures_total: 0,
        }
    }
}

/// Whether the last read of each optional source answered (`None`: none was tried, or the
/// source is off). A source disabled by a 403 stays `Some(false)` while it is disabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourcesUp {
    /// The cluster's restore jobs.
    pub restores: Option<bool>,
    /// The cluster's export jobs.
    pub exports: Option<bool>,
    /// The open alerts of the cluster's project (the same on every target of the project).
    pub alerts: Option<bool>,
}

impl TargetState {
    /// A target that has not been polled yet.
    pub fn new(target: Target) -> TargetState {
        TargetState {
            resolved: crate::atlas::BackupApi::from_kind(target.kind),
            target,
            backups: None,
            last_poll: None,
            last_success: None,
            errors_total: None,
            facts: None,
            policy: None,
            schedule_up: None,
            restores: None,
            exports: None,
            alerts: None,
            sources_up: SourcesUp::default(),
        }
    }

    /// The kind label: the resolved kind, or the configured one (`auto`) until resolved.
    pub fn kind(&self) -> Kind {
        self.resolved.map_or(self.target.kind, BackupApi::kind)
    }

    /// `Some(true)` when the last poll succeeded, `Some(false)` when it failed, `None` before
    /// the first poll.
    pub fn up(&self) -> Option<bool> {
        self.last_poll.as_ref().map(|p| p.error.is_none())
    }

    /// Failed polls with this reason.
    pub fn errors(&self, reason: Reason) -> u64 {
        self.errors_total
            .as_ref()
            .map_or(0, |errors| errors[reason.index()])
    }

    /// Counts one more failed poll with this reason.
    pub fn count_error(&mut self, reason: Reason) {
        self.errors_total
            .get_or_insert_with(|| Box::new([0; Reason::COUNT]))[reason.index()] += 1;
    }
}

/// The figures of a cluster's last good listing.
#[derive(Debug, Clone)]
pub struct Backups {
    /// The listing's summary.
    pub summary: Arc<ClusterSummary>,
    /// Distinct FAILED snapshot ids seen by this process.
    pub failures_total: u64,
}

/// How the last poll went.
#[derive(Debug, Clone)]
pub struct PollOutcome {
    /// When it ended.
    pub at: Timestamp,
    /// How long it took, all pages.
    pub duration: Duration,
    /// Why it failed; `None` when it succeeded. Boxed: its strings are 80 bytes inline, and
    /// most polls succeed.
    pub error: Option<Box<PollError>>,
}

/// A failed poll, as the landing page and logs show it.
#[derive(Debug, Clone, PartialEq)]
pub struct PollError {
    /// The bounded reason.
    pub reason: Reason,
    /// The HTTP status, when a response came back.
    pub status: Option<u16>,
    /// Atlas' `errorCode`.
    pub error_code: Option<String>,
    /// Atlas' `detail`.
    pub detail: Option<String>,
    /// The whole error as one sentence.
    pub message: String,
}

impl From<&AtlasError> for PollError {
    fn from(e: &AtlasError) -> Self {
        PollError {
            reason: e.reason(),
            status: e.status(),
            error_code: e.error_code().map(str::to_owned),
            detail: e.detail().map(str::to_owned),
            message: e.to_string(),
        }
    }
}

/// The outcome of the last config (re)load, written by the reloader.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReloadStatus {
    /// False when the last reload attempt failed (the running config stays in force).
    pub successful: bool,
    /// When a config was last loaded successfully (at start, or by a reload).
    pub last_success: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every target's state lives on the heap once, and a poll copies it to publish the next:
    /// at 10,000 clusters each 8 bytes here are 80 KB at rest and per cycle. It was 432 bytes
    /// before the rarely set parts (the last error, the error counters) were boxed; a field
    /// that makes it grow past this bound should be boxed or shared instead.
    #[test]
    fn jobs_that_say_the_same_share_one_copy() {
        let none = Arc::new(Jobs::<RestoreStatus>::none());
        let empty = Jobs::none().shared(None, &none);
        assert!(
            Arc::ptr_eq(&empty, &none),
            "an empty listing shares the one copy"
        );
        let failed = Jobs::<RestoreStatus> {
            summary: JobsSummary::default(),
            failures_total: 1,
        };
        let held = failed.clone().shared(None, &none);
        assert!(!Arc::ptr_eq(&held, &none));
        let again = failed.clone().shared(Some(&held), &none);
        assert!(Arc::ptr_eq(&again, &held), "unchanged jobs keep their copy");
        let changed = Jobs::<RestoreStatus> {
            failures_total: 2,
            ..failed
        };
        let new = changed.clone().shared(Some(&held), &none);
        assert_eq!(*new, changed);
        assert!(!Arc::ptr_eq(&new, &held));
    }

    #[test]
    fn a_target_state_stays_small_inline() {
        // 10,000 of them are held, twice while a cycle replaces them: a policy is shared.
        let size = std::mem::size_of::<TargetState>();
        assert!(size <= 200, "TargetState is {size} bytes");
    }
}
