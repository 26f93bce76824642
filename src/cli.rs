//! The command line: flags in the Prometheus exporter style, and the five commands. Running the
//! exporter (with or without the demo's simulator) is [`crate::exporter`]'s; the `check --probe`
//! table and the `snapshots` commands live here.
//!
//! Exit codes: 0 success; 1 a bad config, a failed start, a failed probe or a failed API call;
//! 2 a usage error (from clap).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use arc_swap::ArcSwap;
use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;
use serde::Serialize;

use crate::atlas::{AtlasClient, NoopObserver};
use crate::clock::{Clock, SystemClock};
use crate::config::{AtlasConfig, Config, ConfigError};
use crate::exporter::{Exporter, ExporterOptions, Signals};
use crate::logging::{self, Format, Level};
use crate::poller::Poller;
use crate::shard::ShardFlags;
use crate::snapshot::{Snapshot, normalize, normalize_one};
use crate::state::ExporterState;
use crate::target::{ApiVersion, Kind};
use crate::{demo, landing};

/// The default `--web.listen-address`: 9930, from the exporter port range.
pub const DEFAULT_LISTEN_ADDRESS: &str = ":9930";
/// The default `--config.file`.
pub const DEFAULT_CONFIG_FILE: &str = "config.yaml";

/// atlas-snapshot-exporter: are your MongoDB Atlas backups really happening?
#[derive(Debug, Parser)]
#[command(name = "atlas-snapshot-exporter", version = version_string(), about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flags: Flags,
}

/// The exporter flags, accepted before or after a command.
#[derive(Debug, Clone, Args)]
pub struct Flags {
    /// Path to the config file [default: config.yaml].
    #[arg(long = "config.file", value_name = "PATH", global = true)]
    config_file: Option<PathBuf>,
    /// Address to listen on for the web interface and telemetry [default: :9930; demo: 127.0.0.1:9930].
    #[arg(long = "web.listen-address", value_name = "HOST:PORT", global = true)]
    listen_address: Option<String>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", global = true, value_parser = parse_telemetry_path)]
    telemetry_path: String,
    /// Path to an exporter-toolkit web config file (TLS and basic auth).
    #[arg(long = "web.config.file", value_name = "PATH", global = true)]
    web_config_file: Option<PathBuf>,
    /// Answer /-/healthy and /-/ready without basic auth, for probes that send no credentials.
    #[arg(long = "web.probes-without-auth", global = true)]
    probes_without_auth: bool,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value_t = Level::Info, global = true)]
    log_level: Level,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value_t = Format::Logfmt, global = true)]
    log_format: Format,
    /// Enable the lifecycle endpoint: POST /-/reload reloads the config (without it: 403;
    /// SIGHUP always reloads).
    #[arg(long = "web.enable-lifecycle", global = true)]
    enable_lifecycle: bool,
    /// This replica's index among --shard.count replicas, from 0: it polls and exports only the
    /// clusters assigned to it. Wins over shard.index in the config file [default: 0].
    #[arg(
        long = "shard.index",
        value_name = "I",
        env = "ATLAS_SNAPSHOT_EXPORTER_SHARD_INDEX",
        global = true
    )]
    shard_index: Option<u32>,
    /// How many replicas split the clusters between them. Wins over shard.count in the config
    /// file [default: 1].
    #[arg(
        long = "shard.count",
        value_name = "N",
        env = "ATLAS_SNAPSHOT_EXPORTER_SHARD_COUNT",
        global = true
    )]
    shard_count: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run against the built-in Atlas simulator: no credentials, no network.
    Demo {
        /// Seed of the simulated snapshot histories.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Validate the config file and exit: 0 when it is good, 1 with every problem listed.
    Check {
        /// Also poll every target once and print a table.
        #[arg(long)]
        probe: bool,
    },
    /// Read snapshot listings directly.
    Snapshots {
        #[command(subcommand)]
        command: SnapshotsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SnapshotsCommand {
    /// List every snapshot of a cluster, all pages, newest first.
    List {
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Get one snapshot.
    Get {
        #[command(flatten)]
        cluster: ClusterArgs,
        /// The snapshot id (24 hex digits).
        #[arg(long, value_parser = parse_hex_id)]
        id: String,
    },
}

#[derive(Debug, Args)]
struct ClusterArgs {
    /// The project id (24 hex digits).
    #[arg(long, value_parser = parse_hex_id)]
    project: String,
    /// The cluster name.
    #[arg(long, value_parser = parse_cluster_name)]
    cluster: String,
    /// Which backup API to read.
    #[arg(long, default_value = "auto", value_parser = parse_kind)]
    kind: Kind,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

fn version_string() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (revision ",
        env!("ATLAS_SNAPSHOT_EXPORTER_REVISION"),
        ")"
    )
}

fn parse_hex_id(s: &str) -> Result<String, String> {
    if crate::target::is_atlas_id(s) {
        Ok(s.to_owned())
    } else {
        Err("expected 24 lowercase hex digits".to_owned())
    }
}

fn parse_cluster_name(s: &str) -> Result<String, String> {
    if crate::target::has_cluster_name_shape(s) {
        Ok(s.to_owned())
    } else {
        Err("expected a cluster name matching ^[a-zA-Z0-9][a-zA-Z0-9-]*$".to_owned())
    }
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    s.parse::<Kind>().map_err(|e| e.to_string())
}

fn parse_telemetry_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err("must start with /".to_owned());
    }
    if s == "/" || s.starts_with("/-/") {
        return Err("must not be / or under /-/ (the landing page and probes live there)".into());
    }
    Ok(s.to_owned())
}

/// Parses the arguments, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.flags.log_level, cli.flags.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Do not wait for stragglers (a slow scrape past the grace period) at exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let flags = cli.flags;
    match cli.command {
        None => {
            // Before the config is read: a SIGHUP from here on never kills the process.
            let signals = Signals::install();
            run_from_config(&flags, signals).await
        }
        Some(Command::Demo { seed }) => {
            demo::run(
                flags.exporter_options(demo::DEMO_LISTEN_ADDRESS, None),
                seed,
            )
            .await
        }
        Some(Command::Check { probe }) => check(&flags, probe).await,
        Some(Command::Snapshots { command }) => snapshots(&flags, command).await,
    }
}

