//! The data directory is locked: a second engine on it is refused with
//! `EngineError::Locked` naming the directory, in the same process too,
//! and the directory opens again once the first engine is dropped.

use anyhow::{bail, ensure};
use hightower_engine::{EngineConfig, EngineError, KvEngine, SingleNodeEngine};

fn expect_locked(dir: &std::path::Path) -> anyhow::Result<()> {
    let error = match SingleNodeEngine::with_config(EngineConfig::new(dir)) {
        Ok(_) => bail!("a second engine opened a directory another engine holds"),
        Err(error) => error,
    };
    let message = error.to_string();
    match error {
        EngineError::Locked { path } => ensure!(path == dir, "the error names {}", path.display()),
        other => bail!("a second engine on a locked directory failed with {other}"),
    }
    ensure!(
        message.contains(&dir.display().to_string()),
        "the message does not name the directory: {message}"
    );
    Ok(())
}

#[test]
fn a_second_engine_is_refused_until_the_first_is_dropped() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let first = SingleNodeEngine::with_config(EngineConfig::new(dir.path()))?;
    let version = first.put(b"held", b"by the first")?;
    expect_locked(dir.path())?;
    // A refused open changes nothing for the holder.
    ensure!(
        first.get(b"held")?.map(|v| v.version) == Some(version),
        "the holder lost its write"
    );
    expect_locked(dir.path())?;
    drop(first);

    let second = SingleNodeEngine::with_config(EngineConfig::new(dir.path()))?;
    ensure!(
        second.get(b"held")?.map(|v| v.version) == Some(version),
        "the write did not survive"
    );
    expect_locked(dir.path())?;
    drop(second);
    SingleNodeEngine::with_config(EngineConfig::new(dir.path()).worker_threads(2))?;
    Ok(())
}
