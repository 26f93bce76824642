//! The opt-in sources: the top-level `restores` and `exports` switches, a listed cluster's own
//! `restores`, and what they add up to for one cluster ([`Config::watches`]).
//!
//! A dedicated cluster's restore jobs and its export jobs need the Project Backup Manager role,
//! more than snapshots need (Project Read Only), so they are read only when switched on. A flex
//! cluster's restore jobs need Project Read Only and are read unless the cluster's own
//! `restores: false` switches them off. Both exist on Atlas only: under Cloud Manager and Ops
//! Manager, switching one on is a config problem.

use std::collections::BTreeMap;

use super::walker::{Checker, Node};
use super::{Config, Flavor};
use crate::target::Kind;

/// The top-level `restores` and `exports`, and the listed clusters' own `restores`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchConfig {
    /// `restores`: read the restore jobs of dedicated clusters (Project Backup Manager).
    pub restores: bool,
    /// `exports`: read the export jobs of dedicated clusters (Project Backup Manager).
    pub exports: bool,
    /// `projects[i].clusters[j].restores` where it is set, by project id, then cluster name
    /// (the `cluster_name` label): it wins over `restores` for that cluster.
    pub cluster_restores: BTreeMap<String, BTreeMap<String, bool>>,
}

/// What is read about one cluster besides its snapshots, from [`Config::watches`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    /// Read its restore jobs where they need Project Backup Manager (a dedicated cluster): its
    /// own `restores`, else the top-level one.
    pub restores: bool,
    /// Read its export jobs (a dedicated cluster; Project Backup Manager): the top-level
    /// `exports`.
    pub exports: bool,
    /// Read its restore jobs where Project Read Only suffices (a flex cluster): its own
    /// `restores`, else on.
    pub flex_restores: bool,
}

impl Watch {
    /// Whether restore jobs are read for a cluster of the resolved `kind`. Only flex and
    /// dedicated clusters have a restore-job listing; `auto` (not resolved yet) reads none.
    pub fn restores_for(self, kind: Kind) -> bool {
        match kind {
            Kind::Flex => self.flex_restores,
            Kind::Dedicated => self.restores,
            Kind::Auto | Kind::Tenant | Kind::Legacy => false,
        }
    }

    /// Whether export jobs are read for a cluster of the resolved `kind`: dedicated clusters
    /// only (only they export snapshots to a bucket).
    pub fn exports_for(self, kind: Kind) -> bool {
        kind == Kind::Dedicated && self.exports
    }
}

impl Config {
    /// What is read about the cluster `cluster_name` of project `project_id` besides its
    /// snapshots. A listed cluster's own `restores` wins; a discovered cluster (or a listed one
    /// without the key) gets the top-level `restores` and `exports`.
    pub fn watches(&self, project_id: &str, cluster_name: &str) -> Watch {
        self.watch.watches(project_id, cluster_name)
    }
}

impl WatchConfig {
    /// [`Config::watches`], for a holder of this section alone (the poller).
    pub fn watches(&self, project_id: &str, cluster_name: &str) -> Watch {
        let own = self
            .cluster_restores
            .get(project_id)
            .and_then(|clusters| clusters.get(cluster_name))
            .copied();
        Watch {
            restores: own.unwrap_or(self.restores),
            exports: self.exports,
            flex_restores: own.unwrap_or(true),
        }
    }
}

impl Checker {
    /// `restores` or `exports`, at the top level or on a cluster: a boolean, off when empty;
    /// on only under Atlas (`flavor`, `None` when it is not one: its own problem is reported).
    pub(super) fn opt_in(
        &mut self,
        path: &str,
        node: &Node,
        flavor: Option<Flavor>,
    ) -> Option<bool> {
        let on = self.boolean(path, node, false)?;
        if on && let Some(flavor) = flavor.filter(|f| f.is_public_api()) {
            self.problem(
                path,
                format!(
                    "restore and export jobs are read from Atlas only, not atlas.flavor {}: \
                     remove the key or set it to false",
                    flavor.as_str()
                ),
            );
            return None;
        }
        Some(on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(restores: bool, exports: bool, flex_restores: bool) -> Watch {
        Watch {
            restores,
            exports,
            flex_restores,
        }
    }

    #[test]
    fn restore_jobs_are_read_by_kind_flex_by_its_switch_dedicated_by_the_opt_in() {
        let opted_out = watch(false, false, true);
        assert!(opted_out.restores_for(Kind::Flex));
        assert!(!opted_out.restores_for(Kind::Dedicated));
        let opted_in = watch(true, false, false);
        assert!(!opted_in.restores_for(Kind::Flex));
        assert!(opted_in.restores_for(Kind::Dedicated));
        for kind in [Kind::Auto, Kind::Tenant, Kind::Legacy] {
            assert!(!watch(true, true, true).restores_for(kind), "{kind:?}");
        }
    }

    #[test]
    fn export_jobs_are_read_for_dedicated_clusters_only_and_only_when_opted_in() {
        assert!(watch(false, true, false).exports_for(Kind::Dedicated));
        assert!(!watch(true, false, true).exports_for(Kind::Dedicated));
        for kind in [Kind::Auto, Kind::Flex, Kind::Tenant, Kind::Legacy] {
            assert!(!watch(true, true, true).exports_for(kind), "{kind:?}");
        }
    }
}
