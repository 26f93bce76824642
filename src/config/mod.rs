//! The YAML config file: its types, and loading it with every problem reported at once.
//!
//! The file is parsed into a plain YAML tree first and then walked key by key, so that one run
//! reports every problem (unknown keys, wrong types, bad values, duplicate targets, missing
//! credentials), each with its key path, in document order. Nothing is deserialized straight
//! into the config types: a derive would stop at the first problem.
//!
//! This module owns the types and the entry points; the work is split by concern:
//! `walker` (the YAML tree and the generic walk over it), `schema` (what each key must hold),
//! `discovery` (the `discovery` section and its regular expressions), `shard` (the `shard`
//! section), `watch` (the opt-in `restores` and `exports` sources) and `credentials` (from
//! the file or the environment; no message ever quotes one).

use std::path::Path;
use std::time::Duration;

use crate::secret::Secret;
use crate::shard::{Shard, ShardError, ShardFlags};
use crate::small_file::ReadError;
use crate::target::{ApiVersion, Kind, Target};

pub use crate::target::Flavor;

mod credentials;
mod discovery;
mod schema;
mod shard;
mod walker;
mod watch;

use credentials::Sources;
use walker::Checker;

pub use watch::{Watch, WatchConfig};

pub use crate::target::MAX_CLUSTER_NAME_LEN;

/// Default base URL of Atlas and of Cloud Manager (Ops Manager has none).
pub const DEFAULT_BASE_URL: &str = "https://cloud.mongodb.com";
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of requests in flight at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
/// Default poll interval.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// The shortest poll interval accepted.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The largest `max_concurrency` accepted. Atlas rate-limits the snapshot endpoints per
/// project; more requests in flight than this only buys 429 answers.
pub const MAX_CONCURRENCY_LIMIT: usize = 64;
/// The longest default poll deadline: without `atlas.poll_deadline`, a target's whole poll gets
/// this or half the poll interval, whichever is shorter ([`Config::poll_deadline`]).
pub const DEFAULT_POLL_DEADLINE: Duration = Duration::from_secs(5 * 60);
/// Default client-side token bucket capacity per project: Atlas' published capacity of the
/// backup endpoint sets (Cloud Backups, Flex Snapshots, Legacy Backup: 1200 per project).
pub const DEFAULT_RATE_LIMIT_CAPACITY: u32 = 1200;
/// Default refill of the client-side token bucket, tokens per minute: Atlas' published refill
/// of the same endpoint sets (500 per 60 s).
pub const DEFAULT_RATE_LIMIT_REFILL_PER_MINUTE: u32 = 500;
/// Default for the most snapshots one listing may hold. Atlas keeps at most a few thousand
/// snapshots of a cluster; a longer listing is a broken or hostile answer.
pub const DEFAULT_MAX_LISTING_ITEMS: usize = 100_000;

/// Environment variable for the API public key (the Atlas CLI's name).
pub const ENV_PUBLIC_API_KEY: &str = "MONGODB_ATLAS_PUBLIC_API_KEY";
/// Environment variable for the API private key.
pub const ENV_PRIVATE_API_KEY: &str = "MONGODB_ATLAS_PRIVATE_API_KEY";
/// Environment variable for the service account client id.
pub const ENV_CLIENT_ID: &str = "MONGODB_ATLAS_CLIENT_ID";
/// Environment variable for the service account client secret.
pub const ENV_CLIENT_SECRET: &str = "MONGODB_ATLAS_CLIENT_SECRET";

/// The file name [`AtlasConfig::from_env`] reports its problems under.
pub const ENVIRONMENT: &str = "environment";

/// A validated config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// How to reach and authenticate to Atlas.
    pub atlas: AtlasConfig,
    /// Time between the starts of two poll cycles.
    pub poll_interval: Duration,
    /// The projects and their clusters.
    pub projects: Vec<ProjectConfig>,
    /// The `discovery` section: finding projects and clusters, and how often the facts about
    /// clusters (type, paused, backups on, schedule) are read again.
    pub discovery: DiscoveryConfig,
    /// The `shard` section: which replica of how many this is; the clusters this one does not
    /// own are neither polled nor exported. The `--shard.*` flags override it.
    pub shard: Shard,
    /// The opt-in sources: the top-level `restores` and `exports` and the listed clusters' own
    /// `restores`; ask [`Config::watches`] what applies to one cluster.
    pub watch: WatchConfig,
}

