//! The kernel's TCP socket table, read through NETLINK_SOCK_DIAG: every TCP
//! socket of the current network namespace, IPv4 and IPv6, in every state,
//! counted as `ss -tan` counts them.
//!
//! What `ss -tan` asks for (iproute2 6.1, seen with strace): one
//! SOCK_DIAG_BY_FAMILY dump per family with `idiag_states = 0xfff` (every
//! state bit from UNKNOWN to CLOSING). The kernel adds NEW_SYN_RECV to the
//! mask when SYN_RECV is in it, so request sockets (half-open connections)
//! are listed, reported with state SYN_RECV; timewait sockets are reported
//! with their substate (TIME_WAIT, or FIN_WAIT2 for an orphaned socket that
//! waits for the peer's FIN in a timewait socket). Sockets that are only bound
//! (bind() without listen() or connect()) are not in the hashes this mask
//! walks, and so neither `ss -tan` nor this module lists them (newer ss shows
//! them with `-B`, state UNCONN). Sockets of other network namespaces are
//! never listed: the kernel answers for the namespace of the netlink socket.

use std::{
    io,
    net::{IpAddr, Ipv6Addr},
    os::unix::fs::MetadataExt as _,
};

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, AF_INET6, IPPROTO_TCP},
    inet::{ExtensionFlags, InetRequest, InetResponseHeader, SocketId, StateFlags},
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

use super::{
    model::{SocketInfo, Tuple},
    owners::{self, OwnerMap},
};

/// The state mask `ss -tan` sends: bits 0 (UNKNOWN) to 11 (CLOSING).
const SS_ALL_STATES: u32 = 0xfff;

/// Receive buffer: the kernel fills up to about 32 KiB of messages per read
/// (ss uses the same size).
const RECV_BUF: usize = 64 * 1024;

/// Why the socket table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("opening a NETLINK_SOCK_DIAG socket: {0}")]
    Socket(#[source] io::Error),
    #[error("sending the {family} socket dump request: {source}")]
    Send {
        family: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("reading the {family} socket dump: {source}")]
    Recv {
        family: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the kernel refused the {family} socket dump: error {code}")]
    Kernel { family: &'static str, code: i32 },
    #[error("malformed {family} socket dump message: {detail}")]
    Decode { family: &'static str, detail: String },
    #[error("reading this process's network namespace (/proc/self/ns/net): {0}")]
    Netns(#[source] io::Error),
}

/// The inode number of this process's network namespace (what `ip netns
/// identify` and `ls -L -i /proc/self/ns/net` show, and the tracepoint
/// events carry).
pub fn current_netns() -> io::Result<u32> {
    let ino = std::fs::metadata("/proc/self/ns/net")?.ino();
    u32::try_from(ino).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "netns inode above 32 bits"))
}

/// Every TCP socket of the current network namespace, with its owner (see
/// [`owners`]) where a process holds it. `since_ns` is None: the table does
/// not say when a socket entered its state.
pub fn snapshot() -> Result<Vec<SocketInfo>, SeedError> {
    let mut sockets = dump()?;
    let inodes = sockets.iter().map(|s| s.inode).filter(|&i| i != 0).collect();
    attach_owners(&mut sockets, &owners::scan_for(&inodes));
    Ok(sockets)
}

/// Every TCP socket of the current network namespace, without owners.
pub fn dump() -> Result<Vec<SocketInfo>, SeedError> {
    dump_as(current_netns().map_err(SeedError::Netns)?)
}

/// Every TCP socket of the calling thread's network namespace, labelled
/// `netns` (a thread that entered another namespace with setns(2) knows its
/// inode; /proc/self names the thread group's).
pub fn dump_as(netns: u32) -> Result<Vec<SocketInfo>, SeedError> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG).map_err(SeedError::Socket)?;
    socket.bind_auto().map_err(SeedError::Socket)?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(SeedError::Socket)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; RECV_BUF];
    for (seq, family) in [(1, AF_INET), (2, AF_INET6)] {
        dump_family(&socket, family, seq, netns, &mut buf, &mut out)?;
    }
    Ok(out)
}

/// Reads the request sockets (half-open connections: SYN received, handshake
/// not completed) of the current network namespace, again and again through
/// one netlink socket: a dump with only the SYN_RECV state bit (the kernel
/// adds NEW_SYN_RECV), so the answer is empty and cheap when there are none.
/// Full sockets in SYN_RECV (a child for an instant, or a Fast Open one)
/// are listed too.
pub struct RequestPoll {
    socket: Socket,
    buf: Vec<u8>,
    netns: u32,
    seq: u32,
}

