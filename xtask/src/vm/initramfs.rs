//! The guest's initramfs: a static busybox, the modules the root file system needs (9p over
//! virtio, overlayfs) decompressed and in load order, and init.sh as /init. Built once per
//! kernel and kept beside the unpacked kernel.

use std::{fs, path::PathBuf, process::Command};

use anyhow::{Context as _, Result, bail};

use super::kernels::{BUSYBOX, Unpacked};
use crate::cmd::output;

/// Stage 1: PID 1 in the initramfs.
const INIT: &str = include_str!("init.sh");

/// What the guest must load before it can mount its root.
const MODULES: &[&str] = &["9p", "9pnet_virtio", "virtio_pci", "overlay"];

/// The initramfs for `k` (built unless it exists and is newer than init.sh's contents).
pub fn build(k: &Unpacked) -> Result<PathBuf> {
    let out = k.root.join("vmtest-initrd.cpio.gz");
    let stamp = k.root.join("vmtest-initrd.init");
    if out.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == INIT) {
        return Ok(out);
    }
    let dir = k.root.join("vmtest-initrd");
    let _ = fs::remove_dir_all(&dir);
    for d in ["bin", "dev", "proc", "sys", "newroot", "modules"] {
        fs::create_dir_all(dir.join(d))?;
    }
    fs::copy(BUSYBOX, dir.join("bin/busybox")).with_context(|| format!("copying {BUSYBOX}"))?;
    let mut order = String::new();
    for ko in load_order(k)? {
        let name = ko
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("module path {}", ko.display()))?;
        let (plain, tool) = match name.rsplit_once('.') {
            Some((base, "xz")) => (base, Some("xz")),
            Some((base, "zst")) => (base, Some("zstd")),
            Some((base, "gz")) => (base, Some("gzip")),
            _ => (name, None),
        };
        let dst = dir.join("modules").join(plain);
        match tool {
            None => {
                fs::copy(&ko, &dst).with_context(|| format!("copying {}", ko.display()))?;
            }
            Some(tool) => {
                let out = Command::new(tool)
                    .args(["-d", "-c"])
                    .arg(&ko)
                    .output()
                    .with_context(|| format!("running {tool} on {}", ko.display()))?;
                if !out.status.success() {
                    bail!("{tool} -d {} failed", ko.display());
                }
                fs::write(&dst, out.stdout)?;
            }
        }
        order.push_str(plain);
        order.push('\n');
    }
    fs::write(dir.join("modules/order"), order)?;
    let init = dir.join("init");
    fs::write(&init, INIT)?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&init, fs::Permissions::from_mode(0o755))?;
    }
    let script = format!(
        "cd {} && find . | cpio -o -H newc --quiet | gzip -1 > {}",
        shell_quote(&dir.to_string_lossy()),
        shell_quote(&out.to_string_lossy())
    );
    let st = Command::new("sh").args(["-c", &script]).status()?;
    if !st.success() {
        bail!("packing the initramfs with cpio failed ({st})");
    }
    fs::remove_dir_all(&dir)?;
    fs::write(&stamp, INIT)?;
    Ok(out)
}

/// The module files to load, dependencies first (built-in ones are absent).
fn load_order(k: &Unpacked) -> Result<Vec<PathBuf>> {
    let text = output(
        "modprobe --show-depends",
        Command::new("modprobe")
            .arg("--show-depends")
            .arg("-d")
            .arg(&k.root)
            .args(["-S", &k.release, "-a"])
            .args(MODULES),
    )?;
    let mut seen: Vec<PathBuf> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("insmod")
            && let Some(path) = words.next()
        {
            let p = PathBuf::from(path);
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
    }
    Ok(seen)
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
