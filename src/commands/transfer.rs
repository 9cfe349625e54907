//! Data connections and transfers: PASV, EPSV, PORT, EPRT (RFC 959 section
//! 4.1.2, RFC 2428), RETR, STOR, APPE, STOU, REST (RFC 3659 section 5),
//! ABOR, and the data side of LIST/NLST/MLSD.
//!
//! A transfer runs inline on the worker: open the data connection, send 150,
//! copy, return the final reply. Uploads go through a `QuotaWriter`, and
//! their failure handling follows one rule: a quota or disk-full stop undoes
//! the upload (a new file is removed, an appended or resumed file returns to
//! its old length, an overwritten file keeps its old content), while a broken
//! connection or ABOR keeps what arrived, so REST+STOR or APPE can resume it.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use log::{info, warn};

use super::listing::{Format, Listing};
use super::{CommandError, require_writable, resolve};
use crate::limits::STOU_TRIES;
use crate::protocol::command::EpsvArg;
use crate::protocol::reply::Reply;
use crate::server::ServerContext;
use crate::session::state::User;
use crate::session::{Control, TransferState};
use crate::transfer::copy::{self, ReceiveError};
use crate::transfer::data_conn::{self, check_active};
use crate::transfer::{DataSetup, TransferError};
use crate::vfs::{QuotaError, QuotaWriter, UserQuota, VfsError, VirtualPath};

/// PASV: listen on a passive port and tell the client where (IPv4 only).
///
/// Replies: 227; 425 no free port; 522 on an IPv6 control connection
/// (use EPSV); 503 after EPSV ALL.
pub fn pasv(
    ctx: &ServerContext,
    control: &Control,
    transfer: &mut TransferState,
) -> Result<Reply, CommandError> {
    if transfer.epsv_all {
        return Ok(Reply::bad_sequence("EPSV ALL in effect."));
    }
    let IpAddr::V4(local) = control.local.ip().to_canonical() else {
        return Ok(Reply::protocol_not_supported());
    };
    let listener = ctx.passive_ports.bind(control.local.ip())?;
    let port = listener
        .local_addr()
        .map_err(TransferError::PassivePortsExhausted)?
        .port();
    transfer.data = DataSetup::Passive(listener);
    Ok(Reply::passive(
        ctx.settings.passive_address.unwrap_or(local),
        port,
    ))
}

/// EPSV: like PASV, but only the port is sent, for IPv4 and IPv6.
///
/// Replies: 229; 200 for EPSV ALL; 522 for the other protocol; 425 no port.
pub fn epsv(
    ctx: &ServerContext,
    control: &Control,
    transfer: &mut TransferState,
    arg: EpsvArg,
) -> Result<Reply, CommandError> {
    let local = control.local.ip();
    match arg {
        EpsvArg::All => {
            transfer.epsv_all = true;
            return Ok(Reply::epsv_all_ok());
        }
        EpsvArg::Protocol(1) if local.to_canonical().is_ipv4() => {}
        EpsvArg::Protocol(2) if !local.to_canonical().is_ipv4() => {}
        EpsvArg::Protocol(_) => return Ok(Reply::protocol_not_supported()),
        EpsvArg::Any => {}
    }
    let listener = ctx.passive_ports.bind(local)?;
    let port = listener
        .local_addr()
        .map_err(TransferError::PassivePortsExhausted)?
        .port();
    transfer.data = DataSetup::Passive(listener);
    Ok(Reply::extended_passive(port))
}

/// PORT and EPRT: connect to the client for the next transfer.
///
/// Replies: 200; 500 for an address other than the client's (no FTP
/// bounce), a port under 1024, or active mode switched off; 503 after
/// EPSV ALL.
pub fn port(
    ctx: &ServerContext,
    control: &Control,
    transfer: &mut TransferState,
    target: SocketAddr,
) -> Result<Reply, CommandError> {
    if transfer.epsv_all {
        return Ok(Reply::bad_sequence("EPSV ALL in effect."));
    }
    let target = check_active(target, control.peer.ip(), ctx.settings.allow_active)?;
    transfer.data = DataSetup::Active(target);
    Ok(Reply::port_ok())
}

/// ABOR with no transfer running (a running one is aborted inside its copy
/// loop, which answers 426 then 226).
///
/// Replies: 225, or 226 when a prepared data connection was dropped.
pub fn abor(transfer: &mut TransferState) -> Reply {
    match std::mem::take(&mut transfer.data) {
        DataSetup::None => Reply::nothing_to_abort(),
        _ => Reply::abort_ok(),
    }
}

