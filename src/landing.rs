//! The landing page at `/`: what this is, where the metrics are, and how each target fared,
//! problems first.
//!
//! Each target gets one verdict, judged as the shipped alerts judge it: down, backups off,
//! failed (the newest snapshot failed), never backed up, stale (the newest completed snapshot
//! is older than 1.5 policy intervals plus an hour, or 26 hours without a policy; a paused
//! cluster is never stale), or fine. A target whose snapshots are fine still needs attention
//! when one of the optional sources says so: a failed restore job still listed, an auto export
//! whose last success is older than 1.5 export intervals plus an hour, or an open Atlas backup
//! alert on the cluster; the row says which in its last cell. Targets with a problem are listed
//! first, each group in config order.
//!
//! The page stays small whatever the number of clusters: it shows at most [`DEFAULT_LIMIT`]
//! rows (problems first) and counts the rest, while the headline counts every cluster. The
//! query string narrows and widens it ([`Filter`]): `?q=` a substring of the project id,
//! project or cluster name, `?status=problems`, `?limit=` up to [`MAX_LIMIT`] rows.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

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
    /// A restore job still listed failed.
    RestoreFailed,
    /// Auto export is on and the last successful export is older than its policy allows.
    ExportOverdue,
    /// Atlas has an open backup alert on the cluster.
    AtlasAlert,
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
            Verdict::RestoreFailed => ("restore failed", "down"),
            Verdict::ExportOverdue => ("export overdue", "down"),
            Verdict::AtlasAlert => ("Atlas alert open", "down"),
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
        .as_deref()
        .and_then(|p| p.interval)
        .map_or(DEFAULT_STALE_AFTER, |i| i.mul_f64(1.5) + STALE_GRACE)
}

/// Judges one target at `now`: its snapshots first, then the optional sources.
pub fn verdict(t: &TargetState, now: Timestamp) -> Verdict {
    match snapshot_verdict(t, now) {
        Verdict::Fine => source_verdict(t, now).unwrap_or(Verdict::Fine),
        other => other,
    }
}

/// What the optional sources say needs attention, worst first; `None` when nothing does.
fn source_verdict(t: &TargetState, now: Timestamp) -> Option<Verdict> {
    if failed_restores(t) > 0 {
        Some(Verdict::RestoreFailed)
    } else if export_overdue(t, now).is_some() {
        Some(Verdict::ExportOverdue)
    } else if open_alerts(t).next().is_some() {
        Some(Verdict::AtlasAlert)
    } else {
        None
    }
}

/// Failed restore jobs still listed.
fn failed_restores(t: &TargetState) -> u64 {
    t.restores
        .as_ref()
        .map_or(0, |j| j.summary.failed_ids.len() as u64)
}

/// With auto export on and the export jobs read, when the last successful export was
/// (`Some(None)`: none listed) if that is longer ago than 1.5 export intervals plus an hour
/// (the alerts' policy default); `None` when it is not.
fn export_overdue(t: &TargetState, now: Timestamp) -> Option<Option<Timestamp>> {
    let interval = t.policy.as_deref().and_then(|p| p.export_interval)?;
    let exports = t.exports.as_ref()?;
    let limit = interval.mul_f64(1.5) + STALE_GRACE;
    match exports.summary.last_success {
        None => Some(None),
        Some(last) => {
            let age = Duration::try_from(now.duration_since(last)).unwrap_or(Duration::ZERO);
            (age > limit).then_some(Some(last))
        }
    }
}

/// The event types of the open Atlas backup alerts on this cluster.
fn open_alerts(t: &TargetState) -> impl Iterator<Item = &'static str> + '_ {
    t.alerts
        .iter()
        .flat_map(|a| a.open.iter())
        .filter(|a| a.cluster_name == *t.target.cluster_name)
        .map(|a| a.event_type)
}

/// Why a target the optional sources flag needs attention, in a few words.
fn source_reason(t: &TargetState, verdict: Verdict, now: Timestamp) -> Option<String> {
    match verdict {
        Verdict::RestoreFailed => Some(format!(
            "{} failed restore job(s) listed",
            failed_restores(t)
        )),
        Verdict::ExportOverdue => Some(match export_overdue(t, now).flatten() {
            Some(last) => format!("last successful export {} ago", ago(now, last)),
            None => "no successful export listed".to_owned(),
        }),
        Verdict::AtlasAlert => Some(format!(
            "open Atlas alert: {}",
            open_alerts(t).collect::<Vec<_>>().join(", ")
        )),
        _ => None,
    }
}

