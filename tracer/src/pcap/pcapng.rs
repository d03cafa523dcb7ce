//! A pcapng reader as lenient as libpcap's: it looks only at what a packet printer needs
//! (section byte order, each interface's link type, snapshot length, time stamp resolution
//! and offset, and the packet blocks) and skips everything else, so that a comment that is
//! not UTF-8 or an option it does not know cannot make a file unreadable.

use std::io::Read;

use super::read::{ReadError, read_full};
use crate::print::Timestamp;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_ENDOFOPT: u16 = 0;
const IF_TSRESOL: u16 = 9;
const IF_TSOFFSET: u16 = 14;
/// libpcap refuses blocks larger than this (MAX_BLOCKSIZE: 16 MiB).
const MAX_BLOCK: u32 = 16 * 1024 * 1024;

/// One interface of the current section.
#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Time stamp units per second.
    units: u64,
    /// if_tsoffset: seconds added to every time stamp.
    offset: i64,
}

/// A packet read from a pcapng file; `data` is the reader's buffer.
pub(super) struct NgPacket<'a> {
    pub ts: Timestamp,
    pub linktype: u32,
    pub data: &'a [u8],
    pub orig_len: u32,
}

pub(super) struct NgReader {
    src: Box<dyn Read>,
    big_endian: bool,
    ifaces: Vec<Interface>,
    /// The current block's body.
    block: Vec<u8>,
    /// The first interface's snapshot length, adjusted as libpcap does.
    snaplen: u32,
    /// The file's link type: the first interface's. Like libpcap, a later interface (in any
    /// section) with another link type or snapshot length ends the reading with an error.
    first_linktype: Option<u32>,
}

/// libpcap's pcap_adjust_snapshot for the link types printed here: 0 or anything over the
/// maximum means the maximum.
fn adjust_snaplen(snaplen: u32) -> u32 {
    if snaplen == 0 || snaplen > super::read::MAX_SNAPLEN {
        super::read::MAX_SNAPLEN
    } else {
        snaplen
    }
}

fn truncated(wanted: usize, got: usize) -> ReadError {
    ReadError::Truncated {
        what: "pcapng block",
        wanted,
        got,
    }
}

fn bad(what: &str) -> ReadError {
    ReadError::PcapNgFormat { what: what.to_owned() }
}

impl NgReader {
    /// `magic` is the section header's block type, already read from `src`. Reads up to the
    /// first interface description, as libpcap does when it opens a file.
    pub fn open(magic: [u8; 4], src: Box<dyn Read>) -> Result<NgReader, ReadError> {
        debug_assert_eq!(u32::from_le_bytes(magic), SHB);
        let mut r = NgReader {
            src,
            big_endian: false,
            ifaces: Vec::new(),
            block: Vec::new(),
            snaplen: super::read::MAX_SNAPLEN,
            first_linktype: None,
        };
        r.section_header()?;
        while r.ifaces.is_empty() {
            match r.next_block()? {
                None => break,
                Some(IDB) => {
                    r.interface()?;
                    r.snaplen = adjust_snaplen(r.ifaces[0].snaplen);
                    r.first_linktype = Some(r.ifaces[0].linktype);
                }
                Some(PB | SPB | EPB) => return Err(ReadError::NoInterface { id: 0 }),
                Some(_) => {}
            }
        }
        Ok(r)
    }

