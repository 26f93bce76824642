//! The YAML config file: loading, validation with every problem at once, and credentials.
//!
//! The file is parsed into a plain YAML tree first and then walked key by key, so that one run
//! reports every problem (unknown keys, wrong types, bad values, duplicate targets, missing
//! credentials), each with its key path, in document order. Nothing is deserialized straight
//! into the config types: a derive would stop at the first problem.
//!
//! Credentials come from the file (inline or from a `*_file`) or from the environment, the file
//! winning value by value. No message ever quotes a credential.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess};

use crate::secret::Secret;
use crate::target::{
    ApiVersion, AtlasIdProblem, ClusterNameProblem, Kind, Target, check_atlas_id,
    check_cluster_name,
};

pub use crate::target::MAX_CLUSTER_NAME_LEN;

/// Default Atlas base URL.
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
    ///
    /// Every problem is reported at once. A relative `*_file` path is read relative to the
    /// directory of the config file, as Prometheus does.
    pub fn load_with_env(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse_str(&text, &file, env),
            Err(err) => Err(ConfigError {
                file,
                problems: vec![Problem {
                    path: String::new(),
                    message: format!("cannot read the config file: {err}"),
                }],
            }),
        }
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
        let mut checker = Checker::new(env, base_dir, true);
        let config = match serde_yaml::from_str::<Node>(text) {
            Ok(root) => checker.config(&root),
            Err(err) => {
                let (path, message) = yaml_error(&err, text);
                checker.problem(&path, message);
                None
            }
        };
        checker.finish(file, config)
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
    /// The defaults, with credentials from the environment only: for the `snapshots` commands
    /// when there is no config file. Problems are reported under the file name
    /// [`ENVIRONMENT`].
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<AtlasConfig, ConfigError> {
        let mut checker = Checker::new(env, PathBuf::new(), false);
        let atlas = checker.atlas("", None);
        checker.finish(ENVIRONMENT, atlas)
    }
}

/// The keys each mapping accepts, in the order the documentation lists them.
const TOP_KEYS: &[&str] = &["atlas", "poll_interval", "projects"];
const ATLAS_KEYS: &[&str] = &[
    "base_url",
    "api_version",
    "timeout",
    "max_concurrency",
    "public_key",
    "private_key",
    "private_key_file",
    "client_id",
    "client_secret",
    "client_secret_file",
];
const PROJECT_KEYS: &[&str] = &["id", "name", "clusters"];
const CLUSTER_KEYS: &[&str] = &["name", "kind"];

const DURATION_EXAMPLES: &str = "like 500ms, 30s, 15m, 1h or 1h30m";

/// A YAML document as written: unlike `serde_yaml::Value`, a mapping keeps duplicate keys, so
/// that they become ordinary problems with a key path instead of one parse error.
#[derive(Debug)]
enum Node {
    Null,
    Bool,
    Number(serde_yaml::Number),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Tagged,
}

impl Node {
    /// What the value is, for "found ..." messages. Never the value itself: it may be a secret.
    fn kind_name(&self) -> &'static str {
        match self {
            Node::Null => "nothing",
            Node::Bool => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
            Node::Tagged => "a tagged value (YAML tags like !foo are not supported)",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> de::Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Bool)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Number((v as f64).into()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Number((v as f64).into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        // serde_yaml hands a `!tag value` over as an enum; read it whole, then reject it.
        let (_tag, variant) = data.variant::<String>()?;
        variant.newtype_variant::<Node>()?;
        Ok(Node::Tagged)
    }
}

/// A YAML parse error as one problem (path and message) with its line and column, never
/// quoting the text.
fn yaml_error(err: &serde_yaml::Error, source: &str) -> (String, String) {
    let text = err.to_string();
    let location = err.location();
    let at = location
        .as_ref()
        .map(|l| format!(" at line {} column {}", l.line(), l.column()))
        .unwrap_or_default();
    let tab = location.is_some_and(|l| {
        source
            .get(l.index()..)
            .is_some_and(|rest| rest.starts_with('\t'))
    });
    // A core tag such as `!!int` on a value that is not one. serde's message quotes the value,
    // which may be a credential, so keep only the key path in front of it.
    let mismatch = ["invalid value: ", "invalid type: "]
        .iter()
        .find_map(|marker| text.find(marker));
    let message = if let Some(start) = mismatch {
        let path = text[..start].trim_end_matches(": ").to_owned();
        return (
            path,
            format!("invalid YAML: the value does not match its tag (like !!int){at}"),
        );
    } else if text.starts_with("deserializing from YAML containing more than one document") {
        "the file holds more than one YAML document (a second ---); expected one".to_owned()
    } else if tab {
        format!("invalid YAML: {text} (YAML does not allow tabs for indentation; use spaces)")
    } else {
        format!("invalid YAML: {text}")
    };
    (String::new(), message)
}

/// Where a credential came from, for messages that must say so without quoting it.
#[derive(Debug, Clone, Copy)]
enum Source {
    Key(&'static str),
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Key(key) => write!(f, "atlas.{key}"),
            Source::Env(name) => write!(f, "the environment variable {name}"),
        }
    }
}

