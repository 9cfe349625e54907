//! File integrity (issue 3): HASH as in draft-bryan-ftpext-hash-02, OPTS
//! HASH, the FEAT line, and the older XMD5/XSHA* commands.
//!
//! Digests are computed on the client side independently: by Python's
//! hashlib on what ftplib sent or received, and by the md-5/sha2 crates on
//! the bytes the test generated. A HASH that merely agreed with itself
//! would fail here.

mod common;

use std::io::Write;

use common::{
    RawClient, TempDir, TestAccount, TestServer, curl, md5_hex, python_ok, random_bytes, sha256_hex,
};

const MIB: usize = 1024 * 1024;

fn alice() -> TestAccount {
    TestAccount::new("alice", "secret")
}

fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sha512_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    Sha512::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn hash_md5_and_sha256_match_local_digests_after_opts_switches() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let bytes = random_bytes(3 * MIB + 12345, 1);
    let file = local.path.join("big.bin");
    std::fs::write(&file, &bytes).unwrap();
    let out = python_ok(
        r#"
import ftplib, hashlib, sys
port, path = int(sys.argv[1]), sys.argv[2]
data = open(path, "rb").read()
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=30)
ftp.login("alice", "secret")
with open(path, "rb") as f:
    print(ftp.storbinary("STOR big.bin", f))
print(ftp.sendcmd("OPTS HASH"))
print(ftp.sendcmd("HASH big.bin"))
print(ftp.sendcmd("OPTS HASH MD5"))
print(ftp.sendcmd("OPTS HASH"))
print(ftp.sendcmd("HASH big.bin"))
print(ftp.sendcmd("OPTS HASH sha-512"))
print(ftp.sendcmd("HASH big.bin"))
print(ftp.sendcmd("OPTS HASH SHA-1"))
print(ftp.sendcmd("HASH big.bin"))
# What hashlib says of the bytes ftplib sent, and of the bytes it gets back.
got = bytearray()
ftp.retrbinary("RETR big.bin", got.extend)
for algo in ("sha256", "md5", "sha512", "sha1"):
    print(algo, hashlib.new(algo, data).hexdigest(), hashlib.new(algo, bytes(got)).hexdigest())
ftp.quit()
"#,
        &[&server.port().to_string(), file.to_str().unwrap()],
    );
    let lines: Vec<&str> = out.lines().collect();
    let size = bytes.len();
    assert!(lines[0].starts_with("226"), "{out}");
    assert_eq!(lines[1], "200 SHA-256", "the default");
    assert_eq!(
        lines[2],
        format!("213 SHA-256 0-{size} {} /big.bin", sha256_hex(&bytes))
    );
    assert_eq!(lines[3], "200 MD5");
    assert_eq!(lines[4], "200 MD5");
    assert_eq!(
        lines[5],
        format!("213 MD5 0-{size} {} /big.bin", md5_hex(&bytes))
    );
    assert_eq!(lines[6], "200 SHA-512");
    assert_eq!(
        lines[7],
        format!("213 SHA-512 0-{size} {} /big.bin", sha512_hex(&bytes))
    );
    assert_eq!(lines[8], "200 SHA-1");
    assert_eq!(
        lines[9],
        format!("213 SHA-1 0-{size} {} /big.bin", sha1_hex(&bytes))
    );
    // hashlib agrees with the server on the bytes sent and received.
    let server_hex = |line: &str| line.split(' ').nth(3).unwrap().to_string();
    for (row, hash_line) in lines[10..14]
        .iter()
        .zip([lines[2], lines[5], lines[7], lines[9]])
    {
        let words: Vec<&str> = row.split(' ').collect();
        assert_eq!(words[1], server_hex(hash_line), "{row}");
        assert_eq!(words[2], server_hex(hash_line), "{row}");
    }
    assert_eq!(
        std::fs::read(server.home("alice").join("big.bin")).unwrap(),
        bytes
    );
}

