//! Sharding: which replica of N polls and exports a cluster (`--shard.index`, `--shard.count`,
//! the `shard` section of the config). This module is the one home of the rule.
//!
//! A cluster belongs to the shard that rendezvous (highest random weight) hashing picks for
//! its project id and cluster name: each shard gets a weight from a hash of the key and the
//! shard's index, and the heaviest wins. Changing the count from N to N + 1 moves only the
//! clusters the new shard wins, about 1/(N + 1) of them, each to the new shard; the others stay
//! where they were. The hash is FNV-1a (64 bits) of the key, mixed per shard by the SplitMix64
//! finalizer: plain integer arithmetic, the same in every process, version and platform, unlike
//! the standard library's randomly seeded hasher.

use std::fmt;

use crate::target::Target;

/// The most shards accepted: far past any real deployment, and it keeps an assignment (one
/// weight per shard and cluster) cheap.
pub const MAX_SHARD_COUNT: u32 = 1024;

/// One replica's place among the shards: index `index` of `count`. The default, 0 of 1, owns
/// every cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::SINGLE
    }
}

/// Why an index and a count make no shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// The count is 0 or above [`MAX_SHARD_COUNT`].
    #[error("the shard count must be between 1 and {MAX_SHARD_COUNT}, found {0}")]
    Count(u32),
    /// The index is not below the count.
    #[error("the shard index must be less than the shard count ({count}), found {index}")]
    Index {
        /// The index given.
        index: u32,
        /// The count given.
        count: u32,
    },
}

