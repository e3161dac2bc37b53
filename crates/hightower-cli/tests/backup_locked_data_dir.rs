//! `backup` of a data directory another process holds open (a running
//! server) fails, says to stop the server first, and creates no backup.

mod common;

use anyhow::Result;
use common::hightower;
use hightower_engine::{EngineConfig, SingleNodeEngine};

#[test]
fn a_held_data_directory_is_not_backed_up() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let backup = dir.path().join("backup");
    let engine = SingleNodeEngine::with_config(EngineConfig::new(&data))?;
    engine.put(b"k", b"v")?;

    let run = hightower(
        &data,
        &[
            "backup",
            "--to",
            backup.to_str().expect("temporary paths are UTF-8"),
        ],
    )?;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("stop the server first"), "{run:?}");
    assert!(run.stderr.contains("locked"), "{run:?}");
    assert!(!backup.exists(), "a failed backup leaves no directory");
    drop(engine);
    Ok(())
}
