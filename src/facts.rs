//! What the exporter knows about a cluster besides its snapshots: its type, whether it is
//! paused, whether its backups are switched on, and the backup policy it is judged against.
//!
//! These are read once per refresh interval (`discovery.refresh_interval`), from the cluster
//! listings of discovery or one cluster GET per configured cluster, and from the backup
//! schedule of each dedicated cluster. They carry no credentials and know nothing of HTTP.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

/// The `clusterType` of a cluster, as `atlas_snapshot_cluster_info{cluster_type}` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterType {
    /// `REPLICASET`.
    ReplicaSet,
    /// `SHARDED`.
    Sharded,
    /// `GEOSHARDED` (a global cluster).
    Geosharded,
    /// A flex cluster: the flex API has no `clusterType`; the exporter names it `FLEX`.
    Flex,
}

impl ClusterType {
    /// The label value; `unknown` is what a cluster whose type was never read shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterType::ReplicaSet => "REPLICASET",
            ClusterType::Sharded => "SHARDED",
            ClusterType::Geosharded => "GEOSHARDED",
            ClusterType::Flex => "FLEX",
        }
    }

    /// The label value of an optional type: `unknown` when never read.
    pub fn label(cluster_type: Option<ClusterType>) -> &'static str {
        cluster_type.map_or("unknown", ClusterType::as_str)
    }

    /// Reads Atlas' `clusterType` string; `None` for a value this build does not know.
    pub fn from_atlas(s: &str) -> Option<ClusterType> {
        match s {
            "REPLICASET" => Some(ClusterType::ReplicaSet),
            "SHARDED" => Some(ClusterType::Sharded),
            "GEOSHARDED" => Some(ClusterType::Geosharded),
            "FLEX" => Some(ClusterType::Flex),
            _ => None,
        }
    }
}

impl fmt::Display for ClusterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cluster's state as its cluster resource describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterFacts {
    /// `clusterType`; `None` when the answer named a type this build does not know.
    pub cluster_type: Option<ClusterType>,
    /// `paused`: a paused cluster takes no snapshots.
    pub paused: bool,
    /// Dedicated: `backupEnabled`; flex: `backupSettings.enabled`.
    pub backup_enabled: bool,
}

/// The backup policy a cluster's snapshots are judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackupPolicy {
    /// When the schedule says the next snapshot is due (`nextSnapshot`).
    pub next_snapshot: Option<Timestamp>,
    /// The shortest interval between scheduled snapshots of any policy item.
    pub interval: Option<Duration>,
    /// The longest retention of any policy item.
    pub retention: Option<Duration>,
    /// The continuous-backup restore window the policy asks for (`restoreWindowDays`).
    pub restore_window: Option<Duration>,
    /// How many distinct regions the schedule copies snapshots to (`copySettings[].regionName`);
    /// `None` where the schedule has no `copySettings` (flex, Cloud Manager, Ops Manager).
    pub copy_regions: Option<u32>,
    /// How often snapshots are exported to the export bucket, when `autoExportEnabled` is on
    /// and `export.frequencyType` names a frequency this build knows; `None` otherwise.
    pub export_interval: Option<Duration>,
}

/// A day.
const DAY: Duration = Duration::from_secs(86_400);

impl BackupPolicy {
    /// This policy behind an `Arc`, as a target's state holds it: the flex policy, which every
    /// flex cluster has alike, is one `Arc` for all of them.
    pub fn shared(self) -> std::sync::Arc<BackupPolicy> {
        static FLEX: std::sync::OnceLock<std::sync::Arc<BackupPolicy>> = std::sync::OnceLock::new();
        if self == BackupPolicy::flex() {
            std::sync::Arc::clone(FLEX.get_or_init(|| std::sync::Arc::new(BackupPolicy::flex())))
        } else {
            std::sync::Arc::new(self)
        }
    }

    /// The fixed policy of every flex cluster: one snapshot a day, each kept 8 days.
    pub fn flex() -> BackupPolicy {
        BackupPolicy {
            next_snapshot: None,
            interval: Some(DAY),
            retention: Some(DAY * 8),
            restore_window: None,
            copy_regions: None,
            export_interval: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flex_cluster_shares_one_policy_and_others_have_their_own() {
        let a = BackupPolicy::flex().shared();
        let b = BackupPolicy::flex().shared();
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        let six_hourly = BackupPolicy {
            interval: Some(Duration::from_secs(21_600)),
            ..BackupPolicy::default()
        };
        let c = six_hourly.shared();
        assert_eq!(*c, six_hourly);
        assert!(!std::sync::Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn cluster_types_read_and_print_as_atlas_spells_them() {
        for t in [
            ClusterType::ReplicaSet,
            ClusterType::Sharded,
            ClusterType::Geosharded,
            ClusterType::Flex,
        ] {
            assert_eq!(ClusterType::from_atlas(t.as_str()), Some(t));
        }
        assert_eq!(ClusterType::from_atlas("replicaset"), None);
        assert_eq!(ClusterType::label(None), "unknown");
    }

    #[test]
    fn the_flex_policy_is_daily_with_eight_days_kept() {
        let p = BackupPolicy::flex();
        assert_eq!(p.interval, Some(Duration::from_secs(86_400)));
        assert_eq!(p.retention, Some(Duration::from_secs(8 * 86_400)));
    }
}
