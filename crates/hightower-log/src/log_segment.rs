//! [`LogSegment`]: one append-only segment file.
//!
//! A segment starts with a 32-byte header (magic, format version, segment
//! id, the segment's checksum secret, header checksum; see [`header`]),
//! holds frames (see [`crate::record`]) one after another, and once
//! sealed ends with a footer and trailer (see [`crate::footer`]).
//!
//! One writer appends while any number of readers read by [`Location`]:
//! appends go to an in-memory buffer that is written to the file when it
//! fills, on [`LogSegment::flush`] and on [`LogSegment::sync`]; readers use
//! positioned reads for bytes already in the file and copy from the buffer
//! otherwise. A failed write or fsync poisons the segment: it refuses later
//! writes, because what reached the disk is no longer known.
//!
//! The code is split by role: [`header`] (the header codec), `writer`
//! (appends, flushes, fsyncs), `seal` (footer and trailer, written and
//! read back), `read` (reads by location, locate, scans, verify) and
//! `recovery` (the scan at open that tells a torn tail from damage).

mod header;
mod read;
mod recovery;
mod seal;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use crate::Location;
use crate::error::{LogError, Result};
use crate::footer::Footer;
use crate::footer::Hint;
use crate::record::{Checksums, Limits};
use crate::vfs::{FileIo, Vfs};

pub use read::RecordBuf;
use seal::Sealed;
use writer::Writer;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"HTKVSEG\0";
/// The segment format version this build writes. It also reads format 1
/// (see [`header`]).
pub const SEGMENT_FORMAT_VERSION: u32 = 3;
/// Largest data region of a segment: offsets fit in 32 bits with room
/// left for the footer.
pub const SEGMENT_DATA_BYTES_MAX: u64 = 3 << 30;
const _: () = assert!(SEGMENT_HEADER_BYTES == 8 + 4 + 4 + 8 + 8);

/// Tuning of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentOptions {
    /// Key, value and batch size limits.
    pub limits: Limits,
    /// Appends are buffered in memory up to this many bytes before they are
    /// written to the file (0 writes every append at once).
    pub write_buffer_bytes: usize,
    /// One hint entry in this many goes into the footer's sparse index.
    pub sparse_index_interval: usize,
    /// Bloom filter bits per key in the footer.
    pub bloom_bits_per_key: usize,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            limits: Limits::default(),
            write_buffer_bytes: 256 * 1024,
            sparse_index_interval: 16,
            bloom_bits_per_key: 10,
        }
    }
}

/// What opening a segment found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The segment carries a valid footer.
    pub sealed: bool,
    /// Length of the data region kept (header and whole frames).
    pub data_len_bytes: u64,
    /// Bytes cut off the end: a torn frame or an incomplete footer.
    pub truncated_bytes: u64,
    /// The bytes cut begin like a data frame (a torn append), rather than
    /// like footer bytes (a seal that a crash interrupted). Only the newest
    /// segment of a store can legitimately have a torn append.
    pub cut_data_frame: bool,
}

/// The newest record of a key inside a segment, as [`LogSegment::locate`]
/// finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located {
    /// The record is a delete.
    pub tombstone: bool,
    /// The record's version.
    pub version: u64,
    /// Where it lies.
    pub location: Location,
    /// The expiry time of an expiring put, in milliseconds since the Unix
    /// epoch.
    pub expires_at_ms: Option<u64>,
}

/// A [`Hint`] that owns its key, as a scan of an unsealed segment
/// collects them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnedHint {
    pub(crate) key: Vec<u8>,
    pub(crate) tombstone: bool,
    pub(crate) version: u64,
    pub(crate) location: Location,
    pub(crate) expires_at_ms: Option<u64>,
}

impl OwnedHint {
    pub(crate) fn as_hint(&self) -> Hint<'_> {
        Hint {
            key: &self.key,
            tombstone: self.tombstone,
            version: self.version,
            location: self.location,
            expires_at_ms: self.expires_at_ms,
        }
    }
}

/// What [`LogSegment::verify`] checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read (each mutation of a batch counts).
    pub records: u64,
    /// Bytes of the data region.
    pub data_len_bytes: u64,
    /// Entries in the footer, when sealed.
    pub footer_entries: Option<u32>,
}

