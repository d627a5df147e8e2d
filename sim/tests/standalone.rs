//! The repository stands alone: no code comment, doc or scenario cites a document that is
//! not in it (a design note, a reference file, sections of an outside text).

mod common;

use common::repo;
use std::path::Path;

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() {
            if !["target", ".git", "reports"].contains(&name.as_str()) {
                walk(&p, out);
            }
        } else if ["rs", "md", "json", "sh", "toml"].iter().any(|x| name.ends_with(&format!(".{x}"))) {
            out.push(p);
        }
    }
}

#[test]
fn nothing_cites_documents_outside_the_repository() {
    let mut files = Vec::new();
    walk(&repo(), &mut files);
    assert!(files.len() > 100);
    // Written split so this file does not match itself.
    let banned = [
        ["reference", " §"].concat(),
        ["DESIGN", ".md"].concat(),
        ["validator-sets-", "and-testing"].concat(),
        ["../", "shared"].concat(),
    ];
    let mut hits = Vec::new();
    for f in files {
        let raw = std::fs::read_to_string(&f).unwrap_or_default();
        // Whitespace normalised, so a citation broken across lines is still one string.
        let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        for b in &banned {
            if text.contains(b.as_str()) {
                hits.push(format!("{}: {b}", f.strip_prefix(repo()).unwrap().display()));
            }
        }
    }
    assert!(hits.is_empty(), "citations of documents that are not in the repository: {hits:?}");
}

/// The README's table of report fields names every stall class a diagnosis can give (a
/// class added to the code without a word in the README fails here).
#[test]
fn the_readme_names_every_stall_class() {
    use dbft_sim::invariants::diagnosis::StallClass;
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let row = readme.lines().find(|l| l.starts_with("| `liveness` |")).expect("the liveness row of the report table");
    let missing: Vec<&str> =
        StallClass::ALL.iter().map(|c| c.as_str()).filter(|n| !row.contains(&format!("`{n}`"))).collect();
    assert!(missing.is_empty(), "README.md's liveness row does not name {missing:?}");
}
