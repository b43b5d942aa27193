//! The pattern engine against Java's own output (`fixtures/patterns/*.tsv`, written by
//! `xtask/java/PatternGolden.java` with JDK 17; the tests never need Java).

use chrono::DateTime;
use pollen_template::{DateFormat, DatePattern, Zone};
use serde_json::json;

use crate::{assert_none, check_file, tsv};

#[test]
fn formats_like_simple_date_format() {
    let cases = tsv("patterns/format.tsv");
    let mut mismatches = Vec::new();
    for (line, cols) in &cases {
        let [pattern, zone, millis, instant, expected] = &cols[..] else {
            panic!("format.tsv:{line}: expected 5 columns");
        };
        let at = DateTime::from_timestamp_millis(millis.parse().unwrap()).unwrap();
        let zone = Zone::parse(zone).unwrap();
        let actual = DatePattern::compile(pattern).unwrap().format(at, &zone);
        if &actual != expected {
            mismatches.push(format!(
                "format.tsv:{line}: {pattern:?} {zone} {instant}: java {expected:?}, ours {actual:?}"
            ));
        }
    }
    assert_none("format", &mismatches, cases.len());
    assert!(cases.len() > 4000, "format.tsv looks truncated");
}

#[test]
fn parses_like_non_lenient_simple_date_format() {
    let cases = tsv("patterns/parse.tsv");
    let mut mismatches = Vec::new();
    // Our messages for the values Java rejects, for review (UPDATE_FIXTURES=1 rewrites them).
    let mut messages =
        String::from("# pattern\tzone\tour DateParseError for a value Java rejects too\n");
    for (line, cols) in &cases {
        let [pattern, zone, value, expected] = &cols[..] else {
            panic!("parse.tsv:{line}: expected 4 columns");
        };
        let zone = Zone::parse(zone).unwrap();
        let result = DatePattern::compile(pattern).unwrap().parse(value, &zone);
        let actual = match &result {
            Ok(at) => format!("ok {} {}", at.timestamp_millis(), java_instant(at)),
            Err(error) => format!("error {}", error.position()),
        };
        if let Err(error) = &result {
            messages.push_str(&format!("{pattern}\t{zone}\t{error}\n"));
        }
        // Java leaves the error index at -1 when nothing at all was parsed; ours says 0.
        let expected = if expected == "error -1" {
            "error 0"
        } else {
            expected.as_str()
        };
        if actual != expected {
            let detail = result.err().map(|e| e.to_string()).unwrap_or_default();
            mismatches.push(format!(
                "parse.tsv:{line}: {pattern:?} {zone} {value:?}: java {expected:?}, ours {actual:?} {detail}"
            ));
        }
    }
    assert_none("parse", &mismatches, cases.len());
    check_file("patterns/parse-errors.tsv", &messages);
}

/// `Instant.toString()`: seconds always, milliseconds only when non-zero.
fn java_instant(at: &DateTime<chrono::Utc>) -> String {
    // chrono's `%Y` signs years beyond 9999 as `Instant` does.
    let year = at.format("%Y").to_string();
    let millis = at.timestamp_subsec_millis();
    let fraction = if millis == 0 {
        String::new()
    } else {
        format!(".{millis:03}")
    };
    format!("{year}{}{fraction}Z", at.format("-%m-%dT%H:%M:%S"))
}

/// Java accepts and rejects the same patterns; our messages (with the caret) are in
/// `fixtures/patterns/compile-errors.txt`.
#[test]
fn rejects_the_patterns_java_rejects() {
    let cases = tsv("patterns/compile.tsv");
    let mut mismatches = Vec::new();
    let mut messages = String::new();
    for (line, cols) in &cases {
        let (pattern, verdict) = match &cols[..] {
            [pattern, verdict] => (pattern.as_str(), verdict.as_str()),
            [verdict] => ("", verdict.as_str()),
            _ => panic!("compile.tsv:{line}: expected 2 columns"),
        };
        match (
            DatePattern::compile(pattern),
            verdict.strip_prefix("error "),
        ) {
            (Ok(_), None) => {}
            (Err(error), Some(java)) => {
                if !error.message().eq_ignore_ascii_case(java) {
                    mismatches.push(format!(
                        "compile.tsv:{line}: {pattern:?}: java {java:?}, ours {:?}",
                        error.message()
                    ));
                }
                messages.push_str(&format!("=== {pattern}\n{error}\n"));
            }
            (Ok(_), Some(java)) => {
                mismatches.push(format!(
                    "compile.tsv:{line}: {pattern:?}: java fails ({java}), ours compiles"
                ));
            }
            (Err(error), None) => {
                mismatches.push(format!(
                    "compile.tsv:{line}: {pattern:?}: java compiles, ours fails: {error}"
                ));
            }
        }
    }
    assert_none("compile", &mismatches, cases.len());
    check_file("patterns/compile-errors.txt", &messages);
}

