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

use super::TransferError;
use crate::limits::{DATA_BUF_SIZE, RETR_CHUNK};

/// How often, in bytes received, an upload looks for ABOR.
const STOR_ABORT_CHECK: u64 = 1024 * 1024;

/// Sends `file` from `offset` to the end. Returns the bytes sent.
pub fn send_file(
    file: &mut File,
    offset: u64,
    data: &mut TcpStream,
    aborted: &mut dyn FnMut() -> bool,
) -> Result<u64, TransferError> {
    file.seek(SeekFrom::Start(offset))
        .map_err(TransferError::from_disk)?;
    let mut sent = 0u64;
    loop {
        let mut chunk = Read::by_ref(file).take(RETR_CHUNK);
        let count = io::copy(&mut chunk, data).map_err(|error| {
            // io::copy does not say which side failed; the socket is by far
            // the likelier, and a disk error shows up in the log either way.
            TransferError::from_network(error)
        })?;
        sent += count;
        if count < RETR_CHUNK {
            return Ok(sent);
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
    aborted: &mut dyn FnMut() -> bool,
) -> Result<u64, ReceiveError> {
    let mut buffer = vec![0u8; DATA_BUF_SIZE];
    let mut received = 0u64;
    let mut next_check = STOR_ABORT_CHECK;
    loop {
        let count = match data.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(ReceiveError::Network(TransferError::from_network(error))),
        };
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
        let result = receive(&mut data, &mut Full(0), &mut || false);
        assert!(
            matches!(result, Err(ReceiveError::Write(e)) if e.kind() == io::ErrorKind::StorageFull)
        );
        drop(data);
        sender.join().unwrap();
    }
}
