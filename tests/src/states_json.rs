//! `tracer states --json`: parsing its lines strictly (every documented key,
//! with its type), starting it in the root namespace, and grouping its
//! transitions by socket.

use std::{
    collections::BTreeMap,
    net::{IpAddr, TcpStream},
    os::unix::fs::MetadataExt as _,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::{Map, Value};

use crate::{Bg, tracer_bin};

/// The state names `tracer states` may print, as the kernel names them.
pub const STATES: &[&str] = &[
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
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

/// The `closed_by` values of a lifetime.
pub const CLOSERS: &[&str] = &["local", "remote", "both", "reset", "refused", "timeout", "unknown"];

/// The `lifetime` object of the transition that closes a connection's full socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifetime {
    pub duration_ms: f64,
    pub handshake_ms: Option<f64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub closed_by: String,
    pub syn_retransmits: u64,
}

/// One JSON line of `tracer states --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the epoch.
    pub time: f64,
    pub v6: bool,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub old: String,
    pub new: String,
    pub ms_in_old: Option<f64>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub netns: u64,
    pub derived: bool,
    pub lifetime: Option<Lifetime>,
    /// The line as printed.
    pub raw: String,
}

impl Event {
    /// `OLD->NEW`.
    pub fn transition(&self) -> String {
        format!("{}->{}", self.old, self.new)
    }

    /// Whether this line is about a socket with these two ends (either way round).
    pub fn between(&self, a: IpAddr, b: IpAddr) -> bool {
        (self.src == a && self.dst == b) || (self.src == b && self.dst == a)
    }

    /// The socket it is about: (netns, src, sport, dst, dport).
    pub fn key(&self) -> SockKey {
        (self.netns, self.src, self.sport, self.dst, self.dport)
    }
}

pub type SockKey = (u64, IpAddr, u16, IpAddr, u16);

fn get<'a>(o: &'a Map<String, Value>, k: &str) -> Result<&'a Value> {
    o.get(k).with_context(|| format!("key {k:?} missing"))
}

fn num(o: &Map<String, Value>, k: &str) -> Result<f64> {
    get(o, k)?.as_f64().with_context(|| format!("{k} is not a number"))
}

fn uint(o: &Map<String, Value>, k: &str) -> Result<u64> {
    get(o, k)?
        .as_u64()
        .with_context(|| format!("{k} is not a non-negative integer"))
}

fn opt_num(o: &Map<String, Value>, k: &str) -> Result<Option<f64>> {
    let v = get(o, k)?;
    if v.is_null() {
        return Ok(None);
    }
    v.as_f64()
        .map(Some)
        .with_context(|| format!("{k} is neither a number nor null"))
}

fn string<'a>(o: &'a Map<String, Value>, k: &str) -> Result<&'a str> {
    get(o, k)?.as_str().with_context(|| format!("{k} is not a string"))
}

fn state(o: &Map<String, Value>, k: &str) -> Result<String> {
    let s = string(o, k)?;
    ensure!(STATES.contains(&s), "{k} {s:?} is not a kernel state name");
    Ok(s.to_owned())
}

fn port(o: &Map<String, Value>, k: &str) -> Result<u16> {
    u16::try_from(uint(o, k)?).with_context(|| format!("{k} out of range"))
}

fn lifetime(v: &Value) -> Result<Lifetime> {
    let o = v.as_object().context("lifetime is not an object")?;
    let closed_by = string(o, "closed_by")?.to_owned();
    ensure!(CLOSERS.contains(&closed_by.as_str()), "closed_by {closed_by:?} unknown");
    let l = Lifetime {
        duration_ms: num(o, "duration_ms")?,
        handshake_ms: opt_num(o, "handshake_ms")?,
        bytes_sent: uint(o, "bytes_sent")?,
        bytes_received: uint(o, "bytes_received")?,
        closed_by,
        syn_retransmits: uint(o, "syn_retransmits")?,
    };
    ensure!(l.duration_ms >= 0.0, "negative duration_ms");
    ensure!(l.handshake_ms.is_none_or(|h| h >= 0.0), "negative handshake_ms");
    Ok(l)
}

