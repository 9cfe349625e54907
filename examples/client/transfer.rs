//! Data transfers: `ls`, `get` and `put`, with resume (REST, RFC 3659 section 5; APPE,
//! RFC 959) and verification against the server's checksum. Files are written straight
//! into their final name, chunk by chunk, so an interrupted transfer leaves a partial file
//! that the next `get`/`put` picks up.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use crate::error::ClientError;
use crate::ftp::Ftp;
use crate::limits::DATA_BUF_SIZE;
use crate::progress::Progress;
use crate::shell::Session;
use crate::verify::{self, HashMethod, Hasher, ServerDigest};

/// `ls [PATH]`: prints the server's LIST output as it comes.
pub fn list(ftp: &mut Ftp, path: Option<&str>) -> Result<(), ClientError> {
    let mut data = ftp.open_data()?;
    let line = match path {
        Some(path) => format!("LIST {path}"),
        None => "LIST".to_string(),
    };
    ftp.start_transfer(&line, "ls")?;
    let mut buf = vec![0u8; DATA_BUF_SIZE];
    let mut out = io::stdout().lock();
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return abandon(ftp, data, "ls", ClientError::Data(e)),
        };
        // Listings use CRLF on the wire; print them with the terminal's line ends.
        let text: Vec<u8> = buf[..n].iter().copied().filter(|&b| b != b'\r').collect();
        out.write_all(&text).map_err(ClientError::local("stdout"))?;
    }
    out.flush().map_err(ClientError::local("stdout"))?;
    drop(data);
    ftp.finish_transfer("ls")
}

/// The outcome of one pass over a file: whether it continued an earlier copy, and the
/// local digest (None when the server cannot be asked, so hashing would be wasted).
struct Pass {
    resumed: bool,
    digest: Option<String>,
}

/// `get REMOTE [LOCAL]`.
pub fn get(
    s: &mut Session,
    remote: &str,
    local: Option<&str>,
    resume: bool,
) -> Result<(), ClientError> {
    let local = local_target(remote, local)?;
    let total = s.ftp.size(remote)?;
    let have = fs::metadata(&local)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    // Only a local file no longer than the remote one can be its beginning.
    let offset = match (resume, total, have) {
        (true, Some(total), Some(have)) if have > 0 && have <= total => have,
        _ => 0,
    };
    let pass = download(s, remote, &local, offset, total)?;
    if check(s, remote, pass.digest, pass.resumed)? {
        let pass = download(s, remote, &local, 0, total)?;
        check(s, remote, pass.digest, false)?;
    }
    Ok(())
}

/// `put LOCAL [REMOTE]`.
pub fn put(
    s: &mut Session,
    local: &str,
    remote: Option<&str>,
    resume: bool,
) -> Result<(), ClientError> {
    let local = PathBuf::from(local);
    let meta = fs::metadata(&local).map_err(ClientError::local(&local))?;
    if !meta.is_file() {
        return Err(ClientError::Usage(format!(
            "{}: not a regular file",
            local.display()
        )));
    }
    let remote = match remote {
        Some(r) => r.to_string(),
        None => local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| ClientError::Usage(format!("{}: no file name", local.display())))?,
    };
    let have = s.ftp.size(&remote)?;
    // Only a remote file no longer than the local one can be its beginning.
    let offset = match (resume, have) {
        (true, Some(have)) if have > 0 && have <= meta.len() => have,
        _ => 0,
    };
    let pass = upload(s, &local, &remote, offset, meta.len())?;
    if check(s, &remote, pass.digest, pass.resumed)? {
        let pass = upload(s, &local, &remote, 0, meta.len())?;
        check(s, &remote, pass.digest, false)?;
    }
    Ok(())
}

