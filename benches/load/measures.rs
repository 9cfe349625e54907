//! The measures, each run against one server through the raw client in ftp.rs.
//!
//! Every loop is bounded by a count, and the ones that may be slow also by a deadline;
//! every socket has read/write timeouts. A measure that fails records its error and the
//! run goes on with the next one.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use crate::ftp::{BUF_SIZE, Ftp, FtpResult};
use crate::procfs::{self, Memory};

/// What to measure and how big.
pub struct Plan {
    pub user: String,
    pub pass: String,
    pub big_bytes: u64,
    /// Rounds of big STOR + RETR; the table shows the median.
    pub big_runs: usize,
    pub small_files: usize,
    pub small_bytes: usize,
    pub clients: usize,
    pub client_bytes: usize,
    pub idle_sessions: usize,
    pub repeat_logins: usize,
    /// Upper bound on the time of one slow loop (small files).
    pub loop_deadline: Duration,
    /// Measure groups to run: all, or some of memory, login, big, small, crowd.
    pub only: Vec<String>,
}

impl Plan {
    /// Whether the measure group `name` is to run.
    pub fn wants(&self, name: &str) -> bool {
        self.only.iter().any(|o| o == "all" || o == name)
    }
}

/// One server to measure.
pub struct Target {
    pub name: String,
    pub addr: SocketAddr,
    /// Root of the server's process tree, for CPU and memory (None: not measured).
    pub pid: Option<u32>,
}

/// MB/s and server CPU for one big transfer.
#[derive(Clone, Copy)]
pub struct Bulk {
    pub mb_per_s: f64,
    pub cpu_s_per_gib: Option<f64>,
}

/// Many files in one session.
#[derive(Clone, Copy)]
pub struct Files {
    pub files_per_s: f64,
    /// Fewer than planned when the deadline stopped the loop.
    pub done: usize,
}

/// Many clients at once.
#[derive(Clone, Copy)]
pub struct Crowd {
    pub wall_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub dropped: usize,
}

/// Everything measured on one server; None where the measure failed or was skipped.
#[derive(Default)]
pub struct Results {
    pub mem_idle: Option<Memory>,
    pub mem_one: Option<Memory>,
    pub mem_many: Option<Memory>,
    pub sessions_opened: usize,
    pub login_first_ms: Option<f64>,
    pub login_repeat_ms: Option<f64>,
    pub retr_big: Option<Bulk>,
    pub stor_big: Option<Bulk>,
    pub small_stor: Option<Files>,
    pub small_retr: Option<Files>,
    pub crowd: Option<Crowd>,
    pub errors: Vec<String>,
}

impl Results {
    /// Memory added by each idle logged-in session, in KiB.
    pub fn per_session_kib(&self) -> Option<f64> {
        let (one, many) = (self.mem_one?, self.mem_many?);
        let extra = self.sessions_opened.checked_sub(1).filter(|n| *n > 0)?;
        Some((many.figure_kib() as f64 - one.figure_kib() as f64) / extra as f64)
    }
}

/// Deterministic pseudo-random bytes (xorshift64), so uploads can be checked.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A reader that yields `remaining` bytes by repeating a buffer.
struct Repeat<'a> {
    buf: &'a [u8],
    pos: usize,
    remaining: u64,
}

impl Read for Repeat<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let n = out
            .len()
            .min(self.buf.len() - self.pos)
            .min(self.remaining.min(usize::MAX as u64) as usize);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % self.buf.len();
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn log(target: &Target, what: &str) {
    eprintln!("[bench] {}: {what}", target.name);
}

/// Runs the planned measures against one server, in an order that keeps the memory figures
/// clean: idle memory first, then logins and idle sessions, then the transfers.
pub fn run_all(target: &Target, plan: &Plan, ticks: f64) -> Results {
    let mut r = Results {
        mem_idle: target.pid.map(procfs::tree_memory),
        ..Results::default()
    };
    if plan.wants("memory") || plan.wants("login") {
        logins_and_memory(target, plan, &mut r);
    }
    if plan.wants("big") {
        log(
            target,
            &format!("STOR and RETR of {} bytes", plan.big_bytes),
        );
        match big_transfers(target, plan, ticks) {
            Ok((stor, retr)) => {
                r.stor_big = Some(stor);
                r.retr_big = Some(retr);
            }
            Err(e) => r.errors.push(format!("big file: {e}")),
        }
    }
    if plan.wants("small") {
        log(target, &format!("{} small files", plan.small_files));
        match small_files(target.addr, plan) {
            Ok((stor, retr)) => {
                r.small_stor = Some(stor);
                r.small_retr = Some(retr);
            }
            Err(e) => r.errors.push(format!("small files: {e}")),
        }
    }
    if plan.wants("crowd") {
        log(target, &format!("{} clients at once", plan.clients));
        match crowd(target.addr, plan) {
            Ok((c, first_error)) => {
                r.crowd = Some(c);
                if let Some(e) = first_error {
                    r.errors
                        .push(format!("clients at once, first failure: {e}"));
                }
            }
            Err(e) => r.errors.push(format!("clients at once: {e}")),
        }
    }
    r
}

