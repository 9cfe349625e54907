//! Uploads and downloads with independent clients: byte-exact both ways,
//! resume both ways, APPE, STOU, active mode, ABOR.

mod common;

use std::io::{Read, Write};

use common::{RawClient, TestAccount, TestServer, curl, lftp, lftp_open, python_ok, random_bytes};

fn server() -> TestServer {
    TestServer::start(&[TestAccount::new("alice", "pw-alice")])
}

/// Files every transfer test moves: random bytes, every byte value, empty.
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("random.bin", random_bytes(3 * 1024 * 1024 + 17, 1)),
        (
            "all-bytes.bin",
            (0..=255u8).cycle().take(256 * 40).collect(),
        ),
        ("empty.bin", Vec::new()),
        ("crlf.txt", b"line one\r\nline two\nline three\r\n".to_vec()),
    ]
}

#[test]
fn curl_uploads_and_downloads_byte_exact() {
    let server = server();
    let local = common::TempDir::new("curl");
    for (name, bytes) in samples() {
        let source = local.path.join(name);
        std::fs::write(&source, &bytes).unwrap();
        let url = format!(
            "{}dir%20with%20spaces/{name}",
            server.url("alice", "pw-alice")
        );
        let up = curl(&["--ftp-create-dirs", "-T", source.to_str().unwrap(), &url]);
        assert!(
            up.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        let on_disk =
            std::fs::read(server.home("alice").join("dir with spaces").join(name)).unwrap();
        assert!(on_disk == bytes, "{name}: uploaded bytes differ");
        let down = curl(&[&url]);
        assert!(
            down.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&down.stderr)
        );
        assert!(down.stdout == bytes, "{name}: downloaded bytes differ");
    }
}

#[test]
fn ftplib_transfers_resume_both_ways_and_append() {
    let server = server();
    let data = random_bytes(2 * 1024 * 1024 + 3, 7);
    let local = common::TempDir::new("ftplib");
    std::fs::write(local.path.join("full.bin"), &data).unwrap();
    // The server already holds the first 700000 bytes (an upload cut short).
    std::fs::write(server.home("alice").join("partial.bin"), &data[..700_000]).unwrap();
    let out = python_ok(
        r#"
import ftplib, sys, io
port, folder = int(sys.argv[1]), sys.argv[2]
full = open(folder + "/full.bin", "rb").read()
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=20)
ftp.login("alice", "pw-alice")
ftp.voidcmd("TYPE I")
# Upload resume: REST + STOR from the remote size.
offset = ftp.size("partial.bin")
print("remote size", offset)
print(ftp.storbinary("STOR partial.bin", io.BytesIO(full[offset:]), rest=offset))
# Download resume: REST + RETR from a local offset.
got = bytearray(full[:123457])
ftp.retrbinary("RETR partial.bin", got.extend, rest=len(got))
print("download resumed equal", bytes(got) == full)
# APPE adds to the end.
ftp.storbinary("APPE partial.bin", io.BytesIO(b"tail"))
print("size after APPE", ftp.size("partial.bin"))
# STOU makes a new name each time.
for _ in range(2):
    print(ftp.storbinary("STOU", io.BytesIO(b"unique")))
ftp.quit()
"#,
        &[&server.port().to_string(), local.path.to_str().unwrap()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "remote size 700000", "{out}");
    assert!(lines[1].starts_with("226"), "{out}");
    assert_eq!(lines[2], "download resumed equal True", "{out}");
    assert_eq!(
        lines[3],
        format!("size after APPE {}", data.len() + 4),
        "{out}"
    );
    assert!(
        lines[4].starts_with("226") && lines[5].starts_with("226"),
        "{out}"
    );
    assert_ne!(lines[4], lines[5], "STOU reused a name: {out}");
    let mut expected = data.clone();
    expected.extend_from_slice(b"tail");
    assert!(std::fs::read(server.home("alice").join("partial.bin")).unwrap() == expected);
    let stou_files = std::fs::read_dir(server.home("alice"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("stou")
        })
        .count();
    assert_eq!(stou_files, 2);
}

#[test]
fn lftp_mirrors_a_tree_both_ways() {
    let server = server();
    let local = common::TempDir::new("lftp");
    let up = local.path.join("up");
    std::fs::create_dir_all(up.join("nested/deeper")).unwrap();
    std::fs::write(up.join("a.bin"), random_bytes(500_000, 3)).unwrap();
    std::fs::write(up.join("nested/ünïcødé name.txt"), "héllo wörld").unwrap();
    std::fs::write(up.join("nested/deeper/empty"), b"").unwrap();
    let down = local.path.join("down");
    let script = format!(
        "{}; mirror -R {} /tree; mirror /tree {}",
        lftp_open(&server, "alice", "pw-alice"),
        up.display(),
        down.display()
    );
    let out = lftp(&script);
    assert!(
        out.status.success(),
        "lftp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["a.bin", "nested/ünïcødé name.txt", "nested/deeper/empty"] {
        let original = std::fs::read(up.join(file)).unwrap();
        assert!(
            std::fs::read(server.home("alice").join("tree").join(file)).unwrap() == original,
            "{file}"
        );
        assert!(
            std::fs::read(down.join(file)).unwrap() == original,
            "{file}"
        );
    }
}

