//! TCP socket states: names, the tracker that turns socket events into
//! transitions, and how they are printed.

pub mod diag;
pub mod format;
pub mod model;
pub mod owners;
pub mod run;
pub mod seed;
pub mod stat;
pub mod sysctl;
pub mod tracker;

use std::{
    io::Write as _,
    net::{Ipv4Addr, Ipv6Addr},
};

use tracer_common::SockEvent;

const AF_INET: u8 = 2;

/// The kernel's state names, indexed by its numbering (include/net/tcp_states.h).
const STATE_NAMES: [&str; 13] = [
    "UNKNOWN",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
];

/// Name of a kernel TCP state number.
pub fn state_name(state: u8) -> &'static str {
    STATE_NAMES.get(usize::from(state)).copied().unwrap_or("UNKNOWN")
}

/// Appends `tcp-state IP SRC.SPORT > DST.DPORT: OLD -> NEW\n` (`IP6` for IPv6;
/// SRC is the socket's local side). The caller writes the timestamp first.
/// Dual-stack sockets report IPv4 peers as `::ffff:a.b.c.d`; they are shown
/// as IPv4, as the packets on the wire are.
pub fn write_transition(out: &mut Vec<u8>, ev: &SockEvent) {
    let mapped = |a: &[u8; 16]| Ipv6Addr::from(*a).to_ipv4_mapped();
    let v4 = ev.family == AF_INET || (mapped(&ev.saddr).is_some() && mapped(&ev.daddr).is_some());
    let _ = if v4 && ev.family != AF_INET {
        let (s, d) = (
            mapped(&ev.saddr).unwrap_or(Ipv4Addr::UNSPECIFIED),
            mapped(&ev.daddr).unwrap_or(Ipv4Addr::UNSPECIFIED),
        );
        write!(out, "tcp-state IP {s}.{} > {d}.{}: ", ev.sport, ev.dport)
    } else if v4 {
        let s = Ipv4Addr::new(ev.saddr[0], ev.saddr[1], ev.saddr[2], ev.saddr[3]);
        let d = Ipv4Addr::new(ev.daddr[0], ev.daddr[1], ev.daddr[2], ev.daddr[3]);
        write!(out, "tcp-state IP {s}.{} > {d}.{}: ", ev.sport, ev.dport)
    } else {
        let s = Ipv6Addr::from(ev.saddr);
        let d = Ipv6Addr::from(ev.daddr);
        write!(out, "tcp-state IP6 {s}.{} > {d}.{}: ", ev.sport, ev.dport)
    };
    let _ = writeln!(out, "{} -> {}", state_name(ev.oldstate), state_name(ev.newstate));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_and_v6_lines() {
        let mut ev = SockEvent {
            family: 2,
            oldstate: 2,
            newstate: 1,
            sport: 40000,
            dport: 80,
            ..Default::default()
        };
        ev.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        ev.daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        let mut out = Vec::new();
        write_transition(&mut out, &ev);
        assert_eq!(
            out,
            b"tcp-state IP 10.0.0.1.40000 > 10.0.0.2.80: SYN_SENT -> ESTABLISHED\n"
        );
        ev.family = 10;
        ev.saddr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1).octets();
        ev.daddr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2).octets();
        ev.oldstate = 4;
        ev.newstate = 11;
        out.clear();
        write_transition(&mut out, &ev);
        assert_eq!(out, b"tcp-state IP6 fd00::1.40000 > fd00::2.80: FIN_WAIT1 -> CLOSING\n");
        assert_eq!(state_name(99), "UNKNOWN");
        ev.saddr = Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped().octets();
        ev.daddr = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().octets();
        out.clear();
        write_transition(&mut out, &ev);
        assert_eq!(
            out,
            b"tcp-state IP 10.0.0.2.40000 > 10.0.0.1.80: FIN_WAIT1 -> CLOSING\n"
        );
    }
}
