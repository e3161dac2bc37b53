//! The tidy check: Rust files open with `//!` docs, text files are ASCII,
//! and the storage crates make no file-system call around their `Vfs`.
//!
//! The `Vfs` rule: non-test code of `hightower-log`, `-index`, `-compact`
//! and `-engine` (their `src/`) must not name `std::fs::` nor `use
//! std::fs`, so that every file-system call goes through
//! `hightower_log::vfs::Vfs`, where tests inject faults and crashes. The
//! real and the testing file systems (`crates/hightower-log/src/vfs.rs`
//! and `crates/hightower-log/src/vfs/`) are exempt. Test code is skipped
//! simply: everything after a line that is exactly `#[cfg(test)]` at
//! column 0 (house style puts the `#[cfg(test)] mod tests` block last),
//! a test module in a file of its own (`tests.rs`), and `//` comment
//! lines. It is a textual check: `use std::{fs, ..}` or a
//! `Path::exists` call is for review to catch.
//!
//! The engine-boundary rule: non-test code of `hightower-server` and
//! `hightower-cli` (their `src/`) must not name `.storage()`, `.index()` nor
//! `hightower_engine::storage`, so that the server knows the store only
//! through `KvEngine`, `SnapshotEngine`, `AdminEngine` and `ReadView` (the
//! Architecture Invariant in docs/ARCHITECTURE.md). There are no
//! exceptions.
//!
//! It looks at every file git tracks or would track (untracked files that
//! no `.gitignore` excludes), so a new file is checked before its first
//! commit. Paths with a `target` component are skipped.

use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

/// Extensions of the text files that must be ASCII only.
const TEXT_EXTENSIONS: &[&str] = &["rs", "md", "toml"];

/// Directories whose `.rs` files must open with `//!` docs.
const DOCUMENTED_DIRS: &[&str] = &["crates/", "xtask/", "fuzz/fuzz_targets/", "benches/"];

/// Source directories whose non-test code must reach files only through
/// the `Vfs`.
const VFS_ONLY_DIRS: &[&str] = &[
    "crates/hightower-log/src/",
    "crates/hightower-index/src/",
    "crates/hightower-compact/src/",
    "crates/hightower-engine/src/",
];

/// The `Vfs` implementations themselves, which call `std::fs`.
const VFS_IMPLEMENTATIONS: &[&str] = &[
    "crates/hightower-log/src/vfs.rs",
    "crates/hightower-log/src/vfs/",
];

/// Source directories whose non-test code reaches the engine through its
/// traits only.
const ENGINE_TRAITS_ONLY_DIRS: &[&str] =
    &["crates/hightower-server/src/", "crates/hightower-cli/src/"];

/// What names the engine's internals.
const ENGINE_INTERNALS: &[&str] = &[".storage()", ".index()", "hightower_engine::storage"];

/// Runs the check and fails with one `file:line: problem` line per offender.
pub(crate) fn run(sh: &Shell) -> Result<()> {
    let listing = cmd!(sh, "git ls-files -z --cached --others --exclude-standard")
        .quiet()
        .read()
        .context("tidy lists files with `git ls-files`; run it inside the git checkout")?;
    let mut n_files_checked = 0_usize;
    let mut problems = Vec::new();
    for path in listing.split('\0').filter(|path| is_checked(path)) {
        let full_path = sh.current_dir().join(path);
        if !full_path.exists() {
            continue; // Deleted in the work tree but not yet in the index.
        }
        let bytes = std::fs::read(&full_path).with_context(|| format!("cannot read {path}"))?;
        problems.extend(check_file(path, &bytes));
        n_files_checked += 1;
    }
    if problems.is_empty() {
        eprintln!("tidy: {n_files_checked} files checked, no problems");
        return Ok(());
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    bail!("tidy check failed with {} problem(s)", problems.len())
}

/// Whether tidy looks at `path` (relative to the repository root) at all.
fn is_checked(path: &str) -> bool {
    let path = Path::new(path);
    let is_text = path
        .extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| TEXT_EXTENSIONS.contains(&extension));
    is_text
        && !path
            .components()
            .any(|component| component.as_os_str() == "target")
}

