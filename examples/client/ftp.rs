//! The control connection: connect, log in, send one command and read its (possibly
//! multi-line) reply, and open passive data connections. RFC 959 section 4.2 for reply
//! framing, RFC 2428 for EPSV. Nothing here knows about files or progress bars.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};

use crate::error::ClientError;
use crate::limits::{
    CONNECT_TIMEOUT, CONTROL_TIMEOUT, DATA_TIMEOUT, MAX_REPLY_LINE, MAX_REPLY_LINES,
};

/// One server reply: the three-digit code and the text of each line, code prefixes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit RFC 959 code.
    pub code: u16,
    /// One entry per line, without the `123-`/`123 ` prefix or the CRLF.
    pub lines: Vec<String>,
}

impl Reply {
    /// 1xx: the server started something and another reply will follow.
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }

    /// 2xx: the command succeeded.
    pub fn is_ok(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx: the server waits for the next command of a sequence (PASS, RNTO, after REST).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 500/502/504: the server does not implement the command or this parameter. Used to
    /// decide when to fall back to an older command rather than report an error.
    pub fn is_not_implemented(&self) -> bool {
        matches!(self.code, 500 | 501 | 502 | 504)
    }

    /// All lines joined with newlines, for commands whose reply is the output (quota).
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

impl fmt::Display for Reply {
    /// One line, so that an error message stays one line even for multi-line replies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: Vec<&str> = self.lines.iter().map(|l| l.trim()).collect();
        write!(f, "{} {}", self.code, text.join(" ").trim())
    }
}

/// Parses the reply code at the start of a line and what follows it: `Some((code, '-'))`
/// opens a multi-line reply, `' '` (or nothing) is a last line.
fn split_code(line: &str) -> Option<(u16, char, &str)> {
    let bytes = line.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code: u16 = line[..3].parse().ok()?;
    match bytes.get(3) {
        None => Some((code, ' ', "")),
        Some(b' ') => Some((code, ' ', &line[4..])),
        Some(b'-') => Some((code, '-', &line[4..])),
        Some(_) => None,
    }
}

/// A logged-in (or logging-in) control connection.
pub struct Ftp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// Data connections go to this address whatever PASV says: behind NAT the server often
    /// announces an address we cannot reach, and trusting it would let a hostile server aim
    /// our connections at a third host.
    peer_ip: IpAddr,
    /// Cleared after the first EPSV the server does not know, so we ask it only once.
    epsv_ok: bool,
    /// `--verbose`: print the dialogue (PASS masked) on stderr.
    verbose: bool,
}

