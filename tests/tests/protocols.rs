//! Beyond TCP: ARP, ICMP echo, ICMPv6 echo and neighbour discovery, UDP
//! answered by ICMP/ICMPv6 port unreachable, and the MLD reports and router
//! solicitations a link sends when it comes up. The tracer and tcpdump
//! capture the client's veth at the same time and must print the same
//! lines (timestamps aside), no more and no fewer.

use std::{thread, time::Duration};

use anyhow::{Result, bail};
use tracer_tests::{
    Bg, Finished, NetnsPair, artifact_dir,
    lines::{packet_lines, split_ts},
    process::run_ok,
    require_privileges, tracer_bin,
};

const T: Duration = Duration::from_secs(30);

/// Starts the tracer and tcpdump on the client's interface, runs `traffic`,
/// stops both and compares their lines one for one.
fn compare(test: &str, pair: &NetnsPair, traffic: impl FnOnce() -> Result<()>) -> Result<()> {
    let dir = artifact_dir(test);
    let iface = pair.client_if.as_str();
    let mut tracer = {
        let mut c = pair.client_cmd(tracer_bin());
        c.args(["-i", iface, "-nn"]);
        Bg::spawn("tracer", c)?
    };
    let mut dump = {
        let mut c = pair.client_cmd("tcpdump");
        c.args(["-i", iface, "-nn", "-l", "--immediate-mode"]);
        Bg::spawn("tcpdump", c)?
    };
    tracer.wait_stderr("listening on", T)?;
    dump.wait_stderr("listening on", T)?;
    traffic()?;
    thread::sleep(Duration::from_secs(1));
    tracer.signal(libc::SIGINT)?;
    dump.signal(libc::SIGINT)?;
    let tracer = tracer.finish(T)?;
    let dump = dump.finish(T)?;
    for f in [&tracer, &dump] {
        std::fs::write(dir.join(format!("{}.out", f.name)), f.dump())?;
        f.expect_no_panic()?;
        f.expect_code(0)?;
    }
    same_lines(&dump, &tracer)
}

fn same_lines(dump: &Finished, tracer: &Finished) -> Result<()> {
    let strip = |l: &&str| split_ts(l).map_or((*l).to_owned(), |(_, r)| r.to_owned());
    let expected: Vec<String> = packet_lines(&dump.stdout).iter().map(strip).collect();
    let actual: Vec<String> = packet_lines(&tracer.stdout).iter().map(strip).collect();
    if expected.is_empty() {
        bail!(
            "tcpdump printed nothing: the test generated no traffic\n{}",
            dump.dump()
        );
    }
    for i in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(i), actual.get(i));
        if e != a {
            bail!(
                "line {} differs ({} tcpdump lines, {} tracer lines):\n  tcpdump: {}\n  tracer:  {}\n\
                 --- tcpdump:\n{}--- tracer:\n{}",
                i + 1,
                expected.len(),
                actual.len(),
                e.map_or("(nothing)", String::as_str),
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
    compare("arp_icmp_udp", &pair, || {
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
    compare("link_up_chatter", &pair, || {
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
