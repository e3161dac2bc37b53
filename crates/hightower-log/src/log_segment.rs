//! [`LogSegment`]: one append-only segment file.
//!
//! A segment starts with a 32-byte header (magic, format version, segment
//! id, checksum), holds frames (see [`crate::record`]) one after another,
//! and once sealed ends with a footer and trailer (see [`crate::footer`]).
//!
//! One writer appends while any number of readers read by [`Location`]:
//! appends go to an in-memory buffer that is written to the file when it
//! fills, on [`LogSegment::flush`] and on [`LogSegment::sync`]; readers use
//! positioned reads for bytes already in the file and copy from the buffer
//! otherwise. A failed write or fsync poisons the segment: it refuses later
//! writes, because what reached the disk is no longer known.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use xxhash_rust::xxh3::xxh3_64;

use crate::Location;
use crate::error::{DecodeError, LogError, Result};
use crate::footer::{Footer, Hint, TRAILER_BYTES, TRAILER_MAGIC, decode_entries, encode_footer};
use crate::record::{
    Frame, FrameHeader, Limits, Mutation, RECORD_HEADER_BYTES, RecordKind, RecordRef, decode_frame,
    decode_record, encode_batch, encode_record, read_u32, read_u64,
};
use crate::vfs::{FileIo, Vfs};

/// Bytes of the segment header.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"HTKVSEG\0";
/// The segment format version this build writes and reads.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
/// Largest data region of a segment: offsets fit in 32 bits with room
/// left for the footer.
pub const SEGMENT_DATA_BYTES_MAX: u64 = 3 << 30;
const _: () = assert!(SEGMENT_HEADER_BYTES == 8 + 4 + 4 + 8 + 8);
const SCAN_CHUNK_BYTES: usize = 1 << 20;

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

/// A record read back by location: its bytes, checksum verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBuf {
    bytes: Vec<u8>,
    kind: RecordKind,
    version: u64,
    key_len: usize,
}

impl RecordBuf {
    /// Put or delete.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }
    /// The record's version.
    pub fn version(&self) -> u64 {
        self.version
    }
    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.bytes[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + self.key_len]
    }
    /// The value.
    pub fn value(&self) -> &[u8] {
        &self.bytes[RECORD_HEADER_BYTES + self.key_len..]
    }
    /// The value, reusing the record's buffer.
    pub fn into_value(mut self) -> Vec<u8> {
        self.bytes.drain(..RECORD_HEADER_BYTES + self.key_len);
        self.bytes
    }
}

#[derive(Debug)]
struct Writer {
    /// Appended bytes not yet written to the file; they start at the
    /// segment's `written_len`.
    buffer: Vec<u8>,
    /// Logical end of the data region: `written_len + buffer.len()`.
    end: u64,
    sealed: bool,
}

#[derive(Debug)]
struct Sealed {
    footer: Footer,
    footer_offset: u64,
    /// The file mapped read-only, when the file system allows; reads of a
    /// sealed segment then copy from memory instead of making a syscall.
    map: Option<memmap2::Mmap>,
}

/// One append-only segment file. See the module docs.
#[derive(Debug)]
pub struct LogSegment {
    id: u32,
    path: PathBuf,
    file: Arc<dyn FileIo>,
    options: SegmentOptions,
    writer: Mutex<Writer>,
    /// Bytes of the file that positioned reads may use without the lock.
    written_len: AtomicU64,
    synced_len: AtomicU64,
    poisoned: AtomicBool,
    sealed: OnceLock<Sealed>,
    /// The written part of an unsealed segment mapped read-only, remapped
    /// as it grows (see [`LogSegment::read_mapped_active`]).
    active_map: RwLock<Option<Arc<memmap2::Mmap>>>,
}

/// An unsealed segment is mapped again once this many written bytes lie
/// past its map; reads of newer bytes use `pread` until then.
const ACTIVE_REMAP_STEP_BYTES: u64 = 4 << 20;

