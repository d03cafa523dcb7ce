//! `--states`: every connection's TCP state changes, complete and in order,
//! on the connecting and on the accepting side, for IPv4 and IPv6.
//!
//! The server below answers one request per connection and closes only
//! after it has read the client's FIN, so the close order is deterministic:
//! the client closes first (FIN_WAIT1 → FIN_WAIT2 → CLOSE; TIME_WAIT is
//! never reported by the kernel) and the server goes CLOSE_WAIT →
//! LAST_ACK → CLOSE.

use std::{thread, time::Duration};

use anyhow::{Context as _, Result, ensure};
use tracer_tests::{
    Bg, NetnsPair, artifact_dir,
    lines::state_lines,
    process::run_ok,
    require_privileges,
    states::{CLIENT_PATHS, SERVER_PATHS, check_lifecycle, group},
    tracer_bin,
};

const PORT: u16 = 8080;
const GETS_PER_FAMILY: usize = 2;

/// argv: IPv4 address, IPv6 address, port. Prints "ready" once both
/// sockets listen.
const SERVER: &str = r#"
import socket, sys, threading

def handle(c):
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(4096)
        if not d:
            c.close()
            return
        data += d
    body = b"x" * 3000
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    # Close only after the client has closed: its FIN comes first.
    while c.recv(4096):
        pass
    c.close()

def serve(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()

socks = []
for fam, addr in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, int(sys.argv[3])))
    s.listen(16)
    socks.append(s)
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"#;

#[test]
fn states() -> Result<()> {
    if !require_privileges("states") {
        return Ok(());
    }
    let dir = artifact_dir("states");
    let pair = NetnsPair::new("trt")?;
    let mut server = {
        let mut c = pair.server_cmd("python3");
        c.args([
            "-u",
            "-c",
            SERVER,
            &pair.server_v4.to_string(),
            &pair.server_v6.to_string(),
            &PORT.to_string(),
        ]);
        Bg::spawn("server", c)?
    };
    server.wait_stdout("ready", Duration::from_secs(10))?;

    let mut tracer = {
        let mut c = pair.client_cmd(tracer_bin());
        c.args(["-i", &pair.client_if, "-nn", "--states"]);
        Bg::spawn("tracer", c)?
    };
    tracer.wait_stderr("listening on", Duration::from_secs(30))?;
    for v6 in [false, true] {
        for _ in 0..GETS_PER_FAMILY {
            let mut c = pair.client_cmd("curl");
            c.args(["-sS", "-g", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg(pair.server_url(v6, PORT, ""));
            let out = run_ok("curl", c, Duration::from_secs(20))?;
            ensure!(out.stdout == "200", "GET returned {:?}: {}", out.stdout, out.stderr);
        }
    }
    thread::sleep(Duration::from_secs(1));
    let tracer = tracer.interrupt(Duration::from_secs(15))?;
    drop(server);
    std::fs::write(dir.join("tracer.out"), tracer.dump())?;
    tracer.expect_no_panic()?;
    tracer.expect_code(0)?;

    let all = state_lines(&tracer.stdout)?;
    for v6 in [false, true] {
        let (client, server) = if v6 {
            (pair.client_v6.to_string(), pair.server_v6.to_string())
        } else {
            (pair.client_v4.to_string(), pair.server_v4.to_string())
        };
        let family = if v6 { "IPv6" } else { "IPv4" };
        let ours: Vec<_> = all
            .iter()
            .filter(|s| s.v6 == v6)
            .filter(|s| (s.local == client && s.remote == server) || (s.local == server && s.remote == client))
            .cloned()
            .collect();
        let conns = group(&ours);
        let clients: Vec<_> = conns.iter().filter(|c| c.local == client).collect();
        let servers: Vec<_> = conns.iter().filter(|c| c.local == server).collect();
        ensure!(
            clients.len() == GETS_PER_FAMILY && servers.len() == GETS_PER_FAMILY,
            "{family}: expected {GETS_PER_FAMILY} client and {GETS_PER_FAMILY} server connections, got {} and {}:\n{}\n--- tracer stdout:\n{}",
            clients.len(),
            servers.len(),
            conns.iter().map(|c| c.describe()).collect::<Vec<_>>().join("\n"),
            tracer.stdout
        );
        for c in &clients {
            ensure!(c.rport == PORT, "{family}: client connection to port {}", c.rport);
            // The client always closes first here: FIN_WAIT2 (or, should the
            // FINs cross after all, CLOSING), never CLOSE_WAIT.
            let path = check_lifecycle(c, CLIENT_PATHS).with_context(|| format!("{family} client socket"))?;
            ensure!(
                path < 2,
                "{family}: client socket saw the server close first:\n{}",
                c.describe()
            );
        }
        for c in &servers {
            ensure!(c.lport == PORT, "{family}: server connection on port {}", c.lport);
            let path = check_lifecycle(c, SERVER_PATHS).with_context(|| format!("{family} server socket"))?;
            ensure!(
                path < 2,
                "{family}: server socket closed before the client:\n{}",
                c.describe()
            );
        }
        // Client lines name the remote port; all client ports are distinct.
        let mut ports: Vec<u16> = clients.iter().map(|c| c.lport).collect();
        ports.sort_unstable();
        ports.dedup();
        ensure!(
            ports.len() == GETS_PER_FAMILY,
            "{family}: client ports not distinct: {ports:?}"
        );
    }
    Ok(())
}
