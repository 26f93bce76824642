//! The `--web.config.file`: TLS, basic auth and extra response headers for the exporter's own
//! HTTP endpoints, in the Prometheus exporter-toolkit web configuration format
//! (`docs/web-configuration.md` in `prometheus/exporter-toolkit`).
//!
//! [`WebConfig::load`] reads the YAML file, validates every key and loads the certificates, keys
//! and password hashes at once, so that a bad file stops the exporter at startup instead of at the
//! first request. The HTTP server then asks for the parts it needs:
//!
//! - [`WebConfig::tls_acceptor`]: a [`tokio_rustls::TlsAcceptor`] when `tls_server_config` is set;
//! - [`WebConfig::basic_auth`]: a [`BasicAuth`] checker when `basic_auth_users` is non-empty;
//! - [`WebConfig::response_headers`]: the headers from `http_server_config.headers`.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths are relative to this file's directory
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12
//! http_server_config:
//!   headers:
//!     X-Frame-Options: deny
//! basic_auth_users:
//!   prometheus: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG
//! ```
//!
//! Where this differs from exporter-toolkit, it is stricter, never weaker:
//!
//! - Unknown keys, and settings that rustls cannot honour (`TLS10`/`TLS11`, `CurveP521`, the CBC
//!   and RSA-key-exchange cipher suites, `rate_limit`), are errors instead of being dropped.
//! - Setting both `cert` and `cert_file` (or `key`/`key_file`, `client_ca`/`client_ca_file`) is
//!   an error; exporter-toolkit silently prefers the file.
//! - Any key set in `tls_server_config` turns TLS on, so a file with a `min_version` but no
//!   certificate is an error instead of plain HTTP; an empty `cert_file: ""` is an error too.
//! - `client_allowed_sans: []` is an error: it would reject every client.
//! - TLS 1.3 cipher suites named in `cipher_suites` restrict TLS 1.3 too (Go cannot configure
//!   them and ignores them); a list naming no TLS 1.3 suite leaves TLS 1.3 at its defaults, as in
//!   Go.
//! - Certificates are loaded once, at [`WebConfig::load`]; exporter-toolkit rereads the file on
//!   every handshake. A reload (`SIGHUP` or `POST /-/reload`) rereads the file, so renewed
//!   certificates apply to new connections.
//! - `http_server_config.http2` is accepted and reported by [`WebConfig::http2`], but the server
//!   speaks HTTP/1.1 only and TLS offers ALPN `http/1.1` only.

mod basic_auth;
mod client_cert;
mod error;
mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::small_file::{self, ReadError};

use error::Source;

pub use basic_auth::BasicAuth;
pub use client_cert::ClientAuthType;
pub use error::WebConfigError;

/// A validated web config: what the HTTP server needs to serve TLS, check basic auth and add
/// response headers. [`Default`] is the empty file: plain HTTP, no auth, no extra headers.
#[derive(Clone, Default)]
pub struct WebConfig {
    tls: Option<Arc<rustls::ServerConfig>>,
    client_auth: ClientAuthType,
    basic_auth: Option<Arc<BasicAuth>>,
    headers: HeaderMap,
    http2: bool,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hand-written so that no key material or password hash can reach a log line.
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("client_auth", &self.client_auth)
            .field("basic_auth", &self.basic_auth)
            .field("headers", &self.headers)
            .field("http2", &self.http2)
            .finish()
    }
}

