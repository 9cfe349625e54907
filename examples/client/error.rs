//! The client's one error type. Every failure a command can meet ends up here, so `main`
//! and the shell can print it as one line and decide whether the session can go on.

use std::io;
use std::path::PathBuf;

use crate::ftp::Reply;

/// Everything that can go wrong while talking to a server or touching local files.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad command line or shell input; exit status 2 in command mode.
    #[error("{0}")]
    Usage(String),

    /// No address of the host accepted a TCP connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },

    /// Reading or writing the control connection failed (includes timeouts).
    #[error("control connection: {0}")]
    Control(#[source] io::Error),

    /// The server closed the control connection.
    #[error("the server closed the connection")]
    Closed,

    /// The server sent something that is not an RFC 959 reply.
    #[error("malformed reply from server: {0:?}")]
    BadReply(String),

    /// USER/PASS were refused.
    #[error("login failed: {0}")]
    Login(Reply),

    /// The server refused a command; `what` says which step, e.g. `mkdir docs`.
    #[error("{what}: {reply}")]
    Refused { what: String, reply: Reply },

    /// The server lacks every command that could do what was asked.
    #[error("{0}")]
    Unsupported(String),

    /// Opening or using a data connection failed.
    #[error("data connection: {0}")]
    Data(#[source] io::Error),

    /// A local file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Local { path: PathBuf, source: io::Error },

    /// The checksum of the local copy differs from the server's after every retry.
    #[error("{algorithm} mismatch for {path}: local {local}, server {server}")]
    HashMismatch {
        algorithm: &'static str,
        path: String,
        local: String,
        server: String,
    },

    /// Setting up the terminal or reading the password failed.
    #[error("reading the password: {0}")]
    Password(#[source] io::Error),
}

impl ClientError {
    /// True when the control connection can no longer be used, so the shell must stop.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ClientError::Control(_) | ClientError::Closed | ClientError::BadReply(_)
        )
    }

    /// Wraps a local I/O error with the path it concerns.
    pub fn local(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ClientError {
        let path = path.into();
        move |source| ClientError::Local { path, source }
    }
}
