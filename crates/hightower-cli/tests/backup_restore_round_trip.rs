//! `backup` then `restore` into a new data directory: every key comes
//! back with its value, version and expiry time, the store resumes at the
//! backup's version, a Raft node's own keys stay out, and a key whose
//! expiry time passed between the two reads as absent.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use common::{hightower, hightower_ok};
use hightower_engine::{EngineConfig, KvEngine, SingleNodeEngine, SnapshotEngine};

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970");
    u64::try_from(since_epoch.as_millis()).expect("before the year 500 million")
}

#[test]
fn restore_brings_back_keys_versions_and_expiry() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("source");
    let backup = dir.path().join("backup");
    let target = dir.path().join("target");

    let far_expiry_ms = now_ms() + 3_600_000;
    let soon_expiry_ms = now_ms() + 3_000;
    {
        let engine = SingleNodeEngine::with_config(EngineConfig::new(&source))?;
        engine.put(b"user:1", b"ada")?; // 1
        engine.put(b"user:2", b"grace")?; // 2
        engine.put(b"user:1", b"ada lovelace")?; // 3
        engine.put(b"gone", b"x")?; // 4
        engine.delete(b"gone")?; // 5
        engine.put(b"\xffraft/meta", b"node state")?; // 6
        engine.put(b"session", b"token")?; // 7
        engine.set_expiry(b"session", Some(far_expiry_ms))?; // 8
        engine.put(b"flash", b"soon gone")?; // 9
        engine.set_expiry(b"flash", Some(soon_expiry_ms))?; // 10
    }

    let summary = hightower_ok(
        &source,
        &["backup", "--to", backup.to_str().expect("utf-8")],
    )?;
    assert!(summary.starts_with("backed up 4 keys ("), "{summary}");
    assert!(summary.contains("at version 10 in"), "{summary}");

    // Let the short expiry pass before the restore.
    while now_ms() <= soon_expiry_ms {
        std::thread::sleep(Duration::from_millis(50));
    }
    let summary = hightower_ok(
        &target,
        &["restore", "--from", backup.to_str().expect("utf-8")],
    )?;
    assert!(summary.starts_with("restored 4 keys ("), "{summary}");

    assert_eq!(
        hightower_ok(&target, &["get", "user:1", "--with-version"])?,
        "3\tada lovelace\n"
    );
    assert_eq!(
        hightower_ok(&target, &["get", "user:2", "--with-version"])?,
        "2\tgrace\n"
    );
    assert_eq!(
        hightower_ok(&target, &["get", "session", "--with-version"])?,
        "8\ttoken\n"
    );
    for absent in ["gone", "flash"] {
        let run = hightower(&target, &["get", absent])?;
        assert_eq!(run.code, Some(1), "{absent}: {run:?}");
    }
    {
        let engine = SingleNodeEngine::with_config(
            EngineConfig::new(&target).expiry_sweep_keys_per_second(0),
        )?;
        assert_eq!(engine.latest_version(), 10);
        assert_eq!(engine.expiry_of(b"session")?, Some(Some(far_expiry_ms)));
        assert_eq!(engine.expiry_of(b"user:1")?, Some(None));
        assert_eq!(engine.get(b"\xffraft/meta")?, None);
    }
    assert_eq!(hightower_ok(&target, &["put", "user:3", "new"])?, "11\n");
    Ok(())
}
