//! One pass at a time, and none while a [`SuspendedCompaction`] lives.
//!
//! A pass holds the gate's `running` lock for its whole length. Suspending
//! first raises the count and then waits for `running`, so once
//! [`crate::Compactor::suspend`] returns no pass is running and every pass
//! that tries to start sees the count and refuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::error::{CompactError, Result};

/// Shared between a compactor and its suspension guards.
#[derive(Debug, Default)]
pub(crate) struct PassGate {
    /// Live [`SuspendedCompaction`] guards.
    suspended: AtomicUsize,
    /// Held by the running pass.
    running: Mutex<()>,
}

impl PassGate {
    pub(crate) fn suspend(self: &Arc<Self>) -> SuspendedCompaction {
        self.suspended.fetch_add(1, Ordering::SeqCst);
        // Wait for a pass that started before the count went up.
        drop(self.running.lock());
        SuspendedCompaction { gate: self.clone() }
    }

    pub(crate) fn is_suspended(&self) -> bool {
        self.suspended.load(Ordering::SeqCst) > 0
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.is_locked()
    }

    pub(crate) fn begin(&self) -> Result<PassGuard<'_>> {
        let running = self.running.lock();
        if self.is_suspended() {
            return Err(CompactError::Suspended);
        }
        Ok(PassGuard { _running: running })
    }
}

/// While this guard lives no compaction pass runs: taking it waits for a
/// running pass to finish, and passes that try to start meanwhile fail
/// with [`CompactError::Suspended`] (automatic ones are skipped). Used for
/// example while a replication snapshot is streamed, so the segment layout
/// stays as it was. Guards nest; passes resume when the last one drops.
#[derive(Debug)]
#[must_use = "compaction resumes as soon as the guard is dropped"]
pub struct SuspendedCompaction {
    gate: Arc<PassGate>,
}

impl Drop for SuspendedCompaction {
    fn drop(&mut self) {
        self.gate.suspended.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Proof that the holder runs the one pass allowed at a time; taken with
/// [`crate::Compactor::begin_pass`].
#[derive(Debug)]
pub struct PassGuard<'a> {
    _running: MutexGuard<'a, ()>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspension_blocks_passes_until_every_guard_drops() {
        let gate = Arc::new(PassGate::default());
        let first = gate.suspend();
        let second = gate.suspend();
        assert!(matches!(gate.begin(), Err(CompactError::Suspended)));
        drop(first);
        assert!(matches!(gate.begin(), Err(CompactError::Suspended)));
        drop(second);
        assert!(gate.begin().is_ok());
    }

    #[test]
    fn suspend_waits_for_the_running_pass() {
        let gate = Arc::new(PassGate::default());
        let pass = gate.begin().expect("not suspended");
        let other = gate.clone();
        let waiter = std::thread::spawn(move || drop(other.suspend()));
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!waiter.is_finished(), "suspend must wait for the pass");
        assert!(gate.is_running());
        drop(pass);
        waiter.join().expect("the waiter does not panic");
        assert!(!gate.is_running());
    }
}
