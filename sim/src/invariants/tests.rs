//! Each invariant against a hand-built event sequence that violates it and one that
//! satisfies it; the stall classification against hand-built replica states.

use super::diagnosis::{ReplicaDiag, StallClass, StallInput, diagnose};
use super::*;
use crate::engine::trace::{Ev, Rec};
use crate::protocol::block::{Block, CertSig, Header, tx_root};
use crate::protocol::crypto::KeyId;
use crate::protocol::{Note, Phase, ReplicaStatus};
use crate::validators::ValidatorSet;

const N: usize = 4; // F = 1, M = 3

struct Chain {
    keys: Rc<Keyring>,
    set: Rc<ValidatorSet>,
    genesis: Rc<Block>,
}

impl Chain {
    fn new() -> Chain {
        let keys = Rc::new(Keyring::generate(11, N));
        let set = Rc::new(ValidatorSet::new((0..N as u32).map(KeyId).collect()));
        let genesis = Rc::new(Block::genesis(set.clone()));
        Chain { keys, set, genesis }
    }

    /// A block on `parent`, signed in `view` by `signers` (validator indices).
    fn block(&self, parent: &Block, nonce: u64, view: u8, signers: &[u16]) -> Rc<Block> {
        self.block_with_set(parent, nonce, view, signers, self.set.clone())
    }

    fn block_with_set(
        &self,
        parent: &Block,
        nonce: u64,
        view: u8,
        signers: &[u16],
        next: Rc<ValidatorSet>,
    ) -> Rc<Block> {
        let header = Header {
            version: 0,
            height: parent.height() + 1,
            prev_hash: parent.hash,
            timestamp_ms: 1,
            nonce,
            primary: 0,
            tx_root: tx_root(&[]),
            next_validators: next.hash(),
        };
        let hash = header.hash();
        let certificate = signers
            .iter()
            .map(|&i| CertSig { index: i, view, sig: self.keys.keypair(KeyId(i as u32)).unwrap().sign(&hash) })
            .collect();
        Rc::new(Block::new(hash, header, vec![], next, view, certificate))
    }

    fn checkers(&self, honest: Vec<bool>) -> Checkers {
        self.checkers_with(honest, None)
    }

    fn checkers_with(&self, honest: Vec<bool>, gst: Option<SimTime>) -> Checkers {
        Checkers::new(CheckContext {
            names: (0..honest.len()).map(|i| format!("R{i}")).collect(),
            honest,
            keys: self.keys.clone(),
            schedule: crate::invariants::custody_model::ScheduleSpec::fixed(self.set.clone()),
            genesis: self.genesis.hash,
            prefix: Vec::new(),
            gst,
            bound: SimTime::from_secs(10),
            max_views: 1,
            halt_on_violation: false,
        })
    }
}

/// Feeds events at 1 s intervals; returns the violated ids in order.
fn feed(c: &mut Checkers, evs: Vec<Ev>) -> Vec<&'static str> {
    for (i, ev) in evs.into_iter().enumerate() {
        c.observe(&Rec { step: i as u64, time: SimTime::from_secs(i as u64 + 1), ev });
    }
    c.violations.iter().map(|v| v.id.as_str()).collect()
}

fn persist(node: u32, block: &Rc<Block>) -> Ev {
    Ev::Persist { node: NodeId(node), block: block.clone() }
}

fn signed(node: u32, height: u32, block: &Rc<Block>) -> Ev {
    Ev::Note { node: NodeId(node), note: Note::CommitSigned { height, view: 0, block: block.hash, key: KeyId(node) } }
}

const ALL_HONEST: [bool; N] = [true; N];

#[test]
fn honest_chain_satisfies_everything() {
    let ch = Chain::new();
    let b1 = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let b2 = ch.block(&b1, 2, 1, &[1, 2, 3]);
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    let mut evs = Vec::new();
    for n in 0..N as u32 {
        evs.push(signed(n, 1, &b1));
        evs.push(signed(n, 1, &b1)); // re-sending the same commit is fine
        evs.push(persist(n, &b1));
    }
    for n in 0..N as u32 {
        evs.push(persist(n, &b2));
    }
    assert_eq!(feed(&mut c, evs), Vec::<&str>::new());
    for &id in InvariantId::ALL {
        // No GST was declared, so L1 has nothing to check; every other invariant holds.
        let expected = if id == InvariantId::L1 { InvariantStatus::NotChecked } else { InvariantStatus::Holds };
        assert_eq!(c.status(id), expected, "{id}");
    }
}

