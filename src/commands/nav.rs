//! PWD, CWD and CDUP (RFC 959 section 4.1.1, 4.1.3).

use super::{CommandError, resolve};
use crate::protocol::reply::Reply;
use crate::session::state::User;
use crate::vfs::VfsError;

/// PWD: the working folder, as the user sees it.
///
/// Replies: 257.
pub fn pwd(user: &User) -> Reply {
    Reply::current_directory(user.cwd.as_str())
}

/// CWD (and CDUP as `CWD ..`): change the working folder.
///
/// Replies: 250; 550 not found, not a folder, or outside the home; 553 bad
/// name.
pub fn cwd(user: &mut User, text: &str) -> Result<Reply, CommandError> {
    let target = resolve(user, text)?;
    let real = user.jail.existing(&target)?;
    if !real.is_dir() {
        return Err(VfsError::NotADirectory.into());
    }
    // Keep the path the user typed (a symlink inside the home stays a
    // symlink in PWD), which is what shells and other servers do.
    user.cwd = target;
    Ok(Reply::cwd_ok())
}
