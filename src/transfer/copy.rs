//! The blocking copy loops: file -> data connection (RETR) and data
//! connection -> file (STOR/APPE/STOU).
//!
//! Downloads hand the kernel `RETR_CHUNK` bytes at a time through
//! `std::io::copy`, which on Linux becomes `sendfile` (no copy through user
//! space). Uploads read into one `DATA_BUF_SIZE` buffer and write through the
//! caller's writer (a `QuotaWriter`). Between chunks both loops call
//! `aborted`, which takes a non-blocking look at the control connection, so
//! ABOR (or a client that hung up) stops the transfer within one chunk.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::TransferError;
use crate::limits::{DATA_BUF_SIZE, RETR_CHUNK};

/// How often, in bytes received, an upload looks for ABOR.
const STOR_ABORT_CHECK: u64 = 1024 * 1024;

/// Least a transfer must move per data timeout not to count as stalled.
const STALL_MIN_BYTES: u64 = 256 * 1024;

/// Longest a single blocking socket call may wait before the loop looks at
/// the control connection again. A client that sends ABOR while it has
/// stopped reading (or sending) is heard within this time, not after the
/// whole data timeout.
const WAIT_SLICE: Duration = Duration::from_millis(500);

/// Tracks whether a transfer has stalled: it must move at least
/// `STALL_MIN_BYTES` within every `limit` (the data timeout).
///
/// SECURITY: "any progress" is not enough. A client that stops reading
/// still lets the kernel take a few KiB every half second into its growing
/// socket buffers, and a client that trickles one byte at a time on STOR
/// never stops sending; either would hold a worker for many minutes. With
/// the default 60 s timeout the floor is about 4 KiB/s.
struct Stall {
    limit: Duration,
    since: Instant,
    moved: u64,
}

impl Stall {
    fn new(limit: Duration) -> Stall {
        Stall {
            limit,
            since: Instant::now(),
            moved: 0,
        }
    }

    fn progressed(&mut self, bytes: u64) {
        self.moved += bytes;
        if self.moved >= STALL_MIN_BYTES {
            self.since = Instant::now();
            self.moved = 0;
        }
    }

    fn expired(&self) -> bool {
        self.since.elapsed() >= self.limit
    }
}

fn is_wait(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Sends `file` from `offset` to the end. Returns the bytes sent. Fails
/// with `Timeout` after `stall_limit` without progress, and with `Aborted`
/// as soon as `aborted` says so.
pub fn send_file(
    file: &mut File,
    offset: u64,
    data: &mut TcpStream,
    stall_limit: Duration,
    aborted: &mut dyn FnMut() -> bool,
) -> Result<u64, TransferError> {
    file.seek(SeekFrom::Start(offset))
        .map_err(TransferError::from_disk)?;
    data.set_write_timeout(Some(WAIT_SLICE.min(stall_limit)))
        .map_err(TransferError::ConnectionLost)?;
    let mut stall = Stall::new(stall_limit);
    let mut position = offset;
    loop {
        let mut chunk = Read::by_ref(file).take(RETR_CHUNK);
        let result = io::copy(&mut chunk, data);
        // sendfile moves the file position by what it sent, even when the
        // call then fails on a timeout; the position is the true progress.
        let now = file.stream_position().map_err(TransferError::from_disk)?;
        stall.progressed(now - position);
        let sent_this_call = now - position;
        position = now;
        match result {
            Ok(_) if sent_this_call < RETR_CHUNK => return Ok(position - offset),
            Ok(_) => {}
            // io::copy does not say which side failed; the socket is by far
            // the likelier, and a disk error shows in the log either way.
            Err(error) if !is_wait(&error) => return Err(TransferError::from_network(error)),
            Err(_) if stall.expired() => return Err(TransferError::Timeout),
            Err(_) => {}
        }
        if aborted() {
            return Err(TransferError::Aborted);
        }
    }
}

/// Receives from `data` until the client closes it, writing to `sink`.
/// Returns the bytes received. A failed write stops the loop and is returned
/// as is (the caller tells a quota stop from a disk error).
pub fn receive<W: Write>(
    data: &mut TcpStream,
    sink: &mut W,
    stall_limit: Duration,
    aborted: &mut dyn FnMut() -> bool,
) -> Result<u64, ReceiveError> {
    data.set_read_timeout(Some(WAIT_SLICE.min(stall_limit)))
        .map_err(|error| ReceiveError::Network(TransferError::ConnectionLost(error)))?;
    let mut buffer = vec![0u8; DATA_BUF_SIZE];
    let mut received = 0u64;
    let mut next_check = STOR_ABORT_CHECK;
    let mut stall = Stall::new(stall_limit);
    loop {
        let count = match data.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if is_wait(&error) => {
                if stall.expired() {
                    return Err(ReceiveError::Network(TransferError::Timeout));
                }
                if aborted() {
                    return Err(ReceiveError::Network(TransferError::Aborted));
                }
                continue;
            }
            Err(error) => return Err(ReceiveError::Network(TransferError::from_network(error))),
        };
        stall.progressed(count as u64);
        if stall.expired() {
            // A trickle: data keeps coming, too slowly to count as moving.
            return Err(ReceiveError::Network(TransferError::Timeout));
        }
        sink.write_all(&buffer[..count])
            .map_err(ReceiveError::Write)?;
        received += count as u64;
        if received >= next_check {
            next_check = received + STOR_ABORT_CHECK;
            if aborted() {
                return Err(ReceiveError::Network(TransferError::Aborted));
            }
        }
    }
    sink.flush().map_err(ReceiveError::Write)?;
    Ok(received)
}

/// Why an upload stopped.
#[derive(Debug)]
pub enum ReceiveError {
    /// The data connection broke, timed out, or the client aborted.
    Network(TransferError),
    /// Writing failed (quota, disk full, i/o).
    Write(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn receive_stops_on_a_failed_write_and_reports_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sender = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            let _ = stream.write_all(&[7u8; 300_000]);
        });
        let (mut data, _) = listener.accept().unwrap();
        struct Full(usize);
        impl Write for Full {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.0 + buf.len() > 1000 {
                    return Err(io::Error::from(io::ErrorKind::StorageFull));
                }
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let result = receive(&mut data, &mut Full(0), Duration::from_secs(5), &mut || {
            false
        });
        assert!(
            matches!(result, Err(ReceiveError::Write(e)) if e.kind() == io::ErrorKind::StorageFull)
        );
        drop(data);
        sender.join().unwrap();
    }
}
