//! Which endpoint a request path names: the route table, the route names counted in `Stats`,
//! each endpoint's media type, rate-limit endpoint set and path-parameter patterns.
//!
//! Classification looks at the path only; validating the parameters (group id, cluster name,
//! snapshot id) is a separate step so the right Atlas error can be chosen after authentication.

use super::jobs::JobRoute;
use super::scenario::SimKind;

/// Media type of the tenant, dedicated, legacy v2 and groups endpoints.
pub(crate) const MEDIA_2023: &str = "application/vnd.atlas.2023-01-01+json";
/// Media type of the flex endpoints.
pub(crate) const MEDIA_2024_FLEX: &str = "application/vnd.atlas.2024-11-13+json";
/// Media type of the cluster listing, one cluster and the backup schedule (the current one;
/// the older versions those endpoints also offer are not served).
pub(crate) const MEDIA_2024_CLUSTERS: &str = "application/vnd.atlas.2024-08-05+json";
/// Media type of every v1.0 endpoint.
pub(crate) const MEDIA_V1: &str = "application/json";

/// A snapshot API family: one path shape, one media type, one wire rendering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `/api/atlas/v2/.../clusters/{c}/backup/tenant/snapshots`, not paged.
    TenantV2,
    /// `/api/atlas/v1.0/.../clusters/{c}/backup/tenant/snapshots`, paged.
    TenantV1,
    /// `/api/atlas/v2/.../flexClusters/{c}/backup/snapshots`, paged.
    Flex,
    /// `/api/atlas/v2/.../clusters/{c}/backup/snapshots`, paged.
    Dedicated,
    /// `/api/atlas/v2/.../clusters/{c}/snapshots`, paged, with `completed`.
    LegacyV2,
    /// `/api/atlas/v1.0/.../clusters/{c}/snapshots`, paged, no `completed` filter.
    LegacyV1,
    /// Cloud Manager / Ops Manager: `/api/public/v1.0/groups/{g}/clusters/{clusterId}/snapshots`,
    /// paged, the cluster addressed by its id.
    LegacyPublic,
}

impl Family {
    pub(crate) fn media_type(self) -> &'static str {
        match self {
            Family::TenantV2 | Family::Dedicated | Family::LegacyV2 => MEDIA_2023,
            Family::Flex => MEDIA_2024_FLEX,
            Family::TenantV1 | Family::LegacyV1 | Family::LegacyPublic => MEDIA_V1,
        }
    }

    pub(crate) fn is_paged(self) -> bool {
        self != Family::TenantV2
    }

    /// The cluster kind this family serves.
    pub(crate) fn kind(self) -> SimKind {
        match self {
            Family::TenantV2 | Family::TenantV1 => SimKind::Tenant,
            Family::Flex => SimKind::Flex,
            Family::Dedicated => SimKind::Dedicated,
            Family::LegacyV2 | Family::LegacyV1 | Family::LegacyPublic => SimKind::Legacy,
        }
    }

    pub(crate) fn endpoint_set(self) -> EndpointSet {
        match self {
            Family::TenantV2 | Family::TenantV1 => EndpointSet::SharedTierSnapshots,
            Family::Flex => EndpointSet::FlexSnapshots,
            Family::Dedicated => EndpointSet::CloudBackups,
            Family::LegacyV2 | Family::LegacyV1 | Family::LegacyPublic => EndpointSet::LegacyBackup,
        }
    }

    /// The path prefix up to and including the API version, e.g. `/api/atlas/v2`.
    pub(crate) fn api_root(self) -> &'static str {
        match self {
            Family::TenantV1 | Family::LegacyV1 => "/api/atlas/v1.0",
            Family::LegacyPublic => "/api/public/v1.0",
            _ => "/api/atlas/v2",
        }
    }

    /// The listing path of this family for a cluster.
    pub(crate) fn list_path(self, group: &str, cluster: &str) -> String {
        let root = self.api_root();
        match self {
            Family::TenantV2 | Family::TenantV1 => {
                format!("{root}/groups/{group}/clusters/{cluster}/backup/tenant/snapshots")
            }
            Family::Flex => {
                format!("{root}/groups/{group}/flexClusters/{cluster}/backup/snapshots")
            }
            Family::Dedicated => {
                format!("{root}/groups/{group}/clusters/{cluster}/backup/snapshots")
            }
            Family::LegacyV2 | Family::LegacyV1 | Family::LegacyPublic => {
                format!("{root}/groups/{group}/clusters/{cluster}/snapshots")
            }
        }
    }

    fn route_name(self, list: bool) -> &'static str {
        match (self, list) {
            (Family::TenantV2, true) => "tenant_list_v2",
            (Family::TenantV2, false) => "tenant_get_v2",
            (Family::TenantV1, true) => "tenant_list_v1",
            (Family::TenantV1, false) => "tenant_get_v1",
            (Family::Flex, true) => "flex_list",
            (Family::Flex, false) => "flex_get",
            (Family::Dedicated, true) => "dedicated_list",
            (Family::Dedicated, false) => "dedicated_get",
            (Family::LegacyV2, true) => "legacy_list",
            (Family::LegacyV2, false) => "legacy_get",
            (Family::LegacyV1, true) => "legacy_list_v1",
            (Family::LegacyV1, false) => "legacy_get_v1",
            (Family::LegacyPublic, true) => "om_snapshots_list",
            (Family::LegacyPublic, false) => "om_snapshot_get",
        }
    }
}

