//! Every plot type, drawn from real runs, parsed as XML: each has its title, its axis
//! labels and its legend, and draws what the run contains.

mod common;

use common::{load, repo, report, tmpdir};
use dbft_sim::report::Report;
use dbft_sim::report::pages;
use dbft_sim::report::plot::matrix::{self, Panel};
use dbft_sim::report::plot::sequence::{self, Recorder};
use dbft_sim::report::plot::{RunData, heights, seeds};
use dbft_sim::world;
use std::process::Command;

/// Every text node of an SVG, trimmed.
fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).map(|t| t.trim().to_string()).collect()
}

fn has(svg: &str, wanted: &[&str]) {
    let t = texts(svg);
    for w in wanted {
        assert!(t.iter().any(|x| x.contains(w)), "no text containing {w:?} in the SVG; texts: {t:?}");
    }
}

/// A run and what the recorder saw of it.
fn recorded(rel: &str, seed: u64) -> (Report, Recorder) {
    let spec = load(rel);
    let mut rec = Recorder::default();
    let result = world::run(&spec, seed, Some(&mut rec), false);
    (Report::build(&spec, &result), rec)
}

/// The sequence chart of a bundled scenario (seed 1) for a window of heights.
fn sequence_of(rel: &str, heights: (u32, u32)) -> (Report, String) {
    let (r, rec) = recorded(rel, 1);
    let names: Vec<String> = r.config.nodes.iter().map(|n| n.name.clone()).collect();
    let end = dbft_sim::engine::time::SimTime((r.sim_time_ms * 1000.0) as u64);
    let svg = sequence::sequence_svg("t", &names, rec.lane.items(), sequence::window_of(&rec.nodes, heights, end));
    (r, svg)
}

#[test]
fn heights_plot_has_time_axis_windows_and_stall_note() {
    let (r, _) = recorded("scenarios/attacks/crash-lock-4.json", 1);
    let d = RunData::of(&r).unwrap();
    let svg = heights::svg(&d).unwrap();
    // crash-lock-4 stalls at h1 v0 in a commit lock (its expectation says so).
    has(&svg, &["heights over virtual time", "stalled at h1 v0: commit-lock", "virtual time (s)", "latency (s, log)"]);
    // The crash is scripted at 15,050 ms: the legend gives it to the millisecond, as the
    // narration does, not rounded to an axis label's 15.1.
    has(&svg, &["no height was finalised", "R1 down (15.05 s–end)"]);
    // Tick labels are not "45.0"-style: no label ends in ".0".
    assert!(texts(&svg).iter().all(|t| !t.ends_with(".0")), "a tick label ends in .0");

    let (r, _) = recorded("scenarios/faults/crash-and-partition-7.json", 1);
    let svg = heights::svg(&RunData::of(&r).unwrap()).unwrap();
    has(&svg, &["height reached", "block interval", "consensus (proposal → final)", "partition R0,R2", "GST at 90 s"]);
    // The scenario finalises heights 1 and 8 (R1's turns) after a view change.
    has(&svg, &["final in view 0", "final in view 1"]);
}

#[test]
fn a_fork_is_marked() {
    let (r, _) = recorded("scenarios/attacks/collusion-f-plus-1-4.json", 1);
    let d = RunData::of(&r).unwrap();
    assert!(!d.fork_heights().is_empty(), "the F+1 collusion forks (S1)");
    has(&heights::svg(&d).unwrap(), &["fork (S1: two blocks final)"]);
}

#[test]
fn seed_plots_name_their_axes_and_runs() {
    let spec = load("scenarios/happy-4.json");
    let runs: Vec<RunData> = [1, 2].iter().map(|&s| RunData::of(&report(&spec, s)).unwrap()).collect();
    let refs: Vec<&RunData> = runs.iter().collect();
    let cdf = seeds::cdf_svg("happy CDF", &[("happy-4".into(), refs.clone())]).unwrap();
    has(&cdf, &["happy CDF", "latency (s, log)", "fraction ≤ x", "p50", "p90", "p99", "happy-4 (2 runs)"]);
    has(&cdf, &["block interval", "consensus", "transaction confirmation"]);
    let progress = seeds::progress_svg("happy progress", &refs).unwrap();
    has(
        &progress,
        &["happy progress", "virtual time (s)", "height reached", "happy-4 seed 1: ok", "happy-4 seed 2: ok"],
    );
    let views = seeds::views_svg("happy views", &refs).unwrap();
    has(&views, &["happy views", "height", "runs", "final in view 0"]);
    let msgs = seeds::messages_svg("happy messages", &refs).unwrap();
    has(&msgs, &["happy messages", "messages sent per height", "KiB", "PrepareRequest", "Commit"]);
}

