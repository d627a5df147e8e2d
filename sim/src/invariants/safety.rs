//! Safety checkers S1–S6.

use super::CheckContext;
use super::InvariantId;
use super::custody_model::ScheduleModel;
use crate::engine::trace::{Ev, Rec};
use crate::protocol::block::{Block, CertError, Quorum, verify_certificate};
use crate::protocol::crypto::{Hash32, KeyId};
use crate::protocol::{NodeId, Note};
use crate::validators::ValidatorSet;
use petgraph::graphmap::DiGraphMap;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// A violation as a checker finds it; `Checkers` adds time, step and the event window.
#[derive(Clone, Debug)]
pub struct Found {
    pub id: InvariantId,
    pub height: u32,
    pub nodes: Vec<NodeId>,
    pub blocks: Vec<Hash32>,
    pub detail: String,
}

impl Found {
    /// A violation about one block persisted by one node.
    fn about(id: InvariantId, node: NodeId, block: &Block, detail: String) -> Found {
        Found { id, height: block.height(), nodes: vec![node], blocks: vec![block.hash], detail }
    }
}

/// The outcome of S6 for one fork.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Accountability {
    pub height: u32,
    /// Keys that signed both conflicting blocks.
    pub double_signers: Vec<KeyId>,
    /// F of the set the chain assigns to the first block's height.
    pub f: usize,
    pub accountable: bool,
    /// The keys that signed each side.
    pub signers: [Vec<KeyId>; 2],
    /// The set the chain assigns to the height, along each side's branch.
    pub sets: [Vec<KeyId>; 2],
    /// The two blocks have different parents: the branches parted lower down, where the
    /// fork was judged; S6 does not judge it again.
    pub continuation: bool,
}

/// `Clone` so the explorer can carry one checker per explored state (copied only when a
/// step persists a block or signs a Commit).
#[derive(Clone)]
pub struct Safety {
    cx: CheckContext,
    /// S1: the first block each height was persisted with by an honest node.
    first: BTreeMap<u32, (Rc<Block>, NodeId)>,
    /// Every distinct block an honest node persisted at each height.
    forks: BTreeMap<u32, Vec<Rc<Block>>>,
    /// S2/S3: per node, height → the block it persisted there.
    chains: Vec<BTreeMap<u32, Rc<Block>>>,
    /// S3: the block tree over all honest replicas (ids index `tree_blocks`).
    tree: DiGraphMap<u32, ()>,
    tree_ids: BTreeMap<Hash32, u32>,
    /// S3: blocks whose certificate was already judged (each distinct block once).
    judged: BTreeSet<Hash32>,
    /// S4: per (node, height), the block it signed a Commit for.
    signed: BTreeMap<(NodeId, u32), Hash32>,
    /// S6 results, one per forked height.
    pub accountability: Vec<Accountability>,
    /// S5: the checkers' own model of which set the chain assigns to every height.
    pub model: ScheduleModel,
}

impl Safety {
    pub fn new(cx: CheckContext) -> Safety {
        let mut tree = DiGraphMap::new();
        tree.add_node(0);
        let tree_ids = BTreeMap::from([(cx.genesis, 0)]);
        let model = ScheduleModel::new(cx.schedule.clone(), cx.genesis);
        let mut safety = Safety {
            model,
            chains: vec![BTreeMap::new(); cx.honest.len()],
            cx,
            first: BTreeMap::new(),
            forks: BTreeMap::new(),
            tree,
            tree_ids,
            signed: BTreeMap::new(),
            judged: BTreeSet::new(),
            accountability: Vec::new(),
        };
        safety.persist_prefix();
        safety
    }

    /// Every honest node starts with the chain final before the run (`CheckContext::prefix`),
    /// so the checker records it for each as if persisted, and the model follows it. The
    /// prefix is built to be valid: a finding here is a bug in building it.
    fn persist_prefix(&mut self) {
        let prefix = std::mem::take(&mut self.cx.prefix);
        for n in 0..self.cx.honest.len() {
            let node = NodeId(n as u32);
            if !self.honest(node) {
                continue;
            }
            for b in &prefix {
                let found = self.on_persist(node, b);
                debug_assert!(found.is_empty(), "the chain before the run fails a safety check: {:?}", found);
            }
        }
        self.cx.prefix = prefix;
    }

    fn name(&self, n: NodeId) -> &str {
        self.cx.names.get(n.idx()).map_or("?", |s| s.as_str())
    }

