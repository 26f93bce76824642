//! Errors from the Atlas client: what went wrong, as a value with a kind.
//!
//! Every failure maps to exactly one [`Reason`], the bounded `reason` label on
//! `atlas_snapshot_target_errors_total`, and carries what Atlas said (`errorCode`, `detail`) for
//! the log line. Text taken from an answer is bounded once, by [`bounded`]: each field of an
//! error body when it is parsed, and the free text of the other variants when it is shown, so a
//! hostile answer cannot flood the logs or the landing page. No variant holds a credential: URLs never carry user-info (the config rejects
//! it) and request headers are never copied into an error.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::target::Kind;

/// Atlas' `errorCode` for a retired API version (the spec's `components.responses.gone`).
pub const VERSION_GONE: &str = "VERSION_GONE";

/// What to do when Atlas answers an endpoint of `kind` with 410 or `VERSION_GONE`: the hint
/// shown on the landing page and in the log.
pub fn gone_hint(kind: Kind) -> &'static str {
    match kind {
        Kind::Tenant => {
            "the tenant snapshot endpoints were sunset on 2026-01-22 (M2/M5 clusters are Flex \
             clusters now): set kind: flex (or auto) for this cluster"
        }
        Kind::Auto | Kind::Flex | Kind::Dedicated | Kind::Legacy => {
            "Atlas retired the API version this exporter asks for: upgrade \
             atlas-snapshot-exporter"
        }
    }
}

/// Why a poll failed: the bounded label value used on error counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// 401: bad credentials, or a key not in the project's organization.
    Unauthorized,
    /// 403: e.g. the exporter's IP is not on the API access list.
    Forbidden,
    /// 404: the project or cluster does not exist.
    NotFound,
    /// 410 or `VERSION_GONE`: Atlas retired the endpoint or the API version asked for.
    Gone,
    /// 429: Atlas' rate limiter said no.
    RateLimited,
    /// 5xx.
    ServerError,
    /// No answer within the configured timeout.
    Timeout,
    /// Connection refused, reset, DNS, TLS.
    Network,
    /// A 2xx body we could not read as the documented JSON.
    Decode,
    /// Anything else: 400, 406, redirects, oversize bodies.
    Other,
}

impl Reason {
    /// Every reason, in label order.
    pub const ALL: [Reason; 10] = [
        Reason::Unauthorized,
        Reason::Forbidden,
        Reason::NotFound,
        Reason::Gone,
        Reason::RateLimited,
        Reason::ServerError,
        Reason::Timeout,
        Reason::Network,
        Reason::Decode,
        Reason::Other,
    ];

    /// How many reasons there are: the length of per-reason arrays.
    pub const COUNT: usize = Reason::ALL.len();

