//! The socket-state section of `cargo xtask bench`: what `tracer states` costs while a
//! connection-churn workload (`cargo xtask churn`: short loopback connections, as fast as they
//! go) runs, and whether it loses events.
//!
//! Each run of the workload has a fresh network namespace of its own (loopback only); the
//! tracer runs in the root namespace and sees every namespace, unfiltered. Rounds alternate:
//! the workload alone, with `tracer states > /dev/null`, with
//! `tracer states --json > FILE`. For a run with the tracer:
//! - the tracer's CPU: the CPU time of all its threads (/proc/PID/task/*/schedstat, ns) from
//!   just before the workload starts until its events have been read (the workload's end plus
//!   a settling pause), plus its BPF programs' run time over the same span (run_time_ns of the
//!   programs named `tracer_*` that the tracer process holds — ids from /proc/PID/fdinfo —
//!   from `bpftool prog show -j` with kernel.bpf_stats_enabled = 1, restored afterwards);
//! - the workload's CPU: user + sys of the churn process (wait4's rusage);
//! - the events lost: the tracer's exit summary (`N state events seen, M dropped by kernel`).
//!
//! Then the check figure: 5000 loopback connections with `tracer states` attached,
//! tracer CPU + BPF run time under 5 % of the connections' CPU.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{child, cmd};

/// Connections per run of the main rounds, and rounds.
const CONNECTIONS: usize = 20_000;
const ROUNDS: usize = 5;
/// The check: this many connections, this many runs, this bound.
const CHECK_CONNECTIONS: usize = 5_000;
const CHECK_RUNS: usize = 3;
const CHECK_LIMIT_PCT: f64 = 5.0;
const GOAL_PCT: f64 = 2.0;
/// Client and server threads of the workload (2 cores here).
const THREADS: usize = 2;
/// After the workload ends, time for the tracer to read and print what is left.
const SETTLE: Duration = Duration::from_millis(500);
const LIMIT: Duration = Duration::from_secs(300);
const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Alone,
    DevNull,
    JsonFile,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Alone => "workload alone",
            Mode::DevNull => "tracer states > /dev/null",
            Mode::JsonFile => "tracer states --json > file",
        }
    }
}

/// What one run measured.
struct Run {
    wall: Duration,
    /// user + sys of the workload.
    workload_cpu: Duration,
    /// The tracer's threads, over the workload's span.
    tracer_cpu: Duration,
    /// Its BPF programs' run time over the same span.
    bpf: Duration,
    /// By program name: (run time ns, runs) over the same span.
    progs: BTreeMap<String, (u64, u64)>,
    /// (seen, dropped) from the exit summary.
    events: Option<(u64, u64)>,
    /// The tracer's own rusage over its whole life (start-up and exit included).
    tracer_total_cpu: Duration,
    /// Bytes of output (file mode).
    output_bytes: u64,
}

impl Run {
    fn cost_pct(&self) -> f64 {
        100.0 * (self.tracer_cpu + self.bpf).as_secs_f64() / self.workload_cpu.as_secs_f64().max(1e-9)
    }
}

/// Sets kernel.bpf_stats_enabled to 1 and puts the old value back when dropped.
struct BpfStats {
    old: String,
}

impl BpfStats {
    fn enable() -> Result<BpfStats> {
        let old = fs::read_to_string(BPF_STATS)
            .with_context(|| format!("reading {BPF_STATS}"))?
            .trim()
            .to_owned();
        fs::write(BPF_STATS, "1").with_context(|| format!("writing 1 to {BPF_STATS}"))?;
        Ok(BpfStats { old })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Err(e) = fs::write(BPF_STATS, &self.old) {
            eprintln!("xtask: bench: could not restore {BPF_STATS} to {}: {e}", self.old);
        }
    }
}