/// First login (one session kept open while memory is read), repeated logins, then many
/// idle logged-in sessions held open while memory is read again.
fn logins_and_memory(target: &Target, plan: &Plan, r: &mut Results) {
    let mem = |pid: Option<u32>| pid.map(procfs::tree_memory);
    log(target, "first login, repeated logins, idle sessions");
    match login_timed(target.addr, plan) {
        Ok((first, ftp)) => {
            r.login_first_ms = Some(first);
            settle();
            r.mem_one = mem(target.pid);
            ftp.quit();
        }
        Err(e) => r.errors.push(format!("first login: {e}")),
    }
    match repeated_logins(target.addr, plan) {
        Ok(median) => r.login_repeat_ms = Some(median),
        Err(e) => r.errors.push(format!("repeated logins: {e}")),
    }
    let (sessions, err) = idle_sessions(target.addr, plan);
    r.sessions_opened = sessions.len();
    if let Some(e) = err {
        r.errors.push(format!(
            "idle sessions: {e} after {} of {}",
            sessions.len(),
            plan.idle_sessions
        ));
    }
    settle();
    r.mem_many = mem(target.pid);
    for s in sessions {
        s.quit();
    }
}

/// Gives a forking server a moment to finish its post-login work before /proc is read.
fn settle() {
    thread::sleep(Duration::from_millis(300));
}

/// Connect + greeting + USER + PASS, timed; returns the open session.
fn login_timed(addr: SocketAddr, plan: &Plan) -> FtpResult<(f64, Ftp)> {
    let t = Instant::now();
    let mut ftp = Ftp::connect(addr)?;
    ftp.user_pass(&plan.user, &plan.pass)?;
    Ok((ms(t.elapsed()), ftp))
}

/// Median of `repeat_logins` sequential logins.
fn repeated_logins(addr: SocketAddr, plan: &Plan) -> FtpResult<f64> {
    let mut times = Vec::with_capacity(plan.repeat_logins);
    for _ in 0..plan.repeat_logins.max(1) {
        let (t, ftp) = login_timed(addr, plan)?;
        ftp.quit();
        times.push(t);
    }
    times.sort_by(f64::total_cmp);
    Ok(percentile(&times, 50.0))
}

/// Opens `idle_sessions` logged-in sessions one after the other and keeps them open.
fn idle_sessions(addr: SocketAddr, plan: &Plan) -> (Vec<Ftp>, Option<String>) {
    let mut sessions = Vec::with_capacity(plan.idle_sessions);
    for _ in 0..plan.idle_sessions {
        match login_timed(addr, plan) {
            Ok((_, ftp)) => sessions.push(ftp),
            Err(e) => return (sessions, Some(e.to_string())),
        }
    }
    (sessions, None)
}

/// STOR then RETR of one big file, `big_runs` times; each figure is the median over the
/// runs (this machine is noisy). CPU from the server's process tree around each transfer.
fn big_transfers(target: &Target, plan: &Plan, ticks: f64) -> FtpResult<(Bulk, Bulk)> {
    let mut stors = Vec::with_capacity(plan.big_runs);
    let mut retrs = Vec::with_capacity(plan.big_runs);
    for _ in 0..plan.big_runs.max(1) {
        let (stor, retr) = big_round(target, plan, ticks)?;
        stors.push(stor);
        retrs.push(retr);
    }
    Ok((median_bulk(&stors), median_bulk(&retrs)))
}

fn median_bulk(runs: &[Bulk]) -> Bulk {
    let mut speeds: Vec<f64> = runs.iter().map(|b| b.mb_per_s).collect();
    speeds.sort_by(f64::total_cmp);
    let mut cpus: Vec<f64> = runs.iter().filter_map(|b| b.cpu_s_per_gib).collect();
    cpus.sort_by(f64::total_cmp);
    Bulk {
        mb_per_s: percentile(&speeds, 50.0),
        cpu_s_per_gib: (!cpus.is_empty()).then(|| percentile(&cpus, 50.0)),
    }
}

