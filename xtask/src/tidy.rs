//! The tidy check: Rust files open with `//!` docs, text files are ASCII.
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
    problems
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
