//! Master key rotation: after a new primary key joins the keyring, old
//! metadata still opens, new metadata uses the new key, `rewrap_metadata`
//! moves the old metadata, and then the old key can leave the ring.

mod common;

use std::sync::Arc;

use hightower_auth::{AuthError, EnvelopeEncryptor, LoginLimits, ManualClock};

#[test]
fn rotate_then_rewrap_then_drop_the_old_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(common::T0_UNIX_MS));
    let names = ["ada", "bob", "eve"];
    {
        let auth = common::service(
            dir.path(),
            common::encryptor(1),
            clock.clone(),
            LoginLimits::off(),
        )?;
        for name in names {
            let notes = format!("{name}'s notes");
            auth.create_user_with_metadata(name, b"correct horse", Vec::new(), notes.as_bytes())?;
        }
        auth.create_user("plain", b"correct horse", Vec::new())?;
    }

    // Key 2 joins as the primary; key 1 stays for the old blobs.
    let ring =
        EnvelopeEncryptor::with_keyring(vec![common::fixed_key(1), common::fixed_key(2)], 2)?;
    {
        let auth = common::service(dir.path(), ring, clock.clone(), LoginLimits::off())?;
        assert_eq!(
            auth.user_metadata("ada")?.as_deref().map(Vec::as_slice),
            Some(&b"ada's notes"[..])
        );
        auth.create_user_with_metadata("new", b"correct horse", Vec::new(), b"fresh")?;
    }

    // Key 2 alone cannot open the old blobs yet, but opens the new one.
    {
        let auth = common::service(
            dir.path(),
            common::encryptor(2),
            clock.clone(),
            LoginLimits::off(),
        )?;
        assert!(matches!(
            auth.user_metadata("ada"),
            Err(AuthError::UnknownMasterKey { id: 1 })
        ));
        assert_eq!(
            auth.user_metadata("new")?.as_deref().map(Vec::as_slice),
            Some(&b"fresh"[..])
        );
    }

    let ring =
        EnvelopeEncryptor::with_keyring(vec![common::fixed_key(1), common::fixed_key(2)], 2)?;
    {
        let auth = common::service(dir.path(), ring, clock.clone(), LoginLimits::off())?;
        assert_eq!(auth.rewrap_metadata()?, names.len());
        assert_eq!(auth.rewrap_metadata()?, 0, "nothing left to rewrap");
    }

    let auth = common::service(dir.path(), common::encryptor(2), clock, LoginLimits::off())?;
    for name in names {
        let notes = format!("{name}'s notes");
        assert_eq!(
            auth.user_metadata(name)?.as_deref().map(Vec::as_slice),
            Some(notes.as_bytes())
        );
    }
    assert!(auth.user_metadata("plain")?.is_none());
    auth.verify_password("ada", b"correct horse", "s")?;
    Ok(())
}
