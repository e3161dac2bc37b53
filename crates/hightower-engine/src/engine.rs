//! [`SingleNodeEngine`]: the engine of one node over one data directory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use hightower_compact::{CompactError, CompactionOptions, CompactionReport, SuspendedCompaction};
use hightower_log::LogError;
use hightower_log::vfs::FileLock;

use crate::clock::is_expired;
use crate::config::{Durability, EngineConfig};
use crate::error::{EngineError, KeyDisplay, Result};
use crate::group_commit::GroupCommit;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::read_view::ReadView;
use crate::state::{ConcurrentKvState, KeyLocks};
use crate::storage::{Appended, RecoveryInfo, Storage};
use crate::traits::{KvEngine, SnapshotEngine};
use crate::types::{Command, Committed, KeyValue, Pending, Versioned, WriteBatch};

/// Name of the lock file in the data directory.
pub const LOCK_FILE: &str = "LOCK";

struct Job {
    batch: WriteBatch,
    at_version: Option<u64>,
    reply: Sender<Result<Committed>>,
}

#[derive(Debug)]
struct Inner {
    config: EngineConfig,
    storage: Storage,
    state: ConcurrentKvState,
    group: GroupCommit,
    metrics: Metrics,
    recovery: RecoveryInfo,
    compaction: Background,
    _dir_lock: FileLock,
}

/// The background side of automatic compaction.
#[derive(Debug)]
struct Background {
    /// Wakes the compaction thread; `None` when passes are manual only.
    wake: Option<Sender<()>>,
    /// Stops the thread and cancels its running pass (the engine closes).
    stop: Arc<AtomicBool>,
    /// The segment roll count when the thread was last woken.
    rolls_seen: AtomicU64,
}

/// Passes the compaction thread runs at most per wake-up, while each one
/// finds something to do (a bound; it normally stops when caught up).
const BACKGROUND_PASSES_MAX: usize = 64;

/// After a look that found nothing to do, the compaction thread looks again
/// only once this fraction of the live bytes (and at least `min_bytes`)
/// has been written: a look walks the whole index, so its cost stays in
/// proportion to the data written, and the garbage it can miss meanwhile
/// stays below a quarter of the live data.
const LOOK_AGAIN_LIVE_FRACTION: u64 = 4;

/// Rounds of the active expiry sweep per second.
const SWEEP_TICKS_PER_SECOND: usize = 10;

/// The versioned, crash-safe key-value engine of one node. See the crate
/// docs for an example.
#[derive(Debug)]
pub struct SingleNodeEngine {
    inner: Arc<Inner>,
    jobs: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    periodic: Option<(Sender<()>, JoinHandle<()>)>,
    sweep: Option<(Sender<()>, JoinHandle<()>)>,
    compaction_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("mutations", &self.batch.len())
            .finish()
    }
}

