//! Grouping `--states` lines into connections and checking that each
//! connection went through a complete TCP life cycle.

use std::collections::{HashMap, VecDeque};

use anyhow::{Result, bail};

use crate::lines::StateLine;

/// The state lines of one socket, in the order printed.
#[derive(Debug, Clone)]
pub struct Conn {
    pub v6: bool,
    pub local: String,
    pub lport: u16,
    pub remote: String,
    pub rport: u16,
    pub lines: Vec<StateLine>,
}

impl Conn {
    /// `OLD NEW NEW …`: the states visited, same-state events
    /// (FIN_WAIT1 -> FIN_WAIT1, which the kernel does emit) left out.
    pub fn path(&self) -> Vec<&str> {
        let mut path: Vec<&str> = Vec::new();
        for l in self.lines.iter().filter(|l| l.old != l.new) {
            if path.is_empty() {
                path.push(&l.old);
            }
            path.push(&l.new);
        }
        path
    }

    pub fn describe(&self) -> String {
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|l| {
                format!(
                    "    {} {}.{} > {}.{}: {} -> {}",
                    l.ts, l.local, l.lport, l.remote, l.rport, l.old, l.new
                )
            })
            .collect();
        format!(
            "{}.{} > {}.{}\n{}",
            self.local,
            self.lport,
            self.remote,
            self.rport,
            lines.join("\n")
        )
    }
}

type Key = (bool, String, u16, String, u16);

/// Groups state lines into connections by (local, local port, remote,
/// remote port). The CLOSE -> SYN_SENT line carries local port 0 (it is
/// emitted before the port is bound): it is attributed to the next
/// connection from the same local address to the same remote address and
/// port whose first line leaves SYN_SENT. A connection ends with its
/// `-> CLOSE` line, so a reused 4-tuple starts a new connection.
/// Lines whose remote port is 0 (listeners) are ignored.
pub fn group(lines: &[StateLine]) -> Vec<Conn> {
    let mut conns: Vec<Conn> = Vec::new();
    let mut open: HashMap<Key, usize> = HashMap::new();
    let mut pending: HashMap<(bool, String, String, u16), VecDeque<StateLine>> = HashMap::new();
    for l in lines {
        if l.rport == 0 {
            continue;
        }
        if l.lport == 0 && l.old == "CLOSE" && l.new == "SYN_SENT" {
            pending
                .entry((l.v6, l.local.clone(), l.remote.clone(), l.rport))
                .or_default()
                .push_back(l.clone());
            continue;
        }
        let key: Key = (l.v6, l.local.clone(), l.lport, l.remote.clone(), l.rport);
        let idx = match open.get(&key) {
            Some(&i) => i,
            None => {
                let mut first = Vec::new();
                if l.old == "SYN_SENT"
                    && let Some(q) = pending.get_mut(&(l.v6, l.local.clone(), l.remote.clone(), l.rport))
                    && let Some(p) = q.pop_front()
                {
                    first.push(p);
                }
                conns.push(Conn {
                    v6: l.v6,
                    local: l.local.clone(),
                    lport: l.lport,
                    remote: l.remote.clone(),
                    rport: l.rport,
                    lines: first,
                });
                open.insert(key.clone(), conns.len() - 1);
                conns.len() - 1
            }
        };
        conns[idx].lines.push(l.clone());
        if l.new == "CLOSE" {
            open.remove(&key);
        }
    }
    // SYN_SENT lines never followed by their connection (e.g. a connect
    // that failed before the port was bound) stay visible as their own group.
    for (_, q) in pending {
        for p in q {
            conns.push(Conn {
                v6: p.v6,
                local: p.local.clone(),
                lport: 0,
                remote: p.remote.clone(),
                rport: p.rport,
                lines: vec![p],
            });
        }
    }
    conns
}