/// Opens the data connection set up by PASV/PORT, watching for ABOR.
fn open_data(
    ctx: &ServerContext,
    control: &mut Control,
    transfer: &mut TransferState,
) -> Result<std::net::TcpStream, TransferError> {
    let setup = std::mem::take(&mut transfer.data);
    data_conn::open(
        setup,
        control.peer.ip(),
        ctx.settings.data_timeout,
        &mut || control.poll_abort(),
    )
}

/// The final reply of a transfer that was aborted: RFC 959 wants 426 for
/// the transfer, then 226 for the ABOR itself.
fn aborted_reply(control: &mut Control) -> Reply {
    control.send_preliminary(&Reply::from(&CommandError::Transfer(
        TransferError::Aborted,
    )));
    Reply::abort_ok()
}

/// LIST, NLST, MLSD: send a listing over the data connection.
///
/// Replies: 150 then 226; 550 bad path (before any 150); 425, 426.
pub fn listing(
    ctx: &ServerContext,
    user: &User,
    control: &mut Control,
    transfer: &mut TransferState,
    format: Format,
    text: Option<&str>,
) -> Result<Reply, CommandError> {
    let listing = Listing::prepare(user, format, text)?;
    let mut data = open_data(ctx, control, transfer)?;
    control.send_preliminary(&Reply::opening_listing());
    let mut out = std::io::BufWriter::with_capacity(16 * 1024, &mut data);
    listing
        .write_to(user, &mut out)
        .and_then(|()| std::io::Write::flush(&mut out))
        .map_err(TransferError::from_network)?;
    Ok(Reply::listing_ok())
}

/// RETR: send a file, from the REST offset if one was given.
///
/// Replies: 150 then 226; 550 missing or not a regular file; 554 offset past
/// the end; 425 no data connection; 426 broken or aborted (then 226).
pub fn retr(
    ctx: &ServerContext,
    user: &User,
    control: &mut Control,
    transfer: &mut TransferState,
    text: &str,
    rest: Option<u64>,
) -> Result<Reply, CommandError> {
    let path = resolve(user, text)?;
    let (mut file, meta, _) = user.jail.open_read(&path)?;
    let offset = rest.unwrap_or(0);
    if offset > meta.len() {
        return Err(CommandError::RestartBeyondEnd);
    }
    let mut data = open_data(ctx, control, transfer)?;
    control.send_preliminary(&Reply::opening_download(
        path.file_name().unwrap_or("/"),
        meta.len() - offset,
    ));
    let started = Instant::now();
    let result = copy::send_file(
        &mut file,
        offset,
        &mut data,
        ctx.settings.data_timeout,
        &mut || control.poll_abort(),
    );
    let (bytes, outcome) = match &result {
        Ok(bytes) => (*bytes, "complete".to_string()),
        Err(error) => (0, format!("failed: {error}")),
    };
    info!(
        "{}: user {} RETR {} from {offset}: {bytes} bytes in {:.3} s, {outcome}",
        control.peer,
        user.account.name,
        path.as_str(),
        started.elapsed().as_secs_f64()
    );
    match result {
        Ok(_) => Ok(Reply::transfer_ok()),
        Err(TransferError::Aborted) => Ok(aborted_reply(control)),
        Err(error) => Err(error.into()),
    }
}

/// Which upload command.
pub enum Upload {
    /// STOR, with the REST offset if one was given.
    Store(String, Option<u64>),
    /// APPE.
    Append(String),
    /// STOU, with an optional name to start from.
    Unique(Option<String>),
}

/// Counter that makes temporary upload names unique within the process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How an upload lands on disk, and how to undo it.
struct Target {
    /// What the user sees.
    path: VirtualPath,
    /// The file being written.
    file: File,
    /// Where it is written (the final path, or a temporary one).
    writing: PathBuf,
    /// The real final path.
    real: PathBuf,
    /// Where writing starts.
    position: u64,
    /// Bytes of the file already counted in the quota.
    accounted: u64,
    /// What undoing means.
    undo: Undo,
}

enum Undo {
    /// A new file: remove it.
    Remove,
    /// An existing file written from an offset or appended: cut it back.
    Truncate(u64),
    /// An overwrite into a temporary file: remove the temporary file; the
    /// old file was never touched. On success it is renamed over the old one.
    Temporary { old_len: u64 },
}

