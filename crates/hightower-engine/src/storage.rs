//! [`Storage`]: the segments of a data directory and the index over them.
//!
//! One segment is active and takes appends; when it passes
//! `segment_bytes_max` it is synced, a new one is started, and the old one
//! is sealed (footer written) off the write path. Reads go by location
//! with positioned reads. The caller (the engine) serialises writes per key
//! and decides when appended records are published to the index: appends
//! queue their mutations in append order, and publishing moves the queue
//! into the index in that order, so a later version of a key never comes
//! before an earlier one.
//!
//! Segment ids come from one counter and are never reused; the active
//! segment always has the highest id in the store. The segment map and the
//! index change in an order that keeps them consistent for readers: a
//! segment joins the map before any index entry points into it, and leaves
//! it only after none does. Compaction (`compaction.rs`) relies on both.

mod compaction;
mod replay;
mod seals;

#[cfg(feature = "testing")]
pub use seals::SEALS_IN_FLIGHT_MAX;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hightower_compact::Compactor;
use hightower_index::{Entry, Index, IndexBuilder, IndexSnapshot, Key};
use hightower_log::vfs::{Vfs, removed_if_present};
use hightower_log::{
    DecodeError, Location, LogError, LogSegment, Mutation, SEGMENT_HEADER_BYTES, SegmentOptions,
    VerifyReport,
};
use parking_lot::{Mutex, RwLock};
use replay::{expected_keys, replay_segment, replay_segments, replay_threads};
use seals::Sealers;

use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::expiry::ExpiryTable;
use crate::manifest::Manifest;
use crate::poison::Poison;
use crate::snapshot::{KvState, LogPosition, Snapshot};
use crate::types::{KeyValue, Versioned, WriteBatch};

/// Segments by id; replaced whole (copy-on-write) when a segment is added
/// or removed, so readers take a cheap consistent copy.
pub(crate) type SegmentMap = Arc<BTreeMap<u32, Arc<LogSegment>>>;

/// What opening a data directory found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryInfo {
    /// Version of the snapshot loaded, if one was.
    pub snapshot_version: Option<u64>,
    /// Snapshot files that failed to load and were passed over.
    pub snapshots_skipped: usize,
    /// Segments in the store.
    pub segments: usize,
    /// Bytes cut from torn tails.
    pub truncated_bytes: u64,
    /// Live keys.
    pub keys: usize,
    /// The latest version.
    pub latest_version: u64,
    /// Time taken.
    pub elapsed: Duration,
}

/// Records just appended as one frame: mutation `i` got version
/// `first_version + i`. They reach the index when the engine publishes
/// through `seq` ([`Storage::publish_through`]); until then their segment counts
/// them as unpublished, and compaction leaves that segment alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    /// Version of the first mutation.
    pub first_version: u64,
    /// Number of mutations.
    pub count: u32,
    /// Place of the frame in the append order, from 1; fsyncs and
    /// publishing go by it. Unlike versions it never goes down (a snapshot
    /// install may lower the latest version).
    pub seq: u64,
    /// The segment the frame lies in.
    pub segment_id: u32,
}

impl Appended {
    /// Version of the last mutation.
    pub(crate) fn last_version(&self) -> u64 {
        self.first_version + u64::from(self.count) - 1
    }

    /// The versions the frame took, as a caller sees them.
    pub(crate) fn committed(&self) -> crate::types::Committed {
        crate::types::Committed {
            first_version: self.first_version,
            count: self.count,
        }
    }
}

/// One appended mutation on its way to the index, in the publish queue.
#[derive(Debug)]
struct Update {
    /// The frame's place in the append order.
    seq: u64,
    key: Key,
    version: u64,
    location: Location,
    put: bool,
    /// The expiry time of an expiring put.
    expires_at_ms: Option<u64>,
    /// Whether the writer left a pending entry for the key in its shard.
    pending: bool,
    /// On the frame's last mutation: its segment's unpublished count.
    closes: Option<Arc<AtomicU64>>,
}

/// What the one publisher at a time holds.
#[derive(Debug, Default)]
struct Publisher {
    /// Every frame up to this place in the append order is in the index.
    published_seq: u64,
    /// The version of the newest mutation in the index: with the queue
    /// published in append order, every version at or below it is there.
    published_version: u64,
    /// Reused between publishes.
    scratch: Vec<Update>,
}

