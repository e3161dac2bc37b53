//! The Raft log store against a model: random appends, truncations,
//! purges, votes and committed ids, with reopens and power cuts in
//! between. After a reopen the store holds exactly what the model holds;
//! after a power cut it holds what the model held before or after the one
//! call the cut interrupted, never less (every acknowledged call was
//! fsynced) and never a purged or truncated entry.

#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use hightower_engine::Command;
use hightower_log::vfs::{CallKind, CrashVfs, Vfs};
use hightower_raft::types::{Entry, EntryPayload, LogId, Request, StorageError, Vote};
use hightower_raft::{LogStoreOptions, RaftLogStore};
use openraft::CommittedLeaderId;
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// One call on the store, its arguments relative to the model's state so
/// that every generated call is one openraft could make.
#[derive(Debug, Clone)]
enum Op {
    /// Append `count` entries after the last one, in a new term when
    /// `new_term`, each carrying `value_bytes` of data (none: blank).
    Append {
        count: u8,
        new_term: bool,
        value_bytes: u16,
    },
    /// Truncate at the entry `back` places from the last.
    Truncate { back: u8 },
    /// Purge through the entry `back` places from the last, or, when
    /// `beyond`, through an index past the last (as after installing a
    /// snapshot).
    Purge { back: u8, beyond: bool },
    /// Save a vote in the current or a new term.
    SaveVote { new_term: bool, committed: bool },
    /// Save the id of the entry `back` places from the last as committed.
    SaveCommitted { back: u8 },
    /// Close and reopen the store.
    Reopen,
    /// Cut the power right after the `after_calls`-th file-system call
    /// from now; the cut's choices come from `seed`.
    ArmPowerCut { after_calls: u8, seed: u64 },
    /// Fail the `after_calls`-th file-system call from now (a write
    /// writes half its bytes first), as a full disk or an I/O error would.
    ArmFailure { after_calls: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..=4u8, proptest::bool::weighted(0.2), prop_oneof![Just(0u16), 1..300u16])
            .prop_map(|(count, new_term, value_bytes)| Op::Append { count, new_term, value_bytes }),
        1 => (0..6u8).prop_map(|back| Op::Truncate { back }),
        2 => (0..8u8, proptest::bool::weighted(0.2))
            .prop_map(|(back, beyond)| Op::Purge { back, beyond }),
        1 => (any::<bool>(), any::<bool>())
            .prop_map(|(new_term, committed)| Op::SaveVote { new_term, committed }),
        2 => (0..6u8).prop_map(|back| Op::SaveCommitted { back }),
        1 => Just(Op::Reopen),
        1 => (1..40u8, any::<u64>())
            .prop_map(|(after_calls, seed)| Op::ArmPowerCut { after_calls, seed }),
        1 => (1..40u8).prop_map(|after_calls| Op::ArmFailure { after_calls }),
    ]
}

/// What the log must hold.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    committed: Option<LogId>,
    purged: Option<LogId>,
}

impl Model {
    fn last_log_id(&self) -> Option<LogId> {
        self.entries
            .last_key_value()
            .map(|(_, entry)| entry.log_id)
            .or(self.purged)
    }

    fn next_index(&self) -> u64 {
        self.last_log_id().map_or(0, |id| id.index + 1)
    }

    /// The live entry `back` places from the last, if there is one.
    fn back_from_last(&self, back: u8) -> Option<LogId> {
        self.entries
            .values()
            .rev()
            .nth(back as usize)
            .or_else(|| self.entries.values().next())
            .map(|entry| entry.log_id)
    }
}