/// One credential value after looking at the file and the environment.
#[derive(Debug)]
enum Cred {
    Absent,
    /// Given; `value` is `None` when it was given but unusable (a problem is already recorded).
    Present {
        value: Option<String>,
        source: Source,
    },
}

impl Cred {
    fn is_present(&self) -> bool {
        matches!(self, Cred::Present { .. })
    }

    fn source(&self) -> Option<Source> {
        match self {
            Cred::Absent => None,
            Cred::Present { source, .. } => Some(*source),
        }
    }

    fn value(&self) -> Option<&str> {
        match self {
            Cred::Present {
                value: Some(value), ..
            } => Some(value),
            _ => None,
        }
    }
}

/// A credential key as found in the `atlas` section: `None` when absent, `Some(None)` when
/// given but wrong (already reported), `Some(Some(text))` otherwise.
type Slot = Option<Option<String>>;

/// The six credential keys of the `atlas` section.
#[derive(Default)]
struct CredentialKeys {
    public_key: Slot,
    private_key: Slot,
    private_key_file: Slot,
    client_id: Slot,
    client_secret: Slot,
    client_secret_file: Slot,
}

impl CredentialKeys {
    /// Where the credential key `key` (one of [`ATLAS_KEYS`]) goes.
    fn slot(&mut self, key: &str) -> &mut Slot {
        match key {
            "public_key" => &mut self.public_key,
            "private_key" => &mut self.private_key,
            "private_key_file" => &mut self.private_key_file,
            "client_id" => &mut self.client_id,
            "client_secret" => &mut self.client_secret,
            _ => &mut self.client_secret_file,
        }
    }
}

/// One credential: its keys in the file and its environment variable.
struct CredentialSpec {
    /// What it is, in messages: "the public key".
    what: &'static str,
    inline_key: &'static str,
    file_key: Option<&'static str>,
    env: &'static str,
}

const PUBLIC_KEY: CredentialSpec = CredentialSpec {
    what: "the public key",
    inline_key: "public_key",
    file_key: None,
    env: ENV_PUBLIC_API_KEY,
};
const PRIVATE_KEY: CredentialSpec = CredentialSpec {
    what: "the private key",
    inline_key: "private_key",
    file_key: Some("private_key_file"),
    env: ENV_PRIVATE_API_KEY,
};
const CLIENT_ID: CredentialSpec = CredentialSpec {
    what: "the client id",
    inline_key: "client_id",
    file_key: None,
    env: ENV_CLIENT_ID,
};
const CLIENT_SECRET: CredentialSpec = CredentialSpec {
    what: "the client secret",
    inline_key: "client_secret",
    file_key: Some("client_secret_file"),
    env: ENV_CLIENT_SECRET,
};

/// The values of one key that must be unique within a list (project ids, cluster names), each
/// with the path of the entry that listed it first.
#[derive(Default)]
struct Listed(HashMap<String, String>);

impl Listed {
    /// Records that the entry at `entry_path` lists `value`; `Err` with the path of the earlier
    /// entry when one already did.
    fn record(&mut self, value: &str, entry_path: &str) -> Result<(), &str> {
        match self.0.entry(value.to_owned()) {
            Entry::Occupied(earlier) => Err(earlier.into_mut().as_str()),
            Entry::Vacant(slot) => {
                slot.insert(entry_path.to_owned());
                Ok(())
            }
        }
    }
}

