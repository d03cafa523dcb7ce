//! `cargo xtask conformance`: the release tracer against the real tcpdump 4.99.3, line by line.
//!
//! Runs `TZ=GMT0 tcpdump FLAGS -r FILE` and `TZ=GMT0 tracer FLAGS -r FILE --coverage-report C`
//! for
//! - (a) every TESTLIST.subset entry of the shared corpus, with tcpdump's test-suite command
//!   line `-# -n OPTIONS` (entries whose options the tracer lacks are skipped and listed),
//! - (b) every corpus capture with plain `-nn`,
//! - (c) every capture in tracer/tests/data with each flag set of [`DATA_FLAG_SETS`],
//!
//! or, with `--flags "..."`, that one flag set over every capture; `--all` runs every flag set of
//! (c) over every capture (corpus included) besides (a).
//!
//! Each output is cut into per-packet records. tcpdump's boundaries come from a second run with
//! `-#` added (unless the flags have it already): a record starts at the line that begins with
//! the next packet number, which no decoder output or `-A` payload can imitate by chance, and
//! works as well with `-t` (no time stamp) as with any other format. The tracer's come from its
//! coverage report, which gives the number of lines printed for each packet.
//! Record i of both programs is then packet i of the file. The tracer's coverage report says
//! per packet what is in scope:
//! - `F`: the record must be identical;
//! - `L` (an application protocol tcpdump decodes and we do not): the tracer's lines must equal
//!   tcpdump's except one, its last protocol line, which must be a prefix of tcpdump's line
//!   (ending where tcpdump's continues with `:` or a space); the lines after it (hex or ASCII
//!   dumps) must equal tcpdump's last lines. tcpdump's extra decoder lines are out of scope;
//! - `U`: out of scope.
//!
//! Every run is also checked for crashes: an exit status other than 0 or 1, a signal, a time
//! out, or "panicked" on standard error. `--check` fails on any differing in-scope line and any
//! crash. All differences go to target/conformance/diffs.txt.
//!
//! Then, unless `--flags` names one flag set, filter expressions ([`filters`]): the same
//! packets selected and printed as by tcpdump, the same errors for invalid expressions.

pub mod filters;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

use crate::{
    child,
    cmd::{self, status},
};

/// The flag sets compared over the captures in tracer/tests/data.
pub const DATA_FLAG_SETS: &[&str] = &[
    "-nn", "", "-S", "-v", "-vv", "-e", "-x", "-xx", "-X", "-XX", "-A", "-AA", "-q", "-t", "-tt", "-ttt", "-tttt",
    "-ttttt", "-#", "--nano",
];

/// Short options of tcpdump that the tracer implements for `-r` (each also must appear in
/// `tracer --help`); `c` takes a value.
const SUPPORTED_SHORT: &str = "nSveqxXAt#c";

/// Where the shared corpus is kept, relative to a directory beside the checkout.
const CORPUS: &str = "shared/conformance/tcpdump-4.99.3";

/// A run that takes longer than this has hung.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// How many differing lines are printed (all are written to diffs.txt).
const SHOWN_DIFFS: usize = 20;

#[derive(Debug, Default)]
pub struct Options {
    /// Fail when any in-scope line differs or any run crashed.
    pub check: bool,
    /// Only captures whose file name contains this.
    pub filter: Option<String>,
    /// Only this flag set (shell words), over every capture.
    pub flags: Option<String>,
    /// Use this tracer binary instead of building one.
    pub bin: Option<PathBuf>,
    /// Every flag set of [`DATA_FLAG_SETS`] over every capture, not only tests/data.
    pub all: bool,
    /// Runs without -n use the machine's resolver (by default they run in a network namespace of
    /// their own, where reverse look-ups fail at once, for both programs alike).
    pub real_dns: bool,
}

/// The shared corpus: $TRACER_CONFORMANCE_DIR, else `shared/conformance/tcpdump-4.99.3` beside
/// the checkout or any of its ancestors, else under /work (as tracer/tests/golden.rs finds it).
pub fn corpus_dir(root: &Path) -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("TRACER_CONFORMANCE_DIR") {
        return Some(PathBuf::from(d));
    }
    root.ancestors()
        .map(|a| a.join(CORPUS))
        .chain([Path::new("/work").join(CORPUS)])
        .find(|d| d.is_dir())
}

/// The `.pcap` and `.pcapng` files in `dir`, sorted.
pub fn captures_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if matches!(p.extension().and_then(|x| x.to_str()), Some("pcap" | "pcapng")) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Splits a line into words as a shell would for the simple quoting TESTLIST uses
/// (double and single quotes, no escapes).
pub fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// One TESTLIST line: `name file expected-output options...`.
#[derive(Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    pub file: String,
    pub options: Vec<String>,
}

pub fn parse_testlist(text: &str) -> Vec<Entry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut w = shell_words(l).into_iter();
            let name = w.next()?;
            let file = w.next()?;
            let _expected = w.next()?;
            Some(Entry {
                name,
                file,
                options: w.collect(),
            })
        })
        .collect()
}

