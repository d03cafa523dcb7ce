//! Filter expressions, the second part of `cargo xtask conformance`: the release tracer against
//! the real tcpdump 4.99.3, over every capture of the shared corpus and tracer/tests/data.
//!
//! 1. Each capture is read unfiltered with `-nn` by both. Where the outputs are identical (the
//!    printer renders every packet of it as tcpdump does), `tracer -nn -r FILE EXPR` must print
//!    exactly what `tcpdump -nn -r FILE EXPR` prints, for every expression of
//!    tracer/tests/filter-expressions.txt; also with `-c 2`, and with the expression read by
//!    `-F FILE` (with a comment in it) for a few of them.
//! 2. Where they differ (protocols the printer leaves out of scope), the selection must still
//!    be the same for [`SELECTION_EXPRESSIONS`]: both print with `-# -tt -nn`, and the packet
//!    numbers and time stamps that begin each packet's lines must be the same.
//! 3. Invalid expressions ([`INVALID`]): both exit with status 1, and the tracer's
//!    `tracer: MESSAGE` says what tcpdump's `tcpdump: MESSAGE` says.
//!
//! Every run must end with tcpdump's exit status, with the same error message when it fails,
//! and never with a panic or a signal. Differences go to target/conformance/filter-diffs.txt.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{child, cmd, conformance};

/// Expressions whose selection is compared on captures the printer does not render in full.
const SELECTION_EXPRESSIONS: &[&str] = &[
    "port 80",
    "tcp host 10.16.2.85 and port 2100",
    "port 80 or arp",
    "ip6 and (tcp or icmp6) or arp and not ether broadcast",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
    "greater 200",
    "vlan or ip[8] == 64",
    "not (tcp or udp)",
    "protochain 6",
    "not protochain 58",
];

/// Expressions also given through `-F FILE` and with `-c 2`.
const FILE_AND_COUNT_EXPRESSIONS: &[&str] = &["port 80", "tcp host 10.16.2.85 and port 2100", "port 80 or arp", "icmp"];

/// Expressions libpcap refuses.
pub const INVALID: &[&str] = &[
    "tcp port 70000",
    "port 80 and",
    "((tcp)",
    "host 999.1.1.1",
    "foo",
    "ip[1:3] == 1",
    "vlan 5000",
    "net 10.0.0.1/8",
    "tcp[0] << 40 = 1",
    "ether host 1:2:3:4:5:6:7",
    "inbound",
    "portrange 80-",
];

/// A run that takes longer than this has hung.
const RUN_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Options {
    /// Use this tracer binary instead of building one.
    pub bin: Option<PathBuf>,
    /// Only captures whose file name contains this.
    pub filter: Option<String>,
}

/// How the two programs' outputs are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compare {
    /// Standard output byte for byte.
    Text,
    /// `-# -tt`: the number and time stamp that begin each packet's lines.
    Selection,
}

#[derive(Clone, Debug)]
struct Job {
    capture: PathBuf,
    /// Arguments after `-r FILE`.
    args: Vec<String>,
    /// Arguments before `-r FILE`.
    flags: Vec<String>,
    compare: Compare,
    /// An invalid expression: both must exit with status 1 and a message.
    invalid: bool,
}

impl Job {
    fn label(&self) -> String {
        let name = self.capture.file_name().unwrap_or_default().to_string_lossy();
        format!("{} -r {name} {}", self.flags.join(" "), shell_quote(&self.args))
    }
}

fn shell_quote(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.chars().all(|c| c.is_ascii_alphanumeric() || "-./_:".contains(c)) {
                a.clone()
            } else {
                format!("'{a}'")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

struct Run {
    stdout: Vec<u8>,
    stderr: String,
    ended: child::Ended,
}

impl Run {
    /// The last line of standard error without the program's name.
    fn message(&self) -> &str {
        let last = self.stderr.lines().last().unwrap_or("");
        last.strip_prefix("tcpdump: ")
            .or_else(|| last.strip_prefix("tracer: "))
            .unwrap_or(last)
    }
}

fn run_one(prog: &Path, job: &Job, scratch: &Path) -> Result<Run> {
    let (out, err) = (scratch.join("out"), scratch.join("err"));
    let mut c = Command::new(prog);
    c.env("TZ", "GMT0")
        .args(&job.flags)
        .arg("-r")
        .arg(&job.capture)
        .args(&job.args);
    let ended = child::run(&mut c, Some(&out), Some(&err), RUN_LIMIT)?;
    Ok(Run {
        stdout: std::fs::read(&out).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err).unwrap_or_default()).into_owned(),
        ended,
    })
}

