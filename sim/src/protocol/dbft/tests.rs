//! Unit tests of the dBFT replica, written from the protocol as docs/dbft-2.0.md describes it (the § numbers below): each drives one
//! replica with hand-built messages and checks the exact messages and timers it emits.

use super::message::{Body, ChangeViewReason, ConsensusMessage, Wire};
use super::semantics::Semantics;
use super::*;
use crate::engine::time::SimTime;
use crate::protocol::crypto::{Hash32, KeyId, Keyring};
use crate::protocol::{Action, Cx, MsgKind};
use crate::validators::ValidatorSet;

const T: u64 = 1_000_000; // 1 s block time keeps numbers readable

/// A set of N validators with their keys and one replica under test.
struct Kit {
    ring: Keyring,
    opts: Rc<DbftOptions>,
    genesis: Rc<Block>,
}

impl Kit {
    fn new(n: usize, semantics: Semantics) -> Kit {
        let ring = Keyring::generate(7, n + 1);
        let set = Rc::new(ValidatorSet::new((0..n as u32).map(KeyId).collect()));
        let opts = Rc::new(DbftOptions::for_test(T, semantics, 100));
        Kit { ring, genesis: Rc::new(Block::genesis(set)), opts }
    }

    fn replica(&self, index: u32) -> DbftReplica {
        DbftReplica::new(NodeId(index), self.ring.keypair(KeyId(index)), self.opts.clone(), self.genesis.clone())
    }

    fn msg(&self, from: u32, height: u32, view: u8, body: Body) -> Rc<Wire> {
        let key = self.ring.keypair(KeyId(from)).unwrap();
        Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(height, view, from as u16, body, &key))))
    }

    fn cv(&self, from: u32, height: u32, view: u8) -> Rc<Wire> {
        self.msg(
            from,
            height,
            view,
            Body::ChangeView { timestamp_ms: 1, reason: ChangeViewReason::Timeout, rejected: Vec::new() },
        )
    }
}

/// What one handler call emitted.
#[derive(Debug, Default)]
struct Out {
    sent: Vec<Rc<ConsensusMessage>>,
    timers: Vec<SimTime>,
    notes: Vec<crate::protocol::Note>,
    persisted: Vec<Rc<Block>>,
}

impl Out {
    fn kinds(&self) -> Vec<MsgKind> {
        self.sent.iter().map(|m| m.kind()).collect()
    }
    fn last_timer(&self) -> Option<u64> {
        self.timers.last().map(|t| t.0)
    }
}

fn run(ring: &Keyring, now: u64, f: impl FnOnce(&mut Cx<Wire>)) -> Out {
    let mut buf = Vec::new();
    let mut cx = Cx::new(SimTime(now), ring, &mut buf);
    f(&mut cx);
    let mut out = Out::default();
    for a in buf {
        match a {
            Action::Broadcast(w) | Action::Send(_, w) => {
                if let Wire::Consensus(m) = &*w {
                    out.sent.push(m.clone());
                }
            }
            Action::SetTimer { at, .. } => out.timers.push(at),
            Action::Note(n) => out.notes.push(n),
            Action::Persist(b) => out.persisted.push(b),
            _ => {}
        }
    }
    out
}

fn start(k: &Kit, r: &mut DbftReplica, now: u64) -> Out {
    run(&k.ring, now, |cx| r.on_start(cx))
}

fn deliver(k: &Kit, r: &mut DbftReplica, now: u64, from: u32, w: Rc<Wire>) -> Out {
    run(&k.ring, now, |cx| r.on_message(cx, NodeId(from), &w))
}

fn fire(k: &Kit, r: &mut DbftReplica, now: u64) -> Out {
    let tag = r.timer.tag;
    run(&k.ring, now, |cx| r.on_timer(cx, tag))
}

/// The PrepareRequest primary `p` would send at height 1, view `v`, with no transactions.
fn request(k: &Kit, p: u32, v: u8) -> Rc<Wire> {
    request_with(k, p, v, vec![])
}

/// The PrepareRequest primary `p` sends at height 1, view `v`, proposing `tx_hashes`.
fn request_with(k: &Kit, p: u32, v: u8, tx_hashes: Vec<TxId>) -> Rc<Wire> {
    stamped_request(k, p, v, 10, tx_hashes)
}

/// The same, with the block stamped `timestamp_ms`.
fn stamped_request(k: &Kit, p: u32, v: u8, timestamp_ms: u64, tx_hashes: Vec<TxId>) -> Rc<Wire> {
    k.msg(p, 1, v, Body::PrepareRequest { version: 0, prev_hash: k.genesis.hash, timestamp_ms, nonce: 1, tx_hashes })
}

fn inner(w: &Rc<Wire>) -> Rc<ConsensusMessage> {
    match &**w {
        Wire::Consensus(m) => m.clone(),
        _ => panic!("not a consensus message"),
    }
}

fn response(k: &Kit, from: u32, v: u8, req: &Rc<Wire>) -> Rc<Wire> {
    k.msg(from, 1, v, Body::PrepareResponse { preparation_hash: inner(req).hash })
}

/// Go counts a validator as lost until it hears from it in the current view; a stale
/// ChangeView from each other validator (a recovery request in effect) marks them seen.
fn hear_from_all(k: &Kit, r: &mut DbftReplica, now: u64, n: u32, me: u32) {
    for from in (0..n).filter(|&i| i != me) {
        let stale = k.msg(from, r.ctx.height, r.ctx.view, Body::RecoveryRequest { timestamp_ms: now });
        deliver(k, r, now, from, stale);
    }
    assert_eq!(r.count_failed(), 0);
}

/// A backup (index 2, height 1: primary is index 1) that has seen the request of view 0.
fn backup_with_request(k: &Kit) -> (DbftReplica, Rc<Wire>) {
    let mut r = k.replica(2);
    start(k, &mut r, 0);
    let req = request(k, 1, 0);
    deliver(k, &mut r, 100, 1, req.clone());
    (r, req)
}

#[test]
fn backup_sends_nothing_on_start_but_csharp_asks_for_recovery() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    let out = start(&k, &mut r, 0);
    // C# OnStart: RecoveryRequest, no proposal; backup timer 2T (view 0).
    assert_eq!(out.kinds(), vec![MsgKind::RecoveryRequest]);
    assert_eq!(out.last_timer(), Some(2 * T));
    let k = Kit::new(4, Semantics::Go);
    let mut r = k.replica(2);
    let out = start(&k, &mut r, 0);
    assert!(out.sent.is_empty(), "Go backup sends nothing at start");
    // Go's genesis quirk (§1.5): lastBlockIndex 0 at its zero time makes every timer of
    // height 1 expire at once...
    assert_eq!(out.last_timer(), Some(0));
    // ...and having heard from nobody (all count as failed, > F), the backup asks for
    // recovery instead of changing view, with the view-1 timeout T·2^2.
    let out = fire(&k, &mut r, 0);
    assert_eq!(out.kinds(), vec![MsgKind::RecoveryRequest]);
    assert_eq!(out.last_timer(), Some(4 * T));
    // From height 2 on (a checkPrepare has happened) the backup timer is 2T less the time
    // since that check.
    let mut g = k.replica(3); // height 2's primary is R2; R3 is a backup
    g.ctx.height = 2;
    g.go_last_check = Some((1, 0, SimTime(0)));
    assert_eq!(g.initial_timeout(SimTime(300_000), g.ctx.view), 2 * T - 300_000);
}

#[test]
fn primary_sends_prepare_request() {
    // Height 1, view 0: primary is (1 - 0) mod 4 = 1.
    let k = Kit::new(4, Semantics::CSharp);
    let mut p = k.replica(1);
    let out = start(&k, &mut p, 0);
    assert_eq!(out.kinds(), vec![MsgKind::RecoveryRequest]);
    assert_eq!(out.last_timer(), Some(T), "C# primary waits T before proposing");
    let out = fire(&k, &mut p, T);
    assert_eq!(out.kinds(), vec![MsgKind::PrepareRequest]);
    // After sending at view 0 the timer is T·2^1 − T = T.
    assert_eq!(out.last_timer(), Some(2 * T));
    // Go: the primary proposes at once at start.
    let k = Kit::new(4, Semantics::Go);
    let mut p = k.replica(1);
    let out = start(&k, &mut p, 0);
    assert_eq!(out.kinds(), vec![MsgKind::PrepareRequest]);
}

#[test]
fn request_gives_response_with_right_hash_and_duplicate_gives_nothing() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let req = request(&k, 1, 0);
    let out = deliver(&k, &mut r, 100, 1, req.clone());
    assert_eq!(out.kinds(), vec![MsgKind::PrepareResponse]);
    let Body::PrepareResponse { preparation_hash } = out.sent[0].body else { panic!() };
    assert_eq!(preparation_hash, inner(&req).hash);
    // Timer 2T, extended by 2T/M on the request and (C#) again on sending the response.
    let m = 3;
    assert_eq!(out.timers, vec![SimTime(2 * T + 2 * T / m), SimTime(2 * T + 2 * (2 * T / m))]);
    let again = deliver(&k, &mut r, 200, 1, req);
    assert!(again.sent.is_empty() && again.timers.is_empty());
}

