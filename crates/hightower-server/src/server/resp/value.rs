//! The decoder of any RESP2 or RESP3 value, for clients and tests.

use super::{
    DECODE_DEPTH_MAX, ELEMENTS_PREALLOCATED_MAX, ParserLimits, ProtocolError, Result, parse_i64,
};

/// Any RESP2 or RESP3 value, as [`decode_value`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `+text`.
    Simple(Vec<u8>),
    /// `-CODE text` (RESP2) or `!len` blob errors (RESP3).
    Error(Vec<u8>),
    /// `:n`.
    Integer(i64),
    /// `$len` bulk strings and `=len` verbatim strings.
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or `_`.
    Null,
    /// `*len`, and `>len` push messages.
    Array(Vec<Value>),
    /// `%len`.
    Map(Vec<(Value, Value)>),
    /// `~len`.
    Set(Vec<Value>),
    /// `#t` or `#f`.
    Boolean(bool),
    /// `,double`.
    Double(f64),
    /// `(big number`, as its digits.
    BigNumber(Vec<u8>),
}

/// Decodes one value at the start of `input`: `Ok(None)` when incomplete,
/// else the value and the bytes it took. Lengths are checked against
/// `limits` (bulk strings against `bulk_bytes_max`, aggregates against
/// `args_max`) and nesting against [`DECODE_DEPTH_MAX`].
pub fn decode_value(input: &[u8], limits: &ParserLimits) -> Result<Option<(Value, usize)>> {
    let decoder = Decoder { input, limits };
    decoder.value(0, 0)
}

struct Decoder<'a> {
    input: &'a [u8],
    limits: &'a ParserLimits,
}

impl<'a> Decoder<'a> {
    fn value(&self, at: usize, depth: usize) -> Result<Option<(Value, usize)>> {
        if depth > DECODE_DEPTH_MAX {
            return Err(ProtocolError::TooDeep);
        }
        let Some((kind, line, next)) = self.line(at)? else {
            return Ok(None);
        };
        let value = match kind {
            b'+' => Value::Simple(line.to_vec()),
            b'-' => Value::Error(line.to_vec()),
            b':' => Value::Integer(parse_i64(line).ok_or(ProtocolError::InvalidValue("integer"))?),
            b'_' if line.is_empty() => Value::Null,
            b'#' => match line {
                b"t" => Value::Boolean(true),
                b"f" => Value::Boolean(false),
                _ => return Err(ProtocolError::InvalidValue("boolean")),
            },
            b',' => Value::Double(parse_double(line)?),
            b'(' => Value::BigNumber(line.to_vec()),
            b'$' | b'=' | b'!' => return self.blob(kind, line, next),
            b'*' | b'~' | b'>' | b'%' => return self.aggregate(kind, line, next, depth),
            _ => return Err(ProtocolError::InvalidValue("unknown type byte")),
        };
        Ok(Some((value, next)))
    }

    /// The type byte, the rest of the line and the offset after its CRLF.
    fn line(&self, at: usize) -> Result<Option<(u8, &'a [u8], usize)>> {
        let input: &'a [u8] = self.input;
        let rest = &input[at.min(self.input.len())..];
        let Some(&kind) = rest.first() else {
            return Ok(None);
        };
        let window = &rest[..rest.len().min(self.limits.inline_bytes_max)];
        // The CR ending the line comes after the type byte (which may be a
        // CR itself in garbage).
        let Some(cr) = window
            .iter()
            .skip(1)
            .position(|&b| b == b'\r')
            .map(|i| i + 1)
        else {
            if rest.len() >= self.limits.inline_bytes_max {
                return Err(ProtocolError::InlineTooLarge {
                    max: self.limits.inline_bytes_max,
                });
            }
            return Ok(None);
        };
        match rest.get(cr + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some((kind, &rest[1..cr], at + cr + 2))),
            Some(_) => Err(ProtocolError::ExpectedCrlf),
        }
    }

    fn blob(&self, kind: u8, line: &[u8], start: usize) -> Result<Option<(Value, usize)>> {
        let len = parse_i64(line).ok_or(ProtocolError::InvalidBulkLength)?;
        if len == -1 && kind == b'$' {
            return Ok(Some((Value::Null, start)));
        }
        if len < 0 {
            return Err(ProtocolError::InvalidBulkLength);
        }
        if len as u64 > self.limits.bulk_bytes_max as u64 {
            return Err(ProtocolError::BulkTooLarge {
                len: len as u64,
                max: self.limits.bulk_bytes_max,
            });
        }
        let end = start + len as usize;
        if self.input.len() < end + 2 {
            return Ok(None);
        }
        if &self.input[end..end + 2] != b"\r\n" {
            return Err(ProtocolError::ExpectedCrlf);
        }
        let body = &self.input[start..end];
        let value = match kind {
            b'!' => Value::Error(body.to_vec()),
            b'=' if body.len() >= 4 && body[3] == b':' => Value::Bulk(body[4..].to_vec()),
            b'=' => {
                return Err(ProtocolError::InvalidValue(
                    "verbatim string without format",
                ));
            }
            _ => Value::Bulk(body.to_vec()),
        };
        Ok(Some((value, end + 2)))
    }

    fn aggregate(
        &self,
        kind: u8,
        line: &[u8],
        mut next: usize,
        depth: usize,
    ) -> Result<Option<(Value, usize)>> {
        let len = parse_i64(line).ok_or(ProtocolError::InvalidMultibulkLength)?;
        if len == -1 && kind == b'*' {
            return Ok(Some((Value::Null, next)));
        }
        if len < 0 {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        let pairs = kind == b'%';
        let n_values = (len as u64).saturating_mul(if pairs { 2 } else { 1 });
        if n_values > self.limits.args_max as u64 {
            return Err(ProtocolError::TooManyArguments {
                len: n_values,
                max: self.limits.args_max,
            });
        }
        let n_values = n_values as usize;
        let mut items = Vec::with_capacity(n_values.min(ELEMENTS_PREALLOCATED_MAX));
        for _ in 0..n_values {
            let Some((item, after)) = self.value(next, depth + 1)? else {
                return Ok(None);
            };
            items.push(item);
            next = after;
        }
        let value = match kind {
            b'%' => {
                let mut map = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(key), Some(value)) = (items.next(), items.next()) {
                    map.push((key, value));
                }
                Value::Map(map)
            }
            b'~' => Value::Set(items),
            _ => Value::Array(items),
        };
        Ok(Some((value, next)))
    }
}

fn parse_double(line: &[u8]) -> Result<f64> {
    let text = std::str::from_utf8(line).map_err(|_| ProtocolError::InvalidValue("double"))?;
    match text {
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        "nan" => Ok(f64::NAN),
        _ => text
            .parse()
            .map_err(|_| ProtocolError::InvalidValue("double")),
    }
}
