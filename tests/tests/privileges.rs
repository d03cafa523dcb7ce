//! Least privilege: `-Z nobody` switches to nobody once the capture is set up, holds no
//! capability from then on (its /proc status, read while it captures) — only CAP_NET_ADMIN
//! where classic tc filters must be removed at the end, which they then are — and writes a
//! capture rotated by `-C 1 -W 3` into files nobody owns, each readable by tshark. And a
//! non-root user holding only the README's file capabilities captures and traces socket states;
//! without CAP_NET_ADMIN the one error line names it.

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

/// The capabilities the README lists for a non-root user.
const FILE_CAPS: &str = "cap_bpf,cap_perfmon,cap_net_admin,cap_dac_read_search";

/// A copy of the tracer with `caps` as file capabilities, in a directory nobody can reach;
/// None (with the reason printed) where this file system keeps no capabilities.
fn capable_copy(dir: &OpenDir, caps: &str) -> Result<Option<PathBuf>> {
    // File capabilities are ignored on a nosuid mount.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let nosuid = mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((*f.get(4)?, *f.get(5)?))
        })
        .filter(|(at, _)| dir.0.starts_with(at))
        .max_by_key(|(at, _)| at.len())
        .is_some_and(|(_, opts)| opts.split(',').any(|o| o == "nosuid"));
    if nosuid {
        eprintln!("file_capabilities: skipped, {} is on a nosuid mount", dir.0.display());
        return Ok(None);
    }
    let copy = dir.0.join(format!("tracer-{}", caps.len()));
    std::fs::copy(tracer_bin(), &copy)?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))?;
    let mut c = std::process::Command::new("setcap");
    c.arg(format!("{caps}+ep")).arg(&copy);
    let out = tracer_tests::run("setcap", c, scaled(Duration::from_secs(10)))?;
    if out.code() != Some(0) {
        eprintln!(
            "file_capabilities: skipped, setcap fails on {} ({})",
            dir.0.display(),
            out.stderr.trim()
        );
        return Ok(None);
    }
    Ok(Some(copy))
}

/// `setpriv` running `prog` as nobody (uid and gid 65534), no supplementary group.
fn as_nobody(pair: &NetnsPair, prog: &std::path::Path) -> std::process::Command {
    let mut c = pair.client_cmd("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(prog);
    c
}

#[test]
fn file_capabilities_are_enough_and_a_missing_one_is_named() -> Result<()> {
    if !require_privileges("file_capabilities_are_enough_and_a_missing_one_is_named") {
        return Ok(());
    }
    let dir = OpenDir(std::env::temp_dir().join(format!("tracer-caps-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755))?;
    let Some(full) = capable_copy(&dir, FILE_CAPS)? else {
        return Ok(());
    };
    let Some(no_admin) = capable_copy(&dir, "cap_bpf,cap_perfmon,cap_dac_read_search")? else {
        return Ok(());
    };
    let pair = NetnsPair::new("tpf")?;

    // Packets: two echo requests and their replies.
    let mut capture = {
        let mut c = as_nobody(&pair, &full);
        c.args(["-i", &pair.client_if, "-nn", "-c", "4", "icmp"]);
        Bg::spawn("tracer as nobody", c)?
    };
    capture.wait_stderr("listening on", scaled(Duration::from_secs(30)))?;
    let mut ping = pair.client_cmd("ping");
    ping.args(["-q", "-n", "-c", "2", "-i", "0.2"])
        .arg(pair.server_v4.to_string());
    run_ok("ping", ping, scaled(Duration::from_secs(20)))?;
    let done = capture.finish(scaled(Duration::from_secs(20)))?;
    done.expect_no_panic()?;
    done.expect_code(0)?;
    let lines: Vec<&str> = done.stdout.lines().filter(|l| l.contains(" ICMP echo ")).collect();
    ensure!(lines.len() == 4, "as nobody with {FILE_CAPS}: {}", done.dump());

    // Socket states: a refused connect of curl's, named.
    let mut states = {
        let mut c = as_nobody(&pair, &full);
        c.args(["states", "--comm", "curl"]);
        Bg::spawn("tracer states as nobody", c)?
    };
    states.wait_stderr("tracing TCP socket states", scaled(Duration::from_secs(30)))?;
    let mut curl = pair.client_cmd("curl");
    curl.args(["-s", "-m", "5"])
        .arg(format!("http://{}:9/", pair.server_v4));
    let _refused = tracer_tests::run("curl", curl, scaled(Duration::from_secs(20)))?;
    states.wait_stdout("SYN_SENT", scaled(Duration::from_secs(10)))?;
    let done = states.interrupt(scaled(Duration::from_secs(20)))?;
    done.expect_no_panic()?;
    done.expect_code(0)?;
    ensure!(
        done.stdout
            .lines()
            .any(|l| l.contains("CLOSE -> SYN_SENT") && l.contains(" curl")),
        "tracer states as nobody: {}",
        done.dump()
    );

    // Without CAP_NET_ADMIN: one line naming it.
    let mut c = as_nobody(&pair, &no_admin);
    c.args(["-i", &pair.client_if, "-c", "1"]);
    let done = tracer_tests::run("tracer without CAP_NET_ADMIN", c, scaled(Duration::from_secs(30)))?;
    done.expect_no_panic()?;
    done.expect_code(1)?;
    ensure!(
        done.stderr.lines().count() == 1 && done.stderr.contains("(missing CAP_NET_ADMIN)"),
        "without CAP_NET_ADMIN: {}",
        done.stderr
    );
    Ok(())
}
