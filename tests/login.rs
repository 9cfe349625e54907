//! Logins, the pre-login surface, and the connection limits.

mod common;

use std::time::Duration;

use common::{RawClient, TestAccount, TestServer, python_ok};

fn alice() -> TestAccount {
    TestAccount::new("alice", "wonder land")
}

#[test]
fn ftplib_logs_in_with_the_right_password_only() {
    let server = TestServer::start(&[alice()]);
    let out = python_ok(
        r#"
import ftplib, sys
port = int(sys.argv[1])
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=10)
print(ftp.login("alice", "wonder land"))
print(ftp.pwd())
ftp.quit()
for user, password in [("alice", "wrong"), ("nobody", "wonder land")]:
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=10)
    try:
        ftp.login(user, password)
        print("UNEXPECTED LOGIN", user)
    except ftplib.error_perm as e:
        print("refused", e)
    ftp.close()
"#,
        &[&server.port().to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("230"), "{out}");
    assert_eq!(lines[1], "/");
    // Unknown user and wrong password get the very same reply.
    assert_eq!(lines[2], "refused 530 Login incorrect.");
    assert_eq!(lines[3], "refused 530 Login incorrect.");
}

#[test]
fn commands_before_login_get_530_and_the_allow_list_works() {
    let server = TestServer::start(&[alice()]);
    let mut client = RawClient::connect(&server);
    for command in [
        "PWD", "LIST", "RETR x", "STOR x", "PASV", "CWD /", "SYST", "STAT",
    ] {
        assert_eq!(client.cmd(command).0, 530, "{command}");
    }
    assert_eq!(client.cmd("NOOP").0, 200);
    assert_eq!(client.cmd("FEAT").0, 211);
    assert_eq!(client.cmd("HELP").0, 214);
    assert_eq!(client.cmd("OPTS UTF8 ON").0, 200);
    assert_eq!(client.cmd("PASS x").0, 503);
    client.login("alice", "wonder land");
    assert_eq!(client.cmd("SYST").0, 215);
    assert_eq!(client.cmd("QUIT").0, 221);
    assert!(client.is_closed());
}

#[test]
fn too_many_failed_logins_close_the_connection() {
    let server = TestServer::start(&[alice()]);
    let mut client = RawClient::connect(&server);
    for _ in 0..2 {
        assert_eq!(client.cmd("USER alice").0, 331);
        assert_eq!(client.cmd("PASS bad").0, 530);
    }
    assert_eq!(client.cmd("USER alice").0, 331);
    assert_eq!(client.cmd("PASS bad").0, 421);
    assert!(client.is_closed());
}

#[test]
fn the_session_limit_answers_421_and_a_freed_slot_is_reused() {
    let server = TestServer::builder(&[alice()])
        .server("max_connections = 2")
        .start();
    let mut first = RawClient::connect(&server);
    first.login("alice", "wonder land");
    let mut second = RawClient::connect(&server);
    second.login("alice", "wonder land");
    let mut third = RawClient::connect_only(server.addr);
    let (code, text) = third.reply();
    assert_eq!(code, 421, "{text}");
    assert!(text.contains("Too many connections (2)"), "{text}");
    assert!(third.is_closed());
    // The others carry on.
    assert_eq!(first.cmd("NOOP").0, 200);
    assert_eq!(second.cmd("PWD").0, 257);
    assert_eq!(first.cmd("QUIT").0, 221);
    assert!(first.is_closed());
    // The freed slot serves a new client (the guard is released just after
    // the socket closes, so allow a moment).
    let ok = common::a_worker_is_free(server.addr, Duration::from_secs(5));
    assert!(ok, "a freed slot was not reused");
}

#[test]
fn per_ip_limit_answers_421() {
    let server = TestServer::builder(&[alice()])
        .server("max_connections_per_ip = 1")
        .start();
    let _first = RawClient::connect(&server);
    let mut second = RawClient::connect_only(server.addr);
    let (code, text) = second.reply();
    assert_eq!(code, 421);
    assert!(text.contains("from your address"), "{text}");
}

#[test]
fn a_waiting_queue_serves_the_client_when_a_worker_frees() {
    let server = TestServer::builder(&[alice()])
        .server("max_connections = 1")
        .server("queue_size = 1")
        .start();
    let mut first = RawClient::connect(&server);
    first.login("alice", "wonder land");
    let mut waiting = RawClient::connect_only(server.addr);
    let (code, _) = waiting.reply();
    assert_eq!(code, 120);
    // Queue full: the next is refused.
    let mut refused = RawClient::connect_only(server.addr);
    assert_eq!(refused.reply().0, 421);
    assert_eq!(first.cmd("QUIT").0, 221);
    // Now the queued client gets its greeting.
    assert_eq!(waiting.reply().0, 220);
    waiting.login("alice", "wonder land");
}

#[test]
fn login_must_finish_within_the_login_timeout() {
    let server = TestServer::builder(&[alice()])
        .server("login_timeout = 1")
        .start();
    let mut client = RawClient::connect(&server);
    let (code, text) = client.reply();
    assert_eq!(code, 421, "{text}");
    assert!(client.is_closed());
}

#[test]
fn idle_sessions_time_out() {
    let server = TestServer::builder(&[alice()])
        .server("idle_timeout = 1")
        .start();
    let mut client = RawClient::connect(&server);
    client.login("alice", "wonder land");
    let (code, text) = client.reply();
    assert_eq!(code, 421, "{text}");
    assert!(text.contains("Timeout"));
}

#[test]
fn a_burst_of_a_hundred_clients_is_answered_not_dropped() {
    let server = TestServer::builder(&[alice()])
        .server("max_connections = 8")
        .start();
    let addr = server.addr;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(100));
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut client = RawClient::connect_only(addr);
                let code = client.reply().0;
                // Hold the slot until everyone has an answer.
                (code, client)
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    let served = results.iter().filter(|(code, _)| *code == 220).count();
    let refused = results.iter().filter(|(code, _)| *code == 421).count();
    assert_eq!(served + refused, 100, "every client got a reply");
    assert_eq!(served, 8);
}
