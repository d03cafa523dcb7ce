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

/// One classic-BPF instruction, laid out as the kernel's and libpcap's `struct sock_filter`
/// (`struct bpf_insn` in libpcap): what `pcap_compile` produces for a filter expression. User
/// space translates these into eBPF for the packet programs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CbpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}
const _: () = assert!(size_of::<CbpfInsn>() == 8);

/// Most instructions a filter may have: classic BPF's own limit (BPF_MAXINSNS). What the
/// kernel programs can run is bounded by [`FILTER_STUB_INSNS`] instead.
pub const MAX_CBPF_INSNS: u32 = 4096;

/// eBPF instructions in each filter stub of the packet programs (tracer-ebpf's `filter`): the
/// most a translated filter may take.
pub const FILTER_STUB_INSNS: u32 = 8192;

/// Kinds of [`SockEvent`]: what the kernel saw happen to a socket.
pub mod sock_kind {
    /// `sock:inet_sock_set_state` (TCP only): `oldstate` → `newstate`. With
    /// `newstate` CLOSE, `bytes_acked`/`bytes_received` hold the socket's totals.
    pub const STATE: u8 = 1;
    /// fexit `tcp_v4_connect`/`tcp_v6_connect`: the connecting task (`pid_tgid`,
    /// `comm`), the bound tuple (the real source port), `ret` = the return value.
    pub const CONNECT: u8 = 2;
    /// fexit `inet_csk_accept`: `skaddr` = the accepted socket, the accepting task.
    pub const ACCEPT: u8 = 3;
    /// fentry `inet_twsk_hashdance_schedule`: the full socket `skaddr` hands over
    /// to the timewait socket `aux`; `newstate` = the timewait's substate
    /// (TIME_WAIT, or FIN_WAIT2 for an orphan waiting for the peer's FIN).
    pub const TW_START: u8 = 4;
    /// fentry `inet_twsk_free`: timewait socket `skaddr` is gone.
    pub const TW_END: u8 = 5;
    /// fentry `inet_csk_reqsk_queue_hash_add`: a SYN made request socket
    /// `skaddr` (half-open, NEW_SYN_RECV) for listener `aux`.
    pub const REQ_START: u8 = 6;
    /// fentry `inet_csk_reqsk_queue_drop`(`_and_put`): request socket `skaddr`
    /// leaves the table (handshake completed, timed out, or reset). May come twice.
    pub const REQ_END: u8 = 7;
    /// `tcp:tcp_receive_reset`: socket `skaddr` received a RST.
    pub const RESET_RX: u8 = 8;
    /// `tcp:tcp_retransmit_skb` on a SYN_SENT socket: a SYN retransmission.
    pub const SYN_RETRANS: u8 = 9;
    /// `tcp:tcp_retransmit_synack`: listener `aux` resent a SYN-ACK for request `skaddr`.
    pub const SYNACK_RETRANS: u8 = 10;
}

/// One socket event (see [`sock_kind`]). Addresses and ports are the
/// socket's local (`s`) and remote (`d`) side; ports in host byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockEvent {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    /// Kernel address of the socket (full, timewait or request socket).
    pub skaddr: u64,
    /// A second socket address, by kind (timewait socket, listener); else 0.
    pub aux: u64,
    /// `bpf_get_current_pid_tgid()` of the running task. Only CONNECT, ACCEPT
    /// and STATE CLOSE→SYN_SENT / CLOSE→LISTEN are sure to run in the owner.
    pub pid_tgid: u64,
    /// `tcp_sock.bytes_acked` (bytes sent and acknowledged) at CLOSE / TW_START.
    pub bytes_acked: u64,
    /// `tcp_sock.bytes_received` at CLOSE / TW_START.
    pub bytes_received: u64,
    /// Command name of the running task.
    pub comm: [u8; 16],
    /// Inode number of the socket's network namespace (0 if unreadable).
    pub netns: u32,
    /// One of [`sock_kind`].
    pub kind: u8,
    /// Kernel state numbers (1 ESTABLISHED … 12 NEW_SYN_RECV); 0 where not applicable.
    pub oldstate: u8,
    pub newstate: u8,
    /// `AF_INET` (2) or `AF_INET6` (10).
    pub family: u8,
    pub sport: u16,
    pub dport: u16,
    /// CONNECT: the return value; RETRANS kinds: the tracepoint's `err`; else 0.
    pub ret: i32,
    /// IPv4 addresses occupy the first 4 bytes.
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
}
const _: () = assert!(size_of::<SockEvent>() == 112);

