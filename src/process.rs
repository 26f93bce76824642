//! The standard `process_*` metrics of this process (Linux only).
//!
//! The prometheus crate's process collector serves them all, but it keeps
//! `process_cpu_seconds_total` in an integer counter set to `(utime + stime) / CLK_TCK` in
//! integer arithmetic: whole seconds, so a `rate()` over a few minutes of a mostly idle
//! exporter reads 0, then jumps. [`ProcessMetrics`] passes the crate's other families through
//! and exports that one itself, from the same clock ticks in `/proc/self/stat`, as fractional
//! seconds.

use std::collections::HashMap;

use prometheus::core::{Collector, Desc};
use prometheus::process_collector::ProcessCollector;
use prometheus::proto::{Counter, Metric, MetricFamily, MetricType};

/// The family this module exports itself, with the crate's name and help.
const CPU_NAME: &str = "process_cpu_seconds_total";
const CPU_HELP: &str = "Total user and system CPU time spent in seconds.";

/// `AT_CLKTCK` in the auxiliary vector: the frequency `times()` and `/proc` count ticks in.
const AT_CLKTCK: usize = 17;
/// The value of `sysconf(_SC_CLK_TCK)` on every Linux architecture, for when the auxiliary
/// vector cannot be read.
const DEFAULT_CLK_TCK: u64 = 100;

/// The process collector: the prometheus crate's families, with `process_cpu_seconds_total`
/// in fractional seconds.
pub struct ProcessMetrics {
    standard: ProcessCollector,
    cpu_desc: Desc,
    ticks_per_second: u64,
}

impl ProcessMetrics {
    /// The collector of this process.
    pub fn for_self() -> prometheus::Result<ProcessMetrics> {
        Ok(ProcessMetrics {
            standard: ProcessCollector::for_self(),
            cpu_desc: Desc::new(
                CPU_NAME.to_owned(),
                CPU_HELP.to_owned(),
                Vec::new(),
                HashMap::new(),
            )?,
            ticks_per_second: std::fs::read("/proc/self/auxv")
                .ok()
                .and_then(|auxv| clock_ticks_from_auxv(&auxv))
                .unwrap_or(DEFAULT_CLK_TCK),
        })
    }

    /// User plus system CPU time of this process so far, in seconds; `None` when
    /// `/proc/self/stat` cannot be read.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let ticks = cpu_ticks_from_stat(&stat)?;
        Some(ticks as f64 / self.ticks_per_second as f64)
    }

    fn cpu_family(&self) -> Option<MetricFamily> {
        let mut counter = Counter::default();
        counter.set_value(self.cpu_seconds()?);
        let mut metric = Metric::default();
        metric.set_counter(counter);
        let mut family = MetricFamily::default();
        family.set_name(CPU_NAME.to_owned());
        family.set_help(CPU_HELP.to_owned());
        family.set_field_type(MetricType::COUNTER);
        family.set_metric(vec![metric]);
        Some(family)
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.standard
            .desc()
            .into_iter()
            .filter(|d| d.fq_name != CPU_NAME)
            .chain(std::iter::once(&self.cpu_desc))
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.standard
            .collect()
            .into_iter()
            .filter(|f| f.name() != CPU_NAME)
            .chain(self.cpu_family())
            .collect()
    }
}

/// `utime + stime` in clock ticks from the text of `/proc/<pid>/stat`: fields 14 and 15,
/// counted after the command name, which is in parentheses and may hold spaces or `)`.
fn cpu_ticks_from_stat(stat: &str) -> Option<u64> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    // The first field after the name is field 3 (`state`).
    let mut fields = after_comm.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// `AT_CLKTCK` from the bytes of `/proc/self/auxv`: pairs of native-endian words (type, value).
fn clock_ticks_from_auxv(auxv: &[u8]) -> Option<u64> {
    const WORD: usize = std::mem::size_of::<usize>();
    let word = |b: &[u8]| -> Option<usize> { Some(usize::from_ne_bytes(b.try_into().ok()?)) };
    auxv.chunks_exact(2 * WORD)
        .filter_map(|pair| Some((word(&pair[..WORD])?, word(&pair[WORD..])?)))
        .find(|(kind, _)| *kind == AT_CLKTCK)
        .map(|(_, value)| value as u64)
        .filter(|ticks| *ticks > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use prometheus::{Registry, TextEncoder};

    use super::*;

    #[test]
    fn cpu_ticks_are_user_plus_system_even_when_the_name_holds_parentheses() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    157 43 0 0 20 0 9 0 123456 987654321 4321 18446744073709551615";
        assert_eq!(cpu_ticks_from_stat(stat), Some(200));
        assert_eq!(cpu_ticks_from_stat("4242 (short) S 1 2"), None);
        assert_eq!(cpu_ticks_from_stat("garbage"), None);
    }

    #[test]
    fn the_clock_tick_rate_is_read_from_the_auxiliary_vector() {
        let mut auxv = Vec::new();
        for (kind, value) in [(6usize, 4096usize), (AT_CLKTCK, 250), (0, 0)] {
            auxv.extend_from_slice(&kind.to_ne_bytes());
            auxv.extend_from_slice(&value.to_ne_bytes());
        }
        assert_eq!(clock_ticks_from_auxv(&auxv), Some(250));
        assert_eq!(clock_ticks_from_auxv(&auxv[..16]), None);
        assert_eq!(clock_ticks_from_auxv(&[]), None);
        let own = clock_ticks_from_auxv(&std::fs::read("/proc/self/auxv").unwrap());
        assert!(own.is_some_and(|t| t > 0), "{own:?}");
    }

    /// A counter of whole seconds cannot move by less than 1: this one moves by the CPU
    /// actually burned. Busy work until 50 ms of CPU show, with a generous bound for a loaded
    /// machine.
    #[test]
    fn cpu_seconds_move_by_a_fraction_of_a_second() {
        let process = ProcessMetrics::for_self().unwrap();
        let before = process.cpu_seconds().unwrap();
        let bound = Instant::now() + Duration::from_secs(20);
        let mut moved = 0.0;
        let mut x = 0u64;
        while moved < 0.05 {
            assert!(Instant::now() < bound, "50 ms of CPU never showed: {moved}");
            for i in 0..100_000u64 {
                x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
            }
            moved = process.cpu_seconds().unwrap() - before;
        }
        assert!(moved < 1.0, "moved by {moved} s");
    }

    #[test]
    fn the_families_are_the_standard_ones_with_cpu_seconds_once_as_a_float_counter() {
        let registry = Registry::new();
        registry
            .register(Box::new(ProcessMetrics::for_self().unwrap()))
            .unwrap();
        let text = TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        let cpu: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("process_cpu_seconds_total"))
            .collect();
        assert_eq!(cpu.len(), 1, "{text}");
        let value: f64 = cpu[0].rsplit_once(' ').unwrap().1.parse().unwrap();
        assert!(value > 0.0, "{text}");
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
        for family in [
            "process_open_fds",
            "process_max_fds",
            "process_virtual_memory_bytes",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_threads",
        ] {
            assert!(text.contains(&format!("\n{family} ")), "{family}: {text}");
        }
    }
}
