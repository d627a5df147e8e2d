//! The commit phase (docs/dbft-2.0.md §1.7, §1.10): OnCommit, CheckCommits, block assembly, and
//! the commit lock.

use super::message::{Body, ConsensusMessage, Wire};
use super::{DbftReplica, Fix, Mutation};
use crate::protocol::block::{Block, CertSig, sign_header};
use crate::protocol::crypto::Signature;
use crate::protocol::{Cx, MsgKind, Note, RejectReason};
use std::rc::Rc;

impl DbftReplica {
    /// The commit lock: once this node has sent a Commit at this height it never changes
    /// view and never signs another block here (CommitSent, any view). The
    /// `no-commit-lock` and `no-commit-phase` mutations remove it: a committed node still
    /// times out, changes view and signs again — the bug class the lock exists to prevent.
    pub fn commit_locked(&self) -> bool {
        match self.opts.mutation {
            Some(Mutation::NoCommitLock | Mutation::NoCommitPhase) => false,
            _ => self.ctx.commit_sent(),
        }
    }

    /// Makes this node's Commit for the current proposal, or returns the one it already
    /// made (a Commit is made at most once per height).
    pub(super) fn make_commit(&mut self, cx: &mut Cx<Wire>) -> Option<Rc<ConsensusMessage>> {
        if let Some(existing) = self.ctx.my_commit()
            && (existing.view == self.ctx.view || self.commit_locked())
        {
            return Some(existing.clone());
        }
        let me = self.ctx.my_signer()?;
        let key = self.key.clone()?;
        let header_hash = self.ctx.proposal.as_ref()?.header_hash;
        let (h, v) = (self.ctx.height, self.ctx.view);
        if self.ctx.my_commit().is_some() {
            cx.mark("MUTATION: second commit at one height");
        }
        let body = Body::Commit { signature: sign_header(&key, &header_hash) };
        let msg = Rc::new(ConsensusMessage::signed(h, v, me as u16, body, &key));
        self.ctx.commits[me] = Some(msg.clone());
        cx.note(Note::CommitSigned { height: h, view: v, block: header_hash, key: key.id });
        Some(msg)
    }

    /// dBFT 1.0 (the `no-commit-phase` mutation): the preparation itself carries the block
    /// signature, so sign and send it together with the PrepareRequest or PrepareResponse.
    pub(super) fn sign_with_preparation(&mut self, cx: &mut Cx<Wire>) {
        if self.opts.mutation != Some(Mutation::NoCommitPhase) {
            return;
        }
        if let Some(commit) = self.make_commit(cx) {
            cx.broadcast(Rc::new(Wire::Consensus(commit)));
            self.check_commits(cx);
        }
    }

    /// Is `signature` validator `index`'s signature over the current proposal's header?
    fn commit_signature_valid(&self, cx: &Cx<Wire>, index: usize, signature: &Signature) -> bool {
        let (Some(p), Some(key)) = (&self.ctx.proposal, self.ctx.signer_key(index)) else {
            return false;
        };
        cx.keys.verify(key, &p.header_hash, signature)
    }

    /// OnPrepareRequest step: re-verify stored Commits of the current view against the
    /// header that is now known, dropping bad ones.
    pub(super) fn reverify_commits(&mut self, cx: &mut Cx<Wire>) {
        for i in 0..self.ctx.commits.len() {
            let bad = match self.ctx.commits[i].as_deref() {
                Some(ConsensusMessage { view, body: Body::Commit { signature }, .. }) if *view == self.ctx.view => {
                    !self.commit_signature_valid(cx, i, signature)
                }
                _ => false,
            };
            if bad {
                self.ctx.commits[i] = None;
                cx.reject(MsgKind::Commit, RejectReason::BadSignature);
                cx.mark("stored Commit dropped once the PrepareRequest gave its header");
            }
        }
    }

