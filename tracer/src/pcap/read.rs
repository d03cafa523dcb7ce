//! Reading capture files: pcap (microsecond and nanosecond magic, either byte order) with a
//! small reader of our own that reports libpcap's errors, and pcapng (pcapng.rs). `-` reads
//! standard input.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::pcapng::NgReader;
use crate::print::Timestamp;

/// libpcap's upper bound on a record's captured length (MAXIMUM_SNAPLEN).
pub(super) const MAX_SNAPLEN: u32 = 262_144;

/// Errors while reading a capture file; the wording follows libpcap's.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {}", os_message(source))]
    Open { path: PathBuf, source: io::Error },
    #[error("{}", os_message(source))]
    Io { source: io::Error },
    #[error("unknown file format")]
    UnknownFormat,
    #[error("truncated dump file; tried to read {wanted} {what} bytes, only got {got}")]
    Truncated {
        what: &'static str,
        wanted: usize,
        got: usize,
    },
    #[error("invalid packet capture length {caplen}, bigger than maximum of {max}")]
    BadCaplen { caplen: u32, max: u32 },
    #[error("pcapng: {what}")]
    PcapNgFormat { what: String },
    #[error("pcapng: packet on interface {id}, which the file does not describe")]
    NoInterface { id: u32 },
    #[error("an interface has a type {linktype} different from the type of the first interface")]
    InterfaceType { linktype: u32 },
    #[error("an interface has a snapshot length {snaplen} different from the snapshot length of the first interface")]
    InterfaceSnaplen { snaplen: u32 },
}

/// "No such file or directory", without Rust's " (os error 2)".
fn os_message(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// One packet, borrowing the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    pub ts: Timestamp,
    pub linktype: u32,
    pub data: &'a [u8],
    pub orig_len: u32,
}

/// A pcap or pcapng file (or standard input) opened for reading.
pub struct CaptureReader {
    inner: Inner,
}

enum Inner {
    Pcap(PcapFile),
    PcapNg(Box<NgReader>),
}

struct PcapFile {
    src: Box<dyn Read>,
    swapped: bool,
    nano: bool,
    linktype: u32,
    snaplen: u32,
    /// Read-ahead: records are handed out as slices of it, so each byte is copied once.
    chunk: Vec<u8>,
    /// `chunk[pos..end]` is read and not yet consumed.
    pos: usize,
    end: usize,
}

/// Read-ahead size; larger than any record (16 + 262144 bytes).
const CHUNK: usize = 1 << 20;

/// Reads as much of `buf` as the stream holds; returns the count.
pub(super) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize, ReadError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(ReadError::Io { source }),
        }
    }
    Ok(got)
}

impl CaptureReader {
    /// Opens `path`, or standard input for `-`.
    pub fn open(path: &Path) -> Result<CaptureReader, ReadError> {
        let src: Box<dyn Read> = if path == Path::new("-") {
            Box::new(BufReader::with_capacity(1 << 16, io::stdin()))
        } else {
            let f = File::open(path).map_err(|source| ReadError::Open {
                path: path.to_owned(),
                source,
            })?;
            Box::new(BufReader::with_capacity(1 << 16, f))
        };
        Self::from_reader(src)
    }

    /// Reads a capture from any byte stream.
    pub fn from_reader(mut src: Box<dyn Read>) -> Result<CaptureReader, ReadError> {
        let mut magic = [0u8; 4];
        let got = read_full(&mut *src, &mut magic)?;
        if got < 4 {
            return Err(ReadError::Truncated {
                what: "file header",
                wanted: 4,
                got,
            });
        }
        let (swapped, nano) = match u32::from_le_bytes(magic) {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            0x0a0d_0d0a => return Self::open_ng(magic, src),
            _ => return Err(ReadError::UnknownFormat),
        };
        let mut hdr = [0u8; 20];
        let got = read_full(&mut *src, &mut hdr)?;
        if got < 20 {
            return Err(ReadError::Truncated {
                what: "file header",
                wanted: 24,
                got,
            });
        }
        let word = |i: usize| {
            let b = [hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]];
            if swapped {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let mut snaplen = word(12);
        if snaplen == 0 || snaplen > MAX_SNAPLEN {
            snaplen = MAX_SNAPLEN;
        }
        let linktype = word(16) & 0x03ff_ffff;
        Ok(CaptureReader {
            inner: Inner::Pcap(PcapFile {
                src,
                swapped,
                nano,
                linktype,
                snaplen,
                chunk: vec![0; CHUNK],
                pos: 0,
                end: 0,
            }),
        })
    }

    fn open_ng(magic: [u8; 4], rest: Box<dyn Read>) -> Result<CaptureReader, ReadError> {
        Ok(CaptureReader {
            inner: Inner::PcapNg(Box::new(NgReader::open(magic, rest)?)),
        })
    }

    /// The snapshot length the file declares (pcap header, or the first pcapng interface),
    /// adjusted as libpcap does: 0 or more than 262144 means 262144.
    pub fn snaplen(&self) -> u32 {
        match &self.inner {
            Inner::Pcap(p) => p.snaplen,
            Inner::PcapNg(n) => n.snaplen(),
        }
    }

    /// The link type of a pcap file, or of the first pcapng interface seen so far.
    pub fn linktype(&self) -> Option<u32> {
        match &self.inner {
            Inner::Pcap(p) => Some(p.linktype),
            Inner::PcapNg(n) => n.linktype(),
        }
    }

    /// Next packet; Ok(None) at clean EOF.
    pub fn next_packet(&mut self) -> Result<Option<RecordRef<'_>>, ReadError> {
        match &mut self.inner {
            Inner::Pcap(p) => p.next(),
            Inner::PcapNg(n) => Ok(n.next()?.map(|p| RecordRef {
                ts: p.ts,
                linktype: p.linktype,
                data: p.data,
                orig_len: p.orig_len,
            })),
        }
    }
}

