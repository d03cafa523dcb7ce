//! `tcp:*` tracepoints for the diagnoses the state changes alone cannot make:
//!
//! - `tcp:tcp_receive_reset` → RESET_RX: a socket got a RST (refused connect,
//!   aborted connection).
//! - `tcp:tcp_retransmit_skb`, only on SYN_SENT sockets → SYN_RETRANS: the
//!   peer does not answer the SYN (connect timeouts, tcp_syn_retries).
//! - `tcp:tcp_retransmit_synack` → SYNACK_RETRANS: a half-open connection
//!   whose final ACK does not come (SYN floods, tcp_synack_retries).
//!
//! Records are read at the layouts in `tracer_common` (user space checks
//! them against the format files before attaching); `tcp_retransmit_skb`'s
//! `err`, which only newer kernels have, at the offset the loader found in the
//! format file (`RETRANSMIT_ERR_OFFSET`). They mostly run in softirq, so the
//! pid/comm of the event is whatever task was interrupted.

use aya_ebpf::{EbpfContext as _, helpers::bpf_probe_read_kernel_buf, macros::tracepoint, programs::TracePointContext};
use tracer_common::{
    TCP_RETRANSMIT_SKB_LEN, TcpReceiveResetRaw, TcpRetransmitSkbRaw, TcpRetransmitSynackRaw, sock_kind,
};

use crate::{
    RETRANSMIT_ERR_OFFSET,
    kmem::{event, send, set_tuple},
};

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
    // Only the fields every kernel has: the record may end right after them.
    let mut raw = TcpRetransmitSkbRaw::default();
    // SAFETY: the first TCP_RETRANSMIT_SKB_LEN bytes of `raw` (a plain repr(C) struct of
    // integers and byte arrays), filled from the record, whose layout the loader checked.
    let ok = unsafe {
        let dst = core::slice::from_raw_parts_mut((&raw mut raw).cast::<u8>(), TCP_RETRANSMIT_SKB_LEN);
        bpf_probe_read_kernel_buf(ctx.as_ptr() as *const u8, dst).is_ok()
    };
    if !ok {
        return 0;
    }
    // SAFETY: a global set once at load time; volatile so the loader's value is used.
    let err_at = unsafe { core::ptr::read_volatile(&RETRANSMIT_ERR_OFFSET) } as usize;
    let err = if err_at == 0 {
        0
    } else {
        // SAFETY: the format file names an int `err` at this offset.
        unsafe { ctx.read_at::<i32>(err_at) }.unwrap_or(0)
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
    ev.ret = err;
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
