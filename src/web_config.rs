//! The exporter-toolkit web config (placeholder until the real loader lands: refuses every file).

use std::path::Path;
use std::sync::Arc;

use hyper::header::{HeaderMap, HeaderValue};

/// A parsed web config.
pub struct WebConfig {
    headers: HeaderMap,
}

/// Basic-auth users.
pub struct BasicAuth;

impl BasicAuth {
    /// True when the header carries valid credentials.
    pub fn verify(&self, _authorization: Option<&HeaderValue>) -> bool {
        false
    }

    /// The challenge for a 401.
    pub fn challenge(&self) -> &'static str {
        "Basic"
    }
}

/// Why a web config cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WebConfigError(String);

impl WebConfig {
    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        Err(WebConfigError(format!(
            "{}: web config files are not supported yet",
            path.display()
        )))
    }

    /// The TLS acceptor.
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        None
    }

    /// Basic auth.
    pub fn basic_auth(&self) -> Option<Arc<BasicAuth>> {
        None
    }

    /// Extra response headers.
    pub fn response_headers(&self) -> &HeaderMap {
        &self.headers
    }
}
