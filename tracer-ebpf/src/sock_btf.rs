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
use tracer_common::{StateExtra, StateRec, counter};

use crate::{STATE_RING, STATE_RING_POS, STATE_RING_SLOTS, STATES, count, kmem::offsets};

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

#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn tracer_sk_state(ctx: BtfTracePointContext) -> u32 {
    // Arguments: (const struct sock *sk, const int oldstate, const int newstate).
    let sk: *const u8 = ctx.arg(0);
    let oldstate: i32 = ctx.arg(1);
    let newstate: i32 = ctx.arg(2);
    let o = offsets();
    // SAFETY (all loads below): `sk` is the tracepoint's BTF-typed socket.
    let protocol: u16 = unsafe { load(sk, o.sk_protocol) };
    // The tracepoint also fires for SCTP and MPTCP sockets.
    if protocol != IPPROTO_TCP {
        return 0;
    }
    count(counter::STATE_SEEN);
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
    let extra = oldstate == TCP_CLOSE || newstate == TCP_CLOSE;
    let need: u64 = if extra { 2 } else { 1 };
    // SAFETY: `pos` is this CPU's entry of an array map; user space only ever
    // writes `tail`, and only forward.
    let (head, tail) = unsafe {
        (
            core::ptr::read_volatile(&(*pos).head),
            core::ptr::read_volatile(&(*pos).tail),
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
    let family: u16 = unsafe { load(sk, o.skc_family) };
    let mut rec = StateRec {
        // SAFETY: helper without preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        skaddr: sk as u64,
        oldstate: oldstate as u8,
        newstate: newstate as u8,
        family: family as u8,
        slots: need as u8,
        sport: unsafe { load(sk, o.skc_num) },
        dport: u16::from_be(unsafe { load(sk, o.skc_dport) }),
        ..StateRec::default()
    };
    if family == AF_INET {
        let s: u32 = unsafe { load(sk, o.skc_rcv_saddr) };
        let d: u32 = unsafe { load(sk, o.skc_daddr) };
        rec.saddr[..4].copy_from_slice(&s.to_ne_bytes());
        rec.daddr[..4].copy_from_slice(&d.to_ne_bytes());
    } else {
        for i in 0..4u32 {
            let s: u32 = unsafe { load(sk, o.skc_v6_rcv_saddr + 4 * i) };
            let d: u32 = unsafe { load(sk, o.skc_v6_daddr + 4 * i) };
            let at = 4 * i as usize;
            rec.saddr[at..at + 4].copy_from_slice(&s.to_ne_bytes());
            rec.daddr[at..at + 4].copy_from_slice(&d.to_ne_bytes());
        }
    }
    let net: *const u8 = unsafe { load(sk, o.skc_net) };
    if !net.is_null() {
        rec.netns = unsafe { load(net, o.net_ns_inum) };
    }
    if extra {
        let Some(slot2) = STATE_RING.get_ptr_mut((base + ((head + 1) & mask)) as u32) else {
            count(counter::STATE_LOST);
            return 0;
        };
        let mut ex = StateExtra::default();
        if oldstate == TCP_CLOSE {
            ex.pid_tgid = bpf_get_current_pid_tgid();
            ex.comm = bpf_get_current_comm().unwrap_or([0; 16]);
        }
        if newstate == TCP_CLOSE {
            // SAFETY: helper on the tracepoint's socket; NULL unless it is a full TCP socket.
            let tp = unsafe { bpf_skc_to_tcp_sock(sk as *mut _) } as *const u8;
            if !tp.is_null() {
                ex.bytes_acked = unsafe { load(tp, o.tcp_bytes_acked) };
                ex.bytes_received = unsafe { load(tp, o.tcp_bytes_received) };
            }
        }
        // SAFETY: the slot after `slot` in this CPU's ring, free (checked above).
        unsafe { core::ptr::write_volatile(slot2.cast::<StateExtra>(), ex) };
    }
    // Volatile writes keep their order: the record(s), then the head that
    // publishes them (x86 keeps stores in order; user space loads head first).
    // SAFETY: `slot` is a free slot of this CPU's ring (checked above).
    unsafe {
        core::ptr::write_volatile(slot, rec);
        core::ptr::write_volatile(&mut (*pos).head, head + need);
    }
    // The reader polls on a timer; when this ring passes half full it is woken
    // through the other ring (an 8-byte marker record it skips), once per
    // crossing, so small rings that stay in cache do not overflow in a burst.
    let used = head.wrapping_sub(tail);
    if used <= slots / 2 && used + need > slots / 2 {
        let _ = STATES.output::<u64>(&0, BPF_RB_FORCE_WAKEUP as u64);
    }
    0
}