/// Where `get` writes: LOCAL, LOCAL/<name> if LOCAL is a directory, or ./<name>.
fn local_target(remote: &str, local: Option<&str>) -> Result<PathBuf, ClientError> {
    let name = remote
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let named = || {
        if name.is_empty() || name == "." || name == ".." {
            Err(ClientError::Usage(format!("{remote}: name the local file")))
        } else {
            Ok(PathBuf::from(name))
        }
    };
    match local {
        Some(local) if Path::new(local).is_dir() => Ok(Path::new(local).join(named()?)),
        Some(local) => Ok(PathBuf::from(local)),
        None => named(),
    }
}

/// Copies the remote file into `local`, continuing at `offset` when it is non-zero.
fn download(
    s: &mut Session,
    remote: &str,
    local: &Path,
    offset: u64,
    total: Option<u64>,
) -> Result<Pass, ClientError> {
    let mut hasher = (s.hash_method != HashMethod::Unsupported).then(|| s.algorithm.hasher());
    let mut buf = vec![0u8; DATA_BUF_SIZE];
    if offset > 0 && Some(offset) == total {
        println!(
            "{}: local copy already has all {offset} bytes, verifying",
            local.display()
        );
        let mut file = File::open(local).map_err(ClientError::local(local))?;
        hash_prefix(&mut file, offset, hasher.as_mut(), &mut buf, local)?;
        return Ok(Pass {
            resumed: true,
            digest: hasher.map(Hasher::finish_hex),
        });
    }
    // The part we already have is hashed before the data connection opens, so a slow
    // card cannot make the server time the connection out.
    let mut resumed_file = None;
    if offset > 0 {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(local)
            .map_err(ClientError::local(local))?;
        hash_prefix(&mut file, offset, hasher.as_mut(), &mut buf, local)?;
        resumed_file = Some(file);
    }
    let what = format!("get {remote}");
    let mut data = s.ftp.open_data()?;
    let mut offset = offset;
    if offset > 0 && !s.ftp.command(&format!("REST {offset}"))?.is_intermediate() {
        println!("the server cannot resume; fetching the whole file");
        offset = 0;
        let algorithm = s.algorithm;
        hasher = hasher.map(|_| algorithm.hasher());
    }
    s.ftp.start_transfer(&format!("RETR {remote}"), &what)?;
    // Only now that the server agreed to send is an existing local file replaced.
    let mut file = match resumed_file {
        Some(file) if offset > 0 => {
            println!("resuming get of {remote} from byte {offset}");
            file
        }
        _ => match File::create(local) {
            Ok(file) => file,
            Err(e) => {
                return abandon(
                    &mut s.ftp,
                    data,
                    &what,
                    ClientError::Local {
                        path: local.into(),
                        source: e,
                    },
                );
            }
        },
    };
    let mut progress = Progress::new(what.clone(), offset, total);
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return abandon(&mut s.ftp, data, &what, ClientError::Data(e)),
        };
        if let Err(e) = file.write_all(&buf[..n]) {
            return abandon(
                &mut s.ftp,
                data,
                &what,
                ClientError::Local {
                    path: local.into(),
                    source: e,
                },
            );
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        progress.advance(n);
    }
    drop(data);
    s.ftp.finish_transfer(&what)?;
    progress.finish();
    Ok(Pass {
        resumed: offset > 0,
        digest: hasher.map(Hasher::finish_hex),
    })
}

