//! Response bodies as Atlas sends them, field for field.
//!
//! Unknown fields are ignored and statuses are kept as strings, so a new field or a new status
//! value in Atlas never breaks a poll; [`crate::snapshot`] decides what a status means.
//!
//! Listing pages are read by [`decode_page`], one item at a time: an item that cannot be read
//! (a bad date, no id) is left out and counted by [`SkipReason`] instead of failing the
//! listing, unknown fields are skipped without being stored, and the number of items one
//! page may hold is capped, so decoding a page takes memory in proportion to what it keeps.
//! Tenant, flex and dedicated snapshots can also be read by [`decode_page_borrowed`], their
//! texts borrowed from the body ([`TenantSnapshotRef`], [`DedicatedSnapshotRef`]) under the same
//! rules: the owned items are the borrowed ones with their texts copied.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::endpoint::ITEMS_PER_PAGE;

/// One page of a listing: `Paginated*View` in the spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items on this page. Not marked required for tenant listings, so absent means empty.
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
    /// `self`, `previous` and `next` relations.
    #[serde(default)]
    pub links: Vec<Link>,
    /// An estimate of the number of items in all pages; absent with `includeCount=false`.
    #[serde(default)]
    pub total_count: Option<u64>,
}

impl<T> Page<T> {
    /// True when the page links to a next page.
    pub fn has_next(&self) -> bool {
        self.links.iter().any(|l| l.rel == "next")
    }
}

/// A web link relation.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Link {
    /// The target URL.
    #[serde(default)]
    pub href: String,
    /// The relation: `self`, `next`, `previous`.
    #[serde(default)]
    pub rel: String,
}

/// A shared-tier snapshot (`BackupTenantSnapshot`). Flex snapshots
/// (`FlexBackupSnapshot20241113`) have exactly the same shape: see [`FlexSnapshot`].
///
/// `S` is how its texts are held: `String` (the default) owns them; [`TenantSnapshotRef`]
/// borrows them from the page it was read from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantSnapshot<S = String> {
    /// 24 hex digits.
    pub id: S,
    /// `PENDING`, `QUEUED`, `RUNNING`, `FAILED`, `COMPLETED`, or a value added later.
    #[serde(default)]
    pub status: Option<S>,
    /// When Atlas will take, or was to take, the snapshot.
    #[serde(default)]
    pub scheduled_time: Option<Timestamp>,
    /// When Atlas began taking it.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    /// When Atlas finished writing it.
    #[serde(default)]
    pub finish_time: Option<Timestamp>,
    /// When the download link stops working.
    #[serde(default)]
    pub expiration: Option<Timestamp>,
    /// The MongoDB version the snapshot was taken from.
    #[serde(default, rename = "mongoDBVersion")]
    pub mongodb_version: Option<S>,
}

/// A flex snapshot: the same shape as a tenant snapshot.
pub type FlexSnapshot<S = String> = TenantSnapshot<S>;

/// A tenant or flex snapshot borrowing its texts from the page it was read from (copied only
/// where the JSON string held an escape): what the poll path folds without copying.
pub type TenantSnapshotRef<'a> = TenantSnapshot<Cow<'a, str>>;

impl TenantSnapshotRef<'_> {
    /// The snapshot with its texts copied.
    pub fn into_owned(self) -> TenantSnapshot {
        TenantSnapshot {
            id: self.id.into_owned(),
            status: self.status.map(Cow::into_owned),
            scheduled_time: self.scheduled_time,
            start_time: self.start_time,
            finish_time: self.finish_time,
            expiration: self.expiration,
            mongodb_version: self.mongodb_version.map(Cow::into_owned),
        }
    }
}

/// A dedicated-cluster Cloud Backup snapshot (`DiskBackupReplicaSet`, and the common fields of
/// `DiskBackupShardedClusterSnapshot`).
///
/// `S` is how its texts are held: `String` (the default) owns them; [`DedicatedSnapshotRef`]
/// borrows them from the page it was read from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DedicatedSnapshot<S = String> {
    /// 24 hex digits.
    pub id: S,
    /// `queued`, `inProgress`, `completed`, `failed`, or a value added later.
    #[serde(default)]
    pub status: Option<S>,
    /// When Atlas took the snapshot.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// When Atlas deletes it.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Bytes taken to store the backup.
    #[serde(default)]
    pub storage_size_bytes: Option<u64>,
    /// `scheduled`, `onDemand`, `fallback`.
    #[serde(default)]
    pub snapshot_type: Option<S>,
    /// `hourly`, `daily`, `weekly`, `monthly`, `yearly`.
    #[serde(default)]
    pub frequency_type: Option<S>,
    /// `replicaSet` or `shardedCluster`.
    #[serde(default, rename = "type")]
    pub snapshot_kind: Option<S>,
    /// The MongoDB version the snapshot was taken from.
    #[serde(default)]
    pub mongod_version: Option<S>,
    /// The regions Atlas copied the snapshot to (`copyRegions`, replica-set snapshots only:
    /// `DiskBackupShardedClusterSnapshot` has no such field); `None` when not sent.
    #[serde(default)]
    pub copy_regions: Option<Vec<S>>,
}

/// A dedicated snapshot borrowing its texts from the page it was read from (copied only where
/// the JSON string held an escape): what the poll path folds without copying.
pub type DedicatedSnapshotRef<'a> = DedicatedSnapshot<Cow<'a, str>>;

impl DedicatedSnapshotRef<'_> {
    /// The snapshot with its texts copied.
    pub fn into_owned(self) -> DedicatedSnapshot {
        DedicatedSnapshot {
            id: self.id.into_owned(),
            status: self.status.map(Cow::into_owned),
            created_at: self.created_at,
            expires_at: self.expires_at,
            storage_size_bytes: self.storage_size_bytes,
            snapshot_type: self.snapshot_type.map(Cow::into_owned),
            frequency_type: self.frequency_type.map(Cow::into_owned),
            snapshot_kind: self.snapshot_kind.map(Cow::into_owned),
            mongod_version: self.mongod_version.map(Cow::into_owned),
            copy_regions: self
                .copy_regions
                .map(|regions| regions.into_iter().map(Cow::into_owned).collect()),
        }
    }
}

