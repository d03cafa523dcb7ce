//! Kernel programs of tracer.
//!
//! - `tracer_xdp`: XDP on each capture interface (ingress).
//! - `tracer_tc_egress`: TCX egress on the same interfaces.
//!   Both run the capture filter (`filter`: libpcap's classic BPF, translated into eBPF and
//!   spliced in by user space) before copying.
//! - `tracer_sk_state`: BTF tracepoint `inet_sock_set_state`, TCP only
//!   (`sock_btf`); `tracer_inet_sock_set_state`, the classic tracepoint, where
//!   that cannot load (`sock`).
//! - fentry/fexit programs on the socket life-cycle functions (`sockev`) and the
//!   `tcp:*` tracepoints (`tcp_tp`), for what the state tracepoint cannot see.
//! - `syscalls:sys_exit_accept*` (`syscalls`): ACCEPT on kernels that refuse
//!   fentry/fexit programs.
//!
//! They never change the traffic: every path returns XDP_PASS / TC_ACT_UNSPEC (no verdict:
//! the next TCX program or tc filter runs), and the tracing programs return 0 (fexit cannot
//! alter a return value).
//! Every event the ring buffer could not take is counted in `COUNTERS`.
#![no_std]
#![feature(asm_experimental_arch)]
#![no_main]

mod filter;
mod kmem;
mod packet;
mod ring;
mod sock;
mod sock_btf;
mod sockev;
mod syscalls;
mod tcp_tp;

use aya_ebpf::{
    macros::map,
    maps::{Array, PerCpuArray, RingBuf},
};
use tracer_common::{BPF_F_MMAPABLE, FileOffsets, RingPos, SockOffsets, StateRec, counter};

/// Packet events. Its size is set by user space at load time (`-B`).
#[map]
static PACKETS: RingBuf = RingBuf::with_byte_size(8 << 20, 0);

/// TCP state events.
#[map]
static STATES: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

/// State changes from `tracer_sk_state`: one ring of `STATE_RING_SLOTS` slots per CPU,
/// CPU c's at `[c * STATE_RING_SLOTS, (c + 1) * STATE_RING_SLOTS)`, read in place by user
/// space (mmap). No lock and no record header: one producer per CPU. Sized by the loader.
#[map]
static STATE_RING: Array<StateRec> = Array::with_max_entries(1, BPF_F_MMAPABLE);

/// Head (written here) and tail (written by user space) of each CPU's state ring.
#[map]
static STATE_RING_POS: Array<RingPos> = Array::with_max_entries(1, BPF_F_MMAPABLE);

/// Slots per CPU in `STATE_RING`, a power of two; 0 = no per-CPU rings (use `STATES`).
#[unsafe(no_mangle)]
static STATE_RING_SLOTS: u32 = 0;

/// Offset of `err` in `tcp:tcp_retransmit_skb` records (kernels from 6.13 on), from the
/// format file; 0 = the kernel has no such field (its tracepoint fires only for
/// retransmissions that were sent). Set by the loader.
#[unsafe(no_mangle)]
static RETRANSMIT_ERR_OFFSET: u32 = 0;

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

/// Kernel struct offsets from the running kernel's BTF, set by the loader.
/// With `valid` 0 (the default) no program reads socket memory.
#[unsafe(no_mangle)]
static SOCK_OFFSETS: SockOffsets = SockOffsets {
    valid: 0,
    skc_daddr: 0,
    skc_rcv_saddr: 0,
    skc_dport: 0,
    skc_num: 0,
    skc_family: 0,
    skc_net: 0,
    skc_v6_daddr: 0,
    skc_v6_rcv_saddr: 0,
    net_ns_inum: 0,
    tcp_bytes_acked: 0,
    tcp_bytes_received: 0,
    tw_substate: 0,
    sk_protocol: 0,
};

/// Offsets for following a file descriptor to its socket, set by the loader.
#[unsafe(no_mangle)]
static FILE_OFFSETS: FileOffsets = FileOffsets {
    valid: 0,
    task_files: 0,
    files_fdt: 0,
    fdt_fd: 0,
    file_private_data: 0,
    socket_sk: 0,
};

#[inline(always)]
fn count(index: u32) {
    if let Some(p) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot. A softirq program could interrupt a tracing
        // program between this load and store and lose one count; the BPF
        // target has no atomic add in stable core, and the window is a few
        // instructions.
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
