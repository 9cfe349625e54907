//! pocketftpd's example client: a small standard FTP client that speaks only the wire
//! protocol (it imports no server code), so it works against vsftpd, Pure-FTPd or any
//! other server as well.
//!
//! ```text
//! cargo run --release --example client -- [OPTIONS] [ftp://]USER@HOST[:PORT] [COMMAND ARGS...]
//! ```
//!
//! Layout: `main` parses the command line and logs in; `shell` holds the commands and the
//! `ftp> ` loop; `transfer` moves files (resume, verification); `ftp` is the control
//! connection; `verify` the checksums; `progress` the bar. See examples/CLIENT.md.

mod error;
mod ftp;
mod limits;
mod progress;
mod shell;
mod transfer;
mod verify;

use std::io::{self, BufRead, IsTerminal};
use std::process::{Command, ExitCode, Stdio};

use error::ClientError;
use ftp::Ftp;
use shell::{Flow, Session};
use verify::{Algorithm, HashMethod};

const USAGE: &str = "\
usage: client [OPTIONS] [ftp://]USER@HOST[:PORT] [COMMAND ARGS...]

Without COMMAND, reads commands from stdin (an ftp> prompt on a terminal).
The password comes from $FTP_PASSWORD, or is asked for.

options:
  --no-resume        always transfer whole files
  --hash ALG         checksum to verify with: md5 (default), sha1, sha256, sha512
  -v, --verbose      show the FTP dialogue on stderr (the password is masked)
  -h, --help         this text; `client USER@HOST help` lists the commands";

/// What the command line asked for.
struct Args {
    target: Target,
    resume: bool,
    algorithm: Algorithm,
    verbose: bool,
    /// Empty for the interactive shell.
    command: Vec<String>,
}

/// `[ftp://]USER@HOST[:PORT][/DIR]`.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    user: String,
    host: String,
    port: u16,
    /// A directory to change into after login, from the URL's path.
    dir: Option<String>,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e @ ClientError::Usage(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs in, then runs the one command or the shell. Ok(false): the shell saw failures.
fn run(args: Args) -> Result<bool, ClientError> {
    let t = &args.target;
    let password = password(t)?;
    let mut ftp = Ftp::connect(&t.host, t.port, args.verbose)?;
    ftp.login(&t.user, &password)?;
    if let Some(dir) = &t.dir {
        ftp.expect_ok(&format!("CWD {dir}"), &format!("cd {dir}"))?;
    }
    let mut session = Session {
        ftp,
        resume: args.resume,
        algorithm: args.algorithm,
        hash_method: HashMethod::Unknown,
    };
    let outcome = if args.command.is_empty() {
        shell::interactive(&mut session)
    } else {
        shell::run(&mut session, &args.command).map(|_: Flow| true)
    };
    if !matches!(&outcome, Err(e) if e.is_fatal()) {
        session.ftp.quit();
    }
    outcome
}

/// Ok(None) means `--help`.
fn parse_args() -> Result<Option<Args>, ClientError> {
    let mut raw = Vec::new();
    for arg in std::env::args_os().skip(1) {
        let arg = arg
            .into_string()
            .map_err(|a| ClientError::Usage(format!("argument {a:?} is not valid UTF-8")))?;
        raw.push(arg);
    }
    let mut resume = true;
    let mut algorithm = Algorithm::Md5;
    let mut verbose = false;
    let mut target = None;
    let mut words = raw.into_iter();
    // Options may come before or after the target; the first other word after the target
    // starts the command, and everything from there on belongs to it.
    let mut command = Vec::new();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-h" | "--help" => return Ok(None),
            "--no-resume" => resume = false,
            "-v" | "--verbose" => verbose = true,
            "--hash" => {
                let name = words
                    .next()
                    .ok_or_else(|| ClientError::Usage("--hash needs a value".into()))?;
                algorithm = Algorithm::parse(&name)
                    .ok_or_else(|| ClientError::Usage(format!("unknown hash {name:?}")))?;
            }
            w if w.starts_with("--hash=") => {
                let name = &w["--hash=".len()..];
                algorithm = Algorithm::parse(name)
                    .ok_or_else(|| ClientError::Usage(format!("unknown hash {name:?}")))?;
            }
            w if w.starts_with('-') && target.is_none() => {
                return Err(ClientError::Usage(format!("unknown option {w}")));
            }
            _ if target.is_none() => target = Some(parse_target(&word)?),
            _ => {
                command.push(word);
                command.extend(words.by_ref());
            }
        }
    }
    let target = target.ok_or_else(|| ClientError::Usage("missing USER@HOST".into()))?;
    Ok(Some(Args {
        target,
        resume,
        algorithm,
        verbose,
        command,
    }))
}

