//! The compressed exposition: one gzip member (RFC 1952) whose deflate stream (RFC 1951) is
//! made of segments compressed independently, as pigz does: each segment starts with an empty
//! dictionary and ends with a sync flush (an empty stored block, byte-aligned, not final), so
//! segments can be joined in any order, and the member's CRC-32 is combined from theirs.
//! Every gzip reader takes it as the single member it is.
//!
//! The per-cluster families are kept as one segment per family and chunk of targets and
//! recompressed only for chunks that published since; the ages, one segment per chunk, also
//! when their second has passed; the exporter's own families (small) at every scrape. After a
//! refresh each family's segments are copied into one buffer and re-pointed at their places in
//! it, so a member is a few dozen large parts that the connection sends as they are, not
//! thousands of small ones to copy together at every scrape, and the cache holds no copy of
//! them beside the buffers.
//!
//! The per-cluster part is compressed at most once a second while a cycle publishes: the
//! first gzip scrape of a second compresses what changed, and every other gzip scrape of that
//! second sends the same part, so a poll publishing hundreds of targets a second costs one
//! compression a second, not one per scrape. A new state (a cycle's end, a config applied)
//! is compressed at once. A scrape that comes while another compresses the same state sends
//! that state's part of an earlier second instead of waiting. So the per-cluster part of a
//! gzip scrape may miss the targets published in the last second of a cycle under way (plus
//! the time one compression takes), never those of a finished cycle.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use flate2::{Compress, Compression, FlushCompress};
use hyper::body::Bytes;
use jiff::Timestamp;

use crate::state::{ExporterState, Order};

use super::families::{Family, PerCluster};
use super::{CACHED, LabelCache, Part, View, text};

/// The one family compressed at scrape time, chunk by chunk.
const AGE: Family = Family::PerCluster(PerCluster::LatestCompletedAge);

/// The gzip member header: magic, deflate, no flags, no time, fastest, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];

/// The deflate stream's last block: final, stored, empty.
const LAST_BLOCK: [u8; 5] = [1, 0, 0, 0xff, 0xff];

/// Deflate data that joins any other: its own dictionary, byte-aligned, not final; with the
/// CRC-32 and length of the text it holds.
#[derive(Clone, Default)]
struct Segment {
    deflate: Bytes,
    crc: u32,
    len: u64,
}

/// A deflate compressor at the fastest level, reset for each segment: a new one allocates
/// and clears about 300 KB of state, and a scrape after a poll compresses hundreds of segments.
struct Compressor(Compress);

impl Default for Compressor {
    fn default() -> Self {
        Compressor(Compress::new(Compression::fast(), false))
    }
}

impl Compressor {
    /// `data` compressed: text metrics shrink about twentyfold.
    fn segment(&mut self, data: &[u8]) -> std::io::Result<Segment> {
        if data.is_empty() {
            return Ok(Segment::default());
        }
        let compress = &mut self.0;
        compress.reset();
        let mut out = Vec::with_capacity(data.len() / 8 + 64);
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            let consumed = compress.total_in() as usize;
            compress
                .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
                .map_err(std::io::Error::other)?;
            // Done when every byte is in and the flush left room unused in the output.
            if compress.total_in() as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        // Kept until its chunk changes: only the bytes it holds, not the room it was given.
        out.shrink_to_fit();
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        Ok(Segment {
            deflate: out.into(),
            crc: crc.finalize(),
            len: data.len() as u64,
        })
    }
}

