//! Sweeps split and interrupted as a cluster splits and interrupts them: `--json` records,
//! `--shard i/n`, `--resume` after SIGKILL, and `merge` of the pieces.

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

fn ok(out: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(code), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The record lines of a records file, parsed.
fn records(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("header").is_none() && v.get("end").is_none())
        .collect()
}

const SWARM: [&str; 5] = ["swarm", "--seeds", "1..40", "--heights", "3"];

/// A swarm sweep with 1 worker, with 2, and as 4 shards merges to the same records, in
/// seed order, one per seed, and to the same summary; the output printed without a
/// terminal (one line per seed) does not depend on the number of workers either.
#[test]
fn jobs_and_shards_give_the_same_merged_records() {
    let dir = tmpdir("shards-same");
    let (j1, j2) = (dir.join("j1.jsonl"), dir.join("j2.jsonl"));
    let out1 = ok(&run(&[&SWARM[..], &["--jobs", "1", "--json", p(&j1), "--out", p(&dir)]].concat()), 0);
    let out2 = ok(&run(&[&SWARM[..], &["--jobs", "2", "--json", p(&j2), "--out", p(&dir)]].concat()), 0);
    assert_eq!(out1, out2);
    assert_eq!(out1.lines().filter(|l| l.contains(" seed ")).count(), 40, "a line per seed: {out1}");
    for i in 0..4 {
        let f = dir.join(format!("shards/s{i}.jsonl"));
        let shard = format!("{i}/4");
        ok(&run(&[&SWARM[..], &["--jobs", "1", "--shard", &shard, "--json", p(&f), "--out", p(&dir)]].concat()), 0);
        let seeds: Vec<u64> = records(&f).iter().map(|r| r["seed"].as_u64().unwrap()).collect();
        assert_eq!(seeds, (1..=40).skip(i).step_by(4).collect::<Vec<u64>>(), "shard {i}: every 4th seed");
    }
    let merged = |name: &str, input: &Path| {
        let (json, recs) = (dir.join(format!("{name}.json")), dir.join(format!("{name}-records.jsonl")));
        let out = ok(&run(&["merge", p(input), "--json", p(&json), "--records", p(&recs)]), 0);
        (out, std::fs::read_to_string(json).unwrap(), std::fs::read_to_string(recs).unwrap())
    };
    let (a, b, c) = (merged("a", &j1), merged("b", &j2), merged("c", &dir.join("shards")));
    assert_eq!((&a.1, &a.2), (&b.1, &b.2), "jobs 1 vs 2");
    assert_eq!((&a.1, &a.2), (&c.1, &c.2), "1 shard vs 4");
    assert!(c.0.contains("merged 4 shard(s)") && c.0.contains("40 records"), "{}", c.0);
    let seeds: Vec<u64> = records(&dir.join("c-records.jsonl")).iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, (1..=40).collect::<Vec<u64>>());
    // The merged summary counts what the records say.
    let summary: serde_json::Value = serde_json::from_str(&c.1).unwrap();
    let stalls = records(&j1).iter().filter(|r| !r["stall"].is_null()).count() as u64;
    let counted: u64 = summary["stall_classes"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!((summary["records"].as_u64(), counted), (Some(40), stalls));
}