/// Default of `discovery.refresh_interval`.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// The shortest `discovery.refresh_interval` accepted. A refresh reads every project listing,
/// every cluster listing and a schedule per dedicated cluster; more often than once a minute
/// spends the per-project request budget the snapshot listings need.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The `discovery` section.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryConfig {
    /// Find projects and clusters instead of only polling the listed ones.
    pub enabled: bool,
    /// The organizations whose projects are discovered (24 hex digits each); empty: every
    /// project the credential can read.
    pub organizations: Vec<String>,
    /// Which projects are kept, by name or id.
    pub projects: NameFilter,
    /// Which clusters are kept, by name.
    pub clusters: NameFilter,
    /// How often discovery, schedules and cluster facts are read: never more often than this,
    /// whatever the poll interval. Applies with discovery disabled too (cluster facts and
    /// schedules of the listed clusters).
    pub refresh_interval: Duration,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            enabled: false,
            organizations: Vec::new(),
            projects: NameFilter::default(),
            clusters: NameFilter::default(),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
        }
    }
}

/// Include and exclude regular expressions (`include`, `exclude`). A name is kept when some
/// candidate matches an include pattern (or there are none) and no candidate matches an
/// exclude pattern. A pattern matches anywhere in a candidate unless it is anchored (`^`,
/// `$`), and is case-sensitive unless it says `(?i)`.
#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    /// Patterns one of which must match; empty keeps everything.
    pub include: Vec<regex::Regex>,
    /// Patterns none of which may match.
    pub exclude: Vec<regex::Regex>,
}

impl PartialEq for NameFilter {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &[regex::Regex], b: &[regex::Regex]) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.as_str() == y.as_str())
        }
        same(&self.include, &other.include) && same(&self.exclude, &other.exclude)
    }
}

impl NameFilter {
    /// Whether the thing named by `candidates` (a project's name and id; a cluster's name) is
    /// kept.
    pub fn admits(&self, candidates: &[&str]) -> bool {
        let any = |patterns: &[regex::Regex]| {
            patterns
                .iter()
                .any(|re| candidates.iter().any(|c| re.is_match(c)))
        };
        (self.include.is_empty() || any(&self.include)) && !any(&self.exclude)
    }
}

/// The `atlas` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AtlasConfig {
    /// Which product the API server is: Atlas, Cloud Manager or Ops Manager.
    pub flavor: Flavor,
    /// Scheme, host and optional port (and path prefix) of the API server, without a trailing slash.
    pub base_url: reqwest::Url,
    /// Path family for the tenant and legacy kinds. Always [`ApiVersion::V1_0`] under Cloud
    /// Manager and Ops Manager, whose public API is `/api/public/v1.0`.
    pub api_version: ApiVersion,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// The most snapshots one listing may hold; a longer one fails its target (`decode`).
    pub max_listing_items: usize,
    /// How long one target's whole poll (all pages, retries) may take; `None` when not set, so
    /// that [`Config::poll_deadline`] derives it from the poll interval.
    pub poll_deadline: Option<Duration>,
    /// The client-side request budget per project.
    pub rate_limit: RateLimitConfig,
    /// The resolved credentials.
    pub credentials: Credentials,
}

/// `atlas.rate_limit`: a token bucket per project, shared by every request to that project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Tokens the bucket holds when full: requests that may go out at once.
    pub capacity: u32,
    /// Tokens added per minute, up to `capacity`.
    pub refill_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            capacity: DEFAULT_RATE_LIMIT_CAPACITY,
            refill_per_minute: DEFAULT_RATE_LIMIT_REFILL_PER_MINUTE,
        }
    }
}

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A programmatic API key pair, sent with HTTP digest authentication.
    ApiKey {
        /// The public key (the digest user name).
        public_key: String,
        /// The private key (the digest password).
        private_key: Secret,
    },
    /// A service account, exchanged for an OAuth2 bearer token (client credentials flow).
    ServiceAccount {
        /// The client id (`mdb_sa_id_...`).
        client_id: String,
        /// The client secret (`mdb_sa_sk_...`).
        client_secret: Secret,
    },
}