#[test]
fn go_does_not_extend_on_sending_the_response() {
    let k = Kit::new(4, Semantics::Go);
    let mut r2 = k.replica(2);
    start(&k, &mut r2, 0);
    fire(&k, &mut r2, 0); // RecoveryRequest instead (nobody heard yet), timer 4T
    assert!(!r2.ctx.view_changing());
    let out = deliver(&k, &mut r2, 100, 1, request(&k, 1, 0));
    assert_eq!(out.kinds(), vec![MsgKind::PrepareResponse]);
    // One extension (on the request), none on sending the response.
    assert_eq!(out.timers, vec![SimTime(4 * T + 2 * T / 3)]);
}

#[test]
fn request_from_non_primary_or_other_view_is_ignored() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    assert!(deliver(&k, &mut r, 10, 3, request(&k, 3, 0)).sent.is_empty());
    assert!(deliver(&k, &mut r, 10, 1, request(&k, 1, 1)).sent.is_empty());
    assert!(!r.ctx.request_sent_or_received());
}

#[test]
fn response_from_primary_index_ignored_by_go() {
    let k = Kit::new(4, Semantics::Go);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let req = request(&k, 1, 0);
    let fake = response(&k, 1, 0, &req);
    deliver(&k, &mut r, 10, 1, fake);
    assert!(!r.ctx.request_sent_or_received(), "Go must not store a response in the primary's slot");
    // C# has no explicit check: the response lands in the primary's slot (a quirk).
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let req = request(&k, 1, 0);
    deliver(&k, &mut r, 10, 1, response(&k, 1, 0, &req));
    assert!(r.ctx.request_sent_or_received());
}

#[test]
fn m_preparations_give_commit() {
    let k = Kit::new(4, Semantics::CSharp);
    let (mut r, req) = backup_with_request(&k);
    // Request + own response = 2 < M = 3.
    assert!(!r.ctx.commit_sent());
    let out = deliver(&k, &mut r, 300, 3, response(&k, 3, 0, &req));
    assert_eq!(out.kinds(), vec![MsgKind::Commit]);
    let Body::Commit { signature } = out.sent[0].body else { panic!() };
    let header = r.ctx.proposal.as_ref().unwrap().header_hash;
    assert!(k.ring.verify(KeyId(2), &header, &signature), "commit signs the header");
    // Timer after Commit: T.
    assert_eq!(out.last_timer(), Some(300 + T));
    assert!(r.saved.is_some(), "the context is persisted on Commit");
}

#[test]
fn commit_lock_no_change_view_and_timeout_sends_recovery() {
    let k = Kit::new(4, Semantics::CSharp);
    let (mut r, req) = backup_with_request(&k);
    deliver(&k, &mut r, 300, 3, response(&k, 3, 0, &req));
    assert!(r.ctx.commit_sent());
    let out = fire(&k, &mut r, 300 + T);
    assert_eq!(out.kinds(), vec![MsgKind::RecoveryMessage]);
    assert_eq!(out.last_timer(), Some(300 + T + 2 * T));
    // M ChangeViews for view 1 never move a committed node.
    for from in [0, 1, 3] {
        let out = deliver(&k, &mut r, 400, from, k.cv(from, 1, 0));
        assert!(out.kinds().iter().all(|k| *k != MsgKind::ChangeView));
    }
    assert_eq!(r.ctx.view, 0);
    // And the recovery message carries our commit.
    let out = fire(&k, &mut r, 300 + 3 * T);
    let Body::RecoveryMessage(rec) = &out.sent[0].body else { panic!() };
    assert_eq!(rec.commits.len(), 1);
}

#[test]
fn m_commits_of_one_view_give_block_other_views_never_count() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(0);
    start(&k, &mut r, 0);
    let req = request(&k, 1, 0);
    deliver(&k, &mut r, 10, 1, req.clone());
    let header = r.ctx.proposal.as_ref().unwrap().header_hash;
    let commit = |from: u32, view: u8| {
        let sig = k.ring.keypair(KeyId(from)).unwrap().sign(&header);
        k.msg(from, 1, view, Body::Commit { signature: sig })
    };
    // Commits from view 1 (different view) are stored but never count.
    deliver(&k, &mut r, 20, 2, commit(2, 1));
    deliver(&k, &mut r, 20, 3, commit(3, 1));
    assert_eq!(r.ctx.count_committed(), 2);
    assert_eq!(r.ctx.count_commits_of_view(), 0);
    // Our own commit requires M preparations: request + own response + one more.
    let out = deliver(&k, &mut r, 30, 2, response(&k, 2, 0, &req));
    assert_eq!(out.kinds(), vec![MsgKind::Commit]);
    assert!(out.persisted.is_empty(), "1 commit of view 0 + 2 of view 1 is no block");
    // Validator 1's commit of view 0 makes two; still no block (M = 3).
    let out = deliver(&k, &mut r, 40, 1, commit(1, 0));
    assert!(out.persisted.is_empty());
    // A fresh node with three view-0 commits assembles the block.
    let mut s = k.replica(0);
    start(&k, &mut s, 0);
    deliver(&k, &mut s, 10, 1, req.clone());
    deliver(&k, &mut s, 20, 1, commit(1, 0));
    deliver(&k, &mut s, 20, 2, commit(2, 0));
    let out = deliver(&k, &mut s, 20, 3, commit(3, 0));
    assert_eq!(out.persisted.len(), 1);
    let b = &out.persisted[0];
    assert_eq!((b.height(), b.view, b.certificate.len()), (1, 0, 3));
    assert!(b.certificate.iter().all(|c| c.view == 0));
    assert_eq!(s.ctx.height, 2, "next height starts after the block");
}

#[test]
fn commit_with_bad_signature_is_rejected() {
    let k = Kit::new(4, Semantics::CSharp);
    let (mut r, _) = backup_with_request(&k);
    let header = r.ctx.proposal.as_ref().unwrap().header_hash;
    // Validator 3 signs but claims to be validator 0's commit signature: wrong key.
    let sig = k.ring.keypair(KeyId(3)).unwrap().sign(&header);
    deliver(&k, &mut r, 50, 0, k.msg(0, 1, 0, Body::Commit { signature: sig }));
    assert!(r.ctx.commits[0].is_none());
    // A payload signed by the wrong key never reaches a handler.
    let forged = {
        let key = k.ring.keypair(KeyId(3)).unwrap();
        Rc::new(Wire::Consensus(Rc::new(ConsensusMessage::signed(1, 0, 0, Body::Commit { signature: sig }, &key))))
    };
    let out = deliver(&k, &mut r, 60, 3, forged);
    assert!(out.notes.iter().any(|n| matches!(
        n,
        crate::protocol::Note::Rejected { reason: crate::protocol::RejectReason::BadSignature, .. }
    )));
}

#[test]
fn recovery_responders_are_exactly_the_f_plus_1_successors() {
    for n in [4usize, 5, 7, 10] {
        let k = Kit::new(n, Semantics::CSharp);
        let f = crate::validators::f_of(n);
        for me in 0..n {
            let r = k.replica(me as u32);
            for s in 0..n {
                let successors: Vec<usize> = (1..=f + 1).map(|i| (s + i) % n).collect();
                assert_eq!(r.is_recovery_responder(s), successors.contains(&me), "N={n} me={me} sender={s}");
            }
        }
    }
}

#[test]
fn recovery_request_answered_by_successors_and_deduplicated_in_csharp() {
    let k = Kit::new(4, Semantics::CSharp);
    let rr = k.msg(0, 1, 0, Body::RecoveryRequest { timestamp_ms: 1 });
    // F = 1: responders of sender 0 are 1 and 2.
    for (me, answers) in [(1, true), (2, true), (3, false)] {
        let mut r = k.replica(me);
        start(&k, &mut r, 0);
        let out = deliver(&k, &mut r, 10, 0, rr.clone());
        assert_eq!(out.kinds() == vec![MsgKind::RecoveryMessage], answers, "me={me}");
        if answers {
            assert!(deliver(&k, &mut r, 20, 0, rr.clone()).sent.is_empty(), "C# answers a payload once");
        }
    }
    let k = Kit::new(4, Semantics::Go);
    let rr = k.msg(0, 1, 0, Body::RecoveryRequest { timestamp_ms: 1 });
    let mut r = k.replica(1);
    start(&k, &mut r, 0);
    deliver(&k, &mut r, 10, 0, rr.clone());
    assert_eq!(deliver(&k, &mut r, 20, 0, rr).kinds(), vec![MsgKind::RecoveryMessage], "Go does not dedup");
}

