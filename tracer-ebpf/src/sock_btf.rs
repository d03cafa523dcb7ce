//! BTF tracepoint (`tp_btf`) on `inet_sock_set_state`: the same event as the
//! classic tracepoint in `sock.rs`, at a fraction of its cost.
//!
//! The classic tracepoint hands over a copy of the record, and every socket
//! field beyond it (network namespace, byte totals) costs a
//! `bpf_probe_read_kernel` call, about a microsecond each on these VMs. Here
//! the program gets the `struct sock *` itself with its BTF type: the verifier
//! checks each load against the kernel's struct layout and the JIT turns it
//! into a plain load guarded by an exception-table entry. The offsets come from
//! `SOCK_OFFSETS` (a frozen read-only global), so the verifier sees constants.
//!
//! It runs about ten times per connection. It reads the task's pid and command
//! only where the task is the socket's owner (CLOSE → SYN_SENT, CLOSE →
//! LISTEN: connect() and listen() run in the owner).

use aya_ebpf::{
    bindings::BPF_RB_FORCE_WAKEUP,
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns,
        generated::bpf_skc_to_tcp_sock,
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use tracer_common::{StateExtra, counter};

use crate::{STATE_RING, STATE_RING_POS, STATE_RING_SLOTS, STATES, count};

const IPPROTO_TCP: u16 = 6;
const AF_INET: u16 = 2;
const TCP_CLOSE: i32 = 7;

/// `*(T *)(p + off)`: a direct load from a BTF-typed kernel pointer (the
/// verifier checks it against the struct's layout; a fault yields 0).
#[inline(always)]
unsafe fn load<T: Copy>(p: *const u8, off: u32) -> T {
    // SAFETY: the caller passes a BTF-typed pointer and an offset from BTF.
    unsafe { core::ptr::read(p.add(off as usize).cast::<T>()) }
}

/// `*(T *)(p + SOCK_OFFSETS.field [+ extra])`, the offset read where it is
/// used (volatile: the loader's value; and no copy of the whole struct held
/// in registers and on the stack). `p` must be a BTF-typed kernel pointer.
macro_rules! ld {
    ($p:expr, $f:ident) => {
        ld!($p, $f, 0)
    };
    ($p:expr, $f:ident, $extra:expr) => {
        // SAFETY: a global set once at load time, and a load from a BTF-typed
        // pointer at an offset from BTF.
        unsafe { load($p, core::ptr::read_volatile(&raw const crate::SOCK_OFFSETS.$f) + $extra) }
    };
}

/// Stores one field of a ring slot.
macro_rules! put {
    ($slot:expr, $f:ident, $v:expr) => {{
        let v = $v;
        // SAFETY: the caller checked that the slot is free, and this program
        // is its CPU's ring's only writer.
        unsafe { core::ptr::write_volatile(&raw mut (*$slot).$f, v) }
    }};
}

#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn tracer_sk_state(ctx: BtfTracePointContext) -> u32 {
    // Arguments: (const struct sock *sk, const int oldstate, const int newstate).
    let sk: *const u8 = ctx.arg(0);
    let oldstate: i32 = ctx.arg(1);
    let newstate: i32 = ctx.arg(2);
    // `sk` is the tracepoint's BTF-typed socket (every `ld!` below).
    let protocol: u16 = ld!(sk, sk_protocol);
    // The tracepoint also fires for SCTP and MPTCP sockets.
    if protocol != IPPROTO_TCP {
        return 0;
    }
    // This CPU's ring. The kernel runs a program at most once at a time per CPU
    // (a nested run is skipped and counted in recursion_misses), so this program
    // is the ring's only producer: no lock, no atomic.
    // SAFETY: helper without preconditions.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    // SAFETY: a global set once at load time; volatile so the loader's value is used.
    let slots = u64::from(unsafe { core::ptr::read_volatile(&STATE_RING_SLOTS) });
    let Some(pos) = STATE_RING_POS.get_ptr_mut(cpu) else {
        count(counter::STATE_LOST);
        return 0;
    };
    let family: u16 = ld!(sk, skc_family);
    let v4 = family == AF_INET;
    // CLOSE → X carries the owner, X → CLOSE the byte totals: inline in an
    // IPv4 record, in the next slot after an IPv6 one (see StateRec).
    let extra = oldstate == TCP_CLOSE || newstate == TCP_CLOSE;
    let need: u64 = if extra && !v4 { 2 } else { 1 };
    // SAFETY: `pos` is this CPU's entry of an array map; user space only ever
    // writes `tail`, and only forward.
    let (head, tail, records) = unsafe {
        (
            core::ptr::read_volatile(&(*pos).head),
            core::ptr::read_volatile(&(*pos).tail),
            core::ptr::read_volatile(&(*pos).records),
        )
    };
    if slots == 0 || head.wrapping_sub(tail) + need > slots {
        count(counter::STATE_LOST);
        return 0;
    }
    let base = u64::from(cpu) * slots;
    let mask = slots - 1;
    let Some(slot) = STATE_RING.get_ptr_mut((base + (head & mask)) as u32) else {
        count(counter::STATE_LOST);
        return 0;
    };
    // The record is written field by field into the slot (no copy on the
    // stack first): every instruction counts, ten runs per connection.
    // SAFETY: helper without preconditions.
    put!(slot, ts_ns, unsafe { bpf_ktime_get_ns() });
    put!(slot, skaddr, sk as u64);
    put!(slot, oldstate, oldstate as u8);
    put!(slot, newstate, newstate as u8);
    put!(slot, family, family as u8);
    put!(slot, slots, need as u8);
    put!(slot, sport, ld!(sk, skc_num));
    put!(slot, dport, u16::from_be(ld!(sk, skc_dport)));
    let net: *const u8 = ld!(sk, skc_net);
    put!(slot, netns, if net.is_null() { 0 } else { ld!(net, net_ns_inum) });
    // The extra: the owner (pid_tgid; comm) or the byte totals (acked; received).
    let (x8, x16): (u64, [u8; 16]) = if !extra {
        (0, [0; 16])
    } else if oldstate == TCP_CLOSE {
        (bpf_get_current_pid_tgid(), bpf_get_current_comm().unwrap_or([0; 16]))
    } else {
        // SAFETY: helper on the tracepoint's socket; NULL unless it is a full TCP socket.
        let tp = unsafe { bpf_skc_to_tcp_sock(sk as *mut _) } as *const u8;
        let mut received = [0u8; 16];
        let mut acked = 0u64;
        if !tp.is_null() {
            acked = ld!(tp, tcp_bytes_acked);
            let r: u64 = ld!(tp, tcp_bytes_received);
            received[..8].copy_from_slice(&r.to_ne_bytes());
        }
        (acked, received)
    };
    // SAFETY: fields of the free slot.
    let (a, b) = unsafe { ((&raw mut (*slot).a).cast::<u8>(), (&raw mut (*slot).b).cast::<u8>()) };
    if v4 {
        let (s, d): (u32, u32) = (ld!(sk, skc_rcv_saddr), ld!(sk, skc_daddr));
        // SAFETY: bytes 0..4, 4..8 and 8..16 of `a`, and `b`, of the free slot.
        unsafe {
            core::ptr::write_volatile(a.cast::<u32>(), s);
            core::ptr::write_volatile(a.add(4).cast::<u32>(), d);
            if extra {
                core::ptr::write_volatile(a.add(8).cast::<u64>(), x8);
                core::ptr::write_volatile(b.cast::<[u8; 16]>(), x16);
            }
        }
    } else {
        for i in 0..4u32 {
            let (s, d): (u32, u32) = (ld!(sk, skc_v6_rcv_saddr, 4 * i), ld!(sk, skc_v6_daddr, 4 * i));
            // SAFETY: word i (< 4) of the slot's 16-byte address fields.
            unsafe {
                core::ptr::write_volatile(a.cast::<u32>().add(i as usize), s);
                core::ptr::write_volatile(b.cast::<u32>().add(i as usize), d);
            }
        }
        if extra {
            let Some(slot2) = STATE_RING.get_ptr_mut((base + ((head + 1) & mask)) as u32) else {
                count(counter::STATE_LOST);
                return 0;
            };
            let slot2 = slot2.cast::<StateExtra>();
            let owner = oldstate == TCP_CLOSE;
            put!(slot2, pid_tgid, if owner { x8 } else { 0 });
            put!(slot2, comm, if owner { x16 } else { [0; 16] });
            put!(slot2, bytes_acked, if owner { 0 } else { x8 });
            let mut r = [0u8; 8];
            r.copy_from_slice(&x16[..8]);
            put!(slot2, bytes_received, if owner { 0 } else { u64::from_ne_bytes(r) });
        }
    }
    // Volatile writes keep their order: the record(s), then the head that
    // publishes them (x86 keeps stores in order; user space loads head first).
    put!(pos, records, records + 1);
    put!(pos, head, head + need);
    // The reader polls on a timer; when this ring passes half full it is woken
    // through the other ring (an 8-byte marker record it skips), once per
    // crossing, so small rings that stay in cache do not overflow in a burst.
    let used = head.wrapping_sub(tail);
    if used <= slots / 2 && used + need > slots / 2 {
        let _ = STATES.output::<u64>(&0, BPF_RB_FORCE_WAKEUP as u64);
    }
    0
}
