//! Atlas' own alerts on backups: the open alerts of a project
//! (`GET /api/atlas/v2/groups/{id}/alerts?status=OPEN`, `listGroupAlerts`, 2023-01-01, Project
//! Read Only, paged), read through the common page loop and kept only when their event type is
//! one of Atlas' backup event types ([`BACKUP_EVENT_TYPES`]). What is left is a bounded,
//! deduplicated set of (cluster, event type) per project: [`BackupAlerts`].
//!
//! Shape, from the spec's `AlertViewForNdsGroup` (a `oneOf`) and the Atlas CLI's recorded
//! exchange (`test/e2e/atlas/generic/alerts/testdata/.snapshots/TestAlerts/List_with_status_OPEN`):
//! `id`, `eventTypeName`, `status` (`OPEN`, `TRACKING`, `CLOSED`), `created`; the cluster as
//! `clusterName` where the view has one (`ClusterAlertViewForNdsGroup`,
//! `ReplicaSetAlertViewForNdsGroup`: "returns this parameter for alerts of events impacting
//! backups, replica sets, or sharded clusters"), and `clusterId` / `replicaSetName` as recorded
//! for replica-set alerts (the recorded `REPLICATION_OPLOG_WINDOW_RUNNING_OUT` alerts carry
//! `clusterId` and `replicaSetName` but no `clusterName`). An alert whose event type this build
//! does not know is left out, never an error.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::Deserialize;

use super::budget::Pace;
use super::client::{AtlasClient, ListingRequest};
use super::endpoint::{MEDIA_TYPE_2023_01_01, Operation};
use super::error::AtlasError;
use super::wire::{ListItem, Loose, SkipReason};
use crate::target::ApiVersion;

/// Atlas' backup event types, as the spec lists them: the enum titled "Cps Backup Event Types"
/// among the `eventTypeName` choices of `DefaultAlertViewForNdsGroup` (the alert view for
/// events without a more specific one), which holds the three threshold types of
/// `CpsBackupEventTypeViewForNdsGroupAlertableWithThreshold` (`CPS_SNAPSHOT_BEHIND`,
/// `CPS_PREV_SNAPSHOT_OLD`, `CPS_OPLOG_BEHIND`) too. The spec's alert views list no flex,
/// serverless or legacy backup event types (`TENANT_SNAPSHOT_FAILED` and
/// `TENANT_RESTORE_FAILED` are audit types of `NDSAuditTypeViewForNdsGroup`, never alerts), and
/// the "Data Protection Event Types" are changes to a Backup Compliance Policy, not the state of
/// backups. Sorted, so that a lookup is a binary search.
pub const BACKUP_EVENT_TYPES: [&str; 24] = [
    "CPS_AUTO_EXPORT_FAILED",
    "CPS_COLLECTION_RESTORE_CANCELED",
    "CPS_COLLECTION_RESTORE_FAILED",
    "CPS_COLLECTION_RESTORE_PARTIAL_SUCCESS",
    "CPS_COLLECTION_RESTORE_SUCCESSFUL",
    "CPS_CONCURRENT_SNAPSHOT_FAILED_WILL_RETRY",
    "CPS_COPY_SNAPSHOT_FAILED",
    "CPS_COPY_SNAPSHOT_FAILED_WILL_RETRY",
    "CPS_COPY_SNAPSHOT_STARTED",
    "CPS_COPY_SNAPSHOT_SUCCESSFUL",
    "CPS_EXPORT_FAILED",
    "CPS_EXPORT_SUCCESSFUL",
    "CPS_OPLOG_BEHIND",
    "CPS_OPLOG_CAUGHT_UP",
    "CPS_PREV_SNAPSHOT_OLD",
    "CPS_RESTORE_FAILED",
    "CPS_RESTORE_SUCCESSFUL",
    "CPS_SNAPSHOT_BEHIND",
    "CPS_SNAPSHOT_DOWNLOAD_REQUEST_FAILED",
    "CPS_SNAPSHOT_FAILED",
    "CPS_SNAPSHOT_FALLBACK_FAILED",
    "CPS_SNAPSHOT_FALLBACK_SUCCESSFUL",
    "CPS_SNAPSHOT_STARTED",
    "CPS_SNAPSHOT_SUCCESSFUL",
];

/// The most (cluster, event type) pairs kept per project: the clusters of a project times
/// [`BACKUP_EVENT_TYPES`] is the real bound; this caps what a misbehaving answer can cost.
pub const MAX_OPEN_BACKUP_ALERTS: usize = 4096;

/// The spec's name for an event type when it is a backup one, `None` for any other (unknown
/// ones included).
pub fn backup_event_type(event_type: &str) -> Option<&'static str> {
    BACKUP_EVENT_TYPES
        .binary_search(&event_type)
        .ok()
        .map(|i| BACKUP_EVENT_TYPES[i])
}

