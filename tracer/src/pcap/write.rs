//! Writing pcap files (through the pcap-file crate), readable by tcpdump,
//! tshark and Wireshark: microsecond timestamps like tcpdump's `-w`, or
//! nanosecond ones with `--nano`, and the packets' true original lengths.

use std::{
    borrow::Cow,
    fs::File,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
};

use byteorder_slice::LittleEndian;
use pcap_file::{
    DataLink, Endianness, TsResolution,
    pcap::{PcapHeader, RawPcapPacket},
};

use crate::print::Timestamp;

/// Errors while writing a capture file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Pcap {
        path: PathBuf,
        source: pcap_file::PcapError,
    },
    #[error("{path}: {source}")]
    Flush { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Name(#[from] super::rotate::NameError),
}

/// Whether `path` means standard output (`-`, as for tcpdump).
pub fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// The output buffer for `path`: 64 KiB for a file; 4 KiB for standard output, which is
/// what tcpdump's stdio buffer holds on a pipe (its block size), so a reader such as
/// `tshark -r -` gets the packets as soon as it would from tcpdump, and a reader that
/// leaves is noticed as soon.
pub fn buffer_size(path: &Path) -> usize {
    if is_stdout(path) { 4096 } else { 1 << 16 }
}

/// Opens `path` for writing, truncating it; `-` = standard output, written
/// through its own descriptor (a duplicate of 1), not through the line-buffered
/// `std::io::Stdout`, which would cut binary data at every newline byte.
pub fn open_output(path: &Path) -> Result<Box<dyn Write + Send>, WriteError> {
    let create = |source| WriteError::Create {
        path: path.to_owned(),
        source,
    };
    if is_stdout(path) {
        use std::os::fd::AsFd as _;
        let fd = io::stdout().as_fd().try_clone_to_owned().map_err(create)?;
        return Ok(Box::new(File::from(fd)));
    }
    Ok(Box::new(File::create(path).map_err(create)?))
}

/// A pcap file being written. The header and records are serialised by
/// pcap-file; the buffered writer stays ours so that it can be flushed
/// (`-U`, rotation, exit) without giving the file up.
pub struct PcapSink {
    path: PathBuf,
    out: BufWriter<Box<dyn Write + Send>>,
    snaplen: u32,
    ts_resolution: TsResolution,
    /// Bytes written so far, header included (what tcpdump's `-C` compares: ftell).
    written: u64,
}

impl PcapSink {
    /// Creates `path` (`-` = standard output) with a pcap header for `linktype`.
    pub fn create(path: &Path, linktype: u32, snaplen: u32, nano: bool) -> Result<Self, WriteError> {
        let out = open_output(path)?;
        let ts_resolution = if nano {
            TsResolution::NanoSecond
        } else {
            TsResolution::MicroSecond
        };
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen,
            datalink: DataLink::from(linktype),
            ts_resolution,
            endianness: Endianness::Little,
        };
        let mut out = BufWriter::with_capacity(buffer_size(path), out);
        let written = header.write_to(&mut out).map_err(|source| WriteError::Pcap {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            out,
            snaplen,
            ts_resolution,
            written: written as u64,
        })
    }

    /// Bytes written so far (buffered ones included), header included.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends one packet. `data` longer than the snap length is cut to it.
    pub fn write(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> Result<(), WriteError> {
        let data = &data[..data.len().min(self.snaplen as usize)];
        // The record's fields as libpcap's pcap_dump() writes them: each `long` of the time
        // stamp cut to a bpf_int32, so that a corrupt field read with -r is written back as
        // tcpdump writes it (not normalised into the seconds).
        let packet = RawPcapPacket {
            ts_sec: ts.sec as u32,
            ts_frac: ts.frac(self.ts_resolution == TsResolution::NanoSecond) as u32,
            incl_len: data.len() as u32,
            orig_len: orig_len.max(data.len() as u32),
            data: Cow::Borrowed(data),
        };
        let n = packet
            .write_to::<_, LittleEndian>(&mut self.out)
            .map_err(|source| WriteError::Pcap {
                path: self.path.clone(),
                source,
            })?;
        self.written += n as u64;
        Ok(())
    }

    /// Pushes everything buffered to the file.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.out.flush().map_err(|source| WriteError::Flush {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The time stamp words of the first record written for `ts`.
    fn written_fields(ts: Timestamp, nano: bool) -> (u32, u32) {
        let path = std::env::temp_dir().join(format!("tracer-write-{}-{nano}.pcap", std::process::id()));
        let mut sink = PcapSink::create(&path, 1, 65535, nano).unwrap();
        sink.write(ts, b"abc", 3).unwrap();
        sink.flush().unwrap();
        drop(sink);
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        (word(24), word(28))
    }

    #[test]
    fn time_stamps_written_as_pcap_dump_writes_them() {
        let ts = Timestamp {
            sec: 1_700_000_000,
            nsec: 123_456_789,
        };
        assert_eq!(written_fields(ts, false), (1_700_000_000, 123_456));
        assert_eq!(written_fields(ts, true), (1_700_000_000, 123_456_789));
        // Read from a corrupt file: cut to 32 bits, not carried into the seconds.
        let ts = Timestamp {
            sec: -2_147_483_648,
            nsec: -2_147_483,
        };
        assert_eq!(written_fields(ts, false), (0x8000_0000, -2147i32 as u32));
        assert_eq!(written_fields(ts, true), (0x8000_0000, 4_292_819_813));
        let ts = Timestamp {
            sec: 1001,
            nsec: 1_000_000_000,
        };
        assert_eq!(written_fields(ts, false), (1001, 1_000_000));
    }
}
