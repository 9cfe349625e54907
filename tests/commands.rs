//! Listings, file actions and information commands, checked with real
//! clients where they parse the output (ftplib, curl) and raw where exact
//! replies matter.

mod common;

use common::{RawClient, TestAccount, TestServer, curl, python_ok};

fn server() -> TestServer {
    let server = TestServer::start(&[TestAccount::new("alice", "pw-alice")]);
    let home = server.home("alice");
    std::fs::create_dir_all(home.join("docs/old")).unwrap();
    std::fs::write(home.join("docs/report.txt"), b"12345").unwrap();
    std::fs::write(home.join("notes with spaces.txt"), b"hi").unwrap();
    std::fs::write(home.join("ünïcødé.txt"), b"utf8").unwrap();
    server
}

#[test]
fn ftplib_parses_list_and_mlsd() {
    let server = server();
    let out = python_ok(
        r#"
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=10)
ftp.encoding = "utf-8"
ftp.login("alice", "pw-alice")
lines = []
ftp.retrlines("LIST", lines.append)
for line in lines:
    parts = line.split(None, 8)
    print(parts[0][0], parts[4], parts[8])
for name, facts in sorted(ftp.mlsd()):
    print(name, facts["type"], facts.get("size", "-"), len(facts["modify"]), facts["perm"], facts["unix.mode"])
print(ftp.sendcmd("MLST docs/report.txt"))
print(ftp.nlst("docs"))
ftp.quit()
"#,
        &[&server.port().to_string()],
    );
    let expected = "\
d 4096 docs
- 2 notes with spaces.txt
- 4 ünïcødé.txt
docs dir - 14 cdeflmp 0755
notes with spaces.txt file 2 14 adfrw 0644
ünïcødé.txt file 4 14 adfrw 0644
";
    assert!(out.starts_with(expected), "{out}");
    assert!(
        out.contains("250-Listing:\n type=file;size=5;modify="),
        "{out}"
    );
    assert!(out.contains("; /docs/report.txt\n250 End"), "{out}");
    assert!(out.contains("['old', 'report.txt']"), "{out}");
}

#[test]
fn curl_lists_names_and_details() {
    let server = server();
    let names = curl(&["-l", &format!("{}docs/", server.url("alice", "pw-alice"))]);
    // curl turns the listing's CRLF into LF.
    assert_eq!(String::from_utf8_lossy(&names.stdout), "old\nreport.txt\n");
    let long = curl(&[&format!("{}docs/", server.url("alice", "pw-alice"))]);
    let text = String::from_utf8_lossy(&long.stdout);
    assert!(
        text.contains(" report.txt\n") && text.starts_with('d'),
        "{text}"
    );
}

#[test]
fn file_actions_work_and_report_errors() {
    let server = server();
    let home = server.home("alice");
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw-alice");
    // Many commands in one login.
    assert_eq!(client.cmd("MKD new dir").1, "257 \"/new dir\" created");
    assert_eq!(client.cmd("MKD new dir").0, 550);
    assert_eq!(client.cmd("CWD new dir").0, 250);
    assert_eq!(
        client.cmd("PWD").1,
        "257 \"/new dir\" is the current directory"
    );
    assert_eq!(client.cmd("CDUP").0, 250);
    assert_eq!(client.cmd("XPWD").1, "257 \"/\" is the current directory");
    assert!(home.join("new dir").is_dir());
    // Non-empty folders are kept.
    assert_eq!(client.cmd("RMD docs").0, 550);
    assert!(home.join("docs/report.txt").exists());
    assert_eq!(client.cmd("RMD new dir").0, 250);
    assert!(!home.join("new dir").exists());
    // Rename, then the old name is gone.
    assert_eq!(client.cmd("RNFR docs/report.txt").0, 350);
    assert_eq!(client.cmd("RNTO docs/old/renamed.txt").0, 250);
    assert_eq!(
        std::fs::read(home.join("docs/old/renamed.txt")).unwrap(),
        b"12345"
    );
    assert_eq!(client.cmd("RNTO x").0, 503);
    assert_eq!(client.cmd("RNFR missing").0, 550);
    // RNFR is forgotten by any other command in between.
    assert_eq!(client.cmd("RNFR docs/old/renamed.txt").0, 350);
    assert_eq!(client.cmd("NOOP").0, 200);
    assert_eq!(client.cmd("RNTO y").0, 503);
    assert_eq!(client.cmd("DELE docs/old/renamed.txt").0, 250);
    assert!(!home.join("docs/old/renamed.txt").exists());
    assert_eq!(client.cmd("DELE docs/old/renamed.txt").0, 550);
    assert_eq!(client.cmd("DELE docs").0, 550);
    assert_eq!(client.cmd("RMD /").0, 550);
    assert_eq!(client.cmd("CWD notes with spaces.txt").0, 550);
}

