//! `SnapshotEngine::replace_keeping_prefix` (what `FLUSHALL` uses): only
//! the keys under the prefix survive, with their values and expiry times,
//! at a version above every earlier one; too many keys to keep change
//! nothing; and a write to the prefix acknowledged while replacements run
//! is never lost, because the keys are read and installed while no write
//! runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hightower_engine::{
    Command, Durability, EngineConfig, EngineError, KvEngine, SingleNodeEngine, SnapshotEngine,
};

const PREFIX: &[u8] = b"\xffauth/";
const GAP: u64 = 1 << 32;

fn open(dir: &std::path::Path) -> SingleNodeEngine {
    let config = EngineConfig::new(dir).durability(Durability::None);
    SingleNodeEngine::with_config(config).expect("the engine opens")
}

#[test]
fn only_the_prefix_survives_at_a_higher_version() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.put(b"a", b"1").unwrap();
    engine.put(b"\xffauth/user/alice", b"record").unwrap();
    let far = engine.now_ms() + 3_600_000;
    engine
        .submit(Command::put_expiring(
            b"\xffauth/login/x".to_vec(),
            b"2".to_vec(),
            far,
        ))
        .unwrap();
    let before = engine.latest_version();
    let version = engine.replace_keeping_prefix(PREFIX, 10, GAP).unwrap();
    assert_eq!(version, before + GAP);
    let view = engine.read_view().unwrap();
    let kept: Vec<_> = view.iter().map(|kv| kv.unwrap()).collect();
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|kv| kv.key.starts_with(PREFIX)));
    assert_eq!(kept[0].expires_at_ms, Some(far), "expiry kept");
    assert!(engine.put(b"next", b"v").unwrap() > version);

    let error = engine.replace_keeping_prefix(PREFIX, 1, GAP).unwrap_err();
    assert!(
        matches!(error, EngineError::TooManyKept { max: 1 }),
        "{error}"
    );
    assert_eq!(engine.len(), 3, "nothing changed");
    drop(engine);
    assert_eq!(open(dir.path()).len(), 3, "the replacement is durable");
}

#[test]
fn prefix_writes_during_replacements_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(open(dir.path()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            // Bounded: at most 20,000 writes, or until told to stop.
            for n in 0..20_000u32 {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let key = [PREFIX, &n.to_be_bytes()].concat();
                engine.put(&key, b"v").expect("a write");
                acknowledged.push(key);
            }
            acknowledged
        })
    };
    for _ in 0..20 {
        engine.put(b"other", b"x").unwrap();
        engine.replace_keeping_prefix(PREFIX, 1 << 20, GAP).unwrap();
    }
    stop.store(true, Ordering::Release);
    let acknowledged = writer.join().unwrap();
    let view = engine.read_view().unwrap();
    for key in &acknowledged {
        assert!(view.get(key).unwrap().is_some(), "lost {key:?}");
    }
    assert_eq!(view.get(b"other").unwrap(), None);
}
