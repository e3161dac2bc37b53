//! API key tokens: `hk_<id>_<secret>`, where the id is 16 hex digits (8
//! random bytes) and the secret 64 hex digits (32 random bytes from the
//! operating system). Only a BLAKE2b-256 hash of the id and secret is
//! stored; with 256 random bits a fast hash is enough, and it keeps
//! verification cheap.

use std::fmt;
use std::time::Duration;

use blake2::{Blake2b256, Digest};
use zeroize::Zeroizing;

use crate::crypto::{hex_decode_into, hex_encode, random_bytes};
use crate::error::Result;
use crate::grants::Grant;

/// Every token starts with this, so that a leaked one is easy to spot.
pub const TOKEN_PREFIX: &str = "hk_";
/// Hex digits in a key id.
pub(crate) const KEY_ID_HEX_DIGITS: usize = 16;
/// Random bytes in a key secret.
pub(crate) const SECRET_BYTES: usize = 32;

const TOKEN_LEN: usize = TOKEN_PREFIX.len() + KEY_ID_HEX_DIGITS + 1 + 2 * SECRET_BYTES;
const HASH_DOMAIN: &[u8] = b"hightower-auth api key v1\0";

/// An API key token as created: shown to its owner once, never stored.
/// `Debug` shows only the id.
pub struct ApiKeyToken(Zeroizing<String>);

impl ApiKeyToken {
    /// The whole token, `hk_<id>_<secret>`, to hand to the owner.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id_end = TOKEN_PREFIX.len() + KEY_ID_HEX_DIGITS;
        let id = self.0.get(..id_end).unwrap_or("hk_?");
        write!(f, "ApiKeyToken({id}_<redacted>)")
    }
}

/// A key just created: its id, and its token (shown this once).
#[derive(Debug)]
pub struct NewApiKey {
    /// The key id, for listing and revoking.
    pub id: String,
    /// The token the client presents.
    pub token: ApiKeyToken,
}

/// Options of a new API key.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyOptions {
    /// A free-text label (at most 128 bytes of printable ASCII).
    pub label: String,
    /// `None`: act with the owner's grants. `Some`: these grants, and only
    /// as far as the owner's grants also allow.
    pub grants: Option<Vec<Grant>>,
    /// The key stops working this long after its creation.
    pub expires_in: Option<Duration>,
}

/// A fresh key id, secret and token.
pub(crate) fn generate() -> Result<(String, Zeroizing<[u8; SECRET_BYTES]>, ApiKeyToken)> {
    let id = hex_encode(random_bytes::<8>()?.as_slice());
    let secret = random_bytes::<SECRET_BYTES>()?;
    let mut token = Zeroizing::new(String::with_capacity(TOKEN_LEN));
    token.push_str(TOKEN_PREFIX);
    token.push_str(&id);
    token.push('_');
    token.push_str(&Zeroizing::new(hex_encode(secret.as_slice())));
    debug_assert_eq!(token.len(), TOKEN_LEN);
    Ok((id, secret, ApiKeyToken(token)))
}

/// The id and secret of a well-formed token; `None` otherwise.
pub(crate) fn parse(token: &str) -> Option<(&str, Zeroizing<[u8; SECRET_BYTES]>)> {
    if token.len() != TOKEN_LEN {
        return None;
    }
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret_hex) = rest.split_at_checked(KEY_ID_HEX_DIGITS)?;
    let secret_hex = secret_hex.strip_prefix('_')?;
    if !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
    hex_decode_into(secret_hex.as_bytes(), secret.as_mut_slice())?;
    Some((id, secret))
}

/// The stored hash of a key's id and secret.
pub(crate) fn hash(id: &str, secret: &[u8; SECRET_BYTES]) -> [u8; 32] {
    let mut hasher = Blake2b256::new();
    hasher.update(HASH_DOMAIN);
    hasher.update(id.as_bytes());
    hasher.update(b"\0");
    hasher.update(secret);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_back_to_their_parts() {
        let (id, secret, token) = generate().unwrap();
        let text = token.expose_secret();
        assert!(text.starts_with("hk_"));
        assert_eq!(text.len(), TOKEN_LEN);
        let (parsed_id, parsed_secret) = parse(text).unwrap();
        assert_eq!(parsed_id, id);
        assert_eq!(*parsed_secret, *secret);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let (_, _, token) = generate().unwrap();
        let text = token.expose_secret();
        let mut wrong_prefix = text.to_owned();
        wrong_prefix.replace_range(..3, "hx_");
        let mut no_separator = text.to_owned();
        no_separator.replace_range(19..20, "-");
        let mut bad_hex = text.to_owned();
        bad_hex.replace_range(30..31, "g");
        let mut upper_id = text.to_owned();
        upper_id.replace_range(3..4, "G");
        for bad in [
            "",
            "hk_",
            &text[..text.len() - 1],
            &format!("{text}0"),
            &wrong_prefix,
            &no_separator,
            &bad_hex,
            &upper_id,
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        // Non-ASCII input of the right length does not panic.
        let odd = "\u{e9}".repeat(TOKEN_LEN / 2);
        assert!(parse(&odd).is_none());
    }

    #[test]
    fn hash_binds_id_and_secret() {
        let secret = [1u8; SECRET_BYTES];
        let mut other = secret;
        other[31] ^= 1;
        assert_ne!(
            hash("aaaaaaaaaaaaaaaa", &secret),
            hash("aaaaaaaaaaaaaaab", &secret)
        );
        assert_ne!(
            hash("aaaaaaaaaaaaaaaa", &secret),
            hash("aaaaaaaaaaaaaaaa", &other)
        );
    }

    #[test]
    fn debug_shows_only_the_id() {
        let (id, secret, token) = generate().unwrap();
        let secret_hex = hex_encode(secret.as_slice());
        let shown = format!(
            "{:?}",
            NewApiKey {
                id: id.clone(),
                token
            }
        );
        assert!(shown.contains(&id));
        assert!(!shown.contains(&secret_hex[..8]), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.len() < 120, "{shown}");
    }
}
