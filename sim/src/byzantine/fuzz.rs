//! Honest replicas never panic and never break safety, whatever arrives: a property test
//! feeding 100,000+ arbitrary and mutated messages (random fields, wrong heights and views,
//! truncated recovery payloads, wrong keys, garbage signatures, forged blocks) into four
//! honest replicas that keep exchanging their own traffic meanwhile.

use crate::engine::time::SimTime;
use crate::engine::trace::{Ev, Observer, Rec};
use crate::invariants::{CheckContext, Checkers};
use crate::protocol::block::{Block, CertSig, Header, tx_root};
use crate::protocol::crypto::{Hash32, KeyId, Keyring, Signature};
use crate::protocol::dbft::message::*;
use crate::protocol::dbft::semantics::Semantics;
use crate::protocol::dbft::{DbftOptions, DbftReplica};
use crate::protocol::{Action, Cx, NodeId, Note, Replica};
use crate::validators::ValidatorSet;
use proptest::prelude::*;
use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

const N: usize = 4;
const T: u64 = 1_000_000;

/// A message description; turned into a signed (or mis-signed) message by the harness.
#[derive(Clone, Debug)]
struct Fuzz {
    kind: u8,
    height_pick: u8,
    view: u8,
    validator: u16,
    /// 0..4: that validator's key; 4: a key outside the set; 5: garbage signature.
    signer: u8,
    words: Vec<u64>,
    compact: Vec<(u16, u8, u64)>,
    target: u8,
}

fn fuzz() -> impl Strategy<Value = Fuzz> {
    (
        0u8..9,
        0u8..6,
        prop_oneof![0u8..3, any::<u8>()],
        prop_oneof![0u16..4, any::<u16>()],
        0u8..6,
        proptest::collection::vec(any::<u64>(), 0..6),
        proptest::collection::vec((0u16..6, 0u8..3, any::<u64>()), 0..6),
        0u8..4,
    )
        .prop_map(|(kind, height_pick, view, validator, signer, words, compact, target)| Fuzz {
            kind,
            height_pick,
            view,
            validator,
            signer,
            words,
            compact,
            target,
        })
}

struct Harness {
    ring: Keyring,
    reps: Vec<DbftReplica>,
    timers: Vec<Option<(crate::protocol::TimerKind, SimTime)>>,
    queue: VecDeque<(usize, NodeId, Rc<Wire>)>,
    recent: Vec<Rc<ConsensusMessage>>,
    now: SimTime,
    checkers: Checkers,
    step: u64,
    rejected: u64,
    /// Blocks the honest replicas persisted.
    persisted: u64,
}

impl Harness {
    fn new(semantics: Semantics) -> Harness {
        let ring = Keyring::generate(99, N + 1);
        let set = Rc::new(ValidatorSet::new((0..N as u32).map(KeyId).collect()));
        let opts = Rc::new(DbftOptions::for_test(T, semantics, 8));
        let genesis = Rc::new(Block::genesis(set.clone()));
        let reps = (0..N as u32)
            .map(|i| DbftReplica::new(NodeId(i), ring.keypair(KeyId(i)), opts.clone(), genesis.clone()))
            .collect();
        let checkers = Checkers::new(CheckContext {
            honest: vec![true; N],
            names: (0..N).map(|i| format!("R{i}")).collect(),
            keys: Rc::new(ring.clone()),
            schedule: crate::invariants::custody_model::ScheduleSpec::fixed(set),
            genesis: genesis.hash,
            prefix: Vec::new(),
            gst: None,
            bound: SimTime::from_secs(1),
            max_views: 0,
            halt_on_violation: false,
        });
        let mut h = Harness {
            ring,
            reps,
            timers: vec![None; N],
            queue: VecDeque::new(),
            recent: Vec::new(),
            now: SimTime::ZERO,
            checkers,
            step: 0,
            rejected: 0,
            persisted: 0,
        };
        for i in 0..N {
            h.call(i, |r, cx| r.on_start(cx));
            h.call(i, |r, cx| r.on_transaction(cx, 1));
        }
        h
    }

    fn call(&mut self, i: usize, f: impl FnOnce(&mut DbftReplica, &mut Cx<Wire>)) {
        let mut buf = Vec::new();
        {
            let mut cx = Cx::new(self.now, &self.ring, &mut buf);
            f(&mut self.reps[i], &mut cx);
        }
        for a in buf {
            let ev = match a {
                Action::Broadcast(w) => {
                    if let Wire::Consensus(m) = &*w {
                        if self.recent.len() == 64 {
                            self.recent.remove(0);
                        }
                        self.recent.push(m.clone());
                    }
                    for j in (0..N).filter(|&j| j != i) {
                        self.queue.push_back((j, NodeId(i as u32), w.clone()));
                    }
                    continue;
                }
                Action::Send(to, w) => {
                    if to.idx() < N {
                        self.queue.push_back((to.idx(), NodeId(i as u32), w));
                    }
                    continue;
                }
                Action::SetTimer { tag, at, .. } => {
                    self.timers[i] = Some((tag, at));
                    continue;
                }
                Action::CancelTimer(_) => {
                    self.timers[i] = None;
                    continue;
                }
                Action::Persist(block) => {
                    self.persisted += 1;
                    Ev::Persist { node: NodeId(i as u32), block }
                }
                Action::Note(note) => {
                    if matches!(note, Note::Rejected { .. }) {
                        self.rejected += 1;
                    }
                    Ev::Note { node: NodeId(i as u32), note }
                }
                Action::Mark(_) => continue,
            };
            self.step += 1;
            self.checkers.observe(&Rec { step: self.step, time: self.now, ev });
        }
    }

