//! [`EnvelopeEncryptor`]: AES-256-GCM-SIV envelope encryption under a
//! keyring of master keys.
//!
//! Each blob is sealed under a fresh random data key; the data key is
//! itself sealed (wrapped) by the primary master key. A sealed blob is:
//!
//! | offset | bytes  | field                                        |
//! |--------|--------|----------------------------------------------|
//! | 0      | 2      | magic `HE`                                   |
//! | 2      | 1      | format version (1)                           |
//! | 3      | 4      | master key id, u32 little-endian             |
//! | 7      | 12     | nonce of the wrapped data key                |
//! | 19     | 48     | wrapped data key (32 bytes + 16-byte tag)    |
//! | 67     | 12     | nonce of the data                            |
//! | 79     | n + 16 | the data, encrypted, with its 16-byte tag    |
//!
//! Associated data binds both layers to a [`BlobContext`] (the record and
//! the field the blob belongs to), so a blob copied to another record or
//! field fails to open. The wrapped key's associated data also covers the
//! master key id, so an altered id fails too; the data's does not, which
//! lets [`EnvelopeEncryptor::rewrap`] move a blob to a new master key by
//! rewrapping only its 32-byte data key.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use zeroize::Zeroizing;

use super::{hex_decode_into, hex_encode, random_bytes};
use crate::error::{AuthError, Result};

/// The length of a master key (and of a data key): AES-256.
pub const MASTER_KEY_BYTES: usize = 32;
/// The format version this build writes and reads.
pub const BLOB_FORMAT_VERSION: u8 = 1;

const MAGIC: [u8; 2] = *b"HE";
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const HEADER_BYTES: usize = 2 + 1 + 4;
const KEY_NONCE_AT: usize = HEADER_BYTES;
const WRAPPED_KEY_AT: usize = KEY_NONCE_AT + NONCE_BYTES;
const WRAPPED_KEY_BYTES: usize = MASTER_KEY_BYTES + TAG_BYTES;
const DATA_NONCE_AT: usize = WRAPPED_KEY_AT + WRAPPED_KEY_BYTES;
const CIPHERTEXT_AT: usize = DATA_NONCE_AT + NONCE_BYTES;
/// Bytes a sealed blob adds to its plaintext.
pub const SEALED_OVERHEAD_BYTES: usize = CIPHERTEXT_AT + TAG_BYTES;

const _: () = assert!(HEADER_BYTES == 7);
const _: () = assert!(CIPHERTEXT_AT == 79);
const _: () = assert!(SEALED_OVERHEAD_BYTES == 95);

/// Domain separation of the two layers' associated data.
const KEY_LAYER: u8 = b'K';
const DATA_LAYER: u8 = b'D';

/// A 256-bit master key with its id. Its bytes are wiped when dropped and
/// never shown by `Debug`.
pub struct MasterKey {
    id: u32,
    bytes: Zeroizing<[u8; MASTER_KEY_BYTES]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

impl MasterKey {
    /// A master key from exactly [`MASTER_KEY_BYTES`] bytes.
    pub fn new(id: u32, bytes: &[u8]) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; MASTER_KEY_BYTES]);
        if bytes.len() != MASTER_KEY_BYTES {
            return Err(AuthError::KeySize {
                id,
                expected: MASTER_KEY_BYTES,
                got: bytes.len(),
            });
        }
        key.copy_from_slice(bytes);
        Ok(MasterKey { id, bytes: key })
    }

    /// A fresh master key from the operating system's random generator.
    pub fn generate(id: u32) -> Result<Self> {
        Ok(MasterKey {
            id,
            bytes: random_bytes::<MASTER_KEY_BYTES>()?,
        })
    }

    /// The key id, stored in every blob the key seals.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The key as one line of a key file: `<id> <64 hex digits>\n`.
    /// Write it only to a file readable by its owner alone.
    pub fn to_key_file_line(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{} {}\n",
            self.id,
            hex_encode(self.bytes.as_slice())
        ))
    }

    /// Every key of a key file: one `<id> <64 hex digits>` per line; empty
    /// lines and lines starting with `#` are skipped.
    pub fn parse_key_file(text: &str) -> Result<Vec<MasterKey>> {
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason| AuthError::KeyFile {
                line: index + 1,
                reason,
            };
            let (id, hex) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("expected `<id> <64 hex digits>`"))?;
            let id: u32 = id.parse().map_err(|_| bad("the key id is not a u32"))?;
            let mut bytes = Zeroizing::new([0u8; MASTER_KEY_BYTES]);
            hex_decode_into(hex.trim().as_bytes(), bytes.as_mut_slice())
                .ok_or_else(|| bad("the key is not 64 hex digits (32 bytes)"))?;
            keys.push(MasterKey { id, bytes });
        }
        Ok(keys)
    }
}

