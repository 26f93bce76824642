//! The simulated world in neutral form: projects, clusters, snapshots and faults, plus the
//! deterministic generators that fill it ([`daily_history`] and [`Scenario::demo`]).
//!
//! Nothing here knows about HTTP: the wire shape of a snapshot per kind lives in `render`.

use std::time::Duration;

use jiff::Timestamp;

use super::alerts::SimAlert;
use super::jobs::{SimExportJob, SimJobs, SimRestoreJob, SimRole};
use super::schedule::{SimPolicyItem, SimSchedule};

/// The organization a project belongs to unless it says otherwise.
pub const DEFAULT_ORG_ID: &str = "5a0a1e7e0f2912c554080adc";

/// The public API key the demo scenario accepts (digest username).
pub const DEMO_PUBLIC_KEY: &str = "demokeys";
/// The private API key the demo scenario accepts (digest password).
pub const DEMO_PRIVATE_KEY: &str = "5ca1ab1e-0000-4000-8000-00000000de70";
/// The service account client id the demo scenario accepts at `POST /api/oauth/token`.
pub const DEMO_CLIENT_ID: &str = "mdb_sa_id_0000000000000000000de770";
/// The service account client secret the demo scenario accepts.
pub const DEMO_CLIENT_SECRET: &str = "mdb_sa_sk_demodemodemodemodemodemodemodemo";

/// Everything the simulator serves: the projects with their clusters and snapshots, the
/// credentials it accepts and the knobs of its authentication and rate limiting.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Projects (Atlas "groups") and their clusters.
    pub projects: Vec<SimProject>,
    /// `(public key, private key)` pairs accepted by digest authentication.
    pub api_keys: Vec<(String, String)>,
    /// `(client_id, client_secret)` pairs accepted by `POST /api/oauth/token`.
    pub service_accounts: Vec<(String, String)>,
    /// Digest nonces older than this get a 401 with `stale=true` (default 300 s).
    pub nonce_ttl: Duration,
    /// Whether a digest nonce may answer more than one request (default: it may).
    pub nonce_reuse: NonceReuse,
    /// OAuth access token lifetime (default 3600 s, as Atlas).
    pub token_ttl: Duration,
    /// A token bucket per (project, endpoint set); `None` means unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Organizations that exist besides those the projects name (an organization without
    /// projects lists none, rather than a 404).
    pub organizations: Vec<String>,
    /// The largest page the discovery listings (`/groups`, `/orgs/{id}/groups`, `/clusters`,
    /// `/flexClusters`) serve, whatever `itemsPerPage` asks (Atlas: 500): a small value gives
    /// several pages with few projects or clusters. Snapshot listings are not affected.
    pub max_items_per_page: u32,
    /// The wall-clock time the simulator's clock stands at when it starts; `None`: the real
    /// time then. The backup schedule's `nextSnapshot` is computed against it, so a scenario
    /// whose histories are anchored at some `now` should start there.
    pub started_at: Option<Timestamp>,
    /// How long every request waits (on the simulator's clock) before it is answered, as a
    /// network round trip to Atlas would: zero (the default) answers at once. The scale
    /// benchmark sets it to compare cycle times with `ceil(requests / concurrency) x latency`.
    pub latency: Duration,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            projects: Vec::new(),
            api_keys: Vec::new(),
            service_accounts: Vec::new(),
            nonce_ttl: Duration::from_secs(300),
            nonce_reuse: NonceReuse::Allowed,
            token_ttl: Duration::from_secs(3600),
            rate_limit: None,
            organizations: Vec::new(),
            max_items_per_page: super::query::MAX_ITEMS_PER_PAGE,
            started_at: None,
            latency: Duration::ZERO,
        }
    }
}

/// Whether a digest nonce answers one request or many. Nothing public says which Atlas does;
/// MongoDB's own Go clients never reuse one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NonceReuse {
    /// A nonce answers any number of requests with increasing `nc` until it expires.
    #[default]
    Allowed,
    /// A nonce answers one request; its second use gets a 401 with `stale=true`, as RFC 7616
    /// has a server say when the digest was right and only the nonce is spent.
    RefusedStale,
    /// A nonce answers one request; its second use gets a plain 401 (`stale=false`), as from a
    /// server that forgets a nonce once it is used.
    RefusedPlain,
}

/// Token bucket parameters, as Atlas documents them: each request takes one token; `refill`
/// tokens come back every `refill_period`, up to `capacity`.
#[derive(Clone, Debug)]
pub struct RateLimit {
    /// Bucket size: the burst a client can make from a full bucket.
    pub capacity: u32,
    /// Tokens added every `refill_period`.
    pub refill: u32,
    /// How often `refill` tokens are added.
    pub refill_period: Duration,
}

impl RateLimit {
    /// Atlas' default for the snapshot endpoint sets: 1200 tokens, 500 back every 60 s.
    pub fn atlas_default() -> RateLimit {
        RateLimit {
            capacity: 1200,
            refill: 500,
            refill_period: Duration::from_secs(60),
        }
    }
}

/// A project (Atlas "group").
#[derive(Clone, Debug)]
pub struct SimProject {
    /// 24 lowercase hex digits.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The organization it belongs to (24 lowercase hex digits); [`DEFAULT_ORG_ID`] unless set.
    pub org_id: String,
    /// Its clusters; names are unique within a project (the first of a duplicate wins).
    pub clusters: Vec<SimCluster>,
    /// The role the scenario's credentials hold in it.
    pub role: SimRole,
    /// Its alerts, in the order `…/alerts` lists them.
    pub alerts: Vec<SimAlert>,
}

impl SimProject {
    /// A project with no clusters, in the organization [`DEFAULT_ORG_ID`].
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> SimProject {
        SimProject {
            id: id.into(),
            name: name.into(),
            org_id: DEFAULT_ORG_ID.to_string(),
            clusters: Vec::new(),
            role: SimRole::default(),
            alerts: Vec::new(),
        }
    }

