//! `cargo xtask captures`: records real traffic between two network namespaces with tcpdump,
//! into tracer/tests/data/real-*.pcap, for the conformance comparison (`cargo xtask
//! conformance`). Idempotent: a capture that exists is kept unless `--force`.
//!
//! Each capture is taken by `tcpdump -i VETH -U -w FILE` in the client namespace while one
//! scenario runs: HTTP over IPv4 and IPv6 (curl against python3 -m http.server), refused
//! connections (RST), ping and ping -6, arping, a one-second iperf3 run (snap length 200), UDP
//! to an echo server and to a closed port (ICMP port unreachable), SYN
//! retransmissions to a host that never answers, and a three-packet close. Only the
//! namespaces' own addresses are used; the guards remove everything, on errors too.

use std::{
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use tracer_tests::{Bg, NetnsPair, process::run as run_cmd};

use crate::{cmd, tools};

const HTTP_PORT: u16 = 8000;
const CLOSE_PORT: u16 = 8100;
const CLOSED_PORT: u16 = 9;
const IPERF_PORT: u16 = 5201;
// A port no tcpdump decoder claims (7000-7009 would be AFS rx): plain "UDP, length N".
const ECHO_PORT: u16 = 40000;
/// Keep committed captures small.
const MAX_BYTES: u64 = 300 * 1024;

/// A scenario: the file it writes, tcpdump's extra options, and the traffic.
struct Scenario {
    file: &'static str,
    snaplen: Option<u32>,
    traffic: fn(&NetnsPair, &Path) -> Result<()>,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        file: "real-http4.pcap",
        snaplen: None,
        traffic: |p, www| http(p, www, false),
    },
    Scenario {
        file: "real-http6.pcap",
        snaplen: None,
        traffic: |p, www| http(p, www, true),
    },
    Scenario {
        file: "real-refused.pcap",
        snaplen: None,
        traffic: |p, _| refused(p),
    },
    Scenario {
        file: "real-ping.pcap",
        snaplen: None,
        traffic: |p, _| ping(p),
    },
    Scenario {
        file: "real-arping.pcap",
        snaplen: None,
        traffic: |p, _| arping(p),
    },
    Scenario {
        file: "real-iperf3.pcap",
        snaplen: Some(200),
        traffic: |p, _| iperf3(p),
    },
    Scenario {
        file: "real-udp.pcap",
        snaplen: None,
        traffic: |p, _| udp(p),
    },
    Scenario {
        file: "real-syn-retransmit.pcap",
        snaplen: None,
        traffic: |p, _| syn_retransmit(p),
    },
    Scenario {
        file: "real-close.pcap",
        snaplen: None,
        traffic: |p, _| three_packet_close(p),
    },
];

fn quiet(what: &str, mut c: Command, limit: Duration) -> Result<tracer_tests::Finished> {
    c.env("LC_ALL", "C");
    run_cmd(what, c, limit)
}

