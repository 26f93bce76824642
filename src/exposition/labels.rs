//! Every target's `project_id` and `cluster_name` label values, escaped once per target list.
//!
//! Each per-cluster series starts with them, and a target has 30-odd series, one family pass
//! apart: escaping the two strings at every line (each in its own allocation, apart from every
//! other target's) was about a sixth of a plain scrape. Here they are escaped when a target
//! list is first scraped and kept in one buffer in exposition order, which a family pass reads
//! front to back; a project's id once for all its clusters.

use std::sync::{Arc, Mutex, PoisonError};

use crate::state::{ExporterState, Order, TargetState};

use super::text;

/// A target's label values, escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Escaped<'a> {
    pub project_id: &'a [u8],
    pub cluster_name: &'a [u8],
}

/// The escaped label values of one target list, by position in [`Order::sorted`].
pub(super) struct ClusterLabels {
    /// The target list they were written for.
    order: Arc<Order>,
    /// Each project's id, followed by the names of its clusters.
    bytes: Vec<u8>,
    /// Per position: start and end in `bytes` of its project's id, then of its name. (A
    /// target list whose names take 4 GiB is beyond any organisation.)
    spans: Vec<[u32; 4]>,
}

impl ClusterLabels {
    fn new(order: &Arc<Order>, targets: &[Arc<TargetState>]) -> ClusterLabels {
        let mut bytes = Vec::new();
        let mut spans = Vec::with_capacity(order.sorted().len());
        let mut project: Option<(&str, [u32; 2])> = None;
        for &index in order.sorted() {
            let target = &targets[index as usize].target;
            let id = match project {
                Some((id, span)) if id == &*target.project_id => span,
                _ => {
                    let start = bytes.len() as u32;
                    text::escape(&mut bytes, &target.project_id);
                    let span = [start, bytes.len() as u32];
                    project = Some((&target.project_id, span));
                    span
                }
            };
            let start = bytes.len() as u32;
            text::escape(&mut bytes, &target.cluster_name);
            spans.push([id[0], id[1], start, bytes.len() as u32]);
        }
        bytes.shrink_to_fit();
        ClusterLabels {
            order: Arc::clone(order),
            bytes,
            spans,
        }
    }

    /// The label values of the target at `position` of the sorted order.
    pub(super) fn at(&self, position: usize) -> Escaped<'_> {
        let [a, b, c, d] = self.spans[position].map(|x| x as usize);
        Escaped {
            project_id: &self.bytes[a..b],
            cluster_name: &self.bytes[c..d],
        }
    }
}

/// The labels of the current target list, kept between scrapes.
#[derive(Default)]
pub(super) struct LabelCache(Mutex<Option<Arc<ClusterLabels>>>);

impl LabelCache {
    /// The labels of `state`'s target list (`targets`, its cells): the kept ones, or written
    /// now for a new list (a reload, a discovery that changed it).
    pub(super) fn get(
        &self,
        state: &ExporterState,
        targets: &[Arc<TargetState>],
    ) -> Arc<ClusterLabels> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match kept.as_ref() {
            Some(labels) if Arc::ptr_eq(&labels.order, state.order()) => Arc::clone(labels),
            _ => {
                let labels = Arc::new(ClusterLabels::new(state.order(), targets));
                *kept = Some(Arc::clone(&labels));
                labels
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::target::{Kind, Target};

    fn target(project_id: &str, cluster_name: &str) -> TargetState {
        TargetState::new(Target {
            project_id: project_id.into(),
            project_name: None,
            cluster_name: cluster_name.into(),
            cluster_id: None,
            kind: Kind::Flex,
        })
    }

    /// The values come out escaped, by sorted position (not by the order of the config), and
    /// a project's id is held once for all its clusters.
    #[test]
    fn label_values_are_escaped_by_sorted_position() {
        let state = ExporterState::new(vec![
            target("p2", "b"),
            target("p\"1", "a\\b\nc"),
            target("p2", "a"),
        ]);
        let cache = LabelCache::default();
        let cells: Vec<_> = state.targets().collect();
        let labels = cache.get(&state, &cells);
        let at = |p: usize| {
            let e = labels.at(p);
            (
                String::from_utf8(e.project_id.to_vec()).unwrap(),
                String::from_utf8(e.cluster_name.to_vec()).unwrap(),
            )
        };
        assert_eq!(at(0), ("p\\\"1".into(), "a\\\\b\\nc".into()));
        assert_eq!(at(1), ("p2".into(), "a".into()));
        assert_eq!(at(2), ("p2".into(), "b".into()));
        assert_eq!(
            labels.at(1).project_id.as_ptr(),
            labels.at(2).project_id.as_ptr()
        );
        assert_eq!(labels.bytes.len(), "p\\\"1a\\\\b\\ncp2ab".len());

        // The same list is kept; a new one (a reload) is written afresh.
        assert!(Arc::ptr_eq(
            &labels,
            &cache.get(&state.with_cycle(None, true), &cells)
        ));
        let reloaded = ExporterState::new(vec![target("p3", "z")]);
        let cells: Vec<_> = reloaded.targets().collect();
        let fresh = cache.get(&reloaded, &cells);
        assert_eq!(fresh.at(0).cluster_name, b"z");
    }
}
