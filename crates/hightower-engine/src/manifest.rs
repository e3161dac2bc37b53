//! The manifest: a 32-byte file naming which segments belong to the store
//! and the lowest version the store may ever report as its latest.
//!
//! ```text
//! 0  magic "HTKVMAN\0"   8
//! 8  format version u32  4   (1)
//! 12 min segment id u32  4   segments below this id are leftovers, deleted at open
//! 16 version floor u64   8   the latest version is never below this
//! 24 xxh3-64 of 0..24    8
//! ```
//!
//! It is replaced atomically: written to `MANIFEST.tmp`, synced, renamed
//! over `MANIFEST`, and the directory synced.

use std::path::Path;

use hightower_log::vfs::Vfs;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{EngineError, Result};

const MAGIC: [u8; 8] = *b"HTKVMAN\0";
const FORMAT_VERSION: u32 = 1;
const MANIFEST_BYTES: usize = 32;
/// File name of the manifest inside the data directory.
pub const MANIFEST_FILE: &str = "MANIFEST";

/// The manifest's contents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Segments with a lower id are not part of the store.
    pub min_segment_id: u32,
    /// The store's latest version is at least this.
    pub version_floor: u64,
}

impl Manifest {
    fn encode(&self) -> [u8; MANIFEST_BYTES] {
        let mut bytes = [0u8; MANIFEST_BYTES];
        bytes[..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.min_segment_id.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.version_floor.to_le_bytes());
        let checksum = xxh3_64(&bytes[..24]);
        bytes[24..].copy_from_slice(&checksum.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |reason: &str| EngineError::Snapshot {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        if bytes.len() != MANIFEST_BYTES || bytes[..8] != MAGIC {
            return Err(bad("not a manifest (bad size or magic)"));
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if word(24) != xxh3_64(&bytes[..24]) {
            return Err(bad("manifest checksum mismatch"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(bad(&format!(
                "manifest format version {version}; this build reads {FORMAT_VERSION}"
            )));
        }
        Ok(Manifest {
            min_segment_id: u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")),
            version_floor: word(16),
        })
    }

    /// Loads the manifest of `dir`, or the default when there is none.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::decode(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(EngineError::io(path, e)),
        }
    }

    /// Replaces the manifest of `dir` atomically.
    pub fn store(&self, vfs: &dyn Vfs, dir: &Path) -> Result<()> {
        let tmp = dir.join("MANIFEST.tmp");
        let _ = std::fs::remove_file(&tmp);
        let file = vfs.create_new(&tmp).map_err(|e| EngineError::io(&tmp, e))?;
        file.write_all_at(&self.encode(), 0)
            .map_err(|e| EngineError::io(&tmp, e))?;
        file.sync_data().map_err(|e| EngineError::io(&tmp, e))?;
        let path = dir.join(MANIFEST_FILE);
        std::fs::rename(&tmp, &path).map_err(|e| EngineError::io(&path, e))?;
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
        assert_eq!(Manifest::load(dir.path()).unwrap(), Manifest::default());
        let manifest = Manifest {
            min_segment_id: 7,
            version_floor: 99,
        };
        manifest.store(&StdVfs, dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), manifest);
        let path = dir.path().join(MANIFEST_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[13] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            Manifest::load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
    }
}
