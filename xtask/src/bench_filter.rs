//! The capture-filter section of `cargo xtask bench` (needs root):
//!
//! (a) What the XDP program costs per packet with no filter, a simple filter and a complex one,
//!     on packets the filter matches and packets it does not: `tracer-xdp-cost` (built with the
//!     tracer) loads the programs with the filter and has the kernel run the XDP program a
//!     million times over each packet (`BPF_PROG_TEST_RUN`), copying every matched packet into
//!     the ring as a capture would.
//! (b) What a capture costs per packet during a flood: trafgen sends UDP frames at a fixed
//!     rate over a veth pair between two namespaces; the far end is captured by nothing, by the
//!     tracer writing a pcap, and by tcpdump writing a pcap, in alternating rounds. The cost of
//!     a capture is the machine's busy CPU time (every CPU, /proc/stat) over the flood with the
//!     capture running, less the same flood without it, divided by the packets sent; the
//!     tracer's against tcpdump's as a ratio. Packets each capture lost come from its own exit
//!     summary and the count it wrote.

use std::{
    fs,
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use tracer_tests::{Bg, NetnsPair};

use crate::cmd;

const SIMPLE: &str = "tcp port 80";
const COMPLEX: &str = "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and (net 10.0.0.0/8 or host 192.168.1.1) and not port 22";
const REPEAT: u32 = 1_000_000;
/// Goal for the simple filter (issue 5), ns per packet.
const GOAL_SIMPLE_NS: f64 = 50.0;

/// Flood: packets per round, rate, rounds.
const FLOOD_PACKETS: u64 = 1_000_000;
const FLOOD_RATE_PPS: u64 = 200_000;
const ROUNDS: usize = 3;
/// After the flood, time for a capture to write what it holds.
const SETTLE: Duration = Duration::from_millis(700);
const START: Duration = Duration::from_secs(30);
const STOP: Duration = Duration::from_secs(60);

pub fn run(tracer: &Path) -> Result<()> {
    ensure!(
        cmd::is_root(),
        "the filter bench needs root (BPF_PROG_TEST_RUN, namespaces)"
    );
    xdp_cost(tracer)?;
    flood(tracer)
}

// ---------------------------------------------------------------- (a) BPF_PROG_TEST_RUN

/// An Ethernet + IPv4 + TCP or UDP frame (checksums left 0: no filter here tests them).
fn frame(src: [u8; 4], dst: [u8; 4], tcp_flags: Option<u8>, sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let l4_len: u16 = if tcp_flags.is_some() { 20 } else { 8 + 18 };
    let total = 20 + l4_len;
    f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0x12, 0x34, 0x40, 0, 64]);
    f.push(if tcp_flags.is_some() { 6 } else { 17 });
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    match tcp_flags {
        Some(flags) => {
            f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        }
        None => {
            f.extend_from_slice(&(8u16 + 18).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
            f.extend_from_slice(&[0x61; 18]);
        }
    }
    f
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Cost {
    ns: f64,
    matched: bool,
}

fn xdp_cost(tracer: &Path) -> Result<()> {
    let exe = tracer.with_file_name("tracer-xdp-cost");
    ensure!(exe.exists(), "{} is missing (built with the tracer)", exe.display());
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    let packets: [(&str, Vec<u8>); 4] = [
        (
            "TCP SYN 10.1.1.1 > 10.2.2.2 port 80",
            frame([10, 1, 1, 1], [10, 2, 2, 2], Some(SYN), 40000, 80),
        ),
        (
            "TCP ACK 10.1.1.1 > 10.2.2.2 port 80",
            frame([10, 1, 1, 1], [10, 2, 2, 2], Some(ACK), 40000, 80),
        ),
        (
            "TCP SYN 10.1.1.1 > 10.2.2.2 port 22",
            frame([10, 1, 1, 1], [10, 2, 2, 2], Some(SYN), 40000, 22),
        ),
        (
            "UDP 192.168.5.5 > 192.168.5.6 port 53",
            frame([192, 168, 5, 5], [192, 168, 5, 6], None, 5353, 53),
        ),
    ];
    let filters = [("no filter", ""), ("simple", SIMPLE), ("complex", COMPLEX)];
    println!(
        "\nxtask: bench filter (a): the XDP program's cost per packet, BPF_PROG_TEST_RUN × {REPEAT} per packet \
         (matched packets are copied into the ring as in a capture)"
    );
    println!("  simple  = {SIMPLE}\n  complex = {COMPLEX}");
    let mut table: Vec<(&str, Vec<Cost>)> = Vec::new();
    for (name, expr) in filters {
        let mut c = Command::new(&exe);
        c.args(["--repeat", &REPEAT.to_string()]);
        if !expr.is_empty() {
            c.args(["--filter", expr]);
        }
        c.args(packets.iter().map(|(_, p)| hex(p)));
        let out = cmd::output("tracer-xdp-cost", &mut c)?;
        let mut row = Vec::new();
        for line in out.lines() {
            let field = |key: &str| -> Option<&str> {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            };
            let ns: f64 = field("ns").context("ns=")?.parse()?;
            let matched: u64 = field("matched").context("matched=")?.parse()?;
            let copied: u64 = field("copied").context("copied=")?.parse()?;
            let runs: u64 = field("runs").context("runs=")?.parse()?;
            ensure!(
                matched == 0 || matched == runs,
                "{name}: the filter matched {matched} of {runs} runs of one packet"
            );
            ensure!(
                copied == matched,
                "{name}: {copied} of {matched} matched runs copied (ring full?)"
            );
            row.push(Cost {
                ns,
                matched: matched == runs,
            });
        }
        ensure!(
            row.len() == packets.len(),
            "tracer-xdp-cost printed {} lines:\n{out}",
            row.len()
        );
        table.push((name, row));
    }
    println!("  ns per packet (M = matched and copied, - = not matched):");
    print!("  {:<10}", "");
    for (i, (label, _)) in packets.iter().enumerate() {
        println!();
        print!("    p{} = {label}", i + 1);
    }
    println!();
    print!("  {:<10}", "filter");
    for i in 0..packets.len() {
        print!("{:>12}", format!("p{}", i + 1));
    }
    println!();
    for (name, row) in &table {
        print!("  {name:<10}");
        for c in row {
            print!("{:>12}", format!("{:.1} {}", c.ns, if c.matched { 'M' } else { '-' }));
        }
        println!();
    }
    if let Some((_, simple)) = table.iter().find(|(n, _)| *n == "simple") {
        let worst_miss = simple.iter().filter(|c| !c.matched).map(|c| c.ns).fold(0.0, f64::max);
        let worst_hit = simple.iter().filter(|c| c.matched).map(|c| c.ns).fold(0.0, f64::max);
        println!(
            "  simple filter: {worst_miss:.1} ns per non-matching packet (goal ≤ {GOAL_SIMPLE_NS} ns: {}), \
             {worst_hit:.1} ns per matching one copied",
            if worst_miss <= GOAL_SIMPLE_NS { "met" } else { "NOT met" }
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- (b) veth flood

/// Busy and total jiffies of all CPUs (/proc/stat's first line).
fn cpu_jiffies() -> Result<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|w| w.parse().ok()).collect();
    ensure!(v.len() >= 8, "unexpected /proc/stat line {line:?}");
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    Ok((busy, busy + v[3] + v[4]))
}

/// utime + stime of process `pid` (/proc/PID/stat), in clock ticks.
fn proc_jiffies(pid: i32) -> Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count from the closing parenthesis.
    let rest = stat.rsplit_once(')').context("malformed /proc/PID/stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |i: usize| -> Result<u64> { Ok(f.get(i - 3).context("short /proc/PID/stat")?.parse()?) };
    Ok(field(14)? + field(15)?)
}

fn jiffy_secs() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    1.0 / if hz > 0 { hz as f64 } else { 100.0 }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Capture {
    None,
    Tracer,
    Tcpdump,
}

impl Capture {
    fn label(self) -> &'static str {
        match self {
            Capture::None => "flood alone",
            Capture::Tracer => "tracer -w",
            Capture::Tcpdump => "tcpdump -w",
        }
    }
}

struct FloodRun {
    busy_s: f64,
    /// The capture process's own CPU time (user + system) over the flood.
    proc_s: f64,
    wall_s: f64,
    /// (captured, dropped) from the capture's exit summary.
    summary: Option<(u64, u64)>,
    stats: String,
}

fn summary_count(stderr: &str, what: &str) -> Option<u64> {
    stderr.lines().find_map(|l| l.strip_suffix(what)?.trim().parse().ok())
}

/// trafgen's packet: Ethernet to a unicast address that is not the receiver's (the receiving
/// stack drops it at once, so no replies), IPv4, UDP to port 9, 64 bytes on the wire.
fn trafgen_packet(src_mac: [u8; 6]) -> String {
    let mut f = vec![0x02, 0x00, 0x5e, 0x00, 0x53, 0x99];
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&frame([10, 99, 0, 1], [10, 99, 0, 2], None, 4000, 9)[12..]);
    f.resize(60, 0);
    let bytes: Vec<String> = f.iter().map(|b| format!("0x{b:02x}")).collect();
    format!("{{ {} }}", bytes.join(", "))
}

