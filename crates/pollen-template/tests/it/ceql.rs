//! CEQL where clauses: parse, print, flatten and evaluate, checked against `fixtures/ceql/`.
//!
//! Each `NAME.ceql` file lists clauses, one per line (blank lines and `#` comments skipped;
//! `\n`, `\t` and `\\` are escapes, for clauses on several lines). Its check helper renders
//! every clause and compares the whole text with `NAME.expected`, or rewrites that file when
//! `UPDATE_FIXTURES=1` is set.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use pollen_template::{ErrorKind, Expr, Field, Mode, Placeholder, Span, Value, Where};
use proptest::prelude::*;
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ceql")
        .join(name)
}

/// The clauses of `fixtures/ceql/NAME.ceql`: (as written, decoded).
fn cases(name: &str) -> Vec<(String, String)> {
    let path = fixture(&format!("{name}.ceql"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| (line.to_owned(), unescape(line)))
        .collect()
}

fn unescape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Compares `actual` with `fixtures/ceql/NAME.expected`, or writes it there under
/// `UPDATE_FIXTURES=1`. On a mismatch, shows the first case that differs.
fn compare(name: &str, actual: &str) {
    let path = fixture(&format!("{name}.expected"));
    if std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e} (run with UPDATE_FIXTURES=1 to create it)",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let blocks =
        |text: &str| -> Vec<String> { text.split("\n=== ").map(str::to_owned).collect::<Vec<_>>() };
    let (want, got) = (blocks(&expected), blocks(actual));
    let at = want
        .iter()
        .zip(&got)
        .position(|(w, g)| w != g)
        .unwrap_or(want.len().min(got.len()));
    panic!(
        "{} differs (UPDATE_FIXTURES=1 regenerates it; review the diff)\n--- expected\n=== {}\n--- actual\n=== {}",
        path.display(),
        want.get(at).map_or("(nothing)", String::as_str),
        got.get(at).map_or("(nothing)", String::as_str),
    );
}

/// Parsing: the canonical print and warnings in lenient mode, what strict mode says when it
/// disagrees, or the error. Also asserts that the canonical text parses back, in strict mode
/// and without warnings, to an equal tree that prints the same.
fn check_parse(name: &str) {
    let mut out = String::new();
    for (written, clause) in cases(name) {
        writeln!(out, "=== {written}").unwrap();
        let lenient = Where::parse(&clause, Mode::Lenient);
        let strict = Where::parse(&clause, Mode::Strict);
        match &lenient {
            Ok(parsed) => {
                let canonical = parsed.to_string();
                writeln!(out, "canonical: {canonical}").unwrap();
                for warning in &parsed.warnings {
                    writeln!(out, "warning: {warning}").unwrap();
                }
                assert_round_trip(&parsed.expr);
            }
            Err(e) => writeln!(out, "error ({:?}): {e}", e.kind()).unwrap(),
        }
        match (&lenient, &strict) {
            (Ok(l), Ok(s)) => {
                assert_eq!(l.expr, s.expr, "strict and lenient disagree on {clause}");
                assert!(s.warnings.is_empty(), "strict mode warned on {clause}");
            }
            (Err(l), Err(s)) if l == s => {}
            (_, Err(e)) => writeln!(out, "strict: error ({:?}): {e}", e.kind()).unwrap(),
            (Err(_), Ok(_)) => panic!("strict mode accepts what lenient mode rejects: {clause}"),
        }
        out.push('\n');
    }
    compare(name, &out);
}

fn assert_round_trip(expr: &Expr) {
    let canonical = expr.to_string();
    let again = Where::parse(&canonical, Mode::Strict)
        .unwrap_or_else(|e| panic!("canonical text does not parse back: {canonical}\n{e}"));
    assert_eq!(
        &again.expr, expr,
        "canonical text parses to another tree: {canonical}"
    );
    assert!(
        again.warnings.is_empty(),
        "canonical text warns: {canonical}"
    );
    assert_eq!(
        again.expr.to_string(),
        canonical,
        "canonical text is not a fixed point"
    );
}

