//! The common path of every consensus message (docs/dbft-2.0.md §1.7 head and §1.11), the
//! LastSeenMessage bookkeeping behind CountFailed (§1.4), and Go's cache of messages from
//! future heights and views.
//!
//! Every message is checked before any handler sees it: height, validator index, and the
//! signature against the key the set of that height holds at that index. A message that
//! fails is counted as rejected — never a panic, never a state change.

use super::context::LastSeen;
use super::message::{Body, ChangeViewReason, ConsensusMessage, Wire};
use super::{DbftReplica, Fix};
use crate::protocol::{Cx, MsgKind, NodeId, RejectReason};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Go caches messages for at most this many heights ahead (only signed ones), so nobody can
/// grow the cache without bound by inventing heights.
const MAX_CACHED_HEIGHTS: u32 = 16;

/// Go's per-height inbox: the latest message per sender per class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Inbox {
    prepare: BTreeMap<u16, Rc<ConsensusMessage>>,
    change_views: BTreeMap<u16, Rc<ConsensusMessage>>,
    commits: BTreeMap<u16, Rc<ConsensusMessage>>,
}

/// Messages from future heights (and, at the current height, future views) kept by Go
/// semantics and replayed after each (re)initialization. Replay order is fixed —
/// PrepareRequest, then PrepareResponses, ChangeViews and Commits, each by validator index
/// — where Go iterates a map in random order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FutureCache {
    by_height: BTreeMap<u32, Inbox>,
}

impl FutureCache {
    fn add(&mut self, m: Rc<ConsensusMessage>) {
        let inbox = self.by_height.entry(m.height).or_default();
        let class = match m.body {
            Body::PrepareRequest { .. } | Body::PrepareResponse { .. } => &mut inbox.prepare,
            Body::ChangeView { .. } => &mut inbox.change_views,
            Body::Commit { .. } => &mut inbox.commits,
            // Recoveries are not cached (docs/dbft-2.0.md §1.11).
            Body::RecoveryRequest { .. } | Body::RecoveryMessage(_) => return,
        };
        class.insert(m.validator, m);
    }

    fn take(&mut self, height: u32) -> Vec<Rc<ConsensusMessage>> {
        let Some(inbox) = self.by_height.remove(&height) else {
            return Vec::new();
        };
        let (requests, responses): (Vec<_>, Vec<_>) =
            inbox.prepare.into_values().partition(|m| matches!(m.body, Body::PrepareRequest { .. }));
        requests
            .into_iter()
            .chain(responses)
            .chain(inbox.change_views.into_values())
            .chain(inbox.commits.into_values())
            .collect()
    }

    pub fn drop_below(&mut self, height: u32) {
        self.by_height = self.by_height.split_off(&height);
    }
}