/// One append-only segment file. See the module docs.
#[derive(Debug)]
pub struct LogSegment {
    id: u32,
    path: PathBuf,
    file: Arc<dyn FileIo>,
    options: SegmentOptions,
    /// The keys of this segment's checksums, from its header.
    checksums: Checksums,
    writer: Mutex<Writer>,
    /// Bytes of the file that positioned reads may use without the lock.
    written_len: AtomicU64,
    synced_len: AtomicU64,
    poisoned: AtomicBool,
    /// Held across every fsync of the file, so that one runs at a time
    /// and each caller sees the outcome of the one before (Linux reports a
    /// writeback error to one fsync caller only).
    sync_lock: Mutex<()>,
    sealed: OnceLock<Sealed>,
    /// The written part of an unsealed segment mapped read-only, remapped
    /// as it grows (see [`LogSegment::read_mapped_active`]).
    active_map: RwLock<Option<Arc<memmap2::Mmap>>>,
}

/// An unsealed segment is mapped again once this many written bytes lie
/// past its map; reads of newer bytes use `pread` until then.
const ACTIVE_REMAP_STEP_BYTES: u64 = 4 << 20;

impl LogSegment {
    /// Creates a new, empty segment file with a fresh random checksum
    /// secret, and makes it and its directory entry durable.
    pub fn create(vfs: &dyn Vfs, path: &Path, id: u32, options: SegmentOptions) -> Result<Self> {
        let checksums = Checksums::new(header::random_secret(path)?);
        let file = vfs.create_new(path).map_err(|e| LogError::io(path, e))?;
        file.write_all_at(&header::encode(id, &checksums), 0)
            .map_err(|e| LogError::io(path, e))?;
        file.sync_data().map_err(|e| LogError::io(path, e))?;
        // A bare file name's parent is the empty path, which names no directory.
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        vfs.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
        let end = SEGMENT_HEADER_BYTES as u64;
        Ok(Self::new(id, path, file, options, checksums, end))
    }

    fn new(
        id: u32,
        path: &Path,
        file: Arc<dyn FileIo>,
        options: SegmentOptions,
        checksums: Checksums,
        end: u64,
    ) -> Self {
        LogSegment {
            id,
            path: path.to_path_buf(),
            file,
            options,
            checksums,
            writer: Mutex::new(Writer {
                buffer: Vec::new(),
                end,
                sealed: false,
            }),
            written_len: AtomicU64::new(end),
            synced_len: AtomicU64::new(end),
            poisoned: AtomicBool::new(false),
            sync_lock: Mutex::new(()),
            sealed: OnceLock::new(),
            active_map: RwLock::new(None),
        }
    }

    /// Opens an existing segment. A sealed one is checked through its
    /// footer, which must verify under the segment's own secret; an
    /// unsealed one is scanned along its frame chain, and a torn tail (a
    /// frame cut short by a crash, or an incomplete footer) is truncated
    /// away and reported. A bad frame followed by a whole frame on the
    /// chain is corruption.
    pub fn open(
        vfs: &dyn Vfs,
        path: &Path,
        options: SegmentOptions,
    ) -> Result<(Self, RecoveryReport)> {
        let file = vfs.open(path, true).map_err(|e| LogError::io(path, e))?;
        let file_len = file.len().map_err(|e| LogError::io(path, e))?;
        let (id, checksums) = header::read(file.as_ref(), path, file_len)?;
        let segment = Self::new(id, path, file, options, checksums, file_len);
        match segment.read_footer(file_len)? {
            Some(sealed) => Ok(segment.opened_sealed(sealed)),
            None => segment.recover(file_len),
        }
    }

    /// The segment's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The segment file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment's format version (from its header).
    pub fn format_version(&self) -> u32 {
        self.checksums.format()
    }

    /// Length of the data region: header and frames, without the footer.
    pub fn data_len_bytes(&self) -> u64 {
        match self.sealed.get() {
            Some(sealed) => sealed.footer_offset,
            None => self.writer.lock().end,
        }
    }

    /// Whether the segment carries a footer.
    pub fn is_sealed(&self) -> bool {
        self.sealed.get().is_some()
    }

    /// The footer of a sealed segment.
    pub fn footer(&self) -> Option<&Footer> {
        self.sealed.get().map(|s| &s.footer)
    }

    /// Whether an earlier I/O failure poisoned the segment.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    fn poisoned_error(&self) -> LogError {
        LogError::Poisoned {
            segment_id: self.id,
        }
    }

    fn location(&self, offset: u64, len: u64) -> Location {
        Location {
            segment_id: self.id,
            offset: u32::try_from(offset).expect("segments stay below 4 GiB"),
            len: u32::try_from(len).expect("frames stay below 4 GiB"),
        }
    }

    fn read_exact(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| LogError::io(&self.path, e))
    }

    fn corrupt(&self, offset: u64, reason: crate::DecodeError) -> LogError {
        LogError::Corrupt {
            path: self.path.clone(),
            offset,
            reason,
        }
    }
}
