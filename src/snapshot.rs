//! Snapshots in one shape, whatever endpoint listed them.
//!
//! Each API names its times and statuses its own way; this module maps them onto five statuses
//! and one ordering key, as the contract defines: tenant and flex snapshots order by scheduled,
//! then start, then finish time; dedicated ones by `createdAt`; legacy ones by `created.date`
//! (then its increment). The snapshot id breaks remaining ties, so the order never depends on
//! the position in the listing, with one exception: Atlas gives a dedicated snapshot no
//! `createdAt` until it finishes, so one without it is newer than every dated snapshot, and
//! several such keep the order the listing gave them.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

use crate::atlas::client::ListingPage;
use crate::atlas::wire::{DedicatedSnapshot, LegacySnapshot, TenantSnapshot};
use crate::atlas::{Listing, OneSnapshot};

/// The five snapshot statuses the metrics report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Scheduled, not started.
    Pending,
    /// Waiting for resources.
    Queued,
    /// Being taken.
    Running,
    /// Failed.
    Failed,
    /// Complete and restorable.
    Completed,
}

impl Status {
    /// The five, in label order.
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Queued,
        Status::Running,
        Status::Failed,
        Status::Completed,
    ];

    /// How many statuses there are: the length of per-status arrays.
    pub const COUNT: usize = Status::ALL.len();

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Queued => "QUEUED",
            Status::Running => "RUNNING",
            Status::Failed => "FAILED",
            Status::Completed => "COMPLETED",
        }
    }

    /// Index into per-status arrays: the position in [`Status::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A tenant or flex status; `None` for a value this version does not know.
    pub fn from_tenant(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A dedicated Cloud Backup status (`queued`, `inProgress`, `completed`, `failed`).
    pub fn from_dedicated(s: &str) -> Option<Status> {
        match s {
            "queued" => Some(Status::Queued),
            "inProgress" => Some(Status::Running),
            "completed" => Some(Status::Completed),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What orders snapshots from oldest to newest. Missing times sort before present ones, except
/// for an undated dedicated snapshot, which `undated` places after every dated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct OrderKey {
    /// `None` for a dated snapshot; for a dedicated snapshot without `createdAt` (one that has
    /// not finished), its position in the listing, so such snapshots are the newest and keep
    /// the listing's order among themselves.
    pub undated: Option<usize>,
    /// Scheduled time (tenant, flex) or the only time (dedicated, legacy).
    pub primary: Option<Timestamp>,
    /// Start time (tenant, flex).
    pub start: Option<Timestamp>,
    /// Finish time (tenant, flex).
    pub finish: Option<Timestamp>,
    /// The BSON increment of a legacy `created` time.
    pub increment: i64,
}

/// One snapshot, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The snapshot id.
    pub id: String,
    /// One of the five statuses, or `None` for a value this version does not know.
    pub status: Option<Status>,
    /// The status as Atlas spelled it, for display.
    pub status_text: String,
    /// The ordering key.
    pub order: OrderKey,
    /// When it started, where the API says (dedicated and legacy: their one time).
    pub started: Option<Timestamp>,
    /// When it finished, where the API says (dedicated and legacy: their one time).
    pub finished: Option<Timestamp>,
    /// Finish minus start, for the APIs that give both.
    pub duration: Option<Duration>,
    /// Stored size (dedicated; legacy: the sum of its parts).
    pub size_bytes: Option<u64>,
    /// Distinct regions the snapshot was copied to (dedicated replica-set `copyRegions`);
    /// `None` where the API has no such field.
    pub copy_regions: Option<u32>,
}

impl Snapshot {
    /// The status for display: one of the five, or Atlas' own spelling of one it does not know.
    pub fn status_label(&self) -> &str {
        match self.status {
            Some(status) => status.as_str(),
            None => &self.status_text,
        }
    }

    /// Sort key: the order key, then the id.
    pub fn sort_key(&self) -> (OrderKey, &str) {
        self.borrowed().sort_key()
    }

    /// True for a dedicated snapshot Atlas has not dated yet (no `createdAt`): it is newer than
    /// every dated one, and it can never bound the restore window.
    pub fn is_undated(&self) -> bool {
        self.borrowed().is_undated()
    }

    /// The best "when did this snapshot finish" the API offers: the finish time, else the start
    /// time, else the scheduled time.
    pub fn finished_or_best_effort(&self) -> Option<Timestamp> {
        self.borrowed().finished_or_best_effort()
    }

    /// The same snapshot, borrowing its texts.
    pub fn borrowed(&self) -> SnapshotRef<'_> {
        SnapshotRef {
            id: &self.id,
            status: self.status,
            status_text: Cow::Borrowed(&self.status_text),
            order: self.order,
            started: self.started,
            finished: self.finished,
            duration: self.duration,
            size_bytes: self.size_bytes,
            copy_regions: self.copy_regions,
        }
    }
}

