//! [`SecretHasher`]: Argon2id password hashes stored as PHC strings, with
//! a bounded number of hashes running at once.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc;
use argon2::{Algorithm, Argon2, Params, Version};
use parking_lot::{Condvar, Mutex};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{AuthError, Result};

/// The longest password accepted, in bytes. Longer ones are refused before
/// any hashing, so that a huge password cannot cost more than a normal one.
pub const PASSWORD_BYTES_MAX: usize = 4096;

/// The most memory a hashing policy may ask for: 1 GiB.
const MEMORY_KIB_MAX: u32 = 1024 * 1024;
/// The most passes a hashing policy may ask for.
const PASSES_MAX: u32 = 64;
/// The most lanes a hashing policy may ask for.
const LANES_MAX: u32 = 64;
/// The most hashes that may run at once.
const CONCURRENT_HASHES_MAX: usize = 1024;
/// Stored hash outputs outside this range are refused.
const OUTPUT_BYTES_MIN: usize = 16;
const OUTPUT_BYTES_MAX: usize = 64;
/// The output length of new hashes.
const OUTPUT_BYTES: usize = 32;
/// The PHC identifier and version this hasher writes and accepts.
const ALGORITHM_ID: &str = "argon2id";
const ARGON2_VERSION: u32 = 0x13;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory (Argon2's time cost).
    pub passes: u32,
    /// Lanes (Argon2's parallelism; this crate runs them on one thread).
    pub lanes: u32,
}

impl HashParams {
    /// The OWASP minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    pub const DEFAULT: HashParams = HashParams {
        memory_kib: 19 * 1024,
        passes: 2,
        lanes: 1,
    };

    /// Whether every cost of `self` is at most that of `limit`.
    pub fn within(&self, limit: &HashParams) -> bool {
        self.memory_kib <= limit.memory_kib
            && self.passes <= limit.passes
            && self.lanes <= limit.lanes
    }

    fn validate(&self) -> Result<Params> {
        let bad = |reason: String| Err(AuthError::InvalidHashParams { reason });
        if self.lanes == 0 || self.lanes > LANES_MAX {
            return bad(format!("lanes {} is not in 1..={LANES_MAX}", self.lanes));
        }
        if self.passes == 0 || self.passes > PASSES_MAX {
            return bad(format!("passes {} is not in 1..={PASSES_MAX}", self.passes));
        }
        let memory_min = 8 * self.lanes;
        if self.memory_kib < memory_min || self.memory_kib > MEMORY_KIB_MAX {
            return bad(format!(
                "memory {} KiB is not in {memory_min}..={MEMORY_KIB_MAX} KiB (8 KiB per lane at least)",
                self.memory_kib
            ));
        }
        Params::new(self.memory_kib, self.passes, self.lanes, Some(OUTPUT_BYTES)).map_err(|e| {
            AuthError::InvalidHashParams {
                reason: e.to_string(),
            }
        })
    }
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams::DEFAULT
    }
}

/// A password hash as a PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
///
/// Its `Debug` shows the algorithm and parameters but not the salt or the
/// hash, which would help an offline guessing attack.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a stored PHC string (checked only when it is verified).
    pub fn from_phc(phc: String) -> Self {
        PasswordHash(phc)
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PHC string, for storage.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `$id$v=..$params$salt$hash`: show the first three fields only.
        let public: Vec<&str> = self.0.split('$').skip(1).take(3).collect();
        write!(f, "PasswordHash(${}$<redacted>)", public.join("$"))
    }
}

/// Builds a [`SecretHasher`], checking every parameter.
#[derive(Debug, Clone)]
pub struct SecretHasherBuilder {
    params: HashParams,
    stored_limit: Option<HashParams>,
    concurrent_hashes_max: usize,
    queue_wait_max: Duration,
}

impl Default for SecretHasherBuilder {
    fn default() -> Self {
        SecretHasherBuilder {
            params: HashParams::DEFAULT,
            stored_limit: None,
            concurrent_hashes_max: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue_wait_max: Duration::from_secs(5),
        }
    }
}

impl SecretHasherBuilder {
    /// The parameters of new hashes.
    pub fn params(mut self, params: HashParams) -> Self {
        self.params = params;
        self
    }

    /// The highest costs a stored hash may ask for before it is refused
    /// unrun [default: the parameters of new hashes]. Raise it to keep
    /// verifying hashes made under an earlier, costlier policy.
    pub fn stored_limit(mut self, limit: HashParams) -> Self {
        self.stored_limit = Some(limit);
        self
    }

    /// At most this many hashes run at once [default: the number of CPUs];
    /// with the default parameters each holds 19 MiB while it runs.
    pub fn concurrent_hashes_max(mut self, n: usize) -> Self {
        self.concurrent_hashes_max = n;
        self
    }

