//! [`SetBatch`]: consecutive plain `SET key value` and `MSET` requests of
//! one pipeline, committed as one engine batch.
//!
//! A pipeline of sets costs one log frame and, under `sync` durability,
//! one fsync instead of one per request. What a client sees does not
//! change: the replies keep their order and each is sent only after its
//! write is committed, a later request of the pipeline (any other
//! command) runs only after the batch is committed, so it reads the
//! values, an `MSET` is all in the batch or not in it, and a batch fails
//! as a whole only when the engine fails (a failed I/O, a poisoned
//! engine), in which case none of its writes happened and each of its
//! requests gets the error. Requests that would
//! be refused on their own (a key or value above the limits, a missing
//! grant) are never taken into a batch: they run alone and get their own
//! error.
//!
//! The sets are encoded into one engine [`WriteBatch`] as they are taken,
//! so a pipeline of sets costs no allocation per key or value. Under
//! `sync` durability a batch is appended without waiting for its fsync
//! ([`Commit::Deferred`]): its replies are written but held
//! ([`Awaiting`]) until the server's [`Syncer`](crate::server::syncer)
//! reports the batch durable, and the connection runs no later request
//! before then. The batches of every connection thus share the fsync
//! about to happen, and none of them holds a thread while it waits.

use std::ops::Range;

use hightower_engine::WriteBatch;

use crate::server::auth::Operation;
use crate::server::dispatch::{CommandError, Ctx};
use crate::server::metrics::ServerMetrics;
use crate::server::resp::{Protocol, ReplyWriter, Request};

/// Sets one batch takes at most.
const BATCH_SETS_MAX: usize = 1024;

/// Key and value bytes one batch takes at most.
const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;

/// How the thread a connection runs on may commit a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Not at all: a commit may wait on the disk, which this thread must
    /// not, so sets run alone where waiting is allowed.
    #[default]
    Elsewhere,
    /// Commit and wait for it (and for its fsync, if any) here.
    Now,
    /// Append, write the replies, and leave the wait for durability to
    /// the connection ([`SetBatch::take_awaiting`]).
    Deferred,
}

/// Replies of a batch appended but not yet durable: they are `bytes` of
/// the connection's output, and go out only once place `seq` of the
/// append order is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Awaiting {
    /// The batch's place in the append order.
    pub(crate) seq: u64,
    /// Where its replies are in the output.
    pub(crate) bytes: Range<usize>,
    /// How many requests it answers.
    pub(crate) replies: usize,
}

impl Awaiting {
    /// The batch will never be durable: replaces its replies with
    /// `error`, one per request.
    pub(crate) fn fail(
        self,
        output: &mut Vec<u8>,
        protocol: Protocol,
        error: &CommandError,
        metrics: &ServerMetrics,
    ) {
        let mut errors = Vec::new();
        write_errors(&mut errors, protocol, error, self.replies, metrics);
        output.splice(self.bytes, errors);
    }
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct SetBatch {
    puts: WriteBatch,
    /// Key and value bytes taken.
    bytes: usize,
    /// Requests taken, each answered by one `+OK`.
    replies: usize,
    commit: Commit,
    awaiting: Option<Awaiting>,
}

impl SetBatch {
    /// Sets how the batch is committed on the thread that runs it now.
    pub(crate) fn commit_as(&mut self, commit: Commit) {
        self.commit = commit;
    }

    /// Whether sets are taken and left waiting for durability, so that
    /// no other request may run while the batch holds any.
    pub(crate) fn holds_deferred(&self) -> bool {
        self.commit == Commit::Deferred && !self.puts.is_empty()
    }

    /// The replies of the last batch flushed, when they wait for
    /// durability.
    pub(crate) fn take_awaiting(&mut self) -> Option<Awaiting> {
        self.awaiting.take()
    }

    /// Takes `request` into the batch when it is a plain `SET` or an
    /// `MSET` that would succeed on its own and this thread may commit
    /// it; returns whether it did.
    pub(crate) fn try_add(&mut self, ctx: &mut Ctx<'_>, request: &Request<'_>) -> bool {
        let named = |name: &[u8]| {
            request
                .get(0)
                .is_some_and(|arg| arg.eq_ignore_ascii_case(name))
        };
        let sets_pairs = (request.len() == 3 && named(b"SET"))
            || (request.len() >= 3 && request.len() % 2 == 1 && named(b"MSET"));
        // Inside MULTI a set is queued, not run.
        if !sets_pairs
            || ctx.session.multi.active()
            || self.commit == Commit::Elsewhere
            || self.awaiting.is_some()
        {
            return false;
        }
        let pairs = || {
            request
                .args()
                .skip(1)
                .step_by(2)
                .zip(request.args().skip(2).step_by(2))
        };
        let n_pairs = (request.len() - 1) / 2;
        if self.puts.len() + n_pairs > BATCH_SETS_MAX {
            return false;
        }
        let limits = &ctx.engine().config().limits;
        let mut bytes = self.bytes;
        for (key, value) in pairs() {
            bytes += key.len() + value.len();
            let fits = !key.is_empty()
                && key.len() <= limits.key_bytes_max
                && value.len() <= limits.value_bytes_max;
            if !fits || !ctx.may(Operation::Write, key) {
                return false;
            }
        }
        if bytes > BATCH_BYTES_MAX {
            return false;
        }
        ServerMetrics::add(&ctx.metrics().commands_processed, 1);
        self.bytes = bytes;
        self.replies += 1;
        for (key, value) in pairs() {
            self.puts.put(key, value);
        }
        true
    }

    /// Commits (or, [`Commit::Deferred`], appends) the batch and writes
    /// one reply per request taken.
    pub(crate) fn flush(&mut self, ctx: &mut Ctx<'_>) {
        if self.puts.is_empty() {
            return;
        }
        let replies = std::mem::take(&mut self.replies);
        let engine = ctx.engine();
        let outcome = match self.commit {
            Commit::Deferred => engine
                .write_pending(&self.puts)
                .map(|pending| pending.durable_after),
            Commit::Now | Commit::Elsewhere => engine.write(&self.puts).map(|_| None),
        };
        // Kept for the next run of sets: its buffer is already grown.
        self.puts.clear();
        self.bytes = 0;
        match outcome {
            Ok(durable_after) => {
                let start = ctx.out.len();
                (0..replies).for_each(|_| ctx.reply().ok());
                self.awaiting = durable_after.map(|seq| Awaiting {
                    seq,
                    bytes: start..ctx.out.len(),
                    replies,
                });
            }
            Err(error) => {
                let error = CommandError::from(error);
                let protocol = ctx.session.protocol;
                let metrics = &ctx.shared.metrics;
                write_errors(ctx.out, protocol, &error, replies, metrics);
            }
        }
    }
}

/// Writes `error` as the reply of each of `replies` requests.
fn write_errors(
    out: &mut Vec<u8>,
    protocol: Protocol,
    error: &CommandError,
    replies: usize,
    metrics: &ServerMetrics,
) {
    ServerMetrics::add(&metrics.command_errors, replies as u64);
    for _ in 0..replies {
        ReplyWriter::new(out, protocol).error(error.text());
    }
}