/// One alert of the listing, whatever its event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// 24 hex digits.
    pub id: String,
    /// `eventTypeName`.
    pub event_type: String,
    /// `status`: `OPEN`, `TRACKING`, `CLOSED`, or a value added later.
    pub status: Option<String>,
    /// `created`.
    pub created: Option<Timestamp>,
    /// `clusterName`, when the alert names its cluster.
    pub cluster_name: Option<String>,
    /// `clusterId`, when sent (the recorded replica-set alerts carry it without a name).
    pub cluster_id: Option<String>,
    /// `replicaSetName`, when sent (`atlas-xmz5g4-shard-0`: not the cluster's name).
    pub replica_set_name: Option<String>,
}

/// An alert, read leniently.
#[doc(hidden)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawAlert {
    #[serde(default)]
    id: Loose,
    #[serde(default)]
    event_type_name: Loose,
    #[serde(default)]
    status: Loose,
    #[serde(default)]
    created: Loose,
    #[serde(default)]
    cluster_name: Loose,
    #[serde(default)]
    cluster_id: Loose,
    #[serde(default)]
    replica_set_name: Loose,
}

impl ListItem for Alert {
    type Raw<'de> = RawAlert;

    fn from_raw(raw: RawAlert) -> Result<Self, SkipReason> {
        Ok(Alert {
            id: raw.id.id()?,
            event_type: raw.event_type_name.string()?.ok_or(SkipReason::BadItem)?,
            status: raw.status.string()?,
            created: raw.created.time()?,
            cluster_name: raw.cluster_name.string()?.filter(|n| !n.is_empty()),
            cluster_id: raw.cluster_id.string()?,
            replica_set_name: raw.replica_set_name.string()?,
        })
    }

    fn id(&self) -> &str {
        &self.id
    }
}

/// One open backup alert as exported: the cluster it names and its event type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpenBackupAlert {
    /// `clusterName`; empty when the alert names no cluster by name.
    pub cluster_name: String,
    /// One of [`BACKUP_EVENT_TYPES`].
    pub event_type: &'static str,
}

/// The open backup alerts of one project: deduplicated (two alerts of one type on one cluster
/// are one pair), ordered, at most [`MAX_OPEN_BACKUP_ALERTS`] pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupAlerts {
    /// The (cluster, event type) pairs open.
    pub open: BTreeSet<OpenBackupAlert>,
    /// Alerts listed that are not backup alerts (or not open), left out.
    pub ignored: u64,
    /// Backup pairs left out because the set was full.
    pub overflow: u64,
}

impl BackupAlerts {
    /// Adds one listed alert: kept when it is open and of a backup event type.
    pub fn add(&mut self, alert: &Alert) {
        let open = alert.status.as_deref().is_none_or(|s| s == "OPEN");
        let Some(event_type) = backup_event_type(&alert.event_type).filter(|_| open) else {
            self.ignored += 1;
            return;
        };
        let pair = OpenBackupAlert {
            cluster_name: alert.cluster_name.clone().unwrap_or_default(),
            event_type,
        };
        if self.open.contains(&pair) {
            return;
        }
        if self.open.len() >= MAX_OPEN_BACKUP_ALERTS {
            self.overflow += 1;
            return;
        }
        self.open.insert(pair);
    }

    /// The summary of a list of alerts.
    pub fn from_alerts<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> BackupAlerts {
        let mut summary = BackupAlerts::default();
        for alert in alerts {
            summary.add(alert);
        }
        summary
    }
}