    /// Position in [`Reason::ALL`], for per-reason arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unauthorized => "unauthorized",
            Reason::Forbidden => "forbidden",
            Reason::NotFound => "not_found",
            Reason::Gone => "gone",
            Reason::RateLimited => "rate_limited",
            Reason::ServerError => "server_error",
            Reason::Timeout => "timeout",
            Reason::Network => "network",
            Reason::Decode => "decode",
            Reason::Other => "other",
        }
    }

    /// The reason an HTTP error status maps to.
    pub fn from_status(status: u16) -> Reason {
        match status {
            401 => Reason::Unauthorized,
            403 => Reason::Forbidden,
            404 => Reason::NotFound,
            410 => Reason::Gone,
            429 => Reason::RateLimited,
            500..=599 => Reason::ServerError,
            _ => Reason::Other,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Atlas' error body (`ApiError` in the OpenAPI spec). Every field is optional here: a proxy or
/// load balancer in front of Atlas may answer with something else entirely.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    /// The HTTP status, repeated.
    #[serde(default)]
    pub error: Option<i64>,
    /// The application error code, e.g. `CLUSTER_NOT_FOUND`.
    #[serde(default)]
    pub error_code: Option<String>,
    /// A human sentence.
    #[serde(default)]
    pub detail: Option<String>,
    /// The reason phrase.
    #[serde(default)]
    pub reason: Option<String>,
    /// Parameters of the message. The spec says objects; real responses carry strings and numbers.
    /// At most [`MAX_PARAMETERS_KEPT`] are decoded; the rest are skipped unread.
    #[serde(default, deserialize_with = "first_parameters")]
    pub parameters: Vec<serde_json::Value>,
}

/// Longest `errorCode` kept from an answer. Atlas' codes are short upper-case identifiers
/// (`CLUSTER_NOT_FOUND`, `RATE_LIMITED_TOKEN_BUCKET`); a longer one is not Atlas speaking.
pub const MAX_ERROR_CODE_CHARS: usize = 64;
/// Longest `reason` (the HTTP reason phrase) kept from an answer.
pub const MAX_REASON_CHARS: usize = 64;
/// Longest `detail` kept from an answer: Atlas' are one sentence.
pub const MAX_DETAIL_CHARS: usize = 1000;
/// Most characters kept from all of an answer's `parameters` together: strings by their
/// characters, other values by their JSON text.
pub const MAX_PARAMETERS_CHARS: usize = 1000;
/// Most `parameters` decoded from an answer: Atlas sends a handful. Beyond them the array is
/// skipped without being held, and a `"…"` stands for what was left out, so a body of millions
/// of tiny parameters costs no memory.
pub const MAX_PARAMETERS_KEPT: usize = 64;

/// Decodes the first [`MAX_PARAMETERS_KEPT`] parameters and skips the rest.
fn first_parameters<'de, D>(deserializer: D) -> Result<Vec<serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct First;
    impl<'de> serde::de::Visitor<'de> for First {
        type Value = Vec<serde_json::Value>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of parameters")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut kept = Vec::new();
            while kept.len() < MAX_PARAMETERS_KEPT {
                match seq.next_element()? {
                    Some(value) => kept.push(value),
                    None => return Ok(kept),
                }
            }
            let mut skipped = false;
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                skipped = true;
            }
            if skipped {
                kept.push(serde_json::Value::from("…"));
            }
            Ok(kept)
        }
    }
    deserializer.deserialize_any(First)
}

