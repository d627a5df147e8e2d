//! Behaviours that add messages of their own on the adversary's timer: ChangeView
//! flooding, replays, forgeries, and the release of withheld commits.

use super::{Behaviour, Byzantine};
use crate::protocol::block::{Block, CertSig};
use crate::protocol::crypto::{KeyPair, Signature};
use crate::protocol::dbft::message::{Body, ChangeViewReason, ConsensusMessage, PreparationCompact, Recovery, Wire};
use crate::protocol::{Action, Cx};
use std::rc::Rc;

impl Byzantine {
    /// One tick of the adversary's timer.
    pub(super) fn tick(&mut self, cx: &mut Cx<Wire>) {
        let mut out = Vec::new();
        for b in self.behaviours.clone() {
            match b {
                Behaviour::ChangeViewFlood { forged_view, stale, .. } => self.flood(cx, forged_view, stale, &mut out),
                Behaviour::Replay { .. } => self.replay(cx, &mut out),
                Behaviour::Forge { .. } => self.forge(cx, &mut out),
                Behaviour::GarbageCommits { .. } => self.garbage_commit(cx, &mut out),
                Behaviour::ForgeRecovery { .. } => self.forge_recovery(cx, &mut out),
                Behaviour::NonPrimaryRequest { .. } => self.non_primary_request(cx, &mut out),
                Behaviour::StaleSigner { .. } => self.stale_sign(cx, &mut out),
                Behaviour::StaleChain { from_height, .. } => self.stale_chain(cx, from_height, &mut out),
                _ => {}
            }
        }
        cx.actions().extend(out);
    }

