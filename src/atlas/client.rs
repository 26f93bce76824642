//! The HTTP client: one method per endpoint, typed responses, digest or OAuth2 authentication,
//! paging, timeouts, a body-size cap and typed errors.
//!
//! The client counts nothing itself: it reports every response it acts on to a
//! [`RequestObserver`], which the exporter backs with Prometheus metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diqwest::{DigestAuthSession, WithDigestAuth};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

use super::endpoint::{BackupApi, ITEMS_PER_PAGE, Operation, is_atlas_for_government};
use super::error::{ApiErrorBody, AtlasError};
use super::oauth::TokenSource;
use super::observer::RequestObserver;
use super::wire::{DedicatedSnapshot, FlexSnapshot, LegacySnapshot, Page, TenantSnapshot};
use crate::config::{AtlasConfig, Credentials};
use crate::target::{ApiVersion, Kind};

/// The `User-Agent` the client sends.
pub const USER_AGENT: &str = concat!("atlas-snapshot-exporter/", env!("CARGO_PKG_VERSION"));

/// Limits and settings of a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Scheme, host, port and optional path prefix of the API server.
    pub base_url: Url,
    /// Path family for the tenant and legacy kinds.
    pub api_version: ApiVersion,
    /// Per HTTP request, body included.
    pub timeout: Duration,
    /// Largest response body accepted, after decompression.
    pub max_body_bytes: usize,
    /// Most pages read for one listing before giving up.
    pub max_pages: u32,
    /// How many times a 429 (or 503 with `Retry-After`) is retried within one call.
    pub rate_limit_retries: u32,
    /// The longest `Retry-After` waited for inside a call; longer ones fail the call at once.
    pub max_retry_after: Duration,
    /// The server has a flex API. False on Atlas for Government, where `auto` reads the
    /// dedicated endpoint without asking flex first.
    pub flex_api: bool,
}

impl ClientOptions {
    /// Options from the `atlas` config section, with the built-in limits.
    pub fn from_config(atlas: &AtlasConfig) -> ClientOptions {
        ClientOptions {
            base_url: atlas.base_url.clone(),
            api_version: atlas.api_version,
            timeout: atlas.timeout,
            max_body_bytes: 32 * 1024 * 1024,
            max_pages: 1000,
            rate_limit_retries: 2,
            max_retry_after: Duration::from_secs(10),
            flex_api: !is_atlas_for_government(&atlas.base_url),
        }
    }
}

enum Auth {
    Digest(DigestAuthSession),
    Bearer(TokenSource),
}

/// A client for one Atlas API server and one set of credentials.
pub struct AtlasClient {
    http: reqwest::Client,
    options: ClientOptions,
    auth: Auth,
    observer: Arc<dyn RequestObserver>,
}

