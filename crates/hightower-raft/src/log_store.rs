//! [`RaftLogStore`]: the Raft log, its vote and its purge point, kept in
//! `hightower-log` segments of their own (a directory apart from the
//! engine's data segments).
//!
//! # What is durable when
//!
//! Every change is one record appended to the active segment, and the
//! records of one segment are never reordered, so the log's history is
//! the order of its records:
//!
//! - `save_vote` returns only after the vote's record is fsynced;
//! - `append` fires its callback only after the entries' frame (one frame
//!   for the whole call, so a crash keeps all of it or none) is fsynced;
//! - `truncate` and `purge` are fsynced before they return, and segments
//!   are deleted only after the purge point that frees them is durable;
//! - `save_committed` is written and made durable by the next fsync: a
//!   committed index read back is never above what was committed.
//!
//! # Records
//!
//! Each record is a put of the `hightower-log` format; its version is the
//! store's own sequence number, which rises across segments. Keys:
//! `vote`, `committed`, `purged` (postcard of the value), `truncate` (the
//! first index removed, 8 bytes big-endian), and `e` followed by the
//! entry's index (8 bytes big-endian) for an entry (postcard of the
//! openraft entry). Replay applies them in order: a truncate removes the
//! entries at and above its index, a purge those at and below its log id.
//!
//! # Segments
//!
//! The active segment rolls at [`LogStoreOptions::segment_bytes_max`];
//! every new segment, and every open, starts a fresh segment whose first
//! frame repeats the vote, the committed id and the purge point, so an
//! older segment is needed only for its entries. The oldest segments go
//! once every entry they hold is at or below the purge point. A newest
//! segment whose header is incomplete (its creation failed or was cut
//! short) holds nothing and is removed at open.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hightower_log::vfs::{StdVfs, Vfs};
use hightower_log::{
    DecodeError, Limits, Location, LogError, LogSegment, Mutation, SegmentOptions,
};
use openraft::storage::{RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, RaftLogId};
use parking_lot::Mutex;

use crate::types::{
    Entry, LogFlushed, LogId, LogState, StorageError, StorageIoError, TypeConfig, Vote, encode,
    storage_error,
};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_PURGED: &[u8] = b"purged";
const KEY_TRUNCATE: &[u8] = b"truncate";
const ENTRY_KEY_TAG: u8 = b'e';

/// Settings of a [`RaftLogStore`].
#[derive(Debug, Clone)]
pub struct LogStoreOptions {
    /// A segment rolls once its data reaches this many bytes.
    pub segment_bytes_max: u64,
    /// Size limits of one record; an entry is one record, so its encoded
    /// size is bounded by `value_bytes_max`.
    pub limits: Limits,
    /// The file system.
    pub vfs: Arc<dyn Vfs>,
}

impl Default for LogStoreOptions {
    fn default() -> Self {
        LogStoreOptions {
            segment_bytes_max: 64 << 20,
            limits: Limits {
                key_bytes_max: 64,
                value_bytes_max: 128 << 20,
                batch_bytes_max: 512 << 20,
            },
            vfs: Arc::new(StdVfs::default()),
        }
    }
}

/// The Raft log of one node. Clones share the same log; openraft reads
/// through clones (the log reader) while it appends through the original.
#[derive(Clone)]
pub struct RaftLogStore {
    shared: Arc<Shared>,
}

impl Debug for RaftLogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("RaftLogStore")
            .field("dir", &self.shared.dir)
            .field("segments", &state.segments.len())
            .field("entries", &state.entries.len())
            .field("purged", &state.purged)
            .finish_non_exhaustive()
    }
}

struct Shared {
    dir: PathBuf,
    options: LogStoreOptions,
    state: Mutex<State>,
}

struct Slot {
    segment: Arc<LogSegment>,
    /// The highest entry index written to the segment.
    max_index: Option<u64>,
}

/// Where one entry lies.
#[derive(Clone, Copy)]
struct Stored {
    log_id: LogId,
    segment_id: u32,
    location: Location,
}

struct State {
    /// Ascending ids; the last is the active one.
    segments: Vec<Slot>,
    entries: BTreeMap<u64, Stored>,
    vote: Option<Vote>,
    committed: Option<LogId>,
    purged: Option<LogId>,
    next_sequence: u64,
}

fn write_error(error: impl std::fmt::Display) -> StorageError {
    storage_error(|e| StorageIoError::write_logs(e), error)
}

