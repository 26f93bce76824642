//! Config reloads, on SIGHUP or `POST /-/reload`: validate the files again, hand the config to
//! the poller, and report what the poller did with it. A bad file, or a config the poller
//! refuses, changes nothing but the reload-status metrics.
//!
//! Reloads are rate-limited and coalesced: one runs at a time, at most one starts per
//! [`Reloader::with_min_interval`] (2 s by default), and every request that arrives meanwhile
//! waits for the next one and shares its outcome. A flood of requests thus costs one reload per
//! interval, and every caller still gets the verdict of a reload that read the files after it
//! asked. What a reload costs in Atlas requests is the poller's rule: none, unless it adds
//! targets (see [`crate::poller`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::poller::{ApplyError, ConfigSender};
use crate::shard::ShardFlags;
use crate::state::ReloadStatus;
use crate::web_config::{WebConfig, WebConfigError};

/// Reloads the config file into the running poller, and the web config file (when there is
/// one) into the running server. Both apply or neither does.
pub struct Reloader {
    path: PathBuf,
    poller: ConfigSender,
    web: Option<(PathBuf, Arc<ArcSwap<WebConfig>>)>,
    status: Arc<ArcSwap<ReloadStatus>>,
    clock: Arc<dyn Clock>,
    min_interval: Duration,
    /// The `--shard.*` flags, applied over each config read.
    shard_flags: ShardFlags,
    // Requests so far, numbered from 1.
    requested: AtomicU64,
    // One reload at a time, so that the status written last is that of the config applied last.
    turn: Mutex<Turn>,
}

/// The default least time between the starts of two reloads.
pub const DEFAULT_MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The last reload: when it started, the requests it answers and its outcome.
struct Turn {
    started: Option<tokio::time::Instant>,
    answered: u64,
    outcome: Result<(), Arc<ReloadError>>,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The config file is bad.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The web config file is bad.
    #[error("{0}")]
    Web(#[from] WebConfigError),
    /// The files are good but the poller did not take the config: it cannot use it (the
    /// running config keeps polling), or it has stopped.
    #[error("{0}")]
    Apply(#[from] ApplyError),
    /// Reading the files did not finish (the task reading them panicked or was cancelled).
    #[error("reading the config files failed: {0}")]
    Interrupted(String),
}

impl ReloadError {
    /// True when the poller has stopped (the exporter is shutting down): nothing is wrong with
    /// the files.
    pub fn poller_stopped(&self) -> bool {
        matches!(self, ReloadError::Apply(ApplyError::Stopped))
    }
}

impl Reloader {
    /// A reloader for `path`, handing configs to the poller through `poller`. `web` is the web
    /// config file and the server's handle on it, when there is one.
    pub fn new(
        path: PathBuf,
        poller: ConfigSender,
        web: Option<(PathBuf, Arc<ArcSwap<WebConfig>>)>,
        status: Arc<ArcSwap<ReloadStatus>>,
        clock: Arc<dyn Clock>,
    ) -> Reloader {
        Reloader {
            path,
            poller,
            web,
            status,
            clock,
            min_interval: DEFAULT_MIN_RELOAD_INTERVAL,
            shard_flags: ShardFlags::default(),
            requested: AtomicU64::new(0),
            turn: Mutex::new(Turn {
                started: None,
                answered: 0,
                outcome: Ok(()),
            }),
        }
    }

    /// Applies the `--shard.*` flags to every config read again, as on start.
    pub fn with_shard_flags(mut self, flags: ShardFlags) -> Reloader {
        self.shard_flags = flags;
        self
    }

    /// Lets a reload start no sooner than `min_interval` after the previous one started.
    pub fn with_min_interval(mut self, min_interval: Duration) -> Reloader {
        self.min_interval = min_interval;
        self
    }

    /// Loads the files again and hands the config to the poller. When the poller takes it (it
    /// applies between cycles), new connections get the new web config (renewed certificates,
    /// new users) and the status says success; otherwise everything running stays, the status
    /// says failure and the error is returned and logged.
    ///
    /// The reload that answers may be shared with other callers, and may wait for the minimum
    /// interval since the previous one; it always started after this call.
    pub async fn reload(&self) -> Result<(), Arc<ReloadError>> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut turn = self.turn.lock().await;
        if turn.answered >= ticket {
            return turn.outcome.clone();
        }
        if let Some(started) = turn.started {
            tokio::time::sleep_until(started + self.min_interval).await;
        }
        turn.started = Some(tokio::time::Instant::now());
        // Every request made until now is answered by this reload: it reads the files after.
        let answered = self.requested.load(Ordering::SeqCst);
        let outcome = self.reload_now().await.map_err(Arc::new);
        turn.answered = answered;
        turn.outcome = outcome.clone();
        outcome
    }

    async fn reload_now(&self) -> Result<(), ReloadError> {
        match self.try_reload().await {
            Ok(()) => {
                self.status.store(Arc::new(ReloadStatus {
                    successful: true,
                    last_success: self.clock.now(),
                }));
                tracing::info!(file = %self.path.display(), "config reloaded");
                Ok(())
            }
            Err(e) => {
                let last_success = self.status.load().last_success;
                self.status.store(Arc::new(ReloadStatus {
                    successful: false,
                    last_success,
                }));
                tracing::error!(error = %e, "config reload failed; keeping the running config");
                Err(e)
            }
        }
    }

    async fn try_reload(&self) -> Result<(), ReloadError> {
        let path = self.path.clone();
        let web_path = self.web.as_ref().map(|(p, _)| p.clone());
        let flags = self.shard_flags;
        let (config, web) =
            tokio::task::spawn_blocking(move || load(&path, web_path.as_deref(), flags))
                .await
                .map_err(|e| ReloadError::Interrupted(e.to_string()))??;
        self.poller.apply(config).await?;
        if let (Some(web), Some((_, handle))) = (web, &self.web) {
            handle.store(Arc::new(web));
        }
        Ok(())
    }
}

/// Reads and validates both files; blocking.
fn load(
    path: &Path,
    web: Option<&Path>,
    shard_flags: ShardFlags,
) -> Result<(Config, Option<WebConfig>), ReloadError> {
    let config = Config::load(path)?.with_shard_flags(shard_flags, &path.display().to_string())?;
    let web = match web {
        Some(path) => Some(WebConfig::load(path)?),
        None => None,
    };
    Ok((config, web))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::poller::config_channel;
    use tokio::time::Instant;

    const CONFIG: &str = "atlas:\n  base_url: http://127.0.0.1:9\n  public_key: k\n  private_key: s\npoll_interval: 1h\nprojects:\n  - id: 5b69d0349b15c62cdfc38b78\n    clusters:\n      - name: c1\n";

    #[tokio::test]
    async fn reloads_asked_for_together_share_one_and_it_waits_the_minimum_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, CONFIG).unwrap();
        let (configs_tx, mut configs) = config_channel();
        let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
        let poller = {
            let taken = Arc::clone(&taken);
            tokio::spawn(async move {
                while configs.take_next().await.is_some() {
                    taken.lock().unwrap().push(Instant::now());
                }
            })
        };
        let now = "2026-11-22T12:00:00Z".parse().unwrap();
        let status = Arc::new(ArcSwap::from_pointee(ReloadStatus {
            successful: true,
            last_success: now,
        }));
        // Real time, but only a lower bound is asserted: a sleep never ends early.
        let interval = Duration::from_millis(200);
        let reloader = Reloader::new(path, configs_tx, None, status, Arc::new(FixedClock(now)))
            .with_min_interval(interval);

