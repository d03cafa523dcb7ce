//! Builds the kernel programs (tracer-ebpf) for the BPF target with aya-build,
//! as aya-template does. The object lands in OUT_DIR/tracer and is embedded
//! with `include_bytes_aligned!`.
//!
//! aya-build relays every line of the nested cargo's output as a `cargo:warning`, which cargo
//! shows as dozens of `warning: tracer@0.1.0: Compiling …` lines on every build. So the script
//! runs itself again (`INNER`) for that part and passes its output on, less the nested
//! cargo's progress lines: all of them when the build fails, none when it succeeds (compiler
//! diagnostics of the kernel programs are always passed on).
use std::{
    env,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, anyhow, bail};

/// Set in the environment of the script's second run, which does the build.
const INNER: &str = "TRACER_BUILD_EBPF_INNER";

/// Where `cargo xtask setup` installs bpf-linker when it is not on PATH.
fn bpf_linker_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    if let Some(home) = cargo_home {
        dirs.push(home.join("bin"));
    }
    dirs
}

/// Whether the linker will find libpcap (the filter compiler, through the `pcap` crate): its
/// `libpcap.so` in a library directory, or a directory named by LIBPCAP_LIBDIR/LIBRARY_PATH.
fn libpcap_found() -> bool {
    let mut dirs: Vec<PathBuf> = ["/usr/lib", "/usr/lib64", "/usr/local/lib", "/lib", "/lib64"]
        .iter()
        .map(PathBuf::from)
        .collect();
    for var in ["LIBPCAP_LIBDIR", "LIBRARY_PATH"] {
        if let Some(v) = env::var_os(var) {
            dirs.extend(env::split_paths(&v));
        }
    }
    // Debian's multiarch directories (/usr/lib/x86_64-linux-gnu).
    let multiarch: Vec<PathBuf> = ["/usr/lib", "/lib"]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("-linux-gnu"))
        })
        .collect();
    dirs.iter().chain(&multiarch).any(|d| d.join("libpcap.so").exists())
}

fn main() -> anyhow::Result<()> {
    if env::var_os(INNER).is_some() {
        return build();
    }
    let exe = env::current_exe().context("the build script's path")?;
    let out = Command::new(&exe)
        .env(INNER, "1")
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failed = !out.status.success() || stdout.lines().any(|l| l.starts_with("cargo::error="));
    let mut relay = std::io::stdout().lock();
    for line in stdout.lines() {
        let progress = line.strip_prefix("cargo:warning=").is_some_and(is_cargo_progress);
        if failed || !progress {
            writeln!(relay, "{line}")?;
        }
    }
    std::io::stderr().write_all(&out.stderr)?;
    if !out.status.success() {
        bail!("building the kernel programs failed ({})", out.status);
    }
    Ok(())
}

/// A status line of cargo's (`   Compiling x v0.1.0`, `    Finished …`), as opposed to a
/// compiler diagnostic.
fn is_cargo_progress(line: &str) -> bool {
    const STATUS: &[&str] = &[
        "Compiling",
        "Finished",
        "Blocking",
        "Updating",
        "Locking",
        "Adding",
        "Downloading",
        "Downloaded",
        "Fresh",
        "Checking",
        "Building",
    ];
    let word = line.trim_start();
    line.starts_with(' ') && STATUS.iter().any(|s| word.starts_with(s))
}

/// The build proper (the script's second run).
fn build() -> anyhow::Result<()> {
    println!("cargo::rerun-if-env-changed=TRACER_EBPF_TOOLCHAIN");
    println!("cargo::rerun-if-env-changed=LIBPCAP_LIBDIR");
    if !libpcap_found() {
        println!(
            "cargo::error=libpcap not found (filter expressions are compiled by libpcap): run `cargo xtask setup` or `apt-get install libpcap-dev`, then build again"
        );
        return Ok(());
    }
    let dirs = bpf_linker_dirs();
    let Some(linker) = dirs.iter().map(|d| d.join("bpf-linker")).find(|p| p.is_file()) else {
        // cargo prints this as one `error:` line and fails the build.
        println!(
            "cargo::error=bpf-linker not found: run `cargo xtask setup` (installs rust-src and bpf-linker), then build again"
        );
        return Ok(());
    };
    println!("cargo::rerun-if-changed={}", linker.display());
    // The BPF target's linker is looked up on PATH by rustc: make sure the
    // directory we found it in is there for the nested cargo that aya-build runs.
    let path = env::join_paths(dirs).context("PATH")?;
    // SAFETY: build scripts are single-threaded at this point.
    unsafe { env::set_var("PATH", path) };

    let cargo_metadata::Metadata { packages, .. } = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = packages
        .into_iter()
        .find(|p| p.name.as_str() == "tracer-ebpf")
        .ok_or_else(|| anyhow!("tracer-ebpf package not found in the workspace"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("tracer-ebpf manifest has no parent directory"))?
        .to_string();
    let toolchain = match env::var("TRACER_EBPF_TOOLCHAIN").ok().as_deref() {
        None | Some("nightly") => aya_build::Toolchain::Nightly,
        Some(other) => aya_build::Toolchain::Custom(Box::leak(other.to_owned().into_boxed_str())),
    };
    aya_build::build_ebpf(
        [aya_build::Package {
            name: ebpf.name.as_str(),
            root_dir: &root_dir,
            ..Default::default()
        }],
        toolchain,
    )
    .context("building the kernel programs (tracer-ebpf)")
}
