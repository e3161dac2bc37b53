//! The record codec: how one mutation, or one atomic batch of them, is laid
//! out in a segment.
//!
//! Every frame starts with a fixed 28-byte little-endian header:
//!
//! | offset | size | field                                                   |
//! |--------|------|---------------------------------------------------------|
//! | 0      | 8    | checksum of bytes 8.. to the end of the frame           |
//! | 8      | 1    | kind: 1 put, 2 delete, 3 batch, 4 footer, 5 expiring put |
//! | 9      | 3    | header check (format 2; zero in format 1)               |
//! | 12     | 4    | key length (batch: mutation count; footer: entry count) |
//! | 16     | 4    | value length (batch, footer: body length)               |
//! | 20     | 8    | version (batch: version of its first mutation)          |
//!
//! A put or delete record is the header, the key, then the value; an
//! expiring put (format 3) carries its expiry time, 8 bytes of
//! milliseconds since the Unix epoch, between the key and the value. A batch
//! frame is the header followed by `count` whole put/delete records, each
//! with its own checksum, at versions `base, base + 1, ...`; the batch
//! checksum covers them all, so a batch is recovered whole or not at all.
//!
//! Every checksum is keyed by the segment's secret ([`Checksums`]): in
//! format 2 the frame checksum is xxh3-64 seeded with the secret, the
//! header check is the low 24 bits of a seeded xxh3 over the header's
//! kind and length fields (so a damaged length is caught before it is
//! followed), and a footer's checksum is a BLAKE2b MAC under the secret.
//! Format 1 (read only) used unseeded xxh3 and no header check. Format 2
//! (read only) is format 3 without expiring puts.

use blake2::{Blake2b256, Digest};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::error::{DecodeError, LogError, Result};

/// Size of every frame header in bytes.
pub const RECORD_HEADER_BYTES: usize = 28;
const _: () = assert!(RECORD_HEADER_BYTES == 8 + 1 + 3 + 4 + 4 + 8);

/// The keys of one segment's checksums: its random secret and its format.
///
/// A segment's secret is drawn when the segment is created and stored only
/// in its header, which no client byte reaches, so bytes a client writes
/// inside a value never carry a checksum that verifies in that segment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Checksums {
    secret: u64,
    format: u32,
}

impl std::fmt::Debug for Checksums {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs and error messages.
        f.debug_struct("Checksums")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Bytes of the context string that domain-separates footer MACs.
const FOOTER_MAC_CONTEXT: &[u8] = b"hightower segment footer";

impl Checksums {
    /// Checksums of the current format (3) keyed by `secret`.
    pub const fn new(secret: u64) -> Self {
        Checksums { secret, format: 3 }
    }

    /// The checksums of a format-2 segment, keyed the same way as format
    /// 3 (format 2 has no expiring puts).
    pub const fn format_2(secret: u64) -> Self {
        Checksums { secret, format: 2 }
    }

    /// The unkeyed checksums of format-1 segments, which this build reads
    /// but no longer writes.
    pub fn legacy() -> Self {
        Checksums {
            secret: 0,
            format: 1,
        }
    }

    /// The segment format these checksums belong to.
    pub fn format(&self) -> u32 {
        self.format
    }

    /// The secret, for the segment header.
    pub(crate) fn secret(&self) -> u64 {
        self.secret
    }

    /// Whether frame headers carry a header check.
    fn has_header_check(&self) -> bool {
        self.format >= 2
    }

    /// Checksum of a frame's bytes after its checksum field. Seed 0 is
    /// plain xxh3, which is what format 1 used.
    fn frame(&self, bytes: &[u8]) -> u64 {
        xxh3_64_with_seed(bytes, self.secret)
    }

    /// The 3-byte check of a header's kind, lengths and version.
    pub(crate) fn header_check(&self, header: &[u8]) -> [u8; 3] {
        if !self.has_header_check() {
            return [0; 3];
        }
        let mut fields = [0u8; 17];
        fields[0] = header[8];
        fields[1..].copy_from_slice(&header[12..RECORD_HEADER_BYTES]);
        let check = xxh3_64_with_seed(&fields, self.secret.rotate_left(32)).to_le_bytes();
        [check[0], check[1], check[2]]
    }

