//! Listings and file facts: LIST, NLST, MLSD, MLST, STAT path (RFC 959
//! section 4.1.3; RFC 3659 sections 3, 4 and 7), SIZE and MDTM.
//!
//! LIST uses the `ls -l` layout that curl, lftp, FileZilla and ftplib
//! parse. Owner and group are always `ftp`, so listings never reveal local
//! account names. A symlink is shown as what it points to when that is inside
//! the home, and left out when it leads outside or nowhere.

use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{CommandError, resolve};
use crate::limits::MAX_LISTING_ENTRIES;
use crate::protocol::reply::Reply;
use crate::session::state::User;
use crate::vfs::{VfsError, VirtualPath};

/// Which listing layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// LIST: `ls -l` lines.
    List,
    /// NLST: bare names.
    Names,
    /// MLSD: RFC 3659 fact lines.
    Facts,
}

/// A listing ready to be written: the entries were found and checked before
/// any data connection is opened, so a bad path gets 550 and no 150.
pub struct Listing {
    format: Format,
    /// (name shown, real path to describe).
    entries: Vec<(String, PathBuf)>,
    writable: bool,
}

impl Listing {
    /// Collects what `text` (or the working folder) names.
    ///
    /// Errors: 550 for a missing path or one outside the home.
    pub fn prepare(
        user: &User,
        format: Format,
        text: Option<&str>,
    ) -> Result<Listing, CommandError> {
        let path = match text {
            Some(text) => resolve(user, text)?,
            None => user.cwd.clone(),
        };
        let real = user.jail.existing(&path)?;
        let meta = fs::metadata(&real)?;
        let mut entries = Vec::new();
        if meta.is_dir() {
            for entry in fs::read_dir(&real)?.flatten().take(MAX_LISTING_ENTRIES) {
                let name = entry.file_name().to_string_lossy().into_owned();
                // SECURITY: listing injection. A name holding CR or LF (put
                // there with a shell; FTP refuses to create one) would add
                // forged lines to a LIST/NLST/MLSD listing, which has no
                // quoting. No FTP command can name such a file anyway, so it
                // is left out.
                if name.contains(['\r', '\n']) {
                    log::warn!(
                        "left {:?} out of a listing: CR or LF in the name",
                        entry.path()
                    );
                    continue;
                }
                entries.push((name, entry.path()));
            }
        } else {
            if format == Format::Facts {
                // RFC 3659 section 7.2.1: MLSD of a file is an error.
                return Err(VfsError::NotADirectory.into());
            }
            let name = path.file_name().unwrap_or("/").to_string();
            entries.push((name, real));
        }
        entries.sort();
        Ok(Listing {
            format,
            entries,
            writable: !user.account.read_only,
        })
    }

    /// Writes every line (CRLF-terminated) to `out`.
    pub fn write_to(&self, user: &User, out: &mut dyn Write) -> io::Result<()> {
        let now = SystemTime::now();
        for (name, real) in &self.entries {
            let Some(meta) = describe(user, real) else {
                continue;
            };
            let line = match self.format {
                Format::List => list_line(name, &meta, now),
                Format::Names => name.clone(),
                Format::Facts => format!("{} {name}", facts(&meta, self.writable)),
            };
            out.write_all(line.as_bytes())?;
            out.write_all(b"\r\n")?;
        }
        Ok(())
    }

