//! [`Overlay`]: the private view a multi-key command or a transaction
//! works in. Reads come from the engine (or from one read view) and are
//! remembered with their versions; writes stay in the overlay until
//! [`Overlay::commit`] turns them into one engine batch whose conditions
//! are the versions read.
//!
//! A key that was read but not written goes into the batch as a check
//! (`Command::Check`): a condition on the version read that writes
//! nothing, so reading a key in a transaction neither rewrites its value
//! nor moves its version (another client's `WATCH` on it stays quiet).
//! Each value carries its expiry, so that the edits of a value keep it.
//! An overlay that wrote nothing commits nothing: its reads, from one
//! view, already are one consistent moment.
//!
//! [`atomically`] runs one command in an overlay and retries it on a
//! version conflict, at most [`CAS_ATTEMPTS_MAX`] times.

use std::collections::BTreeMap;

use hightower_engine::{Command, EngineError, Expect, KvEngine, ReadView, Versioned};

use crate::server::commands::{CAS_ATTEMPTS_MAX, contention};
use crate::server::dispatch::{CommandError, CommandResult, Ctx};
use crate::server::resp::Request;

/// Keys one overlay holds at most; a transaction touching more is refused.
pub(crate) const OVERLAY_KEYS_MAX: usize = 100_000;

/// A command that runs in an overlay: it reads and writes through
/// `overlay` and writes its reply to `ctx`.
pub(crate) type OverlayHandler = fn(&mut Ctx<'_>, &mut Overlay<'_>, &Request<'_>) -> CommandResult;

/// Where an overlay reads keys it has not seen yet.
enum Source<'e> {
    /// The engine's newest state, key by key (every read is checked at
    /// commit, so reads need not be from one moment).
    Live(&'e dyn KvEngine),
    /// One point-in-time view, so that reads of several keys agree.
    View(ReadView),
}

/// One key as the overlay sees it.
#[derive(Debug, Default)]
struct Slot {
    /// The version read from the source (`Some(None)`: absent); `None`
    /// when the key was written without being read.
    read: Option<Option<u64>>,
    /// The value now, as later commands of the overlay see it.
    value: Option<Vec<u8>>,
    /// When that value expires (milliseconds since the Unix epoch).
    expires_at_ms: Option<u64>,
    written: bool,
}

/// See the module docs.
pub(crate) struct Overlay<'e> {
    source: Source<'e>,
    slots: BTreeMap<Vec<u8>, Slot>,
}

/// Why a commit did not happen.
#[derive(Debug)]
pub(crate) enum CommitError {
    /// A key changed since it was read: nothing was written.
    Conflict,
    /// The engine failed or refused the batch.
    Engine(EngineError),
}

impl<'e> Overlay<'e> {
    /// An overlay reading the engine's newest state key by key.
    pub(crate) fn live(engine: &'e dyn KvEngine) -> Self {
        Overlay {
            source: Source::Live(engine),
            slots: BTreeMap::new(),
        }
    }

    /// An overlay reading one point-in-time view.
    pub(crate) fn over_view(view: ReadView) -> Self {
        Overlay {
            source: Source::View(view),
            slots: BTreeMap::new(),
        }
    }

    fn slot(&mut self, key: &[u8]) -> Result<&mut Slot, CommandError> {
        if !self.slots.contains_key(key) {
            if self.slots.len() >= OVERLAY_KEYS_MAX {
                return Err(CommandError::err(format_args!(
                    "a transaction touches at most {OVERLAY_KEYS_MAX} keys"
                )));
            }
            self.slots.insert(key.to_vec(), Slot::default());
        }
        Ok(self.slots.get_mut(key).expect("inserted above"))
    }

    /// The value of `key` as the overlay sees it, remembering the version
    /// read on first sight.
    pub(crate) fn get(&mut self, key: &[u8]) -> Result<Option<&[u8]>, CommandError> {
        let known = self
            .slots
            .get(key)
            .is_some_and(|slot| slot.read.is_some() || slot.written);
        if !known {
            let found = match &self.source {
                Source::Live(engine) => engine.get(key)?,
                Source::View(view) => view.get(key)?,
            };
            let slot = self.slot(key)?;
            slot.read = Some(found.as_ref().map(|v| v.version));
            slot.expires_at_ms = found.as_ref().and_then(|v| v.expires_at_ms);
            slot.value = found.map(|Versioned { value, .. }| value);
        }
        Ok(self.slots.get(key).and_then(|slot| slot.value.as_deref()))
    }

    /// Whether `key` exists as the overlay sees it.
    pub(crate) fn exists(&mut self, key: &[u8]) -> Result<bool, CommandError> {
        Ok(self.get(key)?.is_some())
    }