impl RequestPoll {
    pub fn new() -> Result<Self, SeedError> {
        let netns = current_netns().map_err(SeedError::Netns)?;
        let mut socket = Socket::new(NETLINK_SOCK_DIAG).map_err(SeedError::Socket)?;
        socket.bind_auto().map_err(SeedError::Socket)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(SeedError::Socket)?;
        Ok(Self {
            socket,
            buf: vec![0u8; RECV_BUF],
            netns,
            seq: 0,
        })
    }

    /// The namespace the requests are read in.
    pub fn netns(&self) -> u32 {
        self.netns
    }

    /// Replaces `out` with the current request sockets (state SYN_RECV, no owner).
    pub fn poll(&mut self, out: &mut Vec<SocketInfo>) -> Result<(), SeedError> {
        out.clear();
        for family in [AF_INET, AF_INET6] {
            self.seq = self.seq.wrapping_add(1);
            dump_family_states(
                &self.socket,
                family,
                self.seq,
                1 << SYN_RECV_STATE,
                self.netns,
                &mut self.buf,
                out,
            )?;
        }
        Ok(())
    }
}

/// Kernel state number of SYN_RECV (a state bit of the dump request).
const SYN_RECV_STATE: u32 = 3;

/// Sets `owner` of every socket whose inode a process holds.
pub fn attach_owners(sockets: &mut [SocketInfo], map: &OwnerMap) {
    for s in sockets.iter_mut().filter(|s| s.inode != 0) {
        s.owner = map.get(&s.inode).cloned();
    }
}

fn family_name(family: u8) -> &'static str {
    if family == AF_INET { "IPv4" } else { "IPv6" }
}

fn request(family: u8, seq: u32, states: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::from_bits_retain(states),
            socket_id: if family == AF_INET {
                SocketId::new_v4()
            } else {
                SocketId::new_v6()
            },
        })
        .into(),
    );
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

fn dump_family(
    socket: &Socket,
    family: u8,
    seq: u32,
    netns: u32,
    buf: &mut [u8],
    out: &mut Vec<SocketInfo>,
) -> Result<(), SeedError> {
    dump_family_states(socket, family, seq, SS_ALL_STATES, netns, buf, out)
}

fn dump_family_states(
    socket: &Socket,
    family: u8,
    seq: u32,
    states: u32,
    netns: u32,
    buf: &mut [u8],
    out: &mut Vec<SocketInfo>,
) -> Result<(), SeedError> {
    let name = family_name(family);
    socket
        .send(&request(family, seq, states), 0)
        .map_err(|source| SeedError::Send { family: name, source })?;
    loop {
        let n = loop {
            match socket.recv(&mut &mut buf[..], 0) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(SeedError::Recv { family: name, source }),
            }
        };
        let data = buf.get(..n).unwrap_or_default();
        if parse_batch(data, family, seq, netns, out)? {
            return Ok(());
        }
    }
}