/// CPU time of every thread of `pid` (ns), from /proc/PID/task/*/schedstat.
fn threads_cpu_ns(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for t in fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let p = t?.path().join("schedstat");
        // A thread may end between the listing and the read.
        if let Ok(s) = fs::read_to_string(&p) {
            total += s
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// The BPF programs process `pid` holds (program and link descriptors, from
/// /proc/PID/fdinfo: `prog_id:`), and how many of its descriptors are links.
fn held_programs(pid: u32) -> Result<(BTreeSet<u64>, usize)> {
    let dir = format!("/proc/{pid}/fdinfo");
    let mut ids = BTreeSet::new();
    let mut links = 0;
    for f in fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        // A descriptor may be closed between the listing and the read.
        let Ok(info) = fs::read_to_string(f?.path()) else {
            continue;
        };
        let id = info
            .lines()
            .find_map(|l| l.strip_prefix("prog_id:"))
            .and_then(|v| v.trim().parse().ok());
        if let Some(id) = id {
            ids.insert(id);
            links += usize::from(info.lines().any(|l| l.starts_with("link_type:")));
        }
    }
    Ok((ids, links))
}

/// (name, run_time_ns, run_cnt) of each BPF program named `tracer_*` that process `pid` holds,
/// by program id (`bpftool prog show -j`).
fn bpf_run_time(pid: u32) -> Result<BTreeMap<u64, (String, u64, u64)>> {
    let (held, _) = held_programs(pid)?;
    let out = cmd::output(
        "bpftool prog show -j",
        Command::new("bpftool").args(["prog", "show", "-j"]),
    )?;
    let progs: serde_json::Value = serde_json::from_str(&out).context("bpftool prog show -j: not JSON")?;
    let mut m = BTreeMap::new();
    for p in progs.as_array().context("bpftool prog show -j: not an array")? {
        let name = p.get("name").and_then(|n| n.as_str()).unwrap_or("");
        let id = p.get("id").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if !name.starts_with("tracer_") || !held.contains(&id) {
            continue;
        }
        let ns = p.get("run_time_ns").and_then(serde_json::Value::as_u64).unwrap_or(0);
        let cnt = p.get("run_cnt").and_then(serde_json::Value::as_u64).unwrap_or(0);
        m.insert(id, (name.to_owned(), ns, cnt));
    }
    Ok(m)
}

/// A started `tracer states`, killed if still running when dropped.
struct Tracer {
    child: Option<Child>,
    pid: u32,
    stderr: PathBuf,
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Tracer {
    fn pid(&self) -> u32 {
        self.pid
    }

    /// Starts it and waits until its programs are loaded and it has printed that it runs.
    fn start(bin: &Path, json: bool, stdout: &Path, stderr: &Path) -> Result<Tracer> {
        let mut c = Command::new(bin);
        c.arg("states");
        if json {
            c.arg("--json");
        }
        c.stdin(Stdio::null())
            .stdout(fs::File::create(stdout).with_context(|| format!("creating {}", stdout.display()))?)
            .stderr(fs::File::create(stderr).with_context(|| format!("creating {}", stderr.display()))?);
        let child = c
            .spawn()
            .with_context(|| format!("starting {} states", bin.display()))?;
        let mut t = Tracer {
            pid: child.id(),
            child: Some(child),
            stderr: stderr.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Ready: its programs are attached (it holds BPF links) and stderr says it runs.
        loop {
            if let Some(st) = t.child.as_mut().and_then(|c| c.try_wait().transpose()).transpose()? {
                bail!(
                    "tracer states exited ({st}) before it was ready: {}",
                    fs::read_to_string(stderr).unwrap_or_default()
                );
            }
            let (_, links) = held_programs(t.pid())?;
            let said = fs::metadata(stderr).is_ok_and(|m| m.len() > 0);
            if links > 0 && said {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "tracer states not ready after 30 s ({links} BPF links; stderr: {:?})",
                    fs::read_to_string(stderr).unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        // Attachment follows loading; the seed from the socket table follows start-up.
        thread::sleep(Duration::from_millis(500));
        Ok(t)
    }

    /// SIGINT, then waits; returns its whole-life CPU (rusage) and its stderr.
    fn stop(mut self) -> Result<(Duration, String)> {
        let pid = libc::pid_t::try_from(self.pid()).context("pid")?;
        // SAFETY: kill(2) on our own unreaped child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut status = 0;
        // SAFETY: rusage is plain data; all-zero is valid.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: wait4 on our own unreaped child with valid out-pointers.
            let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
            if r == pid {
                // Reaped: nothing for Drop to kill.
                self.child = None;
                break;
            }
            if Instant::now() > deadline {
                bail!("tracer states did not exit within 30 s of SIGINT");
            }
            thread::sleep(Duration::from_millis(10));
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        let err = fs::read_to_string(&self.stderr).unwrap_or_default();
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            bail!("tracer states ended with status {status:#x}: {err}");
        }
        Ok((tv(ru.ru_utime) + tv(ru.ru_stime), err))
    }
}

/// A network namespace of its own for one run of the workload (only `lo`, up), deleted when
/// dropped: its TIME_WAIT sockets (one per connection, 60 s each) go with it instead of
/// piling up towards the host's tcp_max_tw_buckets.
struct RunNetns(String);

impl RunNetns {
    fn new() -> Result<RunNetns> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ns = RunNetns(format!("trbench-{}-{n}", std::process::id()));
        cmd::status("ip netns add", Command::new("ip").args(["netns", "add", &ns.0]))?;
        cmd::status(
            "ip link set lo up",
            Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"]),
        )?;
        Ok(ns)
    }
}

impl Drop for RunNetns {
    fn drop(&mut self) {
        tracer_tests::netns::delete_netns(&self.0);
    }
}

fn churn(n: usize) -> Result<child::Ended> {
    let exe = std::env::current_exe().context("xtask's own path")?;
    let ns = RunNetns::new()?;
    // nsenter execs the workload: wait4's rusage is the workload's.
    let mut c = tracer_tests::in_netns(&ns.0, exe);
    c.args([
        "churn",
        "--connections",
        &n.to_string(),
        "--threads",
        &THREADS.to_string(),
    ]);
    let e = child::run(&mut c, None, None, LIMIT)?;
    if e.code != Some(0) {
        bail!("churn of {n} connections: {}", e.describe());
    }
    Ok(e)
}

fn one_run(bin: &Path, dir: &Path, mode: Mode, n: usize) -> Result<Run> {
    if mode == Mode::Alone {
        let e = churn(n)?;
        return Ok(Run {
            wall: e.wall,
            workload_cpu: e.user + e.sys,
            tracer_cpu: Duration::ZERO,
            bpf: Duration::ZERO,
            progs: BTreeMap::new(),
            events: None,
            tracer_total_cpu: Duration::ZERO,
            output_bytes: 0,
        });
    }
    let out = match mode {
        Mode::JsonFile => dir.join("states.json"),
        _ => PathBuf::from("/dev/null"),
    };
    let tracer = Tracer::start(bin, mode == Mode::JsonFile, &out, &dir.join("states.err"))?;
    let pid = tracer.pid();
    let (cpu0, bpf0) = (threads_cpu_ns(pid)?, bpf_run_time(pid)?);
    let e = churn(n)?;
    thread::sleep(SETTLE);
    let (cpu1, bpf1) = (threads_cpu_ns(pid)?, bpf_run_time(pid)?);
    let (total, err) = tracer.stop()?;
    let mut progs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (id, (name, ns, cnt)) in &bpf1 {
        let (ns0, cnt0) = bpf0.get(id).map_or((0, 0), |p| (p.1, p.2));
        let e = progs.entry(name.clone()).or_default();
        e.0 += ns.saturating_sub(ns0);
        e.1 += cnt.saturating_sub(cnt0);
    }
    let bpf_ns: u64 = progs.values().map(|p| p.0).sum();
    let events = tracer_tests::states_json::summary(&err);
    if events.is_none() {
        bail!("no 'N state events seen, M dropped by kernel' in the tracer's stderr: {err}");
    }
    Ok(Run {
        wall: e.wall,
        workload_cpu: e.user + e.sys,
        tracer_cpu: Duration::from_nanos(cpu1.saturating_sub(cpu0)),
        bpf: Duration::from_nanos(bpf_ns),
        progs,
        events,
        tracer_total_cpu: total,
        output_bytes: if mode == Mode::JsonFile {
            fs::metadata(&out).map_or(0, |m| m.len())
        } else {
            0
        },
    })
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The socket-state section. Needs root (BPF, bpf_stats_enabled).
pub fn run(bin: &Path) -> Result<()> {
    if !cmd::is_root() {
        bail!("the socket-state bench loads BPF programs and sets kernel.bpf_stats_enabled: run it as root");
    }
    if cmd::which("bpftool").is_none() {
        bail!("bpftool is missing (apt-get install bpftool): it reads the BPF programs' run time");
    }
    let dir = cmd::root().join("target/bench");
    fs::create_dir_all(&dir)?;
    let stats = BpfStats::enable()?;
    println!(
        "\nxtask: bench: socket states: {CONNECTIONS} loopback connections per run ({THREADS} client and {THREADS} \
         server threads, as fast as they go), {ROUNDS} rounds alternating: {}, {}, {}",
        Mode::Alone.label(),
        Mode::DevNull.label(),
        Mode::JsonFile.label()
    );
    let modes = [Mode::Alone, Mode::DevNull, Mode::JsonFile];
    let mut runs: BTreeMap<usize, Vec<Run>> = BTreeMap::new();
    // One run of each first, not counted: warms the page cache and the tracer's binary.
    for m in modes {
        one_run(bin, &dir, m, CONNECTIONS / 10)?;
    }
    for round in 0..ROUNDS {
        for (k, m) in modes.into_iter().enumerate() {
            let r = one_run(bin, &dir, m, CONNECTIONS)?;
            println!(
                "  round {} {:<28} wall {:>7.1} ms  workload CPU {:>7.1} ms{}",
                round + 1,
                m.label(),
                ms(r.wall),
                ms(r.workload_cpu),
                match r.events {
                    Some((seen, dropped)) => format!(
                        "  tracer {:>6.1} ms + BPF {:>6.1} ms = {:>5.2} %  events {seen} seen, {dropped} dropped",
                        ms(r.tracer_cpu),
                        ms(r.bpf),
                        r.cost_pct()
                    ),
                    None => String::new(),
                }
            );
            runs.entry(k).or_default().push(r);
        }
    }

    let mut check = Vec::new();
    for _ in 0..CHECK_RUNS {
        check.push(one_run(bin, &dir, Mode::DevNull, CHECK_CONNECTIONS)?);
    }
    drop(stats);

    println!(
        "\n{:<30} {:>10} {:>13} {:>11} {:>11} {:>9} {:>14} {:>9}",
        "socket states (medians)", "wall", "workload CPU", "tracer CPU", "BPF time", "cost", "conn/s", "dropped"
    );
    let alone_wall = median_f(runs[&0].iter().map(|r| ms(r.wall)).collect());
    for (k, m) in modes.into_iter().enumerate() {
        let rs = &runs[&k];
        let wall = median_f(rs.iter().map(|r| ms(r.wall)).collect());
        let dropped: u64 = rs.iter().filter_map(|r| r.events.map(|e| e.1)).sum();
        println!(
            "{:<30} {:>7.1} ms {:>10.1} ms {:>8.1} ms {:>8.1} ms {:>8} {:>14} {:>9}",
            m.label(),
            wall,
            median_f(rs.iter().map(|r| ms(r.workload_cpu)).collect()),
            median_f(rs.iter().map(|r| ms(r.tracer_cpu)).collect()),
            median_f(rs.iter().map(|r| ms(r.bpf)).collect()),
            if m == Mode::Alone {
                String::new()
            } else {
                format!("{:.2} %", median_f(rs.iter().map(Run::cost_pct).collect()))
            },
            format!("{:.0}", CONNECTIONS as f64 / (wall / 1e3).max(1e-9)),
            if m == Mode::Alone {
                String::new()
            } else {
                dropped.to_string()
            },
        );
        if m != Mode::Alone {
            let seen = median_f(rs.iter().filter_map(|r| r.events.map(|e| e.0 as f64)).collect());
            println!(
                "{:<30} wall {:+.1} % vs alone; {:.0} events seen per run ({:.1} per connection); whole-life tracer \
                 CPU {:.1} ms{}",
                "",
                100.0 * (wall - alone_wall) / alone_wall.max(1e-9),
                seen,
                seen / CONNECTIONS as f64,
                median_f(rs.iter().map(|r| ms(r.tracer_total_cpu)).collect()),
                if m == Mode::JsonFile {
                    format!(
                        "; {:.1} MiB of JSON",
                        median_f(rs.iter().map(|r| r.output_bytes as f64).collect()) / f64::from(1 << 20)
                    )
                } else {
                    String::new()
                }
            );
        }
    }
    // Where the BPF time goes: each program's runs and cost, over all runs with the tracer.
    let mut by_prog: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut conns = 0;
    for r in runs.iter().filter(|(k, _)| **k != 0).flat_map(|(_, v)| v) {
        conns += CONNECTIONS;
        for (name, (ns, cnt)) in &r.progs {
            let e = by_prog.entry(name).or_default();
            e.0 += ns;
            e.1 += cnt;
        }
    }
    println!("BPF programs (all runs with the tracer): runs per connection, ns per run, ns per connection");
    for (name, (ns, cnt)) in &by_prog {
        println!(
            "  {name:<24} {:>8.2} {:>8.0} {:>8.0}",
            *cnt as f64 / conns.max(1) as f64,
            *ns as f64 / (*cnt).max(1) as f64,
            *ns as f64 / conns.max(1) as f64
        );
    }
    let worst = runs
        .iter()
        .filter(|(k, _)| **k != 0)
        .flat_map(|(_, v)| v)
        .map(Run::cost_pct)
        .fold(0.0, f64::max);
    let lost: u64 = runs.values().flatten().filter_map(|r| r.events.map(|e| e.1)).sum();
    println!(
        "cost = (tracer CPU + BPF run time) / workload CPU; goal <= {GOAL_PCT} %: {} (worst run {worst:.2} %); \
         state events dropped over all runs: {lost}",
        if median_f(runs[&1].iter().map(Run::cost_pct).collect()) <= GOAL_PCT {
            "met"
        } else {
            "NOT met"
        }
    );
    println!("\ncheck: {CHECK_CONNECTIONS} loopback connections with tracer states attached ({CHECK_RUNS} runs):");
    for r in &check {
        println!(
            "  tracer {:.1} ms + BPF {:.1} ms over workload CPU {:.1} ms = {:.2} % (limit {CHECK_LIMIT_PCT} %), \
             {} events dropped",
            ms(r.tracer_cpu),
            ms(r.bpf),
            ms(r.workload_cpu),
            r.cost_pct(),
            r.events.map_or(0, |e| e.1)
        );
    }
    let check_worst = check.iter().map(Run::cost_pct).fold(0.0, f64::max);
    if check_worst >= CHECK_LIMIT_PCT || lost > 0 {
        bail!("socket-state bench: check failed (worst {check_worst:.2} %, {lost} events dropped)");
    }
    Ok(())
}
