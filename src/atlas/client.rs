//! The HTTP client: one method per endpoint, typed responses, digest or OAuth2 authentication,
//! paging, timeouts, a body-size cap and typed errors. Every request first takes a token of
//! its project's [`Budget`], and a poll's retries and waits stay within its [`Pace`].
//!
//! The client counts nothing itself: it reports every response it acts on to a
//! [`RequestObserver`], which the exporter backs with Prometheus metrics.

use std::collections::HashSet;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

use super::budget::{Budget, Pace};
use super::digest::DigestAuth;
use super::endpoint::{BackupApi, ITEMS_PER_PAGE, Operation, USER_BUCKET, is_atlas_for_government};
use super::error::{ApiErrorBody, AtlasError, Reason, gone_hint};
use super::oauth::TokenSource;
use super::observer::{Announcements, RateLimitHeaders, RequestObserver};
use super::wire::{
    DecodedPage, DedicatedSnapshot, DedicatedSnapshotRef, FlexSnapshot, LegacySnapshot, ListItem,
    PageError, SkipReason, TenantSnapshot, TenantSnapshotRef, decode_page, decode_page_borrowed,
};
use crate::clock::Clock;
use crate::config::{AtlasConfig, Credentials, RateLimitConfig};
use crate::target::{ApiVersion, Flavor, Kind, Target};

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
    /// Most items one listing may hold (all pages, items left out included); a longer listing
    /// fails with [`AtlasError::Decode`]. `atlas.max_listing_items`.
    pub max_listing_items: usize,
    /// How many times a 429 (or 503 with `Retry-After`) is retried within one call.
    pub rate_limit_retries: u32,
    /// The longest `Retry-After` waited for inside a call; longer ones fail the call at once.
    pub max_retry_after: Duration,
    /// The server has a flex API. False on Atlas for Government, where `auto` reads the
    /// dedicated endpoint without asking flex first.
    pub flex_api: bool,
    /// The token bucket every project's requests take from (`atlas.rate_limit`).
    pub rate_limit: RateLimitConfig,
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
            max_listing_items: atlas.max_listing_items,
            rate_limit_retries: 2,
            max_retry_after: Duration::from_secs(10),
            flex_api: !is_atlas_for_government(&atlas.base_url),
            rate_limit: atlas.rate_limit,
        }
    }
}

enum Auth {
    Digest(DigestAuth),
    Bearer(TokenSource),
}

/// A client for one Atlas API server and one set of credentials.
pub struct AtlasClient {
    http: reqwest::Client,
    options: ClientOptions,
    auth: Auth,
    observer: Arc<dyn RequestObserver>,
    /// One token bucket per project, shared by every request to it.
    budget: Budget,
    /// What was logged once per endpoint: sunset dates and retirements.
    logged: Mutex<HashSet<(Operation, Notice)>>,
    /// The product behind `base_url`: Atlas, or the `/api/public/v1.0` API of Cloud Manager
    /// and Ops Manager.
    flavor: Flavor,
    /// Cloud Manager and Ops Manager: the ids of the clusters named by name, found once.
    pub(super) cluster_ids: super::manager::ClusterIds,
}

/// A fact about an endpoint that is logged once per endpoint, not once per response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Notice {
    /// Atlas announced this sunset date.
    Sunset(Timestamp),
    /// Atlas answered 410 or `VERSION_GONE`.
    Gone,
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

impl Listing {
    /// An empty listing from `api`.
    pub fn empty(api: BackupApi) -> Listing {
        match api {
            BackupApi::Tenant => Listing::Tenant(Vec::new()),
            BackupApi::Flex => Listing::Flex(Vec::new()),
            BackupApi::Dedicated => Listing::Dedicated(Vec::new()),
            BackupApi::Legacy => Listing::Legacy(Vec::new()),
        }
    }
}