    /// A call waits at most this long for a hashing slot before it fails
    /// with [`AuthError::HasherBusy`] [default: 5 s].
    pub fn queue_wait_max(mut self, wait: Duration) -> Self {
        self.queue_wait_max = wait;
        self
    }

    /// The hasher, or the first parameter out of range.
    pub fn build(self) -> Result<SecretHasher> {
        let argon2_params = self.params.validate()?;
        let stored_limit = self.stored_limit.unwrap_or(self.params);
        stored_limit.validate()?;
        if !self.params.within(&stored_limit) {
            return Err(AuthError::InvalidHashParams {
                reason: "the stored-hash limit is below the parameters of new hashes".into(),
            });
        }
        if self.concurrent_hashes_max == 0 || self.concurrent_hashes_max > CONCURRENT_HASHES_MAX {
            return Err(AuthError::InvalidHashParams {
                reason: format!(
                    "concurrent_hashes_max {} is not in 1..={CONCURRENT_HASHES_MAX}",
                    self.concurrent_hashes_max
                ),
            });
        }
        Ok(SecretHasher {
            inner: Arc::new(Inner {
                params: self.params,
                argon2_params,
                stored_limit,
                permits: Permits::new(self.concurrent_hashes_max),
                queue_wait_max: self.queue_wait_max,
                hash_count: AtomicU64::new(0),
            }),
        })
    }
}

/// Hashes and verifies passwords with Argon2id.
///
/// Every call refuses a password over [`PASSWORD_BYTES_MAX`] bytes before
/// hashing, waits for one of a bounded number of hashing slots, and
/// counts the hash in [`SecretHasher::hash_count`]. A stored hash is
/// checked against the policy (algorithm, version, costs) before it runs.
/// Clones share the slots and the count.
#[derive(Clone)]
pub struct SecretHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: HashParams,
    argon2_params: Params,
    stored_limit: HashParams,
    permits: Permits,
    queue_wait_max: Duration,
    hash_count: AtomicU64,
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHasher")
            .field("params", &self.inner.params)
            .field("stored_limit", &self.inner.stored_limit)
            .field("concurrent_hashes_max", &self.inner.permits.total)
            .field("hash_count", &self.hash_count())
            .finish()
    }
}

impl SecretHasher {
    /// A builder starting from the defaults (19 MiB, 2 passes, 1 lane).
    pub fn builder() -> SecretHasherBuilder {
        SecretHasherBuilder::default()
    }

    /// The parameters of new hashes.
    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    /// How many Argon2 computations this hasher (and its clones) has run.
    pub fn hash_count(&self) -> u64 {
        self.inner.hash_count.load(Ordering::Relaxed)
    }

    /// A new hash of `password` under a fresh 16-byte salt from the OS.
    pub fn hash_password(&self, password: &[u8]) -> Result<PasswordHash> {
        check_length(password)?;
        let argon2 = self.argon2(self.inner.argon2_params.clone());
        let _permit = self.acquire()?;
        let hash = argon2
            .hash_password(password)
            .map_err(|e| AuthError::Hashing {
                reason: e.to_string(),
            })?;
        Ok(PasswordHash(hash.to_string()))
    }

    /// Whether `password` matches `stored`. The comparison is constant-time.
    ///
    /// Errors: the password is too long, the stored hash is malformed or
    /// beyond the policy (not run), or no hashing slot came free in time.
    pub fn verify_password(&self, password: &[u8], stored: &PasswordHash) -> Result<bool> {
        check_length(password)?;
        let parsed = phc::PasswordHash::new(stored.as_str()).map_err(|e| refused(e.to_string()))?;
        let checked = self.check_stored(&parsed)?;
        let mut output = Zeroizing::new(vec![0u8; checked.expected.len()]);
        self.run(checked.params, password, checked.salt, &mut output)?;
        Ok(bool::from(output.as_slice().ct_eq(checked.expected)))
    }

    /// Does the work of [`SecretHasher::verify_password`] against a hash
    /// that matches no password, and returns `false`. Used for unknown
    /// users, so that they cost the same as a wrong password.
    pub fn verify_dummy(&self, password: &[u8]) -> Result<bool> {
        check_length(password)?;
        let salt = super::random_bytes::<16>()?;
        let mut output = Zeroizing::new([0u8; OUTPUT_BYTES]);
        self.run(
            self.inner.argon2_params.clone(),
            password,
            salt.as_slice(),
            output.as_mut_slice(),
        )?;
        // The output is compared to nothing: no password matches.
        Ok(false)
    }

    fn argon2(&self, params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    fn run(&self, params: Params, password: &[u8], salt: &[u8], output: &mut [u8]) -> Result<()> {
        let argon2 = self.argon2(params);
        let _permit = self.acquire()?;
        argon2
            .hash_password_into(password, salt, output)
            .map_err(|e| AuthError::Hashing {
                reason: e.to_string(),
            })
    }

    fn acquire(&self) -> Result<Permit<'_>> {
        let permit = self.inner.permits.acquire(self.inner.queue_wait_max)?;
        self.inner.hash_count.fetch_add(1, Ordering::Relaxed);
        Ok(permit)
    }

