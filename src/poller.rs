//! The poll loop: a cycle at start, then one every `poll_interval`, never two at once.
//!
//! A cycle polls every target, up to `max_concurrency` at a time, each within its poll deadline
//! (`atlas.poll_deadline`: a poll still running then fails as `timeout`), summarizes each
//! listing, and publishes each target's result in that target's own cell as soon as its poll
//! ends, so a slow target delays no other target's figures. The cycle-level facts (the last
//! cycle, readiness: every target polled once or the first deadline passed) are published
//! when the cycle ends or the first deadline passes. A failed poll touches only its own target:
//! it keeps that target's last good figures (a 404 drops them) and sets it down. It is logged at
//! warn when its reason differs from the target's last one and once an hour while it persists,
//! at debug otherwise, so a target failing every poll cannot flood the log.
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

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::atlas::Pace;
use crate::atlas::jobs::{ExportState, RestoreStatus};
use crate::atlas::{AtlasClient, AtlasError, BackupApi, Reason, RequestObserver};
use crate::clock::Clock;
use crate::config::{AtlasConfig, Config, DiscoveryConfig, Flavor, WatchConfig};
use crate::discovery::{Discovery, Learnt};
use crate::job_summary::FailedJobLedger;
use crate::shard::Shard;
use crate::sources::{
    self, JOBS_REFRESH, Outcome, ProjectSources, SourceQueue, SourceRead, SourceResult, SourceTask,
};
use crate::state::{
    Backups, CycleReport, ExporterState, Jobs, PollError, PollOutcome, SharedState, TargetState,
};
use crate::summary::{ClusterSummary, FailureLedger, SummaryFold};
use crate::target::{self, Kind, ProjectStrings, Target, TargetKey};

/// What the poller keeps per target. At 10,000 clusters these records were the largest
/// allocation (heaptrack: 13.6 MB, with a whole [`TargetState`] inline): the state is now the
/// very `Arc` its cell holds, and what few targets use is boxed: a record is 88 bytes.
struct Record {
    /// The state last published, shared with the target's cell: a poll builds the next one
    /// from it (clone-on-write) and publishes that, so a state exists once at rest.
    state: Arc<TargetState>,
    /// The FAILED snapshot ids seen; `None` until a listing has one, as most never do (an
    /// empty ledger is 56 bytes inline).
    ledger: Option<Box<FailureLedger>>,
    warnings: FailureWarnings,
    /// The restore and export jobs' bookkeeping. Inline, not boxed: a flex cluster's restore
    /// jobs are read unless switched off, so nearly every record has it set, and a box would
    /// add its pointer and the allocator's header to each.
    jobs: JobSources,
}

/// A target's restore and export job reads: 64 bytes, the ledgers empty pointers until a failed
/// job is listed.
#[derive(Debug, Default)]
struct JobSources {
    /// Distinct failed restore and export job ids, for their `…_failures_total`.
    restore_ledger: FailedJobLedger,
    export_ledger: FailedJobLedger,
    /// When (a cycle's start) the restore and export jobs were last read, and from which
    /// listing: a cluster that changed kind is read from its new listing at once.
    restores_read: Option<(tokio::time::Instant, SourceRead)>,
    exports_read: Option<(tokio::time::Instant, SourceRead)>,
}

impl Record {
    fn new(target: Target) -> Record {
        Record {
            state: Arc::new(TargetState::new(target)),
            ledger: None,
            warnings: FailureWarnings::default(),
            jobs: JobSources::default(),
        }
    }
}

/// Poll tasks started at once at least (see `poll_phase`).
const POLL_TASKS: usize = 256;

/// How often a failure that persists with the same reason is warned about again.
const REPEAT_WARNING_AFTER: SignedDuration = SignedDuration::from_hours(1);

/// When a target's failed polls are logged at warn: the first of each reason, then once per
/// [`REPEAT_WARNING_AFTER`] (on the injected clock) while that reason persists. The others go
/// to debug; the error counters and the landing page still count and show every one.
#[derive(Debug, Default)]
struct FailureWarnings {
    /// Boxed: set only while a target fails, so it costs 8 bytes inline instead of 32.
    last: Option<Box<LastWarning>>,
}

#[derive(Debug)]
struct LastWarning {
    reason: Reason,
    at: Timestamp,
    /// Failures logged at debug only since then.
    suppressed: u64,
}

