//! Names instead of numbers when `-n` is not given, as tcpdump's addrtoname.c does:
//! ports from /etc/services (first entry per port and protocol), hosts by reverse look-up
//! (getnameinfo: /etc/hosts, then DNS), Ethernet addresses with their OUI's name.
//!
//! Every answer is cached: each address is looked up at most once per run, like tcpdump's
//! hash tables. With `-n` nothing is read or looked up.

use std::collections::HashMap;

use super::Printer;
use super::out::Out;

/// tcpdump's oui_values table (the OUIs it names in `-e` output without `-n`).
const OUI_NAMES: &[(u32, &str)] = &[
    (0x000000, "Ethernet"),
    (0x00000c, "Cisco"),
    (0x00005e, "IANA"),
    (0x000081, "Nortel Networks SONMP"),
    (0x0000f8, "Cisco bridged"),
    (0x0080c2, "Ethernet bridged"),
    (0x00a03e, "ATM Forum"),
    (0x00e02f, "DOCSIS Spanning Tree"),
    (0x080007, "Appletalk"),
    (0x009069, "Juniper"),
    (0x080009, "Hewlett-Packard"),
    (0x00120f, "IEEE 802.3 Private"),
    (0x0012bb, "ANSI/TIA"),
    (0x001b21, "DCBX"),
    (0x002320, "Nicira Networks"),
    (0x5c16c7, "Big Switch Networks"),
    (0xb0d2f5, "Vello Systems"),
    (0x002481, "HP"),
    (0x0004ea, "HP-Labs"),
    (0x748771, "Infoblox Inc"),
    (0xa42305, "Open Networking Lab"),
    (0x00049f, "Freescale"),
    (0x0015ad, "Netronome"),
    (0x001018, "Broadcom"),
    (0x00e004, "PMC-Sierra"),
    (0xd0f0db, "Ericsson"),
];

/// The name of an OUI as tcpdump's `tok2str(oui_values, "Unknown", oui)` gives it.
pub(crate) fn oui_name(oui: u32) -> &'static str {
    OUI_NAMES.iter().find(|(o, _)| *o == oui).map_or("Unknown", |(_, n)| n)
}

/// Port and host names, loaded on first use.
#[derive(Debug)]
pub(crate) struct Names {
    numeric: bool,
    /// tcpdump's f_localnet/f_netmask: only IPv4 hosts on this network are looked up (0/0 when
    /// reading a file: every host).
    local_net: u32,
    local_mask: u32,
    services: Option<Services>,
    hosts4: HashMap<[u8; 4], Option<Box<str>>>,
    hosts6: HashMap<[u8; 16], Option<Box<str>>>,
}

#[derive(Debug, Default)]
struct Services {
    tcp: HashMap<u16, Box<str>>,
    udp: HashMap<u16, Box<str>>,
}

impl Services {
    /// /etc/services as getservent() reads it: `name port/proto [aliases] [# comment]`.
    fn parse(text: &str) -> Services {
        let mut s = Services::default();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(pp)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let table = match proto {
                "tcp" => &mut s.tcp,
                "udp" => &mut s.udp,
                _ => continue,
            };
            // The first entry for a port wins (tcpdump's lookup stops at the first match).
            table.entry(port).or_insert_with(|| name.into());
        }
        s
    }

    fn load() -> Services {
        std::fs::read_to_string("/etc/services")
            .map(|t| Services::parse(&t))
            .unwrap_or_default()
    }
}

