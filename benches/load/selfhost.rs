//! Starts pocketftpd for the benchmark: a fresh temporary folder with settings.ini,
//! accounts.ini and home/, one user added through `pocketftpd user add`, the server on a
//! free loopback port. Dropping the guard stops the server and removes the folder.

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to start listening.
const START_DEADLINE: Duration = Duration::from_secs(20);
/// How long it may take to stop after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// A running pocketftpd and its folder.
pub struct SelfHosted {
    child: Child,
    dir: PathBuf,
    pub addr: SocketAddr,
}

impl SelfHosted {
    /// Lays out the folder, adds the user and starts the server.
    pub fn start(
        bin: &Path,
        base: &Path,
        user: &str,
        pass: &str,
        max_connections: usize,
        passive: (u16, u16),
    ) -> Result<SelfHosted, String> {
        let dir = base.join(format!("pocketftpd-bench-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("home")).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = free_port()?;
        let settings = dir.join("settings.ini");
        let text = format!(
            "[server]\n\
             listen = 127.0.0.1:{port}\n\
             max_connections = {max_connections}\n\
             max_connections_per_ip = 0\n\
             idle_timeout = 300\n\
             accounts = accounts.ini\n\
             home_root = home\n\
             [passive]\n\
             ports = {}-{}\n",
            passive.0, passive.1
        );
        fs::write(&settings, text).map_err(|e| format!("{}: {e}", settings.display()))?;
        fs::write(dir.join("accounts.ini"), "").map_err(|e| format!("accounts.ini: {e}"))?;

        // Add the user, password on stdin.
        let mut add = Command::new(bin)
            .args([
                "user",
                "add",
                user,
                "--password-stdin",
                "--quota",
                "0",
                "--config",
            ])
            .arg(&settings)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        if let Some(mut stdin) = add.stdin.take() {
            let _ = writeln!(stdin, "{pass}");
        }
        let out = add
            .wait_with_output()
            .map_err(|e| format!("user add: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`pocketftpd user add` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }

        let log = fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(&settings)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut server = SelfHosted { child, dir, addr };
        server.wait_listening()?;
        Ok(server)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the port to accept, or for the process to end (an error with its log).
    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                return Err(format!(
                    "pocketftpd exited at startup ({status}); log: {}",
                    log.trim()
                ));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "pocketftpd did not listen on {} within {START_DEADLINE:?}",
            self.addr
        ))
    }
}

impl Drop for SelfHosted {
    fn drop(&mut self) {
        // SIGTERM first so the server can shut down cleanly, SIGKILL if it does not.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}
