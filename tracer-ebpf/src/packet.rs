//! Packet hooks: TCX ingress (or XDP with `--xdp`) and TCX egress. Each packet the capture filter
//! (`filter`) matches becomes one ring-buffer record: a `PacketHeader` and the first
//! `min(len, snaplen, filter result)` bytes. Packets it does not match are never copied.

use core::ffi::c_void;

use aya_ebpf::{
    EbpfContext as _,
    bindings::{__sk_buff, TC_ACT_UNSPEC, xdp_action},
    helpers::{bpf_ktime_get_ns, bpf_skb_load_bytes, bpf_xdp_get_buff_len, bpf_xdp_load_bytes},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use tracer_common::{DIR_IN, DIR_OUT, MAX_SNAPLEN, PacketHeader, PacketSlot, SLOT_SIZES, counter};

use crate::{
    PACKETS, SNAPLEN, count,
    filter::{self, Stub},
    ring::submit_flags,
};

/// Where the packet bytes come from.
trait Source {
    /// Whole packet length, all fragments included.
    fn len(&self) -> usize;
    fn ifindex(&self) -> u32;
    /// Copies `n` bytes from offset `off` into `dst`; 0 on success.
    fn load_at(&self, off: u32, dst: *mut u8, n: u32) -> i64;
    /// A VLAN tag the kernel took out of the frame into the packet's metadata (as it does
    /// for every tagged frame before TC ingress, and hardware-accelerated tagging on
    /// egress): TPID and TCI as they go on the wire. tcpdump (libpcap) puts it back.
    fn vlan(&self) -> Option<[u8; 4]>;
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
    fn load_at(&self, off: u32, dst: *mut u8, n: u32) -> i64 {
        // SAFETY: dst points into a reserved ring-buffer record of at least n bytes.
        unsafe { bpf_xdp_load_bytes(self.0.ctx, off, dst.cast(), n) }
    }
    fn vlan(&self) -> Option<[u8; 4]> {
        // XDP sees the frame as the driver got it, tags included.
        None
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
    fn load_at(&self, off: u32, dst: *mut u8, n: u32) -> i64 {
        // SAFETY: dst points into a reserved ring-buffer record of at least n bytes.
        unsafe { bpf_skb_load_bytes(self.0.as_ptr().cast(), off, dst.cast(), n) }
    }
    fn vlan(&self) -> Option<[u8; 4]> {
        let skb = self.0.as_ptr().cast::<__sk_buff>();
        // SAFETY: reading fields of the context the kernel handed us.
        let (present, proto, tci) = unsafe { ((*skb).vlan_present, (*skb).vlan_proto, (*skb).vlan_tci) };
        if present == 0 {
            return None;
        }
        // vlan_proto holds the TPID in network byte order, vlan_tci the TCI in host order.
        let p = (proto as u16).to_ne_bytes();
        let t = (tci as u16).to_be_bytes();
        Some([p[0], p[1], t[0], t[1]])
    }
}

/// The counters of one hook. A packet seen is either not matched, or matched and then copied
/// or lost (ring full): `matched = copied + lost`, so nothing goes uncounted.
struct Counters {
    seen: u32,
    matched: u32,
    copied: u32,
    lost: u32,
}

/// The ingress hook's counters (XDP, or TCX ingress: one of them is attached).
const XDP_COUNTERS: Counters = Counters {
    seen: counter::XDP_SEEN,
    matched: counter::XDP_MATCHED,
    copied: counter::XDP_COPIED,
    lost: counter::XDP_LOST,
};

const TC_COUNTERS: Counters = Counters {
    seen: counter::TC_SEEN,
    matched: counter::TC_MATCHED,
    copied: counter::TC_COPIED,
    lost: counter::TC_LOST,
};

#[xdp(frags)]
pub fn tracer_xdp(ctx: XdpContext) -> u32 {
    hook(&Xdp(&ctx), ctx.ctx.cast(), DIR_IN, &XDP_COUNTERS, Stub::Xdp);
    xdp_action::XDP_PASS
}

/// Ingress on TCX, the default: after GRO, where tcpdump's socket sees packets, and without
/// the copy XDP on a veth makes the kernel do for every frame. It counts as the ingress hook.
///
/// The TC programs return TC_ACT_UNSPEC (TCX_NEXT): "no verdict, run the next program". Any
/// other value ends the chain: TC_ACT_PIPE made TCX skip every program attached after this
/// one (a second tracer on the interface saw nothing), and a classic cls_bpf filter skip the
/// filters after it. At the end of the chain the packet passes.
#[classifier]
pub fn tracer_tc_ingress(ctx: TcContext) -> i32 {
    hook(&Tc(&ctx), ctx.as_ptr(), DIR_IN, &XDP_COUNTERS, Stub::TcIngress);
    TC_ACT_UNSPEC
}

#[classifier]
pub fn tracer_tc_egress(ctx: TcContext) -> i32 {
    hook(&Tc(&ctx), ctx.as_ptr(), DIR_OUT, &TC_COUNTERS, Stub::TcEgress);
    TC_ACT_UNSPEC
}

/// Counts the packet, runs the filter and copies what it matched.
#[inline(always)]
fn hook<S: Source>(src: &S, ctx: *mut c_void, direction: u8, c: &Counters, stub: Stub) {
    count(c.seen);
    let keep = filter::run(ctx, stub);
    if keep == 0 {
        return;
    }
    count(c.matched);
    let len = src.len();
    if capture(src, len, keep, direction) {
        count(c.copied);
    } else {
        count(c.lost);
    }
}

/// Copies the packet into the smallest slot that holds `min(len, snaplen, keep)` bytes.
/// Returns false when the ring buffer had no room.
#[inline(always)]
fn capture<S: Source>(src: &S, len: usize, keep: u32, direction: u8) -> bool {
    let ts_ns = unsafe { bpf_ktime_get_ns() };
    // SAFETY: a global set once at load time; volatile so the loader's value is used.
    let snaplen = unsafe { core::ptr::read_volatile(&SNAPLEN) } as usize;
    let snaplen = if snaplen == 0 || snaplen > MAX_SNAPLEN as usize {
        MAX_SNAPLEN as usize
    } else {
        snaplen
    };
    // tcpdump keeps what the filter returns when that is less than the snap length.
    let snaplen = if (keep as usize) < snaplen {
        keep as usize
    } else {
        snaplen
    };
    // With a tag put back, the frame is 4 bytes longer (libpcap adds them to both lengths).
    let tag = src.vlan();
    let len = if tag.is_some() { len + 4 } else { len };
    let want = if len < snaplen { len } else { snaplen };
    let hdr = PacketHeader {
        ts_ns,
        ifindex: src.ifindex(),
        orig_len: len as u32,
        cap_len: 0,
        direction,
        _pad: [0; 3],
    };
    if want <= SLOT_SIZES[0] {
        emit::<{ SLOT_SIZES[0] }, S>(src, hdr, want, tag)
    } else if want <= SLOT_SIZES[1] {
        emit::<{ SLOT_SIZES[1] }, S>(src, hdr, want, tag)
    } else if want <= SLOT_SIZES[2] {
        emit::<{ SLOT_SIZES[2] }, S>(src, hdr, want, tag)
    } else if want <= SLOT_SIZES[3] {
        emit::<{ SLOT_SIZES[3] }, S>(src, hdr, want, tag)
    } else if want <= SLOT_SIZES[4] {
        emit::<{ SLOT_SIZES[4] }, S>(src, hdr, want, tag)
    } else if want <= SLOT_SIZES[5] {
        emit::<{ SLOT_SIZES[5] }, S>(src, hdr, want, tag)
    } else {
        emit::<{ SLOT_SIZES[6] }, S>(src, hdr, want, tag)
    }
}

/// Reserves a `PacketSlot<N>`, copies up to N bytes into it and submits it.
/// Returns false when the ring buffer had no room.
#[inline(always)]
fn emit<const N: usize, S: Source>(src: &S, mut hdr: PacketHeader, want: usize, tag: Option<[u8; 4]>) -> bool {
    let Some(mut entry) = PACKETS.reserve::<PacketSlot<N>>(0) else {
        return false;
    };
    let slot = entry.as_mut_ptr();
    if let Some(n) = copy_len::<N>(want) {
        // SAFETY: slot is a reserved record of size_of::<PacketSlot<N>>() bytes.
        let dst = unsafe { (*slot).data.as_mut_ptr() };
        let copied = match tag {
            None => src.load_at(0, dst, n),
            Some(tag) => copy_tagged::<N, S>(src, dst, n, tag),
        };
        if copied == 0 {
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

/// Copies `n` bytes of the frame with its VLAN tag put back after the two MAC addresses,
/// as libpcap does: 12 bytes, the tag, then the rest from offset 12. 0 on success.
#[inline(always)]
fn copy_tagged<const N: usize, S: Source>(src: &S, dst: *mut u8, n: u32, tag: [u8; 4]) -> i64 {
    if n <= 12 {
        return src.load_at(0, dst, n);
    }
    let r = src.load_at(0, dst, 12);
    if r != 0 {
        return r;
    }
    for (i, b) in tag.iter().enumerate() {
        if 12 + (i as u32) < n {
            // SAFETY: 12 + i < n <= N: inside the slot's data.
            unsafe { *dst.add(12 + i) = *b };
        }
    }
    if n <= 16 {
        return 0;
    }
    let Some(rest) = bounded(n - 16, N as u32 - 16) else {
        return 0;
    };
    // SAFETY: dst + 16 .. dst + 16 + rest lies within the slot's N bytes.
    src.load_at(12, unsafe { dst.add(16) }, rest)
}

/// `m` when it lies in [1, max], in a form every verifier can prove (see [`copy_len`]).
#[inline(always)]
fn bounded(m: u32, max: u32) -> Option<u32> {
    in_range(m, max)
}

/// `min(len, N)` in a form the verifier can prove lies in [1, N].
#[inline(always)]
fn copy_len<const N: usize>(len: usize) -> Option<u32> {
    let n: u32 = if len > N { N as u32 } else { len as u32 };
    in_range(n, N as u32)
}

/// `n` when it lies in [1, max]. The bound is checked on `n - 1`, read back through a
/// volatile round-trip so LLVM can neither fold the check away nor move it to another
/// register: the verifier then knows `n - 1` in [0, max - 1], and `n - 1 + 1`, the very
/// register handed to the helper, in [1, max]. (Checking `n == 0 || n > max` directly is
/// compiled into `n - 1 > max - 1` on a copy of `n`; 6.1's verifier does not carry that
/// bound back to `n` and rejects the copy as possibly zero-sized.)
#[inline(always)]
fn in_range(n: u32, max: u32) -> Option<u32> {
    let m = n.wrapping_sub(1);
    // SAFETY: reading a local.
    let m = unsafe { core::ptr::read_volatile(&m) };
    if m >= max {
        return None;
    }
    Some(m + 1)
}
