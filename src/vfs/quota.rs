//! Per-user disk quota: one ledger per user, shared by all their sessions.
//!
//! The ledger holds the bytes the user's home uses. It is measured from disk
//! (one walk of the home) when a user logs in with no other session open, and
//! from then on kept by arithmetic: uploads reserve bytes *before* writing
//! them ([`QuotaWriter`]), deletes and overwrites give bytes back. Because
//! every session of a user reserves from the same ledger under one lock, two
//! parallel uploads cannot both squeeze in under the limit.
//!
//! Only growth counts: overwriting a 600 KiB file with 600 KiB reserves
//! nothing new. Directories count nothing; regular files count their length.
//!
//! The ledger holds what the home holds between commands. While an
//! overwrite runs, its new content goes to a temporary file beside the old
//! one (so a refused upload leaves the old content whole), and for that
//! moment the disk holds up to the old file's length more than the ledger
//! says; the rename at the end, or the removal on a refusal, settles it.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use log::warn;
use thiserror::Error;

use crate::limits::MAX_QUOTA_WALK_ENTRIES;

/// A write that would go over the quota. Reply 552 (with used and limit).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum QuotaError {
    /// `used` bytes are in use of `limit`, and the write needs more.
    #[error("quota exceeded: {used} of {limit} bytes used")]
    Exceeded { used: u64, limit: u64 },
}

/// Every logged-in user's ledger, by name.
#[derive(Default)]
pub struct QuotaRegistry {
    users: Mutex<HashMap<String, Arc<UserQuota>>>,
}

impl QuotaRegistry {
    /// Joins a session to the user's ledger, creating or re-measuring it
    /// when no other session of the user is open. `limit` (from the account,
    /// which the admin may have changed) replaces the old one.
    pub fn attach(&self, user: &str, limit: Option<u64>, home: &Path) -> QuotaSession {
        let ledger = {
            let mut users = lock(&self.users);
            // Drop ledgers nobody uses any more, so the map stays as small as
            // the set of logged-in users.
            users.retain(|_, ledger| lock(&ledger.state).sessions > 0);
            let ledger = Arc::clone(users.entry(user.to_string()).or_insert_with(|| {
                Arc::new(UserQuota {
                    state: Mutex::new(LedgerState::default()),
                })
            }));
            // SECURITY: the session joins while the registry lock is held, so
            // a concurrent login's clean-up can't drop this ledger and give
            // the same user a second one (two ledgers = twice the quota).
            let mut state = lock(&ledger.state);
            if state.sessions == 0 {
                state.stale = true;
            }
            state.sessions += 1;
            state.limit = limit;
            drop(state);
            ledger
        };
        {
            // Measured under the ledger lock, so a second login of the same
            // user waits for the figure instead of seeing a half count.
            let mut state = lock(&ledger.state);
            if state.stale {
                state.used = measure(home);
                state.stale = false;
            }
        }
        QuotaSession { ledger }
    }
}

/// One user's ledger.
pub struct UserQuota {
    state: Mutex<LedgerState>,
}

#[derive(Default)]
struct LedgerState {
    used: u64,
    limit: Option<u64>,
    sessions: usize,
    /// Set when the first session of a user joins: `used` must be measured
    /// from disk before anyone relies on it.
    stale: bool,
    /// Real paths being written right now, by any session of this user.
    writing: HashSet<PathBuf>,
}

impl UserQuota {
    /// Reserves `bytes` more, or fails without changing anything.
    pub fn reserve(&self, bytes: u64) -> Result<(), QuotaError> {
        if bytes == 0 {
            return Ok(());
        }
        let mut state = lock(&self.state);
        if let Some(limit) = state.limit {
            // checked_add: a huge ALLO must not wrap round.
            let wanted = state.used.checked_add(bytes);
            if wanted.is_none_or(|total| total > limit) {
                return Err(QuotaError::Exceeded {
                    used: state.used,
                    limit,
                });
            }
        }
        state.used += bytes;
        Ok(())
    }

    /// Gives `bytes` back (a delete, a shrink, an undone upload).
    pub fn release(&self, bytes: u64) {
        let mut state = lock(&self.state);
        state.used = state.used.saturating_sub(bytes);
    }

    /// Bytes in use and the limit.
    pub fn usage(&self) -> (u64, Option<u64>) {
        let state = lock(&self.state);
        (state.used, state.limit)
    }

    /// Checks, without reserving, whether `bytes` more would fit.
    pub fn check_fits(&self, bytes: u64) -> Result<(), QuotaError> {
        let (used, limit) = self.usage();
        match limit {
            Some(limit) if used.checked_add(bytes).is_none_or(|t| t > limit) => {
                Err(QuotaError::Exceeded { used, limit })
            }
            _ => Ok(()),
        }
    }