/// Every problem in one file, as `path:line: problem` messages.
fn check_file(path: &str, bytes: &[u8]) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return vec![format!(
            "{path}: not valid UTF-8 (text files must be ASCII)"
        )];
    };
    let mut problems: Vec<String> = non_ascii(text)
        .into_iter()
        .map(|(line, column, ch)| {
            format!(
                "{path}:{line}:{column}: non-ASCII character U+{:04X}",
                u32::from(ch)
            )
        })
        .collect();
    if needs_module_docs(path)
        && let Err(line) = check_module_docs(text)
    {
        problems.push(format!(
            "{path}:{line}: first non-empty line must start with `//!`"
        ));
    }
    if must_use_vfs(path) {
        problems.extend(direct_fs_calls(text).into_iter().map(|line| {
            format!(
                "{path}:{line}: `std::fs` in a storage crate; go through `hightower_log::vfs::Vfs`"
            )
        }));
    }
    if must_use_engine_traits(path) {
        problems.extend(engine_internal_uses(text).into_iter().map(|line| {
            format!(
                "{path}:{line}: the server reaches engine internals; use `KvEngine`, `SnapshotEngine`, `AdminEngine` or `ReadView`"
            )
        }));
    }
    problems
}

fn must_use_engine_traits(path: &str) -> bool {
    path.ends_with(".rs")
        && ENGINE_TRAITS_ONLY_DIRS
            .iter()
            .any(|dir| path.starts_with(dir))
}

/// The 1-based lines of non-test code that name an engine internal (test
/// code skipped as for the `Vfs` rule).
fn engine_internal_uses(text: &str) -> Vec<usize> {
    text.lines()
        .take_while(|line| line.trim_end() != "#[cfg(test)]")
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| ENGINE_INTERNALS.iter().any(|name| line.contains(name)))
        .map(|(index, _)| index + 1)
        .collect()
}

fn must_use_vfs(path: &str) -> bool {
    path.ends_with(".rs")
        && !path.ends_with("/tests.rs")
        && VFS_ONLY_DIRS.iter().any(|dir| path.starts_with(dir))
        && !VFS_IMPLEMENTATIONS
            .iter()
            .any(|exempt| path.starts_with(exempt))
}

/// The 1-based lines of non-test code that name `std::fs` (see the module
/// docs for what counts as test code).
fn direct_fs_calls(text: &str) -> Vec<usize> {
    text.lines()
        .take_while(|line| line.trim_end() != "#[cfg(test)]")
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| line.contains("std::fs::") || line.contains("use std::fs"))
        .map(|(index, _)| index + 1)
        .collect()
}

fn needs_module_docs(path: &str) -> bool {
    path.ends_with(".rs") && DOCUMENTED_DIRS.iter().any(|dir| path.starts_with(dir))
}

/// The first non-ASCII character on each line that has one, as
/// (1-based line, 1-based column in characters, character).
fn non_ascii(text: &str) -> Vec<(usize, usize, char)> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let (column, ch) = line.chars().enumerate().find(|(_, ch)| !ch.is_ascii())?;
            Some((index + 1, column + 1, ch))
        })
        .collect()
}

