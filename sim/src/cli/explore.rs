//! `dbft-sim explore <scenario> [bounds]`: exhaustive bounded search of the scenario's
//! replicas (explore/search.rs). A safety violation, and the shortest stuck state of each
//! stall class, are written as scenarios with an explicit `schedule`, replayed with `run`
//! at once, and the result is printed.

use crate::explore::model::Prune;
use crate::explore::search::{self, Bounds, Ending, Explorer, Stats, StuckFound};
use crate::explore::step::Step;
use crate::invariants::diagnosis::StallClass;
use crate::report::Report;
use crate::report::files::{check_output_file, write_atomic};
use crate::scenario::{self, RunSpec};
use crate::world;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// The options of `dbft-sim explore`: the search's bounds and what to do with its finds.
pub struct ExploreOptions {
    pub bounds: Bounds,
    pub out: Option<PathBuf>,
    /// Print the schedules of what was found.
    pub show_schedules: bool,
    /// Shrink the written schedules step by step.
    pub shrink: bool,
    /// How often (seconds) a plain progress line goes to stderr when it is not a
    /// terminal; checked by `run` (0 to [`MAX_PROGRESS_SECS`]).
    pub progress_every: f64,
    /// Start where the scenario's `schedule` ends ([`Explorer::start_after_schedule`]).
    pub after_schedule: bool,
}

/// The longest `--progress-every` interval (a year): anything longer is no interval.
pub const MAX_PROGRESS_SECS: f64 = 365.0 * 86_400.0;

/// What the explorer cannot model, by the field that asks for it.
fn unsupported(spec: &RunSpec, original: &Value) -> Option<(String, String)> {
    let what = |f: &str, w: &str| Some((f.to_string(), w.to_string()));
    if !spec.crashes.is_empty() {
        return what("faults.crashes", "timed crashes are not modelled; crashes are choices (--crashes K)");
    }
    if !spec.rules.is_empty() {
        return what("rules", "scripted message rules are not modelled (every delivery order is explored)");
    }
    if !spec.timers.is_empty() {
        return what("timers", "scripted timer control is not modelled (timers fire in every order)");
    }
    if !spec.network.partitions.is_empty() {
        return what("network.partitions", "partitions are not modelled");
    }
    if spec.network.relay.is_flood() {
        return what("network.relay", "flood relay is not modelled (messages go point to point)");
    }
    if spec.start_height > 1 {
        return what("start_height", "a chain prefix is not modelled (the search starts at height 1)");
    }
    for (i, c) in spec.changes.iter().enumerate() {
        match c.when {
            crate::scenario::spec::ChangeTrigger::At(t) if t == crate::engine::time::SimTime::ZERO => {}
            crate::scenario::spec::ChangeTrigger::At(_) => {
                return what(
                    &format!("changes[{i}].at_ms"),
                    "must be 0 (the search has no time): the change is in its recipients' mempools at the start",
                );
            }
            crate::scenario::spec::ChangeTrigger::Height(_) => {
                return what(
                    &format!("changes[{i}].at_height"),
                    "a change submitted at a height is not modelled (the search has no time); submit it with at_ms 0",
                );
            }
        }
    }
    // `byzantine` entries and the attacker processes of `compromised_keys` (in entry
    // order): each runs its wrapper if the untimed model can run every behaviour it lists
    // (explore/model.rs `untimed_behaviour`) from the start.
    let entries = original.get("byzantine").and_then(Value::as_array).map_or(&[][..], |a| a.as_slice());
    let byzantine = entries.iter().enumerate().filter_map(|(i, entry)| {
        let name = entry.get("node").and_then(Value::as_str).unwrap_or_default();
        spec.nodes.iter().find(|n| n.name == name).map(|node| (format!("byzantine[{i}]"), node))
    });
    let attackers = spec.nodes.iter().filter(|n| matches!(n.role, crate::scenario::spec::Role::Attacker { .. }));
    let attackers = attackers.enumerate().map(|(i, node)| (format!("compromised_keys[{i}]"), node));
    for (path, node) in byzantine.chain(attackers) {
        if node.byzantine_from != crate::engine::time::SimTime::ZERO {
            return what(&format!("{path}.from_ms"), "a Byzantine start time is not modelled (the search has no time)");
        }
        for (j, b) in node.behaviours.iter().enumerate() {
            if let Err(why) = crate::explore::model::untimed_behaviour(b) {
                return Some((format!("{path}.behaviours[{j}]"), why));
            }
        }
    }
    None
}