/// `check` shards the scenario × seed items the same way: the shards' records, merged,
/// are the unsharded run's.
#[test]
fn check_shards_merge_to_the_unsharded_run() {
    let dir = tmpdir("check-shards");
    let whole = dir.join("whole.jsonl");
    ok(&run(&["check", "scenarios/faults", "--json", p(&whole), "--jobs", "2"]), 0);
    for i in 0..3 {
        let f = dir.join(format!("shards/{i}.jsonl"));
        let out = ok(&run(&["check", "scenarios/faults", "--shard", &format!("{i}/3"), "--json", p(&f)]), 0);
        assert!(out.contains(&format!("(shard {i}/3 of")), "{out}");
    }
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let json = dir.join("summary.json");
    let summary = ok(&run(&["merge", p(&whole), "--records", p(&a), "--json", p(&json)]), 0);
    // The stalls of a suite are named by scenario (many scenarios share seed 1), in the
    // console and in the JSON summary, and the latency spreads count runs.
    assert!(summary.contains("partition-2-2-4.json seed 1"), "{summary}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let stalled: Vec<&serde_json::Value> =
        doc["stalled_runs"].as_object().unwrap().values().flat_map(|v| v.as_array().unwrap()).collect();
    assert!(
        stalled.iter().any(|r| r["scenario"].as_str().unwrap().ends_with("partition-2-2-4.json") && r["seed"] == 1),
        "{doc}"
    );
    assert!(summary.contains(" runs") && !summary.contains("over 1 seeds"), "{summary}");
    ok(&run(&["merge", p(&dir.join("shards")), "--records", p(&b)]), 0);
    assert_eq!(std::fs::read_to_string(a).unwrap(), std::fs::read_to_string(b).unwrap());
}

/// A sweep killed with SIGKILL in the middle keeps what it finished; `merge` calls it
/// incomplete; `--resume` runs only the rest — also after a torn last line, which a kill
/// during a write leaves — and the finished file has exactly one record per seed, the
/// same records as a run never interrupted.
#[cfg(unix)]
#[test]
fn a_killed_run_resumes_to_one_record_per_seed() {
    let dir = tmpdir("resume");
    let f = dir.join("r.jsonl");
    let args = ["swarm", "--seeds", "1..200", "--heights", "3", "--jobs", "2", "--json", p(&f), "--out", p(&dir)];
    let mut child = bin().args(args).current_dir(repo()).stdout(std::process::Stdio::null()).spawn().unwrap();
    let lines = || std::fs::read_to_string(&f).map_or(0, |t| t.lines().count());
    let start = std::time::Instant::now();
    while lines() < 30 && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(!text.contains(r#"{"end":"#), "the run was killed before it finished");
    let before = records(&f).len();
    assert!((29..200).contains(&before), "{before}");
    // What a kill in the middle of a write leaves: half a record, no newline.
    if text.ends_with('\n') {
        std::fs::write(&f, format!("{text}{{\"index\":{before},\"scenario\":\"swa")).unwrap();
    }
    let m = run(&["merge", p(&f)]);
    assert_eq!(m.status.code(), Some(1));
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(err.contains("shard 0/1") && err.contains("incomplete") && err.contains("no end line"), "{err}");

    let out = ok(&run(&[&args[..], &["--resume"]].concat()), 0);
    assert!(out.contains(&format!("{before} of 200 records already there")), "{out}");
    assert!(out.contains("200 runs:"), "the summary counts resumed records too: {out}");
    let seeds: Vec<u64> = records(&f).iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, (1..=200).collect::<Vec<u64>>(), "one record per seed, in order");
    let again = ok(&run(&[&args[..], &["--resume"]].concat()), 0);
    assert!(again.contains("nothing left to run"), "{again}");

    let straight = dir.join("straight.jsonl");
    let s_args = ["swarm", "--seeds", "1..200", "--heights", "3", "--json", p(&straight), "--out", p(&dir)];
    ok(&run(&s_args), 0);
    assert_eq!(records(&f), records(&straight), "resumed = never interrupted");
    // Resuming with other arguments is refused, the file untouched.
    let other = run(&["swarm", "--seeds", "1..201", "--heights", "3", "--json", p(&f), "--resume"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("another run"));
    assert_eq!(records(&f).len(), 200);
}

/// `merge` refuses a run with a shard missing or unfinished, naming it, with exit 1 and
/// nothing written; files of two different runs are bad input (exit 2).
#[test]
fn merge_refuses_missing_and_incomplete_shards() {
    let dir = tmpdir("merge-missing");
    for i in [0, 1, 3] {
        let f = dir.join(format!("s/{i}.jsonl"));
        ok(&run(&["swarm", "--seeds", "1..12", "--heights", "2", "--shard", &format!("{i}/4"), "--json", p(&f)]), 0);
    }
    let out = dir.join("merged.json");
    let m = run(&["merge", p(&dir.join("s")), "--json", p(&out)]);
    assert_eq!(m.status.code(), Some(1));
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(err.contains("shard 2/4: missing"), "{err}");
    assert!(!out.exists(), "nothing written");

    ok(
        &run(&["swarm", "--seeds", "1..12", "--heights", "2", "--shard", "2/4", "--json", p(&dir.join("s/2.jsonl"))]),
        0,
    );
    let s1 = dir.join("s/1.jsonl");
    let text = std::fs::read_to_string(&s1).unwrap();
    let cut: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&s1, cut.join("\n") + "\n").unwrap();
    let m = run(&["merge", p(&dir.join("s"))]);
    assert_eq!(m.status.code(), Some(1));
    let err = String::from_utf8_lossy(&m.stderr);
    assert!(err.contains("shard 1/4") && err.contains("incomplete, 1 of 3 records"), "{err}");
    assert!(!err.contains("shard 2/4"), "{err}");

    let other = dir.join("other.jsonl");
    ok(&run(&["swarm", "--seeds", "1..3", "--heights", "2", "--json", p(&other)]), 0);
    let m = run(&["merge", p(&dir.join("s/0.jsonl")), p(&other)]);
    assert_eq!(m.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&m.stderr).contains("not shards of one run"));
}

/// `--fail-fast` stops at the first failing seed (in seed order, whatever the number of
/// workers), `--failures-only` prints only failures; the records file of a stopped run
/// has no end line, so `merge` will not take it for a whole run.
#[test]
fn fail_fast_and_failures_only() {
    let dir = tmpdir("fail-fast");
    let base = ["swarm", "--seeds", "1..60", "--mutation", "no-commit-lock", "--out", p(&dir)];
    let html = dir.join("batch.html");
    let full = ok(&run(&[&base[..], &["--failures-only", "--jobs", "2", "--html", p(&html)]].concat()), 1);
    assert!(full.lines().all(|l| !l.starts_with("ok seed") && !l.starts_with("STALL")), "{full}");
    let violations: Vec<&str> = full.lines().filter(|l| l.starts_with("VIOLATION seed")).collect();
    assert!(violations.len() > 1, "{full}");
    // The batch page speaks for all 60 seeds, lists every one, failures first.
    let page = std::fs::read_to_string(&html).unwrap();
    let passed = 60 - violations.len();
    assert!(page.contains(&format!("{passed} of 60 runs as expected")), "{page}");
    assert_eq!(page.matches("<tr><td>").count(), 60);
    let first_ok = page.find("as expected</td>").unwrap();
    assert!(page.rfind("NOT AS EXPECTED").unwrap() < first_ok, "failures come first");
    let f = dir.join("ff.jsonl");
    let mut outs = vec![];
    for jobs in ["1", "2"] {
        let out = ok(&run(&[&base[..], &["--fail-fast", "--jobs", jobs, "--json", p(&f)]].concat()), 1);
        assert_eq!(out.lines().filter(|l| l.starts_with("VIOLATION")).collect::<Vec<_>>(), violations[..1], "{out}");
        assert!(out.contains("stopped at the first failure"), "{out}");
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1]);
    let recs = records(&f);
    assert!(!recs.last().unwrap()["pass"].as_bool().unwrap(), "the last record is the failure");
    assert_eq!(run(&["merge", p(&f)]).status.code(), Some(1));
}

