//! The preparation phase (docs/dbft-2.0.md §1.7): SendPrepareRequest, OnPrepareRequest,
//! OnTransaction, CheckPrepareResponse, OnPrepareResponse and CheckPreparations.

use super::DbftReplica;
use super::Fix;
use super::message::{Body, ChangeViewReason, ConsensusMessage, Wire};
use crate::protocol::block::TxId;
use crate::protocol::{Cx, MsgKind, Note, RejectReason};
use std::rc::Rc;

/// Nanoseconds per millisecond: Go's unit for consensus timestamps.
const NS_PER_MS: u64 = 1_000_000;

impl DbftReplica {
    /// SendPrepareRequest (primary): propose the mempool's lowest transaction ids.
    pub(super) fn send_prepare_request(&mut self, cx: &mut Cx<Wire>) {
        let Some(me) = self.ctx.my_index else { return };
        let Some(key) = self.key.clone() else { return };
        let txs: Vec<TxId> = if self.opts.invalid_txs.is_empty() {
            self.ledger.proposal_txs(self.opts.max_tx_per_block)
        } else if self.opts.rejected_hashes {
            // C# takes MaxTransactionsPerBlock verified transactions (a primary never pools
            // what its verifier rejects), then leaves out what more than F rejected.
            let all = self.ledger.proposal_txs(usize::MAX);
            let mine = all.into_iter().filter(|&t| !self.rejects_tx(t)).take(self.opts.max_tx_per_block);
            let txs: Vec<TxId> = mine.clone().filter(|&t| self.proposable(t)).collect();
            if txs.len() < mine.count() {
                cx.mark("primary leaves out a transaction more than F rejected");
            }
            txs
        } else {
            // A primary leaves out what its own verifier rejects (it never pools them).
            let all = self.ledger.proposal_txs(usize::MAX);
            all.into_iter().filter(|&t| !self.rejects_tx(t)).take(self.opts.max_tx_per_block).collect()
        };
        let timestamp_ms = if self.semantics().nanosecond_timestamps() {
            let next = self.ctx.prev_timestamp_ms.wrapping_mul(NS_PER_MS).wrapping_add(NS_PER_MS);
            Self::now_ms(cx).saturating_mul(NS_PER_MS).max(next) / NS_PER_MS
        } else {
            Self::now_ms(cx).max(self.ctx.prev_timestamp_ms.saturating_add(1))
        };
        let nonce = self.nonce(cx);
        let (h, v) = (self.ctx.height, self.ctx.view);
        let body = Body::PrepareRequest {
            version: 0,
            prev_hash: self.ctx.prev_hash,
            timestamp_ms,
            nonce,
            tx_hashes: txs.clone(),
        };
        let msg = Rc::new(ConsensusMessage::signed(h, v, me as u16, body, &key));
        self.ctx.adopt_proposal(timestamp_ms, nonce, txs);
        self.switch_on_proposal(cx);
        self.ctx.preparations[me] = Some(msg.clone());
        if let Some(p) = &self.ctx.proposal {
            cx.note(Note::Proposed { height: h, view: v, block: p.header_hash });
        }
        cx.broadcast(Rc::new(Wire::Consensus(msg)));
        self.sign_with_preparation(cx);
        // Timer before CheckPreparations: with N = 1 the block is assembled right away and
        // the next height's timer must win.
        let t = self.opts.block_time_us;
        let timeout = self.shifted(v as u32 + 1).saturating_sub(if v == 0 { t } else { 0 });
        self.arm_timer(cx, timeout);
        if self.semantics().checks_preparations_after_request(self.ctx.n()) {
            self.check_preparations(cx);
        }
    }

