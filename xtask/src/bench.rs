//! `cargo xtask bench`: tcpdump and the tracer reading the same 200,000-packet capture; then the
//! socket-state section (bench_states.rs) and the capture-filter section (bench_filter.rs).
//!
//! The capture (target/bench/bench-200000.pcap, made once and reused) repeats the real-traffic
//! captures of tracer/tests/data (mostly the iperf3 and HTTP ones: TCP with options; some UDP,
//! ICMP, ICMPv6 and ARP) with time stamps that keep increasing. For each flag set,
//! `tcpdump FLAGS -r F > /dev/null` and `tracer FLAGS -r F > /dev/null` run alternately, five
//! times each; the table shows the median wall time, the median user+sys CPU time and the
//! largest peak RSS (wait4's rusage of the child), and the ratio tcpdump/tracer. One more run
//! of each writes its output to a file, and the table says whether the two are identical.

use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

use crate::{bench_filter, bench_states, child, cmd, conformance};

const PACKETS: usize = 200_000;
const RUNS: usize = 5;
/// Flag sets, and whether TZ is set (GMT0, as in the conformance runs). With TZ unset, glibc's
/// localtime checks /etc/localtime at every packet tcpdump prints: the last row shows that cost.
const FLAG_SETS: &[(&[&str], bool)] = &[
    (&["-nn"], true),
    (&["-nn", "-v"], true),
    (&["-nn", "-e", "-x"], true),
    (&["-nn"], false),
];
const LIMIT: Duration = Duration::from_secs(600);

/// The captures replicated, with how many copies of each go into one round: the bulk is TCP.
const SOURCES: &[(&str, usize)] = &[
    ("real-iperf3.pcap", 1),
    ("real-http4.pcap", 4),
    ("real-http6.pcap", 4),
    ("real-close.pcap", 2),
    ("real-refused.pcap", 2),
    ("real-syn-retransmit.pcap", 1),
    ("real-udp.pcap", 2),
    ("real-ping.pcap", 1),
    ("real-arping.pcap", 1),
];

/// One record of a classic pcap file: time stamp (µs) and the bytes after the time stamp.
struct Rec {
    ts_us: i128,
    /// caplen, len, data (as in the file, little-endian).
    rest: Vec<u8>,
}

/// Reads a little-endian microsecond pcap (as tcpdump -w writes here): (linktype, records).
fn read_pcap(p: &Path) -> Result<(u32, Vec<Rec>)> {
    let b = fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    let u32_at = |o: usize| -> Option<u32> { Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?)) };
    if u32_at(0) != Some(0xa1b2_c3d4) {
        bail!("{}: not a little-endian microsecond pcap", p.display());
    }
    let linktype = u32_at(20).context("short header")?;
    let mut recs = Vec::new();
    let mut o = 24;
    while let (Some(sec), Some(usec), Some(caplen)) = (u32_at(o), u32_at(o + 4), u32_at(o + 8)) {
        let end = o + 16 + caplen as usize;
        let Some(rest) = b.get(o + 8..end) else { break };
        recs.push(Rec {
            ts_us: i128::from(sec) * 1_000_000 + i128::from(usec),
            rest: rest.to_vec(),
        });
        o = end;
    }
    Ok((linktype, recs))
}