/// JUnit test cases carry the wall-clock time, the seed and the digest of their run (the
/// same digest as the records file), and a failure's text.
#[test]
fn junit_has_time_seed_digest_and_failure_text() {
    let dir = tmpdir("junit");
    let (xml, json) = (dir.join("j.xml"), dir.join("r.jsonl"));
    ok(&run(&["check", "scenarios/happy-4.json", "--junit", p(&xml), "--json", p(&json)]), 0);
    let text = std::fs::read_to_string(&xml).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let case = doc.descendants().find(|n| n.has_tag_name("testcase")).unwrap();
    assert!(case.attribute("time").unwrap().parse::<f64>().unwrap() > 0.0);
    let prop = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("property") && n.attribute("name") == Some(name))
            .and_then(|n| n.attribute("value"))
            .unwrap()
            .to_string()
    };
    let rec = &records(&json)[0];
    assert_eq!(prop("seed"), rec["seed"].to_string());
    assert_eq!(prop("digest"), rec["digest"].as_str().unwrap());
    assert_eq!(rec["digest"].as_str().unwrap().len(), 64);
}

/// Without a terminal, each result is printed as soon as it is done: the first seed's
/// line arrives while a sweep far too long to finish is still running (so a CI job killed
/// on a timeout still has its log up to there).
#[test]
fn results_are_printed_while_the_sweep_runs() {
    use std::io::BufRead;
    let dir = tmpdir("streaming");
    let mut child = bin()
        .args(["swarm", "--seeds", "1..1000000", "--heights", "2", "--jobs", "2", "--out", p(&dir)])
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(still_running);
    assert!(first.starts_with("ok seed 1: 2 heights, digest "), "{first}");
}