fn read_error(error: impl std::fmt::Display) -> StorageError {
    storage_error(|e| StorageIoError::read_logs(e), error)
}

fn entry_key(index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = ENTRY_KEY_TAG;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:010}.log"))
}

fn segment_id_of(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".log")?;
    (stem.len() == 10 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

impl RaftLogStore {
    /// Opens the log in `dir` (created when missing) with default
    /// settings.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        Self::open_with(dir, LogStoreOptions::default())
    }

    /// Opens the log in `dir` (created when missing): replays every
    /// segment in order, cuts a torn frame off the newest one, and starts
    /// a fresh active segment. Damage anywhere else fails the open.
    pub fn open_with(
        dir: impl Into<PathBuf>,
        options: LogStoreOptions,
    ) -> Result<Self, StorageError> {
        let dir = dir.into();
        let vfs = options.vfs.clone();
        hightower_log::vfs::create_dir_durably(vfs.as_ref(), &dir)
            .map_err(|e| write_error(format!("creating {}: {e}", dir.display())))?;
        let mut ids: Vec<u32> = vfs
            .read_dir(&dir)
            .map_err(|e| read_error(format!("listing {}: {e}", dir.display())))?
            .iter()
            .filter_map(|path| segment_id_of(path))
            .collect();
        ids.sort_unstable();
        let mut state = State {
            segments: Vec::with_capacity(ids.len() + 1),
            entries: BTreeMap::new(),
            vote: None,
            committed: None,
            purged: None,
            next_sequence: 1,
        };
        let segment_options = segment_options(&options);
        for (position, &id) in ids.iter().enumerate() {
            let path = segment_path(&dir, id);
            let newest = position + 1 == ids.len();
            let (segment, report) = match LogSegment::open(vfs.as_ref(), &path, segment_options) {
                // A segment whose creation stopped before its header was
                // whole (a failed write, a full disk, a power cut) holds
                // nothing; it goes, and the next segment takes its id.
                Err(LogError::Corrupt {
                    offset: 0,
                    reason: DecodeError::Truncated { .. },
                    ..
                }) if newest => {
                    vfs.remove_file(&path)
                        .and_then(|()| vfs.sync_dir(&dir))
                        .map_err(|e| write_error(format!("removing {}: {e}", path.display())))?;
                    continue;
                }
                opened => opened.map_err(read_error)?,
            };
            if report.cut_data_frame && !newest {
                return Err(read_error(format!(
                    "{}: a torn frame in a segment that is not the newest",
                    path.display()
                )));
            }
            let max_index = state.replay(&segment)?;
            state.segments.push(Slot {
                segment: Arc::new(segment),
                max_index,
            });
        }
        let shared = Shared {
            dir,
            options,
            state: Mutex::new(state),
        };
        {
            let mut state = shared.state.lock();
            shared.start_segment(&mut state).map_err(write_error)?;
            shared.drop_purged_segments(&mut state)?;
        }
        Ok(RaftLogStore {
            shared: Arc::new(shared),
        })
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The committed log id last saved.
    pub fn committed(&self) -> Option<LogId> {
        self.shared.state.lock().committed
    }

    /// Number of segment files the log keeps now.
    pub fn segment_count(&self) -> usize {
        self.shared.state.lock().segments.len()
    }

    fn read_range(&self, range: impl RangeBounds<u64>) -> Result<Vec<Entry>, StorageError> {
        let wanted: Vec<(Arc<LogSegment>, Location)> = {
            let state = self.shared.state.lock();
            state
                .entries
                .range((range.start_bound().cloned(), range.end_bound().cloned()))
                .map(|(_, stored)| Ok((state.segment(stored.segment_id)?, stored.location)))
                .collect::<Result<_, StorageError>>()?
        };
        wanted
            .into_iter()
            .map(|(segment, location)| {
                let record = segment.read(location).map_err(read_error)?;
                postcard::from_bytes(record.value()).map_err(read_error)
            })
            .collect()
    }
}

fn segment_options(options: &LogStoreOptions) -> SegmentOptions {
    SegmentOptions {
        limits: options.limits,
        // Every write is fsynced at once, so nothing waits in a buffer.
        write_buffer_bytes: 0,
        ..SegmentOptions::default()
    }
}

impl State {
    fn segment(&self, id: u32) -> Result<Arc<LogSegment>, StorageError> {
        self.segments
            .binary_search_by_key(&id, |slot| slot.segment.id())
            .map(|at| self.segments[at].segment.clone())
            .map_err(|_| read_error(format!("segment {id} of the Raft log is gone")))
    }

    fn active(&mut self) -> &mut Slot {
        self.segments
            .last_mut()
            .expect("an open log store always has an active segment")
    }

    /// Applies one segment's records in order; returns the highest entry
    /// index it holds.
    fn replay(&mut self, segment: &LogSegment) -> Result<Option<u64>, StorageError> {
        let mut max_index = None;
        let segment_id = segment.id();
        segment
            .scan(|location, record| {
                self.next_sequence = self.next_sequence.max(record.version + 1);
                let corrupt = |what: &str| LogError::Io {
                    path: segment.path().to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("the Raft log record at offset {}: {what}", location.offset),
                    ),
                };
                match record.key {
                    KEY_VOTE => self.vote = Some(decode(record.value, &corrupt)?),
                    KEY_COMMITTED => self.committed = decode(record.value, &corrupt)?,
                    KEY_PURGED => {
                        let purged: Option<LogId> = decode(record.value, &corrupt)?;
                        if let Some(purged) = purged {
                            self.remove_through(purged.index);
                        }
                        self.purged = purged;
                    }
                    KEY_TRUNCATE => {
                        let bytes: [u8; 8] = record
                            .value
                            .try_into()
                            .map_err(|_| corrupt("a truncate record of the wrong length"))?;
                        self.entries.split_off(&u64::from_be_bytes(bytes));
                    }
                    [ENTRY_KEY_TAG, index @ ..] if index.len() == 8 => {
                        let entry: Entry = decode(record.value, &corrupt)?;
                        let index = u64::from_be_bytes(index.try_into().expect("8 bytes"));
                        if entry.log_id.index != index {
                            return Err(corrupt("an entry under another index's key"));
                        }
                        max_index = max_index.max(Some(index));
                        self.entries.insert(
                            index,
                            Stored {
                                log_id: entry.log_id,
                                segment_id,
                                location,
                            },
                        );
                    }
                    _ => return Err(corrupt("an unknown key")),
                }
                Ok(())
            })
            .map_err(read_error)?;
        Ok(max_index)
    }

    fn remove_through(&mut self, index: u64) {
        self.entries = self.entries.split_off(&(index.saturating_add(1)));
        if index == u64::MAX {
            self.entries.clear();
        }
    }

    fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .last_key_value()
            .map(|(_, stored)| stored.log_id)
            .or(self.purged)
    }
}