impl SingleNodeEngine {
    /// Opens or creates the store in `config.data_dir` with the given
    /// configuration, taking an exclusive lock on the directory.
    pub fn with_config(config: EngineConfig) -> Result<Self> {
        config.validate()?;
        let dir = &config.data_dir;
        hightower_log::vfs::create_dir_durably(config.vfs.as_ref(), dir)
            .map_err(|e| EngineError::io(dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let dir_lock = config
            .vfs
            .try_lock(&lock_path)
            .map_err(|e| EngineError::io(&lock_path, e))?
            .ok_or_else(|| EngineError::Locked { path: dir.clone() })?;
        let (storage, recovery) = Storage::open(&config)?;
        let metrics = Metrics::default();
        Metrics::add(
            &metrics.recovery_time_us,
            recovery.elapsed.as_micros() as u64,
        );
        let (wake, woken) = crossbeam_channel::bounded::<()>(1);
        let automatic = config.compaction.automatic;
        let compaction = Background {
            wake: automatic.then_some(wake),
            stop: Arc::new(AtomicBool::new(false)),
            rolls_seen: AtomicU64::new(0),
        };
        let inner = Arc::new(Inner {
            config,
            storage,
            state: ConcurrentKvState::default(),
            group: GroupCommit::default(),
            metrics,
            recovery,
            compaction,
            _dir_lock: dir_lock,
        });
        let mut engine = SingleNodeEngine {
            inner,
            jobs: None,
            workers: Vec::new(),
            periodic: None,
            sweep: None,
            compaction_thread: None,
        };
        engine.start_workers()?;
        engine.start_periodic_sync()?;
        engine.start_expiry_sweep()?;
        if automatic {
            engine.start_compaction_thread(woken)?;
        }
        Ok(engine)
    }

    /// Opens `dir` with the default configuration.
    pub fn open(dir: impl Into<std::path::PathBuf>) -> Result<Self> {
        Self::with_config(EngineConfig::new(dir))
    }

    fn start_workers(&mut self) -> Result<()> {
        let n = self.inner.config.worker_threads;
        if n == 0 {
            return Ok(());
        }
        let (sender, receiver) =
            crossbeam_channel::bounded::<Job>(self.inner.config.queue_capacity);
        for i in 0..n {
            let inner = self.inner.clone();
            let receiver: Receiver<Job> = receiver.clone();
            let handle = std::thread::Builder::new()
                .name(format!("hightower-worker-{i}"))
                .spawn(move || {
                    for job in receiver {
                        let outcome = inner.commit(&job.batch, job.at_version);
                        let _ = job.reply.send(outcome);
                    }
                })
                .map_err(|e| EngineError::io(&self.inner.config.data_dir, e))?;
            self.workers.push(handle);
        }
        self.jobs = Some(sender);
        Ok(())
    }

    fn start_periodic_sync(&mut self) -> Result<()> {
        let Durability::Periodic(interval) = self.inner.config.durability else {
            return Ok(());
        };
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let inner = self.inner.clone();
        let handle = std::thread::Builder::new()
            .name("hightower-periodic-sync".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    if inner.poison_reason().is_none() {
                        let started = Instant::now();
                        let outcome = inner.storage.sync();
                        inner.metrics.record_fsync(started.elapsed(), 0);
                        if let Err(e) = outcome {
                            inner.poison(e);
                        }
                    }
                }
            })
            .map_err(|e| EngineError::io(&self.inner.config.data_dir, e))?;
        self.periodic = Some((stop, handle));
        Ok(())
    }

