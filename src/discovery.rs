//! Discovery and cluster facts: which clusters there are besides the listed ones, and what
//! each one is (its type, whether it is paused, whether its backups are on, its policy).
//!
//! A refresh runs at the start of a poll cycle once `discovery.refresh_interval` has passed
//! since the last one began (the first cycle always refreshes), so it never runs more often
//! than that, whatever the poll interval. It reads, with discovery on:
//!
//! - the projects: `GET /groups` (or `GET /orgs/{id}/groups` for each listed organization),
//!   all pages, kept by the project filter on name or id;
//! - per project, the cluster listing and the flex cluster listing, all pages: the kind comes
//!   from the listing (flex from the flex listing, dedicated otherwise), never by trial, and
//!   M0 free clusters are left out (Atlas keeps no backups of them);
//!
//! and, with discovery on or off:
//!
//! - one cluster GET per listed cluster that no listing covered (its facts);
//! - one backup schedule GET per dedicated cluster with backups on (its policy); flex clusters
//!   have a fixed daily policy and cost nothing.
//!
//! A project whose listings fail keeps the clusters found at its last good refresh, and a
//! failed project listing keeps every project: a failing discovery never empties /metrics. A
//! cluster missing from a successful listing is gone. The listed clusters always come first
//! and win over a discovered cluster of the same key (their kind and their name).
//!
//! With several shards ([`crate::shard`]) every replica lists every project and cluster, and
//! keeps only the clusters its shard owns: only those become targets and only theirs are read
//! (cluster GETs, schedules). The listed targets handed in are the owned ones already.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::atlas::{AtlasClient, AtlasError, BackupApi, ListedCluster, Pace, Project, Tier};
use crate::config::DiscoveryConfig;
use crate::facts::{BackupPolicy, ClusterFacts};
use crate::shard::Shard;
use crate::state::DiscoveryReport;
use crate::target::{Kind, Target, TargetKey};

/// Cluster reads started and waiting for a slot at most: the request slots (the cycle's
/// `max_concurrency`) bound the requests; this bounds the memory of the tasks behind them.
const WAITING_TASKS: usize = 64;

/// The Atlas reads a refresh makes: the [`AtlasClient`] in the exporter, a stand-in in tests.
pub trait Inventory: Send + Sync + 'static {
    /// Every project the credential can read (`organization` `None`), or those of one
    /// organization, all pages.
    fn projects(
        &self,
        organization: Option<&str>,
        pace: &Pace,
    ) -> impl Future<Output = Result<Vec<Project>, AtlasError>> + Send;

    /// The clusters of a project from the cluster listing, all pages.
    fn clusters(
        &self,
        project_id: &str,
        pace: &Pace,
    ) -> impl Future<Output = Result<Vec<ListedCluster>, AtlasError>> + Send;

    /// The flex clusters of a project, all pages; `None` where the flex API does not exist
    /// (Atlas for Government).
    fn flex_clusters(
        &self,
        project_id: &str,
        pace: &Pace,
    ) -> impl Future<Output = Option<Result<Vec<ListedCluster>, AtlasError>>> + Send;

    /// One cluster of a configured kind (`auto` as the snapshot listing resolves it);
    /// `cluster_id` is the configured id (Cloud Manager and Ops Manager), if any.
    fn cluster(
        &self,
        kind: Kind,
        known: Option<BackupApi>,
        project_id: &str,
        name: &str,
        cluster_id: Option<&str>,
        pace: &Pace,
    ) -> impl Future<Output = (Option<BackupApi>, Result<ListedCluster, AtlasError>)> + Send;

    /// The backup policy of a dedicated cluster (under Cloud Manager and Ops Manager, of a
    /// legacy one), from its backup schedule.
    fn policy(
        &self,
        project_id: &str,
        name: &str,
        cluster_id: Option<&str>,
        pace: &Pace,
    ) -> impl Future<Output = Result<BackupPolicy, AtlasError>> + Send;

    /// Whether legacy clusters have a schedule to read: true under Cloud Manager and Ops
    /// Manager, where every cluster is legacy and its schedule is its snapshot schedule.
    fn legacy_schedules(&self) -> bool {
        false
    }
}

impl Inventory for AtlasClient {
    async fn projects(
        &self,
        organization: Option<&str>,
        pace: &Pace,
    ) -> Result<Vec<Project>, AtlasError> {
        self.list_projects(organization, pace).await
    }

    async fn clusters(
        &self,
        project_id: &str,
        pace: &Pace,
    ) -> Result<Vec<ListedCluster>, AtlasError> {
        self.list_clusters(project_id, pace).await
    }

    async fn flex_clusters(
        &self,
        project_id: &str,
        pace: &Pace,
    ) -> Option<Result<Vec<ListedCluster>, AtlasError>> {
        if !self.options().flex_api {
            return None;
        }
        Some(self.list_flex_clusters(project_id, pace).await)
    }