/// Why the tracer cannot run these tcpdump options (None: it can). `help` is `tracer --help`.
pub fn unsupported(options: &[String], help: &str) -> Option<String> {
    let mut words = options.iter();
    while let Some(w) = words.next() {
        if w == "--nano" || w == "--number" {
            continue;
        }
        if !w.starts_with('-') {
            // The filter expression: the rest of the words.
            return None;
        }
        let Some(letters) = w.strip_prefix('-').filter(|l| !l.is_empty() && !l.starts_with('-')) else {
            return Some(format!("option {w}"));
        };
        for (i, c) in letters.char_indices() {
            if !SUPPORTED_SHORT.contains(c) || !help.contains(&format!("-{c}")) {
                return Some(format!("option -{c}"));
            }
            if c == 'c' {
                // The count is the rest of the word or the next word.
                if letters.len() == i + 1 {
                    words.next();
                }
                break;
            }
        }
    }
    None
}

/// TESTLIST options cut into tcpdump flags and the filter expression after them (the first
/// word that is neither an option nor the count of `-c`). The tracer takes the expression as
/// its last arguments, after `-r FILE`.
pub fn split_expression(options: &[String]) -> (Vec<String>, Vec<String>) {
    let mut i = 0;
    while i < options.len() {
        let w = &options[i];
        if !w.starts_with('-') {
            break;
        }
        // `-c` with its count in the next word.
        if !w.starts_with("--") && w.ends_with('c') {
            i += 1;
        }
        i += 1;
    }
    let i = i.min(options.len());
    (options[..i].to_vec(), options[i..].to_vec())
}

fn has_number_flag(flags: &[String]) -> bool {
    flags
        .iter()
        .any(|f| f == "--number" || (f.starts_with('-') && !f.starts_with("--") && f.contains('#')))
}

/// Lines of `text`, each with its '\n' (the last one may lack it).
fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&b| b == b'\n').collect()
}

/// Lines per record of an output printed with `-#`: a record starts at the line that begins
/// with the next packet number as tcpdump prints it (`%5u  `). Lines before the first number
/// (none, normally) count as part of the first record.
pub fn numbered_record_lines(text: &[u8]) -> Vec<usize> {
    let mut counts: Vec<usize> = Vec::new();
    let mut prefix = 0usize;
    let mut next = String::new();
    for line in lines(text) {
        next.clear();
        let _ = write!(next, "{:5}  ", counts.len() + 1);
        if line.starts_with(next.as_bytes()) {
            counts.push(1 + std::mem::take(&mut prefix));
        } else if let Some(last) = counts.last_mut() {
            *last += 1;
        } else {
            prefix += 1;
        }
    }
    if prefix > 0 {
        counts.push(prefix);
    }
    counts
}

/// The tracer's `--coverage-report`: per packet a line with the coverage byte and the number of
/// lines printed (`F1`, `L3`). Returns the bytes and the line counts.
pub fn parse_coverage(report: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut cov = Vec::new();
    let mut counts = Vec::new();
    for l in report.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let (c, n) = l.split_at(1);
        cov.push(c[0]);
        counts.push(std::str::from_utf8(n).ok().and_then(|n| n.parse().ok()).unwrap_or(0));
    }
    (cov, counts)
}

/// `text` cut into records of the given line counts; None when the counts do not add up.
fn split_records<'a>(text: &'a [u8], counts: &[usize]) -> Option<Vec<Vec<&'a [u8]>>> {
    let all = lines(text);
    if counts.iter().sum::<usize>() != all.len() {
        return None;
    }
    let mut rest = all.as_slice();
    let mut out = Vec::with_capacity(counts.len());
    for &n in counts {
        let (rec, tail) = rest.split_at(n);
        out.push(rec.to_vec());
        rest = tail;
    }
    Some(out)
}

fn trim_nl(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\n").unwrap_or(l)
}

/// One differing line.
#[derive(Clone, Debug)]
pub struct LineDiff {
    /// Packet number (1-based) in the capture.
    pub packet: usize,
    /// Line in the record (1-based).
    pub line: usize,
    pub tcpdump: Option<String>,
    pub tracer: Option<String>,
    /// What rule failed, when not plain inequality.
    pub note: &'static str,
}

/// Lines counted for one record or run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Count {
    pub in_scope: usize,
    pub identical: usize,
    pub out_of_scope: usize,
    pub records: usize,
    pub differing_records: usize,
}

impl Count {
    fn add(&mut self, o: Count) {
        self.in_scope += o.in_scope;
        self.identical += o.identical;
        self.out_of_scope += o.out_of_scope;
        self.records += o.records;
        self.differing_records += o.differing_records;
    }
}

fn text(l: &[u8]) -> String {
    String::from_utf8_lossy(trim_nl(l)).into_owned()
}