/// One snapshot, normalized, borrowing its texts from the listing item it came from: what
/// [`normalize_page`] hands out, so that folding a page into a summary copies only the texts
/// the summary keeps. [`SnapshotRef::into_owned`] gives the [`Snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRef<'a> {
    /// The snapshot id.
    pub id: &'a str,
    /// One of the five statuses, or `None` for a value this version does not know.
    pub status: Option<Status>,
    /// The status as Atlas spelled it, bounded for display (borrowed unless it had to be cut).
    pub status_text: Cow<'a, str>,
    /// The ordering key.
    pub order: OrderKey,
    /// When it started, where the API says (dedicated and legacy: their one time).
    pub started: Option<Timestamp>,
    /// When it finished, where the API says (dedicated and legacy: their one time).
    pub finished: Option<Timestamp>,
    /// Finish minus start, for the APIs that give both.
    pub duration: Option<Duration>,
    /// Stored size (dedicated; legacy: the sum of its parts).
    pub size_bytes: Option<u64>,
    /// Distinct regions the snapshot was copied to; `None` where the API has no such field.
    pub copy_regions: Option<u32>,
}

impl<'a> SnapshotRef<'a> {
    /// Sort key: the order key, then the id.
    pub fn sort_key(&self) -> (OrderKey, &'a str) {
        (self.order, self.id)
    }

    /// True for a dedicated snapshot Atlas has not dated yet: see [`Snapshot::is_undated`].
    pub fn is_undated(&self) -> bool {
        self.order.undated.is_some()
    }

    /// The finish time, else the start time, else the scheduled time.
    pub fn finished_or_best_effort(&self) -> Option<Timestamp> {
        self.finished.or(self.started).or(self.order.primary)
    }

    /// The snapshot with its texts copied.
    pub fn into_owned(self) -> Snapshot {
        Snapshot {
            id: self.id.to_owned(),
            status: self.status,
            status_text: self.status_text.into_owned(),
            order: self.order,
            started: self.started,
            finished: self.finished,
            duration: self.duration,
            size_bytes: self.size_bytes,
            copy_regions: self.copy_regions,
        }
    }

    fn from_tenant<S: AsRef<str>>(s: &'a TenantSnapshot<S>) -> SnapshotRef<'a> {
        let status_text = status_text(s.status.as_ref().map(AsRef::as_ref));
        let duration = match (s.start_time, s.finish_time) {
            (Some(start), Some(finish)) if finish >= start => {
                Duration::try_from(finish.duration_since(start)).ok()
            }
            _ => None,
        };
        SnapshotRef {
            id: s.id.as_ref(),
            status: Status::from_tenant(&status_text),
            status_text,
            order: OrderKey {
                primary: s.scheduled_time,
                start: s.start_time,
                finish: s.finish_time,
                ..OrderKey::default()
            },
            started: s.start_time,
            finished: s.finish_time,
            duration,
            size_bytes: None,
            copy_regions: None,
        }
    }

    /// `position` is the snapshot's place in its listing: it orders undated snapshots.
    fn from_dedicated<S: AsRef<str>>(
        s: &'a DedicatedSnapshot<S>,
        position: usize,
    ) -> SnapshotRef<'a> {
        let status_text = status_text(s.status.as_ref().map(AsRef::as_ref));
        SnapshotRef {
            id: s.id.as_ref(),
            status: Status::from_dedicated(&status_text),
            status_text,
            order: OrderKey {
                undated: s.created_at.is_none().then_some(position),
                primary: s.created_at,
                ..OrderKey::default()
            },
            started: s.created_at,
            finished: s.created_at,
            duration: None,
            size_bytes: s.storage_size_bytes,
            copy_regions: s.copy_regions.as_deref().map(distinct_count),
        }
    }

