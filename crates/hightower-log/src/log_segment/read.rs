//! The read paths of a segment: records by location (from the map, the
//! file or the write buffer), `locate` through the footer, the newest
//! record per key, log-order scans and `verify`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::recovery::ScanMode;
use super::seal::Sealed;
use super::{
    ACTIVE_REMAP_STEP_BYTES, Located, LogSegment, OwnedHint, SEGMENT_HEADER_BYTES, VerifyReport,
};
use crate::Location;
use crate::error::{DecodeError, LogError, Result};
use crate::footer::{Hint, decode_entries};
use crate::record::{RECORD_HEADER_BYTES, RecordKind, RecordRef, decode_record};

/// A record read back by location: its bytes, checksum verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBuf {
    bytes: Vec<u8>,
    kind: RecordKind,
    version: u64,
    key_len: usize,
    /// Where the value starts: after the key, and an expiry time if any.
    value_at: usize,
    expires_at_ms: Option<u64>,
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
        &self.bytes[self.value_at..]
    }
    /// The expiry time of an expiring put, in milliseconds since the Unix
    /// epoch.
    pub fn expires_at_ms(&self) -> Option<u64> {
        self.expires_at_ms
    }
    /// The value, reusing the record's buffer.
    pub fn into_value(mut self) -> Vec<u8> {
        self.bytes.drain(..self.value_at);
        self.bytes
    }
}

impl LogSegment {
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
    pub(super) fn collect_hints(&self, end: u64, out: &mut Vec<OwnedHint>) -> Result<()> {
        self.scan_range(
            SEGMENT_HEADER_BYTES as u64,
            end,
            ScanMode::Strict,
            &mut |location, record| {
                out.push(OwnedHint {
                    key: record.key.to_vec(),
                    tombstone: record.kind == RecordKind::Delete,
                    version: record.version,
                    location,
                    expires_at_ms: record.expires_at_ms,
                });
                Ok(())
            },
        )?;
        out.sort_by(|a, b| a.key.cmp(&b.key).then(b.version.cmp(&a.version)));
        out.dedup_by(|later, first| later.key == first.key);
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
        let record = decode_record(&bytes, &self.options.limits, &self.checksums)
            .map_err(|reason| self.corrupt(offset, reason))?;
        let (kind, version, key_len) = (record.kind, record.version, record.key.len());
        let expires_at_ms = record.expires_at_ms;
        let value_at = bytes.len() - record.value.len();
        Ok(RecordBuf {
            bytes,
            kind,
            version,
            key_len,
            value_at,
            expires_at_ms,
        })
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
                        expires_at_ms: record.expires_at_ms,
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
                    expires_at_ms: hint.expires_at_ms,
                });
            }
        })
        .map_err(|reason| self.corrupt(block_offset, reason))?;
        Ok(found)
    }

    /// Calls `visit` with the newest record of every key in the segment, in
    /// key order. A sealed segment answers from its footer without reading
    /// any value; an unsealed one is scanned.
    pub fn for_each_hint(&self, mut visit: impl FnMut(Hint<'_>)) -> Result<()> {
        let Some(sealed) = self.sealed.get() else {
            let mut owned = Vec::new();
            self.collect_hints(self.flushed_end()?, &mut owned)?;
            for hint in &owned {
                visit(hint.as_hint());
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
                let same = expected
                    .get(position)
                    .is_some_and(|expected| expected.as_hint() == hint);
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
}
