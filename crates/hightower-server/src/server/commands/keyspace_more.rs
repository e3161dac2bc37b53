//! More keyspace and server commands: RENAME, RENAMENX, COPY, TOUCH,
//! RANDOMKEY, FLUSHDB, FLUSHALL, OBJECT, TIME, FUNCTION and DEBUG.
//!
//! The multi-key writes run in an [`Overlay`]: one engine batch whose
//! conditions are the versions read, retried on a conflict.
//!
//! `FLUSHALL` and `FLUSHDB` (one database: the same) replace the whole
//! store with the engine's crash-safe snapshot install, keeping the
//! records of users and API keys (under [`AUTH_PREFIX`]) and moving the
//! version counter on by [`FLUSH_VERSION_GAP`], so that no version is
//! ever handed out twice even when writes commit while the flush starts.

use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use hightower_auth::AUTH_PREFIX;
use hightower_engine::{EngineError, KeyValue};

use crate::server::auth::Operation;
use crate::server::commands::connection::unknown_subcommand;
use crate::server::commands::overlay::{Overlay, atomically};
use crate::server::commands::queued_strings;
use crate::server::commands::{is, parse_int};
use crate::server::dispatch::{CommandError, CommandResult, Ctx};
use crate::server::resp::{Request, parse_i64};

/// How far a flush moves the version counter past the newest version it
/// saw: more than the writes that can commit between reading it and the
/// install taking the engine's locks.
pub(crate) const FLUSH_VERSION_GAP: u64 = 1 << 32;

/// Records of users and keys one flush keeps at most.
const FLUSH_KEPT_RECORDS_MAX: usize = 1_000_000;

/// Keys below this many, `RANDOMKEY` picks uniformly; above, it starts at
/// a random key and takes the next one (so keys after large gaps come up
/// more often), reading one value instead of up to this many.
const RANDOM_UNIFORM_KEYS_MAX: usize = 32;

/// Random keys `RANDOMKEY` tries before it looks for any readable key.
const RANDOM_ATTEMPTS_MAX: usize = 16;

pub(crate) fn rename(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, rename_in)
}

pub(crate) fn rename_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    if move_key(ctx, overlay, request, false)? {
        ctx.reply().ok();
    }
    Ok(())
}

pub(crate) fn renamenx(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, renamenx_in)
}

pub(crate) fn renamenx_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let moved = move_key(ctx, overlay, request, true)?;
    ctx.reply().integer(i64::from(moved));
    Ok(())
}

/// Moves the value of `request.arg(1)` to `request.arg(2)`; false when
/// `only_new` and the target exists (or is the source).
fn move_key(
    ctx: &Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
    only_new: bool,
) -> Result<bool, CommandError> {
    let (source, target) = (request.arg(1), request.arg(2));
    ctx.require(Operation::Read, source)?;
    let value = overlay
        .get(source)?
        .map(<[u8]>::to_vec)
        .ok_or_else(|| CommandError::err("no such key"))?;
    // The expiry moves with the value.
    let expires_at_ms = overlay.expiry(source)?.flatten();
    if source == target {
        return Ok(!only_new);
    }
    if only_new && overlay.exists(target)? {
        return Ok(false);
    }
    overlay.delete(source)?;
    overlay.put_with(target, value, expires_at_ms)?;
    Ok(true)
}

pub(crate) fn copy(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, copy_in)
}

pub(crate) fn copy_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let (source, target) = (request.arg(1), request.arg(2));
    let mut replace = false;
    let mut i = 3;
    while i < request.len() {
        let option = request.arg(i);
        if is(option, "REPLACE") {
            replace = true;
        } else if is(option, "DB") && i + 1 < request.len() {
            // One database: `DB 0` names the one there is.
            if parse_int(request.arg(i + 1))? != 0 {
                return Err(CommandError::err("DB index is out of range"));
            }
            i += 1;
        } else {
            return Err(CommandError::syntax());
        }
        i += 1;
    }
    if source == target {
        return Err(CommandError::err(
            "source and destination objects are the same",
        ));
    }
    ctx.require(Operation::Read, source)?;
    let Some(value) = overlay.get(source)?.map(<[u8]>::to_vec) else {
        ctx.reply().integer(0);
        return Ok(());
    };
    let expires_at_ms = overlay.expiry(source)?.flatten();
    if !replace && overlay.exists(target)? {
        ctx.reply().integer(0);
        return Ok(());
    }
    // The copy expires when the source does.
    overlay.put_with(target, value, expires_at_ms)?;
    ctx.reply().integer(1);
    Ok(())
}

pub(crate) fn touch(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    // Reads only: the overlay commits nothing. Without access times,
    // TOUCH answers what EXISTS answers.
    atomically(ctx, request, queued_strings::exists)
}

/// A random number; a fresh `RandomState` is seeded from the operating
/// system's randomness once per thread and then moved on, and hashing
/// with it scatters the bits.
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    hasher.finish()
}

