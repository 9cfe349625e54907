//! Every reply the server sends: codes, texts, and their wire format.
//!
//! This is the only module that knows reply numbers or writes reply text
//! (STYLE.md section 4). Handlers build a [`Reply`] through a constructor named
//! after the outcome (`Reply::cwd_ok()`), errors become replies through the one
//! mapping `impl From<&CommandError> for Reply`, and [`Reply::to_wire`] is the
//! only place that frames them (RFC 959 section 4.2), sanitising the text so
//! that no file name can forge a reply line.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::commands::CommandError;
use crate::transfer::TransferError;
use crate::vfs::{QuotaError, VfsError};

/// Reply codes, numbered as RFC 959 section 4.2.2 (plus RFC 2428, 3659).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ReplyCode {
    /// 120: service ready in nnn minutes (we use it for "queued, wait").
    ServiceReadySoon = 120,
    /// 150: file status okay; about to open data connection.
    FileStatusOk = 150,
    /// 200: command okay.
    CommandOk = 200,
    /// 202: command not implemented, superfluous at this site.
    Superfluous = 202,
    /// 211: system status, or system help reply (FEAT, STAT).
    SystemStatus = 211,
    /// 213: file status (SIZE, MDTM, STAT path, HASH).
    FileStatus = 213,
    /// 214: help message.
    HelpMessage = 214,
    /// 215: NAME system type.
    SystemType = 215,
    /// 220: service ready for new user.
    ServiceReady = 220,
    /// 221: service closing control connection.
    ClosingControl = 221,
    /// 225: data connection open; no transfer in progress.
    DataOpenNoTransfer = 225,
    /// 226: closing data connection; requested file action successful.
    ClosingData = 226,
    /// 227: entering passive mode (h1,h2,h3,h4,p1,p2).
    EnteringPassive = 227,
    /// 229: entering extended passive mode (|||port|), RFC 2428.
    EnteringExtendedPassive = 229,
    /// 230: user logged in, proceed.
    LoggedIn = 230,
    /// 250: requested file action okay, completed.
    FileActionOk = 250,
    /// 257: "PATHNAME" created / is the current directory.
    PathCreated = 257,
    /// 331: user name okay, need password.
    NeedPassword = 331,
    /// 350: requested file action pending further information (REST, RNFR).
    FileActionPending = 350,
    /// 421: service not available, closing control connection.
    ServiceNotAvailable = 421,
    /// 425: can't open data connection.
    CantOpenData = 425,
    /// 426: connection closed; transfer aborted.
    TransferAborted = 426,
    /// 450: requested file action not taken; file unavailable (busy).
    FileBusy = 450,
    /// 451: requested action aborted: local error in processing.
    LocalError = 451,
    /// 452: requested action not taken; insufficient storage space in system.
    InsufficientStorage = 452,
    /// 500: syntax error, command unrecognized (also: line too long).
    SyntaxError = 500,
    /// 501: syntax error in parameters or arguments.
    ParameterSyntaxError = 501,
    /// 502: command not implemented.
    NotImplemented = 502,
    /// 503: bad sequence of commands.
    BadSequence = 503,
    /// 504: command not implemented for that parameter.
    ParameterNotImplemented = 504,
    /// 522: network protocol not supported (RFC 2428 section 2).
    ProtocolNotSupported = 522,
    /// 554: requested action not taken: invalid REST parameter (RFC 3659).
    InvalidRestart = 554,
    /// 530: not logged in.
    NotLoggedIn = 530,
    /// 550: requested action not taken; file unavailable (not found, no access).
    FileUnavailable = 550,
    /// 552: requested file action aborted; exceeded storage allocation (quota).
    ExceededStorage = 552,
    /// 553: requested action not taken; file name not allowed.
    BadFileName = 553,
}

impl ReplyCode {
    /// The three-digit number sent on the wire.
    pub fn number(self) -> u16 {
        self as u16
    }
}

/// One reply: a code and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: ReplyCode,
    lines: Vec<String>,
}

