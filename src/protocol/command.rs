//! The command parser: one control line in, one typed [`Command`] out.
//!
//! Every byte here came from the network, so the parser is total: any input
//! yields a `Command` or a [`ParseError`], never a panic. Arguments are parsed
//! into their types once (offsets into `u64`, PORT into a socket address), so
//! handlers match on proven values instead of re-checking strings. Verbs are
//! those of RFC 959, RFC 2389 (FEAT/OPTS), RFC 2428 (EPRT/EPSV), RFC 3659
//! (SIZE/MDTM/REST/MLST/MLSD), draft-bryan-ftpext-hash (HASH) and
//! draft-peterson-streamlined-ftp-command-extensions (AVBL).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

use crate::auth::Password;

/// One parsed command. Variants are named after their verb; the X-prefixed
/// synonyms of RFC 775 (XPWD, XCWD...) parse to the same variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    // Login
    User(String),
    Pass(Password),
    Quit,
    // Session settings
    Noop,
    Syst,
    Feat,
    Opts(String),
    Help(Option<String>),
    Type(TransferType),
    Mode(char),
    Stru(char),
    // Navigation
    Pwd,
    Cwd(String),
    Cdup,
    // Listings
    List(Option<String>),
    Nlst(Option<String>),
    Mlsd(Option<String>),
    Mlst(Option<String>),
    Stat(Option<String>),
    Size(String),
    Mdtm(String),
    // Transfers
    Retr(String),
    Stor(String),
    Appe(String),
    Stou(Option<String>),
    Rest(u64),
    Allo(u64),
    Abor,
    // Data connection
    Pasv,
    Epsv(EpsvArg),
    Port(SocketAddr),
    Eprt(SocketAddr),
    // File actions
    Dele(String),
    Mkd(String),
    Rmd(String),
    Rnfr(String),
    Rnto(String),
    // Integrity and space
    Hash(String),
    /// XMD5 / XSHA1 / XSHA256 / XSHA512 with the path.
    XDigest(HashAlgorithm, String),
    Avbl(Option<String>),
    Site(SiteCommand),
}

/// The representation type set by TYPE (RFC 959 section 3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    /// TYPE A: accepted for compatibility; data is sent unchanged, as
    /// vsftpd and most modern servers do.
    Ascii,
    /// TYPE I (and L 8).
    Image,
}

/// The argument of EPSV (RFC 2428 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument, or the protocol number of the control connection.
    Any,
    /// A protocol number we don't serve on this connection (1 = IPv4, 2 = IPv6).
    Protocol(u8),
    /// `EPSV ALL`: the client promises to use no other data commands.
    All,
}

/// Hash algorithms for HASH, XMD5 and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgorithm {
    /// Every algorithm, in the order FEAT lists them.
    pub const ALL: [HashAlgorithm; 4] = [
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha512,
        HashAlgorithm::Md5,
    ];

    /// The name used by HASH, from the IANA hash function textual names.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha512 => "SHA-512",
        }
    }

    /// Parses a name as OPTS HASH gives it (case-insensitive).
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        HashAlgorithm::ALL
            .into_iter()
            .find(|algo| algo.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// SITE subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteCommand {
    Quota,
    Help,
    /// Anything else: answered 502 with the verb kept for the log.
    Other(String),
}

