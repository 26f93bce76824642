//! The mutable world a running simulator serves: projects and clusters with their listings and
//! faults, changed at runtime through `Simulator`'s setters. Listings are shared (`Arc`) so a
//! request copies a pointer under the lock and renders outside it.

use std::sync::Arc;

use jiff::Timestamp;

use super::alerts::SimAlert;
use super::faults::{self, Effect, FaultContext};
use super::jobs::{SimJobs, SimRole};
use super::scenario::{
    Fault, FlexRefusal, SimBackupStatus, SimCluster, SimKind, SimProject, SimSnapshot,
};
use super::schedule::{SimSchedule, time_of_day};

/// The reference time of day of a schedule whose cluster has no scheduled snapshot.
const DEFAULT_REFERENCE: (u8, u8) = (2, 0);

struct ClusterState {
    name: String,
    kind: SimKind,
    snapshots: Arc<Vec<SimSnapshot>>,
    fault: Option<Fault>,
    flex_refusal: FlexRefusal,
    sharded: bool,
    global: bool,
    instance_size: Option<String>,
    paused: bool,
    backup_enabled: bool,
    schedule: SimSchedule,
    backup_status: Option<SimBackupStatus>,
    jobs: Arc<SimJobs>,
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
            global: c.global,
            instance_size: c.instance_size,
            paused: c.paused,
            backup_enabled: c.backup_enabled,
            schedule: c.schedule,
            backup_status: c.backup_status,
            jobs: Arc::new(c.jobs),
        }
    }
}

impl ClusterState {
    fn describe(&self) -> Described {
        let scheduled = || {
            self.snapshots
                .iter()
                .filter(|s| !s.on_demand)
                .filter_map(|s| s.scheduled)
        };
        let instance_size = match (&self.instance_size, self.kind) {
            (_, SimKind::Flex) => None,
            (Some(size), _) => Some(size.clone()),
            (None, SimKind::Tenant) => Some("M2".to_string()),
            (None, SimKind::Dedicated) => Some("M10".to_string()),
            (None, SimKind::Legacy) => Some("M30".to_string()),
        };
        Described {
            name: self.name.clone(),
            kind: self.kind,
            sharded: self.sharded || self.global,
            global: self.global,
            instance_size,
            paused: self.paused,
            backup_enabled: self.backup_enabled,
            backup_status: self.backup_status.unwrap_or(if self.backup_enabled {
                SimBackupStatus::Started
            } else {
                SimBackupStatus::Stopped
            }),
            reference: self
                .schedule
                .reference
                .or_else(|| scheduled().max().map(time_of_day))
                .unwrap_or(DEFAULT_REFERENCE),
            schedule: self.schedule.clone(),
            created: scheduled()
                .min()
                .and_then(|t| t.checked_sub(jiff::SignedDuration::from_hours(24)).ok()),
        }
    }
}

struct ProjectState {
    id: String,
    name: String,
    org_id: String,
    clusters: Vec<ClusterState>,
    role: SimRole,
    alerts: Vec<SimAlert>,
}

/// A cluster's facts as its cluster resource (and its schedule) describe it.
#[derive(Clone, Debug)]
pub(crate) struct Described {
    pub(crate) name: String,
    pub(crate) kind: SimKind,
    /// Sharded (a global cluster is too).
    pub(crate) sharded: bool,
    /// `GEOSHARDED`.
    pub(crate) global: bool,
    /// `electableSpecs.instanceSize`; `None` for flex clusters.
    pub(crate) instance_size: Option<String>,
    pub(crate) paused: bool,
    pub(crate) backup_enabled: bool,
    /// The Cloud Manager / Ops Manager backup configuration's state.
    pub(crate) backup_status: SimBackupStatus,
    pub(crate) schedule: SimSchedule,
    /// The schedule's reference time of day, resolved.
    pub(crate) reference: (u8, u8),
    /// When it was "created": a day before its oldest scheduled snapshot.
    pub(crate) created: Option<Timestamp>,
}

impl Described {
    /// An M0 free cluster.
    pub(crate) fn is_free(&self) -> bool {
        self.instance_size.as_deref() == Some(super::scenario::FREE_INSTANCE_SIZE)
    }
}

