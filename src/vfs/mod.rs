//! The user's view of the disk: the home jail and the quota ledger.
//!
//! Handlers never touch a real path built from client text. They resolve
//! client text to a [`VirtualPath`] through [`Jail::resolve`], then ask the
//! jail for the real path to read or create; the quota ledger counts every
//! byte written through a [`QuotaWriter`].

pub mod jail;
pub mod quota;

pub use jail::{Jail, VirtualPath};
pub use quota::{QuotaError, QuotaRegistry, QuotaWriter, UserQuota};

use thiserror::Error;

/// What went wrong with a path. The reply for each is in the doc comment;
/// the mapping itself lives in protocol/reply.rs.
#[derive(Debug, Error)]
pub enum VfsError {
    /// Nothing there. Reply 550.
    #[error("no such file or directory")]
    NotFound,
    /// The path, or a symlink on it, leads outside the home. Logged as a
    /// warning; the client sees the same 550 as for a missing file.
    #[error("path escapes the home")]
    PathEscapesHome,
    /// The OS refused access. Reply 550.
    #[error("permission denied")]
    PermissionDenied,
    /// A name we won't create or resolve (CR, LF, too long, too deep). Reply 553.
    #[error("file name not allowed")]
    InvalidName,
    /// Expected a folder. Reply 550.
    #[error("not a directory")]
    NotADirectory,
    /// Expected a file. Reply 550.
    #[error("is a directory")]
    IsADirectory,
    /// A FIFO, device or socket: never opened. Reply 550.
    #[error("not a regular file")]
    NotARegularFile,
    /// RMD of a folder that still has entries. Reply 550.
    #[error("directory not empty")]
    DirectoryNotEmpty,
    /// MKD of a name that exists. Reply 550.
    #[error("already exists")]
    AlreadyExists,
    /// Another session of this user is writing the file. Reply 450.
    #[error("file busy")]
    Busy,
    /// The disk itself is full (ENOSPC). Reply 452.
    #[error("disk full")]
    DiskFull,
    /// Any other I/O failure; details go to the log. Reply 451.
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for VfsError {
    fn from(error: std::io::Error) -> VfsError {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::NotFound => VfsError::NotFound,
            ErrorKind::PermissionDenied => VfsError::PermissionDenied,
            ErrorKind::AlreadyExists => VfsError::AlreadyExists,
            ErrorKind::NotADirectory => VfsError::NotADirectory,
            ErrorKind::IsADirectory => VfsError::IsADirectory,
            ErrorKind::DirectoryNotEmpty => VfsError::DirectoryNotEmpty,
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => VfsError::DiskFull,
            ErrorKind::InvalidFilename => VfsError::InvalidName,
            _ => match error.raw_os_error() {
                // ELOOP: O_NOFOLLOW met a symlink swapped in after the check.
                Some(libc::ELOOP) => VfsError::PathEscapesHome,
                _ => VfsError::Io(error),
            },
        }
    }
}
