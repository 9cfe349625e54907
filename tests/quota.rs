//! Per-user disk quotas (issue 3), against the real server.
//!
//! The main flows are driven by Python's ftplib and by curl, so a bug shared
//! by our server and a client of ours cannot hide; `RawClient` is used where
//! an exact reply code or a held-open data connection is the point. Every
//! test checks the disk as well as the replies: the bytes of the files, and
//! that the sum of the sizes in the home never passes the quota.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    RawClient, TempDir, TestAccount, TestServer, curl, python_ok, random_bytes, write_config,
};

const KIB: usize = 1024;
const MIB: u64 = 1024 * 1024;

/// A 1 MiB-quota user, as in the issue.
fn alice() -> TestAccount {
    TestAccount::new("alice", "secret").quota("1M")
}

/// Helpers shared by the ftplib scripts. `put` returns the final reply
/// line of an upload whether it succeeded or not: when the server stops
/// reading (quota, disk full) and resets the data connection before the
/// client has sent everything, the reply is still waiting on the control
/// connection and is read from there.
const PY: &str = r#"
import ftplib, sys, io, os
PORT = int(sys.argv[1])

def login(user="alice", password="secret"):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", PORT, timeout=30)
    ftp.login(user, password)
    ftp.voidcmd("TYPE I")
    return ftp

def put(ftp, cmd, path, rest=None):
    with open(path, "rb") as f:
        try:
            return ftp.storbinary(cmd, f, rest=rest)
        except ftplib.Error as e:
            return str(e)
        except OSError:
            try:
                return ftp.getresp()
            except ftplib.Error as e:
                return str(e)

def cmd(ftp, line):
    try:
        return ftp.sendcmd(line)
    except ftplib.Error as e:
        return str(e)
"#;

/// Runs `body` after the helpers, with the server's port as argv[1] and
/// `args` after it; returns stdout's lines.
fn ftplib(server: &TestServer, body: &str, args: &[&Path]) -> Vec<String> {
    let port = server.port().to_string();
    let mut argv: Vec<&str> = vec![&port];
    argv.extend(args.iter().map(|p| p.to_str().unwrap()));
    let out = python_ok(&format!("{PY}\n{body}"), &argv);
    out.lines().map(str::to_string).collect()
}

/// Writes `bytes` to a local file for a client to upload.
fn local_file(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Sum of the sizes of all regular files under `dir` (hidden ones too).
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_dir() {
            total += disk_usage(&entry.path());
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

/// Names in the top of a home, sorted (temporary upload files included).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_under_quota(home: &Path, quota: u64) {
    let used = disk_usage(home);
    assert!(
        used <= quota,
        "home holds {used} bytes, over the quota of {quota}: {:?}",
        names(home)
    );
}

// ---- the limit ---------------------------------------------------------------

#[test]
fn second_upload_over_quota_gets_552_and_home_stays_under_quota() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let first = random_bytes(600 * KIB, 1);
    let second = random_bytes(600 * KIB, 2);
    let small = random_bytes(100 * KIB, 3);
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR first.bin", sys.argv[2]))
print(put(ftp, "STOR second.bin", sys.argv[3]))
print(ftp.voidcmd("NOOP"))
print(put(ftp, "STOR small.bin", sys.argv[4]))
ftp.quit()
"#,
        &[
            &local_file(&local, "first", &first),
            &local_file(&local, "second", &second),
            &local_file(&local, "small", &small),
        ],
    );
    assert!(lines[0].starts_with("226"), "{lines:?}");
    // Used and limit are in the text; "used" is what the user holds once
    // the refused upload has been taken back.
    assert_eq!(
        lines[1],
        "552 Quota exceeded: 600.0 KiB used of 1.0 MiB (614400 of 1048576 bytes)."
    );
    // The session goes on, and an upload that fits still works.
    assert!(lines[2].starts_with("200"), "{lines:?}");
    assert!(lines[3].starts_with("226"), "{lines:?}");
    let home = server.home("alice");
    assert_eq!(names(&home), ["first.bin", "small.bin"]);
    assert_eq!(std::fs::read(home.join("first.bin")).unwrap(), first);
    assert_eq!(std::fs::read(home.join("small.bin")).unwrap(), small);
    assert_under_quota(&home, MIB);
}

