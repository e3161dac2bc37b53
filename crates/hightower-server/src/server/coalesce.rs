//! [`SetBatch`]: consecutive plain `SET key value` requests of one
//! pipeline, committed as one engine batch.
//!
//! A pipeline of sets costs one log frame and, under `sync` durability,
//! one fsync instead of one per request. What a client sees does not
//! change: the replies keep their order and each is sent only after its
//! write is committed, a later request of the pipeline (any command but a
//! plain `SET`) runs only after the batch is committed, so it reads the
//! values, and a batch fails as a whole only when the engine fails (a
//! failed I/O, a poisoned engine), in which case none of its writes
//! happened and each of its requests gets the error. Requests that would
//! be refused on their own (a key or value above the limits, a missing
//! grant) are never taken into a batch: they run alone and get their own
//! error.
//!
//! The sets are encoded into one engine [`WriteBatch`] as they are taken,
//! so a pipeline of sets costs no allocation per key or value. Batches of
//! different connections run on the blocking pool's threads and share the
//! engine's group commit: each waits for the fsync about to happen, not
//! for the others' fsyncs.

use hightower_engine::WriteBatch;

use crate::server::auth::Operation;
use crate::server::dispatch::{CommandError, Ctx};
use crate::server::metrics::ServerMetrics;
use crate::server::resp::Request;

/// Sets one batch takes at most.
const BATCH_SETS_MAX: usize = 1024;

/// Key and value bytes one batch takes at most.
const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct SetBatch {
    puts: WriteBatch,
    bytes: usize,
}

impl SetBatch {
    /// Takes `request` into the batch when it is a plain `SET` that would
    /// succeed on its own; returns whether it did.
    pub(crate) fn try_add(&mut self, ctx: &mut Ctx<'_>, request: &Request<'_>) -> bool {
        // Inside MULTI a set is queued, not run.
        let plain_set = request.len() == 3 && request.arg(0).eq_ignore_ascii_case(b"SET");
        if !plain_set || ctx.session.multi.active() {
            return false;
        }
        let (key, value) = (request.arg(1), request.arg(2));
        let limits = &ctx.engine().config().limits;
        let fits = !key.is_empty()
            && key.len() <= limits.key_bytes_max
            && value.len() <= limits.value_bytes_max
            && self.puts.len() < BATCH_SETS_MAX
            && self.bytes + key.len() + value.len() <= BATCH_BYTES_MAX;
        if !fits || !ctx.may(Operation::Write, key) {
            return false;
        }
        ServerMetrics::add(&ctx.metrics().commands_processed, 1);
        self.bytes += key.len() + value.len();
        self.puts.put(key, value);
        true
    }

    /// Commits the batch and writes one reply per set taken.
    pub(crate) fn flush(&mut self, ctx: &mut Ctx<'_>) {
        if self.puts.is_empty() {
            return;
        }
        let n_sets = self.puts.len();
        let outcome = ctx.engine().write(&self.puts).map(drop);
        // Kept for the next run of sets: its buffer is already grown.
        self.puts.clear();
        self.bytes = 0;
        match outcome {
            Ok(()) => (0..n_sets).for_each(|_| ctx.reply().ok()),
            Err(error) => {
                let error = CommandError::from(error);
                ServerMetrics::add(&ctx.metrics().command_errors, n_sets as u64);
                (0..n_sets).for_each(|_| ctx.reply().error(error.text()));
            }
        }
    }
}
