//! A stand-in for the MongoDB Atlas Administration API on a real socket, for the `demo` command,
//! the integration tests and benchmarks: client code that passes against it should work against
//! Atlas.
//!
//! What it covers, with Atlas' paths, media types, bodies and errors:
//! - snapshot listings and single snapshots of every kind the exporter reads: tenant (v2, not
//!   paged; v1.0, paged), flex, dedicated (Cloud Backup replica sets and sharded clusters, the
//!   latter also on `…/shardedClusters`, not paged, and `…/shardedCluster/{id}`), legacy (v2
//!   with `completed`, v1.0);
//! - discovery and cluster facts: `GET /groups` and `/orgs/{id}/groups` (organizations, 404
//!   for an unknown one), `…/clusters[/{name}]` (`ClusterDescription20240805`: every cluster
//!   but the flex ones, M0 free clusters as `TENANT`), `…/flexClusters[/{name}]`, with paused
//!   clusters, backups switched off and Atlas' kind-mismatch 400s both ways;
//! - backup schedules (`…/backup/schedule`: policy items hourly to yearly, `nextSnapshot`
//!   after the simulated wall-clock time), and dedicated snapshots naming the policy item that
//!   took them;
//! - restore jobs (flex with `status`, dedicated with flags) and snapshot export jobs,
//!   newest first, and the 403 of the Backup-Manager ones for a Project Read Only key;
//! - paging (`pageNum`, `itemsPerPage` ≤ 500, `includeCount`, `links` built from the Host header),
//!   `pretty` and `envelope`;
//! - strict version negotiation: the exact media type or a 406;
//! - HTTP Digest authentication verified for real (nonce expiry with `stale=true`, replay
//!   protection, nonce reuse with increasing `nc` as caching clients do) and OAuth2 client
//!   credentials for service accounts (token, revoke, expiry);
//! - token-bucket rate limiting per (project, endpoint set), with Atlas' `Ratelimit-Limit` and
//!   `Ratelimit-Remaining` on every answer the bucket saw, errors included;
//! - Atlas' API lifecycle, switched at runtime per route or media type: `Deprecation:` and
//!   `Sunset:` headers, and 410 `VERSION_GONE` for a retired one;
//! - per-cluster faults (404, 500, 403, 429, malformed JSON, slowness) changeable at runtime,
//!   and a seeded per-request random mix of the transient ones ([`Fault::Random`]);
//! - an injectable clock ([`ManualClock`]) for tests that expire nonces and tokens, refill rate
//!   limits or release slow requests without sleeping;
//! - deterministic snapshot histories and worlds ([`daily_history`], [`periodic_history`],
//!   [`Scenario::demo`], [`Scenario::discovery`]);
//! - an injected latency before every answer ([`Scenario::with_latency`]), for benchmarks;
//! - a project's alerts ([`SimAlert`]), backup and other, filtered by `status`; copy settings,
//!   auto export and the regions snapshots reached ([`SimCopies`]);
//! - request counters ([`Stats`]) for tests.
//!
//! What it deliberately does not: TLS (plain HTTP only; Atlas redirects HTTP to HTTPS), HTTP/2,
//! per-key project access (any accepted credential may read any project and organization;
//! the one role modelled is [`SimRole`]), IP access lists (only as a fault), Atlas' fallback to older versions for
//! later dates, the older media types of the cluster and schedule endpoints (2023-01-01,
//! 2023-02-01: a 406 here), per-endpoint-set bucket sizes (one configured size for all),
//! starting restores or downloads, and any write endpoint.

mod alerts;
mod clock;
mod copies;
mod digest;
mod errors;
mod expiring;
mod faults;
mod handler;
mod jobs;
mod oauth;
mod query;
mod ratelimit;
mod render;
mod routes;
mod scenario;
mod schedule;
mod shared;
mod sunset;
mod sync;
mod world;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use shared::Shared;
use sync::lock;

pub use alerts::{SimAlert, SimAlertStatus};
pub use clock::{ManualClock, SimClock, Sleep, TokioClock};
pub use copies::SimCopies;
pub use jobs::{SimExportJob, SimExportState, SimJobs, SimRestoreJob, SimRestoreStatus, SimRole};
pub use scenario::{
    DEFAULT_ORG_ID, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_DISCOVERED_ORG_ID, DEMO_PRIVATE_KEY,
    DEMO_PROJECT_IDS, DEMO_PUBLIC_KEY, DISCOVERY_ORG_IDS, DISCOVERY_PAGE_SIZE,
    DISCOVERY_PROJECT_IDS, Fault, FlexRefusal, HistoryOptions, InFlightPhase, NonceReuse,
    OPS_MANAGER_PROJECT_ID, RateLimit, Scenario, SimBackupStatus, SimCluster, SimKind, SimProject,
    SimSnapshot, SimStatus, daily_history, periodic_history,
};
pub use schedule::{RetentionUnit, SimFrequency, SimPolicyItem, SimSchedule};
pub use shared::Stats;
pub use sunset::SunsetNotice;

