//! The layering check: the dependency rules of `design.md`, enforced on `cargo metadata`.
//!
//! Only normal and build dependencies count as layering: a library's tests and benchmarks may
//! use the simulator or a store (dev-dependencies), as long as no crate depends on the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// For each crate: the pollen crates its normal and build dependencies may name.
/// `None` means unrestricted (the binary and xtask wire everything).
const ALLOWED: &[(&str, Option<&[&str]>)] = &[
    ("pollen-template", Some(&[])),
    ("pollen-config", Some(&["pollen-template"])),
    ("pollen-core", Some(&["pollen-template", "pollen-config"])),
    (
        "pollen-sage",
        Some(&["pollen-template", "pollen-config", "pollen-core"]),
    ),
    (
        "pollen-store",
        Some(&["pollen-template", "pollen-config", "pollen-core"]),
    ),
    (
        "pollen-callback",
        Some(&["pollen-template", "pollen-config", "pollen-core"]),
    ),
    ("pollen-sage-sim", Some(&["pollen-template"])),
    // For receivers, usable on its own: it defines the notification types it needs.
    ("pollen-receiver", Some(&[])),
    ("pollen", None),
    ("xtask", None),
];

/// Third-party crates that make a crate async.
const ASYNC: &[&str] = &["tokio", "async-std", "futures", "smol"];

/// Third-party crates that make a crate networked or SQL-aware.
const IO: &[&str] = &[
    "hyper",
    "reqwest",
    "axum",
    "tower",
    "ureq",
    "sqlx",
    "rusqlite",
    "postgres",
    "tokio-postgres",
];

/// Crates that must not know async code (the template engine and the config schema are pure
/// computation) and crates that must not know HTTP or SQL (the core is generic over traits).
const NO_ASYNC: &[&str] = &["pollen-template", "pollen-config", "pollen-receiver"];
const NO_IO: &[&str] = &[
    "pollen-template",
    "pollen-config",
    "pollen-core",
    "pollen-receiver",
];

/// One dependency edge as `cargo metadata` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
    /// `None` for normal dependencies, otherwise `dev` or `build`.
    pub(crate) kind: Option<String>,
}

pub(crate) fn run(root: &Path) -> Result<()> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("parsing cargo metadata output")?;
    let mut problems = check_layering(&edges(&metadata));
    for (name, root_file) in crate_roots(&metadata) {
        problems.extend(check_crate_doc(&name, &root_file));
    }
    problems.extend(crate::codegen::stale(root));
    if problems.is_empty() {
        println!("tidy: ok");
        return Ok(());
    }
    for problem in &problems {
        eprintln!("tidy: {problem}");
    }
    bail!("tidy found {} problem(s)", problems.len())
}

/// The dependency edges of every workspace package.
pub(crate) fn edges(metadata: &Value) -> Vec<Edge> {
    let mut edges = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let from = package["name"].as_str().unwrap_or_default();
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            edges.push(Edge {
                from: from.to_owned(),
                to: dep["name"].as_str().unwrap_or_default().to_owned(),
                kind: dep["kind"].as_str().map(str::to_owned),
            });
        }
    }
    edges
}

/// `opentelemetry`, `opentelemetry_sdk`, `opentelemetry-otlp`, `tracing-opentelemetry` …
fn is_opentelemetry(name: &str) -> bool {
    name.contains("opentelemetry")
}

/// Every edge that breaks a rule, as one message naming it.
pub(crate) fn check_layering(edges: &[Edge]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen_crates: Vec<&str> = Vec::new();
    for edge in edges {
        if !seen_crates.contains(&edge.from.as_str()) {
            seen_crates.push(&edge.from);
        }
    }
    for name in seen_crates {
        if !ALLOWED.iter().any(|(known, _)| *known == name) {
            problems.push(format!(
                "crate `{name}` is not in design.md's crate map: add it there and to xtask/src/tidy.rs"
            ));
        }
    }
    for edge in edges {
        let kind = edge.kind.as_deref().unwrap_or("normal");
        if edge.to == "pollen" {
            problems.push(format!(
                "`{} -> pollen` ({kind}): nothing may depend on the binary",
                edge.from
            ));
            continue;
        }
        // OpenTelemetry is the binary's business: libraries open `tracing` spans and the
        // binary decides where they go (any kind of edge, tests included).
        if edge.from != "pollen" && is_opentelemetry(&edge.to) {
            problems.push(format!(
                "`{} -> {}` ({kind}) is forbidden: only the binary (pollen) may use \
                 OpenTelemetry crates; libraries use `tracing` only",
                edge.from, edge.to
            ));
            continue;
        }
        if kind == "dev" {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| *name == edge.from) else {
            continue;
        };
        let Some(allowed) = allowed else { continue };
        let is_pollen = ALLOWED.iter().any(|(name, _)| *name == edge.to);
        if is_pollen && !allowed.contains(&edge.to.as_str()) {
            problems.push(format!(
                "`{} -> {}` ({kind}) is forbidden by design.md: {} may depend on {}",
                edge.from,
                edge.to,
                edge.from,
                if allowed.is_empty() {
                    "no pollen crate".to_owned()
                } else {
                    allowed.join(", ")
                }
            ));
        }
        let from = edge.from.as_str();
        let to = edge.to.as_str();
        if NO_ASYNC.contains(&from) && ASYNC.contains(&to) {
            problems.push(format!(
                "`{from} -> {to}` ({kind}) is forbidden by design.md: {from} must know nothing async"
            ));
        }
        if NO_IO.contains(&from) && IO.contains(&to) {
            problems.push(format!(
                "`{from} -> {to}` ({kind}) is forbidden by design.md: {from} must know no HTTP and no SQL"
            ));
        }
    }
    problems
}