impl Segment {
    /// `data` compressed on its own compressor, for tests.
    #[cfg(test)]
    fn of(data: &[u8]) -> std::io::Result<Segment> {
        Compressor::default().segment(data)
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Segments joined: their deflate data in order and the CRC-32 of the text they hold.
#[derive(Clone, Default)]
struct Joined {
    parts: Vec<Bytes>,
    crc: Option<crc32fast::Hasher>,
}

impl Joined {
    fn push(&mut self, segment: &Segment) {
        if segment.is_empty() {
            return;
        }
        self.parts.push(segment.deflate.clone());
        let next = crc32fast::Hasher::new_with_initial_len(segment.crc, segment.len);
        match &mut self.crc {
            Some(crc) => crc.combine(&next),
            None => self.crc = Some(next),
        }
    }

    /// Everything `other` holds, after what this one holds.
    fn append(&mut self, other: Joined) {
        self.parts.extend(other.parts);
        match (&mut self.crc, other.crc) {
            (Some(crc), Some(next)) => crc.combine(&next),
            (None, next) => self.crc = next,
            (Some(_), None) => {}
        }
    }

    /// One segment of everything pushed, copied together.
    #[cfg(test)]
    fn into_segment(self) -> Segment {
        let deflate: Vec<u8> = self.parts.concat();
        let (crc, len) = self
            .crc
            .map_or((0, 0), |c| (c.clone().finalize(), c.total_len()));
        Segment {
            deflate: deflate.into(),
            crc,
            len,
        }
    }

    /// The whole gzip member: header, the segments, the last block and the trailer.
    fn into_member(self) -> VecDeque<Bytes> {
        let (crc, len) = self
            .crc
            .map_or((0, 0), |c| (c.clone().finalize(), c.total_len()));
        let mut trailer = Vec::with_capacity(LAST_BLOCK.len() + 8);
        trailer.extend_from_slice(&LAST_BLOCK);
        trailer.extend_from_slice(&crc.to_le_bytes());
        // ISIZE is the length modulo 2^32.
        trailer.extend_from_slice(&(len as u32).to_le_bytes());
        let mut out = VecDeque::new();
        out.push_back(Bytes::from_static(&HEADER));
        // The cache's own segments, shared: the body copies small ones together as it sends
        // them, so concurrent scrapes do not each hold a copy of the member.
        out.extend(self.parts);
        out.push_back(trailer.into());
        out
    }
}

/// `header` and `segments` joined into one buffer, each segment then re-pointed at its place
/// in it: the family is one part to send, and the segments hold no memory of their own.
/// Nothing (no header either) when every segment is empty.
fn compact(header: &Segment, segments: &mut [Segment]) -> Joined {
    let mut joined = Joined::default();
    if segments.iter().all(Segment::is_empty) {
        return joined;
    }
    let total = segments.iter().map(|s| s.deflate.len()).sum::<usize>();
    let mut buffer = Vec::with_capacity(header.deflate.len() + total);
    joined.push(header);
    buffer.extend_from_slice(&header.deflate);
    let mut spans = Vec::with_capacity(segments.len());
    for segment in segments.iter() {
        joined.push(segment);
        let start = buffer.len();
        buffer.extend_from_slice(&segment.deflate);
        spans.push(start..buffer.len());
    }
    let buffer = Bytes::from(buffer);
    for (segment, span) in segments.iter_mut().zip(spans) {
        segment.deflate = buffer.slice(span);
    }
    joined.parts = vec![buffer];
    joined
}

/// The segments kept between scrapes.
#[derive(Default)]
pub(super) struct Cache {
    /// The segments, refreshed by one scrape at a time.
    inner: Mutex<Segments>,
    /// The per-cluster part of the newest member: what the gzip scrapes of its second send.
    latest: Mutex<Option<Arc<Compressed>>>,
    /// Compressors for the scrapes' own families, kept between scrapes.
    spare: Spares,
}

/// Compressors kept for the next scrapes: a new one allocates and clears about 300 KB, which
/// was most of what a gzip scrape allocated. At most one per core is kept, as many as compress
/// at once (the scrape path lets one gzip scrape per core compress).
struct Spares {
    kept: Mutex<Vec<Compressor>>,
    most: usize,
}

impl Default for Spares {
    fn default() -> Self {
        Spares {
            kept: Mutex::new(Vec::new()),
            most: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

impl Spares {
    fn take(&self) -> Compressor {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.pop().unwrap_or_default()
    }

    fn give_back(&self, compressor: Compressor) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < self.most {
            kept.push(compressor);
        }
    }
}

/// The per-cluster part of a member, joined from the segments at one moment.
struct Compressed {
    /// The order the segments were written in.
    order: Arc<Order>,
    /// The Unix second the ages count to, and the first scrape of which compressed it.
    second: i64,
    /// The [`ExporterState::generation`] it was compressed from.
    generation: u64,
    /// Per cached family (by index in [`CACHED`]): its header and lines; empty when none.
    families: Vec<Joined>,
    /// The age family: its header and lines.
    ages: Joined,
}

impl Compressed {
    /// A run of cached families, in order.
    fn run(&self, run: &[Family]) -> Joined {
        let mut joined = Joined::default();
        for family in run {
            if let Some(index) = CACHED.iter().position(|f| f == family) {
                joined.append(self.families[index].clone());
            }
        }
        joined
    }

    /// Whether it is what a scrape of `state` in `second` sends.
    fn shows(&self, state: &ExporterState, second: i64) -> bool {
        Arc::ptr_eq(&self.order, state.order())
            && self.generation == state.generation()
            && self.second == second
    }
}

#[derive(Default)]
struct Segments {
    /// Compresses every cached segment, under the cache's lock.
    compressor: Compressor,
    /// The order the segments were written in; another one (a new target list) starts afresh.
    order: Option<Arc<Order>>,
    /// Per chunk, the publication count its segments show; `None` before the first.
    seen: Vec<Option<u64>>,
    /// Per cached family (by index in [`CACHED`]) and chunk: its lines; empty when none.
    lines: Vec<Vec<Segment>>,
    /// Per cached family: its HELP and TYPE lines.
    headers: Vec<Segment>,
    /// Per cached family: its header and lines in one part, the buffer its segments point into.
    families: Vec<Joined>,
    /// Per chunk, its lines of the age family.
    ages: Vec<Segment>,
    /// Per chunk, the second its ages count to and the chunk's publication count they show:
    /// scrapes in the same second send the same ages, and a publication makes only its own
    /// chunk's ages stale. `None` before the first.
    ages_shown: Vec<Option<(i64, u64)>>,
    /// The age family's HELP and TYPE lines.
    ages_header: Segment,
    /// The age family: its header and lines in one part, the buffer the segments point into.
    ages_joined: Joined,
}

impl Segments {
    fn reset(&mut self, order: &Arc<Order>) -> std::io::Result<()> {
        let chunks = order.chunks().len();
        self.order = Some(Arc::clone(order));
        self.seen = vec![None; chunks];
        self.lines = vec![vec![Segment::default(); chunks]; CACHED.len()];
        self.families = vec![Joined::default(); CACHED.len()];
        self.ages = vec![Segment::default(); chunks];
        self.ages_shown = vec![None; chunks];
        self.ages_joined = Joined::default();
        if self.ages_header.is_empty() {
            let mut h = Vec::new();
            text::header(&mut h, &AGE.spec());
            self.ages_header = self.compressor.segment(&h)?;
        }
        if self.headers.is_empty() {
            let compressor = &mut self.compressor;
            self.headers = CACHED
                .iter()
                .map(|f| {
                    let mut h = Vec::new();
                    text::header(&mut h, &f.spec());
                    compressor.segment(&h)
                })
                .collect::<std::io::Result<_>>()?;
        }
        Ok(())
    }

    /// Recompresses the chunks that published since they were compressed, and joins each
    /// family again when any did.
    fn refresh(&mut self, view: &View, counts: &[u64]) -> std::io::Result<()> {
        let mut plain = Vec::new();
        let mut changed = false;
        for (chunk, range) in view.order.chunks().iter().enumerate() {
            if self.seen[chunk] == Some(counts[chunk]) {
                continue;
            }
            for (index, family) in CACHED.iter().enumerate() {
                plain.clear();
                view.lines(&mut plain, *family, range.clone());
                self.lines[index][chunk] = self.compressor.segment(&plain)?;
            }
            self.seen[chunk] = Some(counts[chunk]);
            changed = true;
        }
        if changed {
            for (index, lines) in self.lines.iter_mut().enumerate() {
                self.families[index] = compact(&self.headers[index], lines);
            }
        }
        Ok(())
    }

    /// The age family of `view`: each chunk's lines compressed once per second and
    /// publication in it, joined after the family's header.
    fn ages(&mut self, view: &View, counts: &[u64]) -> std::io::Result<Joined> {
        let second = view.now as i64;
        let mut plain = Vec::new();
        let mut changed = false;
        for (chunk, range) in view.order.chunks().iter().enumerate() {
            let key = Some((second, counts[chunk]));
            if self.ages_shown[chunk] == key {
                continue;
            }
            plain.clear();
            view.lines(&mut plain, AGE, range.clone());
            self.ages[chunk] = self.compressor.segment(&plain)?;
            self.ages_shown[chunk] = key;
            changed = true;
        }
        if changed {
            self.ages_joined = compact(&self.ages_header, &mut self.ages);
        }
        Ok(self.ages_joined.clone())
    }
}

impl Cache {
    /// The gzip member of one scrape, in parts to send one after another.
    pub(super) fn scrape(
        &self,
        state: &ExporterState,
        parts: &[Part],
        now: Timestamp,
        labels: &LabelCache,
    ) -> std::io::Result<VecDeque<Bytes>> {
        let compressed = self.compressed(state, now, labels)?;
        // The scrape's own text is compressed outside the locks, on a compressor of its own.
        let mut compressor = self.spare.take();
        let mut member = Joined::default();
        for part in parts {
            match part {
                Part::Cached(run) => member.append(compressed.run(run)),
                Part::Age => member.append(compressed.ages.clone()),
                Part::Text(t) => member.push(&compressor.segment(t)?),
            }
        }
        self.spare.give_back(compressor);
        Ok(member.into_member())
    }

    /// The per-cluster part for a scrape at `now`: this second's, compressed by this scrape
    /// when it is the second's first; the one before when another scrape is compressing.
    fn compressed(
        &self,
        state: &ExporterState,
        now: Timestamp,
        labels: &LabelCache,
    ) -> std::io::Result<Arc<Compressed>> {
        let order = state.order();
        let second = View::second(now);
        if let Some(c) = self.latest().filter(|c| c.shows(state, second)) {
            return Ok(c);
        }
        let mut segments = match self.inner.try_lock() {
            Ok(segments) => segments,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => match self.stand_in(state) {
                Some(c) => return Ok(c),
                None => self.inner.lock().unwrap_or_else(PoisonError::into_inner),
            },
        };
        // Another scrape may have compressed this second while this one waited.
        if let Some(c) = self.latest().filter(|c| c.shows(state, second)) {
            return Ok(c);
        }
        if !segments
            .order
            .as_ref()
            .is_some_and(|o| Arc::ptr_eq(o, order))
        {
            segments.reset(order)?;
        }
        // Counts first, cells second: the cells show at least what the counts count.
        let counts: Vec<u64> = (0..order.chunks().len())
            .map(|c| order.changes(c))
            .collect();
        let view = View::load(state, now, labels);
        segments.refresh(&view, &counts)?;
        let compressed = Arc::new(Compressed {
            order: Arc::clone(order),
            second,
            generation: state.generation(),
            families: segments.families.clone(),
            ages: segments.ages(&view, &counts)?,
        });
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&compressed));
        Ok(compressed)
    }

    /// What a scrape of `state` that finds another compressing sends instead of waiting: the
    /// part of the same state, of an earlier second. None for a new state (a cycle's end, a
    /// config applied): that one is waited for, so that no answer misses a finished cycle.
    fn stand_in(&self, state: &ExporterState) -> Option<Arc<Compressed>> {
        self.latest()
            .filter(|c| Arc::ptr_eq(&c.order, state.order()) && c.generation == state.generation())
    }

    fn latest(&self) -> Option<Arc<Compressed>> {
        self.latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn gunzip(parts: VecDeque<Bytes>) -> Vec<u8> {
        let body: Vec<u8> = parts.into_iter().flatten().collect();
        let mut out = Vec::new();
        // A single-member decoder: it fails on anything after the first member's trailer.
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        let mut rest = Vec::new();
        let mut decoder = flate2::read::GzDecoder::new(&body[..]);
        decoder.read_to_end(&mut rest).unwrap();
        assert_eq!(decoder.into_inner().len(), 0, "bytes after the member");
        out
    }

    #[test]
    fn independently_compressed_segments_join_into_one_member() {
        let texts: [&[u8]; 4] = [b"first\n", b"", b"second line\n", &[b'x'; 70_000]];
        let mut joined = Joined::default();
        let mut inner = Joined::default();
        for t in &texts[..2] {
            inner.push(&Segment::of(t).unwrap());
        }
        joined.push(&inner.into_segment());
        // One compressor for several segments: each starts afresh, as if it had its own.
        let mut compressor = Compressor::default();
        for t in &texts[2..] {
            joined.push(&compressor.segment(t).unwrap());
        }
        assert_eq!(gunzip(joined.into_member()), texts.concat());
    }

    /// One flex target whose newest COMPLETED snapshot finished at `finished`.
    fn target_finished_at(finished: Timestamp) -> crate::state::TargetState {
        target_in("5f3c9e2a1b4d6e7f80912a01", finished)
    }

    /// One flex target of project `project_id`, its newest COMPLETED snapshot finished at
    /// `finished`.
    fn target_in(project_id: &str, finished: Timestamp) -> crate::state::TargetState {
        use crate::atlas::BackupApi;
        use crate::summary::{ClusterSummary, CompletedSnapshot};
        let mut t = crate::state::TargetState::new(crate::target::Target {
            project_id: project_id.into(),
            project_name: None,
            cluster_name: "Cluster0".into(),
            cluster_id: None,
            kind: crate::target::Kind::Flex,
        });
        t.backups = Some(crate::state::Backups {
            summary: Arc::new(ClusterSummary {
                api: BackupApi::Flex,
                by_status: [0; crate::snapshot::Status::COUNT],
                unknown_status: 0,
                latest: None,
                latest_completed: Some(CompletedSnapshot {
                    id: "a".into(),
                    finished: Some(finished),
                    duration: None,
                    size_bytes: None,
                    copy_regions: None,
                }),
                oldest_completed_finished: Some(finished),
                failures: None,
            }),
            failures_total: 0,
        });
        t
    }

    fn age_lines(body: super::super::Body) -> Vec<String> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body.into_bytes()[..])
            .read_to_string(&mut text)
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with("atlas_snapshot_latest_completed_age_seconds{"))
            .map(str::to_owned)
            .collect()
    }

