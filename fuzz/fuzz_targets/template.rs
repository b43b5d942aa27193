//! `${...}` URL templates: compile any text; a template that compiles expands at any instant;
//! an error points inside the input, at a character boundary.
#![no_main]

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use pollen_template::{Template, Zone};

fuzz_target!(|data: (&str, i64)| {
    let (text, millis) = data;
    match Template::compile_in(text, Zone::parse("America/New_York").expect("a known zone")) {
        Ok(template) => {
            assert_eq!(template.source(), text);
            let at =
                DateTime::from_timestamp_millis(millis % 253_402_300_800_000).unwrap_or_default();
            let _ = template.expand(at);
        }
        Err(error) => {
            assert!(error.offset() <= text.len(), "{error}");
            assert!(text.is_char_boundary(error.offset()), "{error}");
            let _ = error.to_string();
        }
    }
});
