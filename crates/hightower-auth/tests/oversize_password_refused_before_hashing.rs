//! A password over 4,096 bytes is refused before any hashing, on every
//! path that takes a password; 4,096 bytes are accepted.

mod common;

use hightower_auth::{AuthError, PASSWORD_BYTES_MAX};

#[test]
fn oversize_passwords_cost_no_hash() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user("ada", b"correct horse", Vec::new())?;
    let hasher = fx.auth.hasher();
    let oversize = vec![b'p'; PASSWORD_BYTES_MAX + 1];
    let huge = vec![b'p'; 10 * 1024 * 1024];

    let before = hasher.hash_count();
    for password in [&oversize, &huge] {
        let results = [
            fx.auth.verify_password("ada", password, "s").map(|_| ()),
            fx.auth.verify_password("nobody", password, "s").map(|_| ()),
            fx.auth.create_user("bob", password, Vec::new()),
            fx.auth.change_password("ada", password),
        ];
        for result in results {
            assert!(
                matches!(result, Err(AuthError::PasswordTooLong { max: 4096, .. })),
                "{result:?}"
            );
        }
    }
    assert_eq!(hasher.hash_count(), before, "no hash ran");
    assert!(matches!(
        fx.auth.user("bob"),
        Err(AuthError::UserNotFound { .. })
    ));

    let at_limit = vec![b'p'; PASSWORD_BYTES_MAX];
    fx.auth.change_password("ada", &at_limit)?;
    fx.auth.verify_password("ada", &at_limit, "s")?;
    Ok(())
}
