//! Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH, on versions.
//!
//! `MULTI` starts queueing: each later command is checked as if it ran
//! (known, right arity, granted) and queued; a refused one flags the
//! transaction, and `EXEC` then answers `EXECABORT` and runs nothing.
//! `EXEC` runs the queued commands in one [`Overlay`] over a read view
//! taken at `EXEC`, so they see each other's writes, and commits all
//! their writes as one engine batch conditioned on the versions of every
//! key read. `WATCH` records the versions of its keys; at `EXEC` they are
//! read too, and a key whose version moved (or moves before the commit)
//! makes `EXEC` answer a null array. A transaction without watched keys
//! that loses a race is run again from the start, at most
//! [`TRANSACTION_ATTEMPTS_MAX`] times. A command's own failure (a wrong
//! type of value, an overflow) is its reply inside the `EXEC` array, as
//! in Redis; the other commands still run.
//!
//! Commands without keys that touch no data (`PING`, `ECHO`, `TIME`,
//! `CONFIG`, `CLIENT`...) run at `EXEC` as they would alone. Commands that
//! walk or replace the whole store (`KEYS`, `SCAN`, `FLUSHALL`...) are
//! refused inside `MULTI`: the overlay does not hold the whole keyspace.

use std::ops::Range;

use hightower_engine::KvEngine;

use crate::server::commands::overlay::{CommitError, Overlay, OverlayHandler};
use crate::server::commands::{expire, keyspace_more, queued_strings, strings_more};
use crate::server::dispatch::{CommandError, CommandResult, CommandSpec, Ctx};
use crate::server::resp::{ReplyWriter, Request};

/// Commands one transaction queues at most.
pub(crate) const QUEUED_COMMANDS_MAX: usize = 100_000;

/// Keys one connection watches at most.
pub(crate) const WATCHED_KEYS_MAX: usize = 10_000;

/// Runs of an unwatched transaction that lost a race, at most.
pub(crate) const TRANSACTION_ATTEMPTS_MAX: usize = 100;

/// One queued command: its arguments back to back, and where each is.
#[derive(Debug)]
struct Queued {
    data: Vec<u8>,
    spans: Vec<Range<usize>>,
}

impl Queued {
    fn request(&self) -> Request<'_> {
        Request::from_parts(&self.data, &self.spans)
    }
}

/// A connection's transaction state.
#[derive(Debug, Default)]
pub(crate) struct MultiState {
    /// The queued commands; `None` outside `MULTI`.
    queued: Option<Vec<Queued>>,
    /// Bytes of arguments queued.
    queued_bytes: usize,
    /// A command was refused while queueing: `EXEC` aborts.
    failed: bool,
    /// Watched keys with the version each had (`None`: absent).
    watched: Vec<(Vec<u8>, Option<u64>)>,
}

impl MultiState {
    /// Whether the connection is inside `MULTI`.
    pub(crate) fn active(&self) -> bool {
        self.queued.is_some()
    }

    /// Flags the transaction after a command was refused while queueing.
    pub(crate) fn fail(&mut self) {
        if self.active() {
            self.failed = true;
        }
    }

    fn clear(&mut self) {
        *self = MultiState::default();
    }
}

/// How a command runs inside a transaction.
enum InTransaction {
    /// Through the overlay, as one of the transaction's reads and writes.
    Overlay(OverlayHandler),
    /// As it runs alone: it touches no data.
    Alone,
    /// Not at all.
    Refused,
}

