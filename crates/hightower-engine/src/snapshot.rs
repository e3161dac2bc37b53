//! [`Snapshot`]: the key directory and the highest version, persisted so a
//! restart loads it and replays only the log written after it.
//!
//! File `snapshot-<latest version, 20 digits>.snap`, all integers
//! little-endian:
//!
//! ```text
//! header (40 bytes):
//!   magic "HTKVSNP\0" 8 | format version u32 | reserved u32 (0)
//!   latest version u64 | log position: segment id u32, offset u32 | entry count u64
//! entries, in key order:
//!   key_len u32 | key | version u64 | segment id u32 | offset u32 | record len u32
//!   | flags u8 (bit 0: the write expires) | expires_at_ms u64 (when bit 0 is set)
//! trailer:
//!   xxh3-64 of every byte before it (u64)
//! ```
//!
//! The log position is where replay starts: every record at or after it
//! (in that segment and all later ones) is newer than the snapshot.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hightower_index::{Entry, IndexBuilder, IndexSnapshot, Key};
use hightower_log::Location;
use hightower_log::vfs::Vfs;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{EngineError, Result};
use crate::storage::ExpiringWrite;

const MAGIC: [u8; 8] = *b"HTKVSNP\0";
/// The snapshot format version this build writes and reads (version 1,
/// from before expiry, had no flags byte; it is refused, and the store
/// is then rebuilt from the log, which holds everything).
pub const SNAPSHOT_FORMAT_VERSION: u32 = 2;
const HEADER_BYTES: usize = 40;
const ENTRY_FIXED_BYTES: usize = 4 + 8 + 4 + 4 + 4 + 1;
/// Bit 0 of an entry's flags: the write expires; its time follows.
const FLAG_EXPIRING: u8 = 1;

/// Where replay starts after a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogPosition {
    /// The segment.
    pub segment_id: u32,
    /// Byte offset in it.
    pub offset: u32,
}

/// The engine's state as a snapshot holds it: the key directory, the
/// highest version, and the log position it covers.
#[derive(Debug, Clone)]
pub struct KvState {
    /// Highest version committed when the state was taken.
    pub latest_version: u64,
    /// Replay starts here.
    pub position: LogPosition,
    /// Every live key with its version and location.
    pub index: IndexSnapshot,
    /// The expiry time of every entry of `index` marked expiring.
    pub expiries: HashMap<Key, u64>,
}

/// Reading and writing snapshot files.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot;

impl Snapshot {
    /// The file name of a snapshot at `latest_version`.
    pub fn file_name(latest_version: u64) -> String {
        format!("snapshot-{latest_version:020}.snap")
    }

    /// Snapshot files in `dir`, newest first.
    pub fn list(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        for path in vfs.read_dir(dir).map_err(|e| EngineError::io(dir, e))? {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with("snapshot-") && name.ends_with(".snap") {
                found.push(path);
            }
        }
        found.sort();
        found.reverse();
        Ok(found)
    }