/// STOR, APPE, STOU: receive a file.
///
/// Replies: 150 then 226; 552 over quota (upload undone), or at once when
/// the home is already over its quota; 452 disk full (undone); 426 broken
/// connection (data kept for resuming) or aborted (426 then 226); 450
/// already being uploaded by another session; 550 read-only account, a
/// folder, or a bad path; 554 REST past the end; 425.
pub fn stor(
    ctx: &ServerContext,
    user: &User,
    control: &mut Control,
    transfer: &mut TransferState,
    upload: Upload,
) -> Result<Reply, CommandError> {
    require_writable(user)?;
    let ledger = user.quota.ledger();
    // A home already over its quota (lowered by the admin, or filled from
    // outside) takes no upload at all, not even one that adds no bytes
    // (an empty file, a same-size overwrite), and nothing is created.
    ledger.check_fits(0)?;
    let unique = matches!(upload, Upload::Unique(_));
    let target = open_target(user, upload)?;
    // SECURITY: one writer per file per user; a second session writing the
    // same file at once would make the quota arithmetic (and the file) wrong.
    if !ledger.begin_write(&target.real) {
        // Take back only what this command created. An in-place target
        // (APPE, REST) is the file the other session is writing: cutting it
        // to the length seen a moment ago would destroy that session's data.
        if !matches!(target.undo, Undo::Truncate(_)) {
            discard(&target);
        }
        return Err(VfsError::Busy.into());
    }
    // SECURITY: an overwrite's temporary file is busy too. Moved away or
    // deleted by another session mid-upload, its bytes (the first ones of
    // which are paid for by the old file) would leave the ledger's count.
    // Its name is unique, so only a client naming it can collide with it.
    if target.writing != target.real && !ledger.begin_write(&target.writing) {
        ledger.end_write(&target.real);
        discard(&target);
        return Err(VfsError::Busy.into());
    }
    receive_into(ctx, user, control, transfer, target, unique)
}

/// Everything after `begin_write`, so `end_write` runs on every path (for
/// the final path and the temporary one).
fn receive_into(
    ctx: &ServerContext,
    user: &User,
    control: &mut Control,
    transfer: &mut TransferState,
    target: Target,
    unique: bool,
) -> Result<Reply, CommandError> {
    let ledger = user.quota.ledger();
    let real = target.real.clone();
    let writing = target.writing.clone();
    let outcome = (|| {
        let mut data = match open_data(ctx, control, transfer) {
            Ok(data) => data,
            Err(error) => {
                discard(&target);
                return Err(CommandError::from(error));
            }
        };
        let name = target.path.file_name().unwrap_or("/").to_string();
        control.send_preliminary(&if unique {
            Reply::opening_unique(&name)
        } else {
            Reply::opening_upload(&name)
        });
        let started = Instant::now();
        let mut writer = QuotaWriter::new(
            &target.file,
            std::sync::Arc::clone(ledger),
            target.position,
            target.accounted,
        );
        let result = copy::receive(
            &mut data,
            &mut writer,
            ctx.settings.data_timeout,
            &mut || control.poll_abort(),
        );
        let log_line = |bytes: &str, how: &str| {
            info!(
                "{}: user {} STOR {} at {}: {bytes} bytes in {:.3} s, {how}",
                control.peer,
                user.account.name,
                target.path.as_str(),
                target.position,
                started.elapsed().as_secs_f64()
            )
        };
        match result {
            Ok(bytes) => {
                finish(&target, ledger)?;
                log_line(&bytes.to_string(), "complete");
                Ok(if unique {
                    Reply::unique_stored(&name)
                } else {
                    Reply::transfer_ok()
                })
            }
            Err(ReceiveError::Write(error)) => {
                // Quota or disk: undo everything this upload did.
                let quota = writer.quota_error();
                writer.undo();
                discard(&target);
                log_line("?", &format!("undone: {error}"));
                match quota {
                    // Report what the user holds now that this upload is
                    // taken back, not the figure that still counted it.
                    Some(QuotaError::Exceeded { limit, .. }) => Err(QuotaError::Exceeded {
                        used: ledger.usage().0,
                        limit,
                    }
                    .into()),
                    None => Err(TransferError::from_disk(error).into()),
                }
            }
            Err(ReceiveError::Network(error)) => {
                // Keep what arrived so the client can resume.
                finish(&target, ledger)?;
                log_line("partial", &format!("kept for resume: {error}"));
                match error {
                    TransferError::Aborted => Ok(aborted_reply(control)),
                    other => Err(other.into()),
                }
            }
        }
    })();
    ledger.end_write(&real);
    if writing != real {
        ledger.end_write(&writing);
    }
    outcome
}

