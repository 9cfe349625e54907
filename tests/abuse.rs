//! Protocol and path abuse: hostile command lines and hostile names each get
//! the right 5xx reply and the session goes on; odd files placed in a home
//! (FIFOs, devices, links, names with CR/LF) never block a worker, forge a
//! reply line or lead out of the home.

mod common;

use std::io::Read;
use std::os::unix::fs::symlink;
use std::time::Duration;

use common::{RawClient, TestAccount, TestServer, random_bytes};

fn alice() -> TestAccount {
    TestAccount::new("alice", "pw")
}

fn logged_in(server: &TestServer) -> RawClient {
    let mut client = RawClient::connect(server);
    client.login("alice", "pw");
    client
}

/// The session still answers, and in step (the next reply is NOOP's).
fn assert_alive(client: &mut RawClient) {
    let (code, text) = client.cmd("NOOP");
    assert_eq!(code, 200, "{text}");
}

// ---- command lines --------------------------------------------------------

#[test]
fn overlong_line_gets_500_once_and_the_session_goes_on() {
    let server = TestServer::start(&[alice()]);
    let mut client = RawClient::connect(&server);
    // Before login, then after: 100 KiB of one line is reported once.
    for round in 0..2 {
        let mut line = vec![b'A'; 100 * 1024];
        line.extend_from_slice(b"\r\n");
        client.send_raw(&line);
        let (code, text) = client.reply();
        assert_eq!(code, 500, "{text}");
        assert!(text.contains("too long"), "{text}");
        assert_alive(&mut client);
        if round == 0 {
            client.login("alice", "pw");
        }
    }
    // A line just under the limit is an ordinary (unknown) command.
    let mut line = vec![b'B'; 4000];
    line.extend_from_slice(b"\r\n");
    client.send_raw(&line);
    assert_eq!(client.reply().0, 500);
    assert_alive(&mut client);
}

#[test]
fn nul_bytes_get_501_and_the_session_goes_on() {
    let server = TestServer::start(&[alice()]);
    let mut client = RawClient::connect(&server);
    client.send_raw(b"USER ali\0ce\r\n");
    assert_eq!(client.reply().0, 501);
    assert_alive(&mut client);
    client.login("alice", "pw");
    for line in [
        &b"CWD a\0b\r\n"[..],
        b"RETR \0\r\n",
        b"MKD x\0\r\n",
        b"\0NOOP\r\n",
    ] {
        client.send_raw(line);
        let (code, text) = client.reply();
        assert_eq!(code, 501, "{line:?}: {text}");
        assert_alive(&mut client);
    }
    assert!(!server.home("alice").join("x").exists());
}

#[test]
fn invalid_utf8_gets_501_and_the_session_goes_on() {
    let server = TestServer::start(&[alice()]);
    let mut client = logged_in(&server);
    for line in [
        &b"CWD \xc3\x28\r\n"[..],
        b"MKD \xff\xff\r\n",
        b"STOR \xed\xa0\x80\r\n",
        b"RETR \xf8\x88\x80\x80\x80\r\n",
    ] {
        client.send_raw(line);
        let (code, text) = client.reply();
        assert_eq!(code, 501, "{line:?}: {text}");
        assert_alive(&mut client);
    }
    assert_eq!(std::fs::read_dir(server.home("alice")).unwrap().count(), 0);
}

#[test]
fn telnet_iac_sequences_are_stripped() {
    let server = TestServer::start(&[alice()]);
    let mut client = RawClient::connect(&server);
    // IP DM before a verb (RFC 959 4.1.3), WILL/DO with their option byte,
    // a dangling IAC at the end.
    for line in [
        &b"\xff\xf4\xff\xf2NOOP\r\n"[..],
        b"\xff\xfb\x01NOOP\r\n",
        b"NO\xff\xfd\x03OP\r\n",
        b"NOOP\xff\r\n",
    ] {
        client.send_raw(line);
        let (code, text) = client.reply();
        assert_eq!(code, 200, "{line:?}: {text}");
    }
    // IAC IAC is a literal 0xFF byte: not UTF-8, so 501.
    client.send_raw(b"USER \xff\xff\r\n");
    assert_eq!(client.reply().0, 501);
    assert_alive(&mut client);
}

