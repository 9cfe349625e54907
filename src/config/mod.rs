//! settings.ini -> typed [`Settings`]; accounts live in [`accounts`].
//!
//! Config is read once at start into typed structs and handed down; nothing
//! reads the INI text later. Every problem becomes one [`ConfigError`] that
//! names the file, the place (line, or section and key) and what is wrong, so
//! `pocketftpd` can stop with one useful line. Like vsftpd's parseconf.c, an
//! unknown key is an error, not a silent no-op: a typo in `max_conections`
//! must not leave a server running with the default.
//!
//! Relative paths resolve against the folder that holds settings.ini, so the
//! server runs from a USB stick whatever the working directory.

pub mod accounts;

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use ini::{Ini, ParseOption, Properties};
use thiserror::Error;

use crate::auth::HashCost;

/// A config file that cannot be used. Each variant names the file.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// The INI text itself is malformed.
    #[error("{file}: line {line}: {problem}")]
    Syntax {
        file: String,
        line: usize,
        problem: String,
    },
    /// A section is unknown, duplicated or incomplete.
    #[error("{file}: [{section}]: {problem}")]
    Section {
        file: String,
        section: String,
        problem: String,
    },
    /// A key has a bad value, or is unknown.
    #[error("{file}: [{section}] {key}: {problem}")]
    Key {
        file: String,
        section: String,
        key: String,
        problem: String,
    },
}

/// Everything settings.ini says, typed and with defaults filled in.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where settings.ini was read from.
    pub settings_file: PathBuf,
    // [server]
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Worker threads, and so sessions served at once.
    pub max_connections: usize,
    /// Sessions one address may hold at once; 0 = no limit.
    pub max_connections_per_ip: usize,
    /// Clients that may wait (told 120) for a free worker; 0 = refuse at once.
    pub queue_size: usize,
    /// How long a queued client may wait before 421.
    pub queue_timeout: Duration,
    /// Seconds without a command before 421 and close, once logged in.
    pub idle_timeout: Duration,
    /// How long a client has from connecting to finishing its login.
    pub login_timeout: Duration,
    /// How long a data connection may take to open, or stall mid-transfer.
    pub data_timeout: Duration,
    /// On SIGTERM, how long running sessions get to finish.
    pub shutdown_grace: Duration,
    /// The account file.
    pub accounts_file: PathBuf,
    /// The folder that holds every home.
    pub home_root: PathBuf,
    /// Text of the 220 greeting.
    pub banner: String,
    /// Whether PORT/EPRT (active mode) are allowed.
    pub allow_active: bool,
    // [passive]
    /// Ports for PASV/EPSV listeners, inclusive.
    pub passive_ports: (u16, u16),
    /// Address advertised in PASV replies instead of the control socket's own.
    pub passive_address: Option<Ipv4Addr>,
    // [auth]
    /// Delay before answering a failed login.
    pub login_fail_delay: Duration,
    /// Failed logins one connection may make before 421 and close.
    pub max_login_attempts: u32,
    /// Failed logins from one address, within `ban_window`, before a ban; 0 = never ban.
    pub ban_after: u32,
    /// Window over which failures count towards a ban.
    pub ban_window: Duration,
    /// How long a banned address is refused.
    pub ban_time: Duration,
    /// argon2 verifications allowed at once (bounds memory).
    pub hash_concurrency: usize,
    /// argon2 cost for new hashes.
    pub hash_cost: HashCost,
}

impl Settings {
    /// Defaults for everything, as if settings.ini were empty; paths resolve
    /// against `dir`.
    pub fn defaults(dir: &Path) -> Settings {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Settings {
            settings_file: dir.join("settings.ini"),
            listen: SocketAddr::from(([127, 0, 0, 1], 2121)),
            max_connections: 10,
            max_connections_per_ip: 0,
            queue_size: 0,
            queue_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            accounts_file: dir.join("accounts.ini"),
            home_root: dir.join("home"),
            banner: "pocketftpd ready.".to_string(),
            allow_active: true,
            passive_ports: (50000, 50100),
            passive_address: None,
            login_fail_delay: Duration::from_millis(1000),
            max_login_attempts: 3,
            ban_after: 10,
            ban_window: Duration::from_secs(300),
            ban_time: Duration::from_secs(900),
            hash_concurrency: cores,
            hash_cost: HashCost::default(),
        }
    }

