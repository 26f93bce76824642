//! The endpoints the client calls: path, media type and paging of each, and the operation
//! name they are counted under.

use std::fmt;

use crate::target::{ApiVersion, Kind};

/// Media type of the v2 shared-tier, dedicated and legacy endpoints.
pub const MEDIA_TYPE_2023_01_01: &str = "application/vnd.atlas.2023-01-01+json";
/// Media type of the v2 flex endpoints.
pub const MEDIA_TYPE_2024_11_13: &str = "application/vnd.atlas.2024-11-13+json";
/// Media type of the unversioned v1.0 API.
pub const MEDIA_TYPE_V1: &str = "application/json";

/// Items asked for per page on paged listings: the API's maximum.
pub const ITEMS_PER_PAGE: usize = 500;

/// A backup API family with a concrete endpoint: a [`Kind`] other than `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackupApi {
    /// Shared-tier (M2/M5) snapshots.
    Tenant,
    /// Flex snapshots.
    Flex,
    /// Dedicated Cloud Backup snapshots.
    Dedicated,
    /// Legacy Backup snapshots.
    Legacy,
}

impl BackupApi {
    /// The concrete API for a configured kind; `None` for `auto`.
    pub fn from_kind(kind: Kind) -> Option<BackupApi> {
        match kind {
            Kind::Auto => None,
            Kind::Flex => Some(BackupApi::Flex),
            Kind::Tenant => Some(BackupApi::Tenant),
            Kind::Dedicated => Some(BackupApi::Dedicated),
            Kind::Legacy => Some(BackupApi::Legacy),
        }
    }

    /// The kind this API serves, for the `kind` label.
    pub fn kind(self) -> Kind {
        match self {
            BackupApi::Tenant => Kind::Tenant,
            BackupApi::Flex => Kind::Flex,
            BackupApi::Dedicated => Kind::Dedicated,
            BackupApi::Legacy => Kind::Legacy,
        }
    }

    /// The path family actually used: flex and dedicated exist only in v2.
    pub fn effective_version(self, configured: ApiVersion) -> ApiVersion {
        match self {
            BackupApi::Flex | BackupApi::Dedicated => ApiVersion::V2,
            BackupApi::Tenant | BackupApi::Legacy => configured,
        }
    }

    /// The `Accept` header value for this API in a path family.
    pub fn media_type(self, version: ApiVersion) -> &'static str {
        match (self.effective_version(version), self) {
            (ApiVersion::V1_0, _) => MEDIA_TYPE_V1,
            (ApiVersion::V2, BackupApi::Flex) => MEDIA_TYPE_2024_11_13,
            (ApiVersion::V2, _) => MEDIA_TYPE_2023_01_01,
        }
    }

    /// True when the listing takes `pageNum`/`itemsPerPage`: every one but the v2 tenant listing.
    pub fn list_is_paged(self, version: ApiVersion) -> bool {
        !(self == BackupApi::Tenant && self.effective_version(version) == ApiVersion::V2)
    }

    /// Path segments of the listing below the API root, e.g. `groups/{id}/flexClusters/{name}/backup/snapshots`.
    pub fn list_segments<'a>(self, project_id: &'a str, cluster: &'a str) -> Vec<&'a str> {
        match self {
            BackupApi::Tenant => vec![
                "groups",
                project_id,
                "clusters",
                cluster,
                "backup",
                "tenant",
                "snapshots",
            ],
            BackupApi::Flex => vec![
                "groups",
                project_id,
                "flexClusters",
                cluster,
                "backup",
                "snapshots",
            ],
            BackupApi::Dedicated => {
                vec![
                    "groups",
                    project_id,
                    "clusters",
                    cluster,
                    "backup",
                    "snapshots",
                ]
            }
            BackupApi::Legacy => vec!["groups", project_id, "clusters", cluster, "snapshots"],
        }
    }

    /// Query parameters the listing always carries besides paging: `completed=all` on the v2
    /// legacy listing, which otherwise returns completed snapshots only.
    pub fn list_query(self, version: ApiVersion) -> &'static [(&'static str, &'static str)] {
        match (self, self.effective_version(version)) {
            (BackupApi::Legacy, ApiVersion::V2) => &[("completed", "all")],
            _ => &[],
        }
    }

    /// The operation a listing is counted under.
    pub fn list_operation(self) -> Operation {
        match self {
            BackupApi::Tenant => Operation::TenantSnapshotsList,
            BackupApi::Flex => Operation::FlexSnapshotsList,
            BackupApi::Dedicated => Operation::DedicatedSnapshotsList,
            BackupApi::Legacy => Operation::LegacySnapshotsList,
        }
    }

    /// The operation a get-one is counted under.
    pub fn get_operation(self) -> Operation {
        match self {
            BackupApi::Tenant => Operation::TenantSnapshotsGet,
            BackupApi::Flex => Operation::FlexSnapshotsGet,
            BackupApi::Dedicated => Operation::DedicatedSnapshotsGet,
            BackupApi::Legacy => Operation::LegacySnapshotsGet,
        }
    }
}

