//! The Linux cooked v2 (SLL2) view of a frame, for programs libpcap compiled for
//! DLT_LINUX_SLL2: what tcpdump compiles for `-i any`, and what a capture of several
//! interfaces writes. The hooks see the frame itself; the program reads
//!
//! | bytes   | field                 | here                                                  |
//! |---------|-----------------------|-------------------------------------------------------|
//! | 0–1     | protocol (EtherType)  | the frame's EtherType; without an Ethernet header, from the IP version |
//! | 2–3     | reserved              | 0                                                     |
//! | 4–7     | interface index       | the context's                                         |
//! | 8–9     | ARPHRD type           | loopback (772) on index 1, else Ethernet (1); none (65534) without an Ethernet header |
//! | 10      | packet type           | as the `pkttype` ancillary load has it at this hook   |
//! | 11      | address length        | 6, or 0 without an Ethernet header                    |
//! | 12–19   | address               | the frame's source MAC, then zeros                    |
//! | 20–     | payload               | the frame after its Ethernet header                   |
//!
//! as `capture::link::to_sll2` writes such frames into files. Loads of the payload are the
//! frame's loads moved by the difference of the headers; a header field is read or computed
//! where the program loads it (libpcap tests the protocol first: that is a load of the
//! frame's EtherType), bytes of several fields are put together one by one. An indirect load
//! below the payload (rare: libpcap's indirect loads are the transport headers') goes out of
//! line through a comparison per header offset, since a variable offset into the stack is
//! not allowed by every kernel's verifier.

use super::{
    Emitter, FallbackKind, Hook, Label, PACKET_HOST, R1, R2, R8, R10, TMP_SLOT, W, cbpf, ebpf, sk_buff, width, xdp_md,
};

/// The cooked header's length.
pub(super) const HEADER_LEN: u32 = 20;
const ETH_HLEN: u32 = 14;
/// Where an Ethernet frame's EtherType and source address are.
const ETH_TYPE: u32 = 12;
const ETH_SOURCE: u32 = 6;
const ETH_ALEN: u32 = 6;
const ARPHRD_ETHER: u32 = 1;
const ARPHRD_LOOPBACK: u32 = 772;
const ARPHRD_NONE: u32 = 0xfffe;
const LOOPBACK_IFINDEX: u32 = 1;
const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;

/// How much longer the cooked packet is than the frame.
pub(super) fn grown_by(ethernet: bool) -> u32 {
    if ethernet { HEADER_LEN - ETH_HLEN } else { HEADER_LEN }
}

/// Where a run of header bytes comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    /// The same number of bytes of the frame, from this offset on.
    Frame(u32),
    Zero,
    /// A number computed from what the hook knows, big-endian in the field.
    Value(Value),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Value {
    /// The EtherType of a frame without an Ethernet header.
    ProtocolFromVersion,
    Ifindex,
    Hatype,
    Pkttype,
    Halen,
}

/// The field holding header byte `off` (< `HEADER_LEN`): its source, first byte and length.
fn field(off: u32, ethernet: bool) -> (Source, u32, u32) {
    match off {
        0..=1 if ethernet => (Source::Frame(ETH_TYPE), 0, 2),
        0..=1 => (Source::Value(Value::ProtocolFromVersion), 0, 2),
        2..=3 => (Source::Zero, 2, 2),
        4..=7 => (Source::Value(Value::Ifindex), 4, 4),
        8..=9 => (Source::Value(Value::Hatype), 8, 2),
        10 => (Source::Value(Value::Pkttype), 10, 1),
        11 => (Source::Value(Value::Halen), 11, 1),
        12..=17 if ethernet => (Source::Frame(ETH_SOURCE), 12, ETH_ALEN),
        12..=19 if !ethernet => (Source::Zero, 12, 8),
        _ => (Source::Zero, 18, 2),
    }
}

impl Emitter {
    /// `dst = P[k:size]` of the cooked packet.
    pub(super) fn cooked_abs(&mut self, size: u16, k: u32, ethernet: bool, dst: u8) {
        let n = width(size);
        if k >= HEADER_LEN {
            self.load_abs(size, k - grown_by(ethernet), dst);
            return;
        }
        let (source, start, len) = field(k, ethernet);
        if k + n > start + len {
            self.cooked_bytes(size, k, ethernet, dst);
            return;
        }
        match source {
            Source::Frame(at) => self.load_abs(size, at + (k - start), dst),
            Source::Zero => self.push(ebpf::mov32_imm(dst, 0)),
            Source::Value(v) => {
                self.cooked_value(v, ethernet, dst);
                let below = 8 * (start + len - (k + n));
                if below > 0 {
                    self.push(ebpf::alu32_imm(ebpf::RSH, dst, below));
                }
                if n < len {
                    self.push(ebpf::alu32_imm(ebpf::AND, dst, u32::MAX >> (32 - 8 * n)));
                }
            }
        }
    }

