//! The reply writer: RESP2 and RESP3 encodings of every reply.

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
