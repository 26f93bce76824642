//! Prometheus metrics: the exporter's own request counters and process metrics in the
//! prometheus crate's registry, and the scrape path that writes them with the snapshot and
//! target families of the published state ([`crate::exposition`]).
//!
//! Snapshot and target families are written from the published cells at every scrape, never
//! kept between scrapes, so series of a cluster that left the config, or whose project was
//! deleted, vanish by construction.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

use jiff::Timestamp;

use crate::atlas::wire::SkipReason;
use crate::atlas::{Announcements, Operation, RequestObserver};
use crate::clock::Clock;
use crate::exposition::{Body, Exposition, ScrapeInputs};
use crate::state::{ExporterState, ReloadStatus};

/// The exporter's metric registry, the handles that feed it, and the scrape path.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    api: Arc<ApiMetrics>,
    state: Arc<ArcSwap<ExporterState>>,
    reload: Arc<ArcSwap<ReloadStatus>>,
    clock: Arc<dyn Clock>,
    exposition: Exposition,
    /// Gzip scrapes compressing at once: one per core. They share one cache whose refresh
    /// takes turns anyway; more at once would only hold more buffers (each blocking thread in
    /// its own allocator arena) and take more of the cores the polls need.
    compressing: tokio::sync::Semaphore,
}

impl Metrics {
    /// Registers the exporter's own collectors: API requests and process metrics.
    pub fn new(
        state: Arc<ArcSwap<ExporterState>>,
        reload: Arc<ArcSwap<ReloadStatus>>,
        clock: Arc<dyn Clock>,
    ) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let api = Arc::new(ApiMetrics::new()?);
        registry.register(Box::new(api.requests.clone()))?;
        registry.register(Box::new(api.durations.clone()))?;
        registry.register(Box::new(api.challenges.clone()))?;
        registry.register(Box::new(api.skipped.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(crate::process::ProcessMetrics::for_self()?))?;
        Ok(Metrics {
            inner: Arc::new(Inner {
                registry,
                api,
                state,
                reload,
                clock,
                exposition: Exposition::new(),
                compressing: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(1, usize::from),
                ),
            }),
        })
    }

    /// The observer to hand to the Atlas client.
    pub fn api_observer(&self) -> Arc<dyn RequestObserver> {
        Arc::clone(&self.inner.api) as Arc<dyn RequestObserver>
    }

    /// The registry of the exporter's own metrics.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The published state and what a scrape writes besides it, read now.
    fn inputs(&self) -> (Arc<ExporterState>, ScrapeInputs) {
        let inner = &self.inner;
        let state = inner.state.load_full();
        let (sunsets, rate_limits) = {
            let announced = inner.api.lock_announced();
            (
                announced
                    .sunsets
                    .iter()
                    .map(|(op, at)| (op.as_str(), *at))
                    .collect(),
                announced
                    .remaining_last_cycle
                    .iter()
                    .map(|((project, op), remaining)| (project.clone(), op.as_str(), *remaining))
                    .collect(),
            )
        };
        // Series in label-value order, as the prometheus crate's registry writes them.
        let (mut sunsets, mut rate_limits): (Vec<_>, Vec<_>) = (sunsets, rate_limits);
        sunsets.sort_unstable();
        rate_limits.sort_unstable();
        let inputs = ScrapeInputs {
            now: inner.clock.now(),
            reload: **inner.reload.load(),
            sunsets,
            rate_limits,
            registry: inner.registry.gather(),
        };
        (state, inputs)
    }

    /// The plain text exposition, written as the connection reads it.
    pub fn plain(&self) -> Body {
        let (state, inputs) = self.inputs();
        self.inner.exposition.plain(&state, &inputs)
    }

    /// The exposition gzip-compressed. It may compress for a while after a poll, so it runs
    /// on tokio's blocking threads, as many at once as there are cores; the others wait
    /// their turn without a thread.
    pub async fn gzip(&self) -> std::io::Result<Body> {
        let _turn = self
            .inner
            .compressing
            .acquire()
            .await
            .map_err(std::io::Error::other)?;
        let metrics = self.clone();
        tokio::task::spawn_blocking(move || metrics.gzip_blocking())
            .await
            .map_err(std::io::Error::other)?
    }

    /// [`Metrics::gzip`] on the calling thread, for benchmarks.
    pub fn gzip_blocking(&self) -> std::io::Result<Body> {
        let (state, inputs) = self.inputs();
        self.inner.exposition.gzip(&state, &inputs)
    }

    /// The whole plain exposition as one string, for tests and benchmarks.
    pub fn render(&self) -> String {
        String::from_utf8(self.plain().into_bytes()).unwrap_or_default()
    }
}