    /// Reads and checks settings.ini.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let file = path.display().to_string();
        let ini = read_ini(path)?;
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let mut settings = Settings::defaults(&dir);
        settings.settings_file = path.to_path_buf();
        for (section, props) in ini.iter() {
            let Some(section) = section else {
                if let Some((key, _)) = props.iter().next() {
                    return Err(key_error(&file, "", key, "keys must sit inside a section"));
                }
                continue;
            };
            let mut reader = KeyReader {
                file: &file,
                section,
                props,
            };
            match section {
                "server" => settings.read_server(&mut reader, &dir)?,
                "passive" => settings.read_passive(&mut reader)?,
                "auth" => settings.read_auth(&mut reader)?,
                _ => {
                    return Err(ConfigError::Section {
                        file,
                        section: section.to_string(),
                        problem: "unknown section (expected server, passive or auth)".into(),
                    });
                }
            }
        }
        Ok(settings)
    }

    fn read_server(&mut self, keys: &mut KeyReader<'_>, dir: &Path) -> Result<(), ConfigError> {
        for (key, value) in keys.props.iter() {
            match key {
                "listen" => self.listen = keys.parse(key, value, parse_listen)?,
                "max_connections" => {
                    self.max_connections = keys.parse(key, value, |v| parse_range(v, 1, 10_000))?
                }
                "max_connections_per_ip" => {
                    self.max_connections_per_ip =
                        keys.parse(key, value, |v| parse_range(v, 0, 10_000))?
                }
                "queue_size" => {
                    self.queue_size = keys.parse(key, value, |v| parse_range(v, 0, 10_000))?
                }
                "queue_timeout" => self.queue_timeout = keys.parse(key, value, parse_seconds)?,
                "idle_timeout" => self.idle_timeout = keys.parse(key, value, parse_seconds)?,
                "login_timeout" => self.login_timeout = keys.parse(key, value, parse_seconds)?,
                "data_timeout" => self.data_timeout = keys.parse(key, value, parse_seconds)?,
                "shutdown_grace" => {
                    self.shutdown_grace = keys.parse(key, value, parse_seconds_or_zero)?
                }
                "accounts" => {
                    self.accounts_file = keys.parse(key, value, |v| parse_path(v, dir))?
                }
                "home_root" => self.home_root = keys.parse(key, value, |v| parse_path(v, dir))?,
                "banner" => self.banner = keys.parse(key, value, parse_banner)?,
                "allow_active" => self.allow_active = keys.parse(key, value, parse_bool)?,
                _ => return Err(keys.unknown(key)),
            }
        }
        Ok(())
    }

    fn read_passive(&mut self, keys: &mut KeyReader<'_>) -> Result<(), ConfigError> {
        for (key, value) in keys.props.iter() {
            match key {
                "ports" => self.passive_ports = keys.parse(key, value, parse_port_range)?,
                "address" => {
                    self.passive_address = keys.parse(key, value, |v| {
                        if v.is_empty() {
                            Ok(None)
                        } else {
                            v.parse::<Ipv4Addr>()
                                .map(Some)
                                .map_err(|_| "expected an IPv4 address such as 192.168.1.20".into())
                        }
                    })?
                }
                _ => return Err(keys.unknown(key)),
            }
        }
        Ok(())
    }

    fn read_auth(&mut self, keys: &mut KeyReader<'_>) -> Result<(), ConfigError> {
        for (key, value) in keys.props.iter() {
            match key {
                "login_fail_delay_ms" => {
                    self.login_fail_delay = keys.parse(key, value, |v| {
                        parse_range(v, 0, 60_000).map(|ms| Duration::from_millis(ms as u64))
                    })?
                }
                "max_login_attempts" => {
                    self.max_login_attempts =
                        keys.parse(key, value, |v| parse_range(v, 1, 100).map(|n| n as u32))?
                }
                "ban_after" => {
                    self.ban_after =
                        keys.parse(key, value, |v| parse_range(v, 0, 10_000).map(|n| n as u32))?
                }
                "ban_window" => self.ban_window = keys.parse(key, value, parse_seconds)?,
                "ban_time" => self.ban_time = keys.parse(key, value, parse_seconds)?,
                "hash_concurrency" => {
                    let cores = std::thread::available_parallelism().map_or(1, usize::from);
                    self.hash_concurrency = keys.parse(key, value, |v| {
                        parse_range(v, 0, 1024).map(|n| if n == 0 { cores } else { n })
                    })?
                }
                "argon2_memory_kib" => {
                    self.hash_cost.memory_kib = keys.parse(key, value, |v| {
                        parse_range(v, 8, 4 * 1024 * 1024).map(|n| n as u32)
                    })?
                }
                "argon2_iterations" => {
                    self.hash_cost.iterations =
                        keys.parse(key, value, |v| parse_range(v, 1, 100).map(|n| n as u32))?
                }
                "argon2_parallelism" => {
                    self.hash_cost.parallelism =
                        keys.parse(key, value, |v| parse_range(v, 1, 64).map(|n| n as u32))?
                }
                _ => return Err(keys.unknown(key)),
            }
        }
        self.hash_cost
            .validate()
            .map_err(|error| ConfigError::Section {
                file: keys.file.to_string(),
                section: "auth".into(),
                problem: error.to_string(),
            })
    }

    /// The lines logged at start: every effective setting, one per line.
    pub fn summary(&self) -> Vec<String> {
        vec![
            format!("settings file: {}", self.settings_file.display()),
            format!("listen: {}", self.listen),
            format!(
                "max_connections: {} (per ip: {}, queue: {} for {:?})",
                self.max_connections,
                self.max_connections_per_ip,
                self.queue_size,
                self.queue_timeout
            ),
            format!(
                "timeouts: idle {:?}, login {:?}, data {:?}, shutdown grace {:?}",
                self.idle_timeout, self.login_timeout, self.data_timeout, self.shutdown_grace
            ),
            format!("accounts: {}", self.accounts_file.display()),
            format!("home_root: {}", self.home_root.display()),
            format!(
                "passive ports: {}-{}, advertised address: {}",
                self.passive_ports.0,
                self.passive_ports.1,
                self.passive_address
                    .map_or_else(|| "(control connection's)".to_string(), |a| a.to_string())
            ),
            format!("active mode (PORT/EPRT): {}", self.allow_active),
            format!(
                "logins: fail delay {:?}, {} tries per connection, ban after {} in {:?} for {:?}",
                self.login_fail_delay,
                self.max_login_attempts,
                self.ban_after,
                self.ban_window,
                self.ban_time
            ),
            format!(
                "argon2id: m={} KiB, t={}, p={}, at most {} at once",
                self.hash_cost.memory_kib,
                self.hash_cost.iterations,
                self.hash_cost.parallelism,
                self.hash_concurrency
            ),
        ]
    }
}

