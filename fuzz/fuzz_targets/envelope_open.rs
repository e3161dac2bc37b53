//! Fuzz target `envelope_open`: arbitrary bytes through the sealed-blob
//! parser and `EnvelopeEncryptor::open` (nothing panics, and whatever
//! opens rewraps and opens again to the same plaintext), and the same
//! bytes as a plaintext through seal then open (they come back unchanged).
#![no_main]

use std::sync::OnceLock;

use hightower_auth::crypto::SEALED_OVERHEAD_BYTES;
use hightower_auth::{BlobContext, EnvelopeEncryptor, MasterKey, SealedBlob};

/// A keyring of two fixed keys, 2 the primary, so that blobs under either
/// id reach the decryption step.
fn encryptor() -> &'static EnvelopeEncryptor {
    static ENCRYPTOR: OnceLock<EnvelopeEncryptor> = OnceLock::new();
    ENCRYPTOR.get_or_init(|| {
        let keys = vec![
            MasterKey::new(1, &[0x11; 32]).expect("32 bytes"),
            MasterKey::new(2, &[0x22; 32]).expect("32 bytes"),
        ];
        EnvelopeEncryptor::with_keyring(keys, 2).expect("a valid keyring")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let encryptor = encryptor();
    let context = BlobContext::new(b"user/fuzz", "metadata");
    if let Ok(blob) = SealedBlob::parse(data) {
        assert_eq!(blob.plaintext_len() + SEALED_OVERHEAD_BYTES, data.len());
    }
    if let Ok(plaintext) = encryptor.open(data, &context) {
        assert_eq!(plaintext.len() + SEALED_OVERHEAD_BYTES, data.len());
        let rewrapped = encryptor
            .rewrap(data, &context)
            .expect("an open blob rewraps");
        let again = encryptor
            .open(&rewrapped, &context)
            .expect("a rewrapped blob opens");
        assert_eq!(*again, *plaintext);
    }
    let sealed = encryptor.seal(data, &context).expect("sealing never fails");
    let opened = encryptor
        .open(&sealed, &context)
        .expect("a fresh blob opens");
    assert_eq!(opened.as_slice(), data);
});
