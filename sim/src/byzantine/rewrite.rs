//! Behaviours that rewrite what the honest replica sends, or react to what it receives:
//! silence, selective delivery, equivocation, commit withholding, double signing.

use super::{Byzantine, SEEN_LIMIT, consensus, send_each};
use crate::byzantine::Behaviour;
use crate::protocol::dbft::message::{Body, ConsensusMessage, Wire};
use crate::protocol::{Action, Cx, NodeId};
use std::rc::Rc;

impl Byzantine {
    /// Applies the rewriting behaviours to the inner replica's actions.
    pub(super) fn rewrite(&mut self, cx: &mut Cx<Wire>, actions: Vec<Action<Wire>>) -> Vec<Action<Wire>> {
        let mut out = Vec::with_capacity(actions.len());
        for a in actions {
            match a {
                Action::Broadcast(w) => self.outgoing(cx, w, None, &mut out),
                Action::Send(to, w) => self.outgoing(cx, w, Some(to), &mut out),
                other => out.push(other),
            }
        }
        out
    }

    /// One message the honest replica wants to send (to everyone, or to `to`).
    fn outgoing(&mut self, cx: &mut Cx<Wire>, w: Rc<Wire>, to: Option<NodeId>, out: &mut Vec<Action<Wire>>) {
        let behaviours = self.behaviours.clone();
        if behaviours.iter().any(|b| matches!(b, Behaviour::Silent)) {
            cx.mark("byzantine: silenced a message");
            if !self.effect_off("silent") {
                return;
            }
        }
        // A block request is answered with the stale branch where it has one.
        if let (Some(t), Wire::Block(b)) = (to, &*w)
            && let Some(forged) = self.forged_at(b.height())
            && !self.effect_off("stale-chain")
        {
            cx.mark("byzantine: block request answered with the stale branch");
            self.deliver(Rc::new(Wire::Block(forged)), Some(t), out);
            return;
        }
        if let Some(m) = consensus(&w) {
            for b in &behaviours {
                match b {
                    Behaviour::Equivocate { a_to, b_to } if to.is_none() => {
                        if let Body::PrepareRequest { .. } = m.body
                            && let Some(variant) = self.conflicting_request(m)
                        {
                            cx.mark("byzantine: equivocating PrepareRequest");
                            if self.effect_off("equivocate") {
                                continue;
                            }
                            let variant = Rc::new(variant);
                            let b_msg = Rc::new(Wire::Consensus(variant.clone()));
                            let a_targets: Vec<NodeId> =
                                self.others().filter(|n| !b_to.contains(n) || a_to.contains(n)).collect();
                            send_each(out, &a_targets, &w);
                            send_each(out, b_to, &b_msg);
                            self.after_own_request(cx, m, out);
                            self.after_own_request(cx, &variant, out);
                            return;
                        }
                    }
                    Behaviour::FutureTimestamp { timestamp_ms } if to.is_none() => {
                        if let Some(stamped) = self.restamped_request(m, *timestamp_ms) {
                            cx.mark("byzantine: PrepareRequest stamped in the future");
                            if self.effect_off("future-timestamp") {
                                continue;
                            }
                            let stamped = Rc::new(stamped);
                            self.primary_response(cx, &stamped, to, out);
                            self.after_own_request(cx, &stamped, out);
                            self.deliver(Rc::new(Wire::Consensus(stamped)), None, out);
                            return;
                        }
                    }
                    Behaviour::WithholdCommits { delay, to: release_to } => {
                        let carries_commit = match &m.body {
                            Body::Commit { .. } => true,
                            Body::RecoveryMessage(r) => !r.commits.is_empty(),
                            _ => false,
                        };
                        if carries_commit {
                            cx.mark("byzantine: commit withheld");
                            if self.effect_off("withhold-commits") {
                                cx.mark("byzantine: withheld commit released");
                                continue;
                            }
                            let targets = release_to.clone().or(to.map(|t| vec![t]));
                            self.state.held.push((cx.now.plus(*delay), targets, w.clone()));
                            return;
                        }
                    }
                    _ => {}
                }
            }
            if let Body::PrepareRequest { .. } = m.body {
                self.primary_response(cx, m, to, out);
                self.after_own_request(cx, m, out);
            }
        }
        if self.behaviours.iter().any(|b| matches!(b, Behaviour::SelectiveDelivery { .. })) {
            cx.mark("byzantine: delivered to a chosen subset");
        }
        self.deliver(w, to, out);
    }

    /// Sends `w` as the honest replica meant to, unless selective delivery narrows it.
    pub(super) fn deliver(&self, w: Rc<Wire>, to: Option<NodeId>, out: &mut Vec<Action<Wire>>) {
        let subset = self.behaviours.iter().find_map(|b| match b {
            Behaviour::SelectiveDelivery { to } if !self.effect_off("selective-delivery") => Some(to),
            _ => None,
        });
        match (to, subset) {
            (Some(t), Some(s)) if !s.contains(&t) => {}
            (Some(t), _) => out.push(Action::Send(t, w)),
            (None, Some(s)) => send_each(out, s, &w),
            (None, None) => out.push(Action::Broadcast(w)),
        }
    }

