//! The landing page at `/`: what this is, where the metrics are, and how each target fared,
//! problems first.
//!
//! Each target gets one verdict, judged as the shipped alerts judge it: down, backups off,
//! failed (the newest snapshot failed), never backed up, stale (the newest completed snapshot
//! is older than 1.5 policy intervals plus an hour, or 26 hours without a policy; a paused
//! cluster is never stale), or fine. Targets with a problem are listed first, each group in
//! config order.

use std::time::Duration;

use std::fmt::Write;

use jiff::Timestamp;

use crate::atlas::{Reason, gone_hint};
use crate::build_info;
use crate::snapshot::Status;
use crate::state::{ExporterState, TargetState};

/// How old the newest completed snapshot may be without a policy (the alerts' default).
const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(26 * 3600);
/// Added to 1.5 policy intervals before a snapshot counts as stale (the alerts' grace).
const STALE_GRACE: Duration = Duration::from_secs(3600);

/// What the page says of one target, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// The last poll failed.
    Down,
    /// The cluster's backups are switched off.
    BackupsOff,
    /// The newest snapshot failed.
    Failed,
    /// Polled, and no snapshot ever completed.
    NeverBackedUp,
    /// The newest completed snapshot is older than the policy allows.
    Stale,
    /// Not polled yet.
    Pending,
    /// Nothing to report.
    Fine,
}

impl Verdict {
    /// The word shown, and its CSS class.
    fn label(self) -> (&'static str, &'static str) {
        match self {
            Verdict::Down => ("down", "down"),
            Verdict::BackupsOff => ("backups off", "down"),
            Verdict::Failed => ("latest failed", "down"),
            Verdict::NeverBackedUp => ("never backed up", "down"),
            Verdict::Stale => ("stale", "down"),
            Verdict::Pending => ("pending", "pending"),
            Verdict::Fine => ("ok", "up"),
        }
    }

    /// Whether the target belongs among the problems at the top.
    fn is_problem(self) -> bool {
        self < Verdict::Pending
    }
}

/// How old the newest completed snapshot of `t` may be: 1.5 policy intervals plus the grace,
/// or the 26-hour default without a policy.
pub fn stale_after(t: &TargetState) -> Duration {
    t.policy
        .and_then(|p| p.interval)
        .map_or(DEFAULT_STALE_AFTER, |i| i.mul_f64(1.5) + STALE_GRACE)
}

/// Judges one target at `now`.
pub fn verdict(t: &TargetState, now: Timestamp) -> Verdict {
    match t.up() {
        None => return Verdict::Pending,
        Some(false) => return Verdict::Down,
        Some(true) => {}
    }
    if t.facts.is_some_and(|f| !f.backup_enabled) {
        return Verdict::BackupsOff;
    }
    let Some(backups) = &t.backups else {
        return Verdict::Fine;
    };
    let summary = &backups.summary;
    if summary.latest.as_ref().and_then(|l| l.status) == Some(Status::Failed) {
        return Verdict::Failed;
    }
    let paused = t.facts.is_some_and(|f| f.paused);
    match summary.latest_completed.as_ref().and_then(|c| c.finished) {
        None => Verdict::NeverBackedUp,
        Some(finished) if !paused => {
            let age = now.duration_since(finished);
            let limit =
                jiff::SignedDuration::try_from(stale_after(t)).unwrap_or(jiff::SignedDuration::MAX);
            if age > limit {
                Verdict::Stale
            } else {
                Verdict::Fine
            }
        }
        Some(_) => Verdict::Fine,
    }
}

