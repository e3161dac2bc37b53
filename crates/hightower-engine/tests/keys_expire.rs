//! Keys that expire: a put with an absolute expiry time reads as absent
//! from that time on, in point reads, conditions, scans and read views;
//! the time survives reopen (from the log tail, from footers and from a
//! checkpoint), compaction and a snapshot install; `set_expiry` changes
//! or clears it; the active sweep deletes expired keys through the log.

use std::sync::Arc;
use std::time::Duration;

use hightower_engine::{
    Command, Durability, EngineConfig, EngineError, Expect, KvEngine, ManualClock,
    SingleNodeEngine, SnapshotEngine,
};

const START_MS: u64 = 1_800_000_000_000;

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> SingleNodeEngine {
    let config = EngineConfig::new(dir)
        .durability(Durability::None)
        .segment_bytes_max(4096)
        .clock(clock.clone())
        // The sweep runs only when a test asks for it.
        .expiry_sweep_keys_per_second(0);
    SingleNodeEngine::with_config(config).expect("the engine opens")
}

fn keys(engine: &SingleNodeEngine) -> Vec<Vec<u8>> {
    let view = engine.read_view().expect("a view");
    view.iter()
        .map(|kv| kv.expect("a readable key").key)
        .collect()
}

#[test]
fn an_expired_key_is_absent_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let engine = open(dir.path(), &clock);
    engine
        .submit(Command::put_expiring("session", "token", START_MS + 1_000))
        .unwrap();
    engine.put(b"plain", b"stays").unwrap();
    let before = engine.get(b"session").unwrap().unwrap();
    assert_eq!(before.expires_at_ms, Some(START_MS + 1_000));
    assert_eq!(
        engine.expiry_of(b"session").unwrap(),
        Some(Some(START_MS + 1_000))
    );
    assert_eq!(engine.expiry_of(b"plain").unwrap(), Some(None));
    let old_view = engine.read_view().unwrap();

    clock.advance(Duration::from_millis(1_000));
    assert_eq!(engine.get(b"session").unwrap(), None, "gone at its time");
    assert_eq!(engine.version_of(b"session").unwrap(), None);
    assert_eq!(engine.expiry_of(b"session").unwrap(), None);
    assert_eq!(keys(&engine), vec![b"plain".to_vec()]);
    let view = engine.read_view().unwrap();
    assert_eq!(
        view.keys_in_range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
            .count(),
        1
    );
    assert_eq!(
        old_view.get(b"session").unwrap().map(|v| v.value),
        Some(b"token".to_vec()),
        "a view judges expiry at the moment it was taken"
    );
    // An expired key is absent to conditions too: create-if-absent works.
    let version = engine
        .submit(Command::put("session", "fresh").expecting(Expect::Absent))
        .unwrap();
    let now = engine.get(b"session").unwrap().unwrap();
    assert_eq!((now.version, now.expires_at_ms), (version, None));
}

#[test]
fn set_expiry_changes_and_clears_the_time_and_keeps_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let engine = open(dir.path(), &clock);
    assert_eq!(engine.set_expiry(b"absent", Some(START_MS)).unwrap(), None);
    engine.put(b"k", b"value").unwrap();
    let v1 = engine
        .set_expiry(b"k", Some(START_MS + 50))
        .unwrap()
        .unwrap();
    let got = engine.get(b"k").unwrap().unwrap();
    assert_eq!(
        (got.value.as_slice(), got.version, got.expires_at_ms),
        (&b"value"[..], v1, Some(START_MS + 50))
    );
    engine.set_expiry(b"k", None).unwrap().unwrap();
    clock.advance(Duration::from_millis(100));
    assert_eq!(
        engine.get(b"k").unwrap().unwrap().expires_at_ms,
        None,
        "persisted"
    );
    engine.set_expiry(b"k", Some(START_MS)).unwrap().unwrap();
    assert_eq!(
        engine.get(b"k").unwrap(),
        None,
        "a time in the past deletes"
    );
}

