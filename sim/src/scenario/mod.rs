//! The scenario file format (JSON, version 1): parsing, validation, defaults.
//!
//! A scenario is data, not code: everything a run needs is in the file plus the seed.
//! Parsing happens in two steps. `schema` mirrors the JSON with serde and rejects unknown
//! fields and wrong types, reporting the JSON path through `serde_path_to_error`; `resolve`
//! fills in defaults, resolves node names and checks values, again naming the path. The
//! result is a [`spec::RunSpec`], the only thing the rest of the simulator reads.

pub mod error;
pub mod resolve;
pub mod schema;
pub mod spec;

pub use error::ScenarioError;
pub use spec::RunSpec;
use std::path::Path;

/// Parses and resolves scenario text.
pub fn parse(text: &str, default_name: &str) -> Result<RunSpec, ScenarioError> {
    if text.starts_with('\u{feff}') {
        return Err(ScenarioError::new("", "the file starts with a UTF-8 byte-order mark; save it without one"));
    }
    if !text.trim_start().starts_with('{') {
        return Err(ScenarioError::new("", "a scenario is a JSON object ({ ... })"));
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    let raw: schema::Scenario = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." || path == "?" { String::new() } else { path };
        let message = e.inner().to_string();
        // serde reports a repeated field or key at the enclosing object; name the field.
        let path = match repeated_name(&message) {
            Some(field) if path.is_empty() => field.to_string(),
            Some(field) => format!("{path}.{field}"),
            None => match field_at_fault(text, &path) {
                Some(field) => format!("{path}.{field}"),
                None => path,
            },
        };
        ScenarioError::new(path, clean_serde_message(&message))
    })?;
    // Nothing but whitespace may follow the object.
    de.end().map_err(|e| ScenarioError::new("", format!("text after the scenario object: {e}")))?;
    resolve::resolve(&raw, default_name)
}

/// The JSON Schema of scenario files, generated from the types the parser reads
/// (`schema::Scenario` and what it holds), so the two cannot drift apart. Committed as
/// docs/scenario.schema.json; `dbft-sim schema` prints it. It checks shape — field names,
/// types, the names of enum values — not the value ranges and node names `resolve`
/// checks.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(schema::Scenario);
    schema.insert("title".into(), "dbft-sim scenario (version 1)".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads, parses and resolves a scenario file. The default name is the file stem.
pub fn load(path: &Path) -> Result<RunSpec, ScenarioError> {
    let text = read_text(path, MAX_INPUT_BYTES)
        .map_err(|e| ScenarioError::new("", format!("cannot read {}: {e}", path.display())))?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
    parse(&text, stem)
}

/// The largest scenario or report this tool reads (a report of 100,000 heights is
/// about a tenth of it): a bigger file is a mistake (`run /dev/zero`), not a scenario.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

/// Reads an input file as text: a regular file (or a link to one) of at most `limit`
/// bytes. A device or a FIFO is refused at once instead of read until memory runs out
/// (`/dev/zero`) or forever (a FIFO nobody writes).
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other(if meta.is_dir() { "a directory" } else { "not a regular file" }));
    }
    if meta.len() > limit {
        return Err(std::io::Error::other(format!("larger than {} MiB", limit >> 20)));
    }
    let mut text = String::new();
    // Read at most one byte past the limit: a file that grew since is caught too.
    std::fs::File::open(path)?.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {} MiB", limit >> 20)));
    }
    Ok(text)
}

/// The field of a tagged object (`{"do": ...}`, `{"kind": ...}`) that made it fail, when
/// serde's error names only the object: serde reads a tagged object from a buffered copy,
/// where it cannot tell which field it was in (`changes[0]: invalid type: floating point
/// `2.5`, expected u32`). Each field but the tag is taken out in turn and the document read
/// again (from its parsed tree, so the baseline is read the same way): the first field
/// whose removal changes the error is the one that caused it. Runs only on a failed parse.
fn field_at_fault(text: &str, path: &str) -> Option<String> {
    use serde_json::Value;
    fn at<'v>(v: &'v mut Value, path: &str) -> Option<&'v mut Value> {
        let mut v = v;
        for part in path.split('.') {
            let (name, indices) = part.split_once('[').map_or((part, ""), |(n, rest)| (n, rest));
            if !name.is_empty() {
                v = v.get_mut(name)?;
            }
            for index in indices.split('[').filter(|i| !i.is_empty()) {
                v = v.get_mut(index.strip_suffix(']')?.parse::<usize>().ok()?)?;
            }
        }
        Some(v)
    }
    let read = |doc: Value| -> Option<(String, String)> {
        serde_path_to_error::deserialize::<_, schema::Scenario>(doc)
            .err()
            .map(|e| (e.path().to_string(), e.inner().to_string()))
    };
    if path.is_empty() {
        return None;
    }
    let mut doc: Value = serde_json::from_str(text).ok()?;
    let object = at(&mut doc, path)?.as_object()?;
    // The tag: `do` where there is one (a schedule step's `kind` is a field), else `kind`.
    let tag = ["do", "kind"].into_iter().find(|t| object.contains_key(*t))?;
    let fields: Vec<String> = object.keys().filter(|k| *k != tag).cloned().collect();
    let baseline = read(doc.clone())?;
    if baseline.0 != path
        || ["missing field", "unknown field", "unknown variant"].iter().any(|m| baseline.1.starts_with(m))
    {
        return None;
    }
    fields.into_iter().find(|field| {
        let mut copy = doc.clone();
        if let Some(o) = at(&mut copy, path).and_then(Value::as_object_mut) {
            o.remove(field);
        }
        read(copy).as_ref() != Some(&baseline)
    })
}

/// The name in "duplicate field `x`" or "duplicate key `x`" messages.
fn repeated_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("duplicate field `").or_else(|| message.strip_prefix("duplicate key `"))?;
    rest.split_once('`').map(|(name, _)| name)
}

/// serde messages end with " at line L column C"; keep that, but make untagged-enum
/// failures say what was expected.
fn clean_serde_message(m: &str) -> String {
    // A tagged object given as something else (a string, a number): say which object,
    // not the Rust type behind it.
    const TAGGED: [(&str, &str); 6] = [
        ("ScheduleStep", "a schedule step {\"do\": ...}"),
        ("ChangeSpec", "a change {\"do\": \"join\"|\"leave\"|\"rotate\"|\"replace\"|\"eject\", ...}"),
        ("Topology", "a topology {\"kind\": ...}"),
        ("RuleAction", "a rule action {\"do\": ...}"),
        ("TimerControl", "a timer control {\"do\": ...}"),
        ("BehaviourSpec", "a behaviour {\"kind\": ...}"),
    ];
    for (name, what) in TAGGED {
        let internal = format!("internally tagged enum {name}");
        if m.contains(&internal) {
            return m.replace(&internal, what);
        }
    }
    if m.starts_with("data did not match any variant of untagged enum NodeRef") {
        return "expected a node name or index".into();
    }
    if m.starts_with("data did not match any variant of untagged enum OneOrMany") {
        return "expected a node name or index, or a list of them".into();
    }
    if m.starts_with("data did not match any variant of untagged enum HandoffSpec") {
        return "expected a rule name or {\"rule\", \"period\", \"churn_limit\"}".into();
    }
    m.to_string()
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
