//! `basic_auth_users`: HTTP basic authentication against bcrypt hashes, as exporter-toolkit does
//! it, with a bounded cache of successful checks so that a scrape every 15 s does not pay for
//! bcrypt each time, and budgets that keep a flood of wrong passwords from costing more than a
//! few bcrypt comparisons at a time or delaying another user's login.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use hyper::header::HeaderValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use super::error::{Source, WebConfigError};

/// The `WWW-Authenticate` value sent with a 401.
const CHALLENGE: &str = "Basic realm=\"atlas-snapshot-exporter\", charset=\"UTF-8\"";

/// Successful checks remembered at most; the oldest is forgotten first. There is one right
/// password per user, so this only fills up if someone who knows a password varies it past
/// bcrypt's 72-byte limit.
const CACHE_CAPACITY: usize = 256;

/// The password behind the decoy hash. It does not matter that it is known: a check against the
/// decoy fails whatever it returns, since the user does not exist.
const DECOY_PASSWORD: &[u8] = b"atlas-snapshot-exporter: no such user";

/// Uncached checks of one configured user that may be under way at once (waiting for bcrypt or
/// running it). Further ones for that user are refused at once, without bcrypt.
pub const CHECKS_PER_USER: usize = 2;

/// Uncached checks of user names that are not configured, all together, that may be under way
/// at once.
pub const CHECKS_FOR_UNKNOWN_USERS: usize = 2;

/// bcrypt comparisons running at once, whoever asked: each holds a thread of tokio's blocking
/// pool (512 threads) and a core, so reloads and other blocking work always find a thread.
pub const CONCURRENT_BCRYPT: usize = 2;

/// Checks `Authorization: Basic ...` headers against `basic_auth_users`.
///
/// # Cost
///
/// A credential that was verified before is answered from a cache in well under a microsecond,
/// and never waits for anything. Anything else costs one bcrypt comparison at the hash's cost
/// (about 70 ms at cost 10, the usual `htpasswd -B` setting, and doubling with each step). So on
/// a tokio runtime call [`BasicAuth::verify_async`], which answers cache hits at once and moves
/// misses to [`tokio::task::spawn_blocking`]; call [`BasicAuth::verify`] directly only from a
/// thread that may block.
///
/// # Budgets
///
/// A flood of wrong passwords must neither fill the blocking pool nor make an honest user's
/// first login wait behind it. So each configured user may have [`CHECKS_PER_USER`] uncached
/// checks under way, the names that are not configured [`CHECKS_FOR_UNKNOWN_USERS`] together,
/// and a check beyond its budget is refused at once, without bcrypt (the client may try again
/// when the flood is over; its cached successes still pass). Checks within their budgets then
/// take turns, first come first served, for [`CONCURRENT_BCRYPT`] comparisons at a time. The
/// queue therefore holds at most a few checks per user, and another user's first login waits
/// for a handful of comparisons, not for the flood. [`BasicAuth::verify`] keeps to the budgets
/// too, but runs its comparison on the caller's thread, outside the turns.
///
/// # Timing
///
/// A user name that is not configured is still compared, against a decoy hash made at load time
/// with the highest cost among the configured hashes, so an unknown user takes as long as a
/// known one with a wrong password. (With mixed costs, the time still tells which cost a name
/// would have; keep one cost for all users. And while a flood spends the unknown names' budget,
/// such names are refused at once where a configured name is still compared, so that time can
/// tell a configured name from another: treat user names as known, passwords as the secret.)
/// Only successes are cached, keyed by an HMAC of
/// user and password under a key drawn when the config is loaded: the cache never holds a
/// password, and a stream of wrong passwords cannot evict the right ones.
pub struct BasicAuth {
    users: BTreeMap<String, User>,
    decoy_hash: String,
    /// The budget of every name that is not configured.
    unknown_budget: Arc<Semaphore>,
    /// Turns at bcrypt, [`CONCURRENT_BCRYPT`] at a time, handed out first come first served.
    bcrypt_turns: Arc<Semaphore>,
    cache_key: hmac::Key,
    verified: Mutex<VerifiedCache>,
    bcrypt_comparisons: AtomicU64,
    refused_over_budget: AtomicU64,
}

