//! The `discovery` section: whether projects and clusters are found rather than only listed,
//! which ones are kept (organizations, include and exclude regular expressions), and how often
//! discovery and the cluster facts are read again.

use std::ops::ControlFlow;

use super::walker::{Checker, Listed, Node};
use super::{DEFAULT_REFRESH_INTERVAL, DiscoveryConfig, Flavor, MIN_REFRESH_INTERVAL, NameFilter};

const DISCOVERY_KEYS: &[&str] = &[
    "enabled",
    "organizations",
    "projects",
    "clusters",
    "refresh_interval",
];
const FILTER_KEYS: &[&str] = &["include", "exclude"];

/// The most characters of a pattern quoted back in a message.
const MAX_QUOTED_PATTERN: usize = 64;
/// The most characters of the regex crate's explanation kept in a message.
const MAX_REGEX_REASON: usize = 200;
/// The most memory one compiled pattern may take: a name filter needs nothing near it, and a
/// pattern that does is a mistake.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Checker {
    /// The `discovery` section; `flavor` is `atlas.flavor` (`None` when it is not one).
    pub(super) fn discovery(
        &mut self,
        path: &str,
        node: &Node,
        flavor: Option<Flavor>,
    ) -> Option<DiscoveryConfig> {
        let entries = match node {
            Node::Null => return Some(DiscoveryConfig::default()),
            Node::Map(entries) => entries,
            other => {
                self.wrong_type(
                    path,
                    "a mapping with enabled, organizations, projects, clusters and \
                     refresh_interval",
                    other,
                );
                return None;
            }
        };
        let mut enabled = Some(false);
        let mut organizations = Some(Vec::new());
        let mut projects = Some(NameFilter::default());
        let mut clusters = Some(NameFilter::default());
        let mut refresh_interval = Some(DEFAULT_REFRESH_INTERVAL);
        self.mapping(
            path,
            entries,
            DISCOVERY_KEYS,
            |checker, key, key_path, value| {
                match key {
                    "enabled" => enabled = checker.enabled(key_path, value, flavor),
                    "organizations" => organizations = checker.organizations(key_path, value),
                    "projects" => projects = checker.name_filter(key_path, value),
                    "clusters" => clusters = checker.name_filter(key_path, value),
                    _ => refresh_interval = checker.refresh_interval(key_path, value),
                }
                ControlFlow::Continue(())
            },
        );
        Some(DiscoveryConfig {
            enabled: enabled?,
            organizations: organizations?,
            projects: projects?,
            clusters: clusters?,
            refresh_interval: refresh_interval?,
        })
    }

    /// `discovery.enabled`: a boolean; discovery covers Atlas only.
    fn enabled(&mut self, path: &str, node: &Node, flavor: Option<Flavor>) -> Option<bool> {
        let enabled = self.boolean(path, node, false)?;
        if enabled && let Some(flavor) = flavor.filter(|f| f.is_public_api()) {
            self.problem(
                path,
                format!(
                    "discovery covers Atlas only, not atlas.flavor {}: list the clusters under \
                     projects instead",
                    flavor.as_str()
                ),
            );
            return None;
        }
        Some(enabled)
    }

    /// `discovery.organizations`: distinct organization ids; empty or left out means every
    /// project the credential can read.
    fn organizations(&mut self, path: &str, node: &Node) -> Option<Vec<String>> {
        if let Node::String(id) = node {
            self.problem(
                path,
                format!("expected a list of organization ids, found a string; write [{id}]"),
            );
            return None;
        }
        self.list_or_empty(
            path,
            node,
            "organization id",
            |checker, path, node, listed: &mut Listed| {
                let id = checker.atlas_id(path, node, "organization id")?;
                if let Err(earlier) = listed.record(&id, path) {
                    checker.problem(
                        path,
                        format!("duplicate organization {id:?}: already listed at {earlier}"),
                    );
                    return None;
                }
                Some(id)
            },
        )
    }

    /// `discovery.projects` or `discovery.clusters`: `include` and `exclude` patterns.
    fn name_filter(&mut self, path: &str, node: &Node) -> Option<NameFilter> {
        let entries = match node {
            Node::Null => return Some(NameFilter::default()),
            Node::Map(entries) => entries,
            other => {
                self.wrong_type(path, "a mapping with include and exclude", other);
                return None;
            }
        };
        let mut include = Some(Vec::new());
        let mut exclude = Some(Vec::new());
        self.mapping(
            path,
            entries,
            FILTER_KEYS,
            |checker, key, key_path, value| {
                let patterns = checker.patterns(key_path, value);
                match key {
                    "include" => include = patterns,
                    _ => exclude = patterns,
                }
                ControlFlow::Continue(())
            },
        );
        Some(NameFilter {
            include: include?,
            exclude: exclude?,
        })
    }

    /// A list of regular expressions, each compiled; every bad one is reported.
    fn patterns(&mut self, path: &str, node: &Node) -> Option<Vec<regex::Regex>> {
        if let Node::String(pattern) = node {
            self.problem(
                path,
                format!(
                    "expected a list of regular expressions, found a string; write [{:?}]",
                    quoted(pattern)
                ),
            );
            return None;
        }
        self.list_or_empty(
            path,
            node,
            "regular expression",
            |checker, path, node, _| {
                let pattern = match node {
                    Node::String(pattern) => pattern,
                    other => {
                        checker.wrong_type(path, "a string (a regular expression)", other);
                        return None;
                    }
                };
                match regex::RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                {
                    Ok(re) => Some(re),
                    Err(err) => {
                        checker.problem(
                            path,
                            format!(
                                "invalid regular expression {:?}: {}",
                                quoted(pattern),
                                regex_reason(&err)
                            ),
                        );
                        None
                    }
                }
            },
        )
    }

    /// `discovery.refresh_interval`: at least [`MIN_REFRESH_INTERVAL`].
    fn refresh_interval(&mut self, path: &str, node: &Node) -> Option<std::time::Duration> {
        let interval = self.duration(path, node, DEFAULT_REFRESH_INTERVAL)?;
        if interval < MIN_REFRESH_INTERVAL {
            self.problem(
                path,
                format!(
                    "must be at least {}, found {}: every refresh reads every project's \
                     cluster listings and schedules",
                    humantime::format_duration(MIN_REFRESH_INTERVAL),
                    humantime::format_duration(interval)
                ),
            );
            return None;
        }
        Some(interval)
    }
}