#[test]
fn lowercase_verbs_extra_spaces_and_bare_lf_work() {
    let server = TestServer::start(&[alice()]);
    std::fs::create_dir(server.home("alice").join("sub")).unwrap();
    let mut client = RawClient::connect(&server);
    assert_eq!(client.cmd("user alice").0, 331);
    assert_eq!(client.cmd("pAsS pw").0, 230);
    assert_eq!(client.cmd("   noop").0, 200);
    assert_eq!(client.cmd("NOOP    ").0, 200);
    assert_eq!(client.cmd("cwd    sub").0, 250);
    assert!(client.cmd("xpwd").1.contains("\"/sub\""));
    client.send_raw(b"CDUP\n");
    assert_eq!(client.reply().0, 250);
    assert!(client.cmd("PWD").1.contains("\"/\""));
}

#[test]
fn missing_arguments_get_501_and_unknown_verbs_500() {
    let server = TestServer::start(&[alice()]);
    let mut client = RawClient::connect(&server);
    assert_eq!(client.cmd("USER").0, 501);
    assert_eq!(client.cmd("").0, 500);
    assert_eq!(client.cmd("FROBNICATE now").0, 500);
    client.login("alice", "pw");
    for verb in [
        "CWD", "RETR", "STOR", "APPE", "DELE", "MKD", "RMD", "RNFR", "RNTO", "SIZE", "MDTM",
        "REST", "PORT", "EPRT", "TYPE", "MODE", "STRU", "HASH", "XMD5", "OPTS",
    ] {
        let (code, text) = client.cmd(verb);
        assert_eq!(code, 501, "{verb}: {text}");
        let (code, text) = client.cmd(&format!("{verb}   "));
        assert_eq!(code, 501, "{verb} with spaces: {text}");
    }
    for line in [
        "REST -5",
        "REST abc",
        "PORT 1,2,3,4,5",
        "EPRT |9|x|1|",
        "TYPE Z",
    ] {
        assert_eq!(client.cmd(line).0, 501, "{line}");
    }
    assert_alive(&mut client);
}

#[test]
fn pipelined_garbage_is_answered_in_order() {
    let server = TestServer::start(&[alice()]);
    let mut client = logged_in(&server);
    let mut burst = Vec::new();
    burst.extend_from_slice(b"NOOP\r\nFROB\r\nCWD\r\n");
    burst.extend_from_slice(&[b'Z'; 9000]);
    burst.extend_from_slice(b"\r\nCWD a\0\r\nPWD\r\n");
    client.send_raw(&burst);
    let codes: Vec<u16> = (0..6).map(|_| client.reply().0).collect();
    assert_eq!(codes, [200, 500, 501, 500, 501, 257]);
    // Random binary noise never kills the session either.
    for seed in 0..20 {
        let mut noise = random_bytes(300, seed);
        noise.retain(|b| *b != b'\n');
        noise.extend_from_slice(b"\r\n");
        client.send_raw(&noise);
        let code = client.reply().0;
        assert!(
            (500..600).contains(&code) || code < 400,
            "seed {seed}: {code}"
        );
        assert_alive(&mut client);
    }
}

// ---- paths ------------------------------------------------------------------

#[test]
fn pwd_and_mkd_double_quotes_in_paths() {
    let server = TestServer::start(&[alice()]);
    let mut client = logged_in(&server);
    let (code, text) = client.cmd("MKD say \"hi\"");
    assert_eq!(code, 257);
    assert_eq!(text, "257 \"/say \"\"hi\"\"\" created");
    assert_eq!(client.cmd("CWD say \"hi\"").0, 250);
    assert_eq!(
        client.cmd("PWD").1,
        "257 \"/say \"\"hi\"\"\" is the current directory"
    );
    assert!(server.home("alice").join("say \"hi\"").is_dir());
}

