//! What the client reports about the requests it makes: the [`RequestObserver`] hook, which the
//! exporter backs with Prometheus metrics, and [`NoopObserver`] for one-off commands.
//!
//! It lives apart from the client so that the token source, which makes requests of its own,
//! reports them without depending on the client.

use std::time::Duration;

use jiff::Timestamp;

use super::endpoint::Operation;
use super::wire::SkipReason;

/// What Atlas announced in a response's headers, besides its status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Announcements {
    /// `Sunset:`: when the endpoint's media type stops answering (RFC 8594).
    pub sunset: Option<Timestamp>,
    /// `Deprecation:`: since when the media type is deprecated (RFC 9745).
    pub deprecation: Option<Timestamp>,
    /// `Ratelimit-Limit` and `Ratelimit-Remaining`.
    pub rate_limit: Option<RateLimitHeaders>,
}

/// Atlas' rate-limit headers on one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// `Ratelimit-Limit`, the bucket's capacity, when sent.
    pub limit: Option<u64>,
    /// `Ratelimit-Remaining`: requests left in the bucket.
    pub remaining: u64,
}

impl Announcements {
    /// True when the headers announced nothing.
    pub fn is_empty(&self) -> bool {
        *self == Announcements::default()
    }
}

/// Receives one call per HTTP response the client acts on (or per request that got none).
pub trait RequestObserver: Send + Sync {
    /// `status` is `None` when no response came back (timeout, network).
    fn observe(&self, operation: Operation, status: Option<u16>, elapsed: Duration);

    /// A digest challenge (a 401 inside the handshake) was answered. Ignored by default.
    fn challenge_answered(&self) {}

    /// What a response's headers announced; called only when they announced something.
    /// `project_id` is the project the request was about.
    fn announced(&self, operation: Operation, project_id: &str, announcements: &Announcements) {
        let _ = (operation, project_id, announcements);
    }

    /// `count` items of a listing page could not be read and were left out. Ignored by default.
    fn skipped_items(&self, reason: SkipReason, count: u64) {
        let _ = (reason, count);
    }

    /// A poll cycle starts: figures kept per cycle start afresh.
    fn cycle_started(&self) {}

    /// A poll cycle ended: figures kept per cycle are published.
    fn cycle_finished(&self) {}
}

/// An observer that ignores everything, for one-off commands.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl RequestObserver for NoopObserver {
    fn observe(&self, _: Operation, _: Option<u16>, _: Duration) {}
}