/// A Legacy Backup snapshot (`BackupSnapshot`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LegacySnapshot {
    /// The snapshot id.
    pub id: String,
    /// False while Atlas is still creating the snapshot.
    #[serde(default)]
    pub complete: Option<bool>,
    /// When the snapshot was taken.
    #[serde(default)]
    pub created: Option<BsonTimestamp>,
    /// When Atlas deletes it; absent with `doNotDelete`.
    #[serde(default)]
    pub expires: Option<Timestamp>,
    /// True when the snapshot is kept indefinitely.
    #[serde(default)]
    pub do_not_delete: Option<bool>,
    /// The replica sets and config servers that make up the snapshot.
    #[serde(default)]
    pub parts: Vec<LegacySnapshotPart>,
}

/// One part of a legacy snapshot.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LegacySnapshotPart {
    /// Space allocated for document storage, in bytes.
    #[serde(default)]
    pub storage_size_bytes: Option<u64>,
    /// `REPLICA_SET`, `CONFIG_SERVER_REPLICA_SET`, ...
    #[serde(default)]
    pub type_name: Option<String>,
    /// The replica set name.
    #[serde(default)]
    pub replica_set_name: Option<String>,
}

/// A BSON timestamp as the API renders it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BsonTimestamp {
    /// The wall-clock time.
    pub date: Timestamp,
    /// The ordinal within that second.
    #[serde(default)]
    pub increment: Option<i64>,
}

/// Why a listing item was left out: the `reason` label of `skipped_items_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// A time field that is not an RFC 3339 date.
    BadDate,
    /// No `id`, or a null one.
    MissingId,
    /// Anything else: not an object, or a field of the wrong type.
    BadItem,
}

impl SkipReason {
    /// Every reason, in label order.
    pub const ALL: [SkipReason; 3] = [
        SkipReason::BadDate,
        SkipReason::MissingId,
        SkipReason::BadItem,
    ];

    /// How many reasons there are: the length of per-reason arrays.
    pub const COUNT: usize = SkipReason::ALL.len();

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::BadDate => "bad_date",
            SkipReason::MissingId => "missing_id",
            SkipReason::BadItem => "bad_item",
        }
    }

    /// Index into per-reason arrays: the position in [`SkipReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An item of a listing, read leniently: first into a [`ListItem::Raw`] shape that accepts any
/// JSON value in each known field, then checked field by field.
pub trait ListItem: Sized {
    /// The lenient shape, which may borrow texts from the input (`'de`) until they are checked.
    type Raw<'de>: Deserialize<'de>;
    /// The checked item, or why it is left out.
    fn from_raw(raw: Self::Raw<'_>) -> Result<Self, SkipReason>;
    /// The item's id.
    fn id(&self) -> &str;
}

/// A listing item that borrows its texts from the page it was read from (`'de`), read by
/// [`decode_page_borrowed`] under the same rules as the owned [`ListItem`] it stands for: the
/// owned item is this one with its texts copied.
pub trait PageItem<'de>: Sized {
    /// The lenient shape.
    type Raw: Deserialize<'de>;
    /// The checked item, or why it is left out.
    fn from_raw(raw: Self::Raw) -> Result<Self, SkipReason>;
    /// The item's id.
    fn id(&self) -> &str;
}

/// One page of a listing as [`decode_page`] read it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedPage<T> {
    /// The items that could be read, in page order.
    pub results: Vec<T>,
    /// Items left out, by [`SkipReason::index`].
    pub skipped: [u64; SkipReason::COUNT],
    /// The page links to a next page.
    pub has_next: bool,
    /// The `pageNum` of the first `next` link, when its URL carries one.
    pub next_page_num: Option<u64>,
    /// The page has any links at all.
    pub has_links: bool,
    /// `totalCount`, when sent.
    pub total_count: Option<u64>,
}

impl<T> DecodedPage<T> {
    /// Items on the page, read or left out.
    pub fn listed(&self) -> usize {
        self.results.len() + self.skipped.iter().sum::<u64>() as usize
    }
}

/// Why a page could not be read.
#[derive(Debug)]
pub enum PageError {
    /// The page holds more than the items it was allowed.
    TooManyItems,
    /// The page is not a JSON object of the expected shape.
    Json(serde_json::Error),
}

/// Reads a listing page holding at most `max_items` items (read or left out).
pub fn decode_page<T: ListItem>(
    body: &[u8],
    max_items: usize,
) -> Result<DecodedPage<T>, PageError> {
    decode_with(body, max_items, T::from_raw)
}

/// [`decode_page`] for items that borrow their texts from `body`.
pub fn decode_page_borrowed<'de, T: PageItem<'de>>(
    body: &'de [u8],
    max_items: usize,
) -> Result<DecodedPage<T>, PageError> {
    decode_with(body, max_items, T::from_raw)
}

/// The smallest a listing item of any kind realistically is in bytes (an id and a status):
/// with the page size the client asks for, it bounds the room reserved for a page's items.
const SMALLEST_ITEM_BYTES: usize = 64;

