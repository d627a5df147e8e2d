//! dBFT 2.0, as the C# DBFTPlugin and nspcc-dev/dbft implement it (docs/dbft-2.0.md §1).
//!
//! The replica is split by concept, and each handler carries the name the C# and Go code give it so it can
//! be read next to docs/dbft-2.0.md §1.7:
//! - `receive.rs` — the common filter of every consensus message (§1.7 head, §1.11) and
//!   Go's cache of future messages;
//! - `prepare.rs` — SendPrepareRequest, OnPrepareRequest, OnTransaction,
//!   CheckPrepareResponse, OnPrepareResponse, CheckPreparations;
//! - `commit.rs` — OnCommit, CheckCommits and block assembly (§1.10);
//! - `change_view.rs` — RequestChangeView, OnChangeView, CheckExpectedView (§1.8);
//! - `recovery.rs` — OnRecoveryRequest, MakeRecoveryMessage, OnRecoveryMessage (§1.9);
//! - `timer.rs` — OnTimeout and the timer rules (§1.5);
//! - `ledger.rs` — persisted blocks, mempool, block relay and catch-up;
//! - `fetch.rs` — GetData / Transaction: fetching a proposal's missing transactions, and
//!   the transport check behind flood relay (`relays`);
//! - `context.rs` — the per-height state (§1.3) and its predicates (§1.4);
//! - `semantics.rs` — every C#/Go switch point (§1.12).
//!
//! This file holds the replica's state, Initialize (§1.6) and the wiring to the engine.
//!
//! Deliberately left out: policy limits beyond the transaction count (TxRejectedByPolicy
//! never fires; transactions are valid unless a scenario names them, `validity.rs`), Neo's
//! witness scripts (a certificate is a list of signatures) and the wall clock (the
//! PrepareRequest nonce is derived from the proposer's key, height, view and local time).

pub mod chain;
pub mod change_view;
pub mod commit;
pub mod context;
pub mod fetch;
pub mod ledger;
pub mod message;
pub mod prepare;
pub mod receive;
pub mod recovery;
pub mod relevance;
pub use recovery::RecoveryReply;
pub mod semantics;
pub mod timer;
pub mod validity;

#[cfg(test)]
mod fetch_tests;
#[cfg(test)]
mod handoff_tests;
#[cfg(test)]
mod start_height_tests;
#[cfg(test)]
mod tests;

use crate::engine::time::SimTime;
use crate::protocol::block::{Block, TxId};
use crate::protocol::crypto::{Enc, Hash32, KeyPair};
use crate::protocol::{Cx, NodeId, Note, Phase, Replica, ReplicaStatus};
use crate::validators::ValidatorSet;
use crate::validators::change::ChangeBook;
use crate::validators::custody::Custody;
use crate::validators::handoff::HandoffOptions;
use context::{Context, LastSeen};
use ledger::Ledger;
use message::Wire;
use receive::FutureCache;
use semantics::Semantics;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

crate::names::named_enum! {
    /// Deliberately broken protocol variants, for proving the invariant checkers can fail.
    /// Selectable only through `protocol.mutation` in a scenario.
    pub enum Mutation {
        /// dBFT 1.0: the PrepareResponse carries the block signature, the block is published
        /// with M of them, and a node may change view after responding.
        NoCommitPhase = "no-commit-phase",
        /// A committed replica may still change view and commit again in the new view.
        NoCommitLock = "no-commit-lock",
        /// Blocks are assembled and accepted with M − 1 commits.
        QuorumOffByOne = "quorum-off-by-one",
    }
}

