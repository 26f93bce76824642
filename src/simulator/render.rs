//! The wire JSON of each kind: a neutral [`SimSnapshot`] rendered as a tenant/flex
//! `BackupTenantSnapshot`, a dedicated `DiskBackupReplicaSet` or a legacy `BackupSnapshot`, plus
//! cluster descriptions (`ClusterDescription20240805`, `FlexClusterDescription20241113`), backup
//! schedules, projects and the list envelope. Keys come out sorted, as Atlas'.
//!
//! Fields that Atlas has but the neutral model does not are filled with fixed, plausible values
//! (versions, cloud provider, retention-derived expiry dates).

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::copies;
use super::digest::md5_hex;
use super::routes::Family;
use super::scenario::{SimKind, SimSnapshot, SimStatus};
use super::schedule::SimSchedule;
use super::world::Described;

/// MongoDB version shown on tenant, flex and dedicated snapshots.
const MONGODB_VERSION: &str = "8.0.4";
/// MongoDB version shown on legacy snapshot parts (Legacy Backup predates 4.2's cloud backups).
const LEGACY_MONGOD_VERSION: &str = "4.0.28";
/// `mongoDBMajorVersion` of [`MONGODB_VERSION`].
const MONGODB_MAJOR_VERSION: &str = "8.0";
/// How long Atlas keeps a flex snapshot: its `expiration` is this long after `scheduledTime`.
const FLEX_RETENTION_DAYS: i64 = 8;
/// When every simulated project was created.
const PROJECT_CREATED: &str = "2024-01-15T12:00:00Z";

/// Where a rendered snapshot lives, for its ids and links.
pub(crate) struct ClusterRef<'a> {
    /// `http://host:port`, from the request's Host header.
    pub(crate) origin: &'a str,
    pub(crate) group: &'a str,
    pub(crate) cluster: &'a str,
}

impl ClusterRef<'_> {
    /// A stable 24-hex cluster id derived from project and name.
    pub(crate) fn cluster_id(&self) -> String {
        cluster_id_of(self.group, self.cluster)
    }
}

/// The stable 24-hex id of cluster `name` in project `group`.
pub(crate) fn cluster_id_of(group: &str, name: &str) -> String {
    derived_id(&format!("cluster:{group}:{name}"))
}

/// A stable 24-hex id derived from a string.
pub(crate) fn derived_id(seed: &str) -> String {
    let mut hex = md5_hex(seed);
    hex.truncate(24);
    hex
}

/// RFC 3339 in whole seconds, as Atlas writes times (`2026-11-22T02:00:07Z`).
pub(crate) fn time(ts: Timestamp) -> String {
    Timestamp::from_second(ts.as_second())
        .unwrap_or(ts)
        .to_string()
}

fn plus_days(ts: Timestamp, days: i64) -> Option<Timestamp> {
    ts.checked_add(SignedDuration::from_hours(24 * days)).ok()
}

fn link(href: String, rel: &str) -> Value {
    json!({"href": href, "rel": rel})
}

/// One snapshot in the shape of `family`; a `sharded` cluster's dedicated snapshot is listed
/// as `type: shardedCluster`, without the replica-set-only `cloudProvider` and `replicaSetName`
/// (the spec returns those "when `type` is `replicaSet`").
#[cfg(test)]
pub(crate) fn snapshot(
    family: Family,
    s: &SimSnapshot,
    at: &ClusterRef<'_>,
    sharded: bool,
) -> Value {
    snapshot_under(family, s, at, sharded, &Policy::default())
}

/// A dedicated cluster's backup policy as its snapshots show it: their `frequencyType`,
/// `policyItems` and `expiresAt` follow the item that took them.
pub(crate) struct Policy<'a> {
    pub(crate) schedule: std::borrow::Cow<'a, SimSchedule>,
    /// The reference time of day, resolved.
    pub(crate) reference: (u8, u8),
}

impl Default for Policy<'_> {
    fn default() -> Self {
        Policy {
            schedule: std::borrow::Cow::Owned(SimSchedule::default()),
            reference: (2, 0),
        }
    }
}

