//! The timer (docs/dbft-2.0.md §1.5) and OnTimeout (§1.7).
//!
//! One timer per replica, tagged with (height, view); a firing whose tag is not the current
//! (height, view) is ignored. Values are multiples of the block time T: a backup entering
//! view v waits T·2^(v+1); the primary waits T less the time already spent since its
//! reference point; extensions add 2T/M or 4T/M to the remaining time. Shifts are capped so
//! that a large view saturates instead of overflowing (the C# and Go code overflow near view 17
//! (C#) and 29 (Go)).

use super::DbftReplica;
use super::message::{ChangeViewReason, Wire};
use crate::engine::time::{Micros, SimTime};
use crate::protocol::{Cx, TimerKind};

impl DbftReplica {
    /// The timer of the current (height, view).
    pub fn timer_tag(&self) -> TimerKind {
        TimerKind::View { height: self.ctx.height, view: self.ctx.view }
    }

    /// T·2^exp, saturating.
    pub(super) fn shifted(&self, exp: u32) -> Micros {
        self.opts.block_time_us.saturating_mul(1u64 << exp.min(62))
    }

    /// ChangeTimer(delay).
    pub(super) fn arm_timer(&mut self, cx: &mut Cx<Wire>, delay: Micros) {
        let tag = self.timer_tag();
        let at = cx.now.plus(delay);
        self.timer = super::TimerState { tag, deadline: at, armed: true };
        cx.set_timer(tag, at);
    }

    /// ExtendTimerByFactor(k): add k·T/M to the remaining time, unless watch-only, view
    /// changing or committed. Whether it extended.
    pub(super) fn extend_timer(&mut self, cx: &mut Cx<Wire>, factor: u64) -> bool {
        if self.ctx.watch_only() || self.ctx.view_changing() || self.commit_locked() {
            return false;
        }
        if !self.timer.armed || self.timer.tag != self.timer_tag() {
            return false;
        }
        let d = factor.saturating_mul(self.opts.block_time_us) / self.ctx.m().max(1) as u64;
        self.timer.deadline = self.timer.deadline.plus(d);
        cx.set_timer(self.timer.tag, self.timer.deadline);
        true
    }

    /// The timer on entering the current view (Initialize step 4).
    /// `entered` is the view Initialize was called with: Go's primary branch tests it, not
    /// the current view, which differs when replayed ChangeViews moved the node on first.
    pub(super) fn initial_timeout(&self, now: SimTime, entered: u8) -> Micros {
        let t = self.opts.block_time_us;
        let (h, v) = (self.ctx.height, self.ctx.view);
        let go = self.semantics().go_timer_base();
        let mut timeout = if self.ctx.is_primary() && !self.recovering {
            if go {
                // Go: full T at view 0 (minus elapsed below); a view>0 primary fires at once.
                if entered == 0 { t } else { 0 }
            } else {
                // C#: T less the time since this node received the previous height's
                // PrepareRequest — only if it also assembled that block itself.
                match self.request_received {
                    Some((rh, at)) if rh + 1 == h && self.assembled_height + 1 == h => t.saturating_sub(now.since(at)),
                    _ => t,
                }
            }
        } else {
            self.shifted(v as u32 + 1)
        };
        if go {
            match self.go_last_check {
                Some((lh, _, at)) if lh + 1 == h => timeout = timeout.saturating_sub(now.since(at)),
                // Never checked a preparation: Go's reference is block 0 at the zero time.
                None if h == 1 && self.semantics().genesis_timer_fires_at_once() => timeout = 0,
                _ => {}
            }
        }
        timeout
    }

    /// OnTimeout.
    pub(super) fn on_timeout(&mut self, cx: &mut Cx<Wire>, tag: TimerKind) {
        if self.timer.armed && self.timer.tag == tag {
            self.timer.armed = false;
        }
        if self.ctx.watch_only() || self.ctx.block_sent || tag != self.timer_tag() {
            return;
        }
        if self.ctx.is_primary() && !self.ctx.request_sent_or_received() {
            self.send_prepare_request(cx);
        } else if self.commit_locked() {
            // Re-send the commit by way of a RecoveryMessage, every 2T until the block comes.
            cx.mark("timeout while committed: RecoveryMessage");
            self.send_recovery_message(cx);
            let d = self.shifted(1);
            self.arm_timer(cx, d);
        } else {
            let reason = if !self.semantics().tx_not_found_decided_late()
                && self.ctx.proposal.is_some()
                && self.missing_txs() > 0
            {
                ChangeViewReason::TxNotFound
            } else {
                ChangeViewReason::Timeout
            };
            self.request_change_view(cx, reason);
        }
    }
}