#[test]
fn cr_in_a_name_is_refused_with_553() {
    let server = TestServer::start(&[alice()]);
    let mut client = logged_in(&server);
    for line in [&b"MKD a\rb\r\n"[..], b"STOR x\r226 ok\r\n", b"CWD \r/\r\n"] {
        client.send_raw(line);
        let (code, text) = client.reply();
        assert_eq!(code, 553, "{line:?}: {text}");
        assert_alive(&mut client);
    }
    assert_eq!(std::fs::read_dir(server.home("alice")).unwrap().count(), 0);
}

/// Reads a whole listing over EPSV; returns (final code, listing text).
fn listing(client: &mut RawClient, line: &str) -> (u16, String) {
    let mut data = client.epsv_connect();
    let (code, text) = client.cmd(line);
    assert_eq!(code, 150, "{line}: {text}");
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).unwrap();
    (
        client.reply().0,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[test]
fn names_with_cr_lf_on_disk_cannot_forge_replies_or_listing_lines() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    // Put there by someone with a shell; FTP itself refuses such names.
    std::fs::write(home.join("evil\r\n226 Transfer complete."), b"x").unwrap();
    std::fs::create_dir(home.join("dir\n250 fake")).unwrap();
    std::fs::write(home.join("plain.txt"), b"plain").unwrap();
    let mut client = logged_in(&server);
    // STAT travels on the control connection: one reply, nothing forged.
    let (code, text) = client.cmd("STAT .");
    assert_eq!(code, 213, "{text}");
    for line in text.lines().skip(1) {
        assert!(
            line.starts_with(' ') || line.starts_with("213 "),
            "forged line in STAT: {line:?}"
        );
    }
    assert_alive(&mut client);
    // Data listings: one line per entry, none of them forged.
    for (verb, tag) in [
        ("LIST", "plain.txt"),
        ("NLST", "plain.txt"),
        ("MLSD", "plain.txt"),
    ] {
        let (code, body) = listing(&mut client, verb);
        assert_eq!(code, 226, "{verb}");
        assert!(body.contains(tag), "{verb}: {body:?}");
        for line in body.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(
                !line.starts_with("226 ") && !line.starts_with("250 "),
                "{verb} forged a line: {line:?} in {body:?}"
            );
            assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        }
    }
    assert_alive(&mut client);
}

#[test]
fn long_names_and_deep_nesting_are_bounded() {
    let server = TestServer::start(&[alice()]);
    let mut client = logged_in(&server);
    assert_eq!(client.cmd(&format!("MKD {}", "n".repeat(256))).0, 553);
    assert_eq!(client.cmd(&format!("MKD {}", "n".repeat(255))).0, 257);
    // 64 levels is the limit; the 65th is refused, whether made one at a
    // time or named in one path.
    for level in 1..=64 {
        let (code, text) = client.cmd("MKD d");
        assert_eq!(code, 257, "level {level}: {text}");
        assert_eq!(client.cmd("CWD d").0, 250, "level {level}");
    }
    assert_eq!(client.cmd("MKD d").0, 553);
    assert_eq!(client.cmd("CWD /").0, 250);
    assert_eq!(client.cmd(&format!("CWD {}", "d/".repeat(65))).0, 553);
    assert_eq!(client.cmd(&format!("CWD {}", "d/".repeat(64))).0, 250);
    // A long path that fits the line: refused by the path bound, not a crash.
    assert_eq!(client.cmd(&format!("SIZE {}", "x/".repeat(2000))).0, 553);
    assert_alive(&mut client);
    // A tree deeper than the limit placed on disk by a shell user: listable
    // up to the limit, never past it.
    let mut deep = server.home("alice");
    for _ in 0..100 {
        deep.push("z");
    }
    std::fs::create_dir_all(&deep).unwrap();
    assert_eq!(client.cmd(&format!("CWD /{}", "z/".repeat(64))).0, 250);
    let (code, _) = listing(&mut client, "LIST");
    assert_eq!(code, 226);
    assert_eq!(client.cmd("CWD z").0, 553);
    assert_alive(&mut client);
}

