//! Session settings and information: NOOP, SYST, FEAT (RFC 2389), OPTS,
//! HELP, TYPE/MODE/STRU (RFC 959 section 4.1.2), STAT, ALLO; integrity
//! (HASH, draft-bryan-ftpext-hash-02; XMD5 and friends); space (AVBL,
//! draft-peterson-streamlined-ftp-command-extensions; SITE QUOTA).

use std::io::Read;

use md5::Md5;
use sha1::Sha1;
use sha2::digest::Digest;
use sha2::{Sha256, Sha512};

use super::{CommandError, resolve};
use crate::limits::HASH_BUF_SIZE;
use crate::protocol::command::{Command, HashAlgorithm, SiteCommand, TransferType};
use crate::protocol::reply::{Reply, human_size};
use crate::server::ServerContext;
use crate::session::state::User;
use crate::session::{Control, TransferState};
use crate::vfs::VfsError;

/// HASH's algorithm until OPTS HASH picks another.
pub const DEFAULT_HASH: HashAlgorithm = HashAlgorithm::Sha256;

/// Verbs listed by HELP.
const HELP_VERBS: &[&str] = &[
    "ABOR", "ALLO", "APPE", "AVBL", "CDUP", "CWD", "DELE", "EPRT", "EPSV", "FEAT", "HASH", "HELP",
    "LIST", "MDTM", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV", "PORT",
    "PWD", "QUIT", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE", "SIZE", "STAT", "STOR", "STOU",
    "STRU", "SYST", "TYPE", "USER", "XCUP", "XCWD", "XMD5", "XMKD", "XPWD", "XRMD", "XSHA1",
    "XSHA256", "XSHA512",
];

/// Commands that need no login and no user: NOOP, SYST, FEAT, OPTS, HELP,
/// TYPE, MODE, STRU.
///
/// Replies: 200, 211, 214, 215; 501 for an unknown OPTS; 502 otherwise.
pub fn general(transfer: &mut TransferState, command: Command) -> Reply {
    match command {
        Command::Noop => Reply::noop_ok(),
        Command::Syst => Reply::system_type(),
        Command::Feat => Reply::features(&features(transfer)),
        Command::Opts(option) => opts(transfer, &option).unwrap_or_else(|e| Reply::from(&e)),
        Command::Help(_) => Reply::help(HELP_VERBS),
        // TYPE A is accepted and data sent unchanged, as vsftpd does by
        // default: every file is transferred byte for byte.
        Command::Type(kind) => Reply::type_ok(kind == TransferType::Image),
        Command::Mode(_) => Reply::mode_ok(),
        Command::Stru(_) => Reply::structure_ok(),
        _ => Reply::not_implemented(),
    }
}

/// The FEAT lines (RFC 2389 section 3.2), each with its leading space added
/// by the reply framing.
fn features(transfer: &TransferState) -> Vec<String> {
    let selected = transfer.hash.unwrap_or(DEFAULT_HASH);
    let hashes: Vec<String> = HashAlgorithm::ALL
        .iter()
        .map(|algo| {
            let star = if *algo == selected { "*" } else { "" };
            format!("{}{star}", algo.name())
        })
        .collect();
    vec![
        "AVBL".into(),
        "EPRT".into(),
        "EPSV".into(),
        format!("HASH {}", hashes.join(";")),
        "MDTM".into(),
        "MLST type*;size*;modify*;perm*;unix.mode*;".into(),
        "REST STREAM".into(),
        "SIZE".into(),
        "TVFS".into(),
        "UTF8".into(),
    ]
}

/// OPTS (RFC 2389 section 4): `UTF8 ON`, `HASH [algorithm]`, `MLST facts`.
fn opts(transfer: &mut TransferState, option: &str) -> Result<Reply, CommandError> {
    let (name, value) = option.split_once(' ').unwrap_or((option, ""));
    let value = value.trim();
    match name.to_ascii_uppercase().as_str() {
        // Names are always UTF-8 here (RFC 2640); OFF changes nothing.
        "UTF8" | "UTF-8" => Ok(Reply::opts_ok("Always in UTF8 mode.")),
        "HASH" if value.is_empty() => Ok(Reply::hash_selected(
            transfer.hash.unwrap_or(DEFAULT_HASH).name(),
        )),
        "HASH" => {
            let algo = HashAlgorithm::from_name(value).ok_or(CommandError::UnknownHashAlgorithm)?;
            transfer.hash = Some(algo);
            Ok(Reply::hash_selected(algo.name()))
        }
        // We always send every fact; say which (RFC 3659 section 7.9).
        "MLST" => Ok(Reply::opts_ok("MLST OPTS type;size;modify;perm;unix.mode;")),
        _ => Err(CommandError::BadArgument("Option not understood.")),
    }
}

/// STAT without argument: the session's status.
///
/// Replies: 211 multi-line.
pub fn stat(ctx: &ServerContext, user: &User, control: &Control) -> Reply {
    Reply::server_status(vec![
        format!("Connected to {}", control.peer.ip()),
        format!("Logged in as {}", user.account.name),
        "TYPE: BINARY".to_string(),
        format!(
            "Session timeout in seconds is {}",
            ctx.settings.idle_timeout.as_secs()
        ),
        format!("pocketftpd {}", env!("CARGO_PKG_VERSION")),
    ])
}