impl<'a> Policy<'a> {
    /// The policy of a described cluster.
    pub(crate) fn of(described: &'a Described) -> Policy<'a> {
        Policy {
            schedule: std::borrow::Cow::Borrowed(&described.schedule),
            reference: described.reference,
        }
    }
}

/// The id of a cluster's policy item: the first keeps the id every dedicated snapshot carried
/// before policies were modelled.
fn policy_item_id(cluster_id: &str, index: usize) -> String {
    if index == 0 {
        derived_id(&format!("policy:{cluster_id}"))
    } else {
        derived_id(&format!("policy:{cluster_id}:{index}"))
    }
}

/// [`snapshot`] of a cluster with this backup policy.
pub(crate) fn snapshot_under(
    family: Family,
    s: &SimSnapshot,
    at: &ClusterRef<'_>,
    sharded: bool,
    policy: &Policy<'_>,
) -> Value {
    let path_cluster = if family == Family::LegacyPublic {
        at.cluster_id()
    } else {
        at.cluster.to_owned()
    };
    let href = format!(
        "{}{}/{}",
        at.origin,
        family.list_path(at.group, &path_cluster),
        s.id
    );
    match family.kind() {
        SimKind::Tenant => tenant_like(s, Some(href)),
        SimKind::Flex => tenant_like(s, None),
        SimKind::Dedicated if sharded => {
            let mut v = dedicated(s, at, href, policy);
            if let Some(m) = v.as_object_mut() {
                m.remove("cloudProvider");
                m.remove("replicaSetName");
                m.insert("type".into(), json!("shardedCluster"));
            }
            v
        }
        SimKind::Dedicated => dedicated(s, at, href, policy),
        SimKind::Legacy => legacy(family, s, at, href),
    }
}

/// `DiskBackupShardedClusterSnapshot`, as `…/shardedClusters` and `…/shardedCluster/{id}`
/// serve it: the replica-set rendering's common fields, plus `configServerType` (`EMBEDDED`,
/// as the recorded sharded cluster), one `members` entry per shard (two, as recorded) and
/// their `snapshotIds`.
pub(crate) fn sharded(s: &SimSnapshot, at: &ClusterRef<'_>, policy: &Policy<'_>) -> Value {
    let href = format!(
        "{}{}/shardedCluster/{}",
        at.origin,
        Family::Dedicated.list_path(at.group, at.cluster),
        s.id
    );
    let cluster_id = at.cluster_id();
    let mut v = dedicated(s, at, href, policy);
    let Some(m) = v.as_object_mut() else {
        return v;
    };
    m.remove("cloudProvider");
    m.remove("copyRegions");
    m.remove("replicaSetName");
    let ids: Vec<String> = (0..2)
        .map(|shard| derived_id(&format!("member:{}:{shard}", s.id)))
        .collect();
    let members: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(shard, id)| {
            json!({
                "cloudProvider": "AWS",
                "id": id,
                "replicaSetName": format!("atlas-{}-shard-{shard}", &cluster_id[..6]),
            })
        })
        .collect();
    m.insert("configServerType".into(), json!("EMBEDDED"));
    m.insert("members".into(), Value::Array(members));
    m.insert("snapshotIds".into(), json!(ids));
    m.insert("type".into(), json!("shardedCluster"));
    v
}

/// `BackupTenantSnapshot` / `FlexBackupSnapshot20241113`: absent times are omitted; the version
/// appears once the snapshot started. Tenant: `expiration` one day after a COMPLETED snapshot
/// finished, and a `self` link (`href`). Flex, as recorded: `expiration` is `scheduledTime`
/// plus the 8 days flex snapshots are kept, and items carry no `links`.
fn tenant_like(s: &SimSnapshot, href: Option<String>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(s.id));
    m.insert("status".into(), json!(s.status.as_upper()));
    if let Some(t) = s.scheduled {
        m.insert("scheduledTime".into(), json!(time(t)));
    }
    if let Some(t) = s.started {
        m.insert("startTime".into(), json!(time(t)));
        m.insert("mongoDBVersion".into(), json!(MONGODB_VERSION));
    }
    if let Some(t) = s.finished {
        m.insert("finishTime".into(), json!(time(t)));
    }
    let expiration = match &href {
        Some(_) => s
            .finished
            .filter(|_| s.status == SimStatus::Completed)
            .and_then(|t| plus_days(t, 1)),
        None => s.scheduled.and_then(|t| plus_days(t, FLEX_RETENTION_DAYS)),
    };
    if let Some(expiration) = expiration {
        m.insert("expiration".into(), json!(time(expiration)));
    }
    if let Some(href) = href {
        m.insert("links".into(), json!([link(href, "self")]));
    }
    Value::Object(m)
}

