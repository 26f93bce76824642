//! What the client reads besides snapshots: the projects a credential sees, the clusters of a
//! project (their tier, type, paused state and whether backups are on) and the backup schedule
//! of a dedicated cluster. Discovery and the cluster facts are built from these answers.
//!
//! Every listing here goes through the same page loop as the snapshot listings
//! (`AtlasClient::list_pages`): `itemsPerPage=500`, all pages, loop detection, the page cap
//! and `max_listing_items`; a project or cluster that cannot be read is left out and counted
//! under `skipped_items_total{reason}`, never failing the listing.
//!
//! Shapes, from the public spec (`openapi/v2.yaml`) and the Atlas CLI's recorded exchanges:
//! - `Group` (`GET /groups`, `GET /orgs/{orgId}/groups`, 2023-01-01): `id`, `name`, `orgId`,
//!   all required by the spec.
//! - `ClusterDescription20240805` (`GET /groups/{id}/clusters[/{name}]`, 2024-08-05): `name`,
//!   `clusterType`, `paused` (no default: absent is not paused), `backupEnabled` (spec default
//!   `false`), and the tier in `replicationSpecs[].regionConfigs[]` ([`Tier`]).
//! - `FlexClusterDescription20241113` (`GET /groups/{id}/flexClusters[/{name}]`, 2024-11-13):
//!   `name` and `backupSettings.enabled` (spec default `true`); a flex cluster cannot pause.
//! - `DiskBackupSnapshotSchedule20240805` (`GET …/clusters/{name}/backup/schedule`,
//!   2024-08-05): `nextSnapshot`, `policies[].policyItems[]`, `restoreWindowDays`,
//!   `copySettings[].regionName` (`DiskBackupCopySetting20240805`), `autoExportEnabled` and
//!   `export.frequencyType` (`AutoExportPolicyView`) ([`backup_policy_from_json`]).

use std::time::Duration;

use serde::Deserialize;

use super::budget::Pace;
use super::client::{AtlasClient, ListingRequest};
use super::endpoint::{
    BackupApi, MEDIA_TYPE_2023_01_01, MEDIA_TYPE_2024_08_05, MEDIA_TYPE_2024_11_13, Operation,
    USER_BUCKET, organization_bucket,
};
use super::error::AtlasError;
use super::wire::{Lenient, LenientList, ListItem, Loose, SkipReason};
use crate::facts::{BackupPolicy, ClusterFacts, ClusterType};
use crate::target::{ApiVersion, Kind};

/// A project (`Group` in the spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// 24 hex digits.
    pub id: String,
    /// The project's name.
    pub name: String,
    /// The organization it belongs to.
    pub org_id: String,
}

/// What backups a cluster can have, from its cluster description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// M0: Atlas keeps no backups of free clusters.
    Free,
    /// A flex cluster (also an M2/M5 shared cluster, which Atlas serves as flex now).
    Flex,
    /// Any other cluster: Cloud Backup (or legacy) snapshots.
    Dedicated,
}

