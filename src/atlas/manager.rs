//! Cloud Manager and Ops Manager (`atlas.flavor: cloud_manager | ops_manager`): the legacy
//! snapshot API under `/api/public/v1.0`, where a cluster is addressed by its 24-hex id, and
//! the reads its cluster facts and backup policy come from.
//!
//! Paths and fields, from the Ops Manager API reference and MongoDB's Go client for it
//! (`mongodb/go-client-mongodb-ops-manager`, `opsmngr/`):
//! - `GET /groups/{id}/clusters` (paged) and `GET /groups/{id}/clusters/{clusterId}`
//!   (`clusters.go`, `Cluster`): `id`, `clusterName`, `typeName`, `replicaSetName`,
//!   `shardName`. A sharded cluster is listed once as itself (`SHARDED_REPLICA_SET`) and once
//!   per shard replica set (with `shardName`); only the first is a target.
//! - `GET /groups/{id}/clusters/{clusterId}/snapshots` (paged; `continuous_snapshots.go`): the
//!   legacy snapshot shape Atlas' v1.0 API has, plus `isPossiblyInconsistent` and
//!   `missingShards`, which the listing ignores.
//! - `GET /groups/{id}/backupConfigs/{clusterId}` (`backup_configs.go`, `BackupConfig`):
//!   `clusterId`, `statusName` ([`backup_is_on`]).
//! - `GET /groups/{id}/backupConfigs/{clusterId}/snapshotSchedule` (`snapshot_schedule.go`,
//!   `SnapshotSchedule`): [`manager_policy_from_json`].
//!
//! Every request is `Accept: application/json` with the same digest authentication as Atlas'.
//! A cluster configured by name has its id looked up in the clusters listing once; the id is
//! remembered for the client's life, and looked up again when a request with it answers 404
//! (the cluster was removed and added again, say). One listing remembers the id of every
//! cluster of the project, and lookups wait for one in flight (the refresh and the polls of
//! the first cycle run side by side), so a project costs one listing however many clusters
//! it names. A configured id is used as it is.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;

use super::budget::Pace;
use super::client::{AtlasClient, ListingRequest, PageSink};
use super::endpoint::{BackupApi, MEDIA_TYPE_V1, Operation};
use super::error::{ApiErrorBody, AtlasError};
use super::inventory::{ListedCluster, Tier};
use super::wire::{ListItem, Loose, SkipReason};
use crate::facts::{BackupPolicy, ClusterFacts, ClusterType};
use crate::target::ApiVersion;

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// The ids of clusters configured by name, keyed by project id and cluster name.
#[derive(Debug, Default)]
pub(crate) struct ClusterIds {
    ids: Mutex<HashMap<(String, String), String>>,
    /// Held while a clusters listing is read, so that concurrent lookups share it.
    listing: tokio::sync::Mutex<()>,
}

impl ClusterIds {
    fn get(&self, project_id: &str, name: &str) -> Option<String> {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(project_id.to_owned(), name.to_owned()))
            .cloned()
    }

    fn set(&self, project_id: &str, name: &str, id: &str) {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((project_id.to_owned(), name.to_owned()), id.to_owned());
    }

    fn forget(&self, project_id: &str, name: &str) {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(project_id.to_owned(), name.to_owned()));
    }
}

/// A cluster as Cloud Manager or Ops Manager lists it (`Cluster` in the Go client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerCluster {
    /// The 24-hex cluster id.
    pub id: String,
    /// `clusterName`.
    pub cluster_name: Option<String>,
    /// `typeName`: `REPLICA_SET`, `SHARDED_REPLICA_SET`, `CONFIG_SERVER_REPLICA_SET`, ….
    pub type_name: Option<String>,
    /// `replicaSetName`.
    pub replica_set_name: Option<String>,
    /// `shardName`: set on the shards of a sharded cluster.
    pub shard_name: Option<String>,
}

impl ManagerCluster {
    /// The cluster type `typeName` names: `REPLICA_SET` a replica set, `SHARDED_REPLICA_SET`
    /// (and `SHARDED`, a sharded cluster of standalone shards) sharded; `None` for anything
    /// else.
    pub fn cluster_type(&self) -> Option<ClusterType> {
        match self.type_name.as_deref()? {
            "REPLICA_SET" => Some(ClusterType::ReplicaSet),
            "SHARDED_REPLICA_SET" | "SHARDED" => Some(ClusterType::Sharded),
            _ => None,
        }
    }

