//! Random sequences of puts, deletes, compare-and-set writes, atomic
//! batches (some with a failing condition), point reads, prefix and range
//! scans, syncs, checkpoints, reopens, power cuts and injected I/O
//! failures, applied to the engine on a `CrashVfs` and to a `BTreeMap`
//! model: every answer must match the model, versions must strictly
//! increase, a conflict must name the key, the expected and the actual
//! version and write nothing. After a power cut (between operations, or
//! right after the `n`th call of an operation) the store reopens to a
//! state the crash model allows (`common::crash_model`: durable writes
//! kept, batches whole, no deleted key back, versions not going back).
//! After an injected failure the call failed cleanly (the contents
//! unchanged) or the engine is poisoned and refuses writes, and a reopen
//! again gives a state the model allows. Runs inline and with a worker
//! pool; the named tests at the end replay cases proptest found.

mod common;

use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use common::crash_model::{CrashModel, Write};
use common::{Contents, dump, show, small_config};
use hightower_engine::{
    Command, Committed, Durability, EngineError, Expect, KeyValue, KvEngine, SingleNodeEngine,
    SnapshotEngine,
};
use hightower_log::vfs::{CallKind, CrashVfs};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

/// A small key space, with keys that are prefixes of one another, so that
/// overwrites, conflicts and prefix scans all have something to find.
const KEYS: [&[u8]; 12] = [
    b"a",
    b"aa",
    b"ab",
    b"aba",
    b"b",
    b"ba",
    b"bb",
    b"c",
    b"ca",
    b"cab",
    b"d",
    b"\xff\x00",
];
/// Prefixes and range bounds: some are keys, some fall between keys.
const PROBES: [&[u8]; 9] = [b"", b"a", b"ab", b"b", b"bz", b"c", b"ca", b"z", b"\xff"];
const CASES: u32 = 64;

/// A condition, turned into an [`Expect`] against the model's state.
#[derive(Clone, Debug)]
enum Cond {
    Any,
    Absent,
    /// The model's version of the key (a version that cannot match when
    /// the key is absent).
    Current,
    /// A version the key does not have.
    Wrong(u64),
}

/// A value made of a seed and a length; long ones roll segments over.
#[derive(Clone, Debug)]
struct Value(u8, usize);

impl Value {
    fn bytes(&self) -> Vec<u8> {
        (0..self.1)
            .map(|i| self.0.wrapping_add((i % 251) as u8))
            .collect()
    }
}

/// One command: a put when `value` is set, else a delete.
#[derive(Clone, Debug)]
struct Cmd {
    key: usize,
    value: Option<Value>,
    cond: Cond,
}

#[derive(Clone, Debug)]
enum Op {
    Write(Cmd),
    Batch(Vec<Cmd>),
    Get(usize),
    ScanPrefix(usize, usize),
    ScanRange((usize, u8), (usize, u8), usize),
    Sync,
    Checkpoint,
    Reopen,
    /// A power cut between operations, its choices drawn from the seed.
    Crash(u64),
    /// An operation run with a countdown armed on its calls.
    Faulty(Fault, Box<Op>),
}

/// A countdown: the `nth` call of `kinds` fails, or the power goes right
/// after it (torn by `seed`).
#[derive(Clone, Debug)]
struct Fault {
    nth: u64,
    kinds: Kinds,
    power_cut: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
enum Kinds {
    Any,
    Syncs,
    Writes,
    Namespace,
}

impl Kinds {
    fn calls(self) -> &'static [CallKind] {
        match self {
            Kinds::Any => CallKind::ALL,
            Kinds::Syncs => CallKind::SYNCS,
            Kinds::Writes => &[CallKind::WriteAt],
            Kinds::Namespace => CallKind::NAMESPACE,
        }
    }
}

fn value() -> impl Strategy<Value = Value> {
    let len = prop_oneof![8 => 0..48usize, 1 => 1000..3000usize];
    (any::<u8>(), len).prop_map(|(seed, len)| Value(seed, len))
}

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

