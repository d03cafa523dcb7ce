//! Kernel programs of tracer.
//!
//! - `tracer_xdp`: XDP on each capture interface (ingress).
//! - `tracer_tc_egress`: TCX egress on the same interfaces.
//! - `tracer_inet_sock_set_state`: tracepoint `sock:inet_sock_set_state`, TCP only.
//!
//! They never change the traffic: every path returns XDP_PASS / TC_ACT_PIPE.
//! Every event the ring buffer could not take is counted in `COUNTERS`.
#![no_std]
#![no_main]

mod packet;
mod ring;
mod sock;

use aya_ebpf::{
    macros::map,
    maps::{PerCpuArray, RingBuf},
};
use tracer_common::counter;

/// Packet events. Its size is set by user space at load time (`-B`).
#[map]
static PACKETS: RingBuf = RingBuf::with_byte_size(8 << 20, 0);

/// TCP state events.
#[map]
static STATES: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

/// Per-CPU counters, indexed by `tracer_common::counter::*`.
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// Bytes of packet data to copy per packet (tcpdump's snap length). Set by the loader.
#[unsafe(no_mangle)]
static SNAPLEN: u32 = tracer_common::MAX_SNAPLEN;

/// Once this many bytes are waiting in a ring, the next record wakes the reader;
/// below it records are submitted without a wakeup and the reader polls on a timer.
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u64 = 1 << 20;

#[inline(always)]
fn count(index: u32) {
    if let Some(p) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, programs do not nest on one CPU for these hooks.
        unsafe { *p += 1 };
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
