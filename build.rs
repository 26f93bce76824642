//! Records the git revision and the rustc version for `atlas_snapshot_exporter_build_info`.

use std::process::Command;

fn main() {
    let revision = std::env::var("ATLAS_SNAPSHOT_EXPORTER_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| command_output("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = command_output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ATLAS_SNAPSHOT_EXPORTER_REVISION={revision}");
    println!("cargo:rustc-env=ATLAS_SNAPSHOT_EXPORTER_RUSTC_VERSION={rustc_version}");
    println!("cargo:rerun-if-env-changed=ATLAS_SNAPSHOT_EXPORTER_REVISION");
    for path in [".git/HEAD", ".git/refs/heads"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}
