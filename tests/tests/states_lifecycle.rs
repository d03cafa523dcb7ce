//! `tracer states --json`, run in the root namespace, against connections
//! between two namespaces joined by a veth pair: each way a TCP connection
//! can end (active close, passive close, simultaneous close, RST abort,
//! refused, SYN to a dropped port) with every transition in order, the real
//! source port, the owner on every line, the derived TIME_WAIT and
//! NEW_SYN_RECV lines and the lifetime; a server that never closes is
//! diagnosed as a CLOSE_WAIT leak; and the issue's acceptance check (five
//! curl GETs and 25 never-closed connections to port 80).
//!
//! Each test uses its own namespaces and its own port, and the tracer's
//! `--port` filter; lines are further selected by the namespaces' addresses,
//! so traffic elsewhere on the host does not interfere.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    os::unix::fs::MetadataExt as _,
    path::PathBuf,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use tracer_tests::{
    Bg, Finished, NetnsPair, artifact_dir,
    process::run_ok,
    require_privileges,
    states_json::{Event, by_socket, dump, netns_inode, parse_all, path, start_tracer, summary},
};

const READY: Duration = Duration::from_secs(10);
const STOP: Duration = Duration::from_secs(15);
/// Bytes the clients send and the servers answer.
const REQUEST: usize = 100;
const REPLY: usize = 3000;

/// The peers of every scenario. argv: ROLE MODE ADDR PORT [ARG].
/// Servers print "ready" once listening; clients print what happened.
const PEER: &str = r#"
import errno, os, socket, struct, sys, threading, time

role, mode, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
arg = sys.argv[5] if len(sys.argv) > 5 else None
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
REQUEST, REPLY = 100, 3000

def recv_n(c, n):
    got = 0
    while got < n:
        d = c.recv(n - got)
        if not d:
            break
        got += len(d)
    return got

def drain(c):
    try:
        while c.recv(4096):
            pass
        return "eof"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def wait_file(p):
    while not os.path.exists(p):
        time.sleep(0.001)

if role == "server":
    l = socket.socket(fam, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port))
    l.listen(64)
    print("ready", flush=True)
    kept = []
    def handle(c):
        if mode == "http":
            # A GET is answered and closed; a connection that sends nothing is kept open forever.
            d = c.recv(4096)
            if d:
                body = b"x" * REPLY
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
                c.close()
            else:
                kept.append(c)
            return
        if mode == "leak":
            kept.append(c)
            return
        recv_n(c, REQUEST)
        c.sendall(b"r" * REPLY)
        if mode == "active":
            print("client closed:", drain(c), flush=True)
            c.close()
        elif mode == "passive":
            c.close()
        elif mode == "sim":
            print("armed", flush=True)
            wait_file(arg)
            c.shutdown(socket.SHUT_WR)
            print("shut", flush=True)
            print("peer:", drain(c), flush=True)
            c.close()
        elif mode == "rst":
            print("peer:", drain(c), flush=True)
            c.close()
    while True:
        c, _ = l.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()
else:
    if mode == "many":
        cs = []
        for _ in range(int(arg)):
            c = socket.socket(fam, socket.SOCK_STREAM)
            c.connect((addr, port))
            cs.append(c)
        print("ports", " ".join(str(c.getsockname()[1]) for c in cs), flush=True)
        time.sleep(0.3)
        for c in cs:
            c.close()
        print("closed", flush=True)
        sys.exit(0)
    c = socket.socket(fam, socket.SOCK_STREAM)
    try:
        c.connect((addr, port))
    except OSError as e:
        print("connect:", errno.errorcode.get(e.errno, str(e.errno)), c.getsockname()[1], flush=True)
        sys.exit(0)
    print("port", c.getsockname()[1], flush=True)
    c.sendall(b"q" * REQUEST)
    got = recv_n(c, REPLY)
    print("got", got, flush=True)
    if mode == "active":
        c.shutdown(socket.SHUT_WR)
        time.sleep(0.2)
        c.close()
    elif mode == "passive":
        print("server closed:", drain(c), flush=True)
        c.close()
    elif mode == "sim":
        print("armed", flush=True)
        wait_file(arg)
        c.shutdown(socket.SHUT_WR)
        print("shut", flush=True)
        print("peer:", drain(c), flush=True)
        c.close()
    elif mode == "rst":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
"#;

/// One scenario's namespaces, tracer and artefacts.
struct Scene {
    test: &'static str,
    dir: PathBuf,
    pair: NetnsPair,
    port: u16,
}

impl Scene {
    /// None when the test is skipped (not root, tools missing).
    fn new(test: &'static str, port: u16) -> Result<Option<Scene>> {
        if !require_privileges(test) {
            return Ok(None);
        }
        tracer_tests::netns::remove_stale("trt");
        let dir = artifact_dir(test);
        let pair = NetnsPair::new("trt")?;
        Ok(Some(Scene { test, dir, pair, port }))
    }

