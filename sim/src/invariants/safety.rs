//! Safety checkers S1–S6.

use super::CheckContext;
use super::InvariantId;
use super::custody_model::ScheduleModel;
use crate::engine::trace::{Ev, Rec};
use crate::protocol::block::{Block, CertError, Quorum, verify_certificate};
use crate::protocol::crypto::{ByHashBuild, Hash32, KeyId};
use crate::protocol::{NodeId, Note};
use crate::validators::ValidatorSet;
use std::collections::{HashMap, HashSet};
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
///
/// Memory: what is kept for good is a few hashes per height ([`AtHeight`]); whole blocks
/// are kept only while some honest node has not persisted their height yet, because only
/// then can a second block appear there (a node that has persisted a height is judged by
/// S2 alone, which needs the hash). A run in which an honest node stays behind for good
/// (crashed and never restarted) keeps them for every height above it.
#[derive(Clone)]
pub struct Safety {
    cx: CheckContext,
    /// S1–S4: per height, what honest nodes persisted and signed there.
    heights: ByHeight,
    /// S3: the block tree over all honest replicas: an id per distinct block …
    tree_ids: HashMap<Hash32, u32, ByHashBuild>,
    /// … and, per id, whether it already has a child (the tree must be a single path).
    has_child: Vec<bool>,
    /// S3: blocks whose certificate was already judged (each distinct block once).
    judged: HashSet<Hash32, ByHashBuild>,
    /// S6 results, one per forked height.
    pub accountability: Vec<Accountability>,
    /// S5: the checkers' own model of which set the chain assigns to every height.
    pub model: ScheduleModel,
}

impl Safety {
    pub fn new(cx: CheckContext) -> Safety {
        let mut tree_ids = HashMap::default();
        tree_ids.insert(cx.genesis, 0);
        let model = ScheduleModel::new(cx.schedule.clone(), cx.genesis);
        let mut safety = Safety {
            model,
            cx,
            heights: ByHeight::default(),
            tree_ids,
            has_child: vec![false],
            judged: HashSet::default(),
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
                // Heights waiting only for this node are finished now.
                let open: Vec<u32> = self.heights.iter().filter(|(_, a)| a.open.is_some()).map(|(h, _)| h).collect();
                for h in open {
                    self.close_if_finished(h);
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
        self.persisted(node, height - 1).map(|k| k.next_validators.clone())
    }

    /// What `node` persisted at `height`, if it did.
    fn persisted(&self, node: NodeId, height: u32) -> Option<&Kept> {
        self.heights.get(height)?.persisted(node)
    }

    /// Drops the whole blocks of `height` once every honest node has persisted it.
    fn close_if_finished(&mut self, height: u32) {
        let honest = &self.cx.honest;
        if let Some(at) = self.heights.get_mut(height)
            && at.open.is_some()
            && honest.iter().enumerate().all(|(i, &h)| !h || at.persisted(NodeId(i as u32)).is_some())
        {
            at.open = None;
        }
    }

    /// The record of `height`, created empty.
    fn at(&mut self, height: u32) -> &mut AtHeight {
        let n = self.cx.honest.len();
        self.heights.get_or_insert_with(height, || AtHeight::new(n))
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
                    "block {} does not carry a quorum of the set the chain assigns to height {h} ({} keys {}, M = {m}): {e:?}",
                    block.hash,
                    own.len(),
                    keys_text(&self.cx.names, own.iter())
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
                    "block {} names {} for height {}, but its chain's changes and the hand-off rule give {}",
                    block.hash,
                    keys_text(&self.cx.names, block.next_validators.keys.iter()),
                    h + 1,
                    keys_text(&self.cx.names, next.iter())
                ),
            ));
        }
        found
    }

    fn on_persist(&mut self, node: NodeId, block: &Rc<Block>) -> Vec<Found> {
        let mut found = Vec::new();
        let h = block.height();

        // S2: a height this node already persisted is never replaced.
        if let Some(prev) = self.persisted(node, h) {
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
                let parent = match self.persisted(node, h - 1) {
                    Some(k) if h > 1 => k.hash,
                    _ => self.cx.genesis,
                };
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
        // Replicas assemble their own copies of a block (their certificates often differ:
        // each node takes the first M Commits it received); later checks need only its hash
        // and the set it names, kept once per distinct pair.
        let at = self.at(h);
        at.set_persisted(node, Kept { hash: block.hash, next_validators: block.next_validators.clone() });

        // S1: one block per height across honest replicas.
        let first = at.open.as_ref().map(|o| (o.forks[0].clone(), o.first_node));
        match first {
            None => {
                at.open = Some(Box::new(Open { first_node: node, forks: vec![block.clone()] }));
            }
            Some((b, other)) if b.hash != block.hash => {
                let (first_block, other) = (b, other);
                let Some(open) = self.heights.get_mut(h).and_then(|a| a.open.as_mut()) else {
                    unreachable!("height {h} is open: it was read above")
                };
                let known = &mut open.forks;
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
                                "fork at height {h} signed by only {} common keys (need ≥ F+1 = {}); one side signed by {}, the other by {} (the chain assigns {})",
                                acc.double_signers.len(),
                                acc.f + 1,
                                keys_text(&self.cx.names, acc.signers[0].iter()),
                                keys_text(&self.cx.names, acc.signers[1].iter()),
                                keys_text(&self.cx.names, acc.sets[0].iter())
                            ),
                        });
                    }
                    self.accountability.push(acc);
                }
            }
            Some(_) => {}
        }
        self.close_if_finished(h);
        found
    }

    /// The first honest node that persisted `block` (falling back to `default`).
    fn finaliser(&self, block: &Block, default: NodeId) -> NodeId {
        (0..self.cx.honest.len() as u32)
            .map(NodeId)
            .find(|&n| self.persisted(n, block.height()).is_some_and(|k| k.hash == block.hash))
            .unwrap_or(default)
    }

    /// S3's single-path rule: every block has one parent and no block two children.
    fn add_to_tree(&mut self, node: NodeId, block: &Rc<Block>) -> Vec<Found> {
        if self.tree_ids.contains_key(&block.hash) {
            return Vec::new();
        }
        let id = self.tree_ids.len() as u32;
        self.tree_ids.insert(block.hash, id);
        self.has_child.push(false);
        let Some(&parent) = self.tree_ids.get(&block.header.prev_hash) else {
            return vec![Found::about(
                InvariantId::S3,
                node,
                block,
                format!("block {} has no known parent", block.hash),
            )];
        };
        let siblings = std::mem::replace(&mut self.has_child[parent as usize], true);
        if siblings {
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
        let at = self.at(height);
        match at.signed(node) {
            None => {
                at.set_signed(node, block);
                Vec::new()
            }
            Some(prev) if prev != block => vec![Found {
                id: InvariantId::S4,
                height,
                nodes: vec![node],
                blocks: vec![prev, block],
                detail: format!("{} signed Commit for {prev} and for {block} at height {height}", self.name(node)),
            }],
            Some(_) => Vec::new(),
        }
    }
}