/// Life cycles of the connecting side: the client closes first (the usual
/// case), both close at once (FIN_WAIT1 -> CLOSING), or the server closes first.
pub const CLIENT_PATHS: &[&[&str]] = &[
    &["CLOSE", "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE"],
    &["CLOSE", "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "CLOSING", "CLOSE"],
    &["CLOSE", "SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSE"],
];

/// Life cycles of the accepted socket (its first line, LISTEN -> SYN_RECV,
/// is optional): the client closes first, both at once, or the server first.
pub const SERVER_PATHS: &[&[&str]] = &[
    &["SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSE"],
    &["SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "CLOSING", "CLOSE"],
    &["SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE"],
];

/// Checks that `conn` went through one of `paths` completely and in order;
/// returns the index of the path it took.
pub fn check_lifecycle(conn: &Conn, paths: &[&[&str]]) -> Result<usize> {
    let mut path = conn.path();
    if path.first() == Some(&"LISTEN") {
        path.remove(0);
    }
    // Each line must start where the previous one ended.
    let changes: Vec<&StateLine> = conn.lines.iter().filter(|l| l.old != l.new).collect();
    for w in changes.windows(2) {
        if w[0].new != w[1].old {
            bail!(
                "state lines do not chain ({} then {} -> {}):\n{}",
                w[0].new,
                w[1].old,
                w[1].new,
                conn.describe()
            );
        }
    }
    match paths.iter().position(|p| *p == path.as_slice()) {
        Some(i) => Ok(i),
        None => bail!(
            "incomplete or unexpected state sequence {}; expected one of:\n  {}\nlines:\n{}",
            path.join(" -> "),
            paths.iter().map(|p| p.join(" -> ")).collect::<Vec<_>>().join("\n  "),
            conn.describe()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lines::parse_state_line;

    fn lines(text: &str) -> Vec<StateLine> {
        text.lines().map(|l| parse_state_line(l.trim()).unwrap()).collect()
    }

    #[test]
    fn groups_client_with_sport_zero() {
        let l = lines(
            "00:00:00.000001 tcp-state IP 10.0.0.1.0 > 10.0.0.2.80: CLOSE -> SYN_SENT
             00:00:00.000002 tcp-state IP 10.0.0.2.80 > 10.0.0.1.5000: LISTEN -> SYN_RECV
             00:00:00.000003 tcp-state IP 10.0.0.1.5000 > 10.0.0.2.80: SYN_SENT -> ESTABLISHED
             00:00:00.000004 tcp-state IP 10.0.0.2.80 > 10.0.0.1.5000: SYN_RECV -> ESTABLISHED
             00:00:00.000005 tcp-state IP 10.0.0.1.5000 > 10.0.0.2.80: ESTABLISHED -> FIN_WAIT1
             00:00:00.000006 tcp-state IP 10.0.0.1.5000 > 10.0.0.2.80: FIN_WAIT1 -> FIN_WAIT1
             00:00:00.000007 tcp-state IP 10.0.0.2.80 > 10.0.0.1.5000: ESTABLISHED -> CLOSE_WAIT
             00:00:00.000008 tcp-state IP 10.0.0.1.5000 > 10.0.0.2.80: FIN_WAIT1 -> FIN_WAIT2
             00:00:00.000009 tcp-state IP 10.0.0.2.80 > 10.0.0.1.5000: CLOSE_WAIT -> LAST_ACK
             00:00:00.000010 tcp-state IP 10.0.0.1.5000 > 10.0.0.2.80: FIN_WAIT2 -> CLOSE
             00:00:00.000011 tcp-state IP 10.0.0.2.80 > 10.0.0.1.5000: LAST_ACK -> CLOSE",
        );
        let c = group(&l);
        assert_eq!(c.len(), 2);
        let client = c.iter().find(|c| c.rport == 80).unwrap();
        let server = c.iter().find(|c| c.lport == 80).unwrap();
        assert_eq!(check_lifecycle(client, CLIENT_PATHS).unwrap(), 0);
        assert_eq!(check_lifecycle(server, SERVER_PATHS).unwrap(), 0);
    }

    #[test]
    fn rejects_incomplete() {
        let l = lines(
            "00:00:00.000003 tcp-state IP 10.0.0.1.5000 > 10.0.0.2.80: SYN_SENT -> ESTABLISHED
             00:00:00.000005 tcp-state IP 10.0.0.1.5000 > 10.0.0.2.80: ESTABLISHED -> FIN_WAIT1
             00:00:00.000010 tcp-state IP 10.0.0.1.5000 > 10.0.0.2.80: FIN_WAIT2 -> CLOSE",
        );
        let c = group(&l);
        assert_eq!(c.len(), 1);
        assert!(check_lifecycle(&c[0], CLIENT_PATHS).is_err());
    }
}
