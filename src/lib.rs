//! pocketftpd: a small, secure FTP server for small hardware.
//!
//! # Layers and flow
//!
//! ```text
//! accept ─► admission ─► job queue ─► worker ─► session loop ─► command handler ─► vfs / quota / transfer
//! server/listener.rs     server/pool.rs         session/         commands/           vfs/, transfer/
//! ```
//!
//! - [`config`] reads settings.ini and accounts.ini into typed structs once.
//! - [`server`] binds, admits or refuses connections (421 before anything is
//!   queued), and runs a fixed pool of worker threads fed by a
//!   `Mutex<VecDeque>` + `Condvar` job queue. One worker serves one session.
//! - [`session`] reads bounded control lines, parses them with
//!   [`protocol::command`], dispatches to [`commands`] and writes the reply
//!   built by [`protocol::reply`], the only module that knows reply codes.
//! - [`vfs`] is the user's view of the disk: the home jail every path goes
//!   through, and the per-user quota ledger every write goes through.
//! - [`transfer`] opens data connections (peer-checked) and copies bytes.
//! - [`auth`] checks passwords (argon2id, bounded concurrency, a short-lived
//!   cache of good logins); [`limits`] holds every fixed bound.
//!
//! # Log levels
//!
//! - `error`: the server cannot go on, or something that should not happen
//!   (a panicking session, a home that cannot be opened).
//! - `warn`: hostile or odd input that was refused: a path escaping the home,
//!   a data connection from the wrong address, PORT bounce, a failed login,
//!   a ban, an overlong line.
//! - `info`: start-up settings, each connection and its end, each login,
//!   each transfer (user, path, direction, bytes, seconds).
//! - `debug`: each command (PASS shows as `****`) and each refused command.
//! - `trace`: every reply on the wire.
//!
//! Passwords and password hashes are never logged at any level.

#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod commands;
pub mod config;
pub mod limits;
pub mod protocol;
pub mod server;
pub mod session;
pub mod transfer;
pub mod vfs;
