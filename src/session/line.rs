//! The bounded control-line reader.
//!
//! Bytes from the control socket land in a fixed `heapless::Vec` of
//! `MAX_COMMAND_LINE` bytes; nothing here ever allocates, so a client that
//! never sends a line end costs us 4 KiB and no more. A line that does not
//! fit is reported once as [`Line::TooLong`] and then skipped up to its LF,
//! and the session goes on (vsftpd's ftpcmdio.c does the same).
//!
//! The reader also serves the transfer loop: [`LineReader::poll_abort`]
//! takes a non-blocking look at the socket for ABOR while data flows.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use heapless::Vec as BoundedVec;

use crate::limits::MAX_COMMAND_LINE;
use crate::protocol::command::verb_of;

/// One thing read from the control connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, LF included.
    Complete(Vec<u8>),
    /// A line longer than the limit; its bytes were dropped.
    TooLong,
}

/// Why no line came.
#[derive(Debug)]
pub enum ReadError {
    /// The deadline passed.
    TimedOut,
    /// The peer closed the connection.
    Closed,
    /// The `stop` check asked us to give up (server shutdown).
    Stopped,
    /// The socket failed.
    Io(io::Error),
}

/// Reads CRLF (or LF) terminated lines with a hard length bound.
pub struct LineReader {
    buffer: BoundedVec<u8, MAX_COMMAND_LINE>,
    /// True while skipping the rest of an overlong line.
    discarding: bool,
}

impl Default for LineReader {
    fn default() -> Self {
        LineReader::new()
    }
}

impl LineReader {
    /// An empty reader.
    pub fn new() -> LineReader {
        LineReader {
            buffer: BoundedVec::new(),
            discarding: false,
        }
    }

    /// Takes a complete line out of the buffer, if one is there.
    fn take_line(&mut self) -> Option<Line> {
        loop {
            let end = self.buffer.iter().position(|&b| b == b'\n');
            match end {
                Some(end) => {
                    let line: Vec<u8> = self.buffer[..=end].to_vec();
                    self.consume(end + 1);
                    if self.discarding {
                        // The tail of an overlong line: drop it, look again.
                        self.discarding = false;
                        continue;
                    }
                    return Some(Line::Complete(line));
                }
                None if self.buffer.is_full() => {
                    self.buffer.clear();
                    let first = !self.discarding;
                    self.discarding = true;
                    // Report an overlong line once, however long it runs.
                    if first {
                        return Some(Line::TooLong);
                    }
                    return None;
                }
                None => return None,
            }
        }
    }

    fn consume(&mut self, count: usize) {
        let rest = self.buffer.len() - count;
        self.buffer.copy_within(count.., 0);
        self.buffer.truncate(rest);
    }

    /// Appends what was read; returns false if the peer closed.
    fn fill(&mut self, stream: &mut TcpStream) -> io::Result<bool> {
        let mut chunk = [0u8; 1024];
        let room = (MAX_COMMAND_LINE - self.buffer.len()).min(chunk.len());
        let count = stream.read(&mut chunk[..room])?;
        if count == 0 {
            return Ok(false);
        }
        // Cannot fail: at most `room` bytes were read.
        let _ = self.buffer.extend_from_slice(&chunk[..count]);
        Ok(true)
    }

    /// Reads the next line, waiting until `deadline`. Every `slice` the
    /// `stop` check runs, so a shutdown is noticed within one slice.
    pub fn read_line(
        &mut self,
        stream: &mut TcpStream,
        deadline: Instant,
        slice: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<Line, ReadError> {
        loop {
            if let Some(line) = self.take_line() {
                return Ok(line);
            }
            if stop() {
                return Err(ReadError::Stopped);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReadError::TimedOut);
            }
            let wait = (deadline - now).min(slice).max(Duration::from_millis(1));
            stream.set_read_timeout(Some(wait)).map_err(ReadError::Io)?;
            match self.fill(stream) {
                Ok(true) => {}
                Ok(false) => return Err(ReadError::Closed),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(error) => return Err(ReadError::Io(error)),
            }
        }
    }

    /// During a transfer: reads whatever the client has sent without
    /// blocking, and reports whether it asked to abort (an ABOR line, which
    /// is removed) or hung up. Other lines stay buffered for after the
    /// transfer, in order.
    pub fn poll_abort(&mut self, stream: &mut TcpStream) -> bool {
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut closed = false;
        while !self.buffer.is_full() {
            match self.fill(stream) {
                Ok(true) => {}
                Ok(false) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let _ = stream.set_nonblocking(false);
        closed || self.take_abort()
    }

    /// Removes the first buffered line if it is ABOR.
    fn take_abort(&mut self) -> bool {
        let Some(end) = self.buffer.iter().position(|&b| b == b'\n') else {
            return false;
        };
        if self.discarding || verb_of(&self.buffer[..end]) != "ABOR" {
            return false;
        }
        self.consume(end + 1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader_with(bytes: &[u8]) -> LineReader {
        let mut reader = LineReader::new();
        reader.buffer.extend_from_slice(bytes).unwrap();
        reader
    }

    #[test]
    fn pipelined_lines_come_out_one_by_one() {
        let mut reader = reader_with(b"USER a\r\nPASS b\nNOOP");
        assert_eq!(
            reader.take_line(),
            Some(Line::Complete(b"USER a\r\n".to_vec()))
        );
        assert_eq!(
            reader.take_line(),
            Some(Line::Complete(b"PASS b\n".to_vec()))
        );
        assert_eq!(reader.take_line(), None);
        assert_eq!(&reader.buffer[..], b"NOOP");
    }

    #[test]
    fn overlong_line_is_reported_once_then_skipped() {
        let mut reader = reader_with(&[b'A'; MAX_COMMAND_LINE]);
        assert_eq!(reader.take_line(), Some(Line::TooLong));
        // More of the same line: silently dropped.
        reader
            .buffer
            .extend_from_slice(&[b'A'; MAX_COMMAND_LINE])
            .unwrap();
        assert_eq!(reader.take_line(), None);
        // The end of it, then a good line.
        reader.buffer.extend_from_slice(b"AAA\r\nNOOP\r\n").unwrap();
        assert_eq!(
            reader.take_line(),
            Some(Line::Complete(b"NOOP\r\n".to_vec()))
        );
    }

    #[test]
    fn abort_is_taken_only_when_first() {
        let mut reader = reader_with(b"\xff\xf4\xff\xf2ABOR\r\nNOOP\r\n");
        assert!(reader.take_abort());
        assert!(!reader.take_abort());
        assert_eq!(
            reader.take_line(),
            Some(Line::Complete(b"NOOP\r\n".to_vec()))
        );
    }
}
