//! `verify` on an intact store reports every segment and exits 0.

mod common;

use anyhow::Result;
use common::hightower_ok;
use hightower_engine::{EngineConfig, SingleNodeEngine};

#[test]
fn verify_passes_on_an_intact_store() -> Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let engine =
            SingleNodeEngine::with_config(EngineConfig::new(dir.path()).segment_bytes_max(4096))?;
        for i in 0..200u32 {
            engine.put(format!("key:{i:04}").as_bytes(), &[b'v'; 64])?;
        }
    }
    let stdout = hightower_ok(dir.path(), &["verify"])?;
    let segment_lines: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains(".log"))
        .collect();
    assert!(
        segment_lines.len() > 1,
        "several segments expected: {stdout}"
    );
    assert!(
        segment_lines.iter().all(|line| line.ends_with(" ok")),
        "{stdout}"
    );
    assert!(
        segment_lines.iter().any(|line| line.contains("sealed")),
        "{stdout}"
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with(&format!(
            "ok: {} segments, 200 records",
            segment_lines.len()
        )),
        "{stdout}"
    );
    Ok(())
}
