//! The endpoints the client calls: path, media type and paging of each, the operation name
//! they are counted under, and what Atlas' answers say about which endpoint serves a cluster.

use std::fmt;

use reqwest::Url;

use crate::target::{ApiVersion, Kind};

/// Media type of the v2 shared-tier, dedicated and legacy endpoints.
pub const MEDIA_TYPE_2023_01_01: &str = "application/vnd.atlas.2023-01-01+json";
/// Media type of the current cluster description (`ClusterDescription20240805`) and backup
/// schedule (`DiskBackupSnapshotSchedule20240805`) endpoints.
pub const MEDIA_TYPE_2024_08_05: &str = "application/vnd.atlas.2024-08-05+json";
/// Media type of the v2 flex endpoints.
pub const MEDIA_TYPE_2024_11_13: &str = "application/vnd.atlas.2024-11-13+json";
/// Media type of the unversioned v1.0 API.
pub const MEDIA_TYPE_V1: &str = "application/json";

/// Items asked for per page on paged listings: the API's maximum.
pub const ITEMS_PER_PAGE: usize = 500;

/// The budget bucket of `GET /groups`: Atlas counts it against the credential (the Projects
/// endpoint set has USER scope), not against a project. Not 24 hex digits, so no project id
/// can share it.
pub const USER_BUCKET: &str = "user";

/// The budget bucket of `GET /orgs/{orgId}/groups`: `org:` and the organization id, one bucket
/// per organization, never a project's (whose key is 24 hex digits alone).
pub fn organization_bucket(org_id: &str) -> String {
    format!("org:{org_id}")
}

/// Atlas' answer when a non-flex cluster is asked for on a flex endpoint.
pub const NON_FLEX_CLUSTER_IN_FLEX_API: &str = "CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API";
/// Atlas' answer when a flex cluster is asked for on a cluster (non-flex) endpoint.
pub const FLEX_CLUSTER_IN_CLUSTER_API: &str = "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API";
/// Atlas' 403 for a feature the account level does not offer.
pub const FEATURE_UNSUPPORTED: &str = "FEATURE_UNSUPPORTED";
/// Atlas' 404 for a cluster name the project does not have.
pub const CLUSTER_NOT_FOUND: &str = "CLUSTER_NOT_FOUND";