#[test]
fn curl_upload_then_xmd5_and_xsha_answer_the_hex_digest() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let bytes = random_bytes(2 * MIB + 7, 2);
    let file = local.path.join("up.bin");
    std::fs::write(&file, &bytes).unwrap();
    let upload = curl(&[
        "-T",
        file.to_str().unwrap(),
        &format!("{}dir/up.bin", server.url("alice", "secret")),
        "--ftp-create-dirs",
    ]);
    assert!(upload.status.success(), "{upload:?}");
    let mut client = RawClient::connect(&server);
    client.login("alice", "secret");
    assert_eq!(
        client.cmd("XMD5 dir/up.bin"),
        (250, format!("250 {}", md5_hex(&bytes)))
    );
    assert_eq!(
        client.cmd("XSHA256 /dir/up.bin"),
        (250, format!("250 {}", sha256_hex(&bytes)))
    );
    assert_eq!(client.cmd("CWD dir").0, 250);
    assert_eq!(
        client.cmd("XSHA1 up.bin"),
        (250, format!("250 {}", sha1_hex(&bytes)))
    );
    assert_eq!(
        client.cmd("XSHA512 up.bin"),
        (250, format!("250 {}", sha512_hex(&bytes)))
    );
    // XMD5 does not change what HASH uses.
    let (code, text) = client.cmd("HASH up.bin");
    assert_eq!(code, 213);
    assert!(text.starts_with("213 SHA-256 "), "{text}");
}

#[test]
fn feat_lists_the_hashes_with_the_selected_one_starred_and_avbl() {
    let server = TestServer::start(&[alice()]);
    let out = python_ok(
        r#"
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=30)
print(ftp.sendcmd("FEAT").replace("\n", "|"))
ftp.login("alice", "secret")
print(ftp.sendcmd("OPTS HASH MD5"))
print(ftp.sendcmd("FEAT").replace("\n", "|"))
ftp.quit()
"#,
        &[&server.port().to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    let features = |line: &str| -> Vec<String> {
        line.split('|')
            .filter(|l| l.starts_with(' '))
            .map(|l| l[1..].to_string())
            .collect()
    };
    let before = features(lines[0]);
    assert!(lines[0].starts_with("211-"), "{out}");
    assert!(before.contains(&"AVBL".to_string()), "{before:?}");
    assert!(
        before.contains(&"HASH SHA-1;SHA-256*;SHA-512;MD5".to_string()),
        "{before:?}"
    );
    assert_eq!(lines[1], "200 MD5");
    let after = features(lines[2]);
    assert!(
        after.contains(&"HASH SHA-1;SHA-256;SHA-512;MD5*".to_string()),
        "{after:?}"
    );
    assert!(after.contains(&"AVBL".to_string()), "{after:?}");
}

#[test]
fn hash_errors_follow_the_draft() {
    let server = TestServer::start(&[alice()]);
    std::fs::create_dir(server.home("alice").join("folder")).unwrap();
    let mut client = RawClient::connect(&server);
    client.login("alice", "secret");
    assert_eq!(client.cmd("HASH missing.bin").0, 550);
    assert_eq!(client.cmd("XMD5 missing.bin").0, 550);
    assert_eq!(client.cmd("HASH folder").0, 553);
    assert_eq!(client.cmd("XSHA256 folder").0, 553);
    assert_eq!(client.cmd("HASH").0, 501);
    assert_eq!(client.cmd("OPTS HASH SHA-512").0, 200);
    assert_eq!(
        client.cmd("OPTS HASH CRC-37"),
        (
            501,
            "501 Unknown algorithm, current selection not changed.".to_string()
        )
    );
    assert_eq!(client.cmd("OPTS HASH"), (200, "200 SHA-512".to_string()));
    // A path that leaves the home looks like any missing file.
    assert_eq!(client.cmd("HASH ../../etc/passwd").0, 550);
}

#[test]
fn hash_of_an_empty_file_in_a_folder_after_cwd() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    std::fs::create_dir(home.join("sub")).unwrap();
    std::fs::write(home.join("sub/empty.bin"), b"").unwrap();
    let mut client = RawClient::connect(&server);
    client.login("alice", "secret");
    assert_eq!(client.cmd("CWD sub").0, 250);
    assert_eq!(
        client.cmd("HASH empty.bin").1,
        format!("213 SHA-256 0-0 {} /sub/empty.bin", sha256_hex(b""))
    );
}