#[test]
fn appe_over_quota_keeps_the_original_content() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let original = random_bytes(600 * KIB, 4);
    let more = random_bytes(600 * KIB, 5);
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR log.bin", sys.argv[2]))
print(put(ftp, "APPE log.bin", sys.argv[3]))
print(ftp.size("log.bin"))
ftp.quit()
"#,
        &[
            &local_file(&local, "original", &original),
            &local_file(&local, "more", &more),
        ],
    );
    assert!(lines[0].starts_with("226"), "{lines:?}");
    assert!(lines[1].starts_with("552 Quota exceeded"), "{lines:?}");
    assert_eq!(lines[2], (600 * KIB).to_string());
    let home = server.home("alice");
    assert_eq!(std::fs::read(home.join("log.bin")).unwrap(), original);
    assert_under_quota(&home, MIB);
}

#[test]
fn stor_over_quota_keeps_previous_content() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let big = random_bytes(600 * KIB, 6);
    let old = random_bytes(300 * KIB, 7);
    let new = random_bytes(600 * KIB, 8);
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR big.bin", sys.argv[2]))
print(put(ftp, "STOR doc.bin", sys.argv[3]))
# 300 KiB more than doc.bin holds now: 1200 KiB in all, over 1 MiB.
print(put(ftp, "STOR doc.bin", sys.argv[4]))
ftp.quit()
"#,
        &[
            &local_file(&local, "big", &big),
            &local_file(&local, "old", &old),
            &local_file(&local, "new", &new),
        ],
    );
    assert!(lines[0].starts_with("226"), "{lines:?}");
    assert!(lines[1].starts_with("226"), "{lines:?}");
    assert!(lines[2].starts_with("552 Quota exceeded"), "{lines:?}");
    let home = server.home("alice");
    assert_eq!(std::fs::read(home.join("doc.bin")).unwrap(), old);
    // No temporary file is left behind.
    assert_eq!(names(&home), ["big.bin", "doc.bin"]);
    assert_under_quota(&home, MIB);
}

#[test]
fn rest_stor_over_quota_truncates_back_to_the_old_length() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let big = random_bytes(600 * KIB, 9);
    let part = random_bytes(200 * KIB, 10);
    let resume = random_bytes(800 * KIB, 11);
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR big.bin", sys.argv[2]))
print(put(ftp, "STOR part.bin", sys.argv[3]))
# Resume at 100 KiB with 800 KiB: the file would end at 900 KiB.
print(put(ftp, "STOR part.bin", sys.argv[4], rest=100 * 1024))
print(ftp.size("part.bin"))
ftp.quit()
"#,
        &[
            &local_file(&local, "big", &big),
            &local_file(&local, "part", &part),
            &local_file(&local, "resume", &resume),
        ],
    );
    assert!(lines[0].starts_with("226"), "{lines:?}");
    assert!(lines[1].starts_with("226"), "{lines:?}");
    assert!(lines[2].starts_with("552 Quota exceeded"), "{lines:?}");
    assert_eq!(lines[3], (200 * KIB).to_string());
    let home = server.home("alice");
    let now = std::fs::read(home.join("part.bin")).unwrap();
    // Back to its old length; the bytes before the REST offset untouched.
    assert_eq!(now.len(), 200 * KIB);
    assert_eq!(now[..100 * KIB], part[..100 * KIB]);
    assert_under_quota(&home, MIB);
}

#[test]
fn stou_over_quota_removes_the_file() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let big = random_bytes(600 * KIB, 12);
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR big.bin", sys.argv[2]))
print(put(ftp, "STOU big.bin", sys.argv[2]))
print(put(ftp, "STOU", sys.argv[2]))
ftp.quit()
"#,
        &[&local_file(&local, "big", &big)],
    );
    assert!(lines[0].starts_with("226"), "{lines:?}");
    assert!(lines[1].starts_with("552 Quota exceeded"), "{lines:?}");
    assert!(lines[2].starts_with("552 Quota exceeded"), "{lines:?}");
    let home = server.home("alice");
    assert_eq!(names(&home), ["big.bin"]);
    assert_under_quota(&home, MIB);
}

