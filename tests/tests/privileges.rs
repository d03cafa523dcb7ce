//! Least privilege: `-Z nobody` switches to nobody once the capture is set up, holds no
//! capability from then on (its /proc status, read while it captures) — only CAP_NET_ADMIN
//! where classic tc filters must be removed at the end, which they then are — and writes a
//! capture rotated by `-C 1 -W 3` into files nobody owns, each readable by tshark.

use std::{
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::PathBuf,
    thread,
    time::Duration,
};

use anyhow::{Context as _, Result, ensure};
use tracer_tests::{
    Bg, NetnsPair,
    env::scaled,
    process::{run_ok, tshark_count},
    require_privileges, tracer_bin,
};

/// A directory anyone may write to, removed on drop.
struct OpenDir(PathBuf);

impl Drop for OpenDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A field of /proc/PID/status ("CapEff:\t0000000000000000").
fn status_field(pid: i32, name: &str) -> Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/PID/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
        .with_context(|| format!("no {name} in /proc/{pid}/status"))
}

/// nobody's uid, from the password database.
fn nobody_uid() -> Result<u32> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"nobody")).then(|| f.get(2)?.parse().ok())?
        })
        .context("no user nobody in /etc/passwd")
}

/// CAP_NET_ADMIN's bit in the /proc status masks.
const NET_ADMIN: u64 = 1 << 12;
/// What the tracer says when it attaches with classic tc (forced by `TRACER_TC_ATTACH`).
const CLASSIC_NOTE: &str = "attaching with classic tc";

#[test]
fn relinquish_to_nobody_writes_a_rotated_capture_without_capabilities() -> Result<()> {
    if !require_privileges("relinquish_to_nobody_writes_a_rotated_capture_without_capabilities") {
        return Ok(());
    }
    relinquish("tpz", false)
}

#[test]
fn relinquish_with_classic_tc_keeps_only_net_admin_and_cleans_up() -> Result<()> {
    if !require_privileges("relinquish_with_classic_tc_keeps_only_net_admin_and_cleans_up") {
        return Ok(());
    }
    relinquish("tpc", true)
}

fn relinquish(prefix: &str, classic: bool) -> Result<()> {
    let nobody = nobody_uid()?;
    let dir = OpenDir(std::env::temp_dir().join(format!("tracer-z-{prefix}-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777))?;
    let pair = NetnsPair::new(prefix)?;
    let mut tracer = {
        let mut c = pair.client_cmd(tracer_bin());
        c.args(["-i", &pair.client_if, "-Z", "nobody", "-C", "1", "-W", "3", "-w"])
            .arg(dir.0.join("r"));
        if classic {
            c.env("TRACER_TC_ATTACH", "netlink");
        }
        Bg::spawn("tracer", c)?
    };
    tracer.wait_stderr("listening on", scaled(Duration::from_secs(30)))?;
    let pid = tracer.pid();
    let uids = status_field(pid, "Uid")?;
    let gids = status_field(pid, "Gid")?;
    let (eff, prm, bnd) = (
        status_field(pid, "CapEff")?,
        status_field(pid, "CapPrm")?,
        status_field(pid, "CapBnd")?,
    );
    // Classic tc on this kernel even without forcing it (no TCX).
    let classic_used = tracer.stderr().contains(CLASSIC_NOTE);
    ensure!(
        !classic || classic_used,
        "TRACER_TC_ATTACH=netlink but no classic tc note:\n{}",
        tracer.stderr()
    );
    // 2 × 2500 × 1458 bytes of records: about 7.3 MB, three files' worth and more.
    let mut ping = pair.client_cmd("ping");
    ping.args(["-q", "-n", "-f", "-s", "1400", "-c", "2500"])
        .arg(pair.server_v4.to_string());
    run_ok("ping", ping, scaled(Duration::from_secs(60)))?;
    thread::sleep(Duration::from_millis(500));
    let done = tracer.interrupt(scaled(Duration::from_secs(20)))?;
    done.expect_no_panic()?;
    done.expect_code(0)?;

    ensure!(
        uids.split_whitespace().all(|u| u == nobody.to_string()),
        "after -Z nobody the uids are {uids:?}, not nobody's {nobody}"
    );
    ensure!(
        !gids.split_whitespace().any(|g| g == "0"),
        "after -Z nobody the gids are {gids:?}"
    );
    let want = if classic_used { NET_ADMIN } else { 0 };
    for (set, v) in [("CapEff", &eff), ("CapPrm", &prm), ("CapBnd", &bnd)] {
        ensure!(
            u64::from_str_radix(v, 16) == Ok(want),
            "{set} is {v} after -Z nobody, not {want:016x} (classic tc: {classic_used})"
        );
    }
    if classic_used {
        for hook in ["ingress", "egress"] {
            let mut tc = pair.client_cmd("tc");
            tc.args(["filter", "show", "dev", &pair.client_if, hook]);
            let left = run_ok("tc filter show", tc, scaled(Duration::from_secs(10)))?;
            ensure!(
                left.stdout.trim().is_empty(),
                "classic tc filters left on {hook} after -Z nobody:\n{}\n{}",
                left.stdout,
                done.stderr
            );
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    names.sort();
    ensure!(names == ["r0", "r1", "r2"], "the tracer left {names:?}");
    for n in &names {
        let p = dir.0.join(n);
        let owner = std::fs::metadata(&p)?.uid();
        ensure!(owner == nobody, "{n} is owned by uid {owner}, not nobody ({nobody})");
        ensure!(tshark_count(&p)? > 0, "tshark reads no packet from {n}");
    }
    Ok(())
}

#[test]
fn relinquish_to_an_unknown_user_is_one_clear_error() -> Result<()> {
    if !require_privileges("relinquish_to_an_unknown_user_is_one_clear_error") {
        return Ok(());
    }
    let pair = NetnsPair::new("tpu")?;
    let mut c = pair.client_cmd(tracer_bin());
    c.args(["-i", &pair.client_if, "-Z", "no-such-user-here", "-c", "1"]);
    let done = tracer_tests::run("tracer", c, scaled(Duration::from_secs(30)))?;
    done.expect_no_panic()?;
    done.expect_code(1)?;
    ensure!(
        done.stderr.trim_end().ends_with("-Z no-such-user-here: no such user"),
        "stderr: {}",
        done.stderr
    );
    Ok(())
}
