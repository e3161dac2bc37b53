//! The cryptography of the auth layer: [`SecretHasher`] (Argon2id password
//! hashes in PHC strings) and [`EnvelopeEncryptor`] (AES-256-GCM-SIV
//! envelope encryption under a keyring of master keys).
//!
//! Further hashers or encryptors belong here too. Constructors are
//! explicit and return `Result` when an input can be invalid (a key of the
//! wrong size, hashing parameters out of range).

mod envelope;
mod hasher;

pub use envelope::{
    BLOB_FORMAT_VERSION, BlobContext, EnvelopeEncryptor, MASTER_KEY_BYTES, MasterKey,
    SEALED_OVERHEAD_BYTES, SealedBlob,
};
pub use hasher::{HashParams, PASSWORD_BYTES_MAX, PasswordHash, SecretHasher, SecretHasherBuilder};

use zeroize::Zeroizing;

use crate::error::{AuthError, Result};

/// `N` bytes from the operating system's random number generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|e| AuthError::Random {
        reason: e.to_string(),
    })?;
    Ok(bytes)
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// The bytes of lowercase or uppercase hex `text` into `out`, which must be
/// exactly half as long; `None` on any other character or length.
pub(crate) fn hex_decode_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            b'A'..=b'F' => Some(digit - b'A' + 10),
            _ => None,
        }
    }
    if text.len() != out.len() * 2 {
        return None;
    }
    for (pair, byte) in text.chunks_exact(2).zip(out.iter_mut()) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes = [0x00, 0x7f, 0x80, 0xff, 0x12];
        let text = hex_encode(&bytes);
        assert_eq!(text, "007f80ff12");
        let mut back = [0u8; 5];
        assert_eq!(hex_decode_into(text.as_bytes(), &mut back), Some(()));
        assert_eq!(back, bytes);
    }

    #[test]
    fn hex_rejects_bad_digits_and_lengths() {
        let mut out = [0u8; 2];
        assert_eq!(hex_decode_into(b"zz00", &mut out), None);
        assert_eq!(hex_decode_into(b"000", &mut out), None);
        assert_eq!(hex_decode_into(b"000000", &mut out), None);
    }

    #[test]
    fn random_bytes_differ() {
        let a = random_bytes::<32>().unwrap();
        let b = random_bytes::<32>().unwrap();
        assert_ne!(*a, *b);
    }
}
