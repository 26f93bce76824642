//! The Atlas simulator over real sockets, driven by reqwest and diqwest as the exporter drives
//! Atlas: authentication, media types, paging, errors, faults, rate limits, OAuth, and the
//! deterministic data it serves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use atlas_snapshot_exporter::simulator::{
    DEFAULT_ORG_ID, DEMO_DISCOVERED_ORG_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, DISCOVERY_ORG_IDS,
    DISCOVERY_PROJECT_IDS, Fault, HistoryOptions, InFlightPhase, ManualClock, RateLimit, Scenario,
    SimCluster, SimKind, SimProject, SimSnapshot, SimStatus, Simulator, daily_history,
};
use diqwest::{DigestAuthSession, WithDigestAuth};
use jiff::{SignedDuration, Timestamp};
use md5::{Digest, Md5};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE,
};
use serde_json::Value;

const GROUP: &str = "32b6e34b3d91647abb20e7b8";
const OTHER_GROUP: &str = "5b69d0349b15c62cdfc38b78";
const PUBLIC_KEY: &str = "abcdefgh";
const PRIVATE_KEY: &str = "0d1f2e3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
const CLIENT_ID: &str = "mdb_sa_id_1234567890abcdef12345678";
const CLIENT_SECRET: &str = "mdb_sa_sk_secretsecretsecret";
const V2_2023: &str = "application/vnd.atlas.2023-01-01+json";
const V2_FLEX: &str = "application/vnd.atlas.2024-11-13+json";
const V1: &str = "application/json";

fn now() -> Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn history(seed: u64, days: u32) -> Vec<SimSnapshot> {
    daily_history(seed, now(), days, HistoryOptions::default())
}

fn flex_path(cluster: &str) -> String {
    format!("/api/atlas/v2/groups/{GROUP}/flexClusters/{cluster}/backup/snapshots")
}

fn tenant_path(version: &str, cluster: &str) -> String {
    format!("/api/atlas/{version}/groups/{GROUP}/clusters/{cluster}/backup/tenant/snapshots")
}

fn dedicated_path(cluster: &str) -> String {
    format!("/api/atlas/v2/groups/{GROUP}/clusters/{cluster}/backup/snapshots")
}

fn legacy_path(version: &str, cluster: &str) -> String {
    format!("/api/atlas/{version}/groups/{GROUP}/clusters/{cluster}/snapshots")
}

/// One project with a cluster of every kind, and a second project with one flex cluster.
fn scenario() -> Scenario {
    let mut legacy = history(4, 6);
    legacy[1].status = SimStatus::Running;
    legacy[1].finished = None;
    for s in &mut legacy {
        s.size_bytes = Some(1_000_001);
    }
    Scenario::new()
        .with_api_key(PUBLIC_KEY, PRIVATE_KEY)
        .with_service_account(CLIENT_ID, CLIENT_SECRET)
        .with_project(
            SimProject::new(GROUP, "prod")
                .with_cluster(SimCluster::new("flex0", SimKind::Flex).with_snapshots(history(1, 8)))
                .with_cluster(
                    SimCluster::new("tenant0", SimKind::Tenant).with_snapshots(history(2, 150)),
                )
                .with_cluster(
                    SimCluster::new("Cluster0", SimKind::Dedicated).with_snapshots(daily_history(
                        3,
                        now(),
                        10,
                        HistoryOptions {
                            size_bytes: Some(1_234_567_890),
                            in_flight: true,
                            ..HistoryOptions::default()
                        },
                    )),
                )
                .with_cluster(SimCluster::new("legacy0", SimKind::Legacy).with_snapshots(legacy))
                .with_cluster(
                    SimCluster::new("big", SimKind::Flex).with_snapshots(history(5, 1_203)),
                ),
        )
        .with_project(
            SimProject::new(OTHER_GROUP, "staging").with_cluster(
                SimCluster::new("flex1", SimKind::Flex).with_snapshots(history(6, 3)),
            ),
        )
}

/// What a test got back.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    raw: Vec<u8>,
    body: Value,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            raw,
            body,
        }
    }

    fn header(&self, name: impl reqwest::header::AsHeaderName) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_default()
    }

    fn results(&self) -> &Vec<Value> {
        self.body["results"].as_array().expect("a results array")
    }

    fn link(&self, rel: &str) -> Option<String> {
        self.body["links"]
            .as_array()?
            .iter()
            .find(|l| l["rel"] == rel)
            .map(|l| l["href"].as_str().unwrap().to_string())
    }

    fn assert_atlas_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.header(CONTENT_TYPE), "application/json");
        assert_eq!(
            self.header("x-error-code"),
            code,
            "the code, again, as a header"
        );
        assert_eq!(self.body["error"], status);
        assert_eq!(self.body["errorCode"], code, "body: {}", self.body);
        assert!(self.body["detail"].is_string());
        assert!(self.body["reason"].is_string());
        assert!(self.body["parameters"].is_array());
    }
}

/// A running simulator on a clock the test moves, with a reqwest client and a caching digest
/// session.
struct Fixture {
    sim: Simulator,
    clock: ManualClock,
    client: reqwest::Client,
    session: Arc<DigestAuthSession>,
}

