//! `cargo xtask demo`: two network namespaces joined by a veth pair, an HTTP
//! server in one, curl (IPv4 and IPv6) in the other, and the tracer on the
//! client's interface with `--states --print -w target/demo/demo.pcap`.
//! Shows what it printed, checks the pcap with tshark and tcpdump. Then the
//! socket-state tracer: `tracer states` (root namespace, filtered to the two
//! demo namespaces) while curl fetches again and a leaky server accepts
//! connections it never closes, and `tracer stat --once` in the server's
//! namespace next to `ss -tan`. Removes everything (the guards do so on
//! errors and panics too). No outside network is used.

use std::{os::unix::fs::MetadataExt as _, path::Path, process::Command, thread, time::Duration};

use anyhow::{Context as _, Result, bail, ensure};
use tracer_tests::{Bg, NetnsPair, process::run as run_cmd};

use crate::{
    cmd::{self, status},
    setup, tools,
};

const PORT: u16 = 8000;

fn section(title: &str) {
    println!("\n=== {title} ===");
}

pub fn run() -> Result<()> {
    if !cmd::is_root() {
        bail!("cargo xtask demo needs root: it creates network namespaces and loads eBPF programs (run it as root)");
    }
    setup::run()?;
    tools::ensure()?;
    let root = cmd::root();
    section("cargo build --release");
    status(
        "cargo build --release",
        cmd::cargo().current_dir(&root).args(["build", "--release"]),
    )?;
    let bin = cmd::target_dir().join("release/tracer");

    let dir = root.join("target/demo");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).with_context(|| format!("creating {}", www.display()))?;
    let page: String = (1..=60)
        .map(|i| format!("<p>tracer demo page, line {i}</p>\n"))
        .collect();
    std::fs::write(www.join("index.html"), format!("<html><body>\n{page}</body></html>\n"))?;
    let pcap = dir.join("demo.pcap");
    let _ = std::fs::remove_file(&pcap);

    tracer_tests::netns::remove_stale("trdemo");
    let pair = NetnsPair::new("trdemo")?;
    section("network");
    println!(
        "{} ({} {} / {}) <-veth-> {} ({} {} / {})",
        pair.client,
        pair.client_if,
        pair.client_v4,
        pair.client_v6,
        pair.server,
        pair.server_if,
        pair.server_v4,
        pair.server_v6
    );

    let mut server = {
        let mut c = pair.server_cmd("python3");
        c.args([
            "-u",
            "-m",
            "http.server",
            &PORT.to_string(),
            "--bind",
            "::",
            "--directory",
        ])
        .arg(&www);
        Bg::spawn("http.server", c)?
    };
    server.wait_stdout("Serving HTTP", Duration::from_secs(10))?;

    let args = ["-i", pair.client_if.as_str(), "-nn", "--states", "--print", "-w"];
    println!("tracer {} {} (in {})", args.join(" "), pcap.display(), pair.client);
    let mut tracer = {
        let mut c = pair.client_cmd(&bin);
        c.args(args).arg(&pcap);
        Bg::spawn("tracer", c)?
    };
    tracer.wait_stderr("listening on", Duration::from_secs(30))?;

    for v6 in [false, true] {
        let url = pair.server_url(v6, PORT, "index.html");
        let mut c = pair.client_cmd("curl");
        c.args([
            "-sS",
            "-g",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download} bytes",
        ])
        .arg(&url);
        let out = run_cmd("curl", c, Duration::from_secs(20))?;
        println!("curl {url}: {}{}", out.stdout, out.stderr.trim());
    }
    thread::sleep(Duration::from_secs(1));
    let tracer = tracer.interrupt(Duration::from_secs(15))?;

    section("tracer stdout");
    print!("{}", tracer.stdout);
    section("tracer stderr");
    print!("{}", tracer.stderr);
    ensure!(
        tracer.code() == Some(0) && !tracer.stderr.contains("panicked"),
        "the tracer exited with {}",
        tracer.status
    );

    validate(&pcap)?;
    states_demo(&bin, &pair)?;
    drop(server);
    section("done");
    println!(
        "pcap kept at {} (open it with Wireshark); namespaces removed",
        pcap.display()
    );
    Ok(())
}

/// A server that accepts and never closes: every connection a client closes
/// stays in CLOSE_WAIT on its side. argv: address, port.
const LEAKY: &str = r#"
import socket, sys, threading
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("ready", flush=True)
kept = []
while True:
    c, _ = s.accept()
    kept.append(c)
