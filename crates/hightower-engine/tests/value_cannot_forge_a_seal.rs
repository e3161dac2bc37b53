//! Scenario: a client whose only write is one crafted value tries to make
//! the store, after a clean restart, hold a key it never wrote (an auth
//! record under the reserved prefix included) at a version it chose. The
//! value ends with a footer and trailer naming a record hidden inside it,
//! made with the unkeyed checksums of format 1 and with guessed secrets.
//! After the restart the store holds exactly what was written.

use hightower_engine::{Durability, EngineConfig, KvEngine, SingleNodeEngine, SnapshotEngine};
use hightower_log::footer::encode_footer;
use hightower_log::record::{RECORD_HEADER_BYTES, encode_record};
use hightower_log::{Checksums, Hint, Location, Mutation, SEGMENT_HEADER_BYTES};

const VICTIM: &[u8] = b"\xffauth/user/mallory";
const FORGED_VERSION: u64 = 1 << 62;

/// The crafted value for a put of `key` that lands first in a fresh
/// segment: a record for `VICTIM`, then a footer whose one hint points at
/// it, then the trailer, all at the offsets they will have in the file.
fn crafted_value(key: &[u8], checksums: &Checksums) -> Vec<u8> {
    let value_start = (SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + key.len()) as u64;
    let mut value = Vec::new();
    let hidden = Mutation::Put {
        key: VICTIM,
        value: b"{\"grants\":\"admin\"}",
    };
    let hidden_len = encode_record(&mut value, FORGED_VERSION, &hidden, checksums);
    let hint = Hint {
        key: VICTIM,
        tombstone: false,
        expires_at_ms: None,
        version: FORGED_VERSION,
        location: Location {
            segment_id: 1,
            offset: u32::try_from(value_start).expect("small offset"),
            len: u32::try_from(hidden_len).expect("small record"),
        },
    };
    let footer_offset = value_start + value.len() as u64;
    encode_footer(&mut value, footer_offset, &[hint], 16, 10, checksums);
    value
}

#[test]
fn a_crafted_value_changes_nothing_after_a_restart() -> anyhow::Result<()> {
    let guesses = [Checksums::legacy(), Checksums::new(0), Checksums::new(1)];
    for checksums in guesses {
        let dir = tempfile::tempdir()?;
        let config = EngineConfig::new(dir.path()).durability(Durability::Sync);
        let key = b"e:attacker";
        let value = crafted_value(key, &checksums);
        {
            let engine = SingleNodeEngine::with_config(config.clone())?;
            assert_eq!(engine.put(key, &value)?, 1);
        }
        // The attack is armed: the active segment ends with the forged trailer.
        let segment = std::fs::read(dir.path().join("0000000001.log"))?;
        assert!(
            segment.ends_with(&value),
            "{checksums:?}: the value is the file's tail"
        );

        let engine = SingleNodeEngine::with_config(config)?;
        assert_eq!(
            engine.get(VICTIM)?,
            None,
            "{checksums:?}: a key was injected"
        );
        assert_eq!(
            engine.latest_version(),
            1,
            "{checksums:?}: the version counter moved"
        );
        assert_eq!(engine.get(key)?.map(|v| v.value), Some(value));
        assert_eq!(engine.scan_prefix(b"", usize::MAX)?.len(), 1);
        assert_eq!(engine.put(b"e:next", b"v")?, 2);
    }
    Ok(())
}