#[test]
fn overwrite_with_the_same_size_succeeds_at_the_limit() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let full = random_bytes(MIB as usize, 13);
    let other = random_bytes(MIB as usize, 14);
    let one = random_bytes(1, 15);
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR full.bin", sys.argv[2]))
# Only growth counts: the same size again needs nothing new.
print(put(ftp, "STOR full.bin", sys.argv[3]))
print(put(ftp, "APPE full.bin", sys.argv[4]))
print(put(ftp, "STOR extra.bin", sys.argv[4]))
ftp.quit()
"#,
        &[
            &local_file(&local, "full", &full),
            &local_file(&local, "other", &other),
            &local_file(&local, "one", &one),
        ],
    );
    assert!(lines[0].starts_with("226"), "{lines:?}");
    assert!(lines[1].starts_with("226"), "{lines:?}");
    assert!(lines[2].starts_with("552 Quota exceeded"), "{lines:?}");
    assert!(lines[3].starts_with("552 Quota exceeded"), "{lines:?}");
    let home = server.home("alice");
    assert_eq!(std::fs::read(home.join("full.bin")).unwrap(), other);
    assert_eq!(names(&home), ["full.bin"]);
    assert_eq!(disk_usage(&home), MIB);
}

// ---- several sessions of one user ------------------------------------------

/// `sessions` sessions of alice each start a `size`-byte upload, all 150s
/// received before any byte is sent, then send their data in interleaved
/// chunks. Returns each session's final reply.
fn parallel_uploads(server: &TestServer, sessions: usize, size: usize, seed: u64) -> Vec<String> {
    let local = TempDir::new("client");
    let data = random_bytes(size, seed);
    ftplib(
        server,
        &format!(
            r#"
data = open(sys.argv[2], "rb").read()
n = {sessions}
ftps = [login() for _ in range(n)]
conns = [ftp.transfercmd("STOR up%d.bin" % i) for i, ftp in enumerate(ftps)]
alive = set(range(n))
for at in range(0, len(data), 32 * 1024):
    for i in sorted(alive):
        try:
            conns[i].sendall(data[at:at + 32 * 1024])
        except OSError:
            alive.discard(i)
for c in conns:
    c.close()
for ftp in ftps:
    try:
        print(ftp.voidresp())
    except ftplib.Error as e:
        print(e)
    ftp.quit()
"#
        ),
        &[&local_file(&local, "data", &data)],
    )
}

#[test]
fn two_sessions_of_one_user_share_the_quota_and_at_most_one_wins() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    // A few rounds, so more than one interleaving gets its chance.
    for round in 0..3u64 {
        let replies = parallel_uploads(&server, 2, 700 * KIB, 20 + round);
        let wins = replies.iter().filter(|r| r.starts_with("226")).count();
        assert!(wins <= 1, "round {round}: {replies:?}");
        for reply in &replies {
            assert!(
                reply.starts_with("226") || reply.starts_with("552 Quota exceeded"),
                "round {round}: {replies:?}"
            );
        }
        assert_under_quota(&home, MIB);
        assert_eq!(names(&home).len(), wins, "losers leave nothing behind");
        for name in names(&home) {
            std::fs::remove_file(home.join(name)).unwrap();
        }
    }
}

#[test]
fn four_sessions_of_one_user_never_pass_the_quota_together() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    let replies = parallel_uploads(&server, 4, 300 * KIB, 30);
    let wins = replies.iter().filter(|r| r.starts_with("226")).count();
    // 4 x 300 KiB is 1200 KiB: at most three fit in 1 MiB.
    assert!(wins <= 3, "{replies:?}");
    assert!(wins >= 1, "{replies:?}");
    assert_under_quota(&home, MIB);
    assert_eq!(disk_usage(&home), (wins * 300 * KIB) as u64);
}

// ---- giving bytes back -----------------------------------------------------

#[test]
fn delete_then_reupload_fits_with_curl() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let a = local_file(&local, "a", &random_bytes(600 * KIB, 40));
    let b_bytes = random_bytes(600 * KIB, 41);
    let b = local_file(&local, "b", &b_bytes);
    let url = server.url("alice", "secret");
    let upload =
        |file: &Path, name: &str| curl(&["-T", file.to_str().unwrap(), &format!("{url}{name}")]);

    assert!(upload(&a, "a.bin").status.success());
    // curl turns the 552 into its exit code 70 ("Exceeded storage
    // allocation"); 55 (send failure) if the server's reset of the data
    // connection reaches curl before the reply does.
    let refused = upload(&b, "b.bin");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        matches!(refused.status.code(), Some(70 | 55)),
        "curl said: {stderr} ({:?})",
        refused.status
    );
    assert!(!server.home("alice").join("b.bin").exists());

    let dele = curl(&["--list-only", "-Q", "DELE a.bin", &url]);
    assert!(dele.status.success(), "{dele:?}");
    // The bytes came back at once: the same upload now fits.
    let again = upload(&b, "b.bin");
    assert!(again.status.success(), "{again:?}");
    let home = server.home("alice");
    assert_eq!(names(&home), ["b.bin"]);
    assert_eq!(std::fs::read(home.join("b.bin")).unwrap(), b_bytes);
}