/// What a request learns about one cluster, taken under the lock.
pub(crate) struct ClusterView {
    pub(crate) kind: SimKind,
    pub(crate) snapshots: Arc<Vec<SimSnapshot>>,
    /// How flex endpoints refuse it when it is not a flex cluster.
    pub(crate) flex_refusal: FlexRefusal,
    /// A sharded cluster.
    pub(crate) sharded: bool,
    /// Its facts.
    pub(crate) described: Described,
    /// Its restore and export jobs.
    pub(crate) jobs: Arc<SimJobs>,
    /// The fault's effect on this request, already counted.
    pub(crate) effect: Option<Effect>,
    /// The fault a [`Fault::Random`] drew for this request, for `Stats::faults_injected`.
    pub(crate) injected: Option<&'static str>,
}

/// The result of looking a cluster up.
pub(crate) enum Lookup {
    NoGroup,
    NoCluster,
    Found(Box<ClusterView>),
}

/// A project as `GET /groups` shows it.
pub(crate) struct ProjectSummary {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) org_id: String,
    pub(crate) cluster_count: usize,
}

/// Every organization, project and cluster.
pub(crate) struct World {
    /// Organizations that exist without projects naming them.
    organizations: Vec<String>,
    projects: Vec<ProjectState>,
}

impl World {
    pub(crate) fn new(projects: Vec<SimProject>, organizations: Vec<String>) -> World {
        let mut world = World {
            organizations,
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
        Lookup::Found(Box::new(ClusterView {
            kind: state.kind,
            snapshots: Arc::clone(&state.snapshots),
            flex_refusal: state.flex_refusal,
            sharded: state.sharded || state.global,
            described: state.describe(),
            jobs: Arc::clone(&state.jobs),
            effect,
            injected,
        }))
    }

    /// The role the credentials hold in a project, or `None` if there is no such project.
    pub(crate) fn role(&self, group: &str) -> Option<SimRole> {
        self.project(group).map(|p| p.role)
    }

    /// The flex clusters of a project, or `None` if there is no such project.
    pub(crate) fn flex_clusters(&self, group: &str) -> Option<Vec<Described>> {
        self.described(group, |kind| kind == SimKind::Flex)
    }

    /// The clusters `GET …/clusters` lists (every one but the flex clusters), or `None` if
    /// there is no such project.
    pub(crate) fn clusters(&self, group: &str) -> Option<Vec<Described>> {
        self.described(group, |kind| kind != SimKind::Flex)
    }

    /// The clusters Cloud Manager's and Ops Manager's `GET …/clusters` lists: the legacy ones
    /// (the only kind those products have), or `None` if there is no such project.
    pub(crate) fn manager_clusters(&self, group: &str) -> Option<Vec<Described>> {
        self.described(group, |kind| kind == SimKind::Legacy)
    }

    /// The name of the legacy cluster whose id ([`super::render::ClusterRef::cluster_id`]) is
    /// `id`: `None` if there is no such project, `Some(None)` if it has no such cluster.
    pub(crate) fn manager_cluster_name(&self, group: &str, id: &str) -> Option<Option<String>> {
        let project = self.project(group)?;
        Some(
            project
                .clusters
                .iter()
                .filter(|c| c.kind == SimKind::Legacy)
                .find(|c| super::render::cluster_id_of(group, &c.name) == id)
                .map(|c| c.name.clone()),
        )
    }

    fn described(&self, group: &str, keep: impl Fn(SimKind) -> bool) -> Option<Vec<Described>> {
        let project = self.project(group)?;
        Some(
            project
                .clusters
                .iter()
                .filter(|c| keep(c.kind))
                .map(ClusterState::describe)
                .collect(),
        )
    }

    /// Every project.
    /// A project's organization and alerts, or `None` if there is no such project.
    pub(crate) fn alerts(&self, group: &str) -> Option<(String, Vec<SimAlert>)> {
        self.project(group)
            .map(|p| (p.org_id.clone(), p.alerts.clone()))
    }

    pub(crate) fn projects(&self) -> Vec<ProjectSummary> {
        self.projects.iter().map(summary).collect()
    }

    /// The projects of an organization, or `None` if there is no such organization.
    pub(crate) fn projects_in_org(&self, org: &str) -> Option<Vec<ProjectSummary>> {
        let projects: Vec<ProjectSummary> = self
            .projects
            .iter()
            .filter(|p| p.org_id == org)
            .map(summary)
            .collect();
        let known = !projects.is_empty() || self.organizations.iter().any(|o| o == org);
        known.then_some(projects)
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
            org_id: project.org_id,
            clusters: Vec::new(),
            role: project.role,
            alerts: project.alerts,
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

fn summary(p: &ProjectState) -> ProjectSummary {
    ProjectSummary {
        id: p.id.clone(),
        name: p.name.clone(),
        org_id: p.org_id.clone(),
        cluster_count: p.clusters.len(),
    }
}