impl DbftReplica {
    /// OnConsensusPayload / OnReceive: filter, verify, record LastSeen, dispatch.
    pub(super) fn receive(&mut self, cx: &mut Cx<Wire>, from: NodeId, msg: Rc<ConsensusMessage>) {
        let sem = self.semantics();
        let kind = msg.kind();
        if self.ctx.block_sent && !(sem.caches_future_messages() && kind == MsgKind::RecoveryRequest) {
            // Consensus ignores it; but a node whose own block was rejected syncs blocks
            // like any node that sees the network ahead of it (block sync is the ledger's,
            // not consensus's: neo-go's and C#'s P2P layers fetch blocks whatever
            // consensus is doing).
            if msg.height > self.ctx.height && self.signed_by_projected_validator(cx, &msg) {
                self.request_blocks(cx, from);
            }
            return;
        }
        if msg.height < self.ctx.height {
            return;
        }
        if msg.height > self.ctx.height {
            // "Chain is behind": fetch the blocks we miss from whoever is ahead. A message
            // that verifies against the set this node projects for its height says so
            // with authority and may be kept (Go). One that does not is refused, under its
            // own reason if a registered key (a validator's or a candidate's, as Neo
            // registers candidates on chain) signed it — it may come from a set decided in
            // blocks this node has not seen yet, and then it still prompts the
            // (rate-limited) block request: a joiner that slept through a hand-off learns
            // this way that it is behind. Unsigned junk prompts nothing.
            if !self.signed_by_projected_validator(cx, &msg) {
                let keyed = msg.hash_matches() && cx.keys.signer_of(&msg.hash, &msg.sig).is_some();
                if !keyed {
                    cx.reject(kind, RejectReason::BadSignature);
                    return;
                }
                cx.reject(kind, RejectReason::UnknownFutureSet);
                self.request_blocks(cx, from);
                return;
            }
            self.request_blocks(cx, from);
            if sem.caches_future_messages() && msg.height <= self.ctx.height.saturating_add(MAX_CACHED_HEIGHTS) {
                cx.mark("future-height message cached");
                self.cache.add(msg);
            }
            return;
        }
        // Outgoing validators of a double-quorum hand-off sign only PrepareResponses and
        // Commits.
        let key = match kind {
            MsgKind::Commit | MsgKind::PrepareResponse => self.ctx.signer_key(msg.validator as usize),
            _ => self.ctx.validators.key(msg.validator as usize),
        };
        let Some(key) = key else {
            cx.reject(kind, RejectReason::UnknownValidator);
            return;
        };
        if let Err(reason) = well_formed(&msg, self.ctx.n(), self.ctx.commits.len()) {
            cx.reject(kind, reason);
            return;
        }
        // Go does not check the signatures of payloads rebuilt from a RecoveryMessage.
        // (The fix `verify-recovered-payloads` makes it check them.)
        let unchecked =
            self.recovering && !sem.verifies_recovered_payloads() && !self.fixed(Fix::VerifyRecoveredPayloads);
        if unchecked && !cx.keys.verify(key, &msg.hash, &msg.sig) {
            cx.mark("Go: recovered payload accepted without a valid signature");
        }
        // Checked once per broadcast message and key, however many replicas receive it
        // (`Keyring::verify_shared`).
        let verified = |cx: &Cx<Wire>| {
            cx.keys.verify_shared(&msg, key, || msg.hash_matches() && cx.keys.verify(key, &msg.hash, &msg.sig))
        };
        if !unchecked && !verified(cx) {
            if self.recovering {
                cx.mark("recovered payload rejected: bad signature");
            }
            let reason = self.why_signature_fails(cx, &msg);
            match reason {
                RejectReason::RevokedKey => cx.mark("rejected: signed by a revoked key"),
                RejectReason::StaleSet => cx.mark("rejected: signed by a validator that left the set"),
                _ => {}
            }
            cx.reject(kind, reason);
            return;
        }
        if sem.caches_future_messages()
            && msg.view > self.ctx.view
            && !matches!(kind, MsgKind::ChangeView | MsgKind::RecoveryMessage)
        {
            cx.mark("future-view message cached");
            self.cache.add(msg);
            return;
        }
        self.see(msg.validator as usize, msg.view);
        match &msg.body {
            Body::PrepareRequest { .. } => self.on_prepare_request(cx, &msg),
            Body::PrepareResponse { .. } => self.on_prepare_response(cx, &msg),
            Body::Commit { .. } => self.on_commit(cx, &msg),
            Body::ChangeView { .. } => self.on_change_view(cx, from, &msg),
            Body::RecoveryRequest { .. } => self.on_recovery_request(cx, from, &msg),
            Body::RecoveryMessage(_) => self.on_recovery_message(cx, &msg),
        }
    }

    /// Names a failed signature: made with a key an ejection revoked, made with the key of
    /// a validator that has left the set (a stale set), or simply bad. Like Neo's receiver,
    /// which reads the sender's key from the payload, this node can tell who signed.
    fn why_signature_fails(&self, cx: &Cx<Wire>, msg: &ConsensusMessage) -> RejectReason {
        let custody = &self.ledger.custody;
        if !msg.hash_matches() || (custody.former.is_empty() && custody.revoked.is_empty()) {
            return RejectReason::BadSignature;
        }
        let signed_by = |k: &crate::protocol::crypto::KeyId| cx.keys.verify(*k, &msg.hash, &msg.sig);
        if custody.revoked.iter().any(signed_by) {
            RejectReason::RevokedKey
        } else if custody.former.iter().any(signed_by) {
            RejectReason::StaleSet
        } else {
            RejectReason::BadSignature
        }
    }

    /// Does `msg` carry a valid signature of the validator it names, in the set this
    /// node's chain projects for its height (the decided changes applied, nothing more)?
    fn signed_by_projected_validator(&self, cx: &Cx<Wire>, msg: &ConsensusMessage) -> bool {
        let set = if msg.height == self.ctx.height + 1 {
            self.ctx.next_validators.clone()
        } else {
            // Further ahead the projection walks the pending changes height by height (up
            // to 4,096 steps for a height near u32::MAX): a payload no registered key
            // signed fails below anyway, so it is refused before the walk.
            if !(msg.hash_matches() && cx.keys.signer_of(&msg.hash, &msg.sig).is_some()) {
                return false;
            }
            self.ledger.custody.projected(msg.height)
        };
        msg.hash_matches() && set.key(msg.validator as usize).is_some_and(|k| cx.keys.verify(k, &msg.hash, &msg.sig))
    }

