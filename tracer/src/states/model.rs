//! The data every part of the socket-state tracer shares: a socket as the
//! tracker and the kernel's socket table know it, the transitions and
//! lifetimes the tracker reports, and the event counts the diagnoses read.

use std::{net::IpAddr, sync::Arc};

/// Kernel TCP state numbers (include/net/tcp_states.h).
pub mod state {
    pub const ESTABLISHED: u8 = 1;
    pub const SYN_SENT: u8 = 2;
    pub const SYN_RECV: u8 = 3;
    pub const FIN_WAIT1: u8 = 4;
    pub const FIN_WAIT2: u8 = 5;
    pub const TIME_WAIT: u8 = 6;
    pub const CLOSE: u8 = 7;
    pub const CLOSE_WAIT: u8 = 8;
    pub const LAST_ACK: u8 = 9;
    pub const LISTEN: u8 = 10;
    pub const CLOSING: u8 = 11;
    pub const NEW_SYN_RECV: u8 = 12;
}

/// The process that owns a socket: the one that connected, listened or accepted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// Thread-group id (what `ps` calls the pid).
    pub pid: u32,
    pub comm: Arc<str>,
}

/// A connection's addresses as the socket sees them: `src` is the local side.
/// IPv4-mapped IPv6 addresses of dual-stack sockets are stored as IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

/// One socket, from the tracker's table or from the kernel's socket table (sock_diag).
#[derive(Clone, Debug, PartialEq)]
pub struct SocketInfo {
    /// Network namespace inode number.
    pub netns: u32,
    pub tuple: Tuple,
    /// Kernel state number, as `ss` would show it (a request socket counts as SYN_RECV,
    /// a timewait socket as its substate).
    pub state: u8,
    pub owner: Option<Owner>,
    /// CLOCK_MONOTONIC ns when it entered `state`; None when not seen (seeded from the table).
    pub since_ns: Option<u64>,
    /// Socket inode (0 for timewait and request sockets, and when unknown).
    pub inode: u64,
}

/// Who ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Closer {
    /// This socket sent the first FIN (active close: FIN_WAIT1 ...).
    Local,
    /// The peer sent the first FIN (passive close: CLOSE_WAIT ...).
    Remote,
    /// Both at once (CLOSING).
    Both,
    /// Aborted by a RST, sent or received, after the handshake.
    Reset,
    /// A RST answered the SYN.
    Refused,
    /// The handshake never completed (SYN retransmissions ran out, or the
    /// application gave up).
    Timeout,
    Unknown,
}

impl Closer {
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
            Self::Both => "both",
            Self::Reset => "reset",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::Unknown => "unknown",
        }
    }
}

/// Reported when a connection's full socket closes (like bcc's tcplife).
#[derive(Clone, Debug, PartialEq)]
pub struct Lifetime {
    /// From the first event of the connection (SYN_SENT, or the SYN on the
    /// server) to the full socket's CLOSE.
    pub duration_ms: f64,
    /// SYN_SENT → ESTABLISHED on the client; SYN received → final ACK on the server.
    pub handshake_ms: Option<f64>,
    /// `bytes_acked` and `bytes_received` of the socket.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub closed_by: Closer,
    /// SYN (or SYN-ACK) retransmissions seen for the connection.
    pub syn_retransmits: u32,
}

/// One line of `tracer states`.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// CLOCK_MONOTONIC ns (converted to wall-clock time for printing).
    pub ts_ns: u64,
    pub netns: u32,
    pub tuple: Tuple,
    pub old: u8,
    pub new: u8,
    /// Time spent in `old`; None when the socket was not seen entering it.
    pub ms_in_old: Option<f64>,
    pub owner: Option<Owner>,
    /// Not reported by the kernel's tracepoint: TIME_WAIT (entered and left),
    /// request sockets (NEW_SYN_RECV).
    pub derived: bool,
    /// Set on the transition that closes the connection's full socket.
    pub lifetime: Option<Lifetime>,
}

/// What happened and where, kept by the tracker for the diagnoses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Incident {
    /// A RST answered our SYN (client side).
    Refused,
    /// A SYN was retransmitted.
    SynRetransmit,
    /// A connect gave up after SYN retransmissions (SYN_SENT → CLOSE without RST).
    ConnectTimeout,
    /// A SYN-ACK was retransmitted for a half-open connection (server side).
    SynAckRetransmit,
    /// A half-open connection was dropped without completing.
    HalfOpenDropped,
}

/// A recorded incident: the tracker keeps the recent ones (bounded) for the diagnoses.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentRecord {
    pub ts_ns: u64,
    pub kind: Incident,
    pub netns: u32,
    pub tuple: Tuple,
    pub owner: Option<Owner>,
}
