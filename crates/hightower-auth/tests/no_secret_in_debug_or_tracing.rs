//! No secret appears in `Debug` output, in error messages or in the
//! `tracing` events of any call: not the password, not an API key secret,
//! not the master key, not the metadata, not a password hash.

mod common;

use hightower_auth::{ApiKeyOptions, AuthService, EnvelopeEncryptor, Grant, MasterKey, Permission};

const PASSWORD: &str = "Pa55-MARKER-password";
const NEW_PASSWORD: &str = "Pa55-MARKER-changed";
const METADATA: &str = "MARKER-metadata-plaintext";
const MASTER_KEY_BYTE: u8 = 0xc7;

/// Forms a 32-byte secret can take in text output.
fn renderings(bytes: &[u8]) -> Vec<String> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let decimal = format!("{:?}", &bytes[..4]);
    let decimal = decimal
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    vec![hex[..16].to_owned(), hex[16..32].to_owned(), decimal]
}

#[test]
fn nothing_secret_is_printed_or_traced() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let master_key = MasterKey::new(1, &[MASTER_KEY_BYTE; 32])?;
    let master_debug = format!("{master_key:?}");
    let auth = AuthService::new(
        common::open_engine(dir.path())?,
        common::cheap_hasher(),
        EnvelopeEncryptor::new(master_key),
    );

    type Outputs = (Vec<String>, String, String);
    let (outputs, captured) = common::capture_tracing(|| -> anyhow::Result<Outputs> {
        let mut outputs = vec![master_debug];
        let grants = vec![Grant::new(Permission::Write, "app/")];
        auth.create_user_with_metadata("ada", PASSWORD.as_bytes(), grants, METADATA.as_bytes())?;
        outputs.push(format!(
            "{:?}",
            auth.verify_password("ada", PASSWORD.as_bytes(), "10.0.0.1")?
        ));
        for bad in [&b"Pa55-MARKER-wrong"[..], PASSWORD.as_bytes()] {
            outputs.push(format!(
                "{:?}",
                auth.verify_password("nobody", bad, "10.0.0.1")
            ));
            outputs.push(format!(
                "{:?}",
                auth.verify_password("ada", b"Pa55-MARKER-wrong", "10.0.0.1")
            ));
        }
        auth.change_password("ada", NEW_PASSWORD.as_bytes())?;
        let key = auth.create_api_key("ada", ApiKeyOptions::default())?;
        outputs.push(format!("{key:?}"));
        outputs.push(format!("{:?}", key.token));
        let token = key.token.expose_secret().to_owned();
        outputs.push(format!("{:?}", auth.verify_api_key(&token)?));
        let mut wrong = token.clone();
        wrong.replace_range(40..41, if &token[40..41] == "0" { "1" } else { "0" });
        outputs.push(format!("{:?}", auth.verify_api_key(&wrong)));
        outputs.push(auth.verify_api_key(&wrong).expect_err("wrong").to_string());
        outputs.push(format!("{:?}", auth.user_metadata("ada")?.map(|m| m.len())));
        outputs.push(format!("{:?}", auth.list_users(10)?));
        outputs.push(format!("{:?}", auth.list_api_keys(None, 10)?));
        auth.revoke_api_key(&key.id)?;
        outputs.push(format!("{:?}", auth.verify_api_key(&token)));
        outputs.push(format!("{auth:?}"));
        outputs.push(format!("{:?}", auth.hasher()));
        outputs.push(format!("{:?}", auth.encryptor()));
        let hash = auth.hasher().hash_password(PASSWORD.as_bytes())?;
        outputs.push(format!("{hash:?}"));
        auth.disable_user("ada")?;
        outputs.push(format!(
            "{:?}",
            auth.verify_password("ada", NEW_PASSWORD.as_bytes(), "x")
        ));
        auth.delete_user("ada")?;
        Ok((outputs, token, hash.into_string()))
    });
    let (outputs, token, hash) = outputs?;
    let secret_part = token
        .rsplit('_')
        .next()
        .expect("hk_<id>_<secret>")
        .to_owned();
    let traced = captured.text();
    assert!(
        traced.contains("login failed"),
        "events were captured: {traced}"
    );
    assert!(traced.contains("API key created"), "{traced}");

    let mut secrets = vec![
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        "MARKER-wrong".to_owned(),
        METADATA.to_owned(),
        secret_part[..16].to_owned(),
        secret_part[48..].to_owned(),
    ];
    // `$argon2id$v=19$m=64,t=1,p=1$<salt>$<hash>`: the salt and the hash.
    secrets.extend(hash.rsplitn(3, '$').take(2).map(str::to_owned));
    secrets.extend(renderings(&[MASTER_KEY_BYTE; 32]));
    let everything = format!("{}\n{traced}", outputs.join("\n"));
    for secret in &secrets {
        assert!(
            !everything.contains(secret.as_str()),
            "{secret:?} leaked into:\n{everything}"
        );
    }
    Ok(())
}