/// Walks the YAML tree and collects every problem.
struct Checker<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    /// Directory relative `*_file` paths are read from.
    base_dir: PathBuf,
    /// Whether there is a config file at all (else only the environment can give credentials).
    in_file: bool,
    problems: Vec<Problem>,
}

impl<'e> Checker<'e> {
    fn new(env: &'e dyn Fn(&str) -> Option<String>, base_dir: PathBuf, in_file: bool) -> Self {
        Checker {
            env,
            base_dir,
            in_file,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn wrong_type(&mut self, path: &str, expected: &str, found: &Node) {
        let hint = match found {
            Node::Number(_) | Node::Bool if expected.starts_with("a string") => {
                "; put the value in quotes"
            }
            _ => "",
        };
        self.problem(
            path,
            format!("expected {expected}, found {}{hint}", found.kind_name()),
        );
    }

    /// The result: the value when there were no problems, else every problem.
    fn finish<T>(self, file: &str, value: Option<T>) -> Result<T, ConfigError> {
        match value {
            Some(value) if self.problems.is_empty() => Ok(value),
            _ => {
                let mut problems = self.problems;
                if problems.is_empty() {
                    problems.push(Problem {
                        path: String::new(),
                        message: "the config is incomplete".to_owned(),
                    });
                }
                Err(ConfigError {
                    file: file.to_owned(),
                    problems,
                })
            }
        }
    }

    /// Checks one mapping key: a string, known, and not seen before in this mapping. Returns the
    /// known key and its path, or `None` after recording the problem.
    fn key(
        &mut self,
        parent: &str,
        key: &Node,
        known: &'static [&'static str],
        seen: &mut Vec<&'static str>,
    ) -> Option<(&'static str, String)> {
        let name = match key {
            Node::String(name) => name.clone(),
            Node::Number(n) => n.to_string(),
            Node::Null => {
                self.problem(parent, "a key is empty; expected a key name");
                return None;
            }
            other => {
                self.wrong_type(parent, "a key name", other);
                return None;
            }
        };
        let path = child(parent, &name);
        let Some(&found) = known.iter().find(|k| **k == name) else {
            let message = match suggest(&name, known) {
                None if name == "<<" => {
                    "YAML merge keys (<<) are not supported; write the keys out".to_owned()
                }
                Some(close) => format!("unknown key {name:?}; did you mean {close:?}?"),
                None => format!("unknown key {name:?}; expected one of {}", known.join(", ")),
            };
            self.problem(&path, message);
            return None;
        };
        if seen.contains(&found) {
            self.problem(
                &path,
                format!("duplicate key {found:?}: it is already set earlier in this mapping"),
            );
            return None;
        }
        seen.push(found);
        Some((found, path))
    }

    /// Walks one mapping in document order: each key is checked with [`Checker::key`], and
    /// `visit` gets the known ones with their path and value until it breaks off. Returns the
    /// known keys that were set, for the required-key checks.
    fn mapping(
        &mut self,
        path: &str,
        entries: &[(Node, Node)],
        known: &'static [&'static str],
        mut visit: impl FnMut(&mut Self, &'static str, &str, &Node) -> ControlFlow<()>,
    ) -> Vec<&'static str> {
        let mut seen = Vec::new();
        for (key, value) in entries {
            let Some((key, key_path)) = self.key(path, key, known, &mut seen) else {
                continue;
            };
            if visit(self, key, &key_path, value).is_break() {
                break;
            }
        }
        seen
    }

    /// Reports `key` missing from the mapping at `path` unless it is among the keys `set`.
    fn require(&mut self, path: &str, set: &[&str], key: &str) {
        if !set.contains(&key) {
            self.problem(path, format!("missing required key {key:?}"));
        }
    }

    /// Walks a list of mappings, `projects` or a project's `clusters`: it must list at least one
    /// `noun`, and `item` checks each entry under the path `path[i]`, with the values already
    /// listed that must stay unique. `None` when any entry failed.
    fn list<T>(
        &mut self,
        path: &str,
        node: &Node,
        noun: &str,
        mut item: impl FnMut(&mut Self, &str, &Node, &mut Listed) -> Option<T>,
    ) -> Option<Vec<T>> {
        let items = match node {
            Node::Seq(items) => items.as_slice(),
            Node::Null => &[],
            other => {
                self.wrong_type(path, &format!("a list of {noun}s"), other);
                return None;
            }
        };
        if items.is_empty() {
            self.problem(path, format!("must list at least one {noun}"));
            return None;
        }
        let mut listed = Listed::default();
        let mut values = Vec::with_capacity(items.len());
        let mut complete = true;
        for (i, entry) in items.iter().enumerate() {
            match item(self, &format!("{path}[{i}]"), entry, &mut listed) {
                Some(value) => values.push(value),
                None => complete = false,
            }
        }
        complete.then_some(values)
    }

