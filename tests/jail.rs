//! The home jail: no path, however written, reaches outside the home.

mod common;

use std::os::unix::fs::symlink;

use common::{RawClient, TestAccount, TestServer, python_ok};

fn setup() -> TestServer {
    let server = TestServer::start(&[
        TestAccount::new("alice", "pw-alice"),
        TestAccount::new("bob", "pw-bob"),
        TestAccount::new("reader", "pw-reader").read_only(),
    ]);
    let root = &server.dir.path;
    std::fs::write(root.join("secret.txt"), b"top secret").unwrap();
    std::fs::write(server.home("bob").join("bob.txt"), b"bob's").unwrap();
    std::fs::create_dir_all(server.home("alice").join("sub")).unwrap();
    std::fs::write(server.home("alice").join("sub/inner.txt"), b"inner").unwrap();
    std::fs::write(server.home("reader").join("r.txt"), b"read me").unwrap();
    // Symlinks a shell user might leave: one out of the home, one inside.
    symlink(root.join("secret.txt"), server.home("alice").join("escape")).unwrap();
    symlink(root, server.home("alice").join("rootdir")).unwrap();
    symlink("sub", server.home("alice").join("alias")).unwrap();
    server
}

#[test]
fn every_escape_path_is_refused_or_stays_inside() {
    let server = setup();
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw-alice");
    // Climbing above the home lands on the home itself.
    for path in ["..", "../..", "/..", "/../..", "sub/../..", "//", "/./../"] {
        assert_eq!(client.cmd(&format!("CWD {path}")).0, 250, "{path}");
        let (_, pwd) = client.cmd("PWD");
        assert_eq!(pwd, "257 \"/\" is the current directory", "{path}");
    }
    // Paths naming things outside resolve inside, where they don't exist.
    for path in [
        "../secret.txt",
        "/../secret.txt",
        "../../secret.txt",
        "sub/../../secret.txt",
        "../bob/bob.txt",
        "..\\secret.txt",
        "%2e%2e/secret.txt",
        "%2e%2e%2fsecret.txt",
        "//secret.txt",
        "escape",
        "rootdir/secret.txt",
        "rootdir",
    ] {
        assert_eq!(client.cmd(&format!("SIZE {path}")).0, 550, "SIZE {path}");
        let (code, bytes) = client.retr(path);
        assert_eq!(code, 550, "RETR {path}");
        assert!(bytes.is_empty());
    }
    assert_eq!(client.cmd("CWD rootdir").0, 550);
    assert_eq!(client.cmd("CWD ../bob").0, 550);
    // A symlink inside the home works.
    assert_eq!(client.retr("alias/inner.txt"), (226, b"inner".to_vec()));
}

#[test]
fn writes_through_escape_paths_never_touch_the_outside() {
    let server = setup();
    let root = server.dir.path.clone();
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw-alice");
    // Through a symlink to a file outside, or a folder outside.
    assert_eq!(client.upload("STOR", "escape", b"overwritten").0, 550);
    assert_eq!(client.upload("STOR", "rootdir/new.txt", b"x").0, 550);
    assert_eq!(client.upload("APPE", "escape", b"x").0, 550);
    assert_eq!(client.cmd("MKD rootdir/newdir").0, 550);
    assert_eq!(client.cmd("DELE rootdir/secret.txt").0, 550);
    // RNTO cannot move anything out.
    assert_eq!(client.cmd("RNFR sub/inner.txt").0, 350);
    assert_eq!(client.cmd("RNTO rootdir/stolen.txt").0, 550);
    assert_eq!(client.cmd("RNFR sub/inner.txt").0, 350);
    assert_eq!(client.cmd("RNTO ../../stolen.txt").0, 250);
    // ".." climbed to the home, so the file is in the home, not outside.
    assert!(server.home("alice").join("stolen.txt").exists());
    assert!(!root.join("stolen.txt").exists());
    assert_eq!(
        std::fs::read(root.join("secret.txt")).unwrap(),
        b"top secret"
    );
    assert!(!root.join("new.txt").exists());
    assert!(!root.join("newdir").exists());
    // DELE of the link removes the link, not the outside file.
    assert_eq!(client.cmd("DELE escape").0, 250);
    assert_eq!(
        std::fs::read(root.join("secret.txt")).unwrap(),
        b"top secret"
    );
}

#[test]
fn listings_hide_symlinks_that_lead_outside() {
    let server = setup();
    let out = python_ok(
        r#"
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=10)
ftp.login("alice", "pw-alice")
print(sorted(ftp.nlst()))
print(sorted(name for name, facts in ftp.mlsd()))
ftp.quit()
"#,
        &[&server.port().to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "['alias', 'sub']", "{out}");
    assert_eq!(lines[1], "['alias', 'sub']", "{out}");
}

#[test]
fn users_cannot_see_each_other() {
    let server = setup();
    let mut client = RawClient::connect(&server);
    client.login("bob", "pw-bob");
    assert_eq!(client.retr("bob.txt"), (226, b"bob's".to_vec()));
    assert_eq!(client.retr("../alice/sub/inner.txt").0, 550);
    assert_eq!(client.cmd("CWD /alice").0, 550);
}

#[test]
fn read_only_users_get_550_for_every_write() {
    let server = setup();
    let mut client = RawClient::connect(&server);
    client.login("reader", "pw-reader");
    assert_eq!(client.retr("r.txt"), (226, b"read me".to_vec()));
    for command in ["MKD d", "RMD d", "DELE r.txt", "RNFR r.txt", "ALLO 10"] {
        assert_eq!(client.cmd(command).0, 550, "{command}");
    }
    for verb in ["STOR", "APPE"] {
        assert_eq!(client.upload(verb, "new.txt", b"data").0, 550, "{verb}");
    }
    assert_eq!(client.cmd("STOU").0, 550);
    assert_eq!(
        std::fs::read(server.home("reader").join("r.txt")).unwrap(),
        b"read me"
    );
    assert!(!server.home("reader").join("new.txt").exists());
}
