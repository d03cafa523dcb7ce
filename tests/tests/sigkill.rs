//! A SIGKILLed tracer leaves nothing behind: bpf links die with the
//! process, so no XDP or TC/TCX program stays attached and its programs
//! are freed. On a kernel without TCX (6.1), where the tracer says it uses
//! classic tc, its tc filters do survive the SIGKILL (as documented); one more
//! start and stop of the tracer must then leave no filter, no clsact qdisc it
//! created, no XDP program and no link on the interface.
//!
//! bpftool 7.1 (Debian 12) does not list TCX programs in `bpftool net
//! show`; they are found through `bpftool link show` (link type 11 = tcx),
//! by the ids of the programs the tracer loaded.

use std::{
    collections::BTreeSet,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::Value;
use tracer_tests::{Bg, NetnsPair, process::run_ok, require_privileges, tracer_bin};

const T: Duration = Duration::from_secs(20);

/// Ids of loaded programs whose name starts with `tracer`.
fn tracer_prog_ids() -> Result<BTreeSet<u64>> {
    let mut c = Command::new("bpftool");
    c.args(["-j", "prog", "show"]);
    let out = run_ok("bpftool prog show", c, T)?;
    let progs: Value = serde_json::from_str(&out.stdout).context("bpftool -j prog show")?;
    Ok(progs
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["name"].as_str().is_some_and(|n| n.starts_with("tracer")))
                .filter_map(|p| p["id"].as_u64())
                .collect()
        })
        .unwrap_or_default())
}

/// What `bpftool net show dev IF` lists inside the namespace: (kind, entry) pairs.
fn net_progs(pair: &NetnsPair) -> Result<Vec<String>> {
    let mut c = pair.client_cmd("bpftool");
    c.args(["-j", "net", "show", "dev", &pair.client_if]);
    let out = run_ok("bpftool net show", c, T)?;
    let v: Value = serde_json::from_str(&out.stdout).context("bpftool -j net show")?;
    let mut found = Vec::new();
    for section in v.as_array().into_iter().flatten() {
        for (kind, entries) in section.as_object().into_iter().flatten() {
            for e in entries.as_array().into_iter().flatten() {
                found.push(format!("{kind}: {e}"));
            }
        }
    }
    Ok(found)
}

/// `bpftool link show` entries whose program is one of `progs`, as (link type, program id).
fn links_of(progs: &BTreeSet<u64>) -> Result<Vec<(String, u64)>> {
    let mut c = Command::new("bpftool");
    c.args(["-j", "link", "show"]);
    let out = run_ok("bpftool link show", c, T)?;
    let v: Value = serde_json::from_str(&out.stdout).context("bpftool -j link show")?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let prog = l["prog_id"].as_u64()?;
            progs.contains(&prog).then(|| {
                let kind = match &l["type"] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) if n.as_u64() == Some(11) => "tcx".to_owned(),
                    other => other.to_string(),
                };
                (kind, prog)
            })
        })
        .collect())
}

/// Classic (clsact) TC filters on the egress hook.
fn tc_filters(pair: &NetnsPair) -> Result<String> {
    tc_filters_on(pair, "egress")
}

/// Classic TC filters on one hook (`ingress` or `egress`).
fn tc_filters_on(pair: &NetnsPair, hook: &str) -> Result<String> {
    let mut c = Command::new("tc");
    c.args(["-n", &pair.client, "filter", "show", "dev", &pair.client_if, hook]);
    Ok(run_ok("tc filter show", c, T)?.stdout)
}

/// The interface's qdiscs (`tc qdisc show`).
fn qdiscs(pair: &NetnsPair) -> Result<String> {
    let mut c = Command::new("tc");
    c.args(["-n", &pair.client, "qdisc", "show", "dev", &pair.client_if]);
    Ok(run_ok("tc qdisc show", c, T)?.stdout)
}

/// The start-up line of a tracer that attaches with classic tc.
const CLASSIC_TC: &str = "attaching with classic tc";

fn link_show(pair: &NetnsPair) -> Result<String> {
    let mut c = Command::new("ip");
    c.args(["-n", &pair.client, "-d", "link", "show", "dev", &pair.client_if]);
    Ok(run_ok("ip link show", c, T)?.stdout)
}