    /// Checksum of a footer frame's bytes after its checksum field: a MAC
    /// under the secret in format 2, so that nothing but this segment's
    /// own seal verifies as its footer.
    pub(crate) fn footer(&self, bytes: &[u8]) -> u64 {
        if !self.has_header_check() {
            return xxh3_64(bytes);
        }
        let mac = Blake2b256::new()
            .chain_update(self.secret.to_le_bytes())
            .chain_update(FOOTER_MAC_CONTEXT)
            .chain_update(bytes)
            .finalize();
        u64::from_le_bytes(mac[..8].try_into().expect("a 32-byte digest"))
    }
}

/// Size limits for keys, values and batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest key in bytes (default 64 KiB).
    pub key_bytes_max: usize,
    /// Largest value in bytes (default 64 MiB).
    pub value_bytes_max: usize,
    /// Largest encoded batch in bytes (default 256 MiB).
    pub batch_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            key_bytes_max: 64 * 1024,
            value_bytes_max: 64 * 1024 * 1024,
            batch_bytes_max: 256 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Checks one mutation against the limits.
    pub fn check(&self, mutation: &Mutation<'_>) -> Result<()> {
        let key = mutation.key();
        if key.is_empty() {
            return Err(LogError::EmptyKey);
        }
        if key.len() > self.key_bytes_max {
            return Err(LogError::KeyTooLarge {
                len: key.len(),
                max: self.key_bytes_max,
            });
        }
        if let Some(value) = mutation.value()
            && value.len() > self.value_bytes_max
        {
            return Err(LogError::ValueTooLarge {
                len: value.len(),
                max: self.value_bytes_max,
            });
        }
        Ok(())
    }
}

/// The kind byte of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// A key set to a value.
    Put = 1,
    /// A key deleted (a tombstone).
    Delete = 2,
    /// An atomic group of puts and deletes.
    Batch = 3,
    /// A sealed segment's footer.
    Footer = 4,
    /// A key set to a value until an absolute time (format 3).
    PutExpiring = 5,
}

impl RecordKind {
    fn from_u8(byte: u8) -> Result<Self, DecodeError> {
        match byte {
            1 => Ok(RecordKind::Put),
            2 => Ok(RecordKind::Delete),
            3 => Ok(RecordKind::Batch),
            4 => Ok(RecordKind::Footer),
            5 => Ok(RecordKind::PutExpiring),
            other => Err(DecodeError::UnknownKind(other)),
        }
    }
}

/// One mutation to append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation<'a> {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Delete `key`.
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// Set `key` to `value` until `expires_at_ms`, milliseconds since the
    /// Unix epoch; from then on the key reads as absent.
    PutExpiring {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// The expiry time in milliseconds since the Unix epoch.
        expires_at_ms: u64,
    },
}

/// Bytes an expiring put spends on its expiry time.
pub const EXPIRY_BYTES: usize = 8;

impl<'a> Mutation<'a> {
    /// A put that expires at `expires_at_ms` when it is `Some`, a plain
    /// put otherwise.
    pub fn put(key: &'a [u8], value: &'a [u8], expires_at_ms: Option<u64>) -> Self {
        match expires_at_ms {
            Some(expires_at_ms) => Mutation::PutExpiring {
                key,
                value,
                expires_at_ms,
            },
            None => Mutation::Put { key, value },
        }
    }

    /// The key the mutation touches.
    pub fn key(&self) -> &'a [u8] {
        match self {
            Mutation::Put { key, .. }
            | Mutation::Delete { key }
            | Mutation::PutExpiring { key, .. } => key,
        }
    }

    /// The value a put sets; `None` for a delete.
    pub fn value(&self) -> Option<&'a [u8]> {
        match self {
            Mutation::Put { value, .. } | Mutation::PutExpiring { value, .. } => Some(value),
            Mutation::Delete { .. } => None,
        }
    }

    /// Whether the mutation sets a value (a put, expiring or not).
    pub fn is_put(&self) -> bool {
        !matches!(self, Mutation::Delete { .. })
    }

    /// The expiry time of an expiring put.
    pub fn expires_at_ms(&self) -> Option<u64> {
        match self {
            Mutation::PutExpiring { expires_at_ms, .. } => Some(*expires_at_ms),
            _ => None,
        }
    }

    /// The record kind that encodes this mutation.
    pub fn kind(&self) -> RecordKind {
        match self {
            Mutation::Put { .. } => RecordKind::Put,
            Mutation::Delete { .. } => RecordKind::Delete,
            Mutation::PutExpiring { .. } => RecordKind::PutExpiring,
        }
    }

    /// Encoded size of this mutation as a record.
    pub fn encoded_len(&self) -> usize {
        record_bytes(
            self.kind(),
            self.key().len(),
            self.value().map_or(0, <[u8]>::len),
        )
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Stored checksum.
    pub checksum: u64,
    /// Frame kind.
    pub kind: RecordKind,
    /// Key length, or the count of a batch or footer.
    pub key_len: u32,
    /// Value length, or the body length of a batch or footer.
    pub value_len: u32,
    /// Version of the record (first version of a batch).
    pub version: u64,
}

