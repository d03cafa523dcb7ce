//! Golden tests: the real tcpdump 4.99.3 is the oracle.
//!
//! For every capture in the shared conformance corpus (../shared/conformance/tcpdump-4.99.3)
//! and in tests/data, run `TZ=GMT0 tcpdump -nn -r FILE` (and with `-S`) and compare its output,
//! packet by packet, with our printer's. Each packet is classified by what the printer says it
//! rendered (`Printer::last_coverage`):
//! - `Full`: the whole record must be byte-identical;
//! - `UpToLength`: tcpdump decodes an application protocol after `length N` that we do not; our
//!   line must be a prefix of tcpdump's (everything up to and including `length N`);
//! - `Unsupported`: a protocol we do not decode; counted as out of scope, not compared.
//!
//! The test fails when any in-scope packet differs. Without tcpdump it fails, unless
//! TRACER_SKIP_TCPDUMP=1 says to skip it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use tracer::pcap::read::CaptureReader;
use tracer::print::{Coverage, PrintOptions, Printer, TimeFormat};

static TZ: Once = Once::new();

/// tcpdump runs with TZ=GMT0; so does our printer (localtime_r honours TZ).
fn set_tz() {
    TZ.call_once(|| {
        // SAFETY: called once, before this test binary prints anything or reads TZ elsewhere.
        unsafe { std::env::set_var("TZ", "GMT0") };
    });
}

const CORPUS: &str = "shared/conformance/tcpdump-4.99.3";

/// The shared corpus: $TRACER_CONFORMANCE_DIR, else `shared/conformance/...` beside the
/// repository or any of its parents (the workplace keeps `shared/` next to the checkout), else
/// /work/shared. `None` when it is nowhere: then only the captures committed in tests/data run.
fn corpus_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("TRACER_CONFORMANCE_DIR") {
        return Some(PathBuf::from(d));
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join(CORPUS))
        .chain([Path::new("/work").join(CORPUS)])
        .find(|d| d.is_dir())
}

fn captures() -> Vec<PathBuf> {
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let corpus = corpus_dir();
    if corpus.is_none() {
        eprintln!(
            "WARNING: the shared conformance corpus ({CORPUS}) was not found beside the checkout; \
             set TRACER_CONFORMANCE_DIR to compare it too. Comparing only {}.",
            own.display()
        );
    }
    let mut files = Vec::new();
    for dir in corpus.iter().chain([&own]) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for e in entries.flatten() {
            let p = e.path();
            if matches!(p.extension().and_then(|x| x.to_str()), Some("pcap" | "pcapng")) {
                files.push(p);
            }
        }
    }
    files.sort();
    let expected = if corpus.is_some() { 100 } else { 3 };
    assert!(
        files.len() > expected,
        "expected more than {expected} captures, found {}",
        files.len()
    );
    files
}

fn have_tcpdump() -> bool {
    match Command::new("tcpdump").arg("--version").output() {
        Ok(o) if o.status.success() || !o.stdout.is_empty() || !o.stderr.is_empty() => true,
        _ => {
            if std::env::var("TRACER_SKIP_TCPDUMP").as_deref() == Ok("1") {
                eprintln!("SKIPPED: tcpdump not found and TRACER_SKIP_TCPDUMP=1");
                false
            } else {
                panic!(
                    "tcpdump (4.99.3) is the oracle of these tests and was not found: install it \
                     (apt-get install tcpdump) or set TRACER_SKIP_TCPDUMP=1 to skip them"
                );
            }
        }
    }
}

/// Our output, one entry per packet, and the read error (if any) that ended the file.
fn ours(path: &Path, opts: &PrintOptions) -> (Vec<(String, Coverage)>, Option<String>) {
    let mut printer = Printer::new(opts.clone());
    let mut reader = match CaptureReader::open(path) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut out = Vec::new();
    let mut records = Vec::new();
    loop {
        match reader.next_packet() {
            Ok(Some(rec)) => {
                out.clear();
                printer.print(&mut out, rec.ts, rec.linktype, rec.data, rec.orig_len);
                records.push((String::from_utf8_lossy(&out).into_owned(), printer.last_coverage()));
            }
            Ok(None) => return (records, None),
            Err(e) => return (records, Some(e.to_string())),
        }
    }
}

/// Does this line start a packet record (a time stamp in the default format)?
fn starts_record(line: &str) -> bool {
    let b = line.as_bytes();
    (b.len() > 9 && b[2] == b':' && b[5] == b':' && b[8] == b'.' && b[..2].iter().all(u8::is_ascii_digit))
        || line.starts_with("[Error converting time]")
        || line.starts_with("[Invalid header")
}

/// tcpdump's output split into records (a record is a line and its continuation lines).
fn split_records(text: &str) -> Vec<String> {
    let mut records: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if starts_record(line) || records.is_empty() {
            records.push(line.to_owned());
        } else if let Some(last) = records.last_mut() {
            last.push_str(line);
        }
    }
    records
}