/// A call on the store, decided against the model: what to do and what
/// the model holds once it is done.
enum Call {
    Append(Vec<Entry>),
    Truncate(LogId),
    Purge(LogId),
    SaveVote(Vote),
    SaveCommitted(Option<LogId>),
    Reopen,
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// Turns `op` into a call and the model after it; `None` when the op
/// makes no sense in this state (nothing to truncate, ...).
fn plan(op: &Op, model: &Model, term: &mut u64) -> Option<(Call, Model)> {
    let mut after = model.clone();
    let call = match *op {
        Op::Append {
            count,
            new_term,
            value_bytes,
        } => {
            if new_term {
                *term += 1;
            }
            // Entries never go back in term.
            *term = (*term).max(model.last_log_id().map_or(0, |id| id.leader_id.term));
            let first = model.next_index();
            let entries: Vec<Entry> = (first..first + u64::from(count))
                .map(|index| Entry {
                    log_id: log_id(*term, index),
                    payload: if value_bytes == 0 {
                        EntryPayload::Blank
                    } else {
                        EntryPayload::Normal(Request::new(vec![Command::put(
                            format!("k{index}"),
                            vec![b'v'; value_bytes as usize],
                        )]))
                    },
                })
                .collect();
            for entry in &entries {
                after.entries.insert(entry.log_id.index, entry.clone());
            }
            Call::Append(entries)
        }
        Op::Truncate { back } => {
            let at = model.back_from_last(back)?;
            // Openraft never truncates what is committed.
            if model.committed.is_some_and(|c| c.index >= at.index) {
                return None;
            }
            after.entries.split_off(&at.index);
            Call::Truncate(at)
        }
        Op::Purge { back, beyond } => {
            let upto = if beyond {
                log_id(*term, model.next_index() + u64::from(back))
            } else {
                model.back_from_last(back)?
            };
            if model.purged.is_some_and(|p| p.index >= upto.index) {
                return None;
            }
            after.entries = after.entries.split_off(&(upto.index + 1));
            after.purged = Some(upto);
            Call::Purge(upto)
        }
        Op::SaveVote {
            new_term,
            committed,
        } => {
            if new_term {
                *term += 1;
            }
            let vote = if committed {
                Vote::new_committed(*term, 1)
            } else {
                Vote::new(*term, 2)
            };
            after.vote = Some(vote);
            Call::SaveVote(vote)
        }
        Op::SaveCommitted { back } => {
            let id = model.back_from_last(back)?;
            if model.committed.is_some_and(|c| c >= id) {
                return None;
            }
            after.committed = Some(id);
            Call::SaveCommitted(Some(id))
        }
        Op::Reopen => Call::Reopen,
        Op::ArmPowerCut { .. } | Op::ArmFailure { .. } => return None,
    };
    Some((call, after))
}

struct Harness {
    root: tempfile::TempDir,
    vfs: Arc<CrashVfs>,
    store: Option<RaftLogStore>,
    /// The seed of the armed power cut.
    cut_seed: Option<u64>,
    /// A failure is armed.
    failure_armed: bool,
}

fn options(vfs: Arc<CrashVfs>) -> LogStoreOptions {
    LogStoreOptions {
        segment_bytes_max: 512,
        vfs: vfs as Arc<dyn Vfs>,
        ..LogStoreOptions::default()
    }
}

fn log_dir(root: &Path) -> std::path::PathBuf {
    root.join("log")
}

impl Harness {
    fn new() -> Harness {
        let root = tempfile::tempdir().expect("a temporary directory");
        let vfs = Arc::new(CrashVfs::new(root.path()).expect("a crash vfs"));
        let store = RaftLogStore::open_with(log_dir(root.path()), options(vfs.clone()))
            .expect("a new log opens");
        Harness {
            root,
            vfs,
            store: Some(store),
            cut_seed: None,
            failure_armed: false,
        }
    }

    fn store(&mut self) -> &mut RaftLogStore {
        self.store.as_mut().expect("the store is open")
    }

    async fn run(&mut self, call: &Call) -> Result<(), StorageError> {
        match call {
            Call::Append(entries) => self.store().blocking_append(entries.clone()).await,
            Call::Truncate(at) => self.store().truncate(*at).await,
            Call::Purge(upto) => self.store().purge(*upto).await,
            Call::SaveVote(vote) => self.store().save_vote(vote).await,
            Call::SaveCommitted(id) => self.store().save_committed(*id).await,
            Call::Reopen => {
                self.store = None;
                let store =
                    RaftLogStore::open_with(log_dir(self.root.path()), options(self.vfs.clone()))?;
                self.store = Some(store);
                Ok(())
            }
        }
    }

    /// Reopens after a failed call; a reopen that itself met the failure
    /// is retried once.
    async fn reopen_until_open(&mut self) {
        if self.run(&Call::Reopen).await.is_err() {
            self.run(&Call::Reopen)
                .await
                .unwrap_or_else(|e| panic!("the log reopens after a failed call: {e}"));
        }
    }

