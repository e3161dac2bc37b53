//! An unknown user and a wrong password give the same error after the same
//! work: one Argon2 hash each (against a dummy hash for the unknown user),
//! counted by the hasher rather than timed.

mod common;

use hightower_auth::AuthError;

#[test]
fn unknown_user_and_wrong_password_are_indistinguishable() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user("ada", b"correct horse", Vec::new())?;
    fx.auth.create_user("bob", b"battery staple", Vec::new())?;
    fx.auth.disable_user("bob")?;
    let hasher = fx.auth.hasher();

    let mut outcomes = Vec::new();
    for (name, password) in [
        ("ada", &b"wrong password"[..]), // wrong password
        ("nobody", b"correct horse"),    // unknown user
        ("not a valid name!", b"x"),     // a name that cannot exist
        ("bob", b"wrong password"),      // disabled user, wrong password
    ] {
        let before = hasher.hash_count();
        let result = fx.auth.verify_password(name, password, "10.0.0.1");
        let hashes = hasher.hash_count() - before;
        outcomes.push((name, format!("{:?}", result.as_ref().err()), hashes));
        assert!(
            matches!(result, Err(AuthError::InvalidCredentials)),
            "{name}: {result:?}"
        );
        assert_eq!(hashes, 1, "{name} did {hashes} hashes");
    }
    // The error values are identical, message included.
    let first = &outcomes[0].1;
    assert!(
        outcomes.iter().all(|(_, shown, _)| shown == first),
        "{outcomes:?}"
    );
    assert_eq!(
        AuthError::InvalidCredentials.to_string(),
        "invalid credentials"
    );

    // The right password still works, also with one hash.
    let before = hasher.hash_count();
    let ada = fx
        .auth
        .verify_password("ada", b"correct horse", "10.0.0.1")?;
    assert_eq!(ada.user_name(), "ada");
    assert_eq!(hasher.hash_count() - before, 1);
    Ok(())
}

#[test]
fn unknown_api_key_and_wrong_secret_are_indistinguishable() -> anyhow::Result<()> {
    let fx = common::fixture()?;
    fx.auth.create_user("ada", b"correct horse", Vec::new())?;
    let key = fx.auth.create_api_key("ada", Default::default())?;
    let token = key.token.expose_secret();

    let mut wrong_secret = token.to_owned();
    let last = wrong_secret.pop().expect("non-empty");
    wrong_secret.push(if last == '0' { '1' } else { '0' });
    let mut unknown_id = token.to_owned();
    let id_digit = &unknown_id[3..4];
    let other = if id_digit == "0" { "1" } else { "0" };
    unknown_id.replace_range(3..4, other);

    for bad in [wrong_secret.as_str(), unknown_id.as_str(), "hk_short", ""] {
        let err = fx.auth.verify_api_key(bad).expect_err("a bad token fails");
        assert!(matches!(err, AuthError::InvalidCredentials), "{bad}: {err}");
    }
    assert_eq!(
        fx.auth.verify_api_key(token)?.api_key_id(),
        Some(key.id.as_str())
    );
    Ok(())
}
