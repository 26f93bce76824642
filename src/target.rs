//! What the exporter polls: one Atlas cluster in one project, and the kind of backup API behind it.
//!
//! These types sit between the config (which produces them) and the Atlas client and poller
//! (which consume them). They carry no credentials.
//!
//! The rules for Atlas ids and cluster names live here too, the one place the config checks,
//! the command-line arguments and the simulator's routes all take them from.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The backup API family a cluster's snapshots are read from.
///
/// `Auto` is only ever configured; a poll resolves it to `Flex` or `Dedicated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Kind {
    /// Try flex first (Atlas for Government: dedicated only); on the answers the Atlas CLI falls
    /// back on, use the dedicated endpoint; re-resolved when the other kind's error comes back.
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
    pub const ALL: [Kind; 5] = [
        Kind::Auto,
        Kind::Flex,
        Kind::Tenant,
        Kind::Dedicated,
        Kind::Legacy,
    ];

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

/// Which product the exporter talks to: the API family of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Flavor {
    /// MongoDB Atlas: `/api/atlas/v2/...` (and `v1.0` for the tenant and legacy kinds).
    #[default]
    Atlas,
    /// MongoDB Cloud Manager: the legacy snapshot API under `/api/public/v1.0`, clusters
    /// addressed by id.
    CloudManager,
    /// MongoDB Ops Manager, on the operator's own host: the same API as Cloud Manager.
    OpsManager,
}

impl Flavor {
    /// Every flavor, in the order the config documents them.
    pub const ALL: [Flavor; 3] = [Flavor::Atlas, Flavor::CloudManager, Flavor::OpsManager];

    /// The config spelling of this flavor.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Atlas => "atlas",
            Flavor::CloudManager => "cloud_manager",
            Flavor::OpsManager => "ops_manager",
        }
    }

    /// Whether this is Cloud Manager or Ops Manager: the `/api/public/v1.0` family.
    pub fn is_public_api(self) -> bool {
        !matches!(self, Flavor::Atlas)
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a string names no flavor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flavor {0:?}: expected one of atlas, cloud_manager, ops_manager")]
pub struct UnknownFlavor(pub String);

impl FromStr for Flavor {
    type Err = UnknownFlavor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Flavor::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFlavor(s.to_owned()))
    }
}

/// One cluster to poll.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The 24-hex-digit project (group) id.
    pub project_id: Arc<str>,
    /// The optional human name of the project, shown on `atlas_snapshot_cluster_info`.
    pub project_name: Option<Arc<str>>,
    /// The cluster name: the `cluster_name` label. A Cloud Manager or Ops Manager cluster
    /// configured by id alone carries its id here.
    pub cluster_name: Arc<str>,
    /// The cluster's 24-hex-digit id, when configured (Cloud Manager and Ops Manager only,
    /// whose snapshot paths address a cluster by id).
    pub cluster_id: Option<Arc<str>>,
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

/// One copy of each project's id and name for many targets: a project's clusters (often
/// dozens) then share two strings instead of holding two each, as the config's targets
/// otherwise do (each is built from the config's project on its own).
#[derive(Debug, Default)]
pub struct ProjectStrings {
    strings: HashSet<Arc<str>>,
}

impl ProjectStrings {
    /// Strings that share nothing yet.
    pub fn new() -> ProjectStrings {
        ProjectStrings::default()
    }

    /// Takes `target`'s project strings as the ones to share, where none is known yet.
    pub fn know(&mut self, target: &Target) {
        self.one(&target.project_id);
        if let Some(name) = &target.project_name {
            self.one(name);
        }
    }

    /// Points `target`'s project id and name at the copies known, after knowing its own.
    pub fn share(&mut self, target: &mut Target) {
        target.project_id = self.one(&target.project_id);
        if let Some(name) = &target.project_name {
            target.project_name = Some(self.one(name));
        }
    }

    fn one(&mut self, s: &Arc<str>) -> Arc<str> {
        match self.strings.get(&**s) {
            Some(known) => Arc::clone(known),
            None => {
                self.strings.insert(Arc::clone(s));
                Arc::clone(s)
            }
        }
    }
}

/// Makes the targets of each project share one copy of its id and name ([`ProjectStrings`]).
pub fn share_project_strings(targets: &mut [Target]) {
    let mut strings = ProjectStrings::new();
    for target in targets {
        strings.share(target);
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

/// The longest cluster name the config accepts.
pub const MAX_CLUSTER_NAME_LEN: usize = 64;

/// Why a string is not an Atlas id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtlasIdProblem {
    /// 24 hex digits, but some of them upper case: Atlas writes its ids in lower case.
    Uppercase,
    /// Not 24 hex digits.
    NotHex,
}

/// Checks an Atlas object id, `^[a-f0-9]{24}$`: the shape of project (group) ids and snapshot
/// ids.
pub fn check_atlas_id(s: &str) -> Result<(), AtlasIdProblem> {
    if s.len() != 24 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Err(AtlasIdProblem::NotHex)
    } else if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Err(AtlasIdProblem::Uppercase)
    } else {
        Ok(())
    }
}