    /// Gives the credentials another role in it (builder style): [`SimRole::ReadOnly`] makes
    /// the Backup-Manager endpoints answer 403.
    pub fn with_role(mut self, role: SimRole) -> SimProject {
        self.role = role;
        self
    }

    /// Puts it in another organization (builder style).
    pub fn in_org(mut self, org_id: impl Into<String>) -> SimProject {
        self.org_id = org_id.into();
        self
    }

    /// Adds a cluster (builder style).
    pub fn with_cluster(mut self, cluster: SimCluster) -> SimProject {
        self.clusters.push(cluster);
        self
    }

    /// Adds an alert (builder style).
    pub fn with_alert(mut self, alert: SimAlert) -> SimProject {
        self.alerts.push(alert);
        self
    }
}

/// A cluster and its snapshot listing.
#[derive(Clone, Debug)]
pub struct SimCluster {
    /// Cluster name, `^[a-zA-Z0-9][a-zA-Z0-9-]*$`.
    pub name: String,
    /// Which backup API serves its snapshots.
    pub kind: SimKind,
    /// The listing, in the order the API returns it (not necessarily newest first).
    pub snapshots: Vec<SimSnapshot>,
    /// A failure applied to every request about this cluster after authentication.
    pub fault: Option<Fault>,
    /// How the flex endpoints refuse this cluster when it is not a flex cluster.
    pub flex_refusal: FlexRefusal,
    /// A sharded dedicated cluster (two shards, embedded config server): its snapshots are
    /// `type: shardedCluster` on `…/backup/snapshots` and are also served, with `members` and
    /// `snapshotIds`, on `…/backup/snapshots/shardedClusters` and `…/shardedCluster/{id}`.
    pub sharded: bool,
    /// A global cluster (`clusterType: GEOSHARDED`, two zones); implies `sharded`.
    pub global: bool,
    /// `electableSpecs.instanceSize` in the cluster listing; `None`: the kind's usual size
    /// (tenant `M2`, dedicated `M10`, legacy `M30`; flex clusters have none). `M0` makes it a
    /// free cluster (see [`SimCluster::free`]).
    pub instance_size: Option<String>,
    /// `paused`: a paused cluster takes no snapshots (its history is the scenario's business).
    pub paused: bool,
    /// `backupEnabled` (dedicated) or `backupSettings.enabled` (flex).
    pub backup_enabled: bool,
    /// The Cloud Backup policy `…/backup/schedule` serves (dedicated clusters with backups on);
    /// for a legacy cluster, what Cloud Manager's and Ops Manager's `…/snapshotSchedule` shows.
    pub schedule: SimSchedule,
    /// The `statusName` of its backup configuration under `/api/public/v1.0`; `None`:
    /// `STARTED` with backups on, `STOPPED` with them off.
    pub backup_status: Option<SimBackupStatus>,
    /// Its restore jobs and snapshot export jobs.
    pub jobs: SimJobs,
}

/// A Cloud Manager / Ops Manager backup configuration's `statusName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimBackupStatus {
    /// `STARTED`.
    Started,
    /// `STOPPED`.
    Stopped,
    /// `INACTIVE`: backup was never started.
    Inactive,
    /// `PROVISIONING`.
    Provisioning,
    /// `TERMINATING`.
    Terminating,
}

impl SimBackupStatus {
    /// The wire `statusName`.
    pub fn as_str(self) -> &'static str {
        match self {
            SimBackupStatus::Started => "STARTED",
            SimBackupStatus::Stopped => "STOPPED",
            SimBackupStatus::Inactive => "INACTIVE",
            SimBackupStatus::Provisioning => "PROVISIONING",
            SimBackupStatus::Terminating => "TERMINATING",
        }
    }

    /// Whether snapshots are taken in this state (the exporter's reading: started or
    /// provisioning).
    pub fn is_on(self) -> bool {
        matches!(
            self,
            SimBackupStatus::Started | SimBackupStatus::Provisioning
        )
    }
}

impl SimCluster {
    /// A healthy cluster with no snapshots.
    pub fn new(name: impl Into<String>, kind: SimKind) -> SimCluster {
        SimCluster {
            name: name.into(),
            kind,
            snapshots: Vec::new(),
            fault: None,
            flex_refusal: FlexRefusal::default(),
            sharded: false,
            global: false,
            instance_size: None,
            paused: false,
            backup_enabled: true,
            schedule: SimSchedule::default(),
            backup_status: None,
            jobs: SimJobs::default(),
        }
    }

    /// An M0 free cluster: `providerName: TENANT`, `instanceSize: M0`, backups off and no
    /// snapshots (Atlas backs up no M0 cluster).
    pub fn free(name: impl Into<String>) -> SimCluster {
        SimCluster {
            instance_size: Some(FREE_INSTANCE_SIZE.to_string()),
            backup_enabled: false,
            ..SimCluster::new(name, SimKind::Tenant)
        }
    }

    /// Whether it is an M0 free cluster.
    pub fn is_free(&self) -> bool {
        self.instance_size.as_deref() == Some(FREE_INSTANCE_SIZE)
    }

    /// Makes it a sharded cluster (builder style; meaningful for dedicated clusters).
    pub fn sharded(mut self) -> SimCluster {
        self.sharded = true;
        self
    }

    /// Makes it a global (`GEOSHARDED`, hence sharded) cluster (builder style).
    pub fn global(mut self) -> SimCluster {
        self.sharded = true;
        self.global = true;
        self
    }

    /// Copies snapshots to `policy` regions while finished snapshots list `listed` as copied
    /// (builder style; the same lists: the copies land).
    pub fn with_copy_regions(mut self, policy: &[&str], listed: &[&str]) -> SimCluster {
        let owned = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        self.schedule.copies.policy_regions = owned(policy);
        self.schedule.copies.listed_regions = Some(owned(listed));
        self
    }

