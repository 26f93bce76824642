//! The request pipeline, in the order Atlas (plausibly) applies its checks:
//!
//! 1. route by path (`Stats::by_route` counts every request, 401s included); paths outside
//!    `/api/` are a plain 404, the OAuth endpoints authenticate on their own;
//! 2. authentication (bearer token or digest; anything else gets the digest challenge);
//! 3. unknown API path → 404 `RESOURCE_NOT_FOUND`; a method other than GET → 405;
//! 4. `Accept` must name the endpoint's media type → else 406;
//! 5. path parameters (group id 404 `INVALID_GROUP_ID`, cluster name 400, snapshot id 404);
//! 6. the rate limit of (project, endpoint set) → 429; from here on every answer carries
//!    `Ratelimit-Limit` and `Ratelimit-Remaining`, errors included, as Atlas' do; then a
//!    retired route or media type → 410 `VERSION_GONE`;
//! 7. query parameters (paging, flags, `completed`) → 400;
//! 8. project and cluster exist → 404 `GROUP_NOT_FOUND` / `CLUSTER_NOT_FOUND`;
//! 9. the cluster's fault (error, delay, or a broken body);
//! 10. the cluster's kind matches the endpoint → else 400;
//! 11. the answer: one snapshot (404 if unknown) or a page of the listing.
//!
//! The discovery endpoints (`/groups`, `/orgs/{id}/groups`, `…/clusters[/{name}]`,
//! `…/flexClusters[/{name}]`) and `…/backup/schedule` take the same steps where they apply,
//! with the scenario's `max_items_per_page` capping their pages.
//!
//! The Cloud Manager / Ops Manager paths (`/api/public/v1.0/groups/{id}/…`: `clusters`,
//! `clusters/{clusterId}[/snapshots[/{id}]]`, `backupConfigs[/{clusterId}[/snapshotSchedule]]`)
//! serve the legacy clusters of every project, addressed by id, as `application/json`, with
//! the same authentication, rate limits, faults and error shape.
//!
//! A route or media type marked for sunset adds `Deprecation:` and `Sunset:` to every answer
//! after negotiation.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue,
    RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::alerts;
use super::digest;
use super::errors::{ApiError, Resp, UNAUTHORIZED_BODY, bytes_response, json_response, to_bytes};
use super::faults::{Effect, FaultContext};
use super::jobs::{JobRoute, SimRole};
use super::oauth::{self, TokenRequest};
use super::query::{Output, PageRequest, Query};
use super::ratelimit::{Admission, rate_limited};
use super::render::{self, ClusterRef, Policy};
use super::routes::{self, Endpoint, EndpointSet, Family, MEDIA_V1};
use super::scenario::{FlexRefusal, SimKind, SimSnapshot, SimStatus};
use super::shared::Shared;
use super::sync::lock;
use super::world::{ClusterView, Lookup};

/// Largest request body read (only the OAuth endpoints read one).
const MAX_BODY: usize = 64 * 1024;

/// Marks a response as one page of a listing, for `Stats::pages_served`.
#[derive(Clone, Copy)]
struct PageServed;

/// Serves one request and counts it.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Resp, Infallible> {
    let endpoint = routes::classify(request.uri().path());
    {
        let mut stats = lock(&shared.stats);
        stats.requests += 1;
        *stats
            .by_route
            .entry(endpoint.route_name().to_string())
            .or_default() += 1;
    }
    if !shared.latency.is_zero() {
        shared.clock.sleep(shared.latency).await;
    }
    let mut response = dispatch(&shared, peer.ip(), endpoint, request).await;
    let page = response.extensions_mut().remove::<PageServed>().is_some();
    let status = response.status();
    {
        let mut stats = lock(&shared.stats);
        *stats.by_status.entry(status.as_u16()).or_default() += 1;
        if status == StatusCode::UNAUTHORIZED {
            stats.unauthorized += 1;
        }
        if page && status == StatusCode::OK {
            stats.pages_served += 1;
        }
    }
    Ok(response)
}

/// What every API handler needs from the request once it is authenticated.
struct Ctx {
    origin: String,
    path: String,
    /// The raw query, if any.
    raw_query: Option<String>,
    query: Query,
    peer: IpAddr,
    /// The route name, for the lifecycle switches.
    route: &'static str,
    /// The media type the endpoint answers with.
    media: &'static str,
    /// `(limit, remaining)` once the rate limiter has seen the request.
    rate: Mutex<Option<(u32, u32)>>,
}