#[test]
fn overwrite_with_a_smaller_file_frees_the_difference() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR a.bin", sys.argv[2]))
print(put(ftp, "STOR b.bin", sys.argv[3]))
print(put(ftp, "STOR a.bin", sys.argv[4]))
print(put(ftp, "STOR b.bin", sys.argv[3]))
ftp.quit()
"#,
        &[
            &local_file(&local, "900k", &random_bytes(900 * KIB, 42)),
            &local_file(&local, "600k", &random_bytes(600 * KIB, 43)),
            &local_file(&local, "100k", &random_bytes(100 * KIB, 44)),
        ],
    );
    assert!(lines[0].starts_with("226"), "{lines:?}");
    assert!(lines[1].starts_with("552"), "{lines:?}");
    assert!(lines[2].starts_with("226"), "{lines:?}");
    assert!(lines[3].starts_with("226"), "{lines:?}");
    assert_eq!(disk_usage(&server.home("alice")), (700 * KIB) as u64);
}

#[test]
fn rename_over_an_existing_file_frees_the_replaced_bytes() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let small = random_bytes(300 * KIB, 45);
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR a.bin", sys.argv[2]))
print(put(ftp, "STOR b.bin", sys.argv[3]))
print(put(ftp, "STOR c.bin", sys.argv[2]))
print(ftp.rename("b.bin", "a.bin"))
print(put(ftp, "STOR c.bin", sys.argv[2]))
ftp.quit()
"#,
        &[
            &local_file(&local, "600k", &random_bytes(600 * KIB, 46)),
            &local_file(&local, "300k", &small),
        ],
    );
    assert!(lines[0].starts_with("226"), "{lines:?}");
    assert!(lines[1].starts_with("226"), "{lines:?}");
    assert!(lines[2].starts_with("552"), "{lines:?}");
    assert!(lines[3].starts_with("250"), "{lines:?}");
    // a.bin's 600 KiB went with the rename: 300 + 600 fits.
    assert!(lines[4].starts_with("226"), "{lines:?}");
    let home = server.home("alice");
    assert_eq!(names(&home), ["a.bin", "c.bin"]);
    assert_eq!(std::fs::read(home.join("a.bin")).unwrap(), small);
    assert_under_quota(&home, MIB);
}

#[test]
fn rename_onto_a_hard_link_of_itself_frees_nothing() {
    let server = TestServer::start(&[TestAccount::new("alice", "secret").quota("2M")]);
    let home = server.home("alice");
    // Two names of one file, made outside the server; the walk counts both.
    std::fs::write(home.join("a.bin"), random_bytes(600 * KIB, 72)).unwrap();
    std::fs::hard_link(home.join("a.bin"), home.join("b.bin")).unwrap();
    let mut client = RawClient::connect(&server);
    client.login("alice", "secret");
    assert_eq!(client.cmd("RNFR a.bin").0, 350);
    // rename(2) between two links of one file changes nothing on disk...
    assert_eq!(client.cmd("RNTO b.bin").0, 250);
    assert_eq!(names(&home), ["a.bin", "b.bin"]);
    // ...so nothing may be given back.
    let (_, text) = client.cmd("SITE QUOTA");
    assert_eq!(site_quota_figures(&text).0, "1228800 bytes (1.2 MiB)");
}

