//! The poll loop: a cycle at start, then one every `poll_interval`, never two at once.
//!
//! A cycle polls every target, up to `max_concurrency` at a time, summarizes each listing, and
//! publishes a fresh [`ExporterState`] in one swap. A failed poll touches only its own target:
//! it keeps that target's last good figures (a 404 drops them) and sets it down.
//!
//! Reloaded configs reach the running poller through a [`ConfigSender`], and the sender hears
//! back whether the poller took the config: the reload status reports what the poller applies.
//!
//! A reload never starts a cycle: the schedule stays, so no reload, however many, makes the
//! exporter poll a target more than once per poll interval. Only targets the reload adds are
//! polled at once; one that was polled, removed and added back (same kind) within one poll
//! interval comes back with its last figures instead, and waits for the next cycle.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::atlas::{AtlasClient, AtlasError, BackupApi, RequestObserver};
use crate::clock::Clock;
use crate::config::{AtlasConfig, Config};
use crate::snapshot::normalize;
use crate::state::{
    Backups, CycleReport, ExporterState, PollError, PollOutcome, SharedState, TargetState,
};
use crate::summary::{ClusterSummary, FailureLedger};
use crate::target::{Kind, Target, TargetKey};

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

type BuildClient =
    dyn Fn(&AtlasConfig, Arc<dyn RequestObserver>) -> Result<AtlasClient, AtlasError> + Send + Sync;

/// How the poller builds its Atlas client from the `atlas` section: [`AtlasClient::new`] unless
/// a test injects another. No valid config makes `AtlasClient::new` fail today, so a test of a
/// config the poller refuses needs a factory that refuses.
#[derive(Clone)]
pub struct ClientFactory(Arc<BuildClient>);

impl ClientFactory {
    /// A factory that builds clients with `build`.
    pub fn new(
        build: impl Fn(&AtlasConfig, Arc<dyn RequestObserver>) -> Result<AtlasClient, AtlasError>
        + Send
        + Sync
        + 'static,
    ) -> ClientFactory {
        ClientFactory(Arc::new(build))
    }

    fn build(
        &self,
        atlas: &AtlasConfig,
        observer: &Arc<dyn RequestObserver>,
    ) -> Result<Arc<AtlasClient>, AtlasError> {
        (self.0)(atlas, Arc::clone(observer)).map(Arc::new)
    }
}

impl Default for ClientFactory {
    fn default() -> Self {
        ClientFactory::new(AtlasClient::new)
    }
}

impl fmt::Debug for ClientFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientFactory")
    }
}

/// A reloaded config on its way to the poller, with where to send the verdict.
struct ConfigChange {
    config: Config,
    verdict: oneshot::Sender<Result<(), AtlasError>>,
}

impl fmt::Debug for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConfigChange")
    }
}

/// Hands reloaded configs to a running poller ([`Poller::run`]) and waits for its verdict.
#[derive(Clone, Debug)]
pub struct ConfigSender(mpsc::Sender<ConfigChange>);

/// The poller's end of a [`ConfigSender`].
#[derive(Debug)]
pub struct ConfigReceiver(mpsc::Receiver<ConfigChange>);

/// A channel for reloaded configs, from the reloader to the poller.
pub fn config_channel() -> (ConfigSender, ConfigReceiver) {
    // One change at a time is in flight: the reloader waits for each verdict.
    let (tx, rx) = mpsc::channel(1);
    (ConfigSender(tx), ConfigReceiver(rx))
}

#[cfg(test)]
impl ConfigReceiver {
    /// Takes the next config as the poller would, answering that it took it.
    pub(crate) async fn take_next(&mut self) -> Option<Config> {
        let change = self.0.recv().await?;
        let _ = change.verdict.send(Ok(()));
        Some(change.config)
    }
}

/// Why the poller did not take a reloaded config.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The poller cannot use the config: building the Atlas client for it failed.
    #[error("the poller cannot use the new config: {0}")]
    Refused(AtlasError),
    /// The poller is not running (the exporter is shutting down).
    #[error("the poller is not running")]
    Stopped,
}

impl ConfigSender {
    /// Sends `config` to the poller and returns once the poller has taken it or refused it.
    /// Taken means checked with nothing left that can fail: a config that arrives during a
    /// cycle answers at once and takes effect when the cycle ends.
    pub async fn apply(&self, config: Config) -> Result<(), ApplyError> {
        let (verdict, answer) = oneshot::channel();
        self.0
            .send(ConfigChange { config, verdict })
            .await
            .map_err(|_| ApplyError::Stopped)?;
        match answer.await {
            Ok(result) => result.map_err(ApplyError::Refused),
            Err(_) => Err(ApplyError::Stopped),
        }
    }
}

/// A reloaded config the poller has taken: the part that can fail (a new client) is done, what
/// is left cannot fail.
struct Accepted {
    /// The new `atlas` section and its client, when it differs from the running one.
    client: Option<(AtlasConfig, Arc<AtlasClient>)>,
    poll_interval: Duration,
    targets: Vec<Target>,
}