#[test]
fn hash_while_another_session_uploads_the_file_is_450() {
    let server = TestServer::start(&[alice()]);
    let bytes = random_bytes(MIB, 3);
    let mut uploader = RawClient::connect(&server);
    uploader.login("alice", "secret");
    let mut data = uploader.start_upload("STOR", "growing.bin", &bytes[..300_000]);

    let mut checker = RawClient::connect(&server);
    checker.login("alice", "secret");
    let busy = "450 File busy, try again later.".to_string();
    assert_eq!(checker.cmd("HASH growing.bin"), (450, busy.clone()));
    assert_eq!(checker.cmd("XMD5 growing.bin"), (450, busy.clone()));
    assert_eq!(checker.cmd("XSHA256 /growing.bin"), (450, busy.clone()));
    // Its other files are not busy.
    std::fs::write(server.home("alice").join("other.bin"), b"x").unwrap();
    assert_eq!(checker.cmd("XMD5 other.bin").0, 250);

    data.write_all(&bytes[300_000..]).unwrap();
    drop(data);
    assert_eq!(uploader.reply().0, 226);
    // Once the upload is finished the digest is there, and right.
    assert_eq!(
        checker.cmd("HASH growing.bin").1,
        format!(
            "213 SHA-256 0-{} {} /growing.bin",
            bytes.len(),
            sha256_hex(&bytes)
        )
    );
}

#[test]
fn hash_of_a_file_being_overwritten_or_appended_is_450() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    let old = random_bytes(100_000, 4);
    std::fs::write(home.join("doc.bin"), &old).unwrap();
    let mut uploader = RawClient::connect(&server);
    uploader.login("alice", "secret");
    let mut checker = RawClient::connect(&server);
    checker.login("alice", "secret");

    for verb in ["STOR", "APPE"] {
        let now = std::fs::read(home.join("doc.bin")).unwrap();
        let more = random_bytes(50_000, 5);
        let mut data = uploader.start_upload(verb, "doc.bin", &more[..10_000]);
        assert_eq!(checker.cmd("HASH doc.bin").0, 450, "{verb}");
        // Neither can another session write the same file meanwhile, and
        // its refusal leaves the file alone.
        let (code, _) = checker.upload("APPE", "doc.bin", b"intruder");
        assert_eq!(code, 450, "{verb}");
        data.write_all(&more[10_000..]).unwrap();
        drop(data);
        assert_eq!(uploader.reply().0, 226, "{verb}");
        let expected = if verb == "STOR" {
            more.clone()
        } else {
            [now, more].concat()
        };
        assert_eq!(std::fs::read(home.join("doc.bin")).unwrap(), expected);
        assert_eq!(
            checker.cmd("XMD5 doc.bin"),
            (250, format!("250 {}", md5_hex(&expected)))
        );
    }
}

#[test]
fn hash_streams_a_file_larger_than_its_buffer_from_disk() {
    // Written straight to disk: the digest must come from the file, not
    // from anything remembered of an upload.
    let server = TestServer::start(&[alice()]);
    let bytes = random_bytes(5 * MIB + 1, 6);
    std::fs::write(server.home("alice").join("disk.bin"), &bytes).unwrap();
    let mut client = RawClient::connect(&server);
    client.login("alice", "secret");
    assert_eq!(client.cmd("OPTS HASH MD5").0, 200);
    assert_eq!(
        client.cmd("HASH disk.bin").1,
        format!("213 MD5 0-{} {} /disk.bin", bytes.len(), md5_hex(&bytes))
    );
}