/// Resolves the upload target and opens it as the command asks.
fn open_target(user: &User, upload: Upload) -> Result<Target, CommandError> {
    let (text, offset) = match upload {
        Upload::Unique(text) => return open_unique(user, text.as_deref()),
        Upload::Store(text, offset) => (text, Some(offset.unwrap_or(0))),
        Upload::Append(text) => (text, None),
    };
    let path = resolve(user, &text)?;
    let real = user.jail.for_create(&path)?;
    let old_len = match fs::symlink_metadata(&real) {
        Ok(meta) if meta.is_dir() => return Err(VfsError::IsADirectory.into()),
        Ok(meta) if !meta.is_file() => return Err(VfsError::NotARegularFile.into()),
        Ok(meta) => Some(meta.len()),
        Err(_) => None,
    };
    match (offset, old_len) {
        // A new file (STOR, or APPE to a missing file).
        (Some(0) | None, None) => Ok(fresh(user, path, real)?),
        (Some(_), None) => Err(CommandError::RestartBeyondEnd),
        // STOR over a file: write beside it, rename over it when done.
        (Some(0), Some(old_len)) => {
            let temp = temporary_name(&real);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            let file = user.jail.open_write(&temp, &mut options, &path)?;
            Ok(Target {
                path,
                file,
                writing: temp,
                real,
                position: 0,
                accounted: old_len,
                undo: Undo::Temporary { old_len },
            })
        }
        // REST+STOR resumes at the offset; APPE writes at the end. In place.
        (offset, Some(old_len)) => {
            let position = offset.unwrap_or(old_len);
            if position > old_len {
                return Err(CommandError::RestartBeyondEnd);
            }
            let mut options = OpenOptions::new();
            options.write(true);
            let mut file = user.jail.open_write(&real, &mut options, &path)?;
            file.seek(SeekFrom::Start(position)).map_err(VfsError::Io)?;
            Ok(Target {
                path,
                file,
                writing: real.clone(),
                real,
                position,
                accounted: old_len,
                undo: Undo::Truncate(old_len),
            })
        }
    }
}

/// Creates a new file; `Ok` only if nothing was there.
fn fresh(user: &User, path: VirtualPath, real: PathBuf) -> Result<Target, VfsError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let file = user.jail.open_write(&real, &mut options, &path)?;
    Ok(Target {
        path,
        file,
        writing: real.clone(),
        real,
        position: 0,
        accounted: 0,
        undo: Undo::Remove,
    })
}

/// STOU: a new file named after the argument (or `stou`), with `.1`, `.2`...
/// added until the name is free.
fn open_unique(user: &User, text: Option<&str>) -> Result<Target, CommandError> {
    let base = resolve(user, text.unwrap_or("stou"))?;
    for attempt in 0..STOU_TRIES {
        let path = if attempt == 0 {
            base.clone()
        } else {
            let name = format!("{}.{attempt}", base.file_name().unwrap_or("stou"));
            base.parent().child(&name)
        };
        let real = user.jail.for_create(&path)?;
        match fresh(user, path, real) {
            Ok(target) => return Ok(target),
            Err(VfsError::AlreadyExists) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(VfsError::AlreadyExists.into())
}

/// A hidden name beside `real` for an overwrite in progress.
fn temporary_name(real: &Path) -> PathBuf {
    let count = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    real.with_file_name(format!(
        ".pocketftpd-upload-{}-{count}.part",
        std::process::id()
    ))
}

/// Makes a finished (or broken-off) upload final: a temporary file replaces
/// the old one, and the quota gets back what a shorter overwrite freed.
fn finish(target: &Target, ledger: &UserQuota) -> Result<(), CommandError> {
    if let Undo::Temporary { old_len } = target.undo {
        let new_len = target.file.metadata().map_or(0, |meta| meta.len());
        fs::rename(&target.writing, &target.real).map_err(VfsError::from)?;
        ledger.release(old_len.saturating_sub(new_len));
    }
    Ok(())
}

/// Undoes an upload's effect on disk (the quota is undone by the writer).
fn discard(target: &Target) {
    let result = match target.undo {
        Undo::Remove => fs::remove_file(&target.writing),
        Undo::Temporary { .. } => fs::remove_file(&target.writing),
        Undo::Truncate(len) => target.file.set_len(len),
    };
    if let Err(error) = result {
        warn!(
            "could not undo upload to {}: {error}",
            target.writing.display()
        );
    }
}