#[test]
fn lftp_resumes_an_interrupted_download() {
    let server = server();
    let data = random_bytes(1_500_000, 11);
    std::fs::write(server.home("alice").join("big.bin"), &data).unwrap();
    let local = common::TempDir::new("lftp-resume");
    let target = local.path.join("big.bin");
    std::fs::write(&target, &data[..400_000]).unwrap();
    let script = format!(
        "{}; get -c big.bin -o {}",
        lftp_open(&server, "alice", "pw-alice"),
        target.display()
    );
    let out = lftp(&script);
    assert!(
        out.status.success(),
        "lftp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&target).unwrap() == data);
}

#[test]
fn active_mode_works_for_the_control_peer() {
    let server = server();
    std::fs::write(server.home("alice").join("f.txt"), b"active bytes").unwrap();
    let out = python_ok(
        r#"
import ftplib, sys, io
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=10)
ftp.login("alice", "pw-alice")
ftp.set_pasv(False)
got = bytearray()
ftp.retrbinary("RETR f.txt", got.extend)
print(bytes(got).decode())
ftp.storbinary("STOR g.txt", io.BytesIO(b"sent actively"))
print(ftp.nlst())
ftp.quit()
"#,
        &[&server.port().to_string()],
    );
    assert!(out.starts_with("active bytes\n"), "{out}");
    assert_eq!(
        std::fs::read(server.home("alice").join("g.txt")).unwrap(),
        b"sent actively"
    );
}

#[test]
fn port_to_another_address_is_refused() {
    let server = server();
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw-alice");
    assert_eq!(client.cmd("PORT 127,0,0,2,200,10").0, 500);
    assert_eq!(client.cmd("EPRT |1|127.0.0.2|51210|").0, 500);
    assert_eq!(client.cmd("PORT 10,0,0,1,0,25").0, 500);
    assert_eq!(client.cmd("EPRT |1|127.0.0.1|25|").0, 500);
    // Nothing was set up, so a transfer has no data connection.
    assert_eq!(client.cmd("LIST").0, 425);
}

#[test]
fn abor_stops_a_running_download_and_the_session_goes_on() {
    let server = server();
    std::fs::write(
        server.home("alice").join("huge.bin"),
        random_bytes(64 * 1024 * 1024, 5),
    )
    .unwrap();
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw-alice");
    let mut data = client.epsv_connect();
    assert_eq!(client.cmd("RETR huge.bin").0, 150);
    // Read a little, then abort without draining the rest.
    let mut first = vec![0u8; 65536];
    data.read_exact(&mut first).unwrap();
    client.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n");
    let (code, text) = client.reply();
    assert!(code == 426 || code == 226, "{text}");
    if code == 426 {
        assert_eq!(client.reply().0, 226);
    }
    drop(data);
    assert_eq!(client.cmd("NOOP").0, 200);
    assert_eq!(client.retr("huge.bin").0, 226);
}

#[test]
fn rest_beyond_the_end_is_refused() {
    let server = server();
    std::fs::write(server.home("alice").join("s.txt"), b"short").unwrap();
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw-alice");
    assert_eq!(client.cmd("REST 6").0, 350);
    let _data = client.epsv_connect();
    assert_eq!(client.cmd("RETR s.txt").0, 554);
    // REST applies once: the next RETR starts at 0.
    assert_eq!(client.cmd("REST 2").0, 350);
    assert_eq!(client.cmd("NOOP").0, 200);
    assert_eq!(client.retr("s.txt"), (226, b"short".to_vec()));
    assert_eq!(client.cmd("REST 2").0, 350);
    assert_eq!(client.retr("s.txt"), (226, b"ort".to_vec()));
}

#[test]
fn a_client_vanishing_mid_upload_leaves_a_resumable_file() {
    let server = server();
    let data = random_bytes(4 * 1024 * 1024, 9);
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw-alice");
    let mut stream = client.epsv_connect();
    assert_eq!(client.cmd("STOR cut.bin").0, 150);
    stream.write_all(&data[..1_000_000]).unwrap();
    // The client dies: both connections go away mid-transfer.
    drop(stream);
    drop(client);
    let path = server.home("alice").join("cut.bin");
    let arrived = common::wait_until(std::time::Duration::from_secs(10), || {
        std::fs::metadata(&path)
            .map(|m| m.len() == 1_000_000)
            .unwrap_or(false)
    });
    assert!(arrived, "the partial file is not there");
    // A new session resumes it with REST+STOR, once the server has seen the
    // first session end (until then the file is busy: HASH answers 450).
    let mut again = RawClient::connect(&server);
    again.login("alice", "pw-alice");
    let released = common::wait_until(std::time::Duration::from_secs(10), || {
        again.cmd("XMD5 cut.bin").0 == 250
    });
    assert!(released, "the vanished session still holds the file");
    let (_, size) = again.cmd("SIZE cut.bin");
    assert_eq!(size, "213 1000000");
    assert_eq!(again.cmd("REST 1000000").0, 350);
    assert_eq!(again.upload("STOR", "cut.bin", &data[1_000_000..]).0, 226);
    assert!(std::fs::read(&path).unwrap() == data);
}

#[test]
fn ipv6_listen_with_epsv_and_eprt() {
    let server = TestServer::builder(&[TestAccount::new("alice", "pw-alice")])
        .server("listen = [::1]:0")
        .start();
    std::fs::write(server.home("alice").join("six.txt"), b"over ipv6").unwrap();
    let url = format!("ftp://alice:pw-alice@[::1]:{}/six.txt", server.port());
    let out = curl(&["-g", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"over ipv6");
    let out = curl(&["-g", "--ftp-port", "::1", &url]);
    assert!(
        out.status.success(),
        "active over IPv6: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"over ipv6");
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw-alice");
    // PASV has no IPv6 form (RFC 2428): 522 points the client to EPSV.
    assert_eq!(client.cmd("PASV").0, 522);
    assert_eq!(client.cmd("EPSV 1").0, 522);
}
