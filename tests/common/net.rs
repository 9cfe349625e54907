//! Helpers for the hardening tests: sockets from the "foreign" address
//! 127.0.0.2, a real server binary in a child process, and the fd and
//! memory figures of this process (where the in-process server runs).

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStderr, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{RawClient, pocketftpd_command};

/// The address tests use as "another machine" (loopback, so binding a client
/// socket to it before connecting works on Linux).
pub const FOREIGN: &str = "127.0.0.2";

/// Connects to `target` from `local` (port chosen by the kernel).
pub fn connect_from(local: &str, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    let local: IpAddr = local.parse().expect("an IP address");
    socket.bind(&SockAddr::from(SocketAddr::new(local, 0)))?;
    socket.connect_timeout(&SockAddr::from(target), Duration::from_secs(5))?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(stream)
}

/// A raw control client whose connection comes from `local`; the greeting
/// (or refusal) is left unread.
pub fn raw_from(local: &str, target: SocketAddr) -> RawClient {
    RawClient::from_stream(connect_from(local, target).unwrap())
}

/// Closes `stream` with a RST instead of a FIN (SO_LINGER 0), the way a
/// crashed client or a pulled cable looks to the server.
pub fn reset(stream: TcpStream) {
    let socket = Socket::from(stream);
    let _ = socket.set_linger(Some(Duration::ZERO));
    drop(socket);
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Resident memory of this process in KiB (VmRSS).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// The real server binary, running on `dir/settings.ini`, with its stderr
/// collected line by line on a thread.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    /// Every stderr line seen so far.
    pub log: Vec<String>,
}

impl ServerProcess {
    /// Starts the binary and waits (up to 30 s) for its `listening on` line.
    pub fn start(dir: &Path) -> ServerProcess {
        let mut child = pocketftpd_command()
            .arg("--config")
            .arg(dir.join("settings.ini"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the pocketftpd binary starts");
        let stderr: ChildStderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = ServerProcess {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            lines,
            log: Vec::new(),
        };
        let line = process
            .wait_for_log(Duration::from_secs(30), |line| {
                line.contains("listening on ")
            })
            .unwrap_or_else(|| panic!("no `listening on` line; log: {:#?}", process.log));
        let addr = line.rsplit("listening on ").next().unwrap().trim();
        process.addr = addr.parse().unwrap();
        process
    }

    /// Waits until a stderr line matches, returning it; None at the deadline
    /// or when stderr closes.
    pub fn wait_for_log(
        &mut self,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            self.log.push(line.clone());
            if matches(&line) {
                return Some(line);
            }
        }
    }

    /// Sends a signal (by number) to the server.
    pub fn signal(&self, signal: i32) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit, up to `timeout`; returns its exit
    /// code (None if killed by a signal) and collects the rest of stderr.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                    self.log.push(line);
                }
                return Some(status.code());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads from `stream` until EOF or error; returns the bytes read.
pub fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    bytes
}
