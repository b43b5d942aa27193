//! Every `fixtures/instances/NAME.json` is validated and its report compared with
//! `NAME.expected` (problems with their pointers and messages, then `NAME.json: ok` if it loads).

use crate::support::{check, instances_dir, report};

#[test]
fn every_instance_fixture_reports_as_expected() {
    let dir = instances_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("listing fixtures/instances")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in &names {
        if let Some(stem) = name.strip_suffix(".expected") {
            if !names.contains(&format!("{stem}.json")) {
                failures.push(format!("{name} has no {stem}.json"));
            }
            continue;
        }
        let Some(stem) = name.strip_suffix(".json") else {
            failures.push(format!("unexpected file {name} in fixtures/instances"));
            continue;
        };
        let text = std::fs::read_to_string(dir.join(name)).expect("reading a fixture");
        let actual = report(name, &text);
        if let Some(difference) = check(&actual, &dir.join(format!("{stem}.expected"))) {
            failures.push(difference);
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} instance fixtures found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
