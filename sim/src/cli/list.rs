//! `dbft-sim list [PATHS]`: the bundled (or any) scenarios with their descriptions.

use crate::scenario;
use std::path::PathBuf;

/// The first sentence of a description (up to the first ". " or the end).
pub fn first_sentence(d: &str) -> &str {
    match d.find(". ") {
        Some(i) => &d[..=i],
        None => d,
    }
}

pub fn list(paths: &[PathBuf], full: bool) -> i32 {
    let files = match super::check::collect(paths) {
        Ok(f) => f,
        Err(e) => {
            tell!("error: {e}");
            return 2;
        }
    };
    let mut code = 0;
    for f in files {
        match scenario::load(&f) {
            Ok(s) => {
                let mut tags = s.tags.clone();
                if !s.expect.is_empty() {
                    tags.insert(0, "expect".into());
                }
                let seeds = if s.seeds.is_empty() { 1 } else { s.seeds.len() };
                say!(
                    "{}  [{seeds} seed{}{}{}]",
                    f.display(),
                    if seeds == 1 { "" } else { "s" },
                    if tags.is_empty() { "" } else { "; " },
                    tags.join(", ")
                );
                let d = if full { s.description.as_str() } else { first_sentence(&s.description) };
                if !d.is_empty() {
                    say!("    {d}");
                }
            }
            Err(e) => {
                tell!("error: {}: {e}", f.display());
                code = 2;
            }
        }
    }
    code
}
