//! The node's ledger: persisted blocks, the chain's custody of its validator set, the
//! mempool, block relay and catch-up.
//!
//! A replica that assembles block h relays it to everyone; a replica that receives a block
//! for the next height verifies its certificate against the set the chain declared for that
//! height, and the set it names for the height after against what its own custody makes
//! of the block's transactions, and persists it — this is how a node locked in an old
//! view's commit gets unstuck (docs/dbft-2.0.md §1.10), and how a node outside the validator
//! set (a watcher, a candidate that has not joined yet, a validator that left) follows the
//! chain. A node that hears consensus traffic for a height above its own asks the sender
//! for the missing blocks (GetBlocks), at most once per block time, which stands in for
//! Neo's P2P block synchronisation; a newcomer syncing from genesis verifies every
//! certificate along the way.

use super::DbftReplica;
use super::chain::Chain;
use super::message::Wire;
use crate::protocol::block::{Block, Quorum, TxId, verify_certificate};
use crate::protocol::mempool::Mempool;
use crate::protocol::txset::TxSet;
use crate::protocol::{Cx, MsgKind, NodeId, RejectReason};
use crate::validators::custody::Custody;
use std::collections::BTreeMap;
use std::rc::Rc;

/// How many blocks one GetBlocks answer carries at most.
pub const SYNC_BATCH: u32 = 16;
/// How many out-of-order blocks a node keeps while it fills the gap.
const MAX_ORPHANS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ledger {
    /// Persisted blocks from the genesis block (height 0) to the tip.
    pub chain: Chain,
    /// Transactions known to this node and not yet on chain.
    pub mempool: Mempool,
    /// Transactions on chain, as runs of consecutive ids (stays small however long the chain).
    pub on_chain: TxSet,
    orphans: BTreeMap<u32, Rc<Block>>,
    /// The custody after the tip: who validates the next height, and what is pending.
    pub custody: Rc<Custody>,
}

impl Ledger {
    /// Hashes the ledger as its `Hash` does, except the certificates of persisted blocks
    /// ([`super::relevance::LiveState`]): once a block is persisted nothing in the
    /// protocol reads its certificate again except a peer that fetches the block, and
    /// among honest nodes every certificate it can get holds a quorum of the right set,
    /// so that peer accepts it whichever M signatures it carries. A node's certificate is
    /// the first M Commits it happened to receive, so without this two nodes past the
    /// same block differ in up to C(N, M) ways for nothing. Blocks not yet persisted
    /// (orphans) are hashed whole.
    ///
    /// Why merging is sound: "equal once every certificate is erased, those of blocks in
    /// flight included" is a bisimulation that no invariant, finish or stall verdict can
    /// tell apart (S5 judges a certificate when it is persisted, and every honest one
    /// passes). States with equal fingerprints are equal under it (the fingerprint erases
    /// less: a block a node sends on a GetBlocks carries its own certificate), so the
    /// search still visits a state of every class that is reachable.
    pub fn hash_without_certificates<H: std::hash::Hasher>(&self, h: &mut H) {
        use std::hash::Hash;
        let Ledger { chain, mempool, on_chain, orphans, custody } = self;
        h.write_usize(chain.len());
        for b in chain.blocks() {
            (b.hash, &b.header, &b.txs, &b.next_validators, b.view).hash(h);
        }
        (mempool, on_chain, orphans, custody).hash(h);
    }

    /// A ledger holding only `genesis`, whose custody starts at `custody` (the genesis
    /// set, the hand-off rule, the change book).
    pub fn new(genesis: Rc<Block>, custody: Custody) -> Ledger {
        Ledger {
            chain: Chain::new(genesis),
            mempool: Mempool::new(),
            on_chain: TxSet::new(),
            orphans: BTreeMap::new(),
            custody: Rc::new(custody),
        }
    }

    /// A ledger holding `genesis` and then `prefix` (the chain final before the run,
    /// `protocol::prefix`), its custody advanced over every prefix block.
    pub fn with_prefix(genesis: Rc<Block>, custody: Custody, prefix: &[Rc<Block>]) -> Ledger {
        let mut ledger = Ledger::new(genesis, custody);
        for b in prefix {
            ledger.append(b.clone());
        }
        ledger
    }

    pub fn tip(&self) -> &Rc<Block> {
        self.chain.tip()
    }

    pub fn height(&self) -> u32 {
        self.tip().height()
    }

    pub fn has_tx(&self, tx: TxId) -> bool {
        self.mempool.contains(&tx)
    }

    pub fn add_tx(&mut self, tx: TxId) -> bool {
        !self.on_chain.contains(&tx) && self.mempool.insert(tx)
    }

    fn append(&mut self, block: Rc<Block>) {
        for t in &block.txs {
            self.mempool.remove(t);
            self.on_chain.insert(*t);
        }
        self.custody = Rc::new(self.custody.after(&block.txs));
        self.chain.push(block);
    }

    /// What survives a crash: the chain (and the custody derived from it). The mempool
    /// and the orphans are memory.
    pub fn after_crash(&self) -> Ledger {
        Ledger {
            chain: self.chain.clone(),
            mempool: Mempool::new(),
            on_chain: self.on_chain.clone(),
            orphans: BTreeMap::new(),
            custody: self.custody.clone(),
        }
    }