/// The segments and the index of one data directory.
#[derive(Debug)]
pub(crate) struct Storage {
    dir: PathBuf,
    vfs: Arc<dyn Vfs>,
    options: SegmentOptions,
    segment_bytes_max: u64,
    segments: RwLock<SegmentMap>,
    /// The active segment; holding this lock is holding the append order.
    active: Mutex<Arc<LogSegment>>,
    /// Highest version appended to the log.
    latest_version: AtomicU64,
    index: Index,
    /// The expiry times of the published keys that have one.
    expiries: Arc<ExpiryTable>,
    /// Where "now" comes from for expiry (compaction drops expired puts).
    clock: Arc<dyn crate::clock::Clock>,
    /// Background seals of rolled segments (see `seals.rs`).
    sealers: Sealers,
    /// The engine's first fatal failure; background seals set it too.
    poison: Poison,
    /// The next segment id to hand out; above every id in the store.
    next_segment_id: AtomicU32,
    /// Segment rolls so far (a cheap signal that the policy may have
    /// something new to look at).
    rolls: AtomicU64,
    /// Held while snapshot files are written and while the segment set is
    /// replaced (install, the commit of a compaction pass), so neither sees
    /// the other half done. Taken before `active` and `segments`, never
    /// after them.
    maintenance: Mutex<()>,
    /// Snapshot installs so far: a compaction pass that started before one
    /// is stale.
    installs: AtomicU64,
    /// The manifest as last stored.
    manifest: Mutex<Manifest>,
    /// Live record bytes the last compaction look measured.
    last_live_bytes: AtomicU64,
    /// Per segment, appends made but not yet published. A sealed segment
    /// whose count is zero holds only published records, so an index
    /// snapshot taken after that shows exactly which of its records are
    /// live; compaction takes no other segment.
    unpublished: Mutex<BTreeMap<u32, Arc<AtomicU64>>>,
    /// The count of the active segment (changed only under `active`).
    active_unpublished: Mutex<Arc<AtomicU64>>,
    /// The place in the append order of the newest frame (changed only
    /// under `active`, after its updates joined the queue).
    appended_seq: AtomicU64,
    /// Appended mutations not yet in the index, in append order, which is
    /// version order. Pushed to under `active`; nothing is locked while
    /// this is held.
    queue: Mutex<VecDeque<Update>>,
    /// Taken to move the queue into the index, so that it goes in append
    /// order, and by read views, so that the index they see holds exactly
    /// the versions up to `published_version`. Never held across an fsync.
    publisher: Mutex<Publisher>,
    compactor: Compactor,
}

/// The file name of segment `id`.
pub(crate) fn segment_file_name(id: u32) -> String {
    format!("{id:010}.log")
}

fn parse_segment_id(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".log")?.parse().ok()
}

impl Storage {
    /// Opens (or creates) the store in `config.data_dir`: loads the newest
    /// valid snapshot, replays the log after it, cuts torn tails.
    pub(crate) fn open(config: &EngineConfig) -> Result<(Self, RecoveryInfo)> {
        let started = Instant::now();
        let dir = config.data_dir.clone();
        hightower_log::vfs::create_dir_durably(config.vfs.as_ref(), &dir)
            .map_err(|e| EngineError::io(&dir, e))?;
        let manifest = Manifest::load(config.vfs.as_ref(), &dir)?;
        finish_install(config.vfs.as_ref(), &dir, manifest.min_segment_id)?;
        compaction::clean_up_at_open(config.vfs.as_ref(), &dir, &manifest)?;
        let options = SegmentOptions {
            limits: config.limits,
            write_buffer_bytes: config.write_buffer_bytes,
            ..SegmentOptions::default()
        };
        let vfs = config.vfs.clone();
        let mut info = RecoveryInfo::default();
        let (segments, to_seal) = open_segments(
            vfs.as_ref(),
            &dir,
            options,
            manifest.min_segment_id,
            &mut info,
        )?;

        let mut builder = IndexBuilder::new();
        let mut expiring = Vec::new();
        let mut latest = manifest.version_floor;
        let mut position = LogPosition::default();
        for path in Snapshot::list(vfs.as_ref(), &dir)? {
            let mut attempt = IndexBuilder::new();
            let mut attempt_expiring = Vec::new();
            match Snapshot::load_into(vfs.as_ref(), &path, &mut attempt, &mut attempt_expiring) {
                Ok((version, at))
                    if segments.is_empty() || segments.contains_key(&at.segment_id) =>
                {
                    builder = attempt;
                    expiring = attempt_expiring;
                    latest = latest.max(version);
                    position = at;
                    info.snapshot_version = Some(version);
                    break;
                }
                _ => info.snapshots_skipped += 1,
            }
        }
        let n_threads = replay_threads(segments.values(), position);
        if n_threads == 1 && info.snapshot_version.is_none() {
            // One thread observes every segment into this one builder.
            builder = IndexBuilder::with_capacity(expected_keys(&segments));
        }
        let in_order: Vec<&LogSegment> = segments.values().map(|s| s.as_ref()).collect();
        latest = latest.max(replay_segments(
            &in_order,
            position,
            n_threads,
            &mut builder,
            &mut expiring,
        )?);
        let index = Index::from_snapshot(builder.build());
        let expiries = Arc::new(ExpiryTable::default());
        fill_expiries(&expiries, &index, expiring);
        let active = match segments.values().next_back() {
            Some(last) if !last.is_sealed() => last.clone(),
            newest => {
                let id = newest.map_or(manifest.min_segment_id.max(1), |s| s.id() + 1);
                Arc::new(LogSegment::create(
                    vfs.as_ref(),
                    &dir.join(segment_file_name(id)),
                    id,
                    options,
                )?)
            }
        };
        let mut segments = segments;
        segments.insert(active.id(), active.clone());
        let next_segment_id = active
            .id()
            .checked_add(1)
            .ok_or_else(|| EngineError::Config("segment ids are exhausted".to_string()))?;
        let active_id = active.id();
        let active_unpublished = Arc::new(AtomicU64::new(0));
        info.segments = segments.len();
        info.keys = index.len();
        info.latest_version = latest;
        info.elapsed = started.elapsed();
        let storage = Storage {
            dir,
            vfs,
            options,
            segment_bytes_max: config.segment_bytes_max,
            segments: RwLock::new(Arc::new(segments)),
            active: Mutex::new(active),
            latest_version: AtomicU64::new(latest),
            index,
            expiries,
            clock: config.clock.clone(),
            sealers: Sealers::default(),
            poison: Poison::default(),
            next_segment_id: AtomicU32::new(next_segment_id),
            rolls: AtomicU64::new(0),
            maintenance: Mutex::new(()),
            installs: AtomicU64::new(0),
            manifest: Mutex::new(manifest),
            last_live_bytes: AtomicU64::new(0),
            unpublished: Mutex::new(BTreeMap::from([(active_id, active_unpublished.clone())])),
            active_unpublished: Mutex::new(active_unpublished),
            appended_seq: AtomicU64::new(0),
            queue: Mutex::new(VecDeque::new()),
            publisher: Mutex::new(Publisher {
                published_version: latest,
                ..Publisher::default()
            }),
            compactor: Compactor::new(config.compaction.clone()),
        };
        for segment in to_seal {
            storage.seal_in_background(segment)?;
        }
        Ok((storage, info))
    }

