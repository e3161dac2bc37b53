//! `stats` reports the keys, the latest version and every segment by id
//! and file, sealed or active.

mod common;

use anyhow::Result;
use common::hightower_ok;
use hightower_engine::{AdminEngine, EngineConfig, SingleNodeEngine};

#[test]
fn stats_names_every_segment() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let files: Vec<String> = {
        let engine =
            SingleNodeEngine::with_config(EngineConfig::new(dir.path()).segment_bytes_max(4096))?;
        for i in 0..150u32 {
            engine.put(format!("key:{i:04}").as_bytes(), &[b'v'; 64])?;
        }
        engine.delete(b"key:0000")?;
        let segments = engine.segments();
        segments
            .iter()
            .map(|s| {
                s.path
                    .file_name()
                    .expect("a file")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    assert!(files.len() > 1, "several segments expected");

    let stdout = hightower_ok(dir.path(), &["stats"])?;
    assert!(stdout.contains("keys             149\n"), "{stdout}");
    assert!(stdout.contains("latest version   151\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("segments         {} (", files.len())),
        "{stdout}"
    );
    for file in &files {
        let line = stdout.lines().find(|line| line.contains(file.as_str()));
        assert!(line.is_some(), "{file} listed: {stdout}");
    }
    let sealed = stdout
        .lines()
        .filter(|line| line.contains(" sealed "))
        .count();
    let active = stdout
        .lines()
        .filter(|line| line.contains(" active "))
        .count();
    assert_eq!((sealed, active), (files.len() - 1, 1), "{stdout}");
    Ok(())
}