// Texts shared by several constructors.
const NO_SUCH_FILE: &str = "No such file or directory.";
const PERMISSION_DENIED: &str = "Permission denied.";

impl Reply {
    /// A one-line reply.
    fn single(code: ReplyCode, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply; the first and last lines carry the code.
    fn multi(code: ReplyCode, lines: Vec<String>) -> Reply {
        debug_assert!(!lines.is_empty());
        Reply { code, lines }
    }

    /// The reply's code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// Whether this is a 1xx preliminary reply (another reply follows).
    pub fn is_preliminary(&self) -> bool {
        self.code.number() < 200
    }

    /// The bytes sent on the wire: `code text\r\n`, or for several lines
    /// `code-first\r\n line\r\n...code last\r\n` (RFC 959 section 4.2).
    pub fn to_wire(&self) -> Vec<u8> {
        let number = self.code.number();
        let mut out = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (index, line) in self.lines.iter().enumerate() {
            let clean = sanitise(line);
            if index == last {
                let _ = write!(out, "{number} {clean}\r\n");
            } else if index == 0 {
                let _ = write!(out, "{number}-{clean}\r\n");
            } else {
                // SECURITY: a middle line must never look like a final
                // "NNN " line, or a file named "226 done" in a listing could
                // end the reply early; a leading space rules that out.
                let _ = write!(out, " {}\r\n", clean.trim_start());
            }
        }
        double_iac(out.into_bytes())
    }

    // ---- connection and admission ------------------------------------

    /// 220 greeting.
    pub fn greeting(banner: &str) -> Reply {
        Reply::single(ReplyCode::ServiceReady, banner)
    }
    /// 120 sent to a client that waits in the queue for a free worker.
    pub fn queued(position: usize) -> Reply {
        Reply::single(
            ReplyCode::ServiceReadySoon,
            format!("All slots busy, you are number {position} in the queue; please wait."),
        )
    }
    /// 421 when every worker (and queue place) is taken.
    pub fn too_many_connections(limit: usize) -> Reply {
        Reply::single(
            ReplyCode::ServiceNotAvailable,
            format!("Too many connections ({limit}), try again later."),
        )
    }
    /// 421 when one address holds its share of sessions.
    pub fn too_many_from_address(limit: usize) -> Reply {
        Reply::single(
            ReplyCode::ServiceNotAvailable,
            format!("Too many connections from your address ({limit}), try again later."),
        )
    }
    /// 421 for an address banned after repeated failed logins.
    pub fn address_banned() -> Reply {
        Reply::single(
            ReplyCode::ServiceNotAvailable,
            "Too many failed logins from your address, try again later.",
        )
    }
    /// 421 when a queued client waited too long for a worker.
    pub fn queue_timeout() -> Reply {
        Reply::single(
            ReplyCode::ServiceNotAvailable,
            "Timed out waiting for a free slot, try again later.",
        )
    }
    /// 421 when the login was not completed in time.
    pub fn login_timeout() -> Reply {
        Reply::single(ReplyCode::ServiceNotAvailable, "Login timeout.")
    }
    /// 421 after the idle timeout.
    pub fn idle_timeout() -> Reply {
        Reply::single(ReplyCode::ServiceNotAvailable, "Timeout.")
    }
    /// 421 after too many failed logins on one connection.
    pub fn too_many_login_failures() -> Reply {
        Reply::single(ReplyCode::ServiceNotAvailable, "Too many failed logins.")
    }
    /// 421 when the server is shutting down.
    pub fn shutting_down() -> Reply {
        Reply::single(ReplyCode::ServiceNotAvailable, "Server shutting down.")
    }
    /// 221 reply to QUIT.
    pub fn goodbye() -> Reply {
        Reply::single(ReplyCode::ClosingControl, "Goodbye.")
    }

    // ---- line and parse errors ----------------------------------------

    /// 500 for a line longer than the limit.
    pub fn line_too_long() -> Reply {
        Reply::single(ReplyCode::SyntaxError, "Command line too long.")
    }
    /// 500 for a verb we don't know.
    pub fn unknown_command() -> Reply {
        Reply::single(ReplyCode::SyntaxError, "Unknown command.")
    }
    /// 501 for a bad or missing argument.
    pub fn bad_argument(what: &str) -> Reply {
        Reply::single(ReplyCode::ParameterSyntaxError, what)
    }
    /// 502 for a verb we know but do not implement.
    pub fn not_implemented() -> Reply {
        Reply::single(ReplyCode::NotImplemented, "Command not implemented.")
    }
    /// 504 for a parameter value we do not support (TYPE E, MODE B...).
    pub fn parameter_not_implemented() -> Reply {
        Reply::single(
            ReplyCode::ParameterNotImplemented,
            "Command not implemented for that parameter.",
        )
    }

    // ---- login (RFC 959 section 4.1.1) ---------------------------------

    /// 331 after USER.
    pub fn need_password() -> Reply {
        Reply::single(ReplyCode::NeedPassword, "Please specify the password.")
    }
    /// 230 after a good PASS.
    pub fn logged_in() -> Reply {
        Reply::single(ReplyCode::LoggedIn, "Login successful.")
    }
    /// 230 when USER/PASS arrive while already logged in.
    pub fn already_logged_in() -> Reply {
        Reply::single(ReplyCode::LoggedIn, "Already logged in.")
    }
    /// 530 for USER once logged in.
    pub fn cannot_change_user() -> Reply {
        Reply::single(ReplyCode::NotLoggedIn, "Can't change to another user.")
    }
    /// 530 for a wrong user or password: one text for both, so a client
    /// cannot tell which was wrong.
    pub fn login_incorrect() -> Reply {
        Reply::single(ReplyCode::NotLoggedIn, "Login incorrect.")
    }
    /// 530 for a command that needs a login.
    pub fn not_logged_in() -> Reply {
        Reply::single(ReplyCode::NotLoggedIn, "Please login with USER and PASS.")
    }
    /// 503 for PASS without USER, RNTO without RNFR.
    pub fn bad_sequence(what: &str) -> Reply {
        Reply::single(ReplyCode::BadSequence, what)
    }

    // ---- simple status ------------------------------------------------

    /// 200 for NOOP.
    pub fn noop_ok() -> Reply {
        Reply::single(ReplyCode::CommandOk, "NOOP ok.")
    }
    /// 215 for SYST.
    pub fn system_type() -> Reply {
        Reply::single(ReplyCode::SystemType, "UNIX Type: L8")
    }
    /// 211 multi-line FEAT reply (RFC 2389).
    pub fn features(features: &[String]) -> Reply {
        let mut lines = vec!["Features:".to_string()];
        lines.extend(features.iter().cloned());
        lines.push("End".to_string());
        Reply::multi(ReplyCode::SystemStatus, lines)
    }
    /// 200 for an accepted OPTS.
    pub fn opts_ok(what: &str) -> Reply {
        Reply::single(ReplyCode::CommandOk, what)
    }
    /// 214 multi-line HELP.
    pub fn help(verbs: &[&str]) -> Reply {
        let mut lines = vec!["The following commands are recognized.".to_string()];
        for row in verbs.chunks(8) {
            lines.push(row.join(" "));
        }
        lines.push("Help OK.".to_string());
        Reply::multi(ReplyCode::HelpMessage, lines)
    }
    /// 200 after TYPE.
    pub fn type_ok(binary: bool) -> Reply {
        let text = if binary {
            "Switching to Binary mode."
        } else {
            "Switching to ASCII mode."
        };
        Reply::single(ReplyCode::CommandOk, text)
    }
    /// 200 after MODE S.
    pub fn mode_ok() -> Reply {
        Reply::single(ReplyCode::CommandOk, "Mode set to S.")
    }
    /// 200 after STRU F.
    pub fn structure_ok() -> Reply {
        Reply::single(ReplyCode::CommandOk, "Structure set to F.")
    }
    /// 202 for ALLO when nothing needs reserving.
    pub fn allo_superfluous() -> Reply {
        Reply::single(ReplyCode::Superfluous, "ALLO command ignored.")
    }
    /// 200 for ALLO that fits the quota.
    pub fn allo_ok() -> Reply {
        Reply::single(ReplyCode::CommandOk, "ALLO ok, space is available.")
    }

    // ---- navigation ---------------------------------------------------

    /// 257 for PWD: the path is quoted and inner quotes doubled (RFC 959
    /// appendix II).
    pub fn current_directory(path: &str) -> Reply {
        Reply::single(
            ReplyCode::PathCreated,
            format!("{} is the current directory", quote_path(path)),
        )
    }
    /// 250 after CWD/CDUP.
    pub fn cwd_ok() -> Reply {
        Reply::single(ReplyCode::FileActionOk, "Directory successfully changed.")
    }

    // ---- file actions -------------------------------------------------

    /// 257 after MKD.
    pub fn mkdir_ok(path: &str) -> Reply {
        Reply::single(
            ReplyCode::PathCreated,
            format!("{} created", quote_path(path)),
        )
    }
    /// 250 after RMD.
    pub fn rmdir_ok() -> Reply {
        Reply::single(
            ReplyCode::FileActionOk,
            "Remove directory operation successful.",
        )
    }
    /// 250 after DELE.
    pub fn delete_ok() -> Reply {
        Reply::single(ReplyCode::FileActionOk, "Delete operation successful.")
    }
    /// 350 after RNFR.
    pub fn rename_pending() -> Reply {
        Reply::single(ReplyCode::FileActionPending, "Ready for RNTO.")
    }
    /// 250 after RNTO.
    pub fn rename_ok() -> Reply {
        Reply::single(ReplyCode::FileActionOk, "Rename successful.")
    }
    /// 350 after REST.
    pub fn restart_pending(offset: u64) -> Reply {
        Reply::single(
            ReplyCode::FileActionPending,
            format!("Restart position accepted ({offset})."),
        )
    }
    /// 213 for SIZE.
    pub fn size(bytes: u64) -> Reply {
        Reply::single(ReplyCode::FileStatus, bytes.to_string())
    }
    /// 213 for MDTM, `YYYYMMDDHHMMSS` in UTC (RFC 3659 section 3).
    pub fn modification_time(timestamp: &str) -> Reply {
        Reply::single(ReplyCode::FileStatus, timestamp)
    }

    // ---- data connections and transfers -------------------------------

    /// 227 for PASV.
    pub fn passive(ip: Ipv4Addr, port: u16) -> Reply {
        let [a, b, c, d] = ip.octets();
        Reply::single(
            ReplyCode::EnteringPassive,
            format!(
                "Entering Passive Mode ({a},{b},{c},{d},{},{}).",
                port >> 8,
                port & 0xff
            ),
        )
    }
    /// 229 for EPSV (RFC 2428 section 3).
    pub fn extended_passive(port: u16) -> Reply {
        Reply::single(
            ReplyCode::EnteringExtendedPassive,
            format!("Entering Extended Passive Mode (|||{port}|)"),
        )
    }
    /// 200 for EPSV ALL.
    pub fn epsv_all_ok() -> Reply {
        Reply::single(ReplyCode::CommandOk, "EPSV ALL ok.")
    }
    /// 522 is RFC 2428's "network protocol not supported" for EPSV/EPRT.
    pub fn protocol_not_supported() -> Reply {
        Reply::single(
            ReplyCode::ProtocolNotSupported,
            "Network protocol not supported, use (1,2)",
        )
    }
    /// 200 after PORT/EPRT.
    pub fn port_ok() -> Reply {
        Reply::single(
            ReplyCode::CommandOk,
            "PORT command successful. Consider using PASV.",
        )
    }
    /// 150 before a download.
    pub fn opening_download(name: &str, bytes: u64) -> Reply {
        Reply::single(
            ReplyCode::FileStatusOk,
            format!("Opening BINARY mode data connection for {name} ({bytes} bytes)."),
        )
    }
    /// 150 before an upload.
    pub fn opening_upload(name: &str) -> Reply {
        Reply::single(
            ReplyCode::FileStatusOk,
            format!("Ok to send data for {name}."),
        )
    }
    /// 150 before STOU: RFC 1123 section 4.1.2.9 wants the name in the form
    /// `FILE: name`.
    pub fn opening_unique(name: &str) -> Reply {
        Reply::single(ReplyCode::FileStatusOk, format!("FILE: {name}"))
    }
    /// 150 before a listing.
    pub fn opening_listing() -> Reply {
        Reply::single(ReplyCode::FileStatusOk, "Here comes the directory listing.")
    }
    /// 226 after a file transfer.
    pub fn transfer_ok() -> Reply {
        Reply::single(ReplyCode::ClosingData, "Transfer complete.")
    }
    /// 226 after STOU, naming the file created.
    pub fn unique_stored(name: &str) -> Reply {
        Reply::single(
            ReplyCode::ClosingData,
            format!("Transfer complete (unique file name: {name})."),
        )
    }
    /// 226 after a listing.
    pub fn listing_ok() -> Reply {
        Reply::single(ReplyCode::ClosingData, "Directory send OK.")
    }
    /// 226 for ABOR (after the 426 of the aborted transfer, or alone).
    pub fn abort_ok() -> Reply {
        Reply::single(ReplyCode::ClosingData, "ABOR successful.")
    }
    /// 225 for ABOR when no transfer runs.
    pub fn nothing_to_abort() -> Reply {
        Reply::single(ReplyCode::DataOpenNoTransfer, "No transfer to ABOR.")
    }

    // ---- information --------------------------------------------------

    /// 211 multi-line STAT without argument.
    pub fn server_status(lines: Vec<String>) -> Reply {
        let mut all = vec!["pocketftpd status:".to_string()];
        all.extend(lines);
        all.push("End of status".to_string());
        Reply::multi(ReplyCode::SystemStatus, all)
    }
    /// 213 multi-line STAT with a path: the listing travels on the control
    /// connection (RFC 959 section 4.1.3).
    pub fn path_status(listing: Vec<String>) -> Reply {
        let mut all = vec!["Status follows:".to_string()];
        all.extend(listing);
        all.push("End of status".to_string());
        Reply::multi(ReplyCode::FileStatus, all)
    }
    /// 250 multi-line MLST (RFC 3659 section 7.2): the fact line is sent
    /// with one leading space, as the RFC requires.
    pub fn mlst(fact_line: String) -> Reply {
        Reply::multi(
            ReplyCode::FileActionOk,
            vec!["Listing:".to_string(), fact_line, "End".to_string()],
        )
    }
    /// 213 HASH reply (draft-bryan-ftpext-hash-02 section 3.1).
    pub fn hash(algorithm: &str, start: u64, end: u64, hex: &str, path: &str) -> Reply {
        Reply::single(
            ReplyCode::FileStatus,
            format!("{algorithm} {start}-{end} {hex} {path}"),
        )
    }
    /// 250 for XMD5/XSHA*: just the digest, as older clients expect.
    pub fn digest(hex: &str) -> Reply {
        Reply::single(ReplyCode::FileActionOk, hex)
    }
    /// 200 for `OPTS HASH` with an argument: names the algorithm now selected.
    pub fn hash_selected(algorithm: &str) -> Reply {
        Reply::single(ReplyCode::CommandOk, algorithm)
    }
    /// 213 for AVBL: free bytes.
    pub fn available(bytes: u64) -> Reply {
        Reply::single(ReplyCode::FileStatus, bytes.to_string())
    }
    /// 211 multi-line SITE QUOTA.
    pub fn quota_report(lines: Vec<String>) -> Reply {
        let mut all = vec!["Disk quota:".to_string()];
        all.extend(lines);
        all.push("End".to_string());
        Reply::multi(ReplyCode::SystemStatus, all)
    }
    /// 214 multi-line SITE HELP.
    pub fn site_help() -> Reply {
        Reply::multi(
            ReplyCode::HelpMessage,
            vec![
                "SITE commands:".to_string(),
                "QUOTA  show used, limit and free space".to_string(),
                "HELP   this text".to_string(),
            ],
        )
    }
}

/// The one mapping from a failed command to what the client sees
/// (STYLE.md section 3). The details of the failure stay in the log.
impl From<&CommandError> for Reply {
    fn from(error: &CommandError) -> Reply {
        use ReplyCode as C;
        match error {
            CommandError::Vfs(vfs) => match vfs {
                VfsError::NotFound | VfsError::PathEscapesHome => {
                    Reply::single(C::FileUnavailable, NO_SUCH_FILE)
                }
                VfsError::PermissionDenied => Reply::single(C::FileUnavailable, PERMISSION_DENIED),
                VfsError::InvalidName => Reply::single(C::BadFileName, "File name not allowed."),
                VfsError::NotADirectory => Reply::single(C::FileUnavailable, "Not a directory."),
                VfsError::IsADirectory => Reply::single(C::FileUnavailable, "Is a directory."),
                VfsError::NotARegularFile => {
                    Reply::single(C::FileUnavailable, "Not a regular file.")
                }
                VfsError::DirectoryNotEmpty => {
                    Reply::single(C::FileUnavailable, "Directory not empty.")
                }
                VfsError::AlreadyExists => Reply::single(C::FileUnavailable, "File exists."),
                VfsError::Busy => Reply::single(C::FileBusy, "File busy, try again later."),
                VfsError::DiskFull => {
                    Reply::single(C::InsufficientStorage, "Insufficient storage space.")
                }
                VfsError::Io(_) => Reply::single(C::LocalError, "Local error in processing."),
            },
            CommandError::Quota(QuotaError::Exceeded { used, limit }) => Reply::single(
                C::ExceededStorage,
                format!(
                    "Quota exceeded: {} used of {} ({used} of {limit} bytes).",
                    human_size(*used),
                    human_size(*limit)
                ),
            ),
            CommandError::Transfer(transfer) => match transfer {
                TransferError::NoDataConnection => {
                    Reply::single(C::CantOpenData, "Use PORT, PASV, EPRT or EPSV first.")
                }
                TransferError::ConnectFailed(_) | TransferError::AcceptTimeout => {
                    Reply::single(C::CantOpenData, "Failed to establish data connection.")
                }
                TransferError::ForeignAddress => {
                    Reply::single(C::SyntaxError, "Illegal PORT command: address refused.")
                }
                TransferError::PassivePortsExhausted(_) => {
                    Reply::single(C::CantOpenData, "No passive port available, try again.")
                }
                TransferError::Aborted => Reply::single(C::TransferAborted, "Transfer aborted."),
                TransferError::ConnectionLost(_) => {
                    Reply::single(C::TransferAborted, "Connection closed; transfer aborted.")
                }
                TransferError::Timeout => {
                    Reply::single(C::TransferAborted, "Data connection timed out.")
                }
                TransferError::Disk(_) => {
                    Reply::single(C::LocalError, "Local error in processing.")
                }
                TransferError::DiskFull => {
                    Reply::single(C::InsufficientStorage, "Insufficient storage space.")
                }
            },
            CommandError::ReadOnly => Reply::single(C::FileUnavailable, PERMISSION_DENIED),
            CommandError::NoPendingRename => Reply::bad_sequence("RNFR required first."),
            CommandError::UnknownHashAlgorithm => Reply::single(
                C::ParameterSyntaxError,
                "Unknown algorithm, current selection not changed.",
            ),
            CommandError::HashOfDirectory => {
                Reply::single(C::BadFileName, "HASH of a directory is not defined.")
            }
            CommandError::RestartBeyondEnd => Reply::single(
                C::InvalidRestart,
                "Restart offset is past the end of the file.",
            ),
            CommandError::BadArgument(what) => Reply::bad_argument(what),
            CommandError::ParameterNotImplemented => Reply::parameter_not_implemented(),
            CommandError::NotImplemented => Reply::not_implemented(),
        }
    }
}

/// `"path"` with inner quotes doubled (RFC 959 appendix II).
fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

/// Removes CR, LF and NUL from reply text.
///
/// SECURITY: a file named `a\r\n230 ok` must not become a forged reply line.
/// The jail refuses such names on creation, but names that already sit on the
/// disk reach listings and STAT, so every reply goes through here.
fn sanitise(text: &str) -> String {
    text.chars()
        .map(|c| {
            if matches!(c, '\r' | '\n' | '\0') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Doubles Telnet IAC (0xFF) bytes, as RFC 959 asks of the control
/// connection. Valid UTF-8 never holds 0xFF, so this is a safety net for the
/// day a reply carries raw bytes.
fn double_iac(bytes: Vec<u8>) -> Vec<u8> {
    if !bytes.contains(&0xFF) {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + 4);
    for byte in bytes {
        out.push(byte);
        if byte == 0xFF {
            out.push(0xFF);
        }
    }
    out
}

/// Formats a size for people: `512 B`, `1.5 KiB`, `100.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(reply: &Reply) -> String {
        String::from_utf8(reply.to_wire()).unwrap()
    }

    #[test]
    fn single_line_is_code_space_text_crlf() {
        assert_eq!(wire(&Reply::noop_ok()), "200 NOOP ok.\r\n");
    }

    #[test]
    fn multi_line_uses_dash_then_space_framing() {
        let reply = Reply::features(&["MDTM".into(), "SIZE".into()]);
        assert_eq!(
            wire(&reply),
            "211-Features:\r\n MDTM\r\n SIZE\r\n211 End\r\n"
        );
    }

    #[test]
    fn middle_line_that_looks_like_a_final_reply_is_indented() {
        let reply = Reply::path_status(vec!["226 fake".into()]);
        assert_eq!(
            wire(&reply),
            "213-Status follows:\r\n 226 fake\r\n213 End of status\r\n"
        );
    }

    #[test]
    fn crlf_in_a_name_cannot_inject_a_reply_line() {
        let reply = Reply::current_directory("/a\r\n230 evil");
        assert_eq!(
            wire(&reply),
            "257 \"/a  230 evil\" is the current directory\r\n"
        );
    }

    #[test]
    fn quotes_in_a_path_are_doubled() {
        let reply = Reply::mkdir_ok("/say \"hi\"");
        assert_eq!(wire(&reply), "257 \"/say \"\"hi\"\"\" created\r\n");
    }

    #[test]
    fn iac_bytes_are_doubled() {
        assert_eq!(
            double_iac(vec![b'a', 0xFF, b'b']),
            vec![b'a', 0xFF, 0xFF, b'b']
        );
    }

    #[test]
    fn passive_reply_splits_the_port() {
        let reply = Reply::passive(Ipv4Addr::new(127, 0, 0, 1), 50001);
        assert_eq!(
            wire(&reply),
            "227 Entering Passive Mode (127,0,0,1,195,81).\r\n"
        );
    }

    #[test]
    fn quota_error_names_used_and_limit() {
        let error = CommandError::Quota(QuotaError::Exceeded {
            used: 1024,
            limit: 1_048_576,
        });
        assert_eq!(
            wire(&Reply::from(&error)),
            "552 Quota exceeded: 1.0 KiB used of 1.0 MiB (1024 of 1048576 bytes).\r\n"
        );
    }

    #[test]
    fn hash_and_space_errors_use_the_drafts_codes() {
        assert_eq!(
            wire(&Reply::from(&CommandError::UnknownHashAlgorithm)),
            "501 Unknown algorithm, current selection not changed.\r\n"
        );
        assert_eq!(
            wire(&Reply::from(&CommandError::HashOfDirectory)),
            "553 HASH of a directory is not defined.\r\n"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(100 * 1024 * 1024), "100.0 MiB");
    }
}
