//! A message-sequence chart of a window of heights, and a per-node view/phase timeline of
//! the whole run, drawn as plain SVG.
//!
//! The chart is how a person reads an attack replay: one vertical lane per replica, time
//! downwards, an arrow per delivered message labelled with its type and view, a dashed
//! arrow ending in a cross for each dropped one, and marks on the lanes for timer expiries
//! (◷), rejected messages (!), views entered (v1), Commits signed (C), blocks persisted
//! (■ h5), crashes and restarts. Time runs down in event order: every distinct instant
//! gets a row, and a gap adds space growing with the logarithm of its length, so a
//! 15-second timeout and a 2-millisecond hop both stay readable; the left margin gives the
//! virtual time of the rows.
//!
//! [`Recorder`] observes the run and keeps what these charts need: the node-level events
//! the timeline draws (views entered, proposals, Commits signed, blocks persisted, crashes
//! and restarts) for the whole run, 16 bytes each, and every event — messages included —
//! for a bounded part of it (see [`Lane`]), since the sequence chart draws one window of
//! heights.

use crate::engine::time::SimTime;
use crate::engine::trace::{Ev, Halt, Observer, Rec};
use crate::protocol::{MsgKind, Note};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What a lane mark or an arrow is.
#[derive(Clone, Debug)]
pub enum What {
    Send {
        id: u64,
        to: Option<u32>,
        kind: MsgKind,
        height: u32,
        view: u8,
    },
    Deliver {
        id: u64,
        from: u32,
    },
    Drop {
        id: u64,
        from: u32,
        reason: &'static str,
    },
    Timer,
    /// `block`: the first four bytes of the block's hash, shown where two blocks were
    /// final at one height (a fork), so the chart tells the branches apart.
    Persist {
        height: u32,
        view: u8,
        block: u32,
    },
    ViewChanged {
        height: u32,
        view: u8,
    },
    Proposed {
        height: u32,
        view: u8,
    },
    CommitSigned {
        height: u32,
        view: u8,
    },
    ChangeViewSent {
        height: u32,
        view: u8,
    },
    Rejected {
        kind: MsgKind,
        reason: &'static str,
    },
    Crash,
    Restart {
        amnesia: bool,
    },
}

/// One recorded event at a node (the recipient, for deliveries and drops).
#[derive(Clone, Debug)]
pub struct Item {
    pub time: SimTime,
    pub node: u32,
    pub what: What,
}

/// A node-level event of the timeline, compact (16 bytes): kept for the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeItem {
    pub time: SimTime,
    pub height: u32,
    pub node: u16,
    pub kind: NodeKind,
    pub view: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Persist,
    ViewChanged,
    Proposed,
    CommitSigned,
    /// The node sent a ChangeView from `view` (asking for `view + 1`).
    ChangeViewSent,
    Crash,
    /// A restart that kept the node's saved state (its commit lock among it).
    Restart,
    /// A restart with amnesia: nothing kept.
    RestartAmnesic,
}

impl NodeItem {
    fn of(item: &Item) -> Option<NodeItem> {
        let (kind, height, view) = match item.what {
            What::Persist { height, view, .. } => (NodeKind::Persist, height, view),
            What::ViewChanged { height, view } => (NodeKind::ViewChanged, height, view),
            What::Proposed { height, view } => (NodeKind::Proposed, height, view),
            What::CommitSigned { height, view } => (NodeKind::CommitSigned, height, view),
            What::ChangeViewSent { height, view } => (NodeKind::ChangeViewSent, height, view),
            What::Crash => (NodeKind::Crash, 0, 0),
            What::Restart { amnesia: false } => (NodeKind::Restart, 0, 0),
            What::Restart { amnesia: true } => (NodeKind::RestartAmnesic, 0, 0),
            _ => return None,
        };
        Some(NodeItem { time: item.time, height, node: u16::try_from(item.node).ok()?, kind, view })
    }
}

/// Every event of a bounded part of the run: the first [`Lane::KEEP`] events; the most
/// recent `KEEP` before the chart's window may start (a ring, so a window late in a long
/// run is there at the end); and, once it may start, `KEEP` more. The window may start at
/// the first persistence of the height before the one asked for with `--sequence-heights`
/// or, by default, at the first view change. The default window is the first violation's
/// height, else the stall's, when the lane kept that height's events, else the first
/// height with a view change (`pages::default_sequence_heights`). A run of fewer than `KEEP` events keeps
/// them all, so its charts are exactly those of the whole run.
#[derive(Default)]
pub struct Lane {
    head: Vec<Item>,
    ring: std::collections::VecDeque<Item>,
    /// Events were dropped between `head` and `ring`.
    pub gap: bool,
    /// The window may have started: the ring keeps what it has and takes `KEEP` more.
    frozen: bool,
    /// Events after the frozen ring filled up were not kept.
    pub truncated: bool,
}

impl Lane {
    pub const KEEP: usize = 20_000;

    fn push(&mut self, item: Item) {
        // Capacity reserved exactly: growing by doubling would hold up to twice `KEEP`.
        if self.head.len() < Self::KEEP {
            if self.head.len() == self.head.capacity() {
                self.head.reserve_exact((2 * self.head.len()).clamp(64, Self::KEEP) - self.head.len());
            }
            self.head.push(item);
        } else if !self.frozen {
            if self.ring.len() == Self::KEEP {
                self.ring.pop_front();
                self.gap = true;
            } else if self.ring.len() == self.ring.capacity() {
                self.ring.reserve_exact((2 * self.ring.len()).clamp(64, Self::KEEP) - self.ring.len());
            }
            self.ring.push_back(item);
        } else if self.ring.len() < 2 * Self::KEEP {
            if self.ring.len() == self.ring.capacity() {
                self.ring.reserve_exact((2 * self.ring.len()).clamp(64, 2 * Self::KEEP) - self.ring.len());
            }
            self.ring.push_back(item);
        } else {
            self.truncated = true;
        }
    }

    /// The kept events in event order.
    pub fn items(&self) -> impl Iterator<Item = &Item> + Clone {
        self.head.iter().chain(self.ring.iter())
    }

