//! What the client reports about the requests it makes: the [`RequestObserver`] hook, which the
//! exporter backs with Prometheus metrics, and [`NoopObserver`] for one-off commands.
//!
//! It lives apart from the client so that the token source, which makes requests of its own,
//! reports them without depending on the client.

use std::time::Duration;

use super::endpoint::Operation;

/// Receives one call per HTTP response the client acts on (or per request that got none).
pub trait RequestObserver: Send + Sync {
    /// `status` is `None` when no response came back (timeout, network).
    fn observe(&self, operation: Operation, status: Option<u16>, elapsed: Duration);

    /// A digest challenge (a 401 inside the handshake) was answered. Ignored by default.
    fn challenge_answered(&self) {}
}

/// An observer that ignores everything, for one-off commands.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl RequestObserver for NoopObserver {
    fn observe(&self, _: Operation, _: Option<u16>, _: Duration) {}
}