    /// Starts the active expiry sweep: ten times a second it deletes up
    /// to a tenth of `expiry_sweep_keys_per_second` keys whose expiry
    /// time has come, through the log like any delete.
    fn start_expiry_sweep(&mut self) -> Result<()> {
        let per_tick = self.inner.config.expiry_sweep_keys_per_second / SWEEP_TICKS_PER_SECOND;
        if per_tick == 0 {
            return Ok(());
        }
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let inner = self.inner.clone();
        let interval = std::time::Duration::from_millis(1000 / SWEEP_TICKS_PER_SECOND as u64);
        let handle = std::thread::Builder::new()
            .name("hightower-expiry".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    if inner.poison_reason().is_none() {
                        // A failure here poisons or is a conflict; either
                        // way the next tick tries again.
                        let _ = inner.sweep_expired(per_tick);
                    }
                }
            })
            .map_err(|e| EngineError::io(&self.inner.config.data_dir, e))?;
        self.sweep = Some((stop, handle));
        Ok(())
    }

    /// Deletes up to `limit` keys whose expiry time has come, now, on the
    /// calling thread; returns how many it deleted. The sweep thread calls
    /// this; so can a caller that wants space back at once.
    pub fn sweep_expired_now(&self, limit: usize) -> Result<usize> {
        self.inner.sweep_expired(limit)
    }

    /// Starts the thread that runs automatic compaction passes when woken.
    /// It holds the engine only weakly, so dropping the engine ends it.
    fn start_compaction_thread(&mut self, woken: Receiver<()>) -> Result<()> {
        let inner: Weak<Inner> = Arc::downgrade(&self.inner);
        let handle = std::thread::Builder::new()
            .name("hightower-compaction".into())
            .spawn(move || {
                // The roll count at which the thread looks next.
                let mut look_at_roll = 0;
                for () in woken {
                    let Some(inner) = inner.upgrade() else {
                        break;
                    };
                    if inner.compaction.stop.load(Ordering::Acquire) {
                        break;
                    }
                    if inner.storage.roll_count() < look_at_roll {
                        continue;
                    }
                    if !inner.background_compaction() {
                        look_at_roll = inner.storage.roll_count() + inner.rolls_between_looks();
                    }
                }
            })
            .map_err(|e| EngineError::io(&self.inner.config.data_dir, e))?;
        self.compaction_thread = Some(handle);
        Ok(())
    }

    fn run(&self, batch: WriteBatch, at_version: Option<u64>) -> Result<Committed> {
        let Some(jobs) = &self.jobs else {
            return self.inner.commit(&batch, at_version);
        };
        let (reply, answer) = crossbeam_channel::bounded(1);
        jobs.send(Job {
            batch,
            at_version,
            reply,
        })
        .map_err(|_| EngineError::Closed)?;
        answer.recv().map_err(|_| EngineError::Closed)?
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// What the last open found.
    pub fn recovery_info(&self) -> &RecoveryInfo {
        &self.inner.recovery
    }

    /// The engine's counters and histograms.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// The storage layer (segments and index).
    pub(crate) fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.inner.storage.index().len()
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Puts `value` under `key` unconditionally; returns the version.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<u64> {
        let mut batch = WriteBatch::with_capacity(Self::record_bytes(key, value));
        batch.put(key, value);
        self.run(batch, None).map(|c| c.first_version)
    }

    /// Deletes `key` unconditionally; returns the version.
    pub fn delete(&self, key: &[u8]) -> Result<u64> {
        let mut batch = WriteBatch::with_capacity(Self::record_bytes(key, &[]));
        batch.delete(key);
        self.run(batch, None).map(|c| c.first_version)
    }

    /// Commits `batch` atomically, as [`KvEngine::submit_batch`] does with
    /// commands, but from bytes already encoded: the cheapest way to write
    /// many keys at once. The batch is left as it was, so it can be
    /// cleared and reused.
    pub fn write(&self, batch: &WriteBatch) -> Result<Committed> {
        match &self.jobs {
            Some(_) => self.run(batch.clone(), None),
            None => self.inner.commit(batch, None),
        }
    }

    /// The bytes of one record of `key` and `value` in a batch.
    fn record_bytes(key: &[u8], value: &[u8]) -> usize {
        hightower_log::record::RECORD_HEADER_BYTES + key.len() + value.len()
    }

    /// Makes every acknowledged write durable now, whatever the durability.
    pub fn sync(&self) -> Result<()> {
        self.inner.check_poisoned()?;
        self.inner.storage.sync().map_err(|e| self.inner.poison(e))
    }

    /// Writes a snapshot of the key directory so the next open replays only
    /// what comes after it. Returns the snapshot file's path.
    pub fn checkpoint(&self) -> Result<std::path::PathBuf> {
        self.inner.checkpoint()
    }

    /// Runs one full compaction pass now, on this thread: every sealed
    /// segment with dead bytes, and the active segment's records too (it
    /// is sealed first). Waits for a background pass to finish first.
    /// Fails with `CompactError::Suspended` while a
    /// [`SuspendedCompaction`] guard lives. With `emit_snapshot` set, a
    /// checkpoint follows.
    pub fn run_compaction_now(&self) -> Result<CompactionReport> {
        self.inner.run_compaction(CompactionOptions::full())
    }

    /// Runs one compaction pass now with the given overrides (the
    /// configured policy by default; see [`CompactionOptions`]).
    pub fn run_compaction(&self, options: CompactionOptions) -> Result<CompactionReport> {
        self.inner.run_compaction(options)
    }

    /// Asks the background thread to run the policy and a pass if it finds
    /// enough to reclaim; returns whether it was woken. Writes call this on
    /// their own after a segment rolls; it never blocks. Does nothing when
    /// automatic compaction is off, while compaction is suspended, or when
    /// the thread already has a wake-up pending.
    pub fn maybe_run_compaction(&self) -> bool {
        self.inner.wake_compaction()
    }

    /// Stops compaction until the returned guard drops: waits for a
    /// running pass, then keeps new ones from starting (for example while
    /// a replication snapshot is streamed).
    pub fn suspend_compaction(&self) -> SuspendedCompaction {
        self.inner.storage.compactor().suspend()
    }

    /// The error that poisoned the engine, if one did.
    pub fn poison_reason(&self) -> Option<String> {
        self.inner.poison_reason()
    }

    /// Checks every checksum and footer of every segment.
    pub fn verify(&self) -> Result<Vec<(std::path::PathBuf, hightower_log::VerifyReport)>> {
        self.inner.storage.verify()
    }
}