/// Renders the page. Everything that comes from config or from Atlas is HTML-escaped.
pub fn render(state: &ExporterState, telemetry_path: &str, now: Timestamp) -> String {
    let mut html = String::with_capacity(4096 + state.targets().len() * 512);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>atlas-snapshot-exporter</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
.up {{ color: #1a7f37; font-weight: bold; }}
.down {{ color: #cf222e; font-weight: bold; }}
.pending {{ color: #9a6700; }}
code {{ font-size: 0.95em; }}
</style>
</head>
<body>
<h1>atlas-snapshot-exporter</h1>
<p>Version {version} (revision {revision}). Tells you whether MongoDB Atlas backup snapshots are really happening.</p>
<ul>
<li><a href="{metrics}">Metrics</a></li>
<li><a href="/-/healthy">Health</a> &middot; <a href="/-/ready">Readiness</a></li>
</ul>
"#,
        version = escape(build_info::VERSION),
        revision = escape(build_info::REVISION),
        metrics = escape(telemetry_path),
    );
    match state.last_cycle {
        Some(c) => {
            let _ = writeln!(
                html,
                "<p>Last poll cycle ended {} ago and took {:.2}s.</p>",
                ago(now, c.finished_at),
                c.duration.as_secs_f64()
            );
        }
        None => html.push_str("<p>The first poll cycle is still running.</p>\n"),
    }
    let mut judged: Vec<(Verdict, std::sync::Arc<TargetState>)> =
        state.targets().map(|t| (verdict(&t, now), t)).collect();
    // Problems first, each group in config order (the sort is stable).
    judged.sort_by_key(|(v, _)| !v.is_problem());
    let problems = judged.iter().filter(|(v, _)| v.is_problem()).count();
    let _ = writeln!(
        html,
        "<p>{problems} of {} clusters need attention.</p>",
        judged.len()
    );
    html.push_str(
        "<table>\n<tr><th>Project</th><th>Cluster</th><th>Kind</th><th>Verdict</th>\
<th>Backups</th><th>Last poll</th><th>Snapshots</th><th>Latest status</th>\
<th>Latest completed</th><th>Last error</th></tr>\n",
    );
    for (verdict, t) in &judged {
        row(&mut html, t, *verdict, now);
    }
    html.push_str("</table>\n</body>\n</html>\n");
    html
}

fn row(html: &mut String, t: &TargetState, verdict: Verdict, now: Timestamp) {
    let project = match &t.target.project_name {
        Some(name) => format!(
            "{} <code>{}</code>",
            escape(name),
            escape(&t.target.project_id)
        ),
        None => format!("<code>{}</code>", escape(&t.target.project_id)),
    };
    let poll = match (&t.last_poll, t.up()) {
        (Some(p), Some(true)) => format!(
            r#"<span class="up">up</span> {} ago ({:.2}s)"#,
            ago(now, p.at),
            p.duration.as_secs_f64()
        ),
        (Some(p), _) => format!(
            r#"<span class="down">down</span> {} ago ({:.2}s)"#,
            ago(now, p.at),
            p.duration.as_secs_f64()
        ),
        (None, _) => r#"<span class="pending">not yet polled</span>"#.to_owned(),
    };
    let (count, latest, completed) = match &t.backups {
        Some(b) => {
            let s = &b.summary;
            let latest = s
                .latest
                .as_ref()
                .map_or_else(|| "none".to_owned(), |l| escape(l.status_label()));
            let completed = s
                .latest_completed
                .as_ref()
                .and_then(|c| c.finished)
                .map_or_else(|| "never".to_owned(), |f| format!("{} ago", ago(now, f)));
            (s.total().to_string(), latest, completed)
        }
        None => (
            "&ndash;".to_owned(),
            "&ndash;".to_owned(),
            "&ndash;".to_owned(),
        ),
    };
    let error = t
        .last_poll
        .as_ref()
        .and_then(|p| p.error.as_ref())
        .map_or_else(String::new, |e| {
            let mut cell = format!("{}: {}", escape(e.reason.as_str()), escape(&e.message));
            if e.reason == Reason::Gone {
                let _ = write!(
                    cell,
                    r#"<br><strong class="hint">What to do:</strong> {}"#,
                    escape(gone_hint(t.kind()))
                );
            }
            cell
        });
    let (word, class) = verdict.label();
    let backups = backups_cell(t);
    let _ = writeln!(
        html,
        "<tr><td>{project}</td><td>{cluster}</td><td>{kind}</td>\
<td><span class=\"{class}\">{word}</span></td><td>{backups}</td><td>{poll}</td><td>{count}</td>\
<td>{latest}</td><td>{completed}</td><td>{error}</td></tr>",
        cluster = escape(&t.target.cluster_name),
        kind = escape(t.kind().as_str()),
    );
}

/// Backups on or off, paused, the policy's interval and the next scheduled snapshot.
fn backups_cell(t: &TargetState) -> String {
    let Some(facts) = t.facts else {
        return "&ndash;".to_owned();
    };
    let mut cell = String::from(if facts.backup_enabled { "on" } else { "off" });
    if facts.paused {
        cell.push_str(", paused");
    }
    if let Some(interval) = t.policy.and_then(|p| p.interval) {
        let _ = write!(cell, ", every {}", every(interval));
    }
    if let Some(next) = t.policy.and_then(|p| p.next_snapshot) {
        let _ = write!(cell, ", next {}", escape(&next.to_string()));
    }
    cell
}

/// A policy interval as people say it: `6h`, `1d`, `7d`.
fn every(interval: Duration) -> String {
    let secs = interval.as_secs();
    if secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else {
        format!("{}m", secs.div_ceil(60))
    }
}

/// A rough human duration between two instants: `42s`, `5m`, `3h 12m`, `2d 4h`.
pub(crate) fn ago(now: Timestamp, then: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::atlas::BackupApi;
    use crate::facts::{BackupPolicy, ClusterFacts};
    use crate::state::{Backups, PollOutcome};
    use crate::summary::{ClusterSummary, CompletedSnapshot, LatestSnapshot};
    use crate::target::{Kind, Target};

    fn polled(name: &str, completed_hours_ago: i64, now: Timestamp) -> TargetState {
        let mut t = TargetState::new(Target {
            project_id: "5b69d0349b15c62cdfc38b78".into(),
            project_name: None,
            cluster_name: name.into(),
            kind: Kind::Dedicated,
            cluster_id: None,
        });
        t.last_poll = Some(PollOutcome {
            at: now,
            duration: Duration::from_millis(5),
            error: None,
        });
        t.backups = Some(Backups {
            summary: Arc::new(ClusterSummary {
                api: BackupApi::Dedicated,
                by_status: [0, 0, 0, 0, 1],
                unknown_status: 0,
                latest: Some(LatestSnapshot {
                    id: "a".into(),
                    status: Some(Status::Completed),
                    status_text: "COMPLETED".into(),
                }),
                latest_completed: Some(CompletedSnapshot {
                    id: "a".into(),
                    finished: Some(now - jiff::SignedDuration::from_hours(completed_hours_ago)),
                    duration: None,
                    size_bytes: None,
                    copy_regions: None,
                }),
                oldest_completed_finished: None,
                failed: Vec::new(),
                oldest_key: None,
            }),
            failures_total: 0,
        });
        t.facts = Some(ClusterFacts {
            cluster_type: None,
            paused: false,
            backup_enabled: true,
        });
        t
    }

    fn every_six_hours(mut t: TargetState) -> TargetState {
        t.policy = Some(BackupPolicy {
            interval: Some(Duration::from_secs(21_600)),
            ..BackupPolicy::default()
        });
        t
    }

    #[test]
    fn staleness_follows_the_policy_and_the_26_hour_default_without_one() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        // Every 6 hours: stale past 1.5 x 6 h + 1 h = 10 h.
        assert_eq!(
            verdict(&every_six_hours(polled("a", 9, now)), now),
            Verdict::Fine
        );
        assert_eq!(
            verdict(&every_six_hours(polled("a", 11, now)), now),
            Verdict::Stale
        );
        assert_eq!(verdict(&polled("a", 25, now), now), Verdict::Fine);
        assert_eq!(verdict(&polled("a", 27, now), now), Verdict::Stale);
        let mut paused = every_six_hours(polled("a", 48, now));
        paused.facts = paused.facts.map(|f| ClusterFacts { paused: true, ..f });
        assert_eq!(verdict(&paused, now), Verdict::Fine);
        let mut off = polled("a", 48, now);
        off.facts = off.facts.map(|f| ClusterFacts {
            backup_enabled: false,
            ..f
        });
        assert_eq!(verdict(&off, now), Verdict::BackupsOff);
    }

    #[test]
    fn problems_are_listed_first_and_counted() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let mut off = polled("Off", 1, now);
        off.facts = off.facts.map(|f| ClusterFacts {
            backup_enabled: false,
            ..f
        });
        let state = ExporterState::new(vec![
            polled("Fine1", 1, now),
            every_six_hours(polled("Stale", 12, now)),
            polled("Fine2", 1, now),
            off,
        ]);
        let html = render(&state, "/metrics", now);
        let at = |name: &str| html.find(&format!("<td>{name}</td>")).unwrap();
        assert!(at("Stale") < at("Off") && at("Off") < at("Fine1") && at("Fine1") < at("Fine2"));
        assert!(html.contains("2 of 4 clusters need attention"));
        assert!(html.contains("on, every 6h"));
        assert!(html.contains(">backups off<"));
    }

    #[test]
    fn markup_from_atlas_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn durations_read_like_a_human_would_say_them() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(ago(now, at("2026-11-22T11:59:18Z")), "42s");
        assert_eq!(ago(now, at("2026-11-22T08:48:00Z")), "3h 12m");
        assert_eq!(ago(now, at("2026-11-20T08:00:00Z")), "2d 4h");
        assert_eq!(ago(now, at("2026-11-23T00:00:00Z")), "0s");
    }
}
