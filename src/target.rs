//! What the exporter polls: one Atlas cluster in one project, and the kind of backup API behind it.
//!
//! These types sit between the config (which produces them) and the Atlas client and poller
//! (which consume them). They carry no credentials.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The backup API family a cluster's snapshots are read from.
///
/// `Auto` is only ever configured; a poll resolves it to `Flex` or `Dedicated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Kind {
    /// Try flex first; on `CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API` use the dedicated endpoint.
    #[default]
    Auto,
    /// Flex clusters (and every former M2/M5 cluster since 2026-01-22).
    Flex,
    /// Shared-tier M2/M5 "tenant" snapshots (deprecated endpoints).
    Tenant,
    /// Dedicated (M10+) Cloud Backup snapshots.
    Dedicated,
    /// Legacy Backup snapshots.
    Legacy,
}

impl Kind {
    /// Every kind, in the order the config documents them.
    pub const ALL: [Kind; 5] = [Kind::Auto, Kind::Flex, Kind::Tenant, Kind::Dedicated, Kind::Legacy];

    /// The config and label spelling of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Auto => "auto",
            Kind::Flex => "flex",
            Kind::Tenant => "tenant",
            Kind::Dedicated => "dedicated",
            Kind::Legacy => "legacy",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a string names no kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?}: expected one of auto, flex, tenant, dedicated, legacy")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// Which path family the tenant and legacy kinds use. Flex and dedicated exist only in v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ApiVersion {
    /// `/api/atlas/v2/...` with versioned `application/vnd.atlas.<date>+json` media types.
    #[default]
    V2,
    /// `/api/atlas/v1.0/...` with `application/json`.
    V1_0,
}

impl ApiVersion {
    /// The config spelling and path segment: `v2` or `v1.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2 => "v2",
            ApiVersion::V1_0 => "v1.0",
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cluster to poll.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The 24-hex-digit project (group) id.
    pub project_id: Arc<str>,
    /// The optional human name of the project, shown on `atlas_snapshot_cluster_info`.
    pub project_name: Option<Arc<str>>,
    /// The cluster name.
    pub cluster_name: Arc<str>,
    /// The configured kind.
    pub kind: Kind,
}

impl Target {
    /// The identity of a target across polls and reloads: project id and cluster name.
    pub fn key(&self) -> TargetKey {
        TargetKey {
            project_id: Arc::clone(&self.project_id),
            cluster_name: Arc::clone(&self.cluster_name),
        }
    }
}

/// Project id and cluster name: what makes two targets the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    /// The project id.
    pub project_id: Arc<str>,
    /// The cluster name.
    pub cluster_name: Arc<str>,
}

impl fmt::Display for TargetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project_id, self.cluster_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_config_spelling() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert!("Flex".parse::<Kind>().is_err());
    }
}
