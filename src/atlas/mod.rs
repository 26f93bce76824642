//! The Atlas Administration API client.
//!
//! - [`alerts`]: Atlas' open alerts of a project, kept when of a backup event type.
//! - [`client`]: [`AtlasClient`], one method per endpoint, paging, authentication, errors.
//! - [`budget`]: the client-side token bucket per project, and the [`Pace`] of one poll (its
//!   deadline, and the concurrency slot it gives up while it waits).
//! - `digest`: HTTP Digest for API keys, reusing the nonce unless the server refuses that.
//! - [`endpoint`]: paths, media types and operation names of the endpoints.
//! - [`inventory`]: projects, clusters (tier, type, paused, backups on) and backup schedules:
//!   what discovery and the cluster facts read.
//! - [`jobs`]: restore jobs (flex and dedicated) and snapshot export jobs: their listings and
//!   the one status each job is counted under.
//! - [`manager`]: Cloud Manager and Ops Manager: cluster ids found by name, backup
//!   configurations and snapshot schedules under `/api/public/v1.0`.
//! - [`observer`]: [`RequestObserver`], what the client reports about each request it makes.
//! - [`wire`]: response bodies as Atlas sends them.
//! - [`error`]: [`AtlasError`] and the bounded [`Reason`] it maps to.

pub mod alerts;
pub mod budget;
pub mod client;
mod digest;
pub mod endpoint;
pub mod error;
pub mod inventory;
pub mod jobs;
pub mod manager;
mod oauth;
pub mod observer;
pub mod wire;

pub use budget::{Budget, Pace};
pub use client::{AtlasClient, ClientOptions, Listing, OneSnapshot};
pub use endpoint::{BackupApi, Operation};
pub use error::{ApiErrorBody, AtlasError, Reason, VERSION_GONE, bounded, gone_hint};
pub use inventory::{ListedCluster, Project, Tier, backup_policy_from_json};
pub use observer::{Announcements, NoopObserver, RateLimitHeaders, RequestObserver};
