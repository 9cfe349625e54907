//! Test harness: a real pocketftpd on 127.0.0.1:0 in a temporary folder,
//! plus helpers to drive it with independent clients (Python's ftplib,
//! curl, lftp) and a raw control-connection client for what real clients
//! won't send.
//!
//! `TestServer` writes settings.ini, accounts.ini (cheap argon2 parameters
//! so tests stay fast) and home/ into a fresh folder, binds port 0, and runs
//! the server on a thread. Dropping it shuts the server down and removes the
//! folder.

#![allow(dead_code)]

pub mod net;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pocketftpd::auth::{HashCost, Password, PasswordHash};
use pocketftpd::config::Settings;
use pocketftpd::server::{Server, ShutdownHandle};

/// Cheap hashing for tests: real argon2id, tiny cost.
pub const TEST_HASH_COST: HashCost = HashCost {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

/// One account to create.
#[derive(Clone, Debug)]
pub struct TestAccount {
    pub name: String,
    pub password: String,
    /// `quota = ...` value, e.g. "1M"; None = unlimited.
    pub quota: Option<String>,
    pub read_only: bool,
    /// `home = ...` value; None = the name.
    pub home: Option<String>,
}

impl TestAccount {
    pub fn new(name: &str, password: &str) -> TestAccount {
        TestAccount {
            name: name.to_string(),
            password: password.to_string(),
            quota: None,
            read_only: false,
            home: None,
        }
    }
    pub fn quota(mut self, quota: &str) -> TestAccount {
        self.quota = Some(quota.to_string());
        self
    }
    pub fn read_only(mut self) -> TestAccount {
        self.read_only = true;
        self
    }
    pub fn home(mut self, home: &str) -> TestAccount {
        self.home = Some(home.to_string());
        self
    }

    /// The accounts.ini section for this account.
    pub fn section(&self) -> String {
        let PasswordHash::Argon2(hash) = TEST_HASH_COST
            .hash(&Password::new(self.password.clone()))
            .unwrap()
        else {
            unreachable!()
        };
        let mut text = format!("[{}]\npassword = {hash}\n", self.name);
        if let Some(quota) = &self.quota {
            text.push_str(&format!("quota = {quota}\n"));
        }
        if let Some(home) = &self.home {
            text.push_str(&format!("home = {home}\n"));
        }
        if self.read_only {
            text.push_str("read_only = true\n");
        }
        text
    }
}

/// A fresh temporary folder, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "pocketftpd-test-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Builder for a test server's settings.
pub struct TestServerBuilder {
    accounts: Vec<TestAccount>,
    server_lines: Vec<String>,
    auth_lines: Vec<String>,
}

impl TestServerBuilder {
    /// Adds a `key = value` line to [server].
    pub fn server(mut self, line: &str) -> Self {
        self.server_lines.push(line.to_string());
        self
    }
    /// Adds a `key = value` line to [auth].
    pub fn auth(mut self, line: &str) -> Self {
        self.auth_lines.push(line.to_string());
        self
    }
    pub fn start(self) -> TestServer {
        let dir = TempDir::new("server");
        write_config(
            &dir.path,
            &self.accounts,
            &self.server_lines,
            &self.auth_lines,
        );
        TestServer::start_in(dir)
    }
}

/// Appends `key = value` lines to the INI text, each replacing an earlier
/// line with the same key (the defaults above it).
fn override_keys(settings: &mut String, lines: &[String]) {
    for line in lines {
        let key = line.split('=').next().unwrap().trim();
        *settings = settings
            .lines()
            .filter(|existing| existing.split('=').next().unwrap().trim() != key)
            .map(|l| format!("{l}\n"))
            .collect();
        settings.push_str(line);
        settings.push('\n');
    }
}

/// Writes settings.ini, accounts.ini and the homes into `dir`.
pub fn write_config(
    dir: &Path,
    accounts: &[TestAccount],
    server_lines: &[String],
    auth_lines: &[String],
) {
    let mut settings = String::from(
        "[server]\nlisten = 127.0.0.1:0\nmax_connections = 8\nidle_timeout = 60\nlogin_timeout = 30\n\
         data_timeout = 10\nshutdown_grace = 2\naccounts = accounts.ini\nhome_root = home\n",
    );
    override_keys(&mut settings, server_lines);
    // Below the ephemeral range, so passive ports never collide with the
    // clients' own source ports.
    settings.push_str("[passive]\nports = 20000-32000\n");
    settings.push_str(
        "[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\nlogin_fail_delay_ms = 50\n",
    );
    override_keys(&mut settings, auth_lines);
    std::fs::write(dir.join("settings.ini"), settings).unwrap();
    let accounts_text: String = accounts.iter().map(|a| a.section() + "\n").collect();
    std::fs::write(dir.join("accounts.ini"), accounts_text).unwrap();
    for account in accounts {
        let home = dir
            .join("home")
            .join(account.home.as_deref().unwrap_or(&account.name));
        std::fs::create_dir_all(home).unwrap();
    }
}

/// A running server; stops and cleans up on drop.
pub struct TestServer {
    pub dir: TempDir,
    pub addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server with these accounts and default test settings.
    pub fn start(accounts: &[TestAccount]) -> TestServer {
        TestServer::builder(accounts).start()
    }

    pub fn builder(accounts: &[TestAccount]) -> TestServerBuilder {
        TestServerBuilder {
            accounts: accounts.to_vec(),
            server_lines: Vec::new(),
            auth_lines: Vec::new(),
        }
    }

    /// Starts a server on a folder already holding its config.
    pub fn start_in(dir: TempDir) -> TestServer {
        let _ = env_logger::builder().is_test(true).try_init();
        let settings = Settings::load(&dir.path.join("settings.ini")).unwrap();
        let server = Server::bind(settings).unwrap();
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let thread = std::thread::spawn(move || server.run().unwrap());
        TestServer {
            dir,
            addr,
            handle,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The real home folder of `user` (default layout).
    pub fn home(&self, user: &str) -> PathBuf {
        self.dir.path.join("home").join(user)
    }

    pub fn settings_path(&self) -> PathBuf {
        self.dir.path.join("settings.ini")
    }

    pub fn accounts_path(&self) -> PathBuf {
        self.dir.path.join("accounts.ini")
    }

    /// `ftp://user:pass@127.0.0.1:port/`
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("ftp://{user}:{password}@127.0.0.1:{}/", self.port())
    }

    /// Stops the server and waits for it (also done on drop).
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.shutdown();
            thread.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- independent clients ---------------------------------------------------

fn require_tool(tool: &str, install: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is needed by this test and is not installed: {install}"
    );
}

/// Runs a Python 3 script (stdin) with `args`; ftplib is in Python's stdlib.
pub fn python(script: &str, args: &[&str]) -> Output {
    require_tool("python3", "apt-get install -y python3");
    let mut child = Command::new("python3")
        .arg("-")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs a Python script and asserts it succeeded; returns its stdout.
pub fn python_ok(script: &str, args: &[&str]) -> String {
    let output = python(script, args);
    assert!(
        output.status.success(),
        "python failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs curl with `args` (silent, showing errors).
pub fn curl(args: &[&str]) -> Output {
    require_tool("curl", "apt-get install -y curl");
    Command::new("curl")
        .args(["-sS", "--max-time", "60"])
        .args(args)
        .output()
        .unwrap()
}

/// Runs lftp with a command script.
pub fn lftp(script: &str) -> Output {
    require_tool("lftp", "apt-get install -y lftp");
    Command::new("lftp").args(["-c", script]).output().unwrap()
}

/// The lftp preamble for a server: no TLS, short timeouts, no retries.
pub fn lftp_open(server: &TestServer, user: &str, password: &str) -> String {
    format!(
        "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; \
         open -u {user},{password} -p {} 127.0.0.1",
        server.port()
    )
}

/// Deterministic pseudo-random bytes (xorshift), so tests need no rand crate.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// MD5 of bytes, as hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of bytes, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The server binary, behind the cross-test runner (qemu) when one is set
/// for this target, so tests that spawn it work under `cargo test --target`.
pub fn pocketftpd_command() -> Command {
    let binary = env!("CARGO_BIN_EXE_pocketftpd");
    match runner() {
        Some(mut words) => {
            let mut command = Command::new(words.remove(0));
            command.args(words).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// The `CARGO_TARGET_<TRIPLE>_RUNNER` set for this build's target, if any
/// (.ci/cross exports them; `. .ci/cross-env.sh` does the same by hand).
///
/// The triple is matched by architecture and libc. On stable Rust, cfg can't
/// tell ARMv6 from ARMv7 (`target_feature = "v7"` is never set), so for `arm`
/// both `ARM_` and `ARMV7_` runners match; when both are set, the ARMv7 one
/// wins: an ARMv7 CPU model runs ARMv6 code too, while an ARMv7 binary dies
/// under `-cpu arm1176`. The test binary itself still runs under the runner
/// cargo chose, so an ARMv6 test run still proves the build is ARMv6.
fn runner() -> Option<Vec<String>> {
    let arch = std::env::consts::ARCH.to_uppercase();
    let libc = if cfg!(target_env = "musl") {
        "MUSL"
    } else {
        "GNU"
    };
    let mut candidates: Vec<(String, Vec<String>)> = std::env::vars()
        .filter_map(|(key, value)| {
            let triple = key
                .strip_prefix("CARGO_TARGET_")?
                .strip_suffix("_RUNNER")?
                .to_string();
            let words: Vec<String> = value.split_whitespace().map(str::to_string).collect();
            (!words.is_empty()).then_some((triple, words))
        })
        .filter(|(triple, _)| {
            let arch_ok = match arch.as_str() {
                "ARM" => triple.starts_with("ARM_") || triple.starts_with("ARMV7_"),
                other => triple.starts_with(&format!("{other}_")),
            };
            arch_ok && triple.contains(&format!("_LINUX_{libc}"))
        })
        .collect();
    // ARMV7_ sorts before ARM_U...: prefer it (see above).
    candidates.sort_by_key(|(triple, _)| !triple.starts_with("ARMV7_"));
    candidates.into_iter().next().map(|(_, words)| words)
}

// ---- raw control connection -----------------------------------------------

/// A bare control connection for what real clients won't send.
pub struct RawClient {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl RawClient {
    /// Connects and reads the greeting.
    pub fn connect(server: &TestServer) -> RawClient {
        let mut client = RawClient::connect_only(server.addr);
        let (code, _) = client.reply();
        assert_eq!(code, 220);
        client
    }

    /// Connects without reading anything.
    pub fn connect_only(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        RawClient::from_stream(stream)
    }

    /// Wraps a connected stream (e.g. one bound to another source address).
    pub fn from_stream(stream: TcpStream) -> RawClient {
        let reader = BufReader::new(stream.try_clone().unwrap());
        RawClient { stream, reader }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a command line (CRLF added) and reads the reply.
    pub fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Reads one whole reply (multi-line aware): code and all text lines.
    pub fn reply(&mut self) -> (u16, String) {
        let first = self.line();
        assert!(first.len() >= 4, "short reply line {first:?}");
        let code: u16 = first[..3]
            .parse()
            .unwrap_or_else(|_| panic!("bad reply {first:?}"));
        let mut text = first.clone();
        if first.as_bytes()[3] == b'-' {
            let end = format!("{code} ");
            loop {
                let line = self.line();
                text.push('\n');
                text.push_str(&line);
                if line.starts_with(&end) {
                    break;
                }
            }
        }
        (code, text)
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    pub fn line(&mut self) -> String {
        let mut line = Vec::new();
        let read = self.reader.read_until(b'\n', &mut line).unwrap();
        assert!(read > 0, "connection closed while waiting for a reply");
        assert!(line.ends_with(b"\r\n"), "reply line without CRLF: {line:?}");
        line.truncate(line.len() - 2);
        String::from_utf8(line).unwrap()
    }

    /// Whether the server closed the connection (reads until EOF or the
    /// timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    /// Logs in, asserting success.
    pub fn login(&mut self, user: &str, password: &str) {
        assert_eq!(self.cmd(&format!("USER {user}")).0, 331);
        let (code, text) = self.cmd(&format!("PASS {password}"));
        assert_eq!(code, 230, "{text}");
    }

    /// Sends EPSV and connects to the data port.
    pub fn epsv_connect(&mut self) -> TcpStream {
        let (code, text) = self.cmd("EPSV");
        assert_eq!(code, 229, "{text}");
        let start = text.find("|||").unwrap() + 3;
        let end = text[start..].find('|').unwrap() + start;
        let port: u16 = text[start..end].parse().unwrap();
        let data = TcpStream::connect(("127.0.0.1", port)).unwrap();
        data.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        data
    }

    /// Downloads a file over EPSV; returns (final code, bytes).
    pub fn retr(&mut self, path: &str) -> (u16, Vec<u8>) {
        let mut data = self.epsv_connect();
        let (code, text) = self.cmd(&format!("RETR {path}"));
        if code != 150 {
            return (code, Vec::new());
        }
        let _ = text;
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).unwrap();
        (self.reply().0, bytes)
    }

    /// Starts an upload of `path` and sends `first` over the data
    /// connection, which stays open: the upload is in progress once the 150
    /// has arrived.
    pub fn start_upload(&mut self, verb: &str, path: &str, first: &[u8]) -> TcpStream {
        let mut data = self.epsv_connect();
        let (code, text) = self.cmd(&format!("{verb} {path}"));
        assert_eq!(code, 150, "{text}");
        data.write_all(first).unwrap();
        data
    }

    /// Uploads bytes over EPSV with `verb` (STOR/APPE); returns the final code.
    pub fn upload(&mut self, verb: &str, path: &str, bytes: &[u8]) -> (u16, String) {
        let mut data = self.epsv_connect();
        let (code, text) = self.cmd(&format!("{verb} {path}"));
        if code != 150 {
            return (code, text);
        }
        // The server may stop reading (quota); a failed write is expected then.
        let _ = data.write_all(bytes);
        drop(data);
        self.reply()
    }
}

/// Whether a new client gets its 220 greeting within `timeout`, i.e. a
/// worker is (again) free to serve it.
pub fn a_worker_is_free(addr: SocketAddr, timeout: Duration) -> bool {
    wait_until(timeout, || {
        let mut next = RawClient::connect_only(addr);
        next.reply().0 == 220
    })
}

/// Polls `check` until it is true or `timeout` passes; for events with no
/// reply to wait on (a thread count settling, a file appearing).
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}
