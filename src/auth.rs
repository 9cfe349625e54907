//! Password checking: argon2id hashes, the legacy MD5 format, a bounded
//! number of hashes at once, and a short-lived cache of good logins.
//!
//! Sits between the login handlers (`commands::login`) and the account data
//! (`config`). The account file only ever holds hashes; the plain password
//! lives in a [`Password`] whose `Debug` prints `****`, and is never logged.
//!
//! Memory: one argon2id verification needs `m_cost` KiB. [`Authenticator`]
//! lets at most `hash_concurrency` run at once, so a hundred simultaneous
//! logins cost `hash_concurrency * m_cost`, not a hundred times it.
//!
//! Repeated logins: FTP clients open several sessions with the same
//! credentials. After a successful verification we remember a keyed SHA-256
//! digest of (user, password, stored hash) under a key drawn at start from the
//! OS random source, for `CREDENTIAL_CACHE_TTL`. A later login whose digest
//! matches skips argon2. A wrong password never matches, so it always pays the
//! full hash; a changed password changes the stored hash, which is part of the
//! digest, so old entries stop matching at once. The digest never leaves
//! memory and the key dies with the process.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use thiserror::Error;

use crate::limits::{CREDENTIAL_CACHE_ENTRIES, CREDENTIAL_CACHE_TTL};

/// A password as the client sent it. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(plain: String) -> Password {
        Password(plain)
    }

    /// The password bytes, for hashing only.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// A stored password hash, as accounts.ini holds it.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// A PHC string `$argon2id$v=19$m=...,t=...,p=...$salt$hash`.
    Argon2(String),
    /// The original homework's unsalted MD5, 32 hex digits. Still accepted so
    /// old account files keep working; the server warns at start.
    LegacyMd5([u8; 16]),
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Argon2(_) => f.write_str("Argon2(****)"),
            PasswordHash::LegacyMd5(_) => f.write_str("LegacyMd5(****)"),
        }
    }
}

/// Why a stored hash or a hashing request is unusable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// The text is neither an argon2 PHC string nor 32 hex digits.
    #[error("not an argon2 PHC string ($argon2id$...) nor a 32-digit hex MD5")]
    UnknownHashFormat,
    /// The argon2 parameters are out of range.
    #[error("bad argon2 parameters: {0}")]
    BadParameters(String),
    /// Hashing failed (the OS random source, most likely).
    #[error("hashing failed: {0}")]
    Hashing(String),
}

impl PasswordHash {
    /// Parses the `password` value of an account.
    pub fn parse(text: &str) -> Result<PasswordHash, AuthError> {
        let text = text.trim();
        if text.starts_with("$argon2") {
            // Parse now so a typo fails at start, not at the user's login.
            argon2::password_hash::phc::PasswordHash::new(text)
                .map_err(|_| AuthError::UnknownHashFormat)?;
            return Ok(PasswordHash::Argon2(text.to_string()));
        }
        if text.len() == 32 {
            let mut digest = [0u8; 16];
            for (index, byte) in digest.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16)
                    .map_err(|_| AuthError::UnknownHashFormat)?;
            }
            return Ok(PasswordHash::LegacyMd5(digest));
        }
        Err(AuthError::UnknownHashFormat)
    }

    /// Whether this is the weak legacy format.
    pub fn is_legacy(&self) -> bool {
        matches!(self, PasswordHash::LegacyMd5(_))
    }

    /// Checks a password against this hash. Slow on purpose for argon2.
    pub fn verify(&self, password: &Password) -> bool {
        match self {
            PasswordHash::Argon2(phc) => Argon2::default()
                .verify_password(password.as_bytes(), phc.as_str())
                .is_ok(),
            PasswordHash::LegacyMd5(expected) => {
                let actual: [u8; 16] = Md5::digest(password.as_bytes()).into();
                constant_time_eq(&actual, expected)
            }
        }
    }

    /// Bytes that identify this hash, for the credential cache key.
    fn identity(&self) -> &[u8] {
        match self {
            PasswordHash::Argon2(phc) => phc.as_bytes(),
            PasswordHash::LegacyMd5(digest) => digest,
        }
    }
}