/// (package name, root source file) for every library and binary target in the workspace.
fn crate_roots(metadata: &Value) -> Vec<(String, PathBuf)> {
    let mut roots = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        for target in package["targets"].as_array().into_iter().flatten() {
            let kinds: Vec<&str> = target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if kinds
                .iter()
                .any(|k| matches!(*k, "lib" | "bin" | "proc-macro"))
            {
                if let Some(path) = target["src_path"].as_str() {
                    roots.push((name.to_owned(), PathBuf::from(path)));
                }
            }
        }
    }
    roots
}

fn check_crate_doc(name: &str, root_file: &Path) -> Option<String> {
    let text = match std::fs::read_to_string(root_file) {
        Ok(text) => text,
        Err(err) => {
            return Some(format!(
                "crate `{name}`: cannot read {}: {err}",
                root_file.display()
            ))
        }
    };
    if has_crate_doc(&text) {
        None
    } else {
        Some(format!(
            "crate `{name}`: {} has no crate-level `//!` documentation",
            root_file.display()
        ))
    }
}

/// True when the file's first meaningful line is a `//!` comment (or a `#![doc = ...]`).
pub(crate) fn has_crate_doc(text: &str) -> bool {
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        return line.starts_with("//!") || line.starts_with("#![doc");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str, kind: Option<&str>) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            kind: kind.map(Into::into),
        }
    }

    #[test]
    fn allowed_edges_pass() {
        let edges = [
            edge("pollen-config", "pollen-template", None),
            edge("pollen-core", "pollen-config", None),
            edge("pollen-sage", "pollen-core", None),
            edge("pollen-sage", "pollen-sage-sim", Some("dev")),
            edge("pollen", "pollen-sage", None),
            edge("pollen-template", "serde_json", None),
            edge("pollen-core", "tokio", None),
            edge("pollen", "opentelemetry-otlp", None),
            edge("pollen", "opentelemetry-proto", Some("dev")),
            edge("pollen", "pollen-receiver", None),
            edge("pollen-receiver", "sha2", None),
            edge("pollen-receiver", "proptest", Some("dev")),
        ];
        assert_eq!(check_layering(&edges), Vec::<String>::new());
    }

    #[test]
    fn forbidden_edges_fail_naming_the_edge() {
        let edges = [
            edge("pollen-template", "pollen-config", None),
            edge("pollen-sage", "pollen-store", None),
            edge("pollen-core", "sqlx", None),
            edge("pollen-template", "tokio", None),
            edge("pollen-store", "pollen", Some("dev")),
            edge("pollen-extra", "serde", None),
            edge("pollen-core", "tracing-opentelemetry", None),
            edge("pollen-callback", "opentelemetry_sdk", Some("dev")),
            edge("pollen-receiver", "pollen-core", None),
            edge("pollen-receiver", "tokio", None),
        ];
        let problems = check_layering(&edges);
        assert_eq!(
            problems,
            [
                "crate `pollen-extra` is not in design.md's crate map: add it there and to xtask/src/tidy.rs",
                "`pollen-template -> pollen-config` (normal) is forbidden by design.md: pollen-template may depend on no pollen crate",
                "`pollen-sage -> pollen-store` (normal) is forbidden by design.md: pollen-sage may depend on pollen-template, pollen-config, pollen-core",
                "`pollen-core -> sqlx` (normal) is forbidden by design.md: pollen-core must know no HTTP and no SQL",
                "`pollen-template -> tokio` (normal) is forbidden by design.md: pollen-template must know nothing async",
                "`pollen-store -> pollen` (dev): nothing may depend on the binary",
                "`pollen-core -> tracing-opentelemetry` (normal) is forbidden: only the binary (pollen) may use OpenTelemetry crates; libraries use `tracing` only",
                "`pollen-callback -> opentelemetry_sdk` (dev) is forbidden: only the binary (pollen) may use OpenTelemetry crates; libraries use `tracing` only",
                "`pollen-receiver -> pollen-core` (normal) is forbidden by design.md: pollen-receiver may depend on no pollen crate",
                "`pollen-receiver -> tokio` (normal) is forbidden by design.md: pollen-receiver must know nothing async",
            ]
        );
    }

    #[test]
    fn metadata_edges_are_read() {
        let metadata: Value = serde_json::json!({"packages": [
            {"name": "pollen-sage-sim", "dependencies": [
                {"name": "pollen-core", "kind": null},
                {"name": "axum", "kind": null}
            ]}
        ]});
        let problems = check_layering(&edges(&metadata));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("`pollen-sage-sim -> pollen-core` (normal)"));
    }

    #[test]
    fn crate_doc_is_required() {
        assert!(has_crate_doc("\n//! pollen\nfn main() {}"));
        assert!(!has_crate_doc("// a plain comment\n//! too late\n"));
        assert!(!has_crate_doc("fn main() {}"));
        assert!(!has_crate_doc(""));
    }
}