    /// Writes `state` to a new snapshot file in `dir` (via a temporary file
    /// and a rename, so a crash never leaves half a snapshot under the
    /// final name). Returns the file's path.
    pub fn write(vfs: &dyn Vfs, dir: &Path, state: &KvState) -> Result<PathBuf> {
        let mut bytes = Vec::with_capacity(HEADER_BYTES + state.index.len() * 48 + 8);
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&state.latest_version.to_le_bytes());
        bytes.extend_from_slice(&state.position.segment_id.to_le_bytes());
        bytes.extend_from_slice(&state.position.offset.to_le_bytes());
        bytes.extend_from_slice(&(state.index.len() as u64).to_le_bytes());
        for (key, entry) in state.index.iter() {
            assert!(
                entry.version <= state.latest_version,
                "no entry is newer than the snapshot"
            );
            bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&key);
            bytes.extend_from_slice(&entry.version.to_le_bytes());
            bytes.extend_from_slice(&entry.location.segment_id.to_le_bytes());
            bytes.extend_from_slice(&entry.location.offset.to_le_bytes());
            bytes.extend_from_slice(&entry.location.len.to_le_bytes());
            if entry.expiring {
                let at = state
                    .expiries
                    .get(&key)
                    .ok_or_else(|| EngineError::Snapshot {
                        path: dir.to_path_buf(),
                        reason: "an expiring entry without its time".to_string(),
                    })?;
                bytes.push(FLAG_EXPIRING);
                bytes.extend_from_slice(&at.to_le_bytes());
            } else {
                bytes.push(0);
            }
        }
        let checksum = xxh3_64(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());

        let path = dir.join(Self::file_name(state.latest_version));
        let tmp = path.with_extension("snap.tmp");
        let _ = vfs.remove_file(&tmp);
        let file = vfs.create_new(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
        file.write_all_at(&bytes, 0)
            .map_err(|e| EngineError::io(&tmp, e))?;
        file.sync_data().map_err(|e| EngineError::io(&tmp, e))?;
        vfs.rename(&tmp, &path)
            .map_err(|e| EngineError::io(&path, e))?;
        vfs.sync_dir(dir).map_err(|e| EngineError::io(dir, e))?;
        Ok(path)
    }

    /// Loads and verifies a snapshot file, refusing unknown format versions.
    pub fn load(vfs: &dyn Vfs, path: &Path) -> Result<KvState> {
        let mut builder = IndexBuilder::new();
        let mut expiring = Vec::new();
        let (latest_version, position) = Self::load_into(vfs, path, &mut builder, &mut expiring)?;
        Ok(KvState {
            latest_version,
            position,
            index: builder.build(),
            expiries: expiring.into_iter().map(|(key, _, at)| (key, at)).collect(),
        })
    }

    /// Loads a snapshot file into `builder`, and its expiring entries into
    /// `expiring`; returns its latest version and log position. On error
    /// the builder may hold part of the entries.
    pub(crate) fn load_into(
        vfs: &dyn Vfs,
        path: &Path,
        builder: &mut IndexBuilder,
        expiring: &mut Vec<ExpiringWrite>,
    ) -> Result<(u64, LogPosition)> {
        let bytes = vfs.read(path).map_err(|e| EngineError::io(path, e))?;
        Self::decode_into(&bytes, builder, expiring).map_err(|reason| EngineError::Snapshot {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Decodes snapshot bytes (the whole file) into `builder` and
    /// `expiring`.
    pub(crate) fn decode_into(
        bytes: &[u8],
        builder: &mut IndexBuilder,
        expiring: &mut Vec<ExpiringWrite>,
    ) -> std::result::Result<(u64, LogPosition), String> {
        if bytes.len() < HEADER_BYTES + 8 || bytes[..8] != MAGIC {
            return Err("not a snapshot file (bad size or magic)".into());
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != SNAPSHOT_FORMAT_VERSION {
            return Err(format!(
                "format version {version}; this build reads version {SNAPSHOT_FORMAT_VERSION}"
            ));
        }
        let body_end = bytes.len() - 8;
        let (stored, actual) = (u64_at(body_end), xxh3_64(&bytes[..body_end]));
        if stored != actual {
            return Err(format!(
                "checksum mismatch: stored {stored:#018x}, computed {actual:#018x}"
            ));
        }
        let latest_version = u64_at(16);
        let position = LogPosition {
            segment_id: u32_at(24),
            offset: u32_at(28),
        };
        let count = u64_at(32);
        if count > (body_end - HEADER_BYTES) as u64 / ENTRY_FIXED_BYTES as u64 {
            return Err("entry count larger than the file".into());
        }
        let mut at = HEADER_BYTES;
        for _ in 0..count {
            let key_len = u32_at(at) as usize;
            if key_len == 0 || at + ENTRY_FIXED_BYTES + key_len > body_end {
                return Err(format!(
                    "entry at byte {at} is cut short or has an empty key"
                ));
            }
            let key = &bytes[at + 4..at + 4 + key_len];
            let fixed = at + 4 + key_len;
            let entry = Entry {
                version: u64_at(fixed),
                location: Location {
                    segment_id: u32_at(fixed + 8),
                    offset: u32_at(fixed + 12),
                    len: u32_at(fixed + 16),
                },
                expiring: bytes[fixed + 20] == FLAG_EXPIRING,
            };
            if entry.version > latest_version {
                return Err(format!("entry at byte {at} is newer than the snapshot"));
            }
            match bytes[fixed + 20] {
                0 => {
                    builder.observe(key, entry.version, Some(entry.location));
                    at = fixed + 21;
                }
                FLAG_EXPIRING if fixed + 29 <= body_end => {
                    builder.observe_expiring(key, entry.version, entry.location);
                    expiring.push((Key::from_slice(key), entry.version, u64_at(fixed + 21)));
                    at = fixed + 29;
                }
                flags => {
                    return Err(format!(
                        "entry at byte {at} has flags {flags:#04x} or is cut short"
                    ));
                }
            }
        }
        if at != body_end {
            return Err("bytes left after the last entry".into());
        }
        Ok((latest_version, position))
    }
}
