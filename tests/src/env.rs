//! Where the tracer binary is, where test artefacts go, and whether the
//! privileged tests can run at all.

use std::path::{Path, PathBuf};

/// External programs the end-to-end tests run.
pub const TOOLS: &[&str] = &[
    "ip", "nsenter", "unshare", "setpriv", "capsh", "tcpdump", "tshark", "bpftool", "curl", "python3",
];

/// Set by `cargo xtask test`: a missing precondition is then a failure, not a skip.
pub const NO_SKIP_ENV: &str = "TRACER_TESTS_NO_SKIP";

/// A factor (a number ≥ 1, default 1) for every timeout and deadline of the
/// tests, for slow machines: a kernel booted under emulation (QEMU's TCG runs
/// Python's start-up and the tracer's program loading several times slower)
/// takes e.g. `TRACER_TESTS_TIME_SCALE=6`. What a test measures is never scaled.
pub const TIME_SCALE_ENV: &str = "TRACER_TESTS_TIME_SCALE";

/// The value of [`TIME_SCALE_ENV`] (1 when unset; an unusable value is an error).
pub fn time_scale() -> f64 {
    static SCALE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *SCALE.get_or_init(|| match std::env::var(TIME_SCALE_ENV) {
        Err(_) => 1.0,
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(f) if (1.0..=1000.0).contains(&f) => f,
            _ => panic!("{TIME_SCALE_ENV}={v:?}: expected a number from 1 to 1000"),
        },
    })
}

/// `d` times [`time_scale`]: a timeout or deadline of the tests.
pub fn scaled(d: std::time::Duration) -> std::time::Duration {
    d.mul_f64(time_scale())
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

/// Where the tests put their files instead of `target/tracer-tests` (`cargo xtask vm-test`
/// gives each kernel's guest its own, since the guests share target/ and run side by side).
pub const ARTIFACTS_ENV: &str = "TRACER_TESTS_ARTIFACTS";

/// A fresh directory for one test's files (pcaps, logs):
/// `target/tracer-tests/<name>` (or under `$TRACER_TESTS_ARTIFACTS`), kept after the run for
/// inspection.
pub fn artifact_dir(name: &str) -> PathBuf {
    let base =
        std::env::var_os(ARTIFACTS_ENV).map_or_else(|| workspace_root().join("target/tracer-tests"), PathBuf::from);
    let dir = base.join(name);
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