    fn server(&self, mode: &str, arg: Option<&str>) -> Result<Bg> {
        let mut c = self.pair.server_cmd("python3");
        c.args([
            "-u",
            "-c",
            PEER,
            "server",
            mode,
            &self.pair.server_v4.to_string(),
            &self.port.to_string(),
        ]);
        c.args(arg);
        let mut s = Bg::spawn(&format!("server ({mode})"), c)?;
        s.wait_stdout("ready", READY)?;
        Ok(s)
    }

    fn client(&self, mode: &str, arg: Option<&str>) -> Result<Bg> {
        let mut c = self.pair.client_cmd("python3");
        c.args([
            "-u",
            "-c",
            PEER,
            "client",
            mode,
            &self.pair.server_v4.to_string(),
            &self.port.to_string(),
        ]);
        c.args(arg);
        Bg::spawn(&format!("client ({mode})"), c)
    }

    /// `tracer states --json --port PORT ARGS`.
    fn tracer(&self, args: &[&str]) -> Result<Bg> {
        let port = self.port.to_string();
        let mut all = vec!["--port", port.as_str()];
        all.extend_from_slice(args);
        start_tracer("tracer states", &all, true, self.port)
    }

    /// Stops the tracer; checks its exit, its summary (nothing dropped) and
    /// that every stdout line is a valid event; returns the events between
    /// the two namespaces.
    fn stop(&self, tracer: Bg) -> Result<(Finished, Vec<Event>)> {
        self.stop_as(tracer, "tracer.out")
    }

    /// [`Scene::stop`], keeping the output in `file` of the test's directory.
    fn stop_as(&self, tracer: Bg, file: &str) -> Result<(Finished, Vec<Event>)> {
        let f = tracer.interrupt(STOP)?;
        std::fs::write(self.dir.join(file), f.dump())?;
        f.expect_no_panic()?;
        f.expect_code(0)?;
        let all = parse_all(&f.stdout).context("tracer states --json stdout")?;
        let (seen, dropped) = summary(&f.stderr)
            .with_context(|| format!("no 'N state events seen, M dropped by kernel' summary\n{}", f.dump()))?;
        ensure!(dropped == 0, "{}: {dropped} state events dropped by kernel", self.test);
        ensure!(seen > 0, "{}: summary says no state event seen", self.test);
        let (c, s) = (IpAddr::V4(self.pair.client_v4), IpAddr::V4(self.pair.server_v4));
        let ours = all.into_iter().filter(|e| e.between(c, s)).collect();
        Ok((f, ours))
    }

    fn client_ip(&self) -> IpAddr {
        IpAddr::V4(self.pair.client_v4)
    }

    fn server_ip(&self) -> IpAddr {
        IpAddr::V4(self.pair.server_v4)
    }
}

/// What one socket must show.
struct Expect<'a> {
    what: &'a str,
    /// Its transitions, `OLD->NEW`, same-state events aside, exactly.
    paths: &'a [&'a [&'a str]],
    pid: u32,
    comm: &'a str,
    /// `closed_by` of its lifetime.
    closed_by: &'a [&'a str],
}

/// Checks the lines of one socket: exact transitions, the derived flag
/// (TIME_WAIT and NEW_SYN_RECV only), the owner on every line, ms_in_old
/// wherever the socket was seen entering the old state, times in order, one
/// lifetime with the expected closer. Returns the lifetime's line.
fn check_socket<'e>(events: &[&'e Event], x: &Expect) -> Result<&'e Event> {
    let ctx = || format!("{}:\n{}", x.what, dump(events));
    let mut p = path(events);
    // The request socket of a completed handshake shows only where the
    // kernel lets the tracer hook it (fentry), or where it lived long enough
    // for a SYN-ACK retransmission or the tracer's own namespace's poll: the
    // line is allowed, not required.
    if p.first().is_some_and(|t| t == "LISTEN->NEW_SYN_RECV") {
        p.remove(0);
    }
    let p_ref: Vec<&str> = p.iter().map(String::as_str).collect();
    ensure!(
        x.paths.contains(&p_ref.as_slice()),
        "transitions {} are none of\n  {}\nin {}",
        p.join(" "),
        x.paths.iter().map(|p| p.join(" ")).collect::<Vec<_>>().join("\n  "),
        ctx()
    );
    let mut entered: BTreeSet<&str> = BTreeSet::new();
    let mut last_time = 0.0;
    for e in events {
        let derived = e.new == "TIME_WAIT" || e.old == "TIME_WAIT" || e.new == "NEW_SYN_RECV";
        ensure!(
            e.derived == derived,
            "derived should be {derived}: {}\nin {}",
            e.raw,
            ctx()
        );
        ensure!(
            e.pid == Some(x.pid) && e.comm.as_deref() == Some(x.comm),
            "owner should be {} {}: {}\nin {}",
            x.pid,
            x.comm,
            e.raw,
            ctx()
        );
        if entered.contains(e.old.as_str()) {
            ensure!(e.ms_in_old.is_some(), "ms_in_old missing: {}\nin {}", e.raw, ctx());
        }
        ensure!(e.time >= last_time, "time goes back: {}\nin {}", e.raw, ctx());
        ensure!(e.sport != 0, "source port 0: {}\nin {}", e.raw, ctx());
        last_time = e.time;
        entered.insert(&e.new);
    }
    let lives: Vec<&&Event> = events.iter().filter(|e| e.lifetime.is_some()).collect();
    ensure!(lives.len() == 1, "{} lifetimes (expected 1) in {}", lives.len(), ctx());
    let life = lives[0].lifetime.as_ref().expect("filtered");
    ensure!(
        x.closed_by.contains(&life.closed_by.as_str()),
        "closed_by {} (expected {:?}) in {}",
        life.closed_by,
        x.closed_by,
        ctx()
    );
    Ok(lives[0])
}

