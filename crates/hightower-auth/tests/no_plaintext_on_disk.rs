//! The engine's files never hold metadata plaintext, a password or an API
//! key secret: known markers are written through the service, the store is
//! compacted and closed, and every byte of the data directory is searched.

mod common;

use hightower_auth::{ApiKeyOptions, AuthService};
use hightower_engine::{CompactionConfig, Durability, EngineConfig, SingleNodeEngine};

const PASSWORD: &[u8] = b"DISK-MARKER-password";
const METADATA: &[u8] = b"DISK-MARKER-metadata-plaintext";

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn data_directory_holds_no_plaintext_secret() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = EngineConfig::new(dir.path())
        .durability(Durability::Sync)
        .compaction(CompactionConfig::manual());
    let engine = std::sync::Arc::new(SingleNodeEngine::with_config(config)?);
    let auth = AuthService::new(engine.clone(), common::cheap_hasher(), common::encryptor(1));

    auth.create_user_with_metadata("ada", PASSWORD, Vec::new(), METADATA)?;
    // Overwrite and delete some records so that compaction has work.
    auth.set_user_metadata("ada", Some(METADATA))?;
    auth.create_user("bob", PASSWORD, Vec::new())?;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let key = auth.create_api_key("ada", ApiKeyOptions::default())?;
        tokens.push(key.token.expose_secret().to_owned());
    }
    let revoked = auth.create_api_key("bob", ApiKeyOptions::default())?;
    tokens.push(revoked.token.expose_secret().to_owned());
    auth.revoke_api_key(&revoked.id)?;
    auth.delete_user("bob")?;

    // Search before compaction, after it, and after a checkpoint.
    let mut markers: Vec<Vec<u8>> = vec![
        PASSWORD.to_vec(),
        METADATA.to_vec(),
        b"DISK-MARKER".to_vec(),
    ];
    for token in &tokens {
        let secret_hex = token.rsplit('_').next().expect("hk_<id>_<secret>");
        markers.push(token.as_bytes().to_vec());
        markers.push(secret_hex.as_bytes().to_vec());
        markers.push(hex_to_bytes(secret_hex));
    }
    let check = |stage: &str| -> anyhow::Result<usize> {
        let files = common::all_file_bytes(dir.path())?;
        let mut searched = 0;
        for (path, bytes) in &files {
            searched += bytes.len();
            for marker in &markers {
                assert!(
                    !common::contains(bytes, marker),
                    "{stage}: {} holds a secret ({} bytes)",
                    path.display(),
                    marker.len()
                );
            }
        }
        Ok(searched)
    };
    assert!(check("before compaction")? > 0);
    engine.run_compaction_now()?;
    check("after compaction")?;
    engine.checkpoint()?;
    check("after checkpoint")?;
    drop(auth);
    drop(engine);
    let searched = check("after close")?;
    assert!(searched > 0);

    // The data is still there, encrypted: a reopened service reads it.
    let auth = AuthService::new(
        common::open_engine(dir.path())?,
        common::cheap_hasher(),
        common::encryptor(1),
    );
    assert_eq!(
        auth.user_metadata("ada")?.as_deref().map(Vec::as_slice),
        Some(METADATA)
    );
    auth.verify_api_key(&tokens[0])?;
    Ok(())
}
