//! [`AuthService`]: users, API keys and grants stored through a
//! [`KvEngine`], each public method a short sequence of checks, crypto and
//! one conditional engine write.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hightower_engine::{Command, EngineError, Expect, KvEngine};
use parking_lot::Mutex;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::access::{Effective, ResolvedGrants};
use crate::api_key::{self, ApiKeyOptions, NewApiKey};
use crate::crypto::{BlobContext, EnvelopeEncryptor, PasswordHash, SecretHasher, random_bytes};
use crate::error::{AuthError, Result, shown};
use crate::grants::{self, Grant, Operation};
use crate::limiter::{Change, Clock, Entry, LoginLimiter, LoginLimits, SystemClock};
use crate::records::{
    self, ApiKeyInfo, ApiKeyRecord, RecordKind, UserInfo, UserRecord, api_key_key, api_keys_prefix,
    login_count_key, login_counts_prefix, user_key, users_prefix, validate_label,
    validate_user_name,
};

/// A read-modify-write gives up after this many version conflicts.
const UPDATE_ATTEMPTS_MAX: u32 = 16;
/// The field name sealed metadata is bound to.
const METADATA_FIELD: &str = "metadata";

/// Policies of an [`AuthService`].
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// How failed logins are limited.
    pub login_limits: LoginLimits,
    /// The shortest new password, in bytes [default: 8].
    pub password_bytes_min: usize,
    /// The largest user metadata, in bytes [default: 64 KiB].
    pub metadata_bytes_max: usize,
    /// Where the time comes from (API key expiry, lockouts).
    pub clock: Arc<dyn Clock>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            login_limits: LoginLimits::default(),
            password_bytes_min: 8,
            metadata_bytes_max: 64 * 1024,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Who a verified password or API key belongs to. Only
/// [`AuthService::verify_password`] and [`AuthService::verify_api_key`]
/// make one; [`AuthService::authorize`] checks it against the records as
/// they are at that moment.
///
/// It keeps the grants it last resolved (shared by its clones) with the
/// generation of the records they were read at, so that checking many
/// keys reads the records once (see [`AuthService::resolve`]).
#[derive(Clone)]
pub struct Principal {
    identity: Identity,
    resolved: Arc<Mutex<Option<Arc<ResolvedGrants>>>>,
}

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity
    }
}

impl Eq for Principal {}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    User {
        name: String,
        uid: [u8; 16],
    },
    ApiKey {
        id: String,
        owner: String,
        owner_uid: [u8; 16],
    },
}

impl Principal {
    fn new(identity: Identity) -> Self {
        Principal {
            identity,
            resolved: Arc::default(),
        }
    }

    /// The user the principal is or acts for.
    pub fn user_name(&self) -> &str {
        match &self.identity {
            Identity::User { name, .. } => name,
            Identity::ApiKey { owner, .. } => owner,
        }
    }

    /// The API key id, when the principal is an API key.
    pub fn api_key_id(&self) -> Option<&str> {
        match &self.identity {
            Identity::User { .. } => None,
            Identity::ApiKey { id, .. } => Some(id),
        }
    }
}

/// Users, API keys and grants over a [`KvEngine`].
///
/// Records live under [`crate::AUTH_PREFIX`] in the engine, so they are
/// durable, versioned and replicated like any other key. Passwords are
/// hashed by the [`SecretHasher`], user metadata is sealed by the
/// [`EnvelopeEncryptor`], and API keys are stored as hashes. Creating,
/// changing and deleting records use conditional writes, so concurrent
/// callers cannot overwrite each other's changes.
///
/// Management methods (`create_user`, `delete_user`, ...) do not check a
/// principal: the caller decides who may call them, for example with
/// `authorize(principal, Operation::Admin, AUTH_PREFIX)`.
pub struct AuthService<E: KvEngine + ?Sized> {
    engine: Arc<E>,
    hasher: SecretHasher,
    encryptor: EnvelopeEncryptor,
    limiter: LoginLimiter,
    config: AuthConfig,
    /// Bumped after every change of a user, a grant or an API key; see
    /// [`AuthService::resolve`].
    generation: AtomicU64,
}

