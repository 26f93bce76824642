//! /metrics, written straight from the published state: no family tree is built per scrape.
//!
//! A scrape is a read of the published cells. The exposition is a list of parts in family-name
//! order (the order the prometheus crate's registry writes, which the golden file pins):
//! - the per-cluster families (and `source_up`, per project), written target by target in the
//!   order of [`Order`]: plain text is written chunk by chunk as the connection takes it, so a
//!   scrape of 10,000 clusters holds one chunk, never the whole body;
//! - `latest_completed_age_seconds`, the only per-cluster family that changes between polls,
//!   written at every scrape;
//! - the exporter's own families (cycle, reload, discovery, rate limits, sunsets, build, shard,
//!   and the prometheus crate's registry: request counters and histograms, process metrics),
//!   small, written at every scrape.
//!
//! The gzip form is one gzip member whose deflate stream is joined from segments compressed
//! independently (module `gzip`): each per-cluster family's lines of each chunk of [`Order`] are one
//! segment, compressed once and kept until a target of that chunk publishes again; a scrape
//! compresses only its own small families, the chunks that changed since the last compressed
//! scrape, and the ages (counted to the whole second) of those chunks, or of every chunk when
//! its second is new; at most once a second while a cycle publishes, by the second's first
//! gzip scrape. Between polls that is the ages once a second, whatever the scrapers. Each
//! family's segments are then held in one buffer, so a member is a few dozen parts to send.
//! (Concatenated gzip members would have been simpler, and RFC 1952 allows them, but reqwest's
//! decoder refuses bytes after the first member, and other clients may stop there silently.)

pub mod body;
pub(crate) mod families;
mod gzip;
mod labels;
pub(crate) mod text;

use std::sync::{Arc, LazyLock};

use hyper::body::Bytes;
use jiff::Timestamp;
use prometheus::proto::MetricFamily;

use crate::build_info;
use crate::clock::unix_seconds;
use crate::state::{ExporterState, Order, ReloadStatus, TargetState};

pub use body::{Body, Chunks};
use families::PerCluster;
use families::{
    AlertOpen, ApiSunset, BuildInfo, Family, RateLimitRemaining, ShardInfo, SourceUp, Unlabelled,
};
use labels::{ClusterLabels, LabelCache};

/// Plain text is written in chunks of about this many bytes.
const CHUNK_BYTES: usize = 128 * 1024;

/// How a state family is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Target by target, from the cells; compressed per chunk and kept.
    Cached,
    /// `latest_completed_age_seconds`: target by target, at every scrape.
    Age,
    /// A family of the whole exporter, at every scrape.
    Live,
}

impl Family {
    fn role(self) -> Role {
        match self {
            Family::ClusterInfo
            | Family::PerStatus(_)
            | Family::TargetErrors
            | Family::ExportJobs
            | Family::AlertOpen
            | Family::SourceUp => Role::Cached,
            Family::PerCluster(PerCluster::LatestCompletedAge) => Role::Age,
            Family::PerCluster(_) => Role::Cached,
            Family::Unlabelled(_)
            | Family::ApiSunset
            | Family::RateLimitRemaining
            | Family::BuildInfo
            | Family::ShardInfo => Role::Live,
        }
    }
}

/// The state families by name.
static BY_NAME: LazyLock<Vec<Family>> = LazyLock::new(|| {
    let mut all = Family::ALL.to_vec();
    all.sort_by_key(|f| f.spec().name);
    all
});

/// The cached families by name: the index of one is its place in the gzip cache.
static CACHED: LazyLock<Vec<Family>> = LazyLock::new(|| {
    BY_NAME
        .iter()
        .copied()
        .filter(|f| f.role() == Role::Cached)
        .collect()
});