/// One slot of the per-CPU state rings (`STATE_RING`): a state change seen by the
/// `tracer_sk_state` program. Written by one CPU only (the kernel never nests a program
/// in itself on a CPU), read in place by user space through an mmap of the map.
///
/// The extra data of CLOSE → X (the owner: `pid_tgid`, then `comm`) and of X → CLOSE
/// (the byte totals: `bytes_acked`, then `bytes_received`) is 24 bytes. An IPv4 record
/// carries it inline: `a` holds the local address (4 bytes), the remote one (4) and
/// the extra's first 8 bytes, `b` the other 16. An IPv6 record has the local address in
/// `a` and the remote one in `b`, and its extra in a [`StateExtra`] in the next slot
/// (`slots` is then 2). Most records are IPv4, and a slot less is a cache line less to
/// write and to read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateRec {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    /// Kernel address of the socket.
    pub skaddr: u64,
    /// Addresses, and an IPv4 record's extra (see above).
    pub a: [u8; 16],
    pub b: [u8; 16],
    /// Inode number of the socket's network namespace.
    pub netns: u32,
    /// Local and remote port, host byte order.
    pub sport: u16,
    pub dport: u16,
    pub oldstate: u8,
    pub newstate: u8,
    /// AF_INET or AF_INET6.
    pub family: u8,
    /// Slots this record takes: 1, or 2 with a [`StateExtra`] (IPv6 only).
    pub slots: u8,
    pub _pad: [u8; 4],
}
const _: () = assert!(size_of::<StateRec>() == 64);

/// The second slot of a two-slot (IPv6) [`StateRec`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateExtra {
    /// `bpf_get_current_pid_tgid()` at CLOSE → SYN_SENT / LISTEN (the owner), else 0.
    pub pid_tgid: u64,
    /// `tcp_sock.bytes_acked` / `bytes_received` at → CLOSE, else 0.
    pub bytes_acked: u64,
    pub bytes_received: u64,
    /// Command name of the task at CLOSE → SYN_SENT / LISTEN.
    pub comm: [u8; 16],
    pub _pad: [u8; 24],
}
const _: () = assert!(size_of::<StateExtra>() == size_of::<StateRec>());

/// Producer and consumer positions of one CPU's state ring (`STATE_RING_POS`, indexed by
/// CPU), in slots, counting up without wrapping. Each on its own cache line: the CPU's
/// program writes `head` and `records` (the records it wrote, the count of state events
/// seen: a counter on a line it writes anyway), user space writes `tail`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingPos {
    pub head: u64,
    pub records: u64,
    pub _pad_head: [u64; 6],
    pub tail: u64,
    pub _pad_tail: [u64; 7],
}
const _: () = assert!(size_of::<RingPos>() == 128);

/// `BPF_F_MMAPABLE`: an array map user space can mmap.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// Byte offsets of kernel struct fields, read from the running kernel's BTF by
/// user space and handed to the programs as a global before loading. `valid`
/// is 0 when they could not be resolved: the programs then read no socket
/// memory (netns and byte counts stay 0, fentry/fexit events carry no tuple).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SockOffsets {
    pub valid: u32,
    /// `struct sock_common` fields (at offset 0 of sock, request_sock and
    /// inet_timewait_sock).
    pub skc_daddr: u32,
    pub skc_rcv_saddr: u32,
    pub skc_dport: u32,
    pub skc_num: u32,
    pub skc_family: u32,
    pub skc_net: u32,
    pub skc_v6_daddr: u32,
    pub skc_v6_rcv_saddr: u32,
    /// `struct net` → `ns.inum`.
    pub net_ns_inum: u32,
    /// `struct tcp_sock` fields.
    pub tcp_bytes_acked: u32,
    pub tcp_bytes_received: u32,
    /// `struct inet_timewait_sock.tw_substate`.
    pub tw_substate: u32,
    /// `struct sock.sk_protocol` (u16).
    pub sk_protocol: u32,
}
const _: () = assert!(size_of::<SockOffsets>() == 14 * 4);

/// Byte offsets for finding the socket behind a file descriptor of the
/// current task (`task_struct.files → fdt → fd[n] → file.private_data →
/// socket.sk`), read from BTF like [`SockOffsets`]. Used where no fexit on
/// `inet_csk_accept` is possible: the accepted socket is found from the fd
/// `accept` returned. `valid` 0: no fd is followed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileOffsets {
    pub valid: u32,
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdt_fd: u32,
    pub file_private_data: u32,
    pub socket_sk: u32,
}
const _: () = assert!(size_of::<FileOffsets>() == 6 * 4);