/// What a sealed blob belongs to: a record and a field of it. Both are
/// bound into the blob as associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobContext<'a> {
    record: &'a [u8],
    field: &'a str,
}

impl<'a> BlobContext<'a> {
    /// The context of `field` in the record with id `record`.
    pub fn new(record: &'a [u8], field: &'a str) -> Self {
        BlobContext { record, field }
    }

    /// Associated data of one layer: the layer tag, the header bytes the
    /// layer covers, then the record (length-prefixed) and the field.
    fn associated_data(&self, layer: u8, header: &[u8]) -> Vec<u8> {
        let record_len = u32::try_from(self.record.len()).unwrap_or(u32::MAX);
        let mut aad =
            Vec::with_capacity(1 + header.len() + 4 + self.record.len() + self.field.len());
        aad.push(layer);
        aad.extend_from_slice(header);
        aad.extend_from_slice(&record_len.to_le_bytes());
        aad.extend_from_slice(self.record);
        aad.extend_from_slice(self.field.as_bytes());
        aad
    }
}

/// The parts of a sealed blob, borrowed from its bytes; parsing checks
/// the magic, the version and the length, not the cryptography.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SealedBlob<'a> {
    bytes: &'a [u8],
    master_key_id: u32,
}

impl fmt::Debug for SealedBlob<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedBlob")
            .field("master_key_id", &self.master_key_id)
            .field("plaintext_len", &self.plaintext_len())
            .finish()
    }
}

impl<'a> SealedBlob<'a> {
    /// Splits `bytes` into the fields of a version-1 sealed blob.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() < HEADER_BYTES || bytes[..2] != MAGIC {
            return Err(AuthError::MalformedBlob {
                reason: "it does not start with the envelope magic",
            });
        }
        if bytes[2] != BLOB_FORMAT_VERSION {
            return Err(AuthError::UnsupportedBlobVersion {
                version: bytes[2],
                supported: BLOB_FORMAT_VERSION,
            });
        }
        if bytes.len() < SEALED_OVERHEAD_BYTES {
            return Err(AuthError::MalformedBlob {
                reason: "it is shorter than the envelope overhead",
            });
        }
        let id_bytes: [u8; 4] = bytes[3..HEADER_BYTES]
            .try_into()
            .expect("the header holds a four-byte key id");
        Ok(SealedBlob {
            bytes,
            master_key_id: u32::from_le_bytes(id_bytes),
        })
    }

    /// The id of the master key that wraps the data key.
    pub fn master_key_id(&self) -> u32 {
        self.master_key_id
    }

    /// The length of the plaintext inside.
    pub fn plaintext_len(&self) -> usize {
        self.bytes.len() - SEALED_OVERHEAD_BYTES
    }

    fn header(&self) -> &'a [u8] {
        &self.bytes[..HEADER_BYTES]
    }

    fn key_nonce(&self) -> &'a [u8] {
        &self.bytes[KEY_NONCE_AT..WRAPPED_KEY_AT]
    }

    fn wrapped_key(&self) -> &'a [u8] {
        &self.bytes[WRAPPED_KEY_AT..DATA_NONCE_AT]
    }

    /// The data nonce and the encrypted data with its tag.
    fn data_part(&self) -> &'a [u8] {
        &self.bytes[DATA_NONCE_AT..]
    }
}

/// Seals and opens blobs under a keyring of master keys: new blobs use the
/// primary key; blobs under any key of the ring still open.
pub struct EnvelopeEncryptor {
    keys: BTreeMap<u32, Aes256GcmSiv>,
    primary: u32,
}