    /// The age lines of a scrape's plain and gzip answers.
    type AgeLines = (Vec<String>, Vec<String>);

    /// A scrape's inputs at `t0` plus `after_ms` milliseconds, with nothing but the state.
    fn inputs_at(t0: Timestamp, after_ms: i64) -> super::super::ScrapeInputs {
        super::super::ScrapeInputs {
            now: t0 + jiff::SignedDuration::from_millis(after_ms),
            reload: crate::state::ReloadStatus {
                successful: true,
                last_success: t0,
            },
            sunsets: Vec::new(),
            rate_limits: Vec::new(),
            registry: Vec::new(),
        }
    }

    /// A scrape of a state at `t0` plus some milliseconds, by one exposition.
    fn scraper(t0: Timestamp) -> impl Fn(&ExporterState, i64) -> AgeLines {
        let exposition = super::super::Exposition::new();
        move |state: &ExporterState, after_ms: i64| {
            let inputs = inputs_at(t0, after_ms);
            let plain = String::from_utf8(exposition.plain(state, &inputs).into_bytes()).unwrap();
            let gzip = age_lines(exposition.gzip(state, &inputs).unwrap());
            let plain: Vec<String> = plain
                .lines()
                .filter(|l| l.starts_with("atlas_snapshot_latest_completed_age_seconds{"))
                .map(str::to_owned)
                .collect();
            (plain, gzip)
        }
    }

