//! Flooded copies dropped at the send as certain duplicates (`Engine::certain_duplicate`:
//! the recipient's relay cache holds the hash and nothing can empty it before the
//! arrival) change nothing but their own drop records: the same runs with every copy
//! queued give the same other records and the same final replica states, and each drop
//! left out is counted, by type, exactly once.

use super::arrival_tests::assert_same_run;
use super::trace::{Ev, Halt, Observer, Rec};
use crate::net::DropReason;
use crate::protocol::{MsgKind, NodeId, Replica};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every record but duplicate drops, as (time, event) text; the duplicate drops as
/// (time, id, recipient, type index).
#[derive(Default)]
struct Log {
    other: Vec<String>,
    dups: Vec<(u64, u64, u32, usize)>,
}

impl Observer for Log {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        if let Ev::Drop { id, to, kind, reason: DropReason::Duplicate, .. } = &rec.ev {
            self.dups.push((rec.time.0, *id, to.0, kind.index()));
            return None;
        }
        self.other.push(format!("{} {}", rec.time.0, serde_json::to_string(&rec.ev).unwrap()));
        None
    }
}

fn spec_of(source: &str) -> crate::scenario::RunSpec {
    if source.starts_with('{') {
        crate::scenario::parse(source, "flood").unwrap()
    } else {
        crate::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(source)).unwrap()
    }
}

/// What one run gives: (records, end, replica states, duplicates dropped without a record
/// per type, coverage marks).
type Run = (Log, u64, Vec<String>, [u64; MsgKind::ALL.len()], BTreeMap<&'static str, u64>);

/// One run with the mechanism on or off.
fn run(source: &str, seed: u64, hand_over: bool) -> Run {
    let spec = spec_of(source);
    let spec = crate::phases::liveness_phase(&spec);
    let mut w = crate::world::build(&spec, seed);
    w.engine.hand_over_duplicates = hand_over;
    let mut log = Log::default();
    w.engine.run(&mut log);
    let e = &w.engine;
    // Under flood no copy is handed over as ignored (a flooded delivery fills the cache).
    assert!(e.ignored_deliveries().iter().all(|c| c.0 == 0), "{source}: a flooded delivery handed over as ignored");
    let states = (0..e.node_count()).map(|i| e.replica(NodeId(i as u32)).state_hash().to_hex()).collect();
    (log, e.now().0, states, *e.unrecorded_duplicate_drops(), e.all_marks())
}

#[test]
fn certain_duplicates_change_only_their_own_drop_records() {
    // Happy gossip on a mesh and on an overlay, loss with neo-go's resend, network
    // duplicates, crashes (a crash empties the cache: a node with one ahead keeps every
    // copy an event), a Byzantine node that never forwards, an equivocating primary.
    let cases = [
        (r#"{"validators": 7, "network": {"relay": "flood"}, "stop": {"heights": 6}}"#, 1),
        (
            r#"{"validators": 10, "network": {"relay": "flood", "topology": {"kind": "random-regular", "degree": 2}},
                "stop": {"heights": 4}}"#,
            1,
        ),
        (
            r#"{"validators": 7, "network": {"preset": "lan", "relay": "flood", "duplicate": 0.3, "loss": 0.05},
                "stop": {"heights": 6}}"#,
            2,
        ),
        (
            r#"{"validators": 7, "network": {"relay": "flood"},
                "faults": {"crashes": [{"node": "R2", "at_ms": 20000, "restart_ms": 50000}]}, "stop": {"heights": 8}}"#,
            1,
        ),
        // R0 crashes at the very instant R2 restarts and re-sends its saved Commit: a
        // crash due now may still be queued, so the copy to R0 is not a certain duplicate
        // (R0's cache empties, and the copy reaches its replica after R0's restart).
        (
            r#"{"validators": 4, "network": {"relay": "flood"}, "faults": {"crashes": [
                {"node": "R2", "at_ms": 15200, "restart_ms": 16000}, {"node": "R0", "at_ms": 16000, "restart_ms": 16001}]},
                "stop": {"heights": 3}}"#,
            1,
        ),
        ("scenarios/fidelity/resend-repairs-loss-flood-4.json", 1),
        ("scenarios/fidelity/selective-delivery-flood-4.json", 1),
        ("scenarios/fidelity/equivocation-relay-lock-4.json", 67),
    ];
    let mut handed = 0;
    for (source, seed) in cases {
        let name = if source.starts_with('{') { "inline flood scenario" } else { source };
        let (on, on_end, on_states, unrecorded, on_marks) = run(source, seed, true);
        let (off, off_end, off_states, none, off_marks) = run(source, seed, false);
        // The coverage marks count the duplicates left out as the queued run counted them.
        assert_eq!(on_marks, off_marks, "{name}: coverage marks");
        assert_eq!(none, [0; MsgKind::ALL.len()], "{name}: dropped without a record with the mechanism off");
        assert_same_run(name, "duplicate drops", (&on.other, on_end, &on_states), (&off.other, off_end, &off_states));
        // Every duplicate drop still recorded is one the queued run recorded too, and per
        // type the ones left out are exactly the ones counted.
        let recorded: BTreeSet<_> = on.dups.iter().copied().collect();
        let queued: BTreeSet<_> = off.dups.iter().copied().collect();
        assert!(recorded.is_subset(&queued), "{name}: a duplicate drop the queued run lacks");
        for (k, &counted) in unrecorded.iter().enumerate() {
            let left_out = queued.iter().filter(|d| d.3 == k && !recorded.contains(d)).count() as u64;
            assert_eq!(counted, left_out, "{name}: {:?}: counted vs left out", MsgKind::ALL[k]);
            handed += left_out;
        }
    }
    assert!(handed > 1_000, "only {handed} duplicate drops handed over");
}

