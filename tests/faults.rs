//! Faults: a client vanishing mid-STOR, the server killed mid-upload, a
//! graceful SIGTERM/SIGINT, and accounts.ini broken while the server runs.
//! The process-level tests run the real binary (`pocketftpd_command`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::net::{ServerProcess, reset};
use common::{RawClient, TempDir, TestAccount, TestServer, random_bytes, wait_until, write_config};

fn alice() -> TestAccount {
    TestAccount::new("alice", "pw").quota("100M")
}

fn login_at(addr: std::net::SocketAddr, user: &str, password: &str) -> RawClient {
    let mut client = RawClient::connect_only(addr);
    assert_eq!(client.reply().0, 220);
    client.login(user, password);
    client
}

/// Resumes `name` with REST+STOR from whatever size the server reports,
/// retrying while the old session still holds the file (450).
fn resume(addr: std::net::SocketAddr, name: &str, payload: &[u8]) {
    let mut client = login_at(addr, "alice", "pw");
    let done = wait_until(Duration::from_secs(20), || {
        let (code, text) = client.cmd(&format!("SIZE {name}"));
        assert_eq!(code, 213, "{text}");
        let have: usize = text[4..].trim().parse().unwrap();
        assert!(have <= payload.len());
        // REST must come right before STOR (RFC 3659 section 5), so the
        // data connection is set up first.
        let mut data = client.epsv_connect();
        assert_eq!(client.cmd(&format!("REST {have}")).0, 350);
        let (code, text) = client.cmd(&format!("STOR {name}"));
        if code == 450 {
            return false;
        }
        assert_eq!(code, 150, "{text}");
        data.write_all(&payload[have..]).unwrap();
        drop(data);
        let (code, text) = client.reply();
        assert_eq!(code, 226, "{text}");
        true
    });
    assert!(done, "could not resume {name}");
}

fn quota_used(client: &mut RawClient) -> u64 {
    let (code, text) = client.cmd("SITE QUOTA");
    assert_eq!(code, 211, "{text}");
    let at = text.find("used: ").unwrap() + "used: ".len();
    text[at..].split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_client_vanishing_mid_stor_leaves_a_file_that_rest_stor_completes() {
    let server = TestServer::start(&[alice()]);
    let payload = random_bytes(6 << 20, 7);
    let mut client = login_at(server.addr, "alice", "pw");
    let mut data = client.epsv_connect();
    assert_eq!(client.cmd("STOR big").0, 150);
    data.write_all(&payload[..2 << 20]).unwrap();
    let path = server.home("alice").join("big");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::metadata(&path).is_ok_and(|m| m.len() > 0)
    }));
    // Crash-like: both connections reset, no QUIT, no end of data.
    reset(data);
    reset(client.stream.try_clone().unwrap());
    drop(client);
    resume(server.addr, "big", &payload);
    assert!(std::fs::read(&path).unwrap() == payload, "not byte-exact");
    let mut check = login_at(server.addr, "alice", "pw");
    assert_eq!(quota_used(&mut check), payload.len() as u64);
}

