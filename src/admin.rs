//! The `pocketftpd user ...` subcommands: add, passwd, del, list.
//!
//! They edit accounts.ini as text (comments and other sections stay as they
//! are) and replace it atomically; a running server picks the change up at
//! the next login. Passwords are hashed here with the cost from settings.ini
//! and never written anywhere in the clear.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use thiserror::Error;

use crate::auth::Password;
use crate::config::accounts::{
    Accounts, add_section, remove_section, set_key, validate_user_name, write_atomically,
};
use crate::config::{ConfigError, Settings, join_inside, parse_size};
use crate::protocol::reply::human_size;
use crate::vfs::quota::measure;

/// Why a user subcommand failed.
#[derive(Debug, Error)]
pub enum AdminError {
    /// A config file is bad.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A bad argument on the command line.
    #[error("{0}")]
    Usage(String),
    /// Reading the password failed.
    #[error("cannot read the password: {0}")]
    Password(String),
    /// Writing the account file or the home failed.
    #[error("{path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Options of `user add`.
#[derive(Debug, Default)]
pub struct AddOptions {
    /// `--quota SIZE`.
    pub quota: Option<String>,
    /// `--home DIR`, relative to home_root.
    pub home: Option<String>,
    /// `--read-only`.
    pub read_only: bool,
}

/// Where the password comes from.
#[derive(Debug, Clone, Copy)]
pub enum PasswordSource {
    /// One line on standard input (`--password-stdin`).
    Stdin,
    /// Asked twice on the terminal, without echo.
    Terminal,
}

fn read_accounts_text(path: &Path) -> Result<String, AdminError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(AdminError::Write {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn write_accounts(path: &Path, text: &str) -> Result<(), AdminError> {
    write_atomically(path, text).map_err(|source| AdminError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Loads the current accounts, or none if the file does not exist yet.
fn current_accounts(settings: &Settings) -> Result<Accounts, AdminError> {
    if !settings.accounts_file.exists() {
        return Ok(Accounts::default());
    }
    Ok(Accounts::load(
        &settings.accounts_file,
        &settings.home_root,
    )?)
}

/// `user add`: a new section with a fresh hash; creates the home folder.
pub fn add(
    settings: &Settings,
    name: &str,
    options: &AddOptions,
    source: PasswordSource,
) -> Result<String, AdminError> {
    validate_user_name(name).map_err(AdminError::Usage)?;
    if current_accounts(settings)?.get(name).is_some() {
        return Err(AdminError::Usage(format!("user {name} already exists")));
    }
    let quota = options.quota.clone().unwrap_or_else(|| "0".to_string());
    parse_size(&quota).map_err(|problem| AdminError::Usage(format!("--quota: {problem}")))?;
    let home_text = options.home.clone().unwrap_or_else(|| name.to_string());
    let home = join_inside(&settings.home_root, &home_text)
        .filter(|home| home != &settings.home_root)
        .ok_or_else(|| AdminError::Usage("--home: must be a folder inside home_root".into()))?;
    let password = read_password(source)?;
    let hash = hash_password(settings, &password)?;
    let mut keys = vec![("password", hash), ("quota", quota.clone())];
    if options.home.is_some() {
        keys.push(("home", home_text));
    }
    if options.read_only {
        keys.push(("read_only", "true".to_string()));
    }
    let text = read_accounts_text(&settings.accounts_file)?;
    let new_text = add_section(&text, name, &keys);
    std::fs::create_dir_all(&home).map_err(|source| AdminError::Write {
        path: home.display().to_string(),
        source,
    })?;
    write_accounts(&settings.accounts_file, &new_text)?;
    // Read the result back: an edit that the server would refuse is an error now.
    Accounts::load(&settings.accounts_file, &settings.home_root)?;
    Ok(format!(
        "user {name} added: home {}, quota {}",
        home.display(),
        if parse_size(&quota) == Ok(0) {
            "unlimited".to_string()
        } else {
            quota
        }
    ))
}

/// `user passwd`: a fresh hash for an existing user.
pub fn passwd(
    settings: &Settings,
    name: &str,
    source: PasswordSource,
) -> Result<String, AdminError> {
    if current_accounts(settings)?.get(name).is_none() {
        return Err(AdminError::Usage(format!("no user {name}")));
    }
    let password = read_password(source)?;
    let hash = hash_password(settings, &password)?;
    let text = read_accounts_text(&settings.accounts_file)?;
    let new_text = set_key(&text, name, "password", &hash)
        .ok_or_else(|| AdminError::Usage(format!("no user {name}")))?;
    write_accounts(&settings.accounts_file, &new_text)?;
    Ok(format!("password of {name} changed"))
}

/// `user del`: removes the section; the home folder is left in place.
pub fn del(settings: &Settings, name: &str) -> Result<String, AdminError> {
    let accounts = current_accounts(settings)?;
    let account = accounts
        .get(name)
        .ok_or_else(|| AdminError::Usage(format!("no user {name}")))?;
    let text = read_accounts_text(&settings.accounts_file)?;
    let new_text =
        remove_section(&text, name).ok_or_else(|| AdminError::Usage(format!("no user {name}")))?;
    write_accounts(&settings.accounts_file, &new_text)?;
    Ok(format!(
        "user {name} deleted; the home folder {} was left in place",
        account.home.display()
    ))
}

/// `user list`: one line per user with quota and current usage.
pub fn list(settings: &Settings) -> Result<String, AdminError> {
    let accounts = Accounts::load(&settings.accounts_file, &settings.home_root)?;
    let mut out = format!(
        "{:<16} {:>12} {:>12} {:<6} {}\n",
        "USER", "QUOTA", "USED", "ACCESS", "HOME"
    );
    for account in accounts.iter() {
        let quota = account
            .quota_bytes
            .map_or_else(|| "unlimited".to_string(), human_size);
        let used = if account.home.is_dir() {
            human_size(measure(&account.home))
        } else {
            "-".to_string()
        };
        let mut access = if account.read_only { "ro" } else { "rw" }.to_string();
        if account.password.is_legacy() {
            access.push_str(" (legacy md5 password: run `user passwd`)");
        }
        out.push_str(&format!(
            "{:<16} {:>12} {:>12} {:<6} {}\n",
            account.name,
            quota,
            used,
            access,
            account.home.display()
        ));
    }
    Ok(out)
}

fn hash_password(settings: &Settings, password: &Password) -> Result<String, AdminError> {
    match settings.hash_cost.hash(password) {
        Ok(crate::auth::PasswordHash::Argon2(text)) => Ok(text),
        Ok(_) => Err(AdminError::Password("unexpected hash kind".into())),
        Err(error) => Err(AdminError::Password(error.to_string())),
    }
}

fn read_password(source: PasswordSource) -> Result<Password, AdminError> {
    let password = match source {
        PasswordSource::Stdin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|error| AdminError::Password(error.to_string()))?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
        PasswordSource::Terminal => {
            if !std::io::stdin().is_terminal() {
                return Err(AdminError::Password(
                    "standard input is not a terminal; use --password-stdin".into(),
                ));
            }
            let first = prompt_hidden("New password: ")?;
            let second = prompt_hidden("Repeat password: ")?;
            if first != second {
                return Err(AdminError::Password("the two passwords differ".into()));
            }
            first
        }
    };
    if password.is_empty() {
        return Err(AdminError::Password("the password is empty".into()));
    }
    Ok(Password::new(password))
}

/// Reads a line from the terminal with echo off (`stty -echo`; std has no
/// terminal control and this needs no extra crate). Echo comes back on even
/// when reading fails.
fn prompt_hidden(prompt: &str) -> Result<String, AdminError> {
    let stty = |arg: &str| {
        Command::new("stty")
            .arg(arg)
            .stdin(Stdio::inherit())
            .status()
            .map(|status| status.success())
            .unwrap_or(false)
    };
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let hidden = stty("-echo");
    let mut line = String::new();
    let result = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
    }
    eprintln!();
    result.map_err(|error| AdminError::Password(error.to_string()))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