/// Fields the scenario sets that the search reads nothing of, because it models them as
/// choices or not at all: said on stderr so that a lossy scenario does not quietly become
/// a loss-free search (the search goes on; these change no answer within its bounds).
fn replaced_by_bounds(spec: &RunSpec, original: &Value) -> Vec<String> {
    let at = |a: &str, b: &str| original.get(a).and_then(|v| v.get(b));
    let mut notes = Vec::new();
    // Loss and duplication as resolved: a preset (`lossy`) sets them too.
    if spec.network.loss > 0.0 {
        notes.push(
            "network.loss: not used; the search makes loss a choice of its own (--loss, --max-drops)".to_string(),
        );
    }
    if spec.network.duplicate > 0.0 {
        notes.push("network.duplicate: not used; the search does not duplicate messages".to_string());
    }
    if !spec.network.degradations.is_empty() {
        notes.push(
            "network.degradations: not used; the search has no time (every delivery order is explored)".to_string(),
        );
    }
    // Every preset has a latency: one the scenario chose (a preset or its own) is worth a
    // word, the default is not.
    if at("network", "latency").is_some() || at("network", "preset").is_some() {
        notes.push(
            "network.latency: not used; the search has no time (--deadlines and --max-delay-ms bound delays in steps)"
                .to_string(),
        );
    }
    if at("workload", "tx_rate_per_s").and_then(Value::as_f64).is_some_and(|x| x > 0.0) {
        notes.push("workload.tx_rate_per_s: not used; only the initial transactions are in the mempools".to_string());
    }
    notes
}

