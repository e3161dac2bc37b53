//! The footer that seals a segment: every key the segment holds, sorted,
//! with its newest record's location and version (a hint block), a sparse
//! index over that block, and a Bloom filter over the keys.
//!
//! The footer is a frame of kind [`RecordKind::Footer`] whose body is
//!
//! ```text
//! entries  : per key, sorted: key_len u32 | kind u8 | offset u32 | len u32 | version u64
//!            | expires_at_ms u64 (kind 5 only) | key
//! sparse   : every Nth entry: key_len u32 | entry offset in block u32 | key
//! bloom    : hash count u32 | word count u32 | words u64...
//! meta     : entries_len u32 | sparse_count u32 | sparse_len u32 | bloom_len u32 | min_version u64
//! ```
//!
//! followed, after the frame, by a 16-byte trailer: the footer frame's
//! offset (u64) and the magic `HTKVEND\0`. All integers little-endian.

use fastbloom::BloomFilter;
use xxhash_rust::xxh3::xxh3_64;

use crate::Location;
use crate::error::DecodeError;
use crate::record::{
    Checksums, EXPIRY_BYTES, FrameHeader, Limits, RECORD_HEADER_BYTES, RecordKind, read_u32,
    read_u64,
};

/// Bytes of the trailer after the footer frame.
pub const TRAILER_BYTES: usize = 16;
/// Magic that ends a sealed segment.
pub const TRAILER_MAGIC: [u8; 8] = *b"HTKVEND\0";
const ENTRY_FIXED_BYTES: usize = 4 + 1 + 4 + 4 + 8;
const SPARSE_FIXED_BYTES: usize = 4 + 4;
const META_BYTES: usize = 4 * 4 + 8;
const BLOOM_SEED: u128 = 0x4854_4b56_424c_4f4f_4d00_0000_0000_0001;

/// The newest record of one key inside one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint<'a> {
    /// The key.
    pub key: &'a [u8],
    /// True when the newest record is a delete.
    pub tombstone: bool,
    /// Version of that record.
    pub version: u64,
    /// Where it lies.
    pub location: Location,
    /// The expiry time of an expiring put, in milliseconds since the Unix
    /// epoch.
    pub expires_at_ms: Option<u64>,
}

/// A footer decoded into what stays in memory for a sealed segment: the
/// sparse index and the Bloom filter. The entries stay on disk.
#[derive(Debug, Clone)]
pub struct Footer {
    /// Number of entries (distinct keys) in the hint block.
    pub entry_count: u32,
    /// Length of the hint block in bytes.
    pub entries_len: u32,
    /// Highest record version in the segment.
    pub max_version: u64,
    /// Lowest record version in the segment.
    pub min_version: u64,
    /// Every Nth key with the offset of its entry in the hint block.
    pub sparse: Vec<(Vec<u8>, u32)>,
    bloom: BloomFilter,
}

impl Footer {
    /// Whether `key` may be in the segment (no false negatives).
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.bloom.contains(&xxh3_64(key))
    }

    /// The byte range, inside the hint block, of the one block that holds
    /// `key` if the segment has it.
    pub fn block_for(&self, key: &[u8]) -> Option<(u32, u32)> {
        let after = self.sparse.partition_point(|(k, _)| k.as_slice() <= key);
        let start = self.sparse.get(after.checked_sub(1)?)?.1;
        let end = self
            .sparse
            .get(after)
            .map_or(self.entries_len, |(_, offset)| *offset);
        Some((start, end))
    }

    /// Decodes a whole footer frame (header and body) and verifies its
    /// MAC under the segment's `checksums`.
    pub fn decode(
        frame: &[u8],
        limits: &Limits,
        checksums: &Checksums,
    ) -> Result<Self, DecodeError> {
        let header = FrameHeader::decode(frame, limits, checksums)?;
        if header.kind != RecordKind::Footer {
            return Err(DecodeError::Malformed("expected a footer frame"));
        }
        if header.frame_len() != frame.len() as u64 {
            return Err(DecodeError::Truncated {
                needed: header.frame_len(),
                available: frame.len() as u64,
            });
        }
        let actual = checksums.footer(&frame[8..]);
        if actual != header.checksum {
            return Err(DecodeError::ChecksumMismatch {
                expected: header.checksum,
                actual,
            });
        }
        let body = &frame[RECORD_HEADER_BYTES..];
        let meta_at = body
            .len()
            .checked_sub(META_BYTES)
            .ok_or(DecodeError::Malformed("footer body shorter than its meta"))?;
        let entries_len = read_u32(body, meta_at);
        let sparse_count = read_u32(body, meta_at + 4);
        let sparse_len = read_u32(body, meta_at + 8);
        let bloom_len = read_u32(body, meta_at + 12);
        let min_version = read_u64(body, meta_at + 16);
        let total = entries_len as u64 + sparse_len as u64 + bloom_len as u64;
        if total != meta_at as u64 {
            return Err(DecodeError::Malformed("footer block lengths do not add up"));
        }
        let sparse_at = entries_len as usize;
        let bloom_at = sparse_at + sparse_len as usize;
        let sparse = decode_sparse(
            &body[sparse_at..bloom_at],
            sparse_count,
            entries_len,
            limits,
        )?;
        if (header.key_len == 0) != sparse.is_empty() {
            return Err(DecodeError::Malformed(
                "sparse index does not match entry count",
            ));
        }
        let bloom = decode_bloom(&body[bloom_at..meta_at])?;
        Ok(Footer {
            entry_count: header.key_len,
            entries_len,
            max_version: header.version,
            min_version,
            sparse,
            bloom,
        })
    }
}

