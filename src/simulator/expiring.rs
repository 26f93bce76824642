//! A map whose entries expire: the one table behind the digest nonces and the OAuth tokens.
//!
//! Each entry lives for the `ttl` it was inserted with: it is live while `now < inserted + ttl`
//! and gone from then on. The map is bounded: every insert first sweeps the expired entries,
//! then, if the map is still at capacity, evicts the entries closest to expiry, so it never
//! holds more than `capacity` entries however fast a client makes them. Time is an argument
//! (`now`), never read here, so the map is pure and its tests need no clock.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// When an entry stops being live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Deadline {
    /// Live while `now` is before this instant.
    At(Instant),
    /// The ttl was too long to represent: live until removed or evicted.
    Never,
}

impl Deadline {
    fn after(now: Instant, ttl: Duration) -> Deadline {
        now.checked_add(ttl).map_or(Deadline::Never, Deadline::At)
    }

    fn is_past(self, now: Instant) -> bool {
        match self {
            Deadline::At(at) => at <= now,
            Deadline::Never => false,
        }
    }
}

struct Entry<V> {
    value: V,
    deadline: Deadline,
    /// Tells apart entries with the same deadline in the expiry index.
    seq: u64,
}

/// A bounded map from `K` to `V` whose entries expire.
pub(crate) struct ExpiringMap<K, V> {
    capacity: usize,
    entries: HashMap<K, Entry<V>>,
    /// Every entry's key by `(deadline, seq)`, soonest first; always in step with `entries`.
    by_deadline: BTreeMap<(Deadline, u64), K>,
    next_seq: u64,
}

impl<K: Eq + Hash + Clone, V> ExpiringMap<K, V> {
    /// An empty map that holds at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> ExpiringMap<K, V> {
        ExpiringMap {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            by_deadline: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Inserts (or replaces) `key`, live for `ttl` from `now`. Sweeps expired entries first and,
    /// at capacity, evicts those closest to expiry to make room.
    pub(crate) fn insert(&mut self, key: K, value: V, ttl: Duration, now: Instant) {
        self.remove(&key);
        self.sweep(now);
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.by_deadline.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let deadline = Deadline::after(now, ttl);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.by_deadline.insert((deadline, seq), key.clone());
        self.entries.insert(
            key,
            Entry {
                value,
                deadline,
                seq,
            },
        );
    }

    /// The value of `key` if it is present and live at `now`.
    pub(crate) fn get<Q>(&self, key: &Q, now: Instant) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .get(key)
            .filter(|entry| !entry.deadline.is_past(now))
            .map(|entry| &entry.value)
    }

    /// The value of `key`, for changing it in place, if it is present and live at `now`.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q, now: Instant) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .get_mut(key)
            .filter(|entry| !entry.deadline.is_past(now))
            .map(|entry| &mut entry.value)
    }

    /// Removes `key` whether or not it is still live; returns its value if it was present.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.entries.remove(key)?;
        self.by_deadline.remove(&(entry.deadline, entry.seq));
        Some(entry.value)
    }

    /// Drops every entry that has expired at `now`.
    pub(crate) fn sweep(&mut self, now: Instant) {
        while let Some(entry) = self.by_deadline.first_entry() {
            if !entry.key().0.is_past(now) {
                break;
            }
            let key = entry.remove();
            self.entries.remove(&key);
        }
    }

    /// How many entries are held, expired ones not yet swept included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn an_entry_is_live_until_its_ttl_has_passed() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(10);
        map.insert("a", 1, 10 * SEC, start);
        assert_eq!(map.get(&"a", start), Some(&1));
        assert_eq!(
            map.get(&"a", start + 10 * SEC - Duration::from_nanos(1)),
            Some(&1)
        );
        assert_eq!(
            map.get(&"a", start + 10 * SEC),
            None,
            "gone at exactly the ttl"
        );
        assert_eq!(map.get(&"missing", start), None);
    }

    #[test]
    fn an_expired_entry_cannot_be_changed_but_a_live_one_can() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(10);
        map.insert("a", 1, SEC, start);
        *map.get_mut(&"a", start).unwrap() += 1;
        assert_eq!(map.get(&"a", start), Some(&2));
        assert!(map.get_mut(&"a", start + SEC).is_none());
    }

    #[test]
    fn entries_may_have_different_ttls() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(10);
        map.insert("long", (), 10 * SEC, start);
        map.insert("short", (), SEC, start);
        let later = start + 2 * SEC;
        assert!(map.get(&"long", later).is_some());
        assert!(map.get(&"short", later).is_none());
        map.sweep(later);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn a_sweep_drops_only_expired_entries() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(10);
        for i in 0..5u32 {
            map.insert(i, (), SEC, start + Duration::from_millis(100) * i);
        }
        map.sweep(start + Duration::from_millis(1_250));
        assert_eq!(map.len(), 2, "issued at 300 and 400 ms are still live");
        assert!(map.get(&3, start + Duration::from_millis(1_250)).is_some());
    }

    #[test]
    fn an_insert_sweeps_expired_entries() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(10);
        map.insert("old", (), SEC, start);
        map.insert("new", (), SEC, start + 2 * SEC);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn at_capacity_the_entry_closest_to_expiry_goes_first() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(3);
        for i in 0..3u32 {
            map.insert(i, (), SEC, start + Duration::from_millis(i.into()));
        }
        map.insert(3, (), SEC, start + Duration::from_millis(3));
        assert_eq!(map.len(), 3);
        assert!(map.get(&0, start).is_none(), "the oldest was evicted");
        for i in 1..4 {
            assert!(map.get(&i, start + Duration::from_millis(3)).is_some());
        }
    }

    #[test]
    fn the_map_never_outgrows_its_capacity() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(100);
        for i in 0..10_000u32 {
            map.insert(i, (), Duration::from_secs(3600), start);
            if i % 3 == 0 {
                map.remove(&i);
            }
        }
        assert!(map.len() <= 100);
        assert_eq!(map.by_deadline.len(), map.len(), "the index keeps in step");
    }

    #[test]
    fn removing_forgets_an_entry_and_reinserting_renews_it() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(10);
        map.insert("a", 1, SEC, start);
        assert_eq!(map.remove(&"a"), Some(1));
        assert_eq!(map.remove(&"a"), None);
        assert!(map.get(&"a", start).is_none());
        map.insert("a", 2, SEC, start);
        map.insert("a", 3, 10 * SEC, start);
        assert_eq!(map.len(), 1);
        assert_eq!(
            map.get(&"a", start + 5 * SEC),
            Some(&3),
            "the later ttl counts"
        );
        assert_eq!(map.by_deadline.len(), 1);
    }

    #[test]
    fn a_ttl_too_long_to_represent_never_expires() {
        let start = Instant::now();
        let mut map = ExpiringMap::new(10);
        map.insert("forever", (), Duration::MAX, start);
        map.insert("soon", (), SEC, start);
        map.sweep(start + Duration::from_secs(86_400 * 365));
        assert_eq!(map.len(), 1);
        assert!(
            map.get(&"forever", start + Duration::from_secs(86_400 * 365))
                .is_some()
        );
    }
}