    /// Releases withheld messages whose time has come.
    pub(super) fn release_due(&mut self, cx: &mut Cx<Wire>) {
        if self.state.held.is_empty() {
            return;
        }
        let now = cx.now;
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.state.held).into_iter().partition(|h| h.0 <= now);
        self.state.held = keep;
        let mut out = Vec::new();
        for (_, to, w) in due {
            cx.mark("byzantine: withheld commit released");
            match to {
                Some(list) => super::send_each(&mut out, &list, &w),
                None => out.push(Action::Broadcast(w)),
            }
        }
        cx.actions().extend(out);
    }

    fn signed(&self, view: u8, body: Body) -> Option<Rc<Wire>> {
        let me = self.inner.ctx.my_index?;
        let msg = ConsensusMessage::signed(self.inner.ctx.height, view, me as u16, body, self.key()?);
        Some(Rc::new(Wire::Consensus(Rc::new(msg))))
    }

    fn flood(&mut self, cx: &mut Cx<Wire>, forged_view: Option<u8>, stale: bool, out: &mut Vec<Action<Wire>>) {
        let v = self.inner.ctx.view;
        let ts = cx.now.0 / 1000 + self.state.ticks;
        let cv = |reason| Body::ChangeView { timestamp_ms: ts, reason, rejected: Vec::new() };
        let mut views = vec![v];
        if let Some(f) = forged_view {
            views.push(f);
        }
        if stale {
            // From a view below ours (NewViewNumber ≤ v); from view 0, 255 wraps to 0.
            views.push(v.wrapping_sub(1));
        }
        for view in views {
            if let Some(w) = self.signed(view, cv(ChangeViewReason::Timeout)) {
                cx.mark("byzantine: ChangeView flood");
                if !self.effect_off("change-view-flood") {
                    self.deliver(w, None, out);
                }
            }
        }
    }

    fn replay(&mut self, cx: &mut Cx<Wire>, out: &mut Vec<Action<Wire>>) {
        let n = self.state.seen.len();
        if n > 0 {
            cx.mark("byzantine: replayed old messages");
        }
        let n = if self.effect_off("replay") { 0 } else { n };
        for _ in 0..n.min(4) {
            let m = self.state.seen[self.state.replay_cursor % n].clone();
            self.state.replay_cursor += 1;
            self.deliver(Rc::new(Wire::Consensus(m)), None, out);
        }
    }

    /// A validly signed Commit of the current view with a garbage block signature.
    fn garbage_commit(&mut self, cx: &mut Cx<Wire>, out: &mut Vec<Action<Wire>>) {
        let t = self.state.ticks;
        let body = Body::Commit { signature: Signature(0xBAD0_0000_0000_0000 ^ t as u128) };
        if let Some(w) = self.signed(self.inner.ctx.view, body) {
            cx.mark("byzantine: garbage commit");
            if !self.effect_off("garbage-commits") {
                self.deliver(w, None, out);
            }
        }
    }

    /// ForgeRecovery: to each other validator, its own validly signed RecoveryMessage for
    /// the current height and view carrying a fabricated PrepareRequest at the primary's
    /// index (a nonce and timestamp of its own per recipient, garbage signature) and
    /// garbage-signed PrepareResponse compacts for every validator but the primary. Only
    /// while this height has no PrepareRequest: a receiver takes a recovered request only
    /// if it has none.
    fn forge_recovery(&mut self, cx: &mut Cx<Wire>, out: &mut Vec<Action<Wire>>) {
        let Some(key) = self.key().cloned() else {
            return;
        };
        let ctx = &self.inner.ctx;
        if ctx.request_sent_or_received() || ctx.watch_only() {
            return;
        }
        let Some(me) = ctx.my_index.map(|i| i as u16) else {
            return;
        };
        let (h, v, n) = (ctx.height, ctx.view, ctx.n() as u16);
        let primary = ctx.primary() as u16;
        let t = self.state.ticks;
        let mut msgs = Vec::new();
        for to in self.others() {
            // The same proposal to the same recipient every time; another one to each.
            let request = Body::PrepareRequest {
                version: 0,
                prev_hash: ctx.prev_hash,
                timestamp_ms: ctx.prev_timestamp_ms.saturating_add(1 + to.0 as u64),
                nonce: 0xF0_4CED ^ ((to.0 as u64) << 20),
                tx_hashes: Vec::new(),
            };
            let req = ConsensusMessage::with_sig(h, v, primary, request, Signature(0xF04C_ED00 ^ to.0 as u128));
            let preparations = (0..n)
                .map(|i| PreparationCompact {
                    validator: i,
                    sig: Signature(0xBAD_5EED ^ ((t as u128) << 32) ^ i as u128),
                })
                .collect();
            let rec = Recovery {
                change_views: Vec::new(),
                prepare_request: Some(Rc::new(req)),
                preparation_hash: None,
                preparations,
                commits: Vec::new(),
            };
            let m = ConsensusMessage::signed(h, v, me, Body::RecoveryMessage(Box::new(rec)), &key);
            msgs.push((to, Rc::new(Wire::Consensus(Rc::new(m)))));
        }
        if msgs.is_empty() {
            return;
        }
        cx.mark("byzantine: forged RecoveryMessage");
        if self.effect_off("forge-recovery") {
            return;
        }
        for (to, w) in msgs {
            self.deliver(w, Some(to), out);
        }
    }

    /// NonPrimaryRequest: a validly signed PrepareRequest at its own index, for its current
    /// height and view, while it is not that view's primary.
    fn non_primary_request(&mut self, cx: &mut Cx<Wire>, out: &mut Vec<Action<Wire>>) {
        let ctx = &self.inner.ctx;
        if ctx.watch_only() || ctx.is_primary() {
            return;
        }
        let t = self.state.ticks;
        let body = Body::PrepareRequest {
            version: 0,
            prev_hash: ctx.prev_hash,
            timestamp_ms: ctx.prev_timestamp_ms.saturating_add(1),
            nonce: 0x0B_AD_9E_90 ^ t,
            tx_hashes: Vec::new(),
        };
        let Some(w) = self.signed(ctx.view, body) else {
            return;
        };
        cx.mark("byzantine: PrepareRequest from a non-primary");
        if !self.effect_off("non-primary-request") {
            self.deliver(w, None, out);
        }
    }

    /// A batch of messages every honest receiver must reject.
    fn forge(&mut self, cx: &mut Cx<Wire>, out: &mut Vec<Action<Wire>>) {
        let Some(key) = self.key().cloned() else {
            return;
        };
        let ctx = &self.inner.ctx;
        let (h, v, n) = (ctx.height, ctx.view, ctx.n() as u16);
        let Some(me) = ctx.my_index.map(|i| i as u16) else {
            return;
        };
        let t = self.state.ticks;
        let cv = Body::ChangeView { timestamp_ms: t, reason: ChangeViewReason::Timeout, rejected: Vec::new() };
        let mut forged = Vec::new();
        // A signature that is not anybody's.
        let mut bad = ConsensusMessage::signed(h, v, me, cv.clone(), &key);
        bad.sig = Signature(bad.sig.0 ^ 0xFFFF_0000_FFFF_0000);
        forged.push(bad);
        // Another validator's index, signed with our key (misattributed).
        let other = (me + 1) % n.max(1);
        forged.push(ConsensusMessage::signed(
            h,
            v,
            other,
            Body::PrepareResponse { preparation_hash: key_hash(t) },
            &key,
        ));
        // An index outside the set.
        forged.push(ConsensusMessage::signed(h, v, n + 3, Body::RecoveryRequest { timestamp_ms: t }, &key));
        // Malformed: duplicate transactions; a recovery naming validators outside the set.
        let dup = Body::PrepareRequest {
            version: 0,
            prev_hash: ctx.prev_hash,
            timestamp_ms: t,
            nonce: t,
            tx_hashes: vec![7, 7],
        };
        forged.push(ConsensusMessage::signed(h, v, me, dup, &key));
        let rec = Recovery {
            change_views: Vec::new(),
            prepare_request: None,
            preparation_hash: Some(key_hash(t)),
            preparations: vec![PreparationCompact { validator: n + 9, sig: Signature(t as u128) }],
            commits: Vec::new(),
        };
        forged.push(ConsensusMessage::signed(h, v, me, Body::RecoveryMessage(Box::new(rec)), &key));
        // A Commit whose block signature is garbage.
        forged.push(ConsensusMessage::signed(h, v, me, Body::Commit { signature: Signature(t as u128 * 31) }, &key));
        // Someone else's genuine message, relabelled to another view with its signature kept.
        if let Some(m) = &self.state.last_foreign {
            let mut relabelled = (**m).clone();
            relabelled.view = relabelled.view.wrapping_add(1);
            forged.push(relabelled);
        }
        cx.mark("byzantine: forged messages");
        if self.effect_off("forge") {
            return;
        }
        for m in forged {
            self.deliver(Rc::new(Wire::Consensus(Rc::new(m))), None, out);
        }
        // A block for the next height with a certificate we alone signed.
        let tip = self.inner.ledger.tip().clone();
        let header = ctx.header_for(me, tip.header.timestamp_ms.saturating_add(1), t, &[]);
        let hash = header.hash();
        let certificate = (0..n.min(3)).map(|i| CertSig { index: i, view: 0, sig: key.sign(&hash) }).collect();
        let block = Block::new(hash, header, Vec::new(), ctx.custody.next_after(&[]), 0, certificate);
        self.deliver(Rc::new(Wire::Block(Rc::new(block))), None, out);
    }
}