    pub fn linktype(&self) -> Option<u32> {
        self.first_linktype
    }

    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    fn u16_at(&self, b: &[u8], i: usize) -> Option<u16> {
        let x: [u8; 2] = b.get(i..i + 2)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(x)
        } else {
            u16::from_le_bytes(x)
        })
    }

    fn u32_at(&self, b: &[u8], i: usize) -> Option<u32> {
        let x: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        })
    }

    /// The section header after its block type: total length, byte-order magic, version.
    /// Leaves nothing of the block unread.
    fn section_header(&mut self) -> Result<(), ReadError> {
        let mut head = [0u8; 8];
        let got = read_full(&mut *self.src, &mut head)?;
        if got < 8 {
            return Err(truncated(8, got));
        }
        self.big_endian = match u32::from_le_bytes([head[4], head[5], head[6], head[7]]) {
            BYTE_ORDER_MAGIC => false,
            m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
            _ => return Err(bad("the section header's byte-order magic is wrong")),
        };
        let total = self.u32_at(&head, 0).unwrap_or(0);
        // Block type, total length and magic are read; the rest is the body plus the trailer.
        let rest = self.body_len(total, 12)?;
        self.read_body(rest)?;
        let major = self.u16_at(&self.block, 0).unwrap_or(0);
        if major != 1 {
            let minor = self.u16_at(&self.block, 2).unwrap_or(0);
            return Err(bad(&format!("unsupported pcapng savefile version {major}.{minor}")));
        }
        self.ifaces.clear();
        Ok(())
    }

    /// Bytes left in a block of `total` bytes of which `consumed` have been read, excluding the
    /// trailing length word.
    fn body_len(&self, total: u32, consumed: u32) -> Result<usize, ReadError> {
        if total < consumed + 4 || !total.is_multiple_of(4) {
            return Err(bad(&format!("block total length {total} is invalid")));
        }
        if total > MAX_BLOCK {
            return Err(bad(&format!(
                "block total length {total} is bigger than the maximum of {MAX_BLOCK}"
            )));
        }
        Ok((total - consumed - 4) as usize)
    }

    /// Reads `len` body bytes and the trailing length word into `self.block`.
    fn read_body(&mut self, len: usize) -> Result<(), ReadError> {
        self.block.resize(len + 4, 0);
        let got = read_full(&mut *self.src, &mut self.block)?;
        if got < len + 4 {
            return Err(truncated(len + 4, got));
        }
        self.block.truncate(len);
        Ok(())
    }

    /// Reads the next block into `self.block` and returns its type (`None` at end of file).
    /// Section headers are handled here.
    fn next_block(&mut self) -> Result<Option<u32>, ReadError> {
        loop {
            let mut t = [0u8; 4];
            let got = read_full(&mut *self.src, &mut t)?;
            if got == 0 {
                return Ok(None);
            }
            if got < 4 {
                return Err(truncated(4, got));
            }
            if u32::from_le_bytes(t) == SHB {
                self.section_header()?;
                continue;
            }
            let kind = if self.big_endian {
                u32::from_be_bytes(t)
            } else {
                u32::from_le_bytes(t)
            };
            let mut l = [0u8; 4];
            let got = read_full(&mut *self.src, &mut l)?;
            if got < 4 {
                return Err(truncated(4, got));
            }
            let total = self.u32_at(&l, 0).unwrap_or(0);
            let len = self.body_len(total, 8)?;
            self.read_body(len)?;
            return Ok(Some(kind));
        }
    }

    /// An interface description in `self.block`.
    fn interface(&mut self) -> Result<(), ReadError> {
        let b = &self.block;
        let (Some(linktype), Some(snaplen)) = (self.u16_at(b, 0), self.u32_at(b, 4)) else {
            return Err(bad("interface description block is too short"));
        };
        let mut iface = Interface {
            linktype: u32::from(linktype),
            snaplen,
            units: 1_000_000,
            offset: 0,
        };
        let mut i = 8;
        while let (Some(code), Some(len)) = (self.u16_at(b, i), self.u16_at(b, i + 2)) {
            let value = b.get(i + 4..i + 4 + len as usize).unwrap_or(&[]);
            match code {
                OPT_ENDOFOPT => break,
                IF_TSRESOL => {
                    if let Some(&r) = value.first() {
                        iface.units = if r & 0x80 != 0 {
                            1u64.checked_shl(u32::from(r & 0x7f)).unwrap_or(0)
                        } else {
                            10u64.checked_pow(u32::from(r)).unwrap_or(0)
                        };
                        if iface.units == 0 {
                            return Err(bad("if_tsresol is too large"));
                        }
                    }
                }
                IF_TSOFFSET => {
                    if let Ok(v) = <[u8; 8]>::try_from(value) {
                        iface.offset = if self.big_endian {
                            i64::from_be_bytes(v)
                        } else {
                            i64::from_le_bytes(v)
                        };
                    }
                }
                _ => {}
            }
            i += 4 + (len as usize).next_multiple_of(4);
        }
        self.ifaces.push(iface);
        Ok(())
    }

    /// libpcap reads files with one link type and one snapshot length only: an interface
    /// read after the first (in this section or a later one) that differs is an error
    /// (pcap_ng_next_packet), before any packet of it.
    fn same_as_first(&mut self) -> Result<(), ReadError> {
        let Some(new) = self.ifaces.last().copied() else {
            return Ok(());
        };
        match self.first_linktype {
            None => {
                // A section without interfaces came first: this one is the file's first.
                self.first_linktype = Some(new.linktype);
                self.snaplen = adjust_snaplen(new.snaplen);
                Ok(())
            }
            Some(first) if first != new.linktype => Err(ReadError::InterfaceType { linktype: new.linktype }),
            Some(_) if adjust_snaplen(new.snaplen) != self.snaplen => {
                Err(ReadError::InterfaceSnaplen { snaplen: new.snaplen })
            }
            Some(_) => Ok(()),
        }
    }

    fn iface(&self, id: u32) -> Result<Interface, ReadError> {
        self.ifaces
            .get(id as usize)
            .copied()
            .ok_or(ReadError::NoInterface { id })
    }

    /// The next packet, `None` at end of file.
    pub fn next(&mut self) -> Result<Option<NgPacket<'_>>, ReadError> {
        let kind = loop {
            match self.next_block()? {
                None => return Ok(None),
                Some(IDB) => {
                    self.interface()?;
                    self.same_as_first()?;
                }
                Some(k @ (EPB | PB | SPB)) => break k,
                Some(_) => {}
            }
        };
        let b = &self.block;
        // (interface, time stamp high/low, captured length, wire length, data offset)
        let fields = match kind {
            EPB => (
                self.u32_at(b, 0),
                self.u32_at(b, 4),
                self.u32_at(b, 8),
                self.u32_at(b, 12),
                self.u32_at(b, 16),
                20,
            ),
            PB => (
                self.u16_at(b, 0).map(u32::from),
                self.u32_at(b, 4),
                self.u32_at(b, 8),
                self.u32_at(b, 12),
                self.u32_at(b, 16),
                20,
            ),
            _ => {
                let orig = self.u32_at(b, 0);
                let iface = self.iface(0)?;
                // The captured length is what the block holds, at most the snap length.
                let room = b.len().saturating_sub(4) as u32;
                let cap = orig.map(|o| {
                    o.min(room)
                        .min(if iface.snaplen == 0 { u32::MAX } else { iface.snaplen })
                });
                (Some(0), Some(0), Some(0), cap, orig, 4)
            }
        };
        let (Some(id), Some(hi), Some(lo), Some(caplen), Some(orig_len), start) = fields else {
            return Err(bad("packet block is too short"));
        };
        let iface = self.iface(id)?;
        let data = b.get(start..start + caplen as usize).ok_or_else(|| {
            bad(&format!(
                "packet block's captured length {caplen} is bigger than the block"
            ))
        })?;
        let raw = (u64::from(hi) << 32) | u64::from(lo);
        let ts = if kind == SPB {
            Timestamp::default()
        } else {
            Timestamp {
                sec: (raw / iface.units) as i64 + iface.offset,
                nsec: ((raw % iface.units) as u128 * 1_000_000_000 / iface.units as u128) as i64,
            }
        };
        Ok(Some(NgPacket {
            ts,
            linktype: iface.linktype,
            data,
            orig_len,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let total = (body.len() + 12) as u32;
        let mut v = kind.to_le_bytes().to_vec();
        v.extend_from_slice(&total.to_le_bytes());
        v.extend_from_slice(&body);
        v.extend_from_slice(&total.to_le_bytes());
        v
    }

    fn shb() -> Vec<u8> {
        let mut body = BYTE_ORDER_MAGIC.to_le_bytes().to_vec();
        body.extend_from_slice(&[1, 0, 0, 0]);
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        // A comment that is not UTF-8: libpcap does not care, neither do we.
        body.extend_from_slice(&[1, 0, 3, 0, 0xff, 0xfe, 0x80, 0, 0, 0, 0, 0]);
        block(SHB, &body)
    }

    fn idb(linktype: u16, snaplen: u32, tsresol: Option<u8>) -> Vec<u8> {
        let mut body = linktype.to_le_bytes().to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&snaplen.to_le_bytes());
        if let Some(r) = tsresol {
            body.extend_from_slice(&[9, 0, 1, 0, r, 0, 0, 0]);
        }
        body.extend_from_slice(&[0, 0, 0, 0]);
        block(IDB, &body)
    }

    fn epb(id: u32, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
        let mut body = id.to_le_bytes().to_vec();
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&orig.to_le_bytes());
        body.extend_from_slice(data);
        block(EPB, &body)
    }

    fn open(bytes: Vec<u8>) -> Result<NgReader, ReadError> {
        let mut c = std::io::Cursor::new(bytes);
        let mut magic = [0u8; 4];
        c.read_exact(&mut magic).unwrap();
        NgReader::open(magic, Box::new(c))
    }

    #[test]
    fn packets_interfaces_and_resolutions() {
        let mut f = shb();
        f.extend(idb(1, 0, None));
        f.extend(block(5, b"statistics are skipped"));
        // 262144 is what 0 means: the same snapshot length.
        f.extend(idb(1, 262_144, Some(9)));
        f.extend(epb(0, 1_500_000_123_456, b"abc", 60));
        f.extend(epb(1, 7_000_000_001, b"xy", 2));
        let mut r = open(f).unwrap();
        assert_eq!((r.linktype(), r.snaplen()), (Some(1), 262_144));
        let p = r.next().unwrap().unwrap();
        assert_eq!(
            (p.ts.sec, p.ts.nsec, p.linktype, p.data, p.orig_len),
            (1_500_000, 123_456_000, 1, &b"abc"[..], 60)
        );
        let p = r.next().unwrap().unwrap();
        assert_eq!((p.ts.sec, p.ts.nsec, p.linktype, p.data), (7, 1, 1, &b"xy"[..]));
        assert!(r.next().unwrap().is_none());
    }

    #[test]
    fn later_interfaces_must_match_the_first() {
        // As libpcap: the first interface is read at open; a later one with another link type
        // or snapshot length is an error when it is reached (tcpdump: "pcap_loop: an interface
        // has a type 101 different from the type of the first interface").
        let mut f = shb();
        f.extend(idb(1, 0, None));
        f.extend(idb(101, 0, None));
        f.extend(epb(0, 0, b"abc", 3));
        let mut r = open(f).unwrap();
        let e = r.next().err().expect("an error");
        assert!(matches!(e, ReadError::InterfaceType { linktype: 101 }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "an interface has a type 101 different from the type of the first interface"
        );
        let mut f = shb();
        f.extend(idb(1, 0, None));
        f.extend(epb(0, 0, b"abc", 3));
        f.extend(shb());
        f.extend(idb(1, 96, None));
        f.extend(epb(0, 0, b"def", 3));
        let mut r = open(f).unwrap();
        assert!(r.next().unwrap().is_some());
        let e = r.next().err().expect("an error");
        assert!(matches!(e, ReadError::InterfaceSnaplen { snaplen: 96 }), "{e:?}");
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        let mut f = shb();
        f.extend(idb(1, 0, None));
        f.extend(epb(3, 0, b"abc", 3));
        let mut r = open(f.clone()).unwrap();
        assert!(matches!(r.next(), Err(ReadError::NoInterface { id: 3 })));
        for cut in 4..f.len() {
            if let Ok(mut r) = open(f[..cut].to_vec()) {
                while let Ok(Some(_)) = r.next() {}
            }
        }
        let mut f = shb();
        f.extend(epb(0, 0, b"abc", 3));
        assert!(open(f).is_err());
    }
}
