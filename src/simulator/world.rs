//! The mutable world a running simulator serves: projects and clusters with their listings and
//! faults, changed at runtime through `Simulator`'s setters. Listings are shared (`Arc`) so a
//! request copies a pointer under the lock and renders outside it.

use std::sync::Arc;

use jiff::Timestamp;

use super::faults::{self, Effect, FaultContext};
use super::scenario::{Fault, FlexRefusal, SimCluster, SimKind, SimProject, SimSnapshot};

struct ClusterState {
    name: String,
    kind: SimKind,
    snapshots: Arc<Vec<SimSnapshot>>,
    fault: Option<Fault>,
    flex_refusal: FlexRefusal,
    sharded: bool,
}

impl From<SimCluster> for ClusterState {
    fn from(c: SimCluster) -> Self {
        ClusterState {
            name: c.name,
            kind: c.kind,
            snapshots: Arc::new(c.snapshots),
            fault: c.fault,
            flex_refusal: c.flex_refusal,
            sharded: c.sharded,
        }
    }
}

struct ProjectState {
    id: String,
    name: String,
    clusters: Vec<ClusterState>,
}

/// What a request learns about one cluster, taken under the lock.
pub(crate) struct ClusterView {
    pub(crate) kind: SimKind,
    pub(crate) snapshots: Arc<Vec<SimSnapshot>>,
    /// How flex endpoints refuse it when it is not a flex cluster.
    pub(crate) flex_refusal: FlexRefusal,
    /// A sharded cluster.
    pub(crate) sharded: bool,
    /// The fault's effect on this request, already counted.
    pub(crate) effect: Option<Effect>,
    /// The fault a [`Fault::Random`] drew for this request, for `Stats::faults_injected`.
    pub(crate) injected: Option<&'static str>,
}

/// The result of looking a cluster up.
pub(crate) enum Lookup {
    NoGroup,
    NoCluster,
    Found(ClusterView),
}

/// A flex cluster as the flex cluster listing shows it.
pub(crate) struct FlexClusterSummary {
    pub(crate) name: String,
    /// When it was "created": a day before its oldest scheduled snapshot.
    pub(crate) created: Option<Timestamp>,
}

/// A project as `GET /groups` shows it.
pub(crate) struct ProjectSummary {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) cluster_count: usize,
}

/// Every project and cluster.
pub(crate) struct World {
    projects: Vec<ProjectState>,
}

impl World {
    pub(crate) fn new(projects: Vec<SimProject>) -> World {
        let mut world = World {
            projects: Vec::new(),
        };
        for project in projects {
            world.add_project(project);
        }
        world
    }

    fn project(&self, id: &str) -> Option<&ProjectState> {
        self.projects.iter().find(|p| p.id == id)
    }

    fn project_mut(&mut self, id: &str) -> Option<&mut ProjectState> {
        self.projects.iter_mut().find(|p| p.id == id)
    }

    fn cluster_mut(&mut self, group: &str, cluster: &str) -> Option<&mut ClusterState> {
        self.project_mut(group)?
            .clusters
            .iter_mut()
            .find(|c| c.name == cluster)
    }

    /// Looks a cluster up and applies its fault to this request.
    pub(crate) fn lookup(&mut self, group: &str, cluster: &str, ctx: &FaultContext<'_>) -> Lookup {
        let Some(project) = self.project_mut(group) else {
            return Lookup::NoGroup;
        };
        let Some(state) = project.clusters.iter_mut().find(|c| c.name == cluster) else {
            return Lookup::NoCluster;
        };
        let (effect, injected) = faults::apply_drawn(&mut state.fault, ctx);
        Lookup::Found(ClusterView {
            kind: state.kind,
            snapshots: Arc::clone(&state.snapshots),
            flex_refusal: state.flex_refusal,
            sharded: state.sharded,
            effect,
            injected,
        })
    }

    /// The flex clusters of a project, or `None` if there is no such project.
    pub(crate) fn flex_clusters(&self, group: &str) -> Option<Vec<FlexClusterSummary>> {
        let project = self.project(group)?;
        let summaries = project
            .clusters
            .iter()
            .filter(|c| c.kind == SimKind::Flex)
            .map(|c| FlexClusterSummary {
                name: c.name.clone(),
                created: c
                    .snapshots
                    .iter()
                    .filter_map(|s| s.scheduled)
                    .min()
                    .and_then(|t| t.checked_sub(jiff::SignedDuration::from_hours(24)).ok()),
            })
            .collect();
        Some(summaries)
    }

    /// Every project.
    pub(crate) fn projects(&self) -> Vec<ProjectSummary> {
        self.projects
            .iter()
            .map(|p| ProjectSummary {
                id: p.id.clone(),
                name: p.name.clone(),
                cluster_count: p.clusters.len(),
            })
            .collect()
    }

    pub(crate) fn set_fault(&mut self, group: &str, cluster: &str, fault: Option<Fault>) -> bool {
        self.cluster_mut(group, cluster)
            .map(|c| c.fault = fault)
            .is_some()
    }

    pub(crate) fn set_snapshots(
        &mut self,
        group: &str,
        cluster: &str,
        snapshots: Vec<SimSnapshot>,
    ) -> bool {
        self.cluster_mut(group, cluster)
            .map(|c| c.snapshots = Arc::new(snapshots))
            .is_some()
    }

    /// Turns a flex (or shared-tier) cluster into a dedicated one, as
    /// `flexClusters:tenantUpgrade` does; its listing stays. False if there is no such cluster
    /// or it is already dedicated or legacy.
    pub(crate) fn upgrade_to_dedicated(&mut self, group: &str, cluster: &str) -> bool {
        match self.cluster_mut(group, cluster) {
            Some(c) if matches!(c.kind, SimKind::Flex | SimKind::Tenant) => {
                c.kind = SimKind::Dedicated;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn remove_cluster(&mut self, group: &str, cluster: &str) -> bool {
        let Some(project) = self.project_mut(group) else {
            return false;
        };
        let before = project.clusters.len();
        project.clusters.retain(|c| c.name != cluster);
        project.clusters.len() != before
    }

    /// Adds a cluster, replacing one of the same name. False if there is no such project.
    pub(crate) fn add_cluster(&mut self, group: &str, cluster: SimCluster) -> bool {
        let Some(project) = self.project_mut(group) else {
            return false;
        };
        let state = ClusterState::from(cluster);
        match project.clusters.iter_mut().find(|c| c.name == state.name) {
            Some(existing) => *existing = state,
            None => project.clusters.push(state),
        }
        true
    }

    /// Adds a project. False (and nothing changes) if one with that id exists.
    pub(crate) fn add_project(&mut self, project: SimProject) -> bool {
        if self.project(&project.id).is_some() {
            return false;
        }
        let mut state = ProjectState {
            id: project.id,
            name: project.name,
            clusters: Vec::new(),
        };
        for cluster in project.clusters {
            // The first of a duplicate name wins, as documented on `SimProject`.
            if !state.clusters.iter().any(|c| c.name == cluster.name) {
                state.clusters.push(ClusterState::from(cluster));
            }
        }
        self.projects.push(state);
        true
    }
}