    fn age_line(age: u32) -> Vec<String> {
        vec![format!(
            "atlas_snapshot_latest_completed_age_seconds{{project_id=\"5f3c9e2a1b4d6e7f80912a01\",cluster_name=\"Cluster0\"}} {age}"
        )]
    }

    /// Ages are counted to the scrape's whole second: scrapes within a second send the same
    /// ages (compressed once), and the next second shows at once.
    #[test]
    fn ages_are_whole_seconds_and_new_with_each_second() {
        let t0: Timestamp = "2026-11-30T00:00:00Z".parse().unwrap();
        let (state, scrape) = (
            ExporterState::new(vec![target_finished_at(t0)]),
            scraper(t0),
        );
        for (after_ms, age) in [(100_200, 100), (100_999, 100), (101_000, 101)] {
            let both = (age_line(age), age_line(age));
            assert_eq!(scrape(&state, after_ms), both, "at +{after_ms} ms");
        }
    }

    /// A publication shows in plain at once, and in gzip from the next second on or with the
    /// next state (a cycle's end): a gzip scrape sends what the second's first gzip scrape
    /// compressed of the same state.
    #[test]
    fn a_publication_shows_in_gzip_from_the_next_second() {
        let t0: Timestamp = "2026-11-30T00:00:00Z".parse().unwrap();
        let (state, scrape) = (
            ExporterState::new(vec![target_finished_at(t0)]),
            scraper(t0),
        );
        assert_eq!(scrape(&state, 101_000), (age_line(101), age_line(101)));
        state.publish_target(
            0,
            Arc::new(target_finished_at(t0 + jiff::SignedDuration::from_secs(50))),
        );
        assert_eq!(
            scrape(&state, 101_500),
            (age_line(51), age_line(101)),
            "plain at once; gzip the second's first compression"
        );
        assert_eq!(scrape(&state, 102_000), (age_line(52), age_line(52)));
        state.publish_target(
            0,
            Arc::new(target_finished_at(t0 + jiff::SignedDuration::from_secs(60))),
        );
        let cycle_finished = state.with_cycle(None, true);
        assert_eq!(
            scrape(&cycle_finished, 102_500),
            (age_line(42), age_line(42)),
            "a new state shows at once"
        );
    }

