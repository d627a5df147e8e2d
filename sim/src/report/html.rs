//! Self-contained HTML pages: `index.html` next to a run's `report.json` (outcome,
//! expectations, invariants, stall diagnosis, headline numbers, every plot inline, the
//! message-sequence chart, the narrated events before each violation), and a batch page
//! listing many runs (for `check` and `swarm`).
//!
//! A page has no script, no external style sheet, font or image: it opens from a file, an
//! archive or a CI artefact store the same way, and a browser shows it without a network.

use super::Report;
use super::narrate::Narrator;
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px;max-width:1500px;color:#222}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}\
th{background:#f4f4f4}.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}\
.warn{color:#a15c00;font-weight:bold}\
.figure{overflow-x:auto;border:1px solid #eee;margin:8px 0}.scroll{max-height:900px;overflow:auto;border:1px solid #eee}\
pre{background:#f8f8f8;padding:8px;font-size:12px;overflow-x:auto;white-space:pre-wrap}";

fn page(title: &str, body: &str) -> String {
    format!("{}{body}{PAGE_END}", page_start(title))
}

/// What comes before a page's body.
fn page_start(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(title)
    )
}

const PAGE_END: &str = "</body>\n</html>\n";

/// An SVG to embed inline (without an XML declaration, which HTML does not allow).
fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => "",
    }
}

/// The page of one run. `figures` are (heading, SVG) pairs shown in order;
/// `sequence` is the message-sequence chart (heading, SVG), shown in a scrolling box.
pub fn run_page(r: &Report, figures: &[(&str, &str)], sequence: Option<(&str, &str)>) -> String {
    // Room for the figures up front: a long run's page is megabytes, and growing by
    // doubling would hold up to twice that.
    let svgs: usize = figures.iter().chain(sequence.iter()).map(|(_, svg)| svg.len()).sum();
    let mut b = String::with_capacity(svgs + 64 * 1024);
    let ok = r.outcome.as_expected;
    let _ = writeln!(b, "<h1>{} — seed {}</h1>", esc(&r.scenario), r.seed);
    if !r.config.description.is_empty() {
        let _ = writeln!(b, "<p>{}</p>", esc(&r.config.description));
    }
    let _ = writeln!(
        b,
        "<p id=\"outcome\">Outcome: <span class=\"{}\">{}</span> — <span class=\"{}\">{}</span></p>",
        if r.outcome.kind == super::OutcomeKind::Ok { "ok" } else { "bad" },
        r.outcome.kind,
        if ok { "ok" } else { "bad" },
        if ok { "as expected" } else { "NOT AS EXPECTED" }
    );
    if !r.outcome.mismatches.is_empty() {
        b.push_str("<ul>");
        for m in &r.outcome.mismatches {
            let _ = write!(b, "<li class=\"bad\">{}</li>", esc(m));
        }
        b.push_str("</ul>\n");
    }
    expectations(&mut b, r);
    b.push_str("<h2>Headline numbers</h2>\n<table>\n");
    let row = |b: &mut String, k: &str, v: String| {
        let _ = writeln!(b, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    };
    row(
        &mut b,
        "simulated time",
        format!("{:.3} s, {} events, stopped by {}", r.sim_time_ms / 1000.0, r.events, r.stop_reason),
    );
    row(
        &mut b,
        "heights",
        format!(
            "{} finalised; every running honest node ({} of {} nodes) at ≥ {}",
            r.heights.finalised,
            r.heights.running_honest,
            r.config.nodes.len(),
            r.heights.min_honest
        ),
    );
    let l = &r.latency;
    for (name, s) in [
        ("block interval (ms)", &l.block_interval_ms),
        ("consensus, proposal → final (ms)", &l.consensus_ms),
        ("transaction confirmation (ms)", &l.tx_confirm_ms),
        ("validator-set hand-off (ms)", &l.handoff_ms),
    ] {
        let v = if s.count == 0 { "none".to_string() } else { format!("n {} {}", s.count, s.describe()) };
        row(&mut b, name, v);
    }
    let views: Vec<String> = r.views.iter().map(|(v, n)| format!("view {v}: {n}")).collect();
    row(&mut b, "heights by final view", if views.is_empty() { "none".to_string() } else { views.join(", ") });
    let sent: u64 = r.messages.values().map(|c| c.sent).sum();
    let bytes: u64 = r.messages.values().map(|c| c.bytes).sum();
    row(&mut b, "messages", format!("{sent} sent, {bytes} bytes"));
    row(&mut b, "digest", r.digest.to_hex());
    row(&mut b, "written by", format!("{} {}", r.tool.name, r.tool.version));
    b.push_str("</table>\n");
    b.push_str("<h2>Invariants</h2>\n<table id=\"invariants\"><tr><th>id</th><th>invariant</th><th>status</th><th>violations</th></tr>\n");
    for i in &r.invariants {
        let class = match i.status {
            crate::invariants::InvariantStatus::Violated => "bad",
            crate::invariants::InvariantStatus::Holds => "ok",
            _ => "",
        };
        // A count links to the events before the invariant's first violation.
        let count = match i.violations.len() {
            0 => "0".to_string(),
            n => format!("<a href=\"#violation-{}\">{n}</a>", i.id),
        };
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{count}</td></tr>",
            i.id,
            esc(i.name),
            i.status
        );
    }
    b.push_str("</table>\n");
    // Who signed what at each fork: the double signers are the ones to blame.
    if !r.accountability.is_empty() {
        let key = |k: &crate::protocol::crypto::KeyId| {
            r.config.nodes.get(k.0 as usize).map_or_else(|| format!("key {}", k.0), |n| n.name.clone())
        };
        let keys = |ks: &[crate::protocol::crypto::KeyId]| {
            if ks.is_empty() { "none".to_string() } else { ks.iter().map(key).collect::<Vec<_>>().join(", ") }
        };
        b.push_str("<h3>Accountability</h3>\n<table id=\"accountability\"><tr><th>height</th><th>double signers</th><th>F</th><th>accountable</th><th>signed one block</th><th>signed the other</th></tr>\n");
        for a in &r.accountability {
            let note = if a.continuation { " (continues a fork below)" } else { "" };
            let blamed = if a.double_signers.is_empty() { "" } else { "bad" };
            let verdict = match (a.continuation, a.accountable) {
                (true, _) => "— (judged where the branches parted)",
                (false, true) => "yes: more than F signed both",
                (false, false) => "no: F or fewer signed both",
            };
            let _ = writeln!(
                b,
                "<tr><td>h{}{note}</td><td class=\"{blamed}\">{}</td><td>{}</td><td>{verdict}</td><td>{}</td><td>{}</td></tr>",
                a.height,
                esc(&keys(&a.double_signers)),
                a.f,
                esc(&keys(&a.signers[0])),
                esc(&keys(&a.signers[1]))
            );
        }
        b.push_str("</table>\n");
    }
    let _ = writeln!(b, "<h2>Liveness</h2>");
    match &r.liveness.stall {
        None => match r.liveness_violation() {
            Some((headline, lines)) => {
                let _ = writeln!(b, "<p id=\"liveness-violation\" class=\"bad\">{}</p>\n<ul>", esc(&headline));
                for l in lines {
                    let _ = write!(b, "<li>{}</li>", esc(&l));
                }
                b.push_str("</ul>\n");
            }
            None => {
                let class = if r.liveness.status == super::LivenessStatus::Holds { "ok" } else { "bad" };
                let _ = writeln!(b, "<p class=\"{class}\">{}</p>", r.liveness.status);
            }
        },
        Some(st) => {
            let _ = writeln!(
                b,
                "<p id=\"stall\" class=\"bad\">Stalled at height {} view {} — {}</p><p>{}</p>",
                st.height,
                st.view,
                st.class,
                esc(&st.reason)
            );
            b.push_str("<table><tr><th>replica</th><th>up</th><th>honest</th><th>ledger</th><th>state</th></tr>\n");
            for d in &st.replicas {
                let state = d.status.as_ref().map_or("no status".to_string(), |x| {
                    format!(
                        "h{} v{} {:?} committed={} failed={} change views={:?}",
                        x.height, x.view, x.phase, x.count_committed, x.count_failed, x.change_views
                    )
                });
                let _ = writeln!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&d.name),
                    if d.up { "yes" } else { "no" },
                    if d.honest { "yes" } else { "no" },
                    d.ledger_height,
                    esc(&state)
                );
            }
            b.push_str("</table>\n");
        }
    }
    if !r.lints.is_empty() {
        b.push_str("<h2>Lint warnings</h2>\n<ul id=\"lints\">");
        for l in &r.lints {
            let _ = write!(b, "<li><code>{}</code>: {}</li>", esc(&l.field), esc(&l.warning));
        }
        b.push_str("</ul>\n");
    }
    if !r.windows.is_empty() {
        b.push_str("<h2>Disturbances</h2>\n<ul>");
        for w in &r.windows {
            let until = w.until_ms.map_or("the end".to_string(), |u| format!("{:.3} s", u / 1000.0));
            let _ = write!(b, "<li>{}: {:.3} s to {until}</li>", esc(&w.label), w.from_ms / 1000.0);
        }
        b.push_str("</ul>\n");
    }
    if !r.changes.is_empty() || !r.handoffs.is_empty() {
        validator_sets(&mut b, r);
    }
    for (heading, svg) in figures {
        let _ = writeln!(b, "<h2>{}</h2>\n<div class=\"figure plot\">{}</div>", esc(heading), inline_svg(svg));
    }
    if let Some((heading, svg)) = sequence {
        let _ = writeln!(b, "<h2>{}</h2>\n<div class=\"scroll plot\">{}</div>", esc(heading), inline_svg(svg));
    }
    let names: Vec<String> = r.config.nodes.iter().map(|n| n.name.clone()).collect();
    let narrator =
        Narrator::new(std::io::sink(), names).holding(r.config.nodes.iter().map(|n| n.role.keys()).collect());
    let violations: Vec<_> = r.invariants.iter().flat_map(|i| i.violations.iter()).collect();
    if !violations.is_empty() {
        b.push_str("<h2>Events before each violation</h2>\n");
        let mut anchored = std::collections::BTreeSet::new();
        for v in violations {
            let anchor = if anchored.insert(v.id) { format!(" id=\"violation-{}\"", v.id) } else { String::new() };
            let _ = writeln!(
                b,
                "<h3{anchor}>{} at height {}, {:.3} s: {}</h3>\n<pre>",
                v.id,
                v.height,
                v.time.as_ms_f64() / 1000.0,
                esc(&v.detail)
            );
            for rec in &v.window {
                let _ = writeln!(b, "{}", esc(&narrator.line_of_any(rec)));
            }
            b.push_str("</pre>\n");
        }
    }
    b.push_str("<h2>Summary as printed</h2>\n<pre>");
    b.push_str(&esc(&super::summary::render(r, None)));
    b.push_str("</pre>\n");
    // The page around the body in place: a long run's page is megabytes.
    let start = page_start(&format!("{} seed {}", r.scenario, r.seed));
    b.reserve(start.len() + PAGE_END.len());
    b.insert_str(0, &start);
    b.push_str(PAGE_END);
    b
}