#[test]
fn the_temporary_file_of_an_overwrite_cannot_be_moved_or_deleted() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    let old = random_bytes(600 * KIB, 73);
    std::fs::write(home.join("doc.bin"), &old).unwrap();
    let new = random_bytes(400 * KIB, 74);
    let mut uploader = RawClient::connect(&server);
    uploader.login("alice", "secret");
    let mut data = uploader.start_upload("STOR", "doc.bin", &new[..100 * KIB]);
    let temp = names(&home)
        .into_iter()
        .find(|name| name.starts_with('.'))
        .expect("an overwrite writes to a temporary file");

    // SECURITY: moved away, the temporary file's first 600 KiB (paid for
    // by the old file) would stay on disk uncounted; deleted, the ledger
    // would give back bytes the upload still holds.
    let mut other = RawClient::connect(&server);
    other.login("alice", "secret");
    assert_eq!(other.cmd(&format!("RNFR {temp}")).0, 350);
    assert_eq!(other.cmd("RNTO keep.bin").0, 450);
    assert_eq!(other.cmd(&format!("DELE {temp}")).0, 450);
    assert_eq!(other.upload("APPE", &temp, b"more").0, 450);

    data.write_all(&new[100 * KIB..]).unwrap();
    drop(data);
    assert_eq!(uploader.reply().0, 226);
    assert_eq!(names(&home), ["doc.bin"]);
    assert_eq!(std::fs::read(home.join("doc.bin")).unwrap(), new);
    let (_, text) = other.cmd("SITE QUOTA");
    assert_eq!(
        site_quota_figures(&text).0,
        format!("{} bytes (400.0 KiB)", disk_usage(&home))
    );
}

#[test]
fn the_folder_of_an_upload_in_progress_cannot_be_renamed() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    std::fs::create_dir_all(home.join("d/e")).unwrap();
    let bytes = random_bytes(900 * KIB, 75);
    let mut uploader = RawClient::connect(&server);
    uploader.login("alice", "secret");
    let mut data = uploader.start_upload("STOR", "d/e/new.bin", &bytes[..600 * KIB]);

    // SECURITY: with its folder moved, a refused upload could no longer
    // remove its file, yet would give back its bytes: a way past the quota.
    let mut other = RawClient::connect(&server);
    other.login("alice", "secret");
    for folder in ["d", "d/e"] {
        assert_eq!(other.cmd(&format!("RNFR {folder}")).0, 350);
        assert_eq!(other.cmd("RNTO moved").0, 450, "{folder}");
    }

    // Now push it over: the upload is refused and its file removed.
    let _ = data.write_all(&random_bytes(600 * KIB, 76));
    drop(data);
    assert_eq!(uploader.reply().0, 552);
    assert!(!home.join("d/e/new.bin").exists());
    assert_eq!(disk_usage(&home), 0);
    // Once nothing is being written there, the folder moves freely.
    assert_eq!(other.cmd("RNFR d").0, 350);
    assert_eq!(other.cmd("RNTO moved").0, 250);
    assert_eq!(other.cmd("AVBL"), (213, format!("213 {MIB}")));
}

// ---- ALLO, AVBL, SITE QUOTA -----------------------------------------------

#[test]
fn allo_that_cannot_fit_gets_552_before_any_byte_moves() {
    let server = TestServer::start(&[alice(), TestAccount::new("bob", "secret")]);
    let local = TempDir::new("client");
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(cmd(ftp, "ALLO 1048576"))
print(cmd(ftp, "ALLO 1048577"))
print(cmd(ftp, "ALLO 18446744073709551615"))
print(put(ftp, "STOR a.bin", sys.argv[2]))
print(cmd(ftp, "ALLO 448576"))
print(cmd(ftp, "ALLO 448577"))
ftp.quit()
bob = login("bob")
print(cmd(bob, "ALLO 999999999999"))
bob.quit()
"#,
        &[&local_file(&local, "600k", &random_bytes(600_000, 47))],
    );
    assert!(lines[0].starts_with("200"), "{lines:?}");
    assert_eq!(
        lines[1],
        "552 Quota exceeded: 0 B used of 1.0 MiB (0 of 1048576 bytes)."
    );
    assert!(lines[2].starts_with("552"), "{lines:?}");
    assert!(lines[3].starts_with("226"), "{lines:?}");
    assert!(lines[4].starts_with("200"), "{lines:?}");
    assert!(lines[5].starts_with("552"), "{lines:?}");
    // No quota, nothing to reserve.
    assert!(lines[6].starts_with("202"), "{lines:?}");
    // ALLO reserves nothing by itself.
    assert_eq!(disk_usage(&server.home("alice")), 600_000);
}

/// The figures of a `SITE QUOTA` reply: (used, limit, free) in bytes.
fn site_quota_figures(text: &str) -> (String, String, String) {
    let find = |key: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {text:?}"))
            .trim()
            .to_string()
    };
    (find("used:"), find("limit:"), find("free:"))
}

