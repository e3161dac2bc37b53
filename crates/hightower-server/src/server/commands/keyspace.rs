//! Commands over the whole keyspace: SCAN, KEYS and DBSIZE.
//!
//! They walk a snapshot of the in-memory index (keys only; no value is
//! read), starting at the literal prefix of the pattern, and return only
//! the keys the connection may read.

use std::ops::Bound;

use crate::server::auth::Operation;
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

/// The first key after `prefix` and all keys starting with it, `None`
/// when there is none (the prefix is empty or all 0xff bytes).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
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
    let start = match &after {
        Some(last) if last.as_slice() >= prefix => Bound::Excluded(last.as_slice()),
        _ => Bound::Included(prefix),
    };
    let end_key = prefix_end(prefix);
    let end = end_key.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    let snapshot = ctx.engine().storage().index().snapshot();
    let mut keys = snapshot.range(start, end);
    let mut found = Vec::new();
    let mut last_examined = None;
    for (key, _) in keys.by_ref().take(options.count) {
        let wanted = !options.other_type
            && options.glob.as_ref().is_none_or(|glob| glob.matches(&key))
            && ctx.may(Operation::Read, &key);
        if wanted {
            found.push(key.to_vec());
        }
        last_examined = Some(key);
    }
    let next_cursor = match (keys.next(), last_examined) {
        (Some(_), Some(last)) => ctx.shared.cursors.lock().insert(last.to_vec()),
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
    let snapshot = ctx.engine().storage().index().snapshot();
    let mut found = Vec::new();
    let mut reply_bytes = 0_usize;
    for (key, _) in snapshot.prefix(prefix) {
        if glob.matches(&key) && ctx.may(Operation::Read, &key) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_skip_trailing_ff_bytes() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