fn decode_sparse(
    mut block: &[u8],
    count: u32,
    entries_len: u32,
    limits: &Limits,
) -> Result<Vec<(Vec<u8>, u32)>, DecodeError> {
    if count as usize > block.len() / SPARSE_FIXED_BYTES {
        return Err(DecodeError::Malformed("sparse count larger than its block"));
    }
    let mut sparse: Vec<(Vec<u8>, u32)> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        if block.len() < SPARSE_FIXED_BYTES {
            return Err(DecodeError::Malformed("sparse entry cut short"));
        }
        let key_len = read_u32(block, 0) as usize;
        let offset = read_u32(block, 4);
        if key_len == 0 || key_len > limits.key_bytes_max {
            return Err(DecodeError::Malformed("sparse key length out of range"));
        }
        let key = block
            .get(SPARSE_FIXED_BYTES..SPARSE_FIXED_BYTES + key_len)
            .ok_or(DecodeError::Malformed("sparse key cut short"))?;
        let ordered = sparse
            .last()
            .is_none_or(|(prev, prev_offset)| prev.as_slice() < key && *prev_offset < offset);
        if !ordered || offset >= entries_len || (sparse.is_empty() && offset != 0) {
            return Err(DecodeError::Malformed("sparse index out of order or range"));
        }
        sparse.push((key.to_vec(), offset));
        block = &block[SPARSE_FIXED_BYTES + key_len..];
    }
    if !block.is_empty() {
        return Err(DecodeError::Malformed("bytes after the sparse index"));
    }
    Ok(sparse)
}

fn decode_bloom(block: &[u8]) -> Result<BloomFilter, DecodeError> {
    if block.len() < 8 {
        return Err(DecodeError::Malformed("bloom block cut short"));
    }
    let hashes = read_u32(block, 0);
    let words = read_u32(block, 4) as usize;
    if block.len() != 8 + words * 8 || words == 0 || !(1..=32).contains(&hashes) {
        return Err(DecodeError::Malformed("bloom block has bad sizes"));
    }
    let data: Vec<u64> = (0..words).map(|i| read_u64(block, 8 + i * 8)).collect();
    Ok(BloomFilter::from_vec(data).seed(&BLOOM_SEED).hashes(hashes))
}

