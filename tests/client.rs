//! Integration tests for the example client (`examples/client/`): the built client binary
//! runs against the real server on loopback, and every test checks the bytes on disk on
//! both sides as well as what the client printed.
//!
//! Cargo gives tests no `CARGO_BIN_EXE_` path for examples, so the first test to need the
//! client builds it with the same cargo that runs the tests and takes the binary's path
//! from cargo's JSON messages (that stays right with `CARGO_TARGET_DIR`, `--release` and
//! any target directory layout). The client is built for the host: a cross run that sets
//! a `CARGO_TARGET_<TRIPLE>_RUNNER` would need that runner here as well.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::{TempDir, TestAccount, TestServer, md5_hex, random_bytes, sha256_hex};

const USER: &str = "alice";
const PASSWORD: &str = "correct horse";
/// A client run that takes longer than this is hung; the test kills it and fails.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Helpers

/// Path of the client binary, built once per test process.
fn client_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--example", "client", "--message-format=json"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let out = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo to build the client example");
        assert!(out.status.success(), "cargo build --example client failed");
        let json = String::from_utf8_lossy(&out.stdout);
        json.lines()
            .filter(|l| l.contains("\"compiler-artifact\"") && l.contains("\"example\""))
            .find_map(executable_of)
            .expect("cargo reported no executable for the client example")
    })
}

/// The `"executable":"..."` field of one cargo JSON message (paths need only `\\` and `\"`
/// unescaped).
fn executable_of(line: &str) -> Option<PathBuf> {
    let start = line.find("\"executable\":\"")? + "\"executable\":\"".len();
    let mut path = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(PathBuf::from(path)),
            '\\' => path.push(chars.next()?),
            c => path.push(c),
        }
    }
    None
}

