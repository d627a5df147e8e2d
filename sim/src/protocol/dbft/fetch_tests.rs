//! Handler-level tests of fetch.rs: GetData / Transaction and the flood relay check. Each
//! names the source function it follows (links in fetch.rs and docs/network.md).

use super::message::{Body, ChangeViewReason, ConsensusMessage, Wire};
use super::semantics::Semantics;
use super::*;
use crate::protocol::crypto::{KeyId, Keyring};
use crate::protocol::{Action, Cx};

const T: u64 = 1_000_000;

struct Kit {
    ring: Keyring,
    opts: Rc<DbftOptions>,
    genesis: Rc<Block>,
}

impl Kit {
    fn new(fetch_txs: bool) -> Kit {
        Kit::with(fetch_txs, Semantics::CSharp)
    }

    fn with(fetch_txs: bool, semantics: Semantics) -> Kit {
        let ring = Keyring::generate(7, 4);
        let set = Rc::new(ValidatorSet::new((0..4u32).map(KeyId).collect()));
        let opts = Rc::new(DbftOptions { fetch_txs, ..DbftOptions::for_test(T, semantics, 100) });
        Kit { ring, genesis: Rc::new(Block::genesis(set)), opts }
    }

    fn replica(&self, index: u32) -> DbftReplica {
        DbftReplica::new(NodeId(index), self.ring.keypair(KeyId(index)), self.opts.clone(), self.genesis.clone())
    }

    fn signed(&self, from: u32, height: u32, body: Body) -> Rc<Wire> {
        let key = self.ring.keypair(KeyId(from)).unwrap();
        Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(height, 0, from as u16, body, &key))))
    }

    /// R1's PrepareRequest for height 1, view 0 (R1 is the primary there).
    fn request(&self, txs: Vec<TxId>) -> Rc<Wire> {
        let body = Body::PrepareRequest {
            version: 0,
            prev_hash: self.genesis.hash,
            timestamp_ms: 10,
            nonce: 1,
            tx_hashes: txs,
        };
        self.signed(1, 1, body)
    }

    fn call(&self, f: impl FnOnce(&mut Cx<Wire>)) -> Vec<Action<Wire>> {
        let mut buf = Vec::new();
        let mut cx = Cx::new(SimTime(100), &self.ring, &mut buf);
        f(&mut cx);
        buf
    }
}

/// The wire messages of `out` as (recipient or None for a broadcast, message).
fn sent(out: &[Action<Wire>]) -> Vec<(Option<NodeId>, Wire)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Broadcast(w) => Some((None, (**w).clone())),
            Action::Send(to, w) => Some((Some(*to), (**w).clone())),
            _ => None,
        })
        .collect()
}

fn responded(out: &[Action<Wire>]) -> bool {
    sent(out).iter().any(|(_, w)| matches!(w, Wire::Consensus(m) if matches!(m.body, Body::PrepareResponse { .. })))
}

/// A backup of height 1 (R0) that has started and holds `txs`.
fn backup(k: &Kit, txs: &[TxId]) -> DbftReplica {
    let mut r = k.replica(0);
    k.call(|cx| r.on_start(cx));
    for &t in txs {
        k.call(|cx| r.on_transaction(cx, t));
    }
    r
}

/// C# ConsensusService.OnPrepareRequestReceived (RestartTasks with the missing hashes,
/// TaskManager.OnRestartTasks → one GetData to every peer) and Go dbft.go processMissingTx
/// → neo-go Server.RequestTx: one request naming exactly the missing transactions, to all.
#[test]
fn a_backup_missing_proposed_transactions_asks_every_peer_once() {
    let k = Kit::new(true);
    let mut r = backup(&k, &[7]);
    let out = k.call(|cx| r.on_message(cx, NodeId(1), &k.request(vec![7, 8, 9])));
    let got = sent(&out);
    let asks: Vec<_> = got.iter().filter(|(_, w)| matches!(w, Wire::GetData { .. })).collect();
    assert_eq!(asks.len(), 1, "{got:?}");
    assert_eq!(asks[0], &(None, Wire::GetData { txs: vec![8, 9] }));
    assert!(!responded(&out), "cannot respond before the transactions are here");
    // Without fetching (the simulator's original model) nothing is asked.
    let k = Kit::new(false);
    let mut r = backup(&k, &[7]);
    let out = k.call(|cx| r.on_message(cx, NodeId(1), &k.request(vec![7, 8])));
    assert!(sent(&out).iter().all(|(_, w)| !matches!(w, Wire::GetData { .. })));
    // Nothing missing: nothing asked, the backup responds at once.
    let k = Kit::new(true);
    let mut r = backup(&k, &[7]);
    let out = k.call(|cx| r.on_message(cx, NodeId(1), &k.request(vec![7])));
    assert!(sent(&out).iter().all(|(_, w)| !matches!(w, Wire::GetData { .. })));
    assert!(responded(&out));
}