    /// Marks `real` as being written; `false` if another session already is.
    pub fn begin_write(&self, real: &Path) -> bool {
        lock(&self.state).writing.insert(real.to_path_buf())
    }

    /// Ends what [`UserQuota::begin_write`] started.
    pub fn end_write(&self, real: &Path) {
        lock(&self.state).writing.remove(real);
    }

    /// Whether some session is writing `real` now.
    pub fn is_being_written(&self, real: &Path) -> bool {
        lock(&self.state).writing.contains(real)
    }

    /// Whether some session is writing `real` or, when `real` is a folder,
    /// anything inside it (at any depth).
    pub fn is_busy_within(&self, real: &Path) -> bool {
        lock(&self.state)
            .writing
            .iter()
            .any(|path| path.starts_with(real))
    }
}

/// A session's membership in its user's ledger; leaving drops the count.
pub struct QuotaSession {
    ledger: Arc<UserQuota>,
}

impl QuotaSession {
    /// The shared ledger.
    pub fn ledger(&self) -> &Arc<UserQuota> {
        &self.ledger
    }
}

impl Drop for QuotaSession {
    fn drop(&mut self) {
        lock(&self.ledger.state).sessions -= 1;
    }
}

/// Counts the bytes of regular files under `home`, without following
/// symlinks, visiting at most `MAX_QUOTA_WALK_ENTRIES` entries.
pub fn measure(home: &Path) -> u64 {
    let mut total = 0u64;
    let mut visited = 0u64;
    let mut pending = vec![home.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            visited += 1;
            if visited > MAX_QUOTA_WALK_ENTRIES {
                warn!(
                    "quota walk of {} stopped after {MAX_QUOTA_WALK_ENTRIES} entries",
                    home.display()
                );
                return total;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
            }
        }
    }
    total
}

/// A writer that reserves quota for every byte that grows the file before
/// it is written, like a limit reader wrapped round a stream.
///
/// `position` is where the next byte goes; `accounted` is the file length
/// already paid for (its length before the command, for APPE and REST; the
/// old file's length for an overwrite). Writing below `accounted` is free;
/// every byte past it is reserved first. [`QuotaWriter::undo`] gives back
/// everything this writer reserved.
pub struct QuotaWriter<W> {
    inner: W,
    ledger: Arc<UserQuota>,
    position: u64,
    accounted: u64,
    reserved: u64,
    /// The error that stopped the last write, kept so the caller can tell a
    /// quota stop from a disk error.
    quota_error: Option<QuotaError>,
}

impl<W: Write> QuotaWriter<W> {
    /// Wraps `inner`, which is positioned at `position`, with `accounted`
    /// bytes already paid for.
    pub fn new(inner: W, ledger: Arc<UserQuota>, position: u64, accounted: u64) -> QuotaWriter<W> {
        QuotaWriter {
            inner,
            ledger,
            position,
            accounted,
            reserved: 0,
            quota_error: None,
        }
    }

    /// Bytes reserved so far by this writer.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// The quota error that stopped writing, if that is what happened.
    pub fn quota_error(&self) -> Option<QuotaError> {
        self.quota_error
    }

    /// Gives back every byte this writer reserved (the upload is undone).
    pub fn undo(&mut self) {
        self.ledger.release(self.reserved);
        self.reserved = 0;
    }