/// One page of a tenant, flex or dedicated snapshot listing as the page loop read it, its texts
/// borrowed from the response body (copied only where a JSON string held an escape).
#[derive(Debug, Clone, PartialEq)]
pub enum ListingPage<'a> {
    /// From the shared-tier endpoint.
    Tenant(Vec<TenantSnapshotRef<'a>>),
    /// From the flex endpoint.
    Flex(Vec<TenantSnapshotRef<'a>>),
    /// From the dedicated Cloud Backup endpoint.
    Dedicated(Vec<DedicatedSnapshotRef<'a>>),
}

impl ListingPage<'_> {
    /// The number of snapshots on the page.
    pub fn len(&self) -> usize {
        match self {
            ListingPage::Tenant(v) | ListingPage::Flex(v) => v.len(),
            ListingPage::Dedicated(v) => v.len(),
        }
    }

    /// True when the page lists no snapshots.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The page with its texts copied.
    pub fn into_owned(self) -> Listing {
        match self {
            ListingPage::Tenant(v) => {
                Listing::Tenant(v.into_iter().map(TenantSnapshotRef::into_owned).collect())
            }
            ListingPage::Flex(v) => {
                Listing::Flex(v.into_iter().map(TenantSnapshotRef::into_owned).collect())
            }
            ListingPage::Dedicated(v) => Listing::Dedicated(
                v.into_iter()
                    .map(DedicatedSnapshotRef::into_owned)
                    .collect(),
            ),
        }
    }
}

/// Receives a listing page by page, as each page is read: the poller folds pages into a
/// summary and drops them, so a listing never sits in memory whole; [`Listing`] keeps them all.
pub trait PageSink {
    /// One page's items, from the API the sink was made for.
    fn page(&mut self, page: Listing);

    /// One page's items still borrowing from the response body, as tenant, flex and dedicated
    /// listings are read. By default they are copied and handed to [`PageSink::page`]; a sink
    /// that keeps little of them (a summary) reads them in place.
    fn borrowed_page(&mut self, page: ListingPage<'_>) {
        self.page(page.into_owned());
    }
}

impl PageSink for Listing {
    fn page(&mut self, page: Listing) {
        match (self, page) {
            (Listing::Tenant(all), Listing::Tenant(more))
            | (Listing::Flex(all), Listing::Flex(more)) => all.extend(more),
            (Listing::Dedicated(all), Listing::Dedicated(more)) => all.extend(more),
            (Listing::Legacy(all), Listing::Legacy(more)) => all.extend(more),
            (all, more) => *all = more,
        }
    }
}

/// The ids a listing's page loop has seen, as hashes: a page that lists only seen ids is a
/// loop.
#[derive(Debug, Default)]
struct SeenIds {
    hasher: RandomState,
    seen: HashSet<u64>,
}

impl SeenIds {
    /// Records `id`; true when it was not seen before.
    fn insert(&mut self, id: &str) -> bool {
        self.seen.insert(self.hasher.hash_one(id))
    }
}

/// What the page loop does with each body: given the items listed before it, it decodes the
/// page, records its ids, hands its items on and returns its [`PageFacts`].
type ReadPage<'a> =
    dyn FnMut(&[u8], usize, &mut SeenIds) -> Result<PageFacts, AtlasError> + Send + 'a;

/// What the page loop needs to know of a page once its items are passed on.
#[derive(Debug, Clone, Copy)]
struct PageFacts {
    /// Items on the page, read or left out.
    listed: usize,
    /// Items read.
    items: usize,
    /// Some item read has an id no earlier page listed.
    new_ids: bool,
    has_next: bool,
    next_page_num: Option<u64>,
    has_links: bool,
    total_count: Option<u64>,
}

impl PageFacts {
    /// The facts of `page`, recording its items' ids (`id` reads one) in `seen`.
    fn of<T>(page: &DecodedPage<T>, id: impl Fn(&T) -> &str, seen: &mut SeenIds) -> PageFacts {
        let mut new_ids = false;
        for item in &page.results {
            new_ids |= seen.insert(id(item));
        }
        PageFacts {
            listed: page.listed(),
            items: page.results.len(),
            new_ids,
            has_next: page.has_next,
            next_page_num: page.next_page_num,
            has_links: page.has_links,
            total_count: page.total_count,
        }
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

/// One listing as the page loop reads it: where, with which media type, counted how.
#[derive(Debug, Clone)]
pub(super) struct ListingRequest<'a> {
    /// The operation its requests are counted under.
    pub(super) operation: Operation,
    /// The [`Budget`] key its requests take tokens from (see [`AtlasClient::fetch`]).
    pub(super) bucket: &'a str,
    /// The listing's URL with its fixed query parameters; the loop adds the paging ones.
    pub(super) url: Url,
    /// The `Accept` header.
    pub(super) accept: &'static str,
    /// True when the listing takes `pageNum`/`itemsPerPage`.
    pub(super) paged: bool,
    /// What it lists, for error messages: `snapshots`, `projects`, `clusters`.
    pub(super) items: &'static str,
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
        .map(|client| client.with_flavor(atlas.flavor))
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
            } => Auth::Digest(DigestAuth::new(public_key, private_key)),
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
            budget: Budget::new(options.rate_limit),
            options,
            auth,
            observer,
            logged: Mutex::new(HashSet::new()),
            flavor: Flavor::Atlas,
            cluster_ids: super::manager::ClusterIds::default(),
        })
    }

    /// Talks to `flavor`: under Cloud Manager and Ops Manager every path is under
    /// `/api/public/v1.0` and clusters are addressed by id ([`super::manager`]).
    pub fn with_flavor(mut self, flavor: Flavor) -> AtlasClient {
        self.flavor = flavor;
        self
    }

    /// The product this client talks to.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Measures time-based authentication decisions (how long a host that refused digest nonce
    /// reuse gets a fresh challenge per request) against `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> AtlasClient {
        if let Auth::Digest(digest) = &mut self.auth {
            digest.set_clock(clock);
        }
        self
    }

    /// The request budget: one token bucket per project.
    pub fn budget(&self) -> &Budget {
        &self.budget
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
        self.list_for_kind_into(kind, known, project_id, cluster, Listing::empty)
            .await
    }

    /// [`AtlasClient::list_for_kind`], handing each page to a sink made by `new_sink` for the
    /// API asked (a fresh one for the fallback API, so pages of two APIs never mix) instead of
    /// keeping them; the call returns the sink that saw the whole listing.
    pub async fn list_for_kind_into<S: PageSink + Send>(
        &self,
        kind: Kind,
        known: Option<BackupApi>,
        project_id: &str,
        cluster: &str,
        new_sink: impl Fn(BackupApi) -> S,
    ) -> (Option<BackupApi>, Result<S, AtlasError>) {
        let pace = Pace::unbounded();
        self.list_for_kind_paced(kind, known, project_id, cluster, new_sink, &pace)
            .await
    }

    /// [`AtlasClient::list_for_kind_into`] within a poll's [`Pace`]: waits for a token or a
    /// `Retry-After` give up the poll's concurrency slot, and none reaches past its deadline.
    pub async fn list_for_kind_paced<S: PageSink + Send>(
        &self,
        kind: Kind,
        known: Option<BackupApi>,
        project_id: &str,
        cluster: &str,
        new_sink: impl Fn(BackupApi) -> S,
        pace: &Pace,
    ) -> (Option<BackupApi>, Result<S, AtlasError>) {
        if self.flavor.is_public_api() {
            let result = self
                .manager_snapshots_into(project_id, cluster, None, &new_sink, pace)
                .await;
            return (Some(BackupApi::Legacy), result);
        }
        let read = |api: BackupApi| {
            let mut sink = new_sink(api);
            async move {
                self.list_into_paced(api, project_id, cluster, &mut sink, pace)
                    .await
                    .map(|()| sink)
            }
        };
        self.for_kind(kind, known, read).await
    }

    /// One target's snapshots, as [`AtlasClient::list_for_kind_paced`] reads them. Under Cloud
    /// Manager and Ops Manager the target's configured cluster id, when it has one, addresses
    /// the cluster; otherwise its name is looked up ([`super::manager`]).
    pub async fn list_target_paced<S: PageSink + Send>(
        &self,
        target: &Target,
        known: Option<BackupApi>,
        new_sink: impl Fn(BackupApi) -> S,
        pace: &Pace,
    ) -> (Option<BackupApi>, Result<S, AtlasError>) {
        if self.flavor.is_public_api() {
            let result = self
                .manager_snapshots_into(
                    &target.project_id,
                    &target.cluster_name,
                    target.cluster_id.as_deref(),
                    &new_sink,
                    pace,
                )
                .await;
            return (Some(BackupApi::Legacy), result);
        }
        self.list_for_kind_paced(
            target.kind,
            known,
            &target.project_id,
            &target.cluster_name,
            new_sink,
            pace,
        )
        .await
    }

    /// Asks the endpoint a configured kind names, and returns the API to remember with the
    /// answer. A concrete kind asks its own API. `auto` asks `known` (the API an earlier call
    /// resolved), else flex, else (Atlas for Government, no flex API) dedicated; when that
    /// answer points to the other one ([`BackupApi::auto_fallback`]) the other is asked once,
    /// in the same call, and its answer is the call's. A cluster both disown resolves to
    /// nothing; an answer that says nothing about the kind keeps `known`.
    pub(super) async fn for_kind<R, F, Fut>(
        &self,
        kind: Kind,
        known: Option<BackupApi>,
        read: F,
    ) -> (Option<BackupApi>, Result<R, AtlasError>)
    where
        F: Fn(BackupApi) -> Fut,
        Fut: Future<Output = Result<R, AtlasError>>,
    {
        if let Some(api) = BackupApi::from_kind(kind) {
            return (Some(api), read(api).await);
        }
        if !self.options.flex_api {
            let api = BackupApi::Dedicated;
            return (Some(api), read(api).await);
        }
        let first = known.unwrap_or(BackupApi::Flex);
        let error = match read(first).await {
            Ok(answer) => return (Some(first), Ok(answer)),
            Err(error) => error,
        };
        let Some(second) = error
            .error_code()
            .and_then(|code| first.auto_fallback(code))
        else {
            return (known, Err(error));
        };
        let result = read(second).await;
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
        let mut listing = Listing::empty(api);
        self.list_into(api, project_id, cluster, &mut listing)
            .await?;
        Ok(listing)
    }

    /// Lists every snapshot of a cluster from one API, handing each page to `sink`.
    pub async fn list_into(
        &self,
        api: BackupApi,
        project_id: &str,
        cluster: &str,
        sink: &mut (dyn PageSink + Send),
    ) -> Result<(), AtlasError> {
        self.list_into_paced(api, project_id, cluster, sink, &Pace::unbounded())
            .await
    }

    pub(super) async fn list_into_paced(
        &self,
        api: BackupApi,
        project_id: &str,
        cluster: &str,
        sink: &mut (dyn PageSink + Send),
        pace: &Pace,
    ) -> Result<(), AtlasError> {
        let request = self.snapshot_listing(api, project_id, cluster)?;
        let operation = request.operation;
        match api {
            BackupApi::Tenant | BackupApi::Flex => {
                self.page_loop(&request, pace, &mut |body, listed, seen| {
                    let page = self.decode_list_page(operation, listed, |room| {
                        decode_page_borrowed::<TenantSnapshotRef<'_>>(body, room)
                    })?;
                    let facts = PageFacts::of(&page, |s| &s.id, seen);
                    sink.borrowed_page(match api {
                        BackupApi::Tenant => ListingPage::Tenant(page.results),
                        _ => ListingPage::Flex(page.results),
                    });
                    Ok(facts)
                })
                .await
            }
            BackupApi::Dedicated => {
                self.page_loop(&request, pace, &mut |body, listed, seen| {
                    let page = self.decode_list_page(operation, listed, |room| {
                        decode_page_borrowed::<DedicatedSnapshotRef<'_>>(body, room)
                    })?;
                    let facts = PageFacts::of(&page, |s| &s.id, seen);
                    sink.borrowed_page(ListingPage::Dedicated(page.results));
                    Ok(facts)
                })
                .await
            }
            BackupApi::Legacy => {
                self.list_pages::<LegacySnapshot>(&request, pace, &mut |v| {
                    sink.page(Listing::Legacy(v))
                })
                .await
            }
        }
    }

    /// Gets one snapshot of a cluster from one API.
    pub async fn get_snapshot(
        &self,
        api: BackupApi,
        project_id: &str,
        cluster: &str,
        snapshot_id: &str,
    ) -> Result<OneSnapshot, AtlasError> {
        if self.flavor.is_public_api() {
            let pace = Pace::unbounded();
            let snapshot = self
                .with_cluster_id(project_id, cluster, None, &pace, |id| async move {
                    self.get_one(BackupApi::Legacy, project_id, &id, snapshot_id)
                        .await
                })
                .await?;
            return Ok(OneSnapshot::Legacy(snapshot));
        }
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
        self.list_all(BackupApi::Tenant, project_id, cluster).await
    }

    /// `GET .../flexClusters/{name}/backup/snapshots`: every flex snapshot, all pages.
    pub async fn list_flex_snapshots(
        &self,
        project_id: &str,
        cluster: &str,
    ) -> Result<Vec<FlexSnapshot>, AtlasError> {
        self.list_all(BackupApi::Flex, project_id, cluster).await
    }

    /// `GET .../clusters/{name}/backup/snapshots`: every dedicated Cloud Backup snapshot.
    pub async fn list_dedicated_snapshots(
        &self,
        project_id: &str,
        cluster: &str,
    ) -> Result<Vec<DedicatedSnapshot>, AtlasError> {
        self.list_all(BackupApi::Dedicated, project_id, cluster)
            .await
    }

    /// `GET .../clusters/{name}/snapshots`: every legacy snapshot (`completed=all` on v2).
    pub async fn list_legacy_snapshots(
        &self,
        project_id: &str,
        cluster: &str,
    ) -> Result<Vec<LegacySnapshot>, AtlasError> {
        self.list_all(BackupApi::Legacy, project_id, cluster).await
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

    /// Every item of a listing, all pages, with no deadline: for the one-off commands.
    async fn list_all<T: ListItem + Send>(
        &self,
        api: BackupApi,
        project_id: &str,
        cluster: &str,
    ) -> Result<Vec<T>, AtlasError> {
        let mut all = Vec::new();
        self.list(api, project_id, cluster, &Pace::unbounded(), &mut |v| {
            all.extend(v)
        })
        .await?;
        Ok(all)
    }

    /// The snapshot listing of one cluster from one API.
    fn snapshot_listing<'a>(
        &self,
        api: BackupApi,
        project_id: &'a str,
        cluster: &str,
    ) -> Result<ListingRequest<'a>, AtlasError> {
        let version = api.effective_version(self.options.api_version);
        let mut url = self.api_url(version, &api.list_segments(project_id, cluster))?;
        url.query_pairs_mut()
            .extend_pairs(api.list_query(self.options.api_version));
        Ok(ListingRequest {
            operation: api.list_operation(),
            bucket: project_id,
            url,
            accept: api.media_type(self.options.api_version),
            paged: api.list_is_paged(self.options.api_version),
            items: "snapshots",
        })
    }

    async fn list<T: ListItem + Send>(
        &self,
        api: BackupApi,
        project_id: &str,
        cluster: &str,
        pace: &Pace,
        sink: &mut (dyn FnMut(Vec<T>) + Send),
    ) -> Result<(), AtlasError> {
        let request = self.snapshot_listing(api, project_id, cluster)?;
        self.list_pages(&request, pace, sink).await
    }

    /// Every page of a listing, each page's items handed to `sink` as it arrives: the page
    /// loop ([`AtlasClient::page_loop`]) with the items owned.
    pub(super) async fn list_pages<T: ListItem + Send>(
        &self,
        request: &ListingRequest<'_>,
        pace: &Pace,
        sink: &mut (dyn FnMut(Vec<T>) + Send),
    ) -> Result<(), AtlasError> {
        let operation = request.operation;
        self.page_loop(request, pace, &mut |body, listed, seen| {
            let page =
                self.decode_list_page(operation, listed, |room| decode_page::<T>(body, room))?;
            let facts = PageFacts::of(&page, T::id, seen);
            sink(page.results);
            Ok(facts)
        })
        .await
    }

    /// The page loop of every listing: reads it page by page, handing each body to `read`,
    /// which decodes it (with [`AtlasClient::decode_list_page`]), passes its items on and says
    /// what the loop needs to know of it. It holds the listing to `max_listing_items` items,
    /// stops at a page that repeats (its `next` link points back, or it lists only ids already
    /// seen: a loop), and reads at most `max_pages` pages of [`ITEMS_PER_PAGE`]. Items that
    /// cannot be read are left out and counted ([`RequestObserver::skipped_items`]).
    async fn page_loop(
        &self,
        request: &ListingRequest<'_>,
        pace: &Pace,
        read: &mut ReadPage<'_>,
    ) -> Result<(), AtlasError> {
        let ListingRequest {
            operation,
            bucket,
            ref url,
            accept,
            paged,
            items,
        } = *request;
        let mut listed: usize = 0;
        let mut seen = SeenIds::default();

        if !paged {
            let body = self.fetch(operation, bucket, url, accept, pace).await?;
            read(&body, listed, &mut seen)?;
            return Ok(());
        }

        let mut page_num: u32 = 1;
        loop {
            let mut page_url = url.clone();
            page_url
                .query_pairs_mut()
                .append_pair("itemsPerPage", &ITEMS_PER_PAGE.to_string())
                .append_pair("pageNum", &page_num.to_string());
            let body = self
                .fetch(operation, bucket, &page_url, accept, pace)
                .await?;
            let page = read(&body, listed, &mut seen)?;
            drop(body);
            listed += page.listed;
            if page.items > 0 && !page.new_ids {
                return Err(AtlasError::Decode(format!(
                    "page {page_num} of the listing lists only {items} of earlier pages: its \
                     next link loops; stopped after {page_num} pages"
                )));
            }
            if !more_pages(
                page.listed,
                page.has_next,
                page.has_links,
                page.total_count,
                listed,
            ) {
                return Ok(());
            }
            if let Some(next) = page.next_page_num
                && page.has_next
                && next <= u64::from(page_num)
            {
                return Err(AtlasError::Decode(format!(
                    "the next link of page {page_num} of the listing points back to page \
                     {next}: it loops; stopped after {page_num} pages"
                )));
            }
            if page_num >= self.options.max_pages {
                return Err(AtlasError::Paging(format!(
                    "read {page_num} pages ({listed} items) and the last still links to a next \
                     page; a listing is read to at most {} pages of {ITEMS_PER_PAGE}",
                    self.options.max_pages
                )));
            }
            page_num += 1;
        }
    }

    /// Decodes one listing page with `decode`, allowing it the items the listing has left of
    /// its cap (after `listed`), and reports the items it left out.
    fn decode_list_page<T>(
        &self,
        operation: Operation,
        listed: usize,
        decode: impl FnOnce(usize) -> Result<DecodedPage<T>, PageError>,
    ) -> Result<DecodedPage<T>, AtlasError> {
        let limit = self.options.max_listing_items;
        let page = decode(limit.saturating_sub(listed)).map_err(|e| match e {
            PageError::TooManyItems => AtlasError::Decode(format!(
                "the listing holds more than {limit} items, the limit set by \
                 atlas.max_listing_items; raise it if a cluster really keeps that many snapshots"
            )),
            PageError::Json(e) => AtlasError::Decode(e.to_string()),
        })?;
        for reason in SkipReason::ALL {
            let count = page.skipped[reason.index()];
            if count > 0 {
                tracing::debug!(
                    endpoint = operation.as_str(),
                    reason = reason.as_str(),
                    count,
                    "left out listing items that could not be read"
                );
                self.observer.skipped_items(reason, count);
            }
        }
        Ok(page)
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
            project_id,
            &url,
            api.media_type(self.options.api_version),
        )
        .await
    }

    pub(super) fn api_url(
        &self,
        version: ApiVersion,
        segments: &[&str],
    ) -> Result<Url, AtlasError> {
        // Cloud Manager and Ops Manager have one API root, whatever the version asked for.
        let root = if self.flavor.is_public_api() {
            ["api", "public", ApiVersion::V1_0.as_str()]
        } else {
            ["api", "atlas", version.as_str()]
        };
        let mut url = self.options.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| AtlasError::Internal("base_url cannot be a base".into()))?
            .pop_if_empty()
            .extend(root)
            .extend(segments);
        Ok(url)
    }

    async fn fetch_json<T: DeserializeOwned>(
        &self,
        operation: Operation,
        project_id: &str,
        url: &Url,
        accept: &'static str,
    ) -> Result<T, AtlasError> {
        let body = self
            .fetch(operation, project_id, url, accept, &Pace::unbounded())
            .await?;
        serde_json::from_slice(&body).map_err(|e| AtlasError::Decode(e.to_string()))
    }

    /// One logical GET: a token of the project's budget before each attempt, authentication,
    /// retries on rate limiting bounded in number and by the poll's deadline, the status check
    /// and the capped body read. What each response's headers announce (sunset, rate limit)
    /// goes to the observer, whatever the status.
    ///
    /// `bucket` is the [`Budget`] key the request takes its token from and its rate-limit
    /// headers drain: the project id, or [`USER_BUCKET`] / [`organization_bucket`](super::endpoint::organization_bucket) for the
    /// project listings, which Atlas does not count against a project.
    pub(super) async fn fetch(
        &self,
        operation: Operation,
        bucket: &str,
        url: &Url,
        accept: &'static str,
        pace: &Pace,
    ) -> Result<Vec<u8>, AtlasError> {
        let mut attempt = 0;
        let mut token_refreshed = false;
        loop {
            attempt += 1;
            self.take_token(operation, bucket, pace).await?;
            let started = Instant::now();
            let result = self.send_once(url, accept).await;
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    let elapsed = started.elapsed();
                    self.observer.observe(operation, None, elapsed);
                    log_request(operation, url, None, elapsed, Some(&e));
                    return Err(e);
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let body =
                read_capped(response, self.options.max_body_bytes, self.options.timeout).await;
            // A body that never arrived whole (timed out, cut short, reset) is no response the
            // client can act on: it counts as `error`, like a request that got no answer, never
            // as the status its headers announced. A body over the cap did arrive, refused.
            let counted = match &body {
                Err(AtlasError::TooLarge { .. }) | Ok(_) => Some(status.as_u16()),
                Err(_) => None,
            };
            let elapsed = started.elapsed();
            self.observer.observe(operation, counted, elapsed);
            log_request(operation, url, counted, elapsed, body.as_ref().err());
            self.announce(operation, bucket, &headers);
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
            if error.reason() == Reason::Gone {
                self.log_gone_once(operation, &error);
            }
            match (&self.auth, status) {
                (Auth::Bearer(tokens), StatusCode::UNAUTHORIZED) if !token_refreshed => {
                    // The token may have expired early or been revoked: fetch one new token, once.
                    tokens.invalidate().await;
                    token_refreshed = true;
                    continue;
                }
                (_, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => {
                    // Whatever this call does next, no request of the bucket (this poll's
                    // or a later one's) goes out before Atlas said it may.
                    let wait =
                        retry_after.map(|w| with_jitter(w.min(self.options.max_retry_after)));
                    if let Some(wait) = wait {
                        self.budget.hold_off(bucket, operation.as_str(), wait);
                    }
                    match (wait, retry_after) {
                        (Some(wait), Some(asked))
                            if attempt <= self.options.rate_limit_retries
                                && asked <= self.options.max_retry_after =>
                        {
                            // A retry that would end past the poll's deadline is not waited
                            // for: the 429 (or 503) is the poll's answer.
                            if !pace.allows(wait) {
                                return Err(error);
                            }
                            // Taking the next token waits the hold out.
                            continue;
                        }
                        _ => return Err(error),
                    }
                }
                _ => return Err(error),
            }
        }
    }

    /// Takes a token of `bucket`'s budget, waiting for it without the poll's slot, or fails
    /// at once (`rate_limited`) when the token would come after the poll's deadline.
    async fn take_token(
        &self,
        operation: Operation,
        bucket: &str,
        pace: &Pace,
    ) -> Result<(), AtlasError> {
        let held = self.budget.held_for(bucket, operation.as_str());
        if !held.is_zero() {
            if !pace.allows(held) {
                return Err(AtlasError::Budget(format!(
                    "Atlas asked for no {operation} request to {} for {} more (Retry-After), \
                     longer than the poll deadline allows",
                    describe_bucket(bucket),
                    humantime::format_duration(Duration::from_millis(
                        u64::try_from(held.as_millis()).unwrap_or(u64::MAX)
                    ))
                )));
            }
            pace.wait_off_slot(held).await;
        }
        match self.budget.reserve(bucket, pace.remaining()) {
            Ok(wait) => {
                if !wait.is_zero() {
                    tracing::debug!(
                        bucket,
                        wait_ms = wait.as_millis(),
                        "waiting for a token of the request budget"
                    );
                }
                pace.wait_off_slot(wait).await;
                Ok(())
            }
            Err(wait) => {
                let config = self.budget.config();
                Err(AtlasError::Budget(format!(
                    "the request budget of {} (atlas.rate_limit: {} requests, \
                     {} per minute) has its next token in {}, after the poll deadline",
                    describe_bucket(bucket),
                    config.capacity,
                    config.refill_per_minute,
                    humantime::format_duration(Duration::from_millis(
                        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
                    ))
                )))
            }
        }
    }

    /// Hands the response's announcements to the observer and logs a new sunset date once.
    /// A low `Ratelimit-Remaining` drains the project's local bucket to match.
    fn announce(&self, operation: Operation, project_id: &str, headers: &HeaderMap) {
        let announcements = announcements(headers);
        if let Some(rate_limit) = &announcements.rate_limit {
            self.budget
                .observe_remaining(project_id, rate_limit.remaining);
        }
        if announcements.is_empty() {
            return;
        }
        self.observer
            .announced(operation, project_id, &announcements);
        if let Some(sunset) = announcements.sunset
            && self.first_time(operation, Notice::Sunset(sunset))
        {
            tracing::warn!(
                endpoint = operation.as_str(),
                sunset = %sunset,
                deprecation = announcements.deprecation.map(|d| d.to_string()),
                "Atlas announced that this endpoint's API version will stop answering on the \
                 sunset date; {}",
                sunset_advice(operation)
            );
        }
    }

    fn log_gone_once(&self, operation: Operation, error: &AtlasError) {
        if !self.first_time(operation, Notice::Gone) {
            return;
        }
        tracing::warn!(
            endpoint = operation.as_str(),
            http_status = error.status(),
            error_code = error.error_code(),
            detail = error.detail(),
            "Atlas retired this endpoint; {}",
            gone_hint(operation_kind(operation))
        );
    }

    /// True the first time `notice` is seen for `operation` by this client.
    fn first_time(&self, operation: Operation, notice: Notice) -> bool {
        self.logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((operation, notice))
    }

    async fn send_once(
        &self,
        url: &Url,
        accept: &'static str,
    ) -> Result<reqwest::Response, AtlasError> {
        let request = self.http.get(url.clone()).header(ACCEPT, accept);
        let timeout = self.options.timeout;
        match &self.auth {
            Auth::Digest(digest) => digest
                .send(&self.http, url, accept, self.observer.as_ref())
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

/// The debug line of one request to Atlas: method, operation, path (never the query, whose
/// only parts worth seeing are the page, nor any header), status and duration. `status` is
/// `None` when no response came back whole; `error` says what went wrong then.
fn log_request(
    operation: Operation,
    url: &Url,
    status: Option<u16>,
    elapsed: Duration,
    error: Option<&AtlasError>,
) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let page = url
        .query_pairs()
        .find(|(key, _)| key == "pageNum")
        .and_then(|(_, value)| value.parse::<u32>().ok());
    tracing::debug!(
        method = "GET",
        endpoint = operation.as_str(),
        path = url.path(),
        page,
        http_status = status.map_or_else(|| "error".to_owned(), |s| s.to_string()),
        duration_seconds = elapsed.as_secs_f64(),
        error = error.map(|e| e.reason().as_str()),
        "atlas request"
    );
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

/// The most room a body's announced length reserves before its bytes come.
const RESERVE_AT_MOST: usize = 1024 * 1024;

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
    // Room for the whole body at once when its length is known: grown by doubling instead, a
    // 300 KB page took three copies and up to 512 KB, 16 pages in flight at a time. Up to a
    // mebibyte only: a length is a claim, and a larger body grows from there as it comes.
    let announced = response.content_length().map_or(0, |len| len as usize);
    let mut body = Vec::with_capacity(announced.min(RESERVE_AT_MOST));
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

/// A budget bucket as the budget error names it.
fn describe_bucket(bucket: &str) -> String {
    if bucket == USER_BUCKET {
        "the credential's project listing".to_owned()
    } else if let Some(org) = bucket.strip_prefix("org:") {
        format!("organization {org}'s project listing")
    } else {
        format!("project {bucket}")
    }
}

/// The kind whose endpoint an operation calls, for the advice in log lines.
fn operation_kind(operation: Operation) -> Kind {
    match operation {
        Operation::TenantSnapshotsList | Operation::TenantSnapshotsGet => Kind::Tenant,
        Operation::FlexSnapshotsList | Operation::FlexSnapshotsGet => Kind::Flex,
        Operation::DedicatedSnapshotsList | Operation::DedicatedSnapshotsGet => Kind::Dedicated,
        Operation::LegacySnapshotsList | Operation::LegacySnapshotsGet => Kind::Legacy,
        // Not a snapshot endpoint: the general advice (upgrade the exporter) applies.
        Operation::OauthToken
        | Operation::ProjectsList
        | Operation::OrganizationProjectsList
        | Operation::ClustersList
        | Operation::FlexClustersList
        | Operation::ClusterGet
        | Operation::FlexClusterGet
        | Operation::BackupScheduleGet
        | Operation::ManagerClustersList
        | Operation::ManagerClusterGet
        | Operation::BackupConfigGet
        | Operation::SnapshotScheduleGet
        | Operation::FlexRestoreJobsList
        | Operation::DedicatedRestoreJobsList
        | Operation::ExportJobsList
        | Operation::AlertsList => Kind::Auto,
    }
}

/// What to do before a sunset date.
fn sunset_advice(operation: Operation) -> &'static str {
    match operation_kind(operation) {
        Kind::Tenant => {
            "switch the clusters read with kind: tenant to kind: flex (or auto) before then"
        }
        Kind::Auto | Kind::Flex | Kind::Dedicated | Kind::Legacy => {
            "upgrade atlas-snapshot-exporter to a release that asks for a newer API version before then"
        }
    }
}

const SUNSET: HeaderName = HeaderName::from_static("sunset");
const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");

/// `Sunset`, `Deprecation` and the rate-limit headers of a response, each read leniently: a
/// header that cannot be read counts as not sent.
fn announcements(headers: &HeaderMap) -> Announcements {
    let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let count = |name: &HeaderName| text(name).and_then(parse_count);
    Announcements {
        sunset: text(&SUNSET).and_then(parse_http_date),
        deprecation: text(&DEPRECATION).and_then(parse_http_date),
        rate_limit: count(&RATELIMIT_REMAINING).map(|remaining| RateLimitHeaders {
            limit: count(&RATELIMIT_LIMIT),
            remaining,
        }),
    }
}

/// A header's leading number: `1199`, or the first item of a list such as `1200, 1200;w=60`.
fn parse_count(value: &str) -> Option<u64> {
    value
        .split([',', ';'])
        .next()
        .and_then(|v| v.trim().parse().ok())
}

/// An HTTP-date as Atlas writes it (`Thu, 1 Jul 2027 00:00:00 GMT`, a one-digit day
/// included), also with a weekday that does not match the date, or RFC 9745's `@<seconds>`.
fn parse_http_date(value: &str) -> Option<Timestamp> {
    let value = value.trim();
    if let Some(seconds) = value.strip_prefix('@') {
        return Timestamp::from_second(seconds.parse().ok()?).ok();
    }
    if let Ok(zoned) = jiff::fmt::rfc2822::parse(value) {
        return Some(zoned.timestamp());
    }
    let (_, date) = value.split_once(',')?;
    jiff::fmt::rfc2822::parse(date.trim())
        .ok()
        .map(|zoned| zoned.timestamp())
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
            flavor: crate::config::Flavor::Atlas,
            base_url: base_url.parse().unwrap(),
            api_version: ApiVersion::V2,
            timeout: Duration::from_secs(30),
            max_concurrency: 8,
            max_listing_items: 100_000,
            poll_deadline: None,
            rate_limit: crate::config::RateLimitConfig::default(),
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
    fn http_dates_are_read_as_atlas_writes_them() {
        let want: Timestamp = "2027-07-01T00:00:00Z".parse().unwrap();
        for value in [
            "Thu, 1 Jul 2027 00:00:00 GMT",
            "Thu, 01 Jul 2027 00:00:00 GMT",
            " Thu, 1 Jul 2027 00:00:00 +0000 ",
            "Mon, 1 Jul 2027 00:00:00 GMT",
            "1 Jul 2027 00:00:00 GMT",
            "@1814400000",
        ] {
            assert_eq!(parse_http_date(value), Some(want), "{value:?}");
        }
        assert_eq!(parse_http_date("next summer"), None);
    }

    #[test]
    fn announcements_read_sunset_and_rate_limit_headers() {
        let mut h = HeaderMap::new();
        assert!(announcements(&h).is_empty());
        h.insert("Sunset", "Thu, 1 Jul 2027 00:00:00 GMT".parse().unwrap());
        h.insert(
            "Deprecation",
            "Mon, 5 Aug 2024 00:00:00 GMT".parse().unwrap(),
        );
        h.insert("Ratelimit-Limit", "1200".parse().unwrap());
        h.insert("Ratelimit-Remaining", "1199".parse().unwrap());
        let a = announcements(&h);
        assert_eq!(a.sunset, Some("2027-07-01T00:00:00Z".parse().unwrap()));
        assert_eq!(a.deprecation, Some("2024-08-05T00:00:00Z".parse().unwrap()));
        assert_eq!(
            a.rate_limit,
            Some(RateLimitHeaders {
                limit: Some(1200),
                remaining: 1199
            })
        );
        h.remove("Ratelimit-Limit");
        h.insert("Ratelimit-Remaining", "lots".parse().unwrap());
        assert_eq!(announcements(&h).rate_limit, None);
    }

    #[test]
    fn jitter_adds_a_bounded_delay() {
        for _ in 0..100 {
            let d = with_jitter(Duration::from_secs(10));
            assert!(d >= Duration::from_secs(10) && d <= Duration::from_secs(12));
        }
    }
}
