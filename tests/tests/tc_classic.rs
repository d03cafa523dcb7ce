//! Classic tc attachment (clsact qdisc + cls_bpf filters), what tracer uses
//! where the kernel has no TCX (before 6.6). `TRACER_TC_ATTACH=netlink`
//! forces it on any kernel, so these tests cover it on a TCX kernel too.
//!
//! - the capture prints tcpdump's lines in both directions;
//! - a normal exit (SIGINT, `-c`, an error after attaching) leaves no
//!   filter and no qdisc it added, and keeps a user's own clsact qdisc and
//!   filters, which keep seeing packets while tracer's run in front of them;
//! - SIGKILL leaves the filters (and the qdisc); the next start removes them,
//!   and its stop the qdisc (also when that start uses TCX);
//! - two tracers on one interface never remove each other's filters, not
//!   even when one was killed and a third one cleans up after it.

use std::{
    collections::BTreeSet,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use tracer_tests::{
    Bg, NetnsPair, artifact_dir,
    lines::{match_per_direction, packet_lines, split_ts, summary_count},
    process::{Finished, run, run_ok},
    require_privileges, tracer_bin,
};

const START: Duration = Duration::from_secs(60);
const STOP: Duration = Duration::from_secs(30);
const T: Duration = Duration::from_secs(20);
const FORCE: (&str, &str) = ("TRACER_TC_ATTACH", "netlink");
const NOTE: &str = "attaching with classic tc (clsact qdisc, bpf filters)";

/// One filter line of `tc filter show`: hook, pref, kind, and for cls_bpf
/// the program name and id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TcFilter {
    hook: &'static str,
    pref: u32,
    kind: String,
    name: String,
    id: u64,
}

/// Filters on the client interface's ingress and egress hooks (the lines with a handle).
fn filters(pair: &NetnsPair) -> Result<Vec<TcFilter>> {
    let mut out = Vec::new();
    for hook in ["ingress", "egress"] {
        let mut c = Command::new("tc");
        c.args(["-n", &pair.client, "filter", "show", "dev", &pair.client_if, hook]);
        let text = run_ok("tc filter show", c, T)?.stdout;
        for line in text
            .lines()
            .filter(|l| l.starts_with("filter ") && l.contains(" handle "))
        {
            let w: Vec<&str> = line.split_whitespace().collect();
            let after = |key: &str| w.iter().position(|t| *t == key).and_then(|i| w.get(i + 1)).copied();
            let pref = after("pref")
                .and_then(|p| p.parse().ok())
                .context(format!("no pref: {line}"))?;
            let kind = w
                .iter()
                .position(|t| *t == "pref")
                .and_then(|i| w.get(i + 2))
                .copied()
                .unwrap_or_default()
                .to_owned();
            let (name, id) = if kind == "bpf" {
                (
                    after(after("handle").unwrap_or_default())
                        .unwrap_or_default()
                        .to_owned(),
                    after("id").and_then(|i| i.parse().ok()).unwrap_or_default(),
                )
            } else {
                (String::new(), 0)
            };
            out.push(TcFilter {
                hook,
                pref,
                kind,
                name,
                id,
            });
        }
    }
    out.sort();
    Ok(out)
}

/// tracer's filters (cls_bpf running tracer_tc_*).
fn tracer_filters(pair: &NetnsPair) -> Result<BTreeSet<TcFilter>> {
    Ok(filters(pair)?
        .into_iter()
        .filter(|f| f.kind == "bpf" && f.name.starts_with("tracer_tc_"))
        .collect())
}

fn qdiscs(pair: &NetnsPair) -> Result<String> {
    let mut c = Command::new("tc");
    c.args(["-n", &pair.client, "qdisc", "show", "dev", &pair.client_if]);
    Ok(run_ok("tc qdisc show", c, T)?.stdout)
}

fn has_clsact(pair: &NetnsPair) -> Result<bool> {
    Ok(qdiscs(pair)?.contains("qdisc clsact"))
}