/// Reads an INI file with the options every pocketftpd file uses: inline
/// `;`/`#` comments allowed, no escapes or quotes (hash strings are taken
/// byte for byte).
pub(crate) fn read_ini(path: &Path) -> Result<Ini, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    // rust-ini reads an unclosed `[section` to the end of the file and then
    // blames the last line; check headers first so the error names the
    // right line.
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') && !line.contains(']') {
            return Err(ConfigError::Syntax {
                file,
                line: index + 1,
                problem: "section header without closing ']'".into(),
            });
        }
    }
    let options = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..ParseOption::default()
    };
    Ini::load_from_str_opt(&text, options).map_err(|error| ConfigError::Syntax {
        file,
        line: error.line,
        problem: error.msg.to_string(),
    })
}

/// Reads the keys of one section, turning each bad value into a
/// [`ConfigError::Key`] that names file, section and key.
pub(crate) struct KeyReader<'a> {
    pub(crate) file: &'a str,
    pub(crate) section: &'a str,
    pub(crate) props: &'a Properties,
}

impl KeyReader<'_> {
    pub(crate) fn parse<T>(
        &mut self,
        key: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        if self.props.get_all(key).count() > 1 {
            return Err(key_error(
                self.file,
                self.section,
                key,
                "given more than once",
            ));
        }
        // `key =   ; comment` reaches us as "; comment": an empty value.
        let value = value.trim();
        let value = if value.starts_with([';', '#']) {
            ""
        } else {
            value
        };
        parse(value).map_err(|problem| key_error(self.file, self.section, key, &problem))
    }

    pub(crate) fn unknown(&self, key: &str) -> ConfigError {
        key_error(self.file, self.section, key, "unknown key")
    }
}