    /// The wrapped writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for QuotaWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let end = self.position + buf.len() as u64;
        let growth = end.saturating_sub(self.accounted);
        if let Err(error) = self.ledger.reserve(growth) {
            self.quota_error = Some(error);
            return Err(io::Error::new(io::ErrorKind::QuotaExceeded, error));
        }
        self.reserved += growth;
        self.accounted = self.accounted.max(end);
        match self.inner.write(buf) {
            Ok(written) => {
                self.position += written as u64;
                // A short write reserved more than it used: give the rest back.
                let unused = end - self.position;
                let refund = unused.min(growth);
                if refund > 0 {
                    self.ledger.release(refund);
                    self.reserved -= refund;
                    self.accounted -= refund;
                }
                Ok(written)
            }
            Err(error) => {
                self.ledger.release(growth);
                self.reserved -= growth;
                self.accounted -= growth;
                Err(error)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(used: u64, limit: Option<u64>) -> Arc<UserQuota> {
        Arc::new(UserQuota {
            state: Mutex::new(LedgerState {
                used,
                limit,
                sessions: 1,
                stale: false,
                writing: HashSet::new(),
            }),
        })
    }

    #[test]
    fn reserve_stops_at_the_limit_and_changes_nothing_on_failure() {
        let quota = ledger(900, Some(1000));
        assert!(quota.reserve(100).is_ok());
        assert_eq!(
            quota.reserve(1),
            Err(QuotaError::Exceeded {
                used: 1000,
                limit: 1000
            })
        );
        assert_eq!(quota.usage(), (1000, Some(1000)));
        quota.release(5000);
        assert_eq!(quota.usage().0, 0);
        assert!(quota.reserve(u64::MAX).is_err());
    }

    #[test]
    fn unlimited_never_refuses() {
        let quota = ledger(0, None);
        assert!(quota.reserve(u64::MAX / 2).is_ok());
        assert!(quota.check_fits(u64::MAX / 2).is_ok());
    }

    #[test]
    fn writer_reserves_only_growth() {
        let quota = ledger(600, Some(1000));
        // Overwrite of a 600-byte file: the first 600 bytes are paid for.
        let mut writer = QuotaWriter::new(Vec::new(), Arc::clone(&quota), 0, 600);
        writer.write_all(&[1; 600]).unwrap();
        assert_eq!(quota.usage().0, 600);
        writer.write_all(&[1; 400]).unwrap();
        assert_eq!(quota.usage().0, 1000);
        let error = writer.write_all(&[1; 1]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::QuotaExceeded);
        assert!(writer.quota_error().is_some());
        writer.undo();
        assert_eq!(quota.usage().0, 600);
    }

    #[test]
    fn writer_at_an_offset_pays_for_bytes_past_the_old_end() {
        let quota = ledger(100, Some(1000));
        // REST 50 into a 100-byte file, writing 80 bytes: 30 are growth.
        let mut writer = QuotaWriter::new(Vec::new(), Arc::clone(&quota), 50, 100);
        writer.write_all(&[0; 80]).unwrap();
        assert_eq!(writer.reserved(), 30);
        assert_eq!(quota.usage().0, 130);
    }

    #[test]
    fn a_folder_is_busy_while_a_file_inside_it_is_written() {
        let quota = ledger(0, None);
        assert!(quota.begin_write(Path::new("/h/d/e/f.bin")));
        for busy in ["/h/d/e/f.bin", "/h/d/e", "/h/d", "/h"] {
            assert!(quota.is_busy_within(Path::new(busy)), "{busy}");
        }
        // Whole components only: /h/d/e/f is not inside /h/d/e/f.bin.
        for free in ["/h/d/e/f", "/h/d/e2", "/h/x"] {
            assert!(!quota.is_busy_within(Path::new(free)), "{free}");
        }
        quota.end_write(Path::new("/h/d/e/f.bin"));
        assert!(!quota.is_busy_within(Path::new("/h")));
    }

    #[test]
    fn measure_counts_files_not_symlinks() {
        let dir = std::env::temp_dir().join(format!("pocketftpd-measure-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("one"), [0; 10]).unwrap();
        std::fs::write(dir.join("a/b/two"), [0; 20]).unwrap();
        std::os::unix::fs::symlink("/usr", dir.join("link")).unwrap();
        assert_eq!(measure(&dir), 30);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_first_logins_of_one_user_share_one_ledger() {
        let dir = std::env::temp_dir().join(format!("pocketftpd-join-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let registry = Arc::new(QuotaRegistry::default());
        // Rounds of four logins racing from zero sessions: each round, while
        // all four are attached, they must hold the very same ledger.
        for _ in 0..200 {
            let barrier = Arc::new(std::sync::Barrier::new(4));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (registry, barrier, dir) =
                        (Arc::clone(&registry), Arc::clone(&barrier), dir.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let session = registry.attach("u", Some(1000), &dir);
                        let ledger = Arc::as_ptr(session.ledger()) as usize;
                        barrier.wait();
                        ledger
                    })
                })
                .collect();
            let ledgers: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            assert!(
                ledgers.iter().all(|l| *l == ledgers[0]),
                "one user got two ledgers"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn registry_measures_at_first_login_and_shares_the_ledger() {
        let dir = std::env::temp_dir().join(format!("pocketftpd-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f"), [0; 100]).unwrap();
        let registry = QuotaRegistry::default();
        let first = registry.attach("u", Some(1000), &dir);
        assert_eq!(first.ledger().usage(), (100, Some(1000)));
        first.ledger().reserve(50).unwrap();
        let second = registry.attach("u", Some(2000), &dir);
        // Not re-measured while a session is open; the new limit applies.
        assert_eq!(second.ledger().usage(), (150, Some(2000)));
        drop(first);
        drop(second);
        let third = registry.attach("u", Some(2000), &dir);
        assert_eq!(third.ledger().usage().0, 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