/// A configured user: the hash, and the budget of uncached checks under way.
struct User {
    hash: String,
    budget: Arc<Semaphore>,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // User names only: the hashes stay out of logs.
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A parsed `Authorization` header. The password bytes are wiped when dropped.
struct Credential {
    user: String,
    password: Zeroizing<Vec<u8>>,
    tag: [u8; 32],
}

/// What can be said without running bcrypt.
enum Quick {
    Known(bool),
    NeedsBcrypt(Credential),
}

impl BasicAuth {
    /// Builds the checker from `basic_auth_users`; `None` when the map is absent or empty.
    pub(super) fn from_yaml(
        source: &Source,
        value: Option<serde_yaml::Value>,
    ) -> Result<Option<BasicAuth>, WebConfigError> {
        const KEY: &str = "basic_auth_users";
        let mapping = match value {
            None | Some(serde_yaml::Value::Null) => return Ok(None),
            Some(serde_yaml::Value::Mapping(mapping)) => mapping,
            Some(_) => {
                return Err(source.invalid(KEY, "must be a map of user name to bcrypt hash"));
            }
        };
        let mut users = BTreeMap::new();
        let mut highest_cost = 0;
        let budget = || Arc::new(Semaphore::new(CHECKS_PER_USER));
        for (name, hash) in mapping {
            let user = match name {
                serde_yaml::Value::String(user) => user,
                // A bare `1234:` is a number to YAML; say how to make it a name.
                serde_yaml::Value::Number(n) => {
                    return Err(source.invalid(
                        format!("{KEY}.{n}"),
                        "a user name must be a string; quote it",
                    ));
                }
                _ => return Err(source.invalid(KEY, "user names must be strings")),
            };
            let key = format!("{KEY}.{user}");
            if user.contains(':') {
                return Err(source.invalid(
                    key,
                    "a user name cannot contain ':', which separates user and password in basic auth",
                ));
            }
            let serde_yaml::Value::String(hash) = hash else {
                return Err(
                    source.invalid(key, "the password hash must be a string (a bcrypt hash)")
                );
            };
            let cost = bcrypt_cost(&hash).map_err(|problem| {
                source.invalid(
                    key,
                    format!("the password hash is not a valid bcrypt hash: {problem}"),
                )
            })?;
            highest_cost = highest_cost.max(cost);
            users.insert(
                user,
                User {
                    hash,
                    budget: budget(),
                },
            );
        }
        if users.is_empty() {
            return Ok(None);
        }

        let decoy_hash = bcrypt::hash(DECOY_PASSWORD, highest_cost)
            .map_err(|e| source.invalid(KEY, format!("cannot make the decoy hash: {e}")))?;
        let rng = SystemRandom::new();
        let mut key_bytes = Zeroizing::new([0u8; 32]);
        rng.fill(key_bytes.as_mut()).map_err(|_| {
            source.invalid(
                KEY,
                "cannot seed the credential cache: the system random source failed",
            )
        })?;
        Ok(Some(BasicAuth {
            users,
            decoy_hash,
            cache_key: hmac::Key::new(hmac::HMAC_SHA256, key_bytes.as_ref()),
            unknown_budget: Arc::new(Semaphore::new(CHECKS_FOR_UNKNOWN_USERS)),
            bcrypt_turns: Arc::new(Semaphore::new(CONCURRENT_BCRYPT)),
            verified: Mutex::new(VerifiedCache::default()),
            bcrypt_comparisons: AtomicU64::new(0),
            refused_over_budget: AtomicU64::new(0),
        }))
    }

    /// True when the `Authorization` header value carries a known user and the right password.
    ///
    /// Blocks for one bcrypt comparison unless this credential was verified before or its
    /// user's budget is spent (see the type's documentation); prefer
    /// [`BasicAuth::verify_async`] on a tokio runtime.
    pub fn verify(&self, authorization: Option<&HeaderValue>) -> bool {
        match self.quick_check(authorization) {
            Quick::Known(answer) => answer,
            Quick::NeedsBcrypt(credential) => match self.take_budget(&credential.user) {
                Some(_budget) => self.verify_with_bcrypt(&credential),
                None => false,
            },
        }
    }

