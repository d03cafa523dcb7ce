//! Beyond TCP: ARP, ICMP echo, ICMPv6 echo and neighbour discovery, UDP
//! answered by ICMP/ICMPv6 port unreachable, and the MLD reports and router
//! solicitations a link sends when it comes up. The tracer and tcpdump
//! capture the client's veth at the same time and must print the same
//! lines (timestamps aside): every line tcpdump printed, in order, nothing missing or between
//! (the tracer, attached first and stopped last, may show more only before and after); with
//! `-v -e -X` and the like, the same records (a line and its continuation lines). VLAN-tagged frames (single 802.1Q tag and
//! QinQ) are sent raw, since the kernel here has no 8021q module.

use std::{thread, time::Duration};

use anyhow::{Result, bail};
use tracer_tests::{
    Bg, Finished, NetnsPair, artifact_dir, lines::split_ts, process::run_ok, require_privileges, tracer_bin,
};

const T: Duration = Duration::from_secs(30);

/// Starts the tracer and tcpdump on the client's interface, runs `traffic`,
/// stops both and compares their lines one for one.
fn compare(test: &str, pair: &NetnsPair, flags: &[&str], traffic: impl FnOnce() -> Result<()>) -> Result<()> {
    compare_at(test, pair, false, flags, traffic)
}

/// [`compare`] on the client's veth (`server` false: what the client sends leaves through
/// egress) or the server's (`server` true: it arrives through ingress).
fn compare_at(
    test: &str,
    pair: &NetnsPair,
    server: bool,
    flags: &[&str],
    traffic: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let dir = artifact_dir(test);
    let iface = if server {
        pair.server_if.as_str()
    } else {
        pair.client_if.as_str()
    };
    let cmd = |prog: &std::ffi::OsStr| {
        if server {
            pair.server_cmd(prog)
        } else {
            pair.client_cmd(prog)
        }
    };
    // The tracer is attached before tcpdump starts and stopped after it: it sees at least
    // what tcpdump sees (see `same_lines`).
    let mut tracer = {
        let mut c = cmd(tracer_bin().as_os_str());
        c.args(["-i", iface]).args(flags);
        Bg::spawn("tracer", c)?
    };
    tracer.wait_stderr("listening on", T)?;
    let mut dump = {
        let mut c = cmd("tcpdump".as_ref());
        c.args(["-i", iface, "-l", "--immediate-mode"]).args(flags);
        Bg::spawn("tcpdump", c)?
    };
    dump.wait_stderr("listening on", T)?;
    traffic()?;
    thread::sleep(Duration::from_secs(1));
    let dump = dump.interrupt(T)?;
    let tracer = tracer.interrupt(T)?;
    for f in [&tracer, &dump] {
        std::fs::write(dir.join(format!("{}.out", f.name)), f.dump())?;
        f.expect_no_panic()?;
        f.expect_code(0)?;
    }
    same_lines(&dump, &tracer)
}

/// A packet line without its time stamp (and with its `-#` number kept), or `None` for a
/// continuation line.
fn record_start(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    let (number, rest) = match trimmed.split_once("  ") {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (Some(n), rest),
        _ => (None, line),
    };
    let (_, rest) = split_ts(rest)?;
    Some(match number {
        Some(n) => format!("{n}  {rest}"),
        None => rest.to_owned(),
    })
}

/// Packet records without their time stamps: a packet line and the continuation lines that
/// follow it (`-v`, hex dumps).
fn records(stdout: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in stdout.lines() {
        match record_start(line) {
            Some(rest) => out.push(format!("{rest}\n")),
            None => {
                if let Some(last) = out.last_mut() {
                    last.push_str(line);
                    last.push('\n');
                }
            }
        }
    }
    // The empty line both print when interrupted is not part of the last record (the tracer,
    // stopped last, may have more records after the one that ends tcpdump's output).
    if let Some(last) = out.last_mut() {
        while last.ends_with("\n\n") {
            last.pop();
        }
    }
    out
}