fn cmd(cond: impl Strategy<Value = Cond>) -> impl Strategy<Value = Cmd> {
    let value = prop_oneof![3 => value().prop_map(Some), 1 => Just(None)];
    (key(), value, cond).prop_map(|(key, value, cond)| Cmd { key, value, cond })
}

fn any_cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        4 => Just(Cond::Any),
        1 => Just(Cond::Absent),
        2 => Just(Cond::Current),
        1 => (0..3u64).prop_map(Cond::Wrong),
    ]
}

fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![0..4usize, Just(usize::MAX)]
}

fn fault() -> impl Strategy<Value = Fault> {
    let kinds = prop_oneof![
        2 => Just(Kinds::Any),
        1 => Just(Kinds::Syncs),
        1 => Just(Kinds::Writes),
        1 => Just(Kinds::Namespace),
    ];
    let power_cut = prop::option::of(any::<u64>());
    (1..5u64, kinds, power_cut).prop_map(|(nth, kinds, power_cut)| Fault {
        nth,
        kinds,
        power_cut,
    })
}

/// Every operation: the engine's calls, reopens, power cuts, and the
/// engine's calls with a fault armed.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        24 => engine_op(),
        1 => Just(Op::Reopen),
        1 => any::<u64>().prop_map(Op::Crash),
        3 => (fault(), faulty_op()).prop_map(|(fault, op)| Op::Faulty(fault, Box::new(op))),
    ]
}

/// The calls a fault is armed for: the ones that write.
fn faulty_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => cmd(any_cond()).prop_map(Op::Write),
        2 => vec(cmd(any_cond()), 1..=4).prop_map(Op::Batch),
        1 => Just(Op::Sync),
        1 => Just(Op::Checkpoint),
    ]
}

/// One call of the engine's.
fn engine_op() -> impl Strategy<Value = Op> {
    let put = (key(), value()).prop_map(|(key, value)| Cmd {
        key,
        value: Some(value),
        cond: Cond::Any,
    });
    let delete = key().prop_map(|key| Cmd {
        key,
        value: None,
        cond: Cond::Any,
    });
    let cas = (
        key(),
        value(),
        prop_oneof![3 => Just(Cond::Current), 1 => (0..3u64).prop_map(Cond::Wrong)],
    )
        .prop_map(|(key, value, cond)| Cmd {
            key,
            value: Some(value),
            cond,
        });
    let if_absent = (key(), value()).prop_map(|(key, value)| Cmd {
        key,
        value: Some(value),
        cond: Cond::Absent,
    });
    let bound = (0..PROBES.len(), 0..3u8);
    prop_oneof![
        6 => put.prop_map(Op::Write),
        2 => delete.prop_map(Op::Write),
        4 => cas.prop_map(Op::Write),
        2 => if_absent.prop_map(Op::Write),
        1 => cmd(any_cond()).prop_map(Op::Write),
        4 => vec(cmd(any_cond()), 1..=5).prop_map(Op::Batch),
        3 => key().prop_map(Op::Get),
        2 => (0..PROBES.len(), limit()).prop_map(|(prefix, limit)| Op::ScanPrefix(prefix, limit)),
        2 => (bound.clone(), bound, limit()).prop_map(|(start, end, limit)| Op::ScanRange(start, end, limit)),
        1 => Just(Op::Sync),
        1 => Just(Op::Checkpoint),
    ]
}

/// What the engine should hold.
#[derive(Debug, Default)]
struct Model {
    contents: Contents,
    latest_version: u64,
    /// What a power cut or a failed call may leave.
    crash: CrashModel,
}

fn writes_of(commands: &[Command]) -> Vec<Write> {
    commands
        .iter()
        .filter_map(|command| match command {
            Command::Put { key, value, .. } => Some((key.clone(), Some(value.clone()))),
            Command::Delete { key, .. } => Some((key.clone(), None)),
            // The model makes no checks; a check would write nothing.
            Command::Check { .. } => None,
        })
        .collect()
}

