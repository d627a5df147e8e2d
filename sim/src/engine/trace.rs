//! The canonical event stream of a run, and the observers that consume it.
//!
//! Everything observable that happens in a run is one [`Rec`]: a send, a delivery, a drop,
//! a timer firing, a persisted block, a protocol note, a crash. The engine hands each record
//! to an [`Observer`]: the trace digest, the metrics, the invariant checkers and the JSON
//! trace writer are all observers of the same stream, so what the checkers judge is exactly
//! what the digest pins and what the trace file shows.

use super::time::SimTime;
use crate::net::DropReason;
use crate::protocol::block::{Block, TxId};
use crate::protocol::crypto::{Hash32, TraceHasher};
use crate::protocol::{MsgKind, MsgMeta, NodeId, Note, RejectReason};
use serde::Serialize;
use std::rc::Rc;

/// One event of the run. Owns its data (cheaply: `Rc`s and small copies) so checkers can
/// keep a window of recent records to explain a violation.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "ev", rename_all = "kebab-case")]
pub enum Ev {
    Start {
        node: NodeId,
    },
    /// A replica sent a message (`to: None` = broadcast). `id` names it in later records.
    Send {
        id: u64,
        from: NodeId,
        to: Option<NodeId>,
        #[serde(flatten)]
        meta: MsgMeta,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<serde_json::Value>,
    },
    Deliver {
        id: u64,
        from: NodeId,
        to: NodeId,
        kind: MsgKind,
        dup: bool,
    },
    Drop {
        id: u64,
        from: NodeId,
        to: NodeId,
        kind: MsgKind,
        reason: DropReason,
    },
    Timer {
        node: NodeId,
        tag: u64,
        forced: bool,
    },
    Persist {
        node: NodeId,
        #[serde(serialize_with = "ser_block")]
        block: Rc<Block>,
    },
    Note {
        node: NodeId,
        #[serde(flatten)]
        note: Note,
    },
    Crash {
        node: NodeId,
    },
    Restart {
        node: NodeId,
        amnesia: bool,
    },
    Tx {
        node: NodeId,
        tx: TxId,
    },
    /// A scheduled fault or phase boundary (partition start, GST, ...). The digest hashes
    /// only `marker`; `text` says the same in words for readers (trace file, narration)
    /// and can be reworded without moving a pinned digest.
    Marker {
        #[serde(flatten)]
        marker: Marker,
        text: Rc<str>,
    },
}

/// What a [`Ev::Marker`] marks, as the digest records it: indices and ids, no text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "marker", rename_all = "kebab-case")]
pub enum Marker {
    /// Partition `partition` (its index in `network.partitions`) starts.
    PartitionStarts { partition: u32 },
    /// Partition `partition` heals.
    PartitionHeals { partition: u32 },
    /// Global stabilisation time: the network is synchronous from here on.
    Gst,
    /// Change transaction `change` (its index in `changes`) is submitted at `node`.
    ChangeSubmitted { change: u32, node: NodeId },
    /// Change transaction `change` was to be submitted at `node`, which is down: the
    /// submission fails (a client's call to a stopped node), and the change is lost.
    ChangeLost { change: u32, node: NodeId },
    /// The delivery of message `id` from `from` to `to` is held by a rule until `node` sends
    /// a message of type `kind` (any type if None).
    Held { id: u64, from: NodeId, to: NodeId, node: NodeId, kind: Option<MsgKind> },
    /// `node`'s protocol timer expiry is postponed by timer control to `until_us` (virtual
    /// time in microseconds).
    TimerSuppressed { node: NodeId, until_us: u64 },
}

/// A persisted block in a trace line: its height, hash, view and certificate size.
fn ser_block<S: serde::Serializer>(b: &Rc<Block>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Block", 5)?;
    st.serialize_field("height", &b.height())?;
    st.serialize_field("hash", &b.hash)?;
    st.serialize_field("prev", &b.header.prev_hash)?;
    st.serialize_field("view", &b.view)?;
    st.serialize_field("signatures", &b.certificate.len())?;
    st.end()
}

