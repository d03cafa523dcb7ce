//! Classic BPF (what libpcap compiles an expression into) translated into eBPF instructions
//! for one of the packet programs' filter stubs: a function called with r1 = the program's
//! context that returns in r0 how many bytes to keep (0: not matched).
//!
//! The semantics are those of the evaluator in [`super::cbpf`] (libpcap's): A, X and the
//! scratch words start at 0; a load past the end of the packet, an indirect load whose
//! `X + k` does not fit in 32 bits and a division or remainder by X = 0 end the program with
//! 0; a shift by X ≥ 32 gives 0; `len` is the packet's length; the value returned is the
//! number of bytes to keep. Arithmetic is on 32 bits (eBPF's 32-bit ALU and JMP32 classes),
//! so every result is what classic BPF computes.
//!
//! Registers and stack:
//! - r6 the end of the packet's linear part (`data_end`), r7 A, r8 X, r9 its start (`data`):
//!   a load in place is a bounds check against r6 and the load, nothing more;
//! - the context spilled at `CTX_SLOT` (only the helper calls, `len` and the kernel's metadata
//!   need it), a 4-byte buffer for helper loads at `LOAD_BUF`, the 16 scratch words below it
//!   (`MEM_BASE`).
//!
//! Packet loads read the linear part in place (a bounds check against `data_end`, then one
//! load and a byte swap) and fall back to the load-bytes helper for bytes beyond it (a
//! socket buffer's fragments, an XDP buffer's frags): the helper fails for bytes past the end
//! of the packet, which rejects it. The fallbacks are emitted after everything else, so that
//! a filter whose loads all read in place runs without a taken jump between its tests.
//!
//! The kernel's ancillary loads (`k` from `SKF_AD_OFF` on), which libpcap emits for
//! `inbound`/`outbound` and `ifindex` on Linux, read what each hook knows: see [`ancillary`].

use tracer_common::{CbpfInsn, FILTER_STUB_INSNS};

use super::cbpf::{self, InvalidProgram};
use super::ebpf::{self, B, DW, H, Insn, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10, W, helper};

/// The hooks, each with its own kind of frame and context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// XDP on ingress: the frame as the driver received it (VLAN tags in it), an `xdp_md`.
    Xdp,
    /// TC ingress: a socket buffer (`__sk_buff`); a VLAN tag is in its metadata.
    TcIngress,
    /// TC egress.
    TcEgress,
}

impl Hook {
    pub const ALL: [Hook; 3] = [Hook::Xdp, Hook::TcIngress, Hook::TcEgress];

    pub fn name(self) -> &'static str {
        match self {
            Hook::Xdp => "XDP",
            Hook::TcIngress => "TC ingress",
            Hook::TcEgress => "TC egress",
        }
    }

    fn is_xdp(self) -> bool {
        self == Hook::Xdp
    }

    /// Offsets of `data` and `data_end` in the context.
    fn data_fields(self) -> (i16, i16) {
        if self.is_xdp() {
            (xdp_md::DATA, xdp_md::DATA_END)
        } else {
            (sk_buff::DATA, sk_buff::DATA_END)
        }
    }

    fn load_bytes_helper(self) -> i32 {
        if self.is_xdp() {
            helper::XDP_LOAD_BYTES
        } else {
            helper::SKB_LOAD_BYTES
        }
    }
}

/// How the classic program addresses the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The frame as the hook sees it (what a capture of one interface writes).
    Frame,
    /// Linux cooked v2 (SLL2), what `-i any` and captures of several interfaces write: a
    /// 20-byte header made from what the hook knows, then the frame after its Ethernet header
    /// (`ethernet`), or the whole frame of an interface without one. See [`cooked`].
    Sll2 { ethernet: bool },
}

/// Field offsets of `struct __sk_buff` (linux/bpf.h).
mod sk_buff {
    pub const LEN: i16 = 0;
    pub const PKT_TYPE: i16 = 4;
    pub const MARK: i16 = 8;
    pub const QUEUE_MAPPING: i16 = 12;
    pub const PROTOCOL: i16 = 16;
    pub const VLAN_PRESENT: i16 = 20;
    pub const VLAN_TCI: i16 = 24;
    pub const VLAN_PROTO: i16 = 28;
    pub const IFINDEX: i16 = 40;
    pub const HASH: i16 = 68;
    pub const DATA: i16 = 76;
    pub const DATA_END: i16 = 80;
}