crate::names::named_enum! {
    /// Proposed protocol fixes: changes to dBFT 2.0 that the findings suggest, switchable
    /// per scenario (`protocol.fixes`) so a finding's scenario can be replayed with its fix
    /// and shown to pass.
    pub enum Fix {
        /// Check every stored Commit's block signature before it counts towards M, and
        /// assemble a block only from valid ones. Without it both implementations count
        /// Commits stored before the header was known (Go never re-checks them; a C#
        /// primary does not either) and put the first M into the block unchecked.
        VerifyStoredCommits = "verify-stored-commits",
        /// Check the signature of every payload rebuilt from a RecoveryMessage, as C# does.
        /// Without it neo-go checks only the outer RecoveryMessage's witness, so one
        /// Byzantine validator can make others accept a PrepareRequest and PrepareResponses
        /// nobody signed (FINDINGS.md #11).
        VerifyRecoveredPayloads = "verify-recovered-payloads",
        /// Extend the timer for a Commit of the current view only once it is stored: after
        /// its block signature checked out, or when the header is not known yet (the slot
        /// then holds it, so the sender cannot extend again). Without it both
        /// implementations extend by 4T/M before the check and drop a bad Commit, so a
        /// Byzantine validator sending garbage Commits keeps honest timers from expiring
        /// (FINDINGS.md #8).
        ExtendAfterCommitCheck = "extend-after-commit-check",
        /// Refuse a PrepareRequest whose timestamp is more than 8 block times ahead of the
        /// receiver's clock under Go as well, as C# does. Without it neo-go bounds a
        /// proposal's timestamp only from below, so a Byzantine primary's block stamped at
        /// the end of time can become final, after which no block is ever above it
        /// (FINDINGS.md #14).
        BoundFutureTimestamp = "bound-future-timestamp",
    }
}

/// Protocol options shared by every replica of a run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct DbftOptions {
    /// T: the block time, in microseconds.
    pub block_time_us: u64,
    pub semantics: Semantics,
    /// MaxTransactionsPerBlock: the most transactions a primary proposes, and accepts.
    pub max_tx_per_block: usize,
    /// The hand-off rule and churn limit: how decided set changes take effect.
    pub handoff: HandoffOptions,
    /// The bodies of the run's change transactions.
    pub book: Rc<ChangeBook>,
    pub mutation: Option<Mutation>,
    /// Proposed fixes in force (none: the protocol as the real nodes run it).
    pub fixes: Vec<Fix>,
    /// Backups ask their peers for a proposal's missing transactions (fetch.rs).
    pub fetch_txs: bool,
    /// Transactions chosen nodes' verifiers reject (validity.rs); empty: all valid.
    pub invalid_txs: Vec<validity::InvalidTxs>,
    /// neo-node's RejectedHashes rule (neo-node #984, 2026; not in neo-modules or Go): a
    /// ChangeView with reason TxInvalid carries the rejected hash, receivers record who
    /// rejected what, and a primary leaves out a transaction more than F validators
    /// rejected (validity.rs). Off by default: existing scenarios were written without it
    /// and the older C# plugin lacks it.
    pub rejected_hashes: bool,
    /// Who a RecoveryMessage answering a RecoveryRequest goes to (recovery.rs): everyone
    /// (both implementations) or only the requester (a scale option).
    pub recovery_reply: RecoveryReply,
}

#[cfg(test)]
impl DbftOptions {
    /// The options handler-level tests start from: the protocol as the real nodes run it
    /// (no mutation, no fix, no fetching, no changes); tests override fields with `..`.
    pub(crate) fn for_test(block_time_us: u64, semantics: Semantics, max_tx_per_block: usize) -> DbftOptions {
        DbftOptions {
            block_time_us,
            semantics,
            max_tx_per_block,
            handoff: Default::default(),
            book: Default::default(),
            mutation: None,
            fixes: Vec::new(),
            fetch_txs: false,
            invalid_txs: Vec::new(),
            rejected_hashes: false,
            recovery_reply: RecoveryReply::Broadcast,
        }
    }
}

/// The armed timer: for a (height, view); a firing for another is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerState {
    pub tag: crate::protocol::TimerKind,
    pub deadline: SimTime,
    pub armed: bool,
}

/// Nothing armed; the tag is that of height 0, view 0, which no replica ever works on.
impl Default for TimerState {
    fn default() -> Self {
        TimerState {
            tag: crate::protocol::TimerKind::View { height: 0, view: 0 },
            deadline: SimTime::ZERO,
            armed: false,
        }
    }
}