impl Shard {
    /// The only shard: owns every cluster.
    pub const SINGLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`: `count` between 1 and [`MAX_SHARD_COUNT`], `index` below it.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_SHARD_COUNT {
            return Err(ShardError::Count(count));
        }
        if index >= count {
            return Err(ShardError::Index { index, count });
        }
        Ok(Shard { index, count })
    }

    /// This replica's index, from 0.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many replicas share the clusters.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether this is the only shard (count 1).
    pub fn is_single(self) -> bool {
        self.count == 1
    }

    /// Whether this shard polls and exports the cluster `cluster_name` of project `project_id`.
    pub fn owns(self, project_id: &str, cluster_name: &str) -> bool {
        self.is_single() || owner(project_id, cluster_name, self.count) == self.index
    }

    /// Whether this shard polls and exports `target`.
    pub fn owns_target(self, target: &Target) -> bool {
        self.owns(&target.project_id, &target.cluster_name)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard {} of {}", self.index, self.count)
    }
}

/// The index, below `count` (at least 1), of the shard that owns the cluster `cluster_name` of
/// project `project_id`.
pub fn owner(project_id: &str, cluster_name: &str, count: u32) -> u32 {
    let key = key_hash(project_id, cluster_name);
    let mut best = (0, 0);
    for index in 0..count.max(1) {
        let weight = weight(key, index);
        // Strictly heavier: on a tie (never seen in practice) the lower index wins.
        if index == 0 || weight > best.1 {
            best = (index, weight);
        }
    }
    best.0
}

/// FNV-1a, 64 bits, of the project id, a NUL (in neither an id nor a name) and the cluster name.
fn key_hash(project_id: &str, cluster_name: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let bytes = project_id
        .bytes()
        .chain(std::iter::once(0))
        .chain(cluster_name.bytes());
    bytes.fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The weight of shard `index` for a key: the SplitMix64 output at step `index + 1` from the
/// key's hash, which spreads even neighbouring keys and indexes over the whole range.
fn weight(key: u64, index: u32) -> u64 {
    let mut z = key.wrapping_add((u64::from(index) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The shard flags (`--shard.index`, `--shard.count`): each one given wins over the config
/// file's `shard` key of the same name, on start and on every reload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardFlags {
    /// `--shard.index`, when given.
    pub index: Option<u32>,
    /// `--shard.count`, when given.
    pub count: Option<u32>,
}

impl ShardFlags {
    /// Whether no shard flag was given.
    pub fn is_empty(self) -> bool {
        self.index.is_none() && self.count.is_none()
    }

    /// The shard the flags make of the config file's `file`.
    pub fn apply(self, file: Shard) -> Result<Shard, ShardError> {
        Shard::new(
            self.index.unwrap_or(file.index),
            self.count.unwrap_or(file.count),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1,000 clusters in 50 projects, named as Atlas names them.
    fn keys() -> Vec<(String, String)> {
        (0..1000)
            .map(|i| {
                (
                    format!("5b69d0349b15c62cdfc3{:04x}", i / 20),
                    format!("Cluster{i}"),
                )
            })
            .collect()
    }

    #[test]
    fn a_shard_needs_a_count_from_1_and_an_index_below_it() {
        assert_eq!(Shard::new(0, 1), Ok(Shard::SINGLE));
        assert_eq!(Shard::new(2, 3).map(|s| (s.index(), s.count())), Ok((2, 3)));
        assert_eq!(Shard::new(0, 0), Err(ShardError::Count(0)));
        assert_eq!(
            Shard::new(MAX_SHARD_COUNT, MAX_SHARD_COUNT + 1),
            Err(ShardError::Count(MAX_SHARD_COUNT + 1))
        );
        assert_eq!(
            Shard::new(3, 3),
            Err(ShardError::Index { index: 3, count: 3 })
        );
    }

    #[test]
    fn the_single_shard_owns_everything() {
        for (project, cluster) in keys() {
            assert!(Shard::SINGLE.owns(&project, &cluster));
        }
    }

    #[test]
    fn every_cluster_belongs_to_exactly_one_shard() {
        for count in 1..=7 {
            for (project, cluster) in keys() {
                let owners = (0..count)
                    .filter(|&i| Shard::new(i, count).unwrap().owns(&project, &cluster))
                    .count();
                assert_eq!(owners, 1, "{project}/{cluster} with {count} shards");
            }
        }
    }

    #[test]
    fn the_assignment_is_pinned_so_no_version_or_platform_moves_a_cluster() {
        // Computed once (and by an independent script); a change here moves clusters between
        // running replicas on upgrade. FNV-1a of one NUL byte is its published test vector.
        assert_eq!(key_hash("", ""), 0xaf63_bd4c_8601_b7df);
        let pinned: Vec<u32> = keys()
            .iter()
            .take(12)
            .map(|(p, c)| owner(p, c, 3))
            .collect();
        assert_eq!(pinned, [0, 0, 1, 2, 2, 2, 1, 2, 1, 2, 1, 1]);
        assert_eq!(owner("5b69d0349b15c62cdfc38b78", "M2AWS", 4), 1);
    }

    #[test]
    fn shards_get_about_equal_shares() {
        let keys = keys();
        for count in [2, 3, 4, 8] {
            let mut sizes = vec![0usize; count as usize];
            for (project, cluster) in &keys {
                sizes[owner(project, cluster, count) as usize] += 1;
            }
            let fair = keys.len() / count as usize;
            for size in sizes {
                assert!(
                    size.abs_diff(fair) * 5 < fair,
                    "{count} shards: {size} against a fair {fair}"
                );
            }
        }
    }

    #[test]
    fn going_from_3_to_4_shards_moves_about_a_quarter_and_only_to_the_new_shard() {
        let keys = keys();
        let mut moved = 0;
        for (project, cluster) in &keys {
            let before = owner(project, cluster, 3);
            let after = owner(project, cluster, 4);
            if before != after {
                moved += 1;
                assert_eq!(
                    after, 3,
                    "{project}/{cluster} moved from {before} to {after}"
                );
            }
        }
        assert!((200..=300).contains(&moved), "{moved} of 1000 moved");
    }

    #[test]
    fn removing_the_last_shard_moves_only_its_clusters() {
        for (project, cluster) in keys() {
            let before = owner(&project, &cluster, 4);
            if before != 3 {
                assert_eq!(owner(&project, &cluster, 3), before);
            }
        }
    }

    #[test]
    fn each_flag_given_wins_over_the_file() {
        let file = Shard::new(1, 3).unwrap();
        assert_eq!(ShardFlags::default().apply(file), Ok(file));
        let index = ShardFlags {
            index: Some(2),
            count: None,
        };
        assert_eq!(index.apply(file), Shard::new(2, 3));
        let both = ShardFlags {
            index: Some(4),
            count: Some(5),
        };
        assert_eq!(both.apply(file), Shard::new(4, 5));
        let count = ShardFlags {
            index: None,
            count: Some(1),
        };
        assert_eq!(
            count.apply(file),
            Err(ShardError::Index { index: 1, count: 1 })
        );
    }
}
