//! Which BPF programs a live process holds: the `prog_id:` line of
//! /proc/PID/fdinfo/N for every descriptor that is a BPF program or link
//! (`anon_inode:bpf-prog`, `anon_inode:bpf_link`). A classic tc filter holds
//! its program too, but through no descriptor: a filter whose program no
//! process holds was left by a tracer that died without detaching it.
//!
//! /proc lists only the processes of its pid namespace: the answer is
//! complete only in the initial one ([`sees_every_process`]).

use std::{
    collections::HashSet,
    fs,
    io::{self, Read as _},
    os::unix::fs::MetadataExt as _,
    path::Path,
};

/// The inode of the initial pid namespace (`PROC_PID_INIT_INO` in the kernel).
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

/// Whether /proc shows every process of the host: this process is in the
/// initial pid namespace (a tracer in a container cannot see the tracers
/// outside it, so it must not call their filters abandoned).
pub fn sees_every_process(proc: &Path) -> io::Result<bool> {
    Ok(fs::metadata(proc.join("self/ns/pid"))?.ino() == PROC_PID_INIT_INO)
}

/// The program id an fdinfo file names (programs and links have one; maps,
/// BTF objects and other descriptors have none).
pub fn prog_id(fdinfo: &str) -> Option<u32> {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("prog_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The ids in `wanted` that some process in `proc` holds a descriptor to.
/// Stops early once every one is found. Processes and descriptors that vanish
/// while being read are skipped.
pub fn held(proc: &Path, wanted: &HashSet<u32>) -> io::Result<HashSet<u32>> {
    let mut found = HashSet::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    let mut text = String::new();
    for entry in fs::read_dir(proc)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        let fd_dir = proc.join(pid).join("fd");
        let Ok(fds) = fs::read_dir(&fd_dir) else { continue };
        for fd in fds {
            let Ok(fd) = fd else { continue };
            let Ok(target) = fs::read_link(fd.path()) else { continue };
            if !target.as_os_str().as_encoded_bytes().starts_with(b"anon_inode:bpf") {
                continue;
            }
            text.clear();
            let info = proc.join(pid).join("fdinfo").join(fd.file_name());
            if fs::File::open(info)
                .and_then(|mut f| f.read_to_string(&mut text))
                .is_err()
            {
                continue;
            }
            if let Some(id) = prog_id(&text).filter(|id| wanted.contains(id)) {
                found.insert(id);
                if found.len() == wanted.len() {
                    return Ok(found);
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn fdinfo_of_programs_links_and_maps() {
        let prog = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nprog_type:\t3\nprog_jited:\t1\n\
                    prog_tag:\t4f1c4a5e3c2b1a09\nmemlock:\t4096\nprog_id:\t1234\nrun_time_ns:\t0\n";
        assert_eq!(prog_id(prog), Some(1234));
        let link =
            "pos:\t0\nflags:\t02000000\nlink_type:\ttcx\nlink_id:\t17\nprog_tag:\tab\nprog_id:\t99\nifindex:\t4\n";
        assert_eq!(prog_id(link), Some(99));
        let map = "pos:\t0\nmap_type:\t27\nkey_size:\t0\nmap_id:\t12\n";
        assert_eq!(prog_id(map), None);
        assert_eq!(prog_id("prog_id:\tnot a number\n"), None);
    }

    /// A fake /proc: pid 10 holds program 7 (and a socket), pid 11 a link to
    /// program 8; nobody holds program 9.
    #[test]
    fn held_programs_in_a_fake_proc() {
        let root = std::env::temp_dir().join(format!("tracer-holders-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let fd = |pid: &str, n: &str, target: &str, info: &str| {
            let dir = root.join(pid);
            fs::create_dir_all(dir.join("fd")).expect("fd dir");
            fs::create_dir_all(dir.join("fdinfo")).expect("fdinfo dir");
            symlink(target, dir.join("fd").join(n)).expect("fd link");
            fs::write(dir.join("fdinfo").join(n), info).expect("fdinfo");
        };
        fd("10", "3", "socket:[555]", "pos:\t0\n");
        fd("10", "4", "anon_inode:bpf-prog", "prog_type:\t3\nprog_id:\t7\n");
        fd("11", "5", "anon_inode:bpf_link", "link_type:\ttcx\nprog_id:\t8\n");
        fd("11", "6", "anon_inode:bpf-map", "map_id:\t9\n");
        fs::create_dir_all(root.join("self")).expect("not a pid");
        let wanted: HashSet<u32> = [7, 8, 9].into();
        let got = held(&root, &wanted).expect("readable");
        assert_eq!(got, [7, 8].into());
        assert!(held(&root, &HashSet::new()).expect("readable").is_empty());
        fs::remove_dir_all(&root).expect("cleanup");
    }
}