    /// The parameters, salt and expected output of a stored hash that the
    /// policy allows to run.
    fn check_stored<'h>(&self, parsed: &'h phc::PasswordHash) -> Result<CheckedHash<'h>> {
        if parsed.algorithm.as_str() != ALGORITHM_ID {
            return Err(refused(format!(
                "algorithm {} is not {ALGORITHM_ID}",
                parsed.algorithm.as_str()
            )));
        }
        if parsed.version != Some(ARGON2_VERSION) {
            return Err(refused(format!(
                "Argon2 version {:?} is not {ARGON2_VERSION}",
                parsed.version
            )));
        }
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Err(refused("the salt or the hash is missing".into()));
        };
        let params = Params::try_from(parsed).map_err(|e| refused(e.to_string()))?;
        let costs = HashParams {
            memory_kib: params.m_cost(),
            passes: params.t_cost(),
            lanes: params.p_cost(),
        };
        if !costs.within(&self.inner.stored_limit) {
            return Err(refused(format!(
                "its costs {costs:?} exceed the policy limit {:?}",
                self.inner.stored_limit
            )));
        }
        if !params.keyid().is_empty() || !params.data().is_empty() {
            return Err(refused(
                "keyid and data parameters are not used here".into(),
            ));
        }
        let expected = expected.as_bytes();
        if !(OUTPUT_BYTES_MIN..=OUTPUT_BYTES_MAX).contains(&expected.len()) {
            return Err(refused(format!(
                "a {}-byte output is not in {OUTPUT_BYTES_MIN}..={OUTPUT_BYTES_MAX}",
                expected.len()
            )));
        }
        Ok(CheckedHash {
            params,
            salt: salt.as_ref(),
            expected,
        })
    }
}

struct CheckedHash<'h> {
    params: Params,
    salt: &'h [u8],
    expected: &'h [u8],
}

fn refused(reason: String) -> AuthError {
    AuthError::StoredHashRefused { reason }
}

fn check_length(password: &[u8]) -> Result<()> {
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(AuthError::PasswordTooLong {
            len: password.len(),
            max: PASSWORD_BYTES_MAX,
        });
    }
    Ok(())
}

/// A counting semaphore: at most `total` hashes hold a slot at once.
struct Permits {
    total: usize,
    free: Mutex<usize>,
    released: Condvar,
}

struct Permit<'a> {
    permits: &'a Permits,
}

impl Permits {
    fn new(total: usize) -> Self {
        Permits {
            total,
            free: Mutex::new(total),
            released: Condvar::new(),
        }
    }

    fn acquire(&self, wait_max: Duration) -> Result<Permit<'_>> {
        let start = Instant::now();
        let deadline = start + wait_max;
        let mut free = self.free.lock();
        while *free == 0 {
            if self.released.wait_until(&mut free, deadline).timed_out() && *free == 0 {
                return Err(AuthError::HasherBusy {
                    waited: start.elapsed(),
                });
            }
        }
        *free -= 1;
        Ok(Permit { permits: self })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self.permits.free.lock();
        *free += 1;
        debug_assert!(
            *free <= self.permits.total,
            "more slots released than taken"
        );
        self.permits.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> SecretHasher {
        SecretHasher::builder()
            .params(HashParams {
                memory_kib: 64,
                passes: 1,
                lanes: 1,
            })
            .build()
            .unwrap()
    }

    #[test]
    fn defaults_are_the_owasp_minimum() {
        let hasher = SecretHasher::builder().build().unwrap();
        assert_eq!(
            hasher.params(),
            HashParams {
                memory_kib: 19456,
                passes: 2,
                lanes: 1
            }
        );
    }

    #[test]
    fn hash_then_verify() {
        let hasher = cheap();
        let hash = hasher.hash_password(b"correct horse").unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(hasher.verify_password(b"correct horse", &hash).unwrap());
        assert!(!hasher.verify_password(b"correct horsf", &hash).unwrap());
        assert_eq!(hasher.hash_count(), 3);
    }

