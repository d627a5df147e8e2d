//! Messages a replica ignores forever: the explorer drops them from the set in flight
//! (docs/explore.md §3), because which of them are still pending is most of its state space
//! and none of it matters.
//!
//! [`DbftReplica::ignores_forever`] is conservative: it says yes only where the code below
//! it returns before changing anything, *now and in every later state of this replica*
//! (no restart in between: the explorer does not restart nodes). The argument rests on
//! three monotone quantities:
//!
//! - **Height.** `ctx.height` is always `ledger.height() + 1` (set by `fresh_context` or
//!   from a saved context of that height), and the ledger only grows (`persist` appends;
//!   `after_crash` keeps the chain, and a restart is not an explorer step anyway).
//! - **View within a height.** `initialize(v)` with `v > 0` is called only for a view above
//!   the current one (`check_expected_view`, `follow_view_as_endorser`); `initialize(0)`
//!   only at a new height or at start.
//! - **Slots within a view.** `preparations[i]` is cleared only by `enter_view`; a
//!   `commits[i]` slot is cleared only at a new height, and replaced (under the lock-breaking
//!   mutations) only by a Commit of a higher view.
//!
//! And on the common path of `receive`: `see()` (LastSeen) runs before every handler, so a
//! delivery is a no-op only if that record would not change either; once the record holds
//! this message's (height, view) or newer, it only grows within the height.
//!
//! The cases (every other message is relevant):
//! 1. A consensus message of a height below the current one: `receive` returns at once
//!    (before `see`, whatever `block_sent` says: its first branch acts only on higher
//!    heights). Height is monotone.
//! 2. A block at or below the ledger's height: `on_block` returns at once.
//! 3. At the current height, a PrepareRequest or PrepareResponse of a lower view, or of the
//!    current view whose sender's preparation slot already holds this very message, when
//!    the LastSeen record of its sender would not change: `on_prepare_request` returns
//!    (the request slot is taken, or the view differs — it emits at most a coverage mark,
//!    no state change), `on_prepare_response` returns (view differs, or the slot is taken).
//!    A slot holding it stays until the view changes; then the view differs, forever.
//! 4. At the current height, a Commit of a view not above the view of the Commit held in
//!    its sender's slot, when LastSeen would not change: `on_commit` returns (the slot is
//!    taken and no newer-view replacement is allowed).
//!
//! The explorer asks only about messages from an honest node to an honest node
//! (explore/model.rs `honest_recipient` says why), so their signatures verify; a message
//! that failed verification would be rejected, which is an output, so `ignores_forever`
//! never judges a message whose validator index is out of range. `explore --check-reductions` (and a unit test) delivers every message judged
//! dead to a copy of the replica at the moment it is dropped and asserts that the state
//! hash is unchanged and no action other than a coverage mark came out.

use super::DbftReplica;
use super::context::LastSeen;
use super::message::{Body, Wire};

impl DbftReplica {
    /// Is delivering `msg` to this replica a no-op now and in every later state (module
    /// comment)?
    pub fn ignores_forever(&self, msg: &Wire) -> bool {
        match msg {
            Wire::Block(b) => b.height() <= self.ledger.height(),
            Wire::Consensus(m) => {
                let c = &self.ctx;
                if m.height < c.height {
                    return true;
                }
                if m.height > c.height || m.view > c.view {
                    return false;
                }
                let i = m.validator as usize;
                if i >= c.n() || !self.seen_already(i, m.view) {
                    return false;
                }
                match &m.body {
                    Body::PrepareRequest { .. } | Body::PrepareResponse { .. } => {
                        m.view < c.view
                            || c.preparations.get(i).is_some_and(|s| s.as_ref().is_some_and(|p| p.hash == m.hash))
                    }
                    Body::Commit { .. } => {
                        c.commits.get(i).is_some_and(|s| s.as_ref().is_some_and(|e| e.view >= m.view))
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// Would `see(i, view)` at the current height leave LastSeen as it is?
    fn seen_already(&self, i: usize, view: u8) -> bool {
        let h = self.ctx.height;
        match &self.last_seen {
            LastSeen::Height(map) => match self.ctx.validators.key(i) {
                None => true,
                Some(k) => map.get(&k) == Some(&h),
            },
            LastSeen::HeightView(v) => match v.get(i) {
                None => true,
                Some(None) => false,
                Some(Some((sh, sv))) => *sh == h && *sv >= view,
            },
        }
    }
}