    /// A second PrepareRequest for the same height and view: another nonce and timestamp,
    /// signed with our own key.
    fn conflicting_request(&self, m: &ConsensusMessage) -> Option<ConsensusMessage> {
        self.resigned_request(m, |timestamp_ms, nonce| (timestamp_ms.saturating_add(1), nonce ^ 0x5A5A_5A5A_5A5A_5A5A))
    }

    /// FutureTimestamp: our own PrepareRequest with the block's timestamp replaced (and
    /// signed again); None for anything else, or when it already carries that timestamp.
    fn restamped_request(&self, m: &ConsensusMessage, at_ms: u64) -> Option<ConsensusMessage> {
        match m.body {
            Body::PrepareRequest { timestamp_ms, .. } if timestamp_ms != at_ms => {
                self.resigned_request(m, |_, nonce| (at_ms, nonce))
            }
            _ => None,
        }
    }

    /// `m`, a PrepareRequest, with its (timestamp, nonce) replaced by `change` and signed
    /// again with our own key; None for any other message.
    fn resigned_request(
        &self,
        m: &ConsensusMessage,
        change: impl FnOnce(u64, u64) -> (u64, u64),
    ) -> Option<ConsensusMessage> {
        let Body::PrepareRequest { version, prev_hash, timestamp_ms, nonce, tx_hashes } = &m.body else {
            return None;
        };
        let (timestamp_ms, nonce) = change(*timestamp_ms, *nonce);
        let body = Body::PrepareRequest {
            version: *version,
            prev_hash: *prev_hash,
            timestamp_ms,
            nonce,
            tx_hashes: tx_hashes.clone(),
        };
        Some(ConsensusMessage::signed(m.height, m.view, m.validator, body, self.key()?))
    }

    /// PrimaryResponse: ahead of our own PrepareRequest (broadcast), a PrepareResponse of our
    /// own for it to the chosen nodes — sent first, so on equal latency it arrives first.
    fn primary_response(
        &mut self,
        cx: &mut Cx<Wire>,
        req: &Rc<ConsensusMessage>,
        to: Option<NodeId>,
        out: &mut Vec<Action<Wire>>,
    ) {
        let Some(targets) = self.behaviours.iter().find_map(|b| match b {
            Behaviour::PrimaryResponse { to } => Some(to.clone()),
            _ => None,
        }) else {
            return;
        };
        if to.is_some() || req.validator as usize != self.inner.ctx.primary() {
            return;
        }
        let Some(key) = self.key() else { return };
        let body = Body::PrepareResponse { preparation_hash: req.hash };
        let msg = ConsensusMessage::signed(req.height, req.view, req.validator, body, key);
        cx.mark("byzantine: PrepareResponse from the primary");
        if self.effect_off("primary-response") {
            return;
        }
        let w = Rc::new(Wire::Consensus(Rc::new(msg)));
        for t in targets {
            self.deliver(w.clone(), Some(t), out);
        }
    }

    /// Our own proposal counts for double signing too.
    fn after_own_request(&mut self, cx: &mut Cx<Wire>, m: &Rc<ConsensusMessage>, out: &mut Vec<Action<Wire>>) {
        if self.behaviours.contains(&Behaviour::DoubleSign) {
            self.double_sign(cx, m, out);
        }
    }

    /// Records what arrives (for replays) and double-signs every proposal seen.
    pub(super) fn observe_incoming(&mut self, cx: &mut Cx<Wire>, w: &Rc<Wire>) {
        let Some(m) = consensus(w) else { return };
        if self.behaviours.iter().any(|b| matches!(b, Behaviour::Forge { .. })) {
            self.state.last_foreign = Some(m.clone());
        }
        if self.behaviours.iter().any(|b| matches!(b, Behaviour::Replay { .. })) {
            if self.state.seen.len() == SEEN_LIMIT {
                self.state.seen.remove(0);
            }
            self.state.seen.push(m.clone());
        }
        if self.behaviours.contains(&Behaviour::DoubleSign) && matches!(m.body, Body::PrepareRequest { .. }) {
            let mut out = Vec::new();
            self.double_sign(cx, m, &mut out);
            cx.actions().extend(out);
        }
    }

    /// DoubleSign: a PrepareResponse and a Commit for `req`, whatever we signed before.
    fn double_sign(&mut self, cx: &mut Cx<Wire>, req: &Rc<ConsensusMessage>, out: &mut Vec<Action<Wire>>) {
        let Body::PrepareRequest { timestamp_ms, nonce, tx_hashes, .. } = &req.body else {
            return;
        };
        let ctx = &self.inner.ctx;
        let (Some(me), Some(key)) = (ctx.my_index, self.key().cloned()) else {
            return;
        };
        if req.height != ctx.height || !self.state.double_signed.insert((req.height, req.view, req.hash)) {
            return;
        }
        let header = ctx.header_for(req.validator, *timestamp_ms, *nonce, tx_hashes).hash();
        cx.mark("byzantine: double-signed a proposal");
        if self.effect_off("double-sign") {
            return;
        }
        let commit = Body::Commit { signature: key.sign(&header) };
        // A primary does not respond to its own proposal (its request is its preparation).
        let bodies = if req.validator as usize == me {
            vec![commit]
        } else {
            vec![Body::PrepareResponse { preparation_hash: req.hash }, commit]
        };
        for body in bodies {
            let msg = ConsensusMessage::signed(req.height, req.view, me as u16, body, &key);
            self.deliver(Rc::new(Wire::Consensus(Rc::new(msg))), None, out);
        }
    }
}