/// One dBFT 2.0 replica (validator or watch-only node).
#[derive(Clone, Debug, Hash)]
pub struct DbftReplica {
    pub node: NodeId,
    key: Option<KeyPair>,
    pub opts: Rc<DbftOptions>,
    pub ledger: Ledger,
    pub ctx: Context,
    /// The context persisted when this node sent its Commit (C# ConsensusContext.Save); it
    /// survives a crash unless the restart is amnesic. Boxed: most replicas have none
    /// most of the time, and inline it made every replica (which the explorer copies at
    /// every step) a third larger.
    pub saved: Option<Box<Context>>,
    pub timer: TimerState,
    /// C# knownHashes: recovery requests answered at this height.
    known_hashes: BTreeSet<Hash32>,
    pub last_seen: LastSeen,
    cache: FutureCache,
    /// True while a RecoveryMessage is being replayed.
    recovering: bool,
    /// C# timer base: the height of the last block this node assembled itself, and when (and
    /// at which height) it received the last PrepareRequest.
    assembled_height: u32,
    request_received: Option<(u32, SimTime)>,
    /// Go timer base: (height, view, time) of the first checkPrepare in a view.
    go_last_check: Option<(u32, u8, SimTime)>,
    /// Block assembled in this handler call, persisted when the call finishes (the C#
    /// ledger persists asynchronously and then calls OnPersistCompleted).
    pending_block: Option<Rc<Block>>,
    /// Last GetBlocks we sent: (first height asked, when).
    sync_asked: Option<(u32, SimTime)>,
    /// The unsafe `apply-on-propose` rule only: the set this node switched to for the
    /// given height when it accepted a proposal carrying a change, final or not.
    adopted: Option<(u32, Rc<ValidatorSet>)>,
    /// C# `ConsensusContext.InvalidTransactions` (the RejectedHashes rule only): who
    /// rejected which transaction. Kept across heights (Reset does not clear it); a
    /// transaction leaves it when it leaves the mempool.
    rejected_by: BTreeMap<TxId, BTreeSet<crate::protocol::crypto::KeyId>>,
}

impl DbftReplica {
    /// A replica at `node` holding `key` (None for a watch-only node), with the chain at
    /// genesis.
    pub fn new(node: NodeId, key: Option<KeyPair>, opts: Rc<DbftOptions>, genesis: Rc<Block>) -> Self {
        Self::on_chain(node, key, opts, genesis, &[])
    }

    /// A replica whose ledger already holds `prefix` (heights 1 … H − 1, final before the
    /// run): it works on height H, as a real node derives its height from its ledger (C#
    /// `ConsensusContext.Reset`, Go `context.go` `reset`).
    pub fn on_chain(
        node: NodeId,
        key: Option<KeyPair>,
        opts: Rc<DbftOptions>,
        genesis: Rc<Block>,
        prefix: &[Rc<Block>],
    ) -> Self {
        let custody = Custody::genesis(genesis.next_validators.clone(), opts.handoff, opts.book.clone());
        let ledger = Ledger::with_prefix(genesis, custody, prefix);
        let ctx = Self::fresh_context(&ledger, key.as_ref(), None);
        let last_seen = match opts.semantics.counts_failed_by_view() {
            true => LastSeen::HeightView(Vec::new()),
            false => LastSeen::Height(BTreeMap::new()),
        };
        DbftReplica {
            node,
            key,
            opts,
            ledger,
            ctx,
            saved: None,
            timer: TimerState::default(),
            known_hashes: BTreeSet::new(),
            last_seen,
            cache: FutureCache::default(),
            recovering: false,
            assembled_height: 0,
            request_received: None,
            go_last_check: None,
            pending_block: None,
            sync_asked: None,
            adopted: None,
            rejected_by: BTreeMap::new(),
        }
    }

    /// The context of the height after the tip. Its validators are the set the chain
    /// names for it (the tip's NextConsensus, which the custody verified), or — under the
    /// unsafe `apply-on-propose` rule — the set this node switched to on a proposal.
    fn fresh_context(ledger: &Ledger, key: Option<&KeyPair>, adopted: Option<&(u32, Rc<ValidatorSet>)>) -> Context {
        let tip = ledger.tip();
        let custody = &ledger.custody;
        let (height, validators, switched) = Self::next_height_set(ledger, adopted);
        let me = key.map(|k| k.id);
        let ctx = Context::new(height, validators, me, tip.hash, tip.header.timestamp_ms, custody.clone());
        if custody.opts().rule.double_quorum() && custody.next_is_handoff() && !switched {
            ctx.with_previous(custody.current.clone(), me)
        } else {
            ctx
        }
    }

