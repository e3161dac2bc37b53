//! Checksummed, append-only log segments (work in progress).

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
