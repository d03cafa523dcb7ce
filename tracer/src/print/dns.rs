//! DNS (print-domain.c): the one-line summary of queries and responses tcpdump prints for
//! port 53, over UDP and TCP, and for multicast DNS on UDP port 5353.

use super::out::Out;
use super::tcp::print_char;
use super::{PResult, Printer, Trunc};
use crate::wire::{get_be16, get_be32, get_u8};

/// ns_ops[]: opcode names.
const OPS: [&str; 16] = [
    "",
    " inv_q",
    " stat",
    " op3",
    " notify",
    " update",
    " op6",
    " op7",
    " op8",
    " updateA",
    " updateD",
    " updateDA",
    " updateM",
    " updateMA",
    " zoneInit",
    " zoneRef",
];

/// ns_resp[]: response codes (the missing spaces are tcpdump's).
const RCODES: [&str; 24] = [
    "",
    " FormErr",
    " ServFail",
    " NXDomain",
    " NotImp",
    " Refused",
    " YXDomain",
    " YXRRSet",
    " NXRRSet",
    " NotAuth",
    " NotZone",
    " Resp11",
    " Resp12",
    " Resp13",
    " Resp14",
    " NoChange",
    " BadVers",
    "Resp17",
    " Resp18",
    " Resp19",
    " Resp20",
    "Resp21",
    " Resp22",
    " BadCookie",
];

const T_A: u16 = 1;
const T_NS: u16 = 2;
const T_CNAME: u16 = 5;
const T_SOA: u16 = 6;
const T_PTR: u16 = 12;
const T_MX: u16 = 15;
const T_TXT: u16 = 16;
const T_AAAA: u16 = 28;
const T_SRV: u16 = 33;
const T_A6: u16 = 38;
const T_DNAME: u16 = 39;
const T_OPT: u16 = 41;
const T_TSIG: u16 = 250;
const T_URI: u16 = 256;
const C_IN: u16 = 1;
const MAXCDNAME: usize = 255;

/// ns_type2str[] as 4.99.3 has it (found by asking it about every type).
fn type_name(t: u16) -> Option<&'static str> {
    Some(match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAP_PTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        31 => "EID",
        32 => "NIMLOC",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        40 => "SINK",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        99 => "SPF",
        100 => "UINFO",
        101 => "UID",
        102 => "GID",
        103 => "UNSPEC",
        104 => "UNSPECA",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        _ => return None,
    })
}

/// ns_class2str[].
fn class_name(c: u16) -> Option<&'static str> {
    Some(match c {
        1 => "IN",
        3 => "CHAOS",
        4 => "HS",
        255 => "ANY",
        _ => return None,
    })
}

/// edns_opt2str[].
fn edns_opt_name(o: u16) -> Option<&'static str> {
    Some(match o {
        1 => "LLQ",
        2 => "UL",
        3 => "NSID",
        5 => "DAU",
        6 => "DHU",
        7 => "N3U",
        8 => "ECS",
        9 => "EXPIRE",
        10 => "COOKIE",
        11 => "KEEPALIVE",
        12 => "PADDING",
        13 => "CHAIN",
        14 => "KEY-TAG",
        16 => "CLIENT-TAG",
        17 => "SERVER-TAG",
        _ => return None,
    })
}

/// dau_alg2str[].
fn dau_name(a: u8) -> Option<&'static str> {
    Some(match a {
        0 => "DELETE",
        1 => "RSAMD5",
        2 => "DH",
        3 => "DS",
        5 => "RSASHA1",
        6 => "DSA-NSEC3-SHA1",
        7 => "RSASHA1-NSEC3-SHA1",
        8 => "RSASHA256",
        10 => "RSASHA512",
        12 => "ECC-GOST",
        13 => "ECDSAP256SHA256",
        14 => "ECDSAP384SHA384",
        15 => "ED25519",
        16 => "ED448",
        252 => "INDIRECT",
        253 => "PRIVATEDNS",
        254 => "PRIVATEOID",
        _ => return None,
    })
}

/// dhu_alg2str[].
fn dhu_name(a: u8) -> Option<&'static str> {
    Some(match a {
        1 => "SHA-1",
        2 => "SHA-256",
        3 => "GOST_R_34.11-94",
        4 => "SHA-384",
        _ => return None,
    })
}

