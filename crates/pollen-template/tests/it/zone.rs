//! Zone ids: `fixtures/template/zones.tsv` (id, then the zone's id and its offsets in January
//! and July 2026, or the error).

use chrono::{TimeZone, Utc};
use pollen_template::Zone;

use crate::{check_file, tsv};

#[test]
fn parses_the_fixture_zone_ids() {
    let january = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
    let july = Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap();
    let mut actual = String::from("# input\tresult: id, offset in January and July 2026 (UPDATE_FIXTURES=1 rewrites this column)\n");
    for (line, cols) in tsv("template/zones.tsv") {
        let [input, _] = &cols[..] else {
            panic!("zones.tsv:{line}: expected 2 columns");
        };
        let result = match input.parse::<Zone>() {
            Ok(zone) => format!(
                "{zone} {} {}{}",
                zone.offset_at(january),
                zone.offset_at(july),
                if zone.is_fixed() { " fixed" } else { "" }
            ),
            Err(error) => format!("error: {}", error.message()),
        };
        actual.push_str(&format!("{input}\t{result}\n"));
    }
    check_file("template/zones.tsv", &actual);
}

#[test]
fn constants() {
    assert_eq!(Zone::UTC.to_string(), "UTC");
    assert_eq!(Zone::utc(), Zone::UTC);
    assert_eq!(Zone::default(), Zone::UTC);
    assert_eq!(Zone::GMT.id(), "GMT");
    assert_ne!(Zone::GMT, Zone::UTC);
}
