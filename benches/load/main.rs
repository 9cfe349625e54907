//! Load generator for pocketftpd and other FTP servers: `cargo bench` (harness = false).
//!
//! With no settings it starts pocketftpd itself (the binary cargo built for this bench) in a
//! temporary folder on a free loopback port and measures it. `bench/anchors.sh` also starts
//! vsftpd and Pure-FTPd and passes all three in `BENCH_SERVERS`, so one table compares them.
//!
//! Measures (per server): STOR and RETR of one big file (MB/s, server CPU s per GiB), many
//! small files stored and retrieved in one session (files/s), many clients at once each
//! logging in, listing and retrieving a small file (wall time, p50/p99, dropped), memory
//! idle and with many idle logged-in sessions, login latency (first and repeated); plus the
//! loopback ceiling (a file sent with sendfile(2) to a TcpStream over 127.0.0.1).
//!
//! Environment (all optional):
//!   BENCH_SERVERS        name=self[:BINARY] | name=HOST:PORT[@PID], comma-separated
//!                        (default: pocketftpd=self). `self` starts pocketftpd (BINARY, or
//!                        BENCH_POCKETFTPD, or the one cargo built). PID is the server's
//!                        root process, for CPU and memory from /proc.
//!   BENCH_POCKETFTPD     binary for `self` (default: the one cargo built)
//!   BENCH_USER, BENCH_PASS   account on every server (default: ftpbench / bench-Pass-42)
//!   BENCH_BIG_MB         big file size in MiB (default 1024)
//!   BENCH_BIG_RUNS       rounds of big STOR + RETR, median shown (default 3)
//!   BENCH_SMALL_FILES    small file count (default 2000)
//!   BENCH_SMALL_KB       small file size in KiB (default 4)
//!   BENCH_CLIENTS        clients at once (default 100)
//!   BENCH_CLIENT_KB      file each of them retrieves, KiB (default 64)
//!   BENCH_IDLE_SESSIONS  idle logged-in sessions for the memory figure (default 100)
//!   BENCH_LOGINS         repeated logins for the latency median (default 20)
//!   BENCH_LOOP_SECS      upper bound on each small-file loop, seconds (default 120)
//!   BENCH_ONLY           measure groups, comma-separated: all (default) or some of
//!                        memory, login, big, small, crowd, ceiling
//!   BENCH_PASV_PORTS     passive range for `self`, e.g. 40000-40999 (default)
//!   BENCH_TMP            folder for the ceiling file and `self` (default: the temp dir)
//!   BENCH_OUT            also write the table to this file
//!   BENCH_STRICT         if set, exit non-zero when any measure failed (CI's smoke run)
//!
//! Progress goes to stderr; the table (markdown) goes to stdout.

mod ftp;
mod measures;
mod procfs;
mod selfhost;

use std::env;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use measures::{Plan, Results, Target};

/// Workers for a self-hosted pocketftpd: enough for the idle sessions plus one, or the crowd.
fn self_max_connections(plan: &Plan) -> usize {
    plan.idle_sessions.max(plan.clients) + 10
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

fn env_str(name: &str, default: &str) -> String {
    env::var(name).unwrap_or_else(|_| default.to_string())
}

/// One entry of BENCH_SERVERS.
enum Spec {
    /// Name, and the binary when given.
    SelfHosted(String, Option<PathBuf>),
    External(Target),
}

fn parse_servers(list: &str) -> Result<Vec<Spec>, String> {
    let mut specs = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, rest) = entry
            .split_once('=')
            .ok_or_else(|| format!("BENCH_SERVERS entry {entry:?}: expected name=..."))?;
        if rest == "self" {
            specs.push(Spec::SelfHosted(name.to_string(), None));
            continue;
        }
        if let Some(bin) = rest.strip_prefix("self:") {
            specs.push(Spec::SelfHosted(name.to_string(), Some(bin.into())));
            continue;
        }
        let (addr, pid) = match rest.split_once('@') {
            Some((a, p)) => (
                a,
                Some(
                    p.parse::<u32>()
                        .map_err(|_| format!("bad pid in {entry:?}"))?,
                ),
            ),
            None => (rest, None),
        };
        specs.push(Spec::External(Target {
            name: name.to_string(),
            addr: ftp::resolve(addr)?,
            pid,
        }));
    }
    Ok(specs)
}

fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("BENCH_PASV_PORTS={text:?}: expected LOW-HIGH");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}

