//! The `pocketftpd` command: parse arguments, load config, start logging,
//! then serve or run a `user` subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use pocketftpd::admin::{self, AddOptions, PasswordSource};
use pocketftpd::config::Settings;
use pocketftpd::server::Server;

const USAGE: &str = "\
pocketftpd - a small, secure FTP server

Usage:
  pocketftpd [--config PATH]       serve (default ./settings.ini)
  pocketftpd user add NAME [--quota SIZE] [--home DIR] [--read-only] [--password-stdin] [--config PATH]
  pocketftpd user passwd NAME [--password-stdin] [--config PATH]
  pocketftpd user del NAME [--config PATH]
  pocketftpd user list [--config PATH]
  pocketftpd --help | --version

Logging: RUST_LOG=error|warn|info|debug|trace (default info).";

/// The parsed command line.
#[derive(Default)]
struct Args {
    config: Option<PathBuf>,
    words: Vec<String>,
    quota: Option<String>,
    home: Option<String>,
    read_only: bool,
    password_stdin: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        let mut value = |name: &str| raw.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--config" | "-c" => args.config = Some(PathBuf::from(value("--config")?)),
            "--quota" => args.quota = Some(value("--quota")?),
            "--home" => args.home = Some(value("--home")?),
            "--read-only" => args.read_only = true,
            "--password-stdin" => args.password_stdin = true,
            "--help" | "-h" => args.words = vec!["help".into()],
            "--version" | "-V" => args.words = vec!["version".into()],
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            word => args.words.push(word.to_string()),
        }
    }
    Ok(args)
}

/// Makes glibc return freed large blocks to the OS at once.
///
/// Each login's argon2id check allocates `argon2_memory_kib` (12 MiB by
/// default) on the worker's thread. glibc raises its mmap threshold after the
/// first such block is freed, so later ones come from per-thread arenas and
/// stay resident: measured on x86_64, 3 logins on 3 workers left the server at
/// 40 MB RSS; with a fixed 128 KiB threshold it stays at 4 MB. (musl, used by
/// the static builds, always unmaps large blocks.) This is the one unsafe call
/// in pocketftpd; the library crate forbids unsafe code.
#[cfg(target_env = "gnu")]
fn return_large_blocks_to_the_os() {
    // SAFETY: mallopt takes two integers, touches only allocator settings,
    // and runs before any other thread exists.
    #[allow(unsafe_code)]
    let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
}

#[cfg(not(target_env = "gnu"))]
fn return_large_blocks_to_the_os() {}

fn main() -> ExitCode {
    return_large_blocks_to_the_os();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("pocketftpd: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let words: Vec<&str> = args.words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        ["version"] => {
            println!("pocketftpd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let config = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("settings.ini"));
    let settings = match Settings::load(&config) {
        Ok(settings) => settings,
        Err(problem) => {
            eprintln!("pocketftpd: {problem}");
            return ExitCode::FAILURE;
        }
    };
    let source = if args.password_stdin {
        PasswordSource::Stdin
    } else {
        PasswordSource::Terminal
    };
    let result = match words.as_slice() {
        [] => return serve(settings),
        ["user", "add", name] => admin::add(
            &settings,
            name,
            &AddOptions {
                quota: args.quota.clone(),
                home: args.home.clone(),
                read_only: args.read_only,
            },
            source,
        ),
        ["user", "passwd", name] => admin::passwd(&settings, name, source),
        ["user", "del", name] => admin::del(&settings, name),
        ["user", "list"] => admin::list(&settings),
        _ => {
            eprintln!(
                "pocketftpd: unknown command {:?}\n\n{USAGE}",
                args.words.join(" ")
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(message) => {
            println!("{}", message.trim_end());
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("pocketftpd: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// Binds, installs SIGTERM/SIGINT handling, and serves until stopped.
fn serve(settings: Settings) -> ExitCode {
    let server = match Server::bind(settings) {
        Ok(server) => server,
        Err(problem) => {
            eprintln!("pocketftpd: {problem}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(problem) = watch_signals(server.shutdown_handle()) {
        eprintln!("pocketftpd: cannot install signal handlers: {problem}");
        return ExitCode::FAILURE;
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("pocketftpd: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM and SIGINT write a byte to a socket pair (signal-hook's
/// self-pipe); one thread waits on it and begins a graceful shutdown.
fn watch_signals(handle: pocketftpd::server::ShutdownHandle) -> std::io::Result<()> {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    let (mut reader, writer) = UnixStream::pair()?;
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::low_level::pipe::register(signal, writer.try_clone()?)?;
    }
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            if reader.read(&mut byte).is_ok() {
                log::info!("signal received: stopping");
                handle.shutdown();
            }
        })?;
    Ok(())
}