    /// Whether every event in `[t0, t1]` was kept.
    pub fn covers(&self, (t0, t1): (SimTime, SimTime)) -> bool {
        if !self.gap && !self.truncated {
            return true;
        }
        // Strictly before the last kept event: events at that very instant may be missing.
        let before = |last: Option<&Item>| last.is_some_and(|i| t1 < i.time);
        // From the start: the head, and the ring too when nothing was dropped between them.
        let from_start =
            if self.gap { before(self.head.last()) } else { before(self.ring.back().or(self.head.last())) };
        let in_ring =
            self.gap && self.ring.front().is_some_and(|i| i.time < t0) && (!self.truncated || before(self.ring.back()));
        from_start || in_ring
    }
}

/// Keeps the events the sequence chart and the timeline draw.
#[derive(Default)]
pub struct Recorder {
    /// The timeline's events, for the whole run (once there are more than [`THIN_ABOVE`],
    /// the timeline is thinned, and a node entering view 0 while in view 0 — every new
    /// height — adds nothing to it and is not kept).
    pub nodes: Vec<NodeItem>,
    /// Per node: up, and the view it is in (as the timeline draws it).
    lanes: Vec<(bool, u8)>,
    /// Every event, for a bounded part of the run.
    pub lane: Lane,
    /// The heights the sequence chart will show, when known before the run.
    pub heights: Option<(u32, u32)>,
}

impl Recorder {
    pub fn new(heights: Option<(u32, u32)>) -> Recorder {
        Recorder { heights, ..Recorder::default() }
    }

    fn keep_node_item(&mut self, n: NodeItem) {
        let i = n.node as usize;
        if self.lanes.len() <= i {
            self.lanes.resize(i + 1, (true, 0));
        }
        let state = &mut self.lanes[i];
        let next = match n.kind {
            NodeKind::ViewChanged => (true, n.view),
            NodeKind::Crash => (false, state.1),
            NodeKind::Restart | NodeKind::RestartAmnesic => (true, 0),
            _ => *state,
        };
        let redundant = n.kind == NodeKind::ViewChanged && n.view == 0 && next == *state;
        *state = next;
        if redundant && self.nodes.len() > THIN_ABOVE {
            return;
        }
        // Grow by a quarter, not by doubling: this list is the recorder's largest.
        if self.nodes.len() == self.nodes.capacity() {
            self.nodes.reserve_exact((self.nodes.len() / 4).max(1024));
        }
        self.nodes.push(n);
    }

    /// Freezes the lane's ring when the chart's window may start here.
    fn window_may_start(&mut self, item: &Item) {
        let starts = match (self.heights, &item.what) {
            (Some((a, _)), What::Persist { height, .. }) => height + 1 >= a,
            (None, What::ViewChanged { view, .. }) => *view > 0,
            _ => false,
        };
        if starts {
            self.lane.frozen = true;
        }
    }
}

impl Observer for Recorder {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        let (node, what) = match &rec.ev {
            Ev::Send { id, from, to, meta, .. } => (
                from.0,
                What::Send { id: *id, to: to.map(|t| t.0), kind: meta.kind, height: meta.height, view: meta.view },
            ),
            Ev::Deliver { id, from, to, .. } => (to.0, What::Deliver { id: *id, from: from.0 }),
            Ev::Drop { id, from, to, reason, .. } => {
                (to.0, What::Drop { id: *id, from: from.0, reason: reason.name() })
            }
            Ev::Timer { node, .. } => (node.0, What::Timer),
            Ev::Persist { node, block } => {
                let prefix = u32::from_be_bytes([block.hash.0[0], block.hash.0[1], block.hash.0[2], block.hash.0[3]]);
                (node.0, What::Persist { height: block.height(), view: block.view, block: prefix })
            }
            Ev::Crash { node } => (node.0, What::Crash),
            Ev::Restart { node, amnesia } => (node.0, What::Restart { amnesia: *amnesia }),
            Ev::Note { node, note } => (
                node.0,
                match *note {
                    Note::ViewChanged { height, view } => What::ViewChanged { height, view },
                    Note::Proposed { height, view, .. } => What::Proposed { height, view },
                    Note::CommitSigned { height, view, .. } => What::CommitSigned { height, view },
                    Note::ChangeViewSent { height, view, .. } => What::ChangeViewSent { height, view },
                    Note::Rejected { kind, reason } => What::Rejected { kind, reason: reason.name() },
                },
            ),
            _ => return None,
        };
        let item = Item { time: rec.time, node, what };
        if let Some(n) = NodeItem::of(&item) {
            self.keep_node_item(n);
        }
        if !self.lane.frozen {
            self.window_may_start(&item);
        }
        self.lane.push(item);
        None
    }
}

/// The time window of heights `from..=to`: from the first persistence of `from - 1` (the
/// start for height 1) to the last persistence of `to` by any node (the end of the run if
/// no node persisted it).
pub fn window_of(items: &[NodeItem], (from, to): (u32, u32), end: SimTime) -> (SimTime, SimTime) {
    let persisted = |h: u32| items.iter().filter(move |i| i.kind == NodeKind::Persist && i.height == h);
    let t0 = if from <= 1 { SimTime::ZERO } else { persisted(from - 1).map(|i| i.time).min().unwrap_or(SimTime::ZERO) };
    let t1 = persisted(to).map(|i| i.time).max().unwrap_or(end);
    (t0, t1.max(t0))
}

fn kind_color(k: MsgKind) -> &'static str {
    match k {
        MsgKind::PrepareRequest => "#1f77b4",
        MsgKind::PrepareResponse => "#2ca02c",
        MsgKind::Commit => "#d62728",
        MsgKind::ChangeView => "#ff7f0e",
        MsgKind::RecoveryRequest => "#9467bd",
        MsgKind::RecoveryMessage => "#8c564b",
        MsgKind::Block => "#7f7f7f",
        _ => "#17becf",
    }
}