    /// Whether this entry is the cluster named `name`: its `clusterName` (or, without one, its
    /// `replicaSetName`), and neither a shard of a sharded cluster nor its config servers.
    fn is_named(&self, name: &str) -> bool {
        let own_name = self
            .cluster_name
            .as_deref()
            .or(self.replica_set_name.as_deref());
        own_name == Some(name)
            && self.shard_name.is_none()
            && self.type_name.as_deref() != Some("CONFIG_SERVER_REPLICA_SET")
    }
}

/// A `Cluster`, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawManagerCluster {
    #[serde(default)]
    id: Loose,
    #[serde(default)]
    cluster_name: Loose,
    #[serde(default)]
    type_name: Loose,
    #[serde(default)]
    replica_set_name: Loose,
    #[serde(default)]
    shard_name: Loose,
}

impl ListItem for ManagerCluster {
    type Raw<'de> = RawManagerCluster;

    fn from_raw(raw: RawManagerCluster) -> Result<Self, SkipReason> {
        Ok(ManagerCluster {
            id: raw.id.id()?,
            cluster_name: raw.cluster_name.string()?,
            type_name: raw.type_name.string()?,
            replica_set_name: raw.replica_set_name.string()?,
            shard_name: raw.shard_name.string()?,
        })
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// The cluster named `name` in a clusters listing: the sharded cluster itself before any other
/// entry of that name.
pub fn find_named<'a>(clusters: &'a [ManagerCluster], name: &str) -> Option<&'a ManagerCluster> {
    let mut named = clusters.iter().filter(|c| c.is_named(name));
    let first = named.next()?;
    if first.cluster_type() == Some(ClusterType::Sharded) {
        return Some(first);
    }
    Some(
        named
            .find(|c| c.cluster_type() == Some(ClusterType::Sharded))
            .unwrap_or(first),
    )
}

/// Whether a backup configuration's `statusName` means snapshots are being taken:
/// `STARTED`, and `PROVISIONING` (backup was switched on and its first snapshot is being
/// prepared: a missing snapshot is worth an alert then). `STOPPED`, `INACTIVE` (never
/// started) and `TERMINATING` are off. `None` for a status this build does not know.
pub fn backup_is_on(status_name: &str) -> Option<bool> {
    match status_name {
        "STARTED" | "PROVISIONING" => Some(true),
        "STOPPED" | "INACTIVE" | "TERMINATING" => Some(false),
        _ => None,
    }
}

/// A `BackupConfig`, read leniently.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBackupConfig {
    #[serde(default)]
    status_name: Loose,
}

/// A `SnapshotSchedule`, read leniently.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSnapshotSchedule {
    #[serde(default)]
    snapshot_interval_hours: Loose,
    #[serde(default)]
    snapshot_retention_days: Loose,
    #[serde(default)]
    daily_snapshot_retention_days: Loose,
    #[serde(default)]
    weekly_snapshot_retention_weeks: Loose,
    #[serde(default)]
    monthly_snapshot_retention_months: Loose,
    #[serde(default)]
    point_in_time_window_hours: Loose,
}

/// Reads a snapshot schedule body into the policy its snapshots are judged against: the
/// interval is `snapshotIntervalHours`; the retention the longest of `snapshotRetentionDays`,
/// `dailySnapshotRetentionDays`, `weeklySnapshotRetentionWeeks` (7 days each) and
/// `monthlySnapshotRetentionMonths` (30 days each, rounded down as the Atlas policy's are);
/// the restore window `pointInTimeWindowHours`. Cloud Manager and Ops Manager announce no next
/// snapshot. A field that is absent, zero or not a number counts as not set.
pub fn manager_policy_from_json(body: &[u8]) -> Result<BackupPolicy, AtlasError> {
    let raw: RawSnapshotSchedule = super::inventory::decode_object(body, "snapshot schedule")?;
    let count = |field: Loose| field.unsigned().ok().flatten().filter(|&n| n > 0);
    let span = |field: Loose, unit: u64| {
        count(field)
            .and_then(|n| n.checked_mul(unit))
            .map(Duration::from_secs)
    };
    let retention = [
        span(raw.snapshot_retention_days, DAY),
        span(raw.daily_snapshot_retention_days, DAY),
        span(raw.weekly_snapshot_retention_weeks, 7 * DAY),
        span(raw.monthly_snapshot_retention_months, 30 * DAY),
    ]
    .into_iter()
    .flatten()
    .max();
    Ok(BackupPolicy {
        next_snapshot: None,
        interval: span(raw.snapshot_interval_hours, HOUR),
        retention,
        restore_window: span(raw.point_in_time_window_hours, HOUR),
        ..BackupPolicy::default()
    })
}