#[test]
fn avbl_and_site_quota_match_the_disk() {
    let server = TestServer::start(&[alice()]);
    let local = TempDir::new("client");
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR a.bin", sys.argv[2]))
ftp.mkd("sub")
print(put(ftp, "STOR sub/b.bin", sys.argv[3]))
print(cmd(ftp, "AVBL"))
print(cmd(ftp, "AVBL /sub"))
print(cmd(ftp, "AVBL missing"))
print(cmd(ftp, "SITE QUOTA").replace("\n", "|"))
ftp.quit()
"#,
        &[
            &local_file(&local, "a", &random_bytes(300_000, 48)),
            &local_file(&local, "b", &random_bytes(123_456, 49)),
        ],
    );
    let used = disk_usage(&server.home("alice"));
    assert_eq!(used, 423_456);
    let free = MIB - used;
    assert_eq!(lines[2], format!("213 {free}"));
    assert_eq!(lines[3], format!("213 {free}"));
    assert!(lines[4].starts_with("550"), "{lines:?}");
    let report = lines[5].replace('|', "\n");
    assert!(report.starts_with("211"), "{report}");
    let (used_text, limit_text, free_text) = site_quota_figures(&report);
    assert_eq!(used_text, format!("{used} bytes (413.5 KiB)"));
    assert_eq!(limit_text, "1048576 bytes (1.0 MiB)");
    assert_eq!(free_text, format!("{free} bytes (610.5 KiB)"));
}

#[test]
fn avbl_and_site_quota_for_an_unlimited_user() {
    let server = TestServer::start(&[TestAccount::new("bob", "secret")]);
    std::fs::write(server.home("bob").join("f"), [0u8; 2048]).unwrap();
    let mut client = RawClient::connect(&server);
    client.login("bob", "secret");
    // No quota: AVBL answers what the disk holding the home has free, as
    // Python's os.statvfs sees it (other tests write meanwhile: allow 256 MiB).
    let (code, text) = client.cmd("AVBL");
    assert_eq!(code, 213, "{text}");
    let avbl: u64 = text[4..].parse().unwrap();
    let disk: u64 = common::python_ok(
        "import os, sys\ns = os.statvfs(sys.argv[1])\nprint(s.f_bavail * s.f_frsize)\n",
        &[server.home("bob").to_str().unwrap()],
    )
    .trim()
    .parse()
    .unwrap();
    assert!(
        avbl.abs_diff(disk) < 256 << 20,
        "AVBL {avbl}, statvfs {disk}"
    );
    let (code, text) = client.cmd("SITE QUOTA");
    assert_eq!(code, 211, "{text}");
    let (used, limit, free) = site_quota_figures(&text);
    assert_eq!(used, "2048 bytes (2.0 KiB)");
    assert_eq!(limit, "unlimited");
    assert_eq!(free, "unlimited");
}

#[test]
fn avbl_for_a_read_only_user_is_zero() {
    let server = TestServer::start(&[TestAccount::new("ro", "secret").read_only()]);
    let mut client = RawClient::connect(&server);
    client.login("ro", "secret");
    assert_eq!(client.cmd("AVBL"), (213, "213 0".to_string()));
}

// ---- usage measured from disk ------------------------------------------------

#[test]
fn a_home_over_its_quota_refuses_uploads_but_allows_dele() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    // Put there before the first login, by someone other than the server.
    std::fs::write(home.join("old1.bin"), random_bytes(800 * KIB, 50)).unwrap();
    std::fs::write(home.join("old2.bin"), random_bytes(700 * KIB, 51)).unwrap();
    let local = TempDir::new("client");
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR tiny.bin", sys.argv[2]))
print(put(ftp, "STOR empty.bin", sys.argv[3]))
print(put(ftp, "APPE old1.bin", sys.argv[2]))
print(cmd(ftp, "ALLO 1"))
print(cmd(ftp, "AVBL"))
print(ftp.delete("old2.bin"))
print(put(ftp, "STOR tiny.bin", sys.argv[2]))
ftp.quit()
"#,
        &[
            &local_file(&local, "tiny", &random_bytes(10, 52)),
            &local_file(&local, "empty", &[]),
        ],
    );
    let over = "552 Quota exceeded: 1.5 MiB used of 1.0 MiB (1536000 of 1048576 bytes).";
    assert_eq!(lines[0], over);
    // Not even an empty file while over the quota.
    assert_eq!(lines[1], over);
    assert_eq!(lines[2], over);
    assert!(lines[3].starts_with("552"), "{lines:?}");
    assert_eq!(lines[4], "213 0");
    assert!(lines[5].starts_with("250"), "{lines:?}");
    // 800 KiB left: under the quota again, so uploads work.
    assert!(lines[6].starts_with("226"), "{lines:?}");
    assert_eq!(names(&home), ["old1.bin", "tiny.bin"]);
    assert_eq!(
        std::fs::metadata(home.join("old1.bin")).unwrap().len(),
        (800 * KIB) as u64
    );
}

