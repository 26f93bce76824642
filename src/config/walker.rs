//! The YAML node walker: the file as a tree of [`Node`]s, and the generic walk over it that the
//! schema checks and the credentials use.
//!
//! The walk checks the keys of every mapping (a string, known, not repeated; a close known key
//! is suggested for a typo), walks lists, and collects each problem with its key
//! path in document order. It knows no key's meaning.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::ops::ControlFlow;

use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess};

use super::{ConfigError, Problem};

/// A YAML document as written: unlike `serde_yaml::Value`, a mapping keeps duplicate keys, so
/// that they become ordinary problems with a key path instead of one parse error.
#[derive(Debug)]
pub(super) enum Node {
    Null,
    Bool(bool),
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
            Node::Bool(_) => "a boolean",
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

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
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

/// Parses YAML text into a tree; a parse error is one problem.
pub(super) fn parse(text: &str) -> Result<Node, Problem> {
    serde_yaml::from_str(text).map_err(|err| yaml_error(&err, text))
}

/// A YAML parse error as one problem with its line and column, never quoting the text.
fn yaml_error(err: &serde_yaml::Error, source: &str) -> Problem {
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
        return Problem {
            path: text[..start].trim_end_matches(": ").to_owned(),
            message: format!("invalid YAML: the value does not match its tag (like !!int){at}"),
        };
    } else if text.starts_with("deserializing from YAML containing more than one document") {
        "the file holds more than one YAML document (a second ---); expected one".to_owned()
    } else if tab {
        format!("invalid YAML: {text} (YAML does not allow tabs for indentation; use spaces)")
    } else {
        format!("invalid YAML: {text}")
    };
    Problem {
        path: String::new(),
        message,
    }
}

/// The values that must be unique within a list (project ids, cluster names and ids,
/// organization ids), each with the path of the entry that listed it first.
#[derive(Default)]
pub(super) struct Listed(HashMap<String, String>);

impl Listed {
    /// Records that the entry at `entry_path` lists `value`; `Err` with the path of the earlier
    /// entry when one already did.
    pub(super) fn record(&mut self, value: &str, entry_path: &str) -> Result<(), &str> {
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
#[derive(Default)]
pub(super) struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    /// Records what is wrong at the key path `path`.
    pub(super) fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    /// Records that `path` holds `found` where `expected` belongs.
    pub(super) fn wrong_type(&mut self, path: &str, expected: &str, found: &Node) {
        let hint = match found {
            Node::Number(_) | Node::Bool(_) if expected.starts_with("a string") => {
                "; put the value in quotes"
            }
            _ => "",
        };
        self.problem(
            path,
            format!("expected {expected}, found {}{hint}", found.kind_name()),
        );
    }

    /// A boolean; `default` when the value is empty. A quoted `"true"` (or yes, no, on, off)
    /// is a problem: YAML reads it as a string, and a string is not a switch.
    pub(super) fn boolean(&mut self, path: &str, node: &Node, default: bool) -> Option<bool> {
        match node {
            Node::Null => Some(default),
            Node::Bool(value) => Some(*value),
            Node::String(text)
                if ["true", "false", "yes", "no", "on", "off"]
                    .contains(&text.to_ascii_lowercase().as_str()) =>
            {
                self.problem(
                    path,
                    format!(
                        "expected true or false, found the string {text:?}; write true or false, \
                         unquoted"
                    ),
                );
                None
            }
            other => {
                self.wrong_type(path, "true or false", other);
                None
            }
        }
    }

    /// The result: the value when there were no problems, else every problem.
    pub(super) fn finish<T>(self, file: &str, value: Option<T>) -> Result<T, ConfigError> {
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
    pub(super) fn mapping(
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
    pub(super) fn require(&mut self, path: &str, set: &[&str], key: &str) {
        if !set.contains(&key) {
            self.problem(path, format!("missing required key {key:?}"));
        }
    }

    /// Walks a list, `projects` or a project's `clusters`: it must list at least one `noun`,
    /// and `item` checks each entry under the path `path[i]`, with the values already listed
    /// that must stay unique. `None` when any entry failed.
    pub(super) fn list<T>(
        &mut self,
        path: &str,
        node: &Node,
        noun: &str,
        item: impl FnMut(&mut Self, &str, &Node, &mut Listed) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.list_of(path, node, noun, true, item)
    }

    /// [`Checker::list`] that accepts an empty (or empty-valued) list.
    pub(super) fn list_or_empty<T>(
        &mut self,
        path: &str,
        node: &Node,
        noun: &str,
        item: impl FnMut(&mut Self, &str, &Node, &mut Listed) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.list_of(path, node, noun, false, item)
    }

    fn list_of<T>(
        &mut self,
        path: &str,
        node: &Node,
        noun: &str,
        at_least_one: bool,
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
        if items.is_empty() && at_least_one {
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
}

/// `parent.key`, or `key` at the top level.
pub(super) fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
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
