//! The `-w` output of a live capture: pcap or pcapng, one file, standard
//! output, or a series of files rotated as tcpdump's `-C`/`-W`/`-G` do, each
//! of them complete on its own (a header per file, only whole records; a file
//! is flushed and closed before the next is opened). `-U` flushes after every
//! packet. In pcapng each packet names its interface and direction, and the
//! process owning its socket when that is known.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    sync::Arc,
};

use tracer_common::DIR_OUT;

use super::{
    owner::OwnerCache,
    pcapng_write::{Direction, NgInterface, NgSink},
    rotate::{Rotation, Rotator, Step},
    write::{PcapSink, WriteError, is_stdout},
};
use crate::print::Timestamp;

/// The file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

impl Format {
    /// pcapng with `--pcapng` or a file name ending in `.pcapng` (any case); pcap otherwise.
    pub fn choose(path: &Path, pcapng_flag: bool) -> Format {
        let ng_name = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(OsStr::new("pcapng")));
        if pcapng_flag || ng_name {
            Format::PcapNg
        } else {
            Format::Pcap
        }
    }
}

/// A capture interface as the writer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterInterface {
    pub ifindex: u32,
    pub name: String,
    /// LINKTYPE_* of the packets as captured on it (pcapng keeps each interface's own).
    pub linktype: u32,
    /// Loopback: every packet is seen once, on egress; written as inbound, as libpcap does.
    pub loopback: bool,
}

/// What `-w` writes.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// `-w` (`-` = standard output); a template with `-G`.
    pub path: PathBuf,
    pub format: Format,
    /// pcap: the capture's link type (SLL2 for several interfaces); pcapng: the link type of
    /// every interface when theirs differ.
    pub linktype: u32,
    /// pcapng: one interface block each, in this order.
    pub interfaces: Vec<WriterInterface>,
    pub snaplen: u32,
    pub nano: bool,
    /// `-U`: flush after every packet.
    pub packet_buffered: bool,
    pub rotation: Rotation,
    /// pcapng: comment each packet with its socket's owner.
    pub owners: bool,
}

/// Errors of the configuration, before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("-C and -G need a file name, not the standard output")]
    RotateStdout,
}

/// One packet to write.
#[derive(Clone, Copy, Debug)]
pub struct OutPacket<'a> {
    pub ts: Timestamp,
    pub ifindex: u32,
    /// `DIR_IN` or `DIR_OUT`.
    pub direction: u8,
    /// As captured on the interface (what pcapng writes).
    pub raw: &'a [u8],
    pub raw_orig_len: u32,
    /// In the capture's link type (what pcap writes: SLL2 framing for several interfaces).
    pub framed: &'a [u8],
    pub framed_orig_len: u32,
}

/// Whether the capture goes on after a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Continue,
    /// `-G` with `-W`: the file limit is reached (nothing more was written).
    LimitReached(u32),
    /// `-w -`: nobody reads standard output any more (nothing more is written).
    ReaderGone,
}

enum File {
    Pcap(PcapSink),
    PcapNg(NgSink),
}

impl File {
    fn written(&self) -> u64 {
        match self {
            File::Pcap(s) => s.written(),
            File::PcapNg(s) => s.written(),
        }
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        match self {
            File::Pcap(s) => s.flush(),
            File::PcapNg(s) => s.flush(),
        }
    }
}

/// The `-w` output.
pub struct CaptureWriter {
    cfg: WriterConfig,
    ng_interfaces: Vec<NgInterface>,
    /// pcapng with interfaces of different link types: packets written as framed (SLL2).
    ng_framed: bool,
    file: File,
    rotator: Option<Rotator>,
    owners: Option<OwnerCache>,
    /// Files opened so far (the first included).
    files_opened: u64,
    /// Standard output was closed by its reader.
    reader_gone: bool,
}

