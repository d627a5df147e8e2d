//! Recovery (docs/dbft-2.0.md §1.9): RecoveryRequest, who answers it, what a RecoveryMessage
//! carries and how it is replayed through the ordinary handlers.

use super::DbftReplica;
use super::message::{
    Body, ChangeViewCompact, ChangeViewReason, CommitCompact, ConsensusMessage, PreparationCompact, Recovery, Wire,
};
use crate::protocol::{Cx, NodeId};
use serde::Serialize;

/// Who receives the RecoveryMessage that answers a RecoveryRequest.
///
/// Both reference implementations broadcast it (`Broadcast`, the default). Every C# node asks
/// for recovery when it starts, and F+1 validators answer each request, so a cold start of N
/// validators delivers about N·(F+1)·N ≈ N³/3 RecoveryMessages: 9 M at N = 300, 334 M at
/// N = 1000. `Requester` answers only the node the request came from (N·(F+1) messages), a
/// deliberate departure for large-N throughput studies; it changes what bystanders learn from
/// recovery, so it is a scenario option (`protocol.recovery_reply`), never a default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecoveryReply {
    #[default]
    Broadcast,
    Requester,
}

impl RecoveryReply {
    pub fn parse(s: &str) -> Option<RecoveryReply> {
        match s {
            "broadcast" => Some(RecoveryReply::Broadcast),
            "requester" => Some(RecoveryReply::Requester),
            _ => None,
        }
    }
}
use crate::protocol::crypto::Hash32;
use std::rc::Rc;

impl DbftReplica {
    pub(super) fn send_recovery_request(&mut self, cx: &mut Cx<Wire>) {
        let (Some(me), Some(key)) = (self.ctx.my_index, self.key.clone()) else {
            return;
        };
        let body = Body::RecoveryRequest { timestamp_ms: Self::now_ms(cx) };
        let msg = ConsensusMessage::signed(self.ctx.height, self.ctx.view, me as u16, body, &key);
        cx.broadcast(Rc::new(Wire::Consensus(Rc::new(msg))));
    }

    /// True iff this node is one of the F+1 validators that follow `sender` cyclically:
    /// (my − s + N − 1) mod N ≤ F. At least one of them is honest.
    pub fn is_recovery_responder(&self, sender: usize) -> bool {
        let (Some(me), n, f) = (self.ctx.my_index, self.ctx.n(), self.ctx.f()) else {
            return false;
        };
        (me + n - sender % n + n - 1) % n <= f
    }

    /// OnRecoveryRequest (also used for stale ChangeViews); `from` is the node the request
    /// arrived from, which `protocol.recovery_reply: "requester"` answers alone.
    pub(super) fn on_recovery_request(&mut self, cx: &mut Cx<Wire>, from: NodeId, msg: &Rc<ConsensusMessage>) {
        if self.semantics().dedups_recovery_requests() && !self.known_hashes.insert(msg.hash) {
            cx.mark("recovery request already answered");
            return;
        }
        if self.ctx.watch_only() {
            return;
        }
        if self.commit_locked() {
            cx.mark("recovery answered by committed node");
        } else if !self.is_recovery_responder(msg.validator as usize) {
            return;
        }
        match self.opts.recovery_reply {
            RecoveryReply::Broadcast => self.send_recovery_message(cx),
            RecoveryReply::Requester => {
                if let Some(msg) = self.make_recovery_message() {
                    cx.send(from, Rc::new(Wire::Consensus(Rc::new(msg))));
                }
            }
        }
    }

    pub(super) fn send_recovery_message(&mut self, cx: &mut Cx<Wire>) {
        let Some(msg) = self.make_recovery_message() else {
            return;
        };
        cx.broadcast(Rc::new(Wire::Consensus(Rc::new(msg))));
    }

