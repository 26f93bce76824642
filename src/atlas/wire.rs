//! Response bodies as Atlas sends them, field for field.
//!
//! Unknown fields are ignored and statuses are kept as strings, so a new field or a new status
//! value in Atlas never breaks a poll; [`crate::snapshot`] decides what a status means.

use jiff::Timestamp;
use serde::Deserialize;

/// One page of a listing: `Paginated*View` in the spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items on this page. Not marked required for tenant listings, so absent means empty.
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
    /// `self`, `previous` and `next` relations.
    #[serde(default)]
    pub links: Vec<Link>,
    /// An estimate of the number of items in all pages; absent with `includeCount=false`.
    #[serde(default)]
    pub total_count: Option<u64>,
}

impl<T> Page<T> {
    /// True when the page links to a next page.
    pub fn has_next(&self) -> bool {
        self.links.iter().any(|l| l.rel == "next")
    }
}

/// A web link relation.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Link {
    /// The target URL.
    #[serde(default)]
    pub href: String,
    /// The relation: `self`, `next`, `previous`.
    #[serde(default)]
    pub rel: String,
}

/// A shared-tier snapshot (`BackupTenantSnapshot`). Flex snapshots
/// (`FlexBackupSnapshot20241113`) have exactly the same shape: see [`FlexSnapshot`].
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantSnapshot {
    /// 24 hex digits.
    pub id: String,
    /// `PENDING`, `QUEUED`, `RUNNING`, `FAILED`, `COMPLETED`, or a value added later.
    #[serde(default)]
    pub status: Option<String>,
    /// When Atlas will take, or was to take, the snapshot.
    #[serde(default)]
    pub scheduled_time: Option<Timestamp>,
    /// When Atlas began taking it.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    /// When Atlas finished writing it.
    #[serde(default)]
    pub finish_time: Option<Timestamp>,
    /// When the download link stops working.
    #[serde(default)]
    pub expiration: Option<Timestamp>,
    /// The MongoDB version the snapshot was taken from.
    #[serde(default, rename = "mongoDBVersion")]
    pub mongodb_version: Option<String>,
}

/// A flex snapshot: the same shape as a tenant snapshot.
pub type FlexSnapshot = TenantSnapshot;

/// A dedicated-cluster Cloud Backup snapshot (`DiskBackupReplicaSet`, and the common fields of
/// `DiskBackupShardedClusterSnapshot`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DedicatedSnapshot {
    /// 24 hex digits.
    pub id: String,
    /// `queued`, `inProgress`, `completed`, `failed`, or a value added later.
    #[serde(default)]
    pub status: Option<String>,
    /// When Atlas took the snapshot.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// When Atlas deletes it.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Bytes taken to store the backup.
    #[serde(default)]
    pub storage_size_bytes: Option<u64>,
    /// `scheduled`, `onDemand`, `fallback`.
    #[serde(default)]
    pub snapshot_type: Option<String>,
    /// `hourly`, `daily`, `weekly`, `monthly`, `yearly`.
    #[serde(default)]
    pub frequency_type: Option<String>,
    /// `replicaSet` or `shardedCluster`.
    #[serde(default, rename = "type")]
    pub snapshot_kind: Option<String>,
    /// The MongoDB version the snapshot was taken from.
    #[serde(default)]
    pub mongod_version: Option<String>,
}

/// A Legacy Backup snapshot (`BackupSnapshot`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LegacySnapshot {
    /// The snapshot id.
    pub id: String,
    /// False while Atlas is still creating the snapshot.
    #[serde(default)]
    pub complete: Option<bool>,
    /// When the snapshot was taken.
    #[serde(default)]
    pub created: Option<BsonTimestamp>,
    /// When Atlas deletes it; absent with `doNotDelete`.
    #[serde(default)]
    pub expires: Option<Timestamp>,
    /// True when the snapshot is kept indefinitely.
    #[serde(default)]
    pub do_not_delete: Option<bool>,
    /// The replica sets and config servers that make up the snapshot.
    #[serde(default)]
    pub parts: Vec<LegacySnapshotPart>,
}

/// One part of a legacy snapshot.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LegacySnapshotPart {
    /// Space allocated for document storage, in bytes.
    #[serde(default)]
    pub storage_size_bytes: Option<u64>,
    /// `REPLICA_SET`, `CONFIG_SERVER_REPLICA_SET`, ...
    #[serde(default)]
    pub type_name: Option<String>,
    /// The replica set name.
    #[serde(default)]
    pub replica_set_name: Option<String>,
}

/// A BSON timestamp as the API renders it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BsonTimestamp {
    /// The wall-clock time.
    pub date: Timestamp,
    /// The ordinal within that second.
    #[serde(default)]
    pub increment: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEX_PAGE: &str = include_str!("../../tests/testdata/atlas/flex_snapshots_page.json");
    const DEDICATED_PAGE: &str =
        include_str!("../../tests/testdata/atlas/replicaset_snapshots_page.json");
    const LEGACY_PAGE: &str = include_str!("../../tests/testdata/atlas/legacy_snapshots_page.json");
    const TENANT_V1_PAGE: &str =
        include_str!("../../tests/testdata/atlas/tenant_snapshots_page_v1doc.json");

    #[test]
    fn the_documented_flex_page_decodes() {
        let page: Page<FlexSnapshot> = serde_json::from_str(FLEX_PAGE).unwrap();
        assert_eq!(page.results.len(), 2);
        assert_eq!(page.total_count, Some(2));
        assert_eq!(page.results[0].status.as_deref(), Some("COMPLETED"));
        assert_eq!(
            page.results[0].finish_time,
            Some("2026-11-22T02:04:51Z".parse().unwrap())
        );
        assert_eq!(page.results[1].start_time, None);
        assert!(!page.has_next());
    }

    #[test]
    fn the_documented_dedicated_page_decodes_and_links_to_a_next_page() {
        let page: Page<DedicatedSnapshot> = serde_json::from_str(DEDICATED_PAGE).unwrap();
        assert_eq!(page.results.len(), 2);
        assert_eq!(page.results[0].storage_size_bytes, Some(1_234_567_890));
        assert_eq!(page.results[1].status.as_deref(), Some("inProgress"));
        assert!(page.has_next());
    }

    #[test]
    fn the_documented_legacy_page_decodes() {
        let page: Page<LegacySnapshot> = serde_json::from_str(LEGACY_PAGE).unwrap();
        let s = &page.results[0];
        assert_eq!(s.complete, Some(true));
        assert_eq!(s.parts[0].storage_size_bytes, Some(53248));
        assert_eq!(
            s.created.as_ref().unwrap().date,
            "2017-12-26T16:32:16Z".parse().unwrap()
        );
    }

    #[test]
    fn the_v1_tenant_doc_example_without_links_decodes() {
        let page: Page<TenantSnapshot> = serde_json::from_str(TENANT_V1_PAGE).unwrap();
        assert_eq!(page.results[0].status.as_deref(), Some("FAILED"));
        assert!(page.links.is_empty());
    }

    #[test]
    fn unknown_fields_and_statuses_are_tolerated() {
        let page: Page<TenantSnapshot> = serde_json::from_str(
            r#"{"results":[{"id":"aa","status":"ARCHIVED","newField":{"x":1}}],"brandNew":true}"#,
        )
        .unwrap();
        assert_eq!(page.results[0].status.as_deref(), Some("ARCHIVED"));
    }
}
