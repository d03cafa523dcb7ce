//! A stop signal that comes while the tracer starts is not lost. A non-interactive shell starts a
//! background job with SIGINT ignored (`tracer -i IF -w FILE 'tcp port 80' &` in a script); the
//! tracer catches SIGINT and SIGTERM from the first instant of `main` all the same and holds them
//! until the step in progress (loading a program, attaching to an interface) is over. Then it
//! detaches what it attached, prints tcpdump's three counts and exits 0, as on a SIGINT in its
//! main loop; nothing of it stays on the interface (no XDP program, no TCX program, no classic tc
//! filter or clsact qdisc).
//!
//! The checks of the interface run while an undisturbed tracer is listening too, so that they are
//! seen to find what a tracer attaches. TCX attachments are counted with BPF_PROG_QUERY inside the
//! namespace (bpftool 7.1 of Debian 12 does not list them per interface).
//!
//! `tracer states`, `tracer stat` and `-r` follow the same rule; `-r` interrupted behaves as
//! tcpdump 4.99.3 does: what was read is printed (or written, whole records), then an extra
//! newline when printing, no counts, status 0.

use std::{
    ffi::CString,
    fs::File,
    io::{self, Read as _, Write as _},
    os::{fd::AsRawFd as _, unix::fs::OpenOptionsExt as _},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use tracer_tests::{Bg, NetnsPair, artifact_dir, process::run_ok, require_privileges, scaled, tracer_bin};

/// A tc/ip look-up.
const T: Duration = Duration::from_secs(20);
/// An undisturbed start-up (until "listening on"; scaled by `Bg::wait_stderr`).
const START: Duration = Duration::from_secs(60);
/// How much longer than an undisturbed start-up an interrupted one may take (scaled): the
/// signal waits for the step in progress, and the stop itself takes milliseconds.
const STOP_MARGIN: Duration = Duration::from_secs(5);
/// When SIGINT is sent, after the handler is installed (scaled).
const DELAYS_MS: [u64; 6] = [0, 20, 50, 100, 200, 400];
/// tcpdump's counts, the end of each line after the number.
const SUMMARY: [&str; 3] = ["captured", "received by filter", "dropped by kernel"];

/// BPF_PROG_QUERY (enum bpf_cmd) and BPF_TCX_INGRESS/EGRESS (enum bpf_attach_type).
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_TCX_INGRESS: u32 = 46;
const BPF_TCX_EGRESS: u32 = 47;

fn quote(s: impl AsRef<std::ffi::OsStr>) -> String {
    format!("'{}'", s.as_ref().to_string_lossy().replace('\'', r"'\''"))
}

/// Programs attached by TCX on `ifname` in namespace `ns` for `attach_type`, or None where the
/// kernel has no TCX (6.1: EINVAL).
fn tcx_programs(ns: &str, ifname: &str, attach_type: u32) -> Result<Option<u32>> {
    let netns = File::open(format!("/var/run/netns/{ns}")).with_context(|| format!("opening netns {ns}"))?;
    let name = CString::new(ifname)?;
    let query = thread::spawn(move || -> Result<Option<u32>> {
        // SAFETY: setns(2) on this thread alone, with an open namespace descriptor.
        if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error()).context("setns");
        }
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        ensure!(ifindex != 0, "no interface {name:?}: {}", io::Error::last_os_error());
        // union bpf_attr, the BPF_PROG_QUERY part: target_ifindex, attach_type, query_flags,
        // attach_flags, prog_ids (u64, NULL: count only), prog_cnt (out) ...; zeros after it.
        let mut attr = [0u32; 32];
        attr[0] = ifindex;
        attr[1] = attach_type;
        // SAFETY: bpf(2) with a zeroed attribute buffer of the size given; it writes prog_cnt
        // (and the revision) into it and follows no pointer (prog_ids is NULL).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_QUERY,
                attr.as_mut_ptr(),
                std::mem::size_of_val(&attr),
            )
        };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINVAL) {
                return Ok(None);
            }
            return Err(err).context("BPF_PROG_QUERY");
        }
        Ok(Some(attr[6]))
    });
    query
        .join()
        .map_err(|_| anyhow::anyhow!("the BPF_PROG_QUERY thread panicked"))?
}