/// The JSON form of the lenient parse (the one `pollen where parse` prints).
fn check_ast(name: &str) {
    let mut out = String::new();
    for (written, clause) in cases(name) {
        writeln!(out, "=== {written}").unwrap();
        match Where::parse(&clause, Mode::Lenient) {
            Ok(parsed) => {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&parsed.expr).unwrap()
                )
                .unwrap();
                if !parsed.warnings.is_empty() {
                    let warnings = serde_json::to_string(&parsed.warnings).unwrap();
                    writeln!(out, "warnings: {warnings}").unwrap();
                }
            }
            Err(e) => writeln!(out, "error ({:?}): {e}", e.kind()).unwrap(),
        }
        out.push('\n');
    }
    compare(name, &out);
}

/// The flat `{attribute, operator, value}` list, one JSON object per line, or its error.
fn check_flat(name: &str) {
    let mut out = String::new();
    for (written, clause) in cases(name) {
        writeln!(out, "=== {written}").unwrap();
        let parsed = Where::parse(&clause, Mode::Lenient)
            .unwrap_or_else(|e| panic!("flat fixture does not parse: {clause}\n{e}"));
        match parsed.expr.flat() {
            Ok(terms) => {
                for term in terms {
                    writeln!(out, "{}", serde_json::to_string(&term).unwrap()).unwrap();
                }
            }
            Err(e) => writeln!(out, "error ({:?}): {e}", e.kind()).unwrap(),
        }
        out.push('\n');
    }
    compare(name, &out);
}

/// What every placeholder expands to in the evaluation fixtures.
const POLL_DATE: &str = "2017-05-05T00:00:00Z";

