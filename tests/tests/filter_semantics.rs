//! Kernel filters with the semantics of a live tcpdump, where libpcap reads the kernel's
//! metadata (the filter is compiled on a live handle, then translated for each hook):
//! - VLAN-tagged frames received on a veth (their tag moved into the socket buffer's metadata
//!   before TC ingress): `vlan`, `vlan 10`, `vlan 20`, a plain `icmp` (which a live tcpdump
//!   also matches on tagged frames) and byte offsets — the tracer must print exactly tcpdump's
//!   lines for each, with the default ingress hook (TCX, or classic tc on older kernels);
//! - `-Q in`, `-Q out` against tcpdump's `-Q`, and the `inbound`/`outbound` keywords, which
//!   must select what `-Q in`/`-Q out` do (tcpdump itself is no oracle for those two: its
//!   libpcap filters the first ring blocks again in user space, where it cannot read the packet
//!   type, and drops the first packets).
//! - `-i any`: expressions compiled for Linux cooked v2 as tcpdump's `-i any` compiles them
//!   (direction, interface index and link-layer bytes read from the cooked header), against
//!   tcpdump's `-i any` on the same traffic (over the veth and loopback).

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use tracer_tests::{Bg, NetnsPair, artifact_dir, env::scaled, process::run_ok, require_privileges, tracer_bin};

fn start() -> Duration {
    scaled(Duration::from_secs(30))
}

fn stop() -> Duration {
    scaled(Duration::from_secs(20))
}

/// Sends `n` ICMP echo requests in 802.1Q-tagged frames (VLAN `vid`) from `ifname` to `dst`
/// (a MAC address), through a packet socket: no VLAN device needed (this kernel may lack the
/// 8021q module), and the receiving veth untags them into the metadata as it would any.
const SEND_TAGGED: &str = r#"
import socket, struct, sys
ifname, dst, vid, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
src = s.getsockname()[4]
def csum(b):
    if len(b) % 2:
        b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    t += t >> 16
    return ~t & 0xffff
for i in range(n):
    icmp = struct.pack('!BBHHH', 8, 0, 0, 77 + vid, i) + b'tagged' * 6
    icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), i, 0, 64, 1, 0,
                     socket.inet_aton('10.77.%d.2' % vid), socket.inet_aton('10.77.%d.1' % vid))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    s.send(bytes.fromhex(dst.replace(':', '')) + src + struct.pack('!HH', 0x8100, vid) + b'\x08\x00' + ip + icmp)
"#;

/// The lines of a capture's stdout without their time stamps.
fn untimed(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.to_owned()))
        .collect()
}

/// The MAC address of the client's `iface` (`ip -br link`: NAME STATE MAC FLAGS).
fn mac_of(pair: &NetnsPair, iface: &str) -> Result<String> {
    let mut c = pair.client_cmd("ip");
    c.args(["-br", "link", "show", iface]);
    let out = run_ok("ip link show", c, Duration::from_secs(10))?;
    out.stdout
        .split_whitespace()
        .nth(2)
        .map(str::to_owned)
        .with_context(|| format!("no MAC address in {:?}", out.stdout))
}

/// Captures on the client's veth with each of `captures` (name, program, arguments) while
/// `traffic` runs; returns each one's stdout.
fn capture_round(
    pair: &NetnsPair,
    dir: &std::path::Path,
    round: &str,
    captures: &[(&str, &str, Vec<String>)],
    traffic: impl FnOnce() -> Result<()>,
) -> Result<Vec<String>> {
    let mut running = Vec::new();
    for (name, prog, args) in captures {
        let mut c = pair.client_cmd(prog);
        c.args(args);
        running.push(Bg::spawn(name, c)?);
    }
    for p in &mut running {
        p.wait_stderr("listening on", start())?;
    }
    traffic()?;
    std::thread::sleep(scaled(Duration::from_millis(700)));
    for p in &running {
        p.signal(libc::SIGINT)?;
    }
    let mut outs = Vec::new();
    for (p, (name, _, _)) in running.into_iter().zip(captures) {
        let f = p.finish(stop())?;
        std::fs::write(dir.join(format!("{round}-{name}.out")), f.dump())?;
        f.expect_no_panic()?;
        f.expect_code(0).with_context(|| format!("{name} in round {round}"))?;
        outs.push(f.stdout);
    }
    Ok(outs)
}

