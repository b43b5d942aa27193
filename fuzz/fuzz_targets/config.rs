//! The instance JSON loader: any bytes load or fail with problems; every problem's pointer is
//! a JSON Pointer (empty or starting with `/`), and text that is not JSON says where.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pollen_config::{InstanceConfig, ProblemKind};

fuzz_target!(|bytes: &[u8]| {
    match InstanceConfig::from_json_slice(bytes) {
        Ok(loaded) => {
            let _ = loaded.config.to_masked_json();
            for warning in &loaded.warnings {
                assert!(!warning.is_error());
            }
        }
        Err(errors) => {
            assert!(errors.problems().iter().any(|p| p.is_error()));
            for problem in errors.problems() {
                let pointer = problem.pointer();
                assert!(pointer.is_empty() || pointer.starts_with('/'), "{pointer}");
                if problem.kind() == ProblemKind::NotJson {
                    assert!(problem.line_column().is_some());
                }
                let _ = problem.render("fuzz.json");
            }
        }
    }
});
