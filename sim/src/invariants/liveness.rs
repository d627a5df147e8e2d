//! L1: bounded liveness after GST.
//!
//! Where a scenario declares the network synchronous from GST on (and keeps faults within
//! F), every height must be final — first persisted by an honest replica — within `bound`
//! of max(GST, the previous height's finalisation), and in a view no higher than
//! `max_views`. A run that ends with a height open longer than the bound fails L1 too.

use super::CheckContext;
use super::InvariantId;
use super::safety::Found;
use crate::engine::time::SimTime;
use crate::engine::trace::{Ev, Rec};

pub struct Liveness {
    gst: Option<SimTime>,
    bound: u64,
    max_views: u8,
    honest: Vec<bool>,
    /// Height last finalised and when.
    last: (u32, SimTime),
    reported_open: bool,
}

impl Liveness {
    pub fn new(cx: &CheckContext) -> Liveness {
        Liveness {
            gst: cx.gst,
            bound: cx.bound.0,
            max_views: cx.max_views,
            honest: cx.honest.clone(),
            // The chain before the run counts as final at time zero.
            last: (cx.prefix.last().map_or(0, |b| b.height()), SimTime::ZERO),
            reported_open: false,
        }
    }

    pub fn enabled(&self) -> bool {
        self.gst.is_some()
    }

    fn deadline(&self) -> Option<SimTime> {
        self.gst.map(|g| g.max(self.last.1).plus(self.bound))
    }

    pub fn observe(&mut self, rec: &Rec) -> Vec<Found> {
        if let Ev::Restart { node, amnesia: true } = rec.ev
            && let Some(h) = self.honest.get_mut(node.idx())
        {
            *h = false;
        }
        let Ev::Persist { node, block } = &rec.ev else {
            return Vec::new();
        };
        if !self.honest.get(node.idx()).copied().unwrap_or(false) || block.height() <= self.last.0 {
            return Vec::new();
        }
        let mut found = Vec::new();
        let h = block.height();
        if let (Some(deadline), Some(gst)) = (self.deadline(), self.gst) {
            if rec.time > deadline {
                found.push(Found {
                    id: InvariantId::L1,
                    height: h,
                    nodes: vec![*node],
                    blocks: vec![block.hash],
                    detail: format!(
                        "height {h} final at {} ms, after the bound ({} ms past max(GST, previous height))",
                        rec.time.as_ms_f64(),
                        self.bound as f64 / 1000.0
                    ),
                });
            } else if rec.time >= gst && block.view > self.max_views {
                found.push(Found {
                    id: InvariantId::L1,
                    height: h,
                    nodes: vec![*node],
                    blocks: vec![block.hash],
                    detail: format!("height {h} final in view {} > max_views {}", block.view, self.max_views),
                });
            }
        }
        self.last = (h, rec.time);
        found
    }

    /// At the end of the run: the open height is late if its deadline has passed.
    pub fn finish(&mut self, end: SimTime) -> Vec<Found> {
        match self.deadline() {
            Some(d) if end > d && !self.reported_open => {
                self.reported_open = true;
                vec![Found {
                    id: InvariantId::L1,
                    height: self.last.0 + 1,
                    nodes: Vec::new(),
                    blocks: Vec::new(),
                    detail: format!(
                        "height {} not final by the end ({} ms); the bound expired at {} ms",
                        self.last.0 + 1,
                        end.as_ms_f64(),
                        d.as_ms_f64()
                    ),
                }]
            }
            _ => Vec::new(),
        }
    }
}