#[test]
fn a_lowered_quota_in_accounts_ini_applies_at_the_next_login() {
    let server = TestServer::start(&[TestAccount::new("alice", "secret").quota("2M")]);
    let local = TempDir::new("client");
    let file = local_file(&local, "1500k", &random_bytes(1500 * KIB, 53));
    let small = local_file(&local, "small", &random_bytes(1000, 54));
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR big.bin", sys.argv[2]))
ftp.quit()
"#,
        &[&file],
    );
    assert!(lines[0].starts_with("226"), "{lines:?}");
    // The admin lowers the quota; the server re-reads the changed file.
    let lowered = TestAccount::new("alice", "secret").quota("1000K");
    std::fs::write(server.accounts_path(), lowered.section()).unwrap();
    let lines = ftplib(
        &server,
        r#"
ftp = login()
print(put(ftp, "STOR small.bin", sys.argv[2]))
print(ftp.delete("big.bin"))
print(put(ftp, "STOR small.bin", sys.argv[2]))
ftp.quit()
"#,
        &[&small],
    );
    assert_eq!(
        lines[0],
        "552 Quota exceeded: 1.5 MiB used of 1000.0 KiB (1536000 of 1024000 bytes)."
    );
    assert!(lines[1].starts_with("250"), "{lines:?}");
    assert!(lines[2].starts_with("226"), "{lines:?}");
    assert_eq!(names(&server.home("alice")), ["small.bin"]);
}

#[test]
fn usage_is_measured_again_at_a_fresh_login() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    let payload = random_bytes(300 * KIB, 55);
    let mut client = RawClient::connect(&server);
    client.login("alice", "secret");
    assert_eq!(client.upload("STOR", "mine.bin", &payload).0, 226);
    assert_eq!(client.cmd("QUIT").0, 221);
    // Wait for the server to close the session, then change the disk
    // behind its back.
    assert!(client.is_closed());
    std::fs::write(home.join("theirs.bin"), random_bytes(600 * KIB, 56)).unwrap();

    let mut client = RawClient::connect(&server);
    client.login("alice", "secret");
    let (_, text) = client.cmd("SITE QUOTA");
    let (used, _, _) = site_quota_figures(&text);
    assert_eq!(used, "921600 bytes (900.0 KiB)");
    // 900 KiB + 200 KiB is over 1 MiB; without the walk it would fit.
    let (code, text) = client.upload("STOR", "more.bin", &random_bytes(200 * KIB, 57));
    assert_eq!(code, 552, "{text}");
    assert_eq!(names(&home), ["mine.bin", "theirs.bin"]);
}

#[test]
fn a_second_session_shares_the_first_ones_figure() {
    let server = TestServer::start(&[alice()]);
    let home = server.home("alice");
    let mut first = RawClient::connect(&server);
    first.login("alice", "secret");
    assert_eq!(
        first
            .upload("STOR", "a.bin", &random_bytes(600 * KIB, 58))
            .0,
        226
    );
    let mut second = RawClient::connect(&server);
    second.login("alice", "secret");
    let (_, text) = second.cmd("SITE QUOTA");
    assert_eq!(site_quota_figures(&text).0, "614400 bytes (600.0 KiB)");
    let (code, text) = second.upload("STOR", "b.bin", &random_bytes(600 * KIB, 59));
    assert_eq!(code, 552, "{text}");
    // The first session sees the second's delete at once.
    assert_eq!(second.cmd("DELE a.bin").0, 250);
    assert_eq!(first.cmd("AVBL"), (213, format!("213 {MIB}")));
    assert_eq!(names(&home), Vec::<String>::new());
}

// ---- disk full (ENOSPC) ------------------------------------------------------

/// A small tmpfs mounted over a folder, unmounted on drop. Needs root (CI
/// runs as root); `None` when mounting is not allowed here.
struct SmallFilesystem {
    path: PathBuf,
}

