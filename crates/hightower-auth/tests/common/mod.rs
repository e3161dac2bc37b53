//! Helpers shared by the auth integration tests: cheap hashing parameters,
//! a service over an engine in a temporary directory, and a tracing
//! subscriber that captures everything it is given.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use hightower_auth::{
    AuthConfig, AuthService, EnvelopeEncryptor, HashParams, LoginLimits, ManualClock, MasterKey,
    SecretHasher,
};
use hightower_engine::{Durability, EngineConfig, SingleNodeEngine};

/// Argon2id at 64 KiB and one pass: valid, and fast enough for many hashes.
pub(crate) const CHEAP: HashParams = HashParams {
    memory_kib: 64,
    passes: 1,
    lanes: 1,
};

/// A start time for manual clocks (2026-01-01T00:00:00Z).
pub(crate) const T0_UNIX_MS: u64 = 1_767_225_600_000;

pub(crate) fn cheap_hasher() -> SecretHasher {
    SecretHasher::builder()
        .params(CHEAP)
        .build()
        .expect("the cheap parameters are valid")
}

/// An engine over `dir` without fsync per write (a clean close still
/// writes everything).
pub(crate) fn open_engine(dir: &Path) -> anyhow::Result<Arc<SingleNodeEngine>> {
    let config = EngineConfig::new(dir).durability(Durability::None);
    Ok(Arc::new(SingleNodeEngine::with_config(config)?))
}

/// A master key with fixed bytes, so that a test can reopen a store.
pub(crate) fn fixed_key(id: u32) -> MasterKey {
    let byte = u8::try_from(id % 251).expect("below 251") + 1;
    MasterKey::new(id, &[byte; 32]).expect("32 bytes")
}

pub(crate) fn encryptor(id: u32) -> EnvelopeEncryptor {
    EnvelopeEncryptor::new(fixed_key(id))
}

/// Everything a test needs: the directory, the clock and the service.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) auth: AuthService<SingleNodeEngine>,
}

/// A service with cheap hashing, master key 1, a manual clock and the
/// given login limits.
pub(crate) fn fixture_with(limits: LoginLimits) -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(T0_UNIX_MS));
    let auth = service(dir.path(), encryptor(1), clock.clone(), limits)?;
    Ok(Fixture { dir, clock, auth })
}

/// A service with cheap hashing, master key 1, a manual clock and no
/// login limits.
pub(crate) fn fixture() -> anyhow::Result<Fixture> {
    fixture_with(LoginLimits::off())
}

pub(crate) fn service(
    dir: &Path,
    encryptor: EnvelopeEncryptor,
    clock: Arc<ManualClock>,
    limits: LoginLimits,
) -> anyhow::Result<AuthService<SingleNodeEngine>> {
    let config = AuthConfig {
        login_limits: limits,
        clock,
        ..AuthConfig::default()
    };
    Ok(AuthService::with_config(
        open_engine(dir)?,
        cheap_hasher(),
        encryptor,
        config,
    ))
}

/// A writer that keeps everything written to it, for a tracing subscriber.
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `body` with every tracing event at every level written to the
/// returned buffer.
pub(crate) fn capture_tracing<T>(body: impl FnOnce() -> T) -> (T, Captured) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let result = tracing::subscriber::with_default(subscriber, body);
    (result, captured)
}

/// Every byte of every file under `dir`, recursively.
pub(crate) fn all_file_bytes(dir: &Path) -> anyhow::Result<Vec<(std::path::PathBuf, Vec<u8>)>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path)?));
            }
        }
    }
    Ok(files)
}

/// Whether `needle` occurs in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