/// The dedicated status vocabulary.
fn dedicated_status(status: &SimStatus) -> &str {
    match status {
        SimStatus::Pending | SimStatus::Queued => "queued",
        SimStatus::Running => "inProgress",
        SimStatus::Completed => "completed",
        SimStatus::Failed => "failed",
        SimStatus::Other(s) => s,
    }
}

/// True while a snapshot has not finished: Atlas has not dated it yet.
fn unfinished(status: &SimStatus) -> bool {
    matches!(
        status,
        SimStatus::Pending | SimStatus::Queued | SimStatus::Running
    )
}

/// `DiskBackupReplicaSet`. A finished snapshot carries one time, `createdAt` (its start, else its
/// schedule), with `cloudProvider`, `mongodVersion` and its size. An unfinished one is rendered
/// as Atlas answered for a running snapshot (recorded 2026-08-10): no `createdAt`, no
/// `cloudProvider`, no `mongodVersion`, `storageSizeBytes: 0`. `expiresAt` is the retention of
/// the policy item that took it after the start (else the schedule): a week for the default
/// daily item. On-demand snapshots have `frequencyType: ondemand` (a value outside the spec's
/// enum), `snapshotType: onDemand` and no policy items (and the first item's retention).
fn dedicated(s: &SimSnapshot, at: &ClusterRef<'_>, href: String, policy: &Policy<'_>) -> Value {
    let cluster_id = at.cluster_id();
    let item = s
        .scheduled
        .and_then(|t| policy.schedule.item_for(policy.reference, t))
        .or_else(|| policy.schedule.items.first().map(|item| (0, item)));
    let retention_days = item.map_or(7, |(_, item)| item.retention_days());
    let frequency_type = item.map_or("daily", |(_, item)| item.frequency.frequency_type());
    let item_id = policy_item_id(&cluster_id, item.map_or(0, |(index, _)| index));
    let finished = !unfinished(&s.status);
    let mut m = Map::new();
    if finished {
        m.insert("cloudProvider".into(), json!("AWS"));
    }
    m.insert(
        "copyRegions".into(),
        copies::copy_regions(&policy.schedule, finished),
    );
    if let Some(taken) = s.started.or(s.scheduled) {
        if finished {
            m.insert("createdAt".into(), json!(time(taken)));
        }
        if let Some(expires) = plus_days(taken, retention_days) {
            m.insert("expiresAt".into(), json!(time(expires)));
        }
    }
    let (frequency, trigger, policy_items) = if s.on_demand {
        ("ondemand", "onDemand", json!([]))
    } else {
        (frequency_type, "scheduled", json!([item_id]))
    };
    m.insert("frequencyType".into(), json!(frequency));
    m.insert("id".into(), json!(s.id));
    m.insert("links".into(), json!([link(href, "self")]));
    if finished {
        m.insert("mongodVersion".into(), json!(MONGODB_VERSION));
    }
    m.insert("policyItems".into(), policy_items);
    m.insert(
        "replicaSetName".into(),
        json!(format!("atlas-{}-shard-0", &cluster_id[..6])),
    );
    m.insert("snapshotType".into(), json!(trigger));
    m.insert("status".into(), json!(dedicated_status(&s.status)));
    match (finished, s.size_bytes) {
        (false, _) => {
            m.insert("storageSizeBytes".into(), json!(0));
        }
        (true, Some(size)) => {
            m.insert("storageSizeBytes".into(), json!(size));
        }
        (true, None) => {}
    }
    m.insert("type".into(), json!("replicaSet"));
    Value::Object(m)
}

/// `BackupSnapshot`: `complete` only for COMPLETED (Legacy Backup has no failed state, so a
/// FAILED one shows as incomplete); `created.date` is the start, else the schedule; the size is
/// split over 1-3 parts (chosen from the id) whose `storageSizeBytes` add up to it exactly.
fn legacy(family: Family, s: &SimSnapshot, at: &ClusterRef<'_>, href: String) -> Value {
    let cluster_id = at.cluster_id();
    let complete = s.status == SimStatus::Completed;
    let mut m = Map::new();
    m.insert("clusterId".into(), json!(cluster_id));
    if family == Family::LegacyV2 {
        m.insert("clusterName".into(), json!(at.cluster));
        m.insert("incremental".into(), json!(true));
    }
    m.insert("complete".into(), json!(complete));
    if let Some(created) = s.started.or(s.scheduled) {
        m.insert(
            "created".into(),
            json!({"date": time(created), "increment": 1}),
        );
        if let Some(expires) = plus_days(created, 365) {
            m.insert("expires".into(), json!(time(expires)));
        }
        if complete && let Ok(applied) = created.checked_sub(SignedDuration::from_secs(1)) {
            m.insert(
                "lastOplogAppliedTimestamp".into(),
                json!({"date": time(applied), "increment": 1}),
            );
        }
    }
    m.insert("doNotDelete".into(), json!(false));
    m.insert("groupId".into(), json!(at.group));
    m.insert("id".into(), json!(s.id));
    m.insert("links".into(), json!([link(href, "self")]));
    m.insert(
        "parts".into(),
        Value::Array(legacy_parts(s, at.cluster, &cluster_id)),
    );
    Value::Object(m)
}