pub(crate) fn key_error(file: &str, section: &str, key: &str, problem: &str) -> ConfigError {
    ConfigError::Key {
        file: file.to_string(),
        section: section.to_string(),
        key: key.to_string(),
        problem: problem.to_string(),
    }
}

fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // Allow host names such as localhost:2121; take the first address.
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            format!("expected address:port such as 127.0.0.1:2121 or [::]:2121, got {value:?}")
        })
}

fn parse_range(value: &str, min: usize, max: usize) -> Result<usize, String> {
    let number: usize = value
        .parse()
        .map_err(|_| format!("expected a whole number, got {value:?}"))?;
    if number < min || number > max {
        return Err(format!("must be between {min} and {max}, got {number}"));
    }
    Ok(number)
}

fn parse_seconds(value: &str) -> Result<Duration, String> {
    parse_range(value, 1, 86_400).map(|s| Duration::from_secs(s as u64))
}

fn parse_seconds_or_zero(value: &str) -> Result<Duration, String> {
    parse_range(value, 0, 86_400).map(|s| Duration::from_secs(s as u64))
}

/// `true/false`, `yes/no`, `on/off`, `1/0`.
pub(crate) fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got {value:?}")),
    }
}

fn parse_banner(value: &str) -> Result<String, String> {
    if value.chars().any(char::is_control) {
        return Err("control characters are not allowed".into());
    }
    if value.len() > 200 {
        return Err("at most 200 characters".into());
    }
    Ok(value.to_string())
}

fn parse_path(value: &str, dir: &Path) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("expected a path".into());
    }
    Ok(dir.join(value))
}

fn parse_port_range(value: &str) -> Result<(u16, u16), String> {
    let bad = || format!("expected a range such as 50000-50100 (1024-65535), got {value:?}");
    let (low, high) = value.split_once('-').ok_or_else(bad)?;
    let low: u16 = low.trim().parse().map_err(|_| bad())?;
    let high: u16 = high.trim().parse().map_err(|_| bad())?;
    if low < 1024 || low > high {
        return Err(bad());
    }
    Ok((low, high))
}

/// Parses a size: a whole number with an optional K, M, G or T suffix (1024
/// multiples), optionally followed by `B` or `iB`. `0` means unlimited.
pub fn parse_size(value: &str) -> Result<u64, String> {
    let bad = || format!("expected a size such as 500K, 100M or 2G, got {value:?}");
    let text = value.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return Err(bad());
    }
    let number: u64 = text[..digits_end].parse().map_err(|_| bad())?;
    let suffix = text[digits_end..].trim().to_ascii_uppercase();
    let unit = suffix
        .strip_suffix("IB")
        .or_else(|| suffix.strip_suffix('B'))
        .unwrap_or(&suffix);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(bad()),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{value:?} is too large"))
}

