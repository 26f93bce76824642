//! HTTP Digest authentication for API keys, in two modes per host.
//!
//! - **Reuse** (the start): after one challenge, later requests answer the cached nonce with an
//!   increasing `nc`, as diqwest's [`DigestAuthSession`] does: one request per call.
//! - **Fresh**: the server refused a reused nonce, so every call asks for its own challenge, as
//!   MongoDB's Go clients always do: two requests per call (challenge, answer), never three.
//!
//! Refusal is a 401 on the first reuse of a nonce followed by success on the fresh nonce that
//! 401 carried. A nonce that was reused successfully and is later refused has merely expired:
//! that keeps the reuse mode. Fresh mode lasts [`RETRY_REUSE_AFTER`]; then reuse is tried again.
//! Whichever the mode, a 401 is answered from its own challenge, so a refused nonce costs one
//! request more than it would have anyway, not two.
//!
//! A final 401 (the answer to the server's newest nonce refused, or a 401 that asks for no new
//! authentication) never drops the host's cached nonce: the nonce is shared by every cluster on
//! the host, and the 401 may be about one project only (Atlas answers 401 for a project the key
//! is not a member of). Dropping it would buy nothing even for a wrong key: the next call's
//! refused reuse carries the next challenge, two requests a call either way.
//!
//! Digest itself (parsing challenges, computing answers) is diqwest's and `digest_auth`'s: this
//! module only decides which nonce to answer and when to send no `Authorization` at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use diqwest::{DigestAuthCredentials, DigestAuthSession};
use jiff::Timestamp;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode, Url};
use url::Position;

use super::observer::RequestObserver;
use crate::clock::{Clock, SystemClock};
use crate::secret::Secret;

/// How long a host that refused a reused nonce gets a fresh challenge per request.
pub const RETRY_REUSE_AFTER: Duration = Duration::from_secs(3600);

/// What a failed send went wrong on: diqwest's error type, which carries reqwest's.
pub(crate) type SendError = diqwest::error::Error;

/// How requests to one host are authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Answer the cached nonce. `proven` once a reuse of the current nonce was accepted.
    Reuse { proven: bool },
    /// No reuse: a fresh challenge per request until `until`.
    Fresh { until: Timestamp },
}

/// Digest credentials with a per-host choice between nonce reuse and a fresh challenge.
pub(crate) struct DigestAuth {
    public_key: String,
    private_key: Secret,
    /// The nonce cache of the reuse mode.
    session: DigestAuthSession,
    modes: Mutex<HashMap<String, Mode>>,
    clock: Arc<dyn Clock>,
}

