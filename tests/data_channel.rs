//! Data-channel abuse: PASV theft from another address, PORT bounce, a data
//! connection that never comes, a client that stops reading mid-RETR, a
//! client that sends forever on STOR, and PASV after PASV.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::net::{FOREIGN, connect_from};
use common::{RawClient, TestAccount, TestServer, random_bytes};

fn alice() -> TestAccount {
    TestAccount::new("alice", "pw")
}

fn logged_in(server: &TestServer) -> RawClient {
    let mut client = RawClient::connect(server);
    client.login("alice", "pw");
    client
}

fn epsv_port(client: &mut RawClient) -> u16 {
    let (code, text) = client.cmd("EPSV");
    assert_eq!(code, 229, "{text}");
    let start = text.find("|||").unwrap() + 3;
    let end = text[start..].find('|').unwrap() + start;
    text[start..end].parse().unwrap()
}

#[test]
fn pasv_connection_from_another_address_is_refused_and_the_client_is_served() {
    let server = TestServer::start(&[alice()]);
    let payload = random_bytes(200_000, 1);
    std::fs::write(server.home("alice").join("f"), &payload).unwrap();
    let mut client = logged_in(&server);
    for verb in ["PASV", "EPSV"] {
        let port = if verb == "EPSV" {
            epsv_port(&mut client)
        } else {
            let (code, text) = client.cmd("PASV");
            assert_eq!(code, 227, "{text}");
            let inner = &text[text.find('(').unwrap() + 1..text.find(')').unwrap()];
            let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
            n[4] * 256 + n[5]
        };
        let target = ("127.0.0.1".parse::<std::net::IpAddr>().unwrap(), port).into();
        // The thief connects first, so the server's accept() sees it first.
        let mut thief = connect_from(FOREIGN, target).unwrap();
        let mut data = connect_from("127.0.0.1", target).unwrap();
        let (code, text) = client.cmd("RETR f");
        assert_eq!(code, 150, "{verb}: {text}");
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(client.reply().0, 226);
        assert!(got == payload, "{verb}: the client did not get the file");
        let mut stolen = Vec::new();
        let _ = thief.read_to_end(&mut stolen);
        assert!(
            stolen.is_empty(),
            "{verb}: the thief got {} bytes",
            stolen.len()
        );
    }
}

#[test]
fn port_and_eprt_to_another_address_or_a_low_port_are_refused() {
    let server = TestServer::start(&[alice()]);
    std::fs::write(server.home("alice").join("f"), b"payload").unwrap();
    let victim = TcpListener::bind((FOREIGN, 0)).unwrap();
    victim.set_nonblocking(true).unwrap();
    let port = victim.local_addr().unwrap().port();
    let mut client = logged_in(&server);
    for line in [
        format!("PORT 127,0,0,2,{},{}", port >> 8, port & 0xff),
        format!("EPRT |1|{FOREIGN}|{port}|"),
        "PORT 127,0,0,1,0,25".to_string(),
        "EPRT |1|127.0.0.1|21|".to_string(),
        "EPRT |2|::1|5000|".to_string(),
    ] {
        let (code, text) = client.cmd(&line);
        assert_eq!(code, 500, "{line}: {text}");
        // Nothing was armed: a transfer now has no data connection.
        let (code, _) = client.cmd("RETR f");
        assert_eq!(code, 425, "{line}");
    }
    assert!(
        victim.accept().is_err(),
        "the server connected to the bounce target"
    );
    // The client's own address still works.
    let own = TcpListener::bind("127.0.0.1:0").unwrap();
    let own_port = own.local_addr().unwrap().port();
    assert_eq!(client.cmd(&format!("EPRT |1|127.0.0.1|{own_port}|")).0, 200);
    assert_eq!(client.cmd("RETR f").0, 150);
    let (mut data, _) = own.accept().unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"payload");
    assert_eq!(client.reply().0, 226);
}

#[test]
fn a_data_connection_that_never_comes_gets_425_and_the_session_goes_on() {
    let server = TestServer::builder(&[alice()])
        .server("data_timeout = 1")
        .start();
    std::fs::write(server.home("alice").join("f"), b"payload").unwrap();
    let mut client = logged_in(&server);
    for command in ["RETR f", "STOR g", "LIST"] {
        let _port = epsv_port(&mut client);
        let (code, text) = client.cmd(command);
        assert_eq!(code, 425, "{command}: {text}");
        assert_eq!(client.cmd("NOOP").0, 200);
    }
    assert!(!server.home("alice").join("g").exists());
    // Active mode to a port where nobody listens: 425 too.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    assert_eq!(client.cmd(&format!("EPRT |1|127.0.0.1|{port}|")).0, 200);
    assert_eq!(client.cmd("RETR f").0, 425);
    assert_eq!(client.cmd("NOOP").0, 200);
}

