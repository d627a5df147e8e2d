//! The JSON Schema of scenario files (docs/scenario.schema.json): generated from the types
//! the parser reads, committed, and every bundled scenario validates against it.
//!
//! The validator below implements the keywords the generated schema uses (type,
//! properties, required, additionalProperties, items, prefixItems, min/maxItems, enum,
//! const, oneOf, anyOf, allOf, $ref, minimum, maximum); an unknown keyword fails the test,
//! so a schema that grows a new one cannot pass unchecked.

mod common;

use common::repo;
use serde_json::Value;

struct Validator<'a> {
    root: &'a Value,
}

impl Validator<'_> {
    fn check(&self, s: &Value, v: &Value, path: &str) -> Result<(), String> {
        let Some(obj) = s.as_object() else {
            return match s {
                Value::Bool(true) => Ok(()),
                _ => Err(format!("{path}: not allowed")),
            };
        };
        for (k, kw) in obj {
            match k.as_str() {
                "$schema" | "title" | "description" | "format" | "default" | "$defs" => {}
                "type" => {
                    let types: Vec<&str> = match kw {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
                        _ => return Err(format!("bad type keyword {kw}")),
                    };
                    let ok = types.iter().any(|t| match *t {
                        "null" => v.is_null(),
                        "boolean" => v.is_boolean(),
                        "string" => v.is_string(),
                        "array" => v.is_array(),
                        "object" => v.is_object(),
                        "number" => v.is_number(),
                        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
                        _ => false,
                    });
                    if !ok {
                        return Err(format!("{path}: {v} is not of type {types:?}"));
                    }
                }
                "properties" | "required" | "additionalProperties" => {
                    let Some(o) = v.as_object() else { continue };
                    let props = obj.get("properties").and_then(|p| p.as_object());
                    if k == "properties" {
                        for (name, sub) in props.into_iter().flatten() {
                            if let Some(x) = o.get(name) {
                                self.check(sub, x, &format!("{path}.{name}"))?;
                            }
                        }
                    } else if k == "required" {
                        for r in kw.as_array().into_iter().flatten().filter_map(|r| r.as_str()) {
                            if !o.contains_key(r) {
                                return Err(format!("{path}: missing required field {r}"));
                            }
                        }
                    } else {
                        for (name, x) in o {
                            if props.is_some_and(|p| p.contains_key(name)) {
                                continue;
                            }
                            match kw {
                                Value::Bool(false) => return Err(format!("{path}: unknown field {name}")),
                                Value::Bool(true) => {}
                                sub => self.check(sub, x, &format!("{path}.{name}"))?,
                            }
                        }
                    }
                }
                "items" => {
                    let skip = obj.get("prefixItems").and_then(|p| p.as_array()).map_or(0, |p| p.len());
                    for (i, x) in v.as_array().into_iter().flatten().enumerate().skip(skip) {
                        self.check(kw, x, &format!("{path}[{i}]"))?;
                    }
                }
                "prefixItems" => {
                    for (i, (sub, x)) in
                        kw.as_array().into_iter().flatten().zip(v.as_array().into_iter().flatten()).enumerate()
                    {
                        self.check(sub, x, &format!("{path}[{i}]"))?;
                    }
                }
                "minItems" | "maxItems" => {
                    let (Some(a), Some(n)) = (v.as_array(), kw.as_u64()) else { continue };
                    let bad = if k == "minItems" { (a.len() as u64) < n } else { a.len() as u64 > n };
                    if bad {
                        return Err(format!("{path}: {k} {n}"));
                    }
                }
                "minimum" | "maximum" => {
                    let (Some(x), Some(b)) = (v.as_f64(), kw.as_f64()) else { continue };
                    if (k == "minimum" && x < b) || (k == "maximum" && x > b) {
                        return Err(format!("{path}: {x} violates {k} {b}"));
                    }
                }
                "const" => {
                    if v != kw {
                        return Err(format!("{path}: {v} is not {kw}"));
                    }
                }
                "enum" => {
                    if !kw.as_array().is_some_and(|a| a.contains(v)) {
                        return Err(format!("{path}: {v} is not one of {kw}"));
                    }
                }
                "allOf" => {
                    for sub in kw.as_array().into_iter().flatten() {
                        self.check(sub, v, path)?;
                    }
                }
                "anyOf" | "oneOf" => {
                    let subs: Vec<&Value> = kw.as_array().into_iter().flatten().collect();
                    let results: Vec<Result<(), String>> = subs.iter().map(|sub| self.check(sub, v, path)).collect();
                    let passed = results.iter().filter(|r| r.is_ok()).count();
                    let ok = if k == "anyOf" { passed >= 1 } else { passed == 1 };
                    if !ok {
                        let why: Vec<String> = results.into_iter().filter_map(|r| r.err()).collect();
                        return Err(format!(
                            "{path}: {passed} of {} alternatives of {k} match ({})",
                            subs.len(),
                            why.join("; ")
                        ));
                    }
                }
                "$ref" => {
                    let name = kw.as_str().and_then(|r| r.strip_prefix("#/$defs/")).ok_or(format!("bad $ref {kw}"))?;
                    let target = self.root.pointer(&format!("/$defs/{name}")).ok_or(format!("no $defs/{name}"))?;
                    self.check(target, v, path)?;
                }
                other => return Err(format!("the schema uses {other:?}, which this validator does not implement")),
            }
        }
        Ok(())
    }
}

fn schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo().join("docs/scenario.schema.json")).unwrap()).unwrap()
}

fn validate(text: &str) -> Result<(), String> {
    let root = schema();
    let v: Value = serde_json::from_str(text).unwrap();
    Validator { root: &root }.check(&root, &v, "")
}

#[test]
fn committed_schema_is_the_generated_one() {
    let committed = std::fs::read_to_string(repo().join("docs/scenario.schema.json")).unwrap();
    assert!(
        committed == dbft_sim::scenario::json_schema(),
        "docs/scenario.schema.json is stale: cargo run -- schema > docs/scenario.schema.json"
    );
}

#[test]
fn every_bundled_scenario_validates() {
    let files = dbft_sim::cli::check::collect(&[repo().join("scenarios")]).unwrap();
    assert!(files.len() > 50, "the suite is there: {}", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if let Err(e) = validate(&text) {
            panic!("{}: {e}", f.display());
        }
    }
}

#[test]
fn the_schema_rejects_what_the_parser_rejects() {
    assert!(validate(r#"{"validators": 4}"#).is_ok());
    assert!(validate(r#"{"validators": 4, "netwrk": {}}"#).unwrap_err().contains("unknown field netwrk"));
    assert!(validate(r#"{"validators": "four"}"#).is_err(), "a count, names or an object");
    assert!(validate(r#"{"network": {"latency": {"dist": "gamma", "ms": 1}}}"#).is_err(), "unknown distribution");
    assert!(validate(r#"{"rules": [{"action": {"do": "drop"}}]}"#).is_ok());
    assert!(validate(r#"{"rules": [{"action": {"do": "explode"}}]}"#).is_err(), "unknown action");
    assert!(validate(r#"{"seed": -1}"#).is_err(), "seeds are unsigned");
    for bad in [r#"{"validators": 4, "netwrk": {}}"#, r#"{"validators": "four"}"#] {
        assert!(dbft_sim::scenario::parse(bad, "x").is_err(), "the parser agrees: {bad}");
    }
}