    async fn cluster(
        &self,
        kind: Kind,
        known: Option<BackupApi>,
        project_id: &str,
        name: &str,
        cluster_id: Option<&str>,
        pace: &Pace,
    ) -> (Option<BackupApi>, Result<ListedCluster, AtlasError>) {
        if self.flavor().is_public_api() {
            let result = self
                .get_manager_cluster(project_id, name, cluster_id, pace)
                .await;
            return (Some(BackupApi::Legacy), result);
        }
        self.get_cluster_for_kind(kind, known, project_id, name, pace)
            .await
    }

    async fn policy(
        &self,
        project_id: &str,
        name: &str,
        cluster_id: Option<&str>,
        pace: &Pace,
    ) -> Result<BackupPolicy, AtlasError> {
        if self.flavor().is_public_api() {
            return self
                .get_manager_policy(project_id, name, cluster_id, pace)
                .await;
        }
        self.get_backup_policy(project_id, name, pace).await
    }

    fn legacy_schedules(&self) -> bool {
        self.flavor().is_public_api()
    }
}

/// What one refresh learnt of one target. `None` fields were not learnt (not read, or the read
/// failed): the target keeps what it knew.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Learnt {
    /// Type, paused, backups on.
    pub facts: Option<ClusterFacts>,
    /// The policy.
    pub policy: Option<BackupPolicy>,
    /// `Some(true)` when the schedule was read, `Some(false)` when that failed, `None` when
    /// no schedule was read (flex, backups off, not dedicated).
    pub schedule_up: Option<bool>,
}

/// A discovered cluster and what its listing said of it.
#[derive(Debug, Clone)]
struct Found {
    target: Target,
    facts: ClusterFacts,
}

/// The clusters of one project at its last good listing.
#[derive(Debug, Clone)]
struct ProjectClusters {
    project_id: Arc<str>,
    clusters: Vec<Found>,
}

/// What a project's listings gave: its clusters, or the failure.
type ProjectListing = (usize, Result<Vec<Found>, AtlasError>);

/// Discovery's state across refreshes: the config, the last discovered set, the outcome.
#[derive(Debug)]
pub struct Discovery {
    config: DiscoveryConfig,
    found: Vec<ProjectClusters>,
    report: Option<DiscoveryReport>,
    last_refresh: Option<tokio::time::Instant>,
    /// A discovered cluster answered 404: one refresh before the scheduled one is wanted.
    early_requested: bool,
    /// The one early refresh allowed per refresh interval has run.
    early_used: bool,
    /// The clusters found that this shard owns are targets; the others are only listed.
    shard: Shard,
}

impl Discovery {
    /// Discovery as configured, with nothing found yet and a refresh due.
    pub fn new(config: DiscoveryConfig) -> Discovery {
        let report = config.enabled.then_some(DiscoveryReport {
            up: false,
            last_success: None,
        });
        Discovery {
            config,
            found: Vec::new(),
            report,
            last_refresh: None,
            early_requested: false,
            early_used: false,
            shard: Shard::SINGLE,
        }
    }

    /// Asks for a refresh at the next cycle because a discovered cluster answered 404 (it
    /// was probably deleted): it then leaves /metrics within a cycle instead of showing as
    /// down until the scheduled refresh. At most one such early refresh runs per refresh
    /// interval, so a 404 that persists costs no more than twice the usual refreshes.
    pub fn request_early(&mut self) {
        if self.config.enabled {
            self.early_requested = true;
        }
    }

    /// Keeps only the discovered clusters `shard` owns. A new shard makes a refresh due at the
    /// next cycle, to read the facts of the clusters it gains.
    pub fn set_shard(&mut self, shard: Shard) {
        if shard != self.shard {
            self.shard = shard;
            self.last_refresh = None;
        }
    }

    /// The discovered clusters this shard owns.
    fn owned(&self) -> impl Iterator<Item = &Found> {
        self.found
            .iter()
            .flat_map(|p| p.clusters.iter())
            .filter(|f| self.shard.owns_target(&f.target))
    }

    /// Takes a reloaded `discovery` section. A changed section makes a refresh due at the
    /// next cycle; switched off, the discovered clusters go at once.
    pub fn configure(&mut self, config: DiscoveryConfig) {
        if config == self.config {
            return;
        }
        if !config.enabled {
            self.found.clear();
            self.report = None;
        } else if self.report.is_none() {
            self.report = Some(DiscoveryReport {
                up: false,
                last_success: None,
            });
        }
        let filters_changed = config.projects != self.config.projects
            || config.clusters != self.config.clusters
            || config.organizations != self.config.organizations
            || config.enabled != self.config.enabled;
        self.config = config;
        if filters_changed {
            self.last_refresh = None;
        }
    }