    /// Turns auto export on with this `export.frequencyType` (builder style).
    pub fn with_auto_export(mut self, frequency_type: &str) -> SimCluster {
        self.schedule.copies.auto_export = Some(frequency_type.to_owned());
        self
    }

    /// Sets the instance size the cluster listing shows (builder style).
    pub fn with_instance_size(mut self, size: impl Into<String>) -> SimCluster {
        self.instance_size = Some(size.into());
        self
    }

    /// Pauses it (builder style).
    pub fn paused(mut self) -> SimCluster {
        self.paused = true;
        self
    }

    /// Switches its backups off (builder style): `backupEnabled: false`, and its schedule
    /// answers 404 `BACKUP_CONFIG_NOT_FOUND`.
    pub fn backups_off(mut self) -> SimCluster {
        self.backup_enabled = false;
        self
    }

    /// Sets its Cloud Manager / Ops Manager backup state (builder style), and `backup_enabled`
    /// to match.
    pub fn with_backup_status(mut self, status: SimBackupStatus) -> SimCluster {
        self.backup_status = Some(status);
        self.backup_enabled = status.is_on();
        self
    }

    /// Sets its backup policy (builder style).
    pub fn with_schedule(mut self, schedule: SimSchedule) -> SimCluster {
        self.schedule = schedule;
        self
    }

    /// Sets how the flex endpoints refuse this (non-flex) cluster (builder style).
    pub fn with_flex_refusal(mut self, refusal: FlexRefusal) -> SimCluster {
        self.flex_refusal = refusal;
        self
    }

    /// Sets the listing (builder style).
    pub fn with_snapshots(mut self, snapshots: Vec<SimSnapshot>) -> SimCluster {
        self.snapshots = snapshots;
        self
    }

    /// Sets its restore jobs (builder style): served on the flex or the dedicated listing, by
    /// its kind.
    pub fn with_restore_jobs(mut self, jobs: Vec<SimRestoreJob>) -> SimCluster {
        self.jobs.restores = jobs;
        self
    }

    /// Sets its snapshot export jobs (builder style).
    pub fn with_export_jobs(mut self, jobs: Vec<SimExportJob>) -> SimCluster {
        self.jobs.exports = jobs;
        self
    }

    /// Sets a fault (builder style).
    pub fn with_fault(mut self, fault: Fault) -> SimCluster {
        self.fault = Some(fault);
        self
    }
}

/// The instance size of a free cluster.
pub(crate) const FREE_INSTANCE_SIZE: &str = "M0";

/// What a flex endpoint answers about a cluster that is not a flex cluster: the three answers
/// the Atlas CLI takes to mean "use the dedicated endpoint".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlexRefusal {
    /// 400 `CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API`, as Atlas was recorded answering.
    #[default]
    KindMismatch,
    /// 404 `CLUSTER_NOT_FOUND`, as if the flex API did not know the cluster.
    ClusterNotFound,
    /// 403 `FEATURE_UNSUPPORTED`, as for an account without the flex API.
    FeatureUnsupported,
}

/// The backup API family a cluster belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimKind {
    /// Shared-tier M2/M5: `/backup/tenant/snapshots` (v2 and v1.0).
    Tenant,
    /// Flex: `/flexClusters/{name}/backup/snapshots`.
    Flex,
    /// Dedicated M10+ Cloud Backup: `/backup/snapshots`.
    Dedicated,
    /// Legacy Backup: `/clusters/{name}/snapshots` (v2 and v1.0).
    Legacy,
}

/// A backup snapshot in neutral form; rendered per kind on the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct SimSnapshot {
    /// 24 lowercase hex digits.
    pub id: String,
    /// Workflow phase.
    pub status: SimStatus,
    /// When it was (or will be) scheduled.
    pub scheduled: Option<Timestamp>,
    /// When it started.
    pub started: Option<Timestamp>,
    /// When it finished.
    pub finished: Option<Timestamp>,
    /// Stored size: dedicated `storageSizeBytes`; legacy: split across 1-3 parts'
    /// `storageSizeBytes`; not rendered for tenant and flex.
    pub size_bytes: Option<u64>,
    /// Taken on request rather than by the schedule: a dedicated snapshot then renders as
    /// Atlas' on-demand ones (`frequencyType: ondemand`, `snapshotType: onDemand`, no policy
    /// items); other kinds render it like any other.
    pub on_demand: bool,
}

impl SimSnapshot {
    /// An on-demand snapshot requested at `requested` that has not finished: `Queued` waits
    /// (no start time), `Running` started at `requested`; any other status is taken as given,
    /// with `requested` as its start and finish. On a dedicated cluster an unfinished one
    /// renders as Atlas recorded it: no `createdAt`, no `cloudProvider`, `storageSizeBytes: 0`.
    pub fn on_demand(
        id: impl Into<String>,
        status: SimStatus,
        requested: Timestamp,
    ) -> SimSnapshot {
        let (started, finished) = match status {
            SimStatus::Pending | SimStatus::Queued => (None, None),
            SimStatus::Running => (Some(requested), None),
            _ => (Some(requested), Some(requested)),
        };
        SimSnapshot {
            id: id.into(),
            status,
            scheduled: Some(requested),
            started,
            finished,
            size_bytes: None,
            on_demand: true,
        }
    }
}

/// Snapshot status in the tenant/flex vocabulary; other kinds map it (see `render`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimStatus {
    /// Scheduled, not started.
    Pending,
    /// Waiting for a slot.
    Queued,
    /// Being taken.
    Running,
    /// Gave up.
    Failed,
    /// Done and restorable.
    Completed,
    /// Anything else, rendered verbatim (to test that clients tolerate unknown values).
    Other(String),
}