/// `protocol.recovery_reply`: the answer to a RecoveryRequest (and to a stale ChangeView,
/// which C# treats as one) is broadcast by default and goes to the asking node alone under
/// `requester`.
#[test]
fn recovery_reply_requester_answers_the_asking_node_alone() {
    use crate::protocol::dbft::RecoveryReply;
    for (reply, stale_cv) in [
        (RecoveryReply::Broadcast, false),
        (RecoveryReply::Requester, false),
        (RecoveryReply::Broadcast, true),
        (RecoveryReply::Requester, true),
    ] {
        let mut k = Kit::new(4, Semantics::CSharp);
        k.opts = Rc::new(DbftOptions { recovery_reply: reply, ..(*k.opts).clone() });
        // Responder 1 of sender 0 (F = 1: responders are 1 and 2).
        let mut r = k.replica(1);
        start(&k, &mut r, 0);
        let ask = if stale_cv {
            // In view 1 after M ChangeViews, a ChangeView from view 0 is stale.
            for from in [0, 2, 3] {
                deliver(&k, &mut r, 5, from, k.cv(from, 1, 0));
            }
            assert_eq!(r.ctx.view, 1);
            k.msg(
                0,
                1,
                0,
                Body::ChangeView { timestamp_ms: 99, reason: ChangeViewReason::Timeout, rejected: Vec::new() },
            )
        } else {
            k.msg(0, 1, 0, Body::RecoveryRequest { timestamp_ms: 1 })
        };
        let mut buf = Vec::new();
        let mut cx = Cx::new(SimTime(10), &k.ring, &mut buf);
        r.on_message(&mut cx, NodeId(0), &ask);
        let addressed: Vec<Option<NodeId>> = buf
            .iter()
            .filter_map(|a| match a {
                Action::Broadcast(w) if matches!(&**w, Wire::Consensus(m) if m.kind() == MsgKind::RecoveryMessage) => {
                    Some(None)
                }
                Action::Send(to, w) if matches!(&**w, Wire::Consensus(m) if m.kind() == MsgKind::RecoveryMessage) => {
                    Some(Some(*to))
                }
                _ => None,
            })
            .collect();
        let want = match reply {
            RecoveryReply::Broadcast => vec![None],
            RecoveryReply::Requester => vec![Some(NodeId(0))],
        };
        assert_eq!(addressed, want, "{reply:?}, stale ChangeView: {stale_cv}");
    }
}

#[test]
fn change_view_to_current_or_lower_view_is_a_recovery_request() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(1);
    start(&k, &mut r, 0);
    // Move r to view 1 with M ChangeViews.
    for from in [0, 2, 3] {
        deliver(&k, &mut r, 10, from, k.cv(from, 1, 0));
    }
    assert_eq!(r.ctx.view, 1);
    // A ChangeView from view 0 (NewViewNumber 1 ≤ 1) from validator 0: r (index 1) is a
    // successor of 0, so it answers with a RecoveryMessage.
    let stale =
        k.msg(0, 1, 0, Body::ChangeView { timestamp_ms: 99, reason: ChangeViewReason::Timeout, rejected: Vec::new() });
    let out = deliver(&k, &mut r, 20, 0, stale);
    assert_eq!(out.kinds(), vec![MsgKind::RecoveryMessage]);
    assert_eq!(r.ctx.view, 1);
}

#[test]
fn m_change_views_change_view_and_change_agreement_follows_semantics() {
    for (sem, agreement) in [(Semantics::CSharp, true), (Semantics::Go, false)] {
        let k = Kit::new(4, sem);
        let mut r = k.replica(3);
        start(&k, &mut r, 0);
        // r never sent a ChangeView itself. Two from others: nothing yet.
        deliver(&k, &mut r, 10, 0, k.cv(0, 1, 0));
        let out = deliver(&k, &mut r, 10, 1, k.cv(1, 1, 0));
        assert!(out.sent.is_empty());
        let out = deliver(&k, &mut r, 10, 2, k.cv(2, 1, 0));
        assert_eq!(r.ctx.view, 1, "{sem:?}");
        let sent_cv = out
            .sent
            .iter()
            .any(|m| matches!(m.body, Body::ChangeView { reason: ChangeViewReason::ChangeAgreement, .. }));
        assert_eq!(sent_cv, agreement, "{sem:?}: ChangeAgreement without own ChangeView");
        // Backup in view 1 (primary is (1-1) mod 4 = 0): timer T·2^2 — except under Go's
        // genesis quirk, where every timer of height 1 is 0 until a checkPrepare.
        let want = if sem == Semantics::Go { 10 } else { 10 + 4 * T };
        assert_eq!(out.last_timer(), Some(want), "{sem:?}");
    }
    // Go sends the agreement when its own ChangeView was lower. Go clears ChangeViews at
    // every view change, so "lower" means one sent in the current view.
    let k = Kit::new(4, Semantics::Go);
    let mut r = k.replica(3);
    start(&k, &mut r, 0);
    for from in [0, 1, 2] {
        deliver(&k, &mut r, 10, from, k.cv(from, 1, 0));
    }
    assert_eq!(r.ctx.view, 1);
    hear_from_all(&k, &mut r, 20, 4, 3);
    let out = fire(&k, &mut r, 10 + 4 * T); // own ChangeView from view 1: NewViewNumber 2
    assert_eq!(out.sent[0].new_view_number(), 2);
    // M ChangeViews from view 2 (NewViewNumber 3) while our own says 2.
    let mut out = Out::default();
    for from in [0, 1, 2] {
        out = deliver(&k, &mut r, 5 * T, from, k.cv(from, 1, 2));
    }
    assert_eq!(r.ctx.view, 3);
    assert!(
        out.sent.iter().any(|m| matches!(m.body, Body::ChangeView { reason: ChangeViewReason::ChangeAgreement, .. }))
    );
}

#[test]
fn timeout_sends_change_view_with_doubling_timer() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let out = fire(&k, &mut r, 2 * T);
    assert_eq!(out.kinds(), vec![MsgKind::ChangeView]);
    let Body::ChangeView { reason, .. } = out.sent[0].body else { panic!() };
    assert_eq!(reason, ChangeViewReason::Timeout);
    assert_eq!(out.sent[0].new_view_number(), 1);
    // The timeout of the target view 1: T·2^2.
    assert_eq!(out.last_timer(), Some(2 * T + 4 * T));
    // Re-expiry in view 0 re-sends CV(1) with the same timeout, not a larger one.
    let out = fire(&k, &mut r, 6 * T);
    assert_eq!(out.sent[0].new_view_number(), 1);
    assert_eq!(out.last_timer(), Some(6 * T + 4 * T));
}

#[test]
fn timeout_with_missing_transactions_says_tx_not_found() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let req = request_with(&k, 1, 0, vec![42]);
    let out = deliver(&k, &mut r, 10, 1, req);
    assert!(out.sent.is_empty(), "waits for tx 42");
    let out = fire(&k, &mut r, 5 * T);
    let Body::ChangeView { reason, .. } = out.sent[0].body else { panic!("{:?}", out.kinds()) };
    assert_eq!(reason, ChangeViewReason::TxNotFound);
    // When the transaction arrives later (after the view change request) nothing happens
    // while view changing with ≤ F committed or lost.
    let out = run(&k.ring, 5 * T + 1, |cx| Replica::on_transaction(&mut r, cx, 42));
    assert!(out.sent.is_empty());
}

#[test]
fn late_transaction_triggers_response() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let req = request_with(&k, 1, 0, vec![42]);
    deliver(&k, &mut r, 10, 1, req);
    let out = run(&k.ring, 20, |cx| Replica::on_transaction(&mut r, cx, 42));
    assert_eq!(out.kinds(), vec![MsgKind::PrepareResponse]);
}

#[test]
fn more_than_f_committed_or_lost_turns_change_view_into_recovery_request() {
    let k = Kit::new(4, Semantics::CSharp);
    let (mut r, req) = backup_with_request(&k);
    // Validator 0 commits (in view 0): CountCommitted = 1 = F; add one lost node by
    // pretending two heights passed without hearing from validator 3.
    let header = r.ctx.proposal.as_ref().unwrap().header_hash;
    let _ = req;
    let sig = k.ring.keypair(KeyId(0)).unwrap().sign(&header);
    deliver(&k, &mut r, 20, 0, k.msg(0, 1, 0, Body::Commit { signature: sig }));
    assert_eq!(r.ctx.count_committed(), 1);
    if let context::LastSeen::Height(map) = &mut r.last_seen {
        map.remove(&KeyId(3));
    }
    assert_eq!(r.count_failed(), 1);
    let out = fire(&k, &mut r, 10 * T);
    assert_eq!(out.kinds(), vec![MsgKind::RecoveryRequest]);
}

#[test]
fn change_view_while_view_changing_blocks_request_in_csharp_not_go() {
    for (sem, accepts) in [(Semantics::CSharp, false), (Semantics::Go, true)] {
        let k = Kit::new(4, sem);
        let mut r = k.replica(2);
        start(&k, &mut r, 0);
        hear_from_all(&k, &mut r, 5, 4, 2);
        fire(&k, &mut r, 2 * T); // ChangeView(1): view changing, nothing committed or lost
        assert!(r.ctx.view_changing());
        let out = deliver(&k, &mut r, 2 * T + 5, 1, request(&k, 1, 0));
        assert_eq!(out.kinds() == vec![MsgKind::PrepareResponse], accepts, "{sem:?}");
    }
}

#[test]
fn timers_guard_against_overflow_at_large_views() {
    let k = Kit::new(4, Semantics::CSharp);
    let r = k.replica(2);
    assert_eq!(r.shifted(200), u64::MAX);
    assert_eq!(r.shifted(3), 8 * T);
}

