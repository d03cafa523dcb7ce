//! `cargo xtask test`: unit and golden tests, the conformance comparison with tcpdump
//! (`cargo xtask conformance --check`), then the privileged end-to-end tests (tests/, crate
//! tracer-tests) against the release binary, on this machine's kernel, the Debian package
//! (`cargo xtask dist --check`: installed here, run, removed), and then the end-to-end tests
//! inside each kernel of the VM matrix (`cargo xtask vm-test`).

use anyhow::{Result, bail};

use crate::{
    cmd::{self, status},
    conformance, dist, setup, tools, vm,
};

pub fn run() -> Result<()> {
    if !cmd::is_root() {
        bail!(
            "cargo xtask test needs root: the end-to-end tests create network namespaces and load eBPF programs (run it as root)"
        );
    }
    setup::run()?;
    tools::ensure()?;
    tracer_tests::netns::remove_stale("trt");
    let root = cmd::root();
    let mut failed: Vec<&str> = Vec::new();

    // tracer-ebpf is a no_std, no_main BPF program: no host test harness
    // (tracer/build.rs builds it for the BPF target).
    println!("xtask: unit and golden tests");
    if let Err(e) = status(
        "cargo test --workspace --exclude tracer-tests --exclude tracer-ebpf",
        cmd::cargo().current_dir(&root).args([
            "test",
            "--workspace",
            "--exclude",
            "tracer-tests",
            "--exclude",
            "tracer-ebpf",
        ]),
    ) {
        eprintln!("xtask: {e:#}");
        failed.push("unit and golden tests");
    }

    println!("xtask: cargo build --release");
    status(
        "cargo build --release",
        cmd::cargo().current_dir(&root).args(["build", "--release"]),
    )?;

    // The printer against tcpdump 4.99.3 over the shared corpus and tests/data: every in-scope
    // line identical, no crash.
    println!("xtask: conformance --check");
    if let Err(e) = conformance::run(&conformance::Options {
        check: true,
        ..Default::default()
    }) {
        eprintln!("xtask: {e:#}");
        failed.push("conformance");
    }

    println!("xtask: end-to-end tests");
    let bin = cmd::target_dir().join("release/tracer");
    if let Err(e) = status(
        "cargo test --release -p tracer-tests",
        cmd::cargo()
            .current_dir(&root)
            .args(["test", "--release", "-p", "tracer-tests", "--", "--test-threads=1"])
            .env("TRACER_BIN", &bin)
            .env(tracer_tests::env::NO_SKIP_ENV, "1"),
    ) {
        eprintln!("xtask: {e:#}");
        failed.push("end-to-end tests");
    }

    // The Debian package: built, installed on this machine, run, removed.
    println!("xtask: the Debian package");
    if let Err(e) = dist::check_install() {
        eprintln!("xtask: {e:#}");
        failed.push("Debian package");
    }

    // The same end-to-end tests inside Debian's 6.1 and 6.12 kernels (QEMU).
    println!("xtask: end-to-end tests in the VM matrix");
    if let Err(e) = vm::run(&vm::Options::default()) {
        eprintln!("xtask: {e:#}");
        failed.push("VM matrix");
    }

    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    println!("xtask: all tests passed");
    Ok(())
}
