//! Command-line cases as data: each folder under `fixtures/cli/` holds `args` (one argument per
//! line), optionally `stdin`, and `expected` (exit code, stdout and stderr as the binary printed
//! them). `UPDATE_FIXTURES=1` rewrites `expected` from the actual run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cli")
}

/// Runs the binary with the case's arguments and stdin; returns the rendered outcome.
fn run_case(case: &Path) -> String {
    let args_text = std::fs::read_to_string(case.join("args"))
        .unwrap_or_else(|err| panic!("{}: reading args: {err}", case.display()));
    let args: Vec<&str> = args_text.lines().collect();
    let stdin = std::fs::read(case.join("stdin")).unwrap_or_default();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollen"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting pollen");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(&stdin)
        .expect("writing stdin");
    let output = child.wait_with_output().expect("waiting for pollen");
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output
            .status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}

fn check(case: &Path, actual: &str) {
    let expected_path = case.join("expected");
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&expected_path, actual).expect("writing expected");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|err| {
        panic!(
            "{}: {err} (run `cargo xtask fixtures` to create it)",
            expected_path.display()
        )
    });
    assert_eq!(actual, expected, "case {}", case.display());
}

#[test]
fn cli_cases() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("reading fixtures/cli")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases under fixtures/cli");
    for case in &cases {
        check(case, &run_case(case));
    }
}