/// A pattern as quoted in a message: at most [`MAX_QUOTED_PATTERN`] characters.
fn quoted(pattern: &str) -> String {
    bounded(pattern, MAX_QUOTED_PATTERN)
}

/// The regex crate's explanation in one bounded line. Its syntax errors span several lines
/// (the pattern, a caret under the fault, then `error: ...`): the `error:` line says it.
fn regex_reason(err: &regex::Error) -> String {
    let reason = match err {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|line| line.trim().strip_prefix("error: "))
            .map(str::to_owned)
            .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" ")),
        regex::Error::CompiledTooBig(limit) => {
            format!("it compiles to more than {limit} bytes; simplify it")
        }
        other => other
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    };
    bounded(&reason, MAX_REGEX_REASON)
}

/// `text` cut to `max` characters, with `...` when cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_at_a_character_boundary() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), "abc...");
        assert_eq!(bounded("\u{e9}\u{e9}\u{e9}\u{e9}", 2), "\u{e9}\u{e9}...");
    }

    #[test]
    fn a_regex_syntax_error_becomes_its_one_line_reason() {
        // Built at run time: a literal bad pattern is a lint error of its own.
        let unclosed = String::from("(");
        let err = regex::Regex::new(&unclosed).unwrap_err();
        assert_eq!(regex_reason(&err), "unclosed group");
    }
}