    /// The lines, for STAT (sent on the control connection).
    fn lines(&self, user: &User) -> Vec<String> {
        let mut out = Vec::new();
        let _ = self.write_to(user, &mut out);
        String::from_utf8_lossy(&out)
            .split("\r\n")
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Metadata of an entry as the user may see it: symlinks followed only when
/// they stay inside the home.
fn describe(user: &User, real: &std::path::Path) -> Option<Metadata> {
    let meta = fs::symlink_metadata(real).ok()?;
    if !meta.file_type().is_symlink() {
        return Some(meta);
    }
    let target = fs::canonicalize(real).ok()?;
    if !target.starts_with(user.jail.root()) {
        return None;
    }
    fs::metadata(target).ok()
}

/// One `ls -l` line: `drwxr-xr-x   2 ftp      ftp          4096 Nov 25 08:30 name`.
fn list_line(name: &str, meta: &Metadata, now: SystemTime) -> String {
    let kind = if meta.is_dir() { 'd' } else { '-' };
    let mode = meta.permissions().mode();
    let mut perms = String::with_capacity(9);
    for (bit, letter) in [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ] {
        perms.push(if mode & bit != 0 { letter } else { '-' });
    }
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let (year, month, day, hour, minute, _) = utc_parts(modified);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[(month - 1) as usize];
    // ls shows the time for files from the last six months, else the year.
    let recent = now
        .duration_since(modified)
        .map_or(true, |age| age.as_secs() < 180 * 86_400);
    let when = if recent {
        format!("{month} {day:>2} {hour:02}:{minute:02}")
    } else {
        format!("{month} {day:>2}  {year}")
    };
    format!(
        "{kind}{perms} {:>3} ftp      ftp      {:>12} {when} {name}",
        meta.nlink(),
        meta.len()
    )
}

/// RFC 3659 facts: `type=file;size=12;modify=20261125083000;perm=adfrw;unix.mode=0644;`
fn facts(meta: &Metadata, writable: bool) -> String {
    let modify = timestamp(meta.modified().unwrap_or(UNIX_EPOCH));
    let mode = meta.permissions().mode() & 0o7777;
    if meta.is_dir() {
        let perm = if writable { "cdeflmp" } else { "el" };
        format!("type=dir;modify={modify};perm={perm};unix.mode={mode:04o};")
    } else {
        let perm = if writable { "adfrw" } else { "r" };
        format!(
            "type=file;size={};modify={modify};perm={perm};unix.mode={mode:04o};",
            meta.len()
        )
    }
}

/// SIZE: bytes of a file (RFC 3659 section 4).
///
/// Replies: 213; 550 missing or not a regular file.
pub fn size(user: &User, text: &str) -> Result<Reply, CommandError> {
    let meta = file_meta(user, text)?;
    Ok(Reply::size(meta.len()))
}

/// MDTM: modification time of a file, UTC (RFC 3659 section 3).
///
/// Replies: 213; 550 missing or not a regular file.
pub fn mdtm(user: &User, text: &str) -> Result<Reply, CommandError> {
    let meta = file_meta(user, text)?;
    Ok(Reply::modification_time(&timestamp(
        meta.modified().unwrap_or(UNIX_EPOCH),
    )))
}

fn file_meta(user: &User, text: &str) -> Result<Metadata, CommandError> {
    let path = resolve(user, text)?;
    let meta = fs::metadata(user.jail.existing(&path)?)?;
    if meta.is_dir() {
        return Err(VfsError::IsADirectory.into());
    }
    if !meta.is_file() {
        return Err(VfsError::NotARegularFile.into());
    }
    Ok(meta)
}

/// MLST: facts of one entry on the control connection (RFC 3659 section 7).
///
/// Replies: 250 multi-line; 550 missing.
pub fn mlst(user: &User, text: Option<&str>) -> Result<Reply, CommandError> {
    let path: VirtualPath = match text {
        Some(text) => resolve(user, text)?,
        None => user.cwd.clone(),
    };
    let meta = fs::metadata(user.jail.existing(&path)?)?;
    Ok(Reply::mlst(format!(
        "{} {}",
        facts(&meta, !user.account.read_only),
        path.as_str()
    )))
}

/// STAT with a path: the LIST lines on the control connection.
///
/// Replies: 213 multi-line; 550 missing.
pub fn stat_path(user: &User, text: &str) -> Result<Reply, CommandError> {
    let listing = Listing::prepare(user, Format::List, Some(text))?;
    Ok(Reply::path_status(listing.lines(user)))
}

/// `YYYYMMDDHHMMSS` in UTC.
pub fn timestamp(time: SystemTime) -> String {
    let (year, month, day, hour, minute, second) = utc_parts(time);
    format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}")
}

/// Splits a time into UTC calendar parts (Howard Hinnant's days-to-civil
/// algorithm; std has no calendar and a date crate is not worth its weight).
fn utc_parts(time: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    };
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn calendar_conversion() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101000000");
        // 2000-02-29 12:34:56 UTC, a leap day.
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(951_827_696)),
            "20000229123456"
        );
        // 2026-11-25 08:30:00 UTC.
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(1_795_595_400)),
            "20261125083000"
        );
    }
}