impl std::fmt::Debug for AtlasClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtlasClient")
            .field("base_url", &self.options.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Every snapshot of one cluster, as its endpoint returned them.
#[derive(Debug, Clone, PartialEq)]
pub enum Listing {
    /// From the shared-tier endpoint.
    Tenant(Vec<TenantSnapshot>),
    /// From the flex endpoint.
    Flex(Vec<FlexSnapshot>),
    /// From the dedicated Cloud Backup endpoint.
    Dedicated(Vec<DedicatedSnapshot>),
    /// From the legacy endpoint.
    Legacy(Vec<LegacySnapshot>),
}

impl Listing {
    /// The API the listing came from.
    pub fn api(&self) -> BackupApi {
        match self {
            Listing::Tenant(_) => BackupApi::Tenant,
            Listing::Flex(_) => BackupApi::Flex,
            Listing::Dedicated(_) => BackupApi::Dedicated,
            Listing::Legacy(_) => BackupApi::Legacy,
        }
    }

    /// The number of snapshots listed.
    pub fn len(&self) -> usize {
        match self {
            Listing::Tenant(v) | Listing::Flex(v) => v.len(),
            Listing::Dedicated(v) => v.len(),
            Listing::Legacy(v) => v.len(),
        }
    }

    /// True when the cluster has no snapshots.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One snapshot from a get-one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum OneSnapshot {
    /// From the shared-tier endpoint.
    Tenant(TenantSnapshot),
    /// From the flex endpoint.
    Flex(FlexSnapshot),
    /// From the dedicated endpoint.
    Dedicated(DedicatedSnapshot),
    /// From the legacy endpoint.
    Legacy(LegacySnapshot),
}

impl AtlasClient {
    /// Builds a client from the `atlas` config section.
    pub fn new(
        atlas: &AtlasConfig,
        observer: Arc<dyn RequestObserver>,
    ) -> Result<AtlasClient, AtlasError> {
        Self::with_options(
            ClientOptions::from_config(atlas),
            &atlas.credentials,
            observer,
        )
    }

    /// Builds a client with explicit options.
    pub fn with_options(
        options: ClientOptions,
        credentials: &Credentials,
        observer: Arc<dyn RequestObserver>,
    ) -> Result<AtlasClient, AtlasError> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            // A redirect means a wrong base_url (http instead of https, a login page): report it
            // instead of following it and re-sending credentials somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .gzip(true)
            .build()
            .map_err(|e| AtlasError::Internal(format!("cannot build the HTTP client: {e}")))?;
        let auth = match credentials {
            Credentials::ApiKey {
                public_key,
                private_key,
            } => Auth::Digest(DigestAuthSession::new(
                public_key.as_str(),
                private_key.expose(),
            )),
            Credentials::ServiceAccount {
                client_id,
                client_secret,
            } => Auth::Bearer(TokenSource::new(
                &options.base_url,
                client_id,
                client_secret.clone(),
                options.timeout,
            )?),
        };
        Ok(AtlasClient {
            http,
            options,
            auth,
            observer,
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Lists a cluster's snapshots for a configured kind, and returns the API to remember for
    /// the next call with it.
    ///
    /// A concrete kind reads its own endpoint. `auto` reads `known` (the API an earlier call
    /// resolved), else flex, else (Atlas for Government, no flex API) dedicated. When that
    /// endpoint's answer points to the other one ([`BackupApi::auto_fallback`]: the codes the
    /// Atlas CLI falls back on, and the other kind's error after an upgrade), the other one is
    /// asked once, in the same call, and its answer is the call's. A cluster both endpoints
    /// disown resolves to nothing, so the next call starts over; an answer that says nothing
    /// about the kind (a 500, a timeout) keeps `known`.
    pub async fn list_for_kind(
        &self,
        kind: Kind,
        known: Option<BackupApi>,
        project_id: &str,
        cluster: &str,
    ) -> (Option<BackupApi>, Result<Listing, AtlasError>) {
        if let Some(api) = BackupApi::from_kind(kind) {
            return (
                Some(api),
                self.list_snapshots(api, project_id, cluster).await,
            );
        }
        if !self.options.flex_api {
            let api = BackupApi::Dedicated;
            return (
                Some(api),
                self.list_snapshots(api, project_id, cluster).await,
            );
        }
        let first = known.unwrap_or(BackupApi::Flex);
        let error = match self.list_snapshots(first, project_id, cluster).await {
            Ok(listing) => return (Some(first), Ok(listing)),
            Err(error) => error,
        };
        let Some(second) = error
            .error_code()
            .and_then(|code| first.auto_fallback(code))
        else {
            return (known, Err(error));
        };
        let result = self.list_snapshots(second, project_id, cluster).await;
        let disowned = result
            .as_ref()
            .err()
            .and_then(AtlasError::error_code)
            .is_some_and(|code| second.auto_fallback(code).is_some());
        ((!disowned).then_some(second), result)
    }

    /// Lists every snapshot of a cluster from one API, all pages.
    pub async fn list_snapshots(
        &self,
        api: BackupApi,
        project_id: &str,
        cluster: &str,
    ) -> Result<Listing, AtlasError> {
        Ok(match api {
            BackupApi::Tenant => {
                Listing::Tenant(self.list_tenant_snapshots(project_id, cluster).await?)
            }
            BackupApi::Flex => Listing::Flex(self.list_flex_snapshots(project_id, cluster).await?),
            BackupApi::Dedicated => {
                Listing::Dedicated(self.list_dedicated_snapshots(project_id, cluster).await?)
            }
            BackupApi::Legacy => {
                Listing::Legacy(self.list_legacy_snapshots(project_id, cluster).await?)
            }
        })
    }

    /// Gets one snapshot of a cluster from one API.
    pub async fn get_snapshot(
        &self,
        api: BackupApi,
        project_id: &str,
        cluster: &str,
        snapshot_id: &str,
    ) -> Result<OneSnapshot, AtlasError> {
        Ok(match api {
            BackupApi::Tenant => {
                OneSnapshot::Tenant(self.get_one(api, project_id, cluster, snapshot_id).await?)
            }
            BackupApi::Flex => {
                OneSnapshot::Flex(self.get_one(api, project_id, cluster, snapshot_id).await?)
            }
            BackupApi::Dedicated => {
                OneSnapshot::Dedicated(self.get_one(api, project_id, cluster, snapshot_id).await?)
            }
            BackupApi::Legacy => {
                OneSnapshot::Legacy(self.get_one(api, project_id, cluster, snapshot_id).await?)
            }
        })
    }

    /// `GET .../clusters/{name}/backup/tenant/snapshots`: every shared-tier snapshot. The v2
    /// listing takes no paging parameters; the v1.0 one is paged.
    pub async fn list_tenant_snapshots(
        &self,
        project_id: &str,
        cluster: &str,
    ) -> Result<Vec<TenantSnapshot>, AtlasError> {
        self.list(BackupApi::Tenant, project_id, cluster).await
    }

    /// `GET .../flexClusters/{name}/backup/snapshots`: every flex snapshot, all pages.
    pub async fn list_flex_snapshots(
        &self,
        project_id: &str,
        cluster: &str,
    ) -> Result<Vec<FlexSnapshot>, AtlasError> {
        self.list(BackupApi::Flex, project_id, cluster).await
    }

    /// `GET .../clusters/{name}/backup/snapshots`: every dedicated Cloud Backup snapshot.
    pub async fn list_dedicated_snapshots(
        &self,
        project_id: &str,
        cluster: &str,
    ) -> Result<Vec<DedicatedSnapshot>, AtlasError> {
        self.list(BackupApi::Dedicated, project_id, cluster).await
    }

    /// `GET .../clusters/{name}/snapshots`: every legacy snapshot (`completed=all` on v2).
    pub async fn list_legacy_snapshots(
        &self,
        project_id: &str,
        cluster: &str,
    ) -> Result<Vec<LegacySnapshot>, AtlasError> {
        self.list(BackupApi::Legacy, project_id, cluster).await
    }

    /// `GET .../backup/tenant/snapshots/{id}`.
    pub async fn get_tenant_snapshot(
        &self,
        project_id: &str,
        cluster: &str,
        snapshot_id: &str,
    ) -> Result<TenantSnapshot, AtlasError> {
        self.get_one(BackupApi::Tenant, project_id, cluster, snapshot_id)
            .await
    }

    /// `GET .../flexClusters/{name}/backup/snapshots/{id}`.
    pub async fn get_flex_snapshot(
        &self,
        project_id: &str,
        cluster: &str,
        snapshot_id: &str,
    ) -> Result<FlexSnapshot, AtlasError> {
        self.get_one(BackupApi::Flex, project_id, cluster, snapshot_id)
            .await
    }

    async fn list<T: DeserializeOwned>(
        &self,
        api: BackupApi,
        project_id: &str,
        cluster: &str,
    ) -> Result<Vec<T>, AtlasError> {
        let version = api.effective_version(self.options.api_version);
        let accept = api.media_type(self.options.api_version);
        let operation = api.list_operation();
        let mut url = self.api_url(version, &api.list_segments(project_id, cluster))?;
        url.query_pairs_mut()
            .extend_pairs(api.list_query(self.options.api_version));

        if !api.list_is_paged(self.options.api_version) {
            let page: Page<T> = self.fetch_json(operation, &url, accept).await?;
            return Ok(page.results);
        }

        let mut items = Vec::new();
        let mut page_num: u32 = 1;
        loop {
            let mut page_url = url.clone();
            page_url
                .query_pairs_mut()
                .append_pair("itemsPerPage", &ITEMS_PER_PAGE.to_string())
                .append_pair("pageNum", &page_num.to_string());
            let page: Page<T> = self.fetch_json(operation, &page_url, accept).await?;
            let on_page = page.results.len();
            let has_next = page.has_next();
            let has_links = !page.links.is_empty();
            let total = page.total_count;
            items.extend(page.results);
            if !more_pages(on_page, has_next, has_links, total, items.len()) {
                return Ok(items);
            }
            if page_num >= self.options.max_pages {
                return Err(AtlasError::Paging(format!(
                    "more than {} pages of {ITEMS_PER_PAGE}",
                    self.options.max_pages
                )));
            }
            page_num += 1;
        }
    }

    async fn get_one<T: DeserializeOwned>(
        &self,
        api: BackupApi,
        project_id: &str,
        cluster: &str,
        snapshot_id: &str,
    ) -> Result<T, AtlasError> {
        let version = api.effective_version(self.options.api_version);
        let mut segments = api.list_segments(project_id, cluster);
        segments.push(snapshot_id);
        let url = self.api_url(version, &segments)?;
        self.fetch_json(
            api.get_operation(),
            &url,
            api.media_type(self.options.api_version),
        )
        .await
    }

    fn api_url(&self, version: ApiVersion, segments: &[&str]) -> Result<Url, AtlasError> {
        let mut url = self.options.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| AtlasError::Internal("base_url cannot be a base".into()))?
            .pop_if_empty()
            .extend(["api", "atlas", version.as_str()])
            .extend(segments);
        Ok(url)
    }

    async fn fetch_json<T: DeserializeOwned>(
        &self,
        operation: Operation,
        url: &Url,
        accept: &'static str,
    ) -> Result<T, AtlasError> {
        let body = self.fetch(operation, url, accept).await?;
        serde_json::from_slice(&body).map_err(|e| AtlasError::Decode(e.to_string()))
    }

    /// One logical GET: authentication, bounded retries on rate limiting, the status check and
    /// the capped body read.
    async fn fetch(
        &self,
        operation: Operation,
        url: &Url,
        accept: &'static str,
    ) -> Result<Vec<u8>, AtlasError> {
        let mut attempt = 0;
        let mut token_refreshed = false;
        loop {
            attempt += 1;
            let started = Instant::now();
            let result = self.send_once(url, accept).await;
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    self.observer.observe(operation, None, started.elapsed());
                    return Err(e);
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let body =
                read_capped(response, self.options.max_body_bytes, self.options.timeout).await;
            self.observer
                .observe(operation, Some(status.as_u16()), started.elapsed());
            let body = body?;
            if status.is_success() {
                check_json_content_type(&headers)?;
                return Ok(body);
            }
            let retry_after = retry_after(&headers);
            let error = AtlasError::Status {
                status: status.as_u16(),
                body: ApiErrorBody::parse(&body),
                retry_after,
            };
            match (&self.auth, status) {
                (Auth::Digest(session), StatusCode::UNAUTHORIZED) => {
                    // The cached nonce produced a final 401 (wrong key, revoked key): start the
                    // next call with a fresh challenge instead of a doomed preemptive attempt.
                    if let Some(host) = url.host_str() {
                        let _ = session.invalidate_host(host);
                    }
                    return Err(error);
                }
                (Auth::Bearer(tokens), StatusCode::UNAUTHORIZED) if !token_refreshed => {
                    // The token may have expired early or been revoked: fetch one new token, once.
                    tokens.invalidate().await;
                    token_refreshed = true;
                    continue;
                }
                (_, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => {
                    match retry_after {
                        Some(wait)
                            if attempt <= self.options.rate_limit_retries
                                && wait <= self.options.max_retry_after =>
                        {
                            tokio::time::sleep(with_jitter(wait)).await;
                            continue;
                        }
                        _ => return Err(error),
                    }
                }
                _ => return Err(error),
            }
        }
    }

    async fn send_once(
        &self,
        url: &Url,
        accept: &'static str,
    ) -> Result<reqwest::Response, AtlasError> {
        let request = self.http.get(url.clone()).header(ACCEPT, accept);
        let timeout = self.options.timeout;
        match &self.auth {
            Auth::Digest(session) => request
                .send_digest_auth(session)
                .await
                .map_err(|e| match e {
                    diqwest::error::Error::Reqwest(e) => AtlasError::from_reqwest(&e, timeout),
                    other => AtlasError::Network(format!("digest authentication failed: {other}")),
                }),
            Auth::Bearer(tokens) => {
                let token = tokens.token(&self.http, self.observer.as_ref()).await?;
                request
                    .bearer_auth(token.expose())
                    .send()
                    .await
                    .map_err(|e| AtlasError::from_reqwest(&e, timeout))
            }
        }
    }
}

/// Whether to ask for another page. `next` links decide when the server gives links; without
/// any links, a full page asks for more unless `totalCount` (an estimate) says all are read.
fn more_pages(
    on_page: usize,
    has_next: bool,
    has_links: bool,
    total: Option<u64>,
    read: usize,
) -> bool {
    if on_page == 0 {
        return false;
    }
    if has_next {
        return true;
    }
    if has_links {
        return false;
    }
    on_page >= ITEMS_PER_PAGE && total.is_none_or(|t| (read as u64) < t)
}

async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, AtlasError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(AtlasError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| AtlasError::from_reqwest(&e, timeout))?
    {
        if body.len() + chunk.len() > limit {
            return Err(AtlasError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), AtlasError> {
    match headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(ct) if !ct.to_ascii_lowercase().contains("json") => Err(AtlasError::Decode(format!(
            "expected a JSON media type, got {ct:?}"
        ))),
        _ => Ok(()),
    }
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = when.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Adds up to 20% (at least 50 ms) of random delay so that targets throttled together do not
/// retry together.
fn with_jitter(wait: Duration) -> Duration {
    let max_extra = (wait / 5).max(Duration::from_millis(50));
    let extra = max_extra.mul_f64(fastrand::f64());
    wait + extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn atlas_at(base_url: &str) -> AtlasConfig {
        AtlasConfig {
            base_url: base_url.parse().unwrap(),
            api_version: ApiVersion::V2,
            timeout: Duration::from_secs(30),
            max_concurrency: 8,
            credentials: Credentials::ApiKey {
                public_key: "abcdefgh".into(),
                private_key: Secret::new("private"),
            },
        }
    }

    #[test]
    fn atlas_for_government_has_no_flex_api_and_atlas_has_one() {
        let gov = ClientOptions::from_config(&atlas_at("https://cloud.mongodbgov.com"));
        assert!(!gov.flex_api);
        let atlas = ClientOptions::from_config(&atlas_at("https://cloud.mongodb.com"));
        assert!(atlas.flex_api);
        let test_server = ClientOptions::from_config(&atlas_at("http://127.0.0.1:8080"));
        assert!(test_server.flex_api);
    }

    #[test]
    fn a_next_link_asks_for_another_page_even_when_the_page_is_short() {
        assert!(more_pages(100, true, true, Some(1203), 100));
    }

    #[test]
    fn links_without_next_mean_the_last_page() {
        assert!(!more_pages(500, false, true, Some(1203), 500));
    }

    #[test]
    fn without_links_a_full_page_asks_for_more_until_the_total_is_read() {
        assert!(more_pages(500, false, false, Some(1203), 1000));
        assert!(more_pages(500, false, false, None, 1000));
        assert!(!more_pages(500, false, false, Some(1000), 1000));
        assert!(!more_pages(203, false, false, None, 1203));
    }

    #[test]
    fn an_empty_page_ends_paging_whatever_the_links_say() {
        assert!(!more_pages(0, true, true, Some(5000), 1000));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "55".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(55)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn jitter_adds_a_bounded_delay() {
        for _ in 0..100 {
            let d = with_jitter(Duration::from_secs(10));
            assert!(d >= Duration::from_secs(10) && d <= Duration::from_secs(12));
        }
    }
}