/// Whether `s` is an Atlas object id ([`check_atlas_id`] without the reason).
pub fn is_atlas_id(s: &str) -> bool {
    check_atlas_id(s).is_ok()
}

/// Why a string is not a cluster name the config accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterNameProblem {
    /// Not of the shape [`has_cluster_name_shape`] checks.
    Shape,
    /// The right shape, but longer than [`MAX_CLUSTER_NAME_LEN`]; holds the length.
    TooLong(usize),
}

/// Whether `s` has the shape of a cluster name, `^[a-zA-Z0-9][a-zA-Z0-9-]*$`: the pattern of
/// the Atlas API's `{clusterName}` path parameter, which sets no length limit.
pub fn has_cluster_name_shape(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Checks a cluster name: its shape ([`has_cluster_name_shape`]), then its length against
/// [`MAX_CLUSTER_NAME_LEN`].
pub fn check_cluster_name(s: &str) -> Result<(), ClusterNameProblem> {
    if !has_cluster_name_shape(s) {
        Err(ClusterNameProblem::Shape)
    } else if s.len() > MAX_CLUSTER_NAME_LEN {
        Err(ClusterNameProblem::TooLong(s.len()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_targets_of_a_project_share_its_strings() {
        let target = |cluster: &str| Target {
            project_id: "5b69d0349b15c62cdfc38b78".into(),
            project_name: Some("prod".into()),
            cluster_name: cluster.into(),
            cluster_id: None,
            kind: Kind::Auto,
        };
        let mut targets = vec![target("a"), target("b")];
        let before = targets.clone();
        share_project_strings(&mut targets);
        assert_eq!(targets, before, "the same values");
        assert!(Arc::ptr_eq(&targets[0].project_id, &targets[1].project_id));
        let names: Vec<_> = targets
            .iter()
            .flat_map(|t| t.project_name.clone())
            .collect();
        assert!(Arc::ptr_eq(&names[0], &names[1]));
        assert!(!Arc::ptr_eq(
            &targets[0].cluster_name,
            &targets[1].cluster_name
        ));

        let mut strings = ProjectStrings::new();
        strings.know(&targets[0]);
        let mut later = target("c");
        strings.share(&mut later);
        assert!(Arc::ptr_eq(&later.project_id, &targets[0].project_id));
    }

    #[test]
    fn kinds_round_trip_through_their_config_spelling() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert!("Flex".parse::<Kind>().is_err());
    }

    #[test]
    fn flavors_round_trip_through_their_config_spelling() {
        for flavor in Flavor::ALL {
            assert_eq!(flavor.as_str().parse::<Flavor>(), Ok(flavor));
        }
        assert_eq!(Flavor::default(), Flavor::Atlas);
        assert!("cloud-manager".parse::<Flavor>().is_err());
        assert!(!Flavor::Atlas.is_public_api());
        assert!(Flavor::OpsManager.is_public_api());
    }

    #[test]
    fn atlas_ids_are_24_lowercase_hex_digits() {
        assert_eq!(check_atlas_id("5b69d0349b15c62cdfc38b78"), Ok(()));
        assert_eq!(
            check_atlas_id("5B69D0349B15C62CDFC38B78"),
            Err(AtlasIdProblem::Uppercase)
        );
        for not_hex in [
            "",
            "5b69d0349b15c62cdfc38b7",
            "5b69d0349b15c62cdfc38b780",
            "5b69d0349b15c62cdfc38b7g",
            "5b69d0349b15c62cdfc38b\u{e9}",
            "production",
        ] {
            assert_eq!(
                check_atlas_id(not_hex),
                Err(AtlasIdProblem::NotHex),
                "{not_hex}"
            );
            assert!(!is_atlas_id(not_hex));
        }
    }

    #[test]
    fn cluster_names_have_the_path_shape_and_at_most_64_characters() {
        for good in ["Cluster0", "a-b-1", "0", "a-"] {
            assert!(has_cluster_name_shape(good), "{good}");
            assert_eq!(check_cluster_name(good), Ok(()));
        }
        for bad in ["", "-a", "a_b", "a b", "caf\u{e9}", "\u{e9}t\u{e9}"] {
            assert!(!has_cluster_name_shape(bad), "{bad}");
            assert_eq!(check_cluster_name(bad), Err(ClusterNameProblem::Shape));
        }
        let longest = "a".repeat(MAX_CLUSTER_NAME_LEN);
        assert_eq!(check_cluster_name(&longest), Ok(()));
        let too_long = "a".repeat(MAX_CLUSTER_NAME_LEN + 1);
        assert!(has_cluster_name_shape(&too_long));
        assert_eq!(
            check_cluster_name(&too_long),
            Err(ClusterNameProblem::TooLong(MAX_CLUSTER_NAME_LEN + 1))
        );
    }
}
