//! Version, git revision and compiler of this build.

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision the binary was built from, or `unknown`.
pub const REVISION: &str = env!("ATLAS_SNAPSHOT_EXPORTER_REVISION");
/// The rustc version that built it.
pub const RUSTC_VERSION: &str = env!("ATLAS_SNAPSHOT_EXPORTER_RUSTC_VERSION");