#[test]
fn s1_two_blocks_at_one_height() {
    let ch = Chain::new();
    let a = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let b = ch.block(&ch.genesis, 2, 1, &[1, 2, 3]);
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    let ids = feed(&mut c, vec![persist(0, &a), persist(1, &a), persist(2, &b)]);
    assert!(ids.contains(&"S1"), "{ids:?}");
    let v = c.violations.iter().find(|v| v.id == InvariantId::S1).unwrap();
    assert_eq!((v.height, v.nodes.clone(), v.blocks.clone()), (1, vec![NodeId(0), NodeId(2)], vec![a.hash, b.hash]));
    assert!(!v.window.is_empty(), "a violation carries the events that led to it");
    // A Byzantine node persisting another block is not a violation of honest agreement.
    let mut c = ch.checkers(vec![true, true, false, true]);
    assert!(!feed(&mut c, vec![persist(0, &a), persist(2, &b)]).contains(&"S1"));
}

#[test]
fn s2_a_persisted_height_is_never_replaced() {
    let ch = Chain::new();
    let a = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let b = ch.block(&ch.genesis, 2, 0, &[0, 1, 2]);
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    assert_eq!(feed(&mut c, vec![persist(0, &a), persist(0, &a)]), Vec::<&str>::new());
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    assert_eq!(feed(&mut c, vec![persist(0, &a), persist(0, &b)]), vec!["S2"]);
}

#[test]
fn s3_certificate_and_linkage() {
    let ch = Chain::new();
    let good = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let cases: Vec<(&str, Rc<Block>)> = vec![
        ("too few signatures", ch.block(&ch.genesis, 1, 0, &[0, 1])),
        ("mixed views", {
            let mut b = (*ch.block(&ch.genesis, 1, 0, &[0, 1, 2])).clone();
            b.certificate[2].view = 1;
            Rc::new(b)
        }),
        ("another validator's signature under index 2", {
            let mut b = (*good).clone();
            // Key 3's signature claimed as index 2's.
            b.certificate[2].sig = ch.keys.keypair(KeyId(3)).unwrap().sign(&b.hash);
            Rc::new(b)
        }),
        ("a signer index outside the set", {
            let mut b = (*good).clone();
            b.certificate[2].index = 7;
            Rc::new(b)
        }),
        ("does not link to its parent", ch.block(&ch.block(&ch.genesis, 9, 0, &[0, 1, 2]), 1, 0, &[0, 1, 2])),
    ];
    for (what, b) in cases {
        let mut c = ch.checkers(ALL_HONEST.to_vec());
        // The unlinked block is at height 2: give node 0 a height 1 first.
        let evs = if b.height() == 2 { vec![persist(0, &good), persist(0, &b)] } else { vec![persist(0, &b)] };
        let ids = feed(&mut c, evs);
        assert!(ids.contains(&"S3"), "{what}: {ids:?}");
        if what.contains("outside the set") {
            assert!(c.violations[0].detail.contains("IndexOutOfSet"), "{}", c.violations[0].detail);
        }
    }
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    assert_eq!(feed(&mut c, vec![persist(0, &good)]), Vec::<&str>::new());
}

#[test]
fn s3_block_tree_must_be_a_single_path() {
    let ch = Chain::new();
    let a = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let a2 = ch.block(&a, 2, 0, &[0, 1, 2]);
    let b = ch.block(&ch.genesis, 3, 0, &[1, 2, 3]);
    // Node 2 (Byzantine-free run, but a different branch at height 1): the tree branches.
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    let ids = feed(&mut c, vec![persist(0, &a), persist(0, &a2), persist(2, &b)]);
    assert!(ids.contains(&"S3"));
    assert!(c.violations.iter().any(|v| v.detail.contains("branches")));
}

