//! Run metrics, collected as an observer of the event stream: message counts by type
//! (in all and per height), finalisation times and views per height, transaction
//! confirmation times, rejected messages, progress.

use crate::engine::time::SimTime;
use crate::engine::trace::{Ev, Halt, Marker, Observer, Rec};
use crate::net::DropReason;
use crate::protocol::block::TxId;
use crate::protocol::crypto::Hash32;
use crate::protocol::{MsgKind, NodeId, Note, RejectReason};
use serde::Serialize;
use std::collections::BTreeMap;

/// Per message type: how many were sent (a broadcast counts once), delivered, dropped and
/// duplicated (per recipient), and the bytes sent.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct KindCounts {
    pub sent: u64,
    /// Every delivery, `ignored` ones included.
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub bytes: u64,
    /// Of `delivered`: copies handed over at the send, without an event or a record,
    /// because their recipient had already persisted the height (a relayed block reaching
    /// a node that has it; engine/mod.rs `transmit`, docs/performance.md ninth pass).
    /// Counted as a queued delivery would be: not if the run ended before its arrival.
    pub ignored: u64,
    /// Of `dropped`: flooded copies dropped as duplicates without an event or a record,
    /// because their recipient's relay cache already held the hash when they were sent
    /// (engine/mod.rs `certain_duplicate`, docs/performance.md tenth pass). Counted as a
    /// queued copy would be: not if the run ended before its arrival.
    pub unrecorded_drops: u64,
}

/// When and how a height became final (its first persist by an honest node).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Final {
    pub time: SimTime,
    pub view: u8,
    pub block: Hash32,
    pub node: NodeId,
    /// Validator index of the block's proposer: its position in the set of this height,
    /// not a node index.
    pub primary: u16,
    /// When the finalised block was proposed, if a Proposed note was seen.
    pub proposed: Option<SimTime>,
    /// The node that proposed it (the one that noted the proposal), if a Proposed note
    /// was seen.
    pub proposer: Option<NodeId>,
}

pub struct Metrics {
    honest: Vec<bool>,
    pub kinds: [KindCounts; MsgKind::ALL.len()],
    pub drops: BTreeMap<DropReason, u64>,
    pub rejected: BTreeMap<(MsgKind, RejectReason), u64>,
    pub heights: Vec<u32>,
    pub finals: BTreeMap<u32, Final>,
    /// When and by which node each block was first proposed, by (height, hash); heights
    /// up to the last finalised one are dropped (a height is finalised once).
    proposed: BTreeMap<(u32, Hash32), (SimTime, NodeId)>,
    /// Last time an honest replica persisted a block or entered a new view (None: never).
    pub last_progress: Option<SimTime>,
    /// Per node, the last time its timer fired (None: never).
    pub last_timer: Vec<Option<SimTime>>,
    pub view_changes: u64,
    pub timers: u64,
    pub events: u64,
    pub crashes: u64,
    pub commits_signed: u64,
    /// Per height (the height a message is about): messages sent and bytes, by type.
    /// (Boxed: a map node then holds eleven small entries, not eleven 176-byte arrays.)
    pub per_height_kinds: BTreeMap<u32, Box<[(u64, u64); MsgKind::ALL.len()]>>,
    /// Transactions seen by some node and not yet in a finalised block: when the first
    /// node received each (the nearest the simulator has to its submission).
    tx_first_seen: FirstSeen,
    /// Per confirmed transaction: microseconds from its first arrival at a node to the
    /// first persistence by an honest node of a block that includes it.
    pub tx_confirm_us: Vec<u64>,
    /// Per scheduled change, by index: when it was submitted and at which node, and
    /// whether it was lost (submitted at a node that was down).
    pub change_submissions: BTreeMap<u32, ChangeSubmitted>,
}

/// A change transaction's submission, as its marker recorded it.
#[derive(Clone, Copy, Debug)]
pub struct ChangeSubmitted {
    pub time: SimTime,
    pub node: NodeId,
    pub lost: bool,
}