impl Byzantine {
    /// Records, per held key, its index in the set the inner replica works with now.
    pub(super) fn remember_indices(&mut self) {
        let set = &self.inner.ctx.validators;
        for k in &self.keys {
            if let Some(i) = set.index_of(k.id) {
                self.state.last_index.insert(k.id, i as u16);
            }
        }
    }

    /// StaleSigner: with every held key, a ChangeView, a PrepareRequest, a PrepareResponse
    /// for it and a Commit for its header, at the chain's current height and view, at the
    /// index the key last had.
    fn stale_sign(&mut self, cx: &mut Cx<Wire>, out: &mut Vec<Action<Wire>>) {
        let ctx = &self.inner.ctx;
        let (h, v, t) = (ctx.height, ctx.view, self.state.ticks);
        let mut msgs = Vec::new();
        for key in &self.keys {
            let Some(&index) = self.state.last_index.get(&key.id) else { continue };
            let counted = ctx.validators.key(index as usize) == Some(key.id);
            cx.mark(if counted {
                "byzantine: stale signer signed as a current validator"
            } else {
                "byzantine: signed as a validator it no longer is"
            });
            let ts = cx.now.0 / 1000 + t;
            msgs.push(ConsensusMessage::signed(
                h,
                v,
                index,
                Body::ChangeView { timestamp_ms: ts, reason: ChangeViewReason::Timeout, rejected: Vec::new() },
                key,
            ));
            let request = Body::PrepareRequest {
                version: 0,
                prev_hash: ctx.prev_hash,
                timestamp_ms: ts,
                nonce: t,
                tx_hashes: Vec::new(),
            };
            let header = ctx.header_for(index, ts, t, &[]).hash();
            let req = ConsensusMessage::signed(h, v, index, request, key);
            msgs.push(ConsensusMessage::signed(h, v, index, Body::PrepareResponse { preparation_hash: req.hash }, key));
            msgs.push(req);
            msgs.push(ConsensusMessage::signed(h, v, index, Body::Commit { signature: key.sign(&header) }, key));
        }
        if self.effect_off("stale-signer") {
            return;
        }
        for m in msgs {
            self.deliver(Rc::new(Wire::Consensus(Rc::new(m))), None, out);
        }
    }

