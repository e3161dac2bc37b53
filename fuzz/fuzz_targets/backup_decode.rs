//! Fuzz target `backup_decode`: arbitrary bytes as a backup's manifest and
//! as its data file. Neither decoder may panic; a data file read against
//! a manifest that allows anything yields records whose keys ascend and
//! whose versions stay within the manifest's.
#![no_main]

use std::path::Path;

use hightower_engine::backup::{BackupReader, MANIFEST_BYTES, Manifest};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = Manifest::decode(&data[..data.len().min(MANIFEST_BYTES)]);
    let manifest = Manifest {
        latest_version: u64::MAX,
        taken_at_ms: 0,
        n_keys: u64::MAX,
        n_chunks: u64::MAX,
        data_bytes: data.len() as u64,
        data_checksum: 0,
    };
    let Ok(reader) = BackupReader::new(data, Path::new("fuzz"), manifest) else {
        return;
    };
    let mut reader = reader.refusing_prefix(b"\xffraft/");
    let mut previous: Option<Vec<u8>> = None;
    while let Ok(Some(kv)) = reader.next_record() {
        assert!(
            !kv.key.starts_with(b"\xffraft/"),
            "a reserved key is refused"
        );
        if let Some(previous) = &previous {
            assert!(kv.key > *previous, "keys ascend");
        }
        previous = Some(kv.key);
    }
});