impl LogSegment {
    /// Creates a new, empty segment file and makes it durable.
    pub fn create(vfs: &dyn Vfs, path: &Path, id: u32, options: SegmentOptions) -> Result<Self> {
        let file = vfs.create_new(path).map_err(|e| LogError::io(path, e))?;
        let mut header = Vec::with_capacity(SEGMENT_HEADER_BYTES);
        header.extend_from_slice(&SEGMENT_MAGIC);
        header.extend_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&id.to_le_bytes());
        header.extend_from_slice(&0u64.to_le_bytes());
        header.extend_from_slice(&xxh3_64(&header).to_le_bytes());
        file.write_all_at(&header, 0)
            .map_err(|e| LogError::io(path, e))?;
        file.sync_data().map_err(|e| LogError::io(path, e))?;
        // A bare file name's parent is the empty path, which names no directory.
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        vfs.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
        Ok(Self::new(
            id,
            path,
            file,
            options,
            SEGMENT_HEADER_BYTES as u64,
        ))
    }

    fn new(id: u32, path: &Path, file: Arc<dyn FileIo>, options: SegmentOptions, end: u64) -> Self {
        LogSegment {
            id,
            path: path.to_path_buf(),
            file,
            options,
            writer: Mutex::new(Writer {
                buffer: Vec::new(),
                end,
                sealed: false,
            }),
            written_len: AtomicU64::new(end),
            synced_len: AtomicU64::new(end),
            poisoned: AtomicBool::new(false),
            sealed: OnceLock::new(),
            active_map: RwLock::new(None),
        }
    }

    /// Opens an existing segment. A sealed one is checked through its
    /// footer; an unsealed one is scanned, and a torn tail (a frame cut
    /// short by a crash, or an incomplete footer) is truncated away and
    /// reported. A bad frame followed by whole frames is corruption.
    pub fn open(
        vfs: &dyn Vfs,
        path: &Path,
        options: SegmentOptions,
    ) -> Result<(Self, RecoveryReport)> {
        let file = vfs.open(path, true).map_err(|e| LogError::io(path, e))?;
        let file_len = file.len().map_err(|e| LogError::io(path, e))?;
        let id = read_segment_header(file.as_ref(), path, file_len)?;
        let segment = Self::new(id, path, file, options, file_len);
        if let Some(sealed) = segment.read_footer(file_len)? {
            let data_len = sealed.footer_offset;
            {
                // Locations end at the footer, as on a segment sealed in this process.
                let mut writer = segment.writer.lock();
                writer.sealed = true;
                writer.end = data_len;
            }
            segment.written_len.store(data_len, Ordering::Release);
            segment.synced_len.store(data_len, Ordering::Release);
            let _ = segment.sealed.set(sealed);
            let report = RecoveryReport {
                sealed: true,
                data_len_bytes: data_len,
                truncated_bytes: 0,
                cut_data_frame: false,
            };
            return Ok((segment, report));
        }
        let end = segment.scan_range(
            SEGMENT_HEADER_BYTES as u64,
            file_len,
            ScanMode::Recover,
            &mut |_, _| Ok(()),
        )?;
        let cut_data_frame = end < file_len && segment.data_frame_starts_at(end, file_len)?;
        if end < file_len {
            segment
                .file
                .set_len(end)
                .map_err(|e| LogError::io(path, e))?;
            segment
                .file
                .sync_data()
                .map_err(|e| LogError::io(path, e))?;
        }
        segment.writer.lock().end = end;
        segment.written_len.store(end, Ordering::Release);
        segment.synced_len.store(end, Ordering::Release);
        let report = RecoveryReport {
            sealed: false,
            data_len_bytes: end,
            truncated_bytes: file_len - end,
            cut_data_frame,
        };
        Ok((segment, report))
    }

    /// Whether the bytes at `offset` carry a data frame's kind byte. Fewer
    /// than nine bytes cannot tell, and count as not.
    fn data_frame_starts_at(&self, offset: u64, file_len: u64) -> Result<bool> {
        let kind_at = offset + 8;
        if kind_at >= file_len {
            return Ok(false);
        }
        let mut kind = [0u8; 1];
        self.read_exact(&mut kind, kind_at)?;
        Ok(matches!(kind[0], 1..=3))
    }

    /// Reads and verifies the footer named by the trailer, if there is one.
    fn read_footer(&self, file_len: u64) -> Result<Option<Sealed>> {
        let min_len = (SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + TRAILER_BYTES) as u64;
        if file_len < min_len {
            return Ok(None);
        }
        let mut trailer = [0u8; TRAILER_BYTES];
        self.read_exact(&mut trailer, file_len - TRAILER_BYTES as u64)?;
        let footer_offset = read_u64(&trailer, 0);
        let frame_end = file_len - TRAILER_BYTES as u64;
        if trailer[8..] != TRAILER_MAGIC
            || footer_offset < SEGMENT_HEADER_BYTES as u64
            || footer_offset >= frame_end
        {
            return Ok(None);
        }
        let mut frame = vec![0u8; (frame_end - footer_offset) as usize];
        self.read_exact(&mut frame, footer_offset)?;
        // A trailer over a footer that does not verify is a seal cut short
        // by a crash: the caller falls back to scanning the data region.
        Ok(Footer::decode(&frame, &self.options.limits)
            .ok()
            .map(|footer| Sealed {
                footer,
                footer_offset,
                map: self.file.map().ok().flatten(),
            }))
    }

    /// The segment's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The segment file's path.
    pub fn path(&self) -> &Path {
        &self.path
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

    fn check_writable(&self, writer: &Writer, frame_len: u64) -> Result<()> {
        if self.is_poisoned() {
            return Err(LogError::Poisoned {
                segment_id: self.id,
            });
        }
        if writer.sealed {
            return Err(LogError::Sealed {
                segment_id: self.id,
            });
        }
        if writer.end + frame_len > SEGMENT_DATA_BYTES_MAX {
            return Err(LogError::SegmentFull {
                segment_id: self.id,
                len: writer.end,
                frame_len,
                max: SEGMENT_DATA_BYTES_MAX,
            });
        }
        Ok(())
    }

    /// Appends one mutation at `version` and returns where it lies.
    pub fn append(&self, version: u64, mutation: &Mutation<'_>) -> Result<Location> {
        self.options.limits.check(mutation)?;
        let frame_len = mutation.encoded_len() as u64;
        let mut writer = self.writer.lock();
        self.check_writable(&writer, frame_len)?;
        let offset = writer.end;
        let written = encode_record(&mut writer.buffer, version, mutation) as u64;
        assert_eq!(written, frame_len, "encoded record length matches its size");
        writer.end += frame_len;
        self.maybe_flush(&mut writer)?;
        Ok(self.location(offset, frame_len))
    }

    /// Appends an atomic batch: one frame, mutation `i` at version
    /// `base_version + i`. Returns each mutation's location.
    pub fn append_batch(
        &self,
        base_version: u64,
        mutations: &[Mutation<'_>],
    ) -> Result<Vec<Location>> {
        let limits = &self.options.limits;
        mutations.iter().try_for_each(|m| limits.check(m))?;
        let body_len: usize = mutations.iter().map(Mutation::encoded_len).sum();
        if mutations.is_empty() || body_len > limits.batch_bytes_max {
            return Err(LogError::BadBatch {
                mutations: mutations.len(),
                len: body_len,
                max: limits.batch_bytes_max,
            });
        }
        let frame_len = (RECORD_HEADER_BYTES + body_len) as u64;
        let mut writer = self.writer.lock();
        self.check_writable(&writer, frame_len)?;
        let offset = writer.end;
        let spans = encode_batch(&mut writer.buffer, base_version, mutations);
        writer.end += frame_len;
        self.maybe_flush(&mut writer)?;
        Ok(spans
            .into_iter()
            .map(|(relative, len)| self.location(offset + relative as u64, len as u64))
            .collect())
    }

    fn location(&self, offset: u64, len: u64) -> Location {
        Location {
            segment_id: self.id,
            offset: u32::try_from(offset).expect("segments stay below 4 GiB"),
            len: u32::try_from(len).expect("frames stay below 4 GiB"),
        }
    }

    fn maybe_flush(&self, writer: &mut Writer) -> Result<()> {
        if writer.buffer.len() >= self.options.write_buffer_bytes {
            self.flush_locked(writer)?;
        }
        Ok(())
    }

    fn flush_locked(&self, writer: &mut Writer) -> Result<()> {
        if writer.buffer.is_empty() {
            return Ok(());
        }
        let at = self.written_len.load(Ordering::Acquire);
        debug_assert_eq!(at + writer.buffer.len() as u64, writer.end);
        if let Err(source) = self.file.write_all_at(&writer.buffer, at) {
            // Keep the buffer so readers still find what they were told
            // about; cut the partial write so the file ends on a whole frame.
            self.poisoned.store(true, Ordering::Release);
            let _ = self.file.set_len(at);
            return Err(LogError::io(&self.path, source));
        }
        self.written_len.store(writer.end, Ordering::Release);
        writer.buffer.clear();
        Ok(())
    }

    /// Writes buffered appends to the file (not yet durable).
    pub fn flush(&self) -> Result<()> {
        let mut writer = self.writer.lock();
        if self.is_poisoned() {
            return Err(LogError::Poisoned {
                segment_id: self.id,
            });
        }
        self.flush_locked(&mut writer)
    }

    /// Makes every append made before this call durable (fdatasync).
    /// Concurrent callers may share one fsync. Returns the durable length.
    pub fn sync(&self) -> Result<u64> {
        let target = {
            let mut writer = self.writer.lock();
            if self.is_poisoned() {
                return Err(LogError::Poisoned {
                    segment_id: self.id,
                });
            }
            self.flush_locked(&mut writer)?;
            writer.end
        };
        if self.synced_len.load(Ordering::Acquire) >= target {
            return Ok(target);
        }
        if let Err(source) = self.file.sync_data() {
            self.poisoned.store(true, Ordering::Release);
            return Err(LogError::io(&self.path, source));
        }
        self.synced_len.fetch_max(target, Ordering::AcqRel);
        Ok(target)
    }

    /// Length known to be durable.
    pub fn synced_len_bytes(&self) -> u64 {
        self.synced_len.load(Ordering::Acquire)
    }

    /// Seals the segment: writes the footer (hint block, sparse index,
    /// Bloom filter) and the trailer, and makes them durable. Sealing a
    /// sealed segment does nothing.
    pub fn seal(&self) -> Result<()> {
        let mut writer = self.writer.lock();
        if writer.sealed {
            return Ok(());
        }
        if self.is_poisoned() {
            return Err(LogError::Poisoned {
                segment_id: self.id,
            });
        }
        self.flush_locked(&mut writer)?;
        let footer_offset = writer.end;
        let mut owned = Vec::new();
        self.collect_hints(footer_offset, &mut owned)?;
        let hints: Vec<Hint<'_>> = owned
            .iter()
            .map(|(key, tombstone, version, location)| Hint {
                key,
                tombstone: *tombstone,
                version: *version,
                location: *location,
            })
            .collect();
        let mut bytes = Vec::new();
        let options = &self.options;
        encode_footer(
            &mut bytes,
            footer_offset,
            &hints,
            options.sparse_index_interval,
            options.bloom_bits_per_key,
        );
        let frame = &bytes[..bytes.len() - TRAILER_BYTES];
        let footer =
            Footer::decode(frame, &options.limits).map_err(|reason| LogError::Corrupt {
                path: self.path.clone(),
                offset: footer_offset,
                reason,
            })?;
        let io = |e| LogError::io(&self.path, e);
        let written = self
            .file
            .write_all_at(&bytes, footer_offset)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            self.poisoned.store(true, Ordering::Release);
            return Err(io(source));
        }
        writer.sealed = true;
        let _ = self.sealed.set(Sealed {
            footer,
            footer_offset,
            map: self.file.map().ok().flatten(),
        });
        *self.active_map.write() = None;
        Ok(())
    }

    /// Copies `len` bytes at `offset` of an unsealed segment from its
    /// read-only map, mapping the written part again when it has grown by
    /// [`ACTIVE_REMAP_STEP_BYTES`]. `None` when the bytes are not mapped
    /// (yet): the caller reads them with `pread` or from the buffer.
    ///
    /// Sound because only bytes below `written_len` are read, and the file
    /// never shrinks below `written_len` while the segment is open (a
    /// failed write cuts the file back to exactly `written_len`).
    fn read_mapped_active(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        if self.sealed.get().is_some() {
            return None;
        }
        let end = offset + len as u64;
        let mapped_len = {
            let map = self.active_map.read();
            let mapped = map.as_ref().map_or(0, |m| m.len() as u64);
            if end <= mapped {
                let map = map.as_ref()?;
                return Some(map[offset as usize..end as usize].to_vec());
            }
            mapped
        };
        let written = self.written_len.load(Ordering::Acquire);
        if end > written || written < mapped_len + ACTIVE_REMAP_STEP_BYTES {
            return None;
        }
        let map = Arc::new(self.file.map().ok().flatten()?);
        let bytes = (end <= map.len() as u64).then(|| map[offset as usize..end as usize].to_vec());
        *self.active_map.write() = Some(map);
        bytes
    }

    /// Newest record per key in `[header, end)`, sorted by key.
    fn collect_hints(&self, end: u64, out: &mut Vec<(Vec<u8>, bool, u64, Location)>) -> Result<()> {
        self.scan_range(
            SEGMENT_HEADER_BYTES as u64,
            end,
            ScanMode::Strict,
            &mut |location, record| {
                out.push((
                    record.key.to_vec(),
                    record.kind == RecordKind::Delete,
                    record.version,
                    location,
                ));
                Ok(())
            },
        )?;
        out.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)));
        out.dedup_by(|later, first| later.0 == first.0);
        Ok(())
    }

    /// Reads the record at `location` and verifies its checksum.
    pub fn read(&self, location: Location) -> Result<RecordBuf> {
        let offset = location.offset as u64;
        let len = location.len as usize;
        let bad = || LogError::BadLocation {
            segment_id: self.id,
            offset: location.offset,
            len: location.len,
        };
        if location.segment_id != self.id
            || offset < SEGMENT_HEADER_BYTES as u64
            || len < RECORD_HEADER_BYTES
        {
            return Err(bad());
        }
        if let Some(Sealed {
            footer_offset,
            map: Some(map),
            ..
        }) = self.sealed.get()
        {
            if offset + len as u64 > *footer_offset {
                return Err(bad());
            }
            let bytes = &map[offset as usize..offset as usize + len];
            return self.decoded(bytes.to_vec(), offset);
        }
        if let Some(bytes) = self.read_mapped_active(offset, len) {
            return self.decoded(bytes, offset);
        }
        let mut bytes = vec![0u8; len];
        if offset + len as u64 <= self.written_len.load(Ordering::Acquire) {
            self.read_exact(&mut bytes, offset)?;
        } else {
            let writer = self.writer.lock();
            let written = self.written_len.load(Ordering::Acquire);
            if offset + len as u64 > writer.end {
                return Err(bad());
            }
            if offset + len as u64 <= written {
                self.read_exact(&mut bytes, offset)?;
            } else {
                let start = offset.checked_sub(written).ok_or_else(bad)? as usize;
                bytes.copy_from_slice(&writer.buffer[start..start + len]);
            }
        }
        self.decoded(bytes, offset)
    }

    /// Verifies the record read from `offset` (the assertion after every
    /// read) and wraps it.
    fn decoded(&self, bytes: Vec<u8>, offset: u64) -> Result<RecordBuf> {
        let record =
            decode_record(&bytes, &self.options.limits).map_err(|reason| LogError::Corrupt {
                path: self.path.clone(),
                offset,
                reason,
            })?;
        let (kind, version, key_len) = (record.kind, record.version, record.key.len());
        Ok(RecordBuf {
            bytes,
            kind,
            version,
            key_len,
        })
    }

    fn read_exact(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| LogError::io(&self.path, e))
    }

    /// Finds the newest record of `key` in this segment. On a sealed
    /// segment this asks the Bloom filter and reads at most one small block
    /// of the footer; on an unsealed one it scans the segment.
    pub fn locate(&self, key: &[u8]) -> Result<Option<Located>> {
        let Some(sealed) = self.sealed.get() else {
            let mut found: Option<Located> = None;
            self.scan(|location, record| {
                if record.key == key && found.is_none_or(|f| f.version < record.version) {
                    let tombstone = record.kind == RecordKind::Delete;
                    found = Some(Located {
                        tombstone,
                        version: record.version,
                        location,
                    });
                }
                Ok(())
            })?;
            return Ok(found);
        };
        let footer = &sealed.footer;
        if !footer.may_contain(key) {
            return Ok(None);
        }
        let Some((start, end)) = footer.block_for(key) else {
            return Ok(None);
        };
        let mut block = vec![0u8; (end - start) as usize];
        let block_offset = sealed.footer_offset + RECORD_HEADER_BYTES as u64 + start as u64;
        self.read_exact(&mut block, block_offset)?;
        let mut found = None;
        decode_entries(&block, self.id, &self.options.limits, |hint| {
            if hint.key == key {
                found = Some(Located {
                    tombstone: hint.tombstone,
                    version: hint.version,
                    location: hint.location,
                });
            }
        })
        .map_err(|reason| self.corrupt(block_offset, reason))?;
        Ok(found)
    }

    fn corrupt(&self, offset: u64, reason: DecodeError) -> LogError {
        LogError::Corrupt {
            path: self.path.clone(),
            offset,
            reason,
        }
    }

    /// Calls `visit` with the newest record of every key in the segment, in
    /// key order. A sealed segment answers from its footer without reading
    /// any value; an unsealed one is scanned.
    pub fn for_each_hint(&self, mut visit: impl FnMut(Hint<'_>)) -> Result<()> {
        let Some(sealed) = self.sealed.get() else {
            let mut owned = Vec::new();
            self.collect_hints(self.flushed_end()?, &mut owned)?;
            for (key, tombstone, version, location) in &owned {
                visit(Hint {
                    key,
                    tombstone: *tombstone,
                    version: *version,
                    location: *location,
                });
            }
            return Ok(());
        };
        let mut block = vec![0u8; sealed.footer.entries_len as usize];
        let block_offset = sealed.footer_offset + RECORD_HEADER_BYTES as u64;
        self.read_exact(&mut block, block_offset)?;
        decode_entries(&block, self.id, &self.options.limits, visit)
            .map_err(|reason| self.corrupt(block_offset, reason))
    }

    /// Calls `visit` for every record of the data region in log order (each
    /// mutation of a batch in turn). Any bad frame is corruption.
    pub fn scan(&self, mut visit: impl FnMut(Location, RecordRef<'_>) -> Result<()>) -> Result<()> {
        let end = match self.sealed.get() {
            Some(sealed) => sealed.footer_offset,
            None => self.flushed_end()?,
        };
        self.scan_range(
            SEGMENT_HEADER_BYTES as u64,
            end,
            ScanMode::Strict,
            &mut visit,
        )?;
        Ok(())
    }

    /// Writes buffered appends to the file and returns where the file's
    /// frames end. A poisoned segment keeps unwritten appends in its
    /// buffer; only what reached the file counts.
    fn flushed_end(&self) -> Result<u64> {
        let mut writer = self.writer.lock();
        if !self.is_poisoned() {
            self.flush_locked(&mut writer)?;
        }
        Ok(self.written_len.load(Ordering::Acquire))
    }

    /// Checks every frame's checksum and, when sealed, that the footer
    /// names exactly the newest record of every key.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport {
            data_len_bytes: self.data_len_bytes(),
            ..VerifyReport::default()
        };
        self.scan(|_, _| {
            report.records += 1;
            Ok(())
        })?;
        if let Some(sealed) = self.sealed.get() {
            let mut expected = Vec::new();
            self.collect_hints(sealed.footer_offset, &mut expected)?;
            let mut position = 0usize;
            let mut matches = true;
            self.for_each_hint(|hint| {
                let same =
                    expected
                        .get(position)
                        .is_some_and(|(key, tombstone, version, location)| {
                            key.as_slice() == hint.key
                                && *tombstone == hint.tombstone
                                && *version == hint.version
                                && *location == hint.location
                        });
                matches &= same;
                position += 1;
            })?;
            if !matches || position != expected.len() {
                return Err(self.corrupt(
                    sealed.footer_offset,
                    DecodeError::Malformed("footer does not match the segment's records"),
                ));
            }
            report.footer_entries = Some(sealed.footer.entry_count);
        }
        Ok(report)
    }

    /// Scans frames in `[start, end)`, visiting each record of each whole
    /// frame. Returns the end of the last whole frame. In `Recover` mode a
    /// bad frame with no whole frame after it is a torn tail and ends the
    /// scan there; otherwise a bad frame is a corruption error.
    fn scan_range(
        &self,
        start: u64,
        end: u64,
        mode: ScanMode,
        visit: &mut dyn FnMut(Location, RecordRef<'_>) -> Result<()>,
    ) -> Result<u64> {
        let limits = self.options.limits;
        let mut reader = ChunkReader {
            segment: self,
            buf: Vec::new(),
            buf_start: 0,
            end,
        };
        let mut pos = start;
        while pos < end {
            let available = (end - pos).min(RECORD_HEADER_BYTES as u64) as usize;
            let header = FrameHeader::decode(reader.get(pos, available)?, &limits);
            let frame_len = match header {
                Ok(h) if h.kind != RecordKind::Footer && h.frame_len() <= end - pos => {
                    h.frame_len() as usize
                }
                Ok(h) if h.kind == RecordKind::Footer => {
                    // A seal cut short if nothing whole follows, else corruption.
                    let reason = DecodeError::Malformed("footer inside the data region");
                    return self.bad_frame(&mut reader, pos, mode, reason);
                }
                Ok(h) => {
                    return self.bad_frame(
                        &mut reader,
                        pos,
                        mode,
                        DecodeError::Truncated {
                            needed: h.frame_len(),
                            available: end - pos,
                        },
                    );
                }
                Err(reason) => return self.bad_frame(&mut reader, pos, mode, reason),
            };
            let frame = reader.get(pos, frame_len)?;
            match decode_frame(frame, &limits) {
                Ok((Frame::Single(record), _)) => {
                    visit(self.location(pos, frame_len as u64), record)?
                }
                Ok((Frame::Batch(records), _)) => {
                    for (relative, record) in records {
                        let len =
                            (RECORD_HEADER_BYTES + record.key.len() + record.value.len()) as u64;
                        visit(self.location(pos + relative as u64, len), record)?;
                    }
                }
                Err(reason) => return self.bad_frame(&mut reader, pos, mode, reason),
            }
            pos += frame_len as u64;
        }
        Ok(pos)
    }

    fn bad_frame(
        &self,
        reader: &mut ChunkReader<'_>,
        pos: u64,
        mode: ScanMode,
        reason: DecodeError,
    ) -> Result<u64> {
        if mode == ScanMode::Recover && !reader.any_whole_frame_after(pos, &self.options.limits)? {
            return Ok(pos);
        }
        Err(self.corrupt(pos, reason))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanMode {
    /// Opening an unsealed segment: a torn tail is cut, not an error.
    Recover,
    /// Everything must be whole.
    Strict,
}

/// Sequential reads of a segment in large chunks.
struct ChunkReader<'s> {
    segment: &'s LogSegment,
    buf: Vec<u8>,
    buf_start: u64,
    end: u64,
}

impl ChunkReader<'_> {
    fn get(&mut self, pos: u64, len: usize) -> Result<&[u8]> {
        let buf_end = self.buf_start + self.buf.len() as u64;
        if pos < self.buf_start || pos + len as u64 > buf_end {
            let want = (len.max(SCAN_CHUNK_BYTES) as u64).min(self.end - pos) as usize;
            self.buf.resize(want, 0);
            self.segment.read_exact(&mut self.buf, pos)?;
            self.buf_start = pos;
        }
        let at = (pos - self.buf_start) as usize;
        Ok(&self.buf[at..at + len])
    }

    /// Whether any whole, valid data frame starts after `pos`: the test
    /// that tells a torn tail (nothing whole after it) from corruption.
    fn any_whole_frame_after(&mut self, pos: u64, limits: &Limits) -> Result<bool> {
        let rest_len = (self.end - pos) as usize;
        let rest = self.get(pos, rest_len)?;
        let first = batch_records_end(rest, limits).max(1);
        let candidates = rest.len().saturating_sub(RECORD_HEADER_BYTES);
        Ok((first..=candidates).any(|at| {
            matches!(rest[at + 8], 1..=3)
                && rest[at + 9..at + 12] == [0, 0, 0]
                && decode_frame(&rest[at..], limits).is_ok()
        }))
    }
}