/// `atlas_snapshot_exporter_api_requests_total`, `..._api_request_duration_seconds`,
/// `..._auth_challenges_total` and `..._skipped_items_total`, and the facts from response headers that the state collector
/// exports: sunset dates and the lowest rate-limit headroom of the last cycle.
pub struct ApiMetrics {
    requests: IntCounterVec,
    durations: HistogramVec,
    challenges: IntCounter,
    skipped: IntCounterVec,
    announced: Mutex<Announced>,
}

/// What response headers announced.
#[derive(Debug, Default)]
struct Announced {
    /// The latest `Sunset:` date seen per endpoint.
    sunsets: BTreeMap<Operation, Timestamp>,
    /// The lowest `Ratelimit-Remaining` per project and endpoint in the cycle under way.
    remaining_now: BTreeMap<(String, Operation), u64>,
    /// The same for the last finished cycle: what is exported.
    remaining_last_cycle: BTreeMap<(String, Operation), u64>,
}

impl ApiMetrics {
    fn new() -> prometheus::Result<ApiMetrics> {
        let requests = IntCounterVec::new(
            Opts::new(
                "atlas_snapshot_exporter_api_requests_total",
                "HTTP responses from the Atlas API acted on, by operation and status code (\"error\" when none came back).",
            ),
            &["endpoint", "code"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "atlas_snapshot_exporter_api_request_duration_seconds",
                "Time to complete one Atlas API request, body included, by operation.",
            )
            .buckets(vec![
                0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["endpoint"],
        )?;
        let challenges = IntCounter::new(
            "atlas_snapshot_exporter_auth_challenges_total",
            "Digest challenges answered: 401s inside the authentication handshake.",
        )?;
        let skipped = IntCounterVec::new(
            Opts::new(
                "atlas_snapshot_exporter_skipped_items_total",
                "Listing items that could not be read (a bad date, a missing id) and were left out, by reason.",
            ),
            &["reason"],
        )?;
        // Every reason from the start, at 0, so that rate() and alerts see the first one.
        for reason in SkipReason::ALL {
            skipped.with_label_values(&[reason.as_str()]);
        }
        Ok(ApiMetrics {
            requests,
            durations,
            challenges,
            skipped,
            announced: Mutex::new(Announced::default()),
        })
    }

    fn lock_announced(&self) -> std::sync::MutexGuard<'_, Announced> {
        self.announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl RequestObserver for ApiMetrics {
    fn observe(&self, operation: Operation, status: Option<u16>, elapsed: Duration) {
        let code = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.requests
            .with_label_values(&[operation.as_str(), code.as_str()])
            .inc();
        self.durations
            .with_label_values(&[operation.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    fn challenge_answered(&self) {
        self.challenges.inc();
    }

    fn skipped_items(&self, reason: SkipReason, count: u64) {
        self.skipped
            .with_label_values(&[reason.as_str()])
            .inc_by(count);
    }

    fn announced(&self, operation: Operation, project_id: &str, announcements: &Announcements) {
        let mut announced = self.lock_announced();
        if let Some(sunset) = announcements.sunset {
            announced.sunsets.insert(operation, sunset);
        }
        if let Some(rate) = announcements.rate_limit {
            announced
                .remaining_now
                .entry((project_id.to_owned(), operation))
                .and_modify(|low| *low = (*low).min(rate.remaining))
                .or_insert(rate.remaining);
        }
    }

    fn cycle_started(&self) {
        self.lock_announced().remaining_now.clear();
    }

    fn cycle_finished(&self) {
        let mut announced = self.lock_announced();
        announced.remaining_last_cycle = std::mem::take(&mut announced.remaining_now);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeSet;

    use jiff::Timestamp;

    use super::*;
    use crate::atlas::{BackupApi, RateLimitHeaders};
    use crate::clock::FixedClock;
    use crate::exposition::families::Family;
    use crate::facts::ClusterType;
    use crate::snapshot::Status;
    use crate::state::TargetState;
    use crate::state::{Backups, CycleReport, PollOutcome};
    use crate::summary::{ClusterSummary, CompletedSnapshot, LatestSnapshot};
    use crate::target::{Kind, Target};

    /// A target with every figure known: each family has at least one series for it.
    fn fully_known_state(now: Timestamp) -> ExporterState {
        let mut t = TargetState::new(Target {
            project_id: "5f3c9e2a1b4d6e7f80912a01".into(),
            project_name: Some("demo".into()),
            cluster_name: "Cluster0".into(),
            cluster_id: None,
            kind: Kind::Dedicated,
        });
        t.backups = Some(Backups {
            summary: Arc::new(ClusterSummary {
                api: BackupApi::Dedicated,
                by_status: [1; Status::COUNT],
                unknown_status: 0,
                latest: Some(LatestSnapshot {
                    id: "b".into(),
                    status: Some(Status::Completed),
                    status_text: "COMPLETED".into(),
                }),
                latest_completed: Some(CompletedSnapshot {
                    id: "b".into(),
                    finished: Some(now),
                    duration: Some(Duration::from_secs(90)),
                    size_bytes: Some(1 << 30),
                    copy_regions: Some(1),
                }),
                oldest_completed_finished: Some(now),
                failures: None,
            }),
            failures_total: 1,
        });
        t.last_poll = Some(PollOutcome {
            at: now,
            duration: Duration::from_millis(250),
            error: None,
        });
        t.last_success = Some(now);
        t.facts = Some(crate::facts::ClusterFacts {
            cluster_type: Some(ClusterType::ReplicaSet),
            paused: false,
            backup_enabled: true,
        });
        t.policy = Some(std::sync::Arc::new(crate::facts::BackupPolicy {
            next_snapshot: Some(now),
            interval: Some(Duration::from_secs(21_600)),
            retention: Some(Duration::from_secs(7 * 86_400)),
            restore_window: Some(Duration::from_secs(2 * 86_400)),
            copy_regions: Some(2),
            export_interval: Some(Duration::from_secs(86_400)),
        }));
        t.schedule_up = Some(true);
        use crate::atlas::jobs::{ExportState, Job, JobStatus, RestoreStatus};
        fn done<S>(id: &str, state: S, now: Timestamp) -> Job<S> {
            Job {
                id: id.into(),
                status: JobStatus::Known(state),
                finished: Some(now),
                delivery_type: None,
            }
        }
        t.restores = Some(Arc::new(crate::state::Jobs {
            summary: crate::job_summary::JobsSummary::of([done(
                "r",
                RestoreStatus::Completed,
                now,
            )]),
            failures_total: 1,
        }));
        t.exports = Some(Arc::new(crate::state::Jobs {
            summary: crate::job_summary::JobsSummary::of([done("e", ExportState::Successful, now)]),
            failures_total: 0,
        }));
        let mut alerts = crate::atlas::alerts::BackupAlerts::default();
        alerts.open.insert(crate::atlas::alerts::OpenBackupAlert {
            cluster_name: "Cluster0".into(),
            event_type: "CPS_OPLOG_BEHIND",
        });
        t.alerts = Some(Arc::new(alerts));
        t.sources_up = crate::state::SourcesUp {
            restores: Some(true),
            exports: Some(true),
            alerts: Some(true),
        };
        ExporterState::new(vec![t])
            .with_discovery(Some(crate::state::DiscoveryReport {
                up: true,
                last_success: Some(now),
            }))
            .with_cycle(
                Some(CycleReport {
                    finished_at: now,
                    duration: Duration::from_secs(1),
                }),
                true,
            )
    }

    /// Request metrics after one cycle whose responses announced a sunset and rate limits.
    fn api_after_a_cycle() -> Arc<ApiMetrics> {
        let api = Arc::new(ApiMetrics::new().unwrap());
        api.cycle_started();
        api.announced(
            Operation::DedicatedSnapshotsList,
            "5f3c9e2a1b4d6e7f80912a01",
            &Announcements {
                sunset: Some("2027-07-01T00:00:00Z".parse().unwrap()),
                deprecation: None,
                rate_limit: Some(RateLimitHeaders {
                    limit: Some(1200),
                    remaining: 1199,
                }),
            },
        );
        api.cycle_finished();
        api
    }

    /// A scrape of `state` at `now` with these request metrics.
    fn scrape_with(state: ExporterState, now: Timestamp, api: Arc<ApiMetrics>) -> String {
        let reload = ReloadStatus {
            successful: true,
            last_success: now,
        };
        let metrics = Metrics::new(
            Arc::new(ArcSwap::from_pointee(state)),
            Arc::new(ArcSwap::from_pointee(reload)),
            Arc::new(FixedClock(now)),
        )
        .unwrap();
        let mut inner = Arc::into_inner(metrics.inner).unwrap();
        inner.api = api;
        Metrics {
            inner: Arc::new(inner),
        }
        .render()
    }

    fn scrape(state: ExporterState, now: Timestamp) -> String {
        scrape_with(state, now, api_after_a_cycle())
    }

    /// The series of family `name`: label values and value.
    fn gauges(text: &str, name: &str) -> Vec<(Vec<String>, f64)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let (family, labels) = series.split_once('{').unwrap_or((series, ""));
                (family == name).then(|| {
                    let values = labels
                        .trim_end_matches('}')
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| p.split_once('=').unwrap().1.trim_matches('"').to_owned())
                        .collect();
                    (values, value.parse().unwrap())
                })
            })
            .collect()
    }

    /// The families a scrape holds, by the names in its TYPE lines.
    fn family_names(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .filter(|n| n.starts_with("atlas_snapshot_") && !is_registry(n))
            .collect()
    }

    /// The families of the prometheus crate's registry.
    fn is_registry(name: &str) -> bool {
        [
            "atlas_snapshot_exporter_api_requests_total",
            "atlas_snapshot_exporter_api_request_duration_seconds",
            "atlas_snapshot_exporter_auth_challenges_total",
            "atlas_snapshot_exporter_skipped_items_total",
        ]
        .contains(&name)
    }

    #[test]
    fn the_rate_limit_gauge_is_the_lowest_remaining_of_the_last_finished_cycle() {
        let now: Timestamp = "2026-11-22T03:00:00Z".parse().unwrap();
        let api = Arc::new(ApiMetrics::new().unwrap());
        let seen = |remaining| Announcements {
            rate_limit: Some(RateLimitHeaders {
                limit: Some(1200),
                remaining,
            }),
            ..Announcements::default()
        };
        let p = "5f3c9e2a1b4d6e7f80912a01";
        api.cycle_started();
        for remaining in [1199, 1150, 1180] {
            api.announced(Operation::FlexSnapshotsList, p, &seen(remaining));
        }
        api.announced(Operation::DedicatedSnapshotsList, p, &seen(900));
        let name = "atlas_snapshot_exporter_rate_limit_remaining";
        let during = scrape_with(ExporterState::default(), now, Arc::clone(&api));
        assert!(
            gauges(&during, name).is_empty(),
            "nothing before a cycle ends"
        );
        api.cycle_finished();
        let after = scrape_with(ExporterState::default(), now, Arc::clone(&api));
        assert_eq!(
            gauges(&after, name),
            vec![
                (
                    vec![p.to_owned(), "list_dedicated_snapshots".to_owned()],
                    900.0
                ),
                (vec![p.to_owned(), "list_flex_snapshots".to_owned()], 1150.0),
            ]
        );
        // The next cycle starts afresh: a higher remaining replaces the old low once it ends,
        // and an endpoint not called in it leaves.
        api.cycle_started();
        api.announced(Operation::FlexSnapshotsList, p, &seen(1190));
        let mid = scrape_with(ExporterState::default(), now, Arc::clone(&api));
        assert_eq!(
            gauges(&mid, name).len(),
            2,
            "the last cycle stays until the next ends"
        );
        api.cycle_finished();
        let next = scrape_with(ExporterState::default(), now, api);
        assert_eq!(
            gauges(&next, name),
            vec![(vec![p.to_owned(), "list_flex_snapshots".to_owned()], 1190.0)]
        );
    }

    #[test]
    fn every_family_has_a_name_of_its_own() {
        let names: BTreeSet<&str> = Family::ALL.iter().map(|f| f.spec().name).collect();
        assert_eq!(names.len(), Family::ALL.len());
    }

    #[test]
    fn a_fully_known_target_writes_every_family_and_no_other() {
        let now: Timestamp = "2026-11-22T03:00:00Z".parse().unwrap();
        let got = family_names(&scrape(fully_known_state(now), now));
        let want: BTreeSet<String> = Family::ALL
            .iter()
            .map(|f| f.spec().name.to_owned())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn every_series_carries_the_label_names_its_family_describes() {
        let now: Timestamp = "2026-11-22T03:00:00Z".parse().unwrap();
        let text = scrape(fully_known_state(now), now);
        for family in Family::ALL {
            let name = family.spec().name;
            let mut seen = 0;
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let series = line.rsplit_once(' ').unwrap().0;
                let (n, labels) = series.split_once('{').unwrap_or((series, "}"));
                if n != name {
                    continue;
                }
                seen += 1;
                let names: Vec<&str> = labels
                    .trim_end_matches('}')
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.split_once('=').unwrap().0)
                    .collect();
                assert_eq!(names, family.labels(), "{name}");
            }
            assert!(seen > 0, "{name} has no series");
        }
    }
}
