//! The clock the auth layer reads, and the login rate limiter: failed
//! logins counted per (user name, source) pair and per source, each
//! failure past a free allowance locking that pair or source out for
//! twice as long as the one before.
//!
//! The limiter holds the counts in memory and reports every change, which
//! the service stores under [`crate::AUTH_PREFIX`] so that a restart keeps
//! them. Their number is bounded: when the table is full, forgotten
//! entries are dropped first, then the oldest.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::{AuthError, LockoutScope, Result};

/// The time source of the auth layer (the engine's: API key expiry and
/// lockouts are judged by the same clock as key expiry).
pub use hightower_engine::{Clock, ManualClock, SystemClock};

/// How failed logins are limited.
///
/// Failures are counted per (user name, source) pair and per source.
/// The first `*_failures_free` failures of a count cost nothing; each one
/// after them locks that pair (or that source) out, for `lockout_first`,
/// then twice as long each time, up to `lockout_max`. A lockout never
/// reaches another source: a user whose name an attacker guesses at still
/// logs in from anywhere else. With the defaults one source gets at most
/// 17 guesses at one user and 32 guesses over all user names in its first
/// hour, then 4 an hour (see `the_guesses_of_one_source_are_bounded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures of one user name from one source that cost nothing.
    pub pair_failures_free: u32,
    /// Failures from one source, over all user names, that cost nothing.
    pub source_failures_free: u32,
    /// The first lockout; each further failure doubles it.
    pub lockout_first: Duration,
    /// The longest lockout.
    pub lockout_max: Duration,
    /// A count with no failure for this long starts again from zero.
    pub forget_after: Duration,
    /// The most counts (pairs and sources together) kept at once, in
    /// memory and in the store.
    pub tracked_max: usize,
}

impl Default for LoginLimits {
    /// 5 free failures per pair and 20 per source, lockouts from 2 s
    /// doubling to 15 min, counts forgotten after a day without failure,
    /// at most 10,000 counts.
    fn default() -> Self {
        LoginLimits {
            pair_failures_free: 5,
            source_failures_free: 20,
            lockout_first: Duration::from_secs(2),
            lockout_max: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(24 * 60 * 60),
            tracked_max: 10_000,
        }
    }
}

impl LoginLimits {
    /// No limit: failures never lock anyone out.
    pub fn off() -> Self {
        LoginLimits {
            pair_failures_free: u32::MAX,
            source_failures_free: u32::MAX,
            tracked_max: 0,
            ..LoginLimits::default()
        }
    }

    fn is_off(&self) -> bool {
        self.tracked_max == 0
    }

    /// The lockout after failure number `failures` of a count whose first
    /// `free` cost nothing.
    fn lockout_ms(&self, failures: u32, free: u32) -> u64 {
        let Some(beyond) = failures.checked_sub(free).and_then(|n| n.checked_sub(1)) else {
            return 0;
        };
        let doubled = duration_ms(self.lockout_first).saturating_mul(1_u64 << beyond.min(40));
        doubled.min(duration_ms(self.lockout_max))
    }
}

/// One count of failed logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    failures: u32,
    last_failure_ms: u64,
    locked_until_ms: u64,
}

/// The stored form of an [`Entry`]: a format version, then the fields as
/// little-endian integers.
const ENTRY_BYTES: usize = 1 + 4 + 8 + 8;
const ENTRY_FORMAT_VERSION: u8 = 1;

impl Entry {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(ENTRY_BYTES);
        bytes.push(ENTRY_FORMAT_VERSION);
        bytes.extend_from_slice(&self.failures.to_le_bytes());
        bytes.extend_from_slice(&self.last_failure_ms.to_le_bytes());
        bytes.extend_from_slice(&self.locked_until_ms.to_le_bytes());
        debug_assert_eq!(bytes.len(), ENTRY_BYTES);
        bytes
    }

    /// `None` for bytes of another length or format version.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Entry> {
        if bytes.len() != ENTRY_BYTES || bytes[0] != ENTRY_FORMAT_VERSION {
            return None;
        }
        let u64_at = |at: usize| bytes[at..at + 8].try_into().ok().map(u64::from_le_bytes);
        Some(Entry {
            failures: u32::from_le_bytes(bytes[1..5].try_into().ok()?),
            last_failure_ms: u64_at(5)?,
            locked_until_ms: u64_at(13)?,
        })
    }
}

