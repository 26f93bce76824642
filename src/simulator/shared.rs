//! The state one simulator shares between its handle ([`super::Simulator`]) and every
//! connection: the clock, the world, the request counters ([`Stats`]), the authentication tables
//! and the rate limiter, each behind its own mutex.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::clock::SimClock;
use super::digest::NonceTable;
use super::oauth::TokenTable;
use super::ratelimit::RateLimiter;
use super::scenario::{RateLimit, Scenario};
use super::sunset::Lifecycle;
use super::world::World;

/// Request counters, for tests to see what a client did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Every HTTP request received.
    pub requests: u64,
    /// 401 responses sent, digest challenges included.
    pub unauthorized: u64,
    /// Responses by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests by route: `flex_list`, `flex_get`, `tenant_list_v2`, `tenant_get_v2`,
    /// `tenant_list_v1`, `tenant_get_v1`, `dedicated_list`, `dedicated_get`, `legacy_list`,
    /// `legacy_get` (v2), `legacy_list_v1`, `legacy_get_v1`, `flex_clusters_list`,
    /// `flex_cluster_get`, `groups_list`, `org_groups_list`, `clusters_list`, `cluster_get`,
    /// `backup_schedule`, `oauth_token`, `oauth_revoke`, `unknown`.
    pub by_route: BTreeMap<String, u64>,
    /// Listing pages answered with 200 (a `MalformedJson` fault's broken page included).
    pub pages_served: u64,
    /// Faults a [`super::Fault::Random`] drew, by name: `server_error`, `malformed_json`,
    /// `rate_limited`, `slow`.
    pub faults_injected: BTreeMap<String, u64>,
}

/// State shared by every connection of one simulator.
pub(crate) struct Shared {
    /// The time every lifetime, refill and delay is measured against.
    pub(crate) clock: Arc<dyn SimClock>,
    pub(crate) world: Mutex<World>,
    pub(crate) stats: Mutex<Stats>,
    pub(crate) nonces: Mutex<NonceTable>,
    pub(crate) tokens: Mutex<TokenTable>,
    pub(crate) limiter: Mutex<RateLimiter>,
    /// Routes and media types marked for sunset or retired.
    pub(crate) lifecycle: Mutex<Lifecycle>,
    /// The limits 429 bodies quote (Atlas' defaults when the scenario sets none).
    pub(crate) limits: RateLimit,
    /// Public key → private key, for digest authentication.
    pub(crate) api_keys: HashMap<String, String>,
    /// Client id → client secret, for the OAuth token endpoint.
    pub(crate) service_accounts: HashMap<String, String>,
    /// Used for links when a request has no Host header.
    pub(crate) fallback_origin: String,
    /// The largest page a discovery listing serves.
    pub(crate) max_items_per_page: u32,
    /// How long every request waits before it is answered ([`Scenario::latency`]).
    pub(crate) latency: Duration,
    /// The clock's instant at start, and the wall-clock time it stands for.
    started: (Instant, Timestamp),
}

impl Shared {
    pub(crate) fn new(scenario: Scenario, local: SocketAddr, clock: Arc<dyn SimClock>) -> Shared {
        let limiter = RateLimiter::new(scenario.rate_limit);
        let started = (
            clock.now(),
            scenario.started_at.unwrap_or_else(Timestamp::now),
        );
        Shared {
            clock,
            world: Mutex::new(World::new(scenario.projects, scenario.organizations)),
            stats: Mutex::new(Stats::default()),
            nonces: Mutex::new(NonceTable::new(scenario.nonce_ttl, scenario.nonce_reuse)),
            tokens: Mutex::new(TokenTable::new(scenario.token_ttl)),
            limits: limiter.limits(),
            limiter: Mutex::new(limiter),
            lifecycle: Mutex::new(Lifecycle::default()),
            api_keys: scenario.api_keys.into_iter().collect(),
            service_accounts: scenario.service_accounts.into_iter().collect(),
            fallback_origin: format!("http://{local}"),
            max_items_per_page: scenario.max_items_per_page.max(1),
            latency: scenario.latency,
            started,
        }
    }

    /// The simulated wall-clock time: the scenario's start plus what the clock moved since.
    pub(crate) fn wall_now(&self) -> Timestamp {
        let (instant, at) = self.started;
        let elapsed = self.clock.now().saturating_duration_since(instant);
        jiff::SignedDuration::try_from(elapsed)
            .ok()
            .and_then(|d| at.checked_add(d).ok())
            .unwrap_or(at)
    }
}