/// One STOR and one RETR of the big file, then DELE.
fn big_round(target: &Target, plan: &Plan, ticks: f64) -> FtpResult<(Bulk, Bulk)> {
    let gib = plan.big_bytes as f64 / (1u64 << 30) as f64;
    let cpu = || target.pid.map(|p| procfs::tree_cpu_secs(p, ticks));
    let bulk = |secs: f64, before: Option<f64>, after: Option<f64>| Bulk {
        mb_per_s: plan.big_bytes as f64 / 1e6 / secs,
        cpu_s_per_gib: before.zip(after).map(|(b, a)| (a - b) / gib),
    };
    let chunk = pattern(1 << 20, 0x5eed);
    let mut ftp = Ftp::login(target.addr, &plan.user, &plan.pass)?;

    let before = cpu();
    let t = Instant::now();
    let mut source = Repeat {
        buf: &chunk,
        pos: 0,
        remaining: plan.big_bytes,
    };
    let sent = ftp.stor("big.bin", &mut source)?;
    let stor = bulk(t.elapsed().as_secs_f64(), before, cpu());
    check_len("STOR big.bin", sent, plan.big_bytes)?;

    let before = cpu();
    let t = Instant::now();
    let mut first = FirstBytes::new(chunk.len().min(4096));
    let got = ftp.retr("big.bin", &mut first)?;
    let retr = bulk(t.elapsed().as_secs_f64(), before, cpu());
    check_len("RETR big.bin", got, plan.big_bytes)?;
    if first.bytes[..] != chunk[..first.bytes.len()] {
        return Err(crate::ftp::FtpError::Protocol(
            "RETR big.bin: content differs from what was stored".into(),
        ));
    }
    ftp.command_expect("DELE big.bin", &[250])?;
    ftp.quit();
    Ok((stor, retr))
}

fn check_len(what: &str, got: u64, want: u64) -> FtpResult<()> {
    if got == want {
        Ok(())
    } else {
        Err(crate::ftp::FtpError::Protocol(format!(
            "{what}: {got} bytes, expected {want}"
        )))
    }
}

/// A sink that keeps the first few bytes, to spot-check a big download cheaply.
struct FirstBytes {
    bytes: Vec<u8>,
    keep: usize,
}

impl FirstBytes {
    fn new(keep: usize) -> Self {
        FirstBytes {
            bytes: Vec::with_capacity(keep),
            keep,
        }
    }
}