    /// MakeRecoveryMessage: the sender's view of the height, in compact form.
    pub fn make_recovery_message(&self) -> Option<ConsensusMessage> {
        let c = &self.ctx;
        let (me, key) = (c.my_index?, self.key.as_ref()?);
        let csharp_shape = self.semantics().recovery_message_csharp_shape();
        let cap = if csharp_shape { c.m() } else { usize::MAX };
        let change_views = c
            .last_change_views
            .iter()
            .flatten()
            .filter_map(|cv| match cv.body {
                Body::ChangeView { timestamp_ms, .. } => Some(ChangeViewCompact {
                    validator: cv.validator,
                    original_view: cv.view,
                    timestamp_ms,
                    sig: cv.sig,
                }),
                _ => None,
            })
            .take(cap)
            .collect();
        let prepare_request = c.request().cloned();
        let preparation_hash = match (&prepare_request, csharp_shape) {
            (None, true) => majority_preparation_hash(&c.preparations),
            (None, false) => c.preparations.iter().flatten().find_map(|p| match p.body {
                Body::PrepareResponse { preparation_hash } => Some(preparation_hash),
                _ => None,
            }),
            _ => None,
        };
        let preparations = c
            .preparations
            .iter()
            .flatten()
            .map(|p| PreparationCompact { validator: p.validator, sig: p.sig })
            .collect();
        let commits = if c.commit_sent() {
            c.commits
                .iter()
                .flatten()
                .filter_map(|m| match m.body {
                    Body::Commit { signature } => {
                        Some(CommitCompact { view: m.view, validator: m.validator, signature, sig: m.sig })
                    }
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let body = Body::RecoveryMessage(Box::new(Recovery {
            change_views,
            prepare_request,
            preparation_hash,
            preparations,
            commits,
        }));
        Some(ConsensusMessage::signed(c.height, c.view, me as u16, body, key))
    }

    /// OnRecoveryMessage: rebuild every contained message with its original signature and
    /// feed it through the ordinary receive path (which re-verifies it).
    pub(super) fn on_recovery_message(&mut self, cx: &mut Cx<Wire>, msg: &Rc<ConsensusMessage>) {
        let Body::RecoveryMessage(r) = &msg.body else {
            return;
        };
        let h = msg.height;
        let was_recovering = std::mem::replace(&mut self.recovering, true);
        let from = self.node;
        let mut rebuilt: Vec<Rc<ConsensusMessage>> = Vec::new();
        // 1. A view above ours: adopt the ChangeViews that justify it.
        if msg.view > self.ctx.view && !self.commit_locked() {
            for cv in &r.change_views {
                // The compact form has no reason on the wire; the rebuilt message says
                // Timeout, so a ChangeView sent with another reason no longer verifies.
                let body = Body::ChangeView {
                    timestamp_ms: cv.timestamp_ms,
                    reason: ChangeViewReason::Timeout,
                    rejected: Vec::new(),
                };
                let m = ConsensusMessage::with_sig(h, cv.original_view, cv.validator, body, cv.sig);
                if self.ctx.validators.key(cv.validator as usize).is_some_and(|k| !cx.keys.verify(k, &m.hash, &m.sig)) {
                    cx.mark("recovered ChangeView no longer matches its signature (its reason is not carried)");
                }
                let m = Rc::new(m);
                rebuilt.push(m.clone());
                self.receive(cx, from, m);
            }
        }
        // 2. Our view (possibly just entered): the proposal and the responses.
        if msg.view == self.ctx.view && !self.not_accepting_payloads_due_to_view_changing() && !self.commit_locked() {
            let primary = self.ctx.primary() as u16;
            if !self.ctx.request_sent_or_received()
                && let Some(req) = &r.prepare_request
                && matches!(req.body, Body::PrepareRequest { .. })
                && req.height == h
                && req.view == msg.view
                && r.preparations.iter().any(|p| p.validator == primary)
            {
                cx.mark("PrepareRequest recovered");
                rebuilt.push(req.clone());
                self.receive(cx, from, req.clone());
            }
            let hash = r.preparation_hash.or_else(|| self.recovered_preparation_hash(r, h, msg.view));
            if let Some(preparation_hash) = hash {
                for p in r.preparations.iter().filter(|p| p.validator != primary) {
                    let body = Body::PrepareResponse { preparation_hash };
                    let m = Rc::new(ConsensusMessage::with_sig(h, msg.view, p.validator, body, p.sig));
                    rebuilt.push(m.clone());
                    self.receive(cx, from, m);
                }
            }
        }
        // 3. Commits of our view or below, each in its own view.
        if msg.view <= self.ctx.view {
            let recovery_view = self.semantics().recovered_commits_take_recovery_view();
            for c in &r.commits {
                let view = if recovery_view { msg.view } else { c.view };
                if view != c.view {
                    cx.mark("go: recovered Commit rebuilt in the RecoveryMessage's view");
                }
                let m =
                    ConsensusMessage::with_sig(h, view, c.validator, Body::Commit { signature: c.signature }, c.sig);
                let m = Rc::new(m);
                rebuilt.push(m.clone());
                self.receive(cx, from, m);
            }
        }
        self.recovering = was_recovering;
        // C# re-verifies each rebuilt payload through the blockchain actor, which publishes
        // the result to every listener: the consensus service gets each one a second time,
        // as an ordinary payload (neo-node `ConsensusService.ReverifyAndProcessPayload`,
        // then `OnConsensusPayload` on the RelayResult). A ChangeView that moved this node
        // on comes back stale, and so counts as a recovery request.
        //
        // Only a payload that passed the re-verification comes back: the blockchain actor
        // publishes a RelayResult for each, and the service handles only a `Succeed` one
        // (`ConsensusService.OnReceive`, `case RelayResult`). One whose witness fails was
        // already dropped once, and is not dropped again. (C# queues the second handling
        // behind whatever is already in the service's mailbox; here it follows at once.)
        if self.semantics().handles_recovered_payloads_twice() {
            for m in rebuilt {
                // Signer keys, so an outgoing endorser's payload at a double-quorum hand-off
                // (an index past N) is judged by its own key too.
                let verifies =
                    self.ctx.signer_key(m.validator as usize).is_some_and(|k| cx.keys.verify(k, &m.hash, &m.sig));
                if !verifies {
                    continue;
                }
                cx.mark("csharp: recovered payload handled again from the relay result");
                self.receive(cx, from, m);
            }
        }
    }
}

impl DbftReplica {
    /// The preparation hash that PrepareResponses rebuilt from a RecoveryMessage answer,
    /// when the message carries none (it carries a PrepareRequest instead).
    ///
    /// C# takes the hash of whatever fills its own primary slot — normally the request it
    /// just rebuilt from the same message (neo-node `RecoveryMessage.GetPrepareResponsePayloads`).
    /// A Go host computes it from the message alone, before the library sees it: the
    /// hash of the PrepareRequest rebuilt from it (in the message's view, signed by the
    /// receiver's primary), or none if the message lacks that primary's preparation
    /// (neo-go `consensus.go` `eventLoop`, `recovery_message.go` `GetPrepareRequest` and
    /// `GetPrepareResponses`). So under Go a node that stored another request (an
    /// equivocating primary's other proposal) gets responses it refuses as answering
    /// another request; it never counts them towards its own.
    fn recovered_preparation_hash(&self, r: &Recovery, height: u32, view: u8) -> Option<Hash32> {
        let primary = self.ctx.primary();
        if !self.semantics().recovery_hash_from_message() {
            return self.ctx.preparations[primary].as_ref().map(|q| q.hash);
        }
        let req = r.prepare_request.as_ref()?;
        r.preparations
            .iter()
            .any(|p| p.validator as usize == primary)
            .then(|| ConsensusMessage::payload_hash(height, view, primary as u16, &req.body))
    }
}

/// The most frequent preparation hash among stored PrepareResponses, as the C# node picks
/// it when it lacks the PrepareRequest (`MakeRecoveryMessage`: the responses, in validator
/// order, grouped by hash — groups come in order of first occurrence — then a stable sort
/// by count, descending). So a tie goes to the hash whose first response has the lowest
/// validator index.
fn majority_preparation_hash(preparations: &[Option<Rc<ConsensusMessage>>]) -> Option<Hash32> {
    // (hash, count) in order of first occurrence by validator index.
    let mut groups: Vec<(Hash32, usize)> = Vec::new();
    for p in preparations.iter().flatten() {
        if let Body::PrepareResponse { preparation_hash } = p.body {
            match groups.iter_mut().find(|(h, _)| *h == preparation_hash) {
                Some((_, c)) => *c += 1,
                None => groups.push((preparation_hash, 1)),
            }
        }
    }
    let best = groups.iter().map(|(_, c)| *c).max()?;
    groups.into_iter().find(|(_, c)| *c == best).map(|(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crypto::Signature;

    fn response(validator: u16, hash: Hash32) -> Option<Rc<ConsensusMessage>> {
        let body = Body::PrepareResponse { preparation_hash: hash };
        Some(Rc::new(ConsensusMessage::with_sig(1, 0, validator, body, Signature(0))))
    }

    /// C# neo-node `ConsensusContext.MakeRecoveryMessage`: most responses wins; a tie goes
    /// to the hash first seen in validator order, not to the smaller hash.
    #[test]
    fn majority_hash_ties_go_to_the_lowest_validator_index() {
        let (small, big) = (Hash32([1; 32]), Hash32([9; 32]));
        let tie = vec![None, response(1, big), response(2, small)];
        assert_eq!(majority_preparation_hash(&tie), Some(big), "first seen at index 1 wins the tie");
        let majority = vec![response(0, big), response(1, small), response(2, small)];
        assert_eq!(majority_preparation_hash(&majority), Some(small), "more responses win");
        assert_eq!(majority_preparation_hash(&[None, None]), None);
    }
}
