//! The `atlas-snapshot-exporter` binary.

fn main() {}