/// Writes `PACKETS` records cycling through the sources, each copy shifted so that time
/// stamps keep increasing.
fn make_capture(data: &Path, dest: &Path) -> Result<()> {
    let mut sources: Vec<(Vec<Rec>, usize)> = Vec::new();
    let mut linktype = None;
    for (name, copies) in SOURCES {
        let p = data.join(name);
        if !p.exists() {
            eprintln!(
                "xtask: bench: {} is missing (cargo xtask captures makes it); left out",
                p.display()
            );
            continue;
        }
        let (lt, recs) = read_pcap(&p)?;
        if *linktype.get_or_insert(lt) != lt || recs.is_empty() {
            continue;
        }
        sources.push((recs, *copies));
    }
    if sources.is_empty() {
        bail!("no real-*.pcap in {}: run `cargo xtask captures` first", data.display());
    }
    let mut out = Vec::with_capacity(PACKETS * 200);
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&linktype.unwrap_or(1).to_le_bytes());
    let mut n = 0;
    let mut clock: i128 = 1_700_000_000 * 1_000_000;
    'fill: loop {
        for (recs, copies) in &sources {
            for _ in 0..*copies {
                let first = recs[0].ts_us;
                for r in recs {
                    let ts = clock + (r.ts_us - first).max(0);
                    let sec = u32::try_from(ts / 1_000_000).unwrap_or(u32::MAX);
                    let usec = u32::try_from(ts % 1_000_000).unwrap_or(0);
                    out.extend_from_slice(&sec.to_le_bytes());
                    out.extend_from_slice(&usec.to_le_bytes());
                    out.extend_from_slice(&r.rest);
                    n += 1;
                    if n == PACKETS {
                        break 'fill;
                    }
                }
                clock += (recs.last().map_or(first, |r| r.ts_us) - first).max(0) + 1_000;
            }
        }
    }
    let tmp = dest.with_extension("tmp");
    fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&out))
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, dest)?;
    Ok(())
}

fn set_tz(c: &mut Command, tz: bool) -> &mut Command {
    if tz { c.env("TZ", "GMT0") } else { c.env_remove("TZ") }
}

