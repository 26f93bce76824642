//! The schema checks: what each key of the config file must hold, and the defaults of the
//! keys left out. Credentials are collected here and resolved by `credentials`; the
//! `discovery` section is checked by `discovery`, the `shard` section by `shard`.
//!
//! Two keys change the rules elsewhere in the file: `atlas.flavor` (which kinds and keys a
//! cluster may have) and `discovery.enabled` (whether `projects` may be left out). They are
//! looked up before the walk ([`Context`]), so that every problem is still reported where it
//! stands, in document order, whichever of the sections comes first.

use std::ops::ControlFlow;
use std::time::Duration;

use super::credentials::{CredentialKeys, Sources};
use super::walker::{Checker, Listed, Node, child};
use super::{
    AtlasConfig, ClusterConfig, Config, DEFAULT_BASE_URL, DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_LISTING_ITEMS, DEFAULT_POLL_INTERVAL, DEFAULT_RATE_LIMIT_CAPACITY,
    DEFAULT_RATE_LIMIT_REFILL_PER_MINUTE, DEFAULT_TIMEOUT, DiscoveryConfig, Flavor,
    MAX_CLUSTER_NAME_LEN, MAX_CONCURRENCY_LIMIT, MIN_POLL_INTERVAL, ProjectConfig, RateLimitConfig,
    WatchConfig,
};
use crate::shard::Shard;
use crate::target::{
    ApiVersion, AtlasIdProblem, ClusterNameProblem, Kind, check_atlas_id, check_cluster_name,
};

/// The keys each mapping accepts, in the order the documentation lists them.
const TOP_KEYS: &[&str] = &[
    "atlas",
    "poll_interval",
    "discovery",
    "shard",
    "restores",
    "exports",
    "projects",
];
const ATLAS_KEYS: &[&str] = &[
    "flavor",
    "base_url",
    "api_version",
    "timeout",
    "max_concurrency",
    "poll_deadline",
    "max_listing_items",
    "rate_limit",
    "public_key",
    "private_key",
    "private_key_file",
    "client_id",
    "client_secret",
    "client_secret_file",
];
const RATE_LIMIT_KEYS: &[&str] = &["capacity", "refill_per_minute"];
const PROJECT_KEYS: &[&str] = &["id", "name", "clusters"];
const CLUSTER_KEYS: &[&str] = &["name", "kind", "id", "restores"];

const DURATION_EXAMPLES: &str = "like 500ms, 30s, 15m, 1h or 1h30m";

/// One checked `projects` entry and its clusters' own `restores` where set, by cluster name.
type Listing = (ProjectConfig, std::collections::BTreeMap<String, bool>);

/// The keys that change the rules of other sections, read from the tree before the walk.
/// Their own problems are reported by the walk, where they stand.
#[derive(Debug, Clone, Copy)]
struct Context {
    /// `atlas.flavor`; `None` when it is not a flavor (then the rules that depend on it are
    /// not applied: the flavor's own problem says what is wrong).
    flavor: Option<Flavor>,
    /// `discovery.enabled: true`.
    discovery: bool,
}

impl Context {
    fn of(root: &Node) -> Context {
        Context {
            flavor: peek_flavor(lookup(root, "atlas")),
            discovery: matches!(
                lookup(root, "discovery").and_then(|d| lookup(d, "enabled")),
                Some(Node::Bool(true))
            ),
        }
    }
}

/// The value of the first `key` of a mapping, if `node` is one.
fn lookup<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match node {
        Node::Map(entries) => entries.iter().find_map(|(k, v)| match k {
            Node::String(name) if name == key => Some(v),
            _ => None,
        }),
        _ => None,
    }
}

/// The flavor an `atlas` section names: the default when it names none, `None` when its
/// `flavor` is not one.
fn peek_flavor(atlas: Option<&Node>) -> Option<Flavor> {
    match atlas.and_then(|a| lookup(a, "flavor")) {
        None | Some(Node::Null) => Some(Flavor::default()),
        Some(Node::String(text)) => text.parse().ok(),
        Some(_) => None,
    }
}

/// How a flavor is named in messages: its config spelling.
fn flavor_key(flavor: Flavor) -> String {
    format!("atlas.flavor {}", flavor.as_str())
}