impl SimStatus {
    /// The upper-case tenant/flex wire value.
    pub fn as_upper(&self) -> &str {
        match self {
            SimStatus::Pending => "PENDING",
            SimStatus::Queued => "QUEUED",
            SimStatus::Running => "RUNNING",
            SimStatus::Failed => "FAILED",
            SimStatus::Completed => "COMPLETED",
            SimStatus::Other(s) => s,
        }
    }
}

/// A failure the simulator injects for one cluster, after authentication succeeds.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// 404 with Atlas' `CLUSTER_NOT_FOUND` body.
    NotFound,
    /// 500 with Atlas' `UNEXPECTED_ERROR` body.
    ServerError,
    /// 200 with the right media type and a truncated, invalid JSON body.
    MalformedJson,
    /// The normal response, delayed by this much (without blocking other requests).
    Slow(Duration),
    /// 429 `RATE_LIMITED_TOKEN_BUCKET` with `Retry-After: retry_after_secs`. `remaining`: how
    /// many more requests get a 429 before the fault clears itself (`None`: forever).
    RateLimited {
        /// Value of the `Retry-After` header, seconds.
        retry_after_secs: u64,
        /// 429s left before the fault clears itself; `None` never clears.
        remaining: Option<u32>,
    },
    /// 403 `IP_ADDRESS_NOT_ON_WHITELIST`, as when the caller's IP is not on the access list.
    Forbidden,
    /// 401 `NOT_IN_GROUP` to a request whose digest was right, as Atlas answers a key that is
    /// not a member of the project: no new challenge, the key and its nonce are good elsewhere.
    NotInGroup,
    /// 400 from a hostile server: an error body whose `errorCode`, `detail` and first parameter
    /// are each 8 MiB long, the first parameter followed by thousands of small ones.
    HostileErrorBody,
    /// Chaos: each request, with probability `probability` (clamped to 0..=1), gets one of the
    /// transient faults an unreliable Atlas or network gives, drawn from a stream seeded by
    /// `seed`; the others get the normal answer. The draws are a 500 [`Fault::ServerError`], a
    /// truncated [`Fault::MalformedJson`] page, one 429 with `Retry-After: 1`, and an answer
    /// [`Fault::Slow`] by 50-400 ms (well under any client timeout). `seed` advances with each
    /// request, so a run is the same for a seed and an order of requests. Each draw is counted
    /// in `Stats::faults_injected`.
    Random {
        /// The state of the draw stream; it advances with every request.
        seed: u64,
        /// Chance that one request gets a fault.
        probability: f64,
    },
}

impl Fault {
    /// Per-request random faults for a cluster (see [`Fault::Random`]).
    pub fn random(seed: u64, probability: f64) -> Fault {
        Fault::Random { seed, probability }
    }
}

/// Which phase an in-flight newest snapshot is in (see [`HistoryOptions::in_flight`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InFlightPhase {
    /// `PENDING`: only `scheduledTime`.
    Pending,
    /// `QUEUED`: only `scheduledTime`.
    Queued,
    /// `RUNNING`: `scheduledTime` and `startTime`, no `finishTime`.
    #[default]
    Running,
}

/// How [`daily_history`] shapes a history. `Default` is a clean history: every snapshot
/// COMPLETED, scheduled at 02:00 UTC, no sizes.
#[derive(Clone, Debug)]
pub struct HistoryOptions {
    /// Probability (clamped to 0..=1) that a snapshot older than the newest settled one FAILED.
    /// The newest settled snapshot's status is set by `latest_failed`/`all_failed` alone, so a
    /// history with random failures still ends healthy unless asked otherwise.
    pub failure_rate: f64,
    /// The newest day's snapshot is still in flight, in phase `in_flight_phase`, instead of settled.
    pub in_flight: bool,
    /// The phase of the in-flight snapshot when `in_flight` is set.
    pub in_flight_phase: InFlightPhase,
    /// Backups stopped this many days ago: day slots newer than this have no snapshot at all,
    /// and the newest settled snapshot (COMPLETED unless `latest_failed`/`all_failed`) is about
    /// this many days old. An in-flight snapshot, if asked for, still sits on the newest day.
    pub last_completed_days_ago: Option<u32>,
    /// The newest settled snapshot FAILED (the "latest backup failed" case).
    pub latest_failed: bool,
    /// Every settled snapshot FAILED (never a COMPLETED one).
    pub all_failed: bool,
    /// Approximate stored size of the newest COMPLETED snapshot; older ones shrink slightly,
    /// each with ±2 % noise. `None`: no snapshot carries a size. FAILED and in-flight ones never do.
    pub size_bytes: Option<u64>,
    /// Hour of day (UTC) the daily snapshot is scheduled at, taken modulo 24.
    pub schedule_hour: u8,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            failure_rate: 0.0,
            in_flight: false,
            in_flight_phase: InFlightPhase::Running,
            last_completed_days_ago: None,
            latest_failed: false,
            all_failed: false,
            size_bytes: None,
            schedule_hour: 2,
        }
    }
}

/// Longest start delay after the schedule, seconds.
const MAX_START_DELAY: i64 = 600;
/// Longest snapshot duration, seconds.
const MAX_DURATION: i64 = 1_800;

/// A realistic daily snapshot history, newest first: one snapshot per day slot for `days` days,
/// a pure function of its inputs (same inputs, same output, always).
///
/// Slot 0 is the most recent schedule time that leaves room for a settled snapshot to have
/// finished by `now` (the latest one at or before `now` when `in_flight`). Each settled snapshot
/// starts 3 s to 10 min after its schedule and takes 30 s to 30 min. FAILED snapshots carry all
/// three times: the finish is when Atlas gave up (as in Atlas' own v1.0 docs example). Ids are
/// ObjectId-like (schedule seconds, a per-seed "machine" part, a counter): unique within a
/// history and, in practice, across seeds. Times never lie after `now`.
pub fn daily_history(
    seed: u64,
    now: Timestamp,
    days: u32,
    opts: HistoryOptions,
) -> Vec<SimSnapshot> {
    periodic_history(seed, now, 24, days, opts)
}

