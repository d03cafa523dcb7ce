//! Tracepoint `sock:inet_sock_set_state`: one event per TCP state change
//! (it also fires for SCTP and MPTCP: those are skipped). It runs about ten
//! times per connection, so it reads little kernel memory: the network
//! namespace (two reads) and, on the way to CLOSE, the socket's byte totals.
//! It is the fallback for kernels where `sock_btf.rs` cannot load.

use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::tracepoint,
    programs::TracePointContext,
};
use tracer_common::{INET_SOCK_SET_STATE_OFFSET, InetSockSetStateRaw, SockEvent, counter, sock_kind};

use crate::{
    STATES, count,
    kmem::{AF_INET, fill_bytes, netns, offsets},
    ring::submit_flags,
};

const IPPROTO_TCP: u16 = 6;
const TCP_CLOSE: i32 = 7;

#[tracepoint]
pub fn tracer_inet_sock_set_state(ctx: TracePointContext) -> u32 {
    // SAFETY: the offset and layout come from the tracepoint's format file.
    let Ok(raw) = (unsafe { ctx.read_at::<InetSockSetStateRaw>(INET_SOCK_SET_STATE_OFFSET) }) else {
        return 0;
    };
    // The tracepoint also fires for SCTP and MPTCP sockets.
    if raw.protocol != IPPROTO_TCP {
        return 0;
    }
    count(counter::STATE_SEEN);
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(mut entry) = STATES.reserve::<SockEvent>(0) else {
        count(counter::STATE_LOST);
        return 0;
    };
    let mut saddr = [0u8; 16];
    let mut daddr = [0u8; 16];
    if raw.family == AF_INET {
        saddr[..4].copy_from_slice(&raw.saddr);
        daddr[..4].copy_from_slice(&raw.daddr);
    } else {
        saddr = raw.saddr_v6;
        daddr = raw.daddr_v6;
    }
    let mut ev = SockEvent {
        ts_ns: unsafe { bpf_ktime_get_ns() },
        skaddr: raw.skaddr,
        aux: 0,
        pid_tgid,
        bytes_acked: 0,
        bytes_received: 0,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
        netns: 0,
        kind: sock_kind::STATE,
        oldstate: raw.oldstate as u8,
        newstate: raw.newstate as u8,
        family: raw.family as u8,
        sport: raw.sport,
        dport: raw.dport,
        ret: 0,
        saddr,
        daddr,
    };
    let o = offsets();
    if o.valid != 0 {
        ev.netns = netns(raw.skaddr, &o);
        if raw.newstate == TCP_CLOSE {
            fill_bytes(&mut ev, raw.skaddr, &o);
        }
    }
    entry.write(ev);
    entry.submit(submit_flags(&STATES));
    0
}
