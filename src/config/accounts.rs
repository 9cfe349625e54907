//! accounts.ini: one section per user, as in the original homework, with
//! hashed passwords; loading, live reloading, and safe rewriting.
//!
//! ```ini
//! [curry]
//! password = $argon2id$v=19$m=12288,t=3,p=1$...
//! quota = 100M        ; 0 or absent = unlimited
//! home = curry        ; relative to home_root; default: the section name
//! read_only = false
//! ```
//!
//! The `user` subcommands rewrite the file as text, line by line, so every
//! other section and every comment survives, and they replace it atomically
//! (write a temporary file, fsync, rename) so a crash leaves either the old
//! file or the new one, never half of one.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use log::{error, info};

use super::{ConfigError, KeyReader, join_inside, key_error, parse_bool, parse_size, read_ini};
use crate::auth::PasswordHash;

/// One user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name (the section name).
    pub name: String,
    /// The stored password hash.
    pub password: PasswordHash,
    /// Disk quota in bytes; `None` = unlimited.
    pub quota_bytes: Option<u64>,
    /// Absolute path of the home folder, inside home_root.
    pub home: PathBuf,
    /// Whether every write is refused.
    pub read_only: bool,
}

/// All users, by name.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    users: BTreeMap<String, Account>,
}

impl Accounts {
    /// Reads and checks accounts.ini. Homes resolve against `home_root`.
    pub fn load(path: &Path, home_root: &Path) -> Result<Accounts, ConfigError> {
        let file = path.display().to_string();
        let ini = read_ini(path)?;
        let mut users = BTreeMap::new();
        for (section, props) in ini.iter() {
            let Some(name) = section else {
                if let Some((key, _)) = props.iter().next() {
                    return Err(key_error(
                        &file,
                        "",
                        key,
                        "keys must sit inside a [user] section",
                    ));
                }
                continue;
            };
            let section_error = |problem: &str| ConfigError::Section {
                file: file.clone(),
                section: name.to_string(),
                problem: problem.to_string(),
            };
            validate_user_name(name).map_err(|problem| section_error(&problem))?;
            if users.contains_key(name) {
                return Err(section_error("duplicate user"));
            }
            let mut keys = KeyReader {
                file: &file,
                section: name,
                props,
            };
            let mut password = None;
            let mut quota_bytes = None;
            let mut home = home_root.join(name);
            let mut read_only = false;
            for (key, value) in props.iter() {
                match key {
                    "password" => {
                        password = Some(keys.parse(key, value, |v| {
                            PasswordHash::parse(v).map_err(|error| error.to_string())
                        })?)
                    }
                    "quota" => {
                        quota_bytes =
                            keys.parse(key, value, |v| parse_size(v).map(|q| (q > 0).then_some(q)))?
                    }
                    "home" => {
                        home = keys.parse(key, value, |v| {
                            join_inside(home_root, v)
                                .filter(|h| h != home_root)
                                .ok_or_else(|| {
                                    "the home must be a folder inside home_root".to_string()
                                })
                        })?
                    }
                    "read_only" => read_only = keys.parse(key, value, parse_bool)?,
                    _ => return Err(keys.unknown(key)),
                }
            }
            let password = password.ok_or_else(|| {
                key_error(
                    &file,
                    name,
                    "password",
                    "missing (set it with `pocketftpd user passwd`)",
                )
            })?;
            users.insert(
                name.to_string(),
                Account {
                    name: name.to_string(),
                    password,
                    quota_bytes,
                    home,
                    read_only,
                },
            );
        }
        // SECURITY: a home inside another user's home would let one user
        // read and change the other's files, and give the same bytes two
        // quota ledgers.
        for a in users.values() {
            if let Some(b) = users
                .values()
                .find(|b| b.name != a.name && a.home.starts_with(&b.home))
            {
                return Err(ConfigError::Section {
                    file,
                    section: a.name.clone(),
                    problem: format!("home is inside (or the same as) the home of [{}]", b.name),
                });
            }
        }
        Ok(Accounts { users })
    }

    /// Looks a user up.
    pub fn get(&self, name: &str) -> Option<&Account> {
        self.users.get(name)
    }

    /// Every user, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Account> {
        self.users.values()
    }
}

