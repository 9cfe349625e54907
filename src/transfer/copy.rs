//! The blocking copy loops: file -> data connection (RETR) and data
//! connection -> file (STOR/APPE/STOU).
//!
//! Downloads hand the kernel `RETR_CHUNK` bytes at a time with
//! `sendfile(2)` (no copy through user space). Uploads read into one
//! `DATA_BUF_SIZE` buffer and write through the caller's writer (a
//! `QuotaWriter`). Between chunks both loops call
//! `aborted`, which takes a non-blocking look at the control connection, so
//! ABOR (or a client that hung up) stops the transfer within one chunk.

use std::fs::File;
use std::io::{self, Read, Write};
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

/// Sends `file` from `offset` to the end with `sendfile(2)`: the bytes go
/// from the page cache to the socket without passing through user space.
/// Returns the bytes sent. Fails with `Timeout` when the transfer stalls
/// (see [`Stall`]), and with `Aborted` as soon as `aborted` says so.
///
/// (std's `io::copy` does not use sendfile from a file to a socket: it
/// falls back to an 8 KiB read/write loop, which cost about a third more CPU
/// per GiB here; rustix gives the safe system call.)
pub fn send_file(
    file: &mut File,
    offset: u64,
    data: &mut TcpStream,
    stall_limit: Duration,
    aborted: &mut dyn FnMut() -> bool,
) -> Result<u64, TransferError> {
    let length = file.metadata().map_err(TransferError::from_disk)?.len();
    data.set_write_timeout(Some(WAIT_SLICE.min(stall_limit)))
        .map_err(TransferError::ConnectionLost)?;
    let mut stall = Stall::new(stall_limit);
    let mut position = offset;
    let mut since_check = 0u64;
    while position < length {
        let want = (length - position).min(RETR_CHUNK) as usize;
        // sendfile advances `position` itself by what it sent.
        let before = position;
        match rustix::fs::sendfile(&*data, &*file, Some(&mut position), want) {
            // The file shrank under us: send what there was.
            Ok(0) => break,
            Ok(_) => {}
            Err(errno) => {
                let error = std::io::Error::from(errno);
                if !is_wait(&error) {
                    return Err(TransferError::from_network(error));
                }
            }
        }
        let sent = position - before;
        stall.progressed(sent);
        if stall.expired() {
            return Err(TransferError::Timeout);
        }
        since_check += sent;
        // Look for ABOR after every chunk's worth, and whenever the peer
        // made us wait (a short send).
        if since_check >= RETR_CHUNK || sent < want as u64 {
            since_check = 0;
            if aborted() {
                return Err(TransferError::Aborted);
            }
        }
    }
    Ok(position - offset)
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
