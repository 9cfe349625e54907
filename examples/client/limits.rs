//! Every bound and timeout of the client in one place.

use std::time::Duration;

/// Size of the one buffer each transfer copies through; files are never read whole.
pub const DATA_BUF_SIZE: usize = 64 * 1024;

/// How long to wait for a TCP connection (control or data) to be accepted.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for a reply. Generous because HASH of a large file on a Pi's SD card
/// can take minutes before the server answers.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a data connection may stall before the transfer is given up.
pub const DATA_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest reply line we accept, so a broken server cannot make us buffer without end.
pub const MAX_REPLY_LINE: usize = 8 * 1024;

/// Most lines in one multi-line reply, for the same reason.
pub const MAX_REPLY_LINES: usize = 10_000;

/// At most about ten progress-bar redraws a second.
pub const REDRAW_INTERVAL: Duration = Duration::from_millis(100);
