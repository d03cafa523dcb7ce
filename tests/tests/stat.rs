//! `tracer stat`: the counts of sockets in each state inside a namespace
//! equal what `ss -tan` counts there at the same moment, state by state, and
//! a server that never closes its connections is diagnosed (alert naming
//! CLOSE_WAIT, the process and the port).
//!
//! The server namespace holds: three listeners (port 80 on IPv4 and IPv6, a
//! loopback one), 25 CLOSE_WAIT sockets (a python server accepts and never
//! closes; clients in the other namespace connect and close, 15 over IPv4
//! and 10 over IPv6), 3 ESTABLISHED (clients that stay connected) and 4
//! TIME_WAIT (loopback clients that close first).

use std::{collections::BTreeMap, process::Command, time::Duration};

use anyhow::{Context as _, Result, bail, ensure};
use tracer_tests::{Bg, Finished, NetnsPair, artifact_dir, process::run, require_privileges, tracer_bin};

const PORT: u16 = 80;
const LOOP_PORT: u16 = 9000;
const READY: Duration = Duration::from_secs(10);

/// argv: IPv4 address, IPv6 address, port, loopback port. Keeps every
/// connection to PORT open forever; answers the loopback port's connections
/// by closing after the client has closed. Prints "ready".
const SERVER: &str = r#"
import socket, sys, threading

v4, v6, port, lport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
kept = []

def listen(fam, addr, p):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, p))
    s.listen(128)
    return s

def keep(s):
    while True:
        c, _ = s.accept()
        kept.append(c)

def closer(s):
    while True:
        c, _ = s.accept()
        while c.recv(4096):
            pass
        c.close()

for fam, addr in ((socket.AF_INET, v4), (socket.AF_INET6, v6)):
    threading.Thread(target=keep, args=(listen(fam, addr, port),), daemon=True).start()