impl Tier {
    /// The tier one region config shows: `Some` for a tenant or flex one, `None` for a
    /// dedicated one. `provider` is `providerName`; `instance_size` and `effective` are
    /// `electableSpecs.instanceSize` and `.effectiveInstanceSize` (the true tenant size when
    /// they differ, so it wins).
    pub fn of_region(
        provider: Option<&str>,
        instance_size: Option<&str>,
        effective: Option<&str>,
    ) -> Option<Tier> {
        match provider? {
            "FLEX" => Some(Tier::Flex),
            "TENANT" => match effective.or(instance_size)? {
                "M0" => Some(Tier::Free),
                "M2" | "M5" | "FLEX" => Some(Tier::Flex),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A cluster as a cluster listing or GET describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCluster {
    /// The cluster's name.
    pub name: String,
    /// What backups it can have.
    pub tier: Tier,
    /// Its type, paused state and backup switch.
    pub facts: ClusterFacts,
}

/// A `ClusterDescription20240805`, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawCluster {
    #[serde(default)]
    name: Loose,
    #[serde(default)]
    cluster_type: Loose,
    #[serde(default)]
    paused: Loose,
    #[serde(default)]
    backup_enabled: Loose,
    #[serde(default)]
    replication_specs: Option<LenientList<RawReplicationSpec>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReplicationSpec {
    #[serde(default)]
    region_configs: Option<LenientList<RawRegionConfig>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRegionConfig {
    #[serde(default)]
    provider_name: Loose,
    #[serde(default)]
    electable_specs: Option<Lenient<RawHardwareSpec>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHardwareSpec {
    #[serde(default)]
    instance_size: Loose,
    #[serde(default)]
    effective_instance_size: Loose,
}

/// The tier of a cluster description's `replicationSpecs`: the first tenant or flex region
/// config decides; a cluster without one is dedicated.
fn tier_of(specs: Option<LenientList<RawReplicationSpec>>) -> Result<Tier, SkipReason> {
    let specs = match specs {
        None => return Ok(Tier::Dedicated),
        Some(LenientList(None)) => return Err(SkipReason::BadItem),
        Some(LenientList(Some(specs))) => specs,
    };
    for spec in specs.into_iter().flatten() {
        let configs = match spec.region_configs {
            None => continue,
            Some(LenientList(None)) => return Err(SkipReason::BadItem),
            Some(LenientList(Some(configs))) => configs,
        };
        for config in configs.into_iter().flatten() {
            let (size, effective) = match config.electable_specs {
                Some(Lenient(Some(spec))) => (
                    spec.instance_size.string()?,
                    spec.effective_instance_size.string()?,
                ),
                Some(Lenient(None)) => return Err(SkipReason::BadItem),
                None => (None, None),
            };
            let provider = config.provider_name.string()?;
            if let Some(tier) =
                Tier::of_region(provider.as_deref(), size.as_deref(), effective.as_deref())
            {
                return Ok(tier);
            }
        }
    }
    Ok(Tier::Dedicated)
}

impl ListItem for ListedCluster {
    type Raw<'de> = RawCluster;

    fn from_raw(raw: RawCluster) -> Result<Self, SkipReason> {
        let cluster_type = raw
            .cluster_type
            .string()?
            .as_deref()
            .and_then(ClusterType::from_atlas);
        Ok(ListedCluster {
            name: raw.name.id()?,
            tier: tier_of(raw.replication_specs)?,
            facts: ClusterFacts {
                cluster_type,
                paused: raw.paused.boolean()?.unwrap_or(false),
                backup_enabled: raw.backup_enabled.boolean()?.unwrap_or(false),
            },
        })
    }

    fn id(&self) -> &str {
        &self.name
    }
}

/// A cluster from the flex API: its own item type, so the page loop decodes the flex shape.
struct FlexListed(ListedCluster);

/// A `FlexClusterDescription20241113`, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawFlexCluster {
    #[serde(default)]
    name: Loose,
    #[serde(default)]
    backup_settings: Option<Lenient<RawBackupSettings>>,
}

#[derive(Deserialize)]
struct RawBackupSettings {
    #[serde(default)]
    enabled: Loose,
}

impl ListItem for FlexListed {
    type Raw<'de> = RawFlexCluster;

    fn from_raw(raw: RawFlexCluster) -> Result<Self, SkipReason> {
        let backup_enabled = match raw.backup_settings {
            None => None,
            Some(Lenient(Some(settings))) => settings.enabled.boolean()?,
            Some(Lenient(None)) => return Err(SkipReason::BadItem),
        };
        Ok(FlexListed(ListedCluster {
            name: raw.name.id()?,
            tier: Tier::Flex,
            facts: ClusterFacts {
                cluster_type: Some(ClusterType::Flex),
                paused: false,
                backup_enabled: backup_enabled.unwrap_or(true),
            },
        }))
    }

    fn id(&self) -> &str {
        &self.0.name
    }
}

/// A `Group`, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawProject {
    #[serde(default)]
    id: Loose,
    #[serde(default)]
    name: Loose,
    #[serde(default)]
    org_id: Loose,
}

impl ListItem for Project {
    type Raw<'de> = RawProject;

    fn from_raw(raw: RawProject) -> Result<Self, SkipReason> {
        Ok(Project {
            id: raw.id.id()?,
            name: raw.name.string()?.ok_or(SkipReason::BadItem)?,
            org_id: raw.org_id.string()?.ok_or(SkipReason::BadItem)?,
        })
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// A `DiskBackupSnapshotSchedule20240805`, read leniently.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSchedule {
    #[serde(default)]
    next_snapshot: Loose,
    #[serde(default)]
    policies: Option<LenientList<RawPolicy>>,
    #[serde(default)]
    restore_window_days: Loose,
    #[serde(default)]
    copy_settings: Option<LenientList<RawCopySetting>>,
    #[serde(default)]
    auto_export_enabled: Loose,
    #[serde(default)]
    export: Option<Lenient<RawExport>>,
}

/// A `DiskBackupCopySetting20240805`: only the region matters here (its `zoneId`,
/// `frequencies`/`copyPolicyItems` and `shouldCopyOplogs` say what is copied, not where).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCopySetting {
    #[serde(default)]
    region_name: Loose,
}

/// An `AutoExportPolicyView`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExport {
    #[serde(default)]
    frequency_type: Loose,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPolicy {
    #[serde(default)]
    policy_items: Option<LenientList<RawPolicyItem>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPolicyItem {
    #[serde(default)]
    frequency_type: Loose,
    #[serde(default)]
    frequency_interval: Loose,
    #[serde(default)]
    retention_unit: Loose,
    #[serde(default)]
    retention_value: Loose,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// How often a policy item takes a snapshot, rounded up so that staleness never fires early:
/// hourly every `frequencyInterval` hours; daily every `frequencyInterval` days (it is 1);
/// weekly every 7 days and monthly every 31, whatever `frequencyInterval` says (there it names
/// the weekday, 1 Monday to 7 Sunday, or the day of the month, 40 the last: the spec's
/// `DiskBackupApiPolicyItem`); yearly every 366 days. `None`: a type this build does not know
/// (`ondemand` included), or an hourly item without an interval.
fn item_interval(frequency_type: &str, frequency_interval: Option<u64>) -> Option<Duration> {
    let seconds = match frequency_type {
        "hourly" => frequency_interval.filter(|&n| n > 0)?.checked_mul(HOUR)?,
        "daily" => frequency_interval
            .filter(|&n| n > 0)
            .unwrap_or(1)
            .checked_mul(DAY)?,
        "weekly" => 7 * DAY,
        "monthly" => 31 * DAY,
        "yearly" => 366 * DAY,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

/// How long a policy item keeps its snapshots, rounded down so that the restore-window check
/// never fires early: days 1 day, weeks 7, months 30, years 365. `None` for a unit this build
/// does not know.
fn item_retention(unit: &str, value: u64) -> Option<Duration> {
    let day_count = match unit {
        "days" => 1,
        "weeks" => 7,
        "months" => 30,
        "years" => 365,
        _ => return None,
    };
    value
        .checked_mul(day_count)?
        .checked_mul(DAY)
        .map(Duration::from_secs)
}

/// Reads a backup schedule body into the policy its snapshots are judged against:
/// `nextSnapshot`; the shortest interval and the longest retention over every item of every
/// policy (items of an unknown `frequencyType` are left out, and logged at debug);
/// `restoreWindowDays` as days. A schedule without policy items has no interval or retention.
pub fn backup_policy_from_json(body: &[u8]) -> Result<BackupPolicy, AtlasError> {
    let raw: RawSchedule = decode_object(body, "backup schedule")?;
    let next_snapshot = raw.next_snapshot.time().map_err(|_| {
        AtlasError::Decode("the backup schedule's nextSnapshot is not a date".into())
    })?;
    let restore_window = raw
        .restore_window_days
        .unsigned()
        .ok()
        .flatten()
        .filter(|&days| days > 0)
        .and_then(|days| days.checked_mul(DAY))
        .map(Duration::from_secs);
    let mut policy = BackupPolicy {
        next_snapshot,
        interval: None,
        retention: None,
        restore_window,
        copy_regions: copy_region_count(raw.copy_settings),
        export_interval: export_interval(raw.auto_export_enabled, raw.export),
    };
    let policies = match raw.policies {
        Some(LenientList(Some(policies))) => policies,
        _ => Vec::new(),
    };
    let items = policies
        .into_iter()
        .flatten()
        .filter_map(|p| match p.policy_items {
            Some(LenientList(Some(items))) => Some(items),
            _ => None,
        })
        .flatten()
        .flatten();
    for item in items {
        let Ok(Some(frequency_type)) = item.frequency_type.string() else {
            tracing::debug!("left out a backup policy item without a frequencyType");
            continue;
        };
        let interval = item_interval(
            &frequency_type,
            item.frequency_interval.unsigned().ok().flatten(),
        );
        if interval.is_none() && !is_known_frequency(&frequency_type) {
            tracing::debug!(
                frequency_type,
                "left out a backup policy item of a frequency type this build does not know"
            );
            continue;
        }
        if let Some(interval) = interval {
            policy.interval = Some(policy.interval.map_or(interval, |i| i.min(interval)));
        }
        let retention = match (
            item.retention_unit.string(),
            item.retention_value.unsigned(),
        ) {
            (Ok(Some(unit)), Ok(Some(value))) => item_retention(&unit, value),
            _ => None,
        };
        if let Some(retention) = retention {
            policy.retention = Some(policy.retention.map_or(retention, |r| r.max(retention)));
        }
    }
    Ok(policy)
}

/// The distinct `regionName`s of `copySettings` (a global cluster copies each zone to a region,
/// so two settings can name one region): `Some(0)` for `[]`, `None` when the schedule sends no
/// list. A setting without a region names none.
fn copy_region_count(settings: Option<LenientList<RawCopySetting>>) -> Option<u32> {
    let Some(LenientList(Some(settings))) = settings else {
        return None;
    };
    let regions: std::collections::HashSet<String> = settings
        .into_iter()
        .flatten()
        .filter_map(|s| s.region_name.string().ok().flatten())
        .filter(|r| !r.is_empty())
        .collect();
    Some(u32::try_from(regions.len()).unwrap_or(u32::MAX))
}

/// How often auto export runs: only when `autoExportEnabled` is true, from
/// `export.frequencyType` as [`item_interval`] reads a policy item's (rounded up). The spec's
/// `AutoExportPolicyView` enum says `monthly | yearly`; the Atlas CLI's
/// `backups schedule update --exportFrequencyType` offers daily, weekly and monthly: all four
/// are read. Any other value, or none, is `None`.
fn export_interval(enabled: Loose, export: Option<Lenient<RawExport>>) -> Option<Duration> {
    if enabled.boolean().ok().flatten() != Some(true) {
        return None;
    }
    let Some(Lenient(Some(export))) = export else {
        return None;
    };
    let frequency_type = export.frequency_type.string().ok().flatten()?;
    item_interval(&frequency_type, None)
}

fn is_known_frequency(frequency_type: &str) -> bool {
    matches!(
        frequency_type,
        "hourly" | "daily" | "weekly" | "monthly" | "yearly"
    )
}

impl AtlasClient {
    /// `GET /api/atlas/v2/groups` (`organization` `None`: every project the credential reads)
    /// or `GET /api/atlas/v2/orgs/{orgId}/groups`, all pages, 2023-01-01. The requests take
    /// their tokens from the bucket [`USER_BUCKET`] or [`organization_bucket`], never a
    /// project's.
    pub async fn list_projects(
        &self,
        organization: Option<&str>,
        pace: &Pace,
    ) -> Result<Vec<Project>, AtlasError> {
        let (operation, bucket, url) = match organization {
            None => (
                Operation::ProjectsList,
                USER_BUCKET.to_owned(),
                self.api_url(ApiVersion::V2, &["groups"])?,
            ),
            Some(org) => (
                Operation::OrganizationProjectsList,
                organization_bucket(org),
                self.api_url(ApiVersion::V2, &["orgs", org, "groups"])?,
            ),
        };
        let request = ListingRequest {
            operation,
            bucket: &bucket,
            url,
            accept: MEDIA_TYPE_2023_01_01,
            paged: true,
            items: "projects",
        };
        let mut all = Vec::new();
        self.list_pages::<Project>(&request, pace, &mut |v| all.extend(v))
            .await?;
        Ok(all)
    }

    /// `GET /api/atlas/v2/groups/{id}/clusters`, all pages, 2024-08-05: every cluster the
    /// cluster API lists, M0 and (where Atlas still lists them here) flex ones included.
    pub async fn list_clusters(
        &self,
        project_id: &str,
        pace: &Pace,
    ) -> Result<Vec<ListedCluster>, AtlasError> {
        let request = ListingRequest {
            operation: Operation::ClustersList,
            bucket: project_id,
            url: self.api_url(ApiVersion::V2, &["groups", project_id, "clusters"])?,
            accept: MEDIA_TYPE_2024_08_05,
            paged: true,
            items: "clusters",
        };
        let mut all = Vec::new();
        self.list_pages::<ListedCluster>(&request, pace, &mut |v| all.extend(v))
            .await?;
        Ok(all)
    }

    /// `GET /api/atlas/v2/groups/{id}/flexClusters`, all pages, 2024-11-13: every flex
    /// cluster (tier flex, cluster type `FLEX`).
    pub async fn list_flex_clusters(
        &self,
        project_id: &str,
        pace: &Pace,
    ) -> Result<Vec<ListedCluster>, AtlasError> {
        let request = ListingRequest {
            operation: Operation::FlexClustersList,
            bucket: project_id,
            url: self.api_url(ApiVersion::V2, &["groups", project_id, "flexClusters"])?,
            accept: MEDIA_TYPE_2024_11_13,
            paged: true,
            items: "clusters",
        };
        let mut all = Vec::new();
        self.list_pages::<FlexListed>(&request, pace, &mut |v| {
            all.extend(v.into_iter().map(|c| c.0))
        })
        .await?;
        Ok(all)
    }

    /// `GET /api/atlas/v2/groups/{id}/clusters/{name}`, 2024-08-05.
    pub async fn get_cluster(
        &self,
        project_id: &str,
        name: &str,
        pace: &Pace,
    ) -> Result<ListedCluster, AtlasError> {
        let url = self.api_url(ApiVersion::V2, &["groups", project_id, "clusters", name])?;
        let body = self
            .fetch(
                Operation::ClusterGet,
                project_id,
                &url,
                MEDIA_TYPE_2024_08_05,
                pace,
            )
            .await?;
        decode_one::<ListedCluster>(&body, "cluster")
    }

    /// `GET /api/atlas/v2/groups/{id}/flexClusters/{name}`, 2024-11-13.
    pub async fn get_flex_cluster(
        &self,
        project_id: &str,
        name: &str,
        pace: &Pace,
    ) -> Result<ListedCluster, AtlasError> {
        let url = self.api_url(
            ApiVersion::V2,
            &["groups", project_id, "flexClusters", name],
        )?;
        let body = self
            .fetch(
                Operation::FlexClusterGet,
                project_id,
                &url,
                MEDIA_TYPE_2024_11_13,
                pace,
            )
            .await?;
        decode_one::<FlexListed>(&body, "flex cluster").map(|c| c.0)
    }

    /// One cluster for a configured kind: flex from `GET …/flexClusters/{name}`; dedicated,
    /// tenant and legacy from `GET …/clusters/{name}`. `auto` resolves as the snapshot listing
    /// does ([`AtlasClient::list_for_kind_paced`]): `known` first, else flex (dedicated only
    /// where there is no flex API, Atlas for Government), and the other endpoint on the
    /// answers [`BackupApi::auto_fallback`] names. Returns the API that answered.
    pub async fn get_cluster_for_kind(
        &self,
        kind: Kind,
        known: Option<BackupApi>,
        project_id: &str,
        name: &str,
        pace: &Pace,
    ) -> (Option<BackupApi>, Result<ListedCluster, AtlasError>) {
        self.for_kind(kind, known, |api| async move {
            match api {
                BackupApi::Flex => self.get_flex_cluster(project_id, name, pace).await,
                BackupApi::Tenant | BackupApi::Dedicated | BackupApi::Legacy => {
                    self.get_cluster(project_id, name, pace).await
                }
            }
        })
        .await
    }

    /// `GET /api/atlas/v2/groups/{id}/clusters/{name}/backup/schedule`, 2024-08-05, read by
    /// [`backup_policy_from_json`].
    pub async fn get_backup_policy(
        &self,
        project_id: &str,
        name: &str,
        pace: &Pace,
    ) -> Result<BackupPolicy, AtlasError> {
        let url = self.api_url(
            ApiVersion::V2,
            &["groups", project_id, "clusters", name, "backup", "schedule"],
        )?;
        let body = self
            .fetch(
                Operation::BackupScheduleGet,
                project_id,
                &url,
                MEDIA_TYPE_2024_08_05,
                pace,
            )
            .await?;
        backup_policy_from_json(&body)
    }
}

/// Reads a body that must be one JSON object into its lenient shape.
pub(super) fn decode_object<'de, R: Deserialize<'de>>(
    body: &'de [u8],
    what: &str,
) -> Result<R, AtlasError> {
    match serde_json::from_slice::<Lenient<R>>(body) {
        Ok(Lenient(Some(raw))) => Ok(raw),
        Ok(Lenient(None)) => Err(AtlasError::Decode(format!(
            "the {what} is not a JSON object"
        ))),
        Err(e) => Err(AtlasError::Decode(format!("the {what}: {e}"))),
    }
}

/// Reads a single resource with the lenient shape of its listing items.
pub(super) fn decode_one<T: ListItem>(body: &[u8], what: &str) -> Result<T, AtlasError> {
    let raw: T::Raw<'_> = decode_object(body, what)?;
    T::from_raw(raw)
        .map_err(|reason| AtlasError::Decode(format!("the {what} could not be read ({reason})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::wire::{DecodedPage, decode_page};
    use jiff::Timestamp;

    fn page<T: ListItem>(json: &str) -> DecodedPage<T> {
        match decode_page(json.as_bytes(), 1000) {
            Ok(page) => page,
            Err(e) => panic!("{e:?}"),
        }
    }

    fn one_cluster(json: &str) -> ListedCluster {
        match decode_one::<ListedCluster>(json.as_bytes(), "cluster") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn region(provider: &str, specs: &str) -> String {
        format!(
            r#"{{"name":"c1","clusterType":"REPLICASET","replicationSpecs":[{{"regionConfigs":[{{"providerName":"{provider}","electableSpecs":{specs}}}]}}]}}"#
        )
    }

    #[test]
    fn tiers_follow_the_region_configs() {
        let tier = |json: String| one_cluster(&json).tier;
        assert_eq!(
            tier(region(
                "TENANT",
                r#"{"effectiveInstanceSize":"M0","instanceSize":"M0","diskSizeGB":0.5}"#
            )),
            Tier::Free
        );
        assert_eq!(
            tier(region("TENANT", r#"{"instanceSize":"M2"}"#)),
            Tier::Flex
        );
        assert_eq!(
            tier(region(
                "TENANT",
                r#"{"instanceSize":"M5","effectiveInstanceSize":"FLEX"}"#
            )),
            Tier::Flex
        );
        assert_eq!(
            tier(region("FLEX", r#"{"instanceSize":"FLEX"}"#)),
            Tier::Flex
        );
        assert_eq!(
            tier(region(
                "AWS",
                r#"{"instanceSize":"M10","diskIOPS":3000,"nodeCount":3}"#
            )),
            Tier::Dedicated
        );
        assert_eq!(
            tier(region("AZURE", r#"{"instanceSize":"M90","nodeCount":3}"#)),
            Tier::Dedicated
        );
        assert_eq!(
            tier(r#"{"name":"c1","clusterType":"SHARDED"}"#.into()),
            Tier::Dedicated
        );
    }

    #[test]
    fn the_effective_tenant_size_wins_over_the_requested_one() {
        assert_eq!(
            Tier::of_region(Some("TENANT"), Some("M2"), Some("M0")),
            Some(Tier::Free)
        );
        assert_eq!(
            Tier::of_region(Some("TENANT"), Some("M0"), Some("FLEX")),
            Some(Tier::Flex)
        );
        assert_eq!(Tier::of_region(Some("GCP"), Some("M10"), None), None);
        assert_eq!(Tier::of_region(None, Some("M0"), None), None);
    }

    #[test]
    fn a_cluster_description_gives_type_paused_and_backup_with_the_spec_defaults() {
        let c = one_cluster(
            r#"{"name":"c1","clusterType":"GEOSHARDED","paused":true,"backupEnabled":true}"#,
        );
        assert_eq!(
            c.facts,
            ClusterFacts {
                cluster_type: Some(ClusterType::Geosharded),
                paused: true,
                backup_enabled: true,
            }
        );
        let c = one_cluster(r#"{"name":"c1","clusterType":"SOMETHING_NEW"}"#);
        assert_eq!(
            c.facts,
            ClusterFacts {
                cluster_type: None,
                paused: false,
                backup_enabled: false,
            }
        );
    }

    const CLUSTERS_PAGE: &str =
        include_str!("../../tests/testdata/atlas/clusters_page_2024_08_05.json");
    const FLEX_CLUSTERS_PAGE: &str =
        include_str!("../../tests/testdata/atlas/flex_clusters_page.json");
    const GROUPS_PAGE: &str = include_str!("../../tests/testdata/atlas/groups_page.json");
    const SCHEDULE: &str =
        include_str!("../../tests/testdata/atlas/backup_schedule_2024_08_05.json");

    #[test]
    fn the_clusters_page_decodes_a_sharded_an_m0_and_an_azure_cluster() {
        let page = page::<ListedCluster>(CLUSTERS_PAGE);
        let got: Vec<(&str, Tier, Option<ClusterType>, bool, bool)> = page
            .results
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.tier,
                    c.facts.cluster_type,
                    c.facts.paused,
                    c.facts.backup_enabled,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "orders-sharded",
                    Tier::Dedicated,
                    Some(ClusterType::Sharded),
                    false,
                    true
                ),
                (
                    "sandbox",
                    Tier::Free,
                    Some(ClusterType::ReplicaSet),
                    false,
                    false
                ),
                (
                    "reports-azure",
                    Tier::Dedicated,
                    Some(ClusterType::ReplicaSet),
                    true,
                    false
                ),
            ]
        );
        assert_eq!(page.total_count, Some(3));
        assert!(!page.has_next);
    }

    #[test]
    fn the_flex_clusters_page_decodes_with_backups_on() {
        let page = page::<FlexListed>(FLEX_CLUSTERS_PAGE);
        assert!(!page.results.is_empty());
        for FlexListed(c) in &page.results {
            assert_eq!(c.tier, Tier::Flex);
            assert_eq!(c.facts.cluster_type, Some(ClusterType::Flex));
            assert!(!c.facts.paused);
        }
    }

    #[test]
    fn flex_backups_are_on_unless_backup_settings_say_otherwise() {
        let flex = |json: &str| match decode_one::<FlexListed>(json.as_bytes(), "flex cluster") {
            Ok(FlexListed(c)) => c.facts.backup_enabled,
            Err(e) => panic!("{e}"),
        };
        assert!(flex(r#"{"name":"f1"}"#));
        assert!(flex(r#"{"name":"f1","backupSettings":{}}"#));
        assert!(!flex(r#"{"name":"f1","backupSettings":{"enabled":false}}"#));
        assert!(decode_one::<FlexListed>(br#"{"name":"f1","backupSettings":true}"#, "x").is_err());
    }

    #[test]
    fn the_groups_page_decodes_projects() {
        let page = page::<Project>(GROUPS_PAGE);
        assert!(!page.results.is_empty());
        assert!(
            page.results
                .iter()
                .all(|p| p.id.len() == 24 && !p.org_id.is_empty())
        );
    }

    #[test]
    fn a_project_or_cluster_that_cannot_be_read_is_left_out_and_counted() {
        let projects = page::<Project>(
            r#"{"results":[
              {"id":"5b69d0349b15c62cdfc38b78","name":"prod","orgId":"5b69d0349b15c62cdfc38b70"},
              {"name":"no id","orgId":"5b69d0349b15c62cdfc38b70"},
              {"id":"5b69d0349b15c62cdfc38b79","orgId":"5b69d0349b15c62cdfc38b70"},
              "not a project"
            ]}"#,
        );
        assert_eq!(projects.results.len(), 1);
        assert_eq!(projects.skipped[SkipReason::MissingId.index()], 1);
        assert_eq!(projects.skipped[SkipReason::BadItem.index()], 2);
        let clusters = page::<ListedCluster>(
            r#"{"results":[
              {"name":"ok","clusterType":"REPLICASET"},
              {"clusterType":"REPLICASET"},
              {"name":"bad paused","paused":"yes"},
              {"name":"bad specs","replicationSpecs":{"not":"a list"}}
            ]}"#,
        );
        let names: Vec<&str> = clusters.results.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ok"]);
        assert_eq!(clusters.skipped[SkipReason::MissingId.index()], 1);
        assert_eq!(clusters.skipped[SkipReason::BadItem.index()], 2);
    }

    fn policy(items: &str) -> BackupPolicy {
        let json = format!(r#"{{"policies":[{{"id":"p","policyItems":[{items}]}}]}}"#);
        match backup_policy_from_json(json.as_bytes()) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    fn item(frequency: &str, interval: u64, unit: &str, value: u64) -> String {
        format!(
            r#"{{"frequencyType":"{frequency}","frequencyInterval":{interval},"retentionUnit":"{unit}","retentionValue":{value}}}"#
        )
    }

    #[test]
    fn intervals_are_the_shortest_item_rounded_up() {
        let secs = |p: BackupPolicy| p.interval.map(|d| d.as_secs());
        assert_eq!(secs(policy(&item("hourly", 6, "days", 2))), Some(21_600));
        assert_eq!(secs(policy(&item("daily", 1, "days", 7))), Some(86_400));
        assert_eq!(
            secs(policy(&item("weekly", 6, "weeks", 4))),
            Some(7 * 86_400)
        );
        assert_eq!(
            secs(policy(&item("monthly", 40, "months", 12))),
            Some(31 * 86_400)
        );
        assert_eq!(
            secs(policy(&item("yearly", 12, "years", 1))),
            Some(366 * 86_400)
        );
        let mixed = [
            item("weekly", 1, "weeks", 4),
            item("daily", 1, "days", 7),
            item("hourly", 12, "days", 2),
        ]
        .join(",");
        assert_eq!(secs(policy(&mixed)), Some(12 * 3600));
    }

    #[test]
    fn retention_is_the_longest_item_rounded_down() {
        let days = |p: BackupPolicy| p.retention.map(|d| d.as_secs() / 86_400);
        let mixed = [
            item("hourly", 6, "days", 7),
            item("weekly", 1, "weeks", 4),
            item("monthly", 1, "months", 12),
        ]
        .join(",");
        assert_eq!(days(policy(&mixed)), Some(360));
        let with_yearly = [item("daily", 1, "days", 400), item("yearly", 1, "years", 1)].join(",");
        assert_eq!(days(policy(&with_yearly)), Some(400));
    }

    #[test]
    fn an_empty_policy_has_no_interval_or_retention() {
        for json in [
            r#"{"policies":[]}"#,
            r#"{"policies":[{"policyItems":[]}]}"#,
            "{}",
        ] {
            let p = backup_policy_from_json(json.as_bytes()).unwrap();
            assert_eq!(p.interval, None, "{json}");
            assert_eq!(p.retention, None, "{json}");
        }
    }

    #[test]
    fn unknown_frequency_types_are_ignored() {
        let items = [
            item("ondemand", 1, "days", 90),
            item("fortnightly", 1, "years", 5),
            item("daily", 1, "days", 7),
        ]
        .join(",");
        let p = policy(&items);
        assert_eq!(p.interval, Some(Duration::from_secs(86_400)));
        assert_eq!(p.retention, Some(Duration::from_secs(7 * 86_400)));
    }

    #[test]
    fn the_recorded_schedule_shape_decodes() {
        let p = backup_policy_from_json(SCHEDULE.as_bytes()).unwrap();
        assert_eq!(
            p.next_snapshot,
            Some("2026-11-22T09:16:07Z".parse::<Timestamp>().unwrap())
        );
        assert_eq!(p.interval, Some(Duration::from_secs(6 * 3600)));
        assert_eq!(p.retention, Some(Duration::from_secs(365 * 86_400)));
        assert_eq!(p.restore_window, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(p.copy_regions, Some(0));
        assert_eq!(p.export_interval, None);
    }

    fn schedule(extra: &str) -> BackupPolicy {
        let json = format!(r#"{{"policies":[]{extra}}}"#);
        match backup_policy_from_json(json.as_bytes()) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn copy_settings_count_their_distinct_regions() {
        let p = schedule(
            r#","copySettings":[
              {"cloudProvider":"AWS","regionName":"US_WEST_2","zoneId":"32b6e34b3d91647abb20e7b8","frequencies":["DAILY"],"shouldCopyOplogs":true},
              {"cloudProvider":"AWS","regionName":"EU_WEST_1","zoneId":"32b6e34b3d91647abb20e7b8","frequencies":["DAILY"],"shouldCopyOplogs":false},
              {"cloudProvider":"AWS","regionName":"US_WEST_2","zoneId":"32b6e34b3d91647abb20e7b9"},
              {"cloudProvider":"AWS","zoneId":"32b6e34b3d91647abb20e7b9"},
              "not a setting"
            ]"#,
        );
        assert_eq!(p.copy_regions, Some(2));
        assert_eq!(schedule("").copy_regions, None);
        assert_eq!(schedule(r#","copySettings":null"#).copy_regions, None);
        assert_eq!(
            schedule(r#","copySettings":"US_WEST_2""#).copy_regions,
            None
        );
    }

    #[test]
    fn auto_export_gives_an_interval_only_when_enabled_with_a_known_frequency() {
        let export = |enabled: &str, frequency: &str| {
            schedule(&format!(
                r#","autoExportEnabled":{enabled},"export":{{"exportBucketId":"32b6e34b3d91647abb20e7b8","frequencyType":"{frequency}"}}"#
            ))
            .export_interval
        };
        let days = |n: u64| Some(Duration::from_secs(n * 86_400));
        assert_eq!(export("true", "monthly"), days(31));
        assert_eq!(export("true", "yearly"), days(366));
        assert_eq!(export("true", "weekly"), days(7));
        assert_eq!(export("true", "daily"), days(1));
        assert_eq!(export("true", "fortnightly"), None);
        assert_eq!(export("false", "monthly"), None);
        assert_eq!(export("\"yes\"", "monthly"), None);
        assert_eq!(
            schedule(r#","autoExportEnabled":true"#).export_interval,
            None
        );
    }

    #[test]
    fn a_schedule_with_a_bad_next_snapshot_is_a_decode_error() {
        assert!(matches!(
            backup_policy_from_json(br#"{"nextSnapshot":"tomorrow","policies":[]}"#),
            Err(AtlasError::Decode(_))
        ));
        assert!(backup_policy_from_json(b"[]").is_err());
    }
}