impl AtlasClient {
    /// `GET /api/atlas/v2/groups/{id}/alerts?status=OPEN`, all pages, 2023-01-01, through the
    /// common page loop (its page cap and `max_listing_items` bound the listing), summarised
    /// page by page so that non-backup alerts are never kept.
    pub async fn list_open_backup_alerts(
        &self,
        project_id: &str,
        pace: &Pace,
    ) -> Result<BackupAlerts, AtlasError> {
        let mut url = self.api_url(ApiVersion::V2, &["groups", project_id, "alerts"])?;
        url.query_pairs_mut().append_pair("status", "OPEN");
        let request = ListingRequest {
            operation: Operation::AlertsList,
            bucket: project_id,
            url,
            accept: MEDIA_TYPE_2023_01_01,
            paged: true,
            items: "alerts",
        };
        let mut summary = BackupAlerts::default();
        self.list_pages::<Alert>(&request, pace, &mut |page| {
            for alert in &page {
                summary.add(alert);
            }
        })
        .await?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::wire::{DecodedPage, decode_page};

    fn page(json: &str) -> DecodedPage<Alert> {
        decode_page::<Alert>(json.as_bytes(), 1000).unwrap()
    }

    fn alert(cluster: Option<&str>, event_type: &str, status: &str) -> Alert {
        Alert {
            id: "6a6eaaf6544abebef9604046".into(),
            event_type: event_type.into(),
            status: Some(status.into()),
            created: None,
            cluster_name: cluster.map(str::to_owned),
            cluster_id: None,
            replica_set_name: None,
        }
    }

    #[test]
    fn the_event_type_list_is_sorted_and_distinct_so_lookups_find_every_entry() {
        assert!(BACKUP_EVENT_TYPES.windows(2).all(|w| w[0] < w[1]));
        for t in BACKUP_EVENT_TYPES {
            assert_eq!(backup_event_type(t), Some(t));
        }
        assert_eq!(backup_event_type("HOST_DOWN"), None);
        assert_eq!(backup_event_type("CPS_SOMETHING_NEW"), None);
        assert_eq!(backup_event_type("cps_oplog_behind"), None);
    }

    #[test]
    fn the_recorded_open_listing_decodes_and_its_billing_alerts_are_ignored() {
        let body = std::fs::read("tests/testdata/atlas/alerts_open_page.json").unwrap();
        let page = decode_page::<Alert>(&body, 1000).unwrap();
        assert_eq!(page.results.len(), 3);
        assert_eq!(page.total_count, Some(3));
        assert!(!page.has_next);
        let first = &page.results[0];
        assert_eq!(first.id, "6a6eaaf6544abebef9604046");
        assert_eq!(first.event_type, "DAILY_BILL_OVER_THRESHOLD");
        assert_eq!(first.status.as_deref(), Some("OPEN"));
        assert_eq!(first.created, Some("2026-08-02T02:27:02Z".parse().unwrap()));
        assert_eq!(first.cluster_name, None);
        let summary = BackupAlerts::from_alerts(&page.results);
        assert!(summary.open.is_empty());
        assert_eq!(summary.ignored, 3);
    }

    #[test]
    fn a_recorded_replica_set_alert_keeps_its_cluster_id_and_replica_set_name() {
        let p = page(
            r#"{"results":[{"alertConfigId":"5efda6aea3f2ed2e7dd6ce06","clusterId":"5efdfce84deaf5428dea44be","created":"2020-07-02T16:27:44Z","eventTypeName":"REPLICATION_OPLOG_WINDOW_RUNNING_OUT","groupId":"b0123456789abcdef012345b","id":"5efe0b0097e6ab3f55a5d376","replicaSetName":"atlas-xmz5g4-shard-0","status":"CLOSED"}]}"#,
        );
        let a = &p.results[0];
        assert_eq!(a.cluster_id.as_deref(), Some("5efdfce84deaf5428dea44be"));
        assert_eq!(a.replica_set_name.as_deref(), Some("atlas-xmz5g4-shard-0"));
        assert_eq!(a.cluster_name, None);
    }

    #[test]
    fn an_alert_without_an_event_type_or_id_is_left_out_not_an_error() {
        let p = page(
            r#"{"results":[{"id":"a1","status":"OPEN"},{"eventTypeName":"CPS_OPLOG_BEHIND"},{"id":"a3","eventTypeName":"CPS_OPLOG_BEHIND","created":"yesterday"},{"id":"a4","eventTypeName":"CPS_OPLOG_BEHIND","clusterName":"Cluster0"}]}"#,
        );
        assert_eq!(p.results.len(), 1);
        assert_eq!(p.skipped.iter().sum::<u64>(), 3);
        assert_eq!(p.results[0].cluster_name.as_deref(), Some("Cluster0"));
    }

    #[test]
    fn only_open_backup_alerts_are_kept_once_per_cluster_and_type() {
        let alerts = [
            alert(Some("Cluster0"), "CPS_OPLOG_BEHIND", "OPEN"),
            alert(Some("Cluster0"), "CPS_OPLOG_BEHIND", "OPEN"),
            alert(Some("Cluster0"), "CPS_SNAPSHOT_BEHIND", "OPEN"),
            alert(Some("Cluster1"), "CPS_OPLOG_BEHIND", "OPEN"),
            alert(Some("Cluster0"), "HOST_DOWN", "OPEN"),
            alert(None, "OUTSIDE_METRIC_THRESHOLD", "OPEN"),
            alert(Some("Cluster0"), "CPS_SOMETHING_NEW", "OPEN"),
            alert(Some("Cluster2"), "CPS_RESTORE_FAILED", "CLOSED"),
            alert(None, "CPS_EXPORT_FAILED", "OPEN"),
        ];
        let summary = BackupAlerts::from_alerts(&alerts);
        let pairs: Vec<(&str, &str)> = summary
            .open
            .iter()
            .map(|p| (p.cluster_name.as_str(), p.event_type))
            .collect();
        assert_eq!(
            pairs,
            [
                ("", "CPS_EXPORT_FAILED"),
                ("Cluster0", "CPS_OPLOG_BEHIND"),
                ("Cluster0", "CPS_SNAPSHOT_BEHIND"),
                ("Cluster1", "CPS_OPLOG_BEHIND"),
            ]
        );
        assert_eq!(summary.ignored, 4);
        assert_eq!(summary.overflow, 0);
    }

    #[test]
    fn the_set_stops_growing_at_its_bound() {
        let mut summary = BackupAlerts::default();
        for i in 0..MAX_OPEN_BACKUP_ALERTS + 5 {
            summary.add(&alert(
                Some(&format!("Cluster{i}")),
                "CPS_OPLOG_BEHIND",
                "OPEN",
            ));
        }
        assert_eq!(summary.open.len(), MAX_OPEN_BACKUP_ALERTS);
        assert_eq!(summary.overflow, 5);
    }
}
