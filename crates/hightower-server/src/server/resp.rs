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
//!
//! One role a file: `request` (the request parser), `inline` (the inline
//! request's word splitting and unquoting), `reply` (the reply writer) and
//! `value` (the decoder of any value); the limits, the error type and the
//! integer parsing they share are here.

mod inline;
mod reply;
mod request;
#[cfg(test)]
mod tests;
mod value;

pub use reply::{Protocol, ReplyWriter, push_i64};
pub use request::{Request, RequestParser};
pub use value::{Value, decode_value};

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