    fn from_legacy(s: &'a LegacySnapshot) -> SnapshotRef<'a> {
        let (status, status_text) = match s.complete {
            Some(true) => (Some(Status::Completed), "complete"),
            Some(false) => (Some(Status::Running), "incomplete"),
            None => (None, ""),
        };
        let created = s.created.as_ref().map(|c| c.date);
        let mut sizes = s
            .parts
            .iter()
            .filter_map(|p| p.storage_size_bytes)
            .peekable();
        let size_bytes = sizes.peek().is_some().then(|| sizes.sum());
        SnapshotRef {
            id: &s.id,
            status,
            status_text: Cow::Borrowed(status_text),
            order: OrderKey {
                primary: created,
                increment: s.created.as_ref().and_then(|c| c.increment).unwrap_or(0),
                ..OrderKey::default()
            },
            started: created,
            finished: created,
            duration: None,
            size_bytes,
            copy_regions: None,
        }
    }
}

/// How many distinct names a list holds.
fn distinct_count<S: AsRef<str>>(names: &[S]) -> u32 {
    // Copy-region lists are a handful of names: comparing them pairwise needs no set.
    let distinct = if names.len() <= 16 {
        names
            .iter()
            .enumerate()
            .filter(|&(i, name)| !names[..i].iter().any(|n| n.as_ref() == name.as_ref()))
            .count()
    } else {
        names
            .iter()
            .map(AsRef::as_ref)
            .collect::<HashSet<&str>>()
            .len()
    };
    u32::try_from(distinct).unwrap_or(u32::MAX)
}

/// Every snapshot of a listing, normalized, oldest first. A snapshot listed twice (a listing
/// that shifted between two pages) counts once.
pub fn normalize(listing: &Listing) -> Vec<Snapshot> {
    let mut out = Vec::with_capacity(listing.len());
    normalize_page(listing, &mut 0, |s| out.push(s.into_owned()));
    let mut seen = HashSet::with_capacity(out.len());
    out.retain(|s| seen.insert(s.id.clone()));
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out
}

/// Each snapshot of one listing page, normalized, in page order, with duplicates kept.
/// `position` is the number of snapshots of the listing handed over before this page; it
/// advances past the page. [`normalize`] is this over a whole listing, then deduplicated and
/// sorted; [`crate::summary::SummaryFold`] folds it page by page.
pub fn normalize_page<'a>(
    page: &'a Listing,
    position: &mut usize,
    each: impl FnMut(SnapshotRef<'a>),
) {
    match page {
        Listing::Tenant(v) | Listing::Flex(v) => tenant_page(v, position, each),
        Listing::Dedicated(v) => dedicated_page(v, position, each),
        Listing::Legacy(v) => {
            v.iter().map(SnapshotRef::from_legacy).for_each(each);
            *position += v.len();
        }
    }
}

/// [`normalize_page`] of a page still borrowing from its response body: the same snapshots.
pub fn normalize_borrowed_page<'a>(
    page: &'a ListingPage<'_>,
    position: &mut usize,
    each: impl FnMut(SnapshotRef<'a>),
) {
    match page {
        ListingPage::Tenant(v) | ListingPage::Flex(v) => tenant_page(v, position, each),
        ListingPage::Dedicated(v) => dedicated_page(v, position, each),
    }
}

fn tenant_page<'a, S: AsRef<str>>(
    page: &'a [TenantSnapshot<S>],
    position: &mut usize,
    each: impl FnMut(SnapshotRef<'a>),
) {
    page.iter().map(SnapshotRef::from_tenant).for_each(each);
    *position += page.len();
}

fn dedicated_page<'a, S: AsRef<str>>(
    page: &'a [DedicatedSnapshot<S>],
    position: &mut usize,
    mut each: impl FnMut(SnapshotRef<'a>),
) {
    for s in page {
        each(SnapshotRef::from_dedicated(s, *position));
        *position += 1;
    }
}

/// One snapshot from a get-one endpoint, normalized.
pub fn normalize_one(one: &OneSnapshot) -> Snapshot {
    match one {
        OneSnapshot::Tenant(s) | OneSnapshot::Flex(s) => SnapshotRef::from_tenant(s),
        OneSnapshot::Dedicated(s) => SnapshotRef::from_dedicated(s, 0),
        OneSnapshot::Legacy(s) => SnapshotRef::from_legacy(s),
    }
    .into_owned()
}

/// A status as the listing wrote it, bounded like every text taken from an answer: an unknown
/// status is shown on the landing page and in `snapshots list`.
fn status_text(status: Option<&str>) -> Cow<'_, str> {
    let status = status.unwrap_or_default();
    // `bounded` changes only a text that is too long or holds control characters.
    let fits = status.chars().count() <= MAX_STATUS_CHARS && !status.chars().any(char::is_control);
    if fits {
        Cow::Borrowed(status)
    } else {
        Cow::Owned(crate::atlas::bounded(status, MAX_STATUS_CHARS))
    }
}

