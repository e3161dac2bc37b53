//! Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME, PERSIST, SETEX, PSETEX and GETEX, with Redis
//! 7's replies and error texts, and the expiry options `SET` shares.
//!
//! Times are milliseconds since the Unix epoch by the engine's clock
//! ([`KvEngine::now_ms`]). Each command is written against an
//! [`Overlay`], so the same code runs alone and inside `MULTI`/`EXEC`; a
//! new expiry rewrites the value at a new version, and a time already
//! past deletes the key.

use crate::server::auth::Operation;
use crate::server::commands::overlay::{Overlay, atomically};
use crate::server::commands::strings::Condition;
use crate::server::commands::{is, parse_int};
use crate::server::dispatch::{CommandError, CommandResult, Ctx};
use crate::server::resp::Request;

/// What a write does with the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ttl {
    /// The value never expires (a plain `SET`, `PERSIST`).
    Clear,
    /// The key keeps the expiry it had (`KEEPTTL`).
    Keep,
    /// The value expires at this time.
    At(u64),
}

impl Ttl {
    /// The expiry of the written value, `current` being the key's now.
    pub(crate) fn apply(self, current: Option<u64>) -> Option<u64> {
        match self {
            Ttl::Clear => None,
            Ttl::Keep => current,
            Ttl::At(at_ms) => Some(at_ms),
        }
    }
}

/// The unit and base of an expiry option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// `EX`: seconds from now.
    Seconds,
    /// `PX`: milliseconds from now.
    Millis,
    /// `EXAT`: a Unix time in seconds.
    AtSeconds,
    /// `PXAT`: a Unix time in milliseconds.
    AtMillis,
}

impl Unit {
    fn of(option: &[u8]) -> Option<Unit> {
        [
            ("EX", Unit::Seconds),
            ("PX", Unit::Millis),
            ("EXAT", Unit::AtSeconds),
            ("PXAT", Unit::AtMillis),
        ]
        .into_iter()
        .find_map(|(name, unit)| is(option, name).then_some(unit))
    }
}

fn invalid_expire_time(name: &str) -> CommandError {
    CommandError::err(format_args!("invalid expire time in '{name}' command"))
}

/// The time an expiry option of `SET`, `SETEX` or `GETEX` names, as
/// Redis checks it: a positive integer whose time in milliseconds fits.
fn option_time(arg: &[u8], unit: Unit, now_ms: u64, name: &str) -> Result<u64, CommandError> {
    let given = parse_int(arg)?;
    let seconds = matches!(unit, Unit::Seconds | Unit::AtSeconds);
    if given <= 0 || (seconds && given > i64::MAX / 1000) {
        return Err(invalid_expire_time(name));
    }
    let ms = if seconds { given * 1000 } else { given };
    let at_ms = match unit {
        Unit::Seconds | Unit::Millis => ms.checked_add(i64::try_from(now_ms).unwrap_or(i64::MAX)),
        Unit::AtSeconds | Unit::AtMillis => Some(ms),
    };
    at_ms
        .map(|at_ms| at_ms as u64)
        .ok_or_else(|| invalid_expire_time(name))
}

/// The options of `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetOptions {
    pub(crate) condition: Condition,
    pub(crate) get: bool,
    pub(crate) ttl: Ttl,
}

/// Reads the options of `SET` as Redis does: conflicting options are a
/// syntax error, a time not positive an invalid expire time.
pub(crate) fn set_options(request: &Request<'_>, now_ms: u64) -> Result<SetOptions, CommandError> {
    let mut options = SetOptions {
        condition: Condition::Always,
        get: false,
        ttl: Ttl::Clear,
    };
    // The last time given counts; it is checked once the options are.
    let mut timed: Option<(Unit, &[u8])> = None;
    let mut keep = false;
    let mut i = 3;
    while i < request.len() {
        let option = request.arg(i);
        let unit = Unit::of(option);
        if is(option, "NX") && options.condition != Condition::Present {
            options.condition = Condition::Absent;
        } else if is(option, "XX") && options.condition != Condition::Absent {
            options.condition = Condition::Present;
        } else if is(option, "GET") {
            options.get = true;
        } else if is(option, "KEEPTTL") && timed.is_none() {
            keep = true;
        } else if let Some(unit) = unit
            && !keep
            && timed.is_none_or(|(t, _)| t == unit)
            && i + 1 < request.len()
        {
            timed = Some((unit, request.arg(i + 1)));
            i += 1;
        } else {
            return Err(CommandError::syntax());
        }
        i += 1;
    }
    if keep {
        options.ttl = Ttl::Keep;
    }
    if let Some((unit, arg)) = timed {
        options.ttl = Ttl::At(option_time(arg, unit, now_ms, "set")?);
    }
    Ok(options)
}