/// The sockets of `events` whose local end is `local`, by key.
fn sockets_at(events: &[Event], local: IpAddr) -> BTreeMap<(u16, u16), Vec<&Event>> {
    by_socket(events.iter().filter(|e| e.src == local))
        .into_iter()
        .map(|((_, _, sport, _, dport), v)| ((sport, dport), v))
        .collect()
}

/// The single socket at `local`, or an error listing what there is.
fn only_socket<'e>(events: &'e [Event], local: IpAddr, what: &str) -> Result<Vec<&'e Event>> {
    let mut s = sockets_at(events, local);
    // The listener (remote port 0) is not a connection.
    s.retain(|&(_, dport), _| dport != 0);
    if s.len() != 1 {
        bail!(
            "{what}: expected 1 socket at {local}, got {}:\n{}",
            s.len(),
            s.values().map(|v| dump(v)).collect::<String>()
        );
    }
    Ok(s.into_values().next().expect("one"))
}

fn pid_of(b: &Bg) -> u32 {
    u32::try_from(b.pid()).expect("positive pid")
}

const CLIENT_OPEN: [&str; 2] = ["CLOSE->SYN_SENT", "SYN_SENT->ESTABLISHED"];
const SERVER_OPEN: [&str; 2] = ["LISTEN->SYN_RECV", "SYN_RECV->ESTABLISHED"];

fn join<const N: usize>(open: [&'static str; N], rest: &[&'static str]) -> Vec<&'static str> {
    open.iter().chain(rest).copied().collect()
}