    /// StaleChain: extends the conflicting branch from `from` up to one past the inner
    /// replica's tip and relays all of it.
    fn stale_chain(&mut self, cx: &mut Cx<Wire>, from: u32, out: &mut Vec<Action<Wire>>) {
        let ledger = &self.inner.ledger;
        let tip = ledger.height();
        if from == 0 || tip + 1 < from {
            return;
        }
        // The set of the height before `from` — the last one our keys validated — and our
        // keys' places in it.
        let (Some(base), Some(below)) =
            (ledger.chain.get(from as usize - 1), ledger.chain.get(from.saturating_sub(2) as usize))
        else {
            return;
        };
        let set = below.next_validators.clone();
        let signers: Vec<(u16, &KeyPair)> =
            self.keys.iter().filter_map(|k| set.index_of(k.id).map(|i| (i as u16, k))).collect();
        let Some(&(primary, _)) = signers.first() else {
            return;
        };
        while self.state.forged.len() < 32 && from + (self.state.forged.len() as u32) <= tip + 1 {
            let h = from + self.state.forged.len() as u32;
            let parent = self.state.forged.last().cloned().unwrap_or_else(|| base.clone());
            let header = crate::protocol::block::Header {
                version: 0,
                height: h,
                prev_hash: parent.hash,
                timestamp_ms: parent.header.timestamp_ms.saturating_add(1),
                nonce: 0x57A1E ^ h as u64,
                primary,
                tx_root: crate::protocol::block::tx_root(&[]),
                next_validators: set.hash(),
            };
            let hash = header.hash();
            let certificate = signers.iter().map(|(i, k)| CertSig { index: *i, view: 0, sig: k.sign(&hash) }).collect();
            let block = Block::new(hash, header, Vec::new(), set.clone(), 0, certificate);
            self.state.forged.push(Rc::new(block));
        }
        cx.mark("byzantine: stale branch relayed");
        if self.effect_off("stale-chain") {
            return;
        }
        for b in self.state.forged.clone() {
            self.deliver(Rc::new(Wire::Block(b)), None, out);
        }
    }

    /// The stale branch's block at `height`, if it has one.
    pub(super) fn forged_at(&self, height: u32) -> Option<Rc<Block>> {
        let from = self.behaviours.iter().find_map(|b| match b {
            Behaviour::StaleChain { from_height, .. } => Some(*from_height),
            _ => None,
        })?;
        self.state.forged.get(height.checked_sub(from)? as usize).cloned()
    }
}

fn key_hash(t: u64) -> crate::protocol::crypto::Hash32 {
    crate::protocol::crypto::Hash32::of(&t.to_le_bytes())
}
