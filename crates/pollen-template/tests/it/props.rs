//! Property tests mirroring the cargo-fuzz targets in `fuzz/` (template, date_pattern, ceql),
//! bounded so they run in the normal test suite: no input panics, every error points at a
//! character boundary inside its input, and what compiles round-trips.

use chrono::DateTime;
use pollen_template::{DatePattern, Mode, Template, Where, Zone};
use proptest::prelude::*;

/// Pieces that make random sequences look like templates, to reach past the first error.
fn template_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "${",
            "}",
            "$${",
            "$",
            "date:",
            "gmtDate:",
            "dateTimeZone:",
            "epoch:",
            "epoch",
            "yyyy",
            "MM",
            "dd",
            "'T'",
            "HH:mm:ss",
            "SSS",
            "XXX",
            "zzzz",
            "EEE",
            "'",
            "''",
            "America/New_York:",
            "GMT+05:30:",
            "Mars/Olympus:",
            ":",
            "s}",
            "ms}",
            "us}",
            "/hubs",
            "?where=",
            "é",
            "\u{1F600}",
            "\n",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,4}",
    ]
}

/// Pieces of Java date patterns.
fn pattern_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[GyYMLwWDdFEuaHkKhmsSzZXb]{1,5}",
        prop::sample::select(vec!["'", "''", "'T'", "-", ":", " ", ".", "é", "\u{1F600}"])
            .prop_map(str::to_owned),
        "[ -~]{0,3}",
    ]
}

fn instant() -> impl Strategy<Value = DateTime<chrono::Utc>> {
    // Years 1 to 9999, the range Sage and Java agree on.
    (-62_135_596_800_000i64..253_402_300_799_999i64)
        .prop_map(|ms| DateTime::from_timestamp_millis(ms).expect("in range"))
}

fn zone() -> impl Strategy<Value = Zone> {
    prop::sample::select(vec![
        "UTC",
        "PST",
        "Asia/Kathmandu",
        "GMT+05:30",
        "Europe/Dublin",
        "-8:00",
    ])
    .prop_map(|id| Zone::parse(id).expect("a known zone"))
}

/// The invariants of a compile error: a boundary offset inside the input, the input kept, a
/// message that displays.
fn check_error(error: &pollen_template::Error, input: &str) -> Result<(), TestCaseError> {
    prop_assert!(error.offset() <= input.len(), "{error}");
    prop_assert!(input.is_char_boundary(error.offset()), "{error}");
    prop_assert_eq!(error.input(), input);
    let (line, column) = error.line_column();
    prop_assert!(line >= 1 && column >= 1);
    prop_assert!(!error.to_string().is_empty());
    Ok(())
}

fn exercise_template(text: &str, at: DateTime<chrono::Utc>) -> Result<(), TestCaseError> {
    match Template::compile(text) {
        Ok(template) => {
            prop_assert_eq!(template.source(), text);
            let expanded = template.expand(at);
            if !template.has_placeholders() {
                // Only `$${` changes when there is nothing to expand.
                prop_assert_eq!(expanded, text.replace("$${", "${"));
            }
        }
        Err(error) => check_error(&error, text)?,
    }
    Ok(())
}

fn exercise_pattern(
    text: &str,
    value: &str,
    at: DateTime<chrono::Utc>,
    zone: &Zone,
) -> Result<(), TestCaseError> {
    let pattern = match DatePattern::compile(text) {
        Ok(pattern) => pattern,
        Err(error) => return check_error(&error, text),
    };
    prop_assert_eq!(pattern.as_str(), text);
    let formatted = pattern.format(at, zone);
    let _ = pattern.parse(&formatted, zone);
    if let Err(error) = pattern.parse(value, zone) {
        prop_assert!(error.position() <= value.len(), "{error}");
        prop_assert_eq!(error.value(), value);
        prop_assert!(!error.to_string().is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_as_a_template(text in any::<String>(), at in instant()) {
        exercise_template(&text, at)?;
    }

    #[test]
    fn template_like_text(parts in prop::collection::vec(template_piece(), 0..24), at in instant()) {
        exercise_template(&parts.concat(), at)?;
    }

    #[test]
    fn any_text_as_a_date_pattern(text in any::<String>(), value in any::<String>(), at in instant(), zone in zone()) {
        exercise_pattern(&text, &value, at, &zone)?;
    }

    #[test]
    fn pattern_like_text(parts in prop::collection::vec(pattern_piece(), 0..12), value in "[0-9A-Za-z:+\\-. ']{0,24}", at in instant(), zone in zone()) {
        exercise_pattern(&parts.concat(), &value, at, &zone)?;
    }

    /// Patterns that keep every field down to the millisecond and the offset parse back what
    /// they format, in any zone.
    #[test]
    fn complete_patterns_round_trip(
        text in prop::sample::select(vec![
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            "yyyyMMddHHmmssSSSZ",
            "EEE, d MMM yyyy HH:mm:ss.SSS Z",
            "G yyyy-DDD HH:mm:ss.SSS XXX",
            "yyyy-MM-dd hh:mm:ss.SSS a XXX",
        ]),
        at in instant(),
        zone in zone(),
    ) {
        // Before 1973 some zones had offsets with seconds (Dublin's +00:25:21 and +00:34:39
        // until 1916), which no pattern letter prints: nothing can round-trip them.
        prop_assume!(at.timestamp() >= 94_694_400, "before 1973");
        let pattern = DatePattern::compile(text).expect("compiles");
        let formatted = pattern.format(at, &zone);
        let parsed = pattern.parse(&formatted, &Zone::UTC)
            .map_err(|e| TestCaseError::fail(format!("{formatted:?}: {e}")))?;
        prop_assert_eq!(parsed, at, "{}", formatted);
    }

    /// CEQL errors point at a character boundary inside the clause, in both modes.
    #[test]
    fn ceql_errors_point_inside_the_clause(text in any::<String>()) {
        for mode in [Mode::Lenient, Mode::Strict] {
            match Where::parse(&text, mode) {
                Ok(parsed) => {
                    for warning in &parsed.warnings {
                        prop_assert!(warning.span().start <= warning.span().end);
                        prop_assert!(warning.span().end <= text.len());
                    }
                }
                Err(error) => check_error(&error, &text)?,
            }
        }
    }
}

/// Hostile inputs found by hand or by the fuzzers stay fixed: each compiles or fails cleanly,
/// fast, with a bounded message.
#[test]
fn hostile_inputs_fail_cleanly() {
    let deep = format!("{}a = 1{}", "(".repeat(100_000), ")".repeat(100_000));
    let nots = format!("{}a = 1", "NOT ".repeat(100_000));
    let long_letters = format!("${{date:{}}}", "y".repeat(1 << 20));
    let long_name = format!("${{{}}}", "d".repeat(1 << 20));
    for text in [&deep, &nots] {
        let error = Where::parse(text, Mode::Lenient).expect_err("too deep");
        assert!(
            error.to_string().len() < 1000,
            "{}",
            error.to_string().len()
        );
    }
    for text in [&long_letters, &long_name] {
        match Template::compile(text) {
            Ok(template) => assert!(template.expand(chrono::Utc::now()).len() <= 2 * text.len()),
            Err(error) => assert!(
                error.to_string().len() < 1000,
                "{}",
                error.to_string().len()
            ),
        }
    }
}
