//! Hightower KV: a crash-safe, versioned key-value store.
//!
//! This umbrella crate re-exports the layers so that one dependency brings
//! them all. Most users start from [`engine::SingleNodeEngine`]:
//!
//! - [`log`]: checksummed append-only segments (`LogSegment`), the record
//!   codec, footers with Bloom filters and sparse indexes.
//! - [`index`]: the in-memory, copy-on-write key directory (`Index`).
//! - [`engine`]: `SingleNodeEngine` with versions, compare-and-set, atomic
//!   batches, group commit, snapshots and recovery.
//! - [`compact`]: the `Compactor` and its policy.
//! - [`auth`]: `AuthService` (users, API keys, grants) and its crypto.
//! - [`repl`]: the replication traits and `LocalReplication`.
//! - [`server`]: the Redis-protocol server (`Server`) over any engine with
//!   the engine's traits. The `hightower` binary is `hightower-cli`.
//!
//! ```
//! use hightower::engine::{EngineConfig, KvEngine, SingleNodeEngine};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let engine = SingleNodeEngine::with_config(EngineConfig::new(dir.path()))?;
//! let version = engine.put(b"greeting", b"hello")?;
//! assert_eq!(engine.get(b"greeting")?.map(|v| v.version), Some(version));
//! # Ok(()) }
//! ```

pub use hightower_auth as auth;
pub use hightower_compact as compact;
pub use hightower_engine as engine;
pub use hightower_index as index;
pub use hightower_log as log;
pub use hightower_repl as repl;
pub use hightower_server as server;
