//! The `shard` section: this replica's `index` among `count` replicas that split the clusters
//! between them (see [`crate::shard`] for the assignment).

use std::ops::ControlFlow;

use super::walker::{Checker, Node, child};
use crate::shard::{MAX_SHARD_COUNT, Shard};

const SHARD_KEYS: &[&str] = &["index", "count"];

impl Checker {
    /// The `shard` section: `index` below `count`, `count` from 1; 0 of 1 when left out.
    pub(super) fn shard(&mut self, path: &str, node: &Node) -> Option<Shard> {
        let entries = match node {
            Node::Null => return Some(Shard::SINGLE),
            Node::Map(entries) => entries,
            other => {
                self.wrong_type(path, "a mapping with index and count", other);
                return None;
            }
        };
        let max = MAX_SHARD_COUNT as usize;
        let mut index = Some(0);
        let mut count = Some(1);
        self.mapping(
            path,
            entries,
            SHARD_KEYS,
            |checker, key, key_path, value| {
                match key {
                    "index" => {
                        index = checker.whole_number(
                            key_path,
                            value,
                            0..=max - 1,
                            &format!("from 0 to {}", max - 1),
                            0,
                        );
                    }
                    _ => {
                        count = checker.whole_number(
                            key_path,
                            value,
                            1..=max,
                            &format!("between 1 and {max}"),
                            1,
                        );
                    }
                }
                ControlFlow::Continue(())
            },
        );
        let (index, count) = (u32::try_from(index?).ok()?, u32::try_from(count?).ok()?);
        match Shard::new(index, count) {
            Ok(shard) => Some(shard),
            Err(_) => {
                self.problem(
                    &child(path, "index"),
                    format!(
                        "must be less than shard.count ({count}), found {index}: the replicas \
                         are numbered from 0 to {}",
                        count - 1
                    ),
                );
                None
            }
        }
    }
}