/// Everything a tracer can leave on the client's interface: an XDP program, TCX programs,
/// classic tc filters and the clsact qdisc.
fn attachments(pair: &NetnsPair) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let ns = &pair.client;
    let dev = &pair.client_if;
    let mut ip = Command::new("ip");
    ip.args(["-n", ns, "-d", "link", "show", "dev", dev]);
    let link = run_ok("ip link show", ip, T)?.stdout;
    if link.contains("xdp") {
        found.push(format!("XDP: {}", link.trim()));
    }
    for (side, at) in [("ingress", BPF_TCX_INGRESS), ("egress", BPF_TCX_EGRESS)] {
        if let Some(n) = tcx_programs(ns, dev, at)?
            && n > 0
        {
            found.push(format!("{n} TCX {side} program(s)"));
        }
        let mut tc = Command::new("tc");
        tc.args(["-n", ns, "filter", "show", "dev", dev, side]);
        let filters = run_ok("tc filter show", tc, T)?.stdout;
        if !filters.trim().is_empty() {
            found.push(format!("tc {side} filters: {}", filters.trim()));
        }
    }
    let mut tc = Command::new("tc");
    tc.args(["-n", ns, "qdisc", "show", "dev", dev]);
    let qdiscs = run_ok("tc qdisc show", tc, T)?.stdout;
    if qdiscs.contains("clsact") {
        found.push(format!("qdisc: {}", qdiscs.trim()));
    }
    Ok(found)
}

/// tcpdump's three counts, each on a line of its own.
fn check_summary(what: &str, stderr: &str) -> Result<()> {
    for end in SUMMARY {
        ensure!(
            stderr.lines().any(|l| {
                l.split_once(' ').is_some_and(|(n, rest)| {
                    n.parse::<u64>().is_ok() && (rest == format!("packets {end}") || rest == format!("packet {end}"))
                })
            }),
            "{what}: no \"N packets {end}\" line on stderr:\n{stderr}"
        );
    }
    Ok(())
}

/// Starts a tracer with `args` on the client's interface as nothing disturbs it, checks that the
/// interface checks see what it attached, stops it and checks they see nothing then. Returns
/// how long it took to print "listening on".
fn undisturbed(pair: &NetnsPair, args: &[String], env: Option<(&str, &str)>) -> Result<Duration> {
    let start = Instant::now();
    let mut c = pair.client_cmd(tracer_bin());
    c.args(["-i", &pair.client_if]).args(args);
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    let mut tracer = Bg::spawn("tracer (undisturbed)", c)?;
    tracer.wait_stderr("listening on", START)?;
    let startup = start.elapsed();
    let running = attachments(pair)?;
    ensure!(
        !running.is_empty(),
        "while the tracer listens, the checks find nothing attached to {}",
        pair.client_if
    );
    let f = tracer.interrupt(T)?;
    f.expect_code(0)?;
    check_summary("undisturbed tracer", &f.stderr)?;
    let left = attachments(pair)?;
    ensure!(left.is_empty(), "left after an undisturbed run: {left:?}");
    eprintln!(
        "undisturbed start-up: {} ms; attached while listening: {running:?}",
        startup.as_millis()
    );
    Ok(startup)
}

