//! Writing pcapng files (through the pcap-file crate): a Section Header
//! Block, one Interface Description Block per capture interface (its name,
//! link type and snap length; `if_tsresol` = 9 with `--nano`), and one
//! Enhanced Packet Block per packet with its interface, its direction in
//! `epb_flags` (inbound 01, outbound 10 in bits 0-1) and, when known, a
//! comment naming the owning process (`pid 1234 curl`).
//!
//! pcap-file writes an EPB's timestamp as `Duration::as_nanos()` whatever the
//! interface's resolution says, so for the default resolution (microseconds,
//! no `if_tsresol` option, what every reader assumes) the timestamp is handed
//! over as a Duration whose nanosecond count is the microsecond count.

use std::{
    borrow::Cow,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use pcap_file::{
    DataLink, Endianness,
    pcapng::{
        PcapNgWriter,
        blocks::{
            enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption},
            interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
            section_header::{SectionHeaderBlock, SectionHeaderOption},
        },
    },
};

use super::write::{WriteError, buffer_size, open_output};
use crate::print::Timestamp;

/// `epb_flags` direction bits.
pub const EPB_INBOUND: u32 = 0b01;
pub const EPB_OUTBOUND: u32 = 0b10;

/// One capture interface, described by an Interface Description Block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NgInterface {
    pub name: String,
    /// LINKTYPE_* of its packets.
    pub linktype: u32,
}

/// Where a packet was going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

/// A pcapng file being written.
pub struct NgSink {
    path: PathBuf,
    writer: PcapNgWriter<BufWriter<Box<dyn Write + Send>>>,
    snaplen: u32,
    nano: bool,
    interfaces: u32,
    written: u64,
}

impl NgSink {
    /// Creates `path` (`-` = standard output) with a section header and one
    /// interface block per entry of `interfaces` (a packet names its interface
    /// by the index in this list).
    pub fn create(path: &Path, interfaces: &[NgInterface], snaplen: u32, nano: bool) -> Result<Self, WriteError> {
        let out = BufWriter::with_capacity(buffer_size(path), open_output(path)?);
        let err = |source| WriteError::Pcap {
            path: path.to_owned(),
            source,
        };
        let section = SectionHeaderBlock {
            endianness: Endianness::native(),
            major_version: 1,
            minor_version: 0,
            section_length: -1,
            options: vec![
                SectionHeaderOption::UserApplication(Cow::Owned(format!("tracer {}", env!("CARGO_PKG_VERSION")))),
                SectionHeaderOption::OS(Cow::Owned(os_name())),
            ],
        };
        let mut writer = PcapNgWriter::with_section_header(out, section).map_err(err)?;
        let mut written = section_len(&writer);
        for i in interfaces {
            let mut options = vec![InterfaceDescriptionOption::IfName(Cow::Owned(i.name.clone()))];
            if nano {
                options.push(InterfaceDescriptionOption::IfTsResol(9));
            }
            let idb = InterfaceDescriptionBlock {
                linktype: DataLink::from(i.linktype),
                snaplen,
                options,
            };
            written += writer.write_pcapng_block(idb).map_err(err)? as u64;
        }
        Ok(Self {
            path: path.to_owned(),
            writer,
            snaplen,
            nano,
            interfaces: u32::try_from(interfaces.len()).unwrap_or(u32::MAX),
            written,
        })
    }

    /// Bytes written so far (buffered ones included).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends one packet captured on interface `iface` (index into the
    /// creation list; packets of unknown interfaces are an error of the caller
    /// and are skipped). `data` longer than the snap length is cut to it.
    pub fn write(
        &mut self,
        iface: u32,
        ts: Timestamp,
        data: &[u8],
        orig_len: u32,
        direction: Option<Direction>,
        comment: Option<&str>,
    ) -> Result<(), WriteError> {
        if iface >= self.interfaces {
            return Ok(());
        }
        let data = &data[..data.len().min(self.snaplen as usize)];
        let sec = u64::try_from(ts.sec).unwrap_or(0);
        let per_sec: u64 = if self.nano { 1_000_000_000 } else { 1_000_000 };
        let units = sec.saturating_mul(per_sec).saturating_add_signed(ts.frac(self.nano));
        let mut options = Vec::with_capacity(2);
        if let Some(d) = direction {
            options.push(EnhancedPacketOption::Flags(match d {
                Direction::Inbound => EPB_INBOUND,
                Direction::Outbound => EPB_OUTBOUND,
            }));
        }
        if let Some(c) = comment {
            options.push(EnhancedPacketOption::Comment(Cow::Borrowed(c)));
        }
        let epb = EnhancedPacketBlock {
            interface_id: iface,
            timestamp: Duration::from_nanos(units),
            original_len: orig_len.max(data.len() as u32),
            data: Cow::Borrowed(data),
            options,
        };
        let n = self.writer.write_pcapng_block(epb).map_err(|source| WriteError::Pcap {
            path: self.path.clone(),
            source,
        })?;
        self.written += n as u64;
        Ok(())
    }

