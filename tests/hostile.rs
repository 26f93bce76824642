//! The exporter against a hostile Atlas of our own: a tiny HTTP/1.1 server over a real socket
//! (port 0) whose bytes each test controls: huge listings, `next` links that loop, bodies cut
//! short or reset mid-way, bodies that never come, malformed items.
//!
//! It answers without asking for authentication, which the digest client accepts (it answers a
//! challenge only when one comes), so the exporter is wired exactly as in production.

// Tests may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlas_snapshot_exporter::atlas::Reason;
use atlas_snapshot_exporter::simulator::{Scenario, SimCluster, SimKind, SimProject};
use atlas_snapshot_exporter::state::TargetState;
use common::{Harness, Setup, loopback};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const P1: &str = "5b69d0349b15c62cdfc38b78";

/// What the hostile server answers to one request.
enum Answer {
    /// 200 with this JSON body; the connection stays open.
    Json(String),
    /// 200 announcing `declared` bytes, sending `body`, then closing the connection.
    Truncated { body: String, declared: usize },
    /// 200 announcing `declared` bytes, sending `body`, then resetting the connection.
    Reset { body: String, declared: usize },
    /// 200 announcing a body that never comes; the connection is held open.
    Stall,
}

/// Decides the answer from the cluster name and the `pageNum` asked for.
type Handler = Arc<dyn Fn(&str, u32) -> Answer + Send + Sync>;

/// A hostile Atlas: every request it received, as `cluster pageNum`.
struct Hostile {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<(String, u32)>>>,
}

impl Hostile {
    async fn start(handler: impl Fn(&str, u32) -> Answer + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind(loopback()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&handler), Arc::clone(&seen)));
            }
        });
        Hostile { addr, requests }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received for `cluster`.
    fn requests_for(&self, cluster: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == cluster)
            .count()
    }
}

async fn serve(mut stream: TcpStream, handler: Handler, requests: Arc<Mutex<Vec<(String, u32)>>>) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
        buffer.drain(..head_end);
        if !head
            .split_whitespace()
            .nth(1)
            .is_some_and(|target| target.contains("/backup/snapshots"))
        {
            // Only the snapshot listings are hostile: what else a poll cycle asks (the
            // refresh's cluster GET) gets a plain 404, uncounted.
            let body = r#"{"error":404,"errorCode":"CLUSTER_NOT_FOUND","reason":"Not Found"}"#;
            let head = format!(
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            if stream.write_all(head.as_bytes()).await.is_err()
                || stream.write_all(body.as_bytes()).await.is_err()
            {
                return;
            }
            continue;
        }
        let (cluster, page) = parse_request(&head);
        requests.lock().unwrap().push((cluster.clone(), page));
        match handler(&cluster, page) {
            Answer::Json(body) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(body.as_bytes()).await.is_err()
                {
                    return;
                }
            }
            Answer::Truncated { body, declared } => {
                let _ = write_partial(&mut stream, &body, declared).await;
                let _ = stream.shutdown().await;
                return;
            }
            Answer::Reset { body, declared } => {
                let _ = write_partial(&mut stream, &body, declared).await;
                let _ = stream.set_zero_linger();
                return;
            }
            Answer::Stall => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";
                let _ = stream.write_all(head.as_bytes()).await;
                let mut sink = [0u8; 64];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
        }
    }
}

async fn write_partial(stream: &mut TcpStream, body: &str, declared: usize) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}

/// The cluster name (the path segment after `flexClusters`) and `pageNum` (1 when absent).
fn parse_request(head: &str) -> (String, u32) {
    let target = head.split_whitespace().nth(1).unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut segments = path.split('/');
    let cluster = segments
        .by_ref()
        .find(|s| *s == "flexClusters")
        .and_then(|_| segments.next())
        .unwrap_or("")
        .to_owned();
    let page = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "pageNum")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1);
    (cluster, page)
}

/// A flex snapshot with a unique id.
fn item(n: usize) -> String {
    format!(
        r#"{{"id":"{n:024x}","status":"COMPLETED","scheduledTime":"2026-11-20T02:00:00Z","startTime":"2026-11-20T02:00:05Z","finishTime":"2026-11-20T02:03:00Z"}}"#
    )
}