/// Shards of `check` run from different directories, or with the suite spelled another
/// way, are one run: records name scenarios within the suite, not by the path typed.
#[test]
fn check_shards_merge_whatever_the_suite_is_called() {
    let dir = tmpdir("check-spelling");
    let suite = repo().join("scenarios/faults");
    let (a, b) = (dir.join("s/0.jsonl"), dir.join("s/1.jsonl"));
    ok(&run(&["check", "scenarios/faults", "--shard", "0/2", "--json", p(&a)]), 0);
    let from_inside =
        bin().args(["check", ".", "--shard", "1/2", "--json", p(&b)]).current_dir(&suite).output().unwrap();
    ok(&from_inside, 0);
    let merged = dir.join("merged.jsonl");
    ok(&run(&["merge", p(&dir.join("s")), "--records", p(&merged)]), 0);
    let whole = dir.join("whole.jsonl");
    ok(&run(&["check", p(&suite), "--json", p(&whole)]), 0);
    let names: Vec<String> = records(&whole).iter().map(|r| r["scenario"].as_str().unwrap().to_string()).collect();
    assert!(names.iter().all(|n| !n.starts_with('/') && !n.starts_with("scenarios")), "{names:?}");
    assert_eq!(records(&merged), records(&whole));
}

/// `merge` takes a shard file whole or not at all: a line after its end line is damage
/// (exit 2, the file and line named), and an output that is one of its inputs is refused
/// before anything is written.
#[test]
fn merge_refuses_lines_after_the_end_and_outputs_over_inputs() {
    let dir = tmpdir("merge-damage");
    let f = dir.join("s/0.jsonl");
    ok(&run(&["swarm", "--seeds", "1..6", "--heights", "2", "--json", p(&f)]), 0);
    let good = std::fs::read_to_string(&f).unwrap();
    for (what, text) in [("appended garbage", format!("{good}garbage\n")), ("the file twice", format!("{good}{good}"))]
    {
        std::fs::write(&f, &text).unwrap();
        let m = run(&["merge", p(&f)]);
        assert_eq!(m.status.code(), Some(2), "{what}");
        let err = String::from_utf8_lossy(&m.stderr);
        assert!(err.contains("0.jsonl:9: a line after the end line"), "{what}: {err}");
    }
    std::fs::write(&f, &good).unwrap();
    for flag in ["--json", "--records"] {
        let m = run(&["merge", p(&dir.join("s")), flag, p(&f)]);
        assert_eq!(m.status.code(), Some(2), "{flag}");
        assert!(String::from_utf8_lossy(&m.stderr).contains("is one of the files being merged"), "{flag}");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), good, "{flag}: the shard is untouched");
    }
}