pub fn run(path: &Path, opts: ExploreOptions) -> i32 {
    let text = match scenario::read_text(path, scenario::MAX_INPUT_BYTES) {
        Ok(t) => t,
        Err(e) => {
            tell!("error: {}: cannot read: {e}", path.display());
            return 2;
        }
    };
    let spec = match scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            tell!("error: {}: {e}", path.display());
            return 2;
        }
    };
    let original: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            tell!("error: {}: {e}", path.display());
            return 2;
        }
    };
    if let Some((field, why)) = unsupported(&spec, &original) {
        tell!("error: {}: {field}: {why}", path.display());
        return 2;
    }
    for note in replaced_by_bounds(&spec, &original) {
        tell!("note: {}: {note}", path.display());
    }
    let f = (spec.validators.saturating_sub(1)) / 3;
    if opts.bounds.crashes as usize > f {
        tell!("error: --crashes {} is more than F = {f} for N = {}", opts.bounds.crashes, spec.validators);
        return 2;
    }
    if !(0.0..=MAX_PROGRESS_SECS).contains(&opts.progress_every) {
        tell!(
            "error: --progress-every {}: must be a number of seconds from 0 to {MAX_PROGRESS_SECS}",
            opts.progress_every
        );
        return 2;
    }
    if opts.bounds.restarts > 0 && opts.bounds.crashes == 0 {
        tell!("error: --restarts {} needs crashes to restart from (--crashes K)", opts.bounds.restarts);
        return 2;
    }
    if opts.bounds.heights == 0 || opts.bounds.max_states == 0 {
        tell!("error: --heights and --max-states must be > 0");
        return 2;
    }
    if opts.bounds.walks == Some(0) || opts.bounds.walk_depth == 0 {
        tell!("error: --walks and --walk-depth must be > 0 (without --walks the search is exhaustive)");
        return 2;
    }
    let out = opts.out.clone().unwrap_or_else(|| Path::new("reports").join("explore").join(&spec.name));
    if let Err(e) = check_output_file(&out.join("x.json")) {
        tell!("error: cannot write to {}: {e}", out.display());
        return 2;
    }
    let mut bounds = opts.bounds;
    // Starting after a schedule asks whether its end can still finish: the exhaustive
    // search stops at the first finished state (the answer), and runs to the end, with
    // the stuck states it proves, only when none is reachable.
    let asks_if_end_finishes = opts.after_schedule && bounds.walks.is_none() && bounds.shortest_stuck.is_none();
    bounds.stop_at_finish |= asks_if_end_finishes;
    let mut explorer = match Explorer::new(&spec, bounds.clone()) {
        Ok(x) => x,
        Err(e) => {
            tell!("error: {}: {e}", path.display());
            return 2;
        }
    };
    if opts.after_schedule {
        if spec.schedule.is_empty() {
            tell!("error: {}: schedule: --after-schedule needs a scenario with a schedule", path.display());
            return 2;
        }
        if let Err(e) = explorer.start_after_schedule() {
            tell!("error: {}: {e}", path.display());
            return 2;
        }
    }
    say!(
        "dbft-sim explore: {} (N = {}, {} semantics, mutation {}), bounds: heights {}, max view {}, {}, loss {}, recovery {}, {}, {}",
        spec.name,
        spec.validators,
        spec.protocol.semantics.as_str(),
        spec.protocol.mutation.map_or("none", |m| m.as_str()),
        bounds.heights,
        bounds.max_view,
        crash_text(&bounds),
        if bounds.withhold {
            format!("{}; Byzantine nodes withhold at will", loss_text(&bounds))
        } else {
            loss_text(&bounds)
        },
        if bounds.recovery { "on" } else { "off" },
        timing_text(&bounds),
        match (bounds.walks, bounds.dfs) {
            _ if bounds.shortest_stuck.is_some() => format!(
                "the shortest {}stuck state within {} steps (bounded DFS, then each settled state searched within {} states)",
                bounds.stuck_class.map_or(String::new(), |c| format!("{c} ")),
                bounds.shortest_stuck.unwrap_or(0),
                bounds.walk_stuck_budget
            ),
            (Some(w), _) => format!("{w} random walks of at most {} steps", bounds.walk_depth),
            (None, true) => "DFS".to_string(),
            (None, false) => "BFS".to_string(),
        }
    );
    match explorer.start_point() {
        (0, _, _) if !spec.schedule.is_empty() && !opts.after_schedule => say!(
            "  the scenario's schedule ({} steps) is not followed: the search starts at its initial state (--after-schedule starts where it ends)",
            spec.schedule.len()
        ),
        (0, 0, _) if !opts.after_schedule => {}
        (k, skipped, settled) => say!(
            "  starting where the scenario's schedule ends: {k} steps taken under these bounds{}, {}",
            match skipped {
                0 => String::new(),
                s => format!(" ({s} deliveries skipped: dead here, a no-op for their recipients)"),
            },
            if settled { "nothing in flight" } else { "messages still in flight" }
        ),
    }
    if !bounds.reduce {
        say!("  partial-order reduction off");
    } else if bounds.por && !explorer.bounds.por {
        say!("  partial-order reduction off (merges kept; with dead state forgotten it costs more than it saves)");
    } else if bounds.por {
        say!("  partial-order reduction on (--por)");
    }
    if bounds.withhold && spec.nodes.iter().all(|n| n.honest) {
        say!("  note: --withhold has no Byzantine node to act on: every process is honest");
    }
    if explorer.forgets {
        say!(
            "  replicas fingerprinted by their live state: dead records forgotten (docs/explore.md §4.7; --no-forget)"
        );
    }
    if bounds.restarts > 0 {
        say!(
            "  restarts are choices: a down node keeps its ledger{} (docs/explore.md §4.9)",
            if bounds.amnesia { "" } else { " and the saved context a restart reloads" }
        );
    }
    if let Some(m) = bounds.max_memory {
        say!("  memory budget: {} MiB of resident memory", m >> 20);
    }
    match bounds.prune {
        Prune::Off => say!("  dead messages kept in flight"),
        Prune::Check => say!("  dead messages dropped, each checked to be a no-op (--check-reductions)"),
        Prune::On => {}
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
        bar.set_style(style);
    }
    // A terminal gets the spinner; a log (CI, `nohup`, a batch job) gets a plain line
    // every `--progress-every` seconds, since the spinner draws nothing there and a long
    // search would otherwise say nothing until it ends.
    let every = std::time::Duration::from_secs_f64(opts.progress_every);
    let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_line: Option<std::time::Duration> = None;
    let mut progress = |s: &Stats| {
        let rate = s.states as f64 / s.elapsed.as_secs_f64().max(1e-9);
        let mem = search::current_rss().map_or("?".into(), |b| format!("{} MB", b / (1 << 20)));
        let tuples =
            if s.replica_tuples > 0 { format!(", replica tuples {}", s.replica_tuples) } else { String::new() };
        let line = format!(
            "states {} ({rate:.0}/s, {} distinct), depth {}, queue {}, memory {mem}{tuples}",
            s.states, s.distinct, s.depth, s.queue
        );
        if plain {
            if last_line.is_none_or(|t| t.checked_add(every).is_some_and(|due| s.elapsed >= due)) {
                last_line = Some(s.elapsed);
                tell!("  [{:.0} s] {line}", s.elapsed.as_secs_f64());
            }
        } else {
            bar.set_message(line);
            bar.tick();
        }
    };
    let outcome = explorer.run(&mut progress);
    bar.finish_and_clear();
    let s = &outcome.stats;
    let secs = s.elapsed.as_secs_f64();
    let peak = search::peak_rss().map_or("?".into(), |b| format!("{} MB", b / (1 << 20)));
    say!(
        "  {}: {} states ({} distinct), {} transitions, depth {}, {:.2} s ({:.0} states/s), peak memory {peak}, {:.0} table bytes/state",
        outcome.ending.name(),
        s.states,
        s.distinct,
        s.transitions,
        s.depth,
        secs,
        s.states as f64 / secs.max(1e-9),
        outcome.table_bytes_per_state
    );
    say!(
        "  steps pruned by max view {}: {}; states where every honest running validator finished: {}; dead messages dropped: {}",
        bounds.max_view,
        outcome.pruned,
        outcome.finished,
        outcome.dead_dropped
    );
    if bounds.walks.is_none() && bounds.shortest_stuck.is_none() {
        say!(
            "  distinct local states per replica: {:?}; distinct replica tuples (state without the messages in flight): {}",
            outcome.local_states,
            outcome.replica_tuples
        );
    }
    if spec.nodes.iter().any(|n| !n.behaviours.is_empty()) {
        // Whether the Byzantine behaviours acted at all within the bounds.
        let acted: Vec<String> = spec
            .nodes
            .iter()
            .flat_map(|n| n.behaviours.iter())
            .filter_map(crate::explore::model::behaviour_mark)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|m| format!("{m}: {}", outcome.marks.get(m).copied().unwrap_or(0)))
            .collect();
        say!("  Byzantine behaviour marks (transitions that emitted them): {}", acted.join("; "));
    }
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    // Writes one found schedule as a scenario, replays it, and shows its steps on request.
    let emit = |name: &str, description: &str, steps: &[Step], expect: Value| -> Result<(), i32> {
        // The steps shown are the ones written (after --shrink), not the search's.
        let written =
            match write_and_replay(&out, &original, &spec, name, description, steps, expect, &bounds, opts.shrink) {
                Ok((line, written)) => {
                    say!("    {line}");
                    written
                }
                Err(e) => {
                    tell!("error: {e}");
                    return Err(2);
                }
            };
        if opts.show_schedules {
            show(&written, &names);
        }
        Ok(())
    };
    let mut code = 0;
    if let Some(v) = &outcome.violation {
        code = 1;
        let ids: Vec<&str> = v.ids.iter().map(|i| i.as_str()).collect();
        say!("  VIOLATION {} after {} steps: {}", ids.join(", "), v.steps.len(), v.detail);
        let mut expect = json!({"violations": ids});
        // An attack's counterexample proves its behaviours acted: each listed behaviour's
        // coverage mark at least once (the replay fails its expectation otherwise).
        let marks: Map<String, Value> = spec
            .nodes
            .iter()
            .flat_map(|n| n.behaviours.iter())
            .filter_map(crate::explore::model::behaviour_mark)
            .map(|m| (m.to_string(), json!(1)))
            .collect();
        if !marks.is_empty() {
            expect["marks"] = Value::Object(marks);
        }
        let name = file_name(&spec.name, &ids.join("-"));
        let description = format!(
            "Written by dbft-sim explore: {} ({}) to a violation of {}: {}",
            if bounds.walks.is_some() {
                "the schedule a seeded random walk found"
            } else {
                "the shortest schedule it found"
            },
            bounds_text(&bounds),
            ids.join(", "),
            v.detail
        );
        if let Err(code) = emit(&name, &description, &v.steps, expect) {
            return code;
        }
    } else if outcome.ending == Ending::Complete {
        say!("  safety: S1–S6 hold in every reachable state within the bounds");
    } else {
        say!("  safety: no violation in the states visited (the search is not complete)");
    }
    if outcome.violation.is_none() && asks_if_end_finishes {
        match outcome.ending {
            Ending::Complete if outcome.pruned > 0 => say!(
                "  from the schedule's end no reachable state finishes the height within these bounds, but {} steps past max view {} were cut: a higher --max-view may open it",
                outcome.pruned,
                bounds.max_view
            ),
            Ending::Complete => say!(
                "  from the schedule's end no reachable state finishes the height, and no step was cut by the view bound: its end is stuck under these bounds too, whatever the max view"
            ),
            Ending::FinishReached => say!(
                "  from the schedule's end a state where the height is finished is reachable: its end is not stuck under these bounds (the search stopped there)"
            ),
            _ => say!("  from the schedule's end no finished state was reached, but the search is not complete"),
        }
    }
    if outcome.violation.is_none() {
        let complete = outcome.ending == Ending::Complete;
        // `--shortest-stuck` counts steps from where the search starts.
        let after = match explorer.start_point().0 {
            0 => String::new(),
            k => format!(" after the scenario's {k}"),
        };
        if let Some(sh) = outcome.shortest {
            match sh.depth {
                Some(d) => say!(
                    "  shortest {}stuck state: {d} steps{after} ({} settled states at that depth proven stuck); {} shallower settled states{} shown able to finish; {}",
                    bounds.stuck_class.map_or(String::new(), |c| format!("{c} ")),
                    outcome.cannot_finish,
                    sh.can_finish,
                    bounds.stuck_class.map_or(String::new(), |c| format!(" diagnosed {c}")),
                    if sh.undecided == 0 {
                        "none undecided, so no shorter stuck schedule exists within the bounds".to_string()
                    } else {
                        format!("{} shallower ones undecided (budget), so a shorter one may exist", sh.undecided)
                    }
                ),
                // The enumeration stopped at its budget: the states within the step bound
                // were not all visited, so no candidate was checked and nothing is proven.
                None if outcome.ending != Ending::DepthDone => say!(
                    "  undecided: the search stopped ({}) before it visited every state within {} steps{after}, so whether a stuck state exists within them is not known ({} settled candidates left unchecked); raise the budget or lower --shortest-stuck",
                    outcome.ending.name(),
                    bounds.shortest_stuck.unwrap_or(0),
                    sh.unchecked
                ),
                None => say!(
                    "  no stuck state within {} steps{after}: {} settled states shown able to finish, {} undecided (budget)",
                    bounds.shortest_stuck.unwrap_or(0),
                    sh.can_finish,
                    sh.undecided
                ),
            }
        } else if bounds.walks.is_some() {
            say!(
                "  settled states proven stuck (a complete search from a walk's end, within --walk-stuck-budget states, finds no way to finish): {}",
                outcome.cannot_finish
            );
        } else {
            say!(
                "  settled states (nothing in flight) that cannot finish the height within the bounds: {}{}",
                outcome.cannot_finish,
                if complete { "" } else { " (incomplete search: unexpanded states count as able to finish)" }
            );
        }
        if outcome.stuck.is_empty() {
            if matches!(outcome.ending, Ending::Complete | Ending::DepthDone) {
                say!("  no settled stuck state");
            } else {
                say!("  no settled stuck state found (the search is not complete)");
            }
        }
        for st in &outcome.stuck {
            // The group's class is the diagnosis of the states as the search held them; a
            // state merged with one that differs only in forgotten records (which the
            // diagnosis may read) can be classed by the other. The schedule's own state,
            // replayed exactly, is what `run` diagnoses, so the written expectation and the
            // printed reason are that state's.
            let merged_note = if st.stall.class == st.class {
                String::new()
            } else {
                format!(
                    " (this state itself: {}; its group's class comes from states it merged with)",
                    st.stall.class.as_str()
                )
            };
            say!(
                "  stuck ({}): {} settled states{}; shortest: {} steps, height {} view {}: {}{}",
                st.class.as_str(),
                st.count,
                bounds_note(st, &bounds),
                st.steps.len(),
                st.stall.height,
                st.stall.view,
                st.stall.reason,
                merged_note
            );
            // An undiagnosed stall cannot be expected by class (the schema refuses it).
            let expect = if st.stall.class == StallClass::Undiagnosed {
                json!({"safety": "holds", "liveness": "stalls"})
            } else {
                json!({
                    "safety": "holds",
                    "liveness": "stalls",
                    "stall": {"class": st.stall.class.as_str(), "height": st.stall.height, "view": st.stall.view}
                })
            };
            let name = file_name(&spec.name, &format!("stuck-{}", st.class.as_str()));
            let description = format!(
                "Written by dbft-sim explore: {} ({}) to a state where nothing is in flight, no schedule within the bounds finishes the height, and the stall diagnosis says {}: {}{}",
                if bounds.shortest_stuck.is_some() {
                    "the shortest stuck schedule within the step bound (every state within it visited at its least depth; this one searched to the end)"
                } else if bounds.walks.is_some() {
                    "a seeded random walk's schedule, then the shortest way on that a complete search from the walk's end found"
                } else {
                    "the shortest schedule it found"
                },
                bounds_text(&bounds),
                st.stall.class.as_str(),
                st.stall.reason,
                match bounds_note(st, &bounds) {
                    note if note.is_empty() => String::new(),
                    note => format!(". The search found {} such states{note}", st.count),
                }
            );
            if let Err(code) = emit(&name, &description, &st.steps, expect.clone()) {
                return code;
            }
            // The states no bound explains, when some of the group's are explained.
            let explained = st.past_bound > 0 || (st.asks_recovery > 0 && !bounds.recovery);
            if let Some(robust) = st.robust.as_ref().filter(|_| explained) {
                let (past, ask) = (
                    format!("a step past max view {}", bounds.max_view),
                    "a step where a node asks for recovery nobody answers",
                );
                let neither = format!("neither {past} nor {ask}");
                match &robust.shallowest {
                    None if robust.count == 0 => say!("    every one of them can reach {past} or {ask}"),
                    None => say!("    {} of them can reach {neither}, the shortest above among them", robust.count),
                    Some((stall, steps)) => {
                        say!(
                            "    {} of them can reach {neither}; the shortest of those: {} steps, height {} view {}: {}",
                            robust.count,
                            steps.len(),
                            stall.height,
                            stall.view,
                            stall.reason
                        );
                        let name = file_name(&spec.name, &format!("stuck-{}-unbounded", st.class.as_str()));
                        let description = format!(
                            "Written by dbft-sim explore: the shortest schedule it found ({}) to a settled state that cannot finish the height, diagnosed {}: {}, from which {neither} can be reached: neither bound is what stops it. {} of the group's {} states are such.",
                            bounds_text(&bounds),
                            stall.class.as_str(),
                            stall.reason,
                            robust.count,
                            st.count
                        );
                        let expect = if stall.class == StallClass::Undiagnosed {
                            json!({"safety": "holds", "liveness": "stalls"})
                        } else {
                            json!({
                                "safety": "holds",
                                "liveness": "stalls",
                                "stall": {"class": stall.class.as_str(), "height": stall.height, "view": stall.view}
                            })
                        };
                        if let Err(code) = emit(&name, &description, steps, expect) {
                            return code;
                        }
                    }
                }
            }
        }
    }
    code
}

