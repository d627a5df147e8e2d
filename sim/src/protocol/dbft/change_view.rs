//! View changes (docs/dbft-2.0.md §1.7, §1.8): RequestChangeView, OnChangeView,
//! CheckExpectedView.

use super::DbftReplica;
use super::message::{Body, ChangeViewReason, ConsensusMessage, Wire};
use crate::protocol::block::TxId;
use crate::protocol::{Cx, NodeId, Note};
use std::rc::Rc;

impl DbftReplica {
    /// RequestChangeView(reason).
    pub(super) fn request_change_view(&mut self, cx: &mut Cx<Wire>, reason: ChangeViewReason) {
        self.request_change_view_rejecting(cx, reason, Vec::new());
    }

    /// RequestChangeView(reason, rejectedHashes): the hashes go on the ChangeView only
    /// under the RejectedHashes rule (neo-node `ConsensusContext.MakeChangeView`).
    pub(super) fn request_change_view_rejecting(
        &mut self,
        cx: &mut Cx<Wire>,
        mut reason: ChangeViewReason,
        rejected: Vec<TxId>,
    ) {
        if self.ctx.watch_only() {
            return;
        }
        if self.commit_locked() {
            // A committed node never sends a ChangeView (§1.8).
            cx.mark("ChangeView suppressed by commit lock");
            return;
        }
        let v = self.ctx.view;
        let Some(expected) = v.checked_add(1) else {
            // The view number is a byte; view 255 has nowhere to go. The node asks for
            // recovery instead, once: the timer it arms is view 255's, which saturates
            // (docs/dbft-2.0.md §1.1) and never fires in a run, so only a message can
            // bring it here again (Go's ChangeView on a refused proposal does:
            // fidelity/go-end-of-time-halt-4).
            cx.mark("view number exhausted");
            let timeout = self.shifted(u8::MAX as u32 + 1);
            self.arm_timer(cx, timeout);
            self.send_recovery_request(cx);
            return;
        };
        // The timer of the target view is set before deciding ChangeView vs RecoveryRequest.
        let timeout = self.shifted(expected as u32 + 1);
        self.arm_timer(cx, timeout);
        let sem = self.semantics();
        if self.more_than_f_nodes_committed_or_lost() && sem.recovery_request_instead_of_change_view(reason) {
            cx.mark("ChangeView replaced by RecoveryRequest");
            self.send_recovery_request(cx);
            self.refetch_on_recovery_request(cx);
            return;
        }
        if sem.tx_not_found_decided_late() && reason == ChangeViewReason::Timeout && self.missing_txs() > 0 {
            reason = ChangeViewReason::TxNotFound;
        }
        self.send_change_view(cx, reason, rejected);
        self.check_expected_view(cx, expected);
    }

    /// Makes, stores and broadcasts this node's ChangeView from its current view.
    fn send_change_view(&mut self, cx: &mut Cx<Wire>, reason: ChangeViewReason, rejected: Vec<TxId>) {
        let (Some(me), Some(key)) = (self.ctx.my_index, self.key.clone()) else {
            return;
        };
        let (h, v) = (self.ctx.height, self.ctx.view);
        let rejected = if self.opts.rejected_hashes { rejected } else { Vec::new() };
        let body = Body::ChangeView { timestamp_ms: Self::now_ms(cx), reason, rejected };
        let msg = Rc::new(ConsensusMessage::signed(h, v, me as u16, body, &key));
        self.ctx.change_views[me] = Some(msg.clone());
        cx.note(Note::ChangeViewSent { height: h, view: v, reason: reason as u8 });
        match reason {
            ChangeViewReason::TxNotFound => cx.mark("ChangeView sent with reason TxNotFound"),
            ChangeViewReason::TxInvalid => cx.mark("ChangeView sent with reason TxInvalid"),
            _ => {}
        }
        cx.broadcast(Rc::new(Wire::Consensus(msg)));
    }

    /// OnChangeView.
    pub(super) fn on_change_view(&mut self, cx: &mut Cx<Wire>, from: NodeId, msg: &Rc<ConsensusMessage>) {
        let sem = self.semantics();
        let n = msg.new_view_number();
        if n <= self.ctx.view {
            cx.mark("stale ChangeView treated as RecoveryRequest");
            self.on_recovery_request(cx, from, msg);
            if sem.stale_change_view_only_recovery() {
                return;
            }
        }
        if self.commit_locked() {
            if sem.committed_answers_higher_change_view() {
                cx.mark("committed node answers ChangeView with recovery");
                self.send_recovery_message(cx);
            } else {
                cx.mark("ChangeView ignored: this node has committed");
            }
            return;
        }
        let i = msg.validator as usize;
        if let Some(stored) = &self.ctx.change_views[i] {
            let s = stored.new_view_number();
            if n < s || (n == s && !sem.replaces_equal_change_view()) {
                return;
            }
        }
        self.ctx.change_views[i] = Some(msg.clone());
        self.record_rejected_hashes(cx, msg);
        self.check_expected_view(cx, n);
        self.follow_view_as_endorser(cx);
    }

    /// An outgoing validator at a double-quorum hand-off (an addition of this simulator,
    /// not a dBFT role) has no timer of its own, so it cannot rely on re-sending
    /// ChangeViews to catch up. It moves to the highest view that M stored ChangeViews
    /// justify, where the dBFT rule checks only the view of the message just received
    /// (a node holding ChangeViews for views 1 and 2 that receives another for 1 does not
    /// look at 1 again) — which can leave a timerless node behind for good.
    fn follow_view_as_endorser(&mut self, cx: &mut Cx<Wire>) {
        if self.ctx.my_endorser.is_none() || self.commit_locked() {
            return;
        }
        let m = self.ctx.m();
        let target = self
            .ctx
            .change_view_tally()
            .into_iter()
            .filter(|&(v, c)| v > self.ctx.view && c >= m)
            .map(|(v, _)| v)
            .max();
        if let Some(v) = target {
            cx.mark("dual-quorum: outgoing validator follows the view");
            self.initialize(cx, v);
        }
    }

    /// CheckExpectedView(n): M ChangeViews for n or higher → ChangeAgreement and view n.
    pub(super) fn check_expected_view(&mut self, cx: &mut Cx<Wire>, n: u8) {
        if self.ctx.view >= n || self.ctx.count_change_views_for(n) < self.ctx.m() {
            return;
        }
        if !self.ctx.watch_only() {
            let own = self.ctx.my_change_view().map(|cv| cv.new_view_number());
            let agree = match own {
                None => self.semantics().change_agreement_without_own_change_view(),
                Some(o) => o < n,
            };
            if agree {
                self.send_change_view(cx, ChangeViewReason::ChangeAgreement, Vec::new());
            }
        }
        self.initialize(cx, n);
    }
}
