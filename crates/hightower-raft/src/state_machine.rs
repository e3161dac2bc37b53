//! [`EngineStateMachine`]: the Raft state machine over an engine.
//!
//! # Applying, and the versions it gives
//!
//! Each normal entry is one engine batch: the entry's commands and then a
//! put of the machine's metadata (the last applied log id and the
//! membership) under [`RAFT_META_KEY`], at the version after the engine's
//! latest. Data and metadata commit together, so after a crash the engine
//! holds exactly the entries up to its recorded last applied id and
//! openraft re-applies the rest from the log. Every node applies the same
//! entries to the same state in the same order, so every node gives the
//! same versions; a store that was a single node keeps counting up from
//! its own versions.
//!
//! A batch whose condition does not hold ([`Response::Conflict`]), or
//! that breaks a rule every node checks alike ([`Response::Refused`]: an
//! empty batch, a size limit, a key under [`RAFT_PREFIX`]), writes only the
//! metadata. Blank and membership entries write only the metadata. The
//! conditions are checked here, at apply time, so compare-and-set and
//! WATCH/EXEC stay linearizable in the group.
//!
//! # Snapshots
//!
//! A snapshot is the engine's point-in-time view (metadata key included),
//! taken with compaction held off, after which the engine is fsynced, so
//! the state a snapshot names is durable before openraft purges the log
//! behind it. Its bytes ([`SnapshotBody`]) are kept in memory and in one
//! file of the snapshot directory, replaced by rename, so a restarted node
//! can still send it. Installing one replaces the engine's state through
//! the engine's crash-atomic install.
//!
//! Limit: a snapshot is built and received whole in memory (keys, values
//! and versions of every live key).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hightower_engine::{
    AdminEngine, Command, EngineError, KeyValue, KvEngine, SnapshotEngine, WriteBatch,
};
use hightower_log::LogError;
use hightower_log::vfs::Vfs;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{OptionalSend, RaftLogId};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::types::{
    Entry, EntryPayload, LogId, Request, Response, Snapshot, SnapshotMeta, StorageError,
    StorageIoError, StoredMembership, TypeConfig, encode, storage_error,
};

/// Keys under this prefix belong to the Raft group; no client command may
/// touch them.
pub const RAFT_PREFIX: &[u8] = b"\xffraft/";

/// The key of the state machine's metadata.
pub const RAFT_META_KEY: &[u8] = b"\xffraft/applied";

/// The name of the current snapshot's file in the snapshot directory.
const SNAPSHOT_FILE: &str = "snapshot";

/// What an engine must offer to serve as a Raft state machine.
pub trait MachineEngine: KvEngine + SnapshotEngine + AdminEngine {}

impl<E: KvEngine + SnapshotEngine + AdminEngine> MachineEngine for E {}

/// The metadata the state machine keeps beside the data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineMeta {
    /// The last entry applied.
    pub last_applied: Option<LogId>,
    /// The membership of the last membership entry applied.
    pub membership: StoredMembership,
}

/// One key of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotKey {
    /// The key.
    pub key: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
    /// Its version.
    pub version: u64,
    /// Its expiry time, milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

/// The bytes of a snapshot: the engine's version and every live key in
/// key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotBody {
    /// Every write at or below this version is in the snapshot.
    pub version: u64,
    /// The keys, ascending.
    pub keys: Vec<SnapshotKey>,
}

/// A snapshot as the machine keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// The Raft state machine of one node. Clones share the same machine
/// (openraft builds snapshots through a clone).
#[derive(Clone)]
pub struct EngineStateMachine {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Arc<dyn MachineEngine>,
    vfs: Arc<dyn Vfs>,
    snapshot_dir: PathBuf,
    current: Mutex<Option<StoredSnapshot>>,
    snapshots_built: AtomicU64,
}

impl std::fmt::Debug for EngineStateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineStateMachine")
            .field("snapshot_dir", &self.shared.snapshot_dir)
            .finish_non_exhaustive()
    }
}

fn write_error(error: impl std::fmt::Display) -> StorageError {
    storage_error(|e| StorageIoError::write_state_machine(e), error)
}

fn read_error(error: impl std::fmt::Display) -> StorageError {
    storage_error(|e| StorageIoError::read_state_machine(e), error)
}

fn snapshot_error(error: impl std::fmt::Display) -> StorageError {
    storage_error(|e| StorageIoError::read_snapshot(None, e), error)
}

