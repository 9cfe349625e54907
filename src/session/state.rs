//! Session state: where a connection is in the login, and what a logged-in
//! user carries; plus the one list of verbs allowed before login.

use crate::config::accounts::Account;
use crate::protocol::command::Command;
use crate::vfs::quota::QuotaSession;
use crate::vfs::{Jail, VirtualPath};

/// Where the session is in the login (RFC 959 section 5.4, login sequence).
pub enum State {
    /// Connected; waiting for USER.
    AwaitUser,
    /// USER given; waiting for PASS.
    AwaitPass {
        /// The name the client gave (not yet known to exist).
        user: String,
    },
    /// Logged in.
    LoggedIn(Box<User>),
}

/// A logged-in user's view.
pub struct User {
    /// The account, as it was at login.
    pub account: Account,
    /// The home jail.
    pub jail: Jail,
    /// The working folder.
    pub cwd: VirtualPath,
    /// Membership in the user's quota ledger.
    pub quota: QuotaSession,
}

/// Whether `command` may run before login. Everything else gets 530.
///
/// SECURITY: the pre-login surface is kept to what a client needs to log in
/// and to learn what the server can do (vsftpd's prelogin.c, libunftp's
/// auth.rs allow-list). Nothing here touches the disk.
pub fn allowed_before_login(command: &Command) -> bool {
    matches!(
        command,
        Command::User(_)
            | Command::Pass(_)
            | Command::Quit
            | Command::Feat
            | Command::Opts(_)
            | Command::Help(_)
            | Command::Noop
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- before login ---------------------------------------------------

    #[test]
    fn login_verbs_are_allowed_before_login() {
        for command in [
            Command::User("a".into()),
            Command::Quit,
            Command::Feat,
            Command::Noop,
            Command::Opts("UTF8 ON".into()),
            Command::Help(None),
        ] {
            assert!(allowed_before_login(&command), "{command:?}");
        }
    }

    #[test]
    fn file_and_data_verbs_need_a_login() {
        for command in [
            Command::Pwd,
            Command::List(None),
            Command::Retr("x".into()),
            Command::Stor("x".into()),
            Command::Pasv,
            Command::Port("127.0.0.1:5000".parse().unwrap()),
            Command::Hash("x".into()),
            Command::Syst,
            Command::Stat(None),
        ] {
            assert!(!allowed_before_login(&command), "{command:?}");
        }
    }
}