/// The client closes first: client FIN_WAIT1 → FIN_WAIT2 → TIME_WAIT
/// (derived) and, 60 s later, TIME_WAIT → CLOSE (derived); the server
/// CLOSE_WAIT → LAST_ACK → CLOSE. Also: the real source port on CLOSE →
/// SYN_SENT, handshake time, byte counts, and the --netns filter (a second
/// tracer that sees only the client's namespace).
#[test]
fn active_close() -> Result<()> {
    let Some(sc) = Scene::new("states_active_close", 29101)? else {
        return Ok(());
    };
    let server = sc.server("active", None)?;
    let client_ns = netns_inode(&sc.pair.client)?;
    let tracer = sc.tracer(&[])?;
    // The root namespace too: the tracer's readiness probes run there.
    let root_ns = std::fs::metadata("/proc/self/ns/net")?.ino();
    let only_client = sc.tracer(&["--netns", &client_ns.to_string(), "--netns", &root_ns.to_string()])?;
    let client = sc.client("active", None)?;
    let client_pid = pid_of(&client);
    let client = client.finish(READY)?;
    client.expect_code(0)?;
    let mut server = server;
    server.wait_stdout("client closed: eof", READY)?;
    // The TIME_WAIT socket ends 60 s (2MSL) after it started.
    let deadline = Instant::now() + tracer_tests::scaled(Duration::from_secs(75));
    let tw_end = |t: &Bg| {
        t.stdout()
            .lines()
            .filter_map(|l| tracer_tests::states_json::parse_event(l).ok())
            .any(|e| e.src == sc.client_ip() && e.old == "TIME_WAIT" && e.new == "CLOSE")
    };
    while !tw_end(&tracer) {
        ensure!(
            Instant::now() < deadline,
            "no TIME_WAIT -> CLOSE line 75 s after the close\n--- stdout:\n{}",
            tracer.stdout()
        );
        thread::sleep(Duration::from_millis(250));
    }
    let (_, ev) = sc.stop(tracer)?;
    let (_, ev_client_ns) = sc.stop_as(only_client, "tracer-netns.out")?;

    let sport: u16 = client
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("port ")?.trim().parse().ok())
        .context("client did not print its port")?;
    let c = only_socket(&ev, sc.client_ip(), "client")?;
    ensure!(
        c[0].sport == sport,
        "CLOSE -> SYN_SENT names source port {} but the client's port is {sport}",
        c[0].sport
    );
    let client_path = join(
        CLIENT_OPEN,
        &[
            "ESTABLISHED->FIN_WAIT1",
            "FIN_WAIT1->FIN_WAIT2",
            "FIN_WAIT2->TIME_WAIT",
            "TIME_WAIT->CLOSE",
        ],
    );
    let life = check_socket(
        &c,
        &Expect {
            what: "active closer (client)",
            paths: &[&client_path],
            pid: client_pid,
            comm: "python3",
            closed_by: &["local"],
        },
    )?;
    ensure!(
        life.new == "TIME_WAIT",
        "the lifetime belongs on the line that closes the full socket (-> TIME_WAIT): {}",
        life.raw
    );
    let l = life.lifetime.as_ref().expect("checked");
    ensure!(
        (l.bytes_sent, l.bytes_received) == (REQUEST as u64, REPLY as u64),
        "client bytes sent/received {}/{} (expected {REQUEST}/{REPLY}): {}",
        l.bytes_sent,
        l.bytes_received,
        life.raw
    );
    ensure!(l.handshake_ms.is_some(), "client handshake time missing: {}", life.raw);
    let tw_close = c.last().expect("path checked");
    let tw_ms = tw_close.ms_in_old.context("TIME_WAIT -> CLOSE without ms_in_old")?;
    ensure!(
        (55_000.0..70_000.0).contains(&tw_ms),
        "TIME_WAIT lasted {tw_ms} ms (2MSL is 60 s): {}",
        tw_close.raw
    );

    let s = only_socket(&ev, sc.server_ip(), "server")?;
    let server_path = join(
        SERVER_OPEN,
        &["ESTABLISHED->CLOSE_WAIT", "CLOSE_WAIT->LAST_ACK", "LAST_ACK->CLOSE"],
    );
    let life = check_socket(
        &s,
        &Expect {
            what: "passive closer (server)",
            paths: &[&server_path],
            pid: pid_of(&server),
            comm: "python3",
            closed_by: &["remote"],
        },
    )?;
    let l = life.lifetime.as_ref().expect("checked");
    ensure!(
        (l.bytes_sent, l.bytes_received) == (REPLY as u64, REQUEST as u64),
        "server bytes sent/received {}/{} (expected {REPLY}/{REQUEST}): {}",
        l.bytes_sent,
        l.bytes_received,
        life.raw
    );
    // The server's handshake starts with the SYN, which only the request
    // socket saw: known where it was seen (see check_socket), else null.
    ensure!(
        l.handshake_ms.is_none_or(|h| h <= l.duration_ms),
        "server handshake time longer than the connection: {}",
        life.raw
    );

    // --netns: only the client's namespace (no server socket), all of the client socket.
    ensure!(
        ev_client_ns.iter().all(|e| e.netns == client_ns),
        "--netns {client_ns} --netns {root_ns} let the server's namespace through:\n{}",
        dump(&ev_client_ns.iter().collect::<Vec<_>>())
    );
    let c2 = only_socket(&ev_client_ns, sc.client_ip(), "client, --netns")?;
    ensure!(
        path(&c2) == path(&c),
        "--netns tracer: {:?}, unfiltered: {:?}",
        path(&c2),
        path(&c)
    );
    Ok(())
}

/// The server closes first: the server's socket FIN_WAIT1 → FIN_WAIT2 →
/// TIME_WAIT, the client's CLOSE_WAIT → LAST_ACK → CLOSE.
#[test]
fn passive_close() -> Result<()> {
    let Some(sc) = Scene::new("states_passive_close", 29102)? else {
        return Ok(());
    };
    let server = sc.server("passive", None)?;
    let tracer = sc.tracer(&[])?;
    let mut client = sc.client("passive", None)?;
    let client_pid = pid_of(&client);
    client.wait_stdout("server closed: eof", READY)?;
    let client = client.finish(READY)?;
    client.expect_code(0)?;
    thread::sleep(Duration::from_millis(300));
    let (_, ev) = sc.stop(tracer)?;
    let c = only_socket(&ev, sc.client_ip(), "client")?;
    check_socket(
        &c,
        &Expect {
            what: "passive closer (client)",
            paths: &[&join(
                CLIENT_OPEN,
                &["ESTABLISHED->CLOSE_WAIT", "CLOSE_WAIT->LAST_ACK", "LAST_ACK->CLOSE"],
            )],
            pid: client_pid,
            comm: "python3",
            closed_by: &["remote"],
        },
    )?;
    let s = only_socket(&ev, sc.server_ip(), "server")?;
    check_socket(
        &s,
        &Expect {
            what: "active closer (server)",
            paths: &[&join(
                SERVER_OPEN,
                &["ESTABLISHED->FIN_WAIT1", "FIN_WAIT1->FIN_WAIT2", "FIN_WAIT2->TIME_WAIT"],
            )],
            pid: pid_of(&server),
            comm: "python3",
            closed_by: &["local"],
        },
    )?;
    Ok(())
}

