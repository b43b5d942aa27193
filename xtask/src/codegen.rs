//! `cargo xtask codegen`: write the files generated from code; `cargo xtask tidy` fails when one
//! differs from what this would write.

use std::path::Path;

use anyhow::{Context, Result};

/// Produces the full text of one generated file.
type Generator = fn() -> String;

/// Each generated file (relative to the workspace root) and the function producing it.
const GENERATED: &[(&str, Generator)] = &[(
    "docs/configuration.md",
    pollen_config::schema::reference_markdown,
)];

pub(crate) fn run(root: &Path) -> Result<()> {
    for (path, generate) in GENERATED {
        let target = root.join(path);
        std::fs::write(&target, generate())
            .with_context(|| format!("writing {}", target.display()))?;
        println!("codegen: wrote {path}");
    }
    Ok(())
}

/// One message per generated file that is missing or differs from what `run` would write.
pub(crate) fn stale(root: &Path) -> Vec<String> {
    GENERATED
        .iter()
        .filter_map(|(path, generate)| {
            let current = std::fs::read_to_string(root.join(path)).ok();
            (current.as_deref() != Some(generate().as_str()))
                .then(|| format!("{path} is stale: run `cargo xtask codegen`"))
        })
        .collect()
}
