//! Command handlers, grouped by family (RFC sections in each file).
//!
//! A handler is a plain function named after its verb. It takes only the
//! parts of the session it needs and returns `Result<Reply, CommandError>`;
//! the error becomes a reply through the one mapping in protocol/reply.rs and
//! the session goes on.

pub mod files;
pub mod info;
pub mod listing;
pub mod login;
pub mod nav;
pub mod transfer;

use thiserror::Error;

use crate::session::state::User;
use crate::transfer::TransferError;
use crate::vfs::{QuotaError, VfsError, VirtualPath};

/// A command that failed; the session goes on. Replies are listed on each
/// variant (and on the wrapped errors).
#[derive(Debug, Error)]
pub enum CommandError {
    /// A path problem (550, 553, 450, 452 or 451).
    #[error(transparent)]
    Vfs(#[from] VfsError),
    /// The upload would pass the quota (552).
    #[error(transparent)]
    Quota(#[from] QuotaError),
    /// A data connection or transfer problem (425, 426, 451, 452, 500).
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// A write by a read-only user (550).
    #[error("account is read-only")]
    ReadOnly,
    /// RNTO without RNFR right before it (503).
    #[error("RNTO without RNFR")]
    NoPendingRename,
    /// OPTS HASH named an algorithm we don't have (501).
    #[error("unknown hash algorithm")]
    UnknownHashAlgorithm,
    /// HASH or XMD5 of a folder, which has no defined digest (553,
    /// draft-bryan-ftpext-hash-02 section 3.5).
    #[error("hash of a directory")]
    HashOfDirectory,
    /// A REST offset past the end of the file (554).
    #[error("restart offset past the end of the file")]
    RestartBeyondEnd,
    /// A bad argument the parser could not see (501).
    #[error("bad argument: {0}")]
    BadArgument(&'static str),
    /// A parameter we don't support (504).
    #[error("parameter not implemented")]
    ParameterNotImplemented,
    /// A command we know but don't implement (502).
    #[error("not implemented")]
    NotImplemented,
}

/// Filesystem errors in handlers are path errors (see `VfsError`'s mapping).
impl From<std::io::Error> for CommandError {
    fn from(error: std::io::Error) -> CommandError {
        CommandError::Vfs(VfsError::from(error))
    }
}

/// Resolves client text against the user's working folder.
pub(crate) fn resolve(user: &User, text: &str) -> Result<VirtualPath, CommandError> {
    Ok(user.jail.resolve(&user.cwd, text)?)
}

/// Refuses writes for read-only accounts.
pub(crate) fn require_writable(user: &User) -> Result<(), CommandError> {
    if user.account.read_only {
        return Err(CommandError::ReadOnly);
    }
    Ok(())
}
