//! The capture filter in the kernel: the classic-BPF program libpcap compiled from the
//! expression, compiled for the frames the packet programs actually see, and written into the
//! `FILTER` map (its length goes into the `FILTER_LEN` global before loading).
//!
//! XDP and TC see each frame from its link-layer header: an Ethernet header on Ethernet,
//! veth and loopback interfaces, none on interfaces without one (tun, WireGuard). So the
//! expression is compiled for DLT_EN10MB, or DLT_RAW, whatever the capture file is written as
//! (with `-i any` or several interfaces the file is Linux cooked v2, but the kernel programs
//! never see that header: byte offsets into the link header, `ether[...]`, refer to the
//! Ethernet header).

use aya::{Ebpf, maps::Array};
use tracer_common::{CbpfInsn, MAX_CBPF_INSNS, names};

use super::{CaptureError, iface::Interface, link};
use crate::filter::{DLT_EN10MB, Filter, FilterError, dlt_of_linktype};

/// Why a filter cannot be run in the kernel for these interfaces.
#[derive(Debug, thiserror::Error)]
pub enum KernelFilterError {
    #[error(transparent)]
    Compile(#[from] FilterError),
    #[error(
        "a filter cannot be applied to interfaces with an Ethernet header ({ethernet}) and without one ({raw}) at once: capture them separately"
    )]
    MixedFraming { ethernet: String, raw: String },
    #[error("the filter has {len} instructions, more than the {max} the kernel programs run")]
    TooLong { len: usize, max: u32 },
}

/// The DLT of the frames the packet programs see on `ifaces`.
pub fn kernel_dlt(ifaces: &[Interface]) -> Result<u32, KernelFilterError> {
    let (ethernet, raw): (Vec<&Interface>, Vec<&Interface>) = ifaces.iter().partition(|i| i.has_ethernet_header());
    match (ethernet.is_empty(), raw.is_empty()) {
        (_, true) => Ok(DLT_EN10MB),
        (true, false) => Ok(dlt_of_linktype(link::LINKTYPE_RAW)),
        (false, false) => {
            let names = |v: &[&Interface]| v.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ");
            Err(KernelFilterError::MixedFraming {
                ethernet: names(&ethernet),
                raw: names(&raw),
            })
        }
    }
}

/// `filter`'s expression compiled for the frames the kernel programs see on `ifaces`, its
/// accepting returns set to `snaplen`: the instructions to load.
pub fn for_kernel(filter: &Filter, ifaces: &[Interface], snaplen: u32) -> Result<Vec<CbpfInsn>, KernelFilterError> {
    let compiled = Filter::compile(filter.expression(), kernel_dlt(ifaces)?, snaplen)?;
    let insns = compiled.insns().to_vec();
    if insns.len() > MAX_CBPF_INSNS as usize {
        return Err(KernelFilterError::TooLong {
            len: insns.len(),
            max: MAX_CBPF_INSNS,
        });
    }
    Ok(insns)
}

/// Writes `insns` into the loaded object's `FILTER` map (before any program is attached).
pub fn install(ebpf: &mut Ebpf, insns: &[CbpfInsn]) -> Result<(), CaptureError> {
    if insns.is_empty() {
        return Ok(());
    }
    let map = ebpf.map_mut(names::FILTER).ok_or_else(|| CaptureError::Load {
        err: format!("{} is missing from the object file", names::FILTER),
    })?;
    let mut array: Array<_, CbpfInsn> = Array::try_from(map).map_err(CaptureError::map(names::FILTER))?;
    for (i, insn) in (0u32..).zip(insns) {
        array.set(i, insn, 0).map_err(CaptureError::map(names::FILTER))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::iface::{ARPHRD_ETHER, ARPHRD_LOOPBACK, ARPHRD_NONE};

    fn iface(name: &str, arphrd: u16) -> Interface {
        Interface {
            name: name.into(),
            index: 1,
            arphrd,
            mac: [0; 6],
            up: true,
            loopback: arphrd == ARPHRD_LOOPBACK,
        }
    }

    #[test]
    fn compiled_for_the_frames_the_kernel_sees() {
        let eth = [iface("eth0", ARPHRD_ETHER), iface("lo", ARPHRD_LOOPBACK)];
        assert_eq!(kernel_dlt(&eth).unwrap(), DLT_EN10MB);
        assert_eq!(kernel_dlt(&[iface("tun0", ARPHRD_NONE)]).unwrap(), 12);
        let mixed = [iface("eth0", ARPHRD_ETHER), iface("tun0", ARPHRD_NONE)];
        let err = kernel_dlt(&mixed).unwrap_err().to_string();
        assert!(err.contains("(eth0)") && err.contains("(tun0)"), "{err}");

        // Same expression, other link type: an IPv4 test at offset 12 (Ethernet) or 0 (raw).
        let f = Filter::compile("ip", DLT_EN10MB, 262_144).unwrap();
        let on_eth = for_kernel(&f, &eth, 1000).unwrap();
        assert_eq!(on_eth, f.insns().iter().map(|i| with_ret(*i, 1000)).collect::<Vec<_>>());
        let on_raw = for_kernel(&f, &[iface("tun0", ARPHRD_NONE)], 1000).unwrap();
        assert_ne!(on_raw, on_eth);
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        assert_eq!(crate::filter::cbpf::run(&on_raw, &v4, 20), 1000);
    }

    fn with_ret(mut i: CbpfInsn, k: u32) -> CbpfInsn {
        if i.code == 0x06 && i.k != 0 {
            i.k = k;
        }
        i
    }
}