impl FailureWarnings {
    /// Notes a failure with `reason` at `now`: `Some(failures not warned about since the last
    /// warning)` when this one is to be warned about.
    fn failed(&mut self, reason: Reason, now: Timestamp) -> Option<u64> {
        if let Some(last) = self.last.as_mut()
            && last.reason == reason
        {
            let since = now.duration_since(last.at);
            // A clock that went back counts as time passed, so no warning is held off for long.
            if since < REPEAT_WARNING_AFTER && !since.is_negative() {
                last.suppressed += 1;
                return None;
            }
        }
        let suppressed = self
            .last
            .as_ref()
            .filter(|last| last.reason == reason)
            .map_or(0, |last| last.suppressed);
        self.last = Some(Box::new(LastWarning {
            reason,
            at: now,
            suppressed: 0,
        }));
        Some(suppressed)
    }

    /// A poll succeeded: the next failure is warned about whatever its reason.
    fn succeeded(&mut self) {
        self.last = None;
    }
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
    poll_deadline: Duration,
    targets: Vec<Target>,
    discovery: DiscoveryConfig,
    shard: Shard,
    watch: WatchConfig,
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
            poll_deadline: config.poll_deadline(),
            targets: config.targets(),
            discovery: config.discovery.clone(),
            shard: config.shard,
            watch: config.watch.clone(),
        })
    }
}