/// Reverse look-up of a socket address; `None` when there is no name.
fn reverse(addr: std::net::SocketAddr) -> Option<Box<str>> {
    let storage = raw_sockaddr::SockAddr::from(addr);
    let mut host = [0 as libc::c_char; libc::NI_MAXHOST as usize];
    // SAFETY: `storage` holds a valid sockaddr of the given length; `host` is writable for
    // its full length, and getnameinfo NUL-terminates what it writes there.
    let rc = unsafe {
        libc::getnameinfo(
            storage.as_ptr(),
            storage.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string into `host`.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into())
}

/// Just enough of a `sockaddr_storage` to hand an address to getnameinfo.
mod raw_sockaddr {
    use std::net::SocketAddr;

    pub struct SockAddr {
        storage: libc::sockaddr_storage,
        len: libc::socklen_t,
    }

    impl From<SocketAddr> for SockAddr {
        fn from(a: SocketAddr) -> SockAddr {
            // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
            let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let len = match a {
                SocketAddr::V4(v4) => {
                    // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                    let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                    sin.sin_family = libc::AF_INET as libc::sa_family_t;
                    sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                    size_of::<libc::sockaddr_in>()
                }
                SocketAddr::V6(v6) => {
                    // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                    let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                    sin6.sin6_addr.s6_addr = v6.ip().octets();
                    size_of::<libc::sockaddr_in6>()
                }
            };
            SockAddr {
                storage,
                len: len as libc::socklen_t,
            }
        }
    }

    impl SockAddr {
        pub fn as_ptr(&self) -> *const libc::sockaddr {
            &self.storage as *const _ as *const libc::sockaddr
        }
        pub fn len(&self) -> libc::socklen_t {
            self.len
        }
    }
}

impl Names {
    pub fn new(numeric: bool) -> Names {
        Names {
            numeric,
            local_net: 0,
            local_mask: 0,
            services: None,
            hosts4: HashMap::new(),
            hosts6: HashMap::new(),
        }
    }

    /// The capture interface's network: IPv4 hosts outside it print as numbers.
    pub fn set_local_net(&mut self, net: [u8; 4], mask: [u8; 4]) {
        self.local_mask = u32::from_be_bytes(mask);
        self.local_net = u32::from_be_bytes(net) & self.local_mask;
    }

    fn services(&mut self) -> &Services {
        self.services.get_or_insert_with(Services::load)
    }

    fn port(&mut self, out: &mut Vec<u8>, port: u16, udp: bool) {
        if !self.numeric {
            let s = self.services();
            let table = if udp { &s.udp } else { &s.tcp };
            if let Some(name) = table.get(&port) {
                out.s(name);
                return;
            }
        }
        out.u(port as u64);
    }

    /// tcpport_string().
    pub fn tcp_port(&mut self, out: &mut Vec<u8>, port: u16) {
        self.port(out, port, false);
    }

    /// udpport_string().
    pub fn udp_port(&mut self, out: &mut Vec<u8>, port: u16) {
        self.port(out, port, true);
    }

    /// ipaddr_string(): reading a file, tcpdump's local net is 0/0, so every address is
    /// looked up.
    pub fn ipv4(&mut self, out: &mut Vec<u8>, a: &[u8]) {
        let Ok(a4) = <[u8; 4]>::try_from(a.get(..4).unwrap_or(&[])) else {
            return;
        };
        if !self.numeric && u32::from_be_bytes(a4) & self.local_mask == self.local_net {
            let name = self
                .hosts4
                .entry(a4)
                .or_insert_with(|| reverse(std::net::SocketAddr::from((a4, 0))));
            if let Some(n) = name {
                out.s(n);
                return;
            }
        }
        out.ipv4(&a4);
    }

    /// ip6addr_string().
    pub fn ipv6(&mut self, out: &mut Vec<u8>, a: &[u8]) {
        let Ok(a16) = <[u8; 16]>::try_from(a.get(..16).unwrap_or(&[])) else {
            return;
        };
        if !self.numeric {
            let name = self
                .hosts6
                .entry(a16)
                .or_insert_with(|| reverse(std::net::SocketAddr::from((a16, 0))));
            if let Some(n) = name {
                out.s(n);
                return;
            }
        }
        out.ipv6(&a16);
    }

    /// etheraddr_string(): `Broadcast`, or the address followed by its OUI's name.
    pub fn ether(&mut self, out: &mut Vec<u8>, a: &[u8]) {
        if a.len() < 6 {
            return;
        }
        if !self.numeric && a[..6] == [0xff; 6] {
            out.s("Broadcast");
            return;
        }
        out.linkaddr(&a[..6]);
        if !self.numeric {
            out.s(" (oui ");
            out.s(oui_name(u32::from_be_bytes([0, a[0], a[1], a[2]])));
            out.c(b')');
        }
    }
}

impl Printer {
    /// Live capture: name only IPv4 hosts of the capture interface's network, as tcpdump does.
    pub fn set_local_net(&mut self, net: [u8; 4], mask: [u8; 4]) {
        self.names.set_local_net(net, mask);
    }

    /// An IPv4 or IPv6 address, named unless `-n`.
    pub(crate) fn addr(&mut self, out: &mut Vec<u8>, v6: bool, a: &[u8]) {
        if v6 {
            self.names.ipv6(out, a)
        } else {
            self.names.ipv4(out, a)
        }
    }
    pub(crate) fn ipaddr(&mut self, out: &mut Vec<u8>, a: &[u8]) {
        self.names.ipv4(out, a)
    }
    pub(crate) fn ip6addr(&mut self, out: &mut Vec<u8>, a: &[u8]) {
        self.names.ipv6(out, a)
    }
    pub(crate) fn tcp_port(&mut self, out: &mut Vec<u8>, port: u16) {
        self.names.tcp_port(out, port)
    }
    pub(crate) fn udp_port(&mut self, out: &mut Vec<u8>, port: u16) {
        self.names.udp_port(out, port)
    }
    pub(crate) fn etheraddr(&mut self, out: &mut Vec<u8>, a: &[u8]) {
        self.names.ether(out, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_first_entry_wins() {
        let s = Services::parse(
            "# comment\nhttp\t\t80/tcp\t\twww\t# WorldWideWeb\nfoo 80/tcp\nhttp 80/udp\ndomain 53/udp\nbad x/tcp\n",
        );
        assert_eq!(s.tcp.get(&80).map(|b| &**b), Some("http"));
        assert_eq!(s.udp.get(&53).map(|b| &**b), Some("domain"));
        assert_eq!(s.udp.get(&80).map(|b| &**b), Some("http"));
        assert_eq!(s.tcp.len(), 1);
    }

    #[test]
    fn numeric_prints_numbers() {
        let mut n = Names::new(true);
        let mut o = Vec::new();
        n.tcp_port(&mut o, 80);
        o.c(b' ');
        n.ipv4(&mut o, &[127, 0, 0, 1]);
        o.c(b' ');
        n.ether(&mut o, &[0xff; 6]);
        assert_eq!(o, b"80 127.0.0.1 ff:ff:ff:ff:ff:ff");
    }

    #[test]
    fn hosts_outside_the_local_net_stay_numeric() {
        let mut n = Names::new(false);
        n.set_local_net([10, 1, 0, 0], [255, 255, 0, 0]);
        let mut o = Vec::new();
        // 127.0.0.1 has a name in /etc/hosts on any Linux host, but is not on 10.1/16.
        n.ipv4(&mut o, &[127, 0, 0, 1]);
        assert_eq!(o, b"127.0.0.1");
        assert!(n.hosts4.is_empty());
    }

    #[test]
    fn ether_with_oui() {
        let mut n = Names::new(false);
        let mut o = Vec::new();
        n.ether(&mut o, &[0, 0, 0x0c, 1, 2, 3]);
        o.c(b' ');
        n.ether(&mut o, &[0xff; 6]);
        o.c(b' ');
        n.ether(&mut o, &[2, 0, 0, 0, 0, 1]);
        assert_eq!(
            o,
            b"00:00:0c:01:02:03 (oui Cisco) Broadcast 02:00:00:00:00:01 (oui Unknown)"
        );
    }
}