/// One entry of `projects`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectConfig {
    /// 24 hex digits.
    pub id: String,
    /// Optional display name.
    pub name: Option<String>,
    /// The clusters to poll.
    pub clusters: Vec<ClusterConfig>,
}

/// One entry of `projects[].clusters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The cluster name; the id when only `id` is configured (Cloud Manager and Ops Manager),
    /// so that the `cluster_name` label is the id.
    pub name: String,
    /// The cluster's 24-hex-digit id (Cloud Manager and Ops Manager only).
    pub id: Option<String>,
    /// The configured kind. Under Cloud Manager and Ops Manager, `auto` is resolved to
    /// [`Kind::Legacy`] when the config is read: the only snapshot API there.
    pub kind: Kind,
}

/// Every problem found in one config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file the problems are in, as the user named it.
    pub file: String,
    /// The problems, in document order.
    pub problems: Vec<Problem>,
}

/// One problem: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path, like `projects[1].clusters[0].name`; empty for the whole file.
    pub path: String,
    /// What is wrong, never quoting a credential.
    pub message: String,
}

impl ConfigError {
    /// One line per problem: `file: path: message`.
    pub fn render(&self) -> String {
        self.problems
            .iter()
            .map(|p| {
                if p.path.is_empty() {
                    format!("{}: {}", self.file, p.message)
                } else {
                    format!("{}: {}: {}", self.file, p.path, p.message)
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Config {
    /// Loads and validates a config file, reading credentials from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(path, &|name| std::env::var(name).ok())
    }

    /// Loads and validates a config file with an explicit environment lookup.
    ///
    /// Every problem is reported at once. A relative `*_file` path is read relative to the
    /// directory of the config file, as Prometheus does.
    pub fn load_with_env(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let message = match crate::small_file::read_to_string(path) {
            Ok(text) => return Self::parse_str(&text, &file, env),
            Err(ReadError::Io(err)) => format!("cannot read the config file: {err}"),
            Err(ReadError::TooLarge(too_large)) => too_large.to_string(),
        };
        Err(ConfigError {
            file,
            problems: vec![Problem {
                path: String::new(),
                message,
            }],
        })
    }

    /// Validates config text: [`Config::load_with_env`] without reading the file.
    ///
    /// `file` is the name problems are reported under; a relative `*_file` path is read
    /// relative to its directory (the working directory when it has none). `*_file` paths are
    /// still read from disk.
    pub fn parse_str(
        text: &str,
        file: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let base_dir = Path::new(file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let sources = Sources::file(env, base_dir);
        let mut checker = Checker::default();
        let config = match walker::parse(text) {
            Ok(root) => checker.config(&root, &sources),
            Err(problem) => {
                checker.problem(&problem.path, problem.message);
                None
            }
        };
        checker.finish(file, config)
    }

    /// The config with the `--shard.*` flags applied: each flag given wins over the `shard` key
    /// of the same name (as a Prometheus flag names what the file cannot change). A problem is
    /// reported under `file` with the key path of the key the flags make wrong.
    pub fn with_shard_flags(
        mut self,
        flags: ShardFlags,
        file: &str,
    ) -> Result<Config, ConfigError> {
        if flags.is_empty() {
            return Ok(self);
        }
        match flags.apply(self.shard) {
            Ok(shard) => {
                self.shard = shard;
                Ok(self)
            }
            Err(err) => {
                let path = match err {
                    ShardError::Count(_) => "shard.count",
                    ShardError::Index { .. } => "shard.index",
                };
                Err(ConfigError {
                    file: file.to_owned(),
                    problems: vec![Problem {
                        path: path.to_owned(),
                        message: format!(
                            "{err} (with --shard.index or --shard.count over the config file)"
                        ),
                    }],
                })
            }
        }
    }

    /// How long one target's whole poll may take: `atlas.poll_deadline`, or by default
    /// [`DEFAULT_POLL_DEADLINE`] or half the poll interval, whichever is shorter, so that a slow
    /// target always leaves the cycle time to end before the next one is due.
    pub fn poll_deadline(&self) -> Duration {
        self.atlas
            .poll_deadline
            .unwrap_or_else(|| default_poll_deadline(self.poll_interval))
    }

    /// Every configured cluster this shard owns as a poll target, in config order.
    pub fn targets(&self) -> Vec<Target> {
        self.projects
            .iter()
            .flat_map(|p| {
                p.clusters.iter().map(move |c| Target {
                    project_id: p.id.as_str().into(),
                    project_name: p.name.as_deref().map(Into::into),
                    cluster_name: c.name.as_str().into(),
                    cluster_id: c.id.as_deref().map(Into::into),
                    kind: c.kind,
                })
            })
            .filter(|t| self.shard.owns_target(t))
            .collect()
    }
}

/// The poll deadline when `atlas.poll_deadline` is not set.
pub fn default_poll_deadline(poll_interval: Duration) -> Duration {
    DEFAULT_POLL_DEADLINE.min(poll_interval / 2)
}

impl AtlasConfig {
    /// The defaults, with credentials from the environment only: for the `snapshots` commands
    /// when there is no config file. Problems are reported under the file name
    /// [`ENVIRONMENT`].
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<AtlasConfig, ConfigError> {
        let mut checker = Checker::default();
        let atlas = checker.atlas("", None, &Sources::environment(env));
        checker.finish(ENVIRONMENT, atlas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> NameFilter {
        let compile = |patterns: &[&str]| {
            patterns
                .iter()
                .map(|p| regex::Regex::new(p).unwrap())
                .collect()
        };
        NameFilter {
            include: compile(include),
            exclude: compile(exclude),
        }
    }

    #[test]
    fn a_filter_without_include_patterns_admits_everything_not_excluded() {
        let all = filter(&[], &[]);
        assert!(all.admits(&["anything"]));
        assert!(all.admits(&[]));
        let no_scratch = filter(&[], &["-scratch$"]);
        assert!(no_scratch.admits(&["orders"]));
        assert!(!no_scratch.admits(&["orders-scratch"]));
    }

    #[test]
    fn include_patterns_admit_only_what_they_match_anywhere_unless_anchored() {
        let prod = filter(&["^prod-", "live"], &[]);
        assert!(prod.admits(&["prod-eu"]));
        assert!(prod.admits(&["eu-live-1"]), "unanchored: matches anywhere");
        assert!(!prod.admits(&["eu-prod-1"]), "anchored at the start");
        assert!(!prod.admits(&[]), "nothing to match");
    }

    #[test]
    fn an_exclude_match_wins_over_an_include_match() {
        let f = filter(&["^prod-"], &["-test$"]);
        assert!(f.admits(&["prod-orders"]));
        assert!(!f.admits(&["prod-orders-test"]));
    }

    #[test]
    fn a_project_is_admitted_by_its_name_or_its_id_and_excluded_by_either() {
        let by_id = filter(&["^5b69d0349b15c62cdfc38b78$"], &[]);
        assert!(by_id.admits(&["production", "5b69d0349b15c62cdfc38b78"]));
        assert!(!by_id.admits(&["production", "6c70e1450c26d73deed49c89"]));
        let by_name = filter(&["^production$"], &[]);
        assert!(by_name.admits(&["production", "6c70e1450c26d73deed49c89"]));
        let exclude_id = filter(&["^prod"], &["^6c70e1450c26d73deed49c89$"]);
        assert!(!exclude_id.admits(&["production", "6c70e1450c26d73deed49c89"]));
        assert!(exclude_id.admits(&["production", "5b69d0349b15c62cdfc38b78"]));
    }

    #[test]
    fn filters_compare_by_their_patterns() {
        assert_eq!(filter(&["a"], &["b"]), filter(&["a"], &["b"]));
        assert_ne!(filter(&["a"], &["b"]), filter(&["a"], &[]));
        assert_ne!(filter(&["a"], &[]), filter(&[], &["a"]));
    }
}
