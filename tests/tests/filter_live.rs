//! Filters evaluated in the kernel, live on a veth pair with ping, HTTP on port 80 and HTTP on
//! another port: `tracer -w F 'tcp port 80'` and `tracer -w F icmp` must write exactly the
//! packets tcpdump selects with the same expression from its own unfiltered capture of the
//! same traffic, nothing else; and their `--stats` lines must account for every packet the
//! hooks saw (seen = not matched + copied + dropped, seen = what tcpdump captured unfiltered,
//! copied = packets in the file, none dropped).

use std::{path::Path, process::Command, time::Duration};

use anyhow::{Context as _, Result, bail, ensure};
use tracer_tests::{
    Bg, NetnsPair, artifact_dir,
    lines::summary_count,
    process::{run_ok, tshark_count},
    require_privileges, tracer_bin,
};

const START: Duration = Duration::from_secs(30);
const STOP: Duration = Duration::from_secs(20);
const OTHER_PORT: u16 = 8080;

/// One hook's `--stats` line: (seen, matched, not matched, copied, dropped).
fn hook_stats(stderr: &str, hook: &str) -> Result<(u64, u64, u64, u64, u64)> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(hook))
        .with_context(|| format!("no `{hook}` stats line in:\n{stderr}"))?;
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let [seen, matched, not_matched, copied, dropped] = nums[..] else {
        bail!("unexpected stats line {line:?}");
    };
    Ok((seen, matched, not_matched, copied, dropped))
}

/// Packets tcpdump selects from `pcap` with `expr`.
fn tcpdump_count(pcap: &Path, expr: &str) -> Result<usize> {
    let mut c = Command::new("tcpdump");
    c.args(["-nn", "-r"]).arg(pcap).arg(expr);
    let out = run_ok("tcpdump -r", c, Duration::from_secs(30))?;
    Ok(out.stdout.lines().count())
}

#[test]
fn kernel_filters_keep_only_what_tcpdump_selects() -> Result<()> {
    if !require_privileges("kernel_filters_keep_only_what_tcpdump_selects") {
        return Ok(());
    }
    let dir = artifact_dir("filter_live");
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    let body: String = (0..300)
        .map(|i| format!("line {i:04} of the filter test page\n"))
        .collect();
    std::fs::write(www.join("index.html"), body)?;

    let pair = NetnsPair::new("trf")?;
    let mut servers = Vec::new();
    for port in [80, OTHER_PORT] {
        let mut c = pair.server_cmd("python3");
        c.args([
            "-u",
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "0.0.0.0",
            "--directory",
        ])
        .arg(&www);
        let mut s = Bg::spawn("http.server", c)?;
        s.wait_stdout("Serving HTTP", START)?;
        servers.push(s);
    }

    // One capture at a time: an interface takes one XDP program. The default ingress hook
    // (TCX) for one expression, XDP (`--xdp`) for the other.
    for (name, expr, at_least, xdp) in [("port80", "tcp port 80", 20, false), ("icmp", "icmp", 10, true)] {
        filtered_round(&pair, &dir, name, expr, at_least, xdp).with_context(|| format!("`{expr}`"))?;
    }
    drop(servers);
    Ok(())
}

