//! More string commands: APPEND, STRLEN, GETRANGE, SETRANGE, SETNX,
//! GETDEL, INCRBYFLOAT, LCS, SETBIT and GETBIT, with Redis 7's replies
//! and error texts.
//!
//! Each is written against an [`Overlay`], so the same code runs alone
//! (read, write on condition that nothing read has changed, retry) and
//! inside `MULTI`/`EXEC`.

use crate::server::auth::Operation;
use crate::server::commands::overlay::{Overlay, atomically, in_view};
use crate::server::commands::{is, parse_int};
use crate::server::dispatch::{CommandError, CommandResult, Ctx};
use crate::server::resp::Request;

/// Cells (of 4 bytes) the table of one `LCS` may take: 64 MiB.
const LCS_CELLS_MAX: u64 = 16 * 1024 * 1024;

/// Fails as Redis does when a string would grow past the value limit.
fn check_length(ctx: &Ctx<'_>, offset: u64, append: u64) -> CommandResult {
    let limit = ctx.engine().config().limits.value_bytes_max as u64;
    match offset.checked_add(append) {
        Some(total) if total <= limit => Ok(()),
        _ => Err(CommandError::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

pub(crate) fn append(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, append_in)
}

pub(crate) fn append_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let (key, tail) = (request.arg(1), request.arg(2));
    ctx.require(Operation::Read, key)?;
    let mut value = overlay.get(key)?.map(<[u8]>::to_vec).unwrap_or_default();
    check_length(ctx, value.len() as u64, tail.len() as u64)?;
    value.extend_from_slice(tail);
    let len = value.len() as i64;
    overlay.put(key, value)?;
    ctx.reply().integer(len);
    Ok(())
}

pub(crate) fn strlen(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    let len = ctx
        .engine()
        .get(request.arg(1))?
        .map_or(0, |v| v.value.len());
    ctx.reply().integer(len as i64);
    Ok(())
}

pub(crate) fn strlen_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let len = overlay.get(request.arg(1))?.map_or(0, <[u8]>::len);
    ctx.reply().integer(len as i64);
    Ok(())
}

/// The bytes `start..=end` of `value` selects, Redis's way: negative
/// indexes count from the end, and out-of-range ends are clamped.
fn substring(value: &[u8], start: i64, end: i64) -> &[u8] {
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0);
    let end = end.min(len - 1);
    if start > end || len == 0 {
        return &[];
    }
    &value[start as usize..=end as usize]
}

pub(crate) fn getrange(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    // A read only: the overlay commits nothing.
    atomically(ctx, request, getrange_in)
}

pub(crate) fn getrange_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let (start, end) = (parse_int(request.arg(2))?, parse_int(request.arg(3))?);
    let value = overlay.get(request.arg(1))?.unwrap_or_default();
    let selected = substring(value, start, end);
    ctx.reply().bulk(selected);
    Ok(())
}

pub(crate) fn setrange(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, setrange_in)
}

pub(crate) fn setrange_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let (key, patch) = (request.arg(1), request.arg(3));
    let offset = parse_int(request.arg(2))?;
    ctx.require(Operation::Read, key)?;
    let offset = u64::try_from(offset).map_err(|_| CommandError::err("offset is out of range"))?;
    let current = overlay.get(key)?;
    // An empty patch changes nothing and creates nothing.
    if patch.is_empty() {
        let len = current.map_or(0, <[u8]>::len);
        ctx.reply().integer(len as i64);
        return Ok(());
    }
    check_length(ctx, offset, patch.len() as u64)?;
    let mut value = current.map(<[u8]>::to_vec).unwrap_or_default();
    let offset = offset as usize;
    let end = offset + patch.len();
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset..end].copy_from_slice(patch);
    let len = value.len() as i64;
    overlay.put(key, value)?;
    ctx.reply().integer(len);
    Ok(())
}

pub(crate) fn setnx(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, setnx_in)
}

pub(crate) fn setnx_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let key = request.arg(1);
    let absent = !overlay.exists(key)?;
    if absent {
        overlay.put(key, request.arg(2).to_vec())?;
    }
    ctx.reply().integer(i64::from(absent));
    Ok(())
}

pub(crate) fn getdel(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, getdel_in)
}

pub(crate) fn getdel_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let key = request.arg(1);
    ctx.require(Operation::Read, key)?;
    let Some(value) = overlay.get(key)?.map(<[u8]>::to_vec) else {
        ctx.reply().null();
        return Ok(());
    };
    overlay.delete(key)?;
    ctx.reply().bulk(&value);
    Ok(())
}

/// A bit offset as Redis checks it: not negative, and its byte within
/// the value limit.
fn bit_offset(ctx: &Ctx<'_>, arg: &[u8]) -> Result<(usize, u8), CommandError> {
    let out_of_range = || CommandError::err("bit offset is not an integer or out of range");
    let offset =
        u64::try_from(parse_int(arg).map_err(|_| out_of_range())?).map_err(|_| out_of_range())?;
    let byte = offset >> 3;
    if byte >= ctx.engine().config().limits.value_bytes_max as u64 {
        return Err(out_of_range());
    }
    // Bit 0 is the most significant bit of the first byte.
    Ok((byte as usize, 0x80 >> (offset & 7)))
}