impl CaptureWriter {
    /// Opens the first file. `now` (seconds since the epoch) starts `-G`'s first slot.
    pub fn create(cfg: WriterConfig, now: i64) -> Result<Self, CaptureWriterError> {
        if cfg.rotation.active() && is_stdout(&cfg.path) {
            return Err(ConfigError::RotateStdout.into());
        }
        let rotator = cfg
            .rotation
            .active()
            .then(|| Rotator::new(cfg.rotation, cfg.path.as_os_str(), now));
        let first = match &rotator {
            Some(r) => r.first_name().map_err(WriteError::from)?,
            None => cfg.path.clone(),
        };
        // libpcap (so tcpdump and `-r`) reads only files whose interfaces share one link type:
        // interfaces of different kinds are all written as Linux cooked v2, the capture's own.
        let ng_framed = cfg.interfaces.windows(2).any(|w| w[0].linktype != w[1].linktype);
        let ng_interfaces: Vec<NgInterface> = cfg
            .interfaces
            .iter()
            .map(|i| NgInterface {
                name: i.name.clone(),
                linktype: if ng_framed { cfg.linktype } else { i.linktype },
            })
            .collect();
        let owners = (cfg.format == Format::PcapNg && cfg.owners).then(OwnerCache::new);
        let file = open(&cfg, &ng_interfaces, &first)?;
        Ok(Self {
            cfg,
            ng_interfaces,
            ng_framed,
            file,
            rotator,
            owners,
            files_opened: 1,
            reader_gone: false,
        })
    }

    /// The format being written.
    pub fn format(&self) -> Format {
        self.cfg.format
    }

    /// Whether [`OutPacket::framed`] is used (pcap); pcapng writes the raw frames.
    pub fn needs_framed(&self) -> bool {
        self.cfg.format == Format::Pcap || self.ng_framed
    }

    /// Files opened so far.
    pub fn files_opened(&self) -> u64 {
        self.files_opened
    }

    /// Writes one packet, rotating first when `-C`/`-G` say so.
    pub fn write(&mut self, p: &OutPacket<'_>) -> Result<Written, WriteError> {
        if self.reader_gone {
            return Ok(Written::ReaderGone);
        }
        let r = self.write_packet(p);
        self.pipe_closed(r, Written::ReaderGone)
    }

    /// Whether the reader of standard output went away (`-w - | tshark -c 10 -r -`): the
    /// capture then ends as after `-c` (tcpdump would die of SIGPIPE).
    pub fn reader_gone(&self) -> bool {
        self.reader_gone
    }

    /// A broken pipe on standard output is the end of the capture, not an error.
    fn pipe_closed<T>(&mut self, r: Result<T, WriteError>, gone: T) -> Result<T, WriteError> {
        match r {
            Err(e) if is_stdout(&self.cfg.path) && broken_pipe(&e) => {
                self.reader_gone = true;
                Ok(gone)
            }
            other => other,
        }
    }

    fn write_packet(&mut self, p: &OutPacket<'_>) -> Result<Written, WriteError> {
        if let Some(r) = self.rotator.as_mut() {
            match r.before_packet(p.ts.sec, self.file.written())? {
                Step::Keep => {}
                Step::Stop => {
                    let limit = r.file_limit().unwrap_or(0);
                    self.file.flush()?;
                    return Ok(Written::LimitReached(limit));
                }
                Step::Next(path) => {
                    // The finished file is complete before the next one exists.
                    self.file.flush()?;
                    self.file = open(&self.cfg, &self.ng_interfaces, &path)?;
                    self.files_opened += 1;
                }
            }
        }
        match &mut self.file {
            File::Pcap(s) => s.write(p.ts, p.framed, p.framed_orig_len)?,
            File::PcapNg(s) => {
                let Some(pos) = self.cfg.interfaces.iter().position(|i| i.ifindex == p.ifindex) else {
                    return Ok(Written::Continue);
                };
                let iface = &self.cfg.interfaces[pos];
                let outbound = p.direction == DIR_OUT && !iface.loopback;
                let comment: Option<Arc<str>> = self
                    .owners
                    .as_mut()
                    .and_then(|o| o.comment(iface.linktype, p.raw, outbound));
                let direction = if outbound {
                    Direction::Outbound
                } else {
                    Direction::Inbound
                };
                let (data, orig_len) = if self.ng_framed {
                    (p.framed, p.framed_orig_len)
                } else {
                    (p.raw, p.raw_orig_len)
                };
                s.write(
                    u32::try_from(pos).unwrap_or(u32::MAX),
                    p.ts,
                    data,
                    orig_len,
                    Some(direction),
                    comment.as_deref(),
                )?;
            }
        }
        if self.cfg.packet_buffered {
            self.file.flush()?;
        }
        Ok(Written::Continue)
    }