/// argon2id cost settings for new hashes (`[auth]` in settings.ini).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashCost {
    /// 12 MiB, 3 passes, 1 lane: the OWASP-recommended point that fits a
    /// Pi Zero's memory (about 0.5 s there, about 25 ms on a PC).
    fn default() -> HashCost {
        HashCost {
            memory_kib: 12 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl HashCost {
    fn argon2(&self) -> Result<Argon2<'static>, AuthError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|error| AuthError::BadParameters(error.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Checks that argon2 accepts these numbers.
    pub fn validate(&self) -> Result<(), AuthError> {
        self.argon2().map(|_| ())
    }

    /// Hashes a new password with a fresh random salt.
    pub fn hash(&self, password: &Password) -> Result<PasswordHash, AuthError> {
        let hash = self
            .argon2()?
            .hash_password(password.as_bytes())
            .map_err(|error| AuthError::Hashing(error.to_string()))?;
        Ok(PasswordHash::Argon2(hash.to_string()))
    }
}

/// Compares two byte strings in time that depends only on their length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies logins with bounded memory and remembers recent good ones.
pub struct Authenticator {
    // Admission to the slow hash: how many run now, and the bound.
    running: Mutex<usize>,
    freed: Condvar,
    max_running: usize,
    // A hash with the server's cost, checked for unknown users so they take
    // as long as a wrong password for a real one.
    dummy: PasswordHash,
    // The credential cache: user -> (keyed digest, when it expires).
    cache_key: [u8; 32],
    cache: Mutex<HashMap<String, ([u8; 32], Instant)>>,
}

impl Authenticator {
    /// Builds the authenticator; computes one hash (the dummy) at start.
    pub fn new(cost: HashCost, max_running: usize) -> Result<Authenticator, AuthError> {
        let dummy = cost.hash(&Password::new("pocketftpd-dummy".into()))?;
        let mut cache_key = [0u8; 32];
        cache_key[..16].copy_from_slice(&argon2::password_hash::generate_salt());
        cache_key[16..].copy_from_slice(&argon2::password_hash::generate_salt());
        Ok(Authenticator {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max_running: max_running.max(1),
            dummy,
            cache_key,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Checks `password` for `user`, whose stored hash is `stored` (`None`
    /// for an unknown user: then the dummy hash is checked and the answer is
    /// always false, after the same work).
    pub fn verify(&self, user: &str, stored: Option<&PasswordHash>, password: &Password) -> bool {
        let Some(stored) = stored else {
            let _ = self.slow_verify(&self.dummy, password);
            return false;
        };
        let digest = self.cache_digest(user, stored, password);
        if self.cache_hit(user, &digest) {
            return true;
        }
        let good = self.slow_verify(stored, password);
        if good {
            self.remember(user, digest);
        }
        good
    }

    /// Runs the real hash once a slot is free.
    fn slow_verify(&self, stored: &PasswordHash, password: &Password) -> bool {
        {
            let mut running = lock(&self.running);
            while *running >= self.max_running {
                running = self
                    .freed
                    .wait(running)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            *running += 1;
        }
        let good = stored.verify(password);
        *lock(&self.running) -= 1;
        self.freed.notify_one();
        good
    }

    fn cache_digest(&self, user: &str, stored: &PasswordHash, password: &Password) -> [u8; 32] {
        // Length-prefixed fields, so no two different triples collide.
        let mut hasher = Sha256::new();
        hasher.update(self.cache_key);
        for field in [user.as_bytes(), stored.identity(), password.as_bytes()] {
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field);
        }
        hasher.finalize().into()
    }

    fn cache_hit(&self, user: &str, digest: &[u8; 32]) -> bool {
        let cache = lock(&self.cache);
        match cache.get(user) {
            Some((known, expires)) => *expires > Instant::now() && constant_time_eq(known, digest),
            None => false,
        }
    }

    fn remember(&self, user: &str, digest: [u8; 32]) {
        let mut cache = lock(&self.cache);
        let now = Instant::now();
        if cache.len() >= CREDENTIAL_CACHE_ENTRIES {
            cache.retain(|_, (_, expires)| *expires > now);
            if cache.len() >= CREDENTIAL_CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(user.to_string(), (digest, now + CREDENTIAL_CACHE_TTL));
    }
}

/// Locks a mutex whose data stays valid even if a holder panicked (the
/// counters and caches here are updated in single steps).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> HashCost {
        HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn argon2_round_trip() {
        let hash = cheap().hash(&Password::new("s3cret".into())).unwrap();
        assert!(hash.verify(&Password::new("s3cret".into())));
        assert!(!hash.verify(&Password::new("s3cre".into())));
        let PasswordHash::Argon2(text) = &hash else {
            panic!()
        };
        assert!(text.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(PasswordHash::parse(text).unwrap(), hash);
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        let a = cheap().hash(&Password::new("x".into())).unwrap();
        let b = cheap().hash(&Password::new("x".into())).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn legacy_md5_still_verifies() {
        // md5("password")
        let hash = PasswordHash::parse("5f4dcc3b5aa765d61d8327deb882cf99").unwrap();
        assert!(hash.is_legacy());
        assert!(hash.verify(&Password::new("password".into())));
        assert!(!hash.verify(&Password::new("Password".into())));
    }

    #[test]
    fn garbage_hashes_are_refused() {
        for text in [
            "",
            "plaintext",
            "$argon2id$nonsense",
            "zz4dcc3b5aa765d61d8327deb882cf99",
        ] {
            assert_eq!(
                PasswordHash::parse(text),
                Err(AuthError::UnknownHashFormat),
                "{text}"
            );
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let hash = cheap().hash(&Password::new("x".into())).unwrap();
        assert_eq!(format!("{hash:?}"), "Argon2(****)");
        assert_eq!(format!("{:?}", Password::new("x".into())), "****");
    }

    #[test]
    fn cache_accepts_repeat_and_rejects_wrong_password() {
        let auth = Authenticator::new(cheap(), 2).unwrap();
        let stored = cheap().hash(&Password::new("good".into())).unwrap();
        let good = Password::new("good".into());
        assert!(auth.verify("u", Some(&stored), &good));
        assert!(auth.verify("u", Some(&stored), &good));
        assert!(!auth.verify("u", Some(&stored), &Password::new("bad".into())));
        // A changed password (new stored hash) no longer matches the cache.
        let changed = cheap().hash(&Password::new("new".into())).unwrap();
        assert!(!auth.verify("u", Some(&changed), &good));
        assert!(!auth.verify("nobody", None, &good));
    }
}