impl FrameHeader {
    /// Decodes and sanity-checks a header against its header check and
    /// the limits.
    pub fn decode(
        bytes: &[u8],
        limits: &Limits,
        checksums: &Checksums,
    ) -> Result<Self, DecodeError> {
        let Some(bytes) = bytes.get(..RECORD_HEADER_BYTES) else {
            return Err(DecodeError::Truncated {
                needed: RECORD_HEADER_BYTES as u64,
                available: bytes.len() as u64,
            });
        };
        if bytes[9..12] != checksums.header_check(bytes) {
            return Err(if checksums.has_header_check() {
                DecodeError::HeaderCheckMismatch
            } else {
                DecodeError::ReservedNonZero
            });
        }
        let kind = RecordKind::from_u8(bytes[8])?;
        let header = FrameHeader {
            checksum: read_u64(bytes, 0),
            kind,
            key_len: read_u32(bytes, 12),
            value_len: read_u32(bytes, 16),
            version: read_u64(bytes, 20),
        };
        header.check_lengths(limits)?;
        Ok(header)
    }

    fn check_lengths(&self, limits: &Limits) -> Result<(), DecodeError> {
        let over = |what, len: u32, max: usize| {
            if len as u64 > max as u64 {
                Err(DecodeError::LengthOverLimit {
                    what,
                    len: len as u64,
                    max: max as u64,
                })
            } else {
                Ok(())
            }
        };
        match self.kind {
            RecordKind::Put | RecordKind::Delete | RecordKind::PutExpiring => {
                if self.key_len == 0 {
                    return Err(DecodeError::Malformed("empty key"));
                }
                if self.kind == RecordKind::Delete && self.value_len != 0 {
                    return Err(DecodeError::Malformed("delete record with a value"));
                }
                over("key", self.key_len, limits.key_bytes_max)?;
                over("value", self.value_len, limits.value_bytes_max)
            }
            RecordKind::Batch => {
                if self.key_len == 0 {
                    return Err(DecodeError::Malformed("empty batch"));
                }
                over("batch", self.value_len, limits.batch_bytes_max)
            }
            // Footers are bounded by the segment they close.
            RecordKind::Footer => Ok(()),
        }
    }

    /// Total bytes of the frame, header included.
    pub fn frame_len(&self) -> u64 {
        match self.kind {
            RecordKind::Put | RecordKind::Delete | RecordKind::PutExpiring => {
                record_bytes(self.kind, self.key_len as usize, self.value_len as usize) as u64
            }
            RecordKind::Batch | RecordKind::Footer => {
                RECORD_HEADER_BYTES as u64 + self.value_len as u64
            }
        }
    }
}

/// A put or delete record decoded in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Put, expiring put or delete.
    pub kind: RecordKind,
    /// The record's version.
    pub version: u64,
    /// The key.
    pub key: &'a [u8],
    /// The value (empty for a delete).
    pub value: &'a [u8],
    /// The expiry time of an expiring put, in milliseconds since the Unix
    /// epoch.
    pub expires_at_ms: Option<u64>,
}

impl RecordRef<'_> {
    /// Whether the record sets a value (a put, expiring or not).
    pub fn is_put(&self) -> bool {
        self.kind != RecordKind::Delete
    }

    /// Length of the encoded record, header included.
    pub fn encoded_len(&self) -> usize {
        record_bytes(self.kind, self.key.len(), self.value.len())
    }
}

/// Fills in a frame's header check and its checksum over
/// `header[8..] ++ body`.
fn finish_header(frame: &mut [u8], checksums: &Checksums) {
    let check = checksums.header_check(frame);
    frame[9..12].copy_from_slice(&check);
    let checksum = checksums.frame(&frame[8..]);
    frame[0..8].copy_from_slice(&checksum.to_le_bytes());
}

