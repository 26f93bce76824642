//! The `atlas-snapshot-exporter` binary: everything lives in the library; see [`atlas_snapshot_exporter::cli`].

// jemalloc, not glibc's malloc: at 10,000 clusters the exporter's resident memory was 57 MiB
// polling and 90 MiB at peak under concurrent scrapes with glibc (whose per-thread arenas keep
// what scrapes and polls free), 45 and 69 MiB with jemalloc, which returns freed pages to the
// system after a few seconds; and a poll cycle took 14 % less CPU (docs/BENCHMARKS.md).
//
// Its options are built in by .cargo/config.toml (`JEMALLOC_SYS_WITH_MALLOC_CONF`): one arena,
// not 4 per core, and freed pages returned after a second by one background thread, not
// after ten seconds by whichever thread allocates next. A poll frees megabytes of pages and
// listings every second; with the defaults, at 10,000 clusters, 16 MiB stayed resident beyond
// the 17 MiB the heap held. Returning them at once (`dirty_decay_ms:0`) saved 11 MiB more but
// cost 60 % more CPU per cycle and made gzip scrapes 5 times slower. A build that does not read
// .cargo/config.toml gets jemalloc's defaults; `_RJEM_MALLOC_CONF` overrides either.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    atlas_snapshot_exporter::cli::main()
}