/// Record of `syscalls:sys_exit_*` from offset 0 (`__syscall_nr`, `ret`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SysExitRaw {
    pub common: u64,
    pub syscall_nr: i32,
    pub _pad: u32,
    pub ret: i64,
}
const _: () = assert!(size_of::<SysExitRaw>() == 24);

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

/// Record of `tcp:tcp_receive_reset` from offset 0 (the common header
/// included), as in /sys/kernel/tracing/events/tcp/tcp_receive_reset/format on
/// 6.18; the trailing `sock_cookie` is not read. User space checks these
/// offsets against the running kernel's format file before attaching.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpReceiveResetRaw {
    pub common: u64,
    pub skaddr: u64,
    pub sport: u16,
    pub dport: u16,
    pub family: u16,
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub saddr_v6: [u8; 16],
    pub daddr_v6: [u8; 16],
    pub _pad: [u8; 2],
}
const _: () = assert!(size_of::<TcpReceiveResetRaw>() == 64);

/// Record of `tcp:tcp_retransmit_skb` from offset 0, the fields every kernel
/// since 4.16 has at these offsets (see [`TcpReceiveResetRaw`]); only the first
/// [`TCP_RETRANSMIT_SKB_LEN`] bytes are read. Kernels from 6.13 on add `int err`
/// after them (the tracepoint then also fires for retransmissions that failed);
/// the program reads it at [`names::RETRANSMIT_ERR_OFFSET`], which the loader
/// sets from the format file (0: no such field).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpRetransmitSkbRaw {
    pub common: u64,
    pub skbaddr: u64,
    pub skaddr: u64,
    pub state: i32,
    pub sport: u16,
    pub dport: u16,
    pub family: u16,
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub saddr_v6: [u8; 16],
    pub daddr_v6: [u8; 16],
    /// Not read (the record may end before it).
    pub _pad: [u8; 6],
}
const _: () = assert!(size_of::<TcpRetransmitSkbRaw>() == 80);

/// Bytes of [`TcpRetransmitSkbRaw`] the program reads: up to the end of `daddr_v6`.
pub const TCP_RETRANSMIT_SKB_LEN: usize = 74;
const _: () = assert!(core::mem::offset_of!(TcpRetransmitSkbRaw, _pad) == TCP_RETRANSMIT_SKB_LEN);

/// Record of `tcp:tcp_retransmit_synack` from offset 0 (6.18 layout; see
/// [`TcpReceiveResetRaw`]). `skaddr` is the listener, `req` the request socket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpRetransmitSynackRaw {
    pub common: u64,
    pub skaddr: u64,
    pub req: u64,
    pub sport: u16,
    pub dport: u16,
    pub family: u16,
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub saddr_v6: [u8; 16],
    pub daddr_v6: [u8; 16],
    pub _pad: [u8; 2],
}
const _: () = assert!(size_of::<TcpRetransmitSynackRaw>() == 72);

/// Indexes into the per-CPU `COUNTERS` array map.
pub mod counter {
    /// Packets the ingress hook ran on (TCX ingress, or the XDP program with `--xdp`; the
    /// `XDP_*` counters are the ingress hook's whichever it is).
    pub const XDP_SEEN: u32 = 0;
    /// XDP packets the packet ring buffer could not take.
    pub const XDP_LOST: u32 = 1;
    /// Packets the TC egress program ran on.
    pub const TC_SEEN: u32 = 2;
    /// TC packets the packet ring buffer could not take.
    pub const TC_LOST: u32 = 3;
    /// TCP state changes seen by the classic tracepoint program (the tp_btf one
    /// counts them in `RingPos::records`).
    pub const STATE_SEEN: u32 = 4;
    /// State events the state ring buffer could not take.
    pub const STATE_LOST: u32 = 5;
    /// Packets whose bytes could not be copied (helper error); sent with cap_len 0.
    pub const COPY_FAILED: u32 = 6;
    /// Socket events (all kinds but STATE) seen by the fentry/fexit/tcp tracepoint programs.
    pub const SOCK_SEEN: u32 = 7;
    /// Socket events (all kinds but STATE) the state ring buffer could not take.
    pub const SOCK_LOST: u32 = 8;
    /// XDP packets the capture filter matched (all of them without a filter). Each is then
    /// copied (`XDP_COPIED`) or lost (`XDP_LOST`): matched = copied + lost.
    pub const XDP_MATCHED: u32 = 10;
    /// XDP packets written to the packet ring buffer.
    pub const XDP_COPIED: u32 = 11;
    /// TC packets the capture filter matched; copied (`TC_COPIED`) or lost (`TC_LOST`).
    pub const TC_MATCHED: u32 = 12;
    /// TC packets written to the packet ring buffer.
    pub const TC_COPIED: u32 = 13;
    /// Number of counters.
    pub const COUNT: u32 = 14;
}