/// `--resume` continues only its own run's file: a one-line file that is not the start
/// of this run's header is refused, not overwritten, and a run of the same command line
/// whose inputs changed says so.
#[test]
fn resume_refuses_files_that_are_not_its_own() {
    let dir = tmpdir("resume-foreign");
    let f = dir.join("notes.txt");
    std::fs::write(&f, "hello").unwrap();
    let out = run(&["swarm", "--seeds", "1..3", "--heights", "2", "--json", p(&f), "--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a records file of this run"));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello");
    std::fs::write(&f, "{\"foo\":1}\n").unwrap();
    let out = run(&["swarm", "--seeds", "1..3", "--heights", "2", "--json", p(&f), "--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the first line is not a records header"));

    let scen = dir.join("s.json");
    std::fs::write(&scen, r#"{"name": "s", "validators": 4, "stop": {"heights": 2}, "expect": {"safety": "holds"}}"#)
        .unwrap();
    let rec = dir.join("c.jsonl");
    let check = |extra: &[&str]| {
        let mut args = vec!["check", p(&scen), "--json", p(&rec)];
        args.extend_from_slice(extra);
        run(&args)
    };
    ok(&check(&[]), 0);
    std::fs::write(&scen, r#"{"name": "s", "validators": 4, "stop": {"heights": 3}, "expect": {"safety": "holds"}}"#)
        .unwrap();
    let out = check(&["--resume"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the same command line") && err.contains("contents"), "{err}");
}

/// Outputs that would overwrite each other, or that the next merge would read as a shard,
/// are refused before anything runs (exit 2).
#[test]
fn outputs_that_collide_are_refused() {
    let dir = tmpdir("collide");
    let f = dir.join("s/0.jsonl");
    ok(&run(&["swarm", "--seeds", "1..4", "--heights", "2", "--json", p(&f)]), 0);
    let x = dir.join("x.json");
    let m = run(&["merge", p(&dir.join("s")), "--json", p(&x), "--records", p(&x)]);
    assert_eq!(m.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&m.stderr).contains("are the same file"));
    assert!(!x.exists());
    let inside = dir.join("s/merged.jsonl");
    let m = run(&["merge", p(&dir.join("s")), "--records", p(&inside)]);
    assert_eq!(m.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&m.stderr).contains("which is being merged"));
    assert!(!inside.exists());
    let same = dir.join("c.out");
    let c = run(&["check", "scenarios/happy-7.json", "--json", p(&same), "--junit", p(&same)]);
    assert_eq!(c.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&c.stderr).contains("--json") && !same.exists());
}

/// Two files with one name within their arguments keep apart in the records (each named
/// by its path), and a resumed `check --junit` names its cases as a fresh run does.
#[test]
fn check_names_stay_distinct_and_resume_names_cases_alike() {
    let dir = tmpdir("names");
    let body =
        r#"{"name": "x", "seeds": [1, 2, 3], "validators": 4, "stop": {"heights": 2}, "expect": {"safety": "holds"}}"#;
    for d in ["a", "b"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
        std::fs::write(dir.join(d).join("x.json"), body).unwrap();
    }
    let check = |args: &[&str]| bin().arg("check").args(args).current_dir(&dir).output().unwrap();
    ok(&check(&["a", "b", "--json", "r.jsonl"]), 0);
    let names: Vec<String> =
        records(&dir.join("r.jsonl")).iter().map(|r| r["scenario"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["a/x.json", "a/x.json", "a/x.json", "b/x.json", "b/x.json", "b/x.json"]);

    ok(&check(&["a", "--json", "one.jsonl", "--junit", "fresh.xml"]), 0);
    let text = std::fs::read_to_string(dir.join("one.jsonl")).unwrap();
    let kept: Vec<&str> = text.lines().take(3).collect(); // the header and two records
    std::fs::write(dir.join("one.jsonl"), kept.join("\n") + "\n").unwrap();
    ok(&check(&["a", "--json", "one.jsonl", "--resume", "--junit", "resumed.xml"]), 0);
    let classes = |f: &str| -> Vec<String> {
        let xml = std::fs::read_to_string(dir.join(f)).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|c| c.attribute("classname").unwrap().to_string())
            .collect()
    };
    assert_eq!(classes("resumed.xml"), classes("fresh.xml"));
    assert_eq!(classes("fresh.xml").len(), 3);
}

/// Records and merged records go where a user points them as every other output does:
/// `--json /dev/stdout` into a redirected file shares the run's own output (neither
/// writes over the other), and `merge --records` through a link writes the file the link
/// names and keeps the link.
#[cfg(unix)]
#[test]
fn records_to_standard_output_and_through_a_link() {
    let dir = tmpdir("records-targets");
    let out = dir.join("out.txt");
    let status = bin()
        .args(["swarm", "--seeds", "1..3", "--heights", "3", "--jobs", "1", "--json", "/dev/stdout", "--out"])
        .arg(dir.join("cx"))
        .current_dir(repo())
        .stdout(std::fs::File::create(&out).unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let text = std::fs::read_to_string(&out).unwrap();
    let json_lines = text.lines().filter(|l| l.starts_with('{')).count();
    // The header, three records and the end line, all intact next to the printed lines.
    assert_eq!(json_lines, 5, "{text}");
    assert!(
        text.lines().filter(|l| l.starts_with('{')).all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{text}"
    );
    for seed in 1..=3 {
        assert!(text.contains(&format!("ok seed {seed}: 3 heights")), "the run's own lines are there: {text}");
    }
    assert!(text.contains("3 runs: 3 ok"), "{text}");

    let shard = dir.join("s.jsonl");
    ok(&run(&["swarm", "--seeds", "1..3", "--heights", "3", "--json", p(&shard), "--out", p(&dir.join("cx2"))]), 0);
    let target = dir.join("merged.jsonl");
    let link = dir.join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    ok(&run(&["merge", p(&shard), "--records", p(&link)]), 0);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
    assert_eq!(records(&target).len(), 3, "the merged records are in the file the link names");
}