impl fmt::Display for BackupApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().as_str())
    }
}

/// One API operation: the `endpoint` label on the exporter's request metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// List shared-tier snapshots.
    TenantSnapshotsList,
    /// Get one shared-tier snapshot.
    TenantSnapshotsGet,
    /// List flex snapshots.
    FlexSnapshotsList,
    /// Get one flex snapshot.
    FlexSnapshotsGet,
    /// List dedicated Cloud Backup snapshots.
    DedicatedSnapshotsList,
    /// Get one dedicated snapshot.
    DedicatedSnapshotsGet,
    /// List legacy snapshots.
    LegacySnapshotsList,
    /// Get one legacy snapshot.
    LegacySnapshotsGet,
    /// Exchange service-account credentials for an access token.
    OauthToken,
}

impl Operation {
    /// Every operation, for pre-registering label values.
    pub const ALL: [Operation; 9] = [
        Operation::TenantSnapshotsList,
        Operation::TenantSnapshotsGet,
        Operation::FlexSnapshotsList,
        Operation::FlexSnapshotsGet,
        Operation::DedicatedSnapshotsList,
        Operation::DedicatedSnapshotsGet,
        Operation::LegacySnapshotsList,
        Operation::LegacySnapshotsGet,
        Operation::OauthToken,
    ];

    /// The label value, named after the spec's operationIds.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::TenantSnapshotsList => "list_tenant_snapshots",
            Operation::TenantSnapshotsGet => "get_tenant_snapshot",
            Operation::FlexSnapshotsList => "list_flex_snapshots",
            Operation::FlexSnapshotsGet => "get_flex_snapshot",
            Operation::DedicatedSnapshotsList => "list_dedicated_snapshots",
            Operation::DedicatedSnapshotsGet => "get_dedicated_snapshot",
            Operation::LegacySnapshotsList => "list_legacy_snapshots",
            Operation::LegacySnapshotsGet => "get_legacy_snapshot",
            Operation::OauthToken => "oauth_token",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_uses_its_documented_media_type() {
        assert_eq!(
            BackupApi::Flex.media_type(ApiVersion::V2),
            "application/vnd.atlas.2024-11-13+json"
        );
        assert_eq!(
            BackupApi::Tenant.media_type(ApiVersion::V2),
            "application/vnd.atlas.2023-01-01+json"
        );
        assert_eq!(
            BackupApi::Tenant.media_type(ApiVersion::V1_0),
            "application/json"
        );
        // Flex has no v1.0 path: the v2 media type stays whatever api_version says.
        assert_eq!(
            BackupApi::Flex.media_type(ApiVersion::V1_0),
            "application/vnd.atlas.2024-11-13+json"
        );
    }

    #[test]
    fn only_the_v2_tenant_listing_is_unpaged() {
        assert!(!BackupApi::Tenant.list_is_paged(ApiVersion::V2));
        assert!(BackupApi::Tenant.list_is_paged(ApiVersion::V1_0));
        assert!(BackupApi::Flex.list_is_paged(ApiVersion::V2));
        assert!(BackupApi::Legacy.list_is_paged(ApiVersion::V2));
    }

    #[test]
    fn completed_all_is_sent_on_the_v2_legacy_listing_only() {
        assert_eq!(
            BackupApi::Legacy.list_query(ApiVersion::V2),
            &[("completed", "all")]
        );
        assert!(BackupApi::Legacy.list_query(ApiVersion::V1_0).is_empty());
        assert!(BackupApi::Dedicated.list_query(ApiVersion::V2).is_empty());
    }
}