impl Metrics {
    pub fn new(honest: Vec<bool>) -> Metrics {
        Metrics {
            heights: vec![0; honest.len()],
            last_timer: vec![None; honest.len()],
            honest,
            kinds: [KindCounts::default(); MsgKind::ALL.len()],
            drops: BTreeMap::new(),
            rejected: BTreeMap::new(),
            finals: BTreeMap::new(),
            proposed: BTreeMap::new(),
            last_progress: None,
            view_changes: 0,
            timers: 0,
            events: 0,
            crashes: 0,
            commits_signed: 0,
            per_height_kinds: BTreeMap::new(),
            tx_first_seen: FirstSeen::default(),
            tx_confirm_us: Vec::new(),
            change_submissions: BTreeMap::new(),
        }
    }

    fn honest(&self, n: NodeId) -> bool {
        self.honest.get(n.idx()).copied().unwrap_or(false)
    }

    pub fn kind(&self, k: MsgKind) -> &KindCounts {
        &self.kinds[k.index()]
    }

    /// Adds the deliveries the engine handed over without a record
    /// ([`crate::engine::Engine::ignored_deliveries`]: per type, copies and duplicates among
    /// them) to the delivered and duplicated counts.
    pub fn add_ignored(&mut self, ignored: &[(u64, u64); MsgKind::ALL.len()]) {
        for (k, &(copies, dups)) in self.kinds.iter_mut().zip(ignored) {
            k.delivered += copies;
            k.duplicated += dups;
            k.ignored += copies;
        }
    }

    /// Adds the duplicates the flood relay dropped without a record
    /// ([`crate::engine::Engine::unrecorded_duplicate_drops`]) to the dropped counts, under
    /// the reason `duplicate`.
    pub fn add_unrecorded_duplicate_drops(&mut self, drops: &[u64; MsgKind::ALL.len()]) {
        for (k, &n) in self.kinds.iter_mut().zip(drops) {
            k.dropped += n;
            k.unrecorded_drops += n;
        }
        let total: u64 = drops.iter().sum();
        if total > 0 {
            *self.drops.entry(DropReason::Duplicate).or_insert(0) += total;
        }
    }
}

impl Observer for Metrics {
    #[inline(always)]
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        self.events += 1;
        match &rec.ev {
            Ev::Send { meta, .. } => {
                let k = &mut self.kinds[meta.kind.index()];
                k.sent += 1;
                k.bytes += meta.size as u64;
                // Almost every send is for the newest height counted: reach it down the
                // map's right edge instead of searching (a search per send was 0.8 % of a run).
                let per = match self.per_height_kinds.last_entry() {
                    Some(e) if *e.key() == meta.height => e.into_mut(),
                    _ => self
                        .per_height_kinds
                        .entry(meta.height)
                        .or_insert_with(|| Box::new([(0, 0); MsgKind::ALL.len()])),
                };
                per[meta.kind.index()].0 += 1;
                per[meta.kind.index()].1 += meta.size as u64;
            }
            Ev::Tx { tx, .. } => {
                self.tx_first_seen.note(*tx, rec.time);
            }
            Ev::Deliver { kind, dup, .. } => {
                let k = &mut self.kinds[kind.index()];
                k.delivered += 1;
                k.duplicated += *dup as u64;
            }
            Ev::Drop { kind, reason, .. } => {
                self.kinds[kind.index()].dropped += 1;
                *self.drops.entry(*reason).or_insert(0) += 1;
            }
            Ev::Timer { node, .. } => {
                self.timers += 1;
                if let Some(t) = self.last_timer.get_mut(node.idx()) {
                    *t = Some(rec.time);
                }
            }
            Ev::Crash { .. } => self.crashes += 1,
            Ev::Restart { node, amnesia: true } => {
                if let Some(h) = self.honest.get_mut(node.idx()) {
                    *h = false;
                }
            }
            Ev::Persist { node, block } => {
                let h = block.height();
                if let Some(x) = self.heights.get_mut(node.idx()) {
                    *x = (*x).max(h);
                }
                if self.honest(*node) {
                    self.last_progress = Some(rec.time);
                    for tx in &block.txs {
                        if let Some(seen) = self.tx_first_seen.remove(*tx) {
                            self.tx_confirm_us.push(rec.time.since(seen));
                        }
                    }
                    let proposed = self.proposed.get(&(h, block.hash)).copied();
                    if !self.finals.contains_key(&h) {
                        // An honest node persists heights in order: every lower height is
                        // final already, so no later lookup needs a proposal up to `h`.
                        self.proposed = self.proposed.split_off(&(h + 1, Hash32::ZERO));
                    }
                    self.finals.entry(h).or_insert(Final {
                        time: rec.time,
                        view: block.view,
                        block: block.hash,
                        node: *node,
                        primary: block.header.primary,
                        proposed: proposed.map(|p| p.0),
                        proposer: proposed.map(|p| p.1),
                    });
                }
            }
            Ev::Marker { marker: Marker::ChangeSubmitted { change, node }, .. } => {
                self.change_submissions.insert(*change, ChangeSubmitted { time: rec.time, node: *node, lost: false });
            }
            Ev::Marker { marker: Marker::ChangeLost { change, node }, .. } => {
                self.change_submissions.insert(*change, ChangeSubmitted { time: rec.time, node: *node, lost: true });
            }
            Ev::Note { node, note } => match note {
                Note::ViewChanged { view, .. } => {
                    if *view > 0 {
                        self.view_changes += 1;
                        if self.honest(*node) {
                            self.last_progress = Some(rec.time);
                        }
                    }
                }
                Note::Proposed { block, height, .. } => {
                    self.proposed.entry((*height, *block)).or_insert((rec.time, *node));
                }
                Note::Rejected { kind, reason } => *self.rejected.entry((*kind, *reason)).or_insert(0) += 1,
                Note::CommitSigned { .. } => self.commits_signed += 1,
                Note::ChangeViewSent { .. } => {}
            },
            _ => {}
        }
        None
    }
}