impl fmt::Debug for EnvelopeEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeEncryptor")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("primary", &self.primary)
            .finish()
    }
}

impl EnvelopeEncryptor {
    /// An encryptor with one master key.
    pub fn new(primary: MasterKey) -> Self {
        let id = primary.id;
        let mut keys = BTreeMap::new();
        keys.insert(id, cipher(&primary.bytes));
        EnvelopeEncryptor { keys, primary: id }
    }

    /// An encryptor over several master keys; `primary_id` seals new blobs.
    /// Fails on an empty ring, a repeated id or a missing primary.
    pub fn with_keyring(keys: Vec<MasterKey>, primary_id: u32) -> Result<Self> {
        let mut ring = BTreeMap::new();
        for key in &keys {
            if ring.insert(key.id, cipher(&key.bytes)).is_some() {
                return Err(AuthError::Keyring {
                    reason: format!("master key id {} appears twice", key.id),
                });
            }
        }
        if !ring.contains_key(&primary_id) {
            return Err(AuthError::Keyring {
                reason: format!("the primary key id {primary_id} is not in the keyring"),
            });
        }
        Ok(EnvelopeEncryptor {
            keys: ring,
            primary: primary_id,
        })
    }

    /// An encryptor over every key of a key file (see
    /// [`MasterKey::parse_key_file`]); the highest id is the primary.
    pub fn from_key_file(text: &str) -> Result<Self> {
        let keys = MasterKey::parse_key_file(text)?;
        let primary = keys
            .iter()
            .map(MasterKey::id)
            .max()
            .ok_or_else(|| AuthError::Keyring {
                reason: "the key file holds no key".into(),
            })?;
        Self::with_keyring(keys, primary)
    }

    /// The id of the key that seals new blobs.
    pub fn primary_key_id(&self) -> u32 {
        self.primary
    }

    /// The ids of every key in the ring, ascending.
    pub fn key_ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// `plaintext` sealed under a fresh data key, wrapped by the primary key.
    pub fn seal(&self, plaintext: &[u8], context: &BlobContext<'_>) -> Result<Vec<u8>> {
        let data_key = random_bytes::<MASTER_KEY_BYTES>()?;
        let data_nonce = random_bytes::<NONCE_BYTES>()?;
        let data_aad = context.associated_data(DATA_LAYER, &header(self.primary)[..3]);
        let encrypted = cipher(&data_key)
            .encrypt(
                &nonce(data_nonce.as_slice()),
                Payload {
                    msg: plaintext,
                    aad: &data_aad,
                },
            )
            .map_err(|_| AuthError::MalformedBlob {
                reason: "the plaintext is too long for AES-GCM-SIV",
            })?;
        let mut sealed = Vec::with_capacity(SEALED_OVERHEAD_BYTES + plaintext.len());
        sealed.extend_from_slice(&header(self.primary));
        self.wrap_into(&mut sealed, &data_key, context)?;
        sealed.extend_from_slice(data_nonce.as_slice());
        sealed.extend_from_slice(&encrypted);
        debug_assert_eq!(sealed.len(), SEALED_OVERHEAD_BYTES + plaintext.len());
        Ok(sealed)
    }

    /// The plaintext of a blob sealed for `context`.
    pub fn open(&self, sealed: &[u8], context: &BlobContext<'_>) -> Result<Zeroizing<Vec<u8>>> {
        let blob = SealedBlob::parse(sealed)?;
        let data_key = self.unwrap_key(&blob, context)?;
        let (data_nonce, encrypted) = blob.data_part().split_at(NONCE_BYTES);
        let data_aad = context.associated_data(DATA_LAYER, &blob.header()[..3]);
        let plaintext = cipher(&data_key)
            .decrypt(
                &nonce(data_nonce),
                Payload {
                    msg: encrypted,
                    aad: &data_aad,
                },
            )
            .map_err(|_| AuthError::DecryptionFailed)?;
        Ok(Zeroizing::new(plaintext))
    }