/// Longest free text of an error that is not Atlas' body (a reqwest or JSON error, a header
/// value quoted in a message), as logged and shown.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// The one bounding of text taken from an answer: at most `max` characters (then `…`), control
/// characters replaced by U+FFFD so that what is logged stays on one line.
pub fn bounded(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max.saturating_mul(4)).saturating_add(3));
    let mut chars = text.chars();
    for c in chars.by_ref().take(max) {
        out.push(if c.is_control() { '\u{fffd}' } else { c });
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

impl ApiErrorBody {
    /// Parses an error body, returning `None` when it is not Atlas' JSON shape. Every field comes
    /// back [bounded](ApiErrorBody::bounded).
    pub fn parse(bytes: &[u8]) -> Option<Box<ApiErrorBody>> {
        let body: ApiErrorBody = serde_json::from_slice(bytes).ok()?;
        if body.error_code.is_none() && body.detail.is_none() {
            return None;
        }
        Some(Box::new(body.bounded()))
    }

    /// The same body with each field cut to its limit ([`MAX_ERROR_CODE_CHARS`],
    /// [`MAX_REASON_CHARS`], [`MAX_DETAIL_CHARS`], [`MAX_PARAMETERS_CHARS`]), so that one odd
    /// answer cannot flood the logs or the landing page.
    pub fn bounded(self) -> ApiErrorBody {
        let cut = |field: Option<String>, max| field.map(|s| bounded(&s, max));
        ApiErrorBody {
            error: self.error,
            error_code: cut(self.error_code, MAX_ERROR_CODE_CHARS),
            detail: cut(self.detail, MAX_DETAIL_CHARS),
            reason: cut(self.reason, MAX_REASON_CHARS),
            parameters: bounded_parameters(self.parameters, MAX_PARAMETERS_CHARS),
        }
    }
}

/// Keeps parameters while their JSON text fits in `budget` characters: the one that does not
/// fit becomes its bounded text, and a final `"…"` stands for any left out after it.
fn bounded_parameters(parameters: Vec<serde_json::Value>, budget: usize) -> Vec<serde_json::Value> {
    let mut left = budget;
    let mut kept = Vec::new();
    let total = parameters.len();
    for value in parameters {
        if left == 0 {
            break;
        }
        let (value, used) = match value {
            serde_json::Value::String(s) => {
                let s = bounded(&s, left);
                let used = s.chars().count().min(left);
                (serde_json::Value::String(s), used)
            }
            other => match json_text_within(&other, left) {
                Some(used) => (other, used),
                None => {
                    let text = serde_json::to_string(&other).unwrap_or_default();
                    (serde_json::Value::String(bounded(&text, left)), left)
                }
            },
        };
        left -= used.min(left);
        kept.push(value);
    }
    if kept.len() < total {
        kept.push(serde_json::Value::String("…".to_owned()));
    }
    kept
}

/// The length of `value`'s JSON text when it is at most `limit` bytes, found without writing
/// more than `limit + 1` bytes of it.
fn json_text_within(value: &serde_json::Value, limit: usize) -> Option<usize> {
    struct Counter {
        written: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written += buf.len();
            if self.written > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { written: 0, limit };
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(counter.written)
}

/// A failed request to Atlas.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AtlasError {
    /// Atlas (or something in front of it) answered with a non-success status.
    #[error("{}", describe_status(*status, body.as_deref()))]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The parsed error body, when it was Atlas' JSON.
        body: Option<Box<ApiErrorBody>>,
        /// `Retry-After` on a 429 or 503.
        retry_after: Option<Duration>,
    },
    /// No complete answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// One target's whole poll did not end within `atlas.poll_deadline`.
    #[error("the poll did not finish within its deadline of {} (atlas.poll_deadline)", humantime::format_duration(*.0))]
    PollDeadline(Duration),
    /// The client-side request budget of the project (`atlas.rate_limit`) has no token left
    /// before the poll's deadline.
    #[error("{}", bounded(.0, MAX_MESSAGE_CHARS))]
    Budget(String),
    /// The request never got a response: connection, DNS, TLS.
    #[error("network error: {}", bounded(.0, MAX_MESSAGE_CHARS))]
    Network(String),
    /// A success response whose body is not what the endpoint documents.
    #[error("cannot decode the response: {}", bounded(.0, MAX_MESSAGE_CHARS))]
    Decode(String),
    /// The response body is larger than the configured cap.
    #[error("response body larger than {limit} bytes")]
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The paging links point away from the API server or loop.
    #[error("paging stopped: {}", bounded(.0, MAX_MESSAGE_CHARS))]
    Paging(String),
    /// Something inside the client, such as an unbuildable request.
    #[error("{}", bounded(.0, MAX_MESSAGE_CHARS))]
    Internal(String),
}

fn describe_status(status: u16, body: Option<&ApiErrorBody>) -> String {
    let mut s = format!("HTTP {status}");
    if let Some(b) = body {
        if let Some(code) = &b.error_code {
            s.push(' ');
            s.push_str(code);
        }
        if let Some(detail) = &b.detail {
            s.push_str(": ");
            s.push_str(detail);
        }
    }
    s
}

impl AtlasError {
    /// The bounded reason label for this error.
    pub fn reason(&self) -> Reason {
        match self {
            AtlasError::Status { .. } if self.error_code() == Some(VERSION_GONE) => Reason::Gone,
            AtlasError::Status { status, .. } => Reason::from_status(*status),
            AtlasError::Timeout(_) | AtlasError::PollDeadline(_) => Reason::Timeout,
            AtlasError::Budget(_) => Reason::RateLimited,
            AtlasError::Network(_) => Reason::Network,
            AtlasError::Decode(_) => Reason::Decode,
            AtlasError::TooLarge { .. } | AtlasError::Paging(_) | AtlasError::Internal(_) => {
                Reason::Other
            }
        }
    }

    /// The HTTP status, when a response came back.
    pub fn status(&self) -> Option<u16> {
        match self {
            AtlasError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Atlas' `errorCode`, when the body had one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            AtlasError::Status { body: Some(b), .. } => b.error_code.as_deref(),
            _ => None,
        }
    }

