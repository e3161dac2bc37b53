//! Group commit: writers under `Durability::Sync` wait until their frame
//! (named by its place in the append order, see `Storage::append`) is
//! durable. The first waiter becomes the leader and issues one fdatasync
//! covering everything appended so far, publishes it to the index, and
//! releases the others together. A waiter holds no key lock meanwhile.
//!
//! Before it syncs, the leader gives the committers already on their way
//! (counted by [`GroupCommit::in_flight`]) a bounded chance to append, so
//! that one fsync covers them too instead of the next one. It sleeps on a
//! condition variable that each arriving waiter signals, never spinning:
//! on two cores a spinning leader takes the core a writer needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{EngineError, Result};
use crate::metrics::Metrics;
use crate::storage::Storage;

#[derive(Debug, Default)]
struct State {
    /// Every frame up to this place in the append order is durable and
    /// published.
    durable_seq: u64,
    leader_active: bool,
    /// Whether the leader is gathering and wants to hear of arrivals.
    gathering: bool,
    /// Committers inside `wait_durable`.
    waiting: u64,
    failure: Option<String>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// Signalled when the leader's fsync and publish are done.
    done: Condvar,
    /// Signalled when a committer starts waiting while the leader gathers.
    arrived: Condvar,
    /// Committers that waited since the last fsync began.
    waiting_commits: AtomicU64,
    /// Batches appended without waiting (`KvEngine::write_pending`) since
    /// the last fsync began: counted in the group's size, not waited for.
    pending_commits: AtomicU64,
    /// Committers between their start and their acknowledgement.
    in_flight: AtomicU64,
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

/// At most this long, in microseconds, spent gathering.
const GATHER_US_MAX: u64 = 2_000;
/// At most this many wake-ups while gathering (a bound on the loop; each
/// arrival wakes the leader once).
const GATHER_WAKES_MAX: usize = 1_024;

impl GroupCommit {
    /// Counts a batch appended for someone else to make durable.
    pub(crate) fn count_pending(&self) {
        self.pending_commits.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks a `Sync` committer as in flight until the guard drops.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Lets committers that are on their way append before the fsync:
    /// sleeps until as many are waiting as are in flight, and as many as
    /// the last fsync covered (submitters that just got their answer are
    /// likely to be back at once), for at most as long as the last fsync
    /// took. A group that shrinks is learned from the next fsync.
    fn gather(&self, state: &mut MutexGuard<'_, State>) {
        let last_group = self.last_group.load(Ordering::Relaxed);
        let budget_us = self
            .last_fsync_us
            .load(Ordering::Relaxed)
            .min(GATHER_US_MAX);
        let deadline = Instant::now() + Duration::from_micros(budget_us);
        state.gathering = true;
        for _ in 0..GATHER_WAKES_MAX {
            let expected = self.in_flight.load(Ordering::Relaxed).max(last_group);
            if state.waiting >= expected || self.arrived.wait_until(state, deadline).timed_out() {
                break;
            }
        }
        state.gathering = false;
    }

    /// Every frame up to this place in the append order is durable and
    /// published.
    pub(crate) fn durable_seq(&self) -> u64 {
        self.state.lock().durable_seq
    }

    /// Keeps the watermark at or above `seq`, the place in the append
    /// order of a snapshot install (which synced and published everything
    /// before it). The order never goes down, so an install cannot leave
    /// the watermark above later frames.
    pub(crate) fn follow_install(&self, seq: u64) {
        let mut state = self.state.lock();
        state.durable_seq = state.durable_seq.max(seq);
    }

    /// Returns once frame `seq` (already appended) is durable and
    /// published. `publish(through)` moves the queue into the index; the
    /// leader calls it after its fsync, before releasing the group, so no
    /// reader sees a write before it is durable. `commits` is how many
    /// commits the caller waits for: 1 for a committer, 0 for a wait on
    /// behalf of batches already counted by [`GroupCommit::count_pending`].
    pub(crate) fn wait_durable(
        &self,
        seq: u64,
        commits: u64,
        storage: &Storage,
        metrics: &Metrics,
        publish: &dyn Fn(u64),
    ) -> Result<()> {
        self.waiting_commits.fetch_add(commits, Ordering::Relaxed);
        let mut state = self.state.lock();
        state.waiting += 1;
        if state.gathering {
            self.arrived.notify_one();
        }
        let outcome = self.wait_locked(&mut state, seq, storage, metrics, publish);
        state.waiting -= 1;
        outcome
    }

    fn wait_locked(
        &self,
        state: &mut MutexGuard<'_, State>,
        seq: u64,
        storage: &Storage,
        metrics: &Metrics,
        publish: &dyn Fn(u64),
    ) -> Result<()> {
        // Each round either returns, sleeps until a leader finishes, or
        // leads one fsync that covers `seq`; so it ends after two leads.
        loop {
            // Durable first: a frame an fsync covered is acknowledged even
            // if a later fsync failed, since it is in the index already.
            if state.durable_seq >= seq {
                return Ok(());
            }
            if let Some(reason) = &state.failure {
                return Err(EngineError::Poisoned {
                    reason: reason.clone(),
                });
            }
            if state.leader_active {
                self.done.wait(state);
                continue;
            }
            state.leader_active = true;
            self.gather(state);
            let outcome = MutexGuard::unlocked(state, || self.lead(storage, metrics, publish));
            state.leader_active = false;
            self.done.notify_all();
            match outcome {
                Ok(target) => state.durable_seq = state.durable_seq.max(target),
                Err(e) => {
                    // The leader's caller gets the I/O error itself (a full
                    // disk, a failed fsync); the waiters it let down get
                    // `Poisoned` naming it.
                    state.failure = Some(e.to_string());
                    return Err(e);
                }
            }
        }
    }

    /// One fsync of everything appended, then its publish; returns the
    /// place in the append order it covered.
    fn lead(&self, storage: &Storage, metrics: &Metrics, publish: &dyn Fn(u64)) -> Result<u64> {
        let target = storage.appended_seq();
        let commits = self.waiting_commits.swap(0, Ordering::Relaxed);
        let pending = self.pending_commits.swap(0, Ordering::Relaxed);
        // The gather waits for committers, so it learns from them only.
        self.last_group.store(commits, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = storage.sync();
        let elapsed = started.elapsed();
        self.last_fsync_us
            .store(elapsed.as_micros() as u64, Ordering::Relaxed);
        metrics.record_fsync(elapsed, commits + pending);
        outcome?;
        publish(target);
        Ok(target)
    }
}