/// Map and global names, shared so a rename breaks the build, not the run.
pub mod names {
    pub const PACKETS: &str = "PACKETS";
    pub const STATES: &str = "STATES";
    /// The per-CPU state rings: `STATE_RING_SLOTS` [`super::StateRec`] slots per CPU.
    pub const STATE_RING: &str = "STATE_RING";
    pub const STATE_RING_POS: &str = "STATE_RING_POS";
    pub const STATE_RING_SLOTS: &str = "STATE_RING_SLOTS";
    pub const COUNTERS: &str = "COUNTERS";
    pub const SNAPLEN: &str = "SNAPLEN";
    /// 1 when the packet programs' filter stubs hold a translated filter.
    pub const FILTER_ON: &str = "FILTER_ON";
    /// The filter stubs, one per kind of frame: their symbols contain these names.
    pub const FILTER_STUB_XDP: &str = "tracer_filter_xdp";
    pub const FILTER_STUB_TC_INGRESS: &str = "tracer_filter_tc_ingress";
    pub const FILTER_STUB_TC_EGRESS: &str = "tracer_filter_tc_egress";
    pub const WAKEUP_BYTES: &str = "WAKEUP_BYTES";
    pub const XDP_PROG: &str = "tracer_xdp";
    pub const TC_PROG: &str = "tracer_tc_egress";
    /// TCX ingress (the default ingress hook; `--xdp` uses `XDP_PROG` instead).
    pub const TC_INGRESS_PROG: &str = "tracer_tc_ingress";
    pub const STATE_PROG: &str = "tracer_inet_sock_set_state";
    /// The same as a BTF tracepoint (preferred: plain loads instead of helper calls).
    pub const STATE_BTF_PROG: &str = "tracer_sk_state";
    pub const SOCK_OFFSETS: &str = "SOCK_OFFSETS";
    /// fexit `tcp_v4_connect` / `tcp_v6_connect` (CONNECT).
    pub const CONNECT4_PROG: &str = "tracer_connect4";
    pub const CONNECT6_PROG: &str = "tracer_connect6";
    /// fexit `inet_csk_accept` (ACCEPT).
    pub const ACCEPT_PROG: &str = "tracer_accept";
    /// fentry `inet_twsk_hashdance_schedule` (TW_START) / `inet_twsk_free` (TW_END).
    pub const TW_START_PROG: &str = "tracer_tw_start";
    pub const TW_END_PROG: &str = "tracer_tw_end";
    /// fentry `inet_csk_reqsk_queue_hash_add` (REQ_START).
    pub const REQ_START_PROG: &str = "tracer_req_add";
    /// fentry `inet_csk_reqsk_queue_drop` / `inet_csk_reqsk_queue_drop_and_put` (REQ_END).
    pub const REQ_DROP_PROG: &str = "tracer_req_drop";
    pub const REQ_DROP_PUT_PROG: &str = "tracer_req_dput";
    /// Tracepoints `tcp:tcp_receive_reset`, `tcp:tcp_retransmit_skb`, `tcp:tcp_retransmit_synack`.
    pub const RESET_RX_PROG: &str = "tracer_rst_rx";
    pub const SYN_RETRANS_PROG: &str = "tracer_syn_rtx";
    pub const SYNACK_RETRANS_PROG: &str = "tracer_synack_rtx";
    /// Where fexit `inet_csk_accept` cannot be loaded:
    /// `syscalls:sys_exit_accept`/`accept4` (ACCEPT, through the returned fd).
    pub const ACCEPT_SYS_PROG: &str = "tracer_sys_accept";
    pub const FILE_OFFSETS: &str = "FILE_OFFSETS";
    /// Offset of `err` in `tcp:tcp_retransmit_skb` records; 0 where the kernel has no such field.
    pub const RETRANSMIT_ERR_OFFSET: &str = "RETRANSMIT_ERR_OFFSET";
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), integers and byte arrays only, no padding (size asserts above).
    unsafe impl aya::Pod for super::PacketHeader {}
    unsafe impl aya::Pod for super::SockEvent {}
    unsafe impl aya::Pod for super::SockOffsets {}
    unsafe impl aya::Pod for super::FileOffsets {}
    unsafe impl aya::Pod for super::CbpfInsn {}
    unsafe impl aya::Pod for super::StateRec {}
    unsafe impl aya::Pod for super::RingPos {}
}
