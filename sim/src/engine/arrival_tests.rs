//! Kept-back transaction arrivals (`Engine::keep_back`) change nothing a replica sees: the
//! same runs with every arrival queued as an event give the same records apart from the
//! `Tx` records left out, and every replica ends in the same state.

use super::trace::{Ev, Halt, Observer, Rec};
use crate::protocol::{NodeId, Replica};
use crate::world;
use std::path::Path;

/// Every record but arrivals, as (time, event) text; and the arrivals, as (time, node, tx).
#[derive(Default)]
struct Log {
    other: Vec<String>,
    txs: Vec<(u64, u32, u64)>,
}

impl Observer for Log {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        match &rec.ev {
            Ev::Tx { node, tx } => self.txs.push((rec.time.0, node.0, *tx)),
            ev => self.other.push(format!("{} {}", rec.time.0, serde_json::to_string(ev).unwrap())),
        }
        None
    }
}

/// A busy heavy-tailed network: at 100 transactions a second a primary often proposes one
/// that has not yet reached a backup when its PrepareRequest does, so the backup waits for
/// it and the arrival matters (it must stay an event).
const BUSY: &str = r#"{"validators": 7, "protocol": {"block_time_ms": 2000}, "network": {"preset": "heavy-tail"},
    "workload": {"tx_rate_per_s": 100}, "stop": {"heights": 8}}"#;

/// (records, final time, replica state hashes) of one run of a bundled scenario (or of
/// [`BUSY`]).
fn run(path: &str, seed: u64, keep_back: bool) -> (Log, u64, Vec<String>) {
    let spec = if path == "busy" {
        crate::scenario::parse(BUSY, "busy").unwrap()
    } else {
        crate::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
    };
    let mut log = Log::default();
    let (end, states, _) = run_observed(&spec, seed, |e| e.keep_back_arrivals = keep_back, &mut log);
    (log, end, states)
}

/// Two runs of `path` agree on every record but those of `left_out`, on the end and on
/// every replica's final state: (records, end, state hashes) with a mechanism on and off.
pub(super) fn assert_same_run(
    path: &str,
    left_out: &str,
    on: (&[String], u64, &[String]),
    off: (&[String], u64, &[String]),
) {
    assert_eq!(on.0.len(), off.0.len(), "{path}: record count");
    for (i, (a, b)) in on.0.iter().zip(off.0).enumerate() {
        assert_eq!(a, b, "{path}: record {i} ({left_out} left out)");
    }
    assert_eq!(on.1, off.1, "{path}: end of the run");
    assert_eq!(on.2, off.2, "{path}: replica states at the end");
}

/// Runs `spec` (with its liveness phase) at `seed` on an engine `set` adjusts, for `obs`:
/// the final time, every replica's state hash, and the engine's handed-over deliveries.
pub(super) fn run_observed(
    spec: &crate::scenario::RunSpec,
    seed: u64,
    set: impl FnOnce(&mut super::Engine<crate::byzantine::Node>),
    obs: &mut dyn Observer,
) -> (u64, Vec<String>, [(u64, u64); crate::protocol::MsgKind::ALL.len()]) {
    let spec = crate::phases::liveness_phase(spec);
    let mut w = world::build(&spec, seed);
    set(&mut w.engine);
    w.engine.run(obs);
    let e = &w.engine;
    let states = (0..e.node_count()).map(|i| e.replica(NodeId(i as u32)).state_hash().to_hex()).collect();
    (e.now().0, states, *e.ignored_deliveries())
}

#[test]
fn kept_back_arrivals_change_only_the_arrival_records() {
    // A busy network where backups wait for proposed transactions, a happy run, a crash and restart with amnesia, drifting clocks, a Byzantine node,
    // flood relay with transaction fetching, a withheld window, Go semantics.
    let cases = [
        ("scenarios/happy-7.json", 1),
        ("scenarios/faults/crash-restart-amnesia-7.json", 1),
        ("scenarios/faults/clock-drift-7.json", 1),
        ("scenarios/attacks/selective-delivery-7.json", 1),
        ("scenarios/fidelity/fetch-from-peer-flood-4.json", 1),
        ("scenarios/fidelity/withhold-window-4.json", 1),
        ("scenarios/baseline/happy-go-7.json", 2),
        ("busy", 1),
    ];
    let mut kept = 0;
    for (path, seed) in cases {
        let (on, on_end, on_states) = run(path, seed, true);
        let (off, off_end, off_states) = run(path, seed, false);
        assert_same_run(path, "arrival records", (&on.other, on_end, &on_states), (&off.other, off_end, &off_states));
        // The arrivals still recorded are recorded as before, at the same times.
        let all: std::collections::BTreeSet<_> = off.txs.iter().collect();
        assert!(on.txs.iter().all(|t| all.contains(t)), "{path}: an arrival record that the queued run lacks");
        kept += off.txs.len() - on.txs.len();
    }
    // The runs did keep arrivals back (else this compared a run with itself).
    assert!(kept > 1000, "only {kept} arrivals kept back");
}