/// Both sides send their FIN while the link is down (the server's veth is
/// set down: no netem on this kernel); when it comes back up the
/// retransmitted FINs cross, and a socket whose FIN is not yet acknowledged
/// when the peer's arrives goes FIN_WAIT1 → CLOSING → TIME_WAIT. At least
/// one of the two must (in practice both do).
#[test]
fn simultaneous_close() -> Result<()> {
    let Some(sc) = Scene::new("states_simultaneous_close", 29103)? else {
        return Ok(());
    };
    let go = sc.dir.join("go");
    let go_s = go.to_string_lossy().into_owned();
    let mut server = sc.server("sim", Some(&go_s))?;
    let tracer = sc.tracer(&[])?;
    let mut client = sc.client("sim", Some(&go_s))?;
    let client_pid = pid_of(&client);
    client.wait_stdout("armed", READY)?;
    server.wait_stdout("armed", READY)?;
    let link = |state: &str| -> Result<()> {
        let mut c = Command::new("ip");
        c.args(["-n", &sc.pair.server, "link", "set", &sc.pair.server_if, state]);
        run_ok("ip link set", c, READY).map(|_| ())
    };
    link("down")?;
    std::fs::write(&go, "")?;
    let shut = (|| -> Result<()> {
        client.wait_stdout("shut", READY)?;
        server.wait_stdout("shut", READY)
    })();
    // Give both FINs time to leave (and be lost) before the link returns.
    thread::sleep(Duration::from_millis(100));
    link("up")?;
    shut?;
    client.wait_stdout("peer: eof", Duration::from_secs(20))?;
    server.wait_stdout("peer: eof", Duration::from_secs(20))?;
    let client = client.finish(READY)?;
    client.expect_code(0)?;
    thread::sleep(Duration::from_millis(300));
    let (_, ev) = sc.stop(tracer)?;

    let crossed = ["ESTABLISHED->FIN_WAIT1", "FIN_WAIT1->CLOSING", "CLOSING->TIME_WAIT"];
    let acked_first = ["ESTABLISHED->FIN_WAIT1", "FIN_WAIT1->FIN_WAIT2", "FIN_WAIT2->TIME_WAIT"];
    let mut closing = 0;
    for (local, open, pid, what) in [
        (sc.client_ip(), &CLIENT_OPEN[..], client_pid, "client"),
        (sc.server_ip(), &SERVER_OPEN[..], pid_of(&server), "server"),
    ] {
        let s = only_socket(&ev, local, what)?;
        let a: Vec<&str> = open.iter().chain(&crossed).copied().collect();
        let b: Vec<&str> = open.iter().chain(&acked_first).copied().collect();
        let is_closing = path(&s).iter().any(|t| t == "FIN_WAIT1->CLOSING");
        check_socket(
            &s,
            &Expect {
                what,
                paths: &[&a, &b],
                pid,
                comm: "python3",
                closed_by: if is_closing {
                    &["both"][..]
                } else {
                    &["local", "both"][..]
                },
            },
        )?;
        closing += usize::from(is_closing);
    }
    ensure!(
        closing > 0,
        "neither socket went through CLOSING:\n{}",
        dump(&ev.iter().collect::<Vec<_>>())
    );
    println!("simultaneous close: {closing} of 2 sockets went FIN_WAIT1 -> CLOSING");
    Ok(())
}