fn put_header(out: &mut Vec<u8>, kind: RecordKind, key_len: u32, value_len: u32, version: u64) {
    out.extend_from_slice(&[0u8; 8]);
    out.push(kind as u8);
    out.extend_from_slice(&[0u8; 3]);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(&value_len.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
}

/// Appends a record's body: the key, an expiring put's expiry time, the
/// value.
fn put_body(out: &mut Vec<u8>, mutation: &Mutation<'_>) {
    out.extend_from_slice(mutation.key());
    if let Some(expires_at_ms) = mutation.expires_at_ms() {
        out.extend_from_slice(&expires_at_ms.to_le_bytes());
    }
    out.extend_from_slice(mutation.value().unwrap_or(&[]));
}

/// The length of the record whose header starts `header`, header
/// included, from its kind and length fields; `None` for a kind that is
/// not a put or delete.
fn record_len(header: &[u8]) -> Option<usize> {
    let kind = RecordKind::from_u8(header[8]).ok()?;
    let (key_len, value_len) = (read_u32(header, 12) as usize, read_u32(header, 16) as usize);
    match kind {
        RecordKind::Put | RecordKind::Delete | RecordKind::PutExpiring => {
            Some(record_bytes(kind, key_len, value_len))
        }
        RecordKind::Batch | RecordKind::Footer => None,
    }
}

/// Bytes of a put or delete record of `kind`, header included: the key,
/// an expiring put's expiry time, the value.
fn record_bytes(kind: RecordKind, key_len: usize, value_len: usize) -> usize {
    let expiry = if kind == RecordKind::PutExpiring {
        EXPIRY_BYTES
    } else {
        0
    };
    RECORD_HEADER_BYTES + key_len + expiry + value_len
}

/// Appends one put or delete record to `out`; returns its length. The caller
/// has checked the mutation against the limits.
pub fn encode_record(
    out: &mut Vec<u8>,
    version: u64,
    mutation: &Mutation<'_>,
    checksums: &Checksums,
) -> usize {
    let start = out.len();
    let (key, value) = (mutation.key(), mutation.value().unwrap_or(&[]));
    let key_len = u32::try_from(key.len()).expect("keys are checked against a u32 limit");
    let value_len = u32::try_from(value.len()).expect("values are checked against a u32 limit");
    put_header(out, mutation.kind(), key_len, value_len, version);
    put_body(out, mutation);
    finish_header(&mut out[start..], checksums);
    out.len() - start
}

/// Appends a batch frame to `out`: mutation `i` gets version
/// `base_version + i`. Returns, for each mutation, its record's offset
/// relative to the start of the frame and its length.
pub fn encode_batch(
    out: &mut Vec<u8>,
    base_version: u64,
    mutations: &[Mutation<'_>],
    checksums: &Checksums,
) -> Vec<(usize, usize)> {
    let start = out.len();
    let count = u32::try_from(mutations.len()).expect("batch size is checked by the caller");
    put_header(out, RecordKind::Batch, count, 0, base_version);
    let mut spans = Vec::with_capacity(mutations.len());
    for (i, mutation) in mutations.iter().enumerate() {
        let relative = out.len() - start;
        // Wrapping, as the decoder checks it: a base near u64::MAX must not panic.
        let len = encode_record(
            out,
            base_version.wrapping_add(i as u64),
            mutation,
            checksums,
        );
        spans.push((relative, len));
    }
    let body_len = out.len() - start - RECORD_HEADER_BYTES;
    let body_len = u32::try_from(body_len).expect("batch bytes are checked by the caller");
    out[start + 16..start + 20].copy_from_slice(&body_len.to_le_bytes());
    finish_header(&mut out[start..], checksums);
    spans
}

/// Appends one put or delete record to `out` unsealed: the layout of
/// [`encode_record`] with zeros where the checksum, the header check and
/// the version go, because a writer builds it before it knows the version
/// and the segment (whose secret keys the checksums). [`seal_records`]
/// fills them in. Returns the record's length. The caller checks the
/// mutation against the limits before the records are sealed.
pub fn encode_unsealed(out: &mut Vec<u8>, mutation: &Mutation<'_>) -> usize {
    let start = out.len();
    let (key, value) = (mutation.key(), mutation.value().unwrap_or(&[]));
    let key_len = u32::try_from(key.len()).expect("keys are checked against a u32 limit");
    let value_len = u32::try_from(value.len()).expect("values are checked against a u32 limit");
    put_header(out, mutation.kind(), key_len, value_len, 0);
    put_body(out, mutation);
    out.len() - start
}

/// One unsealed record of a run that [`UnsealedRecords`] walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsealed<'a> {
    /// Offset of the record's header in the run.
    pub offset: usize,
    /// The mutation it holds.
    pub mutation: Mutation<'a>,
}

impl Unsealed<'_> {
    /// Length of the record, header included.
    pub fn len(&self) -> usize {
        self.mutation.encoded_len()
    }

    /// Whether the record is empty (never: it has a header).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Walks a run of records made by [`encode_unsealed`], checking each
/// header's kind and lengths against the run as it goes: a record that
/// does not fit yields an error and ends the walk.
#[derive(Debug, Clone)]
pub struct UnsealedRecords<'a> {
    records: &'a [u8],
    at: usize,
}