    /// Seals an unsealed older segment found at open on a background
    /// thread, as a roll does (a failure poisons the engine), or on this
    /// one when no thread can be started. Waits for a running seal when
    /// [`SEALS_IN_FLIGHT_MAX`] are; on an error, for all of them, so that
    /// no seal outlives a failed open.
    fn seal_in_background(&self, segment: Arc<LogSegment>) -> Result<()> {
        if let Err(error) = self.sealers.make_room(&self.poison) {
            let _ = self.sealers.join_all(&self.poison);
            return Err(error);
        }
        if self.sealers.spawn(segment.clone(), &self.poison).is_err()
            && let Err(error) = segment.seal()
        {
            let _ = self.sealers.join_all(&self.poison);
            return Err(error.into());
        }
        Ok(())
    }

    /// The index of live keys.
    pub(crate) fn index(&self) -> &Index {
        &self.index
    }

    /// The segments, as of now.
    pub(crate) fn segments(&self) -> SegmentMap {
        self.segments.read().clone()
    }

    /// An index snapshot with the segments it points into, taken together:
    /// every location in the snapshot names a segment of the map.
    pub(crate) fn view(&self) -> (IndexSnapshot, SegmentMap) {
        let segments = self.segments.read();
        (self.index.snapshot(), segments.clone())
    }

    /// The compactor: policy, suspension and the one-pass-at-a-time gate.
    pub(crate) fn compactor(&self) -> &Compactor {
        &self.compactor
    }

    /// Live record bytes the last compaction pass (or look) measured.
    pub(crate) fn last_live_bytes(&self) -> u64 {
        self.last_live_bytes.load(Ordering::Relaxed)
    }

    /// The engine's poison slot, shared with the background seals.
    pub(crate) fn poison(&self) -> &Poison {
        &self.poison
    }

    /// Background seals started and not yet joined; at most
    /// [`SEALS_IN_FLIGHT_MAX`].
    #[cfg(feature = "testing")]
    pub(crate) fn seals_in_flight(&self) -> usize {
        self.sealers.in_flight()
    }

    /// Segment rolls since the store was opened.
    pub(crate) fn roll_count(&self) -> u64 {
        self.rolls.load(Ordering::Acquire)
    }

    /// Hands out a segment id above every id in the store.
    fn allocate_segment_id(&self) -> Result<u32> {
        let id = self.next_segment_id.fetch_add(1, Ordering::AcqRel);
        if id == u32::MAX {
            return Err(EngineError::Config("segment ids are exhausted".to_string()));
        }
        Ok(id)
    }

    /// Highest version appended to the log.
    pub(crate) fn latest_version(&self) -> u64 {
        self.latest_version.load(Ordering::Acquire)
    }

    /// Appends a batch as one record (one mutation) or one atomic batch
    /// frame, and queues its mutations for publishing. Versions follow the
    /// latest, or start at `at_version`, which must be above it
    /// (replication assigns versions that way). `pending` says whether the
    /// caller left pending entries for the keys (see `state.rs`).
    pub(crate) fn append(
        &self,
        batch: &WriteBatch,
        at_version: Option<u64>,
        pending: bool,
    ) -> Result<Appended> {
        let count = u32::try_from(batch.len()).map_err(|_| LogError::BadBatch {
            mutations: batch.len(),
            len: batch.encoded_bytes(),
            max: self.options.limits.batch_bytes_max,
        })?;
        let frame_len = match count {
            1 => batch.encoded_bytes(),
            _ => hightower_log::record::RECORD_HEADER_BYTES + batch.encoded_bytes(),
        } as u64;
        let mut active = self.active.lock();
        let used = active.data_len_bytes();
        if used + frame_len > self.segment_bytes_max && used > SEGMENT_HEADER_BYTES as u64 {
            self.roll(&mut active)?;
        }
        let latest = self.latest_version();
        let first_version = match at_version {
            Some(v) if v <= latest => {
                return Err(EngineError::VersionNotAhead {
                    requested: v,
                    latest,
                });
            }
            Some(v) => v,
            None => latest + 1,
        };
        let first_offset = active.append_unsealed(first_version, batch.records())?;
        let appended = Appended {
            first_version,
            count,
            seq: self.appended_seq.load(Ordering::Relaxed) + 1,
            segment_id: active.id(),
        };
        let unpublished = self.active_unpublished.lock().clone();
        unpublished.fetch_add(1, Ordering::AcqRel);
        self.enqueue(batch, &appended, first_offset, pending, unpublished);
        // After the queue: a reader of either counter finds the frame queued.
        self.appended_seq.store(appended.seq, Ordering::Release);
        self.latest_version
            .store(appended.last_version(), Ordering::Release);
        Ok(appended)
    }

