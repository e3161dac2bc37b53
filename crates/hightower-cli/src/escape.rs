//! Showing arbitrary bytes as one line of ASCII text.
//!
//! Keys and values are byte strings, so printing them raw could break a
//! terminal or a line-oriented consumer. [`escape_bytes`] keeps printable
//! ASCII as it is, writes a backslash as `\\`, tab, newline and carriage
//! return as `\t`, `\n` and `\r`, and every other byte as `\xNN`. The
//! output never holds a tab or a line break, so `key<TAB>value` lines split
//! unambiguously, and the escaping can be undone byte for byte.

use std::fmt::Write as _;

/// The bytes as escaped ASCII text (see the module docs).
pub(crate) fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        push_escaped(&mut out, byte);
    }
    out
}

fn push_escaped(out: &mut String, byte: u8) {
    match byte {
        b'\\' => out.push_str("\\\\"),
        b'\t' => out.push_str("\\t"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b' '..=b'~' => out.push(char::from(byte)),
        _ => {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_is_kept() {
        assert_eq!(escape_bytes(b"user:42 name=ada"), "user:42 name=ada");
    }

    #[test]
    fn separators_and_backslashes_are_escaped() {
        assert_eq!(escape_bytes(b"a\tb\nc\rd\\e"), "a\\tb\\nc\\rd\\\\e");
    }

    #[test]
    fn other_bytes_become_hex() {
        assert_eq!(escape_bytes(&[0x00, 0x7f, 0xff]), "\\x00\\x7f\\xff");
        assert_eq!(escape_bytes("\u{e9}".as_bytes()), "\\xc3\\xa9");
    }

    #[test]
    fn output_is_one_ascii_line() {
        let all: Vec<u8> = (0..=255).collect();
        let shown = escape_bytes(&all);
        assert!(shown.is_ascii());
        assert!(!shown.contains(['\t', '\n', '\r']));
    }
}
