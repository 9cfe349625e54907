//! Data connections and the copy loops that move file bytes over them.
//!
//! `data_conn` opens the data connection (PASV/EPSV listener or PORT/EPRT
//! connect) with the peer checks; `copy` moves bytes between a file and that
//! connection, watching the control connection for ABOR between chunks.

pub mod copy;
pub mod data_conn;

pub use data_conn::{DataSetup, PortPicker};

use thiserror::Error;

/// What went wrong with a data connection or transfer. Replies in the doc
/// comments; the mapping lives in protocol/reply.rs.
#[derive(Debug, Error)]
pub enum TransferError {
    /// A transfer command without PASV/EPSV/PORT/EPRT first. Reply 425.
    #[error("no data connection set up")]
    NoDataConnection,
    /// PORT/EPRT named an address other than the client's own (FTP bounce),
    /// or active mode is off. Reply 500.
    #[error("PORT address refused")]
    ForeignAddress,
    /// Connecting to the client's PORT address failed. Reply 425.
    #[error("connecting to the client failed: {0}")]
    ConnectFailed(std::io::Error),
    /// No data connection came to the passive port in time. Reply 425.
    #[error("no data connection within the data timeout")]
    AcceptTimeout,
    /// No passive port could be bound. Reply 425.
    #[error("no free passive port: {0}")]
    PassivePortsExhausted(std::io::Error),
    /// The client sent ABOR, or closed the control connection. Reply 426.
    #[error("aborted by the client")]
    Aborted,
    /// The data connection broke. Reply 426.
    #[error("data connection lost: {0}")]
    ConnectionLost(std::io::Error),
    /// The data connection stalled past the data timeout. Reply 426.
    #[error("data connection timed out")]
    Timeout,
    /// Reading or writing the file failed. Reply 451.
    #[error("file i/o failed: {0}")]
    Disk(std::io::Error),
    /// The disk is full (ENOSPC). Reply 452.
    #[error("disk full")]
    DiskFull,
}

impl TransferError {
    /// Classifies an error on the data socket.
    pub fn from_network(error: std::io::Error) -> TransferError {
        match error.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => TransferError::Timeout,
            _ => TransferError::ConnectionLost(error),
        }
    }

    /// Classifies an error on the file.
    pub fn from_disk(error: std::io::Error) -> TransferError {
        match error.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                TransferError::DiskFull
            }
            _ => TransferError::Disk(error),
        }
    }
}