#[test]
fn size_mdtm_stat_feat_and_friends() {
    let server = server();
    let mut client = RawClient::connect(&server);
    client.login("alice", "pw-alice");
    assert_eq!(client.cmd("SIZE notes with spaces.txt").1, "213 2");
    assert_eq!(client.cmd("SIZE docs").0, 550);
    let (code, mdtm) = client.cmd("MDTM docs/report.txt");
    assert_eq!(code, 213);
    assert_eq!(mdtm.len(), 4 + 14, "{mdtm}");
    assert!(mdtm[4..].starts_with("20"), "{mdtm}");
    let (code, feat) = client.cmd("FEAT");
    assert_eq!(code, 211);
    for line in [
        " UTF8",
        " EPSV",
        " EPRT",
        " MDTM",
        " SIZE",
        " REST STREAM",
        " AVBL",
        " HASH SHA-1;SHA-256*;SHA-512;MD5",
        " MLST type*;size*;modify*;perm*;unix.mode*;",
    ] {
        assert!(
            feat.lines().any(|l| l == line),
            "FEAT lacks {line:?}:\n{feat}"
        );
    }
    assert!(feat.ends_with("\n211 End"), "{feat}");
    let (code, stat) = client.cmd("STAT docs");
    assert_eq!(code, 213);
    assert!(
        stat.contains(" report.txt") && stat.ends_with("213 End of status"),
        "{stat}"
    );
    let (code, stat) = client.cmd("STAT");
    assert_eq!(code, 211);
    assert!(stat.contains("Logged in as alice"), "{stat}");
    assert_eq!(client.cmd("TYPE A").0, 200);
    assert_eq!(client.cmd("TYPE I").0, 200);
    assert_eq!(client.cmd("TYPE E").0, 504);
    assert_eq!(client.cmd("MODE S").0, 200);
    assert_eq!(client.cmd("MODE B").0, 504);
    assert_eq!(client.cmd("STRU F").0, 200);
    assert_eq!(client.cmd("STRU R").0, 504);
    assert_eq!(client.cmd("SYST").1, "215 UNIX Type: L8");
    assert_eq!(client.cmd("SITE NONSENSE").0, 502);
    assert_eq!(client.cmd("ABOR").0, 225);
    assert_eq!(client.cmd("XYZZY").0, 500);
    assert_eq!(client.cmd("EPSV 2").0, 522);
    assert_eq!(client.cmd("EPSV ALL").0, 200);
    assert_eq!(client.cmd("PASV").0, 503);
}

#[test]
fn pasv_reply_points_at_the_server_and_works() {
    let server = server();
    let out = python_ok(
        r#"
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=10)
ftp.login("alice", "pw-alice")
print(ftp.sendcmd("PASV"))
ftp.af = 2
got = bytearray()
ftp.retrbinary("RETR docs/report.txt", got.extend)
print(bytes(got).decode())
ftp.quit()
"#,
        &[&server.port().to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("227 Entering Passive Mode (127,0,0,1,"),
        "{out}"
    );
    assert_eq!(lines[1], "12345");
}