/// What in a stuck group the bounds may account for (empty if nothing): how many can
/// still reach a step the view bound cuts (for those the bound may be what stops them,
/// unless the diagnosis holds in every view), and how many a step where a node asks for
/// recovery that `recovery off` never answers.
fn bounds_note(st: &StuckFound, bounds: &Bounds) -> String {
    let all_or = |k: u64| if k == st.count { "all".to_string() } else { format!("{k} of them") };
    let mut parts = Vec::new();
    match st.past_bound {
        0 => {}
        k if k == st.count && st.class == StallClass::Undiagnosed => parts.push(format!(
            "from every one a step past max view {} can be reached, which the bound cuts: probably an artefact of the bound (raise --max-view to check)",
            bounds.max_view
        )),
        k => parts.push(format!(
            "{} can reach a step past max view {}, which the bound cuts",
            all_or(k),
            bounds.max_view
        )),
    }
    if st.asks_recovery > 0 && !bounds.recovery {
        parts.push(format!(
            "{} can reach a step where a node asks for recovery, never answered with recovery off: with --recovery the answer may unlock them",
            all_or(st.asks_recovery)
        ));
    }
    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join("; ")) }
}

/// The memory budget in bytes: `--max-memory-mb` (0: none), or three quarters of the
/// machine's memory (Linux `/proc/meminfo`; none where it cannot be read).
pub fn memory_budget(mb: Option<u64>) -> Option<u64> {
    match mb {
        Some(0) => None,
        Some(mb) => Some(mb.saturating_mul(1 << 20)),
        None => {
            let info = std::fs::read_to_string("/proc/meminfo").ok()?;
            let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb.saturating_mul(1024) / 4 * 3)
        }
    }
}