    /// `dst = P[k:size]` of the cooked packet for bytes of more than one field, one byte
    /// at a time.
    fn cooked_bytes(&mut self, size: u16, k: u32, ethernet: bool, dst: u8) {
        for i in 0..width(size) {
            if i > 0 {
                self.push(ebpf::store(W, R10, TMP_SLOT, dst));
            }
            // One byte is always in one field: no recursion past this.
            self.cooked_abs(cbpf::B, k + i, ethernet, dst);
            if i > 0 {
                self.push(ebpf::load(W, R1, R10, TMP_SLOT));
                self.push(ebpf::alu32_imm(ebpf::LSH, R1, 8));
                self.push(ebpf::alu32_reg(ebpf::OR, dst, R1));
            }
        }
    }

    /// `dst` = a computed header field.
    fn cooked_value(&mut self, v: Value, ethernet: bool, dst: u8) {
        match v {
            Value::ProtocolFromVersion => {
                self.load_abs(cbpf::B, 0, dst);
                self.push(ebpf::alu32_imm(ebpf::RSH, dst, 4));
                self.push(ebpf::jmp32_imm(ebpf::JEQ, dst, 6, 2));
                self.push(ebpf::mov32_imm(dst, ETHERTYPE_IPV4));
                self.push(ebpf::ja(1));
                self.push(ebpf::mov32_imm(dst, ETHERTYPE_IPV6));
            }
            Value::Ifindex => self.cooked_ifindex(dst),
            Value::Hatype if ethernet => {
                self.cooked_ifindex(dst);
                self.push(ebpf::jmp32_imm(ebpf::JEQ, dst, LOOPBACK_IFINDEX, 2));
                self.push(ebpf::mov32_imm(dst, ARPHRD_ETHER));
                self.push(ebpf::ja(1));
                self.push(ebpf::mov32_imm(dst, ARPHRD_LOOPBACK));
            }
            Value::Hatype => self.push(ebpf::mov32_imm(dst, ARPHRD_NONE)),
            // XDP derives it from the destination MAC, which such a frame has not.
            Value::Pkttype if !ethernet && self.hook == Hook::Xdp => self.push(ebpf::mov32_imm(dst, PACKET_HOST)),
            Value::Pkttype => self.pkttype(dst),
            Value::Halen => self.push(ebpf::mov32_imm(dst, if ethernet { ETH_ALEN } else { 0 })),
        }
    }

    fn cooked_ifindex(&mut self, dst: u8) {
        self.ctx_to_r1();
        let off = if self.hook == Hook::Xdp {
            xdp_md::INGRESS_IFINDEX
        } else {
            sk_buff::IFINDEX
        };
        self.push(ebpf::load(W, dst, R1, off));
    }

    /// `dst = P[X + k:size]` of the cooked packet.
    pub(super) fn cooked_ind(&mut self, size: u16, k: u32, ethernet: bool, dst: u8) {
        if k >= HEADER_LEN {
            // X + k is in the payload.
            self.load_ind(size, k - grown_by(ethernet), dst);
            return;
        }
        let (entry, resume) = (self.label(), self.label());
        self.push(ebpf::mov64_reg(R2, R8));
        self.add_r2(k);
        self.jump(ebpf::jmp64_imm(ebpf::JLT, R2, HEADER_LEN as i32, 0), entry);
        self.push(ebpf::alu64_imm(ebpf::ADD, R2, -(grown_by(ethernet) as i32)));
        self.load_at_r2(size, dst);
        self.defer(entry, resume, size, dst, FallbackKind::CookedHeader { ethernet });
    }

    /// Out of line: `dst = P[r2:size]` of the cooked packet, r2 below `HEADER_LEN`; then on
    /// at `resume`.
    pub(super) fn cooked_header_at_r2(&mut self, size: u16, dst: u8, resume: Label, ethernet: bool) {
        for at in 0..HEADER_LEN {
            let next = self.label();
            self.jump(ebpf::jmp64_imm(ebpf::JNE, R2, at as i32, 0), next);
            self.cooked_abs(size, at, ethernet, dst);
            self.jump(ebpf::ja(0), resume);
            self.bind(next);
        }
        // Not reached: r2 < HEADER_LEN.
        self.jump(ebpf::ja(0), Label::Reject);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cover_the_header() {
        for ethernet in [true, false] {
            let mut covered = 0;
            while covered < HEADER_LEN {
                let (_, start, len) = field(covered, ethernet);
                assert_eq!(start, covered);
                for b in start..start + len {
                    assert_eq!(field(b, ethernet).1, start, "byte {b}");
                }
                covered += len;
            }
            assert_eq!(covered, HEADER_LEN);
        }
    }
}
