//! A project's alerts as `GET /api/atlas/v2/groups/{id}/alerts` serves them: the scenario's
//! [`SimAlert`]s, filtered by `status` and rendered in the recorded shape (the Atlas CLI's
//! `test/e2e/atlas/generic/alerts/testdata/.snapshots/TestAlerts/List_with_status_OPEN` and
//! `List_with_no_status` exchanges): `alertConfigId`, `created`, `eventTypeName`, `groupId`,
//! `id`, `lastNotified`, `links`, `orgId`, `status`, `updated`, and `resolved` once closed. A
//! backup (`CPS_*`) alert names its cluster in `clusterName`, as the spec's alert views do for
//! "events impacting backups"; host and metric alerts carry `hostnameAndPort`,
//! `replicaSetName` (and `metricName`) as recorded, without a `clusterName`.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::errors::ApiError;
use super::render::time;

/// An alert's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimAlertStatus {
    /// `OPEN`: the condition holds.
    Open,
    /// `CLOSED`: resolved.
    Closed,
}

impl SimAlertStatus {
    fn as_str(self) -> &'static str {
        match self {
            SimAlertStatus::Open => "OPEN",
            SimAlertStatus::Closed => "CLOSED",
        }
    }
}

/// One alert of a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimAlert {
    /// `eventTypeName`, e.g. `CPS_OPLOG_BEHIND`, `HOST_DOWN`.
    pub event_type: String,
    /// The cluster it is about; `None` for a project alert (billing, users).
    pub cluster: Option<String>,
    /// `OPEN` or `CLOSED`.
    pub status: SimAlertStatus,
    /// `created`.
    pub created: Timestamp,
}

impl SimAlert {
    /// An open alert of `event_type`, about `cluster` when given.
    pub fn open(event_type: &str, cluster: Option<&str>, created: Timestamp) -> SimAlert {
        SimAlert {
            event_type: event_type.to_owned(),
            cluster: cluster.map(str::to_owned),
            status: SimAlertStatus::Open,
            created,
        }
    }

    /// The same alert, resolved.
    pub fn closed(mut self) -> SimAlert {
        self.status = SimAlertStatus::Closed;
        self
    }
}

/// The alerts a `status` query keeps: all without one; `OPEN`, `TRACKING` or `CLOSED` (the
/// spec's enum of `listGroupAlerts`' `status`) those of that status; 400 for any other value.
pub(crate) fn filter<'a>(
    alerts: &'a [SimAlert],
    status: Option<&str>,
) -> Result<Vec<(usize, &'a SimAlert)>, ApiError> {
    let want = match status {
        None => None,
        Some("OPEN") => Some(Some(SimAlertStatus::Open)),
        Some("CLOSED") => Some(Some(SimAlertStatus::Closed)),
        Some("TRACKING") => Some(None),
        Some(_) => return Err(ApiError::invalid_query_parameter("status")),
    };
    Ok(alerts
        .iter()
        .enumerate()
        .filter(|(_, a)| want.is_none_or(|w| w == Some(a.status)))
        .collect())
}

/// The alert's id: the group's first 12 hex digits and its position, so that ids are stable
/// and distinct within a project.
fn alert_id(group: &str, index: usize) -> String {
    let prefix = group.get(..12).unwrap_or(group);
    format!("{prefix}{:012x}", index + 1)
}

/// One alert in the recorded shape.
pub(crate) fn render(
    origin: &str,
    group: &str,
    org_id: &str,
    index: usize,
    alert: &SimAlert,
) -> Value {
    let id = alert_id(group, index);
    let created = time(alert.created);
    let mut m = Map::new();
    m.insert("alertConfigId".into(), json!(alert_id(org_id, index)));
    if let Some(cluster) = &alert.cluster {
        let replica_set = format!("atlas-{}-shard-0", cluster.to_ascii_lowercase());
        if alert.event_type.starts_with("CPS_") {
            m.insert("clusterName".into(), json!(cluster));
        } else {
            m.insert(
                "hostnameAndPort".into(),
                json!(format!("{}-shard-00-00.mongodb.net:27017", replica_set)),
            );
            m.insert("replicaSetName".into(), json!(replica_set));
            if alert.event_type == "OUTSIDE_METRIC_THRESHOLD" {
                m.insert("metricName".into(), json!("NORMALIZED_SYSTEM_CPU_USER"));
            }
        }
    }
    m.insert("created".into(), json!(created));
    m.insert("eventTypeName".into(), json!(alert.event_type));
    m.insert("groupId".into(), json!(group));
    m.insert("id".into(), json!(id));
    m.insert("lastNotified".into(), json!(created));
    m.insert(
        "links".into(),
        json!([{
            "href": format!("{origin}/api/atlas/v2/groups/{group}/alerts/{id}"),
            "rel": "self"
        }]),
    );
    m.insert("orgId".into(), json!(org_id));
    if alert.status == SimAlertStatus::Closed {
        m.insert("resolved".into(), json!(created));
    }
    m.insert("status".into(), json!(alert.status.as_str()));
    m.insert("updated".into(), json!(created));
    Value::Object(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const G: &str = "32b6e34b3d91647abb20e7b8";
    const ORG: &str = "a0123456789abcdef012345a";

    fn at() -> Timestamp {
        "2026-08-02T02:27:02Z".parse().unwrap()
    }

    #[test]
    fn a_backup_alert_names_its_cluster_and_a_host_alert_its_replica_set() {
        let backup = render(
            "http://sim",
            G,
            ORG,
            0,
            &SimAlert::open("CPS_OPLOG_BEHIND", Some("Cluster0"), at()),
        );
        assert_eq!(backup["clusterName"], "Cluster0");
        assert_eq!(backup["status"], "OPEN");
        assert_eq!(backup["created"], "2026-08-02T02:27:02Z");
        assert_eq!(backup["id"], "32b6e34b3d91000000000001");
        assert!(backup.get("resolved").is_none());
        let host = render(
            "http://sim",
            G,
            ORG,
            1,
            &SimAlert::open("HOST_DOWN", Some("Cluster0"), at()).closed(),
        );
        assert!(host.get("clusterName").is_none());
        assert_eq!(host["replicaSetName"], "atlas-cluster0-shard-0");
        assert_eq!(host["status"], "CLOSED");
        assert_eq!(host["resolved"], "2026-08-02T02:27:02Z");
    }

    #[test]
    fn the_status_filter_keeps_that_status_and_refuses_others() {
        let alerts = [
            SimAlert::open("CPS_OPLOG_BEHIND", Some("c"), at()),
            SimAlert::open("HOST_DOWN", Some("c"), at()).closed(),
        ];
        assert_eq!(filter(&alerts, None).unwrap().len(), 2);
        let open = filter(&alerts, Some("OPEN")).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].0, 0);
        assert_eq!(filter(&alerts, Some("CLOSED")).unwrap()[0].0, 1);
        assert!(filter(&alerts, Some("TRACKING")).unwrap().is_empty());
        assert!(filter(&alerts, Some("open")).is_err());
    }
}