/// Like [`daily_history`], with one snapshot every `period_hours` hours (at least 1) instead
/// of every day: slots lie at `schedule_hour` plus whole periods, `count` of them, newest first,
/// and `last_completed_days_ago` counts slots rather than days. With 24 it is `daily_history`.
/// For an hourly policy item (every 6 hours, say) served next to a matching schedule.
pub fn periodic_history(
    seed: u64,
    now: Timestamp,
    period_hours: u32,
    count: u32,
    opts: HistoryOptions,
) -> Vec<SimSnapshot> {
    let period = i64::from(period_hours.max(1)) * 3_600;
    let days = count;
    let mut rng = fastrand::Rng::with_seed(seed);
    let machine = rng.u64(..) & 0xff_ffff_ffff;
    let counter_start = rng.u32(..) & 0xff_ffff;
    let failure_rate = if opts.failure_rate.is_nan() {
        0.0
    } else {
        opts.failure_rate.clamp(0.0, 1.0)
    };

    let now_s = now.as_second();
    let hour = i64::from(opts.schedule_hour % 24) * 3_600;
    let latest_slot = (now_s - hour).div_euclid(period) * period + hour;
    let base = if opts.in_flight || now_s - latest_slot >= MAX_START_DELAY + MAX_DURATION {
        latest_slot
    } else {
        latest_slot - period
    };
    let skipped = opts.last_completed_days_ago.unwrap_or(0);

    let mut out = Vec::with_capacity(days as usize);
    let mut newest_settled = true;
    for slot in 0..days {
        let scheduled = base - i64::from(slot) * period;
        // Draw every random number for the slot up front, so options never shift the stream.
        let start_delay = i64::from(rng.u32(3..=MAX_START_DELAY as u32));
        let duration = i64::from(rng.u32(30..=MAX_DURATION as u32));
        let fail_draw = rng.f64();
        let size_noise = rng.f64();
        let id = format!(
            "{:08x}{:010x}{:06x}",
            scheduled as u32,
            machine,
            counter_start.wrapping_add(slot) & 0xff_ffff
        );

        if slot == 0 && opts.in_flight {
            out.push(in_flight_snapshot(
                id,
                opts.in_flight_phase,
                scheduled,
                start_delay.min(now_s - scheduled).max(0),
            ));
            continue;
        }
        if slot < skipped {
            continue;
        }

        let failed = if newest_settled {
            opts.latest_failed || opts.all_failed
        } else {
            opts.all_failed || fail_draw < failure_rate
        };
        newest_settled = false;

        let size_bytes = match (failed, opts.size_bytes) {
            (false, Some(size)) => Some(history_size(size, slot, size_noise)),
            _ => None,
        };
        out.push(SimSnapshot {
            id,
            status: if failed {
                SimStatus::Failed
            } else {
                SimStatus::Completed
            },
            scheduled: timestamp(scheduled),
            started: timestamp(scheduled + start_delay),
            finished: timestamp(scheduled + start_delay + duration),
            size_bytes,
            on_demand: false,
        });
    }
    out
}

fn in_flight_snapshot(
    id: String,
    phase: InFlightPhase,
    scheduled: i64,
    start_delay: i64,
) -> SimSnapshot {
    let (status, started) = match phase {
        InFlightPhase::Pending => (SimStatus::Pending, None),
        InFlightPhase::Queued => (SimStatus::Queued, None),
        InFlightPhase::Running => (SimStatus::Running, timestamp(scheduled + start_delay)),
    };
    SimSnapshot {
        id,
        status,
        scheduled: timestamp(scheduled),
        started,
        finished: None,
        size_bytes: None,
        on_demand: false,
    }
}

/// Older snapshots are a little smaller (0.1 % a day, down to half), with ±2 % noise.
fn history_size(newest: u64, slot: u32, noise: f64) -> u64 {
    let age_factor = (1.0 - 0.001 * f64::from(slot)).max(0.5);
    let noise_factor = 0.98 + 0.04 * noise;
    ((newest as f64) * age_factor * noise_factor)
        .round()
        .max(1.0) as u64
}

fn timestamp(unix_seconds: i64) -> Option<Timestamp> {
    Timestamp::from_second(unix_seconds).ok()
}

/// The organization of the demo's `analytics` project, which the demo discovers rather than
/// lists by hand; the other demo projects are in [`DEFAULT_ORG_ID`].
pub const DEMO_DISCOVERED_ORG_ID: &str = "5f3c9e2a1b4d6e7f80910b01";

/// The organizations of [`Scenario::discovery`]: the first holds three projects (two pages of
/// two), the second one.
pub const DISCOVERY_ORG_IDS: [&str; 2] = ["6a0f1c2d3e4f5a6b7c8d0a01", "6a0f1c2d3e4f5a6b7c8d0a02"];

/// The projects of [`Scenario::discovery`], in the order `GET /groups` lists them: `disc-prod`,
/// `disc-staging` and `disc-empty` in the first organization, `other-org` in the second.
pub const DISCOVERY_PROJECT_IDS: [&str; 4] = [
    "6a0f1c2d3e4f5a6b7c8d0b01",
    "6a0f1c2d3e4f5a6b7c8d0b02",
    "6a0f1c2d3e4f5a6b7c8d0b03",
    "6a0f1c2d3e4f5a6b7c8d0b04",
];

/// The page size [`Scenario::discovery`] serves its discovery listings in.
pub const DISCOVERY_PAGE_SIZE: u32 = 2;

/// The project of [`Scenario::ops_manager`].
pub const OPS_MANAGER_PROJECT_ID: &str = "5c8100bcf2a30b12ff88258f";