/// What the poller needs to take a config while a cycle holds the poller itself.
#[derive(Clone)]
struct Intake {
    atlas: AtlasConfig,
    factory: ClientFactory,
    observer: Arc<dyn RequestObserver>,
}

impl Intake {
    fn accept(&self, config: &Config) -> Result<Accepted, AtlasError> {
        let client = if config.atlas == self.atlas {
            None
        } else {
            let client = self.factory.build(&config.atlas, &self.observer)?;
            Some((config.atlas.clone(), client))
        };
        Ok(Accepted {
            client,
            poll_interval: config.poll_interval,
            targets: config.targets(),
        })
    }
}

/// Polls Atlas and publishes what it finds.
pub struct Poller {
    atlas: AtlasConfig,
    client: Arc<AtlasClient>,
    records: Vec<Record>,
    poll_interval: Duration,
    observer: Arc<dyn RequestObserver>,
    factory: ClientFactory,
    clock: Arc<dyn Clock>,
    shared: SharedState,
    last_cycle: Option<CycleReport>,
    // Targets a reload removed after they had been polled, and when: one added back within a
    // poll interval gets its record back instead of a poll before the next cycle.
    retired: HashMap<TargetKey, (Record, tokio::time::Instant)>,
}

impl Poller {
    /// A poller for a config, publishing into `shared`.
    pub fn new(
        config: &Config,
        observer: Arc<dyn RequestObserver>,
        clock: Arc<dyn Clock>,
        shared: SharedState,
    ) -> Result<Poller, AtlasError> {
        Poller::with_client_factory(config, observer, ClientFactory::default(), clock, shared)
    }

