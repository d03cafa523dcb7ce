//! What a live capture leaves on standard output when SIGINT stops it, the tracer and the real
//! tcpdump side by side on the same veth while pings cross it. tcpdump 4.99.3 (tcpdump.c, after
//! pcap_loop returns -2) ends its output with an extra newline "in case we were interrupted in
//! the middle of a line" only when it prints packet lines instead of writing a file; with `-w`
//! (a file, with `--print` or without, or `-`) nothing more reaches standard output:
//! - no `-w`: the packet lines, then one empty line;
//! - `-w FILE`: standard output stays empty;
//! - `-w FILE --print`: the packet lines and nothing after them;
//! - `-w -`: the capture file alone, which `tcpdump -r` reads to its end without complaint;
//! - `-w - --print` (the tracer only: it prints the lines on standard error there, where tcpdump
//!   mixes them into the capture on standard output): no empty line on standard error either.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use tracer_tests::{
    NetnsPair, artifact_dir,
    process::{run, run_ok},
    require_privileges, tracer_bin,
};

const START: Duration = Duration::from_secs(30);
const STOP: Duration = Duration::from_secs(20);
/// Echo requests sent per mode (each answered).
const PINGS: usize = 3;

/// One capture process with standard output and error in files; killed and reaped on drop.
struct Capture {
    name: String,
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Capture {
    fn start(pair: &NetnsPair, prog: &Path, name: &str, args: &[String], dir: &Path) -> Result<Capture> {
        let out = dir.join(format!("{name}.stdout"));
        let err = dir.join(format!("{name}.stderr"));
        let child = pair
            .client_cmd(prog)
            .args(["-n", "-i", &pair.client_if])
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out)?)
            .stderr(File::create(&err)?)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Capture {
            name: name.to_owned(),
            child: Some(child),
            out,
            err,
        })
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.err).unwrap_or_default()).into_owned()
    }

    fn wait_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + START;
        while !self.stderr().contains("listening on") {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("{} exited ({st}) before listening:\n{}", self.name, self.stderr());
            }
            if Instant::now() >= deadline {
                bail!("{} not listening after {START:?}:\n{}", self.name, self.stderr());
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// SIGINT, then the exit (which must be 0); returns standard output and error.
    fn interrupt(mut self) -> Result<(Vec<u8>, String)> {
        let mut child = self.child.take().context("running")?;
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        unsafe { libc::kill(i32::try_from(child.id())?, libc::SIGINT) };
        let deadline = Instant::now() + STOP;
        let st = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{} did not exit within {STOP:?} of SIGINT", self.name);
            }
            thread::sleep(Duration::from_millis(20));
        };
        ensure!(st.success(), "{} exited with {st}:\n{}", self.name, self.stderr());
        Ok((std::fs::read(&self.out)?, self.stderr()))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What one program left behind in one mode.
struct Outcome {
    name: String,
    stdout: Vec<u8>,
    stderr: String,
    file: Option<PathBuf>,
}

impl Outcome {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn show(&self) -> String {
        format!(
            "--- {} stdout:\n{:?}\n--- {} stderr:\n{}",
            self.name,
            self.text(),
            self.name,
            self.stderr
        )
    }
}

/// Runs the tracer and tcpdump (unless `tracer_only`) with `args` on the client's end of a
/// fresh pair, pings across it, and stops both with SIGINT. `FILE` in `args` becomes a path of
/// the program's own.
fn run_mode(test: &str, mode: &str, args: &[&str], tracer_only: bool) -> Result<Vec<Outcome>> {
    let dir = artifact_dir(&format!("{test}/{mode}"));
    let pair = NetnsPair::new("sgo")?;
    let mut progs = vec![("tracer", tracer_bin())];
    if !tracer_only {
        progs.push(("tcpdump", PathBuf::from("tcpdump")));
    }
    let mut running = Vec::new();
    for (name, prog) in &progs {
        let file = dir.join(format!("{name}.pcap"));
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if *a == "FILE" {
                    file.display().to_string()
                } else {
                    (*a).to_owned()
                }
            })
            .collect();
        let mut c = Capture::start(&pair, prog, name, &args, &dir)?;
        c.wait_listening()?;
        running.push((c, args.contains(&file.display().to_string()).then_some(file)));
    }
    let mut ping = pair.client_cmd("ping");
    ping.args(["-q", "-n", "-c", &PINGS.to_string(), "-i", "0.2"])
        .arg(pair.server_v4.to_string());
    run_ok("ping", ping, Duration::from_secs(30))?;
    // Let both programs print or write the last replies.
    thread::sleep(Duration::from_millis(700));
    let mut outcomes = Vec::new();
    for (c, file) in running {
        let name = format!("{} ({mode})", c.name);
        let (stdout, stderr) = c.interrupt()?;
        // Where the lines go to stderr (`-w - --print`), the extra newline must not follow them.
        ensure!(
            !stderr.contains("\n\n"),
            "an empty line on standard error of {name}:\n{stderr}"
        );
        outcomes.push(Outcome {
            name,
            stdout,
            stderr,
            file,
        });
    }
    Ok(outcomes)
}

