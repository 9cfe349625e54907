//! Opening data connections: PASV/EPSV (RFC 959, RFC 2428) listeners and
//! PORT/EPRT connects, each checked against the control connection's peer.
//!
//! SECURITY: both directions are tied to the client's own address. A passive
//! port only accepts a connection from the control peer's IP (otherwise
//! anyone who guesses the port could steal the download, "PASV theft"), and
//! PORT/EPRT may only name the control peer's IP (otherwise the server could
//! be made to connect anywhere, the "FTP bounce" attack; vsftpd's
//! `handle_port` explains the same).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::TransferError;
use crate::limits::{PASSIVE_BIND_TRIES, POLL_INTERVAL};

/// How the next data connection will be made.
#[derive(Debug, Default)]
pub enum DataSetup {
    /// No PASV/PORT yet (or the last one was used).
    #[default]
    None,
    /// Listening for the client (PASV/EPSV).
    Passive(TcpListener),
    /// Connect to the client (PORT/EPRT).
    Active(SocketAddr),
}

/// Hands out passive ports from the configured range, round-robin from a
/// random start, so consecutive sessions don't fight over one port and the
/// next port is not trivially predictable.
pub struct PortPicker {
    low: u16,
    high: u16,
    next: AtomicU32,
}

impl PortPicker {
    /// A picker over `low..=high`.
    pub fn new((low, high): (u16, u16)) -> PortPicker {
        let seed = u32::from_le_bytes(
            argon2::password_hash::generate_salt()[..4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        PortPicker {
            low,
            high,
            next: AtomicU32::new(seed),
        }
    }

    /// Binds a listener on `ip` at a free port of the range.
    pub fn bind(&self, ip: IpAddr) -> Result<TcpListener, TransferError> {
        let span = u32::from(self.high - self.low) + 1;
        let mut last_error = io::Error::new(io::ErrorKind::AddrInUse, "passive range exhausted");
        for _ in 0..PASSIVE_BIND_TRIES.min(span as usize) {
            let offset = self.next.fetch_add(1, Ordering::Relaxed) % span;
            let port = self.low + offset as u16;
            match TcpListener::bind(SocketAddr::new(ip, port)) {
                Ok(listener) => return Ok(listener),
                Err(error) => last_error = error,
            }
        }
        Err(TransferError::PassivePortsExhausted(last_error))
    }
}

/// Checks a PORT/EPRT address: it must be the control peer's own IP, and
/// active mode must be allowed.
pub fn check_active(
    target: SocketAddr,
    control_peer: IpAddr,
    allowed: bool,
) -> Result<SocketAddr, TransferError> {
    if !allowed {
        return Err(TransferError::ForeignAddress);
    }
    // SECURITY: FTP bounce. Port numbers under 1024 are refused as vsftpd
    // does, so the server can't be aimed at the client's own SMTP or the like.
    if target.ip().to_canonical() != control_peer.to_canonical() || target.port() < 1024 {
        warn!("refused PORT/EPRT to {target}: control peer is {control_peer}");
        return Err(TransferError::ForeignAddress);
    }
    Ok(target)
}

/// Opens the data connection that `setup` describes.
///
/// A passive listener waits up to `timeout`, dropping (and logging) any
/// connection from another address; `aborted` is asked between waits so an
/// ABOR or a vanished client ends the wait at once.
pub fn open(
    setup: DataSetup,
    control_peer: IpAddr,
    timeout: Duration,
    aborted: &mut dyn FnMut() -> bool,
) -> Result<TcpStream, TransferError> {
    let stream = match setup {
        DataSetup::None => return Err(TransferError::NoDataConnection),
        DataSetup::Active(target) => {
            TcpStream::connect_timeout(&target, timeout).map_err(TransferError::ConnectFailed)?
        }
        DataSetup::Passive(listener) => accept_from(&listener, control_peer, timeout, aborted)?,
    };
    // A client that stops reading (RETR) or sending (STOR) frees the worker
    // after the data timeout.
    stream
        .set_read_timeout(Some(timeout))
        .map_err(TransferError::ConnectionLost)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(TransferError::ConnectionLost)?;
    Ok(stream)
}

fn accept_from(
    listener: &TcpListener,
    control_peer: IpAddr,
    timeout: Duration,
    aborted: &mut dyn FnMut() -> bool,
) -> Result<TcpStream, TransferError> {
    listener
        .set_nonblocking(true)
        .map_err(TransferError::ConnectionLost)?;
    let deadline = Instant::now() + timeout;
    // Clients usually connect before they send RETR/STOR, so the first
    // accept nearly always succeeds; the short first waits keep the rare
    // late client from costing a full poll interval.
    let mut wait = Duration::from_micros(200);
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                if peer.ip().to_canonical() == control_peer.to_canonical() {
                    stream
                        .set_nonblocking(false)
                        .map_err(TransferError::ConnectionLost)?;
                    debug!("data connection from {peer}");
                    return Ok(stream);
                }
                // SECURITY: PASV theft; drop it and keep waiting for the
                // real client.
                warn!("refused data connection from {peer}: control peer is {control_peer}");
                drop(stream);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(TransferError::AcceptTimeout);
                }
                if aborted() {
                    return Err(TransferError::Aborted);
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(POLL_INTERVAL);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(TransferError::ConnectionLost(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_must_name_the_control_peer() {
        let me: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check_active("127.0.0.1:5000".parse().unwrap(), me, true).is_ok());
        assert!(check_active("127.0.0.2:5000".parse().unwrap(), me, true).is_err());
        assert!(check_active("127.0.0.1:25".parse().unwrap(), me, true).is_err());
        assert!(check_active("127.0.0.1:5000".parse().unwrap(), me, false).is_err());
        // An IPv4-mapped control peer matches its IPv4 form.
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(check_active("127.0.0.1:5000".parse().unwrap(), mapped, true).is_ok());
    }

    #[test]
    fn picker_stays_in_range() {
        let picker = PortPicker::new((61500, 61502));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let listeners: Vec<_> = (0..3).map(|_| picker.bind(ip).unwrap()).collect();
        for listener in &listeners {
            let port = listener.local_addr().unwrap().port();
            assert!((61500..=61502).contains(&port));
        }
        // All three taken: the fourth fails cleanly.
        assert!(matches!(
            picker.bind(ip),
            Err(TransferError::PassivePortsExhausted(_))
        ));
    }
}