/// Decodes the hint entries of a block (the whole hint block or one sparse
/// block of it), calling `visit` for each in order.
pub fn decode_entries<'a>(
    mut block: &'a [u8],
    segment_id: u32,
    limits: &Limits,
    mut visit: impl FnMut(Hint<'a>),
) -> Result<(), DecodeError> {
    while !block.is_empty() {
        if block.len() < ENTRY_FIXED_BYTES {
            return Err(DecodeError::Malformed("hint entry cut short"));
        }
        let key_len = read_u32(block, 0) as usize;
        let (tombstone, expiring) = match block[4] {
            k if k == RecordKind::Put as u8 => (false, false),
            k if k == RecordKind::Delete as u8 => (true, false),
            k if k == RecordKind::PutExpiring as u8 => (false, true),
            _ => return Err(DecodeError::Malformed("hint entry of unknown kind")),
        };
        if key_len == 0 || key_len > limits.key_bytes_max {
            return Err(DecodeError::Malformed("hint key length out of range"));
        }
        let key_at = ENTRY_FIXED_BYTES + if expiring { EXPIRY_BYTES } else { 0 };
        let key = block
            .get(key_at..key_at + key_len)
            .ok_or(DecodeError::Malformed("hint key cut short"))?;
        visit(Hint {
            key,
            tombstone,
            version: read_u64(block, 13),
            location: Location {
                segment_id,
                offset: read_u32(block, 5),
                len: read_u32(block, 9),
            },
            expires_at_ms: expiring.then(|| read_u64(block, ENTRY_FIXED_BYTES)),
        });
        block = &block[key_at + key_len..];
    }
    Ok(())
}

