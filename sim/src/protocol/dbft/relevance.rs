//! Messages a replica ignores forever: the explorer drops them from the set in flight
//! (docs/explore.md §3), because which of them are still pending is most of its state space
//! and none of it matters.
//!
//! [`DbftReplica::ignores_forever`] is conservative: it says yes only where the code below
//! it returns before changing anything, *now and in every later state of this replica*
//! until it crashes. That is enough even where restarts are explorer choices
//! (`--restarts`): a crash drops every message in flight to the node, and messages sent
//! to it while it is down are lost at once, so no message judged dead while it runs is
//! ever delivered to a restarted incarnation. The argument rests on three quantities,
//! monotone while the node runs:
//!
//! - **Height.** `ctx.height` is always `ledger.height() + 1` (set by `fresh_context` or
//!   from a saved context of that height), and the ledger only grows (`persist` appends;
//!   `after_crash` keeps the chain, so the height never falls, not even across a restart).
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
use std::hash::{Hash, Hasher};

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

/// What a later step can still read of a replica when the explorer forgets the dead part
/// of replica state (`explore/model.rs`, `Sys::forget_dead`): the state with the fields
/// no future step reads left out, so two states that differ only there are one state.
///
/// It holds only under the bounds that search uses, each needed by one part of the
/// argument: RecoveryRequests and RecoveryMessages are never delivered (recovery off),
/// no mutation, no double-quorum hand-off at the height, and every process is honest.
/// Restarts may be choices: what a restart reads (the ledger, and without amnesia the
/// saved context, `keep_saved`) is kept, and the rest holds between crashes (module
/// comment). Then:
///
/// - **Always dead:** `saved` (read only when a node starts; where restarts are choices,
///   the part a restart reloads is kept),
///   `known_hashes` (it decides only whether a RecoveryMessage is sent, and none is
///   delivered) and `last_change_views` (read only to build a RecoveryMessage).
/// - **Finished** (the ledger holds the target height): every consensus message still
///   in flight is of a height at or below the target, dead by case 1, every block by
///   case 2, and no timer step is offered; what GetBlocks, GetData or a transaction
///   reads is the ledger. So the ledger is the whole live state, as for a node that is
///   down.
/// - **Committed at the target height** (CommitSent, the commit lock in force): the
///   view never changes again (`request_change_view`, `on_change_view` and
///   `follow_view_as_endorser` return first thing when locked; only a RecoveryMessage
///   could move it). So a PrepareRequest finds the request slot taken (the node adopted
///   a proposal before it committed) and returns; a PrepareResponse is stored, or not,
///   into `preparations`, extends no timer (`extend_timer` returns when locked) and
///   triggers no CheckPreparations; a ChangeView answers with a RecoveryMessage at most
///   and stores nothing; Go caches a future-view message, and the cache is replayed only
///   by an Initialize that never comes (heights above the target are never sent). What
///   those handlers write — `preparations`, `change_views`, `last_seen`, `cache` — is
///   read only by themselves, by CountFailed (whose one use left, in
///   NotAcceptingPayloadsDueToViewChanging, decides only whether a PrepareResponse is
///   stored) and by RecoveryMessages. The timer bases (`assembled_height`,
///   `request_received`, `go_last_check`) are read only by the next height's first
///   timer, above the target. Commits, the proposal, the timer and the ledger stay.
/// - **Locked below the target** (two heights: committed at height 1 while the search
///   runs on to 2): the same handlers hold at any height, so `preparations` and
///   `change_views` are dead here too — a new height renews the context without reading
///   them, and persisting a block reads the commits and the proposal. But the next height
///   is reached now, so what it reads stays: `last_seen` (kept across heights), the Go
///   cache (it holds the next height's messages) and the timer bases. Because `see()`
///   still writes LastSeen, no message is dropped as dead for this form beyond what
///   every form drops (stale and repeated ChangeViews); it only merges states. It is
///   also what a node restarted from a saved context below the target becomes, which is
///   why a down node may keep only the committed projection of that context
///   ([`Reloadable`]).
///
/// The fields are listed by destructuring, so a field added to the replica or the
/// context does not compile until it is classified here.
pub struct LiveState<'a> {
    pub replica: &'a DbftReplica,
    pub target: u32,
    /// Restarts without amnesia are possible (explore's `--restarts`): the saved context a
    /// restart would reload is live ([`DbftReplica::reloadable`]). Nothing else survives a
    /// crash: the crash drops every message in flight to the node, so the monotone
    /// quantities above need to hold only between its crashes, and they do.
    pub keep_saved: bool,
}

/// Which of the four forms of [`LiveState`] was written.
#[derive(Hash)]
enum Form {
    Finished,
    Committed,
    LockedBelow,
    Running,
}