/// What a scrape writes besides the published cells.
pub struct ScrapeInputs {
    /// The scrape's time: the ages are counted to it.
    pub now: Timestamp,
    /// The last config (re)load.
    pub reload: ReloadStatus,
    /// `Sunset:` dates announced, by endpoint.
    pub sunsets: Vec<(&'static str, Timestamp)>,
    /// The lowest rate-limit headroom of the last cycle, by project and endpoint.
    pub rate_limits: Vec<(String, &'static str, u64)>,
    /// The prometheus crate's registry, gathered: the exporter's request and process metrics.
    pub registry: Vec<MetricFamily>,
}

/// One part of the exposition, in family-name order.
#[derive(Debug)]
enum Part {
    /// Whole families written at scrape time.
    Text(Vec<u8>),
    /// The age family.
    Age,
    /// Consecutive cached families.
    Cached(Vec<Family>),
}

/// One scrape's view: the cells loaded once, so every family shows the same moment.
struct View {
    order: Arc<Order>,
    /// Every target's state, by cell index.
    targets: Vec<Arc<TargetState>>,
    /// Every target's labels, by sorted position.
    labels: Arc<ClusterLabels>,
    /// Unix seconds, whole: the ages are counted to the scrape's second, so scrapes within
    /// one second (and between publications) send the same ages, and the gzip form compresses
    /// them once.
    now: f64,
}

impl View {
    fn load(state: &ExporterState, now: Timestamp, labels: &LabelCache) -> View {
        let targets: Vec<Arc<TargetState>> = state.targets().collect();
        View {
            order: Arc::clone(state.order()),
            labels: labels.get(state, &targets),
            targets,
            now: View::second(now) as f64,
        }
    }

    /// The whole Unix second of `now`: what the ages count to.
    fn second(now: Timestamp) -> i64 {
        unix_seconds(now).floor() as i64
    }

    fn at(&self, sorted_position: usize) -> &TargetState {
        &self.targets[self.order.sorted()[sorted_position] as usize]
    }

    /// Writes `family`'s lines for the targets at `range` of the sorted order.
    fn lines(&self, out: &mut Vec<u8>, family: Family, range: std::ops::Range<usize>) {
        match family {
            Family::SourceUp => return self.source_up(out, range),
            Family::AlertOpen => return self.alert_open(out, range),
            _ => {}
        }
        for position in range {
            let labels = self.labels.at(position);
            text::target_lines(out, family, self.at(position), labels, self.now);
        }
    }

    /// The positions of `range` where a project starts, with the end of its targets.
    fn project_starts(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let len = self.order.sorted().len();
        range.filter_map(move |position| {
            let project = &self.at(position).target.project_id;
            if position > 0 && self.at(position - 1).target.project_id == *project {
                return None;
            }
            let end = (position..len)
                .find(|&next| self.at(next).target.project_id != *project)
                .unwrap_or(len);
            Some(position..end)
        })
    }

    /// `source_up` of each project that starts in `range`, by source in label order: 0 when a
    /// read of the source failed for any of its clusters, absent when none was tried. The
    /// alerts are the project's: every target holds the same verdict.
    fn source_up(&self, out: &mut Vec<u8>, range: std::ops::Range<usize>) {
        type Verdict = fn(&TargetState) -> Option<bool>;
        const SOURCES: [(&str, Verdict); 4] = [
            ("alerts", |t| t.sources_up.alerts),
            ("exports", |t| t.sources_up.exports),
            ("restores", |t| t.sources_up.restores),
            ("schedule", |t| t.schedule_up),
        ];
        for project in self.project_starts(range) {
            let id = &self.at(project.start).target.project_id;
            for (source, verdict) in SOURCES {
                let mut up: Option<bool> = None;
                for position in project.clone() {
                    if let Some(u) = verdict(self.at(position)) {
                        up = Some(up.unwrap_or(true) && u);
                    }
                }
                if let Some(up) = up {
                    text::series(out, SourceUp, [id, source], f64::from(u8::from(up)));
                }
            }
        }
    }

    /// `atlas_alert_open` of each project that starts in `range`, from its first target (every
    /// target of a project shares the project's alerts), in label order. An alert on a cluster
    /// this replica does not watch is left out (another shard's, or not configured); one that
    /// names no cluster is written with `cluster_name=""`.
    fn alert_open(&self, out: &mut Vec<u8>, range: std::ops::Range<usize>) {
        for project in self.project_starts(range) {
            let first = self.at(project.start);
            let Some(alerts) = &first.alerts else {
                continue;
            };
            let watched = |name: &str| {
                project
                    .clone()
                    .any(|p| &*self.at(p).target.cluster_name == name)
            };
            for alert in &alerts.open {
                if alert.cluster_name.is_empty() || watched(&alert.cluster_name) {
                    text::series(
                        out,
                        AlertOpen,
                        [
                            &first.target.project_id,
                            &alert.cluster_name,
                            alert.event_type,
                        ],
                        1.0,
                    );
                }
            }
        }
    }
}

/// Lays out a scrape's parts: the state families and the registry's, merged by name.
fn parts(state: &ExporterState, inputs: &ScrapeInputs) -> Vec<Part> {
    enum Source<'a> {
        State(Family),
        Registry(&'a MetricFamily),
    }
    let mut names: Vec<(&str, Source)> = BY_NAME
        .iter()
        .map(|f| (f.spec().name, Source::State(*f)))
        .chain(
            inputs
                .registry
                .iter()
                .map(|mf| (mf.name(), Source::Registry(mf))),
        )
        .collect();
    names.sort_by_key(|(name, _)| *name);

    let mut parts: Vec<Part> = Vec::new();
    for (_, source) in names {
        match source {
            Source::State(family) if family.role() == Role::Cached => match parts.last_mut() {
                Some(Part::Cached(run)) => run.push(family),
                _ => parts.push(Part::Cached(vec![family])),
            },
            Source::State(family) if family.role() == Role::Age => parts.push(Part::Age),
            Source::State(family) => {
                let mut lines = Vec::new();
                live_lines(&mut lines, family, state, inputs);
                if !lines.is_empty() {
                    let out = text_part(&mut parts);
                    text::header(out, &family.spec());
                    out.extend_from_slice(&lines);
                }
            }
            Source::Registry(mf) => {
                let out = text_part(&mut parts);
                let mut encoded = String::new();
                // A gathered family always encodes: its name, help and type were validated
                // when registered.
                if prometheus::TextEncoder::new()
                    .encode_utf8(std::slice::from_ref(mf), &mut encoded)
                    .is_ok()
                {
                    out.extend_from_slice(encoded.as_bytes());
                }
            }
        }
    }
    parts
}

/// The text part at the end of `parts`, added when the last is another kind.
fn text_part(parts: &mut Vec<Part>) -> &mut Vec<u8> {
    if !matches!(parts.last(), Some(Part::Text(_))) {
        parts.push(Part::Text(Vec::new()));
    }
    match parts.last_mut() {
        Some(Part::Text(out)) => out,
        _ => unreachable!("a text part was just pushed"),
    }
}

/// The series of a family of the whole exporter.
fn live_lines(out: &mut Vec<u8>, family: Family, state: &ExporterState, inputs: &ScrapeInputs) {
    let flag = |b: bool| f64::from(u8::from(b));
    match family {
        Family::Unlabelled(which) => {
            let v = match which {
                Unlabelled::PollCycleDuration => state.last_cycle.map(|c| c.duration.as_secs_f64()),
                Unlabelled::LastPollCycleTimestamp => {
                    state.last_cycle.map(|c| unix_seconds(c.finished_at))
                }
                Unlabelled::ConfigLastReloadSuccessful => Some(flag(inputs.reload.successful)),
                Unlabelled::ConfigLastReloadSuccessTimestamp => {
                    Some(unix_seconds(inputs.reload.last_success))
                }
                Unlabelled::DiscoveryUp => state.discovery.map(|d| flag(d.up)),
                Unlabelled::DiscoveryLastSuccess => state
                    .discovery
                    .and_then(|d| d.last_success)
                    .map(unix_seconds),
            };
            if let Some(v) = v {
                text::series(out, which, [], v);
            }
        }
        Family::ApiSunset => {
            for (endpoint, sunset) in &inputs.sunsets {
                text::series(out, ApiSunset, [endpoint], unix_seconds(*sunset));
            }
        }
        Family::RateLimitRemaining => {
            for (project, endpoint, remaining) in &inputs.rate_limits {
                text::series(
                    out,
                    RateLimitRemaining,
                    [project, endpoint],
                    *remaining as f64,
                );
            }
        }
        Family::BuildInfo => text::series(
            out,
            BuildInfo,
            [
                build_info::VERSION,
                build_info::REVISION,
                build_info::RUSTC_VERSION,
            ],
            1.0,
        ),
        Family::ShardInfo => {
            let (index, count) = (
                state.shard.index().to_string(),
                state.shard.count().to_string(),
            );
            text::series(out, ShardInfo, [&index, &count], 1.0);
        }
        _ => {}
    }
}

/// Writes the whole scrape as plain text, chunk by chunk.
struct Plain {
    view: View,
    parts: Vec<Part>,
    /// The part being written.
    part: usize,
    /// The family of a cached run being written.
    family: usize,
    /// The next target, as a position in the sorted order.
    position: usize,
    /// Whether the current family's HELP and TYPE are out; written before its first series,
    /// so a family without series leaves no trace, as the prometheus crate's encoder does.
    header_done: bool,
}

/// Targets written between checks of the chunk's size.
const TARGETS_PER_STEP: usize = 64;

impl Plain {
    /// Writes `family` from the current position on until the chunk is full; true when the
    /// family is done.
    fn family(&mut self, out: &mut Vec<u8>, family: Family) -> bool {
        let len = self.view.order.sorted().len();
        while self.position < len {
            let end = (self.position + TARGETS_PER_STEP).min(len);
            let before = out.len();
            self.view.lines(out, family, self.position..end);
            if !self.header_done && out.len() > before {
                let mut header = Vec::new();
                text::header(&mut header, &family.spec());
                out.splice(before..before, header);
                self.header_done = true;
            }
            self.position = end;
            if out.len() >= CHUNK_BYTES {
                return self.position >= len;
            }
        }
        true
    }

    fn next_family(&mut self) {
        self.position = 0;
        self.header_done = false;
    }
}

impl Chunks for Plain {
    fn next_chunk(&mut self) -> Option<Bytes> {
        let mut out = Vec::with_capacity(CHUNK_BYTES + 16 * 1024);
        while out.len() < CHUNK_BYTES && self.part < self.parts.len() {
            match &self.parts[self.part] {
                Part::Text(t) => {
                    out.extend_from_slice(t);
                    self.part += 1;
                }
                Part::Age => {
                    let age = Family::PerCluster(PerCluster::LatestCompletedAge);
                    if self.family(&mut out, age) {
                        self.part += 1;
                        self.next_family();
                    }
                }
                Part::Cached(run) => {
                    let family = run[self.family];
                    let run_len = run.len();
                    if self.family(&mut out, family) {
                        self.next_family();
                        self.family += 1;
                        if self.family == run_len {
                            self.family = 0;
                            self.part += 1;
                        }
                    }
                }
            }
        }
        (!out.is_empty()).then(|| out.into())
    }
}

/// The scrape path: plain and compressed exposition of the published state.
pub struct Exposition {
    gzip: gzip::Cache,
    labels: LabelCache,
}

impl Default for Exposition {
    fn default() -> Self {
        Exposition::new()
    }
}

impl Exposition {
    /// A scrape path with an empty compression cache.
    pub fn new() -> Exposition {
        Exposition {
            gzip: gzip::Cache::default(),
            labels: LabelCache::default(),
        }
    }

    /// The plain exposition, written as the connection reads it.
    pub fn plain(&self, state: &ExporterState, inputs: &ScrapeInputs) -> Body {
        let parts = parts(state, inputs);
        Body::Streamed(Box::new(Plain {
            view: View::load(state, inputs.now, &self.labels),
            parts,
            part: 0,
            family: 0,
            position: 0,
            header_done: false,
        }))
    }

    /// The exposition as one gzip member. Compresses what changed since the last
    /// compressed scrape: call it off the async threads (it may take a while after a poll).
    pub fn gzip(&self, state: &ExporterState, inputs: &ScrapeInputs) -> std::io::Result<Body> {
        let parts = parts(state, inputs);
        self.gzip
            .scrape(state, &parts, inputs.now, &self.labels)
            .map(Body::Parts)
    }
}
