//! Where tests and benches find the `cuadra-scenario` binary. Cargo only tells a package the paths of its own
//! binaries (`CARGO_BIN_EXE_*`), so [`binary`] builds this package's binary into the caller's target directory
//! and profile (a no-op when it is fresh) and returns its path. `CUADRA_SCENARIO_BIN` overrides the path.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of a fresh `cuadra-scenario` binary built with the calling test's or bench's profile.
///
/// # Panics
/// When the binary cannot be built: a test or bench that needs it cannot run without it.
pub fn binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| match std::env::var_os("CUADRA_SCENARIO_BIN") {
        Some(p) => PathBuf::from(p),
        None => build().unwrap_or_else(|e| panic!("cannot build cuadra-scenario: {e}")),
    })
    .clone()
}

fn build() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current executable: {e}"))?;
    // Tests and benches run from `<target>/<profile>/deps/`; binaries live in `<target>/<profile>/`.
    let mut dir = exe.parent().ok_or("the executable has no folder")?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().ok_or("deps has no parent")?;
    }
    let profile_dir = dir.to_path_buf();
    let target_dir = profile_dir
        .parent()
        .ok_or("the profile folder has no parent")?;
    let profile: OsString = match profile_dir.file_name() {
        Some(n) if n == "debug" => "dev".into(),
        Some(n) => n.to_os_string(),
        None => return Err("the profile folder has no name".into()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("the testkit has no workspace folder")?;
    let out = Command::new(cargo)
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", target_dir)
        .args([
            "build",
            "--quiet",
            "-p",
            "cuadra-testkit",
            "--bin",
            "cuadra-scenario",
        ])
        .arg("--profile")
        .arg(&profile)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(profile_dir.join(format!("cuadra-scenario{}", std::env::consts::EXE_SUFFIX)))
}
