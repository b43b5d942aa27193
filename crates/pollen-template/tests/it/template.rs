//! URL templates: `fixtures/template/expand.tsv` (instant, zone, template, expansion) and
//! `fixtures/template/errors.txt` (template, then the compile error as displayed).

use chrono::{DateTime, TimeZone, Utc};
use pollen_template::{ErrorKind, Template, Zone};

use crate::{check_file, fixture, tsv};

const SEED_URL: &str = "/hubs/finance/customers?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at";

#[test]
fn the_seed_url_expands_as_the_issue_says() {
    let template = Template::compile(SEED_URL).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    assert_eq!(
        template.expand(at),
        "/hubs/finance/customers?where=lastModifiedDate>='2026-11-27T10:00:00Z' and attributes='created_at,updated_at"
    );
    assert!(template.has_placeholders());
    assert_eq!(template.source(), SEED_URL);
}

/// One check per line: expand `template` at `at` with `${date}` in `zone`.
fn check_expand(at: &str, zone: &str, template: &str) -> String {
    let at = DateTime::parse_from_rfc3339(at)
        .unwrap_or_else(|e| panic!("bad instant {at:?}: {e}"))
        .with_timezone(&Utc);
    let zone = Zone::parse(zone).unwrap_or_else(|e| panic!("bad zone: {e}"));
    match Template::compile_in(template, zone) {
        Ok(template) => {
            let expanded = template.expand(at);
            let mut appended = String::from("prefix:");
            template.expand_into(at, &mut appended);
            assert_eq!(
                appended,
                format!("prefix:{expanded}"),
                "expand_into appends the same"
            );
            expanded
        }
        Err(error) => format!("error: {}", error.message()),
    }
}

#[test]
fn expands_the_fixture_templates() {
    let mut actual = String::from(
        "# instant\tzone of ${date}\ttemplate\texpansion (UPDATE_FIXTURES=1 rewrites this column)\n",
    );
    for (line, cols) in tsv("template/expand.tsv") {
        let [at, zone, template, _] = &cols[..] else {
            panic!("expand.tsv:{line}: expected 4 columns");
        };
        let expanded = check_expand(at, zone, template);
        actual.push_str(&format!("{at}\t{zone}\t{template}\t{expanded}\n"));
    }
    check_file("template/expand.tsv", &actual);
}

#[test]
fn compile_errors_point_into_the_template() {
    let text = std::fs::read_to_string(fixture("template/errors.txt")).unwrap();
    let mut actual = String::new();
    for section in text.split("=== ").skip(1) {
        let template = section.lines().next().unwrap_or_default();
        actual.push_str(&format!("=== {template}\n"));
        match Template::compile(template) {
            Ok(_) => actual.push_str("compiles\n"),
            Err(error) => actual.push_str(&format!("{:?}: {error}\n", error.kind())),
        }
    }
    check_file("template/errors.txt", &actual);
}

#[test]
fn error_kinds_and_offsets() {
    let cases = [
        ("a=${foo}", ErrorKind::UnknownPlaceholder, 4),
        ("a=${date:yyyy", ErrorKind::UnclosedPlaceholder, 2),
        ("a=${dateTimeZone:Mars/Base:HH}", ErrorKind::UnknownZone, 17),
        ("a=${date:yyyy-Q}", ErrorKind::BadPattern, 14),
        (
            "a=${gmtDate:HH 'o''clock}",
            ErrorKind::UnclosedPlaceholder,
            15,
        ),
    ];
    for (template, kind, offset) in cases {
        let error = Template::compile(template).unwrap_err();
        assert_eq!(
            (error.kind(), error.offset()),
            (kind, offset),
            "{template}: {error}"
        );
        assert_eq!(error.input(), template);
    }
}

#[test]
fn templates_without_placeholders() {
    let template = Template::compile("/hubs/finance/customers?price=$5&x=$${literal}").unwrap();
    assert!(!template.has_placeholders());
    assert_eq!(
        template.expand(Utc::now()),
        "/hubs/finance/customers?price=$5&x=${literal}"
    );
    assert_eq!(template.to_string(), template.source());
    assert_eq!(template.zone(), &Zone::UTC);
    assert_eq!("${epoch}".parse::<Template>().unwrap().source(), "${epoch}");
}

proptest::proptest! {
    /// Templates made only of fixed-width fields expand through a stack-buffer fast path; it
    /// must agree with formatting each pattern on its own, for any instant (years outside
    /// 1000-9999 take the general path) and zone.
    #[test]
    fn fixed_layout_agrees_with_the_patterns(
        millis in -62_135_596_800_000i64..253_402_300_799_999i64 * 2,
        zone in proptest::sample::select(vec!["UTC", "PST", "-8:00", "GMT+05:30", "Asia/Kathmandu", "Europe/Dublin", "Australia/Sydney"]),
    ) {
        let at = DateTime::from_timestamp_millis(millis).unwrap();
        let template = Template::compile_in(
            &format!("a=${{dateTimeZone:{zone}:yyyy-MM-dd'T'HH:mm:ss.SSS}}&b=${{gmtDate:yy/MM/dd HH}}&c=${{date:yyyy}}é"),
            Zone::parse("America/New_York").unwrap(),
        ).unwrap();
        let first = pollen_template::DatePattern::compile("yyyy-MM-dd'T'HH:mm:ss.SSS").unwrap();
        let second = pollen_template::DatePattern::compile("yy/MM/dd HH").unwrap();
        let third = pollen_template::DatePattern::compile("yyyy").unwrap();
        let expected = format!(
            "a={}&b={}&c={}é",
            first.format(at, &Zone::parse(zone).unwrap()),
            second.format(at, &Zone::GMT),
            third.format(at, &Zone::parse("America/New_York").unwrap()),
        );
        proptest::prop_assert_eq!(template.expand(at), expected);
    }
}
