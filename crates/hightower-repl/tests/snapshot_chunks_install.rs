//! Scenario: a snapshot of node A, streamed in chunks while A keeps taking
//! writes, installs into node B with A's contents and version as of the
//! snapshot; B then takes writes after that version and keeps the state
//! across a reopen.

use std::path::Path;
use std::sync::Arc;

use hightower_engine::{Command, Durability, EngineConfig, KeyValue, KvEngine, SingleNodeEngine};
use hightower_repl::{CommandSubmitter, LocalReplication, ReplicationHandle, SnapshotProvider};

fn open(dir: &Path) -> anyhow::Result<LocalReplication<SingleNodeEngine>> {
    let config = EngineConfig::new(dir)
        .durability(Durability::None)
        .segment_bytes_max(16 * 1024);
    Ok(LocalReplication::new(Arc::new(
        SingleNodeEngine::with_config(config)?,
    )))
}

fn contents(node: &LocalReplication<SingleNodeEngine>) -> anyhow::Result<Vec<KeyValue>> {
    Ok(node
        .engine()
        .read_view()?
        .iter()
        .collect::<Result<_, _>>()?)
}

#[test]
fn snapshot_chunks_install() -> anyhow::Result<()> {
    let dir_a = tempfile::tempdir()?;
    let dir_b = tempfile::tempdir()?;
    let a = open(dir_a.path())?;
    for i in 0..500u32 {
        let key = format!("key-{:03}", i % 300);
        a.submit_one(Command::put(key, vec![b'x'; 40 + (i % 7) as usize]))?;
    }
    for i in (0..300).step_by(4) {
        a.submit_one(Command::delete(format!("key-{i:03}")))?;
    }
    let expected = contents(&a)?;
    let snapshot = a.snapshot()?;
    assert_eq!(
        (snapshot.version(), snapshot.len()),
        (a.latest_version(), expected.len())
    );

    // Writes after the snapshot change A but not what the snapshot yields.
    a.submit(vec![
        Command::put("key-000", "later"),
        Command::delete("key-001"),
    ])?;

    let b = open(dir_b.path())?;
    b.submit_one(Command::put("stale", "state"))?;
    let mut chunks = snapshot.chunks_bounded(64, 2048).inspect(|chunk| {
        assert!(
            chunk
                .as_ref()
                .is_ok_and(|entries| !entries.is_empty() && entries.len() <= 64)
        );
    });
    b.install_chunks(snapshot.version(), &mut chunks)?;
    assert_eq!(b.applied_version(), snapshot.version());
    assert_eq!(contents(&b)?, expected);

    let next = b.submit_one(Command::put("after", "install"))?;
    assert_eq!(next, snapshot.version() + 1);
    drop(b);
    let reopened = open(dir_b.path())?;
    assert_eq!(reopened.applied_version(), next);
    let mut with_write = expected;
    with_write.push(KeyValue {
        key: b"after".to_vec(),
        value: b"install".to_vec(),
        version: next,
    });
    with_write.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(contents(&reopened)?, with_write);
    Ok(())
}