/// Why a line is not a command. The session maps each to a 5xx reply.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    /// Blank line or a verb we don't know. Reply 500.
    #[error("unknown command")]
    UnknownCommand,
    /// A NUL byte anywhere in the line. Reply 501.
    #[error("NUL byte in command line")]
    Nul,
    /// The line is not UTF-8 (RFC 2640 asks for UTF-8 paths). Reply 501.
    #[error("command line is not UTF-8")]
    NotUtf8,
    /// A required argument is missing. Reply 501.
    #[error("{0} needs an argument")]
    MissingArgument(&'static str),
    /// An argument has the wrong form. Reply 501.
    #[error("bad argument: {0}")]
    BadArgument(&'static str),
    /// A valid parameter we don't support (TYPE E, MODE B, STRU R). Reply 504.
    #[error("parameter not implemented")]
    ParameterNotImplemented,
}

/// Parses one control line. The line may still carry its CRLF (or bare LF)
/// and Telnet IAC sequences; both are removed here.
pub fn parse(raw: &[u8]) -> Result<Command, ParseError> {
    let stripped = strip_telnet(trim_eol(raw));
    if stripped.contains(&0) {
        return Err(ParseError::Nul);
    }
    let line = std::str::from_utf8(&stripped).map_err(|_| ParseError::NotUtf8)?;
    let line = line.trim_start_matches(' ');
    let (verb, arg) = match line.split_once(' ') {
        Some((verb, arg)) => (verb, arg),
        None => (line, ""),
    };
    // Leading spaces are dropped (clients sometimes double the separator);
    // trailing spaces stay, since they may be part of a file name.
    let arg = arg.trim_start_matches(' ');
    let verb = verb.to_ascii_uppercase();
    let optional = || (!arg.is_empty()).then(|| arg.to_string());
    let required = |name: &'static str| {
        if arg.is_empty() {
            Err(ParseError::MissingArgument(name))
        } else {
            Ok(arg.to_string())
        }
    };
    let command = match verb.as_str() {
        "USER" => Command::User(required("USER")?),
        // An empty password is a valid (if wrong) password.
        "PASS" => Command::Pass(Password::new(arg.to_string())),
        "QUIT" => Command::Quit,
        "NOOP" => Command::Noop,
        "SYST" => Command::Syst,
        "FEAT" => Command::Feat,
        "OPTS" => Command::Opts(required("OPTS")?),
        "HELP" => Command::Help(optional()),
        "TYPE" => Command::Type(parse_type(arg)?),
        "MODE" => Command::Mode(parse_letter(arg, 'S', "MODE")?),
        "STRU" => Command::Stru(parse_letter(arg, 'F', "STRU")?),
        "PWD" | "XPWD" => Command::Pwd,
        "CWD" | "XCWD" => Command::Cwd(required("CWD")?),
        "CDUP" | "XCUP" => Command::Cdup,
        "LIST" => Command::List(strip_list_options(arg)),
        "NLST" => Command::Nlst(strip_list_options(arg)),
        "MLSD" => Command::Mlsd(optional()),
        "MLST" => Command::Mlst(optional()),
        "STAT" => Command::Stat(strip_list_options(arg)),
        "SIZE" => Command::Size(required("SIZE")?),
        "MDTM" => Command::Mdtm(required("MDTM")?),
        "RETR" => Command::Retr(required("RETR")?),
        "STOR" => Command::Stor(required("STOR")?),
        "APPE" => Command::Appe(required("APPE")?),
        "STOU" => Command::Stou(optional()),
        "REST" => Command::Rest(parse_number(arg, "REST")?),
        "ALLO" => Command::Allo(parse_allo(arg)?),
        "ABOR" => Command::Abor,
        "PASV" => Command::Pasv,
        "EPSV" => Command::Epsv(parse_epsv(arg)?),
        "PORT" => Command::Port(parse_port(arg)?),
        "EPRT" => Command::Eprt(parse_eprt(arg)?),
        "DELE" => Command::Dele(required("DELE")?),
        "MKD" | "XMKD" => Command::Mkd(required("MKD")?),
        "RMD" | "XRMD" => Command::Rmd(required("RMD")?),
        "RNFR" => Command::Rnfr(required("RNFR")?),
        "RNTO" => Command::Rnto(required("RNTO")?),
        "HASH" => Command::Hash(required("HASH")?),
        "XMD5" => Command::XDigest(HashAlgorithm::Md5, required("XMD5")?),
        "XSHA" | "XSHA1" => Command::XDigest(HashAlgorithm::Sha1, required("XSHA1")?),
        "XSHA256" => Command::XDigest(HashAlgorithm::Sha256, required("XSHA256")?),
        "XSHA512" => Command::XDigest(HashAlgorithm::Sha512, required("XSHA512")?),
        "AVBL" => Command::Avbl(optional()),
        "SITE" => Command::Site(parse_site(arg)),
        _ => return Err(ParseError::UnknownCommand),
    };
    Ok(command)
}

/// The verb of a line, upper-cased, for logging a line that failed to parse
/// and for the pre-login check. Never longer than 8 characters.
pub fn verb_of(raw: &[u8]) -> String {
    let stripped = strip_telnet(trim_eol(raw));
    stripped
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| **b != b' ')
        .take(8)
        .map(|b| {
            if b.is_ascii_graphic() {
                b.to_ascii_uppercase() as char
            } else {
                '?'
            }
        })
        .collect()
}

/// Drops the line end: CRLF, or a bare LF that many clients send.
fn trim_eol(raw: &[u8]) -> &[u8] {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

/// Removes Telnet commands (RFC 854) from a control line. Clients send
/// `IAC IP IAC DM` before ABOR (RFC 959 section 4.1.3); `IAC IAC` stands for
/// a literal 0xFF byte, which then fails UTF-8 validation on its own.
fn strip_telnet(raw: &[u8]) -> Vec<u8> {
    const IAC: u8 = 0xFF;
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied();
    while let Some(byte) = bytes.next() {
        if byte != IAC {
            out.push(byte);
            continue;
        }
        match bytes.next() {
            Some(IAC) => out.push(IAC),
            // WILL/WONT/DO/DONT carry one option byte.
            Some(251..=254) => {
                bytes.next();
            }
            // Any other command (IP, DM, AYT...) is one byte; drop it.
            _ => {}
        }
    }
    out
}

fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    let mut parts = arg.split(' ').filter(|part| !part.is_empty());
    let kind = parts.next().ok_or(ParseError::MissingArgument("TYPE"))?;
    let format = parts.next();
    match (kind.to_ascii_uppercase().as_str(), format) {
        ("A", None) | ("A", Some("N" | "n")) => Ok(TransferType::Ascii),
        ("I", None) | ("L", Some("8")) => Ok(TransferType::Image),
        ("A" | "E" | "L", _) => Err(ParseError::ParameterNotImplemented),
        _ => Err(ParseError::BadArgument("unknown TYPE")),
    }
}

