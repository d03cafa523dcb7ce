//! The capture filter: a classic-BPF program (what libpcap compiles a pcap-filter expression
//! to, `struct sock_filter`) run by the packet programs before anything is reserved in the
//! ring buffer, so a packet the filter rejects costs a few instructions and is never copied.
//!
//! The instructions are in the `FILTER` array map, `FILTER_LEN` of them (0: no filter, every
//! packet matches), both written by user space, which compiles and checks the program
//! (tracer/src/filter/cbpf.rs: the kernel's `bpf_check_classic` rules). The interpreter has
//! the semantics of that file's evaluator, which are libpcap's (`pcap_filter()`):
//! - A, X and the 16 scratch words start at 0;
//! - packet offsets are from the link-layer header (XDP and TC both see the Ethernet header
//!   at offset 0); a load reaching past the packet ends the program with 0 (not matched);
//! - `X + k` of an indirect load must not wrap (libpcap checks them apart);
//! - division or remainder by X = 0 ends it with 0; a shift by X ≥ 32 gives 0;
//! - `len` is the packet's length;
//! - the return value is how many bytes to keep (tcpdump's snap length), 0 = not matched.
//!
//! Each instruction is one iteration of `bpf_loop`, whose callback the verifier checks once
//! (a loop unrolled over 512 instructions would not verify in reasonable time). Jumps go
//! forward only, so a program ends within `FILTER_LEN` ≤ `MAX_CBPF_INSNS` steps; running
//! off the end, an unknown opcode or a bad scratch index also end it with 0.

use core::ffi::c_void;

use aya_ebpf::{
    helpers::bpf_loop,
    macros::map,
    maps::{Array, PerCpuArray},
};
use tracer_common::{CbpfInsn, MAX_CBPF_INSNS};

/// The filter program, written by user space after loading.
#[map]
static FILTER: Array<CbpfInsn> = Array::with_max_entries(MAX_CBPF_INSNS, 0);

/// Number of instructions in `FILTER`; 0 = no filter. Set by the loader.
#[unsafe(no_mangle)]
static FILTER_LEN: u32 = 0;

/// Packet bytes for the interpreter, from the program's context pointer.
pub trait PacketBytes {
    /// The linear part of the packet the program can read directly: `(data, data_end)`.
    ///
    /// # Safety
    /// `ctx` is the program's own context.
    unsafe fn linear(ctx: *mut c_void) -> (usize, usize);

    /// The whole packet's length, fragments included.
    ///
    /// # Safety
    /// `ctx` is the program's own context.
    unsafe fn len(ctx: *mut c_void) -> u32;

    /// Copies `n` bytes at `off` of the packet (from its link-layer header) to `dst`, from
    /// wherever they are (fragments, a non-linear socket buffer); 0 on success.
    ///
    /// # Safety
    /// `ctx` is the program's own context; `dst` has room for `n` bytes.
    unsafe fn load(ctx: *mut c_void, off: u32, dst: *mut u8, n: u32) -> i64;
}

// Classes, sizes, modes, operations (linux/filter.h, pcap/bpf.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const MSH: u16 = 0xa0;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const DIV: u16 = 0x30;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const NEG: u16 = 0x80;
const MOD: u16 = 0x90;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const SRC_X: u16 = 0x08;
const RVAL_A: u16 = 0x10;
const TXA: u16 = 0x80;
const MEMWORDS: u32 = 16;

/// `bpf_loop` callback results.
const CONTINUE: i64 = 0;
const STOP: i64 = 1;

/// Instructions run per `bpf_loop` iteration. Every call and return costs here (the kernel's
/// return thunks: about 10 ns each on these machines), so one callback runs several
/// instructions: most filters end within the first call. (Running the first ones inline in
/// the program itself would save that call, but then the verifier walks the copying code
/// once per way out of the filter, and gives up.)
const STEPS_PER_CALL: u32 = 16;
const _: () = assert!(MAX_CBPF_INSNS.is_multiple_of(STEPS_PER_CALL));

/// The interpreter's registers, in a per-CPU map slot rather than on the stack: values the
/// verifier reads from map memory are plain unknown numbers to it, so the states it compares
/// at each instruction boundary do not multiply with every value A, X or the packet length
/// may hold (on the stack they would, and 4 steps per call would not verify). One slot per
/// hook: a hook never runs nested in itself on a CPU.
#[repr(C)]
struct Vm {
    /// Packet length (the bound of loads past the linear part, and the value of `len`), or
    /// `LEN_UNKNOWN` until one of those needs it: on XDP it takes a helper call, which a
    /// packet whose loads all lie in the linear part never pays.
    len: u32,
    /// Instructions in the program.
    n: u32,
    pc: u32,
    a: u32,
    x: u32,
    /// The program's result, set when it stops.
    ret: u32,
    mem: [u32; MEMWORDS as usize],
}

