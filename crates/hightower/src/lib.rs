//! Hightower KV: a crash-safe, versioned key-value store.
//!
//! This umbrella crate re-exports the layers so that one dependency brings
//! them all: [`log`] (checksummed segments) and [`index`] (the in-memory
//! key directory).

pub use hightower_index as index;
pub use hightower_log as log;