    /// [`BasicAuth::verify`] for async code: a malformed header, a cached credential or a spent
    /// budget is answered without leaving the task; a bcrypt comparison waits for its turn and
    /// runs on [`tokio::task::spawn_blocking`]. Must be awaited inside a tokio runtime.
    pub fn verify_async(
        self: &Arc<Self>,
        authorization: Option<&HeaderValue>,
    ) -> impl Future<Output = bool> + Send + 'static {
        let quick = self.quick_check(authorization);
        let this = Arc::clone(self);
        async move {
            let credential = match quick {
                Quick::Known(answer) => return answer,
                Quick::NeedsBcrypt(credential) => credential,
            };
            let Some(budget) = this.take_budget(&credential.user) else {
                return false;
            };
            // The semaphore is never closed; if it were, no one would get in.
            let Ok(turn) = Arc::clone(&this.bcrypt_turns).acquire_owned().await else {
                return false;
            };
            tokio::task::spawn_blocking(move || {
                // Held until the comparison ends, even if the request is gone by then.
                let _held = (budget, turn);
                this.verify_with_bcrypt(&credential)
            })
            .await
            // A panicked or cancelled check lets no one in.
            .unwrap_or(false)
        }
    }

    /// How many bcrypt comparisons this checker has run.
    pub fn bcrypt_comparisons(&self) -> u64 {
        self.bcrypt_comparisons.load(Ordering::Relaxed)
    }

    /// How many checks were refused without bcrypt because their user's budget was spent.
    pub fn refused_over_budget(&self) -> u64 {
        self.refused_over_budget.load(Ordering::Relaxed)
    }

    /// The `WWW-Authenticate` value for a 401: `Basic realm="atlas-snapshot-exporter",
    /// charset="UTF-8"`.
    pub fn challenge(&self) -> &'static str {
        CHALLENGE
    }

    /// The configured user names, sorted, for a startup log line.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    fn quick_check(&self, authorization: Option<&HeaderValue>) -> Quick {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return Quick::Known(false);
        };
        let tag = self.tag(&user, &password);
        if self.cache().contains(&tag) {
            return Quick::Known(true);
        }
        Quick::NeedsBcrypt(Credential {
            user,
            password,
            tag,
        })
    }

    /// A place in the budget of `user` (or of all unknown names), or `None` when it is spent.
    fn take_budget(&self, user: &str) -> Option<OwnedSemaphorePermit> {
        let budget = self
            .users
            .get(user)
            .map_or(&self.unknown_budget, |u| &u.budget);
        let place = Arc::clone(budget).try_acquire_owned().ok();
        if place.is_none() {
            self.refused_over_budget.fetch_add(1, Ordering::Relaxed);
        }
        place
    }

    fn verify_with_bcrypt(&self, credential: &Credential) -> bool {
        // Another check of the same credential may have passed while this one waited its turn.
        if self.cache().contains(&credential.tag) {
            return true;
        }
        let stored = self.users.get(&credential.user);
        let hash = stored.map_or(&self.decoy_hash, |u| &u.hash);
        self.bcrypt_comparisons.fetch_add(1, Ordering::Relaxed);
        // Every stored hash was parsed at load, so an error cannot happen; it would be a no.
        let matches = bcrypt::verify(credential.password.as_slice(), hash).unwrap_or(false);
        let accepted = matches && stored.is_some();
        if accepted {
            self.cache().insert(credential.tag);
        }
        accepted
    }

    /// The cache key: HMAC-SHA256 over the length-prefixed user name and the password.
    fn tag(&self, user: &str, password: &[u8]) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.cache_key);
        context.update(&(user.len() as u64).to_be_bytes());
        context.update(user.as_bytes());
        context.update(password);
        let mut tag = [0u8; 32];
        tag.copy_from_slice(context.sign().as_ref());
        tag
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, VerifiedCache> {
        // The cache holds no invariant a panic could break halfway; keep using it.
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn cached_len(&self) -> usize {
        self.cache().order.len()
    }
}

/// Tags of credentials that passed bcrypt, oldest first, at most [`CACHE_CAPACITY`].
#[derive(Default)]
struct VerifiedCache {
    tags: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl VerifiedCache {
    fn contains(&self, tag: &[u8; 32]) -> bool {
        self.tags.contains(tag)
    }

    fn insert(&mut self, tag: [u8; 32]) {
        if !self.tags.insert(tag) {
            return;
        }
        self.order.push_back(tag);
        while self.order.len() > CACHE_CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.tags.remove(&oldest);
            }
        }
    }
}

