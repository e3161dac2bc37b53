//! The Redis serialization protocol (RESP2 and RESP3): [`RequestParser`]
//! reads client requests, [`ReplyWriter`] encodes replies, and
//! [`decode_value`] reads any RESP2 or RESP3 value (for clients and tests).
//!
//! Every parser here reads untrusted bytes, so every length it is told is
//! checked against a limit before it is believed: a bulk string longer than
//! [`ParserLimits::bulk_bytes_max`], an array longer than
//! [`ParserLimits::args_max`], or a request larger than
//! [`ParserLimits::request_bytes_max`] is a [`ProtocolError`], and nothing is
//! ever allocated for a claimed size: buffers grow only with bytes that
//! arrived.
//!
//! ```
//! use hightower_server::server::resp::{ParserLimits, Protocol, ReplyWriter, RequestParser};
//!
//! let mut parser = RequestParser::new(ParserLimits::default());
//! let bytes = b"*2\r\n$3\r\nGET\r\n$4\r\nuser\r\n";
//! let request = parser.parse(bytes).expect("well formed").expect("complete");
//! assert_eq!(request.arg(0), b"GET");
//! assert_eq!(request.arg(1), b"user");
//! assert_eq!(request.frame_bytes(), bytes.len());
//!
//! let mut out = Vec::new();
//! ReplyWriter::new(&mut out, Protocol::Resp2).bulk(b"ada");
//! assert_eq!(out, b"$3\r\nada\r\n");
//! ```
//!
//! The request parser is resumable: when a frame is incomplete it returns
//! `Ok(None)` and remembers how far it got, so a large request arriving in
//! many reads is scanned once, not once per read.

use std::ops::Range;

/// The largest request (array) header or bulk length line, in bytes,
/// including the type byte: `*` or `$`, 20 digits, a sign, CR and LF.
const LENGTH_LINE_BYTES_MAX: usize = 32;

/// Spans reserved up front for an array, whatever length it claims.
const ARGS_PREALLOCATED_MAX: usize = 64;

/// Elements reserved up front for a decoded aggregate value.
const ELEMENTS_PREALLOCATED_MAX: usize = 64;

/// Nesting of decoded aggregate values allowed at most.
pub const DECODE_DEPTH_MAX: usize = 32;

/// What the request parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Arguments of one request, the command name included.
    pub args_max: usize,
    /// Bytes of one bulk string argument (the engine's value limit).
    pub bulk_bytes_max: usize,
    /// Bytes of one inline (space-separated) request line.
    pub inline_bytes_max: usize,
    /// Bytes of one whole request frame.
    pub request_bytes_max: usize,
}

impl Default for ParserLimits {
    /// One million arguments, 64 MiB per bulk string (the engine's
    /// default value limit), 64 KiB per inline request, 256 MiB per request
    /// (the engine's default batch limit).
    fn default() -> Self {
        ParserLimits {
            args_max: 1024 * 1024,
            bulk_bytes_max: 64 * 1024 * 1024,
            inline_bytes_max: 64 * 1024,
            request_bytes_max: 256 * 1024 * 1024,
        }
    }
}

impl ParserLimits {
    /// What a connection may send before it authenticates: ten arguments
    /// of at most 16 KiB each (as Redis allows), enough for `AUTH` and
    /// `HELLO ... AUTH ... SETNAME ...`, so that a client without
    /// credentials cannot make the server hold large requests.
    pub const fn unauthenticated() -> Self {
        ParserLimits {
            args_max: 10,
            bulk_bytes_max: 16 * 1024,
            inline_bytes_max: 16 * 1024,
            request_bytes_max: 64 * 1024,
        }
    }
}

