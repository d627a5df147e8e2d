//! A replica whose ledger already holds heights 1 … 4 when it starts (`start_height` 5):
//! what real nodes derive from their ledger at start (C# `ConsensusContext.Reset`, Go
//! `context.go` `reset` and `dbft.go` `initializeConsensus`), checked one handler call at
//! a time.

use super::message::{Body, ConsensusMessage, Wire};
use super::semantics::Semantics;
use super::*;
use crate::engine::time::SimTime;
use crate::protocol::crypto::{KeyId, Keyring};
use crate::protocol::prefix::chain_prefix;
use crate::protocol::{Action, Cx, MsgKind, WireMessage};
use crate::validators::ValidatorSet;

const T: u64 = 1_000_000;
const N: u32 = 4;

struct Kit {
    ring: Keyring,
    opts: Rc<DbftOptions>,
    genesis: Rc<Block>,
    prefix: Vec<Rc<Block>>,
}

impl Kit {
    fn new(semantics: Semantics, start_height: u32) -> Kit {
        let ring = Keyring::generate(11, N as usize);
        let set = Rc::new(ValidatorSet::new((0..N).map(KeyId).collect()));
        let genesis = Rc::new(Block::genesis(set));
        let prefix = chain_prefix(&genesis, &ring, start_height);
        Kit { opts: Rc::new(DbftOptions::for_test(T, semantics, 100)), ring, genesis, prefix }
    }

    fn replica(&self, i: u32) -> DbftReplica {
        DbftReplica::on_chain(
            NodeId(i),
            self.ring.keypair(KeyId(i)),
            self.opts.clone(),
            self.genesis.clone(),
            &self.prefix,
        )
    }
}

/// Starts `r` at time 0: the consensus messages it sent and the last timer it set.
fn start(k: &Kit, r: &mut DbftReplica) -> (Vec<MsgKind>, Option<SimTime>) {
    let mut buf = Vec::new();
    let mut cx = Cx::new(SimTime::ZERO, &k.ring, &mut buf);
    r.on_start(&mut cx);
    let mut sent = Vec::new();
    let mut timer = None;
    for a in buf {
        match a {
            Action::Broadcast(w) | Action::Send(_, w) => sent.push(w.meta().kind),
            Action::SetTimer { at, .. } => timer = Some(at),
            _ => {}
        }
    }
    (sent, timer)
}

#[test]
fn the_height_and_primary_come_from_the_ledger() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(sem, 5);
        for i in 0..N {
            let mut r = k.replica(i);
            start(&k, &mut r);
            // C# Reset: Block.Index = current height + 1; Go reset: CurrentHeight() + 1.
            assert_eq!((r.ledger.height(), r.ctx.height, r.ctx.view), (4, 5, 0), "{sem:?} R{i}");
            assert_eq!(r.ctx.prev_hash, k.prefix[3].hash, "{sem:?} R{i}: the proposal links to block 4");
            // GetPrimaryIndex: (h − v) mod N = 5 mod 4 = 1, as at height 1.
            assert_eq!(r.ctx.primary(), 1, "{sem:?} R{i}");
        }
    }
}

#[test]
fn csharp_counts_nobody_lost_at_start_and_go_counts_everyone_else() {
    // C# Reset fills LastSeenMessage with the ledger's height for every validator, and
    // CountFailed counts those below Block.Index − 1 = 4: nobody. Go's reset starts every
    // entry unknown, and CountFailed counts an unknown validator without a Commit as lost.
    let cs = Kit::new(Semantics::CSharp, 5);
    let mut r = cs.replica(0);
    start(&cs, &mut r);
    assert_eq!(r.count_failed(), 0);
    let go = Kit::new(Semantics::Go, 5);
    let mut r = go.replica(0);
    start(&go, &mut r);
    assert_eq!(r.count_failed(), (N - 1) as usize);
}

#[test]
fn go_fires_the_zero_timer_at_height_1_only() {
    // Go initializeConsensus: a timer is shortened by the time since the last block,
    // whose reference starts as block 0 at the zero time; only at height 1 is the last
    // block the one before (lastBlockIndex + 1 == BlockIndex), so only there does a
    // backup's timer come out as 0. At height 5 it gets the full T·2^(v+1) = 2T.
    let at_1 = Kit::new(Semantics::Go, 1);
    let (_, t1) = start(&at_1, &mut at_1.replica(0));
    assert_eq!(t1, Some(SimTime(0)));
    let at_5 = Kit::new(Semantics::Go, 5);
    let (_, t5) = start(&at_5, &mut at_5.replica(0));
    assert_eq!(t5, Some(SimTime(2 * T)));
    // The view-0 primary proposes at once (dbft.go Start → start → sendPrepareRequest) at
    // any height.
    let mut p = at_5.replica(1);
    let (sent, _) = start(&at_5, &mut p);
    assert_eq!(sent, vec![MsgKind::PrepareRequest]);
    assert_eq!(p.ctx.proposal.as_ref().map(|_| p.ctx.height), Some(5));
}

#[test]
fn csharp_waits_a_full_block_time_as_primary_and_asks_for_recovery() {
    // C# OnStart asks for recovery whatever the height; InitializeConsensus gives the
    // primary T (it received no PrepareRequest for height 4) and a backup T·2^(v+1) = 2T.
    let k = Kit::new(Semantics::CSharp, 5);
    let (sent, t) = start(&k, &mut k.replica(1));
    assert_eq!((sent, t), (vec![MsgKind::RecoveryRequest], Some(SimTime(T))));
    let (sent, t) = start(&k, &mut k.replica(0));
    assert_eq!((sent, t), (vec![MsgKind::RecoveryRequest], Some(SimTime(2 * T))));
}

#[test]
fn a_backup_accepts_the_request_for_height_5_and_answers_it() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(sem, 5);
        let mut r = k.replica(0);
        start(&k, &mut r);
        let key = k.ring.keypair(KeyId(1)).unwrap();
        let body = Body::PrepareRequest {
            version: 0,
            prev_hash: k.prefix[3].hash,
            timestamp_ms: 10,
            nonce: 1,
            tx_hashes: vec![],
        };
        let req = Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(5, 0, 1, body, &key))));
        let mut buf = Vec::new();
        let mut cx = Cx::new(SimTime(1_000), &k.ring, &mut buf);
        r.on_message(&mut cx, NodeId(1), &req);
        let kinds: Vec<MsgKind> = buf
            .iter()
            .filter_map(|a| match a {
                Action::Broadcast(w) | Action::Send(_, w) => Some(w.meta().kind),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, vec![MsgKind::PrepareResponse], "{sem:?}");
    }
}