fn legacy_parts(s: &SimSnapshot, cluster: &str, cluster_id: &str) -> Vec<Value> {
    let count = s.id.bytes().map(u64::from).sum::<u64>() % 3 + 1;
    (0..count)
        .map(|i| {
            let (type_name, replica_set) = if count > 1 && i == count - 1 {
                ("CONFIG_SERVER_REPLICA_SET", format!("{cluster}-config-0"))
            } else {
                ("REPLICA_SET", format!("{cluster}-shard-{i}"))
            };
            let mut part = Map::new();
            part.insert("clusterId".into(), json!(cluster_id));
            part.insert("compressionSetting".into(), json!("GZIP"));
            part.insert("encryptionEnabled".into(), json!(false));
            part.insert("mongodVersion".into(), json!(LEGACY_MONGOD_VERSION));
            part.insert("replicaSetName".into(), json!(replica_set));
            part.insert("typeName".into(), json!(type_name));
            if let Some(total) = s.size_bytes {
                let share = total / count + if i == 0 { total % count } else { 0 };
                part.insert("storageSizeBytes".into(), json!(share));
                part.insert("dataSizeBytes".into(), json!(share.saturating_mul(6) / 5));
                part.insert("fileSizeBytes".into(), json!(share.saturating_mul(2)));
            }
            Value::Object(part)
        })
        .collect()
}

/// `FlexClusterDescription20241113`.
pub(crate) fn flex_cluster(at: &ClusterRef<'_>, created: Option<Timestamp>, backup: bool) -> Value {
    let cluster_id = at.cluster_id();
    let host = format!("{}.{}", at.cluster.to_ascii_lowercase(), &cluster_id[..5]);
    let created = created
        .map(time)
        .unwrap_or_else(|| PROJECT_CREATED.to_string());
    json!({
        "backupSettings": {"enabled": backup},
        "clusterType": "REPLICASET",
        "connectionStrings": {"standardSrv": format!("mongodb+srv://{host}.mongodb.net")},
        "createDate": created,
        "groupId": at.group,
        "id": cluster_id,
        "links": [link(format!("{}/api/atlas/v2/groups/{}/flexClusters/{}", at.origin, at.group, at.cluster), "self")],
        "mongoDBVersion": MONGODB_VERSION,
        "name": at.cluster,
        "providerSettings": {
            "backingProviderName": "AWS",
            "diskSizeGB": 5.0,
            "providerName": "FLEX",
            "regionName": "US_EAST_1"
        },
        "stateName": "IDLE",
        "tags": [],
        "terminationProtectionEnabled": false,
        "versionReleaseSystem": "LTS"
    })
}

/// `Group`, with the fields of the recorded `GET /groups` items.
pub(crate) fn group(
    origin: &str,
    id: &str,
    name: &str,
    org_id: &str,
    cluster_count: usize,
) -> Value {
    json!({
        "clusterCount": cluster_count,
        "created": PROJECT_CREATED,
        "id": id,
        "links": [link(format!("{origin}/api/atlas/v2/groups/{id}"), "self")],
        "name": name,
        "orgId": org_id,
        "tags": [],
        "withDefaultAlertsSettings": true
    })
}