/// A request that breaks the protocol or a limit. The connection that
/// sent it is answered with `-ERR Protocol error: ...` and closed, as Redis
/// does, because the position of the next frame is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An array length that is not a number, is negative below -1, or is
    /// above the argument limit.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// An array length above [`ParserLimits::args_max`].
    #[error("invalid multibulk length ({len} arguments, above the limit of {max})")]
    TooManyArguments {
        /// The length the client claimed.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A bulk length that is not a number or is negative.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// A bulk length above [`ParserLimits::bulk_bytes_max`].
    #[error("invalid bulk length ({len} bytes, above the value limit of {max} bytes)")]
    BulkTooLarge {
        /// The length the client claimed.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A length line with no CRLF within its first 32 bytes.
    #[error("too big length line")]
    LengthLineTooLong,
    /// An array element that is not a bulk string.
    #[error("expected '$', got '{}'", char::from(*.found).escape_default())]
    ExpectedBulk {
        /// The byte found instead of `$`.
        found: u8,
    },
    /// A line or bulk string not ended by CRLF.
    #[error("expected CRLF")]
    ExpectedCrlf,
    /// An inline request line longer than [`ParserLimits::inline_bytes_max`].
    #[error("too big inline request (more than {max} bytes without a newline)")]
    InlineTooLarge {
        /// The limit.
        max: usize,
    },
    /// An inline request with an unterminated quoted argument.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A request frame larger than [`ParserLimits::request_bytes_max`].
    #[error("request too large ({bytes} bytes or more, above the limit of {max} bytes)")]
    RequestTooLarge {
        /// The size the frame reaches at least.
        bytes: u64,
        /// The limit.
        max: usize,
    },
    /// A reply value (in [`decode_value`]) of an unknown type or a bad form.
    #[error("invalid value: {0}")]
    InvalidValue(&'static str),
    /// A reply value nested more than [`DECODE_DEPTH_MAX`] deep.
    #[error("value nested more than {DECODE_DEPTH_MAX} deep")]
    TooDeep,
}

/// Result of the protocol parsers.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;

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

/// Splits an inline line into arguments the way `redis-cli` quotes them:
/// words separated by blanks; `"..."` with backslash escapes (`\n`, `\r`,
/// `\t`, `\b`, `\a`, `\\`, `\"`, `\xHH`) and `'...'` with only `\'`.
fn split_inline(line: &[u8], out: &mut Vec<u8>, spans: &mut Vec<Range<usize>>) -> Result<()> {
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

/// Parses a decimal integer with an optional `-`, refusing empty input,
/// other characters and overflow.
pub fn parse_i64(digits: &[u8]) -> Option<i64> {
    let (negative, body) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if body.is_empty() || body.len() > 19 {
        return None;
    }
    let mut magnitude: i64 = 0;
    for &byte in body {
        if !byte.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(byte - b'0');
        magnitude = if negative {
            magnitude.checked_mul(10)?.checked_sub(digit)?
        } else {
            magnitude.checked_mul(10)?.checked_add(digit)?
        };
    }
    Some(magnitude)
}

/// The protocol version a connection speaks (`HELLO 2` or `HELLO 3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, what a connection starts with.
    #[default]
    Resp2,
    /// RESP3: nulls, maps, sets, doubles and booleans have types of their own.
    Resp3,
}

impl Protocol {
    /// The number `HELLO` takes and reports.
    pub fn version(self) -> i64 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// Encodes replies into a byte buffer in one protocol version. Types RESP2
/// lacks are written the way Redis writes them there: a map as a flat
/// array of keys and values, a set as an array, a null as a null bulk
/// string, a boolean as an integer, a double as a bulk string.
#[derive(Debug)]
pub struct ReplyWriter<'a> {
    out: &'a mut Vec<u8>,
    protocol: Protocol,
}

impl<'a> ReplyWriter<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>, protocol: Protocol) -> Self {
        ReplyWriter { out, protocol }
    }

    /// The protocol version written.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// `+text`; CR and LF in `text` are replaced by spaces.
    pub fn simple(&mut self, text: &str) {
        self.out.push(b'+');
        self.line(text.as_bytes());
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.out.extend_from_slice(b"+OK\r\n");
    }

    /// `-CODE message`: `text` must start with an error code such as `ERR`;
    /// CR and LF in it are replaced by spaces.
    pub fn error(&mut self, text: &str) {
        self.out.push(b'-');
        self.line(text.as_bytes());
    }

    /// `:n`.
    pub fn integer(&mut self, n: i64) {
        self.out.push(b':');
        push_i64(self.out, n);
        self.out.extend_from_slice(b"\r\n");
    }

    /// `$len\r\nbytes\r\n`.
    pub fn bulk(&mut self, bytes: &[u8]) {
        self.out.push(b'$');
        push_i64(self.out, bytes.len() as i64);
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(bytes);
        self.out.extend_from_slice(b"\r\n");
    }

    /// A null: `_` in RESP3, a null bulk string (`$-1`) in RESP2.
    pub fn null(&mut self) {
        match self.protocol {
            Protocol::Resp2 => self.out.extend_from_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.out.extend_from_slice(b"_\r\n"),
        }
    }

    /// A null where an array was expected: `_` in RESP3, `*-1` in RESP2.
    pub fn null_array(&mut self) {
        match self.protocol {
            Protocol::Resp2 => self.out.extend_from_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.out.extend_from_slice(b"_\r\n"),
        }
    }

    /// The header of an array of `len` elements, which follow.
    pub fn array(&mut self, len: usize) {
        self.header(b'*', len);
    }

    /// The header of a map of `len` pairs (a key then a value each follow).
    pub fn map(&mut self, len: usize) {
        match self.protocol {
            Protocol::Resp2 => self.header(b'*', len * 2),
            Protocol::Resp3 => self.header(b'%', len),
        }
    }

    /// The header of a set of `len` elements.
    pub fn set(&mut self, len: usize) {
        match self.protocol {
            Protocol::Resp2 => self.header(b'*', len),
            Protocol::Resp3 => self.header(b'~', len),
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, value: bool) {
        match self.protocol {
            Protocol::Resp2 => self.integer(i64::from(value)),
            Protocol::Resp3 if value => self.out.extend_from_slice(b"#t\r\n"),
            Protocol::Resp3 => self.out.extend_from_slice(b"#f\r\n"),
        }
    }

    /// A verbatim text (`=len\r\ntxt:...` in RESP3, a bulk string in RESP2),
    /// as `INFO` and `CLIENT INFO` reply.
    pub fn verbatim_text(&mut self, text: &[u8]) {
        match self.protocol {
            Protocol::Resp2 => self.bulk(text),
            Protocol::Resp3 => {
                self.out.push(b'=');
                push_i64(self.out, text.len() as i64 + 4);
                self.out.extend_from_slice(b"\r\ntxt:");
                self.out.extend_from_slice(text);
                self.out.extend_from_slice(b"\r\n");
            }
        }
    }

    fn header(&mut self, kind: u8, len: usize) {
        self.out.push(kind);
        push_i64(self.out, len as i64);
        self.out.extend_from_slice(b"\r\n");
    }

    fn line(&mut self, text: &[u8]) {
        self.out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.out.extend_from_slice(b"\r\n");
    }
}

/// Appends the decimal digits of `n`.
pub fn push_i64(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0_u8; 20];
    let mut i = digits.len();
    let mut magnitude = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], limits: ParserLimits) -> Result<Vec<Vec<Vec<u8>>>> {
        let mut parser = RequestParser::new(limits);
        let mut offset = 0;
        let mut requests = Vec::new();
        while let Some(request) = parser.parse(&input[offset..])? {
            offset += request.frame_bytes();
            requests.push(request.args().map(<[u8]>::to_vec).collect());
        }
        Ok(requests)
    }

    fn args(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn pipelined_arrays_parse_one_after_the_other() {
        let input = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n";
        let requests = parse_all(input, ParserLimits::default()).expect("valid");
        assert_eq!(requests, vec![args(&["PING"]), args(&["SET", "k", ""])]);
    }

    #[test]
    fn binary_values_keep_every_byte() {
        let input = b"*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\x00\xff\r\n";
        let requests = parse_all(input, ParserLimits::default()).expect("valid");
        assert_eq!(requests[0][1], b"\r\n\x00\xff");
    }

    #[test]
    fn a_frame_split_at_every_byte_resumes_to_the_same_request() {
        let input = b"*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$11\r\nhello world\r\n";
        for split in 0..input.len() {
            let mut parser = RequestParser::new(ParserLimits::default());
            assert!(
                parser
                    .parse(&input[..split])
                    .expect("valid prefix")
                    .is_none(),
                "prefix of {split} bytes is incomplete"
            );
            let request = parser.parse(input).expect("valid").expect("complete");
            assert_eq!(request.frame_bytes(), input.len());
            assert_eq!(request.arg(2), b"hello world");
        }
    }

    #[test]
    fn inline_requests_split_on_blanks_and_unquote() {
        let input = b"SET k \"a b\\x41\\n\" 'it\\'s'\r\nPING\n\r\n";
        let requests = parse_all(input, ParserLimits::default()).expect("valid");
        assert_eq!(
            requests,
            vec![
                vec![
                    b"SET".to_vec(),
                    b"k".to_vec(),
                    b"a bA\n".to_vec(),
                    b"it's".to_vec()
                ],
                args(&["PING"]),
                args(&[]),
            ]
        );
    }

    #[test]
    fn unbalanced_inline_quotes_are_an_error() {
        for input in [&b"SET k \"abc\r\n"[..], b"SET k 'abc\n", b"SET \"a\"b\n"] {
            assert_eq!(
                parse_all(input, ParserLimits::default()),
                Err(ProtocolError::UnbalancedQuotes)
            );
        }
    }

    #[test]
    fn a_bulk_above_the_value_limit_is_refused_before_its_bytes_arrive() {
        let limits = ParserLimits {
            bulk_bytes_max: 1024,
            ..ParserLimits::default()
        };
        let mut parser = RequestParser::new(limits);
        let error = parser
            .parse(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n")
            .expect_err("above the limit");
        assert_eq!(
            error,
            ProtocolError::BulkTooLarge {
                len: 1025,
                max: 1024
            }
        );
    }

    #[test]
    fn absurd_lengths_are_refused_without_allocating_them() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (
                b"*9223372036854775807\r\n",
                ProtocolError::TooManyArguments {
                    len: i64::MAX as u64,
                    max: 1024 * 1024,
                },
            ),
            (
                b"*1\r\n$9223372036854775807\r\n",
                ProtocolError::BulkTooLarge {
                    len: i64::MAX as u64,
                    max: 64 * 1024 * 1024,
                },
            ),
            (
                b"*99999999999999999999\r\n",
                ProtocolError::InvalidMultibulkLength,
            ),
            (b"*1\r\n$-1\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n$12a\r\n", ProtocolError::InvalidBulkLength),
            (b"*1\r\n$\r\n", ProtocolError::InvalidBulkLength),
            (b"*\r\n", ProtocolError::InvalidMultibulkLength),
            (b"*1\r\n:1\r\n", ProtocolError::ExpectedBulk { found: b':' }),
            (b"*1\r\n$1\r\nab\r\n", ProtocolError::ExpectedCrlf),
            (b"*1\rX", ProtocolError::ExpectedCrlf),
            (&[b'*'; 40], ProtocolError::LengthLineTooLong),
        ];
        for (input, expected) in cases {
            let got = parse_all(input, ParserLimits::default());
            assert_eq!(
                got.as_ref(),
                Err(expected),
                "input {:?}",
                input.escape_ascii().to_string()
            );
        }
    }

    #[test]
    fn a_request_above_the_frame_limit_is_refused() {
        let limits = ParserLimits {
            request_bytes_max: 64,
            ..ParserLimits::default()
        };
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$60\r\n", limits);
        assert!(matches!(
            got,
            Err(ProtocolError::RequestTooLarge { max: 64, .. })
        ));
    }

    #[test]
    fn an_inline_line_without_newline_is_bounded() {
        let limits = ParserLimits {
            inline_bytes_max: 16,
            ..ParserLimits::default()
        };
        assert_eq!(parse_all(&[b'a'; 16], limits), Ok(vec![]));
        let few_args = ParserLimits {
            args_max: 2,
            ..ParserLimits::default()
        };
        assert!(matches!(
            parse_all(b"a b c\n", few_args),
            Err(ProtocolError::TooManyArguments { len: 3, max: 2 })
        ));
        assert_eq!(
            parse_all(&[b'a'; 17], limits),
            Err(ProtocolError::InlineTooLarge { max: 16 })
        );
    }

    #[test]
    fn empty_and_null_arrays_are_empty_requests() {
        let requests = parse_all(b"*0\r\n*-1\r\n", ParserLimits::default()).expect("valid");
        assert_eq!(requests, vec![args(&[]), args(&[])]);
    }

    #[test]
    fn integers_parse_strictly() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [&b""[..], b"-", b"+1", b"1 ", b"9223372036854775808", b"0x1"] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn replies_encode_per_protocol() {
        let mut two = Vec::new();
        let mut writer = ReplyWriter::new(&mut two, Protocol::Resp2);
        writer.map(1);
        writer.bulk(b"k");
        writer.null();
        writer.boolean(true);
        writer.integer(i64::MIN);
        writer.error("ERR bad\r\nline");
        assert_eq!(
            two,
            b"*2\r\n$1\r\nk\r\n$-1\r\n:1\r\n:-9223372036854775808\r\n-ERR bad  line\r\n"
        );

        let mut three = Vec::new();
        let mut writer = ReplyWriter::new(&mut three, Protocol::Resp3);
        writer.map(1);
        writer.bulk(b"k");
        writer.null();
        writer.set(0);
        writer.boolean(false);
        writer.verbatim_text(b"a");
        assert_eq!(three, b"%1\r\n$1\r\nk\r\n_\r\n~0\r\n#f\r\n=5\r\ntxt:a\r\n");
    }

    #[test]
    fn encoded_replies_decode_back() {
        let mut out = Vec::new();
        let mut writer = ReplyWriter::new(&mut out, Protocol::Resp3);
        writer.array(3);
        writer.integer(-42);
        writer.map(1);
        writer.simple("proto");
        writer.bulk(b"\x00\r\n");
        writer.set(1);
        writer.null();
        let (value, used) = decode_value(&out, &ParserLimits::default())
            .expect("valid")
            .expect("complete");
        assert_eq!(used, out.len());
        assert_eq!(
            value,
            Value::Array(vec![
                Value::Integer(-42),
                Value::Map(vec![(
                    Value::Simple(b"proto".to_vec()),
                    Value::Bulk(b"\x00\r\n".to_vec())
                )]),
                Value::Set(vec![Value::Null]),
            ])
        );
        for split in 0..out.len() {
            assert_eq!(
                decode_value(&out[..split], &ParserLimits::default()),
                Ok(None)
            );
        }
    }

    #[test]
    fn decoding_bounds_depth_and_lengths() {
        let deep = b"*1\r\n".repeat(DECODE_DEPTH_MAX + 2);
        assert_eq!(
            decode_value(&deep, &ParserLimits::default()),
            Err(ProtocolError::TooDeep)
        );
        let wide = b"%9223372036854775807\r\n";
        assert!(matches!(
            decode_value(wide, &ParserLimits::default()),
            Err(ProtocolError::TooManyArguments { .. })
        ));
        assert!(decode_value(b"?\r\n", &ParserLimits::default()).is_err());
        // Found by the fuzzer: a CR as the type byte.
        assert!(decode_value(b"\r\n\r`\n", &ParserLimits::default()).is_err());
    }
}
