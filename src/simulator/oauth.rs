//! OAuth2 client credentials for service accounts, as Atlas does it: `POST /api/oauth/token`
//! with `Authorization: Basic base64(id:secret)` and a form body `grant_type=client_credentials`
//! returns a bearer token valid for `token_ttl`; `POST /api/oauth/revoke` forgets one. Tokens are
//! opaque random JWT-looking strings; the table of live tokens is bounded by expiry and size.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::json;
use tokio::time::Instant;

use super::errors::{Resp, bytes_response, json_response};
use super::expiring::ExpiringMap;
use super::query::Query;

/// At most this many live tokens; the oldest go first.
const MAX_TOKENS: usize = 20_000;

/// Issued bearer tokens that have not expired or been revoked.
pub(crate) struct TokenTable {
    ttl: Duration,
    live: ExpiringMap<String, ()>,
}

impl TokenTable {
    pub(crate) fn new(ttl: Duration) -> TokenTable {
        TokenTable {
            ttl,
            live: ExpiringMap::new(MAX_TOKENS),
        }
    }

    /// Makes and records a token for `client_id`.
    fn issue(&mut self, client_id: &str, now: Instant) -> String {
        let issued_at = jiff::Timestamp::now().as_second();
        let header =
            URL_SAFE_NO_PAD.encode(r#"{"alg":"ES512","typ":"JWT","kid":"atlas-simulator"}"#);
        let claims = json!({
            "iss": "atlas-simulator",
            "aud": "api://admin",
            "sub": client_id,
            "cid": client_id,
            "iat": issued_at,
            "exp": issued_at.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)),
            "jti": random_string(32),
        });
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signature = URL_SAFE_NO_PAD.encode(random_string(96));
        let token = format!("{header}.{payload}.{signature}");
        self.live.insert(token.clone(), (), self.ttl, now);
        token
    }

    /// Whether `token` was issued and has not expired or been revoked.
    pub(crate) fn is_valid(&self, token: &str, now: Instant) -> bool {
        self.live.get(token, now).is_some()
    }

    fn revoke(&mut self, token: &str) {
        self.live.remove(token);
    }
}

fn random_string(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(len)
        .collect()
}

/// `(id, secret)` from an `Authorization: Basic ...` value.
fn basic_credentials(header: Option<&str>) -> Option<(String, String)> {
    let header = header?.trim();
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// An OAuth error: `{"error", "error_description"}`, not Atlas' `ApiError`.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: &'static str) -> OAuthError {
        OAuthError {
            status,
            error,
            description,
        }
    }

    fn into_response(self) -> Resp {
        json_response(
            self.status,
            "application/json",
            &json!({"error": self.error, "error_description": self.description}),
            false,
        )
    }
}

/// What the token endpoint needs from a request.
pub(crate) struct TokenRequest<'a> {
    pub(crate) authorization: Option<&'a str>,
    pub(crate) content_type: Option<&'a str>,
    pub(crate) body: &'a [u8],
}

fn authenticate_client(
    request: &TokenRequest<'_>,
    accounts: &HashMap<String, String>,
) -> Result<String, OAuthError> {
    let invalid = || {
        OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid credentials provided.",
        )
    };
    let (id, secret) = basic_credentials(request.authorization).ok_or_else(invalid)?;
    match accounts.get(&id) {
        Some(expected) if *expected == secret => Ok(id),
        _ => Err(invalid()),
    }
}

fn form(request: &TokenRequest<'_>) -> Result<Query, OAuthError> {
    let is_form = request.content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !is_form {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded.",
        ));
    }
    Ok(Query::parse(&String::from_utf8_lossy(request.body)))
}

/// `POST /api/oauth/token`.
pub(crate) fn token(
    request: &TokenRequest<'_>,
    accounts: &HashMap<String, String>,
    tokens: &mut TokenTable,
    now: Instant,
) -> Resp {
    issue_token(request, accounts, tokens, now).unwrap_or_else(OAuthError::into_response)
}

fn issue_token(
    request: &TokenRequest<'_>,
    accounts: &HashMap<String, String>,
    tokens: &mut TokenTable,
    now: Instant,
) -> Result<Resp, OAuthError> {
    let client_id = authenticate_client(request, accounts)?;
    match form(request)?.get("grant_type") {
        Some("client_credentials") => {}
        None => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant_type.",
            ));
        }
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only the client_credentials grant is supported.",
            ));
        }
    }
    let access_token = tokens.issue(&client_id, now);
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        &json!({
            "access_token": access_token,
            "expires_in": tokens.ttl.as_secs(),
            "token_type": "Bearer",
        }),
        false,
    ))
}

/// `POST /api/oauth/revoke`: 200 with no body, whether or not the token was live.
pub(crate) fn revoke(
    request: &TokenRequest<'_>,
    accounts: &HashMap<String, String>,
    tokens: &mut TokenTable,
) -> Resp {
    revoke_token(request, accounts, tokens).unwrap_or_else(OAuthError::into_response)
}

fn revoke_token(
    request: &TokenRequest<'_>,
    accounts: &HashMap<String, String>,
    tokens: &mut TokenTable,
) -> Result<Resp, OAuthError> {
    authenticate_client(request, accounts)?;
    let form = form(request)?;
    let token = form.get("token").ok_or(OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Missing token.",
    ))?;
    tokens.revoke(token);
    Ok(bytes_response(
        StatusCode::OK,
        "application/json",
        Bytes::new(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode_and_split_at_the_first_colon() {
        let header = format!("Basic {}", STANDARD.encode("id:sec:ret"));
        assert_eq!(
            basic_credentials(Some(&header)),
            Some(("id".to_string(), "sec:ret".to_string()))
        );
        assert_eq!(basic_credentials(Some("Bearer abc")), None);
        assert_eq!(basic_credentials(Some("Basic !!!")), None);
        assert_eq!(basic_credentials(None), None);
    }

    #[test]
    fn tokens_expire_and_can_be_revoked() {
        let start = Instant::now();
        let mut table = TokenTable::new(Duration::from_secs(10));
        let token = table.issue("id", start);
        assert_eq!(token.split('.').count(), 3);
        assert!(table.is_valid(&token, start));
        assert!(!table.is_valid(&token, start + Duration::from_secs(10)));
        let other = table.issue("id", start);
        table.revoke(&other);
        assert!(!table.is_valid(&other, start));
        assert!(!table.is_valid("unknown", start));
    }
}