    /// An outgoing validator at a double-quorum hand-off endorses the new set's first
    /// block: it answers the proposal with a PrepareResponse (at its outgoing index) once
    /// every transaction is here, and once both quorums of preparations are in it signs
    /// the block (a Commit at that index), once per height — the commit lock holds for it
    /// as for any validator.
    pub(super) fn check_endorsement(&mut self, cx: &mut Cx<Wire>) {
        if self.ctx.my_endorser.is_none() || self.ctx.commit_sent() || self.ctx.proposal.is_none() {
            return;
        }
        if !self.ctx.response_sent() && self.ctx.request().is_some() && self.missing_txs() == 0 {
            self.check_prepare_response(cx);
        }
        if !self.preparations_complete() || self.missing_txs() != 0 {
            return;
        }
        let Some(commit) = self.make_commit(cx) else {
            return;
        };
        cx.mark("dual-quorum: outgoing validator endorsed the hand-off block");
        self.save_context();
        cx.broadcast(Rc::new(Wire::Consensus(commit)));
        self.check_commits(cx);
    }

    /// OnCommit.
    pub(super) fn on_commit(&mut self, cx: &mut Cx<Wire>, msg: &Rc<ConsensusMessage>) {
        let Body::Commit { signature } = &msg.body else {
            return;
        };
        let i = msg.validator as usize;
        if let Some(existing) = &self.ctx.commits[i] {
            // Under the lock-breaking mutations a validator re-commits in later views; keep
            // the newest so those commits can count.
            let newer_allowed =
                self.opts.mutation.is_some_and(|m| m != Mutation::QuorumOffByOne) && existing.view < msg.view;
            if !newer_allowed {
                if existing.hash != msg.hash {
                    cx.mark("second Commit from one validator ignored");
                }
                return;
            }
        }
        if msg.view == self.ctx.view {
            // Both implementations extend before the block signature is checked (neo-node
            // `OnCommitReceived`: ExtendTimerByFactor(4) ahead of VerifySignature; nspcc-dev/dbft
            // `onCommit`: extendTimer(4) ahead of header.Verify), and a bad Commit is not
            // kept, so its sender can extend again and again (FINDINGS.md #8). The fix
            // extends only for a Commit that is kept.
            let after_check = self.fixed(Fix::ExtendAfterCommitCheck);
            let extended = !after_check && self.extend_timer(cx, 4);
            if self.ctx.proposal.is_none() {
                // Header unknown yet: keep it, verify when the request arrives.
                self.ctx.commits[i] = Some(msg.clone());
            } else if self.commit_signature_valid(cx, i, signature) {
                self.ctx.commits[i] = Some(msg.clone());
            } else {
                if extended {
                    cx.mark("timer extended by a Commit that then failed its signature check");
                }
                cx.reject(MsgKind::Commit, RejectReason::BadSignature);
                return;
            }
            self.mark_own_commit(cx, i);
            if after_check {
                self.extend_timer(cx, 4);
            }
            if self.ctx.proposal.is_some() {
                self.check_commits(cx);
            }
            return;
        }
        // Another view: C# stores it unverified (it counts for CountCommitted); Go stores
        // it only from a lower view (a higher one was cached before reaching here).
        cx.mark("Commit of another view stored");
        self.ctx.commits[i] = Some(msg.clone());
        self.mark_own_commit(cx, i);
    }

    /// Neither the C# plugin (`OnConsensusPayload` checks the index and the sender's
    /// script hash, not whether the index is its own) nor the Go library (`OnReceive`)
    /// skips a payload in the node's own name. So a Commit signed with this node's key
    /// that it did not send (its key is in other hands) fills its own slot, and from then
    /// on it counts as committed (CommitSent) and never asks to change view
    /// (FINDINGS.md #12).
    fn mark_own_commit(&self, cx: &mut Cx<Wire>, i: usize) {
        if self.ctx.my_index == Some(i) {
            cx.mark("Commit in this node's own name received and kept");
        }
    }

