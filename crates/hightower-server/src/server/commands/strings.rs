//! String commands: GET, SET, GETSET, MGET, MSET, MSETNX, DEL, EXISTS,
//! TYPE, INCR, INCRBY, DECR, DECRBY, and the WRONGTYPE answers to other
//! data types' commands.
//!
//! `SET` takes Redis's expiry options (`EX`, `PX`, `EXAT`, `PXAT`,
//! `KEEPTTL`) and otherwise drops the key's expiry; `INCR` and its kin
//! keep it.
//!
//! Read-modify-write commands (`SET ... XX`/`GET`/`KEEPTTL`, `INCR`, `DEL`) read the
//! key's version and write on condition that it is unchanged, retrying on
//! a version conflict: the engine's compare-and-set gives them the
//! atomicity Redis's single thread gives its commands.

use hightower_engine::{Command, EngineError, Expect, Versioned};

use crate::server::auth::Operation;
use crate::server::commands::expire::{SetOptions, Ttl, set_options};
use crate::server::commands::{CAS_ATTEMPTS_MAX, contention, parse_int};
use crate::server::dispatch::{CommandError, CommandResult, Ctx};
use crate::server::metrics::ServerMetrics;
use crate::server::resp::{ReplyWriter, Request};

pub(crate) fn get(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let key = request.arg(1);
    let Some(cache) = &ctx.shared.cache else {
        let found = ctx.engine().get(key)?;
        return reply_value(ctx, found.as_ref());
    };
    // The cache serves a value only at the version the index has now.
    let Some(version) = ctx.engine().version_of(key)? else {
        return reply_value(ctx, None);
    };
    let mut reply = ReplyWriter::new(ctx.out, ctx.session.protocol);
    if cache.read_at(key, version, |value| reply.bulk(value)) {
        ServerMetrics::add(&ctx.metrics().value_cache_hits, 1);
        count_lookup(ctx, true);
        return Ok(());
    }
    let found = ctx.engine().get(key)?;
    if let Some(versioned) = &found {
        cache.insert(key, versioned.version, &versioned.value);
    }
    reply_value(ctx, found.as_ref())
}

fn reply_value(ctx: &mut Ctx<'_>, found: Option<&Versioned>) -> CommandResult {
    count_lookup(ctx, found.is_some());
    match found {
        Some(versioned) => ctx.reply().bulk(&versioned.value),
        None => ctx.reply().null(),
    }
    Ok(())
}

/// The condition of `SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    Always,
    /// `NX`: only when absent.
    Absent,
    /// `XX`: only when present.
    Present,
}

pub(crate) fn set(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let options = set_options(request, ctx.engine().now_ms())?;
    let (key, value) = (request.arg(1), request.arg(2));
    if options.get {
        ctx.require(Operation::Read, key)?;
    }
    let blind = match options.ttl {
        Ttl::Keep => None,
        ttl => Some(ttl.apply(None)),
    };
    match (options.condition, options.get, blind) {
        (Condition::Always, false, Some(expires_at_ms)) => {
            ctx.engine()
                .submit(put_expiring(key, value, Expect::Any, expires_at_ms))?;
            ctx.reply().ok();
        }
        // Absent, the key has no expiry to keep.
        (Condition::Absent, false, _) => {
            let expires_at_ms = options.ttl.apply(None);
            let put = put_expiring(key, value, Expect::Absent, expires_at_ms);
            match ctx.engine().submit(put) {
                Ok(_) => ctx.reply().ok(),
                Err(EngineError::VersionConflict { .. }) => ctx.reply().null(),
                Err(error) => return Err(error.into()),
            }
        }
        _ => set_checked(ctx, key, value, options)?,
    }
    Ok(())
}

/// A put of `value` expiring at `expires_at_ms` (`None`: never).
pub(crate) fn put_expiring(
    key: &[u8],
    value: impl Into<Vec<u8>>,
    expect: Expect,
    expires_at_ms: Option<u64>,
) -> Command {
    Command::Put {
        key: key.to_vec(),
        value: value.into(),
        expect,
        expires_at_ms,
    }
}