/// Parses one line, checking every documented key and its type.
pub fn parse_event(line: &str) -> Result<Event> {
    let v: Value = serde_json::from_str(line).with_context(|| format!("not JSON: {line:?}"))?;
    let o = v.as_object().with_context(|| format!("not a JSON object: {line:?}"))?;
    let ev = (|| -> Result<Event> {
        let family = string(o, "family")?;
        let v6 = match family {
            "inet" => false,
            "inet6" => true,
            f => bail!("family {f:?} is neither inet nor inet6"),
        };
        let addr = |k: &str| -> Result<IpAddr> {
            string(o, k)?
                .parse()
                .with_context(|| format!("{k} is not an IP address"))
        };
        let pid = match get(o, "pid")? {
            Value::Null => None,
            p => Some(
                p.as_u64()
                    .and_then(|p| u32::try_from(p).ok())
                    .context("pid is neither a pid nor null")?,
            ),
        };
        let comm = match get(o, "comm")? {
            Value::Null => None,
            c => Some(c.as_str().context("comm is neither a string nor null")?.to_owned()),
        };
        let lifetime = match o.get("lifetime") {
            None | Some(Value::Null) => None,
            Some(l) => Some(lifetime(l)?),
        };
        let ev = Event {
            time: num(o, "time")?,
            v6,
            src: addr("src")?,
            sport: port(o, "sport")?,
            dst: addr("dst")?,
            dport: port(o, "dport")?,
            old: state(o, "old")?,
            new: state(o, "new")?,
            ms_in_old: opt_num(o, "ms_in_old")?,
            pid,
            comm,
            netns: uint(o, "netns")?,
            derived: get(o, "derived")?.as_bool().context("derived is not a boolean")?,
            lifetime,
            raw: line.to_owned(),
        };
        // A plausible wall-clock time (2020 .. 2100), not a monotonic one.
        ensure!(
            (1.5e9..4.1e9).contains(&ev.time),
            "time {} is not seconds since the epoch",
            ev.time
        );
        ensure!(ev.ms_in_old.is_none_or(|m| m >= 0.0), "negative ms_in_old");
        Ok(ev)
    })();
    ev.with_context(|| format!("line {line:?}"))
}

/// Every line of `stdout` must be a valid event (empty lines are not allowed either).
pub fn parse_all(stdout: &str) -> Result<Vec<Event>> {
    stdout.lines().map(parse_event).collect()
}

/// The network namespace inode of `/var/run/netns/NAME`.
pub fn netns_inode(name: &str) -> Result<u64> {
    let p = format!("/var/run/netns/{name}");
    Ok(std::fs::metadata(&p).with_context(|| format!("stat {p}"))?.ino())
}

/// The events grouped by socket, each group in the order printed.
pub fn by_socket<'a>(events: impl IntoIterator<Item = &'a Event>) -> BTreeMap<SockKey, Vec<&'a Event>> {
    let mut m: BTreeMap<SockKey, Vec<&Event>> = BTreeMap::new();
    for e in events {
        m.entry(e.key()).or_default().push(e);
    }
    m
}

/// The transitions of one socket, `OLD->NEW`, same-state events left out.
pub fn path(events: &[&Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.old != e.new)
        .map(|e| e.transition())
        .collect()
}

/// All the lines, for an error message.
pub fn dump(events: &[&Event]) -> String {
    events.iter().map(|e| format!("  {}\n", e.raw)).collect()
}

