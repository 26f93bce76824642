//! Service-account authentication: the OAuth2 client-credentials flow.
//!
//! One token is fetched, reused until shortly before it expires (Atlas issues them for an hour
//! and asks clients not to fetch one per request), and replaced once if the API rejects it.

use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::endpoint::Operation;
use super::error::{ApiErrorBody, AtlasError};
use super::observer::RequestObserver;
use crate::secret::Secret;

/// A token is replaced this long before Atlas says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Fetches and caches access tokens for one service account.
pub(crate) struct TokenSource {
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    timeout: Duration,
    cached: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenSource {
    pub(crate) fn new(
        base_url: &Url,
        client_id: &str,
        client_secret: Secret,
        timeout: Duration,
    ) -> Result<TokenSource, AtlasError> {
        let mut token_url = base_url.clone();
        token_url
            .path_segments_mut()
            .map_err(|()| AtlasError::Internal("base_url cannot be a base".into()))?
            .pop_if_empty()
            .extend(["api", "oauth", "token"]);
        Ok(TokenSource {
            token_url,
            client_id: client_id.to_owned(),
            client_secret,
            timeout,
            cached: Mutex::new(None),
        })
    }

    /// A valid access token, fetching a new one when none is cached or it is about to expire.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        observer: &dyn RequestObserver,
    ) -> Result<Secret, AtlasError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.token.clone());
        }
        let fresh = self.fetch(http, observer).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token so that the next call fetches a new one.
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        observer: &dyn RequestObserver,
    ) -> Result<CachedToken, AtlasError> {
        let started = Instant::now();
        let sent = http
            .post(self.token_url.clone())
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await;
        let timeout = self.timeout;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                observer.observe(Operation::OauthToken, None, started.elapsed());
                return Err(AtlasError::from_reqwest(&e, timeout));
            }
        };
        let status = response.status();
        let body = response.bytes().await;
        observer.observe(
            Operation::OauthToken,
            Some(status.as_u16()),
            started.elapsed(),
        );
        let body = body.map_err(|e| AtlasError::from_reqwest(&e, timeout))?;
        if !status.is_success() {
            return Err(AtlasError::Status {
                status: status.as_u16(),
                body: oauth_error(&body),
                retry_after: None,
            });
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| AtlasError::Decode(format!("token response: {e}")))?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        Ok(CachedToken {
            token: Secret::new(parsed.access_token),
            refresh_at: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        })
    }
}

/// The token endpoint speaks OAuth2 errors (`error`, `error_description`), not Atlas' `ApiError`:
/// map them onto the same fields so they log the same way.
fn oauth_error(body: &[u8]) -> Option<Box<ApiErrorBody>> {
    if let Some(b) = ApiErrorBody::parse(body) {
        return Some(b);
    }
    let e: OAuthErrorBody = serde_json::from_slice(body).ok()?;
    Some(Box::new(
        ApiErrorBody {
            error_code: e.error,
            detail: e.error_description,
            ..ApiErrorBody::default()
        }
        .bounded(),
    ))
}