/// Replaces each `${...}` of a placeholder's text with [`POLL_DATE`].
fn expand_with_poll_date(placeholder: &Placeholder) -> Result<String, Infallible> {
    let mut out = String::new();
    let mut rest = placeholder.text.as_str();
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        // Quotes inside `${...}` belong to the date pattern: the first `}` outside them ends it.
        let mut quoted = false;
        let end = rest[at..]
            .char_indices()
            .find(|&(_, c)| {
                quoted ^= c == '\'';
                c == '}' && !quoted
            })
            .map_or(rest.len(), |(i, _)| at + i + 1);
        out.push_str(POLL_DATE);
        rest = &rest[end..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Evaluation against the named records of `NAME.records.json`: the names of the records
/// that match. A clause with placeholders is also shown unexpanded (an error), then expanded
/// with every `${...}` read as [`POLL_DATE`].
fn check_eval(name: &str) {
    let path = fixture(&format!("{name}.records.json"));
    let records: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let matches = |expr: &Expr| -> Result<String, pollen_template::Error> {
        let mut names = Vec::new();
        for (record_name, record) in &records {
            if expr.eval(record)? {
                names.push(record_name.as_str());
            }
        }
        Ok(if names.is_empty() {
            "(none)".to_owned()
        } else {
            names.join(", ")
        })
    };
    let mut out = String::new();
    for (written, clause) in cases(name) {
        writeln!(out, "=== {written}").unwrap();
        let parsed = Where::parse(&clause, Mode::Lenient)
            .unwrap_or_else(|e| panic!("eval fixture does not parse: {clause}\n{e}"));
        let mut expr = parsed.expr;
        if !expr.placeholders().is_empty() {
            match matches(&expr) {
                Ok(_) => panic!("an unexpanded placeholder evaluated: {clause}"),
                Err(e) => writeln!(out, "unexpanded: error ({:?}): {e}", e.kind()).unwrap(),
            }
            let Ok(expanded) = expr.expand(expand_with_poll_date);
            expr = expanded;
            writeln!(out, "expanded: {expr}").unwrap();
        }
        match matches(&expr) {
            Ok(names) => writeln!(out, "matches: {names}").unwrap(),
            Err(e) => writeln!(out, "error ({:?}): {e}", e.kind()).unwrap(),
        }
        out.push('\n');
    }
    compare(name, &out);
}

#[test]
fn syntax() {
    check_parse("syntax");
}

#[test]
fn errors() {
    check_parse("errors");
}

#[test]
fn ast_json() {
    check_ast("ast");
}

#[test]
fn flat_view() {
    check_flat("flat");
}

#[test]
fn evaluation() {
    check_eval("eval");
}

/// The vendor's own example, verbatim: accepted with exactly one warning in lenient mode,
/// rejected in strict mode with the caret on the quote that is never closed.
#[test]
fn seed_clause_lenient_and_strict() {
    let seed = "lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at";
    let quote = seed.rfind('\'').unwrap();

    let parsed = Where::parse(seed, Mode::Lenient).unwrap();
    assert_eq!(parsed.warnings.len(), 1);
    assert_eq!(parsed.warnings[0].span(), Span::new(quote, seed.len()));
    assert!(parsed.warnings[0]
        .message()
        .contains("assumed the end of the clause closes the string"));
    let placeholders = parsed.expr.placeholders();
    assert_eq!(placeholders.len(), 1);
    assert_eq!(placeholders[0].text, "${date:yyyy-MM-dd'T'HH:mm:ss'Z'}");

    let error = Where::parse(seed, Mode::Strict).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnterminatedString);
    assert_eq!(error.offset(), quote);
    let excerpt = error.excerpt();
    let caret_line = excerpt.lines().last().unwrap();
    assert_eq!(caret_line.find('^'), Some(2 + quote));
    assert!(error.to_string().contains(&excerpt));
}

/// Expansion replaces placeholders and nothing else, and passes the expander's error through.
#[test]
fn expand_replaces_placeholders_only() {
    let parsed = Where::parse(
        "a = '${epoch}' AND b IN ('x', 'at ${date:HH}') AND c LIKE '${gmtDate:yyyy}%' AND d = 5",
        Mode::Strict,
    )
    .unwrap();
    let texts: Vec<&str> = parsed
        .expr
        .placeholders()
        .iter()
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(texts, ["${epoch}", "at ${date:HH}", "${gmtDate:yyyy}%"]);

    let expanded = parsed
        .expr
        .expand(|p| Ok::<_, Infallible>(p.text.replace("${", "<").replace('}', ">")))
        .unwrap();
    assert_eq!(
        expanded.to_string(),
        "a = '<epoch>' AND b IN ('x', 'at <date:HH>') AND c LIKE '<gmtDate:yyyy>%' AND d = 5"
    );
    assert!(expanded.placeholders().is_empty());

    let failed = parsed.expr.expand(|p| Err(p.text.clone()));
    assert_eq!(failed.unwrap_err(), "${epoch}");
}

// ---------------------------------------------------------------------------------------------
// Properties

/// A record whose fields share names with the generated clauses, so evaluation goes deep.
fn sample_record() -> serde_json::Value {
    json!({
        "a": 1, "b": "x", "name": "Ada", "lastModifiedDate": "2017-05-05T10:00:00Z",
        "c": {"d": [true, null, 2.5]}, "and": "kw", "x_1": "2017-05-05"
    })
}

/// Everything a parsed clause offers must work without panicking, and print back exactly.
fn exercise(text: &str) -> Result<(), TestCaseError> {
    for mode in [Mode::Lenient, Mode::Strict] {
        match Where::parse(text, mode) {
            Ok(parsed) => {
                for warning in &parsed.warnings {
                    let _ = warning.to_string();
                }
                let canonical = parsed.to_string();
                let again = Where::parse(&canonical, Mode::Strict).map_err(|e| {
                    TestCaseError::fail(format!("canonical {canonical:?} fails: {e}"))
                })?;
                prop_assert_eq!(&again.expr, &parsed.expr);
                let _ = serde_json::to_string(&parsed.expr);
                let _ = parsed.expr.flat().map_err(|e| e.to_string());
                let expanded = parsed.expr.expand(expand_with_poll_date).unwrap();
                let _ = expanded.eval(&sample_record()).unwrap();
                if !parsed.expr.placeholders().is_empty() {
                    prop_assert!(parsed.expr.eval(&sample_record()).is_err());
                }
            }
            Err(e) => {
                let _ = e.to_string();
                let _ = e.line_column();
            }
        }
    }
    Ok(())
}

/// Fragments that make arbitrary sequences look like CEQL, to reach deep into the parser.
fn fragment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a",
        "b.c",
        "`x.y`",
        "`",
        "and",
        "OR",
        "not",
        "NOT",
        "like",
        "in",
        "is",
        "null",
        "true",
        "=",
        "!=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "==",
        "!",
        "(",
        ")",
        ",",
        "'",
        "''",
        "'s'",
        "${",
        "}",
        "${date:yyyy'T'}",
        "'${epoch}'",
        "5",
        "-1.5e3",
        "1e999",
        "007",
        "%",
        "_",
        " ",
        "\n",
        "\t",
        "é",
        "\"",
        "&",
        ".",
        "..",
        "$",
    ])
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "a",
            "name",
            "lastModifiedDate",
            "x_1",
            "a-b",
            "and",
            "NULL",
            "a.b",
            "first name",
            "back`tick",
            "1st",
            "é",
            "0",
            "-",
        ])
        .prop_map(str::to_owned),
        any::<String>().prop_filter("names are not empty", |s| !s.is_empty()),
    ]
}

