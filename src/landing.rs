//! The landing page at `/`: what this is, where the metrics are, and how each target fared.

use std::fmt::Write;

use jiff::Timestamp;

use crate::atlas::{Reason, gone_hint};
use crate::build_info;
use crate::state::{ExporterState, TargetState};

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
    html.push_str(
        "<table>\n<tr><th>Project</th><th>Cluster</th><th>Kind</th><th>Last poll</th>\
<th>Snapshots</th><th>Latest status</th><th>Latest completed</th><th>Last error</th></tr>\n",
    );
    for t in state.targets() {
        row(&mut html, &t, now);
    }
    html.push_str("</table>\n</body>\n</html>\n");
    html
}

fn row(html: &mut String, t: &TargetState, now: Timestamp) {
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
    let _ = writeln!(
        html,
        "<tr><td>{project}</td><td>{cluster}</td><td>{kind}</td><td>{poll}</td><td>{count}</td>\
<td>{latest}</td><td>{completed}</td><td>{error}</td></tr>",
        cluster = escape(&t.target.cluster_name),
        kind = escape(t.kind().as_str()),
    );
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
mod tests {
    use super::*;

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