pub(crate) fn setbit(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, setbit_in)
}

pub(crate) fn setbit_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let key = request.arg(1);
    ctx.require(Operation::Read, key)?;
    let (byte, mask) = bit_offset(ctx, request.arg(2))?;
    let on = match request.arg(3) {
        b"0" => false,
        b"1" => true,
        _ => return Err(CommandError::err("bit is not an integer or out of range")),
    };
    let mut value = overlay.get(key)?.map(<[u8]>::to_vec).unwrap_or_default();
    if value.len() <= byte {
        value.resize(byte + 1, 0);
    }
    let old = value[byte] & mask != 0;
    if on {
        value[byte] |= mask;
    } else {
        value[byte] &= !mask;
    }
    overlay.put(key, value)?;
    ctx.reply().integer(i64::from(old));
    Ok(())
}

pub(crate) fn getbit(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    // A read only: the overlay commits nothing.
    atomically(ctx, request, getbit_in)
}

pub(crate) fn getbit_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let (byte, mask) = bit_offset(ctx, request.arg(2))?;
    let value = overlay.get(request.arg(1))?.unwrap_or_default();
    let on = value.get(byte).is_some_and(|b| b & mask != 0);
    ctx.reply().integer(i64::from(on));
    Ok(())
}

/// A float argument or stored value, as Redis reads one: no blanks, no
/// NaN.
fn parse_float(bytes: &[u8]) -> Result<f64, CommandError> {
    let not_float = || CommandError::err("value is not a valid float");
    let text = std::str::from_utf8(bytes).map_err(|_| not_float())?;
    let blank = |c: char| c.is_ascii_whitespace() || c == '\0';
    if text.is_empty() || text.starts_with(blank) || text.ends_with(blank) {
        return Err(not_float());
    }
    let value: f64 = text.parse().map_err(|_| not_float())?;
    if value.is_nan() {
        return Err(not_float());
    }
    Ok(value)
}

/// A float as Redis prints the result of `INCRBYFLOAT`: fixed point, no
/// exponent, no trailing zeros, no negative zero.
fn format_float(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    // Rust prints the shortest digits that read back as the same value,
    // never with an exponent.
    format!("{value}")
}

pub(crate) fn incrbyfloat(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    atomically(ctx, request, incrbyfloat_in)
}

pub(crate) fn incrbyfloat_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    let key = request.arg(1);
    ctx.require(Operation::Read, key)?;
    let delta = parse_float(request.arg(2))?;
    let old = match overlay.get(key)? {
        Some(value) => parse_float(value)?,
        None => 0.0,
    };
    let new = old + delta;
    if !new.is_finite() {
        return Err(CommandError::err("increment would produce NaN or Infinity"));
    }
    let text = format_float(new);
    overlay.put(key, text.clone().into_bytes())?;
    ctx.reply().bulk(text.as_bytes());
    Ok(())
}