impl DbftReplica {
    /// The saved context a restart (without amnesia) would reload: only a committed one of
    /// the height after the ledger's (`start`); any other is never read again, since the
    /// ledger only grows.
    pub fn reloadable(&self) -> Option<&super::context::Context> {
        self.saved.as_deref().filter(|s| s.height == self.ledger.height() + 1 && s.commit_sent())
    }

    /// Committed at the target height with the commit lock in force (see [`LiveState`]).
    pub fn locked_at(&self, target: u32) -> bool {
        self.ctx.height == target && self.locked()
    }

    /// Committed at its current height with the commit lock in force: no lock-breaking
    /// mutation, not at a double-quorum hand-off, its Commit sent. Its view never changes
    /// again at this height (see [`LiveState`], "Locked below the target").
    fn locked(&self) -> bool {
        let c = &self.ctx;
        self.opts.mutation.is_none() && c.previous.is_none() && c.my_endorser.is_none() && c.commit_sent()
    }

    /// Is delivering `msg` a no-op on this replica's live state ([`LiveState`]) now and
    /// later, emitting nothing but coverage marks and RecoveryMessages (which are never
    /// delivered under that bound)? Besides [`Self::ignores_forever`]: a ChangeView for a
    /// view not above the current one from a sender already seen
    /// ([`Self::stale_change_view_is_dead`]), under C# one its sender's slot already
    /// answers ([`Self::repeated_change_view_is_dead`]); and to a node committed at the target
    /// height, every PrepareRequest, PrepareResponse and ChangeView of its height, and
    /// under Go a Commit of a higher view (cached).
    pub fn ignores_when_forgetting(&self, msg: &Wire, target: u32) -> bool {
        if self.ignores_forever(msg) {
            return true;
        }
        let Wire::Consensus(m) = msg else { return false };
        if m.height != self.ctx.height {
            return false;
        }
        if self.stale_change_view_is_dead(m) || self.repeated_change_view_is_dead(m) {
            return true;
        }
        if !self.locked_at(target) {
            return false;
        }
        match m.body {
            Body::PrepareRequest { .. } | Body::PrepareResponse { .. } | Body::ChangeView { .. } => true,
            Body::Commit { .. } => self.semantics().caches_future_messages() && m.view > self.ctx.view,
            _ => false,
        }
    }
}

impl DbftReplica {
    /// A ChangeView of the current height that asks for a view at or below the current
    /// one, from a sender already seen at this height (so LastSeen does not change),
    /// while forgetting. `on_change_view` treats it as a RecoveryRequest (which writes
    /// only the answered-requests record, dead, and sends at most a RecoveryMessage,
    /// never delivered under that bound); Go then returns, and so does a locked node. C#
    /// may store it in the sender's ChangeView slot, but a stored ChangeView for a view
    /// not above the current one is read by nobody: CountChangeViews counts only those
    /// for a higher view, the ChangeViews that justify a new view are those for it or
    /// higher, ViewChanging reads only the node's own slot (and its own stale request
    /// does not make it view changing either), and the slot's test against a later
    /// ChangeView of the same sender ends the same way for a stale one (not stored, or
    /// stored and again stale) and for a fresh one (stored in both cases). So the live
    /// state writes such a slot as empty ([`change_views_live`]), and storing it changes
    /// nothing. What else the handler does after storing — CheckExpectedView for a view
    /// not above the current one, the rejected-hash record (only under
    /// `rejected_hashes`), the outgoing validator's catch-up (only at a double-quorum
    /// height) — is excluded here or returns at once. The view only grows within the
    /// height, so it stays stale.
    ///
    /// Not under `rejected_hashes`: there a stale slot is read after all. Whether a later
    /// stale ChangeView of the same sender is stored, and so whether the rejected hashes
    /// it carries are recorded (a live record), depends on what the slot holds.
    fn stale_change_view_is_dead(&self, m: &super::message::ConsensusMessage) -> bool {
        if !matches!(m.body, Body::ChangeView { .. }) || self.opts.rejected_hashes {
            return false;
        }
        let i = m.validator as usize;
        m.new_view_number() <= self.ctx.view
            && i < self.ctx.n()
            && self.ctx.my_endorser.is_none()
            && self.seen_already(i, m.view)
    }

    /// Under C#, a ChangeView for a higher view whose sender's slot already holds one for
    /// that view or a higher one, from a sender already seen, while forgetting: a node
    /// that times out again in the same view sends the same request again, and a copy
    /// reaching a node that stored the first changes nothing. `on_change_view` returns at
    /// the slot test (C# keeps an equal one), after at most a locked node's
    /// RecoveryMessage (never delivered under that bound). Later: C# never clears the
    /// slots within a height and replaces one only by a request for a view not below it,
    /// so the test keeps failing; once the view reaches the request's, it is stale
    /// ([`Self::stale_change_view_is_dead`]). Go replaces an equal request and clears the
    /// slots at every view change, so this does not hold there.
    fn repeated_change_view_is_dead(&self, m: &super::message::ConsensusMessage) -> bool {
        let sem = self.semantics();
        if !matches!(m.body, Body::ChangeView { .. })
            || sem.replaces_equal_change_view()
            || sem.clears_change_views_on_view_change()
        {
            return false;
        }
        let i = m.validator as usize;
        let n = m.new_view_number();
        n > self.ctx.view
            && self.ctx.change_views.get(i).is_some_and(|s| s.as_ref().is_some_and(|s| s.new_view_number() >= n))
            && i < self.ctx.n()
            && self.seen_already(i, m.view)
    }
}

