//! `-r FILE`: print (and with `-w`, copy) a capture file with the live printer.

use std::{
    fs::File,
    io::{self, BufWriter, IsTerminal as _, Write as _},
    path::{Path, PathBuf},
};

use crate::{
    filter::{ExpressionSource, Filter, FilterError, dlt_of_linktype},
    pcap::{
        read::{CaptureReader, ReadError},
        write::{PcapSink, WriteError},
    },
    print::{Coverage, PrintOptions, Printer, linktype_description},
    signals,
};

/// Output is written in chunks of about this size.
const OUT_CHUNK: usize = 256 * 1024;

/// What `-r` does.
#[derive(Clone, Debug)]
pub struct OfflineConfig {
    pub count: Option<u64>,
    pub write: Option<PathBuf>,
    pub print_packets: bool,
    pub line_buffered: bool,
    pub nano: bool,
    pub print: PrintOptions,
    /// Hidden `--coverage-report FILE`: per printed packet a line with its [`coverage_byte`] and
    /// the number of lines printed for it (`F1`, `L3`).
    pub coverage_report: Option<PathBuf>,
    /// The filter expression (trailing words or `-F FILE`): only the packets it selects are
    /// printed, written and counted, as with tcpdump.
    pub filter: ExpressionSource,
}

/// The `--coverage-report` byte of a packet: `F` printed in full, `L` up to `length N` only,
/// `U` unsupported (out of scope for the conformance runner).
pub fn coverage_byte(c: Coverage) -> u8 {
    match c {
        Coverage::Full => b'F',
        Coverage::UpToLength => b'L',
        Coverage::Unsupported => b'U',
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// Opening failed: libpcap's wording already names the file where it matters.
    #[error("{0}")]
    Open(ReadError),
    /// Reading a record failed, after the records before it were printed.
    #[error("pcap_loop: {0}")]
    Read(ReadError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("standard output: {0}")]
    Stdout(io::Error),
    #[error("{}: {source}", path.display())]
    CoverageReport { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Filter(#[from] FilterError),
}

/// The filter as tcpdump compiles it for reading `path`: on libpcap's handle for the file, or
/// (standard input, a file libpcap cannot open) for its link type.
fn compile_for(expression: &str, path: &Path, linktype: u32, snaplen: u32) -> Result<Filter, FilterError> {
    if path != Path::new("-")
        && let Some(f) = Filter::compile_for_file(expression, path, snaplen)?
    {
        return Ok(f);
    }
    Filter::compile(expression, dlt_of_linktype(linktype), snaplen)
}

/// Prints every packet of `path` the filter selects; returns how many were selected. `opened` receives the lines
/// tcpdump prints on stderr once the file is open (`reading from file F, link-type ...`).
///
/// A stop signal ([`signals`]) ends the reading before the next packet, as tcpdump 4.99.3's
/// `pcap_breakloop` does: what was read is printed (and written: whole records), then, when
/// packets are printed rather than written (no `-w`), one extra newline "in case we were
/// interrupted in the middle of a line"; no counts follow, and the run is a success.
pub fn run(path: &Path, cfg: &OfflineConfig, mut opened: impl FnMut(&str)) -> Result<u64, OfflineError> {
    let mut reader = CaptureReader::open(path).map_err(OfflineError::Open)?;
    let link = match reader.linktype() {
        Some(lt) => format!(", link-type {}", linktype_description(lt)),
        None => String::new(),
    };
    opened(&format!(
        "reading from file {}{link}, snapshot length {}",
        path.display(),
        reader.snaplen()
    ));
    // The interface indexes of a Linux cooked v2 file are named on this host, which may not be
    // where it was captured.
    if reader.linktype() == Some(crate::print::linktype::LINUX_SLL2) {
        opened("Warning: interface names might be incorrect");
    }
    // After the file is open, as tcpdump reads -F and compiles (its errors follow that line).
    // The reader stops at an interface of another link type, as libpcap does: one program
    // serves the whole file.
    let filter = match cfg.filter.text()? {
        Some(expr) => Some(compile_for(
            &expr,
            path,
            reader.linktype().unwrap_or(crate::print::linktype::ETHERNET),
            reader.snaplen(),
        )?),
        None => None,
    };
    let mut printer = Printer::new(cfg.print.clone());
    let stdout = io::stdout();
    let flush_each = cfg.line_buffered || stdout.is_terminal();
    let mut out = stdout.lock();
    // Packets are printed straight into this buffer, written out when it is full (or after
    // every packet with -l or on a terminal): one copy of each line, no per-packet allocation.
    let mut buf: Vec<u8> = Vec::with_capacity(OUT_CHUNK + (1 << 16));
    // Created before the first packet, as tcpdump does: a filter that selects nothing still
    // leaves a valid, empty file. With the file's link type and snapshot length: tcpdump
    // ignores -s when reading.
    let mut sink: Option<PcapSink> = match (&cfg.write, reader.linktype()) {
        (Some(path), Some(linktype)) => Some(PcapSink::create(path, linktype, reader.snaplen(), cfg.nano)?),
        _ => None,
    };
    let report_err = |path: &Path, source| OfflineError::CoverageReport {
        path: path.to_owned(),
        source,
    };
    let mut report = match &cfg.coverage_report {
        Some(p) => Some(BufWriter::new(File::create(p).map_err(|e| report_err(p, e))?)),
        None => None,
    };
    let reader_snaplen = reader.snaplen();
    let mut n = 0u64;
    let mut interrupted = false;
    let result = loop {
        if cfg.count.is_some_and(|c| n >= c) {
            break Ok(());
        }
        if signals::requested() {
            interrupted = true;
            break Ok(());
        }
        let rec = match reader.next_packet() {
            Ok(Some(rec)) => rec,
            Ok(None) => break Ok(()),
            Err(err) => break Err(OfflineError::Read(err)),
        };
        if filter.as_ref().is_some_and(|f| !f.matches(rec.data, rec.orig_len)) {
            continue;
        }
        n += 1;
        if let Some(path) = &cfg.write {
            if sink.is_none() {
                sink = Some(PcapSink::create(path, rec.linktype, reader_snaplen, cfg.nano)?);
            }
            if let Some(s) = sink.as_mut() {
                s.write(rec.ts, rec.data, rec.orig_len)?;
            }
        }
        if cfg.print_packets {
            let start = buf.len();
            printer.print(&mut buf, rec.ts, rec.linktype, rec.data, rec.orig_len);
            if let (Some(r), Some(p)) = (report.as_mut(), &cfg.coverage_report) {
                let lines = buf[start..].iter().filter(|&&b| b == b'\n').count();
                writeln!(r, "{}{lines}", char::from(coverage_byte(printer.last_coverage())))
                    .map_err(|e| report_err(p, e))?;
            }
            if flush_each || buf.len() >= OUT_CHUNK {
                out.write_all(&buf).map_err(OfflineError::Stdout)?;
                buf.clear();
                if flush_each {
                    out.flush().map_err(OfflineError::Stdout)?;
                }
            }
        }
    };
    // What was read before an error is still printed, as tcpdump does.
    out.write_all(&buf).map_err(OfflineError::Stdout)?;
    if interrupted && cfg.write.is_none() {
        out.write_all(b"\n").map_err(OfflineError::Stdout)?;
    }
    out.flush().map_err(OfflineError::Stdout)?;
    if let Some(s) = sink.as_mut() {
        s.flush()?;
    }
    if let (Some(r), Some(p)) = (report.as_mut(), &cfg.coverage_report) {
        r.flush().map_err(|e| report_err(p, e))?;
    }
    result.map(|()| n)
}