    /// C# ConsensusContext.Save: `saved` becomes a copy of the context (made in recycled
    /// storage, [`context::spare_clone`]).
    pub(super) fn save_context(&mut self) {
        match &mut self.saved {
            Some(saved) => (**saved).clone_from(&self.ctx),
            None => self.saved = Some(Box::new(context::spare_clone(&self.ctx))),
        }
    }

    /// `self.ctx = Self::fresh_context(..)` in place, keeping the context's storage.
    fn renew_context(&mut self) {
        let tip = self.ledger.tip();
        let custody = &self.ledger.custody;
        let (height, validators, switched) = Self::next_height_set(&self.ledger, self.adopted.as_ref());
        let me = self.key.as_ref().map(|k| k.id);
        self.ctx.renew(height, validators, me, tip.hash, tip.header.timestamp_ms, custody.clone());
        if custody.opts().rule.double_quorum() && custody.next_is_handoff() && !switched {
            self.ctx.set_previous(custody.current.clone(), me);
        }
    }

    /// The height after the tip, the set that validates it, and whether that set is one
    /// this node switched to on a proposal (`apply-on-propose`).
    fn next_height_set(ledger: &Ledger, adopted: Option<&(u32, Rc<ValidatorSet>)>) -> (u32, Rc<ValidatorSet>, bool) {
        let height = ledger.tip().height() + 1;
        match adopted {
            Some((h, set)) if *h == height => (height, set.clone(), true),
            _ => (height, ledger.custody.next.clone(), false),
        }
    }

    /// The set a relayed block for the next height must be signed by, as this node knows
    /// it: the chain's, or under `apply-on-propose` the one it switched to.
    pub(crate) fn set_for_next_block(&self) -> Rc<ValidatorSet> {
        let next = self.ledger.height() + 1;
        match &self.adopted {
            Some((h, set)) if *h == next => set.clone(),
            _ => self.ledger.custody.next.clone(),
        }
    }

    /// Under `dual-quorum`, when the next height is the first of a new set: the set before
    /// it and how many of its signatures the block needs too.
    pub(crate) fn previous_quorum_for_next_block(&self) -> Option<(Rc<ValidatorSet>, usize)> {
        let c = &self.ledger.custody;
        (c.opts().rule.double_quorum() && c.next_is_handoff())
            .then(|| (c.current.clone(), self.quorum_for(c.current.n())))
    }

    /// `apply-on-propose` (unsafe on purpose): a replica that accepts a proposal carrying
    /// a change works with the resulting set from the next height on, before the proposal
    /// is final — what a naive implementation does.
    pub(crate) fn switch_on_proposal(&mut self, cx: &mut Cx<Wire>) {
        if !self.opts.handoff.rule.switches_on_proposal() {
            return;
        }
        let Some(p) = &self.ctx.proposal else { return };
        if !self.ctx.custody.carries_change(&p.tx_hashes) {
            return;
        }
        let next = self.ctx.next_validators.clone();
        if self.adopted.as_ref().is_none_or(|(h, s)| *h != self.ctx.height + 1 || s.hash() != next.hash()) {
            cx.mark("apply-on-propose: switched set before the block is final");
            self.adopted = Some((self.ctx.height + 1, next));
        }
    }

    pub fn key(&self) -> Option<&KeyPair> {
        self.key.as_ref()
    }

    pub fn semantics(&self) -> Semantics {
        self.opts.semantics
    }

    /// Is the proposed fix `f` in force for this run?
    pub fn fixed(&self, f: Fix) -> bool {
        self.opts.fixes.contains(&f)
    }

    /// Signatures needed for a block of a set of `n` (M, or M − 1 under the off-by-one
    /// mutation).
    pub(crate) fn quorum_for(&self, n: usize) -> usize {
        let m = crate::validators::m_of(n);
        match self.opts.mutation {
            Some(Mutation::QuorumOffByOne) => m.saturating_sub(1).max(1),
            _ => m,
        }
    }

    /// The quorum this replica uses at its current height.
    pub(crate) fn quorum(&self) -> usize {
        self.quorum_for(self.ctx.n())
    }