#[test]
fn s4_no_honest_double_sign() {
    let ch = Chain::new();
    let a = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let b = ch.block(&ch.genesis, 2, 1, &[0, 1, 2]);
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    assert_eq!(feed(&mut c, vec![signed(1, 1, &a), signed(1, 2, &b), signed(2, 1, &b)]), Vec::<&str>::new());
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    assert_eq!(feed(&mut c, vec![signed(1, 1, &a), signed(1, 1, &b)]), vec!["S4"]);
    let mut c = ch.checkers(vec![true, false, true, true]);
    assert_eq!(
        feed(&mut c, vec![signed(1, 1, &a), signed(1, 1, &b)]),
        Vec::<&str>::new(),
        "Byzantine signers are not S4"
    );
}

#[test]
fn s5_the_declared_set_is_the_scheduled_one() {
    let ch = Chain::new();
    let other = Rc::new(ValidatorSet::new(vec![KeyId(0), KeyId(1), KeyId(2)]));
    // Block 1 declares a different next set than the (fixed) schedule.
    let b1 = ch.block_with_set(&ch.genesis, 1, 0, &[0, 1, 2], other);
    let b2 = ch.block(&b1, 2, 0, &[0, 1, 2]);
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    let ids = feed(&mut c, vec![persist(0, &b1), persist(0, &b2)]);
    assert_eq!(ids, vec!["S5"]);
}

#[test]
fn s6_fork_accountability() {
    let ch = Chain::new();
    // Full certificates: two quorums of 3 out of 4 share ≥ 2 = F+1 signers.
    let a = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let b = ch.block(&ch.genesis, 2, 1, &[1, 2, 3]);
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    let ids = feed(&mut c, vec![persist(0, &a), persist(3, &b)]);
    assert!(ids.contains(&"S1") && !ids.contains(&"S6"), "{ids:?}");
    assert_eq!(c.safety.accountability[0].double_signers, vec![KeyId(1), KeyId(2)]);
    assert!(c.safety.accountability[0].accountable);
    // Undersized certificates (2 signers each, disjoint): nobody provably equivocated.
    let a = ch.block(&ch.genesis, 1, 0, &[0, 1]);
    let b = ch.block(&ch.genesis, 2, 1, &[2, 3]);
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    let ids = feed(&mut c, vec![persist(0, &a), persist(3, &b)]);
    assert!(ids.contains(&"S1") && ids.contains(&"S6"), "{ids:?}");
    assert!(!c.safety.accountability[0].accountable);
}

#[test]
fn l1_bounded_liveness_after_gst() {
    let ch = Chain::new();
    let b1 = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let b2 = ch.block(&b1, 2, 0, &[0, 1, 2]);
    let b3 = ch.block(&b2, 3, 2, &[0, 1, 2]); // final in view 2 > max_views 1
    let rec = |t: u64, ev: Ev| Rec { step: t, time: SimTime::from_secs(t), ev };
    // GST at 5 s, bound 10 s: height 1 at 12 s is fine, height 2 at 25 s is late.
    let mut c = ch.checkers_with(ALL_HONEST.to_vec(), Some(SimTime::from_secs(5)));
    c.observe(&rec(12, persist(0, &b1)));
    assert!(c.violations.is_empty());
    c.observe(&rec(25, persist(0, &b2)));
    assert_eq!(c.violations.len(), 1);
    assert_eq!(c.violations[0].id, InvariantId::L1);
    c.observe(&rec(26, persist(0, &b3)));
    assert!(c.violations[1].detail.contains("view 2"));
    // The open height is late at the end if its bound expired.
    c.finish(SimTime::from_secs(40), 99);
    assert_eq!(c.violations.len(), 3);
    assert_eq!(c.violations[2].height, 4);
    // Without GST, L1 is not checked.
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    c.observe(&rec(500, persist(0, &b1)));
    c.finish(SimTime::from_secs(900), 1);
    assert!(c.violations.is_empty());
    assert_eq!(c.status(InvariantId::L1), InvariantStatus::NotChecked);
}

