//! Prometheus metrics: the snapshot collector, built fresh from the published state at every
//! scrape, and the exporter's own request counters.
//!
//! Snapshot and target families are never mutated between scrapes, so series of a cluster that
//! left the config, or whose project was deleted, vanish by construction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::atlas::{Operation, Reason, RequestObserver};
use crate::build_info;
use crate::clock::{Clock, unix_seconds};
use crate::snapshot::Status;
use crate::state::{ExporterState, ReloadStatus, TargetState};

/// Appended to the HELP of every metric read from a listing.
const CACHED: &str = "From a cache refreshed every poll interval.";

/// The exporter's metric registry and the handles that feed it.
pub struct Metrics {
    registry: Registry,
    api: Arc<ApiMetrics>,
}

impl Metrics {
    /// Registers every collector: snapshot state, API requests, build info and process metrics.
    pub fn new(
        state: Arc<ArcSwap<ExporterState>>,
        reload: Arc<ArcSwap<ReloadStatus>>,
        clock: Arc<dyn Clock>,
    ) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let api = Arc::new(ApiMetrics::new()?);
        registry.register(Box::new(api.requests.clone()))?;
        registry.register(Box::new(api.durations.clone()))?;
        registry.register(Box::new(StateCollector::new(state, reload, clock)?))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics { registry, api })
    }

    /// The observer to hand to the Atlas client.
    pub fn api_observer(&self) -> Arc<dyn RequestObserver> {
        Arc::clone(&self.api) as Arc<dyn RequestObserver>
    }

    /// The registry, for tests that inspect families directly.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let families = self.registry.gather();
        let mut out = String::with_capacity(16 * 1024);
        prometheus::TextEncoder::new().encode_utf8(&families, &mut out)?;
        Ok(out)
    }
}

/// `atlas_snapshot_exporter_api_requests_total` and `..._api_request_duration_seconds`.
pub struct ApiMetrics {
    requests: IntCounterVec,
    durations: HistogramVec,
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
        Ok(ApiMetrics {
            requests,
            durations,
        })
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
}

/// One family's name, HELP, type and label names.
struct FamilySpec {
    name: &'static str,
    help: String,
    kind: MetricType,
    labels: &'static [&'static str],
}

const CLUSTER: &[&str] = &["project_id", "cluster_name"];
const CLUSTER_STATUS: &[&str] = &["project_id", "cluster_name", "status"];
const CLUSTER_REASON: &[&str] = &["project_id", "cluster_name", "reason"];
const CLUSTER_INFO: &[&str] = &["project_id", "project_name", "cluster_name", "kind"];
const BUILD_INFO: &[&str] = &["version", "revision", "rustc_version"];

/// Family indices, in the order of [`family_specs`].
mod fam {
    pub const CLUSTER_INFO: usize = 0;
    pub const SNAPSHOTS: usize = 1;
    pub const LATEST_STATUS: usize = 2;
    pub const LATEST_COMPLETED_TS: usize = 3;
    pub const LATEST_COMPLETED_AGE: usize = 4;
    pub const LATEST_COMPLETED_DURATION: usize = 5;
    pub const LATEST_COMPLETED_SIZE: usize = 6;
    pub const OLDEST_COMPLETED_TS: usize = 7;
    pub const FAILURES: usize = 8;
    pub const TARGET_UP: usize = 9;
    pub const TARGET_LAST_SUCCESS: usize = 10;
    pub const TARGET_POLL_DURATION: usize = 11;
    pub const TARGET_ERRORS: usize = 12;
    pub const CYCLE_DURATION: usize = 13;
    pub const CYCLE_TS: usize = 14;
    pub const RELOAD_OK: usize = 15;
    pub const RELOAD_TS: usize = 16;
    pub const BUILD_INFO: usize = 17;
}