/// Compares one packet's records by the tracer's coverage byte; appends the differing lines.
pub fn compare_record(packet: usize, theirs: &[&[u8]], mine: &[&[u8]], cov: u8, diffs: &mut Vec<LineDiff>) -> Count {
    let mut c = Count {
        records: 1,
        ..Count::default()
    };
    let before = diffs.len();
    match cov {
        b'U' => c.out_of_scope = theirs.len(),
        b'L' => compare_up_to_length(packet, theirs, mine, &mut c, diffs),
        _ => {
            c.in_scope = theirs.len();
            for i in 0..theirs.len().max(mine.len()) {
                let (t, m) = (theirs.get(i), mine.get(i));
                if t.is_some() && t == m {
                    c.identical += 1;
                } else {
                    diffs.push(LineDiff {
                        packet,
                        line: i + 1,
                        tcpdump: t.map(|l| text(l)),
                        tracer: m.map(|l| text(l)),
                        note: "",
                    });
                }
            }
        }
    }
    if diffs.len() > before {
        c.differing_records = 1;
    }
    c
}

/// Is `m` the beginning of `t`, cut where tcpdump goes on with the application protocol
/// (`: ...`, ` ...`) rather than in the middle of a word or number?
fn cut_prefix(t: &[u8], m: &[u8]) -> bool {
    let (t, m) = (trim_nl(t), trim_nl(m));
    match t.strip_prefix(m) {
        Some(rest) => rest.first().is_none_or(|&b| !b.is_ascii_alphanumeric() && b != b'.'),
        None => false,
    }
}

fn is_hex_dump_line(l: &[u8]) -> bool {
    l.starts_with(b"\t0x")
}

fn compare_up_to_length(packet: usize, theirs: &[&[u8]], mine: &[&[u8]], c: &mut Count, diffs: &mut Vec<LineDiff>) {
    let k = mine.len();
    let n = theirs.len();
    // The cut line: the first one that differs (or the tracer's last line).
    let cut = (0..k)
        .find(|&i| theirs.get(i) != mine.get(i))
        .unwrap_or(k.saturating_sub(1));
    let tail = k.saturating_sub(cut + 1);
    let ok = k > 0
        && n >= k
        && cut_prefix(theirs[cut], mine[cut])
        && theirs[n - tail..] == mine[cut + 1..]
        // tcpdump's lines left out must be decoder output, not a dump the tracer lacks.
        && !theirs[cut + 1..n - tail].iter().any(|l| is_hex_dump_line(l));
    if ok {
        c.in_scope = k;
        c.identical = k;
        c.out_of_scope = n - k;
        return;
    }
    c.in_scope = n.max(1);
    c.identical = (0..cut.min(n)).count();
    diffs.push(LineDiff {
        packet,
        line: cut + 1,
        tcpdump: theirs.get(cut).map(|l| text(l)),
        tracer: mine.get(cut).map(|l| text(l)),
        note: "up to `length N`: the tracer's line must begin tcpdump's, the lines after it equal tcpdump's last ones",
    });
}

/// One pair of runs to compare.
#[derive(Clone, Debug)]
struct Job {
    /// The flag-set row this run counts in.
    group: String,
    capture: PathBuf,
    flags: Vec<String>,
    /// The filter expression's words, given after `-r FILE`.
    expr: Vec<String>,
}

/// A finished pair of runs.
#[derive(Debug, Default)]
struct Outcome {
    count: Count,
    diffs: Vec<LineDiff>,
    /// Tracer crashes (fail --check).
    crashes: Vec<String>,
    /// Anything else worth saying (tcpdump crashes, exit status mismatches, unpairable output).
    notes: Vec<String>,
    /// Full records of the first differing packets, for diffs.txt.
    records: Vec<String>,
    /// The longer wall time of the two main runs.
    slowest: Duration,
}

struct Runner {
    tcpdump: PathBuf,
    tracer: PathBuf,
    scratch: PathBuf,
    /// `unshare`, to run the programs without -n in a network namespace of their own.
    isolate: Option<PathBuf>,
}

fn has_numeric_flag(flags: &[String]) -> bool {
    flags
        .iter()
        .any(|f| f.starts_with('-') && !f.starts_with("--") && f.contains('n'))
}

struct RunOut {
    stdout: Vec<u8>,
    stderr: String,
    ended: child::Ended,
}

impl Runner {
    fn run(
        &self,
        prog: &Path,
        flags: &[String],
        capture: &Path,
        extra: &[&str],
        expr: &[String],
        slot: usize,
    ) -> Result<RunOut> {
        let out = self.scratch.join(format!("{slot}.out"));
        let err = self.scratch.join(format!("{slot}.err"));
        let mut c = match &self.isolate {
            // unshare execs the program: its exit status and signals are the program's.
            Some(unshare) if !has_numeric_flag(flags) => {
                let mut c = Command::new(unshare);
                c.args(["--net", "--"]).arg(prog);
                c
            }
            _ => Command::new(prog),
        };
        c.env("TZ", "GMT0")
            .args(flags)
            .arg("-r")
            .arg(capture)
            .args(extra)
            .args(expr);
        let ended = child::run(&mut c, Some(&out), Some(&err), RUN_LIMIT)?;
        Ok(RunOut {
            stdout: std::fs::read(&out).unwrap_or_default(),
            stderr: String::from_utf8_lossy(&std::fs::read(&err).unwrap_or_default()).into_owned(),
            ended,
        })
    }