fn status(height: u32, view: u8, phase: Phase, committed_view: Option<u8>) -> ReplicaStatus {
    ReplicaStatus {
        height,
        view,
        phase,
        watch_only: false,
        count_committed: 0,
        count_failed: 0,
        committed_view,
        committed_proposal: None,
        change_views: vec![],
        preparations: 0,
        n: N,
        f: 1,
        m: 3,
        previous_quorum: None,
    }
}

/// A replica whose timer fired recently (at 590 s; the tests end at 100 + idle ≤ 600 s).
fn replica(name: &str, up: bool, s: ReplicaStatus) -> ReplicaDiag {
    ReplicaDiag {
        name: name.into(),
        honest: true,
        up,
        validator: true,
        ledger_height: s.height - 1,
        last_timer: Some(SimTime::from_secs(590)),
        status: Some(s),
    }
}

fn input<'a>(replicas: Vec<ReplicaDiag>, partitions: Vec<&'a [Vec<NodeId>]>, idle_s: u64) -> StallInput<'a> {
    StallInput {
        replicas,
        partitions,
        last_progress: Some(SimTime::from_secs(100)),
        end: Some(SimTime::from_secs(100 + idle_s)),
        bound: SimTime::from_secs(60),
        block_time: 1_000_000,
        m: 3,
    }
}

