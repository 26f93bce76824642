//! Micro benchmarks of the hot paths: decoding a listing page (and, as the poller does, decoding
//! it borrowing from the body and folding it into a summary), summarising a listing, rendering
//! `/metrics` and the landing page, each beside a floor that does the least the same job could
//! (reading the same JSON into `IgnoredAny`; copying the same bytes), with the bytes each one
//! allocates.
//!
//! ```sh
//! cargo bench --bench micro -- --warm-up-time 1 --measurement-time 3   # the figures
//! cargo bench --bench micro -- --test      # each once (1,000 clusters only), in release
//! cargo test --bench micro                 # the same in debug: what CI runs
//! ```
//!
//! Pages hold 500 items in the shapes Atlas sends (`tests/testdata/atlas/`): tenant, flex,
//! dedicated and legacy. The render state has 50 clusters a project, nine in ten flex with 8
//! daily snapshots and one in ten dedicated with 60, summarised from such listings, with
//! cluster facts and backup policies, as after a poll cycle. Allocation figures come from a
//! counting global allocator, one line per benchmark (`alloc ...`), per iteration.
//! `docs/BENCHMARKS.md` records results with the machine they came from.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

use atlas_snapshot_exporter::atlas::client::{ListingPage, PageSink};
use atlas_snapshot_exporter::atlas::wire::{
    DedicatedSnapshot, DedicatedSnapshotRef, LegacySnapshot, ListItem, PageItem, TenantSnapshot,
    TenantSnapshotRef, decode_page, decode_page_borrowed,
};
use atlas_snapshot_exporter::atlas::{BackupApi, Listing, Operation};
use atlas_snapshot_exporter::clock::{Clock, FixedClock};
use atlas_snapshot_exporter::exposition::Body;
use atlas_snapshot_exporter::facts::{BackupPolicy, ClusterFacts, ClusterType};
use atlas_snapshot_exporter::landing;
use atlas_snapshot_exporter::metrics::Metrics;
use atlas_snapshot_exporter::state::{
    Backups, CycleReport, DiscoveryReport, ExporterState, PollOutcome, ReloadStatus, TargetState,
};
use atlas_snapshot_exporter::summary::{ClusterSummary, SummaryFold};
use atlas_snapshot_exporter::target::{Kind, Target};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Items on a listing page: the most `itemsPerPage` Atlas accepts.
const PAGE_ITEMS: usize = 500;
const CLUSTERS_PER_PROJECT: usize = 50;
const PROJECT: &str = "32b6e34b3d91647abb20e7b8";

fn now() -> Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

fn at(hours_ago: i64) -> String {
    at_plus(hours_ago, 0)
}

fn at_plus(hours_ago: i64, seconds: i64) -> String {
    (now() - SignedDuration::from_hours(hours_ago) + SignedDuration::from_secs(seconds)).to_string()
}

/// A snapshot id unique to `seed` and `i`.
fn id(seed: u64, i: usize) -> String {
    format!("673e{seed:08x}{i:012x}")
}

/// The newest is under way, one in 25 failed, the rest completed.
fn nth_status(i: usize) -> usize {
    match i {
        0 => 0,
        i if i % 25 == 24 => 1,
        _ => 2,
    }
}

fn page(results: Vec<Value>, links: Vec<Value>) -> Vec<u8> {
    let total = results.len();
    serde_json::to_vec(&json!({"links": links, "results": results, "totalCount": total})).unwrap()
}

fn link(path: &str, rel: &str) -> Value {
    json!({"href": format!("https://cloud.mongodb.com/api/atlas/v2/groups/{PROJECT}/{path}"), "rel": rel})
}

fn self_link(path: &str) -> Value {
    link(path, "self")
}

/// A shared-tier or flex page (`BackupTenantSnapshot`, `FlexBackupSnapshot20241113`): flex
/// items carry their own `links`, as in `flex_snapshots_page.json`.
fn tenant_like_body(seed: u64, items: usize, flex: bool) -> Vec<u8> {
    let results = (0..items)
        .map(|i| {
            let hours = 24 * i as i64 + 10;
            let status = ["PENDING", "FAILED", "COMPLETED"][nth_status(i)];
            let mut item = json!({
                "id": id(seed, i),
                "mongoDBVersion": "8.0.4",
                "scheduledTime": at(hours),
                "status": status,
            });
            if status != "PENDING" {
                item["startTime"] = json!(at_plus(hours, 7));
                item["finishTime"] = json!(at_plus(hours, 291));
                item["expiration"] = json!(at(hours - 24 * 8));
            }
            if flex {
                item["links"] = json!([self_link(&format!(
                    "flexClusters/flex{seed}/backup/snapshots/{}",
                    id(seed, i)
                ))]);
            }
            item
        })
        .collect();
    let links = if flex {
        vec![self_link(&format!(
            "flexClusters/flex{seed}/backup/snapshots?pageNum=1&itemsPerPage=500"
        ))]
    } else {
        Vec::new()
    };
    page(results, links)
}

