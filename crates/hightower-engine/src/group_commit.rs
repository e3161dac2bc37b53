//! Group commit: writers under `Durability::Sync` wait until their last
//! version is durable. The first waiter becomes the leader and issues one
//! fdatasync covering everything appended so far; the others wait on a
//! condition variable and are released together when it returns.
//!
//! Before it syncs, the leader gives the committers already past their
//! checks (counted by [`GroupCommit::in_flight`]) a bounded chance to
//! append, so that one fsync covers them too instead of the next one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{EngineError, Result};
use crate::metrics::Metrics;
use crate::storage::Storage;

#[derive(Debug, Default)]
struct State {
    durable_version: u64,
    leader_active: bool,
    failure: Option<String>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
    waiting_commits: AtomicU64,
    /// Committers between their start and their acknowledgement.
    in_flight: AtomicU64,
    /// Committers inside `wait_durable`.
    waiting_now: AtomicU64,
    /// Committers the last fsync covered.
    last_group: AtomicU64,
    /// Duration of the last fsync, in microseconds.
    last_fsync_us: AtomicU64,
}

/// Counts a committer as in flight while it lives.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// At most this many yields while the leader gathers committers.
const GATHER_ROUNDS_MAX: usize = 256;
/// At most this long, in microseconds, spent gathering.
const GATHER_US_MAX: u64 = 2_000;

impl GroupCommit {
    /// Marks a `Sync` committer as in flight until the guard drops.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Lets committers that are on their way append before the fsync:
    /// yields until as many are waiting as are in flight, and as many as
    /// the last fsync covered (submitters that just got their answer are
    /// likely to be back at once), for at most as long as the last
    /// fsync's duration. A group that shrinks is learned from the next
    /// fsync.
    fn gather(&self) {
        let last_group = self.last_group.load(Ordering::Relaxed);
        let budget_us = self
            .last_fsync_us
            .load(Ordering::Relaxed)
            .min(GATHER_US_MAX);
        let deadline = Instant::now() + Duration::from_micros(budget_us);
        for _ in 0..GATHER_ROUNDS_MAX {
            let waiting = self.waiting_now.load(Ordering::Relaxed);
            let expected = self.in_flight.load(Ordering::Relaxed).max(last_group);
            if waiting >= expected || Instant::now() >= deadline {
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Sets the durable watermark to `version`, the latest version of a
    /// snapshot just installed (whose segments are synced). An install may
    /// lower the latest version; a watermark left above it would let later
    /// `Sync` commits below it return without an fsync. The caller holds
    /// every key lock, so no committer is waiting.
    pub(crate) fn follow_install(&self, version: u64) {
        let mut state = self.state.lock();
        debug_assert!(!state.leader_active, "no commit waits during an install");
        state.durable_version = version;
    }

    /// Returns once `version` (already appended) is durable.
    pub(crate) fn wait_durable(
        &self,
        version: u64,
        storage: &Storage,
        metrics: &Metrics,
    ) -> Result<()> {
        self.waiting_now.fetch_add(1, Ordering::Relaxed);
        let outcome = self.wait_durable_counted(version, storage, metrics);
        self.waiting_now.fetch_sub(1, Ordering::Relaxed);
        outcome
    }

    fn wait_durable_counted(
        &self,
        version: u64,
        storage: &Storage,
        metrics: &Metrics,
    ) -> Result<()> {
        self.waiting_commits.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock();
        loop {
            if let Some(reason) = &state.failure {
                return Err(EngineError::Poisoned {
                    reason: reason.clone(),
                });
            }
            if state.durable_version >= version {
                return Ok(());
            }
            if state.leader_active {
                self.done.wait(&mut state);
                continue;
            }
            state.leader_active = true;
            drop(state);
            self.gather();
            let target = storage.latest_version();
            let commits = self.waiting_commits.swap(0, Ordering::Relaxed);
            self.last_group.store(commits, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = storage.sync();
            let fsync_us = started.elapsed().as_micros() as u64;
            self.last_fsync_us.store(fsync_us, Ordering::Relaxed);
            metrics.record_fsync(started.elapsed(), commits);
            state = self.state.lock();
            state.leader_active = false;
            match outcome {
                Ok(()) => state.durable_version = state.durable_version.max(target),
                Err(e) => {
                    // The leader's caller gets the I/O error itself (a full
                    // disk, a failed fsync); the waiters it let down get
                    // `Poisoned` naming it.
                    state.failure = Some(e.to_string());
                    self.done.notify_all();
                    return Err(e);
                }
            }
            self.done.notify_all();
        }
    }
}