/// How long `shutdown` lets in-flight requests finish before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// A running simulator. Dropping it stops the server (listener and connections);
/// [`Simulator::shutdown`] does so gracefully.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds `addr` (use `127.0.0.1:0` in tests) and serves `scenario` on the current tokio runtime,
    /// on tokio's clock.
    pub async fn start(scenario: Scenario, addr: SocketAddr) -> io::Result<Simulator> {
        Simulator::start_with_clock(scenario, addr, TokioClock).await
    }

    /// Like [`Simulator::start`], with `clock` as the time that nonce and token lifetimes,
    /// rate-limit refills and `Slow` faults are measured against: a [`ManualClock`] lets a test
    /// move time explicitly.
    pub async fn start_with_clock(
        scenario: Scenario,
        addr: SocketAddr,
        clock: impl SimClock,
    ) -> io::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(scenario, addr, Arc::new(clock)));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, Arc::clone(&shared), stopped));
        tracing::debug!(%addr, "atlas simulator listening");
        Ok(Simulator {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: the `base_url` a client config takes.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of the counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats::default();
    }

    /// Replaces a cluster's fault (`None` clears it). False if there is no such cluster.
    pub fn set_fault(&self, project_id: &str, cluster_name: &str, fault: Option<Fault>) -> bool {
        lock(&self.shared.world).set_fault(project_id, cluster_name, fault)
    }

    /// Replaces a cluster's listing (served in the given order). False if there is no such cluster.
    pub fn set_snapshots(
        &self,
        project_id: &str,
        cluster_name: &str,
        snapshots: Vec<SimSnapshot>,
    ) -> bool {
        lock(&self.shared.world).set_snapshots(project_id, cluster_name, snapshots)
    }

    /// Upgrades a flex (or shared-tier) cluster to a dedicated one, as Atlas'
    /// `flexClusters:tenantUpgrade` does: from then on the flex endpoints answer
    /// `CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API` and the dedicated ones serve its listing (kept
    /// as it was). False if there is no such cluster or it is not flex or shared-tier.
    pub fn upgrade_to_dedicated(&self, project_id: &str, cluster_name: &str) -> bool {
        lock(&self.shared.world).upgrade_to_dedicated(project_id, cluster_name)
    }

    /// Removes a cluster: later requests get Atlas' `CLUSTER_NOT_FOUND`. False if there was none.
    pub fn remove_cluster(&self, project_id: &str, cluster_name: &str) -> bool {
        lock(&self.shared.world).remove_cluster(project_id, cluster_name)
    }

    /// Adds a cluster to a project, replacing one of the same name. False if there is no such project.
    pub fn add_cluster(&self, project_id: &str, cluster: SimCluster) -> bool {
        lock(&self.shared.world).add_cluster(project_id, cluster)
    }

    /// Adds a project. False (and nothing changes) if one with that id exists.
    pub fn add_project(&self, project: SimProject) -> bool {
        lock(&self.shared.world).add_project(project)
    }

    /// Marks a route (a [`Stats::by_route`] name such as `dedicated_list`) or a media type for
    /// sunset: its answers carry `Deprecation:` and `Sunset:` (`None` stops them).
    pub fn set_sunset(&self, route_or_media_type: &str, notice: Option<SunsetNotice>) {
        lock(&self.shared.lifecycle).set_notice(route_or_media_type, notice);
    }

    /// Retires a route or media type: its requests get 410 `VERSION_GONE` (`false` brings it
    /// back).
    pub fn set_gone(&self, route_or_media_type: &str, gone: bool) {
        lock(&self.shared.lifecycle).set_gone(route_or_media_type, gone);
    }

    /// Stops accepting, lets in-flight requests finish (for at most half a second), and returns
    /// once the listener is closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be gone; then there is nothing to stop.
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
            && error.is_panic()
        {
            tracing::warn!(%error, "atlas simulator task panicked");
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // Aborting the server task drops the listener and the set of connection tasks, which
        // aborts them too.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts connections until told to stop, then shuts down gracefully.
async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let shared = Arc::clone(&shared);
                    let service = service_fn(move |request| {
                        handler::handle(Arc::clone(&shared), peer, request)
                    });
                    let connection = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let watched = graceful.watch(connection);
                    connections.spawn(async move {
                        if let Err(error) = watched.await {
                            tracing::debug!(%error, "simulator connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Typically out of file descriptors; back off instead of spinning.
                    tracing::warn!(%error, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("simulator connections still busy after the grace period; aborting them");
    }
    connections.shutdown().await;
}
