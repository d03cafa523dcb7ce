//! The process that owns a packet's socket, for pcapng comments
//! (`pid 1234 curl`): the packet's TCP or UDP addresses and ports are matched
//! against the sockets of the tracer's network namespace, whose owners come
//! from /proc/PID/fd (as `ss -p`).
//!
//! Lookups are hash-map hits. On a miss the socket tables are read again (at
//! most every [`MIN_GAP`]), and /proc is scanned only for sockets not seen
//! before (at most every [`MIN_SCAN_GAP`]); each waits 20 times the CPU time
//! it last took (at most [`MAX_GAP`]) before it runs again, so neither takes
//! more than about 5 % of a CPU on a host with up to tens of thousands of
//! descriptors, and a flood of packets nobody here owns (forwarded, or to
//! closed ports) costs a look-up each and a table read now and then. Sockets are matched as the kernel would: the connected socket
//! of the exact 4-tuple, else a socket bound to the local address and port
//! (listeners, unconnected UDP), else one bound to the wildcard address.
//! Connections that closed keep their owner (their last packets arrive after
//! the socket is gone), up to [`MAX_FLOWS`] remembered flows.
//! TCP sockets come from NETLINK_SOCK_DIAG (`states::seed`), UDP ones from
//! /proc/net/udp and /proc/net/udp6.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    capture::link::{LINKTYPE_ETHERNET, LINKTYPE_RAW},
    states::{
        model::Owner,
        owners,
        seed::{self, unmap},
    },
};

/// Shortest time between two reads of the socket tables.
pub const MIN_GAP: Duration = Duration::from_millis(20);
/// Shortest time between two scans of /proc for the owners of new sockets.
pub const MIN_SCAN_GAP: Duration = Duration::from_millis(50);
/// Longest wait between two table reads or scans while misses keep coming.
pub const MAX_GAP: Duration = Duration::from_secs(1);
/// Flows remembered across refreshes (closed connections' owners).
pub const MAX_FLOWS: usize = 1 << 16;
/// A table read or a /proc scan waits this many times the CPU time it took before the next
/// (at most 5 % of a CPU while misses keep coming, unless that is over [`MAX_GAP`]).
const COST_FACTOR: u32 = 20;

/// foldhash: several times faster than SipHash on these small keys (a look-up per packet),
/// randomly seeded per process.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// One side of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct End {
    addr: IpAddr,
    port: u16,
}

/// A packet's transport addresses, local side first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    proto: u8,
    local: End,
    remote: End,
}

impl Flow {
    /// The flow of a TCP or UDP packet in `frame` (Ethernet, with up to two VLAN
    /// tags, or raw IP), oriented by direction: an outbound packet's source is
    /// the local side, an inbound one's destination. None for anything else
    /// (ARP, ICMP, later IP fragments, truncated headers).
    pub fn of_packet(linktype: u32, frame: &[u8], outbound: bool) -> Option<Flow> {
        let ip = match linktype {
            LINKTYPE_ETHERNET => {
                let mut ethertype = be16(frame, 12)?;
                let mut off = 14;
                for _ in 0..2 {
                    if ethertype != 0x8100 && ethertype != 0x88a8 {
                        break;
                    }
                    ethertype = be16(frame, off + 2)?;
                    off += 4;
                }
                match ethertype {
                    0x0800 | 0x86dd => frame.get(off..)?,
                    _ => return None,
                }
            }
            LINKTYPE_RAW => frame,
            _ => return None,
        };
        let (proto, src, dst, l4) = match ip.first()? >> 4 {
            4 => {
                let ihl = usize::from(ip.first()? & 0x0f) * 4;
                // Only the first fragment carries the ports.
                if ihl < 20 || be16(ip, 6)? & 0x1fff != 0 {
                    return None;
                }
                let src = Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(12..16)?).ok()?);
                let dst = Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(16..20)?).ok()?);
                (*ip.get(9)?, IpAddr::V4(src), IpAddr::V4(dst), ip.get(ihl..)?)
            }
            6 => {
                let src = Ipv6Addr::from(<[u8; 16]>::try_from(ip.get(8..24)?).ok()?);
                let dst = Ipv6Addr::from(<[u8; 16]>::try_from(ip.get(24..40)?).ok()?);
                let (proto, l4) = skip_ipv6_extensions(*ip.get(6)?, ip.get(40..)?)?;
                (proto, unmap(IpAddr::V6(src)), unmap(IpAddr::V6(dst)), l4)
            }
            _ => return None,
        };
        if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
            return None;
        }
        let sport = be16(l4, 0)?;
        let dport = be16(l4, 2)?;
        let (s, d) = (End { addr: src, port: sport }, End { addr: dst, port: dport });
        let (local, remote) = if outbound { (s, d) } else { (d, s) };
        Some(Flow { proto, local, remote })
    }
}