fn short(k: MsgKind) -> &'static str {
    match k {
        MsgKind::PrepareRequest => "PrepReq",
        MsgKind::PrepareResponse => "PrepResp",
        MsgKind::Commit => "Commit",
        MsgKind::ChangeView => "ChangeView",
        MsgKind::RecoveryRequest => "RecReq",
        MsgKind::RecoveryMessage => "RecMsg",
        MsgKind::Block => "Block",
        MsgKind::GetBlocks => "GetBlocks",
        MsgKind::GetData => "GetData",
        MsgKind::Transaction => "Tx",
        MsgKind::Other => "Other",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// How many events one chart draws at most (a stalled height can go on for minutes).
pub const MAX_EVENTS: usize = 1500;

/// The message-sequence chart of the events in `[t0, t1]`.
pub fn sequence_svg<'a>(
    title: &str,
    names: &[String],
    items: impl Iterator<Item = &'a Item> + Clone,
    (t0, t1): (SimTime, SimTime),
) -> String {
    let all: Vec<&Item> = items.clone().filter(|i| i.time >= t0 && i.time <= t1).collect();
    let truncated = all.len() > MAX_EVENTS;
    let shown: Vec<&Item> = all.into_iter().take(MAX_EVENTS).collect();
    // Send records by id, for arrows (a send before the window still draws its arrow).
    let sends: BTreeMap<u64, &Item> = items
        .clone()
        .filter(|i| i.time <= t1)
        .filter_map(|i| match i.what {
            What::Send { id, .. } => Some((id, i)),
            _ => None,
        })
        .collect();
    // Rows: one per distinct instant, spaced by the log of the gap.
    let top = 96.0;
    let mut row_y: BTreeMap<SimTime, f64> = BTreeMap::new();
    let mut y = top;
    let mut prev: Option<SimTime> = None;
    for i in &shown {
        if row_y.contains_key(&i.time) {
            continue;
        }
        if let Some(p) = prev {
            let gap_ms = i.time.since(p) as f64 / 1000.0;
            y += 14.0 + 10.0 * (1.0 + gap_ms).log10();
        }
        row_y.insert(i.time, y);
        prev = Some(i.time);
    }
    let lane_w = 150.0;
    let left = 110.0;
    let lane_x = |n: u32| left + lane_w * (n as f64 + 0.5);
    let width = left + lane_w * names.len() as f64 + 240.0;
    let height = y + 60.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    s.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="context-stroke"/></marker></defs>"##);
    let _ = write!(s, r#"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>"#);
    let _ =
        write!(s, r#"<text x="{:.0}" y="24" font-size="18" text-anchor="middle">{}</text>"#, width / 2.0, esc(title));
    let note = format!(
        "virtual time {:.3}–{:.3} s; {} events{}; time runs down in event order (gaps compressed)",
        t0.as_ms_f64() / 1000.0,
        t1.as_ms_f64() / 1000.0,
        shown.len(),
        if truncated { format!(" (first {MAX_EVENTS} shown)") } else { String::new() }
    );
    let _ =
        write!(s, r##"<text x="{:.0}" y="44" text-anchor="middle" fill="#555">{}</text>"##, width / 2.0, esc(&note));
    let _ = write!(s, r#"<text x="12" y="{:.0}" font-weight="bold">time (s)</text>"#, top - 20.0);
    for (n, name) in names.iter().enumerate() {
        let x = lane_x(n as u32);
        let _ = write!(
            s,
            r#"<text x="{x:.0}" y="{:.0}" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
            top - 20.0,
            esc(name)
        );
        let _ = write!(
            s,
            r##"<line x1="{x:.0}" y1="{:.0}" x2="{x:.0}" y2="{:.0}" stroke="#999" stroke-width="1"/>"##,
            top - 10.0,
            y + 20.0
        );
    }
    // Time labels on the left, at most one every 12 px.
    let mut last_label = f64::MIN;
    for (t, &ry) in &row_y {
        if ry - last_label >= 12.0 {
            let _ = write!(s, r##"<text x="12" y="{:.1}" fill="#555">{:.3}</text>"##, ry + 4.0, t.as_ms_f64() / 1000.0);
            last_label = ry;
        }
    }
    let mut labelled = std::collections::BTreeSet::new();
    // Node marks first (they say what a node did, and a message label can move or go —
    // its arrow keeps a tooltip): every label is placed where it covers no mark and no
    // label already placed.
    // Two marks of one node at one instant (a block persisted and the next height
    // entered) would be drawn over each other, so that "h5 v0" read as final: a mark that
    // would cover one already placed moves beside it — left of the lane (the persist label
    // runs right), then a line lower or higher — where nothing is.
    // Heights at which two blocks were final: their persist labels name the block.
    let mut blocks_at: BTreeMap<u32, std::collections::BTreeSet<u32>> = BTreeMap::new();
    for i in items.clone() {
        if let What::Persist { height, block, .. } = i.what {
            blocks_at.entry(height).or_default().insert(block);
        }
    }
    let forked: std::collections::BTreeSet<u32> =
        blocks_at.into_iter().filter(|(_, b)| b.len() > 1).map(|(h, _)| h).collect();
    let mut placed = Placed::default();
    let mut offsets = vec![(0.0, 0.0); shown.len()];
    for (k, i) in shown.iter().enumerate() {
        let (x, y) = (lane_x(i.node), row_y[&i.time]);
        let Some(b) = mark_box(i, x, y, &forked) else { continue };
        let moved = |(dx, dy): (f64, f64)| (b.0 + dx, b.1 + dx, b.2 + dy, b.3 + dy);
        let spot = [(0.0, 0.0), (-(b.1 - b.0) - 6.0, 0.0), (0.0, 14.0), (0.0, -14.0), (0.0, 28.0)]
            .into_iter()
            .find(|&d| !placed.hits(moved(d)))
            .unwrap_or((0.0, 0.0));
        offsets[k] = spot;
        placed.mark(Some(moved(spot)));
    }
    for (k, i) in shown.iter().enumerate() {
        let (dx, dy) = offsets[k];
        let ry = row_y[&i.time] + dy;
        let x = lane_x(i.node) + dx;
        match &i.what {
            What::Deliver { id, from } | What::Drop { id, from, .. } => {
                let Some(send) = sends.get(id) else { continue };
                let What::Send { kind, view, height, .. } = send.what else { continue };
                let sy = row_y.get(&send.time).copied().unwrap_or(top - 8.0);
                let (sx, c) = (lane_x(*from), kind_color(kind));
                let dropped = matches!(i.what, What::Drop { .. });
                let tip = match &i.what {
                    What::Drop { reason, .. } => format!(
                        "{} h{height} v{view} {} → {} dropped: {reason}",
                        short(kind),
                        names_of(names, *from),
                        names_of(names, i.node)
                    ),
                    _ => format!(
                        "{} h{height} v{view} {} → {}",
                        short(kind),
                        names_of(names, *from),
                        names_of(names, i.node)
                    ),
                };
                let end_y = if (ry - sy).abs() < 4.0 { sy + 6.0 } else { ry };
                if dropped {
                    let _ = write!(
                        s,
                        r#"<line x1="{sx:.1}" y1="{sy:.1}" x2="{x:.1}" y2="{end_y:.1}" stroke="{c}" stroke-width="1" stroke-dasharray="4 3" opacity="0.8"><title>{}</title></line>"#,
                        esc(&tip)
                    );
                    let _ = write!(
                        s,
                        r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#d62728" font-size="14" font-weight="bold">×<title>{}</title></text>"##,
                        end_y + 5.0,
                        esc(&tip)
                    );
                } else {
                    let _ = write!(
                        s,
                        r#"<line x1="{sx:.1}" y1="{sy:.1}" x2="{x:.1}" y2="{end_y:.1}" stroke="{c}" stroke-width="1.2" marker-end="url(#arrow)"><title>{}</title></line>"#,
                        esc(&tip)
                    );
                }
                if labelled.insert(*id) {
                    let dir = if x >= sx { 1.0 } else { -1.0 };
                    let text = format!("{} v{view}", short(kind));
                    // Above the arrow's start on its side of the lane, one line higher,
                    // then the same on the other side, then two lines up; else no label.
                    let spots = [(dir, 3.0), (dir, 13.0), (-dir, 3.0), (-dir, 13.0), (dir, 23.0)];
                    let spot = spots.into_iter().find_map(|(side, up)| {
                        let (lx, ly) = (sx + side * 6.0, sy - up);
                        let b = text_box(lx, ly, side < 0.0, text.chars().count(), 10.0);
                        (!placed.hits(b)).then_some((lx, ly, side, b))
                    });
                    if let Some((lx, ly, side, b)) = spot {
                        let anchor = if side > 0.0 { "start" } else { "end" };
                        placed.mark(Some(b));
                        let _ = write!(
                            s,
                            r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}" fill="{c}" font-size="10">{}</text>"#,
                            esc(&text)
                        );
                    }
                }
            }
            What::Send { .. } => {
                let _ = write!(s, r#"<circle cx="{x:.1}" cy="{ry:.1}" r="2.5" fill="black"/>"#);
            }
            What::Timer => {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="13" fill="#555">◷<title>{} timer fires at {:.3} s</title></text>"##,
                    x - 16.0,
                    ry + 4.0,
                    esc(names_of(names, i.node)),
                    i.time.as_ms_f64() / 1000.0
                );
            }
            What::Rejected { kind, reason } => {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="13" font-weight="bold" fill="#d62728">!<title>{} rejects {}: {reason}</title></text>"##,
                    x + 5.0,
                    ry + 4.0,
                    esc(names_of(names, i.node)),
                    short(*kind)
                );
            }
            What::ViewChanged { height, view } => {
                let _ = write!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="44" height="14" rx="3" fill="#fff3cd" stroke="#c90"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="10">h{height} v{view}</text>"##,
                    x - 22.0,
                    ry - 7.0,
                    ry + 4.0
                );
            }
            What::CommitSigned { .. } => {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="#d62728">C</text>"##,
                    x + 5.0,
                    ry + 4.0
                );
            }
            What::Proposed { .. } => {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="#1f77b4">P</text>"##,
                    x + 5.0,
                    ry + 4.0
                );
            }
            What::ChangeViewSent { view, .. } => {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#ff7f0e">CV→{}</text>"##,
                    x + 5.0,
                    ry + 4.0,
                    view.saturating_add(1)
                );
            }
            What::Persist { height, view, block } => {
                let label = persist_label(*height, *view, *block, &forked);
                let _ = write!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="#2ca02c"/><text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="#2ca02c">{label}</text>"##,
                    x - 5.0,
                    ry - 5.0,
                    x + 8.0,
                    ry + 4.0
                );
            }
            What::Crash => {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="12" font-weight="bold" fill="#d62728">crash</text>"##,
                    x + 5.0,
                    ry + 4.0
                );
            }
            What::Restart { .. } => {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="12" font-weight="bold" fill="#2ca02c">restart</text>"##,
                    x + 5.0,
                    ry + 4.0
                );
            }
        }
    }
    // Legend at the right.
    let lx = left + lane_w * names.len() as f64 + 20.0;
    let mut ly = top;
    let _ = write!(s, r#"<text x="{lx:.0}" y="{ly:.0}" font-weight="bold">legend</text>"#);
    for k in [
        MsgKind::PrepareRequest,
        MsgKind::PrepareResponse,
        MsgKind::Commit,
        MsgKind::ChangeView,
        MsgKind::RecoveryRequest,
        MsgKind::RecoveryMessage,
        MsgKind::Block,
    ] {
        ly += 18.0;
        let _ = write!(
            s,
            r#"<line x1="{lx:.0}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="{}" stroke-width="2"/><text x="{:.0}" y="{:.0}">{}</text>"#,
            ly - 4.0,
            lx + 24.0,
            ly - 4.0,
            kind_color(k),
            lx + 30.0,
            ly,
            short(k)
        );
    }
    for (sym, color, text) in [
        ("×", "#d62728", "dropped (dashed)"),
        ("!", "#d62728", "message rejected"),
        ("◷", "#555", "timer expiry"),
        ("P", "#1f77b4", "proposal made"),
        ("C", "#d62728", "Commit signed"),
        ("CV", "#ff7f0e", "ChangeView sent"),
        ("■", "#2ca02c", "block persisted"),
    ] {
        ly += 18.0;
        let _ = write!(
            s,
            r#"<text x="{lx:.0}" y="{ly:.0}" fill="{color}" font-weight="bold">{sym}</text><text x="{:.0}" y="{ly:.0}">{text}</text>"#,
            lx + 30.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A text's box (x0, x1, y0, y1), from its anchor point and baseline: about 0.6 em per
/// character, one em above the baseline and a little below it. Close enough to keep labels
/// apart; SVG text has no measured width without a font.
type TextBox = (f64, f64, f64, f64);

fn text_box(x: f64, baseline: f64, anchor_end: bool, chars: usize, font: f64) -> TextBox {
    let w = 0.6 * font * chars as f64;
    let x0 = if anchor_end { x - w } else { x };
    (x0, x0 + w, baseline - font, baseline + 2.0)
}

/// Boxes already drawn on the sequence chart.
#[derive(Default)]
struct Placed(Vec<TextBox>);

impl Placed {
    fn mark(&mut self, b: Option<TextBox>) {
        self.0.extend(b);
    }

    fn hits(&self, b: TextBox) -> bool {
        self.0.iter().any(|a| a.0 < b.1 && b.0 < a.1 && a.2 < b.3 && b.2 < a.3)
    }
}

/// Where the mark a node-level event draws at lane `x`, row `y` sits (as drawn below).
/// "h3 final (v0)", or "h3 final 4323edd5 (v0)" at a height where two blocks were final.
fn persist_label(height: u32, view: u8, block: u32, forked: &std::collections::BTreeSet<u32>) -> String {
    if forked.contains(&height) {
        format!("h{height} final {block:08x} (v{view})")
    } else {
        format!("h{height} final (v{view})")
    }
}

fn mark_box(i: &Item, x: f64, y: f64, forked: &std::collections::BTreeSet<u32>) -> Option<TextBox> {
    let text = |dx: f64, chars: usize, font: f64| Some(text_box(x + dx, y + 4.0, false, chars, font));
    match &i.what {
        What::Timer => text(-16.0, 1, 13.0),
        What::Rejected { .. } => text(5.0, 1, 13.0),
        What::CommitSigned { .. } | What::Proposed { .. } => text(5.0, 1, 11.0),
        What::ChangeViewSent { view, .. } => text(5.0, 3 + view.saturating_add(1).to_string().len(), 10.0),
        What::ViewChanged { .. } => Some((x - 22.0, x + 22.0, y - 7.0, y + 7.0)),
        What::Persist { height, view, block } => {
            let chars = persist_label(*height, *view, *block, forked).chars().count();
            Some((x - 5.0, x + 8.0 + 0.6 * 11.0 * chars as f64, y - 7.0, y + 6.0))
        }
        What::Crash => text(5.0, 5, 12.0),
        What::Restart { .. } => text(5.0, 7, 12.0),
        What::Send { .. } | What::Deliver { .. } | What::Drop { .. } => None,
    }
}

fn names_of(names: &[String], n: u32) -> &str {
    names.get(n as usize).map_or("?", |s| s.as_str())
}

/// Above this many events the timeline draws a long run thinned: consecutive stretches of
/// one view as one bar, and at most one mark of each kind per pixel and node (the picture
/// is the same; tooltips name the first event of each pixel). Below, every event is drawn.
pub const THIN_ABOVE: usize = 20_000;

/// The phases the timeline shades under a node's view bar: from its ChangeView until it
/// enters a view, persists a block or crashes (view changing: it asked to leave its view);
/// and from its Commit until it persists a block or crashes (commit-locked: it cannot ask
/// to leave the view any more). A stall is read off these stripes: the four-node commit
/// lock is two lanes locked and two view-changing to the end of the run. A node that
/// crashes while locked is locked again when it restarts with its saved state (the lock
/// survives a crash; an amnesic restart forgets it).
fn phases(items: &[&NodeItem], end: SimTime) -> Vec<(SimTime, SimTime, Phase)> {
    let mut out = Vec::new();
    let mut changing: Option<(SimTime, u8)> = None;
    let mut locked: Option<(SimTime, u32, u8)> = None;
    // The lock a crash interrupted: (height, view).
    let mut saved: Option<(u32, u8)> = None;
    for i in items {
        match i.kind {
            NodeKind::ChangeViewSent if changing.is_none() => changing = Some((i.time, i.view)),
            NodeKind::CommitSigned if locked.is_none() => locked = Some((i.time, i.height, i.view)),
            NodeKind::Restart => locked = saved.take().map(|(h, v)| (i.time, h, v)),
            NodeKind::RestartAmnesic | NodeKind::Persist => saved = None,
            _ => {}
        }
        let ends_change = matches!(
            i.kind,
            NodeKind::ViewChanged | NodeKind::Persist | NodeKind::Crash | NodeKind::Restart | NodeKind::RestartAmnesic
        );
        let ends_lock = matches!(i.kind, NodeKind::Persist | NodeKind::Crash);
        if ends_change && let Some((t, v)) = changing.take() {
            out.push((t, i.time, Phase::ViewChanging { from: v }));
        }
        if ends_lock && let Some((t, h, v)) = locked.take() {
            out.push((t, i.time, Phase::CommitLocked { height: h, view: v }));
            if i.kind == NodeKind::Crash {
                saved = Some((h, v));
            }
        }
    }
    if let Some((t, v)) = changing {
        out.push((t, end, Phase::ViewChanging { from: v }));
    }
    if let Some((t, h, v)) = locked {
        out.push((t, end, Phase::CommitLocked { height: h, view: v }));
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    ViewChanging { from: u8 },
    CommitLocked { height: u32, view: u8 },
}

/// Per node, over the whole run: a bar coloured by the view the node is in (restarting at
/// each height), stripes for its phase (view changing, commit-locked: [`phases`]), with
/// proposals, Commits and persisted blocks marked, and down time grey.
pub fn timeline_svg(title: &str, names: &[String], items: &[NodeItem], end: SimTime) -> String {
    let thin = items.len() > THIN_ABOVE;
    let left = 80.0;
    let plot_w = 900.0;
    let lane_h = 34.0;
    let top = 70.0;
    let end_ms = end.as_ms_f64().max(1.0);
    let x_of = |t: SimTime| left + plot_w * t.as_ms_f64() / end_ms;
    let width = left + plot_w + 220.0;
    let height = top + lane_h * names.len() as f64 + 70.0;
    const VIEW: [&str; 5] = ["#d9d9d9", "#ffbb78", "#c5b0d5", "#ff9896", "#9edae5"];
    // One pass over the run's events, grouped by node (a run of 100 nodes has millions).
    let mut by_node: Vec<Vec<&NodeItem>> = vec![Vec::new(); names.len()];
    for i in items {
        if let Some(v) = by_node.get_mut(i.node as usize) {
            v.push(i);
        }
    }
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11"><rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>"#
    );
    let _ =
        write!(s, r#"<text x="{:.0}" y="26" font-size="18" text-anchor="middle">{}</text>"#, width / 2.0, esc(title));
    s.push_str(
        r##"<defs><pattern id="changing" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff3e0"/><line x1="0" y1="0" x2="0" y2="6" stroke="#e6550d" stroke-width="2.5"/></pattern></defs>"##,
    );
    if thin {
        let _ = write!(
            s,
            r##"<text x="{:.0}" y="46" text-anchor="middle" fill="#555">a long run: stretches of one view drawn as one bar, at most one mark of a kind per pixel</text>"##,
            width / 2.0
        );
    }
    for (n, name) in names.iter().enumerate() {
        let y = top + lane_h * n as f64;
        let _ = write!(
            s,
            r#"<text x="{:.0}" y="{:.1}" text-anchor="end" font-weight="bold">{}</text>"#,
            left - 8.0,
            y + lane_h / 2.0 + 4.0,
            esc(name)
        );
        // View segments.
        let mut seg_start = SimTime::ZERO;
        let mut view = 0u8;
        let mut up = true;
        let mut segs: Vec<(SimTime, SimTime, Option<u8>)> = Vec::new();
        for i in by_node[n].iter() {
            let next = match i.kind {
                NodeKind::ViewChanged => Some((true, i.view)),
                NodeKind::Crash => Some((false, view)),
                NodeKind::Restart | NodeKind::RestartAmnesic => Some((true, 0)),
                _ => None,
            };
            if let Some((u, v)) = next {
                if thin && (u, v) == (up, view) {
                    continue;
                }
                segs.push((seg_start, i.time, up.then_some(view)));
                seg_start = i.time;
                view = v;
                up = u;
            }
        }
        segs.push((seg_start, end, up.then_some(view)));
        for (a, b, v) in segs {
            let (xa, xb) = (x_of(a), x_of(b));
            if xb <= xa {
                continue;
            }
            let fill = v.map_or("#555", |v| VIEW[(v as usize).min(VIEW.len() - 1)]);
            let _ = write!(
                s,
                r#"<rect x="{xa:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"><title>{}</title></rect>"#,
                y + 6.0,
                xb - xa,
                lane_h - 12.0,
                v.map_or("down".to_string(), |v| format!("view {v}"))
            );
        }
        // Phase stripes along the bottom of the bar (sub-pixel ones left out).
        for (a, b, phase) in phases(&by_node[n], end) {
            let (xa, xb) = (x_of(a), x_of(b));
            if xb - xa < 0.5 {
                continue;
            }
            let (fill, y0, h, title) = match phase {
                Phase::ViewChanging { from } => (
                    "url(#changing)",
                    y + lane_h / 2.0,
                    lane_h / 2.0 - 6.0,
                    format!("view changing: asked for view {} from view {from}", from as u16 + 1),
                ),
                Phase::CommitLocked { height, view } => {
                    ("#d62728", y + lane_h - 9.0, 3.0, format!("commit-locked: Commit sent for h{height} v{view}"))
                }
            };
            let _ = write!(
                s,
                r#"<rect x="{xa:.1}" y="{y0:.1}" width="{:.1}" height="{h:.1}" fill="{fill}"><title>{title} ({:.3}–{:.3} s)</title></rect>"#,
                xb - xa,
                a.as_ms_f64() / 1000.0,
                b.as_ms_f64() / 1000.0
            );
        }
        // The last pixel each kind of mark was drawn at (thinned runs).
        let mut drawn: [Option<i64>; 3] = [None; 3];
        for i in by_node[n].iter() {
            let x = x_of(i.time);
            let slot = match i.kind {
                NodeKind::Persist => 0,
                NodeKind::CommitSigned => 1,
                NodeKind::Proposed => 2,
                _ => continue,
            };
            if thin {
                let px = x.round() as i64;
                if drawn[slot] == Some(px) {
                    continue;
                }
                drawn[slot] = Some(px);
            }
            let (height, view) = (i.height, i.view);
            match i.kind {
                NodeKind::Persist => {
                    let _ = write!(
                        s,
                        r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#2ca02c" stroke-width="2"><title>h{height} persisted</title></line>"##,
                        y + 2.0,
                        y + lane_h - 2.0
                    );
                }
                NodeKind::CommitSigned => {
                    let _ = write!(
                        s,
                        r##"<circle cx="{x:.1}" cy="{:.1}" r="3" fill="#d62728"><title>Commit signed h{height} v{view}</title></circle>"##,
                        y + lane_h / 2.0
                    );
                }
                NodeKind::Proposed => {
                    let _ = write!(
                        s,
                        r##"<path d="M {:.1} {:.1} l 4 -7 l 4 7 z" fill="#1f77b4"><title>proposed h{height} v{view}</title></path>"##,
                        x - 4.0,
                        y + 12.0
                    );
                }
                _ => {}
            }
        }
    }
    // Time axis.
    let axis_y = top + lane_h * names.len() as f64 + 6.0;
    let _ = write!(
        s,
        r#"<line x1="{left:.0}" y1="{axis_y:.0}" x2="{:.0}" y2="{axis_y:.0}" stroke="black"/>"#,
        left + plot_w
    );
    let step = nice_step(end_ms / 1000.0 / 8.0);
    let mut t = 0.0;
    while t <= end_ms / 1000.0 + 1e-9 {
        let x = left + plot_w * t * 1000.0 / end_ms;
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" y1="{axis_y:.0}" x2="{x:.1}" y2="{:.0}" stroke="black"/><text x="{x:.1}" y="{:.0}" text-anchor="middle">{}</text>"#,
            axis_y + 5.0,
            axis_y + 18.0,
            super::fmt_num(t)
        );
        t += step;
    }
    let _ = write!(
        s,
        r#"<text x="{:.0}" y="{:.0}" text-anchor="middle">virtual time (s)</text>"#,
        left + plot_w / 2.0,
        axis_y + 36.0
    );
    // Legend.
    let lx = left + plot_w + 24.0;
    let mut ly = top;
    for (v, c) in VIEW.iter().enumerate() {
        let label = if v + 1 == VIEW.len() { format!("view ≥ {v}") } else { format!("view {v}") };
        let _ = write!(
            s,
            r#"<rect x="{lx:.0}" y="{:.0}" width="20" height="12" fill="{c}"/><text x="{:.0}" y="{ly:.0}">{label}</text>"#,
            ly - 10.0,
            lx + 28.0
        );
        ly += 18.0;
    }
    for (shape, text) in [
        (r##"<rect x="{X}" y="{Y}" width="20" height="12" fill="#555"/>"##, "down (crashed)"),
        (
            r##"<rect x="{X}" y="{Y}" width="20" height="12" fill="url(#changing)"/>"##,
            "view changing (ChangeView sent)",
        ),
        (r##"<rect x="{X}" y="{Y9}" width="20" height="3" fill="#d62728"/>"##, "commit-locked (Commit sent)"),
        (r##"<path d="M {X4} {Y12} l 4 -7 l 4 7 z" fill="#1f77b4"/>"##, "proposal"),
        (r##"<circle cx="{X10}" cy="{Y6}" r="3" fill="#d62728"/>"##, "Commit signed"),
        (r##"<rect x="{X9}" y="{Y}" width="2" height="12" fill="#2ca02c"/>"##, "block persisted"),
    ] {
        let shape = shape
            .replace("{X4}", &format!("{:.0}", lx + 6.0))
            .replace("{X10}", &format!("{:.0}", lx + 10.0))
            .replace("{X9}", &format!("{:.0}", lx + 9.0))
            .replace("{X}", &format!("{lx:.0}"))
            .replace("{Y12}", &format!("{:.0}", ly + 2.0))
            .replace("{Y6}", &format!("{:.0}", ly - 4.0))
            .replace("{Y9}", &format!("{:.0}", ly - 3.0))
            .replace("{Y}", &format!("{:.0}", ly - 10.0));
        let _ = write!(s, r#"{shape}<text x="{:.0}" y="{ly:.0}">{text}</text>"#, lx + 28.0);
        ly += 18.0;
    }
    s.push_str("</svg>\n");
    s
}

/// A 1-2-5 step near `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(t: u64) -> Item {
        Item { time: SimTime(t), node: 0, what: What::Timer }
    }

    #[test]
    fn a_short_run_keeps_every_event_and_a_long_one_its_start_and_its_end() {
        let k = Lane::KEEP as u64;
        let mut lane = Lane::default();
        (0..k).for_each(|t| lane.push(timer(t)));
        assert!(!lane.gap && lane.covers((SimTime(0), SimTime(k))));
        // Twice as many more: the first KEEP stay, then the last KEEP.
        (k..3 * k).for_each(|t| lane.push(timer(t)));
        let times: Vec<u64> = lane.items().map(|i| i.time.0).collect();
        assert_eq!(times.len(), 2 * Lane::KEEP);
        assert_eq!(
            (times[0], times[Lane::KEEP - 1], times[Lane::KEEP], times[times.len() - 1]),
            (0, k - 1, 2 * k, 3 * k - 1)
        );
        assert!(lane.gap);
        assert!(lane.covers((SimTime(10), SimTime(k - 2))), "inside the head");
        assert!(!lane.covers((SimTime(10), SimTime(k + 5))), "across the gap");
        assert!(lane.covers((SimTime(2 * k + 1), SimTime(5 * k))), "the end of the run");
        assert!(!lane.covers((SimTime(2 * k), SimTime(5 * k))), "the ring's first instant may be partial");
    }

    #[test]
    fn freezing_keeps_the_ring_and_k_more_then_stops() {
        let k = Lane::KEEP as u64;
        let mut lane = Lane::default();
        (0..2 * k).for_each(|t| lane.push(timer(t)));
        lane.frozen = true;
        (2 * k..5 * k).for_each(|t| lane.push(timer(t)));
        assert!(lane.truncated);
        let last = lane.items().last().map(|i| i.time.0);
        assert_eq!(last, Some(3 * k - 1), "KEEP before the freeze and KEEP after");
        assert!(lane.covers((SimTime(k + 1), SimTime(3 * k - 2))));
        assert!(!lane.covers((SimTime(k + 1), SimTime(3 * k))), "past the end of what was kept");
    }

    #[test]
    fn the_window_freezes_at_the_first_view_change_or_before_the_heights_asked_for() {
        let persist =
            |h| Item { time: SimTime(h as u64), node: 1, what: What::Persist { height: h, view: 0, block: 0 } };
        let mut r = Recorder::new(Some((5, 6)));
        r.window_may_start(&persist(3));
        assert!(!r.lane.frozen);
        r.window_may_start(&persist(4));
        assert!(r.lane.frozen, "height 5's window starts when height 4 is first persisted");
        let mut r = Recorder::new(None);
        r.window_may_start(&Item { time: SimTime(1), node: 0, what: What::ViewChanged { height: 2, view: 0 } });
        assert!(!r.lane.frozen, "view 0 starts every height");
        r.window_may_start(&Item { time: SimTime(2), node: 0, what: What::ViewChanged { height: 2, view: 1 } });
        assert!(r.lane.frozen);
    }

    #[test]
    fn a_long_timeline_is_thinned_to_a_mark_per_pixel() {
        let names = vec!["R0".to_string()];
        let item = |t: u64, height: u32, kind| NodeItem { time: SimTime(t), height, node: 0, kind, view: 0 };
        let run = |n: u32| -> Vec<NodeItem> {
            (1..=n)
                .flat_map(|h| {
                    let t = h as u64 * 1000;
                    [item(t, h, NodeKind::ViewChanged), item(t + 10, h, NodeKind::Persist)]
                })
                .collect()
        };
        let count = |svg: &str, what: &str| svg.matches(what).count();
        let short = run(100);
        let svg = timeline_svg("t", &names, &short, SimTime(101_000));
        assert_eq!(count(&svg, "persisted</title>"), 100, "every mark below the threshold");
        assert_eq!(count(&svg, "<title>view 0</title>"), 101, "a bar per height");
        let long = run(THIN_ABOVE as u32);
        let end = SimTime(THIN_ABOVE as u64 * 1000 + 1000);
        let svg = timeline_svg("t", &names, &long, end);
        let marks = count(&svg, "persisted</title>");
        assert!((850..=901).contains(&marks), "about one per pixel of 900: {marks}");
        assert_eq!(count(&svg, "<title>view 0</title>"), 1, "one stretch of view 0");
        assert!(svg.contains("at most one mark of a kind per pixel"));
    }
}

#[cfg(test)]
mod label_tests {
    use super::*;

    /// The reviewer's case: the leftmost lane sends a ChangeView to the right at the
    /// instant it notes its ChangeView ("CV→1" next to the lane), and a second message
    /// leaves at the same instant. Neither message label may cover the mark or the other
    /// label, and each distinct label is drawn once.
    #[test]
    fn message_labels_keep_clear_of_node_marks_and_of_each_other() {
        let names: Vec<String> = ["R0", "R1", "R2"].iter().map(|s| s.to_string()).collect();
        let t = SimTime(1000);
        let at = |time: SimTime, node: u32, what: What| Item { time, node, what };
        let later = SimTime(2000);
        let items = [
            at(t, 0, What::ChangeViewSent { height: 1, view: 0 }),
            at(t, 0, What::Send { id: 1, to: None, kind: MsgKind::ChangeView, height: 1, view: 0 }),
            at(t, 0, What::Send { id: 2, to: None, kind: MsgKind::RecoveryRequest, height: 1, view: 0 }),
            at(later, 1, What::Deliver { id: 1, from: 0 }),
            at(later, 2, What::Deliver { id: 2, from: 0 }),
        ];
        let svg = sequence_svg("t", &names, items.iter(), (t, later));
        // (x, y, text) of every text element with font-size 10 (labels and the CV mark).
        let texts: Vec<(f64, f64, bool, String)> = svg
            .split("<text ")
            .skip(1)
            .map(|t| t.split("</text>").next().unwrap())
            .filter(|t| t.contains(r#"font-size="10""#))
            .map(|t| {
                let num = |key: &str| -> f64 {
                    let v = t.split(key).nth(1).unwrap().split('"').next().unwrap();
                    v.parse().unwrap()
                };
                let body = t.split('>').nth(1).unwrap().split('<').next().unwrap().to_string();
                (num("x=\""), num("y=\""), t.contains(r#"text-anchor="end""#), body)
            })
            .collect();
        let bodies: Vec<&str> = texts.iter().map(|t| t.3.as_str()).collect();
        assert!(bodies.contains(&"CV→1"), "{bodies:?}");
        assert!(bodies.contains(&"ChangeView v0") && bodies.contains(&"RecReq v0"), "{bodies:?}");
        let boxes: Vec<TextBox> =
            texts.iter().map(|(x, y, end, body)| text_box(*x, *y, *end, body.chars().count(), 10.0)).collect();
        for (a, ba) in boxes.iter().enumerate() {
            for (b, bb) in boxes.iter().enumerate().skip(a + 1) {
                let overlap = ba.0 < bb.1 && bb.0 < ba.1 && ba.2 < bb.3 && bb.2 < ba.3;
                assert!(!overlap, "{:?} covers {:?}", texts[a], texts[b]);
            }
        }
    }
}

#[cfg(test)]
mod phase_tests {
    use super::*;

    /// The four-node commit lock as the timeline shows it: R0 view-changing from its
    /// ChangeView to the end of the run, R1 commit-locked from its Commit to the end, R2
    /// view-changing only until it enters view 1, and R3 locked only until it persists.
    #[test]
    fn the_timeline_shades_view_changing_and_commit_locked_stretches() {
        let names: Vec<String> = ["R0", "R1", "R2", "R3"].iter().map(|s| s.to_string()).collect();
        let at = |ms: u64, node: u16, kind, view| NodeItem { time: SimTime(ms * 1000), height: 1, node, kind, view };
        let items = vec![
            at(0, 0, NodeKind::ViewChanged, 0),
            at(0, 1, NodeKind::ViewChanged, 0),
            at(0, 2, NodeKind::ViewChanged, 0),
            at(0, 3, NodeKind::ViewChanged, 0),
            at(5_000, 1, NodeKind::CommitSigned, 0),
            at(5_000, 3, NodeKind::CommitSigned, 0),
            at(10_000, 0, NodeKind::ChangeViewSent, 0),
            at(10_000, 2, NodeKind::ChangeViewSent, 0),
            at(20_000, 0, NodeKind::ChangeViewSent, 0),
            at(30_000, 2, NodeKind::ViewChanged, 1),
            at(40_000, 3, NodeKind::Persist, 0),
            // R1 crashes locked and comes back with its saved state: locked again.
            at(50_000, 1, NodeKind::Crash, 0),
            at(60_000, 1, NodeKind::Restart, 0),
        ];
        let svg = timeline_svg("t", &names, &items, SimTime(100_000_000));
        let titles: Vec<&str> = svg
            .split("<title>")
            .skip(1)
            .filter_map(|t| t.split("</title>").next())
            .filter(|t| t.contains(" s)"))
            .collect();
        assert_eq!(
            titles,
            [
                "view changing: asked for view 1 from view 0 (10.000–100.000 s)",
                "commit-locked: Commit sent for h1 v0 (5.000–50.000 s)",
                "commit-locked: Commit sent for h1 v0 (60.000–100.000 s)",
                "view changing: asked for view 1 from view 0 (10.000–30.000 s)",
                "commit-locked: Commit sent for h1 v0 (5.000–40.000 s)",
            ]
        );
        assert!(
            svg.contains("view changing (ChangeView sent)") && svg.contains("commit-locked (Commit sent)"),
            "legend"
        );
    }
}

#[cfg(test)]
mod recorder_tests {
    use super::*;

    #[test]
    fn a_long_run_keeps_no_view_0_entries_that_change_nothing() {
        let item = |t: u64, kind, view| NodeItem { time: SimTime(t), height: t as u32, node: 0, kind, view };
        let mut r = Recorder::default();
        let n = THIN_ABOVE as u64 + 100;
        for t in 0..n {
            r.keep_node_item(item(2 * t, NodeKind::ViewChanged, 0));
            r.keep_node_item(item(2 * t + 1, NodeKind::Persist, 0));
        }
        // Every event until there are more than THIN_ABOVE (an odd count: the next is a
        // persist); after that, only the persists.
        let kept = r.nodes.len();
        let rest = 2 * n as usize - (THIN_ABOVE + 1);
        assert_eq!(kept, THIN_ABOVE + 1 + rest.div_ceil(2));
        // A view change, a crash and a restart change the lane: kept.
        r.keep_node_item(item(2 * n, NodeKind::ViewChanged, 1));
        r.keep_node_item(item(2 * n + 1, NodeKind::ViewChanged, 0));
        r.keep_node_item(item(2 * n + 2, NodeKind::Crash, 0));
        r.keep_node_item(item(2 * n + 3, NodeKind::Restart, 0));
        r.keep_node_item(item(2 * n + 4, NodeKind::ViewChanged, 0));
        assert_eq!(r.nodes.len(), kept + 4);
        // The thinned timeline of what was kept is that of every event.
        let mut all = Vec::new();
        for t in 0..n {
            all.push(item(2 * t, NodeKind::ViewChanged, 0));
            all.push(item(2 * t + 1, NodeKind::Persist, 0));
        }
        all.extend(r.nodes[kept..].iter().copied());
        all.push(item(2 * n + 4, NodeKind::ViewChanged, 0));
        let names = vec!["R0".to_string()];
        let end = SimTime(2 * n + 10);
        assert_eq!(timeline_svg("t", &names, &r.nodes, end), timeline_svg("t", &names, &all, end));
    }
}