/// What one client run left behind.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_ok(&self) -> &Run {
        assert!(
            self.status.success(),
            "client failed: {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `program args` in `dir` with the password in the environment and `stdin` piped
/// in, collecting output; kills it if it outlives RUN_DEADLINE.
fn run_program(program: &Path, args: &[String], dir: &Path, password: &str, stdin: &str) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("FTP_PASSWORD", password)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_string();
    let writer = thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out_pipe.read_to_end(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err_pipe.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + RUN_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{} {args:?} did not finish within {RUN_DEADLINE:?}",
                program.display()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    writer.join().unwrap();
    Run {
        status,
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

/// Runs the client as `client [flags] alice@127.0.0.1:PORT words...` in `dir`.
fn client(server: &TestServer, dir: &Path, words: &[&str]) -> Run {
    client_with(server, dir, PASSWORD, words, "")
}

fn client_with(
    server: &TestServer,
    dir: &Path,
    password: &str,
    words: &[&str],
    stdin: &str,
) -> Run {
    let mut args: Vec<String> = Vec::new();
    // Leading `--flag`s (write `--hash=ALG`) go before the target; the rest is the command.
    let (flags, command): (Vec<&str>, Vec<&str>) = {
        let split = words
            .iter()
            .position(|w| !w.starts_with("--"))
            .unwrap_or(words.len());
        let (f, c) = words.split_at(split);
        (f.to_vec(), c.to_vec())
    };
    args.extend(flags.iter().map(|s| s.to_string()));
    args.push(target(server));
    args.extend(command.iter().map(|s| s.to_string()));
    run_program(client_binary(), &args, dir, password, stdin)
}

fn target(server: &TestServer) -> String {
    format!("{USER}@127.0.0.1:{}", server.port())
}

/// A server with one account and plenty of quota.
fn server() -> TestServer {
    TestServer::start(&[TestAccount::new(USER, PASSWORD)])
}

/// Asserts that the file at `path` holds exactly `want`, without printing megabytes.
fn assert_file_eq(path: &Path, want: &[u8]) {
    let got = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(got.len(), want.len(), "length of {}", path.display());
    assert!(got == want, "content of {} differs", path.display());
}

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Whole transfers

#[test]
fn put_then_get_round_trip_is_byte_equal_and_verified() {
    let server = server();
    let local = TempDir::new("client-roundtrip");
    let data = random_bytes(3 * MIB + 123, 1);
    fs::write(local.path.join("data.bin"), &data).unwrap();

    let put = client(&server, &local.path, &["put", "data.bin"]);
    put.assert_ok();
    assert_file_eq(&server.home(USER).join("data.bin"), &data);
    assert!(
        put.stdout
            .contains(&format!("verified md5 {}", md5_hex(&data))),
        "{}",
        put.stdout
    );

    let get = client(&server, &local.path, &["get", "data.bin", "back.bin"]);
    get.assert_ok();
    assert_file_eq(&local.path.join("back.bin"), &data);
    assert!(
        get.stdout
            .contains(&format!("verified md5 {}", md5_hex(&data))),
        "{}",
        get.stdout
    );
    assert!(
        !get.stdout.contains("resum"),
        "nothing to resume: {}",
        get.stdout
    );
}

#[test]
fn sha256_verification_uses_the_chosen_algorithm() {
    let server = server();
    let local = TempDir::new("client-sha256");
    let data = random_bytes(MIB, 2);
    fs::write(local.path.join("s.bin"), &data).unwrap();

    let run = client(&server, &local.path, &["--hash=sha256", "put", "s.bin"]);
    run.assert_ok();
    let hex = sha256_hex(&data);
    assert!(
        run.stdout.contains(&format!("verified sha256 {hex}")),
        "{}",
        run.stdout
    );
    assert_file_eq(&server.home(USER).join("s.bin"), &data);
}

#[test]
fn names_with_spaces_and_utf8_survive_the_round_trip() {
    let server = server();
    let local = TempDir::new("client-names");
    let data = random_bytes(100_000, 3);
    let name = "grüße mit leer.bin";
    fs::write(local.path.join(name), &data).unwrap();

    client(&server, &local.path, &["put", name]).assert_ok();
    assert_file_eq(&server.home(USER).join(name), &data);
    client(&server, &local.path, &["get", name, "zurück.bin"]).assert_ok();
    assert_file_eq(&local.path.join("zurück.bin"), &data);
}

// ---------------------------------------------------------------------------------------
// Resume and verification

#[test]
fn get_resumes_a_correct_partial_local_file() {
    let server = server();
    let local = TempDir::new("client-get-resume");
    let data = random_bytes(4 * MIB, 4);
    fs::write(server.home(USER).join("big.bin"), &data).unwrap();
    let have = MIB + 17;
    fs::write(local.path.join("big.bin"), &data[..have]).unwrap();

    let run = client(&server, &local.path, &["get", "big.bin"]);
    run.assert_ok();
    assert!(run.stdout.contains("resum"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&have.to_string()),
        "offset {have} not reported: {}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("verified md5 {}", md5_hex(&data))),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("mismatch"), "{}", run.stdout);
    assert_file_eq(&local.path.join("big.bin"), &data);
}

#[test]
fn get_with_a_corrupt_partial_is_caught_and_transferred_again_whole() {
    let server = server();
    let local = TempDir::new("client-get-corrupt");
    let data = random_bytes(2 * MIB, 5);
    fs::write(server.home(USER).join("big.bin"), &data).unwrap();
    // Right length, wrong bytes: only the checksum can notice.
    fs::write(local.path.join("big.bin"), random_bytes(MIB, 99)).unwrap();

    let run = client(&server, &local.path, &["get", "big.bin"]);
    run.assert_ok();
    assert!(run.stdout.contains("resum"), "{}", run.stdout);
    assert!(run.stdout.contains("mismatch"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("verified md5 {}", md5_hex(&data))),
        "{}",
        run.stdout
    );
    assert_file_eq(&local.path.join("big.bin"), &data);
}

#[test]
fn get_interrupted_by_ctrl_c_leaves_a_partial_that_the_next_get_resumes() {
    let server = server();
    let local = TempDir::new("client-ctrl-c");
    let data = random_bytes(64 * MIB, 12);
    fs::write(server.home(USER).join("big.bin"), &data).unwrap();
    let partial = local.path.join("big.bin");

    let mut child = Command::new(client_binary())
        .args([target(&server), "get".into(), "big.bin".into()])
        .current_dir(&local.path)
        .env("FTP_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt as soon as the first bytes have landed, as a user pressing Ctrl-C would.
    let deadline = Instant::now() + RUN_DEADLINE;
    while fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "no bytes arrived");
        thread::sleep(Duration::from_millis(2));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait().unwrap();
    let have = fs::metadata(&partial).unwrap().len();
    assert_eq!(
        &fs::read(&partial).unwrap()[..],
        &data[..have as usize],
        "partial is a prefix"
    );

    let run = client(&server, &local.path, &["get", "big.bin"]);
    run.assert_ok();
    // On a fast machine the first run may have finished before the signal arrived.
    if have < data.len() as u64 {
        assert!(
            run.stdout.contains(&format!("from byte {have}")),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .contains(&format!("verified md5 {}", md5_hex(&data))),
        "{}",
        run.stdout
    );
    assert_file_eq(&partial, &data);
}

#[test]
fn no_resume_flag_transfers_the_whole_file() {
    let server = server();
    let local = TempDir::new("client-no-resume");
    let data = random_bytes(MIB, 6);
    fs::write(server.home(USER).join("f.bin"), &data).unwrap();
    fs::write(local.path.join("f.bin"), &data[..1000]).unwrap();

    let run = client(&server, &local.path, &["--no-resume", "get", "f.bin"]);
    run.assert_ok();
    assert!(!run.stdout.contains("resum"), "{}", run.stdout);
    assert_file_eq(&local.path.join("f.bin"), &data);
}

#[test]
fn put_resumes_a_shorter_remote_copy() {
    let server = server();
    let local = TempDir::new("client-put-resume");
    let data = random_bytes(3 * MIB, 7);
    fs::write(local.path.join("up.bin"), &data).unwrap();
    // What an interrupted upload leaves behind on the server.
    let have = 2 * MIB - 5;
    fs::write(server.home(USER).join("up.bin"), &data[..have]).unwrap();

    let run = client(&server, &local.path, &["put", "up.bin"]);
    run.assert_ok();
    assert!(run.stdout.contains("resum"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&have.to_string()),
        "offset {have} not reported: {}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("verified md5 {}", md5_hex(&data))),
        "{}",
        run.stdout
    );
    assert_file_eq(&server.home(USER).join("up.bin"), &data);
}

#[test]
fn put_over_a_corrupt_remote_partial_is_fixed_by_a_whole_transfer() {
    let server = server();
    let local = TempDir::new("client-put-corrupt");
    let data = random_bytes(2 * MIB, 8);
    fs::write(local.path.join("up.bin"), &data).unwrap();
    fs::write(server.home(USER).join("up.bin"), random_bytes(MIB, 98)).unwrap();

    let run = client(&server, &local.path, &["put", "up.bin"]);
    run.assert_ok();
    assert!(run.stdout.contains("mismatch"), "{}", run.stdout);
    assert_file_eq(&server.home(USER).join("up.bin"), &data);
}

// ---------------------------------------------------------------------------------------
// Output

#[test]
fn progress_bar_is_drawn_on_a_terminal() {
    let server = server();
    let local = TempDir::new("client-pty");
    let data = random_bytes(2 * MIB, 9);
    fs::write(server.home(USER).join("p.bin"), &data).unwrap();

    // `script` (util-linux) runs the client on a pseudo-terminal.
    let command = format!(
        "{} {} get p.bin",
        shell_quote(&client_binary().to_string_lossy()),
        shell_quote(&target(&server)),
    );
    let script = Path::new("/usr/bin/script");
    assert!(
        script.exists(),
        "tests need `script` from util-linux (apt-get install util-linux)"
    );
    let args = ["-qec".to_string(), command, "/dev/null".to_string()];
    let run = run_program(script, &args, &local.path, PASSWORD, "");
    run.assert_ok();
    assert!(
        run.stdout.contains('\r'),
        "bar is redrawn with CR: {:?}",
        run.stdout
    );
    assert!(run.stdout.contains("100.0%"), "{:?}", run.stdout);
    assert!(run.stdout.contains("/s"), "rate shown: {:?}", run.stdout);
    assert_file_eq(&local.path.join("p.bin"), &data);
}

#[test]
fn piped_output_has_one_summary_line_per_transfer() {
    let server = server();
    let local = TempDir::new("client-piped");
    let data = random_bytes(2 * MIB, 10);
    fs::write(server.home(USER).join("p.bin"), &data).unwrap();

    let run = client(&server, &local.path, &["get", "p.bin"]);
    run.assert_ok();
    assert!(!run.stdout.contains('\r'), "{:?}", run.stdout);
    let summaries: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("bytes in"))
        .collect();
    assert_eq!(summaries.len(), 1, "{:?}", run.stdout);
    assert!(
        summaries[0].contains(&data.len().to_string()),
        "{}",
        summaries[0]
    );
}

// ---------------------------------------------------------------------------------------
// Shell and login

#[test]
fn interactive_shell_runs_a_piped_script() {
    let server = server();
    let local = TempDir::new("client-shell");
    let data = random_bytes(300_000, 11);
    fs::write(local.path.join("f.bin"), &data).unwrap();

    let script = "pwd\nls\nmkdir docs\ncd docs\npwd\nput f.bin\nls\nget f.bin g.bin\nquit\nls\n";
    let run = client_with(&server, &local.path, PASSWORD, &[], script);
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"/"), "{}", run.stdout);
    assert!(lines.contains(&"/docs"), "{}", run.stdout);
    // The second listing (inside docs) names the uploaded file.
    assert!(lines.iter().any(|l| l.ends_with("f.bin")), "{}", run.stdout);
    assert_eq!(
        run.stdout.matches("verified md5").count(),
        2,
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("ftp> "),
        "no prompt when stdin is a pipe"
    );
    assert_file_eq(&server.home(USER).join("docs").join("f.bin"), &data);
    assert_file_eq(&local.path.join("g.bin"), &data);
}

#[test]
fn shell_reports_a_failed_command_and_goes_on() {
    let server = server();
    let local = TempDir::new("client-shell-fail");
    let run = client_with(
        &server,
        &local.path,
        PASSWORD,
        &[],
        "get missing.bin\nmkdir after\n",
    );
    assert!(
        !run.status.success(),
        "a failed command makes the exit status non-zero"
    );
    assert!(run.stderr.contains("missing.bin"), "{}", run.stderr);
    assert!(
        server.home(USER).join("after").is_dir(),
        "the shell went on after the error"
    );
    assert!(
        !local.path.join("missing.bin").exists(),
        "no empty local file for a failed get"
    );
}

#[test]
fn rename_and_delete_change_the_server_home() {
    let server = server();
    let local = TempDir::new("client-mv-rm");
    let home = server.home(USER);
    fs::write(home.join("a.txt"), b"a").unwrap();
    fs::write(home.join("b.txt"), b"b").unwrap();
    fs::create_dir(home.join("empty")).unwrap();

    client(&server, &local.path, &["mv", "a.txt", "c.txt"]).assert_ok();
    client(&server, &local.path, &["rm", "b.txt"]).assert_ok();
    client(&server, &local.path, &["rmdir", "empty"]).assert_ok();
    assert_file_eq(&home.join("c.txt"), b"a");
    assert!(!home.join("a.txt").exists() && !home.join("b.txt").exists());
    assert!(!home.join("empty").exists());
}

#[test]
fn quota_prints_the_servers_report() {
    let server = TestServer::start(&[TestAccount::new(USER, PASSWORD).quota("10M")]);
    let local = TempDir::new("client-quota");
    fs::write(server.home(USER).join("five"), b"12345").unwrap();
    let run = client(&server, &local.path, &["quota"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("10485760"),
        "limit shown: {}",
        run.stdout
    );
}

#[test]
fn put_over_quota_fails_with_the_servers_reason() {
    let server = TestServer::start(&[TestAccount::new(USER, PASSWORD).quota("1M")]);
    let local = TempDir::new("client-over-quota");
    let data = random_bytes(2 * MIB, 13);
    fs::write(local.path.join("big.bin"), &data).unwrap();

    let run = client(&server, &local.path, &["put", "big.bin"]);
    assert!(!run.status.success(), "{}", run.stdout);
    assert!(
        run.stderr.contains("552"),
        "server's reply, not a broken pipe: {}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let stored = fs::metadata(server.home(USER).join("big.bin")).map_or(0, |m| m.len());
    assert!(stored <= MIB as u64, "quota held: {stored} bytes stored");
}

#[test]
fn wrong_password_exits_non_zero_with_one_clear_line() {
    let server = server();
    let local = TempDir::new("client-badpass");
    let run = client_with(&server, &local.path, "wrong", &["ls"], "");
    assert!(!run.status.success());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("login failed"), "{}", run.stderr);
    assert!(run.stderr.contains("530"), "{}", run.stderr);
}

/// Single-quotes a word for `sh -c`.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}
