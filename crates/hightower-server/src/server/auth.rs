//! Who a connection is and what it may do: the [`Authorizer`] trait the
//! server asks, the [`Principal`] a connection acts as, [`OpenAccess`]
//! (the authorizer of `--no-auth`) and [`ServiceAuthorizer`] (users, API
//! keys and grants of [`hightower_auth::AuthService`]).
//!
//! The server knows nothing of how users, passwords and grants are stored:
//! it asks an `Authorizer` to turn credentials into a principal (`AUTH`,
//! `HELLO ... AUTH`) and whether that principal may run an operation on a
//! key. Commands without a key (`DBSIZE`, `INFO`, `HT.COMPACT`) ask about
//! the empty key, which only a grant on every key (the empty prefix)
//! covers; `KEYS` and `SCAN` return only the keys the principal may read.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use hightower_auth::{AuthError, AuthService, KeyRanges};
use hightower_engine::KvEngine;

/// What a command does to a key: the auth layer's operations (reading a
/// key; setting or deleting it; operating the server, such as compaction
/// or statistics of the whole store).
pub use hightower_auth::Operation;

/// An authenticated identity: a user name, and what the [`Authorizer`]
/// that made it needs to authorize it later (opaque to the server). Cheap
/// to clone; its `Debug` output shows the name only.
#[derive(Clone)]
pub struct Principal {
    name: Arc<str>,
    credential: Option<Arc<dyn Any + Send + Sync>>,
}

impl Principal {
    /// A principal with this user name.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Principal {
            name: name.into(),
            credential: None,
        }
    }

    /// A principal carrying the authorizer's own record of it.
    pub fn with_credential(name: impl Into<Arc<str>>, credential: impl Any + Send + Sync) -> Self {
        Principal {
            name: name.into(),
            credential: Some(Arc::new(credential)),
        }
    }

    /// The user name (`ACL WHOAMI`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The authorizer's record, when it is a `T`.
    pub fn credential<T: Any>(&self) -> Option<&T> {
        self.credential.as_deref()?.downcast_ref()
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Principal").field(&self.name).finish()
    }
}

/// Why credentials were refused. The reply to the client is always the
/// same `WRONGPASS` error, so that it cannot tell a wrong user from a wrong
/// password; the reason goes to the server's log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No such user, a wrong password, or an unknown or revoked API key.
    #[error("invalid username-password pair or user is disabled")]
    InvalidCredentials,
    /// The credentials are right but refused: a disabled user, a revoked
    /// or expired key, too many failed attempts.
    #[error("refused: {0}")]
    Refused(String),
    /// The credential store could not be read.
    #[error("credential store unavailable: {0}")]
    Unavailable(String),
}

/// Authenticates connections and authorizes their commands. Called from
/// the server's worker threads; implementations must be quick or do their
/// slow work (password hashing) knowing they block one worker.
pub trait Authorizer: Send + Sync + fmt::Debug {
    /// Whether a connection must authenticate before its first command.
    /// When `false`, connections start as [`Authorizer::default_principal`].
    fn requires_auth(&self) -> bool;

    /// The principal of a connection that has not authenticated, when
    /// [`Authorizer::requires_auth`] is `false`.
    fn default_principal(&self) -> Principal;

    /// Checks a user name and password (`AUTH user password`). `source`
    /// is the client's address, for limiting failed attempts.
    fn authenticate(
        &self,
        user: &str,
        password: &[u8],
        source: &str,
    ) -> Result<Principal, AuthFailure>;

    /// Checks an API key given as the only argument of `AUTH` (or in place
    /// of its owner's password).
    fn authenticate_api_key(&self, secret: &[u8], source: &str) -> Result<Principal, AuthFailure>;

    /// Whether `principal` may run `operation` on `key` (the empty key for
    /// commands that touch no key or every key).
    fn authorize(&self, principal: &Principal, operation: Operation, key: &[u8]) -> bool;

    /// Every key `principal` may read, as ordered ranges: exactly the keys
    /// for which [`Authorizer::authorize`] allows [`Operation::Read`].
    /// `SCAN` and `KEYS` walk only these, so that nothing of other keys
    /// shows, not even how many there are. The default reads nothing.
    fn readable(&self, _principal: &Principal) -> KeyRanges {
        KeyRanges::none()
    }

    /// Says that a command wrote a key under [`hightower_auth::AUTH_PREFIX`]
    /// directly, so that users, grants and API keys may have changed and
    /// every principal must be judged afresh at its next command.
    fn records_changed(&self) {}
}

/// The authorizer of `--no-auth`: every connection is the user `default`
/// and may do everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAccess;

