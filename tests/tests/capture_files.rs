//! Capture files for long captures, checked with tshark and tcpdump:
//! `-w -` streams a pcap through a pipe (`| tshark -r -`, `| tcpdump -r -`),
//! with a filter and with every line on stderr; `-C 1 -W 3` under a ping
//! flood leaves exactly the three files tcpdump leaves; `-G` rotates into
//! strftime-named files and, with `-W`, stops after that many; pcapng from
//! two interfaces names both, gives each packet its direction and the owning
//! process, and reads back (`-r`) as tcpdump prints it.

use std::{
    fs::File,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use tracer_tests::{
    Bg, NetnsPair, artifact_dir,
    lines::summary_count,
    process::{run, run_ok, tshark_count},
    require_privileges, tracer_bin,
};

const START: Duration = Duration::from_secs(30);
const STOP: Duration = Duration::from_secs(20);

/// Children killed and reaped on drop (the piped tracer and tshark).
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// Polls `path` until `pred` holds on its content, or fails after `timeout`.
fn wait_file(path: &Path, timeout: Duration, what: &str, pred: impl Fn(&str) -> bool) -> Result<String> {
    let timeout = tracer_tests::env::scaled(timeout);
    let deadline = Instant::now() + timeout;
    loop {
        let s = read(path);
        if pred(&s) {
            return Ok(s);
        }
        if Instant::now() >= deadline {
            bail!("{what} not seen within {timeout:?} in {}:\n{s}", path.display());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn wait_exit(child: &mut Child, timeout: Duration, name: &str) -> Result<std::process::ExitStatus> {
    let timeout = tracer_tests::env::scaled(timeout);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(st);
        }
        if Instant::now() >= deadline {
            bail!("{name} did not exit within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn ping(pair: &NetnsPair, args: &[&str]) -> Result<()> {
    let mut c = pair.client_cmd("ping");
    c.args(["-q", "-n"]).args(args).arg(pair.server_v4.to_string());
    run_ok("ping", c, Duration::from_secs(60)).map(drop)
}

/// tshark's fields of every packet of `file` (tab-separated columns).
fn tshark_fields(file: &Path, fields: &[&str]) -> Result<Vec<Vec<String>>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(file).args(["-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = run_ok("tshark", cmd, Duration::from_secs(60))?;
    Ok(out
        .stdout
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect())
}

/// Sorted names of the files in `dir`.
fn names_in(dir: &Path) -> Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    v.sort();
    Ok(v)
}

/// `tracer -i IF -U -w - | tshark -l -r -`: packets reach tshark while the tracer runs, both
/// directions are there, and the stream ends cleanly on SIGINT. Then
/// `tracer -w - --print -c 6 | tcpdump -r -`: the packet lines go to stderr, only the pcap to
/// stdout.
#[test]
fn stream_to_stdout() -> Result<()> {
    stream("stream_to_stdout", None)
}

/// The streaming test with `icmp` (the issue's `-w - icmp`): nothing but ICMP reaches tshark.
#[test]
fn stream_to_stdout_icmp() -> Result<()> {
    stream("stream_to_stdout_icmp", Some("icmp"))
}

fn stream(test: &str, filter: Option<&str>) -> Result<()> {
    if !require_privileges(test) {
        return Ok(());
    }
    let dir = artifact_dir(test);
    let pair = NetnsPair::new("trt")?;
    let iface = pair.client_if.as_str();
    let expr: Vec<&str> = filter.into_iter().collect();

    let tracer_err = dir.join("tracer.stderr");
    let tshark_out = dir.join("tshark.stdout");
    let tshark_err = dir.join("tshark.stderr");
    let mut tracer = pair
        .client_cmd(tracer_bin())
        .args(["-i", iface, "-U", "-w", "-"])
        .args(&expr)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&tracer_err)?)
        .spawn()
        .context("starting the tracer")?;
    let pipe = tracer.stdout.take().context("tracer stdout")?;
    let mut kids = Children(vec![tracer]);
    let fields = ["frame.number", "ip.proto", "icmp.type"];
    let tshark = Command::new("tshark")
        .args(["-l", "-n", "-r", "-", "-T", "fields"])
        .args(fields.iter().flat_map(|f| ["-e", f]))
        .stdin(Stdio::from(pipe))
        .stdout(File::create(&tshark_out)?)
        .stderr(File::create(&tshark_err)?)
        .spawn()
        .context("starting tshark")?;
    kids.0.push(tshark);
    wait_file(&tracer_err, START, "listening on", |s| s.contains("listening on"))?;

    // ICMP and UDP.
    ping(&pair, &["-c", "5", "-i", "0.2"])?;
    let udp = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range(5): s.sendto(b'x'*20,('{}',9))",
        pair.server_v4
    );
    let mut c = pair.client_cmd("python3");
    c.args(["-c", &udp]);
    run_ok("python3 udp", c, Duration::from_secs(20))?;
    // Streaming: tshark prints the packets before the tracer stops.
    wait_file(&tshark_out, Duration::from_secs(10), "10 packets in tshark", |s| {
        s.lines().count() >= 10
    })?;
    ensure!(
        kids.0[0].try_wait()?.is_none(),
        "the tracer exited early:\n{}",
        read(&tracer_err)
    );
    thread::sleep(Duration::from_millis(300));

    // SAFETY: kill(2) on the tracer we spawned and have not reaped.
    unsafe { libc::kill(i32::try_from(kids.0[0].id())?, libc::SIGINT) };
    let st = wait_exit(&mut kids.0[0], STOP, "tracer")?;
    ensure!(st.success(), "tracer exited with {st}:\n{}", read(&tracer_err));
    let st = wait_exit(&mut kids.0[1], STOP, "tshark")?;
    let (out, err) = (read(&tshark_out), read(&tshark_err));
    ensure!(st.success(), "tshark -r - exited with {st}:\n{err}");
    ensure!(
        !err.contains("cut short") && !err.contains("damaged") && !err.contains("isn't a capture file"),
        "tshark complains about the stream:\n{err}"
    );
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    // The outer IP header's protocol (a port unreachable quotes the UDP datagram: `1,17`).
    let proto = |r: &Vec<&str>| r.get(1).and_then(|p| p.split(',').next()).unwrap_or("").to_owned();
    let icmp_type = |t: &str| rows.iter().filter(|r| proto(r) == "1" && r.get(2) == Some(&t)).count();
    ensure!(
        icmp_type("8") == 5 && icmp_type("0") == 5,
        "expected 5 echo requests and 5 replies:\n{out}"
    );
    let udp_rows = rows.iter().filter(|r| proto(r) == "17").count();
    if filter == Some("icmp") {
        ensure!(
            rows.iter().all(|r| proto(r) == "1"),
            "a packet that is not ICMP passed `icmp`:\n{out}"
        );
    } else {
        ensure!(udp_rows == 5, "{udp_rows} UDP datagrams in the stream, 5 sent:\n{out}");
    }
    let stderr = read(&tracer_err);
    let captured = summary_count(&stderr, "packets captured").context("summary line")?;
    ensure!(
        usize::try_from(captured)? == rows.len(),
        "the tracer says {captured} packets captured, tshark read {}:\n{stderr}",
        rows.len()
    );

    // tcpdump -r -, with --print: packet lines on stderr, the pcap alone on stdout.
    let tracer_err = dir.join("tracer2.stderr");
    let dump_out = dir.join("tcpdump.stdout");
    let mut tracer = pair
        .client_cmd(tracer_bin())
        .args(["-i", iface, "-nn", "--print", "-c", "6", "-w", "-"])
        .args(&expr)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&tracer_err)?)
        .spawn()?;
    let pipe = tracer.stdout.take().context("tracer stdout")?;
    let mut kids = Children(vec![tracer]);
    kids.0.push(
        Command::new("tcpdump")
            .args(["-nn", "-r", "-"])
            .stdin(Stdio::from(pipe))
            .stdout(File::create(&dump_out)?)
            .stderr(File::create(dir.join("tcpdump.stderr"))?)
            .spawn()?,
    );
    wait_file(&tracer_err, START, "listening on", |s| s.contains("listening on"))?;
    ping(&pair, &["-c", "4", "-i", "0.2"])?;
    let st = wait_exit(&mut kids.0[0], STOP, "tracer -c 6")?;
    ensure!(st.success(), "tracer exited with {st}:\n{}", read(&tracer_err));
    let st = wait_exit(&mut kids.0[1], STOP, "tcpdump -r -")?;
    ensure!(st.success(), "tcpdump -r - exited with {st}");
    let lines: Vec<String> = read(&dump_out).lines().map(str::to_owned).collect();
    ensure!(
        lines.len() == 6 && lines.iter().filter(|l| l.contains("ICMP echo")).count() >= 4,
        "tcpdump -r - printed:\n{}",
        lines.join("\n")
    );
    // The same lines, printed by the tracer on stderr.
    let err = read(&tracer_err);
    for l in &lines {
        ensure!(err.contains(l.as_str()), "the tracer's stderr lacks {l:?}:\n{err}");
    }
    drop(kids);

    // The reader leaves (`tshark -c 4`): the capture ends as after -c, status 0, summary.
    let tracer_err = dir.join("tracer3.stderr");
    let pinger = {
        let mut c = pair.client_cmd("ping");
        // Until the reader has left (the guard kills it), however slowly tshark starts.
        c.args(["-q", "-n", "-i", "0.05"]).arg(pair.server_v4.to_string());
        Bg::spawn("ping", c)?
    };
    let mut tracer = pair
        .client_cmd(tracer_bin())
        .args(["-i", iface, "-w", "-"])
        .args(&expr)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&tracer_err)?)
        .spawn()?;
    let pipe = tracer.stdout.take().context("tracer stdout")?;
    let mut kids = Children(vec![tracer]);
    kids.0.push(
        Command::new("tshark")
            .args(["-n", "-c", "4", "-r", "-"])
            .stdin(Stdio::from(pipe))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let st = wait_exit(&mut kids.0[0], STOP, "tracer after its reader left")?;
    let err = read(&tracer_err);
    ensure!(st.success(), "tracer exited with {st} after its reader left:\n{err}");
    ensure!(
        summary_count(&err, "packets captured").is_some_and(|n| n >= 4),
        "no summary after the reader left:\n{err}"
    );
    drop(pinger);
    Ok(())
}