impl Write for FirstBytes {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.keep - self.bytes.len();
        self.bytes.extend_from_slice(&buf[..room.min(buf.len())]);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// STOR `small_files` files into one folder, RETR them all (checking content), then delete
/// them, all in one session.
fn small_files(addr: SocketAddr, plan: &Plan) -> FtpResult<(Files, Files)> {
    let mut ftp = Ftp::login(addr, &plan.user, &plan.pass)?;
    // 550 when the folder is left over from an interrupted run: that is fine.
    ftp.command_expect("MKD small", &[257, 550])?;
    let content = pattern(plan.small_bytes + plan.small_files, 0xf11e5);
    let file = |i: usize| &content[i..i + plan.small_bytes];
    let name = |i: usize| format!("small/f{i:05}.bin");

    let deadline = Instant::now() + plan.loop_deadline;
    let t = Instant::now();
    let mut stored = 0;
    while stored < plan.small_files && Instant::now() < deadline {
        ftp.stor(&name(stored), &mut file(stored))?;
        stored += 1;
    }
    let stor = Files {
        files_per_s: stored as f64 / t.elapsed().as_secs_f64(),
        done: stored,
    };

    let deadline = Instant::now() + plan.loop_deadline;
    let t = Instant::now();
    let mut fetched = 0;
    let mut buf = Vec::with_capacity(plan.small_bytes);
    while fetched < stored && Instant::now() < deadline {
        buf.clear();
        ftp.retr(&name(fetched), &mut buf)?;
        if buf != file(fetched) {
            return Err(crate::ftp::FtpError::Protocol(format!(
                "RETR {}: content differs from what was stored",
                name(fetched)
            )));
        }
        fetched += 1;
    }
    let retr = Files {
        files_per_s: fetched as f64 / t.elapsed().as_secs_f64(),
        done: fetched,
    };

    for i in 0..stored {
        ftp.command_expect(&format!("DELE {}", name(i)), &[250])?;
    }
    ftp.command_expect("RMD small", &[250])?;
    ftp.quit();
    Ok((stor, retr))
}

/// `clients` clients start together; each logs in, lists, retrieves one file and quits.
/// Returns the figures and the first failure's message, if any.
fn crowd(addr: SocketAddr, plan: &Plan) -> FtpResult<(Crowd, Option<String>)> {
    let content = Arc::new(pattern(plan.client_bytes, 0xc0ffee));
    let mut setup = Ftp::login(addr, &plan.user, &plan.pass)?;
    setup.stor("crowd.bin", &mut &content[..])?;
    setup.quit();

    // Each client reports when it started and ended; the wall time runs from the first
    // start to the last end (the main thread may be scheduled late after the barrier).
    let start = Arc::new(Barrier::new(plan.clients));
    let mut handles = Vec::with_capacity(plan.clients);
    for _ in 0..plan.clients {
        let (start, content) = (Arc::clone(&start), Arc::clone(&content));
        let (user, pass) = (plan.user.clone(), plan.pass.clone());
        handles.push(thread::spawn(
            move || -> (Instant, Instant, Result<(), String>) {
                start.wait();
                let t = Instant::now();
                // Each step names itself in the error, to tell where a client was dropped.
                let one = || -> Result<(), String> {
                    fn step(what: &'static str) -> impl Fn(crate::ftp::FtpError) -> String {
                        move |e| format!("{what}: {e}")
                    }
                    let mut ftp = Ftp::connect(addr).map_err(step("connect"))?;
                    ftp.user_pass(&user, &pass).map_err(step("login"))?;
                    ftp.command_expect("TYPE I", &[200])
                        .map_err(step("TYPE I"))?;
                    ftp.list(".").map_err(step("LIST"))?;
                    let mut got = Vec::with_capacity(content.len());
                    ftp.retr("crowd.bin", &mut got).map_err(step("RETR"))?;
                    if got[..] != content[..] {
                        return Err("RETR crowd.bin: content differs".into());
                    }
                    ftp.quit();
                    Ok(())
                };
                let result = one();
                (t, Instant::now(), result)
            },
        ));
    }
    let mut times = Vec::with_capacity(plan.clients);
    let mut first_error = None;
    let mut dropped = 0;
    let mut span: Option<(Instant, Instant)> = None;
    for h in handles {
        match h.join() {
            Ok((begin, end, result)) => {
                span = Some(span.map_or((begin, end), |(b, e)| (b.min(begin), e.max(end))));
                match result {
                    Ok(()) => times.push(ms(end - begin)),
                    Err(e) => {
                        dropped += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            Err(_) => {
                dropped += 1;
                first_error.get_or_insert("client thread panicked".into());
            }
        }
    }
    let wall_s = span.map_or(f64::NAN, |(b, e)| (e - b).as_secs_f64());
    times.sort_by(f64::total_cmp);

    let mut cleanup = Ftp::login(addr, &plan.user, &plan.pass)?;
    cleanup.command_expect("DELE crowd.bin", &[250])?;
    cleanup.quit();
    Ok((
        Crowd {
            wall_s,
            p50_ms: percentile(&times, 50.0),
            p99_ms: percentile(&times, 99.0),
            dropped,
        },
        first_error,
    ))
}

/// The physical limit: a file sent with `sendfile(2)` to a `TcpStream` over
/// 127.0.0.1 and read into a buffer on the other end. Returns MB/s.
pub fn loopback_ceiling(dir: &Path, bytes: u64) -> io::Result<f64> {
    let path = dir.join(format!("pocketftpd-ceiling-{}.bin", std::process::id()));
    let result = (|| {
        {
            let chunk = pattern(1 << 20, 0x5eed);
            let mut f = io::BufWriter::new(std::fs::File::create(&path)?);
            io::copy(
                &mut Repeat {
                    buf: &chunk,
                    pos: 0,
                    remaining: bytes,
                },
                &mut f,
            )?;
            f.flush()?;
        }
        // Best of three: the ceiling is a bound, not an average.
        let mut best = 0f64;
        for _ in 0..3 {
            best = best.max(send_file_once(&path, bytes)?);
        }
        Ok(best)
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// One File -> TcpStream copy over loopback; returns MB/s.
fn send_file_once(path: &Path, bytes: u64) -> io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sender_path = path.to_path_buf();
    let sender = thread::spawn(move || -> io::Result<u64> {
        let (stream, _) = listener.accept()?;
        let file = std::fs::File::open(sender_path)?;
        // sendfile(2) itself: std's io::copy does not use it from a file to
        // a socket (it falls back to an 8 KiB read/write loop).
        let mut offset = 0u64;
        while offset < bytes {
            let want = (bytes - offset).min(1 << 30) as usize;
            if rustix::fs::sendfile(&stream, &file, Some(&mut offset), want)? == 0 {
                break;
            }
        }
        Ok(offset)
    });
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(crate::ftp::IO_TIMEOUT))?;
    let t = Instant::now();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut got = 0u64;
    loop {
        match stream.read(&mut buf)? {
            0 => break,
            n => got += n as u64,
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let sent = sender
        .join()
        .map_err(|_| io::Error::other("sender panicked"))??;
    if sent != bytes || got != bytes {
        return Err(io::Error::other(format!(
            "sent {sent}, received {got}, expected {bytes}"
        )));
    }
    Ok(bytes as f64 / 1e6 / secs)
}