    /// Whether a refresh is due at `now`: the first, `refresh_interval` after the last
    /// scheduled one, or an early one asked for by [`Discovery::request_early`].
    pub fn due(&self, now: tokio::time::Instant) -> bool {
        self.scheduled(now) || (self.early_requested && !self.early_used)
    }

    /// Whether the scheduled refresh is due: the first, or `refresh_interval` after the last.
    fn scheduled(&self, now: tokio::time::Instant) -> bool {
        self.last_refresh
            .is_none_or(|last| now.saturating_duration_since(last) >= self.config.refresh_interval)
    }

    /// The outcome for `atlas_snapshot_exporter_discovery_*`; `None` while discovery is off.
    pub fn report(&self) -> Option<DiscoveryReport> {
        self.report
    }

    /// The targets to poll: the listed ones in config order, then the discovered ones not
    /// listed that this shard owns, project by project. A listed target without a project name takes the
    /// discovered project's.
    pub fn targets(&self, listed: &[Target]) -> Vec<Target> {
        let names: HashMap<&str, &Arc<str>> = self
            .found
            .iter()
            .flat_map(|p| p.clusters.iter())
            .filter_map(|f| {
                f.target
                    .project_name
                    .as_ref()
                    .map(|n| (&*f.target.project_id, n))
            })
            .collect();
        let keys: HashSet<TargetKey> = listed.iter().map(Target::key).collect();
        let mut targets: Vec<Target> = listed
            .iter()
            .map(|t| {
                let mut t = t.clone();
                if t.project_name.is_none() {
                    t.project_name = names.get(&*t.project_id).map(|n| Arc::clone(n));
                }
                t
            })
            .collect();
        targets.extend(
            self.owned()
                .filter(|f| !keys.contains(&f.target.key()))
                .map(|f| f.target.clone()),
        );
        targets
    }

    /// Runs one refresh: discovery when on, then the facts and policies of every target. Each
    /// request takes a slot of `slots` and gets `deadline`, as a target's poll does. `known`
    /// holds the API each listed target was last read from, to read its facts from the same.
    /// Returns what was learnt per target key; [`Discovery::targets`] then gives the targets.
    pub async fn refresh<I: Inventory>(
        &mut self,
        inventory: &Arc<I>,
        listed: &[Target],
        known: &HashMap<TargetKey, Option<BackupApi>>,
        slots: &Arc<Semaphore>,
        deadline: Duration,
        now: Timestamp,
    ) -> HashMap<TargetKey, Learnt> {
        let started = Instant::now();
        let now_tick = tokio::time::Instant::now();
        if self.scheduled(now_tick) {
            // An early refresh leaves the schedule alone; a scheduled one allows another.
            self.last_refresh = Some(now_tick);
            self.early_used = false;
        } else {
            self.early_used = true;
        }
        self.early_requested = false;
        if self.config.enabled {
            let up = self.discover(inventory, slots, deadline).await;
            self.report = Some(DiscoveryReport {
                up,
                last_success: if up {
                    Some(now)
                } else {
                    self.report.and_then(|r| r.last_success)
                },
            });
        }
        let learnt = self.learn(inventory, listed, known, slots, deadline).await;
        tracing::info!(
            discovery = self.config.enabled,
            discovery_up = self.report.map(|r| r.up),
            projects = self.found.len(),
            discovered_clusters = self.found.iter().map(|p| p.clusters.len()).sum::<usize>(),
            owned_clusters = self.owned().count(),
            duration_ms = started.elapsed().as_millis(),
            "refreshed cluster facts"
        );
        learnt
    }