/// The 404 a cluster name that the clusters listing does not have gets.
fn no_such_cluster(project_id: &str, name: &str) -> AtlasError {
    AtlasError::Status {
        status: 404,
        body: Some(Box::new(ApiErrorBody {
            error: Some(404),
            error_code: Some(super::endpoint::CLUSTER_NOT_FOUND.to_owned()),
            detail: Some(format!(
                "the clusters listing of project {project_id} has no cluster named {name}; \
                 check the name, or configure the cluster by its id"
            )),
            reason: Some("Not Found".to_owned()),
            parameters: Vec::new(),
        })),
        retry_after: None,
    }
}

impl AtlasClient {
    /// `GET /api/public/v1.0/groups/{id}/clusters`, all pages.
    pub async fn list_manager_clusters(
        &self,
        project_id: &str,
        pace: &Pace,
    ) -> Result<Vec<ManagerCluster>, AtlasError> {
        let request = ListingRequest {
            operation: Operation::ManagerClustersList,
            bucket: project_id,
            url: self.api_url(ApiVersion::V1_0, &["groups", project_id, "clusters"])?,
            accept: MEDIA_TYPE_V1,
            paged: true,
            items: "clusters",
        };
        let mut all = Vec::new();
        self.list_pages::<ManagerCluster>(&request, pace, &mut |v| all.extend(v))
            .await?;
        Ok(all)
    }

    /// The id of the cluster named `name`, from the clusters listing, which remembers the id
    /// of every cluster it names. `stale` is an id that answered 404: a lookup that finds
    /// another (one in flight found it) takes that one without listing again.
    async fn resolve_cluster_id(
        &self,
        project_id: &str,
        name: &str,
        stale: Option<&str>,
        pace: &Pace,
    ) -> Result<String, AtlasError> {
        let _listing = self.cluster_ids.listing.lock().await;
        if let Some(id) = self.cluster_ids.get(project_id, name)
            && Some(id.as_str()) != stale
        {
            return Ok(id);
        }
        let clusters = self.list_manager_clusters(project_id, pace).await?;
        let mut names: Vec<&str> = clusters
            .iter()
            .filter_map(|c| c.cluster_name.as_deref().or(c.replica_set_name.as_deref()))
            .collect();
        names.sort_unstable();
        names.dedup();
        for other in names {
            if let Some(found) = find_named(&clusters, other) {
                self.cluster_ids.set(project_id, other, &found.id);
            }
        }
        let found = find_named(&clusters, name).ok_or_else(|| {
            self.cluster_ids.forget(project_id, name);
            no_such_cluster(project_id, name)
        })?;
        tracing::debug!(
            project_id,
            cluster_name = name,
            cluster_id = %found.id,
            "found the cluster's id in the clusters listing"
        );
        Ok(found.id.clone())
    }

    /// Runs `read` with the cluster's id: `configured` when set; else the remembered id, or
    /// the one the clusters listing gives. A remembered id that answers 404 is looked up once
    /// more and `read` runs again with the new one.
    pub(super) async fn with_cluster_id<R, F, Fut>(
        &self,
        project_id: &str,
        name: &str,
        configured: Option<&str>,
        pace: &Pace,
        read: F,
    ) -> Result<R, AtlasError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<R, AtlasError>>,
    {
        if let Some(id) = configured {
            return read(id.to_owned()).await;
        }
        let Some(remembered) = self.cluster_ids.get(project_id, name) else {
            let id = self
                .resolve_cluster_id(project_id, name, None, pace)
                .await?;
            return read(id).await;
        };
        match read(remembered.clone()).await {
            Err(error) if error.status() == Some(404) => {
                tracing::debug!(
                    project_id,
                    cluster_name = name,
                    "the remembered cluster id answered 404; looking the name up again"
                );
                let id = self
                    .resolve_cluster_id(project_id, name, Some(&remembered), pace)
                    .await?;
                read(id).await
            }
            other => other,
        }
    }

