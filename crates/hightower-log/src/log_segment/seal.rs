//! Sealing: the footer and trailer that close a segment, written once and
//! read back at open.
//!
//! Whether a segment is sealed, and where its footer lies, is decided only
//! by bytes no client controls: the trailer names the footer's offset, and
//! the footer there must verify under the segment's secret (a MAC in
//! format 2). The last bytes of an unsealed segment can be the tail of a
//! client's value, so a trailer alone proves nothing.

use std::sync::atomic::Ordering;

use super::{LogSegment, OwnedHint, RecoveryReport, SEGMENT_HEADER_BYTES};
use crate::error::Result;
use crate::footer::{Footer, Hint, TRAILER_BYTES, TRAILER_MAGIC, encode_footer};
use crate::record::{RECORD_HEADER_BYTES, read_u64};

/// What a sealed segment keeps in memory.
#[derive(Debug)]
pub(super) struct Sealed {
    pub(super) footer: Footer,
    pub(super) footer_offset: u64,
    /// The file mapped read-only, when the file system allows; reads of a
    /// sealed segment then copy from memory instead of making a syscall.
    pub(super) map: Option<memmap2::Mmap>,
}

impl LogSegment {
    /// Reads and verifies the footer named by the trailer, if there is one.
    pub(super) fn read_footer(&self, file_len: u64) -> Result<Option<Sealed>> {
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
        // by a crash, or bytes of a value: the caller scans the data region.
        let Ok(footer) = Footer::decode(&frame, &self.options.limits, &self.checksums) else {
            return Ok(None);
        };
        // Format 1 footers carry an unkeyed checksum that a value could
        // imitate; such a footer counts only where the frame chain from the
        // header ends, which no value can move.
        if self.checksums.format() < 2 && !self.chain_ends_at(footer_offset) {
            return Ok(None);
        }
        Ok(Some(Sealed {
            footer,
            footer_offset,
            map: self.file.map().ok().flatten(),
        }))
    }

    /// Takes the state of a segment whose footer verified at open.
    pub(super) fn opened_sealed(self, sealed: Sealed) -> (Self, RecoveryReport) {
        let data_len = sealed.footer_offset;
        {
            // Locations end at the footer, as on a segment sealed in this process.
            let mut writer = self.writer.lock();
            writer.sealed = true;
            writer.end = data_len;
        }
        self.written_len.store(data_len, Ordering::Release);
        self.synced_len.store(data_len, Ordering::Release);
        let _ = self.sealed.set(sealed);
        let report = RecoveryReport {
            sealed: true,
            data_len_bytes: data_len,
            truncated_bytes: 0,
            cut_data_frame: false,
        };
        (self, report)
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
            return Err(self.poisoned_error());
        }
        self.flush_locked(&mut writer)?;
        let footer_offset = writer.end;
        let bytes = self.encode_footer_at(footer_offset)?;
        let frame = &bytes[..bytes.len() - TRAILER_BYTES];
        let footer = Footer::decode(frame, &self.options.limits, &self.checksums)
            .map_err(|reason| self.corrupt(footer_offset, reason))?;
        if let Err(source) = self.file.write_all_at(&bytes, footer_offset) {
            self.poisoned.store(true, Ordering::Release);
            return Err(crate::LogError::io(&self.path, source));
        }
        {
            let _one_fsync_at_a_time = self.sync_lock.lock();
            self.sync_data_locked()?;
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

    /// The footer and trailer of the records in `[header, footer_offset)`.
    fn encode_footer_at(&self, footer_offset: u64) -> Result<Vec<u8>> {
        let mut owned = Vec::new();
        self.collect_hints(footer_offset, &mut owned)?;
        let hints: Vec<Hint<'_>> = owned.iter().map(OwnedHint::as_hint).collect();
        let mut bytes = Vec::new();
        let options = &self.options;
        encode_footer(
            &mut bytes,
            footer_offset,
            &hints,
            options.sparse_index_interval,
            options.bloom_bits_per_key,
            &self.checksums,
        );
        Ok(bytes)
    }
}
