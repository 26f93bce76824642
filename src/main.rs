//! The `atlas-snapshot-exporter` binary: everything lives in the library; see [`atlas_snapshot_exporter::cli`].

// jemalloc, not glibc's malloc: at 10,000 clusters the exporter's resident memory was 57 MiB
// polling and 90 MiB at peak under concurrent scrapes with glibc (whose per-thread arenas keep
// what scrapes and polls free), 45 and 69 MiB with jemalloc, which returns freed pages to the
// system after a few seconds; and a poll cycle took 14 % less CPU (docs/BENCHMARKS.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    atlas_snapshot_exporter::cli::main()
}
