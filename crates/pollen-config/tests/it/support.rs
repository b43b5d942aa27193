//! Paths and the `check` helper shared by the tests.

use std::path::{Path, PathBuf};

use pollen_config::InstanceConfig;

/// `fixtures/instances/` of the workspace.
pub(crate) fn instances_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/instances")
        .canonicalize()
        .expect("fixtures/instances exists")
}

/// The text of one instance fixture.
pub(crate) fn read_instance(name: &str) -> String {
    let path = instances_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Loads a fixture that must load; panics with every problem otherwise.
pub(crate) fn load(name: &str) -> pollen_config::Loaded {
    InstanceConfig::from_json_str(&read_instance(name))
        .unwrap_or_else(|errors| panic!("{name} does not load:\n{}", errors.render(name)))
}

/// What `pollen validate FILE` prints for an instance JSON: every problem, then `FILE: ok` when
/// none is an error.
pub(crate) fn report(file_name: &str, text: &str) -> String {
    let mut lines = Vec::new();
    match InstanceConfig::from_json_str(text) {
        Ok(loaded) => {
            lines.extend(loaded.warnings.iter().map(|w| w.render(file_name)));
            lines.push(format!("{file_name}: ok"));
        }
        Err(errors) => lines.push(errors.render(file_name)),
    }
    lines.join("\n") + "\n"
}

/// Compares `actual` with the file `expected`; with `UPDATE_FIXTURES=1` set, writes it instead.
/// Returns a description of the difference, if any.
pub(crate) fn check(actual: &str, expected: &Path) -> Option<String> {
    if std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1") {
        std::fs::write(expected, actual)
            .unwrap_or_else(|e| panic!("writing {}: {e}", expected.display()));
        return None;
    }
    let wanted = match std::fs::read_to_string(expected) {
        Ok(text) => text,
        Err(e) => {
            return Some(format!(
                "{}: {e} (run with UPDATE_FIXTURES=1 to create it)",
                expected.display()
            ))
        }
    };
    (wanted != actual).then(|| {
        format!(
            "{} differs\n--- expected\n{wanted}--- actual\n{actual}",
            expected.display()
        )
    })
}
