//! The resumable parser of client requests: arrays of bulk strings and
//! inline lines.

use std::ops::Range;

use super::inline::split_inline;
use super::{
    ARGS_PREALLOCATED_MAX, LENGTH_LINE_BYTES_MAX, ParserLimits, ProtocolError, Result, parse_i64,
};

/// Where the parser is inside the current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first byte of a frame.
    Start,
    /// Inside an array that still needs this many bulk strings.
    Array { remaining: usize },
}

/// A resumable parser of client requests: arrays of bulk strings, and
/// inline requests (one line of space-separated words, as `telnet` sends).
#[derive(Debug)]
pub struct RequestParser {
    limits: ParserLimits,
    state: State,
    /// Offset of the next unparsed byte, from the frame start.
    cursor: usize,
    /// Argument spans, into the frame (arrays) or into `inline` (inline).
    spans: Vec<Range<usize>>,
    /// Unquoted inline arguments, back to back.
    inline: Vec<u8>,
}

/// One complete request: its arguments and the bytes its frame took.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    data: &'a [u8],
    spans: &'a [Range<usize>],
    frame_bytes: usize,
}

impl<'a> Request<'a> {
    /// A request over arguments held elsewhere (a queued transaction):
    /// argument `i` is `data[spans[i]]`.
    ///
    /// # Panics
    /// Later, in [`Request::arg`], when a span lies outside `data`.
    pub fn from_parts(data: &'a [u8], spans: &'a [Range<usize>]) -> Self {
        debug_assert!(spans.iter().all(|span| span.end <= data.len()));
        Request {
            data,
            spans,
            frame_bytes: 0,
        }
    }

    /// Number of arguments, the command name included (0 for an empty line
    /// or an empty array, which a server skips).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the request holds no argument at all.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `i`.
    ///
    /// # Panics
    /// When `i >= self.len()`.
    pub fn arg(&self, i: usize) -> &'a [u8] {
        &self.data[self.spans[i].clone()]
    }

    /// Argument `i`, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.spans.get(i).map(|span| &self.data[span.clone()])
    }

    /// Every argument in order.
    pub fn args(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let data = self.data;
        self.spans.iter().map(move |span| &data[span.clone()])
    }

    /// The bytes of the input the frame took; the next frame starts there.
    pub fn frame_bytes(&self) -> usize {
        self.frame_bytes
    }
}

impl RequestParser {
    /// A parser that enforces `limits`.
    pub fn new(limits: ParserLimits) -> Self {
        RequestParser {
            limits,
            state: State::Start,
            cursor: 0,
            spans: Vec::new(),
            inline: Vec::new(),
        }
    }

    /// The limits the parser enforces.
    pub fn limits(&self) -> &ParserLimits {
        &self.limits
    }

    /// Enforces `limits` from the next frame on. Called between frames
    /// (when a connection authenticates); a frame in progress would be
    /// parsed under two sets of limits.
    pub fn set_limits(&mut self, limits: ParserLimits) {
        debug_assert!(
            matches!(self.state, State::Start),
            "limits change between frames"
        );
        self.limits = limits;
    }

    /// Parses the frame at the start of `input`.
    ///
    /// Returns `Ok(None)` when the frame is incomplete; call again with the
    /// same bytes at the start of `input` and more after them. On
    /// `Ok(Some(request))` the frame took `request.frame_bytes()` bytes and
    /// the parser is ready for the next frame. After an error the parser
    /// must not be used on the same stream again.
    pub fn parse<'p>(&'p mut self, input: &'p [u8]) -> Result<Option<Request<'p>>> {
        let mut remaining = match self.state {
            State::Array { remaining } => remaining,
            State::Start => {
                let Some(&first) = input.first() else {
                    return Ok(None);
                };
                if first != b'*' {
                    return self.parse_inline(input);
                }
                let Some((len, next)) = self.length_line(input, 0)? else {
                    return Ok(None);
                };
                let remaining = self.array_length(len)?;
                self.spans.clear();
                self.spans.reserve(remaining.min(ARGS_PREALLOCATED_MAX));
                self.cursor = next;
                remaining
            }
        };
        while remaining > 0 {
            let Some(span) = self.bulk_argument(input)? else {
                self.state = State::Array { remaining };
                return Ok(None);
            };
            self.spans.push(span);
            remaining -= 1;
        }
        let frame_bytes = self.cursor;
        self.state = State::Start;
        self.cursor = 0;
        Ok(Some(Request {
            data: input,
            spans: &self.spans,
            frame_bytes,
        }))
    }