/// True when `base_url` is MongoDB Atlas for Government (`cloud.mongodbgov.com`, or one of its
/// `cloud-qa`/`cloud-dev` siblings), which has no flex API: the Atlas CLI refuses flex calls
/// there (`internal/store/cloud_provider_backup.go`, `FlexClusterSnapshots`) and the Terraform
/// provider knows the service by these hosts.
pub fn is_atlas_for_government(base_url: &Url) -> bool {
    base_url.host_str().is_some_and(|host| {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        host == "mongodbgov.com" || host.ends_with(".mongodbgov.com")
    })
}

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

    /// For `auto`: the endpoint to ask next when this one answered Atlas' error `code`, as the
    /// Atlas CLI does (`internal/cli/backup/snapshots/list.go`, `ListOpts.Run`): from flex,
    /// `CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API`, `FEATURE_UNSUPPORTED` or `CLUSTER_NOT_FOUND`
    /// mean "use the dedicated endpoint". From dedicated, `CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API`
    /// means a flex cluster (one upgraded the other way round, or remembered wrongly), and
    /// `CLUSTER_NOT_FOUND` is asked again of flex, so that a cluster is gone only when both
    /// endpoints say so. `None`: the answer says nothing about the cluster's kind.
    pub fn auto_fallback(self, code: &str) -> Option<BackupApi> {
        match self {
            BackupApi::Flex => matches!(
                code,
                NON_FLEX_CLUSTER_IN_FLEX_API | FEATURE_UNSUPPORTED | CLUSTER_NOT_FOUND
            )
            .then_some(BackupApi::Dedicated),
            BackupApi::Dedicated => matches!(code, FLEX_CLUSTER_IN_CLUSTER_API | CLUSTER_NOT_FOUND)
                .then_some(BackupApi::Flex),
            BackupApi::Tenant | BackupApi::Legacy => None,
        }
    }

    /// The API Atlas says serves the cluster when this API's endpoint answered the other kind's
    /// error `code`: a configured kind that no longer matches the cluster (a flex cluster
    /// upgraded to dedicated, say).
    pub fn mismatch(self, code: &str) -> Option<BackupApi> {
        match (self, code) {
            (BackupApi::Flex, NON_FLEX_CLUSTER_IN_FLEX_API) => Some(BackupApi::Dedicated),
            (
                BackupApi::Tenant | BackupApi::Dedicated | BackupApi::Legacy,
                FLEX_CLUSTER_IN_CLUSTER_API,
            ) => Some(BackupApi::Flex),
            _ => None,
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
    /// List every project the credential reads (`listGroups`).
    ProjectsList,
    /// List the projects of one organization (`getOrgGroups`).
    OrganizationProjectsList,
    /// List a project's clusters (`listGroupClusters`, override `listClusters`).
    ClustersList,
    /// List a project's flex clusters (`listGroupFlexClusters`, override `listFlexClusters`).
    FlexClustersList,
    /// Get one cluster (`getGroupCluster`, override `getCluster`).
    ClusterGet,
    /// Get one flex cluster (`getGroupFlexCluster`, override `getFlexCluster`).
    FlexClusterGet,
    /// Get a cluster's backup schedule (`getGroupClusterBackupSchedule`, override
    /// `getBackupSchedule`).
    BackupScheduleGet,
    /// Cloud Manager / Ops Manager: list a project's clusters (`GET /groups/{id}/clusters`), to
    /// find a cluster's id by its name.
    ManagerClustersList,
    /// Cloud Manager / Ops Manager: get one cluster by id (`GET /groups/{id}/clusters/{clusterId}`).
    ManagerClusterGet,
    /// Cloud Manager / Ops Manager: get a cluster's backup configuration
    /// (`GET /groups/{id}/backupConfigs/{clusterId}`).
    BackupConfigGet,
    /// Cloud Manager / Ops Manager: get a cluster's snapshot schedule
    /// (`GET /groups/{id}/backupConfigs/{clusterId}/snapshotSchedule`).
    SnapshotScheduleGet,
    /// List a flex cluster's restore jobs (`listGroupFlexClusterBackupRestoreJobs`, override
    /// `listFlexRestoreJobs`).
    FlexRestoreJobsList,
    /// List a dedicated cluster's Cloud Backup restore jobs
    /// (`listGroupClusterBackupRestoreJobs`, override `listBackupRestoreJobs`).
    DedicatedRestoreJobsList,
    /// List a dedicated cluster's snapshot export jobs (`listGroupClusterBackupExports`,
    /// override `listBackupExports`).
    ExportJobsList,
    /// List a project's alerts (`listGroupAlerts`, override `listAlerts`), the open ones only.
    AlertsList,
}

impl Operation {
    /// Every operation, for pre-registering label values.
    pub const ALL: [Operation; 24] = [
        Operation::TenantSnapshotsList,
        Operation::TenantSnapshotsGet,
        Operation::FlexSnapshotsList,
        Operation::FlexSnapshotsGet,
        Operation::DedicatedSnapshotsList,
        Operation::DedicatedSnapshotsGet,
        Operation::LegacySnapshotsList,
        Operation::LegacySnapshotsGet,
        Operation::OauthToken,
        Operation::ProjectsList,
        Operation::OrganizationProjectsList,
        Operation::ClustersList,
        Operation::FlexClustersList,
        Operation::ClusterGet,
        Operation::FlexClusterGet,
        Operation::BackupScheduleGet,
        Operation::ManagerClustersList,
        Operation::ManagerClusterGet,
        Operation::BackupConfigGet,
        Operation::SnapshotScheduleGet,
        Operation::FlexRestoreJobsList,
        Operation::DedicatedRestoreJobsList,
        Operation::ExportJobsList,
        Operation::AlertsList,
    ];

    /// The label value, named after the spec's operationIds (the Cloud Manager and Ops Manager
    /// ones after their API reference pages, `om` where the Atlas name is taken).
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
            Operation::ProjectsList => "list_projects",
            Operation::OrganizationProjectsList => "list_organization_projects",
            Operation::ClustersList => "list_clusters",
            Operation::FlexClustersList => "list_flex_clusters",
            Operation::ClusterGet => "get_cluster",
            Operation::FlexClusterGet => "get_flex_cluster",
            Operation::BackupScheduleGet => "get_backup_schedule",
            Operation::ManagerClustersList => "list_om_clusters",
            Operation::ManagerClusterGet => "get_om_cluster",
            Operation::BackupConfigGet => "get_backup_config",
            Operation::SnapshotScheduleGet => "get_snapshot_schedule",
            Operation::FlexRestoreJobsList => "list_flex_restore_jobs",
            Operation::DedicatedRestoreJobsList => "list_dedicated_restore_jobs",
            Operation::ExportJobsList => "list_export_jobs",
            Operation::AlertsList => "list_alerts",
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
    fn atlas_for_government_is_known_by_its_host() {
        let gov = |url: &str| is_atlas_for_government(&url.parse().unwrap());
        assert!(gov("https://cloud.mongodbgov.com"));
        assert!(gov("https://cloud.mongodbgov.com/"));
        assert!(gov("https://CLOUD.MongoDBGov.com"));
        assert!(gov("https://cloud-qa.mongodbgov.com"));
        assert!(!gov("https://cloud.mongodb.com"));
        assert!(!gov("https://mongodbgov.com.example.org"));
        assert!(!gov("http://127.0.0.1:8080"));
    }

    #[test]
    fn auto_falls_back_from_flex_on_the_three_codes_the_atlas_cli_uses() {
        for code in [
            NON_FLEX_CLUSTER_IN_FLEX_API,
            FEATURE_UNSUPPORTED,
            CLUSTER_NOT_FOUND,
        ] {
            assert_eq!(
                BackupApi::Flex.auto_fallback(code),
                Some(BackupApi::Dedicated)
            );
        }
        assert_eq!(BackupApi::Flex.auto_fallback("UNEXPECTED_ERROR"), None);
        assert_eq!(
            BackupApi::Dedicated.auto_fallback(FLEX_CLUSTER_IN_CLUSTER_API),
            Some(BackupApi::Flex)
        );
        assert_eq!(
            BackupApi::Dedicated.auto_fallback(FEATURE_UNSUPPORTED),
            None
        );
    }

    #[test]
    fn only_the_other_kinds_error_is_a_mismatch() {
        assert_eq!(
            BackupApi::Flex.mismatch(NON_FLEX_CLUSTER_IN_FLEX_API),
            Some(BackupApi::Dedicated)
        );
        assert_eq!(
            BackupApi::Dedicated.mismatch(FLEX_CLUSTER_IN_CLUSTER_API),
            Some(BackupApi::Flex)
        );
        assert_eq!(BackupApi::Flex.mismatch(CLUSTER_NOT_FOUND), None);
        assert_eq!(
            BackupApi::Dedicated.mismatch(NON_FLEX_CLUSTER_IN_FLEX_API),
            None
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
    fn every_operation_has_its_own_endpoint_label() {
        let labels: std::collections::BTreeSet<&str> =
            Operation::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(labels.len(), Operation::ALL.len());
        assert!(labels.contains("list_organization_projects"));
        assert!(labels.contains("get_backup_schedule"));
    }

    #[test]
    fn user_and_organization_buckets_are_never_a_project_id() {
        let is_project_id =
            |key: &str| key.len() == 24 && key.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(!is_project_id(USER_BUCKET));
        assert!(!is_project_id(&organization_bucket(
            "5b69d0349b15c62cdfc38b70"
        )));
        assert_ne!(organization_bucket("a"), organization_bucket("b"));
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
