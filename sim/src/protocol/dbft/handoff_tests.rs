//! The replica across validator-set changes: which set it works with, what a proposal
//! names for the next height, which relayed blocks it refuses, and how it names refused
//! messages from keys outside the set.

use super::message::{Body, ChangeViewReason, ConsensusMessage, Wire};
use super::*;
use crate::engine::time::SimTime;
use crate::protocol::block::{CertSig, Header, tx_root};
use crate::protocol::crypto::{KeyId, Keyring};
use crate::protocol::{Action, Cx, Note, RejectReason};
use crate::validators::change::SetChange;

const T: u64 = 1_000_000;

/// Four genesis validators (keys 0..3) and two candidates (keys 4, 5), with `changes`.
struct Kit {
    ring: Keyring,
    opts: Rc<DbftOptions>,
    genesis: Rc<Block>,
}

impl Kit {
    fn new(changes: Vec<SetChange>) -> Kit {
        let ring = Keyring::generate(5, 6);
        let set = Rc::new(ValidatorSet::new((0..4).map(KeyId).collect()));
        let opts = Rc::new(DbftOptions {
            book: Rc::new(ChangeBook::new(changes)),
            ..DbftOptions::for_test(T, Default::default(), 10)
        });
        Kit { ring, genesis: Rc::new(Block::genesis(set)), opts }
    }

    fn replica(&self, key: u32) -> DbftReplica {
        DbftReplica::new(NodeId(key), self.ring.keypair(KeyId(key)), self.opts.clone(), self.genesis.clone())
    }

    /// Block 1 carrying `txs`, naming `next`, signed by keys 0, 1, 2 of the genesis set.
    fn block1(&self, txs: Vec<u64>, next: Rc<ValidatorSet>) -> Rc<Block> {
        let header = Header {
            version: 0,
            height: 1,
            prev_hash: self.genesis.hash,
            timestamp_ms: 5,
            nonce: 1,
            primary: 1,
            tx_root: tx_root(&txs),
            next_validators: next.hash(),
        };
        let hash = header.hash();
        let certificate = (0..3u16)
            .map(|i| CertSig { index: i, view: 0, sig: self.ring.keypair(KeyId(i as u32)).unwrap().sign(&hash) })
            .collect();
        Rc::new(Block::new(hash, header, txs, next, 0, certificate))
    }
}

fn set(keys: &[u32]) -> Rc<ValidatorSet> {
    Rc::new(ValidatorSet::new(keys.iter().map(|k| KeyId(*k)).collect()))
}

/// Runs one handler; returns its notes and whether it sent a GetBlocks.
fn call(k: &Kit, r: &mut DbftReplica, f: impl FnOnce(&mut DbftReplica, &mut Cx<Wire>)) -> (Vec<Note>, bool) {
    let mut buf = Vec::new();
    {
        let mut cx = Cx::new(SimTime(10_000), &k.ring, &mut buf);
        f(r, &mut cx);
    }
    let mut notes = Vec::new();
    let mut get_blocks = false;
    for a in buf {
        match a {
            Action::Note(n) => notes.push(n),
            Action::Send(_, w) if matches!(*w, Wire::GetBlocks { .. }) => get_blocks = true,
            _ => {}
        }
    }
    (notes, get_blocks)
}