/// The user name of connections under [`OpenAccess`], as in Redis.
pub const DEFAULT_USER: &str = "default";

impl Authorizer for OpenAccess {
    fn requires_auth(&self) -> bool {
        false
    }

    fn default_principal(&self) -> Principal {
        Principal::new(DEFAULT_USER)
    }

    fn authenticate(
        &self,
        _user: &str,
        _password: &[u8],
        _source: &str,
    ) -> Result<Principal, AuthFailure> {
        Err(AuthFailure::InvalidCredentials)
    }

    fn authenticate_api_key(
        &self,
        _secret: &[u8],
        _source: &str,
    ) -> Result<Principal, AuthFailure> {
        Err(AuthFailure::InvalidCredentials)
    }

    fn authorize(&self, _principal: &Principal, _operation: Operation, _key: &[u8]) -> bool {
        true
    }

    fn readable(&self, _principal: &Principal) -> KeyRanges {
        KeyRanges::all()
    }
}

/// The authorizer over the store's own users and API keys
/// ([`hightower_auth::AuthService`]): passwords and API keys are checked
/// by the service, and every command's keys against the principal's
/// key-prefix grants as the records are at that moment (a revoked key or a
/// disabled user is refused at its next command). The grants are read
/// once and kept by the principal until a user, grant or API key changes
/// (the service's generation counter), so checking a key reads no record.
/// The service may run over any engine (`E`), a `dyn KvEngine` included.
pub struct ServiceAuthorizer<E: KvEngine + ?Sized> {
    service: Arc<AuthService<E>>,
}

impl<E: KvEngine + ?Sized> fmt::Debug for ServiceAuthorizer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAuthorizer")
            .field("service", &self.service)
            .finish()
    }
}

impl<E: KvEngine + ?Sized> ServiceAuthorizer<E> {
    /// An authorizer over `service`.
    pub fn new(service: Arc<AuthService<E>>) -> Self {
        ServiceAuthorizer { service }
    }

    fn principal(principal: hightower_auth::Principal) -> Principal {
        Principal::with_credential(principal.user_name().to_string(), principal)
    }
}

impl From<AuthError> for AuthFailure {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials => AuthFailure::InvalidCredentials,
            denial if denial.is_denial() => AuthFailure::Refused(denial.to_string()),
            other => AuthFailure::Unavailable(other.to_string()),
        }
    }
}

impl<E: KvEngine + ?Sized + 'static> Authorizer for ServiceAuthorizer<E> {
    fn requires_auth(&self) -> bool {
        true
    }

    fn default_principal(&self) -> Principal {
        // Never used while authentication is required.
        Principal::new("(unauthenticated)")
    }

    fn authenticate(
        &self,
        user: &str,
        password: &[u8],
        source: &str,
    ) -> Result<Principal, AuthFailure> {
        Ok(Self::principal(
            self.service.verify_password(user, password, source)?,
        ))
    }

    fn authenticate_api_key(&self, secret: &[u8], _source: &str) -> Result<Principal, AuthFailure> {
        let secret = std::str::from_utf8(secret).map_err(|_| AuthFailure::InvalidCredentials)?;
        Ok(Self::principal(self.service.verify_api_key(secret)?))
    }

    fn authorize(&self, principal: &Principal, operation: Operation, key: &[u8]) -> bool {
        let Some(credential) = principal.credential::<hightower_auth::Principal>() else {
            return false;
        };
        match self.service.authorize(credential, operation, key) {
            Ok(allowed) => allowed,
            Err(error) => {
                tracing::warn!(%error, user = principal.name(), "authorization failed; refusing");
                false
            }
        }
    }

    fn readable(&self, principal: &Principal) -> KeyRanges {
        let Some(credential) = principal.credential::<hightower_auth::Principal>() else {
            return KeyRanges::none();
        };
        match self.service.resolve(credential) {
            Ok(resolved) => resolved.readable(),
            Err(error) => {
                tracing::warn!(%error, user = principal.name(), "authorization failed; refusing");
                KeyRanges::none()
            }
        }
    }

    fn records_changed(&self) {
        self.service.records_changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_access_allows_everything_and_authenticates_nobody() {
        let open = OpenAccess;
        assert!(!open.requires_auth());
        let principal = open.default_principal();
        assert_eq!(principal.name(), DEFAULT_USER);
        assert!(open.authorize(&principal, Operation::Admin, b""));
        assert!(matches!(
            open.authenticate("default", b"x", "test"),
            Err(AuthFailure::InvalidCredentials)
        ));
    }
}