/// Atlas' rate-limit endpoint sets that the simulated endpoints belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum EndpointSet {
    /// Shared-tier snapshots (Atlas folded these into Flex; kept apart here).
    SharedTierSnapshots,
    /// `…/flexClusters/{name}/backup/snapshots[/{id}]`.
    FlexSnapshots,
    /// `…/flexClusters[/{name}]`.
    FlexClusters,
    /// `…/flexClusters/{name}/backup/restoreJobs` (tag `Flex Restore Jobs`).
    FlexRestoreJobs,
    /// `…/backup/snapshots[/{id}]`.
    CloudBackups,
    /// `…/clusters/{name}/snapshots[/{id}]`.
    LegacyBackup,
    /// `GET /groups` and `GET /orgs/{id}/groups` (scoped per user).
    Projects,
    /// `GET /groups/{id}/clusters[/{name}]`.
    Clusters,
    /// `GET /groups/{id}/alerts`.
    Alerts,
}

/// What a request path names. Parameters are raw path segments, not yet validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A snapshot listing.
    SnapshotList {
        family: Family,
        group: String,
        cluster: String,
    },
    /// One snapshot.
    SnapshotGet {
        family: Family,
        group: String,
        cluster: String,
        id: String,
    },
    /// `GET /api/atlas/v2/groups/{g}/clusters/{c}/backup/snapshots/shardedClusters`: a sharded
    /// cluster's snapshots, not paged.
    ShardedList { group: String, cluster: String },
    /// `GET /api/atlas/v2/groups/{g}/clusters/{c}/backup/snapshots/shardedCluster/{id}`.
    ShardedGet {
        group: String,
        cluster: String,
        id: String,
    },
    /// `GET /api/atlas/v2/groups/{g}/flexClusters`.
    FlexClusterList { group: String },
    /// `GET /api/atlas/v2/groups/{g}/flexClusters/{name}`.
    FlexClusterGet { group: String, cluster: String },
    /// `GET /api/atlas/v2/groups`.
    GroupList,
    /// `GET /api/atlas/v2/orgs/{orgId}/groups`.
    OrgGroupList { org: String },
    /// `GET /api/atlas/v2/groups/{g}/clusters`: the non-flex clusters.
    ClusterList { group: String },
    /// `GET /api/atlas/v2/groups/{g}/clusters/{name}`.
    ClusterGet { group: String, cluster: String },
    /// `GET /api/atlas/v2/groups/{g}/clusters/{name}/backup/schedule`.
    BackupSchedule { group: String, cluster: String },
    /// A restore-job or export-job listing.
    JobList {
        route: JobRoute,
        group: String,
        cluster: String,
    },
    /// `GET /api/atlas/v2/groups/{g}/alerts`.
    AlertList { group: String },
    /// Cloud Manager / Ops Manager: `GET /api/public/v1.0/groups/{g}/clusters`.
    ManagerClusterList { group: String },
    /// Cloud Manager / Ops Manager: `GET /api/public/v1.0/groups/{g}/clusters/{clusterId}`.
    ManagerClusterGet { group: String, id: String },
    /// Cloud Manager / Ops Manager: `GET /api/public/v1.0/groups/{g}/backupConfigs`.
    BackupConfigList { group: String },
    /// Cloud Manager / Ops Manager: `GET /api/public/v1.0/groups/{g}/backupConfigs/{clusterId}`.
    BackupConfigGet { group: String, id: String },
    /// Cloud Manager / Ops Manager:
    /// `GET /api/public/v1.0/groups/{g}/backupConfigs/{clusterId}/snapshotSchedule`.
    SnapshotSchedule { group: String, id: String },
    /// `POST /api/oauth/token`.
    OAuthToken,
    /// `POST /api/oauth/revoke`.
    OAuthRevoke,
    /// Something under `/api/atlas/` or `/api/public/` that the simulator does not serve
    /// (authenticated first).
    UnknownApi,
    /// Anything else (no authentication: Atlas serves its web UI there).
    Unknown,
}