impl SmallFilesystem {
    fn mount(path: &Path, size: &str) -> Option<SmallFilesystem> {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .arg("tmpfs")
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| SmallFilesystem {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Detach it anyway, so no mount outlives the test.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

#[test]
fn disk_full_gets_452_and_the_upload_is_undone() {
    let server = TestServer::start(&[TestAccount::new("dora", "secret").quota("100M")]);
    let home = server.home("dora");
    let Some(_filesystem) = SmallFilesystem::mount(&home, "2M") else {
        eprintln!(
            "SKIPPED disk_full_gets_452_and_the_upload_is_undone: cannot mount a tmpfs \
             (needs root and mount rights); the ENOSPC -> 452 mapping is still covered by \
             transfer::tests"
        );
        return;
    };
    let first = random_bytes(MIB as usize, 60);
    let mut client = RawClient::connect(&server);
    client.login("dora", "secret");
    assert_eq!(client.upload("STOR", "a.bin", &first).0, 226);
    // A new file that does not fit: 452, and the file is gone.
    let (code, text) = client.upload("STOR", "b.bin", &random_bytes(2 * MIB as usize, 61));
    assert_eq!(
        (code, text.as_str()),
        (452, "452 Insufficient storage space.")
    );
    assert_eq!(names(&home), ["a.bin"]);
    // APPE that does not fit: cut back to its old length.
    let (code, _) = client.upload("APPE", "a.bin", &random_bytes(2 * MIB as usize, 62));
    assert_eq!(code, 452);
    assert_eq!(std::fs::read(home.join("a.bin")).unwrap(), first);
    // An overwrite whose temporary copy does not fit beside the old file.
    let (code, _) = client.upload("STOR", "a.bin", &random_bytes(1536 * KIB, 63));
    assert_eq!(code, 452);
    assert_eq!(std::fs::read(home.join("a.bin")).unwrap(), first);
    assert_eq!(names(&home), ["a.bin"]);
    // The space really came back, and the ledger agrees with the disk.
    let after = random_bytes(512 * KIB, 64);
    assert_eq!(client.upload("STOR", "c.bin", &after).0, 226);
    assert_eq!(std::fs::read(home.join("c.bin")).unwrap(), after);
    let (_, text) = client.cmd("SITE QUOTA");
    let used = disk_usage(&home);
    assert_eq!(used, MIB + 512 * KIB as u64);
    assert_eq!(
        site_quota_figures(&text).0,
        format!("{used} bytes (1.5 MiB)")
    );
    assert_eq!(client.cmd("QUIT").0, 221);
    assert!(client.is_closed());
}

// ---- the admin command ---------------------------------------------------------

#[test]
fn user_list_shows_each_users_quota_and_usage() {
    let dir = TempDir::new("admin");
    write_config(
        &dir.path,
        &[
            alice(),
            TestAccount::new("bob", "secret"),
            TestAccount::new("carol", "secret")
                .quota("250K")
                .read_only(),
        ],
        &[],
        &[],
    );
    let home = dir.path.join("home");
    std::fs::write(home.join("alice/a.bin"), random_bytes(600 * KIB, 70)).unwrap();
    std::fs::create_dir(home.join("alice/sub")).unwrap();
    std::fs::write(home.join("alice/sub/b.bin"), random_bytes(100 * KIB, 71)).unwrap();
    std::fs::remove_dir(home.join("carol")).unwrap();
    let output = common::pocketftpd_command()
        .args(["user", "list", "--config"])
        .arg(dir.path.join("settings.ini"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    // Fixed columns: USER 16, QUOTA 12, USED 12, ACCESS 6, then HOME.
    let row = |user: &str| -> Vec<String> {
        let line = stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(user))
            .unwrap_or_else(|| panic!("no {user} in {stdout}"));
        [0..16, 17..29, 30..42, 43..49]
            .into_iter()
            .map(|cols| line[cols].trim().to_string())
            .collect()
    };
    let header: Vec<&str> = stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["USER", "QUOTA", "USED", "ACCESS", "HOME"]);
    assert_eq!(row("alice"), ["alice", "1.0 MiB", "700.0 KiB", "rw"]);
    assert_eq!(row("bob"), ["bob", "unlimited", "0 B", "rw"]);
    // A home that does not exist yet cannot be measured.
    assert_eq!(row("carol"), ["carol", "250.0 KiB", "-", "ro"]);
}