impl EngineStateMachine {
    /// The machine over `engine`, keeping its snapshot in `snapshot_dir`
    /// (created when missing). The engine must not delete expired keys by
    /// itself (`expiry_sweep_keys_per_second` 0): every change of a
    /// replicated state goes through the log.
    pub fn open(
        engine: Arc<dyn MachineEngine>,
        vfs: Arc<dyn Vfs>,
        snapshot_dir: impl Into<PathBuf>,
    ) -> Result<Self, StorageError> {
        if engine.config().expiry_sweep_keys_per_second != 0 {
            return Err(write_error(
                "a replicated engine must not sweep expired keys by itself \
                 (set expiry_sweep_keys_per_second to 0)",
            ));
        }
        let snapshot_dir = snapshot_dir.into();
        hightower_log::vfs::create_dir_durably(vfs.as_ref(), &snapshot_dir)
            .map_err(|e| write_error(format!("creating {}: {e}", snapshot_dir.display())))?;
        let current = read_stored(vfs.as_ref(), &snapshot_dir)?;
        Ok(EngineStateMachine {
            shared: Arc::new(Shared {
                engine,
                vfs,
                snapshot_dir,
                current: Mutex::new(current),
                snapshots_built: AtomicU64::new(0),
            }),
        })
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Arc<dyn MachineEngine> {
        &self.shared.engine
    }

    /// The metadata the engine holds now.
    pub fn meta(&self) -> Result<MachineMeta, StorageError> {
        match self.shared.engine.get(RAFT_META_KEY).map_err(read_error)? {
            None => Ok(MachineMeta::default()),
            Some(stored) => postcard::from_bytes(&stored.value).map_err(read_error),
        }
    }

    fn apply_one(&self, meta: &mut MachineMeta, entry: Entry) -> Result<Response, StorageError> {
        let log_id = *entry.get_log_id();
        meta.last_applied = Some(log_id);
        let request = match entry.payload {
            EntryPayload::Normal(request) => request,
            EntryPayload::Membership(membership) => {
                meta.membership = StoredMembership::new(Some(log_id), membership);
                self.commit(WriteBatch::new(), meta)?;
                return Ok(Response::Membership);
            }
            EntryPayload::Blank => {
                self.commit(WriteBatch::new(), meta)?;
                return Ok(Response::Membership);
            }
        };
        if let Err(reason) = check_request(&request) {
            self.commit(WriteBatch::new(), meta)?;
            return Ok(Response::Refused { reason });
        }
        let n_commands = request.commands.len();
        let commands: Vec<Command> = request.commands.into_iter().map(Command::from).collect();
        let mut batch = WriteBatch::from(commands.as_slice());
        batch.judge_expiry_at(request.judged_at_ms);
        if request.sees_expired {
            batch.see_expired();
        }
        match self.commit(batch, meta) {
            Ok(committed) => Ok(Response::Applied {
                first_version: committed.first_version,
                // The metadata put is the batch's last write.
                count: committed.count - 1,
            }),
            Err(Refusal::Conflict(response)) => {
                self.commit(WriteBatch::new(), meta)?;
                Ok(response)
            }
            Err(Refusal::Refused(reason)) => {
                self.commit(WriteBatch::new(), meta)?;
                tracing::debug!(n_commands, %reason, "a replicated batch was refused");
                Ok(Response::Refused { reason })
            }
            Err(Refusal::Failed(error)) => Err(error),
        }
    }

    /// Commits `batch` and then the metadata as one batch at the next
    /// version.
    fn commit(
        &self,
        mut batch: WriteBatch,
        meta: &MachineMeta,
    ) -> Result<hightower_engine::Committed, Refusal> {
        batch.put(RAFT_META_KEY, &encode(meta));
        let engine = &self.shared.engine;
        let next = engine.latest_version() + 1;
        engine
            .apply_batch_at(next, &batch)
            .map_err(|error| match error {
                EngineError::VersionConflict {
                    key,
                    expected,
                    actual,
                } => Refusal::Conflict(Response::Conflict {
                    key: key.0,
                    expected: expected.into(),
                    actual,
                }),
                EngineError::EmptyBatch
                | EngineError::Log(
                    LogError::EmptyKey
                    | LogError::KeyTooLarge { .. }
                    | LogError::ValueTooLarge { .. }
                    | LogError::BadBatch { .. },
                ) => Refusal::Refused(error.to_string()),
                other => Refusal::Failed(write_error(other)),
            })
    }

    fn build(&self) -> Result<Snapshot, StorageError> {
        let engine = &self.shared.engine;
        let _held = engine.hold_compaction();
        let view = engine.snapshot_state().map_err(read_error)?;
        // Everything the view holds becomes durable before openraft may
        // purge the log entries behind it.
        engine.sync().map_err(write_error)?;
        let meta: MachineMeta = match view.get(RAFT_META_KEY).map_err(read_error)? {
            None => MachineMeta::default(),
            Some(stored) => postcard::from_bytes(&stored.value).map_err(read_error)?,
        };
        let keys = view
            .iter()
            .map(|kv| {
                kv.map(|kv| SnapshotKey {
                    key: kv.key,
                    value: kv.value,
                    version: kv.version,
                    expires_at_ms: kv.expires_at_ms,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(read_error)?;
        let data = encode(&SnapshotBody {
            version: view.version(),
            keys,
        });
        let built = self.shared.snapshots_built.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot_id = match meta.last_applied {
            Some(id) => format!("{}-{}-{built}", id.leader_id, id.index),
            None => format!("none-{built}"),
        };
        let stored = StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: meta.last_applied,
                last_membership: meta.membership,
                snapshot_id,
            },
            data,
        };
        self.keep(stored.clone())?;
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }

    /// Makes `stored` the current snapshot, on disk first.
    fn keep(&self, stored: StoredSnapshot) -> Result<(), StorageError> {
        let mut current = self.shared.current.lock();
        let newer = match &*current {
            None => true,
            Some(existing) => existing.meta.last_log_id <= stored.meta.last_log_id,
        };
        if newer {
            write_stored(self.shared.vfs.as_ref(), &self.shared.snapshot_dir, &stored)?;
            *current = Some(stored);
        }
        Ok(())
    }

    fn install(&self, meta: &SnapshotMeta, data: Vec<u8>) -> Result<(), StorageError> {
        let body: SnapshotBody = postcard::from_bytes(&data).map_err(snapshot_error)?;
        let inside = body
            .keys
            .binary_search_by(|kv| kv.key.as_slice().cmp(RAFT_META_KEY))
            .ok()
            .map(|at| postcard::from_bytes::<MachineMeta>(&body.keys[at].value))
            .transpose()
            .map_err(snapshot_error)?
            .unwrap_or_default();
        if inside.last_applied != meta.last_log_id {
            return Err(snapshot_error(format!(
                "the snapshot's data is at {:?} but its metadata names {:?}",
                inside.last_applied, meta.last_log_id
            )));
        }
        let mut keys = body.keys.into_iter().map(|kv| KeyValue {
            key: kv.key,
            value: kv.value,
            version: kv.version,
            expires_at_ms: kv.expires_at_ms,
        });
        let engine = &self.shared.engine;
        engine
            .install_snapshot(body.version, &mut keys)
            .map_err(write_error)?;
        // openraft drops the log behind the snapshot next: the installed
        // state must not be lost to a crash, whatever the engine's own
        // durability.
        engine.sync().map_err(write_error)?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.keep(stored)
    }
}

/// Why a batch did not commit.
enum Refusal {
    Conflict(Response),
    Refused(String),
    Failed(StorageError),
}

impl From<Refusal> for StorageError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Failed(error) => error,
            // The metadata-only batch has no condition and stays in the
            // limits; were it refused, the machine could not go on.
            Refusal::Conflict(response) => write_error(format!("{response:?}")),
            Refusal::Refused(reason) => write_error(reason),
        }
    }
}