    /// Runs both programs (and their `-#` twins for record boundaries) and compares.
    fn job(&self, job: &Job, slot: usize) -> Result<Outcome> {
        let mut o = Outcome::default();
        let name = job
            .capture
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let label = format!("{name} [{}]", job.flags.join(" "));
        // The twin gives only the line counts, which names do not change: with -n it does
        // not wait on reverse look-ups.
        let numbered: Vec<String> = ["-#", "-n"]
            .into_iter()
            .map(str::to_owned)
            .chain(job.flags.iter().cloned())
            .collect();
        let need_twin = !has_number_flag(&job.flags);

        let theirs = self.run(&self.tcpdump, &job.flags, &job.capture, &[], &job.expr, slot)?;
        o.slowest = theirs.ended.wall;
        let their_counts = if need_twin {
            numbered_record_lines(
                &self
                    .run(&self.tcpdump, &numbered, &job.capture, &[], &job.expr, slot)?
                    .stdout,
            )
        } else {
            numbered_record_lines(&theirs.stdout)
        };
        let report = self.scratch.join(format!("{slot}.coverage"));
        let _ = std::fs::remove_file(&report);
        let report_arg = report.to_string_lossy().into_owned();
        let mine = self.run(
            &self.tracer,
            &job.flags,
            &job.capture,
            &["--coverage-report", &report_arg],
            &job.expr,
            slot,
        )?;
        let (coverage, my_counts) = parse_coverage(&std::fs::read(&report).unwrap_or_default());
        o.slowest = o.slowest.max(mine.ended.wall);

        {
            let (who, run) = ("tracer", &mine);
            let e = run.ended;
            if e.timed_out || e.signal.is_some() || !matches!(e.code, Some(0 | 1)) || run.stderr.contains("panicked") {
                let first_err = run
                    .stderr
                    .lines()
                    .find(|l| l.contains("panicked"))
                    .or_else(|| run.stderr.lines().next())
                    .unwrap_or("");
                o.crashes.push(format!("{label}: {who} {}: {first_err}", e.describe()));
            }
        }
        let te = theirs.ended;
        if te.timed_out || te.signal.is_some() || !matches!(te.code, Some(0 | 1)) {
            o.notes.push(format!("{label}: tcpdump {}", te.describe()));
        }
        if te.code != mine.ended.code && o.crashes.is_empty() {
            o.notes.push(format!(
                "{label}: tracer {} but tcpdump {}; stderr: {} | {}",
                mine.ended.describe(),
                te.describe(),
                mine.stderr.lines().last().unwrap_or("").trim(),
                theirs.stderr.lines().last().unwrap_or("").trim()
            ));
        }

        let (Some(t_recs), Some(m_recs)) = (
            split_records(&theirs.stdout, &their_counts),
            split_records(&mine.stdout, &my_counts),
        ) else {
            // The line counts do not add up (the tracer's report or tcpdump's -# twin disagree with
            // the output): the records cannot be paired.
            let all_u = !coverage.is_empty() && coverage.iter().all(|&b| b == b'U');
            let n = lines(&theirs.stdout).len();
            if all_u {
                o.count.out_of_scope += n;
            } else {
                o.count.in_scope += n;
                o.count.differing_records += 1;
                o.diffs.push(LineDiff {
                    packet: 0,
                    line: 0,
                    tcpdump: None,
                    tracer: None,
                    note: "records cannot be paired: the line counts of the coverage report or of tcpdump -# do not add up",
                });
            }
            return Ok(o);
        };
        for i in 0..t_recs.len().max(m_recs.len()) {
            let cov = coverage.get(i).copied().unwrap_or(b'F');
            let before = o.diffs.len();
            match (t_recs.get(i), m_recs.get(i)) {
                (Some(t), Some(m)) => o.count.add(compare_record(i + 1, t, m, cov, &mut o.diffs)),
                (Some(t), None) => {
                    o.count.add(Count {
                        in_scope: t.len(),
                        records: 1,
                        differing_records: 1,
                        ..Count::default()
                    });
                    o.diffs.push(LineDiff {
                        packet: i + 1,
                        line: 1,
                        tcpdump: t.first().map(|l| text(l)),
                        tracer: None,
                        note: "the tracer printed no record for this packet",
                    });
                }
                (None, Some(m)) if cov != b'U' => {
                    o.count.add(Count {
                        in_scope: m.len(),
                        records: 1,
                        differing_records: 1,
                        ..Count::default()
                    });
                    o.diffs.push(LineDiff {
                        packet: i + 1,
                        line: 1,
                        tcpdump: None,
                        tracer: m.first().map(|l| text(l)),
                        note: "tcpdump printed no record for this packet",
                    });
                }
                _ => {}
            }
            if o.diffs.len() > before && o.records.len() < 5 {
                let join = |r: Option<&Vec<&[u8]>>| {
                    r.map(|r| r.iter().map(|l| String::from_utf8_lossy(l)).collect::<String>())
                        .unwrap_or_else(|| "(nothing)\n".into())
                };
                o.records.push(format!(
                    "--- {label} packet {} ({}):\n-- tcpdump:\n{}-- tracer:\n{}",
                    i + 1,
                    cov as char,
                    join(t_recs.get(i)),
                    join(m_recs.get(i))
                ));
            }
        }
        Ok(o)
    }
}

