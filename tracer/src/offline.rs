//! `-r FILE`: print (and with `-w`, copy) a capture file with the live printer.

use std::{
    io::{self, BufWriter, IsTerminal as _, Write as _},
    path::{Path, PathBuf},
};

use crate::{
    pcap::{
        read::{CaptureReader, ReadError},
        write::{PcapSink, WriteError},
    },
    print::{PrintOptions, Printer},
};

/// What `-r` does.
#[derive(Clone, Debug)]
pub struct OfflineConfig {
    pub count: Option<u64>,
    pub write: Option<PathBuf>,
    pub print_packets: bool,
    pub line_buffered: bool,
    pub snaplen: u32,
    pub nano: bool,
    pub print: PrintOptions,
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
}

/// Prints every packet of `path`; returns how many were read.
pub fn run(path: &Path, cfg: &OfflineConfig) -> Result<u64, OfflineError> {
    let mut reader = CaptureReader::open(path).map_err(OfflineError::Open)?;
    let mut printer = Printer::new(cfg.print.clone());
    let stdout = io::stdout();
    let flush_each = cfg.line_buffered || stdout.is_terminal();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = Vec::with_capacity(4096);
    let mut sink: Option<PcapSink> = None;
    let mut n = 0u64;
    let result = loop {
        if cfg.count.is_some_and(|c| n >= c) {
            break Ok(());
        }
        let rec = match reader.next_packet() {
            Ok(Some(rec)) => rec,
            Ok(None) => break Ok(()),
            Err(err) => break Err(OfflineError::Read(err)),
        };
        n += 1;
        if let Some(path) = &cfg.write {
            if sink.is_none() {
                sink = Some(PcapSink::create(path, rec.linktype, cfg.snaplen, cfg.nano)?);
            }
            if let Some(s) = sink.as_mut() {
                s.write(rec.ts, rec.data, rec.orig_len)?;
            }
        }
        if cfg.print_packets {
            line.clear();
            printer.print(&mut line, rec.ts, rec.linktype, rec.data, rec.orig_len);
            out.write_all(&line).map_err(OfflineError::Stdout)?;
            if flush_each {
                out.flush().map_err(OfflineError::Stdout)?;
            }
        }
    };
    // What was read before an error is still printed, as tcpdump does.
    out.flush().map_err(OfflineError::Stdout)?;
    if let Some(s) = sink.as_mut() {
        s.flush()?;
    }
    result.map(|()| n)
}