/// Reads a page whose items are read as `R` and checked by `check`.
fn decode_with<'de, R: Deserialize<'de>, T>(
    body: &'de [u8],
    max_items: usize,
    check: fn(R) -> Result<T, SkipReason>,
) -> Result<DecodedPage<T>, PageError> {
    let overflow = Cell::new(false);
    let seed = PageSeed {
        max_items,
        // Reserved at once: grown by doubling, a 500-item page moved its items nine times.
        capacity: max_items
            .min(ITEMS_PER_PAGE)
            .min(body.len() / SMALLEST_ITEM_BYTES),
        overflow: &overflow,
        check,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = seed.deserialize(&mut de).and_then(|page| {
        de.end()?;
        Ok(page)
    });
    match result {
        Ok(page) => Ok(page),
        Err(_) if overflow.get() => Err(PageError::TooManyItems),
        Err(e) => Err(PageError::Json(e)),
    }
}

struct PageSeed<'a, R, T> {
    max_items: usize,
    capacity: usize,
    overflow: &'a Cell<bool>,
    check: fn(R) -> Result<T, SkipReason>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum PageField {
    Results,
    Links,
    TotalCount,
    #[serde(other)]
    Other,
}

impl<'de, R: Deserialize<'de>, T> DeserializeSeed<'de> for PageSeed<'_, R, T> {
    type Value = DecodedPage<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, R: Deserialize<'de>, T> Visitor<'de> for PageSeed<'_, R, T> {
    type Value = DecodedPage<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a page object with results and links")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut page = DecodedPage {
            results: Vec::with_capacity(self.capacity),
            skipped: [0; SkipReason::COUNT],
            has_next: false,
            next_page_num: None,
            has_links: false,
            total_count: None,
        };
        while let Some(field) = map.next_key::<PageField>()? {
            match field {
                PageField::Results => map.next_value_seed(ResultsSeed {
                    page: &mut page,
                    max_items: self.max_items,
                    overflow: self.overflow,
                    check: self.check,
                })?,
                PageField::Links => map.next_value_seed(LinksSeed { page: &mut page })?,
                PageField::TotalCount => page.total_count = map.next_value()?,
                PageField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }
}

/// Appends each item of `results` to the page, or counts it as left out.
struct ResultsSeed<'a, 'b, R, T> {
    page: &'a mut DecodedPage<T>,
    max_items: usize,
    overflow: &'b Cell<bool>,
    check: fn(R) -> Result<T, SkipReason>,
}

impl<'de, R: Deserialize<'de>, T> DeserializeSeed<'de> for ResultsSeed<'_, '_, R, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, R: Deserialize<'de>, T> Visitor<'de> for ResultsSeed<'_, '_, R, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of items")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Lenient<R>>()? {
            if self.page.listed() >= self.max_items {
                self.overflow.set(true);
                return Err(de::Error::custom("too many items"));
            }
            match item.0.ok_or(SkipReason::BadItem).and_then(self.check) {
                Ok(item) => self.page.results.push(item),
                Err(reason) => self.page.skipped[reason.index()] += 1,
            }
        }
        Ok(())
    }
}

/// Records whether `links` holds a `next` relation, without keeping the links.
struct LinksSeed<'a, T> {
    page: &'a mut DecodedPage<T>,
}

impl<'de, T> DeserializeSeed<'de> for LinksSeed<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T> Visitor<'de> for LinksSeed<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of links")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(link) = seq.next_element::<Lenient<RawLink>>()? {
            self.page.has_links = true;
            let Some(link) = link.0 else { continue };
            if link.rel.text() != Some("next") || self.page.has_next {
                continue;
            }
            self.page.has_next = true;
            self.page.next_page_num = link.href.text().and_then(page_num_of);
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawLink {
    #[serde(default)]
    href: Loose,
    #[serde(default)]
    rel: Loose,
}

/// The `pageNum` query parameter of a link.
fn page_num_of(href: &str) -> Option<u64> {
    let query = href.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "pageNum")
        .and_then(|(_, value)| value.parse().ok())
}

/// A JSON object read as `R`, or `None` for any other value (consumed, not stored).
pub(super) struct Lenient<R>(pub(super) Option<R>);