/// Parses `[ftp://][USER@]HOST[:PORT][/DIR]`; `[::1]:2121` style for IPv6 with a port.
fn parse_target(text: &str) -> Result<Target, ClientError> {
    let bad = |why: &str| ClientError::Usage(format!("{text:?}: {why}"));
    let rest = match text.get(..6) {
        Some(scheme) if scheme.eq_ignore_ascii_case("ftp://") => &text[6..],
        _ => text,
    };
    // The last '@' ends the user name: user names may be e-mail addresses.
    let (user, rest) = match rest.rsplit_once('@') {
        Some((user, rest)) if !user.is_empty() => (user.to_string(), rest),
        Some(_) => return Err(bad("empty user name")),
        None => ("anonymous".to_string(), rest),
    };
    let (hostport, dir) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let dir = dir.filter(|d| *d != "/").map(|d| d[1..].to_string());
    let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
        let end = after.find(']').ok_or_else(|| bad("missing ]"))?;
        let port = after[end + 1..].strip_prefix(':');
        (&after[..end], port)
    } else if hostport.matches(':').count() == 1 {
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, ""));
        (host, Some(port))
    } else {
        // No colon, or a bare IPv6 address without a port.
        (hostport, None)
    };
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| bad("port must be a number from 1 to 65535"))?,
        None => 21,
    };
    if port == 0 {
        return Err(bad("port must be a number from 1 to 65535"));
    }
    Ok(Target {
        user,
        host: host.to_string(),
        port,
        dir,
    })
}

/// $FTP_PASSWORD, else asked on the terminal without echo, else one line of stdin.
fn password(t: &Target) -> Result<String, ClientError> {
    if let Ok(password) = std::env::var("FTP_PASSWORD") {
        return Ok(password);
    }
    if t.user == "anonymous" || t.user == "ftp" {
        return Ok("anonymous@".to_string());
    }
    let stdin = io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("Password for {}@{}: ", t.user, t.host);
        let echo_off = EchoOff::new().map_err(ClientError::Password)?;
        let read = stdin.lock().read_line(&mut line);
        drop(echo_off);
        eprintln!();
        read.map_err(ClientError::Password)?;
    } else if stdin
        .lock()
        .read_line(&mut line)
        .map_err(ClientError::Password)?
        == 0
    {
        return Err(ClientError::Usage(
            "no password: set FTP_PASSWORD or give it on stdin".into(),
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Terminal echo switched off with `stty`; dropping it switches echo back on, so an error
/// while reading cannot leave the user's terminal silent. (A Ctrl-C at the prompt still
/// can: the client installs no signal handler.)
struct EchoOff;

impl EchoOff {
    fn new() -> io::Result<EchoOff> {
        stty("-echo")?;
        Ok(EchoOff)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = stty("echo");
    }
}

/// Runs `stty` on our own terminal: it acts on its stdin, so that must be inherited.
fn stty(setting: &str) -> io::Result<()> {
    let status = Command::new("stty")
        .arg(setting)
        .stdin(Stdio::inherit())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("stty {setting} failed")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(user: &str, host: &str, port: u16, dir: Option<&str>) -> Target {
        Target {
            user: user.into(),
            host: host.into(),
            port,
            dir: dir.map(Into::into),
        }
    }

    #[test]
    fn targets_parse_in_all_accepted_forms() {
        let cases = [
            ("u@h", target("u", "h", 21, None)),
            ("ftp://u@h:2121", target("u", "h", 2121, None)),
            ("FTP://u@h:2121/", target("u", "h", 2121, None)),
            (
                "u@127.0.0.1:2199/pub/x",
                target("u", "127.0.0.1", 2199, Some("pub/x")),
            ),
            ("me@mail.org@h", target("me@mail.org", "h", 21, None)),
            ("u@[::1]:2121", target("u", "::1", 2121, None)),
            ("u@::1", target("u", "::1", 21, None)),
            ("h", target("anonymous", "h", 21, None)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_target(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn bad_targets_are_usage_errors() {
        for text in ["@h", "u@", "u@h:x", "u@h:0", "u@h:70000", "u@[::1"] {
            assert!(parse_target(text).is_err(), "{text}");
        }
    }
}
