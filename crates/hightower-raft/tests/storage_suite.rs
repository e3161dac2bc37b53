//! openraft's own storage suite against the Raft log store and the engine
//! state machine: log reads, truncation, purging, votes, membership from
//! log and machine, applying, and snapshot transfer.

#![allow(clippy::result_large_err)]

use std::sync::Arc;

use hightower_engine::{Durability, EngineConfig, SingleNodeEngine};
use hightower_log::vfs::StdVfs;
use hightower_raft::types::{StorageError, StorageIoError, TypeConfig};
use hightower_raft::{EngineStateMachine, LogStoreOptions, RaftLogStore};
use openraft::testing::{StoreBuilder, Suite};

struct Builder;

fn setup_error(error: impl std::fmt::Display) -> StorageError {
    let error = std::io::Error::other(error.to_string());
    StorageError::from(StorageIoError::write(&error))
}

impl StoreBuilder<TypeConfig, RaftLogStore, EngineStateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, RaftLogStore, EngineStateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(setup_error)?;
        let config = EngineConfig::new(dir.path().join("data"))
            .durability(Durability::None)
            .expiry_sweep_keys_per_second(0);
        let engine = SingleNodeEngine::with_config(config).map_err(setup_error)?;
        let log = RaftLogStore::open_with(dir.path().join("log"), LogStoreOptions::default())?;
        let machine = EngineStateMachine::open(
            Arc::new(engine),
            Arc::new(StdVfs::default()),
            dir.path().join("snapshot"),
        )?;
        Ok((dir, log, machine))
    }
}

#[test]
fn openraft_storage_suite_passes() -> Result<(), StorageError> {
    Suite::test_all(Builder)
}