fn main() -> ExitCode {
    // `cargo bench` passes "--bench"; a filter argument is accepted and ignored.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[bench] error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let plan = Plan {
        user: env_str("BENCH_USER", "ftpbench"),
        pass: env_str("BENCH_PASS", "bench-Pass-42"),
        big_bytes: env_num::<u64>("BENCH_BIG_MB", 1024)? << 20,
        big_runs: env_num("BENCH_BIG_RUNS", 3)?,
        small_files: env_num("BENCH_SMALL_FILES", 2000)?,
        small_bytes: env_num::<usize>("BENCH_SMALL_KB", 4)? << 10,
        clients: env_num("BENCH_CLIENTS", 100)?,
        client_bytes: env_num::<usize>("BENCH_CLIENT_KB", 64)? << 10,
        idle_sessions: env_num("BENCH_IDLE_SESSIONS", 100)?,
        repeat_logins: env_num("BENCH_LOGINS", 20)?,
        loop_deadline: Duration::from_secs(env_num("BENCH_LOOP_SECS", 120)?),
        only: env_str("BENCH_ONLY", "all")
            .split(',')
            .map(|m| m.trim().to_string())
            .collect(),
    };
    let tmp = env::var_os("BENCH_TMP").map_or_else(env::temp_dir, PathBuf::from);
    let pasv = parse_range(&env_str("BENCH_PASV_PORTS", "40000-40999"))?;
    let pocketftpd = env::var_os("BENCH_POCKETFTPD").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_pocketftpd")),
        PathBuf::from,
    );
    let specs = parse_servers(&env_str("BENCH_SERVERS", "pocketftpd=self"))?;
    let ticks = procfs::clock_ticks_per_sec();

    let ceiling = if plan.wants("ceiling") || plan.wants("big") {
        eprintln!(
            "[bench] loopback ceiling: sendfile of {} MiB File -> TcpStream",
            plan.big_bytes >> 20
        );
        measures::loopback_ceiling(&tmp, plan.big_bytes).map(Some)
    } else {
        Ok(None)
    };

    let mut columns: Vec<(String, Results)> = Vec::new();
    for spec in specs {
        match spec {
            Spec::External(target) => {
                let r = measures::run_all(&target, &plan, ticks);
                columns.push((target.name, r));
            }
            Spec::SelfHosted(name, bin) => {
                let bin = bin.unwrap_or_else(|| pocketftpd.clone());
                eprintln!("[bench] {name}: starting {}", bin.display());
                let started = selfhost::SelfHosted::start(
                    &bin,
                    &tmp,
                    &plan.user,
                    &plan.pass,
                    self_max_connections(&plan),
                    pasv,
                );
                let r = match started {
                    Ok(server) => {
                        let target = Target {
                            name: name.clone(),
                            addr: server.addr,
                            pid: Some(server.pid()),
                        };
                        measures::run_all(&target, &plan, ticks)
                    }
                    Err(e) => Results {
                        errors: vec![e],
                        ..Results::default()
                    },
                };
                columns.push((name, r));
            }
        }
    }

    let table = render(&plan, &columns, &ceiling);
    print!("{table}");
    if let Some(out) = env::var_os("BENCH_OUT") {
        std::fs::write(&out, &table).map_err(|e| format!("BENCH_OUT: {e}"))?;
    }
    let errors: usize = columns.iter().map(|(_, r)| r.errors.len()).sum();
    if env::var_os("BENCH_STRICT").is_some() && (errors > 0 || ceiling.is_err()) {
        return Err(format!(
            "BENCH_STRICT: {errors} measure(s) failed (see the notes above)"
        ));
    }
    Ok(())
}

fn f(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "—".into(),
    }
}