/// Copies `local` to the server, continuing after the first `offset` bytes when non-zero.
fn upload(
    s: &mut Session,
    local: &Path,
    remote: &str,
    offset: u64,
    size: u64,
) -> Result<Pass, ClientError> {
    let mut hasher = (s.hash_method != HashMethod::Unsupported).then(|| s.algorithm.hasher());
    let mut buf = vec![0u8; DATA_BUF_SIZE];
    let mut file = File::open(local).map_err(ClientError::local(local))?;
    hash_prefix(&mut file, offset, hasher.as_mut(), &mut buf, local)?;
    if offset > 0 && offset == size {
        println!("{remote}: remote copy already has all {offset} bytes, verifying");
        return Ok(Pass {
            resumed: true,
            digest: hasher.map(Hasher::finish_hex),
        });
    }
    let mut data = s.ftp.open_data()?;
    let what = format!("put {remote}");
    if offset > 0 {
        // REST+STOR keeps the first part; servers without it mostly still know APPE.
        let verb = if s.ftp.command(&format!("REST {offset}"))?.is_intermediate() {
            "STOR"
        } else {
            "APPE"
        };
        println!("resuming put of {remote} from byte {offset}");
        s.ftp.start_transfer(&format!("{verb} {remote}"), &what)?;
    } else {
        s.ftp.start_transfer(&format!("STOR {remote}"), &what)?;
    }
    let mut progress = Progress::new(what.clone(), offset, Some(size));
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return abandon(
                    &mut s.ftp,
                    data,
                    &what,
                    ClientError::Local {
                        path: local.into(),
                        source: e,
                    },
                );
            }
        };
        if let Err(e) = data.write_all(&buf[..n]) {
            return abandon(&mut s.ftp, data, &what, ClientError::Data(e));
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n]);
        }
        progress.advance(n);
    }
    // Closing the data connection is what tells the server the file is complete.
    drop(data);
    s.ftp.finish_transfer(&what)?;
    progress.finish();
    Ok(Pass {
        resumed: offset > 0,
        digest: hasher.map(Hasher::finish_hex),
    })
}

/// Feeds the first `offset` bytes of `file` to the hasher, leaving the cursor at `offset`.
fn hash_prefix(
    file: &mut File,
    offset: u64,
    hasher: Option<&mut Hasher>,
    buf: &mut [u8],
    path: &Path,
) -> Result<(), ClientError> {
    let Some(hasher) = hasher else {
        file.seek(SeekFrom::Start(offset))
            .map_err(ClientError::local(path))?;
        return Ok(());
    };
    let mut left = offset;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file
            .read(&mut buf[..want])
            .map_err(ClientError::local(path))?;
        if n == 0 {
            return Err(ClientError::Local {
                path: path.into(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being read",
                ),
            });
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

/// Gives up a transfer: closes the data connection, then reads the server's closing reply
/// (426/451/552 or 226) so the next command's reply is not mistaken for this one's. When
/// the data connection broke because the server gave up (quota full, disk error), its
/// reply says why far better than "broken pipe" does.
fn abandon<T>(
    ftp: &mut Ftp,
    data: TcpStream,
    what: &str,
    err: ClientError,
) -> Result<T, ClientError> {
    drop(data);
    if err.is_fatal() {
        return Err(err);
    }
    let reply = ftp.read_reply()?;
    if matches!(err, ClientError::Data(_)) && !reply.is_ok() {
        return Err(ClientError::Refused {
            what: what.to_string(),
            reply,
        });
    }
    Err(err)
}

/// Compares the local digest with the server's and prints the verdict. Returns true when
/// a resumed transfer must be redone whole; any other mismatch is an error.
fn check(
    s: &mut Session,
    remote: &str,
    local: Option<String>,
    resumed: bool,
) -> Result<bool, ClientError> {
    let algorithm = s.algorithm;
    let server = verify::server_digest(&mut s.ftp, &mut s.hash_method, algorithm, remote)?;
    let (local, server) = match (local, server) {
        (Some(local), ServerDigest::Hex(server)) => (local, server),
        _ => {
            eprintln!(
                "warning: the server has no {} checksum command (HASH or {}); {remote} was not verified",
                algorithm.label(),
                algorithm.x_command(),
            );
            return Ok(false);
        }
    };
    if local == server {
        println!("verified {} {local}", algorithm.label());
        return Ok(false);
    }
    if resumed {
        println!(
            "{} mismatch after resume (local {local}, server {server}); transferring the whole file again",
            algorithm.label()
        );
        return Ok(true);
    }
    Err(ClientError::HashMismatch {
        algorithm: algorithm.label(),
        path: remote.to_string(),
        local,
        server,
    })
}