#[test]
fn watch_only_node_sends_nothing() {
    let k = Kit::new(4, Semantics::CSharp);
    // Key 4 is not in the set.
    let mut w = DbftReplica::new(NodeId(4), k.ring.keypair(KeyId(4)), k.opts.clone(), k.genesis.clone());
    let out = start(&k, &mut w, 0);
    assert!(out.sent.is_empty() && out.timers.is_empty());
    let out = deliver(&k, &mut w, 10, 1, request(&k, 1, 0));
    assert!(out.sent.is_empty());
}

#[test]
fn recovery_message_replays_request_responses_and_commits() {
    let k = Kit::new(4, Semantics::CSharp);
    // Node 3 has request + responses from 2 and 3 + commits; it is committed.
    let mut a = k.replica(3);
    start(&k, &mut a, 0);
    let req = request(&k, 1, 0);
    deliver(&k, &mut a, 10, 1, req.clone());
    let out = deliver(&k, &mut a, 20, 2, response(&k, 2, 0, &req));
    assert!(a.ctx.commit_sent(), "{:?}", out.kinds());
    let rec = a.make_recovery_message().unwrap();
    let Body::RecoveryMessage(body) = &rec.body else { panic!() };
    assert!(body.prepare_request.is_some());
    assert_eq!(body.preparations.len(), 3);
    assert_eq!(body.commits.len(), 1);
    // A fresh node 0 that missed everything catches up from the recovery message: it
    // adopts the request, the two responses, sends its own response and commits.
    let mut b = k.replica(0);
    start(&k, &mut b, 0);
    let out = deliver(&k, &mut b, 30, 3, Rc::new(Wire::Consensus(Rc::new(rec))));
    assert!(b.ctx.request_sent_or_received());
    assert_eq!(out.kinds(), vec![MsgKind::PrepareResponse, MsgKind::Commit]);
    assert_eq!(b.ctx.count_committed(), 2);
}

#[test]
fn restart_keeps_the_commit_lock_unless_amnesic() {
    let k = Kit::new(4, Semantics::CSharp);
    let (mut r, req) = backup_with_request(&k);
    deliver(&k, &mut r, 300, 3, response(&k, 3, 0, &req));
    let first = r.ctx.my_commit().unwrap().clone();
    // Persisted: the restarted node re-sends the same Commit and sends no ChangeView.
    let mut back = r.after_crash(false);
    let out = start(&k, &mut back, 400);
    assert_eq!(out.kinds(), vec![MsgKind::Commit]);
    assert_eq!(out.sent[0].hash, first.hash);
    assert!(back.ctx.commit_sent());
    // Amnesic: it starts over at view 0 with no commit.
    let mut lost = r.after_crash(true);
    let out = start(&k, &mut lost, 400);
    assert_eq!(out.kinds(), vec![MsgKind::RecoveryRequest]);
    assert!(!lost.ctx.commit_sent());
}

#[test]
fn commit_of_current_view_extends_by_4t_over_m_and_nothing_extends_once_committed() {
    let k = Kit::new(4, Semantics::CSharp);
    let (mut r, _) = backup_with_request(&k);
    let before = r.timer.deadline.0;
    let header = r.ctx.proposal.as_ref().unwrap().header_hash;
    let sig = k.ring.keypair(KeyId(0)).unwrap().sign(&header);
    let out = deliver(&k, &mut r, 150, 0, k.msg(0, 1, 0, Body::Commit { signature: sig }));
    assert_eq!(out.timers, vec![SimTime(before + 4 * T / 3)]);
}

#[test]
fn nothing_extends_the_timer_once_committed() {
    // N = 7 (M = 5), so a few commits do not finish the block.
    let k = Kit::new(7, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let req = request(&k, 1, 0);
    deliver(&k, &mut r, 10, 1, req.clone());
    for from in [0, 3, 4] {
        deliver(&k, &mut r, 20, from, response(&k, from, 0, &req));
    }
    assert!(r.ctx.commit_sent());
    let header = r.ctx.proposal.as_ref().unwrap().header_hash;
    let commit = |i: u32| k.msg(i, 1, 0, Body::Commit { signature: k.ring.keypair(KeyId(i)).unwrap().sign(&header) });
    let out = deliver(&k, &mut r, 30, 0, commit(0));
    assert!(out.timers.is_empty(), "a committed node does not extend: {:?}", out.timers);
    assert!(out.persisted.is_empty());
    let out = deliver(&k, &mut r, 40, 3, response(&k, 5, 0, &req));
    assert!(out.timers.is_empty());
}

#[test]
fn view_changing_node_does_not_extend() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    fire(&k, &mut r, 2 * T); // ChangeView(1)
    assert!(r.ctx.view_changing());
    let req = request(&k, 1, 0);
    let out = deliver(&k, &mut r, 2 * T + 1, 3, response(&k, 3, 0, &req));
    assert!(out.timers.is_empty(), "no extension while view changing");
}

#[test]
fn csharp_primary_of_next_height_waits_t_since_it_received_the_previous_request() {
    // Node 2 is the primary of height 2. It receives height 1's request at 10 ms, gathers
    // the block itself at 40 ms; its view-0 timer at height 2 is T − (40 − 10) ms.
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let req = request(&k, 1, 0);
    deliver(&k, &mut r, 10_000, 1, req.clone());
    deliver(&k, &mut r, 20_000, 3, response(&k, 3, 0, &req));
    assert!(r.ctx.commit_sent());
    let header = r.ctx.proposal.as_ref().unwrap().header_hash;
    let commit = |i: u32| k.msg(i, 1, 0, Body::Commit { signature: k.ring.keypair(KeyId(i)).unwrap().sign(&header) });
    deliver(&k, &mut r, 30_000, 1, commit(1));
    let out = deliver(&k, &mut r, 40_000, 3, commit(3));
    assert_eq!(out.persisted.len(), 1);
    assert_eq!(r.ctx.height, 2);
    assert!(r.ctx.is_primary());
    assert_eq!(out.last_timer(), Some(40_000 + T - 30_000));
    // A node that got the block by relay instead waits a full T (it did not assemble it).
    let mut s = k.replica(2);
    start(&k, &mut s, 0);
    deliver(&k, &mut s, 10_000, 1, req);
    let block = out.persisted[0].clone();
    let out = deliver(&k, &mut s, 50_000, 3, Rc::new(Wire::Block(block)));
    assert_eq!(out.persisted.len(), 1);
    assert_eq!(out.last_timer(), Some(50_000 + T));
}

#[test]
fn go_primary_of_a_later_view_fires_at_once() {
    let k = Kit::new(4, Semantics::Go);
    let mut r = k.replica(0); // primary of height 1, view 1
    r.go_last_check = Some((0, 0, SimTime(0))); // past the genesis quirk
    start(&k, &mut r, 0);
    let mut out = Out::default();
    for from in [1, 2, 3] {
        out = deliver(&k, &mut r, 2 * T, from, k.cv(from, 1, 0));
    }
    assert_eq!((r.ctx.view, r.ctx.is_primary()), (1, true));
    assert_eq!(out.last_timer(), Some(2 * T), "Go: a view>0 primary's timer expires at once");
    assert_eq!(fire(&k, &mut r, 2 * T).kinds(), vec![MsgKind::PrepareRequest]);
    let k = Kit::new(4, Semantics::CSharp);
    let mut c = k.replica(0);
    c.ctx.view = 1;
    assert_eq!(c.initial_timeout(SimTime(5 * T), c.ctx.view), T, "C#: T (no reference block of its own)");
}

/// Go's Initialize replays cached messages before it sets the timer. Node 1 caches M
/// ChangeViews of height 2 while finishing height 1; on the new height the replay moves it
/// to view 1 (where it is primary, timer 0), and then the outer Initialize(0) sets the
/// timer as for a view-0 primary (Go tests the view it was called with): T less the time
/// since its last checkPrepare.
#[test]
fn go_replayed_change_views_move_the_view_and_the_outer_initialize_sets_the_timer() {
    let k = Kit::new(4, Semantics::Go);
    let mut r = k.replica(1); // primary of height 1 view 0 and of height 2 view 1
    let req = Rc::new(Wire::Consensus(start(&k, &mut r, 0).sent[0].clone()));
    assert_eq!(inner(&req).kind(), MsgKind::PrepareRequest, "Go's primary proposes at start");
    for from in [2, 3] {
        deliver(&k, &mut r, 10_000, from, response(&k, from, 0, &req));
    }
    assert!(r.ctx.commit_sent());
    for from in [0, 2, 3] {
        let out = deliver(&k, &mut r, 20_000, from, k.cv(from, 2, 0));
        assert!(out.sent.is_empty() && out.timers.is_empty(), "a future height's ChangeView is cached");
    }
    let header = r.ctx.proposal.as_ref().unwrap().header_hash;
    let commit = |i: u32| k.msg(i, 1, 0, Body::Commit { signature: k.ring.keypair(KeyId(i)).unwrap().sign(&header) });
    deliver(&k, &mut r, 30_000, 2, commit(2));
    let out = deliver(&k, &mut r, 40_000, 3, commit(3));
    assert_eq!(out.persisted.len(), 1);
    assert_eq!((r.ctx.height, r.ctx.view, r.ctx.is_primary()), (2, 1, true));
    // The nested Initialize(1) armed 0 (a view>0 primary starts at once); the outer one
    // then armed T − 40 ms, the last checkPrepare being the one right after its request
    // at 0 ms (Go's RTT correction is not modelled).
    assert_eq!(out.timers, vec![SimTime(40_000), SimTime(T)]);
}

