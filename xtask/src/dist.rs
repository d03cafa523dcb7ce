//! `cargo xtask dist`: what is installed, in target/dist/:
//! - `tracer`, one self-contained binary: no shared library at all (static, musl), libpcap
//!   included. libpcap is built from Debian's own source tarball of the version Debian 12 ships
//!   (1.10.3, fetched from the Debian archive and checked against the checksum of its .dsc),
//!   configured without D-Bus, RDMA, Bluetooth, USB, netmap and libnl: those only add capture
//!   sources tracer never opens, and Debian's libpcap.a cannot be linked statically without
//!   them. Its filter compiler, whose code the filters' semantics depend on, is libpcap's own;
//! - `man/` and `completions/`, generated from the clap definitions (`tracer-docs`);
//! - `tracer_VERSION_amd64.deb`: the binary, the man pages, the completions for bash, zsh and
//!   fish, the README and the systemd unit (deploy/systemd); no dependencies.
//!
//! Not yet: the container image.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{
    cmd::{self, output, status},
    tools,
};

/// The unit the package ships.
const UNIT: &str = "deploy/systemd/tracer-states.service";
const MUSL: &str = "x86_64-unknown-linux-musl";
const LIBPCAP_VERSION: &str = "1.10.3";
const LIBPCAP_URL: &str = "http://deb.debian.org/debian/pool/main/libp/libpcap/libpcap_1.10.3.orig.tar.gz";
/// From libpcap_1.10.3-1.dsc (Debian 12).
const LIBPCAP_SHA256: &str = "2a8885c403516cf7b0933ed4b14d6caa30e02052489ebd414dc75ac52e7559e6";

pub fn run() -> Result<()> {
    build().map(drop)
}

/// Builds target/dist; returns the package's path.
fn build() -> Result<PathBuf> {
    let root = cmd::root();
    let release = cmd::target_dir().join("release");
    // The generator of the man pages and completions runs here, as a host binary.
    status(
        "cargo build --release --bin tracer-docs",
        cmd::cargo()
            .current_dir(&root)
            .args(["build", "--release", "-p", "tracer", "--bin", "tracer-docs"]),
    )?;
    let dist = cmd::target_dir().join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    fs::create_dir_all(&dist)?;
    copy(&static_tracer()?, &dist.join("tracer"))?;
    status("tracer-docs", Command::new(release.join("tracer-docs")).arg(&dist))?;
    let deb = package(&root, &dist)?;
    println!("xtask: dist: {}", dist.display());
    for entry in fs::read_dir(&dist)? {
        let entry = entry?;
        println!("  {}", entry.file_name().to_string_lossy());
    }
    println!("xtask: install with `apt-get install {}`", deb.display());
    Ok(deb)
}