#[test]
fn expiry_survives_reopen_checkpoint_compaction_and_install() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let expected = |engine: &SingleNodeEngine, what: &str| {
        for n in 0..200u64 {
            let key = format!("key-{n:03}");
            let found = engine
                .get(key.as_bytes())
                .unwrap()
                .unwrap_or_else(|| panic!("{what}: {key}"));
            let at = (n % 2 == 0).then_some(START_MS + 10_000 + n);
            assert_eq!(found.expires_at_ms, at, "{what}: {key}");
        }
    };
    {
        let engine = open(dir.path(), &clock);
        for n in 0..200u64 {
            let key = format!("key-{n:03}");
            let value = vec![b'v'; 40];
            let command = match n % 2 {
                0 => Command::put_expiring(key, value, START_MS + 10_000 + n),
                _ => Command::put(key, value),
            };
            engine.submit(command).unwrap();
        }
        expected(&engine, "written");
    }
    // Sealed segments answer from their footers, the tail from its records.
    let engine = open(dir.path(), &clock);
    expected(&engine, "reopened");
    engine.checkpoint().unwrap();
    drop(engine);
    let engine = open(dir.path(), &clock);
    assert!(engine.recovery_info().snapshot_version.is_some());
    expected(&engine, "from a checkpoint");
    for n in 0..200u64 {
        if n % 3 == 0 {
            engine.delete(format!("key-{n:03}").as_bytes()).unwrap();
            engine
                .submit(
                    Command::put_expiring(
                        format!("key-{n:03}"),
                        vec![b'v'; 40],
                        START_MS + 10_000 + n,
                    )
                    .expecting(Expect::Absent),
                )
                .map(|_| ())
                .or_else(|e| match e {
                    EngineError::VersionConflict { .. } => Ok(()),
                    e => Err(e),
                })
                .unwrap();
            if n % 2 == 1 {
                engine
                    .set_expiry(format!("key-{n:03}").as_bytes(), None)
                    .unwrap();
            }
        }
    }
    engine.run_compaction_now().unwrap();
    expected(&engine, "compacted");
    let view = engine.read_view().unwrap();
    let entries: Vec<_> = view.iter().map(|kv| kv.unwrap()).collect();
    let other_dir = tempfile::tempdir().unwrap();
    let other = open(other_dir.path(), &clock);
    other
        .install_snapshot(view.version(), &mut entries.into_iter())
        .unwrap();
    expected(&other, "installed");
    drop(other);
    expected(&open(other_dir.path(), &clock), "installed and reopened");
    clock.advance(Duration::from_millis(20_000));
    assert!(keys(&engine).iter().all(|key| {
        let n: u64 = std::str::from_utf8(&key[4..]).unwrap().parse().unwrap();
        n % 2 == 1
    }));
}

#[test]
fn the_sweep_deletes_expired_keys_through_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let engine = open(dir.path(), &clock);
    for n in 0..100u32 {
        engine
            .submit(Command::put_expiring(
                n.to_be_bytes().to_vec(),
                "v",
                START_MS + 10,
            ))
            .unwrap();
    }
    engine.put(b"rewritten", b"old").unwrap();
    engine
        .set_expiry(b"rewritten", Some(START_MS + 10))
        .unwrap();
    assert_eq!(engine.len(), 101);
    assert_eq!(
        engine.sweep_expired_now(1_000).unwrap(),
        0,
        "nothing due yet"
    );
    clock.advance(Duration::from_millis(10));
    // Written again without an expiry after it was due: the sweep leaves it.
    engine.put(b"rewritten", b"new").unwrap();
    assert_eq!(
        engine.sweep_expired_now(30).unwrap(),
        30,
        "bounded per round"
    );
    assert_eq!(engine.sweep_expired_now(1_000).unwrap(), 70);
    assert_eq!(engine.len(), 1);
    assert_eq!(engine.get(b"rewritten").unwrap().unwrap().value, b"new");
    assert_eq!(engine.metrics().expired_keys, 100);
    drop(engine);
    let engine = open(dir.path(), &clock);
    assert_eq!(engine.len(), 1, "the deletes are in the log");
}

