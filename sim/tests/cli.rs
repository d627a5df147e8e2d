//! The `dbft-sim` binary as a user runs it: determinism across processes, exit codes,
//! atomic output, clear errors for bad scenarios.

mod common;

use common::{repo, tmpdir};
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dbft-sim"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).current_dir(repo()).output().unwrap()
}

fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn same_seed_same_report_across_processes_and_seeds_differ() {
    let (a, b, c) = (tmpdir("a"), tmpdir("b"), tmpdir("c"));
    let scenario = "scenarios/lossy-7.json";
    for (dir, seed) in [(&a, "5"), (&b, "5"), (&c, "6")] {
        let out = run(&["run", scenario, "--seed", seed, "--out", dir.to_str().unwrap(), "--quiet"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let ra = std::fs::read(a.join("report.json")).unwrap();
    let rb = std::fs::read(b.join("report.json")).unwrap();
    assert_eq!(ra, rb, "two processes, same seed: byte-identical reports");
    let (ja, jc) = (report(&a), report(&c));
    assert_eq!(ja["seed"], 5);
    assert_ne!(ja["digest"], jc["digest"], "a lossy random network must depend on the seed");
    assert_eq!(ja["digest"].as_str().unwrap().len(), 64);
}

#[test]
fn report_has_the_documented_fields() {
    let dir = tmpdir("fields");
    let out = run(&["run", "scenarios/happy-4.json", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("happy-4 seed 1"), "{stdout}");
    assert!(stdout.contains("digest "), "{stdout}");
    let r = report(&dir);
    for key in [
        "scenario",
        "seed",
        "digest",
        "outcome",
        "sim_time_ms",
        "heights",
        "latency",
        "views",
        "per_height",
        "messages",
        "invariants",
        "liveness",
        "handoffs",
        "config",
    ] {
        assert!(r.get(key).is_some(), "missing {key}");
    }
    for q in ["p50", "p90", "p99", "max"] {
        assert!(r["latency"]["block_interval_ms"][q].is_number());
    }
    let commit = &r["messages"]["Commit"];
    for f in ["sent", "delivered", "dropped", "duplicated"] {
        assert!(commit[f].is_u64(), "Commit.{f}");
    }
    let ids: Vec<&str> = r["invariants"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["S1", "S2", "S3", "S4", "S5", "S6", "L1", "L2"]);
    assert_eq!(r["heights"]["finalised"], 10);
}

#[test]
fn default_output_directory_is_reports_name_seed() {
    let work = tmpdir("default-out");
    std::fs::copy(repo().join("scenarios/happy-4.json"), work.join("s.json")).unwrap();
    let out = bin().args(["run", "s.json", "--seed", "3", "--quiet"]).current_dir(&work).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(work.join("reports/happy-4/3/report.json").is_file());
    // The report, its figures and page, and no temporary files left behind.
    let mut files: Vec<String> = std::fs::read_dir(work.join("reports/happy-4/3"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["heights.svg", "index.html", "report.json", "sequence.svg", "timeline.svg"]);
    let svg = std::fs::read_to_string(work.join("reports/happy-4/3/heights.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    // Ten heights in view 0: ten points in view 0's colour, and one in the legend.
    let view0 = doc.descendants().filter(|n| n.has_tag_name("circle") && n.attribute("fill") == Some("#3C3C3C"));
    assert_eq!(view0.count(), 10 + 1);
    assert!(svg.contains("final in view 0"));
}

#[test]
fn trace_is_json_lines_in_step_order() {
    let dir = tmpdir("trace");
    let trace = dir.join("trace.jsonl");
    let out = run(&[
        "run",
        "scenarios/happy-4.json",
        "--out",
        dir.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, report(&dir)["events"].as_u64().unwrap());
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["step"], i as u64);
    }
    assert_eq!(lines[0]["ev"], "start");
    assert_eq!(lines[0]["node"], "R0");
    let send = lines.iter().find(|l| l["ev"] == "send" && l["kind"] == "PrepareRequest").unwrap();
    assert!(send["content"].is_object(), "sends carry the message content");
    assert!(lines.iter().any(|l| l["ev"] == "persist"));
}

#[test]
fn failed_expectation_exits_1() {
    let dir = tmpdir("exit1");
    let s = dir.join("wrong.json");
    std::fs::write(&s, r#"{"name": "wrong", "validators": 4, "expect": {"liveness": "stalls"}}"#).unwrap();
    let out = run(&["run", s.to_str().unwrap(), "--out", dir.join("out").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mismatch: expected a stall"), "{stdout}");
    // The report is still written: a failed expectation is a result, not an error.
    assert!(dir.join("out/report.json").is_file());
}

/// Bad scenarios: (file content, path the error must name).
const BAD: &[(&str, &str)] = &[
    (r#"{"validators": "seven"}"#, "validators"),
    (r#"{"validators": []}"#, "validators"),
    (r#"{"network": {"latency": {"dist": "normal", "mean_ms": -5, "stddev_ms": 1}}}"#, "network.latency.mean_ms"),
    (r#"{"network": {"latency": {"dist": "uniform", "min_ms": 5, "max_ms": 1}}}"#, "network.latency.max_ms"),
    (r#"{"network": {"loss": 1.5}}"#, "network.loss"),
    (r#"{"network": {"duplicate": 2}}"#, "network.duplicate"),
    (r#"{"network": {"preset": "moon"}}"#, "network.preset"),
    (r#"{"netwrok": {}}"#, "netwrok"),
    (r#"{"protocol": {"block_time_ms": -1}}"#, "protocol.block_time_ms"),
    (r#"{"protocol": {"block_time_ms": true}}"#, "protocol.block_time_ms"),
    (r#"{"protocol": {"semantics": "java"}}"#, "protocol.semantics"),
    (
        r#"{"network": {"partitions": [{"groups": [["R0", "R7"]], "from_ms": 0}]}}"#,
        "network.partitions[0].groups[0][1]",
    ),
    (r#"{"network": {"partitions": [{"groups": [["R0"], ["R0"]], "from_ms": 0}]}}"#, "network.partitions[0].groups[1]"),
    (r#"{"faults": {"crashes": [{"node": "R9", "at_ms": 5}]}}"#, "faults.crashes[0].node"),
    (r#"{"faults": {"crashes": [{"node": "R1", "at_ms": -5}]}}"#, "faults.crashes[0].at_ms"),
    (r#"{"stop": {"heights": -1}}"#, "stop.heights"),
    (r#"{"stop": {"duration_ms": 0}}"#, "stop.duration_ms"),
    (r#"{"expect": {"violations": ["S42"]}}"#, "expect.violations[0]"),
    (r#"{"expect": {"stall": {"class": "sleepy"}}}"#, "expect.stall.class"),
    (r#"{"workload": {"withhold": [{"nodes": ["R1"], "txs": [5, 2]}]}}"#, "workload.withhold[0].txs"),
    // Found by probing the binary with malformed files: each once crashed, hung, wrote
    // outside reports/, or was silently accepted.
    (r#"{"validators": 4294967295}"#, "validators"),
    (r#"{"validators": {"count": 200000000}}"#, "validators.count"),
    (r#"{"network": {"topology": {"kind": "ring", "zzz": 1}}}"#, "network.topology"),
    (
        r#"{"byzantine": [{"node": "R1", "behaviours": [{"kind": "silent", "from_ms": 5000}]}]}"#,
        "byzantine[0].behaviours[0]",
    ),
    (r#"{"rules": [{"match": {}, "action": {"do": "drop", "ms": 100}}]}"#, "rules[0].action"),
    (r#"{"name": ".."}"#, "name"),
    (
        r#"{"twins": [{"node": "R1", "to": ["R0"], "twin_to": ["R2"]}], "byzantine": [{"node": "R1.twin", "behaviours": [{"kind": "silent"}]}]}"#,
        "byzantine[0].node",
    ),
    (
        r#"{"twins": [{"node": "R1", "to": ["R0"], "twin_to": ["R2"]}, {"node": "R1", "to": ["R0"], "twin_to": ["R3"]}]}"#,
        "twins[1].node",
    ),
    (
        r#"{"compromised_keys": [{"key_of": "R1", "behaviours": []}, {"key_of": "R1", "behaviours": []}]}"#,
        "compromised_keys[1].key_of",
    ),
    (r#"{"validators": 4, "validators": 5}"#, "validators"),
    (r#"{"expect": {"digests": {"1": "ab", "1": "cd"}}}"#, "expect.digests.1"),
    (r#"{"expect": {"marks": {"a": 1, "a": 2}}}"#, "expect.marks.a"),
    (r#"{"expect": {"views": {"1": 1, "1": 2}}}"#, "expect.views.1"),
    // One height spelt two ways would be a second key for it.
    (r#"{"expect": {"views": {"1": 1, "01": 2}}}"#, "expect.views.01"),
    (
        r#"{"byzantine": [{"node": "R1", "behaviours": [{"kind": "forge", "period_ms": 0.001}]}]}"#,
        "byzantine[0].behaviours[0].period_ms",
    ),
];

/// Whole-file problems: (file content, what the error must say). They have no field path.
const BAD_FILES: &[(&str, &str)] = &[
    ("{\"validators\": 4} xyz", "text after the scenario object"),
    ("{\"validators\": 4}]]]", "text after the scenario object"),
    ("\u{feff}{\"validators\": 4}", "byte-order mark"),
    ("[1, 2]", "a scenario is a JSON object"),
    ("", "a scenario is a JSON object"),
];

#[test]
fn bad_scenarios_exit_2_name_the_path_and_write_nothing() {
    assert!(BAD.len() >= 15);
    let dir = tmpdir("bad");
    for (i, (text, path)) in BAD.iter().enumerate() {
        let s = dir.join(format!("bad{i}.json"));
        std::fs::write(&s, text).unwrap();
        let out_dir = dir.join(format!("out{i}"));
        let trace = dir.join(format!("trace{i}.jsonl"));
        let out =
            run(&["run", s.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), "--trace", trace.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(&format!("{path}: ")), "{text}: stderr does not name {path}: {stderr}");
        assert!(!out_dir.exists(), "{text}: output directory was created");
        assert!(!trace.exists(), "{text}: trace was written");
    }
    for (i, (text, reason)) in BAD_FILES.iter().enumerate() {
        let s = dir.join(format!("badfile{i}.json"));
        std::fs::write(&s, text).unwrap();
        let out_dir = dir.join(format!("outfile{i}"));
        let out = run(&["run", s.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {stderr}");
        assert!(stderr.contains(reason), "{text:?}: stderr does not say {reason:?}: {stderr}");
        assert!(!out_dir.exists(), "{text:?}: output directory was created");
    }
    let missing = run(&["run", dir.join("nope.json").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(run(&["run"]).status.code(), Some(2), "usage error");
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2), "unknown subcommand");
}

#[test]
fn plot_writes_svgs_and_data() {
    let dir = tmpdir("plot");
    let out = bin()
        .args(["plot", "--out", dir.to_str().unwrap(), "--seeds", "1", "--heights", "3", "--block-time-ms", "1000"])
        .args(["--validators", "4,7", "--jobs", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["consensus-vs-validators.svg", "interval-vs-crashed.svg"] {
        let svg = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(roxmltree::Document::parse(&svg).is_ok(), "{f} is not well-formed");
        for net in ["lan", "wan", "lossy", "heavy-tail"] {
            assert!(svg.contains(net), "{f} lacks a line for {net}");
        }
    }
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plot-data.json")).unwrap()).unwrap();
    // 4 networks × (2 validator counts + 2 crash loads) × 1 seed.
    assert_eq!(data.as_array().unwrap().len(), 16);
    assert_eq!(bin().args(["plot", "--validators", "0"]).output().unwrap().status.code(), Some(2));
}

/// `run --narrate FILE --out DIR`.
fn narrated(file: &str, out: &std::path::Path) -> Output {
    run(&["run", file, "--narrate", "--out", out.to_str().unwrap()])
}

#[test]
fn narrate_tells_the_run_step_by_step() {
    let dir = tmpdir("narrate");
    let out = narrated("scenarios/attacks/crash-lock-4.json", &dir);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // The lock story of docs/dbft-2.0.md §2, in order: the proposal, R1's crash, R2's response
    // held from R3 by the scenario's rule, R2's commit, R3 asking to leave view 0 and only
    // then getting the held response, R0 asking to leave, and the summary last.
    let pos = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("missing {needle:?} in narration"));
    // The held message is named by its id; the delivery must be that same message, whatever
    // number the run gives it.
    let held = text
        .lines()
        .find(|l| l.contains("R2 -> R3 held until R3 sends ChangeView"))
        .unwrap_or_else(|| panic!("no held response in narration:\n{text}"));
    let words: Vec<&str> = held.split_whitespace().collect();
    let id = words.iter().position(|w| *w == "msg").and_then(|i| words.get(i + 1)).expect("the held message's id");
    let held_text = format!("msg {id} R2 -> R3 held until R3 sends ChangeView");
    let delivered = format!("R3 <- R2   PrepareResponse (msg {id})");
    let steps = [
        "R1 -> all  PrepareRequest h1 v0",
        "R1 CRASHES",
        held_text.as_str(),
        "R2 signs Commit for",
        "R3 asks to leave h1 v0 (Timeout)",
        delivered.as_str(),
        "R0 asks to leave h1 v0 (TxNotFound)",
        "dbft-sim: crash-lock-4 seed 1",
    ];
    for w in steps.windows(2) {
        assert!(pos(w[0]) < pos(w[1]), "{:?} should come before {:?}", w[0], w[1]);
    }
}

/// The narration shows the attack's steps that are not messages: the Byzantine action
/// (its coverage mark, on the attacker's line) and, at each honest node, the timer
/// extension the garbage Commit bought before its signature was checked (FINDINGS.md #8),
/// with a rejection that says a bad signature need not be a forgery. Relaying is said only
/// of a payload the sender had received.
#[test]
fn narrate_shows_the_marks_of_an_attack() {
    let dir = tmpdir("narrate-marks");
    let out = narrated("scenarios/attacks/commit-extension-starvation-4.json", &dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| l.ends_with("R3 · byzantine: garbage commit")).expect("the attacker's mark");
    assert!(lines[first + 1].contains("R3 -> all  Commit h1 v0"), "{}", lines[first + 1]);
    let after: Vec<&str> = lines[first..].iter().take(12).copied().collect();
    for node in ["R0", "R1", "R2"] {
        let mark = format!("{node} · timer extended by a Commit that then failed its signature check");
        let k = after.iter().position(|l| l.ends_with(&mark)).unwrap_or_else(|| panic!("no {mark:?} in {after:#?}"));
        assert!(
            after[k + 1].ends_with(&format!(
                "{node} rejects a Commit: bad-signature (not a signature of the block this node built: signed for another proposal, or forged)"
            )),
            "{}",
            after[k + 1]
        );
    }
    // In compromised-key-4 (seed 1) R2 assembles block 1 itself, with the same certificate
    // as R1's, before R1's copy reaches it: its send is its own, not a relay of R1's.
    let out = narrated("scenarios/attacks/compromised-key-4.json", &dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let pos = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("missing {needle:?}"));
    let sent = text.lines().find(|l| l.contains("R2 -> all  Block h1")).expect("R2 sends block 1");
    let r1 = text.lines().find(|l| l.contains("R1 -> all  Block h1")).expect("R1 sends block 1");
    let id = r1.split("(msg ").nth(1).and_then(|t| t.split(')').next()).expect("R1's message id");
    assert!(pos(sent) < pos(&format!("R2 <- R1   Block (msg {id})")), "R2 sends before R1's copy arrives");
    assert!(!sent.contains("relaying"), "{sent}");
}

/// `--narrate | head`: the reader goes away early. The narration of lossy-7 (about 88 kB)
/// outgrows a pipe's buffer, so the run meets the closed pipe; it must still finish, write
/// its report and exit with the outcome's code, not a panic's.
#[test]
fn narrate_into_a_closed_pipe_still_finishes_the_run() {
    use std::io::Read;
    let dir = tmpdir("narrate-pipe");
    let mut child = bin()
        .args(["run", "scenarios/lossy-7.json", "--narrate", "--out", dir.to_str().unwrap()])
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 200];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // The read end is dropped here.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&head).contains("R0 starts"));
    assert_eq!(report(&dir)["outcome"]["kind"], "ok");
}

/// Swarm mode as a user runs it: every written-out run replays, with `dbft-sim run`, to the
/// outcome the swarm counted. Seeds 700..=830 include runs that stall — in a commit lock
/// (one faulty validator among seven can cause one: docs/dbft-2.0.md §2), and an all-Go
/// network wedged by early garbage Commits (FINDINGS.md #9) — so `--keep-stalls` writes
/// files to replay, and the swarm's count per stall class must match the replays.
#[test]
fn swarm_counts_outcomes_and_its_files_replay() {
    let out_dir = tmpdir("swarm");
    let out = run(&["swarm", "--seeds", "700..830", "--keep-stalls", "--out", out_dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("131 runs:") && stdout.contains(" 0 safety violations"), "{stdout}");
    let mut files: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "{stdout}");
    let mut classes = std::collections::BTreeMap::<String, usize>::new();
    for f in &files {
        let dir = out_dir.join(f.file_stem().unwrap()).join("replay");
        let r = run(&["run", f.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--quiet"]);
        assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
        let rep = report(&dir);
        assert_eq!(rep["liveness"]["status"], "stalls", "{}", f.display());
        // A diagnosed stall counts by its class; a run a liveness checker halted (L2) by
        // what it violated.
        let class = match rep["liveness"]["stall"]["class"].as_str() {
            Some(c) => c.to_string(),
            None => {
                let ids: Vec<&str> = rep["outcome"]["violated"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|v| v.as_str())
                    .filter(|v| !v.starts_with('S'))
                    .collect();
                assert!(!ids.is_empty(), "{}: a stall with neither a class nor a violated invariant", f.display());
                format!("{} halted", ids.join("+"))
            }
        };
        *classes.entry(class).or_insert(0) += 1;
    }
    assert!(classes.contains_key("commit-lock"), "{classes:?}");
    let counted: Vec<String> = classes.iter().map(|(c, k)| format!("{k} {c}")).collect();
    assert!(stdout.contains(&format!("run): {}", counted.join(", "))), "{stdout}\nreplays: {classes:?}");
}

/// `swarm` and `merge` of its records count the same runs as ok: a run a liveness checker
/// halted (L2, seed 4: a hand-off's new set did not finalise in time) has no stall class,
/// but it is a stall, not an ok run, and `--keep-stalls` writes it out.
#[test]
fn swarm_and_merge_agree_on_what_is_ok() {
    let dir = tmpdir("swarm-merge-ok");
    let records = dir.join("records.jsonl");
    let out = run(&[
        "swarm",
        "--seeds",
        "1..40",
        "--keep-stalls",
        "--json",
        records.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("STALL seed 4: L2 halted after"), "{stdout}");
    assert!(dir.join("swarm-4.json").exists(), "the L2-halted run is kept");
    let ok_lines = stdout.lines().filter(|l| l.starts_with("ok seed ")).count();
    assert!(stdout.contains(&format!("40 runs: {ok_lines} ok,")), "{stdout}");
    let merged = run(&["merge", records.to_str().unwrap()]);
    let merged = String::from_utf8_lossy(&merged.stdout);
    assert!(merged.contains(&format!("ok {ok_lines}")), "swarm: {ok_lines} ok; merge:\n{merged}");
    // Each record counts its completed hand-offs, and the summary adds them up: how much
    // hand-off the sweep exercised (half the seeds draw churn).
    let text = std::fs::read_to_string(&records).unwrap();
    let per_record: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("handoffs").and_then(|h| h.as_u64()))
        .collect();
    assert_eq!(per_record.len(), 40);
    let (total, runs) = (per_record.iter().sum::<u64>(), per_record.iter().filter(|&&h| h > 0).count());
    assert!(total > 0, "{stdout}");
    assert!(stdout.contains(&format!("hand-offs completed: {total}, in {runs} of the runs")), "{stdout}");
}

/// The swarm must be able to find what it hunts for: under the `no-commit-lock` mutation (a
/// committed replica may change view and sign again) some random configurations make an
/// honest replica sign Commits for two blocks at one height (S4). Each counterexample is
/// written out, exits 1, and replays with `dbft-sim run` to the same violation.
#[test]
fn swarm_finds_a_broken_variants_violations_and_they_replay() {
    let out_dir = tmpdir("swarm-mutation");
    let out = run(&["swarm", "--seeds", "1..60", "--mutation", "no-commit-lock", "--out", out_dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let mut files: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "{stdout}");
    assert_eq!(stdout.matches("VIOLATION seed").count(), files.len(), "{stdout}");
    let f = &files[0];
    let dir = out_dir.join("replay");
    let r = run(&["run", f.to_str().unwrap(), "--out", dir.to_str().unwrap(), "--quiet"]);
    assert_eq!(r.status.code(), Some(1), "a replayed counterexample fails its expectation again");
    let violated = report(&dir)["outcome"]["violated"].to_string();
    assert!(violated.contains("S4"), "{violated}");

    let bad = run(&["swarm", "--mutation", "no-such-thing"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--mutation") && stderr.contains("unknown mutation \"no-such-thing\""), "{stderr}");
}

/// `dbft-sim shrink` as a user runs it on a swarm counterexample: the shrunk file is an
/// ordinary scenario that expects the violation, so `run` replays it as expected (exit 0),
/// and it is no bigger than the original. A run without a violation has nothing to shrink.
#[test]
fn shrink_writes_a_smaller_scenario_that_still_fails() {
    let dir = tmpdir("shrink");
    let out = run(&["swarm", "--seeds", "17", "--mutation", "no-commit-lock", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "seed 17 of this variant is a counterexample");
    let original = dir.join("swarm-17.json");
    let small = dir.join("small.json");
    let out = run(&["shrink", original.to_str().unwrap(), "--out", small.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("violates S4; shrinking"), "{stdout}");
    let size = |p: &Path| {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["byzantine"].as_array().map_or(0, Vec::len) + v["faults"]["crashes"].as_array().map_or(0, Vec::len)
    };
    // Seed 17's configuration has a replaying node besides the silent one; only the
    // silent one is needed (a dead validator forces the view changes the mutation abuses).
    assert!(size(&small) < size(&original), "{stdout}");
    let replay = dir.join("replay");
    let r = run(&["run", small.to_str().unwrap(), "--out", replay.to_str().unwrap(), "--quiet"]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stdout));
    assert!(report(&replay)["outcome"]["violated"].to_string().contains("S4"));

    // Nothing to shrink: a run that reaches its heights, and one without a height target
    // whose liveness holds (its stall diagnosis is not a stall).
    for healthy in ["scenarios/happy-4.json", "scenarios/faults/minority-partition-7.json"] {
        let r = run(&["shrink", healthy, "--out", dir.join("none.json").to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(2), "{healthy}");
        assert!(String::from_utf8_lossy(&r.stderr).contains("nothing to shrink"));
        assert!(!dir.join("none.json").exists());
    }
}

/// `dbft-sim diff` on a scenario and the same scenario without its message rule: nothing
/// else differs, so the streams must agree up to the rule's first application (R2's
/// PrepareResponse held from R3) and part exactly there.
#[test]
fn diff_finds_where_a_rule_first_changes_the_run() {
    let dir = tmpdir("diff");
    let text = std::fs::read_to_string(repo().join("scenarios/attacks/crash-lock-4.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc.as_object_mut().unwrap().remove("rules");
    // …and the expectation that the rule acted, which a scenario without rules cannot ask.
    doc["expect"].as_object_mut().unwrap().remove("rules_applied");
    let variant = dir.join("no-rules.json");
    std::fs::write(&variant, doc.to_string()).unwrap();
    let out = run(&["diff", "scenarios/attacks/crash-lock-4.json", variant.to_str().unwrap(), "--context", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("first difference at event #"), "{stdout}");
    let a_first = lines.iter().position(|l| l.starts_with("  A ")).unwrap() + 1;
    assert!(lines[a_first].contains("R2 -> R3 held until R3 sends ChangeView"), "{stdout}");

    let same = run(&["diff", "scenarios/happy-4.json", "scenarios/happy-4.json"]);
    assert_eq!(same.status.code(), Some(0));
    let trace = dir.join("happy.jsonl");
    let r = run(&["run", "scenarios/happy-4.json", "--trace", trace.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0));
    let mixed = run(&["diff", "scenarios/happy-4.json", trace.to_str().unwrap()]);
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("not one of each"));
    let traces = run(&["diff", trace.to_str().unwrap(), trace.to_str().unwrap()]);
    assert_eq!(traces.status.code(), Some(0));
    // Two seeds' traces (their keys and latencies differ): the lines are shown as
    // `#step time event ...`, not as raw JSON, and the fields that differ are named.
    let other = dir.join("happy-2.jsonl");
    let out2 = dir.join("seed2");
    let r = run(&[
        "run",
        "scenarios/happy-4.json",
        "--seed",
        "2",
        "--trace",
        other.to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0));
    let d = run(&["diff", trace.to_str().unwrap(), other.to_str().unwrap(), "--context", "2"]);
    let text = String::from_utf8_lossy(&d.stdout);
    assert_eq!(d.status.code(), Some(1), "{text}");
    assert!(!text.contains("{\"step\""), "raw JSON lines:\n{text}");
    let a_first = text.lines().skip_while(|l| !l.starts_with("  A ")).nth(1).unwrap();
    assert!(a_first.trim_start().starts_with('#') && a_first.contains("s "), "{text}");
    let fields: Vec<&str> = text.lines().skip_while(|l| !l.contains("differ in:")).skip(1).collect();
    assert!(!fields.is_empty() && fields.iter().all(|l| l.contains(" → ") || l.contains("more")), "{text}");
    // Seeds choose scenario runs; with trace files they are refused, not ignored.
    let seeded = run(&["diff", trace.to_str().unwrap(), other.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(seeded.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&seeded.stderr).contains("a trace file is one run already"));
    // Two seeds of one scenario: each side says which seed it ran.
    let seeds = run(&["diff", "scenarios/happy-4.json", "scenarios/happy-4.json", "--seed", "1", "--seed-b", "2"]);
    let text = String::from_utf8_lossy(&seeds.stdout);
    assert_eq!(seeds.status.code(), Some(1), "{text}");
    assert!(
        text.contains("  A scenarios/happy-4.json (seed 1):") && text.contains("  B scenarios/happy-4.json (seed 2):"),
        "{text}"
    );
}

/// Every subcommand's output to a pipe nobody reads (`| head` after it exited) ends the
/// printing, not the command: `shrink` still writes its scenario and exits 0, `check` still
/// exits with its verdict.
#[test]
fn output_to_a_closed_pipe_is_not_a_crash() {
    let dir = tmpdir("closed-pipe");
    let out = run(&["swarm", "--seeds", "17", "--mutation", "no-commit-lock", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let closed = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        bin().args(args).current_dir(repo()).stdout(writer).stderr(std::process::Stdio::piped()).output().unwrap()
    };
    let small = dir.join("small.json");
    let r = closed(&["shrink", dir.join("swarm-17.json").to_str().unwrap(), "--out", small.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(small.exists());
    let r = closed(&["check", "scenarios/happy-4.json"]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let r = closed(&["swarm", "--seeds", "17", "--mutation", "no-commit-lock", "--out", dir.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1), "{}", String::from_utf8_lossy(&r.stderr));
    // Errors and progress lines go to stderr: with it closed as well (`2>&1 | head`), the
    // exit code is still the command's own, not a panic's 101.
    let both_closed = |args: &[&str]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let err = writer.try_clone().unwrap();
        bin().args(args).current_dir(repo()).stdout(writer).stderr(err).status().unwrap()
    };
    assert_eq!(both_closed(&["explore", "no-such-scenario.json"]).code(), Some(2));
    assert_eq!(both_closed(&["run", "scenarios/happy-4.json", "--seeds", "x"]).code(), Some(2));
    let explored = dir.join("explored");
    let search = [
        "explore",
        "scripts/explore/n4-go.json",
        "--max-view",
        "1",
        "--crashes",
        "1",
        "--dfs",
        "--max-states",
        "3000",
        "--progress-every",
        "0",
        "--out",
        explored.to_str().unwrap(),
    ];
    assert_eq!(both_closed(&search).code(), Some(0), "a search's progress into a closed pipe");
}

/// Under the deliberately unsafe `apply-on-propose` hand-off rule the swarm finds safety
/// violations among random churn configurations, and `shrink` cuts one down to a scenario
/// that still violates the same invariants and replays as expected; under the safe rules
/// the same seeds violate nothing.
#[test]
fn swarm_finds_the_naive_hand_off_rule_and_shrink_minimises_it() {
    let dir = tmpdir("swarm-handoff");
    let out = run(&["swarm", "--seeds", "1..60", "--handoff", "apply-on-propose", "--out", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "{stdout}");
    let original = &files[0];
    let small = dir.join("small.json");
    let out = run(&["shrink", original.to_str().unwrap(), "--out", small.to_str().unwrap()]);
    let shrunk = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shrunk}");
    let doc = |p: &Path| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() };
    let (before, after) = (doc(original), doc(&small));
    let weight = |v: &serde_json::Value| {
        ["byzantine", "changes"].iter().map(|k| v[k].as_array().map_or(0, Vec::len)).sum::<usize>()
            + v["faults"]["crashes"].as_array().map_or(0, Vec::len)
    };
    assert!(weight(&after) < weight(&before), "shrink removed nothing: {shrunk}");
    assert!(!after["changes"].as_array().unwrap().is_empty(), "a hand-off violation needs a change");
    let replay = dir.join("replay");
    let r = run(&["run", small.to_str().unwrap(), "--out", replay.to_str().unwrap(), "--quiet"]);
    assert_eq!(r.status.code(), Some(0), "the shrunk file expects its violation");
    assert_eq!(report(&replay)["outcome"]["kind"], "safety-violation");
    // The same seeds with the same churn under each safe rule: no violation.
    for rule in ["next-block", "delay-2", "refresh-period", "dual-quorum"] {
        let safe = run(&["swarm", "--seeds", "1..60", "--handoff", rule, "--out", dir.join(rule).to_str().unwrap()]);
        assert_eq!(safe.status.code(), Some(0), "{rule}: {}", String::from_utf8_lossy(&safe.stdout));
    }
    let bad = run(&["swarm", "--handoff", "after-lunch"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// Bad output paths and bad arguments are found before any work starts: a trace path that
/// is a directory, an output directory below a file, a seed list over the cap; `diff` of a
/// file that is not a trace is bad input, not a difference.
#[test]
fn bad_output_paths_and_arguments_exit_2_before_running() {
    let dir = tmpdir("bad-outputs");
    let out_dir = dir.join("out");
    let r =
        run(&["run", "scenarios/happy-4.json", "--out", out_dir.to_str().unwrap(), "--trace", dir.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("is a directory"), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(!out_dir.exists(), "the report was written although the trace could not be");
    let file = dir.join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let r = run(&["run", "scenarios/happy-4.json", "--out", file.join("sub").to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("is not a directory"));
    let r = run(&["check", "scenarios/happy-4.json", "--junit", dir.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "--junit to a directory is refused before the suite runs");
    assert!(r.stdout.is_empty(), "nothing ran: {}", String::from_utf8_lossy(&r.stdout));

    let ranges: Vec<String> = (0..200u64).map(|i| format!("{}..{}", i * 1_000_000, i * 1_000_000 + 999_999)).collect();
    let r = run(&["swarm", "--seeds", &ranges.join(","), "--out", dir.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("too many seeds"));

    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, "not json\n").unwrap();
    let g = garbage.to_str().unwrap();
    let r = run(&["diff", g, g]);
    assert_eq!(r.status.code(), Some(2), "{}", String::from_utf8_lossy(&r.stdout));
    assert!(String::from_utf8_lossy(&r.stderr).contains("not a trace record"));
}

/// No output may replace an input: a scenario overwritten by a records file, a trace or
/// a shrunk copy is lost. Each is refused before anything runs, and the file is intact.
#[test]
fn an_output_that_is_an_input_is_refused() {
    let dir = tmpdir("output-is-input");
    let s = dir.join("s.json");
    let original = std::fs::read(repo().join("scenarios/happy-4.json")).unwrap();
    std::fs::write(&s, &original).unwrap();
    std::os::unix::fs::symlink(&s, dir.join("link.jsonl")).unwrap();
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    for args in [
        vec!["check", "s.json", "--json", "s.json"],
        vec!["check", "s.json", "--junit", "./s.json"],
        vec!["check", "s.json", "--html", &p("s.json")],
        vec!["run", "s.json", "--trace", "s.json"],
        vec!["run", "s.json", "--trace", "link.jsonl"],
        vec!["shrink", "s.json", "--out", "s.json"],
    ] {
        let r = bin().args(&args).current_dir(&dir).output().unwrap();
        assert_eq!(r.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains("that is the input"), "{args:?}: {err}");
        assert_eq!(std::fs::read(&s).unwrap(), original, "{args:?} changed its input");
    }
    // Any of the run's files, not only its report: a scenario saved as index.html.
    std::fs::create_dir(dir.join("h")).unwrap();
    std::fs::write(dir.join("h/index.html"), &original).unwrap();
    let r = bin().args(["run", "h/index.html", "--out", "h"]).current_dir(&dir).output().unwrap();
    assert_eq!(r.status.code(), Some(2), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read(dir.join("h/index.html")).unwrap(), original);
    // A replayed report's own report.json, at its own seed, is the one output that may be
    // rewritten; at another seed it would lose the report read.
    let out = dir.join("out");
    assert_eq!(
        bin().args(["run", "s.json", "--out", out.to_str().unwrap()]).current_dir(&dir).status().unwrap().code(),
        Some(0)
    );
    let replay = bin().args(["run", "out/report.json", "--out", "out"]).current_dir(&dir).output().unwrap();
    assert_eq!(replay.status.code(), Some(0), "{}", String::from_utf8_lossy(&replay.stderr));
    let report = std::fs::read(out.join("report.json")).unwrap();
    let other =
        bin().args(["run", "out/report.json", "--seed", "7", "--out", "out"]).current_dir(&dir).output().unwrap();
    assert_eq!(other.status.code(), Some(2), "{}", String::from_utf8_lossy(&other.stderr));
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), report, "the report read is intact");
    // A report this build does not reproduce (here: its digest altered, as an older
    // build's would differ) is evidence: the replay says so and leaves it as it was.
    let mut doc: serde_json::Value = serde_json::from_slice(&report).unwrap();
    doc["digest"] = "0".repeat(64).into();
    let altered = serde_json::to_vec_pretty(&doc).unwrap();
    std::fs::write(out.join("report.json"), &altered).unwrap();
    let differs = bin().args(["run", "out/report.json", "--out", "out"]).current_dir(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&differs.stderr);
    assert_eq!(differs.status.code(), Some(1), "{err}");
    assert!(err.contains("digest differs") && err.contains("not overwriting"), "{err}");
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), altered, "the differing report is kept");
    let elsewhere = bin().args(["run", "out/report.json", "--out", "again"]).current_dir(&dir).output().unwrap();
    assert_eq!(elsewhere.status.code(), Some(0), "{}", String::from_utf8_lossy(&elsewhere.stderr));
    assert!(dir.join("again/report.json").exists());
}

/// A schedule that cannot be followed is bad input for every command that runs one:
/// exit 2 naming the step, and no output directory, trace or plot left behind.
#[test]
fn a_schedule_that_cannot_be_followed_writes_nothing_anywhere() {
    let dir = tmpdir("bad-schedule");
    let text = std::fs::read_to_string(repo().join("scenarios/explore/explore-4-restart-lost-block.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let steps = doc["schedule"].as_array_mut().unwrap();
    // The first step (the primary's timer) twice: the run leaves the one the schedule was
    // written for, and a later delivery names a message that is not in flight.
    let first = steps[0].clone();
    steps.insert(1, first);
    doc["name"] = "bad-schedule".into();
    std::fs::write(dir.join("bad.json"), doc.to_string()).unwrap();
    let happy = repo().join("scenarios/happy-4.json");
    let happy = happy.to_str().unwrap();
    for args in [
        vec!["run", "bad.json", "--out", "o/p/q", "--trace", "t/x.jsonl"],
        vec!["plot", "bad.json", "--out", "plots"],
        vec!["compare", "bad.json", happy, "--out", "cmp"],
        vec!["diff", "bad.json", happy],
    ] {
        let r = bin().args(&args).current_dir(&dir).output().unwrap();
        assert_eq!(r.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&r.stdout));
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains("bad.json: schedule[") && err.contains("is in flight"), "{args:?}: {err}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("bad.json")], "{args:?} left files behind");
    }
}

/// A records file (or a shard's) cannot hold an unreadable scenario, so a run keeping
/// records refuses the suite: otherwise `merge` would pass a suite with a broken file.
#[test]
fn records_refuse_a_suite_with_an_unreadable_scenario() {
    let dir = tmpdir("records-unreadable");
    std::fs::copy(repo().join("scenarios/happy-4.json"), dir.join("a.json")).unwrap();
    std::fs::write(dir.join("b.json"), "").unwrap();
    for args in [vec!["check", ".", "--json", "r.jsonl"], vec!["check", ".", "--shard", "1/2"]] {
        let r = bin().args(&args).current_dir(&dir).output().unwrap();
        assert_eq!(r.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&r.stderr).contains("b.json"), "{args:?}");
        assert!(r.stdout.is_empty(), "{args:?} ran: {}", String::from_utf8_lossy(&r.stdout));
    }
    assert!(!dir.join("r.jsonl").exists());
}

/// `merge` and `--resume` read their files to the end: a FIFO or a device has none, and
/// is refused at once instead of blocking for ever.
#[test]
fn merge_and_resume_refuse_what_is_not_a_regular_file() {
    let dir = tmpdir("fifo");
    std::fs::create_dir(dir.join("in")).unwrap();
    let fifo = |p: &Path| assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
    fifo(&dir.join("in/f.jsonl"));
    fifo(&dir.join("r.jsonl"));
    std::fs::copy(repo().join("scenarios/happy-4.json"), dir.join("s.json")).unwrap();
    for (args, says) in [
        (vec!["merge", "in"], "not a regular file"),
        (vec!["merge", "/dev/zero"], "not a regular file"),
        (vec!["check", "s.json", "--json", "r.jsonl", "--resume"], "not a regular file"),
    ] {
        let mut child = bin()
            .args(&args)
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Reverted, these block on the FIFO: give up after 20 s rather than hang the suite.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        assert_eq!(status.and_then(|s| s.code()), Some(2), "{args:?} did not end with exit 2");
        assert!(String::from_utf8_lossy(&out.stderr).contains(says), "{args:?}");
    }
}

/// Arguments out of range are usage errors (exit 2) before anything runs: no worker
/// count of 0, no seed left out of a list, no swarm of four billion heights, no search
/// flag that another silently overrides.
#[test]
fn arguments_out_of_range_are_refused() {
    let dir = tmpdir("out-of-range");
    let long_schedule = dir.join("long.json");
    let steps = vec![serde_json::json!({"do": "timer", "node": "R1"}); 5_001];
    std::fs::write(&long_schedule, serde_json::json!({"validators": 4, "schedule": steps}).to_string()).unwrap();
    for (args, says) in [
        (vec!["plot", "-j", "0", "scenarios/happy-4.json"], "1..=1024"),
        (vec!["compare", "-j", "2000", "scenarios/happy-4.json", "scenarios/happy-7.json"], "1..=1024"),
        (vec!["check", "--seeds", "1,,2", "scenarios/happy-4.json"], "empty seed"),
        (vec!["swarm", "--heights", "4294967295"], "1..=100000"),
        (vec!["explore", "scripts/explore/n4-csharp.json", "--dfs", "--walks", "3"], "cannot be used with"),
        (
            vec!["explore", "scripts/explore/n4-csharp.json", "--shortest-stuck", "5", "--walks", "3"],
            "cannot be used with",
        ),
        (vec!["shrink", long_schedule.to_str().unwrap()], "shrink takes at most 5000"),
        (vec!["explore", "scripts/explore/n4-csharp.json", "--no-prune", "--check-reductions"], "cannot be used with"),
        // The explorer's diagnosis has no elapsed time: a timing class could never match.
        (
            vec![
                "explore",
                "scripts/explore/n4-csharp.json",
                "--shortest-stuck",
                "3",
                "--stuck-class",
                "timer-starved",
            ],
            "cannot occur in explore",
        ),
    ] {
        let r = run(&args);
        assert_eq!(r.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&r.stderr).contains(says), "{args:?}: {}", String::from_utf8_lossy(&r.stderr));
        assert!(r.stdout.is_empty(), "{args:?} ran");
    }
}

/// A command whose output cannot be written (a full disk) does not report success.
#[test]
fn output_to_a_full_device_is_an_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // not Linux: no device that always fails
    };
    let r = bin().args(["check", "scenarios/happy-4.json"]).current_dir(repo()).stdout(full).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cannot write to stdout"));
}

/// `check` lists each scenario once however it is reached: a symbolic link back to a
/// folder already walked (a loop) adds nothing.
#[cfg(unix)]
#[test]
fn check_walks_a_symlink_loop_once() {
    let dir = tmpdir("symlink-loop");
    std::fs::copy(repo().join("scenarios/happy-4.json"), dir.join("happy-4.json")).unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("again")).unwrap();
    let r = run(&["check", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.matches("PASS").count(), 1, "{stdout}");
}

/// A search whose stderr is not a terminal (a log, CI) reports progress as plain lines
/// (the spinner draws nothing there): with `--progress-every 0`, one per progress report,
/// each naming states, rate, depth, queue and memory; none for a search too short to
/// report.
#[test]
fn explore_prints_plain_progress_lines_to_a_log() {
    let dir = tmpdir("explore-progress");
    let out_dir = dir.to_str().unwrap();
    let args = ["explore", "scripts/explore/n4-csharp.json", "--dfs", "--max-states", "12000", "--out", out_dir];
    let out = run(&[&args[..], &["--progress-every", "0"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("] states ")).collect();
    // Progress is reported every 2,048 expanded states: at least four times before 12,000 are found.
    assert!(lines.len() >= 4, "{stderr}");
    for l in &lines {
        for part in ["/s, ", "distinct), depth ", ", queue ", ", memory ", ", replica tuples "] {
            assert!(l.contains(part), "{l}");
        }
    }
    // The default interval (30 s) is longer than this search: the first report, which
    // comes at once, and no other.
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains("] states ")).count(), 1);
    // An interval that is not a number of seconds is refused before any search.
    for bad in ["-1", "nan", "inf", "1e30"] {
        let out = run(&[&args[..], &["--progress-every", bad]].concat());
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--progress-every"), "{bad}: {out:?}");
    }
}

/// `explore --restarts` needs crashes to restart from, and `--amnesia` needs `--restarts`:
/// both refused with exit 2 and a message naming the option, before any search.
#[test]
fn explore_refuses_restarts_without_crashes() {
    let dir = tmpdir("explore-restarts");
    let out_dir = dir.to_str().unwrap();
    let out = run(&["explore", "scripts/explore/n4-go.json", "--restarts", "1", "--out", out_dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--restarts 1 needs crashes"), "{out:?}");
    let out = run(&["explore", "scripts/explore/n4-go.json", "--crashes", "1", "--amnesia", "--out", out_dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--restarts"), "{out:?}");
    let out = run(&[
        "explore",
        "scripts/explore/n4-go.json",
        "--max-view",
        "0",
        "--crashes",
        "1",
        "--restarts",
        "1",
        "--walks",
        "20",
        "--out",
        out_dir,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("crashes ≤ 1, restarts ≤ 1"), "{out:?}");
}

/// Fields the search replaces by its own choices are named on stderr (a lossy scenario
/// must not quietly become a loss-free search), and a search whose starting state is
/// already stuck (three silent validators of four) finishes with its own result, writing
/// no empty schedule (it used to end in "schedule: must list at least one step", exit 2).
#[test]
fn explore_names_ignored_fields_and_a_stuck_start() {
    let dir = tmpdir("explore-notes");
    let file = dir.join("s.json");
    std::fs::write(
        &file,
        r#"{"name": "s", "validators": 4, "network": {"loss": 0.2, "latency": {"dist": "constant", "ms": 5}},
            "workload": {"tx_rate_per_s": 5},
            "byzantine": [{"node": "R1", "behaviours": [{"kind": "silent"}]},
                          {"node": "R2", "behaviours": [{"kind": "silent"}]},
                          {"node": "R3", "behaviours": [{"kind": "silent"}]}]}"#,
    )
    .unwrap();
    let out = run(&["explore", file.to_str().unwrap(), "--out", dir.join("out").to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    for field in ["network.loss: not used", "network.latency: not used", "workload.tx_rate_per_s: not used"] {
        assert!(stderr.contains(field), "{stderr}");
    }
    assert!(stdout.contains("shortest: 0 steps") && stdout.contains("nothing written"), "{stdout}");
    assert!(!dir.join("out").exists() || std::fs::read_dir(dir.join("out")).unwrap().next().is_none());
    // A preset's loss is loss too.
    let lossy = dir.join("lossy.json");
    std::fs::write(&lossy, r#"{"name": "lossy", "validators": 4, "network": {"preset": "lossy"}}"#).unwrap();
    let out = run(&["explore", lossy.to_str().unwrap(), "--walks", "2", "--out", dir.join("out2").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("network.loss: not used"), "{out:?}");
}

/// `explore --after-schedule` searches on from where a scenario's schedule ends: from the
/// end of the bundled four-node lock found with recovery delivered, the complete search
/// with recovery on says no continuation finishes, and the stuck schedule it writes
/// replays with `run` from the start (it begins with the scenario's steps). A scenario
/// without a schedule, or a step the bounds cannot take, is refused with exit 2 and
/// nothing written.
#[test]
fn explore_after_schedule_decides_a_stuck_state_under_other_bounds() {
    let dir = tmpdir("explore-after");
    let out_dir = dir.to_str().unwrap();
    let lock = "scenarios/explore/explore-4-recovery-stuck-commit-lock.json";
    let out = run(&["explore", lock, "--after-schedule", "--recovery", "--crashes", "1", "--dfs", "--out", out_dir]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("starting where the scenario's schedule ends: 38 steps"), "{stdout}");
    assert!(stdout.contains("its end is stuck under these bounds too, whatever the max view"), "{stdout}");
    assert!(stdout.contains("-> run: stall (as expected)"), "{stdout}");
    // Without the option the schedule is not followed, and the output says so.
    let out = run(&["explore", lock, "--max-view", "0", "--max-states", "200", "--out", out_dir]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("schedule (38 steps) is not followed"), "{out:?}");
    let empty = tmpdir("explore-after-refused");
    let refused = empty.to_str().unwrap();
    let out = run(&["explore", "scripts/explore/n4-go.json", "--after-schedule", "--out", refused]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a scenario with a schedule"), "{out:?}");
    // The schedule crashes R0 at step 7; with no crash allowed it cannot be followed.
    let out = run(&["explore", lock, "--after-schedule", "--recovery", "--out", refused]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("schedule[7]: a crash of a node that may not crash here (--crashes 0)"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_dir(&empty).map(|d| d.count()).unwrap_or(0), 0, "nothing written");
}

/// `--sequence-heights` beyond what the run reached charts the default heights with a
/// warning, not the whole run under the asked height's title; a range that runs past the
/// end is cut there.
#[test]
fn sequence_heights_beyond_the_run_are_said_and_not_drawn() {
    let dir = tmpdir("seq-heights");
    let out =
        run(&["run", "scenarios/happy-4.json", "--sequence-heights", "50", "--out", dir.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // happy-4 stops at 10 heights: 10 is the last finalised, 11 the one open at the end.
    assert!(
        stderr.contains("warning: --sequence-heights: the run finalised up to height 10 (height 11 was still open)"),
        "{stderr}"
    );
    let svg = std::fs::read_to_string(dir.join("sequence.svg")).unwrap();
    assert!(svg.contains("messages of height 1<") && !svg.contains("height 50"), "the default window (height 1)");
    let out = run(&[
        "run",
        "scenarios/happy-4.json",
        "--sequence-heights",
        "9..50",
        "--out",
        dir.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("the chart ends at height 11, the one still open"));
    let svg = std::fs::read_to_string(dir.join("sequence.svg")).unwrap();
    assert!(svg.contains("messages of heights 9–11"), "cut at the last height worked on");
    // A reversed range is refused as reversed, not as a malformed height.
    let out = run(&["run", "scenarios/happy-4.json", "--sequence-heights", "6..3", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the range is reversed"), "{:?}", out);
}

/// Inputs that are not files and flag values out of range are refused at once with exit
/// 2: a device is not read until memory runs out, a FIFO named like a scenario does not
/// block `check`, and `--jobs` or `--max-seconds` cannot ask for a million threads or a
/// NaN time limit (which panicked).
#[test]
fn hostile_paths_and_flags_are_refused_at_once() {
    let started = std::time::Instant::now();
    for args in [
        vec!["run", "/dev/zero"],
        vec!["explore", "/dev/urandom"],
        vec!["shrink", "/dev/zero"],
        vec!["check", "scenarios/happy-4.json", "--jobs", "1000000"],
        vec!["explore", "scripts/explore/quorum-off-by-one-4.json", "--max-seconds", "NaN"],
        vec!["explore", "scripts/explore/quorum-off-by-one-4.json", "--max-seconds=-1"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{args:?}");
    }
    // Output places that cannot work are refused before the run: `--out` naming a file
    // for swarm's counterexamples, a trace that would overwrite the run's own report,
    // an output directory that cannot be made.
    let dir = tmpdir("fifo-check");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out_dir = dir.join("o");
    let report = out_dir.join("report.json");
    let report_spelled_otherwise = dir.join("o/../o/report.json");
    for args in [
        vec!["swarm", "--seeds", "1..3", "--out", file.to_str().unwrap()],
        vec!["run", "scenarios/happy-4.json", "--out", out_dir.to_str().unwrap(), "--trace", report.to_str().unwrap()],
        vec![
            "run",
            "scenarios/happy-4.json",
            "--out",
            out_dir.to_str().unwrap(),
            "--trace",
            report_spelled_otherwise.to_str().unwrap(),
        ],
        vec!["run", "scenarios/happy-4.json", "--out", "/proc/dbft-sim-cannot-be-here"],
        vec!["plot", "--out", file.to_str().unwrap()],
        vec!["compare", "scenarios/happy-4.json", "scenarios/happy-7.json", "--out", file.to_str().unwrap()],
        vec!["handoff-table", "--seeds", "1", "--out", file.to_str().unwrap()],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(!out_dir.exists(), "nothing written");
    let fifo = dir.join("x.json");
    if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        std::fs::copy(repo().join("scenarios/happy-4.json"), dir.join("happy-4.json")).unwrap();
        let out = run(&["check", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stdout).contains("not a regular file"));
    }
    assert!(started.elapsed().as_secs() < 60, "refusals are immediate");
}

/// `merge` reads a records file's header as data: a shard count the file's own item
/// counts contradict (here 2^64 − 1 shards of a one-seed run) is refused at once, not
/// taken as 2^64 shards to look for.
#[test]
fn merge_refuses_a_header_that_contradicts_itself() {
    let dir = tmpdir("merge-header");
    let records = dir.join("a.jsonl");
    let out = run(&["swarm", "--seeds", "1..2", "--json", records.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&records).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(header["header"]["shard"]["count"], 1);
    header["header"]["shard"]["count"] = serde_json::json!(u64::MAX);
    lines[0] = header.to_string();
    std::fs::write(&records, lines.join("\n") + "\n").unwrap();
    let started = std::time::Instant::now();
    let out = run(&["merge", records.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("its header is not one dbft-sim writes"));
    assert!(started.elapsed().as_secs() < 10);
}

/// `--trace /dev/stdout` writes the trace to the process's own standard output, whatever
/// it is: into a pipe every line arrives (it was refused: the name resolved to a pipe
/// that is no path), and the run's own summary still follows it.
#[cfg(unix)]
#[test]
fn a_trace_to_standard_output_arrives_whole() {
    let dir = tmpdir("trace-stdout");
    let out = run(&["run", "scenarios/happy-4.json", "-q", "--out", dir.to_str().unwrap(), "--trace", "/dev/stdout"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let (summary, trace) = lines.split_last().unwrap();
    assert!(summary.contains("happy-4 seed 1: ok"), "{summary}");
    assert!(trace.len() > 100 && trace.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert_eq!(report(&dir)["events"].as_u64(), Some(trace.len() as u64), "one line per event");
}

/// A run L2 halts at a late hand-off (swarm seed 4: the new set finalised its first height
/// 40275 ms after the previous one, against a 32000 ms bound) did not stall — nothing was
/// diagnosed — it violated hand-off liveness: the report says `liveness-violation`, the
/// console and the run page say L2 was violated and by how much (40275 − 32000 = 8275 ms),
/// in red. The swarm still counts it as "L2 halted", and its batch page says so.
#[test]
fn a_run_l2_halted_is_a_liveness_violation_not_a_bare_stall() {
    let dir = tmpdir("l2-halted");
    let html = dir.join("swarm.html");
    let out = run(&[
        "swarm",
        "--seeds",
        "1..4",
        "--keep-stalls",
        "--out",
        dir.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("STALL seed 4: L2 halted after 3 heights"), "{stdout}");
    assert!(stdout.contains("1 L2 halted"), "{stdout}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<td>L2 halted after 3 heights</td>"), "the batch page's detail column: {page}");
    // The page's totals say what the console says: not only "4 of 4 as expected", but the
    // outcomes, with the halted run's in amber and listed before the ok runs.
    assert!(
        page.contains("outcomes: <span class=\"warn\">liveness-violation</span> 1, <span class=\"ok\">ok</span> 3"),
        "{page}"
    );
    let (halted, ok) = (
        page.find("<td class=\"warn\">liveness-violation</td>").unwrap(),
        page.find("<td class=\"ok\">ok</td>").unwrap(),
    );
    assert!(halted < ok, "the halted run is listed first");
    let replay = dir.join("replay");
    let out = run(&["run", dir.join("swarm-4.json").to_str().unwrap(), "--out", replay.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rep = report(&replay);
    assert_eq!(rep["outcome"]["kind"], "liveness-violation");
    assert_eq!(rep["liveness"]["status"], "stalls", "the height target was not reached");
    assert!(stdout.contains("liveness: VIOLATED — L2 violated: the run was halted"), "{stdout}");
    // report.json says what the console says, not only "stalls" with no stall.
    let said = rep["liveness"]["violation"].as_str().unwrap();
    assert!(said.starts_with("L2 violated: the run was halted") && stdout.contains(said), "{rep}");
    assert!(stdout.contains("(8275 ms late against the 32000 ms bound)"), "{stdout}");
    let page = std::fs::read_to_string(replay.join("index.html")).unwrap();
    assert!(page.contains("<p id=\"liveness-violation\" class=\"bad\">L2 violated"), "{page}");
    assert!(!page.contains("<p class=\"ok\">stalls</p>"));
}

/// A run that finalised nothing has no latency to report: null in report.json, "none" on
/// the console and the run page — not percentiles of 0 ms. Its stall note counts one
/// honest validator in the singular. The page lists the scenario's expectations (a
/// commit-lock stall at height 1, view 0) as met.
#[test]
fn no_finalised_height_means_no_latency_and_the_page_lists_expectations() {
    let dir = tmpdir("crash-lock-latency");
    let out = run(&["run", "scenarios/attacks/crash-lock-4.json", "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("block interval ms none; consensus ms none"), "{stdout}");
    assert!(stdout.contains("1 honest validator committed (1 in view 0)"), "{stdout}");
    let rep = report(&dir);
    for k in ["block_interval_ms", "consensus_ms", "handoff_ms", "tx_confirm_ms"] {
        assert!(rep["latency"][k].is_null(), "{k}: {}", rep["latency"][k]);
    }
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(page.contains("<tr><th>block interval (ms)</th><td>none</td></tr>"), "{page}");
    assert!(page.contains("<table id=\"expectations\">"), "{page}");
    assert!(page.contains("<tr><td>a stall of class commit-lock at height 1 in view 0</td><td class=\"ok\">yes</td>"));
    assert!(page.contains("<td>R1</td><td>no</td><td>yes</td>"), "R1 is down and honest, as yes/no: {page}");
}

/// The first height's time counts from the run's start, not from a block: it stays in
/// per_height (its interval is its time) but not among the block intervals. An
/// expectation the run misses is listed as not met, with what happened instead.
#[test]
fn the_first_height_is_no_block_interval_and_missed_expectations_are_listed() {
    let dir = tmpdir("first-interval");
    let text = std::fs::read_to_string(repo().join("scenarios/happy-4.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["expect"] = serde_json::json!({"min_heights": 12});
    let scenario = dir.join("happy-4-wants-12.json");
    std::fs::write(&scenario, doc.to_string()).unwrap();
    let out = run(&["run", scenario.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "10 heights, 12 expected");
    let rep = report(&dir);
    let per = rep["per_height"].as_array().unwrap();
    assert_eq!(per.len(), 10);
    assert_eq!(per[0]["interval_ms"], per[0]["time_ms"], "time to the first block");
    assert_eq!(rep["latency"]["block_interval_ms"]["count"], 9, "heights 2..10");
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        page.contains("<tr><td>at least 12 heights finalised</td><td class=\"bad\">no</td><td>expected at least 12 heights, got 10</td></tr>"),
        "{page}"
    );
    assert!(page.contains("<tr><td>safety holds (by default)</td><td class=\"ok\">yes</td>"), "{page}");
}

/// `check --html` says what an expected safety violation was in its detail column, as
/// the console's outcome does (F+1 colluders fork: S1).
#[test]
fn check_html_names_the_violated_invariants() {
    let dir = tmpdir("check-html-detail");
    let html = dir.join("check.html");
    let out = run(&["check", "scenarios/attacks/collusion-f-plus-1-4.json", "--html", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<td>safety violated: S1"), "{page}");
}

/// `diff`'s window narrates a block as a hand-off only if it is one: blocks persisted
/// before the window still tell the narrator which set each chain names. The same
/// scenario with another height target parts late, after its one hand-off (at height 7).
#[test]
fn a_diff_window_after_a_hand_off_names_no_false_hand_offs() {
    let dir = tmpdir("diff-handoff");
    let text = std::fs::read_to_string(repo().join("scenarios/validators/disjoint-handoff-7-delay-2.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc.as_object_mut().unwrap().remove("expect");
    let a = dir.join("a.json");
    std::fs::write(&a, doc.to_string()).unwrap();
    doc["stop"]["heights"] = serde_json::json!(10);
    let b = dir.join("b.json");
    std::fs::write(&b, doc.to_string()).unwrap();
    let out = run(&["diff", a.to_str().unwrap(), b.to_str().unwrap(), "--context", "40"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("persists h10"), "the window holds blocks after the hand-off: {stdout}");
    assert!(!stdout.contains("names a new set"), "{stdout}");
}

/// Explore says when a flag has nothing to act on or why a reduction asked for is off:
/// `--withhold` without a Byzantine process, `--por` where dead state is forgotten (the
/// default with recovery off and honest processes) and where it is not (recovery on).
#[test]
fn explore_notes_flags_that_change_nothing() {
    let base = ["explore", "scripts/explore/n3-csharp.json", "--max-view", "0", "--max-states", "2000"];
    let out = run(&[&base[..], &["--withhold"]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("note: --withhold has no Byzantine node to act on"), "{text}");
    assert!(!text.contains("partial-order reduction"), "off by default, said only when asked for: {text}");
    let out = run(&[&base[..], &["--por"]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("partial-order reduction off (merges kept; with dead state forgotten"), "{text}");
    let out = run(&[&base[..], &["--por", "--recovery"]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("partial-order reduction on (--por)"), "{text}");
}

/// A schedule that stops at a bad step still narrates everything up to it, the last mark
/// line included (mark lines are held back to count repeats), and exits 2.
#[test]
fn narration_before_a_bad_schedule_step_is_told_whole() {
    let dir = tmpdir("narrate-bad-step");
    let file = dir.join("bad-step.json");
    let scenario = serde_json::json!({
        "name": "bad-step", "validators": 4,
        "byzantine": [{"node": "R1", "behaviours": [{"kind": "double-sign"}]}],
        "schedule": [
            {"do": "timer", "node": "R1"},
            {"do": "deliver", "from": "R1", "to": "R2", "kind": "Commit", "msg": "4ffc57e0"},
            {"do": "deliver", "from": "R0", "to": "R2", "kind": "RecoveryRequest", "msg": "2981be90"},
            {"do": "timer", "node": "R2"},
            {"do": "deliver", "from": "R1", "to": "R2", "kind": "PrepareRequest", "msg": "0327c60a"},
            {"do": "deliver", "from": "R1", "to": "R3", "kind": "Commit", "msg": "deadbeef"}
        ]
    });
    std::fs::write(&file, scenario.to_string()).unwrap();
    let out = narrated(file.to_str().unwrap(), &dir.join("out"));
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    // R2 asked to change view at its timer, so the request that then arrives is ignored.
    assert!(text.trim_end().ends_with("R2 · PrepareRequest ignored while view changing"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("schedule[5]"));
}

/// `--stuck-class view-exhausted` is a class the explorer can report (every node in view
/// 255 needs no elapsed time), so it is accepted; a timing class is not (above).
#[test]
fn explore_accepts_every_class_its_diagnosis_gives() {
    let args = ["explore", "scripts/explore/n3-csharp.json", "--max-view", "0", "--max-states", "2000"];
    let out = run(&[&args[..], &["--shortest-stuck", "2", "--stuck-class", "view-exhausted"]].concat());
    assert_ne!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