/// An event with its virtual time and its position in the stream.
#[derive(Debug, Clone, Serialize)]
pub struct Rec {
    pub step: u64,
    #[serde(serialize_with = "ser_time")]
    pub time: SimTime,
    #[serde(flatten)]
    pub ev: Ev,
}

fn ser_time<S: serde::Serializer>(t: &SimTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(t.0)
}

/// The most recent records of a run, kept by the engine: each record is moved into the
/// slot of the oldest and the observers see it there, so keeping the last few costs one
/// move per event instead of a clone. The invariant checkers read them when they report a
/// violation (`invariants::Checkers::share_window`); shared through an `Rc<RefCell<_>>` so
/// that the `Observer` interface stays as it is.
#[derive(Debug, Default)]
pub struct RecentRecords {
    cap: usize,
    recs: Vec<Rec>,
    /// The slot the next record replaces once full (= the oldest record).
    next: usize,
}

impl RecentRecords {
    pub fn new(cap: usize) -> RecentRecords {
        RecentRecords { cap: cap.max(1), recs: Vec::with_capacity(cap.max(1)), next: 0 }
    }

    /// Keeps `rec` in place of the oldest record; returns its slot.
    #[inline(always)]
    pub fn put(&mut self, rec: Rec) -> usize {
        if self.recs.len() < self.cap {
            self.recs.push(rec);
            return self.recs.len() - 1;
        }
        let i = self.next;
        self.next = if i + 1 == self.cap { 0 } else { i + 1 };
        self.recs[i] = rec;
        i
    }

    /// The record in slot `i` (as [`put`](Self::put) returned it).
    pub fn get(&self, i: usize) -> &Rec {
        &self.recs[i]
    }

    /// The newest `k` records (fewer if fewer were kept), oldest first.
    pub fn last(&self, k: usize) -> Vec<Rec> {
        let (newer, older) = self.recs.split_at(self.next);
        let all = older.len() + newer.len();
        older.iter().chain(newer).skip(all.saturating_sub(k)).cloned().collect()
    }
}

/// Why an observer wants the run to stop now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt(pub String);

pub trait Observer {
    fn observe(&mut self, rec: &Rec) -> Option<Halt>;

    /// A coverage mark counted at `time` (`Action::Mark`, or one the engine counts itself;
    /// `node` None for a mark of no node). Marks are not records: they reach no digest,
    /// no checker and no metric, and an observer that ignores them (the default) sees the
    /// same run. The narration shows them, so a reader sees each protocol path and attack
    /// step where it is taken.
    #[inline]
    fn mark(&mut self, _time: SimTime, _node: Option<NodeId>, _name: &'static str) {}
}

/// Hashes the canonical encoding of every record. Two runs have the same digest iff they
/// produced the same event stream (same events, same order, same times, same contents).
///
/// The encoding is a compact structured record per event: the time, a numeric code for the
/// event's kind, node indices, message and transaction ids, heights, views, hashes, and
/// numeric codes for message types, drop and rejection reasons and markers (the code
/// tables below, fixed by explicit matches so reordering an enum moves nothing). No display
/// text reaches it — not marker text, node names, rule names or reason names — so rewording
/// a message never moves a pinned digest. Coverage marks (`Action::Mark`) and the
/// narration are not events and are not hashed at all. Message contents reach it through
/// `MsgMeta::hash`, the hash of the message's canonical encoding.
///
/// The hash is MurmurHash3_x64_128, widened ([`TraceHasher`]; `protocol::crypto` says why
/// a non-cryptographic hash is enough): a digest compares runs of this program, and two
/// different event streams have the same digest with probability about 2⁻¹²⁸ — nobody
/// crafts event streams to collide. It was BLAKE3, which cost more instructions per byte.
///
/// The records are encoded into a buffer that reaches the hasher in pieces of
/// [`DIGEST_BATCH`] bytes, not one record (20–70 bytes) at a time: the hasher then runs its
/// 16-byte block loop over the whole batch instead of first completing a partial block per
/// record. The digest is the hash of the concatenated records either way, so batching
/// moves no digest.
pub struct Digest {
    hasher: TraceHasher,
    /// Encoded records not hashed yet: `buf[..len]`.
    buf: Box<[u8; DIGEST_BATCH + REC_MAX]>,
    len: usize,
    pub events: u64,
}

/// How many encoded bytes the digest collects before hashing them: a multiple of the
/// hasher's 16-byte block, small enough to stay in the L1 cache.
const DIGEST_BATCH: usize = 4 * 1024;

/// An upper bound on one record's encoding (the longest, a Send, is 69 bytes).
const REC_MAX: usize = 128;

impl Default for Digest {
    fn default() -> Self {
        Digest { hasher: TraceHasher::default(), buf: Box::new([0; DIGEST_BATCH + REC_MAX]), len: 0, events: 0 }
    }
}

/// Writes one record's fields at the end of the digest's buffer. The buffer always has
/// [`REC_MAX`] bytes free, and the sink sees exactly those as a fixed-size array: each
/// arm of the encoder writes its fields at offsets known when compiling, so the bounds
/// checks fold away and a field is one store (a Send record has eleven fields).
struct Sink<'a> {
    buf: &'a mut [u8; REC_MAX],
    n: usize,
}