impl Fixture {
    async fn start(scenario: Scenario) -> Fixture {
        let clock = ManualClock::new();
        let sim =
            Simulator::start_with_clock(scenario, "127.0.0.1:0".parse().unwrap(), clock.clone())
                .await
                .unwrap();
        Fixture {
            sim,
            clock,
            client: reqwest::Client::new(),
            session: Arc::new(DigestAuthSession::new(PUBLIC_KEY, PRIVATE_KEY)),
        }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.sim.base_url())
    }

    /// GET with digest auth through the caching session.
    async fn get(&self, path_and_query: &str, accept: &str) -> Reply {
        self.get_url(&self.url(path_and_query), accept).await
    }

    async fn get_url(&self, url: &str, accept: &str) -> Reply {
        let response = self
            .client
            .get(url)
            .header(ACCEPT, accept)
            .send_digest_auth(&*self.session)
            .await
            .unwrap();
        Reply::from(response).await
    }

    /// A request with a hand-made Authorization header (or none).
    async fn raw(&self, path_and_query: &str, accept: &str, authorization: Option<&str>) -> Reply {
        let mut request = self
            .client
            .get(self.url(path_and_query))
            .header(ACCEPT, accept);
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    /// A fresh nonce from an unauthenticated request's challenge.
    async fn nonce(&self) -> String {
        let reply = self.raw(&flex_path("flex0"), V2_FLEX, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        challenge_param(reply.header(WWW_AUTHENTICATE), "nonce").unwrap()
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An RFC 7616 MD5/qop=auth Authorization header, made independently of the simulator's code.
fn digest_header(password: &str, nonce: &str, nc: u32, uri: &str) -> String {
    let realm = "MMS Public API";
    let cnonce = "f2f1c3a0d9e8b7a6";
    let nc = format!("{nc:08x}");
    let ha1 = md5_hex(&format!("{PUBLIC_KEY}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("GET:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{PUBLIC_KEY}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\", algorithm=MD5"
    )
}

/// A parameter of a `WWW-Authenticate: Digest ...` value, quotes removed.
fn challenge_param(header: &str, name: &str) -> Option<String> {
    header
        .trim_start_matches("Digest ")
        .split(", ")
        .find_map(|part| part.strip_prefix(&format!("{name}=")))
        .map(|v| v.trim_matches('"').to_string())
}

fn assert_fresh_challenge(reply: &Reply, stale: bool) {
    let challenge = reply.header(WWW_AUTHENTICATE);
    assert!(challenge.starts_with("Digest "), "{challenge}");
    assert_eq!(
        challenge_param(challenge, "realm").as_deref(),
        Some("MMS Public API")
    );
    assert_eq!(challenge_param(challenge, "domain").as_deref(), Some(""));
    assert_eq!(
        challenge_param(challenge, "algorithm").as_deref(),
        Some("MD5")
    );
    assert_eq!(challenge_param(challenge, "qop").as_deref(), Some("auth"));
    assert_eq!(
        challenge_param(challenge, "stale").as_deref(),
        Some(if stale { "true" } else { "false" })
    );
    let nonce = challenge_param(challenge, "nonce").unwrap();
    assert_eq!(nonce.len(), 32, "{nonce}");
    assert!(
        nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "32 characters of the base64 alphabet, as Atlas' nonces: {nonce}"
    );
    assert_eq!(reply.body["error"], 401);
}

// ---- digest authentication ----

#[tokio::test]
async fn digest_handshake_with_a_caching_session_costs_one_challenge_only() {
    let f = Fixture::start(scenario()).await;
    let first = f.get(&flex_path("flex0"), V2_FLEX).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        f.sim.stats().unauthorized,
        1,
        "the first request is challenged once"
    );

    for _ in 0..3 {
        let again = f.get(&flex_path("flex0"), V2_FLEX).await;
        assert_eq!(again.status, StatusCode::OK);
    }
    let stats = f.sim.stats();
    assert_eq!(stats.unauthorized, 1, "a cached nonce answers preemptively");
    assert_eq!(stats.requests, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_sharing_a_nonce_are_all_accepted() {
    let f = Fixture::start(scenario()).await;
    assert_eq!(
        f.get(&flex_path("flex0"), V2_FLEX).await.status,
        StatusCode::OK
    );
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let client = f.client.clone();
        let session = Arc::clone(&f.session);
        let url = f.url(&flex_path("flex0"));
        requests.spawn(async move {
            let response = client
                .get(url)
                .header(ACCEPT, V2_FLEX)
                .send_digest_auth(&*session)
                .await
                .unwrap();
            response.status()
        });
    }
    while let Some(status) = requests.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(
        f.sim.stats().unauthorized,
        1,
        "no request needed a new challenge"
    );
}

#[tokio::test]
async fn wrong_password_gets_401_with_a_fresh_challenge() {
    let f = Fixture::start(scenario()).await;
    let response = f
        .client
        .get(f.url(&flex_path("flex0")))
        .header(ACCEPT, V2_FLEX)
        .send_digest_auth((PUBLIC_KEY, "not-the-key"))
        .await
        .unwrap();
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_fresh_challenge(&reply, false);
    assert_eq!(reply.header(CONTENT_TYPE), "application/json");
    assert_eq!(
        f.sim.stats().unauthorized,
        2,
        "the challenge and the refusal"
    );
}

#[tokio::test]
async fn unknown_public_key_gets_401() {
    let f = Fixture::start(scenario()).await;
    let response = f
        .client
        .get(f.url(&flex_path("flex0")))
        .header(ACCEPT, V2_FLEX)
        .send_digest_auth(("nobody12", PRIVATE_KEY))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_hand_made_digest_header_is_verified_for_real() {
    let f = Fixture::start(scenario()).await;
    let nonce = f.nonce().await;
    let path = flex_path("flex0");
    let good = f
        .raw(
            &path,
            V2_FLEX,
            Some(&digest_header(PRIVATE_KEY, &nonce, 1, &path)),
        )
        .await;
    assert_eq!(good.status, StatusCode::OK);
    let bad = f
        .raw(
            &path,
            V2_FLEX,
            Some(&digest_header("wrong", &nonce, 2, &path)),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_fresh_challenge(&bad, false);
}

#[tokio::test]
async fn an_expired_nonce_gets_a_stale_challenge() {
    let f = Fixture::start(Scenario {
        nonce_ttl: Duration::from_millis(100),
        ..scenario()
    })
    .await;
    let path = flex_path("flex0");
    let nonce = f.nonce().await;
    let fresh = f
        .raw(
            &path,
            V2_FLEX,
            Some(&digest_header(PRIVATE_KEY, &nonce, 1, &path)),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK);

    f.clock.advance(Duration::from_millis(150));
    let expired = f
        .raw(
            &path,
            V2_FLEX,
            Some(&digest_header(PRIVATE_KEY, &nonce, 2, &path)),
        )
        .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_fresh_challenge(&expired, true);
    let next = challenge_param(expired.header(WWW_AUTHENTICATE), "nonce").unwrap();
    assert_ne!(next, nonce);
    let retried = f
        .raw(
            &path,
            V2_FLEX,
            Some(&digest_header(PRIVATE_KEY, &next, 1, &path)),
        )
        .await;
    assert_eq!(retried.status, StatusCode::OK);
}

#[tokio::test]
async fn a_diqwest_session_recovers_from_an_expired_nonce() {
    let f = Fixture::start(Scenario {
        nonce_ttl: Duration::from_millis(100),
        ..scenario()
    })
    .await;
    assert_eq!(
        f.get(&flex_path("flex0"), V2_FLEX).await.status,
        StatusCode::OK
    );
    f.clock.advance(Duration::from_millis(150));
    assert_eq!(
        f.get(&flex_path("flex0"), V2_FLEX).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_replayed_nonce_count_is_rejected_but_out_of_order_counts_are_not() {
    let f = Fixture::start(scenario()).await;
    let path = flex_path("flex0");
    let nonce = f.nonce().await;
    let with = |nc| digest_header(PRIVATE_KEY, &nonce, nc, &path);

    assert_eq!(
        f.raw(&path, V2_FLEX, Some(&with(1))).await.status,
        StatusCode::OK
    );
    let replay = f.raw(&path, V2_FLEX, Some(&with(1))).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_fresh_challenge(&replay, false);
    assert_eq!(
        f.raw(&path, V2_FLEX, Some(&with(0))).await.status,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(
        f.raw(&path, V2_FLEX, Some(&with(4))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        f.raw(&path, V2_FLEX, Some(&with(3))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        f.raw(&path, V2_FLEX, Some(&with(2))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        f.raw(&path, V2_FLEX, Some(&with(3))).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_digest_uri_must_be_the_exact_request_target() {
    let f = Fixture::start(scenario()).await;
    let path = flex_path("flex0");
    let nonce = f.nonce().await;
    let target = format!("{path}?pageNum=1");
    let signed_without_query = digest_header(PRIVATE_KEY, &nonce, 1, &path);
    let reply = f.raw(&target, V2_FLEX, Some(&signed_without_query)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let signed_with_query = digest_header(PRIVATE_KEY, &nonce, 2, &target);
    assert_eq!(
        f.raw(&target, V2_FLEX, Some(&signed_with_query))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn requests_without_credentials_are_challenged_even_on_unknown_api_paths() {
    let f = Fixture::start(scenario()).await;
    let reply = f.raw("/api/atlas/v2/orgs", V2_2023, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_fresh_challenge(&reply, false);
    // Byte for byte the recorded 401 (Jackson's pretty printer, no trailing newline), and
    // unlike other errors without an X-Error-Code header.
    assert_eq!(
        String::from_utf8(reply.raw.clone()).unwrap(),
        "{\n  \"error\" : 401,\n  \"reason\" : \"Unauthorized\",\n  \"detail\" : \"You are not authorized for this resource.\",\n  \"errorCode\" : \"UNEXPECTED_ERROR\"\n}"
    );
    assert_eq!(reply.header(CONTENT_TYPE), "application/json");
    assert_eq!(reply.header("x-error-code"), "");
    let bogus_bearer = f
        .raw(&flex_path("flex0"), V2_FLEX, Some("Bearer nope"))
        .await;
    assert_fresh_challenge(&bogus_bearer, false);
}

// ---- media types ----

#[tokio::test]
async fn a_wrong_accept_header_gets_406_with_a_json_error() {
    let f = Fixture::start(scenario()).await;
    for accept in [
        V2_2023,
        "application/vnd.atlas.2025-03-12+json",
        "*/*",
        V1,
        "application/vnd.atlas.preview+json",
    ] {
        let reply = f.get(&flex_path("flex0"), accept).await;
        reply.assert_atlas_error(406, "INVALID_VERSION_DATE");
        assert_eq!(
            reply.body["detail"],
            "Invalid accept header or version date."
        );
    }
    f.get(&dedicated_path("Cluster0"), V2_FLEX)
        .await
        .assert_atlas_error(406, "INVALID_VERSION_DATE");
}

#[tokio::test]
async fn successful_responses_carry_the_endpoint_media_type() {
    let f = Fixture::start(scenario()).await;
    let cases = [
        (
            flex_path("flex0"),
            V2_FLEX,
            "application/vnd.atlas.2024-11-13+json;charset=utf-8",
        ),
        (
            tenant_path("v2", "tenant0"),
            V2_2023,
            "application/vnd.atlas.2023-01-01+json;charset=utf-8",
        ),
        (
            dedicated_path("Cluster0"),
            V2_2023,
            "application/vnd.atlas.2023-01-01+json;charset=utf-8",
        ),
        (
            legacy_path("v2", "legacy0"),
            V2_2023,
            "application/vnd.atlas.2023-01-01+json;charset=utf-8",
        ),
        (tenant_path("v1.0", "tenant0"), V1, "application/json"),
        (legacy_path("v1.0", "legacy0"), V1, "application/json"),
    ];
    for (path, accept, content_type) in cases {
        let reply = f.get(&path, accept).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        assert_eq!(reply.header(CONTENT_TYPE), content_type, "{path}");
    }
    let with_params = f
        .get(
            &flex_path("flex0"),
            "application/vnd.atlas.2024-11-13+json;charset=utf-8",
        )
        .await;
    assert_eq!(with_params.status, StatusCode::OK);
}

#[tokio::test]
async fn v1_tenant_listing_accepts_application_json_and_pages() {
    let f = Fixture::start(scenario()).await;
    let path = tenant_path("v1.0", "tenant0");
    let reply = f
        .get(&format!("{path}?itemsPerPage=100&pageNum=2"), V1)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.results().len(), 50);
    assert_eq!(reply.body["totalCount"], 150);
    assert!(reply.link("previous").is_some());
    assert!(reply.link("next").is_none());
    f.get(&path, V2_2023)
        .await
        .assert_atlas_error(406, "INVALID_VERSION_DATE");
}

#[tokio::test]
async fn v2_tenant_listing_ignores_paging_and_returns_everything() {
    let f = Fixture::start(scenario()).await;
    let path = format!("{}?itemsPerPage=10&pageNum=3", tenant_path("v2", "tenant0"));
    let reply = f.get(&path, V2_2023).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.results().len(), 150);
    assert_eq!(reply.body["totalCount"], 150);
    assert_eq!(reply.link("self"), Some(f.url(&path)));
    assert!(reply.link("next").is_none());
    assert_eq!(f.sim.stats().pages_served, 1);
}

// ---- paging ----

#[tokio::test]
async fn paging_1203_snapshots_by_500_takes_three_pages_with_links() {
    let f = Fixture::start(scenario()).await;
    let first = f.url(&format!("{}?itemsPerPage=500", flex_path("big")));
    let mut url = Some(first);
    let mut pages = Vec::new();
    while let Some(next) = url {
        let reply = f.get_url(&next, V2_FLEX).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["totalCount"], 1_203);
        url = reply.link("next");
        pages.push(reply);
        assert!(pages.len() <= 3, "too many pages");
    }
    let sizes: Vec<usize> = pages.iter().map(|p| p.results().len()).collect();
    assert_eq!(sizes, [500, 500, 203]);

    // As Atlas writes them: includeCount added, pageNum first on self only.
    let base = f.url(&flex_path("big"));
    let own = |page: u32| format!("{base}?includeCount=true&pageNum={page}&itemsPerPage=500");
    let href = |page: u32| format!("{base}?includeCount=true&itemsPerPage=500&pageNum={page}");
    assert_eq!(pages[0].link("self"), Some(own(1)));
    assert_eq!(pages[0].body["links"][0]["rel"], "self", "self comes first");
    assert_eq!(pages[0].link("previous"), None);
    assert_eq!(pages[0].link("next"), Some(href(2)));
    assert_eq!(pages[1].link("self"), Some(own(2)));
    assert_eq!(pages[1].link("previous"), Some(href(1)));
    assert_eq!(pages[1].link("next"), Some(href(3)));
    assert_eq!(pages[2].link("previous"), Some(href(2)));
    assert_eq!(pages[2].link("next"), None);

    let served: Vec<String> = pages
        .iter()
        .flat_map(|p| {
            p.results()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
        })
        .collect();
    let expected: Vec<String> = history(5, 1_203).into_iter().rev().map(|s| s.id).collect();
    assert_eq!(
        served, expected,
        "flex pages are oldest first, as Atlas lists them"
    );
    assert_eq!(f.sim.stats().pages_served, 3);
    assert_eq!(
        f.sim.stats().by_route.get("flex_list"),
        Some(&4),
        "3 pages + 1 challenge"
    );
}

#[tokio::test]
async fn items_per_page_outside_1_to_500_is_a_400() {
    let f = Fixture::start(scenario()).await;
    for query in [
        "itemsPerPage=501",
        "itemsPerPage=0",
        "itemsPerPage=ten",
        "pageNum=0",
        "pageNum=-1",
        "includeCount=yes",
    ] {
        let reply = f
            .get(&format!("{}?{query}", flex_path("big")), V2_FLEX)
            .await;
        reply.assert_atlas_error(400, "INVALID_QUERY_PARAMETER");
    }
    let max = f
        .get(
            &format!("{}?itemsPerPage=500", dedicated_path("Cluster0")),
            V2_2023,
        )
        .await;
    assert_eq!(max.status, StatusCode::OK);
}

#[tokio::test]
async fn include_count_false_omits_total_count_and_a_page_past_the_end_is_empty() {
    let f = Fixture::start(scenario()).await;
    let reply = f
        .get(
            &format!("{}?includeCount=false", flex_path("flex0")),
            V2_FLEX,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.get("totalCount").is_none());
    assert_eq!(reply.results().len(), 8);

    let past = f
        .get(
            &format!("{}?pageNum=9&itemsPerPage=5", flex_path("flex0")),
            V2_FLEX,
        )
        .await;
    assert_eq!(past.status, StatusCode::OK);
    assert!(past.results().is_empty());
    assert_eq!(past.body["totalCount"], 8);
    assert!(past.link("next").is_none());
}

#[tokio::test]
async fn links_are_absolute_and_built_from_the_host_header() {
    let f = Fixture::start(scenario()).await;
    let url = f.url(&format!(
        "{}?pretty=false&pageNum=1&itemsPerPage=3",
        flex_path("flex0")
    ));
    let response = f
        .client
        .get(&url)
        .header(ACCEPT, V2_FLEX)
        .header(reqwest::header::HOST, "atlas.example:8443")
        .send_digest_auth(&*f.session)
        .await
        .unwrap();
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, StatusCode::OK);
    let next = reply.link("next").unwrap();
    assert_eq!(
        next,
        format!(
            "http://atlas.example:8443{}?includeCount=true&pretty=false&itemsPerPage=3&pageNum=2",
            flex_path("flex0")
        )
    );
    assert!(
        reply.results()[0].get("links").is_none(),
        "flex items have no links"
    );
}

#[tokio::test]
async fn envelope_and_pretty_are_honoured() {
    let f = Fixture::start(scenario()).await;
    let list = f
        .get(&format!("{}?envelope=true", flex_path("flex0")), V2_FLEX)
        .await;
    assert_eq!(list.body["status"], 200);
    assert_eq!(list.results().len(), 8);
    let id = history(1, 8)[0].id.clone();
    let one = f
        .get(
            &format!("{}/{id}?envelope=true", flex_path("flex0")),
            V2_FLEX,
        )
        .await;
    assert_eq!(one.body["status"], 200);
    assert_eq!(one.body["content"]["id"], id.as_str());
    let pretty = f
        .get(&format!("{}?pretty=true", flex_path("flex0")), V2_FLEX)
        .await;
    assert!(pretty.raw.contains(&b'\n'));
    let compact = f.get(&flex_path("flex0"), V2_FLEX).await;
    assert!(!compact.raw.contains(&b'\n'));
}

// ---- rendering per kind ----

#[tokio::test]
async fn tenant_and_flex_snapshots_render_upper_case_statuses_and_only_known_times() {
    let f = Fixture::start(scenario()).await;
    let snapshots = vec![
        SimSnapshot {
            id: "673ecc2f8b1e6a0d5c0f1a2e".into(),
            status: SimStatus::Pending,
            scheduled: Some("2026-11-23T02:00:00Z".parse().unwrap()),
            started: None,
            finished: None,
            size_bytes: None,
            on_demand: false,
        },
        SimSnapshot {
            id: "673ecc2f8b1e6a0d5c0f1a2d".into(),
            status: SimStatus::Other("ARCHIVED".into()),
            scheduled: Some("2026-11-22T02:00:00Z".parse().unwrap()),
            started: Some("2026-11-22T02:00:07Z".parse().unwrap()),
            finished: Some("2026-11-22T02:04:51Z".parse().unwrap()),
            size_bytes: Some(99),
            on_demand: false,
        },
    ];
    assert!(f.sim.set_snapshots(GROUP, "flex0", snapshots));
    let reply = f.get(&flex_path("flex0"), V2_FLEX).await;
    let results = reply.results();
    // Flex listings are oldest first: the ARCHIVED one of the 22nd, then the PENDING one.
    assert_eq!(results[1]["status"], "PENDING");
    assert_eq!(results[1]["scheduledTime"], "2026-11-23T02:00:00Z");
    assert!(results[1].get("startTime").is_none());
    assert!(results[1].get("finishTime").is_none());
    assert_eq!(results[0]["status"], "ARCHIVED");
    assert_eq!(results[0]["startTime"], "2026-11-22T02:00:07Z");
    assert_eq!(results[0]["finishTime"], "2026-11-22T02:04:51Z");
    assert!(results[0].get("storageSizeBytes").is_none());
    assert!(results[0]["mongoDBVersion"].is_string());
}

#[tokio::test]
async fn a_flex_listing_is_served_as_recorded_oldest_first_without_item_links() {
    let f = Fixture::start(scenario()).await;
    // The scenario holds the history newest first; Atlas lists flex snapshots oldest first.
    let held = history(3, 8);
    assert!(f.sim.set_snapshots(GROUP, "flex0", held.clone()));
    let reply = f.get(&flex_path("flex0"), V2_FLEX).await;
    let ids: Vec<&str> = reply
        .results()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let oldest_first: Vec<&str> = held.iter().rev().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, oldest_first);
    assert_eq!(reply.body["totalCount"], 8);
    for (item, snapshot) in reply.results().iter().zip(held.iter().rev()) {
        assert!(item.get("links").is_none(), "{item}");
        let expiration = snapshot
            .scheduled
            .unwrap()
            .checked_add(jiff::SignedDuration::from_hours(8 * 24))
            .unwrap();
        assert_eq!(
            item["expiration"],
            Timestamp::from_second(expiration.as_second())
                .unwrap()
                .to_string(),
            "scheduledTime + 8 days"
        );
    }
    assert_eq!(
        reply.link("self"),
        Some(format!(
            "{}?includeCount=true&pageNum=1&itemsPerPage=100",
            f.url(&flex_path("flex0"))
        ))
    );
}

#[tokio::test]
async fn dedicated_snapshots_render_as_disk_backup_replica_sets() {
    let f = Fixture::start(scenario()).await;
    let reply = f.get(&dedicated_path("Cluster0"), V2_2023).await;
    let results = reply.results();
    assert_eq!(results.len(), 10);
    let in_flight = &results[0];
    assert_eq!(in_flight["status"], "inProgress");
    let completed = &results[1];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["type"], "replicaSet");
    assert_eq!(completed["snapshotType"], "scheduled");
    assert_eq!(completed["frequencyType"], "daily");
    assert!(completed["storageSizeBytes"].as_u64().unwrap() > 1_000_000_000);
    let created: Timestamp = completed["createdAt"].as_str().unwrap().parse().unwrap();
    let source = &daily_history(
        3,
        now(),
        10,
        HistoryOptions {
            size_bytes: Some(1_234_567_890),
            in_flight: true,
            ..HistoryOptions::default()
        },
    )[1];
    assert_eq!(Some(created), source.started);
}

#[tokio::test]
async fn unfinished_on_demand_dedicated_snapshots_render_as_atlas_recorded_them() {
    let f = Fixture::start(scenario()).await;
    let requested: Timestamp = "2026-11-22T11:50:00Z".parse().unwrap();
    let running = SimSnapshot::on_demand("6740000000000000000000a1", SimStatus::Running, requested);
    let queued = SimSnapshot::on_demand("6740000000000000000000a2", SimStatus::Queued, requested);
    let mut listing = history(3, 2);
    listing.push(running.clone());
    listing.push(queued.clone());
    assert!(f.sim.set_snapshots(GROUP, "Cluster0", listing));
    let reply = f.get(&dedicated_path("Cluster0"), V2_2023).await;
    let results = reply.results();
    for (item, wire) in [(&results[2], "inProgress"), (&results[3], "queued")] {
        assert_eq!(item["status"], wire);
        assert!(item.get("createdAt").is_none(), "{item}");
        assert!(item.get("cloudProvider").is_none(), "{item}");
        assert_eq!(item["storageSizeBytes"], 0);
        assert_eq!(item["frequencyType"], "ondemand");
        assert_eq!(item["snapshotType"], "onDemand");
        assert_eq!(item["policyItems"], Value::Array(Vec::new()));
        assert_eq!(item["copyRegions"], Value::Array(Vec::new()));
        assert_eq!(item["type"], "replicaSet");
        assert!(item["expiresAt"].is_string());
        assert!(item["replicaSetName"].is_string());
    }
    assert!(results[0]["createdAt"].is_string());
    let one = f
        .get(
            &format!("{}/{}", dedicated_path("Cluster0"), running.id),
            V2_2023,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body, results[2]);
}

#[tokio::test]
async fn a_sharded_cluster_is_listed_on_both_dedicated_endpoints_and_read_one_by_one() {
    let f = Fixture::start(scenario()).await;
    let snapshots = history(9, 600);
    assert!(
        f.sim.add_cluster(
            GROUP,
            SimCluster::new("shards", SimKind::Dedicated)
                .sharded()
                .with_snapshots(snapshots.clone()),
        )
    );
    // The replica-set listing carries sharded snapshots too, paged as ever.
    let listed = f
        .get(
            &format!("{}?itemsPerPage=500", dedicated_path("shards")),
            V2_2023,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.results().len(), 500);
    assert!(listed.link("next").is_some());
    let first = &listed.results()[0];
    assert_eq!(first["type"], "shardedCluster");
    assert!(first.get("replicaSetName").is_none(), "{first}");
    assert!(first.get("members").is_none(), "{first}");

    // `shardedClusters` is not paged: everything at once, paging parameters or not.
    let sharded_path = format!("{}/shardedClusters", dedicated_path("shards"));
    let all = f
        .get(&format!("{sharded_path}?itemsPerPage=500"), V2_2023)
        .await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.results().len(), 600);
    assert_eq!(all.body["totalCount"], 600);
    assert!(all.link("next").is_none());
    let item = &all.results()[0];
    assert_eq!(item["id"], snapshots[0].id.as_str());
    assert_eq!(item["type"], "shardedCluster");
    assert_eq!(item["configServerType"], "EMBEDDED");
    let members = item["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    let ids: Vec<&Value> = members.iter().map(|m| &m["id"]).collect();
    assert_eq!(
        item["snapshotIds"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        ids
    );
    assert!(
        members
            .iter()
            .all(|m| m["cloudProvider"] == "AWS" && m["replicaSetName"].is_string())
    );

    let one = f
        .get(
            &format!(
                "{}/shardedCluster/{}",
                dedicated_path("shards"),
                snapshots[0].id
            ),
            V2_2023,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(&one.body, item);
    let stats = f.sim.stats();
    assert!(stats.by_route.contains_key("sharded_list"), "{stats:?}");
    assert!(stats.by_route.contains_key("sharded_get"), "{stats:?}");

    // A replica set has no sharded snapshots; a flex cluster gets Atlas' kind-mismatch 400.
    let replica_set = f
        .get(
            &format!("{}/shardedClusters", dedicated_path("Cluster0")),
            V2_2023,
        )
        .await;
    assert_eq!(replica_set.status, StatusCode::OK);
    assert!(replica_set.results().is_empty());
    f.get(
        &format!("{}/shardedClusters", dedicated_path("flex0")),
        V2_2023,
    )
    .await
    .assert_atlas_error(400, "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API");
}

#[tokio::test]
async fn legacy_listing_keeps_only_complete_snapshots_unless_asked_and_splits_sizes_into_parts() {
    let f = Fixture::start(scenario()).await;
    let default = f.get(&legacy_path("v2", "legacy0"), V2_2023).await;
    assert_eq!(
        default.results().len(),
        5,
        "the running one is filtered out"
    );
    assert!(default.results().iter().all(|s| s["complete"] == true));
    let all = f
        .get(
            &format!("{}?completed=all", legacy_path("v2", "legacy0")),
            V2_2023,
        )
        .await;
    assert_eq!(all.results().len(), 6);
    let incomplete = f
        .get(
            &format!("{}?completed=false", legacy_path("v2", "legacy0")),
            V2_2023,
        )
        .await;
    assert_eq!(incomplete.results().len(), 1);
    assert_eq!(incomplete.results()[0]["complete"], false);
    f.get(
        &format!("{}?completed=maybe", legacy_path("v2", "legacy0")),
        V2_2023,
    )
    .await
    .assert_atlas_error(400, "INVALID_QUERY_PARAMETER");

    let v1 = f.get(&legacy_path("v1.0", "legacy0"), V1).await;
    assert_eq!(v1.results().len(), 6, "v1.0 has no completed filter");
    for snapshot in v1.results() {
        let parts = snapshot["parts"].as_array().unwrap();
        assert!((1..=3).contains(&parts.len()));
        let sum: u64 = parts
            .iter()
            .map(|p| p["storageSizeBytes"].as_u64().unwrap())
            .sum();
        assert_eq!(sum, 1_000_001);
        assert!(snapshot["created"]["date"].is_string());
        assert_eq!(snapshot["groupId"], GROUP);
    }
}

#[tokio::test]
async fn one_snapshot_can_be_read_per_kind_and_an_unknown_one_is_404() {
    let f = Fixture::start(scenario()).await;
    let cases = [
        (
            flex_path("flex0"),
            V2_FLEX,
            history(1, 8)[2].id.clone(),
            "TENANT_SNAPSHOT_NOT_FOUND",
        ),
        (
            tenant_path("v2", "tenant0"),
            V2_2023,
            history(2, 150)[0].id.clone(),
            "TENANT_SNAPSHOT_NOT_FOUND",
        ),
        (
            tenant_path("v1.0", "tenant0"),
            V1,
            history(2, 150)[1].id.clone(),
            "TENANT_SNAPSHOT_NOT_FOUND",
        ),
        (
            legacy_path("v1.0", "legacy0"),
            V1,
            history(4, 6)[0].id.clone(),
            "SNAPSHOT_NOT_FOUND",
        ),
        (
            legacy_path("v2", "legacy0"),
            V2_2023,
            history(4, 6)[1].id.clone(),
            "SNAPSHOT_NOT_FOUND",
        ),
    ];
    for (list, accept, id, missing_code) in cases {
        let one = f.get(&format!("{list}/{id}"), accept).await;
        assert_eq!(one.status, StatusCode::OK, "{list}: {}", one.body);
        assert_eq!(one.body["id"], id.as_str());
        assert!(one.body.get("results").is_none());
        f.get(&format!("{list}/ffffffffffffffffffffffff"), accept)
            .await
            .assert_atlas_error(404, missing_code);
        f.get(&format!("{list}/not-an-id"), accept)
            .await
            .assert_atlas_error(404, "INVALID_SNAPSHOT_ID");
    }
    let stats = f.sim.stats();
    assert_eq!(
        stats.by_route.get("flex_get"),
        Some(&4),
        "3 requests + the first one's challenge"
    );
    assert_eq!(stats.by_route.get("tenant_get_v1"), Some(&3));
    assert_eq!(stats.pages_served, 0, "single snapshots are not pages");
}

#[tokio::test]
async fn flex_cluster_listing_describes_the_flex_clusters_only() {
    let f = Fixture::start(scenario()).await;
    let reply = f
        .get(
            &format!("/api/atlas/v2/groups/{GROUP}/flexClusters"),
            V2_FLEX,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let names: Vec<&str> = reply
        .results()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["flex0", "big"]);
    assert_eq!(
        reply.results()[0]["providerSettings"]["providerName"],
        "FLEX"
    );
    assert_eq!(reply.results()[0]["groupId"], GROUP);
    assert_eq!(reply.body["totalCount"], 2);
    let one = f
        .get(
            &format!("/api/atlas/v2/groups/{GROUP}/flexClusters/flex0"),
            V2_FLEX,
        )
        .await;
    assert_eq!(one.body["stateName"], "IDLE");
    f.get(
        &format!("/api/atlas/v2/groups/{GROUP}/flexClusters/Cluster0"),
        V2_FLEX,
    )
    .await
    .assert_atlas_error(400, "CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API");
    let groups = f.get("/api/atlas/v2/groups", V2_2023).await;
    assert_eq!(groups.body["totalCount"], 2);
    assert_eq!(groups.results()[0]["clusterCount"], 5);
}

// ---- errors ----

#[tokio::test]
async fn unknown_cluster_gets_atlas_404_body() {
    let f = Fixture::start(scenario()).await;
    let reply = f.get(&flex_path("nope"), V2_FLEX).await;
    reply.assert_atlas_error(404, "CLUSTER_NOT_FOUND");
    assert_eq!(
        reply.body["detail"],
        format!("No cluster named nope exists in group {GROUP}.")
    );
    assert_eq!(reply.body["parameters"], serde_json::json!(["nope", GROUP]));
    assert_eq!(reply.body["reason"], "Not Found");
}

#[tokio::test]
async fn unknown_groups_bad_ids_and_unknown_paths_get_atlas_errors() {
    let f = Fixture::start(scenario()).await;
    f.get(
        "/api/atlas/v2/groups/ffffffffffffffffffffffff/flexClusters/flex0/backup/snapshots",
        V2_FLEX,
    )
    .await
    .assert_atlas_error(404, "GROUP_NOT_FOUND");
    let invalid = f
        .get(
            "/api/atlas/v2/groups/NOT-HEX/flexClusters/flex0/backup/snapshots",
            V2_FLEX,
        )
        .await;
    invalid.assert_atlas_error(404, "INVALID_GROUP_ID");
    assert_eq!(
        invalid.body["detail"],
        "An invalid group ID NOT-HEX was specified."
    );
    f.get(&flex_path("bad_name"), V2_FLEX)
        .await
        .assert_atlas_error(400, "VALIDATION_ERROR");
    let unknown = f
        .get("/api/atlas/v2/softwareComponents/version", V2_2023)
        .await;
    unknown.assert_atlas_error(404, "RESOURCE_NOT_FOUND");
    assert_eq!(
        unknown.body["parameters"][0],
        "/api/atlas/v2/softwareComponents/version"
    );
    let outside = f.raw("/", V1, None).await;
    outside.assert_atlas_error(404, "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn a_flex_endpoint_on_a_dedicated_cluster_is_a_400_and_vice_versa() {
    let f = Fixture::start(scenario()).await;
    let reply = f.get(&flex_path("Cluster0"), V2_FLEX).await;
    reply.assert_atlas_error(400, "CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API");
    assert_eq!(reply.body["parameters"][0], "Cluster0");

    let flex_in_cluster_api = f.get(&dedicated_path("flex0"), V2_2023).await;
    flex_in_cluster_api.assert_atlas_error(400, "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API");
    assert_eq!(
        flex_in_cluster_api.body["detail"],
        "Flex cluster flex0 cannot be used in the Cluster API."
    );
    f.get(&tenant_path("v2", "flex0"), V2_2023)
        .await
        .assert_atlas_error(400, "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API");
    f.get(&legacy_path("v1.0", "flex0"), V1)
        .await
        .assert_atlas_error(400, "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API");

    let tenant_on_dedicated = f.get(&dedicated_path("tenant0"), V2_2023).await;
    tenant_on_dedicated.assert_atlas_error(400, "INCORRECT_BACKUP_API_ENDPOINT");
    assert_eq!(
        tenant_on_dedicated.body["parameters"][0],
        tenant_path("v2", "tenant0")
    );
    f.get(&tenant_path("v2", "Cluster0"), V2_2023)
        .await
        .assert_atlas_error(400, "INCORRECT_BACKUP_API_ENDPOINT");
}

#[tokio::test]
async fn methods_other_than_get_are_405() {
    let f = Fixture::start(scenario()).await;
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let response = f
            .client
            .request(method.clone(), f.url(&flex_path("flex0")))
            .header(ACCEPT, V2_FLEX)
            .send_digest_auth(&*f.session)
            .await
            .unwrap();
        let reply = Reply::from(response).await;
        reply.assert_atlas_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(reply.header(reqwest::header::ALLOW), "GET", "{method}");
    }
}

// ---- faults ----

#[tokio::test]
async fn faults_answer_like_atlas_after_authentication() {
    let f = Fixture::start(scenario()).await;
    let path = flex_path("flex0");
    let cases = [
        (Fault::NotFound, 404, "CLUSTER_NOT_FOUND"),
        (Fault::ServerError, 500, "UNEXPECTED_ERROR"),
        (Fault::Forbidden, 403, "IP_ADDRESS_NOT_ON_WHITELIST"),
    ];
    for (fault, status, code) in cases {
        assert!(f.sim.set_fault(GROUP, "flex0", Some(fault)));
        f.get(&path, V2_FLEX).await.assert_atlas_error(status, code);
        f.get(&format!("{path}/{}", history(1, 8)[0].id), V2_FLEX)
            .await
            .assert_atlas_error(status, code);
    }
    let unauthenticated = f.raw(&path, V2_FLEX, None).await;
    assert_eq!(
        unauthenticated.status,
        StatusCode::UNAUTHORIZED,
        "faults come after authentication"
    );

    assert!(f.sim.set_fault(GROUP, "flex0", None));
    assert_eq!(f.get(&path, V2_FLEX).await.status, StatusCode::OK);
    assert!(!f.sim.set_fault(GROUP, "missing", Some(Fault::ServerError)));
    assert!(
        !f.sim
            .set_fault(OTHER_GROUP, "flex0", Some(Fault::ServerError))
    );
}

#[tokio::test]
async fn a_malformed_json_fault_sends_a_200_with_the_media_type_and_a_broken_body() {
    let f = Fixture::start(scenario()).await;
    assert!(f.sim.set_fault(GROUP, "flex0", Some(Fault::MalformedJson)));
    let reply = f.get(&flex_path("flex0"), V2_FLEX).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header(CONTENT_TYPE),
        "application/vnd.atlas.2024-11-13+json;charset=utf-8"
    );
    assert!(!reply.raw.is_empty());
    assert!(serde_json::from_slice::<Value>(&reply.raw).is_err());
}

#[tokio::test]
async fn a_slow_fault_delays_its_cluster_without_blocking_others() {
    let f = Fixture::start(scenario()).await;
    assert_eq!(
        f.get(&flex_path("flex1"), V2_FLEX).await.status.as_u16(),
        404,
        "warm-up handshake"
    );
    assert!(f.sim.set_fault(
        GROUP,
        "flex0",
        Some(Fault::Slow(Duration::from_millis(400)))
    ));

    let slow_path = flex_path("flex0");
    let slow = f.get(&slow_path, V2_FLEX);
    tokio::pin!(slow);
    tokio::select! {
        reply = &mut slow => panic!("answered before its delay: {}", reply.status),
        () = f.clock.until_sleeping(1) => {}
    }
    let fast = f.get(&flex_path("big"), V2_FLEX).await;
    assert_eq!(fast.status, StatusCode::OK);
    assert_eq!(f.clock.sleepers(), 1, "the slow request is still held");
    assert_eq!(
        f.sim.stats().by_status.get(&200),
        Some(&1),
        "only the fast one"
    );

    f.clock.advance(Duration::from_millis(399));
    assert_eq!(f.clock.sleepers(), 1, "399 ms of 400 is not enough");
    f.clock.advance(Duration::from_millis(1));
    assert_eq!(f.clock.sleepers(), 0);
    assert_eq!(slow.await.status, StatusCode::OK);

    // The clock stands still from here on, so only the client's own timeout can end this.
    let timed_out = f
        .client
        .get(f.url(&flex_path("flex0")))
        .header(ACCEPT, V2_FLEX)
        .timeout(Duration::from_millis(100))
        .send_digest_auth(&*f.session)
        .await;
    assert!(timed_out.is_err(), "a client timeout fires");
}

#[tokio::test]
async fn a_scenario_latency_holds_every_answer_challenges_included() {
    let f = Fixture::start(scenario().with_latency(Duration::from_millis(50))).await;
    let request = f.client.get(f.url(&flex_path("flex0"))).send();
    tokio::pin!(request);
    tokio::select! {
        reply = &mut request => panic!("answered before its latency: {reply:?}"),
        () = f.clock.until_sleeping(1) => {}
    }
    f.clock.advance(Duration::from_millis(49));
    assert_eq!(f.clock.sleepers(), 1, "49 ms of 50 is not enough");
    assert_eq!(f.sim.stats().unauthorized, 0, "nothing answered yet");
    f.clock.advance(Duration::from_millis(1));
    assert_eq!(request.await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(f.sim.stats().unauthorized, 1);
}

#[tokio::test]
async fn a_rate_limited_fault_sends_429s_then_clears_itself() {
    let f = Fixture::start(scenario()).await;
    let fault = Fault::RateLimited {
        retry_after_secs: 7,
        remaining: Some(2),
    };
    assert!(f.sim.set_fault(GROUP, "flex0", Some(fault)));
    for _ in 0..2 {
        let reply = f.get(&flex_path("flex0"), V2_FLEX).await;
        reply.assert_atlas_error(429, "RATE_LIMITED_TOKEN_BUCKET");
        assert_eq!(reply.header(RETRY_AFTER), "7");
        assert_eq!(reply.body["parameters"][1], 7);
    }
    assert_eq!(
        f.get(&flex_path("flex0"), V2_FLEX).await.status,
        StatusCode::OK
    );

    let forever = Fault::RateLimited {
        retry_after_secs: 1,
        remaining: None,
    };
    assert!(f.sim.set_fault(GROUP, "flex0", Some(forever)));
    for _ in 0..3 {
        assert_eq!(
            f.get(&flex_path("flex0"), V2_FLEX).await.status.as_u16(),
            429
        );
    }
}

// ---- rate limiting ----

#[tokio::test]
async fn an_empty_token_bucket_answers_429_with_retry_after() {
    let f = Fixture::start(Scenario {
        rate_limit: Some(RateLimit {
            capacity: 3,
            refill: 1,
            refill_period: Duration::from_secs(60),
        }),
        ..scenario()
    })
    .await;
    for remaining in ["2", "1", "0"] {
        let reply = f.get(&flex_path("flex0"), V2_FLEX).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("ratelimit-limit"), "3");
        assert_eq!(reply.header("ratelimit-remaining"), remaining);
    }
    let limited = f.get(&flex_path("big"), V2_FLEX).await;
    limited.assert_atlas_error(429, "RATE_LIMITED_TOKEN_BUCKET");
    let retry_after: u64 = limited.header(RETRY_AFTER).parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.body["parameters"][2], 3);
    assert!(
        limited.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Rate limit exceeded for api/atlas/v2/groups/")
    );

    let other_set = f.get(&dedicated_path("Cluster0"), V2_2023).await;
    assert_eq!(
        other_set.status,
        StatusCode::OK,
        "Cloud Backups has its own bucket"
    );
    let other_project = f
        .get(
            &format!("/api/atlas/v2/groups/{OTHER_GROUP}/flexClusters/flex1/backup/snapshots"),
            V2_FLEX,
        )
        .await;
    assert_eq!(
        other_project.status,
        StatusCode::OK,
        "buckets are per project"
    );
}

#[tokio::test]
async fn a_token_bucket_refills_over_time() {
    let f = Fixture::start(Scenario {
        rate_limit: Some(RateLimit {
            capacity: 1,
            refill: 1,
            refill_period: Duration::from_millis(200),
        }),
        ..scenario()
    })
    .await;
    assert_eq!(
        f.get(&flex_path("flex0"), V2_FLEX).await.status,
        StatusCode::OK
    );
    let limited = f.get(&flex_path("flex0"), V2_FLEX).await;
    assert_eq!(limited.status.as_u16(), 429);
    assert_eq!(limited.header(RETRY_AFTER), "1");
    f.clock.advance(Duration::from_millis(250));
    assert_eq!(
        f.get(&flex_path("flex0"), V2_FLEX).await.status,
        StatusCode::OK
    );
}

// ---- OAuth ----

async fn token_request(f: &Fixture, id: &str, secret: &str, body: &str) -> Reply {
    let response = f
        .client
        .post(f.url("/api/oauth/token"))
        .basic_auth(id, Some(secret))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, V1)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    Reply::from(response).await
}

async fn bearer_get(f: &Fixture, token: &str) -> Reply {
    f.raw(
        &flex_path("flex0"),
        V2_FLEX,
        Some(&format!("Bearer {token}")),
    )
    .await
}

#[tokio::test]
async fn an_oauth_token_works_as_a_bearer_until_it_expires() {
    let f = Fixture::start(Scenario {
        token_ttl: Duration::from_millis(300),
        ..scenario()
    })
    .await;
    let reply = token_request(
        &f,
        CLIENT_ID,
        CLIENT_SECRET,
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 0, "300 ms in whole seconds");
    let token = reply.body["access_token"].as_str().unwrap().to_string();

    let ok = bearer_get(&f, &token).await;
    assert_eq!(ok.status, StatusCode::OK);
    f.clock.advance(Duration::from_millis(350));
    let expired = bearer_get(&f, &token).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_fresh_challenge(&expired, false);
    assert_eq!(f.sim.stats().by_route.get("oauth_token"), Some(&1));
}

#[tokio::test]
async fn the_default_token_lasts_an_hour() {
    let f = Fixture::start(scenario()).await;
    let reply = token_request(
        &f,
        CLIENT_ID,
        CLIENT_SECRET,
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(reply.body["expires_in"], 3600);
}

#[tokio::test]
async fn bad_client_credentials_get_invalid_client() {
    let f = Fixture::start(scenario()).await;
    for (id, secret) in [(CLIENT_ID, "wrong"), ("mdb_sa_id_unknown", CLIENT_SECRET)] {
        let reply = token_request(&f, id, secret, "grant_type=client_credentials").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.body,
            serde_json::json!({"error": "invalid_client", "error_description": "Invalid credentials provided."})
        );
    }
    let wrong_grant = token_request(&f, CLIENT_ID, CLIENT_SECRET, "grant_type=password").await;
    assert_eq!(wrong_grant.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_grant.body["error"], "unsupported_grant_type");
    let get = f
        .client
        .get(f.url("/api/oauth/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_revoked_token_no_longer_works() {
    let f = Fixture::start(scenario()).await;
    let reply = token_request(
        &f,
        CLIENT_ID,
        CLIENT_SECRET,
        "grant_type=client_credentials",
    )
    .await;
    let token = reply.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(bearer_get(&f, &token).await.status, StatusCode::OK);
    let revoke = f
        .client
        .post(f.url("/api/oauth/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={token}&token_type_hint=access_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    assert_eq!(
        bearer_get(&f, &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

// ---- runtime changes, stats and lifecycle ----

#[tokio::test]
async fn clusters_can_be_replaced_removed_and_added_at_runtime() {
    let f = Fixture::start(scenario()).await;
    assert!(f.sim.set_snapshots(GROUP, "flex0", history(9, 2)));
    assert_eq!(f.get(&flex_path("flex0"), V2_FLEX).await.results().len(), 2);

    assert!(f.sim.remove_cluster(GROUP, "flex0"));
    assert!(!f.sim.remove_cluster(GROUP, "flex0"));
    f.get(&flex_path("flex0"), V2_FLEX)
        .await
        .assert_atlas_error(404, "CLUSTER_NOT_FOUND");

    assert!(f.sim.add_cluster(
        GROUP,
        SimCluster::new("flex0", SimKind::Flex).with_snapshots(history(9, 4))
    ));
    assert_eq!(f.get(&flex_path("flex0"), V2_FLEX).await.results().len(), 4);
    assert!(!f.sim.add_cluster(
        "ffffffffffffffffffffffff",
        SimCluster::new("x", SimKind::Flex)
    ));
    assert!(!f.sim.set_snapshots(GROUP, "missing", Vec::new()));
}

#[tokio::test]
async fn stats_count_requests_by_route_and_status_and_can_be_reset() {
    let f = Fixture::start(scenario()).await;
    f.get(&flex_path("flex0"), V2_FLEX).await;
    f.get(&tenant_path("v2", "tenant0"), V2_2023).await;
    f.get(&dedicated_path("nope"), V2_2023).await;
    f.get(&legacy_path("v2", "legacy0"), V2_2023).await;
    let stats = f.sim.stats();
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.unauthorized, 1);
    assert_eq!(stats.by_status.get(&200), Some(&3));
    assert_eq!(stats.by_status.get(&401), Some(&1));
    assert_eq!(stats.by_status.get(&404), Some(&1));
    assert_eq!(stats.by_route.get("flex_list"), Some(&2));
    assert_eq!(stats.by_route.get("tenant_list_v2"), Some(&1));
    assert_eq!(stats.by_route.get("dedicated_list"), Some(&1));
    assert_eq!(stats.by_route.get("legacy_list"), Some(&1));
    assert_eq!(stats.pages_served, 3);
    f.sim.reset_stats();
    assert_eq!(f.sim.stats(), Default::default());
}

/// Whether connecting to `addr` is refused within a few turns of the runtime. Dropping a
/// simulator aborts its server task, which closes the listener the next time this (single
/// threaded) test runtime schedules that task: yielding lets it run, no wall-clock wait needed.
async fn listener_closes(addr: std::net::SocketAddr) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let f = Fixture::start(scenario()).await;
    assert_eq!(
        f.get(&flex_path("flex0"), V2_FLEX).await.status,
        StatusCode::OK
    );
    let addr = f.sim.local_addr();
    f.sim.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_the_simulator_stops_the_server() {
    let f = Fixture::start(scenario()).await;
    assert_eq!(
        f.get(&flex_path("flex0"), V2_FLEX).await.status,
        StatusCode::OK
    );
    let addr = f.sim.local_addr();
    let client = f.client.clone();
    drop(f);
    assert!(listener_closes(addr).await, "the listener is still open");
    let after = client
        .get(format!("http://{addr}{}", flex_path("flex0")))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(
        after.is_err(),
        "a pooled keep-alive connection was left serving"
    );
}

#[tokio::test]
async fn base_url_has_no_trailing_slash() {
    let f = Fixture::start(Scenario::new()).await;
    let url = f.sim.base_url();
    assert!(url.starts_with("http://127.0.0.1:"));
    assert!(!url.ends_with('/'));
    assert_eq!(url, format!("http://{}", f.sim.local_addr()));
}

// ---- deterministic data ----

#[test]
fn daily_history_is_deterministic_for_a_seed() {
    let opts = || HistoryOptions {
        failure_rate: 0.3,
        size_bytes: Some(1 << 30),
        in_flight: true,
        ..HistoryOptions::default()
    };
    let a = daily_history(42, now(), 60, opts());
    let b = daily_history(42, now(), 60, opts());
    assert_eq!(a, b);
    assert_ne!(a, daily_history(43, now(), 60, opts()));

    let ids: HashSet<&str> = a.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), 60, "ids are unique");
    assert!(a.iter().all(|s| {
        s.id.len() == 24
            && s.id
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    }));
    assert!(
        a.windows(2).all(|w| w[0].scheduled > w[1].scheduled),
        "newest first"
    );
    let failed = a.iter().filter(|s| s.status == SimStatus::Failed).count();
    assert!(
        (5..=35).contains(&failed),
        "about 30 % of 59 failed, got {failed}"
    );
}

#[test]
fn daily_history_schedules_daily_at_a_fixed_hour_with_realistic_timings() {
    let h = daily_history(
        7,
        now(),
        30,
        HistoryOptions {
            schedule_hour: 5,
            ..HistoryOptions::default()
        },
    );
    for (i, s) in h.iter().enumerate() {
        let scheduled = s.scheduled.unwrap();
        assert_eq!(
            scheduled.as_second().rem_euclid(86_400),
            5 * 3_600,
            "at 05:00 UTC"
        );
        let started = s.started.unwrap();
        let finished = s.finished.unwrap();
        let delay = started.duration_since(scheduled);
        let took = finished.duration_since(started);
        assert!(
            delay >= SignedDuration::from_secs(3) && delay <= SignedDuration::from_mins(10),
            "{delay:?}"
        );
        assert!(
            took >= SignedDuration::from_secs(30) && took <= SignedDuration::from_mins(30),
            "{took:?}"
        );
        assert!(finished <= now());
        if i > 0 {
            assert_eq!(
                h[i - 1].scheduled.unwrap().duration_since(scheduled),
                SignedDuration::from_hours(24)
            );
        }
    }
    assert_eq!(h[0].status, SimStatus::Completed);
    assert_eq!(h[0].size_bytes, None);
}

#[test]
fn daily_history_options_shape_the_newest_snapshots() {
    let with = |opts: HistoryOptions| daily_history(11, now(), 10, opts);

    let running = with(HistoryOptions {
        in_flight: true,
        ..HistoryOptions::default()
    });
    assert_eq!(running[0].status, SimStatus::Running);
    assert!(running[0].started.is_some() && running[0].finished.is_none());
    assert_eq!(running[1].status, SimStatus::Completed);

    let pending = with(HistoryOptions {
        in_flight: true,
        in_flight_phase: InFlightPhase::Pending,
        ..HistoryOptions::default()
    });
    assert_eq!(pending[0].status, SimStatus::Pending);
    assert!(pending[0].scheduled.is_some() && pending[0].started.is_none());

    let stale = with(HistoryOptions {
        last_completed_days_ago: Some(3),
        ..HistoryOptions::default()
    });
    assert_eq!(stale.len(), 7);
    assert_eq!(stale[0].status, SimStatus::Completed);
    let age = now().duration_since(stale[0].finished.unwrap());
    assert!(
        age > SignedDuration::from_hours(60) && age < SignedDuration::from_hours(100),
        "{age:?}"
    );

    let latest_failed = with(HistoryOptions {
        latest_failed: true,
        ..HistoryOptions::default()
    });
    assert_eq!(latest_failed[0].status, SimStatus::Failed);
    assert!(
        latest_failed[0].finished.is_some(),
        "a failure has a finish time, as in Atlas' docs"
    );
    assert!(
        latest_failed[1..]
            .iter()
            .all(|s| s.status == SimStatus::Completed)
    );

    let all_failed = with(HistoryOptions {
        all_failed: true,
        ..HistoryOptions::default()
    });
    assert!(all_failed.iter().all(|s| s.status == SimStatus::Failed));

    let sized = with(HistoryOptions {
        size_bytes: Some(1_000_000),
        ..HistoryOptions::default()
    });
    let size = sized[0].size_bytes.unwrap();
    assert!((980_000..=1_020_000).contains(&size), "{size}");
}

#[test]
fn demo_scenario_has_the_promised_shape() {
    let demo = Scenario::demo(7, now());
    assert!((2..=3).contains(&demo.projects.len()));
    assert!(
        demo.api_keys
            .contains(&(DEMO_PUBLIC_KEY.to_string(), DEMO_PRIVATE_KEY.to_string()))
    );
    let clusters: Vec<&SimCluster> = demo.projects.iter().flat_map(|p| &p.clusters).collect();
    for kind in [SimKind::Tenant, SimKind::Flex, SimKind::Dedicated] {
        assert!(clusters.iter().any(|c| c.kind == kind), "{kind:?} present");
    }
    let newest = |c: &SimCluster| c.snapshots.iter().max_by_key(|s| s.scheduled).cloned();
    let healthy = clusters
        .iter()
        .filter(|c| {
            c.fault.is_none()
                && newest(c).is_some_and(|s| {
                    s.status == SimStatus::Completed
                        && now().duration_since(s.finished.unwrap())
                            < SignedDuration::from_hours(36)
                })
        })
        .count();
    assert!(healthy >= 2, "healthy clusters: {healthy}");
    assert!(
        clusters
            .iter()
            .any(|c| newest(c).is_some_and(|s| s.status == SimStatus::Failed)),
        "one latest FAILED"
    );
    assert!(
        clusters.iter().any(|c| newest(c).is_some_and(|s| {
            let age = now().duration_since(s.finished.unwrap());
            s.status == SimStatus::Completed
                && age > SignedDuration::from_hours(60)
                && age < SignedDuration::from_hours(100)
        })),
        "one stale"
    );
    assert!(
        clusters
            .iter()
            .any(|c| matches!(c.fault, Some(Fault::ServerError | Fault::Forbidden))),
        "one erroring"
    );
    assert!(
        clusters.iter().any(|c| newest(c)
            .is_some_and(|s| matches!(s.status, SimStatus::Running | SimStatus::Pending))),
        "one in flight"
    );

    let again = Scenario::demo(7, now());
    let snapshots = |s: &Scenario| -> Vec<Vec<SimSnapshot>> {
        s.projects
            .iter()
            .flat_map(|p| p.clusters.iter().map(|c| c.snapshots.clone()))
            .collect()
    };
    assert_eq!(
        snapshots(&demo),
        snapshots(&again),
        "deterministic for a seed"
    );
    assert_ne!(
        snapshots(&demo),
        snapshots(&Scenario::demo(8, now())),
        "the seed matters"
    );
}

#[tokio::test]
async fn the_demo_world_is_served_with_the_demo_key() {
    let sim = Simulator::start(Scenario::demo(1, now()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let session = DigestAuthSession::new(DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY);
    let demo = Scenario::demo(1, now());
    for project in &demo.projects {
        for cluster in &project.clusters {
            let (path, accept) = match cluster.kind {
                SimKind::Flex => (
                    format!("flexClusters/{}/backup/snapshots", cluster.name),
                    V2_FLEX,
                ),
                SimKind::Tenant => (
                    format!("clusters/{}/backup/tenant/snapshots", cluster.name),
                    V2_2023,
                ),
                SimKind::Dedicated => (
                    format!("clusters/{}/backup/snapshots", cluster.name),
                    V2_2023,
                ),
                SimKind::Legacy => (format!("clusters/{}/snapshots", cluster.name), V2_2023),
            };
            let url = format!(
                "{}/api/atlas/v2/groups/{}/{path}",
                sim.base_url(),
                project.id
            );
            let response = client
                .get(&url)
                .header(ACCEPT, accept)
                .send_digest_auth(&session)
                .await
                .unwrap();
            let expected = if cluster.fault.is_some() { 500 } else { 200 };
            assert_eq!(response.status().as_u16(), expected, "{url}");
        }
    }
    assert_eq!(sim.stats().unauthorized, 1);
}

// ---- discovery, cluster facts and schedules ----

const V2_CLUSTERS: &str = "application/vnd.atlas.2024-08-05+json";

fn discovery() -> Scenario {
    Scenario::discovery(now()).with_api_key(PUBLIC_KEY, PRIVATE_KEY)
}

fn names(reply: &Reply, key: &str) -> Vec<String> {
    reply
        .results()
        .iter()
        .map(|r| r[key].as_str().unwrap().to_string())
        .collect()
}

/// Every item of a listing, following `next` links; also the number of pages.
async fn all_pages(f: &Fixture, path: &str, accept: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = Some(f.url(path));
    while let Some(url) = next {
        let reply = f.get_url(&url, accept).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.body);
        items.extend(reply.results().iter().cloned());
        pages += 1;
        next = reply.link("next");
    }
    (items, pages)
}

#[tokio::test]
async fn all_projects_come_in_two_pages_linked_by_next() {
    let f = Fixture::start(discovery()).await;
    let first = f.get("/api/atlas/v2/groups", V2_2023).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        first.header(CONTENT_TYPE),
        "application/vnd.atlas.2023-01-01+json;charset=utf-8"
    );
    assert_eq!(first.body["totalCount"], 4);
    assert_eq!(names(&first, "name"), ["disc-prod", "disc-staging"]);
    let next = first.link("next").expect("a next link");
    assert!(next.ends_with("/api/atlas/v2/groups?includeCount=true&itemsPerPage=2&pageNum=2"));
    let second = f.get_url(&next, V2_2023).await;
    assert_eq!(names(&second, "name"), ["disc-empty", "other-org"]);
    assert_eq!(second.link("next"), None);
    assert!(second.link("previous").is_some());
    let group = &first.results()[0];
    let keys: Vec<&str> = group
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "clusterCount",
            "created",
            "id",
            "links",
            "name",
            "orgId",
            "tags",
            "withDefaultAlertsSettings"
        ]
    );
    assert_eq!(group["id"], DISCOVERY_PROJECT_IDS[0]);
    assert_eq!(group["orgId"], DISCOVERY_ORG_IDS[0]);
    assert_eq!(group["clusterCount"], 6);
    assert_eq!(second.results()[1]["orgId"], DISCOVERY_ORG_IDS[1]);
    // A larger page than the scenario allows is cut to its size.
    let big = f
        .get("/api/atlas/v2/groups?itemsPerPage=500", V2_2023)
        .await;
    assert_eq!(big.results().len(), 2);
}

#[tokio::test]
async fn an_organization_lists_its_own_projects_and_an_unknown_one_is_404() {
    let f = Fixture::start(discovery()).await;
    let [org_a, org_b] = DISCOVERY_ORG_IDS;
    let (a, pages) = all_pages(&f, &format!("/api/atlas/v2/orgs/{org_a}/groups"), V2_2023).await;
    assert_eq!(pages, 2);
    let a: Vec<&str> = a.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(a, ["disc-prod", "disc-staging", "disc-empty"]);
    let b = f
        .get(&format!("/api/atlas/v2/orgs/{org_b}/groups"), V2_2023)
        .await;
    assert_eq!(names(&b, "name"), ["other-org"]);
    assert_eq!(b.body["totalCount"], 1);
    let unknown = f
        .get(
            "/api/atlas/v2/orgs/ffffffffffffffffffffffff/groups",
            V2_2023,
        )
        .await;
    unknown.assert_atlas_error(404, "ORG_NOT_FOUND");
    assert_eq!(
        unknown.body["detail"],
        "No organization with ID ffffffffffffffffffffffff exists."
    );
    f.get("/api/atlas/v2/orgs/not-an-id/groups", V2_2023)
        .await
        .assert_atlas_error(404, "INVALID_ORG_ID");
}

#[tokio::test]
async fn the_cluster_listing_holds_every_cluster_but_the_flex_ones_m0_included() {
    let f = Fixture::start(discovery()).await;
    let prod = DISCOVERY_PROJECT_IDS[0];
    let path = format!("/api/atlas/v2/groups/{prod}/clusters");
    let first = f.get(&path, V2_CLUSTERS).await;
    assert_eq!(
        first.header(CONTENT_TYPE),
        "application/vnd.atlas.2024-08-05+json;charset=utf-8"
    );
    assert_eq!(first.body["totalCount"], 5);
    let (clusters, pages) = all_pages(&f, &path, V2_CLUSTERS).await;
    assert_eq!(pages, 3);
    let by_name = |name: &str| clusters.iter().find(|c| c["name"] == name).unwrap().clone();
    let listed: Vec<&str> = clusters
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["free0", "paused0", "nobackup0", "hourly0", "daily0"]
    );

    let free = by_name("free0");
    let region = &free["replicationSpecs"][0]["regionConfigs"][0];
    assert_eq!(region["providerName"], "TENANT");
    assert_eq!(region["backingProviderName"], "AWS");
    assert_eq!(region["electableSpecs"]["instanceSize"], "M0");
    assert_eq!(free["backupEnabled"], false);
    assert_eq!(free["clusterType"], "REPLICASET");
    assert_eq!(free["groupId"], prod);
    assert!(free["id"].as_str().unwrap().len() == 24);

    let dedicated = by_name("hourly0");
    let region = &dedicated["replicationSpecs"][0]["regionConfigs"][0];
    assert_eq!(region["providerName"], "AWS");
    assert_eq!(region["electableSpecs"]["instanceSize"], "M10");
    assert!(region.get("backingProviderName").is_none());
    assert_eq!(dedicated["backupEnabled"], true);
    assert_eq!(dedicated["paused"], false);
    assert_eq!(dedicated["stateName"], "IDLE");
    assert!(dedicated["mongoDBVersion"].is_string());
    assert_eq!(by_name("paused0")["paused"], true);
    assert_eq!(by_name("nobackup0")["backupEnabled"], false);

    let staging = DISCOVERY_PROJECT_IDS[1];
    let sharded = f
        .get(
            &format!("/api/atlas/v2/groups/{staging}/clusters/sharded0"),
            V2_CLUSTERS,
        )
        .await;
    assert_eq!(sharded.body["clusterType"], "SHARDED");
    assert_eq!(
        sharded.body["replicationSpecs"].as_array().unwrap().len(),
        2
    );
    let empty = f
        .get(
            &format!("/api/atlas/v2/groups/{}/clusters", DISCOVERY_PROJECT_IDS[2]),
            V2_CLUSTERS,
        )
        .await;
    assert_eq!(empty.body["totalCount"], 0);
    f.get(
        "/api/atlas/v2/groups/ffffffffffffffffffffffff/clusters",
        V2_CLUSTERS,
    )
    .await
    .assert_atlas_error(404, "GROUP_NOT_FOUND");
}

#[tokio::test]
async fn flex_clusters_are_listed_apart_and_each_api_refuses_the_other_kind() {
    let f = Fixture::start(discovery()).await;
    let prod = DISCOVERY_PROJECT_IDS[0];
    let base = format!("/api/atlas/v2/groups/{prod}");
    let flex = f.get(&format!("{base}/flexClusters"), V2_FLEX).await;
    assert_eq!(names(&flex, "name"), ["flex0"]);
    assert_eq!(flex.results()[0]["backupSettings"]["enabled"], true);
    assert_eq!(
        flex.results()[0]["providerSettings"]["providerName"],
        "FLEX"
    );
    let one = f.get(&format!("{base}/flexClusters/flex0"), V2_FLEX).await;
    assert_eq!(one.body["name"], "flex0");

    let in_cluster_api = f.get(&format!("{base}/clusters/flex0"), V2_CLUSTERS).await;
    in_cluster_api.assert_atlas_error(400, "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API");
    assert_eq!(
        in_cluster_api.body,
        serde_json::json!({"detail":"Flex cluster flex0 cannot be used in the Cluster API.","error":400,"errorCode":"CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API","parameters":["flex0"],"reason":"Bad Request"})
    );
    f.get(
        &format!("{base}/clusters/flex0/backup/schedule"),
        V2_CLUSTERS,
    )
    .await
    .assert_atlas_error(400, "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API");
    let in_flex_api = f.get(&format!("{base}/flexClusters/daily0"), V2_FLEX).await;
    in_flex_api.assert_atlas_error(400, "CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API");
    assert_eq!(
        in_flex_api.body["detail"],
        "Cannot use non-flex cluster daily0 in the flex API."
    );
    let daily = f.get(&format!("{base}/clusters/daily0"), V2_CLUSTERS).await;
    assert_eq!(daily.status, StatusCode::OK);
    assert_eq!(daily.body["name"], "daily0");
    f.get(&format!("{base}/clusters/nope"), V2_CLUSTERS)
        .await
        .assert_atlas_error(404, "CLUSTER_NOT_FOUND");
}

fn policy_items(schedule: &Reply) -> Vec<(String, u64, String, u64)> {
    schedule.body["policies"][0]["policyItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["frequencyType"].as_str().unwrap().to_string(),
                i["frequencyInterval"].as_u64().unwrap(),
                i["retentionUnit"].as_str().unwrap().to_string(),
                i["retentionValue"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn item(frequency: &str, interval: u64, unit: &str, value: u64) -> (String, u64, String, u64) {
    (frequency.to_string(), interval, unit.to_string(), value)
}

#[tokio::test]
async fn schedules_list_their_policy_items_and_the_next_snapshot_after_the_clock() {
    let f = Fixture::start(discovery()).await;
    let schedule = |project: usize, cluster: &str| {
        format!(
            "/api/atlas/v2/groups/{}/clusters/{cluster}/backup/schedule",
            DISCOVERY_PROJECT_IDS[project]
        )
    };
    // now() is Sunday 2026-11-22 12:00 UTC; every history is scheduled at 02:00.
    let hourly = f.get(&schedule(0, "hourly0"), V2_CLUSTERS).await;
    assert_eq!(hourly.status, StatusCode::OK, "{}", hourly.body);
    assert_eq!(
        hourly.header(CONTENT_TYPE),
        "application/vnd.atlas.2024-08-05+json;charset=utf-8"
    );
    assert_eq!(
        policy_items(&hourly),
        [item("hourly", 6, "days", 2), item("daily", 1, "days", 7)]
    );
    assert_eq!(hourly.body["nextSnapshot"], "2026-11-22T14:00:00Z");
    assert_eq!(hourly.body["referenceHourOfDay"], 2);
    assert_eq!(hourly.body["referenceMinuteOfHour"], 0);
    assert_eq!(hourly.body["restoreWindowDays"], 7);
    assert_eq!(hourly.body["clusterName"], "hourly0");
    let keys: Vec<&str> = hourly
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "autoExportEnabled",
            "clusterId",
            "clusterName",
            "copyPolicyItemsEnabled",
            "copySettings",
            "links",
            "nextSnapshot",
            "policies",
            "referenceHourOfDay",
            "referenceMinuteOfHour",
            "restoreWindowDays",
            "useOrgAndGroupNamesInExportPrefix"
        ]
    );
    let cluster = f
        .get(
            &format!(
                "/api/atlas/v2/groups/{}/clusters/hourly0",
                DISCOVERY_PROJECT_IDS[0]
            ),
            V2_CLUSTERS,
        )
        .await;
    assert_eq!(hourly.body["clusterId"], cluster.body["id"]);

    let daily = f.get(&schedule(0, "daily0"), V2_CLUSTERS).await;
    assert_eq!(policy_items(&daily), [item("daily", 1, "days", 7)]);
    assert_eq!(daily.body["nextSnapshot"], "2026-11-23T02:00:00Z");

    // The weekly history falls on Thursdays; the monthly item is on the last day (40).
    let weekly = f.get(&schedule(1, "weekly0"), V2_CLUSTERS).await;
    assert_eq!(
        policy_items(&weekly),
        [
            item("weekly", 4, "weeks", 4),
            item("monthly", 40, "months", 12)
        ]
    );
    assert_eq!(weekly.body["nextSnapshot"], "2026-11-26T02:00:00Z");

    // The next snapshot moves with the simulator's clock.
    f.clock.advance(Duration::from_secs(3 * 3600));
    let later = f.get(&schedule(0, "hourly0"), V2_CLUSTERS).await;
    assert_eq!(later.body["nextSnapshot"], "2026-11-22T20:00:00Z");

    // No Cloud Backup, no schedule.
    let off = f.get(&schedule(0, "nobackup0"), V2_CLUSTERS).await;
    off.assert_atlas_error(404, "BACKUP_CONFIG_NOT_FOUND");
    assert_eq!(
        off.body["detail"],
        format!(
            "No backup configuration exists for cluster nobackup0 in group {}.",
            DISCOVERY_PROJECT_IDS[0]
        )
    );
    f.get(&schedule(0, "free0"), V2_CLUSTERS)
        .await
        .assert_atlas_error(404, "BACKUP_CONFIG_NOT_FOUND");
    // A paused cluster keeps its schedule.
    assert_eq!(
        f.get(&schedule(0, "paused0"), V2_CLUSTERS).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn dedicated_snapshots_name_the_policy_item_that_took_them() {
    let f = Fixture::start(discovery()).await;
    let prod = DISCOVERY_PROJECT_IDS[0];
    let schedule = f
        .get(
            &format!("/api/atlas/v2/groups/{prod}/clusters/hourly0/backup/schedule"),
            V2_CLUSTERS,
        )
        .await;
    let ids: Vec<&str> = schedule.body["policies"][0]["policyItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let snapshots = f
        .get(
            &format!("/api/atlas/v2/groups/{prod}/clusters/hourly0/backup/snapshots"),
            V2_2023,
        )
        .await;
    assert_eq!(
        snapshots.body["totalCount"], 12,
        "two days of 6-hourly snapshots"
    );
    for s in snapshots.results() {
        let created: Timestamp = s["createdAt"].as_str().unwrap().parse().unwrap();
        let expires: Timestamp = s["expiresAt"].as_str().unwrap().parse().unwrap();
        let kept = expires.duration_since(created);
        if s["frequencyType"] == "daily" {
            assert_eq!(s["policyItems"], serde_json::json!([ids[1]]));
            assert_eq!(kept, SignedDuration::from_hours(7 * 24));
        } else {
            assert_eq!(s["frequencyType"], "hourly");
            assert_eq!(s["policyItems"], serde_json::json!([ids[0]]));
            assert_eq!(kept, SignedDuration::from_hours(2 * 24));
        }
    }
    let dailies = snapshots
        .results()
        .iter()
        .filter(|s| s["frequencyType"] == "daily")
        .count();
    assert_eq!(dailies, 3, "the 02:00 snapshots of three days");
    // An M0 has no backups at all.
    f.get(
        &format!("/api/atlas/v2/groups/{prod}/clusters/free0/backup/snapshots"),
        V2_2023,
    )
    .await
    .assert_atlas_error(400, "PROVIDER_BACKUP_NOT_SUPPORTED");
    // A cluster whose backups are off lists no snapshots.
    let off = f
        .get(
            &format!("/api/atlas/v2/groups/{prod}/clusters/nobackup0/backup/snapshots"),
            V2_2023,
        )
        .await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(off.body["totalCount"], 0);
}

#[tokio::test]
async fn discovery_endpoints_negotiate_rate_limit_and_count_by_route() {
    let f = Fixture::start(discovery()).await;
    let prod = DISCOVERY_PROJECT_IDS[0];
    let base = format!("/api/atlas/v2/groups/{prod}");
    for (path, wrong) in [
        ("/api/atlas/v2/groups".to_string(), V2_CLUSTERS),
        (
            format!("/api/atlas/v2/orgs/{}/groups", DISCOVERY_ORG_IDS[0]),
            V2_FLEX,
        ),
        (format!("{base}/clusters"), V2_2023),
        (
            format!("{base}/clusters/daily0"),
            "application/vnd.atlas.2023-02-01+json",
        ),
        (format!("{base}/clusters/daily0/backup/schedule"), V2_2023),
        (format!("{base}/flexClusters"), V2_CLUSTERS),
    ] {
        f.get(&path, wrong)
            .await
            .assert_atlas_error(406, "INVALID_VERSION_DATE");
        let missing = f
            .client
            .get(f.url(&path))
            .send_digest_auth(&*f.session)
            .await
            .unwrap();
        assert_eq!(missing.status().as_u16(), 406, "{path} without Accept");
    }
    f.sim.reset_stats();
    f.get("/api/atlas/v2/groups", V2_2023).await;
    f.get(
        &format!("/api/atlas/v2/orgs/{}/groups", DISCOVERY_ORG_IDS[1]),
        V2_2023,
    )
    .await;
    let list = f.get(&format!("{base}/clusters"), V2_CLUSTERS).await;
    f.get(&format!("{base}/clusters"), V2_CLUSTERS).await;
    f.get(&format!("{base}/clusters/daily0"), V2_CLUSTERS).await;
    let schedule = f
        .get(
            &format!("{base}/clusters/daily0/backup/schedule"),
            V2_CLUSTERS,
        )
        .await;
    f.get(&format!("{base}/flexClusters"), V2_FLEX).await;
    let stats = f.sim.stats();
    let route = |name: &str| stats.by_route.get(name).copied().unwrap_or(0);
    assert_eq!(route("groups_list"), 1);
    assert_eq!(route("org_groups_list"), 1);
    assert_eq!(route("clusters_list"), 2);
    assert_eq!(route("cluster_get"), 1);
    assert_eq!(route("backup_schedule"), 1);
    assert_eq!(route("flex_clusters_list"), 1);
    assert_eq!(stats.pages_served, 5, "the listings' pages");
    assert_eq!(list.header("ratelimit-limit"), "1200");
    assert!(!list.header("ratelimit-remaining").is_empty());
    assert_eq!(schedule.header("ratelimit-limit"), "1200");
}

#[tokio::test]
async fn cluster_faults_apply_to_cluster_gets_and_schedules() {
    let f = Fixture::start(discovery()).await;
    let prod = DISCOVERY_PROJECT_IDS[0];
    assert!(f.sim.set_fault(prod, "daily0", Some(Fault::ServerError)));
    for path in ["clusters/daily0", "clusters/daily0/backup/schedule"] {
        f.get(&format!("/api/atlas/v2/groups/{prod}/{path}"), V2_CLUSTERS)
            .await
            .assert_atlas_error(500, "UNEXPECTED_ERROR");
    }
    // The listing is not about one cluster: it still answers.
    let list = f
        .get(
            &format!("/api/atlas/v2/groups/{prod}/clusters"),
            V2_CLUSTERS,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
}

#[test]
fn the_demo_discovers_one_organization_with_a_cluster_whose_backups_are_off() {
    let demo = Scenario::demo(7, now());
    let discovered: Vec<&SimProject> = demo
        .projects
        .iter()
        .filter(|p| p.org_id == DEMO_DISCOVERED_ORG_ID)
        .collect();
    assert_eq!(discovered.len(), 1);
    let off: Vec<&str> = discovered[0]
        .clusters
        .iter()
        .filter(|c| !c.backup_enabled)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(off, ["archive"]);
    assert!(
        demo.projects
            .iter()
            .filter(|p| p.org_id != DEMO_DISCOVERED_ORG_ID)
            .all(|p| p.org_id == DEFAULT_ORG_ID)
    );
    assert_eq!(demo.started_at, Some(now()));
}