#[test]
fn the_background_sweep_runs_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let config = EngineConfig::new(dir.path())
        .durability(Durability::None)
        .clock(clock.clone());
    let engine = SingleNodeEngine::with_config(config).unwrap();
    engine
        .submit(Command::put_expiring("k", "v", START_MS + 1))
        .unwrap();
    clock.advance(Duration::from_millis(1));
    // Bounded wait: ten seconds at most, checked every 20 ms.
    for _ in 0..500 {
        if engine.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(engine.is_empty());
}

#[test]
fn compaction_drops_expired_puts_without_bringing_back_older_ones() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let engine = open(dir.path(), &clock);
    // An older plain put of every key, then an expiring one, over
    // several segments.
    for round in 0..2u64 {
        for n in 0..60u32 {
            let key = n.to_be_bytes().to_vec();
            let value = vec![b'x'; 60];
            let command = match round {
                0 => Command::put(key, value),
                _ => Command::put_expiring(key, value, START_MS + 5),
            };
            engine.submit(command).unwrap();
        }
    }
    engine.put(b"stays", b"here").unwrap();
    clock.advance(Duration::from_millis(5));
    // Expired puts count as dead bytes, so a full pass takes every
    // segment that holds one, the segments of only expiring puts too.
    let report = engine.run_compaction_now().unwrap();
    let dropped = report.expired_dropped as usize;
    assert_eq!(dropped, 60, "{report:?}");
    assert_eq!(
        engine.len(),
        1 + 60 - dropped,
        "dropped keys left the index"
    );
    assert_eq!(keys(&engine), vec![b"stays".to_vec()]);
    drop(engine);
    // Reopened at a time before the expiry: the keys compaction dropped
    // are gone for good (no older put came back), the others still
    // carry their expiring put.
    let earlier = Arc::new(ManualClock::new(START_MS));
    let engine = open(dir.path(), &earlier);
    assert_eq!(engine.len(), 1 + 60 - dropped);
    let view = engine.read_view().unwrap();
    for kv in view.iter() {
        let kv = kv.unwrap();
        assert!(
            kv.key == b"stays" || kv.expires_at_ms == Some(START_MS + 5),
            "{kv:?}"
        );
    }
}

#[test]
fn a_batch_judges_its_conditions_at_the_moment_it_carries() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let engine = open(dir.path(), &clock);
    let v1 = engine
        .submit(Command::put_expiring("k", "old", START_MS + 1_000))
        .unwrap();
    clock.set(START_MS + 5_000);
    // By the engine's clock the key expired, so a condition on its
    // version fails...
    let mut batch = hightower_engine::WriteBatch::new();
    batch.put_expecting(b"k", b"new", Expect::Version(v1));
    assert!(matches!(
        engine.write(&batch),
        Err(EngineError::VersionConflict { .. })
    ));
    // ...but judged at a moment before its expiry it holds, as on every
    // replica applying the same entry.
    batch.judge_expiry_at(START_MS + 500);
    let committed = engine
        .apply_batch_at(engine.latest_version() + 1, &batch)
        .unwrap();
    assert_eq!(
        engine.get(b"k").unwrap().map(|got| got.version),
        Some(committed.first_version)
    );
    // A sweep's delete sees the expired write at its version.
    let v2 = engine
        .submit(Command::put_expiring("e", "x", START_MS + 1_000))
        .unwrap();
    let mut sweep = hightower_engine::WriteBatch::new();
    sweep
        .delete_expecting(b"e", Expect::Version(v2))
        .see_expired();
    assert!(sweep.sees_expired());
    engine
        .apply_batch_at(engine.latest_version() + 1, &sweep)
        .unwrap();
    assert_eq!(
        hightower_engine::AdminEngine::expired_keys(&engine, 10),
        Vec::new()
    );
    sweep.clear();
    assert!(!sweep.sees_expired() && sweep.judged_at_ms().is_none());
}