    /// The same blob with its data key rewrapped by the primary key; the
    /// encrypted data itself is unchanged. A blob already under the primary
    /// key is rewrapped too (under a fresh nonce).
    pub fn rewrap(&self, sealed: &[u8], context: &BlobContext<'_>) -> Result<Vec<u8>> {
        let blob = SealedBlob::parse(sealed)?;
        let data_key = self.unwrap_key(&blob, context)?;
        let mut rewrapped = Vec::with_capacity(sealed.len());
        rewrapped.extend_from_slice(&header(self.primary));
        self.wrap_into(&mut rewrapped, &data_key, context)?;
        rewrapped.extend_from_slice(blob.data_part());
        debug_assert_eq!(rewrapped.len(), sealed.len());
        Ok(rewrapped)
    }

    /// Whether a blob is wrapped by another key than the primary.
    pub fn needs_rewrap(&self, sealed: &[u8]) -> Result<bool> {
        Ok(SealedBlob::parse(sealed)?.master_key_id() != self.primary)
    }

    /// Appends the key nonce and `data_key` wrapped by the primary key.
    fn wrap_into(
        &self,
        out: &mut Vec<u8>,
        data_key: &[u8; MASTER_KEY_BYTES],
        context: &BlobContext<'_>,
    ) -> Result<()> {
        let master = self
            .keys
            .get(&self.primary)
            .expect("the constructors check that the primary key is in the ring");
        let key_nonce = random_bytes::<NONCE_BYTES>()?;
        let key_aad = context.associated_data(KEY_LAYER, &header(self.primary));
        let wrapped = master
            .encrypt(
                &nonce(key_nonce.as_slice()),
                Payload {
                    msg: data_key,
                    aad: &key_aad,
                },
            )
            .map_err(|_| AuthError::MalformedBlob {
                reason: "the associated data is too long",
            })?;
        debug_assert_eq!(wrapped.len(), WRAPPED_KEY_BYTES);
        out.extend_from_slice(key_nonce.as_slice());
        out.extend_from_slice(&wrapped);
        Ok(())
    }

    fn unwrap_key(
        &self,
        blob: &SealedBlob<'_>,
        context: &BlobContext<'_>,
    ) -> Result<Zeroizing<[u8; MASTER_KEY_BYTES]>> {
        let id = blob.master_key_id();
        let master = self
            .keys
            .get(&id)
            .ok_or(AuthError::UnknownMasterKey { id })?;
        let key_aad = context.associated_data(KEY_LAYER, blob.header());
        let unwrapped = Zeroizing::new(
            master
                .decrypt(
                    &nonce(blob.key_nonce()),
                    Payload {
                        msg: blob.wrapped_key(),
                        aad: &key_aad,
                    },
                )
                .map_err(|_| AuthError::DecryptionFailed)?,
        );
        let mut data_key = Zeroizing::new([0u8; MASTER_KEY_BYTES]);
        if unwrapped.len() != MASTER_KEY_BYTES {
            return Err(AuthError::DecryptionFailed);
        }
        data_key.copy_from_slice(&unwrapped);
        Ok(data_key)
    }
}

fn header(master_key_id: u32) -> [u8; HEADER_BYTES] {
    let mut header = [0u8; HEADER_BYTES];
    header[..2].copy_from_slice(&MAGIC);
    header[2] = BLOB_FORMAT_VERSION;
    header[3..].copy_from_slice(&master_key_id.to_le_bytes());
    header
}

/// A nonce from a slice that the blob layout makes exactly 12 bytes long.
fn nonce(bytes: &[u8]) -> Nonce {
    Nonce::try_from(bytes).expect("nonce slices are cut at fixed 12-byte offsets")
}

