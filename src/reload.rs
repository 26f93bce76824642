//! Config reloads, on SIGHUP or `POST /-/reload`: validate the file again and hand the new
//! config to the poller. A bad file changes nothing but the reload-status metrics.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::state::ReloadStatus;

/// Reloads one config file into the running poller.
pub struct Reloader {
    path: PathBuf,
    configs: watch::Sender<Arc<Config>>,
    status: Arc<ArcSwap<ReloadStatus>>,
    clock: Arc<dyn Clock>,
}

impl Reloader {
    /// A reloader for `path`; the poller listens on the receiver of `configs`.
    pub fn new(
        path: PathBuf,
        configs: watch::Sender<Arc<Config>>,
        status: Arc<ArcSwap<ReloadStatus>>,
        clock: Arc<dyn Clock>,
    ) -> Reloader {
        Reloader {
            path,
            configs,
            status,
            clock,
        }
    }

    /// Loads the file again. On success the poller applies it between cycles and polls at
    /// once; on failure the running config stays and the error is returned and logged.
    pub fn reload(&self) -> Result<(), ConfigError> {
        match Config::load(&self.path) {
            Ok(config) => {
                self.status.store(Arc::new(ReloadStatus {
                    successful: true,
                    last_success: self.clock.now(),
                }));
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
                tracing::error!(file = %self.path.display(), error = %e, "config reload failed; keeping the running config");
                Err(e)
            }
        }
    }
}