    /// `GET /api/public/v1.0/groups/{id}/clusters/{clusterId}/snapshots`, all pages, into a
    /// sink made for the legacy API (a fresh one for each attempt).
    pub(super) async fn manager_snapshots_into<S: PageSink + Send>(
        &self,
        project_id: &str,
        name: &str,
        configured: Option<&str>,
        new_sink: &impl Fn(BackupApi) -> S,
        pace: &Pace,
    ) -> Result<S, AtlasError> {
        self.with_cluster_id(project_id, name, configured, pace, |id| async move {
            let mut sink = new_sink(BackupApi::Legacy);
            self.list_into_paced(BackupApi::Legacy, project_id, &id, &mut sink, pace)
                .await
                .map(|()| sink)
        })
        .await
    }

    /// A cluster's facts: its type from `GET …/clusters/{clusterId}`, whether its backups are
    /// on from `GET …/backupConfigs/{clusterId}`. Nothing pauses there: `paused` is false.
    pub async fn get_manager_cluster(
        &self,
        project_id: &str,
        name: &str,
        configured: Option<&str>,
        pace: &Pace,
    ) -> Result<ListedCluster, AtlasError> {
        let cluster = self
            .with_cluster_id(project_id, name, configured, pace, |id| async move {
                let url =
                    self.api_url(ApiVersion::V1_0, &["groups", project_id, "clusters", &id])?;
                let body = self
                    .fetch(
                        Operation::ManagerClusterGet,
                        project_id,
                        &url,
                        MEDIA_TYPE_V1,
                        pace,
                    )
                    .await?;
                super::inventory::decode_one::<ManagerCluster>(&body, "cluster")
            })
            .await?;
        let url = self.api_url(
            ApiVersion::V1_0,
            &["groups", project_id, "backupConfigs", &cluster.id],
        )?;
        let body = self
            .fetch(
                Operation::BackupConfigGet,
                project_id,
                &url,
                MEDIA_TYPE_V1,
                pace,
            )
            .await?;
        let config: RawBackupConfig =
            super::inventory::decode_object(&body, "backup configuration")?;
        let status = config.status_name.string().ok().flatten().ok_or_else(|| {
            AtlasError::Decode("the backup configuration has no statusName".into())
        })?;
        let backup_enabled = backup_is_on(&status).ok_or_else(|| {
            AtlasError::Decode(format!(
                "the backup configuration's statusName {status:?} is not one this build knows"
            ))
        })?;
        Ok(ListedCluster {
            name: name.to_owned(),
            tier: Tier::Dedicated,
            facts: ClusterFacts {
                cluster_type: cluster.cluster_type(),
                paused: false,
                backup_enabled,
            },
        })
    }

    /// `GET /api/public/v1.0/groups/{id}/backupConfigs/{clusterId}/snapshotSchedule`, read by
    /// [`manager_policy_from_json`].
    pub async fn get_manager_policy(
        &self,
        project_id: &str,
        name: &str,
        configured: Option<&str>,
        pace: &Pace,
    ) -> Result<BackupPolicy, AtlasError> {
        self.with_cluster_id(project_id, name, configured, pace, |id| async move {
            let url = self.api_url(
                ApiVersion::V1_0,
                &[
                    "groups",
                    project_id,
                    "backupConfigs",
                    &id,
                    "snapshotSchedule",
                ],
            )?;
            let body = self
                .fetch(
                    Operation::SnapshotScheduleGet,
                    project_id,
                    &url,
                    MEDIA_TYPE_V1,
                    pace,
                )
                .await?;
            manager_policy_from_json(&body)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::wire::{LegacySnapshot, decode_page};

    fn cluster(
        name: Option<&str>,
        type_name: &str,
        shard: Option<&str>,
        id: &str,
    ) -> ManagerCluster {
        ManagerCluster {
            id: id.into(),
            cluster_name: name.map(Into::into),
            type_name: Some(type_name.into()),
            replica_set_name: None,
            shard_name: shard.map(Into::into),
        }
    }

    #[test]
    fn the_go_clients_cluster_listing_decodes() {
        // The body of `TestClusters_List` in `opsmngr/clusters_test.go`.
        let page = decode_page::<ManagerCluster>(
            br#"{"totalCount":1,"results":[{"id":"533d7d4730040be257defe88",
                "typeName":"SHARDED_REPLICA_SET","clusterName":"Animals",
                "groupId":"5b69d0349b15c62cdfc38b78","lastHeartbeat":"2014-04-03T15:26:58Z",
                "links":[]}],"links":[]}"#,
            100,
        )
        .unwrap();
        let found = find_named(&page.results, "Animals").unwrap();
        assert_eq!(found.id, "533d7d4730040be257defe88");
        assert_eq!(found.cluster_type(), Some(ClusterType::Sharded));
    }

