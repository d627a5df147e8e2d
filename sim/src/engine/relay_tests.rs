//! Flood relay at the engine level (engine/mod.rs `deliver_flooded`, `forward`), run on the
//! dBFT world. Each test names the source behaviour it follows (docs/network.md).

use super::trace::{Ev, Halt, Observer, Rec};
use crate::net::DropReason;
use crate::protocol::crypto::Hash32;
use crate::protocol::{MsgKind, NodeId};
use std::collections::BTreeMap;

/// Records which payload each send id carries, and every delivery and drop.
#[derive(Default)]
struct Record {
    sends: BTreeMap<u64, (NodeId, MsgKind, Hash32, u16)>,
    delivered: Vec<(u64, NodeId)>,
    dropped: Vec<(u64, NodeId, DropReason)>,
    /// (sender, type, validator index in the header) of every broadcast.
    broadcasts: Vec<(NodeId, MsgKind, u16)>,
}

impl Observer for Record {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        match &rec.ev {
            Ev::Send { id, from, to, meta, .. } => {
                self.sends.insert(*id, (*from, meta.kind, meta.hash, meta.validator));
                if to.is_none() {
                    self.broadcasts.push((*from, meta.kind, meta.validator));
                }
            }
            Ev::Deliver { id, to, .. } => self.delivered.push((*id, *to)),
            Ev::Drop { id, to, reason, .. } => self.dropped.push((*id, *to, *reason)),
            _ => {}
        }
        None
    }
}

fn run(json: &str) -> (Record, crate::world::RunResult) {
    let spec = crate::scenario::parse(json, "t").unwrap();
    let mut rec = Record::default();
    let res = crate::world::run(&spec, 1, Some(&mut rec), false);
    (rec, res)
}