/// What differs between tcpdump's run and the tracer's (None: nothing).
fn compare(job: &Job, theirs: &Run, mine: &Run) -> Option<String> {
    let e = mine.ended;
    if e.timed_out || e.signal.is_some() || mine.stderr.contains("panicked") {
        let first = mine.stderr.lines().find(|l| l.contains("panicked")).unwrap_or("");
        return Some(format!("tracer crashed: {} {first}", e.describe()));
    }
    // Invalid expressions must fail, not just fail alike.
    if job.invalid && (e.code != Some(1) || mine.message().is_empty()) {
        return Some(format!(
            "an invalid expression must exit with status 1 and a message: {}",
            e.describe()
        ));
    }
    if theirs.ended.code != e.code {
        return Some(format!(
            "tcpdump {} ({}), tracer {} ({})",
            theirs.ended.describe(),
            theirs.message(),
            e.describe(),
            mine.message()
        ));
    }
    if e.code != Some(0) && theirs.message() != mine.message() {
        return Some(format!(
            "error messages differ:\n  tcpdump: {}\n  tracer:  {}",
            theirs.message(),
            mine.message()
        ));
    }
    if job.compare == Compare::Selection {
        let (t, m) = (selected(&theirs.stdout), selected(&mine.stdout));
        if t == m {
            return None;
        }
        let same = t.iter().zip(&m).take_while(|(a, b)| a == b).count();
        let at = |v: &Vec<&[u8]>| {
            v.get(same)
                .map_or("(none)".into(), |p| String::from_utf8_lossy(p).into_owned())
        };
        return Some(format!(
            "selected packets differ: tcpdump printed {} packets, the tracer {}; first difference: tcpdump `{}`, tracer `{}`",
            t.len(),
            m.len(),
            at(&t),
            at(&m)
        ));
    }
    let (t, m) = (&theirs.stdout[..], &mine.stdout[..]);
    if t == m {
        return None;
    }
    Some(match job.compare {
        Compare::Selection => unreachable!("compared above"),
        Compare::Text => {
            let (tl, ml): (Vec<&[u8]>, Vec<&[u8]>) =
                (t.split(|&b| b == b'\n').collect(), m.split(|&b| b == b'\n').collect());
            let i = tl.iter().zip(&ml).take_while(|(a, b)| a == b).count();
            let line = |v: &Vec<&[u8]>| {
                v.get(i)
                    .map_or("(no line)".into(), |l| String::from_utf8_lossy(l).into_owned())
            };
            format!(
                "output differs at line {} ({} vs {} lines):\n  tcpdump: {}\n  tracer:  {}",
                i + 1,
                tl.len() - 1,
                ml.len() - 1,
                line(&tl),
                line(&ml)
            )
        }
    })
}

/// Per packet printed with `-# -tt`, the number and time stamp its first line begins with
/// (`%5u  SEC.USEC`): the line that begins with the next number starts the next packet, which
/// no decoder output can imitate by chance.
fn selected(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut next = format!("{:5}  ", 1);
    for line in text.split(|&b| b == b'\n') {
        if line.starts_with(next.as_bytes()) {
            let end = line[next.len()..]
                .iter()
                .position(|&b| b == b' ')
                .map_or(line.len(), |p| next.len() + p);
            out.push(&line[..end]);
            next = format!("{:5}  ", out.len() + 1);
        }
    }
    out
}

/// Runs every job in both programs on a few threads; returns per job the difference, if any.
fn run_jobs(jobs: &[Job], tcpdump: &Path, tracer: &Path, out_dir: &Path) -> Result<Vec<Option<String>>> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| 2 * n.get())
        .clamp(2, 8);
    conformance::in_parallel(jobs, workers, out_dir, "filters", Job::label, |scratch, _, job| {
        let theirs = run_one(tcpdump, job, scratch)?;
        let mine = run_one(tracer, job, scratch)?;
        Ok(compare(job, &theirs, &mine))
    })
}

