//! What a store may hold after a power cut, a failed call or a reopen of a
//! poisoned engine, for the model tests: per key, every state since the
//! last one known durable, and the acknowledged batches not yet durable.
//!
//! The rules it checks a recovered store against:
//! - a key holds one of its states since its last durable one: an
//!   acknowledged write made durable (under `Durability::Sync`, or before
//!   a successful `sync`) is there or overwritten by a later write, a
//!   delete stays unless a later put comes back, and a write whose call
//!   failed may or may not be there (its state is "unknown" until the key
//!   is overwritten durably);
//! - an acknowledged batch is all or nothing: once one of its records is
//!   seen, every other key of the batch holds that batch's state or a
//!   later one;
//! - versions never go back: the latest version is at least every durable
//!   acknowledged version and every version the store holds.

use std::collections::BTreeMap;

use anyhow::ensure;

use super::{Contents, show};

/// A key's state: absent, or a value with its version (`None` when the
/// write that made it failed, so its version was never reported).
pub(crate) type State = Option<(Vec<u8>, Option<u64>)>;

/// One write of a call: a put with its value, or a delete.
pub(crate) type Write = (Vec<u8>, Option<Vec<u8>>);

#[derive(Debug, Clone)]
struct KeyHistory {
    /// The states since the last durable one, oldest first.
    states: Vec<State>,
    /// Index of the last acknowledged state: what reads must show.
    acked: usize,
}

impl Default for KeyHistory {
    fn default() -> Self {
        KeyHistory {
            states: vec![None],
            acked: 0,
        }
    }
}

fn matches(state: &State, got: Option<&(Vec<u8>, u64)>) -> bool {
    match (state, got) {
        (None, None) => true,
        (Some((value, version)), Some((got_value, got_version))) => {
            value == got_value && version.is_none_or(|v| v == *got_version)
        }
        _ => false,
    }
}

/// The durability side of a model test's model.
#[derive(Debug, Default)]
pub(crate) struct CrashModel {
    keys: BTreeMap<Vec<u8>, KeyHistory>,
    /// Acknowledged batches of more than one write, not yet durable: each
    /// write's key, version and index in the key's states.
    batches: Vec<Vec<(Vec<u8>, u64, usize)>>,
    /// The highest version acknowledged so far.
    acked_version: u64,
    /// The highest version known durable.
    durable_version: u64,
}

impl CrashModel {
    /// Records an acknowledged call whose writes got versions from
    /// `first_version` on; `durable` when the acknowledgement promises
    /// they survive a power cut.
    pub(crate) fn acked(&mut self, writes: &[Write], first_version: u64, durable: bool) {
        let mut batch = Vec::new();
        for (i, (key, value)) in writes.iter().enumerate() {
            let version = first_version + i as u64;
            let history = self.keys.entry(key.clone()).or_default();
            let state = value.clone().map(|value| (value, Some(version)));
            if durable {
                *history = KeyHistory {
                    states: vec![state],
                    acked: 0,
                };
                // The key's earlier states are gone, and so is what a
                // batch could tell about it.
                for batch in &mut self.batches {
                    batch.retain(|(k, _, _)| k != key);
                }
            } else {
                history.states.push(state);
                history.acked = history.states.len() - 1;
            }
            batch.push((key.clone(), version, history.acked));
        }
        let last = first_version + writes.len() as u64 - 1;
        self.acked_version = self.acked_version.max(last);
        if durable {
            self.durable_version = self.durable_version.max(last);
        } else if batch.len() > 1 {
            self.batches.push(batch);
        }
    }

    /// Records a call that failed: each of its writes may or may not have
    /// landed.
    pub(crate) fn failed(&mut self, writes: &[Write]) {
        for (key, value) in writes {
            let history = self.keys.entry(key.clone()).or_default();
            history
                .states
                .push(value.clone().map(|value| (value, None)));
        }
    }

    /// Every acknowledged write is durable now (a successful `sync`).
    pub(crate) fn synced(&mut self) {
        for history in self.keys.values_mut() {
            history.states.drain(..history.acked);
            history.acked = 0;
        }
        self.batches.clear();
        self.durable_version = self.acked_version;
    }

    /// Checks what a reopened store holds: `recovered` and its `latest`
    /// version. After a clean close every acknowledged write must be
    /// there (`clean`); after a power cut or a poisoned engine only the
    /// durable ones.
    pub(crate) fn check_recovered(
        &self,
        recovered: &Contents,
        latest: u64,
        clean: bool,
    ) -> anyhow::Result<()> {
        let absent = KeyHistory::default();
        let keys = self.keys.keys().chain(recovered.keys());
        for key in keys {
            let history = self.keys.get(key).unwrap_or(&absent);
            let allowed = if clean {
                &history.states[history.acked..]
            } else {
                &history.states[..]
            };
            let got = recovered.get(key);
            ensure!(
                allowed.iter().any(|state| matches(state, got)),
                "{} holds version {:?}, allowed are {:?}",
                show(key),
                got.map(|(_, version)| version),
                allowed
                    .iter()
                    .map(|s| s.as_ref().map(|(_, v)| *v))
                    .collect::<Vec<_>>()
            );
        }
        for batch in &self.batches {
            self.check_batch(batch, recovered)?;
        }
        ensure!(
            latest >= self.durable_version,
            "the latest version {latest} is below the durable {}",
            self.durable_version
        );
        if clean {
            ensure!(
                latest >= self.acked_version,
                "the latest version {latest} is below the acknowledged {}",
                self.acked_version
            );
        }
        let held = recovered.values().map(|(_, v)| *v).max().unwrap_or(0);
        ensure!(
            latest >= held,
            "the latest version {latest} is below the held {held}"
        );
        Ok(())
    }

    /// A batch seen in part must be there whole.
    fn check_batch(
        &self,
        batch: &[(Vec<u8>, u64, usize)],
        recovered: &Contents,
    ) -> anyhow::Result<()> {
        let seen = batch
            .iter()
            .any(|(key, version, _)| recovered.get(key).is_some_and(|(_, v)| v == version));
        if !seen {
            return Ok(());
        }
        for (key, version, written) in batch {
            let got = recovered.get(key);
            let holds = self.keys[key]
                .states
                .iter()
                .rposition(|state| matches(state, got));
            ensure!(
                holds >= Some(*written),
                "a batch is there in part: {} holds {:?}, the batch wrote version {version}",
                show(key),
                got.map(|(_, v)| v)
            );
        }
        Ok(())
    }

    /// Starts over from a store verified by [`CrashModel::check_recovered`]:
    /// all it holds is durable.
    pub(crate) fn reset(&mut self, recovered: &Contents, latest: u64) {
        self.keys = recovered
            .iter()
            .map(|(key, (value, version))| {
                let history = KeyHistory {
                    states: vec![Some((value.clone(), Some(*version)))],
                    acked: 0,
                };
                (key.clone(), history)
            })
            .collect();
        self.batches.clear();
        self.acked_version = latest;
        self.durable_version = self.durable_version.max(latest);
    }
}
