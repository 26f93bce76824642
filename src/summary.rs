//! What one listing says about a cluster's backups: the figures the metrics report.
//!
//! A [`ClusterSummary`] is computed once per successful poll and never changes; the metric
//! collector reads it at scrape time. [`SummaryFold`] computes it page by page as a listing
//! arrives, keeping only what the summary needs (counts, the newest and oldest, the FAILED ids)
//! and the ids seen, so a listing never has to sit in memory whole. The [`FailureLedger`] is the one piece of state that spans
//! polls: the distinct FAILED snapshot ids this process has seen.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;

use crate::atlas::client::{ListingPage, PageSink};
use crate::atlas::{BackupApi, Listing};
use crate::snapshot::{
    OrderKey, Snapshot, SnapshotRef, Status, normalize_borrowed_page, normalize_page,
};

/// The newest COMPLETED snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedSnapshot {
    /// Its id.
    pub id: String,
    /// When it finished (best effort: see [`Snapshot::finished_or_best_effort`]).
    pub finished: Option<Timestamp>,
    /// Finish minus start, where the API gives both.
    pub duration: Option<Duration>,
    /// Its stored size, where the API gives one.
    pub size_bytes: Option<u64>,
    /// How many regions it was copied to (dedicated replica-set snapshots' `copyRegions`);
    /// `None` for kinds without the field.
    pub copy_regions: Option<u32>,
}

/// The newest snapshot, whatever its status.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestSnapshot {
    /// Its id.
    pub id: String,
    /// Its status; `None` for a value this version does not know.
    pub status: Option<Status>,
    /// Atlas' own spelling of a status this version does not know; empty for a known one,
    /// which [`Status::as_str`] spells (one heap copy fewer per cluster).
    pub status_text: String,
}

impl LatestSnapshot {
    /// The status for display: one of the five, or Atlas' own spelling of one it does not know.
    pub fn status_label(&self) -> &str {
        match self.status {
            Some(status) => status.as_str(),
            None => &self.status_text,
        }
    }
}

/// One cluster's backups, as of one listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSummary {
    /// The API that listed them.
    pub api: BackupApi,
    /// Snapshots listed, by [`Status::index`].
    pub by_status: [u64; Status::COUNT],
    /// Snapshots listed with a status this version does not know.
    pub unknown_status: u64,
    /// The newest snapshot; `None` when the listing is empty.
    pub latest: Option<LatestSnapshot>,
    /// The newest COMPLETED snapshot; `None` when there is none.
    pub latest_completed: Option<CompletedSnapshot>,
    /// When the oldest COMPLETED snapshot still listed finished: the restore window.
    pub oldest_completed_finished: Option<Timestamp>,
    /// What the [`FailureLedger`] needs of this listing; the poller takes it once its ledger
    /// has it, so a published summary holds none (at 10,000 clusters with a few failures
    /// each, the FAILED ids were a fifth of the heap, and the inline key 96 bytes a cluster).
    pub failures: Option<Box<ListedFailures>>,
}

/// The FAILED snapshots of one listing, as the [`FailureLedger`] counts them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListedFailures {
    /// FAILED snapshots in the listing, with their ordering key, sorted by it.
    pub failed: Vec<(String, OrderKey)>,
    /// The oldest ordering key in the listing, which bounds what can still reappear.
    pub oldest_key: Option<OrderKey>,
}

impl ClusterSummary {
    /// Summarizes snapshots sorted oldest first (as [`crate::snapshot::normalize`] returns them).
    pub fn from_sorted(api: BackupApi, snapshots: &[Snapshot]) -> ClusterSummary {
        let mut fold = SummaryFold::new(api);
        for s in snapshots {
            fold.add(s);
        }
        fold.finish()
    }

    /// Snapshots listed with this status.
    pub fn count(&self, status: Status) -> u64 {
        self.by_status[status.index()]
    }

    /// Snapshots listed in all.
    pub fn total(&self) -> u64 {
        self.by_status.iter().sum::<u64>() + self.unknown_status
    }
}

/// The text a [`LatestSnapshot`] keeps of a status: only the spelling of an unknown one.
fn unknown_text(status: Option<Status>, text: &str) -> &str {
    if status.is_some() { "" } else { text }
}

