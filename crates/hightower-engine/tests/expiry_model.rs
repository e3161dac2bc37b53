//! Random sequences of puts with and without expiry times, deletes,
//! expiry changes, clock steps, reads, scans, sweeps, compactions,
//! checkpoints and reopens, applied to the engine under a model clock and
//! to a `BTreeMap` model of `key -> (value, expiry)`: every read and scan
//! must match the model at the model's time, whatever the sweep and
//! compaction have done, and across reopen.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hightower_engine::{
    Command, Durability, EngineConfig, KvEngine, ManualClock, SingleNodeEngine,
};
use proptest::collection::vec;
use proptest::prelude::*;

const KEYS: [&[u8]; 6] = [b"a", b"ab", b"b", b"ba", b"c", b"d"];
const START_MS: u64 = 1_900_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    /// Put key `k` with value seed `v`, expiring `ttl` ms from now if set.
    Put(usize, u8, Option<u64>),
    Delete(usize),
    /// Give key `k` a new expiry `ttl` ms from now, or none.
    SetExpiry(usize, Option<u64>),
    Advance(u64),
    Get(usize),
    Scan,
    Sweep,
    Compact,
    Checkpoint,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let ttl = prop_oneof![Just(None), (0u64..40).prop_map(Some)];
    prop_oneof![
        4 => (key.clone(), any::<u8>(), ttl.clone()).prop_map(|(k, v, t)| Op::Put(k, v, t)),
        1 => key.clone().prop_map(Op::Delete),
        2 => (key.clone(), ttl).prop_map(|(k, t)| Op::SetExpiry(k, t)),
        3 => (0u64..30).prop_map(Op::Advance),
        3 => key.prop_map(Op::Get),
        2 => Just(Op::Scan),
        1 => Just(Op::Sweep),
        1 => Just(Op::Compact),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
    ]
}

type Model = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

fn live(model: &Model, now_ms: u64) -> Vec<(Vec<u8>, Vec<u8>, Option<u64>)> {
    model
        .iter()
        .filter(|(_, (_, at))| at.is_none_or(|at| at > now_ms))
        .map(|(k, (v, at))| (k.clone(), v.clone(), *at))
        .collect()
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> SingleNodeEngine {
    let config = EngineConfig::new(dir)
        .durability(Durability::None)
        .segment_bytes_max(4096)
        .clock(clock.clone())
        .expiry_sweep_keys_per_second(0);
    SingleNodeEngine::with_config(config).expect("the engine opens")
}

fn ok<T>(outcome: hightower_engine::Result<T>) -> Result<T, TestCaseError> {
    outcome.map_err(|e| TestCaseError::fail(e.to_string()))
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let clock = Arc::new(ManualClock::new(START_MS));
    let mut engine = open(dir.path(), &clock);
    let mut model = Model::new();
    for op in ops {
        let now = clock.now_ms_for_test();
        match op {
            Op::Put(k, v, ttl) => {
                let value = vec![v; 1 + usize::from(v) * 2];
                let at = ttl.map(|t| now + t);
                let command = match at {
                    Some(at) => Command::put_expiring(KEYS[k], value.clone(), at),
                    None => Command::put(KEYS[k], value.clone()),
                };
                ok(engine.submit(command))?;
                model.insert(KEYS[k].to_vec(), (value, at));
            }
            Op::Delete(k) => {
                ok(engine.delete(KEYS[k]))?;
                model.remove(KEYS[k]);
            }
            Op::SetExpiry(k, ttl) => {
                let at = ttl.map(|t| now + t);
                let changed = ok(engine.set_expiry(KEYS[k], at))?.is_some();
                let entry = model
                    .get_mut(KEYS[k])
                    .filter(|(_, old)| old.is_none_or(|old| old > now));
                prop_assert_eq!(changed, entry.is_some(), "set_expiry on {:?}", KEYS[k]);
                if let Some((_, old)) = entry {
                    *old = at;
                }
            }
            Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            Op::Get(k) => {
                let got = ok(engine.get(KEYS[k]))?.map(|v| (v.value, v.expires_at_ms));
                let want = model
                    .get(KEYS[k])
                    .filter(|(_, at)| at.is_none_or(|at| at > now))
                    .cloned();
                prop_assert_eq!(got, want, "get {:?} at {}", KEYS[k], now);
            }
            Op::Scan => {
                let view = ok(engine.read_view())?;
                let got: Vec<_> = view
                    .iter()
                    .map(|kv| kv.map(|kv| (kv.key, kv.value, kv.expires_at_ms)))
                    .collect::<Result<_, _>>()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(got, live(&model, now));
            }
            Op::Sweep => {
                ok(engine.sweep_expired_now(usize::MAX))?;
            }
            Op::Compact => {
                ok(engine.run_compaction_now())?;
            }
            Op::Checkpoint => {
                ok(engine.checkpoint())?;
            }
            Op::Reopen => {
                drop(engine);
                engine = open(dir.path(), &clock);
            }
        }
        // Keys whose time has come may go at any moment now: the model
        // forgets them too, so an expired key never comes back.
        let now = clock.now_ms_for_test();
        model.retain(|_, (_, at)| at.is_none_or(|at| at > now));
    }
    Ok(())
}

/// The clock's reading, through the trait the engine uses.
trait NowForTest {
    fn now_ms_for_test(&self) -> u64;
}

impl NowForTest for ManualClock {
    fn now_ms_for_test(&self) -> u64 {
        hightower_engine::Clock::now_ms(self)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn expiry_matches_a_model_with_a_clock(ops in vec(op(), 1..80)) {
        run(ops)?;
    }
}
