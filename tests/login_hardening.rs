//! Login hardening: the failed-login delay never parks a worker for a
//! client that has gone, the per-address ban (refused with 421, logged once
//! per ban, other addresses unaffected), and the login bound against
//! slowloris clients.

mod common;

use std::io::Write;
use std::time::Duration;

use common::net::{FOREIGN, ServerProcess, raw_from};
use common::{RawClient, TempDir, TestAccount, TestServer, wait_until, write_config};

fn alice() -> TestAccount {
    TestAccount::new("alice", "pw")
}

#[test]
fn a_failed_login_that_hangs_up_frees_the_worker_before_the_delay_ends() {
    // One worker and a 60 s fail delay: the next client can only be served
    // in time if the worker stops waiting when the guesser hangs up.
    let server = TestServer::builder(&[alice()])
        .server("max_connections = 1")
        .auth("login_fail_delay_ms = 60000")
        .start();
    let mut guesser = RawClient::connect(&server);
    assert_eq!(guesser.cmd("USER alice").0, 331);
    guesser.send_raw(b"PASS wrong\r\n");
    drop(guesser);
    let served = wait_until(Duration::from_secs(20), || {
        let mut next = RawClient::connect_only(server.addr);
        next.reply().0 == 220
    });
    assert!(served, "the worker stayed parked in the fail delay");
}

#[test]
fn the_fail_delay_still_applies_to_a_client_that_stays() {
    // The reply to a wrong password comes only after the delay; the client
    // that waits gets 530 and can try again (correct password next).
    let server = TestServer::builder(&[alice()])
        .auth("login_fail_delay_ms = 300")
        .start();
    let mut client = RawClient::connect(&server);
    assert_eq!(client.cmd("USER alice").0, 331);
    // Pipelined: the second command waits behind the delay, in order.
    client.send_raw(b"PASS wrong\r\nNOOP\r\n");
    assert_eq!(client.reply().0, 530);
    assert_eq!(client.reply().0, 200);
    client.login("alice", "pw");
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_reply_bytes() {
    let server = TestServer::start(&[alice()]);
    let mut replies = Vec::new();
    for user in ["alice", "nobody", "ALICE", "alice "] {
        let mut client = RawClient::connect(&server);
        assert_eq!(client.cmd(&format!("USER {user}")).0, 331);
        replies.push(client.cmd("PASS wrong").1);
    }
    assert!(
        replies.iter().all(|r| r == "530 Login incorrect."),
        "{replies:?}"
    );
}

#[test]
fn repeated_failures_ban_that_address_only() {
    let server = TestServer::builder(&[alice()])
        .auth("ban_after = 3")
        .auth("max_login_attempts = 10")
        .auth("login_fail_delay_ms = 0")
        .start();
    let mut attacker = raw_from(FOREIGN, server.addr);
    assert_eq!(attacker.reply().0, 220);
    for _ in 0..3 {
        assert_eq!(attacker.cmd("USER alice").0, 331);
        assert_eq!(attacker.cmd("PASS guess").0, 530);
    }
    // New connections from that address are refused before any worker.
    for _ in 0..3 {
        let mut again = raw_from(FOREIGN, server.addr);
        let (code, text) = again.reply();
        assert_eq!(code, 421, "{text}");
        assert!(again.is_closed());
    }
    // Everyone else is served.
    let mut honest = RawClient::connect(&server);
    honest.login("alice", "pw");
}

#[test]
fn a_ban_is_logged_once_and_expires() {
    let dir = TempDir::new("ban-log");
    write_config(
        &dir.path,
        &[alice()],
        &[],
        &[
            "ban_after = 2".to_string(),
            "ban_time = 2".to_string(),
            "max_login_attempts = 1".to_string(),
            "login_fail_delay_ms = 0".to_string(),
        ],
    );
    let mut server = ServerProcess::start(&dir.path);
    for _ in 0..2 {
        let mut client = raw_from(FOREIGN, server.addr);
        assert_eq!(client.reply().0, 220);
        assert_eq!(client.cmd("USER alice").0, 331);
        assert_eq!(client.cmd("PASS guess").0, 421);
        assert!(client.is_closed());
    }
    for _ in 0..10 {
        let mut refused = raw_from(FOREIGN, server.addr);
        assert_eq!(refused.reply().0, 421);
    }
    // The ban runs out (ban_time = 2 s) and the address is served again.
    let served = wait_until(Duration::from_secs(20), || {
        let mut again = raw_from(FOREIGN, server.addr);
        again.reply().0 == 220
    });
    assert!(served, "the ban never expired");
    server.signal(15);
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(Some(0)));
    let ban_lines: Vec<&String> = server
        .log
        .iter()
        .filter(|line| line.contains(FOREIGN))
        .filter(|line| line.contains("banned") || line.contains("failed logins from"))
        .collect();
    assert_eq!(ban_lines.len(), 1, "{ban_lines:#?}");
}

#[test]
fn trickling_bytes_or_noops_do_not_extend_the_login_bound() {
    let server = TestServer::builder(&[alice()])
        .server("login_timeout = 2")
        .start();
    // Slowloris: one byte at a time of a line that never ends.
    let mut slow = RawClient::connect(&server);
    let mut writer = slow.stream.try_clone().unwrap();
    let trickler = std::thread::spawn(move || {
        for _ in 0..600 {
            if writer.write_all(b"U").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (code, text) = slow.reply();
    assert_eq!(code, 421, "{text}");
    assert!(slow.is_closed());
    trickler.join().unwrap();
    // Busy but never logging in: NOOPs don't reset the bound either.
    let mut busy = RawClient::connect(&server);
    let mut noops = 0;
    loop {
        let (code, _) = busy.cmd("NOOP");
        if code == 421 {
            break;
        }
        assert_eq!(code, 200);
        noops += 1;
        assert!(noops < 10_000, "never timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_login_bound_ends_at_login_and_the_idle_timeout_takes_over() {
    let server = TestServer::builder(&[alice()])
        .server("login_timeout = 1")
        .server("idle_timeout = 30")
        .start();
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw");
    // Let the login bound pass (this sleep is the point of the test, not a
    // synchronisation): the logged-in session must not be closed by it.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(client.cmd("NOOP").0, 200);
}