    /// Cuts the power as armed, and reopens on a fresh file system.
    fn crash_and_reopen(&mut self) {
        let seed = self.cut_seed.take().expect("a power cut was armed");
        self.store = None;
        self.vfs
            .crash(seed)
            .expect("the power cut's image is written");
        self.vfs = Arc::new(CrashVfs::new(self.root.path()).expect("a crash vfs"));
        let store = RaftLogStore::open_with(log_dir(self.root.path()), options(self.vfs.clone()))
            .unwrap_or_else(|e| panic!("the log reopens after a power cut: {e}"));
        self.store = Some(store);
    }

    /// What the store holds now, as a model, and that its files are the
    /// segments it knows.
    async fn observed(&mut self) -> Model {
        let store = self.store();
        let state = store.get_log_state().await.expect("the log state reads");
        let entries = store
            .try_get_log_entries(0..)
            .await
            .expect("the entries read");
        let model = Model {
            entries: entries.into_iter().map(|e| (e.log_id.index, e)).collect(),
            vote: store.read_vote().await.expect("the vote reads"),
            committed: store.read_committed().await.expect("committed reads"),
            purged: state.last_purged_log_id,
        };
        assert_eq!(
            state.last_log_id,
            model.last_log_id(),
            "the log state's last id"
        );
        let files = std::fs::read_dir(store.dir())
            .expect("the log's directory lists")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
            })
            .count();
        assert_eq!(files, store.segment_count(), "segment files on disk");
        model
    }
}

fn check(ops: Vec<Op>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let mut harness = Harness::new();
        let mut model = Model::default();
        let mut term = 1_u64;
        for (step, op) in ops.iter().enumerate() {
            if let Op::ArmFailure { after_calls } = *op {
                if harness.cut_seed.is_none() && !harness.failure_armed {
                    harness
                        .vfs
                        .fail_nth(u64::from(after_calls), CallKind::ALL);
                    harness.failure_armed = true;
                }
                continue;
            }
            if let Op::ArmPowerCut { after_calls, seed } = *op {
                if harness.cut_seed.is_none() && !harness.failure_armed {
                    harness
                        .vfs
                        .cut_power_after_nth(u64::from(after_calls), CallKind::ALL);
                    harness.cut_seed = Some(seed);
                }
                continue;
            }
            let Some((call, after)) = plan(op, &model, &mut term) else {
                continue;
            };
            let outcome = harness.run(&call).await;
            if harness.vfs.is_frozen() {
                // The call the cut interrupted may or may not have
                // happened; every call before it did.
                harness.crash_and_reopen();
                let got = harness.observed().await;
                // An acknowledged call was fsynced before it returned.
                let acknowledged = outcome.is_ok();
                assert!(
                    got == after || (got == model && !acknowledged),
                    "step {step} ({op:?}, acknowledged: {acknowledged}): after the power cut the log holds\n\
                     {got:?}\nbut it must hold\n{model:?}\nor\n{after:?}"
                );
                model = got;
                continue;
            }
            if harness.failure_armed && harness.vfs.tripped() {
                harness.failure_armed = false;
                if outcome.is_err() {
                    // A store that failed a call is reopened (openraft stops
                    // at a storage error); the call happened or it did not.
                    harness.reopen_until_open().await;
                    let got = harness.observed().await;
                    assert!(
                        got == after || got == model,
                        "step {step} ({op:?}): after a failed call and a reopen the log \
                         holds\n{got:?}\nbut it must hold\n{model:?}\nor\n{after:?}"
                    );
                    model = got;
                    continue;
                }
            }
            outcome.unwrap_or_else(|e| panic!("step {step} ({op:?}) failed: {e}"));
            model = after;
            if matches!(call, Call::Reopen) {
                assert_eq!(harness.observed().await, model, "step {step}: after a reopen");
            }
        }
        harness.vfs.disarm();
        let reopened = harness.run(&Call::Reopen).await;
        reopened.unwrap_or_else(|e| panic!("the final reopen: {e}"));
        assert_eq!(harness.observed().await, model, "at the end");
    });
}

proptest! {
    #![proptest_config(Config {
        cases: 192,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x4854_4b56_7261_6674),
        ..Config::default()
    })]

    #[test]
    fn the_log_store_holds_what_the_model_holds(ops in proptest::collection::vec(op(), 1..60)) {
        check(ops);
    }
}