impl Endpoint {
    /// The name this endpoint is counted under in `Stats::by_route`.
    pub(crate) fn route_name(&self) -> &'static str {
        match self {
            Endpoint::SnapshotList { family, .. } => family.route_name(true),
            Endpoint::SnapshotGet { family, .. } => family.route_name(false),
            Endpoint::ShardedList { .. } => "sharded_list",
            Endpoint::ShardedGet { .. } => "sharded_get",
            Endpoint::FlexClusterList { .. } => "flex_clusters_list",
            Endpoint::FlexClusterGet { .. } => "flex_cluster_get",
            Endpoint::GroupList => "groups_list",
            Endpoint::OrgGroupList { .. } => "org_groups_list",
            Endpoint::ClusterList { .. } => "clusters_list",
            Endpoint::ClusterGet { .. } => "cluster_get",
            Endpoint::BackupSchedule { .. } => "backup_schedule",
            Endpoint::JobList { route, .. } => route.route_name(),
            Endpoint::AlertList { .. } => "alerts_list",
            Endpoint::ManagerClusterList { .. } => "om_clusters_list",
            Endpoint::ManagerClusterGet { .. } => "om_cluster_get",
            Endpoint::BackupConfigList { .. } => "om_backup_configs_list",
            Endpoint::BackupConfigGet { .. } => "om_backup_config_get",
            Endpoint::SnapshotSchedule { .. } => "om_snapshot_schedule",
            Endpoint::OAuthToken => "oauth_token",
            Endpoint::OAuthRevoke => "oauth_revoke",
            Endpoint::UnknownApi | Endpoint::Unknown => "unknown",
        }
    }

    /// The media type a v2 endpoint answers with, or `application/json` for v1.0.
    pub(crate) fn media_type(&self) -> &'static str {
        match self {
            Endpoint::SnapshotList { family, .. } | Endpoint::SnapshotGet { family, .. } => {
                family.media_type()
            }
            Endpoint::FlexClusterList { .. } | Endpoint::FlexClusterGet { .. } => MEDIA_2024_FLEX,
            Endpoint::JobList { route, .. } => route.media_type(),
            Endpoint::ShardedList { .. }
            | Endpoint::ShardedGet { .. }
            | Endpoint::GroupList
            | Endpoint::OrgGroupList { .. }
            | Endpoint::AlertList { .. } => MEDIA_2023,
            Endpoint::ClusterList { .. }
            | Endpoint::ClusterGet { .. }
            | Endpoint::BackupSchedule { .. } => MEDIA_2024_CLUSTERS,
            Endpoint::ManagerClusterList { .. }
            | Endpoint::ManagerClusterGet { .. }
            | Endpoint::BackupConfigList { .. }
            | Endpoint::BackupConfigGet { .. }
            | Endpoint::SnapshotSchedule { .. }
            | Endpoint::OAuthToken
            | Endpoint::OAuthRevoke
            | Endpoint::UnknownApi
            | Endpoint::Unknown => MEDIA_V1,
        }
    }
}

/// Maps a request path to the endpoint it names.
pub(crate) fn classify(path: &str) -> Endpoint {
    let segments: Vec<&str> = path.split('/').collect();
    // A leading "/" yields an empty first segment.
    let segments = match segments.split_first() {
        Some((&"", rest)) => rest,
        _ => return Endpoint::Unknown,
    };
    match segments {
        ["api", "oauth", "token"] => Endpoint::OAuthToken,
        ["api", "oauth", "revoke"] => Endpoint::OAuthRevoke,
        ["api", "atlas", "v2", "groups"] => Endpoint::GroupList,
        ["api", "atlas", "v2", "orgs", org, "groups"] => Endpoint::OrgGroupList {
            org: org.to_string(),
        },
        ["api", "atlas", version, "groups", group, rest @ ..] => {
            classify_group(version, group, rest).unwrap_or(Endpoint::UnknownApi)
        }
        ["api", "atlas", ..] => Endpoint::UnknownApi,
        ["api", "public", "v1.0", "groups", group, rest @ ..] => {
            classify_public(group, rest).unwrap_or(Endpoint::UnknownApi)
        }
        ["api", "public", ..] => Endpoint::UnknownApi,
        _ => Endpoint::Unknown,
    }
}

