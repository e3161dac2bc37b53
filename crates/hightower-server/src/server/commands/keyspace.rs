//! Commands over the whole keyspace: SCAN, KEYS and DBSIZE.
//!
//! SCAN and KEYS walk a read view's keys (no value is read) over the
//! ranges the connection may read ([`Ctx::readable`]) cut to the literal
//! prefix of the pattern. Every key they examine is readable, so their
//! cursors, counts and time depend on readable keys only: nothing shows of
//! other keys, the auth records included (a range seek costs a logarithm
//! of the store's size, whatever lies between the ranges).

use std::ops::Bound;

use hightower_auth::KeyRanges;
use hightower_engine::ReadView;

use crate::server::commands::{is, parse_int};
use crate::server::dispatch::{CommandError, CommandResult, Ctx};
use crate::server::glob::Glob;
use crate::server::resp::Request;

/// Keys one `SCAN` call examines at most, whatever `COUNT` says.
const SCAN_COUNT_MAX: usize = 100_000;

/// The options of `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`.
struct ScanOptions {
    glob: Option<Glob>,
    count: usize,
    /// `TYPE` named a type other than `string`: nothing matches.
    other_type: bool,
}

fn scan_options(request: &Request<'_>) -> Result<ScanOptions, CommandError> {
    let mut options = ScanOptions {
        glob: None,
        count: 10,
        other_type: false,
    };
    let mut i = 2;
    while i < request.len() {
        let (option, value) = (
            request.arg(i),
            request.get(i + 1).ok_or_else(CommandError::syntax)?,
        );
        if is(option, "MATCH") {
            let glob = Glob::new(value);
            options.glob = (!glob.matches_everything()).then_some(glob);
        } else if is(option, "COUNT") {
            let count = parse_int(value)?;
            if count < 1 {
                return Err(CommandError::syntax());
            }
            options.count = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .min(SCAN_COUNT_MAX);
        } else if is(option, "TYPE") {
            options.other_type = !is(value, "string");
        } else {
            return Err(CommandError::syntax());
        }
        i += 2;
    }
    Ok(options)
}

/// The keys one `SCAN` call examined, and whether any readable key
/// follows them.
struct Page {
    keys: Vec<Vec<u8>>,
    more: bool,
}

/// Up to `count` keys of `ranges` after `after` (from the start when
/// `None`), in key order.
fn walk(view: &ReadView, ranges: &KeyRanges, after: Option<&[u8]>, count: usize) -> Page {
    let mut keys = Vec::new();
    for range in ranges.ranges() {
        let end = range.end.as_deref();
        if after.is_some_and(|after| end.is_some_and(|end| after >= end)) {
            continue;
        }
        let start = match after {
            Some(after) if after >= range.start.as_slice() => Bound::Excluded(after),
            _ => Bound::Included(range.start.as_slice()),
        };
        let end = end.map_or(Bound::Unbounded, Bound::Excluded);
        for (key, _) in view.keys_in_range(start, end) {
            if keys.len() == count {
                return Page { keys, more: true };
            }
            keys.push(key.to_vec());
        }
    }
    Page { keys, more: false }
}

pub(crate) fn scan(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let cursor_arg = request.arg(1);
    let cursor = std::str::from_utf8(cursor_arg)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| CommandError::err("invalid cursor"))?;
    let options = scan_options(request)?;
    let after: Option<Vec<u8>> = match cursor {
        0 => None,
        _ => Some(
            ctx.shared
                .cursors
                .lock()
                .last_key(cursor)
                .ok_or_else(|| {
                    CommandError::err("invalid cursor: unknown or expired; start again from 0")
                })?
                .to_vec(),
        ),
    };
    let prefix = options.glob.as_ref().map_or(&b""[..], Glob::literal_prefix);
    let ranges = ctx.readable().with_prefix(prefix);
    let view = ctx.engine().read_view()?;
    let page = walk(&view, &ranges, after.as_deref(), options.count);
    let found: Vec<&Vec<u8>> = page
        .keys
        .iter()
        .filter(|key| {
            !options.other_type && options.glob.as_ref().is_none_or(|glob| glob.matches(key))
        })
        .collect();
    let next_cursor = match page.keys.last() {
        Some(last) if page.more => ctx.shared.cursors.lock().insert(last.clone()),
        _ => 0,
    };
    let mut reply = ctx.reply();
    reply.array(2);
    reply.bulk(next_cursor.to_string().as_bytes());
    reply.array(found.len());
    found.iter().for_each(|key| reply.bulk(key));
    Ok(())
}

pub(crate) fn keys(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let glob = Glob::new(request.arg(1));
    let prefix = glob.literal_prefix();
    let reply_bytes_max = ctx.shared.config.reply_bytes_max;
    let ranges = ctx.readable().with_prefix(prefix);
    let view = ctx.engine().read_view()?;
    let mut found = Vec::new();
    let mut reply_bytes = 0_usize;
    for range in ranges.ranges() {
        let start = Bound::Included(range.start.as_slice());
        let end = range
            .end
            .as_deref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        for (key, _) in view.keys_in_range(start, end) {
            if !glob.matches(&key) {
                continue;
            }
            reply_bytes += key.len() + 16;
            if reply_bytes > reply_bytes_max {
                return Err(CommandError::err(format_args!(
                    "the matching keys exceed the reply limit of {reply_bytes_max} bytes; \
                     use SCAN instead"
                )));
            }
            found.push(key);
        }
    }
    let mut reply = ctx.reply();
    reply.array(found.len());
    found.iter().for_each(|key| reply.bulk(key));
    Ok(())
}

pub(crate) fn dbsize(ctx: &mut Ctx<'_>, _request: &Request<'_>) -> CommandResult {
    let n_keys = ctx.engine().len() as i64;
    ctx.reply().integer(n_keys);
    Ok(())
}
