//! `dbft-sim shrink <scenario>`: shrinks a failing scenario with `search::shrink` and
//! writes the smaller scenario file.

use crate::report::files::write_atomic;
use crate::scenario;
use crate::search::shrink::{failure, shrink};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub struct ShrinkOptions {
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
}

pub fn run(path: &Path, o: ShrinkOptions) -> i32 {
    let text = match scenario::read_text(path, scenario::MAX_INPUT_BYTES) {
        Ok(t) => t,
        Err(e) => {
            tell!("error: {}: {e}", path.display());
            return 2;
        }
    };
    // Parse for the clear error first; shrinking then works on the document.
    let spec = match scenario::parse(&text, &default_name(path)) {
        Ok(s) => s,
        Err(e) => {
            tell!("error: {}: {e}", path.display());
            return 2;
        }
    };
    let Ok(doc) = serde_json::from_str::<Value>(&text) else {
        tell!("error: {}: not JSON", path.display());
        return 2;
    };
    if spec.schedule.len() > crate::search::shrink::MAX_SHRINK_STEPS {
        tell!(
            "error: {}: schedule: {} steps; shrink takes at most {} (each step it tries to remove costs a replay of the whole schedule)",
            path.display(),
            spec.schedule.len(),
            crate::search::shrink::MAX_SHRINK_STEPS
        );
        return 2;
    }
    // The output is checked before the shrink, which can take minutes: not the input
    // (shrinking a file onto itself would lose the original), and writable.
    let out = o.out.unwrap_or_else(|| Path::new("reports").join("shrink").join(format!("{}.json", spec.name)));
    if let Err(e) = crate::report::files::outputs_not_inputs(&[("--out", Some(&out))], &[path])
        .and_then(|()| crate::report::files::check_output_file(&out))
    {
        tell!("error: {e}");
        return 2;
    }
    let seed = o.seed.unwrap_or(spec.seed);
    let target = match failure(&doc, seed) {
        Ok(f) if f.is_failure() => f,
        Ok(_) => {
            tell!("error: {} seed {seed} violates no invariant and does not stall: nothing to shrink", path.display());
            return 2;
        }
        Err(e) => {
            tell!("error: {}: {e}", path.display());
            return 2;
        }
    };
    let what = target.describe();
    let verb = if target.safety.is_empty() { "ends in" } else { "violates" };
    say!("{} seed {seed} {verb} {what}; shrinking", path.display());
    if target.safety.is_empty() && !target.settles() {
        say!(
            "  its schedule ends with messages in flight that could still change the outcome: a shorter \
             schedule would stall as well without being stuck, so no step is removed"
        );
    }
    let shrunk = shrink(&doc, seed, &target, |e| say!("  {} (still {what})", e.describe()));
    let mut doc = shrunk.doc;
    if let Some(obj) = doc.as_object_mut() {
        // Names are at most 64 characters; keep the suffix.
        let stem: String = spec.name.chars().take(64 - "-shrunk".len()).collect();
        obj.insert("name".into(), Value::from(format!("{stem}-shrunk")));
        obj.insert(
            "description".into(),
            Value::from(format!(
                "Shrunk by `dbft-sim shrink` from {} (seed {seed}): {} edits. Explain from the protocol why it shows {what} before adding it to the suite.",
                path.display(),
                shrunk.steps.len(),
            )),
        );
        obj.remove("seeds");
        obj.insert("seed".into(), Value::from(seed));
        obj.insert("expect".into(), shrunk.failure.expect());
    }
    let mut body = serde_json::to_string_pretty(&doc).unwrap_or_default();
    body.push('\n');
    // What is written must load: a shrunk scenario nobody can run helps no one.
    if let Err(e) = scenario::parse(&body, "shrunk") {
        tell!("error: the shrunk scenario does not load ({e}); nothing written");
        return 2;
    }
    if let Err(e) = write_atomic(&out, body.as_bytes()) {
        tell!("error: cannot write {}: {e}", out.display());
        return 2;
    }
    say!(
        "{} edits kept of {} tried; wrote {} (replay: dbft-sim run {})",
        shrunk.steps.len(),
        shrunk.runs,
        out.display(),
        out.display()
    );
    0
}

fn default_name(path: &Path) -> String {
    path.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
}