    /// While one scrape compresses, another of the same state sends the part compressed
    /// before rather than wait: compression queues no scrape behind it but the first of a new
    /// state.
    #[test]
    fn a_scrape_while_another_compresses_sends_the_part_before() {
        let t0: Timestamp = "2026-11-30T00:00:00Z".parse().unwrap();
        let state = ExporterState::new(vec![target_finished_at(t0)]);
        let exposition = super::super::Exposition::new();
        let gzip = |after_s: i64| {
            age_lines(
                exposition
                    .gzip(&state, &inputs_at(t0, after_s * 1000))
                    .unwrap(),
            )
        };
        assert_eq!(gzip(100), age_line(100));
        // Another scrape holds the segments, compressing.
        let busy = exposition.gzip.inner.lock().unwrap();
        assert_eq!(gzip(107), age_line(100), "the part before, not a wait");
        // A new state is waited for, not stood in for.
        let cycle_finished = state.with_cycle(None, true);
        assert!(exposition.gzip.stand_in(&cycle_finished).is_none());
        assert!(exposition.gzip.stand_in(&state).is_some());
        drop(busy);
        assert_eq!(gzip(107), age_line(107));
    }

    /// The text of a body, gunzipped when `gzip`.
    fn text_of(body: super::super::Body, gzip: bool) -> String {
        let bytes = body.into_bytes();
        if !gzip {
            return String::from_utf8(bytes).unwrap();
        }
        String::from_utf8(gunzip(VecDeque::from([Bytes::from(bytes)]))).unwrap()
    }

