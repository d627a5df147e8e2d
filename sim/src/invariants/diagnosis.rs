//! Stall diagnosis: when a run does not reach its height target, say where and why.
//!
//! For the stalled height — the lowest height an honest, running validator has not
//! finalised — the report lists every replica's view, phase, CountCommitted, CountFailed
//! and ChangeView tally, and classifies the stall:
//!
//! - `too-many-faulty`: fewer than M honest validators are running; or, at a double-quorum
//!   hand-off height, fewer than M of the previous set are honest, running and able to
//!   sign (a key an ejection revoked never signs again), so its block can never carry
//!   the previous set's quorum;
//! - `partitioned`: at the end an active partition leaves no group with M honest running
//!   validators;
//! - `invalid-block`: honest validators at the stalled height assembled a block that their
//!   own ledger rejected — a Commit counted without a check (stored before the header was
//!   known, and never re-checked: Go, or a C# primary) had a bad block signature — and now
//!   wait, deaf to consensus, for a valid block; too few others are left to make one;
//! - `commit-lock`: some honest validators committed (in a view that cannot reach M
//!   commits for one proposal — and, at a double-quorum hand-off, M of the previous set
//!   too) and the uncommitted ones are too few to gather M ChangeViews — neither a
//!   block nor a view change is reachable (docs/dbft-2.0.md §2.1);
//! - `timer-starved`: some uncommitted honest validators' timers have not expired for
//!   longer than the window below although nothing progresses — something keeps extending
//!   them (a Commit of the current view extends the timer by 4T/M before its block
//!   signature is checked, and a rejected one is not stored, so the next one extends
//!   again);
//! - `view-split`: no honest validator committed, yet the running honest validators at
//!   the stalled height sit in different views and no view holds M of them — the ones
//!   behind never gather the ChangeViews that moved the others on (one way: a ChangeView
//!   replayed from a RecoveryMessage loses its reason, and with it its signature), and the
//!   ones ahead cannot make a block without them;
//! - `still-progressing`: honest replicas finalised a block or changed view recently
//!   enough — within the liveness bound, or within twice the timeout of the view they are
//!   in (timeouts double with every view, so at high views progress is slow but not over)
//!   — the run was cut short, not stuck;
//! - `undiagnosed`: none of the above (worth a closer look).
//!
//! The diagnosis reads replica status at the end of the run; it is an explanation, not an
//! invariant, and has its own tests because a wrong explanation misleads (the lesson of
//! TigerBeetle's liveness-diagnostic fixes).

use crate::engine::time::SimTime;
use crate::protocol::{NodeId, Phase, ReplicaStatus};
use serde::Serialize;
use std::collections::BTreeMap;

/// One replica as the diagnosis sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaDiag {
    pub name: String,
    pub honest: bool,
    pub up: bool,
    pub validator: bool,
    pub ledger_height: u32,
    /// When its timer last fired (milliseconds; None: never).
    #[serde(serialize_with = "ser_opt_ms")]
    pub last_timer: Option<SimTime>,
    #[serde(flatten)]
    pub status: Option<ReplicaStatus>,
}

fn ser_opt_ms<S: serde::Serializer>(t: &Option<SimTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_f64(t.as_ms_f64()),
        None => s.serialize_none(),
    }
}

crate::names::named_enum! {
    /// Why a run stalled, as the diagnosis classifies it (see the module comment).
    pub enum StallClass {
        CommitLock = "commit-lock",
        InvalidBlock = "invalid-block",
        Partitioned = "partitioned",
        TooManyFaulty = "too-many-faulty",
        StillProgressing = "still-progressing",
        TimerStarved = "timer-starved",
        ViewSplit = "view-split",
        /// Every running honest validator at the stalled height is in view 255, the last a
        /// byte can name, uncommitted, and no progress within the window: no ChangeView can
        /// move them on and the last view made no block.
        ViewExhausted = "view-exhausted",
        /// No class matches; a scenario cannot expect this one (an expectation names a reason).
        Undiagnosed = "undiagnosed",
    }
}

