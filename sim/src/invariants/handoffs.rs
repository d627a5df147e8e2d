//! L2: hand-off liveness, and the list of every hand-off the run made.
//!
//! A hand-off is a height whose set (by the checkers' own schedule model, along the chain
//! honest replicas finalised first) differs from the set of the height before. Its latency
//! is the time from the previous height's finalisation to its own: how long the new set
//! took to produce its first block. L2 requires it within the liveness bound; a hand-off
//! still open at the end of the run past its bound fails L2 too. Where the scenario
//! declares GST, only hand-offs that start after GST are held to the bound (before it the
//! network may legitimately stop everything).

use super::CheckContext;
use super::InvariantId;
use super::custody_model::ScheduleModel;
use super::safety::Found;
use crate::engine::time::SimTime;
use crate::engine::trace::{Ev, Rec};
use crate::protocol::crypto::{Hash32, KeyId};
use serde::Serialize;
use std::collections::BTreeSet;

/// One hand-off of the run.
#[derive(Clone, Debug, Serialize)]
pub struct Handoff {
    /// The first height of the new set.
    pub height: u32,
    pub old: Vec<KeyId>,
    pub new: Vec<KeyId>,
    /// When the previous height was final (ms).
    pub from_ms: f64,
    /// When the first height of the new set was final (ms; None: never).
    pub final_ms: Option<f64>,
    /// final − from, in ms.
    pub latency_ms: Option<f64>,
}

pub struct Handoffs {
    honest: Vec<bool>,
    gst: Option<SimTime>,
    bound: SimTime,
    /// The last height first finalised by an honest replica: (height, block, time).
    last: (u32, Hash32, SimTime),
    pub list: Vec<Handoff>,
    reported_open: bool,
}

impl Handoffs {
    pub fn new(cx: &CheckContext) -> Handoffs {
        Handoffs {
            honest: cx.honest.clone(),
            gst: cx.gst,
            bound: cx.bound,
            // The chain before the run counts as final at time zero.
            last: cx.prefix.last().map_or((0, cx.genesis, SimTime::ZERO), |b| (b.height(), b.hash, SimTime::ZERO)),
            list: Vec::new(),
            reported_open: false,
        }
    }

    /// The tip of the chain honest replicas finalised first: (height, block).
    pub fn honest_tip(&self) -> (u32, Hash32) {
        (self.last.0, self.last.1)
    }

    fn keys(set: &BTreeSet<KeyId>) -> Vec<KeyId> {
        set.iter().copied().collect()
    }

    /// Held to the bound: without GST always, with GST when the hand-off starts after it.
    fn checked(&self, from: SimTime) -> bool {
        self.gst.is_none_or(|g| from >= g)
    }

    pub fn observe(&mut self, rec: &Rec, model: &ScheduleModel) -> Vec<Found> {
        if let Ev::Restart { node, amnesia: true } = rec.ev
            && let Some(h) = self.honest.get_mut(node.idx())
        {
            *h = false;
        }
        let Ev::Persist { node, block } = &rec.ev else {
            return Vec::new();
        };
        let h = block.height();
        // The chain honest replicas finalised first: the next height, on the last block.
        if !self.honest.get(node.idx()).copied().unwrap_or(false)
            || h != self.last.0 + 1
            || block.header.prev_hash != self.last.1
        {
            return Vec::new();
        }
        let (_, parent, from) = self.last;
        self.last = (h, block.hash, rec.time);
        let (Some(old), Some(new)) = (model.set_after(&parent, h - 1), model.set_after(&parent, h)) else {
            return Vec::new();
        };
        if h == 1 || old == new {
            return Vec::new();
        }
        let latency = rec.time.since(from);
        self.list.push(Handoff {
            height: h,
            old: Self::keys(&old),
            new: Self::keys(&new),
            from_ms: from.as_ms_f64(),
            final_ms: Some(rec.time.as_ms_f64()),
            latency_ms: Some(latency as f64 / 1000.0),
        });
        if self.checked(from) && latency > self.bound.0 {
            return vec![Found {
                id: InvariantId::L2,
                height: h,
                nodes: vec![*node],
                blocks: vec![block.hash],
                detail: format!(
                    "the new set ({} validators) finalised its first height {h} {} ms after height {}, beyond the bound of {} ms",
                    new.len(),
                    latency / 1000,
                    h - 1,
                    self.bound.0 / 1000
                ),
            }];
        }
        Vec::new()
    }

    /// At the end of the run: a hand-off whose first height is still open past its bound.
    pub fn finish(&mut self, end: SimTime, model: &ScheduleModel) -> Vec<Found> {
        let (tip, parent, from) = self.last;
        let h = tip + 1;
        let (Some(old), Some(new)) = (model.set_after(&parent, tip), model.set_after(&parent, h)) else {
            return Vec::new();
        };
        if old == new || self.reported_open {
            return Vec::new();
        }
        self.list.push(Handoff {
            height: h,
            old: Self::keys(&old),
            new: Self::keys(&new),
            from_ms: from.as_ms_f64(),
            final_ms: None,
            latency_ms: None,
        });
        if !self.checked(from) || end.since(from) <= self.bound.0 {
            return Vec::new();
        }
        self.reported_open = true;
        vec![Found {
            id: InvariantId::L2,
            height: h,
            nodes: Vec::new(),
            blocks: Vec::new(),
            detail: format!(
                "the new set ({} validators) has not finalised its first height {h} by the end, {} ms after height {tip} (bound {} ms)",
                new.len(),
                end.since(from) / 1000,
                self.bound.0 / 1000
            ),
        }]
    }
}