/// When `frame` starts with a batch header, the end of the run of whole
/// records that follows it in version order, within the batch's own count
/// and length; else 0. A batch torn by a crash keeps whole records inside
/// it, and those are not frames after the tear.
fn batch_records_end(frame: &[u8], limits: &Limits) -> usize {
    let Ok(header) = FrameHeader::decode(frame, limits) else {
        return 0;
    };
    if header.kind != RecordKind::Batch {
        return 0;
    }
    let claimed_end = header.frame_len().min(frame.len() as u64) as usize;
    let mut pos = RECORD_HEADER_BYTES;
    for i in 0..u64::from(header.key_len) {
        let Ok(inner) = FrameHeader::decode(&frame[pos..claimed_end], limits) else {
            break;
        };
        let end = pos as u64 + inner.frame_len();
        if end > claimed_end as u64 {
            break;
        }
        match decode_record(&frame[pos..end as usize], limits) {
            Ok(record) if record.version == header.version.wrapping_add(i) => pos = end as usize,
            _ => break,
        }
    }
    pos
}

fn read_segment_header(file: &dyn FileIo, path: &Path, file_len: u64) -> Result<u32> {
    if file_len < SEGMENT_HEADER_BYTES as u64 {
        return Err(LogError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: DecodeError::Truncated {
                needed: SEGMENT_HEADER_BYTES as u64,
                available: file_len,
            },
        });
    }
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    file.read_exact_at(&mut header, 0)
        .map_err(|e| LogError::io(path, e))?;
    if header[..8] != SEGMENT_MAGIC {
        return Err(LogError::BadMagic {
            path: path.to_path_buf(),
        });
    }
    let stored = read_u64(&header, 24);
    let actual = xxh3_64(&header[..24]);
    if stored != actual {
        return Err(LogError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: DecodeError::ChecksumMismatch {
                expected: stored,
                actual,
            },
        });
    }
    let version = read_u32(&header, 8);
    if version != SEGMENT_FORMAT_VERSION {
        return Err(LogError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: SEGMENT_FORMAT_VERSION,
        });
    }
    Ok(read_u32(&header, 12))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::StdVfs;

    /// Small sparse blocks so that a few keys already span several.
    fn options(write_buffer_bytes: usize) -> SegmentOptions {
        SegmentOptions {
            write_buffer_bytes,
            sparse_index_interval: 2,
            ..SegmentOptions::default()
        }
    }

    fn create(dir: &tempfile::TempDir, options: SegmentOptions) -> LogSegment {
        LogSegment::create(
            &StdVfs::default(),
            &dir.path().join("0000000007.log"),
            7,
            options,
        )
        .unwrap()
    }

    fn reopen(segment: LogSegment) -> (LogSegment, RecoveryReport) {
        let path = segment.path().to_path_buf();
        let options = segment.options;
        drop(segment);
        LogSegment::open(&StdVfs::default(), &path, options).unwrap()
    }

    fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Mutation<'a> {
        Mutation::Put { key, value }
    }

    fn hints(segment: &LogSegment) -> Vec<(Vec<u8>, bool, u64, Location)> {
        let mut out = Vec::new();
        segment
            .for_each_hint(|h| out.push((h.key.to_vec(), h.tombstone, h.version, h.location)))
            .unwrap();
        out
    }

    fn file_len(segment: &LogSegment) -> u64 {
        std::fs::metadata(segment.path()).unwrap().len()
    }

    #[test]
    fn append_then_read_round_trips_buffered_and_unbuffered() {
        for write_buffer_bytes in [SegmentOptions::default().write_buffer_bytes, 0] {
            let dir = tempfile::tempdir().unwrap();
            let segment = create(&dir, options(write_buffer_bytes));
            let value = vec![0x5A; 300];
            let a = segment.append(1, &put(b"alpha", &value)).unwrap();
            let b = segment
                .append(2, &Mutation::Delete { key: b"beta" })
                .unwrap();
            let c = segment.append(3, &put(b"gamma", b"")).unwrap();
            assert_eq!(a.offset as usize, SEGMENT_HEADER_BYTES);
            assert_eq!(b.offset, a.offset + a.len);
            assert_eq!(segment.data_len_bytes(), u64::from(c.offset + c.len));
            for _ in 0..2 {
                let record = segment.read(a).unwrap();
                assert_eq!(
                    (record.kind(), record.version(), record.key()),
                    (RecordKind::Put, 1, &b"alpha"[..])
                );
                assert_eq!(record.value(), value.as_slice());
                let record = segment.read(b).unwrap();
                assert_eq!(
                    (record.kind(), record.version(), record.key()),
                    (RecordKind::Delete, 2, &b"beta"[..])
                );
                assert!(record.value().is_empty());
                assert_eq!(segment.read(c).unwrap().into_value(), b"");
                assert_eq!(segment.sync().unwrap(), segment.data_len_bytes());
            }
            assert_eq!(segment.synced_len_bytes(), segment.data_len_bytes());
        }
    }

    #[test]
    fn unbuffered_appends_reach_the_file_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(0));
        let at = segment.append(1, &put(b"k", b"v")).unwrap();
        assert_eq!(file_len(&segment), u64::from(at.offset + at.len));
    }

    #[test]
    fn a_record_still_in_the_write_buffer_is_readable() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(1 << 20));
        let first = segment.append(1, &put(b"one", b"1")).unwrap();
        let second = segment.append(2, &put(b"two", b"22")).unwrap();
        assert_eq!(
            file_len(&segment),
            SEGMENT_HEADER_BYTES as u64,
            "nothing written yet"
        );
        assert_eq!(segment.read(second).unwrap().value(), b"22");
        assert_eq!(segment.read(first).unwrap().value(), b"1");
        segment.flush().unwrap();
        assert_eq!(file_len(&segment), u64::from(second.offset + second.len));
        let third = segment.append(3, &put(b"three", b"333")).unwrap();
        // One record in the file, one in the buffer.
        assert_eq!(segment.read(second).unwrap().value(), b"22");
        assert_eq!(segment.read(third).unwrap().value(), b"333");
    }

    #[test]
    fn batch_locations_are_readable_with_consecutive_versions() {
        for write_buffer_bytes in [1 << 20, 0] {
            let dir = tempfile::tempdir().unwrap();
            let segment = create(&dir, options(write_buffer_bytes));
            segment.append(1, &put(b"before", b"x")).unwrap();
            let mutations = [
                put(b"a", b"1"),
                Mutation::Delete { key: b"b" },
                put(b"c", b"333"),
            ];
            let locations = segment.append_batch(10, &mutations).unwrap();
            let after = segment.append(13, &put(b"after", b"y")).unwrap();
            assert_eq!(locations.len(), 3);
            assert_eq!(
                after.offset,
                locations[2].offset + locations[2].len,
                "the batch ends at its last record"
            );
            for _ in 0..2 {
                for (i, (location, mutation)) in locations.iter().zip(&mutations).enumerate() {
                    let record = segment.read(*location).unwrap();
                    assert_eq!(record.version(), 10 + i as u64);
                    assert_eq!(record.key(), mutation.key());
                }
                segment.flush().unwrap();
            }
            let mut seen = Vec::new();
            segment
                .scan(|location, record| {
                    seen.push((location, record.version));
                    Ok(())
                })
                .unwrap();
            assert_eq!(seen.len(), 5);
            assert_eq!(
                &seen[1..4],
                &[(locations[0], 10), (locations[1], 11), (locations[2], 12)]
            );
        }
    }

    #[test]
    fn empty_and_oversized_batches_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            key_bytes_max: 16,
            value_bytes_max: 64,
            batch_bytes_max: 100,
        };
        let segment = create(
            &dir,
            SegmentOptions {
                limits,
                ..options(0)
            },
        );
        let err = segment.append_batch(1, &[]).unwrap_err();
        assert!(
            matches!(
                err,
                LogError::BadBatch {
                    mutations: 0,
                    len: 0,
                    max: 100
                }
            ),
            "{err}"
        );
        let value = [0u8; 60];
        let err = segment
            .append_batch(1, &[put(b"a", &value), put(b"b", &value)])
            .unwrap_err();
        assert!(
            matches!(
                err,
                LogError::BadBatch {
                    mutations: 2,
                    len: 178,
                    max: 100
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("178 bytes"), "{err}");
        assert_eq!(
            segment.data_len_bytes(),
            SEGMENT_HEADER_BYTES as u64,
            "nothing appended"
        );
    }

    #[test]
    fn a_batch_whose_versions_wrap_is_written_as_the_decoder_reads_it() {
        // The decoder takes batch versions as wrapping; the encoder must not
        // panic (overflow) where the decoder accepts.
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(0));
        let mutations = [put(b"a", b"1"), put(b"b", b"2")];
        let locations = segment.append_batch(u64::MAX, &mutations).unwrap();
        let versions = |segment: &LogSegment| -> Vec<u64> {
            locations
                .iter()
                .map(|at| segment.read(*at).unwrap().version())
                .collect()
        };
        assert_eq!(versions(&segment), [u64::MAX, 0]);
        let (segment, report) = reopen(segment);
        assert_eq!(report.truncated_bytes, 0);
        assert_eq!(versions(&segment), [u64::MAX, 0]);
    }

    /// Appends a history with an overwritten key, a deleted key and a batch,
    /// some of it still buffered, and returns the newest location per key.
    fn history(segment: &LogSegment) -> [(&'static [u8], Location); 4] {
        let a_old = segment.append(1, &put(b"a", b"old")).unwrap();
        let b_put = segment.append(2, &put(b"b", b"here")).unwrap();
        let batch = segment
            .append_batch(3, &[put(b"c", b"batched"), Mutation::Delete { key: b"b" }])
            .unwrap();
        segment.flush().unwrap();
        let a_new = segment.append(5, &put(b"a", b"new")).unwrap();
        let d = segment.append(6, &put(b"d", b"dee")).unwrap();
        assert_ne!(a_old, a_new);
        assert_ne!(b_put, batch[1]);
        [(b"a", a_new), (b"b", batch[1]), (b"c", batch[0]), (b"d", d)]
    }

    fn assert_locates_newest(segment: &LogSegment, newest: &[(&'static [u8], Location)]) {
        let a = segment.locate(b"a").unwrap().unwrap();
        assert_eq!(
            a,
            Located {
                tombstone: false,
                version: 5,
                location: newest[0].1
            },
            "newest version wins"
        );
        assert_eq!(segment.read(a.location).unwrap().value(), b"new");
        let b = segment.locate(b"b").unwrap().unwrap();
        assert_eq!(
            b,
            Located {
                tombstone: true,
                version: 4,
                location: newest[1].1
            }
        );
        let c = segment.locate(b"c").unwrap().unwrap();
        assert_eq!(
            c,
            Located {
                tombstone: false,
                version: 3,
                location: newest[2].1
            }
        );
        assert_eq!(
            segment.locate(b"d").unwrap().map(|d| d.location),
            Some(newest[3].1)
        );
        for absent in [&b"0"[..], b"aa", b"bb", b"f", b"zzzz"] {
            assert_eq!(segment.locate(absent).unwrap(), None, "{absent:?}");
        }
    }

    #[test]
    fn seal_then_locate_hits_misses_tombstones_and_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(1 << 20));
        let newest = history(&segment);
        assert_locates_newest(&segment, &newest);
        segment.seal().unwrap();
        assert!(segment.is_sealed());
        let footer = segment.footer().unwrap();
        assert_eq!(footer.entry_count, 4);
        assert_eq!((footer.min_version, footer.max_version), (3, 6));
        assert_locates_newest(&segment, &newest);
    }

    #[test]
    fn for_each_hint_is_sorted_and_equal_sealed_and_unsealed() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(1 << 20));
        let newest = history(&segment);
        // The last appends are still in the write buffer.
        let unsealed = hints(&segment);
        assert!(
            unsealed.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted and unique"
        );
        let expected: Vec<_> = newest
            .iter()
            .map(|(key, location)| (key.to_vec(), *location))
            .collect();
        let got: Vec<_> = unsealed.iter().map(|h| (h.0.clone(), h.3)).collect();
        assert_eq!(got, expected);
        segment.seal().unwrap();
        assert_eq!(hints(&segment), unsealed);
        let (segment, _) = reopen(segment);
        assert_eq!(hints(&segment), unsealed);
    }

    #[test]
    fn appends_after_seal_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(1 << 20));
        segment.append(1, &put(b"k", b"v")).unwrap();
        segment.seal().unwrap();
        segment.seal().unwrap();
        let err = segment.append(2, &put(b"k", b"w")).unwrap_err();
        assert!(matches!(err, LogError::Sealed { segment_id: 7 }), "{err}");
        let err = segment.append_batch(2, &[put(b"k", b"w")]).unwrap_err();
        assert!(matches!(err, LogError::Sealed { segment_id: 7 }), "{err}");
        let (segment, _) = reopen(segment);
        assert!(matches!(
            segment.append(2, &put(b"k", b"w")),
            Err(LogError::Sealed { segment_id: 7 })
        ));
    }

    #[test]
    fn bad_locations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(1 << 20));
        let at = segment.append(1, &put(b"k", b"value")).unwrap();
        let end = at.offset + at.len;
        let bad = [
            Location {
                segment_id: 8,
                ..at
            },
            Location { offset: 0, ..at },
            Location { offset: 4, ..at },
            Location { len: 27, ..at },
            Location { offset: end, ..at },
            Location {
                len: at.len + 1,
                ..at
            },
            Location {
                offset: u32::MAX,
                len: u32::MAX,
                ..at
            },
        ];
        let check = |segment: &LogSegment| {
            for location in bad {
                let err = segment.read(location).unwrap_err();
                assert!(
                    matches!(err, LogError::BadLocation { segment_id: 7, .. }),
                    "{location:?}: {err}"
                );
            }
        };
        check(&segment);
        segment.flush().unwrap();
        check(&segment);
        segment.seal().unwrap();
        check(&segment);
        let (segment, _) = reopen(segment);
        check(&segment);
        // Inside the footer of a reopened sealed segment is not a record.
        let in_footer = Location {
            offset: end,
            len: RECORD_HEADER_BYTES as u32,
            ..at
        };
        assert!(matches!(
            segment.read(in_footer),
            Err(LogError::BadLocation { .. })
        ));
        assert_eq!(segment.read(at).unwrap().value(), b"value");
    }

    #[test]
    fn oversized_keys_and_values_are_refused_naming_size_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            key_bytes_max: 8,
            value_bytes_max: 32,
            batch_bytes_max: 1024,
        };
        let segment = create(
            &dir,
            SegmentOptions {
                limits,
                ..options(0)
            },
        );
        let err = segment.append(1, &put(b"123456789", b"")).unwrap_err();
        assert!(
            matches!(err, LogError::KeyTooLarge { len: 9, max: 8 }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "key of 9 bytes exceeds the limit of 8 bytes"
        );
        let err = segment
            .append(1, &Mutation::Delete { key: b"123456789" })
            .unwrap_err();
        assert!(
            matches!(err, LogError::KeyTooLarge { len: 9, max: 8 }),
            "{err}"
        );
        let err = segment.append(1, &put(b"k", &[7; 33])).unwrap_err();
        assert!(
            matches!(err, LogError::ValueTooLarge { len: 33, max: 32 }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "value of 33 bytes exceeds the limit of 32 bytes"
        );
        let err = segment
            .append_batch(1, &[put(b"k", b"ok"), put(b"k", &[7; 33])])
            .unwrap_err();
        assert!(
            matches!(err, LogError::ValueTooLarge { len: 33, max: 32 }),
            "{err}"
        );
        assert!(matches!(
            segment.append(1, &put(b"", b"v")),
            Err(LogError::EmptyKey)
        ));
        // Exactly at the limits is fine.
        let at = segment.append(1, &put(b"12345678", &[7; 32])).unwrap();
        assert_eq!(
            at.offset as usize, SEGMENT_HEADER_BYTES,
            "nothing was written by the refusals"
        );
    }

    #[test]
    fn a_sealed_segment_reopens_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(1 << 20));
        let newest = history(&segment);
        segment.seal().unwrap();
        let data_len = segment.data_len_bytes();
        let (segment, report) = reopen(segment);
        assert_eq!(
            report,
            RecoveryReport {
                sealed: true,
                data_len_bytes: data_len,
                truncated_bytes: 0,
                cut_data_frame: false,
            }
        );
        assert!(segment.is_sealed());
        assert_eq!(segment.id(), 7);
        assert_eq!(segment.data_len_bytes(), data_len);
        assert_eq!(segment.footer().unwrap().entry_count, 4);
        assert_locates_newest(&segment, &newest);
        assert_eq!(segment.read(newest[2].1).unwrap().value(), b"batched");
    }

    #[test]
    fn an_unsealed_segment_reopens_and_takes_appends() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(1 << 20));
        let newest = history(&segment);
        let data_len = segment.sync().unwrap();
        let (segment, report) = reopen(segment);
        assert_eq!(
            report,
            RecoveryReport {
                sealed: false,
                data_len_bytes: data_len,
                truncated_bytes: 0,
                cut_data_frame: false,
            }
        );
        assert!(!segment.is_sealed());
        assert_eq!(segment.data_len_bytes(), data_len);
        assert_locates_newest(&segment, &newest);
        let e = segment.append(7, &put(b"e", b"late")).unwrap();
        assert_eq!(u64::from(e.offset), data_len);
        segment.seal().unwrap();
        let (segment, report) = reopen(segment);
        assert!(report.sealed);
        assert_eq!(segment.locate(b"e").unwrap().map(|l| l.location), Some(e));
        assert_locates_newest(&segment, &newest);
    }

    #[test]
    fn verify_counts_records_and_footer_entries() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(1 << 20));
        history(&segment);
        let report = segment.verify().unwrap();
        assert_eq!(
            report,
            VerifyReport {
                records: 6,
                data_len_bytes: segment.data_len_bytes(),
                footer_entries: None
            }
        );
        segment.seal().unwrap();
        let sealed = segment.verify().unwrap();
        assert_eq!(
            sealed,
            VerifyReport {
                footer_entries: Some(4),
                ..report
            }
        );
        let (segment, _) = reopen(segment);
        assert_eq!(segment.verify().unwrap(), sealed);
    }

    #[test]
    fn an_empty_segment_seals_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(0));
        segment.seal().unwrap();
        assert_eq!(segment.locate(b"k").unwrap(), None);
        let (segment, report) = reopen(segment);
        assert!(report.sealed);
        assert_eq!(report.data_len_bytes, SEGMENT_HEADER_BYTES as u64);
        assert!(hints(&segment).is_empty());
        assert_eq!(segment.verify().unwrap().footer_entries, Some(0));
    }

    #[test]
    fn a_file_that_is_not_a_segment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-segment.log");
        std::fs::write(&path, [0x11u8; 64]).unwrap();
        let err = LogSegment::open(&StdVfs::default(), &path, options(0)).unwrap_err();
        assert!(
            matches!(&err, LogError::BadMagic { path: p } if *p == path),
            "{err}"
        );
        std::fs::write(&path, b"HTKV").unwrap();
        let err = LogSegment::open(&StdVfs::default(), &path, options(0)).unwrap_err();
        assert!(matches!(err, LogError::Corrupt { offset: 0, .. }), "{err}");
    }

    #[test]
    fn reads_of_a_growing_active_segment_agree_through_the_map_and_pread() {
        let dir = tempfile::tempdir().unwrap();
        let segment = create(&dir, options(64 * 1024));
        let value = vec![0x3C; 1000];
        let mut written = Vec::new();
        // Three rounds, each past the remap step: reads of older records
        // come from the map, of newer ones from pread or the buffer.
        for round in 0..3u64 {
            for i in 0..5_000u64 {
                let key = format!("k{round}-{i:05}");
                let version = round * 10_000 + i + 1;
                written.push((
                    segment
                        .append(version, &put(key.as_bytes(), &value))
                        .unwrap(),
                    key,
                    version,
                ));
            }
            segment.flush().unwrap();
            for (location, key, version) in &written {
                let record = segment.read(*location).unwrap();
                assert_eq!(record.key(), key.as_bytes());
                assert_eq!(record.version(), *version);
                assert_eq!(record.value(), value.as_slice());
            }
            let mapped = segment.active_map.read().as_ref().map_or(0, |m| m.len());
            assert!(
                mapped as u64 >= ACTIVE_REMAP_STEP_BYTES,
                "round {round}: mapped {mapped}"
            );
        }
        segment.seal().unwrap();
        assert!(
            segment.active_map.read().is_none(),
            "sealing drops the active map"
        );
        let (location, key, _) = &written[0];
        assert_eq!(segment.read(*location).unwrap().key(), key.as_bytes());
    }
}
