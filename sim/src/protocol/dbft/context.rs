//! Per-height consensus state (docs/dbft-2.0.md §1.3) and its derived predicates (§1.4).
//!
//! The context is plain data: `Clone`, no interior mutability, every message held as an
//! `Rc` to the one signed copy that arrived. What is cleared at a new height and what at a
//! view change follows the table of §1.3 exactly; the commit lock is nothing more than
//! `commits` surviving a view change.

use super::message::{Body, ConsensusMessage};
use crate::protocol::block::{Header, TxId, tx_root};
use crate::protocol::crypto::{Hash32, KeyId};
use crate::validators::ValidatorSet;
use crate::validators::custody::Custody;
use std::collections::BTreeMap;
use std::rc::Rc;

pub(super) type Slot = Option<Rc<ConsensusMessage>>;

/// One message slot per validator, shared between copies of a context until one of them
/// writes it (copy on write: [`DerefMut`](std::ops::DerefMut) un-shares first).
///
/// Copies of a context are common and mostly unwritten: the explorer copies a replica for
/// every step it takes (and a step writes at most one of the four lists), and C# saves the
/// context at every Commit. Sharing makes such a copy four reference counts instead of four
/// lists. Reads, equality, hashing and printing are those of the list itself, so replica
/// states compare and hash as before.
///
/// `clone` shares; `clone_from` into a list of the same length that nobody else holds
/// copies into its storage instead, as the saved context does ([`spare_clone`]): the live
/// context then keeps its lists to itself and writes them without copying them first.
/// One allocation holds the count and the slots (`Rc<[Slot]>`), so a read is one
/// indirection, as it was for the plain list.
#[derive(PartialEq, Eq, Hash)]
pub struct Slots(Rc<[Slot]>);

impl Clone for Slots {
    fn clone(&self) -> Slots {
        Slots(self.0.clone())
    }

    fn clone_from(&mut self, source: &Slots) {
        match Rc::get_mut(&mut self.0) {
            Some(list) if list.len() == source.len() => list.clone_from_slice(&source.0),
            _ => *self = source.clone(),
        }
    }
}

impl Slots {
    /// `n` empty slots.
    pub fn empty(n: usize) -> Slots {
        Slots((0..n).map(|_| None).collect())
    }

    /// Makes this `n` empty slots: in place when nobody else holds the list and its
    /// length is right, else as a new list.
    fn reset(&mut self, n: usize) {
        match Rc::get_mut(&mut self.0) {
            Some(list) if list.len() == n => list.fill(None),
            _ => *self = Slots::empty(n),
        }
    }

    /// Sets slot i to `f(i)` for every i, writing only if some slot changes: a list shared
    /// with another context stays shared when the new values are the old ones (a view
    /// change clearing preparations that are empty already), and one that must change is
    /// built afresh rather than copied and then overwritten.
    pub fn set_each(&mut self, mut f: impl FnMut(usize) -> Slot) {
        let n = self.0.len();
        let Some((first, v)) = (0..n).map(|i| (i, f(i))).find(|(i, v)| self.0[*i] != *v) else {
            return;
        };
        match Rc::get_mut(&mut self.0) {
            Some(list) => {
                list[first] = v;
                for (i, slot) in list.iter_mut().enumerate().skip(first + 1) {
                    *slot = f(i);
                }
            }
            None => {
                let mut v = Some(v);
                let old = &self.0;
                let list: Rc<[Slot]> = (0..n)
                    .map(|i| match i.cmp(&first) {
                        std::cmp::Ordering::Less => old[i].clone(),
                        std::cmp::Ordering::Equal => v.take().flatten(),
                        std::cmp::Ordering::Greater => f(i),
                    })
                    .collect();
                self.0 = list;
            }
        }
    }

    /// Lets go of the messages: empties the slots in place when no other context shares
    /// the list (keeping its storage for [`Slots::clone_from`]), else stops sharing it.
    fn release(&mut self) {
        match Rc::get_mut(&mut self.0) {
            Some(list) => list.fill(None),
            None => *self = Slots::empty(0),
        }
    }
}