    pub(crate) fn now_ms(cx: &Cx<Wire>) -> u64 {
        cx.now.0 / 1_000
    }

    /// The nonce of a proposal: a digest of who proposes what when (no RNG in a replica).
    fn nonce(&self, cx: &Cx<Wire>) -> u64 {
        let h = Enc::hashed(|e| {
            e.u8(0x4E).u32(self.key.as_ref().map_or(u32::MAX, |k| k.id.0));
            e.u32(self.ctx.height).u8(self.ctx.view).u64(cx.now.0);
        });
        u64::from_le_bytes([h.0[0], h.0[1], h.0[2], h.0[3], h.0[4], h.0[5], h.0[6], h.0[7]])
    }

    /// Initialize(view) — docs/dbft-2.0.md §1.6, in Go's order (nspcc-dev/dbft
    /// `initializeConsensus`): replay the cached messages, then set the timer. So the timer
    /// extensions of replayed messages are overwritten by the fresh timer, and when the
    /// replayed ChangeViews move the node on, the nested Initialize(v+1) runs first and this
    /// one still sets the timer afterwards — as in Go.
    pub(crate) fn initialize(&mut self, cx: &mut Cx<Wire>, view: u8) {
        let sem = self.semantics();
        if view == 0 {
            self.renew_context();
            self.known_hashes.clear();
            self.reset_last_seen();
            self.cache.drop_below(self.ctx.height);
        } else {
            self.ctx.enter_view(view, sem.clears_change_views_on_view_change());
        }
        self.touch_own_last_seen();
        cx.note(Note::ViewChanged { height: self.ctx.height, view: self.ctx.view });
        if sem.caches_future_messages() {
            self.replay_cached(cx);
        }
        if self.ctx.watch_only() {
            self.timer.armed = false;
            cx.cancel_timer();
            return;
        }
        let timeout = self.initial_timeout(cx.now, view);
        self.arm_timer(cx, timeout);
    }

    /// Startup (§1.6): reload a persisted committed context and re-send its Commit (C#
    /// OnStart), else initialize view 0 and either ask for recovery (C#) or propose at once
    /// if primary (Go).
    fn start(&mut self, cx: &mut Cx<Wire>) {
        if let Some(saved) = self.saved.clone()
            && saved.height == self.ledger.height() + 1
            && saved.commit_sent()
        {
            if let Some(p) = &saved.proposal {
                for t in &p.tx_hashes {
                    self.ledger.add_tx(*t);
                }
            }
            self.ctx = *saved;
            self.reset_last_seen();
            self.touch_own_last_seen();
            cx.note(Note::ViewChanged { height: self.ctx.height, view: self.ctx.view });
            cx.mark("restart with persisted commit");
            self.check_preparations(cx);
            return;
        }
        self.initialize(cx, 0);
        if self.ctx.watch_only() {
            return;
        }
        if self.semantics().proposes_at_start() {
            if self.ctx.is_primary() {
                self.send_prepare_request(cx);
            }
        } else {
            self.send_recovery_request(cx);
        }
    }

    /// Persists a block assembled during this call and starts the next height.
    fn flush(&mut self, cx: &mut Cx<Wire>) {
        while let Some(block) = self.pending_block.take() {
            cx.broadcast(Rc::new(Wire::Block(block.clone())));
            self.persist(cx, block);
        }
    }

    fn phase(&self) -> Phase {
        let c = &self.ctx;
        if c.block_sent {
            Phase::BlockSent
        } else if c.commit_sent() {
            Phase::CommitSent
        } else if c.view_changing() {
            Phase::ViewChanging
        } else if c.response_sent() && !c.is_primary() {
            Phase::ResponseSent
        } else if c.request_sent_or_received() {
            Phase::RequestSentOrReceived
        } else {
            Phase::Initial
        }
    }

    pub(super) fn on_transaction_arrived(&mut self, cx: &mut Cx<Wire>, tx: TxId) {
        if self.ledger.add_tx(tx) {
            self.on_new_transaction(cx, tx);
        }
    }
}

impl Replica for DbftReplica {
    type Msg = Wire;

    fn on_start(&mut self, cx: &mut Cx<Wire>) {
        self.start(cx);
        self.flush(cx);
    }

