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

/// Generated regions of hand-written pages: the file, the region's name, and its text. A
/// region sits between `<!-- generated: NAME (cargo xtask codegen) -->` and `<!-- end: NAME -->`.
const REGIONS: &[(&str, &str, Generator)] = &[(
    "docs/sage.md",
    "hub resources",
    pollen_sage::hub_resources_markdown,
)];

pub(crate) fn run(root: &Path) -> Result<()> {
    for (path, generate) in GENERATED {
        let target = root.join(path);
        std::fs::write(&target, generate())
            .with_context(|| format!("writing {}", target.display()))?;
        println!("codegen: wrote {path}");
    }
    for (path, name, generate) in REGIONS {
        let target = root.join(path);
        let current = std::fs::read_to_string(&target)
            .with_context(|| format!("reading {}", target.display()))?;
        let updated = with_region(&current, name, &generate())
            .with_context(|| format!("{path}: the region `{name}`"))?;
        std::fs::write(&target, updated)
            .with_context(|| format!("writing {}", target.display()))?;
        println!("codegen: wrote {path} ({name})");
    }
    Ok(())
}

/// `text` with the region `name` holding `body`; an error when its markers are missing.
fn with_region(text: &str, name: &str, body: &str) -> Result<String> {
    let open = format!("<!-- generated: {name} (cargo xtask codegen) -->\n");
    let close = format!("<!-- end: {name} -->");
    let start = text
        .find(&open)
        .with_context(|| format!("no line `{}`", open.trim_end()))?
        + open.len();
    let end = text[start..]
        .find(&close)
        .map(|at| start + at)
        .with_context(|| format!("no line `{close}` after the opening one"))?;
    Ok(format!("{}{body}{}", &text[..start], &text[end..]))
}

/// One message per generated file or region that is missing or differs from what `run` would
/// write.
pub(crate) fn stale(root: &Path) -> Vec<String> {
    let mut problems: Vec<String> = GENERATED
        .iter()
        .filter_map(|(path, generate)| {
            let current = std::fs::read_to_string(root.join(path)).ok();
            (current.as_deref() != Some(generate().as_str()))
                .then(|| format!("{path} is stale: run `cargo xtask codegen`"))
        })
        .collect();
    for (path, name, generate) in REGIONS {
        let current = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        match with_region(&current, name, &generate()) {
            Ok(updated) if updated == current => {}
            Ok(_) => problems.push(format!(
                "{path}: the region `{name}` is stale: run `cargo xtask codegen`"
            )),
            Err(error) => problems.push(format!("{path}: {error:#}")),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::with_region;

    #[test]
    fn a_region_is_replaced_between_its_markers_and_missing_markers_are_errors() {
        let page =
            "# T\n<!-- generated: t (cargo xtask codegen) -->\nold\n<!-- end: t -->\nafter\n";
        assert_eq!(
            with_region(page, "t", "new\n").unwrap(),
            "# T\n<!-- generated: t (cargo xtask codegen) -->\nnew\n<!-- end: t -->\nafter\n"
        );
        assert!(with_region("# T\n", "t", "x").is_err());
        assert!(with_region("<!-- generated: t (cargo xtask codegen) -->\n", "t", "x").is_err());
    }
}