impl Model {
    fn version_of(&self, key: &[u8]) -> Option<u64> {
        self.contents.get(key).map(|(_, version)| *version)
    }

    /// The engine command for `cmd`, its condition resolved against the
    /// model's current state.
    fn command(&self, cmd: &Cmd) -> Command {
        let key = KEYS[cmd.key].to_vec();
        let current = self.version_of(&key);
        let expect = match cmd.cond {
            Cond::Any => Expect::Any,
            Cond::Absent => Expect::Absent,
            // Version 0 is never assigned, so it cannot match.
            Cond::Current => Expect::Version(current.unwrap_or(0)),
            Cond::Wrong(delta) => match current {
                Some(v) if delta % 2 == 0 => Expect::Version(v + 1 + delta),
                Some(v) => Expect::Version(v.saturating_sub(1 + delta)),
                None => Expect::Version(1 + delta),
            },
        };
        let command = match &cmd.value {
            Some(value) => Command::put(key, value.bytes()),
            None => Command::delete(key),
        };
        command.expecting(expect)
    }

    fn apply(&mut self, commands: &[Command], first_version: u64, durable: bool) {
        for (i, command) in commands.iter().enumerate() {
            let version = first_version + i as u64;
            match command {
                Command::Put { key, value, .. } => {
                    self.contents.insert(key.clone(), (value.clone(), version));
                }
                Command::Delete { key, .. } => {
                    self.contents.remove(key);
                }
                Command::Check { .. } => unreachable!("the model makes no checks"),
            }
        }
        self.latest_version = first_version + commands.len() as u64 - 1;
        self.crash
            .acked(&writes_of(commands), first_version, durable);
    }
}

/// The engine under test, the file system it runs on, and how to reopen
/// it.
struct Subject {
    dir: tempfile::TempDir,
    durability: Durability,
    worker_threads: usize,
    vfs: CrashVfs,
    engine: Option<SingleNodeEngine>,
    /// The error of a call that failed from an injected fault, not yet
    /// looked into.
    failure: Option<EngineError>,
    /// The seed of an armed power cut.
    cut_seed: u64,
    /// A countdown reached its call since the last reopen. Its failure
    /// may surface in a later call: a background seal that failed is
    /// reported by the next call that waits for seals.
    faulted: bool,
}

impl Subject {
    fn open(durability: Durability, worker_threads: usize) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let vfs = CrashVfs::new(dir.path())?;
        let mut subject = Subject {
            dir,
            durability,
            worker_threads,
            vfs,
            engine: None,
            failure: None,
            cut_seed: 0,
            faulted: false,
        };
        subject.reopen()?;
        Ok(subject)
    }

    fn engine(&self) -> &SingleNodeEngine {
        self.engine
            .as_ref()
            .expect("the engine is open between operations")
    }

    /// Closes the engine and opens the directory as it is on a fresh
    /// `CrashVfs`.
    fn reopen(&mut self) -> anyhow::Result<()> {
        drop(self.engine.take());
        self.faulted = false;
        self.vfs = CrashVfs::new(self.dir.path())?;
        let config = small_config(self.dir.path(), self.durability, self.worker_threads)
            .vfs(Arc::new(self.vfs.clone()));
        self.engine = Some(SingleNodeEngine::with_config(config).context("reopen")?);
        Ok(())
    }

    /// `Some` of a call's result; `None` when it failed from an injected
    /// fault (kept for [`settle`]); an error when it failed on its own.
    fn tolerate<T>(&mut self, result: Result<T, EngineError>) -> anyhow::Result<Option<T>> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(error) if self.faulted || self.vfs.tripped() || self.vfs.is_frozen() => {
                self.failure = Some(error);
                Ok(None)
            }
            Err(error) => Err(error).context("a call failed with no fault injected"),
        }
    }
}

fn bound(probe: (usize, u8)) -> Bound<&'static [u8]> {
    match probe.1 {
        0 => Bound::Included(PROBES[probe.0]),
        1 => Bound::Excluded(PROBES[probe.0]),
        _ => Bound::Unbounded,
    }
}