    #[test]
    fn a_name_finds_the_sharded_cluster_not_its_shards_or_config_servers() {
        let clusters = [
            cluster(Some("orders"), "REPLICA_SET", Some("shard0"), "a"),
            cluster(Some("orders"), "CONFIG_SERVER_REPLICA_SET", None, "b"),
            cluster(Some("orders"), "SHARDED_REPLICA_SET", None, "c"),
            cluster(Some("billing"), "REPLICA_SET", None, "d"),
        ];
        assert_eq!(find_named(&clusters, "orders").map(|c| &*c.id), Some("c"));
        assert_eq!(find_named(&clusters, "billing").map(|c| &*c.id), Some("d"));
        assert_eq!(find_named(&clusters, "shard0"), None);
        let replica_set = ManagerCluster {
            replica_set_name: Some("rs0".into()),
            ..cluster(None, "REPLICA_SET", None, "e")
        };
        assert_eq!(
            find_named(&[replica_set], "rs0").map(|c| c.cluster_type()),
            Some(Some(ClusterType::ReplicaSet))
        );
    }

    #[test]
    fn started_and_provisioning_backups_are_on() {
        assert_eq!(backup_is_on("STARTED"), Some(true));
        assert_eq!(backup_is_on("PROVISIONING"), Some(true));
        for off in ["STOPPED", "INACTIVE", "TERMINATING"] {
            assert_eq!(backup_is_on(off), Some(false), "{off}");
        }
        assert_eq!(backup_is_on("started"), None);
    }

    #[test]
    fn a_snapshot_schedule_gives_interval_longest_retention_and_restore_window() {
        // The fields of `SnapshotSchedule` in `opsmngr/snapshot_schedule.go`.
        let p = manager_policy_from_json(
            br#"{"clusterId":"6b8cd61180eef547110159d9","groupId":"5c8100bcf2a30b12ff88258f",
                "clusterCheckpointIntervalMin":15,"dailySnapshotRetentionDays":7,
                "monthlySnapshotRetentionMonths":13,"pointInTimeWindowHours":24,
                "snapshotIntervalHours":6,"snapshotRetentionDays":2,
                "weeklySnapshotRetentionWeeks":4,"links":[]}"#,
        )
        .unwrap();
        assert_eq!(p.interval, Some(Duration::from_secs(6 * 3600)));
        assert_eq!(p.retention, Some(Duration::from_secs(13 * 30 * 86_400)));
        assert_eq!(p.restore_window, Some(Duration::from_secs(24 * 3600)));
        assert_eq!(p.next_snapshot, None);
        let bare = manager_policy_from_json(br#"{"snapshotIntervalHours":24}"#).unwrap();
        assert_eq!(bare.interval, Some(Duration::from_secs(86_400)));
        assert_eq!(bare.retention, None);
        assert!(manager_policy_from_json(b"[]").is_err());
    }

    #[test]
    fn a_manager_snapshot_with_its_own_fields_decodes_as_legacy() {
        let page = decode_page::<LegacySnapshot>(
            br#"{"totalCount":1,"links":[],"results":[{"clusterId":"7c88887880eef52e49e72ec0",
                "complete":true,"created":{"date":"2026-11-22T02:00:07Z","increment":1},
                "doNotDelete":false,"expires":"2026-11-24T02:00:07Z",
                "groupId":"5c8100bcf2a30b12ff88258f","id":"5c95f8c2f2a30b5bbc1b1d8f",
                "isPossiblyInconsistent":false,"missingShards":[],
                "lastOplogAppliedTimestamp":{"date":"2026-11-22T02:00:07Z","increment":1},
                "parts":[{"clusterId":"7c88887880eef52e49e72ec0","typeName":"REPLICA_SET",
                "replicaSetName":"rs0","storageSizeBytes":1024,"mongodVersion":"6.0.5"}]}]}"#,
            100,
        )
        .unwrap();
        assert_eq!(page.results.len(), 1);
        assert!(page.skipped.iter().all(|&n| n == 0));
    }
}
