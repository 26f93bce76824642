//! Discovery and cluster facts end to end over real sockets: the simulator's discovery world
//! (`Scenario::discovery`) → client → poller → /metrics and the landing page, with the
//! requests each refresh and each cycle cost counted at the simulator.

// Tests and their fixtures may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use atlas_snapshot_exporter::simulator::{
    DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, DISCOVERY_PROJECT_IDS, Scenario, Simulator,
};
use common::fixed_now;
use diqwest::WithDigestAuth;

/// `disc-prod`: free0 (M0), paused0, nobackup0, hourly0, daily0 (3 pages of clusters), flex0.
const PROD: &str = DISCOVERY_PROJECT_IDS[0];

/// The discovery world, with tokens that outlive any time a test lets pass (so that no 401 and
/// no token request blurs a request count).
fn world() -> Scenario {
    let mut scenario = Scenario::discovery(fixed_now());
    scenario.token_ttl = Duration::from_secs(30 * 86_400);
    scenario
}

/// GETs `path` from the simulator with its own digest session, independently of the
/// exporter's client: the status and the JSON body.
async fn sim_get(sim: &Simulator, path: &str, media_type: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .header("accept", media_type)
        .send_digest_auth((DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    (status, body)
}

#[tokio::test]
async fn a_retired_discovery_route_answers_410_version_gone() {
    let sim = Simulator::start(world(), common::loopback()).await.unwrap();
    let groups = "/api/atlas/v2/groups";
    let clusters = format!("/api/atlas/v2/groups/{PROD}/clusters");
    let schedule = format!("/api/atlas/v2/groups/{PROD}/clusters/daily0/backup/schedule");
    const GROUPS_MEDIA: &str = "application/vnd.atlas.2023-01-01+json";
    const CLUSTERS_MEDIA: &str = "application/vnd.atlas.2024-08-05+json";

    sim.set_gone("groups_list", true);
    let (status, body) = sim_get(&sim, groups, GROUPS_MEDIA).await;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (410, Some("VERSION_GONE"))
    );
    assert_eq!(sim_get(&sim, &clusters, CLUSTERS_MEDIA).await.0, 200);

    sim.set_gone(CLUSTERS_MEDIA, true);
    assert_eq!(sim_get(&sim, &clusters, CLUSTERS_MEDIA).await.0, 410);
    assert_eq!(sim_get(&sim, &schedule, CLUSTERS_MEDIA).await.0, 410);

    sim.set_gone("groups_list", false);
    sim.set_gone(CLUSTERS_MEDIA, false);
    assert_eq!(sim_get(&sim, groups, GROUPS_MEDIA).await.0, 200);
    assert_eq!(sim_get(&sim, &schedule, CLUSTERS_MEDIA).await.0, 200);
}
