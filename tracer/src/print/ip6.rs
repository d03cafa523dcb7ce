//! IPv6 (print-ip6.c).

use super::ip::IpInfo;
use super::out::Out;
use super::{Coverage, PResult, Printer, Trunc};
use crate::wire::get_u8;
use crate::wire::{ipproto, ipv6};

/// ip6_finddst(): the final destination named by a routing header (the last address of type
/// 0 or 2, segment 0 of type 4) behind the fixed header of `pkt`, else None.
pub(crate) fn ip6_finddst(pkt: &[u8]) -> Option<&[u8]> {
    let mut nh = *pkt.get(6)?;
    if !matches!(nh, 0 | 60 | 43 | 44 | 135 | 62) {
        return None;
    }
    let mut cp = ipv6::HEADER_LEN;
    while cp < pkt.len() {
        match nh {
            ipproto::HOPOPTS | ipproto::DSTOPTS | 135 | 62 => {
                let adv = (*pkt.get(cp + 1)? as usize + 1) << 3;
                nh = *pkt.get(cp)?;
                cp += adv;
            }
            ipproto::FRAGMENT => {
                nh = *pkt.get(cp)?;
                cp += 8;
            }
            ipproto::ROUTING => {
                let len = *pkt.get(cp + 1)? as usize;
                pkt.get(cp..cp + 4)?;
                return match pkt.get(cp + 2)? {
                    0 | 2 if len % 2 == 0 => {
                        // The addresses start after the 8-byte fixed part; use the last one
                        // captured (tcpdump stops at the first missing one).
                        let mut last = None;
                        for k in 0..len / 2 {
                            match pkt.get(cp + 8 + 16 * k..cp + 24 + 16 * k) {
                                Some(a) => last = Some(a),
                                None => break,
                            }
                        }
                        last
                    }
                    4 if len % 2 == 0 => pkt.get(cp + 8..cp + 24),
                    _ => None,
                };
            }
            _ => return None,
        }
    }
    None
}

impl Printer {
    pub(super) fn ip6(&mut self, out: &mut Vec<u8>, data: &[u8], length: usize) -> PResult {
        self.proto = "ip6";
        let h = ipv6::Header::new_checked(data).map_err(|_| Trunc)?;
        if length < ipv6::HEADER_LEN {
            out.s("truncated-ip6 ");
            out.u(length as u64);
            return Ok(());
        }
        out.s("IP6 ");
        if h.version() != 6 {
            out.s("version error: ");
            out.u(h.version() as u64);
            out.s(" != 6");
            return Ok(());
        }
        let payload_len = h.payload_len() as usize;
        // A zero payload length means a jumbogram only with a Jumbo Payload option (in a
        // hop-by-hop header, not decoded here); otherwise the payload is empty.
        let len = if payload_len != 0 {
            payload_len + ipv6::HEADER_LEN
        } else {
            length + ipv6::HEADER_LEN
        };
        let data = &data[..len.min(data.len())];
        let nh = h.next_header();
        let info = IpInfo {
            v6: true,
            src: &data[8..24],
            dst: &data[24..40],
            first_nh: nh,
            fragmented: false,
            cksum_dst: ip6_finddst(data).unwrap_or(&data[24..40]),
            ip_len: h.payload_len(),
            ttl: h.hop_limit(),
        };
        if !matches!(nh, ipproto::TCP | ipproto::UDP | ipproto::DCCP | ipproto::SCTP) {
            self.ip_addrs(out, &info);
        }
        let mut nh = nh;
        let mut cp = ipv6::HEADER_LEN;
        loop {
            match nh {
                ipproto::HOPOPTS | ipproto::DSTOPTS => {
                    self.proto = if nh == ipproto::HOPOPTS { "hbhopt" } else { "dstopt" };
                    let hlen = (get_u8(data, cp + 1).ok_or(Trunc)? as usize + 1) << 3;
                    out.s(if nh == ipproto::HOPOPTS { "HBH " } else { "DSTOPT " });
                    self.ip6_options(data, cp + 2, cp + hlen)?;
                    if len < cp + hlen {
                        // The header runs past the payload length.
                        self.limit(Coverage::Unsupported);
                        return Ok(());
                    }
                    nh = get_u8(data, cp).ok_or(Trunc)?;
                    cp += hlen;
                    if cp >= data.len() {
                        return Ok(());
                    }
                }
                ipproto::ROUTING | ipproto::FRAGMENT | 51 | 50 | 108 | 135 => {
                    // Routing and fragment headers, AH, ESP, IPcomp, mobility: not decoded yet.
                    self.limit(Coverage::Unsupported);
                    return Ok(());
                }
                _ => {
                    if payload_len != 0 && length < len {
                        out.s("truncated-ip6 - ");
                        out.u((len - length) as u64);
                        out.s(" bytes missing!");
                    }
                    let payload = data.get(cp..).unwrap_or(&[]);
                    // Without a Jumbo Payload option a zero payload length is just that.
                    let demux_len = if payload_len == 0 { 0 } else { len - cp };
                    return self.ip_demux(out, payload, demux_len, info, nh);
                }
            }
        }
    }

    /// ip6_opt_process() without -v: walk the options (a Jumbo Payload option changes the
    /// lengths, which we do not model), reading them as tcpdump does.
    fn ip6_options(&mut self, data: &[u8], mut i: usize, end: usize) -> PResult {
        while i < end {
            let t = get_u8(data, i).ok_or(Trunc)?;
            if t == 0 {
                i += 1;
                continue;
            }
            let l = get_u8(data, i + 1).ok_or(Trunc)? as usize;
            if t == 0xc2 || i + 2 + l > end {
                // Jumbo Payload, or an option running past its header.
                self.limit(Coverage::Unsupported);
            }
            i += 2 + l;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    fn eth_ipv6(nh: u8, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        f.extend_from_slice(&[nh, 64]);
        let mut a = [0u8; 16];
        a[0] = 0xfd;
        a[15] = 1;
        f.extend_from_slice(&a);
        a[15] = 2;
        f.extend_from_slice(&a);
        f.extend_from_slice(l4);
        f
    }

    #[test]
    fn echo_request() {
        let mut p = printer();
        let f = eth_ipv6(58, &[128, 0, 0, 0, 0, 5, 0, 1, 1, 2, 3, 4]);
        assert_eq!(
            line(&mut p, 1, &f),
            "IP6 fd00::1 > fd00::2: ICMP6, echo request, id 5, seq 1, length 12\n"
        );
        assert_eq!(line(&mut p, 1, &f[..50]), " [|ip6]\n");
    }
}
