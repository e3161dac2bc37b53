//! The segment header codec: the first 32 bytes of every segment file.
//!
//! ```text
//! 0   magic "HTKVSEG\0"        8
//! 8   format version u32       4   3 (1 and 2 are read, never written)
//! 12  segment id u32           4
//! 16  checksum secret u64      8   random per segment (format 1: zero)
//! 24  xxh3-64 of bytes 0..24   8
//! ```
//!
//! The secret keys every checksum in the segment (see
//! [`crate::record::Checksums`]). It is written once, before any client
//! byte, and never returned to a client, so bytes inside a value cannot
//! carry a frame or footer checksum that verifies in this segment.

use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use super::{SEGMENT_FORMAT_VERSION, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC};
use crate::error::{DecodeError, LogError, Result};
use crate::record::{Checksums, read_u32, read_u64};
use crate::vfs::FileIo;

/// The oldest segment format this build still opens.
const FORMAT_VERSION_LEGACY: u32 = 1;
/// The format before expiring puts, which this build still opens.
const FORMAT_VERSION_2: u32 = 2;

/// A fresh secret from the operating system's random source.
pub(super) fn random_secret(path: &Path) -> Result<u64> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| {
        LogError::io(
            path,
            std::io::Error::other(format!("no random secret for a new segment: {e}")),
        )
    })?;
    Ok(u64::from_le_bytes(bytes))
}

/// The header of segment `id` in the current format.
pub(super) fn encode(id: u32, checksums: &Checksums) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&id.to_le_bytes());
    header[16..24].copy_from_slice(&checksums.secret().to_le_bytes());
    let checksum = xxh3_64(&header[..24]);
    header[24..].copy_from_slice(&checksum.to_le_bytes());
    header
}

/// Reads and checks the header; returns the segment id and the keys of
/// its checksums.
pub(super) fn read(file: &dyn FileIo, path: &Path, file_len: u64) -> Result<(u32, Checksums)> {
    let corrupt = |reason| LogError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    };
    if file_len < SEGMENT_HEADER_BYTES as u64 {
        return Err(corrupt(DecodeError::Truncated {
            needed: SEGMENT_HEADER_BYTES as u64,
            available: file_len,
        }));
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
        return Err(corrupt(DecodeError::ChecksumMismatch {
            expected: stored,
            actual,
        }));
    }
    let version = read_u32(&header, 8);
    let secret = read_u64(&header, 16);
    let checksums = match version {
        SEGMENT_FORMAT_VERSION => Checksums::new(secret),
        FORMAT_VERSION_2 => Checksums::format_2(secret),
        FORMAT_VERSION_LEGACY if secret == 0 => Checksums::legacy(),
        FORMAT_VERSION_LEGACY => {
            return Err(corrupt(DecodeError::Malformed(
                "format-1 header with non-zero reserved bytes",
            )));
        }
        found => {
            return Err(LogError::UnsupportedVersion {
                path: path.to_path_buf(),
                found,
                supported: SEGMENT_FORMAT_VERSION,
            });
        }
    };
    Ok((read_u32(&header, 12), checksums))
}