fn loss_text(b: &Bounds) -> String {
    match (b.loss, b.max_drops) {
        (false, _) => "off".to_string(),
        (true, None) => "on".to_string(),
        (true, Some(k)) => format!("≤ {k} drops"),
    }
}

fn timing_text(b: &Bounds) -> String {
    match (b.deadlines, b.synchrony, b.max_delay.filter(|&d| d > 0)) {
        (true, _, Some(d)) => format!(
            "timers in deadline order, messages in flight up to {} ms (deliveries at timer instants)",
            d as f64 / 1000.0
        ),
        (true, _, None) => "timers in deadline order, only when nothing is in flight (bounded delays)".to_string(),
        (false, true, _) => "timers only when nothing is in flight (synchrony)".to_string(),
        (false, false, _) => "asynchronous".to_string(),
    }
}

/// The crash and restart choices in words.
fn crash_text(b: &Bounds) -> String {
    match b.restarts {
        0 => format!("crashes ≤ {}", b.crashes),
        r => format!("crashes ≤ {}, restarts ≤ {r}{}", b.crashes, if b.amnesia { " (amnesia)" } else { "" }),
    }
}

/// The bounds in words, for the descriptions of written scenarios.
fn bounds_text(b: &Bounds) -> String {
    let on = |x: bool| if x { "on" } else { "off" };
    format!(
        "bounds: heights {}, max view {}, {}, loss {}, recovery {}, synchrony {}{}{}{}; {}",
        b.heights,
        b.max_view,
        crash_text(b),
        loss_text(b),
        on(b.recovery),
        on(b.synchrony),
        if b.deadlines { ", timers in deadline order" } else { "" },
        match b.max_delay.filter(|&d| d > 0 && b.deadlines) {
            Some(d) => format!(", message delays ≤ {} ms", d as f64 / 1000.0),
            None => String::new(),
        },
        if b.withhold { ", Byzantine nodes withhold at will" } else { "" },
        match (b.walks, b.dfs) {
            _ if b.shortest_stuck.is_some() => format!(
                "shortest {}stuck state within {} steps",
                b.stuck_class.map_or(String::new(), |c| format!("{c} ")),
                b.shortest_stuck.unwrap_or(0)
            ),
            (Some(w), _) => format!("{w} random walks"),
            (None, true) => "DFS".to_string(),
            (None, false) => "BFS".to_string(),
        }
    )
}

