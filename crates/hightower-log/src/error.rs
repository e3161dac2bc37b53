//! The error type of the log layer.

use std::path::PathBuf;

/// Why a frame's bytes could not be decoded. Carried inside
/// [`LogError::Corrupt`], which adds the file and the offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes were available than the header or its lengths require.
    #[error("truncated frame: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the frame needs.
        needed: u64,
        /// Bytes that were there.
        available: u64,
    },
    /// The kind byte names no known record kind.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// Reserved header bytes were not zero (format 1).
    #[error("reserved header bytes are not zero")]
    ReservedNonZero,
    /// A frame header's own check does not match its fields (format 2):
    /// the header is damaged or torn, so its lengths cannot be followed.
    #[error("frame header check mismatch")]
    HeaderCheckMismatch,
    /// A length field is larger than the configured limit.
    #[error("{what} of {len} bytes exceeds the limit of {max} bytes")]
    LengthOverLimit {
        /// Which length ("key", "value", "batch").
        what: &'static str,
        /// The length found.
        len: u64,
        /// The limit in force.
        max: u64,
    },
    /// The stored checksum does not match the bytes.
    #[error("checksum mismatch: stored {expected:#018x}, computed {actual:#018x}")]
    ChecksumMismatch {
        /// Checksum stored in the frame.
        expected: u64,
        /// Checksum computed over the bytes read.
        actual: u64,
    },
    /// A structural rule was broken (a batch inside a batch, a delete with a
    /// value, an empty key, lengths that do not add up, ...).
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

/// Errors of the log layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An I/O call on a segment file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A frame failed to decode somewhere other than a torn tail.
    #[error("corrupt record in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the frame that failed.
        offset: u64,
        /// What was wrong with it.
        reason: DecodeError,
    },
    /// The file does not start with the segment magic.
    #[error("{path} is not a hightower log segment (bad magic)")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a format version this build cannot read.
    #[error("{path} has format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build understands.
        supported: u32,
    },
    /// A key was empty.
    #[error("keys must not be empty")]
    EmptyKey,
    /// A key exceeded the key size limit.
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge {
        /// Size of the key.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value exceeded the value size limit.
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// Size of the value.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A batch held no mutations, or more bytes than the batch limit.
    #[error(
        "batch of {mutations} mutations and {len} bytes is outside the limits (1 mutation, {max} bytes)"
    )]
    BadBatch {
        /// Number of mutations.
        mutations: usize,
        /// Encoded size in bytes.
        len: usize,
        /// The byte limit.
        max: usize,
    },
    /// The segment would grow past what a 32-bit offset can address.
    #[error(
        "segment {segment_id} is full: {len} bytes plus a {frame_len}-byte frame exceeds {max} bytes"
    )]
    SegmentFull {
        /// The segment.
        segment_id: u32,
        /// Its current length.
        len: u64,
        /// The frame that did not fit.
        frame_len: u64,
        /// The largest segment length.
        max: u64,
    },
    /// An append was attempted on a sealed segment.
    #[error("segment {segment_id} is sealed and takes no more appends")]
    Sealed {
        /// The segment.
        segment_id: u32,
    },
    /// An earlier write or fsync failed; the segment refuses further writes
    /// because what reached the disk is no longer known.
    #[error("segment {segment_id} is poisoned by an earlier I/O failure; reopen the store")]
    Poisoned {
        /// The segment.
        segment_id: u32,
    },
    /// A location points outside the segment or at a different record.
    #[error("location {offset}+{len} is not a record of segment {segment_id}")]
    BadLocation {
        /// The segment.
        segment_id: u32,
        /// Offset asked for.
        offset: u32,
        /// Length asked for.
        len: u32,
    },
}

/// Result type of the log layer.
pub type Result<T, E = LogError> = std::result::Result<T, E>;

impl LogError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        LogError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