/// A `sh -c SCRIPT` in the client's namespace: a non-interactive shell, whose background jobs
/// start with SIGINT ignored. Its standard output and error go to files; killed on drop.
struct Script {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Script {
    fn spawn(pair: &NetnsPair, script: &str, dir: &Path, name: &str) -> Result<Script> {
        let out = dir.join(format!("{name}.stdout"));
        let err = dir.join(format!("{name}.stderr"));
        let child = pair
            .client_cmd("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(File::create(&out)?)
            .stderr(File::create(&err)?)
            .spawn()
            .with_context(|| format!("starting sh -c {script}"))?;
        Ok(Script {
            child: Some(child),
            out,
            err,
        })
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// The tracer's pid, from the script's `echo pid=$!` line.
    fn pid(&self, timeout: Duration) -> Result<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pid) = value_of(&self.stdout(), "pid=") {
                return Ok(pid);
            }
            ensure!(
                Instant::now() < deadline,
                "no pid from the script within {timeout:?}:\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the script to end (killed after `timeout`, which is an error); the tracer's
    /// exit status from the script's `echo status=$?` line.
    fn status(mut self, timeout: Duration) -> Result<(i32, String)> {
        let mut child = self.child.take().context("running")?;
        let deadline = Instant::now() + timeout;
        while child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the script did not end within {timeout:?} (the tracer ignored its signal?)\n--- stdout:\n{}--- stderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
        let status = value_of(&self.stdout(), "status=")
            .with_context(|| format!("no status line:\n{}\n{}", self.stdout(), self.stderr()))?;
        Ok((status, self.stderr()))
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The number after `key` on a line of `text` that starts with it.
fn value_of(text: &str, key: &str) -> Option<i32> {
    text.lines().find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
}

/// Waits until `pid` is the tracer (exec'd) and catches SIGINT: `signals::install` has run.
fn wait_installed(pid: i32, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        let caught = field("SigCgt:")
            .and_then(|m| u64::from_str_radix(&m, 16).ok())
            .is_some_and(|m| m & (1 << (libc::SIGINT - 1)) != 0);
        if field("Name:").as_deref() == Some("tracer") && caught {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "pid {pid} did not become a tracer catching SIGINT within {timeout:?}:\n{status}"
        );
        thread::sleep(Duration::from_micros(200));
    }
}

fn sigint(pid: i32) -> Result<()> {
    // SAFETY: kill(2) on the tracer the script started and waits for.
    if unsafe { libc::kill(pid, libc::SIGINT) } != 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("kill -INT {pid}"));
    }
    Ok(())
}

/// Waits until `pid` catches SIGINT (bit 1 of SigCgt in /proc/PID/status): a signal sent
/// before that, while the process still has the disposition it inherited (ignored, in a
/// shell's background job), is discarded by the kernel. On an emulated CPU getting from exec
/// to `main` alone can take longer than the delays these tests use.
fn wait_for_handler(pid: i32) -> Result<()> {
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & (1 << (libc::SIGINT - 1)) != 0);
        if caught {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "process {pid} never caught SIGINT");
        thread::sleep(Duration::from_millis(5));
    }
}