impl WebConfig {
    /// Reads and validates the YAML file; loads certificates, keys and password hashes now so
    /// that errors surface at startup. Relative file names in `tls_server_config` are resolved
    /// against the directory of `path`, as exporter-toolkit does.
    ///
    /// With `basic_auth_users`, this computes one bcrypt hash at the highest configured cost
    /// (the decoy for unknown users, see [`BasicAuth`]): at cost 10, tens of milliseconds.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let source = Source::new(path);
        let text = small_file::read_to_string(path).map_err(|e| match e {
            ReadError::Io(error) => WebConfigError::Read {
                file: source.file.clone(),
                error,
            },
            ReadError::TooLarge(size) => WebConfigError::TooLarge {
                file: source.file.clone(),
                size,
            },
        })?;
        Self::from_yaml(&source, &text)
    }

    fn from_yaml(source: &Source, text: &str) -> Result<WebConfig, WebConfigError> {
        // An empty document (or one holding only comments) is null: no TLS, no auth.
        let raw: Option<RawWebConfig> =
            serde_yaml::from_str(text).map_err(|error| WebConfigError::Syntax {
                file: source.file.clone(),
                message: error.to_string(),
            })?;
        let raw = raw.unwrap_or_default();

        if raw.rate_limit.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(source.unsupported(
                "rate_limit",
                "rate limiting is not supported by atlas-snapshot-exporter; \
                 put a rate-limiting reverse proxy in front of it",
            ));
        }
        let http = raw.http_server_config.unwrap_or_default();
        let headers = response_headers(source, http.headers.unwrap_or_default())?;
        let basic_auth = basic_auth::BasicAuth::from_yaml(source, raw.basic_auth_users)?;
        let tls = match raw.tls_server_config {
            Some(raw_tls) => tls::build(source, raw_tls)?,
            None => None,
        };
        let (tls, client_auth) = match tls {
            Some((config, client_auth)) => (Some(config), client_auth),
            None => (None, ClientAuthType::NoClientCert),
        };
        Ok(WebConfig {
            tls,
            client_auth,
            basic_auth: basic_auth.map(Arc::new),
            headers,
            http2: http.http2.unwrap_or(true),
        })
    }

    /// The TLS acceptor, when `tls_server_config` is present. It offers ALPN `http/1.1` only;
    /// a handshake error (including a rejected client certificate) comes back from
    /// [`tokio_rustls::TlsAcceptor::accept`] as an `io::Error` for the caller to log.
    pub fn tls_acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.tls.clone().map(tokio_rustls::TlsAcceptor::from)
    }

    /// The rustls server configuration behind [`WebConfig::tls_acceptor`], for callers that
    /// drive rustls themselves.
    pub fn tls_server_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.clone()
    }

    /// The configured `client_auth_type` (`NoClientCert` without TLS), for the startup log line.
    pub fn client_auth(&self) -> ClientAuthType {
        self.client_auth
    }

    /// The basic-auth checker, when `basic_auth_users` is non-empty.
    pub fn basic_auth(&self) -> Option<Arc<BasicAuth>> {
        self.basic_auth.clone()
    }

    /// Extra response headers from `http_server_config.headers`, to add to every response.
    /// Only the five headers exporter-toolkit allows can be here; blank values are left out.
    pub fn response_headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// `http_server_config.http2` (default true). Informational only: the server speaks
    /// HTTP/1.1, so a caller may log that HTTP/2 was asked for and is not served.
    pub fn http2(&self) -> bool {
        self.http2
    }
}

/// The file as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a map with tls_server_config, http_server_config or basic_auth_users"
)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<tls::RawTlsServerConfig>,
    #[serde(default)]
    http_server_config: Option<RawHttpServerConfig>,
    // Read as a YAML value and checked by hand, so that no parser message can quote a hash.
    #[serde(default)]
    basic_auth_users: Option<serde_yaml::Value>,
    // Known to exporter-toolkit; rejected with its own message.
    #[serde(default)]
    rate_limit: Option<serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map with http2 or headers")]
struct RawHttpServerConfig {
    #[serde(default)]
    http2: Option<bool>,
    #[serde(default)]
    headers: Option<BTreeMap<String, Option<String>>>,
}