/// The rules every node checks alike before it applies a client batch.
pub(crate) fn check_request(request: &Request) -> Result<(), String> {
    if request.commands.is_empty() {
        return Err("an empty batch".to_string());
    }
    if request
        .commands
        .iter()
        .any(|command| command.key().starts_with(RAFT_PREFIX))
    {
        return Err("keys under the Raft group's reserved prefix are not writable".to_string());
    }
    Ok(())
}

fn read_stored(vfs: &dyn Vfs, dir: &Path) -> Result<Option<StoredSnapshot>, StorageError> {
    let path = dir.join(SNAPSHOT_FILE);
    match vfs.read(&path) {
        Ok(bytes) => postcard::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| snapshot_error(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(snapshot_error(format!("{}: {e}", path.display()))),
    }
}

fn write_stored(vfs: &dyn Vfs, dir: &Path, stored: &StoredSnapshot) -> Result<(), StorageError> {
    let path = dir.join(SNAPSHOT_FILE);
    let temporary = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    let failed = |e: std::io::Error| write_error(format!("{}: {e}", temporary.display()));
    hightower_log::vfs::removed_if_present(vfs.remove_file(&temporary)).map_err(failed)?;
    let file = vfs.create_new(&temporary).map_err(failed)?;
    file.write_all_at(&encode(stored), 0).map_err(failed)?;
    file.sync_data().map_err(failed)?;
    drop(file);
    vfs.rename(&temporary, &path).map_err(failed)?;
    vfs.sync_dir(dir).map_err(failed)?;
    Ok(())
}

impl RaftSnapshotBuilder<TypeConfig> for EngineStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        self.build()
    }
}

impl RaftStateMachine<TypeConfig> for EngineStateMachine {
    type SnapshotBuilder = EngineStateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let meta = self.meta()?;
        Ok((meta.last_applied, meta.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut meta = self.meta()?;
        entries
            .into_iter()
            .map(|entry| self.apply_one(&mut meta, entry))
            .collect()
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        self.install(meta, snapshot.into_inner())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        Ok(self.shared.current.lock().clone().map(|stored| Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}