/// The packet lines of an output: every echo request and reply is there, and no line is empty.
fn check_lines(o: &Outcome, lines: &str) -> Result<()> {
    let echo = |what: &str| lines.lines().filter(|l| l.contains(what)).count();
    ensure!(
        echo("ICMP echo request") >= PINGS && echo("ICMP echo reply") >= PINGS,
        "{PINGS} echo requests and replies expected:\n{}",
        o.show()
    );
    ensure!(
        lines.ends_with('\n') && !lines.contains("\n\n"),
        "an empty line among the packet lines:\n{}",
        o.show()
    );
    Ok(())
}

/// Packets `tcpdump -r` reads from `path`; it must read to the end without an error.
fn packets_in(path: &Path) -> Result<usize> {
    let mut c = Command::new("tcpdump");
    c.args(["-n", "-r"]).arg(path);
    let f = run("tcpdump -r", c, Duration::from_secs(60))?;
    ensure!(
        f.code() == Some(0) && !f.stderr.contains("truncated") && !f.stderr.contains("tcpdump:"),
        "tcpdump -r {} failed:\n{}",
        path.display(),
        f.dump()
    );
    Ok(f.stdout.lines().count())
}

/// Without -w: the packet lines, then the extra newline.
#[test]
fn sigint_printing_ends_with_a_newline() -> Result<()> {
    let test = "sigint_printing_ends_with_a_newline";
    if !require_privileges(test) {
        return Ok(());
    }
    for o in run_mode(test, "print", &[], false)? {
        let text = o.text();
        let lines = text
            .strip_suffix('\n')
            .with_context(|| format!("empty output:\n{}", o.show()))?;
        ensure!(lines.ends_with('\n'), "no empty line at the end:\n{}", o.show());
        check_lines(&o, lines)?;
    }
    Ok(())
}

/// -w FILE: nothing on standard output; the file holds the packets.
#[test]
fn sigint_writing_a_file_prints_nothing() -> Result<()> {
    let test = "sigint_writing_a_file_prints_nothing";
    if !require_privileges(test) {
        return Ok(());
    }
    for o in run_mode(test, "file", &["-w", "FILE"], false)? {
        ensure!(o.stdout.is_empty(), "standard output is not empty:\n{}", o.show());
        let file = o.file.as_deref().context("the written file")?;
        let n = packets_in(file)?;
        ensure!(n >= 2 * PINGS, "{}: {n} packets in {}", o.name, file.display());
    }
    Ok(())
}

/// -w FILE --print: the packet lines, and no extra newline after them.
#[test]
fn sigint_writing_and_printing_adds_no_newline() -> Result<()> {
    let test = "sigint_writing_and_printing_adds_no_newline";
    if !require_privileges(test) {
        return Ok(());
    }
    for o in run_mode(test, "file-print", &["-w", "FILE", "--print"], false)? {
        check_lines(&o, &o.text())?;
        let file = o.file.as_deref().context("the written file")?;
        let n = packets_in(file)?;
        ensure!(n >= 2 * PINGS, "{}: {n} packets in {}", o.name, file.display());
    }
    Ok(())
}

/// -w -: standard output is the capture and nothing else (a newline after the last record
/// would be a truncated record header to readers); with --print (tracer only), the lines on
/// standard error have no empty line after them either.
#[test]
fn sigint_writing_to_stdout_adds_nothing() -> Result<()> {
    let test = "sigint_writing_to_stdout_adds_nothing";
    if !require_privileges(test) {
        return Ok(());
    }
    let dir = artifact_dir(test);
    for o in run_mode(test, "stdout", &["-w", "-"], false)? {
        let path = dir.join(format!("{}.pcap", o.name.split(' ').next().unwrap_or("out")));
        std::fs::write(&path, &o.stdout)?;
        let n = packets_in(&path)?;
        ensure!(n >= 2 * PINGS, "{}: {n} packets on standard output", o.name);
    }
    for o in run_mode(test, "stdout-print", &["-w", "-", "--print"], true)? {
        let path = dir.join("tracer-print.pcap");
        std::fs::write(&path, &o.stdout)?;
        let n = packets_in(&path)?;
        ensure!(n >= 2 * PINGS, "{}: {n} packets on standard output", o.name);
        // The lines between "listening on" and the counts.
        let lines: String = o
            .stderr
            .lines()
            .filter(|l| l.contains(" > "))
            .map(|l| format!("{l}\n"))
            .collect();
        check_lines(&o, &lines)?;
    }
    Ok(())
}