#[test]
fn dot_names_and_trailing_slashes_stay_inside() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    std::fs::write(home.join("file.txt"), b"data").unwrap();
    let mut client = logged_in(&server);
    // `...` is an ordinary name.
    assert_eq!(client.cmd("MKD ...").0, 257);
    assert!(home.join("...").is_dir());
    assert_eq!(client.cmd("CWD ...").0, 250);
    assert!(client.cmd("PWD").1.contains("\"/...\""));
    assert_eq!(client.cmd("CWD ../../..").0, 250);
    assert!(client.cmd("PWD").1.contains("\"/\""));
    // `.` and `..` name the working folder or the home: never created,
    // removed or written.
    for line in [
        "MKD .", "MKD ..", "RMD .", "RMD ..", "DELE .", "DELE /", "RMD /",
    ] {
        let (code, text) = client.cmd(line);
        assert_eq!(code, 550, "{line}: {text}");
    }
    let (code, _) = client.upload("STOR", ".", b"x");
    assert_eq!(code, 550);
    let (code, _) = client.upload("STOR", "..", b"x");
    assert_eq!(code, 550);
    assert!(home.is_dir());
    // Trailing slashes: a folder with one is the folder; a file upload to
    // a name with one is refused when the name is a folder.
    assert_eq!(client.cmd("MKD new//").0, 257);
    assert!(home.join("new").is_dir());
    assert_eq!(client.cmd("CWD new/").0, 250);
    assert_eq!(client.cmd("CWD /").0, 250);
    let (code, _) = client.upload("STOR", "new/", b"x");
    assert_eq!(code, 550);
    assert!(home.join("new").is_dir());
    assert_eq!(client.cmd("SIZE file.txt/").0, 213);
    assert_eq!(client.cmd("SIZE ./file.txt/.").0, 213);
    assert_alive(&mut client);
    // Nothing was written beside the home.
    let siblings: Vec<_> = std::fs::read_dir(home.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, vec![std::ffi::OsString::from("alice")]);
}