"#;

/// Closes `n` connections to `addr:port` from the client namespace.
const CLIENTS: &str = r#"
import socket, sys
for _ in range(int(sys.argv[3])):
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    c.close()
"#;

const LEAKY_PORT: u16 = 9000;
const LEAKED: usize = 8;

fn states_demo(bin: &Path, pair: &NetnsPair) -> Result<()> {
    let inode = |ns: &str| -> Result<String> {
        let path = format!("/var/run/netns/{ns}");
        Ok(std::fs::metadata(&path)
            .with_context(|| format!("stat {path}"))?
            .ino()
            .to_string())
    };
    let (client_ns, server_ns) = (inode(&pair.client)?, inode(&pair.server)?);
    let args = ["states", "--netns", client_ns.as_str(), "--netns", server_ns.as_str()];
    section(&format!("tracer {} (root namespace)", args.join(" ")));
    let mut states = {
        let mut c = Command::new(bin);
        c.args(args);
        Bg::spawn("tracer states", c)?
    };
    states.wait_stderr("tracing TCP socket states", Duration::from_secs(30))?;

    let mut server = {
        let mut c = pair.server_cmd("python3");
        c.args(["-u", "-c", LEAKY, &pair.server_v4.to_string(), &LEAKY_PORT.to_string()]);
        Bg::spawn("leaky server", c)?
    };
    server.wait_stdout("ready", Duration::from_secs(10))?;
    let mut c = pair.client_cmd("curl");
    c.args(["-sS", "--max-time", "10", "-o", "/dev/null"])
        .arg(pair.server_url(false, PORT, "index.html"));
    run_cmd("curl", c, Duration::from_secs(20))?.expect_code(0)?;
    let mut c = pair.client_cmd("python3");
    c.args([
        "-c",
        CLIENTS,
        &pair.server_v4.to_string(),
        &LEAKY_PORT.to_string(),
        &LEAKED.to_string(),
    ]);
    run_cmd("clients", c, Duration::from_secs(20))?.expect_code(0)?;
    thread::sleep(Duration::from_millis(1500));

    section(&format!("tracer stat --once (in {}) and ss -tan", pair.server));
    let mut c = pair.server_cmd(bin);
    c.args(["stat", "--once"]);
    let stat = run_cmd("tracer stat", c, Duration::from_secs(20))?;
    stat.expect_code(0)?;
    print!("{}", stat.stdout);
    let mut c = pair.server_cmd("ss");
    c.arg("-tan");
    let ss = run_cmd("ss", c, Duration::from_secs(20))?;
    let close_wait = ss.stdout.lines().filter(|l| l.starts_with("CLOSE-WAIT")).count();
    println!("ss -tan: {close_wait} sockets in CLOSE-WAIT");
    drop(server);

    let states = states.interrupt(Duration::from_secs(15))?;
    section("tracer states stdout");
    print!("{}", states.stdout);
    section("tracer states stderr");
    print!("{}", states.stderr);
    ensure!(
        states.code() == Some(0) && !states.stderr.contains("panicked"),
        "tracer states exited with {}",
        states.status
    );
    ensure!(
        stat.stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["CLOSE_WAIT", &close_wait.to_string()]),
        "tracer stat --once does not count the {close_wait} CLOSE_WAIT sockets ss shows"
    );
    Ok(())
}

fn validate(pcap: &Path) -> Result<()> {
    section(&format!("tshark -r {}", pcap.display()));
    let mut c = Command::new("tshark");
    c.arg("-r").arg(pcap);
    let out = run_cmd("tshark", c, Duration::from_secs(60))?;
    out.expect_code(0)?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    for l in lines.iter().take(5) {
        println!("{l}");
    }
    println!("... tshark reads {} packets", lines.len());
    ensure!(!lines.is_empty(), "tshark reads no packets from {}", pcap.display());

    section(&format!("tcpdump -nn -r {} | head", pcap.display()));
    let mut c = Command::new("tcpdump");
    c.args(["-nn", "-r"]).arg(pcap);
    let out = run_cmd("tcpdump", c, Duration::from_secs(60))?;
    out.expect_code(0)?;
    for l in out.stdout.lines().take(10) {
        println!("{l}");
    }
    Ok(())
}