#[test]
fn stall_classes() {
    // The four-node crash lock: one dead, one committed in view 0, two asking for view 2.
    let lock = vec![
        replica("R0", true, status(3, 1, Phase::ViewChanging, None)),
        replica("R1", false, status(3, 0, Phase::Initial, None)),
        replica("R2", true, status(3, 0, Phase::CommitSent, Some(0))),
        replica("R3", true, status(3, 1, Phase::ViewChanging, None)),
    ];
    let s = diagnose(input(lock.clone(), vec![], 500));
    assert_eq!((s.class, s.height, s.view), (StallClass::CommitLock, 3, 1), "{}", s.reason);
    // Three honest validators committed in view 0, each to a different proposal (forged
    // RecoveryMessages under Go): M Commits in one view, yet no block. With one proposal
    // it would not be a lock.
    let split: Vec<ReplicaDiag> = (0..3u8)
        .map(|i| {
            let mut st = status(2, 0, Phase::CommitSent, Some(0));
            st.committed_proposal = Some(crate::protocol::crypto::Hash32([i; 32]));
            replica(&format!("R{i}"), true, st)
        })
        .collect();
    let s = diagnose(input(split.clone(), vec![], 500));
    assert_eq!((s.class, s.height, s.view), (StallClass::CommitLock, 2, 0), "{}", s.reason);
    let mut same = split;
    for r in &mut same {
        r.status.as_mut().unwrap().committed_proposal = Some(crate::protocol::crypto::Hash32([9; 32]));
    }
    assert_ne!(diagnose(input(same, vec![], 500)).class, StallClass::CommitLock);
    // Two crashed: fewer than M honest validators run.
    let mut two_down = lock.clone();
    two_down[3].up = false;
    assert_eq!(diagnose(input(two_down, vec![], 500)).class, StallClass::TooManyFaulty);
    // A 2-2 partition of four running validators.
    let all_up: Vec<ReplicaDiag> =
        (0..4).map(|i| replica(&format!("R{i}"), true, status(3, 0, Phase::ViewChanging, None))).collect();
    let groups = vec![vec![NodeId(0), NodeId(1)]];
    assert_eq!(diagnose(input(all_up.clone(), vec![&groups], 500)).class, StallClass::Partitioned);
    // A 3-1 partition leaves a quorum: not the explanation. Nobody committed, all four are
    // in one view, every timer fired recently: no other class fits either.
    let groups = vec![vec![NodeId(0)]];
    assert_eq!(diagnose(input(all_up.clone(), vec![&groups], 500)).class, StallClass::Undiagnosed);
    // Recent progress: cut short, not stuck.
    assert_eq!(diagnose(input(all_up.clone(), vec![], 30)).class, StallClass::StillProgressing);
    // Nothing fits.
    assert_eq!(diagnose(input(all_up.clone(), vec![], 500)).class, StallClass::Undiagnosed);
    // Stuck, and R2's timer has not fired for longer than the window: starved timers.
    let mut starved = all_up.clone();
    starved[2].last_timer = Some(SimTime::from_secs(150));
    let s = diagnose(input(starved, vec![], 500));
    assert_eq!(s.class, StallClass::TimerStarved);
    assert!(s.reason.contains("R2"), "{}", s.reason);
    // A run cut before anything could happen (no block, no view change, no timer fired,
    // 14 s of a 60 s window): cut short, not starved. Once the window has passed since
    // the start with still no timer, the timers are starved.
    let mut fresh = all_up.clone();
    for r in &mut fresh {
        r.last_timer = None;
    }
    let early =
        StallInput { last_progress: None, end: Some(SimTime::from_secs(14)), ..input(fresh.clone(), vec![], 0) };
    let s = diagnose(early);
    assert_eq!(s.class, StallClass::StillProgressing, "{}", s.reason);
    let late = StallInput { last_progress: None, end: Some(SimTime::from_secs(600)), ..input(fresh, vec![], 0) };
    assert_eq!(diagnose(late).class, StallClass::TimerStarved);
    // At view 6 a view lasts up to T·2^8 = 256 s: 500 s idle is still within two of them.
    let high: Vec<ReplicaDiag> =
        (0..4).map(|i| replica(&format!("R{i}"), true, status(3, 6, Phase::ViewChanging, None))).collect();
    assert_eq!(diagnose(input(high, vec![], 500)).class, StallClass::StillProgressing);
    // Three running, one crashed: one left behind in view 0, two in view 1, nobody
    // committed — no view holds M = 3.
    let split = vec![
        replica("R0", true, status(3, 1, Phase::RequestSentOrReceived, None)),
        replica("R1", false, status(3, 0, Phase::Initial, None)),
        replica("R2", true, status(3, 1, Phase::ResponseSent, None)),
        replica("R3", true, status(3, 0, Phase::ViewChanging, None)),
    ];
    let s = diagnose(input(split.clone(), vec![], 500));
    assert_eq!(s.class, StallClass::ViewSplit, "{}", s.reason);
    assert!(s.reason.contains("1 in view 0, 2 in view 1"), "{}", s.reason);
    // With all four running, view 1 holds M = 3: not a split (and no timer is starved, no
    // one committed, the last progress is long past: nothing else fits).
    let mut whole = split;
    whole[1] = replica("R1", true, status(3, 1, Phase::Initial, None));
    assert_eq!(diagnose(input(whole, vec![], 500)).class, StallClass::Undiagnosed);
    // M commits in one view would finish: not a commit lock.
    let mut finishing = lock;
    finishing[0] = replica("R0", true, status(3, 0, Phase::CommitSent, Some(0)));
    finishing[3] = replica("R3", true, status(3, 0, Phase::CommitSent, Some(0)));
    // (Committed replicas are never starved, and the running three are at one view.)
    assert_eq!(diagnose(input(finishing, vec![], 500)).class, StallClass::Undiagnosed);
}

#[test]
fn s4_across_restarts_and_amnesia() {
    let ch = Chain::new();
    let a = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let b = ch.block(&ch.genesis, 2, 1, &[0, 1, 2]);
    let restart = |amnesia| Ev::Restart { node: NodeId(1), amnesia };
    // A restart that kept its state must not sign another block: S4.
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    assert_eq!(feed(&mut c, vec![signed(1, 1, &a), restart(false), signed(1, 1, &b)]), vec!["S4"]);
    // After an amnesic restart the node is faulty: its second signature is not S4's business.
    let mut c = ch.checkers(ALL_HONEST.to_vec());
    assert_eq!(feed(&mut c, vec![signed(1, 1, &a), restart(true), signed(1, 1, &b)]), Vec::<&str>::new());
}