/// `Ok` if the first non-empty line starts with `//!`; else the 1-based line
/// that should (the first non-empty one, or 1 for an empty file).
fn check_module_docs(text: &str) -> Result<(), usize> {
    let first = text
        .lines()
        .enumerate()
        .find(|(_, line)| !line.trim().is_empty());
    match first {
        Some((_, line)) if line.trim_start().starts_with("//!") => Ok(()),
        Some((index, _)) => Err(index + 1),
        None => Err(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_docs_on_first_non_empty_line_pass() {
        assert_eq!(check_module_docs("//! Docs.\nfn main() {}\n"), Ok(()));
        assert_eq!(check_module_docs("\n\n//! Docs.\n#![no_main]\n"), Ok(()));
    }

    #[test]
    fn missing_module_docs_report_the_line() {
        assert_eq!(check_module_docs("fn main() {}\n"), Err(1));
        assert_eq!(
            check_module_docs("\n// A plain comment.\n//! Docs.\n"),
            Err(2)
        );
        assert_eq!(check_module_docs("#![no_main]\n//! Docs.\n"), Err(1));
        assert_eq!(check_module_docs("/// Item docs.\nfn f() {}\n"), Err(1));
        assert_eq!(check_module_docs(""), Err(1));
        assert_eq!(check_module_docs("\n  \n"), Err(1));
    }

    #[test]
    fn ascii_text_passes() {
        assert_eq!(non_ascii("plain text\n\ttabs and ~ symbols {}\n"), vec![]);
    }

    #[test]
    fn non_ascii_reports_line_column_and_character() {
        let text = "ok\na \u{2014} dash\nfine\n\u{e9}t\u{e9}\n";
        assert_eq!(non_ascii(text), vec![(2, 3, '\u{2014}'), (4, 1, '\u{e9}')]);
    }

    #[test]
    fn check_file_formats_file_and_line() {
        let problems = check_file(
            "crates/hightower-log/src/lib.rs",
            "fn f() {}\n// \u{2192}\n".as_bytes(),
        );
        assert_eq!(
            problems,
            vec![
                "crates/hightower-log/src/lib.rs:2:4: non-ASCII character U+2192".to_owned(),
                "crates/hightower-log/src/lib.rs:1: first non-empty line must start with `//!`"
                    .to_owned(),
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let problems = check_file("docs/FORMAT.md", &[b'a', 0xff, b'\n']);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("docs/FORMAT.md:"));
    }

    #[test]
    fn module_docs_are_required_only_in_source_directories() {
        assert!(needs_module_docs("crates/hightower-log/src/record.rs"));
        assert!(needs_module_docs(
            "crates/hightower-log/tests/recover_torn_tail.rs"
        ));
        assert!(needs_module_docs("xtask/src/main.rs"));
        assert!(needs_module_docs("fuzz/fuzz_targets/record_decode.rs"));
        assert!(needs_module_docs("benches/peers/src/main.rs"));
        assert!(!needs_module_docs("docs/FORMAT.md"));
        assert!(!needs_module_docs("crates/hightower-log/Cargo.toml"));
    }

    #[test]
    fn std_fs_in_storage_code_is_reported_outside_tests() {
        let text = "//! Docs.\n\
                    use std::fs::File;\n\
                    // std::fs::read is named in a comment only.\n\
                    fn f() { let _ = std::fs::read(\"x\"); }\n\
                    use std::fs;\n\
                    #[cfg(test)]\n\
                    mod tests { fn g() { std::fs::write(\"x\", b\"\").unwrap(); } }\n";
        assert_eq!(direct_fs_calls(text), vec![2, 4, 5]);
        let problems = check_file("crates/hightower-engine/src/storage.rs", text.as_bytes());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("crates/hightower-engine/src/storage.rs:2: `std::fs`"));
    }

    #[test]
    fn an_indented_cfg_test_does_not_end_the_checked_code() {
        let text =
            "//! Docs.\nmod inner {\n    #[cfg(test)]\n    fn t() {}\n}\nuse std::fs::File;\n";
        assert_eq!(direct_fs_calls(text), vec![6]);
    }

    #[test]
    fn the_engine_boundary_rule_covers_the_server_and_its_tools() {
        assert!(must_use_engine_traits(
            "crates/hightower-server/src/server/commands/strings.rs"
        ));
        assert!(must_use_engine_traits(
            "crates/hightower-cli/src/commands/serve.rs"
        ));
        assert!(must_use_engine_traits(
            "crates/hightower-cli/src/commands/stats.rs"
        ));
        assert!(!must_use_engine_traits(
            "crates/hightower-engine/src/engine.rs"
        ));
        let text = "//! Docs.\nlet i = engine.storage().index();\n// .storage() in a comment\n\
                    #[cfg(test)]\nmod tests { fn t() { e.storage(); } }\n";
        assert_eq!(engine_internal_uses(text), [2]);
    }

    #[test]
    fn the_vfs_rule_covers_the_storage_crates_but_not_the_vfs() {
        assert!(must_use_vfs("crates/hightower-log/src/log_segment.rs"));
        assert!(must_use_vfs("crates/hightower-index/src/index.rs"));
        assert!(must_use_vfs("crates/hightower-compact/src/compactor.rs"));
        assert!(must_use_vfs(
            "crates/hightower-engine/src/storage/compaction.rs"
        ));
        assert!(!must_use_vfs("crates/hightower-log/src/vfs.rs"));
        assert!(!must_use_vfs("crates/hightower-log/src/vfs/crash.rs"));
        assert!(!must_use_vfs(
            "crates/hightower-engine/tests/crash_sigkill.rs"
        ));
        assert!(!must_use_vfs("crates/hightower-cli/src/commands/serve.rs"));
        assert!(!must_use_vfs("crates/hightower-engine/README.md"));
        assert!(!must_use_vfs(
            "crates/hightower-log/src/log_segment/tests.rs"
        ));
    }

    #[test]
    fn target_directories_and_other_extensions_are_skipped() {
        assert!(is_checked("crates/hightower-log/src/lib.rs"));
        assert!(is_checked("docs/ARCHITECTURE.md"));
        assert!(is_checked("Cargo.toml"));
        assert!(!is_checked("target/debug/build/out.rs"));
        assert!(!is_checked(
            "fuzz/target/x86_64-unknown-linux-gnu/release/gen.rs"
        ));
        assert!(!is_checked("Cargo.lock"));
        assert!(!is_checked(".ci/run"));
    }
}