impl Shared {
    /// Appends `records` as one frame (one record alone, several as an
    /// atomic batch), fsyncs, and rolls the segment when it is full.
    /// Returns where each record lies.
    fn write(
        &self,
        state: &mut State,
        records: &[(&[u8], &[u8])],
    ) -> Result<Vec<Location>, LogError> {
        let sequence = state.next_sequence;
        let mutations: Vec<Mutation<'_>> = records
            .iter()
            .map(|&(key, value)| Mutation::Put { key, value })
            .collect();
        let active = state.active();
        let locations = match mutations.as_slice() {
            [one] => vec![active.segment.append(sequence, one)?],
            many => active.segment.append_batch(sequence, many)?,
        };
        active.segment.sync()?;
        state.next_sequence = sequence + records.len() as u64;
        Ok(locations)
    }

    /// Seals the active segment, if any, and starts the next one with the
    /// vote, the committed id and the purge point.
    fn start_segment(&self, state: &mut State) -> Result<(), LogError> {
        let next_id = match state.segments.last() {
            Some(slot) => {
                if !slot.segment.is_sealed() {
                    slot.segment.seal()?;
                }
                slot.segment
                    .id()
                    .checked_add(1)
                    .ok_or_else(|| LogError::Io {
                        path: self.dir.clone(),
                        source: io::Error::other("segment ids of the Raft log are exhausted"),
                    })?
            }
            None => 1,
        };
        let path = segment_path(&self.dir, next_id);
        let segment = LogSegment::create(
            self.options.vfs.as_ref(),
            &path,
            next_id,
            segment_options(&self.options),
        )?;
        state.segments.push(Slot {
            segment: Arc::new(segment),
            max_index: None,
        });
        let vote = state.vote.as_ref().map(encode);
        let committed = encode(&state.committed);
        let purged = encode(&state.purged);
        let mut records: Vec<(&[u8], &[u8])> =
            vec![(KEY_COMMITTED, &committed), (KEY_PURGED, &purged)];
        if let Some(vote) = &vote {
            records.push((KEY_VOTE, vote));
        }
        self.write(state, &records)?;
        Ok(())
    }

