//! The user-facing commands (`ls`, `get`, `mkdir`...) and the interactive `ftp> ` loop.
//! One command is a list of words; the shell splits a typed line into words with
//! shell-like quoting so that names with spaces work.

use std::io::{self, BufRead, IsTerminal, Write};

use crate::error::ClientError;
use crate::ftp::{Ftp, Reply};
use crate::transfer;
use crate::verify::{self, Algorithm, HashMethod, ServerDigest};

/// A logged-in connection plus the choices that apply to every command.
pub struct Session {
    /// The control connection, logged in and in binary mode.
    pub ftp: Ftp,
    /// False with `--no-resume`: every transfer starts from byte 0.
    pub resume: bool,
    /// The checksum chosen with `--hash`.
    pub algorithm: Algorithm,
    /// How the server answers checksum questions, learnt on first use.
    pub hash_method: HashMethod,
}

/// Whether the shell keeps reading commands.
pub enum Flow {
    Continue,
    Quit,
}

/// The `help` text.
pub const HELP: &str = "\
commands:
  ls [PATH]              list a remote directory
  cd PATH                change the remote directory
  pwd                    print the remote directory
  get REMOTE [LOCAL]     download (resumes a shorter local file; --no-resume to refetch)
  put LOCAL [REMOTE]     upload (resumes a shorter remote file; --no-resume to resend)
  mkdir PATH             create a remote directory
  rmdir PATH             remove an empty remote directory
  rm PATH                delete a remote file
  mv FROM TO             rename a remote file or directory
  quota                  show the account's quota (SITE QUOTA, or AVBL)
  hash PATH              print the server's checksum of a remote file
  lcd PATH               change the local directory
  lpwd                   print the local directory
  help                   this list
  quit                   log out (end of input does the same)
Quote names with spaces: get \"my file.txt\"";

/// Runs one command given as words (`["get", "a.txt"]`).
pub fn run(s: &mut Session, words: &[String]) -> Result<Flow, ClientError> {
    let Some((name, args)) = words.split_first() else {
        return Ok(Flow::Continue);
    };
    // `--no-resume` may also be given to a single get/put.
    let resume = s.resume && !args.iter().any(|a| a == "--no-resume");
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--no-resume")
        .collect();
    let usage = |text: &str| ClientError::Usage(format!("usage: {text}"));
    match (name.as_str(), args.as_slice()) {
        ("ls" | "dir", []) => transfer::list(&mut s.ftp, None)?,
        ("ls" | "dir", [path]) => transfer::list(&mut s.ftp, Some(path))?,
        ("ls" | "dir", _) => return Err(usage("ls [PATH]")),
        ("cd", [path]) => {
            s.ftp
                .expect_ok(&format!("CWD {path}"), &format!("cd {path}"))?;
        }
        ("cd", _) => return Err(usage("cd PATH")),
        ("pwd", []) => {
            let reply = s.ftp.expect_ok("PWD", "pwd")?;
            println!("{}", quoted_path(&reply).unwrap_or_else(|| reply.text()));
        }
        ("get", [remote]) => transfer::get(s, remote, None, resume)?,
        ("get", [remote, local]) => transfer::get(s, remote, Some(local), resume)?,
        ("get", _) => return Err(usage("get REMOTE [LOCAL]")),
        ("put", [local]) => transfer::put(s, local, None, resume)?,
        ("put", [local, remote]) => transfer::put(s, local, Some(remote), resume)?,
        ("put", _) => return Err(usage("put LOCAL [REMOTE]")),
        ("mkdir", [path]) => {
            s.ftp
                .expect_ok(&format!("MKD {path}"), &format!("mkdir {path}"))?;
        }
        ("mkdir", _) => return Err(usage("mkdir PATH")),
        ("rmdir", [path]) => {
            s.ftp
                .expect_ok(&format!("RMD {path}"), &format!("rmdir {path}"))?;
        }
        ("rmdir", _) => return Err(usage("rmdir PATH")),
        ("rm" | "delete", [path]) => {
            s.ftp
                .expect_ok(&format!("DELE {path}"), &format!("rm {path}"))?;
        }
        ("rm" | "delete", _) => return Err(usage("rm PATH")),
        ("mv" | "rename", [from, to]) => rename(&mut s.ftp, from, to)?,
        ("mv" | "rename", _) => return Err(usage("mv FROM TO")),
        ("quota", []) => quota(&mut s.ftp)?,
        ("quota", _) => return Err(usage("quota")),
        ("hash", [path]) => {
            let algorithm = s.algorithm;
            match verify::server_digest(&mut s.ftp, &mut s.hash_method, algorithm, path)? {
                ServerDigest::Hex(hex) => println!("{hex}  {path}"),
                ServerDigest::Unsupported => {
                    return Err(ClientError::Unsupported(format!(
                        "hash: the server has no {} checksum command (HASH or {})",
                        algorithm.label(),
                        algorithm.x_command()
                    )));
                }
            }
        }
        ("hash", _) => return Err(usage("hash PATH")),
        ("lcd", [path]) => std::env::set_current_dir(path).map_err(ClientError::local(path))?,
        ("lcd", _) => return Err(usage("lcd PATH")),
        ("lpwd", []) => {
            let dir = std::env::current_dir().map_err(ClientError::local("."))?;
            println!("{}", dir.display());
        }
        ("help" | "?", _) => println!("{HELP}"),
        ("quit" | "exit" | "bye", _) => return Ok(Flow::Quit),
        (other, _) => {
            return Err(ClientError::Usage(format!(
                "unknown command {other:?}; try help"
            )));
        }
    }
    Ok(Flow::Continue)
}

