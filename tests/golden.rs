//! A whole scrape of the demo scenario, compared with a golden exposition file.
//!
//! Regenerate after an intended change with:
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test --test golden
//! ```
//!
//! and review the diff like code. Values that depend on timing or on the build (request and
//! poll durations, process metrics, the build revision) are masked before the comparison.

// Tests and their fixtures may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use atlas_snapshot_exporter::simulator::Scenario;
use common::{Setup, exposition, fixed_now};

const GOLDEN: &str = "tests/testdata/golden/demo.prom";

/// Families whose every value depends on timing, dropped whole.
const DROPPED: &[&str] = &[
    "process_",
    "atlas_snapshot_exporter_api_request_duration_seconds",
];
/// Families whose values depend on timing, masked.
/// Values that vary from run to run, with what stands in their place.
const MASKED: &[(&str, &str)] = &[
    ("atlas_snapshot_target_poll_duration_seconds", "<duration>"),
    (
        "atlas_snapshot_exporter_poll_cycle_duration_seconds",
        "<duration>",
    ),
    // How many targets race to the first digest handshake depends on scheduling: one challenge
    // per target that sent before any nonce was cached. tests/exporter.rs pins exact counts.
    (
        "atlas_snapshot_exporter_auth_challenges_total",
        "<challenges>",
    ),
];

fn mask(scrape: &str) -> String {
    let mut out = String::new();
    for line in scrape.lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        if DROPPED.iter().any(|d| name.starts_with(d)) {
            continue;
        }
        let masked = MASKED.iter().find(|(m, _)| line.starts_with(m));
        if let (false, Some((_, placeholder))) = (line.starts_with('#'), masked) {
            let (series, _) = line.rsplit_once(' ').unwrap();
            out.push_str(&format!("{series} {placeholder}\n"));
        } else if line.starts_with("atlas_snapshot_exporter_build_info{") {
            out.push_str("atlas_snapshot_exporter_build_info{<build>} 1\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn the_demo_scenario_scrapes_exactly_as_the_golden_file_says() {
    let mut h = Setup::new(Scenario::demo(42, fixed_now()))
        .fixed_clock(fixed_now())
        .start()
        .await;
    h.cycle().await;
    h.cycle().await;
    let scrape = h.scrape_text().await;
    exposition::parse(&scrape).unwrap();
    let got = mask(&scrape);

    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(GOLDEN)
        .unwrap_or_else(|e| panic!("cannot read {GOLDEN} ({e}); create it with UPDATE_GOLDEN=1"));
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .filter(|l| !got.lines().any(|g| g == *l))
            .map(|l| format!("- {l}"))
            .chain(
                got.lines()
                    .filter(|l| !want.lines().any(|w| w == *l))
                    .map(|l| format!("+ {l}")),
            )
            .collect();
        panic!(
            "the scrape differs from {GOLDEN} (UPDATE_GOLDEN=1 to accept):\n{}",
            diff.join("\n")
        );
    }
}

/// Prometheus asks for gzip; curl and browsers often do not. Both answers hold the same text,
/// and the compressed one is one gzip member that a strict single-member reader takes whole.
#[tokio::test]
async fn the_plain_and_the_gzip_scrape_hold_the_same_text() {
    use std::io::Read as _;

    let mut h = Setup::new(Scenario::demo(42, fixed_now()))
        .fixed_clock(fixed_now())
        .start()
        .await;
    h.cycle().await;
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let url = format!("{}/metrics", h.url);
    let plain = raw.get(&url).send().await.unwrap();
    assert_eq!(plain.headers().get("content-encoding"), None);
    let plain = plain.text().await.unwrap();

    let zipped = raw
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["vary"], "Accept-Encoding");
    let body = zipped.bytes().await.unwrap();
    let mut decoder = flate2::read::GzDecoder::new(&body[..]);
    let mut text = String::new();
    decoder.read_to_string(&mut text).unwrap();
    assert!(
        decoder.into_inner().is_empty(),
        "bytes after the gzip member"
    );

    exposition::parse(&text).unwrap();
    assert_eq!(mask(&text), mask(&plain));
    assert!(plain.contains("atlas_snapshot_latest_completed_age_seconds{"));
}