/// Parses one read of a dump: appends the sockets it lists to `out`.
/// Returns true once the dump's end (NLMSG_DONE) was read. Messages of other
/// sequence numbers are skipped.
pub fn parse_batch(
    mut data: &[u8],
    family: u8,
    seq: u32,
    netns: u32,
    out: &mut Vec<SocketInfo>,
) -> Result<bool, SeedError> {
    let name = family_name(family);
    let decode = |detail: String| SeedError::Decode { family: name, detail };
    while !data.is_empty() {
        let msg = NetlinkMessage::<SockDiagMessage>::deserialize(data).map_err(|e| decode(e.to_string()))?;
        let len = usize::try_from(msg.header.length).unwrap_or(usize::MAX);
        // Messages are 4-byte aligned; the last one may lack its padding.
        let step = len.checked_add(3).map(|l| l & !3).unwrap_or(usize::MAX);
        if len < 16 {
            return Err(decode(format!("message length {len}")));
        }
        data = data.get(step..).unwrap_or_default();
        if msg.header.sequence_number != seq {
            continue;
        }
        match msg.payload {
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(resp)) => {
                out.push(socket_info(&resp.header, netns));
            }
            NetlinkPayload::Done(done) => {
                if done.code != 0 {
                    return Err(SeedError::Kernel {
                        family: name,
                        code: done.code,
                    });
                }
                return Ok(true);
            }
            NetlinkPayload::Error(err) => {
                return Err(SeedError::Kernel {
                    family: name,
                    code: err.code.map_or(0, |c| c.get()),
                });
            }
            NetlinkPayload::Noop | NetlinkPayload::Overrun(_) => {}
            NetlinkPayload::InnerMessage(other) => {
                return Err(decode(format!("unexpected message type {}", other.message_type())));
            }
            other => {
                return Err(decode(format!(
                    "unexpected netlink message type {}",
                    other.message_type()
                )));
            }
        }
    }
    Ok(false)
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as IPv4; others unchanged.
pub fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// A dual-stack socket bound to `::` or connected to an IPv4 peer reports
/// `::ffff:…` on one side only when the other is `::`: both sides are
/// unmapped together so that a tuple is either all IPv4 or all IPv6.
fn tuple(id: &SocketId) -> Tuple {
    let (src, dst) = (id.source_address, id.destination_address);
    let mapped_or_any = |a: IpAddr| match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some() || v6 == Ipv6Addr::UNSPECIFIED,
        IpAddr::V4(_) => true,
    };
    let any_mapped = [src, dst]
        .iter()
        .any(|a| matches!(a, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()));
    let (src, dst) = if any_mapped && mapped_or_any(src) && mapped_or_any(dst) {
        let v4 = |a: IpAddr| match unmap(a) {
            IpAddr::V6(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            v4 => v4,
        };
        (v4(src), v4(dst))
    } else {
        (src, dst)
    };
    Tuple {
        src,
        sport: id.source_port,
        dst,
        dport: id.destination_port,
    }
}

