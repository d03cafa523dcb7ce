//! The capture filter in the kernel: the classic-BPF program libpcap compiled from the
//! expression, compiled for the frames the packet programs actually see, then translated into
//! eBPF for each hook ([`crate::filter::translate`]) and written over the programs' filter
//! stubs before they are loaded ([`super::splice`]).
//!
//! XDP and TC see each frame from its link-layer header: an Ethernet header on Ethernet,
//! veth and loopback interfaces, none on interfaces without one (tun, WireGuard). A capture
//! of one interface is written as those frames, and the expression is compiled for them
//! (DLT_EN10MB or DLT_RAW). With `-i any` or several interfaces the capture is written as
//! Linux cooked v2, and the expression is compiled for DLT_LINUX_SLL2 as tcpdump's `-i any`
//! compiles it: the translation shows the program a cooked header made from what each hook
//! knows (the translator's `cooked` module), so that `link[...]` offsets, `inbound` and
//! `ifindex` read what they read in tcpdump's capture and in the file written.
//!
//! It is compiled as tcpdump compiles it for a live capture, on a live libpcap handle for the
//! interface (`any` for a cooked capture): libpcap then emits the kernel's ancillary loads for what the packet data
//! lacks on Linux, and the translator maps them to what each hook knows. A VLAN tag is the
//! case that matters: before TC ingress the kernel moves a received frame's tag into the
//! socket buffer's metadata, where `vlan` finds it (and a plain `tcp port 80` matches tagged
//! frames, as with tcpdump); XDP sees the tag in the frame, where the same code finds it too.
//! Where no live handle can be opened (no CAP_NET_RAW), the program for a dead handle is used:
//! then `vlan` matches only tags in the frame (XDP), as when reading a file.

use tracer_common::{CbpfInsn, names};

use super::{iface::Interface, link};
use crate::filter::{
    DLT_EN10MB, DLT_LINUX_SLL2, Filter, FilterError, dlt_of_linktype,
    ebpf::Insn,
    translate::{self, Hook, TranslateError, View},
};

/// Why a filter cannot be run in the kernel for these interfaces.
#[derive(Debug, thiserror::Error)]
pub enum KernelFilterError {
    #[error(transparent)]
    Compile(#[from] FilterError),
    #[error(
        "a filter cannot be applied to interfaces with an Ethernet header ({ethernet}) and without one ({raw}) at once: capture them separately"
    )]
    MixedFraming { ethernet: String, raw: String },
    #[error("filter expression `{expression}`: {err}")]
    Translate { expression: String, err: TranslateError },
}

/// A filter as the packet programs run it: one translated stub per hook.
#[derive(Debug, Clone)]
pub struct KernelFilter {
    stubs: Vec<(Hook, Vec<Insn>)>,
}

impl KernelFilter {
    /// Translates `insns` (classic BPF for the packets as `view` shows them) for every hook.
    pub fn translate(expression: &str, insns: &[CbpfInsn], view: View) -> Result<Self, KernelFilterError> {
        let mut stubs = Vec::with_capacity(Hook::ALL.len());
        for hook in Hook::ALL {
            let code = translate::translate_view(insns, hook, view).map_err(|err| KernelFilterError::Translate {
                expression: expression.to_owned(),
                err,
            })?;
            stubs.push((hook, code));
        }
        Ok(KernelFilter { stubs })
    }

    /// (stub symbol, its instructions) for [`super::splice::splice`].
    pub fn stubs(&self) -> Vec<(&'static str, &[Insn])> {
        self.stubs.iter().map(|(h, code)| (stub_name(*h), &code[..])).collect()
    }

    /// eBPF instructions of the translation for `hook` (without the stub's padding).
    pub fn code_len(&self, hook: Hook) -> usize {
        self.stubs.iter().find(|(h, _)| *h == hook).map_or(0, |(_, c)| c.len())
    }
}

/// The symbol (part of it: the stubs' symbols are local, hence mangled) of `hook`'s stub.
pub fn stub_name(hook: Hook) -> &'static str {
    match hook {
        Hook::Xdp => names::FILTER_STUB_XDP,
        Hook::TcIngress => names::FILTER_STUB_TC_INGRESS,
        Hook::TcEgress => names::FILTER_STUB_TC_EGRESS,
    }
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

/// What a capture's filter is compiled for: libpcap's link type, the view of the frames the
/// translation gives the program, and the device whose live handle libpcap compiles it on.
struct Target<'a> {
    dlt: u32,
    view: View,
    device: Option<&'a str>,
}

/// A capture written as `linktype` (Linux cooked v2 for `-i any` and several interfaces, as
/// tcpdump's `-i any`) of `ifaces`.
fn target(ifaces: &[Interface], linktype: u32) -> Result<Target<'_>, KernelFilterError> {
    let frames = kernel_dlt(ifaces)?;
    Ok(if linktype == link::LINKTYPE_LINUX_SLL2 {
        Target {
            dlt: DLT_LINUX_SLL2,
            view: View::Sll2 {
                ethernet: frames == DLT_EN10MB,
            },
            device: Some("any"),
        }
    } else {
        Target {
            dlt: frames,
            view: View::Frame,
            device: ifaces.first().map(|i| i.name.as_str()),
        }
    })
}

/// `filter`'s expression compiled as tcpdump compiles it for a capture of `ifaces` written as
/// `linktype`, its accepting returns set to `snaplen`, translated for each hook.
pub fn for_kernel(
    filter: &Filter,
    ifaces: &[Interface],
    linktype: u32,
    snaplen: u32,
) -> Result<KernelFilter, KernelFilterError> {
    let t = target(ifaces, linktype)?;
    let expr = filter.expression();
    let live = match t.device {
        Some(device) => Filter::compile_live(expr, device, t.dlt, snaplen)?,
        None => None,
    };
    let compiled = match live {
        Some(f) => f,
        None => Filter::compile(expr, t.dlt, snaplen)?,
    };
    KernelFilter::translate(expr, compiled.insns(), t.view)
}

/// The classic program [`for_kernel`] translates (compiled on a dead handle).
pub fn kernel_insns(
    filter: &Filter,
    ifaces: &[Interface],
    linktype: u32,
    snaplen: u32,
) -> Result<Vec<CbpfInsn>, KernelFilterError> {
    let t = target(ifaces, linktype)?;
    Ok(Filter::compile(filter.expression(), t.dlt, snaplen)?.insns().to_vec())
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
        let on_eth = kernel_insns(&f, &eth[..1], link::LINKTYPE_ETHERNET, 1000).unwrap();
        assert_eq!(on_eth, f.insns().iter().map(|i| with_ret(*i, 1000)).collect::<Vec<_>>());
        let on_raw = kernel_insns(&f, &[iface("tun0", ARPHRD_NONE)], link::LINKTYPE_RAW, 1000).unwrap();
        assert_ne!(on_raw, on_eth);
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        assert_eq!(crate::filter::cbpf::run(&on_raw, &v4, 20), 1000);
        // Several interfaces: cooked, as tcpdump -i any -d ip (ldh [0]).
        let cooked = kernel_insns(&f, &eth, link::LINKTYPE_LINUX_SLL2, 1000).unwrap();
        assert_eq!((cooked[0].code, cooked[0].k), (0x28, 0));
    }

    fn with_ret(mut i: CbpfInsn, k: u32) -> CbpfInsn {
        if i.code == 0x06 && i.k != 0 {
            i.k = k;
        }
        i
    }
}