/// The tracer binary: built in the workspace's target directory unless `--bin` names one.
pub fn tracer_binary(bin: Option<&Path>, root: &Path) -> Result<PathBuf> {
    if let Some(b) = bin {
        return Ok(b.to_owned());
    }
    println!("xtask: cargo build --release -p tracer");
    status(
        "cargo build --release -p tracer",
        cmd::cargo()
            .current_dir(root)
            .args(["build", "--release", "-p", "tracer"]),
    )?;
    Ok(cmd::target_dir().join("release/tracer"))
}

/// tcpdump, or a clear error.
pub fn tcpdump() -> Result<PathBuf> {
    let Some(t) = cmd::which("tcpdump") else {
        bail!(
            "tcpdump was not found: it is the oracle of the conformance tests (install tcpdump 4.99.3, \
             e.g. `apt-get install tcpdump`; .ci/run does)"
        );
    };
    let v = Command::new(&t)
        .arg("--version")
        .output()
        .context("running tcpdump --version")?;
    let text = String::from_utf8_lossy(&v.stdout).into_owned() + &String::from_utf8_lossy(&v.stderr);
    if !text.contains("tcpdump version 4.99.3") {
        eprintln!(
            "xtask: WARNING: the oracle is tcpdump 4.99.3 but {} says {:?}",
            t.display(),
            text.lines().next().unwrap_or("")
        );
    }
    Ok(t)
}

fn words(flags: &str) -> Vec<String> {
    shell_words(flags)
}

