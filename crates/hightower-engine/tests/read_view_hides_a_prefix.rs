//! A read view that hides a prefix (`ReadView::hiding`): no read through
//! it sees a key under the prefix, and its length leaves them out, while
//! the engine itself still holds them.

use std::ops::Bound;

use hightower_engine::{Command, Durability, EngineConfig, KvEngine, SingleNodeEngine};

const HIDDEN: &[u8] = b"\xffown/";

#[test]
fn hidden_keys_are_out_of_every_read() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine =
        SingleNodeEngine::with_config(EngineConfig::new(dir.path()).durability(Durability::None))?;
    engine.submit_batch(vec![
        Command::put(b"a".to_vec(), b"1".to_vec()),
        Command::put(b"\xffown/meta".to_vec(), b"m".to_vec()),
        Command::put(b"\xffz".to_vec(), b"2".to_vec()),
    ])?;
    let full = engine.read_view()?;
    assert_eq!(full.len(), 3);
    let view = full.clone().hiding(HIDDEN);
    assert_eq!(view.len(), 2);
    assert!(!view.is_empty());
    assert_eq!(view.get(b"\xffown/meta")?, None);
    assert_eq!(view.version_of(b"\xffown/meta"), None);
    assert_eq!(view.expiry_of(b"\xffown/meta")?, None);
    assert!(view.get(b"\xffz")?.is_some());
    let keys: Vec<Vec<u8>> = view
        .iter()
        .map(|kv| kv.map(|kv| kv.key))
        .collect::<Result<_, _>>()?;
    assert_eq!(keys, vec![b"a".to_vec(), b"\xffz".to_vec()]);
    assert_eq!(view.prefix(HIDDEN).count(), 0);
    let listed: Vec<Vec<u8>> = view
        .keys_in_range(Bound::Unbounded, Bound::Unbounded)
        .map(|(key, _)| key.to_vec())
        .collect();
    assert_eq!(listed, keys);
    // The engine, and a view that hides nothing, still hold the key.
    assert!(full.get(b"\xffown/meta")?.is_some());
    assert!(engine.get(b"\xffown/meta")?.is_some());
    Ok(())
}
