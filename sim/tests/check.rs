//! `dbft-sim check`: the regression suite runner, and the suite itself.

mod common;

use common::{repo, tmpdir};
use std::path::Path;
use std::process::{Command, Output};

fn check(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dbft-sim")).arg("check").args(args).current_dir(dir).output().unwrap()
}

const PASSING: &str = r#"{"name": "good", "seeds": [1, 2], "validators": 4, "protocol": {"block_time_ms": 1000},
  "stop": {"heights": 3}, "expect": {"safety": "holds", "liveness": "holds"}}"#;
// Four honest nodes on a quiet network do not stall: this expectation is wrong on purpose.
const FAILING: &str = r#"{"name": "bad", "validators": 4, "protocol": {"block_time_ms": 1000},
  "stop": {"heights": 3}, "expect": {"liveness": "stalls"}}"#;

#[test]
fn one_passing_and_one_failing_scenario() {
    let dir = tmpdir("mixed");
    std::fs::create_dir_all(dir.join("s/sub")).unwrap();
    std::fs::write(dir.join("s/good.json"), PASSING).unwrap();
    std::fs::write(dir.join("s/sub/bad.json"), FAILING).unwrap();
    std::fs::write(dir.join("s/notes.txt"), "not a scenario").unwrap();
    let out = check(&["s", "--junit", "junit.xml"], &dir);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("PASS  s/good.json seed 1  ok (3 heights)"), "{stdout}");
    assert!(lines[1].starts_with("PASS  s/good.json seed 2"), "{stdout}");
    assert!(lines[2].starts_with("FAIL  s/sub/bad.json seed 1"), "{stdout}");
    assert!(lines[3].contains("mismatch: expected a stall, but the run reached its target"), "{stdout}");
    assert_eq!(*lines.last().unwrap(), "2 passed, 1 failed");
    // JUnit: well-formed XML, one test case per scenario × seed, the failure marked.
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 3);
    let names: Vec<String> = cases
        .iter()
        .map(|c| format!("{}/{}", c.attribute("classname").unwrap(), c.attribute("name").unwrap()))
        .collect();
    assert_eq!(names, ["s.good/seed 1", "s.good/seed 2", "s.sub.bad/seed 1"]);
    let failed: Vec<_> = cases.iter().filter(|c| c.children().any(|k| k.has_tag_name("failure"))).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attribute("classname"), Some("s.sub.bad"));
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
    assert_eq!((suite.attribute("tests"), suite.attribute("failures")), (Some("3"), Some("1")));
    assert_eq!(suite.attribute("name"), Some("s"), "the suite is named after the paths checked");
}

#[test]
fn output_does_not_depend_on_jobs() {
    let one = check(&["scenarios/attacks", "scenarios/faults", "--jobs", "1"], &repo());
    let two = check(&["scenarios/attacks", "scenarios/faults", "--jobs", "2"], &repo());
    assert_eq!(one.status.code(), two.status.code());
    assert!(!one.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&one.stdout), String::from_utf8_lossy(&two.stdout));
}

#[test]
fn pinned_digests_catch_drift_and_update_rewrites_them() {
    let dir = tmpdir("digests");
    let zero = "0".repeat(64);
    let text = format!(
        r#"{{"name": "pinned", "seeds": [4], "validators": 4, "protocol": {{"block_time_ms": 1000}}, "stop": {{"heights": 2}},
            "expect": {{"safety": "holds", "liveness": "holds", "digests": {{"4": "{zero}"}}}}}}"#
    );
    std::fs::write(dir.join("pinned.json"), &text).unwrap();
    let out = check(&["pinned.json"], &dir);
    assert_eq!(out.status.code(), Some(1), "a wrong pinned digest fails");
    assert!(String::from_utf8_lossy(&out.stdout).contains("digest changed: pinned 0000"));
    let out = check(&["pinned.json", "--update-digests"], &dir);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated digests: pinned.json (seeds 4)"));
    let out = check(&["pinned.json"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let updated = std::fs::read_to_string(dir.join("pinned.json")).unwrap();
    assert!(!updated.contains(&zero));
    // Only the pinned value changed: the file's own layout (one line for the top-level
    // object, odd indentation) is kept byte for byte.
    let doc: serde_json::Value = serde_json::from_str(&updated).unwrap();
    let pinned = doc["expect"]["digests"]["4"].as_str().unwrap();
    assert_eq!(updated, text.replace(&zero, pinned));
    // Nothing changed: nothing rewritten.
    let out = check(&["pinned.json", "--update-digests"], &dir);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("updated digests"));
}