/// Field offsets of `struct xdp_md`.
mod xdp_md {
    pub const DATA: i16 = 0;
    pub const DATA_END: i16 = 4;
    pub const INGRESS_IFINDEX: i16 = 12;
    pub const RX_QUEUE_INDEX: i16 = 16;
}

/// `SKF_AD_OFF` (linux/filter.h): absolute loads from here on read the kernel's metadata.
pub const SKF_AD_OFF: u32 = 0xffff_f000;
/// The ancillary fields (`SKF_AD_*`, offsets from `SKF_AD_OFF`).
pub mod ad {
    pub const PROTOCOL: u32 = 0;
    pub const PKTTYPE: u32 = 4;
    pub const IFINDEX: u32 = 8;
    pub const MARK: u32 = 20;
    pub const QUEUE: u32 = 24;
    pub const HATYPE: u32 = 28;
    pub const RXHASH: u32 = 32;
    pub const CPU: u32 = 36;
    pub const VLAN_TAG: u32 = 44;
    pub const VLAN_TAG_PRESENT: u32 = 48;
    pub const RANDOM: u32 = 56;
    pub const VLAN_TPID: u32 = 60;
}

/// `skb->pkt_type` values (linux/if_packet.h).
const PACKET_HOST: u32 = 0;
const PACKET_BROADCAST: u32 = 1;
const PACKET_OUTGOING: u32 = 4;
/// The loopback interface's index in every network namespace.
const LOOPBACK_IFINDEX: u32 = 1;

/// Where the spilled context pointer lives.
const CTX_SLOT: i16 = -8;
/// The helper loads' buffer.
const LOAD_BUF: i16 = -16;
/// Scratch word k is at `MEM_BASE + 4 k`.
const MEM_BASE: i16 = -16 - 4 * cbpf::MEMWORDS as i16;
/// A word kept while a cooked header's bytes are put together.
const TMP_SLOT: i16 = MEM_BASE - 8;
/// Direct packet loads reach at most this far into the linear part (the instruction's offset
/// field is signed 16-bit, and the verifier tracks packet ranges below 64 KiB).
const DIRECT_LIMIT: u32 = 0x7fff;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    #[error(transparent)]
    Invalid(#[from] InvalidProgram),
    #[error("instruction {pc}: the kernel's ancillary field {field} cannot be read at the {hook} hook")]
    Ancillary { pc: usize, field: u32, hook: &'static str },
    #[error(
        "the filter takes {len} eBPF instructions at the {hook} hook, more than the {max} the packet programs have room for"
    )]
    TooLong { len: usize, hook: &'static str, max: u32 },
}

/// A jump target.
#[derive(Clone, Copy, Debug)]
enum Label {
    /// The first eBPF instruction of a classic instruction.
    Classic(usize),
    /// A place inside one classic instruction's translation.
    Local(usize),
    /// `return 0`.
    Reject,
}

struct Emitter {
    hook: Hook,
    view: View,
    out: Vec<Insn>,
    /// (index of a jump, its target), resolved at the end.
    fixups: Vec<(usize, Label)>,
    starts: Vec<Option<usize>>,
    locals: Vec<Option<usize>>,
    /// Code paths taken rarely (a packet load's fallback to the helper), emitted after the
    /// rest so that the common path runs straight through.
    fallbacks: Vec<Fallback>,
}

/// Out-of-line code entered at `entry` that loads `size` bytes into `dst` and resumes at
/// `resume`.
struct Fallback {
    entry: Label,
    resume: Label,
    size: u16,
    dst: u8,
    kind: FallbackKind,
}

enum FallbackKind {
    /// The load-bytes helper at the absolute offset k.
    Absolute(u32),
    /// The load-bytes helper at the offset in r2.
    Indirect,
    /// A cooked header's bytes at the offset in r2 (below the header's length).
    CookedHeader { ethernet: bool },
}

