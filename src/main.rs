//! The `atlas-snapshot-exporter` binary: everything lives in the library; see [`atlas_snapshot_exporter::cli`].

fn main() -> std::process::ExitCode {
    atlas_snapshot_exporter::cli::main()
}