#[test]
fn sweep_chart_uses_the_measured_categories_and_says_what_it_aggregates() {
    let cats: Vec<String> = ["4", "7", "21"].iter().map(|s| s.to_string()).collect();
    let series = vec!["lan".to_string(), "wan".to_string()];
    let panel = Panel {
        caption: "consensus".into(),
        y_desc: "ms (log scale)".into(),
        values: vec![vec![vec![1.0, 2.0], vec![2.0], vec![3.0]], vec![vec![100.0], vec![200.0, 210.0], vec![300.0]]],
    };
    let svg = matrix::svg("title here", "note here", "validators N", &cats, &series, &[panel]).unwrap();
    // The legend wraps at its 200 px width.
    has(
        &svg,
        &[
            "title here",
            "note here",
            "validators N",
            "ms (log scale)",
            "lan",
            "wan",
            "dot and line: median of",
            "seeds",
        ],
    );
    let t = texts(&svg);
    for n in ["4", "7", "21"] {
        assert!(t.iter().any(|x| x == n), "category {n} is a tick label");
    }
    // A categorical axis: no tick between categories (at -0.5, 0.5, 1.5, ...).
    assert!(!t.iter().any(|x| ["-0.5", "0.5", "1.5", "2.5"].contains(&x.as_str())), "{t:?}");
}

#[test]
fn sequence_chart_and_timeline_show_the_lock() {
    let (r, rec) = recorded("scenarios/attacks/crash-lock-4.json", 1);
    assert_eq!(pages::default_sequence_heights(&r, &rec), (1, 1), "the stall is at height 1");
    // Where a routine view change comes first (R1 crashes at the start, so height 1 changes
    // view) and the run stalls later, the chart shows the stall: the hand-off height 5
    // that the old set, one ejected and one crashed, can never sign.
    let (later, later_rec) = recorded("scenarios/validators/dual-quorum-ejection-crash-4.json", 1);
    let stall = later.liveness.stall.as_ref().map(|s| s.height);
    assert_eq!(stall, Some(5));
    assert_eq!(pages::default_sequence_heights(&later, &later_rec), (5, 5));
    let names: Vec<String> = r.config.nodes.iter().map(|n| n.name.clone()).collect();
    let end = dbft_sim::engine::time::SimTime((r.sim_time_ms * 1000.0) as u64);
    let window = sequence::window_of(&rec.nodes, (1, 1), end);
    let svg = sequence::sequence_svg("lock chart", &names, rec.lane.items(), window);
    has(&svg, &["lock chart", "R0", "R1", "R2", "R3", "time (s)", "PrepReq v0", "Commit v0", "ChangeView v0", "crash"]);
    // R1 crashes: messages to it are dropped (recipient-down) and drawn as crosses.
    let doc_text = texts(&svg);
    assert!(doc_text.iter().filter(|t| *t == "×").count() > 1, "drops are marked");
    assert!(svg.contains("recipient-down"), "a drop's tooltip names its reason");
    let timeline = sequence::timeline_svg("lock timeline", &names, &rec.nodes, end);
    has(&timeline, &["lock timeline", "virtual time (s)", "view 0", "down (crashed)", "Commit signed"]);
}

