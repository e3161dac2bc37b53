//! The scan of an unsealed segment at open: follow the frame chain from
//! the header, and tell a torn tail (cut it) from damage (refuse).
//!
//! Frames are recognised only on the chain: each frame's header says where
//! the next begins, and a value's bytes are skipped by length, never
//! parsed. In format 2 a header carries its own check, so a damaged length
//! is caught before it is followed. At the first bad frame the scan asks
//! whether the chain visibly goes on after it. If so, frames were written
//! after the bad one: damage, reported with the file and offset. If not,
//! the bad frame is the tail a crash tore, and it is cut.
//!
//! - A bad frame whose header is sound names its own end: the chain goes on
//!   if a sound frame header starts there. One header read, nothing inside
//!   the bad frame (whose bytes may be a client's value) is looked at.
//! - A bad frame whose header is unsound (damaged, or torn by the crash)
//!   names no end. Then the rest of the file is searched for a whole frame
//!   that verifies under the segment's secret. Bytes a client wrote cannot
//!   pass that test without the secret, so a crafted value can neither fake
//!   a frame after a torn tail nor slow the search (it costs one keyed
//!   header check per byte of the tail, whatever the bytes are).
//! - Format 1 checksums are unkeyed, so a format-1 segment is never
//!   searched: an unsound header there ends the chain.

use std::sync::atomic::Ordering;

use super::{LogSegment, RecoveryReport, SEGMENT_HEADER_BYTES};
use crate::Location;
use crate::error::{DecodeError, LogError, Result};
use crate::record::{Frame, FrameHeader, RECORD_HEADER_BYTES, RecordKind, RecordRef, decode_frame};

/// Sequential scans read the file in chunks of this many bytes.
const SCAN_CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScanMode {
    /// Opening an unsealed segment: a torn tail is cut, not an error.
    Recover,
    /// Everything must be whole.
    Strict,
}

impl LogSegment {
    /// Opens an unsealed segment: scans its chain, cuts a torn tail and
    /// makes the cut durable.
    pub(super) fn recover(self, file_len: u64) -> Result<(Self, RecoveryReport)> {
        let start = SEGMENT_HEADER_BYTES as u64;
        let end = self.scan_range(start, file_len, ScanMode::Recover, &mut |_, _| Ok(()))?;
        let cut_data_frame = end < file_len && self.data_frame_starts_at(end, file_len)?;
        if end < file_len {
            let io = |e| LogError::io(&self.path, e);
            self.file.set_len(end).map_err(io)?;
            self.file.sync_data().map_err(io)?;
        }
        self.writer.lock().end = end;
        self.written_len.store(end, Ordering::Release);
        self.synced_len.store(end, Ordering::Release);
        let report = RecoveryReport {
            sealed: false,
            data_len_bytes: end,
            truncated_bytes: file_len - end,
            cut_data_frame,
        };
        Ok((self, report))
    }

    /// Whether the frame chain from the header ends exactly at `end`, every
    /// frame on the way whole.
    pub(super) fn chain_ends_at(&self, end: u64) -> bool {
        let start = SEGMENT_HEADER_BYTES as u64;
        let reached = self.scan_range(start, end, ScanMode::Strict, &mut |_, _| Ok(()));
        matches!(reached, Ok(at) if at == end)
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

    /// Scans the chain of frames in `[start, end)`, visiting each record of
    /// each whole frame. Returns the end of the last whole frame. In
    /// `Recover` mode a bad frame after which the chain does not go on is
    /// a torn tail and ends the scan there; otherwise a bad frame is a
    /// corruption error.
    pub(super) fn scan_range(
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
            let bytes = reader.get(pos, available)?;
            let header = match FrameHeader::decode(bytes, &limits, &self.checksums) {
                Ok(header) => header,
                Err(reason) => return self.bad_frame(&mut reader, pos, None, mode, reason),
            };
            if header.kind == RecordKind::Footer {
                // A seal cut short if the chain stops here, else corruption.
                let reason = DecodeError::Malformed("footer inside the data region");
                return self.bad_frame(&mut reader, pos, Some(header), mode, reason);
            }
            if header.frame_len() > end - pos {
                let reason = DecodeError::Truncated {
                    needed: header.frame_len(),
                    available: end - pos,
                };
                return self.bad_frame(&mut reader, pos, Some(header), mode, reason);
            }
            let frame_len = header.frame_len() as usize;
            let frame = reader.get(pos, frame_len)?;
            match decode_frame(frame, &limits, &self.checksums) {
                Ok((Frame::Single(record), _)) => {
                    visit(self.location(pos, frame_len as u64), record)?
                }
                Ok((Frame::Batch(records), _)) => {
                    for (relative, record) in records {
                        let len = record.encoded_len() as u64;
                        visit(self.location(pos + relative as u64, len), record)?;
                    }
                }
                Err(reason) => {
                    return self.bad_frame(&mut reader, pos, Some(header), mode, reason);
                }
            }
            pos += frame_len as u64;
        }
        Ok(pos)
    }

    /// A bad frame at `pos` whose header, when it decoded, is `header`.
    fn bad_frame(
        &self,
        reader: &mut ChunkReader<'_>,
        pos: u64,
        header: Option<FrameHeader>,
        mode: ScanMode,
        reason: DecodeError,
    ) -> Result<u64> {
        if mode == ScanMode::Recover && !self.chain_goes_on(reader, pos, header)? {
            return Ok(pos);
        }
        Err(self.corrupt(pos, reason))
    }

    /// Whether the chain goes on after the bad frame at `pos` (see the
    /// module docs). Format 1 headers carry no check of their own, so there
    /// the next frame must decode whole.
    fn chain_goes_on(
        &self,
        reader: &mut ChunkReader<'_>,
        pos: u64,
        header: Option<FrameHeader>,
    ) -> Result<bool> {
        let Some(header) = header else {
            if self.checksums.format() < 2 {
                return Ok(false);
            }
            return self.keyed_frame_after(reader, pos);
        };
        let next = pos + header.frame_len();
        let end = reader.end;
        if next >= end || end - next < RECORD_HEADER_BYTES as u64 {
            return Ok(false);
        }
        let limits = self.options.limits;
        let next_header = reader.get(next, RECORD_HEADER_BYTES)?;
        let Ok(next_header) = FrameHeader::decode(next_header, &limits, &self.checksums) else {
            return Ok(false);
        };
        if self.checksums.format() >= 2 {
            return Ok(true);
        }
        if next_header.kind == RecordKind::Footer || next_header.frame_len() > end - next {
            return Ok(false);
        }
        let frame = reader.get(next, next_header.frame_len() as usize)?;
        Ok(decode_frame(frame, &limits, &self.checksums).is_ok())
    }
}

impl LogSegment {
    /// Whether a whole frame that verifies under the segment's secret
    /// starts anywhere after `pos`.
    fn keyed_frame_after(&self, reader: &mut ChunkReader<'_>, pos: u64) -> Result<bool> {
        let limits = self.options.limits;
        let end = reader.end;
        let mut at = pos + 1;
        while at + RECORD_HEADER_BYTES as u64 <= end {
            let bytes = reader.get(at, RECORD_HEADER_BYTES)?;
            if let Ok(header) = FrameHeader::decode(bytes, &limits, &self.checksums)
                && header.kind != RecordKind::Footer
                && header.frame_len() <= end - at
            {
                let frame = reader.get(at, header.frame_len() as usize)?;
                if decode_frame(frame, &limits, &self.checksums).is_ok() {
                    return Ok(true);
                }
            }
            at += 1;
        }
        Ok(false)
    }
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
}