/// The issue's case: the script sends SIGINT 50 ms after starting the tracer with a filter,
/// which is while the programs are loaded.
#[test]
fn sigint_from_a_script_while_starting() -> Result<()> {
    let test = "sigint_from_a_script_while_starting";
    if !require_privileges(test) {
        return Ok(());
    }
    let dir = artifact_dir(&format!("startup_signal/{test}"));
    let pair = NetnsPair::new("sus")?;
    let file = dir.join("undisturbed.pcap");
    let startup = undisturbed(
        &pair,
        &["-w".into(), file.display().to_string(), "tcp port 80".into()],
        None,
    )?;
    let file = dir.join("interrupted.pcap");
    // 50 ms after the start, as the issue's check does. In a guest of the VM matrix (emulated
    // CPU) the dynamic loader alone can take longer than that, and a signal that comes before
    // `main` has installed its handler is discarded by the kernel (the shell's background job
    // has SIGINT ignored): there the script waits until the tracer's status shows SIGINT
    // caught (bit 1 of SigCgt), then sends it, still during the start-up.
    let wait = if tracer_tests::env::time_scale() > 1.0 {
        "i=0; while [ $i -lt 4000 ]; do case $(awk '/^SigCgt/ {print $2}' /proc/$p/status 2>/dev/null) in \
         *[2367abef]) break;; esac; sleep 0.005; i=$((i+1)); done"
            .to_owned()
    } else {
        "sleep 0.05".to_owned()
    };
    let script = format!(
        "{} -i {} -w {} 'tcp port 80' & p=$!; {wait}; kill -INT $p; wait $p; echo status=$?",
        quote(tracer_bin()),
        quote(&pair.client_if),
        quote(&file),
    );
    let start = Instant::now();
    let sh = Script::spawn(&pair, &script, &dir, "script")?;
    let (status, stderr) = sh.status(startup + scaled(STOP_MARGIN))?;
    let took = start.elapsed();
    ensure!(status == 0, "the tracer exited with {status}:\n{stderr}");
    check_summary("interrupted tracer", &stderr)?;
    ensure!(!stderr.contains("panicked"), "{stderr}");
    let left = attachments(&pair)?;
    ensure!(left.is_empty(), "left after a SIGINT during the start-up: {left:?}");
    eprintln!(
        "SIGINT at 50 ms: status {status}, script done in {} ms (undisturbed start-up {} ms), {}",
        took.as_millis(),
        startup.as_millis(),
        if stderr.contains("listening on") {
            "after the start-up"
        } else {
            "during the start-up"
        }
    );
    Ok(())
}

/// A SIGINT that comes while `main` is still reading its filter (`-F` names a FIFO the test
/// writes only after the signal): before the capture has begun to start, and when a shell's
/// background job has SIGINT ignored. It must stop the tracer before anything is loaded.
#[test]
fn sigint_before_loading_is_kept() -> Result<()> {
    let test = "sigint_before_loading_is_kept";
    if !require_privileges(test) {
        return Ok(());
    }
    let dir = artifact_dir(&format!("startup_signal/{test}"));
    let pair = NetnsPair::new("suf")?;
    // Not under `dir`: in a guest of the VM matrix that is a 9p mount, where a FIFO cannot be
    // opened (ENXIO).
    let fifo = std::env::temp_dir().join(format!("tracer-{test}-{}.fifo", std::process::id()));
    let _ = std::fs::remove_file(&fifo);
    let c = CString::new(fifo.display().to_string())?;
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error()).context("mkfifo");
    }
    let file = dir.join("cap.pcap");
    let script = format!(
        "{} -i {} -w {} -F {} & echo pid=$!; wait $!; echo status=$?",
        quote(tracer_bin()),
        quote(&pair.client_if),
        quote(&file),
        quote(&fifo)
    );
    let sh = Script::spawn(&pair, &script, &dir, "script")?;
    let pid = sh.pid(scaled(Duration::from_secs(10)))?;
    wait_installed(pid, scaled(Duration::from_secs(10)))?;
    // Let it reach the FIFO (it blocks opening it until a writer comes); the signal is before
    // the filter is read in any case.
    thread::sleep(scaled(Duration::from_millis(100)));
    wait_for_handler(pid)?;
    sigint(pid)?;
    // Then the filter: opened without blocking, once the tracer has it open for reading.
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    let mut writer = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
        {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e).context("opening the FIFO for writing (is the tracer reading it?)"),
        }
    };
    writer.write_all(b"tcp port 80\n")?;
    drop(writer);
    let sent = Instant::now();
    let (status, stderr) = sh.status(scaled(STOP_MARGIN))?;
    ensure!(status == 0, "the tracer exited with {status}:\n{stderr}");
    check_summary("tracer stopped before loading", &stderr)?;
    ensure!(
        !stderr.contains("listening on"),
        "the tracer went on to listen after a SIGINT that came before it loaded anything:\n{stderr}"
    );
    ensure!(!file.exists(), "{} was created", file.display());
    let left = attachments(&pair)?;
    ensure!(left.is_empty(), "left attached: {left:?}");
    eprintln!(
        "SIGINT while reading -F: status 0, exit {} ms after the filter came, nothing attached",
        sent.elapsed().as_millis()
    );
    Ok(())
}

