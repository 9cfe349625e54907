//! Every bound the server enforces, in one place.
//!
//! Anything an attacker can push against (line length, buffer sizes, time
//! spent waiting) has its ceiling here, so a reviewer can audit the whole
//! resource budget of a session by reading one file, the way vsftpd keeps its
//! limits in `defs.h`. Values that an operator may want to change live in
//! `settings.ini` instead (see `config.rs`); these are the fixed ones.

use std::time::Duration;

/// Longest control line we accept, CRLF included. RFC 959 sets no limit;
/// 4 KiB holds any real path (PATH_MAX) plus a verb, and bounds the buffer
/// an unauthenticated client can make us hold.
pub const MAX_COMMAND_LINE: usize = 4096;

/// The listen backlog: std's `TcpListener::bind` listens with 128 on Linux,
/// which holds a burst of a hundred clients connecting at once (servers with
/// a backlog near 32 drop connections under that burst). Changing it would
/// need a raw socket call; 128 is what we document and test against.
pub const LISTEN_BACKLOG: u32 = 128;

/// Size of the upload buffer: allocated only while an upload runs (and, being
/// over the 128 KiB mmap threshold main.rs sets, returned to the OS after),
/// so an idle session costs nothing for it. Measured on the 2-core x86_64
/// machine, STOR of 512 MiB over loopback: 128 KiB 2,300 MB/s at 0.44 CPU
/// s/GiB, 256 KiB 2,900 MB/s at 0.37, 512 KiB 4,100 MB/s at 0.26.
pub const DATA_BUF_SIZE: usize = 512 * 1024;

/// Buffer HASH and XMD5/XSHA* read a file through: the digest of a file of
/// any size costs this much memory, for as long as the command runs.
pub const HASH_BUF_SIZE: usize = 64 * 1024;

/// How many bytes a download hands to `sendfile(2)` in one call; the control
/// connection is checked for ABOR after each such chunk.
pub const RETR_CHUNK: u64 = 4 * 1024 * 1024;

/// Longest file or directory name component we create (the usual NAME_MAX).
pub const MAX_NAME_LEN: usize = 255;

/// Longest virtual path, in bytes, we resolve (the usual PATH_MAX).
pub const MAX_PATH_LEN: usize = 4096;

/// Most directory levels a path may have; deeper paths get 550.
pub const MAX_PATH_DEPTH: usize = 64;

/// How long the listener will wait to write a 421 to a client it refuses.
/// The socket buffer takes the few bytes at once; this only stops a
/// pathological peer from stalling the accept loop.
pub const REFUSE_WRITE_TIMEOUT: Duration = Duration::from_millis(200);

/// Write timeout on the control connection: a client that stops reading its
/// replies can hold a worker at most this long per reply.
pub const CONTROL_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a waiting passive listener or transfer looks at the control
/// connection (for ABOR) and at its deadline.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Most directory entries a quota walk visits before giving up (the walk then
/// reports what it counted and logs a warning). Stops a home stuffed with
/// millions of files from pinning a worker at login.
pub const MAX_QUOTA_WALK_ENTRIES: u64 = 1_000_000;

/// Most entries sent in one directory listing.
pub const MAX_LISTING_ENTRIES: usize = 100_000;

/// How long a remembered successful login (see `auth::CredentialCache`)
/// lets the same credentials skip the slow hash.
pub const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(300);

/// Most users remembered by the credential cache at once.
pub const CREDENTIAL_CACHE_ENTRIES: usize = 256;

/// Most addresses the failed-login tracker remembers at once; the oldest
/// entries are dropped first so a spoofed flood cannot grow it without bound.
pub const MAX_TRACKED_ADDRESSES: usize = 4096;

/// Most tries at finding a free passive port in the configured range.
pub const PASSIVE_BIND_TRIES: usize = 64;

/// Most tries at picking a unique name for STOU.
pub const STOU_TRIES: u32 = 100;
