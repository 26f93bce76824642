//! Config reloads, on SIGHUP or `POST /-/reload`: validate the file again and hand the new
//! config to the poller. A bad file changes nothing but the reload-status metrics.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::state::ReloadStatus;
use crate::web_config::{WebConfig, WebConfigError};

/// Reloads the config file into the running poller, and the web config file (when there is
/// one) into the running server. Both load or neither applies.
pub struct Reloader {
    path: PathBuf,
    configs: watch::Sender<Arc<Config>>,
    web: Option<(PathBuf, Arc<ArcSwap<WebConfig>>)>,
    status: Arc<ArcSwap<ReloadStatus>>,
    clock: Arc<dyn Clock>,
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
}

impl Reloader {
    /// A reloader for `path`; the poller listens on the receiver of `configs`. `web` is the web
    /// config file and the server's handle on it, when there is one.
    pub fn new(
        path: PathBuf,
        configs: watch::Sender<Arc<Config>>,
        web: Option<(PathBuf, Arc<ArcSwap<WebConfig>>)>,
        status: Arc<ArcSwap<ReloadStatus>>,
        clock: Arc<dyn Clock>,
    ) -> Reloader {
        Reloader {
            path,
            configs,
            web,
            status,
            clock,
        }
    }

    /// Loads the files again. On success the poller applies the config between cycles and
    /// polls at once, and new connections get the new web config (renewed certificates, new
    /// users); on failure everything running stays and the error is returned and logged.
    pub fn reload(&self) -> Result<(), ReloadError> {
        match self.load() {
            Ok((config, web)) => {
                self.status.store(Arc::new(ReloadStatus {
                    successful: true,
                    last_success: self.clock.now(),
                }));
                if let (Some(web), Some((_, handle))) = (web, &self.web) {
                    handle.store(Arc::new(web));
                }
                self.configs.send_replace(Arc::new(config));
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

    fn load(&self) -> Result<(Config, Option<WebConfig>), ReloadError> {
        let config = Config::load(&self.path)?;
        let web = match &self.web {
            Some((path, _)) => Some(WebConfig::load(path)?),
            None => None,
        };
        Ok((config, web))
    }
}