fn family_specs() -> Vec<FamilySpec> {
    use MetricType::{COUNTER, GAUGE};
    let spec = |name, help: &str, kind, labels| FamilySpec {
        name,
        help: help.to_owned(),
        kind,
        labels,
    };
    let cached = |name, help: &str, kind, labels| FamilySpec {
        name,
        help: format!("{help} {CACHED}"),
        kind,
        labels,
    };
    vec![
        spec(
            "atlas_snapshot_cluster_info",
            "Always 1, for each configured cluster; kind is the backup API that serves it (auto until resolved).",
            GAUGE,
            CLUSTER_INFO,
        ),
        cached(
            "atlas_snapshot_snapshots",
            "Snapshots in the latest listing, by status.",
            GAUGE,
            CLUSTER_STATUS,
        ),
        cached(
            "atlas_snapshot_latest_status",
            "1 for the status of the newest snapshot, 0 for the other four; absent when the listing is empty.",
            GAUGE,
            CLUSTER_STATUS,
        ),
        cached(
            "atlas_snapshot_latest_completed_timestamp_seconds",
            "Finish time of the newest COMPLETED snapshot, in Unix seconds; absent when there is none.",
            GAUGE,
            CLUSTER,
        ),
        cached(
            "atlas_snapshot_latest_completed_age_seconds",
            "Seconds between the scrape and the finish of the newest COMPLETED snapshot.",
            GAUGE,
            CLUSTER,
        ),
        cached(
            "atlas_snapshot_latest_completed_duration_seconds",
            "Finish minus start of the newest COMPLETED snapshot (tenant and flex only).",
            GAUGE,
            CLUSTER,
        ),
        cached(
            "atlas_snapshot_latest_completed_size_bytes",
            "Stored size of the newest COMPLETED snapshot, where the API gives one (dedicated, legacy).",
            GAUGE,
            CLUSTER,
        ),
        cached(
            "atlas_snapshot_oldest_completed_timestamp_seconds",
            "Finish time of the oldest COMPLETED snapshot still listed (the restore window), in Unix seconds.",
            GAUGE,
            CLUSTER,
        ),
        cached(
            "atlas_snapshot_failures_total",
            "Distinct FAILED snapshot ids this process has seen.",
            COUNTER,
            CLUSTER,
        ),
        spec(
            "atlas_snapshot_target_up",
            "1 when the last poll of this cluster succeeded, else 0.",
            GAUGE,
            CLUSTER,
        ),
        spec(
            "atlas_snapshot_target_last_success_timestamp_seconds",
            "When a poll of this cluster last succeeded, in Unix seconds.",
            GAUGE,
            CLUSTER,
        ),
        spec(
            "atlas_snapshot_target_poll_duration_seconds",
            "How long the last poll of this cluster took, all pages.",
            GAUGE,
            CLUSTER,
        ),
        spec(
            "atlas_snapshot_target_errors_total",
            "Failed polls of this cluster, by reason.",
            COUNTER,
            CLUSTER_REASON,
        ),
        spec(
            "atlas_snapshot_exporter_poll_cycle_duration_seconds",
            "How long the last full poll cycle took.",
            GAUGE,
            &[],
        ),
        spec(
            "atlas_snapshot_exporter_last_poll_cycle_timestamp_seconds",
            "When the last full poll cycle ended, in Unix seconds.",
            GAUGE,
            &[],
        ),
        spec(
            "atlas_snapshot_exporter_config_last_reload_successful",
            "1 when the last config (re)load succeeded, else 0.",
            GAUGE,
            &[],
        ),
        spec(
            "atlas_snapshot_exporter_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully, in Unix seconds.",
            GAUGE,
            &[],
        ),
        spec(
            "atlas_snapshot_exporter_build_info",
            "Always 1; labels say which build is running.",
            GAUGE,
            BUILD_INFO,
        ),
    ]
}

/// Builds the snapshot, target and exporter families from the published state at scrape time.
struct StateCollector {
    state: Arc<ArcSwap<ExporterState>>,
    reload: Arc<ArcSwap<ReloadStatus>>,
    clock: Arc<dyn Clock>,
    specs: Vec<FamilySpec>,
    descs: Vec<Desc>,
}

impl StateCollector {
    fn new(
        state: Arc<ArcSwap<ExporterState>>,
        reload: Arc<ArcSwap<ReloadStatus>>,
        clock: Arc<dyn Clock>,
    ) -> prometheus::Result<StateCollector> {
        let specs = family_specs();
        let descs = specs
            .iter()
            .map(|s| {
                Desc::new(
                    s.name.to_owned(),
                    s.help.clone(),
                    s.labels.iter().map(|l| (*l).to_owned()).collect(),
                    HashMap::new(),
                )
            })
            .collect::<prometheus::Result<Vec<_>>>()?;
        Ok(StateCollector {
            state,
            reload,
            clock,
            specs,
            descs,
        })
    }
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let state = self.state.load();
        let reload = **self.reload.load();
        let now = unix_seconds(self.clock.now());
        let mut out = Families::new(&self.specs, state.targets.len());