fn classify_group(version: &str, group: &str, rest: &[&str]) -> Option<Endpoint> {
    let v2 = match version {
        "v2" => true,
        "v1.0" => false,
        _ => return None,
    };
    let group = group.to_string();
    let list = |family: Family, cluster: &str| Endpoint::SnapshotList {
        family,
        group: group.clone(),
        cluster: cluster.to_string(),
    };
    let get = |family: Family, cluster: &str, id: &str| Endpoint::SnapshotGet {
        family,
        group: group.clone(),
        cluster: cluster.to_string(),
        id: id.to_string(),
    };
    if v2 && let Some((route, cluster)) = JobRoute::classify(rest) {
        return Some(Endpoint::JobList {
            route,
            group,
            cluster: cluster.to_string(),
        });
    }
    let (tenant, legacy) = if v2 {
        (Family::TenantV2, Family::LegacyV2)
    } else {
        (Family::TenantV1, Family::LegacyV1)
    };
    let endpoint = match rest {
        ["clusters", c, "backup", "tenant", "snapshots"] => list(tenant, c),
        ["clusters", c, "backup", "tenant", "snapshots", id] => get(tenant, c, id),
        ["clusters"] if v2 => Endpoint::ClusterList {
            group: group.clone(),
        },
        ["clusters", c] if v2 => Endpoint::ClusterGet {
            group: group.clone(),
            cluster: c.to_string(),
        },
        ["clusters", c, "backup", "schedule"] if v2 => Endpoint::BackupSchedule {
            group: group.clone(),
            cluster: c.to_string(),
        },
        ["clusters", c, "snapshots"] => list(legacy, c),
        ["clusters", c, "snapshots", id] => get(legacy, c, id),
        ["clusters", c, "backup", "snapshots"] if v2 => list(Family::Dedicated, c),
        ["clusters", c, "backup", "snapshots", "shardedClusters"] if v2 => Endpoint::ShardedList {
            group: group.clone(),
            cluster: c.to_string(),
        },
        ["clusters", c, "backup", "snapshots", "shardedCluster", id] if v2 => {
            Endpoint::ShardedGet {
                group: group.clone(),
                cluster: c.to_string(),
                id: id.to_string(),
            }
        }
        ["clusters", c, "backup", "snapshots", id] if v2 => get(Family::Dedicated, c, id),
        ["alerts"] if v2 => Endpoint::AlertList {
            group: group.clone(),
        },
        ["flexClusters"] if v2 => Endpoint::FlexClusterList {
            group: group.clone(),
        },
        ["flexClusters", c] if v2 => Endpoint::FlexClusterGet {
            group: group.clone(),
            cluster: c.to_string(),
        },
        ["flexClusters", c, "backup", "snapshots"] if v2 => list(Family::Flex, c),
        ["flexClusters", c, "backup", "snapshots", id] if v2 => get(Family::Flex, c, id),
        _ => return None,
    };
    Some(endpoint)
}

/// The Cloud Manager / Ops Manager paths below `/api/public/v1.0/groups/{group}`.
fn classify_public(group: &str, rest: &[&str]) -> Option<Endpoint> {
    let group = group.to_string();
    let endpoint = match rest {
        ["clusters"] => Endpoint::ManagerClusterList { group },
        ["clusters", id] => Endpoint::ManagerClusterGet {
            group,
            id: id.to_string(),
        },
        ["clusters", id, "snapshots"] => Endpoint::SnapshotList {
            family: Family::LegacyPublic,
            group,
            cluster: id.to_string(),
        },
        ["clusters", id, "snapshots", snapshot] => Endpoint::SnapshotGet {
            family: Family::LegacyPublic,
            group,
            cluster: id.to_string(),
            id: snapshot.to_string(),
        },
        ["backupConfigs"] => Endpoint::BackupConfigList { group },
        ["backupConfigs", id] => Endpoint::BackupConfigGet {
            group,
            id: id.to_string(),
        },
        ["backupConfigs", id, "snapshotSchedule"] => Endpoint::SnapshotSchedule {
            group,
            id: id.to_string(),
        },
        _ => return None,
    };
    Some(endpoint)
}

/// `^[a-f0-9]{24}$`: group and snapshot ids.
pub(crate) fn is_object_id(s: &str) -> bool {
    crate::target::is_atlas_id(s)
}

