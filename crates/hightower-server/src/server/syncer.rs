//! [`Syncer`]: one thread that waits for the fsyncs of `sync` durability
//! on behalf of every connection, so that a durable SET costs its
//! connection no thread.
//!
//! A connection appends its sets with [`KvEngine::write_pending`]
//! (which returns before the fsync), asks the syncer for durability
//! through the batch's place in the append order, and awaits the answer
//! on its network thread; its replies go out only once the answer says
//! the place is durable (and so visible to readers). The syncer's thread
//! calls [`KvEngine::make_durable`] for the highest place asked, which
//! leads one fsync covering everything appended so far: the writes of
//! every connection that appended while the previous fsync ran share the
//! next one. Before it syncs, the thread waits for as many connections as
//! the last fsync answered (they are likely to be back at once with their
//! next write), for at most as long as that fsync took and never more
//! than [`GATHER_MAX`], asleep: a wait is signalled only when the count is
//! reached. On the reference machine this halved the fsyncs of 50
//! clients sending one SET at a time (a group of 35 instead of 16). When
//! the fsync fails the engine is poisoned, and every wait from then on
//! gets the failure.
//!
//! [`KvEngine::write_pending`]: hightower_engine::KvEngine::write_pending
//! [`KvEngine::make_durable`]: hightower_engine::KvEngine::make_durable

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::server::ServedEngine;
use crate::server::dispatch::CommandError;

/// How far durability has come, as the connections see it.
#[derive(Debug, Clone, Default)]
struct Durable {
    /// Every place in the append order up to this one is durable and
    /// visible.
    through: u64,
    /// Set once an fsync failed: the error every wait then gets.
    failure: Option<CommandError>,
}

/// The longest the thread waits for more writers before an fsync.
const GATHER_MAX: Duration = Duration::from_millis(2);

#[derive(Debug, Default)]
struct Requests {
    /// The highest place a connection waits for.
    requested: u64,
    /// Waits asked since the last fsync began.
    arrivals: u64,
    /// The thread sleeps on `wake` until a request arrives (when `None`),
    /// or until `arrivals` reaches this many (while it gathers).
    wake_at: Option<u64>,
    stop: bool,
}

#[derive(Debug)]
struct SyncerState {
    requests: Mutex<Requests>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Syncer {
    state: Arc<SyncerState>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts the thread.
    pub(crate) fn start(engine: Arc<dyn ServedEngine>) -> std::io::Result<Syncer> {
        let state = Arc::new(SyncerState {
            requests: Mutex::default(),
            wake: Condvar::new(),
            durable: watch::Sender::new(Durable::default()),
        });
        let thread_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("hightower-syncer".into())
            .spawn(move || sync_loop(engine.as_ref(), &thread_state))?;
        Ok(Syncer {
            state,
            thread: Some(thread),
        })
    }

    /// Waits until place `seq` is durable and visible; the error to
    /// reply with when it never will be.
    pub(crate) async fn wait(&self, seq: u64) -> Result<(), CommandError> {
        let mut durable = self.state.durable.subscribe();
        if durable.borrow().through >= seq {
            return Ok(());
        }
        {
            let mut requests = self.state.requests.lock();
            requests.requested = requests.requested.max(seq);
            requests.arrivals += 1;
            if requests.wake_at.is_some_and(|at| requests.arrivals >= at) {
                requests.wake_at = None;
                self.state.wake.notify_one();
            }
        }
        let reached = durable
            .wait_for(|durable| durable.through >= seq || durable.failure.is_some())
            .await;
        match reached {
            Ok(durable) if durable.through >= seq => Ok(()),
            Ok(durable) => Err(durable.failure.clone().unwrap_or_else(stopped)),
            Err(_) => Err(stopped()),
        }
    }
}

fn stopped() -> CommandError {
    CommandError::err("the server is shutting down; the write may not be durable")
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.state.requests.lock().stop = true;
        self.state.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn sync_loop(engine: &dyn ServedEngine, state: &SyncerState) {
    let mut through = 0;
    // How many waits the last fsync answered, and how long it took: the
    // next fsync waits (at most that long) for as many, since writers
    // that just got their replies are likely to be back at once.
    let mut last_group = 0;
    let mut last_fsync = Duration::ZERO;
    loop {
        let target = {
            let mut requests = state.requests.lock();
            while !requests.stop && requests.requested <= through {
                requests.wake_at = Some(1);
                state.wake.wait(&mut requests);
            }
            let deadline = Instant::now() + last_fsync.min(GATHER_MAX);
            while !requests.stop && requests.arrivals < last_group {
                requests.wake_at = Some(last_group);
                if state.wake.wait_until(&mut requests, deadline).timed_out() {
                    break;
                }
            }
            requests.wake_at = None;
            if requests.stop {
                return;
            }
            last_group = std::mem::take(&mut requests.arrivals);
            requests.requested
        };
        let started = Instant::now();
        match engine.make_durable(target) {
            Ok(reached) => {
                last_fsync = started.elapsed();
                through = reached.max(target);
                state
                    .durable
                    .send_modify(|durable| durable.through = through);
            }
            Err(error) => {
                // The engine is poisoned (the conversion logs why): no
                // later fsync will succeed, so every wait from now on
                // fails, and the thread has nothing left to do.
                let failure = CommandError::from(error);
                state
                    .durable
                    .send_modify(|durable| durable.failure = Some(failure));
                return;
            }
        }
    }
}
