//! Authentication for Hightower KV: [`AuthService`] keeps users, API keys
//! and their grants in any [`hightower_engine::KvEngine`].
//!
//! - Passwords are hashed by [`SecretHasher`] (Argon2id, PHC strings;
//!   by default 19 MiB, 2 passes, 1 lane). A stored hash whose costs exceed
//!   the policy is refused rather than run, a password over 4,096 bytes is
//!   refused before hashing, and only a bounded number of hashes run at
//!   once.
//! - An unknown user and a wrong password give the same
//!   [`AuthError::InvalidCredentials`] after the same single hash. Failed
//!   logins are limited per (user name, source) and per source ([`LoginLimits`]).
//! - API keys (`hk_<id>_<secret>`, 32 random bytes from the OS) are shown
//!   once and stored as hashes, compared in constant time. Revoking a key
//!   or disabling its owner takes effect on the next call.
//! - Each user or key holds [`Grant`]s of read, write or admin on key
//!   prefixes; [`AuthService::authorize`] decides. The auth records live
//!   under [`AUTH_PREFIX`], which only admin grants reach.
//! - User metadata is sealed by [`EnvelopeEncryptor`] (AES-256-GCM-SIV
//!   under a fresh data key per blob, wrapped by a master key from a
//!   keyring), bound to its user and field; [`AuthService::rewrap_metadata`]
//!   moves it to a new master key.
//!
//! No secret appears in `Debug` output, in an error, or in the `tracing`
//! events this crate emits.
//!
//! ```
//! use std::sync::Arc;
//!
//! use hightower_auth::{
//!     ApiKeyOptions, AuthError, AuthService, EnvelopeEncryptor, Grant, MasterKey, Operation,
//!     Permission, SecretHasher,
//! };
//! use hightower_engine::{EngineConfig, SingleNodeEngine};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let engine = Arc::new(SingleNodeEngine::with_config(EngineConfig::new(dir.path()))?);
//! let hasher = SecretHasher::builder().build()?;
//! // Keep the master key outside the data directory, e.g. in a key file.
//! let encryptor = EnvelopeEncryptor::new(MasterKey::generate(1)?);
//! let auth = AuthService::new(engine, hasher, encryptor);
//!
//! let grants = vec![Grant::new(Permission::Write, "app/")];
//! auth.create_user_with_metadata("ada", b"correct horse", grants, b"ada@example.org")?;
//! let ada = auth.verify_password("ada", b"correct horse", "127.0.0.1")?;
//! assert!(auth.authorize(&ada, Operation::Write, b"app/1")?);
//! assert!(!auth.authorize(&ada, Operation::Read, b"other/1")?);
//! assert_eq!(auth.user_metadata("ada")?.as_deref().map(Vec::as_slice), Some(&b"ada@example.org"[..]));
//!
//! let wrong = auth.verify_password("ada", b"wrong password", "127.0.0.1");
//! assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
//!
//! let key = auth.create_api_key("ada", ApiKeyOptions::default())?;
//! let principal = auth.verify_api_key(key.token.expose_secret())?;
//! assert_eq!(principal.user_name(), "ada");
//! auth.revoke_api_key(&key.id)?;
//! assert!(auth.verify_api_key(key.token.expose_secret()).is_err());
//! # Ok(()) }
//! ```
//!
//! Limits: user names have 1 to 64 bytes of ASCII letters, digits and
//! `._-@`; passwords 8 (configurable) to 4,096 bytes; a user or key holds
//! at most 256 grants; metadata is at most 64 KiB (configurable). Failed-login
//! counts are stored under the auth prefix (at most
//! [`LoginLimits::tracked_max`]) and survive a restart. Listing and deleting
//! read every API key record, which is fine for thousands of keys, not for
//! millions.

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod access;
mod api_key;
pub mod crypto;
pub mod error;
pub mod grants;
mod limiter;
pub mod records;
mod service;

pub use access::{KeyRange, KeyRanges, ResolvedGrants};
pub use api_key::{ApiKeyOptions, ApiKeyToken, NewApiKey, TOKEN_PREFIX};
pub use crypto::{
    BlobContext, EnvelopeEncryptor, HashParams, MasterKey, PASSWORD_BYTES_MAX, PasswordHash,
    SealedBlob, SecretHasher, SecretHasherBuilder,
};
pub use error::{AuthError, LockoutScope, Result};
pub use grants::{Grant, Operation, Permission};
pub use limiter::{Clock, LoginLimits, ManualClock, SystemClock};
pub use records::{AUTH_PREFIX, ApiKeyInfo, UserInfo, validate_user_name};
pub use service::{AuthConfig, AuthService, Principal};
