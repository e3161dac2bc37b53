//! Random sequences of puts, deletes, compaction passes (full, by policy,
//! and over random subsets of the sealed segments), checkpoints, reopens
//! and read views, applied to the engine and to a `BTreeMap` model: every
//! read must match the model after every step, every read view must keep
//! matching the model as it was when the view was taken, and versions must
//! survive every pass and reopen.

mod common;
mod compaction_common;

use std::path::Path;

use anyhow::{Context, ensure};
use common::{Contents, dump, show};
use compaction_common::SEGMENT_BYTES;
use hightower_engine::{
    CompactionConfig, CompactionOptions, Durability, EngineConfig, KvEngine, ReadView,
    SingleNodeEngine, SnapshotEngine,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const KEYS: [&[u8]; 16] = [
    b"a", b"ab", b"b", b"ba", b"c", b"ca", b"d", b"da", b"e", b"ea", b"f", b"fa", b"g", b"ga",
    b"h", b"\xff",
];
const CASES: u32 = 40;

#[derive(Clone, Debug)]
enum Op {
    Put(usize, u8, usize),
    Delete(usize),
    /// A full pass.
    CompactAll,
    /// A pass by the policy.
    CompactPolicy,
    /// A pass over the sealed segments picked by the bits of the mask.
    CompactSome(u8),
    Checkpoint,
    Reopen,
    TakeView,
}

fn op() -> impl Strategy<Value = Op> {
    let len = prop_oneof![3 => 0..120usize, 2 => 300..1500usize];
    prop_oneof![
        8 => (0..KEYS.len(), any::<u8>(), len).prop_map(|(k, seed, len)| Op::Put(k, seed, len)),
        5 => (0..KEYS.len()).prop_map(Op::Delete),
        1 => Just(Op::CompactAll),
        1 => Just(Op::CompactPolicy),
        3 => any::<u8>().prop_map(Op::CompactSome),
        1 => Just(Op::Checkpoint),
        2 => Just(Op::Reopen),
        1 => Just(Op::TakeView),
    ]
}

fn value(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

fn config(dir: &Path, emit_snapshot: bool) -> EngineConfig {
    EngineConfig::new(dir)
        .segment_bytes_max(SEGMENT_BYTES)
        .durability(Durability::None)
        .compaction(CompactionConfig {
            automatic: false,
            min_bytes: 0,
            max_segments: 3,
            dead_ratio_min: 0.3,
            emit_snapshot,
            ..CompactionConfig::default()
        })
}

struct Case {
    dir: tempfile::TempDir,
    emit_snapshot: bool,
    engine: Option<SingleNodeEngine>,
    model: Contents,
    latest_version: u64,
    views: Vec<(ReadView, Contents)>,
}

impl Case {
    fn engine(&self) -> &SingleNodeEngine {
        self.engine
            .as_ref()
            .expect("the engine is open between steps")
    }

    fn reopen(&mut self) -> anyhow::Result<()> {
        self.engine = None;
        let engine = SingleNodeEngine::with_config(config(self.dir.path(), self.emit_snapshot))?;
        self.engine = Some(engine);
        Ok(())
    }

    fn compact(&self, options: CompactionOptions) -> anyhow::Result<()> {
        let report = self.engine().run_compaction(options)?;
        ensure!(
            report.segments_out <= report.segments_in.max(1) + 1,
            "{report:?}"
        );
        Ok(())
    }

    fn step(&mut self, op: &Op) -> anyhow::Result<()> {
        match op {
            Op::Put(k, seed, len) => {
                let value = value(*seed, *len);
                let version = self.engine().put(KEYS[*k], &value)?;
                ensure!(
                    version > self.latest_version,
                    "version {version} not above the last"
                );
                self.latest_version = version;
                self.model.insert(KEYS[*k].to_vec(), (value, version));
            }
            Op::Delete(k) => {
                self.latest_version = self.engine().delete(KEYS[*k])?;
                self.model.remove(KEYS[*k]);
            }
            Op::CompactAll => self.compact(CompactionOptions::full())?,
            Op::CompactPolicy => self.compact(CompactionOptions::default())?,
            Op::CompactSome(mask) => {
                let sealed: Vec<u32> = self
                    .engine()
                    .storage()
                    .segments()
                    .values()
                    .filter(|segment| segment.is_sealed())
                    .map(|segment| segment.id())
                    .collect();
                let picked = sealed
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
                    .map(|(_, id)| *id);
                self.compact(CompactionOptions::default().only_segments(picked))?;
            }
            Op::Checkpoint => {
                self.engine().checkpoint()?;
            }
            Op::Reopen => self.reopen()?,
            Op::TakeView => {
                let view = self.engine().read_view()?;
                self.views.push((view, self.model.clone()));
            }
        }
        self.check()
    }

    fn check(&self) -> anyhow::Result<()> {
        let engine = self.engine();
        for key in KEYS {
            let got = engine.get(key)?.map(|v| (v.value, v.version));
            ensure!(
                got.as_ref() == self.model.get(key),
                "{} reads {:?}, the model holds {:?}",
                show(key),
                got.map(|(_, version)| version),
                self.model.get(key).map(|(_, version)| version)
            );
        }
        ensure!(
            engine.latest_version() >= self.latest_version,
            "the latest version went down"
        );
        for (n, (view, seen)) in self.views.iter().enumerate() {
            let mut contents = Contents::new();
            for item in view.iter() {
                let kv = item.with_context(|| format!("view {n} failed to read"))?;
                contents.insert(kv.key, (kv.value, kv.version));
            }
            ensure!(contents == *seen, "view {n} changed");
        }
        Ok(())
    }
}

fn run_case(emit_snapshot: bool, ops: &[Op]) -> anyhow::Result<()> {
    let mut case = Case {
        dir: tempfile::tempdir()?,
        emit_snapshot,
        engine: None,
        model: Contents::new(),
        latest_version: 0,
        views: Vec::new(),
    };
    case.reopen()?;
    for (i, op) in ops.iter().enumerate() {
        case.step(op)
            .with_context(|| format!("operation {i}: {op:?}"))?;
    }
    case.compact(CompactionOptions::full())?;
    case.reopen()?;
    ensure!(
        dump(case.engine())? == case.model,
        "contents differ after the last reopen"
    );
    ensure!(case.engine().latest_version() >= case.latest_version);
    case.check()
}

#[test]
fn compaction_matches_the_model() -> anyhow::Result<()> {
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (any::<bool>(), vec(op(), 1..120));
    runner
        .run(&strategy, |(emit_snapshot, ops)| {
            run_case(emit_snapshot, &ops).map_err(|e| TestCaseError::fail(format!("{e:#}")))
        })
        .map_err(|e| anyhow::anyhow!("{e}"))
}
