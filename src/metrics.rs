//! Prometheus metrics: the snapshot collector, built fresh from the published state at every
//! scrape, and the exporter's own request counters.
//!
//! Snapshot and target families are never mutated between scrapes, so series of a cluster that
//! left the config, or whose project was deleted, vanish by construction.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

use jiff::Timestamp;

use crate::atlas::wire::SkipReason;
use crate::atlas::{Announcements, Operation, Reason, RequestObserver};
use crate::build_info;
use crate::clock::{Clock, unix_seconds};
use crate::facts::ClusterType;
use crate::snapshot::Status;
use crate::state::{ExporterState, ReloadStatus, TargetState};

/// Appended to the HELP of every metric read from a listing.
const CACHED: &str = "From a cache refreshed every poll interval.";

/// The exporter's metric registry and the handles that feed it.
pub struct Metrics {
    registry: Registry,
    api: Arc<ApiMetrics>,
}

impl Metrics {
    /// Registers every collector: snapshot state, API requests, build info and process metrics.
    pub fn new(
        state: Arc<ArcSwap<ExporterState>>,
        reload: Arc<ArcSwap<ReloadStatus>>,
        clock: Arc<dyn Clock>,
    ) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let api = Arc::new(ApiMetrics::new()?);
        registry.register(Box::new(api.requests.clone()))?;
        registry.register(Box::new(api.durations.clone()))?;
        registry.register(Box::new(api.challenges.clone()))?;
        registry.register(Box::new(api.skipped.clone()))?;
        registry.register(Box::new(StateCollector::new(
            state,
            reload,
            clock,
            Arc::clone(&api),
        )?))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(crate::process::ProcessMetrics::for_self()?))?;
        Ok(Metrics { registry, api })
    }

    /// The observer to hand to the Atlas client.
    pub fn api_observer(&self) -> Arc<dyn RequestObserver> {
        Arc::clone(&self.api) as Arc<dyn RequestObserver>
    }

    /// The registry, for tests that inspect families directly.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let families = self.registry.gather();
        let mut out = String::with_capacity(16 * 1024);
        prometheus::TextEncoder::new().encode_utf8(&families, &mut out)?;
        Ok(out)
    }
}

/// `atlas_snapshot_exporter_api_requests_total`, `..._api_request_duration_seconds`,
/// `..._auth_challenges_total` and `..._skipped_items_total`, and the facts from response headers that the state collector
/// exports: sunset dates and the lowest rate-limit headroom of the last cycle.
pub struct ApiMetrics {
    requests: IntCounterVec,
    durations: HistogramVec,
    challenges: IntCounter,
    skipped: IntCounterVec,
    announced: Mutex<Announced>,
}

/// What response headers announced.
#[derive(Debug, Default)]
struct Announced {
    /// The latest `Sunset:` date seen per endpoint.
    sunsets: BTreeMap<Operation, Timestamp>,
    /// The lowest `Ratelimit-Remaining` per project and endpoint in the cycle under way.
    remaining_now: BTreeMap<(String, Operation), u64>,
    /// The same for the last finished cycle: what is exported.
    remaining_last_cycle: BTreeMap<(String, Operation), u64>,
}

