//! USER and PASS (RFC 959 section 4.1.1).
//!
//! One reply for every failure (`530 Login incorrect.`), given after the same
//! work and the same delay whether the user exists or not, so a client cannot
//! learn which names exist. Failures count towards the per-connection limit
//! and the per-address ban.

use log::{error, info, warn};

use crate::auth::Password;
use crate::protocol::reply::Reply;
use crate::server::ServerContext;
use crate::session::state::{State, User};
use crate::session::{Control, Next};
use crate::vfs::{Jail, VirtualPath};

/// USER: remember the name and ask for the password.
///
/// Replies: 331 always before login (even for unknown users); 530 when
/// already logged in.
pub fn user(state: &mut State, name: String) -> Reply {
    if let State::LoggedIn(_) = state {
        return Reply::cannot_change_user();
    }
    *state = State::AwaitPass { user: name };
    Reply::need_password()
}

/// PASS: check the password.
///
/// Replies: 230 logged in; 530 wrong user or password (after the fail
/// delay); 503 without USER first; 421 and close after too many failures.
pub fn pass(
    ctx: &ServerContext,
    state: &mut State,
    failed_logins: &mut u32,
    control: &mut Control,
    password: &Password,
) -> (Reply, Next) {
    let peer = control.peer;
    let name = match state {
        State::AwaitPass { user } => std::mem::take(user),
        State::LoggedIn(_) => return (Reply::already_logged_in(), Next::Continue),
        State::AwaitUser => {
            return (
                Reply::bad_sequence("Login with USER first."),
                Next::Continue,
            );
        }
    };
    *state = State::AwaitUser;
    let accounts = ctx.accounts.current();
    let account = accounts.get(&name);
    if ctx
        .auth
        .verify(&name, account.map(|a| &a.password), password)
    {
        // verify() is only true for an account that exists.
        if let Some(account) = account {
            match open_home(account) {
                Ok(jail) => {
                    let quota = ctx
                        .quotas
                        .attach(&account.name, account.quota_bytes, jail.root());
                    info!("{peer}: user {} logged in", account.name);
                    *state = State::LoggedIn(Box::new(User {
                        account: account.clone(),
                        jail,
                        cwd: VirtualPath::root(),
                        quota,
                    }));
                    return (Reply::logged_in(), Next::Continue);
                }
                Err(problem) => {
                    error!(
                        "{peer}: user {} cannot use home {}: {problem}",
                        account.name,
                        account.home.display()
                    );
                    return (Reply::login_incorrect(), Next::Continue);
                }
            }
        }
    }
    *failed_logins += 1;
    ctx.bans.record_failure(peer.ip());
    // {:?} escapes control characters, so a hostile name can't forge log lines.
    warn!("{peer}: failed login for user {name:?} (attempt {failed_logins})");
    // SECURITY: password guessing. Each failure costs the client the delay;
    // the worker waits it out only while the client is still connected, so
    // a guesser that hangs up and reconnects cannot park idle workers (the
    // per-address ban, counted above, stops the reconnecting).
    if !control.pause(ctx.settings.login_fail_delay) {
        return (Reply::login_incorrect(), Next::Close);
    }
    if *failed_logins >= ctx.settings.max_login_attempts {
        return (Reply::too_many_login_failures(), Next::Close);
    }
    (Reply::login_incorrect(), Next::Continue)
}

/// Opens the user's home, creating it when missing (a new account, or a
/// USB stick copied without empty folders).
fn open_home(account: &crate::config::accounts::Account) -> std::io::Result<Jail> {
    if !account.home.exists() {
        std::fs::create_dir_all(&account.home)?;
    }
    Jail::new(&account.home)
}
