//! The text exposition format, written straight into a byte buffer: HELP and TYPE lines,
//! escaped label values, sample values formatted as the prometheus crate formats them, and the
//! lines each family holds for one target.

use std::io::Write as _;
use std::sync::LazyLock;

use crate::atlas::Reason;
use crate::atlas::jobs::{ExportState, JOB_STATES, JobState, RestoreStatus};
use crate::clock::unix_seconds;
use crate::facts::ClusterType;
use crate::snapshot::Status;
use crate::state::TargetState;

use super::families::{Family, FamilySpec, Labels, PerCluster, PerStatus};
use super::labels::Escaped;

/// The statuses in the order their series are written: by label value, as the prometheus
/// crate's registry sorts series.
static STATUSES: LazyLock<[Status; Status::COUNT]> = LazyLock::new(|| {
    let mut all = Status::ALL;
    all.sort_by_key(|s| s.as_str());
    all
});

/// The reasons in the order their series are written.
static REASONS: LazyLock<[Reason; Reason::COUNT]> = LazyLock::new(|| {
    let mut all = Reason::ALL;
    all.sort_by_key(|r| r.as_str());
    all
});

/// A kind of job's states in the order their series are written: by label value.
fn job_states<S: JobState>() -> [S; JOB_STATES] {
    let mut all = S::ALL;
    all.sort_by_key(|s| s.as_str());
    all
}

/// The restore statuses in the order their series are written.
static RESTORE_STATUSES: LazyLock<[RestoreStatus; JOB_STATES]> = LazyLock::new(job_states);

/// The export states in the order their series are written.
static EXPORT_STATES: LazyLock<[ExportState; JOB_STATES]> = LazyLock::new(job_states);

/// Writes the `# HELP` and `# TYPE` lines of a family.
pub(crate) fn header(out: &mut Vec<u8>, spec: &FamilySpec) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(spec.name.as_bytes());
    out.push(b' ');
    escape_help(out, &spec.full_help());
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(spec.name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(spec.kind.as_str().as_bytes());
    out.push(b'\n');
}

/// A HELP text: backslash and newline escaped.
fn escape_help(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// A label value: backslash, newline and double quote escaped.
pub(crate) fn escape(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if memchr::memchr3(b'\\', b'\n', b'"', bytes).is_none() {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' => out.extend_from_slice(b"\\\""),
            _ => out.push(b),
        }
    }
}

/// A sample value as `f64`'s `Display` writes it (what the prometheus crate's encoder
/// writes), with whole numbers through `itoa`, which writes the same digits faster.
pub(crate) fn value(out: &mut Vec<u8>, v: f64) {
    /// Below 2^53 every whole `f64` is exact as an `i64`.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if v.fract() == 0.0 && v.abs() < EXACT && !(v == 0.0 && v.is_sign_negative()) {
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
    } else {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{v}");
    }
}

/// One series of any family: `name{label="value",...} v`.
pub(crate) fn series<const N: usize, F: Labels<N>>(
    out: &mut Vec<u8>,
    family: F,
    values: [&str; N],
    v: f64,
) {
    out.extend_from_slice(family.family().spec().name.as_bytes());
    let mut separator = b'{';
    for (name, value) in F::NAMES.into_iter().zip(values) {
        out.push(separator);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        escape(out, value);
        out.push(b'"');
        separator = b',';
    }
    if N > 0 {
        out.push(b'}');
    }
    out.push(b' ');
    value(out, v);
    out.push(b'\n');
}

