//! Reading tcpdump-style output: timestamps, packet lines, state lines.

use anyhow::{Context as _, Result, bail};

/// Splits `HH:MM:SS.uuuuuu REST` into the timestamp and the rest.
pub fn split_ts(line: &str) -> Option<(&str, &str)> {
    let (ts, rest) = line.split_once(' ')?;
    parse_ts(ts)?;
    Some((ts, rest))
}

/// `HH:MM:SS.uuuuuu` as microseconds since midnight.
pub fn parse_ts(ts: &str) -> Option<i64> {
    let (hms, frac) = ts.split_once('.')?;
    let mut parts = hms.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || frac.len() != 6 {
        return None;
    }
    let us: i64 = frac.parse().ok()?;
    Some(((h * 60 + m) * 60 + s) * 1_000_000 + us)
}

/// Difference of two wall-clock times of day in microseconds, across midnight.
pub fn ts_diff_us(a: &str, b: &str) -> Option<i64> {
    const DAY: i64 = 86_400_000_000;
    let d = (parse_ts(a)? - parse_ts(b)?).rem_euclid(DAY);
    Some(d.min(DAY - d))
}

/// Whether a tracer stdout line is a `--states` line
/// (`TIME tcp-state IP SRC.SPORT > DST.DPORT: OLD -> NEW`).
pub fn is_state_line(line: &str) -> bool {
    line.split_whitespace().nth(1) == Some("tcp-state")
}

/// Packet lines of a tracer's stdout: everything that has a timestamp and
/// is not a state line.
pub fn packet_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| !is_state_line(l) && split_ts(l).is_some())
        .collect()
}

/// One matched line: index into the expected and the actual list.
#[derive(Debug, Clone, Copy)]
pub struct Match {
    pub expected: usize,
    pub actual: usize,
}

/// Finds every `expected` line, timestamps stripped, among the `actual`
/// lines, in the same order (a subsequence). Fails naming the first
/// expected line that has no counterpart, with context.
pub fn match_in_order(expected: &[&str], actual: &[&str]) -> Result<Vec<Match>> {
    let strip = |l: &str| split_ts(l).map_or(l.to_owned(), |(_, r)| r.to_owned());
    let actual_s: Vec<String> = actual.iter().map(|l| strip(l)).collect();
    let mut matches = Vec::with_capacity(expected.len());
    let mut pos = 0;
    for (i, e) in expected.iter().enumerate() {
        let e_s = strip(e);
        match actual_s[pos..].iter().position(|a| *a == e_s) {
            Some(k) => {
                matches.push(Match {
                    expected: i,
                    actual: pos + k,
                });
                pos += k + 1;
            }
            None => {
                let anywhere = actual_s.iter().position(|a| *a == e_s);
                let near: Vec<&str> = actual.iter().skip(pos.saturating_sub(2)).take(6).copied().collect();
                bail!(
                    "tcpdump line {} of {} not found in order in the tracer's output{}:\n  tcpdump: {e}\n\
                     tracer lines from the expected position on:\n  {}",
                    i + 1,
                    expected.len(),
                    match anywhere {
                        Some(k) => format!(" (it appears earlier, as tracer line {}: out of order)", k + 1),
                        None => String::new(),
                    },
                    near.join("\n  ")
                );
            }
        }
    }
    Ok(matches)
}

/// The direction a packet line belongs to: its text up to the first `: `
/// after the timestamp (`IP A.p > B.q`, IPv6 addresses included), or the
/// whole line when it has none (ARP).
pub fn direction(line: &str) -> &str {
    let rest = split_ts(line).map_or(line, |(_, r)| r);
    // ": " ends the address part; a bare ':' would cut IPv6 addresses short.
    rest.split_once(": ").map_or(rest, |(d, _)| d)
}

/// Like [`match_in_order`], but the order is required only among the lines
/// of one direction ([`direction`]). Ingress packets are seen by XDP
/// before the stack handles them, egress packets by TC when the stack
/// sends them; tcpdump sees both inside the stack. An ingress packet and an
/// egress packet microseconds apart can therefore be printed in the other
/// order, while each direction keeps tcpdump's order. Returns the matches
/// and how many of them are out of tcpdump's global order.
pub fn match_per_direction(expected: &[&str], actual: &[&str]) -> Result<(Vec<Match>, usize)> {
    use std::collections::BTreeMap;
    let mut exp_by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut act_by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in expected.iter().enumerate() {
        exp_by.entry(direction(l)).or_default().push(i);
    }
    for (i, l) in actual.iter().enumerate() {
        act_by.entry(direction(l)).or_default().push(i);
    }
    let mut matches = Vec::with_capacity(expected.len());
    for (dir, idx) in &exp_by {
        let e: Vec<&str> = idx.iter().map(|&i| expected[i]).collect();
        let a_idx = act_by.get(dir).cloned().unwrap_or_default();
        let a: Vec<&str> = a_idx.iter().map(|&i| actual[i]).collect();
        let m = match_in_order(&e, &a).with_context(|| format!("direction {dir:?}"))?;
        matches.extend(m.iter().map(|m| Match {
            expected: idx[m.expected],
            actual: a_idx[m.actual],
        }));
    }
    matches.sort_by_key(|m| m.expected);
    let reordered = matches.windows(2).filter(|w| w[1].actual < w[0].actual).count();
    Ok((matches, reordered))
}