/// ALLO: would `bytes` more fit the quota? (RFC 959 section 4.1.3).
///
/// Replies: 200 fits; 202 no quota applies; 552 would not fit; 550
/// read-only account.
pub fn allo(user: &User, bytes: u64) -> Result<Reply, CommandError> {
    super::require_writable(user)?;
    let ledger = user.quota.ledger();
    if ledger.usage().1.is_none() {
        return Ok(Reply::allo_superfluous());
    }
    ledger.check_fits(bytes)?;
    Ok(Reply::allo_ok())
}

/// HASH: digest of a whole file with the selected algorithm.
///
/// Replies: 213 `<ALGO> 0-<size> <hex> <path>`; 550 missing or not a regular
/// file; 553 a folder; 450 while another session uploads it.
/// The range is `0-<size>`, as ProFTPD's mod_digest sends it.
pub fn hash(user: &User, transfer: &TransferState, text: &str) -> Result<Reply, CommandError> {
    let algorithm = transfer.hash.unwrap_or(DEFAULT_HASH);
    let path = resolve(user, text)?;
    let (hex, size) = digest_path(user, algorithm, &path)?;
    Ok(Reply::hash(algorithm.name(), 0, size, &hex, path.as_str()))
}

/// XMD5, XSHA1, XSHA256, XSHA512: the bare hex digest.
///
/// Replies: 250 `<hex>`; errors as HASH.
pub fn xdigest(user: &User, algorithm: HashAlgorithm, text: &str) -> Result<Reply, CommandError> {
    let path = resolve(user, text)?;
    let (hex, _) = digest_path(user, algorithm, &path)?;
    Ok(Reply::digest(&hex))
}

fn digest_path(
    user: &User,
    algorithm: HashAlgorithm,
    path: &crate::vfs::VirtualPath,
) -> Result<(String, u64), CommandError> {
    let (mut file, meta, real) = user.jail.open_read(path).map_err(|error| match error {
        VfsError::IsADirectory => CommandError::HashOfDirectory,
        other => other.into(),
    })?;
    // A file another session is still writing has no stable digest yet.
    if user.quota.ledger().is_being_written(&real) {
        return Err(VfsError::Busy.into());
    }
    let hex = match algorithm {
        HashAlgorithm::Md5 => stream_digest::<Md5>(&mut file),
        HashAlgorithm::Sha1 => stream_digest::<Sha1>(&mut file),
        HashAlgorithm::Sha256 => stream_digest::<Sha256>(&mut file),
        HashAlgorithm::Sha512 => stream_digest::<Sha512>(&mut file),
    }
    .map_err(VfsError::Io)?;
    Ok((hex, meta.len()))
}

/// Hashes a stream with one fixed `HASH_BUF_SIZE` buffer; never loads the
/// file.
pub fn stream_digest<D: Digest>(reader: &mut dyn Read) -> std::io::Result<String> {
    let mut hasher = D::new();
    let mut buffer = vec![0u8; HASH_BUF_SIZE];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => hasher.update(&buffer[..count]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// AVBL: the bytes the user can still store: the smaller of what the quota
/// leaves and what the disk holding the home has free (statvfs(2)).
///
/// Replies: 213 `<bytes>` (0 for a read-only account, which can store
/// nothing); 550 for a missing path; 451 if the disk cannot be asked.
pub fn avbl(user: &User, text: Option<&str>) -> Result<Reply, CommandError> {
    if let Some(text) = text {
        let path = resolve(user, text)?;
        user.jail.existing(&path)?;
    }
    if user.account.read_only {
        return Ok(Reply::available(0));
    }
    let disk = rustix::fs::statvfs(user.jail.root()).map_err(std::io::Error::from)?;
    let disk_free = disk.f_bavail.saturating_mul(disk.f_frsize);
    let free = match user.quota.ledger().usage() {
        (used, Some(limit)) => limit.saturating_sub(used).min(disk_free),
        (_, None) => disk_free,
    };
    Ok(Reply::available(free))
}

/// SITE QUOTA and SITE HELP.
///
/// Replies: 211 quota report; 214 help; 502 other SITE commands.
pub fn site(user: &User, site: SiteCommand) -> Result<Reply, CommandError> {
    match site {
        SiteCommand::Help => Ok(Reply::site_help()),
        SiteCommand::Quota => {
            let (used, limit) = user.quota.ledger().usage();
            let mut lines = vec![format!("used: {used} bytes ({})", human_size(used))];
            match limit {
                Some(limit) => {
                    let free = limit.saturating_sub(used);
                    lines.push(format!("limit: {limit} bytes ({})", human_size(limit)));
                    lines.push(format!("free: {free} bytes ({})", human_size(free)));
                }
                None => {
                    lines.push("limit: unlimited".to_string());
                    lines.push("free: unlimited".to_string());
                }
            }
            Ok(Reply::quota_report(lines))
        }
        SiteCommand::Other(_) => Err(CommandError::NotImplemented),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let input = b"The quick brown fox jumps over the lazy dog";
        assert_eq!(
            stream_digest::<Md5>(&mut &input[..]).unwrap(),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(
            stream_digest::<Sha256>(&mut &input[..]).unwrap(),
            "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
        );
    }

    #[test]
    fn feat_marks_the_selected_hash() {
        let mut transfer = TransferState::default();
        assert!(features(&transfer).contains(&"HASH SHA-1;SHA-256*;SHA-512;MD5".to_string()));
        opts(&mut transfer, "HASH md5").unwrap();
        assert!(features(&transfer).contains(&"HASH SHA-1;SHA-256;SHA-512;MD5*".to_string()));
        assert!(matches!(
            opts(&mut transfer, "HASH CRC99"),
            Err(CommandError::UnknownHashAlgorithm)
        ));
    }
}