#[test]
fn sigkill_leaves_nothing_attached() -> Result<()> {
    if !require_privileges("sigkill") {
        return Ok(());
    }
    let pair = NetnsPair::new("trt")?;
    let before = tracer_prog_ids()?;
    let mut tracer = {
        let mut c = pair.client_cmd(tracer_bin());
        // XDP (not the default TCX ingress): its attachment must go away too.
        c.args(["--xdp", "-i", &pair.client_if, "-nn", "--states"]);
        Bg::spawn("tracer", c)?
    };
    tracer.wait_stderr("listening on", Duration::from_secs(30))?;

    // While it runs, the same checks must see it: otherwise they prove nothing.
    let ours: BTreeSet<u64> = tracer_prog_ids()?.difference(&before).copied().collect();
    ensure!(
        !ours.is_empty(),
        "no program named tracer* appeared in `bpftool prog show` while the tracer ran"
    );
    let running = net_progs(&pair)?;
    ensure!(
        running.iter().any(|e| e.starts_with("xdp")),
        "while running, bpftool net show lists no XDP program on {}: {running:?}",
        pair.client_if
    );
    let classic = tracer.stderr().contains(CLASSIC_TC);
    let links = links_of(&ours)?;
    if classic {
        ensure!(
            links.iter().any(|(k, _)| k == "xdp") && !tc_filters(&pair)?.trim().is_empty(),
            "while running, no XDP link of the tracer's programs or no egress tc filter: {links:?}"
        );
    } else {
        ensure!(
            links.iter().any(|(k, _)| k == "xdp") && links.iter().any(|(k, _)| k == "tcx"),
            "while running, bpftool link show lists no XDP and TCX links of the tracer's programs: {links:?}"
        );
    }
    ensure!(
        link_show(&pair)?.contains("xdp"),
        "while running, ip link shows no xdp on {}",
        pair.client_if
    );

    tracer.signal(libc::SIGKILL)?;
    let f = tracer.finish(T)?;
    ensure!(f.code().is_none(), "tracer was not killed by the signal: {}", f.status);
    f.expect_no_panic()?;

    if classic {
        // Classic tc filters outlive their process; the next start and stop removes them.
        ensure!(
            !tc_filters(&pair)?.trim().is_empty(),
            "classic tc: the killed tracer's egress filter is gone already (expected it left behind)"
        );
        let mut again = {
            let mut c = pair.client_cmd(tracer_bin());
            c.args(["-i", &pair.client_if, "-nn"]);
            Bg::spawn("tracer (again)", c)?
        };
        again.wait_stderr("listening on", Duration::from_secs(30))?;
        let f = again.interrupt(T)?;
        f.expect_no_panic()?;
        f.expect_code(0)?;
        for hook in ["ingress", "egress"] {
            let tc = tc_filters_on(&pair, hook)?;
            ensure!(
                tc.trim().is_empty(),
                "{hook} tc filters left after a SIGKILL and one more run:\n{tc}"
            );
        }
        let q = qdiscs(&pair)?;
        ensure!(!q.contains("clsact"), "the clsact qdisc tracer created is left:\n{q}");
    }
    let link = link_show(&pair)?;
    ensure!(!link.contains("xdp"), "XDP still attached after SIGKILL:\n{link}");
    let left = net_progs(&pair)?;
    ensure!(
        left.is_empty(),
        "bpftool net show still lists programs after SIGKILL: {left:?}"
    );
    let tc = tc_filters(&pair)?;
    ensure!(tc.trim().is_empty(), "TC egress filters left after SIGKILL:\n{tc}");
    let links = links_of(&ours)?;
    ensure!(
        links.is_empty(),
        "links of the killed tracer's programs remain: {links:?}"
    );

    // Programs are freed once their last reference (the links) is gone.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let still: Vec<u64> = tracer_prog_ids()?.intersection(&ours).copied().collect();
        if still.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            bail!("programs {still:?} of the killed tracer are still loaded 3 s after SIGKILL");
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