fn expressions(root: &Path) -> Result<Vec<String>> {
    let path = root.join("tracer/tests/filter-expressions.txt");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

pub fn run(opts: &Options) -> Result<()> {
    let start = Instant::now();
    let root = cmd::root();
    let tcpdump = conformance::tcpdump()?;
    let tracer = conformance::tracer_binary(opts.bin.as_deref(), &root)?;
    let tracer = if tracer.is_absolute() {
        tracer
    } else {
        std::env::current_dir()?.join(tracer)
    };
    let exprs = expressions(&root)?;
    let mut captures = Vec::new();
    match conformance::corpus_dir(&root) {
        Some(d) => captures.extend(conformance::captures_in(&d)?),
        None => eprintln!(
            "xtask: WARNING: the shared corpus was not found beside the checkout (set TRACER_CONFORMANCE_DIR); \
             comparing only tracer/tests/data"
        ),
    }
    captures.extend(conformance::captures_in(&root.join("tracer/tests/data"))?);
    captures.retain(|p| {
        opts.filter
            .as_ref()
            .is_none_or(|f| p.file_name().is_some_and(|n| n.to_string_lossy().contains(f.as_str())))
    });
    if captures.is_empty() {
        bail!("no captures to compare");
    }
    let out_dir = root.join("target/conformance");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    // 1. Which captures the printer renders exactly as tcpdump does.
    let plain: Vec<Job> = captures
        .iter()
        .map(|c| Job {
            capture: c.clone(),
            args: Vec::new(),
            flags: words("-nn"),
            compare: Compare::Text,
            invalid: false,
        })
        .collect();
    let plain_diffs = run_jobs(&plain, &tcpdump, &tracer, &out_dir)?;
    let (mut identical, mut partial): (Vec<&Job>, Vec<&Job>) = (Vec::new(), Vec::new());
    for (job, diff) in plain.iter().zip(&plain_diffs) {
        if diff.is_none() {
            identical.push(job);
        } else {
            partial.push(job);
        }
    }
    println!(
        "xtask: filters: {} captures; {} printed by the tracer exactly as by tcpdump (-nn), {} not",
        captures.len(),
        identical.len(),
        partial.len()
    );

    // 2. The jobs.
    let expr_file = out_dir.join(format!("filter-expression-{}.txt", std::process::id()));
    let mut jobs: Vec<Job> = Vec::new();
    for cap in &identical {
        for e in &exprs {
            jobs.push(Job {
                capture: cap.capture.clone(),
                args: vec![e.clone()],
                flags: words("-nn"),
                compare: Compare::Text,
                invalid: false,
            });
        }
        for (k, e) in FILE_AND_COUNT_EXPRESSIONS.iter().enumerate() {
            jobs.push(Job {
                capture: cap.capture.clone(),
                args: vec![e.to_string()],
                flags: words("-nn -c 2"),
                compare: Compare::Text,
                invalid: false,
            });
            // -F: the words after it are ignored, as by tcpdump.
            jobs.push(Job {
                capture: cap.capture.clone(),
                args: words("-F")
                    .into_iter()
                    .chain([format!("{}{k}", expr_file.display()), "ignored".into()])
                    .collect(),
                flags: words("-nn"),
                compare: Compare::Text,
                invalid: false,
            });
        }
    }
    for (k, e) in FILE_AND_COUNT_EXPRESSIONS.iter().enumerate() {
        let f = format!("{}{k}", expr_file.display());
        std::fs::write(&f, format!("# from filter-expressions\n{e} # the expression\n"))
            .with_context(|| format!("writing {f}"))?;
    }
    for cap in &partial {
        for e in SELECTION_EXPRESSIONS {
            jobs.push(Job {
                capture: cap.capture.clone(),
                args: vec![e.to_string()],
                flags: words("-# -tt -nn"),
                compare: Compare::Selection,
                invalid: false,
            });
        }
    }
    let invalid_on = captures
        .iter()
        .find(|c| c.file_name().is_some_and(|n| n == "real-http4.pcap"))
        .or(captures.first())
        .cloned()
        .context("no capture")?;
    for e in INVALID {
        jobs.push(Job {
            capture: invalid_on.clone(),
            args: vec![e.to_string()],
            flags: words("-nn"),
            compare: Compare::Text,
            invalid: true,
        });
    }
    println!(
        "xtask: filters: {} runs of each program ({} expressions over the identical captures, {} selections over the others, {} invalid expressions)",
        jobs.len(),
        exprs.len(),
        SELECTION_EXPRESSIONS.len(),
        INVALID.len()
    );
    let diffs = run_jobs(&jobs, &tcpdump, &tracer, &out_dir)?;
    for k in 0..FILE_AND_COUNT_EXPRESSIONS.len() {
        let _ = std::fs::remove_file(format!("{}{k}", expr_file.display()));
    }

    let mut report = String::new();
    let mut failures = 0usize;
    for (job, d) in jobs.iter().zip(&diffs) {
        if let Some(d) = d {
            failures += 1;
            report.push_str(&format!("{}:\n  {d}\n", job.label()));
        }
    }
    let diffs_file = out_dir.join("filter-diffs.txt");
    std::fs::write(&diffs_file, &report).with_context(|| format!("writing {}", diffs_file.display()))?;
    println!(
        "xtask: filters: {}/{} runs identical to tcpdump in {:.1} s",
        jobs.len() - failures,
        jobs.len(),
        start.elapsed().as_secs_f64()
    );
    if failures > 0 {
        for l in report.lines().take(30) {
            println!("  {l}");
        }
        bail!(
            "filters: {failures} runs differ from tcpdump (all in {})",
            diffs_file.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_by_number_and_time_stamp() {
        let text = b"    1  1.000001 IP a > b\n\t0x0000: 4500\n    2  1.5 ARP, Request\n    2  fake\n    3  2.0\n";
        assert_eq!(selected(text), [&b"    1  1.000001"[..], b"    2  1.5", b"    3  2.0"]);
        assert!(selected(b"").is_empty());
        assert!(selected(b"    2  out of order\n").is_empty());
    }
}
