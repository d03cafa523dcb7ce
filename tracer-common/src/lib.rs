//! Kernel ↔ user-space event layouts. Every struct is `#[repr(C)]`, made of
//! fixed-width integers and byte arrays only, with explicit padding and a
//! compile-time size check, so both sides agree byte for byte.
#![no_std]

use core::mem::size_of;

/// Packet seen by the XDP program (ingress).
pub const DIR_IN: u8 = 1;
/// Packet seen by the TC/TCX egress program.
pub const DIR_OUT: u8 = 2;

/// Largest number of packet bytes one event can carry.
pub const MAX_SNAPLEN: u32 = 65536;

/// Packet-event slot sizes (bytes of packet data after the header). The kernel
/// program reserves the smallest slot that holds `min(packet length, snaplen)`,
/// so small packets do not consume 64 KiB of ring buffer each.
pub const SLOT_SIZES: [usize; 7] = [128, 256, 512, 1536, 4096, 16384, MAX_SNAPLEN as usize];

/// Header of a packet event; `cap_len` packet bytes follow it in the same record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketHeader {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    /// Interface the packet was seen on.
    pub ifindex: u32,
    /// Length of the packet on the wire (all fragments, the whole GSO packet).
    pub orig_len: u32,
    /// Number of bytes that follow the header (≤ snaplen, ≤ the slot size).
    pub cap_len: u32,
    /// `DIR_IN` or `DIR_OUT`.
    pub direction: u8,
    pub _pad: [u8; 3],
}
const _: () = assert!(size_of::<PacketHeader>() == 24);

/// A packet event with `N` bytes of room for packet data.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PacketSlot<const N: usize> {
    pub hdr: PacketHeader,
    pub data: [u8; N],
}
const _: () = assert!(size_of::<PacketSlot<128>>() == 24 + 128);
const _: () = assert!(size_of::<PacketSlot<65536>>() == 24 + 65536);

/// One TCP state change from `sock:inet_sock_set_state`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateEvent {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    /// Kernel address of the socket: identifies the connection while it lives.
    pub skaddr: u64,
    /// `bpf_get_current_pid_tgid()` of the task that ran the transition (may be
    /// unrelated to the socket's owner in softirq context).
    pub pid_tgid: u64,
    /// Command name of that task.
    pub comm: [u8; 16],
    /// Old and new state, with the kernel's numbering (1 ESTABLISHED … 12 NEW_SYN_RECV).
    pub oldstate: u8,
    pub newstate: u8,
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u8,
    pub _pad: u8,
    /// Ports in host byte order, as the tracepoint reports them.
    pub sport: u16,
    pub dport: u16,
    /// IPv4 addresses occupy the first 4 bytes.
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
}
const _: () = assert!(size_of::<StateEvent>() == 8 * 3 + 16 + 4 + 4 + 32);

/// Raw record of `sock:inet_sock_set_state` after the 8-byte common header
/// (offsets 8..72 of /sys/kernel/tracing/events/sock/inet_sock_set_state/format).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct InetSockSetStateRaw {
    pub skaddr: u64,
    pub oldstate: i32,
    pub newstate: i32,
    pub sport: u16,
    pub dport: u16,
    pub family: u16,
    pub protocol: u16,
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub saddr_v6: [u8; 16],
    pub daddr_v6: [u8; 16],
}
const _: () = assert!(size_of::<InetSockSetStateRaw>() == 64);
/// Offset of [`InetSockSetStateRaw`] inside the tracepoint record.
pub const INET_SOCK_SET_STATE_OFFSET: usize = 8;

/// Indexes into the per-CPU `COUNTERS` array map.
pub mod counter {
    /// Packets the XDP program ran on.
    pub const XDP_SEEN: u32 = 0;
    /// XDP packets the packet ring buffer could not take.
    pub const XDP_LOST: u32 = 1;
    /// Packets the TC egress program ran on.
    pub const TC_SEEN: u32 = 2;
    /// TC packets the packet ring buffer could not take.
    pub const TC_LOST: u32 = 3;
    /// TCP state changes seen by the tracepoint program.
    pub const STATE_SEEN: u32 = 4;
    /// State events the state ring buffer could not take.
    pub const STATE_LOST: u32 = 5;
    /// Packets whose bytes could not be copied (helper error); sent with cap_len 0.
    pub const COPY_FAILED: u32 = 6;
    /// Number of counters.
    pub const COUNT: u32 = 8;
}

/// Map and global names, shared so a rename breaks the build, not the run.
pub mod names {
    pub const PACKETS: &str = "PACKETS";
    pub const STATES: &str = "STATES";
    pub const COUNTERS: &str = "COUNTERS";
    pub const SNAPLEN: &str = "SNAPLEN";
    pub const WAKEUP_BYTES: &str = "WAKEUP_BYTES";
    pub const XDP_PROG: &str = "tracer_xdp";
    pub const TC_PROG: &str = "tracer_tc_egress";
    pub const STATE_PROG: &str = "tracer_inet_sock_set_state";
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), integers and byte arrays only, no padding (size asserts above).
    unsafe impl aya::Pod for super::PacketHeader {}
    unsafe impl aya::Pod for super::StateEvent {}
}