async fn dispatch(
    shared: &Shared,
    peer: IpAddr,
    endpoint: Endpoint,
    request: Request<Incoming>,
) -> Resp {
    match endpoint {
        Endpoint::Unknown => {
            return ApiError::resource_not_found(request.uri().path()).into_response();
        }
        Endpoint::OAuthToken | Endpoint::OAuthRevoke => {
            return oauth_endpoint(shared, &endpoint, request).await;
        }
        _ => {}
    }
    if let Err(Unauthenticated { stale }) = authenticate(shared, &request) {
        return unauthorized(shared, stale);
    }
    if endpoint == Endpoint::UnknownApi {
        return ApiError::resource_not_found(request.uri().path()).into_response();
    }
    if request.method() != Method::GET {
        let mut response = ApiError::method_not_allowed(request.method().as_str()).into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    if !accepts(request.headers(), endpoint.media_type()) {
        return ApiError::not_acceptable().into_response();
    }
    let origin = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("http://{host}"))
        .unwrap_or_else(|| shared.fallback_origin.clone());
    let raw_query = request.uri().query().map(str::to_string);
    let ctx = Ctx {
        origin,
        path: request.uri().path().to_string(),
        query: Query::parse(raw_query.as_deref().unwrap_or("")),
        raw_query,
        peer,
        route: endpoint.route_name(),
        media: endpoint.media_type(),
        rate: Mutex::new(None),
    };
    let result = match &endpoint {
        Endpoint::SnapshotList {
            family,
            group,
            cluster,
        } => snapshots(shared, &ctx, *family, group, cluster, None).await,
        Endpoint::SnapshotGet {
            family,
            group,
            cluster,
            id,
        } => snapshots(shared, &ctx, *family, group, cluster, Some(id)).await,
        Endpoint::ShardedList { group, cluster } => {
            sharded_snapshots(shared, &ctx, group, cluster, None).await
        }
        Endpoint::ShardedGet { group, cluster, id } => {
            sharded_snapshots(shared, &ctx, group, cluster, Some(id)).await
        }
        Endpoint::FlexClusterList { group } => flex_cluster_list(shared, &ctx, group),
        Endpoint::FlexClusterGet { group, cluster } => {
            flex_cluster_get(shared, &ctx, group, cluster).await
        }
        Endpoint::GroupList => group_list(shared, &ctx, None),
        Endpoint::OrgGroupList { org } => group_list(shared, &ctx, Some(org)),
        Endpoint::ClusterList { group } => cluster_list(shared, &ctx, group),
        Endpoint::AlertList { group } => alert_list(shared, &ctx, group),
        Endpoint::ClusterGet { group, cluster } => cluster_get(shared, &ctx, group, cluster).await,
        Endpoint::BackupSchedule { group, cluster } => {
            backup_schedule(shared, &ctx, group, cluster).await
        }
        Endpoint::JobList {
            route,
            group,
            cluster,
        } => job_list(shared, &ctx, *route, group, cluster).await,
        Endpoint::ManagerClusterList { group } => {
            manager_list(shared, &ctx, group, ManagerListing::Clusters)
        }
        Endpoint::BackupConfigList { group } => {
            manager_list(shared, &ctx, group, ManagerListing::BackupConfigs)
        }
        Endpoint::ManagerClusterGet { group, id } => {
            manager_get(shared, &ctx, group, id, ManagerResource::Cluster).await
        }
        Endpoint::BackupConfigGet { group, id } => {
            manager_get(shared, &ctx, group, id, ManagerResource::BackupConfig).await
        }
        Endpoint::SnapshotSchedule { group, id } => {
            manager_get(shared, &ctx, group, id, ManagerResource::SnapshotSchedule).await
        }
        // Answered before authentication or above; kept total rather than panicking.
        Endpoint::OAuthToken | Endpoint::OAuthRevoke | Endpoint::UnknownApi | Endpoint::Unknown => {
            Err(Failure::from(ApiError::resource_not_found(&ctx.path)))
        }
    };
    let mut response = result.unwrap_or_else(Failure::into_response);
    let headers = response.headers_mut();
    if let Some((limit, remaining)) = *lock(&ctx.rate) {
        headers.insert("ratelimit-limit", HeaderValue::from(limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    }
    lock(&shared.lifecycle).decorate(ctx.route, ctx.media, headers);
    response
}

/// An error response, possibly with a `Retry-After`.
struct Failure {
    error: ApiError,
    retry_after: Option<u64>,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

impl Failure {
    fn into_response(self) -> Resp {
        let mut response = self.error.into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

// ---- authentication ----

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (head, rest) = header.trim_start().split_at_checked(scheme.len())?;
    (head.eq_ignore_ascii_case(scheme) && rest.starts_with(' ')).then(|| rest.trim())
}

/// Why a request was not let in: `stale` when only the digest nonce was out of date.
struct Unauthenticated {
    stale: bool,
}

fn authenticate(shared: &Shared, request: &Request<Incoming>) -> Result<(), Unauthenticated> {
    let now = shared.clock.now();
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let mut stale = false;
    if let Some(header) = header {
        if let Some(token) = strip_scheme(header, "Bearer") {
            if lock(&shared.tokens).is_valid(token, now) {
                return Ok(());
            }
        } else if strip_scheme(header, "Digest").is_some() {
            let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
            let verdict = digest::verify(
                header,
                request.method().as_str(),
                target,
                &shared.api_keys,
                &mut lock(&shared.nonces),
                now,
            );
            match verdict {
                Ok(_) => return Ok(()),
                Err(rejection) => {
                    tracing::debug!(?rejection, "digest authorization refused");
                    stale = rejection.is_stale();
                }
            }
        }
    }
    Err(Unauthenticated { stale })
}

/// Atlas' 401, as recorded: its fixed pretty-printed body (`errorCode` `UNEXPECTED_ERROR`) and
/// a fresh digest challenge, whatever scheme the client tried.
fn unauthorized(shared: &Shared, stale: bool) -> Resp {
    let nonce = lock(&shared.nonces).issue(shared.clock.now());
    let mut response = bytes_response(
        StatusCode::UNAUTHORIZED,
        MEDIA_V1,
        Bytes::from_static(UNAUTHORIZED_BODY.as_bytes()),
    );
    if let Ok(value) = HeaderValue::from_str(&digest::challenge(&nonce, stale)) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

async fn oauth_endpoint(shared: &Shared, endpoint: &Endpoint, request: Request<Incoming>) -> Resp {
    if request.method() != Method::POST {
        let mut response = ApiError::method_not_allowed(request.method().as_str()).into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                MEDIA_V1,
                &json!({"error": "invalid_request", "error_description": "Unreadable request body."}),
                false,
            );
        }
    };
    let header = |name: HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let token_request = TokenRequest {
        authorization: header(AUTHORIZATION),
        content_type: header(CONTENT_TYPE),
        body: &body,
    };
    let mut tokens = lock(&shared.tokens);
    if *endpoint == Endpoint::OAuthToken {
        oauth::token(
            &token_request,
            &shared.service_accounts,
            &mut tokens,
            shared.clock.now(),
        )
    } else {
        oauth::revoke(&token_request, &shared.service_accounts, &mut tokens)
    }
}

// ---- content negotiation ----

/// Whether some `Accept` entry names `media` exactly (parameters such as `q` or `charset` aside).
fn accepts(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| entry.split(';').next())
        .any(|m| m.trim().eq_ignore_ascii_case(media))
}

/// The success `Content-Type`: the versioned media type with a charset, or plain JSON for v1.0.
fn content_type(media: &str) -> String {
    if media == MEDIA_V1 {
        MEDIA_V1.to_string()
    } else {
        format!("{media};charset=utf-8")
    }
}

/// A 200 with the endpoint's media type and, when limited, the rate-limit headers.
fn success(
    media: &str,
    body: &Value,
    output: Output,
    admission: Admission,
    malformed: bool,
) -> Resp {
    let mut bytes = to_bytes(body, output.pretty);
    if malformed {
        bytes = break_json(bytes);
    }
    let mut response = bytes_response(StatusCode::OK, &content_type(media), bytes);
    if let Admission::Admitted { limit, remaining } = admission {
        let headers = response.headers_mut();
        headers.insert("ratelimit-limit", HeaderValue::from(limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    }
    response
}

/// Cuts a serialised document in half, which no JSON object survives.
fn break_json(bytes: Bytes) -> Bytes {
    let cut = (bytes.len() / 2).max(1).min(bytes.len());
    bytes.slice(..cut)
}

/// One page of a discovery or manager listing, as every listing answers: `results` of
/// `total` items, the `links` of this page, the envelope when asked, counted as a page served.
fn listing_page(
    ctx: &Ctx,
    page: &PageRequest,
    results: Vec<Value>,
    total: usize,
    media: &str,
    output: Output,
    admission: Admission,
) -> Resp {
    let links = page.links(&ctx.origin, &ctx.path, &ctx.query, total);
    let body = render::list(results, links, page.include_count.then_some(total));
    let body = with_envelope(body, output, false);
    let mut response = success(media, &body, output, admission, false);
    response.extensions_mut().insert(PageServed);
    response
}

fn with_envelope(mut body: Value, output: Output, single: bool) -> Value {
    if !output.envelope {
        return body;
    }
    if single {
        return json!({"content": body, "status": 200});
    }
    if let Some(map) = body.as_object_mut() {
        map.insert("status".into(), json!(200));
    }
    body
}

// ---- shared steps ----

fn check_group(group: &str) -> Result<(), Failure> {
    if routes::is_object_id(group) {
        Ok(())
    } else {
        Err(ApiError::invalid_group_id(group).into())
    }
}

fn check_cluster_name(cluster: &str) -> Result<(), Failure> {
    if routes::is_cluster_name(cluster) {
        Ok(())
    } else {
        Err(ApiError::invalid_cluster_name(cluster).into())
    }
}

/// Takes a token from the bucket of (`scope`, `set`), then refuses a retired route or media
/// type with 410 `VERSION_GONE`, on every endpoint (snapshots, discovery, schedules).
fn admit(shared: &Shared, ctx: &Ctx, scope: &str, set: EndpointSet) -> Result<Admission, Failure> {
    let admission = lock(&shared.limiter).admit(scope, set, shared.clock.now());
    match admission {
        Admission::Unlimited => {}
        Admission::Admitted { limit, remaining } => *lock(&ctx.rate) = Some((limit, remaining)),
        Admission::Refused { .. } => *lock(&ctx.rate) = Some((shared.limits.capacity, 0)),
    }
    match admission {
        Admission::Refused { retry_after_secs } => Err(Failure {
            error: rate_limited(&ctx.path, retry_after_secs, &shared.limits),
            retry_after: Some(retry_after_secs),
        }),
        _ if lock(&shared.lifecycle).is_gone(ctx.route, ctx.media) => {
            Err(ApiError::version_gone().into())
        }
        admitted => Ok(admitted),
    }
}

/// Finds the cluster and applies its fault; returns its view and whether the body must break.
async fn resolve_cluster(
    shared: &Shared,
    ctx: &Ctx,
    group: &str,
    cluster: &str,
) -> Result<(ClusterView, bool), Failure> {
    let fault_ctx = FaultContext {
        group,
        cluster,
        path: &ctx.path,
        peer: ctx.peer,
        limits: &shared.limits,
    };
    let lookup = lock(&shared.world).lookup(group, cluster, &fault_ctx);
    let mut view = match lookup {
        Lookup::NoGroup => return Err(ApiError::group_not_found(group).into()),
        Lookup::NoCluster => return Err(ApiError::cluster_not_found(group, cluster).into()),
        Lookup::Found(view) => *view,
    };
    if let Some(name) = view.injected {
        *lock(&shared.stats)
            .faults_injected
            .entry(name.to_owned())
            .or_default() += 1;
    }
    let malformed = match view.effect.take() {
        None => false,
        Some(Effect::Error { error, retry_after }) => return Err(Failure { error, retry_after }),
        Some(Effect::Delay(delay)) => {
            shared.clock.sleep(delay).await;
            false
        }
        Some(Effect::Malformed) => true,
    };
    Ok((view, malformed))
}

/// The error Atlas gives when a cluster of one kind meets another kind's endpoint.
///
/// Flex endpoints on anything else and other endpoints on flex clusters use the bodies Atlas
/// was recorded sending; a flex endpoint answers as the cluster's `refusal` says (Atlas'
/// kind-mismatch 400 unless a scenario asks for another of the codes the Atlas CLI falls back
/// on). Between tenant, dedicated and legacy, Atlas' answer is not documented; the simulator
/// says `INCORRECT_BACKUP_API_ENDPOINT` naming the path the cluster's kind uses.
fn kind_mismatch(
    family: Family,
    kind: SimKind,
    refusal: FlexRefusal,
    group: &str,
    cluster: &str,
) -> Option<ApiError> {
    if family.kind() == kind {
        return None;
    }
    let bad_request = StatusCode::BAD_REQUEST;
    Some(match (family, kind) {
        (Family::Flex, _) => match refusal {
            FlexRefusal::KindMismatch => ApiError::non_flex_cluster_in_flex_api(cluster),
            FlexRefusal::ClusterNotFound => ApiError::cluster_not_found(group, cluster),
            FlexRefusal::FeatureUnsupported => ApiError::feature_unsupported(),
        },
        (_, SimKind::Flex) => ApiError::flex_cluster_in_cluster_api(cluster),
        (_, other) => {
            let v1 = matches!(family, Family::TenantV1 | Family::LegacyV1);
            let right = match (other, v1) {
                (SimKind::Tenant, true) => Family::TenantV1,
                (SimKind::Tenant, false) => Family::TenantV2,
                (SimKind::Legacy, true) => Family::LegacyV1,
                (SimKind::Legacy, false) => Family::LegacyV2,
                _ => Family::Dedicated,
            };
            let path = right.list_path(group, cluster);
            ApiError::new(
                bad_request,
                "INCORRECT_BACKUP_API_ENDPOINT",
                format!(
                    "Incorrect Public API endpoint for Cloud Backups. Please use the following end point: {path}."
                ),
                vec![json!(path)],
            )
        }
    })
}

// ---- endpoints ----

/// Which snapshots the v2 legacy listing's `completed` parameter keeps.
fn completed_filter(family: Family, query: &Query) -> Result<Option<bool>, Failure> {
    if family != Family::LegacyV2 {
        return Ok(None);
    }
    match query
        .get("completed")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some("all") => Ok(None),
        Some(_) => Err(ApiError::invalid_query_parameter("completed").into()),
    }
}

/// The path parameters every snapshot route checks, in Atlas' order: group, cluster, snapshot id.
fn check_snapshot_path(group: &str, cluster: &str, id: Option<&str>) -> Result<(), Failure> {
    check_group(group)?;
    check_cluster_name(cluster)?;
    match id {
        Some(id) if !routes::is_object_id(id) => Err(ApiError::invalid_snapshot_id(id).into()),
        _ => Ok(()),
    }
}

async fn snapshots(
    shared: &Shared,
    ctx: &Ctx,
    family: Family,
    group: &str,
    cluster: &str,
    id: Option<&str>,
) -> Result<Resp, Failure> {
    // Cloud Manager and Ops Manager address the cluster by id: serve it under its name.
    let name;
    let cluster = if family == Family::LegacyPublic {
        name = manager_cluster_name(shared, group, cluster)?;
        name.as_str()
    } else {
        cluster
    };
    check_snapshot_path(group, cluster, id)?;
    let admission = admit(shared, ctx, group, family.endpoint_set())?;
    let output = Output::parse(&ctx.query)?;
    let (page, completed) = match id {
        Some(_) => (None, None),
        None if family.is_paged() => (
            Some(PageRequest::parse(&ctx.query)?),
            completed_filter(family, &ctx.query)?,
        ),
        None => (None, None),
    };
    let (view, malformed) = resolve_cluster(shared, ctx, group, cluster).await?;
    if family != Family::Flex && view.described.is_free() {
        return Err(ApiError::provider_backup_not_supported().into());
    }
    if let Some(error) = kind_mismatch(family, view.kind, view.flex_refusal, group, cluster) {
        return Err(error.into());
    }
    let at = ClusterRef {
        origin: &ctx.origin,
        group,
        cluster,
    };
    let media = family.media_type();
    let policy = Policy::of(&view.described);

    if let Some(id) = id {
        let snapshot = view
            .snapshots
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| snapshot_not_found(family, id, cluster))?;
        let body = with_envelope(
            render::snapshot_under(family, snapshot, &at, view.sharded, &policy),
            output,
            true,
        );
        return Ok(success(media, &body, output, admission, malformed));
    }

    let mut kept: Vec<&SimSnapshot> = view
        .snapshots
        .iter()
        .filter(|s| completed.is_none_or(|want| (s.status == SimStatus::Completed) == want))
        .collect();
    if family == Family::Flex {
        // Atlas lists flex snapshots oldest first, whatever order they were taken in.
        kept.sort_by_key(|s| (s.scheduled.is_none(), s.scheduled));
    }
    let body = match page {
        None => {
            let href = match &ctx.raw_query {
                Some(q) => format!("{}{}?{q}", ctx.origin, ctx.path),
                None => format!("{}{}", ctx.origin, ctx.path),
            };
            let results = kept
                .iter()
                .map(|s| render::snapshot_under(family, s, &at, view.sharded, &policy))
                .collect();
            render::list(
                results,
                vec![json!({"href": href, "rel": "self"})],
                Some(kept.len()),
            )
        }
        Some(page) => {
            let results = page
                .slice(&kept)
                .iter()
                .map(|s| render::snapshot_under(family, s, &at, view.sharded, &policy))
                .collect();
            let links = page.links(&ctx.origin, &ctx.path, &ctx.query, kept.len());
            render::list(results, links, page.include_count.then_some(kept.len()))
        }
    };
    let body = with_envelope(body, output, false);
    let mut response = success(media, &body, output, admission, malformed);
    response.extensions_mut().insert(PageServed);
    Ok(response)
}

/// `…/backup/snapshots/shardedClusters` (the spec gives it no paging parameters, so it lists
/// everything) and `…/backup/snapshots/shardedCluster/{id}`. A replica-set cluster lists no
/// sharded snapshots and has none to get (Atlas' answer there is not documented).
async fn sharded_snapshots(
    shared: &Shared,
    ctx: &Ctx,
    group: &str,
    cluster: &str,
    id: Option<&str>,
) -> Result<Resp, Failure> {
    check_snapshot_path(group, cluster, id)?;
    let admission = admit(shared, ctx, group, EndpointSet::CloudBackups)?;
    let output = Output::parse(&ctx.query)?;
    let (view, malformed) = resolve_cluster(shared, ctx, group, cluster).await?;
    let family = Family::Dedicated;
    if let Some(error) = kind_mismatch(family, view.kind, view.flex_refusal, group, cluster) {
        return Err(error.into());
    }
    let at = ClusterRef {
        origin: &ctx.origin,
        group,
        cluster,
    };
    let policy = Policy::of(&view.described);
    let listed: &[SimSnapshot] = if view.sharded { &view.snapshots } else { &[] };
    if let Some(id) = id {
        let snapshot = listed
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| snapshot_not_found(family, id, cluster))?;
        let body = with_envelope(render::sharded(snapshot, &at, &policy), output, true);
        return Ok(success(
            family.media_type(),
            &body,
            output,
            admission,
            malformed,
        ));
    }
    let href = match &ctx.raw_query {
        Some(q) => format!("{}{}?{q}", ctx.origin, ctx.path),
        None => format!("{}{}", ctx.origin, ctx.path),
    };
    let results = listed
        .iter()
        .map(|s| render::sharded(s, &at, &policy))
        .collect();
    let body = render::list(
        results,
        vec![json!({"href": href, "rel": "self"})],
        Some(listed.len()),
    );
    let body = with_envelope(body, output, false);
    let mut response = success(family.media_type(), &body, output, admission, malformed);
    response.extensions_mut().insert(PageServed);
    Ok(response)
}

fn snapshot_not_found(family: Family, id: &str, cluster: &str) -> ApiError {
    let (code, what) = match family.kind() {
        SimKind::Tenant | SimKind::Flex => ("TENANT_SNAPSHOT_NOT_FOUND", "Flex snapshot"),
        SimKind::Dedicated | SimKind::Legacy => ("SNAPSHOT_NOT_FOUND", "snapshot"),
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        code,
        format!("No {what} with ID {id} exists for cluster {cluster}."),
        vec![json!(id), json!(cluster)],
    )
}

fn flex_cluster_list(shared: &Shared, ctx: &Ctx, group: &str) -> Result<Resp, Failure> {
    check_group(group)?;
    let admission = admit(shared, ctx, group, EndpointSet::FlexClusters)?;
    let output = Output::parse(&ctx.query)?;
    let page = discovery_page(shared, ctx)?;
    let clusters = lock(&shared.world)
        .flex_clusters(group)
        .ok_or_else(|| ApiError::group_not_found(group))?;
    let results = page
        .slice(&clusters)
        .iter()
        .map(|c| {
            let at = ClusterRef {
                origin: &ctx.origin,
                group,
                cluster: &c.name,
            };
            render::flex_cluster(&at, c.created, c.backup_enabled)
        })
        .collect();
    Ok(listing_page(
        ctx,
        &page,
        results,
        clusters.len(),
        routes::MEDIA_2024_FLEX,
        output,
        admission,
    ))
}

async fn flex_cluster_get(
    shared: &Shared,
    ctx: &Ctx,
    group: &str,
    cluster: &str,
) -> Result<Resp, Failure> {
    check_group(group)?;
    check_cluster_name(cluster)?;
    let admission = admit(shared, ctx, group, EndpointSet::FlexClusters)?;
    let output = Output::parse(&ctx.query)?;
    let (view, malformed) = resolve_cluster(shared, ctx, group, cluster).await?;
    if let Some(error) = kind_mismatch(Family::Flex, view.kind, view.flex_refusal, group, cluster) {
        return Err(error.into());
    }
    let at = ClusterRef {
        origin: &ctx.origin,
        group,
        cluster,
    };
    let described = &view.described;
    let body = with_envelope(
        render::flex_cluster(&at, described.created, described.backup_enabled),
        output,
        true,
    );
    Ok(success(
        routes::MEDIA_2024_FLEX,
        &body,
        output,
        admission,
        malformed,
    ))
}

/// A page request of a discovery listing, capped at the scenario's `max_items_per_page`.
fn discovery_page(shared: &Shared, ctx: &Ctx) -> Result<PageRequest, Failure> {
    let mut page = PageRequest::parse(&ctx.query)?;
    page.items_per_page = page.items_per_page.min(shared.max_items_per_page);
    Ok(page)
}

/// `GET /groups` (every project: any accepted credential reads them all) or, with `org`,
/// `GET /orgs/{org}/groups` (that organization's, 404 for an unknown one).
fn group_list(shared: &Shared, ctx: &Ctx, org: Option<&String>) -> Result<Resp, Failure> {
    if let Some(org) = org
        && !routes::is_object_id(org)
    {
        return Err(ApiError::invalid_org_id(org).into());
    }
    // The Projects endpoint set is scoped per user; one simulated user shares one bucket.
    let admission = admit(shared, ctx, "", EndpointSet::Projects)?;
    let output = Output::parse(&ctx.query)?;
    let page = discovery_page(shared, ctx)?;
    let projects = {
        let world = lock(&shared.world);
        match org {
            None => world.projects(),
            Some(org) => world
                .projects_in_org(org)
                .ok_or_else(|| ApiError::org_not_found(org))?,
        }
    };
    let results = page
        .slice(&projects)
        .iter()
        .map(|p| render::group(&ctx.origin, &p.id, &p.name, &p.org_id, p.cluster_count))
        .collect();
    Ok(listing_page(
        ctx,
        &page,
        results,
        projects.len(),
        routes::MEDIA_2023,
        output,
        admission,
    ))
}

/// `GET …/clusters`: every cluster but the flex ones (which Atlas lists only on
/// `…/flexClusters`), M0 free clusters included.
fn cluster_list(shared: &Shared, ctx: &Ctx, group: &str) -> Result<Resp, Failure> {
    check_group(group)?;
    let admission = admit(shared, ctx, group, EndpointSet::Clusters)?;
    let output = Output::parse(&ctx.query)?;
    let page = discovery_page(shared, ctx)?;
    let clusters = lock(&shared.world)
        .clusters(group)
        .ok_or_else(|| ApiError::group_not_found(group))?;
    let results = page
        .slice(&clusters)
        .iter()
        .map(|c| {
            let at = ClusterRef {
                origin: &ctx.origin,
                group,
                cluster: &c.name,
            };
            render::cluster(&at, c)
        })
        .collect();
    Ok(listing_page(
        ctx,
        &page,
        results,
        clusters.len(),
        routes::MEDIA_2024_CLUSTERS,
        output,
        admission,
    ))
}

/// `GET /groups/{id}/alerts`: the project's alerts, filtered by `status`, paged.
fn alert_list(shared: &Shared, ctx: &Ctx, group: &str) -> Result<Resp, Failure> {
    check_group(group)?;
    let admission = admit(shared, ctx, group, EndpointSet::Alerts)?;
    let output = Output::parse(&ctx.query)?;
    let page = discovery_page(shared, ctx)?;
    let (org_id, alerts) = lock(&shared.world)
        .alerts(group)
        .ok_or_else(|| ApiError::group_not_found(group))?;
    let kept = alerts::filter(&alerts, ctx.query.get("status"))?;
    let results = page
        .slice(&kept)
        .iter()
        .map(|(index, alert)| alerts::render(&ctx.origin, group, &org_id, *index, alert))
        .collect();
    Ok(listing_page(
        ctx,
        &page,
        results,
        kept.len(),
        routes::MEDIA_2023,
        output,
        admission,
    ))
}

/// `GET …/clusters/{name}`: a flex cluster gets the recorded 400
/// `CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API`.
async fn cluster_get(
    shared: &Shared,
    ctx: &Ctx,
    group: &str,
    cluster: &str,
) -> Result<Resp, Failure> {
    check_group(group)?;
    check_cluster_name(cluster)?;
    let admission = admit(shared, ctx, group, EndpointSet::Clusters)?;
    let output = Output::parse(&ctx.query)?;
    let (view, malformed) = resolve_cluster(shared, ctx, group, cluster).await?;
    if view.kind == SimKind::Flex {
        return Err(ApiError::flex_cluster_in_cluster_api(cluster).into());
    }
    let at = ClusterRef {
        origin: &ctx.origin,
        group,
        cluster,
    };
    let body = with_envelope(render::cluster(&at, &view.described), output, true);
    Ok(success(
        routes::MEDIA_2024_CLUSTERS,
        &body,
        output,
        admission,
        malformed,
    ))
}

/// `GET …/clusters/{name}/backup/schedule` (Cloud Backups endpoint set): a flex cluster gets
/// `CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API`; a cluster without Cloud Backup (backups off, M0,
/// shared-tier, Legacy Backup) 404 `BACKUP_CONFIG_NOT_FOUND`, the answer Terraform's Atlas
/// provider treats as "no schedule" when it reads one for every cluster.
async fn backup_schedule(
    shared: &Shared,
    ctx: &Ctx,
    group: &str,
    cluster: &str,
) -> Result<Resp, Failure> {
    check_group(group)?;
    check_cluster_name(cluster)?;
    let admission = admit(shared, ctx, group, EndpointSet::CloudBackups)?;
    let output = Output::parse(&ctx.query)?;
    let (view, malformed) = resolve_cluster(shared, ctx, group, cluster).await?;
    match view.kind {
        SimKind::Flex => return Err(ApiError::flex_cluster_in_cluster_api(cluster).into()),
        SimKind::Dedicated if view.described.backup_enabled => {}
        _ => return Err(ApiError::backup_config_not_found(group, cluster).into()),
    }
    let at = ClusterRef {
        origin: &ctx.origin,
        group,
        cluster,
    };
    let body = render::schedule(&at, &view.described, shared.wall_now());
    let body = with_envelope(body, output, true);
    Ok(success(
        routes::MEDIA_2024_CLUSTERS,
        &body,
        output,
        admission,
        malformed,
    ))
}

/// A restore-job or export-job listing ([`JobRoute`]), paged like the discovery listings.
/// A Project Read Only credential gets a 403 on the Backup-Manager ones before the cluster is
/// looked up; a flex listing for another kind answers as the snapshot listing does (the
/// recorded `TestRestores/Restores_List` 400), a dedicated one for a flex cluster the recorded
/// `CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API`.
async fn job_list(
    shared: &Shared,
    ctx: &Ctx,
    route: JobRoute,
    group: &str,
    cluster: &str,
) -> Result<Resp, Failure> {
    check_group(group)?;
    check_cluster_name(cluster)?;
    let admission = admit(shared, ctx, group, route.endpoint_set())?;
    let role = lock(&shared.world).role(group);
    if route.needs_backup_manager() && role == Some(SimRole::ReadOnly) {
        return Err(ApiError::insufficient_role().into());
    }
    let output = Output::parse(&ctx.query)?;
    let page = discovery_page(shared, ctx)?;
    let (view, malformed) = resolve_cluster(shared, ctx, group, cluster).await?;
    let family = match route {
        JobRoute::FlexRestores => Family::Flex,
        JobRoute::DedicatedRestores | JobRoute::Exports => Family::Dedicated,
    };
    if (view.kind == SimKind::Flex || family == Family::Flex)
        && let Some(error) = kind_mismatch(family, view.kind, view.flex_refusal, group, cluster)
    {
        return Err(error.into());
    }
    let at = ClusterRef {
        origin: &ctx.origin,
        group,
        cluster,
    };
    let all = route.render_all(&at, &view.jobs);
    let total = all.len();
    let results = page.slice(&all).to_vec();
    let links = page.links(&ctx.origin, &ctx.path, &ctx.query, total);
    let body = render::list(results, links, page.include_count.then_some(total));
    let body = with_envelope(body, output, false);
    let mut response = success(route.media_type(), &body, output, admission, malformed);
    response.extensions_mut().insert(PageServed);
    Ok(response)
}

// ---- Cloud Manager and Ops Manager ----

/// The name of the legacy cluster `id` names in `group`: 404 `INVALID_GROUP_ID` or
/// `GROUP_NOT_FOUND` for the project, 404 `CLUSTER_NOT_FOUND` for an id it does not have.
fn manager_cluster_name(shared: &Shared, group: &str, id: &str) -> Result<String, Failure> {
    check_group(group)?;
    lock(&shared.world)
        .manager_cluster_name(group, id)
        .ok_or_else(|| ApiError::group_not_found(group))?
        .ok_or_else(|| ApiError::manager_cluster_not_found(group, id).into())
}

/// The project-wide Cloud Manager / Ops Manager listings.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ManagerListing {
    /// `GET …/clusters`: each cluster, and each shard of a sharded one.
    Clusters,
    /// `GET …/backupConfigs`: one per cluster.
    BackupConfigs,
}