/// `tracer states ARGS` (with `--json` when `json`) in the root namespace,
/// ready when this returns: the probe connections to 127.0.0.1:`probe_port`
/// (refused; nothing may listen there) show up in its output. Its filters
/// must let that port through. Lines about 127.0.0.1 are the probes': tests
/// select their own lines by address.
pub fn start_tracer(name: &str, args: &[&str], json: bool, probe_port: u16) -> Result<Bg> {
    let mut c = Command::new(tracer_bin());
    c.arg("states");
    if json {
        c.arg("--json");
    }
    c.args(args);
    let tracer = Bg::spawn(name, c)?;
    let needle = if json {
        format!("\"dport\":{probe_port}")
    } else {
        format!("127.0.0.1.{probe_port}:")
    };
    let deadline = Instant::now() + crate::env::scaled(Duration::from_secs(30));
    loop {
        // Refused at once: nothing listens on the probe port.
        let _ = TcpStream::connect_timeout(&([127, 0, 0, 1], probe_port).into(), Duration::from_millis(200));
        thread::sleep(Duration::from_millis(100));
        if tracer.stdout().replace(' ', "").contains(&needle) {
            return Ok(tracer);
        }
        if Instant::now() > deadline {
            // finish() reports whether it exited and what it printed.
            let f = tracer.finish(Duration::from_millis(100));
            bail!(
                "{name}: no line about the probe connections to 127.0.0.1:{probe_port} within 30 s{}",
                match f {
                    Ok(f) => format!("; it exited ({})\n{}", f.status, f.dump()),
                    Err(e) => format!(": {e:#}"),
                }
            );
        }
    }
}

/// The summary on stderr at exit: `N state events seen, M dropped by kernel`.
pub fn summary(stderr: &str) -> Option<(u64, u64)> {
    stderr.lines().find_map(|l| {
        let (seen, rest) = l.trim().split_once(" state events seen, ")?;
        let dropped = rest.split_once(" dropped by kernel")?.0;
        Some((seen.trim().parse().ok()?, dropped.trim().parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"time":1763712000.123456,"family":"inet","src":"10.1.2.1","sport":40000,"dst":"10.1.2.2","dport":80,"old":"FIN_WAIT2","new":"TIME_WAIT","ms_in_old":0.2,"pid":1234,"comm":"curl","netns":4026532000,"derived":true,"lifetime":{"duration_ms":3.5,"handshake_ms":0.1,"bytes_sent":77,"bytes_received":3100,"closed_by":"local","syn_retransmits":0}}"#;

    #[test]
    fn parses_a_full_line() {
        let e = parse_event(LINE).unwrap();
        assert_eq!(e.transition(), "FIN_WAIT2->TIME_WAIT");
        assert_eq!((e.sport, e.dport, e.pid, e.netns), (40000, 80, Some(1234), 4026532000));
        assert!(e.derived && !e.v6);
        let l = e.lifetime.unwrap();
        assert_eq!(
            (l.bytes_sent, l.bytes_received, l.closed_by.as_str()),
            (77, 3100, "local")
        );
    }

    #[test]
    fn rejects_missing_keys_bad_types_and_unknown_states() {
        assert!(parse_event(&LINE.replace(r#""netns":4026532000,"#, "")).is_err());
        assert!(parse_event(&LINE.replace(r#""pid":1234"#, r#""pid":"1234""#)).is_err());
        assert!(parse_event(&LINE.replace("TIME_WAIT", "TIMEWAIT")).is_err());
        assert!(parse_event(&LINE.replace(r#""local""#, r#""client""#)).is_err());
        assert!(parse_event(&LINE.replace("1763712000.123456", "12345.6")).is_err());
        assert!(parse_event("tracer: 3 state events seen").is_err());
        let nulls = LINE
            .replace(r#""pid":1234"#, r#""pid":null"#)
            .replace(r#""comm":"curl""#, r#""comm":null"#)
            .replace(r#""ms_in_old":0.2"#, r#""ms_in_old":null"#);
        let e = parse_event(&nulls).unwrap();
        assert_eq!((e.pid, e.comm, e.ms_in_old), (None, None, None));
    }

    #[test]
    fn exit_summary() {
        assert_eq!(
            summary("tracer: done\n1200 state events seen, 0 dropped by kernel, 3 lost owners\n"),
            Some((1200, 0))
        );
        assert_eq!(summary("nothing"), None);
    }
}