/// SIGINT at several delays after the handler is installed, without a filter (a start-up of a
/// few hundred milliseconds): the early ones land while the programs load or attach, the later
/// ones may find it listening. Every run must exit 0 with the counts and leave nothing attached.
#[test]
fn sigint_at_several_delays() -> Result<()> {
    let test = "sigint_at_several_delays";
    if !require_privileges(test) {
        return Ok(());
    }
    sweep(test, None)
}

/// The same with classic tc forced (`TRACER_TC_ATTACH=netlink`, as on kernels without TCX), whose
/// filters and clsact qdisc would outlive the process: a stop after attaching must remove them.
#[test]
fn sigint_at_several_delays_classic_tc() -> Result<()> {
    let test = "sigint_at_several_delays_classic_tc";
    if !require_privileges(test) {
        return Ok(());
    }
    sweep(test, Some(("TRACER_TC_ATTACH", "netlink")))
}

fn sweep(test: &str, env: Option<(&str, &str)>) -> Result<()> {
    let dir = artifact_dir(&format!("startup_signal/{test}"));
    let pair = NetnsPair::new("sud")?;
    let file = dir.join("undisturbed.pcap");
    let startup = undisturbed(&pair, &["-w".into(), file.display().to_string()], env)?;
    let prefix = env.map_or_else(String::new, |(k, v)| format!("{k}={} ", quote(v)));
    let mut rows = Vec::new();
    for ms in DELAYS_MS {
        let delay = scaled(Duration::from_millis(ms));
        let file = dir.join(format!("delay-{ms}.pcap"));
        let script = format!(
            "{prefix}{} -i {} -w {} & echo pid=$!; wait $!; echo status=$?",
            quote(tracer_bin()),
            quote(&pair.client_if),
            quote(&file)
        );
        let sh = Script::spawn(&pair, &script, &dir, &format!("delay-{ms}"))?;
        let pid = sh.pid(scaled(Duration::from_secs(10)))?;
        wait_installed(pid, scaled(Duration::from_secs(10)))?;
        thread::sleep(delay);
        sigint(pid)?;
        let sent = Instant::now();
        let (status, stderr) = sh
            .status(startup + scaled(STOP_MARGIN))
            .with_context(|| format!("SIGINT {ms} ms after the handler"))?;
        let took = sent.elapsed();
        ensure!(status == 0, "delay {ms} ms: the tracer exited with {status}:\n{stderr}");
        check_summary(&format!("delay {ms} ms"), &stderr)?;
        ensure!(!stderr.contains("panicked"), "delay {ms} ms:\n{stderr}");
        let left = attachments(&pair)?;
        ensure!(left.is_empty(), "delay {ms} ms: left attached: {left:?}");
        let listening = stderr.contains("listening on");
        // Stopped before it listened: no capture file was created.
        ensure!(
            listening || !file.exists(),
            "delay {ms} ms: stopped during the start-up but {} exists",
            file.display()
        );
        rows.push((delay, listening, took));
    }
    for (delay, listening, took) in &rows {
        eprintln!(
            "{test}: SIGINT {:>4} ms after the handler: status 0, exit {:>4} ms after the signal, {}",
            delay.as_millis(),
            took.as_millis(),
            if *listening {
                "while listening"
            } else {
                "during the start-up"
            }
        );
    }
    ensure!(
        rows.iter().any(|(_, listening, _)| !listening),
        "no SIGINT landed during the start-up ({} ms undisturbed): the test proves nothing",
        startup.as_millis()
    );
    Ok(())
}

