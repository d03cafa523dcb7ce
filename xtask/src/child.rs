//! Running a program to completion with a time limit, and measuring it: wall time, CPU time
//! and peak memory (from wait4's rusage of that child alone).

use std::{
    fs::File,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

/// How a child ended and what it cost.
#[derive(Clone, Copy, Debug)]
pub struct Ended {
    /// Exit code, None when killed by a signal.
    pub code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// Killed by us after the time limit.
    pub timed_out: bool,
    pub wall: Duration,
    pub user: Duration,
    pub sys: Duration,
    /// Peak resident set size in KiB.
    pub max_rss_kib: u64,
}

impl Ended {
    pub fn describe(&self) -> String {
        if self.timed_out {
            format!("timed out after {:.1} s", self.wall.as_secs_f64())
        } else if let Some(s) = self.signal {
            format!("killed by signal {s}")
        } else {
            format!("exit status {}", self.code.unwrap_or(-1))
        }
    }
}

fn tv(t: libc::timeval) -> Duration {
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let micros = u32::try_from(t.tv_usec).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(micros.into())
}

/// Runs `cmd` with stdin closed and stdout/stderr written to the given files (or discarded when
/// `None`); kills it with SIGKILL after `limit`.
pub fn run(cmd: &mut Command, stdout: Option<&Path>, stderr: Option<&Path>, limit: Duration) -> Result<Ended> {
    let sink = |p: Option<&Path>| -> Result<Stdio> {
        Ok(match p {
            Some(p) => Stdio::from(File::create(p).with_context(|| format!("creating {}", p.display()))?),
            None => Stdio::null(),
        })
    };
    cmd.stdin(Stdio::null()).stdout(sink(stdout)?).stderr(sink(stderr)?);
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
    // The child is reaped below with wait4 (for its rusage), not through `child`.
    drop(child);
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut pause = Duration::from_micros(100);
    let mut timed_out = false;
    loop {
        // SAFETY: wait4 on our own unreaped child, with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("wait4");
        }
        if !timed_out && start.elapsed() > limit {
            timed_out = true;
            // SAFETY: kill(2) on our unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
    let wall = start.elapsed();
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Ok(Ended {
        code,
        signal,
        timed_out,
        wall,
        user: tv(ru.ru_utime),
        sys: tv(ru.ru_stime),
        max_rss_kib: u64::try_from(ru.ru_maxrss).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_signals_and_time_limit() {
        let e = run(
            Command::new("sh").args(["-c", "exit 3"]),
            None,
            None,
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!((e.code, e.signal, e.timed_out), (Some(3), None, false));
        let e = run(
            Command::new("sh").args(["-c", "kill -SEGV $$"]),
            None,
            None,
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!((e.code, e.signal), (None, Some(libc::SIGSEGV)));
        let e = run(Command::new("sleep").arg("5"), None, None, Duration::from_millis(100)).unwrap();
        assert!(e.timed_out && e.wall < Duration::from_secs(4), "{e:?}");
    }

    #[test]
    fn output_goes_to_the_file() {
        let dir = std::env::temp_dir().join(format!("xtask-child-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        run(
            Command::new("sh").args(["-c", "echo hi; echo err >&2"]),
            Some(&out),
            None,
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "hi\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
