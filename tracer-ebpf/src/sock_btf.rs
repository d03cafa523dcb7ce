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
    bindings::BPF_RB_NO_WAKEUP,
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns, generated::bpf_skc_to_tcp_sock},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use tracer_common::{SockEvent, counter, sock_kind};

use crate::{STATES, count, kmem::offsets};

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
    let Some(mut entry) = STATES.reserve::<SockEvent>(0) else {
        count(counter::STATE_LOST);
        return 0;
    };
    let family: u16 = unsafe { load(sk, o.skc_family) };
    let mut ev = SockEvent {
        // SAFETY: helper without preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        skaddr: sk as u64,
        kind: sock_kind::STATE,
        oldstate: oldstate as u8,
        newstate: newstate as u8,
        family: family as u8,
        sport: unsafe { load(sk, o.skc_num) },
        dport: u16::from_be(unsafe { load(sk, o.skc_dport) }),
        ..SockEvent::default()
    };
    if family == AF_INET {
        let s: u32 = unsafe { load(sk, o.skc_rcv_saddr) };
        let d: u32 = unsafe { load(sk, o.skc_daddr) };
        ev.saddr[..4].copy_from_slice(&s.to_ne_bytes());
        ev.daddr[..4].copy_from_slice(&d.to_ne_bytes());
    } else {
        for i in 0..4u32 {
            let s: u32 = unsafe { load(sk, o.skc_v6_rcv_saddr + 4 * i) };
            let d: u32 = unsafe { load(sk, o.skc_v6_daddr + 4 * i) };
            let at = 4 * i as usize;
            ev.saddr[at..at + 4].copy_from_slice(&s.to_ne_bytes());
            ev.daddr[at..at + 4].copy_from_slice(&d.to_ne_bytes());
        }
    }
    let net: *const u8 = unsafe { load(sk, o.skc_net) };
    if !net.is_null() {
        ev.netns = unsafe { load(net, o.net_ns_inum) };
    }
    if oldstate == TCP_CLOSE {
        ev.pid_tgid = bpf_get_current_pid_tgid();
        ev.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    }
    if newstate == TCP_CLOSE {
        // SAFETY: helper on the tracepoint's socket; NULL unless it is a full TCP socket.
        let tp = unsafe { bpf_skc_to_tcp_sock(sk as *mut _) } as *const u8;
        if !tp.is_null() {
            ev.bytes_acked = unsafe { load(tp, o.tcp_bytes_acked) };
            ev.bytes_received = unsafe { load(tp, o.tcp_bytes_received) };
        }
    }
    entry.write(ev);
    // No wakeup: the reader polls every 20 ms, and a ring of megabytes holds
    // far more than 20 ms of state changes (a query per event would cost a
    // helper call).
    entry.submit(BPF_RB_NO_WAKEUP as u64);
    0
}
