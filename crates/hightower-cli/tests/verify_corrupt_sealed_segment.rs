//! A flipped byte inside a sealed segment's records: the store still
//! opens (a sealed segment is read through its footer), and `verify` finds
//! the bad record, names the file and the offset, reports the other
//! segments as intact and exits with status 4.

mod common;

use anyhow::Result;
use common::{flip_byte, hightower};
use hightower_engine::{AdminEngine, EngineConfig, SingleNodeEngine};

#[test]
fn verify_finds_corruption_that_the_open_does_not_read() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (path, data_len) = {
        let engine =
            SingleNodeEngine::with_config(EngineConfig::new(dir.path()).segment_bytes_max(4096))?;
        for i in 0..200u32 {
            engine.put(format!("key:{i:04}").as_bytes(), &[b'v'; 64])?;
        }
        let segments = engine.segments();
        let first = segments.first().expect("a segment exists");
        assert!(segments.len() > 2, "the writes fill several segments");
        (first.path.clone(), first.data_bytes)
    };
    flip_byte(&path, data_len as usize / 2)?;

    let verify = hightower(dir.path(), &["verify"])?;
    assert_eq!(verify.code, Some(4), "{verify:?}");
    assert!(verify.stderr.contains("0000000001.log"), "{verify:?}");
    assert!(verify.stderr.contains("offset"), "{verify:?}");
    assert!(
        verify.stdout.contains("0000000001.log  sealed  FAILED"),
        "{verify:?}"
    );
    assert!(
        verify.stdout.contains("0000000002.log  sealed  records"),
        "{verify:?}"
    );
    Ok(())
}
