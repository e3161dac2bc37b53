//! [`Key`]: a key as the index stores it, inline up to
//! [`INLINE_KEY_BYTES_MAX`] bytes.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use crate::INLINE_KEY_BYTES_MAX;

/// A key as the index stores it: up to [`INLINE_KEY_BYTES_MAX`] bytes live
/// inline; longer keys spill to the heap.
///
/// It orders, compares and hashes exactly as its bytes (`[u8]`) do, so a
/// map keyed by `Key` is looked up by `&[u8]`. Comparing two keys first
/// compares their first eight bytes as one big-endian integer: for keys of
/// at least eight bytes that differ there (most keys of a large index),
/// that decides without a call to `memcmp`, which building and updating
/// the index's trees spends much of their time in otherwise.
#[derive(Clone, Default)]
pub struct Key(smallvec::SmallVec<[u8; INLINE_KEY_BYTES_MAX]>);

impl Key {
    /// A key holding a copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(smallvec::SmallVec::from_slice(bytes))
    }

    /// The key's bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.0.as_slice()
    }

    /// Whether the key is too long to be stored inline and lives on the
    /// heap.
    pub fn spilled(&self) -> bool {
        self.0.spilled()
    }

    /// Removes the last byte and returns it, `None` when the key is empty.
    pub fn pop(&mut self) -> Option<u8> {
        self.0.pop()
    }

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) {
        self.0.push(byte);
    }
}

impl Deref for Key {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for Key {
    fn from(bytes: &[u8]) -> Self {
        Self::from_slice(bytes)
    }
}

impl From<Vec<u8>> for Key {
    fn from(bytes: Vec<u8>) -> Self {
        Self(smallvec::SmallVec::from_vec(bytes))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        let (left, right) = (self.as_slice(), other.as_slice());
        if let (Some(left_head), Some(right_head)) =
            (left.first_chunk::<8>(), right.first_chunk::<8>())
        {
            // Big-endian integers order as their bytes do.
            let (left_head, right_head) = (
                u64::from_be_bytes(*left_head),
                u64::from_be_bytes(*right_head),
            );
            if left_head != right_head {
                return left_head.cmp(&right_head);
            }
        }
        left.cmp(right)
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that `Borrow<[u8]>` lookups find the key.
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_as_its_bytes() {
        let keys: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"abcdefg",
            b"abcdefgh",
            b"abcdefgh\x00",
            b"abcdefgi",
            b"abcdefghijklmnopqrstuvwxyz",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x00\x00\x00\x00\x00\x00\x00\x01",
            b"\x80",
        ];
        for left in &keys {
            for right in &keys {
                let (a, b) = (Key::from_slice(left), Key::from_slice(right));
                assert_eq!(a.cmp(&b), left.cmp(right), "{left:?} vs {right:?}");
                assert_eq!(a == b, left == right);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn random_keys_order_as_their_bytes(
            left in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            right in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
        ) {
            let (a, b) = (Key::from_slice(&left), Key::from_slice(&right));
            proptest::prop_assert_eq!(a.cmp(&b), left.cmp(&right));
        }
    }
}