    /// Go: replays the cached messages of the current height (Initialize step 3).
    pub(super) fn replay_cached(&mut self, cx: &mut Cx<Wire>) {
        let msgs = self.cache.take(self.ctx.height);
        if msgs.is_empty() {
            return;
        }
        cx.mark("cached messages replayed");
        // The sender is not known any more; replay as if from ourselves (only used for
        // GetBlocks, which a same-height message never triggers).
        for m in msgs {
            self.receive(cx, self.node, m);
        }
    }

    /// Records an accepted message from `index` sent in `view` (LastSeenMessage).
    fn see(&mut self, index: usize, view: u8) {
        let h = self.ctx.height;
        match &mut self.last_seen {
            LastSeen::Height(map) => {
                if let Some(k) = self.ctx.validators.key(index) {
                    // Almost always an update of a key already there: no insertion walk.
                    match map.get_mut(&k) {
                        Some(seen) => *seen = h,
                        None => {
                            map.insert(k, h);
                        }
                    }
                }
            }
            LastSeen::HeightView(v) => {
                if let Some(slot) = v.get_mut(index) {
                    let newer = match *slot {
                        None => true,
                        Some((sh, sv)) => sh < h || sv < view,
                    };
                    if newer {
                        *slot = Some((h, view));
                    }
                }
            }
        }
    }

    /// LastSeenMessage at a new height: C# keeps it (rebuilding only for set members it
    /// has never seen, who start as "seen at the previous height"); Go starts afresh.
    pub(super) fn reset_last_seen(&mut self) {
        let prev = self.ctx.height.saturating_sub(1);
        match &mut self.last_seen {
            LastSeen::Height(map) => {
                // In place (the set rarely changes): keys that left go, new ones start at
                // the previous height, the others keep their entry.
                let keys = &self.ctx.validators.keys;
                if map.len() == keys.len() && map.keys().eq(keys.iter()) {
                    // Exactly the set's keys already (the usual case): nothing to do.
                    return;
                }
                map.retain(|k, _| keys.contains(k));
                for k in keys {
                    map.entry(*k).or_insert(prev);
                }
            }
            LastSeen::HeightView(v) => *v = vec![None; self.ctx.n()],
        }
    }

    /// Own LastSeen entry at every (re)initialization: C# (h), Go (h, v).
    pub(super) fn touch_own_last_seen(&mut self) {
        let Some(me) = self.ctx.my_index else { return };
        let (h, view) = (self.ctx.height, self.ctx.view);
        match &mut self.last_seen {
            LastSeen::Height(map) => {
                if let Some(k) = self.ctx.validators.key(me) {
                    map.insert(k, h);
                }
            }
            LastSeen::HeightView(v) => {
                if let Some(slot) = v.get_mut(me) {
                    *slot = Some((h, view));
                }
            }
        }
    }

    /// CountFailed (§1.4): the validators this node counts as lost.
    pub fn count_failed(&self) -> usize {
        let c = &self.ctx;
        match &self.last_seen {
            LastSeen::Height(map) => {
                c.validators.keys.iter().filter(|k| map.get(k).is_none_or(|&h| h < c.height.saturating_sub(1))).count()
            }
            LastSeen::HeightView(v) => (0..c.n())
                .filter(|&i| {
                    c.commits[i].is_none()
                        && match v.get(i).copied().flatten() {
                            None => true,
                            Some((h, view)) => h < c.height || view < c.view,
                        }
                })
                .count(),
        }
    }

    /// MoreThanFNodesCommittedOrLost ⇔ CountCommitted + CountFailed > F.
    pub fn more_than_f_nodes_committed_or_lost(&self) -> bool {
        // dBFT 1.0 (the no-commit-phase mutation) had no commits to count.
        let committed = match self.opts.mutation {
            Some(super::Mutation::NoCommitPhase) => 0,
            _ => self.ctx.count_committed(),
        };
        committed + self.count_failed() > self.ctx.f()
    }

    /// NotAcceptingPayloadsDueToViewChanging ⇔ ViewChanging ∧ ¬MoreThanFNodesCommittedOrLost.
    pub fn not_accepting_payloads_due_to_view_changing(&self) -> bool {
        self.ctx.view_changing() && !self.more_than_f_nodes_committed_or_lost()
    }
}

