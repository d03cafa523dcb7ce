//! Loading the kernel programs and attaching them with bpf links: XDP (native,
//! or generic when the driver has no XDP), TCX egress, and the tracepoint. The
//! links live in the `Ebpf` object; if the process dies, even by SIGKILL, the
//! kernel closes their descriptors and detaches everything.

use aya::{
    Btf, Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{SchedClassifier, TcAttachType, TracePoint, Xdp, XdpMode, links::LinkOrder, tc::TcAttachOptions},
};
use tracer_common::names;

use super::{CaptureError, counters::CounterMap, iface::Interface};

/// What to load and how big the rings are.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Bytes of each packet to copy (already capped to `MAX_SNAPLEN`).
    pub snaplen: u32,
    /// Packet ring size in bytes (a power of two, multiple of the page size).
    pub packet_ring_bytes: u32,
    /// State ring size in bytes.
    pub state_ring_bytes: u32,
}

/// The loaded object; dropping it detaches every program.
pub struct Programs {
    ebpf: Ebpf,
}

/// Rounds a requested ring size to what the kernel accepts.
pub fn ring_size(bytes: u64) -> u32 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    bytes.clamp(page.max(1 << 18), 1 << 30).next_power_of_two() as u32
}

impl Programs {
    pub fn load(opts: &LoadOptions) -> Result<Self, CaptureError> {
        let btf = Btf::from_sys_fs().ok();
        let wakeup_bytes = u64::from(opts.packet_ring_bytes / 4);
        let ebpf = EbpfLoader::new()
            .btf(btf.as_ref())
            .override_global(names::SNAPLEN, &opts.snaplen, true)
            .override_global(names::WAKEUP_BYTES, &wakeup_bytes, true)
            .map_max_entries(names::PACKETS, opts.packet_ring_bytes)
            .map_max_entries(names::STATES, opts.state_ring_bytes)
            .load(aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer")))
            .map_err(CaptureError::load)?;
        Ok(Self { ebpf })
    }

    /// XDP on ingress and TCX on egress of `iface`. On loopback only the
    /// egress hook is used: every looped packet is seen once, as tcpdump sees it.
    pub fn attach_packet_hooks(&mut self, iface: &Interface) -> Result<(), CaptureError> {
        if !iface.loopback {
            let xdp: &mut Xdp = self
                .ebpf
                .program_mut(names::XDP_PROG)
                .ok_or_else(|| missing(names::XDP_PROG))?
                .try_into()
                .map_err(CaptureError::program(names::XDP_PROG))?;
            if xdp.fd().is_err() {
                xdp.load().map_err(CaptureError::program("loading the XDP program"))?;
            }
            // Native XDP first; generic (SKB) mode where the driver has none.
            if let Err(native) = xdp.attach_to_if_index(iface.index, XdpMode::default()) {
                xdp.attach_to_if_index(iface.index, XdpMode::Skb)
                    .map_err(|generic| CaptureError::Program {
                        what: format!("{}: attaching XDP", iface.name),
                        err: format!("{} (native mode: {})", super::chain(&generic), super::chain(&native)),
                    })?;
            }
        }
        let tc: &mut SchedClassifier = self
            .ebpf
            .program_mut(names::TC_PROG)
            .ok_or_else(|| missing(names::TC_PROG))?
            .try_into()
            .map_err(CaptureError::program(names::TC_PROG))?;
        if tc.fd().is_err() {
            tc.load().map_err(CaptureError::program("loading the TC program"))?;
        }
        tc.attach_with_options(
            &iface.name,
            TcAttachType::Egress,
            TcAttachOptions::TcxOrder(LinkOrder::default()),
        )
        .map_err(CaptureError::program(format!("{}: attaching TCX egress", iface.name)))?;
        Ok(())
    }

    /// The `sock:inet_sock_set_state` tracepoint.
    pub fn attach_state_hook(&mut self) -> Result<(), CaptureError> {
        let tp: &mut TracePoint = self
            .ebpf
            .program_mut(names::STATE_PROG)
            .ok_or_else(|| missing(names::STATE_PROG))?
            .try_into()
            .map_err(CaptureError::program(names::STATE_PROG))?;
        tp.load()
            .map_err(CaptureError::program("loading the tracepoint program"))?;
        tp.attach("sock", "inet_sock_set_state")
            .map_err(CaptureError::program("attaching tracepoint sock:inet_sock_set_state"))?;
        Ok(())
    }

    /// Takes a ring buffer out of the object (it stays valid after detaching).
    pub fn take_ring(&mut self, name: &str) -> Result<RingBuf<MapData>, CaptureError> {
        let map = self.ebpf.take_map(name).ok_or_else(|| missing(name))?;
        RingBuf::try_from(map).map_err(CaptureError::map(name))
    }

    /// Takes the per-CPU counters out of the object.
    pub fn take_counters(&mut self) -> Result<CounterMap, CaptureError> {
        let map = self
            .ebpf
            .take_map(names::COUNTERS)
            .ok_or_else(|| missing(names::COUNTERS))?;
        PerCpuArray::try_from(map).map_err(CaptureError::map(names::COUNTERS))
    }
}

fn missing(name: &str) -> CaptureError {
    CaptureError::Load {
        err: format!("{name} is missing from the object file"),
    }
}