impl Sink<'_> {
    #[inline(always)]
    fn put<const K: usize>(&mut self, x: [u8; K]) -> &mut Self {
        self.buf[self.n..self.n + K].copy_from_slice(&x);
        self.n += K;
        self
    }
    #[inline(always)]
    fn u8(&mut self, x: u8) -> &mut Self {
        self.put([x])
    }
    #[inline(always)]
    fn u16(&mut self, x: u16) -> &mut Self {
        self.put(x.to_le_bytes())
    }
    #[inline(always)]
    fn u32(&mut self, x: u32) -> &mut Self {
        self.put(x.to_le_bytes())
    }
    #[inline(always)]
    fn u64(&mut self, x: u64) -> &mut Self {
        self.put(x.to_le_bytes())
    }
    #[inline(always)]
    fn hash(&mut self, h: &Hash32) -> &mut Self {
        self.put(h.0)
    }
}

impl Digest {
    pub fn finish(&self) -> Hash32 {
        let mut h = self.hasher.clone();
        h.update(&self.buf[..self.len]);
        h.finish()
    }

    #[inline(always)]
    fn encode(e: &mut Sink, rec: &Rec) {
        e.u64(rec.time.0);
        match &rec.ev {
            Ev::Start { node } => {
                e.u8(1).u32(node.0);
            }
            Ev::Send { id, from, to, meta, .. } => {
                e.u8(2).u64(*id).u32(from.0).u32(to.map_or(u32::MAX, |n| n.0));
                e.u8(kind_code(meta.kind)).u32(meta.height).u8(meta.view).u16(meta.validator);
                e.hash(&meta.hash).u32(meta.size);
            }
            Ev::Deliver { id, to, dup, .. } => {
                e.u8(3).u64(*id).u32(to.0).u8(*dup as u8);
            }
            Ev::Drop { id, to, reason, .. } => {
                e.u8(4).u64(*id).u32(to.0).u8(drop_code(*reason));
            }
            Ev::Timer { node, tag, forced } => {
                e.u8(5).u32(node.0).u64(*tag).u8(*forced as u8);
            }
            Ev::Persist { node, block } => {
                e.u8(6).u32(node.0).u32(block.height()).hash(&block.digest());
            }
            Ev::Note { node, note } => {
                e.u8(7).u32(node.0);
                encode_note(e, note);
            }
            Ev::Crash { node } => {
                e.u8(8).u32(node.0);
            }
            Ev::Restart { node, amnesia } => {
                e.u8(9).u32(node.0).u8(*amnesia as u8);
            }
            Ev::Tx { node, tx } => {
                e.u8(10).u32(node.0).u64(*tx);
            }
            Ev::Marker { marker, .. } => {
                e.u8(11);
                encode_marker(e, marker);
            }
        }
    }
}