/// A [`ClusterSummary`] in the making, fed one snapshot (or one listing page) at a time, in any
/// order. A snapshot listed twice counts once (the first time), as in
/// [`crate::snapshot::normalize`]; the result equals [`ClusterSummary::from_sorted`] of the
/// whole listing normalized.
///
/// Folding a snapshot copies no text unless it becomes a FAILED one or the newest or oldest
/// candidate so far, and a candidate replaced by another reuses its buffers; the ids seen are
/// kept as 12 bytes when they have Atlas' shape (24 lowercase hex digits).
#[derive(Debug)]
pub struct SummaryFold {
    api: BackupApi,
    ids: HashSet<SeenId>,
    position: usize,
    by_status: [u64; Status::COUNT],
    unknown_status: u64,
    newest: Option<(OrderKey, LatestSnapshot)>,
    newest_completed: Option<(OrderKey, CompletedSnapshot)>,
    oldest_dated_completed: Option<(OrderKey, String, Option<Timestamp>)>,
    oldest: Option<(OrderKey, String)>,
    failed: Vec<(String, OrderKey)>,
}

/// A snapshot id as the fold remembers it: Atlas' 24 lowercase hex digits as the 12 bytes they
/// spell, any other id as its text. Only lowercase digits are packed, so two different ids
/// never share a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum SeenId {
    Atlas([u8; 12]),
    Other(Box<str>),
}

impl SeenId {
    fn of(id: &str) -> SeenId {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let packed = (id.len() == 24)
            .then(|| {
                let mut bytes = [0_u8; 12];
                for (byte, pair) in bytes.iter_mut().zip(id.as_bytes().chunks_exact(2)) {
                    *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
                }
                Some(bytes)
            })
            .flatten();
        match packed {
            Some(bytes) => SeenId::Atlas(bytes),
            None => SeenId::Other(id.into()),
        }
    }
}

/// Sets `buffer` to `text`, reusing its allocation.
fn set(buffer: &mut String, text: &str) {
    buffer.clear();
    buffer.push_str(text);
}

impl SummaryFold {
    /// An empty fold for a listing from `api`.
    pub fn new(api: BackupApi) -> SummaryFold {
        SummaryFold {
            api,
            ids: HashSet::new(),
            position: 0,
            by_status: [0; Status::COUNT],
            unknown_status: 0,
            newest: None,
            newest_completed: None,
            oldest_dated_completed: None,
            oldest: None,
            failed: Vec::new(),
        }
    }

    /// Folds in one snapshot; one whose id was folded in before is ignored.
    pub fn add(&mut self, s: &Snapshot) {
        self.add_ref(&s.borrowed());
    }

    /// Folds in one snapshot read from a listing page; one whose id was folded in before is
    /// ignored.
    pub fn add_ref(&mut self, s: &SnapshotRef<'_>) {
        if !self.ids.insert(SeenId::of(s.id)) {
            return;
        }
        let key = s.sort_key();
        let newer = |best: Option<(&OrderKey, &str)>| best.is_none_or(|b| key > (*b.0, b.1));
        let older = |best: Option<(&OrderKey, &str)>| best.is_none_or(|b| key < (*b.0, b.1));
        match s.status {
            Some(st) => self.by_status[st.index()] += 1,
            None => self.unknown_status += 1,
        }
        if s.status == Some(Status::Failed) {
            self.failed.push((s.id.to_owned(), s.order));
        }
        if newer(self.newest.as_ref().map(|(k, l)| (k, l.id.as_str()))) {
            match &mut self.newest {
                Some((order, latest)) => {
                    *order = s.order;
                    set(&mut latest.id, s.id);
                    latest.status = s.status;
                    set(
                        &mut latest.status_text,
                        unknown_text(s.status, &s.status_text),
                    );
                }
                None => {
                    self.newest = Some((
                        s.order,
                        LatestSnapshot {
                            id: s.id.to_owned(),
                            status: s.status,
                            status_text: unknown_text(s.status, &s.status_text).to_owned(),
                        },
                    ));
                }
            }
        }
        if older(self.oldest.as_ref().map(|(k, id)| (k, id.as_str()))) {
            match &mut self.oldest {
                Some((order, id)) => {
                    *order = s.order;
                    set(id, s.id);
                }
                None => self.oldest = Some((s.order, s.id.to_owned())),
            }
        }
        if s.status != Some(Status::Completed) {
            return;
        }
        if newer(
            self.newest_completed
                .as_ref()
                .map(|(k, c)| (k, c.id.as_str())),
        ) {
            let mut id = self
                .newest_completed
                .take()
                .map(|(_, c)| c.id)
                .unwrap_or_default();
            set(&mut id, s.id);
            self.newest_completed = Some((
                s.order,
                CompletedSnapshot {
                    id,
                    finished: s.finished_or_best_effort(),
                    duration: s.duration,
                    size_bytes: s.size_bytes,
                    copy_regions: s.copy_regions,
                },
            ));
        }
        // An undated snapshot (a dedicated one without `createdAt`) says nothing about how far
        // back restores reach, so it never bounds the restore window.
        if !s.is_undated()
            && older(
                self.oldest_dated_completed
                    .as_ref()
                    .map(|(k, id, _)| (k, id.as_str())),
            )
        {
            let mut id = self
                .oldest_dated_completed
                .take()
                .map(|(_, id, _)| id)
                .unwrap_or_default();
            set(&mut id, s.id);
            self.oldest_dated_completed = Some((s.order, id, s.finished_or_best_effort()));
        }
    }