#[test]
fn vlan_tagged_frames_select_as_live_tcpdump() -> Result<()> {
    if !require_privileges("vlan_tagged_frames_select_as_live_tcpdump") {
        return Ok(());
    }
    let dir = artifact_dir("filter_semantics_vlan");
    let pair = NetnsPair::new("tfv")?;
    let dst = mac_of(&pair, &pair.client_if)?;
    let iface = pair.client_if.clone();
    // (expression, frames it must select of the 8 tagged with VLAN 10, 8 with 20 and the pings)
    let cases: [(&str, usize); 6] = [
        ("vlan and icmp", 16),
        ("vlan 10", 8),
        ("vlan 20 and src host 10.77.20.2", 8),
        ("icmp", 16 + 6),
        ("vlan 30", 0),
        ("icmp and not vlan", 6),
    ];
    for (i, (expr, want)) in cases.iter().enumerate() {
        let args = |extra: &[&str]| -> Vec<String> {
            let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            a.extend(["-i", &iface, "-nn", "-e"].iter().map(|s| s.to_string()));
            a.push((*expr).to_owned());
            a
        };
        let tracer = tracer_bin();
        let tracer = tracer.to_str().context("tracer path")?;
        let captures = [
            ("tracer", tracer, args(&[])),
            ("tcpdump", "tcpdump", args(&["--immediate-mode"])),
        ];
        let outs = capture_round(&pair, &dir, &format!("vlan{i}"), &captures, || {
            for vid in ["10", "20"] {
                let mut c = pair.server_cmd("python3");
                c.args(["-c", SEND_TAGGED, &pair.server_if, &dst, vid, "8"]);
                run_ok("send tagged frames", c, scaled(Duration::from_secs(20)))?;
            }
            let mut ping = pair.client_cmd("ping");
            ping.args(["-c", "3", "-i", "0.2", "-W", "2"])
                .arg(pair.server_v4.to_string());
            run_ok("ping", ping, scaled(Duration::from_secs(20)))?;
            Ok(())
        })?;
        let (t, d) = (untimed(&outs[0]), untimed(&outs[1]));
        ensure!(
            t == d,
            "`{expr}`: the tracer printed\n{}\ntcpdump printed\n{}",
            t.join("\n"),
            d.join("\n")
        );
        ensure!(
            t.len() == *want,
            "`{expr}`: {} lines, expected {want}:\n{}",
            t.len(),
            t.join("\n")
        );
    }
    Ok(())
}

#[test]
fn direction_selects_as_tcpdump() -> Result<()> {
    if !require_privileges("direction_selects_as_tcpdump") {
        return Ok(());
    }
    let dir = artifact_dir("filter_semantics_direction");
    let pair = NetnsPair::new("tfd")?;
    let iface = pair.client_if.clone();
    let tracer = tracer_bin();
    let tracer = tracer.to_str().context("tracer path")?;
    let with = |pre: &[&str], expr: &str| -> Vec<String> {
        let mut a: Vec<String> = pre.iter().map(|s| s.to_string()).collect();
        a.extend(["-i", &iface, "-nn"].iter().map(|s| s.to_string()));
        a.push(expr.to_owned());
        a
    };
    let captures = [
        ("tracer-Q-in", tracer, with(&["-Q", "in"], "icmp")),
        ("tracer-Q-out", tracer, with(&["-Q", "out"], "icmp")),
        ("tracer-inbound", tracer, with(&[], "inbound and icmp")),
        ("tracer-outbound", tracer, with(&[], "outbound and icmp")),
        (
            "tcpdump-Q-in",
            "tcpdump",
            with(&["--immediate-mode", "-Q", "in"], "icmp"),
        ),
        (
            "tcpdump-Q-out",
            "tcpdump",
            with(&["--immediate-mode", "-Q", "out"], "icmp"),
        ),
    ];
    let outs = capture_round(&pair, &dir, "direction", &captures, || {
        let mut ping = pair.client_cmd("ping");
        ping.args(["-c", "5", "-i", "0.2", "-W", "2"])
            .arg(pair.server_v4.to_string());
        run_ok("ping", ping, scaled(Duration::from_secs(20)))?;
        Ok(())
    })?;
    let lines: Vec<Vec<String>> = outs.iter().map(|o| untimed(o)).collect();
    let show = |i: usize| format!("{}:\n{}", captures[i].0, lines[i].join("\n"));
    ensure!(
        lines[4].len() == 5 && lines[4].iter().all(|l| l.contains("echo reply")),
        "tcpdump -Q in: {}",
        show(4)
    );
    ensure!(
        lines[5].len() == 5 && lines[5].iter().all(|l| l.contains("echo request")),
        "tcpdump -Q out: {}",
        show(5)
    );
    for (ours, theirs) in [(0, 4), (1, 5), (2, 4), (3, 5)] {
        ensure!(lines[ours] == lines[theirs], "{}\nbut {}", show(ours), show(theirs));
    }
    Ok(())
}