#[test]
fn sigkill_mid_upload_leaves_accounts_partial_file_and_quota_right() {
    let dir = TempDir::new("sigkill");
    write_config(&dir.path, &[alice()], &[], &[]);
    let accounts_before = std::fs::read(dir.path.join("accounts.ini")).unwrap();
    std::fs::write(dir.path.join("home/alice/other"), vec![1u8; 1000]).unwrap();
    let payload = random_bytes(8 << 20, 9);
    let mut server = ServerProcess::start(&dir.path);
    let mut client = login_at(server.addr, "alice", "pw");
    let mut data = client.epsv_connect();
    assert_eq!(client.cmd("STOR big").0, 150);
    data.write_all(&payload[..3 << 20]).unwrap();
    let path = dir.path.join("home/alice/big");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::metadata(&path).is_ok_and(|m| m.len() >= 1 << 20)
    }));
    server.signal(9);
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(None));
    drop((data, client));
    assert_eq!(
        std::fs::read(dir.path.join("accounts.ini")).unwrap(),
        accounts_before
    );
    let partial = std::fs::metadata(&path).unwrap().len();
    assert!(partial > 0 && partial <= 3 << 20, "{partial}");
    // Restart on the same folder: resume, then check bytes and quota.
    let server = ServerProcess::start(&dir.path);
    let mut client = login_at(server.addr, "alice", "pw");
    assert_eq!(quota_used(&mut client), partial + 1000);
    resume(server.addr, "big", &payload);
    assert!(std::fs::read(&path).unwrap() == payload, "not byte-exact");
    assert_eq!(quota_used(&mut client), payload.len() as u64 + 1000);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path.join("home/alice"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

fn graceful_stop(signal: i32) {
    let dir = TempDir::new("graceful");
    write_config(
        &dir.path,
        &[alice()],
        &["shutdown_grace = 20".to_string()],
        &[],
    );
    let payload = random_bytes(4 << 20, u64::try_from(signal).unwrap());
    let mut server = ServerProcess::start(&dir.path);
    let addr = server.addr;
    let mut uploader = login_at(addr, "alice", "pw");
    let mut idle = login_at(addr, "alice", "pw");
    let mut data = uploader.epsv_connect();
    assert_eq!(uploader.cmd("STOR big").0, 150);
    data.write_all(&payload[..1 << 20]).unwrap();
    server.signal(signal);
    assert!(
        server
            .wait_for_log(Duration::from_secs(10), |l| l.contains("shutting down"))
            .is_some(),
        "no shutdown line: {:#?}",
        server.log
    );
    // An idle session is told and closed.
    let (code, text) = idle.reply();
    assert_eq!(code, 421, "{text}");
    assert!(idle.is_closed());
    // No new connections: refused outright, or closed at once.
    match TcpStream::connect(addr) {
        Err(_) => {}
        Ok(mut late) => {
            late.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reply = Vec::new();
            let result = late.read_to_end(&mut reply);
            assert!(
                result.is_ok() && (reply.is_empty() || reply.starts_with(b"421")),
                "a connection made during shutdown was left hanging: {result:?} {reply:?}"
            );
        }
    }
    // The running upload finishes, byte-exact.
    data.write_all(&payload[1 << 20..]).unwrap();
    drop(data);
    assert_eq!(uploader.reply().0, 226);
    assert_eq!(uploader.reply().0, 421);
    assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(Some(0)));
    assert!(std::fs::read(dir.path.join("home/alice/big")).unwrap() == payload);
}

#[test]
fn sigterm_stops_accepting_lets_the_transfer_finish_and_exits_0() {
    graceful_stop(15);
}

#[test]
fn sigint_stops_accepting_lets_the_transfer_finish_and_exits_0() {
    graceful_stop(2);
}

#[test]
fn a_transfer_outlasting_the_grace_period_does_not_stop_the_exit() {
    let dir = TempDir::new("grace");
    write_config(
        &dir.path,
        &[alice()],
        &[
            "shutdown_grace = 1".to_string(),
            "data_timeout = 300".to_string(),
        ],
        &[],
    );
    let mut server = ServerProcess::start(&dir.path);
    let mut client = login_at(server.addr, "alice", "pw");
    let mut data = client.epsv_connect();
    assert_eq!(client.cmd("STOR stalled").0, 150);
    data.write_all(b"some bytes, then nothing").unwrap();
    server.signal(15);
    // Exits 0 after the grace period, long before the data timeout.
    assert_eq!(server.wait_exit(Duration::from_secs(60)), Some(Some(0)));
}

#[test]
fn a_broken_accounts_edit_keeps_the_last_good_accounts_and_is_logged_once() {
    let dir = TempDir::new("accounts-edit");
    write_config(&dir.path, &[alice()], &[], &[]);
    let accounts = dir.path.join("accounts.ini");
    let good = std::fs::read_to_string(&accounts).unwrap();
    let mut server = ServerProcess::start(&dir.path);
    let addr = server.addr;
    login_at(addr, "alice", "pw");
    // An editor caught half-way: the file ends inside the hash.
    std::fs::write(&accounts, &good[..good.len() / 2]).unwrap();
    for _ in 0..3 {
        login_at(addr, "alice", "pw");
    }
    // Garbage of another kind.
    std::fs::write(&accounts, "[alice\npassword = \n").unwrap();
    login_at(addr, "alice", "pw");
    // A good edit takes effect: new password, new user.
    let bob = TestAccount::new("bob", "builder");
    let alice2 = TestAccount::new("alice", "new pw");
    std::fs::create_dir_all(dir.path.join("home/bob")).unwrap();
    std::fs::write(
        &accounts,
        format!("{}\n{}", alice2.section(), bob.section()),
    )
    .unwrap();
    login_at(addr, "alice", "new pw");
    login_at(addr, "bob", "builder");
    let mut old = RawClient::connect_only(addr);
    assert_eq!(old.reply().0, 220);
    assert_eq!(old.cmd("USER alice").0, 331);
    assert_eq!(old.cmd("PASS pw").0, 530);
    server.signal(15);
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(Some(0)));
    let errors = server
        .log
        .iter()
        .filter(|l| l.contains("accounts not reloaded"))
        .count();
    assert_eq!(errors, 2, "one line per broken edit: {:#?}", server.log);
    assert!(server.log.iter().any(|l| l.contains("accounts reloaded")));
}
