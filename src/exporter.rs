//! The running exporter: the wiring of the listener, the poller, the HTTP server, the reloader
//! and the signal handlers, built once from a config and [`ExporterOptions`].
//!
//! The command line and the demo start the exporter here, and so do the integration tests and
//! the benchmarks: they take the built parts ([`Exporter`]'s fields) to poll by hand and serve
//! HTTP themselves instead of wiring their own copy.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::build_info;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::poller::{ClientFactory, ConfigReceiver, Poller, config_channel};
use crate::reload::Reloader;
use crate::server::{self, App, ServeOptions};
use crate::shard::ShardFlags;
use crate::state::{ExporterState, ReloadStatus, SharedState};
use crate::web_config::WebConfig;

/// How long the poller may take to stop after the server has.
const POLLER_STOP_GRACE: Duration = Duration::from_millis(500);

/// Everything the exporter needs besides its config: what the command line says, and the clock.
pub struct ExporterOptions {
    /// Where to listen: `host:port`, `:port` (every IPv4 interface) or `[v6]:port`; port 0
    /// picks a free one.
    pub listen: String,
    /// Where the metrics are served, e.g. `/metrics`.
    pub telemetry_path: String,
    /// The web config file (TLS, basic auth, response headers), reloaded with the config.
    pub web_config_file: Option<PathBuf>,
    /// `--web.probes-without-auth`: `/-/healthy` and `/-/ready` answer without basic auth.
    pub probes_without_auth: bool,
    /// The config file that SIGHUP and `POST /-/reload` read again; `None` turns reloads off
    /// (the demo has no file).
    pub reload_path: Option<PathBuf>,
    /// `--web.enable-lifecycle`: whether `POST /-/reload` reloads (else it answers 403).
    pub enable_lifecycle: bool,
    /// `--shard.index` and `--shard.count`: applied over the config's `shard` section on start
    /// and on every reload.
    pub shard_flags: ShardFlags,
    /// The least time between the starts of two reloads; requests meanwhile wait and share
    /// the next one.
    pub reload_min_interval: Duration,
    /// Limits of the HTTP server: connections, handshake and header timeouts.
    pub serve: ServeOptions,
    /// Wall-clock time, for ages, timestamps and the landing page.
    pub clock: Arc<dyn Clock>,
    /// How the poller builds its Atlas client: [`crate::atlas::AtlasClient::new`] by default;
    /// tests inject one that refuses a config, which no valid config file makes happen.
    pub client_factory: ClientFactory,
}

impl ExporterOptions {
    /// Options to listen on `listen`, with metrics on `/metrics`, no web config, no reloads and
    /// the system clock.
    pub fn new(listen: impl Into<String>) -> ExporterOptions {
        ExporterOptions {
            listen: listen.into(),
            telemetry_path: "/metrics".to_owned(),
            web_config_file: None,
            probes_without_auth: false,
            reload_path: None,
            enable_lifecycle: false,
            shard_flags: ShardFlags::default(),
            reload_min_interval: crate::reload::DEFAULT_MIN_RELOAD_INTERVAL,
            serve: ServeOptions::default(),
            clock: Arc::new(SystemClock),
            client_factory: ClientFactory::default(),
        }
    }
}

/// A built exporter: listener bound, every part made, nothing running yet.
///
/// [`Exporter::run`] runs it all. A caller that drives the parts itself takes the fields:
/// `poller` to poll by hand ([`Poller::run_cycle`]) or to run its loop, `server` to serve HTTP.
pub struct Exporter {
    /// The poll loop, not started.
    pub poller: Poller,
    /// Reloaded configs for the poller; [`Poller::run`] takes them. Nothing is ever sent when
    /// reloads are off.
    pub configs: ConfigReceiver,
    /// The HTTP server, its listener bound.
    pub server: Server,
    /// The outcome of the last config (re)load, as the metrics show it.
    pub reload_status: Arc<ArcSwap<ReloadStatus>>,
}

/// The HTTP side of an exporter: a bound listener and what it serves.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    app: Arc<App>,
    options: ServeOptions,
}

impl Exporter {
    /// Loads the web config, binds the listener and builds every part; nothing runs yet.
    pub async fn build(config: Config, options: ExporterOptions) -> anyhow::Result<Exporter> {
        let ExporterOptions {
            listen,
            telemetry_path,
            web_config_file,
            probes_without_auth,
            reload_path,
            enable_lifecycle,
            shard_flags,
            reload_min_interval,
            serve,
            clock,
            client_factory,
        } = options;
        let file = reload_path
            .as_ref()
            .map_or_else(|| "config".to_owned(), |p| p.display().to_string());
        let config = config.with_shard_flags(shard_flags, &file)?;
        let web = match &web_config_file {
            Some(p) => WebConfig::load(p)
                .with_context(|| format!("cannot use the web config file {}", p.display()))?,
            None => WebConfig::default(),
        };
        let web = Arc::new(ArcSwap::from_pointee(web));
        let listener = bind(&listen).await?;
        let local_addr = listener.local_addr()?;

        let state: SharedState = Arc::new(ArcSwap::from_pointee(ExporterState::default()));
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
        let poller = Poller::with_client_factory(
            &config,
            metrics.api_observer(),
            client_factory,
            Arc::clone(&clock),
            Arc::clone(&state),
        )
        .context("cannot build the Atlas client")?;
        let (configs_tx, configs) = config_channel();
        let reloader = reload_path.map(|path| {
            Arc::new(
                Reloader::new(
                    path,
                    configs_tx,
                    web_config_file.map(|p| (p, Arc::clone(&web))),
                    Arc::clone(&reload_status),
                    Arc::clone(&clock),
                )
                .with_min_interval(reload_min_interval)
                .with_shard_flags(shard_flags),
            )
        });
        let app = Arc::new(App {
            metrics,
            state,
            telemetry_path,
            reloader,
            lifecycle: enable_lifecycle,
            web,
            probes_without_auth,
            clock,
        });
        Ok(Exporter {
            poller,
            configs,
            server: Server {
                listener,
                local_addr,
                app,
                options: serve,
            },
            reload_status,
        })
    }