impl std::ops::Deref for Slots {
    type Target = [Slot];
    fn deref(&self) -> &[Slot] {
        &self.0
    }
}

impl std::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut [Slot] {
        Rc::make_mut(&mut self.0)
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The proposal of the current view, adopted from the PrepareRequest.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Proposal {
    pub timestamp_ms: u64,
    pub nonce: u64,
    pub tx_hashes: Vec<TxId>,
    pub header: Header,
    pub header_hash: Hash32,
}

/// `Clone` is written out so that `clone_from` reuses the lists' storage (the saved
/// context of every Commit, see [`spare_clone`]); a clone equals what a derived one gives.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Context {
    /// BlockIndex: the height being built (last persisted + 1).
    pub height: u32,
    pub view: u8,
    pub validators: Rc<ValidatorSet>,
    pub my_index: Option<usize>,
    /// Under the double-quorum rule at a hand-off height: the set before (whose M
    /// signatures the block also needs) and its keys that left, which sign as commit
    /// indices N, N+1, ... after the set's own.
    pub previous: Option<Rc<ValidatorSet>>,
    pub outgoing: Vec<KeyId>,
    /// My commit index as an outgoing validator (N + position in `outgoing`).
    pub my_endorser: Option<usize>,
    pub prev_hash: Hash32,
    pub prev_timestamp_ms: u64,
    /// The chain's custody after the previous block: what decides NextConsensus.
    pub custody: Rc<Custody>,
    /// The set this height's block names for height + 1 (NextConsensus): the custody's
    /// projection until a proposal is known, then what the proposal's transactions make it.
    pub next_validators: Rc<ValidatorSet>,
    pub proposal: Option<Proposal>,
    /// PrepareRequest (at the primary's slot) and PrepareResponses of this view (and of the
    /// outgoing validators at a double-quorum hand-off).
    pub preparations: Slots,
    /// Commits of any view of this height, one per validator (and one per outgoing
    /// validator at a double-quorum hand-off).
    pub commits: Slots,
    /// Latest ChangeView per validator.
    pub change_views: Slots,
    /// The ChangeViews that justified entering the current view (for RecoveryMessages).
    pub last_change_views: Slots,
    pub block_sent: bool,
}