    #[test]
    fn same_password_gets_different_salts() {
        let hasher = cheap();
        let a = hasher.hash_password(b"pw").unwrap();
        let b = hasher.hash_password(b"pw").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn builder_refuses_out_of_range_params() {
        let cases = [
            HashParams {
                memory_kib: 4,
                passes: 1,
                lanes: 1,
            },
            HashParams {
                memory_kib: 64,
                passes: 0,
                lanes: 1,
            },
            HashParams {
                memory_kib: 64,
                passes: 1,
                lanes: 0,
            },
            HashParams {
                memory_kib: 16,
                passes: 1,
                lanes: 4,
            },
            HashParams {
                memory_kib: MEMORY_KIB_MAX + 1,
                passes: 1,
                lanes: 1,
            },
        ];
        for params in cases {
            let built = SecretHasher::builder().params(params).build();
            assert!(
                matches!(built, Err(AuthError::InvalidHashParams { .. })),
                "{params:?}"
            );
        }
        let zero_slots = SecretHasher::builder().concurrent_hashes_max(0).build();
        assert!(zero_slots.is_err());
        let limit_below = SecretHasher::builder()
            .stored_limit(HashParams {
                memory_kib: 1024,
                passes: 1,
                lanes: 1,
            })
            .build();
        assert!(limit_below.is_err());
    }

    #[test]
    fn oversize_password_is_refused_before_hashing() {
        let hasher = cheap();
        let hash = hasher.hash_password(b"pw").unwrap();
        let before = hasher.hash_count();
        let long = vec![b'a'; PASSWORD_BYTES_MAX + 1];
        assert!(matches!(
            hasher.hash_password(&long),
            Err(AuthError::PasswordTooLong {
                len: 4097,
                max: 4096
            })
        ));
        assert!(matches!(
            hasher.verify_password(&long, &hash),
            Err(AuthError::PasswordTooLong { .. })
        ));
        assert!(hasher.verify_dummy(&long).is_err());
        assert_eq!(hasher.hash_count(), before);
        // The limit itself is allowed.
        assert!(hasher.hash_password(&long[..PASSWORD_BYTES_MAX]).is_ok());
    }

    #[test]
    fn stored_hash_beyond_policy_is_refused_unrun() {
        let costly = SecretHasher::builder()
            .params(HashParams {
                memory_kib: 256,
                passes: 1,
                lanes: 1,
            })
            .build()
            .unwrap();
        let hash = costly.hash_password(b"pw").unwrap();
        let hasher = cheap();
        let err = hasher.verify_password(b"pw", &hash).unwrap_err();
        assert!(matches!(err, AuthError::StoredHashRefused { .. }), "{err}");
        assert_eq!(hasher.hash_count(), 0);

        // With a raised limit it verifies.
        let tolerant = SecretHasher::builder()
            .params(HashParams {
                memory_kib: 64,
                passes: 1,
                lanes: 1,
            })
            .stored_limit(HashParams {
                memory_kib: 256,
                passes: 1,
                lanes: 1,
            })
            .build()
            .unwrap();
        assert!(tolerant.verify_password(b"pw", &hash).unwrap());
    }

    #[test]
    fn other_algorithms_and_garbage_are_refused() {
        let hasher = cheap();
        let good = hasher.hash_password(b"pw").unwrap();
        let argon2i = PasswordHash(good.as_str().replacen("argon2id", "argon2i", 1));
        let old_version = PasswordHash(good.as_str().replacen("v=19", "v=16", 1));
        for stored in [
            argon2i,
            old_version,
            PasswordHash("plain".into()),
            PasswordHash(String::new()),
            PasswordHash("$argon2id$v=19$m=64,t=1,p=1".into()),
        ] {
            assert!(
                matches!(
                    hasher.verify_password(b"pw", &stored),
                    Err(AuthError::StoredHashRefused { .. })
                ),
                "{stored:?}"
            );
        }
        assert_eq!(hasher.hash_count(), 1);
    }

    #[test]
    fn dummy_verification_costs_one_hash_and_fails() {
        let hasher = cheap();
        assert!(!hasher.verify_dummy(b"anything").unwrap());
        assert_eq!(hasher.hash_count(), 1);
    }

    #[test]
    fn debug_hides_salt_and_hash() {
        let hasher = cheap();
        let hash = hasher.hash_password(b"pw").unwrap();
        let salt_and_hash: Vec<&str> = hash.as_str().rsplitn(3, '$').take(2).collect();
        let shown = format!("{hash:?} {hasher:?}");
        for part in salt_and_hash {
            assert!(!shown.contains(part), "{shown}");
        }
        assert!(shown.contains("m=64,t=1,p=1"), "{shown}");
    }

    #[test]
    fn slots_bound_concurrent_hashes() {
        let hasher = SecretHasher::builder()
            .params(HashParams {
                memory_kib: 64,
                passes: 1,
                lanes: 1,
            })
            .concurrent_hashes_max(1)
            .queue_wait_max(Duration::from_millis(20))
            .build()
            .unwrap();
        let held = hasher.inner.permits.acquire(Duration::ZERO).unwrap();
        let err = hasher.hash_password(b"pw").unwrap_err();
        assert!(matches!(err, AuthError::HasherBusy { .. }), "{err}");
        drop(held);
        assert!(hasher.hash_password(b"pw").is_ok());
    }
}
