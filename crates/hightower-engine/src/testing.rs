//! What the engine's own integration tests look at inside a
//! [`SingleNodeEngine`], behind the `testing` feature (the engine's
//! dev-dependency on itself turns it on; nothing else should).
//!
//! Only what a test cannot see through the traits: waiting for background
//! seals, the seal and roll counters, writing buffered appends out, and
//! which segment a key's newest record lies in. Every function reads or
//! waits; none writes past the engine's key locks.

use crate::engine::SingleNodeEngine;
use crate::error::Result;

pub use crate::storage::SEALS_IN_FLIGHT_MAX;

/// Waits for the background seals of rolled segments; returns the first
/// failure (which has poisoned the engine).
pub fn finish_seals(engine: &SingleNodeEngine) -> Result<()> {
    engine.storage().finish_seals()
}

/// Background seals started and not yet joined; at most
/// [`SEALS_IN_FLIGHT_MAX`].
pub fn seals_in_flight(engine: &SingleNodeEngine) -> usize {
    engine.storage().seals_in_flight()
}

/// Segment rolls since the engine was opened.
pub fn roll_count(engine: &SingleNodeEngine) -> u64 {
    engine.storage().roll_count()
}

/// Writes the active segment's buffered appends to the operating system
/// (no fsync).
pub fn flush(engine: &SingleNodeEngine) -> Result<()> {
    engine.storage().flush()
}

/// The id of the segment that holds the newest record of `key`, when the
/// key is live.
pub fn segment_of(engine: &SingleNodeEngine, key: &[u8]) -> Option<u32> {
    engine
        .storage()
        .index()
        .get(key)
        .map(|entry| entry.location.segment_id)
}
