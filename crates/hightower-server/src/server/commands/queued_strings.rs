//! The string commands of [`super::strings`] as they run inside a
//! transaction: through an [`Overlay`], so that each sees the writes of
//! the commands queued before it and all commit together. Replies and
//! errors are those of the commands alone.

use crate::server::auth::Operation;
use crate::server::commands::expire::{SetOptions, Ttl, set_options};
use crate::server::commands::overlay::Overlay;
use crate::server::commands::parse_int;
use crate::server::commands::strings::Condition;
use crate::server::dispatch::{CommandError, CommandResult, Ctx};
use crate::server::resp::{Request, push_i64};

pub(crate) fn get(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let value = overlay.get(request.arg(1))?.map(<[u8]>::to_vec);
    match value {
        Some(value) => ctx.reply().bulk(&value),
        None => ctx.reply().null(),
    }
    Ok(())
}

pub(crate) fn set(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let SetOptions {
        condition,
        get,
        ttl,
    } = set_options(request, ctx.engine().now_ms())?;
    let (key, value) = (request.arg(1), request.arg(2));
    if get {
        ctx.require(Operation::Read, key)?;
    }
    let old = match (condition, get, ttl) {
        // A blind write: no read, so no condition on the key.
        (Condition::Always, false, Ttl::Clear | Ttl::At(_)) => None,
        _ => Some(overlay.get(key)?.map(<[u8]>::to_vec)),
    };
    let write = match condition {
        Condition::Always => true,
        Condition::Absent => old.as_ref().is_some_and(Option::is_none),
        Condition::Present => old.as_ref().is_some_and(Option::is_some),
    };
    if write {
        let current = match ttl {
            Ttl::Keep => overlay.expiry(key)?.flatten(),
            _ => None,
        };
        overlay.put_with(key, value.to_vec(), ttl.apply(current))?;
    }
    let mut reply = ctx.reply();
    match (get, old.flatten()) {
        (true, Some(old)) => reply.bulk(&old),
        (true, None) => reply.null(),
        (false, _) if write => reply.ok(),
        (false, _) => reply.null(),
    }
    Ok(())
}

pub(crate) fn getset(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let key = request.arg(1);
    ctx.require(Operation::Read, key)?;
    let old = overlay.get(key)?.map(<[u8]>::to_vec);
    // GETSET drops the expiry, as SET does.
    overlay.put_with(key, request.arg(2).to_vec(), None)?;
    match old {
        Some(old) => ctx.reply().bulk(&old),
        None => ctx.reply().null(),
    }
    Ok(())
}

pub(crate) fn mget(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let reply_bytes_max = ctx.shared.config.reply_bytes_max;
    let mut values = Vec::with_capacity(request.len() - 1);
    let mut reply_bytes = 0_usize;
    for key in request.args().skip(1) {
        let value = overlay.get(key)?.map(<[u8]>::to_vec);
        reply_bytes += value.as_ref().map_or(0, Vec::len) + 16;
        if reply_bytes > reply_bytes_max {
            return Err(CommandError::err(format_args!(
                "the reply would pass the limit of {reply_bytes_max} bytes (reply_bytes_max)"
            )));
        }
        values.push(value);
    }
    let mut reply = ctx.reply();
    reply.array(values.len());
    for value in &values {
        match value {
            Some(value) => reply.bulk(value),
            None => reply.null(),
        }
    }
    Ok(())
}

fn pairs<'r>(
    request: &Request<'r>,
    name: &str,
) -> Result<impl Iterator<Item = (&'r [u8], &'r [u8])>, CommandError> {
    if request.len().is_multiple_of(2) {
        return Err(CommandError::wrong_arity(name));
    }
    let request = *request;
    Ok((1..request.len())
        .step_by(2)
        .map(move |i| (request.arg(i), request.arg(i + 1))))
}

pub(crate) fn mset(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    for (key, value) in pairs(request, "mset")? {
        overlay.put_with(key, value.to_vec(), None)?;
    }
    ctx.reply().ok();
    Ok(())
}

pub(crate) fn msetnx(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let mut all_absent = true;
    for (key, _) in pairs(request, "msetnx")? {
        all_absent &= !overlay.exists(key)?;
    }
    if all_absent {
        for (key, value) in pairs(request, "msetnx")? {
            overlay.put_with(key, value.to_vec(), None)?;
        }
    }
    ctx.reply().integer(i64::from(all_absent));
    Ok(())
}

pub(crate) fn del(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let mut n_deleted = 0;
    for key in request.args().skip(1) {
        if overlay.exists(key)? {
            overlay.delete(key)?;
            n_deleted += 1;
        }
    }
    ctx.reply().integer(n_deleted);
    Ok(())
}

pub(crate) fn exists(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let mut n_found = 0;
    for key in request.args().skip(1) {
        n_found += i64::from(overlay.exists(key)?);
    }
    ctx.reply().integer(n_found);
    Ok(())
}

pub(crate) fn type_of(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let found = overlay.exists(request.arg(1))?;
    ctx.reply().simple(if found { "string" } else { "none" });
    Ok(())
}

pub(crate) fn incr(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    add_to(ctx, overlay, request.arg(1), 1)
}

pub(crate) fn decr(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    add_to(ctx, overlay, request.arg(1), -1)
}

pub(crate) fn incrby(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let delta = parse_int(request.arg(2))?;
    add_to(ctx, overlay, request.arg(1), delta)
}

pub(crate) fn decrby(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let delta = parse_int(request.arg(2))?;
    let negated = delta
        .checked_neg()
        .ok_or_else(|| CommandError::err("decrement would overflow"))?;
    add_to(ctx, overlay, request.arg(1), negated)
}

fn add_to(ctx: &mut Ctx<'_>, overlay: &mut Overlay<'_>, key: &[u8], delta: i64) -> CommandResult {
    ctx.require(Operation::Read, key)?;
    let old = match overlay.get(key)? {
        Some(value) => parse_int(value)?,
        None => 0,
    };
    let new = old
        .checked_add(delta)
        .ok_or_else(|| CommandError::err("increment or decrement would overflow"))?;
    let mut digits = Vec::with_capacity(20);
    push_i64(&mut digits, new);
    overlay.put(key, digits)?;
    ctx.reply().integer(new);
    Ok(())
}
