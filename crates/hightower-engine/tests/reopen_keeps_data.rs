//! Scenario: data written, deleted and overwritten survives a reopen, with
//! its versions, through many segments, with and without a checkpoint.

use hightower_engine::{
    AdminEngine, Command, Durability, EngineConfig, Expect, KvEngine, SingleNodeEngine,
};

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig::new(dir)
        .segment_bytes_max(16 * 1024)
        .durability(Durability::None)
}

#[test]
fn reopen_keeps_data() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut expected = std::collections::BTreeMap::new();
    {
        let engine = SingleNodeEngine::with_config(config(dir.path()))?;
        for i in 0..2000u32 {
            let key = format!("key-{:04}", i % 700);
            let version = engine.put(key.as_bytes(), &i.to_le_bytes())?;
            expected.insert(key, (i.to_le_bytes().to_vec(), version));
        }
        for i in (0..700).step_by(3) {
            let key = format!("key-{i:04}");
            engine.delete(key.as_bytes())?;
            expected.remove(&key);
        }
        assert!(engine.segments().len() > 3, "several segments");
    }
    for round in 0..3 {
        let engine = SingleNodeEngine::with_config(config(dir.path()))?;
        assert_eq!(engine.len(), expected.len(), "round {round}");
        for (key, (value, version)) in &expected {
            let got = engine.get(key.as_bytes())?.expect("key survives");
            assert_eq!(&got.value, value);
            assert_eq!(got.version, *version);
        }
        let scanned = engine.scan_prefix(b"key-", usize::MAX)?;
        let keys: Vec<_> = scanned
            .iter()
            .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
            .collect();
        assert_eq!(keys, expected.keys().cloned().collect::<Vec<_>>());
        if round == 1 {
            engine.checkpoint()?;
        }
        let key = b"key-0001".to_vec();
        let current = engine.get(&key)?.map(|v| v.version);
        let conflict =
            engine.submit(Command::put(key.clone(), b"x".to_vec()).expecting(Expect::Absent));
        assert_eq!(conflict.is_err(), current.is_some());
    }
    Ok(())
}
