//! Per-address ban after repeated failed logins.
//!
//! Each address's failures are counted over a sliding window; `ban_after`
//! failures within `ban_window` ban the address for `ban_time`, during which
//! the listener answers it 421 before any worker is involved. The table is
//! bounded (`MAX_TRACKED_ADDRESSES`): when full, expired entries go first,
//! then the oldest, so a flood of addresses cannot grow memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use log::warn;

use crate::limits::MAX_TRACKED_ADDRESSES;

/// The failed-login tracker shared by the listener and the sessions.
pub struct BanList {
    after: u32,
    window: Duration,
    time: Duration,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    banned_until: Option<Instant>,
}

impl BanList {
    /// A tracker banning after `after` failures (0 = never) within `window`.
    pub fn new(after: u32, window: Duration, time: Duration) -> BanList {
        BanList {
            after,
            window,
            time,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` is banned now.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&ip.to_canonical())
            .and_then(|entry| entry.banned_until)
            .is_some_and(|until| until > Instant::now())
    }

    /// Counts a failed login from `ip`; bans it when it reaches the limit.
    pub fn record_failure(&self, ip: IpAddr) {
        if self.after == 0 {
            return;
        }
        let ip = ip.to_canonical();
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_TRACKED_ADDRESSES && !entries.contains_key(&ip) {
            let (window, time) = (self.window, self.time);
            entries.retain(|_, entry| {
                entry.banned_until.is_some_and(|until| until > now)
                    || now.duration_since(entry.window_start) < window.max(time)
            });
            if entries.len() >= MAX_TRACKED_ADDRESSES {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.window_start)
                    .map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        let entry = entries.entry(ip).or_insert(Entry {
            window_start: now,
            failures: 0,
            banned_until: None,
        });
        if now.duration_since(entry.window_start) > self.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        if entry.failures >= self.after && entry.banned_until.is_none_or(|until| until <= now) {
            entry.banned_until = Some(now + self.time);
            entry.failures = 0;
            entry.window_start = now;
            warn!(
                "banned {ip} for {:?} after {} failed logins",
                self.time, self.after
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_after_the_limit_and_only_that_address() {
        let bans = BanList::new(3, Duration::from_secs(60), Duration::from_secs(60));
        let bad: IpAddr = "127.0.0.2".parse().unwrap();
        let good: IpAddr = "127.0.0.1".parse().unwrap();
        bans.record_failure(bad);
        bans.record_failure(bad);
        assert!(!bans.is_banned(bad));
        bans.record_failure(bad);
        assert!(bans.is_banned(bad));
        assert!(!bans.is_banned(good));
        // The IPv4-mapped form is the same address.
        assert!(bans.is_banned("::ffff:127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn zero_means_never() {
        let bans = BanList::new(0, Duration::from_secs(60), Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..100 {
            bans.record_failure(ip);
        }
        assert!(!bans.is_banned(ip));
    }

    #[test]
    fn table_stays_bounded() {
        let bans = BanList::new(5, Duration::from_secs(60), Duration::from_secs(60));
        for n in 0..(MAX_TRACKED_ADDRESSES as u32 + 100) {
            bans.record_failure(IpAddr::from(n.to_be_bytes()));
        }
        assert!(bans.entries.lock().unwrap().len() <= MAX_TRACKED_ADDRESSES);
    }
}