/// The scheduled changes, what became of each, and the hand-offs they made.
fn validator_sets(b: &mut String, r: &Report) {
    let _ = writeln!(b, "<h2>Validator-set changes</h2>");
    if let Some(note) = &r.branch {
        let _ = writeln!(b, "<p id=\"branch\" class=\"bad\">{}</p>", esc(note));
    }
    if !r.changes.is_empty() {
        b.push_str("<table id=\"changes\"><tr><th>#</th><th>change</th><th>status</th><th>submitted</th><th>via</th><th>decided in</th><th>in effect from</th></tr>\n");
        let height = |h: Option<u32>| h.map_or("—".to_string(), |h| format!("h{h}"));
        for c in &r.changes {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                c.index,
                esc(&c.change),
                match c.no_effect {
                    Some(why) => format!("no effect: {}", esc(why)),
                    None => c.status.to_string(),
                },
                c.submitted_ms.map_or("—".to_string(), |t| format!("{:.3} s", t / 1000.0)),
                esc(&c.via),
                height(c.decided_height),
                height(c.effective_height),
            );
        }
        b.push_str("</table>\n");
    }
    if !r.handoffs.is_empty() {
        b.push_str("<table id=\"handoffs\"><tr><th>first height of the new set</th><th>joined</th><th>left</th><th>N</th><th>latency</th></tr>\n");
        for h in &r.handoffs {
            let _ = writeln!(
                b,
                "<tr><td>h{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
                h.height,
                esc(&h.joined.join(", ")),
                esc(&h.left.join(", ")),
                h.old.len(),
                h.new.len(),
                h.latency_ms.map_or("not final by the end".to_string(), |l| format!("{l:.0} ms")),
            );
        }
        b.push_str("</table>\n");
    }
}