/// The interpreter state of each hook: index [`SLOT_XDP`], [`SLOT_TC`] or [`SLOT_TC_IN`].
#[map]
static FILTER_VM: PerCpuArray<Vm> = PerCpuArray::with_max_entries(3, 0);
pub const SLOT_XDP: u32 = 0;
pub const SLOT_TC: u32 = 1;
pub const SLOT_TC_IN: u32 = 2;

/// `Vm::len` before it is known (no packet is 4 GiB long).
const LEN_UNKNOWN: u32 = u32::MAX;

/// What the callback is handed (on the stack: it holds the context pointer, which no map may).
#[repr(C)]
struct Frame {
    ctx: *mut c_void,
    vm: *mut Vm,
}

/// Runs the filter over the packet behind `ctx`: 0 when it does not match, else how many
/// bytes of it to keep. Without a filter every packet matches in full.
#[inline(always)]
pub fn run<P: PacketBytes>(ctx: *mut c_void, slot: u32) -> u32 {
    // SAFETY: a global set once at load time; volatile so the loader's value is used.
    let n = unsafe { core::ptr::read_volatile(&FILTER_LEN) };
    if n == 0 {
        return u32::MAX;
    }
    let Some(vm) = FILTER_VM.get_ptr_mut(slot) else {
        return 0;
    };
    // SAFETY: vm is this CPU's slot, ours for the duration of the program.
    unsafe {
        let v = &mut *vm;
        v.len = LEN_UNKNOWN;
        v.n = n;
        v.pc = 0;
        v.a = 0;
        v.x = 0;
        v.ret = 0;
        // The scratch words are not cleared: the loader runs only programs that write each
        // word before reading it (the kernel's own rule for classic BPF).
        let mut frame = Frame { ctx, vm };
        bpf_loop(
            MAX_CBPF_INSNS / STEPS_PER_CALL,
            step::<P> as *mut c_void,
            (&raw mut frame).cast(),
            0,
        );
        core::ptr::read_volatile(&raw const (*vm).ret)
    }
}

/// Runs up to `STEPS_PER_CALL` instructions; false once the program has ended.
#[inline(always)]
fn run_steps<P: PacketBytes>(vm: &mut Vm, ctx: *mut c_void) -> bool {
    // SAFETY: ctx is the program's context.
    let (data, data_end) = unsafe { P::linear(ctx) };
    let pkt = Packet { ctx, data, data_end };
    for _ in 0..STEPS_PER_CALL {
        if exec::<P>(vm, &pkt).is_none() {
            return false;
        }
    }
    true
}

/// Up to `STEPS_PER_CALL` instructions. Returns `STOP` (with `vm.ret` set) when the program
/// ends.
#[inline(never)]
unsafe extern "C" fn step<P: PacketBytes>(_index: u32, frame: *mut c_void) -> i64 {
    // SAFETY: `run` passes its own Frame, whose vm points to this CPU's slot.
    let (ctx, vm) = unsafe {
        let f = &*frame.cast::<Frame>();
        (f.ctx, &mut *f.vm)
    };
    if run_steps::<P>(vm, ctx) { CONTINUE } else { STOP }
}

/// The packet: the context (for the helpers) and its directly readable part.
struct Packet {
    ctx: *mut c_void,
    data: usize,
    data_end: usize,
}