/// The client aborts with SO_LINGER {1, 0}: a RST, both sockets
/// ESTABLISHED → CLOSE, closed by reset.
#[test]
fn rst_abort() -> Result<()> {
    let Some(sc) = Scene::new("states_rst_abort", 29104)? else {
        return Ok(());
    };
    let mut server = sc.server("rst", None)?;
    let tracer = sc.tracer(&[])?;
    let client = sc.client("rst", None)?;
    let client_pid = pid_of(&client);
    let client = client.finish(READY)?;
    client.expect_code(0)?;
    server.wait_stdout("peer: ECONNRESET", READY)?;
    thread::sleep(Duration::from_millis(300));
    let (_, ev) = sc.stop(tracer)?;
    let c = only_socket(&ev, sc.client_ip(), "client")?;
    check_socket(
        &c,
        &Expect {
            what: "client (sends the RST)",
            paths: &[&join(CLIENT_OPEN, &["ESTABLISHED->CLOSE"])],
            pid: client_pid,
            comm: "python3",
            closed_by: &["reset"],
        },
    )?;
    let s = only_socket(&ev, sc.server_ip(), "server")?;
    check_socket(
        &s,
        &Expect {
            what: "server (receives the RST)",
            paths: &[&join(SERVER_OPEN, &["ESTABLISHED->CLOSE"])],
            pid: pid_of(&server),
            comm: "python3",
            closed_by: &["reset"],
        },
    )?;
    Ok(())
}

/// Nothing listens: the RST answers the SYN, SYN_SENT → CLOSE, refused.
#[test]
fn refused() -> Result<()> {
    let Some(sc) = Scene::new("states_refused", 29105)? else {
        return Ok(());
    };
    let tracer = sc.tracer(&[])?;
    let client = sc.client("connect", None)?;
    let client_pid = pid_of(&client);
    let client = client.finish(READY)?;
    ensure!(
        client.stdout.contains("connect: ECONNREFUSED"),
        "connect was not refused\n{}",
        client.dump()
    );
    thread::sleep(Duration::from_millis(300));
    let (f, ev) = sc.stop(tracer)?;
    let c = only_socket(&ev, sc.client_ip(), "client")?;
    let life = check_socket(
        &c,
        &Expect {
            what: "refused client",
            paths: &[&["CLOSE->SYN_SENT", "SYN_SENT->CLOSE"]],
            pid: client_pid,
            comm: "python3",
            closed_by: &["refused"],
        },
    )?;
    let l = life.lifetime.as_ref().expect("checked");
    ensure!(
        l.handshake_ms.is_none() && l.bytes_sent == 0 && l.bytes_received == 0,
        "a refused connection has no handshake and no data: {}",
        life.raw
    );
    ensure!(
        ev.iter().all(|e| e.src != sc.server_ip()),
        "server side lines for a refused connection:\n{}",
        dump(&ev.iter().collect::<Vec<_>>())
    );
    print_alerts(&f);
    Ok(())
}

/// The server's namespace silently drops TCP to the port (a policy-routing
/// blackhole rule: iproute2 only; forwarding on so that no ICMP error is
/// sent); the client's namespace has tcp_syn_retries = 1: the connect times
/// out after 3 s, with SYN retransmissions in between.
#[test]
fn syn_to_dropped_port() -> Result<()> {
    let Some(sc) = Scene::new("states_syn_dropped", 29106)? else {
        return Ok(());
    };
    let port = sc.port.to_string();
    for (ns, args) in [
        (
            &sc.pair.server,
            vec![
                "rule",
                "add",
                "pref",
                "5",
                "ipproto",
                "tcp",
                "dport",
                &port,
                "blackhole",
            ],
        ),
        (&sc.pair.server, vec!["rule", "del", "pref", "0", "table", "local"]),
        (&sc.pair.server, vec!["rule", "add", "pref", "10", "table", "local"]),
    ] {
        let mut c = Command::new("ip");
        c.arg("-n").arg(ns).args(&args);
        run_ok("ip rule", c, READY)?;
    }
    for (ns, key) in [
        (&sc.pair.server, "net.ipv4.ip_forward=1"),
        (&sc.pair.client, "net.ipv4.tcp_syn_retries=1"),
    ] {
        let mut c = tracer_tests::in_netns(ns, "sysctl");
        c.args(["-qw", key]);
        run_ok("sysctl", c, READY)?;
    }
    // Something listens, so only the drop keeps the SYN from it.
    let _server = sc.server("leak", None)?;
    let tracer = sc.tracer(&[])?;
    let client = sc.client("connect", None)?;
    let client_pid = pid_of(&client);
    let client = client.finish(Duration::from_secs(20))?;
    ensure!(
        client.stdout.contains("connect: ETIMEDOUT"),
        "connect did not time out\n{}",
        client.dump()
    );
    thread::sleep(Duration::from_millis(300));
    let (f, ev) = sc.stop(tracer)?;
    let c = only_socket(&ev, sc.client_ip(), "client")?;
    let life = check_socket(
        &c,
        &Expect {
            what: "client whose SYNs are dropped",
            paths: &[&["CLOSE->SYN_SENT", "SYN_SENT->CLOSE"]],
            pid: client_pid,
            comm: "python3",
            closed_by: &["timeout"],
        },
    )?;
    let l = life.lifetime.as_ref().expect("checked");
    // The kernel's own count (this namespace saw no other connection). With
    // tcp_syn_retries = 1 that is 2 on 6.x: the time budget is 3 s and the
    // first retransmissions are 1 s apart (tcp_syn_linear_timeouts).
    let retrans = syn_retrans_counter(&sc.pair.client)?;
    ensure!(
        retrans >= 1 && l.syn_retransmits == retrans,
        "the kernel counted {retrans} SYN retransmissions (TcpExt TCPSynRetrans), the lifetime says {}: {}",
        l.syn_retransmits,
        life.raw
    );
    ensure!(
        (2_500.0..6_000.0).contains(&l.duration_ms),
        "SYN, 1 s, retransmission, 2 s, timeout: the connection lasted {} ms: {}",
        l.duration_ms,
        life.raw
    );
    ensure!(
        ev.iter().all(|e| e.src != sc.server_ip() || e.dport == 0),
        "server side lines for dropped SYNs:\n{}",
        dump(&ev.iter().collect::<Vec<_>>())
    );
    print_alerts(&f);
    Ok(())
}