/// Joins `relative` onto `root` lexically, refusing anything that climbs
/// out (`..`) or is absolute outside `root`.
pub(crate) fn join_inside(root: &Path, relative: &str) -> Option<PathBuf> {
    let candidate = Path::new(relative);
    let rest = if candidate.is_absolute() {
        candidate.strip_prefix(root).ok()?
    } else {
        candidate
    };
    let mut out = root.to_path_buf();
    for component in rest.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join(format!(
            "pocketftpd-config-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("settings.ini");
        std::fs::write(&path, text).unwrap();
        let result = Settings::load(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("500K"), Ok(500 * 1024));
        assert_eq!(parse_size("100M"), Ok(100 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_size("5MB"), Ok(5 << 20));
        for bad in ["", "12Q", "M", "-1", "1.5M", "99999999999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn demo_style_file_with_inline_comments_loads() {
        let settings = load_text(
            "[server]\nlisten = 127.0.0.1:2121   ; loopback\nmax_connections = 4\n\
             [passive]\nports = 50000-50010\naddress =      ; none\n",
        )
        .unwrap();
        assert_eq!(settings.listen, "127.0.0.1:2121".parse().unwrap());
        assert_eq!(settings.max_connections, 4);
        assert_eq!(settings.passive_ports, (50000, 50010));
        assert_eq!(settings.passive_address, None);
    }

    #[test]
    fn each_error_names_file_section_key_and_problem() {
        let table = [
            (
                "[server]\nmax_connections = abc\n",
                "[server] max_connections: expected a whole number",
            ),
            (
                "[server]\nmax_connections = 0\n",
                "[server] max_connections: must be between 1",
            ),
            (
                "[server]\nmax_conections = 5\n",
                "[server] max_conections: unknown key",
            ),
            (
                "[server]\nlisten = nowhere\n",
                "[server] listen: expected address:port",
            ),
            (
                "[server]\nallow_active = maybe\n",
                "[server] allow_active: expected true or false",
            ),
            (
                "[passive]\nports = 5-1\n",
                "[passive] ports: expected a range",
            ),
            (
                "[passive]\naddress = ::1\n",
                "[passive] address: expected an IPv4",
            ),
            ("[sever]\n", "[sever]: unknown section"),
            (
                "[server]\nidle_timeout = 1\nidle_timeout = 2\n",
                "[server] idle_timeout: given more than once",
            ),
            (
                "[auth]\nargon2_memory_kib = 8\nargon2_parallelism = 4\n",
                "[auth]: bad argon2 parameters",
            ),
        ];
        for (text, expected) in table {
            let message = load_text(text).unwrap_err().to_string();
            assert!(message.contains("settings.ini: "), "{message}");
            assert!(message.contains(expected), "{text:?} -> {message}");
        }
    }

    #[test]
    fn syntax_error_names_the_line() {
        let message = load_text("[server]\nlisten = 1\n[broken\nx = 1\n")
            .unwrap_err()
            .to_string();
        assert!(message.contains("settings.ini: line 3"), "{message}");
    }

    #[test]
    fn join_inside_refuses_escapes() {
        let root = Path::new("/srv/home");
        assert_eq!(
            join_inside(root, "curry"),
            Some(PathBuf::from("/srv/home/curry"))
        );
        assert_eq!(
            join_inside(root, "a/./b"),
            Some(PathBuf::from("/srv/home/a/b"))
        );
        assert_eq!(
            join_inside(root, "/srv/home/x"),
            Some(PathBuf::from("/srv/home/x"))
        );
        assert_eq!(join_inside(root, "../etc"), None);
        assert_eq!(join_inside(root, "a/../../b"), None);
        assert_eq!(join_inside(root, "/etc"), None);
    }
}
