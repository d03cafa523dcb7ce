//! Where the tracer binary is, where test artefacts go, and whether the
//! privileged tests can run at all.

use std::path::{Path, PathBuf};

/// External programs the end-to-end tests run.
pub const TOOLS: &[&str] = &[
    "ip", "nsenter", "unshare", "setpriv", "capsh", "tcpdump", "tshark", "bpftool", "curl", "python3", "ping",
];

/// Set by `cargo xtask test`: a missing precondition is then a failure, not a skip.
pub const NO_SKIP_ENV: &str = "TRACER_TESTS_NO_SKIP";

/// A factor for the tests' time limits (`cargo xtask vm-test` sets it: the guests run on an
/// emulated CPU, several times slower than the host). Default 1.
pub const TIME_SCALE_ENV: &str = "TRACER_TESTS_TIME_SCALE";

/// `limit` times [`TIME_SCALE_ENV`]: how long to wait for something that takes `limit` here.
/// Only limits are scaled, never the time a test waits on purpose, so the scale changes no
/// assertion, only how long a slow machine is given before a test gives up.
pub fn scaled(limit: std::time::Duration) -> std::time::Duration {
    let factor = std::env::var(TIME_SCALE_ENV)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f >= 1.0)
        .unwrap_or(1.0);
    limit.mul_f64(factor)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

/// The tracer under test: `$TRACER_BIN`, else `target/release/tracer` of this workspace.
pub fn tracer_bin() -> PathBuf {
    match std::env::var_os("TRACER_BIN") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("target/release/tracer"),
    }
}

/// A fresh directory for one test's files (pcaps, logs):
/// `target/tracer-tests/<name>`, kept after the run for inspection.
pub fn artifact_dir(name: &str) -> PathBuf {
    let dir = workspace_root().join("target/tracer-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Whether `prog` is an executable in PATH (or an sbin directory).
pub fn have(prog: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|d| is_executable(&d.join(prog)))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why the privileged tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "not root (these tests create network namespaces and load eBPF programs; run `sudo cargo xtask test`)"
                .into(),
        );
    }
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        return Some(format!(
            "missing tools: {} (`cargo xtask test` installs them)",
            missing.join(", ")
        ));
    }
    None
}

/// Returns true when the test may run. Otherwise prints why it is skipped
/// and returns false — or panics when `TRACER_TESTS_NO_SKIP` is set (as
/// `cargo xtask test` does), so that nothing is silently skipped there.
/// A missing tracer binary is always a failure.
pub fn require_privileges(test: &str) -> bool {
    if let Some(reason) = skip_reason() {
        if std::env::var_os(NO_SKIP_ENV).is_some() {
            panic!("{test}: cannot run: {reason}");
        }
        eprintln!("SKIPPED {test}: {reason}");
        return false;
    }
    let bin = tracer_bin();
    assert!(
        is_executable(&bin),
        "{test}: tracer binary {} not found: run `cargo build --release` or set TRACER_BIN",
        bin.display()
    );
    true
}
