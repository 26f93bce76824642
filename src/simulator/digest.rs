//! Server-side HTTP Digest authentication the way Atlas does it for API keys: realm
//! `MMS Public API`, MD5, `qop="auth"`, random nonces that expire.
//!
//! Verification is genuine (RFC 7616 with MD5 and `qop=auth`):
//! `response = MD5(MD5(user:realm:pass):nonce:nc:cnonce:auth:MD5(METHOD:uri))`, where `uri` must
//! be the request-target exactly. A nonce is good for `nonce_ttl` after it was issued and may be
//! reused with increasing `nc` values (clients that cache the challenge, like diqwest's
//! `DigestAuthSession`, do so); `nc` values may arrive out of order, but `nc=0` and a repeated
//! `(nonce, nc)` pair are rejected as replays. A nonce that is expired or unknown while the digest
//! itself is right gets `stale=true`, so the client retries with the fresh nonce without treating
//! its credentials as wrong. With [`NonceReuse::RefusedStale`] or [`NonceReuse::RefusedPlain`] a
//! nonce answers one request only; its second use is refused with `stale=true` or without.
//! Nonces are 32 characters of the base64 alphabet, as Atlas' are. The nonce table is bounded
//! by age and size.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use md5::{Digest, Md5};
use tokio::time::Instant;

use super::expiring::ExpiringMap;
use super::scenario::NonceReuse;

/// Atlas' digest realm.
pub(crate) const REALM: &str = "MMS Public API";

/// How far below the highest `nc` seen on a nonce an out-of-order `nc` is still accepted.
const REPLAY_WINDOW: u32 = 4_096;
/// At most this many live nonces; the oldest go first.
const MAX_NONCES: usize = 20_000;
/// Characters of an Atlas nonce: the base64 alphabet.
const NONCE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Length of an Atlas nonce (24 random bytes in base64).
const NONCE_LEN: usize = 32;

/// The `WWW-Authenticate` value Atlas sends with every 401.
pub(crate) fn challenge(nonce: &str, stale: bool) -> String {
    format!(
        "Digest realm=\"{REALM}\", domain=\"\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\", stale={stale}"
    )
}

/// Why a digest `Authorization` header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Missing fields, bad syntax, or an unsupported algorithm/qop.
    Malformed,
    /// A realm other than ours.
    WrongRealm,
    /// `uri` differs from the request-target.
    UriMismatch,
    /// No such public key.
    UnknownUser,
    /// The response hash is wrong (wrong password, method or nonce).
    BadResponse,
    /// Right digest, but the nonce expired or was never issued (or was evicted), or it was
    /// used once already where [`NonceReuse::RefusedStale`] allows one use only.
    StaleNonce,
    /// Right digest, but the nonce was used once already ([`NonceReuse::RefusedPlain`]).
    NonceUsed,
    /// `nc` of zero, unparsable, or too far behind on this nonce.
    BadNonceCount,
    /// This `(nonce, nc)` pair was used before.
    Replayed,
}

impl Rejection {
    /// Whether the fresh challenge should say `stale=true`.
    pub(crate) fn is_stale(self) -> bool {
        self == Rejection::StaleNonce
    }
}

/// What is remembered about one live nonce: the `nc` values already used on it.
struct NonceState {
    highest_nc: u32,
    seen: BTreeSet<u32>,
}

/// The nonces we issued and the `nc` values already used on each.
pub(crate) struct NonceTable {
    ttl: Duration,
    reuse: NonceReuse,
    nonces: ExpiringMap<String, NonceState>,
}

impl NonceTable {
    pub(crate) fn new(ttl: Duration, reuse: NonceReuse) -> NonceTable {
        NonceTable {
            ttl,
            reuse,
            nonces: ExpiringMap::new(MAX_NONCES),
        }
    }

    /// Makes, records and returns a fresh random nonce.
    pub(crate) fn issue(&mut self, now: Instant) -> String {
        let nonce: String = std::iter::repeat_with(|| {
            char::from(NONCE_ALPHABET[fastrand::usize(..NONCE_ALPHABET.len())])
        })
        .take(NONCE_LEN)
        .collect();
        let state = NonceState {
            highest_nc: 0,
            seen: BTreeSet::new(),
        };
        self.nonces.insert(nonce.clone(), state, self.ttl, now);
        nonce
    }

