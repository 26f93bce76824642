//! atlas-snapshot-exporter: a Prometheus exporter that tells operators whether their MongoDB
//! Atlas backup snapshots are really happening.
//!
//! A tour of the modules, in the order data flows through them:
//!
//! - [`config`]: the YAML config file, validated with every problem reported at once.
//! - [`target`]: what is polled: a project id, a cluster name and a backup API kind, and the
//!   rules ids and cluster names follow.
//! - [`shard`]: which replica of `--shard.count` polls and exports a cluster: rendezvous
//!   hashing of project id and cluster name, applied to the listed and the discovered targets.
//! - [`facts`]: what is known of a cluster besides its snapshots: type, paused, backups on,
//!   and the backup policy it is judged against.
//! - [`atlas`]: the Atlas Administration API client: one method per endpoint, typed responses,
//!   digest or OAuth2 authentication, paging, typed errors. It knows nothing of metrics.
//! - [`snapshot`]: snapshots from any endpoint in one shape, ordered by time.
//! - [`summary`]: what one listing says: counts, newest, latest completed, restore window.
//! - [`job_summary`]: what one restore-job or export-job listing says: counts by status, the
//!   newest success, the failed ids.
//! - [`poller`]: the poll loop; each target's poll within its deadline, its result published
//!   as soon as it ends.
//! - [`sources`]: the optional sources read beside the polls (restore jobs, export jobs, open
//!   backup alerts): when each is due, the role each needs, the reads.
//! - [`state`]: what the poller publishes and the readers below read: one atomically swapped
//!   cell per target, and the cycle-level facts, through [`state::SharedState`].
//! - [`metrics`]: the exporter's own metrics (prometheus crate registry) and the scrape entry.
//! - [`exposition`]: /metrics written straight from the published state, plain text chunk by
//!   chunk, gzip as per-chunk members kept until their targets publish again.
//! - [`server`] and [`landing`]: the HTTP endpoints; [`web_config`]: their TLS and basic auth.
//! - [`reload`]: config reloads on SIGHUP and `POST /-/reload`; the result is what the poller
//!   applied.
//! - [`simulator`]: a faithful Atlas stand-in on a real socket, for the demo, tests and benchmarks.
//! - [`exporter`]: the wiring of listener, poller, server, reloader and signals, from a config
//!   and [`exporter::ExporterOptions`]; the one way to start the exporter, for the commands,
//!   the tests and the benchmarks alike.
//! - [`demo`]: the exporter against the simulator, for `demo`.
//! - [`cli`]: the flags and the commands (the exporter's options, `check --probe`,
//!   `snapshots`); `main.rs` only calls [`cli::main`].
//!
//! Beside the flow, used throughout:
//!
//! - [`clock`]: wall-clock time, injectable so that tests and golden files can fix "now".
//! - [`secret`]: a credential string that never reaches a log line, a label, an error or a page.
//! - [`logging`]: logfmt or JSON log lines on stderr.
//! - `process`: the standard `process_*` metrics, CPU time in fractional seconds (Linux).
//! - [`small_file`]: the config and web config files, read under a 1 MiB cap.
//! - [`build_info`]: the version, git revision and compiler of this build.

#![forbid(unsafe_code)]

pub mod atlas;
pub mod build_info;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod discovery;
pub mod exporter;
pub mod exposition;
pub mod facts;
pub mod job_summary;
pub mod landing;
pub mod logging;
pub mod metrics;
pub mod poller;
#[cfg(target_os = "linux")]
pub mod process;
pub mod reload;
pub mod secret;
pub mod server;
pub mod shard;
pub mod simulator;
pub mod small_file;
pub mod snapshot;
pub mod sources;
pub mod state;
pub mod summary;
pub mod target;
pub mod web_config;
