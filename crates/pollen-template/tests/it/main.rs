//! Integration tests of pollen-template: one module per feature, inputs and expected outputs
//! under `fixtures/` at the workspace root (`UPDATE_FIXTURES=1` regenerates them);
//! `fixtures/patterns/` is written by Java, see `xtask/java/PatternGolden.java`.

mod ceql;
mod pattern;
mod props;
mod template;
mod zone;

use std::path::PathBuf;

/// A file under the workspace's `fixtures/` directory.
pub(crate) fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path)
}

/// Whether `UPDATE_FIXTURES=1`: check helpers then write actual outputs instead of asserting.
pub(crate) fn updating() -> bool {
    std::env::var("UPDATE_FIXTURES").is_ok_and(|v| v == "1")
}

/// The data lines of a TSV fixture (comments `#` and blank lines skipped), split on tabs,
/// with their 1-based line numbers.
pub(crate) fn tsv(path: &str) -> Vec<(usize, Vec<String>)> {
    let text = std::fs::read_to_string(fixture(path))
        .unwrap_or_else(|e| panic!("reading fixture {path}: {e}"));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(i, line)| (i + 1, line.split('\t').map(str::to_owned).collect()))
        .collect()
}

/// Fails with the first few of `mismatches`, and how many there were out of `total`.
pub(crate) fn assert_none(what: &str, mismatches: &[String], total: usize) {
    if !mismatches.is_empty() {
        let shown: Vec<&str> = mismatches.iter().take(200).map(String::as_str).collect();
        panic!(
            "{what}: {} of {total} cases differ:\n{}",
            mismatches.len(),
            shown.join("\n")
        );
    }
}

/// Compares `actual` with the expected file, or rewrites the file under `UPDATE_FIXTURES=1`.
pub(crate) fn check_file(path: &str, actual: &str) {
    let file = fixture(path);
    if updating() {
        std::fs::write(&file, actual).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        return;
    }
    let expected =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading fixture {path}: {e}"));
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(20)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "{path} differs from the actual output (UPDATE_FIXTURES=1 rewrites it):\n{}\n(expected {} lines, actual {})",
            diff.join("\n"),
            expected.lines().count(),
            actual.lines().count()
        );
    }
}