fn in_range(key: &[u8], start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    let after_start = match start {
        Bound::Included(s) => key >= s,
        Bound::Excluded(s) => key > s,
        Bound::Unbounded => true,
    };
    let before_end = match end {
        Bound::Included(e) => key <= e,
        Bound::Excluded(e) => key < e,
        Bound::Unbounded => true,
    };
    after_start && before_end
}

fn expected_scan(model: &Model, keep: impl Fn(&[u8]) -> bool, limit: usize) -> Vec<KeyValue> {
    model
        .contents
        .iter()
        .filter(|(key, _)| keep(key))
        .take(limit)
        .map(|(key, (value, version))| KeyValue {
            key: key.clone(),
            value: value.clone(),
            version: *version,
            expires_at_ms: None,
        })
        .collect()
}

/// Submits `commands` as one batch (or one write) and checks the outcome.
fn write(
    subject: &mut Subject,
    model: &mut Model,
    commands: Vec<Command>,
    as_batch: bool,
) -> anyhow::Result<()> {
    let failing: Vec<(Vec<u8>, Expect, Option<u64>)> = commands
        .iter()
        .map(|c| (c.key().to_vec(), c.expect(), model.version_of(c.key())))
        .filter(|(_, expect, actual)| !expect.holds(*actual))
        .collect();
    let engine = subject.engine();
    let outcome = if as_batch {
        engine.submit_batch(commands.clone())
    } else {
        let command = commands[0].clone();
        let version = match (&command, command.expect()) {
            (Command::Put { key, value, .. }, Expect::Any) => engine.put(key, value),
            (Command::Delete { key, .. }, Expect::Any) => engine.delete(key),
            _ => engine.submit(command),
        };
        version.map(|v| Committed {
            first_version: v,
            count: 1,
        })
    };
    match outcome {
        Ok(committed) => {
            ensure!(
                failing.is_empty(),
                "write committed although {failing:?} should conflict"
            );
            ensure!(
                committed.first_version > model.latest_version,
                "version {} is not above the previous latest {}",
                committed.first_version,
                model.latest_version
            );
            ensure!(
                committed.count as usize == commands.len(),
                "count {} for {} commands",
                committed.count,
                commands.len()
            );
            let durable = matches!(subject.durability, Durability::Sync);
            model.apply(&commands, committed.first_version, durable);
        }
        Err(EngineError::VersionConflict {
            key,
            expected,
            actual,
        }) => {
            let reported = (key.0.clone(), expected, actual);
            ensure!(
                failing.contains(&reported),
                "conflict {reported:?} is not one of {failing:?}"
            );
            // The check's own reads are not the call under test, and
            // after a power cut (a background write may meet it) the
            // reopen checks the contents instead.
            subject.vfs.disarm();
            ensure!(
                subject.vfs.is_frozen() || dump(engine)? == model.contents,
                "a refused write changed the contents"
            );
        }
        Err(other) => {
            subject.tolerate::<()>(Err(other))?;
            model.crash.failed(&writes_of(&commands));
        }
    }
    Ok(())
}