/// `-C 1 -W 3` under a 7 MB ping flood: exactly the files tcpdump leaves (r0 r1 r2), each
/// readable, none over 1,000,000 bytes by a record or more.
#[test]
fn size_ring_of_three() -> Result<()> {
    if !require_privileges("size_ring_of_three") {
        return Ok(());
    }
    let dir = artifact_dir("size_ring_of_three");
    let (tdir, ddir) = (dir.join("tracer"), dir.join("tcpdump"));
    std::fs::create_dir_all(&tdir)?;
    std::fs::create_dir_all(&ddir)?;
    let pair = NetnsPair::new("trt")?;
    let iface = pair.client_if.as_str();
    let mut tracer = {
        let mut c = pair.client_cmd(tracer_bin());
        c.args(["-i", iface, "-C", "1", "-W", "3", "-w"]).arg(tdir.join("r"));
        Bg::spawn("tracer", c)?
    };
    let mut dump = {
        let mut c = pair.client_cmd("tcpdump");
        c.args([
            "-i",
            iface,
            "--immediate-mode",
            "-Z",
            "root",
            "-C",
            "1",
            "-W",
            "3",
            "-w",
        ])
        .arg(ddir.join("r"));
        Bg::spawn("tcpdump", c)?
    };
    tracer.wait_stderr("listening on", START)?;
    dump.wait_stderr("listening on", START)?;
    // 2 × 2500 × 1458 bytes of records: about 7.3 MB.
    ping(&pair, &["-f", "-s", "1400", "-c", "2500"])?;
    thread::sleep(Duration::from_millis(500));
    let tracer = tracer.interrupt(STOP)?;
    let dump = dump.interrupt(STOP)?;
    std::fs::write(dir.join("tracer.out"), tracer.dump())?;
    tracer.expect_no_panic()?;
    tracer.expect_code(0)?;
    dump.expect_code(0)?;

    let names = names_in(&tdir)?;
    ensure!(names == ["r0", "r1", "r2"], "the tracer left {names:?}");
    ensure!(names == names_in(&ddir)?, "tcpdump left {:?}", names_in(&ddir)?);
    let mut total = 0;
    for n in &names {
        let p = tdir.join(n);
        let size = std::fs::metadata(&p)?.len();
        // A file is closed on the first packet after it passed 1,000,000 bytes.
        ensure!(size <= 1_000_000 + 1458, "{n} is {size} bytes");
        let count = tshark_count(&p)?;
        ensure!(count > 0, "tshark reads no packet from {n}");
        total += count;
    }
    ensure!(total > 1500, "only {total} packets in the three files");
    let captured = summary_count(&tracer.stderr, "packets captured").context("summary")?;
    ensure!(captured >= 5000, "{captured} packets captured:\n{}", tracer.stderr);
    Ok(())
}

