//! The YAML config file: loading, validation with every problem at once, and credentials.
//!
//! Placeholder: the loader is being written; the types below are the interface.

use std::path::Path;
use std::time::Duration;

use crate::secret::Secret;
use crate::target::{ApiVersion, Kind, Target};

/// Default Atlas base URL.
pub const DEFAULT_BASE_URL: &str = "https://cloud.mongodb.com";
/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of requests in flight at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
/// Default poll interval.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// A validated config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// How to reach and authenticate to Atlas.
    pub atlas: AtlasConfig,
    /// Time between the starts of two poll cycles.
    pub poll_interval: Duration,
    /// The projects and their clusters.
    pub projects: Vec<ProjectConfig>,
}

/// The `atlas` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AtlasConfig {
    /// Scheme, host and optional port (and path prefix) of the API server, without a trailing slash.
    pub base_url: reqwest::Url,
    /// Path family for the tenant and legacy kinds.
    pub api_version: ApiVersion,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// The resolved credentials.
    pub credentials: Credentials,
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
    /// The cluster name.
    pub name: String,
    /// The configured kind.
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
    pub fn load_with_env(
        path: &Path,
        _env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Err(ConfigError {
            file: path.display().to_string(),
            problems: vec![Problem {
                path: String::new(),
                message: "config loading is not implemented yet".into(),
            }],
        })
    }

    /// Every configured cluster as a poll target, in config order.
    pub fn targets(&self) -> Vec<Target> {
        self.projects
            .iter()
            .flat_map(|p| {
                p.clusters.iter().map(move |c| Target {
                    project_id: p.id.as_str().into(),
                    project_name: p.name.as_deref().map(Into::into),
                    cluster_name: c.name.as_str().into(),
                    kind: c.kind,
                })
            })
            .collect()
    }
}

impl AtlasConfig {
    /// Defaults plus credentials from the environment only (placeholder).
    pub fn from_env(_env: &dyn Fn(&str) -> Option<String>) -> Result<AtlasConfig, ConfigError> {
        Err(ConfigError {
            file: "environment".into(),
            problems: vec![],
        })
    }
}