/// When each pending transaction was first seen. Transaction ids are numbered in order,
/// every node sees each of them, and they are confirmed roughly in order: so the ids from
/// the oldest pending one on sit in a deque indexed by id (a lookup is an index, not a
/// search of a tree), and an id far outside it goes to a map. Same answers as one map.
#[derive(Default)]
struct FirstSeen {
    /// The id of `recent[0]`.
    base: TxId,
    recent: std::collections::VecDeque<Option<SimTime>>,
    far: BTreeMap<TxId, SimTime>,
}

/// How far past the deque's start an id may be and still be kept in it.
const FIRST_SEEN_SPAN: u64 = 1 << 16;

impl FirstSeen {
    /// `tx` seen at `t`; the first sighting wins.
    fn note(&mut self, tx: TxId, t: SimTime) {
        if self.recent.is_empty() && self.far.is_empty() {
            self.base = tx;
        }
        match tx.checked_sub(self.base) {
            Some(i) if i < FIRST_SEEN_SPAN => {
                let i = i as usize;
                if !self.far.is_empty() && self.far.contains_key(&tx) {
                    return; // first seen when it was still far ahead
                }
                if i >= self.recent.len() {
                    self.recent.resize(i + 1, None);
                }
                self.recent[i].get_or_insert(t);
            }
            _ => {
                self.far.entry(tx).or_insert(t);
            }
        }
    }

    /// Forgets `tx`, returning when it was first seen (None if it was not pending).
    fn remove(&mut self, tx: TxId) -> Option<SimTime> {
        match tx.checked_sub(self.base) {
            Some(i) if (i as usize) < self.recent.len() && i < FIRST_SEEN_SPAN => {
                let seen = self.recent[i as usize].take();
                while let Some(None) = self.recent.front() {
                    self.recent.pop_front();
                    self.base += 1;
                }
                if seen.is_none() && !self.far.is_empty() { self.far.remove(&tx) } else { seen }
            }
            _ => self.far.remove(&tx),
        }
    }
}

