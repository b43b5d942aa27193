//! CEQL where clauses: parse any text in both modes; a clause that parses prints canonical
//! text that parses back to the same tree, flattens and evaluates without panicking; an error
//! points inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pollen_template::{Mode, Where};

fuzz_target!(|text: &str| {
    let record = serde_json::json!({"a": 1, "name": "Ada", "c": {"d": [true, null, 2.5]}});
    for mode in [Mode::Lenient, Mode::Strict] {
        match Where::parse(text, mode) {
            Ok(parsed) => {
                for warning in &parsed.warnings {
                    assert!(warning.span().end <= text.len(), "{warning}");
                    let _ = warning.to_string();
                }
                let canonical = parsed.to_string();
                let again = Where::parse(&canonical, Mode::Strict)
                    .unwrap_or_else(|e| panic!("canonical {canonical:?} does not parse: {e}"));
                assert_eq!(again.expr, parsed.expr, "{canonical}");
                let _ = parsed.expr.flat();
                let _ = parsed.expr.eval(&record);
            }
            Err(error) => {
                assert!(error.offset() <= text.len(), "{error}");
                assert!(text.is_char_boundary(error.offset()), "{error}");
                let _ = error.to_string();
            }
        }
    }
});