/// The headers exporter-toolkit lets a user set, with the values it allows (none: any value).
const ALLOWED_HEADERS: &[(&str, &str, &[&str])] = &[
    ("Content-Security-Policy", "content-security-policy", &[]),
    (
        "Strict-Transport-Security",
        "strict-transport-security",
        &[],
    ),
    (
        "X-Content-Type-Options",
        "x-content-type-options",
        &["nosniff"],
    ),
    (
        "X-Frame-Options",
        "x-frame-options",
        &["deny", "sameorigin"],
    ),
    ("X-XSS-Protection", "x-xss-protection", &[]),
];

fn response_headers(
    source: &Source,
    headers: BTreeMap<String, Option<String>>,
) -> Result<HeaderMap, WebConfigError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let key = format!("http_server_config.headers.{name}");
        // Exact spelling, as exporter-toolkit compares map keys exactly.
        let Some((_, lower, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _, _)| *n == name) else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _, _)| *n).collect();
            return Err(source.invalid(
                key,
                format!(
                    "this header cannot be configured; allowed: {}",
                    names.join(", ")
                ),
            ));
        };
        // Blank means unset, as in exporter-toolkit.
        let value = value.unwrap_or_default();
        if value.is_empty() {
            continue;
        }
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(source.invalid(
                key,
                format!(
                    "invalid value {value:?}; expected one of: {}",
                    allowed.join(", ")
                ),
            ));
        }
        let header_value = HeaderValue::from_str(&value).map_err(|_| {
            source.invalid(
                key.clone(),
                "invalid header value: only visible ASCII, spaces and tabs are allowed",
            )
        })?;
        map.insert(HeaderName::from_static(lower), header_value);
    }
    Ok(map)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<WebConfig, WebConfigError> {
        WebConfig::from_yaml(&Source::new(Path::new("web.yml")), yaml)
    }

    fn message(yaml: &str) -> String {
        match parse(yaml) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_file_with_only_comments_means_plain_http_without_auth() {
        let config = parse("# nothing here\n").unwrap();
        assert!(config.tls_acceptor().is_none());
        assert!(config.basic_auth().is_none());
        assert!(config.response_headers().is_empty());
        assert!(config.http2());
    }

    #[test]
    fn null_sections_are_the_same_as_absent_ones() {
        let config =
            parse("tls_server_config:\nhttp_server_config:\nbasic_auth_users:\nrate_limit:\n")
                .unwrap();
        assert!(config.tls_acceptor().is_none());
        assert!(config.basic_auth().is_none());
    }

    #[test]
    fn allowed_headers_are_returned_under_their_names_and_blank_ones_are_left_out() {
        let config = parse(
            "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    \
             X-Content-Type-Options: nosniff\n    Content-Security-Policy: \"default-src 'self'\"\n    \
             X-XSS-Protection: \"\"\n    Strict-Transport-Security:\n",
        )
        .unwrap();
        let headers = config.response_headers();
        assert_eq!(headers.len(), 3);
        assert_eq!(headers["x-frame-options"], "deny");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["content-security-policy"], "default-src 'self'");
        assert!(!config.http2());
    }

    #[test]
    fn a_header_value_outside_the_allowed_set_is_refused_with_the_choices() {
        assert_eq!(
            message("http_server_config:\n  headers:\n    X-Frame-Options: allow-from\n"),
            "web.yml: http_server_config.headers.X-Frame-Options: invalid value \"allow-from\"; \
             expected one of: deny, sameorigin"
        );
    }

    #[test]
    fn a_header_value_with_a_control_character_is_refused() {
        assert_eq!(
            message("http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\nb\"\n"),
            "web.yml: http_server_config.headers.Content-Security-Policy: invalid header value: \
             only visible ASCII, spaces and tabs are allowed"
        );
    }

    #[test]
    fn rate_limit_is_refused_instead_of_ignored() {
        assert_eq!(
            message("rate_limit:\n  interval: 1s\n  burst: 10\n"),
            "web.yml: rate_limit: rate limiting is not supported by atlas-snapshot-exporter; \
             put a rate-limiting reverse proxy in front of it"
        );
    }
}
