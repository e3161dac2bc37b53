//! The clock the auth layer reads, and the login rate limiter: failed
//! logins counted per user name and per source, with a lockout once a
//! count reaches its limit within a window.
//!
//! The counts live in memory only (a restart clears them) and their number
//! is bounded: when the table is full, expired entries are dropped first,
//! then the oldest.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::error::{AuthError, LockoutScope, Result};

/// The time source of the auth layer, in ms since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time in ms since the Unix epoch.
    fn now_unix_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            })
    }
}

/// A clock that moves only when told to (for tests of expiry and lockout).
#[derive(Debug, Default)]
pub struct ManualClock {
    now_unix_ms: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `now_unix_ms`.
    pub fn new(now_unix_ms: u64) -> Self {
        ManualClock {
            now_unix_ms: AtomicU64::new(now_unix_ms),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now_unix_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_ms(&self) -> u64 {
        self.now_unix_ms.load(Ordering::SeqCst)
    }
}

/// How failed logins are limited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures for one user name within `window` that lock it out.
    pub user_failures_max: u32,
    /// Failures from one source within `window` that lock it out.
    pub source_failures_max: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// How long a lockout lasts.
    pub lockout: Duration,
    /// The most user names plus sources tracked at once.
    pub tracked_max: usize,
}

impl Default for LoginLimits {
    /// 5 failures per user or 20 per source within 15 minutes lock out for
    /// 15 minutes; at most 100,000 names and sources tracked.
    fn default() -> Self {
        LoginLimits {
            user_failures_max: 5,
            source_failures_max: 20,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            tracked_max: 100_000,
        }
    }
}

impl LoginLimits {
    /// No limit: failures never lock anyone out.
    pub fn off() -> Self {
        LoginLimits {
            user_failures_max: u32::MAX,
            source_failures_max: u32::MAX,
            tracked_max: 1,
            ..LoginLimits::default()
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start_ms: u64,
    locked_until_ms: u64,
}

/// Failure counts of one scope (user names or sources).
#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, Entry>,
}

impl Table {
    fn retry_after_ms(&self, key: &str, now_ms: u64) -> Option<u64> {
        let entry = self.entries.get(key)?;
        (entry.locked_until_ms > now_ms).then(|| entry.locked_until_ms - now_ms)
    }

    fn record_failure(&mut self, key: &str, now_ms: u64, failures_max: u32, limits: &LoginLimits) {
        let window_ms = duration_ms(limits.window);
        if !self.entries.contains_key(key) {
            self.make_room(now_ms, window_ms, limits.tracked_max);
        }
        let entry = self.entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            window_start_ms: now_ms,
            locked_until_ms: 0,
        });
        if now_ms.saturating_sub(entry.window_start_ms) >= window_ms {
            entry.failures = 0;
            entry.window_start_ms = now_ms;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= failures_max {
            entry.locked_until_ms = now_ms.saturating_add(duration_ms(limits.lockout));
            entry.failures = 0;
            entry.window_start_ms = now_ms;
        }
    }

    /// Drops entries that no longer matter; if the table is still full,
    /// the one whose window started first.
    fn make_room(&mut self, now_ms: u64, window_ms: u64, tracked_max: usize) {
        if self.entries.len() < tracked_max {
            return;
        }
        self.entries.retain(|_, e| {
            e.locked_until_ms > now_ms || now_ms.saturating_sub(e.window_start_ms) < window_ms
        });
        while self.entries.len() >= tracked_max.max(1) {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.window_start_ms)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }
}

/// Counts failed logins per user name and per source.
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    users: Mutex<Table>,
    sources: Mutex<Table>,
}

/// User names and sources are cut to this many bytes before they are
/// tracked (valid user names are shorter).
const SOURCE_BYTES_MAX: usize = 128;

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            limits,
            users: Mutex::new(Table::default()),
            sources: Mutex::new(Table::default()),
        }
    }

    /// Fails with [`AuthError::LockedOut`] while the user or the source is
    /// locked out.
    pub(crate) fn check(&self, user: &str, source: &str, now_ms: u64) -> Result<()> {
        let source = cut(source);
        let locked = [
            (
                LockoutScope::Source,
                self.sources.lock().retry_after_ms(source, now_ms),
            ),
            (
                LockoutScope::User,
                self.users.lock().retry_after_ms(cut(user), now_ms),
            ),
        ];
        for (scope, retry_after_ms) in locked {
            if let Some(ms) = retry_after_ms {
                return Err(AuthError::LockedOut {
                    scope,
                    retry_after: Duration::from_millis(ms),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn record_failure(&self, user: &str, source: &str, now_ms: u64) {
        let limits = &self.limits;
        self.users
            .lock()
            .record_failure(cut(user), now_ms, limits.user_failures_max, limits);
        self.sources
            .lock()
            .record_failure(cut(source), now_ms, limits.source_failures_max, limits);
    }

    /// A successful login clears the user's count (not the source's).
    pub(crate) fn record_success(&self, user: &str) {
        self.users.lock().entries.remove(cut(user));
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.users.lock().entries.len() + self.sources.lock().entries.len()
    }
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
            user_failures_max: 3,
            source_failures_max: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            tracked_max: 1000,
        }
    }

    #[test]
    fn user_is_locked_after_max_failures_then_released() {
        let limiter = LoginLimiter::new(limits());
        for i in 0..3 {
            assert!(limiter.check("ada", &format!("10.0.0.{i}"), 0).is_ok());
            limiter.record_failure("ada", &format!("10.0.0.{i}"), 0);
        }
        let err = limiter.check("ada", "10.0.0.9", 1000).unwrap_err();
        assert!(
            matches!(err, AuthError::LockedOut { scope: LockoutScope::User, retry_after }
                if retry_after == Duration::from_secs(299)),
            "{err}"
        );
        assert!(limiter.check("bob", "10.0.0.9", 1000).is_ok());
        assert!(limiter.check("ada", "10.0.0.9", 300_000).is_ok());
    }

    #[test]
    fn source_is_locked_across_user_names() {
        let limiter = LoginLimiter::new(limits());
        for i in 0..5 {
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
    fn failures_outside_the_window_do_not_add_up() {
        let limiter = LoginLimiter::new(limits());
        limiter.record_failure("ada", "s", 0);
        limiter.record_failure("ada", "s", 1);
        limiter.record_failure("ada", "s", 60_001);
        assert!(limiter.check("ada", "s", 60_002).is_ok());
    }

    #[test]
    fn success_clears_the_user_count() {
        let limiter = LoginLimiter::new(limits());
        limiter.record_failure("ada", "s", 0);
        limiter.record_failure("ada", "s", 0);
        limiter.record_success("ada");
        limiter.record_failure("ada", "s", 0);
        assert!(limiter.check("ada", "s", 0).is_ok());
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = LoginLimiter::new(LoginLimits {
            tracked_max: 10,
            ..limits()
        });
        for i in 0..1000 {
            limiter.record_failure(&format!("user{i}"), &format!("source{i}"), i);
        }
        assert!(limiter.tracked() <= 20, "{}", limiter.tracked());
    }

    #[test]
    fn off_never_locks() {
        let limiter = LoginLimiter::new(LoginLimits::off());
        for i in 0..100 {
            limiter.record_failure("ada", "s", i);
        }
        assert!(limiter.check("ada", "s", 100).is_ok());
    }

    #[test]
    fn long_sources_are_cut_on_a_char_boundary() {
        let source = "\u{e9}".repeat(100);
        assert!(cut(&source).len() <= SOURCE_BYTES_MAX);
        assert!(source.starts_with(cut(&source)));
    }
}
