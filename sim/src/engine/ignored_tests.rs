//! Deliveries handed over at the send because their recipient ignores them for good
//! (`Engine::ignored_for_good`: a block of a height the recipient has persisted) change
//! nothing a replica sees: the same runs with every delivery queued as an event give the
//! same records apart from those deliveries, every replica ends in the same state, and
//! each delivery left out is a block reaching a node that had persisted its height.

use super::arrival_tests::{assert_same_run, run_observed};
use super::trace::{Ev, Halt, Observer, Rec};
use crate::protocol::MsgKind;
use crate::world;
use std::collections::BTreeMap;
use std::path::Path;

/// Every record but block deliveries, as (time, event) text; the block deliveries as
/// (time, id, recipient, duplicate), each with whether the recipient had persisted the
/// block's height by then (from the run's own Send and Persist records).
#[derive(Default)]
struct Log {
    other: Vec<String>,
    blocks: Vec<((u64, u64, u32, bool), bool)>,
    block_height: BTreeMap<u64, u32>,
    persisted: BTreeMap<u32, u32>,
}

impl Observer for Log {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        match &rec.ev {
            Ev::Deliver { id, to, kind: MsgKind::Block, dup, .. } => {
                let had = self.persisted.get(&to.0).copied().unwrap_or(0) >= self.block_height[id];
                self.blocks.push(((rec.time.0, *id, to.0, *dup), had));
                return None;
            }
            Ev::Send { id, meta, .. } if meta.kind == MsgKind::Block => {
                self.block_height.insert(*id, meta.height);
            }
            Ev::Persist { node, block } => {
                let h = self.persisted.entry(node.0).or_insert(0);
                *h = (*h).max(block.height());
            }
            _ => {}
        }
        self.other.push(format!("{} {}", rec.time.0, serde_json::to_string(&rec.ev).unwrap()));
        None
    }
}

/// (records, final time, replica state hashes, block copies handed over) of one run of a
/// bundled scenario.
fn run(path: &str, seed: u64, hand_over: bool) -> (Log, u64, Vec<String>, u64) {
    let spec = crate::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap();
    let mut log = Log::default();
    let (end, states, ignored) = run_observed(&spec, seed, |e| e.hand_over_ignored = hand_over, &mut log);
    let (copies, _) = ignored[MsgKind::Block.index()];
    assert!(ignored.iter().enumerate().all(|(k, c)| k == MsgKind::Block.index() || c.0 == 0));
    (log, end, states, copies)
}

#[test]
fn ignored_deliveries_change_only_their_own_records() {
    // A happy run, loss, duplication, a partition, a crash and restart with amnesia, a
    // Byzantine node, flood relay (never handed over), Go semantics.
    let cases = [
        ("scenarios/happy-7.json", 1),
        ("scenarios/lossy-7.json", 1),
        ("scenarios/baseline/duplicating-7.json", 1),
        ("scenarios/faults/crash-and-partition-7.json", 2),
        ("scenarios/faults/crash-restart-amnesia-7.json", 1),
        ("scenarios/attacks/selective-delivery-7.json", 1),
        ("scenarios/fidelity/equivocation-relay-lock-4.json", 67),
        ("scenarios/baseline/happy-go-7.json", 2),
    ];
    let mut handed = 0;
    for (path, seed) in cases {
        let (on, on_end, on_states, copies) = run(path, seed, true);
        let (off, off_end, off_states, none) = run(path, seed, false);
        assert_eq!(none, 0, "{path}: handed over with the mechanism off");
        assert_same_run(path, "block deliveries", (&on.other, on_end, &on_states), (&off.other, off_end, &off_states));
        // The block deliveries still recorded are recorded as before; every one left out
        // reached a node that had persisted the block's height, and was counted.
        let recorded: std::collections::BTreeSet<_> = on.blocks.iter().map(|b| b.0).collect();
        let mut left_out = 0;
        for (d, had) in &off.blocks {
            if !recorded.contains(d) {
                assert!(had, "{path}: a block delivery left out at a node without the height: {d:?}");
                left_out += 1;
            }
        }
        assert_eq!(on.blocks.len() + left_out, off.blocks.len(), "{path}: a recorded delivery the queued run lacks");
        // Counted exactly as the queued run delivered them.
        assert_eq!(copies, left_out as u64, "{path}: {copies} counted, {left_out} left out");
        handed += left_out;
    }
    assert!(handed > 100, "only {handed} deliveries handed over");
}

/// A rule that fits a block copy keeps it an event, and the copies no rule fits are handed
/// over as without rules. The rule delays block copies to R0 by 0 ms, which changes no
/// time: R0's block deliveries must be recorded exactly as with the mechanism off, the
/// other nodes' exactly as with it on (and no draw moves, or nothing would match).
#[test]
fn a_copy_a_rule_fits_is_never_handed_over() {
    let run_with = |rules: &str, hand_over: bool| {
        let mut spec =
            crate::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/happy-7.json")).unwrap();
        spec.rules = crate::scenario::parse(&format!(r#"{{"validators": 7, "rules": [{rules}]}}"#), "x").unwrap().rules;
        let mut w = world::build(&spec, 1);
        w.engine.hand_over_ignored = hand_over;
        let mut log = Log::default();
        w.engine.run(&mut log);
        (log, w.engine.rule_stats().to_vec())
    };
    let rule = r#"{"match": {"types": ["Block"], "to": ["R0"]}, "action": {"do": "delay", "ms": 0}}"#;
    let (ruled, stats) = run_with(rule, true);
    let (on, _) = run_with("", true);
    let (off, _) = run_with("", false);
    let at = |l: &Log, r0: bool| -> Vec<(u64, u64, u32, bool)> {
        l.blocks.iter().map(|b| b.0).filter(|d| (d.2 == 0) == r0).collect()
    };
    assert!(stats[0].matched > 0);
    assert_eq!(at(&ruled, true), at(&off, true), "R0's block copies are all recorded");
    assert!(at(&on, true).len() < at(&off, true).len(), "without the rule some to R0 are handed over");
    assert_eq!(at(&ruled, false), at(&on, false), "the others' are handed over as without the rule");
}
