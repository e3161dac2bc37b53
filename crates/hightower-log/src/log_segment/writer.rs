//! The write side of a segment: appends into the write buffer, flushes to
//! the file, fsyncs one at a time.

use std::sync::atomic::Ordering;

use super::{LogSegment, SEGMENT_DATA_BYTES_MAX};
use crate::Location;
use crate::error::{LogError, Result};
use crate::record::{
    Mutation, RECORD_HEADER_BYTES, UnsealedRecords, encode_batch, encode_record, seal_records,
};

/// The appender's state, behind the segment's writer lock.
#[derive(Debug)]
pub(super) struct Writer {
    /// Appended bytes not yet written to the file; they start at the
    /// segment's `written_len`.
    pub(super) buffer: Vec<u8>,
    /// Logical end of the data region: `written_len + buffer.len()`.
    pub(super) end: u64,
    pub(super) sealed: bool,
}

impl LogSegment {
    fn check_writable(&self, writer: &Writer, frame_len: u64) -> Result<()> {
        if self.is_poisoned() {
            return Err(self.poisoned_error());
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
        let written = encode_record(&mut writer.buffer, version, mutation, &self.checksums) as u64;
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
        let spans = encode_batch(&mut writer.buffer, base_version, mutations, &self.checksums);
        writer.end += frame_len;
        self.maybe_flush(&mut writer)?;
        Ok(spans
            .into_iter()
            .map(|(relative, len)| self.location(offset + relative as u64, len as u64))
            .collect())
    }

    /// Appends `records`, a run made by [`crate::record::encode_unsealed`],
    /// as one frame: one record alone, several as an atomic batch, record
    /// `i` at version `base_version + i`. The records are checked against
    /// the limits here, and sealed (versions and checksums) in the write
    /// buffer, so the caller's bytes are copied once. Returns the data
    /// offset of the first record; the others follow it back to back.
    pub fn append_unsealed(&self, base_version: u64, records: &[u8]) -> Result<u64> {
        let count = self.check_unsealed(records)?;
        let frame_len = match count {
            1 => records.len(),
            _ => RECORD_HEADER_BYTES + records.len(),
        } as u64;
        let mut writer = self.writer.lock();
        self.check_writable(&writer, frame_len)?;
        let offset = writer.end;
        let first_record = seal_records(
            &mut writer.buffer,
            records,
            count,
            base_version,
            &self.checksums,
        );
        writer.end += frame_len;
        self.maybe_flush(&mut writer)?;
        Ok(offset + first_record as u64)
    }

    /// Walks an unsealed run before it is framed: every record whole and
    /// within the limits, a batch within its byte limit. Returns the count.
    fn check_unsealed(&self, records: &[u8]) -> Result<u32> {
        let limits = &self.options.limits;
        let mut count = 0usize;
        for record in UnsealedRecords::new(records) {
            let record = record.map_err(|reason| LogError::Corrupt {
                path: self.path.clone(),
                offset: self.data_len_bytes(),
                reason,
            })?;
            limits.check(&record.mutation)?;
            count += 1;
        }
        let too_large = count > 1 && records.len() > limits.batch_bytes_max;
        let count_u32 = u32::try_from(count).ok().filter(|&n| n > 0 && !too_large);
        count_u32.ok_or(LogError::BadBatch {
            mutations: count,
            len: records.len(),
            max: limits.batch_bytes_max,
        })
    }

    fn maybe_flush(&self, writer: &mut Writer) -> Result<()> {
        if writer.buffer.len() >= self.options.write_buffer_bytes {
            self.flush_locked(writer)?;
        }
        Ok(())
    }

    pub(super) fn flush_locked(&self, writer: &mut Writer) -> Result<()> {
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
            return Err(self.poisoned_error());
        }
        self.flush_locked(&mut writer)
    }

    /// Makes every append made before this call durable (fdatasync).
    /// Returns the durable length.
    ///
    /// One fsync runs at a time: a caller whose appends an earlier fsync
    /// covered returns without its own, and a caller that comes after a
    /// failed fsync gets [`LogError::Poisoned`], never a success, because
    /// the kernel reports a writeback error to one fsync only.
    pub fn sync(&self) -> Result<u64> {
        let target = {
            let mut writer = self.writer.lock();
            if self.is_poisoned() {
                return Err(self.poisoned_error());
            }
            self.flush_locked(&mut writer)?;
            writer.end
        };
        let _one_fsync_at_a_time = self.sync_lock.lock();
        if self.is_poisoned() {
            return Err(self.poisoned_error());
        }
        if self.synced_len.load(Ordering::Acquire) >= target {
            return Ok(target);
        }
        self.sync_data_locked()?;
        self.synced_len.fetch_max(target, Ordering::AcqRel);
        Ok(target)
    }

    /// One fdatasync; the caller holds `sync_lock`. A failure poisons.
    pub(super) fn sync_data_locked(&self) -> Result<()> {
        if let Err(source) = self.file.sync_data() {
            self.poisoned.store(true, Ordering::Release);
            return Err(LogError::io(&self.path, source));
        }
        Ok(())
    }

    /// Length known to be durable.
    pub fn synced_len_bytes(&self) -> u64 {
        self.synced_len.load(Ordering::Acquire)
    }

    /// Writes buffered appends to the file and returns where the file's
    /// frames end. A poisoned segment keeps unwritten appends in its
    /// buffer; only what reached the file counts.
    pub(super) fn flushed_end(&self) -> Result<u64> {
        let mut writer = self.writer.lock();
        if !self.is_poisoned() {
            self.flush_locked(&mut writer)?;
        }
        Ok(self.written_len.load(Ordering::Acquire))
    }
}