/// Splits `Basic base64(user:password)`. The scheme is case-insensitive (RFC 7617); the user
/// must be UTF-8 to match a configured name; the password may be any bytes.
fn parse_basic(value: &HeaderValue) -> Option<(String, Zeroizing<Vec<u8>>)> {
    let text = value.to_str().ok()?;
    let (scheme, token) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?,
    );
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = std::str::from_utf8(&decoded[..colon]).ok()?.to_string();
    let password = Zeroizing::new(decoded[colon + 1..].to_vec());
    Some((user, password))
}

/// The cost of a bcrypt hash, or why it is not one. The reason never quotes the hash.
fn bcrypt_cost(hash: &str) -> Result<u32, String> {
    let parts: bcrypt::HashParts = hash.parse().map_err(|e| match e {
        bcrypt::BcryptError::InvalidHash(reason) => reason.to_string(),
        other => other.to_string(),
    })?;
    let cost = parts.get_cost();
    if !(4..=31).contains(&cost) {
        return Err(format!("the cost {cost} is outside bcrypt's range 4 to 31"));
    }
    Ok(cost)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::path::Path;

    const COST: u32 = 4;

    fn header(user: &str, password: &str) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {token}")).unwrap()
    }

    fn checker(users: &[(&str, &str)]) -> BasicAuth {
        let mut yaml = String::new();
        for (user, password) in users {
            yaml.push_str(&format!(
                "{user}: {}\n",
                bcrypt::hash(password, COST).unwrap()
            ));
        }
        let value: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        BasicAuth::from_yaml(&Source::new(Path::new("web.yml")), Some(value))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_password_may_contain_colons() {
        let value = HeaderValue::from_str(&format!(
            "bAsIc {}",
            base64::engine::general_purpose::STANDARD.encode("alice:a:b")
        ))
        .unwrap();
        let (user, password) = parse_basic(&value).unwrap();
        assert_eq!(user, "alice");
        assert_eq!(password.as_slice(), b"a:b");
    }

    #[test]
    fn headers_that_are_not_basic_credentials_do_not_parse() {
        for bad in [
            "Bearer abc",
            "Basic",
            "Basic !!!not-base64!!!",
            // "alice" without a colon.
            "Basic YWxpY2U=",
            "Basicbm9wZTpub3Bl",
        ] {
            assert!(
                parse_basic(&HeaderValue::from_static(bad)).is_none(),
                "{bad} parsed"
            );
        }
    }

    #[test]
    fn a_successful_check_is_cached_and_a_failed_one_is_not() {
        let auth = checker(&[("alice", "secret")]);
        assert!(!auth.verify(Some(&header("alice", "wrong"))));
        assert!(!auth.verify(Some(&header("mallory", "secret"))));
        assert_eq!(auth.cached_len(), 0);
        assert!(auth.verify(Some(&header("alice", "secret"))));
        assert_eq!(auth.cached_len(), 1);
        assert!(matches!(
            auth.quick_check(Some(&header("alice", "secret"))),
            Quick::Known(true)
        ));
        assert!(matches!(
            auth.quick_check(Some(&header("alice", "wrong"))),
            Quick::NeedsBcrypt(_)
        ));
    }

    #[test]
    fn the_cache_is_keyed_by_user_and_password_together() {
        let auth = checker(&[("alice", "secret"), ("bob", "other")]);
        assert!(auth.verify(Some(&header("alice", "secret"))));
        // Same password, other user: not a cache hit, and bcrypt says no.
        assert!(!auth.verify(Some(&header("bob", "secret"))));
        // The length prefix keeps "al" + "ice..." apart from "alice" + "...".
        assert_ne!(auth.tag("al", b"icesecret"), auth.tag("alice", b"secret"));
    }

    #[test]
    fn an_unknown_user_is_rejected_even_with_the_decoy_password() {
        let auth = checker(&[("alice", "secret")]);
        let decoy = String::from_utf8(DECOY_PASSWORD.to_vec()).unwrap();
        assert!(!auth.verify(Some(&header("mallory", &decoy))));
        assert_eq!(auth.cached_len(), 0);
    }

    #[test]
    fn the_cache_forgets_the_oldest_entry_beyond_its_capacity() {
        let mut cache = VerifiedCache::default();
        for i in 0..=CACHE_CAPACITY {
            let mut tag = [0u8; 32];
            tag[..8].copy_from_slice(&(i as u64).to_be_bytes());
            cache.insert(tag);
        }
        assert_eq!(cache.order.len(), CACHE_CAPACITY);
        assert_eq!(cache.tags.len(), CACHE_CAPACITY);
        assert!(!cache.contains(&[0u8; 32]));
    }

    #[test]
    fn the_decoy_hash_has_the_highest_configured_cost() {
        let value: serde_yaml::Value = serde_yaml::from_str(&format!(
            "a: {}\nb: {}\n",
            bcrypt::hash("x", 4).unwrap(),
            bcrypt::hash("y", 5).unwrap()
        ))
        .unwrap();
        let auth = BasicAuth::from_yaml(&Source::new(Path::new("web.yml")), Some(value))
            .unwrap()
            .unwrap();
        assert_eq!(bcrypt_cost(&auth.decoy_hash), Ok(5));
    }

    #[test]
    fn debug_output_names_users_but_not_hashes() {
        let auth = checker(&[("alice", "secret")]);
        let debug = format!("{auth:?}");
        assert!(debug.contains("alice"), "{debug}");
        assert!(!debug.contains("$2"), "{debug}");
    }

    #[test]
    fn a_user_whose_budget_is_spent_is_refused_without_bcrypt_and_others_are_not() {
        let auth = checker(&[("alice", "secret"), ("bob", "other")]);
        assert!(auth.verify(Some(&header("alice", "secret"))));
        let comparisons = auth.bcrypt_comparisons();
        let spent: Vec<_> = (0..CHECKS_PER_USER)
            .map(|_| auth.take_budget("alice").unwrap())
            .collect();
        assert!(!auth.verify(Some(&header("alice", "another-guess"))));
        assert_eq!(
            auth.bcrypt_comparisons(),
            comparisons,
            "refused without bcrypt"
        );
        assert_eq!(auth.refused_over_budget(), 1);
        assert!(
            auth.verify(Some(&header("alice", "secret"))),
            "a cached success needs no budget"
        );
        assert!(
            auth.verify(Some(&header("bob", "other"))),
            "bob has his own budget"
        );
        assert!(
            !auth.verify(Some(&header("mallory", "x"))),
            "unknown names have theirs"
        );
        assert_eq!(auth.bcrypt_comparisons(), comparisons + 2);
        drop(spent);
        assert!(!auth.verify(Some(&header("alice", "another-guess"))));
        assert_eq!(
            auth.bcrypt_comparisons(),
            comparisons + 3,
            "the budget is back"
        );
    }

    #[test]
    fn unknown_names_share_one_budget_apart_from_the_configured_users() {
        let auth = checker(&[("alice", "secret")]);
        let _spent: Vec<_> = (0..CHECKS_FOR_UNKNOWN_USERS)
            .map(|i| auth.take_budget(&format!("nobody{i}")).unwrap())
            .collect();
        assert!(auth.take_budget("someone-else").is_none());
        assert!(auth.verify(Some(&header("alice", "secret"))));
    }

    #[tokio::test]
    async fn verify_async_keeps_to_the_budget_and_gives_back_its_place() {
        let auth = Arc::new(checker(&[("alice", "secret")]));
        let spent: Vec<_> = (0..CHECKS_PER_USER)
            .map(|_| auth.take_budget("alice").unwrap())
            .collect();
        assert!(!auth.verify_async(Some(&header("alice", "secret"))).await);
        assert_eq!(auth.bcrypt_comparisons(), 0);
        drop(spent);
        assert!(auth.verify_async(Some(&header("alice", "secret"))).await);
        assert!(!auth.verify_async(Some(&header("alice", "wrong"))).await);
        assert_eq!(auth.bcrypt_comparisons(), 2);
        assert_eq!(auth.bcrypt_turns.available_permits(), CONCURRENT_BCRYPT);
        assert_eq!(
            auth.users["alice"].budget.available_permits(),
            CHECKS_PER_USER
        );
    }

    #[test]
    fn a_cost_outside_bcrypts_range_is_not_a_valid_hash() {
        let hash = bcrypt::hash("x", 4).unwrap().replacen("$04$", "$03$", 1);
        assert_eq!(
            bcrypt_cost(&hash),
            Err("the cost 3 is outside bcrypt's range 4 to 31".to_string())
        );
    }
}