        for t in &state.targets {
            write_target(&mut out, t, now);
        }
        if let Some(cycle) = state.last_cycle {
            out.push(fam::CYCLE_DURATION, &[], cycle.duration.as_secs_f64());
            out.push(fam::CYCLE_TS, &[], unix_seconds(cycle.finished_at));
        }
        out.push(fam::RELOAD_OK, &[], f64::from(u8::from(reload.successful)));
        out.push(fam::RELOAD_TS, &[], unix_seconds(reload.last_success));
        out.push(
            fam::BUILD_INFO,
            &[
                build_info::VERSION,
                build_info::REVISION,
                build_info::RUSTC_VERSION,
            ],
            1.0,
        );
        out.finish()
    }
}

fn write_target(out: &mut Families, t: &TargetState, now: f64) {
    let project = &*t.target.project_id;
    let cluster = &*t.target.cluster_name;
    let ids = [project, cluster];
    out.push(
        fam::CLUSTER_INFO,
        &[
            project,
            t.target.project_name.as_deref().unwrap_or(""),
            cluster,
            t.kind().as_str(),
        ],
        1.0,
    );

    if let Some(backups) = &t.backups {
        let s = &backups.summary;
        for status in Status::ALL {
            out.push(
                fam::SNAPSHOTS,
                &[project, cluster, status.as_str()],
                s.count(status) as f64,
            );
        }
        if let Some(latest) = &s.latest {
            for status in Status::ALL {
                let v = if latest.status == Some(status) {
                    1.0
                } else {
                    0.0
                };
                out.push(fam::LATEST_STATUS, &[project, cluster, status.as_str()], v);
            }
        }
        if let Some(c) = &s.latest_completed {
            if let Some(finished) = c.finished {
                let finished = unix_seconds(finished);
                out.push(fam::LATEST_COMPLETED_TS, &ids, finished);
                out.push(fam::LATEST_COMPLETED_AGE, &ids, (now - finished).max(0.0));
            }
            if let Some(d) = c.duration {
                out.push(fam::LATEST_COMPLETED_DURATION, &ids, d.as_secs_f64());
            }
            if let Some(size) = c.size_bytes {
                out.push(fam::LATEST_COMPLETED_SIZE, &ids, size as f64);
            }
        }
        if let Some(oldest) = s.oldest_completed_finished {
            out.push(fam::OLDEST_COMPLETED_TS, &ids, unix_seconds(oldest));
        }
        out.push(fam::FAILURES, &ids, backups.failures_total as f64);
    }

    if let Some(up) = t.up() {
        out.push(fam::TARGET_UP, &ids, f64::from(u8::from(up)));
    }
    if let Some(at) = t.last_success {
        out.push(fam::TARGET_LAST_SUCCESS, &ids, unix_seconds(at));
    }
    if let Some(poll) = &t.last_poll {
        out.push(fam::TARGET_POLL_DURATION, &ids, poll.duration.as_secs_f64());
    }
    for reason in Reason::ALL {
        out.push(
            fam::TARGET_ERRORS,
            &[project, cluster, reason.as_str()],
            t.errors(reason) as f64,
        );
    }
}

/// Families under construction, one per spec.
struct Families<'a> {
    specs: &'a [FamilySpec],
    metrics: Vec<Vec<proto::Metric>>,
}

impl<'a> Families<'a> {
    fn new(specs: &'a [FamilySpec], targets: usize) -> Families<'a> {
        Families {
            specs,
            metrics: specs.iter().map(|_| Vec::with_capacity(targets)).collect(),
        }
    }

    fn push(&mut self, family: usize, values: &[&str], value: f64) {
        let spec = &self.specs[family];
        let labels = spec
            .labels
            .iter()
            .zip(values)
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name((*name).to_owned());
                pair.set_value((*value).to_owned());
                pair
            })
            .collect();
        let mut metric = proto::Metric::default();
        metric.set_label(labels);
        match spec.kind {
            MetricType::COUNTER => {
                let mut c = proto::Counter::default();
                c.set_value(value);
                metric.set_counter(c);
            }
            _ => {
                let mut g = proto::Gauge::default();
                g.set_value(value);
                metric.set_gauge(g);
            }
        }
        self.metrics[family].push(metric);
    }

    fn finish(self) -> Vec<MetricFamily> {
        self.specs
            .iter()
            .zip(self.metrics)
            .filter(|(_, metrics)| !metrics.is_empty())
            .map(|(spec, metrics)| {
                let mut mf = MetricFamily::default();
                mf.set_name(spec.name.to_owned());
                mf.set_help(spec.help.clone());
                mf.set_field_type(spec.kind);
                mf.set_metric(metrics);
                mf
            })
            .collect()
    }
}