#[test]
fn plot_and_compare_commands_write_their_files() {
    let dir = tmpdir("plot-scenario");
    let bin = env!("CARGO_BIN_EXE_dbft-sim");
    // Runs the binary in the repository and expects exit 0.
    let ok = |args: &[&str]| {
        let out = Command::new(bin).args(args).current_dir(repo()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    ok(&["plot", "scenarios/happy-4.json", "--seeds", "1..2", "--out", dir.to_str().unwrap()]);
    for f in ["latency-cdf.svg", "heights-over-time.svg", "views-per-height.svg", "messages-per-height.svg"] {
        has(&std::fs::read_to_string(dir.join(f)).unwrap(), &["happy-4 (2 runs)"]);
    }
    // Reports on disk plot the same way.
    let runs = tmpdir("plot-reports");
    for seed in ["1", "2"] {
        let o = runs.join(seed);
        ok(&["run", "scenarios/happy-4.json", "--seed", seed, "--out", o.to_str().unwrap(), "-q"]);
    }
    let from_dir = tmpdir("plot-dir");
    ok(&["plot", runs.to_str().unwrap(), "--out", from_dir.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(dir.join("latency-cdf.svg")).unwrap(),
        std::fs::read(from_dir.join("latency-cdf.svg")).unwrap(),
        "a scenario's seeds and their reports on disk plot alike"
    );
    let cmp = tmpdir("compare");
    ok(&[
        "compare",
        "scenarios/happy-4.json",
        "scenarios/baseline/lan-4.json",
        "--seeds",
        "1",
        "--out",
        cmp.to_str().unwrap(),
    ]);
    has(
        &std::fs::read_to_string(cmp.join("compare-cdf.svg")).unwrap(),
        &["happy-4 (1 run)", "latency CDFs: happy-4 vs"],
    );
    // A run that finalised nothing (the four-node commit lock) has no line to draw: its
    // legend entry says so, and the console notes the stall as `plot` does.
    let locked = tmpdir("compare-locked");
    let out = ok(&[
        "compare",
        "scenarios/attacks/crash-lock-4.json",
        "scenarios/happy-4.json",
        "--out",
        locked.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("note: crash-lock-4 seed 1 stalled at h1 v0: commit-lock"), "{stdout}");
    let svg = std::fs::read_to_string(locked.join("compare-cdf.svg")).unwrap();
    assert_eq!(svg.matches("no samples: no height finalised").count(), 1, "only crash-lock-4 has none");
    // `plot` of that stalled scenario: the per-height charts say why they are empty, and
    // the legend's stall class is not cut off at the picture's edge (it wraps).
    let stalled = tmpdir("plot-stalled");
    ok(&["plot", "scenarios/attacks/crash-lock-4.json", "--seeds", "1..2", "--out", stalled.to_str().unwrap()]);
    for f in ["views-per-height.svg", "messages-per-height.svg"] {
        has(&std::fs::read_to_string(stalled.join(f)).unwrap(), &["no height finalised by any run"]);
    }
    let progress = std::fs::read_to_string(stalled.join("heights-over-time.svg")).unwrap();
    has(&progress, &["crash-lock-4 seed 1: stalled", "at h1 v0: commit-lock"]);
    let bad = Command::new(bin).args(["plot", "/nonexistent.json"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// Two marks of one node at one instant are not drawn over each other: at the hand-off
/// height of the dual-quorum scenario every node persists height 4 and enters h5 v0 at
/// once, and the "h5 v0" box sat on the "h4 final (v0)" label, reading "h5 v0 final".
#[test]
fn a_view_box_never_covers_a_persist_label() {
    let (_, svg) = sequence_of("scenarios/validators/dual-quorum-ejection-crash-4.json", (5, 5));
    let attr = |tag: &str, name: &str| -> f64 {
        let at = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        tag[at..].split('"').next().unwrap().parse().unwrap()
    };
    // View boxes: 44 × 14 rectangles; persist labels: text from x, about 0.6 em a char.
    let boxes: Vec<(f64, f64)> = svg
        .split("<rect")
        .skip(1)
        .filter(|t| t.contains("width=\"44\""))
        .map(|t| (attr(t, "x"), attr(t, "y")))
        .collect();
    let labels: Vec<(f64, f64, usize)> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = t.split('>').nth(1)?.split('<').next()?;
            body.contains(" final (v").then(|| (attr(t, "x"), attr(t, "y"), body.chars().count()))
        })
        .collect();
    assert!(boxes.len() >= 4 && labels.len() >= 4, "{} boxes, {} labels", boxes.len(), labels.len());
    for &(bx, by) in &boxes {
        for &(lx, ly, chars) in &labels {
            let (l0, l1, t0, t1) = (lx, lx + 0.6 * 11.0 * chars as f64, ly - 11.0, ly + 2.0);
            let overlaps = bx < l1 && l0 < bx + 44.0 && by < t1 && t0 < by + 14.0;
            assert!(!overlaps, "view box at ({bx}, {by}) covers the label at ({lx}, {ly})");
        }
    }
}

/// A run stopped by its duration has a diagnosis of the height it was on (still
/// progressing) though its liveness holds: that is no stall, and the chart goes to the
/// first view change (R2 is down from the start, so its turns as primary change view).
#[test]
fn a_live_run_stopped_by_duration_charts_its_first_view_change() {
    let spec = dbft_sim::scenario::parse(
        r#"{"validators": 4, "protocol": {"block_time_ms": 1000},
            "faults": {"crashes": [{"node": "R2", "at_ms": 0}]}, "stop": {"duration_ms": 30000}}"#,
        "live",
    )
    .unwrap();
    let mut rec = Recorder::default();
    let result = world::run(&spec, 1, Some(&mut rec), false);
    let r = Report::build(&spec, &result);
    assert_eq!(r.liveness.status, dbft_sim::report::LivenessStatus::Holds);
    assert!(r.liveness.stall.is_some(), "a diagnosis of the height it was on");
    let first_view_change = r.per_height.iter().find(|h| h.view > 0).map(|h| h.height).expect("R2's turn changes view");
    assert_eq!(pages::default_sequence_heights(&r, &rec), (first_view_change, first_view_change));
}

/// Where two blocks were final at one height, the sequence chart's persist labels name
/// the block, so the two branches can be told apart (twins fork height 1 in this
/// scenario: R2 persists one block and R3 the other, as S1 reports); at a height with one
/// block the label stays short.
#[test]
fn a_forked_height_names_its_blocks_in_the_sequence_chart() {
    let (r, svg) = sequence_of("scenarios/validators/two-branch-beyond-f-4.json", (1, 1));
    let s1 = r.invariants.iter().find(|i| i.id.as_str() == "S1").unwrap();
    let hashes: Vec<String> = s1.violations[0]
        .detail
        .split_whitespace()
        .filter(|w| w.len() == 8 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .map(String::from)
        .collect();
    assert_eq!(hashes.len(), 2, "{}", s1.violations[0].detail);
    for h in &hashes {
        has(&svg, &[&format!("h1 final {h} (v0)")]);
    }
    let (_, svg) = sequence_of("scenarios/happy-4.json", (1, 1));
    has(&svg, &["h1 final (v0)"]);
}