/// `ClusterDescription20240805`, with the fields of the recorded cluster GETs (2024-08-05 for
/// a dedicated cluster, an M0's 2023-02-01 region config): one replication spec per shard (two
/// for a sharded cluster, in two zones for a global one), each with one region config, AWS
/// `US_EAST_1`, or `TENANT` backed by AWS for M0/M2/M5.
pub(crate) fn cluster(at: &ClusterRef<'_>, c: &Described) -> Value {
    let cluster_id = at.cluster_id();
    let size = c.instance_size.clone().unwrap_or_else(|| "M10".to_string());
    let region_config = if c.kind == SimKind::Tenant {
        json!({
            "backingProviderName": "AWS",
            "electableSpecs": {"effectiveInstanceSize": size, "instanceSize": size},
            "priority": 7,
            "providerName": "TENANT",
            "regionName": "US_EAST_1"
        })
    } else {
        json!({
            "electableSpecs": {
                "diskIOPS": 3000,
                "diskSizeGB": 30.0,
                "ebsVolumeType": "STANDARD",
                "instanceSize": size,
                "nodeCount": 3
            },
            "priority": 7,
            "providerName": "AWS",
            "regionName": "US_EAST_1"
        })
    };
    let shards = if c.sharded { 2 } else { 1 };
    let specs: Vec<Value> = (0..shards)
        .map(|shard| {
            let zone = if c.global { shard + 1 } else { 1 };
            json!({
                "id": derived_id(&format!("spec:{cluster_id}:{shard}")),
                "regionConfigs": [region_config.clone()],
                "zoneId": derived_id(&format!("zone:{cluster_id}:{zone}")),
                "zoneName": format!("Zone {zone}")
            })
        })
        .collect();
    let cluster_type = match (c.global, c.sharded) {
        (true, _) => "GEOSHARDED",
        (false, true) => "SHARDED",
        (false, false) => "REPLICASET",
    };
    let base = format!(
        "{}/api/atlas/v2/groups/{}/clusters/{}",
        at.origin, at.group, at.cluster
    );
    let host = format!("{}.{}", at.cluster.to_ascii_lowercase(), &cluster_id[..5]);
    let created = c
        .created
        .map(time)
        .unwrap_or_else(|| PROJECT_CREATED.to_string());
    json!({
        "backupEnabled": c.backup_enabled,
        "clusterType": cluster_type,
        "connectionStrings": {"standardSrv": format!("mongodb+srv://{host}.mongodb.net")},
        "createDate": created,
        "groupId": at.group,
        "id": cluster_id,
        "links": [
            link(base.clone(), "self"),
            link(format!("{base}/backup/restoreJobs"), "https://cloud.mongodb.com/restoreJobs"),
            link(format!("{base}/backup/snapshots"), "https://cloud.mongodb.com/snapshots"),
        ],
        "mongoDBMajorVersion": MONGODB_MAJOR_VERSION,
        "mongoDBVersion": MONGODB_VERSION,
        "name": at.cluster,
        "paused": c.paused,
        "pitEnabled": false,
        "replicationSpecs": specs,
        "stateName": "IDLE",
        "tags": [],
        "terminationProtectionEnabled": false,
        "versionReleaseSystem": "LTS"
    })
}

/// `DiskBackupSnapshotSchedule20240805`, with the fields of the recorded schedule:
/// `policies[0]` holds the items, `nextSnapshot` is the first scheduled time after `now`.
/// A Cloud Manager / Ops Manager `Cluster` (`GET /api/public/v1.0/groups/{g}/clusters`):
/// `typeName` `SHARDED_REPLICA_SET` or `REPLICA_SET` (with its `replicaSetName`).
pub(crate) fn manager_cluster(at: &ClusterRef<'_>, c: &Described) -> Value {
    let cluster_id = at.cluster_id();
    let base = format!("{}/api/public/v1.0/groups/{}", at.origin, at.group);
    let mut m = Map::new();
    m.insert("clusterName".into(), json!(at.cluster));
    m.insert("groupId".into(), json!(at.group));
    m.insert("id".into(), json!(cluster_id));
    m.insert("lastHeartbeat".into(), json!(PROJECT_CREATED));
    m.insert(
        "links".into(),
        json!([link(format!("{base}/clusters/{cluster_id}"), "self")]),
    );
    if c.sharded {
        m.insert("typeName".into(), json!("SHARDED_REPLICA_SET"));
    } else {
        m.insert("replicaSetName".into(), json!(at.cluster));
        m.insert("typeName".into(), json!("REPLICA_SET"));
    }
    Value::Object(m)
}

/// The shard entries the clusters listing shows for a sharded cluster: one `REPLICA_SET` per
/// shard, with `shardName` and the parent's `clusterName`.
pub(crate) fn manager_shards(at: &ClusterRef<'_>) -> Vec<Value> {
    let cluster_id = at.cluster_id();
    (0..2)
        .map(|shard| {
            let name = format!("{}-shard-{shard}", at.cluster);
            json!({
                "clusterName": at.cluster,
                "groupId": at.group,
                "id": derived_id(&format!("shard:{cluster_id}:{shard}")),
                "lastHeartbeat": PROJECT_CREATED,
                "links": [],
                "replicaSetName": name,
                "shardName": name,
                "typeName": "REPLICA_SET"
            })
        })
        .collect()
}