#[test]
fn any_interface_selects_as_tcpdump_any() -> Result<()> {
    if !require_privileges("any_interface_selects_as_tcpdump_any") {
        return Ok(());
    }
    let dir = artifact_dir("filter_semantics_any");
    let pair = NetnsPair::new("tfa")?;
    let tracer = tracer_bin();
    let tracer = tracer.to_str().context("tracer path")?;
    // (expression, how many packets tcpdump must print: 3 echo requests and their replies on
    // the veth, one loopback ping seen once as tcpdump shows loopback)
    let exprs = [
        ("icmp and inbound", 5),
        ("icmp and outbound", 3),
        ("ifindex 1 and icmp", 2),
        ("link[10] = 4 and icmp", 3),
        ("link[8:2] = 772 and icmp[icmptype] = icmp-echoreply", 1),
        ("link[0:2] = 0x800 and link[11] = 6 and icmp", 8),
    ];
    let mut captures = Vec::new();
    for (i, (expr, _)) in exprs.iter().enumerate() {
        let args = |pre: &[&str]| -> Vec<String> {
            let mut a: Vec<String> = pre.iter().map(|s| s.to_string()).collect();
            a.extend(["-i", "any", "-nn", expr].iter().map(|s| s.to_string()));
            a
        };
        captures.push((format!("tracer-{i}"), tracer, args(&[])));
        captures.push((format!("tcpdump-{i}"), "tcpdump", args(&["--immediate-mode"])));
    }
    let named: Vec<(&str, &str, Vec<String>)> = captures.iter().map(|(n, p, a)| (n.as_str(), *p, a.clone())).collect();
    let outs = capture_round(&pair, &dir, "any", &named, || {
        let mut ping = pair.client_cmd("ping");
        ping.args(["-c", "3", "-i", "0.2", "-W", "2"])
            .arg(pair.server_v4.to_string());
        run_ok("ping", ping, scaled(Duration::from_secs(20)))?;
        let mut lo = pair.client_cmd("ping");
        lo.args(["-c", "1", "-W", "2", "127.0.0.1"]);
        run_ok("ping 127.0.0.1", lo, scaled(Duration::from_secs(20)))?;
        Ok(())
    })?;
    for (i, (expr, want)) in exprs.iter().enumerate() {
        let ours = untimed(&outs[2 * i]);
        let theirs = untimed(&outs[2 * i + 1]);
        ensure!(
            theirs.len() == *want,
            "tcpdump -i any '{expr}' printed {} lines, not {want}:\n{}",
            theirs.len(),
            theirs.join("\n")
        );
        ensure!(
            ours == theirs,
            "-i any '{expr}': the tracer printed\n{}\nbut tcpdump\n{}",
            ours.join("\n"),
            theirs.join("\n")
        );
    }
    Ok(())
}

#[test]
fn protochain_selects_as_tcpdump() -> Result<()> {
    if !require_privileges("protochain_selects_as_tcpdump") {
        return Ok(());
    }
    let dir = artifact_dir("filter_semantics_protochain");
    let pair = NetnsPair::new("tfp")?;
    let iface = pair.client_if.clone();
    let tracer = tracer_bin();
    let tracer = tracer.to_str().context("tracer path")?;
    // (expression, least lines: ICMPv6 echo requests and replies, ICMP ones)
    for (i, (expr, least)) in [("protochain 58", 6), ("protochain 1 or ip6 protochain 17", 6)]
        .into_iter()
        .enumerate()
    {
        let args = |pre: &[&str]| -> Vec<String> {
            let mut a: Vec<String> = pre.iter().map(|s| s.to_string()).collect();
            a.extend(["-i", &iface, "-nn", expr].iter().map(|s| s.to_string()));
            a
        };
        let captures = [
            ("tracer", tracer, args(&[])),
            ("tcpdump", "tcpdump", args(&["--immediate-mode"])),
        ];
        let outs = capture_round(&pair, &dir, &format!("protochain{i}"), &captures, || {
            for (v6, addr) in [(true, pair.server_v6.to_string()), (false, pair.server_v4.to_string())] {
                let mut ping = pair.client_cmd("ping");
                ping.args([if v6 { "-6" } else { "-4" }, "-c", "3", "-i", "0.2", "-W", "2", &addr]);
                run_ok("ping", ping, scaled(Duration::from_secs(20)))?;
            }
            Ok(())
        })?;
        let (t, d) = (untimed(&outs[0]), untimed(&outs[1]));
        ensure!(
            t == d,
            "`{expr}`: the tracer printed\n{}\ntcpdump printed\n{}",
            t.join("\n"),
            d.join("\n")
        );
        ensure!(t.len() >= least, "`{expr}`: only {} lines:\n{}", t.len(), t.join("\n"));
    }
    Ok(())
}