    /// CheckCommits: M Commits of the current view and every transaction → the block.
    /// At a double-quorum hand-off the block also needs M signatures of the previous set.
    pub(super) fn check_commits(&mut self, cx: &mut Cx<Wire>) {
        let need = self.quorum();
        if self.ctx.block_sent || self.ctx.count_commits_of_view() < need || self.missing_txs() != 0 {
            return;
        }
        let Some(p) = self.ctx.proposal.clone() else {
            return;
        };
        // Validator i's stored Commit of this view, as a certificate entry (unchecked).
        let stored = |this: &Self, i: usize| -> Option<CertSig> {
            match this.ctx.commits[i].as_deref() {
                Some(ConsensusMessage { view, body: Body::Commit { signature }, .. }) if *view == this.ctx.view => {
                    Some(CertSig { index: i as u16, view: *view, sig: *signature })
                }
                _ => None,
            }
        };
        let valid = |this: &Self, i: usize| -> Option<CertSig> {
            stored(this, i).filter(|c| this.commit_signature_valid(cx, i, &c.sig))
        };
        let certificate = match self.ctx.previous.clone() {
            // As the real nodes assemble (neo-node `ConsensusContext.CreateBlock`, neo-go
            // `getBlockWitness`): the first `need` stored Commits of this view, in
            // validator-index order, unchecked. A Commit stored before the header was known
            // and never re-checked (Go; a C# primary) can be garbage: the block is then
            // invalid, the node's own ledger rejects it, and the node — BlockSent, deaf to
            // consensus messages and timers — waits for a valid block from the others.
            None if !self.fixed(Fix::VerifyStoredCommits) => {
                // Sized to the quorum: the block keeps this list, and a collected one grew
                // past it and was shrunk back (two reallocations per block).
                let mut first: Vec<CertSig> = Vec::with_capacity(need);
                first.extend((0..self.ctx.n()).filter_map(|i| stored(self, i)).take(need));
                if first.len() < need {
                    return;
                }
                if first.iter().any(|c| !self.commit_signature_valid(cx, c.index as usize, &c.sig)) {
                    cx.mark("assembled a block with an unchecked bad Commit: the ledger rejects it");
                    self.ctx.block_sent = true;
                    return;
                }
                first
            }
            // The fix: the first `need` valid signatures of this view, in validator-index order.
            None => {
                let mut certificate = Vec::with_capacity(need);
                for i in 0..self.ctx.n() {
                    if certificate.len() == need {
                        break;
                    }
                    certificate.extend(valid(self, i));
                }
                if certificate.len() < need {
                    return;
                }
                certificate
            }
            // Every valid signature of this view: enough of the new set and of the old.
            Some(previous) => {
                let all: Vec<CertSig> = (0..self.ctx.commits.len()).filter_map(|i| valid(self, i)).collect();
                let own = all.iter().filter(|c| (c.index as usize) < self.ctx.n()).count();
                let old = all
                    .iter()
                    .filter(|c| self.ctx.signer_key(c.index as usize).is_some_and(|k| previous.contains(k)))
                    .count();
                if own < need || old < self.quorum_for(previous.n()) {
                    return;
                }
                cx.mark("dual-quorum: hand-off block carries both quorums");
                all
            }
        };
        // The off-by-one quorum decided what the true one would not have: fewer than M
        // Commits of this view are stored (exactly M − 1, as `need` were).
        if self.opts.mutation == Some(Mutation::QuorumOffByOne)
            && self.ctx.count_commits_of_view() < crate::validators::m_of(self.ctx.n())
        {
            cx.mark("MUTATION: block assembled with M-1 commits");
        }
        // Blocks stay in the ledger for the whole run: no spare capacity.
        let mut certificate = certificate;
        certificate.shrink_to_fit();
        let block = Block::new(
            p.header_hash,
            p.header,
            p.tx_hashes,
            self.ctx.next_validators.clone(),
            self.ctx.view,
            certificate,
        );
        self.ctx.block_sent = true;
        self.assembled_height = self.ctx.height;
        self.pending_block = Some(Rc::new(block));
    }
}
