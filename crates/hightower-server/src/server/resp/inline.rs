//! Inline requests: one line of words, quoted the way `redis-cli` quotes
//! them.

use std::ops::Range;

use super::{ProtocolError, Result};

/// Splits an inline line into arguments the way `redis-cli` quotes them:
/// words separated by blanks; `"..."` with backslash escapes (`\n`, `\r`,
/// `\t`, `\b`, `\a`, `\\`, `\"`, `\xHH`) and `'...'` with only `\'`.
pub(super) fn split_inline(
    line: &[u8],
    out: &mut Vec<u8>,
    spans: &mut Vec<Range<usize>>,
) -> Result<()> {
    out.clear();
    spans.clear();
    let mut i = 0;
    while i < line.len() {
        if line[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = out.len();
        i = match line[i] {
            b'"' => unquote_double(line, i + 1, out)?,
            b'\'' => unquote_single(line, i + 1, out)?,
            _ => {
                let end = line[i..]
                    .iter()
                    .position(u8::is_ascii_whitespace)
                    .map_or(line.len(), |n| i + n);
                out.extend_from_slice(&line[i..end]);
                end
            }
        };
        spans.push(start..out.len());
    }
    Ok(())
}

/// Copies a `"..."` argument whose body starts at `i`; returns the offset
/// after the closing quote, which must be followed by a blank or the end.
fn unquote_double(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize> {
    while i < line.len() {
        match line[i] {
            b'"' => return closing_quote(line, i),
            b'\\' if i + 1 < line.len() => {
                let (byte, used) = match line[i + 1] {
                    b'n' => (b'\n', 2),
                    b'r' => (b'\r', 2),
                    b't' => (b'\t', 2),
                    b'b' => (0x08, 2),
                    b'a' => (0x07, 2),
                    b'x' if i + 3 < line.len() => match hex_byte(line[i + 2], line[i + 3]) {
                        Some(byte) => (byte, 4),
                        None => (b'x', 2),
                    },
                    other => (other, 2),
                };
                out.push(byte);
                i += used;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Err(ProtocolError::UnbalancedQuotes)
}

/// Copies a `'...'` argument whose body starts at `i`.
fn unquote_single(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Result<usize> {
    while i < line.len() {
        match line[i] {
            b'\'' => return closing_quote(line, i),
            b'\\' if line.get(i + 1) == Some(&b'\'') => {
                out.push(b'\'');
                i += 2;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Err(ProtocolError::UnbalancedQuotes)
}

fn closing_quote(line: &[u8], quote: usize) -> Result<usize> {
    match line.get(quote + 1) {
        None => Ok(quote + 1),
        Some(byte) if byte.is_ascii_whitespace() => Ok(quote + 1),
        Some(_) => Err(ProtocolError::UnbalancedQuotes),
    }
}

fn hex_byte(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(high)? * 16 + digit(low)?) as u8)
}