pub fn run(opts: &Options) -> Result<()> {
    let root = cmd::root();
    let tcpdump = tcpdump()?;
    let tracer = tracer_binary(opts.bin.as_deref(), &root)?;
    let tracer = if tracer.is_absolute() {
        tracer
    } else {
        std::env::current_dir()?.join(tracer)
    };
    let help = cmd::output("tracer --help", Command::new(&tracer).arg("--help"))?;

    let corpus = corpus_dir(&root);
    let data_dir = root.join("tracer/tests/data");
    let keep = |p: &PathBuf| {
        opts.filter
            .as_ref()
            .is_none_or(|f| p.file_name().is_some_and(|n| n.to_string_lossy().contains(f.as_str())))
    };
    let corpus_files: Vec<PathBuf> = match &corpus {
        Some(d) => captures_in(d)?.into_iter().filter(keep).collect(),
        None => {
            eprintln!(
                "xtask: WARNING: the shared corpus ({CORPUS}) was not found beside the checkout; set \
                 TRACER_CONFORMANCE_DIR. Comparing only tracer/tests/data."
            );
            Vec::new()
        }
    };
    let data_files: Vec<PathBuf> = captures_in(&data_dir)?.into_iter().filter(keep).collect();

    let mut jobs: Vec<Job> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    if let Some(f) = &opts.flags {
        if let Some(why) = unsupported(&words(f), &help) {
            bail!("--flags {f:?}: the tracer does not support {why}");
        }
        // Words after the options are a filter expression ("-v tcp port 80").
        let (flags, expr) = split_expression(&words(f));
        for c in corpus_files.iter().chain(&data_files) {
            jobs.push(Job {
                group: format!("{f:?}"),
                capture: c.clone(),
                flags: flags.clone(),
                expr: expr.clone(),
            });
        }
    } else {
        if let Some(dir) = &corpus {
            let list = dir.join("TESTLIST.subset");
            let text = std::fs::read_to_string(&list).with_context(|| format!("reading {}", list.display()))?;
            for e in parse_testlist(&text) {
                let capture = dir.join(&e.file);
                if !keep(&capture) {
                    continue;
                }
                let what = format!("{} ({} {})", e.name, e.file, e.options.join(" "));
                if !capture.is_file() {
                    skipped.push(format!("{what}: capture not in the corpus"));
                } else if let Some(why) = unsupported(&e.options, &help) {
                    skipped.push(format!("{what}: {why}"));
                } else {
                    let (options, expr) = split_expression(&e.options);
                    let mut flags = vec!["-#".to_owned(), "-n".to_owned()];
                    flags.extend(options);
                    jobs.push(Job {
                        group: format!("TESTLIST -# -n {}", e.options.join(" ")).trim_end().to_owned(),
                        capture,
                        flags,
                        expr,
                    });
                }
            }
        }
        // --all: every flag set over every capture (which includes -nn over the corpus).
        let (wide, wide_name): (Vec<&PathBuf>, &str) = if opts.all {
            (corpus_files.iter().chain(&data_files).collect(), "all")
        } else {
            for c in &corpus_files {
                jobs.push(Job {
                    group: "corpus -nn".into(),
                    capture: c.clone(),
                    flags: words("-nn"),
                    expr: Vec::new(),
                });
            }
            (data_files.iter().collect(), "tests/data")
        };
        for f in DATA_FLAG_SETS {
            for c in &wide {
                jobs.push(Job {
                    group: format!("{wide_name} {}", if f.is_empty() { "(no flag)" } else { f }),
                    capture: (*c).clone(),
                    flags: words(f),
                    expr: Vec::new(),
                });
            }
        }
    }

    let out_dir = root.join("target/conformance");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    println!(
        "xtask: conformance: {} runs of tcpdump ({}) and {} over {} corpus and {} tests/data captures",
        jobs.len(),
        tcpdump.display(),
        tracer.display(),
        corpus_files.len(),
        data_files.len()
    );
    let isolate = if opts.real_dns { None } else { isolation() };
    match &isolate {
        Some(_) => println!(
            "xtask: conformance: runs without -n are in a network namespace of their own: reverse look-ups fail at \
             once and both programs print addresses (--real-dns: use this machine's resolver)"
        ),
        None if !opts.real_dns => println!(
            "xtask: conformance: cannot run programs in a network namespace of their own (needs root and unshare): \
             runs without -n use this machine's resolver"
        ),
        None => {}
    }
    let outcomes = run_jobs(&jobs, &tcpdump, &tracer, isolate.as_deref(), &out_dir)?;
    let printer = summarize(opts, &jobs, &outcomes, &skipped, &out_dir);
    if opts.flags.is_some() {
        return printer;
    }
    println!("\nxtask: conformance: filter expressions");
    let filters = filters::run(&filters::Options {
        bin: Some(tracer),
        filter: opts.filter.clone(),
    });
    match (printer, filters) {
        (Err(p), Err(f)) => Err(p.context(format!("{f:#}"))),
        (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// `unshare`, when it can give a program a network namespace of its own (root only).
fn isolation() -> Option<PathBuf> {
    let u = cmd::which("unshare")?;
    let ok = Command::new(&u)
        .args(["--net", "--", "true"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(u)
}

fn run_jobs(
    jobs: &[Job],
    tcpdump: &Path,
    tracer: &Path,
    isolate: Option<&Path>,
    out_dir: &Path,
) -> Result<Vec<Outcome>> {
    // Runs without -n wait on reverse look-ups more than they compute: more workers than cores.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| 3 * n.get())
        .clamp(2, 8);
    let step = (jobs.len() / 10).max(1);
    in_parallel(
        jobs,
        workers,
        out_dir,
        "scratch",
        |j| j.capture.display().to_string(),
        |scratch, i, job| {
            let runner = Runner {
                tcpdump: tcpdump.to_owned(),
                tracer: tracer.to_owned(),
                scratch: scratch.to_owned(),
                isolate: isolate.map(Path::to_owned),
            };
            let r = runner.job(job, 0);
            if (i + 1) % step == 0 {
                eprintln!("xtask: conformance: {}/{} runs", i + 1, jobs.len());
            }
            r
        },
    )
}

/// Runs `work(scratch, index, job)` for every job on `workers` threads, each
/// thread with a scratch directory of its own (`out_dir/PREFIX-PID-N`,
/// removed at the end); the results come in job order. A job no thread could
/// run (its scratch directory could not be made) is an error naming `label`.
pub(crate) fn in_parallel<J: Sync, R: Send>(
    jobs: &[J],
    workers: usize,
    out_dir: &Path,
    prefix: &str,
    label: impl Fn(&J) -> String,
    work: impl Fn(&Path, usize, &J) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R>>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for w in 0..workers {
            let (next, results, work) = (&next, &results, &work);
            s.spawn(move || {
                let scratch = out_dir.join(format!("{prefix}-{}-{w}", std::process::id()));
                if let Err(e) = std::fs::create_dir_all(&scratch) {
                    eprintln!("xtask: creating {}: {e}", scratch.display());
                    return;
                }
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let r = work(&scratch, i, job);
                    if let Ok(mut g) = results.lock()
                        && let Some(slot) = g.get_mut(i)
                    {
                        *slot = Some(r);
                    }
                }
                let _ = std::fs::remove_dir_all(&scratch);
            });
        }
    });
    let results = results.into_inner().map_err(|_| anyhow::anyhow!("a worker panicked"))?;
    results
        .into_iter()
        .zip(jobs)
        .map(|(r, j)| r.unwrap_or_else(|| bail!("{}: not run", label(j))))
        .collect()
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 { 100.0 } else { a as f64 * 100.0 / b as f64 }
}

fn summarize(opts: &Options, jobs: &[Job], outcomes: &[Outcome], skipped: &[String], out_dir: &Path) -> Result<()> {
    let mut groups: BTreeMap<&str, (usize, Count, usize)> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut total = Count::default();
    let mut crashes: Vec<&String> = Vec::new();
    let mut notes: Vec<&String> = Vec::new();
    let mut report = String::new();
    let mut shown: Vec<String> = Vec::new();
    let mut n_diffs = 0usize;
    let mut per_capture: Vec<(usize, String)> = Vec::new();
    for (job, o) in jobs.iter().zip(outcomes) {
        if !groups.contains_key(job.group.as_str()) {
            order.push(&job.group);
        }
        let g = groups.entry(&job.group).or_default();
        g.0 += 1;
        g.1.add(o.count);
        g.2 += o.crashes.len();
        total.add(o.count);
        crashes.extend(&o.crashes);
        notes.extend(&o.notes);
        if o.diffs.is_empty() {
            continue;
        }
        let name = job.capture.file_name().unwrap_or_default().to_string_lossy();
        let label = format!("{name} [{}]", job.flags.join(" "));
        per_capture.push((o.diffs.len(), label.clone()));
        n_diffs += o.diffs.len();
        let _ = writeln!(report, "=== {label}: {} differing lines", o.diffs.len());
        for (k, d) in o.diffs.iter().enumerate() {
            let mut s = format!("{label} packet {} line {}", d.packet, d.line);
            if let (Some(t), Some(m)) = (&d.tcpdump, &d.tracer) {
                let col = t.chars().zip(m.chars()).take_while(|(a, b)| a == b).count();
                let _ = write!(s, " column {}", col + 1);
            }
            if !d.note.is_empty() {
                let _ = write!(s, " ({})", d.note);
            }
            let _ = write!(
                s,
                "\n  tcpdump: {}\n  tracer:  {}",
                d.tcpdump.as_deref().unwrap_or("(no line)"),
                d.tracer.as_deref().unwrap_or("(no line)")
            );
            let _ = writeln!(report, "{s}");
            // Show at most two lines of one run so that the first lines show different things.
            if k < 2 && shown.len() < SHOWN_DIFFS {
                shown.push(s);
            }
        }
        for r in &o.records {
            report.push_str(r);
        }
    }
    let mut slow: Vec<(Duration, String)> = jobs
        .iter()
        .zip(outcomes)
        .map(|(j, o)| {
            let name = j.capture.file_name().unwrap_or_default().to_string_lossy();
            (o.slowest, format!("{name} [{}]", j.flags.join(" ")))
        })
        .collect();
    slow.sort_by_key(|s| std::cmp::Reverse(s.0));
    let diffs_file = out_dir.join("diffs.txt");
    std::fs::write(&diffs_file, &report).with_context(|| format!("writing {}", diffs_file.display()))?;

    println!("\nper flag set:");
    println!(
        "  {:<34} {:>5} {:>22} {:>8} {:>9} {:>7}",
        "flag set", "runs", "identical/in scope", "%", "out scope", "crashes"
    );
    for g in &order {
        let (runs, c, cr) = groups[g];
        println!(
            "  {:<34} {:>5} {:>22} {:>7.2}% {:>9} {:>7}",
            g,
            runs,
            format!("{}/{}", c.identical, c.in_scope),
            pct(c.identical, c.in_scope),
            c.out_of_scope,
            cr
        );
    }
    if !skipped.is_empty() {
        println!("\nskipped TESTLIST entries ({}):", skipped.len());
        for s in skipped {
            println!("  {s}");
        }
    }
    if !notes.is_empty() {
        println!("\nnotes ({}; not failures):", notes.len());
        for n in notes.iter().take(15) {
            println!("  {n}");
        }
        if notes.len() > 15 {
            println!("  ... and {} more", notes.len() - 15);
        }
    }
    println!("\nslowest runs:");
    for (d, l) in slow.iter().take(3) {
        println!("  {:>6.2} s  {l}", d.as_secs_f64());
    }
    if !crashes.is_empty() {
        println!("\nCRASHES ({}):", crashes.len());
        for c in &crashes {
            println!("  {c}");
        }
    }
    if n_diffs > 0 {
        per_capture.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        println!("\nmost differing runs:");
        for (n, l) in per_capture.iter().take(10) {
            println!("  {n:>6}  {l}");
        }
        println!(
            "\nfirst {} differing lines (of {n_diffs}; all of them, with whole records, in {}):",
            shown.len(),
            diffs_file.display()
        );
        for s in &shown {
            println!("{s}");
        }
    }
    println!(
        "\nidentical {}/{} lines in scope ({:.2}%), {} lines out of scope; {}/{} records differ; {} crashes; {} skipped TESTLIST entries",
        total.identical,
        total.in_scope,
        pct(total.identical, total.in_scope),
        total.out_of_scope,
        total.differing_records,
        total.records,
        crashes.len(),
        skipped.len()
    );
    if opts.check && (total.identical != total.in_scope || n_diffs > 0 || !crashes.is_empty()) {
        bail!(
            "conformance --check: {} in-scope lines differ from tcpdump and {} runs crashed (details above and in {})",
            total.in_scope - total.identical.min(total.in_scope),
            crashes.len(),
            diffs_file.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testlist_lines() {
        let t =
            "# c\nbgp\tbgp.pcap\tbgp.out\t-v -c1\ngeneve-tcp\tgeneve.pcap geneve-tcp.out \"geneve && tcp\"\nbad x\n";
        let e = parse_testlist(t);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].options, ["-v", "-c1"]);
        assert_eq!(e[1].options, ["geneve && tcp"]);
    }

    #[test]
    fn unsupported_options() {
        let help = "-n -S -v -e -q -x -X -A -t -# -c <COUNT> -s <SNAPLEN>";
        let w = |s: &str| shell_words(s);
        assert_eq!(unsupported(&w("-v -c1"), help), None);
        assert_eq!(unsupported(&w("-ev -c 3"), help), None);
        assert_eq!(unsupported(&w("--nano -XX"), help), None);
        assert_eq!(unsupported(&w("-vb"), help).as_deref(), Some("option -b"));
        assert_eq!(unsupported(&w("-T lmp"), help).as_deref(), Some("option -T"));
        assert_eq!(unsupported(&w("-s 100"), help).as_deref(), Some("option -s"));
        // Filter expressions are supported: they go after `-r FILE`.
        assert_eq!(unsupported(&w("-v geneve 0xb"), help), None);
        assert_eq!(
            split_expression(&w("-v -c 3 -e 'geneve && tcp'")),
            (w("-v -c 3 -e"), w("'geneve && tcp'"))
        );
        assert_eq!(split_expression(&w("-c3 pppoes 0x3b")), (w("-c3"), w("pppoes 0x3b")));
        assert_eq!(split_expression(&w("-nv")), (w("-nv"), vec![]));
        // In our allow-list but missing from the binary's help: unsupported.
        assert_eq!(unsupported(&w("-q"), "-n").as_deref(), Some("option -q"));
    }

    #[test]
    fn records_from_packet_numbers() {
        let out = b"    1  12:00 IP a\n\t0x0000: 4500\n    1  not a start\n    2  x\n   10  y\n    3  z\n";
        assert_eq!(numbered_record_lines(out), [3, 2, 1]);
        assert_eq!(numbered_record_lines(b""), Vec::<usize>::new());
        assert_eq!(numbered_record_lines(b"junk\n    1  a\n"), [2]);
        assert_eq!(parse_coverage(b"F1\nL3\nU12\n"), (b"FLU".to_vec(), vec![1, 3, 12]));
        let recs = split_records(b"a\nb\nc\n", &[2, 1]).unwrap();
        assert_eq!(recs, vec![vec![&b"a\n"[..], b"b\n"], vec![b"c\n"]]);
        assert!(split_records(b"a\n", &[2]).is_none());
    }

    #[test]
    fn full_records_compare_line_by_line() {
        let mut d = Vec::new();
        let c = compare_record(1, &[b"a\n", b"b\n"], &[b"a\n", b"x\n", b"y\n"], b'F', &mut d);
        assert_eq!((c.in_scope, c.identical, c.differing_records), (2, 1, 1));
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].tcpdump, None);
        let c = compare_record(2, &[b"a\n"], &[b"b\n"], b'U', &mut d);
        assert_eq!((c.in_scope, c.out_of_scope, d.len()), (0, 1, 2));
    }

    #[test]
    fn up_to_length_records() {
        let mut d = Vec::new();
        let t: &[&[u8]] = &[b"IP a > b: tcp 5: HTTP: GET /\n", b"\t0x0000: 4500\n"];
        let c = compare_record(1, t, &[b"IP a > b: tcp 5\n", b"\t0x0000: 4500\n"], b'L', &mut d);
        assert_eq!((c.in_scope, c.identical, d.len()), (2, 2, 0));
        // Cut in the middle of a number.
        compare_record(1, t, &[b"IP a > b: tcp\n", b"\t0x0000: 4500\n"], b'L', &mut d);
        assert_eq!(d.len(), 0, "a cut before a space is fine");
        compare_record(1, &[b"IP length 12: X\n"], &[b"IP length 1\n"], b'L', &mut d);
        assert_eq!(d.len(), 1);
        // tcpdump's extra decoder lines are out of scope; the dump still must match.
        let t: &[&[u8]] = &[
            b"IP (tos 0)\n",
            b"    a > b: 5: SMB\n",
            b"\tsmb line\n",
            b"\t0x0000: 45\n",
        ];
        let c = compare_record(
            2,
            t,
            &[b"IP (tos 0)\n", b"    a > b: 5\n", b"\t0x0000: 45\n"],
            b'L',
            &mut d,
        );
        assert_eq!((c.identical, c.out_of_scope, d.len()), (3, 1, 1));
        compare_record(
            2,
            t,
            &[b"IP (tos 0)\n", b"    a > b: 5\n", b"\t0x0000: 46\n"],
            b'L',
            &mut d,
        );
        assert_eq!(d.len(), 2);
        // A dump the tracer left out is not "decoder output".
        compare_record(3, &[b"IP x: 5: D\n", b"\t0x0000: 45\n"], &[b"IP x: 5\n"], b'L', &mut d);
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn number_flag() {
        assert!(has_number_flag(&shell_words("-# -n")));
        assert!(has_number_flag(&shell_words("-n#")));
        assert!(!has_number_flag(&shell_words("-nn -v")));
    }
}