/// `tracer states` and `tracer stat` stopped early: exit 0; `states` prints its count.
#[test]
fn states_and_stat_stop_on_an_early_signal() -> Result<()> {
    let test = "states_and_stat_stop_on_an_early_signal";
    if !require_privileges(test) {
        return Ok(());
    }
    let dir = artifact_dir(&format!("startup_signal/{test}"));
    let pair = NetnsPair::new("sus")?;
    for mode in ["states", "stat"] {
        for ms in [0u64, 50, 300] {
            let name = format!("{mode}-{ms}");
            let script = format!(
                "{} {mode} > {} & echo pid=$!; wait $!; echo status=$?",
                quote(tracer_bin()),
                quote(dir.join(format!("{name}.out")))
            );
            let sh = Script::spawn(&pair, &script, &dir, &name)?;
            let pid = sh.pid(scaled(Duration::from_secs(10)))?;
            wait_installed(pid, scaled(Duration::from_secs(10)))?;
            thread::sleep(scaled(Duration::from_millis(ms)));
            sigint(pid)?;
            let sent = Instant::now();
            let (status, stderr) = sh.status(scaled(Duration::from_secs(20)))?;
            ensure!(status == 0, "{name}: the tracer exited with {status}:\n{stderr}");
            ensure!(!stderr.contains("panicked"), "{name}:\n{stderr}");
            if mode == "states" {
                ensure!(
                    stderr
                        .lines()
                        .any(|l| l.contains("state event") && l.contains("dropped by kernel")),
                    "{name}: no count of state events:\n{stderr}"
                );
            }
            eprintln!(
                "tracer {mode}, SIGINT {ms} ms after the handler: status 0, exit {} ms after the signal",
                sent.elapsed().as_millis()
            );
        }
    }
    Ok(())
}