/// A Cloud Manager / Ops Manager `BackupConfig` (`GET …/backupConfigs/{clusterId}`).
pub(crate) fn backup_config(at: &ClusterRef<'_>, c: &Described) -> Value {
    let cluster_id = at.cluster_id();
    json!({
        "authMechanismName": "NONE",
        "clusterId": cluster_id,
        "encryptionEnabled": false,
        "excludedNamespaces": [],
        "groupId": at.group,
        "links": [link(
            format!("{}/api/public/v1.0/groups/{}/backupConfigs/{cluster_id}", at.origin, at.group),
            "self"
        )],
        "sslEnabled": false,
        "statusName": c.backup_status.as_str(),
        "storageEngineName": "WIRED_TIGER"
    })
}

/// A Cloud Manager / Ops Manager `SnapshotSchedule` from the cluster's policy:
/// `snapshotIntervalHours` is the shortest hourly item (24 without one), `snapshotRetentionDays`
/// that item's retention (2 without one), the daily, weekly and monthly items give their
/// retention fields, and `pointInTimeWindowHours` is the restore window in hours.
pub(crate) fn manager_schedule(at: &ClusterRef<'_>, c: &Described) -> Value {
    use super::schedule::SimFrequency;
    let cluster_id = at.cluster_id();
    let items = &c.schedule.items;
    let hourly = items
        .iter()
        .filter_map(|i| match i.frequency {
            SimFrequency::Hourly(h) => Some((h, i.retention_days())),
            _ => None,
        })
        .min_by_key(|(h, _)| *h);
    let retention = |want: fn(SimFrequency) -> bool| {
        items
            .iter()
            .filter(|i| want(i.frequency))
            .map(|i| i.retention_value)
            .max()
    };
    let (hour, minute) = c.reference;
    let mut m = Map::new();
    m.insert("clusterCheckpointIntervalMin".into(), json!(15));
    m.insert("clusterId".into(), json!(cluster_id));
    m.insert("groupId".into(), json!(at.group));
    m.insert(
        "links".into(),
        json!([link(
            format!(
                "{}/api/public/v1.0/groups/{}/backupConfigs/{cluster_id}/snapshotSchedule",
                at.origin, at.group
            ),
            "self"
        )]),
    );
    m.insert(
        "pointInTimeWindowHours".into(),
        json!(c.schedule.restore_window_days * 24),
    );
    m.insert("referenceHourOfDay".into(), json!(hour));
    m.insert("referenceMinuteOfHour".into(), json!(minute));
    m.insert("referenceTimeZoneOffset".into(), json!("+0000"));
    m.insert(
        "snapshotIntervalHours".into(),
        json!(hourly.map_or(24, |(h, _)| h)),
    );
    m.insert(
        "snapshotRetentionDays".into(),
        json!(hourly.map_or(2, |(_, days)| days)),
    );
    for (key, want) in [
        (
            "dailySnapshotRetentionDays",
            (|f| matches!(f, SimFrequency::Daily)) as fn(SimFrequency) -> bool,
        ),
        ("weeklySnapshotRetentionWeeks", |f| {
            matches!(f, SimFrequency::Weekly(_))
        }),
        ("monthlySnapshotRetentionMonths", |f| {
            matches!(f, SimFrequency::Monthly(_))
        }),
    ] {
        if let Some(value) = retention(want) {
            m.insert(key.into(), json!(value));
        }
    }
    Value::Object(m)
}