impl Inner {
    fn poison_reason(&self) -> Option<String> {
        self.storage.poison().reason()
    }

    fn check_poisoned(&self) -> Result<()> {
        match self.poison_reason() {
            Some(reason) => Err(EngineError::Poisoned { reason }),
            None => Ok(()),
        }
    }

    /// Poisons the engine when `error` is an I/O failure, so that later
    /// writes fail until it is reopened; returns the error.
    fn poison(&self, error: EngineError) -> EngineError {
        let fatal = matches!(
            error,
            EngineError::Log(LogError::Io { .. } | LogError::Poisoned { .. })
                | EngineError::Io { .. }
                | EngineError::Poisoned { .. }
                | EngineError::BackgroundPanic { .. }
        );
        if fatal {
            self.storage.poison().set(|| error.to_string());
        }
        error
    }

    /// Checks, appends, makes durable and publishes one submission, on the
    /// calling thread.
    fn commit(&self, batch: &WriteBatch, at_version: Option<u64>) -> Result<Committed> {
        let started = Instant::now();
        self.check_batch(batch)?;
        let appended =
            match self.config.durability {
                Durability::Sync => {
                    let _in_flight = self.group.in_flight();
                    let appended = self.append_synced(batch, at_version).map_err(
                        |(conflict, pending_seq)| self.after_conflict(conflict, pending_seq),
                    )?;
                    self.wait_published(appended.seq, 1)?;
                    appended
                }
                _ => self.commit_unsynced(batch, at_version)?,
            };
        self.count_commit(batch, started);
        self.maybe_schedule_compaction();
        Ok(appended.committed())
    }

    /// Under `Sync`: checks and appends one submission and returns before
    /// its fsync ([`KvEngine::write_pending`]); otherwise commits it.
    fn commit_pending(&self, batch: &WriteBatch) -> Result<Pending> {
        if self.config.durability != Durability::Sync {
            return self.commit(batch, None).map(Pending::from);
        }
        let started = Instant::now();
        self.check_batch(batch)?;
        let appended = self
            .append_synced(batch, None)
            .map_err(|(error, _)| error)?;
        self.group.count_pending();
        self.count_commit(batch, started);
        self.maybe_schedule_compaction();
        Ok(Pending {
            committed: appended.committed(),
            durable_after: Some(appended.seq),
        })
    }