/// Judges one target's snapshots at `now`.
fn snapshot_verdict(t: &TargetState, now: Timestamp) -> Verdict {
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

/// Rows shown when `?limit` is not given: enough for every problem of a bad day, small enough
/// that the page of 10,000 clusters stays well under 1 MB (a row is about 600 bytes).
pub const DEFAULT_LIMIT: usize = 200;
/// The most rows `?limit` may ask for (about 3 MB of HTML).
pub const MAX_LIMIT: usize = 5000;
/// The longest `?q` accepted, in characters: longer than any project id, project or cluster name.
pub const MAX_QUERY_CHARS: usize = 200;
/// How much of a bad parameter value the error message repeats, in characters.
const ECHO_CHARS: usize = 40;

/// Which targets `?status` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Every target (`all`, the default).
    #[default]
    All,
    /// Only the targets that need attention (`problems`).
    Problems,
}

impl StatusFilter {
    fn as_str(self) -> &'static str {
        match self {
            StatusFilter::All => "all",
            StatusFilter::Problems => "problems",
        }
    }
}

/// What the page shows, from its query string: `?q=TEXT&status=all|problems&limit=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Kept targets contain this in their project id, project name or cluster name, ignoring
    /// case; empty keeps all.
    pub q: String,
    /// Which verdicts are kept.
    pub status: StatusFilter,
    /// At most this many rows, problems first.
    pub limit: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            q: String::new(),
            status: StatusFilter::All,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// A query parameter the page cannot honour; the server answers 400 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadQuery {
    /// `limit` is not a whole number from 1 to [`MAX_LIMIT`].
    #[error("bad limit {0:?}: give a whole number of rows from 1 to {MAX_LIMIT}")]
    Limit(String),
    /// `status` is neither `all` nor `problems`.
    #[error("bad status {0:?}: give all or problems")]
    Status(String),
    /// `q` is longer than [`MAX_QUERY_CHARS`].
    #[error("q is too long: at most {MAX_QUERY_CHARS} characters")]
    QueryTooLong,
}

impl Filter {
    /// Reads a query string (without the `?`). Unknown parameters are ignored, an empty value
    /// means the default (what an empty form field sends), and of a repeated parameter the
    /// last one counts.
    pub fn parse(query: Option<&str>) -> Result<Filter, BadQuery> {
        let mut filter = Filter::default();
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let value = value.trim();
            match &*name {
                "q" if value.chars().count() > MAX_QUERY_CHARS => {
                    return Err(BadQuery::QueryTooLong);
                }
                "q" => value.clone_into(&mut filter.q),
                "status" => {
                    filter.status = match value {
                        "" | "all" => StatusFilter::All,
                        "problems" => StatusFilter::Problems,
                        other => return Err(BadQuery::Status(echo(other))),
                    }
                }
                "limit" if value.is_empty() => filter.limit = DEFAULT_LIMIT,
                "limit" => {
                    filter.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| BadQuery::Limit(echo(value)))?;
                }
                _ => {}
            }
        }
        Ok(filter)
    }

    /// This filter as a query string, `?` included, with another limit.
    fn href(&self, limit: usize) -> String {
        let mut query = url::form_urlencoded::Serializer::for_suffix(String::from("?"), 1);
        if !self.q.is_empty() {
            query.append_pair("q", &self.q);
        }
        if self.status != StatusFilter::All {
            query.append_pair("status", self.status.as_str());
        }
        query.append_pair("limit", &limit.to_string());
        query.finish()
    }
}

/// The start of a bad value, for an error message.
fn echo(value: &str) -> String {
    value.chars().take(ECHO_CHARS).collect()
}

/// Whether `t` is named by `needle`, which is already lower case.
fn matches(t: &TargetState, needle: &str) -> bool {
    needle.is_empty()
        || contains_folded(&t.target.project_id, needle)
        || contains_folded(&t.target.cluster_name, needle)
        || t.target
            .project_name
            .as_deref()
            .is_some_and(|name| contains_folded(name, needle))
}