impl<'a> UnsealedRecords<'a> {
    /// A walk over `records`.
    pub fn new(records: &'a [u8]) -> Self {
        UnsealedRecords { records, at: 0 }
    }

    fn decode_at(&self, at: usize) -> Result<Unsealed<'a>, DecodeError> {
        let header = self
            .records
            .get(at..at + RECORD_HEADER_BYTES)
            .ok_or(DecodeError::Malformed("an unsealed record's header is cut"))?;
        let key_len = read_u32(header, 12) as usize;
        let value_len = read_u32(header, 16) as usize;
        let kind = RecordKind::from_u8(header[8])?;
        let expiry_len = if kind == RecordKind::PutExpiring {
            EXPIRY_BYTES
        } else {
            0
        };
        let key_at = at + RECORD_HEADER_BYTES;
        let value_at = key_at + key_len + expiry_len;
        let end = key_at
            .checked_add(key_len)
            .and_then(|n| n.checked_add(expiry_len))
            .and_then(|n| n.checked_add(value_len))
            .filter(|&end| end <= self.records.len())
            .ok_or(DecodeError::Malformed(
                "an unsealed record runs past its run",
            ))?;
        let key = &self.records[key_at..key_at + key_len];
        let mutation = match kind {
            RecordKind::Put => Mutation::Put {
                key,
                value: &self.records[value_at..end],
            },
            RecordKind::PutExpiring => Mutation::PutExpiring {
                key,
                value: &self.records[value_at..end],
                expires_at_ms: read_u64(self.records, key_at + key_len),
            },
            RecordKind::Delete if value_len == 0 => Mutation::Delete { key },
            _ => {
                return Err(DecodeError::Malformed(
                    "an unsealed record is not a put or delete",
                ));
            }
        };
        Ok(Unsealed {
            offset: at,
            mutation,
        })
    }
}

impl<'a> Iterator for UnsealedRecords<'a> {
    type Item = Result<Unsealed<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.records.len() {
            return None;
        }
        let item = self.decode_at(self.at);
        match &item {
            Ok(record) => self.at += record.len(),
            // A bad header ends the walk: nothing after it can be framed.
            Err(_) => self.at = self.records.len(),
        }
        Some(item)
    }
}

/// Appends `records`, a run of `count` records made by
/// [`encode_unsealed`], to `out` as one frame and seals it: record `i`
/// gets version `base_version + i` and its checksums under `checksums`.
/// One record is framed on its own, several as one batch frame (the same
/// bytes [`encode_record`] and [`encode_batch`] write). Returns the
/// offset of the first record relative to the start of the frame.
///
/// The caller has walked `records` with [`UnsealedRecords`], so every
/// record is whole and `count` matches.
pub fn seal_records(
    out: &mut Vec<u8>,
    records: &[u8],
    count: u32,
    base_version: u64,
    checksums: &Checksums,
) -> usize {
    let start = out.len();
    let first_record = if count == 1 {
        0
    } else {
        let body_len = u32::try_from(records.len()).expect("batch bytes are checked by the caller");
        put_header(out, RecordKind::Batch, count, body_len, base_version);
        RECORD_HEADER_BYTES
    };
    out.extend_from_slice(records);
    let mut at = start + first_record;
    for i in 0..u64::from(count) {
        let record_len =
            record_len(&out[at..]).expect("the caller has walked the run: puts and deletes only");
        // Wrapping, as the decoder checks it: a base near u64::MAX must not panic.
        let version = base_version.wrapping_add(i);
        out[at + 20..at + 28].copy_from_slice(&version.to_le_bytes());
        finish_header(&mut out[at..at + record_len], checksums);
        at += record_len;
    }
    assert_eq!(at, out.len(), "the sealed records fill the frame exactly");
    if count != 1 {
        finish_header(&mut out[start..], checksums);
    }
    first_record
}

/// Verifies the checksum of a whole data frame whose header is already
/// decoded.
pub fn verify_checksum(
    frame: &[u8],
    header: &FrameHeader,
    checksums: &Checksums,
) -> Result<(), DecodeError> {
    let actual = checksums.frame(&frame[8..]);
    if actual != header.checksum {
        return Err(DecodeError::ChecksumMismatch {
            expected: header.checksum,
            actual,
        });
    }
    Ok(())
}