/// `^[a-zA-Z0-9][a-zA-Z0-9-]*$`: cluster names (the spec sets no length limit on the path).
pub(crate) fn is_cluster_name(s: &str) -> bool {
    crate::target::has_cluster_name_shape(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const G: &str = "32b6e34b3d91647abb20e7b8";

    #[test]
    fn every_snapshot_path_maps_to_its_family() {
        let cases = [
            (
                "/api/atlas/v2/groups/G/clusters/c/backup/tenant/snapshots",
                Family::TenantV2,
            ),
            (
                "/api/atlas/v1.0/groups/G/clusters/c/backup/tenant/snapshots",
                Family::TenantV1,
            ),
            (
                "/api/atlas/v2/groups/G/flexClusters/c/backup/snapshots",
                Family::Flex,
            ),
            (
                "/api/atlas/v2/groups/G/clusters/c/backup/snapshots",
                Family::Dedicated,
            ),
            (
                "/api/atlas/v2/groups/G/clusters/c/snapshots",
                Family::LegacyV2,
            ),
            (
                "/api/atlas/v1.0/groups/G/clusters/c/snapshots",
                Family::LegacyV1,
            ),
        ];
        for (path, family) in cases {
            let path = path.replace('G', G);
            assert_eq!(
                classify(&path),
                Endpoint::SnapshotList {
                    family,
                    group: G.into(),
                    cluster: "c".into()
                },
                "{path}"
            );
            assert_eq!(family.list_path(G, "c"), path);
            assert!(matches!(
                classify(&format!("{path}/abc")),
                Endpoint::SnapshotGet { family: f, .. } if f == family
            ));
        }
    }

    #[test]
    fn v1_has_no_dedicated_or_flex_and_unknown_paths_are_unknown() {
        let v1_dedicated = format!("/api/atlas/v1.0/groups/{G}/clusters/c/backup/snapshots");
        assert_eq!(classify(&v1_dedicated), Endpoint::UnknownApi);
        assert_eq!(classify("/api/atlas/v2/orgs"), Endpoint::UnknownApi);
        assert_eq!(classify("/metrics"), Endpoint::Unknown);
        assert_eq!(
            classify(&format!("/api/atlas/v2/groups/{G}/flexClusters")),
            Endpoint::FlexClusterList { group: G.into() }
        );
        let trailing = format!("/api/atlas/v2/groups/{G}/clusters/c/backup/snapshots/");
        assert!(
            matches!(classify(&trailing), Endpoint::SnapshotGet { ref id, .. } if id.is_empty())
        );
    }

    #[test]
    fn sharded_cluster_paths_are_their_own_endpoints() {
        let base = format!("/api/atlas/v2/groups/{G}/clusters/c/backup/snapshots");
        assert_eq!(
            classify(&format!("{base}/shardedClusters")),
            Endpoint::ShardedList {
                group: G.into(),
                cluster: "c".into()
            }
        );
        assert_eq!(
            classify(&format!("{base}/shardedCluster/abc")),
            Endpoint::ShardedGet {
                group: G.into(),
                cluster: "c".into(),
                id: "abc".into()
            }
        );
        let v1 = format!("/api/atlas/v1.0/groups/{G}/clusters/c/backup/snapshots/shardedClusters");
        assert_eq!(classify(&v1), Endpoint::UnknownApi);
    }

    #[test]
    fn discovery_paths_are_their_own_endpoints() {
        let base = format!("/api/atlas/v2/groups/{G}/clusters");
        assert_eq!(classify(&base), Endpoint::ClusterList { group: G.into() });
        assert_eq!(
            classify(&format!("{base}/c")),
            Endpoint::ClusterGet {
                group: G.into(),
                cluster: "c".into()
            }
        );
        assert_eq!(
            classify(&format!("{base}/c/backup/schedule")).route_name(),
            "backup_schedule"
        );
        assert_eq!(
            classify(&format!("/api/atlas/v2/orgs/{G}/groups")),
            Endpoint::OrgGroupList { org: G.into() }
        );
        assert_eq!(
            classify(&format!("/api/atlas/v1.0/groups/{G}/clusters")),
            Endpoint::UnknownApi
        );
        assert_eq!(
            Endpoint::ClusterList { group: G.into() }.media_type(),
            "application/vnd.atlas.2024-08-05+json"
        );
    }

    #[test]
    fn patterns_match_the_spec() {
        assert!(is_object_id(G));
        assert!(!is_object_id("32B6E34B3D91647ABB20E7B8"));
        assert!(!is_object_id("32b6e34b3d91647abb20e7b"));
        assert!(is_cluster_name("Cluster0"));
        assert!(is_cluster_name("a-b-1"));
        assert!(!is_cluster_name("-a"));
        assert!(!is_cluster_name("a_b"));
        assert!(!is_cluster_name(""));
    }
}