/// TcpExt TCPSynRetrans of namespace `ns` (/proc/net/netstat read from inside it).
fn syn_retrans_counter(ns: &str) -> Result<u64> {
    let mut c = tracer_tests::in_netns(ns, "cat");
    c.arg("/proc/net/netstat");
    let out = run_ok("cat /proc/net/netstat", c, READY)?.stdout;
    let tcpext: Vec<Vec<&str>> = out
        .lines()
        .filter_map(|l| l.strip_prefix("TcpExt: "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let [names, values] = tcpext.as_slice() else {
        bail!("no TcpExt header and values in /proc/net/netstat:\n{out}");
    };
    let i = names
        .iter()
        .position(|n| *n == "TCPSynRetrans")
        .context("no TCPSynRetrans in /proc/net/netstat")?;
    values
        .get(i)
        .context("short TcpExt line")?
        .parse()
        .context("TCPSynRetrans")
}

fn print_alerts(f: &Finished) {
    for l in f.stderr.lines().filter(|l| l.starts_with("ALERT")) {
        println!("alert: {l}");
    }
}

/// Whether `line` is an alert about CLOSE_WAIT naming the process and port.
fn names_leak(line: &str, pid: u32, port: u16) -> bool {
    let words: Vec<&str> = line
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    (line.starts_with("ALERT warning ") || line.starts_with("ALERT critical "))
        && line.contains("CLOSE_WAIT")
        && words.contains(&"python3")
        && words.contains(&pid.to_string().as_str())
        && words.contains(&port.to_string().as_str())
}

/// A server that accepts and never closes; 25 clients connect and close.
/// Text mode prints an ALERT line on stdout naming CLOSE_WAIT, the server's
/// command, pid and port; --json prints it on stderr (stdout stays JSON).
#[test]
fn close_wait_leak() -> Result<()> {
    let Some(sc) = Scene::new("states_close_wait_leak", 29107)? else {
        return Ok(());
    };
    let server = sc.server("leak", None)?;
    let spid = pid_of(&server);
    let port = sc.port.to_string();
    let json = sc.tracer(&[])?;
    let text = start_tracer("tracer states (text)", &["--port", &port], false, sc.port)?;
    let mut client = sc.client("many", Some("25"))?;
    client.wait_stdout("closed", READY)?;
    let deadline = Instant::now() + tracer_tests::scaled(Duration::from_secs(90));
    let alert_in = |s: String| s.lines().any(|l| names_leak(l, spid, sc.port));
    while !(alert_in(text.stdout()) && alert_in(json.stderr())) {
        if Instant::now() > deadline {
            bail!(
                "no ALERT naming CLOSE_WAIT, python3, pid {spid} and port {port} within 90 s\n\
                 --- text stdout:\n{}--- text stderr:\n{}--- json stderr:\n{}",
                text.stdout(),
                text.stderr(),
                json.stderr()
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
    let (_, ev) = sc.stop_as(json, "tracer-json.out")?;
    let t = text.interrupt(STOP)?;
    std::fs::write(sc.dir.join("tracer-text.out"), t.dump())?;
    t.expect_code(0)?;
    for l in t.stdout.lines().filter(|l| l.starts_with("ALERT")) {
        println!("alert (text mode): {l}");
    }
    let into_close_wait = ev
        .iter()
        .filter(|e| e.src == sc.server_ip() && e.transition() == "ESTABLISHED->CLOSE_WAIT")
        .count();
    ensure!(
        into_close_wait == 25,
        "{into_close_wait} server sockets went to CLOSE_WAIT, not 25"
    );
    Ok(())
}

/// The issue's check: five curl GETs and 25 connections that the server
/// never closes, all to port 80; `tracer states --json` unfiltered in the
/// root namespace reports every connection, names curl as the owner of all
/// five SYN_SENT transitions, shows at least 7 kinds of transition, prints
/// only JSON, and names the right owner on ≥ 99 % of the lines of these
/// connections.
#[test]
fn acceptance() -> Result<()> {
    let Some(sc) = Scene::new("states_acceptance", 80)? else {
        return Ok(());
    };
    let server = sc.server("http", None)?;
    let spid = pid_of(&server);
    let tracer = start_tracer("tracer states", &[], true, 80)?;
    // local port -> (pid, comm) of the client process.
    let mut owners: BTreeMap<u16, (u32, &str)> = BTreeMap::new();
    let mut curl_pids = BTreeSet::new();
    for _ in 0..5 {
        let mut c = sc.pair.client_cmd("curl");
        c.args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{local_port}",
        ])
        .arg(sc.pair.server_url(false, 80, ""));
        let b = Bg::spawn("curl", c)?;
        let pid = pid_of(&b);
        let out = b.finish(Duration::from_secs(20))?;
        out.expect_code(0)?;
        let (code, lport) = out.stdout.split_once(' ').context("curl -w output")?;
        ensure!(code == "200", "GET returned {code}: {}", out.stderr);
        owners.insert(lport.trim().parse()?, (pid, "curl"));
        curl_pids.insert(pid);
    }
    let mut many = sc.client("many", Some("25"))?;
    let many_pid = pid_of(&many);
    many.wait_stdout("closed", READY)?;
    let ports = many.stdout();
    for p in ports
        .lines()
        .find_map(|l| l.strip_prefix("ports "))
        .context("ports")?
        .split_whitespace()
    {
        owners.insert(p.parse()?, (many_pid, "python3"));
    }
    ensure!(owners.len() == 30, "30 distinct client ports expected: {owners:?}");
    thread::sleep(Duration::from_millis(500));
    let (_, ev) = sc.stop(tracer)?;

    let clients = sockets_at(&ev, sc.client_ip());
    let servers = sockets_at(&ev, sc.server_ip());
    let mut right = 0usize;
    let mut total = 0usize;
    let mut wrong = Vec::new();
    for (&lport, &(pid, comm)) in &owners {
        let c = clients
            .get(&(lport, 80))
            .with_context(|| format!("connection from port {lport} ({comm}) to port 80 not reported"))?;
        ensure!(
            c[0].transition() == "CLOSE->SYN_SENT",
            "connection from port {lport} does not start with CLOSE -> SYN_SENT:\n{}",
            dump(c)
        );
        let s = servers
            .get(&(80, lport))
            .with_context(|| format!("server side of port {lport} -> 80 not reported"))?;
        for (e, pid) in c.iter().map(|e| (e, pid)).chain(s.iter().map(|e| (e, spid))) {
            total += 1;
            let want = if e.src == sc.server_ip() { "python3" } else { comm };
            if e.pid == Some(pid) && e.comm.as_deref() == Some(want) {
                right += 1;
            } else {
                wrong.push(e.raw.clone());
            }
        }
    }
    let syn_sent: Vec<&Event> = ev
        .iter()
        .filter(|e| e.new == "SYN_SENT" && e.comm.as_deref() == Some("curl"))
        .collect();
    let named: BTreeSet<u32> = syn_sent.iter().filter_map(|e| e.pid).collect();
    ensure!(
        syn_sent.len() == 5 && named == curl_pids,
        "the five SYN_SENT transitions of curl (pids {curl_pids:?}) must name curl: {}",
        dump(&syn_sent)
    );
    for (&lport, &(pid, comm)) in owners.iter().filter(|(_, (_, c))| *c == "curl") {
        let first = clients[&(lport, 80)][0];
        ensure!(
            first.pid == Some(pid) && first.comm.as_deref() == Some(comm),
            "CLOSE -> SYN_SENT of curl pid {pid}: {}",
            first.raw
        );
    }
    let kinds: BTreeSet<String> = ev.iter().filter(|e| e.old != e.new).map(Event::transition).collect();
    ensure!(kinds.len() >= 7, "only {} kinds of transition: {kinds:?}", kinds.len());
    let share = right as f64 / total.max(1) as f64;
    println!(
        "acceptance: {} connections, {total} transitions, owner right on {right} ({:.2} %), {} kinds: {kinds:?}",
        owners.len(),
        share * 100.0,
        kinds.len()
    );
    ensure!(
        share >= 0.99,
        "owner right on only {right} of {total} transitions; wrong:\n{}",
        wrong.join("\n")
    );
    Ok(())
}
