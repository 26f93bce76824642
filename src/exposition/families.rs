//! The state families of /metrics: each one's name, HELP, type and label names, in one
//! exhaustive `match`, so no family exists without them.

/// Appended to the HELP of every metric read from a listing.
const CACHED: &str = "From a cache refreshed every poll interval.";

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A gauge.
    Gauge,
    /// A counter.
    Counter,
}

impl Kind {
    /// The word in the `# TYPE` line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// Every family the state collector writes, named for what it is.
///
/// Families are grouped by the labels their series carry. Each group is a type that implements
/// [`Labels`] with the number of its label names, so [`super::text::series`] takes exactly that
/// many label values: a count mismatch does not compile. The name, HELP and type of each family come
/// from one exhaustive `match` in [`Family::spec`], so no family exists without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
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
    /// `atlas_snapshot_export_jobs`.
    ExportJobs,
    /// `atlas_snapshot_atlas_alert_open`.
    AlertOpen,
}

/// `atlas_snapshot_atlas_alert_open`, labelled `{project_id, cluster_name, event_type}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlertOpen;

/// `atlas_snapshot_exporter_source_up`, labelled `{project_id, source}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SourceUp;

/// `atlas_snapshot_exporter_api_sunset_timestamp_seconds`, labelled `{endpoint}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiSunset;

/// `atlas_snapshot_exporter_rate_limit_remaining`, labelled `{project_id, endpoint}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateLimitRemaining;

/// Families labelled `{project_id, cluster_name, status}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PerStatus {
    /// `atlas_snapshot_snapshots`.
    Snapshots,
    /// `atlas_snapshot_latest_status`.
    LatestStatus,
    /// `atlas_snapshot_restore_jobs`.
    RestoreJobs,
}

/// Families labelled `{project_id, cluster_name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PerCluster {
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
    /// `atlas_snapshot_policy_copy_regions`.
    PolicyCopyRegions,
    /// `atlas_snapshot_policy_export_interval_seconds`.
    PolicyExportInterval,
    /// `atlas_snapshot_latest_completed_copy_regions`.
    LatestCompletedCopyRegions,
    /// `atlas_snapshot_restore_last_success_timestamp_seconds`.
    RestoreLastSuccess,
    /// `atlas_snapshot_restore_failures_total`.
    RestoreFailures,
    /// `atlas_snapshot_export_last_success_timestamp_seconds`.
    ExportLastSuccess,
    /// `atlas_snapshot_export_failures_total`.
    ExportFailures,
}

/// Families without labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Unlabelled {
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
pub(crate) struct BuildInfo;

/// `atlas_snapshot_exporter_shard_info`, labelled `{index, count}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShardInfo;