fn show(steps: &[Step], names: &[String]) {
    for (i, s) in steps.iter().enumerate() {
        say!("      {:>3}. {}", i + 1, s.describe(names));
    }
}

/// `<scenario>-<what>`, cut to the 64 characters a scenario name may have.
fn file_name(base: &str, what: &str) -> String {
    let what: String = what.chars().take(40).collect();
    // A scenario the explorer wrote, explored again (`--after-schedule`), already says
    // what it shows: `…-stuck-commit-lock`, not `…-stuck-commit-lock-stuck-commit-lock`.
    let base = base.strip_suffix(&format!("-{what}")).unwrap_or(base);
    let keep = 63usize.saturating_sub(what.len());
    let base: String = base.chars().take(keep).collect();
    format!("{base}-{what}")
}

/// The explored scenario with `steps` as its schedule: what fixes the replicas (version,
/// validators, protocol, workload, seed) is kept, everything the schedule replaces goes.
pub fn scheduled_scenario(
    original: &Value,
    spec: &RunSpec,
    name: &str,
    description: &str,
    heights: u32,
    steps: &[Step],
    expect: Value,
) -> Value {
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("description".into(), json!(description));
    m.insert("seed".into(), json!(spec.seed));
    for key in ["version", "validators", "protocol", "workload", "byzantine", "twins", "compromised_keys", "changes"] {
        if let Some(v) = original.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    // The workload's timed fields, which a scheduled run refuses (it has no time and
    // reads only the initial, withheld and invalid transactions); a rate of 0 is kept.
    if let Some(Value::Object(w)) = m.get_mut("workload") {
        w.remove("until_ms");
        if w.get("tx_rate_per_s").and_then(Value::as_f64).is_some_and(|r| r != 0.0) {
            w.remove("tx_rate_per_s");
        }
        // Withheld transactions never arrive in the untimed model, whatever their time.
        if let Some(Value::Array(list)) = w.get_mut("withhold") {
            for entry in list.iter_mut().filter_map(Value::as_object_mut) {
                entry.remove("until_ms");
            }
        }
    }
    m.insert("stop".into(), json!({"heights": heights}));
    m.insert("expect".into(), expect);
    m.insert("schedule".into(), Value::Array(steps.iter().map(|s| s.to_json(&names)).collect()));
    Value::Object(m)
}

/// What a replay of a schedule shows: the violated invariants, the stall class, and
/// whether it ends settled (nothing in flight) and fires timers only when settled. None:
/// a step was not possible.
type Shows = Option<(Vec<crate::invariants::InvariantId>, Option<StallClass>, crate::explore::search::Replay)>;

fn shows(spec: &RunSpec, b: &Bounds) -> Shows {
    let r = world::run(spec, spec.seed, None, false);
    if r.schedule_error.is_some() {
        return None;
    }
    let mut ids: Vec<_> = r.checkers.violations.iter().map(|v| v.id).collect();
    ids.sort();
    ids.dedup();
    Some((ids, r.stall.map(|s| s.class), crate::explore::search::replay_of(spec, b)?))
}

/// Step-level shrinking: removes steps one at a time, keeping a removal when the replay
/// still shows the same (same violations, same stall class, still settled under the
/// search's recovery bound, timers still fired only when settled if they were), until no
/// single removal does. The result is 1-minimal, not
/// necessarily the shortest schedule. A shrunk stuck state is settled with the same
/// diagnosis; that it cannot finish is not searched again.
fn shrink_steps(original: &Value, spec: &RunSpec, b: &Bounds, steps: &[Step]) -> Result<Vec<Step>, String> {
    let doc = scheduled_scenario(original, spec, "shrink", "", b.heights, steps, json!({}));
    let mut replay = scenario::parse(&doc.to_string(), "shrink").map_err(|e| e.to_string())?;
    let target = shows(&replay, b);
    if target.is_none() {
        return Err("the found schedule does not replay".into());
    }
    let mut changed = true;
    while changed {
        changed = false;
        let mut i = 0;
        while i < replay.schedule.len() {
            let removed = replay.schedule.remove(i);
            if !replay.schedule.is_empty() && shows(&replay, b) == target {
                changed = true;
            } else {
                replay.schedule.insert(i, removed);
                i += 1;
            }
        }
    }
    Ok(replay.schedule)
}

/// Writes the scheduled scenario to `<out>/<name>.json` and runs it: the line says where
/// it went and whether `run` reproduces the expectation.
#[allow(clippy::too_many_arguments)]
fn write_and_replay(
    out: &Path,
    original: &Value,
    spec: &RunSpec,
    name: &str,
    description: &str,
    steps: &[Step],
    expect: Value,
    bounds: &Bounds,
    shrink: bool,
) -> Result<(String, Vec<Step>), String> {
    let heights = bounds.heights;
    let written = if shrink { shrink_steps(original, spec, bounds, steps)? } else { steps.to_vec() };
    if written.is_empty() {
        // A schedule lists at least one step: the state the search starts from is the
        // one found (three silent validators of four are stuck before anything happens).
        return Ok(("nothing written: the search's starting state is already this one (0 steps), so there is no schedule to replay".to_string(), written));
    }
    let steps = written.as_slice();
    let mut expect = expect;
    if expect.get("liveness").is_some() {
        // A stuck state with Byzantine nodes: expect the marks of the behaviours that
        // acted along this schedule, so the replay shows the attack happened (a stall may
        // not need every listed behaviour, unlike a violation, which expects them all).
        let doc = scheduled_scenario(original, spec, name, description, heights, steps, json!({}));
        let replay = scenario::parse(&doc.to_string(), name).map_err(|e| e.to_string())?;
        let mut marks = std::collections::BTreeMap::new();
        search::replay_with(&replay, bounds.recovery, bounds.prune, false, 0, Some(&mut marks));
        let acted: Map<String, Value> = spec
            .nodes
            .iter()
            .flat_map(|n| n.behaviours.iter())
            .filter_map(crate::explore::model::behaviour_mark)
            .filter(|m| marks.get(m).is_some_and(|&c| c > 0))
            .map(|m| (m.to_string(), json!(1)))
            .collect();
        if !acted.is_empty() {
            expect["marks"] = Value::Object(acted);
        }
    }
    let doc = scheduled_scenario(original, spec, name, description, heights, steps, expect);
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n";
    let file = out.join(format!("{name}.json"));
    write_atomic(&file, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let replay = scenario::parse(&text, name).map_err(|e| format!("{}: {e}", file.display()))?;
    let result = world::run(&replay, replay.seed, None, false);
    if let Some(e) = &result.schedule_error {
        return Err(format!("{}: the written schedule does not replay: {e}", file.display()));
    }
    let report = Report::build(&replay, &result);
    let line = format!(
        "{} ({} steps) -> run: {} ({})",
        file.display(),
        steps.len(),
        report.outcome.kind.as_str(),
        if report.outcome.as_expected { "as expected" } else { "NOT AS EXPECTED" }
    );
    Ok((line, written))
}