    /// Lists projects and their clusters; true when every listing answered.
    async fn discover<I: Inventory>(
        &mut self,
        inventory: &Arc<I>,
        slots: &Arc<Semaphore>,
        deadline: Duration,
    ) -> bool {
        let organizations: Vec<Option<String>> = if self.config.organizations.is_empty() {
            vec![None]
        } else {
            self.config
                .organizations
                .iter()
                .cloned()
                .map(Some)
                .collect()
        };
        let mut projects: Vec<Project> = Vec::new();
        let mut seen = HashSet::new();
        for organization in &organizations {
            let pace = Pace::with_slot(Arc::clone(slots), deadline).await;
            match within(deadline, inventory.projects(organization.as_deref(), &pace)).await {
                Ok(found) => {
                    projects.extend(found.into_iter().filter(|p| seen.insert(p.id.clone())))
                }
                Err(error) => {
                    tracing::warn!(
                        organization = organization.as_deref(),
                        reason = error.reason().as_str(),
                        error = %error,
                        "discovery could not list projects; keeping the clusters found before"
                    );
                    return false;
                }
            }
        }
        projects.retain(|p| self.config.projects.admits(&[&p.name, &p.id]));

        let mut tasks: JoinSet<ProjectListing> = JoinSet::new();
        for (index, project) in projects.iter().enumerate() {
            let inventory = Arc::clone(inventory);
            let slots = Arc::clone(slots);
            let project = project.clone();
            let clusters = self.config.clusters.clone();
            tasks.spawn(async move {
                let result = list_project(&*inventory, &project, &clusters, &slots, deadline).await;
                (index, result)
            });
        }
        let mut listed: Vec<Option<Result<Vec<Found>, AtlasError>>> =
            (0..projects.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, result)) => {
                    if let Some(slot) = listed.get_mut(index) {
                        *slot = Some(result);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "a discovery task failed"),
            }
        }

        let mut before: HashMap<Arc<str>, ProjectClusters> = self
            .found
            .drain(..)
            .map(|p| (Arc::clone(&p.project_id), p))
            .collect();
        let mut up = true;
        for (project, result) in projects.iter().zip(listed) {
            match result {
                Some(Ok(clusters)) => {
                    before.remove(project.id.as_str());
                    self.found.push(ProjectClusters {
                        project_id: project.id.as_str().into(),
                        clusters,
                    });
                }
                failed => {
                    up = false;
                    if let Some(Err(error)) = &failed {
                        tracing::warn!(
                            project_id = %project.id,
                            reason = error.reason().as_str(),
                            error = %error,
                            "discovery could not list the project's clusters; keeping those found before"
                        );
                    }
                    if let Some(kept) = before.remove(project.id.as_str()) {
                        self.found.push(kept);
                    }
                }
            }
        }
        up
    }

    /// Reads the facts of the listed targets no listing covered, and the policies of every
    /// target.
    async fn learn<I: Inventory>(
        &self,
        inventory: &Arc<I>,
        listed: &[Target],
        known: &HashMap<TargetKey, Option<BackupApi>>,
        slots: &Arc<Semaphore>,
        deadline: Duration,
    ) -> HashMap<TargetKey, Learnt> {
        let from_listings: HashMap<TargetKey, &Found> =
            self.owned().map(|f| (f.target.key(), f)).collect();
        let mut learnt: HashMap<TargetKey, Learnt> = HashMap::new();
        // The API each target's facts say serves it: the kind its policy is read by.
        let mut apis: HashMap<TargetKey, Option<BackupApi>> = HashMap::new();
        // Reads are started as slots free up, not all at once: a waiting task is a few KiB.
        let mut waiting = std::collections::VecDeque::new();
        for target in listed {
            let key = target.key();
            if let Some(found) = from_listings.get(&key) {
                learnt.entry(key.clone()).or_default().facts = Some(found.facts);
                let api = BackupApi::from_kind(target.kind)
                    .or_else(|| BackupApi::from_kind(found.target.kind));
                apis.insert(key, api);
                continue;
            }
            waiting.push_back((target.clone(), known.get(&key).copied().flatten()));
        }
        let start_next =
            |tasks: &mut JoinSet<_>,
             waiting: &mut std::collections::VecDeque<(Target, Option<BackupApi>)>| {
                let Some((target, known)) = waiting.pop_front() else {
                    return;
                };
                let inventory = Arc::clone(inventory);
                let slots = Arc::clone(slots);
                tasks.spawn(async move {
                    let pace = Pace::with_slot(slots, deadline).await;
                    let read = inventory.cluster(
                        target.kind,
                        known,
                        &target.project_id,
                        &target.cluster_name,
                        target.cluster_id.as_deref(),
                        &pace,
                    );
                    let (api, result) = tokio::time::timeout(deadline, read)
                        .await
                        .unwrap_or((known, Err(AtlasError::PollDeadline(deadline))));
                    (target, api.or(known), result)
                });
            };
        let mut tasks = JoinSet::new();
        for _ in 0..WAITING_TASKS {
            start_next(&mut tasks, &mut waiting);
        }
        while let Some(joined) = tasks.join_next().await {
            start_next(&mut tasks, &mut waiting);
            let Ok((target, api, result)) = joined else {
                continue;
            };
            let key = target.key();
            match result {
                Ok(cluster) => {
                    learnt.entry(key.clone()).or_default().facts = Some(cluster.facts);
                    let api = BackupApi::from_kind(target.kind)
                        .or(api)
                        .or(match cluster.tier {
                            Tier::Flex => Some(BackupApi::Flex),
                            Tier::Dedicated => Some(BackupApi::Dedicated),
                            Tier::Free => None,
                        });
                    apis.insert(key, api);
                }
                Err(error) => {
                    tracing::debug!(
                        project_id = %target.project_id,
                        cluster_name = %target.cluster_name,
                        reason = error.reason().as_str(),
                        error = %error,
                        "could not read the cluster's facts; keeping what was known"
                    );
                    apis.insert(key, BackupApi::from_kind(target.kind).or(api));
                }
            }
        }
        for found in from_listings.values() {
            let key = found.target.key();
            if let std::collections::hash_map::Entry::Vacant(api) = apis.entry(key.clone()) {
                api.insert(BackupApi::from_kind(found.target.kind));
                learnt.entry(key).or_default().facts = Some(found.facts);
            }
        }

        let ids: HashMap<TargetKey, Arc<str>> = listed
            .iter()
            .filter_map(|t| t.cluster_id.as_ref().map(|id| (t.key(), Arc::clone(id))))
            .collect();
        let legacy_schedules = inventory.legacy_schedules();
        let mut waiting = std::collections::VecDeque::new();
        for (key, api) in &apis {
            let entry = learnt.entry(key.clone()).or_default();
            match api {
                Some(BackupApi::Flex) => entry.policy = Some(BackupPolicy::flex()),
                Some(BackupApi::Legacy) if !legacy_schedules => {}
                Some(BackupApi::Dedicated | BackupApi::Legacy) => {
                    if entry.facts.is_some_and(|f| !f.backup_enabled) {
                        continue;
                    }
                    waiting.push_back((key.clone(), ids.get(key).cloned()));
                }
                _ => {}
            }
        }
        let start_next =
            |tasks: &mut JoinSet<_>,
             waiting: &mut std::collections::VecDeque<(TargetKey, Option<Arc<str>>)>| {
                let Some((key, id)) = waiting.pop_front() else {
                    return;
                };
                let inventory = Arc::clone(inventory);
                let slots = Arc::clone(slots);
                tasks.spawn(async move {
                    let pace = Pace::with_slot(slots, deadline).await;
                    let result = within(
                        deadline,
                        inventory.policy(&key.project_id, &key.cluster_name, id.as_deref(), &pace),
                    )
                    .await;
                    (key, result)
                });
            };
        let mut tasks = JoinSet::new();
        for _ in 0..WAITING_TASKS {
            start_next(&mut tasks, &mut waiting);
        }
        while let Some(joined) = tasks.join_next().await {
            start_next(&mut tasks, &mut waiting);
            let Ok((key, result)) = joined else {
                continue;
            };
            let entry = learnt.entry(key.clone()).or_default();
            match result {
                Ok(policy) => {
                    entry.policy = Some(policy);
                    entry.schedule_up = Some(true);
                }
                Err(error) => {
                    tracing::debug!(
                        project_id = %key.project_id,
                        cluster_name = %key.cluster_name,
                        reason = error.reason().as_str(),
                        error = %error,
                        "could not read the backup schedule; keeping the policy known before"
                    );
                    entry.schedule_up = Some(false);
                }
            }
        }
        learnt
    }
}