    /// OnPrepareRequest: adopt the primary's proposal, answer when all transactions are here.
    pub(super) fn on_prepare_request(&mut self, cx: &mut Cx<Wire>, msg: &Rc<ConsensusMessage>) {
        if self.ctx.request_sent_or_received() {
            return;
        }
        if self.semantics().rejects_request_while_view_changing() && self.not_accepting_payloads_due_to_view_changing()
        {
            cx.mark("PrepareRequest ignored while view changing");
            return;
        }
        if msg.view != self.ctx.view || msg.validator as usize != self.ctx.primary() {
            if msg.view == self.ctx.view {
                // Both record the sender as seen first (receive.rs), then drop it.
                cx.mark("PrepareRequest from a non-primary ignored");
            }
            return;
        }
        let Body::PrepareRequest { version, prev_hash, timestamp_ms, nonce, tx_hashes } = &msg.body else {
            return;
        };
        // Duplicate transaction hashes are rejected when the message is decoded (receive.rs).
        let header_ok =
            *version == 0 && *prev_hash == self.ctx.prev_hash && tx_hashes.len() <= self.opts.max_tx_per_block;
        let block_ok =
            *timestamp_ms > self.ctx.prev_timestamp_ms && !tx_hashes.iter().any(|t| self.ledger.on_chain.contains(t));
        let in_time = *timestamp_ms <= Self::now_ms(cx).saturating_add(8 * (self.opts.block_time_us / 1_000));
        if self.semantics().go_request_verification() {
            if !header_ok || (self.fixed(Fix::BoundFutureTimestamp) && !in_time) {
                cx.reject(MsgKind::PrepareRequest, RejectReason::Malformed);
                self.request_change_view(cx, ChangeViewReason::BlockRejectedByPolicy);
                return;
            }
        } else if !(header_ok && block_ok && in_time) {
            cx.reject(MsgKind::PrepareRequest, RejectReason::Malformed);
            return;
        }
        self.extend_timer(cx, 2);
        self.request_received = Some((self.ctx.height, cx.now));
        // Go builds the block from the request's stamp taken to nanoseconds and back.
        let stamp = if self.semantics().nanosecond_timestamps() {
            timestamp_ms.wrapping_mul(NS_PER_MS) / NS_PER_MS
        } else {
            *timestamp_ms
        };
        self.ctx.adopt_proposal(stamp, *nonce, tx_hashes.clone());
        self.switch_on_proposal(cx);
        for slot in self.ctx.preparations.iter_mut() {
            let keep = match slot.as_deref() {
                Some(ConsensusMessage { body: Body::PrepareResponse { preparation_hash }, .. }) => {
                    *preparation_hash == msg.hash
                }
                _ => false,
            };
            if !keep {
                *slot = None;
            }
        }
        let primary = self.ctx.primary();
        self.ctx.preparations[primary] = Some(msg.clone());
        if self.semantics().reverifies_early_commits() || self.fixed(Fix::VerifyStoredCommits) {
            self.reverify_commits(cx);
        } else if self.ctx.commits.iter().flatten().any(|c| c.view == self.ctx.view) {
            cx.mark("go: Commits stored before the PrepareRequest stay unchecked");
        }
        if self.missing_txs() == 0 {
            self.check_prepare_response(cx);
        } else {
            cx.mark("waiting for proposed transactions");
            self.request_missing_txs(cx);
        }
        self.check_endorsement(cx);
    }

    /// Block-level checks of the proposal (timestamp after the previous block, no
    /// transaction already on chain).
    fn proposal_block_valid(&self) -> bool {
        self.ctx.proposal.as_ref().is_some_and(|p| {
            p.timestamp_ms > self.ctx.prev_timestamp_ms && !p.tx_hashes.iter().any(|t| self.ledger.on_chain.contains(t))
        })
    }

    /// Number of proposed transactions this node does not have yet.
    pub(super) fn missing_txs(&self) -> usize {
        self.ctx.proposal.as_ref().map_or(0, |p| self.ledger.mempool.count_missing(&p.tx_hashes))
    }

    /// OnTransaction (docs/dbft-2.0.md §1.7): a proposed transaction arrived late.
    pub(super) fn on_new_transaction(&mut self, cx: &mut Cx<Wire>, tx: TxId) {
        self.check_endorsement(cx);
        let c = &self.ctx;
        if !c.is_backup()
            || self.not_accepting_payloads_due_to_view_changing()
            || !c.request_sent_or_received()
            || c.response_sent()
            || (self.semantics().late_transaction_checks_commit() && c.commit_sent())
        {
            return;
        }
        let proposed = c.proposal.as_ref().is_some_and(|p| p.tx_hashes.contains(&tx));
        if proposed && self.missing_txs() == 0 {
            cx.mark("last missing transaction arrived");
            if !self.semantics().extends_on_response_sent() {
                // Go extends only on this path (docs/dbft-2.0.md §1.5, §1.12 #12).
                self.extend_timer(cx, 2);
            }
            self.check_prepare_response(cx);
        }
    }