/// `SET` with `XX`, `GET` or `KEEPTTL`: read, decide, write if unchanged,
/// retry.
fn set_checked(ctx: &mut Ctx<'_>, key: &[u8], value: &[u8], options: SetOptions) -> CommandResult {
    let SetOptions {
        condition,
        get,
        ttl,
    } = options;
    for _ in 0..CAS_ATTEMPTS_MAX {
        let current = ctx.engine().get(key)?;
        let write = match condition {
            Condition::Always => true,
            Condition::Absent => current.is_none(),
            Condition::Present => current.is_some(),
        };
        if write {
            let expires_at_ms = ttl.apply(current.as_ref().and_then(|v| v.expires_at_ms));
            let put = put_expiring(key, value, expect_current(current.as_ref()), expires_at_ms);
            match ctx.engine().submit(put) {
                Ok(_) => {}
                Err(EngineError::VersionConflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        let mut reply = ctx.reply();
        match (get, current) {
            (true, Some(old)) => reply.bulk(&old.value),
            (true, None) => reply.null(),
            (false, _) if write => reply.ok(),
            (false, _) => reply.null(),
        }
        return Ok(());
    }
    Err(contention(key))
}

/// The condition that the key is still as read.
fn expect_current(current: Option<&Versioned>) -> Expect {
    current.map_or(Expect::Absent, |v| Expect::Version(v.version))
}

pub(crate) fn getset(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let key = request.arg(1);
    ctx.require(Operation::Read, key)?;
    // GETSET drops the expiry, as SET does.
    let options = SetOptions {
        condition: Condition::Always,
        get: true,
        ttl: Ttl::Clear,
    };
    set_checked(ctx, key, request.arg(2), options)
}

pub(crate) fn mget(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let keys = request.args().skip(1);
    let reply_bytes_max = ctx.shared.config.reply_bytes_max;
    let mut values = Vec::with_capacity(keys.len());
    // The values gathered are counted as they come, so that memory stays
    // bounded by the reply limit (plus one value), not by what is stored.
    let mut reply_bytes = 0_usize;
    let mut gather = |value: Option<Versioned>| {
        reply_bytes += value.as_ref().map_or(0, |v| v.value.len()) + 16;
        if reply_bytes > reply_bytes_max {
            return Err(CommandError::err(format_args!(
                "the reply would pass the limit of {reply_bytes_max} bytes (reply_bytes_max)"
            )));
        }
        values.push(value);
        Ok(())
    };
    if keys.len() == 1 {
        gather(ctx.engine().get(request.arg(1))?)?;
    } else {
        // One point-in-time view, so the values are from one moment.
        let view = ctx.engine().read_view()?;
        for key in keys {
            gather(view.get(key)?)?;
        }
    }
    let mut reply = ctx.reply();
    reply.array(values.len());
    let mut hits = 0;
    for value in &values {
        match value {
            Some(versioned) => {
                hits += 1;
                reply.bulk(&versioned.value);
            }
            None => reply.null(),
        }
    }
    ServerMetrics::add(&ctx.metrics().keyspace_hits, hits);
    ServerMetrics::add(&ctx.metrics().keyspace_misses, values.len() as u64 - hits);
    Ok(())
}

/// The puts of `MSET` and `MSETNX`, the last value of a repeated key
/// winning, in order of first appearance.
fn pairs_to_puts(
    request: &Request<'_>,
    expect: Expect,
    name: &str,
) -> Result<Vec<Command>, CommandError> {
    if request.len().is_multiple_of(2) {
        return Err(CommandError::wrong_arity(name));
    }
    let n_pairs = (request.len() - 1) / 2;
    let mut positions = std::collections::HashMap::with_capacity(n_pairs);
    let mut puts: Vec<Command> = Vec::with_capacity(n_pairs);
    for pair in 0..n_pairs {
        let (key, value) = (request.arg(1 + 2 * pair), request.arg(2 + 2 * pair));
        match positions.get(key) {
            Some(&at) => puts[at] = Command::put(key, value).expecting(expect),
            None => {
                positions.insert(key, puts.len());
                puts.push(Command::put(key, value).expecting(expect));
            }
        }
    }
    Ok(puts)
}

pub(crate) fn mset(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let puts = pairs_to_puts(request, Expect::Any, "mset")?;
    ctx.engine().submit_batch(puts)?;
    ctx.reply().ok();
    Ok(())
}

pub(crate) fn msetnx(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let puts = pairs_to_puts(request, Expect::Absent, "msetnx")?;
    let written = match ctx.engine().submit_batch(puts) {
        Ok(_) => 1,
        Err(EngineError::VersionConflict { .. }) => 0,
        Err(error) => return Err(error.into()),
    };
    ctx.reply().integer(written);
    Ok(())
}

pub(crate) fn del(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let mut keys: Vec<&[u8]> = request.args().skip(1).collect();
    keys.sort_unstable();
    keys.dedup();
    for _ in 0..CAS_ATTEMPTS_MAX {
        let view = ctx.engine().read_view()?;
        let deletes: Vec<Command> = keys
            .iter()
            .filter_map(|key| {
                let version = view.version_of(key)?;
                Some(Command::delete(*key).expecting(Expect::Version(version)))
            })
            .collect();
        let n_deleted = deletes.len() as i64;
        if n_deleted > 0 {
            match ctx.engine().submit_batch(deletes) {
                Ok(_) => {}
                Err(EngineError::VersionConflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        ctx.reply().integer(n_deleted);
        return Ok(());
    }
    Err(contention(keys.first().copied().unwrap_or_default()))
}

pub(crate) fn exists(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let mut n_found = 0;
    if request.len() == 2 {
        n_found += i64::from(ctx.engine().version_of(request.arg(1))?.is_some());
    } else {
        let view = ctx.engine().read_view()?;
        for key in request.args().skip(1) {
            n_found += i64::from(view.version_of(key).is_some());
        }
    }
    ctx.reply().integer(n_found);
    Ok(())
}

pub(crate) fn type_of(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let found = ctx.engine().version_of(request.arg(1))?.is_some();
    ctx.reply().simple(if found { "string" } else { "none" });
    Ok(())
}

pub(crate) fn incr(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    add_to(ctx, request.arg(1), 1)
}

pub(crate) fn decr(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    add_to(ctx, request.arg(1), -1)
}

pub(crate) fn incrby(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let delta = parse_int(request.arg(2))?;
    add_to(ctx, request.arg(1), delta)
}

pub(crate) fn decrby(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let delta = parse_int(request.arg(2))?;
    let negated = delta
        .checked_neg()
        .ok_or_else(|| CommandError::err("decrement would overflow"))?;
    add_to(ctx, request.arg(1), negated)
}

/// Adds `delta` to the integer at `key` (0 when absent) by compare-and-set.
fn add_to(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> CommandResult {
    ctx.require(Operation::Read, key)?;
    for _ in 0..CAS_ATTEMPTS_MAX {
        let current = ctx.engine().get(key)?;
        let old = match &current {
            Some(versioned) => parse_int(&versioned.value)?,
            None => 0,
        };
        let new = old
            .checked_add(delta)
            .ok_or_else(|| CommandError::err("increment or decrement would overflow"))?;
        let mut digits = Vec::with_capacity(20);
        crate::server::resp::push_i64(&mut digits, new);
        // The new number keeps the key's expiry.
        let expires_at_ms = current.as_ref().and_then(|v| v.expires_at_ms);
        let put = put_expiring(key, digits, expect_current(current.as_ref()), expires_at_ms);
        match ctx.engine().submit(put) {
            Ok(_) => {
                ctx.reply().integer(new);
                return Ok(());
            }
            Err(EngineError::VersionConflict { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(contention(key))
}

/// Commands of Redis's other data types: the store holds strings only, so
/// on an existing key they are answered as Redis answers a command of the
/// wrong type, and otherwise as unsupported.
pub(crate) fn other_type(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let key = request.arg(1);
    ctx.require(Operation::Read, key)?;
    if ctx.engine().version_of(key)?.is_some() {
        return Err(CommandError::wrong_type());
    }
    Err(CommandError::err(format_args!(
        "'{}' is not supported: the store holds string values only",
        String::from_utf8_lossy(request.arg(0)).to_ascii_lowercase()
    )))
}

fn count_lookup(ctx: &Ctx<'_>, hit: bool) {
    let metrics = ctx.metrics();
    let counter = if hit {
        &metrics.keyspace_hits
    } else {
        &metrics.keyspace_misses
    };
    ServerMetrics::add(counter, 1);
}
