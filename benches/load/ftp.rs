//! A tiny FTP client over `TcpStream`, just enough for the load generator: login, passive
//! data connections (PASV, falling back to EPSV), RETR, STOR, LIST, MKD, DELE, QUIT.
//!
//! It imports no server code, so it measures any FTP server the same way. Replies are read
//! line by line up to LF (never "one read() is one reply"), and every line, reply and socket
//! operation is bounded.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest reply line we accept before calling the server broken.
const MAX_REPLY_LINE: usize = 8 * 1024;
/// Most lines in one multi-line reply (FEAT, HELP...) before giving up.
const MAX_REPLY_LINES: usize = 1000;
/// Read and write timeout on every socket: a stuck server fails the measure, never hangs it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Transfer buffer size for both directions.
pub const BUF_SIZE: usize = 256 * 1024;

/// What went wrong while talking to a server.
#[derive(Debug)]
pub enum FtpError {
    /// Socket-level failure (refused, reset, timeout...).
    Io(io::Error),
    /// The server answered with a code we did not expect.
    Unexpected { command: String, reply: Reply },
    /// The reply could not be parsed (overlong line, bad PASV address...).
    Protocol(String),
}

impl fmt::Display for FtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FtpError::Io(e) => write!(f, "i/o: {e}"),
            FtpError::Unexpected { command, reply } => {
                write!(
                    f,
                    "{command}: unexpected reply {} {}",
                    reply.code, reply.text
                )
            }
            FtpError::Protocol(m) => write!(f, "protocol: {m}"),
        }
    }
}

impl From<io::Error> for FtpError {
    fn from(e: io::Error) -> Self {
        FtpError::Io(e)
    }
}

pub type FtpResult<T> = Result<T, FtpError>;

/// One complete reply: its code and the text of its last line.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

/// One control connection.
pub struct Ftp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The control peer: a passive reply naming another host is refused.
    peer: IpAddr,
    /// Set when PASV was refused once, so later transfers go straight to EPSV.
    use_epsv: bool,
}

impl Ftp {
    /// Connects and reads the greeting, which must be 220.
    pub fn connect(addr: SocketAddr) -> FtpResult<Ftp> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        let mut ftp = Ftp {
            reader: BufReader::new(stream),
            writer,
            peer: addr.ip(),
            use_epsv: false,
        };
        let greeting = ftp.read_reply()?;
        expect("(greeting)", &greeting, &[220])?;
        Ok(ftp)
    }

    /// Connects, logs in and switches to binary mode.
    pub fn login(addr: SocketAddr, user: &str, pass: &str) -> FtpResult<Ftp> {
        let mut ftp = Ftp::connect(addr)?;
        ftp.user_pass(user, pass)?;
        ftp.command_expect("TYPE I", &[200])?;
        Ok(ftp)
    }

    /// USER + PASS; succeeds on 230.
    pub fn user_pass(&mut self, user: &str, pass: &str) -> FtpResult<()> {
        let reply = self.command(&format!("USER {user}"))?;
        match reply.code {
            230 => return Ok(()),
            331 => {}
            _ => {
                return Err(FtpError::Unexpected {
                    command: "USER".into(),
                    reply,
                });
            }
        }
        let reply = self.command(&format!("PASS {pass}"))?;
        expect("PASS ****", &reply, &[230])?;
        Ok(())
    }

    /// Sends one command line and reads its reply.
    pub fn command(&mut self, line: &str) -> FtpResult<Reply> {
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\r\n")?;
        self.read_reply()
    }

    /// Sends one command and checks the reply code.
    pub fn command_expect(&mut self, line: &str, codes: &[u16]) -> FtpResult<Reply> {
        let reply = self.command(line)?;
        expect(line, &reply, codes)?;
        Ok(reply)
    }

    /// Reads one reply, following `ddd-` ... `ddd ` multi-line framing.
    pub fn read_reply(&mut self) -> FtpResult<Reply> {
        let first = self.read_line()?;
        let code = parse_code(&first)?;
        if first.as_bytes().get(3) != Some(&b'-') {
            return Ok(Reply {
                code,
                text: first[3..].trim().to_string(),
            });
        }
        let end = format!("{code:03} ");
        for _ in 0..MAX_REPLY_LINES {
            let line = self.read_line()?;
            if line.starts_with(&end) {
                return Ok(Reply {
                    code,
                    text: line[3..].trim().to_string(),
                });
            }
        }
        Err(FtpError::Protocol(format!(
            "multi-line {code} reply longer than {MAX_REPLY_LINES} lines"
        )))
    }

    fn read_line(&mut self) -> FtpResult<String> {
        let mut buf = Vec::with_capacity(128);
        let n = (&mut self.reader)
            .take(MAX_REPLY_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(FtpError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "control connection closed",
            )));
        }
        if buf.last() != Some(&b'\n') {
            return Err(FtpError::Protocol("reply line too long".into()));
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Opens a passive data connection (PASV, or EPSV when PASV is refused).
    fn open_data(&mut self) -> FtpResult<TcpStream> {
        let addr = if self.use_epsv {
            self.epsv()?
        } else {
            let reply = self.command("PASV")?;
            if reply.code == 227 {
                parse_pasv(&reply.text)?
            } else {
                self.use_epsv = true;
                self.epsv()?
            }
        };
        // SECURITY: only connect back to the host we are talking to.
        if addr.ip() != self.peer {
            return Err(FtpError::Protocol(format!(
                "passive address {addr} is not the control peer"
            )));
        }
        let data = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        data.set_read_timeout(Some(IO_TIMEOUT))?;
        data.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(data)
    }

    fn epsv(&mut self) -> FtpResult<SocketAddr> {
        let reply = self.command_expect("EPSV", &[229])?;
        let port = parse_epsv(&reply.text)?;
        Ok(SocketAddr::new(self.peer, port))
    }

    /// RETR into `sink`; returns the byte count. Checks the final 226/250.
    pub fn retr(&mut self, path: &str, sink: &mut dyn Write) -> FtpResult<u64> {
        let mut data = self.open_data()?;
        self.command_expect(&format!("RETR {path}"), &[125, 150])?;
        let n = copy_bounded(&mut data, sink)?;
        drop(data);
        let done = self.read_reply()?;
        expect("RETR (end)", &done, &[226, 250])?;
        Ok(n)
    }

    /// STOR from `source`; returns the byte count. Checks the final 226/250.
    pub fn stor(&mut self, path: &str, source: &mut dyn Read) -> FtpResult<u64> {
        let mut data = self.open_data()?;
        self.command_expect(&format!("STOR {path}"), &[125, 150])?;
        let n = copy_bounded(source, &mut data)?;
        // Closing our side ends the upload.
        data.shutdown(std::net::Shutdown::Write)?;
        drop(data);
        let done = self.read_reply()?;
        expect("STOR (end)", &done, &[226, 250])?;
        Ok(n)
    }

    /// LIST of `path`; returns the listing's size in bytes.
    pub fn list(&mut self, path: &str) -> FtpResult<u64> {
        let mut data = self.open_data()?;
        self.command_expect(&format!("LIST {path}"), &[125, 150])?;
        let n = copy_bounded(&mut data, &mut io::sink())?;
        drop(data);
        let done = self.read_reply()?;
        expect("LIST (end)", &done, &[226, 250])?;
        Ok(n)
    }

    /// QUIT, ignoring what happens after: the session is over either way.
    pub fn quit(mut self) {
        let _ = self.command("QUIT");
    }
}