/// `read`, failed as `timeout` when it takes longer than `deadline`, as a poll would.
async fn within<T>(
    deadline: Duration,
    read: impl Future<Output = Result<T, AtlasError>>,
) -> Result<T, AtlasError> {
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(AtlasError::PollDeadline(deadline)))
}

/// Lists one project's clusters and flex clusters into discovered targets: kept by the
/// cluster filter, M0 free clusters left out, a flex cluster once even when both listings
/// name it.
async fn list_project<I: Inventory>(
    inventory: &I,
    project: &Project,
    filter: &crate::config::NameFilter,
    slots: &Arc<Semaphore>,
    deadline: Duration,
) -> Result<Vec<Found>, AtlasError> {
    let pace = Pace::with_slot(Arc::clone(slots), deadline).await;
    let dedicated = within(deadline, inventory.clusters(&project.id, &pace)).await?;
    drop(pace);
    let pace = Pace::with_slot(Arc::clone(slots), deadline).await;
    let flex =
        match tokio::time::timeout(deadline, inventory.flex_clusters(&project.id, &pace)).await {
            Ok(flex) => flex.transpose()?,
            Err(_) => return Err(AtlasError::PollDeadline(deadline)),
        };
    drop(pace);

    let project_id: Arc<str> = project.id.as_str().into();
    let project_name: Arc<str> = project.name.as_str().into();
    let mut names = HashSet::new();
    let mut found = Vec::new();
    for cluster in flex.into_iter().flatten().chain(dedicated) {
        let kind = match cluster.tier {
            Tier::Free => {
                tracing::debug!(
                    project_id = %project.id,
                    cluster_name = %cluster.name,
                    "left out an M0 free cluster: Atlas keeps no backups of M0 clusters"
                );
                continue;
            }
            Tier::Flex => Kind::Flex,
            Tier::Dedicated => Kind::Dedicated,
        };
        if crate::target::check_cluster_name(&cluster.name).is_err() {
            tracing::debug!(
                project_id = %project.id,
                cluster_name = %crate::atlas::bounded(&cluster.name, 80),
                "left out a cluster whose name the snapshot endpoints would not take"
            );
            continue;
        }
        if !filter.admits(&[&cluster.name]) || !names.insert(cluster.name.clone()) {
            continue;
        }
        found.push(Found {
            target: Target {
                project_id: Arc::clone(&project_id),
                project_name: Some(Arc::clone(&project_name)),
                cluster_name: cluster.name.as_str().into(),
                kind,
                cluster_id: None,
            },
            facts: cluster.facts,
        });
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::NameFilter;
    use crate::facts::ClusterType;

    const P1: &str = "5b69d0349b15c62cdfc38b71";
    const P2: &str = "5b69d0349b15c62cdfc38b72";

    fn on(cluster_type: ClusterType) -> ClusterFacts {
        ClusterFacts {
            cluster_type: Some(cluster_type),
            paused: false,
            backup_enabled: true,
        }
    }

    fn listed(name: &str, tier: Tier, facts: ClusterFacts) -> ListedCluster {
        ListedCluster {
            name: name.into(),
            tier,
            facts,
        }
    }

    /// An Atlas of two projects, whose answers a test can change between refreshes.
    struct Fake {
        projects: Mutex<Result<Vec<Project>, u16>>,
        clusters: Mutex<HashMap<String, Result<Vec<ListedCluster>, u16>>>,
        flex: Mutex<HashMap<String, Vec<ListedCluster>>>,
        one: Mutex<HashMap<String, ListedCluster>>,
        schedule_fails: Mutex<HashSet<String>>,
        calls: Mutex<Vec<String>>,
    }

    fn status(code: u16) -> AtlasError {
        AtlasError::Status {
            status: code,
            body: None,
            retry_after: None,
        }
    }

    impl Fake {
        fn two_projects() -> Fake {
            let fake = Fake {
                projects: Mutex::new(Ok(Vec::new())),
                clusters: Mutex::default(),
                flex: Mutex::default(),
                one: Mutex::default(),
                schedule_fails: Mutex::default(),
                calls: Mutex::default(),
            };
            *fake.projects.lock().unwrap() = Ok(vec![
                Project {
                    id: P1.into(),
                    name: "prod-a".into(),
                    org_id: "o".into(),
                },
                Project {
                    id: P2.into(),
                    name: "staging".into(),
                    org_id: "o".into(),
                },
            ]);
            fake.clusters.lock().unwrap().extend([
                (
                    P1.to_owned(),
                    Ok(vec![
                        listed("Big", Tier::Dedicated, on(ClusterType::Sharded)),
                        listed("Free", Tier::Free, on(ClusterType::ReplicaSet)),
                        listed("Both", Tier::Flex, on(ClusterType::ReplicaSet)),
                        listed(
                            "Off",
                            Tier::Dedicated,
                            ClusterFacts {
                                backup_enabled: false,
                                ..on(ClusterType::ReplicaSet)
                            },
                        ),
                    ]),
                ),
                (
                    P2.to_owned(),
                    Ok(vec![listed(
                        "Stage",
                        Tier::Dedicated,
                        on(ClusterType::ReplicaSet),
                    )]),
                ),
            ]);
            fake.flex.lock().unwrap().insert(
                P1.to_owned(),
                vec![listed("Both", Tier::Flex, on(ClusterType::Flex))],
            );
            fake
        }

        fn calls(&self, prefix: &str) -> usize {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c.starts_with(prefix))
                .count()
        }

        fn call(&self, what: String) {
            self.calls.lock().unwrap().push(what);
        }
    }

    impl Inventory for Fake {
        async fn projects(
            &self,
            organization: Option<&str>,
            _: &Pace,
        ) -> Result<Vec<Project>, AtlasError> {
            self.call(format!("projects {organization:?}"));
            self.projects.lock().unwrap().clone().map_err(status)
        }

        async fn clusters(
            &self,
            project_id: &str,
            _: &Pace,
        ) -> Result<Vec<ListedCluster>, AtlasError> {
            self.call(format!("clusters {project_id}"));
            self.clusters
                .lock()
                .unwrap()
                .get(project_id)
                .cloned()
                .unwrap_or(Ok(Vec::new()))
                .map_err(status)
        }

        async fn flex_clusters(
            &self,
            project_id: &str,
            _: &Pace,
        ) -> Option<Result<Vec<ListedCluster>, AtlasError>> {
            self.call(format!("flex {project_id}"));
            Some(Ok(self
                .flex
                .lock()
                .unwrap()
                .get(project_id)
                .cloned()
                .unwrap_or_default()))
        }

        async fn cluster(
            &self,
            _: Kind,
            known: Option<BackupApi>,
            project_id: &str,
            name: &str,
            _: Option<&str>,
            _: &Pace,
        ) -> (Option<BackupApi>, Result<ListedCluster, AtlasError>) {
            self.call(format!("cluster {project_id}/{name}"));
            match self.one.lock().unwrap().get(name) {
                Some(c) => (known, Ok(c.clone())),
                None => (known, Err(status(404))),
            }
        }

        async fn policy(
            &self,
            project_id: &str,
            name: &str,
            _: Option<&str>,
            _: &Pace,
        ) -> Result<BackupPolicy, AtlasError> {
            self.call(format!("schedule {project_id}/{name}"));
            if self.schedule_fails.lock().unwrap().contains(name) {
                return Err(status(403));
            }
            Ok(BackupPolicy {
                interval: Some(Duration::from_secs(21_600)),
                ..BackupPolicy::default()
            })
        }
    }

    fn enabled() -> DiscoveryConfig {
        DiscoveryConfig {
            enabled: true,
            ..DiscoveryConfig::default()
        }
    }

    fn target(project: &str, name: &str, kind: Kind) -> Target {
        Target {
            project_id: project.into(),
            project_name: None,
            cluster_name: name.into(),
            kind,
            cluster_id: None,
        }
    }

    async fn refresh(
        d: &mut Discovery,
        fake: &Arc<Fake>,
        listed: &[Target],
    ) -> HashMap<TargetKey, Learnt> {
        let slots = Arc::new(Semaphore::new(4));
        d.refresh(
            fake,
            listed,
            &HashMap::new(),
            &slots,
            Duration::from_secs(30),
            Timestamp::UNIX_EPOCH,
        )
        .await
    }

    fn names(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|t| format!("{}:{}", t.cluster_name, t.kind))
            .collect()
    }

    fn key(project: &str, name: &str) -> TargetKey {
        target(project, name, Kind::Auto).key()
    }

    #[tokio::test]
    async fn the_kind_comes_from_the_listing_m0_is_left_out_and_flex_counts_once() {
        let fake = Arc::new(Fake::two_projects());
        let mut d = Discovery::new(enabled());
        refresh(&mut d, &fake, &[]).await;
        assert_eq!(
            names(&d.targets(&[])),
            [
                "Both:flex",
                "Big:dedicated",
                "Off:dedicated",
                "Stage:dedicated"
            ]
        );
        assert_eq!(d.report().map(|r| r.up), Some(true));
        // Discovered targets carry their project's name.
        assert!(
            d.targets(&[])
                .iter()
                .all(|t| t.project_name.as_deref().is_some())
        );
        // The listings told the facts: no cluster GET for a discovered cluster.
        assert_eq!(fake.calls("cluster "), 0);
    }

    #[tokio::test]
    async fn filters_keep_projects_by_name_or_id_and_clusters_by_name() {
        let fake = Arc::new(Fake::two_projects());
        let mut config = enabled();
        config.projects = NameFilter {
            include: vec![
                regex::Regex::new("^prod-").unwrap(),
                regex::Regex::new(&format!("^{P2}$")).unwrap(),
            ],
            exclude: vec![],
        };
        config.clusters = NameFilter {
            include: vec![],
            exclude: vec![
                regex::Regex::new("^St").unwrap(),
                regex::Regex::new("Off").unwrap(),
            ],
        };
        let mut d = Discovery::new(config);
        refresh(&mut d, &fake, &[]).await;
        assert_eq!(names(&d.targets(&[])), ["Both:flex", "Big:dedicated"]);

        let mut config = enabled();
        config.projects.exclude = vec![regex::Regex::new("^prod-").unwrap()];
        let mut d = Discovery::new(config);
        refresh(&mut d, &fake, &[]).await;
        assert_eq!(names(&d.targets(&[])), ["Stage:dedicated"]);
        // An excluded project costs no cluster listing.
        assert_eq!(fake.calls(&format!("clusters {P1}")), 1);
    }

    #[tokio::test]
    async fn a_listed_cluster_wins_over_the_same_discovered_one_and_takes_its_project_name() {
        let fake = Arc::new(Fake::two_projects());
        let mut d = Discovery::new(enabled());
        let mine = [target(P1, "Big", Kind::Auto)];
        refresh(&mut d, &fake, &mine).await;
        let targets = d.targets(&mine);
        assert_eq!(
            names(&targets),
            ["Big:auto", "Both:flex", "Off:dedicated", "Stage:dedicated"]
        );
        assert_eq!(targets[0].project_name.as_deref(), Some("prod-a"));
        // Its facts came from the listing: no GET.
        assert_eq!(fake.calls("cluster "), 0);
    }

    #[tokio::test]
    async fn a_failed_project_listing_keeps_every_cluster_found_before() {
        let fake = Arc::new(Fake::two_projects());
        let mut d = Discovery::new(enabled());
        refresh(&mut d, &fake, &[]).await;
        let before = names(&d.targets(&[]));
        *fake.projects.lock().unwrap() = Err(500);
        let at = Timestamp::UNIX_EPOCH;
        refresh(&mut d, &fake, &[]).await;
        assert_eq!(names(&d.targets(&[])), before);
        assert_eq!(
            d.report(),
            Some(DiscoveryReport {
                up: false,
                last_success: Some(at)
            })
        );
    }

    #[tokio::test]
    async fn one_failing_project_keeps_its_clusters_while_another_loses_a_deleted_one() {
        let fake = Arc::new(Fake::two_projects());
        let mut d = Discovery::new(enabled());
        refresh(&mut d, &fake, &[]).await;
        fake.clusters
            .lock()
            .unwrap()
            .insert(P2.to_owned(), Err(503));
        fake.clusters.lock().unwrap().insert(
            P1.to_owned(),
            Ok(vec![listed(
                "Big",
                Tier::Dedicated,
                on(ClusterType::Sharded),
            )]),
        );
        fake.flex.lock().unwrap().clear();
        refresh(&mut d, &fake, &[]).await;
        assert_eq!(names(&d.targets(&[])), ["Big:dedicated", "Stage:dedicated"]);
        assert_eq!(d.report().map(|r| r.up), Some(false));
    }

    #[tokio::test]
    async fn policies_are_read_for_dedicated_clusters_with_backups_on_only() {
        let fake = Arc::new(Fake::two_projects());
        fake.schedule_fails.lock().unwrap().insert("Stage".into());
        let mut d = Discovery::new(enabled());
        let learnt = refresh(&mut d, &fake, &[]).await;
        assert_eq!(
            fake.calls("schedule "),
            2,
            "Big and Stage, not Off, not flex"
        );
        let big = learnt[&key(P1, "Big")];
        assert_eq!(big.schedule_up, Some(true));
        assert_eq!(
            big.policy.and_then(|p| p.interval),
            Some(Duration::from_secs(21_600))
        );
        let flex = learnt[&key(P1, "Both")];
        assert_eq!(flex.policy, Some(BackupPolicy::flex()));
        assert_eq!(flex.schedule_up, None);
        let off = learnt[&key(P1, "Off")];
        assert_eq!(off.facts.map(|f| f.backup_enabled), Some(false));
        assert_eq!((off.policy, off.schedule_up), (None, None));
        let stage = learnt[&key(P2, "Stage")];
        assert_eq!((stage.policy, stage.schedule_up), (None, Some(false)));
    }

    #[tokio::test]
    async fn without_discovery_each_listed_cluster_costs_one_get_and_its_schedule() {
        let fake = Arc::new(Fake::two_projects());
        fake.one.lock().unwrap().insert(
            "Mine".into(),
            listed("Mine", Tier::Dedicated, on(ClusterType::Geosharded)),
        );
        let mut d = Discovery::new(DiscoveryConfig::default());
        let mine = [
            target(P1, "Mine", Kind::Dedicated),
            target(P1, "Gone", Kind::Flex),
        ];
        let learnt = refresh(&mut d, &fake, &mine).await;
        assert_eq!(fake.calls("projects"), 0);
        assert_eq!(fake.calls("cluster "), 2);
        assert_eq!(fake.calls("schedule "), 1);
        assert_eq!(
            learnt[&key(P1, "Mine")].facts.and_then(|f| f.cluster_type),
            Some(ClusterType::Geosharded)
        );
        // A flex cluster's policy needs no read even when its GET failed.
        let gone = learnt[&key(P1, "Gone")];
        assert_eq!(
            (gone.facts, gone.policy),
            (None, Some(BackupPolicy::flex()))
        );
        assert_eq!(d.report(), None);
        assert_eq!(names(&d.targets(&mine)), ["Mine:dedicated", "Gone:flex"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_is_due_once_per_refresh_interval() {
        let fake = Arc::new(Fake::two_projects());
        let mut d = Discovery::new(enabled());
        assert!(d.due(tokio::time::Instant::now()));
        refresh(&mut d, &fake, &[]).await;
        assert!(!d.due(tokio::time::Instant::now()));
        tokio::time::advance(Duration::from_secs(3599)).await;
        assert!(!d.due(tokio::time::Instant::now()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(d.due(tokio::time::Instant::now()));
        refresh(&mut d, &fake, &[]).await;
        // A discovered cluster's 404 makes one early refresh due, once per interval.
        assert!(!d.due(tokio::time::Instant::now()));
        d.request_early();
        assert!(d.due(tokio::time::Instant::now()));
        refresh(&mut d, &fake, &[]).await;
        d.request_early();
        assert!(
            !d.due(tokio::time::Instant::now()),
            "one early refresh per interval"
        );
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(d.due(tokio::time::Instant::now()), "the schedule stayed");
        // A changed filter makes one due at once; switching discovery off forgets the found.
        let mut config = enabled();
        config.clusters.exclude = vec![regex::Regex::new("x").unwrap()];
        d.configure(config);
        assert!(d.due(tokio::time::Instant::now()));
        d.configure(DiscoveryConfig::default());
        assert!(d.targets(&[]).is_empty());
        assert_eq!(d.report(), None);
    }
}
