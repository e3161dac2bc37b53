//! [`Poison`]: the first fatal failure of an engine, shared by its write
//! path and its background threads. Once set, the engine takes no more
//! writes until it is reopened (`EngineError::Poisoned` names the reason).

use std::sync::Arc;

use parking_lot::Mutex;

/// See the module docs. Clones share one slot; the first reason set wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct Poison(Arc<Mutex<Option<String>>>);

impl Poison {
    /// Poisons the engine with `reason`, unless it already is.
    pub(crate) fn set(&self, reason: impl FnOnce() -> String) {
        self.0.lock().get_or_insert_with(reason);
    }

    /// What poisoned the engine, if anything did.
    pub(crate) fn reason(&self) -> Option<String> {
        self.0.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_stays() {
        let poison = Poison::default();
        assert_eq!(poison.reason(), None);
        let shared = poison.clone();
        shared.set(|| "first".to_string());
        poison.set(|| "second".to_string());
        assert_eq!(poison.reason().as_deref(), Some("first"));
    }
}