#[inline(always)]
fn encode_note(e: &mut Sink, note: &Note) {
    match note {
        Note::ViewChanged { height, view } => {
            e.u8(1).u32(*height).u8(*view);
        }
        Note::CommitSigned { height, view, block, key } => {
            e.u8(2).u32(*height).u8(*view).hash(block).u32(key.0);
        }
        Note::ChangeViewSent { height, view, reason } => {
            e.u8(3).u32(*height).u8(*view).u8(*reason);
        }
        Note::Proposed { height, view, block } => {
            e.u8(4).u32(*height).u8(*view).hash(block);
        }
        Note::Rejected { kind, reason } => {
            e.u8(5).u8(kind_code(*kind)).u8(reject_code(*reason));
        }
    }
}

fn encode_marker(e: &mut Sink, m: &Marker) {
    match *m {
        Marker::PartitionStarts { partition } => {
            e.u8(1).u32(partition);
        }
        Marker::PartitionHeals { partition } => {
            e.u8(2).u32(partition);
        }
        Marker::Gst => {
            e.u8(3);
        }
        Marker::ChangeSubmitted { change, node } => {
            e.u8(4).u32(change).u32(node.0);
        }
        Marker::Held { id, from, to, node, kind } => {
            e.u8(5).u64(id).u32(from.0).u32(to.0).u32(node.0).u8(kind.map_or(0xff, kind_code));
        }
        Marker::TimerSuppressed { node, until_us } => {
            e.u8(6).u32(node.0).u64(until_us);
        }
        Marker::ChangeLost { change, node } => {
            e.u8(7).u32(change).u32(node.0);
        }
    }
}

/// The digest's code of a message type.
fn kind_code(k: MsgKind) -> u8 {
    match k {
        MsgKind::ChangeView => 0,
        MsgKind::PrepareRequest => 1,
        MsgKind::PrepareResponse => 2,
        MsgKind::Commit => 3,
        MsgKind::RecoveryRequest => 4,
        MsgKind::RecoveryMessage => 5,
        MsgKind::Block => 6,
        MsgKind::GetBlocks => 7,
        MsgKind::Other => 8,
        MsgKind::GetData => 9,
        MsgKind::Transaction => 10,
    }
}

/// The digest's code of a drop reason.
fn drop_code(r: DropReason) -> u8 {
    match r {
        DropReason::Loss => 0,
        DropReason::Partition => 1,
        DropReason::Unreachable => 2,
        DropReason::RecipientDown => 3,
        DropReason::Rule => 4,
        DropReason::Duplicate => 5,
    }
}

/// The digest's code of a rejection reason.
fn reject_code(r: RejectReason) -> u8 {
    match r {
        RejectReason::BadSignature => 0,
        RejectReason::UnknownValidator => 1,
        RejectReason::Malformed => 2,
        RejectReason::BadBlock => 3,
        RejectReason::RevokedKey => 4,
        RejectReason::StaleSet => 5,
        RejectReason::UnknownFutureSet => 6,
    }
}

impl Observer for Digest {
    #[inline(always)]
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        let window: &mut [u8; REC_MAX] =
            (&mut self.buf[self.len..self.len + REC_MAX]).try_into().expect("REC_MAX bytes");
        let mut sink = Sink { buf: window, n: 0 };
        Self::encode(&mut sink, rec);
        self.len += sink.n;
        if self.len >= DIGEST_BATCH {
            // Exactly DIGEST_BATCH bytes, the rest kept for the next batch: every update is
            // then whole 16-byte blocks at a block boundary, with no partial block to
            // complete first.
            self.hasher.update(&self.buf[..DIGEST_BATCH]);
            self.buf.copy_within(DIGEST_BATCH..self.len, 0);
            self.len -= DIGEST_BATCH;
        }
        self.events += 1;
        None
    }
}

