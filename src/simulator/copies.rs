//! Cross-region copies and auto export as a dedicated cluster's schedule and snapshots show
//! them: the schedule's `copySettings` (`DiskBackupCopySetting20240805`: `cloudProvider`,
//! `frequencies`, `regionName`, `shouldCopyOplogs`, `zoneId`), `autoExportEnabled` and
//! `export` (`AutoExportPolicyView`: `exportBucketId`, `frequencyType`), and each finished
//! replica-set snapshot's `copyRegions`. An unfinished snapshot lists none (`copyRegions: []`,
//! as recorded for a running one).

use serde_json::{Value, json};

use super::render::derived_id;
use super::schedule::SimSchedule;

/// Where a cluster's snapshots are copied and how often they are exported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimCopies {
    /// The regions `copySettings` copies to, one setting each.
    pub policy_regions: Vec<String>,
    /// The regions finished snapshots list in `copyRegions`; `None`: every policy region (the
    /// copies land).
    pub listed_regions: Option<Vec<String>>,
    /// `export.frequencyType` with `autoExportEnabled: true`; `None`: auto export off.
    pub auto_export: Option<String>,
}

/// `copySettings`: one setting per policy region, in the cluster's one zone.
pub(crate) fn copy_settings(cluster_id: &str, schedule: &SimSchedule) -> Value {
    let zone_id = derived_id(&format!("zone:{cluster_id}"));
    Value::Array(
        schedule
            .copies
            .policy_regions
            .iter()
            .map(|region| {
                json!({
                    "cloudProvider": "AWS",
                    "frequencies": ["HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "ON_DEMAND"],
                    "regionName": region,
                    "shouldCopyOplogs": false,
                    "zoneId": zone_id
                })
            })
            .collect(),
    )
}

/// `autoExportEnabled` and, when on, `export`.
pub(crate) fn auto_export(cluster_id: &str, schedule: &SimSchedule) -> (bool, Option<Value>) {
    match &schedule.copies.auto_export {
        None => (false, None),
        Some(frequency_type) => (
            true,
            Some(json!({
                "exportBucketId": derived_id(&format!("bucket:{cluster_id}")),
                "frequencyType": frequency_type
            })),
        ),
    }
}

/// A snapshot's `copyRegions`.
pub(crate) fn copy_regions(schedule: &SimSchedule, finished: bool) -> Value {
    if !finished {
        return json!([]);
    }
    let copies = &schedule.copies;
    json!(
        copies
            .listed_regions
            .as_ref()
            .unwrap_or(&copies.policy_regions)
    )
}