/// A capture of `n` TCP packets (Ethernet, IPv4, port 80), microsecond pcap.
fn write_capture(path: &Path, n: u32) -> Result<()> {
    let mut out = io::BufWriter::new(File::create(path)?);
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&262_144u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    for i in 0..n {
        let mut p = Vec::with_capacity(80);
        p.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let payload = b"GET / HTTP";
        let total = u16::try_from(20 + 20 + payload.len())?;
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&(i as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend_from_slice(&(40_000 + (i % 1000) as u16).to_be_bytes());
        p.extend_from_slice(&80u16.to_be_bytes());
        p.extend_from_slice(&i.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        let len = u32::try_from(p.len())?;
        out.write_all(&(1_700_000_000 + i / 1000).to_le_bytes())?;
        out.write_all(&((i % 1000) * 1000).to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&p)?;
    }
    out.flush()?;
    Ok(())
}

/// Runs `tracer ARGS` (stdout to a pipe) as a background job of a script, reads its output
/// slowly until `before` bytes came, sends SIGINT, then reads the rest. Returns standard
/// output, the tracer's standard error, its status and how long the rest took.
fn interrupt_reading(args: &str, dir: &Path, name: &str, before: usize) -> Result<(Vec<u8>, String, i32, Duration)> {
    let err = dir.join(format!("{name}.stderr"));
    let script = format!(
        "{} {args} 2> {} & echo pid=$! >&2; wait $!; echo status=$? >&2",
        quote(tracer_bin()),
        quote(&err)
    );
    let meta = dir.join(format!("{name}.script"));
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&meta)?)
        .spawn()?;
    let result = (|| -> Result<_> {
        let mut out: ChildStdout = child.stdout.take().context("piped stdout")?;
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 4096];
        // Slowly: the tracer is kept writing (blocked on a full pipe) while the signal comes.
        while got.len() < before {
            let n = out.read(&mut chunk)?;
            ensure!(n > 0, "the output ended after {} bytes, before the signal", got.len());
            got.extend_from_slice(&chunk[..n]);
            thread::sleep(Duration::from_millis(1));
        }
        let meta_text = std::fs::read_to_string(&meta)?;
        let pid = value_of(&meta_text, "pid=").context("no pid line")?;
        sigint(pid)?;
        let sent = Instant::now();
        out.read_to_end(&mut got)?;
        let took = sent.elapsed();
        let deadline = Instant::now() + scaled(Duration::from_secs(10));
        while child.try_wait()?.is_none() {
            ensure!(Instant::now() < deadline, "the script did not end");
            thread::sleep(Duration::from_millis(5));
        }
        let meta_text = std::fs::read_to_string(&meta)?;
        let status = value_of(&meta_text, "status=").context("no status line")?;
        Ok((got, std::fs::read_to_string(&err)?, status, took))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The records of a pcap file in `bytes`, which must hold whole records only.
fn whole_records(bytes: &[u8]) -> Result<usize> {
    ensure!(bytes.len() >= 24, "{} bytes: no pcap header", bytes.len());
    let mut at = 24;
    let mut n = 0;
    while at < bytes.len() {
        ensure!(at + 16 <= bytes.len(), "a record header cut at byte {at}");
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into()?) as usize;
        ensure!(at + 16 + caplen <= bytes.len(), "record {n} cut short at byte {at}");
        at += 16 + caplen;
        n += 1;
    }
    Ok(n)
}

/// `-r` interrupted, as tcpdump 4.99.3 (measured beside it on a large file): status 0, no
/// counts; printing, the lines read so far and one empty line; with `-w -`, whole records and
/// nothing after them.
#[test]
fn reading_a_file_stops_as_tcpdump_does() -> Result<()> {
    let test = "reading_a_file_stops_as_tcpdump_does";
    if !require_privileges(test) {
        return Ok(());
    }
    const PACKETS: u32 = 200_000;
    let dir = artifact_dir(&format!("startup_signal/{test}"));
    let file = dir.join("big.pcap");
    write_capture(&file, PACKETS)?;
    let reading = format!(
        "reading from file {}, link-type EN10MB (Ethernet), snapshot length 262144",
        file.display()
    );

    let (out, stderr, status, took) = interrupt_reading(&format!("-nn -r {}", quote(&file)), &dir, "print", 512 << 10)?;
    ensure!(status == 0, "-r: exited with {status}:\n{stderr}");
    ensure!(
        stderr.trim_end() == reading,
        "-r: standard error should be the 'reading from file' line alone:\n{stderr}"
    );
    let text = String::from_utf8_lossy(&out);
    let body = text.strip_suffix("\n\n").with_context(|| {
        format!(
            "-r: no empty line at the end: ...{:?}",
            &text[text.len().saturating_sub(200)..]
        )
    })?;
    let lines = body.lines().count();
    ensure!(
        body.lines().all(|l| l.contains(" IP 10.0.0.1.")),
        "-r: a line that is not a packet line"
    );
    ensure!(
        lines < PACKETS as usize,
        "-r: all {lines} packets printed: the signal did not stop it"
    );
    eprintln!(
        "-r interrupted: status 0, {lines} of {PACKETS} packets printed, then an empty line; ended {} ms after the signal",
        took.as_millis()
    );

    let (out, stderr, status, took) =
        interrupt_reading(&format!("-r {} -w -", quote(&file)), &dir, "write", 512 << 10)?;
    ensure!(status == 0, "-r -w -: exited with {status}:\n{stderr}");
    ensure!(
        stderr.trim_end() == reading,
        "-r -w -: standard error should be the 'reading from file' line alone:\n{stderr}"
    );
    let records = whole_records(&out)?;
    ensure!(
        records > 0 && records < PACKETS as usize,
        "-r -w -: {records} records of {PACKETS}"
    );
    eprintln!(
        "-r -w - interrupted: status 0, {records} whole records written; ended {} ms after the signal",
        took.as_millis()
    );
    Ok(())
}