/// Fans one record out to several observers; the first halt wins but every observer still
/// sees the record.
#[derive(Default)]
pub struct Observers<'o> {
    pub list: Vec<&'o mut dyn Observer>,
}

impl Observer for Observers<'_> {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        let mut halt = None;
        for o in self.list.iter_mut() {
            if let Some(h) = o.observe(rec) {
                halt.get_or_insert(h);
            }
        }
        halt
    }

    fn mark(&mut self, time: SimTime, node: Option<NodeId>, name: &'static str) {
        for o in self.list.iter_mut() {
            o.mark(time, node, name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(evs: Vec<Ev>) -> Hash32 {
        let mut d = Digest::default();
        for (step, ev) in evs.into_iter().enumerate() {
            d.observe(&Rec { step: step as u64, time: SimTime(7), ev });
        }
        d.finish()
    }

    fn held(text: &str, awaited: Option<MsgKind>) -> Ev {
        let marker = Marker::Held { id: 3, from: NodeId(0), to: NodeId(1), node: NodeId(2), kind: awaited };
        Ev::Marker { marker, text: Rc::from(text) }
    }

    /// Batching is invisible: the digest of many records (several batches and a partial
    /// one) is the hash of their concatenated encodings, computed here in one go.
    #[test]
    fn the_digest_is_the_hash_of_the_concatenated_records() {
        let evs: Vec<Ev> = (0..3000u64)
            .map(|i| match i % 3 {
                0 => Ev::Deliver { id: i, from: NodeId(1), to: NodeId(2), kind: MsgKind::Commit, dup: false },
                1 => Ev::Timer { node: NodeId(i as u32 % 7), tag: i, forced: i % 2 == 0 },
                _ => Ev::Tx { node: NodeId(3), tx: i },
            })
            .collect();
        let mut all = Vec::new();
        for (step, ev) in evs.iter().enumerate() {
            let mut one = [0u8; REC_MAX];
            let mut sink = Sink { buf: &mut one, n: 0 };
            Digest::encode(&mut sink, &Rec { step: step as u64, time: SimTime(7), ev: ev.clone() });
            let n = sink.n;
            all.extend_from_slice(&one[..n]);
        }
        assert!(all.len() > 2 * DIGEST_BATCH, "the test must cross batch boundaries");
        let mut whole = TraceHasher::default();
        whole.update(&all);
        assert_eq!(digest_of(evs), whole.finish());
    }

    #[test]
    fn marker_text_is_not_hashed_but_what_it_marks_is() {
        let a = digest_of(vec![held("msg 3 R0 -> R1 held until R2 sends Commit", Some(MsgKind::Commit))]);
        let reworded = digest_of(vec![held("Alice's message 3 to Bob waits for Carol", Some(MsgKind::Commit))]);
        let other_kind = digest_of(vec![held("msg 3 R0 -> R1 held until R2 sends Commit", Some(MsgKind::ChangeView))]);
        let any_kind = digest_of(vec![held("msg 3 R0 -> R1 held until R2 sends Commit", None)]);
        assert_eq!(a, reworded);
        assert_ne!(a, other_kind);
        assert_ne!(a, any_kind);
        let gst = |text: &str| Ev::Marker { marker: Marker::Gst, text: Rc::from(text) };
        let heals = Ev::Marker { marker: Marker::PartitionHeals { partition: 0 }, text: Rc::from("GST") };
        assert_eq!(digest_of(vec![gst("GST")]), digest_of(vec![gst("the network is synchronous")]));
        assert_ne!(digest_of(vec![gst("GST")]), digest_of(vec![heals]));
    }
}