#[test]
fn unreadable_scenarios_are_errors() {
    let dir = tmpdir("unreadable");
    std::fs::write(dir.join("a.json"), PASSING).unwrap();
    std::fs::write(dir.join("b.json"), r#"{"validators": "many"}"#).unwrap();
    let out = check(&["."], &dir);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ERROR ./b.json  validators: invalid type: string \"many\", expected a count"), "{stdout}");
    assert!(stdout.contains("2 passed, 0 failed, 1 unreadable"), "{stdout}");
    // --failures-only hides the passes, never an unreadable file.
    let out = check(&[".", "--failures-only"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout.contains("ERROR ./b.json") && !stdout.contains("PASS"), "{stdout}");
    assert_eq!(check(&["nowhere"], &dir).status.code(), Some(2));
}

/// `--fail-fast` stops at the first failure, but an unreadable file is still an error
/// (exit 2, a JUnit error case) whether its name sorts before or after the failure.
#[test]
fn fail_fast_still_reports_unreadable_files() {
    for bad in ["0-bad.json", "z-bad.json"] {
        let dir = tmpdir(&format!("fail-fast-unreadable-{bad}"));
        std::fs::write(dir.join("m-fails.json"), FAILING).unwrap();
        std::fs::write(dir.join(bad), r#"{"validators": "many"}"#).unwrap();
        let out = check(&[".", "--fail-fast", "--junit", "j.xml"], &dir);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stdout}");
        assert!(stdout.contains(&format!("ERROR ./{bad}")) && stdout.contains("1 unreadable"), "{bad}: {stdout}");
        let junit = std::fs::read_to_string(dir.join("j.xml")).unwrap();
        assert!(junit.contains(r#"errors="1""#) && junit.contains("<error"), "{bad}: {junit}");
    }
}

/// The scenario files under `dir` tagged `long`, read directly from the files.
fn long_scenarios(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += long_scenarios(&path);
        } else if path.extension().is_some_and(|e| e == "json") {
            let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let tags = doc["tags"].as_array().map(|t| t.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>());
            n += tags.is_some_and(|t| t.contains(&"long")) as usize;
        }
    }
    n
}