#[test]
fn prepare_response_received_extends_by_2t_over_m() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let before = r.timer.deadline.0;
    // A response before the request: stored, and the timer extended.
    let out = deliver(&k, &mut r, 5, 3, response(&k, 3, 0, &request(&k, 1, 0)));
    assert_eq!(out.timers, vec![SimTime(before + 2 * T / 3)]);
    assert!(r.ctx.preparations[3].is_some());
}

#[test]
fn recovery_message_from_a_higher_view_moves_us_there_and_a_recovered_primary_waits() {
    let k = Kit::new(4, Semantics::CSharp);
    // Node 3 collects M ChangeViews for view 1 and so enters view 1.
    let mut a = k.replica(3);
    start(&k, &mut a, 0);
    for from in [0, 1, 2] {
        deliver(&k, &mut a, 10, from, k.cv(from, 1, 0));
    }
    assert_eq!(a.ctx.view, 1);
    let rec = Rc::new(Wire::Consensus(Rc::new(a.make_recovery_message().unwrap())));
    // Node 0 — the primary of view 1 — never saw the ChangeViews; the recovery message
    // carries them (M of them, C#), and it follows into view 1.
    let mut b = k.replica(0);
    start(&k, &mut b, 0);
    let out = deliver(&k, &mut b, 20, 3, rec);
    assert_eq!(b.ctx.view, 1);
    assert!(b.ctx.is_primary());
    // Entering a view while recovering, a primary waits T·2^(v+1) instead of proposing
    // at once (docs/dbft-2.0.md §1.5).
    assert_eq!(out.last_timer(), Some(20 + 4 * T));
    assert!(out.kinds().iter().all(|k| *k != MsgKind::PrepareRequest));
}

#[test]
fn get_blocks_is_answered_with_the_blocks_asked_for() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut s = k.replica(0);
    start(&k, &mut s, 0);
    let req = request(&k, 1, 0);
    deliver(&k, &mut s, 10, 1, req);
    let header = s.ctx.proposal.as_ref().unwrap().header_hash;
    for i in 1..=3u32 {
        let sig = k.ring.keypair(KeyId(i)).unwrap().sign(&header);
        deliver(&k, &mut s, 20, i, k.msg(i, 1, 0, Body::Commit { signature: sig }));
    }
    assert_eq!(s.ledger_height(), 1);
    let mut buf = Vec::new();
    let mut cx = Cx::new(SimTime(30), &k.ring, &mut buf);
    s.on_message(&mut cx, NodeId(3), &Rc::new(Wire::GetBlocks { from: 1 }));
    let sent: Vec<(NodeId, u32)> = buf
        .iter()
        .filter_map(|a| match a {
            Action::Send(to, w) => match &**w {
                Wire::Block(b) => Some((*to, b.height())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![(NodeId(3), 1)]);
    // Nothing beyond the tip.
    let mut buf = Vec::new();
    let mut cx = Cx::new(SimTime(40), &k.ring, &mut buf);
    s.on_message(&mut cx, NodeId(3), &Rc::new(Wire::GetBlocks { from: 2 }));
    assert!(buf.iter().all(|a| !matches!(a, Action::Send(..))));
}

#[test]
fn invalid_requests_csharp_ignores_go_changes_view() {
    let bad_prev = |k: &Kit| {
        k.msg(
            1,
            1,
            0,
            Body::PrepareRequest {
                version: 0,
                prev_hash: Hash32::of(b"x"),
                timestamp_ms: 10,
                nonce: 1,
                tx_hashes: vec![],
            },
        )
    };
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let out = deliver(&k, &mut r, 10, 1, bad_prev(&k));
    assert!(out.sent.is_empty(), "C# ignores an invalid request");
    assert!(!r.ctx.request_sent_or_received());
    let k = Kit::new(4, Semantics::Go);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    hear_from_all(&k, &mut r, 0, 4, 2);
    let out = deliver(&k, &mut r, 10, 1, bad_prev(&k));
    let Body::ChangeView { reason, .. } = out.sent[0].body else { panic!("{:?}", out.kinds()) };
    assert_eq!(reason, ChangeViewReason::BlockRejectedByPolicy);
    // A timestamp not after the previous block passes Go's request check but fails its
    // block check once the transactions are in: TxInvalid.
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    hear_from_all(&k, &mut r, 0, 4, 2);
    let stale = k.msg(
        1,
        1,
        0,
        Body::PrepareRequest { version: 0, prev_hash: k.genesis.hash, timestamp_ms: 0, nonce: 1, tx_hashes: vec![] },
    );
    let out = deliver(&k, &mut r, 10, 1, stale);
    let Body::ChangeView { reason, .. } = out.sent[0].body else { panic!("{:?}", out.kinds()) };
    assert_eq!(reason, ChangeViewReason::TxInvalid);
}

#[test]
fn state_hash_follows_the_state() {
    let k = Kit::new(4, Semantics::CSharp);
    let (mut a, req) = backup_with_request(&k);
    let (b, _) = backup_with_request(&k);
    assert_eq!(a.state_hash(), b.state_hash(), "same inputs, same state");
    deliver(&k, &mut a, 300, 3, response(&k, 3, 0, &req));
    assert_ne!(a.state_hash(), b.state_hash(), "a commit changes the state");
    assert_eq!(a.clone().state_hash(), a.state_hash());
}

/// A RecoveryMessage carries ChangeViews without their reason, so one sent with reason
/// TxNotFound is rebuilt as Timeout and no longer matches its signature. C# checks the
/// rebuilt payload and drops it; Go does not check recovered payloads and counts it.
#[test]
fn recovered_change_view_with_another_reason_counts_in_go_only() {
    for (sem, moves) in [(Semantics::CSharp, false), (Semantics::Go, true)] {
        let k = Kit::new(4, sem);
        let cv = |from: u32, reason| {
            let body = Body::ChangeView { timestamp_ms: 5, reason, rejected: Vec::new() };
            inner(&k.msg(from, 1, 0, body))
        };
        let compact = |m: &Rc<ConsensusMessage>| super::message::ChangeViewCompact {
            validator: m.validator,
            original_view: m.view,
            timestamp_ms: 5,
            sig: m.sig,
        };
        // Validators 1 and 2 asked for view 1 (TxNotFound, Timeout); 3 sends what it has.
        let (a, b) = (cv(1, ChangeViewReason::TxNotFound), cv(2, ChangeViewReason::Timeout));
        let mine = cv(3, ChangeViewReason::Timeout);
        let rec = Body::RecoveryMessage(Box::new(super::message::Recovery {
            change_views: vec![compact(&a), compact(&b), compact(&mine)],
            prepare_request: None,
            preparation_hash: None,
            preparations: vec![],
            commits: vec![],
        }));
        let mut r = k.replica(0);
        start(&k, &mut r, 0);
        deliver(&k, &mut r, 10, 3, k.msg(3, 1, 1, rec));
        // Three valid votes for view 1 reach M = 3; with one of them dropped, they do not.
        assert_eq!(r.ctx.view == 1, moves, "{sem:?}");
    }
}

/// A Commit that arrives before the PrepareRequest cannot be checked (no header yet).
/// C# re-verifies it when the request arrives (neo-node `ConsensusService.OnMessage.cs`
/// `OnPrepareRequestReceived`) and drops a bad one; Go does not (nspcc-dev/dbft `dbft.go`
/// `onPrepareRequest` runs `updateExistingPayloads` before storing the request, when
/// `MakeHeader` is still nil), and both assemble the block from the first M stored Commits
/// of the view unchecked (neo-node `ConsensusContext.CreateBlock`, neo-go
/// `getBlockWitness`). So under Go the garbage Commit goes into the block: the ledger
/// rejects it and the node stays BlockSent; under C#, or with the `verify-stored-commits`
/// fix, the node persists a valid block.
#[test]
fn early_garbage_commit_wedges_go_but_not_csharp_or_the_fix() {
    for (semantics, fixes, wedged) in [
        (Semantics::Go, vec![], true),
        (Semantics::CSharp, vec![], false),
        (Semantics::Go, vec![Fix::VerifyStoredCommits], false),
    ] {
        let mut k = Kit::new(4, semantics);
        Rc::make_mut(&mut k.opts).fixes = fixes.clone();
        let mut r = k.replica(0);
        start(&k, &mut r, 0);
        let garbage = k.msg(3, 1, 0, Body::Commit { signature: crate::protocol::crypto::Signature(0xbad) });
        deliver(&k, &mut r, 10, 3, garbage);
        let req = request(&k, 1, 0);
        deliver(&k, &mut r, 20, 1, req.clone());
        let out = deliver(&k, &mut r, 30, 2, response(&k, 2, 0, &req));
        assert!(out.kinds().contains(&MsgKind::Commit), "{semantics:?}: M preparations → own Commit");
        let header = r.ctx.proposal.as_ref().map(|p| p.header_hash).unwrap();
        let genuine = |i: u32| {
            let key = k.ring.keypair(KeyId(i)).unwrap();
            k.msg(i, 1, 0, Body::Commit { signature: crate::protocol::block::sign_header(&key, &header) })
        };
        let mut persisted = deliver(&k, &mut r, 40, 1, genuine(1)).persisted;
        persisted.extend(deliver(&k, &mut r, 50, 2, genuine(2)).persisted);
        let tag = format!("{semantics:?} {fixes:?}");
        if wedged {
            assert!(persisted.is_empty(), "{tag}: no valid block from a bad certificate");
            assert!(r.ctx.block_sent, "{tag}: BlockSent, waiting for a valid block from others");
        } else {
            assert_eq!(persisted.len(), 1, "{tag}: the block of three valid Commits");
            assert!(persisted[0].certificate.iter().all(|c| c.index != 3), "{tag}: R3's garbage is not in it");
        }
    }
}

/// Index 0 after M ChangeViews moved it to view 1 of height 1, where it is the primary
/// and has not proposed yet.
fn primary_of_view_1(k: &Kit) -> DbftReplica {
    let mut r = k.replica(0);
    start(k, &mut r, 0);
    for from in [1, 2, 3] {
        deliver(k, &mut r, 10, from, k.cv(from, 1, 0));
    }
    r
}

/// A primary that gets its own PrepareRequest back before it proposed (here: the view-1
/// request of index 0, as a replay or a recovery would bring it) accepts it under both
/// semantics — neither checks whether *this* node is the primary. C# stops before
/// responding (neo-node `ConsensusService.Check.cs` `CheckPrepareResponse`) and keeps the
/// request; Go responds (nspcc-dev/dbft `dbft.go` `onPrepareRequest` → `send.go`
/// `sendPrepareResponse`), and the response takes the request's slot.
#[test]
fn a_go_primary_answers_its_own_request_and_loses_it() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(4, sem);
        let mut r = primary_of_view_1(&k);
        assert!(r.ctx.view == 1 && r.ctx.is_primary(), "{sem:?}: index 0 leads view 1");
        let out = deliver(&k, &mut r, 20, 1, request(&k, 0, 1));
        match sem {
            Semantics::CSharp => {
                assert!(out.kinds().is_empty(), "C#: no response from the primary: {:?}", out.kinds());
                assert!(r.ctx.request().is_some(), "C#: the request stays in its slot");
            }
            Semantics::Go => {
                assert_eq!(out.kinds(), vec![MsgKind::PrepareResponse], "Go: the primary responds {:?}", r.ctx.view);
                assert!(r.ctx.request().is_none(), "Go: its response overwrote the request");
            }
        }
    }
}

