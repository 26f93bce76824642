//! What the poller publishes and the collector, landing page and readiness probe read.
//!
//! An [`ExporterState`] is immutable: each poll cycle (and each config reload) builds a new one
//! and swaps it in whole ([`SharedState`]), so a scrape never sees half a cycle.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;

use crate::atlas::{AtlasError, BackupApi, Reason};
use crate::summary::ClusterSummary;
use crate::target::{Kind, Target};

/// The state shared between the poller, which swaps a new one in, and the readers (the
/// collector, the landing page, the readiness probe).
pub type SharedState = Arc<ArcSwap<ExporterState>>;

/// Everything the exporter knows, as of the last cycle or reload.
#[derive(Debug, Clone, Default)]
pub struct ExporterState {
    /// Every configured target, in config order.
    pub targets: Vec<Arc<TargetState>>,
    /// The last full poll cycle; `None` until the first one ends.
    pub last_cycle: Option<CycleReport>,
}

impl ExporterState {
    /// True once the first poll cycle has finished: the readiness condition.
    pub fn ready(&self) -> bool {
        self.last_cycle.is_some()
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
    /// Failed polls by [`Reason`] (indexed like [`Reason::ALL`]).
    pub errors_total: [u64; Reason::COUNT],
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
            errors_total: [0; Reason::COUNT],
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
        self.errors_total[reason.index()]
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
    /// Why it failed; `None` when it succeeded.
    pub error: Option<PollError>,
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