/// Translates `prog` (checked with [`cbpf::validate`] here) for `hook`, addressing the frame
/// as the hook sees it.
pub fn translate(prog: &[CbpfInsn], hook: Hook) -> Result<Vec<Insn>, TranslateError> {
    translate_view(prog, hook, View::Frame)
}

/// Translates `prog` for `hook`, addressing the packet as `view` shows it.
pub fn translate_view(prog: &[CbpfInsn], hook: Hook, view: View) -> Result<Vec<Insn>, TranslateError> {
    cbpf::validate(prog)?;
    let reached = reachable(prog);
    let mut e = Emitter {
        hook,
        view,
        out: Vec::with_capacity(prog.len() * 8),
        fixups: Vec::new(),
        starts: vec![None; prog.len()],
        locals: Vec::new(),
        fallbacks: Vec::new(),
    };
    e.prologue();
    for (pc, i) in prog.iter().enumerate() {
        // The verifier refuses code no path reaches.
        if reached[pc] {
            e.starts[pc] = Some(e.out.len());
            e.classic(pc, *i)?;
        }
    }
    e.finish()
}

/// Which instructions some path from the first one reaches (jumps go forward only).
fn reachable(prog: &[CbpfInsn]) -> Vec<bool> {
    let mut seen = vec![false; prog.len()];
    if let Some(first) = seen.first_mut() {
        *first = true;
    }
    for pc in 0..prog.len() {
        if !seen[pc] {
            continue;
        }
        let i = prog[pc];
        let mut mark = |t: usize| {
            if let Some(s) = seen.get_mut(t) {
                *s = true;
            }
        };
        match i.code & 0x07 {
            c if c == cbpf::RET => {}
            c if c == cbpf::JMP => {
                if i.code == cbpf::JMP | cbpf::JA {
                    mark(pc + 1 + i.k as usize);
                } else {
                    mark(pc + 1 + usize::from(i.jt));
                    mark(pc + 1 + usize::from(i.jf));
                }
            }
            _ => mark(pc + 1),
        }
    }
    seen
}

/// Bytes a classic load of `size` reads.
fn width(size: u16) -> u32 {
    match size {
        cbpf::W => 4,
        cbpf::H => 2,
        _ => 1,
    }
}

fn ebpf_size(size: u16) -> u8 {
    match size {
        cbpf::W => W,
        cbpf::H => H,
        _ => B,
    }
}

fn mem_off(k: u32) -> i16 {
    // k < MEMWORDS: validated.
    MEM_BASE + 4 * (k as i16)
}

impl Emitter {
    fn push(&mut self, i: Insn) {
        self.out.push(i);
    }

    fn jump(&mut self, i: Insn, to: Label) {
        self.fixups.push((self.out.len(), to));
        self.out.push(i);
    }

    fn label(&mut self) -> Label {
        self.locals.push(None);
        Label::Local(self.locals.len() - 1)
    }

    fn bind(&mut self, l: Label) {
        if let Label::Local(n) = l {
            self.locals[n] = Some(self.out.len());
        }
    }

    fn prologue(&mut self) {
        let (data, data_end) = self.hook.data_fields();
        self.push(ebpf::store(DW, R10, CTX_SLOT, R1));
        self.push(ebpf::mov32_imm(R7, 0));
        self.push(ebpf::mov32_imm(R8, 0));
        self.push(ebpf::load(W, R9, R1, data));
        self.push(ebpf::load(W, R6, R1, data_end));
    }