impl StallClass {
    /// The classes a scenario may expect.
    pub fn expectable() -> impl Iterator<Item = StallClass> {
        StallClass::ALL.iter().copied().filter(|c| *c != StallClass::Undiagnosed)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Stall {
    pub class: StallClass,
    pub height: u32,
    pub view: u8,
    pub reason: String,
    pub replicas: Vec<ReplicaDiag>,
}

/// Everything the classification needs.
pub struct StallInput<'a> {
    pub replicas: Vec<ReplicaDiag>,
    /// Partition groups active at the end (empty: no partition).
    pub partitions: Vec<&'a [Vec<NodeId>]>,
    /// Last time an honest replica persisted a block or changed view (None: never).
    pub last_progress: Option<SimTime>,
    /// When the run ended. None for the explorer's untimed model: time stands still
    /// there, so no class that rests on elapsed time (still-progressing, timer-starved)
    /// can be judged, only the structural ones.
    pub end: Option<SimTime>,
    pub bound: SimTime,
    /// The block time T, in microseconds (a view v lasts up to T·2^(v+2)).
    pub block_time: u64,
    /// M of the validator set at the stalled height.
    pub m: usize,
}

pub fn diagnose(input: StallInput) -> Stall {
    let StallInput { replicas, partitions, last_progress, end, bound, block_time, m } = input;
    let timed = end.is_some();
    let end = end.unwrap_or(SimTime::ZERO);
    let running: Vec<usize> =
        (0..replicas.len()).filter(|&i| replicas[i].honest && replicas[i].up && replicas[i].validator).collect();
    let height = running.iter().map(|&i| replicas[i].ledger_height + 1).min().unwrap_or(0);
    let at_h: Vec<&ReplicaStatus> =
        running.iter().filter_map(|&i| replicas[i].status.as_ref()).filter(|s| s.height == height).collect();
    let view = at_h.iter().map(|s| s.view).max().unwrap_or(0);
    // View 255 has no next view, so waiting for its (saturated) timeout says nothing: its
    // primary proposes within one block time, and the window gives it two.
    let view_timeout =
        if in_last_view(&at_h) { block_time } else { block_time.saturating_mul(1u64 << (view as u32 + 2).min(40)) };
    let window = SimTime(bound.0.max(view_timeout.saturating_mul(2)));
    // Uncommitted honest validators at the stalled height whose timers have not fired
    // within the window: they would time out and help a view change, but never do. A
    // timer that never fired is judged from the run's start: a run shorter than the
    // window (cut before the first block time) starves nobody.
    let starved: Vec<&str> = running
        .iter()
        .filter(|&&i| {
            timed
                && replicas[i].status.as_ref().is_some_and(|s| s.height == height && s.phase != Phase::CommitSent)
                && end.since(replicas[i].last_timer.unwrap_or(SimTime::ZERO)) > window.0
        })
        .map(|&i| replicas[i].name.as_str())
        .collect();
    // At a double-quorum hand-off height, the Commits of honest members of the previous
    // set (outgoing ones included, though they are watch-only in the new set) count
    // towards its M too.
    let previous = at_h.iter().find_map(|s| s.previous_quorum).map(|pq| PreviousCommits {
        m: pq.m,
        // Only judged when no honest running replica is behind the stalled height: one
        // that is may be a member of the previous set that catches up and signs.
        signers: if replicas.iter().any(|r| r.honest && r.up && r.status.as_ref().is_some_and(|s| s.height < height)) {
            usize::MAX
        } else {
            replicas
                .iter()
                .filter(|r| r.honest && r.up)
                .filter_map(|r| r.status.as_ref())
                .filter(|s| s.height == height && s.previous_quorum.is_some_and(|q| q.member))
                .count()
        },
        committed: replicas
            .iter()
            .filter(|r| r.honest && r.up)
            .filter_map(|r| r.status.as_ref())
            .filter(|s| s.height == height && s.phase == Phase::CommitSent)
            .filter(|s| s.previous_quorum.is_some_and(|q| q.member))
            .map(|s| (s.committed_view, s.committed_proposal))
            .collect(),
    });
    let (class, reason) = classify(
        &running,
        &at_h,
        &partitions,
        (last_progress, &starved),
        timed.then_some(end),
        window,
        (m, previous.as_ref()),
    );
    Stall { class, height, view, reason, replicas }
}

/// The previous set's side of a double-quorum hand-off: its M and, per committed honest
/// member, the (view, proposal) it committed to.
struct PreviousCommits {
    m: usize,
    /// Honest, running members of the previous set at the stalled height whose keys can
    /// still sign (outgoing validators included, ejected ones not).
    signers: usize,
    committed: Vec<(Option<u8>, Option<crate::protocol::crypto::Hash32>)>,
}

/// Every replica at the stalled height (there is one) is in view 255, the last a byte can
/// name: no ChangeView can move it on.
fn in_last_view(at_h: &[&ReplicaStatus]) -> bool {
    !at_h.is_empty() && at_h.iter().all(|s| s.view == u8::MAX)
}

fn classify(
    running: &[usize],
    at_h: &[&ReplicaStatus],
    partitions: &[&[Vec<NodeId>]],
    (last_progress, starved): (Option<SimTime>, &[&str]),
    end: Option<SimTime>,
    bound: SimTime,
    (m, previous): (usize, Option<&PreviousCommits>),
) -> (StallClass, String) {
    if running.len() < m {
        return (
            StallClass::TooManyFaulty,
            format!("only {} honest validators are running; a block needs M = {m}", running.len()),
        );
    }
    if let Some(p) = previous.filter(|p| p.signers < p.m) {
        return (
            StallClass::TooManyFaulty,
            format!(
                "a double-quorum hand-off height: only {} honest running validators of the previous set can still sign (keys revoked by an ejection never sign again), and its block needs M = {} of them",
                p.signers, p.m
            ),
        );
    }
    for groups in partitions {
        let group_of = |i: usize| groups.iter().position(|g| g.contains(&NodeId(i as u32))).unwrap_or(usize::MAX);
        let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
        for &i in running {
            *sizes.entry(group_of(i)).or_insert(0) += 1;
        }
        let largest = sizes.values().copied().max().unwrap_or(0);
        if largest < m {
            return (
                StallClass::Partitioned,
                format!(
                    "a partition splits the {} running honest validators into groups of at most {largest} < M = {m}",
                    running.len()
                ),
            );
        }
    }
    // A replica still at the stalled height in BlockSent assembled a block it could not
    // persist: its ledger rejected it.
    let wedged = at_h.iter().filter(|s| s.phase == Phase::BlockSent).count();
    if wedged > 0 && at_h.len() - wedged < m {
        return (
            StallClass::InvalidBlock,
            format!(
                "{wedged} honest validators assembled a block their own ledger rejected (a Commit counted unchecked had a bad block signature) and wait for a valid block; only {} others can still make one, fewer than M = {m}",
                at_h.len() - wedged
            ),
        );
    }
    let committed: Vec<&&ReplicaStatus> = at_h.iter().filter(|s| s.phase == Phase::CommitSent).collect();
    let uncommitted = at_h.len() - committed.len();
    if !committed.is_empty() && uncommitted < m {
        // Commits count towards one block only within one view and for one proposal.
        let mut per_view: BTreeMap<u8, usize> = BTreeMap::new();
        let mut per_proposal: BTreeMap<(u8, Option<crate::protocol::crypto::Hash32>), usize> = BTreeMap::new();
        for s in &committed {
            if let Some(v) = s.committed_view {
                *per_view.entry(v).or_insert(0) += 1;
                *per_proposal.entry((v, s.committed_proposal)).or_insert(0) += 1;
            }
        }
        // A proposal's Commits make a block only with M of this set, and at a
        // double-quorum hand-off also M of the previous one.
        let previous_count = |key: &(u8, Option<crate::protocol::crypto::Hash32>)| {
            previous.map(|p| p.committed.iter().filter(|(v, h)| *v == Some(key.0) && *h == key.1).count())
        };
        let reachable = per_proposal
            .iter()
            .any(|(key, &c)| c >= m && previous.is_none_or(|p| previous_count(key).unwrap_or(0) >= p.m));
        if !reachable {
            let mut views: Vec<String> = per_view.iter().map(|(v, c)| format!("{c} in view {v}")).collect();
            if per_proposal.len() > per_view.len() {
                views.push(format!("{} different proposals", per_proposal.len()));
            }
            let quorum = match previous {
                Some(p) => {
                    let best_previous = per_proposal.keys().filter_map(previous_count).max().unwrap_or(0);
                    format!(
                        "M = {m} commits for one proposal in one view together with M = {} of the previous set (at most {best_previous} of its members committed to one),",
                        p.m
                    )
                }
                None => format!("M = {m} commits for one proposal in one view"),
            };
            return (
                StallClass::CommitLock,
                format!(
                    "{} honest validator{} committed ({}) and only {uncommitted} can still send ChangeView: neither {quorum} nor M ChangeViews is reachable",
                    committed.len(),
                    if committed.len() == 1 { "" } else { "s" },
                    views.join(", ")
                ),
            );
        }
    }
    if let Some(end) = end
        && let Some(last_progress) = last_progress
        && end.since(last_progress) <= bound.0
    {
        return (
            StallClass::StillProgressing,
            format!(
                "an honest replica finalised a block or changed view {} ms before the end (within {} ms): the run was cut short",
                end.since(last_progress) / 1000,
                bound.0 / 1000
            ),
        );
    }
    // Nothing progressed yet, but the whole run is shorter than the window: it ended
    // before the protocol could be expected to make a block or change view.
    if let Some(end) = end
        && last_progress.is_none()
        && end.since(SimTime::ZERO) <= bound.0
    {
        return (
            StallClass::StillProgressing,
            format!(
                "the run lasted {} ms, within {} ms of its start: it was cut short before any block or view change could be expected",
                end.since(SimTime::ZERO) / 1000,
                bound.0 / 1000
            ),
        );
    }
    if in_last_view(at_h) && at_h.iter().all(|s| s.phase != Phase::CommitSent) {
        return (
            StallClass::ViewExhausted,
            format!(
                "the {} running honest validators at the stalled height are all in view 255, the last view a byte can name, and none committed: no ChangeView can move them on, and view 255 made no block",
                at_h.len()
            ),
        );
    }
    if committed.is_empty() && at_h.len() == running.len() {
        let mut per_view: BTreeMap<u8, usize> = BTreeMap::new();
        for st in at_h.iter() {
            *per_view.entry(st.view).or_insert(0) += 1;
        }
        if per_view.len() > 1 && per_view.values().all(|&c| c < m) && starved.is_empty() {
            let views: Vec<String> = per_view.iter().map(|(v, c)| format!("{c} in view {v}")).collect();
            return (
                StallClass::ViewSplit,
                format!(
                    "no honest validator committed, and the {} running ones are split across views ({}) with none holding M = {m}: those behind never count the ChangeViews that moved the others on",
                    running.len(),
                    views.join(", ")
                ),
            );
        }
    }
    if !starved.is_empty() {
        return (
            StallClass::TimerStarved,
            format!(
                "the timers of {} have not fired for over {} ms although nothing progresses: something keeps extending them",
                starved.join(", "),
                bound.0 / 1000
            ),
        );
    }
    (StallClass::Undiagnosed, "no stall class matches; see the per-replica state".into())
}