/// A time stamp whose fraction is not six digits (a corrupt usec field that tcpdump prints
/// raw) cannot be represented in `Timestamp`; compare such records without it.
fn strip_odd_time<'a>(theirs: &'a str, mine: &'a str) -> (&'a str, &'a str) {
    if let Some(sp) = theirs.find(' ') {
        let ts = &theirs[..sp];
        if let Some(dot) = ts.find('.') {
            if ts.len() - dot - 1 > 6 && ts[dot + 1..].bytes().all(|c| c.is_ascii_digit()) {
                let mine_sp = mine.find(' ').unwrap_or(0);
                return (&theirs[sp..], &mine[mine_sp..]);
            }
        }
    }
    (theirs, mine)
}

#[derive(Default)]
struct Tally {
    identical: usize,
    in_scope: usize,
    prefix_only: usize,
    out_of_scope: usize,
    files_full: usize,
    files: usize,
    diffs: Vec<String>,
}

fn compare(flags: &[&str], opts: PrintOptions) -> Tally {
    set_tz();
    let mut t = Tally::default();
    for path in captures() {
        t.files += 1;
        let out = Command::new("tcpdump")
            .env("TZ", "GMT0")
            .arg("-nn")
            .args(flags)
            .arg("-r")
            .arg(&path)
            .output()
            .expect("run tcpdump");
        let theirs = split_records(&String::from_utf8_lossy(&out.stdout));
        let (mine, _err) = ours(&path, &opts);
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let mut all_full = mine.len() == theirs.len();
        if mine.len() != theirs.len() {
            // Records could not be paired (a decoder's continuation line looked like a time
            // stamp, or the files ended differently): count what we claim as differing.
            let claimed = mine.iter().filter(|(_, c)| *c != Coverage::Unsupported).count();
            t.in_scope += claimed;
            t.out_of_scope += mine.len() - claimed;
            if claimed > 0 {
                t.diffs.push(format!(
                    "{name}: {} packets printed, tcpdump printed {} records",
                    mine.len(),
                    theirs.len()
                ));
            }
            continue;
        }
        for (i, ((m, cov), th)) in mine.iter().zip(&theirs).enumerate() {
            let (th_cmp, m_cmp) = strip_odd_time(th, m);
            match cov {
                Coverage::Unsupported => {
                    t.out_of_scope += 1;
                    all_full = false;
                }
                Coverage::Full => {
                    t.in_scope += 1;
                    if th_cmp == m_cmp {
                        t.identical += 1;
                    } else {
                        t.diffs
                            .push(format!("{name} #{}:\n  tcpdump: {}  tracer:  {}", i + 1, th, m));
                    }
                }
                Coverage::UpToLength => {
                    t.in_scope += 1;
                    t.prefix_only += 1;
                    all_full = false;
                    if th_cmp.starts_with(m_cmp.trim_end_matches('\n')) {
                        t.identical += 1;
                    } else {
                        t.diffs.push(format!(
                            "{name} #{} (up to length):\n  tcpdump: {}  tracer:  {}",
                            i + 1,
                            th,
                            m
                        ));
                    }
                }
            }
        }
        if all_full && !mine.is_empty() {
            t.files_full += 1;
        }
    }
    t
}

fn report(what: &str, t: &Tally) {
    eprintln!(
        "{what}: identical {}/{} in-scope packets ({} compared up to `length N` only), {} out of scope; \
         {}/{} captures entirely in scope",
        t.identical, t.in_scope, t.prefix_only, t.out_of_scope, t.files_full, t.files
    );
    for d in t.diffs.iter().take(40) {
        eprintln!("{d}");
    }
    if t.diffs.len() > 40 {
        eprintln!("... and {} more differences", t.diffs.len() - 40);
    }
}

#[test]
fn golden_nn() {
    if !have_tcpdump() {
        return;
    }
    let t = compare(
        &[],
        PrintOptions {
            numeric: true,
            ..Default::default()
        },
    );
    report("tcpdump -nn", &t);
    assert!(
        t.diffs.is_empty(),
        "{} in-scope packets differ from tcpdump -nn",
        t.diffs.len()
    );
}

#[test]
fn golden_nn_absolute_seq() {
    if !have_tcpdump() {
        return;
    }
    let t = compare(
        &["-S"],
        PrintOptions {
            absolute_seq: true,
            numeric: true,
            ..Default::default()
        },
    );
    report("tcpdump -nn -S", &t);
    assert!(
        t.diffs.is_empty(),
        "{} in-scope packets differ from tcpdump -nn -S",
        t.diffs.len()
    );
}

/// Every capture, with every time format and -S, prints or errors cleanly: no panic.
#[test]
fn never_panics_on_corpus() {
    set_tz();
    let formats = [
        TimeFormat::Default,
        TimeFormat::None,
        TimeFormat::Epoch,
        TimeFormat::Delta,
        TimeFormat::DateTime,
        TimeFormat::SinceFirst,
    ];
    let mut failures = Vec::new();
    let files = captures();
    for path in &files {
        for (i, time) in formats.iter().enumerate() {
            let opts = PrintOptions {
                absolute_seq: i % 2 == 1,
                time: *time,
                nano: i % 3 == 0,
                numeric: true,
                ..Default::default()
            };
            let r = std::panic::catch_unwind(|| ours(path, &opts));
            if r.is_err() {
                failures.push(format!("{} with {:?}", path.display(), opts));
            }
        }
    }
    eprintln!("printed {} captures with {} option sets", files.len(), formats.len());
    assert!(failures.is_empty(), "panics: {failures:#?}");
}