    fn classic(&mut self, pc: usize, i: CbpfInsn) -> Result<(), TranslateError> {
        use cbpf::{A, ABS, ALU, IMM, IND, JMP, LD, LDX, LEN, MEM, MISC, MSH, RET, ST, STX, TAX, TXA};
        let code = i.code;
        let k = i.k;
        match code & 0x07 {
            LD => match code & 0xe0 {
                IMM => self.push(ebpf::mov32_imm(R7, k)),
                ABS if k >= SKF_AD_OFF => self.ancillary(pc, k - SKF_AD_OFF)?,
                ABS => self.packet_abs(code & 0x18, k, R7),
                IND => self.packet_ind(code & 0x18, k, R7),
                MEM => self.push(ebpf::load(W, R7, R10, mem_off(k))),
                LEN => self.len(R7),
                _ => unreachable_opcode(code),
            },
            LDX => match code & 0xe0 {
                IMM => self.push(ebpf::mov32_imm(R8, k)),
                MEM => self.push(ebpf::load(W, R8, R10, mem_off(k))),
                LEN => self.len(R8),
                MSH => {
                    self.packet_abs(cbpf::B, k, R8);
                    self.push(ebpf::alu32_imm(ebpf::AND, R8, 0x0f));
                    self.push(ebpf::alu32_imm(ebpf::LSH, R8, 2));
                }
                _ => unreachable_opcode(code),
            },
            ST => self.push(ebpf::store(W, R10, mem_off(k), R7)),
            STX => self.push(ebpf::store(W, R10, mem_off(k), R8)),
            ALU => self.alu(code, k),
            JMP => self.jmp(pc, i),
            RET => {
                if code & 0x18 == A {
                    self.push(ebpf::mov32_reg(R0, R7));
                } else {
                    self.push(ebpf::mov32_imm(R0, k));
                }
                self.push(ebpf::exit());
            }
            MISC => {
                if code == MISC | TAX {
                    self.push(ebpf::mov32_reg(R8, R7));
                } else if code == MISC | TXA {
                    self.push(ebpf::mov32_reg(R7, R8));
                } else {
                    unreachable_opcode(code);
                }
            }
            _ => unreachable_opcode(code),
        }
        Ok(())
    }

    fn alu(&mut self, code: u16, k: u32) {
        let op = (code & 0xf0) as u8;
        let by_x = code & cbpf::X != 0;
        match op {
            ebpf::NEG => self.push(ebpf::neg32(R7)),
            ebpf::DIV | ebpf::MOD if by_x => {
                // Classic BPF ends the program; eBPF would give 0 (or A).
                self.jump(ebpf::jmp32_imm(ebpf::JEQ, R8, 0, 0), Label::Reject);
                self.push(ebpf::alu32_reg(op, R7, R8));
            }
            ebpf::LSH | ebpf::RSH if by_x => {
                // libpcap gives 0 for shifts of 32 and more; eBPF takes the count modulo 32.
                self.push(ebpf::jmp32_imm(ebpf::JGT, R8, 31, 2));
                self.push(ebpf::alu32_reg(op, R7, R8));
                self.push(ebpf::ja(1));
                self.push(ebpf::mov32_imm(R7, 0));
            }
            _ if by_x => self.push(ebpf::alu32_reg(op, R7, R8)),
            _ => self.push(ebpf::alu32_imm(op, R7, k)),
        }
    }

    fn jmp(&mut self, pc: usize, i: CbpfInsn) {
        if i.code == cbpf::JMP | cbpf::JA {
            self.jump(ebpf::ja(0), Label::Classic(pc + 1 + i.k as usize));
            return;
        }
        let op = (i.code & 0xf0) as u8;
        let by_x = i.code & cbpf::X != 0;
        let cond = |op: u8| {
            if by_x {
                ebpf::jmp32_reg(op, R7, R8, 0)
            } else {
                ebpf::jmp32_imm(op, R7, i.k, 0)
            }
        };
        let taken = Label::Classic(pc + 1 + usize::from(i.jt));
        let not_taken = Label::Classic(pc + 1 + usize::from(i.jf));
        let inverse = match op {
            ebpf::JEQ => Some(ebpf::JNE),
            ebpf::JGT => Some(ebpf::JLE),
            ebpf::JGE => Some(ebpf::JLT),
            _ => None,
        };
        if i.jt == i.jf {
            self.jump(ebpf::ja(0), taken);
        } else if i.jf == 0 {
            self.jump(cond(op), taken);
        } else if let (0, Some(inv)) = (i.jt, inverse) {
            self.jump(cond(inv), not_taken);
        } else {
            self.jump(cond(op), taken);
            self.jump(ebpf::ja(0), not_taken);
        }
    }

    /// `dst = ntoh(dst)` for a load of `size`.
    fn swap(&mut self, size: u16, dst: u8) {
        match size {
            cbpf::W => self.push(ebpf::to_be(dst, 32)),
            cbpf::H => self.push(ebpf::to_be(dst, 16)),
            _ => {}
        }
    }

    /// r1 = the context.
    fn ctx_to_r1(&mut self) {
        self.push(ebpf::load(DW, R1, R10, CTX_SLOT));
    }