/// A page of items `from..to`, with a `next` link to `next` when given.
fn page(from: usize, to: usize, next: Option<u32>, total: Option<usize>) -> String {
    let items: Vec<String> = (from..to).map(item).collect();
    let mut links = vec![r#"{"rel":"self","href":"http://x/a?pageNum=1"}"#.to_owned()];
    if let Some(next) = next {
        links.push(format!(
            r#"{{"rel":"next","href":"http://x/a?itemsPerPage=500&pageNum={next}"}}"#
        ));
    }
    let total = total.map_or(String::new(), |t| format!(r#","totalCount":{t}"#));
    format!(
        r#"{{"links":[{}],"results":[{}]{total}}}"#,
        links.join(","),
        items.join(",")
    )
}

/// An exporter whose config lists `clusters` (flex) and points at `hostile`.
async fn harness(
    hostile: &Hostile,
    clusters: &[&str],
    tweak: impl FnOnce(&mut atlas_snapshot_exporter::config::Config) + 'static,
) -> Harness {
    let mut project = SimProject::new(P1, "prod");
    for name in clusters {
        project = project.with_cluster(SimCluster::new(*name, SimKind::Flex));
    }
    let scenario = Scenario::new()
        .with_api_key("key", "private")
        .with_project(project);
    let base_url = hostile.base_url();
    Setup::new(scenario)
        .tweak(move |config| {
            config.atlas.base_url = base_url.parse().unwrap();
            tweak(config);
        })
        .start()
        .await
}

fn target(
    state: &atlas_snapshot_exporter::state::ExporterState,
    name: &str,
) -> std::sync::Arc<TargetState> {
    state
        .targets()
        .find(|t| &*t.target.cluster_name == name)
        .unwrap()
}

/// The failed poll's reason and message, or `None` after a success.
fn failure(h: &Harness, name: &str) -> Option<(Reason, String)> {
    let state = h.state.load();
    let t = target(&state, name);
    let outcome = t.last_poll.as_ref().expect("polled");
    outcome
        .error
        .as_ref()
        .map(|e| (e.reason, e.message.clone()))
}

#[tokio::test]
async fn a_listing_over_the_cap_fails_only_its_own_target_and_one_at_the_cap_passes() {
    const CAP: usize = 1000;
    let hostile = Hostile::start(|cluster, page_num| match (cluster, page_num) {
        // Two full pages of 500: exactly the cap.
        ("atcap", 1) => Answer::Json(page(0, 500, Some(2), Some(CAP))),
        ("atcap", _) => Answer::Json(page(500, 1000, None, Some(CAP))),
        // One page of more items than the whole listing may hold.
        ("huge", _) => Answer::Json(page(0, CAP + 1, None, None)),
        // Under the cap on page 1, over it on page 2.
        ("grows", 1) => Answer::Json(page(0, 600, Some(2), None)),
        ("grows", _) => Answer::Json(page(600, 1200, None, None)),
        _ => Answer::Json(page(0, 3, None, Some(3))),
    })
    .await;
    let mut h = harness(&hostile, &["atcap", "huge", "grows", "fine"], |c| {
        c.atlas.max_listing_items = CAP;
    })
    .await;
    h.cycle().await;

    for name in ["huge", "grows"] {
        let (reason, message) = failure(&h, name).expect("the listing over the cap fails");
        assert_eq!(reason, Reason::Decode, "{name}");
        assert!(
            message.contains("more than 1000 items") && message.contains("atlas.max_listing_items"),
            "{name}: {message}"
        );
    }
    assert_eq!(failure(&h, "atcap"), None);
    assert_eq!(failure(&h, "fine"), None);
    let scrape = h.scrape().await;
    let up = |name: &str| {
        scrape.get(
            "atlas_snapshot_target_up",
            &[("project_id", P1), ("cluster_name", name)],
        )
    };
    assert_eq!(up("atcap"), Some(1.0));
    assert_eq!(up("fine"), Some(1.0));
    assert_eq!(up("huge"), Some(0.0));
    assert_eq!(up("grows"), Some(0.0));
    assert_eq!(
        scrape.get(
            "atlas_snapshot_snapshots",
            &[
                ("project_id", P1),
                ("cluster_name", "atcap"),
                ("status", "COMPLETED")
            ]
        ),
        Some(1000.0)
    );
    assert_eq!(
        scrape.get(
            "atlas_snapshot_target_errors_total",
            &[
                ("project_id", P1),
                ("cluster_name", "huge"),
                ("reason", "decode")
            ]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_next_link_that_loops_stops_the_listing_within_two_requests_as_decode() {
    let hostile = Hostile::start(|cluster, _| match cluster {
        // The next link points back at page 1 itself.
        "selfloop" => Answer::Json(page(0, 10, Some(1), None)),
        // The next link moves on, but every page is the same page: its ids repeat.
        "sameids" => Answer::Json(page(0, 10, Some(7), None)),
        _ => Answer::Json(page(0, 3, None, Some(3))),
    })
    .await;
    let mut h = harness(&hostile, &["selfloop", "sameids", "fine"], |_| {}).await;
    h.cycle().await;

    for name in ["selfloop", "sameids"] {
        let (reason, message) = failure(&h, name).expect("a loop fails");
        assert_eq!(reason, Reason::Decode, "{name}: {message}");
        assert!(message.contains("loops"), "{name}: {message}");
        let requests = hostile.requests_for(name);
        assert!(requests <= 2, "{name}: {requests} requests");
    }
    assert_eq!(failure(&h, "fine"), None);
}

#[tokio::test]
async fn a_body_cut_short_or_reset_is_decode_not_network() {
    let body = page(0, 50, None, Some(50));
    let short = body[..body.len() / 2].to_owned();
    let declared = body.len();
    let hostile = Hostile::start(move |cluster, _| match cluster {
        "truncated" => Answer::Truncated {
            body: short.clone(),
            declared,
        },
        "reset" => Answer::Reset {
            body: short.clone(),
            declared,
        },
        _ => Answer::Json(page(0, 3, None, Some(3))),
    })
    .await;
    let mut h = harness(&hostile, &["truncated", "reset", "fine"], |_| {}).await;
    h.cycle().await;

    for name in ["truncated", "reset"] {
        let (reason, message) = failure(&h, name).expect("a cut body fails");
        assert_eq!(reason, Reason::Decode, "{name}: {message}");
    }
    assert_eq!(failure(&h, "fine"), None);
    let scrape = h.scrape().await;
    assert_eq!(
        scrape.get(
            "atlas_snapshot_exporter_api_requests_total",
            &[("endpoint", "list_flex_snapshots"), ("code", "error")]
        ),
        Some(2.0),
        "a body that never arrived whole is no 200"
    );
}

#[tokio::test]
async fn a_body_that_times_out_is_counted_as_error_not_as_its_status() {
    let hostile = Hostile::start(|cluster, _| match cluster {
        "stall" => Answer::Stall,
        _ => Answer::Json(page(0, 3, None, Some(3))),
    })
    .await;
    let mut h = harness(&hostile, &["stall"], |c| {
        c.atlas.timeout = Duration::from_millis(300);
    })
    .await;
    h.cycle().await;

    let (reason, message) = failure(&h, "stall").expect("a stalled body fails");
    assert_eq!(reason, Reason::Timeout, "{message}");
    let scrape = h.scrape().await;
    let count = |code: &str| {
        scrape.get(
            "atlas_snapshot_exporter_api_requests_total",
            &[("endpoint", "list_flex_snapshots"), ("code", code)],
        )
    };
    assert_eq!(count("error"), Some(1.0));
    assert_eq!(count("200"), None);
}

#[tokio::test]
async fn a_malformed_snapshot_is_left_out_and_counted_and_the_rest_is_kept() {
    let hostile = Hostile::start(|_, _| {
        Answer::Json(format!(
            r#"{{"links":[],"totalCount":5,"results":[{},{},
              {{"id":"aaaaaaaaaaaaaaaaaaaaaaaa","status":"COMPLETED","finishTime":"2026-13-45T99:00:00Z"}},
              {{"status":"FAILED","scheduledTime":"2026-11-21T02:00:00Z"}},
              {{"id":"bbbbbbbbbbbbbbbbbbbbbbbb","status":["x"]}}]}}"#,
            item(1),
            item(2)
        ))
    })
    .await;
    let mut h = harness(&hostile, &["odd"], |_| {}).await;
    let before = h.scrape().await;
    for reason in ["bad_date", "missing_id", "bad_item"] {
        assert_eq!(
            before.get(
                "atlas_snapshot_exporter_skipped_items_total",
                &[("reason", reason)]
            ),
            Some(0.0),
            "{reason} is exported at 0 from the start"
        );
    }
    h.cycle().await;

    assert_eq!(
        failure(&h, "odd"),
        None,
        "one bad item no longer fails the listing"
    );
    let scrape = h.scrape().await;
    let skipped = |reason: &str| {
        scrape.get(
            "atlas_snapshot_exporter_skipped_items_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(skipped("bad_date"), Some(1.0));
    assert_eq!(skipped("missing_id"), Some(1.0));
    assert_eq!(skipped("bad_item"), Some(1.0));
    let labels = |status| {
        [
            ("project_id", P1),
            ("cluster_name", "odd"),
            ("status", status),
        ]
    };
    assert_eq!(
        scrape.get("atlas_snapshot_snapshots", &labels("COMPLETED")),
        Some(2.0)
    );
    assert_eq!(
        scrape.get("atlas_snapshot_snapshots", &labels("FAILED")),
        Some(0.0)
    );
}