/// Whether `haystack` contains the lower-case `needle`, ignoring case; without allocating
/// when the needle is ASCII (an ASCII byte never occurs inside a multi-byte UTF-8 character).
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        true
    } else if needle.is_ascii() {
        haystack
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    } else {
        haystack.to_lowercase().contains(needle)
    }
}

/// Counts of targets by how the page groups them.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    problems: usize,
    pending: usize,
    healthy: usize,
}

impl Tally {
    fn add(&mut self, verdict: Verdict) {
        match verdict {
            v if v.is_problem() => self.problems += 1,
            Verdict::Pending => self.pending += 1,
            _ => self.healthy += 1,
        }
    }

    fn total(self) -> usize {
        self.problems + self.pending + self.healthy
    }

    /// `12 with problems, 9,800 healthy`, leaving out the empty groups.
    fn describe(self) -> String {
        [
            (self.problems, "with problems"),
            (self.pending, "pending"),
            (self.healthy, "healthy"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{} {what}", thousands(n)))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// `9812` as `9,812`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Renders the page for a request's query string (`None` without one): problems first, at
/// most [`Filter::limit`] rows, a count of the rest. Everything that comes from config, from
/// Atlas or from the query is HTML-escaped.
pub fn render(
    state: &ExporterState,
    telemetry_path: &str,
    now: Timestamp,
    query: Option<&str>,
) -> Result<String, BadQuery> {
    Ok(render_filtered(
        state,
        telemetry_path,
        now,
        &Filter::parse(query)?,
    ))
}

/// Renders the page showing what `filter` keeps.
pub fn render_filtered(
    state: &ExporterState,
    telemetry_path: &str,
    now: Timestamp,
    filter: &Filter,
) -> String {
    let shown_at_most = filter.limit.min(state.targets().len());
    let mut html = String::with_capacity(8192 + shown_at_most * 768);
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
form.filter label {{ margin-right: 1em; }}
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
    let needle = filter.q.to_lowercase();
    let (mut all, mut kept) = (Tally::default(), Tally::default());
    // Problems first, each group in config order: the first `limit` of each group is all the
    // page can show, so no more than that is held, whatever the number of clusters.
    let mut problem_rows: Vec<(Verdict, Arc<TargetState>)> = Vec::new();
    let mut other_rows: Vec<(Verdict, Arc<TargetState>)> = Vec::new();
    for t in state.targets() {
        let v = verdict(&t, now);
        all.add(v);
        if (filter.status == StatusFilter::Problems && !v.is_problem()) || !matches(&t, &needle) {
            continue;
        }
        kept.add(v);
        let rows = if v.is_problem() {
            &mut problem_rows
        } else {
            &mut other_rows
        };
        if rows.len() < filter.limit {
            rows.push((v, t));
        }
    }
    let _ = writeln!(
        html,
        "<p>{} of {} clusters need attention.</p>",
        thousands(all.problems),
        thousands(all.total())
    );
    filter_form(&mut html, filter);
    if !filter.q.is_empty() || filter.status != StatusFilter::All {
        let _ = writeln!(
            html,
            "<p>{} of {} clusters match the filter.</p>",
            thousands(kept.total()),
            thousands(all.total())
        );
    }
    html.push_str(
        "<table>\n<tr><th>Project</th><th>Cluster</th><th>Kind</th><th>Verdict</th>\
<th>Backups</th><th>Last poll</th><th>Snapshots</th><th>Latest status</th>\
<th>Latest completed</th><th>Last error</th></tr>\n",
    );
    let mut rest = kept;
    for (verdict, t) in problem_rows.iter().chain(&other_rows).take(filter.limit) {
        row(&mut html, t, *verdict, now);
        match verdict {
            v if v.is_problem() => rest.problems -= 1,
            Verdict::Pending => rest.pending -= 1,
            _ => rest.healthy -= 1,
        }
    }
    html.push_str("</table>\n");
    if rest.total() > 0 {
        let _ = write!(
            html,
            "<p class=\"more\">And {} more clusters ({}): narrow them with the filter above \
(<code>?q=</code>, <code>?status=problems</code>)",
            thousands(rest.total()),
            rest.describe()
        );
        if filter.limit < MAX_LIMIT {
            let more = kept.total().min(MAX_LIMIT);
            let _ = write!(
                html,
                r#", or <a href="{}">show {} rows</a>"#,
                escape(&filter.href(more)),
                thousands(more)
            );
        }
        html.push_str(".</p>\n");
    } else if kept.total() == 0 && all.total() > 0 {
        html.push_str("<p>No cluster matches the filter.</p>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

/// The filter as a GET form that reloads the page: no script needed.
fn filter_form(html: &mut String, filter: &Filter) {
    let selected = |s: StatusFilter| if filter.status == s { " selected" } else { "" };
    let _ = writeln!(
        html,
        r#"<form method="get" class="filter">
<label>Search <input type="search" name="q" value="{q}" maxlength="{MAX_QUERY_CHARS}" placeholder="project id, project or cluster name"></label>
<label>Show <select name="status"><option value="all"{all}>all clusters</option><option value="problems"{problems}>problems only</option></select></label>
<label>Rows <input type="number" name="limit" value="{limit}" min="1" max="{MAX_LIMIT}"></label>
<button type="submit">Filter</button>
</form>"#,
        q = escape(&filter.q),
        all = selected(StatusFilter::All),
        problems = selected(StatusFilter::Problems),
        limit = filter.limit,
    );
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
    let error = match source_reason(t, verdict, now) {
        Some(reason) if error.is_empty() => escape(&reason),
        _ => error,
    };
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
    if let Some(interval) = t.policy.as_deref().and_then(|p| p.interval) {
        let _ = write!(cell, ", every {}", every(interval));
    }
    if let Some(next) = t.policy.as_deref().and_then(|p| p.next_snapshot) {
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
                failures: None,
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
        t.policy = Some(std::sync::Arc::new(BackupPolicy {
            interval: Some(Duration::from_secs(21_600)),
            ..BackupPolicy::default()
        }));
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
        let html = render(&state, "/metrics", now, None).unwrap();
        let at = |name: &str| html.find(&format!("<td>{name}</td>")).unwrap();
        assert!(at("Stale") < at("Off") && at("Off") < at("Fine1") && at("Fine1") < at("Fine2"));
        assert!(html.contains("2 of 4 clusters need attention"));
        assert!(html.contains("on, every 6h"));
        assert!(html.contains(">backups off<"));
    }

    #[test]
    fn a_failed_restore_an_overdue_export_or_an_open_atlas_alert_needs_attention() {
        use crate::atlas::alerts::{BackupAlerts, OpenBackupAlert};
        use crate::atlas::jobs::{ExportState, Job, JobStatus, RestoreStatus};
        use crate::job_summary::JobsSummary;
        use crate::state::Jobs;
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let days_ago = |d: i64| now - jiff::SignedDuration::from_hours(24 * d);
        fn job<S>(id: &str, state: S, finished: Option<Timestamp>) -> Job<S> {
            Job {
                id: id.into(),
                status: JobStatus::Known(state),
                finished,
                delivery_type: None,
            }
        }

        let mut restore = polled("Restore", 1, now);
        restore.restores = Some(Arc::new(Jobs {
            summary: JobsSummary::of([
                job("a", RestoreStatus::Failed, None),
                job("b", RestoreStatus::Completed, Some(days_ago(9))),
            ]),
            failures_total: 1,
        }));
        assert_eq!(verdict(&restore, now), Verdict::RestoreFailed);

        let export = |last_days_ago: i64| {
            let mut t = polled("Export", 1, now);
            t.policy = Some(std::sync::Arc::new(BackupPolicy {
                export_interval: Some(Duration::from_secs(7 * 86_400)),
                ..BackupPolicy::default()
            }));
            t.exports = Some(Arc::new(Jobs {
                summary: JobsSummary::of([job(
                    "e",
                    ExportState::Successful,
                    Some(days_ago(last_days_ago)),
                )]),
                failures_total: 0,
            }));
            t
        };
        assert_eq!(verdict(&export(10), now), Verdict::Fine, "within 1.5 weeks");
        let overdue = export(40);
        assert_eq!(verdict(&overdue, now), Verdict::ExportOverdue);
        let mut off = export(40);
        off.policy = None;
        assert_eq!(verdict(&off, now), Verdict::Fine, "no auto export");

        let alerts = Arc::new(BackupAlerts {
            open: [("Alerted", "CPS_OPLOG_BEHIND"), ("", "CPS_SNAPSHOT_BEHIND")]
                .into_iter()
                .map(|(c, e)| OpenBackupAlert {
                    cluster_name: c.into(),
                    event_type: e,
                })
                .collect(),
            ..BackupAlerts::default()
        });
        let mut alerted = polled("Alerted", 1, now);
        alerted.alerts = Some(Arc::clone(&alerts));
        let mut other = polled("Other", 1, now);
        other.alerts = Some(alerts);
        assert_eq!(verdict(&alerted, now), Verdict::AtlasAlert);
        assert_eq!(verdict(&other, now), Verdict::Fine, "not its alert");

        // A snapshot problem comes first.
        let mut stale_too = every_six_hours(polled("Stale", 12, now));
        stale_too.restores = restore.restores.clone();
        assert_eq!(verdict(&stale_too, now), Verdict::Stale);

        let state = ExporterState::new(vec![restore, overdue, alerted, other]);
        let html = render(&state, "/metrics", now, None).unwrap();
        assert!(html.contains("3 of 4 clusters need attention"), "{html}");
        assert!(
            html.contains(">restore failed<") && html.contains("1 failed restore job(s) listed")
        );
        assert!(
            html.contains(">export overdue<") && html.contains("last successful export 40d 0h ago")
        );
        assert!(
            html.contains(">Atlas alert open<")
                && html.contains("open Atlas alert: CPS_OPLOG_BEHIND<")
        );
    }

    #[test]
    fn markup_from_atlas_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    /// `clusters` clusters, 50 a project (`Team-0`, `Team-1`, ...), named `c0`, `c1`, ...; every
    /// `problem_every`th one stale.
    fn fleet(clusters: usize, problem_every: usize, now: Timestamp) -> ExporterState {
        ExporterState::new(
            (0..clusters)
                .map(|i| {
                    let stale = i % problem_every == problem_every - 1;
                    let mut t = polled(&format!("c{i}"), if stale { 48 } else { 1 }, now);
                    let mut target = t.target.clone();
                    target.project_id = format!("{:024x}", i / 50).into();
                    target.project_name = Some(format!("Team-{}", i / 50).into());
                    t.target = target;
                    t
                })
                .collect(),
        )
    }

    /// Each row's cluster and verdict, in page order.
    fn rows(html: &str) -> Vec<(&str, &str)> {
        html.lines()
            .filter(|l| l.starts_with("<tr><td>"))
            .map(|l| {
                let cells: Vec<&str> = l.split("</td><td>").collect();
                let verdict = cells[3]
                    .split('>')
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap();
                (cells[1], verdict)
            })
            .collect()
    }

    #[test]
    fn ten_thousand_clusters_fit_in_under_a_megabyte_problems_first_and_the_rest_counted() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        // 12 stale clusters among 10,000: the page shows them all first, then healthy ones.
        let few = fleet(10_000, 800, now);
        let html = render(&few, "/metrics", now, None).unwrap();
        assert!(html.len() < 1_000_000, "{} bytes", html.len());
        let shown = rows(&html);
        assert_eq!(shown.len(), DEFAULT_LIMIT);
        assert!(shown[..12].iter().all(|(_, v)| *v == "stale"), "{shown:?}");
        assert!(shown[12..].iter().all(|(_, v)| *v == "ok"), "{shown:?}");
        assert_eq!(shown[0].0, "c799");
        assert!(html.contains("<p>12 of 10,000 clusters need attention.</p>"));
        assert!(
            html.contains("And 9,800 more clusters (9,800 healthy): narrow them"),
            "{html}"
        );
        assert!(html.contains(r#"<a href="?limit=5000">show 5,000 rows</a>"#));

        // 250 problems: more than the page holds; the headline still counts every one.
        let many = fleet(10_000, 40, now);
        let html = render(&many, "/metrics", now, None).unwrap();
        assert!(html.len() < 1_000_000, "{} bytes", html.len());
        let shown = rows(&html);
        assert_eq!(shown.len(), DEFAULT_LIMIT);
        assert!(shown.iter().all(|(_, v)| *v == "stale"));
        assert!(html.contains("<p>250 of 10,000 clusters need attention.</p>"));
        assert!(html.contains("And 9,800 more clusters (50 with problems, 9,750 healthy)"));
    }

    #[test]
    fn the_query_narrows_the_rows_by_name_or_id_ignoring_case_and_by_status() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let state = fleet(10_000, 800, now);
        let html = render(&state, "/metrics", now, Some("q=C9999")).unwrap();
        assert_eq!(rows(&html), [("c9999", "ok")]);
        assert!(html.contains("<p>12 of 10,000 clusters need attention.</p>"));
        assert!(html.contains("<p>1 of 10,000 clusters match the filter.</p>"));
        assert!(!html.contains("more clusters"));

        // Team-12 and Team-120 to Team-129, by project name; then by project id.
        let html = render(&state, "/metrics", now, Some("q=team-12&limit=5000")).unwrap();
        assert_eq!(rows(&html).len(), 11 * 50);
        let html = render(&state, "/metrics", now, Some("q=00000000000000000000000C")).unwrap();
        assert_eq!(rows(&html).len(), 50);
        assert!(
            rows(&html)
                .iter()
                .all(|(c, _)| c[1..].parse::<usize>().unwrap() / 50 == 12)
        );

        let html = render(&state, "/metrics", now, Some("status=problems")).unwrap();
        assert_eq!(rows(&html).len(), 12);
        assert!(rows(&html).iter().all(|(_, v)| *v == "stale"));
        assert!(html.contains(r#"<option value="problems" selected>"#));

        let html = render(
            &state,
            "/metrics",
            now,
            Some("q=team-1&status=problems&limit=3"),
        )
        .unwrap();
        assert_eq!(rows(&html).len(), 3);
        // Stale: c799, c1599, ... in Team-15, 31, 47, ..., 191; seven of them say "team-1".
        assert!(
            html.contains("And 4 more clusters (4 with problems)"),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="?q=team-1&amp;status=problems&amp;limit=7">show 7 rows</a>"#),
            "{html}"
        );

        let html = render(&state, "/metrics", now, Some("q=nothing-like-this")).unwrap();
        assert!(rows(&html).is_empty());
        assert!(html.contains("No cluster matches the filter."));
    }

    #[test]
    fn bad_values_are_refused_with_a_reason_and_unknown_parameters_ignored() {
        for (query, error) in [
            ("limit=0", BadQuery::Limit("0".into())),
            ("limit=5001", BadQuery::Limit("5001".into())),
            ("limit=-1", BadQuery::Limit("-1".into())),
            ("limit=ten", BadQuery::Limit("ten".into())),
            (
                "limit=99999999999999999999999",
                BadQuery::Limit("99999999999999999999999".into()),
            ),
            ("status=broken", BadQuery::Status("broken".into())),
            (&format!("q={}", "x".repeat(201)), BadQuery::QueryTooLong),
        ] {
            assert_eq!(Filter::parse(Some(query)), Err(error), "{query}");
        }
        assert_eq!(
            BadQuery::Limit("ten".into()).to_string(),
            r#"bad limit "ten": give a whole number of rows from 1 to 5000"#
        );
        assert_eq!(
            Filter::parse(Some(&format!("limit={}", "9".repeat(100)))),
            Err(BadQuery::Limit("9".repeat(40)))
        );
        assert_eq!(Filter::parse(None), Ok(Filter::default()));
        assert_eq!(
            Filter::parse(Some("q=&status=&limit=&sort=name&x")),
            Ok(Filter::default())
        );
        assert_eq!(
            Filter::parse(Some("q=a+b%21&status=problems&limit=7&limit=9")),
            Ok(Filter {
                q: "a b!".into(),
                status: StatusFilter::Problems,
                limit: 9,
            })
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_query_is_escaped_wherever_the_page_repeats_it() {
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let state = fleet(300, 800, now);
        let html = render(
            &state,
            "/metrics",
            now,
            Some("q=%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E&limit=1"),
        )
        .unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains(r#"value="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;""#));
        assert!(html.contains("<p>0 of 300 clusters match the filter.</p>"));
        let html = render(&state, "/metrics", now, Some("q=c1%22%3E&limit=1")).unwrap();
        assert!(html.contains(r#"value="c1&quot;&gt;""#), "{html}");
        assert!(!html.contains(r#"c1">"#));
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
