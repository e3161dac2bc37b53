//! Random sequences of puts, deletes, compaction passes (full, by policy,
//! and over random subsets of the sealed segments), syncs, checkpoints,
//! reopens, read views, power cuts and injected I/O failures, applied to
//! the engine on a `CrashVfs` and to a `BTreeMap` model: every read must
//! match the model after every step, every read view must keep matching
//! the model as it was when the view was taken, and versions must survive
//! every pass and reopen. After a power cut (between steps, or right
//! after the `n`th call of a step) or a poisoned engine, the reopened
//! store must be one the crash model allows (`common::crash_model`); a
//! step that failed without poisoning must have changed nothing.

mod common;
mod compaction_common;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, ensure};
use common::crash_model::CrashModel;
use common::{Contents, dump, show};
use compaction_common::SEGMENT_BYTES;
use hightower_engine::{
    AdminEngine, CompactionConfig, CompactionOptions, Durability, EngineConfig, EngineError,
    KvEngine, ReadView, SingleNodeEngine, SnapshotEngine,
};
use hightower_log::vfs::{CallKind, CrashVfs};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

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
    Sync,
    Checkpoint,
    Reopen,
    TakeView,
    /// A power cut between steps, its choices drawn from the seed.
    Crash(u64),
    /// A step run with a countdown armed: the `nth` call of `kinds` fails,
    /// or with a seed, the power goes right after it.
    Faulty {
        nth: u64,
        syncs_only: bool,
        power_cut: Option<u64>,
        op: Box<Op>,
    },
}