    /// The load-bytes helper for `size` bytes at offset r2 into `dst`; rejects on failure.
    fn helper_load(&mut self, size: u16, dst: u8) {
        self.ctx_to_r1();
        self.push(ebpf::mov64_reg(R3, R10));
        self.push(ebpf::alu64_imm(ebpf::ADD, R3, i32::from(LOAD_BUF)));
        self.push(ebpf::mov64_imm(R4, width(size) as i32));
        self.push(ebpf::call(self.hook.load_bytes_helper()));
        self.jump(ebpf::jmp64_imm(ebpf::JNE, R0, 0, 0), Label::Reject);
        self.push(ebpf::load(ebpf_size(size), dst, R10, LOAD_BUF));
        self.swap(size, dst);
    }

    /// `dst = P[k:size]` of the packet as the program sees it.
    fn packet_abs(&mut self, size: u16, k: u32, dst: u8) {
        match self.view {
            View::Frame => self.load_abs(size, k, dst),
            View::Sll2 { ethernet } => self.cooked_abs(size, k, ethernet, dst),
        }
    }

    /// `dst = P[X + k:size]` of the packet as the program sees it.
    fn packet_ind(&mut self, size: u16, k: u32, dst: u8) {
        match self.view {
            View::Frame => self.load_ind(size, k, dst),
            View::Sll2 { ethernet } => self.cooked_ind(size, k, ethernet, dst),
        }
    }

    /// `dst = P[k:size]` of the frame: in place after a bounds check, else (out of line) through the helper.
    fn load_abs(&mut self, size: u16, k: u32, dst: u8) {
        let n = width(size);
        if u64::from(k) + u64::from(n) > u64::from(DIRECT_LIMIT) {
            self.push(ebpf::mov32_imm(R2, k));
            self.helper_load(size, dst);
            return;
        }
        let (entry, resume) = (self.label(), self.label());
        self.push(ebpf::mov64_reg(R2, R9));
        self.push(ebpf::alu64_imm(ebpf::ADD, R2, (k + n) as i32));
        self.jump(ebpf::jmp64_reg(ebpf::JGT, R2, R6, 0), entry);
        self.push(ebpf::load(ebpf_size(size), dst, R9, k as i16));
        self.swap(size, dst);
        self.defer(entry, resume, size, dst, FallbackKind::Absolute(k));
    }

    /// `dst = P[X + k:size]`.
    fn load_ind(&mut self, size: u16, k: u32, dst: u8) {
        // r2 = X + k on 64 bits (X's upper half is 0): no wrap-around.
        self.push(ebpf::mov64_reg(R2, R8));
        self.add_r2(k);
        self.load_at_r2(size, dst);
    }

    /// r2 += k (unsigned).
    fn add_r2(&mut self, k: u32) {
        match i32::try_from(k) {
            Ok(k) => self.push(ebpf::alu64_imm(ebpf::ADD, R2, k)),
            Err(_) => {
                self.push(ebpf::mov32_imm(R1, k));
                self.push(ebpf::alu64_reg(ebpf::ADD, R2, R1));
            }
        }
    }

    /// `dst = P[r2:size]`, r2 an offset below 2^33: in place after a bounds check, else (out
    /// of line) through the helper.
    fn load_at_r2(&mut self, size: u16, dst: u8) {
        let n = width(size);
        let (entry, resume) = (self.label(), self.label());
        self.jump(ebpf::jmp64_imm(ebpf::JGT, R2, (DIRECT_LIMIT - n) as i32, 0), entry);
        // r3 = the end of the bytes to read; the load reaches back from it.
        self.push(ebpf::mov64_reg(R3, R9));
        self.push(ebpf::alu64_reg(ebpf::ADD, R3, R2));
        self.push(ebpf::alu64_imm(ebpf::ADD, R3, n as i32));
        self.jump(ebpf::jmp64_reg(ebpf::JGT, R3, R6, 0), entry);
        self.push(ebpf::load(ebpf_size(size), dst, R3, -(n as i16)));
        self.swap(size, dst);
        self.defer(entry, resume, size, dst, FallbackKind::Indirect);
    }