    fn honest(&self, n: NodeId) -> bool {
        self.cx.honest.get(n.idx()).copied().unwrap_or(false)
    }

    pub fn observe(&mut self, rec: &Rec) -> Vec<Found> {
        match &rec.ev {
            // A replica that forgot its commit may sign again: faulty from here on (docs/dbft-2.0.md §3.3).
            Ev::Restart { node, amnesia: true } => {
                if let Some(h) = self.cx.honest.get_mut(node.idx()) {
                    *h = false;
                }
                Vec::new()
            }
            Ev::Persist { node, block } if self.honest(*node) => self.on_persist(*node, block),
            Ev::Note { node, note: Note::CommitSigned { height, block, .. } } if self.honest(*node) => {
                self.on_commit_signed(*node, *height, *block)
            }
            _ => Vec::new(),
        }
    }

    /// The set the chain (as this node persisted it) declares for `height`.
    fn declared_set(&self, node: NodeId, height: u32) -> Option<Rc<ValidatorSet>> {
        if height == 1 {
            return Some(self.cx.schedule.genesis.clone());
        }
        self.chains[node.idx()].get(&(height - 1)).map(|b| b.next_validators.clone())
    }

    /// The quorum a block at `height` needs, given the sets of `height` and of the height
    /// before: M of its set, and under the double-quorum rule at a hand-off also M of the
    /// set before.
    fn quorum<'a>(&self, set: &'a ValidatorSet, before: Option<&'a ValidatorSet>) -> Quorum<'a> {
        let previous =
            before.filter(|b| self.model.rule().double_quorum() && b.hash() != set.hash()).map(|b| (b, b.m()));
        Quorum { set, need: set.m(), previous }
    }

    /// S5: the block carries a quorum of the set the model assigns to its height (and of
    /// the set before, at a double-quorum hand-off), and names the set the model gives
    /// for the next height.
    ///
    /// `declared` are the sets the block's chain declares for its height and the one
    /// before, and `s3` is the certificate's verdict against them: where the model agrees
    /// with the chain, the same verdict stands (one verification per block, not two).
    fn check_custody(
        &mut self,
        node: NodeId,
        block: &Rc<Block>,
        declared: (&ValidatorSet, Option<&ValidatorSet>),
        s3: Result<(), CertError>,
    ) -> Vec<Found> {
        let h = block.height();
        let parent = block.header.prev_hash;
        let (Some(own), Some(before)) = (self.model.set_after(&parent, h), self.model.set_after(&parent, h - 1)) else {
            return Vec::new(); // no known parent: S3 reports it
        };
        let same = |model: &std::collections::BTreeSet<KeyId>, set: Option<&ValidatorSet>| {
            set.is_some_and(|s| model.iter().eq(s.keys.iter()))
        };
        let agrees = same(&own, Some(declared.0)) && (h == 1 || same(&before, declared.1));
        let verdict = if agrees {
            s3
        } else {
            let own = ValidatorSet::new(own.iter().copied().collect());
            let before = ValidatorSet::new(before.iter().copied().collect());
            let q = self.quorum(&own, (h > 1).then_some(&before));
            verify_certificate(block, &q, &self.cx.keys)
        };
        let mut found = Vec::new();
        if let Err(e) = verdict {
            let m = crate::validators::m_of(own.len());
            found.push(Found::about(
                InvariantId::S5,
                node,
                block,
                format!(
                    "block {} does not carry a quorum of the set the chain assigns to height {h} ({} keys {:?}, M = {m}): {e:?}",
                    block.hash,
                    own.len(),
                    own
                ),
            ));
        }
        self.model.add(block);
        if let Some(next) = self.model.set_after(&block.hash, h + 1)
            && !next.iter().eq(block.next_validators.keys.iter())
        {
            found.push(Found::about(
                InvariantId::S5,
                node,
                block,
                format!(
                    "block {} names {:?} for height {}, but its chain's changes and the hand-off rule give {:?}",
                    block.hash,
                    block.next_validators.keys,
                    h + 1,
                    next
                ),
            ));
        }
        found
    }