fn rejected(notes: &[Note]) -> Vec<RejectReason> {
    notes
        .iter()
        .filter_map(|n| match n {
            Note::Rejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn a_proposal_names_the_set_its_changes_give() {
    let k = Kit::new(vec![SetChange::Join { key: KeyId(4) }]);
    let mut r = k.replica(0);
    call(&k, &mut r, |r, cx| r.on_start(cx));
    assert_eq!(r.ctx.next_validators.keys.len(), 4, "no proposal yet: the set stays");
    r.ctx.adopt_proposal(5, 1, vec![ChangeBook::tx_of(0)]);
    assert_eq!(r.ctx.next_validators.hash(), set(&[0, 1, 2, 3, 4]).hash());
    let header = r.ctx.proposal.as_ref().unwrap().header.clone();
    assert_eq!(header.next_validators, set(&[0, 1, 2, 3, 4]).hash(), "the signed header commits to it");
    r.ctx.adopt_proposal(5, 1, vec![7]);
    assert_eq!(r.ctx.next_validators.hash(), set(&[0, 1, 2, 3]).hash(), "a proposal without the change");
}

#[test]
fn a_candidate_joins_and_a_leaver_turns_watch_only_from_their_own_chain() {
    let k = Kit::new(vec![SetChange::Rotate { from: KeyId(3), to: KeyId(4) }]);
    let (mut joiner, mut leaver) = (k.replica(4), k.replica(3));
    call(&k, &mut joiner, |r, cx| r.on_start(cx));
    call(&k, &mut leaver, |r, cx| r.on_start(cx));
    assert!(joiner.ctx.watch_only() && !leaver.ctx.watch_only());
    let block = k.block1(vec![ChangeBook::tx_of(0)], set(&[0, 1, 2, 4]));
    for r in [&mut joiner, &mut leaver] {
        let w = Rc::new(Wire::Block(block.clone()));
        let (notes, _) = call(&k, r, |r, cx| r.on_message(cx, NodeId(1), &w));
        assert!(rejected(&notes).is_empty(), "{notes:?}");
        assert_eq!(r.ledger.height(), 1);
        assert_eq!(r.ctx.validators.hash(), set(&[0, 1, 2, 4]).hash());
    }
    assert_eq!(joiner.ctx.my_index, Some(3), "keys sort: 0, 1, 2, 4");
    assert!(leaver.ctx.watch_only());
    // N, F, M and the primary come from the new set: h2 v0 → index 2 = key 2.
    assert_eq!((joiner.ctx.n(), joiner.ctx.m(), joiner.ctx.primary()), (4, 3, 2));
}

#[test]
fn a_relayed_block_naming_another_next_set_is_refused() {
    let k = Kit::new(vec![SetChange::Join { key: KeyId(4) }]);
    let mut r = k.replica(0);
    call(&k, &mut r, |r, cx| r.on_start(cx));
    // The block carries the join, but names the old set (a primary that "forgot" it), or
    // names the new set without carrying the change.
    for (txs, next) in [(vec![ChangeBook::tx_of(0)], set(&[0, 1, 2, 3])), (vec![], set(&[0, 1, 2, 3, 4]))] {
        let w = Rc::new(Wire::Block(k.block1(txs, next)));
        let (notes, _) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(1), &w));
        assert_eq!(rejected(&notes), vec![RejectReason::BadBlock]);
        assert_eq!(r.ledger.height(), 0);
    }
}

#[test]
fn a_future_message_from_a_set_not_known_yet_is_refused_by_name_and_prompts_a_sync() {
    let k = Kit::new(vec![]);
    let mut r = k.replica(0);
    call(&k, &mut r, |r, cx| r.on_start(cx));
    // Key 4 signs as validator 3 at height 3: not what this node projects for height 3.
    let key4 = k.ring.keypair(KeyId(4)).unwrap();
    let cv = Body::ChangeView { timestamp_ms: 1, reason: ChangeViewReason::Timeout, rejected: Vec::new() };
    let m = Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(3, 0, 3, cv.clone(), &key4))));
    let (notes, sync) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(4), &m));
    assert_eq!(rejected(&notes), vec![RejectReason::UnknownFutureSet]);
    assert!(sync, "a node that hears from a height above its own asks for blocks");
    // Validator 3's own key at height 3 is what it projects: accepted (no rejection).
    let key3 = k.ring.keypair(KeyId(3)).unwrap();
    let m = Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(3, 0, 3, cv, &key3))));
    let (notes, _) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(3), &m));
    assert!(rejected(&notes).is_empty());
    // Junk signed by no registered key is refused as such and prompts no block request.
    let mut junk = ConsensusMessage::signed(3, 0, 3, Body::RecoveryRequest { timestamp_ms: 1 }, &key3);
    junk.sig = crate::protocol::crypto::Signature(7);
    let junk = Rc::new(Wire::Consensus(Rc::new(junk)));
    let mut fresh = k.replica(1);
    call(&k, &mut fresh, |r, cx| r.on_start(cx));
    let (notes, sync) = call(&k, &mut fresh, |r, cx| r.on_message(cx, NodeId(5), &junk));
    assert_eq!(rejected(&notes), vec![RejectReason::BadSignature]);
    assert!(!sync);
}