fn mac_of(ns: &str, dev: &str) -> Result<[u8; 6]> {
    let out = cmd::output(
        "ip link show",
        Command::new("ip").args(["-n", ns, "-o", "link", "show", dev]),
    )?;
    let mac = out
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .context("no link/ether address")?;
    let v: Vec<u8> = mac.split(':').filter_map(|h| u8::from_str_radix(h, 16).ok()).collect();
    v.try_into().map_err(|_| anyhow::anyhow!("bad MAC {mac}"))
}

fn flood(tracer: &Path) -> Result<()> {
    let Some(trafgen) = cmd::which("trafgen") else {
        bail!("trafgen is missing (apt-get install netsniff-ng): the flood needs it");
    };
    let tcpdump = crate::conformance::tcpdump()?;
    tracer_tests::netns::remove_stale("fkbench");
    let pair = NetnsPair::new("fkbench")?;
    let dir = cmd::root().join("target/bench/filter");
    fs::create_dir_all(&dir)?;
    let cfg = dir.join("flood.trafgen");
    fs::write(&cfg, trafgen_packet(mac_of(&pair.client, &pair.client_if)?))?;
    println!(
        "\nxtask: bench filter (b): {FLOOD_PACKETS} UDP frames of 60 bytes at {FLOOD_RATE_PPS} pps (trafgen) over a \
         veth pair, captured on the receiving end; {ROUNDS} rounds of: no capture, tracer -w, tcpdump -w"
    );
    let mut runs: Vec<(Capture, FloodRun)> = Vec::new();
    for round in 0..ROUNDS {
        for which in [Capture::None, Capture::Tracer, Capture::Tcpdump] {
            let r = flood_run(&pair, &trafgen, &cfg, tracer, &tcpdump, which, &dir, round)
                .with_context(|| format!("round {}: {}", round + 1, which.label()))?;
            runs.push((which, r));
        }
    }
    let median = |which: Capture| -> f64 {
        let mut v: Vec<f64> = runs
            .iter()
            .filter(|(w, _)| *w == which)
            .map(|(_, r)| r.busy_s)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = median(Capture::None);
    println!(
        "  {:<14}{:>12}{:>10}{:>14}{:>14}{:>12}{:>10}",
        "", "busy CPU s", "wall s", "µs/packet", "process µs/p", "captured", "dropped"
    );
    for (which, r) in &runs {
        let per = (r.busy_s - base) / FLOOD_PACKETS as f64 * 1e6;
        let own = r.proc_s / FLOOD_PACKETS as f64 * 1e6;
        let (cap, drop) = r
            .summary
            .map_or(("-".into(), "-".into()), |(c, d)| (c.to_string(), d.to_string()));
        let none = *which == Capture::None;
        let fmt = |v: f64| if none { "-".to_owned() } else { format!("{v:.3}") };
        println!(
            "  {:<14}{:>12.2}{:>10.2}{:>14}{:>14}{:>12}{:>10}",
            which.label(),
            r.busy_s,
            r.wall_s,
            fmt(per),
            fmt(own),
            cap,
            drop
        );
    }
    let alone: Vec<f64> = runs
        .iter()
        .filter(|(w, _)| *w == Capture::None)
        .map(|(_, r)| r.busy_s)
        .collect();
    let spread = alone.iter().copied().fold(f64::MIN, f64::max) - alone.iter().copied().fold(f64::MAX, f64::min);
    if spread / base > 0.15 {
        println!(
            "  WARNING: the flood alone took between {:.2} and {:.2} s of busy CPU: something else is using \
             the CPUs, so the busy-time figures are noisy; the capture processes' own CPU (process µs/p) still \
             compares them",
            base - spread.min(base),
            alone.iter().copied().fold(f64::MIN, f64::max)
        );
    }
    let per = |which: Capture| (median(which) - base) / FLOOD_PACKETS as f64 * 1e6;
    let (t, d) = (per(Capture::Tracer), per(Capture::Tcpdump));
    println!(
        "  CPU per captured packet (medians): tracer {t:.3} µs, tcpdump {d:.3} µs: tracer/tcpdump = {:.2} (goal ≤ 0.5)",
        t / d
    );
    let own = |which: Capture| -> f64 {
        let mut v: Vec<f64> = runs
            .iter()
            .filter(|(w, _)| *w == which)
            .map(|(_, r)| r.proc_s)
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] / FLOOD_PACKETS as f64 * 1e6
    };
    let (to, dp) = (own(Capture::Tracer), own(Capture::Tcpdump));
    println!(
        "  the capture process's own CPU per packet (medians): tracer {to:.3} µs, tcpdump {dp:.3} µs: \
         tracer/tcpdump = {:.2} (the kernel's share, XDP program or AF_PACKET copy, is only in the busy time)",
        to / dp
    );
    let lost = |which: Capture| -> u64 {
        runs.iter()
            .filter(|(w, _)| *w == which)
            .map(|(_, r)| {
                r.summary
                    .map_or(FLOOD_PACKETS, |(c, dr)| dr + FLOOD_PACKETS.saturating_sub(c))
            })
            .sum()
    };
    println!(
        "  packets lost over {ROUNDS} rounds: tracer {}, tcpdump {}",
        lost(Capture::Tracer),
        lost(Capture::Tcpdump)
    );
    if let Some((_, r)) = runs.iter().rev().find(|(w, _)| *w == Capture::Tracer) {
        print!("  tracer --stats of the last round:\n{}", r.stats);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments, reason = "one run of the flood: every input spelled out")]
