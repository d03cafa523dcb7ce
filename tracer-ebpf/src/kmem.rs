//! Reading kernel socket memory at the offsets user space resolved from BTF
//! (`SOCK_OFFSETS`), and the common way every socket event is built and sent.
//!
//! Every read goes through `bpf_probe_read_kernel`, so a bad pointer only
//! leaves a field 0; when the offsets are not valid nothing is read at all.

use aya_ebpf::helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_kernel};
use tracer_common::{SockEvent, SockOffsets, counter};

use crate::{SOCK_OFFSETS, STATES, count, ring::submit_flags};

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// The loader's offsets. The global lives in a frozen read-only map, so the
/// verifier knows each value and drops the branches for `valid == 0`.
#[inline(always)]
pub fn offsets() -> SockOffsets {
    // SAFETY: a global set once at load time; volatile so the loader's value is used.
    unsafe { core::ptr::read_volatile(&SOCK_OFFSETS) }
}

/// `*(T *)(base + off)`, or `None` when the kernel refuses the read.
#[inline(always)]
pub fn read<T>(base: u64, off: u32) -> Option<T> {
    if base == 0 {
        return None;
    }
    // SAFETY: bpf_probe_read_kernel copes with any address.
    unsafe { bpf_probe_read_kernel((base + u64::from(off)) as *const T) }.ok()
}

/// Inode number of the network namespace of the socket at `sk`
/// (`sk->skc_net.net->ns.inum`); 0 when unreadable.
#[inline(always)]
pub fn netns(sk: u64, o: &SockOffsets) -> u32 {
    match read::<u64>(sk, o.skc_net) {
        Some(net) => read::<u32>(net, o.net_ns_inum).unwrap_or(0),
        None => 0,
    }
}

/// Family, local/remote address and port, and network namespace from the
/// `sock_common` at the start of any full, request or timewait socket.
#[inline(always)]
pub fn fill_tuple(ev: &mut SockEvent, sk: u64, o: &SockOffsets) {
    let family = read::<u16>(sk, o.skc_family).unwrap_or(0);
    ev.family = family as u8;
    ev.sport = read::<u16>(sk, o.skc_num).unwrap_or(0);
    ev.dport = u16::from_be(read::<u16>(sk, o.skc_dport).unwrap_or(0));
    if family == AF_INET {
        if let Some(a) = read::<[u8; 4]>(sk, o.skc_rcv_saddr) {
            ev.saddr[..4].copy_from_slice(&a);
        }
        if let Some(a) = read::<[u8; 4]>(sk, o.skc_daddr) {
            ev.daddr[..4].copy_from_slice(&a);
        }
    } else if family == AF_INET6 {
        ev.saddr = read::<[u8; 16]>(sk, o.skc_v6_rcv_saddr).unwrap_or([0; 16]);
        ev.daddr = read::<[u8; 16]>(sk, o.skc_v6_daddr).unwrap_or([0; 16]);
    }
    ev.netns = netns(sk, o);
}

/// `tcp_sock.bytes_acked` and `bytes_received` of the full TCP socket at `sk`.
#[inline(always)]
pub fn fill_bytes(ev: &mut SockEvent, sk: u64, o: &SockOffsets) {
    ev.bytes_acked = read::<u64>(sk, o.tcp_bytes_acked).unwrap_or(0);
    ev.bytes_received = read::<u64>(sk, o.tcp_bytes_received).unwrap_or(0);
}

/// An event of `kind` stamped with the time and the running task; the rest 0.
#[inline(always)]
pub fn event(kind: u8, skaddr: u64, aux: u64) -> SockEvent {
    SockEvent {
        // SAFETY: helper without preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        skaddr,
        aux,
        pid_tgid: bpf_get_current_pid_tgid(),
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
        kind,
        ..SockEvent::default()
    }
}

/// Sends a non-STATE event to the `STATES` ring, counting it in `SOCK_SEEN`
/// and, when the ring is full, in `SOCK_LOST`.
#[inline(always)]
pub fn send(ev: &SockEvent) {
    count(counter::SOCK_SEEN);
    match STATES.reserve::<SockEvent>(0) {
        Some(mut entry) => {
            entry.write(*ev);
            entry.submit(submit_flags(&STATES));
        }
        None => count(counter::SOCK_LOST),
    }
}

/// Copies a `tcp:*` tracepoint's tuple into the event (IPv4 in the first 4
/// bytes) and reads the network namespace of `sk`, the socket it names.
#[inline(always)]
pub fn set_tuple(
    ev: &mut SockEvent,
    family: u16,
    v4: (&[u8; 4], &[u8; 4]),
    v6: (&[u8; 16], &[u8; 16]),
    ports: (u16, u16),
    sk: u64,
) {
    ev.family = family as u8;
    if family == AF_INET {
        ev.saddr[..4].copy_from_slice(v4.0);
        ev.daddr[..4].copy_from_slice(v4.1);
    } else {
        ev.saddr = *v6.0;
        ev.daddr = *v6.1;
    }
    (ev.sport, ev.dport) = ports;
    let o = offsets();
    if o.valid != 0 {
        ev.netns = netns(sk, &o);
    }
}