/// The ChangeView slots as the live state reads them: a ChangeView for a view not above
/// the current one is read by nobody ([`DbftReplica::stale_change_view_is_dead`]), so it
/// is written as an empty slot — except under `rejected_hashes`, where it decides
/// whether a later stale ChangeView's hashes are recorded.
fn change_views_live<H: Hasher>(change_views: &[super::context::Slot], view: u8, rejected_hashes: bool, h: &mut H) {
    change_views.len().hash(h);
    for slot in change_views {
        slot.as_ref().filter(|cv| rejected_hashes || cv.new_view_number() > view).hash(h);
    }
}

impl Hash for LiveState<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let DbftReplica {
            node,
            key,
            opts,
            ledger,
            ctx,
            saved: _,
            timer,
            known_hashes: _,
            last_seen,
            cache,
            recovering,
            assembled_height,
            request_received,
            go_last_check,
            pending_block,
            sync_asked,
            adopted,
            rejected_by,
        } = self.replica;
        node.hash(h);
        if self.keep_saved {
            Reloadable(self.replica).hash(h);
        }
        if ledger.height() >= self.target {
            Form::Finished.hash(h);
            ledger.hash_without_certificates(h);
            return;
        }
        let committed = self.replica.locked_at(self.target);
        let locked = self.replica.locked();
        match (committed, locked) {
            (true, _) => Form::Committed,
            (false, true) => Form::LockedBelow,
            (false, false) => Form::Running,
        }
        .hash(h);
        // Not `opts`: a node's options are fixed for the run (nothing assigns them, a
        // restart keeps them) and `node` is hashed above, so they add nothing here but
        // the cost of hashing the change book on every step.
        let _ = opts;
        key.hash(h);
        ledger.hash_without_certificates(h);
        timer.hash(h);
        recovering.hash(h);
        pending_block.hash(h);
        sync_asked.hash(h);
        adopted.hash(h);
        rejected_by.hash(h);
        let super::context::Context { preparations, change_views, .. } = ctx;
        hash_committed_context(ctx, h);
        if !locked {
            preparations.hash(h);
            change_views_live(change_views, ctx.view, opts.rejected_hashes, h);
        }
        if !committed {
            last_seen.hash(h);
            cache.hash(h);
            (assembled_height, request_received, go_last_check).hash(h);
        }
    }
}

/// The live part of the saved context a restart reloads, for a node whose dead state is
/// forgotten: none, or its committed projection ([`hash_committed_context`]) where the
/// restarted node is locked at once, else the whole context.
pub struct Reloadable<'a>(pub &'a DbftReplica);

impl Hash for Reloadable<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self.0.reloadable() {
            None => 0u8.hash(h),
            // The projection only where the restarted node is locked at once (what
            // `locked_at` requires besides the height): under a lock-breaking mutation or
            // as an outgoing endorser the saved preparations and ChangeViews are read again.
            Some(saved)
                if self.0.opts.mutation.is_none() && saved.previous.is_none() && saved.my_endorser.is_none() =>
            {
                1u8.hash(h);
                hash_committed_context(saved, h);
            }
            Some(saved) => {
                2u8.hash(h);
                saved.hash(h);
            }
        }
    }
}

/// What a later step can read of a context with the commit lock in force ([`LiveState`],
/// "Committed"): everything but the preparations and ChangeViews. Also the live part of
/// the saved context a restart reloads ([`DbftReplica::reloadable`]): the restarted node
/// is locked at once, and the one read of the saved preparations (`start` calls
/// CheckPreparations, which re-sends the Commit) asks only whether M of them are there,
/// which is true of every saved context — the replica saves only right after that test
/// passed (CheckPreparations and, at a double-quorum height that forgetting excludes,
/// the endorsement check).
fn hash_committed_context<H: Hasher>(ctx: &super::context::Context, h: &mut H) {
    let super::context::Context {
        height,
        view,
        validators,
        my_index,
        previous,
        outgoing,
        my_endorser,
        prev_hash,
        prev_timestamp_ms,
        custody,
        next_validators,
        proposal,
        preparations: _,
        commits,
        change_views: _,
        last_change_views: _,
        block_sent,
    } = ctx;
    (height, view, validators, my_index, previous, outgoing, my_endorser).hash(h);
    (prev_hash, prev_timestamp_ms, custody, next_validators, proposal, commits, block_sent).hash(h);
}
