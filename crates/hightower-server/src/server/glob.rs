//! Glob patterns of `KEYS` and `SCAN ... MATCH`, as Redis reads them:
//! `*` (any bytes), `?` (one byte), `[abc]`, `[^abc]`, `[a-z]` and `\`
//! to take the next byte literally.
//!
//! [`Glob::matches`] runs in O(pattern x key) time whatever the pattern:
//! every element but `*` matches exactly one byte, so backtracking to the
//! last `*` is enough and no recursion is needed.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `*`.
    Star,
    /// `?`.
    Any,
    /// A byte taken literally.
    Byte(u8),
    /// `[...]`: inclusive byte ranges, negated with `^`.
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

impl Token {
    fn matches_byte(&self, byte: u8) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Byte(expected) => *expected == byte,
            Token::Class { negated, ranges } => {
                ranges
                    .iter()
                    .any(|&(low, high)| low <= byte && byte <= high)
                    != *negated
            }
        }
    }
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    /// The bytes every match starts with (the literal head of the pattern).
    prefix: Vec<u8>,
}

impl Glob {
    /// Compiles `pattern`. Every pattern is valid: an unclosed `[` takes
    /// the rest of the pattern as its class, a trailing `\` is literal.
    pub fn new(pattern: &[u8]) -> Self {
        let tokens = tokenize(pattern);
        let prefix = tokens
            .iter()
            .map_while(|token| match token {
                Token::Byte(byte) => Some(*byte),
                _ => None,
            })
            .collect();
        Glob { tokens, prefix }
    }

    /// The bytes every matching key starts with; a scan can start there.
    pub fn literal_prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Whether the pattern is `*`, matching every key.
    pub fn matches_everything(&self) -> bool {
        !self.tokens.is_empty() && self.tokens.iter().all(|t| *t == Token::Star)
    }

    /// Whether `key` matches the whole pattern.
    pub fn matches(&self, key: &[u8]) -> bool {
        let tokens = &self.tokens;
        let (mut t, mut k) = (0, 0);
        // The token after the last `*` seen, and the key offset it took.
        let mut backtrack: Option<(usize, usize)> = None;
        while k < key.len() {
            match tokens.get(t) {
                Some(Token::Star) => {
                    backtrack = Some((t + 1, k));
                    t += 1;
                }
                Some(token) if token.matches_byte(key[k]) => {
                    t += 1;
                    k += 1;
                }
                _ => match backtrack {
                    Some((after_star, taken)) => {
                        t = after_star;
                        k = taken + 1;
                        backtrack = Some((after_star, taken + 1));
                    }
                    None => return false,
                },
            }
        }
        tokens[t..].iter().all(|token| *token == Token::Star)
    }
}

fn tokenize(pattern: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        let token = match pattern[i] {
            b'*' => Token::Star,
            b'?' => Token::Any,
            b'\\' if i + 1 < pattern.len() => {
                i += 1;
                Token::Byte(pattern[i])
            }
            b'[' => {
                let (token, next) = class(pattern, i + 1);
                i = next;
                tokens.push(token);
                continue;
            }
            byte => Token::Byte(byte),
        };
        // Consecutive stars match what one does.
        if !(token == Token::Star && tokens.last() == Some(&Token::Star)) {
            tokens.push(token);
        }
        i += 1;
    }
    tokens
}

/// Parses a class whose body starts at `i`; returns it and the offset after
/// its closing `]` (or the end of the pattern).
fn class(pattern: &[u8], mut i: usize) -> (Token, usize) {
    let negated = pattern.get(i) == Some(&b'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    while i < pattern.len() && pattern[i] != b']' {
        let mut low = pattern[i];
        if low == b'\\' && i + 1 < pattern.len() {
            i += 1;
            low = pattern[i];
        }
        if pattern.get(i + 1) == Some(&b'-') && i + 2 < pattern.len() && pattern[i + 2] != b']' {
            let high = pattern[i + 2];
            ranges.push((low.min(high), low.max(high)));
            i += 3;
        } else {
            ranges.push((low, low));
            i += 1;
        }
    }
    (Token::Class { negated, ranges }, (i + 1).min(pattern.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, key: &str) -> bool {
        Glob::new(pattern.as_bytes()).matches(key.as_bytes())
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("user:*", "user:1"));
        assert!(!matches("user:*", "use"));
        assert!(matches("h?llo", "hello"));
        assert!(!matches("h?llo", "hllo"));
        assert!(matches("*a*b*c", "xxaxxbxxc"));
        assert!(!matches("*a*b*c", "xxaxxcxxb"));
        assert!(matches("a*", "a"));
        assert!(!matches("", "a"));
        assert!(matches("", ""));
    }

    #[test]
    fn classes_ranges_negation_and_escapes() {
        assert!(matches("h[ae]llo", "hallo"));
        assert!(!matches("h[ae]llo", "hillo"));
        assert!(matches("h[^e]llo", "hallo"));
        assert!(!matches("h[^e]llo", "hello"));
        assert!(matches("h[a-b]llo", "hbllo"));
        assert!(matches("h[b-a]llo", "hallo"));
        assert!(matches("x\\*", "x*"));
        assert!(!matches("x\\*", "xy"));
        assert!(matches("[\\]]", "]"));
        assert!(matches("a[bc", "ac"));
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(Glob::new(b"user:*").literal_prefix(), b"user:");
        assert_eq!(Glob::new(b"a\\*b*").literal_prefix(), b"a*b");
        assert_eq!(Glob::new(b"*x").literal_prefix(), b"");
        assert!(Glob::new(b"**").matches_everything());
        assert!(!Glob::new(b"").matches_everything());
    }

    #[test]
    fn many_stars_against_a_long_key_finish_quickly() {
        let pattern = "*a".repeat(50) + "b";
        let key = "a".repeat(10_000);
        assert!(!matches(&pattern, &key));
    }
}