    /// Binds `resume` here and queues the out-of-line code entered at `entry` that loads
    /// `size` bytes into `dst` as `kind` says, then comes back.
    fn defer(&mut self, entry: Label, resume: Label, size: u16, dst: u8, kind: FallbackKind) {
        self.bind(resume);
        self.fallbacks.push(Fallback {
            entry,
            resume,
            size,
            dst,
            kind,
        });
    }

    /// The out-of-line code, including what emitting it adds.
    fn emit_fallbacks(&mut self) {
        loop {
            let pending = std::mem::take(&mut self.fallbacks);
            if pending.is_empty() {
                return;
            }
            for f in pending {
                self.bind(f.entry);
                match f.kind {
                    FallbackKind::Absolute(k) => self.push(ebpf::mov32_imm(R2, k)),
                    FallbackKind::Indirect => {
                        // An offset of 2^32 or more is past any packet (libpcap checks the
                        // sum apart).
                        self.push(ebpf::mov64_reg(R1, R2));
                        self.push(ebpf::alu64_imm(ebpf::RSH, R1, 32));
                        self.jump(ebpf::jmp64_imm(ebpf::JNE, R1, 0, 0), Label::Reject);
                    }
                    FallbackKind::CookedHeader { ethernet } => {
                        self.cooked_header_at_r2(f.size, f.dst, f.resume, ethernet);
                        continue;
                    }
                }
                self.helper_load(f.size, f.dst);
                self.jump(ebpf::ja(0), f.resume);
            }
        }
    }

    /// `dst = len`: the whole packet's length.
    fn len(&mut self, dst: u8) {
        self.ctx_to_r1();
        if self.hook.is_xdp() {
            self.push(ebpf::call(helper::XDP_GET_BUFF_LEN));
            self.push(ebpf::mov32_reg(dst, R0));
        } else {
            self.push(ebpf::load(W, dst, R1, sk_buff::LEN));
        }
        if let View::Sll2 { ethernet } = self.view {
            // The cooked header replaces the Ethernet header.
            self.push(ebpf::alu32_imm(ebpf::ADD, dst, cooked::grown_by(ethernet)));
        }
    }

    /// A = the kernel's ancillary field `field`, as the kernel's classic BPF gives it on a
    /// packet socket, from what this hook knows:
    /// - `pkttype`: see [`Self::pkttype`];
    /// - `ifindex`, `protocol`, `mark`, `queue`, `rxhash` and the VLAN fields from the context;
    ///   XDP has no VLAN metadata (the tags are in the frame) and no mark (0);
    /// - `cpu` and `random` from their helpers.
    fn ancillary(&mut self, pc: usize, field: u32) -> Result<(), TranslateError> {
        let xdp = self.hook.is_xdp();
        let ctx = |me: &mut Self, off: i16| {
            me.ctx_to_r1();
            me.push(ebpf::load(W, R7, R1, off));
        };
        match field {
            ad::PROTOCOL if xdp => self.load_abs(cbpf::H, 12, R7),
            ad::PROTOCOL => {
                ctx(self, sk_buff::PROTOCOL);
                self.push(ebpf::to_be(R7, 16));
            }
            ad::PKTTYPE => self.pkttype(R7),
            ad::IFINDEX if xdp => ctx(self, xdp_md::INGRESS_IFINDEX),
            ad::IFINDEX => ctx(self, sk_buff::IFINDEX),
            ad::MARK if xdp => self.push(ebpf::mov32_imm(R7, 0)),
            ad::MARK => ctx(self, sk_buff::MARK),
            ad::QUEUE if xdp => ctx(self, xdp_md::RX_QUEUE_INDEX),
            ad::QUEUE => ctx(self, sk_buff::QUEUE_MAPPING),
            ad::RXHASH if !xdp => ctx(self, sk_buff::HASH),
            ad::VLAN_TAG | ad::VLAN_TAG_PRESENT | ad::VLAN_TPID if xdp => self.push(ebpf::mov32_imm(R7, 0)),
            ad::VLAN_TAG => ctx(self, sk_buff::VLAN_TCI),
            ad::VLAN_TAG_PRESENT => ctx(self, sk_buff::VLAN_PRESENT),
            ad::VLAN_TPID => {
                ctx(self, sk_buff::VLAN_PROTO);
                self.push(ebpf::to_be(R7, 16));
            }
            ad::CPU | ad::RANDOM => {
                let id = if field == ad::CPU {
                    helper::GET_SMP_PROCESSOR_ID
                } else {
                    helper::GET_PRANDOM_U32
                };
                self.push(ebpf::call(id));
                self.push(ebpf::mov32_reg(R7, R0));
            }
            _ => {
                return Err(TranslateError::Ancillary {
                    pc,
                    field,
                    hook: self.hook.name(),
                });
            }
        }
        Ok(())
    }

