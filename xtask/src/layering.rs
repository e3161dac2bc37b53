//! The dependency-direction check: hightower crates depend strictly downward.
//!
//! The layer order, lowest first, is
//! log < index < compact < engine < {auth, repl} < {raft, server} < cli < hightower.
//! `hightower-auth` and `hightower-repl` share a layer, so neither may depend
//! on the other; so do `hightower-raft` and `hightower-server`. Normal and build dependencies count; dev-dependencies are
//! exempt because tests of a low layer may drive it through a higher one.
//!
//! Every workspace member must be either in [`LAYERS`] or in [`TOOLS`]: a new
//! crate is an architecture change, so the check fails until someone places
//! it (and says so in docs/ARCHITECTURE.md). Tools sit above every layer:
//! they may depend on any crate, and no layered crate may depend on them.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Result, bail};
use xshell::Shell;

use crate::metadata;

/// Library crates and their layer; a crate may depend only on lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("hightower-log", 0),
    ("hightower-index", 1),
    ("hightower-compact", 2),
    ("hightower-engine", 3),
    ("hightower-auth", 4),
    ("hightower-repl", 4),
    ("hightower-raft", 5),
    ("hightower-server", 5),
    ("hightower-cli", 6),
    ("hightower", 7),
];

/// Workspace members outside the layers: automation and benchmark harnesses.
const TOOLS: &[&str] = &["xtask", "hightower-peers-bench"];

/// How a crate depends on another, as far as layering is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DepKind {
    Normal,
    Build,
    Dev,
}

impl fmt::Display for DepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DepKind::Normal => "dependency",
            DepKind::Build => "build-dependency",
            DepKind::Dev => "dev-dependency",
        })
    }
}

/// One workspace member and the packages it declares as dependencies.
#[derive(Debug)]
pub(crate) struct CrateDeps {
    pub(crate) name: String,
    pub(crate) deps: Vec<(String, DepKind)>,
}

/// Runs the check on the main workspace and fails naming every bad edge.
pub(crate) fn run(sh: &Shell) -> Result<()> {
    let manifest_path = sh.current_dir().join("Cargo.toml");
    let crates = crate_deps(&metadata::load(sh, &manifest_path)?)?;
    let violations = violations(&crates);
    if violations.is_empty() {
        eprintln!(
            "layering: {} crates, all dependencies point downward",
            crates.len()
        );
        return Ok(());
    }
    for violation in &violations {
        eprintln!("layering: {violation}");
    }
    bail!(
        "layering check failed with {} violation(s); the order is \
         log < index < compact < engine < {{auth, repl}} < server < cli < hightower",
        violations.len()
    )
}

fn crate_deps(metadata: &metadata::Metadata) -> Result<Vec<CrateDeps>> {
    let mut crates = Vec::with_capacity(metadata.packages.len());
    for package in &metadata.packages {
        let mut deps = Vec::with_capacity(package.dependencies.len());
        for dep in &package.dependencies {
            let kind = match dep.kind.as_deref() {
                None | Some("normal") => DepKind::Normal,
                Some("build") => DepKind::Build,
                Some("dev") => DepKind::Dev,
                Some(other) => bail!("`{}`: unknown dependency kind `{other}`", package.name),
            };
            deps.push((dep.name.clone(), kind));
        }
        crates.push(CrateDeps {
            name: package.name.clone(),
            deps,
        });
    }
    Ok(crates)
}

