//! Instance JSON files for `pollen run --config FILE|DIR`, and storing them.

use std::path::{Path, PathBuf};

use chrono::Utc;
use pollen_config::{InstanceConfig, Vocabulary};
use pollen_store::{Instance, SqlStore};

use crate::error::{Error, ErrorKind, Result};

/// What the Sage element knows, checked wherever pollen reads an instance (`validate`, `run`,
/// the API, the console): a poller URL must name one of its hub resources.
pub fn sage_vocabulary() -> Vocabulary {
    Vocabulary::new(pollen_sage::HUB_RESOURCES.iter().map(|r| r.name)).with_v31_only(
        pollen_sage::HUB_RESOURCES
            .iter()
            .filter(|r| !r.v3)
            .map(|r| r.name),
    )
}

/// One loaded instance file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InstanceFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The validated configuration.
    pub config: InstanceConfig,
    /// Its warnings, rendered as `pollen validate` prints them.
    pub warnings: Vec<String>,
}

/// The instance files of `path`: the file itself, or every `*.json` in the directory (sorted).
///
/// Every file is validated as `pollen validate` does. On any error the result is `Err` with
/// every problem of every file, one `FILE:/pointer: message` line each, so nothing starts
/// half-configured. Two files with the same `name` are an error too: the name is how a
/// restart finds an instance's stored state.
pub fn load_instance_files(path: &Path) -> Result<Vec<InstanceFile>, Vec<String>> {
    let files = list_files(path).map_err(|e| vec![e])?;
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(err) => {
                problems.push(format!("{name}: cannot read: {err}"));
                continue;
            }
        };
        match InstanceConfig::from_json_slice_for(&bytes, &sage_vocabulary()) {
            Ok(ok) => loaded.push(InstanceFile {
                path: file,
                warnings: ok.warnings.iter().map(|w| w.render(&name)).collect(),
                config: ok.config,
            }),
            Err(errors) => problems.push(errors.render(&name)),
        }
    }
    for (i, file) in loaded.iter().enumerate() {
        if let Some(first) = loaded[..i]
            .iter()
            .find(|other| other.config.name == file.config.name)
        {
            problems.push(format!(
                "{}:/name: the name \"{}\" is also used by {}; each instance needs its own",
                file.path.display(),
                file.config.name,
                first.path.display()
            ));
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(problems)
    }
}

fn list_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta =
        std::fs::metadata(path).map_err(|err| format!("{}: cannot read: {err}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|err| format!("{}: cannot list: {err}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "json") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no *.json instance files", path.display()));
    }
    Ok(files)
}

/// Stores `files`' instances: one already stored under the same `name` gets the file's
/// configuration (its id, creation date, watermarks and tokens stay), a new one is created.
/// Workers started together with the same files agree on one instance per name.
/// Returns the stored instances in file order.
///
/// A file that moves an instance which has already polled to another Sage business
/// (`sage.business.id`) is refused, before anything is stored, naming the file and the key
/// (see [`crate::businesses`]).
pub async fn store_instance_files(
    store: &SqlStore,
    files: &[InstanceFile],
) -> Result<Vec<Instance>> {
    let existing = store.list_instances().await.map_err(Error::wrap(
        ErrorKind::Store,
        "listing the stored instances",
    ))?;
    for file in files {
        // `put_instance_by_name` gives the file to the oldest instance of its name.
        let Some(current) = existing
            .iter()
            .filter(|i| i.name == file.config.name)
            .min_by_key(|i| i.id)
        else {
            continue;
        };
        crate::businesses::check_business_change(store, current, &file.config)
            .await
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidInput => Error::new(
                    ErrorKind::InvalidInput,
                    format!("{}:{error}", file.path.display()),
                ),
                _ => error,
            })?;
    }
    let mut stored = Vec::new();
    for file in files {
        let (instance, _created) = store
            .put_instance_by_name(&file.config, Utc::now())
            .await
            .map_err(Error::wrap(
                ErrorKind::Store,
                format_args!("storing {}", file.path.display()),
            ))?;
        stored.push(instance);
    }
    Ok(stored)
}
