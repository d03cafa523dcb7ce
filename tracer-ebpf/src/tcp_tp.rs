//! `tcp:*` tracepoints for the diagnoses the state changes alone cannot make:
//!
//! - `tcp:tcp_receive_reset` → RESET_RX: a socket got a RST (refused connect,
//!   aborted connection).
//! - `tcp:tcp_retransmit_skb`, only on SYN_SENT sockets → SYN_RETRANS: the
//!   peer does not answer the SYN (connect timeouts, tcp_syn_retries).
//! - `tcp:tcp_retransmit_synack` → SYNACK_RETRANS: a half-open connection
//!   whose final ACK does not come (SYN floods, tcp_synack_retries).
//!
//! Records are read at the 6.18 layouts in `tracer_common` (user space checks
//! them against the format files before attaching). They mostly run in
//! softirq, so the pid/comm of the event is whatever task was interrupted.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use tracer_common::{TcpReceiveResetRaw, TcpRetransmitSkbRaw, TcpRetransmitSynackRaw, sock_kind};

use crate::kmem::{event, send, set_tuple};

/// `TCP_SYN_SENT`.
const TCP_SYN_SENT: i32 = 2;

#[tracepoint]
pub fn tracer_rst_rx(ctx: TracePointContext) -> u32 {
    // SAFETY: the layout is checked against the tracepoint's format file by the loader.
    let Ok(raw) = (unsafe { ctx.read_at::<TcpReceiveResetRaw>(0) }) else {
        return 0;
    };
    let mut ev = event(sock_kind::RESET_RX, raw.skaddr, 0);
    set_tuple(
        &mut ev,
        raw.family,
        (&raw.saddr, &raw.daddr),
        (&raw.saddr_v6, &raw.daddr_v6),
        (raw.sport, raw.dport),
        raw.skaddr,
    );
    send(&ev);
    0
}

#[tracepoint]
pub fn tracer_syn_rtx(ctx: TracePointContext) -> u32 {
    // Only the state is read first: this fires for every retransmission.
    // SAFETY: as above.
    let Ok(state) = (unsafe { ctx.read_at::<i32>(core::mem::offset_of!(TcpRetransmitSkbRaw, state)) }) else {
        return 0;
    };
    if state != TCP_SYN_SENT {
        return 0;
    }
    // SAFETY: as above.
    let Ok(raw) = (unsafe { ctx.read_at::<TcpRetransmitSkbRaw>(0) }) else {
        return 0;
    };
    let mut ev = event(sock_kind::SYN_RETRANS, raw.skaddr, 0);
    set_tuple(
        &mut ev,
        raw.family,
        (&raw.saddr, &raw.daddr),
        (&raw.saddr_v6, &raw.daddr_v6),
        (raw.sport, raw.dport),
        raw.skaddr,
    );
    ev.ret = raw.err;
    send(&ev);
    0
}

#[tracepoint]
pub fn tracer_synack_rtx(ctx: TracePointContext) -> u32 {
    // SAFETY: as above.
    let Ok(raw) = (unsafe { ctx.read_at::<TcpRetransmitSynackRaw>(0) }) else {
        return 0;
    };
    let mut ev = event(sock_kind::SYNACK_RETRANS, raw.req, raw.skaddr);
    set_tuple(
        &mut ev,
        raw.family,
        (&raw.saddr, &raw.daddr),
        (&raw.saddr_v6, &raw.daddr_v6),
        (raw.sport, raw.dport),
        raw.req,
    );
    send(&ev);
    0
}