/// Decodes exactly one put or delete record from `bytes` (which must hold
/// the whole record and nothing else) and verifies its checksum.
pub fn decode_record<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    checksums: &Checksums,
) -> Result<RecordRef<'a>, DecodeError> {
    let header = FrameHeader::decode(bytes, limits, checksums)?;
    if !matches!(
        header.kind,
        RecordKind::Put | RecordKind::Delete | RecordKind::PutExpiring
    ) {
        return Err(DecodeError::Malformed("expected a put or delete record"));
    }
    if header.frame_len() != bytes.len() as u64 {
        return Err(DecodeError::Truncated {
            needed: header.frame_len(),
            available: bytes.len() as u64,
        });
    }
    verify_checksum(bytes, &header, checksums)?;
    let key_end = RECORD_HEADER_BYTES + header.key_len as usize;
    let (expires_at_ms, value_at) = match header.kind {
        RecordKind::PutExpiring => (Some(read_u64(bytes, key_end)), key_end + EXPIRY_BYTES),
        _ => (None, key_end),
    };
    Ok(RecordRef {
        kind: header.kind,
        version: header.version,
        key: &bytes[RECORD_HEADER_BYTES..key_end],
        value: &bytes[value_at..],
        expires_at_ms,
    })
}

/// A decoded data frame: one record, or an atomic batch of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A single put or delete.
    Single(RecordRef<'a>),
    /// A batch: each record with its offset relative to the frame start.
    Batch(Vec<(usize, RecordRef<'a>)>),
}

/// Decodes the data frame at the start of `bytes`, verifying every
/// checksum. Returns the frame and its length. Footers are refused here.
pub fn decode_frame<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    checksums: &Checksums,
) -> Result<(Frame<'a>, usize), DecodeError> {
    let header = FrameHeader::decode(bytes, limits, checksums)?;
    let frame_len = header.frame_len();
    if frame_len > bytes.len() as u64 {
        return Err(DecodeError::Truncated {
            needed: frame_len,
            available: bytes.len() as u64,
        });
    }
    let frame_len = frame_len as usize;
    let frame = &bytes[..frame_len];
    match header.kind {
        RecordKind::Put | RecordKind::Delete | RecordKind::PutExpiring => Ok((
            Frame::Single(decode_record(frame, limits, checksums)?),
            frame_len,
        )),
        RecordKind::Batch => {
            verify_checksum(frame, &header, checksums)?;
            Ok((
                Frame::Batch(decode_batch_body(frame, &header, limits, checksums)?),
                frame_len,
            ))
        }
        RecordKind::Footer => Err(DecodeError::Malformed(
            "footer where a data frame was expected",
        )),
    }
}

fn decode_batch_body<'a>(
    frame: &'a [u8],
    header: &FrameHeader,
    limits: &Limits,
    checksums: &Checksums,
) -> Result<Vec<(usize, RecordRef<'a>)>, DecodeError> {
    let count = header.key_len as usize;
    // Every record needs at least a header, which bounds the allocation.
    if count > (frame.len() - RECORD_HEADER_BYTES) / RECORD_HEADER_BYTES {
        return Err(DecodeError::Malformed("batch count larger than its body"));
    }
    let mut records = Vec::with_capacity(count);
    let mut pos = RECORD_HEADER_BYTES;
    for i in 0..count {
        let inner = FrameHeader::decode(&frame[pos..], limits, checksums)?;
        let end = pos as u64 + inner.frame_len();
        if end > frame.len() as u64 {
            return Err(DecodeError::Malformed("batch record runs past the batch"));
        }
        let record = decode_record(&frame[pos..end as usize], limits, checksums)?;
        if record.version != header.version.wrapping_add(i as u64) {
            return Err(DecodeError::Malformed(
                "batch record versions are not consecutive",
            ));
        }
        records.push((pos, record));
        pos = end as usize;
    }
    if pos != frame.len() {
        return Err(DecodeError::Malformed("batch body longer than its records"));
    }
    Ok(records)
}

pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("slice of 4 bytes"))
}

pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("slice of 8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKSUMS: Checksums = Checksums::new(0x00C0_FFEE_0000_0007);

    #[test]
    fn put_round_trips() {
        let mut buf = Vec::new();
        let len = encode_record(
            &mut buf,
            7,
            &Mutation::Put {
                key: b"k",
                value: b"hello",
            },
            &CHECKSUMS,
        );
        assert_eq!(len, RECORD_HEADER_BYTES + 6);
        let record = decode_record(&buf, &Limits::default(), &CHECKSUMS).unwrap();
        assert_eq!(record.kind, RecordKind::Put);
        assert_eq!(record.version, 7);
        assert_eq!(record.key, b"k");
        assert_eq!(record.value, b"hello");
    }

    #[test]
    fn delete_round_trips() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 9, &Mutation::Delete { key: b"gone" }, &CHECKSUMS);
        let record = decode_record(&buf, &Limits::default(), &CHECKSUMS).unwrap();
        assert_eq!(record.kind, RecordKind::Delete);
        assert_eq!(record.value, b"");
    }

    #[test]
    fn batch_round_trips_with_consecutive_versions() {
        let mut buf = vec![0xAA; 5]; // frames need not start at zero
        let muts = [
            Mutation::Put {
                key: b"a",
                value: b"1",
            },
            Mutation::Delete { key: b"b" },
            Mutation::Put {
                key: b"c",
                value: b"333",
            },
        ];
        let spans = encode_batch(&mut buf, 100, &muts, &CHECKSUMS);
        let (frame, len) = decode_frame(&buf[5..], &Limits::default(), &CHECKSUMS).unwrap();
        assert_eq!(len, buf.len() - 5);
        let Frame::Batch(records) = frame else {
            panic!("expected a batch")
        };
        assert_eq!(records.len(), 3);
        for (i, ((offset, record), (span_offset, span_len))) in
            records.iter().zip(&spans).enumerate()
        {
            assert_eq!(offset, span_offset);
            assert_eq!(record.version, 100 + i as u64);
            assert_eq!(record.key, muts[i].key());
            let alone = &buf[5 + span_offset..5 + span_offset + span_len];
            assert_eq!(
                decode_record(alone, &Limits::default(), &CHECKSUMS).unwrap(),
                *record
            );
        }
    }

    #[test]
    fn expiring_put_round_trips_alone_and_in_a_batch() {
        let put = Mutation::PutExpiring {
            key: b"session",
            value: b"token",
            expires_at_ms: 1_765_000_000_000,
        };
        let mut buf = Vec::new();
        let len = encode_record(&mut buf, 3, &put, &CHECKSUMS);
        assert_eq!(len, put.encoded_len());
        assert_eq!(len, RECORD_HEADER_BYTES + 7 + EXPIRY_BYTES + 5);
        let record = decode_record(&buf, &Limits::default(), &CHECKSUMS).unwrap();
        assert_eq!(record.kind, RecordKind::PutExpiring);
        assert!(record.is_put());
        assert_eq!(
            (record.key, record.value, record.expires_at_ms),
            (&b"session"[..], &b"token"[..], Some(1_765_000_000_000))
        );
        let plain = Mutation::Put {
            key: b"k",
            value: b"v",
        };
        let mut batch = Vec::new();
        encode_batch(&mut batch, 10, &[plain, put], &CHECKSUMS);
        let (Frame::Batch(records), _) =
            decode_frame(&batch, &Limits::default(), &CHECKSUMS).unwrap()
        else {
            panic!("expected a batch")
        };
        assert_eq!(records[0].1.expires_at_ms, None);
        assert_eq!(records[1].1.expires_at_ms, Some(1_765_000_000_000));
        assert_eq!(records[1].1.value, b"token");
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let put = Mutation::Put {
            key: b"key",
            value: b"value",
        };
        let expiring = Mutation::PutExpiring {
            key: b"key",
            value: b"value",
            expires_at_ms: 42,
        };
        for mutation in [put, expiring] {
            let mut buf = Vec::new();
            encode_record(&mut buf, 1, &mutation, &CHECKSUMS);
            for byte in 0..buf.len() {
                for bit in 0..8 {
                    let mut bad = buf.clone();
                    bad[byte] ^= 1 << bit;
                    assert!(
                        decode_frame(&bad, &Limits::default(), &CHECKSUMS).is_err(),
                        "{:?}: flip at {byte}:{bit}",
                        mutation.kind()
                    );
                }
            }
        }
    }

    #[test]
    fn limits_name_size_and_limit() {
        let limits = Limits {
            key_bytes_max: 4,
            value_bytes_max: 8,
            batch_bytes_max: 64,
        };
        let err = limits
            .check(&Mutation::Put {
                key: b"12345",
                value: b"",
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "key of 5 bytes exceeds the limit of 4 bytes"
        );
        let err = limits
            .check(&Mutation::Put {
                key: b"k",
                value: &[0; 9],
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "value of 9 bytes exceeds the limit of 8 bytes"
        );
        assert!(matches!(
            limits.check(&Mutation::Delete { key: b"" }),
            Err(LogError::EmptyKey)
        ));
    }

    #[test]
    fn decoder_refuses_lengths_over_limits() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            1,
            &Mutation::Put {
                key: b"k",
                value: &[1; 100],
            },
            &CHECKSUMS,
        );
        let small = Limits {
            value_bytes_max: 10,
            ..Limits::default()
        };
        assert!(matches!(
            decode_frame(&buf, &small, &CHECKSUMS),
            Err(DecodeError::LengthOverLimit {
                what: "value",
                len: 100,
                max: 10
            })
        ));
    }

    #[test]
    fn truncated_frames_are_reported_as_such() {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            1,
            &Mutation::Put {
                key: b"k",
                value: b"v",
            },
            &CHECKSUMS,
        );
        for cut in 0..buf.len() {
            assert!(matches!(
                decode_frame(&buf[..cut], &Limits::default(), &CHECKSUMS),
                Err(DecodeError::Truncated { .. })
            ));
        }
    }

    #[test]
    fn format_1_checksums_are_plain_xxh3() {
        // Seed 0 is the unseeded hash, so format-1 frames verify unchanged.
        for len in [0, 1, 16, 17, 128, 129, 240, 241, 4096] {
            let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
            assert_eq!(Checksums::legacy().frame(&bytes), xxh3_64(&bytes), "{len}");
        }
        let mut buf = Vec::new();
        let put = Mutation::Put {
            key: b"k",
            value: b"v",
        };
        encode_record(&mut buf, 1, &put, &Checksums::legacy());
        assert_eq!(&buf[9..12], &[0, 0, 0], "format 1 has no header check");
    }

    #[test]
    fn a_frame_verifies_only_under_its_own_secret() {
        let mut buf = Vec::new();
        let put = Mutation::Put {
            key: b"k",
            value: b"value",
        };
        encode_record(&mut buf, 1, &put, &CHECKSUMS);
        let limits = Limits::default();
        assert!(decode_frame(&buf, &limits, &CHECKSUMS).is_ok());
        for other in [Checksums::new(0), Checksums::new(1), Checksums::legacy()] {
            assert!(decode_frame(&buf, &limits, &other).is_err(), "{other:?}");
        }
    }

    #[test]
    fn a_damaged_length_fails_the_header_check() {
        let mut buf = Vec::new();
        let put = Mutation::Put {
            key: b"k",
            value: b"value",
        };
        encode_record(&mut buf, 1, &put, &CHECKSUMS);
        for byte in (8..9).chain(12..RECORD_HEADER_BYTES) {
            let mut bad = buf.clone();
            bad[byte] ^= 0x10;
            assert_eq!(
                FrameHeader::decode(&bad, &Limits::default(), &CHECKSUMS),
                Err(DecodeError::HeaderCheckMismatch),
                "byte {byte}"
            );
        }
    }
}