/// A dedicated page (`DiskBackupReplicaSet`), as in `replicaset_snapshots_page.json`.
fn dedicated_body(seed: u64, items: usize) -> Vec<u8> {
    let results = (0..items)
        .map(|i| {
            let hours = 6 * i as i64 + 6;
            let status = ["inProgress", "failed", "completed"][nth_status(i)];
            json!({
                "cloudProvider": "AWS",
                "copyRegions": [],
                "createdAt": at(hours),
                "expiresAt": at(hours - 24 * 7),
                "frequencyType": if i % 4 == 0 { "daily" } else { "hourly" },
                "id": id(seed, i),
                "links": [self_link(&format!("clusters/Cluster{seed}/backup/snapshots/{}", id(seed, i)))],
                "mongodVersion": "8.0.4",
                "policyItems": ["5f1a2b3c4d5e6f7a8b9c0d1e"],
                "replicaSetName": format!("atlas-{seed:06x}-shard-0"),
                "snapshotType": "scheduled",
                "status": status,
                "storageSizeBytes": 1_234_567_890 + i as u64,
                "type": "replicaSet",
            })
        })
        .collect();
    let listing = format!("clusters/Cluster{seed}/backup/snapshots");
    let links = vec![
        link(&format!("{listing}?pageNum=1&itemsPerPage=500"), "self"),
        link(&format!("{listing}?pageNum=2&itemsPerPage=500"), "next"),
    ];
    page(results, links)
}

/// A Legacy Backup page (`BackupSnapshot`), as in `legacy_snapshots_page.json`.
fn legacy_body(seed: u64, items: usize) -> Vec<u8> {
    let results = (0..items)
        .map(|i| {
            let hours = 6 * i as i64 + 6;
            json!({
                "clusterId": "7c2487d833e9e75286093696",
                "clusterName": format!("Cluster{seed}"),
                "complete": i != 0,
                "created": {"date": at(hours), "increment": 1},
                "doNotDelete": false,
                "expires": at(hours - 24 * 365),
                "groupId": PROJECT,
                "id": id(seed, i),
                "incremental": true,
                "lastOplogAppliedTimestamp": {"date": at(hours), "increment": 1},
                "parts": [{
                    "clusterId": "7c2487d833e9e75286093696",
                    "compressionSetting": "GZIP",
                    "dataSizeBytes": 4502,
                    "encryptionEnabled": false,
                    "fileSizeBytes": 324_760,
                    "mongodVersion": "4.0.0",
                    "replicaSetName": format!("Cluster{seed}-shard-0"),
                    "storageSizeBytes": 53_248,
                    "typeName": "REPLICA_SET"
                }]
            })
        })
        .collect();
    page(
        results,
        vec![self_link(&format!(
            "clusters/Cluster{seed}/snapshots?pageNum=1&itemsPerPage=500"
        ))],
    )
}

/// One kind of listing: its page body, how to read it into a [`Listing`], and, for the kinds
/// the poller folds from the body, how it does that (decode borrowing, then fold).
struct Kind4 {
    name: &'static str,
    api: BackupApi,
    body: Vec<u8>,
    decode: fn(&[u8]) -> Listing,
    decode_and_fold: Option<fn(&[u8]) -> ClusterSummary>,
}

fn decode<T: ListItem>(body: &[u8]) -> Vec<T> {
    decode_page::<T>(body, PAGE_ITEMS).unwrap().results
}

fn decode_borrowed<'de, T: PageItem<'de>>(body: &'de [u8]) -> Vec<T> {
    decode_page_borrowed::<T>(body, PAGE_ITEMS).unwrap().results
}

/// The poll path: a page decoded borrowing from its body and folded where it lies.
fn fold_borrowed(api: BackupApi, page: ListingPage<'_>) -> ClusterSummary {
    let mut fold = SummaryFold::new(api);
    fold.borrowed_page(page);
    fold.finish()
}