/// Three honest validators wedged in BlockSent at the stalled height (each assembled a
/// block its ledger rejected) leave nobody to make the block: `invalid-block`. With one of
/// four wedged, three others can still finish, so that is not the explanation.
#[test]
fn wedged_validators_explain_an_invalid_block_stall() {
    let wedged: Vec<ReplicaDiag> = (0..3)
        .map(|i| replica(&format!("R{i}"), true, status(2, 0, Phase::BlockSent, Some(0))))
        .chain([replica("R3", false, status(2, 0, Phase::Initial, None))])
        .collect();
    let s = diagnose(input(wedged, vec![], 500));
    assert_eq!((s.class, s.height, s.view), (StallClass::InvalidBlock, 2, 0), "{}", s.reason);
    assert!(s.reason.contains("3 honest validators assembled a block"), "{}", s.reason);
    let one: Vec<ReplicaDiag> = (0..4)
        .map(|i| {
            let phase = if i == 0 { Phase::BlockSent } else { Phase::ViewChanging };
            replica(&format!("R{i}"), true, status(2, 1, phase, None))
        })
        .collect();
    assert_ne!(diagnose(input(one, vec![], 500)).class, StallClass::InvalidBlock);
}

/// An honest replica with status `st` at a double-quorum hand-off height whose previous
/// set has M = 3: `member`, its key signs for the previous set; `validator`, it is in the
/// new set (else watch-only there).
fn at_double_quorum_handoff(name: &str, mut st: ReplicaStatus, member: bool, validator: bool) -> ReplicaDiag {
    st.watch_only = !validator;
    st.previous_quorum = Some(crate::protocol::PreviousQuorum { m: 3, member });
    let mut r = replica(name, true, st);
    r.validator = validator;
    r
}

/// At a double-quorum hand-off height the block needs M of the new set and M of the
/// previous one. Three of the four new validators committed to one proposal (M = 3 of the
/// new set), but only two of them were in the previous set and the outgoing R4 has not
/// committed: 2 < M = 3 of the previous set, and one uncommitted validator cannot gather
/// M ChangeViews — a commit lock the new set's count alone would not show.
#[test]
fn a_double_quorum_hand_off_locks_when_the_previous_set_lacks_its_quorum() {
    let hash = Some(crate::protocol::crypto::Hash32([7; 32]));
    let at_handoff = |name: &str, phase: Phase, member: bool, validator: bool| {
        let committed = (phase == Phase::CommitSent).then_some(0);
        let mut st = status(3, 0, phase, committed);
        st.committed_proposal = committed.and(hash);
        at_double_quorum_handoff(name, st, member, validator)
    };
    let build = |outgoing: Phase| {
        vec![
            at_handoff("R0", Phase::CommitSent, true, true),
            at_handoff("R1", Phase::CommitSent, true, true),
            // A joiner: in the new set only.
            at_handoff("R2", Phase::CommitSent, false, true),
            at_handoff("R3", Phase::RequestSentOrReceived, true, true),
            // Leaving: signs the hand-off block for the previous set, watch-only in the new.
            at_handoff("R4", outgoing, true, false),
        ]
    };
    let s = diagnose(input(build(Phase::RequestSentOrReceived), vec![], 500));
    assert_eq!((s.class, s.height, s.view), (StallClass::CommitLock, 3, 0), "{}", s.reason);
    assert!(s.reason.contains("M = 3 of the previous set (at most 2"), "{}", s.reason);
    // Once the outgoing validator commits too, both quorums are there: no lock, and
    // nothing else matches this (artificial) end state.
    let s = diagnose(input(build(Phase::CommitSent), vec![], 500));
    assert_eq!(s.class, StallClass::Undiagnosed, "{}", s.reason);
}