/// The scenario's expectations (or the default ones), each with whether the run met it.
fn expectations(b: &mut String, r: &Report) {
    let items = super::expect::items(&r.config, r);
    let _ = writeln!(b, "<h2>Expectations</h2>");
    if items.is_empty() {
        b.push_str("<p>The scenario expects nothing of this run.</p>\n");
        return;
    }
    b.push_str(
        "<table id=\"expectations\"><tr><th>expectation</th><th>met</th><th>what the run did instead</th></tr>\n",
    );
    for i in items {
        let met = i.mismatches.is_empty();
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(&i.what),
            if met { "ok" } else { "bad" },
            if met { "yes" } else { "no" },
            esc(&i.mismatches.join("; "))
        );
    }
    b.push_str("</table>\n");
}

/// One run of a batch.
pub struct BatchRow {
    pub scenario: String,
    pub seed: u64,
    pub outcome: String,
    pub as_expected: bool,
    pub digest: String,
    /// Extra text (the stall class, the first mismatch).
    pub detail: String,
    /// A link to the run's own page or report, relative to the batch page.
    pub link: Option<String>,
}

/// How many runs a batch page speaks for: all of them, though it may list only some.
#[derive(Clone, Debug, Default)]
pub struct BatchTotals {
    pub runs: u64,
    pub failed: u64,
    /// Runs by outcome (`ok`, `stall`, `liveness-violation`, ...), over the whole batch: a
    /// sweep passes runs that stall (dBFT promises no liveness under Byzantine behaviour),
    /// and "as expected" alone would hide them.
    pub outcomes: std::collections::BTreeMap<String, u64>,
}

