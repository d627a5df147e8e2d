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
    let spec = crate::phases::liveness_phase(&spec);
    let mut w = world::build(&spec, seed);
    w.engine.keep_back_arrivals = keep_back;
    let mut log = Log::default();
    w.engine.run(&mut log);
    let e = &w.engine;
    let states = (0..e.node_count()).map(|i| e.replica(NodeId(i as u32)).state_hash().to_hex()).collect();
    (log, e.now().0, states)
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
        assert_eq!(on.other.len(), off.other.len(), "{path}: record count");
        for (i, (a, b)) in on.other.iter().zip(&off.other).enumerate() {
            assert_eq!(a, b, "{path}: record {i} (arrival records left out)");
        }
        assert_eq!(on_end, off_end, "{path}: end of the run");
        assert_eq!(on_states, off_states, "{path}: replica states at the end");
        // The arrivals still recorded are recorded as before, at the same times.
        let all: std::collections::BTreeSet<_> = off.txs.iter().collect();
        assert!(on.txs.iter().all(|t| all.contains(t)), "{path}: an arrival record that the queued run lacks");
        kept += off.txs.len() - on.txs.len();
    }
    // The runs did keep arrivals back (else this compared a run with itself).
    assert!(kept > 1000, "only {kept} arrivals kept back");
}
