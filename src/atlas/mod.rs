//! The Atlas Administration API client.
//!
//! - [`client`]: [`AtlasClient`], one method per endpoint, paging, authentication, errors.
//! - [`endpoint`]: paths, media types and operation names of the endpoints.
//! - [`wire`]: response bodies as Atlas sends them.
//! - [`error`]: [`AtlasError`] and the bounded [`Reason`] it maps to.

pub mod client;
pub mod endpoint;
pub mod error;
mod oauth;
pub mod wire;

pub use client::{AtlasClient, ClientOptions, Listing, NoopObserver, OneSnapshot, RequestObserver};
pub use endpoint::{BackupApi, Operation};
pub use error::{ApiErrorBody, AtlasError, Reason};