    /// Delivers queued honest traffic (bounded), advancing time a little per message.
    fn drain(&mut self, limit: usize) {
        for _ in 0..limit {
            let Some((to, from, w)) = self.queue.pop_front() else {
                break;
            };
            self.now = self.now.plus(1_000);
            self.call(to, |r, cx| r.on_message(cx, from, &w));
        }
    }

    /// Fires the earliest armed timer.
    fn fire_timer(&mut self) {
        let Some(i) = (0..N).filter(|&i| self.timers[i].is_some()).min_by_key(|&i| self.timers[i].map(|t| t.1)) else {
            return;
        };
        let Some((tag, at)) = self.timers[i].take() else {
            return;
        };
        self.now = self.now.max(at);
        self.call(i, |r, cx| r.on_timer(cx, tag));
    }

    /// The message `f` describes, and whether it is a genuine message altered after signing.
    fn build(&self, f: &Fuzz) -> (Rc<Wire>, bool) {
        let target = &self.reps[f.target as usize % N];
        let h_now = target.ctx.height;
        let height = match f.height_pick {
            0 => h_now,
            1 => h_now + 1,
            2 => h_now.saturating_sub(1),
            3 => 0,
            4 => u32::MAX,
            _ => h_now + 3,
        };
        let w = |i: usize| f.words.get(i).copied().unwrap_or(i as u64 * 7);
        let sig_of = |hash: &Hash32| -> Signature {
            match f.signer {
                s @ 0..=4 => self.ring.keypair(KeyId(s as u32)).map_or(Signature(0), |k| k.sign(hash)),
                _ => Signature(w(0) as u128),
            }
        };
        let compact_sig = |x: u64| Signature(x as u128 | ((x as u128) << 64));
        let body = match f.kind {
            0 => Body::ChangeView { timestamp_ms: w(0), reason: ChangeViewReason::Timeout, rejected: Vec::new() },
            1 => Body::PrepareRequest {
                version: (w(1) % 2) as u32,
                prev_hash: if w(2) % 3 == 0 { Hash32::of(&w(2).to_le_bytes()) } else { target.ctx.prev_hash },
                timestamp_ms: w(3) % 100_000,
                nonce: w(4),
                tx_hashes: f.words.iter().map(|x| x % 5).collect(),
            },
            2 => Body::PrepareResponse {
                preparation_hash: target.ctx.request().map_or(Hash32::of(&w(0).to_le_bytes()), |r| r.hash),
            },
            3 => {
                let header = target.ctx.proposal.as_ref().map_or(Hash32::ZERO, |p| p.header_hash);
                Body::Commit { signature: if w(0) % 2 == 0 { sig_of(&header) } else { Signature(w(1) as u128) } }
            }
            4 => Body::RecoveryRequest { timestamp_ms: w(0) },
            5 | 6 => {
                // Possibly truncated or inconsistent recovery payloads.
                let nested = (f.kind == 6).then(|| {
                    let b = Body::PrepareRequest {
                        version: 0,
                        prev_hash: target.ctx.prev_hash,
                        timestamp_ms: w(1) % 10_000,
                        nonce: w(2),
                        tx_hashes: vec![],
                    };
                    let hash = ConsensusMessage::payload_hash(height, f.view, f.validator, &b);
                    Rc::new(ConsensusMessage::with_sig(height, f.view, f.validator, b, sig_of(&hash)))
                });
                Body::RecoveryMessage(Box::new(Recovery {
                    change_views: f
                        .compact
                        .iter()
                        .map(|&(v, ov, x)| ChangeViewCompact {
                            validator: v,
                            original_view: ov,
                            timestamp_ms: x,
                            sig: compact_sig(x),
                        })
                        .collect(),
                    prepare_request: nested,
                    preparation_hash: (w(3) % 2 == 0).then(|| Hash32::of(&w(3).to_le_bytes())),
                    preparations: f
                        .compact
                        .iter()
                        .map(|&(v, _, x)| PreparationCompact { validator: v, sig: compact_sig(x) })
                        .collect(),
                    commits: f
                        .compact
                        .iter()
                        .map(|&(v, cv, x)| CommitCompact {
                            view: cv,
                            validator: v,
                            signature: Signature(x as u128),
                            sig: compact_sig(x),
                        })
                        .collect(),
                }))
            }
            7 => {
                // A relayed block with a certificate of arbitrary signers.
                let tip = target.ledger.tip();
                let header = Header {
                    version: 0,
                    height: height.max(1),
                    prev_hash: tip.hash,
                    timestamp_ms: w(0),
                    nonce: w(1),
                    primary: f.validator,
                    tx_root: tx_root(&[]),
                    next_validators: tip.next_validators.hash(),
                };
                let hash = header.hash();
                let certificate =
                    f.compact.iter().map(|&(v, cv, _)| CertSig { index: v, view: cv, sig: sig_of(&hash) }).collect();
                let block = Block::new(hash, header, vec![], tip.next_validators.clone(), f.view, certificate);
                return (Rc::new(Wire::Block(Rc::new(block))), false);
            }
            _ => {
                // Mutate a recent honest message, keeping its signature.
                if let Some(m) =
                    self.recent.get(f.words.first().copied().unwrap_or(0) as usize % self.recent.len().max(1))
                {
                    let mut m = (**m).clone();
                    let tampered = match f.words.len() % 4 {
                        0 => {
                            m.height = m.height.wrapping_add(1);
                            true
                        }
                        1 => {
                            m.view = m.view.wrapping_add(1);
                            true
                        }
                        2 => {
                            m.validator = (m.validator + 1) % 5;
                            true
                        }
                        _ => false,
                    };
                    return (Rc::new(Wire::Consensus(Rc::new(m))), tampered);
                }
                return (Rc::new(Wire::GetBlocks { from: height }), false);
            }
        };
        let hash = ConsensusMessage::payload_hash(height, f.view, f.validator, &body);
        let msg = ConsensusMessage::with_sig(height, f.view, f.validator, body, sig_of(&hash));
        (Rc::new(Wire::Consensus(Rc::new(msg))), false)
    }
}