    /// The argument count of an array header, checked against the limits.
    fn array_length(&self, len: i64) -> Result<usize> {
        match len {
            // `*0` and any negative length (`*-1`, a null array) carry no
            // command: Redis skips them.
            n if n <= 0 => Ok(0),
            n => {
                let claimed = n as u64;
                if claimed > self.limits.args_max as u64 {
                    return Err(ProtocolError::TooManyArguments {
                        len: claimed,
                        max: self.limits.args_max,
                    });
                }
                Ok(claimed as usize)
            }
        }
    }

    /// Parses one `$len\r\nbytes\r\n` at the cursor, advancing past it.
    fn bulk_argument(&mut self, input: &[u8]) -> Result<Option<Range<usize>>> {
        let Some(&kind) = input.get(self.cursor) else {
            return Ok(None);
        };
        if kind != b'$' {
            return Err(ProtocolError::ExpectedBulk { found: kind });
        }
        let Some((len, data_start)) = self.length_line(input, self.cursor)? else {
            return Ok(None);
        };
        if len < 0 {
            return Err(ProtocolError::InvalidBulkLength);
        }
        let len = len as u64;
        if len > self.limits.bulk_bytes_max as u64 {
            return Err(ProtocolError::BulkTooLarge {
                len,
                max: self.limits.bulk_bytes_max,
            });
        }
        let len = len as usize;
        let frame_end = data_start as u64 + len as u64 + 2;
        if frame_end > self.limits.request_bytes_max as u64 {
            return Err(ProtocolError::RequestTooLarge {
                bytes: frame_end,
                max: self.limits.request_bytes_max,
            });
        }
        let data_end = data_start + len;
        if input.len() < data_end + 2 {
            return Ok(None);
        }
        if &input[data_end..data_end + 2] != b"\r\n" {
            return Err(ProtocolError::ExpectedCrlf);
        }
        self.cursor = data_end + 2;
        Ok(Some(data_start..data_end))
    }

    /// Reads the `*N\r\n` or `$N\r\n` line starting at `at`; returns the
    /// number and the offset after the line, or `None` when incomplete.
    fn length_line(&self, input: &[u8], at: usize) -> Result<Option<(i64, usize)>> {
        let rest = &input[at..];
        let window = &rest[..rest.len().min(LENGTH_LINE_BYTES_MAX)];
        let Some(cr) = window
            .iter()
            .skip(1)
            .position(|&b| b == b'\r')
            .map(|i| i + 1)
        else {
            if rest.len() >= LENGTH_LINE_BYTES_MAX {
                return Err(ProtocolError::LengthLineTooLong);
            }
            return Ok(None);
        };
        let Some(&lf) = rest.get(cr + 1) else {
            return Ok(None);
        };
        if lf != b'\n' {
            return Err(ProtocolError::ExpectedCrlf);
        }
        let digits = &rest[1..cr];
        let error = if rest[0] == b'*' {
            ProtocolError::InvalidMultibulkLength
        } else {
            ProtocolError::InvalidBulkLength
        };
        let len = parse_i64(digits).ok_or(error)?;
        Ok(Some((len, at + cr + 2)))
    }

    /// Parses one inline request line (first byte not `*`).
    fn parse_inline<'p>(&'p mut self, input: &'p [u8]) -> Result<Option<Request<'p>>> {
        let max = self.limits.inline_bytes_max;
        let window = &input[..input.len().min(max.saturating_add(1))];
        let Some(newline) = window.iter().position(|&b| b == b'\n') else {
            if input.len() > max {
                return Err(ProtocolError::InlineTooLarge { max });
            }
            return Ok(None);
        };
        let mut line = &input[..newline];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        split_inline(line, &mut self.inline, &mut self.spans)?;
        if self.spans.len() > self.limits.args_max {
            return Err(ProtocolError::TooManyArguments {
                len: self.spans.len() as u64,
                max: self.limits.args_max,
            });
        }
        Ok(Some(Request {
            data: &self.inline,
            spans: &self.spans,
            frame_bytes: newline + 1,
        }))
    }
}
