//! Log output: logfmt or JSON lines on stderr, at a chosen level.

use std::fmt;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `--log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Level {
    /// Everything, including each request to Atlas.
    Debug,
    /// Start-up, reloads and shutdown.
    #[default]
    Info,
    /// Failed polls and anything else that needs attention.
    Warn,
    /// Only what stops the exporter from working.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// `key=value` pairs.
    #[default]
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. Our own events log at `level`; the HTTP libraries under us
/// stay at `warn` unless `level` is stricter, so `debug` shows our requests, not their internals.
pub fn init(level: Level, format: Format) {
    let deps = match level {
        Level::Error => "error",
        _ => "warn",
    };
    let directives = format!(
        "{level},hyper={deps},hyper_util={deps},reqwest={deps},h2={deps},rustls={deps},diqwest={deps}"
    );
    let filter =
        EnvFilter::from_str(&directives).unwrap_or_else(|_| EnvFilter::new(level.as_str()));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        Format::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .with_span_name(false)
                    .with_span_path(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        Format::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber; nothing else to do.
    let _ = result;
}