/// C# RemoteNode.OnGetDataMessageReceived and neo-go Server.handleGetDataCmd: each
/// requested transaction the node holds goes back to the asker as one Transaction
/// message; the others are not answered (NotFound, which the requester ignores).
#[test]
fn get_data_is_answered_with_the_held_transactions_only() {
    let k = Kit::new(true);
    let mut r = backup(&k, &[5, 6]);
    let out = k.call(|cx| r.on_message(cx, NodeId(2), &Rc::new(Wire::GetData { txs: vec![6, 40, 5] })));
    assert_eq!(
        sent(&out),
        vec![(Some(NodeId(2)), Wire::Transaction { tx: 6 }), (Some(NodeId(2)), Wire::Transaction { tx: 5 })]
    );
    // A hostile request naming thousands of hashes is served at most MaxHashesCount deep.
    let many: Vec<TxId> = (0..10_000).collect();
    let out = k.call(|cx| r.on_message(cx, NodeId(3), &Rc::new(Wire::GetData { txs: many })));
    assert_eq!(sent(&out).len(), 2);
}

/// C# ConsensusService.OnTransaction (fed by DBFTPlugin.RemoteNode_MessageReceived_Handler)
/// and neo-go txHandlerLoop with the consensus callback list: a fetched transaction the
/// proposal misses completes it and the backup responds; one it does not ask for is
/// ignored.
#[test]
fn a_fetched_transaction_completes_the_proposal_and_an_unsolicited_one_is_ignored() {
    let k = Kit::new(true);
    let mut r = backup(&k, &[]);
    k.call(|cx| r.on_message(cx, NodeId(1), &k.request(vec![7])));
    let out = k.call(|cx| r.on_message(cx, NodeId(3), &Rc::new(Wire::Transaction { tx: 99 })));
    assert!(!responded(&out));
    assert!(!r.ledger.has_tx(99), "an unsolicited transaction does not enter the mempool");
    let out = k.call(|cx| r.on_message(cx, NodeId(3), &Rc::new(Wire::Transaction { tx: 7 })));
    assert!(responded(&out), "the last missing transaction arrived: PrepareResponse");
    // A second copy changes nothing.
    let out = k.call(|cx| r.on_message(cx, NodeId(2), &Rc::new(Wire::Transaction { tx: 7 })));
    assert!(sent(&out).is_empty());
}

/// The transport check before relay: C# ExtensiblePayload.Verify (ValidBlockStart ≤
/// height < ValidBlockEnd = the payload's BlockIndex, sender whitelisted, witness valid)
/// and neo-go extpool.verify: a signed consensus payload for a height not yet persisted is
/// relayed — future heights included — a forged or stale one is not; a block only once
/// persisted (C# Blockchain.OnNewBlock, neo-go relayBlocksLoop).
#[test]
fn relay_check_follows_the_transport_not_the_consensus() {
    let k = Kit::new(true);
    let r = k.replica(0);
    let cv = |from: u32, h: u32| {
        k.signed(from, h, Body::ChangeView { timestamp_ms: 1, reason: ChangeViewReason::Timeout, rejected: Vec::new() })
    };
    assert!(r.passes_relay_checks(&k.ring, &cv(2, 1)));
    assert!(r.passes_relay_checks(&k.ring, &cv(2, 9)), "future heights are relayed");
    assert!(!r.passes_relay_checks(&k.ring, &cv(2, 0)), "a persisted height is not");
    let Wire::Consensus(m) = &*cv(2, 1) else { unreachable!() };
    let mut forged = (**m).clone();
    forged.sig = ConsensusMessage::signed(1, 0, 3, m.body.clone(), &k.ring.keypair(KeyId(3)).unwrap()).sig;
    forged.view = 1;
    assert!(!r.passes_relay_checks(&k.ring, &Rc::new(Wire::Consensus(Rc::new(forged)))), "bad witness");
    assert!(r.passes_relay_checks(&k.ring, &Rc::new(Wire::Block(k.genesis.clone()))), "persisted block");
    assert!(!r.passes_relay_checks(&k.ring, &Rc::new(Wire::GetData { txs: vec![1] })));
}

/// Go dbft send.go sendRecoveryRequest: with the request known and transactions missing it
/// calls processMissingTx again, so a Go backup that times out into a RecoveryRequest (more
/// than F validators lost) asks its peers once more; C# OnTimer does not.
#[test]
fn go_asks_again_when_it_sends_a_recovery_request() {
    for (sem, again) in [(Semantics::Go, true), (Semantics::CSharp, false)] {
        let k = Kit::with(true, sem);
        let mut r = backup(&k, &[]);
        k.call(|cx| r.on_message(cx, NodeId(1), &k.request(vec![7])));
        let tag = r.timer.tag;
        let deadline = r.timer.deadline;
        let mut buf = Vec::new();
        let mut cx = Cx::new(deadline, &k.ring, &mut buf);
        r.on_timer(&mut cx, tag);
        let got = sent(&buf);
        let asked = got.iter().any(|(_, w)| matches!(w, Wire::GetData { txs } if txs == &vec![7]));
        let recovery =
            got.iter().any(|(_, w)| matches!(w, Wire::Consensus(m) if matches!(m.body, Body::RecoveryRequest { .. })));
        if again {
            assert!(recovery, "{sem:?}: R2 and R3 are unseen in this view (> F lost): RecoveryRequest");
            assert!(asked, "{sem:?}: GetData again with the RecoveryRequest");
        } else {
            assert!(!asked, "{sem:?}: no second GetData ({got:?})");
        }
    }
}