    /// However many chunks the targets make, a member is one part per family (not one per
    /// family and chunk, which the connection would have to copy together at every scrape),
    /// the cache's segments point into those parts instead of holding a copy beside them, and
    /// a chunk that publishes again is joined in its place.
    #[test]
    fn a_member_is_one_part_per_family_whatever_the_chunks() {
        let t0: Timestamp = "2026-11-30T00:00:00Z".parse().unwrap();
        let projects = |n: usize| -> Vec<crate::state::TargetState> {
            (0..n)
                .map(|i| target_in(&format!("{i:024x}"), t0))
                .collect()
        };
        let member_parts =
            |state: &ExporterState, exposition: &super::super::Exposition| match exposition
                .gzip(state, &inputs_at(t0, 100_000))
                .unwrap()
            {
                super::super::Body::Parts(parts) => parts.len(),
                _ => unreachable!("a member is parts"),
            };
        let one = ExporterState::new(projects(1));
        let many = ExporterState::new(projects(600));
        assert!(
            many.order().chunks().len() >= 4,
            "the test needs several chunks"
        );
        let exposition = super::super::Exposition::new();
        assert_eq!(
            member_parts(&many, &exposition),
            member_parts(&one, &super::super::Exposition::new())
        );

        let segments = exposition.gzip.inner.lock().unwrap();
        for (lines, family) in segments.lines.iter().zip(&segments.families) {
            for segment in lines.iter().filter(|s| !s.is_empty()) {
                let buffer = family.parts[0].as_ptr_range();
                assert!(
                    buffer.contains(&segment.deflate.as_ptr()),
                    "a segment holds a copy of its own"
                );
            }
        }
        drop(segments);

        // One target in the third chunk publishes; the next second's member shows it.
        let order = many.order();
        let third = order.sorted()[order.chunks()[2].start] as usize;
        let later = t0 + jiff::SignedDuration::from_secs(30);
        many.publish_target(third, Arc::new(target_in(&format!("{third:024x}"), later)));
        let inputs = inputs_at(t0, 101_000);
        let gzip = text_of(exposition.gzip(&many, &inputs).unwrap(), true);
        assert_eq!(gzip, text_of(exposition.plain(&many, &inputs), false));
        let new_ages = gzip
            .lines()
            .filter(|l| l.starts_with("atlas_snapshot_latest_completed_age_seconds{"))
            .filter(|l| l.ends_with("} 71"));
        assert_eq!(new_ages.count(), 1, "the new age, once");
    }

    /// A scrape's compressor is kept for the next one (allocating one is most of what a gzip
    /// scrape allocated), and no more are kept than compress at once.
    #[test]
    fn scrapes_reuse_their_compressors_and_keep_at_most_one_per_core() {
        let t0: Timestamp = "2026-11-30T00:00:00Z".parse().unwrap();
        let state = ExporterState::new(vec![target_finished_at(t0)]);
        let exposition = super::super::Exposition::new();
        let kept = || exposition.gzip.spare.kept.lock().unwrap().len();
        for after_s in [100, 100, 101] {
            let inputs = inputs_at(t0, after_s * 1000);
            let gzip = text_of(exposition.gzip(&state, &inputs).unwrap(), true);
            assert_eq!(gzip, text_of(exposition.plain(&state, &inputs), false));
            assert_eq!(kept(), 1);
        }
        let spare = &exposition.gzip.spare;
        for _ in 0..spare.most + 3 {
            spare.give_back(Compressor::default());
        }
        assert_eq!(kept(), spare.most);
    }

    #[test]
    fn an_empty_member_is_still_valid_gzip() {
        assert!(gunzip(Joined::default().into_member()).is_empty());
    }
}