impl<'de, R: Deserialize<'de>> Deserialize<'de> for Lenient<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<R>(PhantomData<R>);
        impl<'de, R: Deserialize<'de>> Visitor<'de> for V<R> {
            type Value = Lenient<R>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lenient<R>, A::Error> {
                R::deserialize(de::value::MapAccessDeserializer::new(map)).map(|r| Lenient(Some(r)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<R>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Lenient<R>, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Lenient<R>, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Lenient<R>, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Lenient<R>, E> {
                Ok(Lenient(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Lenient<R>, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Lenient<R>, E> {
                Ok(Lenient(None))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// Any JSON value of a known field, kept only when it is a scalar: a cheap untyped intermediate
/// that never fails to decode. Arrays and objects are consumed without being stored.
///
/// `T` holds a text: `String` copies it, `Cow<'de, str>` borrows it from the page when the
/// JSON string has no escapes (see [`LooseText`]). The rules below are the same for both.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Loose<T = String> {
    /// Absent or null.
    #[default]
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float,
    Text(T),
    Compound,
}

/// A text as [`Loose`] keeps it: copied (`String`) or borrowed from the JSON input where it can
/// be (`Cow<'de, str>`).
pub(super) trait LooseText<'de>: Sized {
    /// A text that lives as long as the input.
    fn borrowed(text: &'de str) -> Self;
    /// A text that lives only as long as this call (it held an escape).
    fn copied(text: &str) -> Self;
    /// A text already copied.
    fn owned(text: String) -> Self;
}

impl<'de> LooseText<'de> for String {
    fn borrowed(text: &'de str) -> String {
        text.to_owned()
    }
    fn copied(text: &str) -> String {
        text.to_owned()
    }
    fn owned(text: String) -> String {
        text
    }
}

impl<'de: 'a, 'a> LooseText<'de> for Cow<'a, str> {
    fn borrowed(text: &'de str) -> Cow<'a, str> {
        Cow::Borrowed(text)
    }
    fn copied(text: &str) -> Cow<'a, str> {
        Cow::Owned(text.to_owned())
    }
    fn owned(text: String) -> Cow<'a, str> {
        Cow::Owned(text)
    }
}

impl<'de, T: LooseText<'de>> Deserialize<'de> for Loose<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: LooseText<'de>> Visitor<'de> for V<T> {
            type Value = Loose<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Loose<T>, E> {
                Ok(Loose::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose<T>, E> {
                Ok(Loose::Signed(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose<T>, E> {
                Ok(Loose::Unsigned(v))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Loose<T>, E> {
                Ok(Loose::Float)
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Loose<T>, E> {
                Ok(Loose::Text(T::borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose<T>, E> {
                Ok(Loose::Text(T::copied(v)))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Loose<T>, E> {
                Ok(Loose::Text(T::owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Loose<T>, E> {
                Ok(Loose::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Loose<T>, E> {
                Ok(Loose::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose::Compound)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose<T>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Loose::Compound)
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

impl<T: AsRef<str>> Loose<T> {
    pub(super) fn text(&self) -> Option<&str> {
        match self {
            Loose::Text(t) => Some(t.as_ref()),
            _ => None,
        }
    }

    pub(super) fn id(self) -> Result<T, SkipReason> {
        match self {
            Loose::Text(t) => Ok(t),
            Loose::Null => Err(SkipReason::MissingId),
            _ => Err(SkipReason::BadItem),
        }
    }

    pub(super) fn string(self) -> Result<Option<T>, SkipReason> {
        match self {
            Loose::Text(t) => Ok(Some(t)),
            Loose::Null => Ok(None),
            _ => Err(SkipReason::BadItem),
        }
    }

    pub(super) fn time(self) -> Result<Option<Timestamp>, SkipReason> {
        match self {
            Loose::Text(t) => LooseTime::text(t.as_ref()),
            Loose::Null => LooseTime::NULL,
            _ => LooseTime::OTHER,
        }
        .0
    }

    pub(super) fn unsigned(self) -> Result<Option<u64>, SkipReason> {
        match self {
            Loose::Unsigned(n) => Ok(Some(n)),
            Loose::Null => Ok(None),
            _ => Err(SkipReason::BadItem),
        }
    }

    pub(super) fn signed(self) -> Result<Option<i64>, SkipReason> {
        match self {
            Loose::Signed(n) => Ok(Some(n)),
            Loose::Unsigned(n) => i64::try_from(n).map(Some).map_err(|_| SkipReason::BadItem),
            Loose::Null => Ok(None),
            _ => Err(SkipReason::BadItem),
        }
    }

    pub(super) fn boolean(self) -> Result<Option<bool>, SkipReason> {
        match self {
            Loose::Bool(b) => Ok(Some(b)),
            Loose::Null => Ok(None),
            _ => Err(SkipReason::BadItem),
        }
    }
}

/// A time field read straight from the JSON value, without keeping its text: the one rule for
/// time fields. Absent or null is no time, text must be an RFC 3339 time, and any other value
/// is a bad date. [`Loose::time`] applies the same rule to a value already read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LooseTime(pub(super) Result<Option<Timestamp>, SkipReason>);

impl Default for LooseTime {
    fn default() -> LooseTime {
        LooseTime::NULL
    }
}

impl LooseTime {
    const NULL: LooseTime = LooseTime(Ok(None));
    const OTHER: LooseTime = LooseTime(Err(SkipReason::BadDate));

    fn text(text: &str) -> LooseTime {
        LooseTime(parse_time(text).map(Some).map_err(|_| SkipReason::BadDate))
    }

    pub(super) fn time(self) -> Result<Option<Timestamp>, SkipReason> {
        self.0
    }
}

impl<'de> Deserialize<'de> for LooseTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LooseTime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LooseTime, E> {
                Ok(LooseTime::OTHER)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LooseTime, E> {
                Ok(LooseTime::OTHER)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LooseTime, E> {
                Ok(LooseTime::OTHER)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LooseTime, E> {
                Ok(LooseTime::OTHER)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LooseTime, E> {
                Ok(LooseTime::text(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LooseTime, E> {
                Ok(LooseTime::NULL)
            }
            fn visit_none<E: de::Error>(self) -> Result<LooseTime, E> {
                Ok(LooseTime::NULL)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LooseTime, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LooseTime::OTHER)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LooseTime, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LooseTime::OTHER)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Reads an RFC 3339 time exactly as `jiff::Timestamp::from_str` does, accepting and rejecting
/// the same texts. The shape Atlas sends (`2026-11-22T02:04:51Z`, every time in the recorded
/// exchanges; also with `.` and 1 to 9 fractional digits) is read directly, several times
/// faster than jiff's general parser; anything else goes to jiff.
pub(super) fn parse_time(text: &str) -> Result<Timestamp, jiff::Error> {
    match atlas_time(text.as_bytes()) {
        Some(time) => Ok(time),
        None => text.parse(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` with a valid date and time in years 1 to 9998, or `None`
/// for anything else (which jiff then decides, so `None` never means a rejection).
fn atlas_time(b: &[u8]) -> Option<Timestamp> {
    let (head, fraction) = (b.get(..19)?, b.get(19..b.len().checked_sub(1)?)?);
    if b.last() != Some(&b'Z') || head[4] != b'-' || head[7] != b'-' || head[10] != b'T' {
        return None;
    }
    if head[13] != b':' || head[16] != b':' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0_u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (year, month, day) = (
        number(&head[0..4])?,
        number(&head[5..7])?,
        number(&head[8..10])?,
    );
    let (hour, minute, second) = (
        number(&head[11..13])?,
        number(&head[14..16])?,
        number(&head[17..19])?,
    );
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits)? * 10_u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let valid = (1..=9998).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let seconds =
        days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Timestamp::new(seconds, i32::try_from(nanos).ok()?).ok()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date of year 1 or later (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y / 400;
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A tenant or flex snapshot, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawTenantSnapshot<'a> {
    #[serde(default, borrow)]
    id: Loose<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Loose<Cow<'a, str>>,
    #[serde(default)]
    scheduled_time: LooseTime,
    #[serde(default)]
    start_time: LooseTime,
    #[serde(default)]
    finish_time: LooseTime,
    #[serde(default)]
    expiration: LooseTime,
    #[serde(default, borrow, rename = "mongoDBVersion")]
    mongodb_version: Loose<Cow<'a, str>>,
}

impl ListItem for TenantSnapshot {
    type Raw<'de> = RawTenantSnapshot<'de>;

    fn from_raw(raw: RawTenantSnapshot<'_>) -> Result<Self, SkipReason> {
        TenantSnapshotRef::from_raw(raw).map(TenantSnapshotRef::into_owned)
    }

    fn id(&self) -> &str {
        &self.id
    }
}

impl<'de> PageItem<'de> for TenantSnapshotRef<'de> {
    type Raw = RawTenantSnapshot<'de>;

    fn from_raw(raw: RawTenantSnapshot<'de>) -> Result<Self, SkipReason> {
        Ok(TenantSnapshot {
            id: raw.id.id()?,
            scheduled_time: raw.scheduled_time.time()?,
            start_time: raw.start_time.time()?,
            finish_time: raw.finish_time.time()?,
            expiration: raw.expiration.time()?,
            status: raw.status.string()?,
            mongodb_version: raw.mongodb_version.string()?,
        })
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// A dedicated snapshot, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawDedicatedSnapshot<'a> {
    #[serde(default, borrow)]
    id: Loose<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Loose<Cow<'a, str>>,
    #[serde(default)]
    created_at: LooseTime,
    #[serde(default)]
    expires_at: LooseTime,
    #[serde(default)]
    storage_size_bytes: Loose,
    #[serde(default, borrow)]
    snapshot_type: Loose<Cow<'a, str>>,
    #[serde(default, borrow)]
    frequency_type: Loose<Cow<'a, str>>,
    #[serde(default, borrow, rename = "type")]
    snapshot_kind: Loose<Cow<'a, str>>,
    #[serde(default, borrow)]
    mongod_version: Loose<Cow<'a, str>>,
    #[serde(default, borrow)]
    copy_regions: Option<StringList<Cow<'a, str>>>,
}

impl ListItem for DedicatedSnapshot {
    type Raw<'de> = RawDedicatedSnapshot<'de>;

    fn from_raw(raw: RawDedicatedSnapshot<'_>) -> Result<Self, SkipReason> {
        DedicatedSnapshotRef::from_raw(raw).map(DedicatedSnapshotRef::into_owned)
    }

    fn id(&self) -> &str {
        &self.id
    }
}

impl<'de> PageItem<'de> for DedicatedSnapshotRef<'de> {
    type Raw = RawDedicatedSnapshot<'de>;

    fn from_raw(raw: RawDedicatedSnapshot<'de>) -> Result<Self, SkipReason> {
        Ok(DedicatedSnapshot {
            id: raw.id.id()?,
            created_at: raw.created_at.time()?,
            expires_at: raw.expires_at.time()?,
            status: raw.status.string()?,
            storage_size_bytes: raw.storage_size_bytes.unsigned()?,
            snapshot_type: raw.snapshot_type.string()?,
            frequency_type: raw.frequency_type.string()?,
            snapshot_kind: raw.snapshot_kind.string()?,
            mongod_version: raw.mongod_version.string()?,
            copy_regions: raw.copy_regions.and_then(|l| l.0),
        })
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// A JSON array read for its strings (other elements dropped), or `None` for any other value:
/// a list field such as `copyRegions` that must not cost a snapshot its place in the listing.
pub(super) struct StringList<T = String>(pub(super) Option<Vec<T>>);

impl<'de, T: LooseText<'de> + AsRef<str>> Deserialize<'de> for StringList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: LooseText<'de> + AsRef<str>> Visitor<'de> for V<T> {
            type Value = StringList<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Loose<T>>()? {
                    out.extend(item.string().ok().flatten());
                }
                Ok(StringList(Some(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringList<T>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(StringList(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<StringList<T>, E> {
                Ok(StringList(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<StringList<T>, E> {
                Ok(StringList(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<StringList<T>, E> {
                Ok(StringList(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<StringList<T>, E> {
                Ok(StringList(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<StringList<T>, E> {
                Ok(StringList(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StringList<T>, E> {
                Ok(StringList(None))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A legacy snapshot, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawLegacySnapshot {
    #[serde(default)]
    id: Loose,
    #[serde(default)]
    complete: Loose,
    #[serde(default)]
    created: Option<Lenient<RawBsonTimestamp>>,
    #[serde(default)]
    expires: LooseTime,
    #[serde(default)]
    do_not_delete: Loose,
    #[serde(default)]
    parts: Option<LenientList<RawLegacyPart>>,
}

#[derive(Deserialize)]
struct RawBsonTimestamp {
    #[serde(default)]
    date: LooseTime,
    #[serde(default)]
    increment: Loose,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLegacyPart {
    #[serde(default)]
    storage_size_bytes: Loose,
    #[serde(default)]
    type_name: Loose,
    #[serde(default)]
    replica_set_name: Loose,
}

/// A JSON array of objects read as `R` (`None` for an element that is not an object), or
/// `None` for any other value.
pub(super) struct LenientList<R>(pub(super) Option<Vec<Option<R>>>);

impl<'de, R: Deserialize<'de>> Deserialize<'de> for LenientList<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<R>(PhantomData<R>);
        impl<'de, R: Deserialize<'de>> Visitor<'de> for V<R> {
            type Value = LenientList<R>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientList<R>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<Lenient<R>>()? {
                    out.push(item.0);
                }
                Ok(LenientList(Some(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LenientList<R>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientList(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LenientList<R>, E> {
                Ok(LenientList(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LenientList<R>, E> {
                Ok(LenientList(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LenientList<R>, E> {
                Ok(LenientList(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LenientList<R>, E> {
                Ok(LenientList(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<LenientList<R>, E> {
                Ok(LenientList(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientList<R>, E> {
                Ok(LenientList(Some(Vec::new())))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

impl ListItem for LegacySnapshot {
    type Raw<'de> = RawLegacySnapshot;

    fn from_raw(raw: RawLegacySnapshot) -> Result<Self, SkipReason> {
        let created = match raw.created {
            None => None,
            Some(Lenient(None)) => return Err(SkipReason::BadDate),
            Some(Lenient(Some(c))) => Some(BsonTimestamp {
                date: c.date.time()?.ok_or(SkipReason::BadDate)?,
                increment: c.increment.signed()?,
            }),
        };
        let parts = match raw.parts {
            None => Vec::new(),
            Some(LenientList(None)) => return Err(SkipReason::BadItem),
            Some(LenientList(Some(parts))) => parts
                .into_iter()
                .map(|part| {
                    let part = part.ok_or(SkipReason::BadItem)?;
                    Ok(LegacySnapshotPart {
                        storage_size_bytes: part.storage_size_bytes.unsigned()?,
                        type_name: part.type_name.string()?,
                        replica_set_name: part.replica_set_name.string()?,
                    })
                })
                .collect::<Result<_, SkipReason>>()?,
        };
        Ok(LegacySnapshot {
            id: raw.id.id()?,
            complete: raw.complete.boolean()?,
            created,
            expires: raw.expires.time()?,
            do_not_delete: raw.do_not_delete.boolean()?,
            parts,
        })
    }

    fn id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEX_PAGE: &str = include_str!("../../tests/testdata/atlas/flex_snapshots_page.json");
    const DEDICATED_PAGE: &str =
        include_str!("../../tests/testdata/atlas/replicaset_snapshots_page.json");
    const LEGACY_PAGE: &str = include_str!("../../tests/testdata/atlas/legacy_snapshots_page.json");
    const TENANT_V1_PAGE: &str =
        include_str!("../../tests/testdata/atlas/tenant_snapshots_page_v1doc.json");

    #[test]
    fn the_documented_flex_page_decodes() {
        let page: Page<FlexSnapshot> = serde_json::from_str(FLEX_PAGE).unwrap();
        assert_eq!(page.results.len(), 2);
        assert_eq!(page.total_count, Some(2));
        assert_eq!(page.results[0].status.as_deref(), Some("COMPLETED"));
        assert_eq!(
            page.results[0].finish_time,
            Some("2026-11-22T02:04:51Z".parse().unwrap())
        );
        assert_eq!(page.results[1].start_time, None);
        assert!(!page.has_next());
    }

    #[test]
    fn the_documented_dedicated_page_decodes_and_links_to_a_next_page() {
        let page: Page<DedicatedSnapshot> = serde_json::from_str(DEDICATED_PAGE).unwrap();
        assert_eq!(page.results.len(), 2);
        assert_eq!(page.results[0].storage_size_bytes, Some(1_234_567_890));
        assert_eq!(page.results[1].status.as_deref(), Some("inProgress"));
        assert!(page.has_next());
    }

    #[test]
    fn copy_regions_are_read_where_sent_and_absent_where_not() {
        let page = decode_page::<DedicatedSnapshot>(DEDICATED_PAGE.as_bytes(), 10).unwrap();
        assert_eq!(page.results[0].copy_regions, Some(Vec::new()));
        assert_eq!(page.results[1].copy_regions, None);
        let page = decode_page::<DedicatedSnapshot>(
            br#"{"results":[
              {"id":"a","copyRegions":["EU_WEST_1","US_WEST_2"]},
              {"id":"b","copyRegions":"EU_WEST_1"},
              {"id":"c","copyRegions":["EU_WEST_1",7,null]}
            ]}"#,
            10,
        )
        .unwrap();
        let regions: Vec<_> = page
            .results
            .iter()
            .map(|s| s.copy_regions.clone())
            .collect();
        assert_eq!(
            regions,
            [
                Some(vec!["EU_WEST_1".to_owned(), "US_WEST_2".to_owned()]),
                None,
                Some(vec!["EU_WEST_1".to_owned()]),
            ]
        );
    }

    #[test]
    fn the_documented_legacy_page_decodes() {
        let page: Page<LegacySnapshot> = serde_json::from_str(LEGACY_PAGE).unwrap();
        let s = &page.results[0];
        assert_eq!(s.complete, Some(true));
        assert_eq!(s.parts[0].storage_size_bytes, Some(53248));
        assert_eq!(
            s.created.as_ref().unwrap().date,
            "2017-12-26T16:32:16Z".parse().unwrap()
        );
    }

    #[test]
    fn the_v1_tenant_doc_example_without_links_decodes() {
        let page: Page<TenantSnapshot> = serde_json::from_str(TENANT_V1_PAGE).unwrap();
        assert_eq!(page.results[0].status.as_deref(), Some("FAILED"));
        assert!(page.links.is_empty());
    }

    fn decode<T: ListItem>(json: &str) -> DecodedPage<T> {
        match decode_page(json.as_bytes(), 1000) {
            Ok(page) => page,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn every_documented_page_decodes_item_by_item_as_serde_derive_reads_it() {
        let flex: Page<FlexSnapshot> = serde_json::from_str(FLEX_PAGE).unwrap();
        let page = decode::<FlexSnapshot>(FLEX_PAGE);
        assert_eq!(page.results, flex.results);
        assert_eq!(page.total_count, Some(2));
        assert!(!page.has_next);
        let dedicated: Page<DedicatedSnapshot> = serde_json::from_str(DEDICATED_PAGE).unwrap();
        let page = decode::<DedicatedSnapshot>(DEDICATED_PAGE);
        assert_eq!(page.results, dedicated.results);
        assert!(page.has_next && page.has_links);
        let legacy: Page<LegacySnapshot> = serde_json::from_str(LEGACY_PAGE).unwrap();
        assert_eq!(
            decode::<LegacySnapshot>(LEGACY_PAGE).results,
            legacy.results
        );
        let tenant: Page<TenantSnapshot> = serde_json::from_str(TENANT_V1_PAGE).unwrap();
        assert_eq!(
            decode::<TenantSnapshot>(TENANT_V1_PAGE).results,
            tenant.results
        );
    }

    #[test]
    fn a_malformed_item_is_left_out_and_counted_by_reason() {
        let page = decode::<TenantSnapshot>(
            r#"{"results":[
              {"id":"ok1","status":"COMPLETED","finishTime":"2026-11-22T02:04:51Z"},
              {"id":"date","finishTime":"yesterday"},
              {"status":"COMPLETED"},
              {"id":null},
              {"id":7},
              "not an object",
              {"id":"ok2","status":{"nested":[1,2,3]}},
              {"id":"ok3","extra":{"deep":[{"x":1}]}}
            ]}"#,
        );
        let ids: Vec<&str> = page.results.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["ok1", "ok3"]);
        assert_eq!(page.skipped[SkipReason::BadDate.index()], 1);
        assert_eq!(page.skipped[SkipReason::MissingId.index()], 2);
        assert_eq!(page.skipped[SkipReason::BadItem.index()], 3);
        assert_eq!(page.listed(), 8);
    }

    #[test]
    fn a_legacy_item_with_a_bad_created_date_is_left_out() {
        let page = decode::<LegacySnapshot>(
            r#"{"results":[{"id":"a","created":{"date":"13/13/2017"}},{"id":"b","created":{"date":"2017-12-26T16:32:16Z","increment":1},"parts":[{"storageSizeBytes":5}]}]}"#,
        );
        assert_eq!(page.results.len(), 1);
        assert_eq!(page.results[0].parts[0].storage_size_bytes, Some(5));
        assert_eq!(page.skipped[SkipReason::BadDate.index()], 1);
    }

    #[test]
    fn a_page_over_its_item_budget_fails_as_too_many() {
        let json = r#"{"results":[{"id":"a"},{"id":"b"},{"id":"c"}]}"#;
        assert!(matches!(
            decode_page::<TenantSnapshot>(json.as_bytes(), 2),
            Err(PageError::TooManyItems)
        ));
        assert_eq!(
            decode_page::<TenantSnapshot>(json.as_bytes(), 3)
                .unwrap()
                .results
                .len(),
            3
        );
    }

    #[test]
    fn the_next_link_page_number_is_read() {
        let page = decode::<TenantSnapshot>(
            r#"{"links":[{"rel":"self","href":"https://x/a?pageNum=1"},{"rel":"next","href":"https://x/a?itemsPerPage=500&pageNum=3"}],"results":[]}"#,
        );
        assert!(page.has_next);
        assert_eq!(page.next_page_num, Some(3));
    }

    #[test]
    fn a_page_that_is_not_an_object_or_has_trailing_bytes_is_an_error() {
        for json in ["[]", "{\"results\":[]} x", "", "{\"results\":5}"] {
            assert!(
                matches!(
                    decode_page::<TenantSnapshot>(json.as_bytes(), 10),
                    Err(PageError::Json(_))
                ),
                "{json:?}"
            );
        }
    }

    /// Texts around the shape Atlas sends: valid and invalid dates (leap years, month ends,
    /// years at the edges of jiff's range), times out of range, fractions of every length,
    /// offsets, lowercase separators, and broken punctuation.
    fn time_texts() -> Vec<String> {
        let mut texts = Vec::new();
        for year in [
            "0000", "0001", "0004", "0100", "1600", "1700", "1900", "1969", "1970", "2000", "2024",
            "2025", "2026", "2100", "2400", "9998", "9999", "999", "20266", "-001",
        ] {
            for month in [
                "00", "01", "02", "03", "04", "06", "09", "11", "12", "13", "1",
            ] {
                for day in ["00", "01", "28", "29", "30", "31", "32"] {
                    texts.push(format!("{year}-{month}-{day}T06:01:12Z"));
                }
            }
        }
        for time in [
            "00:00:00",
            "23:59:59",
            "24:00:00",
            "23:60:00",
            "23:59:60",
            "12:34:5",
            "1:02:03",
            "12-34-56",
            "12:34:56.",
            "12:34:56.1",
            "12:34:56.12",
            "12:34:56.123",
            "12:34:56.123456",
            "12:34:56.123456789",
            "12:34:56.1234567890",
            "12:34:56,5",
            "12:34:56.x",
            "12:34:56.+1",
        ] {
            for zone in ["Z", "z", "+00:00", "-05:30", "+23:59", "", "ZZ", " Z"] {
                texts.push(format!("2026-11-22T{time}{zone}"));
                texts.push(format!("2026-11-22t{time}{zone}"));
                texts.push(format!("2026-11-22 {time}{zone}"));
            }
        }
        for odd in [
            "",
            "Z",
            "2026-11-22",
            "2026-11-22T",
            "2026-11-22T06:01:12",
            "+2026-11-22T06:01:12Z",
            "2026/11/22T06:01:12Z",
            "2026-11-22T06:01:12Zx",
            " 2026-11-22T06:01:12Z",
            "2026-11-22T06:01:12Z ",
            "２０２６-11-22T06:01:12Z",
            "2026-1a-22T06:01:12Z",
            "9999-12-30T22:00:00Z",
            "9999-12-31T23:59:59Z",
            "-009999-01-02T01:59:59Z",
            "0000-01-01T00:00:00Z",
            "1970-01-01T00:00:00.000000001Z",
            "yesterday",
        ] {
            texts.push(odd.to_owned());
        }
        texts
    }

    #[test]
    fn times_are_read_exactly_as_jiff_reads_them() {
        let texts = time_texts();
        let mut direct = 0;
        for text in &texts {
            let jiff = text.parse::<Timestamp>().ok();
            assert_eq!(parse_time(text).ok(), jiff, "{text:?}");
            if let Some(time) = atlas_time(text.as_bytes()) {
                assert_eq!(Some(time), jiff, "{text:?}");
                direct += 1;
            }
        }
        assert!(
            direct > 300,
            "the Atlas shape is read directly: {direct} of {}",
            texts.len()
        );
        for text in [
            "2024-02-29T23:59:59Z",
            "2026-11-22T02:04:51.5Z",
            "0001-01-01T00:00:00Z",
        ] {
            assert!(atlas_time(text.as_bytes()).is_some(), "{text}");
        }
    }

    #[test]
    fn times_on_every_day_of_four_centuries_are_read_as_jiff_reads_them() {
        let mut day: Timestamp = "1900-01-01T00:00:00Z".parse().unwrap();
        let end: Timestamp = "2300-01-01T00:00:00Z".parse().unwrap();
        let step = jiff::SignedDuration::from_secs(86_400 + 3_661);
        while day < end {
            let text = day.to_string();
            assert_eq!(atlas_time(text.as_bytes()), Some(day), "{text}");
            day += step;
        }
    }

    #[test]
    fn a_time_field_of_any_other_type_is_a_bad_date_and_null_is_no_time() {
        let page = decode::<TenantSnapshot>(
            r#"{"results":[
              {"id":"a","finishTime":null,"startTime":"2026-11-22T02:04:51.250Z"},
              {"id":"b","finishTime":7},
              {"id":"c","finishTime":["2026-11-22T02:04:51Z"]},
              {"id":"d","finishTime":{"date":"2026-11-22T02:04:51Z"}},
              {"id":"e","finishTime":"2026-02-29T02:04:51Z"},
              {"id":"f","finishTime":"2026-11-22T02:04:51+01:00"}
            ]}"#,
        );
        let ids: Vec<&str> = page.results.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "f"]);
        assert_eq!(page.results[0].finish_time, None);
        assert_eq!(
            page.results[0].start_time,
            Some("2026-11-22T02:04:51.25Z".parse().unwrap())
        );
        assert_eq!(
            page.results[1].finish_time,
            Some("2026-11-22T01:04:51Z".parse().unwrap())
        );
        assert_eq!(page.skipped[SkipReason::BadDate.index()], 4);
    }

    #[test]
    fn a_borrowed_page_reads_the_same_items_as_the_owned_one_borrowing_unescaped_texts() {
        let dedicated = br#"{"results":[
          {"id":"a1","status":"completed","createdAt":"2026-11-22T06:01:12Z","type":"replicaSet",
           "copyRegions":["EU_WEST_1","US_\u0057EST_2"],"mongodVersion":"8.0.4"},
          {"id":"a\"2","status":"in\u0050rogress","snapshotType":"onDemand"},
          {"id":"a3","createdAt":"yesterday"},
          {"status":"failed"},
          {"id":"a4","frequencyType":7}
        ]}"#;
        let owned = decode_page::<DedicatedSnapshot>(dedicated, 10).unwrap();
        let borrowed = decode_page_borrowed::<DedicatedSnapshotRef<'_>>(dedicated, 10).unwrap();
        assert_eq!(borrowed.skipped, owned.skipped);
        assert_eq!(borrowed.has_next, owned.has_next);
        let first = &borrowed.results[0];
        assert!(matches!(first.id, Cow::Borrowed("a1")));
        assert!(matches!(
            first.snapshot_kind,
            Some(Cow::Borrowed("replicaSet"))
        ));
        let regions = first.copy_regions.as_deref().unwrap();
        assert!(matches!(regions[0], Cow::Borrowed("EU_WEST_1")));
        assert!(matches!(&regions[1], Cow::Owned(r) if r == "US_WEST_2"));
        let second = &borrowed.results[1];
        assert!(matches!(&second.id, Cow::Owned(id) if id == "a\"2"));
        assert_eq!(second.status.as_deref(), Some("inProgress"));
        let copied: Vec<DedicatedSnapshot> = borrowed
            .results
            .into_iter()
            .map(DedicatedSnapshotRef::into_owned)
            .collect();
        assert_eq!(copied, owned.results);

        for body in [FLEX_PAGE, TENANT_V1_PAGE] {
            let owned = decode::<TenantSnapshot>(body);
            let borrowed =
                decode_page_borrowed::<TenantSnapshotRef<'_>>(body.as_bytes(), 1000).unwrap();
            assert!(matches!(borrowed.results[0].id, Cow::Borrowed(_)));
            let copied: Vec<TenantSnapshot> = borrowed
                .results
                .into_iter()
                .map(TenantSnapshotRef::into_owned)
                .collect();
            assert_eq!(copied, owned.results);
        }
    }

    #[test]
    fn the_items_of_a_page_are_reserved_at_once_within_the_page_size() {
        let body = br#"{"results":[{"id":"a"},{"id":"b"}]}"#;
        let page = decode_page::<TenantSnapshot>(body, 1000).unwrap();
        assert!(page.results.capacity() <= 4, "a short body reserves little");
        let body = dedicated_body_of(ITEMS_PER_PAGE);
        let page = decode_page::<DedicatedSnapshot>(body.as_bytes(), 100_000).unwrap();
        assert_eq!(page.results.len(), ITEMS_PER_PAGE);
        assert_eq!(page.results.capacity(), ITEMS_PER_PAGE);
    }

    fn dedicated_body_of(items: usize) -> String {
        let items: Vec<String> = (0..items)
            .map(|i| {
                format!(
                    r#"{{"id":"{i:024x}","status":"completed","createdAt":"2026-11-22T06:01:12Z"}}"#
                )
            })
            .collect();
        format!(r#"{{"results":[{}]}}"#, items.join(","))
    }

    #[test]
    fn unknown_fields_and_statuses_are_tolerated() {
        let page: Page<TenantSnapshot> = serde_json::from_str(
            r#"{"results":[{"id":"aa","status":"ARCHIVED","newField":{"x":1}}],"brandNew":true}"#,
        )
        .unwrap();
        assert_eq!(page.results[0].status.as_deref(), Some("ARCHIVED"));
    }
}
