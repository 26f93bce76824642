//! The poll loop: a cycle at start, then one every `poll_interval`, never two at once.
//!
//! A cycle polls every target, up to `max_concurrency` at a time, summarizes each listing, and
//! publishes a fresh [`ExporterState`] in one swap. A failed poll touches only its own target:
//! it keeps that target's last good figures (a 404 drops them) and sets it down.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::atlas::{AtlasClient, AtlasError, BackupApi, RequestObserver};
use crate::clock::Clock;
use crate::config::{AtlasConfig, Config};
use crate::snapshot::normalize;
use crate::state::{
    Backups, CycleReport, ExporterState, PollError, PollOutcome, SharedState, TargetState,
};
use crate::summary::{ClusterSummary, FailureLedger};
use crate::target::{Target, TargetKey};

struct Record {
    state: TargetState,
    ledger: FailureLedger,
}

/// The result of polling one target.
struct PollResult {
    index: usize,
    api: Option<BackupApi>,
    result: Result<ClusterSummary, AtlasError>,
    duration: Duration,
}

/// Polls Atlas and publishes what it finds.
pub struct Poller {
    atlas: AtlasConfig,
    client: Arc<AtlasClient>,
    records: Vec<Record>,
    poll_interval: Duration,
    observer: Arc<dyn RequestObserver>,
    clock: Arc<dyn Clock>,
    shared: SharedState,
    last_cycle: Option<CycleReport>,
}

impl Poller {
    /// A poller for a config, publishing into `shared`.
    pub fn new(
        config: &Config,
        observer: Arc<dyn RequestObserver>,
        clock: Arc<dyn Clock>,
        shared: SharedState,
    ) -> Result<Poller, AtlasError> {
        let client = Arc::new(AtlasClient::new(&config.atlas, Arc::clone(&observer))?);
        let mut poller = Poller {
            atlas: config.atlas.clone(),
            client,
            records: Vec::new(),
            poll_interval: config.poll_interval,
            observer,
            clock,
            shared,
            last_cycle: None,
        };
        poller.set_targets(config.targets());
        poller.publish();
        Ok(poller)
    }

    /// The state readers see.
    pub fn shared(&self) -> SharedState {
        Arc::clone(&self.shared)
    }

    /// Applies a reloaded config: a new client when the `atlas` section changed; targets that
    /// stay keep their state, new ones start empty, removed ones disappear at once.
    pub fn apply_config(&mut self, config: &Config) -> Result<(), AtlasError> {
        if config.atlas != self.atlas {
            self.client = Arc::new(AtlasClient::new(&config.atlas, Arc::clone(&self.observer))?);
            self.atlas = config.atlas.clone();
        }
        self.poll_interval = config.poll_interval;
        self.set_targets(config.targets());
        self.publish();
        Ok(())
    }

    fn set_targets(&mut self, targets: Vec<Target>) {
        let mut old: HashMap<TargetKey, Record> = self
            .records
            .drain(..)
            .map(|r| (r.state.target.key(), r))
            .collect();
        self.records = targets
            .into_iter()
            .map(|t| match old.remove(&t.key()) {
                Some(mut r) if r.state.target.kind == t.kind => {
                    r.state.target = t;
                    r
                }
                _ => Record {
                    state: TargetState::new(t),
                    ledger: FailureLedger::default(),
                },
            })
            .collect();
    }