fn in_transaction(name: &str) -> InTransaction {
    use InTransaction::{Alone, Overlay as In, Refused};
    match name {
        "get" => In(queued_strings::get),
        "set" => In(queued_strings::set),
        "getset" => In(queued_strings::getset),
        "mget" => In(queued_strings::mget),
        "mset" => In(queued_strings::mset),
        "msetnx" => In(queued_strings::msetnx),
        "del" | "unlink" => In(queued_strings::del),
        "exists" => In(queued_strings::exists),
        "type" => In(queued_strings::type_of),
        "incr" => In(queued_strings::incr),
        "decr" => In(queued_strings::decr),
        "incrby" => In(queued_strings::incrby),
        "decrby" => In(queued_strings::decrby),
        "incrbyfloat" => In(strings_more::incrbyfloat_in),
        "append" => In(strings_more::append_in),
        "strlen" => In(strings_more::strlen_in),
        "getrange" | "substr" => In(strings_more::getrange_in),
        "setrange" => In(strings_more::setrange_in),
        "setnx" => In(strings_more::setnx_in),
        "getdel" => In(strings_more::getdel_in),
        "lcs" => In(strings_more::lcs_in),
        "setbit" => In(strings_more::setbit_in),
        "getbit" => In(strings_more::getbit_in),
        "rename" => In(keyspace_more::rename_in),
        "renamenx" => In(keyspace_more::renamenx_in),
        "copy" => In(keyspace_more::copy_in),
        "touch" => In(queued_strings::exists),
        "object" => In(keyspace_more::object_in),
        "expire" | "pexpire" | "expireat" | "pexpireat" => In(expire::expire_in),
        "ttl" | "pttl" | "expiretime" | "pexpiretime" => In(expire::ttl_in),
        "persist" => In(expire::persist_in),
        "setex" | "psetex" => In(expire::setex_in),
        "getex" => In(expire::getex_in),
        "hello" | "auth" | "scan" | "keys" | "randomkey" | "flushdb" | "flushall" | "ht.getv"
        | "ht.cas" | "ht.cad" | "ht.compact" => Refused,
        _ => Alone,
    }
}

/// Whether `spec` is queued inside `MULTI` (all but the commands that
/// drive the transaction, and `QUIT`).
pub(crate) fn is_queued(spec: &CommandSpec) -> bool {
    !matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "unwatch" | "quit"
    )
}

/// Queues `request` (already checked as if it ran) and answers `QUEUED`.
pub(crate) fn queue(ctx: &mut Ctx<'_>, spec: &CommandSpec, request: &Request<'_>) -> CommandResult {
    if matches!(in_transaction(spec.name), InTransaction::Refused) {
        return Err(CommandError::err(
            "Command not allowed inside a transaction",
        ));
    }
    let bytes: usize = request.args().map(<[u8]>::len).sum();
    let bytes_max = ctx.engine().config().limits.batch_bytes_max;
    let multi = &mut ctx.session.multi;
    let queued = multi.queued.get_or_insert_with(Vec::new);
    if queued.len() >= QUEUED_COMMANDS_MAX || multi.queued_bytes + bytes > bytes_max {
        return Err(CommandError::err(format_args!(
            "a transaction holds at most {QUEUED_COMMANDS_MAX} commands and {bytes_max} bytes \
             of arguments (batch_bytes_max)"
        )));
    }
    let mut data = Vec::with_capacity(bytes);
    let mut spans = Vec::with_capacity(request.len());
    for arg in request.args() {
        spans.push(data.len()..data.len() + arg.len());
        data.extend_from_slice(arg);
    }
    queued.push(Queued { data, spans });
    multi.queued_bytes += bytes;
    ctx.reply().simple("QUEUED");
    Ok(())
}

pub(crate) fn multi(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    if ctx.session.multi.active() {
        return Err(CommandError::err("MULTI calls can not be nested"));
    }
    ctx.session.multi.queued = Some(Vec::new());
    ctx.reply().ok();
    Ok(())
}

pub(crate) fn discard(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    if !ctx.session.multi.active() {
        return Err(CommandError::err("DISCARD without MULTI"));
    }
    ctx.session.multi.clear();
    ctx.reply().ok();
    Ok(())
}