    /// Transactions for a proposal: change transactions first (they sort above every
    /// workload id), then the lowest workload ids, at most `max` in all.
    pub fn proposal_txs(&self, max: usize) -> Vec<TxId> {
        use crate::validators::change::CHANGE_TX_BASE;
        self.mempool.from(CHANGE_TX_BASE).chain(self.mempool.below(CHANGE_TX_BASE)).take(max).collect()
    }
}

impl DbftReplica {
    /// A relayed block arrived.
    pub(super) fn on_block(&mut self, cx: &mut Cx<Wire>, from: NodeId, block: &Rc<Block>) {
        let tip = self.ledger.height();
        let h = block.height();
        if h <= tip {
            return;
        }
        if h > tip + 1 {
            // Keep the nearest blocks ahead: evict the farthest one if the pool is full.
            if self.ledger.orphans.len() >= MAX_ORPHANS
                && let Some((&far, _)) = self.ledger.orphans.iter().next_back()
                && far > h
            {
                self.ledger.orphans.remove(&far);
            }
            if self.ledger.orphans.len() < MAX_ORPHANS {
                self.ledger.orphans.insert(h, block.clone());
            }
            self.request_blocks(cx, from);
            return;
        }
        if !self.accept_block(cx, block.clone()) {
            return;
        }
        while let Some(next) = self.ledger.orphans.remove(&(self.ledger.height() + 1)) {
            if !self.accept_block(cx, next) {
                break;
            }
        }
        let tip = self.ledger.height();
        self.ledger.orphans.retain(|h, _| *h > tip);
    }

    /// Verifies a block for the next height and persists it: it links to the tip, its
    /// certificate holds a quorum of the set this node knows for that height, and the set
    /// it names for the height after is the one this node's custody computes from it.
    fn accept_block(&mut self, cx: &mut Cx<Wire>, block: Rc<Block>) -> bool {
        let tip = self.ledger.tip();
        let set = self.set_for_next_block();
        let linked = block.header.prev_hash == tip.hash
            && block.header.height == tip.height() + 1
            && block.header.tx_root == crate::protocol::block::tx_root(&block.txs);
        let custody_ok = block.header.next_validators == block.next_validators.hash()
            && block.next_validators.hash() == self.ledger.custody.next_after(&block.txs).hash();
        let need = self.quorum_for(set.n());
        let previous = self.previous_quorum_for_next_block();
        let q = Quorum { set: &set, need, previous: previous.as_ref().map(|(p, m)| (&**p, *m)) };
        if !linked || !custody_ok || verify_certificate(&block, &q, cx.keys).is_err() {
            if linked && self.signed_by_former_set(cx, &block) {
                cx.mark("relayed block signed by a former set");
            } else if linked && !custody_ok {
                cx.mark("relayed block names another next set");
            }
            cx.reject(MsgKind::Block, RejectReason::BadBlock);
            return false;
        }
        cx.mark("block persisted from relay");
        self.persist(cx, block);
        true
    }

    /// Does every signature of `block`'s certificate verify under a key that validated
    /// an earlier height and is no longer in the set (a stale or long-range branch)?
    fn signed_by_former_set(&self, cx: &Cx<Wire>, block: &Block) -> bool {
        let former = &self.ledger.custody.former;
        !former.is_empty()
            && !block.certificate.is_empty()
            && block.certificate.iter().all(|c| former.iter().any(|k| cx.keys.verify(*k, &block.hash, &c.sig)))
    }

    /// Appends a final block to the ledger and starts the next height (C#
    /// OnPersistCompleted → InitializeConsensus(0)).
    pub(super) fn persist(&mut self, cx: &mut Cx<Wire>, block: Rc<Block>) {
        let was_handoff = self.ledger.custody.next.hash() != block.next_validators.hash();
        if was_handoff {
            cx.mark("block names a new validator set");
        }
        self.forget_rejections(&block.txs);
        self.ledger.append(block.clone());
        if let Some(saved) = self.saved.take() {
            super::context::recycle(*saved);
        }
        cx.persist(block);
        self.initialize(cx, 0);
    }

    /// Asks `from` for the blocks after our tip, at most once per block time per height.
    pub(super) fn request_blocks(&mut self, cx: &mut Cx<Wire>, from: NodeId) {
        let want = self.ledger.height() + 1;
        if let Some((h, at)) = self.sync_asked
            && h == want
            && cx.now.since(at) < self.opts.block_time_us
        {
            return;
        }
        self.sync_asked = Some((want, cx.now));
        cx.mark("GetBlocks sent");
        cx.send(from, Rc::new(Wire::GetBlocks { from: want }));
    }

    /// Answers a GetBlocks with up to SYNC_BATCH blocks.
    pub(super) fn on_get_blocks(&mut self, cx: &mut Cx<Wire>, from: NodeId, start: u32) {
        let start = start.max(1);
        let tip = self.ledger.height();
        if start > tip {
            return;
        }
        let end = tip.min(start.saturating_add(SYNC_BATCH - 1));
        for h in start..=end {
            if let Some(b) = self.ledger.chain.get(h as usize) {
                cx.send(from, Rc::new(Wire::Block(b)));
            }
        }
    }
}