impl PcapFile {
    /// Makes at least `n` unconsumed bytes available if the stream has them; returns how many
    /// there are.
    fn fill(&mut self, n: usize) -> Result<usize, ReadError> {
        if self.end - self.pos >= n {
            return Ok(self.end - self.pos);
        }
        self.chunk.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        while self.end < n {
            match self.src.read(&mut self.chunk[self.end..]) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(ReadError::Io { source }),
            }
        }
        Ok(self.end)
    }

    fn next(&mut self) -> Result<Option<RecordRef<'_>>, ReadError> {
        let got = self.fill(16)?;
        if got == 0 {
            return Ok(None);
        }
        if got < 16 {
            return Err(ReadError::Truncated {
                what: "header",
                wanted: 16,
                got,
            });
        }
        let hdr = &self.chunk[self.pos..self.pos + 16];
        let swapped = self.swapped;
        let word = |i: usize| {
            let b = [hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]];
            if swapped {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (sec, frac, caplen, orig_len) = (word(0), word(4), word(8), word(12));
        if caplen > MAX_SNAPLEN {
            return Err(ReadError::BadCaplen {
                caplen,
                max: MAX_SNAPLEN,
            });
        }
        let need = 16 + caplen as usize;
        let got = self.fill(need)?;
        if got < need {
            return Err(ReadError::Truncated {
                what: "captured",
                wanted: caplen as usize,
                got: got - 16,
            });
        }
        let start = self.pos + 16;
        self.pos += need;
        // libpcap keeps at most the file's snapshot length.
        let keep = caplen.min(self.snaplen) as usize;
        // Not normalised: libpcap hands the fields over as they are, and so does tcpdump. It
        // reads each into a `long`: from a file in the host's byte order through a bpf_int32
        // (sign-extended), from a byte-swapped one through SWAPLONG's unsigned int (not).
        let host_order = swapped == cfg!(target_endian = "big");
        let widen = |w: u32| if host_order { i64::from(w as i32) } else { i64::from(w) };
        let ts = Timestamp {
            sec: widen(sec),
            nsec: if self.nano { widen(frac) } else { widen(frac) * 1000 },
        };
        Ok(Some(RecordRef {
            ts,
            linktype: self.linktype,
            data: &self.chunk[start..start + keep],
            orig_len,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_bytes(nano: bool, big: bool, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let w = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&if big { x.to_be_bytes() } else { x.to_le_bytes() });
        let mut v = Vec::new();
        w(&mut v, if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
        v.extend_from_slice(&if big { [0, 2, 0, 4] } else { [2, 0, 4, 0] });
        w(&mut v, 0);
        w(&mut v, 0);
        w(&mut v, 65535);
        w(&mut v, 1);
        for &(sec, frac, data, orig) in records {
            w(&mut v, sec);
            w(&mut v, frac);
            w(&mut v, data.len() as u32);
            w(&mut v, orig);
            v.extend_from_slice(data);
        }
        v
    }

    fn reader(bytes: Vec<u8>) -> Result<CaptureReader, ReadError> {
        CaptureReader::from_reader(Box::new(io::Cursor::new(bytes)))
    }

    #[test]
    fn reads_both_byte_orders_and_resolutions() {
        for (nano, big) in [(false, false), (true, false), (false, true), (true, true)] {
            let frac = if nano { 123_456_789 } else { 123_456 };
            let mut r = reader(pcap_bytes(nano, big, &[(10, frac, b"abc", 60)])).unwrap();
            let p = r.next_packet().unwrap().unwrap();
            assert_eq!(p.ts.sec, 10);
            assert_eq!(p.ts.nsec, if nano { 123_456_789 } else { 123_456_000 });
            assert_eq!((p.linktype, p.data, p.orig_len), (1, &b"abc"[..], 60));
            assert!(r.next_packet().unwrap().is_none());
        }
    }

    #[test]
    fn out_of_range_fields_widen_as_libpcap_does() {
        // Bit 31 set: negative in the host's byte order, as it is in a byte-swapped file.
        let big_host = cfg!(target_endian = "big");
        for (nano, big) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut r = reader(pcap_bytes(nano, big, &[(0x8000_0000, 4_292_819_813, b"a", 1)])).unwrap();
            let p = r.next_packet().unwrap().unwrap();
            let (sec, field) = if big == big_host {
                (-2_147_483_648, -2_147_483)
            } else {
                (2_147_483_648, 4_292_819_813)
            };
            assert_eq!(p.ts.sec, sec);
            assert_eq!(p.ts.nsec, if nano { field } else { field * 1000 });
        }
    }

    #[test]
    fn errors_read_like_libpcap() {
        assert_eq!(
            reader(vec![]).err().unwrap().to_string(),
            "truncated dump file; tried to read 4 file header bytes, only got 0"
        );
        assert_eq!(
            reader(b"hello world, this is text".to_vec()).err().unwrap().to_string(),
            "unknown file format"
        );
        let mut b = pcap_bytes(false, false, &[(1, 2, b"abcdef", 6)]);
        b.truncate(b.len() - 2);
        let mut r = reader(b).unwrap();
        assert_eq!(
            r.next_packet().err().unwrap().to_string(),
            "truncated dump file; tried to read 6 captured bytes, only got 4"
        );
        let e = CaptureReader::open(Path::new("/nonexistent/x.pcap")).err().unwrap();
        assert_eq!(e.to_string(), "/nonexistent/x.pcap: No such file or directory");
    }
}
