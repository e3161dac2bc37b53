//! User metadata is sealed for its user: moved to another user's record
//! (or kept from a deleted user of the same name), it fails to open;
//! tampered with in the store, it fails to open.

mod common;

use hightower_auth::{AUTH_PREFIX, AuthError};
use hightower_engine::KvEngine;

fn user_key(name: &str) -> Vec<u8> {
    [AUTH_PREFIX, b"user/", name.as_bytes()].concat()
}

/// Where the sealed metadata lies in a stored user record: after the
/// envelope magic and version 1.
fn blob_range(value: &[u8]) -> std::ops::Range<usize> {
    let start = value
        .windows(3)
        .position(|w| w == b"HE\x01")
        .expect("the record holds a sealed blob");
    start..start + hightower_auth::crypto::SEALED_OVERHEAD_BYTES + b"ada's secret notes".len()
}

/// Copies the sealed metadata of the stored user record `source` over the
/// metadata of user `target`, and checks that it no longer opens there.
fn transplant_blob(fx: &common::Fixture, source: &[u8], target: &str) -> anyhow::Result<()> {
    let engine = fx.auth.engine();
    let mut record = engine.get(&user_key(target))?.expect("stored").value;
    let (from, to) = (blob_range(source), blob_range(&record));
    record[to].copy_from_slice(&source[from]);
    engine.put(&user_key(target), &record)?;
    assert!(matches!(
        fx.auth.user_metadata(target),
        Err(AuthError::DecryptionFailed)
    ));
    Ok(())
}

#[test]
fn metadata_round_trips_and_can_be_replaced() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user_with_metadata(
        "ada",
        b"correct horse",
        Vec::new(),
        b"ada's secret notes",
    )?;
    let metadata = fx.auth.user_metadata("ada")?.expect("has metadata");
    assert_eq!(metadata.as_slice(), b"ada's secret notes");
    assert!(fx.auth.user("ada")?.has_metadata);
    fx.auth.set_user_metadata("ada", Some(b"new notes"))?;
    assert_eq!(
        fx.auth.user_metadata("ada")?.as_deref().map(Vec::as_slice),
        Some(&b"new notes"[..])
    );
    fx.auth.set_user_metadata("ada", None)?;
    assert!(fx.auth.user_metadata("ada")?.is_none());
    let big = vec![0u8; 64 * 1024 + 1];
    assert!(matches!(
        fx.auth.set_user_metadata("ada", Some(&big)),
        Err(AuthError::MetadataTooLarge { .. })
    ));
    Ok(())
}

#[test]
fn metadata_moved_to_another_record_fails() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user_with_metadata(
        "ada",
        b"correct horse",
        Vec::new(),
        b"ada's secret notes",
    )?;
    fx.auth.create_user_with_metadata(
        "bob",
        b"correct horse",
        Vec::new(),
        b"bob's secret notes",
    )?;
    let engine = fx.auth.engine();
    let ada = engine.get(&user_key("ada"))?.expect("ada stored").value;
    transplant_blob(&fx, &ada, "bob")
}

#[test]
fn metadata_of_a_deleted_user_does_not_open_for_its_successor() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user_with_metadata(
        "ada",
        b"correct horse",
        Vec::new(),
        b"ada's secret notes",
    )?;
    let engine = fx.auth.engine();
    let old = engine.get(&user_key("ada"))?.expect("stored").value;
    fx.auth.delete_user("ada")?;
    fx.auth.create_user_with_metadata(
        "ada",
        b"correct horse",
        Vec::new(),
        b"ada's secret notez",
    )?;
    transplant_blob(&fx, &old, "ada")
}

#[test]
fn tampered_metadata_fails() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user_with_metadata(
        "ada",
        b"correct horse",
        Vec::new(),
        b"ada's secret notes",
    )?;
    let engine = fx.auth.engine();
    let stored = engine.get(&user_key("ada"))?.expect("stored").value;
    let range = blob_range(&stored);
    for at in [
        range.start + 3,
        range.start + 20,
        range.start + 70,
        range.end - 1,
    ] {
        let mut tampered = stored.clone();
        tampered[at] ^= 0x40;
        engine.put(&user_key("ada"), &tampered)?;
        assert!(fx.auth.user_metadata("ada").is_err(), "byte {at}");
    }
    Ok(())
}