/// neo-go Server.handleExtensibleCmd / extpool.Pool.Add (de-dup by hash, own payloads put
/// in the pool by BroadcastExtensible): under flood no replica sees a consensus payload
/// twice, even with a lossy, duplicating network, while every payload is relayed on.
#[test]
fn under_flood_a_replica_never_sees_a_payload_twice() {
    let (rec, res) =
        run(r#"{"validators": 7, "network": {"preset": "lan", "relay": "flood", "duplicate": 0.3, "loss": 0.05},
            "stop": {"heights": 4}}"#);
    assert!(res.ledger_heights.iter().all(|&h| h >= 4), "{:?}", res.ledger_heights);
    let mut seen: BTreeMap<(NodeId, Hash32), u32> = BTreeMap::new();
    for (id, to) in &rec.delivered {
        let (_, kind, hash, _) = rec.sends[id];
        if kind.is_consensus() {
            *seen.entry((*to, hash)).or_default() += 1;
        }
    }
    assert!(!seen.is_empty());
    assert!(seen.values().all(|&c| c == 1), "a replica got a consensus payload twice");
    assert!(rec.dropped.iter().any(|d| d.2 == DropReason::Duplicate));
    assert!(res.marks.get("relay: forwarded").copied().unwrap_or(0) > 0);
    // Under direct the network's duplicates reach the replica.
    let (rec, _) = run(r#"{"validators": 7, "network": {"preset": "lan", "duplicate": 0.3}, "stop": {"heights": 4}}"#);
    let mut seen: BTreeMap<(NodeId, Hash32), u32> = BTreeMap::new();
    for (id, to) in &rec.delivered {
        let (_, kind, hash, _) = rec.sends[id];
        if kind.is_consensus() {
            *seen.entry((*to, hash)).or_default() += 1;
        }
    }
    assert!(seen.values().any(|&c| c > 1));
    assert!(rec.dropped.iter().all(|d| d.2 != DropReason::Duplicate));
}

/// Byzantine relays may drop: the engine never makes a Byzantine node forward another
/// validator's payload; honest nodes forward a payload they got from one peer to their
/// other peers only (C# RemoteNode.OnRelay sends an Inv to every peer, the originating one
/// already knows the hash).
#[test]
fn byzantine_nodes_do_not_relay_and_honest_relays_skip_the_sender() {
    let (rec, _) =
        run(r#"{"validators": 4, "network": {"preset": "ideal", "relay": "flood"}, "workload": {"tx_rate_per_s": 0},
            "byzantine": [{"node": "R1", "behaviours": [{"kind": "selective-delivery", "to": ["R2"]}]}],
            "stop": {"heights": 2}}"#);
    for (from, kind, _, validator) in rec.sends.values() {
        if *from == NodeId(1) && kind.is_consensus() {
            assert_eq!(*validator, 1, "R1 (Byzantine) forwarded someone else's payload");
        }
    }
    // R1's payloads reach R0 and R3 only through relays (R1 sends to R2 alone).
    let r1_payload_at_r0 = rec.delivered.iter().any(|(id, to)| {
        let (from, kind, _, validator) = rec.sends[id];
        *to == NodeId(0) && kind.is_consensus() && validator == 1 && from != NodeId(1)
    });
    assert!(r1_payload_at_r0);
    // A forwarded copy never goes straight back to the peer it came from: no duplicate
    // drop at R1 of its own payload relayed by R2 (R2 got it from R1).
    for (id, to, reason) in &rec.dropped {
        let (from, kind, _, validator) = rec.sends[id];
        if *reason == DropReason::Duplicate && *to == NodeId(1) && from == NodeId(2) && kind.is_consensus() {
            assert_ne!(validator, 1);
        }
    }
}

/// Neo relays blocks only after persisting them (C# Blockchain.OnNewBlock, neo-go
/// relayBlocksLoop): on a ring, a block assembled at one end reaches the far side through
/// relays, so every node persists every height.
#[test]
fn on_a_ring_blocks_and_payloads_travel_by_relay() {
    let (rec, res) =
        run(r#"{"validators": 7, "network": {"preset": "ideal", "relay": "flood", "topology": {"kind": "ring"}},
            "stop": {"heights": 3}}"#);
    assert!(res.ledger_heights.iter().all(|&h| h >= 3), "{:?}", res.ledger_heights);
    // Under flood a node broadcasts to its two ring neighbours only: every delivery of a
    // gossiped message is one hop.
    for (id, to) in &rec.delivered {
        let (from, kind, ..) = rec.sends[id];
        if !kind.is_gossiped() {
            continue;
        }
        let d = (from.0 as i64 - to.0 as i64).rem_euclid(7);
        assert!(d == 1 || d == 6, "{from} -> {to} is not a ring link");
    }
    // Some node other than the block's assembler (the primary) re-broadcast a block.
    assert!(rec.broadcasts.iter().any(|&(from, kind, primary)| kind == MsgKind::Block && from.0 != primary as u32));
}

/// neo-go extpool resendDispatcher (`network.resend_ms`): the primary whose PrepareRequest
/// was lost on every link re-sends it once nothing new has reached it for the interval;
/// without the option it is never sent again.
#[test]
fn the_resend_dispatcher_re_sends_a_payload_lost_on_every_link() {
    let scenario = |resend: &str| {
        format!(
            r#"{{"validators": 4, "protocol": {{"semantics": "csharp"}}, "workload": {{"tx_rate_per_s": 0}},
                "network": {{"preset": "ideal", "latency": {{"dist": "constant", "ms": 100}}, "relay": "flood"{resend}}},
                "rules": [{{"match": {{"types": ["PrepareRequest"], "height": 1, "view": 0, "until_ms": 15500}},
                           "action": {{"do": "drop"}}}}],
                "stop": {{"heights": 1, "duration_ms": 600000}}}}"#
        )
    };
    let request_sends = |rec: &Record, times: &BTreeMap<u64, u64>| -> Vec<u64> {
        rec.sends
            .iter()
            .filter(|(_, s)| s.0 == NodeId(1) && s.1 == MsgKind::PrepareRequest && s.3 == 1)
            .map(|(id, _)| times[id])
            .collect()
    };
    for (resend, expect) in [("", vec![15_000_000]), (r#", "resend_ms": 7500"#, vec![15_000_000, 22_500_000])] {
        let spec = crate::scenario::parse(&scenario(resend), "t").unwrap();
        let mut rec = Timed::default();
        let res = crate::world::run(&spec, 1, Some(&mut rec), false);
        assert!(res.ledger_heights.iter().all(|&h| h >= 1));
        assert_eq!(request_sends(&rec.rec, &rec.times), expect, "resend {resend:?}");
    }
}

/// `Record` plus the time of every send.
#[derive(Default)]
struct Timed {
    rec: Record,
    times: BTreeMap<u64, u64>,
}

impl Observer for Timed {
    fn observe(&mut self, r: &Rec) -> Option<Halt> {
        if let Ev::Send { id, .. } = &r.ev {
            self.times.insert(*id, r.time.0);
        }
        self.rec.observe(r)
    }
}
