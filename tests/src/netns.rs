//! Two network namespaces joined by a veth pair, removed on drop.

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::process::in_netns;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A client and a server namespace joined by a veth pair, with
/// 10.X.Y.1/24 + fdXX…::1/64 on the client end and .2/::2 on the server end
/// (IPv6 without DAD), `lo` up in both, router solicitations and DAD off so
/// that the link is quiet. Names are unique per process and pair:
/// `PREFIX-PID-N-c` / `PREFIX-PID-N-s`. Dropping it kills every process
/// still running in either namespace and deletes both (and so the veth pair).
#[derive(Debug)]
pub struct NetnsPair {
    pub client: String,
    pub server: String,
    pub client_if: String,
    pub server_if: String,
    pub client_v4: Ipv4Addr,
    pub server_v4: Ipv4Addr,
    pub client_v6: Ipv6Addr,
    pub server_v6: Ipv6Addr,
}

fn sh(what: &str, cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("{what}: running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{what}: {cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<()> {
    sh(&format!("ip {}", args.join(" ")), Command::new("ip").args(args))
}

impl NetnsPair {
    /// Creates the pair. `prefix` names the namespaces; its first three
    /// alphanumeric characters start the interface names (≤ 15 bytes).
    pub fn new(prefix: &str) -> Result<NetnsPair> {
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let short: String = prefix.chars().filter(char::is_ascii_alphanumeric).take(3).collect();
        // Octets from pid and counter: distinct pairs of concurrent runs get
        // distinct addresses, which keeps state lines of other runs apart.
        let x = u8::try_from(20 + pid % 200).expect("< 256");
        let y = u8::try_from(1 + n % 250).expect("< 256");
        let pair = NetnsPair {
            client: format!("{prefix}-{pid}-{n}-c"),
            server: format!("{prefix}-{pid}-{n}-s"),
            client_if: format!("{short}{pid}x{n}c"),
            server_if: format!("{short}{pid}x{n}s"),
            client_v4: Ipv4Addr::new(10, x, y, 1),
            server_v4: Ipv4Addr::new(10, x, y, 2),
            client_v6: Ipv6Addr::new(0xfd00, x.into(), y.into(), 0, 0, 0, 0, 1),
            server_v6: Ipv6Addr::new(0xfd00, x.into(), y.into(), 0, 0, 0, 0, 2),
        };
        assert!(pair.client_if.len() <= 15, "interface name {} too long", pair.client_if);
        // From here on, Drop cleans up whatever was created.
        pair.create()
            .with_context(|| format!("creating namespaces {} / {}", pair.client, pair.server))?;
        Ok(pair)
    }

    fn create(&self) -> Result<()> {
        for ns in [&self.client, &self.server] {
            ip(&["netns", "add", ns])?;
            // Quiet link: no router solicitations, no DAD, MLD reports done
            // within milliseconds of the link coming up. Inherited by the
            // veth created below.
            let conf = "for c in all default; do d=/proc/sys/net/ipv6/conf/$c; \
                        echo 0 > $d/accept_ra; echo 0 > $d/accept_dad; echo 0 > $d/router_solicitations; \
                        echo 1 > $d/mldv1_unsolicited_report_interval; \
                        echo 1 > $d/mldv2_unsolicited_report_interval; done";
            sh("ipv6 sysctls", in_netns(ns, "sh").args(["-c", conf]))?;
        }
        ip(&[
            "link",
            "add",
            &self.client_if,
            "netns",
            &self.client,
            "type",
            "veth",
            "peer",
            "name",
            &self.server_if,
            "netns",
            &self.server,
        ])?;
        for (ns, dev, v4, v6) in [
            (&self.client, &self.client_if, self.client_v4, self.client_v6),
            (&self.server, &self.server_if, self.server_v4, self.server_v6),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", dev])?;
            ip(&["-n", ns, "addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        self.wait_ready()
    }

    /// Waits until both ends are up with no tentative address, then lets
    /// the link-up chatter (MLD reports) pass.
    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + crate::env::scaled(Duration::from_secs(5));
        for (ns, dev) in [(&self.client, &self.client_if), (&self.server, &self.server_if)] {
            loop {
                let link = Command::new("ip").args(["-n", ns, "link", "show", dev]).output()?;
                let tentative = Command::new("ip")
                    .args(["-n", ns, "-6", "addr", "show", "dev", dev, "tentative"])
                    .output()?;
                let up = String::from_utf8_lossy(&link.stdout).contains("LOWER_UP");
                if up && tentative.stdout.is_empty() {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!("{dev} in {ns} not ready after 5 s");
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        thread::sleep(Duration::from_millis(200));
        Ok(())
    }

    /// A command run in the client namespace (see [`in_netns`]).
    pub fn client_cmd(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        in_netns(&self.client, prog)
    }

    /// A command run in the server namespace.
    pub fn server_cmd(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        in_netns(&self.server, prog)
    }

    /// `http://ADDR:PORT/PATH` for the server, IPv4 or IPv6.
    pub fn server_url(&self, v6: bool, port: u16, path: &str) -> String {
        if v6 {
            format!("http://[{}]:{port}/{path}", self.server_v6)
        } else {
            format!("http://{}:{port}/{path}", self.server_v4)
        }
    }
}

/// Kills every process in namespace `ns` and deletes it.
pub fn delete_netns(ns: &str) {
    for _ in 0..3 {
        let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
            break;
        };
        let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            // SAFETY: kill(2) on a pid listed in the namespace; at worst ESRCH.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("ip").args(["netns", "del", ns]).output();
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        delete_netns(&self.client);
        delete_netns(&self.server);
    }
}

/// Deletes namespaces named `PREFIX-PID-…` left behind by runs whose
/// process no longer exists (e.g. killed with SIGKILL, so no guard ran).
pub fn remove_stale(prefix: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            delete_netns(name);
        }
    }
}