pub(crate) fn schedule(at: &ClusterRef<'_>, c: &Described, now: Timestamp) -> Value {
    let cluster_id = at.cluster_id();
    let items: Vec<Value> = c
        .schedule
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            json!({
                "frequencyInterval": item.frequency.frequency_interval(),
                "frequencyType": item.frequency.frequency_type(),
                "id": policy_item_id(&cluster_id, index),
                "retentionUnit": item.retention_unit.as_str(),
                "retentionValue": item.retention_value
            })
        })
        .collect();
    let (hour, minute) = c.reference;
    let base = format!("{}/api/atlas/v2/groups/{}", at.origin, at.group);
    let mut m = Map::new();
    let (auto_export, export) = copies::auto_export(&cluster_id, &c.schedule);
    m.insert("autoExportEnabled".into(), json!(auto_export));
    m.insert("clusterId".into(), json!(cluster_id));
    m.insert("clusterName".into(), json!(at.cluster));
    m.insert("copyPolicyItemsEnabled".into(), json!(false));
    m.insert(
        "copySettings".into(),
        copies::copy_settings(&cluster_id, &c.schedule),
    );
    if let Some(export) = export {
        m.insert("export".into(), export);
    }
    m.insert(
        "links".into(),
        json!([
            link(
                format!("{base}/clusters/{}/backup/schedule", at.cluster),
                "self"
            ),
            link(
                format!("{}/api/public/v1.0/groups/{}", at.origin, at.group),
                "https://cloud.mongodb.com/group"
            ),
        ]),
    );
    if let Some(next) = c.schedule.next_after(c.reference, now) {
        m.insert("nextSnapshot".into(), json!(time(next)));
    }
    m.insert(
        "policies".into(),
        json!([{
            "id": derived_id(&format!("policies:{cluster_id}")),
            "policyItems": items
        }]),
    );
    m.insert("referenceHourOfDay".into(), json!(hour));
    m.insert("referenceMinuteOfHour".into(), json!(minute));
    m.insert(
        "restoreWindowDays".into(),
        json!(c.schedule.restore_window_days),
    );
    m.insert("useOrgAndGroupNamesInExportPrefix".into(), json!(false));
    Value::Object(m)
}