/// The tracer with `expr` and an unfiltered tcpdump on the client's veth during ping and HTTP
/// traffic to both ports; then the checks of the module documentation.
fn filtered_round(pair: &NetnsPair, dir: &Path, name: &str, expr: &str, at_least: usize, xdp: bool) -> Result<()> {
    let iface = pair.client_if.as_str();
    let (pcap, all) = (dir.join(format!("T-{name}.pcap")), dir.join(format!("D-{name}.pcap")));
    let mut tracer = {
        let mut c = pair.client_cmd(tracer_bin());
        if xdp {
            c.arg("--xdp");
        }
        c.args(["-i", iface, "--stats", "-w"]).arg(&pcap).args(expr.split(' '));
        Bg::spawn("tracer", c)?
    };
    let mut dump = {
        let mut c = pair.client_cmd("tcpdump");
        c.args(["-i", iface, "-nn", "--immediate-mode", "-Z", "root", "-w"])
            .arg(&all);
        Bg::spawn("tcpdump", c)?
    };
    for p in [&mut tracer, &mut dump] {
        p.wait_stderr("listening on", START)?;
    }
    let mut ping = pair.client_cmd("ping");
    ping.args(["-c", "5", "-i", "0.2", "-W", "2"])
        .arg(pair.server_v4.to_string());
    run_ok("ping", ping, Duration::from_secs(20))?;
    for port in [80, OTHER_PORT, 80, OTHER_PORT] {
        let mut c = pair.client_cmd("curl");
        c.args(["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(pair.server_url(false, port, "index.html"));
        let out = run_ok("curl", c, Duration::from_secs(20))?;
        ensure!(
            out.stdout == "200",
            "GET on port {port}: {:?} {}",
            out.stdout,
            out.stderr
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    for p in [&tracer, &dump] {
        p.signal(libc::SIGINT)?;
    }
    let tracer = tracer.finish(STOP)?;
    let dump = dump.finish(STOP)?;
    for (who, f) in [("tracer", &tracer), ("tcpdump", &dump)] {
        std::fs::write(dir.join(format!("{who}-{name}.out")), f.dump())?;
        f.expect_no_panic()?;
        f.expect_code(0)?;
    }
    let f = &tracer;
    let ctx = || format!("`{expr}` ({})", dir.display());

    let unfiltered = tshark_count(&all)?;
    ensure!(unfiltered >= 40, "tcpdump captured only {unfiltered} packets");
    // The file holds what tcpdump selects from the same traffic, and nothing else.
    let written = tshark_count(&pcap).with_context(ctx)?;
    let expected = tcpdump_count(&all, expr)?;
    ensure!(written >= at_least, "{}: only {written} packets written", ctx());
    ensure!(
        written == expected,
        "{}: the tracer wrote {written} packets, tcpdump selects {expected} of its {unfiltered}",
        ctx()
    );
    let others = tcpdump_count(&pcap, &format!("not ({expr})"))?;
    ensure!(others == 0, "{}: {others} packets in the file do not match", ctx());

    // --stats: every packet the hooks ran on is accounted for.
    // Classic tc where the kernel has no TCX (the tracer says so at start).
    let classic = f.stderr.contains("attaching with classic tc");
    let ingress = match (xdp, classic) {
        (true, _) => "ingress (XDP)",
        (false, true) => "ingress (TC)",
        (false, false) => "ingress (TCX)",
    };
    let (xs, xm, xn, xc, xd) = hook_stats(&f.stderr, ingress)?;
    let egress = if classic { "egress (TC)" } else { "egress (TCX)" };
    let (ts, tm, tn, tc, td) = hook_stats(&f.stderr, egress)?;
    for (seen, matched, not, copied, dropped) in [(xs, xm, xn, xc, xd), (ts, tm, tn, tc, td)] {
        ensure!(
            seen == not + copied + dropped && matched == copied + dropped,
            "{}: stats do not add up:\n{}",
            ctx(),
            f.stderr
        );
        ensure!(dropped == 0, "{}: packets dropped:\n{}", ctx(), f.stderr);
    }
    ensure!(
        usize::try_from(xs + ts)? == unfiltered,
        "{}: the hooks saw {} packets, tcpdump captured {unfiltered}:\n{}",
        ctx(),
        xs + ts,
        f.stderr
    );
    ensure!(
        usize::try_from(xc + tc)? == written,
        "{}: {} packets copied, {written} in the file:\n{}",
        ctx(),
        xc + tc,
        f.stderr
    );
    // As tcpdump on Linux: "received by filter" counts the packets the filter kept.
    let received = summary_count(&f.stderr, "packets received by filter");
    ensure!(
        received == Some(xm + tm),
        "{}: summary says {received:?} received by filter, the hooks matched {}",
        ctx(),
        xm + tm
    );
    let captured = summary_count(&f.stderr, "packets captured");
    ensure!(
        captured == Some(u64::try_from(written)?),
        "{}: summary says {captured:?} captured, file holds {written}",
        ctx()
    );
    Ok(())
}