/// Nearest-rank percentile summary of a sample, in milliseconds. An empty sample has no
/// percentiles: it is written as `null` ([`Summary::or_null`]) and shown as "none"
/// ([`Summary::describe`]), never as zeros a reader would take for measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Serializes an empty summary as `null` (`#[serde(serialize_with)]`).
    pub fn or_null<S: serde::Serializer>(s: &Summary, ser: S) -> Result<S::Ok, S::Error> {
        if s.count == 0 { ser.serialize_none() } else { ser.serialize_some(s) }
    }

    /// "p50 … p90 … p99 … max …" in milliseconds, or "none" for an empty sample.
    pub fn describe(&self) -> String {
        if self.count == 0 {
            "none".into()
        } else {
            format!("p50 {} p90 {} p99 {} max {}", self.p50, self.p90, self.p99, self.max)
        }
    }

    pub fn of_micros(mut xs: Vec<u64>) -> Summary {
        if xs.is_empty() {
            return Summary::default();
        }
        xs.sort_unstable();
        let ms = |x: u64| (x as f64 / 1000.0 * 1000.0).round() / 1000.0;
        let pick = |p: f64| {
            let rank = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
            ms(xs[rank - 1])
        };
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64 / 1000.0;
        Summary {
            count: xs.len(),
            mean: (mean * 1000.0).round() / 1000.0,
            p50: pick(0.50),
            p90: pick(0.90),
            p99: pick(0.99),
            max: ms(xs[xs.len() - 1]),
        }
    }
}

/// Nearest-rank quantiles at 0 %, 1 %, ..., 100 % of a sample of microseconds, in
/// milliseconds (empty for an empty sample). 0 % is the minimum.
pub fn quantiles_ms(xs: &[u64]) -> Vec<f64> {
    if xs.is_empty() {
        return Vec::new();
    }
    let mut xs = xs.to_vec();
    xs.sort_unstable();
    (0..=100)
        .map(|p| {
            let rank = ((p as f64 / 100.0 * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
            xs[rank - 1] as f64 / 1000.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Summary::of_micros((1..=100).map(|x| x * 1000).collect());
        assert_eq!((s.count, s.p50, s.p90, s.p99, s.max), (100, 50.0, 90.0, 99.0, 100.0));
        assert_eq!(s.mean, 50.5);
        let one = Summary::of_micros(vec![2500]);
        assert_eq!((one.p50, one.p99, one.max), (2.5, 2.5, 2.5));
        assert_eq!(Summary::of_micros(vec![]).count, 0);
    }

    #[test]
    fn an_empty_summary_is_null_and_none_not_zeros() {
        let empty = Summary::of_micros(vec![]);
        assert_eq!(Summary::or_null(&empty, serde_json::value::Serializer).unwrap(), serde_json::Value::Null);
        assert_eq!(empty.describe(), "none");
        let one = Summary::of_micros(vec![2500]);
        assert_eq!(Summary::or_null(&one, serde_json::value::Serializer).unwrap()["p50"], 2.5);
        assert_eq!(one.describe(), "p50 2.5 p90 2.5 p99 2.5 max 2.5");
    }

    #[test]
    fn quantiles_are_nearest_rank_from_the_minimum() {
        let q = quantiles_ms(&(1..=200).rev().map(|x| x * 1000).collect::<Vec<_>>());
        assert_eq!(q.len(), 101);
        // 0 % is the smallest value; p% of 200 values is the value of rank 2p.
        assert_eq!((q[0], q[1], q[50], q[99], q[100]), (1.0, 2.0, 100.0, 198.0, 200.0));
        assert!(quantiles_ms(&[]).is_empty());
    }

    #[test]
    fn first_seen_answers_as_a_map_does() {
        // Ids mostly in order, some repeated, some out of order, some far ahead or behind.
        let mut fast = FirstSeen::default();
        let mut map: BTreeMap<TxId, SimTime> = BTreeMap::new();
        let mut x: u64 = 12345;
        let mut next = 100u64;
        for step in 0..20_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let r = x >> 33;
            let id = match r % 10 {
                0 => next + (r >> 8) % 5,
                1 => next.saturating_sub((r >> 8) % 300),
                2 => next + FIRST_SEEN_SPAN + (r >> 8) % 3,
                3 => (r >> 8) % 50,
                _ => {
                    next += r % 2;
                    next
                }
            };
            if r.is_multiple_of(3) {
                assert_eq!(fast.remove(id), map.remove(&id), "remove {id} at step {step}");
            } else {
                let t = SimTime(step);
                fast.note(id, t);
                map.entry(id).or_insert(t);
            }
        }
        for id in 0..next + FIRST_SEEN_SPAN + 10 {
            assert_eq!(fast.remove(id), map.remove(&id), "final remove {id}");
        }
    }
}