fn kinds() -> Vec<Kind4> {
    vec![
        Kind4 {
            name: "tenant",
            api: BackupApi::Tenant,
            body: tenant_like_body(1, PAGE_ITEMS, false),
            decode: |b| Listing::Tenant(decode::<TenantSnapshot>(b)),
            decode_and_fold: Some(|b| {
                let page = ListingPage::Tenant(decode_borrowed::<TenantSnapshotRef<'_>>(b));
                fold_borrowed(BackupApi::Tenant, page)
            }),
        },
        Kind4 {
            name: "flex",
            api: BackupApi::Flex,
            body: tenant_like_body(2, PAGE_ITEMS, true),
            decode: |b| Listing::Flex(decode::<TenantSnapshot>(b)),
            decode_and_fold: Some(|b| {
                let page = ListingPage::Flex(decode_borrowed::<TenantSnapshotRef<'_>>(b));
                fold_borrowed(BackupApi::Flex, page)
            }),
        },
        Kind4 {
            name: "dedicated",
            api: BackupApi::Dedicated,
            body: dedicated_body(3, PAGE_ITEMS),
            decode: |b| Listing::Dedicated(decode::<DedicatedSnapshot>(b)),
            decode_and_fold: Some(|b| {
                let page = ListingPage::Dedicated(decode_borrowed::<DedicatedSnapshotRef<'_>>(b));
                fold_borrowed(BackupApi::Dedicated, page)
            }),
        },
        Kind4 {
            name: "legacy",
            api: BackupApi::Legacy,
            body: legacy_body(4, PAGE_ITEMS),
            decode: |b| Listing::Legacy(decode::<LegacySnapshot>(b)),
            decode_and_fold: None,
        },
    ]
}

fn summarise(api: BackupApi, listing: Listing) -> ClusterSummary {
    let mut fold = SummaryFold::new(api);
    fold.page(listing);
    fold.finish()
}

/// Runs `work` a few times under the counting allocator and prints what one run allocated.
fn report_alloc<R>(name: &str, mut work: impl FnMut() -> R) {
    black_box(work());
    const RUNS: usize = 3;
    let region = Region::new(GLOBAL);
    for _ in 0..RUNS {
        black_box(work());
    }
    let stats = region.change();
    let bytes = stats.bytes_allocated + stats.bytes_reallocated.max(0) as usize;
    println!(
        "alloc {name}: {} bytes in {} allocations per iteration",
        bytes / RUNS,
        (stats.allocations + stats.reallocations) / RUNS
    );
}

fn decoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode 500 items");
    for kind in kinds() {
        let listing = (kind.decode)(&kind.body);
        assert_eq!(listing.len(), PAGE_ITEMS, "{}", kind.name);
        group.throughput(Throughput::Bytes(kind.body.len() as u64));
        group.bench_function(format!("{}/decode_page", kind.name), |b| {
            b.iter(|| (kind.decode)(black_box(&kind.body)))
        });
        group.bench_function(format!("{}/floor: IgnoredAny", kind.name), |b| {
            b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(&kind.body)).unwrap())
        });
        if let Some(decode_and_fold) = kind.decode_and_fold {
            let listing = (kind.decode)(&kind.body);
            assert_eq!(
                decode_and_fold(&kind.body),
                summarise(kind.api, listing),
                "{}",
                kind.name
            );
            group.bench_function(format!("{}/decode and fold", kind.name), |b| {
                b.iter(|| decode_and_fold(black_box(&kind.body)))
            });
            report_alloc(&format!("decode and fold {}", kind.name), || {
                decode_and_fold(&kind.body)
            });
        }
        println!("size {}: {} bytes", kind.name, kind.body.len());
        report_alloc(&format!("decode {}", kind.name), || {
            (kind.decode)(&kind.body)
        });
        report_alloc(&format!("floor IgnoredAny {}", kind.name), || {
            serde_json::from_slice::<IgnoredAny>(&kind.body).unwrap()
        });
    }
    group.finish();
}

fn summarising(c: &mut Criterion) {
    let mut group = c.benchmark_group("summarise 500 items");
    for kind in kinds() {
        let listing = (kind.decode)(&kind.body);
        group.throughput(Throughput::Elements(PAGE_ITEMS as u64));
        group.bench_function(kind.name, |b| {
            b.iter_batched(
                || listing.clone(),
                |l| summarise(kind.api, l),
                BatchSize::SmallInput,
            )
        });
        // The clone the fold consumes is made outside the counted region.
        let mut copies: Vec<Listing> = (0..4).map(|_| listing.clone()).collect();
        report_alloc(&format!("summarise {}", kind.name), || {
            summarise(
                kind.api,
                copies.pop().unwrap_or_else(|| Listing::empty(kind.api)),
            )
        });
    }
    group.finish();
}