/// What a later check needs of a block an honest node persisted: S2 compares hashes, S3
/// links to the parent's hash and takes the set it names for the next height.
#[derive(Clone, Debug, PartialEq)]
struct Kept {
    hash: Hash32,
    next_validators: Rc<ValidatorSet>,
}

/// The blocks of a height some honest node has not persisted yet: S1 and S6 compare a new
/// block's parent and certificate with them.
#[derive(Clone)]
struct Open {
    /// The first honest node that persisted a block here (S1's reference).
    first_node: NodeId,
    /// Every distinct block (by hash) an honest node persisted here, the first one first.
    forks: Vec<Rc<Block>>,
}

/// The [`AtHeight`] records by height, in a list indexed from the lowest height recorded:
/// honest nodes persist and sign heights in order, so the heights recorded form a range
/// (with a gap at most below a run's start height), and a lookup is an index where a
/// `BTreeMap` walked its nodes — a few times per persist. A height never recorded reads as
/// absent, as in the map; iteration is in increasing height, as the map's.
#[derive(Clone, Default)]
struct ByHeight {
    /// The height of `slots[0]`.
    first: u32,
    slots: std::collections::VecDeque<Option<AtHeight>>,
}

impl ByHeight {
    fn index(&self, height: u32) -> Option<usize> {
        let i = height.checked_sub(self.first)? as usize;
        (i < self.slots.len()).then_some(i)
    }

    fn get(&self, height: u32) -> Option<&AtHeight> {
        self.slots[self.index(height)?].as_ref()
    }

    fn get_mut(&mut self, height: u32) -> Option<&mut AtHeight> {
        let i = self.index(height)?;
        self.slots[i].as_mut()
    }

    fn get_or_insert_with(&mut self, height: u32, new: impl FnOnce() -> AtHeight) -> &mut AtHeight {
        if self.slots.is_empty() {
            self.first = height;
        }
        while height < self.first {
            self.slots.push_front(None);
            self.first -= 1;
        }
        let i = (height - self.first) as usize;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i].get_or_insert_with(new)
    }

    fn iter(&self) -> impl Iterator<Item = (u32, &AtHeight)> {
        let first = self.first;
        self.slots.iter().enumerate().filter_map(move |(i, a)| a.as_ref().map(|a| (first + i as u32, a)))
    }
}