/// Polls Atlas and publishes what it finds.
pub struct Poller {
    atlas: AtlasConfig,
    client: Arc<AtlasClient>,
    /// The targets the config lists that this shard owns, in config order.
    listed: Vec<Target>,
    /// Which of the clusters are this replica's: the listed ones are filtered by
    /// [`Config::targets`], the discovered ones by [`Discovery`].
    shard: Shard,
    /// What discovery found, and when it refreshes next.
    discovery: Discovery,
    /// A discovered target answered 404 during a poll: ask discovery for an early refresh.
    discovered_gone: bool,
    records: Vec<Record>,
    poll_interval: Duration,
    poll_deadline: Duration,
    observer: Arc<dyn RequestObserver>,
    factory: ClientFactory,
    clock: Arc<dyn Clock>,
    shared: SharedState,
    /// What readers see: the targets' cells, which a completed poll swaps one at a time.
    published: ExporterState,
    // Targets a reload removed after they had been polled, and when: one added back within a
    // poll interval gets its record back instead of a poll before the next cycle.
    retired: HashMap<TargetKey, (Record, tokio::time::Instant)>,
    /// Which optional sources are read for which cluster (`restores`, `exports`).
    watch: WatchConfig,
    /// The optional sources' state per project: open alerts, listings a missing role
    /// switched off.
    projects: HashMap<Arc<str>, ProjectSources>,
    /// The records of each project, by index: where a project's alerts go.
    by_project: HashMap<Arc<str>, Vec<usize>>,
    /// Whether cycles read the optional sources at all ([`Poller::set_optional_sources`]).
    optional_sources: bool,
    /// The restore and export jobs of every cluster that lists none and never failed one:
    /// one copy for all of them.
    no_restores: Arc<Jobs<RestoreStatus>>,
    no_exports: Arc<Jobs<ExportState>>,
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
        let mut discovery = Discovery::new(config.discovery.clone());
        discovery.set_shard(config.shard);
        let mut listed = config.targets();
        target::share_project_strings(&mut listed);
        let mut poller = Poller {
            atlas: config.atlas.clone(),
            client,
            listed,
            shard: config.shard,
            discovery,
            discovered_gone: false,
            records: Vec::new(),
            poll_interval: config.poll_interval,
            poll_deadline: config.poll_deadline(),
            observer,
            factory,
            clock,
            shared,
            published: ExporterState::default(),
            retired: HashMap::new(),
            watch: config.watch.clone(),
            projects: HashMap::new(),
            by_project: HashMap::new(),
            optional_sources: true,
            no_restores: Arc::new(Jobs::none()),
            no_exports: Arc::new(Jobs::none()),
        };
        poller.set_targets(poller.discovery.targets(&poller.listed));
        poller.publish();
        Ok(poller)
    }

    /// Whether cycles read the optional sources ([`crate::sources`]: restore jobs, export
    /// jobs, open alerts) where the config and the flavor let them; on unless switched off.
    /// Off, a cycle costs only its snapshot polls and refresh: what a measure of those alone
    /// (a test of their request cost) needs.
    pub fn set_optional_sources(&mut self, on: bool) {
        self.optional_sources = on;
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
        self.poll_deadline = accepted.poll_deadline;
        self.discovery.configure(accepted.discovery);
        self.discovery.set_shard(accepted.shard);
        self.shard = accepted.shard;
        self.watch = accepted.watch;
        // A reload is the operator's word that roles may have changed: every source is tried
        // again.
        for project in self.projects.values_mut() {
            project.enable_all();
        }
        self.listed = accepted.targets;
        target::share_project_strings(&mut self.listed);
        self.set_targets(self.discovery.targets(&self.listed));
        self.publish();
    }

    fn set_targets(&mut self, targets: Vec<Target>) {
        // The old records stay where they are and are found by key: a map of the records
        // themselves (over a KiB each) was the largest allocation of a refresh at 10,000
        // clusters (11.7 MB, heaptrack).
        let mut old: Vec<Option<Record>> = self.records.drain(..).map(Some).collect();
        let at: HashMap<TargetKey, usize> = old
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (r.state.target.key(), i)))
            .collect();
        // A project's clusters share one copy of its id and name: those the records hold already.
        let mut strings = ProjectStrings::new();
        for r in old.iter().flatten() {
            strings.know(&r.state.target);
        }
        let now = tokio::time::Instant::now();
        let period = self.poll_interval;
        self.retired
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < period);
        self.records = targets
            .into_iter()
            .map(|mut t| {
                strings.share(&mut t);
                let kept = at.get(&t.key()).and_then(|&i| old[i].take());
                match kept.or_else(|| self.revive(&t)) {
                    Some(mut r) if r.state.target.kind == t.kind => {
                        // Unchanged, the state is not copied (its cell holds it too).
                        if r.state.target != t {
                            Arc::make_mut(&mut r.state).target = t;
                        }
                        r
                    }
                    _ => Record::new(t),
                }
            })
            .collect();
        // A project's open alerts are the project's: a target new to it shows them at once.
        self.by_project.clear();
        for (i, record) in self.records.iter().enumerate() {
            let project = Arc::clone(&record.state.target.project_id);
            self.by_project.entry(project).or_default().push(i);
        }
        self.projects.retain(|p, _| self.by_project.contains_key(p));
        for record in &mut self.records {
            if let Some(p) = self.projects.get(&record.state.target.project_id) {
                let same = match (&record.state.alerts, &p.alerts) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (a, b) => a.is_none() && b.is_none(),
                };
                if !same || record.state.sources_up.alerts != p.alerts_up {
                    let state = Arc::make_mut(&mut record.state);
                    state.alerts = p.alerts.clone();
                    state.sources_up.alerts = p.alerts_up;
                }
            }
        }
        for r in old.into_iter().flatten() {
            if r.state.last_poll.is_some() {
                self.retired.insert(r.state.target.key(), (r, now));
            }
        }
    }

    /// The record of a target removed less than one poll interval ago, to add back as it was.
    fn revive(&mut self, target: &Target) -> Option<Record> {
        let (record, _) = self.retired.remove(&target.key())?;
        (record.state.target.kind == target.kind).then_some(record)
    }

    /// Polls every target once, publishing each target's result as its poll ends, and the
    /// cycle's facts when it ends.
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
    ///
    /// A cycle with a refresh due runs the refresh beside the polls, so a slow cluster GET or
    /// schedule never delays a snapshot poll. The targets change only once the polls of this
    /// phase are done (a poll's result is applied by its target's index); the targets the
    /// refresh discovered are then polled in a second phase of the same cycle.
    async fn poll(&mut self, only: Option<HashSet<usize>>) {
        let started = Instant::now();
        let cycle = only.is_none();
        if cycle {
            self.observer.cycle_started();
        }
        let limit = Arc::new(Semaphore::new(self.atlas.max_concurrency.max(1)));
        if std::mem::take(&mut self.discovered_gone) {
            self.discovery.request_early();
        }
        let now = tokio::time::Instant::now();
        let refreshing = cycle && self.discovery.due(now);
        // The optional sources are read in cycles only, on the clock of the cycle's start.
        let read_sources = self.optional_sources && self.atlas.flavor == Flavor::Atlas;
        let sources = (cycle && read_sources).then_some(now);
        let learnt = self
            .poll_phase(only, &limit, started, refreshing, sources)
            .await;
        if let Some(learnt) = learnt {
            self.take_refresh(&learnt);
            let newcomers = self.newcomers();
            if !newcomers.is_empty() {
                self.poll_phase(Some(newcomers), &limit, started, false, sources)
                    .await;
            }
        }
        if cycle {
            let last_cycle = Some(CycleReport {
                finished_at: self.clock.now(),
                duration: started.elapsed(),
            });
            self.observer.cycle_finished();
            self.published = self.published.with_cycle(last_cycle, true);
            self.shared.store(Arc::new(self.published.clone()));
            let up = self
                .records
                .iter()
                .filter(|r| r.state.up() == Some(true))
                .count();
            tracing::info!(
                duration_seconds = started.elapsed().as_secs_f64(),
                targets = self.records.len(),
                up,
                down = self.records.len() - up,
                "poll cycle finished"
            );
        }
    }

    /// Polls the targets in `only` (all when `None`), publishing each result as it comes, and
    /// with `refresh` runs a refresh beside them, whose findings it returns.
    ///
    /// With `sources` (the cycle's start) the optional sources due are read beside the polls,
    /// within the same concurrency limit: each project's open alerts from the start, each
    /// cluster's restore and export jobs once its snapshot poll has succeeded (its kind is
    /// known then). They queue for a slot behind the polls already waiting, so they delay no
    /// snapshot poll, and the phase ends when they do.
    async fn poll_phase(
        &mut self,
        only: Option<HashSet<usize>>,
        limit: &Arc<Semaphore>,
        started: Instant,
        refresh: bool,
        sources: Option<tokio::time::Instant>,
    ) -> Option<HashMap<TargetKey, Learnt>> {
        let deadline = self.poll_deadline;
        // Tasks are started as others end, not all at once: a waiting poll task is a few KiB,
        // and 10,000 of them waiting would be the process's largest allocation. More tasks
        // than slots: a poll that waits for its project's rate-limit tokens gives its slot up,
        // and one of another project takes it.
        let window = (4 * self.atlas.max_concurrency).max(POLL_TASKS);
        // A waiting poll is its record's index: its target is cloned when it starts, and its
        // state is not held (an alerts read publishes a new state of every target of its
        // project, and the old ones would stay alive here).
        let mut waiting: std::collections::VecDeque<usize> = (0..self.records.len())
            .filter(|index| only.as_ref().is_none_or(|o| o.contains(index)))
            .collect();
        let mut tasks = JoinSet::new();
        let mut task_index = HashMap::new();
        let mut source_tasks =
            SourceQueue::new(Arc::clone(&self.client), Arc::clone(limit), deadline);
        let mut projects: Vec<Arc<str>> = waiting
            .iter()
            .filter_map(|index| self.records.get(*index))
            .map(|r| Arc::clone(&r.state.target.project_id))
            .collect();
        let client = Arc::clone(&self.client);
        let mut start_next =
            |records: &[Record],
             tasks: &mut JoinSet<PollResult>,
             task_index: &mut HashMap<tokio::task::Id, usize>| {
                let Some((index, record)) = waiting
                    .pop_front()
                    .and_then(|index| Some((index, records.get(index)?)))
                else {
                    return;
                };
                let (target, known) = (record.state.target.clone(), record.state.resolved);
                let client = Arc::clone(&client);
                let limit = Arc::clone(limit);
                let handle = tasks.spawn(async move {
                    // The deadline runs from when the poll gets its slot: waiting behind other
                    // targets is no part of this target's poll.
                    let pace = Pace::with_slot(limit, deadline).await;
                    poll_one(index, &client, &target, known, pace).await
                });
                task_index.insert(handle.id(), index);
            };
        for _ in 0..window {
            start_next(&self.records, &mut tasks, &mut task_index);
        }

        if let Some(at) = sources {
            projects.sort_unstable();
            projects.dedup();
            for project in projects {
                self.spawn_alerts(project, at, &mut source_tasks);
            }
        }

        // The refresh owns the discovery state while it runs; it comes back after the loop.
        let mut discovery = refresh.then(|| {
            std::mem::replace(
                &mut self.discovery,
                Discovery::new(DiscoveryConfig::default()),
            )
        });
        // Only a refresh reads these: 10,000 targets are not copied for nothing every cycle.
        let listed = if refresh {
            self.listed.clone()
        } else {
            Vec::new()
        };
        let known: HashMap<TargetKey, Option<BackupApi>> = if refresh {
            self.records
                .iter()
                .map(|r| (r.state.target.key(), r.state.resolved))
                .collect()
        } else {
            HashMap::new()
        };
        let client = Arc::clone(&self.client);
        let now = self.clock.now();
        let mut learnt = None;
        {
            let refreshing = async {
                match discovery.as_mut() {
                    Some(d) => Some(
                        d.refresh(&client, &listed, &known, limit, deadline, now)
                            .await,
                    ),
                    None => None,
                }
            };
            tokio::pin!(refreshing);
            let mut refresh_pending = refresh;
            let mut polls_pending = true;
            // Readiness does not wait for a slow target: the first deadline passing is enough.
            let first_deadline = tokio::time::sleep(deadline);
            tokio::pin!(first_deadline);
            let mut waiting_for_readiness = !self.published.ready();
            while polls_pending || refresh_pending || !source_tasks.is_empty() {
                let joined = tokio::select! {
                    joined = tasks.join_next_with_id(), if polls_pending => joined,
                    read = source_tasks.next(), if !source_tasks.is_empty() => {
                        // A panicked read is retried when next due.
                        if let Some(Some(read)) = read {
                            self.apply_source(read);
                        }
                        continue;
                    }
                    found = &mut refreshing, if refresh_pending => {
                        learnt = found;
                        refresh_pending = false;
                        continue;
                    }
                    () = &mut first_deadline, if waiting_for_readiness => {
                        waiting_for_readiness = false;
                        self.publish_cycle_facts(true);
                        continue;
                    }
                };
                let Some(joined) = joined else {
                    polls_pending = false;
                    continue;
                };
                start_next(&self.records, &mut tasks, &mut task_index);
                let result = match joined {
                    Ok((_, result)) => result,
                    Err(e) => {
                        // A panic while polling one target must not take the others down.
                        let Some(index) = task_index.get(&e.id()).copied() else {
                            continue;
                        };
                        let api = self.records.get(index).and_then(|r| r.state.resolved);
                        PollResult {
                            index,
                            api,
                            result: Err(AtlasError::Internal(format!("poll task failed: {e}"))),
                            duration: started.elapsed(),
                        }
                    }
                };
                let index = result.index;
                self.apply(result);
                if let Some(at) = sources {
                    self.spawn_cluster_sources(index, at, &mut source_tasks);
                }
                if let Some(record) = self.records.get(index) {
                    self.published
                        .publish_target(index, Arc::clone(&record.state));
                }
            }
        }
        if let Some(d) = discovery {
            self.discovery = d;
        }
        learnt
    }

    /// Takes a refresh's findings: the targets become the listed ones and those discovered,
    /// each learning its facts and policy, and the new cells are published.
    fn take_refresh(&mut self, learnt: &HashMap<TargetKey, Learnt>) {
        self.set_targets(self.discovery.targets(&self.listed));
        for record in &mut self.records {
            if let Some(learnt) = learnt.get(&record.state.target.key()) {
                apply_learnt(&mut record.state, learnt);
            }
        }
        self.publish();
    }

    /// Starts the read of `project`'s open alerts when it is due at `at` and not switched off.
    fn spawn_alerts(
        &mut self,
        project: Arc<str>,
        at: tokio::time::Instant,
        tasks: &mut SourceQueue,
    ) {
        let every = sources::alerts_every(self.poll_interval);
        let state = self.projects.entry(Arc::clone(&project)).or_default();
        if !state.enabled(SourceRead::Alerts, at) || !sources::due(state.alerts_read, every, at) {
            return;
        }
        state.alerts_read = Some(at);
        let task = SourceTask {
            read: SourceRead::Alerts,
            project,
            cluster: None,
        };
        tasks.push(task);
    }

    /// Starts the reads of a target's restore and export jobs that are due at `at`, after its
    /// snapshot poll succeeded. A source no longer wanted (a reload switched it off, the
    /// cluster changed kind) drops its figures.
    fn spawn_cluster_sources(
        &mut self,
        index: usize,
        at: tokio::time::Instant,
        tasks: &mut SourceQueue,
    ) {
        let Some(record) = self.records.get_mut(index) else {
            return;
        };
        let project_id = Arc::clone(&record.state.target.project_id);
        let cluster_name = Arc::clone(&record.state.target.cluster_name);
        let kind = record.state.kind();
        let watch = self.watch.watches(&project_id, &cluster_name);
        let listing = match kind {
            Kind::Flex => SourceRead::FlexRestores,
            _ => SourceRead::DedicatedRestores,
        };
        let restores = watch.restores_for(kind).then_some(listing);
        let exports = watch.exports_for(kind).then_some(SourceRead::Exports);
        let has_restores = record.state.restores.is_some();
        if restores.is_none() && (has_restores || record.state.sources_up.restores.is_some()) {
            let state = Arc::make_mut(&mut record.state);
            state.restores = None;
            state.sources_up.restores = None;
        }
        let has_exports = record.state.exports.is_some();
        if exports.is_none() && (has_exports || record.state.sources_up.exports.is_some()) {
            let state = Arc::make_mut(&mut record.state);
            state.exports = None;
            state.sources_up.exports = None;
        }
        if restores.is_none() {
            record.jobs.restores_read = None;
        }
        if exports.is_none() {
            record.jobs.exports_read = None;
        }
        if record.state.up() != Some(true) || (restores.is_none() && exports.is_none()) {
            return;
        }
        let project = self.projects.entry(Arc::clone(&project_id)).or_default();
        for (read, last) in [
            (restores, &mut record.jobs.restores_read),
            (exports, &mut record.jobs.exports_read),
        ] {
            let Some(read) = read else { continue };
            let last_read = last.filter(|(_, listing)| *listing == read).map(|(t, _)| t);
            if !project.enabled(read, at) || !sources::due(last_read, JOBS_REFRESH, at) {
                continue;
            }
            *last = Some((at, read));
            let task = SourceTask {
                read,
                project: Arc::clone(&project_id),
                cluster: Some((index, Arc::clone(&cluster_name))),
            };
            tasks.push(task);
        }
    }

    /// Takes one optional source's read: its figures on success; on a missing role, the
    /// listing switched off for the project (one warn line); either way its `source_up`.
    fn apply_source(&mut self, result: SourceResult) {
        let at = tokio::time::Instant::now();
        let SourceResult {
            read,
            project,
            index,
            outcome,
        } = result;
        if let Some(error) = outcome.error() {
            let (records, by_project) = (&self.records, &self.by_project);
            let snapshots_answer = || {
                by_project
                    .get(&project)
                    .into_iter()
                    .flatten()
                    .any(|&i| records.get(i).is_some_and(|r| r.state.up() == Some(true)))
            };
            let missing_role = sources::missing_role(error, snapshots_answer);
            let state = self.projects.entry(Arc::clone(&project)).or_default();
            if missing_role && state.disable(read, at) {
                tracing::warn!(
                    project_id = %project,
                    source = read.source(),
                    listing = read.listing(),
                    role = read.role(),
                    http_status = error.status(),
                    error_code = error.error_code(),
                    error = %error,
                    "the API key lacks the role this source needs: not read in this project \
                     until the config is reloaded or for 24 hours"
                );
            } else if !missing_role {
                tracing::debug!(
                    project_id = %project,
                    source = read.source(),
                    listing = read.listing(),
                    reason = error.reason().as_str(),
                    error = %error,
                    "source read failed; retried when next due"
                );
            }
        }
        match (outcome, index) {
            (Outcome::Alerts(result), _) => {
                let state = self.projects.entry(Arc::clone(&project)).or_default();
                state.alerts_up = Some(result.is_ok());
                if let Ok(alerts) = result {
                    state.alerts = Some(Arc::new(alerts));
                }
                let (alerts, up) = (state.alerts.clone(), state.alerts_up);
                for &i in self.by_project.get(&project).into_iter().flatten() {
                    if let Some(record) = self.records.get_mut(i) {
                        let state = Arc::make_mut(&mut record.state);
                        state.alerts = alerts.clone();
                        state.sources_up.alerts = up;
                        self.published.publish_target(i, Arc::clone(&record.state));
                    }
                }
            }
            (Outcome::Restores(result), Some(i)) => {
                let Some(record) = self.records.get_mut(i) else {
                    return;
                };
                let state = Arc::make_mut(&mut record.state);
                state.sources_up.restores = Some(result.is_ok());
                if let Ok(summary) = result {
                    let failures_total = record.jobs.restore_ledger.record(&summary);
                    let jobs = Jobs {
                        summary,
                        failures_total,
                    };
                    state.restores = Some(jobs.shared(state.restores.as_ref(), &self.no_restores));
                }
                self.published.publish_target(i, Arc::clone(&record.state));
            }
            (Outcome::Exports(result), Some(i)) => {
                let Some(record) = self.records.get_mut(i) else {
                    return;
                };
                let state = Arc::make_mut(&mut record.state);
                state.sources_up.exports = Some(result.is_ok());
                if let Ok(summary) = result {
                    let failures_total = record.jobs.export_ledger.record(&summary);
                    let jobs = Jobs {
                        summary,
                        failures_total,
                    };
                    state.exports = Some(jobs.shared(state.exports.as_ref(), &self.no_exports));
                }
                self.published.publish_target(i, Arc::clone(&record.state));
            }
            (Outcome::Restores(_) | Outcome::Exports(_), None) => {}
        }
    }

    /// With a poll interval longer than [`sources::ALERTS_REFRESH_CAP`], the ticks on which
    /// [`Poller::run`] reads the open alerts due between cycles; `None` otherwise (every cycle
    /// reads them) and when the optional sources are not read.
    fn alerts_between_cycles(&self) -> Option<tokio::time::Interval> {
        let cap = sources::ALERTS_REFRESH_CAP;
        let on = self.optional_sources && self.atlas.flavor == Flavor::Atlas;
        (on && self.poll_interval > cap)
            .then(|| interval_from(tokio::time::Instant::now() + cap, cap))
    }

    /// Reads the open alerts of every project whose alerts are due, outside a cycle: within the
    /// concurrency limit and the deadline, as a cycle reads them.
    pub async fn read_due_alerts(&mut self) {
        let at = tokio::time::Instant::now();
        let limit = Arc::new(Semaphore::new(self.atlas.max_concurrency.max(1)));
        let projects: Vec<Arc<str>> = self.by_project.keys().cloned().collect();
        let mut tasks = SourceQueue::new(Arc::clone(&self.client), limit, self.poll_deadline);
        for project in projects {
            self.spawn_alerts(project, at, &mut tasks);
        }
        while let Some(joined) = tasks.next().await {
            // A panicked read is retried when next due.
            if let Some(read) = joined {
                self.apply_source(read);
            }
        }
    }

    /// Swaps in the same target cells with new cycle-level facts: O(1) in the targets.
    fn publish_cycle_facts(&mut self, ready: bool) {
        self.published = self
            .published
            .with_cycle(self.published.last_cycle, ready || self.published.ready);
        self.shared.store(Arc::new(self.published.clone()));
    }

    fn apply(&mut self, poll: PollResult) {
        let now = self.clock.now();
        let Some(record) = self.records.get_mut(poll.index) else {
            return;
        };
        // The cell holds the same Arc: this copies the state once, and the old copy goes when
        // the cell lets it go (once no reader holds it).
        let state = Arc::make_mut(&mut record.state);
        match poll.result {
            Ok(mut summary) => {
                record.warnings.succeeded();
                note_kind_change(state, poll.api);
                state.resolved = poll.api;
                // The ledger takes the listing's failures; the published summary holds none.
                // An empty ledger counts nothing in a listing without FAILED ids.
                let failures = summary.failures.take().unwrap_or_default();
                let failures_total = match &mut record.ledger {
                    None if failures.failed.is_empty() => 0,
                    ledger => ledger.get_or_insert_with(Box::default).record(&failures),
                };
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
                state.count_error(reason);
                if error.is_not_found() {
                    // The cluster or project is gone: its snapshot series go with it, and a
                    // cluster of the same name created later starts afresh. A discovered one
                    // leaves at the next cycle's (early) refresh.
                    let key = state.target.key();
                    if !self.listed.iter().any(|t| t.key() == key) {
                        self.discovered_gone = true;
                    }
                    state.backups = None;
                    record.ledger = None;
                    state.resolved = BackupApi::from_kind(state.target.kind);
                } else {
                    note_kind_change(state, poll.api);
                    state.resolved = poll.api;
                }
                let hint = kind_mismatch_hint(state.target.kind, &error);
                macro_rules! poll_failed {
                    ($level:ident, $($extra:tt)*) => {
                        tracing::$level!(
                            project_id = %state.target.project_id,
                            cluster_name = %state.target.cluster_name,
                            kind = %state.kind(),
                            reason = reason.as_str(),
                            http_status = error.status(),
                            error_code = error.error_code(),
                            detail = error.detail(),
                            hint = hint.as_deref(),
                            error = %error,
                            $($extra)*
                            "poll failed"
                        )
                    };
                }
                match record.warnings.failed(reason, now) {
                    Some(0) => poll_failed!(warn,),
                    Some(suppressed) => poll_failed!(warn, not_warned_since_last = suppressed,),
                    None => poll_failed!(debug,),
                }
                state.last_poll = Some(PollOutcome {
                    at: now,
                    duration: poll.duration,
                    error: Some(Box::new(PollError::from(&error))),
                });
            }
        }
    }

    /// Publishes a new set of target cells, after the targets changed (a config applied).
    fn publish(&mut self) {
        let targets = self.records.iter().map(|r| Arc::clone(&r.state)).collect();
        self.published = ExporterState::of_shared(targets)
            .with_cycle(self.published.last_cycle, self.published.ready)
            .with_discovery(self.discovery.report())
            .with_shard(self.shard);
        self.shared.store(Arc::new(self.published.clone()));
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
        let mut alerts_between = self.alerts_between_cycles();
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
                () = next_tick(&mut alerts_between) => {
                    tokio::select! {
                        () = &mut shutdown => return,
                        () = self.read_due_alerts() => {}
                    }
                    continue;
                }
                () = std::future::ready(()), if !newcomers.is_empty() => {
                    Some(std::mem::take(&mut newcomers))
                }
                change = configs.0.recv(), if reloads_open => {
                    match change {
                        Some(change) => match self.intake().accept(&change.config) {
                            Ok(accepted) => {
                                newcomers = self.take(accepted, &mut interval, last_start);
                                alerts_between = self.alerts_between_cycles();
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
                alerts_between = self.alerts_between_cycles();
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

/// Takes what a refresh learnt of a target: what was not learnt stays as it was, but a
/// cluster whose backups are now off has no policy to be judged against.
///
/// A state the refresh leaves as it was is not copied: a refresh of 10,000 unchanged clusters
/// would otherwise copy every state (its cell holds it too) at once.
fn apply_learnt(state: &mut Arc<TargetState>, learnt: &Learnt) {
    let facts = learnt.facts.or(state.facts);
    let policy = if learnt.policy.is_some() {
        learnt.policy
    } else if learnt.facts.is_some_and(|f| !f.backup_enabled) {
        None
    } else {
        state.policy.as_deref().copied()
    };
    if (facts, policy, learnt.schedule_up)
        != (
            state.facts,
            state.policy.as_deref().copied(),
            state.schedule_up,
        )
    {
        let state = Arc::make_mut(state);
        state.facts = facts;
        state.policy = policy.map(crate::facts::BackupPolicy::shared);
        state.schedule_up = learnt.schedule_up;
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

/// The next tick of `interval`; never, when there is none.
async fn next_tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
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

/// Polls one target within `pace`'s deadline: a poll still running then fails as `timeout`.
async fn poll_one(
    index: usize,
    client: &AtlasClient,
    target: &Target,
    known: Option<BackupApi>,
    pace: Pace,
) -> PollResult {
    let started = Instant::now();
    let deadline = pace.deadline();
    // Each page is folded into the summary as it arrives and dropped: a listing never sits in
    // memory whole.
    let poll = client.list_target_paced(target, known, SummaryFold::new, &pace);
    let (api, result) = match tokio::time::timeout(deadline, poll).await {
        Ok((api, folded)) => (api, folded.map(SummaryFold::finish)),
        // What the cut-short poll learnt about the kind is lost with it: keep what was known.
        Err(_) => (known, Err(AtlasError::PollDeadline(deadline))),
    };
    PollResult {
        index,
        api,
        result,
        duration: started.elapsed(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_persisting_failure_is_warned_about_once_an_hour() {
        let mut w = FailureWarnings::default();
        assert_eq!(
            w.failed(Reason::ServerError, at("2026-11-22T12:00:00Z")),
            Some(0)
        );
        assert_eq!(
            w.failed(Reason::ServerError, at("2026-11-22T12:00:30Z")),
            None
        );
        assert_eq!(
            w.failed(Reason::ServerError, at("2026-11-22T12:59:59Z")),
            None
        );
        assert_eq!(
            w.failed(Reason::ServerError, at("2026-11-22T13:00:00Z")),
            Some(2)
        );
        assert_eq!(
            w.failed(Reason::ServerError, at("2026-11-22T13:00:30Z")),
            None
        );
    }

    #[test]
    fn a_new_reason_or_a_success_in_between_is_warned_about_at_once() {
        let mut w = FailureWarnings::default();
        assert_eq!(
            w.failed(Reason::ServerError, at("2026-11-22T12:00:00Z")),
            Some(0)
        );
        assert_eq!(
            w.failed(Reason::Timeout, at("2026-11-22T12:00:30Z")),
            Some(0)
        );
        assert_eq!(
            w.failed(Reason::ServerError, at("2026-11-22T12:01:00Z")),
            Some(0)
        );
        w.succeeded();
        assert_eq!(
            w.failed(Reason::ServerError, at("2026-11-22T12:01:30Z")),
            Some(0)
        );
    }

    /// The poller keeps one record per cluster: at 10,000 clusters each 8 bytes here are
    /// 80 KB, and a record with a whole state inline (680 bytes) was the process's largest
    /// allocation. A field that makes a record grow past this should be boxed instead, unless
    /// nearly every record sets it (then a box only adds a pointer and a header).
    #[test]
    fn a_record_stays_small_inline() {
        assert!(
            std::mem::size_of::<Record>() <= 88,
            "Record is {} bytes",
            std::mem::size_of::<Record>()
        );
    }

    #[test]
    fn a_clock_that_went_back_does_not_hold_warnings_off() {
        let mut w = FailureWarnings::default();
        assert_eq!(
            w.failed(Reason::Network, at("2026-11-22T12:00:00Z")),
            Some(0)
        );
        assert_eq!(
            w.failed(Reason::Network, at("2026-11-21T12:00:00Z")),
            Some(0)
        );
    }
}