/// A change of the counts to store: the count's id and its new state,
/// `None` when it is gone.
pub(crate) type Change = (Vec<u8>, Option<Entry>);

/// Counts failed logins per (user name, source) and per source.
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    /// Keyed by [`pair_id`] and [`source_id`].
    entries: Mutex<HashMap<Vec<u8>, Entry>>,
}

/// User names and sources are cut to this many bytes before they are
/// tracked (valid user names are shorter).
const SOURCE_BYTES_MAX: usize = 128;

fn pair_id(user: &str, source: &str) -> Vec<u8> {
    let (user, source) = (cut(user).as_bytes(), cut(source).as_bytes());
    let mut id = Vec::with_capacity(2 + user.len() + source.len());
    id.push(b'p');
    // The length keeps (user, source) pairs apart whatever bytes they hold.
    id.push(u8::try_from(user.len()).expect("cut to 128 bytes"));
    id.extend_from_slice(user);
    id.extend_from_slice(source);
    id
}

fn source_id(source: &str) -> Vec<u8> {
    let mut id = vec![b's'];
    id.extend_from_slice(cut(source).as_bytes());
    id
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Takes back counts read from the store (at most `tracked_max`).
    pub(crate) fn restore(&self, stored: impl IntoIterator<Item = (Vec<u8>, Entry)>) {
        let mut entries = self.entries.lock();
        for (id, entry) in stored.into_iter().take(self.limits.tracked_max) {
            entries.insert(id, entry);
        }
    }

    /// Fails with [`AuthError::LockedOut`] while this source, or this user
    /// name from this source, is locked out.
    pub(crate) fn check(&self, user: &str, source: &str, now_ms: u64) -> Result<()> {
        let entries = self.entries.lock();
        let locked = [
            (LockoutScope::Source, source_id(source)),
            (LockoutScope::User, pair_id(user, source)),
        ];
        for (scope, id) in locked {
            if let Some(entry) = entries.get(&id)
                && entry.locked_until_ms > now_ms
            {
                return Err(AuthError::LockedOut {
                    scope,
                    retry_after: Duration::from_millis(entry.locked_until_ms - now_ms),
                });
            }
        }
        Ok(())
    }

    /// Counts a failure of the pair and of the source; returns the counts
    /// to store.
    pub(crate) fn record_failure(&self, user: &str, source: &str, now_ms: u64) -> Vec<Change> {
        if self.limits.is_off() {
            return Vec::new();
        }
        let limits = &self.limits;
        let mut entries = self.entries.lock();
        let mut changes = Vec::new();
        let counts = [
            (pair_id(user, source), limits.pair_failures_free),
            (source_id(source), limits.source_failures_free),
        ];
        for (id, free) in counts {
            if !entries.contains_key(&id) {
                changes.extend(make_room(&mut entries, now_ms, limits));
            }
            let entry = entries.entry(id.clone()).or_insert(Entry {
                failures: 0,
                last_failure_ms: now_ms,
                locked_until_ms: 0,
            });
            if now_ms.saturating_sub(entry.last_failure_ms) >= duration_ms(limits.forget_after) {
                entry.failures = 0;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure_ms = now_ms;
            let lockout_ms = limits.lockout_ms(entry.failures, free);
            if lockout_ms > 0 {
                entry.locked_until_ms = now_ms.saturating_add(lockout_ms);
            }
            changes.push((id, Some(*entry)));
        }
        changes
    }

    /// A successful login clears the pair's count (not the source's, so
    /// that one known password does not reset a source's guessing).
    pub(crate) fn record_success(&self, user: &str, source: &str) -> Vec<Change> {
        let id = pair_id(user, source);
        match self.entries.lock().remove(&id) {
            Some(_) => vec![(id, None)],
            None => Vec::new(),
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.entries.lock().len()
    }
}

/// Makes room for one more count: drops the counts that no longer matter
/// (not locked, no failure for `forget_after`), then, while still full,
/// the one whose last failure is oldest. Returns what it dropped.
fn make_room(
    entries: &mut HashMap<Vec<u8>, Entry>,
    now_ms: u64,
    limits: &LoginLimits,
) -> Vec<Change> {
    if entries.len() < limits.tracked_max {
        return Vec::new();
    }
    let forget_ms = duration_ms(limits.forget_after);
    let mut dropped = Vec::new();
    entries.retain(|id, e| {
        let keep =
            e.locked_until_ms > now_ms || now_ms.saturating_sub(e.last_failure_ms) < forget_ms;
        if !keep {
            dropped.push((id.clone(), None));
        }
        keep
    });
    while entries.len() >= limits.tracked_max.max(1) {
        let Some(oldest) = entries
            .iter()
            .min_by_key(|(_, e)| e.last_failure_ms)
            .map(|(id, _)| id.clone())
        else {
            break;
        };
        entries.remove(&oldest);
        dropped.push((oldest, None));
    }
    dropped
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn cut(source: &str) -> &str {
    let mut end = source.len().min(SOURCE_BYTES_MAX);
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    &source[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginLimits {
        LoginLimits {
            pair_failures_free: 3,
            source_failures_free: 5,
            lockout_first: Duration::from_secs(10),
            lockout_max: Duration::from_secs(60),
            forget_after: Duration::from_secs(3600),
            tracked_max: 1000,
        }
    }

    #[test]
    fn a_pair_locks_with_doubling_lockouts_and_other_sources_do_not() {
        let limiter = LoginLimiter::new(limits());
        for _ in 0..3 {
            assert!(limiter.check("ada", "attacker", 0).is_ok());
            limiter.record_failure("ada", "attacker", 0);
        }
        assert!(limiter.check("ada", "attacker", 0).is_ok(), "3 are free");
        limiter.record_failure("ada", "attacker", 0);
        let err = limiter.check("ada", "attacker", 1000).unwrap_err();
        assert!(
            matches!(err, AuthError::LockedOut { scope: LockoutScope::User, retry_after }
                if retry_after == Duration::from_secs(9)),
            "{err}"
        );
        assert!(limiter.check("ada", "laptop", 1000).is_ok());
        assert!(limiter.check("ada", "attacker", 10_000).is_ok());
        limiter.record_failure("ada", "attacker", 10_000);
        assert!(limiter.check("ada", "attacker", 29_999).is_err(), "doubled");
        assert!(limiter.check("ada", "attacker", 30_000).is_ok());
    }

    #[test]
    fn lockouts_double_up_to_the_limit() {
        let limits = limits();
        assert_eq!(limits.lockout_ms(3, 3), 0);
        assert_eq!(limits.lockout_ms(4, 3), 10_000);
        assert_eq!(limits.lockout_ms(5, 3), 20_000);
        assert_eq!(limits.lockout_ms(6, 3), 40_000);
        assert_eq!(limits.lockout_ms(7, 3), 60_000);
        assert_eq!(limits.lockout_ms(u32::MAX, 3), 60_000);
    }

    #[test]
    fn a_source_locks_across_user_names_and_only_itself() {
        let limiter = LoginLimiter::new(limits());
        for i in 0..6 {
            limiter.record_failure(&format!("user{i}"), "attacker", 0);
        }
        assert!(matches!(
            limiter.check("someone", "attacker", 1),
            Err(AuthError::LockedOut {
                scope: LockoutScope::Source,
                ..
            })
        ));
        assert!(limiter.check("someone", "friend", 1).is_ok());
    }

    #[test]
    fn counts_are_forgotten_after_a_quiet_period() {
        let limiter = LoginLimiter::new(limits());
        for _ in 0..3 {
            limiter.record_failure("ada", "s", 0);
        }
        limiter.record_failure("ada", "s", 3_600_000);
        assert!(limiter.check("ada", "s", 3_600_001).is_ok());
    }

    #[test]
    fn success_clears_the_pair_count_only() {
        let limiter = LoginLimiter::new(limits());
        for i in 0..4 {
            limiter.record_failure(&format!("u{i}"), "s", 0);
        }
        limiter.record_failure("ada", "s", 0);
        assert_eq!(limiter.record_success("ada", "s").len(), 1);
        limiter.record_failure("ada", "s", 0);
        assert!(
            limiter.check("ada", "s", 0).is_err(),
            "the source counts on"
        );
    }

    #[test]
    fn the_table_stays_bounded_and_reports_what_it_drops() {
        let limiter = LoginLimiter::new(LoginLimits {
            tracked_max: 10,
            ..limits()
        });
        let mut dropped = 0;
        for i in 0..1000 {
            let changes = limiter.record_failure(&format!("user{i}"), &format!("source{i}"), i);
            dropped += changes.iter().filter(|(_, e)| e.is_none()).count();
        }
        assert!(limiter.tracked() <= 10, "{}", limiter.tracked());
        assert_eq!(dropped + limiter.tracked(), 2000);
    }

    #[test]
    fn off_never_locks_and_stores_nothing() {
        let limiter = LoginLimiter::new(LoginLimits::off());
        for i in 0..100 {
            assert!(limiter.record_failure("ada", "s", i).is_empty());
        }
        assert!(limiter.check("ada", "s", 100).is_ok());
    }

    #[test]
    fn entries_round_trip_and_bad_bytes_are_refused() {
        let entry = Entry {
            failures: 7,
            last_failure_ms: 1 << 40,
            locked_until_ms: u64::MAX,
        };
        assert_eq!(Entry::decode(&entry.encode()), Some(entry));
        assert_eq!(Entry::decode(&entry.encode()[1..]), None);
        let mut other_version = entry.encode();
        other_version[0] = 2;
        assert_eq!(Entry::decode(&other_version), None);
    }

    #[test]
    fn pair_ids_keep_user_and_source_apart() {
        assert_ne!(pair_id("ab", "c"), pair_id("a", "bc"));
        assert_ne!(pair_id("a", "b"), source_id("ab"));
    }

    /// Counts the guesses an attacker from one source gets in `hours`
    /// hours when it retries the moment each lockout ends.
    fn guesses(limits: LoginLimits, users: u32, hours: u64) -> u32 {
        let limiter = LoginLimiter::new(limits);
        let end_ms = hours * 3_600_000;
        let (mut now_ms, mut n_guesses) = (0_u64, 0_u32);
        for _ in 0..100_000 {
            if now_ms >= end_ms {
                break;
            }
            let user = format!("user{}", n_guesses % users);
            match limiter.check(&user, "attacker", now_ms) {
                Ok(()) => {
                    n_guesses += 1;
                    limiter.record_failure(&user, "attacker", now_ms);
                }
                Err(AuthError::LockedOut { retry_after, .. }) => {
                    now_ms += duration_ms(retry_after);
                }
                Err(other) => panic!("{other}"),
            }
        }
        n_guesses
    }

    #[test]
    fn the_guesses_of_one_source_are_bounded() {
        let defaults = LoginLimits::default();
        assert_eq!(guesses(defaults.clone(), 1, 1), 17, "one user, first hour");
        assert_eq!(
            guesses(defaults.clone(), 1_000, 1),
            32,
            "any users, first hour"
        );
        assert_eq!(
            guesses(defaults.clone(), 1_000, 2) - 32,
            4,
            "then 4 an hour"
        );
    }

    #[test]
    fn long_sources_are_cut_on_a_char_boundary() {
        let source = "\u{e9}".repeat(100);
        assert!(cut(&source).len() <= SOURCE_BYTES_MAX);
        assert!(source.starts_with(cut(&source)));
    }
}