    fn on_persist(&mut self, node: NodeId, block: &Rc<Block>) -> Vec<Found> {
        let mut found = Vec::new();
        let h = block.height();

        // S2: a height this node already persisted is never replaced.
        if let Some(prev) = self.chains[node.idx()].get(&h) {
            if prev.hash != block.hash {
                found.push(Found {
                    id: InvariantId::S2,
                    height: h,
                    nodes: vec![node],
                    blocks: vec![prev.hash, block.hash],
                    detail: format!(
                        "{} replaced block {} at height {h} with {}",
                        self.name(node),
                        prev.hash,
                        block.hash
                    ),
                });
            }
            return found;
        }

        // S3: certificate against the declared set; link to this node's parent.
        match self.declared_set(node, h) {
            None => found.push(Found::about(
                InvariantId::S3,
                node,
                block,
                format!("{} persisted height {h} without height {}", self.name(node), h - 1),
            )),
            Some(set) => {
                let parent = if h == 1 { self.cx.genesis } else { self.chains[node.idx()][&(h - 1)].hash };
                if block.header.prev_hash != parent {
                    found.push(Found::about(
                        InvariantId::S3,
                        node,
                        block,
                        format!("block {} does not link to its parent {parent}", block.hash),
                    ));
                }
                let first_sight = self.judged.insert(block.hash);
                if first_sight {
                    let before = if h > 1 { self.declared_set(node, h - 1) } else { None };
                    let q = self.quorum(&set, before.as_deref());
                    let s3 = verify_certificate(block, &q, &self.cx.keys);
                    if let Err(e) = &s3 {
                        found.push(Found::about(
                            InvariantId::S3,
                            node,
                            block,
                            format!(
                                "block {} certificate invalid: {e:?} (set of {}, M = {})",
                                block.hash,
                                set.n(),
                                set.m()
                            ),
                        ));
                    }
                    found.extend(self.check_custody(node, block, (&set, before.as_deref()), s3));
                }
            }
        }
        found.extend(self.add_to_tree(node, block));
        // Replicas assemble their own copies of a block; keep one allocation when they are
        // equal (their certificates often differ: each node takes the first M Commits it
        // received).
        let kept = match self.first.get(&h) {
            Some((b, _)) if **b == **block => b.clone(),
            _ => block.clone(),
        };
        self.chains[node.idx()].insert(h, kept);

        // S1: one block per height across honest replicas.
        match self.first.get(&h) {
            None => {
                self.first.insert(h, (block.clone(), node));
                self.forks.insert(h, vec![block.clone()]);
            }
            Some((b, other)) if b.hash != block.hash => {
                let (first_block, other) = (b.clone(), *other);
                let known = self.forks.entry(h).or_default();
                let new_branch = !known.iter().any(|x| x.hash == block.hash);
                if new_branch {
                    // Where the branches part: a sibling (same parent) is judged here; a
                    // block whose parent differs from every other block at this height
                    // continues a fork that began lower down, and was judged there.
                    let sibling = known.iter().find(|x| x.header.prev_hash == block.header.prev_hash).cloned();
                    known.push(block.clone());
                    let continuation = sibling.is_none();
                    let against = sibling.unwrap_or_else(|| first_block.clone());
                    let mut acc = self.accountability_of(h, &against, block);
                    acc.continuation = continuation;
                    let disjoint = !acc.signers[0].iter().any(|k| acc.signers[1].contains(k));
                    let verdict = match (continuation, acc.accountable, disjoint) {
                        (true, ..) => "continues the fork below this height",
                        (false, true, _) => "accountable",
                        (false, false, false) => "UNACCOUNTABLE",
                        (false, false, true) => "UNACCOUNTABLE: no key signed both sides",
                    };
                    // Name the block the fork was judged against (the sibling where the branches
                    // part; for a continuation, the first block persisted at this height).
                    let other = if against.hash == first_block.hash { other } else { self.finaliser(&against, other) };
                    found.push(Found {
                        id: InvariantId::S1,
                        height: h,
                        nodes: vec![other, node],
                        blocks: vec![against.hash, block.hash],
                        detail: format!(
                            "{} persisted {} (view {}) and {} persisted {} (view {}) at height {h}; {} double signers, F = {} ({verdict})",
                            self.name(other),
                            against.hash,
                            against.view,
                            self.name(node),
                            block.hash,
                            block.view,
                            acc.double_signers.len(),
                            acc.f
                        ),
                    });
                    if !acc.accountable && !continuation {
                        found.push(Found {
                            id: InvariantId::S6,
                            height: h,
                            nodes: vec![other, node],
                            blocks: vec![against.hash, block.hash],
                            detail: format!(
                                "fork at height {h} signed by only {} common keys (need ≥ F+1 = {}); one side signed by {:?}, the other by {:?} (the chain assigns {:?})",
                                acc.double_signers.len(),
                                acc.f + 1,
                                acc.signers[0],
                                acc.signers[1],
                                acc.sets[0]
                            ),
                        });
                    }
                    self.accountability.push(acc);
                }
            }
            Some(_) => {}
        }
        found
    }