/// User names: 1-32 of `A-Za-z0-9._-`, not starting with `.` or `-`, so a
/// name can double as a folder name and never as `..` or an option.
pub fn validate_user_name(name: &str) -> Result<(), String> {
    let good_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > 32 || !good_chars || name.starts_with(['.', '-']) {
        return Err(format!(
            "bad user name {name:?}: use 1-32 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        ));
    }
    Ok(())
}

/// The accounts a running server uses, re-read when the file changes.
///
/// Every login calls [`AccountStore::current`], which looks at the file's
/// modification time and length (one `stat`), and re-reads it when they
/// changed. A file that no longer parses is logged and ignored: the last good
/// accounts stay in force, so a broken edit never locks everyone out.
pub struct AccountStore {
    path: PathBuf,
    home_root: PathBuf,
    state: Mutex<StoreState>,
}

struct StoreState {
    stamp: Option<(SystemTime, u64)>,
    accounts: Arc<Accounts>,
}

impl AccountStore {
    /// Loads the file once; a bad file here is a start-up error.
    pub fn open(path: &Path, home_root: &Path) -> Result<AccountStore, ConfigError> {
        let stamp = file_stamp(path);
        let accounts = Accounts::load(path, home_root)?;
        Ok(AccountStore {
            path: path.to_path_buf(),
            home_root: home_root.to_path_buf(),
            state: Mutex::new(StoreState {
                stamp,
                accounts: Arc::new(accounts),
            }),
        })
    }

    /// The accounts now in force, re-read first if the file changed.
    pub fn current(&self) -> Arc<Accounts> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let stamp = file_stamp(&self.path);
        if stamp != state.stamp {
            // Remember the stamp even on failure, so a broken file is
            // reported once, not at every login.
            state.stamp = stamp;
            match Accounts::load(&self.path, &self.home_root) {
                Ok(accounts) => {
                    info!("accounts reloaded: {} users", accounts.users.len());
                    state.accounts = Arc::new(accounts);
                }
                Err(problem) => {
                    error!("accounts not reloaded, keeping the last good ones: {problem}")
                }
            }
        }
        Arc::clone(&state.accounts)
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

// ---- rewriting the file ---------------------------------------------------

/// Where a section's lines are in the text: header line index, and the index
/// one past its last line.
fn find_section(lines: &[&str], name: &str) -> Option<(usize, usize)> {
    let header = lines
        .iter()
        .position(|line| section_name(line) == Some(name))?;
    let end = lines[header + 1..]
        .iter()
        .position(|line| section_name(line).is_some())
        .map_or(lines.len(), |offset| header + 1 + offset);
    Some((header, end))
}

fn section_name(line: &str) -> Option<&str> {
    let line = line.trim();
    let inner = line.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(inner[..end].trim())
}

fn key_of(line: &str) -> Option<&str> {
    let line = line.trim_start();
    if line.starts_with([';', '#']) {
        return None;
    }
    line.split_once('=').map(|(key, _)| key.trim())
}

/// Sets `key = value` in section `name`: replaces the existing line, or adds
/// one after the header. Returns `None` if the section does not exist.
pub fn set_key(text: &str, name: &str, key: &str, value: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (header, end) = find_section(&lines, name)?;
    let new_line = format!("{key} = {value}");
    let mut out: Vec<String> = lines.iter().map(|line| line.to_string()).collect();
    match (header + 1..end).find(|&index| key_of(lines[index]) == Some(key)) {
        Some(index) => out[index] = new_line,
        None => out.insert(header + 1, new_line),
    }
    Some(join_lines(&out))
}

/// Appends a new section with the given keys.
pub fn add_section(text: &str, name: &str, keys: &[(&str, String)]) -> String {
    let mut out = text.trim_end_matches('\n').to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(&format!("[{name}]\n"));
    for (key, value) in keys {
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

/// Removes a section (its header and every line up to the next one).
/// Returns `None` if it does not exist.
pub fn remove_section(text: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let (header, end) = find_section(&lines, name)?;
    let out: Vec<String> = lines[..header]
        .iter()
        .chain(&lines[end..])
        .map(|line| line.to_string())
        .collect();
    Some(join_lines(&out))
}

fn join_lines(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Replaces `path` with `text` atomically: temp file in the same folder,
/// fsync, rename, fsync the folder.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map_or_else(|| "accounts.ini".into(), |n| n.to_os_string());
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(&file_name);
    temp_name.push(format!(".tmp{}", std::process::id()));
    let temp = dir.join(temp_name);
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        // Keep the old file's permissions (an account file may be 0600).
        if let Ok(meta) = std::fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "5f4dcc3b5aa765d61d8327deb882cf99";

    fn load(text: &str) -> Result<Accounts, ConfigError> {
        let dir = std::env::temp_dir().join(format!(
            "pocketftpd-accounts-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("accounts.ini");
        std::fs::write(&path, text).unwrap();
        let result = Accounts::load(&path, Path::new("/srv/home"));
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn full_account_loads() {
        let accounts = load(&format!(
            "; demo\n[curry]\npassword = {HASH}\nquota = 100M ; big\nhome = shared/curry\nread_only = yes\n\
             [james]\npassword = {HASH}\nquota = 0\n"
        ))
        .unwrap();
        let curry = accounts.get("curry").unwrap();
        assert_eq!(curry.quota_bytes, Some(100 << 20));
        assert_eq!(curry.home, PathBuf::from("/srv/home/shared/curry"));
        assert!(curry.read_only);
        let james = accounts.get("james").unwrap();
        assert_eq!(james.quota_bytes, None);
        assert_eq!(james.home, PathBuf::from("/srv/home/james"));
    }

    #[test]
    fn each_error_names_file_section_key_and_problem() {
        let table = [
            (
                format!("[a]\npassword = {HASH}\nquota = 12Q\n"),
                "[a] quota: expected a size",
            ),
            (
                format!("[a]\npassword = {HASH}\ncolour = red\n"),
                "[a] colour: unknown key",
            ),
            (
                format!("[a]\npassword = {HASH}\n[a]\npassword = {HASH}\n"),
                "[a]: duplicate user",
            ),
            (
                format!("[a]\npassword = {HASH}\nhome = ../b\n"),
                "[a] home: the home must be a folder inside",
            ),
            (
                format!("[a]\npassword = {HASH}\nhome = /etc\n"),
                "[a] home: the home must be a folder inside",
            ),
            ("[a]\nquota = 1M\n".to_string(), "[a] password: missing"),
            (
                "[a]\npassword = hunter2\n".to_string(),
                "[a] password: not an argon2 PHC string",
            ),
            (
                format!("[../x]\npassword = {HASH}\n"),
                "[../x]: bad user name",
            ),
            (
                format!("[a]\npassword = {HASH}\nread_only = perhaps\n"),
                "[a] read_only: expected true or false",
            ),
            (
                format!("[a]\npassword = {HASH}\n[b]\npassword = {HASH}\nhome = a/b\n"),
                "[b]: home is inside (or the same as) the home of [a]",
            ),
            (
                format!("[a]\npassword = {HASH}\n[b]\npassword = {HASH}\nhome = a\n"),
                "home is inside (or the same as) the home of",
            ),
        ];
        for (text, expected) in table {
            let message = load(&text).unwrap_err().to_string();
            assert!(message.contains("accounts.ini: "), "{message}");
            assert!(message.contains(expected), "{text:?} -> {message}");
        }
    }

    #[test]
    fn editing_keeps_comments_and_other_sections() {
        let text =
            "; top comment\n[a]\n; a's note\npassword = old\nquota = 1M\n\n[b]\npassword = x\n";
        let changed = set_key(text, "a", "password", "new").unwrap();
        assert_eq!(
            changed,
            "; top comment\n[a]\n; a's note\npassword = new\nquota = 1M\n\n[b]\npassword = x\n"
        );
        let added = add_section(
            &changed,
            "c",
            &[("password", "h".into()), ("quota", "0".into())],
        );
        assert!(added.ends_with("[b]\npassword = x\n\n[c]\npassword = h\nquota = 0\n"));
        let removed = remove_section(&added, "a").unwrap();
        assert_eq!(
            removed,
            "; top comment\n[b]\npassword = x\n\n[c]\npassword = h\nquota = 0\n"
        );
        assert!(set_key(text, "zz", "password", "p").is_none());
        assert!(remove_section(text, "zz").is_none());
    }

    #[test]
    fn set_key_adds_a_missing_key_after_the_header() {
        let text = "[a]\nquota = 1M\n";
        assert_eq!(
            set_key(text, "a", "password", "p").unwrap(),
            "[a]\npassword = p\nquota = 1M\n"
        );
    }
}
