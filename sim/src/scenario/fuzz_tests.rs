//! The scenario parser under hostile input: every bundled scenario, mutated at random (its
//! JSON values replaced by extreme or ill-typed ones, keys duplicated, bytes cut or
//! inserted), must give a result or an error with a path — never a panic, an abort from a
//! huge allocation, or a hang.

use super::*;
use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every scenario file bundled with the project, as text (read once per test process).
fn corpus() -> &'static [String] {
    static CORPUS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"), &mut files);
    let texts: Vec<String> = files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
    assert!(texts.len() >= 50, "the bundled scenarios are the fuzz corpus ({} found)", texts.len());
    texts
}

/// Values that broke parsers before: huge counts, fractions where integers go, negative
/// and non-finite-looking numbers, wrong types, deep nesting.
fn nasty(k: usize) -> Value {
    let deep = (0..64).fold(Value::Null, |v, _| Value::Array(vec![v]));
    let all = [
        serde_json::json!(4294967295u64),
        serde_json::json!(18446744073709551615u64),
        serde_json::json!(200000000),
        serde_json::json!(-1),
        serde_json::json!(0),
        serde_json::json!(0.001),
        serde_json::json!(1e308),
        serde_json::json!(-1e308),
        serde_json::json!(""),
        serde_json::json!(".."),
        serde_json::json!("R9999"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!(null),
        serde_json::json!(true),
        serde_json::json!({"kind": "ring", "zzz": 1}),
        deep,
    ];
    all[k % all.len()].clone()
}

/// Replaces the `pick`-th value in document order (objects and arrays included).
fn replace_nth(v: &mut Value, pick: &mut usize, with: &Value) -> bool {
    if *pick == 0 {
        *v = with.clone();
        return true;
    }
    *pick -= 1;
    match v {
        Value::Object(m) => m.values_mut().any(|c| replace_nth(c, pick, with)),
        Value::Array(a) => a.iter_mut().any(|c| replace_nth(c, pick, with)),
        _ => false,
    }
}

/// Parsing must return; an error must say something (and name a path unless it is about
/// the whole file).
fn parses_or_names_the_problem(text: &str) {
    if let Err(e) = parse(text, "fuzz") {
        assert!(!e.reason.is_empty(), "an error without a reason for {text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn replaced_values_never_crash_the_parser(file in 0usize..1000, at in 0usize..400, k in 0usize..100) {
        let texts = corpus();
        let text = &texts[file % texts.len()];
        let Ok(mut v) = serde_json::from_str::<Value>(text) else { return Ok(()) };
        let mut pick = at;
        replace_nth(&mut v, &mut pick, &nasty(k));
        parses_or_names_the_problem(&v.to_string());
    }

    #[test]
    fn cut_and_spliced_bytes_never_crash_the_parser(
        file in 0usize..1000,
        cut in 0usize..4000,
        len in 0usize..40,
        insert in prop::sample::select(vec!["", "}", "]", "{", ",", "\"", ":", "1e999", "\"validators\": 9", "\u{feff}", "\\u0000"]),
    ) {
        let texts = corpus();
        let text = &texts[file % texts.len()];
        let mut b = text.as_bytes().to_vec();
        let at = cut.min(b.len());
        let end = (at + len).min(b.len());
        b.splice(at..end, insert.bytes());
        // Cutting inside a multi-byte character is not text; the loader reads UTF-8 only.
        if let Ok(t) = String::from_utf8(b) {
            parses_or_names_the_problem(&t);
        }
    }

    /// Writing a key twice anywhere is an error naming it, never "last one wins".
    #[test]
    fn a_duplicated_key_is_an_error(file in 0usize..1000, at in 0usize..400) {
        let texts = corpus();
        let text = &texts[file % texts.len()];
        // Duplicate the first key at or after a random position: `"key": value` becomes
        // `"key": value, "key": value` by re-inserting the member text.
        let Ok(v) = serde_json::from_str::<Value>(text) else { return Ok(()) };
        let Some((key, member)) = nth_member(&v, at) else { return Ok(()) };
        let once = format!("\"{key}\": {member}");
        let Some(pos) = text.find(&format!("\"{key}\":")) else { return Ok(()) };
        let twice = format!("{}{once}, {}", &text[..pos], &text[pos..]);
        if let Err(e) = parse(&twice, "fuzz") {
            prop_assert!(!e.reason.is_empty());
        } else {
            prop_assert!(false, "a duplicated key \"{key}\" was accepted");
        }
    }
}

/// The `at`-th object member (key and compact value) in document order, for keys that
/// appear once in the text (so the duplicate lands in the right object).
fn nth_member(v: &Value, at: usize) -> Option<(String, String)> {
    fn all(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    out.push((k.clone(), c.to_string()));
                    all(c, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|c| all(c, out)),
            _ => {}
        }
    }
    let mut members = Vec::new();
    all(v, &mut members);
    let text = v.to_string();
    let unique: Vec<_> = members.into_iter().filter(|(k, _)| text.matches(&format!("\"{k}\":")).count() == 1).collect();
    if unique.is_empty() { None } else { Some(unique[at % unique.len()].clone()) }
}