/// A parsed `--states` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLine {
    pub ts: String,
    pub v6: bool,
    pub local: String,
    pub lport: u16,
    pub remote: String,
    pub rport: u16,
    pub old: String,
    pub new: String,
}

fn addr_port(s: &str) -> Option<(String, u16)> {
    let (a, p) = s.rsplit_once('.')?;
    Some((a.to_owned(), p.parse().ok()?))
}

/// Parses `TIME tcp-state IP SRC.SPORT > DST.DPORT: OLD -> NEW` (what
/// follows NEW: `(derived)`, time in OLD, owner, netns, is not read).
pub fn parse_state_line(line: &str) -> Option<StateLine> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 9 || f[1] != "tcp-state" || f[4] != ">" || f[7] != "->" {
        return None;
    }
    parse_ts(f[0])?;
    let v6 = match f[2] {
        "IP" => false,
        "IP6" => true,
        _ => return None,
    };
    let (local, lport) = addr_port(f[3])?;
    let (remote, rport) = addr_port(f[5].strip_suffix(':')?)?;
    Some(StateLine {
        ts: f[0].to_owned(),
        v6,
        local,
        lport,
        remote,
        rport,
        old: f[6].to_owned(),
        new: f[8].to_owned(),
    })
}

/// The state lines of a tracer's stdout; fails on a `tcp-state` line that
/// does not have the documented format.
pub fn state_lines(stdout: &str) -> Result<Vec<StateLine>> {
    stdout
        .lines()
        .filter(|l| is_state_line(l))
        .map(|l| parse_state_line(l).ok_or_else(|| anyhow::anyhow!("malformed state line: {l:?}")))
        .collect()
}

/// tcpdump's summary counters (`N packets captured` …) from stderr.
pub fn summary_count(stderr: &str, what: &str) -> Option<u64> {
    let suffix = format!(" {what}");
    stderr.lines().find_map(|l| {
        let l = l.trim();
        let n = l.strip_suffix(&suffix)?;
        n.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_ts("01:02:03.000004"), Some(3_723_000_004));
        assert_eq!(parse_ts("01:02:03.04"), None);
        assert_eq!(ts_diff_us("23:59:59.999900", "00:00:00.000100"), Some(200));
    }

    #[test]
    fn states() {
        let l = "12:00:00.000001 tcp-state IP6 fd00:1::1.0 > fd00:1::2.80: CLOSE -> SYN_SENT";
        let s = parse_state_line(l).unwrap();
        assert!(s.v6);
        assert_eq!(
            (s.local.as_str(), s.lport, s.remote.as_str(), s.rport),
            ("fd00:1::1", 0, "fd00:1::2", 80)
        );
        assert_eq!((s.old.as_str(), s.new.as_str()), ("CLOSE", "SYN_SENT"));
        assert!(parse_state_line("12:00:00.000001 IP 1.2.3.4.5 > 1.2.3.5.6: Flags [S]").is_none());
    }

    #[test]
    fn in_order() {
        let exp = ["00:00:00.000001 a", "00:00:00.000002 b"];
        let act = ["00:00:00.000003 a", "00:00:00.000004 x", "00:00:00.000005 b"];
        let m = match_in_order(&exp, &act).unwrap();
        assert_eq!(m[1].actual, 2);
        let act = ["00:00:00.000005 b", "00:00:00.000003 a"];
        assert!(match_in_order(&exp, &act).is_err());
    }

    #[test]
    fn direction_keeps_ipv6_addresses_whole() {
        let l = "09:48:29.796294 IP6 fd00:7c:2::2.8000 > fd00:7c:2::1.49280: Flags [.], ack 1, length 0";
        assert_eq!(direction(l), "IP6 fd00:7c:2::2.8000 > fd00:7c:2::1.49280");
    }

    #[test]
    fn per_direction() {
        let exp = [
            "00:00:00.000001 IP a > b: x",
            "00:00:00.000002 IP b > a: y",
            "00:00:00.000003 IP a > b: z",
        ];
        let act = [
            "00:00:00.000001 IP a > b: x",
            "00:00:00.000002 IP a > b: z",
            "00:00:00.000003 IP b > a: y",
        ];
        let (m, reordered) = match_per_direction(&exp, &act).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(reordered, 1);
        let act = [
            "00:00:00.000001 IP a > b: z",
            "00:00:00.000002 IP a > b: x",
            "00:00:00.000003 IP b > a: y",
        ];
        assert!(match_per_direction(&exp, &act).is_err());
    }

    #[test]
    fn summary() {
        let e =
            "tracer: listening on x\n12 packets captured\n13 packets received by filter\n0 packets dropped by kernel\n";
        assert_eq!(summary_count(e, "packets captured"), Some(12));
        assert_eq!(summary_count(e, "packets dropped by kernel"), Some(0));
    }
}