/// Executes the instruction at `vm.pc`; `None` when the program stops (`vm.ret` is then
/// its result, 0 unless a `ret` set it).
#[inline(always)]
fn exec<P: PacketBytes>(vm: &mut Vm, pkt: &Packet) -> Option<()> {
    let pc = vm.pc;
    if pc >= vm.n {
        return None;
    }
    let i = *FILTER.get(pc)?;
    vm.pc = pc + 1;
    let code = i.code;
    match code & 0x07 {
        RET => {
            vm.ret = if code & 0x18 == RVAL_A { vm.a } else { i.k };
            None
        }
        LD => {
            vm.a = match code & 0xe0 {
                ABS => load::<P>(vm, pkt, code & 0x18, i.k)?,
                IND => {
                    let off = vm.x.checked_add(i.k)?;
                    load::<P>(vm, pkt, code & 0x18, off)?
                }
                LEN => packet_len::<P>(vm, pkt),
                IMM => i.k,
                MEM => scratch(vm, i.k)?,
                _ => return None,
            };
            Some(())
        }
        LDX => {
            vm.x = match code & 0xe0 {
                MSH => (load::<P>(vm, pkt, B, i.k)? & 0x0f) << 2,
                LEN => packet_len::<P>(vm, pkt),
                IMM => i.k,
                MEM => scratch(vm, i.k)?,
                _ => return None,
            };
            Some(())
        }
        ST | STX => {
            if i.k >= MEMWORDS {
                return None;
            }
            let v = if code == ST { vm.a } else { vm.x };
            vm.mem[(i.k & (MEMWORDS - 1)) as usize] = v;
            Some(())
        }
        ALU => {
            let a = vm.a;
            let v = if code & SRC_X != 0 { vm.x } else { i.k };
            vm.a = match code & 0xf0 {
                ADD => a.wrapping_add(v),
                SUB => a.wrapping_sub(v),
                MUL => a.wrapping_mul(v),
                DIV => {
                    if v == 0 {
                        return None;
                    }
                    a / v
                }
                MOD => {
                    if v == 0 {
                        return None;
                    }
                    a % v
                }
                AND => a & v,
                OR => a | v,
                XOR => a ^ v,
                LSH => {
                    if v >= 32 {
                        0
                    } else {
                        a << v
                    }
                }
                RSH => {
                    if v >= 32 {
                        0
                    } else {
                        a >> v
                    }
                }
                NEG => a.wrapping_neg(),
                _ => return None,
            };
            Some(())
        }
        JMP => {
            let off = if code & 0xf0 == JA {
                i.k
            } else {
                let a = vm.a;
                let v = if code & SRC_X != 0 { vm.x } else { i.k };
                let taken = match code & 0xf0 {
                    JEQ => a == v,
                    JGT => a > v,
                    JGE => a >= v,
                    JSET => a & v != 0,
                    _ => return None,
                };
                u32::from(if taken { i.jt } else { i.jf })
            };
            // Past the end (or wrapping) stops at the next step with 0.
            vm.pc = vm.pc.checked_add(off)?;
            Some(())
        }
        // MISC
        _ => {
            match code {
                0x07 => vm.x = vm.a,
                c if c == 0x07 | TXA => vm.a = vm.x,
                _ => return None,
            }
            Some(())
        }
    }
}

#[inline(always)]
fn scratch(vm: &Vm, k: u32) -> Option<u32> {
    if k >= MEMWORDS {
        return None;
    }
    Some(vm.mem[(k & (MEMWORDS - 1)) as usize])
}

/// The packet's length, asked for once.
#[inline(always)]
fn packet_len<P: PacketBytes>(vm: &mut Vm, pkt: &Packet) -> u32 {
    if vm.len == LEN_UNKNOWN {
        // SAFETY: pkt.ctx is the program's context.
        vm.len = unsafe { P::len(pkt.ctx) };
    }
    vm.len
}

/// A W, H or B load at `off`, in network order; `None` past the end of the packet.
#[inline(always)]
fn load<P: PacketBytes>(vm: &mut Vm, pkt: &Packet, size: u16, off: u32) -> Option<u32> {
    match size {
        W => fetch::<P, 4>(vm, pkt, off).map(u32::from_be_bytes),
        H => fetch::<P, 2>(vm, pkt, off).map(|b| u32::from(u16::from_be_bytes(b))),
        _ => fetch::<P, 1>(vm, pkt, off).map(|b| u32::from(b[0])),
    }
}

/// `N` bytes at `off`: read in place when they lie in the linear part (no call at all),
/// through the helper when they lie further (fragments), `None` past the end of the packet.
#[inline(always)]
fn fetch<P: PacketBytes, const N: usize>(vm: &mut Vm, pkt: &Packet, off: u32) -> Option<[u8; N]> {
    // Direct reads up to 32 KiB in (the verifier wants the offset plus N below 64 KiB: the
    // mask keeps that bound in its view); further loads go through the helper.
    if off < 0x8000 {
        // black_box: LLVM knows off < 0x8000 and would drop the mask the verifier needs.
        let p = core::hint::black_box(pkt.data + (core::hint::black_box(off) & 0x7fff) as usize);
        if p + N <= pkt.data_end {
            let mut b = [0u8; N];
            for (i, byte) in b.iter_mut().enumerate() {
                // SAFETY: p + N ≤ data_end: inside the packet's linear part.
                *byte = unsafe { *((p + i) as *const u8) };
            }
            return Some(b);
        }
    }
    if u64::from(off) + N as u64 > u64::from(packet_len::<P>(vm, pkt)) {
        return None;
    }
    let mut b = [0u8; N];
    // SAFETY: b has room for N bytes.
    (unsafe { P::load(pkt.ctx, off, b.as_mut_ptr(), N as u32) } == 0).then_some(b)
}
