//! Java date patterns: compile any pattern; one that compiles formats any instant in any zone,
//! and parses any value without panicking, an error pointing inside the value; what it
//! formats from an instant it reads back without panicking.
#![no_main]

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use pollen_template::{DatePattern, Zone};

const ZONES: [&str; 5] = ["UTC", "PST", "Asia/Kathmandu", "GMT+05:30", "Europe/Dublin"];

fuzz_target!(|data: (&str, &str, i64, u8)| {
    let (pattern, value, millis, zone) = data;
    let zone = Zone::parse(ZONES[usize::from(zone) % ZONES.len()]).expect("a known zone");
    let compiled = match DatePattern::compile(pattern) {
        Ok(compiled) => compiled,
        Err(error) => {
            assert!(error.offset() <= pattern.len(), "{error}");
            assert!(pattern.is_char_boundary(error.offset()), "{error}");
            let _ = error.to_string();
            return;
        }
    };
    let at = DateTime::from_timestamp_millis(millis % 253_402_300_800_000).unwrap_or_default();
    let formatted = compiled.format(at, &zone);
    let _ = compiled.parse(&formatted, &zone);
    if let Err(error) = compiled.parse(value, &zone) {
        assert!(error.position() <= value.len(), "{error}");
        assert_eq!(error.value(), value);
        let _ = error.to_string();
    }
});