    /// `dst` = the packet type, as the kernel would classify it for a packet socket:
    /// - TC ingress reads the socket buffer's;
    /// - at TC egress a packet is `PACKET_OUTGOING`, except on loopback, where tcpdump sees
    ///   (and libpcap keeps) the looped copy as received (`PACKET_HOST`);
    /// - XDP runs before the kernel classifies the frame: it is derived from the destination
    ///   address (broadcast, multicast, else host), of an Ethernet frame.
    fn pkttype(&mut self, dst: u8) {
        match self.hook {
            Hook::TcIngress => {
                self.ctx_to_r1();
                self.push(ebpf::load(W, dst, R1, sk_buff::PKT_TYPE));
            }
            Hook::TcEgress => {
                self.ctx_to_r1();
                self.push(ebpf::load(W, dst, R1, sk_buff::IFINDEX));
                self.push(ebpf::jmp32_imm(ebpf::JEQ, dst, LOOPBACK_IFINDEX, 2));
                self.push(ebpf::mov32_imm(dst, PACKET_OUTGOING));
                self.push(ebpf::ja(1));
                self.push(ebpf::mov32_imm(dst, PACKET_HOST));
            }
            Hook::Xdp => {
                let (not_broadcast, done) = (self.label(), self.label());
                self.load_abs(cbpf::W, 0, dst);
                self.jump(ebpf::jmp32_imm(ebpf::JNE, dst, u32::MAX, 0), not_broadcast);
                self.load_abs(cbpf::H, 4, dst);
                self.jump(ebpf::jmp32_imm(ebpf::JNE, dst, 0xffff, 0), not_broadcast);
                self.push(ebpf::mov32_imm(dst, PACKET_BROADCAST));
                self.jump(ebpf::ja(0), done);
                self.bind(not_broadcast);
                // The group bit: PACKET_MULTICAST (2), else PACKET_HOST (0).
                self.load_abs(cbpf::B, 0, dst);
                self.push(ebpf::alu32_imm(ebpf::AND, dst, 1));
                self.push(ebpf::alu32_imm(ebpf::LSH, dst, 1));
                self.bind(done);
            }
        }
    }

    fn finish(mut self) -> Result<Vec<Insn>, TranslateError> {
        self.emit_fallbacks();
        if self.fixups.iter().any(|(_, l)| matches!(l, Label::Reject)) {
            let reject = self.out.len();
            self.push(ebpf::mov32_imm(R0, 0));
            self.push(ebpf::exit());
            self.locals.push(Some(reject));
            let n = self.locals.len() - 1;
            for f in &mut self.fixups {
                if matches!(f.1, Label::Reject) {
                    f.1 = Label::Local(n);
                }
            }
        }
        let max = FILTER_STUB_INSNS;
        if self.out.len() > max as usize {
            return Err(TranslateError::TooLong {
                len: self.out.len(),
                hook: self.hook.name(),
                max,
            });
        }
        for &(at, to) in &self.fixups {
            let target = match to {
                Label::Classic(pc) => self.starts[pc],
                Label::Local(n) => self.locals[n],
                Label::Reject => None,
            }
            .expect("every jump target is reachable and bound");
            // Both below FILTER_STUB_INSNS (8192): the difference fits in 16 bits.
            self.out[at].off = (target as i64 - at as i64 - 1) as i16;
        }
        Ok(self.out)
    }
}

/// [`cbpf::validate`] admits only known opcodes.
fn unreachable_opcode(code: u16) {
    debug_assert!(false, "opcode {code:#06x} passed validation but has no translation");
}

mod cooked;
#[cfg(test)]
mod tests;