    /// The state the poller publishes.
    pub fn state(&self) -> SharedState {
        Arc::clone(&self.server.app.state)
    }

    /// The URL of a path on this exporter; see [`Server::url`].
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// The URL of the metrics.
    pub fn metrics_url(&self) -> String {
        self.server.url(&self.server.app.telemetry_path)
    }

    /// Runs until SIGINT or SIGTERM, then shuts down within the grace period; the signal
    /// handlers are installed now. [`Exporter::run_with_signals`] takes handlers installed
    /// earlier, before the config was read.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        self.run_with_signals(Signals::install()).await
    }

    /// Like [`Exporter::run_until_signal`], with `signals` installed before anything slow (see
    /// [`Signals::install`]): a SIGHUP or SIGTERM that came during startup is acted on now.
    pub async fn run_with_signals(self, signals: Signals) -> anyhow::Result<()> {
        let Signals { hangup, shutdown } = signals;
        self.run_with(shutdown.wait(), hangup).await
    }

    /// Runs the poll loop, the SIGHUP handler and the server until `shutdown` resolves, then
    /// lets requests in flight finish within the grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        self.run_with(shutdown, Hangup::install()).await
    }

    async fn run_with(
        self,
        shutdown: impl Future<Output = ()>,
        hangup: Hangup,
    ) -> anyhow::Result<()> {
        tracing::info!(
            version = build_info::VERSION,
            revision = build_info::REVISION,
            address = %self.server.local_addr,
            tls = self.server.tls(),
            "atlas-snapshot-exporter listening"
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let (mut poller, mut configs) = (self.poller, self.configs);
        let stop = stopped(stop_rx.clone());
        let poller = tokio::spawn(async move { poller.run(&mut configs, stop).await });
        tokio::spawn(reload_on_sighup(
            hangup,
            self.server.app.reloader.clone(),
            stopped(stop_rx),
        ));
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        };
        self.server.serve(signal).await;
        let _ = tokio::time::timeout(POLLER_STOP_GRACE, poller).await;
        Ok(())
    }
}

impl Server {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the server serves: the metrics, the state, the reloader and the web config.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// True when the web config turns TLS on.
    pub fn tls(&self) -> bool {
        self.app.web.load().tls_acceptor().is_some()
    }

    /// The URL of a path on this server, for people to click: loopback when listening on
    /// every interface.
    pub fn url(&self, path: &str) -> String {
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

    /// Serves until `shutdown` resolves, then drains requests in flight; see [`server::serve`].
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        server::serve(self.listener, self.app, self.options, shutdown).await;
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The signals the running exporter acts on: SIGHUP reloads, SIGTERM and SIGINT shut down.
///
/// Installed first thing, before the config is read or the port bound, so that no signal
/// takes its default action (SIGHUP would kill the process) while the exporter starts. A
/// signal that arrives before the exporter runs is kept (repeats coalesce into one) and acted
/// on once it runs: a SIGHUP during startup reloads the config once the reloader exists.
pub struct Signals {
    hangup: Hangup,
    shutdown: Shutdown,
}

impl Signals {
    /// Installs the handlers; call from inside the Tokio runtime, before anything that can take
    /// time. A handler that cannot be installed is logged and that signal keeps its default.
    pub fn install() -> Signals {
        Signals {
            hangup: Hangup::install(),
            shutdown: Shutdown::install(),
        }
    }
}

/// SIGHUP, listened for since [`Hangup::install`].
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn install() -> Hangup {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
                .ok();
            Hangup { signal }
        }
        #[cfg(not(unix))]
        {
            Hangup {}
        }
    }

    /// Resolves at the next SIGHUP (or one received since the last call); `false` when no more
    /// can come.
    async fn received(&mut self) -> bool {
        #[cfg(unix)]
        {
            match &mut self.signal {
                Some(signal) => signal.recv().await.is_some(),
                None => false,
            }
        }
        #[cfg(not(unix))]
        {
            false
        }
    }
}

/// SIGTERM and SIGINT (Ctrl-C), listened for since [`Shutdown::install`].
struct Shutdown {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Shutdown {
    fn install() -> Shutdown {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| {
                signal(kind)
                    .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for {name}"))
                    .ok()
            };
            Shutdown {
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        {
            Shutdown {}
        }
    }

    /// Resolves at the first SIGTERM or SIGINT, including one received before the call.
    async fn wait(self) {
        #[cfg(unix)]
        {
            async fn next(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut signal) => {
                        if signal.recv().await.is_none() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(self.terminate) => {}
                () = next(self.interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Reloads on every SIGHUP until `stop`; without a reloader (the demo) a SIGHUP is logged and
/// ignored.
async fn reload_on_sighup(
    mut hangup: Hangup,
    reloader: Option<Arc<Reloader>>,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            received = hangup.received() => {
                if !received {
                    return;
                }
                match &reloader {
                    // The outcome is logged and shown by the reload-status metrics.
                    Some(reloader) => {
                        let _ = reloader.reload().await;
                    }
                    None => tracing::info!("SIGHUP ignored: there is no config file to reload"),
                }
            }
        }
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