struct Stats {
    wall: Duration,
    cpu: Duration,
    rss_kib: u64,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn md5(p: &Path) -> Result<String> {
    let out = cmd::output("md5sum", Command::new("md5sum").arg(p))?;
    Ok(out.split_whitespace().next().unwrap_or("").to_owned())
}

/// Both sections, or the one named by `only` (`packets` or `states`).
pub fn run(bin: Option<PathBuf>, only: Option<&str>) -> Result<()> {
    let root = cmd::root();
    let tracer = conformance::tracer_binary(bin.as_deref(), &root)?;
    if only.is_none() || only == Some("packets") {
        packets(&root, &tracer)?;
    }
    if only.is_none() || only == Some("states") {
        bench_states::run(&tracer)?;
    }
    if only.is_none() || only == Some("filter") {
        bench_filter::run(&tracer)?;
    }
    Ok(())
}

/// tcpdump and the tracer reading the same capture.
fn packets(root: &Path, tracer: &Path) -> Result<()> {
    let tcpdump = conformance::tcpdump()?;
    let tracer = tracer.to_path_buf();
    let dir = root.join("target/bench");
    fs::create_dir_all(&dir)?;
    let capture = dir.join(format!("bench-{PACKETS}.pcap"));
    let data = root.join("tracer/tests/data");
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    // Reused while it is newer than every capture it is made of.
    let fresh = modified(&capture).is_some_and(|made| {
        SOURCES
            .iter()
            .filter_map(|(name, _)| modified(&data.join(name)))
            .all(|t| t <= made)
    });
    if fresh {
        println!("xtask: bench: reusing {}", capture.display());
    } else {
        make_capture(&data, &capture)?;
        println!("xtask: bench: made {}", capture.display());
    }
    let size = fs::metadata(&capture)?.len();
    println!(
        "xtask: bench: {PACKETS} packets, {:.1} MiB; {RUNS} alternating runs per program and flag set, output to /dev/null",
        size as f64 / (1 << 20) as f64
    );

    let gnu_time = Path::new("/usr/bin/time")
        .exists()
        .then(|| PathBuf::from("/usr/bin/time"));
    if gnu_time.is_none() {
        eprintln!(
            "xtask: bench: /usr/bin/time is missing (apt-get install time): peak RSS is wait4's, which \
             counts this process's own peak too"
        );
    }
    let rss_file = dir.join("rss.txt");
    let mut rows = Vec::new();
    for &(flags, tz) in FLAG_SETS {
        let mut walls: [Vec<Duration>; 2] = Default::default();
        let mut cpus: [Vec<Duration>; 2] = Default::default();
        let mut rss = [0u64; 2];
        for _ in 0..RUNS {
            for (k, prog) in [&tcpdump, &tracer].into_iter().enumerate() {
                // A child's peak RSS starts from its parent's at the spawn (the address space
                // it is forked or vforked from): measure it from GNU time's small process.
                let mut c = match &gnu_time {
                    Some(t) => {
                        let mut c = Command::new(t);
                        c.args(["-f", "%M", "-o"]).arg(&rss_file).arg(prog);
                        c
                    }
                    None => Command::new(prog),
                };
                set_tz(&mut c, tz).args(flags).arg("-r").arg(&capture);
                let e = child::run(&mut c, None, None, LIMIT)?;
                if !matches!(e.code, Some(0)) {
                    bail!(
                        "{} {} -r {}: {}",
                        prog.display(),
                        flags.join(" "),
                        capture.display(),
                        e.describe()
                    );
                }
                walls[k].push(e.wall);
                cpus[k].push(e.user + e.sys);
                let kib = match &gnu_time {
                    Some(_) => fs::read_to_string(&rss_file)
                        .ok()
                        .and_then(|t| t.trim().lines().last()?.trim().parse().ok())
                        .unwrap_or(0),
                    None => e.max_rss_kib,
                };
                rss[k] = rss[k].max(kib);
            }
        }
        let mut sums = Vec::new();
        for (k, prog) in [&tcpdump, &tracer].into_iter().enumerate() {
            let out = dir.join(format!("out-{k}.txt"));
            let mut c = Command::new(prog);
            set_tz(&mut c, tz).args(flags).arg("-r").arg(&capture);
            child::run(&mut c, Some(&out), None, LIMIT)?;
            sums.push(md5(&out)?);
            let _ = fs::remove_file(&out);
        }
        let stats: Vec<Stats> = (0..2)
            .map(|k| Stats {
                wall: median(walls[k].clone()),
                cpu: median(cpus[k].clone()),
                rss_kib: rss[k],
            })
            .collect();
        let label = if tz {
            flags.join(" ")
        } else {
            format!("{} (no TZ)", flags.join(" "))
        };
        rows.push((label, stats, sums));
    }

    println!(
        "\n{:<14} {:<8} {:>10} {:>12} {:>10}   {:>12} {:>11}  output",
        "flags", "program", "wall", "user+sys", "peak RSS", "wall ratio", "CPU ratio"
    );
    for (flags, s, sums) in &rows {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        for (k, name) in ["tcpdump", "tracer"].into_iter().enumerate() {
            let (wr, cr) = if k == 1 {
                (
                    format!("{:.2}x", ratio(s[0].wall, s[1].wall)),
                    format!("{:.2}x", ratio(s[0].cpu, s[1].cpu)),
                )
            } else {
                (String::new(), String::new())
            };
            let same = if k == 1 {
                if sums[0] == sums[1] {
                    format!("identical (md5 {})", sums[0])
                } else {
                    format!("DIFFERENT (md5 {} vs {})", sums[0], sums[1])
                }
            } else {
                String::new()
            };
            println!(
                "{:<14} {:<8} {:>8.3} s {:>10.3} s {:>6.1} MiB   {:>12} {:>11}  {}",
                if k == 0 { flags.as_str() } else { "" },
                name,
                s[k].wall.as_secs_f64(),
                s[k].cpu.as_secs_f64(),
                s[k].rss_kib as f64 / 1024.0,
                wr,
                cr,
                same
            );
        }
    }
    println!("\nratio = tcpdump time / tracer time (above 1: the tracer is faster); medians of {RUNS} runs");
    Ok(())
}