/// Atlas' statuses are short words (`inProgress`, `COMPLETED`); anything longer is cut.
const MAX_STATUS_CHARS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::wire::Page;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn every_status_indexes_its_own_place_in_all() {
        for (i, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(status.index(), i, "{status}");
        }
    }

    #[test]
    fn dedicated_statuses_map_to_the_five() {
        assert_eq!(Status::from_dedicated("queued"), Some(Status::Queued));
        assert_eq!(Status::from_dedicated("inProgress"), Some(Status::Running));
        assert_eq!(Status::from_dedicated("completed"), Some(Status::Completed));
        assert_eq!(Status::from_dedicated("failed"), Some(Status::Failed));
        assert_eq!(Status::from_dedicated("COMPLETED"), None);
    }

    #[test]
    fn listings_are_ordered_by_time_not_by_position() {
        let page: Page<TenantSnapshot> = serde_json::from_str(
            r#"{"results":[
              {"id":"b","status":"COMPLETED","scheduledTime":"2026-11-20T02:00:00Z","startTime":"2026-11-20T02:00:05Z","finishTime":"2026-11-20T02:03:00Z"},
              {"id":"c","status":"PENDING","scheduledTime":"2026-11-22T02:00:00Z"},
              {"id":"a","status":"FAILED","scheduledTime":"2026-11-21T02:00:00Z","startTime":"2026-11-21T02:00:05Z"}
            ]}"#,
        )
        .unwrap();
        let ids: Vec<_> = normalize(&Listing::Flex(page.results))
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["b", "a", "c"]);
    }

    #[test]
    fn same_scheduled_time_is_decided_by_start_then_finish() {
        let page: Page<TenantSnapshot> = serde_json::from_str(
            r#"{"results":[
              {"id":"late","status":"COMPLETED","scheduledTime":"2026-11-20T02:00:00Z","startTime":"2026-11-20T02:10:00Z","finishTime":"2026-11-20T02:12:00Z"},
              {"id":"early","status":"COMPLETED","scheduledTime":"2026-11-20T02:00:00Z","startTime":"2026-11-20T02:00:00Z","finishTime":"2026-11-20T02:30:00Z"}
            ]}"#,
        )
        .unwrap();
        let v = normalize(&Listing::Tenant(page.results));
        assert_eq!(v[1].id, "late");
        assert_eq!(v[0].duration, Some(Duration::from_secs(30 * 60)));
    }

    #[test]
    fn a_snapshot_listed_twice_counts_once() {
        let page: Page<TenantSnapshot> = serde_json::from_str(
            r#"{"results":[{"id":"a","status":"FAILED"},{"id":"a","status":"FAILED"}]}"#,
        )
        .unwrap();
        assert_eq!(normalize(&Listing::Flex(page.results)).len(), 1);
    }

    #[test]
    fn dedicated_snapshots_use_created_at_for_start_and_finish_and_have_no_duration() {
        let page: Page<DedicatedSnapshot> = serde_json::from_str(include_str!(
            "../tests/testdata/atlas/replicaset_snapshots_page.json"
        ))
        .unwrap();
        let v = normalize(&Listing::Dedicated(page.results));
        assert_eq!(v[0].status, Some(Status::Completed));
        assert_eq!(v[0].finished, Some(ts("2026-11-21T06:01:12Z")));
        assert_eq!(v[0].started, v[0].finished);
        assert_eq!(v[0].duration, None);
        assert_eq!(v[0].size_bytes, Some(1_234_567_890));
        assert_eq!(v[1].status, Some(Status::Running));
    }

    fn dedicated(json: &str) -> Vec<Snapshot> {
        let page: Page<DedicatedSnapshot> = serde_json::from_str(json).unwrap();
        normalize(&Listing::Dedicated(page.results))
    }

    #[test]
    fn a_dedicated_snapshot_without_created_at_is_the_newest_wherever_it_is_listed() {
        for json in [
            r#"{"results":[
              {"id":"run","status":"inProgress","storageSizeBytes":0,"frequencyType":"ondemand","snapshotType":"onDemand"},
              {"id":"new","status":"completed","createdAt":"2026-11-22T06:01:12Z"},
              {"id":"old","status":"completed","createdAt":"2026-11-21T06:01:12Z"}
            ]}"#,
            r#"{"results":[
              {"id":"old","status":"completed","createdAt":"2026-11-21T06:01:12Z"},
              {"id":"new","status":"completed","createdAt":"2026-11-22T06:01:12Z"},
              {"id":"run","status":"inProgress","storageSizeBytes":0,"frequencyType":"ondemand","snapshotType":"onDemand"}
            ]}"#,
        ] {
            let v = dedicated(json);
            let ids: Vec<&str> = v.iter().map(|s| s.id.as_str()).collect();
            assert_eq!(ids, ["old", "new", "run"]);
            assert_eq!(v[2].status, Some(Status::Running));
            assert!(v[2].is_undated());
            assert_eq!(v[2].finished_or_best_effort(), None);
            assert_eq!(v[2].size_bytes, Some(0));
        }
    }

    #[test]
    fn undated_dedicated_snapshots_keep_the_listing_order_among_themselves() {
        let v = dedicated(
            r#"{"results":[
              {"id":"b","status":"queued"},
              {"id":"x","status":"completed","createdAt":"2026-11-22T06:01:12Z"},
              {"id":"a","status":"inProgress"}
            ]}"#,
        );
        let ids: Vec<&str> = v.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["x", "b", "a"], "not by id: by the listing");
        assert_eq!(v[1].status, Some(Status::Queued));
    }

    #[test]
    fn a_legacy_snapshot_size_is_the_sum_of_its_parts() {
        let page: Page<LegacySnapshot> = serde_json::from_str(
            r#"{"results":[{"id":"x","complete":true,"created":{"date":"2017-12-26T16:32:16Z","increment":1},
              "parts":[{"storageSizeBytes":100},{"storageSizeBytes":23},{"typeName":"CONFIG_SERVER_REPLICA_SET"}]},
              {"id":"y","complete":false,"created":{"date":"2017-12-26T16:32:16Z","increment":2}}]}"#,
        )
        .unwrap();
        let v = normalize(&Listing::Legacy(page.results));
        assert_eq!(v[0].id, "x");
        assert_eq!(v[0].size_bytes, Some(123));
        assert_eq!(v[0].status, Some(Status::Completed));
        assert_eq!(
            v[1].id, "y",
            "a higher increment at the same second is newer"
        );
        assert_eq!(v[1].status, Some(Status::Running));
        assert_eq!(v[1].size_bytes, None);
    }

    #[test]
    fn an_unknown_status_is_kept_as_text() {
        let page: Page<TenantSnapshot> =
            serde_json::from_str(r#"{"results":[{"id":"a","status":"ARCHIVED"}]}"#).unwrap();
        let v = normalize(&Listing::Flex(page.results));
        assert_eq!(v[0].status, None);
        assert_eq!(v[0].status_text, "ARCHIVED");
    }

    #[test]
    fn an_unknown_status_of_any_length_is_kept_short() {
        let long = "X".repeat(1 << 20);
        let body = format!(r#"{{"results":[{{"id":"a","status":"{long}"}}]}}"#);
        let page: Page<TenantSnapshot> = serde_json::from_str(&body).unwrap();
        let v = normalize(&Listing::Flex(page.results));
        assert_eq!(v[0].status, None);
        assert!(v[0].status_text.chars().count() <= MAX_STATUS_CHARS + 1);
        assert!(v[0].status_text.starts_with("XXXX"));
    }
}