fn tc(pair: &NetnsPair, args: &[&str]) -> Result<()> {
    let mut c = Command::new("tc");
    c.args(["-n", &pair.client]).args(args);
    run_ok(&format!("tc {}", args.join(" ")), c, T).map(drop)
}

/// A tracer on the client interface printing ICMP, classic tc forced.
fn start(pair: &NetnsPair, name: &str, force: bool, extra: &[&str]) -> Result<Bg> {
    let mut c = pair.client_cmd(tracer_bin());
    c.args(["-i", &pair.client_if, "-nn", "-l"]).args(extra);
    if force {
        c.env(FORCE.0, FORCE.1);
    }
    let mut bg = Bg::spawn(name, c)?;
    bg.wait_stderr("listening on", START)?;
    Ok(bg)
}

fn ping(pair: &NetnsPair, count: u32) -> Result<()> {
    let mut c = pair.client_cmd("ping");
    c.args(["-n", "-q", "-c", &count.to_string(), "-i", "0.2", "-W", "2"])
        .arg(pair.server_v4.to_string());
    run_ok("ping", c, Duration::from_secs(30)).map(drop)
}

/// Waits until the tracer printed the echo request and reply of `seq`.
fn wait_icmp(bg: &mut Bg, seq: u32) -> Result<()> {
    let deadline = Instant::now() + T;
    let want = format!("seq {seq},");
    loop {
        let out = bg.stdout();
        let req = out.lines().any(|l| l.contains("echo request") && l.contains(&want));
        let rep = out.lines().any(|l| l.contains("echo reply") && l.contains(&want));
        if req && rep {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{} did not print both directions of ICMP seq {seq}:\n{out}", bg.name());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn stop(bg: Bg) -> Result<Finished> {
    let f = bg.interrupt(STOP)?;
    f.expect_no_panic()?;
    f.expect_code(0)?;
    Ok(f)
}

/// Lines of `stderr` with `needle`.
fn count_lines(stderr: &str, needle: &str) -> usize {
    stderr.lines().filter(|l| l.contains(needle)).count()
}

/// Nothing of tracer's is left on the client interface: no filter, no clsact qdisc.
fn expect_clean(pair: &NetnsPair, when: &str) -> Result<()> {
    let left = filters(pair)?;
    ensure!(left.is_empty(), "{when}: filters left: {left:?}");
    let q = qdiscs(pair)?;
    ensure!(!q.contains("clsact"), "{when}: the clsact qdisc is left:\n{q}");
    Ok(())
}

#[test]
fn classic_capture_prints_tcpdumps_lines() -> Result<()> {
    if !require_privileges("classic_capture_prints_tcpdumps_lines") {
        return Ok(());
    }
    let dir = artifact_dir("tc_classic_capture");
    let pair = NetnsPair::new("trtc")?;
    let tracer = start(&pair, "tracer", true, &["icmp or tcp"])?;
    let mut dump = {
        let mut c = pair.client_cmd("tcpdump");
        c.args(["-i", &pair.client_if, "-nn", "-l", "--immediate-mode", "icmp or tcp"]);
        Bg::spawn("tcpdump", c)?
    };
    dump.wait_stderr("listening on", START)?;
    let ours = tracer_filters(&pair)?;
    let hooks: BTreeSet<&str> = ours.iter().map(|f| f.hook).collect();
    ensure!(
        hooks == BTreeSet::from(["ingress", "egress"]),
        "while running, tc lists these tracer filters: {ours:?}"
    );
    ensure!(has_clsact(&pair)?, "no clsact qdisc while running");

    ping(&pair, 3)?;
    // TCP both ways too: a refused connection (SYN, RST).
    let mut c = pair.client_cmd("curl");
    c.args(["-sS", "--max-time", "5", "-o", "/dev/null"])
        .arg(pair.server_url(false, 9, ""));
    let _refused = run("curl", c, T)?;
    thread::sleep(Duration::from_millis(500));
    tracer.signal(libc::SIGINT)?;
    dump.signal(libc::SIGINT)?;
    let tracer = tracer.finish(STOP)?;
    let dump = dump.finish(STOP)?;
    for f in [&tracer, &dump] {
        std::fs::write(dir.join(format!("{}.out", f.name)), f.dump())?;
        f.expect_no_panic()?;
        f.expect_code(0)?;
    }
    ensure!(
        count_lines(&tracer.stderr, NOTE) == 1,
        "the classic tc note must be printed once:\n{}",
        tracer.stderr
    );
    let expected: Vec<&str> = dump.stdout.lines().filter(|l| split_ts(l).is_some()).collect();
    ensure!(expected.len() >= 8, "tcpdump printed too little:\n{}", dump.stdout);
    let actual = packet_lines(&tracer.stdout);
    match_per_direction(&expected, &actual).with_context(|| format!("outputs in {}", dir.display()))?;
    ensure!(
        actual.len() == expected.len(),
        "tracer printed {} packet lines, tcpdump {}",
        actual.len(),
        expected.len()
    );
    for dir_needle in ["echo request", "echo reply", "Flags [S]", "Flags [R."] {
        ensure!(
            actual.iter().any(|l| l.contains(dir_needle)),
            "no {dir_needle:?} line:\n{}",
            tracer.stdout
        );
    }
    ensure!(summary_count(&tracer.stderr, "packets dropped by kernel") == Some(0));
    expect_clean(&pair, "after SIGINT")
}

#[test]
fn classic_exit_removes_only_what_it_added() -> Result<()> {
    if !require_privileges("classic_exit_removes_only_what_it_added") {
        return Ok(());
    }
    let pair = NetnsPair::new("trtc")?;

    // 1. No qdisc before: -c ends the capture, nothing stays.
    let mut t = start(&pair, "tracer -c", true, &["-c", "2", "icmp"])?;
    ping(&pair, 2)?;
    let f = {
        t.wait_stdout("echo reply", T)?;
        t.finish(STOP)?
    };
    f.expect_no_panic()?;
    f.expect_code(0)?;
    expect_clean(&pair, "after -c 2")?;

    // 2. An error after attaching (the -w file cannot be created): exit 1, nothing stays.
    let mut c = pair.client_cmd(tracer_bin());
    c.args(["-i", &pair.client_if, "-w", "/nonexistent-dir/x.pcap"])
        .env(FORCE.0, FORCE.1);
    let f = run("tracer -w", c, START)?;
    f.expect_no_panic()?;
    ensure!(f.code() == Some(1), "expected exit 1:\n{}", f.dump());
    ensure!(
        count_lines(&f.stderr, NOTE) == 1,
        "it never attached, so this proves nothing:\n{}",
        f.dump()
    );
    expect_clean(&pair, "after an error after attaching")?;

    // 3. A user's clsact qdisc with a filter on each hook: kept, and still run
    //    while tracer's filters sit in front of them. The kernel gives a
    //    filter added without a pref one less than the first pref >= 49152 on
    //    the hook (49152 if none): the user's pref 50000 puts tracer's in
    //    front, so the user's filters see packets only if tracer's pass them
    //    on. They match everything and mirror it to a veth nobody listens on:
    //    their action counts the packets. (u32 and mirred: what every kernel
    //    config here has; matchall and gact may be missing.)
    let dev = pair.client_if.as_str();
    let ip = |args: &[&str]| {
        let mut c = pair.client_cmd("ip");
        c.args(args);
        run_ok(&format!("ip {}", args.join(" ")), c, T).map(drop)
    };
    ip(&["link", "add", "mir0", "type", "veth", "peer", "name", "mir1"])?;
    ip(&["link", "set", "mir0", "up"])?;
    ip(&["link", "set", "mir1", "up"])?;
    tc(&pair, &["qdisc", "add", "dev", dev, "clsact"])?;
    for hook in ["ingress", "egress"] {
        let mirror = [
            "filter", "add", "dev", dev, hook, "pref", "50000", "protocol", "all", "u32", "match", "u32", "0", "0",
            "action", "mirred", "egress", "mirror", "dev", "mir0",
        ];
        tc(&pair, &mirror)?;
    }
    let user = filters(&pair)?;
    let mut t = start(&pair, "tracer", true, &["icmp"])?;
    let ours = tracer_filters(&pair)?;
    ensure!(
        ours.len() == 2 && ours.iter().all(|f| f.pref < 50000),
        "tracer's two filters, in front of the user's: {ours:?}"
    );
    let before = user_packets(&pair)?;
    ping(&pair, 3)?;
    wait_icmp(&mut t, 3)?;
    let after = user_packets(&pair)?;
    ensure!(
        after.0 >= before.0 + 3 && after.1 >= before.1 + 3,
        "the user's filters stopped seeing packets while tracer ran: \
         (ingress, egress) packets {before:?} -> {after:?}"
    );
    stop(t)?;
    ensure!(has_clsact(&pair)?, "the user's clsact qdisc was removed");
    let left = filters(&pair)?;
    ensure!(left == user, "filters after stop: {left:?}, the user's were {user:?}");

    // 4. The user's qdisc without filters: still not tracer's to remove.
    for hook in ["ingress", "egress"] {
        tc(&pair, &["filter", "del", "dev", dev, hook])?;
    }
    let t = start(&pair, "tracer", true, &["icmp"])?;
    stop(t)?;
    ensure!(has_clsact(&pair)?, "the user's empty clsact qdisc was removed");
    ensure!(filters(&pair)?.is_empty(), "filters left: {:?}", filters(&pair)?);
    Ok(())
}

/// Packets the user's filters' actions counted: (ingress, egress).
fn user_packets(pair: &NetnsPair) -> Result<(u64, u64)> {
    let mut out = [0u64; 2];
    for (i, hook) in ["ingress", "egress"].into_iter().enumerate() {
        let mut c = Command::new("tc");
        c.args(["-n", &pair.client, "-s", "filter", "show", "dev", &pair.client_if, hook]);
        let text = run_ok("tc -s filter show", c, T)?.stdout;
        // "Sent 1234 bytes 5 pkt (dropped 0, overlimits 0 requeues 0)" after "mirred".
        let after = text.split_once("mirred").map(|(_, r)| r).unwrap_or_default();
        let sent = after.split_once("Sent ").map(|(_, r)| r).unwrap_or_default();
        let w: Vec<&str> = sent.split_whitespace().collect();
        out[i] = w
            .get(2)
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no packet count for the user's {hook} filter:\n{text}"))?;
    }
    Ok((out[0], out[1]))
}

#[test]
fn classic_sigkill_leftovers_removed_by_next_start() -> Result<()> {
    if !require_privileges("classic_sigkill_leftovers_removed_by_next_start") {
        return Ok(());
    }
    let pair = NetnsPair::new("trtc")?;
    for next_forced in [true, false] {
        let killed = start(&pair, "tracer (killed)", true, &["icmp"])?;
        let theirs = tracer_filters(&pair)?;
        ensure!(theirs.len() == 2, "expected two filters, tc lists {theirs:?}");
        killed.signal(libc::SIGKILL)?;
        let f = killed.finish(STOP)?;
        ensure!(f.code().is_none(), "not killed: {}", f.status);
        // The kernel keeps classic filters after their process died.
        let left = tracer_filters(&pair)?;
        ensure!(left == theirs, "after SIGKILL tc lists {left:?}, before {theirs:?}");
        ensure!(has_clsact(&pair)?, "the qdisc went with the killed tracer");

        // The next start removes them (and runs with its own filters, or TCX).
        let mut next = start(&pair, "tracer (next)", next_forced, &["icmp"])?;
        ensure!(
            next.stderr()
                .contains("removed 2 tc filters left by a tracer that was killed"),
            "the next start did not report the removal:\n{}",
            next.stderr()
        );
        let now = tracer_filters(&pair)?;
        ensure!(
            now.is_disjoint(&theirs),
            "the killed tracer's filters are still there: {now:?}"
        );
        // Unforced, it uses TCX where the kernel has it (no filters), classic tc where not.
        ensure!(
            now.len() == 2 || (!next_forced && now.is_empty()),
            "the next tracer's filters: {now:?}"
        );
        ping(&pair, 2)?;
        wait_icmp(&mut next, 2)?;
        stop(next)?;
        expect_clean(
            &pair,
            &format!("after the next tracer (classic forced: {next_forced}) stopped"),
        )?;
    }
    Ok(())
}

#[test]
fn two_classic_tracers_keep_each_others_filters() -> Result<()> {
    if !require_privileges("two_classic_tracers_keep_each_others_filters") {
        return Ok(());
    }
    let pair = NetnsPair::new("trtc")?;
    let mut a = start(&pair, "tracer A", true, &["icmp"])?;
    let a_filters = tracer_filters(&pair)?;
    ensure!(a_filters.len() == 2, "A's filters: {a_filters:?}");

    // B starts and stops normally: A keeps its filters and its capture.
    let mut b = start(&pair, "tracer B", true, &["icmp"])?;
    let both = tracer_filters(&pair)?;
    ensure!(both.len() == 4 && a_filters.is_subset(&both), "A and B: {both:?}");
    ping(&pair, 2)?;
    wait_icmp(&mut a, 2)?;
    wait_icmp(&mut b, 2)?;
    stop(b)?;
    ensure!(
        tracer_filters(&pair)? == a_filters,
        "after B stopped: {:?}",
        tracer_filters(&pair)?
    );
    ensure!(has_clsact(&pair)?, "B removed the qdisc A's filters are on");

    // B again, killed; C starts: it removes B's filters, not A's.
    let b = start(&pair, "tracer B2", true, &["icmp"])?;
    let b_filters: BTreeSet<TcFilter> = tracer_filters(&pair)?.difference(&a_filters).cloned().collect();
    ensure!(b_filters.len() == 2, "B2's filters: {b_filters:?}");
    b.signal(libc::SIGKILL)?;
    b.finish(STOP)?;
    let mut c = start(&pair, "tracer C", true, &["icmp"])?;
    ensure!(
        c.stderr()
            .contains("removed 2 tc filters left by a tracer that was killed"),
        "C did not remove B2's filters:\n{}",
        c.stderr()
    );
    let now = tracer_filters(&pair)?;
    ensure!(
        a_filters.is_subset(&now) && now.is_disjoint(&b_filters) && now.len() == 4,
        "A: {a_filters:?}, B2 (killed): {b_filters:?}, now: {now:?}"
    );
    let seen_before = a.stdout().lines().filter(|l| l.contains("echo reply")).count();
    ping(&pair, 3)?;
    wait_icmp(&mut c, 3)?;
    let deadline = Instant::now() + T;
    while a.stdout().lines().filter(|l| l.contains("echo reply")).count() < seen_before + 3 {
        ensure!(Instant::now() < deadline, "A stopped capturing:\n{}", a.stdout());
        thread::sleep(Duration::from_millis(50));
    }
    stop(c)?;
    ensure!(
        tracer_filters(&pair)? == a_filters,
        "after C stopped: {:?}",
        tracer_filters(&pair)?
    );
    let a = stop(a)?;
    ensure!(
        summary_count(&a.stderr, "packets captured").is_some_and(|n| n >= 10),
        "A's summary:\n{}",
        a.stderr
    );
    expect_clean(&pair, "after A, the last tracer, stopped")
}