/// MODE and STRU take one letter; we serve only the one every client uses.
fn parse_letter(arg: &str, supported: char, name: &'static str) -> Result<char, ParseError> {
    let mut chars = arg.trim().chars();
    match (chars.next(), chars.next()) {
        (None, _) => Err(ParseError::MissingArgument(name)),
        (Some(letter), None) if letter.eq_ignore_ascii_case(&supported) => Ok(supported),
        (Some(letter), None) if letter.is_ascii_alphabetic() => {
            Err(ParseError::ParameterNotImplemented)
        }
        _ => Err(ParseError::BadArgument("expected one letter")),
    }
}

fn parse_number(arg: &str, name: &'static str) -> Result<u64, ParseError> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err(ParseError::MissingArgument(name));
    }
    if !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadArgument("expected a decimal number"));
    }
    arg.parse()
        .map_err(|_| ParseError::BadArgument("number too large"))
}

/// `ALLO n [R m]`: only the byte count matters to us.
fn parse_allo(arg: &str) -> Result<u64, ParseError> {
    let count = arg.split(' ').next().unwrap_or("");
    parse_number(count, "ALLO")
}

/// LIST/NLST/STAT accept `ls`-style options (`-la`) that many clients send;
/// like most servers we ignore them. A path that really starts with `-` can
/// still be listed as `./-name`.
fn strip_list_options(arg: &str) -> Option<String> {
    let mut rest = arg.trim_start();
    while rest.starts_with('-') {
        rest = match rest.split_once(' ') {
            Some((_, after)) => after.trim_start(),
            None => "",
        };
    }
    (!rest.is_empty()).then(|| rest.to_string())
}

fn parse_epsv(arg: &str) -> Result<EpsvArg, ParseError> {
    match arg.trim() {
        "" => Ok(EpsvArg::Any),
        all if all.eq_ignore_ascii_case("ALL") => Ok(EpsvArg::All),
        "1" => Ok(EpsvArg::Protocol(1)),
        "2" => Ok(EpsvArg::Protocol(2)),
        _ => Err(ParseError::BadArgument("EPSV takes 1, 2 or ALL")),
    }
}

/// `PORT h1,h2,h3,h4,p1,p2` (RFC 959 section 4.1.2).
fn parse_port(arg: &str) -> Result<SocketAddr, ParseError> {
    let numbers: Vec<u8> = arg
        .trim()
        .split(',')
        .map(|part| part.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| ParseError::BadArgument("PORT takes h1,h2,h3,h4,p1,p2"))?;
    let [a, b, c, d, hi, lo] = numbers[..] else {
        return Err(ParseError::BadArgument("PORT takes h1,h2,h3,h4,p1,p2"));
    };
    let port = u16::from(hi) << 8 | u16::from(lo);
    Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port))
}

/// `EPRT |proto|address|port|` (RFC 2428 section 2); the delimiter is the
/// first character, whatever it is (printable ASCII 33-126).
fn parse_eprt(arg: &str) -> Result<SocketAddr, ParseError> {
    const BAD: ParseError = ParseError::BadArgument("EPRT takes |proto|address|port|");
    let arg = arg.trim();
    let delimiter = arg
        .chars()
        .next()
        .ok_or(ParseError::MissingArgument("EPRT"))?;
    if !(33..=126).contains(&(delimiter as u32)) {
        return Err(BAD);
    }
    let parts: Vec<&str> = arg.split(delimiter).collect();
    let ["", proto, address, port, ""] = parts[..] else {
        return Err(BAD);
    };
    let port: u16 = port.parse().map_err(|_| BAD)?;
    let ip = match proto {
        "1" => IpAddr::V4(address.parse::<Ipv4Addr>().map_err(|_| BAD)?),
        "2" => IpAddr::V6(address.parse::<Ipv6Addr>().map_err(|_| BAD)?),
        _ => return Err(BAD),
    };
    Ok(SocketAddr::new(ip, port))
}

