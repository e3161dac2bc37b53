//! The error type of the auth layer.
//!
//! No variant carries a secret: not a password, an API key secret, a
//! password hash, a master key or a data key. Failed logins and failed API
//! key checks share [`AuthError::InvalidCredentials`], so that a caller
//! cannot tell an unknown user from a wrong password.

use std::time::Duration;

use hightower_engine::{EngineError, KeyDisplay};

/// What a login lockout applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockoutScope {
    /// Too many failures for this user name from this source.
    User,
    /// Too many failures from this source (for any user name).
    Source,
}

impl std::fmt::Display for LockoutScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LockoutScope::User => "user from this source",
            LockoutScope::Source => "source",
        })
    }
}

/// Errors of the auth layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The engine below failed (I/O, a poisoned engine, a size limit).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// An unknown user, a wrong password, or an unknown, malformed or wrong
    /// API key: one error for all of them, so that the answer does not
    /// tell which.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed logins; no password was checked.
    #[error("too many failed logins for this {scope}; retry in {} s", .retry_after.as_secs().max(1))]
    LockedOut {
        /// Whether the user name or the source is locked out.
        scope: LockoutScope,
        /// How long until the lockout ends.
        retry_after: Duration,
    },
    /// The password was right but the user is disabled.
    #[error("user {name:?} is disabled")]
    UserDisabled {
        /// The user name.
        name: String,
    },
    /// The API key was right but has been revoked.
    #[error("API key {id} is revoked")]
    ApiKeyRevoked {
        /// The key id (the public part of the key).
        id: String,
    },
    /// The API key was right but its expiry time has passed.
    #[error("API key {id} expired")]
    ApiKeyExpired {
        /// The key id.
        id: String,
    },
    /// A user of this name already exists; nothing was written.
    #[error("user {name:?} already exists")]
    UserExists {
        /// The user name.
        name: String,
    },
    /// No user of this name exists.
    #[error("no user {name:?}")]
    UserNotFound {
        /// The user name.
        name: String,
    },
    /// No API key with this id exists.
    #[error("no API key {id}")]
    ApiKeyNotFound {
        /// The key id.
        id: String,
    },
    /// A user name breaks the naming rules.
    #[error("invalid user name {name:?}: {reason}")]
    InvalidName {
        /// The name as given (cut to 80 characters).
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A password is longer than the limit; it was not hashed.
    #[error("password of {len} bytes is over the limit of {max} bytes")]
    PasswordTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A new password is shorter than the policy allows.
    #[error("password of {len} bytes is under the minimum of {min} bytes")]
    PasswordTooShort {
        /// Its length in bytes.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// Hashing parameters given to the builder are out of range.
    #[error("invalid password hashing parameters: {reason}")]
    InvalidHashParams {
        /// What is wrong.
        reason: String,
    },
    /// A stored password hash is malformed, uses another algorithm, or asks
    /// for more memory, passes or lanes than the policy allows; it was not
    /// run.
    #[error("stored password hash refused: {reason}")]
    StoredHashRefused {
        /// What is wrong with it.
        reason: String,
    },
    /// Every hashing slot stayed busy for the whole wait.
    #[error("password hashing is saturated: no slot free after {} ms", .waited.as_millis())]
    HasherBusy {
        /// How long the call waited.
        waited: Duration,
    },
    /// The Argon2 implementation reported an error.
    #[error("password hashing failed: {reason}")]
    Hashing {
        /// What it said.
        reason: String,
    },
    /// A master key has the wrong length.
    #[error("master key {id} has {got} bytes; AES-256 needs {expected}")]
    KeySize {
        /// The key id.
        id: u32,
        /// The required length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The keyring is unusable (empty, duplicate ids, primary missing).
    #[error("invalid keyring: {reason}")]
    Keyring {
        /// What is wrong.
        reason: String,
    },
    /// A master key file could not be parsed.
    #[error("master key file, line {line}: {reason}")]
    KeyFile {
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A sealed blob is too short or does not start with the envelope magic.
    #[error("malformed sealed blob: {reason}")]
    MalformedBlob {
        /// What is wrong.
        reason: &'static str,
    },
    /// A sealed blob has a format version this build cannot read.
    #[error("sealed blob has format version {version}; this build reads version {supported}")]
    UnsupportedBlobVersion {
        /// The version found.
        version: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// A sealed blob names a master key that is not in the keyring.
    #[error("sealed blob needs master key {id}, which is not in the keyring")]
    UnknownMasterKey {
        /// The key id it names.
        id: u32,
    },
    /// Authentication of a sealed blob failed: it was tampered with, or it
    /// belongs to another record or field.
    #[error("sealed blob failed to authenticate (tampered, or moved from another record)")]
    DecryptionFailed,
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {reason}")]
    Random {
        /// What it said.
        reason: String,
    },
    /// A stored auth record does not decode.
    #[error("corrupt auth record {key:?}: {reason}")]
    CorruptRecord {
        /// The engine key of the record.
        key: KeyDisplay,
        /// What is wrong.
        reason: String,
    },
    /// A read-modify-write lost every retry to concurrent writers.
    #[error("{what} kept changing under {attempts} attempts to update it")]
    Contended {
        /// What was being updated.
        what: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// User metadata is larger than the limit.
    #[error("metadata of {len} bytes is over the limit of {max} bytes")]
    MetadataTooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A grant written as text does not parse.
    #[error("invalid grant {text:?}: {reason}")]
    InvalidGrant {
        /// The text (cut to 80 characters).
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A user holds more grants, or an API key, than the limit.
    #[error("{what}: {count} is over the limit of {max}")]
    TooMany {
        /// What is counted.
        what: &'static str,
        /// How many there would be.
        count: usize,
        /// The limit.
        max: usize,
    },
}

/// Result type of the auth layer.
pub type Result<T, E = AuthError> = std::result::Result<T, E>;

impl AuthError {
    /// Whether the error is a refused login or API key (bad credentials,
    /// lockout, disabled user, revoked or expired key), as opposed to a
    /// malfunction.
    pub fn is_denial(&self) -> bool {
        matches!(
            self,
            AuthError::InvalidCredentials
                | AuthError::LockedOut { .. }
                | AuthError::UserDisabled { .. }
                | AuthError::ApiKeyRevoked { .. }
                | AuthError::ApiKeyExpired { .. }
        )
    }
}

/// A client-supplied name as it may appear in a message or a log line:
/// at most 80 characters, control characters, quotes and backslashes
/// escaped, so that a name cannot forge a log line or break a terminal.
pub(crate) fn shown(text: &str) -> String {
    text.chars().take(80).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_told_apart_from_malfunctions() {
        assert!(AuthError::InvalidCredentials.is_denial());
        assert!(!AuthError::DecryptionFailed.is_denial());
    }

    #[test]
    fn long_names_are_cut_in_messages() {
        assert_eq!(shown(&"x".repeat(500)).len(), 80);
    }

    #[test]
    fn line_breaks_and_control_characters_are_escaped() {
        let forged = "alice\n2026-01-01T00:00:00Z INFO login ok user=admin\r\x1b[2J";
        let shown = shown(forged);
        assert!(!shown.contains('\n') && !shown.contains('\r') && !shown.contains('\x1b'));
        assert!(shown.starts_with("alice\\n2026"), "{shown}");
    }
}