/// The markdown table: one row per measure, one column per server, then the ceiling.
fn render(
    plan: &Plan,
    columns: &[(String, Results)],
    ceiling: &std::io::Result<Option<f64>>,
) -> String {
    let big = if plan.big_bytes >= 1 << 30 {
        format!("{} GiB", plan.big_bytes >> 30)
    } else {
        format!("{} MiB", plan.big_bytes >> 20)
    };
    let ceiling_cell = match ceiling {
        Ok(Some(v)) => format!("{v:.0}"),
        Ok(None) => "—".into(),
        Err(e) => format!("error: {e}"),
    };
    let files = |x: Option<measures::Files>, want: usize| match x {
        Some(fl) if fl.done < want => format!("{:.0} ({} done)", fl.files_per_s, fl.done),
        Some(fl) => format!("{:.0}", fl.files_per_s),
        None => "—".into(),
    };
    let mem = |m: Option<procfs::Memory>| m.map(|m| m.figure_kib() as f64);
    type Cell<'a> = Box<dyn Fn(&Results) -> String + 'a>;
    let rows: Vec<(&str, String, Cell, &str)> = vec![
        (
            "big",
            format!("RETR {big}, MB/s (median of {})", plan.big_runs),
            Box::new(|r| f(r.retr_big.map(|b| b.mb_per_s), 0)),
            ceiling_cell.as_str(),
        ),
        (
            "big",
            format!("RETR {big}, server CPU s/GiB"),
            Box::new(|r| f(r.retr_big.and_then(|b| b.cpu_s_per_gib), 2)),
            "",
        ),
        (
            "big",
            format!("STOR {big}, MB/s (median of {})", plan.big_runs),
            Box::new(|r| f(r.stor_big.map(|b| b.mb_per_s), 0)),
            ceiling_cell.as_str(),
        ),
        (
            "big",
            format!("STOR {big}, server CPU s/GiB"),
            Box::new(|r| f(r.stor_big.and_then(|b| b.cpu_s_per_gib), 2)),
            "",
        ),
        (
            "small",
            format!(
                "STOR {} × {} KiB, one session, files/s",
                plan.small_files,
                plan.small_bytes >> 10
            ),
            Box::new(|r| files(r.small_stor, plan.small_files)),
            "",
        ),
        (
            "small",
            format!(
                "RETR {} × {} KiB, one session, files/s",
                plan.small_files,
                plan.small_bytes >> 10
            ),
            Box::new(|r| files(r.small_retr, plan.small_files)),
            "",
        ),
        (
            "crowd",
            format!(
                "{} clients at once (login, LIST, RETR {} KiB): wall s",
                plan.clients,
                plan.client_bytes >> 10
            ),
            Box::new(|r| f(r.crowd.map(|c| c.wall_s), 2)),
            "",
        ),
        (
            "crowd",
            "  per client p50 / p99, ms".into(),
            Box::new(|r| match r.crowd {
                Some(c) => format!("{} / {}", f(Some(c.p50_ms), 0), f(Some(c.p99_ms), 0)),
                None => "—".into(),
            }),
            "",
        ),
        (
            "crowd",
            "  dropped connections".into(),
            Box::new(|r| r.crowd.map_or("—".into(), |c| c.dropped.to_string())),
            "",
        ),
        (
            "memory",
            "memory idle, KiB".into(),
            Box::new(|r| f(mem(r.mem_idle), 0)),
            "",
        ),
        (
            "memory",
            format!(
                "memory with {} idle logged-in sessions, KiB",
                plan.idle_sessions
            ),
            Box::new(|r| {
                let cell = f(mem(r.mem_many), 0);
                if r.mem_many.is_some() && r.sessions_opened < plan.idle_sessions {
                    format!("{cell} ({} sessions)", r.sessions_opened)
                } else {
                    cell
                }
            }),
            "",
        ),
        (
            "memory",
            "  per idle session, KiB".into(),
            Box::new(|r| f(r.per_session_kib(), 1)),
            "",
        ),
        (
            "login",
            "login latency, first, ms".into(),
            Box::new(|r| f(r.login_first_ms, 1)),
            "",
        ),
        (
            "login",
            format!("login latency, median of {}, ms", plan.repeat_logins),
            Box::new(|r| f(r.login_repeat_ms, 1)),
            "",
        ),
    ];

    let mut out = String::new();
    let _ = writeln!(out, "Machine: {}", procfs::machine_description());
    let _ = writeln!(out);
    let _ = write!(out, "| measure |");
    for (name, _) in columns {
        let _ = write!(out, " {name} |");
    }
    let with_ceiling = !matches!(ceiling, Ok(None));
    let _ = writeln!(
        out,
        "{}",
        if with_ceiling {
            " loopback ceiling |"
        } else {
            ""
        }
    );
    let _ = write!(out, "|---|");
    for _ in columns {
        let _ = write!(out, "---:|");
    }
    let _ = writeln!(out, "{}", if with_ceiling { "---:|" } else { "" });
    for (group, label, cell, ceiling) in &rows {
        if !plan.wants(group) {
            continue;
        }
        let _ = write!(out, "| {label} |");
        for (_, r) in columns {
            let _ = write!(out, " {} |", cell(r));
        }
        if with_ceiling {
            let _ = write!(out, " {ceiling} |");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Memory: VmRSS for a single process; for a process tree (forking servers) PSS summed \
         over the tree. Per idle session = (with {n} sessions − with 1 session) / {m}. \
         MB = 10^6 bytes. CPU = utime+stime of the server and its children, from /proc.",
        n = plan.idle_sessions,
        m = plan.idle_sessions.saturating_sub(1)
    );
    for (name, r) in columns {
        if let Some(m) = r.mem_many {
            let _ = writeln!(
                out,
                "- {name}: {} processes with the idle sessions open (RSS sum {} KiB, PSS sum {} KiB)",
                m.processes, m.rss_kib, m.pss_kib
            );
        }
        for e in &r.errors {
            let _ = writeln!(out, "- {name}: error: {e}");
        }
    }
    out
}