fn literal() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>()
            .prop_filter("'${' makes a placeholder", |s| !s.contains("${"))
            .prop_map(Value::String),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<bool>().prop_map(Value::Bool),
        placeholder(),
    ]
}

fn placeholder() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        "${date:yyyy-MM-dd'T'HH:mm:ss'Z'}",
        "${epoch}",
        "since ${gmtDate:yyyy} it's",
        "${a}${b}",
        "'${x:'}'}'",
    ])
    .prop_map(|text| {
        Value::Placeholder(Placeholder {
            text: text.to_owned(),
            span: Span::default(),
        })
    })
}

fn pattern() -> impl Strategy<Value = Value> {
    prop_oneof!["[a-z%_' ]{0,6}".prop_map(Value::String), placeholder(),]
}

fn condition() -> impl Strategy<Value = Expr> {
    let field = || prop::collection::vec(name(), 1..4).prop_map(Field::new);
    let op = prop::sample::select(vec![
        pollen_template::CompareOp::Eq,
        pollen_template::CompareOp::Ne,
        pollen_template::CompareOp::Lt,
        pollen_template::CompareOp::Le,
        pollen_template::CompareOp::Gt,
        pollen_template::CompareOp::Ge,
    ]);
    prop_oneof![
        (field(), op, literal()).prop_map(|(field, op, value)| Expr::Compare {
            field,
            op,
            value,
            span: Span::default(),
        }),
        (field(), any::<bool>(), pattern()).prop_map(|(field, negated, pattern)| Expr::Like {
            field,
            negated,
            pattern,
            span: Span::default(),
        }),
        (
            field(),
            any::<bool>(),
            prop::collection::vec(literal(), 1..4)
        )
            .prop_map(|(field, negated, values)| Expr::In {
                field,
                negated,
                values,
                span: Span::default(),
            }),
        (field(), any::<bool>()).prop_map(|(field, negated)| Expr::IsNull {
            field,
            negated,
            span: Span::default(),
        }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    condition().prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|args| Expr::And {
                args,
                span: Span::default(),
            }),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|args| Expr::Or {
                args,
                span: Span::default(),
            }),
            inner.prop_map(|arg| Expr::Not {
                arg: Box::new(arg),
                span: Span::default(),
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text)?;
    }

    #[test]
    fn ceql_like_text_never_panics(parts in prop::collection::vec(fragment(), 0..30)) {
        exercise(&parts.concat())?;
    }

    #[test]
    fn generated_clauses_print_and_parse_back(expr in expr()) {
        let canonical = expr.to_string();
        let parsed = Where::parse(&canonical, Mode::Strict)
            .map_err(|e| TestCaseError::fail(format!("{canonical:?} fails: {e}")))?;
        prop_assert_eq!(&parsed.expr, &expr, "{}", canonical);
        prop_assert!(parsed.warnings.is_empty());
        prop_assert_eq!(parsed.expr.to_string(), canonical);
    }
}