/// `mv`: RNFR must be answered with 350 before RNTO is sent (RFC 959 section 4.1.3).
fn rename(ftp: &mut Ftp, from: &str, to: &str) -> Result<(), ClientError> {
    let what = format!("mv {from} {to}");
    let reply = ftp.command(&format!("RNFR {from}"))?;
    if !reply.is_intermediate() {
        return Err(ClientError::Refused { what, reply });
    }
    ftp.expect_ok(&format!("RNTO {to}"), &what)?;
    Ok(())
}

/// `quota`: SITE QUOTA's text, else AVBL's free bytes (draft-peterson-streamlined-ftp-command-extensions).
fn quota(ftp: &mut Ftp) -> Result<(), ClientError> {
    let reply = ftp.command("SITE QUOTA")?;
    if reply.is_ok() {
        for line in &reply.lines {
            println!("{}", line.trim_end());
        }
        return Ok(());
    }
    let avbl = ftp.command("AVBL")?;
    if avbl.is_ok() {
        match avbl
            .lines
            .first()
            .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        {
            Some(free) => println!(
                "free: {free} bytes ({})",
                crate::progress::human(free as f64)
            ),
            None => println!("{}", avbl.text()),
        }
        return Ok(());
    }
    Err(ClientError::Refused {
        what: "quota: the server supports neither SITE QUOTA nor AVBL".into(),
        reply: avbl,
    })
}

/// The directory from `257 "/a ""quoted"" dir" is current` (RFC 959 appendix II).
fn quoted_path(reply: &Reply) -> Option<String> {
    let line = reply.lines.first()?;
    let mut chars = line[line.find('"')? + 1..].chars().peekable();
    let mut path = String::new();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
            } else {
                return Some(path);
            }
        }
        path.push(c);
    }
    None
}

/// The `ftp> ` loop: one command per line until `quit` or end of input. Errors are printed
/// and the loop goes on, unless the connection is gone. Returns false if any command failed,
/// so a piped script can be checked by exit status.
pub fn interactive(s: &mut Session) -> Result<bool, ClientError> {
    let stdin = io::stdin();
    // The prompt is for people; a piped script gets clean output.
    let prompt = stdin.is_terminal();
    let mut all_ok = true;
    loop {
        if prompt {
            print!("ftp> ");
            let _ = io::stdout().flush();
        }
        let mut raw = Vec::new();
        match stdin.lock().read_until(b'\n', &mut raw) {
            Ok(0) => {
                if prompt {
                    println!();
                }
                break;
            }
            Ok(_) => {}
            Err(e) => {
                return Err(ClientError::Local {
                    path: "stdin".into(),
                    source: e,
                });
            }
        }
        let line = String::from_utf8_lossy(&raw);
        let words = match split_words(&line) {
            Ok(words) => words,
            Err(msg) => {
                eprintln!("error: {msg}");
                all_ok = false;
                continue;
            }
        };
        if words.first().is_some_and(|w| w.starts_with('#')) {
            continue;
        }
        match run(s, &words) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Quit) => break,
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                eprintln!("error: {e}");
                all_ok = false;
            }
        }
    }
    Ok(all_ok)
}

/// Splits a shell line into words: whitespace separates, '...' and "..." group, and a
/// backslash outside single quotes takes the next character literally.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => w.push(c),
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("backslash at end of line".into()),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_whitespace_and_honour_quotes() {
        let cases: &[(&str, &[&str])] = &[
            ("get a.txt\n", &["get", "a.txt"]),
            ("  ls  ", &["ls"]),
            ("put \"my file.txt\" 'b c'", &["put", "my file.txt", "b c"]),
            ("mv a\\ b c", &["mv", "a b", "c"]),
            ("get \"x\\\"y\"", &["get", "x\"y"]),
            ("cd ''", &["cd", ""]),
            ("get grüße.txt", &["get", "grüße.txt"]),
        ];
        for (line, want) in cases {
            assert_eq!(split_words(line).unwrap(), *want, "line {line:?}");
        }
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(split_words("get \"a").is_err());
        assert!(split_words("get 'a").is_err());
        assert!(split_words("get a\\").is_err());
    }

    #[test]
    fn quoted_path_undoubles_quotes() {
        let r = Reply {
            code: 257,
            lines: vec!["\"/a \"\"b\"\" c\" is current".into()],
        };
        assert_eq!(quoted_path(&r).as_deref(), Some("/a \"b\" c"));
    }
}
