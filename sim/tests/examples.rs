//! The committed examples in reports/examples/ are what the program writes today: the
//! commands of scripts/examples.sh run again (debug build, same output) into a temporary
//! directory, and every file must be byte-identical, with none missing or extra.
//!
//! A freshness check of the committed examples, not a correctness test: it fails when the
//! output changes for any reason, right or wrong, and passes whatever the examples show.

mod common;

use common::{repo, tmpdir};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn files(dir: &Path, base: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, base, out);
        } else {
            out.insert(p.strip_prefix(base).unwrap().display().to_string(), std::fs::read(&p).unwrap());
        }
    }
}

#[test]
fn committed_examples_are_reproduced_byte_for_byte() {
    let out = tmpdir("examples");
    let o = |sub: &str| out.join(sub).display().to_string();
    let runs: Vec<Vec<String>> = vec![
        vec![
            "run".into(),
            "scenarios/attacks/crash-lock-4.json".into(),
            "--out".into(),
            o("crash-lock-4"),
            "--quiet".into(),
        ],
        vec![
            "run".into(),
            "scenarios/faults/crash-and-partition-7.json".into(),
            "--out".into(),
            o("crash-and-partition-7"),
            "--quiet".into(),
        ],
        ["plot", "scenarios/faults/crash-and-partition-7.json", "--seeds", "1..3", "--out"]
            .iter()
            .map(|s| s.to_string())
            .chain([o("crash-and-partition-7-seeds")])
            .collect(),
        [
            "compare",
            "scenarios/happy-7.json",
            "scenarios/baseline/happy-go-7.json",
            "scenarios/lossy-7.json",
            "--seeds",
            "1..2",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([o("compare")])
        .collect(),
        ["plot", "--validators", "4,7,21", "--seeds", "1..3", "--heights", "6", "--out"]
            .iter()
            .map(|s| s.to_string())
            .chain([o("sweep")])
            .collect(),
    ];
    for args in &runs {
        let r = Command::new(env!("CARGO_BIN_EXE_dbft-sim")).args(args).current_dir(repo()).output().unwrap();
        // crash-lock-4 stalls as expected (exit 0); every command must succeed.
        assert_eq!(r.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&r.stderr));
    }
    let (mut want, mut got) = (BTreeMap::new(), BTreeMap::new());
    let committed = repo().join("reports/examples");
    files(&committed, &committed, &mut want);
    files(&out, &out, &mut got);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&want), names(&got), "reports/examples holds exactly the files scripts/examples.sh writes");
    for (name, bytes) in &want {
        // Paths inside the outputs differ (a report names no path; plots name none).
        assert!(
            got[name] == *bytes,
            "reports/examples/{name} differs from what the program writes now: run scripts/examples.sh"
        );
    }
}
