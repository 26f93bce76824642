//! Config reloads, on SIGHUP or `POST /-/reload`: validate the files again, hand the config to
//! the poller, and report what the poller did with it. A bad file, or a config the poller
//! refuses, changes nothing but the reload-status metrics.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::poller::{ApplyError, ConfigSender};
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
    // One reload at a time, so that the status written last is that of the config applied last.
    turn: Mutex<()>,
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
            turn: Mutex::new(()),
        }
    }

    /// Loads the files again and hands the config to the poller. When the poller takes it (it
    /// applies between cycles and polls at once), new connections get the new web config
    /// (renewed certificates, new users) and the status says success; otherwise everything
    /// running stays, the status says failure and the error is returned and logged.
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let _turn = self.turn.lock().await;
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
        let (config, web) = tokio::task::spawn_blocking(move || load(&path, web_path.as_deref()))
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
fn load(path: &Path, web: Option<&Path>) -> Result<(Config, Option<WebConfig>), ReloadError> {
    let config = Config::load(path)?;
    let web = match web {
        Some(path) => Some(WebConfig::load(path)?),
        None => None,
    };
    Ok((config, web))
}
