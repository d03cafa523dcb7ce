//! Packet hooks: XDP (ingress) and TC/TCX (egress). Each packet becomes one
//! ring-buffer record: a `PacketHeader` and the first `min(len, snaplen)` bytes.

use aya_ebpf::{
    EbpfContext as _,
    bindings::{__sk_buff, TC_ACT_PIPE, xdp_action},
    helpers::{bpf_ktime_get_ns, bpf_skb_load_bytes, bpf_xdp_get_buff_len, bpf_xdp_load_bytes},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use tracer_common::{DIR_IN, DIR_OUT, MAX_SNAPLEN, PacketHeader, PacketSlot, SLOT_SIZES, counter};

use crate::{PACKETS, SNAPLEN, count, ring::submit_flags};

/// Where the packet bytes come from.
trait Source {
    /// Whole packet length, all fragments included.
    fn len(&self) -> usize;
    fn ifindex(&self) -> u32;
    /// Copies `n` bytes from offset 0 into `dst`; 0 on success.
    fn load(&self, dst: *mut u8, n: u32) -> i64;
}

struct Xdp<'a>(&'a XdpContext);

impl Source for Xdp<'_> {
    fn len(&self) -> usize {
        // SAFETY: helper on the program's own context.
        unsafe { bpf_xdp_get_buff_len(self.0.ctx) as usize }
    }
    fn ifindex(&self) -> u32 {
        // SAFETY: reading a field of the context the kernel handed us.
        unsafe { (*self.0.ctx).ingress_ifindex }
    }
    fn load(&self, dst: *mut u8, n: u32) -> i64 {
        // SAFETY: dst points into a reserved ring-buffer record of at least n bytes.
        unsafe { bpf_xdp_load_bytes(self.0.ctx, 0, dst.cast(), n) }
    }
}

struct Tc<'a>(&'a TcContext);

impl Source for Tc<'_> {
    fn len(&self) -> usize {
        self.0.len() as usize
    }
    fn ifindex(&self) -> u32 {
        // SAFETY: reading a field of the context the kernel handed us.
        unsafe { (*self.0.as_ptr().cast::<__sk_buff>()).ifindex }
    }
    fn load(&self, dst: *mut u8, n: u32) -> i64 {
        // SAFETY: dst points into a reserved ring-buffer record of at least n bytes.
        unsafe { bpf_skb_load_bytes(self.0.as_ptr().cast(), 0, dst.cast(), n) }
    }
}

#[xdp(frags)]
pub fn tracer_xdp(ctx: XdpContext) -> u32 {
    count(counter::XDP_SEEN);
    capture(&Xdp(&ctx), DIR_IN, counter::XDP_LOST);
    xdp_action::XDP_PASS
}

#[classifier]
pub fn tracer_tc_egress(ctx: TcContext) -> i32 {
    count(counter::TC_SEEN);
    capture(&Tc(&ctx), DIR_OUT, counter::TC_LOST);
    TC_ACT_PIPE
}

/// Copies the packet into the smallest slot that holds `min(len, snaplen)` bytes.
#[inline(always)]
fn capture<S: Source>(src: &S, direction: u8, lost: u32) {
    let ts_ns = unsafe { bpf_ktime_get_ns() };
    let len = src.len();
    // SAFETY: a global set once at load time; volatile so the loader's value is used.
    let snaplen = unsafe { core::ptr::read_volatile(&SNAPLEN) } as usize;
    let snaplen = if snaplen == 0 || snaplen > MAX_SNAPLEN as usize {
        MAX_SNAPLEN as usize
    } else {
        snaplen
    };
    let want = if len < snaplen { len } else { snaplen };
    let hdr = PacketHeader {
        ts_ns,
        ifindex: src.ifindex(),
        orig_len: len as u32,
        cap_len: 0,
        direction,
        _pad: [0; 3],
    };
    let sent = if want <= SLOT_SIZES[0] {
        emit::<{ SLOT_SIZES[0] }, S>(src, hdr, want)
    } else if want <= SLOT_SIZES[1] {
        emit::<{ SLOT_SIZES[1] }, S>(src, hdr, want)
    } else if want <= SLOT_SIZES[2] {
        emit::<{ SLOT_SIZES[2] }, S>(src, hdr, want)
    } else if want <= SLOT_SIZES[3] {
        emit::<{ SLOT_SIZES[3] }, S>(src, hdr, want)
    } else if want <= SLOT_SIZES[4] {
        emit::<{ SLOT_SIZES[4] }, S>(src, hdr, want)
    } else if want <= SLOT_SIZES[5] {
        emit::<{ SLOT_SIZES[5] }, S>(src, hdr, want)
    } else {
        emit::<{ SLOT_SIZES[6] }, S>(src, hdr, want)
    };
    if !sent {
        count(lost);
    }
}

/// Reserves a `PacketSlot<N>`, copies up to N bytes into it and submits it.
/// Returns false when the ring buffer had no room.
#[inline(always)]
fn emit<const N: usize, S: Source>(src: &S, mut hdr: PacketHeader, want: usize) -> bool {
    let Some(mut entry) = PACKETS.reserve::<PacketSlot<N>>(0) else {
        return false;
    };
    let slot = entry.as_mut_ptr();
    if let Some(n) = copy_len::<N>(want) {
        // SAFETY: slot is a reserved record of size_of::<PacketSlot<N>>() bytes.
        let dst = unsafe { (*slot).data.as_mut_ptr() };
        if src.load(dst, n) == 0 {
            hdr.cap_len = n;
        } else {
            count(counter::COPY_FAILED);
        }
    }
    // SAFETY: as above; the header is written in full.
    unsafe { (*slot).hdr = hdr };
    entry.submit(submit_flags(&PACKETS));
    true
}

/// `min(len, N)` in a form the verifier can prove lies in [1, N]. The volatile
/// round-trip hides the value from LLVM so it cannot fold the range check away
/// (otherwise the verifier sees [0, N-1] and rejects "invalid zero-sized read").
#[inline(always)]
fn copy_len<const N: usize>(len: usize) -> Option<u32> {
    let n: u32 = if len > N { N as u32 } else { len as u32 };
    // SAFETY: reading a local.
    let n = unsafe { core::ptr::read_volatile(&n) };
    if n == 0 || n > N as u32 {
        return None;
    }
    Some(n)
}