/// Hop-by-hop, routing and destination options headers are skipped (at most
/// four); a fragment header stops the walk unless it is the first fragment.
fn skip_ipv6_extensions(mut next: u8, mut rest: &[u8]) -> Option<(u8, &[u8])> {
    for _ in 0..4 {
        match next {
            0 | 43 | 60 => {
                let len = (usize::from(*rest.get(1)?) + 1) * 8;
                next = *rest.first()?;
                rest = rest.get(len..)?;
            }
            44 => {
                if be16(rest, 2)? & 0xfff8 != 0 {
                    return None;
                }
                next = *rest.first()?;
                rest = rest.get(8..)?;
            }
            _ => break,
        }
    }
    Some((next, rest))
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

/// A socket of the tables: its ends (remote unspecified with port 0 when not
/// connected) and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSocket {
    proto: u8,
    local: End,
    remote: End,
    inode: u64,
}

/// Packet → owning process, with the cache and refresh policy above.
#[derive(Debug, Default)]
pub struct OwnerCache {
    /// Connected sockets (and remembered closed flows).
    flows: Map<Flow, Arc<str>>,
    /// Bound sockets: (proto, local address or None for the wildcard, port).
    bound: Map<(u8, Option<IpAddr>, u16), Arc<str>>,
    /// Owner comment of each socket inode of the last table read (None: nobody holds it, or
    /// it could not be seen); new inodes are looked up in /proc.
    inodes: Map<u64, Option<Arc<str>>>,
    next_refresh: Option<Instant>,
    next_scan: Option<Instant>,
    refreshes: u64,
    scans: u64,
}