/// The options of `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`.
#[derive(Debug, Default)]
struct LcsOptions {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

fn lcs_options(request: &Request<'_>) -> Result<LcsOptions, CommandError> {
    let mut options = LcsOptions::default();
    let mut i = 3;
    while i < request.len() {
        let option = request.arg(i);
        if is(option, "IDX") {
            options.idx = true;
        } else if is(option, "LEN") {
            options.len = true;
        } else if is(option, "WITHMATCHLEN") {
            options.with_match_len = true;
        } else if is(option, "MINMATCHLEN") && i + 1 < request.len() {
            options.min_match_len = parse_int(request.arg(i + 1))?.max(0) as u64;
            i += 1;
        } else {
            return Err(CommandError::syntax());
        }
        i += 1;
    }
    if options.len && options.idx {
        return Err(CommandError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(options)
}

pub(crate) fn lcs(ctx: &mut Ctx<'_>, request: &Request<'_>) -> CommandResult {
    in_view(ctx, request, lcs_in)
}

pub(crate) fn lcs_in(
    ctx: &mut Ctx<'_>,
    overlay: &mut Overlay<'_>,
    request: &Request<'_>,
) -> CommandResult {
    ctx.require(Operation::Read, request.arg(2))?;
    let a = overlay.get(request.arg(1))?.unwrap_or_default().to_vec();
    let b = overlay.get(request.arg(2))?.unwrap_or_default().to_vec();
    let options = lcs_options(request)?;
    let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
    if cells > LCS_CELLS_MAX {
        return Err(CommandError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let table = LcsTable::new(&a, &b);
    let length = table.at(a.len(), b.len());
    let mut reply = ctx.reply();
    if options.len {
        reply.integer(i64::from(length));
        return Ok(());
    }
    let (common, matches) = table.walk_back(options.min_match_len);
    if !options.idx {
        reply.bulk(&common);
        return Ok(());
    }
    reply.map(2);
    reply.bulk(b"matches");
    reply.array(matches.len());
    for found in &matches {
        reply.array(2 + usize::from(options.with_match_len));
        reply.array(2);
        reply.integer(found.a.0 as i64);
        reply.integer(found.a.1 as i64);
        reply.array(2);
        reply.integer(found.b.0 as i64);
        reply.integer(found.b.1 as i64);
        if options.with_match_len {
            reply.integer((found.a.1 - found.a.0 + 1) as i64);
        }
    }
    reply.bulk(b"len");
    reply.integer(i64::from(length));
    Ok(())
}

/// One common run of `LCS ... IDX`: inclusive ranges in `a` and `b`.
#[derive(Debug, PartialEq, Eq)]
struct LcsMatch {
    a: (usize, usize),
    b: (usize, usize),
}

/// The dynamic-programming table of the longest common subsequence.
struct LcsTable<'s> {
    a: &'s [u8],
    b: &'s [u8],
    cells: Vec<u32>,
}

impl<'s> LcsTable<'s> {
    fn new(a: &'s [u8], b: &'s [u8]) -> Self {
        let width = b.len() + 1;
        let mut cells = vec![0_u32; (a.len() + 1) * width];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        LcsTable { a, b, cells }
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * (self.b.len() + 1) + j]
    }

    /// The common subsequence and its runs from the ends backwards, as
    /// Redis walks them (so that the runs come out in Redis's order).
    fn walk_back(&self, min_match_len: u64) -> (Vec<u8>, Vec<LcsMatch>) {
        let (a, b) = (self.a, self.b);
        let mut common = vec![0_u8; self.at(a.len(), b.len()) as usize];
        let mut idx = common.len();
        let mut matches = Vec::new();
        // `run` holds the current run's start and end in a and b.
        let mut run: Option<(usize, usize, usize, usize)> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            let mut emit = false;
            if a[i - 1] == b[j - 1] {
                common[idx - 1] = a[i - 1];
                run = match run {
                    None => Some((i - 1, i - 1, j - 1, j - 1)),
                    Some((a_start, a_end, b_start, b_end)) if a_start == i && b_start == j => {
                        Some((a_start - 1, a_end, b_start - 1, b_end))
                    }
                    Some(other) => {
                        emit = true;
                        Some(other)
                    }
                };
                if let Some((a_start, _, b_start, _)) = run {
                    emit |= a_start == 0 || b_start == 0;
                }
                idx -= 1;
                i -= 1;
                j -= 1;
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                emit = run.is_some();
            }
            if emit && let Some((a_start, a_end, b_start, b_end)) = run.take() {
                let match_len = (a_end - a_start + 1) as u64;
                if min_match_len == 0 || match_len >= min_match_len {
                    matches.push(LcsMatch {
                        a: (a_start, a_end),
                        b: (b_start, b_end),
                    });
                }
            }
        }
        (common, matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrings_follow_redis_clamping() {
        let value = b"Hello World";
        assert_eq!(substring(value, 0, 3), b"Hell");
        assert_eq!(substring(value, 0, -1), value);
        assert_eq!(substring(value, -4, -1), b"orld");
        assert_eq!(substring(value, 5, 3), b"");
        assert_eq!(substring(value, 5, 5000), b" World");
        assert_eq!(substring(value, -5000, 10000), value);
        assert_eq!(substring(value, -1, -5), b"");
        assert_eq!(substring(b"", 0, -1), b"");
    }

    #[test]
    fn floats_parse_and_print_as_redis_does() {
        assert_eq!(parse_float(b"1.5").ok(), Some(1.5));
        assert!(parse_float(b" 1").is_err());
        assert!(parse_float(b"1 ").is_err());
        assert!(parse_float(b"1\x002").is_err());
        assert!(parse_float(b"nan").is_err());
        assert!(parse_float(b"").is_err());
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(1.25), "1.25");
        assert_eq!(format_float(17_179_869_185.5), "17179869185.5");
        assert_eq!(format_float(-0.0), "0");
    }

    #[test]
    fn lcs_finds_the_common_subsequence_and_its_runs() {
        let (a, b) = (b"ohmytext".as_slice(), b"mynewtext".as_slice());
        let table = LcsTable::new(a, b);
        assert_eq!(table.at(a.len(), b.len()), 6);
        let (common, matches) = table.walk_back(0);
        assert_eq!(common, b"mytext");
        assert_eq!(
            matches,
            [
                LcsMatch {
                    a: (4, 7),
                    b: (5, 8)
                },
                LcsMatch {
                    a: (2, 3),
                    b: (0, 1)
                },
            ]
        );
        assert_eq!(table.walk_back(4).1.len(), 1);
    }
}