#[test]
fn a_client_that_stops_reading_mid_retr_times_out_and_frees_the_worker() {
    // One worker: the next client is served only if the stalled transfer
    // gave the worker back.
    let server = TestServer::builder(&[alice()])
        .server("data_timeout = 1")
        .server("max_connections = 1")
        .start();
    // Larger than every socket buffer on the way, so the send must block.
    let payload = random_bytes(48 << 20, 2);
    std::fs::write(server.home("alice").join("big"), &payload).unwrap();
    let mut client = logged_in(&server);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let port = epsv_port(&mut client);
    let target: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect(&target.into()).unwrap();
    let mut data: TcpStream = socket.into();
    let (code, _) = client.cmd("RETR big");
    assert_eq!(code, 150);
    // Read a little, then stop reading (the socket stays open).
    let mut some = [0u8; 1024];
    data.read_exact(&mut some).unwrap();
    let (code, text) = client.reply();
    assert_eq!(code, 426, "{text}");
    assert_eq!(client.cmd("NOOP").0, 200);
    assert_eq!(client.cmd("QUIT").0, 221);
    assert!(client.is_closed());
    drop(data);
    let ok = common::a_worker_is_free(server.addr, Duration::from_secs(10));
    assert!(ok, "the worker was not freed");
}

#[test]
fn a_client_that_sends_forever_on_stor_is_stopped_by_the_quota() {
    let server = TestServer::start(&[alice().quota("1M")]);
    let home = server.home("alice");
    std::fs::write(home.join("keep"), b"old content").unwrap();
    let mut client = logged_in(&server);
    for name in ["endless", "keep"] {
        let mut data = client.epsv_connect();
        let (code, _) = client.cmd(&format!("STOR {name}"));
        assert_eq!(code, 150);
        // Send until the server stops reading and closes (bounded at 64 MiB
        // so a broken server fails the test instead of filling the disk).
        let sender = std::thread::spawn(move || {
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0u64;
            while sent < 64 << 20 {
                if data.write_all(&chunk).is_err() {
                    return sent;
                }
                sent += chunk.len() as u64;
            }
            sent
        });
        let (code, text) = client.reply();
        assert_eq!(code, 552, "{name}: {text}");
        let sent = sender.join().unwrap();
        assert!(sent < 64 << 20, "{name}: the server kept reading");
        assert_eq!(client.cmd("NOOP").0, 200);
    }
    // The new file is gone; the overwritten one kept its content.
    assert!(!home.join("endless").exists());
    assert_eq!(std::fs::read(home.join("keep")).unwrap(), b"old content");
}

#[test]
fn pasv_after_pasv_leaks_no_listener_or_port() {
    // A range of 4 ports: if replaced listeners were kept open, the fifth
    // PASV would find no free port. (Below the ephemeral range, and apart
    // per test process.)
    let dir = common::TempDir::new("pasv");
    let low = 12000 + (std::process::id() % 1000) as u16 * 4;
    common::write_config(&dir.path, &[alice()], &[], &[]);
    let settings = std::fs::read_to_string(dir.path.join("settings.ini")).unwrap();
    std::fs::write(
        dir.path.join("settings.ini"),
        settings.replace("ports = 20000-32000", &format!("ports = {low}-{}", low + 3)),
    )
    .unwrap();
    let server = TestServer::start_in(dir);
    std::fs::write(server.home("alice").join("f"), b"payload").unwrap();
    let mut client = logged_in(&server);
    for round in 0..200 {
        let verb = if round % 2 == 0 { "PASV" } else { "EPSV" };
        let (code, text) = client.cmd(verb);
        assert!(code == 227 || code == 229, "round {round}: {text}");
    }
    // The last one works.
    let port = epsv_port(&mut client);
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(client.cmd("RETR f").0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"payload");
    assert_eq!(client.reply().0, 226);
    // After the transfer no listener is left.
    for port in low..=low + 3 {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still listening"
        );
    }
}