    /// Queues the mutations of a frame just appended at `first_offset`.
    /// Called with the append lock held, so the queue stays in append
    /// order.
    fn enqueue(
        &self,
        batch: &WriteBatch,
        appended: &Appended,
        first_offset: u64,
        pending: bool,
        unpublished: Arc<AtomicU64>,
    ) {
        let mut queue = self.queue.lock();
        let mut offset = first_offset;
        for (i, mutation) in batch.mutations().enumerate() {
            let len = mutation.encoded_len() as u64;
            queue.push_back(Update {
                seq: appended.seq,
                key: Key::from_slice(mutation.key()),
                version: appended.first_version + i as u64,
                location: Location {
                    segment_id: appended.segment_id,
                    offset: u32::try_from(offset).expect("segments stay below 4 GiB"),
                    len: u32::try_from(len).expect("records stay below 4 GiB"),
                },
                put: mutation.is_put(),
                expires_at_ms: mutation.expires_at_ms(),
                pending,
                closes: None,
            });
            offset += len;
        }
        queue
            .back_mut()
            .expect("a batch holds at least one mutation")
            .closes = Some(unpublished);
    }

    /// The place in the append order of the newest frame.
    pub(crate) fn appended_seq(&self) -> u64 {
        self.appended_seq.load(Ordering::Acquire)
    }