/// The list envelope; `totalCount` only when asked for.
pub(crate) fn list(results: Vec<Value>, links: Vec<Value>, total: Option<usize>) -> Value {
    let mut m = Map::new();
    m.insert("links".into(), Value::Array(links));
    m.insert("results".into(), Value::Array(results));
    if let Some(total) = total {
        m.insert("totalCount".into(), json!(total));
    }
    Value::Object(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn at() -> ClusterRef<'static> {
        ClusterRef {
            origin: "http://h",
            group: "32b6e34b3d91647abb20e7b8",
            cluster: "Cluster0",
        }
    }

    fn snap(status: SimStatus, times: [Option<&str>; 3], size: Option<u64>) -> SimSnapshot {
        SimSnapshot {
            id: "673ecc2f8b1e6a0d5c0f1a2d".into(),
            status,
            scheduled: times[0].map(ts),
            started: times[1].map(ts),
            finished: times[2].map(ts),
            size_bytes: size,
            on_demand: false,
        }
    }

    #[test]
    fn a_pending_flex_snapshot_has_only_its_schedule() {
        let s = snap(
            SimStatus::Pending,
            [Some("2026-11-23T02:00:00Z"), None, None],
            None,
        );
        let v = snapshot(Family::Flex, &s, &at(), false);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["expiration", "id", "scheduledTime", "status"]);
        assert_eq!(v["status"], "PENDING");
    }

    #[test]
    fn a_completed_flex_snapshot_has_the_recorded_keys_and_expires_8_days_after_its_schedule() {
        // As in the recorded flex listing: scheduled 17:05:10, expiration 8 days on.
        let s = snap(
            SimStatus::Completed,
            [
                Some("2026-08-02T17:05:10Z"),
                Some("2026-08-02T17:05:37Z"),
                Some("2026-08-02T17:06:56Z"),
            ],
            None,
        );
        let v = snapshot(Family::Flex, &s, &at(), false);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "expiration",
                "finishTime",
                "id",
                "mongoDBVersion",
                "scheduledTime",
                "startTime",
                "status"
            ]
        );
        assert_eq!(v["expiration"], "2026-08-10T17:05:10Z");
    }

    #[test]
    fn a_completed_tenant_snapshot_has_every_time_and_an_expiration() {
        let s = snap(
            SimStatus::Completed,
            [
                Some("2026-11-22T02:00:00Z"),
                Some("2026-11-22T02:00:07.5Z"),
                Some("2026-11-22T02:04:51Z"),
            ],
            Some(5),
        );
        let v = snapshot(Family::TenantV2, &s, &at(), false);
        assert_eq!(v["startTime"], "2026-11-22T02:00:07Z");
        assert_eq!(v["expiration"], "2026-11-23T02:04:51Z");
        assert!(v.get("storageSizeBytes").is_none());
        assert_eq!(
            v["links"][0]["href"],
            "http://h/api/atlas/v2/groups/32b6e34b3d91647abb20e7b8/clusters/Cluster0/backup/tenant/snapshots/673ecc2f8b1e6a0d5c0f1a2d"
        );
    }

    #[test]
    fn dedicated_maps_statuses_to_its_vocabulary() {
        let cases = [
            (SimStatus::Pending, "queued"),
            (SimStatus::Queued, "queued"),
            (SimStatus::Running, "inProgress"),
            (SimStatus::Completed, "completed"),
            (SimStatus::Failed, "failed"),
            (SimStatus::Other("weird".into()), "weird"),
        ];
        for (status, wire) in cases {
            let s = snap(
                status,
                [
                    Some("2026-11-22T06:00:00Z"),
                    Some("2026-11-22T06:01:12Z"),
                    None,
                ],
                Some(42),
            );
            let finished = !unfinished(&s.status);
            let v = snapshot(Family::Dedicated, &s, &at(), false);
            assert_eq!(v["status"], wire);
            assert_eq!(v["type"], "replicaSet");
            if finished {
                assert_eq!(v["createdAt"], "2026-11-22T06:01:12Z");
                assert_eq!(v["storageSizeBytes"], 42);
            } else {
                // Atlas dates a dedicated snapshot only once it has finished.
                assert!(v.get("createdAt").is_none(), "{v}");
                assert_eq!(v["storageSizeBytes"], 0);
            }
        }
    }

    #[test]
    fn an_unfinished_on_demand_dedicated_snapshot_has_exactly_the_recorded_shape() {
        for (status, wire) in [
            (SimStatus::Running, "inProgress"),
            (SimStatus::Queued, "queued"),
        ] {
            let s = SimSnapshot::on_demand(
                "673ecc2f8b1e6a0d5c0f1a2d",
                status,
                ts("2026-11-22T06:00:00Z"),
            );
            let v = snapshot(Family::Dedicated, &s, &at(), false);
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                [
                    "copyRegions",
                    "expiresAt",
                    "frequencyType",
                    "id",
                    "links",
                    "policyItems",
                    "replicaSetName",
                    "snapshotType",
                    "status",
                    "storageSizeBytes",
                    "type"
                ]
            );
            assert_eq!(v["status"], wire);
            assert_eq!(v["storageSizeBytes"], 0);
            assert_eq!(v["frequencyType"], "ondemand");
            assert_eq!(v["snapshotType"], "onDemand");
            assert_eq!(v["policyItems"], json!([]));
            assert_eq!(v["copyRegions"], json!([]));
            assert_eq!(v["type"], "replicaSet");
            assert_eq!(v["expiresAt"], "2026-11-29T06:00:00Z");
        }
        let mut done = SimSnapshot::on_demand(
            "673ecc2f8b1e6a0d5c0f1a2d",
            SimStatus::Completed,
            ts("2026-11-22T06:00:00Z"),
        );
        done.size_bytes = Some(7);
        let v = snapshot(Family::Dedicated, &done, &at(), false);
        assert_eq!(v["createdAt"], "2026-11-22T06:00:00Z");
        assert_eq!(v["cloudProvider"], "AWS");
        assert!(v["mongodVersion"].is_string());
        assert_eq!(v["storageSizeBytes"], 7);
        assert_eq!(v["frequencyType"], "ondemand");
    }

    #[test]
    fn legacy_parts_add_up_to_the_size_for_any_part_count() {
        for id in [
            "000000000000000000000000",
            "000000000000000000000001",
            "000000000000000000000002",
        ] {
            let mut s = snap(
                SimStatus::Completed,
                [Some("2017-12-26T16:32:16Z"), None, None],
                Some(1_000_003),
            );
            s.id = id.into();
            let v = snapshot(Family::LegacyV1, &s, &at(), false);
            let parts = v["parts"].as_array().unwrap();
            let sum: u64 = parts
                .iter()
                .map(|p| p["storageSizeBytes"].as_u64().unwrap())
                .sum();
            assert_eq!(sum, 1_000_003);
            assert_eq!(v["complete"], true);
            assert_eq!(v["created"]["date"], "2017-12-26T16:32:16Z");
            assert!(v.get("clusterName").is_none());
        }
        let failed = snap(
            SimStatus::Failed,
            [Some("2017-12-26T16:32:16Z"), None, None],
            None,
        );
        assert_eq!(
            snapshot(Family::LegacyV2, &failed, &at(), false)["complete"],
            false
        );
    }
}