/// A record's `-#` number and the rest.
fn split_number(record: &str) -> (Option<usize>, &str) {
    match record.split_once("  ") {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (n.parse().ok(), rest),
        _ => (None, record),
    }
}

/// Every record tcpdump printed, in order and with nothing between them, must be among the
/// tracer's. The tracer was attached before tcpdump started and stopped after it, so it may
/// have seen more at either end (a neighbour probe of the kernel's, say, which comes when it
/// comes: while a slow machine still loads the programs); with `-#` its numbers are then
/// tcpdump's plus the records it saw first.
fn same_lines(dump: &Finished, tracer: &Finished) -> Result<()> {
    let expected = records(&dump.stdout);
    let actual = records(&tracer.stdout);
    if expected.is_empty() {
        bail!(
            "tcpdump printed nothing: the test generated no traffic\n{}",
            dump.dump()
        );
    }
    let body = |r: &String| split_number(r).1.to_string();
    let (exp_body, act_body): (Vec<String>, Vec<String>) =
        (expected.iter().map(body).collect(), actual.iter().map(body).collect());
    // Where tcpdump's first record is in the tracer's output (0 when it is nowhere: then the
    // first difference is reported from the start).
    let skip = act_body.iter().position(|a| *a == exp_body[0]).unwrap_or(0);
    for i in 0..expected.len() {
        let (e, a) = (&expected[i], actual.get(skip + i));
        let same = a.is_some_and(|a| {
            let ((en, eb), (an, ab)) = (split_number(e), split_number(a));
            eb == ab && en.map(|n| n + skip) == an
        });
        if !same {
            bail!(
                "record {} differs ({} tcpdump records, {} tracer records, {skip} tracer records before \
                 tcpdump's first):\n  tcpdump: {}\n  tracer:  {}\n--- tcpdump:\n{}--- tracer:\n{}",
                i + 1,
                expected.len(),
                actual.len(),
                e,
                a.map_or("(nothing)", String::as_str),
                dump.stdout,
                tracer.stdout
            );
        }
    }
    Ok(())
}

/// Sends one UDP datagram to a closed port from the client namespace.
fn udp(pair: &NetnsPair, v6: bool) -> Result<()> {
    let (fam, addr) = if v6 {
        ("AF_INET6", pair.server_v6.to_string())
    } else {
        ("AF_INET", pair.server_v4.to_string())
    };
    let script = format!(
        "import socket; s = socket.socket(socket.{fam}, socket.SOCK_DGRAM); s.sendto(b'tracer test', ('{addr}', 9))"
    );
    let mut c = pair.client_cmd("python3");
    c.args(["-c", &script]);
    run_ok("python3 udp", c, T)?;
    // Let the ICMP error come back before the next packet.
    thread::sleep(Duration::from_millis(100));
    Ok(())
}

#[test]
fn arp_icmp_udp() -> Result<()> {
    if !require_privileges("arp_icmp_udp") {
        return Ok(());
    }
    let pair = NetnsPair::new("trt")?;
    compare("arp_icmp_udp", &pair, &["-nn"], || {
        for addr in [pair.server_v4.to_string(), pair.server_v6.to_string()] {
            let mut c = pair.client_cmd("ping");
            c.args(["-c", "2", "-i", "0.2", "-W", "2", &addr]);
            run_ok("ping", c, T)?;
        }
        udp(&pair, false)?;
        udp(&pair, true)
    })
}

#[test]
fn link_up_chatter() -> Result<()> {
    if !require_privileges("link_up_chatter") {
        return Ok(());
    }
    let pair = NetnsPair::new("trt")?;
    compare("link_up_chatter", &pair, &["-nn"], || {
        // Router solicitations are off in the pair; turn them on for the
        // server end, then bounce it: MLDv2 reports (hop-by-hop header)
        // and router solicitations follow.
        let mut c = pair.server_cmd("sh");
        c.arg("-c").arg(format!(
            "echo 1 > /proc/sys/net/ipv6/conf/{0}/accept_ra && echo 1 > /proc/sys/net/ipv6/conf/{0}/router_solicitations",
            pair.server_if
        ));
        run_ok("sysctl", c, T)?;
        for state in ["down", "up"] {
            let mut c = std::process::Command::new("ip");
            c.args(["-n", &pair.server, "link", "set", &pair.server_if, state]);
            run_ok("ip link set", c, T)?;
        }
        thread::sleep(Duration::from_secs(1));
        Ok(())
    })
}