fn manager_list(
    shared: &Shared,
    ctx: &Ctx,
    group: &str,
    listing: ManagerListing,
) -> Result<Resp, Failure> {
    check_group(group)?;
    let set = match listing {
        ManagerListing::Clusters => EndpointSet::Clusters,
        ManagerListing::BackupConfigs => EndpointSet::LegacyBackup,
    };
    let admission = admit(shared, ctx, group, set)?;
    let output = Output::parse(&ctx.query)?;
    let page = discovery_page(shared, ctx)?;
    let clusters = lock(&shared.world)
        .manager_clusters(group)
        .ok_or_else(|| ApiError::group_not_found(group))?;
    let entries: Vec<Value> = clusters
        .iter()
        .flat_map(|c| {
            let at = ClusterRef {
                origin: &ctx.origin,
                group,
                cluster: &c.name,
            };
            match listing {
                ManagerListing::Clusters => {
                    let mut entries = vec![render::manager_cluster(&at, c)];
                    if c.sharded {
                        entries.extend(render::manager_shards(&at));
                    }
                    entries
                }
                ManagerListing::BackupConfigs => vec![render::backup_config(&at, c)],
            }
        })
        .collect();
    let results = page.slice(&entries).to_vec();
    Ok(listing_page(
        ctx,
        &page,
        results,
        entries.len(),
        MEDIA_V1,
        output,
        admission,
    ))
}