    /// A poller whose Atlas clients, the first one and those of reloaded configs, come from
    /// `factory`.
    pub fn with_client_factory(
        config: &Config,
        observer: Arc<dyn RequestObserver>,
        factory: ClientFactory,
        clock: Arc<dyn Clock>,
        shared: SharedState,
    ) -> Result<Poller, AtlasError> {
        let client = factory.build(&config.atlas, &observer)?;
        let mut poller = Poller {
            atlas: config.atlas.clone(),
            client,
            records: Vec::new(),
            poll_interval: config.poll_interval,
            observer,
            factory,
            clock,
            shared,
            last_cycle: None,
            retired: HashMap::new(),
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
    /// stay keep their state, new ones start empty, removed ones disappear at once. When the
    /// new client cannot be built, nothing changes.
    pub fn apply_config(&mut self, config: &Config) -> Result<(), AtlasError> {
        let accepted = self.intake().accept(config)?;
        self.commit(accepted);
        Ok(())
    }

    fn intake(&self) -> Intake {
        Intake {
            atlas: self.atlas.clone(),
            factory: self.factory.clone(),
            observer: Arc::clone(&self.observer),
        }
    }

    fn commit(&mut self, accepted: Accepted) {
        if let Some((atlas, client)) = accepted.client {
            self.atlas = atlas;
            self.client = client;
        }
        self.poll_interval = accepted.poll_interval;
        self.set_targets(accepted.targets);
        self.publish();
    }

    fn set_targets(&mut self, targets: Vec<Target>) {
        let mut old: HashMap<TargetKey, Record> = self
            .records
            .drain(..)
            .map(|r| (r.state.target.key(), r))
            .collect();
        let now = tokio::time::Instant::now();
        let period = self.poll_interval;
        self.retired
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < period);
        self.records = targets
            .into_iter()
            .map(|t| match old.remove(&t.key()).or_else(|| self.revive(&t)) {
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
        for (key, r) in old {
            if r.state.last_poll.is_some() {
                self.retired.insert(key, (r, now));
            }
        }
    }

    /// The record of a target removed less than one poll interval ago, to add back as it was.
    fn revive(&mut self, target: &Target) -> Option<Record> {
        let (record, _) = self.retired.remove(&target.key())?;
        (record.state.target.kind == target.kind).then_some(record)
    }

    /// Polls every target once and publishes the result.
    pub async fn run_cycle(&mut self) {
        self.poll(None).await;
    }

    /// The targets never polled: after a reload, those it added.
    fn newcomers(&self) -> HashSet<usize> {
        self.records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.state.last_poll.is_none())
            .map(|(i, _)| i)
            .collect()
    }

    /// Polls the targets in `only` (every target when `None`: a cycle) and publishes the
    /// result; only a whole cycle counts as one in the cycle figures.
    async fn poll(&mut self, only: Option<HashSet<usize>>) {
        let started = Instant::now();
        let cycle = only.is_none();
        if cycle {
            self.observer.cycle_started();
        }
        let limit = Arc::new(Semaphore::new(self.atlas.max_concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut task_index = HashMap::new();
        for (index, record) in self.records.iter().enumerate() {
            if only.as_ref().is_some_and(|o| !o.contains(&index)) {
                continue;
            }
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
                        let api = self.records.get(index).and_then(|r| r.state.resolved);
                        self.apply(PollResult {
                            index,
                            api,
                            result: Err(AtlasError::Internal(format!("poll task failed: {e}"))),
                            duration: started.elapsed(),
                        });
                    }
                }
            }
        }
        if cycle {
            self.last_cycle = Some(CycleReport {
                finished_at: self.clock.now(),
                duration: started.elapsed(),
            });
            self.observer.cycle_finished();
        }
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
                note_kind_change(state, poll.api);
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
                } else {
                    note_kind_change(state, poll.api);
                    state.resolved = poll.api;
                }
                let hint = kind_mismatch_hint(state.target.kind, &error);
                tracing::warn!(
                    project_id = %state.target.project_id,
                    cluster_name = %state.target.cluster_name,
                    kind = %state.kind(),
                    reason = reason.as_str(),
                    http_status = error.status(),
                    error_code = error.error_code(),
                    detail = error.detail(),
                    hint = hint.as_deref(),
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
    /// that overruns delays the next instead of overlapping it).
    ///
    /// A config on `configs` gets its verdict at once. Taken between cycles, it applies at once;
    /// taken during one, it applies when that cycle ends (a later one replaces it). Either way
    /// the schedule stays (a new `poll_interval` counts from the last cycle's start), and only
    /// the targets it adds are polled before the next cycle ([`Poller::newcomers`]). A refused
    /// config changes nothing.
    pub async fn run(&mut self, configs: &mut ConfigReceiver, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut interval = new_interval(self.poll_interval);
        let mut last_start = tokio::time::Instant::now();
        let mut reloads_open = true;
        let mut newcomers = HashSet::new();
        loop {
            let only = tokio::select! {
                () = &mut shutdown => return,
                _ = interval.tick() => {
                    last_start = tokio::time::Instant::now();
                    None
                }
                () = std::future::ready(()), if !newcomers.is_empty() => {
                    Some(std::mem::take(&mut newcomers))
                }
                change = configs.0.recv(), if reloads_open => {
                    match change {
                        Some(change) => match self.intake().accept(&change.config) {
                            Ok(accepted) => {
                                newcomers = self.take(accepted, &mut interval, last_start);
                                let _ = change.verdict.send(Ok(()));
                            }
                            Err(e) => {
                                let _ = change.verdict.send(Err(e));
                            }
                        },
                        // The sender is gone: no more reloads; keep polling.
                        None => reloads_open = false,
                    }
                    continue;
                }
            };
            let intake = self.intake();
            let mut taken = None;
            {
                let polling = self.poll(only);
                tokio::pin!(polling);
                loop {
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = &mut polling => break,
                        change = configs.0.recv(), if reloads_open => match change {
                            Some(change) => match intake.accept(&change.config) {
                                Ok(accepted) => {
                                    taken = Some(accepted);
                                    let _ = change.verdict.send(Ok(()));
                                }
                                Err(e) => {
                                    let _ = change.verdict.send(Err(e));
                                }
                            },
                            None => reloads_open = false,
                        },
                    }
                }
            }
            if let Some(accepted) = taken {
                newcomers = self.take(accepted, &mut interval, last_start);
            }
        }
    }

    /// Commits a taken config without touching the schedule but for a new period, and returns
    /// the targets to poll before the next cycle.
    fn take(
        &mut self,
        accepted: Accepted,
        interval: &mut tokio::time::Interval,
        last_start: tokio::time::Instant,
    ) -> HashSet<usize> {
        let period = accepted.poll_interval;
        let rescheduled = period != self.poll_interval;
        self.commit(accepted);
        if rescheduled {
            *interval = interval_from(last_start + period, period);
        }
        self.newcomers()
    }
}

/// Logs, once per change, that an `auto` target's cluster is now served by another API (a flex
/// cluster upgraded to dedicated): the poll that found out already read the new endpoint.
fn note_kind_change(state: &TargetState, resolved: Option<BackupApi>) {
    if let (Some(old), Some(new)) = (state.resolved, resolved)
        && old != new
    {
        tracing::info!(
            project_id = %state.target.project_id,
            cluster_name = %state.target.cluster_name,
            old_kind = %old,
            new_kind = %new,
            "the cluster's backup API changed; reading the {new} endpoint from now on"
        );
    }
}

/// What an operator should do when a configured kind no longer matches the cluster: Atlas
/// answered the other kind's error. `auto` targets follow such changes by themselves; explicit
/// kinds keep failing until the config says otherwise, so the log line says how.
fn kind_mismatch_hint(configured: Kind, error: &AtlasError) -> Option<String> {
    let api = BackupApi::from_kind(configured)?;
    let actual = api.mismatch(error.error_code()?)?;
    Some(format!(
        "Atlas serves this cluster through the {actual} API, not {api}: set `kind: {actual}`, \
         or `kind: auto` to follow such changes"
    ))
}

fn new_interval(period: Duration) -> tokio::time::Interval {
    interval_from(tokio::time::Instant::now(), period)
}

/// Ticks first at `start` (at once when it has passed), then every `period`.
fn interval_from(start: tokio::time::Instant, period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval_at(start, period);
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
