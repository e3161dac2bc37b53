//! The manifest: names which segments belong to the store, the lowest
//! version the store may ever report as its latest, and the segments a
//! committed compaction made obsolete.
//!
//! ```text
//! 0   magic "HTKVMAN\0"          8
//! 8   format version u32         4   (2)
//! 12  min segment id u32         4   segments below this id are leftovers, deleted at open
//! 16  version floor u64          8   the latest version is never below this
//! 24  obsolete count u32         4   n, at most OBSOLETE_SEGMENTS_MAX
//! 28  obsolete ids u32 x n       4n  segments a committed compaction replaced, deleted at open
//! 28+4n xxh3-64 of 0..28+4n      8
//! ```
//!
//! It is replaced atomically: written to `MANIFEST.tmp`, synced, renamed
//! over `MANIFEST`, and the directory synced. Version 1 (32 bytes, no
//! obsolete list) is refused with an error naming both versions: a build
//! that ignored the obsolete list could bring deleted keys back.

use std::path::Path;

use hightower_log::vfs::Vfs;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{EngineError, Result};

const MAGIC: [u8; 8] = *b"HTKVMAN\0";
/// The manifest format version this build writes and reads.
pub(crate) const MANIFEST_FORMAT_VERSION: u32 = 2;
/// Bytes before the obsolete ids.
const FIXED_BYTES: usize = 28;
const _: () = assert!(FIXED_BYTES == 8 + 4 + 4 + 8 + 4);
/// The longest obsolete list a manifest holds (one compaction pass's
/// inputs).
pub(crate) const OBSOLETE_SEGMENTS_MAX: usize = 1 << 20;
/// File name of the manifest inside the data directory.
pub(crate) const MANIFEST_FILE: &str = "MANIFEST";

/// The manifest's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Segments with a lower id are not part of the store.
    pub min_segment_id: u32,
    /// The store's latest version is at least this.
    pub version_floor: u64,
    /// Segments that are not part of the store any more (inputs of the
    /// last committed compaction), ascending. Segment ids are never
    /// reused, so the list may outlive the files.
    pub obsolete_segment_ids: Vec<u32>,
}

impl Manifest {
    fn encode(&self) -> Vec<u8> {
        assert!(
            self.obsolete_segment_ids.len() <= OBSOLETE_SEGMENTS_MAX,
            "a compaction pass takes at most {OBSOLETE_SEGMENTS_MAX} segments"
        );
        let count = self.obsolete_segment_ids.len();
        let mut bytes = Vec::with_capacity(FIXED_BYTES + 4 * count + 8);
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&MANIFEST_FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&self.min_segment_id.to_le_bytes());
        bytes.extend_from_slice(&self.version_floor.to_le_bytes());
        bytes.extend_from_slice(&(count as u32).to_le_bytes());
        for id in &self.obsolete_segment_ids {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        let checksum = xxh3_64(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |reason: &str| EngineError::Snapshot {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        if bytes.len() < 12 || bytes[..8] != MAGIC {
            return Err(bad("not a manifest (bad size or magic)"));
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let version = u32_at(8);
        if version != MANIFEST_FORMAT_VERSION {
            return Err(bad(&format!(
                "manifest format version {version}; this build reads only version \
                 {MANIFEST_FORMAT_VERSION} (open the store with the build that wrote it)"
            )));
        }
        if bytes.len() < FIXED_BYTES + 8 {
            return Err(bad("manifest cut short"));
        }
        let count = u32_at(24) as usize;
        if count > OBSOLETE_SEGMENTS_MAX || bytes.len() != FIXED_BYTES + 4 * count + 8 {
            return Err(bad(
                "manifest length does not match its obsolete segment count",
            ));
        }
        let body_end = bytes.len() - 8;
        if u64_at(body_end) != xxh3_64(&bytes[..body_end]) {
            return Err(bad("manifest checksum mismatch"));
        }
        Ok(Manifest {
            min_segment_id: u32_at(12),
            version_floor: u64_at(16),
            obsolete_segment_ids: (0..count).map(|i| u32_at(FIXED_BYTES + 4 * i)).collect(),
        })
    }

    /// Loads the manifest of `dir`, or the default when there is none.
    pub(crate) fn load(vfs: &dyn Vfs, dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        match vfs.read(&path) {
            Ok(bytes) => Self::decode(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(EngineError::io(path, e)),
        }
    }

    /// Replaces the manifest of `dir` atomically.
    pub(crate) fn store(&self, vfs: &dyn Vfs, dir: &Path) -> Result<()> {
        let tmp = dir.join("MANIFEST.tmp");
        let _ = vfs.remove_file(&tmp);
        let file = vfs.create_new(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
        file.write_all_at(&self.encode(), 0)
            .map_err(|e| EngineError::io(&tmp, e))?;
        file.sync_data().map_err(|e| EngineError::io(&tmp, e))?;
        let path = dir.join(MANIFEST_FILE);
        vfs.rename(&tmp, &path)
            .map_err(|e| EngineError::io(&path, e))?;
        vfs.sync_dir(dir).map_err(|e| EngineError::io(dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hightower_log::vfs::StdVfs;

    #[test]
    fn manifest_round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Manifest::load(&StdVfs::default(), dir.path()).unwrap(),
            Manifest::default()
        );
        let manifest = Manifest {
            min_segment_id: 7,
            version_floor: 99,
            obsolete_segment_ids: vec![3, 5, 6],
        };
        manifest.store(&StdVfs::default(), dir.path()).unwrap();
        assert_eq!(
            Manifest::load(&StdVfs::default(), dir.path()).unwrap(),
            manifest
        );
        let path = dir.path().join(MANIFEST_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[13] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            Manifest::load(&StdVfs::default(), dir.path())
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
    }

    #[test]
    fn empty_obsolete_list_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest {
            min_segment_id: 1,
            version_floor: 0,
            obsolete_segment_ids: Vec::new(),
        };
        manifest.store(&StdVfs::default(), dir.path()).unwrap();
        assert_eq!(
            Manifest::load(&StdVfs::default(), dir.path()).unwrap(),
            manifest
        );
    }

    #[test]
    fn version_one_manifest_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        bytes[12..16].copy_from_slice(&4u32.to_le_bytes());
        let checksum = xxh3_64(&bytes[..24]);
        bytes[24..].copy_from_slice(&checksum.to_le_bytes());
        std::fs::write(dir.path().join(MANIFEST_FILE), bytes).unwrap();
        let message = Manifest::load(&StdVfs::default(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("format version 1") && message.contains("only version 2"),
            "{message}"
        );
    }

    #[test]
    fn a_count_that_does_not_match_the_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = Manifest {
            min_segment_id: 1,
            version_floor: 2,
            obsolete_segment_ids: vec![9],
        };
        let mut bytes = manifest.encode();
        bytes[24] = 2;
        std::fs::write(dir.path().join(MANIFEST_FILE), &bytes).unwrap();
        let message = Manifest::load(&StdVfs::default(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(message.contains("obsolete segment count"), "{message}");
    }
}
