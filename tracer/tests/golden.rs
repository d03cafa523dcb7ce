//! The printer never panics, whatever the capture and the flags.
//!
//! Every capture of the shared conformance corpus (../shared/conformance/tcpdump-4.99.3) and of
//! tests/data is printed in-process with many flag combinations, in the test profile, so that
//! an arithmetic overflow panics here even where a release build would wrap.
//!
//! The comparison with tcpdump itself (the oracle) is `cargo xtask conformance`: it runs the
//! real binary and tcpdump 4.99.3 over the same captures with every flag set and compares them
//! packet by packet; `cargo xtask test` runs it with `--check`.

use std::path::{Path, PathBuf};
use std::sync::Once;

use clap::Parser as _;
use tracer::cli::Cli;
use tracer::pcap::read::CaptureReader;
use tracer::print::{PrintOptions, Printer};

static TZ: Once = Once::new();

/// The printer formats local time; make it the same on every machine.
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
             set TRACER_CONFORMANCE_DIR to print it too. Printing only {}.",
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

/// The printer options of a tracer command line (so new options need no change here).
fn options(flags: &str) -> PrintOptions {
    let args = std::iter::once("tracer")
        .chain(flags.split_whitespace())
        .chain(["-r", "x.pcap"]);
    Cli::try_parse_from(args)
        .unwrap_or_else(|e| panic!("tracer {flags}: {e}"))
        .print_options()
}

/// Prints every packet; returns how many records were printed.
fn print_all(path: &Path, opts: &PrintOptions) -> usize {
    let mut printer = Printer::new(opts.clone());
    let Ok(mut reader) = CaptureReader::open(path) else {
        return 0;
    };
    let mut out = Vec::new();
    let mut n = 0;
    while let Ok(Some(rec)) = reader.next_packet() {
        out.clear();
        printer.print(&mut out, rec.ts, rec.linktype, rec.data, rec.orig_len);
        assert!(
            out.ends_with(b"\n"),
            "{}: packet {} does not end in a newline",
            path.display(),
            n + 1
        );
        n += 1;
    }
    n
}

/// Flag combinations: each flag and several together. All with -n: name look-ups would make
/// the test wait on the resolver (`cargo xtask conformance` runs the binary without -n too).
const FLAG_SETS: &[&str] = &[
    "-nn",
    "-nn -S -t",
    "-nn -vvv -e",
    "-nn -vv -XX -#",
    "-nn -v -xx --nano -ttt",
    "-nn -AA -q -tttt",
    "-nn -A -ttttt -S",
    "-nn -X -tt -e -q",
    "-nn -vv -e -x",
];

#[test]
fn never_panics_on_corpus() {
    set_tz();
    let files = captures();
    let mut failures = Vec::new();
    let mut printed = 0;
    for path in &files {
        for flags in FLAG_SETS {
            let opts = options(flags);
            match std::panic::catch_unwind(|| print_all(path, &opts)) {
                Ok(n) => printed += n,
                Err(_) => failures.push(format!("{} with {flags}", path.display())),
            }
        }
    }
    eprintln!(
        "printed {printed} records from {} captures with {} flag sets",
        files.len(),
        FLAG_SETS.len()
    );
    assert!(printed > 0, "no packet printed");
    assert!(failures.is_empty(), "panics: {failures:#?}");
}
