//! `cargo xtask setup`: what building and running the tracer needs, per
//! ../shared/notes/toolchain.md. Idempotent; a few process spawns when all
//! is in place.
//!
//! - `rust-src` for the nightly toolchain (the BPF target builds `core` from source);
//! - `bpf-linker` 0.13.0 built against rustc's own libLLVM (no matching
//!   system LLVM exists), installed in `$CARGO_HOME/bin`, where
//!   tracer/build.rs finds it without any PATH change. The LLVM "prefix" is
//!   `$CARGO_HOME/tracer-llvm`: its `lib/` holds two symlinks to the
//!   toolchain's `libLLVM.so.N…` (the binary's RUNPATH points there);
//! - tracefs mounted at /sys/kernel/tracing (the state tracepoint needs it);
//! - libpcap's development library (Debian's libpcap-dev): the tracer links libpcap, whose
//!   compiler turns filter expressions into classic BPF.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::cmd::{self, is_executable, output, status};

const BPF_LINKER: &str = "bpf-linker@0.13.0";
const TRACEFS: &str = "/sys/kernel/tracing";

pub fn run() -> Result<()> {
    rust_src()?;
    bpf_linker()?;
    tracefs()?;
    libpcap()?;
    println!("setup: rust-src, bpf-linker, tracefs and libpcap-dev are in place");
    Ok(())
}

fn rust_src() -> Result<()> {
    let installed = output(
        "rustup component list (is the nightly toolchain installed? `rustup toolchain install nightly`)",
        Command::new("rustup").args(["component", "list", "--toolchain", "nightly", "--installed"]),
    )?;
    if installed.lines().any(|l| l.trim().starts_with("rust-src")) {
        return Ok(());
    }
    println!("setup: installing rust-src for nightly");
    status(
        "rustup component add rust-src --toolchain nightly",
        Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]),
    )
}

fn cargo_home() -> Result<PathBuf> {
    if let Some(h) = env::var_os("CARGO_HOME") {
        return Ok(h.into());
    }
    let home = env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(Path::new(&home).join(".cargo"))
}

/// bpf-linker on PATH or in $CARGO_HOME/bin (where tracer/build.rs looks).
fn find_bpf_linker(cargo_home: &Path) -> Option<PathBuf> {
    cmd::which("bpf-linker").or_else(|| Some(cargo_home.join("bin/bpf-linker")).filter(|p| is_executable(p)))
}

fn bpf_linker() -> Result<()> {
    let home = cargo_home()?;
    if let Some(linker) = find_bpf_linker(&home) {
        match Command::new(&linker).arg("--version").output() {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => println!(
                "setup: {} does not run ({}), rebuilding it",
                linker.display(),
                String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").trim()
            ),
            Err(e) => println!("setup: {} does not run ({e}), rebuilding it", linker.display()),
        }
        if linker != home.join("bin/bpf-linker") {
            println!(
                "setup: note: the broken {} comes first on PATH; remove it so that the one in {} is used",
                linker.display(),
                home.join("bin").display()
            );
        }
    }
    build_bpf_linker(&home)
}

fn build_bpf_linker(home: &Path) -> Result<()> {
    // rustc's own libLLVM: bpf-linker's LLVM major version must match rustc's.
    let sysroot = output(
        "rustc +stable --print sysroot",
        Command::new("rustc").args(["+stable", "--print", "sysroot"]),
    )?;
    let lib = Path::new(sysroot.trim()).join("lib");
    let llvm = fs::read_dir(&lib)
        .with_context(|| format!("reading {}", lib.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libLLVM.so."))
        })
        .with_context(|| {
            format!(
                "no libLLVM.so.* in {} (is the stable toolchain complete?)",
                lib.display()
            )
        })?;
    let soname = llvm
        .file_name()
        .and_then(|n| n.to_str())
        .expect("matched above")
        .to_owned();
    let major: u32 = soname
        .trim_start_matches("libLLVM.so.")
        .split(['.', '-'])
        .next()
        .and_then(|m| m.parse().ok())
        .with_context(|| format!("cannot read the LLVM version from {soname}"))?;

    let prefix = home.join("tracer-llvm");
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib).with_context(|| format!("creating {}", prefix_lib.display()))?;
    for name in ["libLLVM.so", soname.as_str()] {
        let link = prefix_lib.join(name);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&llvm, &link)
            .with_context(|| format!("linking {} -> {}", link.display(), llvm.display()))?;
    }

    println!(
        "setup: building {BPF_LINKER} against {} (about a minute)",
        llvm.display()
    );
    let feature = format!("llvm-{major}");
    status(
        &format!("cargo install {BPF_LINKER}"),
        cmd::cargo()
            .args([
                "install",
                BPF_LINKER,
                "--locked",
                "--force",
                "--no-default-features",
                "--features",
                &feature,
            ])
            .arg("--root")
            .arg(home)
            .env("LLVM_PREFIX", &prefix),
    )?;
    let linker = home.join("bin/bpf-linker");
    let v = output("bpf-linker --version", Command::new(&linker).arg("--version"))
        .with_context(|| format!("the freshly built {} does not run", linker.display()))?;
    println!("setup: installed {} ({})", linker.display(), v.trim());
    Ok(())
}

fn tracefs() -> Result<()> {
    if Path::new(TRACEFS).join("events").is_dir() {
        return Ok(());
    }
    if !cmd::is_root() {
        bail!(
            "tracefs is not mounted at {TRACEFS} and mounting it needs root: run `sudo mount -t tracefs tracefs {TRACEFS}`"
        );
    }
    println!("setup: mounting tracefs at {TRACEFS}");
    status(
        "mount -t tracefs tracefs /sys/kernel/tracing",
        Command::new("mount").args(["-t", "tracefs", "tracefs", TRACEFS]),
    )
}

/// Debian packages the build needs, by a file each installs.
const BUILD_PACKAGES: &[(&str, &str)] = &[("libpcap.so", "libpcap-dev")];

/// Whether a library file is in a directory the linker searches (Debian's multiarch one too).
fn library_installed(file: &str) -> bool {
    let mut dirs: Vec<PathBuf> = ["/usr/lib", "/usr/lib64", "/usr/local/lib", "/lib", "/lib64"]
        .iter()
        .map(PathBuf::from)
        .collect();
    for d in ["/usr/lib", "/lib"] {
        if let Ok(rd) = fs::read_dir(d) {
            dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with("-linux-gnu"))
            }));
        }
    }
    dirs.iter().any(|d| d.join(file).exists())
}

fn libpcap() -> Result<()> {
    let missing: Vec<&str> = BUILD_PACKAGES
        .iter()
        .filter(|(file, _)| !library_installed(file))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !cmd::is_root() || cmd::which("apt-get").is_none() {
        bail!(
            "{list} is missing (the tracer links libpcap to compile filter expressions): run `sudo apt-get install -y {list}`"
        );
    }
    println!("setup: installing {list}");
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(&missing);
    if status(&format!("apt-get install {list}"), &mut install).is_err() {
        // A fresh machine may have no package lists yet.
        status("apt-get update", &mut apt(&["update", "-q"]))?;
        let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
        install.args(&missing);
        status(&format!("apt-get install {list}"), &mut install)?;
    }
    if BUILD_PACKAGES.iter().any(|(file, _)| !library_installed(file)) {
        bail!("{list} was installed but libpcap.so is still not in a library directory");
    }
    Ok(())
}