/// What follows for a Go primary that answered its own request: its slot holds no
/// PrepareRequest, and Go commits only while one does (nspcc-dev/dbft `check.go`
/// `checkPrepare`'s `hasRequest`); a response that arrives then is stored and goes no
/// further, neither extending the timer nor checking preparations (`dbft.go`
/// `onPrepareResponse`, "unexpected nil prepare request"). So M − 1 = 2 backups' responses
/// plus its own answer (3 = M preparations) give no Commit under Go. A C# primary keeps
/// the request in its slot and commits on the same three.
#[test]
fn a_go_primary_that_answered_itself_does_not_commit_in_that_view() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(4, sem);
        let mut r = primary_of_view_1(&k);
        let req = request(&k, 0, 1);
        deliver(&k, &mut r, 20, 1, req.clone());
        let first = deliver(&k, &mut r, 30, 2, response(&k, 2, 1, &req));
        let second = deliver(&k, &mut r, 40, 3, response(&k, 3, 1, &req));
        let sent: Vec<MsgKind> = first.kinds().into_iter().chain(second.kinds()).collect();
        match sem {
            Semantics::CSharp => assert!(sent.contains(&MsgKind::Commit), "C#: request + 2 responses = M: {sent:?}"),
            Semantics::Go => {
                assert!(sent.is_empty(), "Go: no Commit without a request in a slot: {sent:?}");
                assert!(first.timers.is_empty() && second.timers.is_empty(), "Go: no timer extension either");
                assert_eq!(r.ctx.count_preparations(), 3, "Go: both responses are stored all the same");
                assert!(!r.ctx.commit_sent());
            }
        }
    }
}

/// A RecoveryMessage that carries a PrepareRequest carries no preparation hash; its
/// responses are rebuilt over a hash the receiver supplies. A Go host takes the hash of
/// the request rebuilt from the message itself (neo-go `consensus.go` `eventLoop`), so a
/// node that stored another request from an equivocating primary refuses the rebuilt
/// responses as answering another proposal. Were they rebuilt over its own request's hash
/// (as C# does, where the rebuilt payloads then fail their signature check), Go — which
/// verifies no rebuilt payload — would count two responses to a proposal nobody answered
/// and commit on them.
#[test]
fn go_rebuilds_recovered_responses_over_the_recovered_request() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(4, sem);
        // The primary of height 1, view 0 (index 1) equivocates: request A to node 2,
        // request B (another nonce) to node 3.
        let a = request(&k, 1, 0);
        let b = k.msg(
            1,
            1,
            0,
            Body::PrepareRequest {
                version: 0,
                prev_hash: k.genesis.hash,
                timestamp_ms: 10,
                nonce: 2,
                tx_hashes: vec![],
            },
        );
        assert_ne!(inner(&a).hash, inner(&b).hash);
        let mut sender = k.replica(3);
        start(&k, &mut sender, 0);
        deliver(&k, &mut sender, 10, 1, b.clone());
        deliver(&k, &mut sender, 20, 0, response(&k, 0, 0, &b));
        let rec = sender.make_recovery_message().expect("a RecoveryMessage");
        let mut r = k.replica(2);
        start(&k, &mut r, 0);
        deliver(&k, &mut r, 10, 1, a.clone());
        assert_eq!(r.ctx.count_preparations(), 2, "{sem:?}: request A and its own response");
        let out = deliver(&k, &mut r, 30, 3, Rc::new(Wire::Consensus(Rc::new(rec))));
        assert!(!out.kinds().contains(&MsgKind::Commit), "{sem:?}: committed on responses to B: {:?}", out.kinds());
        assert_eq!(r.ctx.count_preparations(), 2, "{sem:?}: the responses to B were counted for A");
    }
}

/// Without the PrepareRequest, a RecoveryMessage still names the proposal its responses
/// answer: C# the hash most responses carry, a tie going to the first in validator order
/// (neo-node `ConsensusContext.MakeRecoveryMessage`); neo-go the lowest-index response's
/// (neo-go `pkg/consensus/recovery_message.go` `AddPayload`, fed in index order by
/// nspcc-dev/dbft `send.go` `makeRecoveryMessage`).
#[test]
fn a_recovery_message_without_the_request_names_the_responses_hash() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(7, sem);
        let mut r = k.replica(0);
        start(&k, &mut r, 0);
        let primary = r.ctx.primary() as u32;
        let (a, b) = (Hash32([9; 32]), Hash32([1; 32]));
        // Index order of the responders: a from the lowest, then b twice.
        let responders: Vec<u32> = (1..7).filter(|&i| i != primary).take(3).collect();
        for (&from, hash) in responders.iter().zip([a, b, b]) {
            deliver(&k, &mut r, 10, from, k.msg(from, 1, 0, Body::PrepareResponse { preparation_hash: hash }));
        }
        assert!(r.ctx.request().is_none());
        let Some(ConsensusMessage { body: Body::RecoveryMessage(rec), .. }) = r.make_recovery_message() else {
            panic!("{sem:?}: no RecoveryMessage");
        };
        let want = if sem == Semantics::CSharp { b } else { a };
        assert_eq!(rec.preparation_hash, Some(want), "{sem:?}");
    }
}

/// A Commit carried by a RecoveryMessage is rebuilt in its own view by C# and in the
/// RecoveryMessage's view by Go (neo-go `GetCommits` → `fromPayload`). A view-0 Commit in a
/// view-1 RecoveryMessage, at a receiver in view 1 that has no header yet: C# stores it as
/// a view-0 Commit, Go as a view-1 one, unchecked.
#[test]
fn a_recovered_commit_takes_the_recovery_view_under_go() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(4, sem);
        let mut r = k.replica(1);
        start(&k, &mut r, 0);
        for from in [0, 2, 3] {
            deliver(&k, &mut r, 10, from, k.cv(from, 1, 0));
        }
        assert_eq!(r.ctx.view, 1);
        let key = k.ring.keypair(KeyId(2)).unwrap();
        let commit =
            ConsensusMessage::signed(1, 0, 2, Body::Commit { signature: crate::protocol::crypto::Signature(7) }, &key);
        let rec = Body::RecoveryMessage(Box::new(super::message::Recovery {
            change_views: vec![],
            prepare_request: None,
            preparation_hash: None,
            preparations: vec![],
            commits: vec![super::message::CommitCompact {
                view: 0,
                validator: 2,
                signature: crate::protocol::crypto::Signature(7),
                sig: commit.sig,
            }],
        }));
        deliver(&k, &mut r, 20, 3, k.msg(3, 1, 1, rec));
        let stored = r.ctx.commits[2].as_ref().map(|c| c.view);
        let want = if sem == Semantics::CSharp { 0 } else { 1 };
        assert_eq!(stored, Some(want), "{sem:?}");
    }
}