    /// The summary of everything folded in.
    pub fn finish(mut self) -> ClusterSummary {
        self.failed
            .sort_by(|a, b| (a.1, a.0.as_str()).cmp(&(b.1, b.0.as_str())));
        ClusterSummary {
            api: self.api,
            by_status: self.by_status,
            unknown_status: self.unknown_status,
            latest: self.newest.map(|(_, l)| l),
            latest_completed: self.newest_completed.map(|(_, c)| c),
            oldest_completed_finished: self.oldest_dated_completed.and_then(|(_, _, f)| f),
            failures: Some(Box::new(ListedFailures {
                failed: self.failed,
                oldest_key: self.oldest.map(|(k, _)| k),
            })),
        }
    }
}

impl PageSink for SummaryFold {
    fn page(&mut self, page: Listing) {
        self.ids.reserve(page.len());
        let mut position = self.position;
        normalize_page(&page, &mut position, |s| self.add_ref(&s));
        self.position = position;
    }

    /// Folds the page where it lies: nothing is copied but what the summary keeps.
    fn borrowed_page(&mut self, page: ListingPage<'_>) {
        self.ids.reserve(page.len());
        let mut position = self.position;
        normalize_borrowed_page(&page, &mut position, |s| self.add_ref(&s));
        self.position = position;
    }
}

/// Distinct FAILED snapshot ids seen by this process for one cluster.
///
/// Ids that have left the listing and are older than everything still listed can never come
/// back, so they are forgotten; the count keeps them. Memory stays bounded by the listing: the
/// ids are kept sorted in a slice of their exact length, each as 12 bytes when it has Atlas'
/// shape, with the part of its ordering key that the forgetting compares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureLedger {
    seen: Box<[(SeenId, LedgerKey)]>,
    total: u64,
}

/// The leading part of an [`OrderKey`] as one number: undated snapshots last, then its first
/// time in whole seconds, a snapshot without one first. The mapping never reverses the whole
/// key's order (where it ties, the whole key may go on either way), so an id kept by
/// comparing it is one the whole key would keep, and maybe more: never one forgotten that
/// could come back. 8 bytes, not 32: the ledgers hold every FAILED id still listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct LedgerKey(i64);

impl LedgerKey {
    fn of(key: &OrderKey) -> LedgerKey {
        LedgerKey(match (key.undated, key.primary) {
            (Some(_), _) => i64::MAX,
            (None, None) => i64::MIN,
            // Seconds cut toward zero: never out of order, and far inside either end (jiff's
            // times are years -9999 to 9999).
            (None, Some(t)) => t.as_second(),
        })
    }
}