    /// The whole file.
    fn config(&mut self, root: &Node) -> Option<Config> {
        let entries = match root {
            Node::Map(entries) => entries,
            Node::Null => {
                self.problem(
                    "",
                    "the file is empty; expected at least a projects list (see config.example.yaml)",
                );
                return None;
            }
            other => {
                self.wrong_type(
                    "",
                    "a mapping with the keys atlas, poll_interval and projects",
                    other,
                );
                return None;
            }
        };
        let mut atlas = None;
        let mut poll_interval = Some(DEFAULT_POLL_INTERVAL);
        let mut projects = None;
        let set = self.mapping("", entries, TOP_KEYS, |checker, key, path, value| {
            match key {
                "atlas" => atlas = checker.atlas(path, Some(value)),
                "poll_interval" => poll_interval = checker.poll_interval(path, value),
                _ => projects = checker.list(path, value, "project", Self::project),
            }
            ControlFlow::Continue(())
        });
        if !set.contains(&"projects") {
            self.problem(
                "",
                "missing required key \"projects\": list the projects and clusters to poll",
            );
        }
        if !set.contains(&"atlas") {
            atlas = self.atlas("atlas", None);
        }
        Some(Config {
            atlas: atlas?,
            poll_interval: poll_interval?,
            projects: projects?,
        })
    }

    fn poll_interval(&mut self, path: &str, node: &Node) -> Option<Duration> {
        let interval = self.duration(path, node, DEFAULT_POLL_INTERVAL)?;
        if interval < MIN_POLL_INTERVAL {
            self.problem(
                path,
                format!(
                    "must be at least {}, found {}",
                    humantime::format_duration(MIN_POLL_INTERVAL),
                    humantime::format_duration(interval)
                ),
            );
            return None;
        }
        Some(interval)
    }

    /// The `atlas` section (`node` is `None` when it is absent or for [`AtlasConfig::from_env`]).
    fn atlas(&mut self, path: &str, node: Option<&Node>) -> Option<AtlasConfig> {
        let mut base_url = self.base_url(&child(path, "base_url"), None);
        let mut api_version = Some(ApiVersion::default());
        let mut timeout = Some(DEFAULT_TIMEOUT);
        let mut max_concurrency = Some(DEFAULT_MAX_CONCURRENCY);
        let mut keys = CredentialKeys::default();
        match node {
            None | Some(Node::Null) => {}
            Some(Node::Map(entries)) => {
                self.mapping(path, entries, ATLAS_KEYS, |checker, key, path, value| {
                    match key {
                        "base_url" => base_url = checker.base_url(path, Some(value)),
                        "api_version" => api_version = checker.api_version(path, value),
                        "timeout" => timeout = checker.timeout(path, value),
                        "max_concurrency" => {
                            max_concurrency = checker.max_concurrency(path, value);
                        }
                        credential => *keys.slot(credential) = checker.credential_text(path, value),
                    }
                    ControlFlow::Continue(())
                });
            }
            Some(other) => self.wrong_type(path, "a mapping", other),
        }
        let credentials = self.credentials(path, keys);
        Some(AtlasConfig {
            base_url: base_url?,
            api_version: api_version?,
            timeout: timeout?,
            max_concurrency: max_concurrency?,
            credentials: credentials?,
        })
    }

    fn timeout(&mut self, path: &str, node: &Node) -> Option<Duration> {
        let timeout = self.duration(path, node, DEFAULT_TIMEOUT)?;
        if timeout.is_zero() {
            self.problem(path, "must be greater than 0");
            return None;
        }
        Some(timeout)
    }

