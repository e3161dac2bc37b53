//! The slice of `cargo metadata` output that xtask reads.
//!
//! Always called with `--no-deps`: the packages are then exactly the
//! workspace members, and cargo needs neither the network nor a lock file.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use xshell::{Shell, cmd};

/// The workspace members of one Cargo workspace.
#[derive(Debug, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) packages: Vec<Package>,
}

/// One workspace member.
#[derive(Debug, Deserialize)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) dependencies: Vec<Dependency>,
    pub(crate) targets: Vec<Target>,
}

/// One declared dependency of a package, by package name (not its rename).
#[derive(Debug, Deserialize)]
pub(crate) struct Dependency {
    pub(crate) name: String,
    /// `None` for a normal dependency, else `"dev"` or `"build"`.
    pub(crate) kind: Option<String>,
}

/// One build target (lib, bin, test, bench, ...) of a package.
#[derive(Debug, Deserialize)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) kind: Vec<String>,
}

/// Reads the metadata of the workspace whose manifest is `manifest_path`.
pub(crate) fn load(sh: &Shell, manifest_path: &Path) -> Result<Metadata> {
    let json = cmd!(
        sh,
        "cargo metadata --format-version 1 --no-deps --manifest-path {manifest_path}"
    )
    .quiet()
    .read()
    .with_context(|| format!("`cargo metadata` failed for {}", manifest_path.display()))?;
    serde_json::from_str(&json).with_context(|| {
        format!(
            "cannot parse `cargo metadata` output for {}",
            manifest_path.display()
        )
    })
}