    /// Polls every target once and publishes the result.
    pub async fn run_cycle(&mut self) {
        let started = Instant::now();
        let limit = Arc::new(Semaphore::new(self.atlas.max_concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut task_index = HashMap::new();
        for (index, record) in self.records.iter().enumerate() {
            let client = Arc::clone(&self.client);
            let target = record.state.target.clone();
            let known = record.state.resolved;
            let limit = Arc::clone(&limit);
            let handle = tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                poll_one(index, &client, &target, known).await
            });
            task_index.insert(handle.id(), index);
        }
        while let Some(joined) = tasks.join_next_with_id().await {
            match joined {
                Ok((_, result)) => self.apply(result),
                Err(e) => {
                    // A panic while polling one target must not take the others down.
                    let index = task_index.get(&e.id()).copied();
                    if let Some(index) = index {
                        self.apply(PollResult {
                            index,
                            api: None,
                            result: Err(AtlasError::Internal(format!("poll task failed: {e}"))),
                            duration: started.elapsed(),
                        });
                    }
                }
            }
        }
        self.last_cycle = Some(CycleReport {
            finished_at: self.clock.now(),
            duration: started.elapsed(),
        });
        self.publish();
    }

    fn apply(&mut self, poll: PollResult) {
        let now = self.clock.now();
        let Some(record) = self.records.get_mut(poll.index) else {
            return;
        };
        let state = &mut record.state;
        match poll.result {
            Ok(summary) => {
                state.resolved = poll.api;
                let failures_total = record.ledger.record(&summary);
                state.backups = Some(Backups {
                    summary: Arc::new(summary),
                    failures_total,
                });
                state.last_success = Some(now);
                state.last_poll = Some(PollOutcome {
                    at: now,
                    duration: poll.duration,
                    error: None,
                });
            }
            Err(error) => {
                let reason = error.reason();
                state.errors_total[reason.index()] += 1;
                if error.is_not_found() {
                    // The cluster or project is gone: its snapshot series go with it, and a
                    // cluster of the same name created later starts afresh.
                    state.backups = None;
                    record.ledger = FailureLedger::default();
                    state.resolved = BackupApi::from_kind(state.target.kind);
                } else if poll.api.is_some() {
                    state.resolved = poll.api;
                }
                tracing::warn!(
                    project_id = %state.target.project_id,
                    cluster_name = %state.target.cluster_name,
                    kind = %state.kind(),
                    reason = reason.as_str(),
                    http_status = error.status(),
                    error_code = error.error_code(),
                    detail = error.detail(),
                    error = %error,
                    "poll failed"
                );
                state.last_poll = Some(PollOutcome {
                    at: now,
                    duration: poll.duration,
                    error: Some(PollError::from(&error)),
                });
            }
        }
    }

    fn publish(&self) {
        self.shared.store(Arc::new(ExporterState {
            targets: self
                .records
                .iter()
                .map(|r| Arc::new(r.state.clone()))
                .collect(),
            last_cycle: self.last_cycle,
        }));
    }

    /// Runs cycles until `shutdown` resolves: one at once, then every `poll_interval` (a cycle
    /// that overruns delays the next instead of overlapping it). A new config on `configs` is
    /// applied between cycles and starts a cycle at once.
    pub async fn run(
        mut self,
        mut configs: watch::Receiver<Arc<Config>>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut interval = new_interval(self.poll_interval);
        let mut reloads_open = true;
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = interval.tick() => {
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = self.run_cycle() => {}
                    }
                }
                changed = configs.changed(), if reloads_open => {
                    if changed.is_err() {
                        // The sender is gone: no more reloads; keep polling.
                        reloads_open = false;
                        continue;
                    }
                    let config = Arc::clone(&configs.borrow_and_update());
                    match self.apply_config(&config) {
                        Ok(()) => interval = new_interval(self.poll_interval),
                        Err(e) => tracing::error!(error = %e, "cannot apply the reloaded config"),
                    }
                }
            }
        }
    }
}

fn new_interval(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

async fn poll_one(
    index: usize,
    client: &AtlasClient,
    target: &Target,
    known: Option<BackupApi>,
) -> PollResult {
    let started = Instant::now();
    let (api, listing) = client
        .list_for_kind(target.kind, known, &target.project_id, &target.cluster_name)
        .await;
    let result = listing.map(|l| ClusterSummary::from_sorted(l.api(), &normalize(&l)));
    PollResult {
        index,
        api,
        result,
        duration: started.elapsed(),
    }
}
