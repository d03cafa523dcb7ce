//! fentry/fexit programs on the TCP socket life-cycle functions, for what
//! `sock:inet_sock_set_state` cannot tell:
//!
//! - fexit `tcp_v4_connect` / `tcp_v6_connect` → CONNECT: runs in the
//!   connecting task, after the local port is bound (the tracepoint's
//!   CLOSE → SYN_SENT still has sport 0). `tcp_v6_connect` to a v4-mapped
//!   address calls `tcp_v4_connect`: such a connect is reported twice.
//! - fexit `inet_csk_accept` → ACCEPT: the accepting task and the new socket.
//! - fentry `inet_twsk_hashdance_schedule` → TW_START and `inet_twsk_free` →
//!   TW_END: TIME_WAIT lives in a separate timewait socket the tracepoint never
//!   reports.
//! - fentry `inet_csk_reqsk_queue_hash_add` → REQ_START and
//!   `inet_csk_reqsk_queue_drop`(`_and_put`) → REQ_END: half-open connections
//!   are request sockets until the final ACK. Both drop functions are hooked
//!   because either may be inlined into its callers; `_and_put` calls the
//!   other, so one drop can be reported twice.
//!
//! Arguments are read from the trampoline's context; socket fields with
//! `bpf_probe_read_kernel` at the BTF offsets (`kmem`). Nothing is changed.

use aya_ebpf::{
    macros::{fentry, fexit},
    programs::{FEntryContext, FExitContext},
};
use tracer_common::sock_kind;

use crate::kmem::{event, fill_bytes, fill_tuple, offsets, read, send};

/// CONNECT for `tcp_v4_connect(sk, uaddr, addr_len)` / `tcp_v6_connect` (same shape).
#[inline(always)]
fn connect(ctx: &FExitContext) {
    let sk: u64 = ctx.arg(0);
    let mut ev = event(sock_kind::CONNECT, sk, 0);
    ev.ret = ctx.ret::<i32>().unwrap_or(0);
    let o = offsets();
    if o.valid != 0 {
        fill_tuple(&mut ev, sk, &o);
    }
    send(&ev);
}

#[fexit(function = "tcp_v4_connect")]
pub fn tracer_connect4(ctx: FExitContext) -> u32 {
    connect(&ctx);
    0
}

#[fexit(function = "tcp_v6_connect")]
pub fn tracer_connect6(ctx: FExitContext) -> u32 {
    connect(&ctx);
    0
}

/// `struct sock *inet_csk_accept(struct sock *sk, struct proto_accept_arg *arg)`.
#[fexit(function = "inet_csk_accept")]
pub fn tracer_accept(ctx: FExitContext) -> u32 {
    let newsk: u64 = ctx.ret::<u64>().unwrap_or(0);
    if newsk == 0 {
        // Accept failed (EAGAIN, a signal): no socket changed hands.
        return 0;
    }
    let listener: u64 = ctx.arg(0);
    let mut ev = event(sock_kind::ACCEPT, newsk, listener);
    let o = offsets();
    if o.valid != 0 {
        fill_tuple(&mut ev, newsk, &o);
    }
    send(&ev);
    0
}

/// `void inet_twsk_hashdance_schedule(struct inet_timewait_sock *tw, struct sock *sk,
/// struct inet_hashinfo *hashinfo, int timeo)`.
#[fentry(function = "inet_twsk_hashdance_schedule")]
pub fn tracer_tw_start(ctx: FEntryContext) -> u32 {
    let tw: u64 = ctx.arg(0);
    let sk: u64 = ctx.arg(1);
    let mut ev = event(sock_kind::TW_START, sk, tw);
    let o = offsets();
    if o.valid != 0 {
        fill_tuple(&mut ev, sk, &o);
        fill_bytes(&mut ev, sk, &o);
        ev.newstate = read::<u8>(tw, o.tw_substate).unwrap_or(0);
    }
    send(&ev);
    0
}

/// `void inet_twsk_free(struct inet_timewait_sock *tw)`.
#[fentry(function = "inet_twsk_free")]
pub fn tracer_tw_end(ctx: FEntryContext) -> u32 {
    let tw: u64 = ctx.arg(0);
    let mut ev = event(sock_kind::TW_END, tw, 0);
    let o = offsets();
    if o.valid != 0 {
        fill_tuple(&mut ev, tw, &o);
    }
    send(&ev);
    0
}

/// `bool inet_csk_reqsk_queue_hash_add(struct sock *sk, struct request_sock *req,
/// unsigned long timeout)`.
#[fentry(function = "inet_csk_reqsk_queue_hash_add")]
pub fn tracer_req_add(ctx: FEntryContext) -> u32 {
    let listener: u64 = ctx.arg(0);
    let req: u64 = ctx.arg(1);
    let mut ev = event(sock_kind::REQ_START, req, listener);
    let o = offsets();
    if o.valid != 0 {
        fill_tuple(&mut ev, req, &o);
    }
    send(&ev);
    0
}

/// REQ_END for `inet_csk_reqsk_queue_drop(sk, req)` and `…_drop_and_put(sk, req)`.
#[inline(always)]
fn req_end(ctx: &FEntryContext) {
    let listener: u64 = ctx.arg(0);
    let req: u64 = ctx.arg(1);
    let mut ev = event(sock_kind::REQ_END, req, listener);
    let o = offsets();
    if o.valid != 0 {
        fill_tuple(&mut ev, req, &o);
    }
    send(&ev);
}

#[fentry(function = "inet_csk_reqsk_queue_drop")]
pub fn tracer_req_drop(ctx: FEntryContext) -> u32 {
    req_end(&ctx);
    0
}

#[fentry(function = "inet_csk_reqsk_queue_drop_and_put")]
pub fn tracer_req_dput(ctx: FEntryContext) -> u32 {
    req_end(&ctx);
    0
}