#[test]
fn commit_and_response_indices_past_n_exist_only_at_a_double_quorum_hand_off() {
    // No hand-off: index 4 (= N) is nobody, for every message type.
    let k = Kit::new(vec![]);
    let mut r = k.replica(0);
    call(&k, &mut r, |r, cx| r.on_start(cx));
    let key4 = k.ring.keypair(KeyId(4)).unwrap();
    for body in [
        Body::Commit { signature: crate::protocol::crypto::Signature(1) },
        Body::PrepareResponse { preparation_hash: crate::protocol::crypto::Hash32::ZERO },
        Body::ChangeView { timestamp_ms: 1, reason: ChangeViewReason::Timeout, rejected: Vec::new() },
    ] {
        let m = Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(1, 0, 4, body, &key4))));
        let (notes, _) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(4), &m));
        assert_eq!(rejected(&notes), vec![RejectReason::UnknownValidator]);
    }
}

/// Keys 0–3 hand over to 0, 1, 4 under `dual-quorum`: key 3 is ejected, key 2 rotates to 4
/// (and endorses the hand-off block as an outgoing key).
fn dual_quorum_kit() -> Kit {
    let mut k = Kit::new(vec![SetChange::Eject { key: KeyId(3) }, SetChange::Rotate { from: KeyId(2), to: KeyId(4) }]);
    let mut opts = (*k.opts).clone();
    opts.handoff.rule = crate::validators::handoff::HandoffRule::DualQuorum;
    k.opts = Rc::new(opts);
    k
}

#[test]
fn at_a_double_quorum_hand_off_outgoing_keys_sign_after_the_set_except_revoked_ones() {
    let k = dual_quorum_kit();
    let (mut staying, mut leaving, mut ejected) = (k.replica(0), k.replica(2), k.replica(3));
    let block = Rc::new(Wire::Block(k.block1(vec![ChangeBook::tx_of(0), ChangeBook::tx_of(1)], set(&[0, 1, 4]))));
    for r in [&mut staying, &mut leaving, &mut ejected] {
        call(&k, r, |r, cx| r.on_start(cx));
        call(&k, r, |r, cx| r.on_message(cx, NodeId(1), &block));
        assert_eq!(r.ctx.validators.hash(), set(&[0, 1, 4]).hash());
        // Key 2 left and signs as index 3 = N; key 3 was ejected and signs nothing.
        assert_eq!(r.ctx.outgoing, vec![KeyId(2)]);
        assert_eq!((r.ctx.signer_key(3), r.ctx.signer_key(4)), (Some(KeyId(2)), None));
        assert_eq!(r.ctx.commits.len(), 4);
        // The context renewed in place at the new height is the one built from scratch.
        let fresh = DbftReplica::fresh_context(&r.ledger, r.key.as_ref(), r.adopted.as_ref());
        assert_eq!(r.ctx, fresh);
        assert_eq!(format!("{:?}", r.ctx), format!("{fresh:?}"));
    }
    assert_eq!((staying.ctx.my_index, staying.ctx.my_endorser), (Some(0), None));
    assert_eq!((leaving.ctx.my_index, leaving.ctx.my_endorser), (None, Some(3)));
    assert_eq!((ejected.ctx.my_index, ejected.ctx.my_endorser), (None, None));
}

#[test]
fn messages_from_an_ejected_or_departed_key_are_named() {
    let k = Kit::new(vec![SetChange::Eject { key: KeyId(3) }, SetChange::Rotate { from: KeyId(2), to: KeyId(4) }]);
    let mut r = k.replica(0);
    call(&k, &mut r, |r, cx| r.on_start(cx));
    let block = k.block1(vec![ChangeBook::tx_of(0), ChangeBook::tx_of(1)], set(&[0, 1, 4]));
    let w = Rc::new(Wire::Block(block));
    call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(1), &w));
    assert_eq!(r.ctx.validators.hash(), set(&[0, 1, 4]).hash());
    let cv = Body::ChangeView { timestamp_ms: 1, reason: ChangeViewReason::Timeout, rejected: Vec::new() };
    for (key, index, why) in
        [(3, 2u16, RejectReason::RevokedKey), (2, 2, RejectReason::StaleSet), (5, 2, RejectReason::BadSignature)]
    {
        let kp = k.ring.keypair(KeyId(key)).unwrap();
        let m = Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(2, 0, index, cv.clone(), &kp))));
        let (notes, _) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(key), &m));
        assert_eq!(rejected(&notes), vec![why], "key {key}");
    }
}

