//! Checks in a batch (`Command::Check`, `WriteBatch::check`): a condition
//! on a key that writes nothing. The batch commits only if every check
//! holds, the checked key keeps its version, a check takes no version of
//! its own, and a failed check names its key and writes nothing.

use hightower_engine::{
    Command, Durability, EngineConfig, EngineError, Expect, KvEngine, SingleNodeEngine, WriteBatch,
};

fn open(dir: &std::path::Path) -> SingleNodeEngine {
    let config = EngineConfig::new(dir).durability(Durability::Sync);
    SingleNodeEngine::with_config(config).expect("the engine opens")
}

#[test]
fn a_batch_commits_only_when_its_checks_hold() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let watched = engine.put(b"watched", b"v").unwrap();
    let committed = engine
        .submit_batch(vec![
            Command::Check {
                key: b"watched".to_vec(),
                expect: Expect::Version(watched),
            },
            Command::put(b"out".to_vec(), b"1".to_vec()),
            Command::Check {
                key: b"never".to_vec(),
                expect: Expect::Absent,
            },
        ])
        .unwrap();
    assert_eq!((committed.first_version, committed.count), (watched + 1, 1));
    assert_eq!(
        engine.version_of(b"watched").unwrap(),
        Some(watched),
        "unchanged"
    );
    assert_eq!(
        engine.get(b"never").unwrap(),
        None,
        "a check writes nothing"
    );

    let moved = engine.put(b"watched", b"w").unwrap();
    let mut batch = WriteBatch::new();
    batch
        .check(b"watched", Expect::Version(watched))
        .put(b"lost", b"x");
    let error = engine.write(&batch).unwrap_err();
    match error {
        EngineError::VersionConflict { key, actual, .. } => {
            assert_eq!((key.0.as_slice(), actual), (&b"watched"[..], Some(moved)));
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(engine.get(b"lost").unwrap(), None, "nothing written");
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(engine.version_of(b"out").unwrap(), Some(watched + 1));
    assert_eq!(engine.get(b"lost").unwrap(), None);
}

#[test]
fn a_batch_of_checks_alone_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut batch = WriteBatch::new();
    batch.check(b"k", Expect::Absent);
    assert!(matches!(engine.write(&batch), Err(EngineError::EmptyBatch)));
}