pub(crate) fn watch(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    if ctx.session.multi.active() {
        return Err(CommandError::err("WATCH inside MULTI is not allowed"));
    }
    for key in request.args().skip(1) {
        if ctx.session.multi.watched.iter().any(|(k, _)| k == key) {
            continue;
        }
        if ctx.session.multi.watched.len() >= WATCHED_KEYS_MAX {
            return Err(CommandError::err(format_args!(
                "a connection watches at most {WATCHED_KEYS_MAX} keys"
            )));
        }
        let version = ctx.engine().get(key)?.map(|v| v.version);
        ctx.session.multi.watched.push((key.to_vec(), version));
    }
    ctx.reply().ok();
    Ok(())
}

pub(crate) fn unwatch(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    ctx.session.multi.watched.clear();
    ctx.reply().ok();
    Ok(())
}

pub(crate) fn exec(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    let multi = std::mem::take(&mut ctx.session.multi);
    let Some(queued) = multi.queued else {
        // Outside MULTI the watched keys stay watched, as in Redis.
        ctx.session.multi = multi;
        return Err(CommandError::err("EXEC without MULTI"));
    };
    if multi.failed {
        return Err(CommandError::coded(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let engine: &dyn KvEngine = ctx.shared.engine.as_ref();
    for _ in 0..TRANSACTION_ATTEMPTS_MAX {
        let mut body = Vec::new();
        match run_once(ctx, engine, &queued, &multi.watched, &mut body)? {
            Outcome::Committed => {
                ctx.reply().array(queued.len());
                ctx.out.extend_from_slice(&body);
                return Ok(());
            }
            Outcome::Conflict if multi.watched.is_empty() => continue,
            Outcome::Conflict | Outcome::WatchedChanged => {
                ctx.reply().null_array();
                return Ok(());
            }
        }
    }
    Err(CommandError::err(format_args!(
        "the transaction lost {TRANSACTION_ATTEMPTS_MAX} races to other writers; retry"
    )))
}

/// What one run of a transaction came to.
enum Outcome {
    Committed,
    /// A key read changed before the commit.
    Conflict,
    /// A watched key had changed already.
    WatchedChanged,
}

/// Runs the queued commands once, their replies into `body`, and commits.
fn run_once(
    ctx: &mut Ctx<'_>,
    engine: &dyn KvEngine,
    queued: &[Queued],
    watched: &[(Vec<u8>, Option<u64>)],
    body: &mut Vec<u8>,
) -> Result<Outcome, CommandError> {
    let mut overlay = Overlay::over_view(engine.read_view()?);
    for (key, version) in watched {
        overlay.get(key)?;
        if overlay.version_read(key) != *version {
            return Ok(Outcome::WatchedChanged);
        }
    }
    let mut inner = Ctx {
        shared: ctx.shared,
        session: &mut *ctx.session,
        out: body,
    };
    for command in queued {
        run_queued(&mut inner, &mut overlay, &command.request());
    }
    match overlay.commit(engine) {
        Ok(()) => Ok(Outcome::Committed),
        Err(CommitError::Conflict) => Ok(Outcome::Conflict),
        Err(CommitError::Engine(error)) => Err(error.into()),
    }
}

/// Runs one queued command; its failure becomes its reply.
fn run_queued(ctx: &mut Ctx<'_>, overlay: &mut Overlay<'_>, request: &Request<'_>) {
    let reply_start = ctx.out.len();
    let spec = crate::server::dispatch::lookup(request.arg(0));
    let result = match spec.map(|spec| (spec, in_transaction(spec.name))) {
        Some((_, InTransaction::Overlay(handler))) => handler(ctx, overlay, request),
        Some((spec, InTransaction::Alone)) => (spec.handler)(ctx, request),
        // Queueing refused these, and the table does not change.
        Some((_, InTransaction::Refused)) | None => Err(CommandError::err(
            "Command not allowed inside a transaction",
        )),
    };
    if let Err(error) = result {
        ctx.out.truncate(reply_start);
        ReplyWriter::new(ctx.out, ctx.session.protocol).error(error.text());
    }
}