    fn on_message(&mut self, cx: &mut Cx<Wire>, from: NodeId, msg: &Rc<Wire>) {
        match &**msg {
            Wire::Consensus(m) => self.receive(cx, from, m.clone()),
            Wire::Block(b) => self.on_block(cx, from, b),
            Wire::GetBlocks { from: start } => self.on_get_blocks(cx, from, *start),
            Wire::GetData { txs } => self.on_get_data(cx, from, txs),
            Wire::Transaction { tx } => self.on_transaction_message(cx, *tx),
        }
        self.flush(cx);
    }

    fn on_timer(&mut self, cx: &mut Cx<Wire>, tag: crate::protocol::TimerKind) {
        self.on_timeout(cx, tag);
        self.flush(cx);
    }

    fn on_transaction(&mut self, cx: &mut Cx<Wire>, tx: TxId) {
        if self.transactions_inert() && self.pending_block.is_none() {
            // Then `on_new_transaction` does nothing (`check_endorsement` returns at once
            // without an endorser, and its backup test fails: that is what inert means)
            // and `flush` has nothing to flush: the arrival only joins the mempool. Most
            // arrivals are these, the engine's kept-back ones among them.
            self.ledger.add_tx(tx);
            return;
        }
        self.on_transaction_arrived(cx, tx);
        self.flush(cx);
    }

    /// A block of a height this node has persisted: `on_block` returns at once (`h <= tip`)
    /// and `flush` has nothing to flush (a pending block is persisted before its handler
    /// returns). Heights only grow, and a restart keeps the ledger (`after_crash`), so this
    /// stays true for good.
    fn ignores_for_good(&self, meta: &crate::protocol::MsgMeta) -> bool {
        meta.kind == crate::protocol::MsgKind::Block
            && meta.height <= self.ledger.height()
            && self.pending_block.is_none()
    }

    /// `on_new_transaction` acts only for an outgoing validator that endorses a hand-off
    /// block (`check_endorsement`) or for a backup that has the view's PrepareRequest and
    /// has not answered it (it may be waiting for this transaction). Neither depends on
    /// the mempool, so an arrival cannot make it false; the test is wider than the
    /// handler's own (it ignores view changing and Go's commit check), which only makes
    /// more arrivals events.
    fn transactions_inert(&self) -> bool {
        let c = &self.ctx;
        c.my_endorser.is_none() && !(c.is_backup() && c.request_sent_or_received() && !c.response_sent())
    }

    fn after_crash(&self, amnesia: bool) -> Self {
        let mut r =
            DbftReplica::new(self.node, self.key.clone(), self.opts.clone(), self.ledger.chain.genesis().clone());
        r.ledger = self.ledger.after_crash();
        r.ctx = Self::fresh_context(&r.ledger, r.key.as_ref(), None);
        r.saved = if amnesia { None } else { self.saved.clone() };
        r
    }

    fn status(&self) -> Option<ReplicaStatus> {
        let c = &self.ctx;
        Some(ReplicaStatus {
            height: c.height,
            view: c.view,
            phase: self.phase(),
            watch_only: c.watch_only(),
            count_committed: c.count_committed(),
            count_failed: self.count_failed(),
            committed_view: c.my_commit().map(|m| m.view),
            committed_proposal: c.my_commit().and(c.request()).map(|r| r.hash),
            change_views: c.change_view_tally(),
            preparations: c.count_preparations(),
            n: c.n(),
            f: c.f(),
            m: c.m(),
            previous_quorum: c.previous.as_ref().map(|prev| crate::protocol::PreviousQuorum {
                m: self.quorum_for(prev.n()),
                // A key an ejection revoked is in the previous set but never signs again.
                member: self.key.as_ref().is_some_and(|k| prev.contains(k.id) && !c.custody.revoked.contains(&k.id)),
            }),
        })
    }

    fn ledger_height(&self) -> u32 {
        self.ledger.height()
    }

    fn relays(&self, keys: &crate::protocol::crypto::Keyring, msg: &Wire) -> bool {
        self.passes_relay_checks(keys, msg)
    }

    fn state_hash(&self) -> Hash32 {
        let mut h = crate::protocol::crypto::StateHasher::default();
        std::hash::Hash::hash(self, &mut h);
        h.digest()
    }
}