/// A node with a crash ahead loses its cache in the crash, so a copy that would be a
/// duplicate now may be new when it arrives: none of its copies is dropped at the send
/// before the crash, while a node without one has copies dropped there.
#[test]
fn no_copy_to_a_node_with_a_crash_ahead_is_dropped_at_the_send() {
    let source = r#"{"validators": 7, "network": {"relay": "flood"},
        "faults": {"crashes": [{"node": "R2", "at_ms": 60000}]}, "stop": {"heights": 3}}"#;
    let (on, ..) = run(source, 1, true);
    let (off, ..) = run(source, 1, false);
    let left_out = |to: u32| off.dups.iter().filter(|d| d.2 == to && !on.dups.contains(d)).count();
    assert!(off.dups.iter().any(|d| d.2 == 2), "R2 gets duplicates before its crash");
    assert_eq!(left_out(2), 0, "a copy to R2 (crash ahead) left out");
    assert!(left_out(3) > 0, "no copy to R3 left out");
}

/// A run that goes quiet while copies dropped at the send are still travelling ends where
/// the queued run ends: at the last of them. Seven toy nodes gossip 3 pings each over a
/// lossless LAN mesh and stop; the last events of the queued run are duplicate drops, most
/// of them known at the send (pings go out every 0.1 ms, well inside the latency, so the
/// nodes fall silent long before their copies land).
#[test]
fn a_quiet_run_ends_at_the_last_copy_dropped_at_the_send() {
    use super::clock::Clock;
    use super::rng::{SimRng, Stream};
    use super::time::SimTime;
    use super::{Engine, NodeSetup, StopCondition, StopReason};
    use crate::net::{Network, NetworkOptions, Relay};
    use crate::protocol::crypto::Keyring;
    use crate::protocol::toy::Toy;
    use std::rc::Rc;
    let run = |hand_over: bool, until: SimTime| {
        let mut opts = NetworkOptions::preset("lan").unwrap();
        opts.relay = Relay::Flood;
        let mut topo = SimRng::derive(3, Stream::Network);
        let net = Network::new(opts, 7, SimRng::derive(3, Stream::Network), &mut topo);
        let nodes = (0..7)
            .map(|i| {
                let toy = Toy { gossip: true, ..Toy::new(i, 100, 3) };
                (toy, NodeSetup { honest: true, clock: Clock::default() })
            })
            .collect();
        let stop = StopCondition { until, heights: None };
        let mut e: Engine<Toy> = Engine::new(nodes, net, Rc::new(Keyring::generate(3, 7)), None, stop);
        e.hand_over_duplicates = hand_over;
        let mut log = Log::default();
        let reason = e.run(&mut log);
        let unrecorded: u64 = e.unrecorded_duplicate_drops().iter().sum();
        (reason, e.now(), log, unrecorded)
    };
    let minute = SimTime::from_secs(60);
    let (on_reason, on_end, on, unrecorded) = run(true, minute);
    let (off_reason, off_end, off, _) = run(false, minute);
    assert_eq!(off_reason, StopReason::Quiescent);
    assert_eq!(on_reason, StopReason::Quiescent);
    assert!(unrecorded > 0, "nothing dropped at the send");
    assert_eq!(on.other, off.other, "records besides duplicate drops");
    // The queued run's last record is a duplicate drop the other run left out.
    let last = off.dups.last().map(|d| SimTime(d.0));
    assert!(last.is_some_and(|t| t > SimTime(on.dups.last().map_or(0, |d| d.0))), "the last drop was recorded");
    assert_eq!(on_end, off_end, "end of the run");
    // A time limit after every event the run with the mechanism records, but before the
    // last drop it left out: the queued run still has that drop in its queue and stops at
    // the limit, and so must the other (its queue is empty there), counting only the
    // copies that arrived by then.
    let last_other = on.other.last().and_then(|r| r.split(' ').next()?.parse::<u64>().ok()).unwrap_or(0);
    let last_recorded = last_other.max(on.dups.last().map_or(0, |d| d.0));
    let until = SimTime((last_recorded + off_end.0) / 2);
    assert!(
        last_recorded < until.0 && until < off_end,
        "a limit between the two: {last_recorded} {until:?} {off_end:?}"
    );
    let (on_reason, on_end, on, unrecorded) = run(true, until);
    let (off_reason, off_end, off, _) = run(false, until);
    assert_eq!((on_reason, off_reason), (StopReason::Duration, StopReason::Duration));
    assert_eq!(on_end, off_end);
    let left_out = off.dups.iter().filter(|d| !on.dups.contains(d)).count() as u64;
    assert_eq!(unrecorded, left_out, "counted only up to the limit");
}