    /// What every submission must be before it is looked at: not empty,
    /// within the limits, to an engine that is not poisoned.
    fn check_batch(&self, batch: &WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Err(EngineError::EmptyBatch);
        }
        self.check_poisoned()?;
        for mutation in batch.mutations() {
            self.config.limits.check(&mutation)?;
        }
        Ok(())
    }

    /// Under `Sync`: checks and appends holding the keys' shards, and
    /// leaves a pending entry for each key (so later checks see the
    /// version); the shards go before anyone waits for the fsync, which
    /// publishes. A conflict comes with the place of the pending write it
    /// met, if any.
    fn append_synced(
        &self,
        batch: &WriteBatch,
        at_version: Option<u64>,
    ) -> std::result::Result<Appended, (EngineError, Option<u64>)> {
        let mut locks = self.state.lock_keys(batch.keys());
        self.check_conditions(batch, &mut locks)?;
        let appended = self
            .storage
            .append(batch, at_version, true)
            .map_err(|e| (self.poison(e), None))?;
        for (i, mutation) in batch.mutations().enumerate() {
            let put = (mutation.is_put(), mutation.expires_at_ms());
            let version = appended.first_version + i as u64;
            locks.set_pending(mutation.key(), version, put, appended.seq);
        }
        Ok(appended)
    }

    /// One round of the active sweep: a batch of deletes, each on the
    /// condition that the key is still at the version that expired, so a
    /// key written again meanwhile is left alone (it drops out of the
    /// batch, and the rest is tried again).
    fn sweep_expired(&self, limit: usize) -> Result<usize> {
        let now_ms = self.config.clock.now_ms();
        let mut due = self.storage.expiries().due(now_ms, limit);
        while !due.is_empty() {
            let mut batch = WriteBatch::with_capacity(due.len() * 48);
            batch.see_expired();
            for entry in &due {
                batch.delete_expecting(&entry.key, crate::types::Expect::Version(entry.version));
            }
            match self.commit(&batch, None) {
                Ok(_) => {
                    Metrics::add(&self.metrics.expired_keys, due.len() as u64);
                    return Ok(due.len());
                }
                Err(EngineError::VersionConflict {
                    key,
                    expected,
                    actual,
                }) => {
                    let before = due.len();
                    due.retain(|entry| {
                        let stale = entry.key.as_slice() == key.0.as_slice();
                        if stale {
                            self.storage.expiries().forget(entry);
                        }
                        !stale
                    });
                    // Each round drops a key, so the loop ends; a conflict
                    // on a key outside the batch would be a bug, reported.
                    if due.len() == before {
                        return Err(EngineError::VersionConflict {
                            key,
                            expected,
                            actual,
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(0)
    }

    /// Under `Sync`: waits until frame `seq` is durable and published;
    /// `commits` as in `GroupCommit::wait_durable`.
    fn wait_published(&self, seq: u64, commits: u64) -> Result<()> {
        let forget = |key: &[u8], version| self.state.forget_published(key, version);
        let publish = |through| self.storage.publish_through(through, &forget);
        self.group
            .wait_durable(seq, commits, &self.storage, &self.metrics, &publish)
            .map_err(|e| self.poison(e))
    }

    /// A conflict with a write that is appended but not yet durable is
    /// reported once that write is durable and published: the caller's
    /// next read then shows the version it conflicted with, so a
    /// read-then-compare-and-set loop does not spin through the fsync.
    fn after_conflict(&self, conflict: EngineError, pending_seq: Option<u64>) -> EngineError {
        match pending_seq.map(|seq| self.wait_published(seq, 1)) {
            Some(Err(failure)) => failure,
            Some(Ok(())) | None => conflict,
        }
    }

    /// Without `Sync` no fsync lies between append and publish, so the
    /// keys' shards are held through both and no pending entry is needed.
    fn commit_unsynced(&self, batch: &WriteBatch, at_version: Option<u64>) -> Result<Appended> {
        let mut locks = self.state.lock_keys(batch.keys());
        self.check_conditions(batch, &mut locks)
            .map_err(|(conflict, _)| conflict)?;
        let appended = self
            .storage
            .append(batch, at_version, false)
            .map_err(|e| self.poison(e))?;
        self.storage.publish_through(appended.seq, &|_, _| {});
        drop(locks);
        Ok(appended)
    }

    /// Checks every condition against the state before the batch, pending
    /// writes included; the keys' shards are held. A conflict comes with
    /// the place in the append order of the pending write it met, if any.
    fn check_conditions(
        &self,
        batch: &WriteBatch,
        locks: &mut KeyLocks<'_>,
    ) -> std::result::Result<(), (EngineError, Option<u64>)> {
        if !batch.has_conditions() {
            return Ok(());
        }
        let now_ms = (!batch.sees_expired()).then(|| {
            batch
                .judged_at_ms()
                .unwrap_or_else(|| self.config.clock.now_ms())
        });
        for (key, expect) in batch.conditions() {
            let current = locks
                .current(key, &self.storage, now_ms)
                .map_err(|e| (e, None))?;
            if !expect.holds(current.version) {
                Metrics::add(&self.metrics.conflicts, 1);
                let conflict = EngineError::VersionConflict {
                    key: KeyDisplay(key.to_vec()),
                    expected: expect,
                    actual: current.version,
                };
                return Err((conflict, current.pending_seq));
            }
        }
        Ok(())
    }

    fn count_commit(&self, batch: &WriteBatch, started: Instant) {
        let metrics = &self.metrics;
        let puts = batch.puts() as u64;
        Metrics::add(&metrics.puts, puts);
        Metrics::add(&metrics.deletes, batch.len() as u64 - puts);
        Metrics::add(&metrics.bytes_written, batch.encoded_bytes() as u64);
        if batch.len() > 1 {
            Metrics::add(&metrics.batches, 1);
        }
        metrics
            .commit_latency_us
            .record(started.elapsed().as_micros() as u64);
    }

    /// Makes everything appended durable and publishes it; the caller
    /// holds every key lock (`all`), so nothing is appended meanwhile.
    fn settle_all(&self, all: &mut KeyLocks<'_>) -> Result<()> {
        self.storage.finish_seals()?;
        self.storage.sync()?;
        self.storage.publish_all();
        all.clear_pending();
        Ok(())
    }

    /// Takes no key lock: it sees what is published, which under `Sync`
    /// is what is durable, and never waits for an fsync.
    fn read_view(&self) -> ReadView {
        let (index, segments, version) = self.storage.published_view();
        ReadView {
            version,
            index,
            segments,
            now_ms: self.config.clock.now_ms(),
            expiries: self.storage.expiries().clone(),
            hidden: None,
        }
    }

    /// A failed flush or fsync here poisons the engine, as on the write
    /// path: the active segment refuses appends from then on, and the
    /// writes it buffered may not reach the disk.
    fn checkpoint(&self) -> Result<std::path::PathBuf> {
        self.check_poisoned()?;
        let mut all = self.state.lock_all();
        self.settle_all(&mut all)
            .and_then(|()| self.storage.write_snapshot())
            .map_err(|e| self.poison(e))
    }

    /// Runs one pass on the calling thread and accounts for it. A failure
    /// while the pass commits poisons the engine (it is an I/O error on
    /// the write path); any earlier failure leaves the store as it was.
    fn run_compaction(&self, options: CompactionOptions) -> Result<CompactionReport> {
        self.check_poisoned()?;
        let report = match self.storage.compact_all(options) {
            Ok(report) => report,
            Err(e @ EngineError::Compaction(CompactError::Suspended | CompactError::Cancelled)) => {
                return Err(e);
            }
            Err(e) => {
                Metrics::add(&self.metrics.compaction_failures, 1);
                return Err(self.poison(e));
            }
        };
        if report.is_empty() {
            return Ok(report);
        }
        self.metrics.record_compaction(&report);
        if self.config.compaction.emit_snapshot {
            self.checkpoint()?;
        }
        Ok(report)
    }

    /// What the compaction thread does when woken: passes while the policy
    /// finds work, a bounded number of them. Returns whether any ran.
    fn background_compaction(&self) -> bool {
        let mut worked = false;
        for _ in 0..BACKGROUND_PASSES_MAX {
            if self.storage.compactor().is_suspended() {
                break;
            }
            let options = CompactionOptions::default().cancel(self.compaction.stop.clone());
            match self.run_compaction(options) {
                Ok(report) if !report.is_empty() => worked = true,
                _ => break,
            }
        }
        worked
    }

    /// Segment rolls to let pass before the next look, after one that found
    /// nothing to do (see [`LOOK_AGAIN_LIVE_FRACTION`]).
    fn rolls_between_looks(&self) -> u64 {
        let bytes = (self.storage.last_live_bytes() / LOOK_AGAIN_LIVE_FRACTION)
            .max(self.config.compaction.min_bytes);
        bytes.div_ceil(self.config.segment_bytes_max).max(1)
    }

    /// After a commit: wakes the compaction thread when a segment rolled
    /// since it was last woken. One atomic load when nothing rolled.
    fn maybe_schedule_compaction(&self) {
        let rolls = self.storage.roll_count();
        if self.compaction.rolls_seen.load(Ordering::Relaxed) == rolls {
            return;
        }
        if self.compaction.rolls_seen.swap(rolls, Ordering::Relaxed) != rolls {
            self.wake_compaction();
        }
    }

    fn wake_compaction(&self) -> bool {
        let Some(wake) = &self.compaction.wake else {
            return false;
        };
        if self.storage.compactor().is_suspended() || self.poison_reason().is_some() {
            return false;
        }
        wake.try_send(()).is_ok()
    }
}

impl KvEngine for SingleNodeEngine {
    fn submit(&self, command: Command) -> Result<u64> {
        let bytes = command.as_mutation().map_or(0, |m| m.encoded_len());
        let mut batch = WriteBatch::with_capacity(bytes);
        batch.push_command(&command);
        self.run(batch, None).map(|c| c.first_version)
    }

    fn submit_batch(&self, commands: Vec<Command>) -> Result<Committed> {
        self.run(WriteBatch::from(commands.as_slice()), None)
    }

    fn write(&self, batch: &WriteBatch) -> Result<Committed> {
        SingleNodeEngine::write(self, batch)
    }

    /// On the caller's thread even with a worker pool: the append is
    /// short, and it is the wait that the caller must not do.
    fn write_pending(&self, batch: &WriteBatch) -> Result<Pending> {
        self.inner.commit_pending(batch)
    }

    fn make_durable(&self, seq: u64) -> Result<u64> {
        self.inner.wait_published(seq, 0)?;
        Ok(self.inner.group.durable_seq())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Versioned>> {
        Metrics::add(&self.inner.metrics.gets, 1);
        let found = self.inner.storage.get(key)?;
        let now_ms = self.inner.config.clock.now_ms();
        Ok(found.filter(|versioned| !is_expired(versioned.expires_at_ms, now_ms)))
    }

    fn read_view(&self) -> Result<ReadView> {
        Ok(self.inner.read_view())
    }

    fn version_of(&self, key: &[u8]) -> Result<Option<u64>> {
        let now_ms = self.inner.config.clock.now_ms();
        self.inner.storage.live_version(key, now_ms)
    }

    fn now_ms(&self) -> u64 {
        self.inner.config.clock.now_ms()
    }

    fn expiry_of(&self, key: &[u8]) -> Result<Option<Option<u64>>> {
        let now_ms = self.inner.config.clock.now_ms();
        Ok(self
            .inner
            .storage
            .live_expiry(key, now_ms)?
            .map(|(_, at)| at))
    }
}

impl SnapshotEngine for SingleNodeEngine {
    fn snapshot_state(&self) -> Result<ReadView> {
        Ok(self.inner.read_view())
    }

    fn hold_compaction(&self) -> Option<SuspendedCompaction> {
        Some(self.suspend_compaction())
    }

    fn latest_version(&self) -> u64 {
        self.inner.storage.latest_version()
    }

    fn install_snapshot(
        &self,
        latest_version: u64,
        entries: &mut dyn Iterator<Item = KeyValue>,
    ) -> Result<()> {
        self.inner.check_poisoned()?;
        let mut all = self.inner.state.lock_all();
        self.inner
            .settle_all(&mut all)
            .and_then(|()| self.inner.storage.install(latest_version, entries))
            .map_err(|e| self.inner.poison(e))?;
        self.inner
            .group
            .follow_install(self.inner.storage.appended_seq());
        Ok(())
    }

    fn replace_keeping_prefix(
        &self,
        prefix: &[u8],
        kept_max: usize,
        version_gap: u64,
    ) -> Result<u64> {
        self.inner.check_poisoned()?;
        let mut all = self.inner.state.lock_all();
        self.inner
            .settle_all(&mut all)
            .map_err(|e| self.inner.poison(e))?;
        // Everything appended is published and no write can start: the
        // view holds every version there is.
        let view = self.inner.read_view();
        let mut kept = Vec::new();
        for record in view.prefix(prefix) {
            if kept.len() >= kept_max {
                return Err(EngineError::TooManyKept { max: kept_max });
            }
            kept.push(record?);
        }
        let seen = view.version().max(self.inner.storage.latest_version());
        drop(view);
        let version = seen
            .checked_add(version_gap)
            .ok_or_else(|| EngineError::Config("the version counter is exhausted".to_string()))?;
        self.inner
            .storage
            .install(version, &mut kept.into_iter())
            .map_err(|e| self.inner.poison(e))?;
        self.inner
            .group
            .follow_install(self.inner.storage.appended_seq());
        Ok(version)
    }

    fn apply_at(&self, first_version: u64, commands: Vec<Command>) -> Result<Committed> {
        self.run(WriteBatch::from(commands.as_slice()), Some(first_version))
    }

    fn apply_batch_at(&self, first_version: u64, batch: &WriteBatch) -> Result<Committed> {
        self.run(batch.clone(), Some(first_version))
    }
}

impl Drop for SingleNodeEngine {
    fn drop(&mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        if let Some(handle) = self.compaction_thread.take() {
            // Cancels a running pass at its next record; a pass that is
            // committing finishes first.
            self.inner.compaction.stop.store(true, Ordering::Release);
            if let Some(wake) = &self.inner.compaction.wake {
                let _ = wake.try_send(());
            }
            let _ = handle.join();
        }
        if let Some((stop, handle)) = self.sweep.take() {
            let _ = stop.send(());
            let _ = handle.join();
        }
        if let Some((stop, handle)) = self.periodic.take() {
            let _ = stop.send(());
            let _ = handle.join();
        }
        let _ = self.inner.storage.finish_seals();
        if self.inner.poison_reason().is_none() {
            let _ = self.inner.storage.sync();
        }
    }
}