#[test]
fn messages_across_a_hand_off_belong_to_their_height() {
    let k = Kit::new(vec![SetChange::Rotate { from: KeyId(3), to: KeyId(4) }]);
    let mut r = k.replica(0);
    call(&k, &mut r, |r, cx| r.on_start(cx));
    let w = Rc::new(Wire::Block(k.block1(vec![ChangeBook::tx_of(0)], set(&[0, 1, 2, 4]))));
    call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(1), &w));
    assert_eq!(r.ctx.height, 2);
    let cv = |key: u32, height: u32, index: u16| {
        let kp = k.ring.keypair(KeyId(key)).unwrap();
        let body = Body::ChangeView { timestamp_ms: 1, reason: ChangeViewReason::Timeout, rejected: Vec::new() };
        Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(height, 0, index, body, &kp))))
    };
    // The departed key's ChangeView of the old height: dropped unread, like any old message.
    let (notes, _) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(3), &cv(3, 1, 3)));
    assert!(notes.is_empty(), "{notes:?}");
    // The same key at the new height, at its old index: refused as a validator that left.
    let (notes, _) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(3), &cv(3, 2, 3)));
    assert_eq!(rejected(&notes), vec![RejectReason::StaleSet]);
    // The joiner at its index in the new set: stored.
    let (notes, _) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(4), &cv(4, 2, 3)));
    assert!(rejected(&notes).is_empty());
    assert!(r.ctx.change_views[3].is_some());
    // A RecoveryMessage of the old height is old too; one of the new height from the
    // joiner is processed (it carries nothing this node lacks).
    let rec = |key: u32, height: u32, index: u16| {
        let kp = k.ring.keypair(KeyId(key)).unwrap();
        let body = Body::RecoveryMessage(Box::new(super::message::Recovery {
            change_views: vec![],
            prepare_request: None,
            preparation_hash: None,
            preparations: vec![],
            commits: vec![],
        }));
        Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(height, 0, index, body, &kp))))
    };
    let (notes, _) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(3), &rec(3, 1, 3)));
    assert!(notes.is_empty());
    let (notes, _) = call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(4), &rec(4, 2, 3)));
    assert!(rejected(&notes).is_empty());
}

/// A context copied into recycled storage (`spare_clone`, `clone_from`) is the context:
/// the same as a plain clone whatever the storage held before, here a context of another
/// set size with a proposal and messages.
#[test]
fn contexts_copied_into_recycled_storage_are_equal_to_clones() {
    let k = Kit::new(vec![SetChange::Join { key: KeyId(4) }]);
    let mut r = k.replica(1);
    call(&k, &mut r, |r, cx| r.on_start(cx));
    r.ctx.adopt_proposal(5, 1, (1..30).collect());
    let before = r.ctx.clone();
    let block = Rc::new(Wire::Block(k.block1(vec![ChangeBook::tx_of(0)], set(&[0, 1, 2, 3, 4]))));
    call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(1), &block));
    assert_eq!(r.ctx.n(), 5);
    let cv = Body::ChangeView { timestamp_ms: 1, reason: ChangeViewReason::Timeout, rejected: Vec::new() };
    let m = Rc::new(ConsensusMessage::signed(2, 0, 3, cv, &k.ring.keypair(KeyId(3)).unwrap()));
    r.ctx.change_views[3] = Some(m);
    r.ctx.adopt_proposal(6, 2, vec![9]);
    let now = r.ctx.clone();
    let mut into = before.clone();
    into.clone_from(&now);
    assert_eq!(into, now);
    assert_eq!(format!("{into:?}"), format!("{now:?}"));
    context::recycle(before.clone());
    context::recycle(now.clone());
    for want in [&before, &now, &before] {
        let copy = context::spare_clone(want);
        assert_eq!(&copy, want);
        assert_eq!(format!("{copy:?}"), format!("{want:?}"));
        context::recycle(copy);
    }
}

