//! atlas-snapshot-exporter: a Prometheus exporter that tells operators whether their MongoDB
//! Atlas backup snapshots are really happening.
//!
//! A tour of the modules, in the order data flows through them:
//!
//! - [`config`]: the YAML config file, validated with every problem reported at once.
//! - [`target`]: what is polled: a project id, a cluster name and a backup API kind.
//! - [`atlas`]: the Atlas Administration API client: one method per endpoint, typed responses,
//!   digest authentication, paging, typed errors. It knows nothing of metrics.
//! - [`simulator`]: a faithful Atlas stand-in on a real socket, for the demo, tests and benchmarks.

#![forbid(unsafe_code)]

pub mod config;
pub mod secret;
pub mod simulator;
pub mod target;
pub mod web_config;