/// The steps that write, which a fault is armed for.
fn writing_op() -> impl Strategy<Value = Op> {
    let len = prop_oneof![3 => 0..120usize, 2 => 300..1500usize];
    prop_oneof![
        8 => (0..KEYS.len(), any::<u8>(), len).prop_map(|(k, seed, len)| Op::Put(k, seed, len)),
        5 => (0..KEYS.len()).prop_map(Op::Delete),
        1 => Just(Op::CompactAll),
        1 => Just(Op::CompactPolicy),
        3 => any::<u8>().prop_map(Op::CompactSome),
        1 => Just(Op::Sync),
        1 => Just(Op::Checkpoint),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let faulty = (
        1..40u64,
        any::<bool>(),
        prop::option::of(any::<u64>()),
        writing_op(),
    )
        .prop_map(|(nth, syncs_only, power_cut, op)| Op::Faulty {
            nth,
            syncs_only,
            power_cut,
            op: Box::new(op),
        });
    prop_oneof![
        20 => writing_op(),
        2 => Just(Op::Reopen),
        1 => Just(Op::TakeView),
        1 => any::<u64>().prop_map(Op::Crash),
        2 => faulty,
    ]
}

fn value(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

fn config(dir: &Path, emit_snapshot: bool, durability: Durability) -> EngineConfig {
    EngineConfig::new(dir)
        .segment_bytes_max(SEGMENT_BYTES)
        .durability(durability)
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
    durability: Durability,
    vfs: CrashVfs,
    engine: Option<SingleNodeEngine>,
    model: Contents,
    latest_version: u64,
    crash: CrashModel,
    views: Vec<(ReadView, Contents)>,
    /// A step failed from an injected fault, not yet looked into.
    failed: bool,
    /// A countdown reached its call since the last reopen. Its failure
    /// may surface in a later step: a background seal that failed is
    /// reported by the next call that waits for seals.
    faulted: bool,
    /// The seed of an armed power cut.
    cut_seed: u64,
}

impl Case {
    fn engine(&self) -> &SingleNodeEngine {
        self.engine
            .as_ref()
            .expect("the engine is open between steps")
    }

    /// Closes the engine and opens the directory as it is on a fresh
    /// `CrashVfs`.
    fn reopen(&mut self) -> anyhow::Result<()> {
        self.engine = None;
        self.faulted = false;
        self.vfs = CrashVfs::new(self.dir.path())?;
        let config = config(self.dir.path(), self.emit_snapshot, self.durability)
            .vfs(Arc::new(self.vfs.clone()));
        self.engine = Some(SingleNodeEngine::with_config(config)?);
        Ok(())
    }

    /// `Some` of a step's result; `None` when it failed from an injected
    /// fault; an error when it failed on its own.
    fn tolerate<T>(&mut self, result: Result<T, EngineError>) -> anyhow::Result<Option<T>> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(_) if self.faulted || self.vfs.tripped() || self.vfs.is_frozen() => {
                self.failed = true;
                Ok(None)
            }
            Err(error) => Err(error).context("a step failed with no fault injected"),
        }
    }

    fn compact(&mut self, options: CompactionOptions) -> anyhow::Result<()> {
        let report = self.engine().run_compaction(options);
        if let Some(report) = self.tolerate(report)? {
            ensure!(
                report.segments_out <= report.segments_in.max(1) + 1,
                "{report:?}"
            );
        }
        Ok(())
    }

    fn write(&mut self, key: usize, value: Option<Vec<u8>>) -> anyhow::Result<()> {
        let key = KEYS[key];
        let written = match &value {
            Some(value) => self.engine().put(key, value),
            None => self.engine().delete(key),
        };
        let writes = [(key.to_vec(), value.clone())];
        let Some(version) = self.tolerate(written)? else {
            self.crash.failed(&writes);
            return Ok(());
        };
        ensure!(
            version > self.latest_version,
            "version {version} not above the last"
        );
        self.latest_version = version;
        match value {
            Some(value) => self.model.insert(key.to_vec(), (value, version)),
            None => self.model.remove(key),
        };
        let durable = matches!(self.durability, Durability::Sync);
        self.crash.acked(&writes, version, durable);
        Ok(())
    }

    fn call(&mut self, op: &Op) -> anyhow::Result<()> {
        match op {
            Op::Put(k, seed, len) => self.write(*k, Some(value(*seed, *len)))?,
            Op::Delete(k) => self.write(*k, None)?,
            Op::CompactAll => self.compact(CompactionOptions::full())?,
            Op::CompactPolicy => self.compact(CompactionOptions::default())?,
            Op::CompactSome(mask) => {
                let sealed: Vec<u32> = self
                    .engine()
                    .segments()
                    .iter()
                    .filter(|segment| segment.sealed)
                    .map(|segment| segment.id)
                    .collect();
                let picked = sealed
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
                    .map(|(_, id)| *id);
                self.compact(CompactionOptions::default().only_segments(picked))?;
            }
            Op::Sync => {
                let synced = self.engine().sync();
                if self.tolerate(synced)?.is_some() {
                    self.crash.synced();
                }
            }
            Op::Checkpoint => {
                let written = self.engine().checkpoint();
                self.tolerate(written)?;
            }
            Op::TakeView => {
                let view = self.engine().read_view()?;
                self.views.push((view, self.model.clone()));
            }
            Op::Reopen | Op::Crash(_) | Op::Faulty { .. } => {
                unreachable!("only the engine's calls run through `call`")
            }
        }
        Ok(())
    }

    /// Reopens after a power cut, a failed step or a clean close and
    /// checks the store against what the crash model allows.
    fn recover(&mut self, clean: bool) -> anyhow::Result<()> {
        if !clean {
            // Views of a store cut off by a power cut read through a
            // frozen file system.
            self.views.clear();
        }
        self.reopen()?;
        let got = dump(self.engine())?;
        let latest = self.engine().latest_version();
        self.crash
            .check_recovered(&got, latest, clean)
            .with_context(|| format!("after reopening (clean close: {clean})"))?;
        self.crash.reset(&got, latest);
        self.model = got;
        self.latest_version = latest;
        Ok(())
    }

    /// After a step: a power cut the countdown made is carried out, a
    /// poisoned engine must refuse writes and is reopened, and a step that
    /// failed without poisoning must have changed nothing.
    fn settle(&mut self) -> anyhow::Result<()> {
        if self.vfs.is_frozen() {
            self.failed = false;
            self.vfs.crash(self.cut_seed)?;
            return self
                .recover(false)
                .context("after a power cut inside a step");
        }
        if let Some(reason) = self.engine().poison_reason() {
            ensure!(self.faulted, "poisoned with no fault: {reason}");
            let refused = self.engine().put(KEYS[0], b"refused");
            ensure!(
                matches!(refused, Err(EngineError::Poisoned { .. })),
                "a poisoned engine took a write: {refused:?}"
            );
            self.failed = false;
            return self.recover(false).context("after a poisoned step");
        }
        if self.failed {
            // A clean failure changed nothing, and the engine goes on.
            self.check().context("after a step that failed")?;
            self.failed = false;
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> anyhow::Result<()> {
        match op {
            Op::Reopen => self.recover(true)?,
            Op::Crash(seed) => {
                self.vfs.crash(*seed)?;
                self.recover(false)?;
            }
            Op::Faulty {
                nth,
                syncs_only,
                power_cut,
                op,
            } => {
                let kinds = if *syncs_only {
                    CallKind::SYNCS
                } else {
                    CallKind::ALL
                };
                match power_cut {
                    Some(seed) => {
                        self.cut_seed = *seed;
                        self.vfs.cut_power_after_nth(*nth, kinds);
                    }
                    None => self.vfs.fail_nth(*nth, kinds),
                }
                let called = self.call(op);
                self.vfs.disarm();
                self.faulted |= self.vfs.tripped();
                called?;
                self.settle()?;
            }
            op => {
                self.call(op)?;
                self.settle()?;
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

fn run_case(emit_snapshot: bool, durability: Durability, ops: &[Op]) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let vfs = CrashVfs::new(dir.path())?;
    let mut case = Case {
        dir,
        emit_snapshot,
        durability,
        vfs,
        engine: None,
        model: Contents::new(),
        latest_version: 0,
        crash: CrashModel::default(),
        views: Vec::new(),
        failed: false,
        faulted: false,
        cut_seed: 0,
    };
    case.reopen()?;
    for (i, op) in ops.iter().enumerate() {
        case.step(op)
            .with_context(|| format!("operation {i}: {op:?}"))?;
    }
    case.compact(CompactionOptions::full())?;
    case.recover(true).context("the last reopen")?;
    ensure!(
        dump(case.engine())? == case.model,
        "contents differ after the last reopen"
    );
    case.check()
}

#[test]
fn compaction_matches_the_model() -> anyhow::Result<()> {
    let config = Config {
        cases: CASES,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        max_shrink_iters: 512,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    // The crash model makes fsync free, so `Sync` costs no more.
    let durability = prop_oneof![Just(Durability::None), Just(Durability::Sync)];
    let strategy = (any::<bool>(), durability, vec(op(), 1..120));
    runner
        .run(&strategy, |(emit_snapshot, durability, ops)| {
            run_case(emit_snapshot, durability, &ops)
                .map_err(|e| TestCaseError::fail(format!("{e:#}")))
        })
        .map_err(|e| anyhow::anyhow!("{e}"))
}