/// Runs one handler; returns the kinds of the consensus messages it sent.
fn sent(
    k: &Kit,
    r: &mut DbftReplica,
    f: impl FnOnce(&mut DbftReplica, &mut Cx<Wire>),
) -> Vec<crate::protocol::MsgKind> {
    let mut buf = Vec::new();
    {
        let mut cx = Cx::new(SimTime(10_000), &k.ring, &mut buf);
        f(r, &mut cx);
    }
    buf.iter()
        .filter_map(|a| match a {
            Action::Broadcast(w) | Action::Send(_, w) => match &**w {
                Wire::Consensus(m) => Some(m.kind()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// FINDINGS.md #5: at a `dual-quorum` hand-off the quorum of the outgoing set gates the
/// Commit, not only the block. Keys 0, 1, 2, 3 hand over to 0, 1, 4 (key 2 rotates to 4,
/// key 3 is ejected): the new set needs all M = 3 of its own preparations, the old one
/// M = 3 of its four keys, and only key 2 (which left and was not revoked) endorses for
/// it. Key 0 with the request of key 4 (height 2's primary: index (2 − 0) mod 3 = 2), its
/// own response and key 1's holds the new set's quorum, but only two old-set keys (0
/// and 1): no Commit, so a node cannot lock on a block whose old quorum may be out of
/// reach. Key 2's endorsement (index N = 3) completes the old quorum: the Commit follows.
#[test]
fn a_double_quorum_gates_the_commit_on_the_old_sets_preparations() {
    let k = dual_quorum_kit();
    let mut r = k.replica(0);
    call(&k, &mut r, |r, cx| r.on_start(cx));
    let block1 = k.block1(vec![ChangeBook::tx_of(0), ChangeBook::tx_of(1)], set(&[0, 1, 4]));
    let prev_hash = block1.hash;
    let w = Rc::new(Wire::Block(block1));
    call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(1), &w));
    assert_eq!((r.ctx.height, r.ctx.primary()), (2, 2));
    assert_eq!(r.ctx.outgoing, vec![KeyId(2)]);
    let msg = |key: u32, index: u16, body: Body| {
        let kp = k.ring.keypair(KeyId(key)).unwrap();
        Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(2, 0, index, body, &kp))))
    };
    let req = msg(4, 2, Body::PrepareRequest { version: 0, prev_hash, timestamp_ms: 9, nonce: 1, tx_hashes: vec![] });
    let Wire::Consensus(req_msg) = &*req else { unreachable!() };
    let answer = Body::PrepareResponse { preparation_hash: req_msg.hash };
    let out = sent(&k, &mut r, |r, cx| r.on_message(cx, NodeId(4), &req));
    assert_eq!(out, vec![crate::protocol::MsgKind::PrepareResponse], "key 0 answers the request");
    let out = sent(&k, &mut r, |r, cx| r.on_message(cx, NodeId(1), &msg(1, 1, answer.clone())));
    assert_eq!(r.ctx.count_preparations(), 3, "the new set's M preparations");
    assert!(out.is_empty() && !r.ctx.commit_sent(), "no Commit on the new set's quorum alone: {out:?}");
    let out = sent(&k, &mut r, |r, cx| r.on_message(cx, NodeId(2), &msg(2, 3, answer)));
    assert_eq!(out, vec![crate::protocol::MsgKind::Commit], "the old set's third preparation completes both quorums");
}

/// FINDINGS.md #6: CheckExpectedView looks only at the view of the ChangeView just
/// received. The outgoing endorser (key 2) of the hand-off above holds ChangeViews of the
/// new set for view 1 (key 4) and view 2 (key 0); key 1's ChangeView for view 2 makes M = 3
/// that justify view 1, but CheckExpectedView(2) counts two for view 2 and stops there. A
/// validator would catch up through its own timer; an endorser has none, so it moves to
/// the highest view M stored ChangeViews justify.
#[test]
fn an_endorser_moves_to_the_highest_view_m_change_views_justify() {
    let k = dual_quorum_kit();
    let mut r = k.replica(2);
    call(&k, &mut r, |r, cx| r.on_start(cx));
    let w = Rc::new(Wire::Block(k.block1(vec![ChangeBook::tx_of(0), ChangeBook::tx_of(1)], set(&[0, 1, 4]))));
    call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(1), &w));
    assert_eq!((r.ctx.height, r.ctx.my_endorser), (2, Some(3)));
    let cv = |key: u32, index: u16, view: u8| {
        let kp = k.ring.keypair(KeyId(key)).unwrap();
        let body = Body::ChangeView { timestamp_ms: 1, reason: ChangeViewReason::Timeout, rejected: Vec::new() };
        Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(2, view, index, body, &kp))))
    };
    // key 4 (index 2) asks for view 1, keys 0 and 1 (indices 0, 1) for view 2.
    for (key, index, view) in [(4, 2, 0), (0, 0, 1)] {
        call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(key), &cv(key, index, view)));
        assert_eq!(r.ctx.view, 0, "fewer than M ChangeViews so far");
    }
    call(&k, &mut r, |r, cx| r.on_message(cx, NodeId(1), &cv(1, 1, 1)));
    assert_eq!(r.ctx.count_change_views_for(2), 2, "view 2 is not justified");
    assert_eq!(r.ctx.count_change_views_for(1), 3, "view 1 is");
    assert_eq!(r.ctx.view, 1, "the endorser follows the set to view 1");
}