/// A DNS message: `buf` is what was captured of it, from its header on; positions are offsets
/// into it and may run past its end (tcpdump's pointers past `snapend`).
struct Msg<'a> {
    buf: &'a [u8],
    /// Multicast DNS (port 5353): the top bit of a class is a flag.
    mdns: bool,
}

impl Msg<'_> {
    fn has(&self, pos: usize, n: usize) -> bool {
        pos.checked_add(n).is_some_and(|e| e <= self.buf.len())
    }
    fn end(&self) -> usize {
        self.buf.len()
    }
    fn u8(&self, pos: usize) -> Result<u8, Trunc> {
        get_u8(self.buf, pos).ok_or(Trunc)
    }
    fn u16(&self, pos: usize) -> Result<u16, Trunc> {
        get_be16(self.buf, pos).ok_or(Trunc)
    }
    fn u32(&self, pos: usize) -> Result<u32, Trunc> {
        get_be32(self.buf, pos).ok_or(Trunc)
    }

    /// ns_nskip(): the position after a name, or None.
    fn nskip(&self, mut cp: usize) -> Option<usize> {
        let mut i = get_u8(self.buf, cp)?;
        cp += 1;
        while i != 0 {
            match i & 0xc0 {
                0xc0 => return Some(cp + 1),
                0x40 => {
                    if i & 0x3f != 0x01 {
                        return None;
                    }
                    let bitlen = match get_u8(self.buf, cp)? {
                        0 => 256,
                        b => b as usize,
                    };
                    cp += 1 + bitlen.div_ceil(8);
                }
                0x80 => return None,
                _ => cp += i as usize,
            }
            i = get_u8(self.buf, cp)?;
            cp += 1;
        }
        Some(cp)
    }
}

/// fn_print_char() over `n` bytes from `cp`, stopping at the end of the capture (nd_printn);
/// true when all `n` were there.
fn printn(out: &mut Vec<u8>, m: &Msg<'_>, cp: usize, n: usize) -> bool {
    for k in 0..n {
        match m.buf.get(cp + k) {
            Some(&c) => print_char(out, c),
            None => return false,
        }
    }
    true
}