/// The second handling in C# comes from the RelayResult the blockchain actor publishes,
/// and the service takes only a `Succeed` one (neo-node `ConsensusService.OnReceive`); a
/// payload whose witness fails re-verification is dropped once, not twice: a forged
/// Commit inside a RecoveryMessage gives one rejection and is never stored.
#[test]
fn csharp_drops_a_forged_recovered_payload_once() {
    use crate::protocol::Note;
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let commits = vec![super::message::CommitCompact {
        view: 0,
        validator: 0,
        signature: crate::protocol::crypto::Signature(7),
        sig: crate::protocol::crypto::Signature(9),
    }];
    let rec = Body::RecoveryMessage(Box::new(super::message::Recovery {
        change_views: vec![],
        prepare_request: None,
        preparation_hash: None,
        preparations: vec![],
        commits,
    }));
    let out = deliver(&k, &mut r, 20, 3, k.msg(3, 1, 0, rec));
    let rejected = out.notes.iter().filter(|n| matches!(n, Note::Rejected { kind: MsgKind::Commit, .. })).count();
    assert_eq!(rejected, 1, "one rejection of the forged Commit: {:?}", out.notes);
    assert!(r.ctx.commits.iter().all(|c| c.is_none()), "the forged Commit is not stored");
}

/// C# handles every payload rebuilt from a RecoveryMessage twice: once after re-verifying
/// it, and again when the blockchain publishes the verification result (neo-node
/// `ConsensusService.ReverifyAndProcessPayload`, `OnConsensusPayload`). The recovered
/// ChangeViews that moved the node to view 1 come back as stale ChangeViews — recovery
/// requests — and the node, a successor of validator 0, answers with a RecoveryMessage. Go
/// handles each once and stays quiet.
#[test]
fn csharp_handles_recovered_change_views_twice() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(4, sem);
        let mut r = k.replica(1);
        start(&k, &mut r, 0);
        let change_views = [0u32, 2, 3]
            .iter()
            .map(|&i| {
                let cv = inner(&k.cv(i, 1, 0));
                let Body::ChangeView { timestamp_ms, .. } = cv.body else { unreachable!() };
                super::message::ChangeViewCompact { validator: i as u16, original_view: 0, timestamp_ms, sig: cv.sig }
            })
            .collect();
        let rec = Body::RecoveryMessage(Box::new(super::message::Recovery {
            change_views,
            prepare_request: None,
            preparation_hash: None,
            preparations: vec![],
            commits: vec![],
        }));
        let out = deliver(&k, &mut r, 20, 3, k.msg(3, 1, 1, rec));
        assert_eq!(r.ctx.view, 1, "{sem:?}: M recovered ChangeViews move the node to view 1");
        let answered = out.kinds().contains(&MsgKind::RecoveryMessage);
        assert_eq!(answered, sem == Semantics::CSharp, "{sem:?}: {:?}", out.kinds());
    }
}

/// Both implementations extend the timer by 4T/M for a Commit of the current view before
/// they check its block signature, and keep only a Commit that passes (neo-node
/// `ConsensusService.OnMessage.cs` `OnCommitReceived`: ExtendTimerByFactor(4) ahead of
/// VerifySignature; nspcc-dev/dbft `dbft.go` `onCommit`: extendTimer(4) ahead of
/// header.Verify, which clears the slot on failure). So a garbage Commit extends, and its
/// sender can extend again with the next one. The `extend-after-commit-check` fix extends
/// only for a Commit that is kept.
#[test]
fn a_garbage_commit_extends_before_its_check_unless_fixed() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        for fixed in [false, true] {
            let mut k = Kit::new(4, sem);
            if fixed {
                Rc::make_mut(&mut k.opts).fixes = vec![Fix::ExtendAfterCommitCheck];
            }
            let (mut r, _) = backup_with_request(&k);
            let before = r.timer.deadline.0;
            let tag = format!("{sem:?} fixed={fixed}");
            let garbage = |s: u128| k.msg(0, 1, 0, Body::Commit { signature: crate::protocol::crypto::Signature(s) });
            let first = deliver(&k, &mut r, 150, 0, garbage(0xbad));
            let second = deliver(&k, &mut r, 160, 0, garbage(0xbad2));
            assert!(r.ctx.commits[0].is_none(), "{tag}: a bad Commit is not kept");
            if fixed {
                assert!(first.timers.is_empty() && second.timers.is_empty(), "{tag}: no extension");
                assert_eq!(r.timer.deadline.0, before, "{tag}");
            } else {
                assert_eq!(first.timers, vec![SimTime(before + 4 * T / 3)], "{tag}");
                assert_eq!(second.timers, vec![SimTime(before + 8 * T / 3)], "{tag}: and again");
            }
            // A genuine Commit still extends, with or without the fix.
            let header = r.ctx.proposal.as_ref().unwrap().header_hash;
            let sig = crate::protocol::block::sign_header(&k.ring.keypair(KeyId(3)).unwrap(), &header);
            let deadline = r.timer.deadline.0;
            let out = deliver(&k, &mut r, 170, 3, k.msg(3, 1, 0, Body::Commit { signature: sig }));
            assert_eq!(out.timers, vec![SimTime(deadline + 4 * T / 3)], "{tag}: a kept Commit extends");
            assert!(r.ctx.commits[3].is_some(), "{tag}");
        }
    }
}

/// A validly signed PrepareRequest from a validator that is not the primary: both
/// implementations record the sender as seen (neo-node `ConsensusService.OnMessage.cs`
/// `OnConsensusPayload` sets LastSeenMessage before dispatching; nspcc-dev/dbft `dbft.go`
/// `OnReceive` marks the sender seen before `onPrepareRequest`), then drop it because the
/// sender is not the primary (`OnPrepareRequestReceived`, `onPrepareRequest`). Go counts a
/// validator it has not heard from in this view as lost, so the drop still changes that
/// count; nothing else changes.
#[test]
fn a_non_primary_request_marks_its_sender_seen_and_is_dropped() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(4, sem);
        let mut r = k.replica(2);
        start(&k, &mut r, 0);
        let failed = r.count_failed();
        let out = deliver(&k, &mut r, 10, 3, request(&k, 3, 0));
        assert!(out.sent.is_empty() && out.timers.is_empty(), "{sem:?}: {:?}", out.kinds());
        assert!(!r.ctx.request_sent_or_received() && r.ctx.proposal.is_none(), "{sem:?}");
        if sem == Semantics::Go {
            assert_eq!(r.count_failed(), failed - 1, "Go: R3 is no longer counted as lost");
        } else {
            assert_eq!((failed, r.count_failed()), (0, 0), "C#: nobody is lost at the first height");
        }
        // The genuine request is still accepted afterwards.
        let out = deliver(&k, &mut r, 20, 1, request(&k, 1, 0));
        assert_eq!(out.kinds(), vec![MsgKind::PrepareResponse], "{sem:?}");
    }
}

/// A PrepareResponse from the primary's index, arriving before its PrepareRequest. Go
/// ignores it (nspcc-dev/dbft `dbft.go` `onPrepareResponse`: "ignoring PrepareResponse from
/// primary node"). C# has no such check (neo-node `ConsensusService.OnMessage.cs`
/// `OnPrepareResponseReceived`): it stores it in the primary's slot, so
/// RequestSentOrReceived holds and `OnPrepareRequestReceived` ignores the real request; and
/// a genuine response is compared with the hash of the payload in that slot — the
/// primary's response, not its request — and refused. The backup cannot commit in this view.
#[test]
fn a_primary_response_ahead_of_the_request_knocks_a_csharp_backup_out_of_the_view() {
    for sem in [Semantics::CSharp, Semantics::Go] {
        let k = Kit::new(4, sem);
        let mut r = k.replica(2);
        start(&k, &mut r, 0);
        let req = request(&k, 1, 0);
        deliver(&k, &mut r, 10, 1, response(&k, 1, 0, &req));
        let on_request = deliver(&k, &mut r, 20, 1, req.clone());
        deliver(&k, &mut r, 30, 3, response(&k, 3, 0, &req));
        if sem == Semantics::CSharp {
            assert!(on_request.sent.is_empty(), "C#: the request is ignored");
            assert!(r.ctx.proposal.is_none() && r.ctx.request().is_none(), "C#: no proposal");
            assert!(r.ctx.preparations[3].is_none(), "C#: R3's genuine response is refused");
        } else {
            assert_eq!(on_request.kinds(), vec![MsgKind::PrepareResponse], "Go: answers the request");
            assert!(r.ctx.preparations[3].is_some(), "Go: R3's response counts");
            assert!(r.ctx.commit_sent(), "Go: request + two responses = M → Commit");
        }
    }
}

