//! Running commands and finding programs.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

/// Adds the sbin directories to PATH (ip, bpftool and capsh live there and
/// a user's PATH may lack them), for this process and everything it runs.
pub fn extend_path() {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    let before = dirs.len();
    for d in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        if !dirs.iter().any(|x| x == Path::new(d)) {
            dirs.push(d.into());
        }
    }
    if dirs.len() != before
        && let Ok(p) = env::join_paths(dirs)
    {
        // SAFETY: called first thing in main, before any thread exists.
        unsafe { env::set_var("PATH", p) };
    }
}

/// The executable `prog` in PATH, if any.
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|d| d.join(prog)).find(|p| is_executable(p))
}

pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The cargo that runs us (so nested builds use the same toolchain).
pub fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The workspace root (xtask/..).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Where cargo puts what it builds: $CARGO_TARGET_DIR (relative to the workspace when relative),
/// else target/ in the workspace.
pub fn target_dir() -> PathBuf {
    let root = root();
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d))
}

/// Runs `cmd` with inherited stdio; fails with `what` unless it exits 0.
pub fn status(what: &str, cmd: &mut Command) -> Result<()> {
    let st = cmd
        .status()
        .with_context(|| format!("{what}: cannot run {:?}", cmd.get_program()))?;
    if !st.success() {
        bail!("{what} failed ({st})");
    }
    Ok(())
}

/// Runs `cmd` and returns its stdout; fails with its stderr's first line.
pub fn output(what: &str, cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "{what} failed ({}): {}",
            out.status,
            err.lines().next().unwrap_or("").trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