fn socket_info(h: &InetResponseHeader, netns: u32) -> SocketInfo {
    SocketInfo {
        netns,
        tuple: tuple(&h.socket_id),
        state: h.state,
        owner: None,
        since_ns: None,
        inode: u64::from(h.inode),
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, net::Ipv4Addr};

    use netlink_packet_core::{DoneMessage, ErrorMessage};
    use netlink_packet_sock_diag::inet::{InetResponse, InetResponseHeader};

    use super::*;

    fn resp(family: u8, state: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16, inode: u32) -> SockDiagMessage {
        let mut socket_id = if family == AF_INET {
            SocketId::new_v4()
        } else {
            SocketId::new_v6()
        };
        socket_id.source_address = src;
        socket_id.source_port = sport;
        socket_id.destination_address = dst;
        socket_id.destination_port = dport;
        SockDiagMessage::InetResponse(Box::new(InetResponse {
            header: InetResponseHeader {
                family,
                state,
                timer: None,
                socket_id,
                recv_queue: 0,
                send_queue: 0,
                uid: 0,
                inode,
            },
            nlas: Default::default(),
        }))
    }

    fn emit(seq: u32, payload: NetlinkPayload<SockDiagMessage>, out: &mut Vec<u8>) {
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        let mut msg = NetlinkMessage::new(header, payload);
        msg.finalize();
        let start = out.len();
        out.resize(start + msg.buffer_len(), 0);
        msg.serialize(&mut out[start..]);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    #[test]
    fn parses_a_dump_until_done() {
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        let mut data = Vec::new();
        emit(
            7,
            NetlinkPayload::InnerMessage(resp(AF_INET, 10, v4(0, 0, 0, 0), 80, v4(0, 0, 0, 0), 0, 1234)),
            &mut data,
        );
        emit(
            7,
            NetlinkPayload::InnerMessage(resp(AF_INET, 8, v4(10, 0, 0, 2), 80, v4(10, 0, 0, 1), 40000, 99)),
            &mut data,
        );
        // Another request's answer: skipped.
        emit(
            8,
            NetlinkPayload::InnerMessage(resp(AF_INET, 1, v4(1, 1, 1, 1), 1, v4(2, 2, 2, 2), 2, 5)),
            &mut data,
        );
        let mut out = Vec::new();
        assert!(!parse_batch(&data, AF_INET, 7, 42, &mut out).unwrap());
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].state, 8);
        assert_eq!(out[1].inode, 99);
        assert_eq!(out[1].netns, 42);
        assert_eq!(out[1].since_ns, None);
        assert_eq!(
            out[1].tuple,
            Tuple {
                src: v4(10, 0, 0, 2),
                sport: 80,
                dst: v4(10, 0, 0, 1),
                dport: 40000
            }
        );
        let mut done = Vec::new();
        emit(7, NetlinkPayload::Done(DoneMessage::default()), &mut done);
        assert!(parse_batch(&done, AF_INET, 7, 42, &mut out).unwrap());
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn kernel_errors_and_garbage_are_errors() {
        let mut data = Vec::new();
        let mut err = ErrorMessage::default();
        err.code = std::num::NonZeroI32::new(-13);
        emit(3, NetlinkPayload::Error(err), &mut data);
        let mut out = Vec::new();
        assert!(matches!(
            parse_batch(&data, AF_INET6, 3, 1, &mut out),
            Err(SeedError::Kernel { code: -13, .. })
        ));
        for bad in [&[1u8, 2, 3][..], &[0xff; 40][..], &[0; 16][..]] {
            assert!(parse_batch(bad, AF_INET6, 3, 1, &mut out).is_err(), "{bad:?}");
        }
        let mut done = Vec::new();
        let mut d = DoneMessage::default();
        d.code = -16;
        emit(3, NetlinkPayload::Done(d), &mut done);
        assert!(matches!(
            parse_batch(&done, AF_INET6, 3, 1, &mut out),
            Err(SeedError::Kernel { code: -16, .. })
        ));
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped = |a: Ipv4Addr| IpAddr::V6(a.to_ipv6_mapped());
        let mut id = SocketId::new_v6();
        id.source_address = mapped(Ipv4Addr::new(10, 0, 0, 2));
        id.destination_address = mapped(Ipv4Addr::new(10, 0, 0, 1));
        let t = tuple(&id);
        assert_eq!(t.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(t.dst, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        // Plain IPv6 stays IPv6, `::` listener stays `::`.
        let mut id = SocketId::new_v6();
        id.source_address = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
        assert_eq!(tuple(&id).src, id.source_address);
        let id = SocketId::new_v6();
        assert_eq!(tuple(&id).src, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    }

    #[test]
    fn request_asks_for_what_ss_asks_for() {
        let bytes = request(AF_INET6, 9, SS_ALL_STATES);
        // The crate parses SOCK_DIAG_BY_FAMILY messages as responses only:
        // check the raw fields (struct nlmsghdr + struct inet_diag_req_v2).
        assert_eq!(bytes.len(), 72);
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 20); // SOCK_DIAG_BY_FAMILY
        assert_eq!(u16::from_ne_bytes([bytes[6], bytes[7]]), 0x301); // REQUEST | DUMP
        assert_eq!(u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]), 9);
        assert_eq!((bytes[16], bytes[17]), (AF_INET6, IPPROTO_TCP));
        assert_eq!(
            u32::from_ne_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
            SS_ALL_STATES
        );
    }

    /// The request poll lists only SYN_RECV sockets: not a listener, not
    /// its established connections.
    #[test]
    fn request_poll_lists_no_other_state() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let mut poll = RequestPoll::new().unwrap();
        let mut out = vec![];
        poll.poll(&mut out).unwrap();
        assert!(out.iter().all(|s| s.state == 3), "{out:?}");
        assert!(
            !out.iter()
                .any(|s| s.tuple.sport == addr.port() || s.tuple.dport == addr.port())
        );
        assert_eq!(poll.netns(), current_netns().unwrap());
        // The same socket answers again.
        poll.poll(&mut out).unwrap();
    }

    /// Needs no privileges: sock_diag answers any user for its own namespace.
    #[test]
    fn lists_our_own_sockets_with_owner() {
        use std::os::{fd::AsRawFd as _, unix::fs::MetadataExt as _};

        let inode = |fd: i32| fs::metadata(format!("/proc/self/fd/{fd}")).unwrap().ino();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        let all = snapshot().unwrap();
        let find = |fd: i32| all.iter().find(|s| s.inode == inode(fd)).cloned().unwrap();
        let me = std::process::id();
        let l = find(listener.as_raw_fd());
        assert_eq!((l.state, l.tuple.sport, l.tuple.src), (10, addr.port(), addr.ip()));
        let c = find(client.as_raw_fd());
        assert_eq!((c.state, c.tuple.dport), (1, addr.port()));
        let s = find(server.as_raw_fd());
        assert_eq!((s.state, s.tuple.sport, s.tuple.dport), (1, addr.port(), c.tuple.sport));
        let l6 = find(v6.as_raw_fd());
        assert_eq!((l6.state, l6.tuple.src), (10, IpAddr::V6(Ipv6Addr::LOCALHOST)));
        for s in [&l, &c, &s, &l6] {
            assert_eq!(s.owner.as_ref().map(|o| o.pid), Some(me), "{s:?}");
            assert_eq!(s.netns, current_netns().unwrap());
        }
    }
}