impl Checker {
    /// The whole file.
    pub(super) fn config(&mut self, root: &Node, sources: &Sources) -> Option<Config> {
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
        let context = Context::of(root);
        let mut atlas = None;
        let mut poll_interval = Some(DEFAULT_POLL_INTERVAL);
        let mut discovery = Some(DiscoveryConfig::default());
        let mut shard = Some(Shard::SINGLE);
        let mut restores = Some(false);
        let mut exports = Some(false);
        let mut projects: Option<Vec<Listing>> = None;
        let set = self.mapping("", entries, TOP_KEYS, |checker, key, path, value| {
            let project = |checker: &mut Self, path: &str, node: &Node, ids: &mut Listed| {
                checker.project(path, node, ids, context.flavor)
            };
            match key {
                "atlas" => atlas = checker.atlas(path, Some(value), sources),
                "poll_interval" => poll_interval = checker.poll_interval(path, value),
                "discovery" => discovery = checker.discovery(path, value, context.flavor),
                "shard" => shard = checker.shard(path, value),
                "restores" => restores = checker.opt_in(path, value, context.flavor),
                "exports" => exports = checker.opt_in(path, value, context.flavor),
                // With discovery on, the listed projects only add to what it finds.
                _ if context.discovery => {
                    projects = checker.list_or_empty(path, value, "project", project);
                }
                _ => projects = checker.list(path, value, "project", project),
            }
            ControlFlow::Continue(())
        });
        if !set.contains(&"projects") && context.discovery {
            projects = Some(Vec::new());
        } else if !set.contains(&"projects") {
            self.problem(
                "",
                "missing required key \"projects\": list the projects and clusters to poll",
            );
        }
        if !set.contains(&"atlas") {
            atlas = self.atlas("atlas", None, sources);
        }
        if let (Some(atlas), Some(interval)) = (&atlas, poll_interval)
            && let Some(deadline) = atlas.poll_deadline
            && deadline > interval
        {
            self.problem(
                "atlas.poll_deadline",
                format!(
                    "must not be longer than poll_interval ({}), found {}: a target still \
                     polling when the next cycle is due delays every other target",
                    humantime::format_duration(interval),
                    humantime::format_duration(deadline)
                ),
            );
            return None;
        }
        let mut cluster_restores = std::collections::BTreeMap::new();
        let projects = projects?
            .into_iter()
            .map(|(project, own_restores)| {
                if !own_restores.is_empty() {
                    cluster_restores.insert(project.id.clone(), own_restores);
                }
                project
            })
            .collect();
        Some(Config {
            atlas: atlas?,
            poll_interval: poll_interval?,
            projects,
            discovery: discovery?,
            shard: shard?,
            watch: WatchConfig {
                restores: restores?,
                exports: exports?,
                cluster_restores,
            },
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
    pub(super) fn atlas(
        &mut self,
        path: &str,
        node: Option<&Node>,
        sources: &Sources,
    ) -> Option<AtlasConfig> {
        let peeked = peek_flavor(node);
        let mut flavor = Some(Flavor::default());
        let mut base_url = self.base_url(&child(path, "base_url"), None);
        let mut api_version = Some(ApiVersion::default());
        let mut timeout = Some(DEFAULT_TIMEOUT);
        let mut max_concurrency = Some(DEFAULT_MAX_CONCURRENCY);
        let mut max_listing_items = Some(DEFAULT_MAX_LISTING_ITEMS);
        let mut poll_deadline = Some(None);
        let mut rate_limit = Some(RateLimitConfig::default());
        let mut keys = CredentialKeys::default();
        match node {
            None | Some(Node::Null) => {}
            Some(Node::Map(entries)) => {
                let set = self.mapping(path, entries, ATLAS_KEYS, |checker, key, path, value| {
                    match key {
                        "flavor" => flavor = checker.flavor(path, value),
                        "base_url" => base_url = checker.base_url(path, Some(value)),
                        "api_version" => {
                            api_version = checker.api_version(path, value, peeked);
                        }
                        "timeout" => timeout = checker.timeout(path, value),
                        "max_concurrency" => {
                            max_concurrency = checker.max_concurrency(path, value);
                        }
                        "max_listing_items" => {
                            max_listing_items = checker.max_listing_items(path, value);
                        }
                        "poll_deadline" => poll_deadline = checker.poll_deadline(path, value),
                        "rate_limit" => rate_limit = checker.rate_limit(path, value),
                        credential => *keys.slot(credential) = checker.credential_text(path, value),
                    }
                    ControlFlow::Continue(())
                });
                if peeked == Some(Flavor::OpsManager) && !set.contains(&"base_url") {
                    self.problem(
                        path,
                        "missing required key \"base_url\": atlas.flavor ops_manager has no \
                         default URL; set the address of your Ops Manager, like \
                         https://opsmanager.example.com:8080",
                    );
                    base_url = None;
                }
            }
            Some(other) => self.wrong_type(path, "a mapping", other),
        }
        let credentials = self.credentials(path, keys, sources);
        // The public API of Cloud Manager and Ops Manager is v1.0 by definition.
        if flavor.is_some_and(Flavor::is_public_api) {
            api_version = api_version.map(|_| ApiVersion::V1_0);
        }
        Some(AtlasConfig {
            flavor: flavor?,
            base_url: base_url?,
            api_version: api_version?,
            timeout: timeout?,
            max_concurrency: max_concurrency?,
            max_listing_items: max_listing_items?,
            poll_deadline: poll_deadline?,
            rate_limit: rate_limit?,
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

    /// `atlas.poll_deadline`: `Some(None)` when empty (the default derives from the interval).
    fn poll_deadline(&mut self, path: &str, node: &Node) -> Option<Option<Duration>> {
        if matches!(node, Node::Null) {
            return Some(None);
        }
        let deadline = self.duration(path, node, Duration::ZERO)?;
        if deadline.is_zero() {
            self.problem(path, "must be greater than 0");
            return None;
        }
        Some(Some(deadline))
    }

    /// `atlas.rate_limit`: the token bucket per project.
    fn rate_limit(&mut self, path: &str, node: &Node) -> Option<RateLimitConfig> {
        let entries = match node {
            Node::Null => return Some(RateLimitConfig::default()),
            Node::Map(entries) => entries,
            other => {
                self.wrong_type(path, "a mapping with capacity and refill_per_minute", other);
                return None;
            }
        };
        let mut capacity = Some(DEFAULT_RATE_LIMIT_CAPACITY);
        let mut refill = Some(DEFAULT_RATE_LIMIT_REFILL_PER_MINUTE);
        self.mapping(
            path,
            entries,
            RATE_LIMIT_KEYS,
            |checker, key, path, value| {
                let (slot, default) = match key {
                    "capacity" => (&mut capacity, DEFAULT_RATE_LIMIT_CAPACITY),
                    _ => (&mut refill, DEFAULT_RATE_LIMIT_REFILL_PER_MINUTE),
                };
                let max = u32::MAX as usize;
                *slot = checker
                    .whole_number(path, value, 1..=max, "at least 1", default as usize)
                    .and_then(|v| u32::try_from(v).ok());
                ControlFlow::Continue(())
            },
        );
        Some(RateLimitConfig {
            capacity: capacity?,
            refill_per_minute: refill?,
        })
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

    fn flavor(&mut self, path: &str, node: &Node) -> Option<Flavor> {
        match node {
            Node::Null => Some(Flavor::default()),
            Node::String(text) => match text.parse::<Flavor>() {
                Ok(flavor) => Some(flavor),
                Err(err) => {
                    let squash = |s: &str| {
                        s.chars()
                            .filter(char::is_ascii_alphanumeric)
                            .map(|c| c.to_ascii_lowercase())
                            .collect::<String>()
                    };
                    let hint = Flavor::ALL
                        .into_iter()
                        .find(|f| squash(f.as_str()) == squash(text))
                        .map(|f| format!("; did you mean {:?}?", f.as_str()))
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

    /// `atlas.api_version`; under Cloud Manager or Ops Manager (`flavor`), only `v1.0` agrees
    /// with the API there.
    fn api_version(
        &mut self,
        path: &str,
        node: &Node,
        flavor: Option<Flavor>,
    ) -> Option<ApiVersion> {
        let version = self.api_version_value(path, node)?;
        if let Some(flavor) = flavor.filter(|f| f.is_public_api())
            && version != ApiVersion::V1_0
            && !matches!(node, Node::Null)
        {
            self.problem(
                path,
                format!(
                    "must be left out (or be \"v1.0\") under {}: Cloud Manager and Ops Manager \
                     have one API, /api/public/v1.0",
                    flavor_key(flavor)
                ),
            );
            return None;
        }
        Some(version)
    }

    fn api_version_value(&mut self, path: &str, node: &Node) -> Option<ApiVersion> {
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
    pub(super) fn duration(
        &mut self,
        path: &str,
        node: &Node,
        default: Duration,
    ) -> Option<Duration> {
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
        self.whole_number(
            path,
            node,
            1..=MAX_CONCURRENCY_LIMIT,
            &range,
            DEFAULT_MAX_CONCURRENCY,
        )
    }

    fn max_listing_items(&mut self, path: &str, node: &Node) -> Option<usize> {
        self.whole_number(
            path,
            node,
            1..=usize::MAX,
            "at least 1",
            DEFAULT_MAX_LISTING_ITEMS,
        )
    }

    /// A whole number in `accepted` (described as `range` in messages); null means `default`.
    pub(super) fn whole_number(
        &mut self,
        path: &str,
        node: &Node,
        accepted: std::ops::RangeInclusive<usize>,
        range: &str,
        default: usize,
    ) -> Option<usize> {
        match node {
            Node::Null => Some(default),
            Node::Number(n) => {
                if let Some(v) = n.as_u64().and_then(|v| usize::try_from(v).ok())
                    && accepted.contains(&v)
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

    /// One entry of `projects`; `ids` holds the ids listed before it.
    fn project(
        &mut self,
        path: &str,
        node: &Node,
        ids: &mut Listed,
        flavor: Option<Flavor>,
    ) -> Option<Listing> {
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
                    _ => {
                        clusters = checker.list(key_path, value, "cluster", |c, p, n, l| {
                            c.cluster(p, n, l, flavor)
                        });
                    }
                }
                ControlFlow::Continue(())
            },
        );
        self.require(path, &set, "id");
        self.require(path, &set, "clusters");
        let mut own_restores = std::collections::BTreeMap::new();
        let clusters = clusters?
            .into_iter()
            .map(|(cluster, restores): (ClusterConfig, Option<bool>)| {
                if let Some(restores) = restores {
                    own_restores.insert(cluster.name.clone(), restores);
                }
                cluster
            })
            .collect();
        Some((
            ProjectConfig {
                id: id?,
                name: name?,
                clusters,
            },
            own_restores,
        ))
    }

    /// The text of a key that must hold a string; `missing` says what belongs there when the
    /// value is left empty.
    fn required_text<'n>(
        &mut self,
        path: &str,
        node: &'n Node,
        missing: &str,
        expected: &str,
    ) -> Option<&'n str> {
        match node {
            Node::String(text) => Some(text),
            Node::Null => {
                self.problem(path, format!("is empty; expected {missing}"));
                None
            }
            other => {
                self.wrong_type(path, expected, other);
                None
            }
        }
    }

    fn project_id(&mut self, path: &str, node: &Node) -> Option<String> {
        self.atlas_id(path, node, "project id")
    }

    /// An Atlas object id (24 lowercase hex digits): the `noun` (`project id`, ...) at `path`.
    pub(super) fn atlas_id(&mut self, path: &str, node: &Node, noun: &str) -> Option<String> {
        let id = self.required_text(
            path,
            node,
            &format!("the {noun} (24 hex digits)"),
            "a string of 24 hex digits",
        )?;
        let hint = match check_atlas_id(id) {
            Ok(()) => return Some(id.to_owned()),
            Err(AtlasIdProblem::Uppercase) => "; write it in lowercase",
            Err(AtlasIdProblem::NotHex) => "",
        };
        self.problem(
            path,
            format!(
                "invalid {noun} {id:?}: expected 24 hex digits (0-9, a-f), like \
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

    /// One entry of a project's `clusters`; `listed` holds the names and ids listed before it.
    /// `flavor` decides which kinds exist and whether a cluster may be named by its id.
    fn cluster(
        &mut self,
        path: &str,
        node: &Node,
        listed: &mut Listed,
        flavor: Option<Flavor>,
    ) -> Option<(ClusterConfig, Option<bool>)> {
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
        let public_api = flavor.filter(|f| f.is_public_api());
        let mut name = None;
        let mut id = Some(None);
        let mut kind = Some(Kind::default());
        let mut restores = Some(None);
        let set = self.mapping(
            path,
            entries,
            CLUSTER_KEYS,
            |checker, key, key_path, value| {
                let (found, noun) = match key {
                    "kind" => {
                        kind = checker.cluster_kind(key_path, value, public_api);
                        return ControlFlow::Continue(());
                    }
                    "restores" => {
                        restores = match value {
                            Node::Null => Some(None),
                            _ => checker.opt_in(key_path, value, flavor).map(Some),
                        };
                        return ControlFlow::Continue(());
                    }
                    "id" => {
                        if flavor == Some(Flavor::Atlas) {
                            checker.problem(
                                key_path,
                                "a cluster id is for atlas.flavor cloud_manager or ops_manager \
                                 only: Atlas addresses a cluster by its name; remove the id",
                            );
                            id = None;
                            return ControlFlow::Continue(());
                        }
                        let found = checker.atlas_id(key_path, value, "cluster id");
                        id = found.clone().map(Some);
                        (found, "cluster id")
                    }
                    _ => {
                        name = checker.cluster_name(key_path, value);
                        (name.clone(), "cluster")
                    }
                };
                if let Some(found) = &found
                    && let Err(earlier) = listed.record(&format!("{noun}\0{found}"), path)
                {
                    checker.problem(
                        key_path,
                        format!("duplicate {noun} {found:?}: already listed at {earlier}"),
                    );
                    // The entry repeats an earlier one: the rest of it is not looked at.
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            },
        );
        if !set.contains(&"name") {
            if set.contains(&"id") && public_api.is_some() {
                // Named by id alone: the id is its cluster_name label until a name is known.
                if let Some(Some(found)) = &id
                    && let Err(earlier) = listed.record(&format!("cluster\0{found}"), path)
                {
                    self.problem(
                        &child(path, "id"),
                        format!("duplicate cluster {found:?}: already listed at {earlier}"),
                    );
                    return None;
                }
                name = id.clone().flatten();
            } else if set.contains(&"id") && flavor.is_none() {
                // The flavor is wrong: its own problem says what to fix first.
            } else if let Some(flavor) = public_api {
                self.problem(
                    path,
                    format!(
                        "missing required key \"name\" or \"id\": under {} a cluster is named \
                         by its name, its id or both",
                        flavor_key(flavor)
                    ),
                );
            } else {
                self.require(path, &set, "name");
            }
        }
        if public_api.is_some() && kind == Some(Kind::Auto) {
            kind = Some(Kind::Legacy);
        }
        Some((
            ClusterConfig {
                name: name?,
                id: id?,
                kind: kind?,
            },
            restores?,
        ))
    }

    /// A cluster's `kind`; under Cloud Manager or Ops Manager (`public_api`) only `legacy`
    /// exists there, and `auto` means it.
    fn cluster_kind(
        &mut self,
        path: &str,
        node: &Node,
        public_api: Option<Flavor>,
    ) -> Option<Kind> {
        let kind = self.kind(path, node)?;
        let Some(flavor) = public_api else {
            return Some(kind);
        };
        match kind {
            Kind::Auto | Kind::Legacy => Some(kind),
            other => {
                self.problem(
                    path,
                    format!(
                        "kind {:?} does not exist under {}: Cloud Manager and Ops Manager have \
                         the legacy snapshot API only; use legacy or auto",
                        other.as_str(),
                        flavor_key(flavor)
                    ),
                );
                None
            }
        }
    }

    fn cluster_name(&mut self, path: &str, node: &Node) -> Option<String> {
        let name = self.required_text(path, node, "the cluster name", "a string")?;
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