fn flood_run(
    pair: &NetnsPair,
    trafgen: &Path,
    cfg: &Path,
    tracer: &Path,
    tcpdump: &Path,
    which: Capture,
    dir: &Path,
    round: usize,
) -> Result<FloodRun> {
    let pcap = dir.join(format!("flood-{which:?}-{round}.pcap").to_lowercase());
    let _ = fs::remove_file(&pcap);
    let mut capture = match which {
        Capture::None => None,
        Capture::Tracer => {
            let mut c = pair.server_cmd(tracer);
            c.args(["-i", &pair.server_if, "--stats", "-w"]).arg(&pcap);
            Some(Bg::spawn("tracer", c)?)
        }
        Capture::Tcpdump => {
            let mut c = pair.server_cmd(tcpdump);
            c.args(["-i", &pair.server_if, "-Z", "root", "-w"]).arg(&pcap);
            Some(Bg::spawn("tcpdump", c)?)
        }
    };
    if let Some(c) = capture.as_mut() {
        c.wait_stderr("listening on", START)?;
        thread::sleep(Duration::from_millis(300));
    }
    let (b0, _) = cpu_jiffies()?;
    let p0 = capture.as_ref().map_or(Ok(0), |c| proc_jiffies(c.pid()))?;
    let t0 = Instant::now();
    let mut g = pair.client_cmd(trafgen);
    g.args(["-o", &pair.client_if, "-i"]).arg(cfg).args([
        "-n",
        &FLOOD_PACKETS.to_string(),
        "-b",
        &format!("{FLOOD_RATE_PPS}pps"),
        "-P",
        "1",
        "-C",
        "-Q",
    ]);
    let out = tracer_tests::run("trafgen", g, Duration::from_secs(600))?;
    out.expect_code(0)?;
    thread::sleep(SETTLE);
    let wall_s = t0.elapsed().as_secs_f64();
    let (b1, _) = cpu_jiffies()?;
    let p1 = capture.as_ref().map_or(Ok(0), |c| proc_jiffies(c.pid()))?;
    let (summary, stats) = match capture.take() {
        None => (None, String::new()),
        Some(c) => {
            c.signal(libc::SIGINT)?;
            let f = c.finish(STOP)?;
            f.expect_code(0)?;
            let captured = summary_count(&f.stderr, "packets captured");
            let dropped = summary_count(&f.stderr, "packets dropped by kernel");
            let stats = f
                .stderr
                .lines()
                .filter(|l| l.contains("seen,"))
                .map(|l| format!("    {l}\n"))
                .collect();
            let _ = fs::remove_file(&pcap);
            (captured.zip(dropped), stats)
        }
    };
    Ok(FloodRun {
        busy_s: (b1 - b0) as f64 * jiffy_secs(),
        proc_s: (p1 - p0) as f64 * jiffy_secs(),
        wall_s,
        summary,
        stats,
    })
}