/// What one case of the property fed and saw.
#[derive(Default)]
struct Volume {
    fed: u64,
    tampered: u64,
    persisted: u64,
}

/// One case: `msgs` fed into four honest replicas of `semantics` among their own traffic.
fn survive(msgs: &[Fuzz], go: bool) -> Result<Volume, TestCaseError> {
    let mut h = Harness::new(if go { Semantics::Go } else { Semantics::CSharp });
    let mut v = Volume::default();
    for (k, f) in msgs.iter().enumerate() {
        let (w, tampered) = h.build(f);
        h.now = h.now.plus(500);
        let to = f.target as usize % N;
        let (before, height, deaf) = (h.rejected, h.reps[to].ctx.height, h.reps[to].ctx.block_sent);
        h.call(to, |r, cx| r.on_message(cx, NodeId(4), &w));
        // A genuine message altered after signing is refused (unless it is for a height
        // the receiver has already left, or the receiver has assembled its block and waits
        // for it — both drop messages unread).
        if tampered
            && let Wire::Consensus(m) = &*w
            && m.height >= height
            && !deaf
        {
            prop_assert!(h.rejected > before, "a relabelled message was accepted: {:?}", m);
            v.tampered += 1;
        }
        v.fed += 1;
        h.drain(8);
        if k % 10 == 9 {
            h.fire_timer();
        }
    }
    h.drain(10_000);
    let violated: Vec<_> = h.checkers.violations.iter().map(|v| v.id).filter(|id| id.is_safety()).collect();
    prop_assert!(
        violated.is_empty(),
        "{:?}",
        h.checkers.violations.iter().map(|v| v.detail.clone()).collect::<Vec<_>>()
    );
    prop_assert!(h.rejected > 0, "garbage must be rejected (and counted)");
    v.persisted = h.persisted;
    Ok(v)
}

/// The property, and the volume it must reach, counted for this run alone.
#[test]
fn honest_replicas_survive_at_least_100000_arbitrary_messages() {
    // A fixed seed: a failure replays exactly (the minimal case is printed).
    let config = ProptestConfig {
        cases: 1_000,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0xDBF7),
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let (fed, tampered, persisted) = (Cell::new(0u64), Cell::new(0u64), Cell::new(0u64));
    let result = runner.run(&(proptest::collection::vec(fuzz(), 100), any::<bool>()), |(msgs, go)| {
        let v = survive(&msgs, go)?;
        fed.set(fed.get() + v.fed);
        tampered.set(tampered.get() + v.tampered);
        persisted.set(persisted.get() + v.persisted);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // (Shrinking after a failure would add to the counts, but a failure has panicked.)
    assert!(fed.get() >= 100_000, "{}", fed.get());
    assert!(tampered.get() > 1_000, "{}", tampered.get());
    // The honest replicas kept reaching consensus among the garbage.
    assert!(persisted.get() > 1_000, "{}", persisted.get());
}