    fn base_url(&mut self, path: &str, node: Option<&Node>) -> Option<reqwest::Url> {
        let text = match node {
            None | Some(Node::Null) => DEFAULT_BASE_URL,
            Some(Node::String(text)) => text.as_str(),
            Some(other) => {
                self.wrong_type(path, "a URL string", other);
                return None;
            }
        };
        // The value is never quoted back: a URL with user info may carry a password.
        let mut url = match reqwest::Url::parse(text.trim()) {
            Ok(url) => url,
            Err(err) => {
                self.problem(
                    path,
                    format!("not an absolute URL ({err}); expected one like {DEFAULT_BASE_URL}"),
                );
                return None;
            }
        };
        let mut wrong = Vec::new();
        if !matches!(url.scheme(), "http" | "https") {
            wrong.push(format!(
                "its scheme must be http or https, not {:?}",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            wrong.push("it must have a host".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            wrong.push(
                "it must not carry a user name or password (set the credentials keys instead)"
                    .to_owned(),
            );
        }
        if url.query().is_some() {
            wrong.push("it must not have a query (?...)".to_owned());
        }
        if url.fragment().is_some() {
            wrong.push("it must not have a fragment (#...)".to_owned());
        }
        if !wrong.is_empty() {
            self.problem(path, wrong.join("; "));
            return None;
        }
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Some(url)
    }

    fn api_version(&mut self, path: &str, node: &Node) -> Option<ApiVersion> {
        let guess = |text: &str| match text.trim_start_matches(['v', 'V']) {
            "1" | "1.0" => Some(ApiVersion::V1_0),
            "2" | "2.0" => Some(ApiVersion::V2),
            _ => None,
        };
        match node {
            Node::Null => Some(ApiVersion::default()),
            Node::String(text) => match text.as_str() {
                "v2" => Some(ApiVersion::V2),
                "v1.0" => Some(ApiVersion::V1_0),
                other => {
                    let hint = guess(other)
                        .map(|v| format!("; did you mean {:?}?", v.as_str()))
                        .unwrap_or_default();
                    self.problem(
                        path,
                        format!("unknown API version {other:?}: expected \"v2\" or \"v1.0\"{hint}"),
                    );
                    None
                }
            },
            Node::Number(n) => {
                let hint = guess(&n.to_string())
                    .map(|v| format!("; did you mean {:?}?", v.as_str()))
                    .unwrap_or_default();
                self.problem(
                    path,
                    format!("expected \"v2\" or \"v1.0\", found the number {n}{hint}"),
                );
                None
            }
            other => {
                self.wrong_type(path, "\"v2\" or \"v1.0\"", other);
                None
            }
        }
    }

    /// A duration string; `default` when the value is empty.
    fn duration(&mut self, path: &str, node: &Node, default: Duration) -> Option<Duration> {
        let text = match node {
            Node::Null => return Some(default),
            Node::String(text) => text.trim(),
            Node::Number(n) => {
                self.problem(
                    path,
                    format!("the duration {n} has no unit; add one, for example \"{n}s\""),
                );
                return None;
            }
            other => {
                self.wrong_type(path, &format!("a duration {DURATION_EXAMPLES}"), other);
                return None;
            }
        };
        match humantime::parse_duration(text) {
            Ok(d) => Some(d),
            Err(err) => {
                let message = match err {
                    humantime::DurationError::Empty => {
                        format!("the duration is empty; expected one {DURATION_EXAMPLES}")
                    }
                    _ if text.parse::<f64>().is_ok() => format!(
                        "the duration {text:?} has no unit; add one, for example \"{text}s\""
                    ),
                    humantime::DurationError::UnknownUnit { unit, .. } => format!(
                        "unknown unit {unit:?} in the duration {text:?}; use ms, s, m, h or d, {DURATION_EXAMPLES}"
                    ),
                    humantime::DurationError::NumberOverflow => {
                        format!("the duration {text:?} is too large")
                    }
                    _ => format!("invalid duration {text:?}; expected one {DURATION_EXAMPLES}"),
                };
                self.problem(path, message);
                None
            }
        }
    }

    fn max_concurrency(&mut self, path: &str, node: &Node) -> Option<usize> {
        let range = format!("between 1 and {MAX_CONCURRENCY_LIMIT}");
        match node {
            Node::Null => Some(DEFAULT_MAX_CONCURRENCY),
            Node::Number(n) => {
                if let Some(v) = n.as_u64().and_then(|v| usize::try_from(v).ok())
                    && (1..=MAX_CONCURRENCY_LIMIT).contains(&v)
                {
                    return Some(v);
                }
                if n.is_f64() {
                    self.problem(path, format!("expected a whole number {range}, found {n}"));
                } else {
                    self.problem(path, format!("must be {range}, found {n}"));
                }
                None
            }
            Node::String(text) if text.trim().parse::<u64>().is_ok() => {
                self.problem(
                    path,
                    format!("expected a whole number {range}, found a string; remove the quotes"),
                );
                None
            }
            other => {
                self.wrong_type(path, &format!("a whole number {range}"), other);
                None
            }
        }
    }

    /// A credential key's text, trimmed. Never quoted in a message.
    fn credential_text(&mut self, path: &str, node: &Node) -> Slot {
        match node {
            Node::Null => None,
            Node::String(text) if text.trim().is_empty() => {
                self.problem(path, "is empty; leave the key out or give a value");
                Some(None)
            }
            Node::String(text) => Some(Some(text.trim().to_owned())),
            other => {
                self.wrong_type(path, "a string", other);
                Some(None)
            }
        }
    }

    /// Resolves the four credentials (file first, then the environment) and checks that they
    /// make exactly one complete method.
    fn credentials(&mut self, path: &str, keys: CredentialKeys) -> Option<Credentials> {
        let public_key = self.credential(path, &PUBLIC_KEY, keys.public_key, None);
        let private_key =
            self.credential(path, &PRIVATE_KEY, keys.private_key, keys.private_key_file);
        let client_id = self.credential(path, &CLIENT_ID, keys.client_id, None);
        let client_secret = self.credential(
            path,
            &CLIENT_SECRET,
            keys.client_secret,
            keys.client_secret_file,
        );

        let api_key = [(&PUBLIC_KEY, &public_key), (&PRIVATE_KEY, &private_key)];
        let service_account = [(&CLIENT_ID, &client_id), (&CLIENT_SECRET, &client_secret)];
        let api_key_any = self.check_pair(path, "API key pair", &api_key);
        let service_account_any = self.check_pair(path, "service account", &service_account);

        match (api_key_any, service_account_any) {
            (false, false) => {
                let message = if self.in_file {
                    format!(
                        "no credentials: set an API key pair (atlas.public_key with atlas.private_key or \
                         atlas.private_key_file, or the environment variables {ENV_PUBLIC_API_KEY} and \
                         {ENV_PRIVATE_API_KEY}) or a service account (atlas.client_id with \
                         atlas.client_secret or atlas.client_secret_file, or the environment variables \
                         {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET})"
                    )
                } else {
                    format!(
                        "no credentials: set the environment variables {ENV_PUBLIC_API_KEY} and \
                         {ENV_PRIVATE_API_KEY} (an API key pair) or {ENV_CLIENT_ID} and \
                         {ENV_CLIENT_SECRET} (a service account), or use a config file"
                    )
                };
                self.problem(path, message);
                None
            }
            (true, true) => {
                if public_key.is_present()
                    && private_key.is_present()
                    && client_id.is_present()
                    && client_secret.is_present()
                {
                    self.problem(
                        path,
                        format!(
                            "both an API key pair (from {} and {}) and a service account (from {} and {}) \
                             are set; choose one and remove the other",
                            describe(&public_key),
                            describe(&private_key),
                            describe(&client_id),
                            describe(&client_secret),
                        ),
                    );
                }
                None
            }
            (true, false) => Some(Credentials::ApiKey {
                public_key: public_key.value()?.to_owned(),
                private_key: Secret::new(private_key.value()?),
            }),
            (false, true) => Some(Credentials::ServiceAccount {
                client_id: client_id.value()?.to_owned(),
                client_secret: Secret::new(client_secret.value()?),
            }),
        }
    }

    /// Reports half a pair. Returns whether any half is given.
    fn check_pair(&mut self, path: &str, name: &str, pair: &[(&CredentialSpec, &Cred); 2]) -> bool {
        let [(first_spec, first), (second_spec, second)] = *pair;
        let (given_spec, given, missing_spec) = match (first.source(), second.source()) {
            (None, None) => return false,
            (Some(_), Some(_)) => return true,
            (Some(source), None) => (first_spec, source, second_spec),
            (None, Some(source)) => (second_spec, source, first_spec),
        };
        self.problem(
            path,
            format!(
                "the {name} is incomplete: {} is set (from {given}) but {} is missing; set {}",
                given_spec.what,
                missing_spec.what,
                self.where_to_set(missing_spec),
            ),
        );
        true
    }

    fn where_to_set(&self, spec: &CredentialSpec) -> String {
        if !self.in_file {
            return format!("the environment variable {}", spec.env);
        }
        match spec.file_key {
            Some(file_key) => format!(
                "atlas.{}, atlas.{file_key} or the environment variable {}",
                spec.inline_key, spec.env
            ),
            None => format!(
                "atlas.{} or the environment variable {}",
                spec.inline_key, spec.env
            ),
        }
    }

    /// One credential: the inline key, else the file key, else the environment.
    fn credential(&mut self, path: &str, spec: &CredentialSpec, inline: Slot, file: Slot) -> Cred {
        match (inline, file, spec.file_key) {
            (Some(_), Some(_), Some(file_key)) => {
                self.problem(
                    &child(path, file_key),
                    format!(
                        "cannot be set together with {}; keep one",
                        child(path, spec.inline_key)
                    ),
                );
                Cred::Present {
                    value: None,
                    source: Source::Key(file_key),
                }
            }
            (Some(value), _, _) => Cred::Present {
                value,
                source: Source::Key(spec.inline_key),
            },
            (None, Some(file_path), Some(file_key)) => Cred::Present {
                value: file_path.and_then(|p| self.read_secret_file(&child(path, file_key), &p)),
                source: Source::Key(file_key),
            },
            _ => match (self.env)(spec.env) {
                Some(value) if !value.trim().is_empty() => Cred::Present {
                    value: Some(value.trim().to_owned()),
                    source: Source::Env(spec.env),
                },
                _ => Cred::Absent,
            },
        }
    }

    /// Reads a credential file, trimmed. Messages name the file, never its content.
    fn read_secret_file(&mut self, path: &str, file: &str) -> Option<String> {
        let full = self.base_dir.join(file);
        match std::fs::read_to_string(&full) {
            Ok(text) if text.trim().is_empty() => {
                self.problem(path, format!("the file {} is empty", full.display()));
                None
            }
            Ok(text) => Some(text.trim().to_owned()),
            Err(err) => {
                self.problem(path, format!("cannot read {}: {err}", full.display()));
                None
            }
        }
    }

    /// One entry of `projects`; `ids` holds the ids listed before it.
    fn project(&mut self, path: &str, node: &Node, ids: &mut Listed) -> Option<ProjectConfig> {
        let Node::Map(entries) = node else {
            self.wrong_type(path, "a mapping with id and clusters", node);
            return None;
        };
        let mut id = None;
        let mut name = Some(None);
        let mut clusters = None;
        let set = self.mapping(
            path,
            entries,
            PROJECT_KEYS,
            |checker, key, key_path, value| {
                match key {
                    "id" => {
                        id = checker.project_id(key_path, value);
                        if let Some(id) = &id
                            && let Err(earlier) = ids.record(id, path)
                        {
                            checker.problem(
                                key_path,
                                format!(
                                    "duplicate project {id:?}: already listed at {earlier}; merge \
                                     the two clusters lists into one entry"
                                ),
                            );
                        }
                    }
                    "name" => name = checker.project_name(key_path, value),
                    _ => clusters = checker.list(key_path, value, "cluster", Self::cluster),
                }
                ControlFlow::Continue(())
            },
        );
        self.require(path, &set, "id");
        self.require(path, &set, "clusters");
        Some(ProjectConfig {
            id: id?,
            name: name?,
            clusters: clusters?,
        })
    }

    fn project_id(&mut self, path: &str, node: &Node) -> Option<String> {
        let id = match node {
            Node::String(id) => id.as_str(),
            Node::Null => {
                self.problem(path, "is empty; expected the project id (24 hex digits)");
                return None;
            }
            other => {
                self.wrong_type(path, "a string of 24 hex digits", other);
                return None;
            }
        };
        let hint = match check_atlas_id(id) {
            Ok(()) => return Some(id.to_owned()),
            Err(AtlasIdProblem::Uppercase) => "; write it in lowercase",
            Err(AtlasIdProblem::NotHex) => "",
        };
        self.problem(
            path,
            format!(
                "invalid project id {id:?}: expected 24 hex digits (0-9, a-f), like \
                 5b69d0349b15c62cdfc38b78{hint}"
            ),
        );
        None
    }

    /// `Some(None)` when absent, `None` after a problem.
    fn project_name(&mut self, path: &str, node: &Node) -> Option<Option<String>> {
        match node {
            Node::Null => Some(None),
            Node::String(name) if name.trim().is_empty() => {
                self.problem(path, "is empty; leave the key out for no name");
                None
            }
            Node::String(name) => Some(Some(name.clone())),
            other => {
                self.wrong_type(path, "a string", other);
                None
            }
        }
    }

    /// One entry of a project's `clusters`; `names` holds the names listed before it.
    fn cluster(&mut self, path: &str, node: &Node, names: &mut Listed) -> Option<ClusterConfig> {
        let entries = match node {
            Node::Map(entries) => entries,
            Node::String(name) => {
                self.problem(
                    path,
                    format!("expected a mapping with name and kind, found a string; write - name: {name}"),
                );
                return None;
            }
            other => {
                self.wrong_type(path, "a mapping with name and kind", other);
                return None;
            }
        };
        let mut name = None;
        let mut kind = Some(Kind::default());
        let set = self.mapping(
            path,
            entries,
            CLUSTER_KEYS,
            |checker, key, key_path, value| {
                if key == "kind" {
                    kind = checker.kind(key_path, value);
                    return ControlFlow::Continue(());
                }
                let found = checker.cluster_name(key_path, value);
                if let Some(found) = &found
                    && let Err(earlier) = names.record(found, path)
                {
                    checker.problem(
                        key_path,
                        format!("duplicate cluster {found:?}: already listed at {earlier}"),
                    );
                    // The entry repeats an earlier one: the rest of it is not looked at.
                    return ControlFlow::Break(());
                }
                name = found;
                ControlFlow::Continue(())
            },
        );
        self.require(path, &set, "name");
        Some(ClusterConfig {
            name: name?,
            kind: kind?,
        })
    }

    fn cluster_name(&mut self, path: &str, node: &Node) -> Option<String> {
        let name = match node {
            Node::String(name) => name.as_str(),
            Node::Null => {
                self.problem(path, "is empty; expected the cluster name");
                return None;
            }
            other => {
                self.wrong_type(path, "a string", other);
                return None;
            }
        };
        let message = match check_cluster_name(name) {
            Ok(()) => return Some(name.to_owned()),
            Err(ClusterNameProblem::Shape) => format!(
                "invalid cluster name {name:?}: expected ASCII letters, digits and hyphens, \
                 starting with a letter or digit"
            ),
            Err(ClusterNameProblem::TooLong(len)) => format!(
                "the cluster name is {len} characters long; the limit is {MAX_CLUSTER_NAME_LEN}"
            ),
        };
        self.problem(path, message);
        None
    }

    fn kind(&mut self, path: &str, node: &Node) -> Option<Kind> {
        match node {
            Node::Null => Some(Kind::default()),
            Node::String(text) => match text.parse::<Kind>() {
                Ok(kind) => Some(kind),
                Err(err) => {
                    let hint = text
                        .to_ascii_lowercase()
                        .parse::<Kind>()
                        .map(|k| format!("; did you mean {:?}?", k.as_str()))
                        .unwrap_or_default();
                    self.problem(path, format!("{err}{hint}"));
                    None
                }
            },
            other => {
                self.wrong_type(path, "a string", other);
                None
            }
        }
    }
}

/// `parent.key`, or `key` at the top level.
fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Where a credential came from, for the "choose one" message.
fn describe(cred: &Cred) -> String {
    cred.source().map(|s| s.to_string()).unwrap_or_default()
}

/// The known key closest to an unknown one, when it is close enough to be a typo: the same
/// letters ignoring case, `_` and `-` (`pollInterval`), or a small edit distance.
fn suggest(unknown: &str, known: &[&'static str]) -> Option<&'static str> {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    let unknown_squashed = squash(unknown);
    if let Some(same) = known.iter().find(|k| squash(k) == unknown_squashed) {
        return Some(same);
    }
    known
        .iter()
        .map(|k| (strsim::osa_distance(unknown, k), *k))
        .filter(|(distance, k)| *distance <= (k.len() / 3).clamp(1, 2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}