/// The one-cluster Cloud Manager / Ops Manager resources.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ManagerResource {
    /// `GET …/clusters/{clusterId}`.
    Cluster,
    /// `GET …/backupConfigs/{clusterId}`.
    BackupConfig,
    /// `GET …/backupConfigs/{clusterId}/snapshotSchedule`.
    SnapshotSchedule,
}

async fn manager_get(
    shared: &Shared,
    ctx: &Ctx,
    group: &str,
    id: &str,
    resource: ManagerResource,
) -> Result<Resp, Failure> {
    let name = manager_cluster_name(shared, group, id)?;
    let set = match resource {
        ManagerResource::Cluster => EndpointSet::Clusters,
        ManagerResource::BackupConfig | ManagerResource::SnapshotSchedule => {
            EndpointSet::LegacyBackup
        }
    };
    let admission = admit(shared, ctx, group, set)?;
    let output = Output::parse(&ctx.query)?;
    let (view, malformed) = resolve_cluster(shared, ctx, group, &name).await?;
    let at = ClusterRef {
        origin: &ctx.origin,
        group,
        cluster: &name,
    };
    let body = match resource {
        ManagerResource::Cluster => render::manager_cluster(&at, &view.described),
        ManagerResource::BackupConfig => render::backup_config(&at, &view.described),
        ManagerResource::SnapshotSchedule => render::manager_schedule(&at, &view.described),
    };
    let body = with_envelope(body, output, true);
    Ok(success(MEDIA_V1, &body, output, admission, malformed))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn accept_matching_ignores_parameters_and_case_but_not_versions() {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("text/html, application/vnd.atlas.2023-01-01+json;q=0.9"),
        );
        assert!(accepts(&headers, routes::MEDIA_2023));
        assert!(!accepts(&headers, routes::MEDIA_2024_FLEX));
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!accepts(&headers, routes::MEDIA_2023));
        assert!(!accepts(&HeaderMap::new(), MEDIA_V1));
    }

    #[test]
    fn a_malformed_body_is_not_json() {
        for body in [
            json!({}),
            json!({"links": [], "results": [{"id": "x"}], "totalCount": 1}),
        ] {
            let broken = break_json(to_bytes(&body, false));
            assert!(!broken.is_empty());
            assert!(serde_json::from_slice::<Value>(&broken).is_err(), "{body}");
        }
    }

    #[test]
    fn kind_mismatches_use_atlas_codes() {
        let g = "32b6e34b3d91647abb20e7b8";
        let code = |family, kind| {
            kind_mismatch(family, kind, FlexRefusal::KindMismatch, g, "c").map(|e| e.code)
        };
        assert_eq!(
            code(Family::Flex, SimKind::Dedicated),
            Some("CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API")
        );
        assert_eq!(
            code(Family::Dedicated, SimKind::Flex),
            Some("CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API")
        );
        assert_eq!(
            code(Family::TenantV1, SimKind::Flex),
            Some("CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API")
        );
        assert_eq!(
            code(Family::Dedicated, SimKind::Tenant),
            Some("INCORRECT_BACKUP_API_ENDPOINT")
        );
        assert_eq!(code(Family::LegacyV2, SimKind::Legacy), None);
    }

    #[test]
    fn kind_mismatch_bodies_are_the_recorded_ones() {
        let g = "32b6e34b3d91647abb20e7b8";
        let flex = kind_mismatch(
            Family::Flex,
            SimKind::Dedicated,
            FlexRefusal::KindMismatch,
            g,
            "cluster-209",
        )
        .unwrap();
        assert_eq!(
            flex.body(),
            json!({"detail":"Cannot use non-flex cluster cluster-209 in the flex API.","error":400,"errorCode":"CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API","parameters":["cluster-209"],"reason":"Bad Request"})
        );
        let cluster_api = kind_mismatch(
            Family::Dedicated,
            SimKind::Flex,
            FlexRefusal::KindMismatch,
            g,
            "cluster-833",
        )
        .unwrap();
        assert_eq!(
            cluster_api.body(),
            json!({"detail":"Flex cluster cluster-833 cannot be used in the Cluster API.","error":400,"errorCode":"CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API","parameters":["cluster-833"],"reason":"Bad Request"})
        );
        let refused = |refusal| {
            kind_mismatch(Family::Flex, SimKind::Dedicated, refusal, g, "c")
                .map(|e| (e.status.as_u16(), e.code))
        };
        assert_eq!(
            refused(FlexRefusal::ClusterNotFound),
            Some((404, "CLUSTER_NOT_FOUND"))
        );
        assert_eq!(
            refused(FlexRefusal::FeatureUnsupported),
            Some((403, "FEATURE_UNSUPPORTED"))
        );
    }
}