    fn roll_if_full(&self, state: &mut State) -> Result<(), LogError> {
        if state.active().segment.data_len_bytes() >= self.options.segment_bytes_max {
            self.start_segment(state)?;
        }
        Ok(())
    }

    /// Deletes the oldest segments while every entry they hold is at or
    /// below the purge point. The active segment always stays.
    fn drop_purged_segments(&self, state: &mut State) -> Result<(), StorageError> {
        let purged = state.purged.map(|id| id.index);
        let mut n_dropped = 0;
        for slot in &state.segments[..state.segments.len() - 1] {
            let freed = match slot.max_index {
                None => true,
                Some(max) => purged.is_some_and(|purged| max <= purged),
            };
            if !freed {
                break;
            }
            n_dropped += 1;
        }
        if n_dropped == 0 {
            return Ok(());
        }
        for slot in state.segments.drain(..n_dropped) {
            let path = slot.segment.path().to_path_buf();
            self.options
                .vfs
                .remove_file(&path)
                .map_err(|e| write_error(format!("removing {}: {e}", path.display())))?;
        }
        self.options
            .vfs
            .sync_dir(&self.dir)
            .map_err(|e| write_error(format!("syncing {}: {e}", self.dir.display())))?;
        Ok(())
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    value: &[u8],
    corrupt: &dyn Fn(&str) -> LogError,
) -> Result<T, LogError> {
    postcard::from_bytes(value).map_err(|e| corrupt(&e.to_string()))
}

impl RaftLogReader<TypeConfig> for RaftLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read_range(range)
    }
}

impl RaftLogStorage<TypeConfig> for RaftLogStore {
    type LogReader = RaftLogStore;

    async fn get_log_state(&mut self) -> Result<LogState, StorageError> {
        let state = self.shared.state.lock();
        Ok(LogState {
            last_purged_log_id: state.purged,
            last_log_id: state.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut state = self.shared.state.lock();
        let value = encode(vote);
        self.shared
            .write(&mut state, &[(KEY_VOTE, &value)])
            .map_err(|e| storage_error(|e| StorageIoError::write_vote(e), e))?;
        state.vote = Some(*vote);
        self.shared.roll_if_full(&mut state).map_err(write_error)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.shared.state.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut state = self.shared.state.lock();
        let value = encode(&committed);
        self.shared
            .write(&mut state, &[(KEY_COMMITTED, &value)])
            .map_err(write_error)?;
        state.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.shared.state.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let encoded: Vec<([u8; 9], Vec<u8>)> = entries
            .iter()
            .map(|entry| (entry_key(entry.get_log_id().index), encode(entry)))
            .collect();
        let records: Vec<(&[u8], &[u8])> = encoded
            .iter()
            .map(|(key, value)| (key.as_slice(), value.as_slice()))
            .collect();
        let mut state = self.shared.state.lock();
        let outcome = if records.is_empty() {
            Ok(Vec::new())
        } else {
            self.shared.write(&mut state, &records)
        };
        let locations = match outcome {
            Ok(locations) => locations,
            Err(error) => {
                let message = error.to_string();
                callback.log_io_completed(Err(io::Error::other(message.clone())));
                return Err(write_error(message));
            }
        };
        let segment_id = state.active().segment.id();
        for (entry, location) in entries.iter().zip(locations) {
            let index = entry.get_log_id().index;
            state.active().max_index = state.active().max_index.max(Some(index));
            state.entries.insert(
                index,
                Stored {
                    log_id: *entry.get_log_id(),
                    segment_id,
                    location,
                },
            );
        }
        callback.log_io_completed(Ok(()));
        self.shared.roll_if_full(&mut state).map_err(write_error)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut state = self.shared.state.lock();
        let value = log_id.index.to_be_bytes();
        self.shared
            .write(&mut state, &[(KEY_TRUNCATE, &value)])
            .map_err(write_error)?;
        state.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut state = self.shared.state.lock();
        if state
            .purged
            .is_some_and(|purged| purged.index >= log_id.index)
        {
            return Ok(());
        }
        let value = encode(&Some(log_id));
        self.shared
            .write(&mut state, &[(KEY_PURGED, &value)])
            .map_err(write_error)?;
        state.remove_through(log_id.index);
        state.purged = Some(log_id);
        self.shared.drop_purged_segments(&mut state)
    }
}
