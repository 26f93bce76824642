//! Properties of everything that reads input we do not control: the config loader and each
//! response decoder (listing pages of every kind, Atlas' error body). Arbitrary bytes and
//! arbitrary JSON-ish or YAML-ish text never panic, and what is decoded respects the caps: a
//! page never holds more items than it was allowed, an error body's fields never exceed their
//! documented lengths. 256 cases a property keeps the file to a few seconds in a debug build.

// Tests may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use atlas_snapshot_exporter::atlas::ApiErrorBody;
use atlas_snapshot_exporter::atlas::error::{
    MAX_DETAIL_CHARS, MAX_ERROR_CODE_CHARS, MAX_PARAMETERS_CHARS, MAX_REASON_CHARS,
};
use atlas_snapshot_exporter::atlas::wire::{
    DecodedPage, DedicatedSnapshot, FlexSnapshot, LegacySnapshot, ListItem, PageError,
    TenantSnapshot, decode_page,
};
use atlas_snapshot_exporter::config::Config;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Shrinking a failure may take longer; a passing run stays bounded by `cases`.
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    }
}

/// Field names the decoders and the config loader look for, so that generated objects reach
/// past "unknown field" into the code that reads values.
const KEYS: &[&str] = &[
    "results",
    "links",
    "rel",
    "href",
    "next",
    "self",
    "totalCount",
    "id",
    "status",
    "scheduledTime",
    "startTime",
    "finishTime",
    "expiration",
    "createdAt",
    "storageSizeBytes",
    "copyRegions",
    "complete",
    "created",
    "date",
    "parts",
    "errorCode",
    "detail",
    "reason",
    "error",
    "parameters",
];

/// Values that are almost right: real ids, dates, statuses, numbers at the edges.
fn plausible_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "5b69d0349b15c62cdfc38b7a",
            "2026-11-22T02:00:00Z",
            "2026-11-22T02:00:00.123+01:00",
            "2026-02-30T25:61:00Z",
            "COMPLETED",
            "FAILED",
            "completed",
            "inProgress",
            "queued",
            "PENDING",
            "next",
            "http://127.0.0.1/api?pageNum=2&itemsPerPage=500",
            "http://127.0.0.1/api?pageNum=0",
            "",
            "\u{0}\u{7f}\n",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        short_string().prop_map(Value::String),
    ]
}

fn short_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter)
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => short_string(),
    ]
}

/// Arbitrary JSON with the decoders' field names for keys, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    plausible_leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A listing page: `results` of item-like objects, maybe links and a total, maybe extra keys.
fn page_value() -> impl Strategy<Value = Value> {
    // Mostly plain values in items: a nested one in every field would make a case slow.
    let field = prop_oneof![6 => plausible_leaf(), 1 => json_value()];
    let item = prop::collection::vec((key(), field), 0..10)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()));
    let link = (
        prop::sample::select(vec!["next", "self", "previous", "other"]),
        plausible_leaf(),
    )
        .prop_map(|(rel, href)| json!({"rel": rel, "href": href}));
    (
        prop::collection::vec(item, 0..16),
        prop::option::of(prop::collection::vec(link, 0..4)),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
    )
        .prop_map(|(results, links, total, extra)| {
            let mut page = Map::new();
            page.insert("results".into(), Value::Array(results));
            if let Some(links) = links {
                page.insert("links".into(), Value::Array(links));
            }
            if let Some(total) = total {
                page.insert("totalCount".into(), total);
            }
            if let Some(extra) = extra {
                page.insert("extra".into(), extra);
            }
            Value::Object(page)
        })
}

/// Bytes that are mostly JSON: a generated value's text, cut or with a byte changed.
fn json_ish_bytes(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Vec<u8>> {
    (value, any::<prop::sample::Index>(), any::<u8>(), 0..3u8).prop_map(|(value, at, byte, how)| {
        let mut bytes = serde_json::to_vec(&value).unwrap();
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            match how {
                0 => {}
                1 => bytes.truncate(i),
                _ => bytes[i] = byte,
            }
        }
        bytes
    })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..1024)
}

/// Decodes `body` as a page of `T` allowed `max_items` items; checks the cap either way.
fn check_page<T: ListItem>(body: &[u8], max_items: usize) -> Result<(), TestCaseError> {
    match decode_page::<T>(body, max_items) {
        Ok(page) => {
            let page: DecodedPage<T> = page;
            prop_assert!(
                page.listed() <= max_items,
                "{} items listed, {max_items} allowed",
                page.listed()
            );
            prop_assert!(page.results.len() <= page.listed());
        }
        Err(PageError::TooManyItems) => {
            let results = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("results").and_then(Value::as_array).map(Vec::len));
            if let Some(n) = results {
                prop_assert!(n > max_items, "refused {n} items with {max_items} allowed");
            }
        }
        Err(PageError::Json(_)) => {}
    }
    Ok(())
}

fn check_every_kind(body: &[u8], max_items: usize) -> Result<(), TestCaseError> {
    check_page::<TenantSnapshot>(body, max_items)?;
    check_page::<FlexSnapshot>(body, max_items)?;
    check_page::<DedicatedSnapshot>(body, max_items)?;
    check_page::<LegacySnapshot>(body, max_items)?;
    Ok(())
}

/// Characters of a parameter as the cap counts them: a string's own, any other value's JSON.
fn parameter_chars(value: &Value) -> usize {
    match value {
        Value::String(s) => s.chars().count(),
        other => serde_json::to_string(other).unwrap().chars().count(),
    }
}

