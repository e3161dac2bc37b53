//! Checksummed, append-only log segments for Hightower KV.
//!
//! The main type is [`LogSegment`]: a file of frames, each a put, a delete
//! or an atomic batch of them, every one guarded by an xxh3 checksum (see
//! [`record`] for the layout). Appending returns a [`Location`]; reading a
//! location verifies the record's checksum. Sealing writes a footer with
//! every key's newest record sorted by key, a sparse index over them and a
//! Bloom filter, so that [`LogSegment::locate`] answers without scanning
//! and a restart rebuilds the key directory without reading values.
//!
//! Opening an unsealed segment scans it: a frame torn by a crash at the end
//! is cut away and reported, while a bad frame with whole frames after it is
//! a [`LogError::Corrupt`] naming the file and the offset.
//!
//! ```
//! use hightower_log::{LogSegment, Mutation, SegmentOptions, vfs::StdVfs};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("0000000001.log");
//! let segment = LogSegment::create(&StdVfs::default(), &path, 1, SegmentOptions::default())?;
//! let at = segment.append(1, &Mutation::Put { key: b"hello", value: b"world" })?;
//! segment.sync()?;
//! assert_eq!(segment.read(at)?.value(), b"world");
//!
//! segment.seal()?;
//! let found = segment.locate(b"hello")?.expect("the key is in the segment");
//! assert_eq!(found.location, at);
//! # Ok(()) }
//! ```
//!
//! Limits: a segment's data region stays below 3 GiB so that offsets fit in
//! 32 bits; keys default to at most 64 KiB and values to 64 MiB
//! ([`Limits`]). All file access goes through [`vfs::Vfs`], which tests use
//! to inject I/O failures.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod error;
pub mod footer;
pub mod log_segment;
pub mod record;
pub mod vfs;

pub use error::{DecodeError, LogError, Result};
pub use footer::{Footer, Hint};
pub use log_segment::{
    Located, LogSegment, RecordBuf, RecoveryReport, SEGMENT_DATA_BYTES_MAX, SEGMENT_FORMAT_VERSION,
    SEGMENT_HEADER_BYTES, SegmentOptions, VerifyReport,
};
pub use record::{Checksums, Limits, Mutation, RecordKind};

/// Where a record lives: its segment, its byte offset and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The segment that holds the record.
    pub segment_id: u32,
    /// Byte offset of the record's first header byte in the segment file.
    pub offset: u32,
    /// Length of the whole record in bytes, header included.
    pub len: u32,
}
