//! pcap-filter expressions compiled by libpcap itself, through the `pcap` crate, on a dead
//! capture handle of the capture's link type: the same code tcpdump runs, hence the same
//! packets selected and the same error messages.

use std::path::Path;

use tracer_common::CbpfInsn;

use super::FilterError;

/// Link-layer header types that libpcap names differently in files (LINKTYPE_*) and in its
/// compiler (DLT_*) on Linux; every other value is the same in both (pcap-common.c).
const LINKTYPE_TO_DLT: &[(u32, u32)] = &[
    (100, 11), // ATM_RFC1483
    (101, 12), // RAW
    (102, 15), // SLIP_BSDOS
    (103, 16), // PPP_BSDOS
    (106, 19), // ATM_CLIP
];

/// The DLT_* value libpcap's compiler knows a file's LINKTYPE_* value by (what libpcap's
/// `pcap_datalink()` returns for a file).
pub fn dlt_of_linktype(linktype: u32) -> u32 {
    LINKTYPE_TO_DLT
        .iter()
        .find(|&&(lt, _)| lt == linktype)
        .map_or(linktype, |&(_, dlt)| dlt)
}

/// libpcap's optimised program for `expr` on link type `dlt`, its accepting returns set to
/// `snaplen` (what a handle opened with that snapshot length gets).
pub(super) fn compile(expr: &str, dlt: u32, snaplen: u32) -> Result<Vec<CbpfInsn>, FilterError> {
    let dlt = i32::try_from(dlt).map_err(|_| FilterError::Compile {
        message: format!("unknown data link type {dlt}"),
    })?;
    let handle = ::pcap::Capture::dead(::pcap::Linktype(dlt)).map_err(libpcap_error)?;
    program(&handle, expr, snaplen)
}

/// The program tcpdump compiles for `expr` when it captures on `device`: on a live handle,
/// for which libpcap on Linux generates code that reads the kernel's metadata where the
/// packet data lacks something (a VLAN tag the kernel moved out of the frame, the direction,
/// the interface index). Opening the handle takes a packet socket (CAP_NET_RAW) for a few
/// milliseconds; None when it cannot be opened, or when its link type is not `dlt`.
pub(super) fn compile_live(
    expr: &str,
    device: &str,
    dlt: u32,
    snaplen: u32,
) -> Result<Option<Vec<CbpfInsn>>, FilterError> {
    let handle = ::pcap::Capture::from_device(device).map(|c| {
        c.snaplen(i32::try_from(snaplen).unwrap_or(i32::MAX))
            .immediate_mode(true)
            .buffer_size(1 << 16)
            .open()
    });
    let Ok(Ok(handle)) = handle else {
        return Ok(None);
    };
    let program = if u32::try_from(handle.get_datalink().0).ok() == Some(dlt) {
        program(&handle, expr, snaplen).map(Some)
    } else {
        Ok(None)
    };
    // Closing the handle's packet socket waits for an RCU grace period (tens of
    // milliseconds): let that happen beside the rest of the start-up.
    std::thread::spawn(move || drop(handle));
    program
}

/// The program tcpdump compiles for `expr` when it reads `path`: on libpcap's own handle for
/// that file, which knows more than its link type (a DLT_NULL header written on a machine of
/// the other byte order is compared byte-swapped). None when libpcap cannot open the file.
pub(super) fn compile_for_file(expr: &str, path: &Path, snaplen: u32) -> Result<Option<Vec<CbpfInsn>>, FilterError> {
    match ::pcap::Capture::from_file(path) {
        Ok(handle) => program(&handle, expr, snaplen).map(Some),
        Err(_) => Ok(None),
    }
}

fn program<T: ::pcap::Activated + ?Sized>(
    handle: &::pcap::Capture<T>,
    expr: &str,
    snaplen: u32,
) -> Result<Vec<CbpfInsn>, FilterError> {
    if snaplen == 0 {
        // libpcap's own refusal for a handle with a snapshot length of 0.
        return Err(FilterError::Compile {
            message: "snaplen of 0 rejects all packets".into(),
        });
    }
    let program = handle.compile(expr, true).map_err(libpcap_error)?;
    program
        .get_instructions()
        .iter()
        .map(|insn| {
            // The crate shows an instruction's fields only as text: "code jt jf k".
            let text = insn.to_string();
            let mut insn = parse_insn(&text).ok_or(FilterError::Instruction { text })?;
            if insn.code == super::cbpf::RET | super::cbpf::K && insn.k != 0 {
                insn.k = snaplen;
            }
            Ok(insn)
        })
        .collect()
}

fn libpcap_error(e: ::pcap::Error) -> FilterError {
    let message = match e {
        ::pcap::Error::PcapError(m) => m,
        other => other.to_string(),
    };
    FilterError::Compile { message }
}

/// "code jt jf k", as `pcap::BpfInstruction` displays itself.
fn parse_insn(text: &str) -> Option<CbpfInsn> {
    let mut f = text.split(' ');
    let insn = CbpfInsn {
        code: f.next()?.parse().ok()?,
        jt: f.next()?.parse().ok()?,
        jf: f.next()?.parse().ok()?,
        k: f.next()?.parse().ok()?,
    };
    f.next().is_none().then_some(insn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_text() {
        assert_eq!(
            parse_insn("40 0 0 12"),
            Some(CbpfInsn {
                code: 40,
                jt: 0,
                jf: 0,
                k: 12
            })
        );
        assert_eq!(parse_insn("6 0 0 4294967295").map(|i| i.k), Some(u32::MAX));
        for bad in ["", "1 2 3", "1 2 3 4 5", "70000 0 0 0", "1 256 0 0", "a b c d"] {
            assert_eq!(parse_insn(bad), None, "{bad}");
        }
    }

    #[test]
    fn linktypes() {
        assert_eq!(dlt_of_linktype(1), 1);
        assert_eq!(dlt_of_linktype(101), 12);
        assert_eq!(dlt_of_linktype(276), 276);
    }

    #[test]
    fn libpcap_program_for_ethernet() {
        // tcpdump -d 'ip' on Ethernet: ldh [12]; jeq #0x800 jt 2 jf 3; ret #snaplen; ret #0.
        let p = compile("ip", 1, 1000).unwrap();
        let got: Vec<(u16, u8, u8, u32)> = p.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        assert_eq!(
            got,
            [
                (0x28, 0, 0, 12),
                (0x15, 0, 1, 0x800),
                (0x06, 0, 0, 1000),
                (0x06, 0, 0, 0)
            ]
        );
    }
}