impl Printer {
    /// domain_print(): `id[op][flags] ... (length)`; `data` is the UDP or TCP payload.
    pub(super) fn domain(
        &mut self,
        out: &mut Vec<u8>,
        data: &[u8],
        length: usize,
        over_tcp: bool,
        mdns: bool,
    ) -> PResult {
        self.proto = "domain";
        let mut length = length;
        let mut data = data;
        if over_tcp {
            if length < 2 {
                out.s(" [DNS over TCP: length ");
                out.u(length as u64);
                out.s(" < 2] (invalid)");
                return Ok(());
            }
            length -= 2;
            let prefix = get_be16(data, 0).ok_or(Trunc)? as usize;
            if prefix != length {
                out.s(" [prefix length(");
                out.u(prefix as u64);
                out.s(") != length(");
                out.u(length as u64);
                out.s(")] (invalid)");
                return Ok(());
            }
            data = &data[2..];
            out.c(b' ');
        }
        if length < 12 {
            out.s("domain [length ");
            out.u(length as u64);
            out.s(" < 12] (invalid)");
            return Ok(());
        }
        let m = Msg { buf: data, mdns };
        // ND_TCHECK_SIZE and every section that runs out of capture: domain_print()'s own
        // `goto trunc` (the marker, then return). Reads with GET_* macros longjmp (Err).
        if !m.has(0, 12) {
            self.trunc_here(out);
            return Ok(());
        }
        let id = m.u16(0)?;
        let flags = m.u16(2)?;
        let qd = m.u16(4)? as u32;
        let mut an = m.u16(6)? as u32;
        let mut ns = m.u16(8)? as u32;
        let mut ar = m.u16(10)? as u32;
        let rcode = extended_rcode(&m, flags, qd, an, ns, ar);
        let v = self.opts.verbose;
        let opcode = ((flags >> 11) & 0xf) as usize;
        let mut cp = 12usize;
        let ok = if flags & 0x8000 != 0 {
            out.u(id as u64);
            out.s(OPS[opcode]);
            match RCODES.get(rcode as usize) {
                Some(r) => out.s(r),
                None => {
                    out.s(" Resp");
                    out.u((rcode & 0xfff) as u64);
                }
            }
            if flags & 0x0400 != 0 {
                out.c(b'*');
            }
            if flags & 0x0080 == 0 {
                out.c(b'-');
            }
            if flags & 0x0200 != 0 {
                out.c(b'|');
            }
            if flags & 0x0020 != 0 {
                out.c(b'$');
            }
            if qd != 1 {
                out.s(" [");
                out.u(qd as u64);
                out.s("q]");
            }
            let mut ok = true;
            for i in 0..qd {
                if i != 0 {
                    out.c(b',');
                }
                let next = if v > 1 {
                    out.s(" q:");
                    self.ns_qprint(out, &m, cp)?
                } else {
                    m.nskip(cp).map(|c| c + 4)
                };
                match next {
                    Some(c) => cp = c,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                out.c(b' ');
                out.u(an as u64);
                out.c(b'/');
                out.u(ns as u64);
                out.c(b'/');
                out.u(ar as u64);
                ok = self.rr_list(out, &m, &mut cp, &mut an, None, true)?;
                if ok && v > 1 {
                    ok = self.rr_list(out, &m, &mut cp, &mut ns, Some(" ns:"), false)?
                        && self.rr_list(out, &m, &mut cp, &mut ar, Some(" ar:"), false)?;
                }
            }
            ok
        } else {
            out.u(id as u64);
            out.s(OPS[opcode]);
            if flags & 0x0100 != 0 {
                out.c(b'+');
            }
            if flags & 0x0010 != 0 {
                out.c(b'%');
            }
            if flags & 0x6cf != 0 {
                out.s(" [b2&3=0x");
                out.x(flags as u64);
                out.c(b']');
            }
            let bracket = |out: &mut Vec<u8>, n: u32, what: &str| {
                out.s(" [");
                out.u(n as u64);
                out.s(what);
                out.c(b']');
            };
            if opcode == 1 {
                if qd != 0 {
                    bracket(out, qd, "q");
                }
                if an != 1 {
                    bracket(out, an, "a");
                }
            } else {
                if an != 0 {
                    bracket(out, an, "a");
                }
                if qd != 1 {
                    bracket(out, qd, "q");
                }
            }
            if ns != 0 {
                bracket(out, ns, "n");
            }
            if ar != 0 {
                bracket(out, ar, "au");
            }
            let mut ok = true;
            let mut left = qd;
            while left > 0 && (left == qd || cp < m.end()) {
                match self.ns_qprint(out, &m, cp)? {
                    Some(c) => cp = c,
                    None => {
                        ok = false;
                        break;
                    }
                }
                left -= 1;
            }
            if ok && left != 0 {
                ok = false;
            }
            if ok && v > 1 {
                ok = self.rr_list(out, &m, &mut cp, &mut an, None, true)?
                    && self.rr_list(out, &m, &mut cp, &mut ns, Some(" ns:"), false)?
                    && self.rr_list(out, &m, &mut cp, &mut ar, Some(" ar:"), false)?;
            }
            ok
        };
        if !ok {
            self.trunc_here(out);
            return Ok(());
        }
        out.s(" (");
        out.u(length as u64);
        out.c(b')');
        Ok(())
    }

    /// One section's records, comma-separated; `label` is printed before the first (the
    /// answer section, `first_always`, starts even when the capture ended). False when the
    /// records ran out of capture (tcpdump's `goto trunc`).
    fn rr_list(
        &mut self,
        out: &mut Vec<u8>,
        m: &Msg<'_>,
        cp: &mut usize,
        count: &mut u32,
        label: Option<&str>,
        first_always: bool,
    ) -> Result<bool, Trunc> {
        if *count > 0 && (first_always || *cp < m.end()) {
            if let Some(l) = label {
                out.s(l);
            }
            match self.ns_rprint(out, m, *cp)? {
                Some(c) => *cp = c,
                None => return Ok(false),
            }
            *count -= 1;
            while *cp < m.end() && *count > 0 {
                out.c(b',');
                match self.ns_rprint(out, m, *cp)? {
                    Some(c) => *cp = c,
                    None => return Ok(false),
                }
                *count -= 1;
            }
        }
        Ok(*count == 0)
    }

    /// ns_qprint(): ` TYPE[ CLASS]? name`.
    fn ns_qprint(&mut self, out: &mut Vec<u8>, m: &Msg<'_>, np: usize) -> Result<Option<usize>, Trunc> {
        let Some(cp) = m.nskip(np) else {
            return Ok(None);
        };
        if !m.has(cp, 4) {
            return Ok(None);
        }
        let t = m.u16(cp)?;
        out.c(b' ');
        match type_name(t) {
            Some(n) => out.s(n),
            None => {
                out.s("Type");
                out.u(t as u64);
            }
        }
        let qclass = m.u16(cp + 2)?;
        let class = if m.mdns { qclass & !0x8000 } else { qclass };
        if class != C_IN {
            self.class(out, class);
        }
        if m.mdns {
            out.s(if qclass & 0x8000 != 0 { " (QU)" } else { " (QM)" });
        }
        out.s("? ");
        Ok(self.fqdn(out, m, np)?.map(|c| c + 4))
    }

    fn class(&mut self, out: &mut Vec<u8>, class: u16) {
        out.c(b' ');
        match class_name(class) {
            Some(n) => out.s(n),
            None => {
                out.s("(Class ");
                out.u(class as u64);
                out.c(b')');
            }
        }
    }

    /// ns_rprint(): one resource record; Some(end of its data) or, when its fixed part was
    /// not captured, Some(end of capture).
    fn ns_rprint(&mut self, out: &mut Vec<u8>, m: &Msg<'_>, cp: usize) -> Result<Option<usize>, Trunc> {
        let v = self.opts.verbose;
        let cp = if v > 0 {
            out.c(b' ');
            match self.fqdn(out, m, cp)? {
                Some(c) => Some(c),
                None => return Ok(None),
            }
        } else {
            m.nskip(cp)
        };
        let Some(mut cp) = cp.filter(|&c| m.has(c, 10)) else {
            return Ok(Some(m.end()));
        };
        let typ = m.u16(cp)?;
        let rclass = m.u16(cp + 2)?;
        let class = if m.mdns { rclass & !0x8000 } else { rclass };
        cp += 4;
        if class != C_IN && typ != T_OPT {
            self.class(out, class);
        }
        if m.mdns && rclass & 0x8000 != 0 {
            out.s(" (Cache flush)");
        }
        let mut opt_flags = 0;
        if typ == T_OPT {
            opt_flags = m.u16(cp + 2)?;
        } else if v > 2 {
            out.s(" [");
            relts(out, m.u32(cp)?);
            out.c(b']');
        }
        cp += 4;
        let len = m.u16(cp)? as usize;
        cp += 2;
        let rp = cp + len;
        out.c(b' ');
        match type_name(typ) {
            Some(n) => out.s(n),
            None => {
                out.s("Type");
                out.u(typ as u64);
            }
        }
        if rp > m.end() {
            return Ok(None);
        }
        match typ {
            T_A => {
                if !m.has(cp, 4) {
                    return Ok(None);
                }
                out.c(b' ');
                out.ipv4(&m.buf[cp..cp + 4]);
            }
            T_NS | T_CNAME | T_PTR | T_DNAME => {
                out.c(b' ');
                if self.fqdn(out, m, cp)?.is_none() {
                    return Ok(None);
                }
            }
            T_SOA if v > 0 => {
                out.c(b' ');
                let Some(c) = self.fqdn(out, m, cp)? else {
                    return Ok(None);
                };
                out.c(b' ');
                let Some(c) = self.fqdn(out, m, c)? else {
                    return Ok(None);
                };
                if !m.has(c, 20) {
                    return Ok(None);
                }
                for k in 0..5 {
                    out.c(b' ');
                    out.u(m.u32(c + 4 * k)? as u64);
                }
            }
            T_MX => {
                out.c(b' ');
                if !m.has(cp, 2) {
                    return Ok(None);
                }
                if self.fqdn(out, m, cp + 2)?.is_none() {
                    return Ok(None);
                }
                out.c(b' ');
                out.u(m.u16(cp)? as u64);
            }
            T_TXT => {
                let mut c = cp;
                while c < rp {
                    out.s(" \"");
                    let n = match get_u8(m.buf, c) {
                        Some(n) => n as usize,
                        None => return Ok(None),
                    };
                    if !printn(out, m, c + 1, n) {
                        return Ok(None);
                    }
                    c += 1 + n;
                    out.c(b'"');
                }
            }
            T_SRV => {
                out.c(b' ');
                if !m.has(cp, 6) {
                    return Ok(None);
                }
                if self.fqdn(out, m, cp + 6)?.is_none() {
                    return Ok(None);
                }
                out.c(b':');
                out.u(m.u16(cp + 4)? as u64);
                out.c(b' ');
                out.u(m.u16(cp)? as u64);
                out.c(b' ');
                out.u(m.u16(cp + 2)? as u64);
            }
            T_AAAA => {
                if !m.has(cp, 16) {
                    return Ok(None);
                }
                out.c(b' ');
                out.ipv6(&m.buf[cp..cp + 16]);
            }
            T_A6 => {
                let pbit = match get_u8(m.buf, cp) {
                    Some(p) => p as usize,
                    None => return Ok(None),
                };
                let pbyte = (pbit & !7) / 8;
                if pbit > 128 {
                    out.c(b' ');
                    out.u(pbit as u64);
                    out.s("(bad plen)");
                } else {
                    if pbit < 128 {
                        let mut a = [0u8; 16];
                        let src = m.buf.get(cp + 1..cp + 1 + 16 - pbyte).ok_or(Trunc)?;
                        a[pbyte..].copy_from_slice(src);
                        out.c(b' ');
                        out.u(pbit as u64);
                        out.c(b' ');
                        out.ipv6(&a);
                    }
                    if pbit > 0 {
                        out.c(b' ');
                        if self.fqdn(out, m, cp + 1 + 16 - pbyte)?.is_none() {
                            return Ok(None);
                        }
                    }
                }
            }
            T_URI => {
                if !m.has(cp, len) {
                    return Ok(None);
                }
                out.c(b' ');
                out.u(m.u16(cp)? as u64);
                out.c(b' ');
                out.u(m.u16(cp + 2)? as u64);
                out.c(b' ');
                if !printn(out, m, cp + 4, len.wrapping_sub(4)) {
                    return Ok(None);
                }
            }
            T_OPT => {
                out.s(" UDPsize=");
                out.u(class as u64);
                if opt_flags & 0x8000 != 0 {
                    out.s(" DO");
                }
                if cp < rp {
                    out.s(" [");
                    let mut c = cp;
                    while c < rp {
                        match self.eopt(out, m, c)? {
                            Some(n) => c = n,
                            None => return Ok(None),
                        }
                        if c < rp {
                            out.c(b',');
                        }
                    }
                    out.c(b']');
                }
            }
            T_TSIG if v > 0 => {
                out.c(b' ');
                let Some(mut c) = self.fqdn(out, m, cp)? else {
                    return Ok(None);
                };
                c += 6;
                for (k, name) in [" fudge=", " maclen=", " origid=", " error=", " otherlen="]
                    .iter()
                    .enumerate()
                {
                    if !m.has(c, 2) {
                        return Ok(None);
                    }
                    let val = m.u16(c)?;
                    out.s(name);
                    out.u(val as u64);
                    c += 2;
                    if k == 1 {
                        c += val as usize;
                    }
                }
            }
            T_SOA | T_TSIG => {}
            _ => {}
        }
        Ok(Some(rp))
    }

    /// eopt_print(): one EDNS option.
    fn eopt(&mut self, out: &mut Vec<u8>, m: &Msg<'_>, cp: usize) -> Result<Option<usize>, Trunc> {
        if !m.has(cp, 2) {
            return Ok(None);
        }
        let opt = m.u16(cp)?;
        match edns_opt_name(opt) {
            Some(n) => out.s(n),
            None => {
                out.s("Opt");
                out.u(opt as u64);
            }
        }
        if !m.has(cp + 2, 2) {
            return Ok(None);
        }
        let n = m.u16(cp + 2)? as usize;
        let cp = cp + 4;
        if !m.has(cp, n) {
            return Ok(None);
        }
        let d = &m.buf[cp..cp + n];
        if n > 0 {
            out.c(b' ');
            match opt {
                8 => ecs(out, d),
                10 => {
                    if n < 8 || (n > 8 && n < 16) || n > 40 {
                        out.s(" (invalid)");
                    } else {
                        for (i, &b) in d.iter().enumerate() {
                            if i == 8 {
                                out.c(b' ');
                            }
                            out.x_pad(b as u64, 2);
                        }
                    }
                }
                11 => {
                    if n != 2 {
                        out.s(" (invalid)");
                    } else {
                        // "%0.1f sec" of tenths of a second.
                        let t = u16::from_be_bytes([d[0], d[1]]);
                        out.u((t / 10) as u64);
                        out.c(b'.');
                        out.u((t % 10) as u64);
                        out.s(" sec");
                    }
                }
                9 => {
                    if n != 4 {
                        out.s(" (invalid)");
                    } else {
                        out.u(u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as u64);
                        out.s(" sec");
                    }
                }
                12 => {
                    out.c(b'(');
                    out.u(n as u64);
                    out.c(b')');
                }
                14 => {
                    if !n.is_multiple_of(2) {
                        out.s(" (invalid)");
                    } else {
                        for (i, w) in d.chunks_exact(2).enumerate() {
                            if i > 0 {
                                out.c(b' ');
                            }
                            out.u(u16::from_be_bytes([w[0], w[1]]) as u64);
                        }
                    }
                }
                5..=7 => {
                    for (i, &a) in d.iter().enumerate() {
                        if i > 0 {
                            out.c(b' ');
                        }
                        let name = match opt {
                            5 => dau_name(a),
                            6 => dhu_name(a),
                            _ => (a == 1).then_some("SHA-1"),
                        };
                        match name {
                            Some(s) => out.s(s),
                            None => {
                                out.s("Alg_");
                                out.u(a as u64);
                            }
                        }
                    }
                }
                13 => {
                    // fqdn_print() with the option's end as the message start.
                    let _ = self.fqdn_from(out, m, cp, cp + n)?;
                }
                _ => {
                    for &b in d {
                        out.x_pad(b as u64, 2);
                    }
                }
            }
        }
        Ok(Some(cp + n))
    }

    /// fqdn_print() with the message starting at offset 0.
    fn fqdn(&mut self, out: &mut Vec<u8>, m: &Msg<'_>, cp: usize) -> Result<Option<usize>, Trunc> {
        self.fqdn_from(out, m, cp, 0)
    }

    /// fqdn_print(): a domain name, following compression pointers (which must point back,
    /// before `cp`, relative to `bp`); the position after the name in place, or None.
    fn fqdn_from(&mut self, out: &mut Vec<u8>, m: &Msg<'_>, cp: usize, bp: usize) -> Result<Option<usize>, Trunc> {
        let Some(mut l) = labellen(out, m.buf, cp) else {
            return Ok(None);
        };
        let Some(mut i) = get_u8(m.buf, cp) else {
            return Ok(None);
        };
        // max_offset is a pointer difference cast to u_int in tcpdump: with bp after cp it
        // wraps around and every pointer is in range.
        let mut max_offset = cp.wrapping_sub(bp) as u32 as usize;
        let mut cp = cp + 1;
        let mut compress = false;
        // Where the name ends in place; unset (NULL) until a label or pointer is seen.
        let mut rp: Option<usize> = None;
        if i & 0xc0 != 0xc0 {
            rp = Some(cp + l);
        }
        if i == 0 {
            out.c(b'.');
            return Ok(rp);
        }
        let mut name_chars = 0usize;
        while i != 0 && cp < m.end() {
            match i & 0xc0 {
                0xc0 => {
                    if !compress {
                        rp = Some(cp + 1);
                        compress = true;
                    }
                    let Some(lo) = get_u8(m.buf, cp) else {
                        return Ok(None);
                    };
                    let offset = (((i as usize) << 8) | lo as usize) & 0x3fff;
                    if offset >= max_offset {
                        out.s("<BAD PTR>");
                        return Ok(None);
                    }
                    max_offset = offset;
                    cp = bp + offset;
                    let Some(b) = get_u8(m.buf, cp) else {
                        return Ok(None);
                    };
                    i = b;
                    let Some(nl) = labellen(out, m.buf, cp) else {
                        return Ok(None);
                    };
                    l = nl;
                    cp += 1;
                    continue;
                }
                0x40 => {
                    let elt = i & 0x3f;
                    if elt == 1 {
                        if !blabel(out, m, cp)? {
                            return Ok(None);
                        }
                    } else {
                        out.s("<ELT ");
                        out.u(elt as u64);
                        out.c(b'>');
                        return Ok(None);
                    }
                }
                0x80 => {
                    out.s("<BAD LABEL TYPE>");
                    return Ok(None);
                }
                _ => {
                    if name_chars + l <= MAXCDNAME {
                        if !printn(out, m, cp, l) {
                            return Ok(None);
                        }
                    } else if name_chars < MAXCDNAME && !printn(out, m, cp, MAXCDNAME - name_chars) {
                        return Ok(None);
                    }
                    name_chars += l;
                }
            }
            cp += l;
            if name_chars <= MAXCDNAME {
                out.c(b'.');
            }
            name_chars += 1;
            let Some(b) = get_u8(m.buf, cp) else {
                return Ok(None);
            };
            i = b;
            let Some(nl) = labellen(out, m.buf, cp) else {
                return Ok(None);
            };
            l = nl;
            cp += 1;
            if !compress {
                rp = rp.map(|r| r + l + 1);
            }
        }
        if name_chars > MAXCDNAME {
            out.s("<DOMAIN NAME TOO LONG>");
        }
        Ok(rp)
    }
}

/// labellen(): the length of the label at `cp` (a pointer's first byte as is), or None after
/// printing why (also used by ICMPv6 node-information names).
pub(super) fn labellen(out: &mut Vec<u8>, buf: &[u8], cp: usize) -> Option<usize> {
    let i = get_u8(buf, cp)?;
    match i & 0xc0 {
        0x40 => {
            let elt = i & 0x3f;
            if elt != 1 {
                out.s("<ELT ");
                out.u(elt as u64);
                out.c(b'>');
                return None;
            }
            let bitlen = match get_u8(buf, cp + 1)? {
                0 => 256,
                b => b as usize,
            };
            Some(bitlen.div_ceil(8) + 1)
        }
        0x80 => {
            out.s("<BAD LABEL TYPE>");
            None
        }
        _ => Some(i as usize),
    }
}

/// blabel_print(): an EDNS0 bit-string label, `\[x<hex>/<bits>]`.
fn blabel(out: &mut Vec<u8>, m: &Msg<'_>, cp: usize) -> Result<bool, Trunc> {
    let Some(b0) = get_u8(m.buf, cp) else {
        return Ok(false);
    };
    let bitlen = if b0 == 0 { 256 } else { b0 as usize };
    let slen = bitlen.div_ceil(4);
    let lim = cp + 1 + slen;
    out.s("\\[x");
    let mut bitp = cp + 1;
    let mut b = bitlen;
    while bitp < lim && b > 7 {
        out.x_pad(m.u8(bitp)? as u64, 2);
        b -= 8;
        bitp += 1;
    }
    if b > 4 {
        let tc = m.u8(bitp)?;
        out.x_pad((tc & (0xffu32 << (8 - b)) as u8) as u64, 2);
    } else if b > 0 {
        let tc = m.u8(bitp)?;
        out.x(((tc >> 4) & 0x0f & (0x0fu8 << (4 - b))) as u64);
    }
    out.c(b'/');
    out.u(bitlen as u64);
    out.c(b']');
    Ok(true)
}

/// print_eopt_ecs(): EDNS client subnet, `addr/source/scope`.
fn ecs(out: &mut Vec<u8>, d: &[u8]) {
    if d.len() < 4 {
        out.s(" (invalid)");
        return;
    }
    let family = u16::from_be_bytes([d[0], d[1]]);
    let (src_len, scope_len) = (d[2] as usize, d[3] as usize);
    let bits = match family {
        1 => 32,
        2 => 128,
        _ => {
            out.s(" (invalid)");
            return;
        }
    };
    let alen = d.len() - 4;
    if alen > bits / 8 || src_len > bits || scope_len > bits || src_len.div_ceil(8) != alen {
        out.s(" (invalid)");
        return;
    }
    let mut padded = [0u8; 16];
    padded[..alen].copy_from_slice(&d[4..]);
    if family == 1 {
        out.ipv4(&padded[..4]);
    } else {
        out.ipv6(&padded);
    }
    out.c(b'/');
    out.u(src_len as u64);
    out.c(b'/');
    out.u(scope_len as u64);
}

/// unsigned_relts_print(): a duration as `1w2d3h4m5s`.
fn relts(out: &mut Vec<u8>, mut secs: u32) {
    const UNITS: [(u32, &str); 6] = [
        (31_536_000, "y"),
        (604_800, "w"),
        (86_400, "d"),
        (3600, "h"),
        (60, "m"),
        (1, "s"),
    ];
    if secs == 0 {
        out.s("0s");
        return;
    }
    for (n, u) in UNITS {
        if secs >= n {
            out.u((secs / n) as u64);
            out.s(u);
            secs %= n;
        }
    }
}

/// The rcode, extended by an OPT record's high bits when the walk over the sections finds one.
fn extended_rcode(m: &Msg<'_>, flags: u16, qd: u32, an: u32, ns: u32, ar: u32) -> u32 {
    let mut rcode = (flags & 0xf) as u32;
    let end = m.end();
    let mut cp = 12usize;
    for _ in 0..qd {
        let Some(c) = m.nskip(cp) else { return rcode };
        cp = c + 4;
        if cp >= end {
            return rcode;
        }
    }
    for _ in 0..an.saturating_add(ns) {
        let Some(c) = m.nskip(cp) else { return rcode };
        cp = c + 8;
        let Some(rdlen) = get_be16(m.buf, cp) else { return rcode };
        cp += 2 + rdlen as usize;
        if cp >= end {
            return rcode;
        }
    }
    for _ in 0..ar {
        let Some(c) = m.nskip(cp) else { return rcode };
        let Some(t) = get_be16(m.buf, c) else { return rcode };
        cp = c + 4;
        let Some(hi) = get_u8(m.buf, cp) else { return rcode };
        if t == T_OPT {
            rcode |= (hi as u32) << 4;
            return rcode;
        }
        cp += 4;
        let Some(rdlen) = get_be16(m.buf, cp) else { return rcode };
        cp += 2 + rdlen as usize;
        if cp >= end {
            return rcode;
        }
    }
    rcode
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn truncation_returns_or_longjmps_as_tcpdump() {
        let mut p = printer();
        p.opts.hex = 1;
        // A query for a.b from port 1000 to 53.
        let mut udp = vec![3, 0xe8, 0, 53, 0, 29, 0, 0];
        udp.extend_from_slice(&[0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 1, b'b', 0, 0, 1, 0, 1]);
        let f = eth_ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], &udp);
        assert_eq!(
            line(&mut p, 1, &f).lines().next(),
            Some("IP 10.0.0.1.1000 > 10.0.0.2.53: 1+ A? a.b. (21)")
        );
        // The header or the question cut short: domain_print()'s `goto trunc` returns, and the
        // dump skips the link header.
        for (cut, text) in [
            (52, "IP 10.0.0.1.1000 > 10.0.0.2.53:  [|domain]"),
            (56, "IP 10.0.0.1.1000 > 10.0.0.2.53: 1+ [|domain]"),
        ] {
            let l = line_cut(&mut p, 1, &f, cut);
            assert_eq!(l.lines().next(), Some(text), "cut {cut}");
            assert!(l.contains("\n\t0x0000:  4500 0031 "), "cut {cut}: {l}");
        }
        // Over TCP, the length prefix not captured: GET_BE_U_2 longjmps, the dump starts at the
        // link header.
        let mut tcp = vec![0, 1, 0, 53, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x18, 4, 0, 0, 0, 0, 0];
        tcp.extend_from_slice(&[0, 21]);
        tcp.extend_from_slice(&udp[8..]);
        let f = eth_ipv4(6, [10, 0, 0, 1], [10, 0, 0, 2], &tcp);
        let l = line_cut(&mut p, 1, &f, 14 + 20 + 20 + 1);
        assert!(l.contains("length 23 [|domain]\n\t0x0000:  0200 "), "{l}");
    }
}