/// The regression suite: every bundled scenario must match its expectations. This is how
/// `cargo test` fails when behaviour drifts.
#[test]
fn the_scenario_suite_passes() {
    let out = check(&["scenarios", "--jobs", "2"], &repo());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let passed = stdout.lines().filter(|l| l.starts_with("PASS ")).count();
    assert!(passed > 0, "{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("FAIL ")), "{stdout}");
    // Exactly the scenarios tagged `long` are skipped (however many there are).
    let mut summary = format!("{passed} passed, 0 failed");
    let long = long_scenarios(&repo().join("scenarios"));
    if long > 0 {
        summary += &format!(" ({long} long scenarios skipped; --long runs them)");
    }
    assert_eq!(stdout.lines().last(), Some(summary.as_str()), "{stdout}");
}

/// `check --seeds` with seeds a scenario was not written for: an attack that stalls with
/// its own seed need not stall with another, so for other seeds only its safety claim is
/// checked (and an attack that expects a safety violation claims nothing for them); a
/// scenario declaring `"seeds": "any"` is held to all of its expectations for every seed.
#[test]
fn seeds_outside_a_scenarios_own_are_held_to_what_it_claims_for_any_seed() {
    let lock = "scenarios/fidelity/equivocation-relay-lock-4.json"; // its own seeds: [67]
    let out = check(&[lock, "--seeds", "65..67"], &repo());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("seed 65") && lines[0].ends_with("(not one of the scenario's seeds: safety checked)"));
    assert!(lines[2].contains("seed 67  stall (commit-lock at height 1, view 0)") && !lines[2].contains("not one of"));
    let out = check(&["scenarios/attacks/no-commit-lock-4.json", "--seeds", "2"], &repo());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing claimed"));

    let dir = tmpdir("any-seed");
    let text = std::fs::read_to_string(repo().join(lock)).unwrap();
    let any = text.replacen("\"expect\": {", "\"expect\": {\"seeds\": \"any\", ", 1);
    assert_ne!(any, text);
    std::fs::write(dir.join("any.json"), any).unwrap();
    let out = check(&["any.json", "--seeds", "65..67"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  any.json seed 65") && stdout.contains("expected a stall"), "{stdout}");
    std::fs::write(dir.join("bad.json"), r#"{"expect": {"seeds": "some"}}"#).unwrap();
    let out = check(&["bad.json"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("expect.seeds"));
}

/// A p99 limit on the block interval is a claim about measured intervals: a run that
/// finalised one height measured none (the first height, timed from the run's start, is
/// not an interval) and must not pass it by reading the empty distribution as 0.
#[test]
fn a_latency_limit_fails_when_no_interval_was_measured() {
    let dir = tmpdir("p99-empty");
    let one_height = r#"{"name": "one", "validators": 4, "protocol": {"block_time_ms": 1000},
      "stop": {"heights": 1}, "expect": {"latency_p99_ms": 100000}}"#;
    let two_heights = one_height.replace(r#""heights": 1"#, r#""heights": 2"#).replace(r#""one""#, r#""two""#);
    std::fs::write(dir.join("one.json"), one_height).unwrap();
    std::fs::write(dir.join("two.json"), two_heights).unwrap();
    let out = check(&["one.json"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("no block interval was measured"), "{stdout}");
    // With two heights there is one interval (about a block time), well inside the limit.
    let out = check(&["two.json"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// `expect.rules_applied` holds a scripted adversary to having acted: a rule whose
/// pattern never matches (here: a height the run never reaches) fails the scenario, and
/// asking for it without rules is an error at its path.
#[test]
fn a_rule_that_never_acts_fails_rules_applied() {
    let dir = tmpdir("rules-applied");
    let with_rule = |height: u32| {
        format!(
            r#"{{"name": "r", "validators": 4, "stop": {{"heights": 2}},
              "rules": [{{"name": "drop a Commit", "match": {{"types": ["Commit"], "height": {height}}}, "action": {{"do": "drop"}}}}],
              "expect": {{"rules_applied": true}}}}"#
        )
    };
    std::fs::write(dir.join("acts.json"), with_rule(1)).unwrap();
    std::fs::write(dir.join("never.json"), with_rule(9)).unwrap();
    std::fs::write(dir.join("none.json"), r#"{"name": "n", "validators": 4, "expect": {"rules_applied": true}}"#)
        .unwrap();
    let out = check(&["acts.json"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out = check(&["never.json"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("expected rule 0 (drop a Commit) to act, but it never did"), "{stdout}");
    let out = check(&["none.json"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("expect.rules_applied: the scenario has no rules"));
}

/// `--seeds` over a suite: a seed a scenario was not written for claims only what holds
/// at any seed. An attack expected to break safety claims nothing there (its claims were
/// judged all the same), and neither does a scheduled scenario, whose schedule names
/// messages by hashes drawn from its own seed (every explore counterexample failed at
/// other seeds with "the schedule could not be followed").
#[test]
fn a_seed_sweep_holds_unlisted_seeds_only_to_what_any_seed_claims() {
    let dir = tmpdir("seed-sweep");
    // Four honest nodes keep safety, so a claim that it breaks is false at its own seed.
    std::fs::write(
        dir.join("claims-violation.json"),
        r#"{"seeds": [1], "validators": 4, "stop": {"heights": 2}, "expect": {"safety": "violated"}}"#,
    )
    .unwrap();
    let scheduled = "scenarios/explore/explore-4-delay-stuck-commit-lock.json";
    std::fs::copy(repo().join(scheduled), dir.join("scheduled.json")).unwrap();
    let out = check(&["claims-violation.json", "scheduled.json", "--seeds", "2..3"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("PASS  claims-violation.json seed 2")
            && stdout.contains("(not one of the scenario's seeds: nothing claimed)"),
        "{stdout}"
    );
    assert!(stdout.contains("whose messages its schedule names: nothing claimed"), "{stdout}");
    // …and the line says the schedule broke off, rather than show the cut-short run's
    // diagnosis as if it were an outcome.
    let line = stdout.lines().find(|l| l.contains("scheduled.json seed 2")).unwrap();
    assert!(line.contains("schedule not followable at this seed: schedule["), "{line}");
    assert!(!line.contains("commit-lock at height"), "{line}");
    assert!(!stdout.contains("mismatch"), "{stdout}");
    // At its own seed each is judged as written.
    let own = check(&["claims-violation.json", "--seeds", "1"], &dir);
    assert_eq!(own.status.code(), Some(1), "{}", String::from_utf8_lossy(&own.stdout));
    let own = check(&["scheduled.json"], &dir);
    assert_eq!(own.status.code(), Some(0), "{}", String::from_utf8_lossy(&own.stdout));
}

/// `--update-digests` pins only the scenario's own seeds: a pin for another seed would
/// never be checked, since such a seed is held to the safety claim alone.
#[test]
fn update_digests_pins_only_the_scenarios_own_seeds() {
    let dir = tmpdir("pin-own");
    let zero = "0".repeat(64);
    let text = format!(
        r#"{{"seeds": [1], "validators": 4, "stop": {{"heights": 2}}, "expect": {{"digests": {{"1": "{zero}"}}}}}}"#
    );
    std::fs::write(dir.join("p.json"), &text).unwrap();
    let out = check(&["p.json", "--update-digests", "--seeds", "1..2"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("updated digests: p.json (seeds 1)"), "{stdout}");
    assert!(stdout.contains("not pinned: p.json seeds 2"), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("p.json")).unwrap()).unwrap();
    let pins = doc["expect"]["digests"].as_object().unwrap();
    assert_eq!(pins.keys().collect::<Vec<_>>(), ["1"]);
    assert_ne!(pins["1"], zero.as_str());
}

/// A suite path with no scenario in it is an error, not a green run; the HTML page of a
/// batch with an unreadable file says so.
#[test]
fn an_empty_suite_fails_and_the_html_page_names_unreadable_files() {
    let dir = tmpdir("empty-suite");
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let out = check(&["empty"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario files (*.json) under empty"));
    std::fs::write(dir.join("good.json"), PASSING).unwrap();
    // Also next to a good path: a mistyped directory does not vanish into a green run.
    let out = check(&["good.json", "empty"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario files (*.json) under empty"));
    std::fs::write(dir.join("bad.json"), r#"{"validators": "many"}"#).unwrap();
    let out = check(&["good.json", "bad.json", "--html", "batch.html"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let html = std::fs::read_to_string(dir.join("batch.html")).unwrap();
    assert!(html.contains("2 of 2 runs as expected; 1 scenario file unreadable"), "{html}");
    assert!(html.contains("<td>bad.json</td>"), "{html}");
}

/// `--update-digests` does not accept a run that fails the scenario's other expectations:
/// a pin says "still the run a maintainer accepted" (scenarios/README §7).
#[test]
fn update_digests_leaves_a_failing_runs_pin_alone() {
    let dir = tmpdir("pin-failing");
    let zero = "0".repeat(64);
    // Four honest nodes reach their heights: the stall claimed here is wrong.
    let text = format!(
        r#"{{"seeds": [1], "validators": 4, "stop": {{"heights": 2}}, "expect": {{"liveness": "stalls", "digests": {{"1": "{zero}"}}}}}}"#
    );
    std::fs::write(dir.join("f.json"), &text).unwrap();
    let out = check(&["f.json", "--update-digests"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("not pinned: f.json seeds 1 (the run fails the scenario's other expectations"), "{stdout}");
    assert_eq!(std::fs::read_to_string(dir.join("f.json")).unwrap(), text, "the file is unchanged");
}