        let start = Instant::now();
        reloader.reload().await.unwrap();
        let first = taken.lock().unwrap().clone();
        assert_eq!(first.len(), 1, "the first reload runs");
        assert!(first[0] >= start);

        let (a, b, c) = tokio::join!(reloader.reload(), reloader.reload(), reloader.reload());
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        let all = taken.lock().unwrap().clone();
        assert_eq!(all.len(), 2, "three requests, one shared reload");
        // The interval runs from one reload's start to the next one's; the first started at or
        // after `start`, and a reload's config reaches the poller after it started. (Comparing
        // the two arrivals instead raced the first reload's file reading on a loaded machine.)
        assert!(
            all[1] - start >= interval,
            "not before the minimum interval"
        );

        drop(reloader);
        poller.await.unwrap();
    }

    #[tokio::test]
    async fn a_shared_reload_hands_its_error_to_every_caller() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "projects: nope\n").unwrap();
        let (configs_tx, _configs) = config_channel();
        let now = "2026-11-22T12:00:00Z".parse().unwrap();
        let status = Arc::new(ArcSwap::from_pointee(ReloadStatus {
            successful: true,
            last_success: now,
        }));
        let reloader = Reloader::new(
            path,
            configs_tx,
            None,
            Arc::clone(&status),
            Arc::new(FixedClock(now)),
        )
        .with_min_interval(Duration::ZERO);
        let (a, b) = tokio::join!(reloader.reload(), reloader.reload());
        for outcome in [a, b] {
            let e = outcome.unwrap_err();
            assert!(e.to_string().contains("projects"), "{e}");
        }
        assert!(!status.load().successful);
    }
}
