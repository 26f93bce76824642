//! The command line: flags in the Prometheus exporter style, and the five commands.
//!
//! Exit codes: 0 success; 1 a bad config, a failed start, a failed probe or a failed API call;
//! 2 a usage error (from clap).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::atlas::{AtlasClient, NoopObserver};
use crate::clock::{Clock, SystemClock};
use crate::config::{AtlasConfig, Config, ConfigError};
use crate::logging::{self, Format, Level};
use crate::metrics::Metrics;
use crate::poller::Poller;
use crate::reload::Reloader;
use crate::server::{self, App, ServeOptions};
use crate::snapshot::{Snapshot, normalize, normalize_one};
use crate::state::{ExporterState, ReloadStatus};
use crate::target::Kind;
use crate::web_config::WebConfig;
use crate::{build_info, demo, landing};

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
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value_t = Level::Info, global = true)]
    log_level: Level,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value_t = Format::Logfmt, global = true)]
    log_format: Format,
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
        None => run_from_config(&flags).await,
        Some(Command::Demo { seed }) => demo::run(&flags, seed).await,
        Some(Command::Check { probe }) => check(&flags, probe).await,
        Some(Command::Snapshots { command }) => snapshots(&flags, command).await,
    }
}

impl Flags {
    /// `--web.listen-address`, when given.
    pub(crate) fn listen_address(&self) -> Option<&str> {
        self.listen_address.as_deref()
    }

    /// `--web.telemetry-path`.
    pub(crate) fn telemetry_path(&self) -> &str {
        &self.telemetry_path
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

async fn run_from_config(flags: &Flags) -> anyhow::Result<ExitCode> {
    let path = flags.config_path().to_owned();
    let config = match load_config(&path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let listen = flags
        .listen_address
        .clone()
        .unwrap_or_else(|| DEFAULT_LISTEN_ADDRESS.to_owned());
    let exporter = Exporter::start(config, Some(path), flags, &listen).await?;
    exporter.run_until_signal().await?;
    Ok(ExitCode::SUCCESS)
}

/// A started exporter: listener bound, poller and SIGHUP handler about to run.
pub(crate) struct Exporter {
    pub(crate) local_addr: SocketAddr,
    listener: TcpListener,
    app: Arc<App>,
    poller: Poller,
    configs: watch::Receiver<Arc<Config>>,
    // Kept alive so that the poller's reload channel stays open in demo mode.
    _configs_tx: Option<watch::Sender<Arc<Config>>>,
}

impl Exporter {
    /// Binds the listener and builds every part; nothing runs yet.
    pub(crate) async fn start(
        config: Config,
        reload_path: Option<PathBuf>,
        flags: &Flags,
        listen: &str,
    ) -> anyhow::Result<Exporter> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let web = match &flags.web_config_file {
            Some(p) => WebConfig::load(p)
                .with_context(|| format!("cannot use the web config file {}", p.display()))?,
            None => WebConfig::default(),
        };
        let web = Arc::new(ArcSwap::from_pointee(web));
        let listener = bind(listen).await?;
        let local_addr = listener.local_addr()?;

        let state = Arc::new(ArcSwap::from_pointee(ExporterState::default()));
        let reload_status = Arc::new(ArcSwap::from_pointee(ReloadStatus {
            successful: true,
            last_success: clock.now(),
        }));
        let metrics = Metrics::new(
            Arc::clone(&state),
            Arc::clone(&reload_status),
            Arc::clone(&clock),
        )
        .context("cannot register metrics")?;
        let poller = Poller::new(
            &config,
            metrics.api_observer(),
            Arc::clone(&clock),
            Arc::clone(&state),
        )
        .context("cannot build the Atlas client")?;
        let (tx, configs) = watch::channel(Arc::new(config));
        let (reloader, configs_tx) = match reload_path {
            Some(path) => (
                Some(Arc::new(Reloader::new(
                    path,
                    tx,
                    flags.web_config_file.clone().map(|p| (p, Arc::clone(&web))),
                    reload_status,
                    Arc::clone(&clock),
                ))),
                None,
            ),
            None => (None, Some(tx)),
        };
        let app = Arc::new(App {
            metrics,
            state,
            telemetry_path: flags.telemetry_path.clone(),
            reloader,
            web,
            clock,
        });
        Ok(Exporter {
            local_addr,
            listener,
            app,
            poller,
            configs,
            _configs_tx: configs_tx,
        })
    }

    fn tls(&self) -> bool {
        self.app.web.load().tls_acceptor().is_some()
    }

    /// The URL of a path on this exporter, for people to click: loopback when listening on
    /// every interface.
    pub(crate) fn url(&self, path: &str) -> String {
        let scheme = if self.tls() { "https" } else { "http" };
        let addr = self.local_addr;
        let host = if addr.ip().is_unspecified() {
            "localhost".to_owned()
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        format!("{scheme}://{host}:{}{path}", addr.port())
    }

    /// Runs until SIGINT or SIGTERM, then shuts down within the grace period.
    pub(crate) async fn run_until_signal(self) -> anyhow::Result<()> {
        tracing::info!(
            version = build_info::VERSION,
            revision = build_info::REVISION,
            address = %self.local_addr,
            tls = self.tls(),
            "atlas-snapshot-exporter listening"
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let poller = tokio::spawn(self.poller.run(self.configs, stopped(stop_rx.clone())));
        if let Some(reloader) = self.app.reloader.clone() {
            tokio::spawn(reload_on_sighup(reloader, stopped(stop_rx.clone())));
        }
        let signal = async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        };
        server::serve(self.listener, self.app, ServeOptions::default(), signal).await;
        let _ = tokio::time::timeout(Duration::from_millis(500), poller).await;
        Ok(())
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn reload_on_sighup(reloader: Arc<Reloader>, stop: impl std::future::Future<Output = ()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /-/reload");
            return;
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                received = hup.recv() => {
                    if received.is_none() {
                        return;
                    }
                    let reloader = Arc::clone(&reloader);
                    let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (reloader, stop);
    }
}

/// Binds `host:port`, `:port` (every IPv4 interface) or `[v6]:port`.
async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    let address = if let Some(port) = address.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else {
        address.to_owned()
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&address)
        .await
        .with_context(|| format!("invalid --web.listen-address {address:?}"))?
        .collect();
    let mut last_error = None;
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last_error = Some((addr, e)),
        }
    }
    match last_error {
        Some((addr, e)) => Err(e).with_context(|| format!("cannot listen on {addr}")),
        None => bail!("--web.listen-address {address:?} resolves to no address"),
    }
}

async fn check(flags: &Flags, probe: bool) -> anyhow::Result<ExitCode> {
    let path = flags.config_path();
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let clusters: usize = config.projects.iter().map(|p| p.clusters.len()).sum();
    println!(
        "{}: OK ({} project{}, {} cluster{})",
        path.display(),
        config.projects.len(),
        plural(config.projects.len()),
        clusters,
        plural(clusters)
    );
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
    for t in &state.targets {
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
        eprintln!("{failed} of {} targets failed", state.targets.len());
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