    /// Syncs the active segment, starts the next one, and seals the old
    /// one on a background thread. Called with the append lock held. Waits
    /// first for a seal to finish when [`SEALS_IN_FLIGHT_MAX`] are running,
    /// and fails, changing nothing, when an earlier seal failed.
    fn roll(&self, active: &mut Arc<LogSegment>) -> Result<()> {
        self.sealers.make_room(&self.poison)?;
        active.sync()?;
        let id = self.allocate_segment_id()?;
        debug_assert!(id > active.id(), "the active segment has the highest id");
        let next = self.new_segment(id)?;
        let unpublished = Arc::new(AtomicU64::new(0));
        self.unpublished.lock().insert(id, unpublished.clone());
        *self.active_unpublished.lock() = unpublished;
        {
            let mut segments = self.segments.write();
            let mut map = BTreeMap::clone(&segments);
            map.insert(id, next.clone());
            *segments = Arc::new(map);
        }
        let old = std::mem::replace(active, next);
        // A segment left unsealed by a failed spawn is sealed at the next open.
        self.sealers
            .spawn(old, &self.poison)
            .map_err(|e| EngineError::io(&self.dir, e))?;
        self.rolls.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Waits for background seals; returns the first failure (which has
    /// poisoned the engine).
    pub(crate) fn finish_seals(&self) -> Result<()> {
        self.sealers.join_all(&self.poison)
    }

    /// Publishes every queued frame up to place `seq` in the append order,
    /// which the caller has appended (and, under `Sync`, made durable).
    /// `forget` is then called, with no lock held, for each mutation that
    /// left a pending entry, so the caller can drop it.
    pub(crate) fn publish_through(&self, seq: u64, forget: &dyn Fn(&[u8], u64)) {
        let mut publisher = self.publisher.lock();
        if publisher.published_seq >= seq {
            return;
        }
        let mut drained = std::mem::take(&mut publisher.scratch);
        {
            let mut queue = self.queue.lock();
            while queue.front().is_some_and(|update| update.seq <= seq) {
                drained.extend(queue.pop_front());
            }
        }
        self.index.apply(drained.iter().map(|update| {
            let entry = update.put.then_some(Entry {
                version: update.version,
                location: update.location,
                expiring: update.expires_at_ms.is_some(),
            });
            (update.key.as_slice(), entry)
        }));
        for update in &drained {
            if update.expires_at_ms.is_some() || !self.expiries.is_empty() {
                self.expiries
                    .set(&update.key, update.version, update.expires_at_ms);
            }
        }
        for closes in drained.iter().filter_map(|update| update.closes.as_ref()) {
            closes.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(last) = drained.last() {
            publisher.published_version = last.version;
        }
        publisher.published_seq = seq;
        drop(publisher);
        for update in drained.iter().filter(|update| update.pending) {
            forget(&update.key, update.version);
        }
        drained.clear();
        let mut publisher = self.publisher.lock();
        if publisher.scratch.capacity() < drained.capacity() {
            publisher.scratch = drained;
        }
    }

    /// Publishes everything appended so far; the caller holds every key
    /// lock, so nothing is appended meanwhile, and drops the pending
    /// entries itself.
    pub(crate) fn publish_all(&self) {
        self.publish_through(self.appended_seq(), &|_, _| {});
        debug_assert!(
            self.queue.lock().is_empty(),
            "everything appended is published"
        );
    }

    /// An index snapshot with the segments it points into and the version
    /// it reflects: every version at or below it is in the snapshot, none
    /// above. Waits only for a publish in progress, never for an fsync.
    pub(crate) fn published_view(&self) -> (IndexSnapshot, SegmentMap, u64) {
        let publisher = self.publisher.lock();
        let (index, segments) = self.view();
        (index, segments, publisher.published_version)
    }

    /// The ids of the sealed segments whose appends are all published.
    fn quiescent_sealed_ids(&self) -> std::collections::BTreeSet<u32> {
        let unpublished = self.unpublished.lock();
        self.segments()
            .values()
            .filter(|segment| segment.is_sealed())
            .map(|segment| segment.id())
            .filter(|id| {
                unpublished
                    .get(id)
                    .is_none_or(|count| count.load(Ordering::Acquire) == 0)
            })
            .collect()
    }

    /// The table of expiry times.
    pub(crate) fn expiries(&self) -> &Arc<ExpiryTable> {
        &self.expiries
    }

    /// The published version of `key` and its expiry time, if the key
    /// is live at `now_ms`.
    pub(crate) fn live_expiry(
        &self,
        key: &[u8],
        now_ms: u64,
    ) -> Result<Option<(u64, Option<u64>)>> {
        // As in `get`: the map is held while the entry is looked up.
        let segments = self.segments.read();
        let Some(entry) = self.index.get(key) else {
            return Ok(None);
        };
        let at = entry_expiry(&self.expiries, &segments, key, entry)?;
        Ok((!crate::clock::is_expired(at, now_ms)).then_some((entry.version, at)))
    }

    /// The published version of `key`, expired or not.
    pub(crate) fn published_version(&self, key: &[u8]) -> Option<u64> {
        self.index.get(key).map(|entry| entry.version)
    }

    /// The published version of `key` if it is live at `now_ms`.
    pub(crate) fn live_version(&self, key: &[u8], now_ms: u64) -> Result<Option<u64>> {
        Ok(self.live_expiry(key, now_ms)?.map(|(version, _)| version))
    }

    /// The newest value of `key`, expired or not.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Versioned>> {
        // Look the key up while the map is held: then the segment the
        // entry names is in this map, even if compaction moves the entry
        // and drops the segment a moment later.
        let segments = self.segments.read();
        let Some(entry) = self.index.get(key) else {
            return Ok(None);
        };
        read_entry(&segments, key, entry).map(Some)
    }

    /// Makes every append so far durable.
    pub(crate) fn sync(&self) -> Result<()> {
        let active = self.active.lock().clone();
        active.sync()?;
        Ok(())
    }

    /// Writes buffered appends to the operating system.
    pub(crate) fn flush(&self) -> Result<()> {
        let active = self.active.lock().clone();
        active.flush()?;
        Ok(())
    }

    /// The state as a snapshot holds it. The caller must hold every key
    /// lock and have published everything appended.
    pub(crate) fn state_snapshot(&self) -> Result<KvState> {
        let active = self.active.lock();
        active.flush()?;
        let offset = u32::try_from(active.data_len_bytes()).expect("segments stay below 4 GiB");
        let index = self.index.snapshot();
        let segments = self.segments();
        let mut expiries = std::collections::HashMap::new();
        for (key, entry) in index.iter().filter(|(_, entry)| entry.expiring) {
            if let Some(at) = entry_expiry(&self.expiries, &segments, &key, entry)? {
                expiries.insert(key, at);
            }
        }
        Ok(KvState {
            latest_version: self.latest_version(),
            position: LogPosition {
                segment_id: active.id(),
                offset,
            },
            index,
            expiries,
        })
    }

    /// Writes a snapshot file of the current state and removes older ones.
    /// The caller must hold every key lock and have published everything
    /// appended.
    pub(crate) fn write_snapshot(&self) -> Result<PathBuf> {
        let _maintenance = self.maintenance.lock();
        self.sync()?;
        let state = self.state_snapshot()?;
        let path = Snapshot::write(self.vfs.as_ref(), &self.dir, &state)?;
        for old in Snapshot::list(self.vfs.as_ref(), &self.dir)? {
            if old != path {
                let _ = self.vfs.remove_file(&old);
            }
        }
        Ok(path)
    }

    /// Replaces the whole store with `entries` at `latest_version` (a
    /// snapshot from a replication peer). The caller must hold every key
    /// lock and have published everything appended.
    ///
    /// Crash-safe: the new segments are written and synced in the staging
    /// directory `install-<first id>`, then the manifest switches to them
    /// in one rename (the commit point: its minimum segment id becomes the
    /// first id), then they are moved into place. A restart finishes a
    /// committed install and discards an uncommitted one.
    pub(crate) fn install(
        &self,
        latest_version: u64,
        entries: &mut dyn Iterator<Item = KeyValue>,
    ) -> Result<()> {
        let _maintenance = self.maintenance.lock();
        self.installs.fetch_add(1, Ordering::AcqRel);
        let mut active = self.active.lock();
        let first_id = self.allocate_segment_id()?;
        let staging = self.dir.join(install_dir_name(first_id));
        let last_id = match self.stage_install(&staging, first_id, latest_version, entries) {
            Ok(last_id) => last_id,
            Err(e) => {
                let _ = self.vfs.remove_dir_all(&staging);
                return Err(e);
            }
        };
        self.next_segment_id
            .fetch_max(last_id + 1, Ordering::AcqRel);
        let manifest = Manifest {
            min_segment_id: first_id,
            version_floor: latest_version,
            obsolete_segment_ids: Vec::new(),
        };
        manifest.store(self.vfs.as_ref(), &self.dir)?;
        *self.manifest.lock() = manifest;
        move_install_into_place(self.vfs.as_ref(), &self.dir, &staging)?;

        let mut segments = BTreeMap::new();
        let mut builder = IndexBuilder::new();
        let mut expiring = Vec::new();
        for id in first_id..=last_id {
            let path = self.dir.join(segment_file_name(id));
            let (segment, _) = LogSegment::open(self.vfs.as_ref(), &path, self.options)?;
            replay_segment(
                &segment,
                LogPosition::default(),
                &mut builder,
                &mut expiring,
            )?;
            segments.insert(id, Arc::new(segment));
        }
        let newest = segments
            .get(&last_id)
            .cloned()
            .expect("the install wrote its last segment");
        let old = std::mem::replace(&mut *self.segments.write(), Arc::new(segments));
        // Every key lock is held and the caller published everything, so
        // nothing is appended and unpublished.
        let unpublished = Arc::new(AtomicU64::new(0));
        *self.unpublished.lock() = BTreeMap::from([(last_id, unpublished.clone())]);
        *self.active_unpublished.lock() = unpublished;
        {
            let mut publisher = self.publisher.lock();
            assert!(
                self.queue.lock().is_empty(),
                "an install follows a full publish"
            );
            self.index.install(builder.build());
            self.expiries.clear();
            fill_expiries(&self.expiries, &self.index, expiring);
            publisher.published_version = latest_version;
        }
        self.latest_version.store(latest_version, Ordering::Release);
        *active = newest;
        for stale in old.values() {
            let _ = self.vfs.remove_file(stale.path());
        }
        for snapshot in Snapshot::list(self.vfs.as_ref(), &self.dir)? {
            let _ = self.vfs.remove_file(&snapshot);
        }
        Ok(())
    }

    /// Creates the staging directory (durably: a restart must find it once
    /// the manifest names `first_id`), writes the segments into it and
    /// syncs its entries. Returns the last segment's id.
    fn stage_install(
        &self,
        staging: &Path,
        first_id: u32,
        latest_version: u64,
        entries: &mut dyn Iterator<Item = KeyValue>,
    ) -> Result<u32> {
        // `first_id` is fresh, so no directory of that name can be live;
        // one left by a failed attempt is stale.
        removed_if_present(self.vfs.remove_dir_all(staging))
            .map_err(|e| EngineError::io(staging, e))?;
        self.vfs
            .create_dir(staging)
            .map_err(|e| EngineError::io(staging, e))?;
        self.vfs
            .sync_dir(&self.dir)
            .map_err(|e| EngineError::io(&self.dir, e))?;
        let last_id = self.write_install(staging, first_id, latest_version, entries)?;
        self.vfs
            .sync_dir(staging)
            .map_err(|e| EngineError::io(staging, e))?;
        Ok(last_id)
    }

    /// Writes `entries` into segments `first_id..` in `staging`, all sealed
    /// but the last, all synced. Returns the last segment's id.
    fn write_install(
        &self,
        staging: &Path,
        first_id: u32,
        latest_version: u64,
        entries: &mut dyn Iterator<Item = KeyValue>,
    ) -> Result<u32> {
        let create = |id: u32| {
            LogSegment::create(
                self.vfs.as_ref(),
                &staging.join(segment_file_name(id)),
                id,
                self.options,
            )
        };
        let mut segment = create(first_id)?;
        for kv in entries {
            if kv.version == 0 || kv.version > latest_version {
                return Err(EngineError::Snapshot {
                    path: staging.to_path_buf(),
                    reason: format!(
                        "installed entry at version {} is outside 1..={latest_version}",
                        kv.version
                    ),
                });
            }
            let mutation = Mutation::put(&kv.key, &kv.value, kv.expires_at_ms);
            if segment.data_len_bytes() + mutation.encoded_len() as u64 > self.segment_bytes_max {
                segment.seal()?;
                segment = create(segment.id() + 1)?;
            }
            segment.append(kv.version, &mutation)?;
        }
        segment.sync()?;
        Ok(segment.id())
    }

    fn new_segment(&self, id: u32) -> Result<Arc<LogSegment>> {
        let path = self.dir.join(segment_file_name(id));
        Ok(Arc::new(LogSegment::create(
            self.vfs.as_ref(),
            &path,
            id,
            self.options,
        )?))
    }

    /// Checks every segment's checksums and footers.
    pub(crate) fn verify(&self) -> Result<Vec<(PathBuf, VerifyReport)>> {
        self.finish_seals()?;
        self.flush()?;
        let segments = self.segments();
        segments
            .values()
            .map(|s| Ok((s.path().to_path_buf(), s.verify()?)))
            .collect()
    }
}

/// The staging directory of a snapshot install whose first segment is
/// `first_id`: `install-<first_id>`. The name carries the commit rule: the
/// install is committed exactly when the manifest's minimum segment id is
/// `first_id`. That id was allocated above every id in the store, so no
/// manifest stored before the install's own can name it.
fn install_dir_name(first_id: u32) -> String {
    format!("{INSTALL_DIR_PREFIX}{first_id}")
}

/// The prefix of [`install_dir_name`].
const INSTALL_DIR_PREFIX: &str = "install-";

/// The first segment id an install staging directory's name carries.
fn parse_install_dir(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix(INSTALL_DIR_PREFIX)?.parse().ok()
}

/// At open, before any segment is read: finishes the install whose
/// staging directory the manifest names as committed (see
/// [`install_dir_name`]) and discards every other staging directory,
/// which belongs to an install that never reached its commit point.
fn finish_install(vfs: &dyn Vfs, dir: &Path, min_segment_id: u32) -> Result<()> {
    let entries = vfs.read_dir(dir).map_err(|e| EngineError::io(dir, e))?;
    let mut discarded = false;
    for path in entries {
        match parse_install_dir(&path) {
            Some(first_id) if first_id == min_segment_id => {
                move_install_into_place(vfs, dir, &path)?;
            }
            Some(_) => {
                vfs.remove_dir_all(&path)
                    .map_err(|e| EngineError::io(&path, e))?;
                discarded = true;
            }
            None => {}
        }
    }
    if discarded {
        vfs.sync_dir(dir).map_err(|e| EngineError::io(dir, e))?;
    }
    Ok(())
}

/// Moves the segments of a committed install from `staging` into `dir`
/// (those a crash already moved are not there any more), makes the moves
/// durable, then removes the staging directory. Safe to repeat after a
/// crash at any point.
fn move_install_into_place(vfs: &dyn Vfs, dir: &Path, staging: &Path) -> Result<()> {
    let staged = vfs
        .read_dir(staging)
        .map_err(|e| EngineError::io(staging, e))?;
    for path in staged {
        if let Some(id) = parse_segment_id(&path) {
            let target = dir.join(segment_file_name(id));
            vfs.rename(&path, &target)
                .map_err(|e| EngineError::io(&target, e))?;
        }
    }
    vfs.sync_dir(dir).map_err(|e| EngineError::io(dir, e))?;
    vfs.remove_dir_all(staging)
        .map_err(|e| EngineError::io(staging, e))?;
    vfs.sync_dir(dir).map_err(|e| EngineError::io(dir, e))
}

/// Below this many data bytes an unsealed older segment is sealed while
/// the store opens; a larger one is sealed in the background once it is
/// open (replay scans it meanwhile), so that a crash with a seal in
/// flight does not make the next open wait for that seal.
const BACKGROUND_SEAL_BYTES_MIN: u64 = 4 << 20;

/// Once the segments opened so far hold this many data bytes, the rest
/// are opened on several threads (each open checks a footer's MAC or
/// scans an unsealed segment); a small store opens its segments one by
/// one, in id order.
const PARALLEL_OPEN_BYTES_MIN: u64 = 256 << 10;

/// Threads that open segments at most.
const OPEN_THREADS_MAX: usize = 8;

/// Opens the segment files at `paths` (in id order); the outcomes in the
/// same order. They are opened one by one until those opened hold
/// [`PARALLEL_OPEN_BYTES_MIN`], and the rest then on up to
/// [`OPEN_THREADS_MAX`] threads, the calling one included. A failed open
/// ends the list, except among those opened in parallel: there the later
/// ones are opened too (an open only reads, or cuts a torn tail that any
/// later open would cut as well).
fn open_files(
    vfs: &dyn Vfs,
    paths: &[PathBuf],
    options: SegmentOptions,
) -> Vec<hightower_log::Result<(LogSegment, hightower_log::RecoveryReport)>> {
    let n_threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(OPEN_THREADS_MAX);
    let mut opened = Vec::with_capacity(paths.len());
    let mut opened_bytes = 0;
    for (i, path) in paths.iter().enumerate() {
        let rest = &paths[i..];
        if opened_bytes >= PARALLEL_OPEN_BYTES_MIN && n_threads > 1 && rest.len() > 1 {
            opened.extend(open_in_parallel(
                vfs,
                rest,
                options,
                n_threads.min(rest.len()),
            ));
            break;
        }
        let outcome = LogSegment::open(vfs, path, options);
        let failed = outcome.is_err();
        if let Ok((segment, _)) = &outcome {
            opened_bytes += segment.data_len_bytes();
        }
        opened.push(outcome);
        if failed {
            // The caller stops at the first failure (or it was the newest).
            break;
        }
    }
    opened
}

/// Opens the segment files at `paths` on `n_threads` threads, the calling
/// one included; the outcomes in `paths`' order.
fn open_in_parallel(
    vfs: &dyn Vfs,
    rest: &[PathBuf],
    options: SegmentOptions,
    n_threads: usize,
) -> Vec<hightower_log::Result<(LogSegment, hightower_log::RecoveryReport)>> {
    let slots: Vec<Mutex<Option<_>>> = rest.iter().map(|_| Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        // Each pass takes one path, so the loop ends after rest.len().
        loop {
            let at = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = rest.get(at) else {
                break;
            };
            *slots[at].lock() = Some(LogSegment::open(vfs, path, options));
        }
    };
    // The scope joins every worker and passes a worker's panic on.
    std::thread::scope(|scope| {
        for _ in 1..n_threads {
            scope.spawn(work);
        }
        work();
    });
    slots
        .into_iter()
        .map(|slot| slot.into_inner().expect("every path was opened"))
        .collect()
}

/// Unsealed older segments that open leaves to seal in the background.
type ToSeal = Vec<Arc<LogSegment>>;

/// Opens every segment of the store; seals all but the newest when they
/// are unsealed (a crash between roll and seal) and smaller than
/// [`BACKGROUND_SEAL_BYTES_MIN`], and returns the larger ones to seal in
/// the background; removes leftovers below the manifest's first segment
/// and an empty newest segment whose header never reached the disk.
fn open_segments(
    vfs: &dyn Vfs,
    dir: &Path,
    options: SegmentOptions,
    min_segment_id: u32,
    info: &mut RecoveryInfo,
) -> Result<(BTreeMap<u32, Arc<LogSegment>>, ToSeal)> {
    let mut ids = Vec::new();
    for path in vfs.read_dir(dir).map_err(|e| EngineError::io(dir, e))? {
        if let Some(id) = parse_segment_id(&path) {
            if id < min_segment_id {
                vfs.remove_file(&path)
                    .map_err(|e| EngineError::io(&path, e))?;
            } else {
                ids.push(id);
            }
        }
    }
    ids.sort_unstable();
    let paths: Vec<PathBuf> = ids
        .iter()
        .map(|id| dir.join(segment_file_name(*id)))
        .collect();
    let mut segments = BTreeMap::new();
    let mut to_seal = Vec::new();
    for ((i, id), opened) in ids.iter().enumerate().zip(open_files(vfs, &paths, options)) {
        let path = paths[i].clone();
        let newest = i + 1 == ids.len();
        let (segment, report) = match opened {
            Err(LogError::Corrupt {
                offset: 0,
                reason: DecodeError::Truncated { .. },
                ..
            }) if newest => {
                vfs.remove_file(&path)
                    .map_err(|e| EngineError::io(&path, e))?;
                continue;
            }
            other => other?,
        };
        // Older segments were synced before the next one began, so the
        // only tail a crash can tear there is an interrupted seal.
        if !newest && report.cut_data_frame {
            return Err(LogError::Corrupt {
                path,
                offset: report.data_len_bytes,
                reason: DecodeError::Malformed("damaged tail in a segment that is not the newest"),
            }
            .into());
        }
        info.truncated_bytes += report.truncated_bytes;
        if segment.id() != *id {
            return Err(EngineError::Config(format!(
                "{} holds segment id {}",
                path.display(),
                segment.id()
            )));
        }
        let segment = Arc::new(segment);
        if !newest && !segment.is_sealed() {
            if segment.data_len_bytes() < BACKGROUND_SEAL_BYTES_MIN {
                segment.seal()?;
            } else {
                to_seal.push(segment.clone());
            }
        }
        segments.insert(*id, segment);
    }
    Ok((segments, to_seal))
}

pub(crate) use replay::ExpiringWrite;

/// Puts into `table` the expiring writes that are still the newest of
/// their key in `index`.
fn fill_expiries(table: &ExpiryTable, index: &Index, expiring: Vec<ExpiringWrite>) {
    for (key, version, expires_at_ms) in expiring {
        if index
            .get(&key)
            .is_some_and(|entry| entry.version == version)
        {
            table.set(&key, version, Some(expires_at_ms));
        }
    }
}

/// The expiry time of the write `entry` names: from the table when it
/// holds that version, else from the record itself.
pub(crate) fn entry_expiry(
    table: &ExpiryTable,
    segments: &BTreeMap<u32, Arc<LogSegment>>,
    key: &[u8],
    entry: Entry,
) -> Result<Option<u64>> {
    if !entry.expiring {
        return Ok(None);
    }
    if let Some(at) = table.get(key, entry.version) {
        return Ok(Some(at));
    }
    read_entry(segments, key, entry).map(|versioned| versioned.expires_at_ms)
}

/// Reads the value `entry` points at, checking it belongs to `key`.
pub(crate) fn read_entry(
    segments: &BTreeMap<u32, Arc<LogSegment>>,
    key: &[u8],
    entry: Entry,
) -> Result<Versioned> {
    let location = entry.location;
    let segment = segments
        .get(&location.segment_id)
        .ok_or(LogError::BadLocation {
            segment_id: location.segment_id,
            offset: location.offset,
            len: location.len,
        })?;
    let record = segment.read(location)?;
    if record.key() != key || record.version() != entry.version {
        return Err(LogError::Corrupt {
            path: segment.path().to_path_buf(),
            offset: location.offset as u64,
            reason: DecodeError::Malformed(
                "the index points at a record of another key or version",
            ),
        }
        .into());
    }
    Ok(Versioned {
        expires_at_ms: record.expires_at_ms(),
        value: record.into_value(),
        version: entry.version,
    })
}