impl Clone for Proposal {
    fn clone(&self) -> Self {
        let Proposal { timestamp_ms, nonce, tx_hashes, header, header_hash } = self;
        Proposal {
            timestamp_ms: *timestamp_ms,
            nonce: *nonce,
            tx_hashes: tx_hashes.clone(),
            header: header.clone(),
            header_hash: *header_hash,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        let Proposal { timestamp_ms, nonce, tx_hashes, header, header_hash } = source;
        self.timestamp_ms = *timestamp_ms;
        self.nonce = *nonce;
        self.tx_hashes.clone_from(tx_hashes);
        self.header.clone_from(header);
        self.header_hash = *header_hash;
    }
}

impl Clone for Context {
    fn clone(&self) -> Self {
        let Context {
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
            preparations,
            commits,
            change_views,
            last_change_views,
            block_sent,
        } = self;
        Context {
            height: *height,
            view: *view,
            validators: validators.clone(),
            my_index: *my_index,
            previous: previous.clone(),
            outgoing: outgoing.clone(),
            my_endorser: *my_endorser,
            prev_hash: *prev_hash,
            prev_timestamp_ms: *prev_timestamp_ms,
            custody: custody.clone(),
            next_validators: next_validators.clone(),
            proposal: proposal.clone(),
            preparations: preparations.clone(),
            commits: commits.clone(),
            change_views: change_views.clone(),
            last_change_views: last_change_views.clone(),
            block_sent: *block_sent,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        let Context {
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
            preparations,
            commits,
            change_views,
            last_change_views,
            block_sent,
        } = source;
        self.height = *height;
        self.view = *view;
        self.validators.clone_from(validators);
        self.my_index = *my_index;
        self.previous.clone_from(previous);
        self.outgoing.clone_from(outgoing);
        self.my_endorser = *my_endorser;
        self.prev_hash = *prev_hash;
        self.prev_timestamp_ms = *prev_timestamp_ms;
        self.custody.clone_from(custody);
        self.next_validators.clone_from(next_validators);
        self.proposal.clone_from(proposal);
        self.preparations.clone_from(preparations);
        self.commits.clone_from(commits);
        self.change_views.clone_from(change_views);
        self.last_change_views.clone_from(last_change_views);
        self.block_sent = *block_sent;
    }
}

/// How many discarded contexts [`recycle`] keeps per thread for [`spare_clone`].
const SPARE_CONTEXTS: usize = 16;

thread_local! {
    static SPARES: std::cell::RefCell<Vec<Context>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A clone of `ctx`, made in the storage of a context [`recycle`]d earlier if there is
/// one (C# saves the context at every Commit and drops it at the next block: a clone and
/// a drop of five lists per replica and height otherwise). The clone is the same either
/// way; only where its lists live differs.
pub fn spare_clone(ctx: &Context) -> Context {
    match SPARES.with_borrow_mut(|s| s.pop()) {
        Some(mut spare) => {
            spare.clone_from(ctx);
            spare
        }
        None => ctx.clone(),
    }
}

/// Gives a context that is no longer wanted to [`spare_clone`]: its messages and
/// transactions are released now, its lists' storage kept for the next clone.
pub fn recycle(mut ctx: Context) {
    for list in [&mut ctx.preparations, &mut ctx.commits, &mut ctx.change_views, &mut ctx.last_change_views] {
        list.release();
    }
    if let Some(p) = &mut ctx.proposal {
        p.tx_hashes.clear();
    }
    SPARES.with_borrow_mut(|s| {
        if s.len() < SPARE_CONTEXTS {
            s.push(ctx);
        }
    });
}

impl Context {
    /// The context of height `height`, validated by `validators` (the set the chain names
    /// for it, as this replica knows it).
    pub fn new(
        height: u32,
        validators: Rc<ValidatorSet>,
        my_key: Option<KeyId>,
        prev_hash: Hash32,
        prev_timestamp_ms: u64,
        custody: Rc<Custody>,
    ) -> Context {
        let n = validators.n();
        Context {
            height,
            view: 0,
            my_index: my_key.and_then(|k| validators.index_of(k)),
            previous: None,
            outgoing: Vec::new(),
            my_endorser: None,
            validators,
            prev_hash,
            prev_timestamp_ms,
            next_validators: custody.next_after(&[]),
            custody,
            proposal: None,
            preparations: Slots::empty(n),
            commits: Slots::empty(n),
            change_views: Slots::empty(n),
            last_change_views: Slots::empty(n),
            block_sent: false,
        }
    }

    /// `*self = Context::new(..)` with the same arguments, keeping the lists' storage (a
    /// replica starts a new context at every height).
    pub fn renew(
        &mut self,
        height: u32,
        validators: Rc<ValidatorSet>,
        my_key: Option<KeyId>,
        prev_hash: Hash32,
        prev_timestamp_ms: u64,
        custody: Rc<Custody>,
    ) {
        let n = validators.n();
        self.height = height;
        self.view = 0;
        self.my_index = my_key.and_then(|k| validators.index_of(k));
        self.previous = None;
        self.outgoing.clear();
        self.my_endorser = None;
        self.validators = validators;
        self.prev_hash = prev_hash;
        self.prev_timestamp_ms = prev_timestamp_ms;
        self.next_validators = custody.next_after(&[]);
        self.custody = custody;
        self.proposal = None;
        for list in [&mut self.preparations, &mut self.commits, &mut self.change_views, &mut self.last_change_views] {
            list.reset(n);
        }
        self.block_sent = false;
    }

    /// Makes this a double-quorum hand-off height: `previous` validated the height before,
    /// and its keys that left sign this height's block too.
    /// A key revoked by an ejection never signs again, not even as an outgoing validator.
    pub fn with_previous(mut self, previous: Rc<ValidatorSet>, my_key: Option<KeyId>) -> Context {
        self.set_previous(previous, my_key);
        self
    }

    /// [`with_previous`](Self::with_previous) in place.
    pub fn set_previous(&mut self, previous: Rc<ValidatorSet>, my_key: Option<KeyId>) {
        let revoked = self.custody.revoked.clone();
        self.outgoing =
            previous.keys.iter().copied().filter(|k| !self.validators.contains(*k) && !revoked.contains(k)).collect();
        self.my_endorser = my_key.and_then(|k| self.outgoing.iter().position(|o| *o == k)).map(|j| self.n() + j);
        self.commits = Slots::empty(self.n() + self.outgoing.len());
        self.preparations = Slots::empty(self.n() + self.outgoing.len());
        self.previous = Some(previous);
    }

    /// The key that signs as commit index `index`: a validator, or an outgoing one.
    pub fn signer_key(&self, index: usize) -> Option<KeyId> {
        self.validators.key(index).or_else(|| index.checked_sub(self.n()).and_then(|j| self.outgoing.get(j).copied()))
    }

    /// My index among the signers of this height's block, if I sign it.
    pub fn my_signer(&self) -> Option<usize> {
        self.my_index.or(self.my_endorser)
    }

    /// Initialize(view > 0), step 1 (§1.6): remember the ChangeViews that brought us here,
    /// drop the proposal and the preparations, keep the commits.
    pub fn enter_view(&mut self, view: u8, clear_change_views: bool) {
        let change_views = &self.change_views;
        self.last_change_views.set_each(|i| change_views[i].clone().filter(|cv| cv.new_view_number() >= view));
        self.proposal = None;
        self.next_validators = self.custody.next_after(&[]);
        self.preparations.set_each(|_| None);
        if clear_change_views {
            self.change_views.set_each(|_| None);
        }
        self.view = view;
    }

    pub fn n(&self) -> usize {
        self.validators.n()
    }
    pub fn f(&self) -> usize {
        self.validators.f()
    }
    pub fn m(&self) -> usize {
        self.validators.m()
    }

    pub fn primary(&self) -> usize {
        self.validators.primary(self.height, self.view)
    }

    pub fn watch_only(&self) -> bool {
        self.my_index.is_none()
    }

    pub fn is_primary(&self) -> bool {
        self.my_index == Some(self.primary())
    }

    pub fn is_backup(&self) -> bool {
        self.my_index.is_some() && !self.is_primary()
    }

    /// RequestSentOrReceived ⇔ PreparationPayloads[primary] present.
    pub fn request_sent_or_received(&self) -> bool {
        self.preparations[self.primary()].is_some()
    }

    /// The PrepareRequest of this view, if the primary's slot holds one.
    pub fn request(&self) -> Option<&Rc<ConsensusMessage>> {
        self.preparations[self.primary()].as_ref().filter(|m| matches!(m.body, Body::PrepareRequest { .. }))
    }

    /// ResponseSent ⇔ PreparationPayloads[me] present.
    pub fn response_sent(&self) -> bool {
        self.my_signer().is_some_and(|i| self.preparations[i].is_some())
    }

    /// CommitSent ⇔ CommitPayloads[me] present (any view): the commit lock.
    pub fn commit_sent(&self) -> bool {
        self.my_signer().is_some_and(|i| self.commits[i].is_some())
    }

    pub fn my_commit(&self) -> Option<&Rc<ConsensusMessage>> {
        self.my_signer().and_then(|i| self.commits[i].as_ref())
    }

    pub fn my_change_view(&self) -> Option<&Rc<ConsensusMessage>> {
        self.my_index.and_then(|i| self.change_views[i].as_ref())
    }

    /// ViewChanging ⇔ not watch-only and my stored ChangeView asks for a view above mine.
    pub fn view_changing(&self) -> bool {
        self.my_change_view().is_some_and(|cv| cv.new_view_number() > self.view)
    }

    /// CountCommitted: validators with a stored Commit of any view of this height
    /// (outgoing validators' endorsements are not among them).
    pub fn count_committed(&self) -> usize {
        self.commits[..self.n()].iter().filter(|c| c.is_some()).count()
    }

    /// Preparations from validators of this height's set.
    pub fn count_preparations(&self) -> usize {
        self.preparations[..self.n()].iter().filter(|p| p.is_some()).count()
    }

    /// Preparations signed by keys of the previous set (double-quorum hand-off only).
    pub fn count_previous_preparations(&self) -> usize {
        let Some(prev) = &self.previous else { return 0 };
        (0..self.preparations.len())
            .filter(|&i| self.preparations[i].is_some() && self.signer_key(i).is_some_and(|k| prev.contains(k)))
            .count()
    }

    /// Commits whose view is the current view.
    pub fn count_commits_of_view(&self) -> usize {
        self.commits.iter().flatten().filter(|c| c.view == self.view).count()
    }

    /// How many stored ChangeViews ask for `view` or higher.
    pub fn count_change_views_for(&self, view: u8) -> usize {
        self.change_views.iter().flatten().filter(|cv| cv.new_view_number() >= view).count()
    }

    /// Adopts the proposal of a PrepareRequest (own or received) and builds the header
    /// every Commit of this view signs.
    pub fn adopt_proposal(&mut self, timestamp_ms: u64, nonce: u64, tx_hashes: Vec<TxId>) {
        self.next_validators = self.custody.next_after(&tx_hashes);
        let header = self.header_naming(&self.next_validators, self.primary() as u16, timestamp_ms, nonce, &tx_hashes);
        let header_hash = header.hash();
        self.proposal = Some(Proposal { timestamp_ms, nonce, tx_hashes, header, header_hash });
    }

    /// The header a PrepareRequest from `primary` with these fields proposes at this height.
    /// Its NextConsensus is what the custody makes of these transactions: every replica
    /// computes it itself (as Neo's backups do), so a primary cannot name another set.
    pub fn header_for(&self, primary: u16, timestamp_ms: u64, nonce: u64, tx_hashes: &[TxId]) -> Header {
        self.header_naming(&self.custody.next_after(tx_hashes), primary, timestamp_ms, nonce, tx_hashes)
    }

    /// The header with NextConsensus `next` (already computed from these transactions).
    fn header_naming(
        &self,
        next: &ValidatorSet,
        primary: u16,
        timestamp_ms: u64,
        nonce: u64,
        tx_hashes: &[TxId],
    ) -> Header {
        Header {
            version: 0,
            height: self.height,
            prev_hash: self.prev_hash,
            timestamp_ms,
            nonce,
            primary,
            tx_root: tx_root(tx_hashes),
            next_validators: next.hash(),
        }
    }

    /// (new view, count of ChangeViews asking for at least it), for diagnosis.
    pub fn change_view_tally(&self) -> Vec<(u8, usize)> {
        let mut views: BTreeMap<u8, usize> = BTreeMap::new();
        for cv in self.change_views.iter().flatten() {
            views.entry(cv.new_view_number()).or_insert(0);
        }
        views.keys().map(|&v| (v, self.count_change_views_for(v))).collect()
    }
}

/// LastSeenMessage bookkeeping behind CountFailed (§1.4), in the two flavours.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LastSeen {
    /// C#: per validator key, the height of the last accepted message; kept across heights.
    Height(BTreeMap<KeyId, u32>),
    /// Go: per validator index, (height, view) of the last processed message; reset at
    /// every height.
    HeightView(Vec<Option<(u32, u8)>>),
}