#[cfg(test)]
mod unsealed_tests {
    use super::*;

    fn mutations() -> [Mutation<'static>; 3] {
        [
            Mutation::Put {
                key: b"alpha",
                value: b"one",
            },
            Mutation::Delete { key: b"beta" },
            Mutation::PutExpiring {
                key: b"gamma",
                value: b"",
                expires_at_ms: 1_700_000_000_123,
            },
        ]
    }

    fn unsealed(mutations: &[Mutation<'_>]) -> Vec<u8> {
        let mut records = Vec::new();
        for mutation in mutations {
            encode_unsealed(&mut records, mutation);
        }
        records
    }

    #[test]
    fn sealing_one_record_writes_what_encode_record_writes() {
        let checksums = Checksums::new(0x5eed);
        let mutation = mutations()[0];
        let mut expected = Vec::new();
        encode_record(&mut expected, 7, &mutation, &checksums);
        let mut sealed = vec![0xAA];
        let first = seal_records(&mut sealed, &unsealed(&[mutation]), 1, 7, &checksums);
        assert_eq!(first, 0);
        assert_eq!(&sealed[1..], expected.as_slice());
    }

    #[test]
    fn sealing_a_run_writes_what_encode_batch_writes() {
        let checksums = Checksums::new(42);
        let mut expected = Vec::new();
        let spans = encode_batch(&mut expected, 100, &mutations(), &checksums);
        let mut sealed = Vec::new();
        let first = seal_records(&mut sealed, &unsealed(&mutations()), 3, 100, &checksums);
        assert_eq!(first, spans[0].0);
        assert_eq!(sealed, expected);
    }

    #[test]
    fn the_walk_yields_each_record_and_stops_at_a_cut_one() {
        let records = unsealed(&mutations());
        let walked: Vec<_> = UnsealedRecords::new(&records)
            .collect::<Result<_, _>>()
            .expect("a whole run walks");
        assert_eq!(walked.len(), 3);
        assert_eq!(walked[1].mutation, Mutation::Delete { key: b"beta" });
        assert_eq!(walked[1].offset, mutations()[0].encoded_len());
        let cut = &records[..records.len() - 1];
        let outcome: Vec<_> = UnsealedRecords::new(cut).collect();
        assert_eq!(outcome.len(), 3);
        assert!(outcome[2].is_err(), "a cut record is an error");
    }
}