/// Appends a footer frame for `hints` (sorted by key, one per key) and the
/// trailer to `out`, where the footer frame starts at file offset
/// `footer_offset`. Every `sparse_interval`th entry goes into the sparse
/// index.
pub fn encode_footer(
    out: &mut Vec<u8>,
    footer_offset: u64,
    hints: &[Hint<'_>],
    sparse_interval: usize,
    bloom_bits_per_key: usize,
    checksums: &Checksums,
) {
    debug_assert!(
        hints.windows(2).all(|w| w[0].key < w[1].key),
        "hints sorted and unique"
    );
    let start = out.len();
    let count = u32::try_from(hints.len()).expect("a segment holds fewer than 2^32 records");
    let max_version = hints.iter().map(|h| h.version).max().unwrap_or(0);
    let min_version = hints.iter().map(|h| h.version).min().unwrap_or(0);
    out.extend_from_slice(&[0u8; 8]);
    out.push(RecordKind::Footer as u8);
    out.extend_from_slice(&[0u8; 3]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // body length, patched below
    out.extend_from_slice(&max_version.to_le_bytes());

    let body_start = out.len();
    let mut sparse = Vec::new();
    for (i, hint) in hints.iter().enumerate() {
        if i % sparse_interval.max(1) == 0 {
            sparse.push((hint.key, out.len() - body_start));
        }
        let kind = match (hint.tombstone, hint.expires_at_ms) {
            (true, _) => RecordKind::Delete,
            (false, None) => RecordKind::Put,
            (false, Some(_)) => RecordKind::PutExpiring,
        };
        out.extend_from_slice(&(hint.key.len() as u32).to_le_bytes());
        out.push(kind as u8);
        out.extend_from_slice(&hint.location.offset.to_le_bytes());
        out.extend_from_slice(&hint.location.len.to_le_bytes());
        out.extend_from_slice(&hint.version.to_le_bytes());
        if let (false, Some(expires_at_ms)) = (hint.tombstone, hint.expires_at_ms) {
            out.extend_from_slice(&expires_at_ms.to_le_bytes());
        }
        out.extend_from_slice(hint.key);
    }
    let entries_len = out.len() - body_start;
    for (key, offset) in &sparse {
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(&(*offset as u32).to_le_bytes());
        out.extend_from_slice(key);
    }
    let sparse_len = out.len() - body_start - entries_len;
    let bits = (hints.len() * bloom_bits_per_key).max(64);
    // k = bits per key * ln 2 is the false-positive optimum.
    let hashes = ((bloom_bits_per_key as f64) * std::f64::consts::LN_2)
        .round()
        .clamp(1.0, 16.0) as u32;
    let mut bloom = BloomFilter::with_num_bits(bits)
        .seed(&BLOOM_SEED)
        .hashes(hashes);
    for hint in hints {
        bloom.insert(&xxh3_64(hint.key));
    }
    out.extend_from_slice(&bloom.num_hashes().to_le_bytes());
    out.extend_from_slice(&(bloom.as_slice().len() as u32).to_le_bytes());
    for word in bloom.as_slice() {
        out.extend_from_slice(&word.to_le_bytes());
    }
    let bloom_len = out.len() - body_start - entries_len - sparse_len;
    for len in [entries_len, sparse.len(), sparse_len, bloom_len] {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(&min_version.to_le_bytes());
    let body_len = (out.len() - body_start) as u32;
    out[start + 16..start + 20].copy_from_slice(&body_len.to_le_bytes());
    let check = checksums.header_check(&out[start..]);
    out[start + 9..start + 12].copy_from_slice(&check);
    let checksum = checksums.footer(&out[start + 8..]);
    out[start..start + 8].copy_from_slice(&checksum.to_le_bytes());
    out.extend_from_slice(&footer_offset.to_le_bytes());
    out.extend_from_slice(&TRAILER_MAGIC);
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKSUMS: Checksums = Checksums::new(0x5EC2_E7AB_0000_0001);

    fn sample(n: usize) -> Vec<(Vec<u8>, u64)> {
        (0..n)
            .map(|i| (format!("key-{i:05}").into_bytes(), i as u64 + 1))
            .collect()
    }

    /// Every fifth put expires, at a time that differs per key.
    fn expiry_of(i: usize) -> Option<u64> {
        (i % 5 == 1 && i % 7 != 3).then_some(1_700_000_000_000 + i as u64)
    }

    fn encode(keys: &[(Vec<u8>, u64)]) -> Vec<u8> {
        let hints: Vec<Hint<'_>> = keys
            .iter()
            .enumerate()
            .map(|(i, (key, version))| Hint {
                key,
                tombstone: i % 7 == 3,
                version: *version,
                location: Location {
                    segment_id: 9,
                    offset: 32 + i as u32 * 50,
                    len: 50,
                },
                expires_at_ms: expiry_of(i),
            })
            .collect();
        let mut out = Vec::new();
        encode_footer(&mut out, 1000, &hints, 16, 10, &CHECKSUMS);
        out
    }

    #[test]
    fn footer_round_trips_and_locates_every_key() {
        let keys = sample(1000);
        let bytes = encode(&keys);
        let frame = &bytes[..bytes.len() - TRAILER_BYTES];
        let footer = Footer::decode(frame, &Limits::default(), &CHECKSUMS).unwrap();
        assert_eq!(footer.entry_count, 1000);
        assert_eq!(footer.max_version, 1000);
        assert_eq!(footer.min_version, 1);
        let block = &frame[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + footer.entries_len as usize];
        for (i, (key, version)) in keys.iter().enumerate() {
            assert!(footer.may_contain(key));
            let (start, end) = footer.block_for(key).unwrap();
            assert!(end - start < 16 * 40, "one small block");
            let mut found = None;
            decode_entries(
                &block[start as usize..end as usize],
                9,
                &Limits::default(),
                |h| {
                    if h.key == key.as_slice() {
                        found = Some(h);
                    }
                },
            )
            .unwrap();
            let hint = found.unwrap();
            assert_eq!(hint.version, *version);
            assert_eq!(hint.tombstone, i % 7 == 3);
            assert_eq!(hint.expires_at_ms, expiry_of(i));
        }
        assert!(footer.block_for(b"a").is_none(), "before the first key");
        let misses = (0..1000)
            .filter(|i| footer.may_contain(format!("zz{i}").as_bytes()))
            .count();
        assert!(misses < 100, "bloom false positives: {misses}/1000");
    }

    #[test]
    fn empty_footer_round_trips() {
        let bytes = encode(&[]);
        let footer = Footer::decode(
            &bytes[..bytes.len() - TRAILER_BYTES],
            &Limits::default(),
            &CHECKSUMS,
        )
        .unwrap();
        assert_eq!(footer.entry_count, 0);
        assert!(footer.block_for(b"x").is_none());
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let bytes = encode(&sample(40));
        let frame = &bytes[..bytes.len() - TRAILER_BYTES];
        for i in 0..frame.len() {
            let mut bad = frame.to_vec();
            bad[i] ^= 0x40;
            assert!(
                Footer::decode(&bad, &Limits::default(), &CHECKSUMS).is_err(),
                "flip at {i}"
            );
        }
    }

    #[test]
    fn a_footer_sealed_under_another_secret_is_refused() {
        let bytes = encode(&sample(40));
        let frame = &bytes[..bytes.len() - TRAILER_BYTES];
        for other in [Checksums::new(0x5EC2_E7AB_0000_0002), Checksums::legacy()] {
            assert!(
                Footer::decode(frame, &Limits::default(), &other).is_err(),
                "{other:?}"
            );
        }
    }
}