fn check_error_body(body: &[u8]) -> Result<(), TestCaseError> {
    let Some(parsed) = ApiErrorBody::parse(body) else {
        return Ok(());
    };
    let chars = |s: &Option<String>| s.as_deref().map_or(0, |s| s.chars().count());
    // Each cut field ends in one `…` past its limit.
    prop_assert!(chars(&parsed.error_code) <= MAX_ERROR_CODE_CHARS + 1);
    prop_assert!(chars(&parsed.reason) <= MAX_REASON_CHARS + 1);
    prop_assert!(chars(&parsed.detail) <= MAX_DETAIL_CHARS + 1);
    for field in [&parsed.error_code, &parsed.reason, &parsed.detail] {
        prop_assert!(
            !field.as_deref().unwrap_or("").chars().any(char::is_control),
            "a control character survived: {field:?}"
        );
    }
    let parameters: usize = parsed.parameters.iter().map(parameter_chars).sum();
    // The last kept parameter may end in `…`, and a final `"…"` may stand for the rest.
    prop_assert!(
        parameters <= MAX_PARAMETERS_CHARS + 2,
        "{parameters} parameter characters"
    );
    Ok(())
}

/// An error body with fields of any length, so that the cuts are reached.
fn error_value() -> impl Strategy<Value = Value> {
    let long =
        (any::<char>(), 0..1500usize).prop_map(|(c, n)| Value::String(c.to_string().repeat(n)));
    let field = prop_oneof![plausible_leaf(), long.clone()];
    (
        prop::option::of(field.clone()),
        prop::option::of(field.clone()),
        prop::option::of(field),
        prop::option::of(prop::collection::vec(
            prop_oneof![json_value(), long],
            0..40,
        )),
        prop::option::of(any::<i64>()),
    )
        .prop_map(|(code, detail, reason, parameters, status)| {
            let mut body = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    body.insert(k.to_owned(), v);
                }
            };
            put("errorCode", code);
            put("detail", detail);
            put("reason", reason);
            put("parameters", parameters.map(Value::Array));
            put("error", status.map(Value::from));
            Value::Object(body)
        })
}

/// Tokens of config files, good and bad, so that generated text reaches the checks past
/// parsing: keys at several indentations, values of every kind, YAML's structural characters
/// (flow collections, anchors and aliases, tags, quotes, comments).
const CONFIG_TOKENS: &[&str] = &[
    "atlas:",
    "projects:",
    "clusters:",
    "discovery:",
    "shard:",
    "poll_interval:",
    "base_url:",
    "timeout:",
    "max_concurrency:",
    "max_listing_items:",
    "poll_deadline:",
    "rate_limit:",
    "capacity:",
    "refill_per_minute:",
    "public_key:",
    "private_key:",
    "client_id:",
    "client_secret:",
    "api_version:",
    "flavor:",
    "enabled:",
    "include:",
    "exclude:",
    "organizations:",
    "refresh_interval:",
    "restores:",
    "exports:",
    "- id:",
    "id:",
    "name:",
    "kind:",
    "index:",
    "count:",
    "5b69d0349b15c62cdfc38b78",
    "M2AWS",
    "flex",
    "tenant",
    "dedicated",
    "legacy",
    "auto",
    "v2",
    "v1.0",
    "cloud_manager",
    "15m",
    "1h30m",
    "500ms",
    "0s",
    "-1",
    "99999999999999999999",
    "1e308",
    "true",
    "null",
    "~",
    "http://127.0.0.1:1",
    "not a url",
    "abcdefgh",
    "secret",
    "\n",
    "\n  ",
    "\n    ",
    "\n      ",
    "\n- ",
    " ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ",",
    ": ",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "'",
    "\"",
    "# ",
    "|",
    ">",
    "---",
    "...",
    "\t",
    "^prod-",
    "(",
    "\\",
];

fn config_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(CONFIG_TOKENS).prop_map(str::to_owned),
            1 => short_string(),
        ],
        0..80,
    )
    .prop_map(|tokens| tokens.concat())
}

/// No credential from the environment: the loader must say so, not fail otherwise.
fn no_env(_: &str) -> Option<String> {
    None
}

fn check_config(text: &str) -> Result<(), TestCaseError> {
    if let Err(err) = Config::parse_str(text, "config.yaml", &no_env) {
        prop_assert!(!err.problems.is_empty());
        prop_assert!(
            err.render().starts_with("config.yaml: "),
            "{}",
            err.render()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pages_of_arbitrary_bytes_never_panic(body in bytes(), max in 0usize..30) {
        check_every_kind(&body, max)?;
    }

    #[test]
    fn pages_of_arbitrary_json_never_panic(body in json_ish_bytes(json_value()), max in 0usize..30) {
        check_every_kind(&body, max)?;
    }

    #[test]
    fn page_shaped_json_never_panics_and_never_holds_more_than_allowed(
        body in json_ish_bytes(page_value()),
        max in 0usize..30,
    ) {
        check_every_kind(&body, max)?;
    }

    #[test]
    fn error_bodies_of_arbitrary_bytes_never_panic(body in bytes()) {
        check_error_body(&body)?;
    }

    #[test]
    fn error_bodies_of_arbitrary_json_keep_every_field_within_its_limit(
        body in json_ish_bytes(error_value()),
    ) {
        check_error_body(&body)?;
    }

    #[test]
    fn config_text_of_arbitrary_bytes_never_panics(body in bytes()) {
        check_config(&String::from_utf8_lossy(&body))?;
    }

    #[test]
    fn yaml_ish_config_text_never_panics(text in config_text()) {
        check_config(&text)?;
    }

    #[test]
    fn json_config_documents_never_panic(value in json_value()) {
        check_config(&serde_json::to_string(&value).unwrap())?;
    }
}