/// The options of `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`: `None`
/// leaves the expiry as it is.
fn getex_options(request: &Request<'_>, now_ms: u64) -> Result<Option<Ttl>, CommandError> {
    let mut persist = false;
    // The last time given counts; it is checked once the options are.
    let mut timed: Option<(Unit, &[u8])> = None;
    let mut i = 2;
    while i < request.len() {
        let option = request.arg(i);
        if is(option, "PERSIST") && timed.is_none() {
            persist = true;
        } else if let Some(unit) = Unit::of(option)
            && !persist
            && timed.is_none_or(|(t, _)| t == unit)
            && i + 1 < request.len()
        {
            timed = Some((unit, request.arg(i + 1)));
            i += 1;
        } else {
            return Err(CommandError::syntax());
        }
        i += 1;
    }
    match timed {
        Some((unit, arg)) => Ok(Some(Ttl::At(option_time(arg, unit, now_ms, "getex")?))),
        None => Ok(persist.then_some(Ttl::Clear)),
    }
}

/// Writes `value` to `key` expiring at `expires_at_ms`, or deletes the
/// key when that time has passed.
fn write_expiring(
    overlay: &mut Overlay<'_>,
    key: &[u8],
    value: Vec<u8>,
    expires_at_ms: Option<u64>,
    now_ms: u64,
) -> CommandResult {
    match expires_at_ms {
        Some(at_ms) if at_ms <= now_ms => overlay.delete(key),
        _ => overlay.put_with(key, value, expires_at_ms),
    }
}

/// The conditions of `EXPIRE key time [NX|XX|GT|LT]`.
#[derive(Debug, Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn expire_flags(request: &Request<'_>) -> Result<ExpireFlags, CommandError> {
    let mut flags = ExpireFlags::default();
    for option in request.args().skip(3) {
        if is(option, "NX") {
            flags.nx = true;
        } else if is(option, "XX") {
            flags.xx = true;
        } else if is(option, "GT") {
            flags.gt = true;
        } else if is(option, "LT") {
            flags.lt = true;
        } else {
            return Err(CommandError::err(format_args!(
                "Unsupported option {}",
                String::from_utf8_lossy(option)
            )));
        }
    }
    if flags.nx && (flags.xx || flags.gt || flags.lt) {
        return Err(CommandError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if flags.gt && flags.lt {
        return Err(CommandError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(flags)
}

/// `EXPIRE`, `PEXPIRE`, `EXPIREAT` and `PEXPIREAT`, by the command name.
pub(crate) fn expire(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, expire_in)
}

pub(crate) fn expire_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let name = String::from_utf8_lossy(request.arg(0)).to_ascii_lowercase();
    let (seconds, relative) = match name.as_str() {
        "expire" => (true, true),
        "pexpire" => (false, true),
        "expireat" => (true, false),
        _ => (false, false),
    };
    let key = request.arg(1);
    let flags = expire_flags(request)?;
    let given = parse_int(request.arg(2))?;
    let now_ms = ctx.engine().now_ms();
    let ms = if seconds {
        given
            .checked_mul(1000)
            .ok_or_else(|| invalid_expire_time(&name))?
    } else {
        given
    };
    let base = if relative {
        i64::try_from(now_ms).unwrap_or(i64::MAX)
    } else {
        0
    };
    let at_ms = ms
        .checked_add(base)
        .ok_or_else(|| invalid_expire_time(&name))?;
    let Some(current) = overlay.expiry(key)? else {
        ctx.reply().integer(0);
        return Ok(());
    };
    // A key without an expiry counts as one that never expires.
    let refused = (flags.nx && current.is_some())
        || (flags.xx && current.is_none())
        || (flags.gt && current.is_none_or(|c| at_ms <= c as i64))
        || (flags.lt && current.is_some_and(|c| at_ms >= c as i64));
    if refused {
        ctx.reply().integer(0);
        return Ok(());
    }
    let value = overlay.get(key)?.map(<[u8]>::to_vec).unwrap_or_default();
    let at_ms = u64::try_from(at_ms).unwrap_or(0);
    write_expiring(overlay, key, value, Some(at_ms), now_ms)?;
    ctx.reply().integer(1);
    Ok(())
}

/// `TTL`, `PTTL`, `EXPIRETIME` and `PEXPIRETIME`, by the command name: -2
/// for an absent key, -1 for one that never expires.
pub(crate) fn ttl(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    // A read only: the overlay commits nothing.
    atomically(ctx, request, ttl_in)
}

pub(crate) fn ttl_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let name = request.arg(0);
    let in_ms = is(name, "PTTL") || is(name, "PEXPIRETIME");
    let absolute = is(name, "EXPIRETIME") || is(name, "PEXPIRETIME");
    let answer = match overlay.expiry(request.arg(1))? {
        None => -2,
        Some(None) => -1,
        Some(Some(at_ms)) => {
            let ms = if absolute {
                at_ms
            } else {
                at_ms.saturating_sub(ctx.engine().now_ms())
            };
            let ms = i64::try_from(ms).unwrap_or(i64::MAX);
            if in_ms {
                ms
            } else {
                ms.saturating_add(500) / 1000
            }
        }
    };
    ctx.reply().integer(answer);
    Ok(())
}