/// Runs one call of the engine's and checks its answer.
fn call(subject: &mut Subject, model: &mut Model, op: &Op) -> anyhow::Result<()> {
    match op {
        Op::Write(cmd) => write(subject, model, vec![model.command(cmd)], false)?,
        Op::Batch(cmds) => {
            let commands = cmds.iter().map(|c| model.command(c)).collect();
            write(subject, model, commands, true)?;
        }
        Op::Get(key) => {
            let key = KEYS[*key];
            let got = subject.engine().get(key);
            if let Some(got) = subject.tolerate(got)? {
                let got = got.map(|v| (v.value, v.version));
                ensure!(
                    got.as_ref() == model.contents.get(key),
                    "get {:?}: {got:?}",
                    show(key)
                );
            }
        }
        Op::ScanPrefix(prefix, limit) => {
            let prefix = PROBES[*prefix];
            let got = subject.engine().scan_prefix(prefix, *limit);
            if let Some(got) = subject.tolerate(got)? {
                ensure!(
                    got == expected_scan(model, |k| k.starts_with(prefix), *limit),
                    "scan_prefix {:?}",
                    show(prefix)
                );
            }
        }
        Op::ScanRange(start, end, limit) => {
            let (start, end) = (bound(*start), bound(*end));
            let got = subject.engine().scan_range(start, end, *limit);
            if let Some(got) = subject.tolerate(got)? {
                let expected = expected_scan(model, |k| in_range(k, start, end), *limit);
                ensure!(
                    got == expected,
                    "scan_range {start:?}..{end:?} limit {limit}: {got:?}"
                );
            }
        }
        Op::Sync => {
            let synced = subject.engine().sync();
            if subject.tolerate(synced)?.is_some() {
                model.crash.synced();
            }
        }
        Op::Checkpoint => {
            let written = subject.engine().checkpoint();
            subject.tolerate(written)?;
        }
        Op::Reopen | Op::Crash(_) | Op::Faulty(..) => {
            unreachable!("only the engine's calls run through `call`")
        }
    }
    Ok(())
}

/// Reopens after a power cut, a poisoned engine or a clean close, checks
/// the store against what the model allows, and takes it as the new
/// starting point.
fn recover(subject: &mut Subject, model: &mut Model, clean: bool) -> anyhow::Result<()> {
    subject.reopen()?;
    let got = dump(subject.engine())?;
    let latest = subject.engine().latest_version();
    model
        .crash
        .check_recovered(&got, latest, clean)
        .with_context(|| format!("after reopening (clean close: {clean})"))?;
    model.crash.reset(&got, latest);
    model.contents = got;
    model.latest_version = latest;
    Ok(())
}

/// After a call: a power cut the countdown made is carried out, a
/// poisoned engine must refuse writes and is reopened, and a call that
/// failed without poisoning must have changed nothing.
fn settle(subject: &mut Subject, model: &mut Model) -> anyhow::Result<()> {
    if subject.vfs.is_frozen() {
        subject.failure = None;
        subject.vfs.crash(subject.cut_seed)?;
        return recover(subject, model, false).context("after a power cut inside a call");
    }
    if let Some(reason) = subject.engine().poison_reason() {
        ensure!(subject.faulted, "poisoned with no fault injected: {reason}");
        let refused = subject.engine().put(KEYS[0], b"refused");
        ensure!(
            matches!(refused, Err(EngineError::Poisoned { .. })),
            "a poisoned engine took a write: {refused:?}"
        );
        subject.failure = None;
        return recover(subject, model, false).context("after reopening a poisoned engine");
    }
    if let Some(error) = subject.failure.take() {
        let contents = dump(subject.engine())
            .with_context(|| format!("read everything after a call failed ({error})"))?;
        ensure!(
            contents == model.contents,
            "a call that failed ({error}) changed the contents"
        );
        let latest = subject.engine().latest_version();
        ensure!(
            latest >= model.latest_version,
            "the latest version went down"
        );
        // A failed call may have used up versions.
        model.latest_version = latest;
    }
    Ok(())
}

fn step(subject: &mut Subject, model: &mut Model, op: &Op) -> anyhow::Result<()> {
    match op {
        Op::Reopen => recover(subject, model, true)?,
        Op::Crash(seed) => {
            subject.vfs.crash(*seed)?;
            recover(subject, model, false)?;
        }
        Op::Faulty(fault, op) => {
            let kinds = fault.kinds.calls();
            match fault.power_cut {
                Some(seed) => {
                    subject.cut_seed = seed;
                    subject.vfs.cut_power_after_nth(fault.nth, kinds);
                }
                None => subject.vfs.fail_nth(fault.nth, kinds),
            }
            let called = call(subject, model, op);
            subject.vfs.disarm();
            subject.faulted |= subject.vfs.tripped();
            called?;
            settle(subject, model)?;
        }
        op => {
            call(subject, model, op)?;
            settle(subject, model)?;
        }
    }
    let latest = subject.engine().latest_version();
    ensure!(
        latest == model.latest_version,
        "latest version {latest}, model {}",
        model.latest_version
    );
    Ok(())
}

