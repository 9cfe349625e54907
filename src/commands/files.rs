//! DELE, MKD, RMD, RNFR and RNTO (RFC 959 section 4.1.3).
//!
//! Each acts on the entry itself (a symlink is removed or renamed, never
//! what it points to) and keeps the user's quota ledger in step: deleting or
//! overwriting a file gives its bytes back at once.

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::{CommandError, require_writable, resolve};
use crate::protocol::reply::Reply;
use crate::session::state::User;
use crate::vfs::{VfsError, VirtualPath};

/// DELE: delete a file.
///
/// Replies: 250; 550 missing, a folder, or read-only account; 450 being
/// uploaded by another session.
pub fn dele(user: &mut User, text: &str) -> Result<Reply, CommandError> {
    require_writable(user)?;
    let path = resolve(user, text)?;
    let real = user.jail.locate(&path)?;
    let meta = fs::symlink_metadata(&real)?;
    if meta.is_dir() {
        return Err(VfsError::IsADirectory.into());
    }
    if user.quota.ledger().is_being_written(&real) {
        return Err(VfsError::Busy.into());
    }
    fs::remove_file(&real).map_err(VfsError::from)?;
    if meta.is_file() {
        user.quota.ledger().release(meta.len());
    }
    Ok(Reply::delete_ok())
}

/// MKD: create a folder.
///
/// Replies: 257 with the new path; 550 exists or parent missing; 553 bad name.
pub fn mkd(user: &mut User, text: &str) -> Result<Reply, CommandError> {
    require_writable(user)?;
    let path = resolve(user, text)?;
    let real = user.jail.locate(&path)?;
    fs::create_dir(&real).map_err(VfsError::from)?;
    Ok(Reply::mkdir_ok(path.as_str()))
}

/// RMD: remove an empty folder.
///
/// Replies: 250; 550 missing, not a folder, not empty, or the home itself.
pub fn rmd(user: &mut User, text: &str) -> Result<Reply, CommandError> {
    require_writable(user)?;
    let path = resolve(user, text)?;
    let real = user.jail.locate(&path)?;
    if !fs::symlink_metadata(&real)?.is_dir() {
        return Err(VfsError::NotADirectory.into());
    }
    fs::remove_dir(&real).map_err(VfsError::from)?;
    Ok(Reply::rmdir_ok())
}

/// RNFR: name the entry to rename; RNTO must follow.
///
/// Replies: 350; 550 missing or read-only account.
pub fn rnfr(user: &mut User, text: &str) -> Result<(VirtualPath, Reply), CommandError> {
    require_writable(user)?;
    let path = resolve(user, text)?;
    let real = user.jail.locate(&path)?;
    fs::symlink_metadata(&real)?;
    Ok((path, Reply::rename_pending()))
}

/// RNTO: rename the RNFR entry. Both ends resolve through the jail, so
/// nothing can be moved out of the home.
///
/// Replies: 250; 550 source gone, target parent missing, or a folder
/// onto a file; 450 source or target being uploaded, or a folder that
/// holds a file being uploaded.
pub fn rnto(user: &mut User, source: &VirtualPath, text: &str) -> Result<Reply, CommandError> {
    require_writable(user)?;
    let target = resolve(user, text)?;
    let from = user.jail.locate(source)?;
    let to = user.jail.locate(&target)?;
    let ledger = user.quota.ledger();
    // SECURITY: nothing being uploaded may move, nor any folder holding it:
    // the upload would then finish, or be undone, at a path that no longer
    // names its file, leaving bytes on disk that the ledger gave back.
    if ledger.is_busy_within(&from) || ledger.is_busy_within(&to) {
        return Err(VfsError::Busy.into());
    }
    let source_meta = fs::symlink_metadata(&from)?;
    // A file replaced by the rename frees its bytes. Two names of one file
    // (hard links) free nothing: rename(2) then leaves both in place, and
    // giving the bytes back would let the user pass the quota.
    let replaced = fs::symlink_metadata(&to)
        .ok()
        .filter(|meta| meta.is_file() && !same_file(meta, &source_meta))
        .map_or(0, |meta| meta.len());
    if source_meta.is_dir() && to.starts_with(&from) && to != from {
        return Err(VfsError::PermissionDenied.into());
    }
    fs::rename(&from, &to).map_err(VfsError::from)?;
    ledger.release(replaced);
    Ok(Reply::rename_ok())
}

/// Whether two entries are the same file (one inode on one device).
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}