fn parse_site(arg: &str) -> SiteCommand {
    let sub = arg.split(' ').next().unwrap_or("").to_ascii_uppercase();
    match sub.as_str() {
        "QUOTA" => SiteCommand::Quota,
        "HELP" | "" => SiteCommand::Help,
        _ => SiteCommand::Other(sub.chars().take(16).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn table_of_valid_lines() {
        let table: &[(&str, Command)] = &[
            ("USER curry\r\n", Command::User("curry".into())),
            ("user curry\n", Command::User("curry".into())),
            ("NOOP", Command::Noop),
            ("xpwd\r\n", Command::Pwd),
            (
                "CWD  dir with spaces \r\n",
                Command::Cwd("dir with spaces ".into()),
            ),
            ("CWD ünïcødé\r\n", Command::Cwd("ünïcødé".into())),
            ("TYPE I\r\n", Command::Type(TransferType::Image)),
            ("type a n\r\n", Command::Type(TransferType::Ascii)),
            ("TYPE L 8\r\n", Command::Type(TransferType::Image)),
            ("MODE s\r\n", Command::Mode('S')),
            ("LIST -la\r\n", Command::List(None)),
            ("LIST -a /pub\r\n", Command::List(Some("/pub".into()))),
            ("NLST\r\n", Command::Nlst(None)),
            ("REST 1234\r\n", Command::Rest(1234)),
            ("ALLO 100 R 10\r\n", Command::Allo(100)),
            ("EPSV\r\n", Command::Epsv(EpsvArg::Any)),
            ("EPSV ALL\r\n", Command::Epsv(EpsvArg::All)),
            ("EPSV 2\r\n", Command::Epsv(EpsvArg::Protocol(2))),
            (
                "PORT 127,0,0,1,195,81\r\n",
                Command::Port("127.0.0.1:50001".parse().unwrap()),
            ),
            (
                "EPRT |1|127.0.0.1|6275|\r\n",
                Command::Eprt("127.0.0.1:6275".parse().unwrap()),
            ),
            (
                "EPRT |2|::1|6275|\r\n",
                Command::Eprt("[::1]:6275".parse().unwrap()),
            ),
            (
                "XMD5 a.txt\r\n",
                Command::XDigest(HashAlgorithm::Md5, "a.txt".into()),
            ),
            ("SITE quota\r\n", Command::Site(SiteCommand::Quota)),
            ("STOU\r\n", Command::Stou(None)),
        ];
        for (line, expected) in table {
            assert_eq!(&ok(line), expected, "{line:?}");
        }
    }

    #[test]
    fn table_of_invalid_lines() {
        let table: &[(&[u8], ParseError)] = &[
            (b"\r\n", ParseError::UnknownCommand),
            (b"FROB x\r\n", ParseError::UnknownCommand),
            (b"CWD\r\n", ParseError::MissingArgument("CWD")),
            (b"RETR \r\n", ParseError::MissingArgument("RETR")),
            (b"CWD a\0b\r\n", ParseError::Nul),
            (b"CWD \xc3\x28\r\n", ParseError::NotUtf8),
            (b"CWD \xff\xff\r\n", ParseError::NotUtf8),
            (
                b"REST -1\r\n",
                ParseError::BadArgument("expected a decimal number"),
            ),
            (
                b"REST 99999999999999999999999\r\n",
                ParseError::BadArgument("number too large"),
            ),
            (b"TYPE E\r\n", ParseError::ParameterNotImplemented),
            (b"MODE B\r\n", ParseError::ParameterNotImplemented),
            (b"TYPE Q\r\n", ParseError::BadArgument("unknown TYPE")),
            (
                b"PORT 1,2,3\r\n",
                ParseError::BadArgument("PORT takes h1,h2,h3,h4,p1,p2"),
            ),
            (
                b"PORT 256,0,0,1,1,1\r\n",
                ParseError::BadArgument("PORT takes h1,h2,h3,h4,p1,p2"),
            ),
            (
                b"EPRT |3|x|1|\r\n",
                ParseError::BadArgument("EPRT takes |proto|address|port|"),
            ),
            (
                b"EPRT |1|::1|1|\r\n",
                ParseError::BadArgument("EPRT takes |proto|address|port|"),
            ),
        ];
        for (line, expected) in table {
            assert_eq!(&parse(line).unwrap_err(), expected, "{line:?}");
        }
    }

    #[test]
    fn telnet_interrupt_before_abor_is_ignored() {
        assert_eq!(parse(b"\xff\xf4\xff\xf2ABOR\r\n").unwrap(), Command::Abor);
    }

    #[test]
    fn password_debug_never_shows_the_password() {
        let command = ok("PASS hunter2\r\n");
        assert!(!format!("{command:?}").contains("hunter2"));
    }

    #[test]
    fn verb_of_is_bounded_and_printable() {
        assert_eq!(verb_of(b"  stor x"), "STOR");
        assert_eq!(verb_of(b"AAAAAAAAAAAAAAAA"), "AAAAAAAA");
        assert_eq!(verb_of(b"\x01\x02"), "??");
    }
}