/// Ping, UDP to closed ports and refused TCP connections printed with the flags that add lines and details: the IPv4
/// header in parentheses with checksums (-v), the link header (-e), hex and ASCII (-X), and
/// the numbers (-#), without -n (names from /etc/services and /etc/hosts).
#[test]
fn verbose_link_and_dumps() -> Result<()> {
    if !require_privileges("verbose_link_and_dumps") {
        return Ok(());
    }
    let pair = NetnsPair::new("trv")?;
    for flags in [&["-nn", "-vv", "-e"][..], &["-X", "-#"][..], &["-nn", "-xx", "-q"][..]] {
        compare("verbose_link_and_dumps", &pair, flags, || {
            let mut c = pair.client_cmd("ping");
            c.args(["-c", "2", "-i", "0.2", "-W", "2", &pair.server_v4.to_string()]);
            run_ok("ping", c, T)?;
            udp(&pair, false)?;
            udp(&pair, true)?;
            refused(&pair)
        })?;
    }
    Ok(())
}

/// A TCP connection to a closed port, over IPv4 and IPv6: SYN, then RST from the server.
fn refused(pair: &NetnsPair) -> Result<()> {
    let script = format!(
        "import socket\nfor a in (('{}', socket.AF_INET), ('{}', socket.AF_INET6)):\n    s = socket.socket(a[1])\n    \
         try:\n        s.connect((a[0], 9))\n    except OSError:\n        pass",
        pair.server_v4, pair.server_v6
    );
    let mut c = pair.client_cmd("python3");
    c.args(["-c", &script]);
    run_ok("python3 refused connect", c, T)?;
    thread::sleep(Duration::from_millis(100));
    Ok(())
}

/// Raw Ethernet frames with an 802.1Q tag and with two tags (QinQ, 0x88a8 outside), carrying
/// an ICMP echo and an ARP request, sent on the client's veth: seen by TC egress there.
#[test]
fn vlan_tagged_frames() -> Result<()> {
    if !require_privileges("vlan_tagged_frames") {
        return Ok(());
    }
    let pair = NetnsPair::new("trq")?;
    let script = format!(
        r#"
import socket, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("{iface}", 0))
eth = bytes.fromhex("020000000002") + bytes.fromhex("020000000001")
icmp = bytes.fromhex("4500001c00014000400100000a6300010a630002") + bytes.fromhex("0800f7fe00010000")
arp = bytes.fromhex("0001080006040001020000000001") + bytes([10, 99, 0, 1]) + bytes(6) + bytes([10, 99, 0, 2])
for tags in ([(0x8100, 10)], [(0x88a8, 100), (0x8100, 20 | 0x6000)]):
    for etype, body in ((0x0800, icmp), (0x0806, arp)):
        tagged = b"".join(struct.pack(">HH", tpid, tci) for tpid, tci in tags)
        s.send(eth + tagged + struct.pack(">H", etype) + body)
"#,
        iface = pair.client_if
    );
    // Sent (egress, tags in the frame) and received (ingress: the kernel moves every tag
    // into the packet's metadata before TC; the capture puts it back, as libpcap does).
    for server in [false, true] {
        for flags in [&["-nn", "-e"][..], &["-nn"][..], &["-e", "-v"][..]] {
            compare_at("vlan_tagged_frames", &pair, server, flags, || {
                let mut c = pair.client_cmd("python3");
                c.args(["-c", &script]);
                run_ok("python3 raw frames", c, T)?;
                Ok(())
            })?;
        }
    }
    Ok(())
}