impl OwnerCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The comment for a packet: `pid PID COMM` of the socket's owner, if known.
    pub fn comment(&mut self, linktype: u32, frame: &[u8], outbound: bool) -> Option<Arc<str>> {
        let flow = Flow::of_packet(linktype, frame, outbound)?;
        if let Some(c) = self.find(&flow) {
            return Some(c);
        }
        let now = Instant::now();
        if !due(self.next_refresh, now) {
            return None;
        }
        self.refresh(now);
        self.find(&flow)
    }

    /// How often the socket tables were read.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }

    /// How often /proc was scanned.
    pub fn scans(&self) -> u64 {
        self.scans
    }

    fn find(&self, flow: &Flow) -> Option<Arc<str>> {
        if let Some(c) = self.flows.get(flow) {
            return Some(c.clone());
        }
        let port = flow.local.port;
        self.bound
            .get(&(flow.proto, Some(flow.local.addr), port))
            .or_else(|| self.bound.get(&(flow.proto, None, port)))
            .cloned()
    }

    /// Reads the socket tables again, and /proc for the owners of sockets not seen before
    /// (when its own rate limit allows).
    fn refresh(&mut self, start: Instant) {
        let cpu_start = thread_cpu();
        let sockets = read_sockets();
        self.refreshes += 1;
        let after_tables = Instant::now();
        let cpu_tables = thread_cpu();
        let new: HashSet<u64> = sockets
            .iter()
            .map(|s| s.inode)
            .filter(|i| !self.inodes.contains_key(i))
            .collect();
        // Not scanned now: those inodes stay new for the next refresh.
        let scan = !new.is_empty() && due(self.next_scan, after_tables);
        let owners = if scan {
            let owners = owners::scan_for(&new);
            self.scans += 1;
            let took = thread_cpu().saturating_sub(cpu_tables);
            // The first scan looks for every socket of the namespace; later ones only
            // for new sockets, a small part of that: its cost does not set the pace.
            let took = if self.scans == 1 { Duration::ZERO } else { took };
            self.next_scan = Some(Instant::now() + pause(MIN_SCAN_GAP, took));
            owners
        } else {
            owners::OwnerMap::new()
        };
        self.apply(&sockets, &owners, scan);
        let took = cpu_tables.saturating_sub(cpu_start);
        self.next_refresh = Some(start.max(after_tables) + pause(MIN_GAP, took));
    }

    /// Rebuilds the tables from `sockets`; `owners` holds what a /proc scan found for
    /// inodes not seen before (`scanned`: a scan ran, so the new inodes it did not find
    /// have no owner). Closed flows' owners are kept.
    pub fn apply(&mut self, sockets: &[TableSocket], owners: &owners::OwnerMap, scanned: bool) {
        let mut comments: HashMap<u32, Arc<str>> = HashMap::new();
        let mut inodes: Map<u64, Option<Arc<str>>> = Map::with_capacity_and_hasher(sockets.len(), Default::default());
        for s in sockets {
            let known = match self.inodes.get(&s.inode) {
                Some(c) => Some(c.clone()),
                None => match owners.get(&s.inode) {
                    Some(Owner { pid, comm }) => Some(Some(
                        comments
                            .entry(*pid)
                            .or_insert_with(|| Arc::from(format!("pid {pid} {comm}")))
                            .clone(),
                    )),
                    None => scanned.then_some(None),
                },
            };
            if let Some(c) = known {
                inodes.insert(s.inode, c);
            }
        }
        self.inodes = inodes;
        let mut flows: Map<Flow, Arc<str>> = Map::with_capacity_and_hasher(sockets.len(), Default::default());
        self.bound.clear();
        for s in sockets {
            let Some(Some(c)) = self.inodes.get(&s.inode) else {
                continue;
            };
            if s.remote.port == 0 && s.remote.addr.is_unspecified() {
                let local = (!s.local.addr.is_unspecified()).then_some(s.local.addr);
                self.bound.insert((s.proto, local, s.local.port), c.clone());
            } else {
                let flow = Flow {
                    proto: s.proto,
                    local: s.local,
                    remote: s.remote,
                };
                flows.insert(flow, c.clone());
            }
        }
        // Remember flows that closed since (their last packets may still come).
        if self.flows.len() + flows.len() <= MAX_FLOWS {
            for (k, v) in self.flows.drain() {
                flows.entry(k).or_insert(v);
            }
        }
        self.flows = flows;
    }
}

fn due(next: Option<Instant>, now: Instant) -> bool {
    next.is_none_or(|t| now >= t)
}

/// The wait before the next run of something that used `cpu` of CPU time: COST_FACTOR times
/// that, at least `min`, at most [`MAX_GAP`] (CPU time, not wall time: on a loaded machine
/// the wall time of a scan says little about its cost).
fn pause(min: Duration, cpu: Duration) -> Duration {
    cpu.saturating_mul(COST_FACTOR).clamp(min, MAX_GAP.max(min))
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    // SAFETY: timespec is plain old data; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// TCP sockets from sock_diag, UDP ones from /proc/net/udp{,6}, of this
/// network namespace. A table that cannot be read is left out (no comments
/// for its packets, the capture goes on).
fn read_sockets() -> Vec<TableSocket> {
    let mut out = Vec::new();
    if let Ok(tcp) = seed::dump() {
        out.extend(tcp.into_iter().filter(|s| s.inode != 0).map(|s| TableSocket {
            proto: IPPROTO_TCP,
            local: End {
                addr: s.tuple.src,
                port: s.tuple.sport,
            },
            remote: End {
                addr: s.tuple.dst,
                port: s.tuple.dport,
            },
            inode: s.inode,
        }));
    }
    for path in ["/proc/net/udp", "/proc/net/udp6"] {
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(parse_proc_net(&text, IPPROTO_UDP));
        }
    }
    out
}