threading.Thread(target=closer, args=(listen(socket.AF_INET, "127.0.0.1", lport),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"#;

/// argv: MODE ADDR PORT N. `close`: N connections, closed after 0.3 s
/// (prints "closed"); `hold`: N connections kept open (prints "held").
const CLIENT: &str = r#"
import socket, sys, time

mode, addr, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
cs = [socket.create_connection((addr, port)) for _ in range(n)]
time.sleep(0.3)
if mode == "close":
    for c in cs:
        c.close()
    time.sleep(0.3)
    print("closed", flush=True)
else:
    print("held", flush=True)
    time.sleep(3600)
"#;

/// ss's state names → the kernel's.
fn kernel_name(ss: &str) -> Option<&'static str> {
    Some(match ss {
        "ESTAB" => "ESTABLISHED",
        "SYN-SENT" => "SYN_SENT",
        "SYN-RECV" => "SYN_RECV",
        "FIN-WAIT-1" => "FIN_WAIT1",
        "FIN-WAIT-2" => "FIN_WAIT2",
        "TIME-WAIT" => "TIME_WAIT",
        "UNCONN" => "CLOSE",
        "CLOSE-WAIT" => "CLOSE_WAIT",
        "LAST-ACK" => "LAST_ACK",
        "LISTEN" => "LISTEN",
        "CLOSING" => "CLOSING",
        _ => return None,
    })
}

const ALL_STATES: [&str; 11] = [
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
];

type Counts = BTreeMap<String, u64>;

/// `ss -tan` in the namespace, counted by state (every state present, zeros too).
fn ss_counts(ns: &str) -> Result<Counts> {
    let out = run("ss", in_ns(ns, "ss", &["-tan"]), Duration::from_secs(10))?;
    out.expect_code(0)?;
    let mut c: Counts = ALL_STATES.iter().map(|s| (s.to_string(), 0)).collect();
    for line in out.stdout.lines().skip(1) {
        let ss = line.split_whitespace().next().context("empty ss line")?;
        let name = kernel_name(ss).with_context(|| format!("unknown ss state in {line:?}"))?;
        *c.entry(name.to_string()).or_default() += 1;
    }
    Ok(c)
}

fn in_ns(ns: &str, prog: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut c = tracer_tests::in_netns(ns, prog);
    c.args(args);
    c
}

/// The state lines of `tracer stat --once`: `NAME COUNT [warning|critical]`,
/// then alert lines. Returns the counts, the marks and the alert lines.
fn parse_text(stdout: &str) -> Result<(Counts, BTreeMap<String, String>, Vec<String>)> {
    let mut counts = Counts::new();
    let mut marks = BTreeMap::new();
    let mut alerts = Vec::new();
    for line in stdout.lines() {
        if line.starts_with("ALERT") {
            alerts.push(line.to_string());
            continue;
        }
        ensure!(alerts.is_empty(), "state line after an alert line: {line:?}");
        let f: Vec<&str> = line.split_whitespace().collect();
        ensure!(matches!(f.len(), 2 | 3), "not `NAME COUNT [mark]`: {line:?}");
        ensure!(ALL_STATES.contains(&f[0]), "unknown state in {line:?}");
        counts.insert(
            f[0].to_string(),
            f[1].parse().with_context(|| format!("count in {line:?}"))?,
        );
        if let Some(m) = f.get(2) {
            ensure!(matches!(*m, "warning" | "critical"), "unknown mark in {line:?}");
            marks.insert(f[0].to_string(), m.to_string());
        }
    }
    let names: Vec<&str> = counts.keys().map(String::as_str).collect();
    let mut want = ALL_STATES.to_vec();
    want.sort_unstable();
    ensure!(
        names == want,
        "states listed: {names:?}, expected every state ss can show"
    );
    Ok((counts, marks, alerts))
}

/// Runs `tracer stat ARGS` in the namespace (nsenter, or `ip netns exec`)
/// between two runs of ss; retries (a TIME_WAIT may expire, a handshake may
/// finish in between) until both ss runs agree.
fn stat_between_ss(ns: &str, args: &[&str], ip_netns_exec: bool) -> Result<(Finished, Counts)> {
    for attempt in 0..3 {
        let before = ss_counts(ns)?;
        let cmd = if ip_netns_exec {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(tracer_bin()).arg("stat").args(args);
            c
        } else {
            let mut c = tracer_tests::in_netns(ns, tracer_bin());
            c.arg("stat").args(args);
            c
        };
        let f = run("tracer stat", cmd, Duration::from_secs(20))?;
        let after = ss_counts(ns)?;
        if before == after {
            return Ok((f, before));
        }
        println!("attempt {attempt}: ss changed while tracer ran: {before:?} -> {after:?}");
    }
    bail!("the namespace's sockets kept changing")
}

fn names_leak(line: &str, pid: u32, port: u16) -> bool {
    let words: Vec<&str> = line
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    line.starts_with("ALERT ")
        && line.contains("CLOSE_WAIT")
        && words.contains(&"python3")
        && words.contains(&pid.to_string().as_str())
        && words.contains(&port.to_string().as_str())
}

struct Scene {
    pair: NetnsPair,
    server: Bg,
    _held: Bg,
}

impl Scene {
    fn new() -> Result<Scene> {
        let pair = NetnsPair::new("trstat")?;
        let mut server = {
            let mut c = pair.server_cmd("python3");
            c.args(["-u", "-c", SERVER])
                .arg(pair.server_v4.to_string())
                .arg(pair.server_v6.to_string())
                .arg(PORT.to_string())
                .arg(LOOP_PORT.to_string());
            Bg::spawn("server", c)?
        };
        server.wait_stdout("ready", READY)?;
        let client = |ns: &str, mode: &str, addr: String, port: u16, n: u32| -> Result<Bg> {
            let mut c = tracer_tests::in_netns(ns, "python3");
            c.args(["-u", "-c", CLIENT, mode, &addr, &port.to_string(), &n.to_string()]);
            Bg::spawn(mode, c)
        };
        for (addr, n) in [(pair.server_v4.to_string(), 15), (pair.server_v6.to_string(), 10)] {
            client(&pair.client, "close", addr, PORT, n)?.wait_stdout("closed", READY)?;
        }
        let mut held = client(&pair.client, "hold", pair.server_v4.to_string(), PORT, 3)?;
        held.wait_stdout("held", READY)?;
        client(&pair.server, "close", "127.0.0.1".into(), LOOP_PORT, 4)?.wait_stdout("closed", READY)?;
        Ok(Scene {
            pair,
            server,
            _held: held,
        })
    }

    fn server_pid(&self) -> u32 {
        u32::try_from(self.server.pid()).expect("pid")
    }
}

/// Text and JSON `--once` inside the server's namespace equal ss, state by
/// state; thresholds mark the lines; the leak is diagnosed.
#[test]
fn stat_once_equals_ss() -> Result<()> {
    if !require_privileges("stat_once_equals_ss") {
        return Ok(());
    }
    tracer_tests::netns::remove_stale("trstat");
    let dir = artifact_dir("stat");
    let sc = Scene::new()?;
    let ns = sc.pair.server.clone();
    let spid = sc.server_pid();

    let (f, ss) = stat_between_ss(
        &ns,
        &["--once", "--warn", "CLOSE_WAIT=20", "--critical", "ESTABLISHED=3"],
        false,
    )?;
    std::fs::write(dir.join("stat-once.out"), f.dump())?;
    f.expect_no_panic()?;
    f.expect_code(0)?;
    let (counts, marks, alerts) = parse_text(&f.stdout)?;
    println!("ss: {ss:?}\ntracer stat --once: {counts:?}\nmarks: {marks:?}");
    for a in &alerts {
        println!("{a}");
    }
    ensure!(
        counts == ss,
        "tracer stat --once {counts:?} != ss -tan {ss:?}\n{}",
        f.dump()
    );
    // The scene is what it should be.
    for (st, n) in [("CLOSE_WAIT", 25), ("ESTABLISHED", 3), ("LISTEN", 3), ("TIME_WAIT", 4)] {
        ensure!(
            counts[st] == n,
            "{st}: {} sockets, expected {n}\n{}",
            counts[st],
            f.dump()
        );
    }
    ensure!(
        marks.get("CLOSE_WAIT").map(String::as_str) == Some("warning")
            && marks.get("ESTABLISHED").map(String::as_str) == Some("critical")
            && marks.len() == 2,
        "marks {marks:?}: CLOSE_WAIT warning (25 >= 20), ESTABLISHED critical (3 >= 3), nothing else"
    );
    ensure!(
        alerts.iter().any(|l| names_leak(l, spid, PORT)),
        "no alert line names CLOSE_WAIT, python3, pid {spid} and port {PORT}:\n{}",
        f.stdout
    );

    let (f, ss) = stat_between_ss(&ns, &["--once", "--json", "--warn", "CLOSE_WAIT=20"], false)?;
    std::fs::write(dir.join("stat-once-json.out"), f.dump())?;
    f.expect_code(0)?;
    let lines: Vec<&str> = f.stdout.lines().collect();
    ensure!(lines.len() == 1, "--once --json prints one line:\n{}", f.stdout);
    let v: serde_json::Value = serde_json::from_str(lines[0]).context("--json output")?;
    let counts: Counts = v["counts"]
        .as_object()
        .context("counts")?
        .iter()
        .map(|(k, n)| Ok((k.clone(), n.as_u64().context("count")?)))
        .collect::<Result<_>>()?;
    ensure!(counts == ss, "--json counts {counts:?} != ss -tan {ss:?}");
    ensure!(v["total"].as_u64() == Some(ss.values().sum()), "total: {}", v["total"]);
    let netns = std::fs::metadata(format!("/var/run/netns/{ns}")).map(|m| std::os::unix::fs::MetadataExt::ino(&m))?;
    ensure!(v["netns"].as_u64() == Some(netns), "netns {} != {netns}", v["netns"]);
    let hit = v["thresholds_hit"].as_array().context("thresholds_hit")?;
    ensure!(
        hit.len() == 1 && hit[0]["state"] == "CLOSE_WAIT" && hit[0]["severity"] == "warning",
        "thresholds_hit: {hit:?}"
    );
    let leak = v["alerts"].as_array().context("alerts")?.iter().any(|a| {
        a["state"] == "CLOSE_WAIT"
            && a["pid"].as_u64() == Some(u64::from(spid))
            && a["comm"] == "python3"
            && a["local_port"].as_u64() == Some(u64::from(PORT))
    });
    ensure!(
        leak,
        "no JSON alert for CLOSE_WAIT of python3 pid {spid} port {PORT}: {}",
        v["alerts"]
    );

    // `ip netns exec` remounts /sys (no tracefs): --once needs no BPF.
    let (f, ss) = stat_between_ss(&ns, &["--once"], true)?;
    f.expect_code(0)?;
    let (counts, _, _) = parse_text(&f.stdout)?;
    ensure!(
        counts == ss,
        "under ip netns exec: {counts:?} != ss -tan {ss:?}\n{}",
        f.dump()
    );
    Ok(())
}

/// Bad threshold values are refused with a message, not a panic.
#[test]
fn stat_rejects_bad_thresholds() -> Result<()> {
    for bad in ["--warn=NOPE=3", "--warn=CLOSE_WAIT=x", "--critical=0"] {
        let mut c = Command::new(tracer_bin());
        c.args(["stat", "--once", bad]);
        let f = run("tracer stat", c, Duration::from_secs(10))?;
        f.expect_no_panic()?;
        ensure!(f.code() == Some(2), "{bad}: exit {:?}\n{}", f.code(), f.dump());
        ensure!(
            f.stderr.contains("threshold") || f.stderr.contains("state"),
            "{bad}: {}",
            f.stderr
        );
    }
    Ok(())
}

/// Live mode inside the server's namespace (nsenter: tracefs stays visible):
/// seeded from the table, kept live by the events; five more connections
/// closed by their clients appear as CLOSE_WAIT and in the rate, and the last
/// snapshot equals ss.
#[test]
fn stat_live_follows_events() -> Result<()> {
    if !require_privileges("stat_live_follows_events") {
        return Ok(());
    }
    tracer_tests::netns::remove_stale("trstat");
    let dir = artifact_dir("stat-live");
    let sc = Scene::new()?;
    let ns = sc.pair.server.clone();
    // One snapshot a second, for as long as the client below needs (scaled
    // like the timeouts: Python starts slowly on an emulated CPU).
    let snapshots = tracer_tests::scaled(Duration::from_secs(5)).as_secs();
    let mut c = tracer_tests::in_netns(&ns, tracer_bin());
    c.args(["stat", "--json", "-c", &snapshots.to_string()]);
    let mut tracer = Bg::spawn("tracer stat", c)?;
    tracer.wait_stdout("\n", Duration::from_secs(30))?;
    let mut more = tracer_tests::in_netns(&sc.pair.client, "python3");
    more.args([
        "-u",
        "-c",
        CLIENT,
        "close",
        &sc.pair.server_v4.to_string(),
        &PORT.to_string(),
        "5",
    ]);
    Bg::spawn("close", more)?.wait_stdout("closed", READY)?;
    let f = tracer.finish(Duration::from_secs(30))?;
    let ss = ss_counts(&ns)?;
    std::fs::write(dir.join("stat-live.out"), f.dump())?;
    f.expect_no_panic()?;
    f.expect_code(0)?;
    let snaps: Vec<serde_json::Value> = f
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("stat --json lines:\n{}", f.stdout))?;
    ensure!(
        snaps.len() as u64 == snapshots,
        "-c {snapshots} printed {} snapshots",
        snaps.len()
    );
    let counts = |v: &serde_json::Value| -> Result<Counts> {
        v["counts"]
            .as_object()
            .context("counts")?
            .iter()
            .map(|(k, n)| Ok((k.clone(), n.as_u64().context("count")?)))
            .collect()
    };
    ensure!(counts(&snaps[0])?["CLOSE_WAIT"] == 25, "first snapshot: {}", snaps[0]);
    let last = snaps.last().context("no snapshot")?;
    for v in &snaps {
        ensure!(v["source"] == "tracepoint" && v["events_lost"] == 0, "{v}");
    }
    ensure!(
        counts(last)? == ss,
        "last snapshot {} != ss -tan {ss:?}",
        last["counts"]
    );
    ensure!(ss["CLOSE_WAIT"] == 30, "ss: {ss:?}");
    let into_close_wait: f64 = snaps.iter().filter_map(|v| v["rates"]["CLOSE_WAIT"].as_f64()).sum();
    ensure!(
        into_close_wait > 0.0,
        "no transition into CLOSE_WAIT in the rates: {}",
        f.stdout
    );
    ensure!(
        last["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["state"] == "CLOSE_WAIT")),
        "no CLOSE_WAIT alert: {}",
        last["alerts"]
    );
    Ok(())
}
