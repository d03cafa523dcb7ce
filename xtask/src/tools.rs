//! External programs `demo` and `test` run, installed with apt when missing.

use std::process::Command;

use anyhow::{Result, bail};

use crate::cmd::{self, status};

/// (program, Debian package that provides it).
const TOOLS: &[(&str, &str)] = &[
    ("tcpdump", "tcpdump"),
    ("tshark", "tshark"),
    ("bpftool", "bpftool"),
    ("ip", "iproute2"),
    ("curl", "curl"),
    ("python3", "python3"),
    ("iperf3", "iperf3"),
    ("nsenter", "util-linux"),
    ("unshare", "util-linux"),
    ("setpriv", "util-linux"),
    ("capsh", "libcap2-bin"),
    ("setcap", "libcap2-bin"),
    // `cargo xtask dist`: libpcap built for musl (fetched, checked, configured, compiled), the
    // package.
    ("sha256sum", "coreutils"),
    ("musl-gcc", "musl-tools"),
    ("flex", "flex"),
    ("bison", "bison"),
    ("make", "make"),
    ("dpkg-deb", "dpkg"),
    ("ping", "iputils-ping"),
];

/// Installs the packages of missing programs (apt-get update only then).
pub fn ensure() -> Result<()> {
    ensure_these(TOOLS)
}

/// Installs the packages of whichever of `tools` (program, Debian package) are missing.
pub fn ensure_these(tools: &[(&str, &str)]) -> Result<()> {
    let mut missing: Vec<&str> = Vec::new();
    let mut packages: Vec<&str> = Vec::new();
    for (prog, pkg) in tools {
        if cmd::which(prog).is_none() {
            missing.push(prog);
            if !packages.contains(pkg) {
                packages.push(pkg);
            }
        }
    }
    if packages.is_empty() {
        return Ok(());
    }
    let list = packages.join(" ");
    if !cmd::is_root() {
        bail!(
            "missing {} and installing them needs root: run `sudo apt-get install -y {list}`",
            missing.join(", ")
        );
    }
    if cmd::which("apt-get").is_none() {
        bail!(
            "missing {} and apt-get is not available: install the packages {list} by hand",
            missing.join(", ")
        );
    }
    println!("xtask: installing {list} (missing: {})", missing.join(", "));
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    status("apt-get update", &mut apt(&["update", "-q"]))?;
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(&packages);
    status(&format!("apt-get install {list}"), &mut install)?;
    let still: Vec<&str> = tools
        .iter()
        .filter(|(p, _)| cmd::which(p).is_none())
        .map(|(p, _)| *p)
        .collect();
    if !still.is_empty() {
        bail!("still missing after apt-get install: {}", still.join(", "));
    }
    Ok(())
}