    /// The first honest node that persisted `block` (falling back to `default`).
    fn finaliser(&self, block: &Block, default: NodeId) -> NodeId {
        (0..self.chains.len())
            .find(|&i| self.chains[i].get(&block.height()).is_some_and(|b| b.hash == block.hash))
            .map_or(default, |i| NodeId(i as u32))
    }

    /// S3's single-path rule: every block has one parent and no block two children.
    fn add_to_tree(&mut self, node: NodeId, block: &Rc<Block>) -> Vec<Found> {
        if self.tree_ids.contains_key(&block.hash) {
            return Vec::new();
        }
        let id = self.tree_ids.len() as u32;
        self.tree_ids.insert(block.hash, id);
        self.tree.add_node(id);
        let Some(&parent) = self.tree_ids.get(&block.header.prev_hash) else {
            return vec![Found::about(
                InvariantId::S3,
                node,
                block,
                format!("block {} has no known parent", block.hash),
            )];
        };
        let siblings = self.tree.neighbors_directed(parent, petgraph::Direction::Outgoing).count();
        self.tree.add_edge(parent, id, ());
        if siblings > 0 {
            return vec![Found::about(
                InvariantId::S3,
                node,
                block,
                format!(
                    "the block tree branches below height {}: block {} is a second child",
                    block.height(),
                    block.hash
                ),
            )];
        }
        Vec::new()
    }

    /// S6: which keys signed both blocks. Each certificate signature is attributed to
    /// the key that made it (whatever index it claims); a fork is accountable when more
    /// than F keys of the set the model assigns to the height signed both sides — or,
    /// under the double-quorum rule, more than F keys of the set before it, which signs
    /// a hand-off block too (Casper's accountable safety across a dynasty change).
    fn accountability_of(&self, h: u32, a: &Block, b: &Block) -> Accountability {
        let side = |blk: &Block| -> (Vec<KeyId>, Vec<KeyId>) {
            let set: Vec<KeyId> =
                self.model.set_after(&blk.header.prev_hash, h).unwrap_or_default().into_iter().collect();
            let mut signers: Vec<KeyId> =
                blk.certificate.iter().filter_map(|c| self.cx.keys.signer_of(&blk.hash, &c.sig)).collect();
            signers.sort_unstable();
            signers.dedup();
            (signers, set)
        };
        let (sa, set_a) = side(a);
        let (sb, set_b) = side(b);
        let double_signers: Vec<KeyId> = sa.iter().filter(|k| sb.contains(k)).copied().collect();
        let f = crate::validators::f_of(set_a.len());
        let within = |set: &[KeyId]| double_signers.iter().filter(|k| set.contains(k)).count();
        let previous: Vec<KeyId> = if self.model.rule().double_quorum() && h > 1 {
            self.model.set_after(&a.header.prev_hash, h - 1).unwrap_or_default().into_iter().collect()
        } else {
            Vec::new()
        };
        let accountable = within(&set_a) > f
            || (!previous.is_empty()
                && previous != set_a
                && within(&previous) > crate::validators::f_of(previous.len()));
        Accountability {
            height: h,
            accountable,
            double_signers,
            f,
            signers: [sa, sb],
            sets: [set_a, set_b],
            continuation: false,
        }
    }

    fn on_commit_signed(&mut self, node: NodeId, height: u32, block: Hash32) -> Vec<Found> {
        match self.signed.get(&(node, height)) {
            None => {
                self.signed.insert((node, height), block);
                Vec::new()
            }
            Some(prev) if *prev != block => vec![Found {
                id: InvariantId::S4,
                height,
                nodes: vec![node],
                blocks: vec![*prev, block],
                detail: format!("{} signed Commit for {prev} and for {block} at height {height}", self.name(node)),
            }],
            Some(_) => Vec::new(),
        }
    }

    /// The first block persisted at each height, with its finaliser (for reports).
    pub fn canonical(&self) -> impl Iterator<Item = (&u32, &(Rc<Block>, NodeId))> {
        self.first.iter()
    }
}
