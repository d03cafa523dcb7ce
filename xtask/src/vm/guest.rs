//! Booting one guest under QEMU: the unpacked kernel, the initramfs, this host's / shared
//! read-only over 9p and target/ read-write, no network, the serial console in a log file.
//! The guest runs the plan (stage2.sh) and powers off; one that does not within the timeout
//! is killed.

use std::{
    fs,
    io::{Read as _, Seek as _, SeekFrom},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use super::kernels::Unpacked;

/// How a guest ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// It ran the whole plan and powered off.
    Done,
    /// It powered off or crashed before the end of the plan.
    Stopped,
    /// It was killed after the timeout.
    TimedOut,
}

/// Everything one boot needs.
pub struct Boot<'a> {
    pub kernel: &'a Unpacked,
    pub initrd: &'a Path,
    /// Shared read-write at the same path (target/).
    pub rw: &'a Path,
    /// Stage 2, run as PID 1 in the host's root.
    pub stage2: &'a Path,
    /// The shell fragment stage 2 sources (binaries, environment).
    pub plan: &'a Path,
    /// Where the guest writes its results (under `rw`).
    pub results: &'a Path,
    pub console: &'a Path,
    pub timeout: Duration,
    pub memory_mib: u32,
    /// Prefix for the progress lines printed while the guest runs.
    pub label: &'a str,
}

/// `-accel kvm` only where the CPU offers hardware virtualisation to us (vmx or svm in
/// /proc/cpuinfo) and /dev/kvm exists; a nested hypervisor without them cannot run stock
/// kernels, so everywhere else the software CPU.
fn accel() -> &'static str {
    let hw = fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| {
        c.lines()
            .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
    });
    if hw && Path::new("/dev/kvm").exists() {
        "kvm"
    } else {
        "tcg"
    }
}

pub fn run(b: &Boot<'_>) -> Result<End> {
    let rw = b.rw.to_string_lossy();
    let append = format!(
        "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic vmtest.rw={rw} vmtest.kmods={} vmtest.stage2={} \
         vmtest.plan={} vmtest.results={}",
        b.kernel.modules().display(),
        b.stage2.display(),
        b.plan.display(),
        b.results.display()
    );
    let accel = accel();
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-accel", accel, "-cpu", if accel == "kvm" { "host" } else { "max" }])
        .args(["-smp", "1", "-m", &format!("{}M", b.memory_mib)])
        .args([
            "-nodefaults",
            "-no-reboot",
            "-display",
            "none",
            "-monitor",
            "none",
            "-net",
            "none",
        ])
        .arg("-serial")
        .arg(format!("file:{}", b.console.display()))
        .arg("-kernel")
        .arg(&b.kernel.vmlinuz)
        .arg("-initrd")
        .arg(b.initrd)
        .args([
            "-fsdev",
            "local,id=host,path=/,security_model=none,readonly=on,multidevs=remap",
        ])
        .args(["-device", "virtio-9p-pci,fsdev=host,mount_tag=host"])
        .arg("-fsdev")
        .arg(format!("local,id=rw,path={rw},security_model=none,multidevs=remap"))
        .args(["-device", "virtio-9p-pci,fsdev=rw,mount_tag=rw"])
        .arg("-append")
        .arg(append)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let _ = fs::remove_file(b.results);
    let mut child = qemu.spawn().context("starting qemu-system-x86_64")?;
    let start = Instant::now();
    let mut shown = 0u64;
    let timed_out = loop {
        if child.try_wait()?.is_some() {
            break false;
        }
        if start.elapsed() > b.timeout {
            let _ = child.kill();
            let _ = child.wait();
            break true;
        }
        shown = show_progress(b.results, shown, b.label);
        std::thread::sleep(Duration::from_millis(500));
    };
    show_progress(b.results, shown, b.label);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if !err.trim().is_empty() {
        eprintln!("[{}] qemu: {}", b.label, err.trim());
    }
    if timed_out {
        return Ok(End::TimedOut);
    }
    let done = fs::read_to_string(b.results).is_ok_and(|r| r.lines().any(|l| l.starts_with("vm-test: done")));
    Ok(if done { End::Done } else { End::Stopped })
}

/// Prints the results file's new summary lines (`test … ok/FAILED`, markers) from `from` on;
/// returns the new offset.
fn show_progress(results: &Path, from: u64, label: &str) -> u64 {
    let Ok(mut f) = fs::File::open(results) else {
        return from;
    };
    if f.seek(SeekFrom::Start(from)).is_err() {
        return from;
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return from;
    }
    // Only whole lines; the rest waits for the next look.
    let Some(end) = buf.iter().rposition(|&c| c == b'\n') else {
        return from;
    };
    for line in String::from_utf8_lossy(&buf[..=end]).lines() {
        let line = line.trim_end_matches('\r');
        let verdict = line.starts_with("test ") && (line.ends_with(" ... ok") || line.ends_with(" ... FAILED"));
        if verdict || line.starts_with("vm-test: ") {
            println!("[{label}] {line}");
        }
    }
    from + end as u64 + 1
}

/// Where a kernel's run keeps its files (under target/vm/runs/LABEL).
pub fn run_dir(target: &Path, label: &str) -> PathBuf {
    target.join("vm/runs").join(label)
}