fn run_case(worker_threads: usize, durability: Durability, ops: &[Op]) -> anyhow::Result<()> {
    let mut subject = Subject::open(durability, worker_threads)?;
    let mut model = Model::default();
    for (i, op) in ops.iter().enumerate() {
        step(&mut subject, &mut model, op).with_context(|| format!("operation {i}: {op:?}"))?;
    }
    ensure!(
        dump(subject.engine())? == model.contents,
        "contents differ at the end"
    );
    recover(&mut subject, &mut model, true).context("the last reopen")
}

fn run(worker_threads: usize) -> anyhow::Result<()> {
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
    // The crash model makes fsync free, so `Sync` costs no more than the
    // others; `Periodic` adds a background syncing thread.
    let durability = prop_oneof![
        2 => Just(Durability::None),
        2 => Just(Durability::Sync),
        1 => Just(Durability::Periodic(Duration::from_millis(2))),
    ];
    let strategy = (durability, vec(op(), 1..60));
    runner
        .run(&strategy, |(durability, ops)| {
            run_case(worker_threads, durability, &ops)
                .map_err(|e| TestCaseError::fail(format!("{e:#}")))
        })
        .map_err(|e| anyhow::anyhow!("{e}"))
}

#[test]
fn model_based_inline() -> anyhow::Result<()> {
    run(0)
}

#[test]
fn model_based_workers() -> anyhow::Result<()> {
    run(2)
}

// Cases proptest found, kept as they shrank.

fn put_a() -> Op {
    Op::Write(Cmd {
        key: 0,
        value: Some(Value(0, 0)),
        cond: Cond::Any,
    })
}

fn fail_first(kinds: Kinds, op: Op) -> Op {
    let fault = Fault {
        nth: 1,
        kinds,
        power_cut: None,
    };
    Op::Faulty(fault, Box::new(op))
}

/// A conditional write that conflicts while a fault is armed: the
/// conflict is reported and the check of the contents that follows is
/// not the call under test.
#[test]
fn model_1_a_conflict_under_an_armed_fault() -> anyhow::Result<()> {
    let conflicting = Op::Write(Cmd {
        key: 0,
        value: Some(Value(0, 0)),
        cond: Cond::Wrong(0),
    });
    let ops = [put_a(), Op::Reopen, fail_first(Kinds::Any, conflicting)];
    run_case(0, Durability::None, &ops)
}

/// Without durability: put `a`, then a checkpoint whose first write (the
/// flush of the active segment's buffer) fails. The checkpoint reports
/// the error and the engine is not poisoned, but the failed flush
/// poisoned the active segment: the next write fails with the segment's
/// own "poisoned" error instead of `EngineError::Poisoned`, and a clean
/// close cannot flush the buffered put, so `a` (acknowledged, never
/// reported lost) is gone after the reopen. `checkpoint` should poison
/// the engine when the flush fails, as the write path does.
#[test]
fn model_2_a_failed_checkpoint_flush_keeps_acknowledged_writes() -> anyhow::Result<()> {
    let ops = [
        put_a(),
        fail_first(Kinds::Writes, Op::Checkpoint),
        Op::Reopen,
    ];
    run_case(0, Durability::None, &ops)
}

/// The same failed checkpoint, then a write: it must succeed or report
/// `Poisoned`.
#[test]
fn model_3_a_write_after_a_failed_checkpoint_flush() -> anyhow::Result<()> {
    let ops = [
        put_a(),
        fail_first(Kinds::Any, Op::Checkpoint),
        fail_first(Kinds::Any, put_a()),
    ];
    run_case(0, Durability::None, &ops)
}