/// `std::io::copy` with our buffer size; the data socket's timeouts bound it in time.
fn copy_bounded(from: &mut dyn Read, to: &mut dyn Write) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn expect(command: &str, reply: &Reply, codes: &[u16]) -> FtpResult<()> {
    if codes.contains(&reply.code) {
        Ok(())
    } else {
        Err(FtpError::Unexpected {
            command: command.to_string(),
            reply: reply.clone(),
        })
    }
}

fn parse_code(line: &str) -> FtpResult<u16> {
    let digits = line
        .get(..3)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    match digits {
        Some(d) => Ok(d.parse().unwrap_or(0)),
        None => Err(FtpError::Protocol(format!("not a reply line: {line:?}"))),
    }
}

/// Parses `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`, with or without brackets.
fn parse_pasv(text: &str) -> FtpResult<SocketAddr> {
    let start = text
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(text.len());
    let body = text[start..].trim_end_matches(|c: char| !c.is_ascii_digit());
    let nums: Vec<u8> = body
        .split(',')
        .map(|n| n.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| FtpError::Protocol(format!("bad PASV reply: {text:?}")))?;
    if nums.len() != 6 {
        return Err(FtpError::Protocol(format!("bad PASV reply: {text:?}")));
    }
    let ip = Ipv4Addr::new(nums[0], nums[1], nums[2], nums[3]);
    let port = u16::from(nums[4]) << 8 | u16::from(nums[5]);
    Ok(SocketAddr::new(IpAddr::V4(ip), port))
}

/// Parses `229 Entering Extended Passive Mode (|||port|)`.
fn parse_epsv(text: &str) -> FtpResult<u16> {
    let bad = || FtpError::Protocol(format!("bad EPSV reply: {text:?}"));
    let open = text.find('(').ok_or_else(bad)?;
    let close = text[open..].find(')').ok_or_else(bad)? + open;
    let inner = &text[open + 1..close];
    let delim = inner.chars().next().ok_or_else(bad)?;
    let port = inner.split(delim).nth(3).ok_or_else(bad)?;
    port.parse().map_err(|_| bad())
}

/// Resolves "host:port" to its first address.
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}