/// `-G 1 -w 'cap-%H%M%S.pcap'`: a file per second of traffic, named by strftime, each
/// readable (the first may hold no packet), together holding every packet captured. `-G 1 -W 2`: stops by itself after two
/// files with tcpdump's message and status 0.
#[test]
fn time_rotation() -> Result<()> {
    if !require_privileges("time_rotation") {
        return Ok(());
    }
    let dir = artifact_dir("time_rotation");
    let (adir, bdir) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&adir)?;
    std::fs::create_dir_all(&bdir)?;
    let pair = NetnsPair::new("trt")?;
    let iface = pair.client_if.as_str();
    let pinger = {
        let mut c = pair.client_cmd("ping");
        // Until the test ends (the guard kills it), however slow the machine: both captures
        // need packets to rotate on.
        c.args(["-q", "-n", "-i", "0.1"]).arg(pair.server_v4.to_string());
        Bg::spawn("ping", c)?
    };
    let mut tracer = {
        let mut c = pair.client_cmd(tracer_bin());
        c.args(["-i", iface, "-G", "1", "-w"]).arg(adir.join("cap-%H%M%S.pcap"));
        Bg::spawn("tracer -G 1", c)?
    };
    tracer.wait_stderr("listening on", START)?;
    thread::sleep(Duration::from_millis(3500));
    let tracer = tracer.interrupt(STOP)?;
    std::fs::write(dir.join("tracer-a.out"), tracer.dump())?;
    tracer.expect_code(0)?;
    let names = names_in(&adir)?;
    ensure!(names.len() >= 3, "only {names:?} after 3.5 s of -G 1");
    let mut total = 0;
    for (k, n) in names.iter().enumerate() {
        let digits = n.strip_prefix("cap-").and_then(|r| r.strip_suffix(".pcap"));
        ensure!(
            digits.is_some_and(|d| d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit())),
            "{n} is not cap-HHMMSS.pcap"
        );
        let c = tshark_count(&adir.join(n))?;
        // As with tcpdump, slots are whole seconds of time(2): the first packet may already
        // be in the next one and leave the first file with its header alone.
        ensure!(c > 0 || k == 0, "{n} holds no packet");
        total += c;
    }
    let captured = summary_count(&tracer.stderr, "packets captured").context("summary")?;
    ensure!(
        u64::try_from(total)? == captured,
        "the files hold {total} packets, the tracer captured {captured}"
    );

    let tracer = {
        let mut c = pair.client_cmd(tracer_bin());
        c.args(["-i", iface, "-G", "1", "-W", "2", "-w"])
            .arg(bdir.join("cap-%H%M%S.pcap"));
        run("tracer -G 1 -W 2", c, Duration::from_secs(15))?
    };
    std::fs::write(dir.join("tracer-b.out"), tracer.dump())?;
    tracer.expect_code(0)?;
    ensure!(
        tracer.stderr.contains("Maximum file limit reached: 2\n"),
        "no file limit message:\n{}",
        tracer.stderr
    );
    let names = names_in(&bdir)?;
    ensure!(names.len() == 2, "-G 1 -W 2 left {names:?}");
    for n in &names {
        tshark_count(&bdir.join(n))?;
    }
    drop(pinger);
    Ok(())
}