/// The published state after a poll cycle of `clusters` clusters.
fn published_state(clusters: usize) -> ExporterState {
    let now = now();
    let targets = (0..clusters)
        .map(|i| {
            let (p, c) = (i / CLUSTERS_PER_PROJECT, i % CLUSTERS_PER_PROJECT);
            let dedicated = c % 10 == 9;
            let kind = if dedicated {
                Kind::Dedicated
            } else {
                Kind::Flex
            };
            let mut t = TargetState::new(Target {
                project_id: format!("{p:024x}").into(),
                project_name: Some(format!("project-{p}").into()),
                cluster_name: format!("c{c}").into(),
                cluster_id: None,
                kind,
            });
            let (api, listing) = if dedicated {
                let body = dedicated_body(i as u64, 60);
                (BackupApi::Dedicated, Listing::Dedicated(decode(&body)))
            } else {
                let body = tenant_like_body(i as u64, 8, true);
                (BackupApi::Flex, Listing::Flex(decode(&body)))
            };
            let mut summary = summarise(api, listing);
            // As the poller publishes it: the ledger takes the listing's failures.
            let failures = summary.failures.take().unwrap_or_default();
            t.backups = Some(Backups {
                failures_total: failures.failed.len() as u64,
                summary: Arc::new(summary),
            });
            t.last_poll = Some(PollOutcome {
                at: now,
                duration: Duration::from_millis(120),
                error: None,
            });
            t.last_success = Some(now);
            t.facts = Some(ClusterFacts {
                cluster_type: Some(if dedicated {
                    ClusterType::ReplicaSet
                } else {
                    ClusterType::Flex
                }),
                paused: false,
                backup_enabled: true,
            });
            t.policy = Some(if dedicated {
                BackupPolicy {
                    next_snapshot: Some(now + SignedDuration::from_hours(3)),
                    interval: Some(Duration::from_secs(6 * 3600)),
                    retention: Some(Duration::from_secs(7 * 86_400)),
                    restore_window: Some(Duration::from_secs(2 * 86_400)),
                    ..BackupPolicy::default()
                }
                .shared()
            } else {
                BackupPolicy::flex().shared()
            });
            t.schedule_up = dedicated.then_some(true);
            t
        })
        .collect();
    ExporterState::new(targets)
        .with_discovery(Some(DiscoveryReport {
            up: true,
            last_success: Some(now),
        }))
        .with_cycle(
            Some(CycleReport {
                finished_at: now,
                duration: Duration::from_secs(2),
            }),
            true,
        )
}

fn metrics_for(state: Arc<ArcSwap<ExporterState>>, clusters: usize) -> Metrics {
    metrics_on(state, clusters, Arc::new(FixedClock(now())))
}

/// A clock one second further on at every reading: each scrape is the first of its second.
struct SecondByScrape(std::sync::atomic::AtomicI64);

impl Clock for SecondByScrape {
    fn now(&self) -> Timestamp {
        let step = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        now() + SignedDuration::from_secs(step)
    }
}

fn metrics_on(
    state: Arc<ArcSwap<ExporterState>>,
    clusters: usize,
    clock: Arc<dyn Clock>,
) -> Metrics {
    let reload = Arc::new(ArcSwap::from_pointee(ReloadStatus {
        successful: true,
        last_success: now(),
    }));
    let metrics = Metrics::new(state, reload, clock).unwrap();
    let observer = metrics.api_observer();
    for (op, n) in [
        (Operation::FlexSnapshotsList, clusters * 9 / 10),
        (Operation::DedicatedSnapshotsList, clusters / 10),
        (Operation::ClusterGet, clusters / 10),
        (Operation::BackupScheduleGet, clusters / 10),
    ] {
        for i in 0..n {
            observer.observe(op, Some(200), Duration::from_millis(40 + (i % 200) as u64));
        }
    }
    metrics
}

/// 1,000 and 10,000 clusters when measuring; 1,000 alone in a smoke run, where criterion runs
/// each benchmark once (`--test`, or `cargo test`, which does not pass `--bench`).
fn render_sizes() -> Vec<usize> {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    if smoke {
        vec![1_000]
    } else {
        vec![1_000, 10_000]
    }
}

