//! The data every part of the socket-state tracer shares: a socket as the
//! tracker and the kernel's socket table know it, the transitions and
//! lifetimes the tracker reports, and the event counts the diagnoses read.

use std::net::IpAddr;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// Thread-group id (what `ps` calls the pid).
    pub pid: u32,
    pub comm: Comm,
}

/// Room for a command name: the kernel's is at most 15 bytes, which become at most 45
/// when every byte is invalid UTF-8 (one U+FFFD each).
const COMM_CAP: usize = 47;

/// A task's command name, stored inline: an owner is copied onto every transition, and
/// copying this costs neither an allocation nor a reference count.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Comm {
    len: u8,
    bytes: [u8; COMM_CAP],
}

impl Comm {
    /// `s`, cut at a character boundary to what fits.
    pub fn new(s: &str) -> Comm {
        let mut end = s.len().min(COMM_CAP);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; COMM_CAP];
        bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        Comm { len: end as u8, bytes }
    }

    /// The kernel's `comm` bytes: up to the first NUL, invalid UTF-8 replaced.
    pub fn from_kernel(raw: &[u8]) -> Comm {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        match std::str::from_utf8(&raw[..end]) {
            Ok(s) => Comm::new(s),
            Err(_) => Comm::new(&String::from_utf8_lossy(&raw[..end])),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 text is ever stored (see `new`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::ops::Deref for Comm {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialOrd for Comm {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Comm {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl From<&str> for Comm {
    fn from(s: &str) -> Comm {
        Comm::new(s)
    }
}

impl std::fmt::Display for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_keeps_text_and_cuts_at_a_character() {
        assert_eq!(Comm::from("curl").as_str(), "curl");
        assert_eq!(&*Comm::from_kernel(b"python3\0\0\0\0\0\0\0\0\0"), "python3");
        assert_eq!(&*Comm::from_kernel(b"a\xffb"), "a\u{fffd}b");
        let long = "é".repeat(30);
        let c = Comm::new(&long);
        assert_eq!(c.len(), 46);
        assert!(long.starts_with(&*c));
        assert_eq!(format!("{c:?}"), format!("{:?}", &long[..46]));
    }
}