    /// The version `key` had when first read, `None` when absent or
    /// never read.
    pub(crate) fn version_read(&self, key: &[u8]) -> Option<u64> {
        self.slots.get(key).and_then(|slot| slot.read.flatten())
    }

    /// When `key` expires as the overlay sees it: `None` when absent,
    /// `Some(None)` when it never expires.
    pub(crate) fn expiry(&mut self, key: &[u8]) -> Result<Option<Option<u64>>, CommandError> {
        if self.get(key)?.is_none() {
            return Ok(None);
        }
        Ok(self.slots.get(key).map(|slot| slot.expires_at_ms))
    }

    /// Sets `key` to `value` in the overlay, keeping the expiry the key
    /// has (as `APPEND`, `INCR` and the other edits of a value do); a key
    /// neither read nor written before gets none.
    pub(crate) fn put(&mut self, key: &[u8], value: Vec<u8>) -> CommandResult {
        let slot = self.slot(key)?;
        slot.value = Some(value);
        slot.written = true;
        Ok(())
    }

    /// Sets `key` to `value` in the overlay, expiring at `expires_at_ms`
    /// (`None`: never).
    pub(crate) fn put_with(
        &mut self,
        key: &[u8],
        value: Vec<u8>,
        expires_at_ms: Option<u64>,
    ) -> CommandResult {
        let slot = self.slot(key)?;
        slot.value = Some(value);
        slot.expires_at_ms = expires_at_ms;
        slot.written = true;
        Ok(())
    }

    /// Deletes `key` in the overlay.
    pub(crate) fn delete(&mut self, key: &[u8]) -> CommandResult {
        let slot = self.slot(key)?;
        slot.value = None;
        slot.expires_at_ms = None;
        slot.written = true;
        Ok(())
    }

    /// The batch: every key written, with the version read as its
    /// condition, and a check of every key only read (see the module
    /// docs).
    fn commands(self) -> Vec<Command> {
        let mut commands = Vec::with_capacity(self.slots.len());
        for (key, slot) in self.slots {
            debug_assert!(
                slot.written || slot.read.is_some(),
                "a slot exists because its key was read or written"
            );
            let expect = match slot.read {
                Some(Some(version)) => Expect::Version(version),
                Some(None) => Expect::Absent,
                None => Expect::Any,
            };
            let command = match slot.value {
                _ if !slot.written => Command::Check { key, expect },
                Some(value) => Command::Put {
                    key,
                    value,
                    expect,
                    expires_at_ms: slot.expires_at_ms,
                },
                None => Command::delete(key).expecting(expect),
            };
            commands.push(command);
        }
        commands
    }

    /// Whether the overlay wrote anything.
    pub(crate) fn wrote(&self) -> bool {
        self.slots.values().any(|slot| slot.written)
    }

    /// Commits the writes through `engine` in one batch conditioned on
    /// every version read; an overlay that wrote nothing commits nothing.
    pub(crate) fn commit(self, engine: &dyn KvEngine) -> Result<(), CommitError> {
        if !self.wrote() {
            return Ok(());
        }
        match engine.submit_batch(self.commands()) {
            Ok(_) => Ok(()),
            Err(EngineError::VersionConflict { .. }) => Err(CommitError::Conflict),
            Err(error) => Err(CommitError::Engine(error)),
        }
    }
}

/// Runs `handler` in an overlay over the engine's newest state and
/// commits its writes, retrying from scratch on a version conflict. The
/// reply of a lost attempt is dropped.
pub(crate) fn atomically(
    ctx: &mut Ctx<'_>,
    request: &Request<'_>,
    handler: OverlayHandler,
) -> CommandResult {
    let shared = ctx.shared;
    let engine: &dyn KvEngine = shared.engine.as_ref();
    let reply_start = ctx.out.len();
    for _ in 0..CAS_ATTEMPTS_MAX {
        let mut overlay = Overlay::live(engine);
        handler(ctx, &mut overlay, request)?;
        match overlay.commit(engine) {
            Ok(()) => return Ok(()),
            Err(CommitError::Conflict) => ctx.out.truncate(reply_start),
            Err(CommitError::Engine(error)) => return Err(error.into()),
        }
    }
    Err(contention(request.get(1).unwrap_or_default()))
}

/// Runs a read-only `handler` over one point-in-time view, so that the
/// keys it reads agree with each other.
pub(crate) fn in_view(
    ctx: &mut Ctx<'_>,
    request: &Request<'_>,
    handler: OverlayHandler,
) -> CommandResult {
    let view = ctx.engine().read_view()?;
    let mut overlay = Overlay::over_view(view);
    handler(ctx, &mut overlay, request)?;
    debug_assert!(!overlay.wrote(), "a handler run in a view only reads");
    Ok(())
}