    /// Atlas' `detail`, when the body had one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            AtlasError::Status { body: Some(b), .. } => b.detail.as_deref(),
            _ => None,
        }
    }

    /// True when the cluster or project is gone: the caller drops its snapshot series.
    pub fn is_not_found(&self) -> bool {
        self.reason() == Reason::NotFound
    }

    /// Builds the error for a reqwest failure, keeping only what is safe to log.
    pub(crate) fn from_reqwest(err: &reqwest::Error, timeout: Duration) -> AtlasError {
        if err.is_timeout() {
            return AtlasError::Timeout(timeout);
        }
        if err.is_decode() {
            return AtlasError::Decode(error_chain(err));
        }
        if err.is_body() {
            // The status and headers came, the body did not arrive whole (shorter than its
            // Content-Length, a connection reset mid-body): an unreadable answer, not an
            // unreachable server.
            return AtlasError::Decode(format!(
                "the response body was cut short: {}",
                error_chain(err)
            ));
        }
        if err.is_builder() {
            return AtlasError::Internal(error_chain(err));
        }
        AtlasError::Network(error_chain(err))
    }
}

/// The error and its sources on one line, without the URL (it is logged separately).
fn error_chain(err: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = source {
        parts.push(e.to_string());
        source = e.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_indexes_its_own_place_in_all() {
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason}");
        }
    }

    #[test]
    fn statuses_map_to_their_documented_reasons() {
        assert_eq!(Reason::from_status(401), Reason::Unauthorized);
        assert_eq!(Reason::from_status(403), Reason::Forbidden);
        assert_eq!(Reason::from_status(404), Reason::NotFound);
        assert_eq!(Reason::from_status(429), Reason::RateLimited);
        assert_eq!(Reason::from_status(503), Reason::ServerError);
        assert_eq!(Reason::from_status(400), Reason::Other);
        assert_eq!(Reason::from_status(410), Reason::Gone);
    }

    #[test]
    fn version_gone_is_gone_whatever_the_status() {
        let err = AtlasError::Status {
            status: 400,
            body: ApiErrorBody::parse(
                br#"{"detail":"This happens when a resource is marked for sunset and the sunset date is in the past.","error":410,"errorCode":"VERSION_GONE","reason":"Gone"}"#,
            ),
            retry_after: None,
        };
        assert_eq!(err.reason(), Reason::Gone);
        assert!(!err.is_not_found());
    }

    #[test]
    fn a_gone_tenant_endpoint_points_to_flex() {
        assert!(gone_hint(Kind::Tenant).contains("kind: flex (or auto)"));
        assert!(gone_hint(Kind::Dedicated).contains("upgrade"));
    }

    #[test]
    fn error_bodies_with_numeric_parameters_parse() {
        let body = br#"{"detail":"Rate limit exceeded","error":429,"errorCode":"RATE_LIMITED_TOKEN_BUCKET","parameters":["api/atlas/v2/orgs",55,10,5,60],"reason":"Too Many Requests"}"#;
        let parsed = ApiErrorBody::parse(body).unwrap();
        assert_eq!(
            parsed.error_code.as_deref(),
            Some("RATE_LIMITED_TOKEN_BUCKET")
        );
        assert_eq!(parsed.parameters.len(), 5);
        assert_eq!(parsed.parameters[1], serde_json::json!(55));
    }

    #[test]
    fn a_non_atlas_error_body_is_not_mistaken_for_one() {
        assert!(ApiErrorBody::parse(b"<html>bad gateway</html>").is_none());
        assert!(ApiErrorBody::parse(b"{}").is_none());
    }

    #[test]
    fn a_status_error_reads_like_atlas_said_it() {
        let err = AtlasError::Status {
            status: 404,
            body: ApiErrorBody::parse(
                br#"{"error":404,"errorCode":"CLUSTER_NOT_FOUND","detail":"No cluster named x exists in group y.","parameters":["x","y"]}"#,
            ),
            retry_after: None,
        };
        assert_eq!(
            err.to_string(),
            "HTTP 404 CLUSTER_NOT_FOUND: No cluster named x exists in group y."
        );
        assert_eq!(err.reason(), Reason::NotFound);
        assert!(err.is_not_found());
    }

    #[test]
    fn an_overlong_detail_is_truncated() {
        let long = "x".repeat(2000);
        let body = format!(r#"{{"errorCode":"E","detail":"{long}"}}"#);
        let parsed = ApiErrorBody::parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.detail.unwrap().chars().count(), MAX_DETAIL_CHARS + 1);
    }

    #[test]
    fn every_field_of_a_hostile_error_body_is_bounded() {
        let huge = "A".repeat(8 * 1024 * 1024);
        let body = serde_json::json!({
            "error": 400,
            "errorCode": huge,
            "detail": huge,
            "reason": huge,
            "parameters": [huge, {"nested": huge}, 1, 2, 3],
        });
        let parsed = ApiErrorBody::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            parsed.error_code.as_deref().map(|c| c.chars().count()),
            Some(MAX_ERROR_CODE_CHARS + 1)
        );
        assert!(parsed.error_code.as_deref().unwrap().ends_with('…'));
        assert_eq!(
            parsed.reason.as_deref().map(|r| r.chars().count()),
            Some(MAX_REASON_CHARS + 1)
        );
        assert_eq!(
            parsed.detail.as_deref().map(|d| d.chars().count()),
            Some(MAX_DETAIL_CHARS + 1)
        );
        let parameters = serde_json::to_string(&parsed.parameters).unwrap();
        assert!(parameters.len() < MAX_PARAMETERS_CHARS + 64, "{parameters}");
        assert_eq!(parsed.parameters.last(), Some(&serde_json::json!("…")));
        let err = AtlasError::Status {
            status: 400,
            body: Some(parsed),
            retry_after: None,
        };
        assert!(err.to_string().len() < 2 * 1024);
        assert_eq!(err.reason(), Reason::Other);
    }

    #[test]
    fn millions_of_tiny_parameters_are_skipped_unread() {
        let mut body = String::from(r#"{"errorCode":"X","parameters":["#);
        body.push_str(&"\"\",".repeat(200_000));
        body.push_str(r#""last"]}"#);
        let parsed = ApiErrorBody::parse(body.as_bytes()).unwrap();
        assert_eq!(parsed.parameters.len(), MAX_PARAMETERS_KEPT + 1);
        assert_eq!(parsed.parameters.last(), Some(&serde_json::json!("…")));
    }

    #[test]
    fn parameters_within_the_budget_are_kept_as_they_are() {
        let parameters = vec![
            serde_json::json!("x"),
            serde_json::json!(55),
            serde_json::json!({"a": [1, 2]}),
        ];
        assert_eq!(
            bounded_parameters(parameters.clone(), MAX_PARAMETERS_CHARS),
            parameters
        );
        assert_eq!(
            bounded_parameters(parameters, 3),
            vec![
                serde_json::json!("x"),
                serde_json::json!(55),
                serde_json::json!("…")
            ]
        );
    }

    #[test]
    fn bounded_text_stays_on_one_line_and_within_its_limit() {
        assert_eq!(bounded("CLUSTER_NOT_FOUND", 64), "CLUSTER_NOT_FOUND");
        assert_eq!(bounded("ab\ncd", 64), "ab\u{fffd}cd");
        assert_eq!(bounded("ééééé", 3), "ééé…");
        assert_eq!(bounded("", 0), "");
        assert_eq!(bounded("x", 0), "…");
    }

    #[test]
    fn free_text_errors_are_bounded_when_shown() {
        let long = format!(
            "error sending request for url (http://{}/)",
            "h".repeat(100_000)
        );
        for err in [
            AtlasError::Network(long.clone()),
            AtlasError::Decode(long.clone()),
            AtlasError::Paging(long.clone()),
            AtlasError::Internal(long.clone()),
        ] {
            let shown = err.to_string();
            assert!(
                shown.chars().count() <= MAX_MESSAGE_CHARS + 32,
                "{}",
                shown.len()
            );
            assert!(shown.ends_with('…'));
        }
    }
}