    /// Pushes everything buffered to the file.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.writer.get_mut().flush().map_err(|source| WriteError::Flush {
            path: self.path.clone(),
            source,
        })
    }
}

/// Length of the section header block just written (what is buffered so far).
fn section_len(writer: &PcapNgWriter<BufWriter<Box<dyn Write + Send>>>) -> u64 {
    writer.get_ref().buffer().len() as u64
}

/// `Linux 6.18.0` (uname's sysname and release), for the section header.
fn os_name() -> String {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer for the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".to_owned();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {}", field(&u.sysname), field(&u.release))
}

#[cfg(test)]
mod tests {
    use pcap_file::pcapng::{Block, PcapNgReader};

    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tracer-ngwrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn blocks_read_back() {
        let path = tmp("two.pcapng");
        let ifaces = [
            NgInterface {
                name: "veth0".into(),
                linktype: 1,
            },
            NgInterface {
                name: "veth1".into(),
                linktype: 1,
            },
        ];
        let mut s = NgSink::create(&path, &ifaces, 65535, false).unwrap();
        let frame: Vec<u8> = (0..61u8).collect();
        let ts = Timestamp {
            sec: 1_700_000_000,
            nsec: 123_456_789,
        };
        s.write(0, ts, &frame, 100, Some(Direction::Outbound), Some("pid 42 curl"))
            .unwrap();
        s.write(1, ts, &frame[..20], 20, Some(Direction::Inbound), None)
            .unwrap();
        // Unknown interface: skipped.
        s.write(7, ts, &frame, 61, None, None).unwrap();
        s.flush().unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(s.written(), size);
        drop(s);

        let bytes = std::fs::read(&path).unwrap();
        let mut r = PcapNgReader::new(&bytes[..]).unwrap();
        let mut blocks = Vec::new();
        while let Some(b) = r.next_block() {
            blocks.push(b.unwrap().into_owned());
        }
        assert_eq!(blocks.len(), 4, "{blocks:?}");
        let Block::InterfaceDescription(idb) = &blocks[0] else {
            panic!("{:?}", blocks[0])
        };
        assert_eq!(u32::from(idb.linktype), 1);
        assert_eq!(idb.snaplen, 65535);
        assert_eq!(idb.options, [InterfaceDescriptionOption::IfName("veth0".into())]);
        let Block::InterfaceDescription(idb) = &blocks[1] else {
            panic!("{:?}", blocks[1])
        };
        assert_eq!(idb.options, [InterfaceDescriptionOption::IfName("veth1".into())]);
        let Block::EnhancedPacket(epb) = &blocks[2] else {
            panic!("{:?}", blocks[2])
        };
        assert_eq!(epb.interface_id, 0);
        assert_eq!(epb.original_len, 100);
        assert_eq!(&epb.data[..], &frame[..]);
        // Microseconds, read as nanoseconds by a reader that ignores if_tsresol.
        assert_eq!(epb.timestamp.as_nanos(), 1_700_000_000_123_456);
        assert_eq!(
            epb.options,
            [
                EnhancedPacketOption::Flags(EPB_OUTBOUND),
                EnhancedPacketOption::Comment("pid 42 curl".into())
            ]
        );
        let Block::EnhancedPacket(epb) = &blocks[3] else {
            panic!("{:?}", blocks[3])
        };
        assert_eq!((epb.interface_id, epb.data.len()), (1, 20));
        assert_eq!(epb.options, [EnhancedPacketOption::Flags(EPB_INBOUND)]);

        // Our own reader (the one -r uses) agrees on timestamps and link types.
        let mut r = crate::pcap::read::CaptureReader::open(&path).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(
            (p.ts.sec, p.ts.nsec, p.linktype, p.orig_len),
            (1_700_000_000, 123_456_000, 1, 100)
        );
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.linktype, p.data.len()), (1, 20));
        assert!(r.next_packet().unwrap().is_none());
    }

    #[test]
    fn nanosecond_resolution() {
        let path = tmp("nano.pcapng");
        let ifaces = [NgInterface {
            name: "eth0".into(),
            linktype: 1,
        }];
        let mut s = NgSink::create(&path, &ifaces, 262_144, true).unwrap();
        let ts = Timestamp {
            sec: 1_700_000_000,
            nsec: 123_456_789,
        };
        s.write(0, ts, &[0u8; 14], 14, None, None).unwrap();
        s.flush().unwrap();
        drop(s);
        let mut r = crate::pcap::read::CaptureReader::open(&path).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.ts.sec, p.ts.nsec), (1_700_000_000, 123_456_789));
        let bytes = std::fs::read(&path).unwrap();
        let mut r = PcapNgReader::new(&bytes[..]).unwrap();
        let Some(Ok(Block::InterfaceDescription(idb))) = r.next_block() else {
            panic!("no IDB")
        };
        assert!(idb.options.contains(&InterfaceDescriptionOption::IfTsResol(9)));
    }
}