impl Ftp {
    /// Connects to the first address of `host` that answers and reads the greeting.
    pub fn connect(host: &str, port: u16, verbose: bool) -> Result<Ftp, ClientError> {
        let label = format!("{host}:{port}");
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|source| ClientError::Connect {
                addr: label.clone(),
                source,
            })?
            .collect();
        let mut last_err = std::io::Error::new(std::io::ErrorKind::NotFound, "no address found");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => return Ftp::greet(stream, addr, verbose),
                Err(e) => last_err = e,
            }
        }
        Err(ClientError::Connect {
            addr: label,
            source: last_err,
        })
    }

    fn greet(stream: TcpStream, addr: SocketAddr, verbose: bool) -> Result<Ftp, ClientError> {
        stream
            .set_read_timeout(Some(CONTROL_TIMEOUT))
            .map_err(ClientError::Control)?;
        stream
            .set_write_timeout(Some(CONTROL_TIMEOUT))
            .map_err(ClientError::Control)?;
        let writer = stream.try_clone().map_err(ClientError::Control)?;
        let mut ftp = Ftp {
            reader: BufReader::new(stream),
            writer,
            peer_ip: addr.ip(),
            epsv_ok: true,
            verbose,
        };
        // 120 means "ready in a moment"; the real greeting follows.
        let mut greeting = ftp.read_reply()?;
        while greeting.is_preliminary() {
            greeting = ftp.read_reply()?;
        }
        if !greeting.is_ok() {
            return Err(ClientError::Refused {
                what: "connect".into(),
                reply: greeting,
            });
        }
        Ok(ftp)
    }

    /// USER, PASS if asked for, then TYPE I so that SIZE, REST and transfers count bytes.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        let reply = self.command(&format!("USER {user}"))?;
        let reply = if reply.is_intermediate() {
            self.command(&format!("PASS {password}"))?
        } else {
            reply
        };
        if !reply.is_ok() {
            return Err(ClientError::Login(reply));
        }
        self.expect_ok("TYPE I", "binary mode")?;
        Ok(())
    }

    /// Sends QUIT and ignores the answer: we are leaving either way.
    pub fn quit(&mut self) {
        let _ = self.command("QUIT");
    }

    /// Sends one command line and reads the reply to it.
    pub fn command(&mut self, line: &str) -> Result<Reply, ClientError> {
        self.send(line)?;
        self.read_reply()
    }

    /// Like `command`, but any non-2xx reply is an error that names `what`.
    pub fn expect_ok(&mut self, line: &str, what: &str) -> Result<Reply, ClientError> {
        let reply = self.command(line)?;
        if reply.is_ok() {
            Ok(reply)
        } else {
            Err(ClientError::Refused {
                what: what.to_string(),
                reply,
            })
        }
    }

    /// Writes one command line. Arguments come from the user, so a CR or LF in a path must
    /// not smuggle a second command onto the wire.
    pub fn send(&mut self, line: &str) -> Result<(), ClientError> {
        if line.contains(['\r', '\n', '\0']) {
            return Err(ClientError::Usage(
                "names with CR, LF or NUL cannot be sent over FTP".into(),
            ));
        }
        if self.verbose {
            let shown = if line.starts_with("PASS ") {
                "PASS ****"
            } else {
                line
            };
            eprintln!("-> {shown}");
        }
        let mut wire = Vec::with_capacity(line.len() + 2);
        wire.extend_from_slice(line.as_bytes());
        wire.extend_from_slice(b"\r\n");
        self.writer.write_all(&wire).map_err(ClientError::Control)
    }

    /// Reads one reply, following RFC 959 multi-line framing: `123-first`, any lines,
    /// `123 last`. Lines between may start with anything, even other digits.
    pub fn read_reply(&mut self) -> Result<Reply, ClientError> {
        let first = self.read_line()?;
        let (code, sep, text) =
            split_code(&first).ok_or_else(|| ClientError::BadReply(first.clone()))?;
        let mut lines = vec![text.to_string()];
        if sep == '-' {
            loop {
                let line = self.read_line()?;
                match split_code(&line) {
                    Some((c, ' ', text)) if c == code => {
                        lines.push(text.to_string());
                        break;
                    }
                    // Some servers repeat `123-` on every line; drop the prefix.
                    Some((c, '-', text)) if c == code => lines.push(text.to_string()),
                    _ => lines.push(line),
                }
                if lines.len() > MAX_REPLY_LINES {
                    return Err(ClientError::BadReply(format!(
                        "reply {code} has too many lines"
                    )));
                }
            }
        }
        Ok(Reply { code, lines })
    }

    /// One line up to LF, bounded so a misbehaving server cannot make us buffer forever.
    fn read_line(&mut self) -> Result<String, ClientError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_REPLY_LINE as u64)
            .read_until(b'\n', &mut buf)
            .map_err(ClientError::Control)?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        if buf.last() != Some(&b'\n') {
            if n >= MAX_REPLY_LINE {
                return Err(ClientError::BadReply("reply line too long".into()));
            }
            return Err(ClientError::Closed);
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf).into_owned();
        if self.verbose {
            eprintln!("<- {line}");
        }
        Ok(line)
    }

    /// Opens a passive data connection: EPSV first, PASV if the server does not know EPSV.
    pub fn open_data(&mut self) -> Result<TcpStream, ClientError> {
        let port = if self.epsv_ok {
            let reply = self.command("EPSV")?;
            if reply.code == 229 {
                Some(parse_epsv(&reply).ok_or_else(|| ClientError::BadReply(reply.to_string()))?)
            } else if reply.is_not_implemented() {
                self.epsv_ok = false;
                None
            } else {
                return Err(ClientError::Refused {
                    what: "EPSV".into(),
                    reply,
                });
            }
        } else {
            None
        };
        let port = match port {
            Some(port) => port,
            None => {
                let reply = self.expect_ok("PASV", "passive mode")?;
                parse_pasv(&reply).ok_or_else(|| ClientError::BadReply(reply.to_string()))?
            }
        };
        let addr = SocketAddr::new(self.peer_ip, port);
        let stream =
            TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(ClientError::Data)?;
        stream
            .set_read_timeout(Some(DATA_TIMEOUT))
            .map_err(ClientError::Data)?;
        stream
            .set_write_timeout(Some(DATA_TIMEOUT))
            .map_err(ClientError::Data)?;
        Ok(stream)
    }

    /// Sends a transfer command (RETR, STOR, LIST...) after the data connection is open and
    /// checks that the server starts the transfer (1xx).
    pub fn start_transfer(&mut self, line: &str, what: &str) -> Result<(), ClientError> {
        let reply = self.command(line)?;
        if reply.is_preliminary() {
            Ok(())
        } else {
            Err(ClientError::Refused {
                what: what.to_string(),
                reply,
            })
        }
    }

    /// Reads the reply that ends a transfer (226/250) once the data connection is closed.
    pub fn finish_transfer(&mut self, what: &str) -> Result<(), ClientError> {
        let reply = self.read_reply()?;
        if reply.is_ok() {
            Ok(())
        } else {
            Err(ClientError::Refused {
                what: what.to_string(),
                reply,
            })
        }
    }

    /// SIZE of a remote file, or None when the server cannot tell (no such file, no SIZE
    /// command). RFC 3659 section 4.
    pub fn size(&mut self, path: &str) -> Result<Option<u64>, ClientError> {
        let reply = self.command(&format!("SIZE {path}"))?;
        if reply.code != 213 {
            return Ok(None);
        }
        Ok(reply.lines.first().and_then(|l| l.trim().parse().ok()))
    }
}