/// One height: the distinct blocks persisted and signed there, and per node which.
#[derive(Clone)]
struct AtHeight {
    kept: Few<Kept>,
    /// S4: the distinct blocks honest nodes signed a Commit for.
    signed: Few<Hash32>,
    /// Per node: 1 + the index into `kept` and into `signed` (0: none).
    by_node: Box<[(u16, u16)]>,
    /// Until every honest node has persisted this height.
    open: Option<Box<Open>>,
}

impl AtHeight {
    fn new(n: usize) -> AtHeight {
        AtHeight { kept: Few::None, signed: Few::None, by_node: vec![(0, 0); n].into_boxed_slice(), open: None }
    }

    fn persisted(&self, node: NodeId) -> Option<&Kept> {
        let i = self.by_node.get(node.idx())?.0;
        i.checked_sub(1).map(|i| self.kept.get(i as usize))
    }

    fn set_persisted(&mut self, node: NodeId, k: Kept) {
        let i = self.kept.index_of(k);
        if let Some(slot) = self.by_node.get_mut(node.idx()) {
            slot.0 = i + 1;
        }
    }

    fn signed(&self, node: NodeId) -> Option<Hash32> {
        let i = self.by_node.get(node.idx())?.1;
        i.checked_sub(1).map(|i| *self.signed.get(i as usize))
    }

    fn set_signed(&mut self, node: NodeId, block: Hash32) {
        let i = self.signed.index_of(block);
        if let Some(slot) = self.by_node.get_mut(node.idx()) {
            slot.1 = i + 1;
        }
    }
}

/// A short list of distinct values stored inline while it holds one (nearly always).
#[derive(Clone)]
enum Few<T> {
    None,
    One(T),
    Many(Vec<T>),
}

impl<T: PartialEq> Few<T> {
    fn get(&self, i: usize) -> &T {
        match self {
            Few::One(x) if i == 0 => x,
            Few::Many(v) => &v[i],
            _ => panic!("index {i} out of a short list"),
        }
    }

    /// The index of `x`, added if new.
    fn index_of(&mut self, x: T) -> u16 {
        match self {
            Few::None => {
                *self = Few::One(x);
                0
            }
            Few::One(y) if *y == x => 0,
            Few::One(_) => {
                let Few::One(y) = std::mem::replace(self, Few::None) else { unreachable!() };
                *self = Few::Many(vec![y, x]);
                1
            }
            Few::Many(v) => match v.iter().position(|y| *y == x) {
                Some(i) => i as u16,
                None => {
                    v.push(x);
                    (v.len() - 1) as u16
                }
            },
        }
    }
}

/// Keys as a violation's detail names them: by the names of the nodes that hold them (key
/// i is node i's), `[R0, C1]` as the report's hand-offs and changes do; a key no node
/// holds as itself (`K9`).
fn keys_text<'a>(names: &[String], keys: impl Iterator<Item = &'a KeyId>) -> String {
    let names: Vec<String> = keys.map(|k| names.get(k.0 as usize).cloned().unwrap_or_else(|| k.to_string())).collect();
    format!("[{}]", names.join(", "))
}

#[cfg(test)]
mod by_height_tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Against a `BTreeMap`: inserts in and out of order, below the first height, with
    /// gaps; every lookup and the iteration order agree (a record is told apart by the
    /// size it was made with).
    #[test]
    fn heights_answer_as_a_map_does() {
        let mut list = ByHeight::default();
        let mut map: BTreeMap<u32, usize> = BTreeMap::new();
        let order = [5u32, 6, 7, 7, 9, 3, 12, 4, 5, 1, 20, 2, 8];
        for (k, &h) in order.iter().enumerate() {
            let size = k % 4 + 1;
            let got = list.get_or_insert_with(h, || AtHeight::new(size)).by_node.len();
            assert_eq!(got, *map.entry(h).or_insert(size));
            for q in 0..25u32 {
                assert_eq!(list.get(q).map(|a| a.by_node.len()), map.get(&q).copied(), "height {q}");
                assert_eq!(list.get_mut(q).is_some(), map.contains_key(&q));
            }
            let a: Vec<(u32, usize)> = list.iter().map(|(h, a)| (h, a.by_node.len())).collect();
            let b: Vec<(u32, usize)> = map.iter().map(|(h, s)| (*h, *s)).collect();
            assert_eq!(a, b);
        }
        assert!(list.get(u32::MAX).is_none());
    }
}