/// Every layering rule that `crates` breaks, as messages naming both crates.
///
/// Dependencies on packages outside `crates` (third-party crates) are ignored.
pub(crate) fn violations(crates: &[CrateDeps]) -> Vec<String> {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut violations = Vec::new();
    for krate in crates {
        let name = krate.name.as_str();
        if !layers.contains_key(name) && !TOOLS.contains(&name) {
            violations.push(format!(
                "`{name}` has no place in the layer order: add it to LAYERS or TOOLS \
                 in xtask/src/layering.rs and describe it in docs/ARCHITECTURE.md"
            ));
        }
    }
    for krate in crates {
        let Some(&from_layer) = layers.get(krate.name.as_str()) else {
            continue; // Tools may depend on anything; unplaced crates are reported above.
        };
        for (dep, kind) in &krate.deps {
            if *kind == DepKind::Dev || !crates.iter().any(|c| &c.name == dep) {
                continue;
            }
            let from = &krate.name;
            match layers.get(dep.as_str()) {
                None => violations.push(format!(
                    "`{from}` has a {kind} on `{dep}`, which is not a library layer"
                )),
                Some(&to_layer) if to_layer == from_layer => violations.push(format!(
                    "`{from}` has a {kind} on `{dep}`, but they are peers in the same layer \
                     and neither may depend on the other"
                )),
                Some(&to_layer) if to_layer > from_layer => violations.push(format!(
                    "`{from}` has a {kind} on `{dep}`, which is above it: an upward edge"
                )),
                Some(_) => {}
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krate(name: &str, deps: &[(&str, DepKind)]) -> CrateDeps {
        CrateDeps {
            name: name.to_owned(),
            deps: deps
                .iter()
                .map(|(dep, kind)| ((*dep).to_owned(), *kind))
                .collect(),
        }
    }

    /// The real layered crates with no dependencies, plus `extra`.
    fn workspace(extra: Vec<CrateDeps>) -> Vec<CrateDeps> {
        let mut crates: Vec<CrateDeps> = LAYERS.iter().map(|(name, _)| krate(name, &[])).collect();
        crates.retain(|c| !extra.iter().any(|e| e.name == c.name));
        crates.extend(extra);
        crates
    }

    #[test]
    fn downward_edges_pass() {
        let crates = workspace(vec![
            krate("hightower-index", &[("hightower-log", DepKind::Normal)]),
            krate("hightower-engine", &[("hightower-log", DepKind::Build)]),
            krate(
                "hightower",
                &[
                    ("hightower-server", DepKind::Normal),
                    ("hightower-auth", DepKind::Normal),
                ],
            ),
            krate("hightower-auth", &[("hightower-engine", DepKind::Normal)]),
            krate("hightower-repl", &[("hightower-engine", DepKind::Normal)]),
        ]);
        assert_eq!(violations(&crates), Vec::<String>::new());
    }

    #[test]
    fn upward_edge_fails_naming_both_crates() {
        let crates = workspace(vec![krate(
            "hightower-log",
            &[("hightower-index", DepKind::Normal)],
        )]);
        let found = violations(&crates);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`hightower-log`") && found[0].contains("`hightower-index`"));
        assert!(found[0].contains("upward"));
    }

    #[test]
    fn the_server_may_not_depend_on_the_cli() {
        let crates = workspace(vec![
            krate("hightower-cli", &[("hightower-server", DepKind::Normal)]),
            krate("hightower-server", &[("hightower-cli", DepKind::Normal)]),
        ]);
        let found = violations(&crates);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("`hightower-server`") && found[0].contains("upward"));
    }

    #[test]
    fn upward_build_dependency_fails() {
        let crates = workspace(vec![krate(
            "hightower-index",
            &[("hightower-engine", DepKind::Build)],
        )]);
        assert_eq!(violations(&crates).len(), 1);
    }

    #[test]
    fn sideways_edge_between_auth_and_repl_fails() {
        for (from, to) in [
            ("hightower-auth", "hightower-repl"),
            ("hightower-repl", "hightower-auth"),
        ] {
            let crates = workspace(vec![krate(from, &[(to, DepKind::Normal)])]);
            let found = violations(&crates);
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].contains(from) && found[0].contains(to) && found[0].contains("peers"));
        }
    }

    #[test]
    fn self_layer_edge_fails() {
        let crates = workspace(vec![krate(
            "hightower-engine",
            &[("hightower-engine", DepKind::Normal)],
        )]);
        assert_eq!(violations(&crates).len(), 1);
    }

    #[test]
    fn dev_dependencies_are_exempt() {
        let crates = workspace(vec![
            krate("hightower-log", &[("hightower", DepKind::Dev)]),
            krate("hightower-auth", &[("hightower-repl", DepKind::Dev)]),
        ]);
        assert_eq!(violations(&crates), Vec::<String>::new());
    }

    #[test]
    fn third_party_dependencies_are_ignored() {
        let crates = workspace(vec![krate(
            "hightower-log",
            &[("thiserror", DepKind::Normal)],
        )]);
        assert_eq!(violations(&crates), Vec::<String>::new());
    }

    #[test]
    fn tools_may_depend_on_anything_but_not_be_depended_on() {
        let crates = workspace(vec![krate("xtask", &[("hightower", DepKind::Normal)])]);
        assert_eq!(violations(&crates), Vec::<String>::new());

        let crates = workspace(vec![
            krate("xtask", &[]),
            krate("hightower-engine", &[("xtask", DepKind::Normal)]),
        ]);
        let found = violations(&crates);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`hightower-engine`") && found[0].contains("`xtask`"));
    }

    #[test]
    fn metadata_dependency_kinds_are_read() {
        let json = r#"{"packages": [{
            "name": "hightower-index",
            "targets": [{"name": "hightower_index", "kind": ["lib"]}],
            "dependencies": [
                {"name": "hightower-log", "kind": null},
                {"name": "hightower-log", "kind": "build"},
                {"name": "hightower", "kind": "dev"}
            ]
        }]}"#;
        let metadata: metadata::Metadata = serde_json::from_str(json).unwrap();
        let crates = crate_deps(&metadata).unwrap();
        assert_eq!(crates.len(), 1);
        assert_eq!(
            crates[0].deps,
            vec![
                ("hightower-log".to_owned(), DepKind::Normal),
                ("hightower-log".to_owned(), DepKind::Build),
                ("hightower".to_owned(), DepKind::Dev),
            ]
        );
    }

    #[test]
    fn unplaced_crate_fails() {
        let crates = workspace(vec![krate("hightower-misc", &[])]);
        let found = violations(&crates);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`hightower-misc`"));
    }
}