#[test]
fn pattern_round_trips_through_its_text() {
    let pattern = DatePattern::compile("yyyy-MM-dd'T'HH:mm:ss'Z'").unwrap();
    assert_eq!(pattern.as_str(), "yyyy-MM-dd'T'HH:mm:ss'Z'");
    assert_eq!(pattern.to_string(), pattern.as_str());
    assert_eq!(
        format!("{pattern:?}"),
        "DatePattern(\"yyyy-MM-dd'T'HH:mm:ss'Z'\")"
    );
}

#[test]
fn parse_errors_name_value_pattern_and_position() {
    let pattern = DatePattern::compile("yyyy-MM-dd'T'HH:mm:ss'Z'").unwrap();
    let error = pattern
        .parse("2019-07-18 10:27:15Z", &Zone::GMT)
        .unwrap_err();
    assert_eq!(error.value(), "2019-07-18 10:27:15Z");
    assert_eq!(error.pattern(), "yyyy-MM-dd'T'HH:mm:ss'Z'");
    assert_eq!(error.position(), 10);
    assert_eq!(
        error.to_string(),
        "date `2019-07-18 10:27:15Z` does not match `yyyy-MM-dd'T'HH:mm:ss'Z'` at byte 10: expected 'T'"
    );
}

/// Values no pattern should choke on: errors, never panics.
#[test]
fn odd_values_are_errors_not_panics() {
    let patterns = [
        "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
        "EEE, d MMM yyyy HH:mm:ss z",
        "yyMMddHHmmssSSS",
        "YYYY-'W'ww-u G a h",
        "D F W w k K Z X",
    ];
    let values = [
        "",
        " ",
        "é",
        "2019-07-18T10:27:15.123+99:99",
        "99999999999999999999999",
        "-",
        "--1",
        "Thu, 18 Jul 2019 10:27:15 G",
        "GMT+",
        "\u{1F600}2019",
        "2019-07-18T10:27:15.123+05:3",
    ];
    for pattern in patterns {
        let pattern = DatePattern::compile(pattern).unwrap();
        for value in values {
            let _ = pattern.parse(value, &Zone::UTC);
        }
    }
    let pattern = DatePattern::compile("yyyy-MM-dd").unwrap();
    assert!(pattern.parse("\u{1F600}", &Zone::UTC).is_err());
}

#[test]
fn date_format_keywords_and_values() {
    let cases = tsv("patterns/date-format.tsv");
    let mut actual = String::from(
        "# format\tzone\tJSON value\tresult (UPDATE_FIXTURES=1 rewrites the last column)\n",
    );
    for (line, cols) in &cases {
        let [format, zone, value, _] = &cols[..] else {
            panic!("date-format.tsv:{line}: expected 4 columns");
        };
        let json: serde_json::Value = serde_json::from_str(value).unwrap();
        let result = DateFormat::compile(format)
            .unwrap()
            .parse_value(&json, &Zone::parse(zone).unwrap());
        let result = match result {
            Ok(at) => format!(
                "ok {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
            Err(error) => format!("error {error}"),
        };
        actual.push_str(&format!("{format}\t{zone}\t{value}\t{result}\n"));
    }
    check_file("patterns/date-format.tsv", &actual);
    assert_eq!(
        DateFormat::compile("MILLISECONDS").unwrap(),
        DateFormat::Milliseconds
    );
    assert_eq!(DateFormat::compile("seconds").unwrap().as_str(), "seconds");
    assert!(matches!(
        DateFormat::compile("yyyy").unwrap(),
        DateFormat::Pattern(_)
    ));
    assert!(DateFormat::compile("millis").is_err());
    let at = DateTime::from_timestamp(1_563_445_635, 0).unwrap();
    assert_eq!(DateFormat::Seconds.format(at, &Zone::UTC), "1563445635");
    assert_eq!(
        DateFormat::Milliseconds.format(at, &Zone::UTC),
        "1563445635000"
    );
    let _ = json!(null);
}

proptest::proptest! {
    /// Any text against any kind of pattern: a result or an error pointing inside the value,
    /// never a panic.
    #[test]
    fn parse_errors_point_inside_the_value(
        value in "[0-9A-Za-z:+\\-. ,'TZé\u{1F600}]{0,32}",
        pattern in proptest::sample::select(vec![
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            "EEE, d MMM yyyy HH:mm:ss z",
            "yyMMddHHmmssSSS",
            "YYYY-'W'ww-u G a h",
            "D F W w k K Z X",
            "yyyy-MM-dd HH:mm",
        ]),
        zone in proptest::sample::select(vec!["UTC", "America/Los_Angeles", "GMT+05:30"]),
    ) {
        let pattern = DatePattern::compile(pattern).unwrap();
        if let Err(error) = pattern.parse(&value, &Zone::parse(zone).unwrap()) {
            proptest::prop_assert!(error.position() <= value.len(), "{error}");
            proptest::prop_assert_eq!(error.value(), value.as_str());
        }
    }
}
