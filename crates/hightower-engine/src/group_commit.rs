//! Group commit: writers under `Durability::Sync` wait until their last
//! version is durable. The first waiter becomes the leader and issues one
//! fdatasync covering everything appended so far; the others wait on a
//! condition variable and are released together when it returns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

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
}

impl GroupCommit {
    /// Returns once `version` (already appended) is durable.
    pub(crate) fn wait_durable(
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
            let target = storage.latest_version();
            let commits = self.waiting_commits.swap(0, Ordering::Relaxed);
            let started = Instant::now();
            let outcome = storage.sync();
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