/// The sockets of a /proc/net/{tcp,udp}{,6} table (addresses as the kernel
/// prints them: 32-bit words in host byte order, in hex).
pub fn parse_proc_net(text: &str, proto: u8) -> impl Iterator<Item = TableSocket> + '_ {
    text.lines().skip(1).filter_map(move |line| {
        let mut f = line.split_whitespace();
        let local = parse_end(f.nth(1)?)?;
        let remote = parse_end(f.next()?)?;
        // Skip st, tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, timeout.
        let inode: u64 = f.nth(6)?.parse().ok()?;
        (inode != 0).then_some(TableSocket {
            proto,
            local,
            remote,
            inode,
        })
    })
}

fn parse_end(s: &str) -> Option<End> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let addr = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            unmap(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => return None,
    };
    Some(End { addr, port })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::states::model::Comm;

    fn owner(pid: u32, comm: &str) -> Owner {
        Owner {
            pid,
            comm: Comm::from(comm),
        }
    }

    /// Ethernet + IPv4 + a transport header with the given ports.
    fn v4_frame(proto: u8, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, proto, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0u8; 16]);
        f
    }

    #[test]
    fn flows_of_packets() {
        let f = v4_frame(6, [10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        let out = Flow::of_packet(LINKTYPE_ETHERNET, &f, true).unwrap();
        assert_eq!(out.local.port, 40000);
        assert_eq!(out.remote.addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let inb = Flow::of_packet(LINKTYPE_ETHERNET, &f, false).unwrap();
        assert_eq!((inb.local.port, inb.remote.port), (80, 40000));
        // Raw IP, VLAN-tagged, ICMP, later fragments, truncation.
        assert_eq!(Flow::of_packet(LINKTYPE_RAW, &f[14..], true), Some(out));
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&f[12..]);
        assert_eq!(Flow::of_packet(LINKTYPE_ETHERNET, &tagged, true), Some(out));
        assert_eq!(
            Flow::of_packet(LINKTYPE_ETHERNET, &v4_frame(1, [1; 4], 0, [2; 4], 0), true),
            None
        );
        let mut frag = f.clone();
        frag[14 + 7] = 8;
        assert_eq!(Flow::of_packet(LINKTYPE_ETHERNET, &frag, true), None);
        for n in 0..f.len() - 16 {
            let got = Flow::of_packet(LINKTYPE_ETHERNET, &f[..n], true);
            assert_eq!(got.is_some(), n >= 14 + 20 + 4, "{n}");
        }
        assert_eq!(Flow::of_packet(276, &f, true), None);
        // IPv6 with a hop-by-hop header, UDP.
        let mut v6 = vec![0u8; 12];
        v6.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 16, 0, 64]);
        v6.extend_from_slice(&[0xfd; 16]);
        v6.extend_from_slice(&[0xfe; 16]);
        v6.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]);
        v6.extend_from_slice(&[0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0]);
        let fl = Flow::of_packet(LINKTYPE_ETHERNET, &v6, false).unwrap();
        assert_eq!((fl.proto, fl.local.port, fl.remote.port), (17, 53, 5000));
    }

    #[test]
    fn proc_net_tables() {
        let udp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                   \x20 123: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 4242 2 0000000000000000 0\n\
                   \x20 124: 0200000A:1388 0100000A:0035 01 00000000:00000000 00:00000000 00000000     0        0 0 2 0000000000000000 0\n";
        let v: Vec<TableSocket> = parse_proc_net(udp, IPPROTO_UDP).collect();
        assert_eq!(v.len(), 1, "inode 0 is skipped");
        assert_eq!(v[0].local.addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((v[0].local.port, v[0].remote.port, v[0].inode), (53, 0, 4242));
        let udp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                    \x20  10: 00000000000000000000000001000000:0202 0000000000000000FFFF00000100007F:0035 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0000000000000000 0\n";
        let v: Vec<TableSocket> = parse_proc_net(udp6, IPPROTO_UDP).collect();
        assert_eq!(v[0].local.addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(
            v[0].remote.addr,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "mapped address as IPv4"
        );
        assert_eq!(v[0].local.port, 514);
        assert!(parse_proc_net("header\ngarbage line\n", 6).next().is_none());
    }

    #[test]
    fn lookups_exact_bound_wildcard() {
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let sock = |proto, la, lp, ra, rp, inode| TableSocket {
            proto,
            local: End { addr: la, port: lp },
            remote: End { addr: ra, port: rp },
            inode,
        };
        let sockets = [
            sock(6, a, 40000, b, 80, 1),
            sock(6, any, 8080, any, 0, 2),
            sock(17, a, 5353, any, 0, 3),
            sock(6, a, 40001, b, 80, 99),
        ];
        let owners: owners::OwnerMap = [
            (1, owner(10, "curl")),
            (2, owner(20, "python3")),
            (3, owner(30, "dnsd")),
        ]
        .into_iter()
        .collect();
        let mut c = OwnerCache::new();
        c.apply(&sockets, &owners, true);
        // Keep refreshes away from the real tables.
        c.next_refresh = Some(Instant::now() + Duration::from_secs(3600));
        let f = v4_frame(6, [10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        assert_eq!(c.comment(LINKTYPE_ETHERNET, &f, true).as_deref(), Some("pid 10 curl"));
        // The same packet seen inbound is another flow (local port 80): nobody.
        assert_eq!(c.comment(LINKTYPE_ETHERNET, &f, false), None);
        // A SYN to the wildcard listener.
        let syn = v4_frame(6, [10, 0, 0, 2], 33333, [10, 0, 0, 1], 8080);
        assert_eq!(
            c.comment(LINKTYPE_ETHERNET, &syn, false).as_deref(),
            Some("pid 20 python3")
        );
        // UDP to the bound address, not to another.
        let q = v4_frame(17, [10, 0, 0, 2], 1234, [10, 0, 0, 1], 5353);
        assert_eq!(c.comment(LINKTYPE_ETHERNET, &q, false).as_deref(), Some("pid 30 dnsd"));
        let q2 = v4_frame(17, [10, 0, 0, 2], 1234, [10, 0, 0, 9], 5353);
        assert_eq!(c.comment(LINKTYPE_ETHERNET, &q2, false), None);
        // Unowned socket (inode 99 not in the map): no comment.
        let g = v4_frame(6, [10, 0, 0, 1], 40001, [10, 0, 0, 2], 80);
        assert_eq!(c.comment(LINKTYPE_ETHERNET, &g, true), None);
        // After the connection closes, its flow keeps its owner; the listener is gone.
        c.apply(&[], &owners::OwnerMap::new(), true);
        assert_eq!(c.comment(LINKTYPE_ETHERNET, &f, true).as_deref(), Some("pid 10 curl"));
        assert_eq!(c.comment(LINKTYPE_ETHERNET, &syn, false), None);
        assert_eq!(c.refreshes(), 0);
    }

    #[test]
    fn refresh_finds_own_socket() {
        // A UDP socket of this test process, found through the real tables.
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        f.extend_from_slice(&4444u16.to_be_bytes());
        f.extend_from_slice(&port.to_be_bytes());
        f.extend_from_slice(&[0, 8, 0, 0]);
        let mut c = OwnerCache::new();
        let got = c.comment(LINKTYPE_ETHERNET, &f, false);
        let want = format!("pid {} ", std::process::id());
        assert!(got.as_deref().is_some_and(|g| g.starts_with(&want)), "{got:?}");
        assert_eq!((c.refreshes(), c.scans()), (1, 1));
        // A miss right after does not read the tables again.
        f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(c.comment(LINKTYPE_ETHERNET, &f, false), None);
        assert_eq!(c.comment(LINKTYPE_ETHERNET, &f, false), None);
        assert_eq!(c.refreshes(), 1);
    }
}
