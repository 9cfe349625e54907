//! The `pocketftpd` binary: config errors at start, the `user` subcommands,
//! the bundled demo configuration, and the bounded thread count.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::net::ServerProcess;
use common::{RawClient, TempDir, TestAccount, pocketftpd_command, write_config};

fn run(dir: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = pocketftpd_command()
        .args(args)
        .arg("--config")
        .arg(dir.join("settings.ini"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails early never reads its stdin.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn config_dir() -> TempDir {
    let dir = TempDir::new("cli");
    write_config(
        &dir.path,
        &[TestAccount::new("alice", "pw-alice")],
        &[],
        &[],
    );
    dir
}

#[test]
fn each_config_error_stops_the_server_with_one_line_naming_it() {
    let table: &[(&str, &str, &str)] = &[
        (
            "settings.ini",
            "max_connections = 1\n",
            "max_connections = abc",
        ),
        (
            "settings.ini",
            "idle_timeout = 60\n",
            "idle_timeout = 60\ncolour = blue",
        ),
        ("accounts.ini", "[alice]\n", "[alice]\nquota = 12Q\n"),
        ("accounts.ini", "[alice]\n", "[alice]\nhome = ../../etc\n"),
        ("accounts.ini", "[alice]\n", "[alice]\nshell = /bin/sh\n"),
    ];
    let expected = [
        "settings.ini: [server] max_connections: expected a whole number, got \"abc\"",
        "settings.ini: [server] colour: unknown key",
        "accounts.ini: [alice] quota: expected a size such as 500K, 100M or 2G, got \"12Q\"",
        "accounts.ini: [alice] home: the home must be a folder inside home_root",
        "accounts.ini: [alice] shell: unknown key",
    ];
    for ((file, find, replace), expected) in table.iter().zip(expected) {
        let dir = config_dir();
        let path = dir.path.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let text = if *find == "max_connections = 1\n" {
            text.replace("max_connections = 8", replace)
        } else {
            text.replacen(find, &format!("{replace}\n"), 1)
        };
        std::fs::write(&path, text).unwrap();
        let (ok, _, stderr) = run(&dir.path, &[], "");
        assert!(!ok, "{expected}: server started");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(expected),
            "wanted {expected:?}, got {stderr}"
        );
    }
}

#[test]
fn duplicate_users_and_a_missing_accounts_file_are_start_errors() {
    let dir = config_dir();
    let accounts = dir.path.join("accounts.ini");
    let text = std::fs::read_to_string(&accounts).unwrap();
    std::fs::write(&accounts, format!("{text}\n{text}")).unwrap();
    let (ok, _, stderr) = run(&dir.path, &[], "");
    assert!(!ok);
    assert!(
        stderr.contains("accounts.ini: [alice]: duplicate user"),
        "{stderr}"
    );
    std::fs::remove_file(&accounts).unwrap();
    let (ok, _, stderr) = run(&dir.path, &[], "");
    assert!(!ok);
    assert!(stderr.contains("accounts.ini: cannot read"), "{stderr}");
}

#[test]
fn user_subcommands_keep_comments_and_the_server_sees_them_live() {
    let dir = config_dir();
    let accounts = dir.path.join("accounts.ini");
    let original = std::fs::read_to_string(&accounts).unwrap();
    std::fs::write(
        &accounts,
        format!("; keep this comment\n{original}; and this one\n"),
    )
    .unwrap();
    let server = ServerProcess::start(&dir.path);

    let (ok, out, err) = run(
        &dir.path,
        &["user", "add", "bob", "--quota", "2M", "--password-stdin"],
        "bob's pw\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("user bob added"), "{out}");
    assert!(dir.path.join("home/bob").is_dir());
    let text = std::fs::read_to_string(&accounts).unwrap();
    assert!(text.starts_with("; keep this comment\n[alice]\n"), "{text}");
    assert!(text.contains("; and this one\n"), "{text}");
    assert!(text.contains("[bob]\npassword = $argon2id$"), "{text}");
    assert!(
        !text.contains("bob's pw"),
        "the password itself was written"
    );

    // The running server accepts the new user without a restart.
    let mut client = RawClient::connect_only(server.addr);
    assert_eq!(client.reply().0, 220);
    client.login("bob", "bob's pw");

    let (ok, _, err) = run(
        &dir.path,
        &["user", "add", "bob", "--password-stdin"],
        "x\n",
    );
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(
        &dir.path,
        &["user", "add", "../evil", "--password-stdin"],
        "x\n",
    );
    assert!(!ok && err.contains("bad user name"), "{err}");

    let (ok, _, err) = run(
        &dir.path,
        &["user", "passwd", "bob", "--password-stdin"],
        "new pw\n",
    );
    assert!(ok, "{err}");
    let mut client = RawClient::connect_only(server.addr);
    assert_eq!(client.reply().0, 220);
    assert_eq!(client.cmd("USER bob").0, 331);
    assert_eq!(client.cmd("PASS bob's pw").0, 530);
    assert_eq!(client.cmd("USER bob").0, 331);
    assert_eq!(client.cmd("PASS new pw").0, 230);

    let (ok, out, _) = run(&dir.path, &["user", "list"], "");
    assert!(ok);
    assert!(
        out.lines()
            .any(|l| l.starts_with("bob") && l.contains("2.0 MiB")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("alice") && l.contains("unlimited")),
        "{out}"
    );

    let (ok, out, _) = run(&dir.path, &["user", "del", "bob"], "");
    assert!(ok && out.contains("left in place"), "{out}");
    let text = std::fs::read_to_string(&accounts).unwrap();
    assert!(
        !text.contains("[bob]") && text.contains("; and this one"),
        "{text}"
    );
    assert!(dir.path.join("home/bob").is_dir());
    let mut client = RawClient::connect_only(server.addr);
    assert_eq!(client.reply().0, 220);
    assert_eq!(client.cmd("USER bob").0, 331);
    assert_eq!(client.cmd("PASS new pw").0, 530);
}

#[test]
fn help_and_version() {
    let out = pocketftpd_command().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("pocketftpd user add NAME"));
    let out = pocketftpd_command().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pocketftpd "));
    let out = pocketftpd_command().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_bundled_demo_config_serves_each_demo_user() {
    // Copy the repository's demo files, moved to a free port.
    let dir = TempDir::new("demo");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let settings = std::fs::read_to_string(repo.join("settings.ini"))
        .unwrap()
        .replace("listen = 127.0.0.1:2121", "listen = 127.0.0.1:0");
    std::fs::write(dir.path.join("settings.ini"), settings).unwrap();
    std::fs::copy(repo.join("accounts.ini"), dir.path.join("accounts.ini")).unwrap();
    for user in ["curry", "durant", "james"] {
        let from = repo.join("home").join(user);
        let to = dir.path.join("home").join(user);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }
    let server = ServerProcess::start(&dir.path);
    let port = server.addr.port().to_string();
    // The passwords the README gives, with each real client.
    for (user, password, quota) in [
        ("curry", "splash30", "100.0 MiB"),
        ("durant", "slim35", "20.0 MiB"),
        ("james", "king23", "5.0 MiB"),
    ] {
        let mut client = RawClient::connect_only(server.addr);
        assert_eq!(client.reply().0, 220);
        client.login(user, password);
        let (code, bytes) = client.retr("readme.txt");
        assert_eq!(code, 226);
        assert!(String::from_utf8_lossy(&bytes).contains(user));
        let (_, quota_text) = client.cmd("SITE QUOTA");
        assert!(quota_text.contains(quota), "{user}: {quota_text}");
        let url = format!("ftp://{user}:{password}@127.0.0.1:{port}/readme.txt");
        let out = common::curl(&[&url]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(user),
            "curl as {user}"
        );
        let out = common::lftp(&format!(
            "set ftp:ssl-allow no; set net:max-retries 1; open -u {user},{password} -p {port} 127.0.0.1; cls -1"
        ));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("readme.txt"),
            "lftp as {user}"
        );
        let out = common::python_ok(
            "import ftplib, sys\nf = ftplib.FTP()\nf.connect('127.0.0.1', int(sys.argv[1]), timeout=10)\n\
             print(f.login(sys.argv[2], sys.argv[3]))\nprint(f.nlst())\n",
            &[&port, user, password],
        );
        assert!(
            out.starts_with("230") && out.contains("readme.txt"),
            "ftplib as {user}: {out}"
        );
    }
}

/// Threads of a process, from /proc.
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_thread_count_stays_bounded_under_a_burst_of_connections() {
    let dir = TempDir::new("threads");
    write_config(
        &dir.path,
        &[TestAccount::new("alice", "pw-alice")],
        &["max_connections = 4".to_string()],
        &[],
    );
    let server = ServerProcess::start(&dir.path);
    let pid = server.child.id();
    let idle = threads(pid);
    let mut clients = Vec::new();
    let mut peak = idle;
    let mut refused = 0;
    for _ in 0..50 {
        let mut client = RawClient::connect_only(server.addr);
        let (code, _) = client.reply();
        if code == 421 {
            refused += 1;
        }
        clients.push(client);
        peak = peak.max(threads(pid));
    }
    // 4 workers serve, the other 46 are refused at the door; the process
    // never grows a thread per connection.
    assert_eq!(refused, 46);
    assert!(peak <= idle, "threads grew from {idle} to {peak}");
    drop(clients);
    assert!(common::wait_until(Duration::from_secs(10), || threads(pid) == idle));
}