impl FailureLedger {
    /// Counts the FAILED ids of a listing not seen before; returns the new total.
    pub fn record(&mut self, summary: &ListedFailures) -> u64 {
        let mut listed: Vec<(SeenId, LedgerKey)> = summary
            .failed
            .iter()
            .map(|(id, key)| (SeenId::of(id), LedgerKey::of(key)))
            .collect();
        listed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        listed.dedup_by(|a, b| a.0 == b.0);
        let known = |ids: &[(SeenId, LedgerKey)], id: &SeenId| {
            ids.binary_search_by(|(seen, _)| seen.cmp(id)).is_ok()
        };
        let new = listed
            .iter()
            .filter(|(id, _)| !known(&self.seen, id))
            .count();
        self.total += new as u64;
        let oldest = summary.oldest_key.as_ref().map(LedgerKey::of);
        let kept = self
            .seen
            .iter()
            .filter(|(id, key)| !known(&listed, id) && oldest.is_none_or(|oldest| *key >= oldest));
        let mut seen: Vec<(SeenId, LedgerKey)> = kept.cloned().collect();
        seen.extend(listed);
        seen.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.seen = seen.into_boxed_slice();
        self.total
    }

    /// Distinct FAILED ids counted so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether `id` is remembered.
    #[cfg(test)]
    fn remembers(&self, id: &str) -> bool {
        let id = SeenId::of(id);
        self.seen.iter().any(|(seen, _)| *seen == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::wire::{
        DedicatedSnapshot, DedicatedSnapshotRef, Page, TenantSnapshot, TenantSnapshotRef,
        decode_page_borrowed,
    };
    use crate::snapshot::normalize;

    fn flex(json: &str) -> Vec<Snapshot> {
        let page: Page<TenantSnapshot> = serde_json::from_str(json).unwrap();
        normalize(&Listing::Flex(page.results))
    }

    fn snap(id: &str, status: &str, day: u32) -> String {
        let times = if status == "PENDING" {
            format!(r#""scheduledTime":"2026-11-{day:02}T02:00:00Z""#)
        } else {
            format!(
                r#""scheduledTime":"2026-11-{day:02}T02:00:00Z","startTime":"2026-11-{day:02}T02:00:10Z","finishTime":"2026-11-{day:02}T02:05:10Z""#
            )
        };
        format!(r#"{{"id":"{id}","status":"{status}",{times}}}"#)
    }

    fn listing(items: &[String]) -> Vec<Snapshot> {
        flex(&format!(r#"{{"results":[{}]}}"#, items.join(",")))
    }

    #[test]
    fn the_newest_status_is_labelled_as_atlas_spelled_it_and_a_known_one_keeps_no_copy() {
        let known = ClusterSummary::from_sorted(
            BackupApi::Flex,
            &listing(&[snap("a", "COMPLETED", 10), snap("b", "FAILED", 11)]),
        );
        let latest = known.latest.unwrap();
        assert_eq!(
            (latest.status_label(), latest.status_text.capacity()),
            ("FAILED", 0)
        );
        let unknown = ClusterSummary::from_sorted(
            BackupApi::Flex,
            &listing(&[snap("a", "COMPLETED", 10), snap("b", "ARCHIVING", 11)]),
        );
        assert_eq!(unknown.latest.unwrap().status_label(), "ARCHIVING");
    }

    #[test]
    fn the_newest_completed_snapshot_is_found_wherever_it_is_listed() {
        let s = listing(&[
            snap("a", "COMPLETED", 10),
            snap("c", "COMPLETED", 12),
            snap("b", "FAILED", 11),
            snap("d", "PENDING", 13),
        ]);
        let sum = ClusterSummary::from_sorted(BackupApi::Flex, &s);
        let latest = sum.latest_completed.clone().unwrap();
        assert_eq!(latest.id, "c");
        assert_eq!(
            latest.finished,
            Some("2026-11-12T02:05:10Z".parse().unwrap())
        );
        assert_eq!(latest.duration, Some(Duration::from_secs(300)));
        assert_eq!(
            sum.oldest_completed_finished,
            Some("2026-11-10T02:05:10Z".parse().unwrap())
        );
        assert_eq!(sum.latest.as_ref().unwrap().status, Some(Status::Pending));
        assert_eq!(sum.count(Status::Completed), 2);
        assert_eq!(sum.count(Status::Failed), 1);
        assert_eq!(sum.count(Status::Running), 0);
    }

    #[test]
    fn an_empty_listing_has_no_latest_and_no_completed() {
        let sum = ClusterSummary::from_sorted(BackupApi::Flex, &[]);
        assert_eq!(sum.latest, None);
        assert_eq!(sum.latest_completed, None);
        assert_eq!(sum.oldest_completed_finished, None);
        assert_eq!(sum.total(), 0);
    }

    #[test]
    fn a_single_completed_snapshot_is_both_newest_and_oldest() {
        let sum =
            ClusterSummary::from_sorted(BackupApi::Flex, &listing(&[snap("a", "COMPLETED", 10)]));
        assert_eq!(
            sum.latest_completed.unwrap().finished,
            sum.oldest_completed_finished
        );
    }

    fn dedicated(json: &str) -> Vec<Snapshot> {
        let page: Page<DedicatedSnapshot> = serde_json::from_str(json).unwrap();
        normalize(&Listing::Dedicated(page.results))
    }

    #[test]
    fn the_newest_completed_snapshot_carries_its_distinct_copy_region_count() {
        let s = dedicated(
            r#"{"results":[
              {"id":"run","status":"inProgress","copyRegions":[]},
              {"id":"new","status":"completed","createdAt":"2026-11-22T06:01:12Z",
               "copyRegions":["EU_WEST_1","EU_WEST_1"]},
              {"id":"old","status":"completed","createdAt":"2026-11-21T06:01:12Z",
               "copyRegions":["EU_WEST_1","US_WEST_2"]}
            ]}"#,
        );
        let sum = ClusterSummary::from_sorted(BackupApi::Dedicated, &s);
        let completed = sum.latest_completed.unwrap();
        assert_eq!(completed.id, "new");
        assert_eq!(completed.copy_regions, Some(1));
    }

    #[test]
    fn kinds_without_copy_regions_have_none() {
        let sum =
            ClusterSummary::from_sorted(BackupApi::Flex, &listing(&[snap("a", "COMPLETED", 10)]));
        assert_eq!(sum.latest_completed.unwrap().copy_regions, None);
        let sharded = dedicated(
            r#"{"results":[{"id":"s","status":"completed","createdAt":"2026-11-22T06:01:12Z","type":"shardedCluster"}]}"#,
        );
        let sum = ClusterSummary::from_sorted(BackupApi::Dedicated, &sharded);
        assert_eq!(sum.latest_completed.unwrap().copy_regions, None);
    }

    #[test]
    fn a_running_or_queued_dedicated_snapshot_is_the_latest_and_never_the_oldest_completed() {
        for (wire, status) in [("inProgress", Status::Running), ("queued", Status::Queued)] {
            let s = dedicated(&format!(
                r#"{{"results":[
                  {{"id":"now","status":"{wire}","storageSizeBytes":0}},
                  {{"id":"b","status":"completed","createdAt":"2026-11-22T06:01:12Z"}},
                  {{"id":"a","status":"completed","createdAt":"2026-11-21T06:01:12Z"}}
                ]}}"#
            ));
            let sum = ClusterSummary::from_sorted(BackupApi::Dedicated, &s);
            let latest = sum.latest.clone().unwrap();
            assert_eq!(latest.id, "now");
            assert_eq!(latest.status, Some(status));
            assert_eq!(sum.latest_completed.unwrap().id, "b");
            assert_eq!(
                sum.oldest_completed_finished,
                Some("2026-11-21T06:01:12Z".parse().unwrap())
            );
        }
    }

    #[test]
    fn an_undated_completed_snapshot_never_bounds_the_restore_window() {
        let s = dedicated(
            r#"{"results":[
              {"id":"odd","status":"completed"},
              {"id":"a","status":"completed","createdAt":"2026-11-21T06:01:12Z"}
            ]}"#,
        );
        let sum = ClusterSummary::from_sorted(BackupApi::Dedicated, &s);
        assert_eq!(
            sum.oldest_completed_finished,
            Some("2026-11-21T06:01:12Z".parse().unwrap())
        );
        let alone = dedicated(r#"{"results":[{"id":"odd","status":"completed"}]}"#);
        let sum = ClusterSummary::from_sorted(BackupApi::Dedicated, &alone);
        assert_eq!(sum.oldest_completed_finished, None);
    }

