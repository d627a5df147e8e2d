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
use crate::protocol::crypto::{Enc, Hash32};
use crate::protocol::{MsgMeta, NodeId, Note};
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
        kind: crate::protocol::MsgKind,
        dup: bool,
    },
    Drop {
        id: u64,
        from: NodeId,
        to: NodeId,
        kind: crate::protocol::MsgKind,
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
    /// A scheduled fault or phase boundary (partition start, GST, ...), for readers.
    Marker {
        text: Rc<str>,
    },
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

/// Why an observer wants the run to stop now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt(pub String);

pub trait Observer {
    fn observe(&mut self, rec: &Rec) -> Option<Halt>;
}

/// Hashes the canonical encoding of every record. Two runs have the same digest iff they
/// produced the same event stream (same events, same order, same times, same contents).
pub struct Digest {
    hasher: blake3::Hasher,
    enc: Enc,
    pub events: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest { hasher: blake3::Hasher::new(), enc: Enc::new(), events: 0 }
    }
}

impl Digest {
    pub fn finish(&self) -> Hash32 {
        Hash32(*self.hasher.finalize().as_bytes())
    }

    fn encode(e: &mut Enc, rec: &Rec) {
        e.u64(rec.time.0);
        match &rec.ev {
            Ev::Start { node } => {
                e.u8(1).u32(node.0);
            }
            Ev::Send { id, from, to, meta, .. } => {
                e.u8(2).u64(*id).u32(from.0).u32(to.map_or(u32::MAX, |n| n.0));
                e.u8(meta.kind as u8).u32(meta.height).u8(meta.view).u16(meta.validator);
                e.hash(&meta.hash).u32(meta.size);
            }
            Ev::Deliver { id, to, dup, .. } => {
                e.u8(3).u64(*id).u32(to.0).u8(*dup as u8);
            }
            Ev::Drop { id, to, reason, .. } => {
                e.u8(4).u64(*id).u32(to.0).u8(*reason as u8);
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
            Ev::Marker { text } => {
                e.u8(11).bytes(text.as_bytes());
            }
        }
    }
}

fn encode_note(e: &mut Enc, note: &Note) {
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
            e.u8(5).u8(*kind as u8).u8(*reason as u8);
        }
    }
}

impl Observer for Digest {
    fn observe(&mut self, rec: &Rec) -> Option<Halt> {
        self.enc.buf.clear();
        Self::encode(&mut self.enc, rec);
        self.hasher.update(&self.enc.buf);
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
}