impl Flags {
    /// The exporter's options from the `--web.*` flags: `default_listen` unless
    /// `--web.listen-address` is given; reloads read `reload_path`.
    fn exporter_options(
        &self,
        default_listen: &str,
        reload_path: Option<PathBuf>,
    ) -> ExporterOptions {
        let listen = self
            .listen_address
            .clone()
            .unwrap_or_else(|| default_listen.to_owned());
        ExporterOptions {
            telemetry_path: self.telemetry_path.clone(),
            web_config_file: self.web_config_file.clone(),
            probes_without_auth: self.probes_without_auth,
            reload_path,
            enable_lifecycle: self.enable_lifecycle,
            shard_flags: self.shard_flags(),
            ..ExporterOptions::new(listen)
        }
    }

    fn shard_flags(&self) -> ShardFlags {
        ShardFlags {
            index: self.shard_index,
            count: self.shard_count,
        }
    }

    fn config_path(&self) -> &Path {
        self.config_file
            .as_deref()
            .unwrap_or_else(|| Path::new(DEFAULT_CONFIG_FILE))
    }
}

/// Loads the config, printing every problem to stderr when it is bad.
fn load_config(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e: ConfigError| {
        eprintln!("{e}");
        ExitCode::FAILURE
    })
}

async fn run_from_config(flags: &Flags, signals: Signals) -> anyhow::Result<ExitCode> {
    let path = flags.config_path().to_owned();
    let config = match load_config(&path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let options = flags.exporter_options(DEFAULT_LISTEN_ADDRESS, Some(path));
    Exporter::build(config, options)
        .await?
        .run_with_signals(signals)
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// What `check` warns about without failing: `kind: tenant` on the v2 API, whose endpoints
/// Atlas sunset on 2026-01-22.
fn sunset_warnings(config: &Config) -> Vec<String> {
    if config.atlas.api_version != ApiVersion::V2 {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    for (p, project) in config.projects.iter().enumerate() {
        for (c, cluster) in project.clusters.iter().enumerate() {
            if cluster.kind == Kind::Tenant {
                warnings.push(format!(
                    "projects[{p}].clusters[{c}].kind: tenant with api_version v2: the tenant \
                     snapshot endpoints were sunset on 2026-01-22 (M2/M5 clusters are Flex \
                     clusters now); use kind: flex (or auto) for cluster {}",
                    cluster.name
                ));
            }
        }
    }
    warnings
}

async fn check(flags: &Flags, probe: bool) -> anyhow::Result<ExitCode> {
    let path = flags.config_path();
    let config = match load_config(path).and_then(|c| {
        c.with_shard_flags(flags.shard_flags(), &path.display().to_string())
            .map_err(|e| {
                eprintln!("{e}");
                ExitCode::FAILURE
            })
    }) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let clusters: usize = config.projects.iter().map(|p| p.clusters.len()).sum();
    let discovery = if config.discovery.enabled {
        "; discovery finds the others"
    } else {
        ""
    };
    let shard = if config.shard.is_single() {
        String::new()
    } else {
        let owned = config.targets().len();
        format!(
            "; {} polls {owned} of them{}",
            config.shard,
            if config.discovery.enabled {
                " and its share of those discovered"
            } else {
                ""
            }
        )
    };
    println!(
        "{}: OK ({} project{}, {} cluster{} listed{discovery}{shard})",
        path.display(),
        config.projects.len(),
        plural(config.projects.len()),
        clusters,
        plural(clusters)
    );
    for warning in sunset_warnings(&config) {
        eprintln!("{}: warning: {warning}", path.display());
    }
    if !probe {
        return Ok(ExitCode::SUCCESS);
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = Arc::new(ArcSwap::from_pointee(ExporterState::default()));
    let mut poller = Poller::new(
        &config,
        Arc::new(NoopObserver),
        Arc::clone(&clock),
        Arc::clone(&state),
    )?;
    poller.run_cycle().await;
    let state = state.load();
    let now = clock.now();
    let mut rows = vec![vec![
        "PROJECT".to_owned(),
        "CLUSTER".to_owned(),
        "KIND".to_owned(),
        "RESULT".to_owned(),
        "SNAPSHOTS".to_owned(),
        "LATEST".to_owned(),
        "LATEST COMPLETED".to_owned(),
        "ERROR".to_owned(),
    ]];
    let mut failed = 0;
    for t in state.targets() {
        let error = t.last_poll.as_ref().and_then(|p| p.error.as_ref());
        if error.is_some() {
            failed += 1;
        }
        let (count, latest, completed) = match &t.backups {
            Some(b) => (
                b.summary.total().to_string(),
                b.summary
                    .latest
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |l| l.status_label().to_owned()),
                b.summary
                    .latest_completed
                    .as_ref()
                    .and_then(|c| c.finished)
                    .map_or_else(
                        || "never".to_owned(),
                        |f| format!("{} ago", landing::ago(now, f)),
                    ),
            ),
            None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        rows.push(vec![
            t.target.project_id.to_string(),
            t.target.cluster_name.to_string(),
            t.kind().to_string(),
            if error.is_some() { "FAIL" } else { "ok" }.to_owned(),
            count,
            latest,
            completed,
            error.map_or_else(String::new, |e| format!("{}: {}", e.reason, e.message)),
        ]);
    }
    print_table(&rows);
    if failed > 0 {
        eprintln!("{failed} of {} targets failed", state.targets().len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The `atlas` settings for the `snapshots` commands: from the config file when it exists (or
/// was named), else defaults plus credentials from the environment.
fn atlas_for_snapshots(flags: &Flags) -> Result<AtlasConfig, ExitCode> {
    let path = flags.config_path();
    if flags.config_file.is_some() || path.exists() {
        return load_config(path).map(|c| c.atlas);
    }
    AtlasConfig::from_env(&|name| std::env::var(name).ok()).map_err(|e| {
        eprintln!("{e}");
        ExitCode::FAILURE
    })
}

async fn snapshots(flags: &Flags, command: SnapshotsCommand) -> anyhow::Result<ExitCode> {
    let atlas = match atlas_for_snapshots(flags) {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    let client = AtlasClient::new(&atlas, Arc::new(NoopObserver))?;
    match command {
        SnapshotsCommand::List { cluster: c } => {
            let (api, listing) = client
                .list_for_kind(c.kind, None, &c.project, &c.cluster)
                .await;
            let listing = match listing {
                Ok(l) => l,
                Err(e) => return api_failure(&e),
            };
            let kind = api.map_or(c.kind, |a| a.kind());
            let mut snaps = normalize(&listing);
            snaps.reverse();
            match c.output {
                Output::Json => print_json(&ListingJson {
                    project_id: &c.project,
                    cluster_name: &c.cluster,
                    kind: kind.as_str(),
                    snapshots: snaps.iter().map(SnapshotJson::from).collect(),
                })?,
                Output::Table => print_snapshot_table(&snaps),
            }
        }
        SnapshotsCommand::Get { cluster: c, id } => {
            let api = match crate::atlas::BackupApi::from_kind(c.kind) {
                Some(api) => api,
                None => {
                    // `auto`: resolve the API with one listing call, as the poller does.
                    let (api, listing) = client
                        .list_for_kind(Kind::Auto, None, &c.project, &c.cluster)
                        .await;
                    match (api, listing) {
                        (Some(api), Ok(_)) => api,
                        (_, Err(e)) => return api_failure(&e),
                        (None, Ok(_)) => bail!("cannot tell which backup API serves this cluster"),
                    }
                }
            };
            let one = match client.get_snapshot(api, &c.project, &c.cluster, &id).await {
                Ok(s) => s,
                Err(e) => return api_failure(&e),
            };
            let snap = normalize_one(&one);
            match c.output {
                Output::Json => print_json(&OneJson {
                    project_id: &c.project,
                    cluster_name: &c.cluster,
                    kind: api.kind().as_str(),
                    snapshot: SnapshotJson::from(&snap),
                })?,
                Output::Table => print_snapshot_table(std::slice::from_ref(&snap)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn api_failure(e: &crate::atlas::AtlasError) -> anyhow::Result<ExitCode> {
    eprintln!("error: {} ({})", e, e.reason());
    Ok(ExitCode::FAILURE)
}

#[derive(Serialize)]
struct ListingJson<'a> {
    project_id: &'a str,
    cluster_name: &'a str,
    kind: &'a str,
    snapshots: Vec<SnapshotJson>,
}

#[derive(Serialize)]
struct OneJson<'a> {
    project_id: &'a str,
    cluster_name: &'a str,
    kind: &'a str,
    snapshot: SnapshotJson,
}

#[derive(Serialize)]
struct SnapshotJson {
    id: String,
    status: String,
    scheduled_time: Option<Timestamp>,
    start_time: Option<Timestamp>,
    finish_time: Option<Timestamp>,
    duration_seconds: Option<f64>,
    size_bytes: Option<u64>,
}

impl From<&Snapshot> for SnapshotJson {
    fn from(s: &Snapshot) -> Self {
        SnapshotJson {
            id: s.id.clone(),
            status: s.status_label().to_owned(),
            scheduled_time: s.order.primary,
            start_time: s.started,
            finish_time: s.finished,
            duration_seconds: s.duration.map(|d| d.as_secs_f64()),
            size_bytes: s.size_bytes,
        }
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn print_snapshot_table(snaps: &[Snapshot]) {
    let fmt_ts = |t: Option<Timestamp>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
    let mut rows = vec![vec![
        "ID".to_owned(),
        "STATUS".to_owned(),
        "SCHEDULED".to_owned(),
        "STARTED".to_owned(),
        "FINISHED".to_owned(),
        "DURATION".to_owned(),
        "SIZE".to_owned(),
    ]];
    for s in snaps {
        rows.push(vec![
            s.id.clone(),
            s.status_label().to_owned(),
            fmt_ts(s.order.primary),
            fmt_ts(s.started),
            fmt_ts(s.finished),
            s.duration
                .map_or_else(|| "-".to_owned(), |d| format!("{}s", d.as_secs())),
            s.size_bytes
                .map_or_else(|| "-".to_owned(), |b| b.to_string()),
        ]);
    }
    print_table(&rows);
}

fn print_table(rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
