//! Shared test fixtures: a simulator and an exporter polling it, built by the exporter's own
//! wiring ([`Exporter::build`]), with poll cycles driven by hand and HTTP over a real socket.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod exposition;
pub mod logs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use atlas_snapshot_exporter::clock::{Clock, FixedClock, SystemClock};
use atlas_snapshot_exporter::config::Config;
use atlas_snapshot_exporter::exporter::{Exporter, ExporterOptions};
use atlas_snapshot_exporter::poller::{ClientFactory, ConfigReceiver, Poller};
use atlas_snapshot_exporter::simulator::{Scenario, Simulator};
use atlas_snapshot_exporter::state::{ReloadStatus, SharedState};
use jiff::Timestamp;
use tokio::sync::watch;

pub use exposition::Scrape;

/// A fixed "now" for tests that compare exact ages: 2026-11-22T12:00:00Z.
pub fn fixed_now() -> Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

/// 127.0.0.1, any port.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A simulator, an exporter polling it, and the exporter's HTTP server.
pub struct Harness {
    pub sim: Simulator,
    /// The exporter's poller: [`Harness::cycle`] runs one cycle.
    pub poller: Poller,
    /// Reloaded configs for the poller, for tests that run its loop ([`Poller::run`]).
    pub configs: ConfigReceiver,
    pub state: SharedState,
    pub reload: Arc<ArcSwap<ReloadStatus>>,
    pub config: Config,
    pub url: String,
    pub http: reqwest::Client,
    _stop: StopServer,
}

/// Stops the harness' HTTP server when dropped.
struct StopServer(watch::Sender<bool>);

impl Drop for StopServer {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// Writes a config file's YAML given the simulator's base URL.
pub type Yaml = Box<dyn FnOnce(&str) -> String>;

/// How to build a harness.
pub struct Setup {
    pub scenario: Scenario,
    pub clock: Arc<dyn Clock>,
    /// Adjusts the config derived from the scenario (kinds, timeouts, credentials).
    pub tweak: Box<dyn FnOnce(&mut Config)>,
    /// A config file to start from and reload, instead of the scenario's config: its path and
    /// the YAML to write there given the simulator's base URL.
    pub config_file: Option<(PathBuf, Yaml)>,
    /// The `--web.config.file`.
    pub web_config_file: Option<PathBuf>,
    pub client_factory: ClientFactory,
    /// `--web.enable-lifecycle`: on unless a test turns it off, so that tests can POST /-/reload.
    pub lifecycle: bool,
    /// The least time between two reloads' starts; none unless a test sets one.
    pub reload_min_interval: Duration,
    /// Whether cycles read the optional sources (restore jobs, export jobs, open alerts): on
    /// unless a test measuring the snapshot polls' and refresh's own cost turns them off.
    pub optional_sources: bool,
}

impl Setup {
    pub fn new(scenario: Scenario) -> Setup {
        Setup {
            scenario,
            clock: Arc::new(SystemClock),
            tweak: Box::new(|_| {}),
            config_file: None,
            web_config_file: None,
            client_factory: ClientFactory::default(),
            lifecycle: true,
            reload_min_interval: Duration::ZERO,
            optional_sources: true,
        }
    }

    /// Cycles read no optional source: only the snapshot polls and the refresh cost requests.
    pub fn without_optional_sources(mut self) -> Setup {
        self.optional_sources = false;
        self
    }

    pub fn lifecycle(mut self, on: bool) -> Setup {
        self.lifecycle = on;
        self
    }

    pub fn reload_min_interval(mut self, interval: Duration) -> Setup {
        self.reload_min_interval = interval;
        self
    }

    /// Starts from a config file (written with `yaml(base_url)`) that reloads read again.
    pub fn config_file(
        mut self,
        path: impl Into<PathBuf>,
        yaml: impl FnOnce(&str) -> String + 'static,
    ) -> Setup {
        self.config_file = Some((path.into(), Box::new(yaml)));
        self
    }

    pub fn web_config_file(mut self, path: impl Into<PathBuf>) -> Setup {
        self.web_config_file = Some(path.into());
        self
    }

    pub fn client_factory(mut self, factory: ClientFactory) -> Setup {
        self.client_factory = factory;
        self
    }

    pub fn fixed_clock(mut self, now: Timestamp) -> Setup {
        self.clock = Arc::new(FixedClock(now));
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Setup {
        self.clock = clock;
        self
    }

    pub fn tweak(mut self, f: impl FnOnce(&mut Config) + 'static) -> Setup {
        self.tweak = Box::new(f);
        self
    }

    pub async fn start(self) -> Harness {
        let sim = Simulator::start(self.scenario.clone(), loopback())
            .await
            .unwrap();
        let (mut config, reload_path) = match self.config_file {
            Some((path, yaml)) => {
                std::fs::write(&path, yaml(&sim.base_url())).unwrap();
                (Config::load(&path).unwrap(), Some(path))
            }
            None => {
                let mut config =
                    atlas_snapshot_exporter::demo::config_for(&self.scenario, &sim.base_url())
                        .unwrap();
                config.atlas.timeout = Duration::from_secs(5);
                (config, None)
            }
        };
        (self.tweak)(&mut config);
        let options = ExporterOptions {
            clock: self.clock,
            reload_path,
            web_config_file: self.web_config_file,
            client_factory: self.client_factory,
            enable_lifecycle: self.lifecycle,
            reload_min_interval: self.reload_min_interval,
            ..ExporterOptions::new(loopback().to_string())
        };
        let exporter = Exporter::build(config.clone(), options).await.unwrap();
        let url = exporter.url("");
        let state = exporter.state();
        let Exporter {
            mut poller,
            configs,
            server,
            reload_status,
        } = exporter;
        poller.set_optional_sources(self.optional_sources);
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(server.serve(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        Harness {
            sim,
            poller,
            configs,
            state,
            reload: reload_status,
            config,
            url,
            http: reqwest::Client::new(),
            _stop: StopServer(stop),
        }
    }
}

impl Harness {
    /// One poll cycle of every target.
    pub async fn cycle(&mut self) {
        self.poller.run_cycle().await;
    }

    /// GET a path on the exporter.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// Scrapes /metrics over HTTP and checks it is valid exposition format.
    pub async fn scrape_text(&self) -> String {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        response.text().await.unwrap()
    }

    /// Scrapes and parses /metrics.
    pub async fn scrape(&self) -> Scrape {
        let text = self.scrape_text().await;
        exposition::parse(&text).unwrap_or_else(|e| panic!("invalid exposition: {e}\n{text}"))
    }
}

/// A wall clock that stands still until a test moves it, for tests that compare timestamps
/// taken at different moments.
#[derive(Debug)]
pub struct SettableClock(std::sync::Mutex<Timestamp>);

impl SettableClock {
    pub fn at(now: Timestamp) -> Arc<SettableClock> {
        Arc::new(SettableClock(std::sync::Mutex::new(now)))
    }

    pub fn set(&self, now: Timestamp) {
        *self.0.lock().unwrap() = now;
    }
}

impl Clock for SettableClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// Labels of one cluster.
pub fn cluster<'a>(project: &'a str, cluster: &'a str) -> [(&'a str, &'a str); 2] {
    [("project_id", project), ("cluster_name", cluster)]
}

/// Labels of one cluster plus one more.
pub fn cluster_and<'a>(
    project: &'a str,
    cluster: &'a str,
    key: &'a str,
    value: &'a str,
) -> [(&'a str, &'a str); 3] {
    [
        ("project_id", project),
        ("cluster_name", cluster),
        (key, value),
    ]
}