    /// Pushes everything buffered to the file.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        if self.reader_gone {
            return Ok(());
        }
        let r = self.file.flush();
        self.pipe_closed(r, ())
    }
}

fn broken_pipe(e: &WriteError) -> bool {
    let io = match e {
        WriteError::Pcap {
            source: pcap_file::PcapError::IoError(io),
            ..
        }
        | WriteError::Flush { source: io, .. } => io,
        _ => return false,
    };
    io.kind() == std::io::ErrorKind::BrokenPipe
}

/// Creates one file of the series, header included.
fn open(cfg: &WriterConfig, ng_interfaces: &[NgInterface], path: &Path) -> Result<File, WriteError> {
    Ok(match cfg.format {
        Format::Pcap => File::Pcap(PcapSink::create(path, cfg.linktype, cfg.snaplen, cfg.nano)?),
        Format::PcapNg => File::PcapNg(NgSink::create(path, ng_interfaces, cfg.snaplen, cfg.nano)?),
    })
}

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum CaptureWriterError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::{read::CaptureReader, rotate::FILE_SIZE_UNIT};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tracer-sink-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn config(path: PathBuf, format: Format, rotation: Rotation) -> WriterConfig {
        WriterConfig {
            path,
            format,
            linktype: 1,
            interfaces: vec![WriterInterface {
                ifindex: 7,
                name: "veth7".into(),
                linktype: 1,
                loopback: false,
            }],
            snaplen: 262_144,
            nano: false,
            packet_buffered: false,
            rotation,
            owners: false,
        }
    }

    fn packet(frame: &[u8], sec: i64) -> OutPacket<'_> {
        OutPacket {
            ts: Timestamp { sec, nsec: 5000 },
            ifindex: 7,
            direction: DIR_OUT,
            raw: frame,
            raw_orig_len: frame.len() as u32,
            framed: frame,
            framed_orig_len: frame.len() as u32,
        }
    }

    fn count(path: &Path) -> usize {
        let mut r = CaptureReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut n = 0;
        while r.next_packet().unwrap().is_some() {
            n += 1;
        }
        n
    }

    #[test]
    fn format_choice() {
        assert_eq!(Format::choose(Path::new("a.pcap"), false), Format::Pcap);
        assert_eq!(Format::choose(Path::new("a.PcapNG"), false), Format::PcapNg);
        assert_eq!(Format::choose(Path::new("-"), true), Format::PcapNg);
        assert_eq!(Format::choose(Path::new("pcapng"), false), Format::Pcap);
    }

    #[test]
    fn size_ring_of_three() {
        // -C 1 -W 3 with 1442-byte frames: 6.5 MB in all leaves r0 r1 r2, each whole,
        // each over 1,000,000 bytes by less than one record except the current one.
        for format in [Format::Pcap, Format::PcapNg] {
            let d = dir(&format!("ring-{format:?}"));
            let rot = Rotation {
                file_size: Some(FILE_SIZE_UNIT),
                files: Some(3),
                seconds: None,
            };
            let mut w = CaptureWriter::create(config(d.join("r"), format, rot), 0).unwrap();
            let frame = vec![0x11u8; 1442];
            for i in 0..4500 {
                assert_eq!(w.write(&packet(&frame, i / 100)).unwrap(), Written::Continue);
            }
            w.flush().unwrap();
            let mut names: Vec<String> = std::fs::read_dir(&d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(names, ["r0", "r1", "r2"], "{format:?}");
            assert!(w.files_opened() > 3);
            for n in &names {
                let p = d.join(n);
                let size = std::fs::metadata(&p).unwrap().len();
                assert!(size <= FILE_SIZE_UNIT + 1442 + 64, "{n}: {size}");
                assert!(count(&p) > 0, "{n}");
            }
        }
    }

    #[test]
    fn time_rotation_with_limit() {
        let d = dir("time");
        let rot = Rotation {
            seconds: Some(1),
            files: Some(3),
            file_size: None,
        };
        let template = d.join("cap-%Y%m%d%H%M%S.pcap");
        let t0 = 1_700_000_000;
        let mut w = CaptureWriter::create(config(template, Format::Pcap, rot), t0).unwrap();
        let frame = [0u8; 60];
        let mut result = Written::Continue;
        for i in 0..10 {
            // Two packets per second.
            result = w.write(&packet(&frame, t0 + i / 2)).unwrap();
            if result != Written::Continue {
                break;
            }
        }
        assert_eq!(result, Written::LimitReached(3));
        let mut names: Vec<PathBuf> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        assert_eq!(names.len(), 3);
        for (k, n) in names.iter().enumerate() {
            let want =
                crate::pcap::rotate::file_name(d.join("cap-%Y%m%d%H%M%S.pcap").as_os_str(), Some(t0 + k as i64), 0, 0)
                    .unwrap();
            assert_eq!(n, &want);
            assert_eq!(count(n), 2, "{}", n.display());
        }
    }

    #[test]
    fn rotation_refuses_stdout() {
        let rot = Rotation {
            file_size: Some(FILE_SIZE_UNIT),
            ..Rotation::default()
        };
        assert!(matches!(
            CaptureWriter::create(config(PathBuf::from("-"), Format::Pcap, rot), 0),
            Err(CaptureWriterError::Config(ConfigError::RotateStdout))
        ));
    }

    #[test]
    fn pcapng_mixed_link_types_are_framed() {
        let d = dir("mixed");
        let mut cfg = config(d.join("m.pcapng"), Format::PcapNg, Rotation::default());
        cfg.linktype = 276;
        cfg.interfaces.push(WriterInterface {
            ifindex: 8,
            name: "tun0".into(),
            linktype: 101,
            loopback: false,
        });
        let mut w = CaptureWriter::create(cfg, 0).unwrap();
        assert!(w.needs_framed());
        let raw = [0x45u8; 20];
        let framed = [0x08u8; 40];
        for ifindex in [7, 8] {
            let mut p = packet(&raw, 1);
            p.ifindex = ifindex;
            p.framed = &framed;
            p.framed_orig_len = 40;
            w.write(&p).unwrap();
        }
        w.flush().unwrap();
        let mut r = CaptureReader::open(&d.join("m.pcapng")).unwrap();
        for _ in 0..2 {
            let p = r.next_packet().unwrap().unwrap();
            assert_eq!((p.linktype, p.data), (276, &framed[..]));
        }
        // The same interfaces' own link types when they agree.
        let w = CaptureWriter::create(config(d.join("e.pcapng"), Format::PcapNg, Rotation::default()), 0).unwrap();
        assert!(!w.needs_framed());
    }

    #[test]
    fn pcapng_direction_and_unknown_interface() {
        let d = dir("ng");
        let mut cfg = config(d.join("x.pcapng"), Format::PcapNg, Rotation::default());
        cfg.packet_buffered = true;
        let mut w = CaptureWriter::create(cfg, 0).unwrap();
        let frame = [0u8; 60];
        w.write(&packet(&frame, 1)).unwrap();
        // -U: already on disk without a flush.
        assert_eq!(count(&d.join("x.pcapng")), 1);
        let mut other = packet(&frame, 1);
        other.ifindex = 99;
        w.write(&other).unwrap();
        w.flush().unwrap();
        assert_eq!(count(&d.join("x.pcapng")), 1);
    }
}