/// A family, or a group of families, whose series all carry the same `N` labels.
pub(crate) trait Labels<const N: usize>: Copy {
    /// The label names, in the order [`super::text::series`] takes the values.
    const NAMES: [&'static str; N];

    /// The family this is.
    fn family(self) -> Family;
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

impl Labels<3> for AlertOpen {
    const NAMES: [&'static str; 3] = ["project_id", "cluster_name", "event_type"];
    fn family(self) -> Family {
        Family::AlertOpen
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
pub(crate) struct FamilySpec {
    pub(crate) name: &'static str,
    help: &'static str,
    pub(crate) kind: Kind,
    /// Read from a listing: the HELP says so.
    cached: bool,
}

const fn gauge(name: &'static str, help: &'static str) -> FamilySpec {
    FamilySpec {
        name,
        help,
        kind: Kind::Gauge,
        cached: false,
    }
}

const fn counter(name: &'static str, help: &'static str) -> FamilySpec {
    FamilySpec {
        name,
        help,
        kind: Kind::Counter,
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
    pub(crate) fn full_help(&self) -> String {
        if self.cached {
            format!("{} {CACHED}", self.help)
        } else {
            self.help.to_owned()
        }
    }
}

impl Family {
    /// Every family, in the order their descriptions are registered.
    pub(crate) const ALL: [Family; 40] = [
        Family::ClusterInfo,
        Family::PerStatus(PerStatus::Snapshots),
        Family::PerStatus(PerStatus::LatestStatus),
        Family::PerStatus(PerStatus::RestoreJobs),
        Family::ExportJobs,
        Family::AlertOpen,
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
        Family::PerCluster(PerCluster::PolicyCopyRegions),
        Family::PerCluster(PerCluster::PolicyExportInterval),
        Family::PerCluster(PerCluster::LatestCompletedCopyRegions),
        Family::PerCluster(PerCluster::RestoreLastSuccess),
        Family::PerCluster(PerCluster::RestoreFailures),
        Family::PerCluster(PerCluster::ExportLastSuccess),
        Family::PerCluster(PerCluster::ExportFailures),
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
    #[cfg(test)]
    pub(crate) fn labels(self) -> &'static [&'static str] {
        match self {
            Family::ClusterInfo => &[
                "project_id",
                "project_name",
                "cluster_name",
                "kind",
                "cluster_type",
            ],
            Family::PerStatus(_) => &PerStatus::NAMES,
            Family::PerCluster(_) => &PerCluster::NAMES,
            Family::TargetErrors => &["project_id", "cluster_name", "reason"],
            Family::Unlabelled(_) => &Unlabelled::NAMES,
            Family::ApiSunset => &ApiSunset::NAMES,
            Family::RateLimitRemaining => &RateLimitRemaining::NAMES,
            Family::BuildInfo => &BuildInfo::NAMES,
            Family::SourceUp => &SourceUp::NAMES,
            Family::ShardInfo => &ShardInfo::NAMES,
            Family::ExportJobs => &["project_id", "cluster_name", "state"],
            Family::AlertOpen => &AlertOpen::NAMES,
        }
    }

    /// The name, HELP and type of this family.
    pub(crate) fn spec(self) -> FamilySpec {
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
            Family::PerStatus(PerStatus::RestoreJobs) => gauge(
                "atlas_snapshot_restore_jobs",
                "Restore jobs still listed, by status (dedicated jobs: FAILED, COMPLETED or RUNNING, from their flags; cancelled ones are not counted); absent until the listing is read. Read hourly.",
            ),
            Family::ExportJobs => gauge(
                "atlas_snapshot_export_jobs",
                "Snapshot export jobs still listed, by state; absent until the listing is read. Read hourly.",
            ),
            Family::AlertOpen => gauge(
                "atlas_snapshot_atlas_alert_open",
                "1 for each backup event type (CPS_*) with an open Atlas alert on this cluster (cluster_name empty when the alert names none). Read every poll interval, at most 15 minutes apart.",
            ),
            Family::PerCluster(PerCluster::PolicyCopyRegions) => gauge(
                "atlas_snapshot_policy_copy_regions",
                "Regions the backup policy copies snapshots to (copySettings; dedicated). Read every discovery refresh interval.",
            ),
            Family::PerCluster(PerCluster::PolicyExportInterval) => gauge(
                "atlas_snapshot_policy_export_interval_seconds",
                "The interval of the policy's automatic export to a bucket (export.frequencyType); absent when auto export is off. Read every discovery refresh interval.",
            ),
            Family::PerCluster(PerCluster::LatestCompletedCopyRegions) => gauge(
                "atlas_snapshot_latest_completed_copy_regions",
                "Distinct regions listed in copyRegions of the newest COMPLETED snapshot (dedicated).",
            )
            .cached(),
            Family::PerCluster(PerCluster::RestoreLastSuccess) => gauge(
                "atlas_snapshot_restore_last_success_timestamp_seconds",
                "Finish time of the newest successful restore job still listed, in Unix seconds. Read hourly.",
            ),
            Family::PerCluster(PerCluster::RestoreFailures) => counter(
                "atlas_snapshot_restore_failures_total",
                "Distinct failed restore job ids this process has seen. Read hourly.",
            ),
            Family::PerCluster(PerCluster::ExportLastSuccess) => gauge(
                "atlas_snapshot_export_last_success_timestamp_seconds",
                "Finish time of the newest Successful export job still listed, in Unix seconds. Read hourly.",
            ),
            Family::PerCluster(PerCluster::ExportFailures) => counter(
                "atlas_snapshot_export_failures_total",
                "Distinct Failed export job ids this process has seen. Read hourly.",
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
                "1 when every read of this optional source (alerts, exports, restores, schedule) in this project answered at its last refresh, 0 when one did not (403: the role is missing, and the source is not read again until a reload or for 24 hours).",
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
}