fn cipher(key: &[u8; MASTER_KEY_BYTES]) -> Aes256GcmSiv {
    Aes256GcmSiv::new(key.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> BlobContext<'static> {
        BlobContext::new(b"user/ada", "metadata")
    }

    #[test]
    fn seal_then_open() {
        let encryptor = EnvelopeEncryptor::new(MasterKey::generate(1).unwrap());
        let sealed = encryptor.seal(b"hello", &context()).unwrap();
        assert_eq!(sealed.len(), SEALED_OVERHEAD_BYTES + 5);
        assert_eq!(&sealed[..3], b"HE\x01");
        assert_eq!(&sealed[3..7], &1u32.to_le_bytes());
        assert_eq!(
            encryptor.open(&sealed, &context()).unwrap().as_slice(),
            b"hello"
        );
        let empty = encryptor.seal(b"", &context()).unwrap();
        assert!(encryptor.open(&empty, &context()).unwrap().is_empty());
    }

    #[test]
    fn wrong_key_sizes_are_refused() {
        for len in [0, 16, 31, 33, 64] {
            let err = MasterKey::new(7, &vec![0u8; len]).unwrap_err();
            assert!(
                matches!(err, AuthError::KeySize { id: 7, expected: 32, got } if got == len),
                "{err}"
            );
        }
        assert!(MasterKey::new(7, &[0u8; 32]).is_ok());
    }

    #[test]
    fn keyring_constructor_checks() {
        let ring = vec![
            MasterKey::generate(1).unwrap(),
            MasterKey::generate(1).unwrap(),
        ];
        assert!(matches!(
            EnvelopeEncryptor::with_keyring(ring, 1),
            Err(AuthError::Keyring { .. })
        ));
        let ring = vec![MasterKey::generate(1).unwrap()];
        assert!(EnvelopeEncryptor::with_keyring(ring, 2).is_err());
        assert!(EnvelopeEncryptor::with_keyring(Vec::new(), 0).is_err());
        assert!(EnvelopeEncryptor::from_key_file("# nothing\n").is_err());
    }

    #[test]
    fn key_file_round_trips_and_reports_bad_lines() {
        let one = MasterKey::generate(1).unwrap();
        let two = MasterKey::generate(2).unwrap();
        let text = format!(
            "# keys\n{}\n{}",
            one.to_key_file_line().as_str(),
            two.to_key_file_line().as_str()
        );
        let encryptor = EnvelopeEncryptor::from_key_file(&text).unwrap();
        assert_eq!(encryptor.key_ids(), [1, 2]);
        assert_eq!(encryptor.primary_key_id(), 2);
        let old = EnvelopeEncryptor::new(one);
        let sealed = old.seal(b"x", &context()).unwrap();
        assert_eq!(
            encryptor.open(&sealed, &context()).unwrap().as_slice(),
            b"x"
        );

        for (bad, line) in [("1 abcd\n", 1), ("\nx 00\n", 2), ("1\n", 1)] {
            let err = MasterKey::parse_key_file(bad).unwrap_err();
            assert!(
                matches!(err, AuthError::KeyFile { line: l, .. } if l == line),
                "{err}"
            );
        }
    }

    #[test]
    fn each_seal_has_fresh_nonces_and_ciphertext() {
        let encryptor = EnvelopeEncryptor::new(MasterKey::generate(1).unwrap());
        let a = encryptor.seal(b"same plaintext", &context()).unwrap();
        let b = encryptor.seal(b"same plaintext", &context()).unwrap();
        assert_ne!(
            a[KEY_NONCE_AT..WRAPPED_KEY_AT],
            b[KEY_NONCE_AT..WRAPPED_KEY_AT]
        );
        assert_ne!(
            a[WRAPPED_KEY_AT..DATA_NONCE_AT],
            b[WRAPPED_KEY_AT..DATA_NONCE_AT]
        );
        assert_ne!(
            a[DATA_NONCE_AT..CIPHERTEXT_AT],
            b[DATA_NONCE_AT..CIPHERTEXT_AT]
        );
        assert_ne!(a[CIPHERTEXT_AT..], b[CIPHERTEXT_AT..]);
    }

    #[test]
    fn every_flipped_bit_fails_to_open() {
        let encryptor = EnvelopeEncryptor::new(MasterKey::generate(1).unwrap());
        let sealed = encryptor.seal(b"secret", &context()).unwrap();
        for at in 0..sealed.len() {
            for bit in [0x01u8, 0x80] {
                let mut tampered = sealed.clone();
                tampered[at] ^= bit;
                assert!(encryptor.open(&tampered, &context()).is_err(), "byte {at}");
            }
        }
        assert!(
            encryptor
                .open(&sealed[..sealed.len() - 1], &context())
                .is_err()
        );
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(encryptor.open(&longer, &context()).is_err());
    }

    #[test]
    fn another_record_or_field_fails_to_open() {
        let encryptor = EnvelopeEncryptor::new(MasterKey::generate(1).unwrap());
        let sealed = encryptor.seal(b"secret", &context()).unwrap();
        for other in [
            BlobContext::new(b"user/bob", "metadata"),
            BlobContext::new(b"user/ada", "notes"),
            BlobContext::new(b"user/adametadat", "a"),
            BlobContext::new(b"", "user/adametadata"),
        ] {
            assert!(
                matches!(
                    encryptor.open(&sealed, &other),
                    Err(AuthError::DecryptionFailed)
                ),
                "{other:?}"
            );
        }
    }

    #[test]
    fn swapped_key_id_fails() {
        let one = MasterKey::new(1, &[1u8; 32]).unwrap();
        let two = MasterKey::new(2, &[1u8; 32]).unwrap();
        // Same key bytes under two ids: only the id in the header differs.
        let encryptor = EnvelopeEncryptor::with_keyring(vec![one, two], 1).unwrap();
        let mut sealed = encryptor.seal(b"secret", &context()).unwrap();
        sealed[3..7].copy_from_slice(&2u32.to_le_bytes());
        assert!(matches!(
            encryptor.open(&sealed, &context()),
            Err(AuthError::DecryptionFailed)
        ));
        sealed[3..7].copy_from_slice(&9u32.to_le_bytes());
        assert!(matches!(
            encryptor.open(&sealed, &context()),
            Err(AuthError::UnknownMasterKey { id: 9 })
        ));
    }

    #[test]
    fn another_master_key_cannot_open() {
        let a = EnvelopeEncryptor::new(MasterKey::generate(1).unwrap());
        let b = EnvelopeEncryptor::new(MasterKey::generate(1).unwrap());
        let sealed = a.seal(b"secret", &context()).unwrap();
        assert!(matches!(
            b.open(&sealed, &context()),
            Err(AuthError::DecryptionFailed)
        ));
    }

    #[test]
    fn rewrap_moves_to_the_primary_and_keeps_the_data() {
        let old = MasterKey::new(1, &[7u8; 32]).unwrap();
        let before = EnvelopeEncryptor::new(MasterKey::new(1, &[7u8; 32]).unwrap());
        let sealed = before.seal(b"secret", &context()).unwrap();
        let rotated =
            EnvelopeEncryptor::with_keyring(vec![old, MasterKey::generate(2).unwrap()], 2).unwrap();
        assert!(rotated.needs_rewrap(&sealed).unwrap());
        let rewrapped = rotated.rewrap(&sealed, &context()).unwrap();
        assert!(!rotated.needs_rewrap(&rewrapped).unwrap());
        assert_eq!(SealedBlob::parse(&rewrapped).unwrap().master_key_id(), 2);
        assert_eq!(rewrapped[DATA_NONCE_AT..], sealed[DATA_NONCE_AT..]);
        assert_eq!(
            rotated.open(&rewrapped, &context()).unwrap().as_slice(),
            b"secret"
        );
        // The old keyring alone cannot open the rewrapped blob.
        assert!(matches!(
            before.open(&rewrapped, &context()),
            Err(AuthError::UnknownMasterKey { id: 2 })
        ));
        // Rewrapping for the wrong record fails.
        assert!(
            rotated
                .rewrap(&sealed, &BlobContext::new(b"user/bob", "metadata"))
                .is_err()
        );
    }

    #[test]
    fn malformed_blobs_are_refused() {
        let encryptor = EnvelopeEncryptor::new(MasterKey::generate(1).unwrap());
        assert!(matches!(
            encryptor.open(b"", &context()),
            Err(AuthError::MalformedBlob { .. })
        ));
        assert!(matches!(
            encryptor.open(b"HE\x02\0\0\0\0", &context()),
            Err(AuthError::UnsupportedBlobVersion { version: 2, .. })
        ));
        assert!(matches!(
            encryptor.open(&[b'H', b'E', 1, 1, 0, 0, 0, 0], &context()),
            Err(AuthError::MalformedBlob { .. })
        ));
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let key = MasterKey::new(3, &[0xab; 32]).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
        let encryptor = EnvelopeEncryptor::new(key);
        let shown = format!("{encryptor:?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    }
}
