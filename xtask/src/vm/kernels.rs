//! The kernels of the VM matrix, taken from Debian's packages without installing them:
//! the metapackage names the current image package, `apt-get download` fetches its
//! `-unsigned` build (the same kernel, without the signature wrapper) and `dpkg -x`
//! unpacks it into a cache under target/vm/kernels/.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::cmd::{self, output, status};

/// One kernel of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// What `--kernel` takes and the summary lines show.
    pub label: &'static str,
    /// The Debian metapackage that depends on the current image package.
    pub metapackage: &'static str,
}

/// Debian 12's own kernel (6.1 LTS) and the 6.12 LTS kernel of bookworm's security archive.
pub const MATRIX: [Kernel; 2] = [
    Kernel {
        label: "6.1",
        metapackage: "linux-image-amd64",
    },
    Kernel {
        label: "6.12",
        metapackage: "linux-image-6.12-amd64",
    },
];

/// An unpacked kernel package.
#[derive(Clone, Debug)]
pub struct Unpacked {
    /// Where `dpkg -x` put it.
    pub root: PathBuf,
    /// Its release (`uname -r` in the guest), e.g. `6.1.0-57-amd64`.
    pub release: String,
    pub vmlinuz: PathBuf,
}

impl Unpacked {
    pub fn modules(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.release)
    }
}

/// The image package `metapackage` depends on now, from `apt-cache depends` output.
pub fn image_package(depends: &str) -> Option<String> {
    depends.lines().find_map(|l| {
        let name = l.trim().strip_prefix("Depends:")?.trim();
        name.starts_with("linux-image-").then(|| name.to_string())
    })
}

fn apt() -> Command {
    let mut c = Command::new("apt-get");
    c.env("DEBIAN_FRONTEND", "noninteractive");
    c
}

/// The current image package of `k`, reading apt's lists again once if they do not name it.
fn resolve(k: Kernel) -> Result<String> {
    let depends = || {
        output(
            "apt-cache depends",
            Command::new("apt-cache").args(["depends", k.metapackage]),
        )
    };
    if let Some(p) = depends().ok().as_deref().and_then(image_package) {
        return Ok(p);
    }
    status("apt-get update", apt().args(["update", "-q"]))?;
    let out = depends().with_context(|| format!("apt knows no package {}", k.metapackage))?;
    image_package(&out).with_context(|| format!("apt-cache depends {} names no linux-image package", k.metapackage))
}

/// The unpacked kernel `k`, fetched and unpacked into `cache` unless already there.
pub fn fetch(k: Kernel, cache: &Path) -> Result<Unpacked> {
    let package = resolve(k)?;
    let dir = cache.join(&package);
    if let Some(u) = unpacked(&dir, true)? {
        return Ok(u);
    }
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let unsigned = format!("{package}-unsigned");
    println!("vm-test: fetching {unsigned} (Debian package, not installed)");
    // apt-get download writes into its working directory.
    status(
        &format!("apt-get download {unsigned}"),
        apt().current_dir(cache).args(["download", "-q", &unsigned]),
    )?;
    let deb = fs::read_dir(cache)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{unsigned}_")) && n.ends_with(".deb"))
        })
        .with_context(|| format!("apt-get download left no {unsigned}_*.deb in {}", cache.display()))?;
    let tmp = cache.join(format!(".{package}.partial"));
    let _ = fs::remove_dir_all(&tmp);
    status("dpkg -x", Command::new("dpkg").arg("-x").arg(&deb).arg(&tmp))?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir).with_context(|| format!("renaming {} to {}", tmp.display(), dir.display()))?;
    let _ = fs::remove_file(&deb);
    let u = unpacked(&dir, false)?.with_context(|| format!("{} holds no boot/vmlinuz-*", dir.display()))?;
    // The package's postinst would have made modules.dep; modprobe needs it.
    status("depmod", Command::new("depmod").arg("-b").arg(&u.root).arg(&u.release))?;
    Ok(u)
}

/// The kernel unpacked in `dir`, if it is there (and with `complete`, has its modules.dep).
fn unpacked(dir: &Path, complete: bool) -> Result<Option<Unpacked>> {
    let boot = dir.join("boot");
    let Ok(entries) = fs::read_dir(&boot) else {
        return Ok(None);
    };
    for e in entries {
        let path = e?.path();
        let Some(release) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("vmlinuz-"))
        else {
            continue;
        };
        let u = Unpacked {
            root: dir.to_path_buf(),
            release: release.to_string(),
            vmlinuz: path.clone(),
        };
        if complete && !u.modules().join("modules.dep").exists() {
            return Ok(None);
        }
        return Ok(Some(u));
    }
    Ok(None)
}

/// Host programs the matrix needs, with the Debian package of each.
pub const HOST_TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("modprobe", "kmod"),
    ("depmod", "kmod"),
    ("cpio", "cpio"),
    ("xz", "xz-utils"),
    ("dpkg", "dpkg"),
];

/// A statically linked busybox for the initramfs (busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

/// Installs what the matrix needs on the host when it is missing.
pub fn ensure_host_tools() -> Result<()> {
    let static_busybox = || {
        fs::read(BUSYBOX).is_ok_and(|b| {
            // A dynamically linked ELF has a PT_INTERP naming the loader.
            !b.windows(b"/lib64/ld-linux".len()).any(|w| w == b"/lib64/ld-linux")
        })
    };
    let mut packages: Vec<&str> = HOST_TOOLS
        .iter()
        .filter(|(p, _)| cmd::which(p).is_none())
        .map(|(_, pkg)| *pkg)
        .collect();
    if !static_busybox() {
        packages.push("busybox-static");
    }
    packages.dedup();
    if packages.is_empty() {
        return Ok(());
    }
    if !cmd::is_root() {
        bail!(
            "the VM matrix needs {} and installing them needs root: run `sudo apt-get install -y {}`",
            packages.join(", "),
            packages.join(" ")
        );
    }
    println!("vm-test: installing {}", packages.join(" "));
    status("apt-get update", apt().args(["update", "-q"]))?;
    status(
        "apt-get install",
        apt()
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&packages),
    )?;
    if !static_busybox() {
        bail!("{BUSYBOX} is not a static busybox even after installing busybox-static");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_package_from_apt_cache() {
        let out = "linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n";
        assert_eq!(image_package(out).as_deref(), Some("linux-image-6.1.0-57-amd64"));
        let out = "linux-image-6.12-amd64\n  Depends: linux-image-6.12.118+deb12-amd64\n";
        assert_eq!(image_package(out).as_deref(), Some("linux-image-6.12.118+deb12-amd64"));
        assert_eq!(image_package("linux-image-amd64\n"), None);
    }
}