impl<E: KvEngine + ?Sized> fmt::Debug for AuthService<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("hasher", &self.hasher)
            .field("encryptor", &self.encryptor)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<E: KvEngine + ?Sized> AuthService<E> {
    /// A service with the default [`AuthConfig`].
    pub fn new(engine: Arc<E>, hasher: SecretHasher, encryptor: EnvelopeEncryptor) -> Self {
        Self::with_config(engine, hasher, encryptor, AuthConfig::default())
    }

    /// A service with the given policies. The failed-login counts stored
    /// by an earlier service over the same engine are taken back (when
    /// they cannot be read, the service starts without them and says so
    /// in the log).
    pub fn with_config(
        engine: Arc<E>,
        hasher: SecretHasher,
        encryptor: EnvelopeEncryptor,
        config: AuthConfig,
    ) -> Self {
        let service = AuthService {
            engine,
            hasher,
            encryptor,
            limiter: LoginLimiter::new(config.login_limits.clone()),
            config,
            generation: AtomicU64::new(0),
        };
        service.restore_login_counts();
        service
    }

    fn restore_login_counts(&self) {
        let tracked_max = self.config.login_limits.tracked_max;
        if tracked_max == 0 {
            return;
        }
        let prefix = login_counts_prefix();
        match self.engine.scan_prefix(&prefix, tracked_max) {
            Ok(stored) => self.limiter.restore(stored.iter().filter_map(|kv| {
                let entry = Entry::decode(&kv.value)?;
                Some((kv.key.get(prefix.len()..)?.to_vec(), entry))
            })),
            Err(error) => {
                tracing::warn!(%error, "cannot read the failed-login counts; starting without them");
            }
        }
    }

    /// Stores what the limiter changed. A failure to store costs only
    /// the memory of a restart, so it is logged, not returned.
    fn store_login_counts(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let batch = changes
            .into_iter()
            .map(|(id, entry)| match entry {
                Some(entry) => Command::put(login_count_key(&id), entry.encode()),
                None => Command::delete(login_count_key(&id)),
            })
            .collect();
        if let Err(error) = self.engine.submit_batch(batch) {
            tracing::warn!(%error, "cannot store the failed-login counts");
        }
    }

    /// The engine the records are stored in.
    pub fn engine(&self) -> &Arc<E> {
        &self.engine
    }

    /// The password hasher.
    pub fn hasher(&self) -> &SecretHasher {
        &self.hasher
    }

    /// The metadata encryptor.
    pub fn encryptor(&self) -> &EnvelopeEncryptor {
        &self.encryptor
    }

    // ----- Users -----

    /// Creates a user; fails with [`AuthError::UserExists`] when the name
    /// is taken (also when another caller takes it at the same moment).
    pub fn create_user(&self, name: &str, password: &[u8], grants: Vec<Grant>) -> Result<()> {
        self.create_user_inner(name, password, grants, None)
    }

    /// Creates a user with metadata, sealed by the envelope encryptor and
    /// bound to this user; read it back with [`Self::user_metadata`].
    pub fn create_user_with_metadata(
        &self,
        name: &str,
        password: &[u8],
        grants: Vec<Grant>,
        metadata: &[u8],
    ) -> Result<()> {
        self.create_user_inner(name, password, grants, Some(metadata))
    }

    fn create_user_inner(
        &self,
        name: &str,
        password: &[u8],
        grants: Vec<Grant>,
        metadata: Option<&[u8]>,
    ) -> Result<()> {
        validate_user_name(name)?;
        self.check_new_password(password)?;
        grants::validate_all(&grants)?;
        metadata.map_or(Ok(()), |m| self.check_metadata(m))?;
        let key = user_key(name);
        if self.engine.get(&key)?.is_some() {
            return Err(AuthError::UserExists { name: name.into() });
        }
        let password_hash = self.hasher.hash_password(password)?;
        let now = self.now_ms();
        let mut record = UserRecord {
            uid: *random_bytes::<16>()?,
            name: name.to_owned(),
            password_hash: password_hash.into_string(),
            disabled: false,
            grants,
            metadata: None,
            created_unix_ms: now,
            password_changed_unix_ms: now,
        };
        if let Some(plaintext) = metadata {
            record.metadata = Some(self.seal_metadata(&record, plaintext)?);
        }
        let value = records::encode(RecordKind::User, &record);
        match self
            .engine
            .submit(Command::put(key, value).expecting(Expect::Absent))
        {
            Ok(_) => {
                self.records_changed();
                tracing::info!(user = name, "user created");
                Ok(())
            }
            Err(EngineError::VersionConflict { .. }) => {
                Err(AuthError::UserExists { name: name.into() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a password and returns the user's [`Principal`].
    ///
    /// An unknown user and a wrong password both fail with
    /// [`AuthError::InvalidCredentials`] after one Argon2 hash (against a
    /// dummy hash for an unknown user). Failures are counted per (user
    /// name, `source`) pair and per `source` (a client address, say) and
    /// stored, so a restart keeps them; past the free allowance, calls
    /// fail with [`AuthError::LockedOut`] without hashing for a lockout
    /// that doubles with each failure ([`LoginLimits`]). A lockout
    /// applies to that source only. A disabled user
    /// gets [`AuthError::UserDisabled`], but only with the right password.
    pub fn verify_password(&self, name: &str, password: &[u8], source: &str) -> Result<Principal> {
        if password.len() > crate::PASSWORD_BYTES_MAX {
            return Err(AuthError::PasswordTooLong {
                len: password.len(),
                max: crate::PASSWORD_BYTES_MAX,
            });
        }
        let now = self.now_ms();
        self.limiter.check(name, source, now)?;
        let outcome = self.check_password(name, password);
        match &outcome {
            Ok(_) => self.store_login_counts(self.limiter.record_success(name, source)),
            Err(AuthError::InvalidCredentials) => {
                // The name is logged only when it names a user: a name that
                // does not may be a password typed in the wrong slot.
                if self.user_exists(name) {
                    tracing::info!(user = %shown(name), source = %shown(source), "login failed");
                } else {
                    tracing::info!(source = %shown(source), "login failed for an unknown user name");
                }
                self.store_login_counts(self.limiter.record_failure(name, source, now));
            }
            Err(_) => {}
        }
        outcome
    }

    /// Whether `name` is a valid name of an existing user (a read error
    /// counts as no).
    fn user_exists(&self, name: &str) -> bool {
        validate_user_name(name).is_ok() && matches!(self.load_user(name), Ok(Some(_)))
    }

    fn check_password(&self, name: &str, password: &[u8]) -> Result<Principal> {
        let found = match validate_user_name(name) {
            Ok(()) => self.load_user(name)?,
            Err(_) => None,
        };
        let Some((user, _)) = found else {
            self.hasher.verify_dummy(password)?;
            return Err(AuthError::InvalidCredentials);
        };
        let stored = PasswordHash::from_phc(user.password_hash);
        if !self.hasher.verify_password(password, &stored)? {
            return Err(AuthError::InvalidCredentials);
        }
        if user.disabled {
            return Err(AuthError::UserDisabled { name: user.name });
        }
        Ok(Principal::new(Identity::User {
            name: user.name,
            uid: user.uid,
        }))
    }

    /// Sets a new password (an administrative reset: the old one is not
    /// asked for).
    pub fn change_password(&self, name: &str, new_password: &[u8]) -> Result<()> {
        self.check_new_password(new_password)?;
        let hash = self.hasher.hash_password(new_password)?;
        let now = self.now_ms();
        self.update_user(name, |user| {
            user.password_hash = hash.as_str().to_owned();
            user.password_changed_unix_ms = now;
            Ok(())
        })?;
        tracing::info!(user = name, "password changed");
        Ok(())
    }

    /// Refuses the user's logins and API keys from the next call on.
    pub fn disable_user(&self, name: &str) -> Result<()> {
        self.update_user(name, |user| {
            user.disabled = true;
            Ok(())
        })?;
        tracing::info!(user = name, "user disabled");
        Ok(())
    }

    /// Allows a disabled user's logins and API keys again.
    pub fn enable_user(&self, name: &str) -> Result<()> {
        self.update_user(name, |user| {
            user.disabled = false;
            Ok(())
        })?;
        tracing::info!(user = name, "user enabled");
        Ok(())
    }

    /// Replaces the user's grants.
    pub fn set_grants(&self, name: &str, grants: Vec<Grant>) -> Result<()> {
        grants::validate_all(&grants)?;
        self.update_user(name, |user| {
            user.grants.clone_from(&grants);
            Ok(())
        })?;
        tracing::info!(user = name, n_grants = grants.len(), "grants set");
        Ok(())
    }

    /// Deletes the user and, in the same atomic batch, every API key it
    /// owns.
    pub fn delete_user(&self, name: &str) -> Result<()> {
        for _ in 0..UPDATE_ATTEMPTS_MAX {
            let (user, version) = self.require_user(name)?;
            let mut batch =
                vec![Command::delete(user_key(name)).expecting(Expect::Version(version))];
            for (key, key_version) in self.api_key_records()? {
                if key.owner_uid == user.uid {
                    batch.push(
                        Command::delete(api_key_key(&key.id))
                            .expecting(Expect::Version(key_version)),
                    );
                }
            }
            let n_keys = batch.len() - 1;
            match self.engine.submit_batch(batch) {
                Ok(_) => {
                    self.records_changed();
                    tracing::info!(user = name, n_keys, "user deleted");
                    return Ok(());
                }
                Err(EngineError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(contended(format!("user {name:?}")))
    }

    /// One user.
    pub fn user(&self, name: &str) -> Result<UserInfo> {
        Ok(self.require_user(name)?.0.info())
    }

    /// Up to `limit` users, in name order.
    pub fn list_users(&self, limit: usize) -> Result<Vec<UserInfo>> {
        self.engine
            .scan_prefix(&users_prefix(), limit)?
            .iter()
            .map(|kv| Ok(records::decode_user(&kv.key, &kv.value)?.info()))
            .collect()
    }

    /// The user's metadata, decrypted; `None` when it has none.
    pub fn user_metadata(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let (user, _) = self.require_user(name)?;
        let record_id = user.blob_record_id();
        user.metadata
            .as_deref()
            .map(|sealed| {
                self.encryptor
                    .open(sealed, &BlobContext::new(&record_id, METADATA_FIELD))
            })
            .transpose()
    }

    /// Replaces (or, with `None`, removes) the user's metadata.
    pub fn set_user_metadata(&self, name: &str, metadata: Option<&[u8]>) -> Result<()> {
        metadata.map_or(Ok(()), |m| self.check_metadata(m))?;
        self.update_user(name, |user| {
            user.metadata = match metadata {
                Some(plaintext) => Some(self.seal_metadata(user, plaintext)?),
                None => None,
            };
            Ok(())
        })?;
        tracing::info!(user = name, "metadata set");
        Ok(())
    }

    /// Rewraps every user's metadata that is not under the primary master
    /// key (after a key rotation); returns how many were rewrapped. Once it
    /// has run, the old master key can leave the keyring.
    pub fn rewrap_metadata(&self) -> Result<usize> {
        let mut names = Vec::new();
        for kv in self.engine.read_view()?.prefix(&users_prefix()) {
            let kv = kv?;
            let user = records::decode_user(&kv.key, &kv.value)?;
            if let Some(sealed) = &user.metadata
                && self.encryptor.needs_rewrap(sealed)?
            {
                names.push(user.name);
            }
        }
        for name in &names {
            self.update_user(name, |user| {
                let record_id = user.blob_record_id();
                if let Some(sealed) = &user.metadata {
                    let context = BlobContext::new(&record_id, METADATA_FIELD);
                    user.metadata = Some(self.encryptor.rewrap(sealed, &context)?);
                }
                Ok(())
            })?;
        }
        tracing::info!(n_users = names.len(), "metadata rewrapped");
        Ok(names.len())
    }

    // ----- API keys -----

    /// Creates an API key for `owner`. The token in the result is the only
    /// copy of the secret: only its hash is stored.
    pub fn create_api_key(&self, owner: &str, options: ApiKeyOptions) -> Result<NewApiKey> {
        validate_user_name(owner)?;
        validate_label(&options.label)?;
        if let Some(grants) = &options.grants {
            grants::validate_all(grants)?;
        }
        for _ in 0..UPDATE_ATTEMPTS_MAX {
            let (user, user_version) = self.require_user(owner)?;
            if user.disabled {
                return Err(AuthError::UserDisabled { name: user.name });
            }
            let (id, secret, token) = api_key::generate()?;
            let now = self.now_ms();
            let record = ApiKeyRecord {
                secret_hash: api_key::hash(&id, &secret),
                id: id.clone(),
                owner: user.name.clone(),
                owner_uid: user.uid,
                label: options.label.clone(),
                grants: options.grants.clone(),
                created_unix_ms: now,
                expires_unix_ms: options
                    .expires_in
                    .map(|d| now.saturating_add(duration_ms(d))),
                revoked_unix_ms: None,
            };
            // Rewriting the owner at the version read makes the batch fail
            // if the owner was deleted (or changed) meanwhile.
            let batch = vec![
                Command::put(user_key(owner), records::encode(RecordKind::User, &user))
                    .expecting(Expect::Version(user_version)),
                Command::put(
                    api_key_key(&id),
                    records::encode(RecordKind::ApiKey, &record),
                )
                .expecting(Expect::Absent),
            ];
            match self.engine.submit_batch(batch) {
                Ok(_) => {
                    self.records_changed();
                    tracing::info!(user = owner, key_id = %id, "API key created");
                    return Ok(NewApiKey { id, token });
                }
                Err(EngineError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(contended(format!("user {owner:?}")))
    }

    /// Checks an API key token and returns its [`Principal`].
    ///
    /// A malformed token, an unknown id and a wrong secret all fail with
    /// [`AuthError::InvalidCredentials`] after the same hash; the stored
    /// hash is compared in constant time. A revoked or expired key, or one
    /// whose owner is disabled, fails from the next call on.
    pub fn verify_api_key(&self, token: &str) -> Result<Principal> {
        let Some((id, secret)) = api_key::parse(token) else {
            tracing::info!("API key refused: malformed");
            return Err(AuthError::InvalidCredentials);
        };
        let presented = api_key::hash(id, &secret);
        let Some((key, _)) = self.load_api_key(id)? else {
            tracing::info!(key_id = %id, "API key refused: unknown id");
            return Err(AuthError::InvalidCredentials);
        };
        if !bool::from(presented.ct_eq(&key.secret_hash)) {
            tracing::info!(key_id = %id, "API key refused: wrong secret");
            return Err(AuthError::InvalidCredentials);
        }
        self.check_key_active(&key)?;
        let owner = self.load_user(&key.owner)?.map(|(user, _)| user);
        match owner {
            Some(user) if user.uid == key.owner_uid && !user.disabled => {
                Ok(Principal::new(Identity::ApiKey {
                    id: key.id,
                    owner: user.name,
                    owner_uid: user.uid,
                }))
            }
            Some(user) if user.uid == key.owner_uid => {
                Err(AuthError::UserDisabled { name: user.name })
            }
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// Revokes an API key: it fails from the next call on. Revoking a
    /// revoked key does nothing.
    pub fn revoke_api_key(&self, id: &str) -> Result<()> {
        let now = self.now_ms();
        for _ in 0..UPDATE_ATTEMPTS_MAX {
            let (mut key, version) = self
                .load_api_key(id)?
                .ok_or_else(|| AuthError::ApiKeyNotFound { id: shown(id) })?;
            if key.revoked_unix_ms.is_some() {
                return Ok(());
            }
            key.revoked_unix_ms = Some(now);
            let value = records::encode(RecordKind::ApiKey, &key);
            let command = Command::put(api_key_key(id), value).expecting(Expect::Version(version));
            match self.engine.submit(command) {
                Ok(_) => {
                    self.records_changed();
                    tracing::info!(key_id = id, "API key revoked");
                    return Ok(());
                }
                Err(EngineError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(contended(format!("API key {id}")))
    }

    /// Up to `limit` API keys (of `owner` only, when given), in id order,
    /// revoked and expired ones included.
    pub fn list_api_keys(&self, owner: Option<&str>, limit: usize) -> Result<Vec<ApiKeyInfo>> {
        let mut keys = Vec::new();
        for (key, _) in self.api_key_records()? {
            if keys.len() == limit {
                break;
            }
            if owner.is_none_or(|name| key.owner == name) {
                keys.push(key.info());
            }
        }
        Ok(keys)
    }

    // ----- Permissions -----

    /// Whether `principal` may do `operation` on `key`, judged on the
    /// records as they are now: a principal whose user was disabled or
    /// deleted, or whose API key was revoked or expired since it was
    /// verified, is refused. An API key is allowed only what both its own
    /// grants and its owner's allow. Keys under [`crate::AUTH_PREFIX`]
    /// need an admin grant. The records are read only when they changed
    /// since the principal last resolved them ([`Self::resolve`]).
    pub fn authorize(
        &self,
        principal: &Principal,
        operation: Operation,
        key: &[u8],
    ) -> Result<bool> {
        Ok(self.resolve(principal)?.allows(operation, key))
    }

    /// The principal's grants as the records stand now: the ones it keeps
    /// from its last call when no user, grant or API key changed since
    /// (and its API key has not expired meanwhile), else read afresh.
    pub fn resolve(&self, principal: &Principal) -> Result<Arc<ResolvedGrants>> {
        // Read before the records: a change that lands during the reads
        // bumps past it, so what is kept is resolved again next time.
        let generation = self.generation.load(Ordering::Acquire);
        let now = self.now_ms();
        if let Some(kept) = principal.resolved.lock().as_ref()
            && !kept.is_stale(generation, now)
        {
            return Ok(kept.clone());
        }
        let resolved = Arc::new(self.resolve_records(&principal.identity, generation)?);
        *principal.resolved.lock() = Some(resolved.clone());
        Ok(resolved)
    }

    /// Records that users, grants or API keys changed by a way other than
    /// this service (a direct write under [`crate::AUTH_PREFIX`]), so that
    /// every principal resolves its grants again at its next check.
    pub fn records_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn resolve_records(&self, identity: &Identity, generation: u64) -> Result<ResolvedGrants> {
        let refused = ResolvedGrants::refused(generation);
        let (owner_name, owner_uid, key_grants, expires_unix_ms) = match identity {
            Identity::User { name, uid } => (name, uid, None, None),
            Identity::ApiKey {
                id,
                owner,
                owner_uid,
            } => {
                let Some((record, _)) = self.load_api_key(id)? else {
                    return Ok(refused);
                };
                if self.check_key_active(&record).is_err() || record.owner_uid != *owner_uid {
                    return Ok(refused);
                }
                (owner, owner_uid, record.grants, record.expires_unix_ms)
            }
        };
        let Some((user, _)) = self.load_user(owner_name)? else {
            return Ok(refused);
        };
        if user.uid != *owner_uid || user.disabled {
            return Ok(refused);
        }
        Ok(ResolvedGrants {
            generation,
            grants: Some(Effective {
                user: user.grants,
                key: key_grants,
            }),
            expires_unix_ms,
        })
    }

    // ----- Helpers -----

    fn now_ms(&self) -> u64 {
        self.config.clock.now_ms()
    }

    fn check_new_password(&self, password: &[u8]) -> Result<()> {
        if password.len() > crate::PASSWORD_BYTES_MAX {
            return Err(AuthError::PasswordTooLong {
                len: password.len(),
                max: crate::PASSWORD_BYTES_MAX,
            });
        }
        if password.len() < self.config.password_bytes_min {
            return Err(AuthError::PasswordTooShort {
                len: password.len(),
                min: self.config.password_bytes_min,
            });
        }
        Ok(())
    }

    fn check_metadata(&self, metadata: &[u8]) -> Result<()> {
        if metadata.len() > self.config.metadata_bytes_max {
            return Err(AuthError::MetadataTooLarge {
                len: metadata.len(),
                max: self.config.metadata_bytes_max,
            });
        }
        Ok(())
    }

    fn check_key_active(&self, key: &ApiKeyRecord) -> Result<()> {
        if key.revoked_unix_ms.is_some() {
            return Err(AuthError::ApiKeyRevoked { id: key.id.clone() });
        }
        if key.expires_unix_ms.is_some_and(|at| self.now_ms() >= at) {
            return Err(AuthError::ApiKeyExpired { id: key.id.clone() });
        }
        Ok(())
    }

    fn seal_metadata(&self, user: &UserRecord, plaintext: &[u8]) -> Result<Vec<u8>> {
        let record_id = user.blob_record_id();
        self.encryptor
            .seal(plaintext, &BlobContext::new(&record_id, METADATA_FIELD))
    }

    fn load_user(&self, name: &str) -> Result<Option<(UserRecord, u64)>> {
        let key = user_key(name);
        let Some(found) = self.engine.get(&key)? else {
            return Ok(None);
        };
        Ok(Some((
            records::decode_user(&key, &found.value)?,
            found.version,
        )))
    }

    fn require_user(&self, name: &str) -> Result<(UserRecord, u64)> {
        validate_user_name(name)?;
        self.load_user(name)?
            .ok_or_else(|| AuthError::UserNotFound { name: name.into() })
    }

    fn load_api_key(&self, id: &str) -> Result<Option<(ApiKeyRecord, u64)>> {
        let key = api_key_key(id);
        let Some(found) = self.engine.get(&key)? else {
            return Ok(None);
        };
        Ok(Some((
            records::decode_api_key(&key, &found.value)?,
            found.version,
        )))
    }

    /// Every API key record with its version, in id order.
    fn api_key_records(&self) -> Result<Vec<(ApiKeyRecord, u64)>> {
        let mut keys = Vec::new();
        for kv in self.engine.read_view()?.prefix(&api_keys_prefix()) {
            let kv = kv?;
            keys.push((records::decode_api_key(&kv.key, &kv.value)?, kv.version));
        }
        Ok(keys)
    }

    /// Reads the user, applies `change`, and writes it back at the version
    /// read; retries on a concurrent change.
    fn update_user(
        &self,
        name: &str,
        mut change: impl FnMut(&mut UserRecord) -> Result<()>,
    ) -> Result<UserRecord> {
        for _ in 0..UPDATE_ATTEMPTS_MAX {
            let (mut user, version) = self.require_user(name)?;
            change(&mut user)?;
            let value = records::encode(RecordKind::User, &user);
            let command = Command::put(user_key(name), value).expecting(Expect::Version(version));
            match self.engine.submit(command) {
                Ok(_) => {
                    self.records_changed();
                    return Ok(user);
                }
                Err(EngineError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(contended(format!("user {name:?}")))
    }
}

fn contended(what: String) -> AuthError {
    AuthError::Contended {
        what,
        attempts: UPDATE_ATTEMPTS_MAX,
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
