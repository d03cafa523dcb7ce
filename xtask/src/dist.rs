//! `cargo xtask dist`: what is installed, in target/dist/:
//! - `tracer`, the release binary;
//! - `man/` and `completions/`, generated from the clap definitions (`tracer-docs`);
//! - `tracer_VERSION_amd64.deb`: the binary, the man pages, the completions for bash, zsh and
//!   fish, the README and the systemd unit (deploy/systemd), its dependencies computed by
//!   dpkg-shlibdeps from the binary's shared libraries.
//!
//! Not yet: the binary links libpcap.so and glibc (a self-contained one, and the container image
//! built from it, are still to come), so the package depends on libpcap0.8 and libc6.

use std::{fs, path::Path, process::Command};

use anyhow::{Context as _, Result, ensure};

use crate::cmd::{self, output, status};

/// The unit the package ships.
const UNIT: &str = "deploy/systemd/tracer-states.service";

pub fn run() -> Result<()> {
    build().map(drop)
}

/// Builds target/dist; returns the package's path.
fn build() -> Result<std::path::PathBuf> {
    let root = cmd::root();
    let release = cmd::target_dir().join("release");
    status(
        "cargo build --release -p tracer",
        cmd::cargo()
            .current_dir(&root)
            .args(["build", "--release", "-p", "tracer", "--bins"]),
    )?;
    let dist = cmd::target_dir().join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    fs::create_dir_all(&dist)?;
    copy(&release.join("tracer"), &dist.join("tracer"))?;
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
fn package(root: &Path, dist: &Path) -> Result<std::path::PathBuf> {
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

    // Depends, from the binary's shared libraries (dpkg-shlibdeps wants a debian/control).
    let work = dist.join("deb").join("shlibdeps");
    fs::create_dir_all(work.join("debian"))?;
    fs::write(
        work.join("debian/control"),
        "Source: tracer\n\nPackage: tracer\nArchitecture: amd64\n",
    )?;
    let shlibs = output(
        "dpkg-shlibdeps",
        Command::new("dpkg-shlibdeps")
            .current_dir(&work)
            .arg("-O")
            .arg(stage.join("usr/bin/tracer")),
    )?;
    let depends = shlibs
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .context("dpkg-shlibdeps printed no shlibs:Depends")?
        .trim()
        .to_owned();
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
             Depends: {depends}\n\
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