pub(crate) fn randomkey(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    let view = ctx.engine().read_view()?;
    let n_keys = view.len();
    let mut found = None;
    for _ in 0..RANDOM_ATTEMPTS_MAX.min(n_keys) {
        let candidate = if n_keys <= RANDOM_UNIFORM_KEYS_MAX {
            let at = (random_u64() % n_keys as u64) as usize;
            view.iter().nth(at).transpose()?
        } else {
            let start = random_u64().to_be_bytes();
            let after = view.range(
                std::ops::Bound::Included(&start[..]),
                std::ops::Bound::Unbounded,
            );
            match after.take(1).next().transpose()? {
                Some(key_value) => Some(key_value),
                None => view.iter().next().transpose()?,
            }
        };
        if let Some(KeyValue { key, .. }) = candidate
            && ctx.may(Operation::Read, &key)
        {
            found = Some(key);
            break;
        }
    }
    match found {
        Some(key) => ctx.reply().bulk(&key),
        None => ctx.reply().null(),
    }
    Ok(())
}

/// `FLUSHALL [ASYNC|SYNC]` and `FLUSHDB [ASYNC|SYNC]`: see the module docs.
pub(crate) fn flush(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    match request.get(1) {
        None => {}
        Some(mode) if request.len() == 2 && (is(mode, "ASYNC") || is(mode, "SYNC")) => {}
        Some(_) => return Err(CommandError::syntax()),
    }
    let engine = ctx.shared.engine.as_ref();
    // The user and key records are read and reinstalled while no write
    // runs, so a password change or a key revoked meanwhile is kept.
    let version =
        match engine.replace_keeping_prefix(AUTH_PREFIX, FLUSH_KEPT_RECORDS_MAX, FLUSH_VERSION_GAP)
        {
            Err(EngineError::TooManyKept { max }) => {
                return Err(CommandError::err(format_args!(
                    "more than {max} user and key records; not flushed"
                )));
            }
            outcome => outcome?,
        };
    debug_assert!(engine.latest_version() >= version);
    tracing::info!(
        id = ctx.session.id,
        user = ctx.principal().map_or("", |p| p.name()),
        version,
        "store flushed"
    );
    ctx.reply().ok();
    Ok(())
}

/// Redis's encoding name for a string value.
fn encoding(value: &[u8]) -> &'static str {
    if value.len() <= 20 && parse_i64(value).is_some() {
        "int"
    } else if value.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

pub(crate) fn object(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, object_in)
}

pub(crate) fn object_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let sub = request.arg(1);
    if request.len() == 2 && is(sub, "HELP") {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "IDLETIME <key>",
            "    Return the idle time of the key (not tracked: always 0).",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Print this help.",
        ];
        let mut reply = ctx.reply();
        reply.array(lines.len());
        lines.iter().for_each(|line| reply.simple(line));
        return Ok(());
    }
    let known = ["ENCODING", "REFCOUNT", "IDLETIME"]
        .iter()
        .any(|name| is(sub, name));
    if request.len() != 3 || !known {
        return Err(unknown_subcommand(sub, "OBJECT"));
    }
    let Some(value) = overlay.get(request.arg(2))? else {
        ctx.reply().null();
        return Ok(());
    };
    if is(sub, "ENCODING") {
        let name = encoding(value);
        ctx.reply().bulk(name.as_bytes());
    } else if is(sub, "REFCOUNT") {
        ctx.reply().integer(1);
    } else {
        ctx.reply().integer(0);
    }
    Ok(())
}

pub(crate) fn time(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CommandError::err("the system clock is before 1970"))?;
    let mut reply = ctx.reply();
    reply.array(2);
    reply.bulk(now.as_secs().to_string().as_bytes());
    reply.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}

/// `FUNCTION FLUSH` and `FUNCTION LIST`: there are no functions, so
/// flushing them succeeds and the list is empty.
pub(crate) fn function(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let sub = request.arg(1);
    let mode_ok = request
        .get(2)
        .is_none_or(|mode| request.len() == 3 && (is(mode, "ASYNC") || is(mode, "SYNC")));
    if is(sub, "FLUSH") && mode_ok {
        ctx.reply().ok();
    } else if is(sub, "LIST") {
        ctx.reply().array(0);
    } else {
        return Err(unknown_subcommand(sub, "FUNCTION"));
    }
    Ok(())
}

/// `DEBUG` is refused with Redis's text for a server where it is off.
pub(crate) fn debug(_ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    Err(CommandError::err(
        "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you \
         can run it from a local connection, otherwise you need to set this option in the \
         configuration file, and then restart the server.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis_thresholds() {
        assert_eq!(encoding(b"12345"), "int");
        assert_eq!(encoding(b"-9223372036854775808"), "int");
        assert_eq!(encoding(b"12345678901234567890123"), "embstr");
        assert_eq!(encoding(b"hello"), "embstr");
        assert_eq!(encoding(&[b'x'; 45]), "raw");
    }
}