    /// CheckPrepareResponse: all transactions present → backups send their PrepareResponse.
    pub(super) fn check_prepare_response(&mut self, cx: &mut Cx<Wire>) {
        if self.missing_txs() != 0 || self.reject_invalid_proposal(cx) {
            return;
        }
        if self.semantics().go_request_verification() && !self.proposal_block_valid() {
            // Go's createAndCheckBlock: the assembled block fails verification.
            cx.reject(MsgKind::PrepareRequest, RejectReason::Malformed);
            self.request_change_view(cx, ChangeViewReason::TxInvalid);
            return;
        }
        // The C# primary never responds, even to its own request replayed by recovery
        // (CheckPrepareResponse returns there without checking preparations); a Go primary
        // does, over its own request. An outgoing validator at a double-quorum hand-off
        // responds like a backup.
        let go_primary = self.ctx.is_primary() && self.semantics().primary_answers_own_request();
        if !self.ctx.is_backup() && self.ctx.my_endorser.is_none() && !go_primary {
            return;
        }
        // For the primary "response sent" means its slot is filled — by the request itself,
        // which Go's response then replaces (the request is gone after that, so this runs
        // once).
        if self.ctx.response_sent() && !go_primary {
            return;
        }
        let (Some(me), Some(key), Some(request)) =
            (self.ctx.my_signer(), self.key.clone(), self.ctx.request().cloned())
        else {
            return;
        };
        if self.semantics().extends_on_response_sent() {
            self.extend_timer(cx, 2);
        }
        if go_primary {
            cx.mark("go: primary answered its own PrepareRequest, overwriting it");
        }
        let body = Body::PrepareResponse { preparation_hash: request.hash };
        let msg = Rc::new(ConsensusMessage::signed(self.ctx.height, self.ctx.view, me as u16, body, &key));
        self.ctx.preparations[me] = Some(msg.clone());
        cx.broadcast(Rc::new(Wire::Consensus(msg)));
        self.sign_with_preparation(cx);
        self.check_preparations(cx);
    }

    /// OnPrepareResponse.
    pub(super) fn on_prepare_response(&mut self, cx: &mut Cx<Wire>, msg: &Rc<ConsensusMessage>) {
        let Body::PrepareResponse { preparation_hash } = &msg.body else {
            return;
        };
        let c = &self.ctx;
        if msg.view != c.view {
            return;
        }
        if self.semantics().ignores_response_from_primary() && msg.validator as usize == c.primary() {
            cx.mark("Go: PrepareResponse from the primary ignored");
            return;
        }
        if c.preparations[msg.validator as usize].is_some() {
            return;
        }
        if self.not_accepting_payloads_due_to_view_changing() {
            cx.mark("PrepareResponse ignored while view changing");
            return;
        }
        let slot = if self.semantics().compares_response_with_primary_slot() {
            c.preparations[c.primary()].as_ref()
        } else {
            c.request()
        };
        if let Some(first) = slot
            && *preparation_hash != first.hash
        {
            cx.mark(if matches!(first.body, Body::PrepareRequest { .. }) {
                "PrepareResponse for another request"
            } else {
                "C#: PrepareResponse refused: the primary's own PrepareResponse holds the request slot"
            });
            return;
        }
        if self.semantics().commits_only_with_request_stored()
            && slot.is_none()
            && c.preparations[c.primary()].is_some()
        {
            cx.mark("Go: PrepareResponse stored while the primary's slot holds no request");
            self.ctx.preparations[msg.validator as usize] = Some(msg.clone());
            return;
        }
        if msg.validator as usize == c.primary() {
            cx.mark("C#: the primary's PrepareResponse stored in the request slot");
        }
        self.extend_timer(cx, 2);
        self.ctx.preparations[msg.validator as usize] = Some(msg.clone());
        if !self.ctx.watch_only() && !self.commit_locked() && self.ctx.request_sent_or_received() {
            self.check_preparations(cx);
        }
        self.check_endorsement(cx);
    }

    /// M preparations of this view — and, at a double-quorum hand-off, M of the previous
    /// set too: nobody commits (and locks) before the block can gather both quorums.
    pub(super) fn preparations_complete(&self) -> bool {
        self.ctx.count_preparations() >= self.quorum()
            && self
                .ctx
                .previous
                .as_ref()
                .is_none_or(|p| self.ctx.count_previous_preparations() >= self.quorum_for(p.n()))
    }

    /// CheckPreparations: M preparations of this view and every transaction → Commit.
    pub(super) fn check_preparations(&mut self, cx: &mut Cx<Wire>) {
        if self.semantics().go_timer_base() {
            let (h, v) = (self.ctx.height, self.ctx.view);
            if self.go_last_check.is_none_or(|(lh, lv, _)| lh != h || lv != v) {
                self.go_last_check = Some((h, v, cx.now));
            }
        }
        // Outgoing validators (watch-only for this set) sign through check_endorsement.
        if self.opts.mutation == Some(super::Mutation::NoCommitPhase)
            || self.ctx.watch_only()
            || !self.preparations_complete()
            || self.ctx.proposal.is_none()
            || (self.semantics().commits_only_with_request_stored() && self.ctx.request().is_none())
            || self.missing_txs() != 0
        {
            return;
        }
        let Some(commit) = self.make_commit(cx) else {
            return;
        };
        // C# persists the context on every Commit (ConsensusContext.Save): the commit lock
        // survives a crash.
        self.save_context();
        cx.broadcast(Rc::new(Wire::Consensus(commit)));
        let t = self.opts.block_time_us;
        self.arm_timer(cx, t);
        self.check_commits(cx);
    }
}