/// Demo project ids (fixed, so a demo config can name them).
pub const DEMO_PROJECT_IDS: [&str; 3] = [
    "5f3c9e2a1b4d6e7f80912a01",
    "5f3c9e2a1b4d6e7f80912a02",
    "5f3c9e2a1b4d6e7f80912a03",
];

impl Scenario {
    /// An empty world with the default knobs: no projects, no credentials, 300 s nonces,
    /// 3600 s tokens, no rate limit.
    pub fn new() -> Scenario {
        Scenario::default()
    }

    /// Adds an accepted API key pair (builder style).
    pub fn with_api_key(
        mut self,
        public_key: impl Into<String>,
        private_key: impl Into<String>,
    ) -> Scenario {
        self.api_keys.push((public_key.into(), private_key.into()));
        self
    }

    /// Adds an accepted service account (builder style).
    pub fn with_service_account(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Scenario {
        self.service_accounts
            .push((client_id.into(), client_secret.into()));
        self
    }

    /// Adds a project (builder style).
    pub fn with_project(mut self, project: SimProject) -> Scenario {
        self.projects.push(project);
        self
    }

    /// Delays every answer by `latency` (builder style): see [`Scenario::latency`].
    pub fn with_latency(mut self, latency: Duration) -> Scenario {
        self.latency = latency;
        self
    }

    /// Adds an organization that exists even without projects (builder style).
    pub fn with_organization(mut self, org_id: impl Into<String>) -> Scenario {
        self.organizations.push(org_id.into());
        self
    }

    /// Every organization: those listed in `organizations`, then those the projects name, each
    /// once, in that order.
    pub fn organization_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        let named = self
            .organizations
            .iter()
            .chain(self.projects.iter().map(|p| &p.org_id));
        for id in named {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids
    }

    /// A world for discovery, anchored at `now` (also its `started_at`), deterministic.
    /// Discovery listings come in pages of [`DISCOVERY_PAGE_SIZE`]; every snapshot is
    /// COMPLETED. Credentials and rate limit as [`Scenario::demo`].
    ///
    /// | org | project (id) | cluster | what it is |
    /// |---|---|---|---|
    /// | 1st | `disc-prod` (`…0b01`) | `free0` | M0 (`TENANT`): backups off, no snapshots |
    /// | | | `paused0` | dedicated, paused 3 days ago: newest snapshot 3 days old |
    /// | | | `nobackup0` | dedicated, backups off, no snapshots |
    /// | | | `hourly0` | dedicated, policy hourly every 6 h (kept 2 days) + daily (7 days), 6-hourly history |
    /// | | | `daily0` | dedicated, the default policy: daily, kept 7 days |
    /// | | | `flex0` | flex, 8 daily snapshots |
    /// | | `disc-staging` (`…0b02`) | `weekly0` | dedicated, policy weekly (4 weeks) + monthly on the last day (12 months), weekly history |
    /// | | | `sharded0` | dedicated, sharded, default policy |
    /// | | `disc-empty` (`…0b03`) | | no clusters |
    /// | 2nd | `other-org` (`…0b04`) | `flex-b` | flex, 8 daily snapshots |
    /// | | | `Cluster0` | dedicated, default policy |
    pub fn discovery(now: Timestamp) -> Scenario {
        let clean = HistoryOptions::default;
        let daily = |seed: u64, days: u32| daily_history(mix(0xd15c, seed), now, days, clean());
        let [org_a, org_b] = DISCOVERY_ORG_IDS;
        let [prod, staging, empty, other] = DISCOVERY_PROJECT_IDS;
        let dedicated = |name: &str| SimCluster::new(name, SimKind::Dedicated);

        let weekly_history = periodic_history(mix(0xd15c, 7), now, 7 * 24, 4, clean());
        // The weekday the weekly history falls on, so that schedule and history agree.
        let weekday = weekly_history
            .first()
            .and_then(|s| s.scheduled)
            .map(|t| {
                t.to_zoned(jiff::tz::TimeZone::UTC)
                    .weekday()
                    .to_monday_one_offset()
            })
            .and_then(|d| u8::try_from(d).ok())
            .unwrap_or(1);

        let prod = SimProject::new(prod, "disc-prod")
            .in_org(org_a)
            .with_cluster(SimCluster::free("free0"))
            .with_cluster(dedicated("paused0").paused().with_snapshots(daily_history(
                mix(0xd15c, 2),
                now,
                10,
                HistoryOptions {
                    last_completed_days_ago: Some(3),
                    ..clean()
                },
            )))
            .with_cluster(dedicated("nobackup0").backups_off())
            .with_cluster(
                dedicated("hourly0")
                    .with_schedule(SimSchedule {
                        // The newest 6-hourly snapshot need not be the 02:00 one.
                        reference: Some((2, 0)),
                        ..SimSchedule::of(vec![
                            SimPolicyItem::hourly(6, 2),
                            SimPolicyItem::daily(7),
                        ])
                    })
                    .with_snapshots(periodic_history(mix(0xd15c, 4), now, 6, 12, clean())),
            )
            .with_cluster(dedicated("daily0").with_snapshots(daily(5, 7)))
            .with_cluster(SimCluster::new("flex0", SimKind::Flex).with_snapshots(daily(6, 8)));
        let staging = SimProject::new(staging, "disc-staging")
            .in_org(org_a)
            .with_cluster(
                dedicated("weekly0")
                    .with_schedule(SimSchedule::of(vec![
                        SimPolicyItem::weekly(weekday, 4),
                        SimPolicyItem::monthly(40, 12),
                    ]))
                    .with_snapshots(weekly_history),
            )
            .with_cluster(dedicated("sharded0").sharded().with_snapshots(daily(8, 7)));
        let empty = SimProject::new(empty, "disc-empty").in_org(org_a);
        let other = SimProject::new(other, "other-org")
            .in_org(org_b)
            .with_cluster(SimCluster::new("flex-b", SimKind::Flex).with_snapshots(daily(9, 8)))
            .with_cluster(dedicated("Cluster0").with_snapshots(daily(10, 7)));

        let mut scenario = Scenario::new()
            .with_api_key(DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
            .with_service_account(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
            .with_organization(org_a)
            .with_organization(org_b)
            .with_project(prod)
            .with_project(staging)
            .with_project(empty)
            .with_project(other);
        scenario.rate_limit = Some(RateLimit::atlas_default());
        scenario.max_items_per_page = DISCOVERY_PAGE_SIZE;
        scenario.started_at = Some(now);
        scenario
    }

    /// A Cloud Manager / Ops Manager project ([`OPS_MANAGER_PROJECT_ID`], `om-prod`), served
    /// under `/api/public/v1.0` (and, being legacy clusters, under Atlas' legacy paths too):
    ///
    /// | cluster | type | backup | schedule |
    /// |---|---|---|---|
    /// | `om-rs0` | replica set | `STARTED`, a snapshot every 6 h | 6 h, kept 2 days; daily 7 days; weekly 4 weeks; monthly 13 months; 2-day point-in-time window |
    /// | `om-sharded` | sharded (two shard entries in the listing) | `STARTED`, daily | the default: 24 h, daily 7 days |
    /// | `om-stopped` | replica set | `STOPPED` | |
    /// | `om-inactive` | replica set | `INACTIVE` | |
    /// | `om-provisioning` | replica set | `PROVISIONING` | |
    /// | `om-terminating` | replica set | `TERMINATING` | |
    ///
    /// Credentials: [`DEMO_PUBLIC_KEY`]/[`DEMO_PRIVATE_KEY`] (digest). No rate limit.
    pub fn ops_manager(now: Timestamp) -> Scenario {
        let clean = HistoryOptions::default;
        let legacy = |name: &str| SimCluster::new(name, SimKind::Legacy);
        let project = SimProject::new(OPS_MANAGER_PROJECT_ID, "om-prod")
            .with_cluster(
                legacy("om-rs0")
                    .with_schedule(SimSchedule {
                        reference: Some((2, 0)),
                        restore_window_days: 2,
                        ..SimSchedule::of(vec![
                            SimPolicyItem::hourly(6, 2),
                            SimPolicyItem::daily(7),
                            SimPolicyItem::weekly(7, 4),
                            SimPolicyItem::monthly(1, 13),
                        ])
                    })
                    .with_snapshots(periodic_history(mix(0x0e5, 1), now, 6, 8, clean())),
            )
            .with_cluster(legacy("om-sharded").sharded().with_snapshots(daily_history(
                mix(0x0e5, 2),
                now,
                5,
                clean(),
            )))
            .with_cluster(legacy("om-stopped").with_backup_status(SimBackupStatus::Stopped))
            .with_cluster(legacy("om-inactive").with_backup_status(SimBackupStatus::Inactive))
            .with_cluster(
                legacy("om-provisioning").with_backup_status(SimBackupStatus::Provisioning),
            )
            .with_cluster(
                legacy("om-terminating").with_backup_status(SimBackupStatus::Terminating),
            );
        let mut scenario = Scenario::new()
            .with_api_key(DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
            .with_project(project);
        scenario.started_at = Some(now);
        scenario
    }

    /// The demo's world, anchored at `now`, deterministic for a seed. Names and ids are fixed;
    /// the seed only varies the snapshot histories' timings, ids, sizes and older failures.
    ///
    /// | project (id) | cluster | kind | state |
    /// |---|---|---|---|
    /// | `production` (`…2a01`) | `orders` | flex | healthy, 8 daily snapshots; its newest restore job FAILED |
    /// | | `catalog` | tenant | healthy, 8 daily snapshots |
    /// | | `Cluster0` | dedicated | healthy, 30 daily snapshots with sizes (for `kind: auto`); a restore 2 days ago; weekly auto export behind: the last Successful 40 days ago, two Failed since |
    /// | `staging` (`…2a02`) | `staging-flex` | flex | newest snapshot FAILED |
    /// | | `staging-m2` | tenant | stale: newest COMPLETED 3 days old |
    /// | | `nightly-import` | flex | newest snapshot RUNNING |
    /// | `analytics` (`…2a03`) | `reporting` | flex | erroring: persistent `ServerError` |
    /// | | `warehouse` | tenant | healthy, with an occasional older failure |
    /// | | `archive` | dedicated | backups switched off: no snapshots, no schedule |
    ///
    /// `production` and `staging` are in [`DEFAULT_ORG_ID`] (the demo lists their clusters by
    /// hand); `analytics` is alone in [`DEMO_DISCOVERED_ORG_ID`], the organization the demo
    /// discovers. The simulator's clock starts at `now`.
    ///
    /// Credentials: [`DEMO_PUBLIC_KEY`]/[`DEMO_PRIVATE_KEY`] (digest) and
    /// [`DEMO_CLIENT_ID`]/[`DEMO_CLIENT_SECRET`] (OAuth). No rate limit.
    pub fn demo(seed: u64, now: Timestamp) -> Scenario {
        let history = |salt: u64, days: u32, opts: HistoryOptions| {
            daily_history(mix(seed, salt), now, days, opts)
        };
        let healthy = HistoryOptions {
            failure_rate: 0.05,
            ..HistoryOptions::default()
        };
        let [production, staging, analytics] = DEMO_PROJECT_IDS;
        let ago = |hours: i64| {
            now.checked_sub(jiff::SignedDuration::from_hours(hours))
                .unwrap_or(now)
        };
        let job_id = |name: &str| super::render::derived_id(&format!("demo-job:{seed}:{name}"));
        let minutes = |t: Timestamp, m: i64| {
            t.checked_add(jiff::SignedDuration::from_mins(m))
                .unwrap_or(t)
        };
        // The last restore drill of `orders` failed; the one a week before went through.
        let orders_restores = vec![
            SimRestoreJob::failed(job_id("orders-restore-2"), ago(20)),
            SimRestoreJob::completed(job_id("orders-restore-1"), ago(188), minutes(ago(188), 2)),
        ];
        // `Cluster0` restores fine, but its last successful export is 40 days old: the ones
        // since failed.
        let cluster0_restores = vec![SimRestoreJob::completed(
            job_id("cluster0-restore-1"),
            ago(50),
            minutes(ago(50), 12),
        )];
        let cluster0_exports = vec![
            SimExportJob::failed(job_id("cluster0-export-3"), ago(26), minutes(ago(26), 9)),
            SimExportJob::failed(
                job_id("cluster0-export-2"),
                ago(24 * 20),
                minutes(ago(24 * 20), 7),
            ),
            SimExportJob::successful(
                job_id("cluster0-export-1"),
                ago(24 * 40),
                minutes(ago(24 * 40), 15),
            ),
        ];

        let production = SimProject::new(production, "production")
            .with_cluster(
                SimCluster::new("orders", SimKind::Flex)
                    .with_snapshots(history(1, 8, healthy.clone()))
                    .with_restore_jobs(orders_restores),
            )
            .with_cluster(
                SimCluster::new("catalog", SimKind::Tenant).with_snapshots(history(
                    2,
                    8,
                    healthy.clone(),
                )),
            )
            .with_cluster(
                // Its policy copies to two regions; its snapshots reached only one.
                SimCluster::new("Cluster0", SimKind::Dedicated)
                    .with_copy_regions(&["US_WEST_2", "EU_WEST_1"], &["US_WEST_2"])
                    // Weekly auto export, whose last success is 40 days old: falling behind.
                    .with_auto_export("weekly")
                    .with_snapshots(history(
                        3,
                        30,
                        HistoryOptions {
                            size_bytes: Some(2_684_354_560),
                            schedule_hour: 6,
                            ..healthy.clone()
                        },
                    ))
                    .with_restore_jobs(cluster0_restores)
                    .with_export_jobs(cluster0_exports),
            )
            // Point-in-time restore falling behind, which only Atlas' own alert shows, next to
            // a host alert the exporter must leave out.
            .with_alert(SimAlert::open(
                "CPS_OPLOG_BEHIND",
                Some("Cluster0"),
                now - jiff::SignedDuration::from_mins(40),
            ))
            .with_alert(SimAlert::open(
                "HOST_DOWN",
                Some("Cluster0"),
                now - jiff::SignedDuration::from_hours(3),
            ));
        let staging = SimProject::new(staging, "staging")
            .with_cluster(
                SimCluster::new("staging-flex", SimKind::Flex).with_snapshots(history(
                    4,
                    8,
                    HistoryOptions {
                        latest_failed: true,
                        ..healthy.clone()
                    },
                )),
            )
            .with_cluster(
                SimCluster::new("staging-m2", SimKind::Tenant).with_snapshots(history(
                    5,
                    8,
                    HistoryOptions {
                        last_completed_days_ago: Some(3),
                        ..HistoryOptions::default()
                    },
                )),
            )
            .with_cluster(
                // Scheduled at the current hour, so its snapshot is minutes into its run and
                // the one before finished about a day ago: busy, not stale.
                SimCluster::new("nightly-import", SimKind::Flex).with_snapshots(history(
                    6,
                    8,
                    HistoryOptions {
                        in_flight: true,
                        schedule_hour: u8::try_from(now.to_zoned(jiff::tz::TimeZone::UTC).hour())
                            .unwrap_or(2),
                        ..healthy.clone()
                    },
                )),
            );
        let analytics = SimProject::new(analytics, "analytics")
            .in_org(DEMO_DISCOVERED_ORG_ID)
            .with_cluster(
                SimCluster::new("reporting", SimKind::Flex)
                    .with_snapshots(history(7, 8, healthy.clone()))
                    .with_fault(Fault::ServerError),
            )
            .with_cluster(
                SimCluster::new("warehouse", SimKind::Tenant).with_snapshots(history(
                    8,
                    8,
                    HistoryOptions {
                        failure_rate: 0.25,
                        ..HistoryOptions::default()
                    },
                )),
            )
            .with_cluster(SimCluster::new("archive", SimKind::Dedicated).backups_off());

        // Atlas limits every project, and says so in headers on every answer: so does the demo.
        let mut scenario = Scenario::new()
            .with_api_key(DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY)
            .with_service_account(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
            .with_project(production)
            .with_project(staging)
            .with_project(analytics);
        scenario.rate_limit = Some(RateLimit::atlas_default());
        scenario.started_at = Some(now);
        scenario
    }
}

/// Derives a per-cluster seed (splitmix64 finaliser), so clusters differ for one demo seed.
fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_795_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn settled_history_never_lies_in_the_future_and_is_newest_first() {
        for hour_offset in 0..24 {
            let now = Timestamp::from_second(now().as_second() + hour_offset * 3_600).unwrap();
            let h = daily_history(9, now, 10, HistoryOptions::default());
            assert_eq!(h.len(), 10);
            for s in &h {
                assert!(s.finished.unwrap() <= now, "{s:?} after {now}");
            }
            for pair in h.windows(2) {
                assert!(pair[0].scheduled > pair[1].scheduled);
            }
        }
    }

    #[test]
    fn the_seed_changes_ids_and_timings() {
        let a = daily_history(1, now(), 5, HistoryOptions::default());
        let b = daily_history(2, now(), 5, HistoryOptions::default());
        assert_ne!(a[0].id, b[0].id);
        assert_ne!(a, b);
    }

    #[test]
    fn mix_spreads_salts() {
        assert_ne!(mix(1, 1), mix(1, 2));
        assert_ne!(mix(1, 1), mix(2, 1));
    }
}