/// For `cargo xtask test`: builds the package, installs it on this machine with apt-get (its
/// dependencies are there: the tests need them too), runs the installed binary on a capture
/// file, checks the man page and completions are in place, removes it with `dpkg -r` and checks
/// that none of its files is left. Skipped (with a message) where a tracer package is installed
/// already.
pub fn check_install() -> Result<()> {
    if Command::new("dpkg")
        .args(["-s", "tracer"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("xtask: package test skipped: a tracer package is installed on this machine already");
        return Ok(());
    }
    let deb = build()?;
    status(
        "apt-get install",
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .arg(&deb)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let files = output("dpkg -L tracer", Command::new("dpkg").args(["-L", "tracer"]));
    let checked = files.and_then(|files| {
        let version = output(
            "/usr/bin/tracer --version",
            Command::new("/usr/bin/tracer").arg("--version"),
        )?;
        ensure!(
            version.trim() == format!("tracer {}", env!("CARGO_PKG_VERSION")),
            "the installed tracer says {version:?}"
        );
        let sample = cmd::root().join("tracer/tests/data/real-http4.pcap");
        let printed = output(
            "/usr/bin/tracer -r",
            Command::new("/usr/bin/tracer")
                .args(["-nn", "-c", "3", "-r"])
                .arg(&sample),
        )?;
        ensure!(printed.lines().count() == 3, "the installed tracer printed {printed:?}");
        for want in [
            "/usr/share/man/man1/tracer.1.gz",
            "/usr/share/man/man1/tracer-states.1.gz",
            "/usr/share/bash-completion/completions/tracer",
            "/usr/share/zsh/vendor-completions/_tracer",
            "/usr/share/fish/vendor_completions.d/tracer.fish",
            "/lib/systemd/system/tracer-states.service",
        ] {
            ensure!(files.lines().any(|l| l == want), "the package does not install {want}");
            ensure!(Path::new(want).exists(), "{want} is not there after installing");
        }
        Ok(files)
    });
    // Removed whatever happened above.
    status("dpkg -r tracer", Command::new("dpkg").args(["-r", "tracer"]))?;
    let files = checked?;
    let left: Vec<&str> = files.lines().filter(|f| Path::new(f).is_file()).collect();
    ensure!(left.is_empty(), "dpkg -r tracer left {left:?}");
    println!(
        "xtask: package test: {} installed, ran, and removed without a trace ({} files)",
        deb.display(),
        files.lines().count()
    );
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// `gzip -9n` of `from` into `to` (Debian policy: man pages and changelogs compressed, no name or
/// time stamp in the header, so that the package is reproducible).
fn gzip(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir)?;
    }
    let out = Command::new("gzip")
        .args(["-9n", "-c"])
        .arg(from)
        .output()
        .context("running gzip")?;
    ensure!(out.status.success(), "gzip {} failed", from.display());
    fs::write(to, out.stdout)?;
    Ok(())
}

/// Builds the Debian package from what `dist` holds; returns its path.
fn package(root: &Path, dist: &Path) -> Result<PathBuf> {
    let version = env!("CARGO_PKG_VERSION");
    let name = format!("tracer_{version}_amd64");
    let stage = dist.join("deb").join(&name);
    copy(&dist.join("tracer"), &stage.join("usr/bin/tracer"))?;
    for page in fs::read_dir(dist.join("man"))? {
        let page = page?.path();
        let file = page
            .file_name()
            .context("man page name")?
            .to_string_lossy()
            .into_owned();
        gzip(&page, &stage.join(format!("usr/share/man/man1/{file}.gz")))?;
    }
    let completions = dist.join("completions");
    copy(
        &completions.join("tracer.bash"),
        &stage.join("usr/share/bash-completion/completions/tracer"),
    )?;
    copy(
        &completions.join("_tracer"),
        &stage.join("usr/share/zsh/vendor-completions/_tracer"),
    )?;
    copy(
        &completions.join("tracer.fish"),
        &stage.join("usr/share/fish/vendor_completions.d/tracer.fish"),
    )?;
    copy(
        &root.join(UNIT),
        &stage.join("lib/systemd/system/tracer-states.service"),
    )?;
    let doc = stage.join("usr/share/doc/tracer");
    copy(&root.join("README.md"), &doc.join("README.md"))?;
    fs::write(
        doc.join("copyright"),
        format!(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: tracer\n\n\
             Files: *\n\
             License: {}\n",
            env!("CARGO_PKG_LICENSE")
        ),
    )?;

    let installed_kib = dir_size(&stage)? / 1024;
    fs::create_dir_all(stage.join("DEBIAN"))?;
    fs::write(
        stage.join("DEBIAN/control"),
        format!(
            "Package: tracer\n\
             Version: {version}\n\
             Architecture: amd64\n\
             Maintainer: tracer developers <tracer@localhost>\n\
             Installed-Size: {installed_kib}\n\
             Section: net\n\
             Priority: optional\n\
             Description: tcpdump-compatible TCP capture and socket-state tracing with eBPF\n \
             Prints packets as tcpdump does and writes pcap/pcapng, from eBPF programs at\n \
             TCX/XDP and tc; traces every TCP socket's state with its owning process,\n \
             counts sockets per state as ss does, and diagnoses CLOSE_WAIT leaks, SYN\n \
             floods, TIME_WAIT pressure and refused connections.\n"
        ),
    )?;
    let deb = dist.join(format!("{name}.deb"));
    status(
        "dpkg-deb --build",
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    Ok(deb)
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// The self-contained binary: built for musl against a static libpcap of our own build.
fn static_tracer() -> Result<PathBuf> {
    let libdir = static_libpcap(&cmd::target_dir().join("dist-build"))?;
    status(
        "rustup target add",
        Command::new("rustup").args(["target", "add", MUSL]),
    )?;
    status(
        "cargo build --release --target x86_64-unknown-linux-musl",
        cmd::cargo()
            .current_dir(cmd::root())
            .args([
                "build",
                "--release",
                "-p",
                "tracer",
                "--bin",
                "tracer",
                "--target",
                MUSL,
            ])
            .env("LIBPCAP_LIBDIR", &libdir)
            .env("LIBPCAP_VER", LIBPCAP_VERSION),
    )?;
    let bin = cmd::target_dir().join(MUSL).join("release/tracer");
    let ldd = Command::new("ldd").arg(&bin).output().context("running ldd")?;
    let said = String::from_utf8_lossy(&ldd.stdout).into_owned() + &String::from_utf8_lossy(&ldd.stderr);
    ensure!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "{} is not self-contained: ldd says {said}",
        bin.display()
    );
    Ok(bin)
}

/// libpcap.a for musl under `build` (kept between runs); returns its directory.
fn static_libpcap(build: &Path) -> Result<PathBuf> {
    let prefix = build.join("libpcap-musl");
    let lib = prefix.join("lib");
    if lib.join("libpcap.a").is_file() {
        return Ok(lib);
    }
    tools::ensure()?;
    fs::create_dir_all(build)?;
    let tarball = build.join(format!("libpcap_{LIBPCAP_VERSION}.orig.tar.gz"));
    status(
        "curl libpcap",
        Command::new("curl")
            .args(["-sfSL", "-o"])
            .arg(&tarball)
            .arg(LIBPCAP_URL),
    )?;
    let sum = output("sha256sum", Command::new("sha256sum").arg(&tarball))?;
    if sum.split_whitespace().next() != Some(LIBPCAP_SHA256) {
        bail!("{LIBPCAP_URL} does not have the checksum of Debian's libpcap_{LIBPCAP_VERSION}-1.dsc: {sum}");
    }
    status("tar", Command::new("tar").arg("xzf").arg(&tarball).arg("-C").arg(build))?;
    let src = build.join(format!("libpcap-{LIBPCAP_VERSION}"));
    // musl-gcc sees no kernel headers: give it the system's, and only those.
    let kinc = build.join("kernel-headers");
    fs::create_dir_all(&kinc)?;
    for (name, target) in [
        ("linux", "/usr/include/linux"),
        ("asm-generic", "/usr/include/asm-generic"),
        ("asm", "/usr/include/x86_64-linux-gnu/asm"),
    ] {
        let link = kinc.join(name);
        if !link.exists() {
            std::os::unix::fs::symlink(target, &link)?;
        }
    }
    status(
        "libpcap configure",
        Command::new("./configure")
            .current_dir(&src)
            .env("CC", format!("musl-gcc -I{}", kinc.display()))
            .arg("--host=x86_64-linux-musl")
            .arg(format!("--prefix={}", prefix.display()))
            .args([
                "--disable-shared",
                "--disable-dbus",
                "--disable-rdma",
                "--disable-bluetooth",
                "--disable-usb",
                "--disable-netmap",
                "--without-libnl",
                "--without-dpdk",
            ]),
    )?;
    status("libpcap make", Command::new("make").current_dir(&src).arg("-j4"))?;
    status(
        "libpcap make install",
        Command::new("make").current_dir(&src).arg("install"),
    )?;
    ensure!(lib.join("libpcap.a").is_file(), "no libpcap.a after building libpcap");
    Ok(lib)
}