pub(crate) fn persist(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, persist_in)
}

pub(crate) fn persist_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let key = request.arg(1);
    let removed = match overlay.expiry(key)? {
        Some(Some(_)) => {
            let value = overlay.get(key)?.map(<[u8]>::to_vec).unwrap_or_default();
            overlay.put_with(key, value, None)?;
            true
        }
        _ => false,
    };
    ctx.reply().integer(i64::from(removed));
    Ok(())
}

/// `SETEX key seconds value` and `PSETEX key milliseconds value`.
pub(crate) fn setex(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, setex_in)
}

pub(crate) fn setex_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let psetex = is(request.arg(0), "PSETEX");
    let (unit, name) = if psetex {
        (Unit::Millis, "psetex")
    } else {
        (Unit::Seconds, "setex")
    };
    let now_ms = ctx.engine().now_ms();
    let at_ms = option_time(request.arg(2), unit, now_ms, name)?;
    overlay.put_with(request.arg(1), request.arg(3).to_vec(), Some(at_ms))?;
    ctx.reply().ok();
    Ok(())
}

pub(crate) fn getex(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, getex_in)
}

pub(crate) fn getex_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let key = request.arg(1);
    ctx.require(Operation::Read, key)?;
    let now_ms = ctx.engine().now_ms();
    let ttl = getex_options(request, now_ms)?;
    let Some(value) = overlay.get(key)?.map(<[u8]>::to_vec) else {
        ctx.reply().null();
        return Ok(());
    };
    if let Some(ttl) = ttl {
        let current = overlay.expiry(key)?.flatten();
        if ttl.apply(current) != current {
            write_expiring(overlay, key, value.clone(), ttl.apply(current), now_ms)?;
        }
    }
    ctx.reply().bulk(&value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_times_are_checked_as_redis_checks_them() {
        let now = 1_000_000;
        assert_eq!(
            option_time(b"10", Unit::Seconds, now, "set").unwrap(),
            now + 10_000
        );
        assert_eq!(
            option_time(b"10", Unit::Millis, now, "set").unwrap(),
            now + 10
        );
        assert_eq!(
            option_time(b"7", Unit::AtSeconds, now, "set").unwrap(),
            7_000
        );
        assert_eq!(option_time(b"7", Unit::AtMillis, now, "set").unwrap(), 7);
        for bad in [&b"0"[..], b"-1", b"9223372036854776"] {
            let error = option_time(bad, Unit::Seconds, now, "setex").unwrap_err();
            assert_eq!(error.text(), "ERR invalid expire time in 'setex' command");
        }
        let error = option_time(b"9223372036854775807", Unit::Millis, now, "set").unwrap_err();
        assert_eq!(error.text(), "ERR invalid expire time in 'set' command");
    }

    #[test]
    fn ttl_choices_apply_to_the_current_expiry() {
        assert_eq!(Ttl::Clear.apply(Some(5)), None);
        assert_eq!(Ttl::Keep.apply(Some(5)), Some(5));
        assert_eq!(Ttl::At(9).apply(None), Some(9));
    }
}