#[test]
fn fifos_and_devices_in_a_home_never_block_a_worker() {
    // One worker: if any command blocked on the FIFO, the rest of the test
    // (and the second client) would get no reply.
    let server = TestServer::builder(&[alice()])
        .server("max_connections = 1")
        .start();
    let home = server.home("alice");
    let status = std::process::Command::new("mkfifo")
        .arg(home.join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    // A character device (the same numbers as /dev/zero). Needs CAP_MKNOD;
    // where it is missing, a symlink to the real device (outside the home)
    // stands in.
    let made = std::process::Command::new("mknod")
        .arg(home.join("zero"))
        .args(["c", "1", "5"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !made {
        symlink("/dev/zero", home.join("zero")).unwrap();
    }
    let mut client = logged_in(&server);
    for name in ["pipe", "zero"] {
        for line in [
            format!("SIZE {name}"),
            format!("MDTM {name}"),
            format!("XMD5 {name}"),
            format!("HASH {name}"),
        ] {
            let (code, text) = client.cmd(&line);
            assert_eq!(code, 550, "{line}: {text}");
        }
        let (code, _) = client.retr(name);
        assert_eq!(code, 550, "RETR {name}");
        for verb in ["STOR", "APPE"] {
            let (code, text) = client.upload(verb, name, b"data");
            assert_eq!(code, 550, "{verb} {name}: {text}");
        }
        assert_eq!(client.cmd("REST 1").0, 350);
        let (code, _) = client.upload("STOR", name, b"data");
        assert_eq!(code, 550, "REST+STOR {name}");
    }
    let (code, body) = listing(&mut client, "LIST");
    assert_eq!(code, 226);
    assert!(body.contains("pipe"), "{body}");
    assert_eq!(client.cmd("QUIT").0, 221);
    assert!(client.is_closed());
    // The only worker is free again.
    let ok = common::a_worker_is_free(server.addr, Duration::from_secs(10));
    assert!(ok, "the worker was not freed");
}

#[test]
fn hard_link_to_a_file_outside_is_served_as_documented() {
    // SECURITY.md: a hard link placed by a shell user is indistinguishable
    // from a file inside and is served. This test pins that documented
    // behaviour; symlinks, by contrast, are refused (next test).
    let server = TestServer::start(&[alice()]);
    let outside = server.dir.path.join("outside.txt");
    std::fs::write(&outside, b"linked").unwrap();
    std::fs::hard_link(&outside, server.home("alice").join("link")).unwrap();
    let mut client = logged_in(&server);
    assert_eq!(client.retr("link"), (226, b"linked".to_vec()));
}

#[test]
fn symlinks_leading_out_are_refused_for_every_verb() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    let outside = server.dir.path.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    symlink(&outside, home.join("out")).unwrap();
    symlink(outside.join("secret"), home.join("s")).unwrap();
    let mut client = logged_in(&server);
    assert_eq!(client.retr("s").0, 550);
    assert_eq!(client.retr("out/secret").0, 550);
    assert_eq!(client.cmd("CWD out").0, 550);
    assert_eq!(client.cmd("SIZE out/secret").0, 550);
    assert_eq!(client.cmd("MKD out/new").0, 550);
    assert_eq!(client.upload("STOR", "out/new", b"x").0, 550);
    assert_eq!(client.upload("STOR", "s", b"x").0, 550);
    assert_eq!(client.upload("APPE", "s", b"x").0, 550);
    assert_eq!(client.cmd("RNFR s").0, 350);
    assert_eq!(client.cmd("RNTO out/moved").0, 550);
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"secret");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
}

#[test]
fn symlink_swaps_during_transfers_never_escape_the_home() {
    // A shell user swaps the folder `home/real` for a symlink to a folder
    // outside and back, as fast as it can, while the client downloads and
    // uploads through it. The jail checks the canonical path and then opens
    // it, so a swap between the two is the classic check-then-open race.
    // Whatever the interleaving, the client may see the inside file or an
    // error, never the outside one, and nothing is written outside.
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    let outside = server.dir.path.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("f"), b"OUTSIDE-SECRET").unwrap();
    std::fs::create_dir(home.join("real")).unwrap();
    std::fs::write(home.join("real/f"), b"inside").unwrap();
    symlink(&outside, home.join(".link")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let stop = std::sync::Arc::clone(&stop);
        let home = home.clone();
        std::thread::spawn(move || {
            let (real, stash, link) = (home.join("real"), home.join(".stash"), home.join(".link"));
            let mut flips = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::rename(&real, &stash).unwrap();
                std::fs::rename(&link, &real).unwrap();
                std::fs::rename(&real, &link).unwrap();
                std::fs::rename(&stash, &real).unwrap();
                flips += 1;
            }
            flips
        })
    };
    let mut client = logged_in(&server);
    let mut served = 0;
    for round in 0..2000 {
        let (code, bytes) = client.retr("real/f");
        assert_ne!(bytes, b"OUTSIDE-SECRET", "round {round}: escaped the home");
        if code == 226 {
            assert_eq!(bytes, b"inside");
            served += 1;
        }
        if round % 10 == 0 {
            let _ = client.upload("STOR", &format!("real/up{round}"), b"x");
            let _ = client.upload("APPE", "real/f", b"");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert!(flips > 0);
    assert_eq!(std::fs::read(outside.join("f")).unwrap(), b"OUTSIDE-SECRET");
    let outside_names: Vec<_> = std::fs::read_dir(&outside).unwrap().collect();
    assert_eq!(outside_names.len(), 1, "something was written outside");
    assert!(served > 0, "no round was served at all");
}