impl ApiMetrics {
    fn new() -> prometheus::Result<ApiMetrics> {
        let requests = IntCounterVec::new(
            Opts::new(
                "atlas_snapshot_exporter_api_requests_total",
                "HTTP responses from the Atlas API acted on, by operation and status code (\"error\" when none came back).",
            ),
            &["endpoint", "code"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "atlas_snapshot_exporter_api_request_duration_seconds",
                "Time to complete one Atlas API request, body included, by operation.",
            )
            .buckets(vec![
                0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["endpoint"],
        )?;
        let challenges = IntCounter::new(
            "atlas_snapshot_exporter_auth_challenges_total",
            "Digest challenges answered: 401s inside the authentication handshake.",
        )?;
        let skipped = IntCounterVec::new(
            Opts::new(
                "atlas_snapshot_exporter_skipped_items_total",
                "Listing items that could not be read (a bad date, a missing id) and were left out, by reason.",
            ),
            &["reason"],
        )?;
        // Every reason from the start, at 0, so that rate() and alerts see the first one.
        for reason in SkipReason::ALL {
            skipped.with_label_values(&[reason.as_str()]);
        }
        Ok(ApiMetrics {
            requests,
            durations,
            challenges,
            skipped,
            announced: Mutex::new(Announced::default()),
        })
    }

    fn lock_announced(&self) -> std::sync::MutexGuard<'_, Announced> {
        self.announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl RequestObserver for ApiMetrics {
    fn observe(&self, operation: Operation, status: Option<u16>, elapsed: Duration) {
        let code = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.requests
            .with_label_values(&[operation.as_str(), code.as_str()])
            .inc();
        self.durations
            .with_label_values(&[operation.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    fn challenge_answered(&self) {
        self.challenges.inc();
    }

    fn skipped_items(&self, reason: SkipReason, count: u64) {
        self.skipped
            .with_label_values(&[reason.as_str()])
            .inc_by(count);
    }

    fn announced(&self, operation: Operation, project_id: &str, announcements: &Announcements) {
        let mut announced = self.lock_announced();
        if let Some(sunset) = announcements.sunset {
            announced.sunsets.insert(operation, sunset);
        }
        if let Some(rate) = announcements.rate_limit {
            announced
                .remaining_now
                .entry((project_id.to_owned(), operation))
                .and_modify(|low| *low = (*low).min(rate.remaining))
                .or_insert(rate.remaining);
        }
    }

    fn cycle_started(&self) {
        self.lock_announced().remaining_now.clear();
    }

    fn cycle_finished(&self) {
        let mut announced = self.lock_announced();
        announced.remaining_last_cycle = std::mem::take(&mut announced.remaining_now);
    }
}

/// Every family the state collector writes, named for what it is.
///
/// Families are grouped by the labels their series carry. Each group is a type that implements
/// [`Labels`] with the number of its label names, so [`Families::push`] takes exactly that many
/// label values: a count mismatch does not compile. The name, HELP and type of each family come
/// from one exhaustive `match` in [`Family::spec`], so no family exists without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    /// `atlas_snapshot_cluster_info`.
    ClusterInfo,
    /// Families with one series per cluster and snapshot status.
    PerStatus(PerStatus),
    /// Families with one series per cluster.
    PerCluster(PerCluster),
    /// `atlas_snapshot_target_errors_total`.
    TargetErrors,
    /// The exporter's own families, without labels.
    Unlabelled(Unlabelled),
    /// `atlas_snapshot_exporter_api_sunset_timestamp_seconds`.
    ApiSunset,
    /// `atlas_snapshot_exporter_rate_limit_remaining`.
    RateLimitRemaining,
    /// `atlas_snapshot_exporter_build_info`.
    BuildInfo,
    /// `atlas_snapshot_exporter_source_up`.
    SourceUp,
    /// `atlas_snapshot_exporter_shard_info`.
    ShardInfo,
}

/// `atlas_snapshot_exporter_source_up`, labelled `{project_id, source}`.
#[derive(Debug, Clone, Copy)]
struct SourceUp;

/// `atlas_snapshot_exporter_api_sunset_timestamp_seconds`, labelled `{endpoint}`.
#[derive(Debug, Clone, Copy)]
struct ApiSunset;

/// `atlas_snapshot_exporter_rate_limit_remaining`, labelled `{project_id, endpoint}`.
#[derive(Debug, Clone, Copy)]
struct RateLimitRemaining;

/// `atlas_snapshot_cluster_info`, labelled
/// `{project_id, project_name, cluster_name, kind, cluster_type}`.
#[derive(Debug, Clone, Copy)]
struct ClusterInfo;

/// Families labelled `{project_id, cluster_name, status}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PerStatus {
    /// `atlas_snapshot_snapshots`.
    Snapshots,
    /// `atlas_snapshot_latest_status`.
    LatestStatus,
}

/// Families labelled `{project_id, cluster_name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PerCluster {
    /// `atlas_snapshot_latest_completed_timestamp_seconds`.
    LatestCompletedTimestamp,
    /// `atlas_snapshot_latest_completed_age_seconds`.
    LatestCompletedAge,
    /// `atlas_snapshot_latest_completed_duration_seconds`.
    LatestCompletedDuration,
    /// `atlas_snapshot_latest_completed_size_bytes`.
    LatestCompletedSize,
    /// `atlas_snapshot_oldest_completed_timestamp_seconds`.
    OldestCompletedTimestamp,
    /// `atlas_snapshot_failures_total`.
    Failures,
    /// `atlas_snapshot_target_up`.
    TargetUp,
    /// `atlas_snapshot_target_last_success_timestamp_seconds`.
    TargetLastSuccess,
    /// `atlas_snapshot_target_poll_duration_seconds`.
    TargetPollDuration,
    /// `atlas_snapshot_cluster_backup_enabled`.
    BackupEnabled,
    /// `atlas_snapshot_cluster_paused`.
    Paused,
    /// `atlas_snapshot_next_snapshot_timestamp_seconds`.
    NextSnapshot,
    /// `atlas_snapshot_policy_interval_seconds`.
    PolicyInterval,
    /// `atlas_snapshot_policy_retention_seconds`.
    PolicyRetention,
    /// `atlas_snapshot_policy_restore_window_seconds`.
    PolicyRestoreWindow,
}

/// `atlas_snapshot_target_errors_total`, labelled `{project_id, cluster_name, reason}`.
#[derive(Debug, Clone, Copy)]
struct TargetErrors;

/// Families without labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unlabelled {
    /// `atlas_snapshot_exporter_poll_cycle_duration_seconds`.
    PollCycleDuration,
    /// `atlas_snapshot_exporter_last_poll_cycle_timestamp_seconds`.
    LastPollCycleTimestamp,
    /// `atlas_snapshot_exporter_config_last_reload_successful`.
    ConfigLastReloadSuccessful,
    /// `atlas_snapshot_exporter_config_last_reload_success_timestamp_seconds`.
    ConfigLastReloadSuccessTimestamp,
    /// `atlas_snapshot_exporter_discovery_up`.
    DiscoveryUp,
    /// `atlas_snapshot_exporter_discovery_last_success_timestamp_seconds`.
    DiscoveryLastSuccess,
}

/// `atlas_snapshot_exporter_build_info`, labelled `{version, revision, rustc_version}`.
#[derive(Debug, Clone, Copy)]
struct BuildInfo;

/// `atlas_snapshot_exporter_shard_info`, labelled `{index, count}`.
#[derive(Debug, Clone, Copy)]
struct ShardInfo;

/// A family, or a group of families, whose series all carry the same `N` labels.
trait Labels<const N: usize>: Copy {
    /// The label names, in the order [`Families::push`] takes the values.
    const NAMES: [&'static str; N];

    /// The family this is.
    fn family(self) -> Family;
}

impl Labels<5> for ClusterInfo {
    const NAMES: [&'static str; 5] = [
        "project_id",
        "project_name",
        "cluster_name",
        "kind",
        "cluster_type",
    ];
    fn family(self) -> Family {
        Family::ClusterInfo
    }
}

impl Labels<3> for PerStatus {
    const NAMES: [&'static str; 3] = ["project_id", "cluster_name", "status"];
    fn family(self) -> Family {
        Family::PerStatus(self)
    }
}

impl Labels<2> for PerCluster {
    const NAMES: [&'static str; 2] = ["project_id", "cluster_name"];
    fn family(self) -> Family {
        Family::PerCluster(self)
    }
}

impl Labels<3> for TargetErrors {
    const NAMES: [&'static str; 3] = ["project_id", "cluster_name", "reason"];
    fn family(self) -> Family {
        Family::TargetErrors
    }
}

impl Labels<0> for Unlabelled {
    const NAMES: [&'static str; 0] = [];
    fn family(self) -> Family {
        Family::Unlabelled(self)
    }
}

impl Labels<1> for ApiSunset {
    const NAMES: [&'static str; 1] = ["endpoint"];
    fn family(self) -> Family {
        Family::ApiSunset
    }
}

impl Labels<2> for RateLimitRemaining {
    const NAMES: [&'static str; 2] = ["project_id", "endpoint"];
    fn family(self) -> Family {
        Family::RateLimitRemaining
    }
}

impl Labels<2> for SourceUp {
    const NAMES: [&'static str; 2] = ["project_id", "source"];
    fn family(self) -> Family {
        Family::SourceUp
    }
}

impl Labels<3> for BuildInfo {
    const NAMES: [&'static str; 3] = ["version", "revision", "rustc_version"];
    fn family(self) -> Family {
        Family::BuildInfo
    }
}

impl Labels<2> for ShardInfo {
    const NAMES: [&'static str; 2] = ["index", "count"];
    fn family(self) -> Family {
        Family::ShardInfo
    }
}

/// One family's name, HELP and type.
#[derive(Debug, Clone, Copy)]
struct FamilySpec {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    /// Read from a listing: the HELP says so.
    cached: bool,
}

const fn gauge(name: &'static str, help: &'static str) -> FamilySpec {
    FamilySpec {
        name,
        help,
        kind: MetricType::GAUGE,
        cached: false,
    }
}

const fn counter(name: &'static str, help: &'static str) -> FamilySpec {
    FamilySpec {
        name,
        help,
        kind: MetricType::COUNTER,
        cached: false,
    }
}

impl FamilySpec {
    /// The same family, read from a listing.
    const fn cached(self) -> FamilySpec {
        FamilySpec {
            cached: true,
            ..self
        }
    }

    /// The HELP text as exposed.
    fn full_help(&self) -> String {
        if self.cached {
            format!("{} {CACHED}", self.help)
        } else {
            self.help.to_owned()
        }
    }
}

impl Family {
    /// Every family, in the order their descriptions are registered.
    const ALL: [Family; 30] = [
        Family::ClusterInfo,
        Family::PerStatus(PerStatus::Snapshots),
        Family::PerStatus(PerStatus::LatestStatus),
        Family::PerCluster(PerCluster::LatestCompletedTimestamp),
        Family::PerCluster(PerCluster::LatestCompletedAge),
        Family::PerCluster(PerCluster::LatestCompletedDuration),
        Family::PerCluster(PerCluster::LatestCompletedSize),
        Family::PerCluster(PerCluster::OldestCompletedTimestamp),
        Family::PerCluster(PerCluster::Failures),
        Family::PerCluster(PerCluster::TargetUp),
        Family::PerCluster(PerCluster::TargetLastSuccess),
        Family::PerCluster(PerCluster::TargetPollDuration),
        Family::PerCluster(PerCluster::BackupEnabled),
        Family::PerCluster(PerCluster::Paused),
        Family::PerCluster(PerCluster::NextSnapshot),
        Family::PerCluster(PerCluster::PolicyInterval),
        Family::PerCluster(PerCluster::PolicyRetention),
        Family::PerCluster(PerCluster::PolicyRestoreWindow),
        Family::TargetErrors,
        Family::Unlabelled(Unlabelled::PollCycleDuration),
        Family::Unlabelled(Unlabelled::LastPollCycleTimestamp),
        Family::Unlabelled(Unlabelled::ConfigLastReloadSuccessful),
        Family::Unlabelled(Unlabelled::ConfigLastReloadSuccessTimestamp),
        Family::Unlabelled(Unlabelled::DiscoveryUp),
        Family::Unlabelled(Unlabelled::DiscoveryLastSuccess),
        Family::SourceUp,
        Family::ApiSunset,
        Family::RateLimitRemaining,
        Family::BuildInfo,
        Family::ShardInfo,
    ];

    /// The label names of this family's series.
    fn labels(self) -> &'static [&'static str] {
        match self {
            Family::ClusterInfo => &ClusterInfo::NAMES,
            Family::PerStatus(_) => &PerStatus::NAMES,
            Family::PerCluster(_) => &PerCluster::NAMES,
            Family::TargetErrors => &TargetErrors::NAMES,
            Family::Unlabelled(_) => &Unlabelled::NAMES,
            Family::ApiSunset => &ApiSunset::NAMES,
            Family::RateLimitRemaining => &RateLimitRemaining::NAMES,
            Family::BuildInfo => &BuildInfo::NAMES,
            Family::SourceUp => &SourceUp::NAMES,
            Family::ShardInfo => &ShardInfo::NAMES,
        }
    }

    /// The name, HELP and type of this family.
    fn spec(self) -> FamilySpec {
        match self {
            Family::ClusterInfo => gauge(
                "atlas_snapshot_cluster_info",
                "Always 1, for each configured or discovered cluster; kind is the backup API that serves it (auto until resolved); cluster_type is unknown until the cluster is read.",
            ),
            Family::PerStatus(PerStatus::Snapshots) => gauge(
                "atlas_snapshot_snapshots",
                "Snapshots in the latest listing, by status.",
            )
            .cached(),
            Family::PerStatus(PerStatus::LatestStatus) => gauge(
                "atlas_snapshot_latest_status",
                "1 for the status of the newest snapshot, 0 for the other four; absent when the listing is empty.",
            )
            .cached(),
            Family::PerCluster(PerCluster::LatestCompletedTimestamp) => gauge(
                "atlas_snapshot_latest_completed_timestamp_seconds",
                "Finish time of the newest COMPLETED snapshot, in Unix seconds; absent when there is none.",
            )
            .cached(),
            Family::PerCluster(PerCluster::LatestCompletedAge) => gauge(
                "atlas_snapshot_latest_completed_age_seconds",
                "Seconds between the scrape and the finish of the newest COMPLETED snapshot.",
            )
            .cached(),
            Family::PerCluster(PerCluster::LatestCompletedDuration) => gauge(
                "atlas_snapshot_latest_completed_duration_seconds",
                "Finish minus start of the newest COMPLETED snapshot (tenant and flex only).",
            )
            .cached(),
            Family::PerCluster(PerCluster::LatestCompletedSize) => gauge(
                "atlas_snapshot_latest_completed_size_bytes",
                "Stored size of the newest COMPLETED snapshot, where the API gives one (dedicated, legacy).",
            )
            .cached(),
            Family::PerCluster(PerCluster::OldestCompletedTimestamp) => gauge(
                "atlas_snapshot_oldest_completed_timestamp_seconds",
                "Finish time of the oldest COMPLETED snapshot still listed (the restore window), in Unix seconds.",
            )
            .cached(),
            Family::PerCluster(PerCluster::Failures) => counter(
                "atlas_snapshot_failures_total",
                "Distinct FAILED snapshot ids this process has seen.",
            )
            .cached(),
            Family::PerCluster(PerCluster::TargetUp) => gauge(
                "atlas_snapshot_target_up",
                "1 when the last poll of this cluster succeeded, else 0.",
            ),
            Family::PerCluster(PerCluster::TargetLastSuccess) => gauge(
                "atlas_snapshot_target_last_success_timestamp_seconds",
                "When a poll of this cluster last succeeded, in Unix seconds.",
            ),
            Family::PerCluster(PerCluster::TargetPollDuration) => gauge(
                "atlas_snapshot_target_poll_duration_seconds",
                "How long the last poll of this cluster took, all pages.",
            ),
            Family::PerCluster(PerCluster::BackupEnabled) => gauge(
                "atlas_snapshot_cluster_backup_enabled",
                "1 when the cluster's backups are switched on, 0 when off; absent until read. Read every discovery refresh interval.",
            ),
            Family::PerCluster(PerCluster::Paused) => gauge(
                "atlas_snapshot_cluster_paused",
                "1 for a paused cluster (it takes no snapshots), else 0; absent until read. Read every discovery refresh interval.",
            ),
            Family::PerCluster(PerCluster::NextSnapshot) => gauge(
                "atlas_snapshot_next_snapshot_timestamp_seconds",
                "When the backup schedule says the next snapshot is due (dedicated), in Unix seconds. Read every discovery refresh interval.",
            ),
            Family::PerCluster(PerCluster::PolicyInterval) => gauge(
                "atlas_snapshot_policy_interval_seconds",
                "The shortest interval between scheduled snapshots in the cluster's backup policy (flex: 86400). Read every discovery refresh interval.",
            ),
            Family::PerCluster(PerCluster::PolicyRetention) => gauge(
                "atlas_snapshot_policy_retention_seconds",
                "The longest retention in the cluster's backup policy (flex: 8 days). Read every discovery refresh interval.",
            ),
            Family::PerCluster(PerCluster::PolicyRestoreWindow) => gauge(
                "atlas_snapshot_policy_restore_window_seconds",
                "The continuous-backup restore window the policy asks for (restoreWindowDays). Read every discovery refresh interval.",
            ),
            Family::TargetErrors => counter(
                "atlas_snapshot_target_errors_total",
                "Failed polls of this cluster, by reason.",
            ),
            Family::Unlabelled(Unlabelled::PollCycleDuration) => gauge(
                "atlas_snapshot_exporter_poll_cycle_duration_seconds",
                "How long the last full poll cycle took.",
            ),
            Family::Unlabelled(Unlabelled::LastPollCycleTimestamp) => gauge(
                "atlas_snapshot_exporter_last_poll_cycle_timestamp_seconds",
                "When the last full poll cycle ended, in Unix seconds.",
            ),
            Family::Unlabelled(Unlabelled::ConfigLastReloadSuccessful) => gauge(
                "atlas_snapshot_exporter_config_last_reload_successful",
                "1 when the last config (re)load succeeded, else 0.",
            ),
            Family::Unlabelled(Unlabelled::ConfigLastReloadSuccessTimestamp) => gauge(
                "atlas_snapshot_exporter_config_last_reload_success_timestamp_seconds",
                "When the config was last loaded successfully, in Unix seconds.",
            ),
            Family::Unlabelled(Unlabelled::DiscoveryUp) => gauge(
                "atlas_snapshot_exporter_discovery_up",
                "1 when the last discovery refresh read every listing, else 0 (the last discovered clusters stay); absent while discovery is off.",
            ),
            Family::Unlabelled(Unlabelled::DiscoveryLastSuccess) => gauge(
                "atlas_snapshot_exporter_discovery_last_success_timestamp_seconds",
                "When a discovery refresh last read every listing, in Unix seconds.",
            ),
            Family::SourceUp => gauge(
                "atlas_snapshot_exporter_source_up",
                "1 when every read of this optional source (schedule) in this project answered at the last refresh, 0 when one did not (403 and the like).",
            ),
            Family::ApiSunset => gauge(
                "atlas_snapshot_exporter_api_sunset_timestamp_seconds",
                "The Sunset date Atlas announced for this endpoint's API version (media type), in Unix seconds; absent until a response carries Sunset.",
            ),
            Family::RateLimitRemaining => gauge(
                "atlas_snapshot_exporter_rate_limit_remaining",
                "The lowest Ratelimit-Remaining Atlas sent for this project and endpoint during the last finished poll cycle.",
            ),
            Family::BuildInfo => gauge(
                "atlas_snapshot_exporter_build_info",
                "Always 1; labels say which build is running.",
            ),
            Family::ShardInfo => gauge(
                "atlas_snapshot_exporter_shard_info",
                "Always 1; labels say which shard (index, from 0) of how many (count) this replica is: it polls and exports only the clusters assigned to it.",
            ),
        }
    }

    /// The description registered for this family.
    fn desc(self) -> prometheus::Result<Desc> {
        let spec = self.spec();
        Desc::new(
            spec.name.to_owned(),
            spec.full_help(),
            self.labels().iter().map(|l| (*l).to_owned()).collect(),
            HashMap::new(),
        )
    }
}

/// Builds the snapshot, target and exporter families from the published state at scrape time.
struct StateCollector {
    state: Arc<ArcSwap<ExporterState>>,
    reload: Arc<ArcSwap<ReloadStatus>>,
    clock: Arc<dyn Clock>,
    api: Arc<ApiMetrics>,
    descs: Vec<Desc>,
}

impl StateCollector {
    fn new(
        state: Arc<ArcSwap<ExporterState>>,
        reload: Arc<ArcSwap<ReloadStatus>>,
        clock: Arc<dyn Clock>,
        api: Arc<ApiMetrics>,
    ) -> prometheus::Result<StateCollector> {
        let descs = Family::ALL
            .into_iter()
            .map(Family::desc)
            .collect::<prometheus::Result<Vec<_>>>()?;
        Ok(StateCollector {
            state,
            reload,
            clock,
            api,
            descs,
        })
    }
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let state = self.state.load();
        let reload = **self.reload.load();
        let now = unix_seconds(self.clock.now());
        let mut out = Families::new(state.targets().len());

        let mut sources: BTreeMap<Arc<str>, bool> = BTreeMap::new();
        for t in state.targets() {
            write_target(&mut out, &t, now);
            if let Some(up) = t.schedule_up {
                *sources
                    .entry(Arc::clone(&t.target.project_id))
                    .or_insert(true) &= up;
            }
        }
        for (project, up) in &sources {
            out.push(SourceUp, [project, "schedule"], f64::from(u8::from(*up)));
        }
        if let Some(discovery) = state.discovery {
            out.push(
                Unlabelled::DiscoveryUp,
                [],
                f64::from(u8::from(discovery.up)),
            );
            if let Some(at) = discovery.last_success {
                out.push(Unlabelled::DiscoveryLastSuccess, [], unix_seconds(at));
            }
        }
        if let Some(cycle) = state.last_cycle {
            out.push(
                Unlabelled::PollCycleDuration,
                [],
                cycle.duration.as_secs_f64(),
            );
            out.push(
                Unlabelled::LastPollCycleTimestamp,
                [],
                unix_seconds(cycle.finished_at),
            );
        }
        out.push(
            Unlabelled::ConfigLastReloadSuccessful,
            [],
            f64::from(u8::from(reload.successful)),
        );
        out.push(
            Unlabelled::ConfigLastReloadSuccessTimestamp,
            [],
            unix_seconds(reload.last_success),
        );
        {
            let announced = self.api.lock_announced();
            for (operation, sunset) in &announced.sunsets {
                out.push(ApiSunset, [operation.as_str()], unix_seconds(*sunset));
            }
            for ((project, operation), remaining) in &announced.remaining_last_cycle {
                out.push(
                    RateLimitRemaining,
                    [project, operation.as_str()],
                    *remaining as f64,
                );
            }
        }
        out.push(
            BuildInfo,
            [
                build_info::VERSION,
                build_info::REVISION,
                build_info::RUSTC_VERSION,
            ],
            1.0,
        );
        out.push(
            ShardInfo,
            [
                state.shard.index().to_string().as_str(),
                state.shard.count().to_string().as_str(),
            ],
            1.0,
        );
        out.finish()
    }
}

fn write_target(out: &mut Families, t: &TargetState, now: f64) {
    let project = &*t.target.project_id;
    let cluster = &*t.target.cluster_name;
    let ids = [project, cluster];
    out.push(
        ClusterInfo,
        [
            project,
            t.target.project_name.as_deref().unwrap_or(""),
            cluster,
            t.kind().as_str(),
            ClusterType::label(t.facts.and_then(|f| f.cluster_type)),
        ],
        1.0,
    );
    if let Some(facts) = t.facts {
        out.push(
            PerCluster::BackupEnabled,
            ids,
            f64::from(u8::from(facts.backup_enabled)),
        );
        out.push(PerCluster::Paused, ids, f64::from(u8::from(facts.paused)));
    }
    if let Some(policy) = t.policy {
        if let Some(next) = policy.next_snapshot {
            out.push(PerCluster::NextSnapshot, ids, unix_seconds(next));
        }
        for (family, value) in [
            (PerCluster::PolicyInterval, policy.interval),
            (PerCluster::PolicyRetention, policy.retention),
            (PerCluster::PolicyRestoreWindow, policy.restore_window),
        ] {
            if let Some(value) = value {
                out.push(family, ids, value.as_secs_f64());
            }
        }
    }

    if let Some(backups) = &t.backups {
        let s = &backups.summary;
        for status in Status::ALL {
            out.push(
                PerStatus::Snapshots,
                [project, cluster, status.as_str()],
                s.count(status) as f64,
            );
        }
        if let Some(latest) = &s.latest {
            for status in Status::ALL {
                let v = if latest.status == Some(status) {
                    1.0
                } else {
                    0.0
                };
                out.push(
                    PerStatus::LatestStatus,
                    [project, cluster, status.as_str()],
                    v,
                );
            }
        }
        if let Some(c) = &s.latest_completed {
            if let Some(finished) = c.finished {
                let finished = unix_seconds(finished);
                out.push(PerCluster::LatestCompletedTimestamp, ids, finished);
                out.push(
                    PerCluster::LatestCompletedAge,
                    ids,
                    (now - finished).max(0.0),
                );
            }
            if let Some(d) = c.duration {
                out.push(PerCluster::LatestCompletedDuration, ids, d.as_secs_f64());
            }
            if let Some(size) = c.size_bytes {
                out.push(PerCluster::LatestCompletedSize, ids, size as f64);
            }
        }
        if let Some(oldest) = s.oldest_completed_finished {
            out.push(
                PerCluster::OldestCompletedTimestamp,
                ids,
                unix_seconds(oldest),
            );
        }
        out.push(PerCluster::Failures, ids, backups.failures_total as f64);
    }

    if let Some(up) = t.up() {
        out.push(PerCluster::TargetUp, ids, f64::from(u8::from(up)));
    }
    if let Some(at) = t.last_success {
        out.push(PerCluster::TargetLastSuccess, ids, unix_seconds(at));
    }
    if let Some(poll) = &t.last_poll {
        out.push(
            PerCluster::TargetPollDuration,
            ids,
            poll.duration.as_secs_f64(),
        );
    }
    for reason in Reason::ALL {
        out.push(
            TargetErrors,
            [project, cluster, reason.as_str()],
            t.errors(reason) as f64,
        );
    }
}

/// Families under construction: the series written so far, by family.
struct Families {
    /// Series per family to make room for: one per target for most.
    targets: usize,
    metrics: BTreeMap<Family, Vec<proto::Metric>>,
}

impl Families {
    fn new(targets: usize) -> Families {
        Families {
            targets,
            metrics: BTreeMap::new(),
        }
    }

    /// Adds one series. `values` has one value per label name of the family, by its type.
    fn push<const N: usize, F: Labels<N>>(&mut self, family: F, values: [&str; N], value: f64) {
        let labels = F::NAMES
            .into_iter()
            .zip(values)
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name(name.to_owned());
                pair.set_value(value.to_owned());
                pair
            })
            .collect();
        let family = family.family();
        let mut metric = proto::Metric::default();
        metric.set_label(labels);
        match family.spec().kind {
            MetricType::COUNTER => {
                let mut c = proto::Counter::default();
                c.set_value(value);
                metric.set_counter(c);
            }
            _ => {
                let mut g = proto::Gauge::default();
                g.set_value(value);
                metric.set_gauge(g);
            }
        }
        let targets = self.targets;
        self.metrics
            .entry(family)
            .or_insert_with(|| Vec::with_capacity(targets))
            .push(metric);
    }

    /// The families with at least one series.
    fn finish(self) -> Vec<MetricFamily> {
        self.metrics
            .into_iter()
            .map(|(family, metrics)| {
                let spec = family.spec();
                let mut mf = MetricFamily::default();
                mf.set_name(spec.name.to_owned());
                mf.set_help(spec.full_help());
                mf.set_field_type(spec.kind);
                mf.set_metric(metrics);
                mf
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeSet;

    use jiff::Timestamp;

    use super::*;
    use crate::atlas::{BackupApi, RateLimitHeaders};
    use crate::clock::FixedClock;
    use crate::state::{Backups, CycleReport, PollOutcome};
    use crate::summary::{ClusterSummary, CompletedSnapshot, LatestSnapshot};
    use crate::target::{Kind, Target};

    /// A target with every figure known: each family has at least one series for it.
    fn fully_known_state(now: Timestamp) -> ExporterState {
        let mut t = TargetState::new(Target {
            project_id: "5f3c9e2a1b4d6e7f80912a01".into(),
            project_name: Some("demo".into()),
            cluster_name: "Cluster0".into(),
            cluster_id: None,
            kind: Kind::Dedicated,
        });
        t.backups = Some(Backups {
            summary: Arc::new(ClusterSummary {
                api: BackupApi::Dedicated,
                by_status: [1; Status::COUNT],
                unknown_status: 0,
                latest: Some(LatestSnapshot {
                    id: "b".into(),
                    status: Some(Status::Completed),
                    status_text: "COMPLETED".into(),
                }),
                latest_completed: Some(CompletedSnapshot {
                    id: "b".into(),
                    finished: Some(now),
                    duration: Some(Duration::from_secs(90)),
                    size_bytes: Some(1 << 30),
                    copy_regions: None,
                }),
                oldest_completed_finished: Some(now),
                failed: Vec::new(),
                oldest_key: None,
            }),
            failures_total: 1,
        });
        t.last_poll = Some(PollOutcome {
            at: now,
            duration: Duration::from_millis(250),
            error: None,
        });
        t.last_success = Some(now);
        t.facts = Some(crate::facts::ClusterFacts {
            cluster_type: Some(ClusterType::ReplicaSet),
            paused: false,
            backup_enabled: true,
        });
        t.policy = Some(crate::facts::BackupPolicy {
            next_snapshot: Some(now),
            interval: Some(Duration::from_secs(21_600)),
            retention: Some(Duration::from_secs(7 * 86_400)),
            restore_window: Some(Duration::from_secs(2 * 86_400)),
            ..crate::facts::BackupPolicy::default()
        });
        t.schedule_up = Some(true);
        ExporterState::new(vec![t])
            .with_discovery(Some(crate::state::DiscoveryReport {
                up: true,
                last_success: Some(now),
            }))
            .with_cycle(
                Some(CycleReport {
                    finished_at: now,
                    duration: Duration::from_secs(1),
                }),
                true,
            )
    }

    /// Request metrics after one cycle whose responses announced a sunset and rate limits.
    fn api_after_a_cycle() -> Arc<ApiMetrics> {
        let api = Arc::new(ApiMetrics::new().unwrap());
        api.cycle_started();
        api.announced(
            Operation::DedicatedSnapshotsList,
            "5f3c9e2a1b4d6e7f80912a01",
            &Announcements {
                sunset: Some("2027-07-01T00:00:00Z".parse().unwrap()),
                deprecation: None,
                rate_limit: Some(RateLimitHeaders {
                    limit: Some(1200),
                    remaining: 1199,
                }),
            },
        );
        api.cycle_finished();
        api
    }

    fn collect_with(
        state: ExporterState,
        now: Timestamp,
        api: Arc<ApiMetrics>,
    ) -> Vec<MetricFamily> {
        let reload = ReloadStatus {
            successful: true,
            last_success: now,
        };
        StateCollector::new(
            Arc::new(ArcSwap::from_pointee(state)),
            Arc::new(ArcSwap::from_pointee(reload)),
            Arc::new(FixedClock(now)),
            api,
        )
        .unwrap()
        .collect()
    }

    fn collect(state: ExporterState, now: Timestamp) -> Vec<MetricFamily> {
        collect_with(state, now, api_after_a_cycle())
    }

    fn gauges(families: &[MetricFamily], name: &str) -> Vec<(Vec<String>, f64)> {
        families
            .iter()
            .filter(|mf| mf.name() == name)
            .flat_map(|mf| mf.get_metric())
            .map(|m| {
                let labels = m.get_label().iter().map(|l| l.value().to_owned()).collect();
                (labels, m.get_gauge().get_value())
            })
            .collect()
    }

    #[test]
    fn the_rate_limit_gauge_is_the_lowest_remaining_of_the_last_finished_cycle() {
        let now: Timestamp = "2026-11-22T03:00:00Z".parse().unwrap();
        let api = Arc::new(ApiMetrics::new().unwrap());
        let seen = |remaining| Announcements {
            rate_limit: Some(RateLimitHeaders {
                limit: Some(1200),
                remaining,
            }),
            ..Announcements::default()
        };
        let p = "5f3c9e2a1b4d6e7f80912a01";
        api.cycle_started();
        for remaining in [1199, 1150, 1180] {
            api.announced(Operation::FlexSnapshotsList, p, &seen(remaining));
        }
        api.announced(Operation::DedicatedSnapshotsList, p, &seen(900));
        let name = "atlas_snapshot_exporter_rate_limit_remaining";
        let during = collect_with(ExporterState::default(), now, Arc::clone(&api));
        assert!(
            gauges(&during, name).is_empty(),
            "nothing before a cycle ends"
        );
        api.cycle_finished();
        let after = collect_with(ExporterState::default(), now, Arc::clone(&api));
        assert_eq!(
            gauges(&after, name),
            vec![
                (vec![p.to_owned(), "list_flex_snapshots".to_owned()], 1150.0),
                (
                    vec![p.to_owned(), "list_dedicated_snapshots".to_owned()],
                    900.0
                ),
            ]
        );
        // The next cycle starts afresh: a higher remaining replaces the old low once it ends,
        // and an endpoint not called in it leaves.
        api.cycle_started();
        api.announced(Operation::FlexSnapshotsList, p, &seen(1190));
        let mid = collect_with(ExporterState::default(), now, Arc::clone(&api));
        assert_eq!(
            gauges(&mid, name).len(),
            2,
            "the last cycle stays until the next ends"
        );
        api.cycle_finished();
        let next = collect_with(ExporterState::default(), now, api);
        assert_eq!(
            gauges(&next, name),
            vec![(vec![p.to_owned(), "list_flex_snapshots".to_owned()], 1190.0)]
        );
    }

    #[test]
    fn every_family_has_a_name_of_its_own() {
        let names: BTreeSet<&str> = Family::ALL.iter().map(|f| f.spec().name).collect();
        assert_eq!(names.len(), Family::ALL.len());
    }

    #[test]
    fn a_fully_known_target_writes_every_family_and_no_other() {
        let now: Timestamp = "2026-11-22T03:00:00Z".parse().unwrap();
        let got: BTreeSet<String> = collect(fully_known_state(now), now)
            .iter()
            .map(|mf| mf.name().to_owned())
            .collect();
        let want: BTreeSet<String> = Family::ALL
            .iter()
            .map(|f| f.spec().name.to_owned())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn every_series_carries_the_label_names_its_family_describes() {
        let now: Timestamp = "2026-11-22T03:00:00Z".parse().unwrap();
        for mf in collect(fully_known_state(now), now) {
            let family = Family::ALL
                .into_iter()
                .find(|f| f.spec().name == mf.name())
                .unwrap();
            for metric in mf.get_metric() {
                let names: Vec<&str> = metric.get_label().iter().map(LabelPair::name).collect();
                assert_eq!(names, family.labels(), "{}", mf.name());
            }
        }
    }
}