/// A scenario file of the batch that could not be read: (its name, why).
pub type Unreadable = (String, String);

/// A page listing many runs (for `check` and `swarm`), failures first. `totals` counts
/// the whole batch; `rows` may be a bounded selection of it.
pub fn batch_page(title: &str, rows: &[&BatchRow], totals: BatchTotals, unreadable: &[Unreadable]) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<h1>{}</h1>", esc(title));
    // A file that could not be read is a failure of the batch (exit 2), never hidden.
    let errors = if unreadable.is_empty() {
        String::new()
    } else {
        format!("; {} scenario file{} unreadable", unreadable.len(), if unreadable.len() == 1 { "" } else { "s" })
    };
    let _ = writeln!(
        b,
        "<p id=\"outcome\"><span class=\"{}\">{} of {} runs as expected{errors}</span></p>",
        if totals.failed == 0 && unreadable.is_empty() { "ok" } else { "bad" },
        totals.runs - totals.failed,
        totals.runs
    );
    if !totals.outcomes.is_empty() {
        let counts: Vec<String> = totals
            .outcomes
            .iter()
            .map(|(o, n)| format!("<span class=\"{}\">{}</span> {n}", if o == "ok" { "ok" } else { "warn" }, esc(o)))
            .collect();
        let _ = writeln!(b, "<p id=\"outcomes\">outcomes: {}</p>", counts.join(", "));
    }
    if !unreadable.is_empty() {
        b.push_str("<table id=\"unreadable\"><tr><th>scenario file</th><th>error</th></tr>\n");
        for (name, why) in unreadable {
            let _ = writeln!(b, "<tr><td>{}</td><td class=\"bad\">{}</td></tr>", esc(name), esc(why));
        }
        b.push_str("</table>\n");
    }
    if (rows.len() as u64) < totals.runs {
        let _ = writeln!(b, "<p>{} runs listed, failures first.</p>", rows.len());
    }
    b.push_str("<table><tr><th>scenario</th><th>seed</th><th>outcome</th><th>verdict</th><th>detail</th><th>digest</th></tr>\n");
    // Failures first, then runs that passed without reaching `ok` (stalls a sweep allows).
    let mut order: Vec<&BatchRow> = rows.to_vec();
    order.sort_by_key(|r| (r.as_expected, r.outcome == "ok"));
    for r in order {
        let name = match &r.link {
            Some(l) => format!("<a href=\"{}\">{}</a>", esc(l), esc(&r.scenario)),
            None => esc(&r.scenario),
        };
        let _ = writeln!(
            b,
            "<tr><td>{name}</td><td>{}</td><td class=\"{}\">{}</td><td class=\"{}\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
            r.seed,
            if r.outcome == "ok" { "ok" } else { "warn" },
            esc(&r.outcome),
            if r.as_expected { "ok" } else { "bad" },
            if r.as_expected { "as expected" } else { "NOT AS EXPECTED" },
            esc(&r.detail),
            esc(r.digest.get(..16).unwrap_or(&r.digest))
        );
    }
    b.push_str("</table>\n");
    page(title, &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, ok: bool) -> BatchRow {
        BatchRow {
            scenario: name.into(),
            seed: 1,
            outcome: if ok { "ok".into() } else { "stall".into() },
            as_expected: ok,
            digest: "ab".repeat(32),
            detail: String::new(),
            link: Some(format!("{name}/1/index.html")),
        }
    }

    fn page_of(rel: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
        let spec = crate::scenario::load(&path).unwrap();
        run_page(&Report::build(&spec, &crate::world::run(&spec, spec.seed, None, false)), &[], None)
    }

    /// A fork's page names who double-signed (R0 and R1 run as twins in this scenario,
    /// its description says so), and each violation count links to the events before it.
    #[test]
    fn a_forked_run_page_names_the_double_signers() {
        let html = page_of("scenarios/validators/two-branch-beyond-f-4.json");
        assert!(
            html.contains(
                "<tr><td>h1</td><td class=\"bad\">R0, R1</td><td>1</td><td>yes: more than F signed both</td>"
            ),
            "{html}"
        );
        assert!(html.contains("<a href=\"#violation-S1\">") && html.contains("<h3 id=\"violation-S1\">"));
        assert_eq!(html.matches("id=\"violation-S1\"").count(), 1, "one anchor per invariant");
        // A run that finalised nothing says "none" for its views, not an empty cell.
        let locked = page_of("scenarios/attacks/crash-lock-4.json");
        assert!(locked.contains("<tr><th>heights by final view</th><td>none</td></tr>"), "{locked}");
        assert!(!locked.contains("id=\"accountability\""));
    }

    #[test]
    fn a_run_page_lists_the_changes_and_hand_offs() {
        let spec = crate::scenario::parse(
            r#"{"validators": {"count": 4, "candidates": 1}, "protocol": {"block_time_ms": 1000},
                "changes": [{"do": "join", "node": "C0", "via": "R0", "at_height": 2}],
                "stop": {"heights": 5}}"#,
            "page",
        )
        .unwrap();
        let r = Report::build(&spec, &crate::world::run(&spec, 1, None, false));
        let html = run_page(&r, &[], None);
        assert!(html.contains("<h2>Validator-set changes</h2>"));
        assert!(
            html.contains("<td>0</td><td>join C0</td><td>effective</td>")
                && html.contains("<td>R0</td><td>h3</td><td>h4</td>"),
            "{html}"
        );
        assert!(html.contains("<tr><td>h4</td><td>C0</td><td></td><td>4 → 5</td>"), "{html}");
        let fixed = crate::scenario::parse(r#"{"validators": 4, "stop": {"heights": 2}}"#, "fixed").unwrap();
        let plain = run_page(&Report::build(&fixed, &crate::world::run(&fixed, 1, None, false)), &[], None);
        assert!(!plain.contains("Validator-set changes"));
    }

    #[test]
    fn batch_page_counts_runs_and_lists_failures_first() {
        let rows = [row("a", true), row("b", false), row("c", true)];
        let html = batch_page(
            "suite <all>",
            &rows.iter().collect::<Vec<_>>(),
            BatchTotals { runs: 3, failed: 1, ..Default::default() },
            &[],
        );
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<h1>suite &lt;all&gt;</h1>"), "the title is escaped");
        assert!(html.contains("2 of 3 runs as expected"));
        let (a, b) = (html.find(">a</a>").unwrap(), html.find(">b</a>").unwrap());
        assert!(b < a, "the failed run comes first");
        assert!(html.contains("href=\"b/1/index.html\""));
        assert!(!html.contains("<script"), "pages have no script");
        assert!(!html.contains("runs listed"), "every run is listed");
        let part = batch_page("big", &[&rows[1]], BatchTotals { runs: 5000, failed: 7, ..Default::default() }, &[]);
        assert!(part.contains("4993 of 5000 runs as expected"), "the totals speak for the whole batch");
        assert!(part.contains("1 runs listed, failures first"));
        // An unreadable file turns the page's verdict bad and is listed with its error.
        let bad = ("x.json".to_string(), "validators: <oops>".to_string());
        let with_error = batch_page("e", &[], BatchTotals::default(), std::slice::from_ref(&bad));
        assert!(with_error.contains("<span class=\"bad\">0 of 0 runs as expected; 1 scenario file unreadable</span>"));
        assert!(with_error.contains("<td>x.json</td><td class=\"bad\">validators: &lt;oops&gt;</td>"));
    }
}