/// A second veth pair between the two namespaces of `pair`: (client end, server end,
/// client address, server address). Deleted with the namespaces.
fn second_link(pair: &NetnsPair) -> Result<(String, String, String, String)> {
    let base = pair.client_if.trim_end_matches('c');
    let (c_if, s_if) = (format!("{base}d"), format!("{base}t"));
    let octet = pair.client_v4.octets()[1];
    let (c_ip, s_ip) = (format!("10.254.{octet}.1"), format!("10.254.{octet}.2"));
    let ip = |args: &[&str]| -> Result<()> {
        let out = Command::new("ip").args(args).output()?;
        ensure!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    ip(&[
        "link",
        "add",
        &c_if,
        "netns",
        &pair.client,
        "type",
        "veth",
        "peer",
        "name",
        &s_if,
        "netns",
        &pair.server,
    ])?;
    ip(&["-n", &pair.client, "addr", "add", &format!("{c_ip}/24"), "dev", &c_if])?;
    ip(&["-n", &pair.server, "addr", "add", &format!("{s_ip}/24"), "dev", &s_if])?;
    ip(&["-n", &pair.client, "link", "set", &c_if, "up"])?;
    ip(&["-n", &pair.server, "link", "set", &s_if, "up"])?;
    thread::sleep(Duration::from_millis(300));
    Ok((c_if, s_if, c_ip, s_ip))
}

/// pcapng from two interfaces: tshark shows both interface names, both directions on each,
/// curl's and python's packets commented with their pid and command; `tracer -r` prints the
/// file as tcpdump does.
#[test]
fn pcapng_interfaces_directions_owners() -> Result<()> {
    if !require_privileges("pcapng_interfaces_directions_owners") {
        return Ok(());
    }
    let dir = artifact_dir("pcapng_interfaces_directions_owners");
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    // 1.5 s at 400 kB/s: longer than the owner look-up's longest pause (1 s); on a slower
    // machine (the time scale) the look-up's table reads and /proc scans take longer too.
    let blob = tracer_tests::env::scaled(Duration::from_millis(600)).as_millis() as usize * 1000;
    std::fs::write(www.join("blob"), vec![b'x'; blob])?;
    let pair = NetnsPair::new("trt")?;
    let (if2, _, _, s_ip2) = second_link(&pair)?;
    let if1 = pair.client_if.clone();
    let mut server = {
        let mut c = pair.server_cmd("python3");
        c.args(["-u", "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory"])
            .arg(&www);
        Bg::spawn("http.server", c)?
    };
    server.wait_stdout("Serving HTTP", START)?;
    let file: PathBuf = dir.join("two.pcapng");
    let mut tracer = {
        let mut c = pair.client_cmd(tracer_bin());
        c.args(["-i", &if1, "-i", &if2, "-w"]).arg(&file);
        Bg::spawn("tracer", c)?
    };
    tracer.wait_stderr("listening on", START)?;

    // HTTP over the second link, slowly enough to be seen alive; UDP and ping over the first.
    let curl = {
        let mut c = pair.client_cmd("curl");
        let max = tracer_tests::env::scaled(Duration::from_secs(20)).as_secs().to_string();
        c.args(["-sS", "-o", "/dev/null", "--limit-rate", "400k", "--max-time", &max])
            .arg(format!("http://{s_ip2}:8000/blob"));
        Bg::spawn("curl", c)?
    };
    let curl_pid = curl.pid();
    let udp = format!(
        "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range(10):\n s.sendto(b'x'*20,('{}',9)); time.sleep(0.1)",
        pair.server_v4
    );
    let py = {
        let mut c = pair.client_cmd("python3");
        c.args(["-c", &udp]);
        Bg::spawn("python3 udp", c)?
    };
    let py_pid = py.pid();
    py.finish(Duration::from_secs(20))?.expect_code(0)?;
    ping(&pair, &["-c", "3", "-i", "0.2"])?;
    curl.finish(Duration::from_secs(30))?.expect_code(0)?;
    thread::sleep(Duration::from_millis(500));
    let tracer = tracer.interrupt(STOP)?;
    std::fs::write(dir.join("tracer.out"), tracer.dump())?;
    tracer.expect_no_panic()?;
    tracer.expect_code(0)?;
    drop(server);

    let rows = tshark_fields(
        &file,
        &[
            "frame.interface_name",
            "frame.packet_flags_direction",
            "frame.comment",
            "ip.proto",
            "tcp.port",
        ],
    )?;
    let n = |pred: &dyn Fn(&Vec<String>) -> bool| rows.iter().filter(|r| pred(r)).count();
    let col = |r: &Vec<String>, i: usize| r.get(i).cloned().unwrap_or_default();
    for name in [&if1, &if2] {
        for dirn in ["0x00000001", "0x00000002"] {
            ensure!(
                n(&|r| col(r, 0) == *name && col(r, 1) == dirn) > 0,
                "no packet on {name} with direction {dirn} ({})",
                file.display()
            );
        }
    }
    let curl_comment = format!("pid {curl_pid} curl");
    let http = n(&|r| col(r, 0) == if2 && col(r, 4).split(',').any(|p| p == "8000"));
    let http_owned = n(&|r| col(r, 0) == if2 && col(r, 4).split(',').any(|p| p == "8000") && col(r, 2) == curl_comment);
    ensure!(http >= 20, "only {http} HTTP packets on {if2}");
    // Every packet of the connection: the SYN's miss reads the tables (the socket exists by
    // then), and the flow keeps its owner after the socket closes.
    ensure!(
        http_owned * 10 >= http * 9,
        "{http_owned} of {http} HTTP packets carry {curl_comment:?}"
    );
    let py_comment = format!("pid {py_pid} python3");
    let udp_owned = n(&|r| col(r, 0) == if1 && col(r, 3) == "17" && col(r, 2) == py_comment);
    // The first datagrams may pass before /proc may be scanned again (rate limit).
    ensure!(udp_owned >= 8, "{udp_owned} of 10 UDP packets carry {py_comment:?}");
    let icmp_commented = n(&|r| col(r, 3).split(',').next() == Some("1") && !col(r, 2).is_empty());
    ensure!(icmp_commented == 0, "ICMP packets have owners");

    // -r of a multi-interface pcapng prints what tcpdump prints.
    let t = {
        let mut c = Command::new(tracer_bin());
        c.args(["-nn", "-r"]).arg(&file);
        run_ok("tracer -r", c, Duration::from_secs(30))?
    };
    let d = {
        let mut c = Command::new("tcpdump");
        c.args(["-nn", "-r"]).arg(&file);
        run_ok("tcpdump -r", c, Duration::from_secs(30))?
    };
    ensure!(
        t.stdout == d.stdout && !d.stdout.is_empty(),
        "tracer -r and tcpdump -r differ on {}",
        file.display()
    );
    Ok(())
}
