//! Background processes that are killed when dropped, with their output
//! collected while they run.

use std::{
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// `nsenter --net=/var/run/netns/NS PROG`: PROG runs in the namespace's
/// network stack but keeps this mount namespace (and so /sys and tracefs).
/// nsenter execs PROG, so the pid of the spawned child is PROG's pid.
pub fn in_netns(ns: &str, prog: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/var/run/netns/{ns}")).arg(prog);
    cmd
}

/// What a finished process left behind.
#[derive(Debug)]
pub struct Finished {
    pub name: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Exit code, or None when killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Fails unless the exit status is `code`, showing all output.
    pub fn expect_code(&self, code: i32) -> Result<()> {
        if self.status.code() != Some(code) {
            bail!(
                "{} exited with {} (expected {code})\n{}",
                self.name,
                self.status,
                self.dump()
            );
        }
        Ok(())
    }

    /// The output for an error message.
    pub fn dump(&self) -> String {
        format!(
            "--- {} stdout:\n{}--- {} stderr:\n{}---",
            self.name, self.stdout, self.name, self.stderr
        )
    }

    /// No output may show a panic.
    pub fn expect_no_panic(&self) -> Result<()> {
        if self.stdout.contains("panicked") || self.stderr.contains("panicked") {
            bail!("{} panicked\n{}", self.name, self.dump());
        }
        Ok(())
    }
}

type Buf = Arc<Mutex<Vec<u8>>>;

/// A child process killed (SIGKILL) and reaped on drop. Its stdout and
/// stderr are read by threads into buffers that can be inspected while it runs.
pub struct Bg {
    name: String,
    child: Option<Child>,
    out: Buf,
    err: Buf,
    readers: Vec<JoinHandle<()>>,
}

fn reader(mut src: impl std::io::Read + Send + 'static, buf: Buf) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match src.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.lock().expect("output buffer").extend_from_slice(&chunk[..n]),
            }
        }
    })
}

impl Bg {
    /// Spawns `cmd` with stdout and stderr captured and stdin closed.
    pub fn spawn(name: &str, mut cmd: Command) -> Result<Bg> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("starting {name}: {cmd:?}"))?;
        let out = Buf::default();
        let err = Buf::default();
        let readers = vec![
            reader(child.stdout.take().expect("piped stdout"), out.clone()),
            reader(child.stderr.take().expect("piped stderr"), err.clone()),
        ];
        Ok(Bg {
            name: name.to_owned(),
            child: Some(child),
            out,
            err,
            readers,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> i32 {
        let id = self.child.as_ref().expect("child present until finished").id();
        i32::try_from(id).expect("pid fits in i32")
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("stdout buffer")).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().expect("stderr buffer")).into_owned()
    }

    /// Sends `sig` (e.g. `libc::SIGINT`) to the process.
    pub fn signal(&self, sig: i32) -> Result<()> {
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet.
        if unsafe { libc::kill(self.pid(), sig) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("kill({}, {sig}) of {}", self.pid(), self.name));
        }
        Ok(())
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits until stderr contains `needle`. Fails if the process exits
    /// first or `timeout` passes, showing what it printed.
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        self.wait_for(needle, timeout, true)
    }

    /// Waits until stdout contains `needle`.
    pub fn wait_stdout(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        self.wait_for(needle, timeout, false)
    }

    fn wait_for(&mut self, needle: &str, timeout: Duration, stderr: bool) -> Result<()> {
        let timeout = crate::env::scaled(timeout);
        let deadline = Instant::now() + timeout;
        loop {
            let text = if stderr { self.stderr() } else { self.stdout() };
            if text.contains(needle) {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                // Let the readers drain what is left.
                thread::sleep(Duration::from_millis(50));
                bail!(
                    "{} exited ({status}) before printing {needle:?}\n--- stdout:\n{}--- stderr:\n{}---",
                    self.name,
                    self.stdout(),
                    self.stderr()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}\n--- stdout:\n{}--- stderr:\n{}---",
                    self.name,
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit (SIGKILL after `timeout`, which is an
    /// error) and returns its status and complete output.
    pub fn finish(mut self, timeout: Duration) -> Result<Finished> {
        let timeout = crate::env::scaled(timeout);
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.exited() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.signal(libc::SIGKILL);
                let _ = self.child.as_mut().map(Child::wait);
                bail!(
                    "{} did not exit within {timeout:?}; killed\n--- stdout:\n{}--- stderr:\n{}---",
                    self.name,
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Ok(Finished {
            name: self.name.clone(),
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        })
    }

    /// Sends SIGINT and waits for the exit.
    pub fn interrupt(self, timeout: Duration) -> Result<Finished> {
        self.signal(libc::SIGINT)?;
        self.finish(timeout)
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `cmd` to completion (killed after `timeout`) and returns its output.
pub fn run(name: &str, cmd: Command, timeout: Duration) -> Result<Finished> {
    Bg::spawn(name, cmd)?.finish(timeout)
}

/// Runs `cmd` and fails unless it exits 0.
pub fn run_ok(name: &str, cmd: Command, timeout: Duration) -> Result<Finished> {
    let f = run(name, cmd, timeout)?;
    f.expect_code(0)?;
    Ok(f)
}

/// Number of packets tshark reads from a capture file (fails if tshark
/// cannot read it).
pub fn tshark_count(file: &Path) -> Result<usize> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args(["-T", "fields", "-e", "frame.number"]);
    let f = run_ok("tshark", cmd, Duration::from_secs(60))?;
    Ok(f.stdout.lines().filter(|l| !l.trim().is_empty()).count())
}