fn curl(p: &NetnsPair, url: &str, extra: &[&str]) -> Result<String> {
    let mut c = p.client_cmd("curl");
    c.args(["-sS", "-g", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(extra)
        .arg(url);
    let out = quiet("curl", c, Duration::from_secs(20))?;
    Ok(format!("{}{}", out.stdout, out.stderr.trim()))
}

fn http(p: &NetnsPair, www: &Path, v6: bool) -> Result<()> {
    let mut c = p.server_cmd("python3");
    c.args([
        "-u",
        "-m",
        "http.server",
        &HTTP_PORT.to_string(),
        "--bind",
        "::",
        "--directory",
    ])
    .arg(www);
    let mut server = Bg::spawn("http.server", c)?;
    server.wait_stdout("Serving HTTP", Duration::from_secs(10))?;
    let url = p.server_url(v6, HTTP_PORT, "index.html");
    println!("  curl {url}: {}", curl(p, &url, &["--max-time", "10"])?);
    let missing = p.server_url(v6, HTTP_PORT, "missing.html");
    println!("  curl {missing}: {}", curl(p, &missing, &["--max-time", "10"])?);
    Ok(())
}

fn refused(p: &NetnsPair) -> Result<()> {
    for v6 in [false, true] {
        let url = p.server_url(v6, CLOSED_PORT, "");
        println!("  curl {url}: {}", curl(p, &url, &["--max-time", "5"])?);
    }
    Ok(())
}

fn ping(p: &NetnsPair) -> Result<()> {
    for (v, addr) in [("-4", p.server_v4.to_string()), ("-6", p.server_v6.to_string())] {
        let mut c = p.client_cmd("ping");
        c.args([v, "-c", "3", "-i", "0.2", "-s", "100", &addr]);
        let out = quiet("ping", c, Duration::from_secs(20))?;
        println!("  ping {v} {addr}: {}", out.stdout.lines().last().unwrap_or("").trim());
        out.expect_code(0)?;
    }
    Ok(())
}

fn arping(p: &NetnsPair) -> Result<()> {
    let mut c = p.client_cmd("arping");
    c.args(["-c", "3", "-i", &p.client_if, &p.server_v4.to_string()]);
    let out = quiet("arping", c, Duration::from_secs(20))?;
    println!(
        "  arping {}: {}",
        p.server_v4,
        out.stdout.lines().last().unwrap_or("").trim()
    );
    Ok(())
}

fn iperf3(p: &NetnsPair) -> Result<()> {
    let mut c = p.server_cmd("iperf3");
    c.args(["-s", "-1", "--forceflush", "-p", &IPERF_PORT.to_string()]);
    let mut server = Bg::spawn("iperf3 -s", c)?;
    server.wait_stdout("Server listening", Duration::from_secs(10))?;
    // Paced so that the capture stays small: about 1.2 MB of data in 1 s.
    let mut c = p.client_cmd("iperf3");
    c.args([
        "-c",
        &p.server_v4.to_string(),
        "-p",
        &IPERF_PORT.to_string(),
        "-t",
        "1",
        "-b",
        "10M",
        "-l",
        "16K",
    ]);
    let out = quiet("iperf3 -c", c, Duration::from_secs(30))?;
    println!(
        "  iperf3 -t 1: {}",
        out.stdout
            .lines()
            .rev()
            .find(|l| l.contains("sender"))
            .unwrap_or("")
            .trim()
    );
    out.expect_code(0)?;
    server.finish(Duration::from_secs(10))?;
    Ok(())
}

/// UDP datagrams to an echo server and to a closed port (ICMP and ICMPv6 port unreachable),
/// over IPv4 and IPv6.
fn udp(p: &NetnsPair) -> Result<()> {
    let server_py = format!(
        "import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.bind(('::',{ECHO_PORT}))\n\
         print('ready',flush=True)\nfor _ in range(4):\n d,a=s.recvfrom(2048)\n s.sendto(d,a)\n"
    );
    let mut c = p.server_cmd("python3");
    c.args(["-c", &server_py]);
    let mut server = Bg::spawn("udp echo", c)?;
    server.wait_stdout("ready", Duration::from_secs(10))?;
    let client_py = format!(
        "import socket\nfor fam,a in ((socket.AF_INET,'{}'),(socket.AF_INET6,'{}')):\n\
         \tc=socket.socket(fam,socket.SOCK_DGRAM)\n\tc.settimeout(2)\n\
         \tfor m in (b'ping',b'x'*300):\n\t\tc.sendto(m,(a,{ECHO_PORT}))\n\t\tc.recvfrom(2048)\n\
         \tc.sendto(b'nobody',(a,{CLOSED_PORT}))\n",
        p.server_v4, p.server_v6
    );
    let mut c = p.client_cmd("python3");
    c.args(["-c", &client_py]);
    quiet("udp client", c, Duration::from_secs(20))?.expect_code(0)?;
    server.finish(Duration::from_secs(10))?.expect_code(0)?;
    Ok(())
}

/// SYNs to an address on the link whose neighbour entry is fixed but where nobody answers: the
/// SYN goes on the wire and is retransmitted (at 1 s and 3 s) until curl gives up.
fn syn_retransmit(p: &NetnsPair) -> Result<()> {
    let o = p.server_v4.octets();
    let v4 = std::net::Ipv4Addr::new(o[0], o[1], o[2], 99);
    let s = p.server_v6.segments();
    let v6 = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0x99);
    for (addr, mac) in [
        (v4.to_string(), "02:00:00:00:00:99"),
        (v6.to_string(), "02:00:00:00:06:99"),
    ] {
        let st = Command::new("ip")
            .args([
                "-n",
                &p.client,
                "neigh",
                "replace",
                &addr,
                "lladdr",
                mac,
                "dev",
                &p.client_if,
                "nud",
                "permanent",
            ])
            .status()
            .context("ip neigh")?;
        if !st.success() {
            bail!("ip neigh replace {addr} failed");
        }
    }
    for url in [
        format!("http://{v4}:{HTTP_PORT}/"),
        format!("http://[{v6}]:{HTTP_PORT}/"),
    ] {
        println!("  curl {url}: {}", curl(p, &url, &["--connect-timeout", "3.5"])?);
    }
    Ok(())
}

/// A connection whose server closes as soon as the client's FIN arrives: FIN, FIN+ACK, ACK.
fn three_packet_close(p: &NetnsPair) -> Result<()> {
    let server_py = format!(
        "import socket\ns=socket.socket(socket.AF_INET6)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('::',{CLOSE_PORT}))\ns.listen(1)\nprint('ready',flush=True)\nc,_=s.accept()\n\
         while c.recv(4096): pass\nc.close()\n"
    );
    let mut c = p.server_cmd("python3");
    c.args(["-c", &server_py]);
    let mut server = Bg::spawn("close server", c)?;
    server.wait_stdout("ready", Duration::from_secs(10))?;
    let client_py = format!(
        "import socket,time\nc=socket.create_connection(('{}',{CLOSE_PORT}))\nc.sendall(b'hello\\n')\n\
         time.sleep(0.3)\nc.close()\ntime.sleep(0.3)\n",
        p.server_v4
    );
    let mut c = p.client_cmd("python3");
    c.args(["-c", &client_py]);
    quiet("close client", c, Duration::from_secs(10))?.expect_code(0)?;
    server.finish(Duration::from_secs(10))?.expect_code(0)?;
    Ok(())
}

fn record(p: &NetnsPair, s: &Scenario, www: &Path, dest: &Path) -> Result<()> {
    let tmp = dest.with_extension("pcap.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut c = p.client_cmd("tcpdump");
    // Immediate mode: every packet reaches the file before tcpdump is interrupted.
    c.args(["-i", &p.client_if, "--immediate-mode", "-U", "-n"]);
    if let Some(n) = s.snaplen {
        c.args(["-s", &n.to_string()]);
    }
    c.arg("-w").arg(&tmp);
    let mut tcpdump = Bg::spawn("tcpdump", c)?;
    tcpdump.wait_stderr("listening on", Duration::from_secs(10))?;
    let traffic = (s.traffic)(p, www);
    thread::sleep(Duration::from_millis(500));
    if let Err(e) = traffic {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let done = tcpdump.interrupt(Duration::from_secs(10))?;
    done.expect_code(0)?;
    let size = std::fs::metadata(&tmp)
        .with_context(|| format!("{}", tmp.display()))?
        .len();
    if size > MAX_BYTES {
        bail!("{} is {size} bytes, over the {MAX_BYTES} limit", tmp.display());
    }
    std::fs::rename(&tmp, dest)?;
    println!(
        "  {}: {} ({size} bytes)",
        dest.display(),
        done.stderr.lines().find(|l| l.contains("captured")).unwrap_or("")
    );
    Ok(())
}

pub fn run(force: bool) -> Result<()> {
    if !cmd::is_root() {
        bail!("cargo xtask captures needs root: it creates network namespaces (run it as root)");
    }
    tools::ensure()?;
    for prog in ["ping", "arping"] {
        if cmd::which(prog).is_none() {
            bail!("{prog} is missing: apt-get install -y iputils-ping arping");
        }
    }
    let root = cmd::root();
    let data = root.join("tracer/tests/data");
    let todo: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| force || !data.join(s.file).exists())
        .collect();
    if todo.is_empty() {
        println!(
            "xtask: captures: all {} real-*.pcap exist (--force records them again)",
            SCENARIOS.len()
        );
        return Ok(());
    }
    let www: PathBuf = root.join("target/captures/www");
    std::fs::create_dir_all(&www).with_context(|| format!("creating {}", www.display()))?;
    let page: String = (1..=40)
        .map(|i| format!("<p>tracer capture page, line {i}</p>\n"))
        .collect();
    std::fs::write(www.join("index.html"), format!("<html><body>\n{page}</body></html>\n"))?;

    tracer_tests::netns::remove_stale("trcap");
    for s in todo {
        // A fresh pair per capture: each file starts from a cold neighbour cache.
        let pair = NetnsPair::new("trcap")?;
        println!(
            "xtask: captures: {} ({} <-> {})",
            s.file, pair.client_v4, pair.server_v4
        );
        record(&pair, s, &www, &data.join(s.file)).with_context(|| format!("recording {}", s.file))?;
    }
    Ok(())
}
