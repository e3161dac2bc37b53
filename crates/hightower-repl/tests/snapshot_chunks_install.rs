//! Scenario: a snapshot of node A, streamed in chunks while A keeps taking
//! writes, installs into node B with A's contents and version as of the
//! snapshot; B then takes writes after that version and keeps the state
//! across a reopen.

mod common;

use common::contents;
use hightower_engine::{Command, KeyValue};
use hightower_repl::{CommandSubmitter, ReplicationHandle, SnapshotProvider};

#[test]
fn snapshot_chunks_install() -> anyhow::Result<()> {
    let dir_a = tempfile::tempdir()?;
    let dir_b = tempfile::tempdir()?;
    let a = common::open_with_segments(dir_a.path(), 16 * 1024)?;
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

    let b = common::open_with_segments(dir_b.path(), 16 * 1024)?;
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
    let reopened = common::open_with_segments(dir_b.path(), 16 * 1024)?;
    assert_eq!(reopened.applied_version(), next);
    let mut with_write = expected;
    with_write.push(KeyValue {
        key: b"after".to_vec(),
        value: b"install".to_vec(),
        version: next,
        expires_at_ms: None,
    });
    with_write.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(contents(&reopened)?, with_write);
    Ok(())
}