/// Decode-level validation shared by both implementations' wire format: a PrepareRequest
/// lists each transaction once; a RecoveryMessage names each validator at most once per
/// list and only indices below N (C# drops the whole message otherwise), and embeds only a
/// PrepareRequest of its own height.
fn well_formed(msg: &ConsensusMessage, n: usize, signers: usize) -> Result<(), RejectReason> {
    // Distinct and all below `n`. Compacts are listed in validator order (as replicas
    // build them), and an increasing list needs no sorted copy.
    fn unique_below(v: impl Iterator<Item = u16> + Clone, n: usize) -> bool {
        let mut prev: Option<u16> = None;
        let increasing = v.clone().all(|x| {
            let up = prev.is_none_or(|p| p < x);
            prev = Some(x);
            up
        });
        if increasing {
            return prev.is_none_or(|x| (x as usize) < n);
        }
        let mut v: Vec<u16> = v.collect();
        let len = v.len();
        v.sort_unstable();
        v.dedup();
        v.len() == len && v.last().is_none_or(|&x| (x as usize) < n)
    }
    let unique = |v| unique_below(v, n);
    match &msg.body {
        // Ids in increasing order (how proposals list them) are distinct without a sort.
        Body::PrepareRequest { tx_hashes, .. } if tx_hashes.windows(2).all(|w| w[0] < w[1]) => {}
        Body::PrepareRequest { tx_hashes, .. } => {
            let mut t = tx_hashes.clone();
            t.sort_unstable();
            t.dedup();
            if t.len() != tx_hashes.len() {
                return Err(RejectReason::Malformed);
            }
        }
        Body::RecoveryMessage(r) => {
            let ok = unique(r.change_views.iter().map(|c| c.validator))
                && unique_below(r.preparations.iter().map(|c| c.validator), signers)
                && unique_below(r.commits.iter().map(|c| c.validator), signers)
                && r.prepare_request.as_ref().is_none_or(|q| {
                    q.height == msg.height
                        && matches!(q.body, Body::PrepareRequest { .. })
                        && well_formed(q, n, signers).is_ok()
                });
            if !ok {
                return Err(RejectReason::Malformed);
            }
        }
        // RejectedHashes exist on the wire only for the two rejection reasons, at most
        // ushort.MaxValue of them (neo-node `ChangeView.Deserialize`).
        Body::ChangeView { reason, rejected, .. } if !rejected.is_empty() => {
            let carries = matches!(reason, ChangeViewReason::TxInvalid | ChangeViewReason::TxRejectedByPolicy);
            if !carries || rejected.len() > u16::MAX as usize {
                return Err(RejectReason::Malformed);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crypto::{Hash32, Signature};
    use crate::protocol::dbft::message::{CommitCompact, PreparationCompact, Recovery};

    fn recovery(preparations: &[u16], commits: &[u16]) -> ConsensusMessage {
        let sig = Signature(0);
        let r = Recovery {
            change_views: Vec::new(),
            prepare_request: None,
            preparation_hash: None,
            preparations: preparations.iter().map(|&validator| PreparationCompact { validator, sig }).collect(),
            commits: commits
                .iter()
                .map(|&validator| CommitCompact { view: 0, validator, signature: sig, sig })
                .collect(),
        };
        let body = Body::RecoveryMessage(Box::new(r));
        ConsensusMessage { height: 1, view: 0, validator: 0, body, hash: Hash32::ZERO, sig }
    }

    fn request(txs: &[u64]) -> ConsensusMessage {
        let body = Body::PrepareRequest {
            version: 0,
            prev_hash: Hash32::ZERO,
            timestamp_ms: 0,
            nonce: 0,
            tx_hashes: txs.to_vec(),
        };
        ConsensusMessage { height: 1, view: 0, validator: 0, body, hash: Hash32::ZERO, sig: Signature(0) }
    }

    /// Lists in any order: distinct entries below the bound pass, a repeat (adjacent or
    /// not) or an index out of range fails, whether or not the list is increasing.
    #[test]
    fn recovery_lists_and_proposals_must_name_each_entry_once() {
        let ok = |m: &ConsensusMessage| well_formed(m, 4, 5).is_ok();
        assert!(ok(&recovery(&[], &[])));
        assert!(ok(&recovery(&[0, 1, 3], &[0, 4])));
        assert!(ok(&recovery(&[3, 0, 1], &[4, 0])));
        assert!(!ok(&recovery(&[0, 1, 1], &[])));
        assert!(!ok(&recovery(&[1, 0, 1], &[])));
        assert!(!ok(&recovery(&[], &[2, 3, 2])));
        assert!(!ok(&recovery(&[0, 5], &[])));
        assert!(!ok(&recovery(&[5, 0], &[])));
        assert!(!ok(&recovery(&[], &[0, 1, 2, 3, 4, 5])));
        assert!(ok(&request(&[])));
        assert!(ok(&request(&[1, 2, 9])));
        assert!(ok(&request(&[9, 1, 2])));
        assert!(!ok(&request(&[1, 2, 2])));
        assert!(!ok(&request(&[2, 1, 2])));
    }
}