impl DigestAuth {
    /// Credentials for `public_key`/`private_key`, starting in the reuse mode for every host.
    pub(crate) fn new(public_key: &str, private_key: &Secret) -> DigestAuth {
        DigestAuth {
            public_key: public_key.to_string(),
            private_key: private_key.clone(),
            session: DigestAuthSession::new(public_key, private_key.expose()),
            modes: Mutex::new(HashMap::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Measures the fresh mode's hour against `clock` instead of the system clock.
    pub(crate) fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// Forgets the cached nonce of `host`, once the host refused to let it be reused.
    fn forget(&self, host: &str) {
        let _ = self.session.invalidate_host(host);
    }

    /// Sends one authenticated GET of `url`. Reports every challenge answered to `observer`.
    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        url: &Url,
        accept: &'static str,
        observer: &dyn RequestObserver,
    ) -> Result<Response, SendError> {
        let host = url.host_str().ok_or(SendError::MissingHost)?;
        let path = &url[Position::AfterPort..];
        let request = |authorization: Option<HeaderValue>| {
            let builder = http.get(url.clone()).header(ACCEPT, accept);
            match authorization {
                Some(value) => builder.header(AUTHORIZATION, value),
                None => builder,
            }
        };
        let mode = self.mode(host);
        let cached =
            matches!(mode, Mode::Reuse { .. }) && (&self.session).cached_context(host)?.is_some();

        if !cached {
            let first = request(None).send().await?;
            if !is_challenge(&first) {
                return Ok(first);
            }
            let answer = match mode {
                Mode::Reuse { .. } => {
                    self.store(host, first.headers())?;
                    self.answer_cached(host, path)?
                }
                Mode::Fresh { .. } => self.answer_fresh(host, path, first.headers())?,
            };
            observer.challenge_answered();
            let response = request(Some(answer)).send().await?;
            if response.status() != StatusCode::UNAUTHORIZED
                && let Mode::Reuse { .. } = mode
            {
                self.set_mode(host, Mode::Reuse { proven: false });
            }
            return Ok(response);
        }

        let reused = request(Some(self.answer_cached(host, path)?))
            .send()
            .await?;
        if reused.status() != StatusCode::UNAUTHORIZED {
            self.set_mode(host, Mode::Reuse { proven: true });
            return Ok(reused);
        }
        if !is_challenge(&reused) {
            // No new nonce asked for: a refusal of this resource, not of the nonce.
            return Ok(reused);
        }
        // The new challenge replaces the cached nonce: it is the host's newest, good for every
        // cluster whatever this request's answer turns out to be.
        self.store(host, reused.headers())?;
        let answer = self.answer_cached(host, path)?;
        observer.challenge_answered();
        let response = request(Some(answer)).send().await?;
        // Refused with the newest nonce too: the key may not read this resource (or is wrong),
        // which says nothing about nonce reuse; the mode and the nonce stay as they are.
        if response.status() == StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        if mode == (Mode::Reuse { proven: false }) {
            self.refused(host);
        } else {
            // A nonce that served several requests expired: reuse the new one.
            self.set_mode(host, Mode::Reuse { proven: false });
        }
        Ok(response)
    }

    /// The mode of `host`; a fresh mode past its hour turns back into an unproven reuse.
    fn mode(&self, host: &str) -> Mode {
        let now = self.clock.now();
        let mut modes = self.modes();
        let mode = modes
            .entry(host.to_string())
            .or_insert(Mode::Reuse { proven: false });
        if let Mode::Fresh { until } = *mode
            && now >= until
        {
            tracing::debug!(host, "trying digest nonce reuse again");
            *mode = Mode::Reuse { proven: false };
        }
        *mode
    }

    fn set_mode(&self, host: &str, mode: Mode) {
        self.modes().insert(host.to_string(), mode);
    }

    /// The host refused a reused nonce: a fresh challenge per request for a while.
    fn refused(&self, host: &str) {
        let until = self
            .clock
            .now()
            .checked_add(RETRY_REUSE_AFTER)
            .unwrap_or(Timestamp::MAX);
        tracing::info!(
            host,
            retry_after_secs = RETRY_REUSE_AFTER.as_secs(),
            "the Atlas API refused a reused digest nonce; asking for a fresh challenge per request"
        );
        self.set_mode(host, Mode::Fresh { until });
        self.forget(host);
    }

    fn modes(&self) -> MutexGuard<'_, HashMap<String, Mode>> {
        // The map holds plain values that no panic can leave half-written.
        self.modes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Caches the challenge of a 401 for the reuse mode.
    fn store(&self, host: &str, headers: &HeaderMap) -> Result<(), SendError> {
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .ok_or(SendError::AuthHeaderMissing)?
            .to_str()?;
        (&self.session).store_context(host, challenge)
    }

    /// An answer to the cached nonce, with the next `nc`.
    fn answer_cached(&self, host: &str, path: &str) -> Result<HeaderValue, SendError> {
        let answer = (&self.session).calculate_authorization(
            host,
            path,
            "GET".into(),
            None,
            &HeaderMap::new(),
        )?;
        Ok(HeaderValue::from_str(&answer.to_header_string())?)
    }

    /// An answer to the challenge in `headers`, cached nowhere.
    fn answer_fresh(
        &self,
        host: &str,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<HeaderValue, SendError> {
        let credentials = (self.public_key.as_str(), self.private_key.expose());
        let answer =
            credentials.calculate_authorization(host, path, "GET".into(), None, headers)?;
        Ok(HeaderValue::from_str(&answer.to_header_string())?)
    }
}

/// A 401 with a digest challenge to answer.
fn is_challenge(response: &Response) -> bool {
    response.status() == StatusCode::UNAUTHORIZED
        && response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .get(..6)
                    .is_some_and(|s| s.eq_ignore_ascii_case("digest"))
            })
}