/// One series of a per-cluster family: `name{project_id,cluster_name[,extra]} v`. The extra
/// label's value is one of the exporter's own (a status, a reason), which need no escaping (a
/// test checks every one).
fn cluster_series(
    out: &mut Vec<u8>,
    name: &str,
    labels: Escaped,
    extra: Option<(&str, &'static str)>,
    v: f64,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"{project_id=\"");
    out.extend_from_slice(labels.project_id);
    out.extend_from_slice(b"\",cluster_name=\"");
    out.extend_from_slice(labels.cluster_name);
    out.push(b'"');
    if let Some((label, value)) = extra {
        out.push(b',');
        out.extend_from_slice(label.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"} ");
    value(out, v);
    out.push(b'\n');
}

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// Writes the series `family` holds for target `t` (none, one, or one per status or reason),
/// `labels` its label values. `now` (Unix seconds) is read by the age family only.
pub(crate) fn target_lines(
    out: &mut Vec<u8>,
    family: Family,
    t: &TargetState,
    labels: Escaped,
    now: f64,
) {
    let name = family.spec().name;
    let one = |out: &mut Vec<u8>, v: Option<f64>| {
        if let Some(v) = v {
            cluster_series(out, name, labels, None, v);
        }
    };
    let backups = t.backups.as_ref();
    let summary = backups.map(|b| &*b.summary);
    let completed = summary.and_then(|s| s.latest_completed.as_ref());
    let policy = t.policy.as_ref();
    match family {
        Family::ClusterInfo => {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"{project_id=\"");
            out.extend_from_slice(labels.project_id);
            out.extend_from_slice(b"\",project_name=\"");
            escape(out, t.target.project_name.as_deref().unwrap_or(""));
            out.extend_from_slice(b"\",cluster_name=\"");
            out.extend_from_slice(labels.cluster_name);
            out.extend_from_slice(b"\",kind=\"");
            escape(out, t.kind().as_str());
            out.extend_from_slice(b"\",cluster_type=\"");
            escape(
                out,
                ClusterType::label(t.facts.and_then(|f| f.cluster_type)),
            );
            out.extend_from_slice(b"\"} 1\n");
        }
        Family::PerStatus(PerStatus::Snapshots) => {
            if let Some(s) = summary {
                for status in *STATUSES {
                    let v = s.count(status) as f64;
                    cluster_series(out, name, labels, Some(("status", status.as_str())), v);
                }
            }
        }
        Family::PerStatus(PerStatus::LatestStatus) => {
            if let Some(latest) = summary.and_then(|s| s.latest.as_ref()) {
                for status in *STATUSES {
                    let v = flag(latest.status == Some(status));
                    cluster_series(out, name, labels, Some(("status", status.as_str())), v);
                }
            }
        }
        Family::PerStatus(PerStatus::RestoreJobs) => {
            if let Some(jobs) = &t.restores {
                for status in *RESTORE_STATUSES {
                    let v = jobs.summary.count(status) as f64;
                    cluster_series(out, name, labels, Some(("status", status.as_str())), v);
                }
            }
        }
        Family::ExportJobs => {
            if let Some(jobs) = &t.exports {
                for state in *EXPORT_STATES {
                    let v = jobs.summary.count(state) as f64;
                    cluster_series(out, name, labels, Some(("state", state.as_str())), v);
                }
            }
        }
        Family::TargetErrors => {
            for reason in *REASONS {
                let v = t.errors(reason) as f64;
                cluster_series(out, name, labels, Some(("reason", reason.as_str())), v);
            }
        }
        Family::PerCluster(family) => {
            let finished = completed.and_then(|c| c.finished).map(unix_seconds);
            let v = match family {
                PerCluster::LatestCompletedTimestamp => finished,
                PerCluster::LatestCompletedAge => finished.map(|f| (now - f).max(0.0)),
                PerCluster::LatestCompletedDuration => {
                    completed.and_then(|c| c.duration).map(|d| d.as_secs_f64())
                }
                PerCluster::LatestCompletedSize => {
                    completed.and_then(|c| c.size_bytes).map(|b| b as f64)
                }
                PerCluster::OldestCompletedTimestamp => summary
                    .and_then(|s| s.oldest_completed_finished)
                    .map(unix_seconds),
                PerCluster::Failures => backups.map(|b| b.failures_total as f64),
                PerCluster::TargetUp => t.up().map(flag),
                PerCluster::TargetLastSuccess => t.last_success.map(unix_seconds),
                PerCluster::TargetPollDuration => {
                    t.last_poll.as_ref().map(|p| p.duration.as_secs_f64())
                }
                PerCluster::BackupEnabled => t.facts.map(|f| flag(f.backup_enabled)),
                PerCluster::Paused => t.facts.map(|f| flag(f.paused)),
                PerCluster::NextSnapshot => policy.and_then(|p| p.next_snapshot).map(unix_seconds),
                PerCluster::PolicyInterval => {
                    policy.and_then(|p| p.interval).map(|d| d.as_secs_f64())
                }
                PerCluster::PolicyRetention => {
                    policy.and_then(|p| p.retention).map(|d| d.as_secs_f64())
                }
                PerCluster::PolicyRestoreWindow => policy
                    .and_then(|p| p.restore_window)
                    .map(|d| d.as_secs_f64()),
                PerCluster::PolicyCopyRegions => policy.and_then(|p| p.copy_regions).map(f64::from),
                PerCluster::PolicyExportInterval => policy
                    .and_then(|p| p.export_interval)
                    .map(|d| d.as_secs_f64()),
                PerCluster::LatestCompletedCopyRegions => {
                    completed.and_then(|c| c.copy_regions).map(f64::from)
                }
                PerCluster::RestoreLastSuccess => t
                    .restores
                    .as_ref()
                    .and_then(|j| j.summary.last_success)
                    .map(unix_seconds),
                PerCluster::RestoreFailures => t.restores.as_ref().map(|j| j.failures_total as f64),
                PerCluster::ExportLastSuccess => t
                    .exports
                    .as_ref()
                    .and_then(|j| j.summary.last_success)
                    .map(unix_seconds),
                PerCluster::ExportFailures => t.exports.as_ref().map(|j| j.failures_total as f64),
            };
            one(out, v);
        }
        // Families of the whole exporter or of a project: written elsewhere.
        Family::Unlabelled(_)
        | Family::ApiSunset
        | Family::RateLimitRemaining
        | Family::BuildInfo
        | Family::SourceUp
        | Family::AlertOpen
        | Family::ShardInfo => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn shown(v: f64) -> String {
        let mut out = Vec::new();
        value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_read_as_the_prometheus_crate_writes_them() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            1_795_348_800.0,
            1_795_348_800.25,
            0.1 + 0.2,
            1e-7,
            9_007_199_254_740_992.0,
            1e21,
            f64::NAN,
            f64::INFINITY,
        ] {
            assert_eq!(shown(v), v.to_string(), "{v:?}");
        }
    }

    #[test]
    fn label_values_are_escaped_as_the_format_asks() {
        let mut out = Vec::new();
        escape(&mut out, "a\\b\"c\nd");
        assert_eq!(out, b"a\\\\b\\\"c\\nd");
    }

    /// The extra label values a per-cluster series is written with unescaped.
    #[test]
    fn statuses_reasons_and_states_need_no_escaping() {
        let values = STATUSES
            .iter()
            .map(|s| s.as_str())
            .chain(REASONS.iter().map(|r| r.as_str()))
            .chain(RESTORE_STATUSES.iter().map(|s| s.as_str()))
            .chain(EXPORT_STATES.iter().map(|s| s.as_str()));
        for value in values {
            let mut escaped = Vec::new();
            escape(&mut escaped, value);
            assert_eq!(escaped, value.as_bytes(), "{value:?}");
        }
    }

    #[test]
    fn statuses_and_reasons_are_written_in_label_order() {
        assert!(STATUSES.windows(2).all(|w| w[0].as_str() < w[1].as_str()));
        assert!(REASONS.windows(2).all(|w| w[0].as_str() < w[1].as_str()));
        assert!(
            RESTORE_STATUSES
                .windows(2)
                .all(|w| w[0].as_str() < w[1].as_str())
        );
        assert!(
            EXPORT_STATES
                .windows(2)
                .all(|w| w[0].as_str() < w[1].as_str())
        );
    }
}