    #[test]
    fn folding_page_by_page_gives_the_summary_of_the_whole_listing() {
        let json = r#"{"results":[
          {"id":"run","status":"inProgress"},
          {"id":"b","status":"completed","createdAt":"2026-11-22T06:01:12Z"},
          {"id":"f2","status":"failed","createdAt":"2026-11-20T06:01:12Z"},
          {"id":"odd","status":"completed"},
          {"id":"a","status":"completed","createdAt":"2026-11-21T06:01:12Z"},
          {"id":"b","status":"completed","createdAt":"2026-11-22T06:01:12Z"},
          {"id":"f1","status":"failed","createdAt":"2026-11-19T06:01:12Z"},
          {"id":"q","status":"queued"}
        ]}"#;
        let page: Page<DedicatedSnapshot> = serde_json::from_str(json).unwrap();
        let whole = ClusterSummary::from_sorted(
            BackupApi::Dedicated,
            &normalize(&Listing::Dedicated(page.results.clone())),
        );
        for size in 1..=page.results.len() {
            let mut fold = SummaryFold::new(BackupApi::Dedicated);
            for chunk in page.results.chunks(size) {
                fold.page(Listing::Dedicated(chunk.to_vec()));
            }
            assert_eq!(fold.finish(), whole, "pages of {size}");
        }
        assert_eq!(whole.total(), 7, "b is listed twice and counts once");
        assert_eq!(whole.latest.unwrap().id, "q");
    }

    #[test]
    fn a_page_folded_where_it_lies_gives_the_summary_of_the_page_copied() {
        let json = r#"{"results":[
          {"id":"run","status":"inProgress"},
          {"id":"b","status":"completed","createdAt":"2026-11-22T06:01:12Z","copyRegions":["X","Y","X"]},
          {"id":"f\u0032","status":"failed","createdAt":"2026-11-20T06:01:12Z"},
          {"id":"a","status":"compl\u0065ted","createdAt":"2026-11-21T06:01:12Z"},
          {"id":"b","status":"completed","createdAt":"2026-11-22T06:01:12Z"},
          {"id":"q","status":"queued"}
        ]}"#;
        let items = decode_page_borrowed::<DedicatedSnapshotRef<'_>>(json.as_bytes(), 100)
            .unwrap()
            .results;
        for size in 1..=items.len() {
            let mut copied = SummaryFold::new(BackupApi::Dedicated);
            let mut borrowed = SummaryFold::new(BackupApi::Dedicated);
            for chunk in items.chunks(size) {
                copied.page(ListingPage::Dedicated(chunk.to_vec()).into_owned());
                borrowed.borrowed_page(ListingPage::Dedicated(chunk.to_vec()));
            }
            assert_eq!(borrowed.finish(), copied.finish(), "pages of {size}");
        }
        let tenant = r#"{"results":[
          {"id":"t1","status":"COMPLETED","scheduledTime":"2026-11-21T02:00:00Z","finishTime":"2026-11-21T02:04:00Z"},
          {"id":"t2","status":"FAILED","scheduledTime":"2026-11-22T02:00:00Z"}
        ]}"#;
        let items = decode_page_borrowed::<TenantSnapshotRef<'_>>(tenant.as_bytes(), 100)
            .unwrap()
            .results;
        let mut copied = SummaryFold::new(BackupApi::Flex);
        copied.page(ListingPage::Flex(items.clone()).into_owned());
        let mut borrowed = SummaryFold::new(BackupApi::Flex);
        borrowed.borrowed_page(ListingPage::Flex(items));
        assert_eq!(borrowed.finish(), copied.finish());
    }

    #[test]
    fn ids_are_remembered_compactly_and_never_confused() {
        let atlas = "673e000000030000000001f3";
        assert!(matches!(SeenId::of(atlas), SeenId::Atlas(_)));
        let others = [
            "673E000000030000000001F3",
            "673e000000030000000001f",
            "673e000000030000000001f30",
            "673e000000030000000001g3",
            "",
        ];
        for other in others {
            assert!(matches!(SeenId::of(other), SeenId::Other(_)), "{other:?}");
            assert_ne!(SeenId::of(other), SeenId::of(atlas), "{other:?}");
        }
        assert_ne!(
            SeenId::of("000000000000000000000001"),
            SeenId::of("000000000000000000000010")
        );
        let s = listing(&[
            snap("673e000000030000000001f3", "FAILED", 10),
            snap("673E000000030000000001F3", "FAILED", 10),
            snap("673e000000030000000001f3", "FAILED", 10),
        ]);
        let mut fold = SummaryFold::new(BackupApi::Flex);
        for snapshot in &s {
            fold.add(snapshot);
        }
        assert_eq!(fold.finish().count(Status::Failed), 2);
    }

    #[test]
    fn a_published_summary_stays_small_inline() {
        // One per cluster; the ledger's part is boxed and taken before publication.
        let size = std::mem::size_of::<ClusterSummary>();
        assert!(size <= 232, "ClusterSummary is {size} bytes");
    }

    /// Forgetting compares ledger keys in place of whole keys: they must never disagree in
    /// order, over undated keys, missing times, sub-second, negative and far times.
    #[test]
    fn ledger_keys_never_reverse_the_order_of_whole_keys() {
        let times: Vec<Option<Timestamp>> = [
            None,
            Some("-009999-01-03T00:00:00Z"),
            Some("1969-12-31T23:59:59.5Z"),
            Some("1970-01-01T00:00:00Z"),
            Some("1970-01-01T00:00:00.4Z"),
            Some("2026-12-01T10:00:00Z"),
            Some("2026-12-01T10:00:00.999Z"),
            Some("2026-12-01T10:00:01Z"),
            Some("9999-12-30T00:00:00Z"),
        ]
        .iter()
        .map(|t| t.map(|t| t.parse().unwrap()))
        .collect();
        let mut keys = Vec::new();
        for undated in [None, Some(0), Some(7)] {
            for primary in &times {
                for start in [None, times[5]] {
                    keys.push(OrderKey {
                        undated,
                        primary: *primary,
                        start,
                        ..OrderKey::default()
                    });
                }
            }
        }
        for a in &keys {
            for b in &keys {
                if a <= b {
                    assert!(LedgerKey::of(a) <= LedgerKey::of(b), "{a:?} <= {b:?}");
                }
            }
        }
    }

    /// What a listing's summary gives the ledger.
    fn failures(summary: &ClusterSummary) -> &ListedFailures {
        summary.failures.as_deref().unwrap()
    }

    #[test]
    fn failures_count_distinct_ids_across_polls() {
        let mut ledger = FailureLedger::default();
        let first = ClusterSummary::from_sorted(
            BackupApi::Flex,
            &listing(&[snap("a", "FAILED", 10), snap("b", "COMPLETED", 11)]),
        );
        assert_eq!(ledger.record(failures(&first)), 1);
        assert_eq!(
            ledger.record(failures(&first)),
            1,
            "the same failure seen again counts once"
        );
        let second = ClusterSummary::from_sorted(
            BackupApi::Flex,
            &listing(&[
                snap("a", "FAILED", 10),
                snap("b", "COMPLETED", 11),
                snap("c", "FAILED", 12),
            ]),
        );
        assert_eq!(ledger.record(failures(&second)), 2);
    }

    #[test]
    fn expired_failures_are_forgotten_but_stay_counted() {
        let mut ledger = FailureLedger::default();
        ledger.record(failures(&ClusterSummary::from_sorted(
            BackupApi::Flex,
            &listing(&[snap("a", "FAILED", 10), snap("b", "COMPLETED", 11)]),
        )));
        // "a" expired out of the listing: everything listed is newer.
        let later = ClusterSummary::from_sorted(
            BackupApi::Flex,
            &listing(&[snap("b", "COMPLETED", 11), snap("c", "FAILED", 12)]),
        );
        assert_eq!(ledger.record(failures(&later)), 2);
        assert_eq!(ledger.seen.len(), 1);
        assert!(ledger.remembers("c"));
    }
}