/// A backup whose verifier rejects a proposed transaction answers with ChangeView reason
/// TxInvalid instead of a PrepareResponse (neo-node `ConsensusService.AddTransaction`
/// → RequestChangeView(TxInvalid); nspcc-dev/dbft `dbft.go` `createAndCheckBlock` failing
/// neo-go's `verifyBlock` → TxInvalid). A node whose verifier accepts it responds; a primary
/// never proposes a transaction its own verifier rejects (it would not be in its mempool).
#[test]
fn a_rejected_transaction_gives_tx_invalid_and_is_never_proposed() {
    use super::validity::InvalidTxs;
    for sem in [Semantics::CSharp, Semantics::Go] {
        let mut k = Kit::new(4, sem);
        let only = |i: u32| InvalidTxs { nodes: Some(vec![NodeId(i)]), first: 5, last: 5 };
        Rc::make_mut(&mut k.opts).invalid_txs = vec![only(2), only(1)];
        let req = request_with(&k, 1, 0, vec![5]);
        for (me, rejects) in [(2, true), (0, false)] {
            let mut r = k.replica(me);
            run(&k.ring, 0, |cx| r.on_transaction(cx, 5));
            start(&k, &mut r, 0);
            hear_from_all(&k, &mut r, 0, 4, me);
            let out = deliver(&k, &mut r, 10, 1, req.clone());
            if rejects {
                let Body::ChangeView { reason, .. } = out.sent[0].body else { panic!("{sem:?}: {:?}", out.kinds()) };
                assert_eq!(reason, ChangeViewReason::TxInvalid, "{sem:?}");
                assert!(!r.ctx.response_sent(), "{sem:?}");
            } else {
                assert_eq!(out.kinds(), vec![MsgKind::PrepareResponse], "{sem:?}: R0's verifier accepts it");
            }
        }
        // The primary R1 rejects transaction 5 itself and proposes only 6.
        let mut p = k.replica(1);
        run(&k.ring, 0, |cx| {
            p.on_transaction(cx, 5);
            p.on_transaction(cx, 6);
        });
        let mut sent = start(&k, &mut p, 0).sent;
        if sem == Semantics::CSharp {
            sent = fire(&k, &mut p, T).sent; // C#: the first primary waits T
        }
        let proposed: Vec<_> = sent
            .iter()
            .filter_map(|m| match &m.body {
                Body::PrepareRequest { tx_hashes, .. } => Some(tx_hashes.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(proposed, vec![vec![6]], "{sem:?}");
    }
}

#[test]
fn rejected_hashes_travel_on_change_views_and_keep_a_transaction_out_of_proposals() {
    // neo-node #984: ConsensusService.AddTransaction → RequestChangeView(TxInvalid,
    // tx.Hash); OnChangeViewReceived records the sender under InvalidTransactions[hash];
    // EnsureMaxBlockLimitation skips a transaction with more than F recorded rejecters.
    use super::validity::InvalidTxs;
    let proposal = |rule: bool, rejecters: &[u32]| -> (Vec<TxId>, Vec<TxId>) {
        let mut k = Kit::new(4, Semantics::CSharp);
        let opts = Rc::make_mut(&mut k.opts);
        opts.invalid_txs = vec![InvalidTxs { nodes: Some(vec![NodeId(2), NodeId(3)]), first: 5, last: 5 }];
        opts.rejected_hashes = rule;
        // What R2 sends when R1 proposes 5 and 6.
        let mut b = k.replica(2);
        run(&k.ring, 0, |cx| {
            b.on_transaction(cx, 5);
            b.on_transaction(cx, 6);
        });
        start(&k, &mut b, 0);
        let req = request_with(&k, 1, 0, vec![5, 6]);
        let out = deliver(&k, &mut b, 10, 1, req);
        let sent_hashes = match &out.sent[0].body {
            Body::ChangeView { reason: ChangeViewReason::TxInvalid, rejected, .. } => rejected.clone(),
            other => panic!("{other:?}"),
        };
        // The primary R1 accepts both; it hears the rejecters' ChangeViews, then proposes.
        let mut p = k.replica(1);
        run(&k.ring, 0, |cx| {
            p.on_transaction(cx, 5);
            p.on_transaction(cx, 6);
        });
        start(&k, &mut p, 0);
        for &from in rejecters {
            let body = Body::ChangeView { timestamp_ms: 20, reason: ChangeViewReason::TxInvalid, rejected: vec![5] };
            deliver(&k, &mut p, 20, from, k.msg(from, 1, 0, body));
        }
        let out = fire(&k, &mut p, T); // C#: the first primary waits T
        let proposed = out
            .sent
            .iter()
            .find_map(|m| match &m.body {
                Body::PrepareRequest { tx_hashes, .. } => Some(tx_hashes.clone()),
                _ => None,
            })
            .expect("the primary proposes");
        (sent_hashes, proposed)
    };
    // The rule names the rejected transaction; without it the ChangeView is the 9-byte one.
    assert_eq!(proposal(true, &[]).0, vec![5]);
    assert_eq!(proposal(false, &[]).0, Vec::<TxId>::new());
    // F = 1: one rejecter is not enough, two are.
    assert_eq!(proposal(true, &[2]).1, vec![5, 6]);
    assert_eq!(proposal(true, &[2, 3]).1, vec![6]);
    // Without the rule the hashes are not recorded (the older plugin, Go).
    assert_eq!(proposal(false, &[2, 3]).1, vec![5, 6]);
}

#[test]
fn rejected_hashes_on_another_reason_are_malformed() {
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(0);
    start(&k, &mut r, 0);
    let body = Body::ChangeView { timestamp_ms: 1, reason: ChangeViewReason::Timeout, rejected: vec![5] };
    deliver(&k, &mut r, 1, 2, k.msg(2, 1, 0, body));
    assert!(r.ctx.change_views[2].is_none(), "a Timeout ChangeView has no RejectedHashes on the wire");
}

/// A Byzantine primary proposes a block stamped at the end of time (`u64::MAX` ms). C#
/// refuses it (a timestamp more than eight block times ahead of the node's clock,
/// docs/dbft-2.0.md §1.7 OnPrepareRequest); Go checks only the header (version, parent,
/// transaction count), so a Go backup answers, commits and persists it — stamped as Go
/// keeps it, in nanoseconds: 2^64 − 1 ms times 10^6 wraps, and divided back gives
/// 18,446,744,073,708 ms. The next height's primary proposes 1 ms later (the last stamp
/// Go's nanoseconds hold) and a backup answers it; nothing panics on the way, in debug
/// builds either (FINDINGS.md #14; the halt one height later is in the scenario).
#[test]
fn a_proposal_stamped_at_the_end_of_time_never_panics_an_honest_node() {
    let end_of_time = |k: &Kit| stamped_request(k, 1, 0, u64::MAX, vec![]);
    // C#: refused outright, no answer.
    let k = Kit::new(4, Semantics::CSharp);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let out = deliver(&k, &mut r, 10, 1, end_of_time(&k));
    assert!(!out.kinds().contains(&MsgKind::PrepareResponse), "C# answered a block from the end of time");
    assert!(r.ctx.request().is_none(), "C# stored it");

    // Go: accepted, committed and persisted; then index 2, primary of height 2, proposes.
    let k = Kit::new(4, Semantics::Go);
    let mut r = k.replica(2);
    start(&k, &mut r, 0);
    let req = end_of_time(&k);
    let out = deliver(&k, &mut r, 10, 1, req.clone());
    assert!(out.kinds().contains(&MsgKind::PrepareResponse), "Go checks only the header");
    deliver(&k, &mut r, 20, 0, response(&k, 0, 0, &req));
    let header = r.ctx.proposal.as_ref().map(|p| p.header_hash).unwrap();
    let commit = |i: u32| {
        let key = k.ring.keypair(KeyId(i)).unwrap();
        k.msg(i, 1, 0, Body::Commit { signature: crate::protocol::block::sign_header(&key, &header) })
    };
    let mut persisted = deliver(&k, &mut r, 30, 0, commit(0)).persisted;
    persisted.extend(deliver(&k, &mut r, 40, 1, commit(1)).persisted);
    assert_eq!(persisted.len(), 1, "Go persists the block of three valid Commits");
    assert_eq!(persisted[0].header.timestamp_ms, 18_446_744_073_708, "the stamp as Go's nanoseconds keep it");
    assert_eq!((r.ctx.height, r.ctx.is_primary()), (2, true));
    let out = fire(&k, &mut r, 2 * T);
    let proposal = out.sent.iter().find(|m| m.kind() == MsgKind::PrepareRequest).expect("the primary proposes");
    match &proposal.body {
        Body::PrepareRequest { timestamp_ms, .. } => assert_eq!(*timestamp_ms, 18_446_744_073_709, "prev + 1 ms"),
        other => panic!("not a PrepareRequest: {other:?}"),
    }
    // A backup at height 2 (index 3, which persisted the same block) answers it: it is
    // above its parent's timestamp.
    let mut b = k.replica(3);
    start(&k, &mut b, 0);
    let relayed = deliver(&k, &mut b, 50, 2, Rc::new(Wire::Block(persisted[0].clone())));
    assert_eq!((relayed.persisted.len(), b.ctx.height), (1, 2), "index 3 takes the relayed block");
    let answer = deliver(&k, &mut b, 2 * T + 10, 2, Rc::new(Wire::Consensus(proposal.clone())));
    assert!(answer.kinds().contains(&MsgKind::PrepareResponse), "{:?}", answer.kinds());
}