/// Reads a body to its end, chunk by chunk as a connection would, keeping none: its length.
fn drain(body: Body) -> usize {
    match body {
        Body::Streamed(mut chunks) => {
            let mut len = 0;
            while let Some(chunk) = chunks.next_chunk() {
                len += black_box(chunk).len();
            }
            len
        }
        other => other.into_bytes().len(),
    }
}

fn rendering(c: &mut Criterion) {
    let mut group = c.benchmark_group("render /metrics");
    // A render of 10,000 clusters takes long enough that ten flat samples are the budget.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for clusters in render_sizes() {
        let state = Arc::new(ArcSwap::from_pointee(published_state(clusters)));
        let metrics = metrics_for(Arc::clone(&state), clusters);
        let body = metrics.render();
        let zipped = metrics.gzip_blocking().unwrap().into_bytes();
        println!(
            "size render {clusters}: {} bytes, {} series; gzip {} bytes",
            body.len(),
            body.lines().filter(|l| !l.starts_with('#')).count(),
            zipped.len()
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{clusters} clusters/plain"), |b| {
            b.iter(|| drain(metrics.plain()))
        });
        group.bench_function(format!("{clusters} clusters/floor: copy"), |b| {
            b.iter(|| black_box(body.as_bytes()).to_vec())
        });
        // Between polls: the segments are kept, the ages and own families compressed.
        group.bench_function(format!("{clusters} clusters/gzip, between polls"), |b| {
            b.iter(|| metrics.gzip_blocking().unwrap())
        });
        group.bench_function(format!("{clusters} clusters/gzip floor: copy"), |b| {
            b.iter(|| black_box(&zipped[..]).to_vec())
        });
        // During a poll, the first scrape of a second: one target published since the last
        // scrape, its chunk compressed, and every chunk's ages (the other scrapes of the
        // second cost what *between polls* does).
        let mut next = 0;
        let stepping = metrics_on(
            Arc::clone(&state),
            clusters,
            Arc::new(SecondByScrape(0.into())),
        );
        stepping.gzip_blocking().unwrap();
        group.bench_function(
            format!("{clusters} clusters/gzip, one target published"),
            |b| {
                b.iter(|| {
                    let published = state.load();
                    next = (next + 7919) % clusters;
                    if let Some(target) = published.target(next) {
                        published.publish_target(next, Arc::new((*target).clone()));
                    }
                    stepping.gzip_blocking().unwrap()
                })
            },
        );
        // After a poll: every chunk changed, everything compressed.
        group.bench_function(format!("{clusters} clusters/gzip, after a poll"), |b| {
            b.iter_batched(
                || metrics_for(Arc::clone(&state), clusters),
                |fresh| fresh.gzip_blocking().unwrap(),
                criterion::BatchSize::PerIteration,
            )
        });
        report_alloc(&format!("render plain {clusters}"), || {
            drain(metrics.plain())
        });
        report_alloc(&format!("render gzip between polls {clusters}"), || {
            metrics.gzip_blocking().unwrap()
        });
        let fresh = metrics_for(Arc::clone(&state), clusters);
        report_alloc(&format!("render gzip after a poll {clusters}"), || {
            fresh.gzip_blocking().unwrap()
        });
        report_alloc(&format!("floor copy {clusters}"), || {
            body.as_bytes().to_vec()
        });
    }
    group.finish();
}

fn landing_page(c: &mut Criterion) {
    let mut group = c.benchmark_group("render landing page");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for clusters in render_sizes() {
        let state = published_state(clusters);
        let render = || landing::render(&state, "/metrics", now(), None).unwrap();
        let started = Instant::now();
        let body = render();
        let once = started.elapsed();
        println!(
            "size landing {clusters}: {} bytes, {} rows; one render {:.2} ms",
            body.len(),
            body.lines().filter(|l| l.starts_with("<tr><td>")).count(),
            once.as_secs_f64() * 1000.0
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{clusters} clusters"), |b| b.iter(render));
        group.bench_function(format!("{clusters} clusters/floor: copy"), |b| {
            b.iter(|| black_box(body.as_bytes()).to_vec())
        });
        report_alloc(&format!("landing {clusters}"), render);
        report_alloc(&format!("floor copy landing {clusters}"), || {
            body.as_bytes().to_vec()
        });
    }
    group.finish();
}

criterion_group!(benches, decoding, summarising, rendering, landing_page);
criterion_main!(benches);