    /// Number of nonces currently remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.nonces.len()
    }

    /// Records `(nonce, nc)` if the nonce is live and the pair is new.
    fn admit(&mut self, nonce: &str, nc: u32, now: Instant) -> Result<(), Rejection> {
        let state = self
            .nonces
            .get_mut(nonce, now)
            .ok_or(Rejection::StaleNonce)?;
        if nc == 0 || nc.saturating_add(REPLAY_WINDOW) <= state.highest_nc {
            return Err(Rejection::BadNonceCount);
        }
        if !state.seen.is_empty() {
            match self.reuse {
                NonceReuse::Allowed => {}
                NonceReuse::RefusedStale => return Err(Rejection::StaleNonce),
                NonceReuse::RefusedPlain => return Err(Rejection::NonceUsed),
            }
        }
        if !state.seen.insert(nc) {
            return Err(Rejection::Replayed);
        }
        if nc > state.highest_nc {
            state.highest_nc = nc;
            let floor = nc.saturating_sub(REPLAY_WINDOW);
            state.seen = state.seen.split_off(&floor);
        }
        Ok(())
    }
}

/// Checks a `Digest ...` Authorization value for a request; returns the public key on success.
pub(crate) fn verify(
    header: &str,
    method: &str,
    request_target: &str,
    keys: &HashMap<String, String>,
    table: &mut NonceTable,
    now: Instant,
) -> Result<String, Rejection> {
    let params = parse_params(header).ok_or(Rejection::Malformed)?;
    let field = |name: &str| params.get(name).map(String::as_str);
    let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) = (
        field("username"),
        field("realm"),
        field("nonce"),
        field("uri"),
        field("response"),
    ) else {
        return Err(Rejection::Malformed);
    };
    let (Some("auth"), Some(nc_hex), Some(cnonce)) = (field("qop"), field("nc"), field("cnonce"))
    else {
        return Err(Rejection::Malformed);
    };
    if !field("algorithm").is_none_or(|a| a.eq_ignore_ascii_case("MD5")) {
        return Err(Rejection::Malformed);
    }
    if realm != REALM {
        return Err(Rejection::WrongRealm);
    }
    if uri != request_target {
        return Err(Rejection::UriMismatch);
    }
    let password = keys.get(username).ok_or(Rejection::UnknownUser)?;
    let ha1 = md5_hex(&format!("{username}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let expected = md5_hex(&format!("{ha1}:{nonce}:{nc_hex}:{cnonce}:auth:{ha2}"));
    if !expected.eq_ignore_ascii_case(response) {
        return Err(Rejection::BadResponse);
    }
    let nc = parse_nc(nc_hex).ok_or(Rejection::BadNonceCount)?;
    table.admit(nonce, nc, now)?;
    Ok(username.to_string())
}

/// `nc` is exactly 8 hex digits.
fn parse_nc(nc: &str) -> Option<u32> {
    if nc.len() != 8 {
        return None;
    }
    u32::from_str_radix(nc, 16).ok()
}

/// Lower-case hex MD5 of a string.
pub(crate) fn md5_hex(input: &str) -> String {
    let digest = Md5::digest(input.as_bytes());
    let mut out = String::with_capacity(32);
    for byte in digest.iter() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Parses `Digest k=v, k="v", ...` into lower-case keys and unquoted values. `None` if the scheme
/// is not Digest, the syntax is broken, or a key repeats.
fn parse_params(header: &str) -> Option<HashMap<String, String>> {
    let header = header.trim_start();
    let (scheme, rest) = header.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("digest") || !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        if chars.peek().is_none() {
            return Some(params);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ',' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') || key.is_empty() {
            return None;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',' && !c.is_whitespace()) {
                value.push(c);
            }
        }
        if params.insert(key.to_ascii_lowercase(), value).is_some() {
            return None;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn keys() -> HashMap<String, String> {
        HashMap::from([("user".to_string(), "secret".to_string())])
    }

    fn authorization(nonce: &str, nc: u32, uri: &str, password: &str) -> String {
        let ha1 = md5_hex(&format!("user:{REALM}:{password}"));
        let ha2 = md5_hex(&format!("GET:{uri}"));
        let nc = format!("{nc:08x}");
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:0a4f113b:auth:{ha2}"));
        format!(
            "Digest username=\"user\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", qop=auth, nc={nc}, cnonce=\"0a4f113b\", response=\"{response}\", algorithm=MD5"
        )
    }

    #[test]
    fn md5_matches_the_rfc_1321_test_vector() {
        assert_eq!(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn parser_handles_quotes_escapes_and_rejects_duplicates() {
        let p = parse_params(r#"Digest a="x, \"y\"", b=plain,c = "z""#).unwrap();
        assert_eq!(p["a"], r#"x, "y""#);
        assert_eq!(p["b"], "plain");
        assert_eq!(p["c"], "z");
        assert!(parse_params("Digest a=1, a=2").is_none());
        assert!(parse_params("Basic abc").is_none());
        assert!(parse_params(r#"Digest a="unterminated"#).is_none());
    }

    #[test]
    fn a_nonce_accepts_out_of_order_counts_once_each() {
        let now = Instant::now();
        let mut table = NonceTable::new(Duration::from_secs(60), NonceReuse::Allowed);
        let nonce = table.issue(now);
        let check = |table: &mut NonceTable, nc| {
            verify(
                &authorization(&nonce, nc, "/x?a=1", "secret"),
                "GET",
                "/x?a=1",
                &keys(),
                table,
                now,
            )
        };
        assert!(check(&mut table, 3).is_ok());
        assert!(check(&mut table, 1).is_ok());
        assert!(check(&mut table, 2).is_ok());
        assert_eq!(check(&mut table, 2), Err(Rejection::Replayed));
        assert_eq!(check(&mut table, 0), Err(Rejection::BadNonceCount));
    }

    #[test]
    fn wrong_password_uri_or_unknown_nonce_are_told_apart() {
        let now = Instant::now();
        let mut table = NonceTable::new(Duration::from_secs(60), NonceReuse::Allowed);
        let nonce = table.issue(now);
        let wrong = authorization(&nonce, 1, "/x", "nope");
        assert_eq!(
            verify(&wrong, "GET", "/x", &keys(), &mut table, now),
            Err(Rejection::BadResponse)
        );
        let good = authorization(&nonce, 1, "/x", "secret");
        assert_eq!(
            verify(&good, "GET", "/y", &keys(), &mut table, now),
            Err(Rejection::UriMismatch)
        );
        assert_eq!(
            verify(&good, "POST", "/x", &keys(), &mut table, now),
            Err(Rejection::BadResponse)
        );
        let unknown = authorization("never-issued", 1, "/x", "secret");
        assert_eq!(
            verify(&unknown, "GET", "/x", &keys(), &mut table, now),
            Err(Rejection::StaleNonce)
        );
    }

    #[test]
    fn expired_nonces_are_stale_and_purged() {
        let start = Instant::now();
        let mut table = NonceTable::new(Duration::from_secs(1), NonceReuse::Allowed);
        let nonce = table.issue(start);
        let later = start + Duration::from_secs(2);
        let header = authorization(&nonce, 1, "/x", "secret");
        assert_eq!(
            verify(&header, "GET", "/x", &keys(), &mut table, later),
            Err(Rejection::StaleNonce)
        );
        table.issue(later);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_single_use_nonce_is_refused_on_its_second_use_stale_or_not() {
        let now = Instant::now();
        for (reuse, second) in [
            (NonceReuse::RefusedStale, Rejection::StaleNonce),
            (NonceReuse::RefusedPlain, Rejection::NonceUsed),
        ] {
            let mut table = NonceTable::new(Duration::from_secs(60), reuse);
            let nonce = table.issue(now);
            assert!(table.admit(&nonce, 1, now).is_ok());
            assert_eq!(table.admit(&nonce, 2, now), Err(second));
            assert_eq!(second.is_stale(), reuse == NonceReuse::RefusedStale);
        }
    }

    #[test]
    fn nonces_look_like_atlas_ones() {
        let mut table = NonceTable::new(Duration::from_secs(60), NonceReuse::Allowed);
        let nonce = table.issue(Instant::now());
        assert_eq!(nonce.len(), 32);
        assert!(
            nonce.bytes().all(|b| NONCE_ALPHABET.contains(&b)),
            "{nonce}"
        );
    }

    #[test]
    fn counts_far_behind_the_highest_are_refused() {
        let now = Instant::now();
        let mut table = NonceTable::new(Duration::from_secs(60), NonceReuse::Allowed);
        let nonce = table.issue(now);
        assert!(table.admit(&nonce, REPLAY_WINDOW + 10, now).is_ok());
        assert_eq!(table.admit(&nonce, 5, now), Err(Rejection::BadNonceCount));
        assert!(table.admit(&nonce, 20, now).is_ok());
    }
}
