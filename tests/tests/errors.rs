//! Errors: a message on stderr starting `tracer: `, exit status 1, never a
//! panic — for an unknown interface, missing privileges, unreadable or
//! malformed capture files, and a machine without tracefs or BTF.

use std::{path::Path, process::Command, time::Duration};

use anyhow::{Result, ensure};
use tracer_tests::{Finished, NetnsPair, artifact_dir, process::run, require_privileges, tracer_bin};

const T: Duration = Duration::from_secs(30);

/// Exit 1, `tracer: ` message containing every one of `needles`
/// (case-insensitive if `any_case`), nothing panicked.
fn expect_error(f: &Finished, needles: &[&str]) -> Result<()> {
    f.expect_no_panic()?;
    f.expect_code(1)?;
    ensure!(
        f.stderr.contains("tracer: "),
        "error message does not start with `tracer: `:\n{}",
        f.dump()
    );
    for n in needles {
        ensure!(f.stderr.contains(n), "stderr does not mention {n:?}:\n{}", f.dump());
    }
    Ok(())
}

#[test]
fn unknown_interface() -> Result<()> {
    if !require_privileges("unknown_interface") {
        return Ok(());
    }
    let pair = NetnsPair::new("trt")?;
    let mut c = pair.client_cmd(tracer_bin());
    c.args(["-i", "nosuchif0", "-nn"]);
    let f = run("tracer -i nosuchif0", c, T)?;
    expect_error(&f, &["nosuchif0", "No such device"])
}

#[test]
fn not_root() -> Result<()> {
    if !require_privileges("not_root") {
        return Ok(());
    }
    let pair = NetnsPair::new("trt")?;
    let mut c = pair.client_cmd("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(tracer_bin())
        .args(["-i", &pair.client_if, "-nn"]);
    let f = run("tracer as nobody", c, T)?;
    f.expect_no_panic()?;
    f.expect_code(1)?;
    let lower = f.stderr.to_lowercase();
    ensure!(
        lower.contains("permission") || f.stderr.contains("CAP_BPF"),
        "stderr mentions neither permission nor CAP_BPF:\n{}",
        f.dump()
    );
    ensure!(
        f.stderr.contains("tracer: "),
        "error message does not start with `tracer: `:\n{}",
        f.dump()
    );
    Ok(())
}

#[test]
fn read_missing_file() -> Result<()> {
    if !require_privileges("read_missing_file") {
        return Ok(());
    }
    let dir = artifact_dir("read_missing_file");
    let mut c = Command::new(tracer_bin());
    c.arg("-r").arg(dir.join("does-not-exist.pcap"));
    let f = run("tracer -r missing", c, T)?;
    expect_error(&f, &["No such file or directory"])
}

#[test]
fn read_garbage_file() -> Result<()> {
    if !require_privileges("read_garbage_file") {
        return Ok(());
    }
    let dir = artifact_dir("read_garbage_file");
    let file = dir.join("garbage.pcap");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, garbage)?;
    let mut c = Command::new(tracer_bin());
    c.arg("-r").arg(&file);
    let f = run("tracer -r garbage", c, T)?;
    expect_error(&f, &["unknown file format"])
}

/// `sh -c SCRIPT` in a private mount namespace (so the mounts it makes are
/// invisible to the rest of the machine), inside the client's network namespace.
fn in_private_mounts(pair: &NetnsPair, script: &str) -> Command {
    let mut c = pair.client_cmd("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", script]);
    c
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn no_tracefs() -> Result<()> {
    if !require_privileges("no_tracefs") {
        return Ok(());
    }
    let pair = NetnsPair::new("trt")?;
    // The state tracepoint (--states) is what needs tracefs.
    // Hide tracefs (and debugfs, which holds a second view of it) behind
    // empty read-only tmpfs mounts, then drop CAP_SYS_ADMIN so that the
    // tracer cannot mount tracefs itself.
    let hide_debugfs = if Path::new("/sys/kernel/debug/tracing/events").exists() {
        "mount -t tmpfs -o ro none /sys/kernel/debug && "
    } else {
        ""
    };
    let script = format!(
        "mount -t tmpfs -o ro none /sys/kernel/tracing && {hide_debugfs}\
         exec capsh --drop=cap_sys_admin -- -c 'exec \"$0\" -i \"$1\" -nn --states' {} {}",
        shell_quote(&tracer_bin()),
        pair.client_if
    );
    let f = run("tracer without tracefs", in_private_mounts(&pair, &script), T)?;
    expect_error(&f, &[])?;
    ensure!(
        f.stderr.to_lowercase().contains("tracefs"),
        "stderr does not name tracefs:\n{}",
        f.dump()
    );
    Ok(())
}

#[test]
fn no_btf() -> Result<()> {
    if !require_privileges("no_btf") {
        return Ok(());
    }
    let pair = NetnsPair::new("trt")?;
    let script = format!(
        "mount -t tmpfs -o ro none /sys/kernel/btf && exec {} -i {} -nn",
        shell_quote(&tracer_bin()),
        pair.client_if
    );
    let f = run("tracer without BTF", in_private_mounts(&pair, &script), T)?;
    expect_error(&f, &["BTF"])
}