/// At a double-quorum hand-off whose previous set had two of four members ejected, only
/// two of its members can still sign (an ejected key never signs again): M = 3 of the
/// previous set is out of reach whatever the views, so the stall is `too-many-faulty`,
/// not a run cut short. With one of them not ejected (three signers) nothing says so.
#[test]
fn a_double_quorum_hand_off_with_too_few_previous_signers_is_too_many_faulty() {
    let at_handoff = |name: &str, member: bool, validator: bool| {
        at_double_quorum_handoff(name, status(3, 2, Phase::ViewChanging, None), member, validator)
    };
    let build = |r3_signs: bool| {
        vec![
            at_handoff("R0", true, true),
            at_handoff("R1", true, true),
            // Ejected from the previous set: watch-only now, and its key is revoked.
            at_handoff("R2", false, false),
            at_handoff("R3", r3_signs, r3_signs),
            // A joiner: in the new set only.
            at_handoff("C0", false, true),
        ]
    };
    let s = diagnose(input(build(false), vec![], 500));
    assert_eq!((s.class, s.height), (StallClass::TooManyFaulty, 3), "{}", s.reason);
    assert!(s.reason.contains("only 2 honest running validators of the previous set can still sign"), "{}", s.reason);
    let s = diagnose(input(build(true), vec![], 500));
    assert_eq!(s.class, StallClass::Undiagnosed, "three of the previous set can sign: {}", s.reason);
    // An honest running node still behind the height may be a member that catches up
    // and signs: nothing is concluded from the count then.
    let mut behind = build(false);
    let mut late = replica("C1", true, status(2, 0, Phase::Initial, None));
    late.validator = false;
    behind.push(late);
    let s = diagnose(input(behind, vec![], 500));
    assert_eq!(s.class, StallClass::Undiagnosed, "nothing else matches this artificial end state: {}", s.reason);
}

#[test]
fn window_keeps_the_last_records_oldest_first() {
    let mut w = Window::default();
    for step in 0..(WINDOW as u64 + 5) {
        w.remember(&Rec { step, time: SimTime(step), ev: Ev::Start { node: NodeId(0) } });
    }
    let steps: Vec<u64> = w.in_order().iter().map(|r| r.step).collect();
    let expected: Vec<u64> = (5..WINDOW as u64 + 5).collect();
    assert_eq!(steps, expected);
    let mut short = Window::default();
    for step in 0..3 {
        short.remember(&Rec { step, time: SimTime(step), ev: Ev::Start { node: NodeId(0) } });
    }
    assert_eq!(short.in_order().iter().map(|r| r.step).collect::<Vec<_>>(), vec![0, 1, 2]);
}

/// A window the engine keeps (`share_window`: each record moved in and observed there)
/// holds the same records as the checkers' own: for a violation found at record 40
/// (and 3, before the ring is full), the last `WINDOW` records up to and including it; at
/// the end of the run (L2's open height), the last `WINDOW` records.
#[test]
fn a_shared_window_is_the_checkers_own_window() {
    let ch = Chain::new();
    let a = ch.block(&ch.genesis, 1, 0, &[0, 1, 2]);
    let b = ch.block(&ch.genesis, 2, 1, &[1, 2, 3]);
    for late in [3usize, 40] {
        let mut evs: Vec<Ev> = (0..late).map(|i| Ev::Tx { node: NodeId(0), tx: i as u64 }).collect();
        evs[0] = persist(0, &a);
        evs.push(persist(2, &b));
        evs.extend((0..5).map(|i| Ev::Tx { node: NodeId(1), tx: 100 + i }));
        let mut own = ch.checkers(ALL_HONEST.to_vec());
        let mut shared = ch.checkers(ALL_HONEST.to_vec());
        let ring = shared.share_window();
        for (i, ev) in evs.into_iter().enumerate() {
            let rec = Rec { step: i as u64, time: SimTime::from_secs(i as u64 + 1), ev };
            own.observe(&rec);
            let i = ring.borrow_mut().put(rec);
            let kept = ring.borrow();
            shared.observe(kept.get(i));
        }
        let end = SimTime::from_secs(1000);
        own.finish(end, late as u64 + 6);
        shared.finish(end, late as u64 + 6);
        let windows = |c: &Checkers| -> Vec<(&'static str, Vec<u64>)> {
            c.violations.iter().map(|v| (v.id.as_str(), v.window.iter().map(|r| r.step).collect())).collect()
        };
        let got = windows(&shared);
        assert_eq!(got, windows(&own), "violation at record {late}");
        let s1 = got.iter().find(|w| w.0 == "S1").expect("S1 violated");
        let want: Vec<u64> = (late.saturating_sub(WINDOW - 1) as u64..=late as u64).collect();
        assert_eq!(s1.1, want, "the window ends with the violating record");
    }
}