/// Port from `229 Entering Extended Passive Mode (|||6446|)`. The delimiter is whatever
/// character follows the parenthesis (RFC 2428 section 3).
pub fn parse_epsv(reply: &Reply) -> Option<u16> {
    let text = reply.lines.first()?;
    let inner = &text[text.find('(')? + 1..];
    let inner = &inner[..inner.find(')')?];
    let delim = inner.chars().next()?;
    let fields: Vec<&str> = inner.split(delim).collect();
    match fields.as_slice() {
        ["", _, _, port, ""] => port.parse().ok(),
        _ => None,
    }
}

/// Port from `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`. Servers differ in the words
/// around the numbers (some omit the parentheses), so look for six comma-separated numbers.
pub fn parse_pasv(reply: &Reply) -> Option<u16> {
    let text = reply.lines.first()?;
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let numbers: Vec<u16> = text[start..]
        .split(|c: char| !c.is_ascii_digit() && c != ',')
        .next()?
        .split(',')
        .map(|n| n.parse().ok())
        .collect::<Option<Vec<u16>>>()?;
    match numbers.as_slice() {
        [_, _, _, _, hi, lo] if *hi < 256 && *lo < 256 => Some(hi * 256 + lo),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, line: &str) -> Reply {
        Reply {
            code,
            lines: vec![line.to_string()],
        }
    }

    #[test]
    fn split_code_tells_first_and_last_lines_apart() {
        assert_eq!(split_code("211-Quota"), Some((211, '-', "Quota")));
        assert_eq!(split_code("211 End"), Some((211, ' ', "End")));
        assert_eq!(split_code("200"), Some((200, ' ', "")));
        assert_eq!(split_code(" used: 5"), None);
        assert_eq!(split_code("21x ok"), None);
        assert_eq!(split_code("2115 x"), None);
    }

    #[test]
    fn epsv_port_is_parsed_with_any_delimiter() {
        assert_eq!(
            parse_epsv(&reply(229, "Entering Extended Passive Mode (|||6446|)")),
            Some(6446)
        );
        assert_eq!(parse_epsv(&reply(229, "ok (!!!21!)")), Some(21));
        assert_eq!(parse_epsv(&reply(229, "ok (|||x|)")), None);
        assert_eq!(parse_epsv(&reply(229, "ok")), None);
    }

    #[test]
    fn pasv_port_is_parsed_with_or_without_parentheses() {
        assert_eq!(
            parse_pasv(&reply(227, "Entering Passive Mode (127,0,0,1,195,80).")),
            Some(50000)
        );
        assert_eq!(
            parse_pasv(&reply(227, "Entering Passive Mode 127,0,0,1,4,1")),
            Some(1025)
        );
        assert_eq!(
            parse_pasv(&reply(227, "Entering Passive Mode (127,0,0,1,300,1)")),
            None
        );
    }

    #[test]
    fn display_joins_multi_line_replies_into_one_line() {
        let r = Reply {
            code: 530,
            lines: vec!["Login".into(), " incorrect.".into()],
        };
        assert_eq!(r.to_string(), "530 Login incorrect.");
    }
}
